//! Endings: receive timeouts, thread death and process death.
//!
//! Nobody is left waiting forever: a caller whose server dies while holding
//! its call, and callers queued on an endpoint whose owner dies, wake with
//! [`IpcError::ProcessNotFound`]; receivers on a destroyed endpoint wake with
//! [`IpcError::InvalidCapability`]; a server whose caller died finds its
//! reply rejected with [`IpcError::InvalidCapability`].

use alloc::vec::Vec;

use super::{Action, Actions, IpcState, ThreadRef, ThreadState};
use crate::cap::ProcessId;
use crate::error::IpcError;

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

    /// `process` died: its threads die, its endpoints are destroyed (waking
    /// every thread queued on them), and its capability space is destroyed,
    /// which revokes every capability derived from its capabilities in every
    /// other space. Returns the wake-ups of surviving threads.
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
        for index in 0..self.threads.len() {
            if self.threads[index]
                .as_ref()
                .is_some_and(|thread| thread.process == process)
            {
                // Bounded by `free_index`'s u32 ids, so the cast cannot truncate.
                self.remove_thread(ThreadRef(index as u32), &mut actions);
            }
        }
        for slot in &mut self.endpoints {
            let Some(mut endpoint) = slot.take_if(|endpoint| endpoint.owner == process) else {
                continue;
            };
            for caller in endpoint.callers {
                if let Some(Some(client)) = self.threads.get_mut(caller.0 as usize) {
                    client.state = ThreadState::Running;
                    actions.push(Action::Wake {
                        thread: caller,
                        status: Err(IpcError::ProcessNotFound),
                    });
                }
            }
            for receiver in endpoint.receivers.drain(&mut self.threads) {
                if let Some(Some(waiter)) = self.threads.get_mut(receiver.0 as usize) {
                    waiter.state = ThreadState::Running;
                    actions.push(Action::Wake {
                        thread: receiver,
                        status: Err(IpcError::InvalidCapability),
                    });
                }
            }
        }
        self.registry.destroy_space(space);
        // A thread of the dead process may have been woken before it died.
        actions.retain(|action| match action {
            Action::Wake { thread, .. } => self.thread_state(*thread).is_some(),
            _ => true,
        });
        Ok(actions)
    }
}
