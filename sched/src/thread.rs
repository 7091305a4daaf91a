//! The thread table: one slab of thread records (priorities, state, affinity,
//! CPU, time slice, queue and wait links) plus the kernel mutexes threads block
//! on. Together they form the priority-inheritance graph (see `pi.rs`).
//!
//! Capacity is fixed at construction so that no operation allocates after boot.

use alloc::vec::Vec;

use crate::cpuset::{CpuId, CpuSet, MAX_CPUS};
use crate::error::SchedError;
use crate::list::{Link, ListHead};
use crate::pi::PiConfig;
use crate::priority::Priority;

/// A thread, named by its slot in the [`ThreadTable`]. Slots are reused after
/// [`ThreadTable::reap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u32);

impl ThreadId {
    pub(crate) const fn slot(self) -> usize {
        self.0 as usize
    }
}

/// A kernel mutex exposed to user space, named by its slot in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MutexId(pub u32);

/// What a blocked thread waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedOn {
    /// The reply to a synchronous call that this server has received. The
    /// caller lends its effective priority to the server until the wait ends.
    Reply(ThreadId),
    /// A kernel mutex owned by another thread; the waiter lends its effective
    /// priority to the owner.
    Mutex(MutexId),
    /// A message on an endpoint (no one to lend priority to).
    Receive,
    /// A timer or other event without an owner (no one to lend priority to).
    Sleep,
}

/// Scheduling state of a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    /// Runnable: the current thread of its CPU, queued there, or on its way
    /// there through the CPU's inbox. Which of these only that CPU's
    /// [`crate::Scheduler`] knows (`current`, `is_queued`): it changes on
    /// every pick, which takes no lock shared with other CPUs.
    Ready,
    /// Waiting; see [`BlockedOn`].
    Blocked(BlockedOn),
    /// Exited; the slot is freed by [`ThreadTable::reap`].
    Dead,
}

/// What a new thread starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadParams {
    /// Base (own) priority.
    pub priority: Priority,
    /// CPUs the thread may run on.
    pub affinity: CpuSet,
    /// CPU it starts on (see `placement::place_thread`); must be in `affinity`.
    pub cpu: CpuId,
}

/// One thread's scheduling record.
#[derive(Debug, Clone)]
pub struct Thread {
    pub(crate) base: Priority,
    pub(crate) effective: Priority,
    pub(crate) state: ThreadState,
    pub(crate) affinity: CpuSet,
    pub(crate) cpu: CpuId,
    /// Time units left in the slice as of when the thread last left its
    /// CPU's runnable set (blocked, or migrated); while runnable its CPU's
    /// scheduler holds the live value. 0 means "refill when next picked".
    pub(crate) slice_left: u64,
    /// Edges in the longest donation chain that ends at this thread.
    pub(crate) chain_height: usize,
    /// Threads blocked on `Reply(self)`.
    pub(crate) callers: ListHead,
    /// Mutexes this thread owns (linked through `ThreadTable::owner_links`).
    pub(crate) owned_mutexes: ListHead,
    pub(crate) needs_attention: bool,
}

impl Thread {
    /// Own priority, as set at spawn or by `set_base_priority`.
    #[must_use]
    pub fn base_priority(&self) -> Priority {
        self.base
    }
    /// Priority the scheduler uses: the base raised by inheritance.
    #[must_use]
    pub fn effective_priority(&self) -> Priority {
        self.effective
    }
    /// Current state.
    #[must_use]
    pub fn state(&self) -> ThreadState {
        self.state
    }
    /// CPUs the thread may run on.
    #[must_use]
    pub fn affinity(&self) -> CpuSet {
        self.affinity
    }
    /// CPU whose ready queue owns the thread.
    #[must_use]
    pub fn cpu(&self) -> CpuId {
        self.cpu
    }
    /// Time left in the slice when the thread last stopped being runnable
    /// (0: a fresh slice is given when next picked). While it is runnable,
    /// ask its CPU's scheduler (`Scheduler::slice_left`).
    #[must_use]
    pub fn slice_left(&self) -> u64 {
        self.slice_left
    }
}

/// A kernel mutex: an owner and the FIFO of threads blocked on it.
#[derive(Debug, Clone)]
pub(crate) struct KernelMutex {
    pub(crate) owner: Option<ThreadId>,
    pub(crate) waiters: ListHead,
}

/// Sizes of a [`ThreadTable`], fixed at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLimits {
    /// Most threads alive (or dead and not yet reaped) at once.
    pub threads: usize,
    /// Most kernel mutexes at once.
    pub mutexes: usize,
    /// Number of CPUs; thread CPUs are below it.
    pub cpus: usize,
}

/// All thread records and kernel mutexes.
///
/// The table holds what CPUs share: states, priorities and the PI graph
/// (the kernel keeps it under one lock, taken to block, wake or change
/// priorities). Ready queues, the current thread and live time slices are
/// each CPU's own ([`crate::Scheduler`]), so picking, ticking and yielding
/// never touch the table.
#[derive(Debug)]
pub struct ThreadTable {
    pub(crate) threads: Vec<Option<Thread>>,
    free_threads: Vec<u32>,
    /// Link on the waiter list of what the thread blocks on (a server's
    /// `callers` or a mutex's `waiters`).
    pub(crate) wait_links: Vec<Link>,
    attention_links: Vec<Link>,
    attention: ListHead,
    pub(crate) mutexes: Vec<Option<KernelMutex>>,
    free_mutexes: Vec<u32>,
    /// Link on the owner's `owned_mutexes` list, per mutex.
    pub(crate) owner_links: Vec<Link>,
    pub(crate) pi: PiConfig,
    cpu_count: usize,
}

impl ThreadTable {
    /// An empty table of the given sizes.
    ///
    /// # Errors
    /// [`SchedError::InvalidCapacity`] if there are no thread slots or no CPUs,
    /// more than [`MAX_CPUS`] CPUs, or more slots than 32-bit ids can name.
    pub fn new(limits: TableLimits, pi: PiConfig) -> Result<Self, SchedError> {
        let TableLimits {
            threads: max_threads,
            mutexes: max_mutexes,
            cpus,
        } = limits;
        let id_limit = u32::MAX as usize; // u32::MAX is the lists' "no element"
        if max_threads == 0 || max_threads >= id_limit || max_mutexes >= id_limit {
            return Err(SchedError::InvalidCapacity);
        }
        if cpus == 0 || cpus > MAX_CPUS {
            return Err(SchedError::InvalidCapacity);
        }
        let thread_slots = (0..max_threads as u32).rev().collect();
        let mutex_slots = (0..max_mutexes as u32).rev().collect();
        Ok(Self {
            threads: (0..max_threads).map(|_| None).collect(),
            free_threads: thread_slots,
            wait_links: alloc::vec![Link::UNLINKED; max_threads],
            attention_links: alloc::vec![Link::UNLINKED; max_threads],
            attention: ListHead::EMPTY,
            mutexes: (0..max_mutexes).map(|_| None).collect(),
            free_mutexes: mutex_slots,
            owner_links: alloc::vec![Link::UNLINKED; max_mutexes],
            pi,
            cpu_count: cpus,
        })
    }

    /// Number of CPUs threads may be placed on.
    #[must_use]
    pub fn cpu_count(&self) -> usize {
        self.cpu_count
    }

    /// Most threads the table holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.threads.len()
    }

    /// Creates a thread in state [`ThreadState::Ready`], not yet queued
    /// (hand it to its CPU's `Scheduler::enqueue`).
    ///
    /// # Errors
    /// [`SchedError::NoSuchCpu`] if `params.cpu` does not exist,
    /// [`SchedError::NoAllowedCpu`] if it is outside the affinity,
    /// [`SchedError::ThreadTableFull`] if no slot is free.
    pub fn spawn(&mut self, params: ThreadParams) -> Result<ThreadId, SchedError> {
        if params.cpu.index() >= self.cpu_count {
            return Err(SchedError::NoSuchCpu(params.cpu));
        }
        if !params.affinity.contains(params.cpu) {
            return Err(SchedError::NoAllowedCpu);
        }
        let slot = self.free_threads.pop().ok_or(SchedError::ThreadTableFull)?;
        self.threads[slot as usize] = Some(Thread {
            base: params.priority,
            effective: params.priority,
            state: ThreadState::Ready,
            affinity: params.affinity,
            cpu: params.cpu,
            slice_left: 0,
            chain_height: 0,
            callers: ListHead::EMPTY,
            owned_mutexes: ListHead::EMPTY,
            needs_attention: false,
        });
        Ok(ThreadId(slot))
    }

    /// Frees the slot of a dead thread.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`], or [`SchedError::InvalidState`] unless the
    /// thread is [`ThreadState::Dead`].
    pub fn reap(&mut self, tid: ThreadId) -> Result<(), SchedError> {
        let thread = self.get(tid)?;
        if thread.state != ThreadState::Dead {
            return Err(SchedError::InvalidState {
                thread: tid,
                state: thread.state,
            });
        }
        if thread.needs_attention {
            self.attention.remove(&mut self.attention_links, tid.0);
        }
        self.threads[tid.slot()] = None;
        self.free_threads.push(tid.0);
        Ok(())
    }

    /// The record of a live (or dead, not yet reaped) thread.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`] if the slot is empty or out of range.
    pub fn get(&self, tid: ThreadId) -> Result<&Thread, SchedError> {
        self.threads
            .get(tid.slot())
            .and_then(Option::as_ref)
            .ok_or(SchedError::UnknownThread(tid))
    }

    pub(crate) fn get_mut(&mut self, tid: ThreadId) -> Result<&mut Thread, SchedError> {
        self.threads
            .get_mut(tid.slot())
            .and_then(Option::as_mut)
            .ok_or(SchedError::UnknownThread(tid))
    }

    /// Record of a thread the caller knows to exist (an invariant, not input).
    pub(crate) fn thread(&self, tid: ThreadId) -> &Thread {
        match self.threads[tid.slot()].as_ref() {
            Some(thread) => thread,
            None => unreachable!("{tid:?} is linked in the PI graph but has no record"),
        }
    }

    pub(crate) fn thread_mut(&mut self, tid: ThreadId) -> &mut Thread {
        match self.threads[tid.slot()].as_mut() {
            Some(thread) => thread,
            None => unreachable!("{tid:?} is linked in the PI graph but has no record"),
        }
    }

    /// The ids of all live and dead-but-unreaped threads, ascending.
    pub fn thread_ids(&self) -> impl Iterator<Item = ThreadId> + '_ {
        self.threads
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.is_some())
            .filter_map(|(i, _)| u32::try_from(i).ok().map(ThreadId))
    }

    /// Changes the affinity of a thread, which must keep its current CPU
    /// (moving it elsewhere is a migration the owning CPU performs).
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`], or [`SchedError::AffinityExcludesCpu`] if
    /// the new mask leaves out the thread's CPU.
    pub fn set_affinity(&mut self, tid: ThreadId, affinity: CpuSet) -> Result<(), SchedError> {
        let thread = self.get_mut(tid)?;
        if !affinity.contains(thread.cpu) {
            return Err(SchedError::AffinityExcludesCpu {
                thread: tid,
                cpu: thread.cpu,
            });
        }
        thread.affinity = affinity;
        Ok(())
    }

    /// Marks a thread whose state or effective priority changed so that its CPU
    /// re-examines it (see `Scheduler::settle`). Idempotent.
    pub(crate) fn flag_attention(&mut self, tid: ThreadId) {
        let thread = self.thread_mut(tid);
        if !thread.needs_attention {
            thread.needs_attention = true;
            self.attention.push_back(&mut self.attention_links, tid.0);
        }
    }

    /// Whether no thread is flagged for attention.
    pub(crate) fn attention_is_empty(&self) -> bool {
        self.attention.is_empty()
    }

    /// Takes the oldest thread flagged for attention, if any.
    pub fn take_attention(&mut self) -> Option<ThreadId> {
        let slot = self.attention.pop_front(&mut self.attention_links)?;
        let tid = ThreadId(slot);
        self.thread_mut(tid).needs_attention = false;
        Some(tid)
    }

    /// Creates an unowned kernel mutex.
    ///
    /// # Errors
    /// [`SchedError::MutexTableFull`] if no slot is free.
    pub fn create_mutex(&mut self) -> Result<MutexId, SchedError> {
        let slot = self.free_mutexes.pop().ok_or(SchedError::MutexTableFull)?;
        self.mutexes[slot as usize] = Some(KernelMutex {
            owner: None,
            waiters: ListHead::EMPTY,
        });
        Ok(MutexId(slot))
    }

    /// Destroys an unowned mutex nobody waits on.
    ///
    /// # Errors
    /// [`SchedError::UnknownMutex`], or [`SchedError::MutexBusy`] if it is
    /// owned or awaited.
    pub fn destroy_mutex(&mut self, mutex: MutexId) -> Result<(), SchedError> {
        let record = self.mutex(mutex)?;
        if record.owner.is_some() || !record.waiters.is_empty() {
            return Err(SchedError::MutexBusy(mutex));
        }
        self.mutexes[mutex.0 as usize] = None;
        self.free_mutexes.push(mutex.0);
        Ok(())
    }

    /// The owner of a mutex.
    ///
    /// # Errors
    /// [`SchedError::UnknownMutex`].
    pub fn mutex_owner(&self, mutex: MutexId) -> Result<Option<ThreadId>, SchedError> {
        Ok(self.mutex(mutex)?.owner)
    }

    pub(crate) fn mutex(&self, mutex: MutexId) -> Result<&KernelMutex, SchedError> {
        self.mutexes
            .get(mutex.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(SchedError::UnknownMutex(mutex))
    }
}
