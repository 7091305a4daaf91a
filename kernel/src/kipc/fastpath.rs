//! The IPC fast path of `call` and `reply_recv`, read top to bottom as
//! seL4's `fastpath_call`: [`fast`] runs `ipc`'s guards (which change
//! nothing), the kernel's last check (a scheduling-context donation, or its
//! end), the point of no return and `ipc`'s commit, then the switch
//! (`task::donate_to_parked_fp`, `task::end_donation_to_parked_fp`, both
//! through `task::switch_to_parked_fp`). When only the last check refused,
//! [`by_handoff`] asks the scheduler's checked hand-off instead; when a
//! guard refused, [`general`] runs the general operation under the same
//! lock hold. Helpers only the fast path uses end in `_fp`.

use core::sync::atomic::Ordering;

use ipc::IpcError;
use ipc::cap::CapToken;
use ipc::endpoint::Refused;
use sched::{BlockedOn, ThreadId};

use crate::task;

use super::calls::{call_locked, reply_recv_locked, resumed, wait_result};
use super::{IpcResult, KIPC, Kipc, now, slot};

/// The fast paths of `call` and `reply_recv` (seL4's `fastpath_call` and
/// `fastpath_reply_recv`) of the current thread `tid` of this CPU (`cpu`),
/// whose syscall frame is `frame` (capability in `rdi`, data words in `rdx
/// r10 r8 r9`), tried by the syscall dispatcher before anything else. Under
/// [`KIPC`], one pass of `ipc` (`fast_call` / `fast_reply_recv`): its guards
/// (the partner waits on this CPU, the capability admits the operation
/// unmetered), then this kernel's last check, then the point of no return
/// and `ipc`'s commit (which counts the message in the endpoint's
/// metrics); then the counters, and after the lock a direct switch to the
/// partner. The last check of this pass is the steady state of a same-CPU
/// client and server: the partner is parked in its own fast path and the
/// switch is a scheduling-context donation (a call) or its end (the
/// server's `reply_recv`), straight from one syscall frame into the other
/// ([`task::donate_to_parked_fp`], [`task::end_donation_to_parked_fp`]). When
/// only that check refused, a second pass ([`by_handoff`]) asks the
/// scheduler's checked hand-off instead (so the first pass carries no
/// choice between the two through its commit).
/// When a guard refuses (nothing changed), the general operation runs at
/// once under the same hold of [`KIPC`] (a cross-CPU partner would
/// otherwise pay for the lock, the clock and the thread lookup twice).
/// Returns this thread's result when it did not switch after all (or the
/// operation ran the general way). Once it switched, it never returns: this
/// thread parks with no kernel context and runs again either straight into
/// user mode or through its kernel stack, from a context that finishes the
/// syscall with [`resumed`] (`crate::syscall::finish_parked_syscall`). The caller
/// passes no flags (the general path checks them).
///
/// `XSAVE` and `PCID` are this CPU's `arch::xsave_on` and
/// `cpu::pcid_on` (see `crate::syscall::fast_dispatch`).
///
/// # Safety
/// The caller saw [`super::FAST_READY`] set (so the IPC state exists).
pub(super) unsafe fn fast<const XSAVE: bool, const PCID: bool>(
    cpu: &crate::percpu::PerCpu,
    tid: ThreadId,
    call: bool,
    frame: &crate::arch::x86_64::idt::TrapFrame,
) -> IpcResult {
    let t = now();
    let mut guard = crate::sync::lock_irqs_off(&KIPC);
    // SAFETY: the caller saw `FAST_READY` (this function's contract), set
    // under this lock only once the state exists, which is never destroyed:
    // taking the lock after that store, this hold sees `Some`.
    let k = unsafe { guard.as_mut().unwrap_unchecked() };
    // A thread without an `ipc` record yet fails the guards; the general
    // operation then creates it.
    let me = super::tref_of(tid);
    let token = CapToken(frame.rdi);
    // `ipc`'s last check is the kernel's (an `ipc` thread has a kernel
    // thread of the same id); when only it declined (`Refused::Declined`),
    // the hand-off is asked in a second pass.
    if call {
        let accepted = k.state.fast_call(
            me,
            token,
            t,
            #[inline(always)]
            |receiver| task::donatable_fp(cpu, ThreadId(receiver.0)).ok_or(()),
        );
        let (plan, server) = match accepted {
            Ok(accepted) => accepted,
            Err(Refused::Declined(())) => {
                return by_handoff(guard, cpu, tid, token, frame, t, true);
            }
            Err(Refused::Slow) => return general(guard, tid, token, frame, t, true),
        };
        // --- PAST THE POINT OF NO RETURN ---
        // (`ipc` counted the message in the endpoint's metrics, and
        // `donate_to_parked_fp` counts the donation: `fast_path_hits` adds
        // those to the hand-offs.)
        // The result slot needs no reset: a thread outside IPC has its
        // `woken` flag clear ([`consume`]).
        debug_assert!(!slot(tid).woken.load(Ordering::Relaxed));
        let on = BlockedOn::Reply(ThreadId(plan.receiver().0));
        drop(guard);
        task::donate_to_parked_fp::<XSAVE, PCID>(cpu, tid, server, frame, plan.badge(), on)
    } else {
        let accepted = k.state.fast_reply_recv(
            me,
            token,
            t,
            #[inline(always)]
            |caller| task::donation_ends_fp(cpu, ThreadId(caller.0), tid).ok_or(()),
        );
        let (_, client) = match accepted {
            Ok(accepted) => accepted,
            Err(Refused::Declined(())) => {
                return by_handoff(guard, cpu, tid, token, frame, t, false);
            }
            Err(Refused::Slow) => return general(guard, tid, token, frame, t, false),
        };
        // --- PAST THE POINT OF NO RETURN ---
        cpu.ipc_fast_replies.fetch_add(1, Ordering::Relaxed);
        // The result slot needs no reset: a thread outside IPC has its
        // `woken` flag clear ([`consume`]).
        debug_assert!(!slot(tid).woken.load(Ordering::Relaxed));
        drop(guard);
        task::end_donation_to_parked_fp::<XSAVE, PCID>(cpu, client, frame, BlockedOn::Receive)
    }
}

/// The general `call` (`call`) or `reply_recv` of `tid` through `token`
/// (its syscall `frame`, at TSC time `t`) under the fast path's hold of
/// [`KIPC`] (`guard`), when the fast path does not apply; the wait, if any,
/// after the lock.
#[inline(always)]
fn general(
    mut guard: crate::sync::IrqsOffGuard<'_, Option<Kipc>>,
    tid: ThreadId,
    token: CapToken,
    frame: &crate::arch::x86_64::idt::TrapFrame,
    t: u64,
    call: bool,
) -> IpcResult {
    let Some(k) = guard.as_mut() else {
        return Err(IpcError::ProcessNotFound);
    };
    let after = if call {
        call_locked(k, tid, token, frame.data_words(), t)
    } else {
        reply_recv_locked(k, tid, token, frame.data_words(), t)
    };
    drop(guard);
    let result = after.and_then(|after| wait_result(tid, after));
    // As the general syscall returns: `call` leaves `rsi` 0.
    if call {
        result.map(|(data, _)| (data, 0))
    } else {
        result
    }
}

/// The fast `call` (`call`) or `reply_recv` of `tid` (the current thread
/// of `cpu`) through `token` (its syscall `frame`, at TSC time `t`, under
/// `guard`) when [`fast`]'s guards passed but no donation was possible
/// (nothing changed since): a second pass whose last check is the
/// scheduler's checked hand-off ([`task::ipc_fast_handoff`]); when the
/// scheduler refuses too, the general operation under the same hold.
#[inline(never)]
fn by_handoff(
    mut guard: crate::sync::IrqsOffGuard<'_, Option<Kipc>>,
    cpu: &crate::percpu::PerCpu,
    tid: ThreadId,
    token: CapToken,
    frame: &crate::arch::x86_64::idt::TrapFrame,
    t: u64,
    call: bool,
) -> IpcResult {
    let Some(k) = guard.as_mut() else {
        return Err(IpcError::ProcessNotFound);
    };
    let me = super::tref_of(tid);
    let handoff = |on: BlockedOn, to: ThreadId| task::ipc_fast_handoff(tid, on, to, t).ok();
    // (the partner, what this thread waits on, the thread to run, the badge)
    let accepted = if call {
        k.state
            .fast_call(me, token, t, |receiver| {
                let to = ThreadId(receiver.0);
                handoff(BlockedOn::Reply(to), to).ok_or(())
            })
            .map(|(plan, next)| {
                let to = ThreadId(plan.receiver().0);
                (to, BlockedOn::Reply(to), next, plan.badge())
            })
    } else {
        k.state
            .fast_reply_recv(me, token, t, |caller| {
                handoff(BlockedOn::Receive, ThreadId(caller.0)).ok_or(())
            })
            .map(|(caller, next)| (ThreadId(caller.0), BlockedOn::Receive, next, 0))
    };
    let Ok((to, on, next, badge)) = accepted else {
        return general(guard, tid, token, frame, t, call);
    };
    // --- PAST THE POINT OF NO RETURN ---
    if call {
        cpu.ipc_fast_handoff_calls.fetch_add(1, Ordering::Relaxed);
    } else {
        cpu.ipc_fast_replies.fetch_add(1, Ordering::Relaxed);
        cpu.ipc_fast_handoff_replies.fetch_add(1, Ordering::Relaxed);
    }
    debug_assert!(!slot(tid).woken.load(Ordering::Relaxed));
    switch_after_handoff(guard, tid, on, to, next, (frame.data_words(), badge))
}

/// The end of a fast path whose switch is the scheduler's hand-off to
/// `next`: the partner `to` gets `message` (its data words and badge),
/// straight into its syscall frame when it is parked and runs next, else in
/// its slot; then the lock (`guard`) goes and the CPU switches (and this
/// thread parks: it returns only if nothing switched, see
/// [`task::park_and_switch`]), returning this thread's result. Out of line:
/// the steady state of a same-CPU client and server donates instead.
#[inline(never)]
fn switch_after_handoff(
    guard: crate::sync::IrqsOffGuard<'_, Option<Kipc>>,
    tid: ThreadId,
    on: BlockedOn,
    to: ThreadId,
    next: ThreadId,
    message: ([u64; 4], u64),
) -> IpcResult {
    let direct = (next == to && task::is_parked(to)).then_some(message);
    if direct.is_none() {
        let partner = slot(to);
        partner.deliver(message.0, message.1);
        partner.status.store(0, Ordering::Relaxed);
        partner.woken.store(true, Ordering::Release);
    }
    drop(guard);
    task::park_and_switch(next, direct, on);
    resumed(tid, on)
}
