//! Asynchronous channel rings (design document, "Asynchronous Channels"):
//! lock-free rings of cache-line slots in memory shared by both ends.
//!
//! This module owns the ring's shared-memory layout ([`layout`]), its two
//! producer disciplines ([`spsc`]: one producer, plain head/tail indices;
//! [`mpsc`]: many producers, per-slot sequence numbers in the style of
//! Vyukov's bounded queue) and the wake-up protocol below. It does not own
//! mapping the memory, blocking, timeouts or IPIs: the kernel and the user
//! runtime do those, guided by the [`WakeHint`] and [`SleepDecision`] values
//! returned here.
//!
//! # Operations
//! Both variants mirror the design's `AsyncChannel`: `try_send` never blocks
//! (a full ring is [`Full`], which the channel layer reports as
//! `IpcError::WouldBlock`), `try_recv` polls, and `send_batch`/`recv_batch`
//! move many messages for the price of one index update (SPSC: one release
//! store per batch on each side; MPSC: one CAS on the tail per batch, one
//! release store of the consumer index per batch, and one sequence store per
//! slot, which is how producers learn a slot is free).
//!
//! # Trust
//! Every word is an atomic, so a peer that scribbles over the shared memory
//! can garble messages but cannot cause undefined behaviour, a panic or an
//! out-of-bounds access here: positions are masked, index differences are
//! computed with wrapping arithmetic and clamped to the capacity, and no loop
//! waits on a value the peer controls.
//!
//! # Wake-up protocol (no lost wake-ups)
//! A consumer that finds the ring empty and wants to block:
//! 1. calls `prepare_to_sleep`, which sets (swaps 1 into) the header's
//!    `receiver_sleeping` word, issues a `SeqCst` fence and then checks the
//!    ring again; if a message is there it withdraws the flag and returns
//!    [`SleepDecision::MessagesPending`];
//! 2. otherwise ([`SleepDecision::Sleep`]) it blocks on its notification
//!    object until notified (or times out, then calls `cancel_sleep`).
//!
//! A producer, after publishing (release store of the tail or slot
//! sequence), issues a `SeqCst` fence and reads the flag; if it is set, it
//! swaps it to 0 and, if it was the one to clear it, returns
//! [`WakeHint::NeedsWake`]: only then does the kernel send a notification
//! (an IPI if the receiver's CPU is another one).
//!
//! The two fences order "flag store before ring load" on the consumer and
//! "ring store before flag load" on the producer, so at least one side sees
//! the other's store: either the consumer sees the message and stays awake,
//! or the producer sees the flag and wakes it. The kernel's notification must
//! be sticky (a pending bit, like a thread-park token) so that a wake sent
//! between `Sleep` and the actual block is not lost. Loom checks this in
//! `ipc/tests/ring_loom.rs`.

pub mod layout;
pub mod mpsc;
mod outcome;
pub mod spsc;
mod sync;

pub use layout::{RingFlavor, RingHeader, RingLayout, Slot};
pub use mpsc::{MpscConsumer, MpscProducer};
pub use outcome::{Full, RingError, SendBatchOutcome, SleepDecision, WakeHint};
pub use spsc::{SpscConsumer, SpscProducer};

use sync::{AtomicU64, Ordering, fence};

/// A ring message: six words, 48 bytes, the size of a
/// [`SmallMessage`](crate::message::SmallMessage) (conversion comes later).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct RingMessage {
    /// The payload words.
    pub words: [u64; layout::PAYLOAD_WORDS],
}

/// A validated view of one ring, shared by all handle types: the header, the
/// slots and the position mask, checked once when a handle attaches.
#[derive(Clone, Copy, Debug)]
struct AttachedRing<'ring> {
    header: &'ring RingHeader,
    slots: &'ring [Slot],
    /// `capacity - 1`; masking a position with it always indexes `slots`.
    mask: u64,
}

impl<'ring> AttachedRing<'ring> {
    /// Checks that `header` was formatted for `flavor` with exactly
    /// `slots.len()` slots.
    fn attach(
        header: &'ring RingHeader,
        slots: &'ring [Slot],
        flavor: RingFlavor,
    ) -> Result<Self, RingError> {
        let config = &header.config.value;
        // Acquire pairs with the release in `RingHeader::format`.
        let header_capacity = config.capacity.load(Ordering::Acquire);
        let found_flavor = config.flavor.load(Ordering::Relaxed);
        if header_capacity == 0 && found_flavor == 0 {
            return Err(RingError::Unformatted);
        }
        // Also rejects capacities whose region would not fit in `usize`.
        let capacity =
            usize::try_from(header_capacity).map_err(|_| RingError::InvalidCapacity {
                capacity: usize::MAX,
            })?;
        RingLayout::for_capacity(capacity)?;
        if capacity != slots.len() {
            return Err(RingError::SlotCountMismatch {
                header_capacity,
                slots: slots.len(),
            });
        }
        if found_flavor != flavor.as_raw() {
            return Err(RingError::FlavorMismatch {
                expected: flavor,
                found: found_flavor,
            });
        }
        Ok(Self {
            header,
            slots,
            mask: u64::from(header_capacity) - 1,
        })
    }

    /// Number of slots.
    fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The slot that holds `position`.
    fn slot(&self, position: u64) -> &'ring Slot {
        // `position & mask < slots.len()` (checked in `attach`), and the
        // masked value fits in `usize` because the length does.
        &self.slots[(position & self.mask) as usize]
    }

    fn tail(&self) -> &'ring AtomicU64 {
        &self.header.tail.value
    }

    fn head(&self) -> &'ring AtomicU64 {
        &self.header.head.value
    }

    /// Messages between the consumer index and the tail, clamped to the
    /// capacity (a snapshot; MPSC counts claimed but unpublished slots too).
    fn len(&self) -> usize {
        let head = self.head().load(Ordering::Acquire);
        let tail = self.tail().load(Ordering::Acquire);
        let in_flight = tail.wrapping_sub(head).min(self.capacity());
        // At most the capacity, which is a `usize` slot count.
        in_flight as usize
    }

    /// Producer side of the wake-up protocol, run after publishing.
    fn wake_hint_after_publish(&self) -> WakeHint {
        let flag = &self.header.receiver_sleeping.value;
        fence(Ordering::SeqCst);
        // The plain load keeps the common case (receiver awake) read-only, so
        // the flag's line stays shared instead of bouncing between producers.
        if flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::Relaxed) != 0 {
            WakeHint::NeedsWake
        } else {
            WakeHint::ReceiverAwake
        }
    }

    /// Consumer side of the wake-up protocol; `has_pending` re-checks the
    /// ring after the fence.
    fn prepare_to_sleep(&self, has_pending: impl FnOnce() -> bool) -> SleepDecision {
        // C++20's fence rules make a plain store enough here; the swap (an RMW,
        // on the rare sleep path only) is what loom 0.7 can verify: with a
        // plain store it reports a lost wake-up that C++20 forbids (a third
        // thread's clearing swap ordered before this store in the flag's
        // modification order, read by a producer after both fences).
        self.header
            .receiver_sleeping
            .value
            .swap(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if has_pending() {
            self.cancel_sleep();
            SleepDecision::MessagesPending
        } else {
            SleepDecision::Sleep
        }
    }

    /// Withdraws the sleeping flag (woken by a timeout, or found work).
    fn cancel_sleep(&self) {
        self.header
            .receiver_sleeping
            .value
            .store(0, Ordering::Relaxed);
    }
}
