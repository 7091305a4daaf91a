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

use super::{Action, Actions, IpcState, SMALL_PAYLOAD_BYTES, ThreadRef, ThreadState};
use crate::cap::{CapTarget, CapToken, EndpointId};
use crate::message::SmallMessage;

/// Everything `commit` needs, gathered by `plan_fastpath`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct FastPlan {
    caller: ThreadRef,
    receiver: ThreadRef,
    endpoint: EndpointId,
    message: SmallMessage,
    badge: u64,
}

impl FastPlan {
    /// The thread that will run next.
    #[must_use]
    pub const fn receiver(&self) -> ThreadRef {
        self.receiver
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
    pub fn plan_fastpath(
        &self,
        caller: ThreadRef,
        token: CapToken,
        message: SmallMessage,
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
        if !object.is_unmetered()
            || capability.limits().is_expired(now_tsc)
            || !capability.permissions().can_send
            || (capability.permissions().max_message_size as u64) < SMALL_PAYLOAD_BYTES
        {
            return Err(Slow);
        }
        let CapTarget::Endpoint(endpoint) = capability.target() else {
            return Err(Slow);
        };
        let receiver = *self
            .endpoint(endpoint)
            .ok_or(Slow)?
            .receivers
            .front()
            .ok_or(Slow)?;
        if self.thread(receiver).ok_or(Slow)?.cpu != me.cpu {
            return Err(Slow);
        }
        Ok(FastPlan {
            caller,
            receiver,
            endpoint,
            message,
            badge: capability.badge(),
        })
    }

    // --- POINT OF NO RETURN ---

    /// Carries out a plan from [`IpcState::plan_fastpath`]: the receiver
    /// leaves the endpoint's queue and serves the caller, the caller waits for
    /// the reply, and the kernel switches straight to the receiver.
    ///
    /// `plan` must come from `plan_fastpath` on this state with no change in
    /// between (the kernel holds the state across both); a stale plan is a
    /// kernel bug, caught by debug assertions.
    pub fn commit(&mut self, plan: FastPlan) -> Actions {
        let FastPlan {
            caller,
            receiver,
            endpoint,
            message,
            badge,
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
        let mut actions = Actions::new();
        actions.push(Action::Deliver {
            from: caller,
            to: receiver,
            message,
            badge,
        });
        actions.push(Action::Block {
            thread: caller,
            deadline: None,
        });
        actions.push(Action::Wake {
            thread: receiver,
            status: Ok(()),
        });
        actions.push(Action::SwitchTo { thread: receiver });
        actions
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
        let plan = self.plan_fastpath(caller, token, message, now_tsc)?;
        Ok(self.commit(plan))
    }
}
