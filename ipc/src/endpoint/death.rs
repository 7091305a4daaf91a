//! Endings: receive timeouts, thread death and process death.
//!
//! Nobody is left waiting forever: a caller whose server dies while holding
//! its call, and callers queued on an endpoint whose owner dies, wake with
//! [`IpcError::ProcessNotFound`]; receivers on a destroyed endpoint wake with
//! [`IpcError::InvalidCapability`]; a server whose caller died finds its
//! reply rejected with [`IpcError::InvalidCapability`]. Callers queued on
//! an endpoint whose server (its last receiver) dies with its process wake
//! with [`IpcError::ProcessNotFound`]. When the last capability to an
//! endpoint dies (revocation or death) the endpoint is destroyed: queued
//! callers and receivers wake with [`IpcError::InvalidCapability`]. A thread
//! waiting through a right its process no longer holds wakes likewise.

use alloc::vec::Vec;

use super::{Action, Actions, IpcState, ThreadRef, ThreadState};
use crate::cap::{Access, CapTarget, EndpointId, ProcessId};
use crate::error::IpcError;

/// Wakes `thread` (made `Running`) with `status`, if it exists.
fn wake(state: &mut IpcState, thread: ThreadRef, status: IpcError, actions: &mut Vec<Action>) {
    if let Some(waiter) = state.thread_mut(thread) {
        waiter.state = ThreadState::Running;
        actions.push(Action::Wake {
            thread,
            status: Err(status),
        });
    }
}

/// The threads queued to call `endpoint`, oldest first.
fn queue_callers(state: &IpcState, endpoint: EndpointId) -> Vec<ThreadRef> {
    state
        .endpoint(endpoint)
        .map(|queue| queue.callers.iter().copied().collect())
        .unwrap_or_default()
}

impl IpcState {
    /// The kernel's timer for `thread`'s receive deadline fired at `now_tsc`.
    /// Wakes the thread with [`IpcError::Timeout`] if it is still waiting and
    /// its deadline has passed; a stale timer (the thread got a message, or
    /// waits again with a later deadline) does nothing.
    pub fn timeout(&mut self, thread: ThreadRef, now_tsc: u64) -> Actions {
        let mut actions = Actions::new();
        let Some(ThreadState::Receiving {
            endpoint,
            deadline: Some(deadline),
        }) = self.thread_state(thread)
        else {
            return actions;
        };
        if now_tsc < deadline {
            return actions;
        }
        if let Some(queue) = super::endpoint_in_mut(&mut self.endpoints, endpoint) {
            queue.receivers.remove(&mut self.threads, thread);
        }
        if let Some(me) = self.thread_mut(thread) {
            me.state = ThreadState::Running;
        }
        actions.push(Action::Wake {
            thread,
            status: Err(IpcError::Timeout),
        });
        actions
    }

    /// Unlinks `thread` from every queue and partner and removes it; wakes a
    /// caller it was serving with [`IpcError::ProcessNotFound`].
    fn remove_thread(&mut self, thread: ThreadRef, actions: &mut Vec<Action>) {
        let Some(dying) = self.thread(thread).cloned() else {
            return;
        };
        match dying.state {
            ThreadState::Running => {}
            ThreadState::Calling { endpoint, .. } => {
                if let Some(queue) = self.endpoint_mut(endpoint) {
                    queue.callers.retain(|waiting| *waiting != thread);
                }
            }
            ThreadState::Receiving { endpoint, .. } => {
                if let Some(queue) = super::endpoint_in_mut(&mut self.endpoints, endpoint) {
                    queue.receivers.remove(&mut self.threads, thread);
                }
            }
            ThreadState::AwaitingReply { server } => {
                if let Some(server) = self.thread_mut(server)
                    && server.serving == Some(thread)
                {
                    server.serving = None;
                }
            }
        }
        if let Some(caller) = dying.serving
            && let Some(client) = self.thread_mut(caller)
        {
            client.state = ThreadState::Running;
            actions.push(Action::Wake {
                thread: caller,
                status: Err(IpcError::ProcessNotFound),
            });
        }
        self.threads[thread.0 as usize] = None;
    }

    /// `thread` died (or exited). Returns the wake-ups of its partners.
    /// Unknown threads produce no actions.
    #[must_use]
    pub fn on_thread_death(&mut self, thread: ThreadRef) -> Vec<Action> {
        let mut actions = Vec::new();
        self.remove_thread(thread, &mut actions);
        actions
    }

    /// Destroys `endpoint`: its queued callers wake with `callers_status`,
    /// its waiting receivers with [`IpcError::InvalidCapability`], and its id
    /// goes back to the free list.
    fn destroy_endpoint(
        &mut self,
        endpoint: EndpointId,
        callers_status: IpcError,
        actions: &mut Vec<Action>,
    ) {
        let Some(mut queue) = self
            .endpoints
            .get_mut(endpoint.0 as usize)
            .and_then(Option::take)
        else {
            return;
        };
        for caller in core::mem::take(&mut queue.callers) {
            wake(self, caller, callers_status, actions);
        }
        for receiver in queue.receivers.drain(&mut self.threads) {
            wake(self, receiver, IpcError::InvalidCapability, actions);
        }
        self.free_endpoints.push(endpoint.0);
    }

    /// Capabilities to the endpoints `died` (one entry per capability) are
    /// gone: each endpoint loses that many from its count and is destroyed
    /// at zero; on the endpoints that live on, a receiver or a
    /// queued caller whose process no longer holds the right it waits with
    /// wakes with [`IpcError::InvalidCapability`].
    pub(super) fn settle(&mut self, died: &[EndpointId], actions: &mut Vec<Action>) {
        let mut touched: Vec<EndpointId> = Vec::new();
        for &endpoint in died {
            if let Some(queue) = self.endpoint_mut(endpoint) {
                queue.caps = queue.caps.saturating_sub(1);
                if !touched.contains(&endpoint) {
                    touched.push(endpoint);
                }
            }
        }
        for endpoint in touched {
            let Some(queue) = self.endpoint(endpoint) else {
                continue;
            };
            if queue.caps == 0 {
                self.destroy_endpoint(endpoint, IpcError::InvalidCapability, actions);
                continue;
            }
            let target = CapTarget::Endpoint(endpoint);
            let lost = |state: &Self, thread: ThreadRef, access: Access| {
                state.thread(thread).is_some_and(|t| {
                    super::space_of(&state.spaces, t.process)
                        .is_ok_and(|space| !space.holds(&state.registry, target, access))
                })
            };
            let receivers: Vec<ThreadRef> = queue.receivers.iter(&self.threads).collect();
            for receiver in receivers {
                if lost(self, receiver, Access::Receive) {
                    if let Some(queue) = super::endpoint_in_mut(&mut self.endpoints, endpoint) {
                        queue.receivers.remove(&mut self.threads, receiver);
                    }
                    wake(self, receiver, IpcError::InvalidCapability, actions);
                }
            }
            let callers: Vec<ThreadRef> = queue_callers(self, endpoint);
            for caller in callers {
                if lost(self, caller, Access::Send) {
                    if let Some(queue) = self.endpoint_mut(endpoint) {
                        queue.callers.retain(|waiting| *waiting != caller);
                    }
                    wake(self, caller, IpcError::InvalidCapability, actions);
                }
            }
        }
    }

    /// `process` died: its threads die, its endpoints are destroyed (waking
    /// every thread queued on them), callers queued on an endpoint whose
    /// server was one of its threads wake with [`IpcError::ProcessNotFound`],
    /// and its capability space is destroyed, which revokes every capability
    /// derived from its capabilities in every other space (see
    /// [`Self::settle`]). Returns the wake-ups of surviving threads.
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process (nothing changes).
    pub fn on_process_death(&mut self, process: ProcessId) -> Result<Vec<Action>, IpcError> {
        let space = self
            .spaces
            .get_mut(process.0 as usize)
            .and_then(Option::take)
            .ok_or(IpcError::ProcessNotFound)?;
        let mut actions = Vec::new();
        // Its endpoints, and the others it served through one of its
        // threads (their queued callers wait for a server that is gone).
        let mut owned = Vec::new();
        let mut orphaned = Vec::new();
        for (index, queue) in self.endpoints.iter().enumerate() {
            let Some(queue) = queue else { continue };
            // Bounded by the u32 endpoint ids, so the cast cannot truncate.
            let endpoint = EndpointId(index as u32);
            if queue.owner == process {
                owned.push(endpoint);
            } else if queue
                .last_receiver
                .and_then(|server| self.thread(server))
                .is_some_and(|server| server.process == process)
            {
                orphaned.push(endpoint);
            }
        }
        for index in 0..self.threads.len() {
            if self.threads[index]
                .as_ref()
                .is_some_and(|thread| thread.process == process)
            {
                // Bounded by `free_index`'s u32 ids, so the cast cannot truncate.
                self.remove_thread(ThreadRef(index as u32), &mut actions);
            }
        }
        for endpoint in orphaned {
            for caller in self
                .endpoint_mut(endpoint)
                .map(|queue| core::mem::take(&mut queue.callers))
                .unwrap_or_default()
            {
                wake(self, caller, IpcError::ProcessNotFound, &mut actions);
            }
        }
        for endpoint in owned {
            self.destroy_endpoint(endpoint, IpcError::ProcessNotFound, &mut actions);
        }
        let mut died = Vec::new();
        self.registry
            .destroy_space_into(space, &mut super::endpoints_into(&mut died));
        self.settle(&died, &mut actions);
        // A thread of the dead process may have been woken before it died.
        actions.retain(|action| match action {
            Action::Wake { thread, .. } => self.thread_state(*thread).is_some(),
            _ => true,
        });
        Ok(actions)
    }
}
