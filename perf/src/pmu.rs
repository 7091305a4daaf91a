//! The performance-monitoring unit, decoded from CPUID register values: what
//! counters exist ([`PmuInfo`]), the MSRs that drive them, and the values to
//! write into those MSRs ([`perfevtsel`], [`fixed_ctr_ctrl`],
//! [`IntelPmu::global_ctrl_all`]). Which events to count on a given CPU model
//! is in [`events`]; whether an advertised PMU really counts is judged by
//! [`check`]. The kernel does the `cpuid`/`wrmsr`/`rdpmc`.
//!
//! Sources: Intel SDM vol. 3B chapter 20 ("Performance Monitoring": CPUID
//! leaf 0Ah, IA32_PERFEVTSELx, IA32_FIXED_CTR_CTRL, IA32_PERF_GLOBAL_CTRL)
//! and vol. 4 (MSR addresses); AMD APM vol. 2 section 13.2 ("Performance
//! Monitoring Counters") and CPUID 8000_0001h ECX bit 23 (PerfCtrExtCore).

pub mod check;
pub mod events;
pub mod plan;

/// MSR addresses of the architectural (Intel) and AMD core counters.
pub mod msr {
    /// First general-purpose counter, `IA32_PMC0` (+n for counter n).
    pub const IA32_PMC0: u32 = 0xc1;
    /// First event select, `IA32_PERFEVTSEL0` (+n for counter n).
    pub const IA32_PERFEVTSEL0: u32 = 0x186;
    /// First fixed counter, `IA32_FIXED_CTR0` (+n for fixed counter n).
    pub const IA32_FIXED_CTR0: u32 = 0x309;
    /// Fixed counter control, `IA32_FIXED_CTR_CTRL`.
    pub const IA32_FIXED_CTR_CTRL: u32 = 0x38d;
    /// Overflow status, `IA32_PERF_GLOBAL_STATUS` (version >= 2).
    pub const IA32_PERF_GLOBAL_STATUS: u32 = 0x38e;
    /// Global enable, `IA32_PERF_GLOBAL_CTRL` (version >= 2).
    pub const IA32_PERF_GLOBAL_CTRL: u32 = 0x38f;
    /// Overflow clear, `IA32_PERF_GLOBAL_OVF_CTRL` (version >= 2).
    pub const IA32_PERF_GLOBAL_OVF_CTRL: u32 = 0x390;
    /// AMD legacy `PerfEvtSel0` (+n, n < 4).
    pub const AMD_PERF_LEGACY_CTL0: u32 = 0xc001_0000;
    /// AMD legacy `PerfCtr0` (+n, n < 4).
    pub const AMD_PERF_LEGACY_CTR0: u32 = 0xc001_0004;
    /// AMD extended `PerfEvtSel0` (+2n, n < 6), with PerfCtrExtCore.
    pub const AMD_PERF_CTL0: u32 = 0xc001_0200;
    /// AMD extended `PerfCtr0` (+2n, n < 6), with PerfCtrExtCore.
    pub const AMD_PERF_CTR0: u32 = 0xc001_0201;
}

/// What CPUID says about the core performance counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmuInfo {
    /// No usable counters (CPUID.0Ah version 0 or no counters: the usual
    /// case under TCG and under KVM without `-cpu host,pmu=on`).
    None,
    /// Intel architectural performance monitoring.
    Intel(IntelPmu),
    /// AMD core performance counters.
    Amd(AmdPmu),
}

/// Intel architectural perfmon, from CPUID leaf 0Ah.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntelPmu {
    /// Architectural perfmon version (EAX 7:0), at least 1.
    pub version: u8,
    /// General-purpose counters per logical CPU (EAX 15:8).
    pub general_counters: u8,
    /// Bit width of the general-purpose counters (EAX 23:16).
    pub general_width: u8,
    /// Fixed-function counters (EDX 4:0; 0 before version 2).
    pub fixed_counters: u8,
    /// Bit width of the fixed counters (EDX 12:5; 0 before version 2).
    pub fixed_width: u8,
    /// EBX: bit i set means architectural event i is NOT available.
    unavailable_events: u32,
    /// Number of valid bits in `unavailable_events` (EAX 31:24).
    event_vector_len: u8,
}

/// AMD core performance counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmdPmu {
    /// True with PerfCtrExtCore (CPUID 8000_0001h ECX bit 23): 6 counters at
    /// `AMD_PERF_CTL0/CTR0`, else the 4 legacy ones.
    pub extended: bool,
}

/// The architectural events of CPUID.0Ah EBX, by bit position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchEvent {
    /// UnHalted core cycles (3Ch/00h).
    CoreCycles = 0,
    /// Instructions retired (C0h/00h).
    InstructionsRetired = 1,
    /// UnHalted reference cycles (3Ch/01h).
    ReferenceCycles = 2,
    /// Last-level cache references (2Eh/4Fh).
    LlcReferences = 3,
    /// Last-level cache misses (2Eh/41h).
    LlcMisses = 4,
    /// Branch instructions retired (C4h/00h).
    BranchInstructionsRetired = 5,
    /// Branch mispredicts retired (C5h/00h).
    BranchMissesRetired = 6,
    /// Top-down slots (A4h/01h).
    TopdownSlots = 7,
}

impl PmuInfo {
    /// Decodes Intel's CPUID leaf 0Ah. Version 0, or no general-purpose
    /// counters, gives [`PmuInfo::None`].
    #[must_use]
    pub const fn from_intel_cpuid_0ah(eax: u32, ebx: u32, edx: u32) -> Self {
        let [version, general_counters, general_width, event_vector_len] = eax.to_le_bytes();
        if version == 0 || general_counters == 0 {
            return Self::None;
        }
        // EDX is only defined from version 2 on.
        let (fixed_counters, fixed_width) = if version >= 2 {
            ((edx & 0x1f) as u8, ((edx >> 5) & 0xff) as u8)
        } else {
            (0, 0)
        };
        Self::Intel(IntelPmu {
            version,
            general_counters,
            general_width,
            fixed_counters,
            fixed_width,
            unavailable_events: ebx,
            event_vector_len,
        })
    }

    /// Decodes AMD's counters from CPUID 8000_0001h ECX (bit 23,
    /// PerfCtrExtCore). Every AMD64 CPU has at least the 4 legacy counters,
    /// but a hypervisor may hide them: the kernel should confirm with a
    /// write/read-back before trusting this.
    #[must_use]
    pub const fn from_amd_cpuid_8000_0001h(ecx: u32) -> Self {
        Self::Amd(AmdPmu {
            extended: ecx & (1 << 23) != 0,
        })
    }

    /// Number of general-purpose counters (0 for [`PmuInfo::None`]).
    #[must_use]
    pub const fn general_counters(&self) -> u8 {
        match self {
            Self::None => 0,
            Self::Intel(intel) => intel.general_counters,
            Self::Amd(amd) => amd.counters(),
        }
    }
}

impl core::fmt::Display for PmuInfo {
    /// The `pmu=` token of `@meta`: `none`, `intel-v<N>` or `amd`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Intel(intel) => write!(f, "intel-v{}", intel.version),
            Self::Amd(_) => f.write_str("amd"),
        }
    }
}

impl IntelPmu {
    /// True when CPUID.0Ah says architectural `event` can be counted (its
    /// EBX bit is within the enumerated length and clear).
    #[must_use]
    pub const fn is_available(&self, event: ArchEvent) -> bool {
        let bit = event as u32;
        bit < self.event_vector_len as u32 && self.unavailable_events & (1 << bit) == 0
    }

    /// `IA32_PERFEVTSELn`, `None` when counter `n` does not exist.
    #[must_use]
    pub const fn event_select_msr(&self, n: u8) -> Option<u32> {
        if n < self.general_counters {
            Some(msr::IA32_PERFEVTSEL0 + n as u32)
        } else {
            None
        }
    }

    /// `IA32_PMCn`, `None` when counter `n` does not exist.
    #[must_use]
    pub const fn counter_msr(&self, n: u8) -> Option<u32> {
        if n < self.general_counters {
            Some(msr::IA32_PMC0 + n as u32)
        } else {
            None
        }
    }

    /// `IA32_FIXED_CTRn`, `None` when fixed counter `n` does not exist.
    #[must_use]
    pub const fn fixed_counter_msr(&self, counter: FixedCounter) -> Option<u32> {
        let n = counter as u8;
        if n < self.fixed_counters {
            Some(msr::IA32_FIXED_CTR0 + n as u32)
        } else {
            None
        }
    }

    /// `IA32_PERF_GLOBAL_CTRL` value enabling every general counter (bits
    /// `0..general_counters`) and fixed counter (bits `32..32+fixed`).
    /// Meaningful from version 2 on; version 1 has no global control.
    #[must_use]
    pub const fn global_ctrl_all(&self) -> u64 {
        low_bits(self.general_counters) | (low_bits(self.fixed_counters) << 32)
    }
}

impl AmdPmu {
    /// Number of core counters: 6 with PerfCtrExtCore, else 4.
    #[must_use]
    pub const fn counters(&self) -> u8 {
        if self.extended { 6 } else { 4 }
    }

    /// Bit width of AMD core counters (48, all families).
    #[must_use]
    pub const fn counter_width(&self) -> u8 {
        48
    }

    /// Event select MSR of counter `n`, `None` when it does not exist.
    #[must_use]
    pub const fn event_select_msr(&self, n: u8) -> Option<u32> {
        if n >= self.counters() {
            None
        } else if self.extended {
            Some(msr::AMD_PERF_CTL0 + 2 * n as u32)
        } else {
            Some(msr::AMD_PERF_LEGACY_CTL0 + n as u32)
        }
    }

    /// Counter MSR of counter `n`, `None` when it does not exist.
    #[must_use]
    pub const fn counter_msr(&self, n: u8) -> Option<u32> {
        if n >= self.counters() {
            None
        } else if self.extended {
            Some(msr::AMD_PERF_CTR0 + 2 * n as u32)
        } else {
            Some(msr::AMD_PERF_LEGACY_CTR0 + n as u32)
        }
    }
}

/// `n` low bits set (n <= 32 here, so the shift is in range).
const fn low_bits(n: u8) -> u64 {
    if n >= 64 { u64::MAX } else { (1_u64 << n) - 1 }
}

/// An event for a general-purpose counter: the fields of
/// `IA32_PERFEVTSELx` (and AMD's `PerfEvtSeln`, same low 32 bits) that
/// select what is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSelect {
    /// Event select (bits 7:0).
    pub event: u8,
    /// Unit mask (bits 15:8).
    pub umask: u8,
    /// Counter mask (bits 31:24): count cycles with at least this many
    /// events; 0 counts events.
    pub counter_mask: u8,
    /// Invert the counter-mask comparison (bit 23).
    pub invert: bool,
    /// Edge detect (bit 18).
    pub edge: bool,
}

impl EventSelect {
    /// A plain event/umask pair.
    #[must_use]
    pub const fn new(event: u8, umask: u8) -> Self {
        Self {
            event,
            umask,
            counter_mask: 0,
            invert: false,
            edge: false,
        }
    }
}

/// Which privilege levels a counter counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountMode {
    /// Count in ring 3 (USR).
    pub user: bool,
    /// Count in ring 0 (OS).
    pub kernel: bool,
}

impl CountMode {
    /// User and kernel: what an IPC round trip through the kernel costs.
    pub const ALL: Self = Self {
        user: true,
        kernel: true,
    };
}

const PERFEVTSEL_USR: u64 = 1 << 16;
const PERFEVTSEL_OS: u64 = 1 << 17;
const PERFEVTSEL_EDGE: u64 = 1 << 18;
const PERFEVTSEL_EN: u64 = 1 << 22;
const PERFEVTSEL_INV: u64 = 1 << 23;

/// The enabled `IA32_PERFEVTSELx` value counting `select` in `mode` (no
/// interrupt on overflow, no AnyThread).
#[must_use]
pub const fn perfevtsel(select: EventSelect, mode: CountMode) -> u64 {
    let mut value = select.event as u64 | (select.umask as u64) << 8 | PERFEVTSEL_EN;
    value |= (select.counter_mask as u64) << 24;
    if mode.user {
        value |= PERFEVTSEL_USR;
    }
    if mode.kernel {
        value |= PERFEVTSEL_OS;
    }
    if select.edge {
        value |= PERFEVTSEL_EDGE;
    }
    if select.invert {
        value |= PERFEVTSEL_INV;
    }
    value
}

/// The fixed-function counters, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedCounter {
    /// `IA32_FIXED_CTR0`: instructions retired.
    InstructionsRetired = 0,
    /// `IA32_FIXED_CTR1`: unhalted core cycles.
    CoreCycles = 1,
    /// `IA32_FIXED_CTR2`: unhalted reference cycles (TSC rate).
    ReferenceCycles = 2,
}

/// `IA32_FIXED_CTR_CTRL` value enabling `counters` in `mode`: 4 bits per
/// counter at `4 * index`, bit 0 = ring 0 (OS), bit 1 = ring 3 (USR); no
/// AnyThread, no PMI.
#[must_use]
pub fn fixed_ctr_ctrl(counters: &[FixedCounter], mode: CountMode) -> u64 {
    let field = u64::from(mode.kernel) | u64::from(mode.user) << 1;
    counters
        .iter()
        .fold(0, |value, &counter| value | field << (4 * counter as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_skylake_leaf_0ah() {
        // Skylake client, as in the SDM's field layout: v4, 4 GP counters of
        // 48 bits, EBX length 7 with all events available, 3 fixed counters
        // of 48 bits.
        let info = PmuInfo::from_intel_cpuid_0ah(0x0730_0404, 0x0000_0000, 0x0000_0603);
        let PmuInfo::Intel(intel) = info else {
            panic!("expected Intel: {info:?}")
        };
        assert_eq!(intel.version, 4);
        assert_eq!(intel.general_counters, 4);
        assert_eq!(intel.general_width, 48);
        assert_eq!(intel.fixed_counters, 3);
        assert_eq!(intel.fixed_width, 48);
        assert!(intel.is_available(ArchEvent::LlcMisses));
        assert!(intel.is_available(ArchEvent::BranchMissesRetired));
        assert!(
            !intel.is_available(ArchEvent::TopdownSlots),
            "beyond EBX length 7"
        );
        assert_eq!(info.to_string(), "intel-v4");
        assert_eq!(intel.global_ctrl_all(), 0x7_0000_000f);
        assert_eq!(intel.event_select_msr(3), Some(0x189));
        assert_eq!(intel.event_select_msr(4), None);
        assert_eq!(intel.counter_msr(0), Some(0xc1));
        assert_eq!(
            intel.fixed_counter_msr(FixedCounter::ReferenceCycles),
            Some(0x30b)
        );
    }

    #[test]
    fn unavailable_events_follow_ebx_bits() {
        // EBX bit 4 (LLC misses) set.
        let PmuInfo::Intel(intel) = PmuInfo::from_intel_cpuid_0ah(0x0730_0402, 1 << 4, 0x0602)
        else {
            panic!("expected Intel");
        };
        assert!(!intel.is_available(ArchEvent::LlcMisses));
        assert!(intel.is_available(ArchEvent::LlcReferences));
        assert_eq!(
            (intel.fixed_counters, intel.fixed_width),
            (2, 48),
            "v2 has EDX"
        );
    }

    #[test]
    fn version_1_has_no_fixed_counters_and_zero_leaf_is_none() {
        let PmuInfo::Intel(intel) = PmuInfo::from_intel_cpuid_0ah(0x0728_0201, 0, 0x0603) else {
            panic!("expected Intel");
        };
        assert_eq!((intel.fixed_counters, intel.fixed_width), (0, 0));
        assert_eq!(PmuInfo::from_intel_cpuid_0ah(0, 0, 0), PmuInfo::None);
        assert_eq!(
            PmuInfo::from_intel_cpuid_0ah(0x0000_0002, 0, 0),
            PmuInfo::None
        );
        assert_eq!(PmuInfo::None.to_string(), "none");
        assert_eq!(PmuInfo::None.general_counters(), 0);
    }

    #[test]
    fn amd_counter_count_and_msrs_follow_perfctrextcore() {
        let legacy = PmuInfo::from_amd_cpuid_8000_0001h(0);
        let extended = PmuInfo::from_amd_cpuid_8000_0001h(1 << 23);
        assert_eq!(legacy.general_counters(), 4);
        assert_eq!(extended.general_counters(), 6);
        assert_eq!(extended.to_string(), "amd");
        let PmuInfo::Amd(amd) = extended else {
            panic!("expected AMD")
        };
        assert_eq!(amd.event_select_msr(5), Some(0xc001_020a));
        assert_eq!(amd.counter_msr(5), Some(0xc001_020b));
        assert_eq!(amd.counter_msr(6), None);
        let PmuInfo::Amd(amd) = legacy else {
            panic!("expected AMD")
        };
        assert_eq!(amd.event_select_msr(3), Some(0xc001_0003));
        assert_eq!(amd.counter_msr(3), Some(0xc001_0007));
        assert_eq!(amd.event_select_msr(4), None);
    }

    #[test]
    fn perfevtsel_encodes_each_field() {
        // LLC misses in both rings: 0x2e | 0x41 << 8 | USR | OS | EN.
        assert_eq!(
            perfevtsel(EventSelect::new(0x2e, 0x41), CountMode::ALL),
            0x0043_412e
        );
        let kernel_only = CountMode {
            user: false,
            kernel: true,
        };
        assert_eq!(
            perfevtsel(EventSelect::new(0xc5, 0x00), kernel_only),
            0x0042_00c5
        );
        let select = EventSelect {
            counter_mask: 1,
            invert: true,
            edge: true,
            ..EventSelect::new(0xa3, 0x04)
        };
        assert_eq!(perfevtsel(select, CountMode::ALL), 0x01c7_04a3);
    }

    #[test]
    fn fixed_ctr_ctrl_sets_four_bits_per_counter() {
        let all = [
            FixedCounter::InstructionsRetired,
            FixedCounter::CoreCycles,
            FixedCounter::ReferenceCycles,
        ];
        assert_eq!(fixed_ctr_ctrl(&all, CountMode::ALL), 0x333);
        let user_only = CountMode {
            user: true,
            kernel: false,
        };
        assert_eq!(fixed_ctr_ctrl(&[FixedCounter::CoreCycles], user_only), 0x20);
        assert_eq!(fixed_ctr_ctrl(&[], CountMode::ALL), 0);
    }
}
