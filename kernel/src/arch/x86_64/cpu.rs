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
    // (`_mm_lfence` is an SSE2 intrinsic, which this soft-float target
    // cannot inline.)
    unsafe {
        core::arch::asm!("lfence", options(nostack, preserves_flags));
        core::arch::x86_64::_rdtsc()
    }
}

/// Reads the TSC with no ordering against earlier instructions (it may be
/// read a few instructions early): for time stamps that need no fence.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no memory effects and is available on every x86_64
    // CPU (CR4.TSD is never set by this kernel).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Whether idle CPUs wait with MONITOR/MWAIT (see [`init_idle`]).
static MWAIT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The line an idle CPU monitors (`PerCpu::wake_line`), alone in its cache
/// line.
#[repr(align(64))]
pub struct WakeLine(core::sync::atomic::AtomicU64);

impl WakeLine {
    /// A line no one touched.
    pub const fn new() -> Self {
        Self(core::sync::atomic::AtomicU64::new(0))
    }
}

impl Default for WakeLine {
    fn default() -> Self {
        Self::new()
    }
}

/// Why idle CPUs cannot wait with MWAIT here, if they cannot.
pub fn mwait_unusable() -> Option<&'static str> {
    let has = CpuId::new()
        .get_feature_info()
        .is_some_and(|f| f.has_monitor_mwait());
    if !has {
        Some("CPUID has no MONITOR/MWAIT")
    } else if Hypervisor::detect() == Hypervisor::Tcg {
        // Seen: with idle=mwait at 2 CPUs the second CPU took no timer tick
        // in 300 s (QEMU 7.2 does not sleep in MWAIT when there is more
        // than one CPU, and the interrupt opened by STI is never taken
        // before the idle loop disables interrupts again).
        Some("QEMU's TCG emulates MWAIT without sleeping or taking interrupts")
    } else {
        None
    }
}

/// Chooses how idle CPUs wait: MONITOR/MWAIT when `wanted` (`idle=mwait` on
/// the command line) and usable, else HLT. Returns the choice.
pub fn init_idle(wanted: bool) -> bool {
    let on = wanted && mwait_unusable().is_none();
    MWAIT.store(on, core::sync::atomic::Ordering::Relaxed);
    on
}

/// Tells idle CPU `cpu` that work arrived (before its IPI): with MWAIT the
/// store alone wakes it on hardware; the IPI that follows wakes it anyway
/// (QEMU's TCG wakes MWAIT only on interrupts).
pub fn wake_line_touch(cpu: u32) {
    if let Some(target) = crate::percpu::of(cpu) {
        target
            .wake_line
            .0
            .fetch_add(1, core::sync::atomic::Ordering::Release);
    }
}

/// Enables interrupts and waits for one (HLT), or for an interrupt or a
/// store to this CPU's wake line (MWAIT), atomically: an interrupt pending
/// since before is taken, not lost (the STI shadow covers the wait).
pub fn idle_wait(cpu: u32) {
    let line = crate::percpu::of(cpu).map(|c| c.wake_line.0.as_ptr());
    match line {
        Some(line) if MWAIT.load(core::sync::atomic::Ordering::Relaxed) => {
            // SAFETY: MONITOR arms address monitoring of a valid, 'static
            // kernel address (rax) with no extensions or hints (ecx = edx =
            // 0); STI then MWAIT (eax = 0: hint C1, ecx = 0) waits, with
            // interrupts enabled once the STI shadow ends; CPUID reported
            // MONITOR/MWAIT.
            unsafe {
                core::arch::asm!(
                    "monitor",
                    "xor eax, eax",
                    "sti",
                    "mwait",
                    inout("rax") line => _,
                    inout("ecx") 0 => _,
                    inout("edx") 0 => _,
                    options(nostack),
                );
            }
        }
        _ => x86_64::instructions::interrupts::enable_and_hlt(),
    }
}

/// Whether CR4.PCIDE is on (every CPU sets it the same way, see [`init_pcid`]).
static PCID: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether PCIDs may be used (`pcid=off` on the command line clears it
/// before the CPUs are set up, for comparisons).
pub static PCID_ALLOWED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// Turns on PCIDs on this CPU when CPUID has them and [`PCID_ALLOWED`];
/// returns whether they are on and
/// whether the CPU has INVPCID (reported only: the generation scheme of
/// `smp::pcid` never needs to flush a tag that is not being loaded).
pub fn init_pcid() -> (bool, bool) {
    let allowed = PCID_ALLOWED.load(core::sync::atomic::Ordering::Relaxed);
    let cpuid = CpuId::new();
    let has = cpuid.get_feature_info().is_some_and(|f| f.has_pcid());
    let invpcid = cpuid
        .get_extended_feature_info()
        .is_some_and(|f| f.has_invpcid());
    if !(has && allowed) {
        return (false, invpcid);
    }
    use x86_64::registers::control::{Cr4, Cr4Flags};
    // SAFETY: CPUID reports PCID; CR3 holds the kernel's PML4 with bits 0..12
    // clear (the condition for setting PCIDE), and every later CR3 load goes
    // through `load_address_space`, which then supplies a tag.
    unsafe { Cr4::update(|f| f.insert(Cr4Flags::PCID)) };
    PCID.store(true, core::sync::atomic::Ordering::Relaxed);
    (true, invpcid)
}

/// A memory type of the page attribute table (Intel SDM vol. 3, "PAT").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MemoryType {
    /// Uncacheable.
    Uncached = 0,
    /// Write-combining.
    WriteCombining = 1,
    /// Write-through.
    WriteThrough = 4,
    /// Write-back.
    WriteBack = 6,
    /// Uncacheable, overridable by a write-combining MTRR.
    UncachedMinus = 7,
}

impl MemoryType {
    /// Short name, as in the boot record.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uncached => "UC",
            Self::WriteCombining => "WC",
            Self::WriteThrough => "WT",
            Self::WriteBack => "WB",
            Self::UncachedMinus => "UC-",
        }
    }
}

/// The PAT every CPU loads. Entries 0-3 keep their power-on types, so a
/// PTE's PWT and PCD bits alone mean what they mean without a PAT; entry 4
/// (PTE bit 7 set, PWT and PCD clear) is write-combining; 5-7 repeat the
/// power-on types.
pub const PAT_LAYOUT: [MemoryType; 8] = [
    MemoryType::WriteBack,
    MemoryType::WriteThrough,
    MemoryType::UncachedMinus,
    MemoryType::Uncached,
    MemoryType::WriteCombining,
    MemoryType::WriteThrough,
    MemoryType::UncachedMinus,
    MemoryType::Uncached,
];

/// The PAT index of write-combining in [`PAT_LAYOUT`]: a 4 KiB PTE selects
/// it with bit 7 (the PAT bit) set and PWT, PCD clear.
pub const PAT_WRITE_COMBINING: usize = 4;

// Entries 0-3 are the power-on ones (WB, WT, UC-, UC), and entry
// `PAT_WRITE_COMBINING` is write-combining.
const _: () = assert!(pat_msr_value() & 0xffff_ffff == 0x0007_0406);
const _: () = assert!(PAT_LAYOUT[PAT_WRITE_COMBINING] as u8 == MemoryType::WriteCombining as u8);

const IA32_PAT: u32 = 0x277;

/// [`PAT_LAYOUT`] as the IA32_PAT MSR value (entry i in byte i).
pub const fn pat_msr_value() -> u64 {
    let mut value = 0u64;
    let mut i = 0;
    while i < 8 {
        value |= (PAT_LAYOUT[i] as u64) << (8 * i);
        i += 1;
    }
    value
}

/// Loads [`PAT_LAYOUT`] on this CPU when CPUID has a PAT; returns whether
/// it did. Every CPU runs this during its bring-up, before any mapping
/// selects entry 4, so no cached line or TLB entry of the old entry 4
/// exists and no flush is needed.
pub fn init_pat() -> bool {
    let has = CpuId::new().get_feature_info().is_some_and(|f| f.has_pat());
    if has {
        // SAFETY: CPUID reports the PAT MSR. Entries 0-3 keep their values,
        // and nothing maps through entries 4-7 yet.
        unsafe { x86_64::registers::model_specific::Msr::new(IA32_PAT).write(pat_msr_value()) };
    }
    PAT_ON.store(has, core::sync::atomic::Ordering::Relaxed);
    has
}

static PAT_ON: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether [`init_pat`] loaded [`PAT_LAYOUT`] (so write-combining mappings
/// are available).
pub fn pat_on() -> bool {
    PAT_ON.load(core::sync::atomic::Ordering::Relaxed)
}

/// This CPU's IA32_PAT, read back (`None` without a PAT).
pub fn pat_msr() -> Option<u64> {
    if !CpuId::new().get_feature_info().is_some_and(|f| f.has_pat()) {
        return None;
    }
    // SAFETY: CPUID reports the PAT MSR; reading it has no side effect.
    Some(unsafe { x86_64::registers::model_specific::Msr::new(IA32_PAT).read() })
}

/// What [`init_protection`] turned on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    /// Supervisor-mode execution prevention: ring 0 never runs user pages.
    pub smep: bool,
    /// Supervisor-mode access prevention: ring 0 never reads or writes user
    /// pages (the kernel reaches user memory only through its direct map of
    /// the translated frames, see `usercopy`).
    pub smap: bool,
    /// User-mode instruction prevention: `sgdt sidt sldt smsw str` fault in
    /// ring 3, so no kernel address leaks through them.
    pub umip: bool,
}

/// Turns on SMEP, SMAP and UMIP on this CPU, each where CPUID has it.
pub fn init_protection() -> Protection {
    use x86_64::registers::control::{Cr4, Cr4Flags};
    let features = CpuId::new().get_extended_feature_info();
    let has = |f: fn(&raw_cpuid::ExtendedFeatures) -> bool| features.as_ref().is_some_and(f);
    let on = Protection {
        smep: has(raw_cpuid::ExtendedFeatures::has_smep),
        smap: has(raw_cpuid::ExtendedFeatures::has_smap),
        umip: has(raw_cpuid::ExtendedFeatures::has_umip),
    };
    let mut flags = Cr4Flags::empty();
    for (wanted, flag) in [
        (on.smep, Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
        (on.smap, Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
        (on.umip, Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
    ] {
        if wanted {
            flags |= flag;
        }
    }
    // SAFETY: CPUID reports each feature set here. The kernel executes only
    // its own (supervisor) pages, touches user memory only through the
    // direct map (supervisor pages), and uses none of the UMIP
    // instructions in ring 3.
    unsafe { Cr4::update(|f| f.insert(flags)) };
    on
}

/// What [`init_protection`] turned on, read back from this CPU's CR4.
pub fn protection() -> Protection {
    use x86_64::registers::control::{Cr4, Cr4Flags};
    let cr4 = Cr4::read();
    Protection {
        smep: cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
        smap: cr4.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
        umip: cr4.contains(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
    }
}

/// Whether address spaces switch with PCID tags.
pub fn pcid_on() -> bool {
    PCID.load(core::sync::atomic::Ordering::Relaxed)
}

/// Switches to the address space whose PML4 is at `pml4` (no-op if current).
/// With PCIDs, a user address space gets this CPU's tag for it and keeps its
/// TLB entries while the tag still belongs to it and no user mapping went
/// away since they were loaded (`mem::tlb::pcid_load`, `smp::pcid`); the
/// kernel's own space (`paging::kernel_pml4_phys`) always uses tag 0.
/// Without PCIDs it is a plain CR3 write, inlined (every thread switch,
/// and so every IPC round trip, makes two).
#[inline(always)]
pub fn load_address_space(pml4: u64) {
    if pcid_on() {
        load_address_space_as::<true>(pml4);
    } else {
        load_address_space_as::<false>(pml4);
    }
}

/// [`load_address_space`] on a CPU whose [`pcid_on`] is `PCID` (known when
/// the caller was chosen at boot, so no flag is tested here: see
/// `crate::syscall::fast_dispatch`).
#[inline(always)]
pub fn load_address_space_as<const PCID: bool>(pml4: u64) {
    debug_assert_eq!(
        pcid_on(),
        PCID,
        "an address-space switch chosen for another CPU"
    );
    // `pml4` is a frame's start address (page-aligned, below 2^52), so
    // clearing CR3's low 12 bits (flags, or the PCID tag) is enough to
    // compare: `!0xfff` is an immediate, where the crate's exact mask
    // (`Cr3::read_raw`) costs a 64-bit constant load. Set high bits (none
    // that this kernel enables) would only make the compare fail and the
    // load below run once more.
    let current: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) current, options(nomem, nostack, preserves_flags))
    };
    if current & !0xfff == pml4 {
        return;
    }
    if PCID {
        load_tagged_address_space(pml4);
        return;
    }
    debug_assert!(
        pml4 & !0x000f_ffff_ffff_f000 == 0,
        "not a PML4 frame address"
    );
    // SAFETY: every address space shares the kernel half (entries 256..512 of
    // the kernel's PML4), so the code and stack in use stay mapped; `pml4` is
    // a frame's start address, so this loads it with no flag bits set (as
    // `Cr3::write(frame, Cr3Flags::empty())` would, without its masking).
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) };
}

/// [`load_address_space`] with PCIDs on. Cold only as a layout choice: the
/// CR3 load without PCIDs then falls through (no jump) on the switch path;
/// with PCIDs the call is one taken branch.
#[cold]
#[inline(never)]
fn load_tagged_address_space(pml4: u64) {
    use x86_64::registers::control::{Cr3, Cr3Flags};
    use x86_64::structures::paging::PhysFrame;
    let frame = PhysFrame::containing_address(x86_64::PhysAddr::new(pml4));
    if pml4 == crate::mem::paging::kernel_pml4_phys() {
        // SAFETY: as in `load_address_space`; with PCIDs on, tag 0 (flushed
        // here) belongs to the kernel.
        unsafe { Cr3::write(frame, Cr3Flags::empty()) };
        return;
    }
    let load = crate::mem::tlb::pcid_load(pml4);
    let pcid = x86_64::instructions::tlb::Pcid::new(load.pcid).expect("tags are 1..=4095");
    // SAFETY: as in `load_address_space`; PCIDE is on (`pcid_on`), and the
    // tag's entries are kept only if they belong to this address space and no
    // user mapping went away since they were loaded (`smp::pcid`).
    unsafe {
        if load.flush {
            Cr3::write_pcid(frame, pcid);
        } else {
            // Tells the performance model this CR3 load keeps the TLB.
            super::marker::cr3_no_flush();
            Cr3::write_pcid_no_flush(frame, pcid);
        }
    }
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
        D::Panic => panic!("deliberate kernel panic (test.fault=panic)"),
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

/// Writes `value` to MSR `msr`; `None` if the write raised #GP (no such
/// MSR, or a reserved bit set).
pub fn wrmsr_probe(msr: u32, value: u64) -> Option<()> {
    // SAFETY: the naked function writes one MSR; a #GP on its wrmsr is turned
    // into a `0` return by `fixup_probe`. Callers only write performance
    // monitoring MSRs, which change no memory or control state the kernel
    // relies on.
    let ok = unsafe { wrmsr_probe_raw(msr, value) };
    (ok == 1).then_some(())
}

#[unsafe(naked)]
unsafe extern "C" fn wrmsr_probe_raw(msr: u32, value: u64) -> u32 {
    core::arch::naked_asm!(
        "mov ecx, edi",
        "mov eax, esi",
        "mov rdx, rsi",
        "shr rdx, 32",
        ".global veridian_wrmsr_probe_insn",
        "veridian_wrmsr_probe_insn:",
        "wrmsr",
        "mov eax, 1",
        "ret",
        ".global veridian_wrmsr_probe_fixup",
        "veridian_wrmsr_probe_fixup:",
        "xor eax, eax",
        "ret",
    );
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
    static veridian_wrmsr_probe_insn: u8;
    static veridian_wrmsr_probe_fixup: u8;
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
        (
            core::ptr::addr_of!(veridian_wrmsr_probe_insn),
            core::ptr::addr_of!(veridian_wrmsr_probe_fixup),
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

/// Executes exactly `2 * iterations` instructions (`dec` and `jnz` per
/// iteration; `iterations` at least 1), for checking the instruction counter
/// against a known count.
pub fn counted_loop(iterations: u64) {
    let n = iterations.max(1);
    // SAFETY: a register-only countdown loop: no memory, no stack, and the
    // flags it clobbers are declared by default.
    unsafe {
        core::arch::asm!(
            "2:",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) n => _,
            options(nomem, nostack),
        );
    }
}
