//! Synchronous IPC syscalls: call (with the fast path), send, recv, reply,
//! reply_recv; carrying out `ipc`'s actions; waiting for a result.

use core::sync::atomic::Ordering;

use ipc::IpcError;
use ipc::abi::SyscallFlags;
use ipc::audit::AuditKind;
use ipc::cap::{CapToken, EndpointId};
use ipc::endpoint::{Action, RecvMode, ThreadState};
use ipc::message::SmallMessage;
use sched::{BlockedOn, ThreadId};

use super::{IpcResult, KIPC, Kipc, ResultSlot, ThreadEntry, audit, now, op, slot, with_kipc};
use crate::task;

/// What the current thread does once [`KIPC`] is released.
#[derive(Default)]
pub(super) struct After {
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
pub(super) fn wait_result(tid: ThreadId, after: After) -> IpcResult {
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
pub(super) fn call_locked(
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
pub(super) fn reply_recv_locked(
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
