//! The CI steps, in the order they run, and what each one checks.

use std::fs;
use std::hash::{BuildHasher as _, RandomState};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

use super::checks;
use super::exec::{self, Output, run, run_ok};
use super::{Ctx, KERNEL_TARGET, Needs, Step, non_empty, say};

/// The step whose success lets the kernel steps run (with [`BUILD_KERNEL`]).
pub const BUILD_RUNNER: &str = "build runner";
/// The step that builds the release kernel the QEMU steps boot.
pub const BUILD_KERNEL: &str = "build kernel";

/// Every step, in order.
pub const STEPS: &[Step] = &[
    step("cargo fmt --all --check", Needs::Nothing, fmt),
    step("clippy (host crates)", Needs::Nothing, clippy_host),
    step("clippy (kernel)", Needs::Nothing, clippy_kernel),
    step(
        "fmt + clippy (user programs, kernel/user)",
        Needs::Nothing,
        user_lint,
    ),
    step("host tests (cargo test)", Needs::Nothing, host_tests),
    step("loom model checks (ipc rings)", Needs::Nothing, loom_tests),
    step("miri (ipc, perf)", Needs::Nothing, miri_tests),
    step(BUILD_RUNNER, Needs::Nothing, build_runner),
    step(BUILD_KERNEL, Needs::Nothing, build_kernel),
    // Every CPU count the SMP issue names, and a two-node NUMA machine.
    step(
        "kernel tests (cpus 1,2,4,8 and NUMA 4:2; TCG)",
        Needs::Kernel,
        |ctx| kernel_tests(ctx, "--cpus 1,2,4,8 --numa-configs 4:2 --accel tcg", ""),
    ),
    // Deterministic instruction counting; SMP bring-up must not hang under
    // it. One host thread runs both CPUs: fewer channel messages, and more
    // time (250-550 s on a 2-core host, more when it is loaded).
    step("kernel tests (icount, 2 CPUs)", Needs::Kernel, |ctx| {
        let cmdline = "test.channel_messages=20000";
        kernel_tests(ctx, "--cpus 2 --accel icount --timeout 1200", cmdline)
    }),
    // The general IPC path alone (the fast path takes nearly every same-CPU
    // call otherwise).
    step(
        "IPC tests with the fast path off (2 CPUs, TCG)",
        Needs::Kernel,
        |ctx| {
            kernel_tests(
                ctx,
                "--cpus 2 --accel tcg",
                "test.filter=kipc ipc.fastpath=off",
            )
        },
    ),
    step(
        "kernel tests, debug build (2 CPUs, TCG)",
        Needs::Kernel,
        debug_tests,
    ),
    step(
        "kernel tests on a CPU without XSAVE (2 CPUs, TCG)",
        Needs::Kernel,
        fxsave_tests,
    ),
    step(
        "3 channels x 10,000,000 messages (2 CPUs, TCG)",
        Needs::Kernel,
        |ctx| {
            let cmdline = "test.filter=channels_lose test.channel_messages=10000000";
            kernel_tests(ctx, "--cpus 2 --accel tcg --timeout 600", cmdline)
        },
    ),
    step(
        "kernel tests under Bochs (corei7_skylake_x, 2 CPUs)",
        Needs::Kernel,
        bochs_tests,
    ),
    // Seeded random system calls on both CPUs beside checked IPC traffic;
    // the test fails on a kernel fault, a hang or any resource not returned.
    step(
        "syscall fuzzer (1,000,000 calls, 2 CPUs, TCG)",
        Needs::Kernel,
        |ctx| {
            let cmdline = format!(
                "test.filter=fuzz_random_syscalls fuzz.calls=1000000 fuzz.seed={}",
                seed()
            );
            kernel_tests(ctx, "--cpus 2 --accel tcg --timeout 900", &cmdline)
        },
    ),
    // The same with one frame allocation in 5 failing anywhere in the kernel
    // while the processes run: no panic, and every frame comes back.
    step(
        "frame-allocation fault injection (fault.frames=5, 2 CPUs, TCG)",
        Needs::Kernel,
        |ctx| {
            let cmdline = format!(
                "test.filter=fuzz_random_syscalls fuzz.calls=200000 fault.frames=5 fuzz.seed={}",
                seed()
            );
            kernel_tests(ctx, "--cpus 2 --accel tcg --timeout 600", &cmdline)
        },
    ),
    // A random user process killed at one context switch in 5,000 under
    // the soak's checked traffic: survivors get errors, nothing hangs,
    // nothing is lost, every resource comes back.
    step(
        "process-kill fault injection (fault.kill=5000, 2 CPUs, TCG)",
        Needs::Kernel,
        |ctx| {
            let cmdline = format!(
                "test.filter=fault_kill fault.kill=5000 fuzz.seed={}",
                seed()
            );
            kernel_tests(ctx, "--cpus 2 --accel tcg --timeout 900", &cmdline)
        },
    ),
    // 1,024 processes of sequence-numbered, checksummed synchronous,
    // asynchronous and large-message traffic for two minutes.
    step("soak (2 minutes, 2 CPUs, TCG)", Needs::Kernel, soak),
    step(
        "hardware report (run=report, 2 CPUs, TCG)",
        Needs::Kernel,
        hardware_report,
    ),
    step(
        "boot record at 64M and 4G",
        Needs::Kernel,
        boot_at_memory_sizes,
    ),
    step(
        "deliberate kernel page fault and panic are reported (reason, thread, backtrace)",
        Needs::Kernel,
        deliberate_fault,
    ),
    step("unknown script flags exit 2", Needs::Kernel, unknown_flags),
    step(
        "benchmark suite (quick, TCG, 2 CPUs)",
        Needs::Kernel,
        bench_quick,
    ),
    step(
        "icount runs repeat exactly",
        Needs::Kernel,
        icount_repeatable,
    ),
    step(
        "regression gate: fast path off vs on (icount), and swapped",
        Needs::Kernel,
        compare_gate,
    ),
    // Linux (the distribution's kernel, installed when missing) beside
    // Veridian in the same QEMU: linux.* rows and the ratio column.
    step(
        "Linux baseline (icount, ratio column)",
        Needs::Kernel,
        linux_baseline,
    ),
    step(
        "performance model: calibration and profile (icount, 2 CPUs)",
        Needs::Kernel,
        model_checks,
    ),
    step(
        "dashboard in headless Chromium",
        Needs::Kernel,
        browser_check,
    ),
    step("ISO boot (SeaBIOS)", Needs::Kernel, |ctx| {
        iso_boot(ctx, "iso-bios")
    }),
    step("ISO boot (OVMF)", Needs::Kernel, |ctx| {
        iso_boot(ctx, "iso-uefi")
    }),
];

/// A [`Step`] (short, so the table above reads as a list).
const fn step(name: &'static str, needs: Needs, run: fn(&mut Ctx) -> anyhow::Result<()>) -> Step {
    Step { name, needs, run }
}

/// A fuzzer seed from 1 to 1000, different each run.
fn seed() -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now()) % 1000 + 1
}

fn fmt(ctx: &mut Ctx) -> anyhow::Result<()> {
    run_ok(ctx.cargo(&["fmt", "--all", "--check"]), Output::Terminal)
}

fn clippy_host(ctx: &mut Ctx) -> anyhow::Result<()> {
    let args = [
        "clippy",
        "--workspace",
        "--exclude",
        "kernel",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ];
    run_ok(ctx.cargo(&args), Output::Terminal)
}

fn clippy_kernel(ctx: &mut Ctx) -> anyhow::Result<()> {
    let args = [
        "clippy",
        "-p",
        "kernel",
        "--target",
        KERNEL_TARGET,
        "--",
        "-D",
        "warnings",
    ];
    run_ok(ctx.cargo(&args), Output::Terminal)
}

/// kernel/user is its own cargo project (other code generation flags), so
/// the workspace-wide fmt and clippy do not see it.
fn user_lint(ctx: &mut Ctx) -> anyhow::Result<()> {
    let user = ctx.root.join("kernel").join("user");
    let mut fmt = ctx.cargo(&["fmt", "--check"]);
    fmt.current_dir(&user);
    run_ok(fmt, Output::Terminal)?;
    let target_dir = ctx.in_target("user-lint");
    let mut clippy = ctx.cargo(&[
        "clippy",
        "--release",
        "--target",
        KERNEL_TARGET,
        "--target-dir",
    ]);
    clippy
        .arg(&target_dir)
        .args(["--", "-D", "warnings"])
        .current_dir(&user);
    run_ok(clippy, Output::Terminal)
}

/// `command` with its output (stdout and stderr) teed into `log`, counting
/// the `test result:` lines of cargo test.
fn counted_cargo_test(ctx: &mut Ctx, command: Command, log: &str) -> anyhow::Result<()> {
    let log = ctx.log(log);
    let description = exec::describe(&command);
    let status = run(command, Output::TeeBoth(&log))?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    ctx.count(checks::cargo_test_counts(&text));
    ensure!(status.success(), "{description} failed ({status})");
    Ok(())
}

/// `cargo test` over the default members.
fn host_tests(ctx: &mut Ctx) -> anyhow::Result<()> {
    let command = ctx.cargo(&["test"]);
    counted_cargo_test(ctx, command, "host.log")
}

/// The loom model checks of the lock-free rings, built with `--cfg loom` in
/// a target directory of their own (the flag changes every crate's build).
fn loom_tests(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut command = ctx.cargo(&[
        "test",
        "-p",
        "ipc",
        "--release",
        "--test",
        "ring_loom",
        "--target-dir",
    ]);
    command
        .arg(ctx.in_target("loom"))
        .env("RUSTFLAGS", "--cfg loom");
    counted_cargo_test(ctx, command, "loom.log")
}

/// Miri needs a nightly toolchain with its component; where rustup has one
/// it runs the ipc and perf tests under it, else it says so in one line.
fn miri_tests(ctx: &mut Ctx) -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["+nightly", "component", "list", "--installed"])
        .current_dir(&ctx.root)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.starts_with("miri"))
        });
    if !installed {
        say(
            "SKIP miri: no nightly toolchain with the miri component here (rustup +nightly component add miri)",
        );
        return Ok(());
    }
    let command = ctx.cargo(&[
        "+nightly", "miri", "test", "-p", "ipc", "-p", "perf", "--lib",
    ]);
    counted_cargo_test(ctx, command, "miri.log")
}

/// The host runner (this program; a no-op unless its sources changed).
fn build_runner(ctx: &mut Ctx) -> anyhow::Result<()> {
    say("building the host runner (veridian-run)");
    run_ok(
        ctx.cargo(&["build", "-q", "-p", "runner"]),
        Output::Terminal,
    )
}

/// The release kernel the QEMU steps boot.
fn build_kernel(ctx: &mut Ctx) -> anyhow::Result<()> {
    say(format_args!(
        "building the kernel (release, {KERNEL_TARGET})"
    ));
    run_ok(
        ctx.cargo(&[
            "build",
            "-p",
            "kernel",
            "--release",
            "--target",
            KERNEL_TARGET,
        ]),
        Output::Terminal,
    )
}

/// `veridian-run test-kernel FLAGS... [--cmdline CMDLINE]` (FLAGS split at
/// spaces) with its stdout teed into `kernel.log`, counting its combined
/// closing line (the last line of its stdout).
fn kernel_tests(ctx: &mut Ctx, flags: &str, cmdline: &str) -> anyhow::Result<()> {
    let mut command = ctx.runner(&["test-kernel"]);
    command.args(flags.split_whitespace());
    if !cmdline.is_empty() {
        command.args(["--cmdline", cmdline]);
    }
    kernel_tests_with(ctx, command)
}

/// As [`kernel_tests`], for a prepared `veridian-run test-kernel` command.
fn kernel_tests_with(ctx: &mut Ctx, command: Command) -> anyhow::Result<()> {
    let log = ctx.log("kernel.log");
    let description = exec::describe(&command);
    let status = run(command, Output::TeeStdout(&log))?;
    if let Some(counts) =
        checks::closing_counts(&fs::read_to_string(&log).unwrap_or_default(), true)
    {
        ctx.count(counts);
    }
    ensure!(status.success(), "{description} failed ({status})");
    Ok(())
}

/// The kernel tests on a debug build of the kernel: integer overflow checks
/// and debug assertions (the fast path's invariants among them) that the
/// release kernel compiles out.
fn debug_tests(ctx: &mut Ctx) -> anyhow::Result<()> {
    say(format_args!("building the kernel (debug, {KERNEL_TARGET})"));
    run_ok(
        ctx.cargo(&["build", "-q", "-p", "kernel", "--target", KERNEL_TARGET]),
        Output::Terminal,
    )?;
    let kernel = ctx
        .target
        .join(KERNEL_TARGET)
        .join("debug")
        .join("veridian");
    let mut command = ctx.runner(&[
        "test-kernel",
        "--cpus",
        "2",
        "--accel",
        "tcg",
        "--timeout",
        "600",
        "--kernel",
    ]);
    command.arg(kernel);
    kernel_tests_with(ctx, command)
}

/// The kernel tests on a CPU without XSAVE (QEMU's `-cpu max,-xsave`,
/// through a wrapper around the QEMU program): the FXSAVE instance of the
/// IPC fast path (`syscall::select_fast_dispatch`) and the FXSAVE switches;
/// the boot log must say which instance runs.
fn fxsave_tests(ctx: &mut Ctx) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let wrapper = ctx.log("qemu-no-xsave");
    fs::write(
        &wrapper,
        "#!/bin/sh\n# QEMU with `-cpu max` turned into `-cpu max,-xsave`.\n\
         for a in \"$@\"; do\n  shift\n  if [ \"$a\" = max ]; then set -- \"$@\" max,-xsave; else set -- \"$@\" \"$a\"; fi\n\
         done\nexec qemu-system-x86_64 \"$@\"\n",
    )?;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
    let mut command = ctx.runner(&["test-kernel", "--cpus", "2", "--accel", "tcg", "--qemu"]);
    command.arg(&wrapper);
    kernel_tests_with(ctx, command)?;
    let log = fs::read_to_string(ctx.log("kernel.log"))?;
    ensure!(
        log.contains("fpu: fxsave (the IPC fast path's instance: xsave=false"),
        "the boot log does not show the FXSAVE instance"
    );
    Ok(())
}

/// Lines of `log` starting with one of `prefixes`, printed (the records a
/// reader of the CI log wants to see from a run whose console was not shown).
fn show_lines(log: &str, prefixes: &[&str]) {
    for line in log
        .lines()
        .filter(|line| prefixes.iter().any(|p| line.starts_with(p)))
    {
        println!("{line}");
    }
}

/// Fails naming every string of `wanted` that `log` lacks.
fn require_all(log: &str, what: &str, wanted: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !log.contains(w))
        .collect();
    for want in &missing {
        say(format_args!("{what}: the log does not show '{want}'"));
    }
    ensure!(missing.is_empty(), "{what}: the log lacks {missing:?}");
    Ok(())
}

/// The kernel tests under Bochs 2.7 (CPU model corei7_skylake_x, 2 CPUs):
/// the hardware paths QEMU's TCG lacks run there: x2APIC IPIs and timer,
/// TSC-deadline ticks, PCID/INVPCID address-space switches and the fast
/// path's pcid=true instance. The runner installs Bochs (apt-get) when
/// missing; `scripts/test.sh` installed the GRUB tools the ISO needs.
fn bochs_tests(ctx: &mut Ctx) -> anyhow::Result<()> {
    let log_path = ctx.log("bochs.log");
    let mut command = ctx.runner(&[
        "qemu",
        "--emulator",
        "bochs",
        "--cpu-model",
        "corei7_skylake_x",
        "--cpus",
        "2",
        "--timeout",
        "600",
        "--cmdline",
        "run=test",
        "--log",
    ]);
    command.arg(&log_path);
    let description = exec::describe(&command);
    let status = run(command, Output::DropStdout)?;
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    show_lines(
        &log,
        &["@boot v1", "tlb: ", "fpu: ", "pmu: ", "warning: tsc"],
    );
    if let Some(counts) = checks::closing_counts(&log, false) {
        say(format_args!(
            "bochs: {} passed, {} failed",
            counts.passed, counts.failed
        ));
        ctx.count(counts);
    }
    // Bochs 2.7 advertises perfmon v4 whose counters never advance: the
    // boot-time check must find the PMU absent (`pmu: none`).
    let wanted = [
        "apic=x2apic timer=tsc-deadline",
        "accel=bochs",
        "tlb: pcid=on invpcid=yes",
        "pcid=true)",
        "pmu: none ",
    ];
    let shown = require_all(&log, "bochs", &wanted);
    ensure!(status.success(), "{description} failed ({status})");
    shown
}

/// `run=report` (what bare-metal users send back) under TCG at 2 CPUs:
/// every report line, the drift check against the HPET passing and the PMU
/// reading present (absent under TCG, which has no PMU).
fn hardware_report(ctx: &mut Ctx) -> anyhow::Result<()> {
    let log_path = ctx.log("report.log");
    let mut command = ctx.runner(&[
        "qemu",
        "--accel",
        "tcg",
        "--cpus",
        "2",
        "--cmdline",
        "run=report",
        "--timeout",
        "120",
        "--log",
    ]);
    command.arg(&log_path);
    let description = exec::describe(&command);
    let status = run(command, Output::DropStdout)?;
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    show_lines(&log, &["@boot v1", "pmu: ", "report: "]);
    let shown = require_all(
        &log,
        "report",
        &["report: done checks=ok", "report: pmu_check instructions"],
    );
    ensure!(status.success(), "{description} failed ({status})");
    shown
}

/// The boot record appears with 64 MiB and with 4 GiB.
fn boot_at_memory_sizes(ctx: &mut Ctx) -> anyhow::Result<()> {
    for mem in ["64M", "4G"] {
        let args = [
            "qemu",
            "--mem",
            mem,
            "--cmdline",
            "run=boot",
            "--accel",
            "tcg",
            "--timeout",
            "120",
        ];
        run_ok(ctx.runner(&args), Output::Terminal)?;
    }
    Ok(())
}

/// `test.fault=pf` must print the register dump and fail.
fn deliberate_fault(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut logs = Vec::new();
    for (kind, name) in [("pf", "fault.log"), ("panic", "panic.log")] {
        let log_path = ctx.log(name);
        let cmdline = format!("run=boot test.fault={kind}");
        let args = [
            "qemu",
            "--cmdline",
            &cmdline,
            "--accel",
            "tcg",
            "--timeout",
            "120",
        ];
        let status = run(ctx.runner(&args), Output::File(&log_path))?;
        ensure!(
            !status.success(),
            "a deliberate kernel {kind} exited with success"
        );
        logs.push(fs::read_to_string(&log_path)?);
    }
    ensure!(
        logs[0].contains("kernel exception on cpu 0: #PF page fault")
            && logs[0].contains("faulting address (cr2)=0x00007fffdead0000"),
        "the fault report lacks the #PF line or the faulting address"
    );
    checks::fault_report(&logs[0], false)?;
    checks::fault_report(&logs[1], true)?;
    println!("fault and panic: reason, thread and symbolized backtrace reported");
    Ok(())
}

/// Every entry point rejects an unknown flag with status 2.
fn unknown_flags(ctx: &mut Ctx) -> anyhow::Result<()> {
    for script in ["scripts/qemu.sh", "scripts/bench.sh", "scripts/iso.sh"] {
        let mut command = Command::new(ctx.root.join(script));
        command.arg("--no-such-flag").current_dir(&ctx.root);
        let status = run(command, Output::Drop)?;
        ensure!(
            status.code() == Some(2),
            "{script} --no-such-flag exited {status}, expected 2"
        );
    }
    Ok(())
}

/// Removes a run directory left by an earlier CI run.
fn fresh(dir: &std::path::Path) -> anyhow::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// The quick suite completes and every record parses (the run directory
/// writer fails on a missing @done; warnings are checked here).
fn bench_quick(ctx: &mut Ctx) -> anyhow::Result<()> {
    let out = ctx.in_target("ci-bench/tcg");
    fresh(&out)?;
    let mut command = ctx.runner(&[
        "bench",
        "--accel",
        "tcg",
        "--cpus",
        "2",
        "--suite",
        "quick",
        "--samples",
        "200",
        "--out",
    ]);
    command.arg(&out);
    run_ok(command, Output::Terminal)?;
    for file in [
        "serial.log",
        "summary.json",
        "histograms.hlog",
        "dashboard.html",
        "syscall.null.hgrm",
    ] {
        ensure!(non_empty(&out.join(file)), "bench: {file} missing");
    }
    println!(
        "{}",
        checks::bench_summary(&fs::read_to_string(out.join("summary.json"))?)?
    );
    Ok(())
}

/// `veridian-run bench --accel icount --cpus 2 --samples 300 --suite SUITE
/// --out OUT [EXTRA...]`, its stdout dropped.
fn icount_bench(ctx: &Ctx, suite: &str, out: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = ctx.runner(&[
        "bench",
        "--accel",
        "icount",
        "--cpus",
        "2",
        "--suite",
        suite,
        "--samples",
        "300",
        "--out",
    ]);
    command.arg(out).args(extra);
    command
}

/// Two icount runs give identical p50 per benchmark.
fn icount_repeatable(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut p50s = Vec::new();
    for run_name in ["icount-a", "icount-b"] {
        let syscall = ctx.in_target(&format!("ci-bench/{run_name}"));
        let ipc = ctx.in_target(&format!("ci-bench/{run_name}.ipc"));
        fresh(&syscall)?;
        fresh(&ipc)?;
        run_ok(
            icount_bench(ctx, "syscall", &syscall, &[]),
            Output::DropStdout,
        )?;
        run_ok(
            icount_bench(ctx, "ipc.call.same_cpu", &ipc, &[]),
            Output::DropStdout,
        )?;
        let texts = [
            fs::read_to_string(syscall.join("summary.json"))?,
            fs::read_to_string(ipc.join("summary.json"))?,
        ];
        p50s.push(checks::p50s(texts.iter().map(String::as_str))?);
    }
    println!("{}", checks::identical_p50s(&p50s[0], &p50s[1])?);
    Ok(())
}

/// Under icount the fast path off, compared with it on, is slower beyond
/// noise (exit 3 with --fail-on-regression 5, ipc_fastpath named as the
/// condition that differs); the two runs swapped, the verdict flips and
/// the gate passes.
fn compare_gate(ctx: &mut Ctx) -> anyhow::Result<()> {
    let on = ctx.in_target("ci-bench/gate-on");
    let off = ctx.in_target("ci-bench/gate-off");
    let log_path = ctx.log("gate.log");
    fresh(&on)?;
    fresh(&off)?;
    run_ok(
        icount_bench(ctx, "ipc.call.same_cpu", &on, &[]),
        Output::DropStdout,
    )?;
    let mut slower = icount_bench(
        ctx,
        "ipc.call.same_cpu",
        &off,
        &["--cmdline", "ipc.fastpath=off", "--compare"],
    );
    slower.arg(&on).args(["--fail-on-regression", "5"]);
    let status = run(slower, Output::File(&log_path))?;
    let log = fs::read_to_string(&log_path)?;
    print!("{log}");
    ensure!(
        status.code() == Some(3),
        "the fast path off passed the 5% regression gate ({status}, expected status 3)"
    );
    ensure!(
        log.contains("CONDITION DIFFERS: ipc_fastpath: baseline on -> candidate off"),
        "the comparison does not name ipc_fastpath as the condition that differs"
    );
    ensure!(
        checks::row_says(&log, "ipc.call.same_cpu", "SLOWER"),
        "the comparison does not call ipc.call.same_cpu SLOWER"
    );
    let mut swapped = ctx.runner(&["compare"]);
    swapped
        .arg(&off)
        .arg(&on)
        .args(["--fail-on-regression", "5", "--html"])
        .arg(ctx.log("swapped.html"));
    let status = run(swapped, Output::File(&log_path))?;
    let log = fs::read_to_string(&log_path)?;
    print!("{log}");
    ensure!(status.success(), "the swapped comparison failed ({status})");
    ensure!(
        checks::row_says(&log, "ipc.call.same_cpu", "faster"),
        "the swapped comparison does not call ipc.call.same_cpu faster"
    );
    Ok(())
}

/// `veridian-run soak --minutes 2 --cpus 2`: a line per minute, no
/// anomaly, conservation at the end (the runner's verdict).
fn soak(ctx: &mut Ctx) -> anyhow::Result<()> {
    let command = ctx.runner(&["soak", "--minutes", "2", "--cpus", "2"]);
    run_ok(command, Output::Terminal)
}

/// `--baseline linux` under icount writes the linux.* rows and the
/// Veridian / Linux ratio ([`checks::linux_baseline`]).
fn linux_baseline(ctx: &mut Ctx) -> anyhow::Result<()> {
    let out = ctx.in_target("ci-bench/linux");
    fresh(&out)?;
    run_ok(
        icount_bench(ctx, "ipc.call.same_cpu", &out, &["--baseline", "linux"]),
        Output::DropStdout,
    )?;
    println!(
        "{}",
        checks::linux_baseline(&fs::read_to_string(out.join("summary.json"))?)?
    );
    Ok(())
}

/// The performance-model plugin under icount: its calibration programs
/// count what their access patterns imply, and a profile's total is
/// model.instructions x model.ops with frames naming the syscall entry and
/// the fast path (the assertions: [`checks::model_calibration`]).
fn model_checks(ctx: &mut Ctx) -> anyhow::Result<()> {
    let out = ctx.in_target("ci-bench/model");
    let prof = ctx.in_target("ci-bench/model.prof");
    fresh(&out)?;
    fresh(&prof)?;
    run_ok(
        ctx.cargo(&["build", "-q", "-p", "perf-plugin", "--release"]),
        Output::Terminal,
    )?;
    let mut calib = ctx.runner(&[
        "bench",
        "--accel",
        "icount",
        "--cpus",
        "2",
        "--model",
        "--suite",
        "model.calib",
        "--out",
    ]);
    calib.arg(&out);
    run_ok(calib, Output::DropStdout)?;
    let mut profile = ctx.runner(&[
        "bench",
        "--accel",
        "icount",
        "--cpus",
        "2",
        "--profile",
        "ipc.call.same_cpu",
        "--samples",
        "300",
        "--out",
    ]);
    profile.arg(&prof);
    run_ok(profile, Output::DropStdout)?;
    let line = checks::model_calibration(
        &fs::read_to_string(out.join("summary.json"))?,
        &fs::read_to_string(prof.join("summary.json"))?,
        &fs::read_to_string(prof.join("ipc.call.same_cpu.folded"))?,
    )?;
    println!("{line}");
    Ok(())
}

/// Headless Chromium renders the CI run's dashboard: it loads, logs no
/// console error, and its screenshot is not blank. Installs Debian's
/// chromium when root; skips with a note where it cannot.
fn browser_check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let html = ctx.in_target("ci-bench/tcg/dashboard.html");
    ensure!(
        non_empty(&html),
        "browser check: no dashboard (the bench step failed)"
    );
    if exec::find_program("chromium").is_none() && nix::unistd::Uid::current().is_root() {
        say("installing chromium (apt-get) for the dashboard check");
        let install = || {
            let mut apt = Command::new("apt-get");
            apt.args(["install", "-y", "-qq", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive");
            run_ok(apt, Output::Drop)
        };
        let _ = install().or_else(|_| {
            let mut update = Command::new("apt-get");
            update.args(["update", "-qq"]);
            run_ok(update, Output::Drop).and_then(|()| install())
        });
    }
    let Some(browser) = exec::find_program("chromium") else {
        say("SKIP browser check: chromium is not installed and cannot be (not root or no package)");
        return Ok(());
    };
    let url = format!("file://{}", html.display());
    let profile = format!("--user-data-dir={}", ctx.log("chromium-profile").display());
    let chromium = |extra: &[&str]| {
        let mut command = Command::new("timeout");
        command
            .arg("120")
            .arg(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(&profile)
            .args(["--enable-logging=stderr", "--v=0"])
            .args(extra)
            .arg(&url);
        command
    };
    let (dom_path, err_path) = (ctx.log("dom.html"), ctx.log("chromium.err"));
    let mut dump = chromium(&["--dump-dom"]);
    dump.stdout(fs::File::create(&dom_path)?)
        .stderr(fs::File::create(&err_path)?);
    run_ok(dump, Output::Terminal)?;
    let dom = fs::read_to_string(&dom_path)?;
    ensure!(
        dom.contains("Veridian benchmark dashboard"),
        "dashboard did not load"
    );
    println!("{}", checks::heat_maps(&dom)?);
    let errors = fs::read_to_string(&err_path)?;
    let errors = checks::console_errors(&errors);
    for line in &errors {
        println!("{line}");
    }
    ensure!(errors.is_empty(), "console errors in the dashboard");
    let png = ctx.log("dashboard.png");
    let shot = format!("--screenshot={}", png.display());
    run_ok(chromium(&["--window-size=1280,1600", &shot]), Output::Drop)?;
    let bytes = fs::read(&png).with_context(|| format!("reading {}", png.display()))?;
    match checks::rendered_png(&bytes) {
        Ok(line) => {
            println!("{}: {line}", png.display());
            Ok(())
        }
        Err(err) => bail!("{}: {err}", png.display()),
    }
}

/// A GRUB ISO boots under SeaBIOS (`iso-bios`) or OVMF (`iso-uefi`).
fn iso_boot(ctx: &mut Ctx, boot: &str) -> anyhow::Result<()> {
    let args = [
        "qemu",
        "--boot",
        boot,
        "--cmdline",
        "run=boot",
        "--accel",
        "tcg",
        "--timeout",
        "300",
    ];
    run_ok(ctx.runner(&args), Output::Terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_unique_and_the_builds_come_before_the_kernel_steps() {
        let mut names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        let first_kernel = STEPS.iter().position(|s| s.needs == Needs::Kernel).unwrap();
        let position = |name| STEPS.iter().position(|s| s.name == name).unwrap();
        assert!(position(BUILD_RUNNER) < first_kernel && position(BUILD_KERNEL) < first_kernel);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
    }

    #[test]
    fn seeds_stay_in_range() {
        for _ in 0..100 {
            assert!((1..=1000).contains(&seed()));
        }
    }
}
