//! Blocking, waking and rescheduling the threads of this CPU, including the
//! IPC hand-offs that block one thread and run another in one step.

use core::sync::atomic::Ordering;

use sched::{CpuId, CpuSet, Decision, Inbox, Scheduler, ThreadId};

use crate::arch::x86_64::cpu::rdtsc_ordered;
use crate::percpu::{self, IrqGuard};

use super::*;

/// Drains this CPU's inbox when something was posted (the table lock is
/// taken only then) and returns what it asks for.
pub(super) fn drain_inbox(sched: &mut Scheduler) -> Decision {
    let Some(inboxes) = INBOXES.get() else {
        return Decision::Stay;
    };
    if !inboxes.get(sched.cpu()).is_some_and(Inbox::has_mail) {
        return Decision::Stay;
    }
    let guard = TABLE.lock();
    guard.as_ref().map_or(Decision::Stay, |table| {
        sched.drain_inbox(table, inboxes).unwrap_or(Decision::Stay)
    })
}

/// Runs the scheduler on this CPU with `decision` and switches threads if it
/// says so. Interrupts must be off. Returns when this context runs again.
pub fn reschedule(decision: Decision) {
    let picked = {
        let irq = IrqGuard::new();
        with_sched(&irq, |sched| {
            let drained = drain_inbox(sched);
            let next = sched.apply(decision.combine(drained), rdtsc_ordered());
            (next, sched.take_ipi_targets())
        })
    };
    let Some((next, ipi_targets)) = picked else {
        return;
    };
    kick(ipi_targets);
    let Some(cpu) = percpu::current() else {
        return;
    };
    let prev = cpu.current_thread.load(Ordering::Acquire);
    let next_raw = next.map_or(u64::MAX, |t| u64::from(t.0));
    if prev == next_raw {
        return;
    }
    switch_to(cpu, next_raw);
    finish_switch();
}

/// Sends a reschedule IPI to every CPU in `targets`.
pub(super) fn kick(targets: CpuSet) {
    if targets.is_empty() {
        return;
    }
    let me = percpu::index();
    for cpu in targets.iter().map(|cpu| u32::from(cpu.0)) {
        if cpu != me {
            let _ = crate::cpus::send(cpu, crate::cpus::IpiMessage::Reschedule);
        }
    }
}

/// Blocks the current thread until [`wake`]; returns after it is woken.
pub fn block_current() {
    let _ = block_current_on(sched::BlockedOn::Sleep, None);
}

/// Blocks the current thread on `on` (a `Reply(server)` wait lends this
/// thread's priority to the server: priority inheritance) and, if `hint` names
/// a thread, switches to it directly when the scheduler allows. Returns once
/// the thread is woken by [`wake`].
///
/// # Errors
/// What the scheduler refuses (e.g. a PI cycle: `SchedError::Deadlock`); the
/// thread then did not block.
pub fn block_current_on(
    on: sched::BlockedOn,
    hint: Option<ThreadId>,
) -> Result<(), sched::SchedError> {
    let irq = IrqGuard::new();
    let Some(tid) = current() else { return Ok(()) };
    let Some(decision) = with_table(&irq, |sched, table, inboxes| {
        sched.block(table, inboxes, tid, on)
    }) else {
        return Ok(());
    };
    let decision = decision?;
    let decision = match hint {
        Some(target) => Decision::SwitchTo(target).combine(decision),
        None => decision.combine(Decision::Reschedule),
    };
    reschedule(decision);
    Ok(())
}

/// As [`block_current_on`], for waits whose end is announced through a flag
/// (the IPC layer's per-thread result slots): `woken` is read under the
/// thread-table lock and, if it is already set, the thread does not block. A
/// waker that sets `woken` and then calls [`wake`] is therefore never lost,
/// whatever CPU it runs on: either the check sees the flag, or the thread is
/// blocked before `wake` can take the lock. With `deadline` (a TSC value) the
/// thread is also woken at the first timer tick at or after it. Returns when
/// the thread runs again; the caller re-checks its flag (wake-ups may be
/// spurious).
///
/// # Errors
/// As [`block_current_on`]; the thread then did not block.
pub fn block_current_unless_woken(
    on: sched::BlockedOn,
    hint: Option<ThreadId>,
    woken: &core::sync::atomic::AtomicBool,
    deadline: Option<u64>,
) -> Result<(), sched::SchedError> {
    let irq = IrqGuard::new();
    let Some(tid) = current() else { return Ok(()) };
    if let Some(deadline) = deadline {
        add_sleeper(tid, deadline);
        // `add_sleeper` cleared the deadline flag, which may have held a
        // kill's `interrupt`. A kill that set the exit reason before this
        // check is seen here; one after it sets the flag again.
        if crate::process::current_doomed()
            && let Some(flag) = deadline_flag(tid)
        {
            flag.store(true, Ordering::Release);
        }
    }
    // A deadline that passed before the thread blocked must not be lost
    // either (see `KThread::deadline_passed`).
    let timed_out =
        || deadline.is_some() && deadline_flag(tid).is_some_and(|f| f.load(Ordering::Acquire));
    let blocked = with_table(&irq, |sched, table, inboxes| {
        if woken.load(Ordering::Acquire) || timed_out() {
            Ok(None)
        } else {
            sched.block(table, inboxes, tid, on).map(Some)
        }
    })
    .unwrap_or(Ok(None));
    if let Ok(Some(decision)) = blocked {
        let decision = match hint {
            Some(target) => Decision::SwitchTo(target).combine(decision),
            None => decision.combine(Decision::Reschedule),
        };
        reschedule(decision);
    }
    if deadline.is_some() {
        remove_sleeper(tid);
    }
    blocked.map(|_| ())
}

/// The IPC hand-off (a call delivered to a receiver waiting on this CPU, or
/// a reply to a caller of this CPU): makes the blocked thread `to` runnable,
/// blocks the current thread on `on` unless `woken` is already set (see
/// [`block_current_unless_woken`]), and switches straight to `to` when the
/// scheduler allows it (otherwise it picks). One thread-table-lock hold, and
/// IPIs only when another CPU must be told. Returns when the current thread
/// runs again; the caller re-checks its flag.
///
/// # Errors
/// What the scheduler refuses for the wait (e.g. `to` is dead); `to` is
/// runnable anyway and the current thread did not block.
pub fn ipc_handoff(
    to: ThreadId,
    on: sched::BlockedOn,
    woken: &core::sync::atomic::AtomicBool,
) -> Result<(), sched::SchedError> {
    let irq = IrqGuard::new();
    let Some(cpu) = percpu::current() else {
        return Ok(());
    };
    let Some(tid) = current_on(cpu) else {
        return Ok(());
    };
    let Some((next, targets, blocked)) = with_table(&irq, |sched, table, inboxes| {
        let woke = sched.wake(table, inboxes, to).unwrap_or(Decision::Stay);
        let blocked = if woken.load(Ordering::Acquire) {
            Ok(Decision::Stay)
        } else {
            sched
                .block(table, inboxes, tid, on)
                .map(|d| Decision::SwitchTo(to).combine(d))
        };
        let decision = woke.combine(*blocked.as_ref().unwrap_or(&Decision::Stay));
        let drained = sched.drain_inbox(table, inboxes).unwrap_or(Decision::Stay);
        let next = sched.apply(decision.combine(drained), rdtsc_ordered());
        (next, sched.take_ipi_targets(), blocked)
    }) else {
        return Ok(());
    };
    if !targets.is_empty() {
        kick(targets);
    }
    let prev = cpu.current_thread.load(Ordering::Acquire);
    let next_raw = next.map_or(u64::MAX, |t| u64::from(t.0));
    if prev != next_raw {
        switch_to(cpu, next_raw);
        finish_switch();
    }
    blocked.map(|_| ())
}

/// The scheduler half of the IPC fast path: the current thread `me` blocks
/// on `on` and the blocked thread `to` of this CPU runs, in one checked step
/// ([`sched::Scheduler::handoff`]), at TSC time `now`. Returns the thread to
/// switch to (`to` unless something more urgent waits).
///
/// # Errors
/// What the scheduler refuses; nothing changed.
#[inline(never)]
pub fn ipc_fast_handoff(
    me: ThreadId,
    on: sched::BlockedOn,
    to: ThreadId,
    now: u64,
) -> Result<ThreadId, sched::SchedError> {
    let irq = IrqGuard::new();
    let (next, targets) = with_table(&irq, |sched, table, inboxes| {
        let next = sched.handoff(table, inboxes, me, on, to, now)?;
        Ok((
            next,
            sched.has_ipi_targets().then(|| sched.take_ipi_targets()),
        ))
    })
    .unwrap_or_else(|| Err(sched::SchedError::NoSuchCpu(CpuId(percpu::index() as u16))))?;
    if let Some(targets) = targets {
        kick(targets);
    }
    Ok(next)
}

/// Makes a blocked thread runnable again (on its own CPU, through its inbox
/// and an IPI when that is another CPU) and returns the scheduling decision
/// for this CPU. Interrupts must be off.
pub(super) fn wake_decision(irq: &IrqGuard, tid: ThreadId) -> Decision {
    let Some((decision, targets)) = with_table(irq, |sched, table, inboxes| {
        let decision = sched.wake(table, inboxes, tid).unwrap_or(Decision::Stay);
        (decision, sched.take_ipi_targets())
    }) else {
        return Decision::Stay;
    };
    kick(targets);
    decision
}

/// Makes a blocked thread runnable again (on its own CPU) and, when it runs on
/// this CPU and should preempt, switches to it now.
pub fn wake_and_maybe_switch(tid: ThreadId) {
    let irq = IrqGuard::new();
    let decision = wake_decision(&irq, tid);
    if decision != Decision::Stay {
        reschedule(decision);
    }
}

/// Makes a blocked thread runnable again (on its own CPU); a preemption it
/// calls for happens at this CPU's next reschedule point.
pub fn wake(tid: ThreadId) {
    let irq = IrqGuard::new();
    let _ = wake_decision(&irq, tid);
}

/// Gives up the rest of the slice.
pub fn yield_now() {
    let irq = IrqGuard::new();
    let Some(decision) = with_sched(&irq, Scheduler::yield_now) else {
        return;
    };
    reschedule(decision);
}

/// The timer tick: wake sleepers, charge the slice, preempt when it says so.
pub fn on_timer_tick() {
    wake_sleepers(rdtsc_ordered());
    let irq = IrqGuard::new();
    let Some(decision) = with_sched(&irq, |sched| sched.tick(rdtsc_ordered())) else {
        return;
    };
    drop(irq);
    if decision != Decision::Stay {
        reschedule(decision);
    }
}

/// The idle context of a CPU: run threads when there are any, halt otherwise.
pub fn idle_loop() -> ! {
    let cpu = percpu::index();
    loop {
        x86_64::instructions::interrupts::disable();
        reschedule(Decision::Reschedule);
        crate::arch::x86_64::cpu::idle_wait(cpu);
    }
}
