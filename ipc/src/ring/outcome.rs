//! Results of ring operations: attach errors, the `Full` refusal, and the
//! wake-up and sleep decisions that the callers must act on.

use core::fmt;

use super::RingFlavor;

/// Why a ring could not be laid out or a handle could not be attached to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The capacity is not a non-zero power of two fitting in `u32`, or the
    /// region for it would not fit in the address space.
    InvalidCapacity {
        /// The capacity asked for (or found in the header).
        capacity: usize,
    },
    /// The header was never formatted (a zero-filled region).
    Unformatted,
    /// The header's capacity differs from the number of slots supplied.
    SlotCountMismatch {
        /// Capacity recorded in the header.
        header_capacity: u32,
        /// Length of the slot slice supplied.
        slots: usize,
    },
    /// The ring was formatted for another producer discipline.
    FlavorMismatch {
        /// The flavour the handle needs.
        expected: RingFlavor,
        /// The raw flavour word found in the header.
        found: u32,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidCapacity { capacity } => write!(
                formatter,
                "ring capacity {capacity} is not a non-zero power of two below 2^32"
            ),
            Self::Unformatted => formatter.write_str("ring header was never formatted"),
            Self::SlotCountMismatch {
                header_capacity,
                slots,
            } => write!(
                formatter,
                "ring header says {header_capacity} slots but {slots} were supplied"
            ),
            Self::FlavorMismatch { expected, found } => write!(
                formatter,
                "ring was formatted with flavour word {found}, expected {expected:?}"
            ),
        }
    }
}

impl core::error::Error for RingError {}

/// The ring had no free slot; nothing was written. The channel layer maps this
/// to `IpcError::WouldBlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("channel ring is full")
    }
}

impl core::error::Error for Full {}

/// What a sender must do after publishing: ask the kernel to notify the
/// receiver, or nothing.
#[must_use = "a sleeping receiver is only woken if the sender acts on NeedsWake"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeHint {
    /// The receiver was not sleeping: no notification (and no IPI) needed.
    ReceiverAwake,
    /// The receiver announced it sleeps; this sender cleared the flag and is
    /// the one that must ask the kernel to notify it.
    NeedsWake,
}

impl WakeHint {
    /// `NeedsWake` if either hint is (for merging hints across several sends).
    pub const fn combine(self, other: Self) -> Self {
        match (self, other) {
            (Self::ReceiverAwake, Self::ReceiverAwake) => Self::ReceiverAwake,
            _ => Self::NeedsWake,
        }
    }
}

/// Result of a batched send: how many messages went in (a prefix of the
/// batch), and whether the receiver must be woken.
#[must_use = "a sleeping receiver is only woken if the sender acts on `wake`"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendBatchOutcome {
    /// Messages published, taken from the front of the batch; fewer than the
    /// batch length when the ring filled up (0 when it was full).
    pub sent: usize,
    /// Whether to ask the kernel to notify the receiver.
    pub wake: WakeHint,
}

/// The consumer's verdict after announcing it wants to sleep.
#[must_use = "sleeping after MessagesPending strands messages until the next send"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepDecision {
    /// The ring is empty and the flag is set: block until notified.
    Sleep,
    /// A message arrived meanwhile; the flag was withdrawn, keep receiving.
    MessagesPending,
}
