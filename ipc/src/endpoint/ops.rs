//! The slow path of synchronous IPC: call, send, recv, reply, reply_recv.
//!
//! Every operation validates everything before changing anything, so an
//! `Err` leaves the state untouched.

use super::{Action, Actions, IpcState, SMALL_PAYLOAD_BYTES, ThreadRef, ThreadState};
use crate::cap::{Access, CapTarget, CapToken, EndpointId};
use crate::error::IpcError;
use crate::message::SmallMessage;

/// How a receive waits when no caller is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvMode {
    /// Block until a message arrives.
    Block,
    /// Fail with [`IpcError::WouldBlock`] instead of blocking.
    NonBlocking,
    /// Block until a message arrives or the TSC reaches the deadline
    /// ([`IpcError::Timeout`]).
    Until(u64),
}

/// The actions of a call received at once by a waiting receiver: the
/// message goes to it, the caller blocks for the reply, the receiver wakes,
/// and (last) the kernel switches straight to it.
pub(super) fn call_received(
    caller: ThreadRef,
    receiver: ThreadRef,
    message: SmallMessage,
    badge: u64,
) -> Actions {
    let mut actions = Actions::new();
    push_call_received(&mut actions, caller, receiver, message, badge);
    actions
}

/// [`call_received`] appended to `actions`.
fn push_call_received(
    actions: &mut Actions,
    caller: ThreadRef,
    receiver: ThreadRef,
    message: SmallMessage,
    badge: u64,
) {
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
}

/// The actions `fill` appends to an empty list, or its error (the by-value
/// form of the `_into` operations).
fn filled(fill: impl FnOnce(&mut Actions) -> Result<(), IpcError>) -> Result<Actions, IpcError> {
    let mut actions = Actions::new();
    fill(&mut actions)?;
    Ok(actions)
}

impl IpcState {
    /// Checks that `thread` is running and may use `token` for `access`;
    /// returns the endpoint and the capability's badge. With
    /// `require_receiver`, fails with [`IpcError::WouldBlock`] unless a
    /// receiver waits. Charges the rate limits last, only when all else passed.
    fn endpoint_for(
        &mut self,
        thread: ThreadRef,
        token: CapToken,
        access: Access,
        require_receiver: bool,
        now_tsc: u64,
    ) -> Result<(EndpointId, u64), IpcError> {
        let me = self.thread(thread).ok_or(IpcError::InvalidArgument)?;
        if me.state != ThreadState::Running {
            return Err(IpcError::InvalidArgument);
        }
        let space = super::space_of(&self.spaces, me.process)?;
        let bytes = if access == Access::Send {
            SMALL_PAYLOAD_BYTES
        } else {
            0
        };
        let capability = self.registry.admits(space, token, access, bytes, now_tsc)?;
        let CapTarget::Endpoint(endpoint) = capability.target() else {
            return Err(IpcError::InvalidCapability);
        };
        let queue = self.endpoint(endpoint).ok_or(IpcError::InvalidCapability)?;
        if require_receiver && queue.receivers.is_empty() {
            return Err(IpcError::WouldBlock);
        }
        let capability = self.registry.check(space, token, access, bytes, now_tsc)?;
        Ok((endpoint, capability.badge()))
    }

    /// Pops the oldest receiver waiting on `endpoint` and marks it running.
    fn take_receiver(&mut self, endpoint: EndpointId) -> Option<ThreadRef> {
        let Self {
            endpoints, threads, ..
        } = self;
        let receiver = super::endpoint_in_mut(endpoints, endpoint)?
            .receivers
            .pop_front(threads)?;
        if let Some(thread) = self.thread_mut(receiver) {
            thread.state = ThreadState::Running;
        }
        Some(receiver)
    }

    fn same_cpu(&self, a: ThreadRef, b: ThreadRef) -> bool {
        matches!((self.thread(a), self.thread(b)), (Some(a), Some(b)) if a.cpu == b.cpu)
    }

    /// Sends `message` through `token` and waits for the reply (the design's
    /// `send_recv`). If a receiver waits, the message goes to it at once and,
    /// on the same CPU, the kernel switches to it directly.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] if `caller` is not a running thread;
    /// capability errors as [`crate::cap::CapRegistry::check`] (with
    /// [`IpcError::InvalidCapability`] for a non-endpoint target).
    pub fn call(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        now_tsc: u64,
    ) -> Result<Actions, IpcError> {
        filled(|actions| self.call_into(caller, token, message, now_tsc, actions))
    }

    /// [`IpcState::call`] with its actions appended to `actions` (which
    /// must be empty): no list to move out of a `Result` and again into the
    /// caller's frame, a few hundred bytes each time.
    ///
    /// # Errors
    /// As [`IpcState::call`]; `actions` is then unchanged.
    pub fn call_into(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        now_tsc: u64,
        actions: &mut Actions,
    ) -> Result<(), IpcError> {
        let (endpoint, badge) = self.endpoint_for(caller, token, Access::Send, false, now_tsc)?;
        match self.take_receiver(endpoint) {
            Some(receiver) => {
                if let Some(server) = self.thread_mut(receiver) {
                    server.serving = Some(caller);
                }
                if let Some(me) = self.thread_mut(caller) {
                    me.state = ThreadState::AwaitingReply { server: receiver };
                }
                push_call_received(actions, caller, receiver, message, badge);
                if !self.same_cpu(caller, receiver) {
                    actions.pop(); // no direct switch to another CPU's thread
                }
            }
            None => {
                if let Some(me) = self.thread_mut(caller) {
                    me.state = ThreadState::Calling {
                        endpoint,
                        message,
                        badge,
                    };
                }
                if let Some(queue) = self.endpoint_mut(endpoint) {
                    queue.callers.push_back(caller);
                }
                actions.push(Action::Block {
                    thread: caller,
                    deadline: None,
                });
            }
        }
        Ok(())
    }

    /// Delivers `message` to a receiver waiting on the endpoint, without
    /// waiting for a reply; never blocks.
    ///
    /// # Errors
    /// [`IpcError::WouldBlock`] if no receiver waits (nothing is charged),
    /// else as [`IpcState::call`].
    pub fn send(
        &mut self,
        sender: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        now_tsc: u64,
    ) -> Result<Actions, IpcError> {
        let (endpoint, badge) = self.endpoint_for(sender, token, Access::Send, true, now_tsc)?;
        let receiver = self.take_receiver(endpoint).ok_or(IpcError::WouldBlock)?;
        let mut actions = Actions::new();
        actions.push(Action::Deliver {
            from: sender,
            to: receiver,
            message,
            badge,
        });
        actions.push(Action::Wake {
            thread: receiver,
            status: Ok(()),
        });
        Ok(actions)
    }

    /// Receives the oldest queued call on `token`'s endpoint, or waits as
    /// `mode` says. After a call is received, `receiver` must reply before
    /// receiving again.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] if `receiver` is not running or still owes
    /// a reply; [`IpcError::WouldBlock`] for [`RecvMode::NonBlocking`] with
    /// no caller queued; capability errors as [`IpcState::call`].
    pub fn recv(
        &mut self,
        receiver: ThreadRef,
        token: CapToken,
        mode: RecvMode,
        now_tsc: u64,
    ) -> Result<Actions, IpcError> {
        if self.serving(receiver).is_some() {
            return Err(IpcError::InvalidArgument);
        }
        let (endpoint, _) = self.endpoint_for(receiver, token, Access::Receive, false, now_tsc)?;
        if mode == RecvMode::NonBlocking
            && self
                .endpoint(endpoint)
                .is_some_and(|e| e.callers.is_empty())
        {
            return Err(IpcError::WouldBlock);
        }
        let mut actions = Actions::new();
        self.receive_or_wait(receiver, endpoint, mode, &mut actions);
        Ok(actions)
    }

    /// The receive half shared by `recv` and `reply_recv`, after all checks.
    fn receive_or_wait(
        &mut self,
        receiver: ThreadRef,
        endpoint: EndpointId,
        mode: RecvMode,
        actions: &mut Actions,
    ) {
        let caller = self.endpoint_mut(endpoint).and_then(|queue| {
            queue.last_receiver = Some(receiver);
            queue.callers.pop_front()
        });
        match caller.and_then(|caller| Some((caller, self.thread(caller)?.state))) {
            Some((caller, ThreadState::Calling { message, badge, .. })) => {
                if let Some(client) = self.thread_mut(caller) {
                    client.state = ThreadState::AwaitingReply { server: receiver };
                }
                if let Some(me) = self.thread_mut(receiver) {
                    me.serving = Some(caller);
                }
                actions.push(Action::Deliver {
                    from: caller,
                    to: receiver,
                    message,
                    badge,
                });
            }
            _ => {
                let deadline = match mode {
                    RecvMode::Until(deadline) => Some(deadline),
                    RecvMode::Block | RecvMode::NonBlocking => None,
                };
                if let Some(me) = self.thread_mut(receiver) {
                    me.state = ThreadState::Receiving { endpoint, deadline };
                }
                if let Some(queue) = super::endpoint_in_mut(&mut self.endpoints, endpoint) {
                    queue.receivers.push_back(&mut self.threads, receiver);
                }
                actions.push(Action::Block {
                    thread: receiver,
                    deadline,
                });
            }
        }
    }

    /// Replies `message` to the caller `server` is serving and wakes it.
    ///
    /// # Errors
    /// [`IpcError::InvalidCapability`] if no caller awaits a reply from
    /// `server` (none received, or the caller died).
    pub fn reply(&mut self, server: ThreadRef, message: SmallMessage) -> Result<Actions, IpcError> {
        filled(|actions| self.reply_into(server, message, actions).map(|_| ()))
    }

    fn reply_into(
        &mut self,
        server: ThreadRef,
        message: SmallMessage,
        actions: &mut Actions,
    ) -> Result<ThreadRef, IpcError> {
        let me = self.thread(server).ok_or(IpcError::InvalidArgument)?;
        if me.state != ThreadState::Running {
            return Err(IpcError::InvalidArgument);
        }
        let caller = me.serving.ok_or(IpcError::InvalidCapability)?;
        if let Some(me) = self.thread_mut(server) {
            me.serving = None;
        }
        if let Some(client) = self.thread_mut(caller) {
            client.state = ThreadState::Running;
        }
        actions.push(Action::Deliver {
            from: server,
            to: caller,
            message,
            badge: 0,
        });
        actions.push(Action::Wake {
            thread: caller,
            status: Ok(()),
        });
        Ok(caller)
    }

    /// Replies to the current caller (if any), then receives as
    /// [`IpcState::recv`] would; the server's loop in one syscall. If the
    /// server then blocks and the caller runs on the same CPU, the kernel
    /// switches to the caller directly. A non-blocking mode blocks here:
    /// the reply cannot be undone, so there is nothing to fail back to.
    ///
    /// # Errors
    /// As [`IpcState::recv`], checked before replying: on error nothing
    /// happened.
    pub fn reply_recv(
        &mut self,
        server: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        mode: RecvMode,
        now_tsc: u64,
    ) -> Result<Actions, IpcError> {
        filled(|actions| self.reply_recv_into(server, token, message, mode, now_tsc, actions))
    }

    /// [`IpcState::reply_recv`] with its actions appended to `actions`
    /// (which must be empty); see [`IpcState::call_into`].
    ///
    /// # Errors
    /// As [`IpcState::reply_recv`]; `actions` is then unchanged.
    pub fn reply_recv_into(
        &mut self,
        server: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        mode: RecvMode,
        now_tsc: u64,
        actions: &mut Actions,
    ) -> Result<(), IpcError> {
        let (endpoint, _) = self.endpoint_for(server, token, Access::Receive, false, now_tsc)?;
        let replied_to = match self.serving(server) {
            Some(_) => Some(self.reply_into(server, message, actions)?),
            None => None,
        };
        self.receive_or_wait(server, endpoint, mode, actions);
        let server_blocked = matches!(actions.last(), Some(Action::Block { .. }));
        if let Some(caller) = replied_to
            && server_blocked
            && self.same_cpu(server, caller)
        {
            actions.push(Action::SwitchTo { thread: caller });
        }
        Ok(())
    }
}
