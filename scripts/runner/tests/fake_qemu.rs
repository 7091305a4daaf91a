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
/// `FAKE_SELF_SIGNAL` makes it kill itself with that signal after playing.
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
[ -n "$FAKE_SELF_SIGNAL" ] && kill -"$FAKE_SELF_SIGNAL" $$
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
        fs::write(dir.path().join("veridian"), fake_kernel_elf()).expect("write fake kernel");
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
        if !args.contains(&"iso") && !args.contains(&"compare") {
            command.arg("--kernel").arg(self.path("veridian"));
        }
        command.output().expect("run veridian-run")
    }

    fn argv_log(&self) -> String {
        fs::read_to_string(self.path("argv.log")).unwrap_or_default()
    }
}

/// The fake kernel: a little-endian ELF64 whose one `PT_LOAD` covers
/// 1 MiB..33 MiB (so it needs 33 MiB plus the runner's headroom), no code.
fn fake_kernel_elf() -> Vec<u8> {
    let (paddr, memsz) = (0x10_0000_u64, 0x200_0000_u64);
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
    elf.extend_from_slice(&[0; 8]);
    for half in [2_u16, 0x3e] {
        elf.extend_from_slice(&half.to_le_bytes()); // e_type EXEC, e_machine x86_64
    }
    elf.extend_from_slice(&1_u32.to_le_bytes()); // e_version
    for word in [paddr, 64, 0] {
        elf.extend_from_slice(&word.to_le_bytes()); // e_entry, e_phoff, e_shoff
    }
    elf.extend_from_slice(&0_u32.to_le_bytes()); // e_flags
    for half in [64_u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    for word in [1_u32, 7] {
        elf.extend_from_slice(&word.to_le_bytes()); // p_type PT_LOAD, p_flags
    }
    for word in [0, paddr, paddr, 0, memsz, 0x1000_u64] {
        elf.extend_from_slice(&word.to_le_bytes()); // offset, vaddr, paddr, filesz, memsz, align
    }
    elf
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

/// Runs `veridian-run` and checks it exits with `code` within 10 s, QEMU
/// not started, and stderr containing `needle`.
fn rejects(fixture: &Fixture, args: &[&str], code: i32, needle: &str) {
    let started = std::time::Instant::now();
    let output = fixture.run(args, &[("FAKE_SLEEP", "30")]);
    let stderr = text(&output.stderr);
    assert_eq!(status(&output), code, "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(
        started.elapsed().as_secs() < 10,
        "{args:?} took {:?}",
        started.elapsed()
    );
    assert!(fixture.argv_log().is_empty(), "{args:?} started QEMU");
}

#[test]
fn bad_input_is_refused_before_booting() {
    let fixture = Fixture::new();
    rejects(
        &fixture,
        &["bench", "--accel", "tcg", "--suite", "nosuch"],
        2,
        "\"nosuch\" selects no benchmark",
    );
    rejects(
        &fixture,
        &["bench", "--accel", "tcg", "--suite", "ipc.call,"],
        2,
        "an empty prefix",
    );
    rejects(
        &fixture,
        &["bench", "--accel", "tcg", "--cpus", "65"],
        2,
        "--cpus 65: the kernel brings up at most 64 CPUs",
    );
    rejects(
        &fixture,
        &["qemu", "--accel", "tcg", "--cpus", "300"],
        2,
        "at most 64 CPUs",
    );
    rejects(
        &fixture,
        &["test-kernel", "--accel", "tcg", "--cpus", "1,65"],
        2,
        "at most 64 CPUs",
    );
    rejects(
        &fixture,
        &["qemu", "--accel", "tcg", "--mem", "16M"],
        2,
        "--mem 16M is too small for the kernel",
    );
    rejects(
        &fixture,
        &["bench", "--accel", "tcg", "--mem", "40M"],
        2,
        "it needs at least 41M",
    );
    rejects(
        &fixture,
        &["qemu", "--accel", "tcg", "--cmdline", "run=nosuch"],
        2,
        "run=nosuch is not a mode of the kernel",
    );
    rejects(
        &fixture,
        &["qemu", "--accel", "tcg", "--cmdline", "bench=nosuch"],
        2,
        "selects no benchmark",
    );
    rejects(
        &fixture,
        &["bench", "--accel", "tcg", "--fail-on-regression", "5"],
        2,
        "--compare",
    );
    rejects(
        &fixture,
        &["bench", "--accel", "tcg", "--compare", "/nonexistent/run"],
        2,
        "no such run directory",
    );
    rejects(
        &fixture,
        &["bench", "--accel", "tcg", "--repeat", "0"],
        2,
        "--repeat",
    );
    // At the minimum the machine boots.
    let output = fixture.run(
        &[
            "qemu",
            "--accel",
            "tcg",
            "--mem",
            "41M",
            "--cmdline",
            "run=boot",
        ],
        &[("FAKE_SERIAL", "@boot v1 cpus=2\n")],
    );
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
}

#[test]
fn list_prints_the_suite_table() {
    let fixture = Fixture::new();
    let output = fixture.run(&["bench", "--list"], &[]);
    assert_eq!(status(&output), 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("syscall.null") && l.ends_with("latency")),
        "{stdout}"
    );
    assert!(
        stdout.contains("scale.call") && stdout.contains("throughput"),
        "{stdout}"
    );
    assert!(fixture.argv_log().is_empty());
}

#[test]
fn qemu_errors_and_signals_are_reported_as_such() {
    let fixture = Fixture::new();
    // QEMU's own complaint reaches the user in bench mode (no echo there).
    let output = fixture.run(
        &["bench", "--accel", "tcg", "--suite", "syscall"],
        &[
            ("FAKE_STDERR", "qemu-system-x86_64: Invalid SMP CPUs 300\n"),
            ("FAKE_STATUS", "1"),
        ],
    );
    let stderr = text(&output.stderr);
    assert_eq!(status(&output), 1, "{stderr}");
    assert!(
        stderr.contains("veridian-run: qemu: qemu-system-x86_64: Invalid SMP CPUs 300"),
        "{stderr}"
    );
    // QEMU that caught SIGTERM (as under --gdb) exits 0 and says so.
    let output = fixture.run(
        &["qemu", "--accel", "tcg", "--gdb"],
        &[
            (
                "FAKE_STDERR",
                "qemu-system-x86_64: terminating on signal 15 from pid 77 (kill)\n",
            ),
            ("FAKE_STATUS", "0"),
        ],
    );
    let stderr = text(&output.stderr);
    assert_eq!(status(&output), 1);
    assert!(
        stderr.contains("QEMU was killed by signal 15 (SIGTERM)"),
        "{stderr}"
    );
    assert!(!stderr.contains("triple"), "{stderr}");
    // QEMU killed outright.
    let output = fixture.run(&["qemu", "--accel", "tcg"], &[("FAKE_SELF_SIGNAL", "KILL")]);
    let stderr = text(&output.stderr);
    assert_eq!(status(&output), 1);
    assert!(
        stderr.contains("QEMU was killed by signal 9 (SIGKILL)"),
        "{stderr}"
    );
}

/// An icount serial log of one boot: `ipc.call.same_cpu` at `p50` with the
/// fast path `fastpath`, and a throughput row.
fn icount_log(fastpath: &str, p50: u32) -> String {
    format!(
        "@boot v1 cpus=2\n@meta v1 accel=icount ipc_fastpath={fastpath} rev=abc\n\
         @bench v1 name=ipc.call.same_cpu unit=instructions kind=latency count=10 min={p50} \
         p50={p50} p90={p50} p99={p50} p999={p50} max={p50} mean={p50}\n\
         @bench v1 name=cap.lookup.16 unit=instructions kind=latency count=10 min=40 \
         p50=40 p90=40 p99=40 p999=40 max=40 mean=40\n@done v1 benches=2 skipped=0\n"
    )
}

#[test]
fn bench_compare_treats_the_earlier_run_as_baseline_and_gates() {
    let fixture = Fixture::new();
    let fast = fixture.path("fast");
    let output = fixture.run(
        &[
            "bench",
            "--accel",
            "icount",
            "--suite",
            "ipc.call",
            "--out",
            fast.to_str().unwrap(),
        ],
        &[("FAKE_SERIAL", &icount_log("on", 375))],
    );
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    // The fast-path-off candidate against the fast baseline: slower, gated.
    let slow = fixture.path("slow");
    let output = fixture.run(
        &[
            "bench",
            "--accel",
            "icount",
            "--suite",
            "ipc.call",
            "--cmdline",
            "ipc.fastpath=off",
            "--out",
            slow.to_str().unwrap(),
            "--compare",
            fast.to_str().unwrap(),
            "--fail-on-regression",
            "5",
        ],
        &[("FAKE_SERIAL", &icount_log("off", 4243))],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(status(&output), 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("CONDITION DIFFERS: ipc_fastpath: baseline on -> candidate off"),
        "{stdout}"
    );
    let call = stdout
        .lines()
        .find(|l| l.starts_with("  ipc.call.same_cpu"))
        .unwrap();
    assert!(call.contains("11.315") && call.contains("SLOWER"), "{call}");
    let lookup = stdout
        .lines()
        .find(|l| l.starts_with("  cap.lookup.16"))
        .unwrap();
    assert!(lookup.contains("same"), "{lookup}");
    assert!(
        stderr.contains("1 benchmark(s) slower than the baseline by more than 5%"),
        "{stderr}"
    );
    assert!(slow.join("compare.html").is_file());

    // The same two runs through `compare`, both ways round.
    let output = fixture.run(
        &[
            "compare",
            fast.to_str().unwrap(),
            slow.to_str().unwrap(),
            "--fail-on-regression",
            "5",
        ],
        &[],
    );
    assert_eq!(status(&output), 3, "{}", text(&output.stderr));
    let output = fixture.run(
        &[
            "compare",
            slow.to_str().unwrap(),
            fast.to_str().unwrap(),
            "--fail-on-regression",
            "5",
        ],
        &[],
    );
    let stdout = text(&output.stdout);
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    let call = stdout
        .lines()
        .find(|l| l.starts_with("  ipc.call.same_cpu"))
        .unwrap();
    assert!(call.contains("0.088") && call.contains("faster"), "{call}");
    fs::remove_file(fixture.path("argv.log")).unwrap();
    rejects(
        &fixture,
        &["compare", "/nonexistent/a", fast.to_str().unwrap()],
        2,
        "no such run directory",
    );
}

#[test]
fn noisy_runs_repeat_throughput_rows_and_report_spread() {
    let fixture = Fixture::new();
    let out = fixture.path("tcg");
    let serial = "@boot v1 cpus=2\n@meta v1 accel=tcg\n\
        @bench v1 name=stress.procs.1024 unit=msgs_per_s kind=throughput count=1 min=5 p50=5 \
        p90=5 p99=5 p999=5 max=5 mean=5\n@done v1 benches=1 skipped=0\n";
    let output = fixture.run(
        &[
            "bench",
            "--accel",
            "tcg",
            "--suite",
            "stress",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("FAKE_SERIAL", serial)],
    );
    assert_eq!(status(&output), 0, "{}", text(&output.stderr));
    let argv = fixture.argv_log();
    assert_eq!(argv.matches("bench=stress accel=tcg").count(), 1, "{argv}");
    assert_eq!(
        argv.matches("bench=stress.procs.1024 accel=tcg").count(),
        2,
        "{argv}"
    );
    let stdout = text(&output.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("stress.procs.1024"))
        .unwrap();
    assert!(row.contains("  3  ") && row.ends_with("0.0%"), "{stdout}");
    let summary = fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"repeat_count\": 3"), "{summary}");
    assert!(!out.join("serial.1.log").exists());
}
