//! The per-CPU wake-up inbox: the only structure other CPUs write.
//!
//! A CPU that makes a thread of another CPU runnable (or changes its priority)
//! posts the thread id here and, if [`Posted::send_ipi`] says so, sends that CPU
//! an IPI; the owner drains the inbox with interrupts off and reconciles each
//! thread with its own ready queue. Messages mean "look at this thread again",
//! so handling one twice is harmless and duplicates may be merged.
//!
//! **When the queue is full the wake-up is not lost:** the poster sets the
//! thread's bit in a fixed per-inbox overflow bitmap (one bit per thread slot,
//! `fetch_or`, lock-free) and raises an overflow flag; the drain empties the
//! queue and then, if the flag was raised, collects and clears the bitmap.
//! Posting never blocks, never fails for a valid id and never allocates.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::cpuset::CpuId;
use crate::error::SchedError;
use crate::thread::ThreadId;

/// Outcome of [`Inbox::post`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the poster must send the IPI when asked to"]
pub struct Posted {
    /// No IPI is pending for this inbox yet: the poster must send one. Posts
    /// between two drains share one IPI.
    pub send_ipi: bool,
    /// The queue was full and the overflow bitmap took the message.
    pub overflowed: bool,
}

/// A lock-free, multi-producer, single-consumer inbox of thread ids.
#[derive(Debug)]
pub struct Inbox {
    queue: ArrayQueue<ThreadId>,
    overflow_bits: Box<[AtomicU64]>,
    max_threads: usize,
    overflowed: AtomicBool,
    ipi_pending: AtomicBool,
}

impl Inbox {
    /// An inbox with a queue of `queue_capacity` entries, accepting thread ids
    /// below `max_threads`.
    ///
    /// # Errors
    /// [`SchedError::InvalidCapacity`] if either is zero.
    pub fn new(queue_capacity: usize, max_threads: usize) -> Result<Self, SchedError> {
        if queue_capacity == 0 || max_threads == 0 {
            return Err(SchedError::InvalidCapacity);
        }
        Ok(Self {
            queue: ArrayQueue::new(queue_capacity),
            overflow_bits: (0..max_threads.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            max_threads,
            overflowed: AtomicBool::new(false),
            ipi_pending: AtomicBool::new(false),
        })
    }

    /// Posts `tid` from any CPU. Never blocks and never drops the message.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`] if `tid` is beyond `max_threads`.
    pub fn post(&self, tid: ThreadId) -> Result<Posted, SchedError> {
        let word = self
            .overflow_bits
            .get(tid.slot() / 64)
            .filter(|_| tid.slot() < self.max_threads)
            .ok_or(SchedError::UnknownThread(tid))?;
        let overflowed = match self.queue.push(tid) {
            Ok(()) => false,
            Err(_) => {
                // Bit first, flag second (Release): a drain that sees the flag
                // sees the bit.
                word.fetch_or(1 << (tid.slot() % 64), Ordering::Release);
                self.overflowed.store(true, Ordering::Release);
                true
            }
        };
        // SeqCst pairs with the drain clearing the flag before it reads the
        // queue: either the drain sees this message or this post sees the
        // cleared flag and sends an IPI.
        let send_ipi = !self.ipi_pending.swap(true, Ordering::SeqCst);
        Ok(Posted {
            send_ipi,
            overflowed,
        })
    }

    /// Whether something was posted since the last drain (owner CPU only):
    /// lets the owner skip a drain, and the shared state it reads, when there
    /// is nothing. A post that this misses (its flag not yet set) is followed
    /// by its IPI, which triggers the drain.
    #[must_use]
    pub fn has_mail(&self) -> bool {
        self.ipi_pending.load(Ordering::Acquire)
    }

    /// Hands every posted id to `deliver` (owner CPU only); returns how many.
    /// Ids posted while the drain runs may be delivered now or by the next
    /// drain, which the post's IPI triggers.
    pub fn drain(&self, mut deliver: impl FnMut(ThreadId)) -> usize {
        self.ipi_pending.store(false, Ordering::SeqCst);
        let mut delivered = 0;
        while let Some(tid) = self.queue.pop() {
            deliver(tid);
            delivered += 1;
        }
        if self.overflowed.swap(false, Ordering::Acquire) {
            for (index, word) in self.overflow_bits.iter().enumerate() {
                let mut bits = word.swap(0, Ordering::Acquire);
                while bits != 0 {
                    let bit = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Ok(id) = u32::try_from(index * 64 + bit) {
                        deliver(ThreadId(id));
                        delivered += 1;
                    }
                }
            }
        }
        delivered
    }
}

/// One inbox per CPU, indexed by [`CpuId`].
#[derive(Debug)]
pub struct Inboxes {
    per_cpu: Box<[Inbox]>,
    max_threads: usize,
}

impl Inboxes {
    /// `cpus` inboxes, each with a queue of `queue_capacity` entries and room
    /// for thread ids below `max_threads`.
    ///
    /// # Errors
    /// [`SchedError::InvalidCapacity`] if any size is zero.
    pub fn new(cpus: usize, queue_capacity: usize, max_threads: usize) -> Result<Self, SchedError> {
        if cpus == 0 {
            return Err(SchedError::InvalidCapacity);
        }
        let per_cpu = (0..cpus)
            .map(|_| Inbox::new(queue_capacity, max_threads))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            per_cpu,
            max_threads,
        })
    }

    /// The inbox of `cpu`.
    #[must_use]
    pub fn get(&self, cpu: CpuId) -> Option<&Inbox> {
        self.per_cpu.get(cpu.index())
    }

    /// Number of CPUs covered.
    #[must_use]
    pub fn cpu_count(&self) -> usize {
        self.per_cpu.len()
    }

    /// Thread ids accepted are below this.
    #[must_use]
    pub fn max_threads(&self) -> usize {
        self.max_threads
    }

    /// Posts `tid` to the inbox of `cpu`.
    ///
    /// # Errors
    /// [`SchedError::NoSuchCpu`], or as [`Inbox::post`].
    pub fn post(&self, cpu: CpuId, tid: ThreadId) -> Result<Posted, SchedError> {
        self.get(cpu).ok_or(SchedError::NoSuchCpu(cpu))?.post(tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn overflow_keeps_every_wake_up() {
        let inbox = Inbox::new(2, 200).unwrap();
        let first = inbox.post(ThreadId(5)).unwrap();
        assert_eq!(
            first,
            Posted {
                send_ipi: true,
                overflowed: false
            }
        );
        assert!(
            !inbox.post(ThreadId(6)).unwrap().send_ipi,
            "one IPI per drain"
        );
        assert!(inbox.post(ThreadId(130)).unwrap().overflowed);
        assert!(inbox.post(ThreadId(7)).unwrap().overflowed);
        let mut seen = Vec::new();
        assert_eq!(inbox.drain(|t| seen.push(t.0)), 4);
        seen.sort_unstable();
        assert_eq!(seen, [5, 6, 7, 130]);
        assert_eq!(inbox.drain(|_| panic!("drained twice")), 0);
        assert!(
            inbox.post(ThreadId(1)).unwrap().send_ipi,
            "new IPI after a drain"
        );
    }

    #[test]
    fn rejects_bad_ids_and_capacities() {
        let inbox = Inbox::new(4, 64).unwrap();
        assert_eq!(
            inbox.post(ThreadId(64)),
            Err(SchedError::UnknownThread(ThreadId(64)))
        );
        assert_eq!(Inbox::new(0, 64).err(), Some(SchedError::InvalidCapacity));
        assert_eq!(Inbox::new(4, 0).err(), Some(SchedError::InvalidCapacity));
    }
}
