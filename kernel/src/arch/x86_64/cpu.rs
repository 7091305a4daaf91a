//! Small CPU primitives: halting, interrupt flag, timestamps, control registers,
//! and identification of the hypervisor we run under.

use raw_cpuid::CpuId;

/// Disables interrupts and halts this CPU forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Reads the TSC, ordered after earlier loads by `lfence` (works where
/// `rdtscp` is missing, as under QEMU's TCG).
#[inline(always)]
pub fn rdtsc_ordered() -> u64 {
    // SAFETY: lfence and rdtsc have no memory effects; rdtsc is available on
    // every x86_64 CPU (CR4.TSD is never set by this kernel).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// Switches to the address space whose PML4 is at `pml4` (no-op if current).
pub fn load_address_space(pml4: u64) {
    use x86_64::registers::control::{Cr3, Cr3Flags};
    use x86_64::structures::paging::PhysFrame;
    let (current, _) = Cr3::read();
    if current.start_address().as_u64() == pml4 {
        return;
    }
    // SAFETY: every address space shares the kernel half (entries 256..512 of
    // the kernel's PML4), so the code and stack in use stay mapped.
    unsafe {
        Cr3::write(
            PhysFrame::containing_address(x86_64::PhysAddr::new(pml4)),
            Cr3Flags::empty(),
        )
    };
}

/// The hypervisor we run under, from CPUID leaf 4000_0000h.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    /// No hypervisor bit: bare metal (or a hypervisor that hides itself).
    None,
    /// KVM ("KVMKVMKVM").
    Kvm,
    /// QEMU's software emulation ("TCGTCGTCGTCG").
    Tcg,
    /// Some other hypervisor.
    Other,
}

impl Hypervisor {
    /// Detects the hypervisor.
    pub fn detect() -> Self {
        let cpuid = CpuId::new();
        let hv_bit = cpuid.get_feature_info().is_some_and(|f| f.has_hypervisor());
        if !hv_bit {
            return Self::None;
        }
        match cpuid.get_hypervisor_info().map(|h| h.identify()) {
            Some(raw_cpuid::Hypervisor::KVM) => Self::Kvm,
            // raw-cpuid names QEMU's "TCGTCGTCGTCG" signature `QEMU`.
            Some(raw_cpuid::Hypervisor::QEMU) => Self::Tcg,
            Some(raw_cpuid::Hypervisor::Unknown(b, c, d)) => {
                let mut sig = [0u8; 12];
                sig[0..4].copy_from_slice(&b.to_le_bytes());
                sig[4..8].copy_from_slice(&c.to_le_bytes());
                sig[8..12].copy_from_slice(&d.to_le_bytes());
                if &sig == b"TCGTCGTCGTCG" {
                    Self::Tcg
                } else {
                    Self::Other
                }
            }
            Some(_) => Self::Other,
            // QEMU's TCG sets the hypervisor bit but older versions leave the
            // 4000_0000h leaf empty.
            None => Self::Tcg,
        }
    }

    /// The name used in boot and benchmark records.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
            Self::Other => "other",
        }
    }
}

/// Executes `int3` with the two values live in registers across it (the trap
/// path must preserve them).
pub fn breakpoint_preserving(a: &mut u64, b: &mut u64) {
    // SAFETY: int3 traps to the kernel's breakpoint handler, which returns;
    // the asm only reads and writes the two named registers.
    unsafe { core::arch::asm!("int3", inout("r12") * a, inout("r13") * b) };
}

/// Deliberately causes the named fault (test-only command-line switch).
pub fn deliberate_fault(kind: crate::cmdline::DeliberateFault) -> ! {
    use crate::cmdline::DeliberateFault as D;
    match kind {
        D::PageFault => {
            // An address in the (empty) lower half: unmapped after boot.
            let p = 0x0000_7fff_dead_0000 as *const u64;
            // SAFETY: none; this is the point. The read faults and the fault
            // path stops the kernel.
            let v = unsafe { core::ptr::read_volatile(p) };
            panic!("read of an unmapped address returned {v:#x}");
        }
        // SAFETY: ud2 raises #UD, which stops the kernel.
        D::InvalidOpcode => unsafe { core::arch::asm!("ud2", options(noreturn)) },
        D::GeneralProtection => {
            let p = 0x8000_0000_0000_0000u64 as *const u64;
            // SAFETY: none; a non-canonical access raises #GP, which stops the kernel.
            let v = unsafe { core::ptr::read_volatile(p) };
            panic!("non-canonical read returned {v:#x}");
        }
    }
}

/// Reads MSR `msr`, or `None` if the read raised #GP (the MSR does not exist
/// here). The trap handler recognises a fault at the probe's `rdmsr` and
/// resumes at its fixup instead of treating it as a kernel crash.
pub fn rdmsr_probe(msr: u32) -> Option<u64> {
    let mut value = 0u64;
    // SAFETY: the naked function reads one MSR into `value`; a #GP on its
    // rdmsr is turned into a `0` return by `fixup_probe`.
    let ok = unsafe { rdmsr_probe_raw(msr, &mut value) };
    (ok == 1).then_some(value)
}

/// Reads performance counter `index` with `rdpmc`, or `None` on #GP.
pub fn rdpmc_probe(index: u32) -> Option<u64> {
    let mut value = 0u64;
    // SAFETY: as for `rdmsr_probe`.
    let ok = unsafe { rdpmc_probe_raw(index, &mut value) };
    (ok == 1).then_some(value)
}

#[unsafe(naked)]
unsafe extern "C" fn rdmsr_probe_raw(msr: u32, out: *mut u64) -> u32 {
    core::arch::naked_asm!(
        "mov ecx, edi",
        ".global veridian_rdmsr_probe_insn",
        "veridian_rdmsr_probe_insn:",
        "rdmsr",
        "shl rdx, 32",
        "or rax, rdx",
        "mov [rsi], rax",
        "mov eax, 1",
        "ret",
        ".global veridian_rdmsr_probe_fixup",
        "veridian_rdmsr_probe_fixup:",
        "xor eax, eax",
        "ret",
    );
}

#[unsafe(naked)]
unsafe extern "C" fn rdpmc_probe_raw(index: u32, out: *mut u64) -> u32 {
    core::arch::naked_asm!(
        "mov ecx, edi",
        ".global veridian_rdpmc_probe_insn",
        "veridian_rdpmc_probe_insn:",
        "rdpmc",
        "shl rdx, 32",
        "or rax, rdx",
        "mov [rsi], rax",
        "mov eax, 1",
        "ret",
        ".global veridian_rdpmc_probe_fixup",
        "veridian_rdpmc_probe_fixup:",
        "xor eax, eax",
        "ret",
    );
}

unsafe extern "C" {
    // Labels inside the probe functions above: only addresses are used.
    static veridian_rdmsr_probe_insn: u8;
    static veridian_rdmsr_probe_fixup: u8;
    static veridian_rdpmc_probe_insn: u8;
    static veridian_rdpmc_probe_fixup: u8;
}

/// If a kernel #GP/#UD hit one of the probe instructions, moves `rip` to its
/// fixup and returns true.
pub fn fixup_probe(rip: &mut u64) -> bool {
    let pairs = [
        (
            core::ptr::addr_of!(veridian_rdmsr_probe_insn),
            core::ptr::addr_of!(veridian_rdmsr_probe_fixup),
        ),
        (
            core::ptr::addr_of!(veridian_rdpmc_probe_insn),
            core::ptr::addr_of!(veridian_rdpmc_probe_fixup),
        ),
    ];
    for (insn, fixup) in pairs {
        if *rip == insn as u64 {
            *rip = fixup as u64;
            return true;
        }
    }
    false
}
