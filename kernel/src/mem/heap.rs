//! The kernel heap on `talc` (a well-kept, stable-Rust allocator).
//!
//! It starts with a static arena in `.bss` so that boot code can allocate before
//! the frame allocator exists, and grows by claiming physically contiguous runs
//! of frames through the direct map afterwards.

use talc::{ErrOnOom, Span, Talc, Talck};

/// Size of the static early arena.
const EARLY_ARENA_SIZE: usize = 2 * 1024 * 1024;

#[repr(C, align(4096))]
struct Arena([u8; EARLY_ARENA_SIZE]);

static mut EARLY_ARENA: Arena = Arena([0; EARLY_ARENA_SIZE]);

#[global_allocator]
static ALLOCATOR: Talck<crate::sync::RawIrqSpin, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// Gives the early arena to the allocator. Call once, first thing at boot.
pub fn init_early() {
    let base = core::ptr::addr_of_mut!(EARLY_ARENA).cast::<u8>();
    // SAFETY: the arena is a static used for nothing else, claimed exactly once
    // (kernel_entry runs once); it lives for the rest of the kernel's life.
    unsafe {
        ALLOCATOR
            .lock()
            .claim(Span::from_base_size(base, EARLY_ARENA_SIZE))
            .expect("the early heap arena is large enough for talc's metadata");
    }
}

/// The heap refused memory (too small a span for its metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRefused;

/// Adds `size` bytes at `base` (a direct-map address of frames the caller owns
/// for good) to the heap.
///
/// # Safety
/// The memory must be mapped writable, unused by anything else, and never
/// freed or reused by its previous owner.
///
/// # Errors
/// [`ClaimRefused`] when the allocator cannot use the span.
pub unsafe fn extend(base: *mut u8, size: usize) -> Result<(), ClaimRefused> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        ALLOCATOR
            .lock()
            .claim(Span::from_base_size(base, size))
            .map(|_| ())
            .map_err(|()| ClaimRefused)
    }
}
