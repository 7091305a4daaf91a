//! Shared-memory layout of a channel ring: the [`RingHeader`], the [`Slot`]
//! array that follows it, and [`RingLayout`], which computes byte sizes and
//! offsets for a capacity.
//!
//! A ring is one contiguous region: the header at offset 0, then `capacity`
//! slots. Every field is an atomic, so any bit pattern is a valid ring and
//! this crate never needs `unsafe` to use one; the user runtime casts the
//! mapped region to `&RingHeader` and `&[Slot]` (that cast is its `unsafe`,
//! justified by the layout asserted here) and hands both to the handle
//! constructors in [`super::spsc`] and [`super::mpsc`].
//!
//! A zero-filled region (a fresh frame from the kernel's allocator, or
//! [`RingHeader::new`] + [`Slot::new`]) is an *unformatted* ring: its capacity
//! and flavour are 0 and no handle can be built on it until
//! [`RingHeader::format`] has run once.
//!
//! # Cache-line choices
//! Slots are exactly one 64-byte line, 64-byte aligned, as the design asks:
//! the producer writing slot `i` and the consumer reading slot `i - 1` touch
//! different lines. The header's four hot words (producer index, consumer
//! index, sleeping flag, configuration) each get a 128-byte line pair instead
//! of a single line, because Intel's spatial prefetcher fetches lines in
//! 128-byte-aligned pairs and would otherwise make the producer's and the
//! consumer's index lines ping-pong together. The header costs 512 bytes per
//! ring, once; slots are not padded to 128 because that would double the ring.

use super::sync::{AtomicU32, AtomicU64, Ordering};
use super::{RingError, RingMessage};

/// Words in a message payload (6 x 8 = 48 bytes, the size of a `SmallMessage`).
pub const PAYLOAD_WORDS: usize = 6;

/// Size and alignment of one slot: one cache line.
pub const SLOT_BYTES: usize = 64;

/// Alignment of each header field group: an adjacent-line-prefetch pair.
pub const HEADER_LINE_BYTES: usize = 128;

/// Which producer discipline a ring was formatted for; stored in the header so
/// that a handle of the wrong variant cannot be attached to a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum RingFlavor {
    /// One producer, one consumer: plain head/tail indices.
    SingleProducer = 1,
    /// Many producers, one consumer: per-slot sequence numbers.
    MultiProducer = 2,
}

impl RingFlavor {
    /// The header encoding of this flavour (0 means "unformatted").
    #[must_use]
    pub const fn as_raw(self) -> u32 {
        self as u32
    }
}

/// Pads `T` to its own 128-byte-aligned line pair.
///
/// Hand-written rather than `crossbeam_utils::CachePadded` because this is a
/// shared-memory ABI: `CachePadded`'s alignment changes with the target
/// architecture, while this ring's layout must be the same everywhere.
#[derive(Debug)]
#[repr(C, align(128))]
pub(super) struct LinePadded<T> {
    pub(super) value: T,
}

/// The header's configuration words, written once by [`RingHeader::format`].
#[derive(Debug)]
#[repr(C)]
pub(super) struct RingConfig {
    /// Number of slots (a power of two), or 0 while unformatted.
    pub(super) capacity: AtomicU32,
    /// [`RingFlavor::as_raw`], or 0 while unformatted.
    pub(super) flavor: AtomicU32,
}

/// The control block at the start of a ring's shared memory.
#[derive(Debug)]
#[repr(C, align(128))]
pub struct RingHeader {
    /// Next position a producer claims (SPSC: publishes). Written by producers.
    pub(super) tail: LinePadded<AtomicU64>,
    /// Next position the consumer reads. Written by the consumer only.
    pub(super) head: LinePadded<AtomicU64>,
    /// Non-zero while the consumer is asleep or about to sleep (see the
    /// wake-up protocol in the [module docs of `ring`](super)).
    pub(super) receiver_sleeping: LinePadded<AtomicU32>,
    /// Capacity and flavour; read when a handle is attached.
    pub(super) config: LinePadded<RingConfig>,
}

/// One message slot: a sequence word and the 48-byte payload, padded to one
/// cache line (the last 8 bytes are padding, reserved for a future tag word).
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Slot {
    /// Multi-producer rings: the slot's state for a position `p` (see
    /// [`super::mpsc`]). Single-producer rings leave it untouched.
    pub(super) sequence: AtomicU64,
    /// The message words.
    pub(super) payload: [AtomicU64; PAYLOAD_WORDS],
}

// The shared-memory ABI, pinned at compile time. Loom's atomics are larger
// than `core`'s, so these only hold for real builds.
#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<RingMessage>() == PAYLOAD_WORDS * 8);
    assert!(size_of::<Slot>() == SLOT_BYTES);
    assert!(align_of::<Slot>() == SLOT_BYTES);
    assert!(offset_of!(Slot, sequence) == 0);
    assert!(offset_of!(Slot, payload) == 8);
    assert!(size_of::<RingHeader>() == 4 * HEADER_LINE_BYTES);
    assert!(align_of::<RingHeader>() == HEADER_LINE_BYTES);
    assert!(offset_of!(RingHeader, tail.value) == 0);
    assert!(offset_of!(RingHeader, head.value) == HEADER_LINE_BYTES);
    assert!(offset_of!(RingHeader, receiver_sleeping.value) == 2 * HEADER_LINE_BYTES);
    assert!(offset_of!(RingHeader, config.value.capacity) == 3 * HEADER_LINE_BYTES);
    assert!(offset_of!(RingHeader, config.value.flavor) == 3 * HEADER_LINE_BYTES + 4);
    // Slots start right after the header and stay line-aligned.
    assert!(size_of::<RingHeader>().is_multiple_of(align_of::<Slot>()));
};

impl Slot {
    /// A zeroed slot, as found in a fresh zero-filled frame.
    #[must_use]
    pub fn new() -> Self {
        Self {
            sequence: AtomicU64::new(0),
            payload: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Copies `message` into the payload. The caller publishes it afterwards
    /// with a release store (slot sequence or ring tail).
    pub(super) fn write_payload(&self, message: &RingMessage) {
        for (word, value) in self.payload.iter().zip(message.words) {
            word.store(value, Ordering::Relaxed);
        }
    }

    /// Copies the payload out. The caller has acquired the publication first.
    pub(super) fn read_payload(&self) -> RingMessage {
        RingMessage {
            words: core::array::from_fn(|index| self.payload[index].load(Ordering::Relaxed)),
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

impl RingHeader {
    /// A zeroed (unformatted) header, as found in a fresh zero-filled frame.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tail: LinePadded {
                value: AtomicU64::new(0),
            },
            head: LinePadded {
                value: AtomicU64::new(0),
            },
            receiver_sleeping: LinePadded {
                value: AtomicU32::new(0),
            },
            config: LinePadded {
                value: RingConfig {
                    capacity: AtomicU32::new(0),
                    flavor: AtomicU32::new(0),
                },
            },
        }
    }

    /// Formats an empty ring of `slots.len()` slots for `flavor`: resets both
    /// indices and the sleeping flag, numbers the slots, and records capacity
    /// and flavour. The kernel runs this once, before either end is mapped;
    /// formatting a ring that is in use loses its messages.
    ///
    /// # Errors
    /// [`RingError::InvalidCapacity`] unless `slots.len()` is acceptable to
    /// [`RingLayout::for_capacity`].
    pub fn format(&self, slots: &[Slot], flavor: RingFlavor) -> Result<(), RingError> {
        let capacity = RingLayout::for_capacity(slots.len())?.capacity();
        self.tail.value.store(0, Ordering::Relaxed);
        self.head.value.store(0, Ordering::Relaxed);
        self.receiver_sleeping.value.store(0, Ordering::Relaxed);
        for (position, slot) in (0_u64..).zip(slots) {
            slot.sequence
                .store(super::mpsc::free_marker(position), Ordering::Relaxed);
        }
        self.config
            .value
            .flavor
            .store(flavor.as_raw(), Ordering::Relaxed);
        // Release: a handle that acquires the capacity sees everything above.
        self.config
            .value
            .capacity
            .store(capacity, Ordering::Release);
        Ok(())
    }
}

impl Default for RingHeader {
    fn default() -> Self {
        Self::new()
    }
}

/// Byte layout of a ring of a given capacity: header at offset 0, then the
/// slot array. The region must be aligned to [`RingLayout::ALIGN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    capacity: u32,
}

impl RingLayout {
    /// Required alignment of the whole region (the header's).
    pub const ALIGN: usize = core::mem::align_of::<RingHeader>();
    /// Byte offset of the header in the region.
    pub const HEADER_OFFSET: usize = 0;
    /// Byte offset of slot 0 in the region.
    pub const SLOTS_OFFSET: usize = core::mem::size_of::<RingHeader>();

    /// The layout for `capacity` slots.
    ///
    /// # Errors
    /// [`RingError::InvalidCapacity`] unless `capacity` is a non-zero power of
    /// two that fits in `u32` and the whole region's size fits in `usize`.
    pub fn for_capacity(capacity: usize) -> Result<Self, RingError> {
        let region_fits = capacity
            .checked_mul(core::mem::size_of::<Slot>())
            .and_then(|slots_bytes| slots_bytes.checked_add(Self::SLOTS_OFFSET))
            .is_some();
        match u32::try_from(capacity) {
            Ok(capacity) if capacity.is_power_of_two() && region_fits => Ok(Self { capacity }),
            _ => Err(RingError::InvalidCapacity { capacity }),
        }
    }

    /// Number of slots.
    #[must_use]
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Bytes taken by the slot array.
    #[must_use]
    pub const fn slots_bytes(&self) -> usize {
        // Cannot overflow: `for_capacity` checked that the region fits.
        self.capacity as usize * core::mem::size_of::<Slot>()
    }

    /// Bytes taken by the whole ring (header and slots).
    #[must_use]
    pub const fn total_bytes(&self) -> usize {
        Self::SLOTS_OFFSET + self.slots_bytes()
    }

    /// Byte offset of slot `index` in the region, or `None` past the end.
    #[must_use]
    pub const fn slot_offset(&self, index: u32) -> Option<usize> {
        if index < self.capacity {
            // Cannot overflow: below `total_bytes`, which fits.
            Some(Self::SLOTS_OFFSET + index as usize * core::mem::size_of::<Slot>())
        } else {
            None
        }
    }
}
