//! Time-stamp-counter arithmetic: the TSC frequency from CPUID leaves 15h
//! and 16h or from a calibration against the PIT or HPET, cycle <-> ns
//! conversion without overflow, the cost of reading the TSC itself, and the
//! invariant-TSC bit. The kernel executes CPUID/`rdtscp`; this module only
//! does the math on the register values it got.
//!
//! Sources: Intel SDM vol. 2A, CPUID leaves 15h ("Time Stamp Counter and
//! Nominal Core Crystal Clock Information"), 16h ("Processor Frequency
//! Information") and 8000_0007h (EDX bit 8 "Invariant TSC"); AMD APM vol. 3
//! for 8000_0007h; Linux `arch/x86/kernel/tsc.c` (`native_calibrate_tsc`)
//! for the crystal frequencies of parts that report 0 in ECX.

/// How the TSC frequency was obtained; written as `tsc_src=` in `@meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TscSource {
    /// CPUID leaf 15h: crystal clock times the TSC/crystal ratio (exact).
    Cpuid15,
    /// CPUID leaf 16h: the processor base frequency in MHz (nominal).
    Cpuid16,
    /// Calibrated against the 8254 PIT.
    Pit,
    /// Calibrated against the HPET main counter.
    Hpet,
}

impl TscSource {
    /// The `@meta` token: `cpuid15`, `cpuid16`, `pit` or `hpet`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cpuid15 => "cpuid15",
            Self::Cpuid16 => "cpuid16",
            Self::Pit => "pit",
            Self::Hpet => "hpet",
        }
    }
}

impl core::fmt::Display for TscSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Input frequency of the 8254 PIT in Hz (1.193182 MHz, as Linux's
/// `PIT_TICK_RATE`).
pub const PIT_HZ: u64 = 1_193_182;

/// Femtoseconds per second (the HPET period unit).
const FEMTOS_PER_SECOND: u128 = 1_000_000_000_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// TSC frequency in Hz from CPUID.15h: `ECX * EBX / EAX` (crystal Hz times
/// the TSC/crystal ratio). `None` when the leaf leaves any of them 0 (ratio
/// not enumerated, or crystal frequency not reported: see
/// [`known_crystal_hz`]) or the result does not fit a `u64`.
#[must_use]
pub fn hz_from_cpuid_15h(
    eax_denominator: u32,
    ebx_numerator: u32,
    ecx_crystal_hz: u32,
) -> Option<u64> {
    if eax_denominator == 0 || ebx_numerator == 0 || ecx_crystal_hz == 0 {
        return None;
    }
    let hz = u64::from(ecx_crystal_hz) * u64::from(ebx_numerator) / u64::from(eax_denominator);
    (hz != 0).then_some(hz)
}

/// Crystal clock of Intel parts whose CPUID.15h reports ECX = 0, as Linux's
/// `native_calibrate_tsc` knows them (family 6 only): Skylake/Kaby Lake
/// client 24 MHz, Goldmont 19.2 MHz, Denverton 25 MHz.
#[must_use]
pub const fn known_crystal_hz(family: u32, model: u32) -> Option<u32> {
    if family != 6 {
        return None;
    }
    match model {
        // Skylake-L, Skylake, Kaby Lake-L, Kaby Lake.
        0x4e | 0x5e | 0x8e | 0x9e => Some(24_000_000),
        // Atom Goldmont (Apollo Lake).
        0x5c => Some(19_200_000),
        // Atom Goldmont-D (Denverton).
        0x5f => Some(25_000_000),
        _ => None,
    }
}

/// Nominal TSC frequency in Hz from CPUID.16h EAX bits 15:0 (base frequency
/// in MHz). `None` when the field is 0. Only an approximation of the TSC
/// rate: prefer leaf 15h or a calibration.
#[must_use]
pub fn hz_from_cpuid_16h(eax: u32) -> Option<u64> {
    let mhz = u64::from(eax & 0xffff);
    (mhz != 0).then_some(mhz * 1_000_000)
}

/// TSC frequency from a calibration: `tsc_delta` TSC ticks elapsed while a
/// reference clock of `reference_hz` advanced `reference_ticks`. `None` for a
/// zero reference interval or a result beyond `u64`.
#[must_use]
pub fn calibrate_hz(tsc_delta: u64, reference_ticks: u64, reference_hz: u64) -> Option<u64> {
    if reference_ticks == 0 {
        return None;
    }
    let hz = u128::from(tsc_delta) * u128::from(reference_hz) / u128::from(reference_ticks);
    u64::try_from(hz).ok()
}

/// TSC frequency from a calibration against the HPET, whose period
/// (capabilities register bits 63:32) is in femtoseconds per tick. `None`
/// for a zero interval or period, or a result beyond `u64`.
#[must_use]
pub fn calibrate_hz_hpet(tsc_delta: u64, hpet_ticks: u64, hpet_period_fs: u32) -> Option<u64> {
    let elapsed_fs = u128::from(hpet_ticks) * u128::from(hpet_period_fs);
    if elapsed_fs == 0 {
        return None;
    }
    u64::try_from(u128::from(tsc_delta) * FEMTOS_PER_SECOND / elapsed_fs).ok()
}

/// Two frequency readings that differ by more than this many parts per
/// million of the larger one disagree (1%).
pub const DISAGREEMENT_LIMIT_PPM: u64 = 10_000;

/// How far apart two frequencies are, in parts per million of the larger
/// one. `None` when both are 0.
#[must_use]
pub fn difference_ppm(a_hz: u64, b_hz: u64) -> Option<u64> {
    let (low, high) = if a_hz <= b_hz {
        (a_hz, b_hz)
    } else {
        (b_hz, a_hz)
    };
    if high == 0 {
        return None;
    }
    // (high - low) / high <= 1, so the quotient fits in a u64.
    Some((u128::from(high - low) * 1_000_000 / u128::from(high)) as u64)
}

/// Whether two frequency readings differ by more than
/// [`DISAGREEMENT_LIMIT_PPM`] (a zero reading disagrees with anything else).
#[must_use]
pub fn disagree(a_hz: u64, b_hz: u64) -> bool {
    difference_ppm(a_hz, b_hz).is_some_and(|ppm| ppm > DISAGREEMENT_LIMIT_PPM)
}

/// Every TSC frequency reading a boot obtained (`None` where a source was
/// absent or failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TscReadings {
    /// CPUID 15h, when the leaf is complete (ratio and crystal frequency).
    pub cpuid15: Option<u64>,
    /// Calibration against the HPET main counter.
    pub hpet: Option<u64>,
    /// Calibration against PIT channel 2.
    pub pit: Option<u64>,
    /// CPUID 16h base frequency (nominal; a cross-check only).
    pub cpuid16: Option<u64>,
}

/// Two readings that disagree by more than 1%.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disagreement {
    /// The source the frequency was taken from, and its reading.
    pub chosen: (TscSource, u64),
    /// The other source, and its reading.
    pub other: (TscSource, u64),
    /// How far apart they are, in parts per million of the larger.
    pub ppm: u64,
}

/// The TSC frequency a boot uses, where it came from, and each other reading
/// that disagrees with it by more than 1% (at most three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TscChoice {
    /// Ticks per second.
    pub hz: u64,
    /// Where `hz` came from.
    pub source: TscSource,
    /// Up to three disagreements (the other readings), `None` past the count.
    pub disagreements: [Option<Disagreement>; 3],
}

impl TscChoice {
    /// The disagreements found, in source order (HPET, PIT, 16h, 15h).
    pub fn disagreements(&self) -> impl Iterator<Item = &Disagreement> {
        self.disagreements.iter().flatten()
    }
}

/// Picks the TSC frequency the way real machines need it: CPUID 15h when the
/// leaf is complete (exact, architectural), else the HPET calibration, else
/// the PIT's; CPUID 16h (the nominal base frequency, which need not be the
/// TSC rate) only when nothing else worked. Every other reading is compared
/// with the chosen one. `None` when there is no reading at all.
#[must_use]
pub fn choose(readings: &TscReadings) -> Option<TscChoice> {
    let ordered = [
        (TscSource::Cpuid15, readings.cpuid15),
        (TscSource::Hpet, readings.hpet),
        (TscSource::Pit, readings.pit),
        (TscSource::Cpuid16, readings.cpuid16),
    ];
    let (source, hz) = ordered
        .iter()
        .find_map(|&(source, hz)| hz.filter(|&hz| hz > 0).map(|hz| (source, hz)))?;
    let mut disagreements = [None; 3];
    let others = ordered
        .iter()
        .filter(|&&(other, _)| other != source)
        .filter_map(|&(other, reading)| reading.map(|r| (other, r)));
    for (slot, (other, reading)) in disagreements
        .iter_mut()
        .zip(others.filter(|&(_, r)| disagree(hz, r)))
    {
        *slot = Some(Disagreement {
            chosen: (source, hz),
            other: (other, reading),
            ppm: difference_ppm(hz, reading).unwrap_or(0),
        });
    }
    Some(TscChoice {
        hz,
        source,
        disagreements,
    })
}

/// Invariant TSC (runs at a constant rate in all ACPI P-, C- and T-states):
/// CPUID.8000_0007h EDX bit 8, on Intel and AMD alike.
#[must_use]
pub const fn is_invariant(edx_8000_0007: u32) -> bool {
    edx_8000_0007 & (1 << 8) != 0
}

/// A TSC of known frequency, for converting between cycles and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TscClock {
    hz: u64,
}

impl TscClock {
    /// A clock ticking `hz` times per second; `None` when `hz` is 0.
    #[must_use]
    pub const fn new(hz: u64) -> Option<Self> {
        if hz == 0 { None } else { Some(Self { hz }) }
    }

    /// Ticks per second.
    #[must_use]
    pub const fn hz(self) -> u64 {
        self.hz
    }

    /// Frequency in MHz, for `tsc_mhz=` in `@meta`.
    #[must_use]
    pub fn mhz(self) -> f64 {
        self.hz as f64 / 1e6
    }

    /// `cycles` as nanoseconds, rounded down, saturating at `u64::MAX`
    /// (computed in `u128`, so no intermediate overflow).
    #[must_use]
    pub fn cycles_to_ns(self, cycles: u64) -> u64 {
        let ns = u128::from(cycles) * NANOS_PER_SECOND / u128::from(self.hz);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// `ns` nanoseconds as cycles, rounded down, saturating at `u64::MAX`.
    #[must_use]
    pub fn ns_to_cycles(self, ns: u64) -> u64 {
        let cycles = u128::from(ns) * u128::from(self.hz) / NANOS_PER_SECOND;
        u64::try_from(cycles).unwrap_or(u64::MAX)
    }
}

/// The cost of a timestamp read itself: the smallest difference between
/// consecutive readings of back-to-back timestamp reads. Pairs that go
/// backwards (a migration, a non-synchronised TSC) are ignored. `None` with
/// fewer than two readings or no forward pair.
#[must_use]
pub fn overhead_from_readings(readings: &[u64]) -> Option<u64> {
    readings
        .windows(2)
        .filter_map(|pair| pair[1].checked_sub(pair[0]))
        .min()
}

/// A running minimum of back-to-back `(start, end)` timestamp pairs, for when
/// the kernel does not want to keep the readings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverheadEstimator {
    min_delta: Option<u64>,
}

impl OverheadEstimator {
    /// No observation yet.
    #[must_use]
    pub const fn new() -> Self {
        Self { min_delta: None }
    }

    /// Takes one pair of back-to-back readings; a pair going backwards is
    /// ignored.
    pub fn observe(&mut self, start: u64, end: u64) {
        if let Some(delta) = end.checked_sub(start) {
            self.min_delta = Some(self.min_delta.map_or(delta, |min| min.min(delta)));
        }
    }

    /// The estimated overhead, `None` before any valid observation.
    #[must_use]
    pub const fn overhead(&self) -> Option<u64> {
        self.min_delta
    }
}

/// A measured interval with the timestamp overhead taken out, never below 0.
#[must_use]
pub const fn subtract_overhead(measured: u64, overhead: u64) -> u64 {
    measured.saturating_sub(overhead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_15h_multiplies_crystal_by_ratio() {
        // Illustrative values in the shape a Kaby Lake/Coffee Lake desktop
        // reports: 24 MHz crystal, ratio 250/2 -> 3.000 GHz.
        assert_eq!(hz_from_cpuid_15h(2, 250, 24_000_000), Some(3_000_000_000));
        // Ice Lake/Tiger Lake style 38.4 MHz crystal, ratio 62/1 -> 2.3808 GHz.
        assert_eq!(hz_from_cpuid_15h(1, 62, 38_400_000), Some(2_380_800_000));
        // Skylake client leaves ECX 0; the crystal then comes from the model.
        assert_eq!(hz_from_cpuid_15h(2, 334, 0), None);
        let crystal = known_crystal_hz(6, 0x5e).expect("Skylake is known");
        assert_eq!(hz_from_cpuid_15h(2, 334, crystal), Some(4_008_000_000));
        assert_eq!(hz_from_cpuid_15h(0, 0, 0), None);
        assert_eq!(known_crystal_hz(6, 0x55), None);
        assert_eq!(known_crystal_hz(0x17, 0x5e), None);
    }

    #[test]
    fn cpuid_16h_gives_base_mhz() {
        assert_eq!(hz_from_cpuid_16h(0x0000_0bb8), Some(3_000_000_000));
        assert_eq!(hz_from_cpuid_16h(0xffff_0000), None, "only bits 15:0 count");
        assert_eq!(hz_from_cpuid_16h(0), None);
    }

    #[test]
    fn calibration_scales_by_the_reference_clock() {
        // 50 ms of PIT (59 659 ticks) during which the TSC advanced 150 M.
        let hz = calibrate_hz(150_000_000, 59_659, PIT_HZ).expect("nonzero");
        assert!((2_999_000_000..3_001_000_000).contains(&hz), "{hz}");
        assert_eq!(calibrate_hz(1, 0, PIT_HZ), None);
        // No overflow for huge deltas.
        assert_eq!(calibrate_hz(u64::MAX, u64::MAX, 1_000), Some(1_000));
        // HPET at 69.841279 ns/tick (14.318180 MHz), 10 ms = 143 182 ticks.
        let hz = calibrate_hz_hpet(30_000_000, 143_182, 69_841_279).expect("nonzero");
        assert!((2_999_900_000..3_000_100_000).contains(&hz), "{hz}");
        assert_eq!(calibrate_hz_hpet(1, 5, 0), None);
    }

    #[test]
    fn conversions_do_not_overflow() {
        let clock = TscClock::new(3_000_000_000).expect("nonzero");
        assert_eq!(clock.cycles_to_ns(3_000), 1_000);
        assert_eq!(clock.ns_to_cycles(1_000), 3_000);
        assert_eq!(clock.cycles_to_ns(u64::MAX), 6_148_914_691_236_517_205);
        assert_eq!(clock.ns_to_cycles(u64::MAX), u64::MAX, "saturates");
        assert_eq!(clock.mhz(), 3000.0);
        assert_eq!(TscClock::new(0), None);
    }

    #[test]
    fn overhead_is_the_minimum_forward_delta() {
        assert_eq!(
            overhead_from_readings(&[100, 130, 152, 180, 150, 175]),
            Some(22)
        );
        assert_eq!(overhead_from_readings(&[5]), None);
        assert_eq!(overhead_from_readings(&[9, 3]), None);
        let mut estimator = OverheadEstimator::new();
        assert_eq!(estimator.overhead(), None);
        estimator.observe(10, 40);
        estimator.observe(50, 20);
        estimator.observe(60, 85);
        assert_eq!(estimator.overhead(), Some(25));
        assert_eq!(subtract_overhead(100, 25), 75);
        assert_eq!(subtract_overhead(20, 25), 0);
    }

    #[test]
    fn invariant_bit_is_edx_bit_8() {
        assert!(is_invariant(0x0000_0100));
        assert!(!is_invariant(0x0000_00ff));
        assert_eq!(TscSource::Cpuid15.as_str(), "cpuid15");
        assert_eq!(TscSource::Hpet.to_string(), "hpet");
    }

    #[test]
    fn difference_is_relative_to_the_larger_reading() {
        assert_eq!(difference_ppm(100, 100), Some(0));
        assert_eq!(difference_ppm(99, 100), Some(10_000));
        assert_eq!(difference_ppm(100, 99), Some(10_000));
        assert_eq!(difference_ppm(0, 100), Some(1_000_000));
        assert_eq!(difference_ppm(0, 0), None);
        assert_eq!(difference_ppm(u64::MAX, u64::MAX - 1), Some(0));
        // Exactly 1% apart agrees; a hair more disagrees.
        assert!(!disagree(3_500_000_000, 3_465_000_000));
        assert!(disagree(3_500_000_000, 3_464_000_000));
        assert!(disagree(0, 1));
        assert!(!disagree(0, 0));
    }

    #[test]
    fn choice_prefers_15h_then_hpet_then_pit_then_16h() {
        let all = TscReadings {
            cpuid15: Some(2_000_000_000),
            hpet: Some(2_001_000_000),
            pit: Some(1_999_000_000),
            cpuid16: Some(2_000_000_000),
        };
        let c = choose(&all).unwrap();
        assert_eq!((c.source, c.hz), (TscSource::Cpuid15, 2_000_000_000));
        assert_eq!(c.disagreements().count(), 0);
        let no15 = TscReadings {
            cpuid15: None,
            ..all
        };
        assert_eq!(choose(&no15).unwrap().source, TscSource::Hpet);
        let pit_only = TscReadings {
            cpuid15: None,
            hpet: None,
            ..all
        };
        assert_eq!(choose(&pit_only).unwrap().source, TscSource::Pit);
        let only16 = TscReadings {
            cpuid16: Some(3_000_000_000),
            ..TscReadings::default()
        };
        assert_eq!(choose(&only16).unwrap().source, TscSource::Cpuid16);
        assert_eq!(choose(&TscReadings::default()), None);
        // A zero reading is skipped as a source but still cross-checked.
        let zero15 = TscReadings {
            cpuid15: Some(0),
            ..all
        };
        let c = choose(&zero15).unwrap();
        assert_eq!(c.source, TscSource::Hpet);
        assert_eq!(
            c.disagreements().next().unwrap().other,
            (TscSource::Cpuid15, 0)
        );
    }

    #[test]
    fn choice_reports_each_reading_off_by_more_than_one_percent() {
        // Bochs' shape: a nominal 3.5 GHz base frequency, a TSC at 100 MHz.
        let bochs = TscReadings {
            cpuid15: None,
            hpet: Some(100_000_000),
            pit: Some(100_400_000),
            cpuid16: Some(3_500_000_000),
        };
        let c = choose(&bochs).unwrap();
        assert_eq!((c.source, c.hz), (TscSource::Hpet, 100_000_000));
        let found: Vec<_> = c.disagreements().copied().collect();
        assert_eq!(
            found,
            [Disagreement {
                chosen: (TscSource::Hpet, 100_000_000),
                other: (TscSource::Cpuid16, 3_500_000_000),
                ppm: 971_428,
            }]
        );
        let spread = TscReadings {
            cpuid15: Some(1_000_000_000),
            hpet: Some(1_100_000_000),
            pit: Some(900_000_000),
            cpuid16: Some(2_000_000_000),
        };
        let c = choose(&spread).unwrap();
        let others: Vec<_> = c.disagreements().map(|d| d.other.0).collect();
        assert_eq!(
            others,
            [TscSource::Hpet, TscSource::Pit, TscSource::Cpuid16]
        );
    }
}
