//! Priority inheritance over the graph of blocked threads.
//!
//! An edge `waiter -> donee` exists while `waiter` is blocked on
//! [`BlockedOn::Reply`] of the donee (a synchronous call it serves) or on
//! [`BlockedOn::Mutex`] owned by the donee. Then
//!
//! `effective(t) = max(base(t), effective(d) for every donor d of t)`
//!
//! and `chain_height(t)` is the longest chain of edges ending at `t`. Both are
//! max-aggregates over donors, so a change is pushed down the chain from the
//! first node it affects and stops at the first node that does not change.
//!
//! Every new edge is checked before anything is mutated (the seL4 fast-path
//! shape: guards, then the point of no return): an edge that would close a
//! cycle is refused with [`SchedError::Deadlock`], one that would create a
//! chain of more than [`PiConfig::max_chain`] edges with
//! [`SchedError::ChainTooLong`]. The graph therefore stays a forest whose paths
//! are bounded, and every walk below is bounded by `max_chain`.
//!
//! Edges, cycle detection and the bound are kept when inheritance is switched
//! off; only the lending stops (effective = base).

use crate::error::SchedError;
use crate::priority::Priority;
use crate::thread::{BlockedOn, MutexId, ThreadId, ThreadState, ThreadTable};

/// Priority-inheritance settings; one per [`ThreadTable`], so global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiConfig {
    /// Whether blocked threads lend their priority (off for the benchmark that
    /// shows the inversion inheritance prevents).
    pub enabled: bool,
    /// Most edges in any donation chain (client -> server -> server ...). A
    /// block that would exceed it fails; 0 forbids calls and contended locks.
    pub max_chain: usize,
}

impl Default for PiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_chain: 16,
        }
    }
}

/// Result of [`ThreadTable::lock_mutex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum MutexLock {
    /// The mutex was free; the thread owns it now.
    Acquired,
    /// The mutex is owned by another thread; the thread is now blocked on it.
    Blocked,
}

impl ThreadTable {
    /// Whether inheritance is on.
    #[must_use]
    pub fn priority_inheritance(&self) -> bool {
        self.pi.enabled
    }

    /// Switches inheritance on or off and recomputes every effective priority.
    /// O(threads x max_chain): meant for configuration, not hot paths.
    pub fn set_priority_inheritance(&mut self, enabled: bool) {
        self.pi.enabled = enabled;
        // By slot index rather than through `thread_ids()`: the loop mutates.
        for slot in 0..self.threads.len() {
            let Some(thread) = self.threads[slot].as_mut() else {
                continue;
            };
            let changed = thread.effective != thread.base;
            thread.effective = thread.base;
            thread.chain_height = 0;
            if changed {
                self.flag_attention(ThreadId(slot as u32));
            }
        }
        for slot in 0..self.threads.len() {
            if self.threads[slot].is_some()
                && let Some(donee) = self.donee_of(ThreadId(slot as u32))
            {
                self.propagate_from(donee);
            }
        }
    }

    /// Changes a thread's own priority; inheritance is re-applied down its chain.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`].
    pub fn set_base_priority(
        &mut self,
        tid: ThreadId,
        priority: Priority,
    ) -> Result<(), SchedError> {
        self.get_mut(tid)?.base = priority;
        self.propagate_from(tid);
        Ok(())
    }

    /// The thread `tid` lends its priority to, if it is blocked on a call or an
    /// owned mutex.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`].
    pub fn donee(&self, tid: ThreadId) -> Result<Option<ThreadId>, SchedError> {
        self.get(tid)?;
        Ok(self.donee_of(tid))
    }

    /// Blocks a ready thread (the caller, its CPU's scheduler, makes sure it
    /// is the running one, not a queued one). For
    /// [`BlockedOn::Reply`] and [`BlockedOn::Mutex`] the thread starts lending
    /// its priority down the chain.
    ///
    /// # Errors
    /// Unknown thread/mutex; [`SchedError::InvalidState`] unless the thread is
    /// ready (and, for a reply wait, the server is alive);
    /// [`SchedError::MutexNotOwned`] for a free
    /// mutex; [`SchedError::AlreadyMutexOwner`]; [`SchedError::Deadlock`] if
    /// the wait would close a cycle; [`SchedError::ChainTooLong`]. Nothing
    /// changes on error.
    pub fn block_thread(&mut self, tid: ThreadId, on: BlockedOn) -> Result<(), SchedError> {
        let donee = self.check_block(tid, on)?;
        // --- point of no return ---
        self.block_checked(tid, on, donee);
        Ok(())
    }

    /// The change of [`ThreadTable::block_thread`] after its checks passed
    /// ([`ThreadTable::check_block`] returned `donee`, nothing changed since).
    pub(crate) fn block_checked(&mut self, tid: ThreadId, on: BlockedOn, donee: Option<ThreadId>) {
        self.thread_mut(tid).state = ThreadState::Blocked(on);
        self.link_waiter(tid, on);
        if let Some(donee) = donee {
            self.propagate_from(donee);
        }
    }

    /// The two shapes of a synchronous IPC hand-off between the running
    /// thread `me` and the blocked thread `to`, done in place: a *call*
    /// (`to` waits to receive; `me` waits for its reply and lends it its
    /// priority) or a *reply* (`to` waits for `me`'s reply; `me` then waits
    /// to receive). Leaves exactly the state of [`Self::unblock_thread`] of
    /// `to` then [`Self::block_thread`] of `me` followed by settling both
    /// (nothing else is involved in these shapes: `to` lends to nobody
    /// afterwards and `me` is at the end of its chain), without the
    /// attention list. `me`'s record takes `me_slice` (the slice left its
    /// CPU held while it ran); returns `to`'s effective priority and slice
    /// left, for its CPU to run it. Returns `None`, changing nothing, for
    /// any other shape, when anything is flagged for attention, or when a
    /// check fails (the general path decides).
    pub(crate) fn ipc_handoff_in_place(
        &mut self,
        me: ThreadId,
        on: BlockedOn,
        to: ThreadId,
        me_slice: u64,
    ) -> Option<(Priority, u64)> {
        if !self.attention_is_empty() {
            return None;
        }
        // Both records at once (one bounds check each; `None` when
        // `me == to` or either is unknown).
        let [Some(mine), Some(theirs)] =
            self.threads.get_disjoint_mut([me.slot(), to.slot()]).ok()?
        else {
            return None;
        };
        if mine.state != ThreadState::Ready {
            return None;
        }
        // Whether `me` keeps donors after the change (then its values are
        // recomputed from them; see the reply shape).
        let recompute = match (on, theirs.state) {
            (BlockedOn::Reply(server), ThreadState::Blocked(BlockedOn::Receive))
                if server == to =>
            {
                // `check_new_edge(me, to)` where `to` lends to nobody: only
                // the length of `me`'s chain plus the new edge is bounded.
                if mine.chain_height + 1 > self.pi.max_chain {
                    return None;
                }
                // --- point of no return ---
                mine.state = ThreadState::Blocked(on);
                // `link_waiter(me, on)`.
                theirs.callers.push_back(&mut self.wait_links, me.0);
                // `propagate_from(to)` with one new donor, `me`, while every
                // other donor's share is already in `to`'s values (the
                // invariant every operation keeps), and `to` lends to nobody.
                theirs.state = ThreadState::Ready;
                if self.pi.enabled {
                    theirs.effective = theirs.effective.max(mine.effective);
                }
                theirs.chain_height = theirs.chain_height.max(mine.chain_height + 1);
                false
            }
            (BlockedOn::Receive, ThreadState::Blocked(BlockedOn::Reply(server)))
                if server == me =>
            {
                // --- point of no return ---
                // `unlink_waiter(to, Reply(me))`.
                mine.callers.remove(&mut self.wait_links, to.0);
                theirs.state = ThreadState::Ready;
                mine.state = ThreadState::Blocked(on);
                // `propagate_from(me)` for a thread at the end of its chain:
                // with no donors left (the usual server after its reply) it
                // is what `recompute` would find without walking anything.
                let donors_left = !mine.callers.is_empty() || !mine.owned_mutexes.is_empty();
                if !donors_left {
                    mine.effective = mine.base;
                    mine.chain_height = 0;
                }
                donors_left
            }
            _ => return None,
        };
        mine.slice_left = me_slice;
        let to_now = (theirs.effective, theirs.slice_left);
        if recompute {
            self.settle_in_place(me);
        }
        Some(to_now)
    }

    /// `propagate_from(tid)` for a thread at the end of its chain (no
    /// donee), whose flag for attention the caller settles itself.
    fn settle_in_place(&mut self, tid: ThreadId) {
        debug_assert!(self.donee_of(tid).is_none());
        let (effective, chain_height) = self.recompute(tid);
        let thread = self.thread_mut(tid);
        thread.effective = effective;
        thread.chain_height = chain_height;
    }

    /// The checks of [`ThreadTable::block_thread`], changing nothing: the
    /// thread `tid` would lend its priority to (if any).
    pub(crate) fn check_block(
        &self,
        tid: ThreadId,
        on: BlockedOn,
    ) -> Result<Option<ThreadId>, SchedError> {
        self.check_can_block(tid)?;
        let donee = match on {
            BlockedOn::Reply(server) => {
                let state = self.get(server)?.state;
                if state == ThreadState::Dead {
                    return Err(SchedError::InvalidState {
                        thread: server,
                        state,
                    });
                }
                Some(server)
            }
            BlockedOn::Mutex(mutex) => match self.mutex(mutex)?.owner {
                None => return Err(SchedError::MutexNotOwned(mutex)),
                Some(owner) if owner == tid => {
                    return Err(SchedError::AlreadyMutexOwner { mutex, thread: tid });
                }
                Some(owner) => Some(owner),
            },
            BlockedOn::Receive | BlockedOn::Sleep => None,
        };
        if let Some(donee) = donee {
            self.check_new_edge(tid, donee)?;
        }
        Ok(donee)
    }

    /// Ends a thread's wait, whatever ended it (reply, timeout, cancellation):
    /// it stops lending, the donee's chain is recomputed, and the thread becomes
    /// [`ThreadState::Ready`] (flagged for its CPU to queue). Returns what it
    /// waited on.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`]; [`SchedError::InvalidState`] unless blocked.
    pub fn unblock_thread(&mut self, tid: ThreadId) -> Result<BlockedOn, SchedError> {
        let state = self.get(tid)?.state;
        let ThreadState::Blocked(on) = state else {
            return Err(SchedError::InvalidState { thread: tid, state });
        };
        let donee = self.donee_of(tid);
        self.unlink_waiter(tid, on);
        self.thread_mut(tid).state = ThreadState::Ready;
        self.flag_attention(tid);
        if let Some(donee) = donee {
            self.propagate_from(donee);
        }
        Ok(on)
    }

    /// Takes a free mutex, or blocks on an owned one (lending priority to the owner).
    ///
    /// # Errors
    /// As [`ThreadTable::block_thread`]; [`SchedError::AlreadyMutexOwner`] for
    /// a recursive lock.
    pub fn lock_mutex(&mut self, tid: ThreadId, mutex: MutexId) -> Result<MutexLock, SchedError> {
        self.check_can_block(tid)?;
        if self.mutex(mutex)?.owner.is_some() {
            self.block_thread(tid, BlockedOn::Mutex(mutex))?;
            return Ok(MutexLock::Blocked);
        }
        self.give_mutex(mutex, tid);
        Ok(MutexLock::Acquired)
    }

    /// Releases a mutex. The most urgent waiter (FIFO among equals) inherits
    /// it, becomes ready, and is returned; the releaser stops receiving the
    /// waiters' priorities.
    ///
    /// # Errors
    /// [`SchedError::UnknownMutex`]; [`SchedError::NotMutexOwner`].
    pub fn unlock_mutex(
        &mut self,
        tid: ThreadId,
        mutex: MutexId,
    ) -> Result<Option<ThreadId>, SchedError> {
        if self.mutex(mutex)?.owner != Some(tid) {
            return Err(SchedError::NotMutexOwner { mutex, thread: tid });
        }
        let heir = self.release_mutex(mutex);
        self.propagate_from(tid);
        Ok(heir)
    }

    /// Marks a thread dead and unwinds everything it took part in: its own
    /// wait ends (the donee's chain is recomputed), its callers' calls fail
    /// (they become ready), its mutexes pass to their most urgent waiters.
    /// Threads made ready are flagged for attention. The caller must first take
    /// the thread out of its ready queue or off its CPU.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`]; [`SchedError::InvalidState`] if already
    /// dead.
    pub fn exit_thread(&mut self, tid: ThreadId) -> Result<(), SchedError> {
        let state = self.get(tid)?.state;
        if state == ThreadState::Dead {
            return Err(SchedError::InvalidState { thread: tid, state });
        }
        // --- point of no return ---
        let donee = self.donee_of(tid);
        if let ThreadState::Blocked(on) = state {
            self.unlink_waiter(tid, on);
        }
        while let Some(caller) = self.pop_caller(tid) {
            self.thread_mut(caller).state = ThreadState::Ready;
            self.flag_attention(caller);
        }
        while let Some(mutex) = self.thread(tid).owned_mutexes.front() {
            self.release_mutex(MutexId(mutex));
        }
        let thread = self.thread_mut(tid);
        thread.state = ThreadState::Dead;
        thread.effective = thread.base;
        thread.chain_height = 0;
        if let Some(donee) = donee {
            self.propagate_from(donee);
        }
        Ok(())
    }

    fn check_can_block(&self, tid: ThreadId) -> Result<(), SchedError> {
        let state = self.get(tid)?.state;
        if state != ThreadState::Ready {
            return Err(SchedError::InvalidState { thread: tid, state });
        }
        Ok(())
    }

    /// Refuses an edge `waiter -> donee` that would close a cycle or make a
    /// chain longer than the bound. Walks at most `max_chain` edges.
    fn check_new_edge(&self, waiter: ThreadId, donee: ThreadId) -> Result<(), SchedError> {
        let limit = self.pi.max_chain;
        let mut below = 0; // edges from `donee` down to the end of its chain
        let mut cursor = donee;
        loop {
            if cursor == waiter {
                return Err(SchedError::Deadlock { thread: waiter });
            }
            let Some(next) = self.donee_of(cursor) else {
                break;
            };
            below += 1;
            if below > limit {
                // Unreachable while the invariant holds; refuse rather than loop.
                return Err(SchedError::ChainTooLong {
                    length: below,
                    limit,
                });
            }
            cursor = next;
        }
        let length = self.thread(waiter).chain_height + 1 + below;
        if length > limit {
            return Err(SchedError::ChainTooLong { length, limit });
        }
        Ok(())
    }

    /// Recomputes `start`, then each node down its chain, until one is unchanged.
    fn propagate_from(&mut self, start: ThreadId) {
        let mut cursor = start;
        let mut edges_walked = 0;
        loop {
            let (effective, chain_height) = self.recompute(cursor);
            let thread = self.thread_mut(cursor);
            if thread.effective == effective && thread.chain_height == chain_height {
                return;
            }
            let priority_changed = thread.effective != effective;
            thread.effective = effective;
            thread.chain_height = chain_height;
            if priority_changed {
                self.flag_attention(cursor);
            }
            let Some(next) = self.donee_of(cursor) else {
                return;
            };
            edges_walked += 1;
            debug_assert!(edges_walked <= self.pi.max_chain, "chain bound violated");
            if edges_walked > self.pi.max_chain {
                return;
            }
            cursor = next;
        }
    }

    /// Effective priority and chain height of `tid` from its direct donors.
    /// O(number of donors).
    fn recompute(&self, tid: ThreadId) -> (Priority, usize) {
        let thread = self.thread(tid);
        if thread.state == ThreadState::Dead {
            return (thread.base, 0);
        }
        let callers = thread.callers.iter(&self.wait_links);
        let mutex_waiters = thread
            .owned_mutexes
            .iter(&self.owner_links)
            .filter_map(|mutex| self.mutexes[mutex as usize].as_ref())
            .flat_map(|mutex| mutex.waiters.iter(&self.wait_links));
        let mut effective = thread.base;
        let mut chain_height = 0;
        for donor in callers.chain(mutex_waiters) {
            let donor = self.thread(ThreadId(donor));
            if self.pi.enabled {
                effective = effective.max(donor.effective);
            }
            chain_height = chain_height.max(donor.chain_height + 1);
        }
        (effective, chain_height)
    }

    pub(crate) fn donee_of(&self, tid: ThreadId) -> Option<ThreadId> {
        match self.thread(tid).state {
            ThreadState::Blocked(BlockedOn::Reply(server)) => Some(server),
            ThreadState::Blocked(BlockedOn::Mutex(mutex)) => {
                self.mutexes[mutex.0 as usize].as_ref()?.owner
            }
            _ => None,
        }
    }

    fn link_waiter(&mut self, tid: ThreadId, on: BlockedOn) {
        match on {
            BlockedOn::Reply(server) => {
                if let Some(server) = self.threads[server.slot()].as_mut() {
                    server.callers.push_back(&mut self.wait_links, tid.0);
                }
            }
            BlockedOn::Mutex(mutex) => {
                if let Some(mutex) = self.mutexes[mutex.0 as usize].as_mut() {
                    mutex.waiters.push_back(&mut self.wait_links, tid.0);
                }
            }
            BlockedOn::Receive | BlockedOn::Sleep => {}
        }
    }

    fn unlink_waiter(&mut self, tid: ThreadId, on: BlockedOn) {
        match on {
            BlockedOn::Reply(server) => {
                if let Some(server) = self.threads[server.slot()].as_mut() {
                    server.callers.remove(&mut self.wait_links, tid.0);
                }
            }
            BlockedOn::Mutex(mutex) => {
                if let Some(mutex) = self.mutexes[mutex.0 as usize].as_mut() {
                    mutex.waiters.remove(&mut self.wait_links, tid.0);
                }
            }
            BlockedOn::Receive | BlockedOn::Sleep => {}
        }
    }

    fn pop_caller(&mut self, server: ThreadId) -> Option<ThreadId> {
        let server = self.threads[server.slot()].as_mut()?;
        server.callers.pop_front(&mut self.wait_links).map(ThreadId)
    }

    fn give_mutex(&mut self, mutex: MutexId, owner: ThreadId) {
        if let Some(record) = self.mutexes[mutex.0 as usize].as_mut() {
            record.owner = Some(owner);
        }
        if let Some(thread) = self.threads[owner.slot()].as_mut() {
            thread
                .owned_mutexes
                .push_back(&mut self.owner_links, mutex.0);
        }
    }

    /// Takes `mutex` from its owner and hands it to its most urgent waiter (the
    /// first in FIFO order among equals), which becomes ready. Does not
    /// recompute the old owner.
    fn release_mutex(&mut self, mutex: MutexId) -> Option<ThreadId> {
        let record = self.mutexes[mutex.0 as usize].as_mut()?;
        let old_owner = record.owner.take()?;
        if let Some(owner) = self.threads[old_owner.slot()].as_mut() {
            owner.owned_mutexes.remove(&mut self.owner_links, mutex.0);
        }
        let mut heir: Option<(ThreadId, Priority)> = None;
        for waiter in self.mutex(mutex).ok()?.waiters.iter(&self.wait_links) {
            let priority = self.thread(ThreadId(waiter)).effective;
            if heir.is_none_or(|(_, best)| priority > best) {
                heir = Some((ThreadId(waiter), priority));
            }
        }
        let (heir, _) = heir?;
        self.unlink_waiter(heir, BlockedOn::Mutex(mutex));
        self.thread_mut(heir).state = ThreadState::Ready;
        self.flag_attention(heir);
        self.give_mutex(mutex, heir);
        self.propagate_from(heir);
        Some(heir)
    }
}
