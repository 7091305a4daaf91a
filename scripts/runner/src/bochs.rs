//! `veridian-run qemu --emulator bochs`: boots a GRUB ISO of the kernel in
//! Bochs 2.7, headless, and judges the run from the serial console.
//!
//! Bochs emulates what QEMU 7.2's TCG lacks (x2APIC, the TSC-deadline timer,
//! an invariant TSC, PCID, INVPCID), so it is the second x86 implementation
//! those kernel paths run on. How a run is set up:
//! - a bochsrc (CPU model and count, memory, the ISO as an ATAPI CD-ROM, COM1
//!   to a file) in a temporary directory, see [`bochsrc`];
//! - the display is `rfb` with `timeout=0` (Debian's Bochs has no `nogui`
//!   display; with `timeout=0` it does not wait for a VNC client). Bochs 2.7
//!   takes the first free TCP port of 5900..=5949 itself (its rfb display has
//!   no port option), so runs on one machine do not collide;
//! - Debian's Bochs is the debugger build, which stops at a prompt before
//!   the first instruction: `-rc` hands it a file saying `c` (continue);
//! - the kernel ends the run by writing `Shutdown` to Bochs's port 0x8900.
//!   Bochs then exits with status 1 whatever the kernel's verdict, so the
//!   verdict is the kernel's last console line, `exit: success (0x10)` or
//!   `exit: failure (0x20)` (`kernel/src/arch/x86_64/qemu.rs`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cli::{BootChoice, QemuArgs};
use crate::iso::{self, IsoRequest};
use crate::qemu_cmd::UsageError;
use crate::serial::{LineSplitter, SerialScan};
use crate::verdict::{self, Expectation, QEMU_STATUS_FAILURE, QEMU_STATUS_SUCCESS, QemuEnd};
use crate::workspace::Workspace;

/// The CPU model runs use unless told otherwise: Skylake-X has x2APIC,
/// TSC-deadline, invariant TSC, PCID and INVPCID.
pub const DEFAULT_CPU_MODEL: &str = "corei7_skylake_x";
/// The Debian packages a Bochs run needs.
pub const PACKAGES: [&str; 4] = ["bochs", "bochs-term", "bochsbios", "vgabios"];
/// The Bochs program.
const PROGRAM: &str = "bochs";
/// The kernel command line's `accel=` word for a Bochs run.
pub const ACCEL_WORD: &str = "bochs";
/// Where Debian's `bochsbios` puts the system BIOS.
const BIOS_PATHS: [&str; 1] = ["/usr/share/bochs/BIOS-bochs-latest"];
/// Where Debian's `vgabios` (and `bochsbios`) put a VGA BIOS.
const VGABIOS_PATHS: [&str; 2] = [
    "/usr/share/vgabios/vgabios.bin",
    "/usr/share/bochs/VGABIOS-lgpl-latest",
];
/// The timeout when none is given: Bochs interprets every instruction.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);
/// How long Bochs gets to exit after the kernel's exit line before it is
/// stopped (a build without the shutdown port would otherwise idle on).
const EXIT_GRACE: Duration = Duration::from_secs(10);
/// How often the serial file is read and the process polled.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Emulated instructions per emulated second. With `clock: sync=none` the
/// TSC, PIT and HPET all advance with emulated instructions, so the kernel
/// measures a 100 MHz TSC however fast the host is.
const IPS: u64 = 100_000_000;
/// How many lines of Bochs's own output a failure report quotes.
const BOCHS_TAIL_LINES: usize = 12;

/// One Bochs machine.
#[derive(Debug, Clone)]
pub struct BochsMachine<'a> {
    pub cpu_model: &'a str,
    pub cpus: u32,
    pub mem_mib: u64,
    pub iso: &'a Path,
    pub serial: &'a Path,
    pub log: &'a Path,
    pub bios: &'a Path,
    pub vgabios: &'a Path,
}

/// Why a machine description cannot be written as a bochsrc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BochsrcError {
    #[error("the Bochs CPU model '{0}' is not a plain name (letters, digits, '_')")]
    BadCpuModel(String),
    #[error("path {0} cannot go in a bochsrc (it holds a quote, comma or newline)")]
    BadPath(PathBuf),
}

/// The bochsrc for `machine`.
///
/// # Errors
/// A CPU model or path that would break the file's syntax.
pub fn bochsrc(machine: &BochsMachine<'_>) -> Result<String, BochsrcError> {
    let model = machine.cpu_model;
    if model.is_empty() || !model.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(BochsrcError::BadCpuModel(model.to_owned()));
    }
    let path = |p: &Path| -> Result<String, BochsrcError> {
        let text = p.to_string_lossy().into_owned();
        if text.contains(['"', ',', '\n', '\r']) || text.is_empty() {
            return Err(BochsrcError::BadPath(p.to_path_buf()));
        }
        Ok(text)
    };
    Ok(format!(
        "# Written by veridian-run for one run.\n\
         megs: {mem}\n\
         cpu: model={model}, count={cpus}, ips={IPS}, reset_on_triple_fault=0\n\
         romimage: file=\"{bios}\"\n\
         vgaromimage: file=\"{vgabios}\"\n\
         ata0-master: type=cdrom, path=\"{iso}\", status=inserted\n\
         boot: cdrom\n\
         com1: enabled=1, mode=file, dev=\"{serial}\"\n\
         display_library: rfb, options=\"timeout=0\"\n\
         clock: sync=none, time0=local\n\
         log: \"{log}\"\n\
         panic: action=fatal\n\
         error: action=report\n\
         info: action=report\n\
         debug: action=ignore\n",
        mem = machine.mem_mib,
        cpus = machine.cpus,
        bios = path(machine.bios)?,
        vgabios = path(machine.vgabios)?,
        iso = path(machine.iso)?,
        serial = path(machine.serial)?,
        log = path(machine.log)?,
    ))
}

/// The kernel's verdict from its last console line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelExit {
    Success,
    Failure,
}

/// Parses the kernel's `exit: success (0x10)` / `exit: failure (0x20)` line
/// (found anywhere on its line; the closing parenthesis may be cut off).
#[must_use]
pub fn parse_exit_line(line: &str) -> Option<KernelExit> {
    let at = line.find("exit: ")?;
    let rest = &line[at + "exit: ".len()..];
    if rest.starts_with("success (0x10") {
        Some(KernelExit::Success)
    } else if rest.starts_with("failure (0x20") {
        Some(KernelExit::Failure)
    } else {
        None
    }
}

/// How a Bochs process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BochsEnd {
    /// It exited by itself (status, or `None` when a signal ended it).
    Exited(Option<i32>),
    /// The runner stopped it after the kernel's exit line and a grace period.
    StoppedAfterExitLine,
    /// The runner stopped it when the timeout ran out.
    TimedOut(Duration),
}

/// Judges a Bochs run: the kernel must have printed its exit line, and the
/// console must show what `expectation` asks for.
#[must_use]
pub fn judge(
    end: BochsEnd,
    kernel_exit: Option<KernelExit>,
    expectation: Expectation,
    scan: &SerialScan,
    bochs_tail: &[String],
) -> verdict::Verdict {
    let as_qemu = match kernel_exit {
        Some(KernelExit::Success) => QemuEnd::Exited(QEMU_STATUS_SUCCESS),
        Some(KernelExit::Failure) => QemuEnd::Exited(QEMU_STATUS_FAILURE),
        None => QemuEnd::StoppedByRunner,
    };
    let mut verdict = verdict::judge(as_qemu, expectation, scan);
    if kernel_exit == Some(KernelExit::Failure) {
        // Replaces the QEMU exit-status wording of the mapping above.
        verdict.failures[0] = "kernel reported failure (exit: failure (0x20))".to_owned();
    }
    if kernel_exit.is_none() {
        let why = match end {
            BochsEnd::TimedOut(after) => format!("timeout after {} s", after.as_secs()),
            BochsEnd::Exited(Some(status)) => {
                format!("Bochs exited with status {status} before the kernel's exit line")
            }
            BochsEnd::Exited(None) => {
                "Bochs was killed by a signal before the kernel's exit line".to_owned()
            }
            BochsEnd::StoppedAfterExitLine => "stopped by the runner".to_owned(),
        };
        let tail = bochs_tail
            .iter()
            .filter(|line| !line.trim().is_empty())
            .map(|line| line.trim())
            .collect::<Vec<_>>()
            .join(" | ");
        // Replaces the "stopped by the runner" the mapping above produced.
        verdict.failures[0] = if tail.is_empty() {
            why
        } else {
            format!("{why}; Bochs said: {tail}")
        };
    }
    verdict
}

/// Runs `veridian-run qemu --emulator bochs`; `Ok(true)` when the run passed.
///
/// # Errors
/// Usage errors, a missing kernel, Bochs missing and not installable, or
/// Bochs not starting.
pub fn run(args: &QemuArgs, workspace: &Workspace) -> anyhow::Result<bool> {
    check_args(args).map_err(UsageError)?;
    iso::check_grub_cmdline(&args.cmdline).map_err(|err| UsageError(err.to_string()))?;
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| workspace.default_kernel());
    crate::qemu_cmd::require_kernel(&kernel)?;
    let program = ensure_installed()?;
    let bios = first_file(&BIOS_PATHS).with_context(|| {
        format!(
            "the Bochs BIOS is missing ({}); install it with: apt-get install -y bochsbios",
            BIOS_PATHS.join(", ")
        )
    })?;
    let vgabios = first_file(&VGABIOS_PATHS).with_context(|| {
        format!(
            "no VGA BIOS found ({}); install it with: apt-get install -y vgabios",
            VGABIOS_PATHS.join(", ")
        )
    })?;

    let dir = tempfile::Builder::new()
        .prefix("veridian-bochs-")
        .tempdir()
        .context("creating a temporary directory for the Bochs run")?;
    let iso_path = dir.path().join("veridian.iso");
    // The kernel records the emulator in its boot and benchmark records.
    let cmdline = crate::bench::with_accel_named(&args.cmdline, ACCEL_WORD);
    iso::build_iso(&IsoRequest {
        kernel: &kernel,
        out: &iso_path,
        cmdline: &cmdline,
        modules: &args.modules,
    })?;
    let serial_path = dir.path().join("serial.log");
    let log_path = dir.path().join("bochs.log");
    let rc_path = dir.path().join("bochsrc");
    let commands_path = dir.path().join("debugger.rc");
    let machine = BochsMachine {
        cpu_model: &args.cpu_model,
        cpus: args.cpus,
        mem_mib: args.mem.mib(),
        iso: &iso_path,
        serial: &serial_path,
        log: &log_path,
        bios: &bios,
        vgabios: &vgabios,
    };
    let rc = bochsrc(&machine).map_err(|err| UsageError(err.to_string()))?;
    std::fs::write(&rc_path, rc).with_context(|| format!("writing {}", rc_path.display()))?;
    // The debugger's commands: continue (and run to the end).
    std::fs::write(&commands_path, "c\n")
        .with_context(|| format!("writing {}", commands_path.display()))?;
    // Bochs appends to its serial file; it must start empty.
    File::create(&serial_path).with_context(|| format!("creating {}", serial_path.display()))?;

    let timeout = args.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    eprintln!(
        "veridian-run: Bochs {} x{} CPUs, {} MiB, kernel command line '{cmdline}', timeout {} s (run directory {})",
        args.cpu_model,
        args.cpus,
        args.mem.mib(),
        timeout.as_secs(),
        dir.path().display()
    );
    let console = dir.path().join("bochs.out");
    let started = Instant::now();
    let child = Command::new(&program)
        .arg("-q")
        .arg("-f")
        .arg(&rc_path)
        .arg("-rc")
        .arg(&commands_path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(File::create(&console).context("creating the Bochs output file")?)
        .stderr(Stdio::from(
            File::options()
                .append(true)
                .open(&console)
                .context("opening the Bochs output file")?,
        ))
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let outcome = follow(child, &serial_path, args.log.as_deref(), timeout)?;
    let mut bochs_tail = bochs_errors(&tail_lines(&console, BOCHS_TAIL_LINES));
    bochs_tail.extend(bochs_errors(&tail_lines(&log_path, BOCHS_TAIL_LINES)));
    bochs_tail.dedup();
    let expectation = args
        .expect
        .unwrap_or_else(|| Expectation::for_cmdline(&args.cmdline));
    let verdict = judge(
        outcome.end,
        outcome.kernel_exit,
        expectation,
        &outcome.scan,
        &bochs_tail,
    );
    for line in &outcome.scan.failed_tests {
        eprintln!("veridian-run: {line}");
    }
    let took = started.elapsed().as_secs_f64();
    if verdict.passed() {
        eprintln!(
            "veridian-run: PASS (the kernel exited with success under Bochs after {took:.1}s)"
        );
    } else {
        // Keep the run directory for a look at Bochs's log.
        let kept = dir.keep();
        eprintln!(
            "veridian-run: FAIL after {took:.1}s: {} (Bochs's files are in {})",
            verdict.failures.join("; "),
            kept.display()
        );
    }
    Ok(verdict.passed())
}

/// Flags `--emulator bochs` cannot honour, as a usage message.
fn check_args(args: &QemuArgs) -> Result<(), String> {
    if args.numa.is_some() {
        return Err(
            "--numa is not supported with --emulator bochs (its BIOS writes no SRAT)".into(),
        );
    }
    if args.gdb {
        return Err(
            "--gdb is not supported with --emulator bochs (use Bochs's own debugger)".into(),
        );
    }
    if args.boot == BootChoice::IsoUefi {
        return Err("--boot iso-uefi is not supported with --emulator bochs (BIOS only)".into());
    }
    if args.cpus > 32 {
        return Err(format!(
            "--cpus {} is more than Bochs emulates (32)",
            args.cpus
        ));
    }
    Ok(())
}

/// The first of `paths` that is a file.
fn first_file(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Bochs, its BIOS and a VGA BIOS; installs [`PACKAGES`] with apt-get when
/// something is missing and this runs as root.
fn ensure_installed() -> anyhow::Result<PathBuf> {
    let complete = || {
        crate::process::on_path(PROGRAM)
            .filter(|_| first_file(&BIOS_PATHS).is_some() && first_file(&VGABIOS_PATHS).is_some())
    };
    if let Some(found) = complete() {
        return Ok(found);
    }
    let install_line = format!("apt-get install -y {}", PACKAGES.join(" "));
    if !nix::unistd::geteuid().is_root() || crate::process::on_path("apt-get").is_none() {
        bail!("Bochs is missing; install it with: sudo {install_line}");
    }
    eprintln!(
        "veridian-run: installing Bochs with apt-get: {}",
        PACKAGES.join(" ")
    );
    let installed = crate::process::apt_install(&PACKAGES);
    if !installed {
        bail!("installing Bochs failed; try: {install_line}");
    }
    complete().with_context(|| format!("Bochs is still incomplete after `{install_line}`"))
}

/// What following a Bochs run produced.
struct Followed {
    end: BochsEnd,
    kernel_exit: Option<KernelExit>,
    scan: SerialScan,
}

/// Echoes the serial file as Bochs writes it (and tees it into `log`), until
/// Bochs exits, the timeout runs out, or the kernel's exit line has been out
/// for [`EXIT_GRACE`].
fn follow(
    mut child: Child,
    serial: &Path,
    log: Option<&Path>,
    timeout: Duration,
) -> anyhow::Result<Followed> {
    let mut log = log
        .map(|path| {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            File::create(path)
        })
        .transpose()
        .context("creating the serial log file")?;
    let mut reader = File::open(serial).with_context(|| format!("opening {}", serial.display()))?;
    let mut splitter = LineSplitter::default();
    let mut scan = SerialScan::default();
    let mut kernel_exit = None;
    let mut exit_seen_at = None;
    let deadline = Instant::now() + timeout;
    let mut buffer = [0_u8; 4096];
    let mut pump = |reader: &mut File,
                    scan: &mut SerialScan,
                    kernel_exit: &mut Option<KernelExit>|
     -> anyhow::Result<()> {
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err).context("reading the serial file"),
            };
            let chunk = &buffer[..read];
            let mut stdout = io::stdout().lock();
            // Echo is best effort: a closed stdout must not stop the run.
            let _ = stdout.write_all(chunk).and_then(|()| stdout.flush());
            if let Some(file) = log.as_mut()
                && let Err(err) = file.write_all(chunk)
            {
                eprintln!("veridian-run: warning: log file write failed, logging stops: {err}");
                log = None;
            }
            splitter.push(chunk, |line| {
                scan.observe_line(line);
                if let Some(exit) = parse_exit_line(line) {
                    *kernel_exit = Some(exit);
                }
            });
        }
    };
    let end = loop {
        pump(&mut reader, &mut scan, &mut kernel_exit)?;
        if kernel_exit.is_some() && exit_seen_at.is_none() {
            exit_seen_at = Some(Instant::now());
        }
        if let Some(status) = child.try_wait().context("waiting for Bochs")? {
            break BochsEnd::Exited(status.code());
        }
        if exit_seen_at.is_some_and(|at| at.elapsed() >= EXIT_GRACE) {
            crate::process::terminate(&mut child, "Bochs")?;
            break BochsEnd::StoppedAfterExitLine;
        }
        if Instant::now() >= deadline {
            crate::process::terminate(&mut child, "Bochs")?;
            break BochsEnd::TimedOut(timeout);
        }
        thread::sleep(POLL_INTERVAL);
    };
    // What Bochs wrote just before it ended.
    pump(&mut reader, &mut scan, &mut kernel_exit)?;
    splitter.finish(|line| {
        scan.observe_line(line);
        if let Some(exit) = parse_exit_line(line) {
            kernel_exit = Some(exit);
        }
    });
    println!();
    Ok(Followed {
        end,
        kernel_exit,
        scan,
    })
}

/// Bochs's error and panic messages among `lines` (its log marks them
/// `e[` and `p[` after the tick count); the startup noise around them goes.
fn bochs_errors(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| {
            let level = line.trim_start_matches(|c: char| c.is_ascii_digit());
            (level.starts_with("e[") || level.starts_with("p["))
                && !line.contains("no bxevent_callback function is registered")
        })
        .map(|line| {
            // The message after the tick count, level and module tag.
            line.split_once("] ")
                .map_or(line.as_str(), |(_, message)| message)
                .trim()
                .to_owned()
        })
        .collect()
}

/// The last `n` lines of a text file (empty when it cannot be read).
fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::TestTally;

    fn machine<'a>(model: &'a str, iso: &'a Path) -> BochsMachine<'a> {
        BochsMachine {
            cpu_model: model,
            cpus: 2,
            mem_mib: 512,
            iso,
            serial: Path::new("/tmp/run/serial.log"),
            log: Path::new("/tmp/run/bochs.log"),
            bios: Path::new("/usr/share/bochs/BIOS-bochs-latest"),
            vgabios: Path::new("/usr/share/vgabios/vgabios.bin"),
        }
    }

    #[test]
    fn bochsrc_names_the_machine_and_runs_headless() {
        let rc = bochsrc(&machine("corei7_skylake_x", Path::new("/tmp/run/v.iso"))).unwrap();
        for line in [
            "megs: 512",
            "cpu: model=corei7_skylake_x, count=2, ips=100000000, reset_on_triple_fault=0",
            "ata0-master: type=cdrom, path=\"/tmp/run/v.iso\", status=inserted",
            "boot: cdrom",
            "com1: enabled=1, mode=file, dev=\"/tmp/run/serial.log\"",
            "display_library: rfb, options=\"timeout=0\"",
            "clock: sync=none, time0=local",
            "romimage: file=\"/usr/share/bochs/BIOS-bochs-latest\"",
        ] {
            assert!(rc.lines().any(|l| l == line), "missing {line:?} in\n{rc}");
        }
    }

    #[test]
    fn bochsrc_refuses_what_would_break_its_syntax() {
        assert_eq!(
            bochsrc(&machine("core i7", Path::new("/tmp/v.iso"))).unwrap_err(),
            BochsrcError::BadCpuModel("core i7".to_owned())
        );
        assert!(matches!(
            bochsrc(&machine("", Path::new("/tmp/v.iso"))),
            Err(BochsrcError::BadCpuModel(_))
        ));
        let err = bochsrc(&machine(
            "p4_prescott_celeron_336",
            Path::new("/tmp/a,b.iso"),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("/tmp/a,b.iso"), "{err}");
    }

    #[test]
    fn exit_lines_are_recognised_even_cut_short() {
        assert_eq!(
            parse_exit_line("exit: success (0x10)"),
            Some(KernelExit::Success)
        );
        assert_eq!(
            parse_exit_line("\u{1b}[0mexit: failure (0x20)\r"),
            Some(KernelExit::Failure)
        );
        assert_eq!(
            parse_exit_line("exit: success (0x10"),
            Some(KernelExit::Success)
        );
        assert_eq!(parse_exit_line("exit: maybe"), None);
        assert_eq!(parse_exit_line("test exit_path ... ok"), None);
    }

    fn scan(closing: Option<(u64, u64)>) -> SerialScan {
        SerialScan {
            boot_record: Some("@boot v1 cpus=2".to_owned()),
            closing: closing.map(|(passed, failed)| TestTally { passed, failed }),
            failed_tests: Vec::new(),
            ..SerialScan::default()
        }
    }

    #[test]
    fn the_verdict_is_the_kernels_exit_line() {
        let pass = judge(
            BochsEnd::Exited(Some(1)),
            Some(KernelExit::Success),
            Expectation::Test,
            &scan(Some((4, 0))),
            &[],
        );
        assert!(pass.passed(), "{pass:?}");
        let stopped = judge(
            BochsEnd::StoppedAfterExitLine,
            Some(KernelExit::Success),
            Expectation::Boot,
            &scan(None),
            &[],
        );
        assert!(stopped.passed(), "{stopped:?}");
        let failed = judge(
            BochsEnd::Exited(Some(1)),
            Some(KernelExit::Failure),
            Expectation::Test,
            &scan(Some((3, 1))),
            &[],
        );
        assert_eq!(failed.failures.len(), 2, "{failed:?}");
        assert_eq!(
            failed.failures[0],
            "kernel reported failure (exit: failure (0x20))"
        );
        assert!(failed.failures[1].contains("3 passed, 1 failed"));
    }

    #[test]
    fn bochs_errors_keep_only_error_and_panic_messages() {
        let lines: Vec<String> = [
            "00000000000i[PLUGIN] loaded plugin libbx_unmapped.so",
            "00000000000e[      ] bochsrc:3: wrong value for parameter 'model'",
            "00000000000p[      ] >>PANIC<< bochsrc:3: cpu directive malformed.",
            "00000000000e[SIM   ] notify called, but no bxevent_callback function is registered",
            "Bochs is exiting with the following message:",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            bochs_errors(&lines),
            [
                "bochsrc:3: wrong value for parameter 'model'",
                ">>PANIC<< bochsrc:3: cpu directive malformed."
            ]
        );
    }

    #[test]
    fn a_run_without_the_exit_line_fails_with_the_reason() {
        let timed_out = judge(
            BochsEnd::TimedOut(Duration::from_secs(60)),
            None,
            Expectation::Test,
            &scan(None),
            &[],
        );
        assert_eq!(timed_out.failures[0], "timeout after 60 s");
        assert!(timed_out.failures[1].contains("no closing"));
        let crashed = judge(
            BochsEnd::Exited(Some(1)),
            None,
            Expectation::None,
            &scan(None),
            &["".to_owned(), ">>PANIC<< bad bochsrc".to_owned()],
        );
        assert_eq!(
            crashed.failures,
            [
                "Bochs exited with status 1 before the kernel's exit line; Bochs said: >>PANIC<< bad bochsrc"
            ]
        );
    }
}
