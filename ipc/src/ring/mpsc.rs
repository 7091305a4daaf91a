//! Multi-producer/single-consumer ring ends, after Dmitry Vyukov's bounded
//! queue: producers claim positions with a CAS on the header's `tail`, and
//! each slot's `sequence` word says whose turn it is.
//!
//! # Slot sequence encoding
//! For a position `p` (free-running `u64`) held by slot `p & (capacity - 1)`:
//! - `2p` (`free_marker`): the slot is free for the producer of `p`;
//! - `2p + 1` (`published_marker`): the message for `p` is published.
//!
//! The consumer, after reading `p`, stores `2(p + capacity)`, freeing the slot
//! for the next lap. Vyukov's original uses `p` and `p + 1`, which cannot tell
//! "published for `p`" from "free for `p + 1`" when the capacity is 1; the
//! doubled encoding keeps the two apart for every capacity. (It wraps after
//! 2^63 messages, centuries at any rate this ring can reach, and all arithmetic
//! wraps rather than panics.)
//!
//! A producer that reads `sequence - 2p` as a signed number sees 0 (free:
//! claim it), negative (the previous lap is unread: full) or positive (another
//! producer claimed `p` already: reload the tail). The consumer only accepts
//! exactly `2p + 1`; a claimed but unpublished slot reads as empty, so a
//! producer preempted between claim and publish delays the consumer (the
//! known trade-off of this design) but never corrupts it.
//!
//! The consumer also publishes its index in the header's `head` (one release
//! store per receive or batch), which `len` and `send_batch` use.

use super::sync::{Ordering, spin_loop};
use super::{
    AttachedRing, Full, RingError, RingFlavor, RingHeader, RingMessage, SendBatchOutcome,
    SleepDecision, Slot, WakeHint,
};

/// The sequence value meaning "free for the producer of `position`".
pub(super) const fn free_marker(position: u64) -> u64 {
    position.wrapping_mul(2)
}

/// The sequence value meaning "holds the published message for `position`".
const fn published_marker(position: u64) -> u64 {
    free_marker(position).wrapping_add(1)
}

/// A sending end of a multi-producer ring. Cheap to copy; any number of
/// producers, in any number of threads or processes, may send at once.
#[derive(Clone, Copy, Debug)]
pub struct MpscProducer<'ring> {
    ring: AttachedRing<'ring>,
}

impl<'ring> MpscProducer<'ring> {
    /// Attaches a producer to a ring formatted as [`RingFlavor::MultiProducer`].
    ///
    /// # Errors
    /// [`RingError`] if the header is unformatted, formatted for the other
    /// flavour, or its capacity does not match `slots.len()`.
    pub fn new(header: &'ring RingHeader, slots: &'ring [Slot]) -> Result<Self, RingError> {
        let ring = AttachedRing::attach(header, slots, RingFlavor::MultiProducer)?;
        Ok(Self { ring })
    }

    /// Claims one position, writes `message` into it and publishes it,
    /// without blocking (lock-free: a failed CAS means another producer won).
    ///
    /// # Errors
    /// [`Full`] if the slot for the next position still holds an unread
    /// message; nothing was written.
    pub fn try_send(&self, message: RingMessage) -> Result<WakeHint, Full> {
        let tail = self.ring.tail();
        let mut position = tail.load(Ordering::Relaxed);
        loop {
            let slot = self.ring.slot(position);
            // Acquire pairs with the consumer's release of the slot: its read
            // of the previous lap happens before our write.
            let sequence = slot.sequence.load(Ordering::Acquire);
            // Reinterpreting the wrapped difference as signed is the point.
            let lag = sequence.wrapping_sub(free_marker(position)) as i64;
            if lag == 0 {
                let next = position.wrapping_add(1);
                match tail.compare_exchange(position, next, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => {
                        slot.write_payload(&message);
                        slot.sequence
                            .store(published_marker(position), Ordering::Release);
                        return Ok(self.ring.wake_hint_after_publish());
                    }
                    Err(current) => position = current,
                }
            } else if lag < 0 {
                return Err(Full);
            } else {
                // Another producer claimed `position`; its CAS happens before
                // the sequence we acquired, so the tail has moved on. If it
                // has not, the shared memory is corrupt: refuse, don't spin.
                let current = tail.load(Ordering::Relaxed);
                if current == position {
                    return Err(Full);
                }
                position = current;
            }
            spin_loop();
        }
    }

    /// Claims as many consecutive positions as are free for the front of
    /// `messages` with one CAS, then writes and publishes them in order.
    /// Free space is judged from the consumer's published index, so a batch
    /// may be refused room that a single `try_send` racing the consumer's
    /// index update would get.
    pub fn send_batch(&self, messages: &[RingMessage]) -> SendBatchOutcome {
        let capacity = self.ring.capacity();
        let (first, claimed) = loop {
            // Head first: the acquire makes the claims behind it visible, so
            // the tail read next is at least the head (unless corrupt).
            let head = self.ring.head().load(Ordering::Acquire);
            let position = self.ring.tail().load(Ordering::Relaxed);
            let in_flight = position.wrapping_sub(head);
            // Bounded by `messages.len()`, so the cast back is lossless.
            let claimable = capacity
                .saturating_sub(in_flight)
                .min(messages.len() as u64) as usize;
            if claimable == 0 {
                return SendBatchOutcome {
                    sent: 0,
                    wake: WakeHint::ReceiverAwake,
                };
            }
            let next = position.wrapping_add(claimable as u64);
            if self
                .ring
                .tail()
                .compare_exchange(position, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                break (position, claimable);
            }
            spin_loop();
        };
        // Positions below `head + capacity` were freed by the consumer (or
        // never used): its sequence stores precede the head we acquired.
        for (position, message) in (first..).zip(&messages[..claimed]) {
            let slot = self.ring.slot(position);
            slot.write_payload(message);
            slot.sequence
                .store(published_marker(position), Ordering::Release);
        }
        SendBatchOutcome {
            sent: claimed,
            wake: self.ring.wake_hint_after_publish(),
        }
    }

    /// Positions claimed and not yet read (a snapshot, counting messages
    /// still being written).
    #[must_use]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no position was claimed-and-unread at the time of the call.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.ring.slots.len()
    }
}

/// The receiving end of a multi-producer ring.
#[derive(Debug)]
pub struct MpscConsumer<'ring> {
    ring: AttachedRing<'ring>,
    /// Next position to read; authoritative (only this end writes `head`).
    head: u64,
}

impl<'ring> MpscConsumer<'ring> {
    /// Attaches the consumer to a ring formatted as
    /// [`RingFlavor::MultiProducer`], resuming at its current head.
    ///
    /// # Errors
    /// [`RingError`] if the header is unformatted, formatted for the other
    /// flavour, or its capacity does not match `slots.len()`.
    pub fn new(header: &'ring RingHeader, slots: &'ring [Slot]) -> Result<Self, RingError> {
        let ring = AttachedRing::attach(header, slots, RingFlavor::MultiProducer)?;
        let head = ring.head().load(Ordering::Relaxed);
        Ok(Self { ring, head })
    }

    /// Whether the message for `position` is published (acquiring it).
    fn is_published(&self, position: u64) -> bool {
        self.ring.slot(position).sequence.load(Ordering::Acquire) == published_marker(position)
    }

    /// Reads the published message at `position` and frees its slot for the
    /// producer of `position + capacity`.
    fn take(&self, position: u64) -> RingMessage {
        let slot = self.ring.slot(position);
        let message = slot.read_payload();
        let next_lap = position.wrapping_add(self.ring.capacity());
        slot.sequence
            .store(free_marker(next_lap), Ordering::Release);
        message
    }

    /// Takes the oldest message, or `None` if the ring is empty or its
    /// oldest position is claimed but not yet published.
    pub fn try_recv(&mut self) -> Option<RingMessage> {
        if !self.is_published(self.head) {
            return None;
        }
        let message = self.take(self.head);
        self.head = self.head.wrapping_add(1);
        self.ring.head().store(self.head, Ordering::Release);
        Some(message)
    }

    /// Fills the front of `buffer` with the oldest published messages (stops
    /// at the first unpublished position), then publishes the consumer index
    /// once; returns how many were taken.
    pub fn recv_batch(&mut self, buffer: &mut [RingMessage]) -> usize {
        let mut taken = 0;
        for message in buffer.iter_mut() {
            let position = self.head.wrapping_add(taken as u64);
            if !self.is_published(position) {
                break;
            }
            *message = self.take(position);
            taken += 1;
        }
        if taken > 0 {
            self.head = self.head.wrapping_add(taken as u64);
            self.ring.head().store(self.head, Ordering::Release);
        }
        taken
    }

    /// Announces that this consumer is about to block, then re-checks the
    /// next slot (see the wake-up protocol in the [module docs](super)).
    pub fn prepare_to_sleep(&mut self) -> SleepDecision {
        let ring = self.ring;
        ring.prepare_to_sleep(|| self.is_published(self.head))
    }

    /// Withdraws the sleeping announcement (e.g. after a timed-out wait), so
    /// that senders stop asking for wake-ups.
    pub fn cancel_sleep(&mut self) {
        self.ring.cancel_sleep();
    }

    /// Positions claimed and not yet read (a snapshot, counting messages
    /// still being written).
    #[must_use]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no position was claimed-and-unread at the time of the call.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.ring.slots.len()
    }
}
