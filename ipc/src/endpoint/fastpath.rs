//! The IPC fast path, shaped like seL4's `fastpath_call`.
//!
//! [`IpcState::plan_fastpath`] is a straight line of guards over `&self`; any
//! guard that fails sends the syscall to the slow path ([`IpcState::call`]).
//! Only then comes the point of no return and [`IpcState::commit`], which
//! cannot fail. The fast path applies to a `call` whose capability is valid,
//! unexpired, unmetered (no rate or bandwidth bucket to charge), allows
//! sending 32 bytes, and names an endpoint where a receiver already waits on
//! the caller's CPU. Wherever it applies it must leave exactly the state and
//! actions the slow path would (`tests/fastpath.rs` checks this by property).

use super::{Actions, IpcState, SMALL_PAYLOAD_BYTES, ThreadRef, ThreadState};
use crate::cap::{CapTarget, CapToken, EndpointId};
use crate::message::SmallMessage;

/// Everything `commit` needs, gathered by `plan_fastpath`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct FastPlan {
    caller: ThreadRef,
    receiver: ThreadRef,
    endpoint: EndpointId,
    badge: u64,
}

impl FastPlan {
    /// The thread that will run next.
    #[must_use]
    pub const fn receiver(&self) -> ThreadRef {
        self.receiver
    }

    /// The endpoint called (for its metrics).
    #[must_use]
    pub const fn endpoint(&self) -> EndpointId {
        self.endpoint
    }

    /// The capability's badge the receiver gets.
    #[must_use]
    pub const fn badge(&self) -> u64 {
        self.badge
    }
}

/// Everything [`IpcState::commit_reply_recv`] needs, gathered by
/// [`IpcState::plan_reply_recv_fast`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct FastReplyPlan {
    server: ThreadRef,
    caller: ThreadRef,
    endpoint: EndpointId,
}

impl FastReplyPlan {
    /// The caller that gets the reply and runs next.
    #[must_use]
    pub const fn caller(&self) -> ThreadRef {
        self.caller
    }
}

/// The fast path does not apply; take the slow path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slow;

impl IpcState {
    /// Decides whether `caller`'s call through `token` can take the fast path,
    /// changing nothing.
    ///
    /// # Errors
    /// [`Slow`] if any guard fails; the slow path then decides the outcome
    /// (which may be an error, or success by another route).
    #[inline]
    pub fn plan_fastpath(
        &self,
        caller: ThreadRef,
        token: CapToken,
        now_tsc: u64,
    ) -> Result<FastPlan, Slow> {
        let me = self.thread(caller).ok_or(Slow)?;
        if me.state != ThreadState::Running {
            return Err(Slow);
        }
        let space = self.space(me.process).ok_or(Slow)?;
        let handle = space.resolve(&self.registry, token).map_err(|_| Slow)?;
        let object = self.registry.object(handle).ok_or(Slow)?;
        let capability = &object.capability;
        let CapTarget::Endpoint(endpoint) = capability.target() else {
            return Err(Slow);
        };
        // The most common refusal first: no receiver waiting on this CPU
        // (a server elsewhere, or busy).
        let receiver = *self
            .endpoint(endpoint)
            .ok_or(Slow)?
            .receivers
            .front()
            .ok_or(Slow)?;
        if self.thread(receiver).ok_or(Slow)?.cpu != me.cpu {
            return Err(Slow);
        }
        if !object.is_unmetered()
            || capability.limits().is_expired(now_tsc)
            || !capability.permissions().can_send
            || (capability.permissions().max_message_size as u64) < SMALL_PAYLOAD_BYTES
        {
            return Err(Slow);
        }
        Ok(FastPlan {
            caller,
            receiver,
            endpoint,
            badge: capability.badge(),
        })
    }

    // --- POINT OF NO RETURN ---

    /// Carries out a plan from [`IpcState::plan_fastpath`]: the receiver
    /// leaves the endpoint's queue and serves the caller, the caller waits for
    /// the reply, and the kernel switches straight to the receiver, which gets
    /// `message` (the guards never look at it: a small message always fits).
    ///
    /// `plan` must come from `plan_fastpath` on this state with no change in
    /// between (the kernel holds the state across both); a stale plan is a
    /// kernel bug, caught by debug assertions.
    pub fn commit(&mut self, plan: FastPlan, message: SmallMessage) -> Actions {
        self.commit_state(plan);
        let FastPlan {
            caller,
            receiver,
            badge,
            ..
        } = plan;
        super::ops::call_received(caller, receiver, message, badge)
    }

    /// The state change of [`IpcState::commit`] without building its
    /// actions: the kernel's fast path delivers `plan`'s message itself
    /// (the receiver gets the words and [`FastPlan::badge`]; the caller
    /// blocks; the kernel switches to the receiver).
    #[inline(always)]
    pub fn commit_state(&mut self, plan: FastPlan) {
        let FastPlan {
            caller,
            receiver,
            endpoint,
            ..
        } = plan;
        let dequeued = self
            .endpoint_mut(endpoint)
            .and_then(|queue| queue.receivers.pop_front());
        debug_assert_eq!(dequeued, Some(receiver), "stale fast-path plan");
        if let Some(server) = self.thread_mut(receiver) {
            server.state = ThreadState::Running;
            server.serving = Some(caller);
        }
        if let Some(me) = self.thread_mut(caller) {
            debug_assert_eq!(me.state, ThreadState::Running, "stale fast-path plan");
            me.state = ThreadState::AwaitingReply { server: receiver };
        }
    }

    /// Decides whether `server`'s `reply_recv` through `token` (blocking
    /// mode) can take the fast path, changing nothing: the server serves a
    /// caller of its CPU that awaits its reply, the capability admits
    /// receiving (receiving is never metered), and no call is queued on the
    /// endpoint, so the server will wait and the caller runs next (seL4's
    /// `fastpath_reply_recv`).
    ///
    /// # Errors
    /// [`Slow`] if any guard fails.
    #[inline]
    pub fn plan_reply_recv_fast(
        &self,
        server: ThreadRef,
        token: CapToken,
        now_tsc: u64,
    ) -> Result<FastReplyPlan, Slow> {
        let me = self.thread(server).ok_or(Slow)?;
        if me.state != ThreadState::Running {
            return Err(Slow);
        }
        let caller = me.serving.ok_or(Slow)?;
        // The cheapest refusal first: a caller on another CPU (the common
        // slow case) is known before any capability lookup.
        let client = self.thread(caller).ok_or(Slow)?;
        if client.state != (ThreadState::AwaitingReply { server }) || client.cpu != me.cpu {
            return Err(Slow);
        }
        // `CapRegistry::admits` for receiving (no size, never metered),
        // inlined as in `plan_fastpath`: its general form costs a call and
        // an error value per guard.
        let space = self.space(me.process).ok_or(Slow)?;
        let handle = space.resolve(&self.registry, token).map_err(|_| Slow)?;
        let capability = &self.registry.object(handle).ok_or(Slow)?.capability;
        if capability.limits().is_expired(now_tsc) || !capability.permissions().can_receive {
            return Err(Slow);
        }
        let CapTarget::Endpoint(endpoint) = capability.target() else {
            return Err(Slow);
        };
        if !self.endpoint(endpoint).ok_or(Slow)?.callers.is_empty() {
            return Err(Slow);
        }
        Ok(FastReplyPlan {
            server,
            caller,
            endpoint,
        })
    }

    // --- POINT OF NO RETURN ---

    /// Carries out a plan from [`IpcState::plan_reply_recv_fast`]: the caller
    /// is answered (the kernel delivers the reply words, badge 0) and runs;
    /// the server waits on the endpoint. The state is what
    /// [`IpcState::reply_recv`] leaves.
    #[inline(always)]
    pub fn commit_reply_recv(&mut self, plan: FastReplyPlan) {
        let FastReplyPlan {
            server,
            caller,
            endpoint,
        } = plan;
        if let Some(client) = self.thread_mut(caller) {
            debug_assert_eq!(
                client.state,
                ThreadState::AwaitingReply { server },
                "stale fast-path plan"
            );
            client.state = ThreadState::Running;
        }
        if let Some(me) = self.thread_mut(server) {
            me.serving = None;
            me.state = ThreadState::Receiving {
                endpoint,
                deadline: None,
            };
        }
        if let Some(queue) = self.endpoint_mut(endpoint) {
            debug_assert!(queue.callers.is_empty(), "stale fast-path plan");
            queue.last_receiver = Some(server);
            queue.receivers.push_back(server);
        }
    }

    /// The fast path in one call: plan, then commit. The kernel's syscall
    /// entry tries this first and falls back to [`IpcState::call`].
    ///
    /// # Errors
    /// [`Slow`] when the fast path does not apply (nothing changed).
    pub fn call_fast(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        now_tsc: u64,
    ) -> Result<Actions, Slow> {
        let plan = self.plan_fastpath(caller, token, now_tsc)?;
        Ok(self.commit(plan, message))
    }
}
