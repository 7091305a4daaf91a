//! The exact MSR writes that program the benchmark counters, and which MSRs
//! to read back: a pure function of the decoded PMU and the chosen events,
//! so the kernel only executes it (with fault-safe `wrmsr`/`rdmsr`) and the
//! sequence is checked here.
//!
//! Counters, in a fixed order with record names (`pmu.<name>` fields):
//! `instructions`, `cycles`, `ref_cycles`, `llc_misses`, `branch_misses`,
//! `dtlb_misses`. Intel v2+ counts the first three on the fixed counters
//! and the others on general counters; Intel v1 and AMD count instructions
//! and cycles on general counters too (AMD PMCx0C0 retired instructions,
//! PMCx076 cycles not in halt), as many as there are counters. Everything
//! counts in user and kernel mode.

use super::events::EventChoice;
use super::{
    ArchEvent, CountMode, EventSelect, FixedCounter, PmuInfo, fixed_ctr_ctrl, msr, perfevtsel,
};

/// Record names of the counters, in plan order.
pub const COUNTER_NAMES: [&str; COUNTERS] = [
    "instructions",
    "cycles",
    "ref_cycles",
    "llc_misses",
    "branch_misses",
    "dtlb_misses",
];

/// Number of counters a plan can hold.
pub const COUNTERS: usize = 6;

/// Most MSR writes a plan needs.
const MAX_WRITES: usize = 32;

/// One counter to read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// MSR holding the count.
    pub msr: u32,
    /// Counter width in bits (deltas wrap at this width).
    pub width: u8,
}

impl Counter {
    /// `later - earlier` on a counter of this width (one wrap allowed).
    #[must_use]
    pub const fn delta(&self, earlier: u64, later: u64) -> u64 {
        let mask = if self.width >= 64 {
            u64::MAX
        } else {
            (1 << self.width) - 1
        };
        later.wrapping_sub(earlier) & mask
    }
}

/// What to write to start counting and what to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterPlan {
    writes: [(u32, u64); MAX_WRITES],
    len: usize,
    /// Counters by index into [`COUNTER_NAMES`]; `None` where not counted.
    pub counters: [Option<Counter>; COUNTERS],
}

impl CounterPlan {
    const EMPTY: Self = Self {
        writes: [(0, 0); MAX_WRITES],
        len: 0,
        counters: [None; COUNTERS],
    };

    /// The MSR writes, in order: stop, zero, select, start.
    #[must_use]
    pub fn writes(&self) -> &[(u32, u64)] {
        &self.writes[..self.len]
    }

    /// Bit `i` set when counter `i` (of [`COUNTER_NAMES`]) is counted.
    #[must_use]
    pub fn mask(&self) -> u64 {
        self.counters
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    fn push(&mut self, msr: u32, value: u64) {
        // Bounded by construction (at most 2 + 3 + 1 + 3 * 6 + 1 writes).
        self.writes[self.len] = (msr, value);
        self.len += 1;
    }

    /// Programs general counter `n` (select MSR `sel`, counter MSR `ctr`).
    fn general(&mut self, index: usize, sel: u32, ctr: u32, width: u8, select: EventSelect) {
        self.push(sel, 0);
        self.push(ctr, 0);
        self.push(sel, perfevtsel(select, CountMode::ALL));
        self.counters[index] = Some(Counter { msr: ctr, width });
    }
}

impl CounterPlan {
    /// Puts `wanted` (counter index, event) on general counters 0, 1, ...
    /// (`msrs(n)`: select and counter MSR of counter `n`) while there are.
    fn generals(
        &mut self,
        wanted: impl Iterator<Item = (usize, EventSelect)>,
        width: u8,
        msrs: impl Fn(u8) -> Option<(u32, u32)>,
    ) {
        for (n, (index, select)) in (0u8..).zip(wanted) {
            let Some((sel, ctr)) = msrs(n) else { break };
            self.general(index, sel, ctr, width, select);
        }
    }
}

/// The plan for `pmu` counting `choice`; `None` without counters.
#[must_use]
pub fn plan(pmu: &PmuInfo, choice: &EventChoice) -> Option<CounterPlan> {
    let mut plan = CounterPlan::EMPTY;
    let chosen = [
        choice.llc_misses.map(|e| e.select),
        choice.branch_misses.map(|e| e.select),
        choice.dtlb_misses.map(|e| e.select),
    ];
    match pmu {
        PmuInfo::None => return None,
        PmuInfo::Intel(intel) if intel.version >= 2 => {
            plan.push(msr::IA32_PERF_GLOBAL_CTRL, 0);
            let fixed = [
                FixedCounter::InstructionsRetired,
                FixedCounter::CoreCycles,
                FixedCounter::ReferenceCycles,
            ];
            let mut enabled = [FixedCounter::InstructionsRetired; 3];
            let mut n_enabled = 0;
            for (i, counter) in fixed.into_iter().enumerate() {
                if let Some(ctr) = intel.fixed_counter_msr(counter) {
                    plan.push(ctr, 0);
                    plan.counters[i] = Some(Counter {
                        msr: ctr,
                        width: intel.fixed_width,
                    });
                    enabled[n_enabled] = counter;
                    n_enabled += 1;
                }
            }
            plan.push(
                msr::IA32_FIXED_CTR_CTRL,
                fixed_ctr_ctrl(&enabled[..n_enabled], CountMode::ALL),
            );
            let mut n = 0;
            for (k, select) in chosen.into_iter().enumerate() {
                if let (Some(select), Some(sel), Some(ctr)) =
                    (select, intel.event_select_msr(n), intel.counter_msr(n))
                {
                    plan.general(3 + k, sel, ctr, intel.general_width, select);
                    n += 1;
                }
            }
            plan.push(msr::IA32_PERF_GLOBAL_CTRL, intel.global_ctrl_all());
        }
        PmuInfo::Intel(intel) => {
            // Version 1: general counters only, each enabled by its select.
            let basics = [
                (0, ArchEvent::InstructionsRetired, EventSelect::new(0xc0, 0)),
                (1, ArchEvent::CoreCycles, EventSelect::new(0x3c, 0)),
            ];
            let wanted = basics
                .into_iter()
                .filter(|(_, event, _)| intel.is_available(*event))
                .map(|(i, _, s)| (i, s))
                .chain(
                    chosen
                        .into_iter()
                        .enumerate()
                        .filter_map(|(k, s)| Some((3 + k, s?))),
                );
            plan.generals(wanted, intel.general_width, |n| {
                Some((intel.event_select_msr(n)?, intel.counter_msr(n)?))
            });
        }
        PmuInfo::Amd(amd) => {
            let basics = [
                (0, EventSelect::new(0xc0, 0)),
                (1, EventSelect::new(0x76, 0)),
            ];
            let wanted = basics.into_iter().chain(
                chosen
                    .into_iter()
                    .enumerate()
                    .filter_map(|(k, s)| Some((3 + k, s?))),
            );
            plan.generals(wanted, amd.counter_width(), |n| {
                Some((amd.event_select_msr(n)?, amd.counter_msr(n)?))
            });
        }
    }
    (plan.mask() != 0).then_some(plan)
}

/// The writes that stop everything `plan` started: every control register
/// it wrote (global and fixed control, event selects), set to 0; the
/// counters themselves are left alone.
pub fn stop_writes(plan: &CounterPlan) -> impl Iterator<Item = (u32, u64)> + '_ {
    let is_counter = |msr: u32| plan.counters.iter().flatten().any(|c| c.msr == msr);
    plan.writes()
        .iter()
        .filter(move |&&(msr, _)| !is_counter(msr))
        .map(|&(msr, _)| (msr, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pmu::events::select_events;

    fn skylake() -> PmuInfo {
        PmuInfo::from_intel_cpuid_0ah(0x0730_0404, 0, 0x0000_0603)
    }

    #[test]
    fn no_pmu_no_plan() {
        assert_eq!(plan(&PmuInfo::None, &EventChoice::NONE), None);
    }

    #[test]
    fn intel_v4_uses_fixed_counters_and_the_global_enable_last() {
        let pmu = skylake();
        let choice = select_events("GenuineIntel", 6, 0x55, &pmu);
        let p = plan(&pmu, &choice).unwrap();
        let writes = p.writes();
        assert_eq!(writes[0], (msr::IA32_PERF_GLOBAL_CTRL, 0), "stop first");
        assert_eq!(
            *writes.last().unwrap(),
            (
                msr::IA32_PERF_GLOBAL_CTRL,
                (1 << 32 | 1 << 33 | 1 << 34) | 0xf
            )
        );
        // Fixed counters zeroed, then enabled in user and kernel mode.
        assert!(writes.contains(&(0x309, 0)) && writes.contains(&(0x30b, 0)));
        assert!(writes.contains(&(msr::IA32_FIXED_CTR_CTRL, 0x333)));
        assert_eq!(
            p.counters[0],
            Some(Counter {
                msr: 0x309,
                width: 48
            })
        );
        assert_eq!(
            p.counters[2],
            Some(Counter {
                msr: 0x30b,
                width: 48
            })
        );
        // Skylake-SP's table has all three events: PMC0..2, each select
        // cleared, the counter zeroed, then the select written enabled.
        for (k, index) in (3..6).enumerate() {
            let c = p.counters[index].expect("event chosen");
            assert_eq!(c.msr, msr::IA32_PMC0 + k as u32);
            let sel = msr::IA32_PERFEVTSEL0 + k as u32;
            let at = writes.iter().position(|&w| w == (sel, 0)).unwrap();
            assert_eq!(writes[at + 1], (c.msr, 0));
            assert_eq!(writes[at + 2].0, sel);
            assert_ne!(writes[at + 2].1 & (1 << 22), 0, "enabled");
            assert_eq!(writes[at + 2].1 & (3 << 16), 3 << 16, "user and kernel");
        }
        assert_eq!(p.mask(), 0b11_1111);
        let stops: Vec<_> = stop_writes(&p).collect();
        assert!(stops.iter().all(|&(_, v)| v == 0));
        assert!(stops.contains(&(msr::IA32_PERF_GLOBAL_CTRL, 0)));
        assert!(stops.contains(&(msr::IA32_PERFEVTSEL0 + 2, 0)));
        assert!(!stops.iter().any(|&(m, _)| m == msr::IA32_PMC0));
    }

    #[test]
    fn intel_v1_and_amd_count_instructions_and_cycles_on_general_counters() {
        // Version 1, 2 general counters, all architectural events.
        let v1 = PmuInfo::from_intel_cpuid_0ah(0x0728_0201, 0, 0);
        let p = plan(&v1, &select_events("GenuineIntel", 6, 0x0f, &v1)).unwrap();
        assert_eq!(p.mask(), 0b11, "two counters: instructions and cycles");
        assert!(p.writes().contains(&(msr::IA32_PERFEVTSEL0, 0x43_00c0)));
        assert!(
            !p.writes()
                .iter()
                .any(|&(m, _)| m == msr::IA32_PERF_GLOBAL_CTRL)
        );

        let zen = PmuInfo::from_amd_cpuid_8000_0001h(1 << 23);
        let p = plan(&zen, &select_events("AuthenticAMD", 0x19, 0x21, &zen)).unwrap();
        // Instructions, cycles, branch and dTLB misses; no LLC on core counters.
        assert_eq!(p.mask(), 0b11_0011);
        assert_eq!(p.counters[0].unwrap().msr, msr::AMD_PERF_CTR0);
        assert_eq!(p.counters[1].unwrap().msr, msr::AMD_PERF_CTR0 + 2);
        assert!(p.writes().contains(&(msr::AMD_PERF_CTL0, 0x43_00c0)));
        assert!(stop_writes(&p).any(|w| w == (msr::AMD_PERF_CTL0 + 2, 0)));
        assert!(!stop_writes(&p).any(|(m, _)| m == msr::AMD_PERF_CTR0));
    }

    #[test]
    fn deltas_wrap_at_the_counter_width() {
        let c = Counter { msr: 0, width: 48 };
        assert_eq!(c.delta(10, 25), 15);
        assert_eq!(c.delta((1 << 48) - 5, 3), 8);
    }
}
