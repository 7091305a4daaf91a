//! Kernel threads behind user threads: kernel stacks, context switches, FPU
//! state, and the glue to the `sched` crate's per-CPU schedulers.
//!
//! Locking: each CPU's `sched::Scheduler` (ready queue, current thread, live
//! time slices) lives in that CPU's [`PerCpu`](crate::percpu::PerCpu) and is
//! touched by that CPU alone, with interrupts off and no lock: picking the
//! next thread, the timer tick and yielding take no lock at all. The shared
//! thread table (states, priorities, the priority-inheritance graph, which
//! spans CPUs) is under one lock ([`TABLE`]), taken to block, wake, spawn,
//! exit or change priorities, and by a CPU that drains its inbox (only when
//! something was posted). Wake-ups of another CPU's thread go through that
//! CPU's lock-free inbox and an IPI; no CPU ever touches another's queue.
//!
//! One file per concern: `thread` (the thread table, one [`KThread`] record
//! per thread id, and a thread's life), `switch` (context switches),
//! `donation` (scheduling-context donation on the IPC fast path), `block`
//! (blocking, waking and rescheduling), `sleep` (TSC deadlines) and
//! `placement` (the CPU a new thread runs on). This file holds what they
//! share: the thread-table lock, the inboxes and this CPU's scheduler.

mod block;
mod donation;
mod placement;
mod sleep;
mod switch;
mod thread;

use core::sync::atomic::Ordering;

use sched::{
    CpuId, CpuSet, Inboxes, PiConfig, SchedConfig, Scheduler, TableLimits, ThreadId, ThreadTable,
};

use crate::percpu::{self, IrqGuard};

pub use block::*;
pub use donation::*;
pub use placement::*;
pub use sleep::*;
pub use switch::*;
pub use thread::*;

/// Most threads alive at once.
pub const MAX_THREADS: usize = 4096;
const _: () = assert!(MAX_THREADS.is_power_of_two());
/// Kernel stack per thread.
pub const KSTACK_PAGES: usize = 4 * crate::DEBUG_STACK_SCALE;

/// A process id.
pub type Pid = u32;

/// The shared half of scheduling (see the module doc). Taken with interrupts
/// off: a holder must never be interruptible (see `crate::sync`).
static TABLE: crate::sync::IrqMutex<Option<ThreadTable>> = crate::sync::IrqMutex::new(None);
/// Every CPU's wake-up inbox (lock-free, set once by [`init`]).
static INBOXES: spin::Once<Inboxes> = spin::Once::new();
/// Runs `f` on this CPU's own scheduler, its books first brought up to date
/// with a pending scheduling-context donation ([`materialize`], which takes
/// the thread-table lock: never call this with that lock held; see
/// [`with_sched_locked`]). `None` before per-CPU data and [`init`] are set
/// up. Never nest it (the cell panics on re-entry).
fn with_sched<R>(irq: &IrqGuard, f: impl FnOnce(&mut Scheduler) -> R) -> Option<R> {
    with_sched_raw(irq, |cpu, sched| {
        if donating(cpu) {
            let inboxes = INBOXES.get()?;
            let mut guard = TABLE.lock();
            materialize(cpu, sched, guard.as_mut()?, inboxes);
        }
        Some(f(sched))
    })
    .flatten()
}

/// [`with_sched`] for a caller that holds the thread-table lock: `table`.
fn with_sched_locked<R>(
    irq: &IrqGuard,
    table: &mut ThreadTable,
    f: impl FnOnce(&mut Scheduler, &mut ThreadTable) -> R,
) -> Option<R> {
    with_sched_raw(irq, |cpu, sched| {
        if donating(cpu) {
            materialize(cpu, sched, table, INBOXES.get()?);
        }
        Some(f(sched, table))
    })
    .flatten()
}

/// This CPU's scheduler as it is (see [`with_sched`]), with its per-CPU data.
fn with_sched_raw<R>(
    irq: &IrqGuard,
    f: impl FnOnce(&percpu::PerCpu, &mut Scheduler) -> R,
) -> Option<R> {
    let cpu = percpu::current()?;
    cpu.sched.with(irq, |slot| {
        let sched = match slot {
            Some(sched) => sched,
            None => slot.insert(cpu.sched_pending.lock().take()?),
        };
        let result = f(cpu, sched);
        cpu.sched_load.store(
            u32::try_from(sched.load()).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
        Some(result)
    })
}

/// Runs `f` with the shared thread table (locked), the inboxes and this
/// CPU's scheduler: the shape of every operation that blocks, wakes or
/// changes priorities. `None` before [`init`].
fn with_table<R>(
    irq: &IrqGuard,
    f: impl FnOnce(&mut Scheduler, &mut ThreadTable, &'static Inboxes) -> R,
) -> Option<R> {
    let inboxes = INBOXES.get()?;
    let mut guard = TABLE.lock();
    let table = guard.as_mut()?;
    with_sched_locked(irq, table, |sched, table| f(sched, table, inboxes))
}

/// Whether priority inheritance is on (command line `pi=off` turns it off).
pub fn set_priority_inheritance(on: bool) {
    let irq = IrqGuard::new();
    let targets = with_table(&irq, |sched, table, inboxes| {
        table.set_priority_inheritance(on);
        // Requeue every thread whose priority changed (others' by inbox).
        let _ = sched.settle(table, inboxes);
        sched.take_ipi_targets()
    });
    kick(targets.unwrap_or(CpuSet::EMPTY));
}

/// Whether priority inheritance is on.
pub fn priority_inheritance() -> bool {
    TABLE
        .lock()
        .as_ref()
        .is_some_and(ThreadTable::priority_inheritance)
}

/// Sets up the scheduler for `cpus` CPUs with time slices of `slice_tsc`.
pub fn init(cpus: usize, slice_tsc: u64) {
    let limits = TableLimits {
        threads: MAX_THREADS,
        mutexes: 64,
        cpus,
    };
    let table = ThreadTable::new(limits, PiConfig::default()).expect("scheduler limits are valid");
    INBOXES.call_once(|| Inboxes::new(cpus, 256, MAX_THREADS).expect("inbox limits are valid"));
    let config = SchedConfig {
        time_slice: slice_tsc,
    };
    for cpu in (0..cpus as u32).filter_map(percpu::of) {
        let sched = Scheduler::new(CpuId(cpu.index as u16), config, MAX_THREADS);
        *cpu.sched_pending.lock() = Some(sched);
    }
    *TABLE.lock() = Some(table);
}

/// The thread running on this CPU, if any (not idle).
pub fn current() -> Option<ThreadId> {
    current_on(percpu::current()?)
}

/// The thread running on `cpu`, this CPU, if any (not idle).
#[inline(always)]
pub fn current_on(cpu: &percpu::PerCpu) -> Option<ThreadId> {
    let raw = cpu.current_thread.load(Ordering::Acquire);
    (raw != u64::MAX).then_some(ThreadId(raw as u32))
}

/// The thread of this CPU (`cpu`) in a system call, as [`current_on`] but
/// with no test for the idle context: a system call comes from a thread. Were it
/// the idle context anyway, the id would be `u32::MAX`, which names no
/// thread (the fast path's guards refuse it and the general operation
/// fails with `ProcessNotFound`, as without the fast path).
#[inline(always)]
pub fn current_in_syscall(cpu: &percpu::PerCpu) -> ThreadId {
    let raw = cpu.current_thread.load(Ordering::Acquire);
    debug_assert_ne!(raw, u64::MAX, "a system call from the idle context");
    ThreadId(raw as u32)
}

/// The CPU a thread belongs to.
pub fn cpu_of(tid: ThreadId) -> Option<u32> {
    TABLE
        .lock()
        .as_ref()
        .and_then(|table| table.get(tid).ok())
        .map(|t| u32::from(t.cpu().0))
}

/// The effective (inherited) and base priority of a thread.
pub fn priorities_of(tid: ThreadId) -> Option<(u8, u8)> {
    let guard = TABLE.lock();
    let table = guard.as_ref()?;
    let thread = table.get(tid).ok()?;
    let mut effective = thread.effective_priority();
    // A server running on a client's behalf (a donation not yet in the
    // books) has the priority the client lends it once they are.
    if table.priority_inheritance() {
        for (_, client, _) in pending_donations().filter(|&(_, _, server)| server == tid) {
            if let Ok(client) = table.get(client) {
                effective = effective.max(client.effective_priority());
            }
        }
    }
    Some((effective.0, thread.base_priority().0))
}
