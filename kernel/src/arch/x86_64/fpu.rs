//! FPU/SSE/AVX state.
//!
//! The state is switched *eagerly* on every thread switch (XSAVE when the
//! CPU has it, else FXSAVE): lazy switching saves little for an IPC kernel
//! whose hot path switches threads constantly, and it leaks state across
//! processes on CPUs affected by LazyFP (CVE-2018-3665).

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::xcontrol::{XCr0, XCr0Flags};

/// Whether the CPU has XSAVE (decided once by [`init_fpu`]).
static XSAVE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Size of a thread's FPU save area: the standard-format XSAVE area of the
/// components this kernel enables (x87 and SSE, 512 bytes; the XSAVE
/// header, 64; AVX, 256). [`init_fpu`] enables AVX only where CPUID says
/// the enabled components fit.
pub const FPU_AREA_SIZE: usize = 832;

/// A thread's saved FPU/SSE/AVX state.
#[repr(C, align(64))]
pub struct FpuArea(pub [u8; FPU_AREA_SIZE]);

/// Enables x87/SSE (and XSAVE with AVX when present) for user code on this CPU.
pub fn init_fpu() {
    let cpuid = raw_cpuid::CpuId::new();
    let f = cpuid.get_feature_info();
    let xsave = f.as_ref().is_some_and(|f| f.has_xsave());
    let avx = f.as_ref().is_some_and(|f| f.has_avx());
    // SAFETY: standard FPU enablement: CR0.MP on, EM and TS off; CR4.OSFXSR
    // and OSXMMEXCPT announce FXSAVE and SSE exception support; XCR0 enables
    // only components CPUID reports.
    unsafe {
        Cr0::update(|c| {
            c.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            c.insert(Cr0Flags::MONITOR_COPROCESSOR);
        });
        Cr4::update(|c| c.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
        if xsave {
            Cr4::update(|c| c.insert(Cr4Flags::OSXSAVE));
            let mut x = XCr0Flags::X87 | XCr0Flags::SSE;
            if avx {
                x |= XCr0Flags::AVX;
            }
            // write_raw: no read-back of XCR0 first (xgetbv), which some
            // nested-virtualisation instruction emulators cannot execute.
            XCr0::write_raw(x.bits());
            // The area XSAVE writes for the components now enabled must fit
            // a thread's FpuArea; otherwise x87 and SSE only (576 bytes).
            let size = cpuid.get_extended_state_info().map_or(usize::MAX, |i| {
                i.xsave_area_size_enabled_features() as usize
            });
            if size > FPU_AREA_SIZE {
                XCr0::write_raw((XCr0Flags::X87 | XCr0Flags::SSE).bits());
            }
        }
    }
    XSAVE.store(xsave, core::sync::atomic::Ordering::Relaxed);
}

/// Saves the current FPU state into `area`.
pub fn fpu_save(area: &mut FpuArea) {
    if XSAVE.load(core::sync::atomic::Ordering::Relaxed) {
        // SAFETY: OSXSAVE is enabled and the area is 64-byte aligned and large
        // enough for the components enabled in XCR0 (x87, SSE, AVX: 832 bytes).
        unsafe {
            core::arch::asm!("xsave64 [{}]", in(reg) area.0.as_mut_ptr(), in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
        };
    } else {
        // SAFETY: OSFXSR is enabled; the area is 16-byte aligned, >= 512 bytes.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack)) };
    }
}

/// Loads FPU state from `area` (saved by [`fpu_save`] or [`fpu_init_area`]).
pub fn fpu_restore(area: &FpuArea) {
    if XSAVE.load(core::sync::atomic::Ordering::Relaxed) {
        // SAFETY: the area holds a valid XSAVE image (as above).
        unsafe {
            core::arch::asm!("xrstor64 [{}]", in(reg) area.0.as_ptr(), in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
        };
    } else {
        // SAFETY: the area holds a valid FXSAVE image.
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack)) };
    }
}

/// Whether this kernel saves FPU state with XSAVE (else FXSAVE), as
/// [`init_fpu`] decided from CPUID.
pub fn xsave_on() -> bool {
    XSAVE.load(core::sync::atomic::Ordering::Relaxed)
}

/// [`fpu_save`] into `save`, then [`fpu_restore`] from `load`: a thread
/// switch's FPU work, for a CPU whose [`xsave_on`] is `XSAVE` (known when
/// the caller was chosen at boot, so no flag is tested here: the IPC fast
/// path's switch makes two per round trip, see
/// `crate::syscall::fast_dispatch`).
#[inline(always)]
pub fn fpu_switch<const XSAVE_ON: bool>(save: &mut FpuArea, load: &FpuArea) {
    debug_assert_eq!(xsave_on(), XSAVE_ON, "an FPU switch chosen for another CPU");
    if XSAVE_ON {
        // SAFETY: as in `fpu_save` and `fpu_restore`: OSXSAVE is enabled,
        // both areas are aligned and large enough, and `load` holds a valid
        // XSAVE image.
        unsafe {
            core::arch::asm!(
                "xsave64 [{save}]",
                "xrstor64 [{load}]",
                save = in(reg) save.0.as_mut_ptr(),
                load = in(reg) load.0.as_ptr(),
                in("eax") u32::MAX,
                in("edx") u32::MAX,
                options(nostack),
            )
        };
    } else {
        // SAFETY: as in `fpu_save` and `fpu_restore` (FXSAVE images).
        unsafe {
            core::arch::asm!(
                "fxsave64 [{save}]",
                "fxrstor64 [{load}]",
                save = in(reg) save.0.as_mut_ptr(),
                load = in(reg) load.0.as_ptr(),
                options(nostack),
            )
        };
    }
}

/// Fills `area` with the initial FPU state (as after `fninit`, MXCSR default).
pub fn fpu_init_area(area: &mut FpuArea) {
    area.0.fill(0);
    // Legacy area: FCW = 0x37f, MXCSR = 0x1f80 (the XSAVE header, zero,
    // marks every component as in its initial state).
    area.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    area.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
}
