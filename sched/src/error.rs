//! The error type of every fallible scheduler operation.

use core::fmt;

use crate::cpuset::CpuId;
use crate::thread::{MutexId, ThreadId, ThreadState};

/// Why a scheduler, thread-table or placement operation was refused. A refused
/// operation changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedError {
    /// No live thread has this id.
    UnknownThread(ThreadId),
    /// No kernel mutex has this id.
    UnknownMutex(MutexId),
    /// Every thread slot is in use.
    ThreadTableFull,
    /// Every mutex slot is in use.
    MutexTableFull,
    /// The thread is in a state the operation does not accept.
    InvalidState {
        /// The thread concerned.
        thread: ThreadId,
        /// Its state when the operation was refused.
        state: ThreadState,
    },
    /// The thread is sitting in a ready queue, so it cannot block or be queued again.
    AlreadyQueued(ThreadId),
    /// The thread is not in this CPU's ready queue.
    NotQueued(ThreadId),
    /// The operation must run on the thread's own CPU.
    WrongCpu {
        /// The thread concerned.
        thread: ThreadId,
        /// The CPU the thread belongs to.
        owner: CpuId,
    },
    /// The CPU is outside the thread's affinity mask.
    AffinityExcludesCpu {
        /// The thread concerned.
        thread: ThreadId,
        /// The CPU it was to run on.
        cpu: CpuId,
    },
    /// Blocking would close a cycle of waiters: the wait would never end.
    Deadlock {
        /// The thread that asked to block.
        thread: ThreadId,
    },
    /// Blocking would make a priority-inheritance chain longer than the bound.
    ChainTooLong {
        /// Edges in the chain the wait would create.
        length: usize,
        /// The configured bound.
        limit: usize,
    },
    /// The thread does not own the mutex it tried to release.
    NotMutexOwner {
        /// The mutex concerned.
        mutex: MutexId,
        /// The thread that tried to release it.
        thread: ThreadId,
    },
    /// The thread already owns the mutex it tried to lock (no recursion).
    AlreadyMutexOwner {
        /// The mutex concerned.
        mutex: MutexId,
        /// Its owner.
        thread: ThreadId,
    },
    /// Blocking on a mutex nobody owns: lock it instead.
    MutexNotOwned(MutexId),
    /// The mutex still has an owner or waiters and cannot be destroyed.
    MutexBusy(MutexId),
    /// No inbox exists for this CPU.
    NoSuchCpu(CpuId),
    /// The inboxes do not cover every CPU and thread slot of the thread table.
    InboxesMismatch,
    /// A table or inbox was asked to have no capacity, or more than ids can name.
    InvalidCapacity,
    /// The NUMA topology description is inconsistent.
    InvalidTopology,
    /// No CPU allowed by the affinity mask exists.
    NoAllowedCpu,
}

// Hand-written instead of `thiserror`: a dozen lines do not justify a
// proc-macro dependency in a no_std crate that the kernel links.
impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownThread(t) => write!(f, "no live thread {t:?}"),
            Self::UnknownMutex(m) => write!(f, "no kernel mutex {m:?}"),
            Self::ThreadTableFull => f.write_str("thread table is full"),
            Self::MutexTableFull => f.write_str("mutex table is full"),
            Self::InvalidState { thread, state } => {
                write!(
                    f,
                    "{thread:?} is {state:?}, which this operation does not accept"
                )
            }
            Self::AlreadyQueued(t) => write!(f, "{t:?} is already in a ready queue"),
            Self::NotQueued(t) => write!(f, "{t:?} is not in this ready queue"),
            Self::WrongCpu { thread, owner } => write!(f, "{thread:?} belongs to {owner:?}"),
            Self::AffinityExcludesCpu { thread, cpu } => {
                write!(f, "{thread:?} may not run on {cpu:?}")
            }
            Self::Deadlock { thread } => write!(f, "blocking {thread:?} would deadlock"),
            Self::ChainTooLong { length, limit } => {
                write!(
                    f,
                    "inheritance chain of {length} edges exceeds the bound {limit}"
                )
            }
            Self::NotMutexOwner { mutex, thread } => write!(f, "{thread:?} does not own {mutex:?}"),
            Self::AlreadyMutexOwner { mutex, thread } => {
                write!(f, "{thread:?} already owns {mutex:?}")
            }
            Self::MutexNotOwned(m) => write!(f, "{m:?} has no owner to wait for"),
            Self::MutexBusy(m) => write!(f, "{m:?} is owned or awaited"),
            Self::NoSuchCpu(c) => write!(f, "no inbox for {c:?}"),
            Self::InboxesMismatch => {
                f.write_str("inboxes do not cover every CPU and thread of the table")
            }
            Self::InvalidCapacity => f.write_str("capacity must be between 1 and u32::MAX - 1"),
            Self::InvalidTopology => f.write_str("inconsistent NUMA topology"),
            Self::NoAllowedCpu => f.write_str("no existing CPU is allowed by the affinity"),
        }
    }
}

impl core::error::Error for SchedError {}
