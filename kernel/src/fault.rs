//! Process-kill fault injection (`fault.kill=N`, issue 22): while it is on,
//! one scheduling event in N, drawn from a seeded xorshift stream, picks
//! the process of the thread this CPU switches away from as a victim, and
//! the next interrupt on any CPU kills it ([`on_interrupt`], called by the
//! trap dispatcher before the interrupt's handler). The IPC, channel and shared-memory scenarios run
//! under it: every process must still end (a killed one, or one that saw
//! its partner die and got an error), nothing may hang, and every resource
//! count must return to its baseline.
//!
//! The scheduler calls [`on_switch`] at each switch outside the IPC fast
//! path (`task::switch_to`: preemption, blocking, wake-ups, the general IPC
//! hand-off); with injection off it costs one relaxed load. The kill itself
//! happens outside the scheduler: `process::kill` takes the process
//! table's lock and wakes threads, which the middle of a context switch
//! must not do. An interrupt handler may: every lock on that path (the
//! process, thread and IPC tables, the frame allocator, the heap) is taken
//! with interrupts off, so no interrupted code on this CPU holds one, and
//! the timer handler already wakes threads and ends doomed processes.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::ktest::{Census, pause, ticks};
use crate::process::{self, ExitReason, Placement};

/// One switch in `EVERY` picks a victim (0 = off).
static EVERY: AtomicU64 = AtomicU64::new(0);
/// The xorshift state.
static STATE: AtomicU64 = AtomicU64::new(1);
/// The picked victim's pid + 1 (0 = none pending).
static PENDING: AtomicU64 = AtomicU64::new(0);
/// The first pid of the run: victims below it are not the run's.
static FIRST_PID: AtomicU64 = AtomicU64::new(u64::MAX);
/// Kills that hit a live process of the run.
static KILLED: AtomicU64 = AtomicU64::new(0);
/// Switches seen while on.
static EVENTS: AtomicU64 = AtomicU64::new(0);
/// `fault.kill=` from the command line (0 = the test's default).
static CONFIGURED: AtomicU64 = AtomicU64::new(0);
/// `fuzz.seed=` (shared with the fuzz test's seed).
static SEED: AtomicU64 = AtomicU64::new(1);

/// Whether the test was asked for (`fault.kill=`, or a `test.filter=`
/// naming it): its run is TSC seconds long, 10^9 instructions each under
/// icount (the short run took 164 s there and killed nothing, the killer
/// never getting a CPU), so the whole suite's runs leave it out.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Applies `fault.kill=N` and the seed; `filter` is `test.filter=`.
pub fn configure(every: u64, seed: Option<u64>, filter: &str) {
    CONFIGURED.store(every, Ordering::Relaxed);
    REQUESTED.store(
        every > 0 || filter.contains("fault_kill"),
        Ordering::Relaxed,
    );
    if let Some(seed) = seed {
        SEED.store(seed, Ordering::Relaxed);
    }
}

/// The scheduling-event hook: `cpu` (this CPU) is about to switch away
/// from its current context. Interrupts are off.
#[inline(always)]
pub fn on_switch(cpu: &crate::percpu::PerCpu) {
    let every = EVERY.load(Ordering::Relaxed);
    if every != 0 {
        draw(cpu, every);
    }
}

/// One draw of [`on_switch`] while injection is on.
#[cold]
#[inline(never)]
fn draw(cpu: &crate::percpu::PerCpu, every: u64) {
    EVENTS.fetch_add(1, Ordering::Relaxed);
    // One xorshift step; racing CPUs may draw the same value, which only
    // makes the sequence less even.
    let mut x = STATE.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    if !x.is_multiple_of(every) {
        return;
    }
    let t = cpu.current_kthread.load(Ordering::Relaxed);
    if t.is_null() {
        return; // The idle context: no process.
    }
    // SAFETY: `t` is this CPU's current thread's record; a record is freed
    // only after a switch away from its dead thread has completed
    // (`task::finish_switch`), and this CPU has not switched yet.
    let pid = unsafe { (*t).pid() };
    if pid != 0 {
        PENDING.store(u64::from(pid) + 1, Ordering::Relaxed);
    }
}

/// Called by the trap dispatcher before a device interrupt's or IPI's
/// handler (interrupts off): kills the pending victim, if any.
#[inline(always)]
pub fn on_interrupt() {
    if EVERY.load(Ordering::Relaxed) != 0 {
        kill_pending();
    }
}

/// Kills the pending victim if it belongs to the run and lives.
#[cold]
#[inline(never)]
fn kill_pending() {
    if let Some(pid) = take_victim()
        && u64::from(pid) >= FIRST_PID.load(Ordering::Relaxed)
        && process::kill(pid).is_ok()
    {
        KILLED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Turns injection on (one switch in `every`, stream `seed`) or off
/// (`every` 0); returns the switches seen since the last call.
fn inject(every: u64, seed: u64) -> u64 {
    STATE.store(seed | 1, Ordering::Relaxed);
    PENDING.store(0, Ordering::Relaxed);
    EVERY.store(every, Ordering::Relaxed);
    EVENTS.swap(0, Ordering::Relaxed)
}

/// The pending victim, if one was picked since the last call.
fn take_victim() -> Option<u32> {
    match PENDING.swap(0, Ordering::Relaxed) {
        0 => None,
        p => Some((p - 1) as u32),
    }
}

/// What one scenario under injection did.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Kills that hit a live process.
    killed: u64,
    /// Runs whose root (the coordinator, which counts how its workers
    /// ended and prints it) ended with 0: no anomaly.
    clean: u64,
    /// Runs whose root was itself killed.
    root_killed: u64,
    /// Switches seen.
    events: u64,
}

/// Timer ticks a scenario may take before it counts as hung.
const MAX_TICKS: u64 = 12_000;
/// Ticks the processes of a run may take to end after its root did.
const SETTLE_TICKS: u64 = 1_000;

/// Runs `program arg` under kill injection; adds what happened to `tally`.
fn run_one(
    program: &str,
    arg: u64,
    every: u64,
    seed: u64,
    tally: &mut Tally,
) -> Result<(), String> {
    let before = Census::take();
    // With interrupts off until injection is on: on one CPU a timer tick
    // after the spawn would run the whole scenario before this context
    // (the idle context) got the CPU back.
    let root = x86_64::instructions::interrupts::without_interrupts(|| {
        let root = process::spawn(program, arg, Placement::Caller, 10, 0)?;
        // Only this run's processes (pids are given out in order).
        FIRST_PID.store(u64::from(root), Ordering::Relaxed);
        KILLED.store(0, Ordering::Relaxed);
        inject(every, seed);
        Ok::<_, process::SpawnError>(root)
    })
    .map_err(|e| format!("spawn {program}: {e:?}"))?;
    let start = ticks();
    let reason = loop {
        kill_pending();
        if let Some(reason) = process::poll_exit(root) {
            break reason;
        }
        if ticks() - start > MAX_TICKS {
            tally.events += inject(0, 0);
            tally.killed += KILLED.load(Ordering::Relaxed);
            crate::kprintln!("fault.kill: {program} {arg:#x} seed {seed}: hung; threads:");
            crate::task::dump_threads();
            return Err(format!("{program} {arg:#x} (seed {seed}) hung"));
        }
        pause();
    };
    tally.events += inject(0, 0);
    tally.killed += KILLED.load(Ordering::Relaxed);
    match reason {
        ExitReason::Exited(0) => tally.clean += 1,
        ExitReason::Killed => tally.root_killed += 1,
        other => {
            return Err(format!(
                "{program} {arg:#x} (seed {seed}) ended with {other:?}"
            ));
        }
    }
    // Orphans of a killed root, and partners of killed children, must end
    // by themselves: a process still there after the settling time hangs.
    let after = Census::settle_to(&before, SETTLE_TICKS);
    if after.processes != before.processes {
        crate::kprintln!(
            "fault.kill: {program} {arg:#x} seed {seed}: {} process(es) left after {SETTLE_TICKS} ticks; threads:",
            after.processes - before.processes
        );
        crate::task::dump_threads();
    }
    crate::kensure!(
        after == before,
        "{program} {arg:#x} (seed {seed}, root {reason:?}): hang or leak: {before:?} -> {after:?}"
    );
    Ok(())
}

/// The run: the soak program's coordinator (role 1) in its fault.kill
/// mode (bit 40), one period of `seconds`, `groups` groups of a synchronous
/// client and server (every 16th call a large message in a fresh shared
/// region) and an asynchronous producer and consumer on a channel.
const fn soak_under_kill(groups: u64, seconds: u64) -> u64 {
    1 | (groups << 16 | seconds << 32 | 1 << 40) << 8
}

crate::ktest! {
    /// `fault.kill=N` (default 200, one short run): synchronous IPC, channels and large
    /// messages in shared regions (the soak's traffic) run while one
    /// scheduling event in N kills a random process of the run. Nothing
    /// hangs, every survivor ends (with the error it saw where its partner
    /// died), no message is duplicated, reordered or garbled, and frames,
    /// processes, threads, capabilities, endpoints and regions all return
    /// to their baseline.
    fn fault_kill_ipc_channel_shm() {
        if !REQUESTED.load(Ordering::Relaxed) {
            crate::kprintln!("fault.kill: not asked for (fault.kill= or test.filter=fault_kill); not run");
            return Ok(());
        }
        // With `test.filter=fault_kill` alone: one short run. With
        // `fault.kill=N` (the CI step): three longer ones.
        let (every, rounds, run) = match CONFIGURED.load(Ordering::Relaxed) {
            0 => (200, 1, soak_under_kill(8, 2)),
            n => (n, 3, soak_under_kill(16, 10)),
        };
        let seed = SEED.load(Ordering::Relaxed);
        let mut tally = Tally::default();
        for round in 0..rounds {
            let s = seed.wrapping_mul(0x9e37_79b9) ^ round;
            run_one("soak", run, every, s, &mut tally)?;
        }
        crate::kprintln!(
            "fault.kill={every}: {} runs, {} scheduling events, {} processes killed \
             ({} of them the run's coordinator), {} runs clean; no hang, conservation ok",
            rounds,
            tally.events,
            tally.killed,
            tally.root_killed,
            tally.clean
        );
        crate::kensure!(tally.killed > 0, "no process was killed: fault.kill={every} too rare");
        Ok(())
    }
}
