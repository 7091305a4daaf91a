//! End-to-end tests of `veridian-run` against a fake QEMU: a shell script that
//! records its argv, prints scripted serial output and exits with a scripted
//! status. They cover process plumbing the unit tests cannot: live echo, the
//! log file, timeouts, exit statuses, test-kernel totals and the KVM probe cache.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The fake: `--version` answers like QEMU; otherwise it records its argv and
/// plays `FAKE_SERIAL` (stdout) / `FAKE_STDERR`, then sleeps `FAKE_SLEEP` seconds
/// (as `exec` so a kill reaches it) and exits `FAKE_STATUS`. When its argv has
/// `-cpu host` exactly, `FAKE_HOST_*` override the above (for the KVM probe);
/// under `-accel kvm` it first sleeps `FAKE_KVM_DELAY` seconds (a slow KVM).
const FAKE_QEMU: &str = r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "QEMU emulator version 9.9.9 (fake)"; exit 0; fi
printf '%s\n' "$@" >> "$FAKE_ARGV_LOG"
echo "---" >> "$FAKE_ARGV_LOG"
serial="$FAKE_SERIAL"; status="${FAKE_STATUS:-33}"; err="$FAKE_STDERR"
prev=""
for arg in "$@"; do
  if [ "$prev" = "-accel" ] && [ "$arg" = "kvm" ] && [ -n "$FAKE_KVM_DELAY" ]; then sleep "$FAKE_KVM_DELAY"; fi
  if [ "$prev" = "-cpu" ] && [ "$arg" = "host" ] && [ -n "$FAKE_HOST_STATUS" ]; then
    serial="$FAKE_HOST_SERIAL"; status="$FAKE_HOST_STATUS"; err="$FAKE_HOST_STDERR"
  fi
  prev="$arg"
done
printf '%b' "$serial"
[ -n "$err" ] && printf '%b' "$err" >&2
[ -n "$FAKE_SLEEP" ] && exec sleep "$FAKE_SLEEP"
exit "$status"
"#;

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = dir.path().join("fake-qemu");
        fs::write(&fake, FAKE_QEMU).expect("write fake qemu");
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod fake qemu");
        fs::write(dir.path().join("veridian"), b"not really an ELF").expect("write fake kernel");
        fs::write(dir.path().join("kvm"), b"").expect("write fake kvm device");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `veridian-run` with the fake QEMU, a fake kernel and `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_veridian-run"));
        command
            .arg("--qemu")
            .arg(self.path("fake-qemu"))
            .args(args)
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", self.path("target"))
            .env("FAKE_ARGV_LOG", self.path("argv.log"));
        for (key, value) in env {
            command.env(key, value);
        }
        if !args.contains(&"iso") {
            command.arg("--kernel").arg(self.path("veridian"));
        }
        command.output().expect("run veridian-run")
    }

    fn argv_log(&self) -> String {
        fs::read_to_string(self.path("argv.log")).unwrap_or_default()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status(output: &Output) -> i32 {
    output.status.code().expect("veridian-run exits normally")
}

#[test]
fn passing_test_run_echoes_serial_logs_it_and_exits_zero() {
    let fixture = Fixture::new();
    let log = fixture.path("logs/serial.log");
    let serial = "@boot v1 cpus=2\ntest ipc::call ... ok\n1 passed, 0 failed\n";
    let output = fixture.run(
        &[
            "qemu",
            "--accel",
            "tcg",
            "--cmdline",
            "run=test",
            "--log",
            log.to_str().unwrap(),
        ],
        &[("FAKE_SERIAL", serial), ("FAKE_STATUS", "33")],
    );
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), serial);
    assert_eq!(fs::read_to_string(&log).unwrap(), serial);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("veridian-run: accel=tcg (requested)"),
        "{stderr}"
    );
    assert!(stderr.contains("veridian-run: PASS"), "{stderr}");
    let argv = fixture.argv_log();
    assert!(
        argv.contains("-append\nrun=test accel=tcg\n") && argv.contains("-accel\ntcg\n-cpu\nmax\n"),
        "{argv}"
    );
}

#[test]
fn failing_tests_are_repeated_at_the_end_and_exit_one() {
    let fixture = Fixture::new();
    let output = fixture.run(
        &["qemu", "--accel", "tcg", "--cmdline", "run=test"],
        &[
            (
                "FAKE_SERIAL",
                "test a ... ok\ntest b ... FAILED: off by one\n1 passed, 1 failed\n",
            ),
            ("FAKE_STATUS", "65"),
        ],
    );
    assert_eq!(status(&output), 1);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("veridian-run: test b ... FAILED: off by one"),
        "{stderr}"
    );
    assert!(stderr.contains("kernel reported failure"), "{stderr}");
    assert!(
        stderr.contains("kernel tests: 1 passed, 1 failed"),
        "{stderr}"
    );
}

#[test]
fn missing_closing_line_or_boot_record_fails_even_on_exit_33() {
    let fixture = Fixture::new();
    let output = fixture.run(
        &["qemu", "--accel", "tcg", "--cmdline", "run=test"],
        &[("FAKE_SERIAL", "test a ... ok\n")],
    );
    assert_eq!(status(&output), 1);
    assert!(text(&output.stderr).contains("no closing '<N> passed, <M> failed' line"));
    let output = fixture.run(
        &["qemu", "--accel", "tcg", "--cmdline", "run=boot"],
        &[("FAKE_SERIAL", "hello\n")],
    );
    assert_eq!(status(&output), 1);
    assert!(text(&output.stderr).contains("no '@boot v1' boot record"));
}

#[test]
fn triple_fault_and_timeout_are_reported() {
    let fixture = Fixture::new();
    let output = fixture.run(&["qemu", "--accel", "tcg"], &[("FAKE_STATUS", "0")]);
    assert_eq!(status(&output), 1);
    assert!(text(&output.stderr).contains("kernel triple-faulted / reset"));
    let output = fixture.run(
        &["qemu", "--accel", "tcg", "--timeout", "1"],
        &[("FAKE_SERIAL", "booting\n"), ("FAKE_SLEEP", "30")],
    );
    assert_eq!(status(&output), 1);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("timeout after 1 s"), "{stderr}");
    assert_eq!(text(&output.stdout), "booting\n");
}

#[test]
fn usage_errors_exit_two() {
    let fixture = Fixture::new();
    let output = fixture.run(&["qemu", "--mem", "12Q"], &[]);
    assert_eq!(status(&output), 2);
    assert!(text(&output.stderr).contains("unknown size suffix 'Q'"));
    let output = fixture.run(
        &["qemu", "--accel", "tcg", "--cpus", "3", "--numa", "2"],
        &[],
    );
    assert_eq!(status(&output), 2);
    assert!(text(&output.stderr).contains("3 CPUs do not divide evenly into 2 NUMA nodes"));
    assert_eq!(status(&fixture.run(&["qemu", "--no-such-flag"], &[])), 2);
    assert!(
        fixture.argv_log().is_empty(),
        "QEMU must not start on usage errors"
    );
}

#[test]
fn test_kernel_sums_configurations_and_counts_crashes_as_failures() {
    let fixture = Fixture::new();
    let serial = "test a ... ok\ntest b ... ok\n2 passed, 0 failed\n";
    let output = fixture.run(
        &[
            "test-kernel",
            "--cpus",
            "1,4",
            "--numa-configs",
            "4:2",
            "--accel",
            "tcg",
        ],
        &[("FAKE_SERIAL", serial)],
    );
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).lines().last(),
        Some("6 passed, 0 failed")
    );
    let argv = fixture.argv_log();
    assert_eq!(argv.matches("-append\nrun=test accel=tcg\n").count(), 3);
    assert!(argv.contains("node,nodeid=1,cpus=2-3,memdev=m1"), "{argv}");

    let output = fixture.run(
        &["test-kernel", "--cpus", "2", "--accel", "tcg"],
        &[("FAKE_STATUS", "0")],
    );
    assert_eq!(status(&output), 1);
    assert_eq!(
        text(&output.stdout).lines().last(),
        Some("0 passed, 1 failed")
    );
    assert!(text(&output.stderr).contains("test-kernel cpus=2 mem=512M: FAILED"));
}

#[test]
fn kvm_probe_falls_back_to_the_second_cpu_model_and_is_cached() {
    let fixture = Fixture::new();
    let kvm = fixture.path("kvm");
    let env = [
        ("FAKE_SERIAL", "@boot v1 accel=kvm\n"),
        ("FAKE_HOST_STATUS", "1"),
        ("FAKE_HOST_SERIAL", ""),
        (
            "FAKE_HOST_STDERR",
            "qemu: error: failed to set MSR 0x10a to 0x1\n",
        ),
    ];
    let args = [
        "--kvm-device",
        kvm.to_str().unwrap(),
        "qemu",
        "--cmdline",
        "run=boot",
    ];
    let output = fixture.run(&args, &env);
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "accel=kvm -cpu host,-arch-capabilities (KVM probe: -cpu host failed: MSR 0x10a; \
             -cpu host,-arch-capabilities booted in"
        ),
        "{stderr}"
    );
    let cache = fixture.path("target/veridian-run/kvm-probe-qemu-9.9.9-host-");
    let cached: Vec<_> = fs::read_dir(fixture.path("target/veridian-run"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_str().unwrap().starts_with(cache.to_str().unwrap()))
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one cache file keyed by QEMU version and host kernel"
    );
    // 4 QEMU starts: two KVM probe attempts, the TCG reference boot, the run.
    let argv = fixture.argv_log();
    assert_eq!(argv.matches("---").count(), 4, "{argv}");
    assert_eq!(argv.matches("-accel\ntcg\n").count(), 1, "{argv}");

    let output = fixture.run(&args, &env);
    assert_eq!(status(&output), 0);
    assert!(text(&output.stderr).contains("cached in"));
    assert_eq!(
        fixture.argv_log().matches("---").count(),
        5,
        "the cached probe starts no QEMU"
    );
}

#[test]
fn explicit_kvm_without_a_usable_device_is_an_error() {
    let fixture = Fixture::new();
    let missing = fixture.path("no-such-kvm");
    let output = fixture.run(
        &[
            "--kvm-device",
            missing.to_str().unwrap(),
            "qemu",
            "--accel",
            "kvm",
        ],
        &[],
    );
    assert_eq!(status(&output), 1);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--accel kvm: KVM cannot run the kernel here"),
        "{stderr}"
    );
    let output = fixture.run(
        &["--kvm-device", missing.to_str().unwrap(), "qemu"],
        &[("FAKE_STATUS", "33")],
    );
    assert_eq!(status(&output), 0);
    assert!(text(&output.stderr).contains("veridian-run: accel=tcg (KVM probe: "));
}

#[test]
fn missing_kernel_is_a_clear_failure() {
    let output = Command::new(env!("CARGO_BIN_EXE_veridian-run"))
        .args([
            "--qemu",
            "/bin/false",
            "qemu",
            "--accel",
            "tcg",
            "--kernel",
            "/nonexistent/veridian",
        ])
        .output()
        .unwrap();
    assert_eq!(status(&output), 1);
    assert!(text(&output.stderr).contains("kernel ELF not found at /nonexistent/veridian"));
}

#[test]
fn iso_rejects_grub_script_characters_before_building() {
    let fixture = Fixture::new();
    let kernel = fixture.path("veridian");
    let output = fixture.run(
        &[
            "iso",
            "--out",
            "x.iso",
            "--cmdline",
            "a=$b",
            "--kernel",
            kernel.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(status(&output), 2);
    assert!(text(&output.stderr).contains("cannot be passed through grub.cfg"));
    assert!(!Path::new(&fixture.path("x.iso")).exists());
}

#[test]
fn kvm_slower_than_tcg_is_not_used() {
    let fixture = Fixture::new();
    let kvm = fixture.path("kvm");
    let output = fixture.run(
        &[
            "--kvm-device",
            kvm.to_str().unwrap(),
            "qemu",
            "--cmdline",
            "run=boot",
        ],
        &[("FAKE_SERIAL", "@boot v1 x=1\n"), ("FAKE_KVM_DELAY", "1")],
    );
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("veridian-run: accel=tcg (KVM probe: -cpu host booted in 1."),
        "{stderr}"
    );
    assert!(
        stderr.contains("so KVM is slower than emulation here"),
        "{stderr}"
    );
    let argv = fixture.argv_log();
    assert!(
        argv.ends_with("-append\nrun=boot accel=tcg\n---\n")
            && argv.contains("-accel\ntcg\n-cpu\nmax\n")
    );
}
