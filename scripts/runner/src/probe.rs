//! Choosing the accelerator: whether KVM really runs the kernel on this host.
//!
//! `/dev/kvm` being present is not enough: on some hosts `-cpu host` dies
//! setting MSR 0x10a (`IA32_ARCH_CAPABILITIES`) and `-cpu host,-arch-capabilities`
//! starts but runs the guest's ring 0 thousands of times slower than native.
//! So the probe boots the kernel with `run=boot` under KVM and accepts KVM only
//! if the boot record appears within [`PROBE_TIMEOUT`] and no slower than a
//! TCG boot of the same kernel (see [`kvm_fast_enough`]). The result is cached
//! per QEMU version and host kernel so runs do not pay for it again.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::machine::{self, Accel, BootMedium, MachineSpec};
use crate::process::{self, QemuRun, RunOptions};
use crate::size::MemSize;
use crate::verdict::{QemuEnd, explain_end};

/// How long a probe boot may take before KVM counts as unusable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// CPU models tried under KVM, best first.
pub const KVM_CPU_MODELS: [&str; 2] = ["host", "host,-arch-capabilities"];

/// The accelerator asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM if the probe boots the kernel in time and no slower than TCG, else TCG.
    Auto,
    /// KVM; an error if the probe fails.
    Kvm,
    /// TCG with `-cpu max`.
    Tcg,
    /// TCG with `-icount shift=0`: deterministic, TSC counts instructions.
    Icount,
}

/// What the KVM probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The CPU model that booted the kernel under KVM; `None` if none did.
    pub kvm_cpu_model: Option<String>,
    /// What happened, for the `accel=` line.
    pub summary: String,
}

/// Where and with what the probe runs.
#[derive(Debug, Clone, Copy)]
pub struct ProbeContext<'a> {
    pub qemu: &'a str,
    /// Normally `/dev/kvm`.
    pub kvm_device: &'a Path,
    pub kernel: &'a Path,
    /// Directory for cached results (under `target/`).
    pub cache_dir: &'a Path,
    /// Ignore a cached result and probe again.
    pub reprobe: bool,
}

/// Resolves `choice` for `kernel` on this host (probe results cached
/// under the workspace's runner directory) and prints the line that says
/// how it was chosen.
///
/// # Errors
/// As [`resolve_accel`].
pub fn choose_accel(
    host: &crate::qemu_cmd::HostTools<'_>,
    workspace: &crate::workspace::Workspace,
    kernel: &Path,
    choice: AccelChoice,
    reprobe: bool,
) -> anyhow::Result<Accel> {
    let context = ProbeContext {
        qemu: host.qemu,
        kvm_device: host.kvm_device,
        kernel,
        cache_dir: &workspace.runner_dir(),
        reprobe,
    };
    let (accel, line) = resolve_accel(choice, &context)?;
    eprintln!("veridian-run: {line}");
    Ok(accel)
}

/// The cache file name for a QEMU (`qemu-system-x86_64 --version` output) and
/// host kernel release: `kvm-probe-qemu-<version>-host-<release>`.
#[must_use]
pub fn cache_key(qemu_version_output: &str, host_release: &str) -> String {
    let first_line = qemu_version_output.lines().next().unwrap_or("").trim();
    let version = first_line
        .split_whitespace()
        .skip_while(|word| *word != "version")
        .nth(1)
        .unwrap_or(first_line);
    format!(
        "kvm-probe-qemu-{}-host-{}",
        file_name_safe(version),
        file_name_safe(host_release.trim())
    )
}

fn file_name_safe(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "unknown".to_owned()
    } else {
        safe
    }
}

/// Serialises a probe result for the cache file.
#[must_use]
pub fn render_cache(result: &ProbeResult) -> String {
    format!(
        "kvm_cpu={}\nsummary={}\n",
        result.kvm_cpu_model.as_deref().unwrap_or(""),
        result.summary.replace('\n', " ")
    )
}

/// Reads a cache file back; `None` if it is malformed (the caller re-probes).
#[must_use]
pub fn parse_cache(text: &str) -> Option<ProbeResult> {
    let mut lines = text.lines();
    let cpu = lines.next()?.strip_prefix("kvm_cpu=")?;
    let summary = lines.next()?.strip_prefix("summary=")?;
    if !KVM_CPU_MODELS.contains(&cpu) && !cpu.is_empty() {
        return None;
    }
    Some(ProbeResult {
        kvm_cpu_model: (!cpu.is_empty()).then(|| cpu.to_owned()),
        summary: summary.to_owned(),
    })
}

/// Describes why one probe attempt did not show a boot record.
#[must_use]
pub fn describe_failed_attempt(cpu_model: &str, end: QemuEnd, stderr_tail: &[String]) -> String {
    let cause = match end {
        QemuEnd::TimedOut(after) => format!("timed out after {}s", after.as_secs()),
        end => {
            let last_error = stderr_tail
                .iter()
                .rev()
                .find(|line| !line.trim().is_empty());
            if stderr_tail.iter().any(|line| line.contains("0x10a")) {
                "failed: MSR 0x10a".to_owned()
            } else if let Some(line) = last_error {
                format!("failed: {}", shorten(line.trim(), 100))
            } else {
                format!(
                    "no boot record: {}",
                    explain_end(end)
                        .err()
                        .unwrap_or_else(|| "kernel exited without one".to_owned())
                )
            }
        }
    };
    format!("-cpu {cpu_model} {cause}")
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Checks that `/dev/kvm`-like `device` opens for reading and writing.
///
/// # Errors
/// Why it does not (missing, permission denied, ...).
pub fn check_kvm_device(device: &Path) -> Result<(), String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map(drop)
        .map_err(|err| format!("{} not readable+writable: {err}", device.display()))
}

/// Picks the accelerator and says why, probing (or reading the cache) as needed.
///
/// # Errors
/// `--accel kvm` when KVM cannot boot the kernel, or a failure to start QEMU.
pub fn resolve_accel(
    choice: AccelChoice,
    context: &ProbeContext<'_>,
) -> anyhow::Result<(Accel, String)> {
    match choice {
        AccelChoice::Tcg => Ok((Accel::Tcg, "accel=tcg (requested)".to_owned())),
        AccelChoice::Icount => Ok((
            Accel::Icount,
            "accel=icount (requested: TCG, TSC counts instructions)".to_owned(),
        )),
        AccelChoice::Kvm | AccelChoice::Auto => {
            let probe = probe_kvm(context)?;
            match (probe.kvm_cpu_model, choice) {
                (Some(cpu_model), _) => {
                    let line = format!("accel=kvm -cpu {cpu_model} (KVM probe: {})", probe.summary);
                    Ok((Accel::Kvm { cpu_model }, line))
                }
                (None, AccelChoice::Kvm) => bail!(
                    "--accel kvm: KVM cannot run the kernel here ({}); use --accel tcg or --accel auto",
                    probe.summary
                ),
                (None, _) => Ok((
                    Accel::Tcg,
                    format!("accel=tcg (KVM probe: {})", probe.summary),
                )),
            }
        }
    }
}

/// Runs (or recalls) the KVM probe.
///
/// # Errors
/// QEMU cannot be started, or the kernel to probe with is missing.
pub fn probe_kvm(context: &ProbeContext<'_>) -> anyhow::Result<ProbeResult> {
    if let Err(why) = check_kvm_device(context.kvm_device) {
        return Ok(ProbeResult {
            kvm_cpu_model: None,
            summary: why,
        });
    }
    let cache_file = cache_path(context)?;
    if !context.reprobe
        && let Some(cached) = fs::read_to_string(&cache_file)
            .ok()
            .as_deref()
            .and_then(parse_cache)
    {
        return Ok(ProbeResult {
            summary: format!(
                "{}; cached in {}, --reprobe to redo",
                cached.summary,
                cache_file.display()
            ),
            ..cached
        });
    }
    eprintln!(
        "veridian-run: probing KVM (boots the kernel with run=boot under KVM, up to {}s per CPU model, and once under TCG to compare)...",
        PROBE_TIMEOUT.as_secs()
    );
    let mut findings = Vec::new();
    let mut result = None;
    let mut tcg_reference: Option<Option<Duration>> = None;
    for cpu_model in KVM_CPU_MODELS {
        let run = probe_attempt(
            context,
            &Accel::Kvm {
                cpu_model: cpu_model.to_owned(),
            },
        )?;
        if run.scan.boot_record.is_none() {
            findings.push(describe_failed_attempt(
                cpu_model,
                run.end,
                &run.stderr_tail,
            ));
            continue;
        }
        let kvm = run.elapsed;
        // Boot the same kernel under TCG once, to tell a working KVM from
        // one that traps so much it loses to software emulation.
        if tcg_reference.is_none() {
            let tcg_run = probe_attempt(context, &Accel::Tcg)?;
            tcg_reference = Some(
                tcg_run
                    .scan
                    .boot_record
                    .is_some()
                    .then_some(tcg_run.elapsed),
            );
        }
        let tcg = tcg_reference.flatten();
        if tcg.is_none_or(|tcg| kvm_fast_enough(kvm, tcg)) {
            findings.push(format!("-cpu {cpu_model} booted in {}", secs(kvm)));
            result = Some(cpu_model.to_owned());
            break;
        }
        findings.push(format!(
            "-cpu {cpu_model} booted in {} but TCG boots in {}, so KVM is slower than emulation here",
            secs(kvm),
            tcg.map_or_else(String::new, secs)
        ));
    }
    let probed = ProbeResult {
        kvm_cpu_model: result,
        summary: findings.join("; "),
    };
    if let Err(err) = fs::create_dir_all(context.cache_dir)
        .and_then(|()| fs::write(&cache_file, render_cache(&probed)))
    {
        eprintln!(
            "veridian-run: warning: cannot cache the KVM probe in {}: {err}",
            cache_file.display()
        );
    }
    Ok(probed)
}

/// Whether a KVM boot taking `kvm` is worth using against a TCG boot of the
/// same kernel taking `tcg`. On hosts where KVM traps (nested virtualisation,
/// the `-arch-capabilities` workaround) it runs ring 0 orders of magnitude
/// slower than native and loses even to TCG; a healthy KVM never does beyond
/// start-up noise, which the 1.5x + 0.5 s allowance covers.
#[must_use]
pub fn kvm_fast_enough(kvm: Duration, tcg: Duration) -> bool {
    kvm <= tcg.mul_f64(1.5) + Duration::from_millis(500)
}

fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

fn probe_attempt(context: &ProbeContext<'_>, accel: &Accel) -> anyhow::Result<QemuRun> {
    let spec = MachineSpec {
        cpus: 1,
        mem: MemSize::from_mib(256).context("probe memory size")?,
        numa_nodes: None,
        accel: accel.clone(),
        boot: BootMedium::Pvh {
            kernel: context.kernel.to_owned(),
        },
        cmdline: "run=boot".to_owned(),
        gdb: false,
    };
    let args = machine::qemu_args(&spec)?;
    process::run_qemu(&RunOptions {
        qemu: context.qemu,
        args: &args,
        timeout: Some(PROBE_TIMEOUT),
        log: None,
        echo: false,
        interactive: false,
        stop_when: Some(|scan| scan.boot_record.is_some()),
        on_line: None,
    })
}

fn cache_path(context: &ProbeContext<'_>) -> anyhow::Result<PathBuf> {
    let version = Command::new(context.qemu)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", context.qemu))?;
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let key = cache_key(&String::from_utf8_lossy(&version.stdout), &release);
    Ok(context.cache_dir.join(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_names_qemu_version_and_host_kernel() {
        let version = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022\n";
        assert_eq!(
            cache_key(version, "6.18.44-fc-v669\n"),
            "kvm-probe-qemu-7.2.22-host-6.18.44-fc-v669"
        );
        assert_eq!(
            cache_key("weird output/x", "a b"),
            "kvm-probe-qemu-weird_output_x-host-a_b"
        );
        assert_eq!(cache_key("", ""), "kvm-probe-qemu-unknown-host-unknown");
        assert_ne!(
            cache_key("QEMU emulator version 8.2.0", "6.1"),
            cache_key("QEMU emulator version 7.2.22", "6.1")
        );
    }

    #[test]
    fn cache_round_trips_and_rejects_garbage() {
        for result in [
            ProbeResult {
                kvm_cpu_model: Some("host,-arch-capabilities".to_owned()),
                summary: "-cpu host failed: MSR 0x10a; -cpu host,-arch-capabilities booted in 1.2s"
                    .to_owned(),
            },
            ProbeResult {
                kvm_cpu_model: None,
                summary: "-cpu host timed out after 20s".to_owned(),
            },
        ] {
            assert_eq!(parse_cache(&render_cache(&result)), Some(result));
        }
        assert_eq!(parse_cache(""), None);
        assert_eq!(parse_cache("kvm_cpu=qemu64\nsummary=x\n"), None);
        assert_eq!(parse_cache("summary=x\nkvm_cpu=host\n"), None);
    }

    #[test]
    fn failed_attempts_say_why() {
        let msr = vec![
            "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x1".to_owned(),
            "qemu-system-x86_64: ../target/i386/kvm/kvm.c:3113: kvm_buf_set_msrs: Assertion failed.".to_owned(),
        ];
        assert_eq!(
            describe_failed_attempt("host", QemuEnd::Signalled(6), &msr),
            "-cpu host failed: MSR 0x10a"
        );
        assert_eq!(
            describe_failed_attempt(
                "host,-arch-capabilities",
                QemuEnd::TimedOut(PROBE_TIMEOUT),
                &[]
            ),
            "-cpu host,-arch-capabilities timed out after 20s"
        );
        assert_eq!(
            describe_failed_attempt(
                "host",
                QemuEnd::Exited(1),
                &["oops".to_owned(), String::new()]
            ),
            "-cpu host failed: oops"
        );
        let silent = describe_failed_attempt("host", QemuEnd::Exited(0), &[]);
        assert!(
            silent.starts_with("-cpu host no boot record: kernel triple-faulted"),
            "{silent}"
        );
    }

    #[test]
    fn kvm_must_not_lose_to_tcg() {
        let ms = Duration::from_millis;
        assert!(kvm_fast_enough(ms(200), ms(300)), "healthy KVM");
        assert!(
            kvm_fast_enough(ms(700), ms(150)),
            "start-up noise is allowed"
        );
        assert!(
            !kvm_fast_enough(ms(1500), ms(100)),
            "this host: trapping KVM"
        );
        assert!(!kvm_fast_enough(ms(19_000), ms(2_000)));
    }

    #[test]
    fn missing_kvm_device_is_reported_not_fatal() {
        let why = check_kvm_device(Path::new("/nonexistent/kvm")).unwrap_err();
        assert!(
            why.starts_with("/nonexistent/kvm not readable+writable"),
            "{why}"
        );
    }

    #[test]
    fn explicit_tcg_and_icount_need_no_probe() {
        let context = ProbeContext {
            qemu: "/nonexistent/qemu",
            kvm_device: Path::new("/nonexistent/kvm"),
            kernel: Path::new("/nonexistent/kernel"),
            cache_dir: Path::new("/nonexistent/cache"),
            reprobe: false,
        };
        let (accel, line) = resolve_accel(AccelChoice::Tcg, &context).unwrap();
        assert_eq!(
            (accel, line.as_str()),
            (Accel::Tcg, "accel=tcg (requested)")
        );
        let (accel, line) = resolve_accel(AccelChoice::Icount, &context).unwrap();
        assert_eq!(accel, Accel::Icount);
        assert!(line.starts_with("accel=icount"));
    }
}
