//! The per-CPU scheduler the kernel calls: ready queue, current thread, time
//! slices, and the glue that keeps them consistent with the shared thread
//! table after blocking, waking, inheritance and exits.
//!
//! Ownership: a `Scheduler` is its CPU's alone. Its ready queue (links
//! included), its current thread and the live time slices of its runnable
//! threads live here, not in the [`ThreadTable`], so [`Scheduler::tick`],
//! [`Scheduler::yield_now`], [`Scheduler::pick_next`] and
//! [`Scheduler::apply`] take no table at all: in the kernel they run under
//! no lock another CPU takes. Entry points that change shared state (block,
//! wake, priorities, exits, hand-offs) take the table, which the kernel
//! keeps under its lock; they touch only this CPU's queue and post to other
//! CPUs' lock-free inboxes.
//!
//! Every entry point that changes the thread table ends with
//! [`Scheduler::settle`]: threads the table flagged (made ready, or whose
//! effective priority changed) are requeued here if they belong to this CPU,
//! or posted to their CPU's inbox otherwise (and that CPU is added to the IPI
//! set the kernel collects with [`Scheduler::take_ipi_targets`]). The owner
//! reads the table for posted threads when it drains its inbox.
//!
//! Round robin: a thread picked with an empty slice gets `time_slice` units;
//! [`Scheduler::tick`] charges elapsed time; when the slice is used up and a
//! peer of equal priority is queued, the thread goes behind its peers. A thread
//! preempted by a more urgent one keeps the rest of its slice and its turn; a
//! thread that blocks keeps it too (written back to its table record).

use alloc::vec::Vec;

use crate::cpuset::{CpuId, CpuSet};
use crate::decision::Decision;
use crate::error::SchedError;
use crate::inbox::Inboxes;
use crate::pi::MutexLock;
use crate::priority::Priority;
use crate::ready_queue::{QueueEnd, QueueLink, ReadyQueue};
use crate::thread::{BlockedOn, MutexId, ThreadId, ThreadState, ThreadTable};

/// Per-CPU scheduler settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedConfig {
    /// Length of a round-robin slice, in the unit of the `now` arguments
    /// (TSC cycles in the kernel).
    pub time_slice: u64,
}

/// One CPU's scheduler.
#[derive(Debug, Clone)]
pub struct Scheduler {
    cpu: CpuId,
    config: SchedConfig,
    queue: ReadyQueue,
    /// Queue links by thread slot; only threads queued here are linked.
    links: Vec<QueueLink>,
    /// Slice left of each thread queued here (0 for every other slot).
    slices: Vec<u64>,
    current: Option<ThreadId>,
    /// The current thread's effective priority, as this CPU last read it
    /// from the table (other CPUs that change it post the thread here).
    current_level: Priority,
    /// The current thread's slice left as of `charged_until`.
    current_slice: u64,
    /// Where the current thread re-enters the queue when switched out.
    current_requeue_end: QueueEnd,
    /// Time up to which the current thread's slice has been charged.
    charged_until: u64,
    ipi_targets: CpuSet,
    /// Whether `ipi_targets` may be non-empty (a cheap test for hot paths).
    ipi_posted: bool,
}

impl Scheduler {
    /// An idle scheduler for `cpu`, for thread ids below `capacity` (the
    /// thread table's). Allocates its queue links now, never later.
    #[must_use]
    pub fn new(cpu: CpuId, config: SchedConfig, capacity: usize) -> Self {
        Self {
            cpu,
            config,
            queue: ReadyQueue::new(cpu),
            links: alloc::vec![QueueLink::UNQUEUED; capacity],
            slices: alloc::vec![0; capacity],
            current: None,
            current_level: Priority::LOWEST,
            current_slice: 0,
            current_requeue_end: QueueEnd::Front,
            charged_until: 0,
            ipi_targets: CpuSet::EMPTY,
            ipi_posted: false,
        }
    }

    /// The CPU this scheduler runs.
    #[must_use]
    pub fn cpu(&self) -> CpuId {
        self.cpu
    }

    /// The thread running on this CPU, if any.
    #[must_use]
    pub fn current(&self) -> Option<ThreadId> {
        self.current
    }

    /// Whether `tid` sits in this CPU's ready queue.
    #[must_use]
    pub fn is_queued(&self, tid: ThreadId) -> bool {
        self.queued_level(tid).is_some()
    }

    /// The live slice left of a runnable thread of this CPU (current or
    /// queued); `None` for any other thread (see `Thread::slice_left`).
    #[must_use]
    pub fn slice_left(&self, tid: ThreadId) -> Option<u64> {
        if self.current == Some(tid) {
            Some(self.current_slice)
        } else if self.is_queued(tid) {
            Some(self.slices[tid.slot()])
        } else {
            None
        }
    }

    /// The level `tid` is queued at here, if it is queued here.
    #[must_use]
    pub fn queued_level(&self, tid: ThreadId) -> Option<Priority> {
        self.links
            .get(tid.slot())
            .and_then(QueueLink::position)
            .map(|(_, level)| level)
    }

    /// The current thread's effective priority as this CPU knows it.
    #[must_use]
    pub fn current_level(&self) -> Option<Priority> {
        self.current.map(|_| self.current_level)
    }

    /// Threads waiting in this CPU's ready queue.
    #[must_use]
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Runnable threads of this CPU (queued plus running): its load for
    /// placement and stealing.
    #[must_use]
    pub fn load(&self) -> usize {
        self.queue.len() + usize::from(self.current.is_some())
    }

    /// The most urgent queued priority.
    #[must_use]
    pub fn highest_queued(&self) -> Option<Priority> {
        self.queue.highest()
    }

    /// CPUs that were posted to since the last call: send each an IPI.
    pub fn take_ipi_targets(&mut self) -> CpuSet {
        self.ipi_posted = false;
        core::mem::replace(&mut self.ipi_targets, CpuSet::EMPTY)
    }

    /// Whether [`Scheduler::take_ipi_targets`] has anything to give.
    #[must_use]
    pub fn has_ipi_targets(&self) -> bool {
        self.ipi_posted
    }

    /// When the current thread's slice ends (for the TSC-deadline timer).
    #[must_use]
    pub fn slice_deadline(&self) -> Option<u64> {
        self.current?;
        Some(self.charged_until.saturating_add(self.current_slice))
    }

    /// Queues a ready thread of this CPU (new, or made ready by the kernel).
    /// Returns `Reschedule` if it is more urgent than the current thread.
    ///
    /// # Errors
    /// Unknown thread; [`SchedError::WrongCpu`]; [`SchedError::InvalidState`]
    /// unless ready; [`SchedError::AffinityExcludesCpu`];
    /// [`SchedError::AlreadyQueued`] (also for the current thread).
    pub fn enqueue(&mut self, table: &ThreadTable, tid: ThreadId) -> Result<Decision, SchedError> {
        let thread = table.get(tid)?;
        if thread.cpu != self.cpu {
            return Err(SchedError::WrongCpu {
                thread: tid,
                owner: thread.cpu,
            });
        }
        if thread.state != ThreadState::Ready {
            return Err(SchedError::InvalidState {
                thread: tid,
                state: thread.state,
            });
        }
        if !thread.affinity.contains(self.cpu) {
            return Err(SchedError::AffinityExcludesCpu {
                thread: tid,
                cpu: self.cpu,
            });
        }
        if self.current == Some(tid) {
            return Err(SchedError::AlreadyQueued(tid));
        }
        let level = thread.effective;
        self.insert(tid, level, thread.slice_left, QueueEnd::Back)?;
        Ok(self.preemption_for(level))
    }

    /// Chooses the thread to run now and makes it current (`None`: idle). The
    /// previous current thread, if still running, goes back to its level
    /// (in front of its peers unless its slice ended or it yielded).
    pub fn pick_next(&mut self, now: u64) -> Option<ThreadId> {
        self.charge(now);
        self.put_back_current();
        let level = self.queue.highest()?;
        let next = self.queue.pop_highest(&mut self.links)?;
        let slice = core::mem::take(&mut self.slices[next.slot()]);
        self.make_current(next, level, slice);
        Some(next)
    }

    /// Carries out a decision; returns the thread to run (`None`: idle).
    /// `SwitchTo(t)` switches directly when `t` is queued here and at least
    /// as urgent as everything else here; otherwise it is a full pick.
    pub fn apply(&mut self, decision: Decision, now: u64) -> Option<ThreadId> {
        match decision {
            Decision::Stay if self.current.is_some() => {
                self.charge(now);
                self.current
            }
            Decision::SwitchTo(target) if self.can_switch_directly(target) => {
                self.charge(now);
                self.put_back_current();
                let (level, slice) = self.unqueue(target)?;
                self.make_current(target, level, slice);
                Some(target)
            }
            Decision::Stay | Decision::Reschedule | Decision::SwitchTo(_) => self.pick_next(now),
        }
    }

    /// Timer interrupt: charges the current thread and asks for a reschedule
    /// when its slice ended and a peer of equal priority waits, or when a more
    /// urgent thread is queued. A thread alone at the top gets a fresh slice.
    pub fn tick(&mut self, now: u64) -> Decision {
        self.charge(now);
        let best_queued = self.queue.highest();
        if self.current.is_none() {
            return if best_queued.is_some() {
                Decision::Reschedule
            } else {
                Decision::Stay
            };
        }
        if best_queued > Some(self.current_level) {
            return Decision::Reschedule;
        }
        if self.current_slice > 0 {
            return Decision::Stay;
        }
        if best_queued == Some(self.current_level) {
            self.current_requeue_end = QueueEnd::Back;
            Decision::Reschedule
        } else {
            self.current_slice = self.config.time_slice;
            Decision::Stay
        }
    }

    /// The current thread gives up the rest of its slice and goes behind its
    /// peers.
    pub fn yield_now(&mut self) -> Decision {
        if self.current.is_some() {
            self.current_slice = 0;
            self.current_requeue_end = QueueEnd::Back;
        }
        Decision::Reschedule
    }

    /// Blocks the current thread (it lends its priority if it waits for a
    /// reply or a mutex).
    ///
    /// # Errors
    /// [`SchedError::InboxesMismatch`]; [`SchedError::InvalidState`] unless
    /// `tid` is this CPU's current thread; as [`ThreadTable::block_thread`].
    pub fn block(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        tid: ThreadId,
        on: BlockedOn,
    ) -> Result<Decision, SchedError> {
        self.check_current(table, inboxes, tid)?;
        table.block_thread(tid, on)?;
        self.release_current(table);
        Ok(Decision::Reschedule.combine(self.settle(table, inboxes)))
    }

    /// Ends a thread's wait (reply, timeout, cancellation, event). A thread of
    /// this CPU is queued at once (`Reschedule` if it beats the current one); a
    /// thread of another CPU is posted to that CPU's inbox.
    ///
    /// # Errors
    /// [`SchedError::InboxesMismatch`]; as [`ThreadTable::unblock_thread`].
    pub fn wake(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        tid: ThreadId,
    ) -> Result<Decision, SchedError> {
        check_inboxes(table, inboxes)?;
        table.unblock_thread(tid)?;
        Ok(self.settle(table, inboxes))
    }

    /// The IPC hand-off in one step: the current thread `me` blocks on `on`
    /// and the blocked thread `to` of this CPU (the partner of a call or a
    /// reply) wakes and runs at once unless something more urgent is queued.
    /// Equal, in every state it leaves, to charging the current thread
    /// (`apply(Stay)`), then [`Scheduler::wake`] of `to`,
    /// [`Scheduler::block`] of `me` and `apply(SwitchTo(to))`, but it checks
    /// everything first: on error nothing changed and the caller takes the
    /// general path. Returns the thread to run (`to` unless something more
    /// urgent waits). Wake-ups other CPUs posted here stay in the inbox for
    /// the next reschedule (their IPI is pending).
    ///
    /// # Errors
    /// [`SchedError::InboxesMismatch`]; [`SchedError::InvalidState`] unless
    /// `me` is this CPU's current thread and `to` (another thread) is blocked,
    /// belongs to this CPU and may run on it (and, if `me`'s wait lends
    /// priority, `to` lends to nobody); as [`ThreadTable::block_thread`] for
    /// `me`'s wait.
    pub fn handoff(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        me: ThreadId,
        on: BlockedOn,
        to: ThreadId,
        now: u64,
    ) -> Result<ThreadId, SchedError> {
        if self.current == Some(me) && self.fast_handoff(table, me, on, to, now) {
            return Ok(to);
        }
        self.check_current(table, inboxes, me)?;
        let target = table.get(to)?;
        let invalid = SchedError::InvalidState {
            thread: to,
            state: target.state,
        };
        if to == me
            || !matches!(target.state, ThreadState::Blocked(_))
            || target.cpu != self.cpu
            || !target.affinity.contains(self.cpu)
            || self.is_queued(to)
        {
            return Err(invalid);
        }
        // `to` leaves its wait first. When `me`'s wait lends priority, the
        // checks below must see the state after that: exact only if `to`
        // lends to nobody now (else a cycle through `to` would be refused
        // that its wake-up breaks); the general path handles the rest.
        let lends = matches!(on, BlockedOn::Reply(_) | BlockedOn::Mutex(_));
        if lends && table.donee_of(to).is_some() {
            return Err(invalid);
        }
        let donee = table.check_block(me, on)?;
        // --- point of no return ---
        self.charge(now);
        table.unblock_thread(to)?;
        table.block_checked(me, on, donee);
        self.release_current(table);
        // Settle as `wake` and `block` would, except that `to` is queued only
        // if it must be: when it would run at once, queueing it only to take
        // it out again changes nothing. Its place among other threads
        // settled here is kept by queueing it before any that come after it.
        let mut to_unqueued = false;
        let mut to_queued = false;
        while let Some(tid) = table.take_attention() {
            if tid == me {
                continue; // blocked: reconciling it changes nothing
            }
            if tid == to {
                to_unqueued = !to_queued;
                continue;
            }
            if core::mem::take(&mut to_unqueued) {
                let _ = self.reconcile(table, inboxes, to);
                to_queued = true;
            }
            let _ = self.reconcile(table, inboxes, tid);
        }
        if to_queued {
            return self.apply(Decision::SwitchTo(to), now).ok_or(invalid);
        }
        let (level, slice) = {
            let thread = table.thread(to);
            (thread.effective, thread.slice_left)
        };
        if self.queue.highest() <= Some(level) {
            // `apply(SwitchTo(to))`'s direct switch, `to` never queued.
            self.current_requeue_end = QueueEnd::Front;
            self.make_current(to, level, slice);
            return Ok(to);
        }
        let _ = self.reconcile(table, inboxes, to);
        self.pick_next(now).ok_or(invalid)
    }

    /// Makes `tid`, a thread queued on this CPU, the current one at once
    /// whatever its priority; the current thread (charged up to `now`) goes
    /// back to its queue. For a CPU that has been running `tid` on the
    /// current thread's behalf (the kernel's scheduling-context donation on
    /// the IPC fast path) and now makes its books say so. Returns
    /// `Reschedule` when a queued thread beats `tid`.
    ///
    /// # Errors
    /// [`SchedError::InvalidState`] unless `tid` is queued here; nothing
    /// changed.
    pub fn adopt(
        &mut self,
        table: &ThreadTable,
        tid: ThreadId,
        now: u64,
    ) -> Result<Decision, SchedError> {
        if self.current == Some(tid) {
            return Ok(Decision::Stay);
        }
        if !self.is_queued(tid) {
            return Err(SchedError::InvalidState {
                thread: tid,
                state: table.get(tid)?.state,
            });
        }
        self.charge(now);
        self.put_back_current();
        let (level, slice) = self.unqueue(tid).ok_or(SchedError::InvalidState {
            thread: tid,
            state: ThreadState::Ready,
        })?;
        self.make_current(tid, level, slice);
        Ok(if self.queue.highest() > Some(level) {
            Decision::Reschedule
        } else {
            Decision::Stay
        })
    }

    /// [`Scheduler::handoff`] for the two IPC shapes
    /// ([`ThreadTable::ipc_handoff_in_place`]) when `to` runs at once: no
    /// attention list, no queueing. `false`, changing nothing, otherwise.
    fn fast_handoff(
        &mut self,
        table: &mut ThreadTable,
        me: ThreadId,
        on: BlockedOn,
        to: ThreadId,
        now: u64,
    ) -> bool {
        let Ok(target) = table.get(to) else {
            return false;
        };
        // `to` must be blocked (checked below), so it is in no queue.
        if target.cpu != self.cpu || !target.affinity.contains(self.cpu) {
            return false;
        }
        // Whether `to` runs at once is known only after the change: its
        // effective priority may rise (a call lends it `me`'s). Compare
        // with what it will be at least; otherwise take the general path.
        if self.queue.highest() > Some(target.effective) {
            return false;
        }
        // `charge(now)`, then `release_current` writing `me`'s slice back,
        // folded into the table's one step.
        let me_slice = self
            .current_slice
            .saturating_sub(now.saturating_sub(self.charged_until));
        let Some((level, slice)) = table.ipc_handoff_in_place(me, on, to, me_slice) else {
            return false;
        };
        self.charged_until = self.charged_until.max(now);
        self.current_requeue_end = QueueEnd::Front;
        self.make_current(to, level, slice);
        true
    }

    /// The current thread locks a kernel mutex: `Stay` if it got it,
    /// `Reschedule` if it now waits (lending its priority to the owner).
    ///
    /// # Errors
    /// As [`Scheduler::block`] and [`ThreadTable::lock_mutex`].
    pub fn lock_mutex(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        tid: ThreadId,
        mutex: MutexId,
    ) -> Result<Decision, SchedError> {
        self.check_current(table, inboxes, tid)?;
        let decision = match table.lock_mutex(tid, mutex)? {
            MutexLock::Acquired => Decision::Stay,
            MutexLock::Blocked => {
                self.release_current(table);
                Decision::Reschedule
            }
        };
        Ok(decision.combine(self.settle(table, inboxes)))
    }

    /// The current thread releases a kernel mutex; the heir is made ready and
    /// the releaser loses what the waiters lent it.
    ///
    /// # Errors
    /// As [`Scheduler::block`] and [`ThreadTable::unlock_mutex`].
    pub fn unlock_mutex(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        tid: ThreadId,
        mutex: MutexId,
    ) -> Result<Decision, SchedError> {
        self.check_current(table, inboxes, tid)?;
        table.unlock_mutex(tid, mutex)?;
        Ok(self.settle(table, inboxes))
    }

    /// Changes a thread's base priority.
    ///
    /// # Errors
    /// [`SchedError::InboxesMismatch`]; [`SchedError::UnknownThread`].
    pub fn set_base_priority(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        tid: ThreadId,
        priority: Priority,
    ) -> Result<Decision, SchedError> {
        check_inboxes(table, inboxes)?;
        table.set_base_priority(tid, priority)?;
        Ok(self.settle(table, inboxes))
    }

    /// Kills a thread of this CPU (any state) or a blocked thread of any CPU,
    /// unwinding its calls and mutexes (see [`ThreadTable::exit_thread`]).
    /// The slot stays allocated until [`ThreadTable::reap`].
    ///
    /// # Errors
    /// [`SchedError::InboxesMismatch`]; unknown thread;
    /// [`SchedError::WrongCpu`] for a runnable thread of another CPU (ask
    /// that CPU); [`SchedError::InvalidState`] if already dead.
    pub fn exit(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        tid: ThreadId,
    ) -> Result<Decision, SchedError> {
        check_inboxes(table, inboxes)?;
        let thread = table.get(tid)?;
        if thread.cpu != self.cpu && thread.state == ThreadState::Ready {
            return Err(SchedError::WrongCpu {
                thread: tid,
                owner: thread.cpu,
            });
        }
        if thread.state == ThreadState::Dead {
            return Err(SchedError::InvalidState {
                thread: tid,
                state: thread.state,
            });
        }
        // --- point of no return ---
        let _ = self.unqueue(tid);
        let mut decision = Decision::Stay;
        if self.current == Some(tid) {
            self.release_current(table);
            decision = Decision::Reschedule;
        }
        table.exit_thread(tid)?;
        Ok(decision.combine(self.settle(table, inboxes)))
    }

    /// Drains this CPU's inbox, queueing or requeueing each posted thread
    /// as the table now has it (reads only). Returns at once when nothing
    /// was posted since the last drain ([`crate::Inbox::has_mail`]).
    ///
    /// # Errors
    /// [`SchedError::InboxesMismatch`].
    pub fn drain_inbox(
        &mut self,
        table: &ThreadTable,
        inboxes: &Inboxes,
    ) -> Result<Decision, SchedError> {
        check_inboxes(table, inboxes)?;
        let inbox = inboxes
            .get(self.cpu)
            .ok_or(SchedError::NoSuchCpu(self.cpu))?;
        if !inbox.has_mail() {
            return Ok(Decision::Stay);
        }
        let mut decision = Decision::Stay;
        inbox.drain(|tid| decision = decision.combine(self.reconcile(table, inboxes, tid)));
        Ok(decision)
    }

    /// Victim side of work stealing, run on this CPU when idle `thief` asks:
    /// hands over the most urgent queued thread allowed on `thief` (posting it
    /// to the thief's inbox, its slice written back to its record). O(queued
    /// threads) in the worst case; stealing is an idle path.
    ///
    /// # Errors
    /// [`SchedError::InboxesMismatch`]; [`SchedError::NoSuchCpu`].
    pub fn give_to_thief(
        &mut self,
        table: &mut ThreadTable,
        inboxes: &Inboxes,
        thief: CpuId,
    ) -> Result<Option<ThreadId>, SchedError> {
        check_inboxes(table, inboxes)?;
        if thief.index() >= table.cpu_count() {
            return Err(SchedError::NoSuchCpu(thief));
        }
        if thief == self.cpu {
            return Ok(None);
        }
        let candidate = self.queue.levels_descending().find_map(|level| {
            self.queue
                .level(&self.links, level)
                .find(|&tid| table.thread(tid).affinity.contains(thief))
        });
        let Some(tid) = candidate else {
            return Ok(None);
        };
        let (_, slice) = self.unqueue(tid).ok_or(SchedError::NotQueued(tid))?;
        let thread = table.thread_mut(tid);
        thread.cpu = thief;
        thread.slice_left = slice;
        self.post(inboxes, thief, tid);
        Ok(Some(tid))
    }

    /// Brings every thread the table flagged up to date: see the module doc.
    pub fn settle(&mut self, table: &mut ThreadTable, inboxes: &Inboxes) -> Decision {
        let mut decision = Decision::Stay;
        while let Some(tid) = table.take_attention() {
            decision = decision.combine(self.reconcile(table, inboxes, tid));
        }
        decision
    }

    /// Makes this CPU's view of `tid` match the table: queue it if it is ready
    /// and unqueued, move it if it is queued at a stale level, note the
    /// current thread's new priority and ask for a reschedule if it lost its
    /// lead. Threads of other CPUs are forwarded to their inbox. Idempotent.
    fn reconcile(&mut self, table: &ThreadTable, inboxes: &Inboxes, tid: ThreadId) -> Decision {
        let Ok(thread) = table.get(tid) else {
            return Decision::Stay; // reaped since it was posted
        };
        let (state, level, cpu) = (thread.state, thread.effective, thread.cpu);
        if state != ThreadState::Ready {
            return Decision::Stay;
        }
        if cpu != self.cpu {
            self.post(inboxes, cpu, tid);
            return Decision::Stay;
        }
        if self.current == Some(tid) {
            self.current_level = level;
            return if self.queue.highest() > Some(level) {
                Decision::Reschedule
            } else {
                Decision::Stay
            };
        }
        let slice = match self.links[tid.slot()].position() {
            Some((_, queued_at)) if queued_at == level => return Decision::Stay,
            Some(_) => self.unqueue(tid).map_or(0, |(_, slice)| slice),
            None => thread.slice_left,
        };
        if self.insert(tid, level, slice, QueueEnd::Back).is_err() {
            return Decision::Stay;
        }
        self.preemption_for(level)
    }

    fn post(&mut self, inboxes: &Inboxes, cpu: CpuId, tid: ThreadId) {
        // Cannot fail: `check_inboxes` ran, thread CPUs are below the table's
        // CPU count and ids below its capacity.
        if let Ok(posted) = inboxes.post(cpu, tid)
            && posted.send_ipi
        {
            self.ipi_targets.insert(cpu);
            self.ipi_posted = true;
        }
    }

    fn preemption_for(&self, level: Priority) -> Decision {
        if self.current.is_some() && self.current_level >= level {
            Decision::Stay
        } else {
            Decision::Reschedule
        }
    }

    fn can_switch_directly(&self, target: ThreadId) -> bool {
        let Some((_, level)) = self.links.get(target.slot()).and_then(QueueLink::position) else {
            return false;
        };
        let current_beats_target = self.current.is_some() && self.current_level > level;
        self.queue.highest() <= Some(level) && !current_beats_target
    }

    fn check_current(
        &self,
        table: &ThreadTable,
        inboxes: &Inboxes,
        tid: ThreadId,
    ) -> Result<(), SchedError> {
        check_inboxes(table, inboxes)?;
        let thread = table.get(tid)?;
        if self.current != Some(tid) {
            return Err(SchedError::InvalidState {
                thread: tid,
                state: thread.state,
            });
        }
        Ok(())
    }

    fn charge(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.charged_until);
        self.charged_until = self.charged_until.max(now);
        if self.current.is_some() {
            self.current_slice = self.current_slice.saturating_sub(elapsed);
        }
    }

    /// Links `tid` into this CPU's queue with `slice` left.
    fn insert(
        &mut self,
        tid: ThreadId,
        level: Priority,
        slice: u64,
        end: QueueEnd,
    ) -> Result<(), SchedError> {
        self.queue.insert(&mut self.links, tid, level, end)?;
        self.slices[tid.slot()] = slice;
        Ok(())
    }

    /// Unlinks `tid` from this CPU's queue: its level and slice left.
    fn unqueue(&mut self, tid: ThreadId) -> Option<(Priority, u64)> {
        let level = self.queue.remove(&mut self.links, tid).ok()?;
        Some((level, core::mem::take(&mut self.slices[tid.slot()])))
    }

    fn put_back_current(&mut self) {
        let end = core::mem::replace(&mut self.current_requeue_end, QueueEnd::Front);
        let Some(previous) = self.current.take() else {
            return;
        };
        let slice = core::mem::take(&mut self.current_slice);
        let level = core::mem::replace(&mut self.current_level, Priority::LOWEST);
        // A thread that used up its slice goes to the back of its level even
        // when it is switched out for another reason (a more urgent thread
        // woke in the same tick): otherwise a preemption every tick would put
        // it back in front forever and starve its peers.
        let end = if slice == 0 { QueueEnd::Back } else { end };
        let _ = self.insert(previous, level, slice, end);
    }

    /// The current thread stops being runnable (blocked, exited): its slice
    /// goes back to its table record.
    fn release_current(&mut self, table: &mut ThreadTable) {
        let slice = core::mem::take(&mut self.current_slice);
        self.current_level = Priority::LOWEST;
        if let Some(tid) = self.current.take()
            && let Ok(thread) = table.get_mut(tid)
        {
            thread.slice_left = slice;
        }
    }

    fn make_current(&mut self, tid: ThreadId, level: Priority, slice: u64) {
        self.current = Some(tid);
        self.current_level = level;
        self.current_slice = if slice == 0 {
            self.config.time_slice
        } else {
            slice
        };
    }
}

fn check_inboxes(table: &ThreadTable, inboxes: &Inboxes) -> Result<(), SchedError> {
    if inboxes.cpu_count() < table.cpu_count() || inboxes.max_threads() < table.capacity() {
        return Err(SchedError::InboxesMismatch);
    }
    Ok(())
}
