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

/// The address stored at `gs:[0]` (the per-CPU self pointer), or null before
/// [`install`] ran on this CPU (GS base 0 would fault, so the MSR is checked).
#[inline(always)]
pub fn self_ptr() -> *const u8 {
    if GsBase::read().is_null() {
        return core::ptr::null();
    }
    let p: *const u8;
    // SAFETY: GS base points at a live PerCpu whose first word is its address
    // (contract of `install`); the load has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags))
    };
    p
}
