//! Atomics shim for the channel rings.
//!
//! Every atomic the rings touch is imported from here, so that building with
//! `RUSTFLAGS="--cfg loom"` swaps `core`'s atomics for `loom`'s instrumented
//! ones and the loom model checks in `ipc/tests/ring_loom.rs` exercise the very
//! code the kernel and the user runtime run. Nothing else in `ring/` may name
//! `core::sync::atomic` directly.
//!
//! Under loom the atomics are larger than their `core` counterparts, so the
//! shared-memory layout assertions in [`super::layout`] only hold (and are
//! only compiled) without `cfg(loom)`.

#[cfg(loom)]
pub(crate) use loom::hint::spin_loop;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use core::hint::spin_loop;
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
