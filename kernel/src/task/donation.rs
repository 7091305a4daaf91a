//! Scheduling-context donation on the IPC fast path: a same-CPU call runs
//! the server on the client's time slice without telling the scheduler,
//! and every scheduling event of the CPU first makes its books true
//! ([`materialize`]).

use core::sync::atomic::Ordering;

use sched::{Decision, Inboxes, Scheduler, ThreadId, ThreadTable};

use crate::arch::x86_64::cpu::rdtsc_ordered;
use crate::arch::x86_64::idt::TrapFrame;
use crate::percpu::{self, MAX_CPUS};

use super::*;

// Scheduling-context donation on the IPC fast path, per CPU
// (`PerCpu::ipc_donation`, packed `c << 32 | s`): while a client `c` that
// called a server `s` parked in its own fast path waits for the reply, the
// CPU runs `s` on `c`'s behalf without telling the scheduler: its books
// still say that `c` runs and `s` waits to receive, `c`'s slice pays for
// `s`'s time, and `s` runs at `c`'s priority (which, as `c` ran, nothing
// queued here beats). `s`'s reply ends the donation with nothing to undo,
// so a same-CPU call and its reply touch neither the thread table nor its
// lock. Anything that needs this CPU's books first makes them true
// ([`materialize`]): every [`with_sched`], so every tick, wake, block,
// yield and exit here, and so every scheduling decision of this CPU sees
// the true state. Other CPUs never decide from this CPU's books (they post
// to its inbox), so what they see of `c` and `s` meanwhile (`c` ready, `s`
// waiting to receive) only delays, to this CPU's next scheduling event,
// what they ask of it.

/// The (client, server) of a packed `PerCpu::ipc_donation`, if one is pending.
pub(super) fn pending(raw: u64) -> Option<(ThreadId, ThreadId)> {
    (raw != u64::MAX).then_some((ThreadId((raw >> 32) as u32), ThreadId(raw as u32)))
}

/// Every CPU's pending donation: (CPU, client, server).
pub(super) fn pending_donations()
-> impl Iterator<Item = (&'static percpu::PerCpu, ThreadId, ThreadId)> {
    (0..MAX_CPUS as u32)
        .filter_map(percpu::of)
        .filter_map(|cpu| {
            pending(cpu.ipc_donation.load(Ordering::Relaxed)).map(|(c, s)| (cpu, c, s))
        })
}

/// Whether `cpu` has a donation pending.
#[inline(always)]
pub(super) fn donating(cpu: &percpu::PerCpu) -> bool {
    cpu.ipc_donation.load(Ordering::Relaxed) != u64::MAX
}

/// Ends the donation of `sched`'s CPU by making its books true, at the
/// thread-table lock (held by the caller): the client blocks waiting for
/// the server's reply (lending it its priority) and the server is the
/// current thread, as the scheduler's own IPC hand-off would have left
/// them. When that is refused, or the client's result is already final
/// (the server's process died meanwhile), the server is simply made
/// current and the client merely preempted: it runs again through its
/// kernel stack, whose wait loop reads its result or blocks again as the
/// general path does. A queued thread that beats the server then runs as
/// soon as interrupts are on again (a reschedule IPI to this CPU).
pub(super) fn materialize(
    cpu: &percpu::PerCpu,
    sched: &mut Scheduler,
    table: &mut ThreadTable,
    inboxes: &Inboxes,
) {
    let Some((client, server)) = pending(cpu.ipc_donation.swap(u64::MAX, Ordering::Relaxed)) else {
        return;
    };
    // The client's IPC result flag (looked up here, not recorded with the
    // donation: the fast path then stores less).
    let final_result = crate::kipc::result_flag(client).load(Ordering::Acquire);
    let now = rdtsc_ordered();
    let on = sched::BlockedOn::Reply(server);
    if final_result
        || sched
            .handoff(table, inboxes, client, on, server, now)
            .is_err()
    {
        let _ = sched.wake(table, inboxes, server);
        if !sched.is_queued(server) {
            let _ = sched.drain_inbox(table, inboxes);
        }
    }
    if sched.adopt(table, server, now) == Ok(Decision::Reschedule) {
        // A queued thread (the client, when it was only preempted) beats the
        // server: a reschedule IPI to this CPU, taken as soon as interrupts
        // are on again, runs it without waiting for the next tick.
        let _ = crate::cpus::send(cpu.index, crate::cpus::IpiMessage::Reschedule);
    }
}

/// `server`, if the current thread of this CPU (`cpu`) may donate its
/// scheduling context to it for a same-CPU call: no donation is pending
/// here and `server` is parked in its own fast path (so it waits to
/// receive, on this CPU).
#[inline(always)]
pub fn donatable_fp(cpu: &percpu::PerCpu, server: ThreadId) -> Option<Parked> {
    if donating(cpu) {
        return None;
    }
    // `server` has an IPC record (the fast path found it waiting to
    // receive), so its kernel record is live: a thread leaves IPC with its
    // process (`kipc::on_process_exit`, in `process::set_exit`) before it
    // can exit, and joins it only while it runs.
    let thread = kthread_fp(server);
    // SAFETY: a record of the static table; `parked` is an atomic.
    (unsafe { &*thread }.parked.load(Ordering::Relaxed) != 0).then_some(Parked {
        tid: server,
        thread,
    })
}

/// `client`, if a reply of `server`, the current thread of this CPU
/// (`cpu`), to it ends this CPU's donation with the client still parked (so
/// the switch back is [`end_donation_to_parked_fp`]).
#[inline(always)]
pub fn donation_ends_fp(
    cpu: &percpu::PerCpu,
    client: ThreadId,
    server: ThreadId,
) -> Option<Parked> {
    if cpu.ipc_donation.load(Ordering::Relaxed) != u64::from(client.0) << 32 | u64::from(server.0) {
        return None;
    }
    // The client of a pending donation is parked, with its record in
    // `ipc_donor`: it parked when the donation began and runs again only at
    // its end (here) or after a scheduling event of this CPU, which first
    // ends the donation ([`materialize`], in every `with_sched`). So no
    // lookup and no test; debug builds check.
    let thread = cpu.ipc_donor.load(Ordering::Relaxed);
    debug_assert!(
        parked(client).is_some_and(|p| p.thread == thread),
        "a pending donation whose client is not parked"
    );
    Some(Parked {
        tid: client,
        thread,
    })
}

/// The current thread `client` of this CPU (`cpu`) calls `server`, parked
/// here in its own fast path, on the fast path, with no donation pending
/// here: the CPU runs `server` on its behalf (see [`materialize`]), entering
/// it with the data words of `from` (the client's syscall frame) and
/// `badge`; the client parks waiting on `on` (the reply). Never returns, as
/// [`switch_to_parked_fp`].
#[inline(always)]
pub fn donate_to_parked_fp<const XSAVE: bool, const PCID: bool>(
    cpu: &percpu::PerCpu,
    client: ThreadId,
    server: Parked,
    from: &TrapFrame,
    badge: u64,
    on: sched::BlockedOn,
) -> ! {
    let prev = cpu.current_kthread.load(Ordering::Relaxed);
    cpu.ipc_donation.store(
        u64::from(client.0) << 32 | u64::from(server.tid.0),
        Ordering::Relaxed,
    );
    cpu.ipc_donor.store(prev, Ordering::Relaxed);
    cpu.ipc_donations.fetch_add(1, Ordering::Relaxed);
    switch_to_parked_fp::<XSAVE, PCID>(cpu, prev, server, from, badge, on);
}

/// The server of this CPU's (`cpu`) donation, its current thread, replies
/// to its client, parked since the donation began, on the fast path: the
/// donation ends (the books were right all along) and the CPU switches back
/// to the client, entering it with the data words of `from` (the server's
/// syscall frame); the server parks waiting on `on` (its next call).
/// Never returns, as [`switch_to_parked_fp`].
#[inline(always)]
pub fn end_donation_to_parked_fp<const XSAVE: bool, const PCID: bool>(
    cpu: &percpu::PerCpu,
    client: Parked,
    from: &TrapFrame,
    on: sched::BlockedOn,
) -> ! {
    cpu.ipc_donation.store(u64::MAX, Ordering::Relaxed);
    let prev = cpu.current_kthread.load(Ordering::Relaxed);
    switch_to_parked_fp::<XSAVE, PCID>(cpu, prev, client, from, 0, on);
}

/// How many same-CPU calls ran their server by scheduling-context donation
/// since boot (all CPUs).
pub fn donations() -> u64 {
    (0..MAX_CPUS as u32)
        .filter_map(percpu::of)
        .map(|cpu| cpu.ipc_donations.load(Ordering::Relaxed))
        .sum()
}
