//! The syscall fuzz test: one `fuzz` process per online CPU issues seeded
//! random system calls (kernel/user/src/bin/fuzz.rs) while one well-behaved
//! `ipctest` echo pair per CPU checks every word of its own traffic; then
//! every resource count must be back where it began (conservation).
//!
//! `fuzz.calls=N` (over all fuzzers) and `fuzz.seed=S` on the command line
//! choose the run; `scripts/fuzz.sh` sets them. With `fault.frames=N` one
//! frame allocation in N fails, anywhere in the kernel, while the processes
//! run: every call must then succeed or fail with an error (the checkers
//! may fail that way too), and conservation must still hold. The result line is
//! `fuzz: N calls, seed S, 0 kernel faults, conservation ok|FAILED` (a
//! kernel fault never gets here: the panic report ends the run).

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::ktest::{Census, pause, ticks};
use crate::process::{self, ExitReason, Placement};

/// System calls over all fuzzers (`fuzz.calls=`).
static CALLS: AtomicU64 = AtomicU64::new(50_000);
/// The seed (`fuzz.seed=`).
static SEED: AtomicU64 = AtomicU64::new(1);
/// One frame allocation in this many fails during the run (`fault.frames=`,
/// 0 = none).
static FAULT_FRAMES: AtomicU64 = AtomicU64::new(0);

/// Applies `fuzz.calls`, `fuzz.seed` and `fault.frames` (0 and `None` keep
/// the defaults).
pub fn configure(calls: u64, seed: Option<u64>, fault_frames: u64) {
    if calls > 0 {
        CALLS.store(calls, Ordering::Relaxed);
    }
    if let Some(seed) = seed {
        SEED.store(seed, Ordering::Relaxed);
    }
    FAULT_FRAMES.store(fault_frames, Ordering::Relaxed);
}

/// `ipctest`'s same-CPU echo scenario (2,000 checked calls).
const ECHO_SCENARIO: u64 = 1;
/// Timer ticks (100 Hz) the whole run may take before it counts as hung:
/// 900 s, or 1 tick per 20 calls for long runs (TCG here does about 8,500
/// calls a second over two CPUs: 10,000,000 calls reached 8,000,000 when
/// 900 s ran out; `scripts/fuzz.sh` allows calls / 2,000 + 300 s).
fn max_ticks(calls: u64) -> u64 {
    (calls / 20).max(90_000)
}

crate::ktest! {
    /// Seeded random system calls from a fuzzer on every CPU, beside
    /// well-behaved processes that check their own IPC: nobody but the
    /// fuzzers is disturbed, the kernel survives, and frames, processes,
    /// threads, capabilities, endpoints and regions all return to their
    /// baseline.
    fn fuzz_random_syscalls() {
        let calls = CALLS.load(Ordering::Relaxed);
        let seed = SEED.load(Ordering::Relaxed);
        let before = Census::take();
        let cpus: Vec<u32> = (0..crate::percpu::MAX_CPUS as u32)
            .filter(|&c| crate::percpu::of(c).is_some_and(|p| p.online.load(Ordering::Acquire)))
            .collect();
        let per_fuzzer = calls.div_ceil(cpus.len() as u64);
        let mut fuzzers = Vec::new();
        let mut checkers = Vec::new();
        for (i, &cpu) in cpus.iter().enumerate() {
            // Each fuzzer its own stream: seed and CPU index, 24 bits.
            let stream = (seed.wrapping_mul(0x1_0001) ^ i as u64) & 0xff_ffff;
            let arg = stream << 40 | per_fuzzer;
            let pid = process::spawn("fuzz", arg, Placement::Cpu(cpu), 10, 0)
                .map_err(|e| format!("spawn fuzz on CPU {cpu}: {e:?}"))?;
            fuzzers.push(pid);
            let pid = process::spawn("ipctest", ECHO_SCENARIO, Placement::Cpu(cpu), 10, 0)
                .map_err(|e| format!("spawn ipctest on CPU {cpu}: {e:?}"))?;
            checkers.push(pid);
        }
        let fault_frames = FAULT_FRAMES.load(Ordering::Relaxed);
        crate::mem::inject_frame_faults(fault_frames, seed);
        let start = ticks();
        let mut ended: Vec<(u32, ExitReason)> = Vec::new();
        let all = fuzzers.len() + checkers.len();
        while ended.len() < all {
            for &pid in fuzzers.iter().chain(&checkers) {
                if !ended.iter().any(|&(p, _)| p == pid)
                    && let Some(reason) = process::poll_exit(pid)
                {
                    ended.push((pid, reason));
                }
            }
            if ticks() - start > max_ticks(calls) {
                crate::mem::inject_frame_faults(0, 0);
                crate::kprintln!(
                    "fuzz: seed {seed}: hung after {} ticks; threads:",
                    max_ticks(calls)
                );
                crate::task::dump_threads();
                for &pid in fuzzers.iter().chain(&checkers) {
                    let _ = process::kill(pid);
                }
                return Err(format!("fuzz: seed {seed}: a process hung"));
            }
            pause();
        }
        let failed_allocations = crate::mem::inject_frame_faults(0, 0);
        if fault_frames > 0 {
            let checkers_failed = ended
                .iter()
                .filter(|(pid, reason)| checkers.contains(pid) && *reason != ExitReason::Exited(0))
                .count();
            crate::kprintln!(
                "fault.frames={fault_frames}: {failed_allocations} frame allocations failed; \
                 {checkers_failed} of {} checkers saw an error",
                checkers.len()
            );
        }
        for (pid, reason) in &ended {
            let checker = checkers.contains(pid);
            let role = if checker { "ipctest" } else { "fuzz" };
            // A checker may fail through an injected out-of-memory error
            // (it says which check); it must still end by itself.
            let fine = *reason == ExitReason::Exited(0)
                || (checker && fault_frames > 0 && matches!(reason, ExitReason::Exited(_)));
            crate::kensure!(fine, "fuzz: seed {seed}: {role} (pid {pid}) ended with {reason:?}");
        }
        // Workers the fuzzers spawned and killed end on their own CPUs.
        let after = Census::settle_to(&before, 1_000);
        let ok = after == before;
        crate::kprintln!(
            "fuzz: {} calls, seed {seed}, 0 kernel faults, conservation {}",
            per_fuzzer * cpus.len() as u64,
            if ok { "ok" } else { "FAILED" }
        );
        crate::kensure!(
            ok,
            "leak: {before:?} -> {after:?}"
        );
        Ok(())
    }
}
