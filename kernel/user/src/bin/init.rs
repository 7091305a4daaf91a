//! `init`: the first user process. Its argument picks what it runs: one of the
//! user-mode test scenarios (exit code 0 = passed, else the failed check's
//! number, with a reason printed), or a benchmark that prints `@bench`/`@hist`
//! records.
#![no_std]
#![no_main]

use ipc::IpcError;
use rt::{Placement, println};

rt::entry!(main);

/// Scenario numbers (the kernel's tests name them).
mod mode {
    pub const HELLO: u64 = 1;
    pub const FAULTS: u64 = 2;
    pub const BAD_POINTERS: u64 = 3;
    pub const SCRUB: u64 = 4;
    pub const SPAWN_MANY: u64 = 5;
    pub const BENCH_SYSCALL: u64 = 6;
    pub const KILL: u64 = 7;
    pub const FAIRNESS: u64 = 8;
    pub const PLACEMENT: u64 = 9;
    pub const ORPHANS: u64 = 10;
    pub const KILL_INTERRUPTS: u64 = 11;
    pub const FLAG_BITS: u64 = 12;
}

/// Worker modes (see worker.rs).
mod worker {
    pub const EXIT: u64 = 0;
    pub const PF: u64 = 1;
    pub const GP: u64 = 2;
    pub const UD: u64 = 3;
    pub const DE: u64 = 4;
    pub const STACK: u64 = 5;
    pub const SIBLING: u64 = 6;
    pub const SPIN: u64 = 7;
    pub const SYSCALLS: u64 = 8;
    pub const SLEEP_MS: u64 = 9;
    pub const WAIT_FOR_SLEEPER_MS: u64 = 10;
    pub const ABANDON_CHILDREN_MS: u64 = 11;
}

const HERE: Placement = Placement {
    cpu: None,
    priority: 10,
};

macro_rules! check {
    ($n:expr, $cond:expr, $($why:tt)*) => {
        if !$cond {
            println!("init: check {} failed: {}", $n, format_args!($($why)*));
            return $n;
        }
    };
}

fn main(arg: u64) -> u64 {
    match arg & 0xff {
        mode::HELLO => hello(),
        mode::FAULTS => faults(),
        mode::BAD_POINTERS => bad_pointers(),
        mode::SCRUB => scrub(),
        mode::SPAWN_MANY => spawn_many(arg >> 8),
        mode::BENCH_SYSCALL => bench_syscall(arg >> 8),
        mode::KILL => kill_spinner(),
        mode::FAIRNESS => fairness(),
        mode::PLACEMENT => placement(arg >> 8),
        mode::ORPHANS => orphans(),
        mode::KILL_INTERRUPTS => kill_interrupts(),
        mode::FLAG_BITS => flag_bits(),
        other => {
            println!("init: unknown mode {other}");
            255
        }
    }
}

fn hello() -> u64 {
    let r = rt::debug_write(b"hello from user mode\n");
    check!(1, r == Ok([21, 0, 0, 0]), "debug_write returned {r:?}");
    // Every ABI register round-trips: capability (rdi -> rsi badge) and the
    // four data words (rdx r10 r8 r9).
    let words = [
        0x1111_2222_3333_4444,
        0x5555_6666_7777_8888,
        0x9999_aaaa_bbbb_cccc,
        0xdddd_eeee_ffff_0001,
    ];
    let r = rt::echo(0x0123_4567_89ab_cdef, words);
    check!(2, r.status == 0, "echo status {}", r.status);
    check!(3, r.data == words, "echo data {:x?}", r.data);
    check!(
        4,
        r.badge == 0x0123_4567_89ab_cdef,
        "echo badge {:#x}",
        r.badge
    );
    let bad = rt::raw(0xdead, 0, [0; 4]);
    check!(
        5,
        bad.status == IpcError::InvalidArgument.code(),
        "unknown opcode gave status {}",
        bad.status
    );
    // Performance counters: starting always succeeds (mask 0 without a
    // PMU); counts only exist for started counters, in order; bad requests
    // are refused.
    let counting = rt::bench::start_counters();
    let counts = counting.read();
    let perf = ipc::abi::Opcode::PerfCounters as u64;
    let start = rt::raw(perf, 0, [0; 4]);
    let mask = start.data[0];
    check!(
        6,
        start.status == 0 && mask < 64,
        "perf start gave status {} mask {mask:#x}",
        start.status
    );
    let ran = (0..6).filter(|i| mask & (1 << i) != 0).count();
    check!(
        7,
        counts.counted() == ran,
        "{} counts for a mask of {ran} counters",
        counts.counted()
    );
    for request in [[1, 6, 0, 0], [2, 0, 0, 0], [1, u64::MAX, 0, 0]] {
        let r = rt::raw(perf, 0, request);
        check!(
            8,
            r.status == IpcError::InvalidArgument.code(),
            "perf request {request:?} gave status {}",
            r.status
        );
    }
    println!("init: performance counters: mask {mask:#x}");
    0
}

fn expect_reason(pid: Result<u32, IpcError>, kind: u64, detail: Option<u64>) -> bool {
    let Ok(pid) = pid else { return false };
    match rt::wait(pid) {
        Ok((k, d, _)) => k == kind && detail.is_none_or(|x| x == d),
        Err(_) => false,
    }
}

fn faults() -> u64 {
    let sibling = rt::spawn("worker", worker::SIBLING, HERE);
    check!(1, sibling.is_ok(), "sibling spawn failed");
    let cases = [
        ("#PF", worker::PF, 2, Some(14)),
        ("#GP", worker::GP, 2, Some(13)),
        ("#UD", worker::UD, 2, Some(6)),
        ("#DE", worker::DE, 2, Some(0)),
        ("stack overflow", worker::STACK, 3, None),
    ];
    for (i, (name, m, kind, detail)) in cases.into_iter().enumerate() {
        let ok = expect_reason(rt::spawn("worker", m, HERE), kind, detail);
        check!(10 + i as u64, ok, "{name}: wrong exit reason");
        println!("init: {name} killed only its own process");
    }
    let ok = expect_reason(
        rt::spawn("worker", worker::EXIT | (42 << 8), HERE),
        0,
        Some(42),
    );
    check!(20, ok, "exit code 42 not reported");
    let sib = sibling.unwrap_or(0);
    check!(
        21,
        rt::wait(sib) == Ok((0, 0, 0)),
        "the sibling did not finish cleanly"
    );
    0
}

fn bad_pointers() -> u64 {
    let invalid = |r: rt::SysResult| {
        matches!(
            r,
            Err(IpcError::BadAddress | IpcError::MessageTooLarge | IpcError::InvalidArgument)
        )
    };
    let dw = |addr: u64, len: u64| {
        rt::raw(ipc::abi::Opcode::DebugWrite as u64, 0, [addr, len, 0, 0]).status
    };
    let bad = IpcError::BadAddress.code();
    check!(1, dw(0, 8) == bad, "null pointer accepted");
    check!(
        2,
        dw(0xffff_8000_0000_0000, 8) == bad,
        "kernel address accepted"
    );
    check!(
        3,
        dw(0xffff_ffff_8010_0000, 8) == bad,
        "kernel image address accepted"
    );
    check!(4, dw(0x5000_0000, 8) == bad, "unmapped address accepted");
    check!(5, dw(u64::MAX - 4, 16) == bad, "wrapping range accepted");
    check!(
        6,
        dw(0x0000_7fff_ffff_fff0, 64) == bad,
        "range crossing the user boundary accepted"
    );
    check!(
        7,
        dw(0x400000, 1 << 40) == IpcError::MessageTooLarge.code(),
        "huge length accepted"
    );
    check!(
        8,
        invalid(rt::debug_write(&[0xff, 0xfe])),
        "invalid UTF-8 accepted"
    );
    let spawn_raw =
        |ptr: u64, len: u64| rt::raw(ipc::abi::Opcode::Spawn as u64, 0, [ptr, len, 0, 0]).status;
    check!(
        9,
        spawn_raw(0xffff_8000_0000_0000, 6) == bad,
        "spawn with a kernel name pointer accepted"
    );
    check!(
        10,
        spawn_raw(0x400000, 100_000) == IpcError::InvalidArgument.code(),
        "spawn with a huge name accepted"
    );
    check!(
        11,
        rt::spawn("no-such-program", 0, HERE) == Err(IpcError::InvalidArgument),
        "unknown program accepted"
    );
    check!(
        12,
        rt::wait(999_999) == Err(IpcError::ProcessNotFound),
        "wait on a bogus pid"
    );
    check!(
        13,
        rt::kill(999_999) == Err(IpcError::ProcessNotFound),
        "kill of a bogus pid"
    );
    let big_cpu = Placement {
        cpu: Some(4000),
        priority: 10,
    };
    check!(
        14,
        rt::spawn("worker", 0, big_cpu) == Err(IpcError::InvalidArgument),
        "spawn on a missing CPU"
    );
    0
}

fn scrub() -> u64 {
    for op in [
        ipc::abi::Opcode::Echo as u64,
        ipc::abi::Opcode::GetTime as u64,
        0xdead,
    ] {
        let regs = rt::arch::syscall_capture_registers(op);
        for (i, r) in regs.iter().enumerate() {
            check!(
                1 + i as u64,
                *r < 0xffff_8000_0000_0000,
                "register #{i} holds a kernel address {r:#x} after opcode {op:#x}"
            );
        }
        // rbx rbp r12 r13 r14 r15 come back exactly as the user left them.
        for i in [1usize, 6, 11, 12, 13, 14] {
            let sentinel = rt::arch::SCRUB_SENTINEL;
            check!(
                20 + i as u64,
                regs[i] == sentinel,
                "register #{i} changed to {:#x} by opcode {op:#x}",
                regs[i]
            );
        }
        // rdi (0 in) is preserved; rcx/r11 are the user rip and rflags.
        check!(40, regs[5] == 0, "rdi changed to {:#x}", regs[5]);
        check!(
            41,
            regs[2] >= 0x400000 && regs[2] < 0x0000_8000_0000_0000,
            "rcx {:#x} is not a user rip",
            regs[2]
        );
        check!(
            42,
            regs[10] & 0x200 != 0 && regs[10] < 1 << 22,
            "r11 {:#x} is not user rflags",
            regs[10]
        );
    }
    0
}

fn spawn_many(count: u64) -> u64 {
    let count = if count == 0 { 1024 } else { count };
    let batch = 32;
    let mut done = 0;
    while done < count {
        let n = batch.min(count - done);
        let mut pids = [0u32; 32];
        for p in pids.iter_mut().take(n as usize) {
            match rt::spawn("worker", worker::SYSCALLS, HERE) {
                Ok(pid) => *p = pid,
                Err(e) => {
                    println!("init: spawn #{done} failed: {e:?}");
                    return 1;
                }
            }
        }
        for &p in pids.iter().take(n as usize) {
            check!(
                2,
                rt::wait(p) == Ok((0, 5, 0)),
                "process {p} did not do its 5 syscalls"
            );
        }
        done += n;
    }
    println!("init: {count} processes spawned, ran and reaped");
    0
}

fn kill_spinner() -> u64 {
    let spinner = rt::spawn("worker", worker::SPIN, HERE);
    check!(1, spinner.is_ok(), "spawn failed");
    let pid = spinner.unwrap_or(0);
    for _ in 0..3 {
        rt::yield_now();
    }
    check!(2, rt::kill(pid).is_ok(), "kill failed");
    check!(
        3,
        rt::wait(pid).map(|r| r.0) == Ok(1),
        "killed spinner not reported as killed"
    );
    0
}

/// ORPHANS: a child spawns eight workers (four that exit at once, four that
/// sleep 100 ms) and exits without waiting; the kernel reaps them all (the
/// kernel test checks the process and frame counts).
fn orphans() -> u64 {
    let parent = rt::spawn("worker", worker::ABANDON_CHILDREN_MS | 100 << 8, HERE);
    check!(1, parent.is_ok(), "spawn failed: {parent:?}");
    let r = rt::wait(parent.unwrap_or(0));
    check!(
        2,
        r == Ok((0, 0, 0)),
        "the abandoning parent ended with {r:?}"
    );
    0
}

/// FLAG_BITS: a flag bit (the high half of `rsi`) on an opcode that takes
/// none, or an undefined flag bit on one that does, is refused with
/// `InvalidArgument`; the same calls without it succeed.
fn flag_bits() -> u64 {
    use ipc::abi::Opcode;
    let invalid = IpcError::InvalidArgument.code();
    let harmless = [
        (Opcode::Echo, [0u64; 4]),
        (Opcode::GetTime, [0; 4]),
        (Opcode::Yield, [0; 4]),
        (Opcode::DebugWrite, [0; 4]),
        (Opcode::ProcInfo, [u64::from(rt::self_pid()), 0, 0, 0]),
        (Opcode::Sleep, [0; 4]),
    ];
    for (opcode, data) in harmless {
        let plain = rt::raw(opcode as u64, 0, data).status;
        check!(1, plain == 0, "{opcode:?} without flags: status {plain}");
        for bit in [32, 40, 63] {
            let flagged = rt::raw(opcode as u64 | 1 << bit, 0, data).status;
            check!(
                2,
                flagged == invalid,
                "{opcode:?} with flag bit {bit}: status {flagged}"
            );
        }
    }
    // An IPC opcode with an undefined flag bit (NONBLOCK and TIMEOUT are
    // bits 32 and 33).
    for opcode in [Opcode::Recv, Opcode::EndpointCreate, Opcode::CapInfo] {
        let flagged = rt::raw(opcode as u64 | 1 << 40, 0, [0; 4]).status;
        check!(
            3,
            flagged == invalid,
            "{opcode:?} with flag bit 40: status {flagged}"
        );
    }
    0
}

/// Milliseconds a killed process may take to die while it sleeps or waits
/// (its sleep or its child lasts `KILLED_SLEEP_MS`).
const KILL_LATENCY_MS: u64 = 1_000;
const KILLED_SLEEP_MS: u64 = 60_000;
const ORPHAN_SLEEP_MS: u64 = 2_000;

/// Kills `pid` and returns how many milliseconds `wait` took to see it die.
fn kill_and_time(pid: u32) -> Result<u64, u64> {
    let (start, hz, _) = rt::time();
    rt::kill(pid).map_err(|_| 1u64)?;
    let r = rt::wait(pid).map_err(|_| 2u64)?;
    if r.0 != 1 {
        return Err(3);
    }
    Ok((rt::time().0 - start) * 1000 / hz.max(1))
}

/// KILL_INTERRUPTS: a process sleeping for a minute, and one blocked in
/// `wait` for a child that sleeps two seconds, each die promptly when
/// killed.
fn kill_interrupts() -> u64 {
    let sleeper = rt::spawn("worker", worker::SLEEP_MS | KILLED_SLEEP_MS << 8, HERE);
    check!(1, sleeper.is_ok(), "spawn: {sleeper:?}");
    rt::sleep_ns(50_000_000);
    let ms = kill_and_time(sleeper.unwrap_or(0));
    check!(
        2,
        ms.is_ok_and(|ms| ms < KILL_LATENCY_MS),
        "a sleeping process killed: {ms:?} ms (Err = step failed)"
    );
    let waiter = rt::spawn(
        "worker",
        worker::WAIT_FOR_SLEEPER_MS | ORPHAN_SLEEP_MS << 8,
        HERE,
    );
    check!(3, waiter.is_ok(), "spawn: {waiter:?}");
    rt::sleep_ns(50_000_000);
    let ms = kill_and_time(waiter.unwrap_or(0));
    check!(
        4,
        ms.is_ok_and(|ms| ms < KILL_LATENCY_MS),
        "a process blocked in wait killed: {ms:?} ms (Err = step failed)"
    );
    println!(
        "init: a killed sleeper and a killed waiter each died within {KILL_LATENCY_MS} ms (the waiter in {ms:?} ms)"
    );
    0
}

static mut HIST: perf::histogram::Histogram = perf::histogram::Histogram::new();

/// `syscall.null`: user rdtsc, echo syscall, user rdtsc; back-to-back rdtsc
/// overhead measured first and subtracted.
fn bench_syscall(arg: u64) -> u64 {
    // Bit 63 (after the shift: 55): the TSC counts instructions (-icount).
    let unit = if arg & (1 << 55) != 0 {
        perf::record::Unit::Instructions
    } else {
        perf::record::Unit::Cycles
    };
    let samples = arg & ((1 << 55) - 1);
    let samples = if samples == 0 { 10_000 } else { samples };
    // SAFETY: the histogram is only touched by this single-threaded program.
    let hist = unsafe { &mut *core::ptr::addr_of_mut!(HIST) };
    let mut overhead = u64::MAX;
    for _ in 0..1000 {
        let a = rt::arch::rdtsc();
        let b = rt::arch::rdtsc();
        overhead = overhead.min(b - a);
    }
    for _ in 0..samples / 10 {
        let _ = rt::echo(0, [0; 4]);
    }
    let hz = rt::time().1;
    let Some(mut recorder) = rt::bench::Recorder::new("syscall.null", unit, samples, hz, hist)
    else {
        println!("init: syscall.null: a recorder is already running");
        return 1;
    };
    let counting = rt::bench::start_counters();
    const ID: u32 = perf::marker::bench_id("syscall.null");
    rt::marker::window_begin::<ID>();
    for _ in 0..samples {
        rt::marker::op_begin();
        let a = rt::arch::rdtsc();
        let _ = rt::echo(0, [1, 2, 3, 4]);
        let b = rt::arch::rdtsc();
        rt::marker::op_end();
        recorder.record((b - a).saturating_sub(overhead).max(1));
        recorder.tick(b);
    }
    rt::marker::window_end::<ID>();
    let counts = counting.read();
    recorder.finish(rt::arch::rdtsc(), &counts);
    println!("init: syscall.null tsc_overhead={overhead} samples={samples}");
    0
}

/// Preemption fairness: four equal-priority spinners that never yield share
/// this CPU; while `init` (more urgent) sleeps, the timer must rotate them, so
/// every one of them is switched in again and again.
fn fairness() -> u64 {
    let (_, _, cpu) = rt::time();
    let spinner_at = Placement {
        cpu: Some(cpu as u32),
        priority: 5,
    };
    let mut pids = [0u32; 4];
    for p in pids.iter_mut() {
        match rt::spawn("worker", worker::SPIN, spinner_at) {
            Ok(pid) => *p = pid,
            Err(e) => {
                println!("init: spawn failed: {e:?}");
                return 1;
            }
        }
    }
    // 20 rounds of sleeping one tick-ish at a time: at 100 Hz and a 10 ms
    // slice every spinner needs several slices of the ~400 ms.
    for _ in 0..40 {
        rt::sleep_ns(10_000_000);
    }
    let mut ins = [0u64; 4];
    for (i, &p) in pids.iter().enumerate() {
        ins[i] = rt::proc_info(p).map_or(0, |info| info.0);
    }
    for &p in &pids {
        let _ = rt::kill(p);
        let _ = rt::wait(p);
    }
    println!("init: switch-ins of four equal spinners: {ins:?}");
    for (i, n) in ins.iter().enumerate() {
        check!(
            10 + i as u64,
            *n >= 3,
            "spinner {i} was switched in only {n} times"
        );
    }
    let (lo, hi) = (
        ins.iter().min().copied().unwrap_or(0),
        ins.iter().max().copied().unwrap_or(0),
    );
    check!(20, hi <= lo + 3, "round robin is lopsided: {ins:?}");
    0
}

/// NUMA-aware placement: spinners spawned with `Placement::ANY_CPU`, one per
/// CPU of this CPU's node (`node_mask`, from the kernel), must each land on
/// the least loaded CPU of this node, ties to the lower number: `init` runs
/// here (load 1) and the node's other CPUs are idle, so they fill the idle
/// CPUs first, one each, and none goes to another node.
fn placement(node_mask: u64) -> u64 {
    let (_, _, me) = rt::time();
    check!(
        1,
        node_mask & (1 << me) != 0,
        "cpu {me} is not in node mask {node_mask:#x}"
    );
    let mut loads = [(0u64, 0u64); 64];
    let mut cpus = 0;
    for cpu in (0..64).filter(|c| node_mask & (1 << c) != 0) {
        loads[cpus] = (u64::from(cpu == me), cpu);
        cpus += 1;
    }
    let (mut expected, mut placed, mut pids) = ([0u64; 64], [0u64; 64], [0u32; 64]);
    for e in expected.iter_mut().take(cpus) {
        let pick = loads[..cpus].iter_mut().min().map_or(0, |pick| {
            pick.0 += 1;
            pick.1
        });
        *e = pick;
    }
    let anywhere = Placement {
        cpu: Some(Placement::ANY_CPU),
        priority: 1,
    };
    let mut failed = 0;
    for i in 0..cpus {
        match rt::spawn("worker", worker::SPIN, anywhere) {
            Ok(pid) => pids[i] = pid,
            Err(e) => {
                println!("init: spawn failed: {e:?}");
                failed = 10;
                break;
            }
        }
        placed[i] = rt::proc_info(pids[i]).map_or(u64::MAX, |info| info.1);
        // On another CPU, wait until it ran there (that CPU's published load
        // then counts it); here it stays queued behind `init`.
        if placed[i] != me {
            let mut ran = false;
            for _ in 0..200_000 {
                if rt::proc_info(pids[i]).is_ok_and(|info| info.0 > 0) {
                    ran = true;
                    break;
                }
                rt::yield_now();
            }
            if !ran {
                println!("init: spinner {} never ran on cpu {}", pids[i], placed[i]);
                failed = 11;
                break;
            }
        }
    }
    for &pid in pids.iter().filter(|&&p| p != 0) {
        let _ = rt::kill(pid);
        let _ = rt::wait(pid);
    }
    println!(
        "init: node mask {node_mask:#x}: spinners placed on {:?}, policy says {:?}",
        &placed[..cpus],
        &expected[..cpus]
    );
    if failed != 0 {
        return failed;
    }
    check!(
        12,
        placed[..cpus] == expected[..cpus],
        "placement differs from the policy"
    );
    0
}
