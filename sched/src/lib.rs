//! Veridian's scheduling logic, free of hardware so it is tested on the host;
//! `kernel/` wires it to the LAPIC timer, context switches and IPIs.
//!
//! Design principles:
//! - **Fixed priorities, larger is more urgent** (256 levels, [`Priority`]).
//!   Each CPU owns a ready queue: one FIFO per level linked through the
//!   [`ThreadTable`] plus a two-level bitmap, so enqueue, dequeue,
//!   remove-from-the-middle and pick are O(1). Round robin within a level.
//! - **Per-CPU, no cross-CPU locks on queues.** Only a CPU touches its queue.
//!   Other CPUs reach it through its lock-free [`Inbox`], which never loses a
//!   wake-up (a full queue spills into an overflow bitmap).
//! - **Decisions, not side effects.** Every entry point returns a
//!   `#[must_use]` [`Decision`] (`Stay`, `Reschedule`, `SwitchTo`), merged
//!   with [`Decision::combine`] as in Hubris.
//! - **Priority inheritance** through synchronous calls and kernel mutexes,
//!   transitively, with cycles refused as [`SchedError::Deadlock`] and chains
//!   bounded ([`PiConfig`]). Checks come first, mutation after.
//! - **NUMA placement and stealing** are pure functions of a [`Topology`]
//!   (SLIT distances) and published loads ([`placement`]).
//! - No allocation after construction on any path except [`steal_order`]
//!   (an idle-CPU path).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod cpuset;
mod decision;
mod error;
mod inbox;
mod list;
mod pi;
pub mod placement;
mod priority;
mod ready_queue;
mod scheduler;
mod thread;

pub use cpuset::{CpuId, CpuSet, MAX_CPUS};
pub use decision::Decision;
pub use error::SchedError;
pub use inbox::{Inbox, Inboxes, Posted};
pub use pi::{MutexLock, PiConfig};
pub use placement::{NodeId, Topology, place_thread, steal_order};
pub use priority::{PRIORITY_LEVELS, Priority, PriorityBitmap};
pub use scheduler::{SchedConfig, Scheduler};
pub use thread::{
    BlockedOn, MutexId, TableLimits, Thread, ThreadId, ThreadParams, ThreadState, ThreadTable,
};
