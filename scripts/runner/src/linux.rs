//! `veridian-run bench --baseline linux`: the same benchmarks' Linux
//! counterparts in the same QEMU machine. Before Veridian boots,
//! [`prepare`] finds the distribution's Linux kernel (the newest
//! `/boot/vmlinuz-*`, installing `linux-image-amd64` with apt-get when
//! there is none and the runner is root), builds the `linuxbench` program
//! static for `x86_64-unknown-linux-musl` and packs it as `/init` of a
//! newc initramfs. After Veridian's boots, [`run`] boots Linux with the
//! same accelerator and CPU count (one CPU under icount: Linux's SMP
//! bring-up hangs there in QEMU 7.2), keeps its console in
//! `linux.serial.log` and returns its `linux.*` records, which join
//! Veridian's in the run's serial log, summary and dashboard.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use dashboards::records::{Record, parse_line};

use crate::bench::accel_word;
use crate::cli::BenchArgs;
use crate::machine::{self, Accel, BootMedium, MachineSpec};
use crate::process::{self, RunOptions};
use crate::qemu_cmd::{HostTools, UsageError, shell_words};
use crate::verdict::{self, QEMU_STATUS_FAILURE, QemuEnd};
use crate::workspace::Workspace;

/// The Debian package of the distribution's kernel.
pub const KERNEL_PACKAGE: &str = "linux-image-amd64";
/// The target the benchmark program is built for (static, no libc needed
/// in the initramfs).
pub const PROGRAM_TARGET: &str = "x86_64-unknown-linux-musl";
/// The benchmark program's package and binary.
pub const PROGRAM: &str = "linuxbench";
/// Where distribution kernels are installed.
const BOOT_DIR: &str = "/boot";
/// The Linux console, kept in the run directory.
pub const LINUX_LOG: &str = "linux.serial.log";

/// What [`prepare`] readied.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The Linux kernel image.
    pub kernel: PathBuf,
    /// The initramfs holding the benchmark program as `/init`.
    pub initramfs: PathBuf,
}

/// Finds the kernel, builds the program and writes the initramfs.
///
/// # Errors
/// No kernel and none can be installed, the build failed, or the
/// initramfs cannot be written.
pub fn prepare(args: &BenchArgs, workspace: &Workspace) -> anyhow::Result<Prepared> {
    let kernel = match &args.linux_kernel {
        Some(path) if path.is_file() => path.clone(),
        Some(path) => {
            return Err(
                UsageError(format!("--linux-kernel {}: no such file", path.display())).into(),
            );
        }
        None => find_or_install_kernel(Path::new(BOOT_DIR), install_kernel_package)?,
    };
    eprintln!("veridian-run: Linux baseline: kernel {}", kernel.display());
    let program = match &args.linux_program {
        Some(path) if path.is_file() => path.clone(),
        Some(path) => {
            return Err(
                UsageError(format!("--linux-program {}: no such file", path.display())).into(),
            );
        }
        None => {
            ensure_target(workspace);
            build_program(&cargo_program(), workspace)?
        }
    };
    let binary =
        std::fs::read(&program).with_context(|| format!("reading {}", program.display()))?;
    let dir = workspace.runner_dir().join("linux");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let initramfs = dir.join("initramfs.cpio");
    std::fs::write(&initramfs, initramfs_image(&binary))
        .with_context(|| format!("writing {}", initramfs.display()))?;
    Ok(Prepared { kernel, initramfs })
}

/// The newest `vmlinuz-<version>` among `names` (by the numbers in the
/// version, so 6.10 is newer than 6.9).
#[must_use]
pub fn pick_kernel<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let numbers = |name: &str| -> Vec<u64> {
        name.split(|c: char| !c.is_ascii_digit())
            .filter(|part| !part.is_empty())
            .filter_map(|part| part.parse().ok())
            .collect()
    };
    names
        .into_iter()
        .filter(|name| name.starts_with("vmlinuz-"))
        .max_by(|a, b| numbers(a).cmp(&numbers(b)).then_with(|| a.cmp(b)))
}

/// The newest kernel in `boot_dir`; when there is none, `install` is
/// asked for the package and the directory is searched again.
///
/// # Errors
/// No kernel, and `install` failed (its reason is in the message, with
/// what to do).
pub fn find_or_install_kernel(
    boot_dir: &Path,
    install: impl FnOnce() -> Result<(), String>,
) -> anyhow::Result<PathBuf> {
    let newest = || -> Option<PathBuf> {
        let names: Vec<String> = std::fs::read_dir(boot_dir)
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        pick_kernel(names.iter().map(String::as_str)).map(|name| boot_dir.join(name))
    };
    if let Some(found) = newest() {
        return Ok(found);
    }
    if let Err(why) = install() {
        bail!(
            "--baseline linux: no Linux kernel in {} (vmlinuz-*) and {KERNEL_PACKAGE} could \
             not be installed: {why}. Install it with `sudo apt-get install {KERNEL_PACKAGE}`, \
             or pass --linux-kernel PATH",
            boot_dir.display()
        );
    }
    newest().with_context(|| {
        format!(
            "--baseline linux: {KERNEL_PACKAGE} was installed but {} has no vmlinuz-*",
            boot_dir.display()
        )
    })
}

/// Installs [`KERNEL_PACKAGE`] with apt-get (root only).
fn install_kernel_package() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("the runner is not root".to_owned());
    }
    if process::on_path("apt-get").is_none() {
        return Err("apt-get is not on PATH".to_owned());
    }
    eprintln!("veridian-run: installing the Linux kernel with apt-get: {KERNEL_PACKAGE}");
    if crate::process::apt_install(&[KERNEL_PACKAGE]) {
        Ok(())
    } else {
        Err(format!("`apt-get install {KERNEL_PACKAGE}` failed"))
    }
}

/// Adds [`PROGRAM_TARGET`] to the pinned toolchain with rustup when it is
/// missing (`rust-toolchain.toml` lists it, but a toolchain installed
/// before it was listed lacks it, and `RUSTUP_AUTO_INSTALL=0` stops cargo
/// from adding it). Without rustup nothing is done: the build then says
/// what is missing.
fn ensure_target(workspace: &Workspace) {
    let rustup = |args: &[&str]| {
        Command::new("rustup")
            .args(args)
            .current_dir(&workspace.root)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
    };
    let Some(installed) = rustup(&["target", "list", "--installed"]) else {
        return;
    };
    if target_installed(&String::from_utf8_lossy(&installed.stdout)) {
        return;
    }
    eprintln!("veridian-run: adding the {PROGRAM_TARGET} target with rustup");
    if rustup(&["target", "add", PROGRAM_TARGET]).is_none() {
        eprintln!("veridian-run: warning: `rustup target add {PROGRAM_TARGET}` failed");
    }
}

/// Whether `rustup target list --installed` output lists [`PROGRAM_TARGET`].
#[must_use]
pub fn target_installed(listing: &str) -> bool {
    listing.lines().any(|line| line.trim() == PROGRAM_TARGET)
}

/// The cargo that runs the build (`CARGO` when set, else `cargo`).
fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The `cargo build` arguments of the benchmark program.
#[must_use]
pub fn build_args() -> [&'static str; 6] {
    [
        "build",
        "--release",
        "-p",
        PROGRAM,
        "--target",
        PROGRAM_TARGET,
    ]
}

/// Builds the benchmark program with `cargo` and returns the binary.
///
/// # Errors
/// `cargo` cannot be run or the build fails (its messages go to stderr).
pub fn build_program(cargo: &str, workspace: &Workspace) -> anyhow::Result<PathBuf> {
    let args = build_args();
    let line = format!("{cargo} {}", args.join(" "));
    eprintln!("veridian-run: Linux baseline: {line}");
    let status = Command::new(cargo)
        .args(args)
        .current_dir(&workspace.root)
        .env("CARGO_TARGET_DIR", &workspace.target)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("--baseline linux: could not run `{line}`"))?;
    if !status.success() {
        bail!(
            "--baseline linux: building the Linux benchmark program failed (`{line}` exited \
             with {status}; its messages are above). The target comes with the toolchain \
             (rust-toolchain.toml); if it is missing: rustup target add {PROGRAM_TARGET}"
        );
    }
    let binary = workspace
        .target
        .join(PROGRAM_TARGET)
        .join("release")
        .join(PROGRAM);
    if !binary.is_file() {
        bail!(
            "--baseline linux: `{line}` succeeded but wrote no {}",
            binary.display()
        );
    }
    Ok(binary)
}

/// One member of a newc archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry<'a> {
    /// Path inside the archive, without a leading `/`.
    pub name: &'a str,
    /// `st_mode`: file type and permissions.
    pub mode: u32,
    /// Contents (regular files only).
    pub data: &'a [u8],
    /// Device number (major, minor) of a device node.
    pub rdev: (u32, u32),
}

/// A directory, a character device and a regular file (`st_mode` types).
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFREG: u32 = 0o100_000;

/// Writes `entries` as a "newc" cpio archive (the format the kernel's
/// initramfs unpacker reads: `070701`, thirteen 8-digit hex fields, the
/// NUL-terminated name, then the data, each padded to 4 bytes), ended by
/// the `TRAILER!!!` entry. Owner root, time 0.
#[must_use]
pub fn newc(entries: &[CpioEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer = CpioEntry {
        name: "TRAILER!!!",
        mode: 0,
        data: &[],
        rdev: (0, 0),
    };
    for (index, entry) in entries.iter().chain(std::iter::once(&trailer)).enumerate() {
        let is_trailer = index == entries.len();
        let fields = [
            if is_trailer { 0 } else { index as u32 + 1 }, // inode
            entry.mode,
            0, // uid
            0, // gid
            if entry.mode & S_IFDIR == S_IFDIR && !is_trailer {
                2
            } else {
                1
            }, // links
            0, // mtime
            entry.data.len() as u32,
            0, // dev major
            0, // dev minor
            entry.rdev.0,
            entry.rdev.1,
            entry.name.len() as u32 + 1,
            0, // checksum (unused by newc)
        ];
        out.extend_from_slice(b"070701");
        for field in fields {
            out.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        out.extend_from_slice(entry.name.as_bytes());
        out.push(0);
        pad4(&mut out);
        out.extend_from_slice(entry.data);
        pad4(&mut out);
    }
    out
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The initramfs: `/dev/console` (the kernel opens it for init's standard
/// streams), `/sys` (sysfs, mounted by the program), and the program as
/// `/init`.
#[must_use]
pub fn initramfs_image(program: &[u8]) -> Vec<u8> {
    newc(&[
        CpioEntry {
            name: "dev",
            mode: S_IFDIR | 0o755,
            data: &[],
            rdev: (0, 0),
        },
        CpioEntry {
            name: "dev/console",
            mode: S_IFCHR | 0o600,
            data: &[],
            rdev: (5, 1),
        },
        CpioEntry {
            name: "sys",
            mode: S_IFDIR | 0o755,
            data: &[],
            rdev: (0, 0),
        },
        CpioEntry {
            name: "init",
            mode: S_IFREG | 0o755,
            data: program,
            rdev: (0, 0),
        },
    ])
}

/// Samples per Linux benchmark: `--samples`, else the kernel's default for
/// the suite (100,000 for `full`, else 2,000).
#[must_use]
pub fn samples_for(suite: &str, samples: Option<u64>) -> u64 {
    samples.unwrap_or(if suite == "full" { 100_000 } else { 2_000 })
}

/// The Linux command line: console on the first serial port, no kernel
/// chatter on it (`quiet`), reboot at once on a panic (QEMU then exits
/// under `-no-reboot`), and the program's settings (words Linux does not
/// know reach `/init` as environment variables), then the user's words.
#[must_use]
pub fn linux_cmdline(accel: &Accel, samples: u64, extra: &str) -> String {
    let line = format!(
        "console=ttyS0 quiet panic=-1 accel={} samples={samples}",
        accel_word(accel)
    );
    crate::bench::with_extra(line, extra)
}

/// CPUs Linux gets: the run's, except one under icount.
#[must_use]
pub fn linux_cpus(accel: &Accel, cpus: u32) -> u32 {
    if *accel == Accel::Icount { 1 } else { cpus }
}

/// The records of the Linux console to keep: its `@meta` with `linux.*`
/// keys and every `@bench`, `@hist`, `@skip` and `@progress` of a
/// `linux.*` benchmark, from their `@` on; the program's own
/// `linuxbench:` lines too. Kernel messages are dropped.
#[must_use]
pub fn linux_records(console: &str) -> String {
    const STARTS: [&str; 6] = [
        "@meta v1 linux.",
        "@bench v1 name=linux.",
        "@hist v1 name=linux.",
        "@skip v1 name=linux.",
        "@progress v1 name=linux.",
        "linuxbench: ",
    ];
    let mut kept = String::new();
    for line in console.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(at) = STARTS.iter().filter_map(|s| line.find(s)).min() {
            kept.push_str(&line[at..]);
            kept.push('\n');
        }
    }
    kept
}

/// Why a Linux boot is not a success, or `Ok`.
///
/// # Errors
/// A message naming how it ended.
pub fn explain_linux_end(end: QemuEnd) -> Result<(), String> {
    match end {
        QemuEnd::Exited(QEMU_STATUS_FAILURE) => Err(
            "the Linux benchmark program reported a failure (its `linuxbench: FAILED` lines \
             follow)"
                .to_owned(),
        ),
        QemuEnd::Exited(0) => Err(format!(
            "Linux panicked or rebooted before the benchmarks finished (QEMU status 0 under \
             -no-reboot; see {LINUX_LOG})"
        )),
        other => verdict::explain_end(other),
    }
}

/// Boots Linux with the initramfs and returns its records (see
/// [`linux_records`]); the whole console is in `<out>/linux.serial.log`.
///
/// # Errors
/// QEMU cannot start, or Linux did not finish the benchmarks.
pub fn run(
    host: &HostTools<'_>,
    prepared: &Prepared,
    args: &BenchArgs,
    accel: &Accel,
    out: &Path,
) -> anyhow::Result<String> {
    let cpus = linux_cpus(accel, args.cpus);
    if cpus != args.cpus {
        eprintln!(
            "veridian-run: Linux baseline: 1 CPU under icount (Linux's SMP bring-up hangs \
             there in QEMU 7.2); cross-CPU Linux rows come from --accel tcg runs"
        );
    }
    let samples = samples_for(&args.suite, args.samples);
    let spec = MachineSpec {
        cpus,
        mem: args.mem,
        numa_nodes: None,
        accel: accel.clone(),
        boot: BootMedium::Pvh {
            kernel: prepared.kernel.clone(),
        },
        cmdline: linux_cmdline(accel, samples, &args.linux_cmdline),
        gdb: false,
    };
    let mut qemu_args = machine::qemu_args(&spec)?;
    qemu_args.push("-initrd".to_owned());
    qemu_args.push(
        prepared
            .initramfs
            .to_str()
            .context("the initramfs path is not UTF-8")?
            .to_owned(),
    );
    eprintln!(
        "veridian-run: Linux baseline: {}",
        shell_words(host.qemu, &qemu_args)
    );
    let log = out.join(LINUX_LOG);
    let observer: process::LineObserver = Arc::new(|line: &str| match parse_line(line) {
        Some(Ok(Record::Bench(b))) => eprintln!(
            "veridian-run: linux: {} p50={} p99={} {}",
            b.name,
            b.p50,
            b.p99,
            b.unit.as_str()
        ),
        Some(Ok(Record::Skip(s))) => {
            eprintln!("veridian-run: linux: {} skipped: {}", s.name, s.reason);
        }
        _ => {}
    });
    let run = process::run_qemu(&RunOptions {
        qemu: host.qemu,
        args: &qemu_args,
        timeout: Some(Duration::from_secs(args.timeout)),
        log: Some(&log),
        echo: args.verbose,
        interactive: false,
        stop_when: None,
        on_line: Some(observer),
    })?;
    if let Err(why) = explain_linux_end(run.end) {
        for line in &run.stderr_tail {
            eprintln!("veridian-run: qemu: {line}");
        }
        let console = std::fs::read(&log).unwrap_or_default();
        let failed: Vec<String> = String::from_utf8_lossy(&console)
            .lines()
            .filter(|line| line.contains("linuxbench: FAILED"))
            .map(|line| format!("\n  {}", line.trim_end()))
            .collect();
        bail!(
            "the Linux baseline failed: {why}{}\n  (console: {})",
            failed.concat(),
            log.display()
        );
    }
    let console = std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
    eprintln!(
        "veridian-run: Linux baseline done in {:.1}s",
        run.elapsed.as_secs_f64()
    );
    Ok(linux_records(&String::from_utf8_lossy(&console)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One member read back: name, mode, device number, data.
    type Member = (String, u32, (u32, u32), Vec<u8>);

    /// Reads a newc archive back.
    fn unpack(mut bytes: &[u8]) -> Vec<Member> {
        let mut members = Vec::new();
        let mut offset = 0;
        loop {
            assert_eq!(&bytes[..6], b"070701", "magic at {offset}");
            let field = |i: usize| {
                u32::from_str_radix(
                    std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i]).unwrap(),
                    16,
                )
                .unwrap()
            };
            let (mode, size, rdev, namesize) = (
                field(1),
                field(6) as usize,
                (field(9), field(10)),
                field(11) as usize,
            );
            let name = std::str::from_utf8(&bytes[110..110 + namesize - 1])
                .unwrap()
                .to_owned();
            assert_eq!(bytes[110 + namesize - 1], 0);
            let data_at = (110 + namesize).next_multiple_of(4);
            let data = bytes[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            offset += next;
            bytes = &bytes[next..];
            if name == "TRAILER!!!" {
                assert!(bytes.is_empty());
                return members;
            }
            members.push((name, mode, rdev, data));
        }
    }

    #[test]
    fn the_initramfs_holds_console_sys_and_init() {
        let program = b"\x7fELF and some bytes";
        let image = initramfs_image(program);
        assert_eq!(image.len() % 4, 0);
        let members = unpack(&image);
        let names: Vec<&str> = members.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(names, ["dev", "dev/console", "sys", "init"]);
        assert_eq!(members[1].1, 0o020_600);
        assert_eq!(members[1].2, (5, 1));
        assert_eq!(members[3].1, 0o100_755);
        assert_eq!(members[3].3, program);
    }

    #[test]
    fn names_and_data_of_every_length_are_padded() {
        for len in 0..9 {
            let data = vec![0xa5; len];
            let name = "x".repeat(len + 1);
            let image = newc(&[CpioEntry {
                name: &name,
                mode: S_IFREG | 0o644,
                data: &data,
                rdev: (0, 0),
            }]);
            let members = unpack(&image);
            assert_eq!(members, [(name.clone(), 0o100_644, (0, 0), data)]);
        }
    }

    #[test]
    fn the_newest_kernel_is_chosen_by_version_numbers() {
        let names = [
            "config-6.1.0-57-amd64",
            "vmlinuz-6.1.0-9-amd64",
            "vmlinuz-6.1.0-57-amd64",
            "initrd.img-6.10.0-1-amd64",
            "System.map-6.1.0-57-amd64",
        ];
        assert_eq!(pick_kernel(names), Some("vmlinuz-6.1.0-57-amd64"));
        assert_eq!(
            pick_kernel(["vmlinuz-6.9.0-1-amd64", "vmlinuz-6.10.0-1-amd64"]),
            Some("vmlinuz-6.10.0-1-amd64")
        );
        assert_eq!(pick_kernel(["config-6.1", "initrd.img-6.1"]), None);
    }

    #[test]
    fn no_kernel_and_no_way_to_install_one_is_a_clear_error() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_or_install_kernel(empty.path(), || Err("apt-get is not on PATH".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no Linux kernel in"), "{err}");
        assert!(err.contains("apt-get is not on PATH"), "{err}");
        assert!(
            err.contains("sudo apt-get install linux-image-amd64"),
            "{err}"
        );
        assert!(err.contains("--linux-kernel PATH"), "{err}");
        // An install that adds nothing is an error too.
        let err = find_or_install_kernel(empty.path(), || Ok(())).unwrap_err();
        assert!(err.to_string().contains("was installed but"), "{err}");
    }

    #[test]
    fn a_kernel_in_the_directory_is_used_and_nothing_is_installed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vmlinuz-6.1.0-57-amd64"), b"bz").unwrap();
        let found = find_or_install_kernel(dir.path(), || panic!("must not install")).unwrap();
        assert_eq!(found, dir.path().join("vmlinuz-6.1.0-57-amd64"));
    }

    #[test]
    fn a_failing_build_is_a_clear_error() {
        let workspace = Workspace {
            root: std::env::temp_dir(),
            target: std::env::temp_dir().join("veridian-linuxbench-test"),
        };
        let err = build_program("false", &workspace).unwrap_err().to_string();
        assert!(
            err.contains("building the Linux benchmark program failed"),
            "{err}"
        );
        assert!(
            err.contains("rustup target add x86_64-unknown-linux-musl"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            build_program("/nonexistent/cargo", &workspace).unwrap_err()
        );
        assert!(
            err.contains("could not run `/nonexistent/cargo build"),
            "{err}"
        );
    }

    #[test]
    fn the_musl_target_is_found_in_rustups_listing() {
        assert!(target_installed(
            "x86_64-unknown-linux-gnu\nx86_64-unknown-linux-musl\nx86_64-unknown-none\n"
        ));
        assert!(!target_installed(
            "x86_64-unknown-linux-gnu\nx86_64-unknown-linux-musleabi\n"
        ));
    }

    #[test]
    fn the_command_line_carries_accel_samples_and_extra_words() {
        assert_eq!(
            linux_cmdline(&Accel::Icount, 2000, ""),
            "console=ttyS0 quiet panic=-1 accel=icount samples=2000"
        );
        assert_eq!(
            linux_cmdline(&Accel::Tcg, 50, "mitigations=off"),
            "console=ttyS0 quiet panic=-1 accel=tcg samples=50 mitigations=off"
        );
        assert_eq!(samples_for("full", None), 100_000);
        assert_eq!(samples_for("ipc.call", None), 2_000);
        assert_eq!(samples_for("full", Some(7)), 7);
        assert_eq!(linux_cpus(&Accel::Icount, 4), 1);
        assert_eq!(linux_cpus(&Accel::Tcg, 4), 4);
    }

    #[test]
    fn only_linux_records_are_kept() {
        let console = "\
[    0.000000] Linux version 6.1.0\r\n\
@meta v1 linux.kernel=6.1 linux.cpus=1\r\n\
garbage@bench v1 name=linux.pipe.same_cpu unit=cycles kind=latency count=1\n\
@bench v1 name=ipc.call.same_cpu unit=cycles\n\
@hist v1 name=linux.pipe.same_cpu Tag=x\n\
@skip v1 name=linux.pipe.cross_cpu reason=x\n\
@done v1 benches=1 skipped=0\n\
linuxbench: finished, 0 failed\n";
        assert_eq!(
            linux_records(console),
            "@meta v1 linux.kernel=6.1 linux.cpus=1\n\
             @bench v1 name=linux.pipe.same_cpu unit=cycles kind=latency count=1\n\
             @hist v1 name=linux.pipe.same_cpu Tag=x\n\
             @skip v1 name=linux.pipe.cross_cpu reason=x\n\
             linuxbench: finished, 0 failed\n"
        );
    }

    #[test]
    fn linux_endings_are_explained() {
        assert!(explain_linux_end(QemuEnd::Exited(33)).is_ok());
        let failed = explain_linux_end(QemuEnd::Exited(65)).unwrap_err();
        assert!(failed.contains("reported a failure"), "{failed}");
        let panicked = explain_linux_end(QemuEnd::Exited(0)).unwrap_err();
        assert!(panicked.contains("Linux panicked"), "{panicked}");
        let timed_out = explain_linux_end(QemuEnd::TimedOut(Duration::from_secs(9))).unwrap_err();
        assert!(timed_out.contains("timeout"), "{timed_out}");
    }
}
