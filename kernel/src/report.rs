//! `run=report`: what a bare-metal user sends back. The CPU features the
//! kernel uses and the paths it chose, every TSC frequency reading, a
//! TSC-versus-HPET drift check over one second, the PMU CPUID advertises,
//! and the boot-time validated PMU reading (instructions counted over a
//! loop of known length, within 1% of it or the PMU is absent). Every line
//! starts with `report: `.

use crate::arch::x86_64::apic::ApicMode;
use crate::arch::x86_64::cpu;
use crate::arch::x86_64::tsc::{Hpet, TscInfo};
use crate::kprintln;

fn yes(flag: bool) -> u8 {
    u8::from(flag)
}

fn mhz(hz: Option<u64>) -> alloc::string::String {
    hz.map_or_else(
        || alloc::string::String::from("-"),
        |hz| alloc::format!("{}.{:03}", hz / 1_000_000, hz / 1_000 % 1_000),
    )
}

/// Prints the report; `false` when the drift check failed (beyond 1%).
pub fn run(tsc: &TscInfo, hpet: Option<&Hpet>, apic: ApicMode) -> bool {
    let cpuid = raw_cpuid::CpuId::new();
    let vendor = cpuid
        .get_vendor_info()
        .map(|v| alloc::string::String::from(v.as_str()))
        .unwrap_or_default();
    let brand = cpuid
        .get_processor_brand_string()
        .map(|b| alloc::string::String::from(b.as_str().trim()))
        .unwrap_or_default();
    let features = cpuid.get_feature_info();
    let extended = cpuid.get_extended_feature_info();
    let (family, model, stepping) = features.as_ref().map_or((0, 0, 0), |f| {
        (f.family_id(), f.model_id(), f.stepping_id())
    });
    kprintln!(
        "report: cpu vendor={vendor} family={family:#x} model={model:#x} stepping={stepping} brand={brand:?} hv={}",
        cpu::Hypervisor::detect().name()
    );
    let has = |f: fn(&raw_cpuid::FeatureInfo) -> bool| yes(features.as_ref().is_some_and(f));
    kprintln!(
        "report: features x2apic={} tsc_deadline={} invariant_tsc={} pcid={} invpcid={} xsave={} monitor_mwait={} rdtscp={}",
        has(raw_cpuid::FeatureInfo::has_x2apic),
        has(raw_cpuid::FeatureInfo::has_tsc_deadline),
        yes(tsc.invariant),
        has(raw_cpuid::FeatureInfo::has_pcid),
        yes(extended.as_ref().is_some_and(|e| e.has_invpcid())),
        has(raw_cpuid::FeatureInfo::has_xsave),
        has(raw_cpuid::FeatureInfo::has_monitor_mwait),
        yes(cpuid
            .get_extended_processor_and_feature_identifiers()
            .is_some_and(|e| e.has_rdtscp())),
    );
    kprintln!(
        "report: paths apic={} timer={} tlb={} fpu={} fast_path_instance=xsave={},pcid={}",
        apic.name(),
        if apic.tsc_deadline {
            "tsc-deadline"
        } else {
            "oneshot"
        },
        if cpu::pcid_on() { "pcid" } else { "flush" },
        if crate::arch::x86_64::fpu::xsave_on() {
            "xsave"
        } else {
            "fxsave"
        },
        crate::arch::x86_64::fpu::xsave_on(),
        cpu::pcid_on(),
    );
    let r = &tsc.readings;
    kprintln!(
        "report: tsc source={} mhz={} cpuid15={} hpet={} pit={} cpuid16={} (MHz; '-' where absent or not measured)",
        tsc.source,
        mhz(Some(tsc.hz)),
        mhz(r.cpuid15),
        mhz(r.hpet),
        mhz(r.pit),
        mhz(r.cpuid16),
    );
    let drift_ok = drift_check(tsc, hpet);
    pmu_report();
    kprintln!(
        "report: done checks={}",
        if drift_ok { "ok" } else { "FAILED" }
    );
    drift_ok
}

/// TSC ticks over one second of HPET time against the TSC frequency in use.
fn drift_check(tsc: &TscInfo, hpet: Option<&Hpet>) -> bool {
    let Some(hpet) = hpet else {
        kprintln!("report: drift tsc_vs_hpet=absent (no HPET)");
        return true;
    };
    let Some((hpet_ticks, tsc_ticks)) = hpet.time(hpet.hz()) else {
        kprintln!("report: drift tsc_vs_hpet FAILED (the HPET counter stopped)");
        return false;
    };
    let measured = perf::tsc::calibrate_hz_hpet(tsc_ticks, hpet_ticks, hpet.period_fs());
    let ppm = measured.and_then(|m| perf::tsc::difference_ppm(m, tsc.hz));
    let ok = measured.is_some_and(|m| !perf::tsc::disagree(m, tsc.hz));
    kprintln!(
        "report: drift tsc_vs_hpet over {hpet_ticks} HPET ticks (1 s): tsc_ticks={tsc_ticks} measured_mhz={} in_use_mhz={} ppm={} {}",
        mhz(measured),
        mhz(Some(tsc.hz)),
        ppm.map_or(-1, |p| p as i64),
        if ok { "ok" } else { "FAILED (beyond 1%)" }
    );
    ok
}

/// The PMU CPUID advertises and the boot-time check of it
/// ([`crate::pmu::check`]): a PMU that does not count within 1% is absent,
/// which is no failure of the kernel (it then records no PMU fields).
fn pmu_report() {
    let (advertised, check) = crate::pmu::checked();
    match advertised {
        perf::pmu::PmuInfo::None => kprintln!("report: pmu advertised=none in_use=none"),
        _ => kprintln!(
            "report: pmu advertised={advertised} in_use={} {advertised:?}",
            crate::pmu::info()
        ),
    }
    kprintln!("report: pmu_check {check}");
}
