//! Synchronous IPC syscalls: call (with the fast path), send, recv, reply,
//! reply_recv; carrying out `ipc`'s actions; waiting for a result.

use core::sync::atomic::Ordering;

use ipc::IpcError;
use ipc::abi::SyscallFlags;
use ipc::audit::AuditKind;
use ipc::cap::{CapToken, EndpointId};
use ipc::endpoint::{Action, RecvMode, Refused, ThreadState};
use ipc::message::SmallMessage;
use sched::{BlockedOn, ThreadId};

use super::{IpcResult, KIPC, Kipc, ResultSlot, ThreadEntry, audit, now, op, slot, with_kipc};
use crate::task;

/// What the current thread does once [`KIPC`] is released.
#[derive(Default)]
struct After {
    /// Threads to make runnable (their slots are written).
    wake: [Option<ThreadId>; 4],
    /// A queued caller whose call was just received: it re-blocks as a
    /// `Reply` wait so that it lends its priority to its server.
    poke: Option<ThreadId>,
    /// This thread blocks: on what, until when.
    block: Option<(BlockedOn, Option<u64>)>,
    /// Switch straight to this thread.
    switch_to: Option<ThreadId>,
}

impl After {
    fn push_wake(&mut self, tid: ThreadId) {
        if let Some(free) = self.wake.iter_mut().find(|w| w.is_none()) {
            *free = Some(tid);
        }
    }
}

/// What `me` waits on in the scheduler, from its `ipc` state.
fn wait_reason(k: &Kipc, me: ThreadEntry) -> BlockedOn {
    match k.state.thread_state(me.tref) {
        Some(ThreadState::AwaitingReply { server }) => {
            k.tid_of(server).map_or(BlockedOn::Sleep, BlockedOn::Reply)
        }
        Some(ThreadState::Receiving { .. }) => BlockedOn::Receive,
        // Queued behind a busy server: wait for (and lend priority to) the
        // endpoint's server, so a low-priority server holding another call
        // is not starved by medium-priority work (priority inheritance).
        Some(ThreadState::Calling { endpoint, .. }) => k
            .state
            .endpoint_server(endpoint)
            .filter(|&server| server != me.tref)
            .and_then(|server| k.tid_of(server))
            .map_or(BlockedOn::Sleep, BlockedOn::Reply),
        _ => BlockedOn::Sleep,
    }
}

/// Carries out `actions` of an operation by `me` (kernel thread `tid`) under
/// [`KIPC`]: message words and statuses go into the slots of the threads
/// concerned; wake-ups, the block and the switch are returned for after the
/// lock. Deliveries to a receiver are counted in `endpoint`'s metrics.
fn apply(
    k: &Kipc,
    tid: ThreadId,
    me: ThreadEntry,
    actions: &[Action],
    endpoint: Option<EndpointId>,
    now: u64,
) -> After {
    let mut after = After::default();
    for action in actions {
        match *action {
            Action::Deliver {
                from,
                to,
                message,
                badge,
            } => {
                let Some(to_tid) = k.tid_of(to) else { continue };
                slot(to_tid).deliver(message.data(), badge);
                if message.opcode() == op::REPLY {
                    continue;
                }
                let from_tid = k.tid_of(from);
                if let (Some(from_tid), Some(metrics)) =
                    (from_tid, endpoint.and_then(|e| k.state.endpoint_metrics(e)))
                {
                    let sent = slot(from_tid).sent_tsc.load(Ordering::Relaxed);
                    metrics.record_recv(k.tsc_to_ns(now.saturating_sub(sent)));
                }
                if to == me.tref && from != me.tref {
                    // A queued call was received: its caller now waits for us.
                    after.poke = from_tid;
                }
            }
            Action::Block { thread, deadline } if thread == me.tref => {
                after.block = Some((wait_reason(k, me), deadline));
            }
            Action::Block { .. } => {}
            Action::Wake { thread, status } => {
                let Some(target) = k.tid_of(thread) else {
                    continue;
                };
                let s = slot(target);
                s.status
                    .store(ipc::error::status_from_result(status), Ordering::Relaxed);
                s.woken.store(true, Ordering::Release);
                if target != tid {
                    after.push_wake(target);
                }
            }
            Action::SwitchTo { thread } => after.switch_to = k.tid_of(thread),
        }
    }
    after
}

/// Carries out `after` for kernel thread `tid` (with [`KIPC`] released) and
/// returns its result: the status and message words of its slot. When the
/// thread blocks and hands the CPU to a thread it woke here (the fast path's
/// direct switch, or a reply to a caller of this CPU), waking, blocking and
/// switching are one scheduler step ([`task::ipc_handoff`]).
fn wait_result(tid: ThreadId, after: After) -> IpcResult {
    let handoff = match (after.block, after.switch_to) {
        (Some((on, None)), Some(to)) if after.wake.contains(&Some(to)) => Some((to, on)),
        _ => None,
    };
    if let Some(caller) = after.poke {
        task::wake(caller);
    }
    for target in after.wake.into_iter().flatten() {
        if handoff.is_some_and(|(to, _)| to == target) {
            continue;
        }
        if after.block.is_some() {
            // The switch happens when this thread blocks.
            task::wake(target);
        } else {
            task::wake_and_maybe_switch(target);
        }
    }
    let s = slot(tid);
    if let Some((to, on)) = handoff {
        let on = match task::ipc_handoff(to, on, &s.woken) {
            Ok(()) => on,
            // Not blocked (the server is gone, or lending would close a
            // cycle): wait without lending.
            Err(_) => BlockedOn::Sleep,
        };
        wait(tid, on, None, None);
    } else if let Some((on, deadline)) = after.block {
        wait(tid, on, after.switch_to, deadline);
    }
    consume(s)
}

/// The result in slot `s`, consumed: its `woken` flag is cleared, so it is
/// clear whenever its thread runs outside an IPC operation. The fast path
/// relies on that (it parks a thread without clearing it); the general
/// path's [`begin_operation`] clears it anyway.
fn consume(s: &ResultSlot) -> IpcResult {
    let result = s.result().map(|()| s.message());
    s.woken.store(false, Ordering::Relaxed);
    result
}

/// Blocks kernel thread `tid` until its slot's `woken` flag is set.
fn wait(tid: ThreadId, mut on: BlockedOn, mut hint: Option<ThreadId>, deadline: Option<u64>) {
    let s = slot(tid);
    loop {
        if s.woken.load(Ordering::Acquire) {
            return;
        }
        if let Some(deadline) = deadline
            && now() >= deadline
        {
            expire(tid, deadline);
            continue;
        }
        if task::block_current_unless_woken(on, hint, &s.woken, deadline).is_err() {
            // The scheduler refused the wait (the server is gone, or lending
            // would close a cycle): wait without lending; the server's death
            // or reply sets the flag.
            if on == BlockedOn::Sleep {
                // Cannot happen for the running thread; never spin.
                s.status.store(IpcError::Deadlock.code(), Ordering::Relaxed);
                s.woken.store(true, Ordering::Release);
            }
            on = BlockedOn::Sleep;
        }
        hint = None;
        if !s.woken.load(Ordering::Acquire) {
            // A stray wake-up, or our queued call was received: wait on what
            // the IPC state says now (a `Reply` wait lends our priority).
            let guard = KIPC.lock();
            if let Some(k) = guard.as_ref()
                && let Some(Some(me)) = k.threads.get(tid.0 as usize)
            {
                on = wait_reason(k, *me);
            }
        }
    }
}

/// The receive deadline of kernel thread `tid` passed.
fn expire(tid: ThreadId, deadline: u64) {
    let s = slot(tid);
    let mut guard = KIPC.lock();
    let Some(k) = guard.as_mut() else {
        s.status
            .store(IpcError::ProcessNotFound.code(), Ordering::Relaxed);
        s.woken.store(true, Ordering::Release);
        return;
    };
    let Some(Some(me)) = k.threads.get(tid.0 as usize).copied() else {
        // Left IPC (its process died): the death hook set the status, as
        // here (every setter of `woken` writes the status first).
        s.status
            .store(IpcError::ProcessNotFound.code(), Ordering::Relaxed);
        s.woken.store(true, Ordering::Release);
        return;
    };
    let actions = k.state.timeout(me.tref, now().max(deadline));
    let _ = apply(k, tid, me, &actions, None, 0);
    if !s.woken.load(Ordering::Acquire)
        && !matches!(
            k.state.thread_state(me.tref),
            Some(ThreadState::Receiving { .. })
        )
    {
        // Not waiting any more and nobody announced why: never wait forever.
        s.status
            .store(IpcError::InvalidArgument.code(), Ordering::Relaxed);
        s.woken.store(true, Ordering::Release);
    }
}

/// Starts an operation of kernel thread `tid`: its slot is reset, and
/// `sent` noted (when a call was made: the queueing latency of a call
/// received later, from the endpoint's queue).
fn begin(tid: ThreadId, sent: u64) {
    let s = slot(tid);
    s.woken.store(false, Ordering::Relaxed);
    s.status.store(0, Ordering::Relaxed);
    s.sent_tsc.store(sent, Ordering::Relaxed);
}

/// Audits a refusal of `token` and refines the error. Successful message
/// operations are not audited: a record costs as much as the rest of an IPC
/// operation, and the trail that matters (who got which capability, who lost
/// it, who was refused) is complete without them.
fn denied(k: &Kipc, me: ThreadEntry, token: CapToken, now: u64, error: IpcError) -> IpcError {
    let object = k.capability(me.process, token, now).map_or(0, |c| c.id());
    let error = k.refine(me.pid, token, error);
    audit::record(AuditKind::Denied, me.pid, token, object, Err(error));
    error
}

/// Whether a call by `me` through `token` could never be received: the
/// capability admits the call (rights, size, rate) to an endpoint of the caller's own process to which
/// no other process ever got a receive right, so the only possible receiver
/// is the caller itself (every process has one thread).
fn self_call(k: &Kipc, me: ThreadEntry, token: CapToken, now: u64) -> bool {
    let Some(space) = k.state.space(me.process) else {
        return false;
    };
    let admitted = k.state.registry().admits(
        space,
        token,
        ipc::cap::Access::Send,
        super::SMALL_MESSAGE_BYTES,
        now,
    );
    let Ok(capability) = admitted else {
        return false;
    };
    let ipc::cap::CapTarget::Endpoint(endpoint) = capability.target() else {
        return false;
    };
    k.endpoint_info(endpoint)
        .is_some_and(|info| info.owner == me.pid && !info.foreign_receiver)
}

/// `call` (`send_recv`): sends `data` through `token` and waits for the
/// reply words.
pub(super) fn call(
    tid: ThreadId,
    token: CapToken,
    flags: SyscallFlags,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    if !flags.is_empty() {
        return Err(IpcError::InvalidArgument);
    }
    let t = now();
    let after = with_kipc(|k| call_locked(k, tid, token, data, t))?;
    wait_result(tid, after).map(|(data, _)| data)
}

/// The start of an endpoint operation by `tid` through `token` at `t`:
/// its IPC thread record (its result slot cleared) and the endpoint the
/// capability names, if any (for metrics). Inlined: it sits on every
/// general path and its result is a pair, which a call would pass through
/// memory.
#[inline(always)]
fn begin_operation(
    k: &mut Kipc,
    tid: ThreadId,
    token: CapToken,
    t: u64,
) -> Result<(ThreadEntry, Option<EndpointId>), IpcError> {
    let me = k.thread_for(tid)?;
    begin(tid, t);
    Ok((me, k.endpoint_of(me.process, token, t)))
}

/// The general `call` under [`KIPC`], at TSC time `t`: what [`wait_result`]
/// then carries out.
fn call_locked(
    k: &mut Kipc,
    tid: ThreadId,
    token: CapToken,
    data: [u64; 4],
    t: u64,
) -> Result<After, IpcError> {
    let message = SmallMessage::new(token.0, op::CALL, 0, data);
    let (me, endpoint) = begin_operation(k, tid, token, t)?;
    // The fast path (`fast`), if on, was tried before this and refused;
    // `ipc`'s general `call` leaves the state its plan would have (by
    // property), so it is not tried again here.
    if self_call(k, me, token, t) {
        return Err(denied(k, me, token, t, IpcError::Deadlock));
    }
    // Filled in place: the actions are a few hundred bytes, and every move
    // of them is a copy.
    let mut actions = ipc::endpoint::Actions::new();
    if let Err(error) = k.state.call_into(me.tref, token, message, t, &mut actions) {
        return Err(denied(k, me, token, t, error));
    }
    if let Some(metrics) = endpoint.and_then(|e| k.state.endpoint_metrics(e)) {
        metrics.record_send();
    }
    Ok(apply(k, tid, me, &actions, endpoint, t))
}

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
/// ([`task::donate_to_parked`], [`task::end_donation_to_parked`]). When
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
        let accepted = k.state.fast_call_with(
            me,
            token,
            t,
            #[inline(always)]
            |receiver| task::donatable(cpu, ThreadId(receiver.0)).ok_or(()),
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
        // `donate_to_parked` counts the donation: `fast_path_hits` adds
        // those to the hand-offs.)
        // The result slot needs no reset: a thread outside IPC has its
        // `woken` flag clear ([`consume`]).
        debug_assert!(!slot(tid).woken.load(Ordering::Relaxed));
        let on = BlockedOn::Reply(ThreadId(plan.receiver().0));
        drop(guard);
        task::donate_to_parked::<XSAVE, PCID>(cpu, tid, server, frame, plan.badge(), on)
    } else {
        let accepted = k.state.fast_reply_recv_with(
            me,
            token,
            t,
            #[inline(always)]
            |caller| task::donation_ends(cpu, ThreadId(caller.0), tid).ok_or(()),
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
        task::end_donation_to_parked::<XSAVE, PCID>(cpu, client, frame, BlockedOn::Receive)
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
                handoff(BlockedOn::Reply(to), to)
            })
            .map(|(plan, next)| {
                let to = ThreadId(plan.receiver().0);
                (to, BlockedOn::Reply(to), next, plan.badge())
            })
    } else {
        k.state
            .fast_reply_recv(me, token, t, |caller| {
                handoff(BlockedOn::Receive, ThreadId(caller.0))
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

/// The result of a thread the fast path parked (waiting on `on`) and that
/// was resumed through its kernel stack (see `task::park_and_switch`), or
/// that did not switch after all: the general wake-up protocol.
pub(super) fn resumed(tid: ThreadId, on: BlockedOn) -> IpcResult {
    wait(tid, on, None, None);
    consume(slot(tid))
}

/// `send`: delivers `data` to a receiver waiting on `token`'s endpoint, or
/// fails with `WouldBlock`.
pub(super) fn send(
    tid: ThreadId,
    token: CapToken,
    flags: SyscallFlags,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    if !flags.is_empty() {
        return Err(IpcError::InvalidArgument);
    }
    let t = now();
    let message = SmallMessage::new(token.0, op::SEND, 0, data);
    let after = with_kipc(|k| {
        let (me, endpoint) = begin_operation(k, tid, token, t)?;
        let actions = match k.state.send(me.tref, token, message, t) {
            Err(IpcError::WouldBlock) => return Err(IpcError::WouldBlock),
            Err(error) => return Err(denied(k, me, token, t, error)),
            Ok(actions) => actions,
        };
        if let Some(metrics) = endpoint.and_then(|e| k.state.endpoint_metrics(e)) {
            metrics.record_send();
        }
        Ok(apply(k, tid, me, &actions, endpoint, t))
    })?;
    wait_result(tid, after).map(|_| [0; 4])
}

/// How a receive waits, from the syscall flags and data word 0.
fn recv_mode(flags: SyscallFlags, data: [u64; 4]) -> Result<RecvMode, IpcError> {
    if flags == SyscallFlags::NONBLOCK {
        Ok(RecvMode::NonBlocking)
    } else if flags == SyscallFlags::TIMEOUT {
        Ok(RecvMode::Until(data[0]))
    } else if flags.is_empty() {
        Ok(RecvMode::Block)
    } else {
        Err(IpcError::InvalidArgument)
    }
}

/// `recv`: the next message on `token`'s endpoint and its badge.
pub(super) fn recv(
    tid: ThreadId,
    token: CapToken,
    flags: SyscallFlags,
    data: [u64; 4],
) -> IpcResult {
    let mode = recv_mode(flags, data)?;
    let t = now();
    let after = with_kipc(|k| {
        let (me, endpoint) = begin_operation(k, tid, token, t)?;
        let result = k.state.recv(me.tref, token, mode, t);
        let actions = match result {
            Err(IpcError::WouldBlock) => return Err(IpcError::WouldBlock),
            Err(error) => return Err(denied(k, me, token, t, error)),
            Ok(actions) => actions,
        };
        Ok(apply(k, tid, me, &actions, endpoint, t))
    })?;
    wait_result(tid, after)
}

/// `reply`: answers the caller this thread is serving.
pub(super) fn reply(
    tid: ThreadId,
    flags: SyscallFlags,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    if !flags.is_empty() {
        return Err(IpcError::InvalidArgument);
    }
    let message = SmallMessage::new(0, op::REPLY, 0, data);
    let after = with_kipc(|k| {
        let me = k.thread_for(tid)?;
        begin(tid, 0);
        let actions = k.state.reply(me.tref, message)?;
        Ok(apply(k, tid, me, &actions, None, 0))
    })?;
    wait_result(tid, after).map(|_| [0; 4])
}

/// `reply_recv`: replies `data` to the caller being served (if any), then
/// receives on `token` as a blocking `recv`. When the server then waits and
/// the caller runs on this CPU, it switches straight to the caller (the
/// return half of the fast path).
pub(super) fn reply_recv(
    tid: ThreadId,
    token: CapToken,
    flags: SyscallFlags,
    data: [u64; 4],
) -> IpcResult {
    if !flags.is_empty() {
        // The data words carry the reply, so there is no room for a
        // deadline, and a reply cannot be undone to fail `WouldBlock`.
        return Err(IpcError::InvalidArgument);
    }
    let t = now();
    let after = with_kipc(|k| reply_recv_locked(k, tid, token, data, t))?;
    wait_result(tid, after)
}

/// The general `reply_recv` under [`KIPC`], at TSC time `t`: what
/// [`wait_result`] then carries out.
fn reply_recv_locked(
    k: &mut Kipc,
    tid: ThreadId,
    token: CapToken,
    data: [u64; 4],
    t: u64,
) -> Result<After, IpcError> {
    let message = SmallMessage::new(0, op::REPLY, 0, data);
    let (me, endpoint) = begin_operation(k, tid, token, t)?;
    let mut actions = ipc::endpoint::Actions::new();
    let result = k
        .state
        .reply_recv_into(me.tref, token, message, RecvMode::Block, t, &mut actions);
    if let Err(error) = result {
        return Err(denied(k, me, token, t, error));
    }
    Ok(apply(k, tid, me, &actions, endpoint, t))
}
