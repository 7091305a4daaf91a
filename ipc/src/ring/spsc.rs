//! Single-producer/single-consumer ring ends.
//!
//! The producer owns the header's `tail`, the consumer its `head`; each is
//! written by one side only, with a release store that publishes the slots
//! written (producer) or frees the slots read (consumer), and read by the
//! other side with an acquire load. Positions are free-running `u64`
//! counters; a position's slot is `position & (capacity - 1)`.
//!
//! Each end keeps its own index in the handle and a cached copy of the peer's,
//! refreshing the copy only when the cached value says full (producer) or
//! empty (consumer): in the steady state neither end reads the other's line.
//!
//! "Single" is a contract between the two processes sharing the ring: the
//! methods take `&mut self`, so one handle cannot be used from two threads at
//! once, but two handles attached to the same ring would garble messages
//! (never memory safety, every word being an atomic).

use super::sync::Ordering;
use super::{
    AttachedRing, Full, RingError, RingFlavor, RingHeader, RingMessage, SendBatchOutcome,
    SleepDecision, Slot, WakeHint,
};

/// The sending end of a single-producer ring.
#[derive(Debug)]
pub struct SpscProducer<'ring> {
    ring: AttachedRing<'ring>,
    /// Next position to publish; authoritative (only this end writes `tail`).
    tail: u64,
    /// Last consumer index seen; the consumer may be further ahead.
    cached_head: u64,
}

impl<'ring> SpscProducer<'ring> {
    /// Attaches the producer end to a ring formatted as
    /// [`RingFlavor::SingleProducer`], resuming at its current tail.
    ///
    /// # Errors
    /// [`RingError`] if the header is unformatted, formatted for the other
    /// flavour, or its capacity does not match `slots.len()`.
    pub fn new(header: &'ring RingHeader, slots: &'ring [Slot]) -> Result<Self, RingError> {
        let ring = AttachedRing::attach(header, slots, RingFlavor::SingleProducer)?;
        let tail = ring.tail().load(Ordering::Relaxed);
        let cached_head = ring.head().load(Ordering::Acquire);
        Ok(Self {
            ring,
            tail,
            cached_head,
        })
    }

    /// Free slots, refreshing the consumer index if fewer than `wanted` are
    /// known to be free.
    fn free_slots(&mut self, wanted: usize) -> u64 {
        let capacity = self.ring.capacity();
        let known_free = capacity.saturating_sub(self.tail.wrapping_sub(self.cached_head));
        if known_free as usize >= wanted {
            return known_free;
        }
        // Acquire pairs with the consumer's release: its reads of the slots it
        // freed happen before our writes to them.
        self.cached_head = self.ring.head().load(Ordering::Acquire);
        // A corrupt head (more in flight than slots) reads as "full".
        capacity.saturating_sub(self.tail.wrapping_sub(self.cached_head))
    }

    /// Publishes one message without blocking.
    ///
    /// # Errors
    /// [`Full`] if no slot is free; nothing was written.
    pub fn try_send(&mut self, message: RingMessage) -> Result<WakeHint, Full> {
        if self.free_slots(1) == 0 {
            return Err(Full);
        }
        self.ring.slot(self.tail).write_payload(&message);
        self.tail = self.tail.wrapping_add(1);
        self.ring.tail().store(self.tail, Ordering::Release);
        Ok(self.ring.wake_hint_after_publish())
    }

    /// Publishes as many messages from the front of `messages` as fit, with
    /// one release store of the tail and one wake-up check for the batch.
    pub fn send_batch(&mut self, messages: &[RingMessage]) -> SendBatchOutcome {
        // Bounded by `messages.len()`, so the cast back to usize is lossless.
        let sent = self.free_slots(messages.len()).min(messages.len() as u64) as usize;
        if sent == 0 {
            return SendBatchOutcome {
                sent,
                wake: WakeHint::ReceiverAwake,
            };
        }
        for (position, message) in (self.tail..).zip(&messages[..sent]) {
            self.ring.slot(position).write_payload(message);
        }
        self.tail = self.tail.wrapping_add(sent as u64);
        self.ring.tail().store(self.tail, Ordering::Release);
        SendBatchOutcome {
            sent,
            wake: self.ring.wake_hint_after_publish(),
        }
    }

    /// Messages in the ring (a snapshot; the consumer may be draining it).
    #[must_use]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring held no message at the time of the call.
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

/// The receiving end of a single-producer ring.
#[derive(Debug)]
pub struct SpscConsumer<'ring> {
    ring: AttachedRing<'ring>,
    /// Next position to read; authoritative (only this end writes `head`).
    head: u64,
    /// Last producer index seen; the producer may be further ahead.
    cached_tail: u64,
}

impl<'ring> SpscConsumer<'ring> {
    /// Attaches the consumer end to a ring formatted as
    /// [`RingFlavor::SingleProducer`], resuming at its current head.
    ///
    /// # Errors
    /// [`RingError`] if the header is unformatted, formatted for the other
    /// flavour, or its capacity does not match `slots.len()`.
    pub fn new(header: &'ring RingHeader, slots: &'ring [Slot]) -> Result<Self, RingError> {
        let ring = AttachedRing::attach(header, slots, RingFlavor::SingleProducer)?;
        let head = ring.head().load(Ordering::Relaxed);
        let cached_tail = ring.tail().load(Ordering::Acquire);
        Ok(Self {
            ring,
            head,
            cached_tail,
        })
    }

    /// Published messages, refreshing the producer index if fewer than
    /// `wanted` are known to be there.
    fn ready_messages(&mut self, wanted: usize) -> u64 {
        let known_ready = self.ready_up_to(self.cached_tail);
        if known_ready as usize >= wanted {
            return known_ready;
        }
        // Acquire pairs with the producer's release of the tail.
        self.cached_tail = self.ring.tail().load(Ordering::Acquire);
        self.ready_up_to(self.cached_tail)
    }

    /// Messages between our index and `tail`. A tail more than a ring ahead
    /// (or behind) cannot come from an honest producer: it reads as empty,
    /// so corrupt shared memory yields no messages rather than garbage.
    fn ready_up_to(&self, tail: u64) -> u64 {
        let ready = tail.wrapping_sub(self.head);
        if ready > self.ring.capacity() {
            0
        } else {
            ready
        }
    }

    /// Takes the oldest message, or `None` if the ring is empty.
    pub fn try_recv(&mut self) -> Option<RingMessage> {
        if self.ready_messages(1) == 0 {
            return None;
        }
        let message = self.ring.slot(self.head).read_payload();
        self.head = self.head.wrapping_add(1);
        self.ring.head().store(self.head, Ordering::Release);
        Some(message)
    }

    /// Fills the front of `buffer` with the oldest messages, freeing their
    /// slots with one release store; returns how many were taken.
    pub fn recv_batch(&mut self, buffer: &mut [RingMessage]) -> usize {
        // Bounded by `buffer.len()`, so the cast back to usize is lossless.
        let taken = self.ready_messages(buffer.len()).min(buffer.len() as u64) as usize;
        if taken == 0 {
            return 0;
        }
        for (position, message) in (self.head..).zip(&mut buffer[..taken]) {
            *message = self.ring.slot(position).read_payload();
        }
        self.head = self.head.wrapping_add(taken as u64);
        self.ring.head().store(self.head, Ordering::Release);
        taken
    }

    /// Announces that this consumer is about to block, then re-checks the
    /// ring (see the wake-up protocol in the [module docs](super)).
    pub fn prepare_to_sleep(&mut self) -> SleepDecision {
        let ring = self.ring;
        let head = self.head;
        ring.prepare_to_sleep(|| ring.tail().load(Ordering::Acquire) != head)
    }

    /// Withdraws the sleeping announcement (e.g. after a timed-out wait), so
    /// that senders stop asking for wake-ups.
    pub fn cancel_sleep(&mut self) {
        self.ring.cancel_sleep();
    }

    /// Messages in the ring (a snapshot; the producer may be filling it).
    #[must_use]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring held no message at the time of the call.
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
