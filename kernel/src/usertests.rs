//! In-kernel tests that run user programs: each starts `init` in one scenario
//! and checks how it ended (exit code 0 = every check inside passed).

use alloc::format;

use crate::process::{self, ExitReason};

/// `init` scenario numbers (kernel/user/src/bin/init.rs).
mod mode {
    pub const HELLO: u64 = 1;
    pub const FAULTS: u64 = 2;
    pub const BAD_POINTERS: u64 = 3;
    pub const SCRUB: u64 = 4;
    pub const SPAWN_MANY: u64 = 5;
    pub const KILL: u64 = 7;
    pub const FAIRNESS: u64 = 8;
    pub const PLACEMENT: u64 = 9;
    pub const ORPHANS: u64 = 10;
    pub const KILL_INTERRUPTS: u64 = 11;
    pub const FLAG_BITS: u64 = 12;
}

/// Timer ticks (100 Hz) a scenario may take before it is killed as hung.
const MAX_TICKS: u64 = 20_000;

fn scenario(arg: u64) -> crate::ktest::TestResult {
    match process::run_and_wait("init", arg, MAX_TICKS) {
        Ok(ExitReason::Exited(0)) => Ok(()),
        Ok(other) => Err(format!("init ended with {other:?}")),
        Err(Some(e)) => Err(format!("spawn failed: {e:?}")),
        Err(None) => Err(format!("timed out after {MAX_TICKS} ticks")),
    }
}

crate::ktest! {
    /// A user program prints through debug_write and every ABI register
    /// round-trips through the echo syscall; unknown opcodes are refused.
    fn user_hello_and_abi_round_trip() {
        scenario(mode::HELLO)
    }
}

crate::ktest! {
    /// #PF, #GP, #UD, #DE and a stack overflow each kill only the faulting
    /// process; a sibling keeps running; the parent sees each exit reason.
    fn user_faults_kill_only_the_faulting_process() {
        scenario(mode::FAULTS)
    }
}

crate::ktest! {
    /// Bad pointers, kernel addresses, unmapped and wrapping ranges and huge
    /// lengths give error statuses, not faults.
    fn user_bad_pointers_get_errors() {
        scenario(mode::BAD_POINTERS)
    }
}

crate::ktest! {
    /// No register holds a kernel address after a syscall.
    fn user_registers_scrubbed() {
        scenario(mode::SCRUB)
    }
}

crate::ktest! {
    /// A killed process dies and its parent sees "killed".
    fn user_kill() {
        scenario(mode::KILL)
    }
}

crate::ktest! {
    /// 1,024 processes spawned, run, reaped: free frames, processes and
    /// threads return to their starting values.
    fn user_1024_processes_leak_nothing() {
        let frames_before = crate::mem::free_frames();
        let procs_before = process::count();
        let threads_before = crate::task::live_threads();
        scenario(mode::SPAWN_MANY | (1024 << 8))?;
        let frames_after = crate::mem::free_frames();
        let procs_after = process::count();
        let threads_after = crate::task::live_threads();
        crate::kprintln!(
            "  free frames {frames_before} -> {frames_after}, processes {procs_before} -> {procs_after}, threads {threads_before} -> {threads_after}"
        );
        crate::kensure!(frames_after == frames_before, "{} frames leaked", frames_before as i64 - frames_after as i64);
        crate::kensure!(procs_after == procs_before, "processes leaked");
        crate::kensure!(threads_after == threads_before, "threads leaked");
        Ok(())
    }
}

/// Waits up to `ticks` timer ticks of this CPU for the free frames and the
/// process count to return to `baseline` (processes that end after the
/// scenario does, such as orphans, are reaped by then); returns what it saw.
fn settle_to(baseline: (usize, usize), ticks: u64) -> (usize, usize) {
    let ticks_now = || {
        crate::percpu::current().map_or(0, |c| {
            c.timer_ticks.load(core::sync::atomic::Ordering::Relaxed)
        })
    };
    let start = ticks_now();
    loop {
        let seen = (crate::mem::free_frames(), process::count());
        if seen == baseline || ticks_now() - start > ticks {
            return seen;
        }
        x86_64::instructions::interrupts::disable();
        crate::task::reschedule(sched::Decision::Reschedule);
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

crate::ktest! {
    /// A parent that exits without `wait` leaves no zombie: its children
    /// that had ended are reaped at its death, the others when they end.
    fn orphans_are_reaped() {
        let baseline = (crate::mem::free_frames(), process::count());
        scenario(mode::ORPHANS)?;
        let after = settle_to(baseline, 1_000);
        crate::kprintln!("  (free frames, processes) {baseline:?} -> {after:?}");
        crate::kensure!(after == baseline, "orphans leaked: {baseline:?} -> {after:?}");
        Ok(())
    }
}

crate::ktest! {
    /// `kill` ends a sleep and a `wait` at once: the killed process dies
    /// within a second, not when its sleep or its child would have ended.
    /// Its orphaned child is reaped when it ends.
    fn kill_interrupts_sleep_and_wait() {
        let baseline = (crate::mem::free_frames(), process::count());
        scenario(mode::KILL_INTERRUPTS)?;
        let after = settle_to(baseline, 1_000);
        crate::kensure!(after == baseline, "leak: {baseline:?} -> {after:?}");
        Ok(())
    }
}

crate::ktest! {
    /// Flag bits on opcodes that take none, and undefined flag bits on the
    /// IPC opcodes, are refused with `InvalidArgument`.
    fn unknown_flag_bits_rejected() {
        scenario(mode::FLAG_BITS)
    }
}

crate::ktest! {
    /// SMEP, SMAP and UMIP are on wherever CPUID has them (read back from
    /// CR4), and with UMIP `sidt` in ring 3 kills the process with #GP
    /// instead of telling it where the kernel's IDT is.
    fn smep_smap_umip() {
        use raw_cpuid::CpuId;
        let cpuid = CpuId::new().get_extended_feature_info();
        let has = |f: fn(&raw_cpuid::ExtendedFeatures) -> bool| cpuid.as_ref().is_some_and(f);
        let on = crate::arch::x86_64::cpu::protection();
        crate::kprintln!("  CR4: {on:?}");
        crate::kensure!(on.smep == has(raw_cpuid::ExtendedFeatures::has_smep), "SMEP {on:?}");
        crate::kensure!(on.smap == has(raw_cpuid::ExtendedFeatures::has_smap), "SMAP {on:?}");
        crate::kensure!(on.umip == has(raw_cpuid::ExtendedFeatures::has_umip), "UMIP {on:?}");
        const SIDT: u64 = 12;
        match process::run_and_wait("worker", SIDT, MAX_TICKS) {
            Ok(ExitReason::Fault { vector: 13, .. }) if on.umip => Ok(()),
            Ok(ExitReason::Exited(base)) if !on.umip => {
                crate::kprintln!("  no UMIP in CPUID: sidt in ring 3 read {base:#x}");
                Ok(())
            }
            other => Err(format!("sidt in ring 3 with UMIP {}: {other:?}", on.umip)),
        }
    }
}

crate::ktest! {
    /// Preemption fairness: equal-priority spinners on one CPU each get
    /// slices (counted by switch-ins, not wall time).
    fn sched_round_robin_fairness() {
        scenario(mode::FAIRNESS)
    }
}

crate::ktest! {
    /// NUMA-aware placement (`Placement::Balanced`, `sched::place_thread`):
    /// from `init` on this CPU, spinners spawned one per CPU of this CPU's
    /// node each land on the least loaded CPU of the node (ties to the lower
    /// number), filling its idle CPUs first, none on another node.
    fn sched_placement_fills_the_parents_node_first() {
        let me = crate::cpu_index();
        let node = crate::percpu::of(me).map_or(0, |c| c.node);
        let mask = (0..56u32) // the scenario argument has 56 bits for it
            .filter_map(crate::percpu::of)
            .filter(|c| c.online.load(core::sync::atomic::Ordering::Acquire) && c.node == node)
            .fold(0u64, |mask, c| mask | 1 << c.index);
        scenario(mode::PLACEMENT | mask << 8)
    }
}

crate::ktest! {
    /// A process killed before its thread first runs, whose first syscall
    /// is a 60 s sleep, dies at that sleep: the kill is not lost when the
    /// sleep clears its deadline flag (it is reaped within the reaper's
    /// 1,000 scheduling rounds, about 10 s of ticks at most).
    fn kill_before_first_sleep_ends_the_sleep() {
        const SLEEP_MS: u64 = 60_000;
        let pid = process::spawn("worker", 9 | SLEEP_MS << 8, process::Placement::Caller, 10, 0)
            .map_err(|e| format!("spawn: {e:?}"))?;
        crate::kensure!(process::kill_and_reap(pid), "worker {pid} still sleeps after its kill");
        Ok(())
    }
}
