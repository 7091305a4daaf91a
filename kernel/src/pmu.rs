//! Performance counters around benchmarks (the `PerfCounters` syscall).
//!
//! The counters and the MSR writes that start them come from
//! `perf::pmu::plan` (host-tested), for the events `perf::pmu::events`
//! chooses for this CPU model. Every MSR access is fault-safe: a write or
//! read that raises #GP (a hypervisor that advertises counters it does not
//! implement) turns counting off for the rest of the run, and the syscall
//! then reports no counters, so records carry no PMU fields rather than
//! made-up ones. Counting is per CPU, user and kernel mode, from `start` on
//! the caller's CPU to each `read` there.
//!
//! A PMU is trusted only after [`check`] (run once, on first use: boot runs
//! it on the BSP) counted the retired instructions of a loop of known
//! length to within 1% (`perf::pmu::check`): an emulator may advertise
//! counters that never advance (Bochs 2.7). When the check fails, [`info`]
//! says there is no PMU and [`start`] starts nothing, for the whole run.

use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use perf::pmu::PmuInfo;
use perf::pmu::check::PmuCheck;
use perf::pmu::plan::{COUNTERS, CounterPlan};

use crate::arch::x86_64::cpu::{rdmsr_probe, rdpmc_probe, wrmsr_probe};
use crate::percpu::IrqGuard;

/// The plan, decided once (every CPU is the same model).
static PLAN: spin::Once<Option<CounterPlan>> = spin::Once::new();
/// A probe faulted: no counting for the rest of the run.
static BROKEN: AtomicBool = AtomicBool::new(false);
/// One CPU's counting state, in its per-CPU data (`PerCpu::pmu`).
pub struct CpuCounters {
    /// Counter values at the last `start` on the CPU.
    start: [AtomicU64; COUNTERS],
    /// Counters started on the CPU (bit i: `perf::pmu::plan::COUNTER_NAMES[i]`).
    active: AtomicU64,
}

impl CpuCounters {
    /// Nothing started.
    pub const fn new() -> Self {
        Self {
            start: [const { AtomicU64::new(0) }; COUNTERS],
            active: AtomicU64::new(0),
        }
    }
}

impl Default for CpuCounters {
    fn default() -> Self {
        Self::new()
    }
}

/// This CPU's counting state (`None` before its per-CPU data exists).
fn counters() -> Option<&'static CpuCounters> {
    crate::percpu::current().map(|c| &c.pmu)
}

/// Iterations of the counted loop (two instructions each).
const CHECK_LOOP_ITERATIONS: u64 = 5_000_000;

/// The PMU CPUID advertises and the boot-time check of it.
static CHECKED: spin::Once<(PmuInfo, PmuCheck)> = spin::Once::new();

/// The PMU to count with and report: what CPUID advertises when [`check`]
/// passed, [`PmuInfo::None`] otherwise.
pub fn info() -> PmuInfo {
    let (advertised, check) = checked();
    check.usable_pmu(advertised)
}

/// The boot-time check: instructions counted on this CPU over
/// [`crate::arch::x86_64::cpu::counted_loop`] against its known length
/// (run on the first call; every CPU is the same model).
pub fn check() -> PmuCheck {
    checked().1
}

/// What CPUID advertises (see [`advertised`]) and the check's outcome.
pub fn checked() -> (PmuInfo, PmuCheck) {
    *CHECKED.call_once(|| {
        let advertised = advertised();
        if matches!(advertised, PmuInfo::None) {
            return (advertised, PmuCheck::NoPmu);
        }
        let _irq = IrqGuard::new();
        let expected = 2 * CHECK_LOOP_ITERATIONS;
        let counted = if start_unchecked() & 1 == 0 {
            None
        } else {
            crate::arch::x86_64::cpu::counted_loop(CHECK_LOOP_ITERATIONS);
            Some(read_unchecked(0)[0])
        };
        let check = PmuCheck::judge(counted, expected);
        if !check.usable()
            && let Some(plan) = plan_unchecked()
        {
            stop(plan);
        }
        (advertised, check)
    })
}

/// What CPUID says about the performance counters, trusted only as far as
/// fault-safe probes confirm (a hypervisor may advertise counters it traps);
/// whether they count is [`check`]'s business.
pub fn advertised() -> PmuInfo {
    let cpuid = raw_cpuid::CpuId::new();
    let vendor = cpuid
        .get_vendor_info()
        .map(|v| String::from(v.as_str()))
        .unwrap_or_default();
    if vendor == "GenuineIntel" {
        // Leaf 0Ah exists only when the highest basic leaf reaches it.
        let max = core::arch::x86_64::__cpuid(0).eax;
        if max >= 0xa {
            let r = core::arch::x86_64::__cpuid(0xa);
            let info = PmuInfo::from_intel_cpuid_0ah(r.eax, r.ebx, r.edx);
            // CPUID can advertise counters a hypervisor does not let us read.
            if !matches!(info, PmuInfo::None) && rdpmc_probe(0).is_none() {
                return PmuInfo::None;
            }
            return info;
        }
        PmuInfo::None
    } else if vendor == "AuthenticAMD" {
        // Leaf 8000_0001h exists on every x86_64 CPU.
        let r = core::arch::x86_64::__cpuid(0x8000_0001);
        // Every AMD64 CPU architecturally has PERF_CTR0 (MSR C001_0004h),
        // but emulators may not: probe it, and rdpmc, before claiming a PMU.
        if rdmsr_probe(0xc001_0004).is_none() || rdpmc_probe(0).is_none() {
            return PmuInfo::None;
        }
        PmuInfo::from_amd_cpuid_8000_0001h(r.ecx)
    } else {
        PmuInfo::None
    }
}

/// The counter plan for this CPU model (`None` without a PMU, or after a
/// faulting probe).
fn plan_unchecked() -> Option<&'static CounterPlan> {
    if BROKEN.load(Ordering::Relaxed) {
        return None;
    }
    PLAN.call_once(|| {
        let cpuid = raw_cpuid::CpuId::new();
        let vendor = cpuid
            .get_vendor_info()
            .map(|v| String::from(v.as_str()))
            .unwrap_or_default();
        let (family, model) = cpuid.get_feature_info().map_or((0, 0), |f| {
            (u32::from(f.family_id()), u32::from(f.model_id()))
        });
        let pmu = advertised();
        let choice = perf::pmu::events::select_events(&vendor, family, model, &pmu);
        perf::pmu::plan::plan(&pmu, &choice)
    })
    .as_ref()
}

/// Gives up counting after a faulting probe (best effort to stop counters).
fn broken(plan: &CounterPlan) -> u64 {
    BROKEN.store(true, Ordering::Relaxed);
    stop(plan);
    0
}

/// Stops this CPU's counters (best effort: the writes are fault-safe).
fn stop(plan: &CounterPlan) {
    for (msr, value) in perf::pmu::plan::stop_writes(plan) {
        let _ = wrmsr_probe(msr, value);
    }
    if let Some(counters) = counters() {
        counters.active.store(0, Ordering::Relaxed);
    }
}

/// Programs and starts the counters on this CPU; returns the mask of those
/// counting (0: none, e.g. no PMU, as under TCG, or one that failed
/// [`check`], as under Bochs).
pub fn start() -> u64 {
    if !check().usable() {
        return 0;
    }
    start_unchecked()
}

fn start_unchecked() -> u64 {
    let _irq = IrqGuard::new();
    let Some(plan) = plan_unchecked() else {
        return 0;
    };
    for &(msr, value) in plan.writes() {
        if wrmsr_probe(msr, value).is_none() {
            return broken(plan);
        }
    }
    let Some(counters) = counters() else {
        return 0;
    };
    for (i, counter) in plan.counters.iter().enumerate() {
        if let Some(counter) = counter {
            let Some(value) = rdmsr_probe(counter.msr) else {
                return broken(plan);
            };
            counters.start[i].store(value, Ordering::Relaxed);
        }
    }
    let mask = plan.mask();
    counters.active.store(mask, Ordering::Relaxed);
    mask
}

/// Counts since `start` on this CPU of counters `first..first + 4` (0 for
/// those not counting).
pub fn read(first: usize) -> [u64; 4] {
    if !check().usable() {
        return [0; 4];
    }
    read_unchecked(first)
}

fn read_unchecked(first: usize) -> [u64; 4] {
    let _irq = IrqGuard::new();
    let mut out = [0; 4];
    let Some(plan) = plan_unchecked() else {
        return out;
    };
    let Some(counters) = counters() else {
        return out;
    };
    let active = counters.active.load(Ordering::Relaxed);
    for (k, slot) in out.iter_mut().enumerate() {
        let i = first + k;
        if i >= COUNTERS || active & (1 << i) == 0 {
            continue;
        }
        let Some(counter) = plan.counters[i] else {
            continue;
        };
        match rdmsr_probe(counter.msr) {
            Some(now) => *slot = counter.delta(counters.start[i].load(Ordering::Relaxed), now),
            None => {
                broken(plan);
                return [0; 4];
            }
        }
    }
    out
}
