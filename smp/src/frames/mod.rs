//! Physical frame allocation: [`FrameBitmap`] manages one contiguous range
//! (one zone of one NUMA node) with a caller-supplied bitmap, and
//! [`NodeFrames`] groups the zones of all nodes, falling back to the nearest
//! node when the requested one is exhausted.
//!
//! Frames are [`FRAME_SIZE`] (4 KiB) and named by [`PhysFrame`]. Every misuse
//! (double free, a frame outside every zone, a bad alignment) is a
//! [`FrameError`], never a panic.

mod bitmap;
mod nodes;

pub use bitmap::FrameBitmap;
pub use nodes::{FallbackOrder, NodeFrames};

use crate::cpuset::NodeId;

/// The size of a physical frame.
pub const FRAME_SIZE: u64 = crate::memmap::PAGE_SIZE;

/// A 4 KiB physical frame, named by the address of its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysFrame(u64);

impl PhysFrame {
    /// The frame starting at `addr`, or `None` if `addr` is not frame-aligned.
    #[must_use]
    pub const fn from_addr(addr: u64) -> Option<Self> {
        if addr.is_multiple_of(FRAME_SIZE) {
            Some(Self(addr))
        } else {
            None
        }
    }

    /// The frame holding `addr`.
    #[must_use]
    pub const fn containing(addr: u64) -> Self {
        Self(addr - addr % FRAME_SIZE)
    }

    /// The physical address of the frame's first byte.
    #[must_use]
    pub const fn addr(self) -> u64 {
        self.0
    }
}

/// Why a frame operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free frame (or no free run of the requested size and alignment).
    Exhausted,
    /// The frame lies outside the allocator's range (or every zone).
    OutOfRange {
        /// The frame's address.
        addr: u64,
    },
    /// The frame is already free.
    DoubleFree {
        /// The frame's address.
        addr: u64,
    },
    /// A base address that is not frame-aligned.
    Misaligned {
        /// The address given.
        addr: u64,
    },
    /// An alignment that is not a power of two.
    BadAlignment {
        /// The alignment given.
        align: u64,
    },
    /// A request for zero frames.
    ZeroCount,
    /// A range that runs past the top of the physical address space.
    RangeOverflow,
    /// Bitmap storage with fewer words than the range needs.
    StorageTooSmall {
        /// Words the range needs ([`FrameBitmap::words_needed`]).
        needed: usize,
        /// Words given.
        given: usize,
    },
    /// More zones or nodes than the [`NodeFrames`] capacity.
    TooManyZones,
    /// A zone overlapping one already added.
    OverlappingZone,
    /// A node with no zone and no distance entry.
    UnknownNode(NodeId),
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The Debug form names the variant and every field; that is the message.
        write!(f, "frame allocation: {self:?}")
    }
}

#[cfg(test)]
mod tests;
