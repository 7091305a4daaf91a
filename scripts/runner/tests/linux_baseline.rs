//! End-to-end tests of `veridian-run bench --baseline linux` against a fake
//! QEMU that plays one console for Veridian's boot and another for Linux's
//! (the boot with `-initrd`), with a fake Linux kernel and a prebuilt fake
//! program (`--linux-program`, so nothing is compiled).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use tempfile::TempDir;

/// The fake: records its argv, then plays `FAKE_SERIAL` and exits
/// `FAKE_STATUS` (default 33), or, when its argv has `-initrd`,
/// `FAKE_LINUX_SERIAL` and `FAKE_LINUX_STATUS`.
const FAKE_QEMU: &str = r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "QEMU emulator version 9.9.9 (fake)"; exit 0; fi
printf '%s\n' "$@" >> "$FAKE_ARGV_LOG"
echo "---" >> "$FAKE_ARGV_LOG"
serial="$FAKE_SERIAL"; status="${FAKE_STATUS:-33}"
for arg in "$@"; do
  if [ "$arg" = "-initrd" ]; then serial="$FAKE_LINUX_SERIAL"; status="${FAKE_LINUX_STATUS:-33}"; fi
done
printf '%b' "$serial"
exit "$status"
"#;

/// A kernel ELF with one `PT_LOAD` of 1 MiB at 1 MiB (enough for the
/// runner's memory check), no code.
fn fake_kernel_elf() -> Vec<u8> {
    let (paddr, memsz) = (0x10_0000_u64, 0x10_0000_u64);
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
    elf.extend_from_slice(&[0; 8]);
    for half in [2_u16, 0x3e] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1_u32.to_le_bytes());
    for word in [paddr, 64, 0] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(&0_u32.to_le_bytes());
    for half in [64_u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    for word in [1_u32, 7] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    for word in [0, paddr, paddr, 0, memsz, 0x1000_u64] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf
}

const PROGRAM: &[u8] = b"\x7fELF fake linuxbench";

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = dir.path().join("fake-qemu");
        fs::write(&fake, FAKE_QEMU).expect("write fake qemu");
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::write(dir.path().join("veridian"), fake_kernel_elf()).expect("write kernel");
        fs::write(dir.path().join("vmlinuz"), b"bzImage").expect("write vmlinuz");
        fs::write(dir.path().join("linuxbench"), PROGRAM).expect("write program");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `veridian-run bench --accel icount --suite ipc.call --baseline linux`
    /// with the fakes, `extra` flags and `env`.
    fn bench(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        self.bench_with(&self.path("vmlinuz"), &self.path("linuxbench"), extra, env)
    }

    /// [`Fixture::bench`] with this Linux kernel and program.
    fn bench_with(
        &self,
        kernel: &Path,
        program: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_veridian-run"));
        command
            .arg("--qemu")
            .arg(self.path("fake-qemu"))
            .args(["bench", "--accel", "icount", "--suite", "ipc.call"])
            .arg("--kernel")
            .arg(self.path("veridian"))
            .args(["--baseline", "linux", "--linux-kernel"])
            .arg(kernel)
            .arg("--linux-program")
            .arg(program)
            .args(extra)
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", self.path("target"))
            .env("FAKE_ARGV_LOG", self.path("argv.log"));
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run veridian-run")
    }

    /// The argv of each boot, in order.
    fn boots(&self) -> Vec<String> {
        fs::read_to_string(self.path("argv.log"))
            .unwrap_or_default()
            .split("---\n")
            .filter(|b| !b.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const VERIDIAN: &str = "@boot v1 cpus=2\n@meta v1 accel=icount rev=abc\n\
    @bench v1 name=ipc.call.same_cpu unit=instructions kind=latency count=10 min=375 \
    p50=375 p90=375 p99=375 p999=375 max=375 mean=375\n@done v1 benches=1 skipped=0\n";

const LINUX: &str = "[    0.000000] Linux version 6.1.0\n\
    @meta v1 linux.kernel=6.1.0 linux.cpus=1 linux.accel=icount\n\
    @bench v1 name=linux.pipe.same_cpu unit=instructions kind=latency count=10 \
    min=1500 p50=1500 p90=1500 p99=1500 p999=1500 max=1500 mean=1500\n\
    @bench v1 name=linux.futex.same_cpu unit=instructions kind=latency count=10 \
    min=900 p50=900 p90=900 p99=900 p999=900 max=900 mean=900\n\
    @skip v1 name=linux.pipe.cross_cpu reason=needs%202%20CPUs\n\
    linuxbench: finished, 0 failed\n";

#[test]
fn linux_boots_after_veridian_and_the_table_gets_the_ratio_column() {
    let fixture = Fixture::new();
    let out = fixture.path("run");
    let output = fixture.bench(
        &["--cpus", "2", "--out", out.to_str().unwrap()],
        &[("FAKE_SERIAL", VERIDIAN), ("FAKE_LINUX_SERIAL", LINUX)],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    let boots = fixture.boots();
    assert_eq!(boots.len(), 2, "{boots:?}");
    assert!(boots[0].contains("-smp\n2\n") && !boots[0].contains("-initrd"));
    // Linux: one CPU under icount, its kernel, the initramfs, the settings.
    let linux = &boots[1];
    assert!(linux.contains("-smp\n1\n"), "{linux}");
    assert!(linux.contains(&format!("-kernel\n{}\n", fixture.path("vmlinuz").display())));
    assert!(linux.contains("-initrd\n"), "{linux}");
    assert!(
        linux.contains("console=ttyS0 quiet panic=-1 accel=icount samples=2000\n"),
        "{linux}"
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("linux.pipe.same_cpu") && l.contains("ipc.call.same_cpu"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.ends_with("0.250"), "{row}");
    assert!(stdout.contains("no Veridian counterpart"), "{stdout}");
    let summary = fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"linux_baseline\""), "{summary}");
    assert!(summary.contains("\"linux.kernel\": \"6.1.0\""), "{summary}");
    // Linux's own messages stay in linux.serial.log, not in serial.log.
    let serial = fs::read_to_string(out.join("serial.log")).unwrap();
    assert!(!serial.contains("Linux version"), "{serial}");
    assert!(serial.contains("@bench v1 name=linux.pipe.same_cpu"));
    let console = fs::read_to_string(out.join("linux.serial.log")).unwrap();
    assert!(console.contains("Linux version"));
    let dashboard = fs::read_to_string(out.join("dashboard.html")).unwrap();
    assert!(dashboard.contains("<h2>Linux baseline</h2>"));
    let initramfs = fs::read(fixture.path("target/veridian-run/linux/initramfs.cpio")).unwrap();
    assert!(initramfs.starts_with(b"070701"));
    assert!(initramfs.windows(PROGRAM.len()).any(|w| w == PROGRAM));
}

#[test]
fn a_failing_linux_program_fails_the_run_and_keeps_veridians_results() {
    let fixture = Fixture::new();
    let out = fixture.path("run");
    let output = fixture.bench(
        &["--out", out.to_str().unwrap()],
        &[
            ("FAKE_SERIAL", VERIDIAN),
            (
                "FAKE_LINUX_SERIAL",
                "linuxbench: FAILED: linux.pipe.same_cpu: Broken pipe\n",
            ),
            ("FAKE_LINUX_STATUS", "65"),
        ],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("the Linux baseline failed"), "{stderr}");
    assert!(
        stderr.contains("linuxbench: FAILED: linux.pipe.same_cpu: Broken pipe"),
        "{stderr}"
    );
    assert!(stdout.contains("ipc.call.same_cpu"), "{stdout}");
    assert!(out.join("summary.json").is_file());
    // Linux panicking (QEMU status 0 under -no-reboot) is named as such.
    let output = fixture.bench(
        &["--out", out.to_str().unwrap()],
        &[("FAKE_SERIAL", VERIDIAN), ("FAKE_LINUX_STATUS", "0")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("Linux panicked or rebooted"));
}

#[test]
fn missing_linux_files_are_usage_errors_before_anything_boots() {
    let fixture = Fixture::new();
    let (kernel, program) = (fixture.path("vmlinuz"), fixture.path("linuxbench"));
    let missing = Path::new("/nonexistent/file");
    for (kernel, program, needle) in [
        (
            missing,
            program.as_path(),
            "--linux-kernel /nonexistent/file: no such file",
        ),
        (
            kernel.as_path(),
            missing,
            "--linux-program /nonexistent/file: no such file",
        ),
    ] {
        let started = Instant::now();
        let output = fixture.bench_with(kernel, program, &[], &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(started.elapsed().as_secs() < 10);
        assert!(fixture.boots().is_empty(), "QEMU started");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_veridian-run"))
        .args(["bench", "--linux-kernel", "x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--baseline"));
}
