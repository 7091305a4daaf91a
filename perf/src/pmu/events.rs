//! Which programmable events measure LLC misses, branch mispredictions and
//! dTLB misses on a given CPU model.
//!
//! Intel: the model's own event from Intel's perfmon tables, as compiled
//! into the `x86` crate (`performance-counter` feature, no_std, keyed
//! `GenuineIntel-<family>-<model hex>`; behind this crate's default feature
//! `intel-event-tables`, since the tables weigh about 5 MB); when the table
//! has no entry (or the feature is off), the architectural events of CPUID.0Ah (LLC misses 2Eh/41h, branch mispredicts
//! C5h/00h) if EBX says they exist. There is no architectural dTLB event.
//!
//! AMD: the core-counter events of the AMD PPRs: retired mispredicted
//! branches PMCx0C3 (all families) and, from family 17h (Zen), L1 DTLB misses
//! PMCx045 umask FFh. L3 misses are counted by the separate L3 PMU on Zen,
//! not by core counters, so LLC misses are reported absent.

use core::fmt::Write;

use super::{ArchEvent, EventSelect, PmuInfo};
#[cfg(feature = "intel-event-tables")]
use x86::perfcnt::intel::{Tuple, events::COUNTER_MAP};

/// Where an event choice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// Intel's per-model perfmon table.
    ModelTable,
    /// An Intel architectural event (CPUID.0Ah).
    Architectural,
    /// AMD's documented core-counter events.
    AmdCore,
}

/// One chosen event for a general-purpose counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChosenEvent {
    /// Intel/AMD name of the event (e.g. `LONGEST_LAT_CACHE.MISS`).
    pub name: &'static str,
    /// What to program into the event select register.
    pub select: EventSelect,
    /// Where the choice came from.
    pub source: EventSource,
}

/// The events the benchmarks count per operation; `None` when the CPU (or
/// the hypervisor) offers no way to count that event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventChoice {
    /// Last-level cache misses.
    pub llc_misses: Option<ChosenEvent>,
    /// Mispredicted branches retired.
    pub branch_misses: Option<ChosenEvent>,
    /// Data-TLB misses (loads).
    pub dtlb_misses: Option<ChosenEvent>,
}

impl EventChoice {
    /// Nothing countable.
    pub const NONE: Self = Self {
        llc_misses: None,
        branch_misses: None,
        dtlb_misses: None,
    };
}

/// Intel perfmon names to try for each event, most precise first (names
/// differ between micro-architectures).
const LLC_MISS_NAMES: &[&str] = &["LONGEST_LAT_CACHE.MISS"];
const BRANCH_MISS_NAMES: &[&str] = &["BR_MISP_RETIRED.ALL_BRANCHES"];
const DTLB_MISS_NAMES: &[&str] = &[
    "DTLB_LOAD_MISSES.MISS_CAUSES_A_WALK",
    "DTLB_LOAD_MISSES.ANY",
    "DTLB_LOAD_MISSES.WALK_COMPLETED",
    "MEM_UOPS_RETIRED.DTLB_MISS_LOADS",
    "PAGE_WALKS.D_SIDE_WALKS",
];

/// Chooses the events for a CPU given its CPUID vendor string, display
/// family and display model (family 6 model 0x55 is Skylake-SP) and its
/// decoded PMU.
#[must_use]
pub fn select_events(vendor: &str, family: u32, model: u32, pmu: &PmuInfo) -> EventChoice {
    match pmu {
        PmuInfo::None => EventChoice::NONE,
        PmuInfo::Intel(intel) => {
            let key = intel_table_key(vendor, family, model);
            let from_table = |names: &[&str]| {
                key.as_ref()
                    .and_then(KeyBuf::as_str)
                    .and_then(|key| model_table_event(key, names))
            };
            let architectural = |event: ArchEvent, name, select| {
                intel.is_available(event).then_some(ChosenEvent {
                    name,
                    select,
                    source: EventSource::Architectural,
                })
            };
            EventChoice {
                llc_misses: from_table(LLC_MISS_NAMES).or_else(|| {
                    architectural(
                        ArchEvent::LlcMisses,
                        "LONGEST_LAT_CACHE.MISS",
                        EventSelect::new(0x2e, 0x41),
                    )
                }),
                branch_misses: from_table(BRANCH_MISS_NAMES).or_else(|| {
                    architectural(
                        ArchEvent::BranchMissesRetired,
                        "BR_MISP_RETIRED.ALL_BRANCHES",
                        EventSelect::new(0xc5, 0x00),
                    )
                }),
                dtlb_misses: from_table(DTLB_MISS_NAMES),
            }
        }
        PmuInfo::Amd(_) => {
            let amd = |name, event, umask| ChosenEvent {
                name,
                select: EventSelect::new(event, umask),
                source: EventSource::AmdCore,
            };
            EventChoice {
                llc_misses: None,
                branch_misses: Some(amd("ExRetBrnMisp", 0xc3, 0x00)),
                dtlb_misses: (family >= 0x17).then(|| amd("LsL1DTlbMiss", 0x45, 0xff)),
            }
        }
    }
}

/// The `x86` crate's key for an Intel model's perfmon table:
/// `{vendor}-{family}-{ext model:X}{model:X}` (e.g. `GenuineIntel-6-55`);
/// `None` if it does not fit the buffer (no real vendor string does that).
fn intel_table_key(vendor: &str, family: u32, model: u32) -> Option<KeyBuf> {
    let mut key = KeyBuf::default();
    write!(
        key,
        "{vendor}-{family}-{:X}{:X}",
        (model >> 4) & 0xf,
        model & 0xf
    )
    .ok()?;
    Some(key)
}

/// The first of `names` that the model's table (if any) has.
#[cfg(feature = "intel-event-tables")]
fn model_table_event(key: &str, names: &[&str]) -> Option<ChosenEvent> {
    let table = COUNTER_MAP.get(key)?;
    names
        .iter()
        .find_map(|name| table.get(*name))
        .map(|description| ChosenEvent {
            name: description.event_name,
            select: EventSelect {
                event: first_code(&description.event_code),
                umask: first_code(&description.umask),
                counter_mask: description.counter_mask,
                invert: description.invert,
                edge: description.edge_detect,
            },
            source: EventSource::ModelTable,
        })
}

/// Without the tables, no model has one.
#[cfg(not(feature = "intel-event-tables"))]
fn model_table_event(_key: &str, _names: &[&str]) -> Option<ChosenEvent> {
    None
}

/// The event code or umask for the first counter (some events list a
/// second value for other counters).
#[cfg(feature = "intel-event-tables")]
const fn first_code(tuple: &Tuple) -> u8 {
    match *tuple {
        Tuple::One(code) | Tuple::Two(code, _) => code,
    }
}

/// A small stack buffer for the table key (the longest is well under 32).
#[derive(Default)]
struct KeyBuf {
    bytes: [u8; 32],
    len: usize,
}

impl KeyBuf {
    fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.bytes.get(..self.len)?).ok()
    }
}

impl Write for KeyBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dest = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intel_v4() -> PmuInfo {
        PmuInfo::from_intel_cpuid_0ah(0x0730_0404, 0, 0x0603)
    }

    #[cfg(feature = "intel-event-tables")]
    #[test]
    fn skylake_sp_uses_its_model_table() {
        let choice = select_events("GenuineIntel", 6, 0x55, &intel_v4());
        let llc = choice.llc_misses.expect("SKX has LLC misses");
        assert_eq!(llc.source, EventSource::ModelTable);
        assert_eq!(llc.select, EventSelect::new(0x2e, 0x41));
        let branch = choice.branch_misses.expect("SKX has branch misses");
        assert_eq!(branch.select, EventSelect::new(0xc5, 0x00));
        let dtlb = choice.dtlb_misses.expect("SKX has dTLB misses");
        assert_eq!(dtlb.name, "DTLB_LOAD_MISSES.MISS_CAUSES_A_WALK");
        assert_eq!(dtlb.select, EventSelect::new(0x08, 0x01));
    }

    #[cfg(feature = "intel-event-tables")]
    #[test]
    fn nehalem_uses_its_older_dtlb_event() {
        let choice = select_events("GenuineIntel", 6, 0x1e, &intel_v4());
        let dtlb = choice
            .dtlb_misses
            .expect("Nehalem has DTLB_LOAD_MISSES.ANY");
        assert_eq!(dtlb.name, "DTLB_LOAD_MISSES.ANY");
        assert_eq!(dtlb.source, EventSource::ModelTable);
    }

    #[test]
    fn unknown_intel_model_falls_back_to_architectural_events() {
        // Family 6 model 0xAA (Meteor Lake) is newer than the crate's tables.
        let choice = select_events("GenuineIntel", 6, 0xaa, &intel_v4());
        let llc = choice.llc_misses.expect("architectural");
        assert_eq!(llc.source, EventSource::Architectural);
        assert_eq!(llc.select, EventSelect::new(0x2e, 0x41));
        assert_eq!(
            choice.branch_misses.map(|e| e.select),
            Some(EventSelect::new(0xc5, 0x00))
        );
        assert_eq!(choice.dtlb_misses, None);
    }

    #[test]
    fn architectural_fallback_respects_ebx() {
        // EBX bits 4 and 6 set: neither LLC nor branch misses available.
        let pmu = PmuInfo::from_intel_cpuid_0ah(0x0730_0404, (1 << 4) | (1 << 6), 0x0603);
        assert_eq!(
            select_events("GenuineIntel", 6, 0xaa, &pmu),
            EventChoice::NONE
        );
    }

    #[test]
    fn no_pmu_means_no_events() {
        assert_eq!(
            select_events("GenuineIntel", 6, 0x55, &PmuInfo::None),
            EventChoice::NONE
        );
    }

    #[test]
    fn amd_events_depend_on_family() {
        let pmu = PmuInfo::from_amd_cpuid_8000_0001h(1 << 23);
        let zen = select_events("AuthenticAMD", 0x19, 0x21, &pmu);
        assert_eq!(zen.llc_misses, None);
        assert_eq!(
            zen.branch_misses.map(|e| e.select),
            Some(EventSelect::new(0xc3, 0))
        );
        assert_eq!(
            zen.dtlb_misses.map(|e| e.select),
            Some(EventSelect::new(0x45, 0xff))
        );
        let k10 = select_events("AuthenticAMD", 0x10, 0x02, &pmu);
        assert_eq!(k10.dtlb_misses, None);
    }

    #[test]
    fn overlong_vendor_strings_do_not_panic() {
        let vendor = "a vendor string far longer than any real one";
        let choice = select_events(vendor, 6, 0x55, &intel_v4());
        assert_eq!(
            choice.llc_misses.map(|e| e.source),
            Some(EventSource::Architectural)
        );
    }
}
