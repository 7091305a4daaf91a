//! The local APIC through the `x2apic` crate: x2APIC mode when CPUID has it,
//! xAPIC (MMIO) otherwise; the timer in TSC-deadline mode when CPUID has it,
//! else one-shot counting of the bus clock calibrated against the TSC.
//!
//! Known quirk of the crate in xAPIC mode: ICR destinations are taken as the
//! raw high ICR dword, so the APIC id must be shifted left by 24, and `id()`
//! returns the raw ID register (id in bits 24..32). [`Apic::dest`] and
//! [`Apic::apic_id`] hide that.

use x2apic::lapic::{LocalApic, LocalApicBuilder, TimerDivide, TimerMode};
use x86_64::registers::model_specific::Msr;

/// Timer interrupt vector.
pub const VECTOR_TIMER: u8 = 0x20;
/// Generic IPI (drains the per-CPU IPI inbox).
pub const VECTOR_IPI: u8 = 0xf0;
/// TLB shootdown IPI.
pub const VECTOR_TLB: u8 = 0xf1;
/// APIC error interrupt.
pub const VECTOR_ERROR: u8 = 0xfe;
/// Spurious interrupt vector.
pub const VECTOR_SPURIOUS: u8 = 0xff;

const IA32_TSC_DEADLINE: u32 = 0x6e0;

/// How this machine's APICs are driven (the same on every CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApicMode {
    /// x2APIC (MSR) mode, else xAPIC (MMIO at `xapic_virt`).
    pub x2apic: bool,
    /// Virtual address of the xAPIC MMIO page (0 in x2APIC mode).
    pub xapic_virt: u64,
    /// Whether the timer runs in TSC-deadline mode.
    pub tsc_deadline: bool,
}

impl ApicMode {
    /// Detects the mode from CPUID; `xapic_virt` maps the xAPIC page.
    pub fn detect(xapic_virt: u64) -> Self {
        let cpuid = raw_cpuid::CpuId::new();
        let features = cpuid.get_feature_info();
        Self {
            x2apic: features.as_ref().is_some_and(|f| f.has_x2apic()),
            xapic_virt,
            tsc_deadline: features.as_ref().is_some_and(|f| f.has_tsc_deadline()),
        }
    }

    /// The name used in the boot record (`apic=`).
    pub fn name(&self) -> &'static str {
        if self.x2apic { "x2apic" } else { "xapic" }
    }
}

/// The physical address of the xAPIC MMIO page (from IA32_APIC_BASE).
pub fn xapic_phys_base() -> u64 {
    // SAFETY: reading IA32_APIC_BASE has no side effects; every x86_64 CPU has it.
    unsafe { x2apic::lapic::xapic_base() }
}

/// This CPU's local APIC. Created on its CPU and kept in that CPU's per-CPU
/// data; never used from another CPU.
pub struct Apic {
    lapic: LocalApic,
    mode: ApicMode,
}

// SAFETY: an Apic is created on one CPU and stored in that CPU's CpuLocal,
// which only that CPU accesses (with interrupts off); it never migrates.
unsafe impl Send for Apic {}

impl Apic {
    /// Enables this CPU's local APIC in `mode`, timer stopped.
    ///
    /// # Errors
    /// When the crate refuses the configuration.
    pub fn enable(mode: ApicMode) -> Result<Self, &'static str> {
        let mut builder = LocalApicBuilder::new();
        builder
            .timer_vector(VECTOR_TIMER as usize)
            .error_vector(VECTOR_ERROR as usize)
            .spurious_vector(VECTOR_SPURIOUS as usize)
            .timer_divide(TimerDivide::Div16)
            .timer_initial(0)
            .timer_mode(if mode.tsc_deadline {
                TimerMode::TscDeadline
            } else {
                TimerMode::OneShot
            });
        if !mode.x2apic {
            builder.set_xapic_base(mode.xapic_virt);
        }
        let mut lapic = builder.build()?;
        // SAFETY: configures this CPU's own APIC (MSRs or the MMIO page mapped
        // uncached at xapic_virt); interrupts are off during bring-up.
        unsafe { lapic.enable() };
        // The crate unmasks the timer's LVT entry before it sets the
        // software-enable bit of the spurious-vector register. An APIC that
        // is software-disabled keeps every LVT mask bit set and ignores
        // writes that clear one (Intel SDM vol. 3, "Local APIC State After
        // It Has Been Software Disabled"), and INIT leaves an AP's APIC in
        // that state: the unmask is lost there, and the AP never gets a
        // timer tick. Bochs enforces the rule; QEMU 7.2 does not, and
        // firmware leaves the BSP's APIC software-enabled. Unmasking again
        // now that the APIC is software-enabled sticks.
        // SAFETY: as above; rewrites this CPU's LVT timer entry unmasked,
        // with the vector and mode the builder set.
        unsafe { lapic.enable_timer() };
        Ok(Self { lapic, mode })
    }

    /// The destination value the crate expects for `apic_id`.
    fn dest(&self, apic_id: u32) -> u32 {
        if self.mode.x2apic {
            apic_id
        } else {
            apic_id << 24
        }
    }

    /// This CPU's APIC id.
    pub fn apic_id(&self) -> u32 {
        // SAFETY: reads this CPU's ID register.
        let raw = unsafe { self.lapic.id() };
        if self.mode.x2apic { raw } else { raw >> 24 }
    }

    /// Signals end of interrupt.
    pub fn eoi(&mut self) {
        // SAFETY: called at the end of an interrupt handler on this CPU.
        unsafe { self.lapic.end_of_interrupt() }
    }

    /// Sends fixed IPI `vector` to `apic_id`.
    pub fn send_ipi(&mut self, apic_id: u32, vector: u8) {
        let dest = self.dest(apic_id);
        // SAFETY: a fixed IPI to a registered vector; the target's handler
        // tolerates spurious deliveries.
        unsafe { self.lapic.send_ipi(vector, dest) }
    }

    /// Sends INIT to `apic_id` (AP start-up only).
    pub fn send_init(&mut self, apic_id: u32) {
        let dest = self.dest(apic_id);
        // SAFETY: INIT resets the target CPU, which is an AP not yet started.
        unsafe { self.lapic.send_init_ipi(dest) }
    }

    /// Sends a STARTUP IPI with start page `page` to `apic_id`.
    pub fn send_sipi(&mut self, apic_id: u32, page: u8) {
        let dest = self.dest(apic_id);
        // SAFETY: the target is an AP in wait-for-SIPI; the page holds the
        // trampoline.
        unsafe { self.lapic.send_sipi(page, dest) }
    }

    /// Arms the timer to fire at TSC value `deadline` (TSC-deadline mode) or
    /// after `ticks` APIC timer ticks (one-shot mode).
    pub fn arm_timer(&mut self, deadline: u64, ticks: u32) {
        if self.mode.tsc_deadline {
            // SAFETY: IA32_TSC_DEADLINE exists (CPUID said so); writing it arms
            // this CPU's timer.
            unsafe { Msr::new(IA32_TSC_DEADLINE).write(deadline) };
        } else {
            // SAFETY: reprograms this CPU's timer initial count (one-shot).
            unsafe { self.lapic.set_timer_initial(ticks.max(1)) };
        }
    }

    /// The current count of the one-shot timer (for calibration).
    pub fn timer_current(&self) -> u32 {
        // SAFETY: reads this CPU's timer register.
        unsafe { self.lapic.timer_current() }
    }
}
