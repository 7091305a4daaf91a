//! `veridian-run qemu`: choose the accelerator, prepare the boot medium (PVH
//! kernel, or a GRUB ISO under SeaBIOS/OVMF), run QEMU and judge the run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, ensure};

use crate::cli::{BootChoice, QemuArgs};
use crate::iso::{self, IsoRequest, OVMF_DIRS};
use crate::machine::{self, BootMedium, MachineSpec, UefiFirmware};
use crate::probe;
use crate::process::{self, QemuRun, RunOptions};
use crate::verdict::{self, Expectation, Verdict};
use crate::workspace::Workspace;

/// The host programs and devices a run uses.
#[derive(Debug, Clone, Copy)]
pub struct HostTools<'a> {
    /// The QEMU program.
    pub qemu: &'a str,
    /// The KVM device (`/dev/kvm`).
    pub kvm_device: &'a Path,
}

/// How long `veridian-run qemu` lets QEMU run without `--timeout` (and
/// without `--gdb`): a kernel that hangs or idles is stopped and reported.
pub const DEFAULT_QEMU_TIMEOUT: Duration = Duration::from_secs(600);

/// A command-line value that is well formed but unusable (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs `veridian-run qemu`; `Ok(true)` when the run passed.
///
/// # Errors
/// Usage errors ([`UsageError`]), a missing kernel or tool, or QEMU not starting.
pub fn run(host: &HostTools<'_>, args: &QemuArgs, workspace: &Workspace) -> anyhow::Result<bool> {
    if args.emulator == crate::cli::Emulator::Bochs {
        return crate::bochs::run(args, workspace);
    }
    machine::validate(args.cpus, args.mem, args.numa).map_err(|err| UsageError(err.to_string()))?;
    if args.boot != BootChoice::Pvh {
        iso::check_grub_cmdline(&args.cmdline).map_err(|err| UsageError(err.to_string()))?;
    }
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| workspace.default_kernel());
    require_kernel(&kernel)?;
    crate::checks::check_cmdline(&args.cmdline)?;
    crate::checks::check_memory(args.mem, &kernel)?;
    if args.boot == BootChoice::Pvh && !args.modules.is_empty() {
        eprintln!(
            "veridian-run: note: --module is ignored for --boot pvh (the kernel embeds its programs); \
             use --boot iso-bios or iso-uefi to pass modules through grub.cfg"
        );
    }

    let qemu = host.qemu;
    let accel = probe::choose_accel(host, workspace, &kernel, args.accel, args.reprobe)?;
    // The kernel reports the accelerator in its records; tell it which.
    let cmdline = crate::bench::with_accel_word(&args.cmdline, &accel);

    // Holds OVMF's writable variable store for as long as QEMU runs.
    let mut _uefi_vars = None;
    let boot = match args.boot {
        BootChoice::Pvh => BootMedium::Pvh {
            kernel: kernel.clone(),
        },
        BootChoice::IsoBios | BootChoice::IsoUefi => {
            let iso = workspace.runner_dir().join("last-boot.iso");
            iso::build_iso(&IsoRequest {
                kernel: &kernel,
                out: &iso,
                cmdline: &cmdline,
                modules: &args.modules,
            })?;
            eprintln!("veridian-run: built {}", iso.display());
            if args.boot == BootChoice::IsoBios {
                BootMedium::IsoBios { iso }
            } else {
                let (firmware, vars) = prepare_ovmf()?;
                _uefi_vars = vars;
                BootMedium::IsoUefi { iso, firmware }
            }
        }
    };
    let spec = MachineSpec {
        cpus: args.cpus,
        mem: args.mem,
        numa_nodes: args.numa,
        accel,
        boot,
        cmdline,
        gdb: args.gdb,
    };
    if args.gdb {
        if args.timeout.is_some() {
            eprintln!("veridian-run: note: --timeout is ignored with --gdb");
        }
        eprintln!(
            "veridian-run: QEMU waits for gdb: gdb {} -ex 'target remote :1234'",
            kernel.display()
        );
    }
    let timeout = (!args.gdb).then(|| {
        args.timeout
            .map_or(DEFAULT_QEMU_TIMEOUT, Duration::from_secs)
    });
    let expectation = args
        .expect
        .unwrap_or_else(|| Expectation::for_cmdline(&args.cmdline));
    let interactive = std::io::stdin().is_terminal();
    let (run, verdict) = boot_and_judge(
        qemu,
        &spec,
        timeout,
        args.log.as_deref(),
        interactive,
        expectation,
    )?;
    crate::fault_report::print(&run.scan.fault, &kernel);
    report(&run, &verdict);
    Ok(verdict.passed())
}

/// Fails clearly when the kernel ELF is missing.
///
/// # Errors
/// The kernel path is not a file.
pub fn require_kernel(kernel: &Path) -> anyhow::Result<()> {
    ensure!(
        kernel.is_file(),
        "kernel ELF not found at {} (build it: cargo build -p kernel --release --target x86_64-unknown-none)",
        kernel.display()
    );
    Ok(())
}

/// Finds OVMF and, for split images, copies the variable store to a temp file
/// (OVMF writes to it; the installed template must stay pristine).
fn prepare_ovmf() -> anyhow::Result<(UefiFirmware, Option<tempfile::TempPath>)> {
    let dirs = OVMF_DIRS.map(Path::new);
    let found = iso::find_ovmf(&dirs, Path::is_file).with_context(|| {
        format!(
            "OVMF not found in {}; install it with: apt-get install -y ovmf",
            OVMF_DIRS.join(", ")
        )
    })?;
    match found {
        UefiFirmware::Split { code, vars } => {
            let copy = tempfile::Builder::new()
                .prefix("veridian-ovmf-vars-")
                .suffix(".fd")
                .tempfile()
                .context("creating a temp file for OVMF variables")?
                .into_temp_path();
            std::fs::copy(&vars, &copy).with_context(|| format!("copying {}", vars.display()))?;
            let vars_copy: PathBuf = copy.to_path_buf();
            Ok((
                UefiFirmware::Split {
                    code,
                    vars: vars_copy,
                },
                Some(copy),
            ))
        }
        combined @ UefiFirmware::Combined(_) => Ok((combined, None)),
    }
}

/// Runs one machine to the end and judges it.
///
/// # Errors
/// The argv cannot be built or QEMU cannot be started.
pub fn boot_and_judge(
    qemu: &str,
    spec: &MachineSpec,
    timeout: Option<Duration>,
    log: Option<&Path>,
    interactive: bool,
    expectation: Expectation,
) -> anyhow::Result<(QemuRun, Verdict)> {
    let args = machine::qemu_args(spec)?;
    eprintln!("veridian-run: {}", shell_words(qemu, &args));
    let run = process::run_qemu(&RunOptions {
        qemu,
        args: &args,
        timeout,
        log,
        echo: true,
        interactive,
        stop_when: None,
        on_line: None,
    })?;
    let verdict = verdict::judge(run.end, expectation, &run.scan);
    Ok((run, verdict))
}

/// Prints the end-of-run summary: failing test lines again, then PASS/FAIL.
pub fn report(run: &QemuRun, verdict: &Verdict) {
    for line in &run.scan.failed_tests {
        eprintln!("veridian-run: {line}");
    }
    let took = run.elapsed.as_secs_f64();
    if verdict.passed() {
        eprintln!("veridian-run: PASS (kernel exited with isa-debug-exit 0x10 after {took:.1}s)");
    } else {
        eprintln!(
            "veridian-run: FAIL after {took:.1}s: {}",
            verdict.failures.join("; ")
        );
    }
}

/// `program args...` quoted for a POSIX shell, so the line can be pasted.
#[must_use]
pub fn shell_words(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(|word| {
            if !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=.,/:+@%".contains(c))
            {
                word.to_owned()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quote_only_what_needs_it() {
        let args = [
            "-append".to_owned(),
            "run=test a=1".to_owned(),
            "it's".to_owned(),
            String::new(),
        ];
        assert_eq!(
            shell_words("qemu-system-x86_64", &args),
            r"qemu-system-x86_64 -append 'run=test a=1' 'it'\''s' ''"
        );
    }

    #[test]
    fn missing_kernel_names_the_build_command() {
        let err = require_kernel(Path::new("/nonexistent/veridian"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/veridian"), "{err}");
        assert!(err.contains("cargo build -p kernel --release --target x86_64-unknown-none"));
    }
}
