//! Reaching this CPU's [`crate::percpu::PerCpu`] through `GS`.
//!
//! `IA32_GS_BASE` holds the address of the CPU's `PerCpu`, whose first word
//! points to itself, so `mov rax, gs:[0]` yields a normal pointer in one
//! instruction. While user code runs, `swapgs` parks the kernel value in
//! `IA32_KERNEL_GS_BASE` (the trap and syscall entries swap it back).

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{GsBase, KernelGsBase};

/// Installs `ptr` as this CPU's GS base (kernel side).
///
/// # Safety
/// `ptr` must point to a `PerCpu` that lives forever and whose first word is
/// its own address; call once per CPU, before anything reads per-CPU data.
pub unsafe fn install(ptr: *const u8) {
    GsBase::write(VirtAddr::from_ptr(ptr));
    KernelGsBase::write(VirtAddr::zero());
}

/// What `gs:[0]` reads before [`install`]: a null self pointer.
static NO_PERCPU: u64 = 0;

/// Points this CPU's GS base at a null self pointer, so that [`self_ptr`]
/// reads null until [`install`]. The first thing the BSP's and every AP's
/// Rust entry does (GS base is 0 out of reset, and address 0 may be mapped).
pub fn early_init() {
    GsBase::write(VirtAddr::from_ptr(&raw const NO_PERCPU));
}

/// The address stored at `gs:[0]` (the per-CPU self pointer), or null before
/// [`install`] ran on this CPU. One load (not an MSR read of the GS base):
/// the IPC paths read it several times per operation.
#[inline(always)]
pub fn self_ptr() -> *const u8 {
    let p: *const u8;
    // SAFETY: GS base points at a live PerCpu whose first word is its address
    // (contract of `install`), or at NO_PERCPU (`early_init`); the load has no
    // other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags))
    };
    p
}
