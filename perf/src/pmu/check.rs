//! Whether a PMU that CPUID advertises actually counts: the kernel counts
//! retired instructions over a loop of known length once at boot and trusts
//! the counters only when the count is within [`TOLERANCE_PPM`] of that
//! length. An emulator may advertise architectural perfmon whose counters
//! never advance (Bochs 2.7 reports version 4 and counts nothing); its
//! counts would otherwise be recorded as zeros. Where the check fails the
//! PMU is absent: `@meta` says `pmu=none`, `@bench` records carry no
//! `pmu.*` fields and `run=report` prints `absent`.

use core::fmt;

use super::PmuInfo;

/// The counted instructions may differ from the loop's length by at most
/// this many parts per million of the larger of the two (1%).
pub const TOLERANCE_PPM: u64 = 10_000;

/// The outcome of the boot-time check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmuCheck {
    /// CPUID (after the kernel's fault-safe probes) shows no PMU: nothing
    /// to check.
    NoPmu,
    /// CPUID shows a PMU, but no instruction counter could be started (no
    /// plan for this model, or an MSR access faulted), so nothing can be
    /// validated.
    NoInstructionCounter,
    /// The counter advanced by `counted` over a loop of `expected`
    /// instructions, within the tolerance.
    Counts {
        /// Instructions counted.
        counted: u64,
        /// The loop's length.
        expected: u64,
        /// Difference in parts per million of the larger value.
        ppm: u64,
    },
    /// The counter did not advance over a loop of `expected` instructions.
    Stopped {
        /// The loop's length.
        expected: u64,
    },
    /// The counter advanced, but by more than the tolerance away from
    /// `expected`.
    Inaccurate {
        /// Instructions counted.
        counted: u64,
        /// The loop's length.
        expected: u64,
        /// Difference in parts per million of the larger value.
        ppm: u64,
    },
}

impl PmuCheck {
    /// Judges an instruction count over a loop of `expected` instructions
    /// (`counted` is `None` when no instruction counter ran). An `expected`
    /// of 0 validates nothing and gives [`PmuCheck::NoInstructionCounter`].
    #[must_use]
    pub fn judge(counted: Option<u64>, expected: u64) -> Self {
        let Some(counted) = counted else {
            return Self::NoInstructionCounter;
        };
        if expected == 0 {
            return Self::NoInstructionCounter;
        }
        if counted == 0 {
            return Self::Stopped { expected };
        }
        // Both non-zero, so the difference is defined.
        let ppm = crate::tsc::difference_ppm(counted, expected).unwrap_or(u64::MAX);
        if ppm <= TOLERANCE_PPM {
            Self::Counts {
                counted,
                expected,
                ppm,
            }
        } else {
            Self::Inaccurate {
                counted,
                expected,
                ppm,
            }
        }
    }

    /// True when the counters may be trusted.
    #[must_use]
    pub const fn usable(&self) -> bool {
        matches!(self, Self::Counts { .. })
    }

    /// The PMU to report and count with: `advertised` when the check
    /// passed, [`PmuInfo::None`] otherwise.
    #[must_use]
    pub const fn usable_pmu(&self, advertised: PmuInfo) -> PmuInfo {
        if self.usable() {
            advertised
        } else {
            PmuInfo::None
        }
    }

    /// True when the check found a fault to report: a PMU that CPUID
    /// advertises but that does not count, or counts wrongly. No PMU at all
    /// is no fault.
    #[must_use]
    pub const fn failed(&self) -> bool {
        matches!(
            self,
            Self::NoInstructionCounter | Self::Stopped { .. } | Self::Inaccurate { .. }
        )
    }
}

impl fmt::Display for PmuCheck {
    /// `instructions=<how>` for the boot log and `run=report`: the count
    /// and `ok`, or `absent` with the reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoPmu => f.write_str("instructions=absent (no PMU)"),
            Self::NoInstructionCounter => f.write_str(
                "instructions=absent (CPUID advertises a PMU, but no instruction counter started)",
            ),
            Self::Counts {
                counted,
                expected,
                ppm,
            } => write!(
                f,
                "instructions counted={counted} expected={expected} ppm={ppm} ok"
            ),
            Self::Stopped { expected } => write!(
                f,
                "instructions=absent (counted=0 expected={expected}: CPUID advertises a PMU whose counters do not advance)"
            ),
            Self::Inaccurate {
                counted,
                expected,
                ppm,
            } => write!(
                f,
                "instructions=absent (counted={counted} expected={expected} ppm={ppm}: beyond 1%)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKYLAKE: PmuInfo = PmuInfo::from_intel_cpuid_0ah(0x0730_0404, 0, 0x0603);

    #[test]
    fn a_count_within_one_percent_is_usable() {
        let exact = PmuCheck::judge(Some(10_000_000), 10_000_000);
        assert_eq!(
            exact,
            PmuCheck::Counts {
                counted: 10_000_000,
                expected: 10_000_000,
                ppm: 0
            }
        );
        assert!(exact.usable());
        assert!(!exact.failed());
        assert_eq!(exact.usable_pmu(SKYLAKE), SKYLAKE);
        // The start and read sequences add a few hundred instructions.
        let overhead = PmuCheck::judge(Some(10_000_350), 10_000_000);
        assert!(overhead.usable(), "{overhead:?}");
        // Exactly 1% of the larger value is still within.
        let edge = PmuCheck::judge(Some(9_900_000), 10_000_000);
        assert!(edge.usable(), "{edge:?}");
        assert_eq!(
            exact.to_string(),
            "instructions counted=10000000 expected=10000000 ppm=0 ok"
        );
    }

    #[test]
    fn a_counter_that_does_not_advance_is_absent() {
        let stopped = PmuCheck::judge(Some(0), 10_000_000);
        assert_eq!(
            stopped,
            PmuCheck::Stopped {
                expected: 10_000_000
            }
        );
        assert!(!stopped.usable());
        assert!(stopped.failed());
        assert_eq!(stopped.usable_pmu(SKYLAKE), PmuInfo::None);
        assert_eq!(stopped.usable_pmu(SKYLAKE).to_string(), "none");
        assert!(stopped.to_string().starts_with("instructions=absent ("));
    }

    #[test]
    fn a_count_beyond_one_percent_is_absent() {
        for counted in [9_899_000, 10_102_000, 1, 20_000_000, u64::MAX] {
            let check = PmuCheck::judge(Some(counted), 10_000_000);
            assert!(
                matches!(check, PmuCheck::Inaccurate { counted: c, .. } if c == counted),
                "{counted}: {check:?}"
            );
            assert!(!check.usable());
            assert!(check.failed());
            assert_eq!(check.usable_pmu(SKYLAKE), PmuInfo::None);
        }
        assert_eq!(
            PmuCheck::judge(Some(20_000_000), 10_000_000).to_string(),
            "instructions=absent (counted=20000000 expected=10000000 ppm=500000: beyond 1%)"
        );
    }

    #[test]
    fn no_instruction_counter_or_no_loop_validates_nothing() {
        for check in [
            PmuCheck::judge(None, 10_000_000),
            PmuCheck::judge(Some(5), 0),
        ] {
            assert_eq!(check, PmuCheck::NoInstructionCounter);
            assert!(!check.usable());
            assert!(check.failed());
            assert_eq!(check.usable_pmu(SKYLAKE), PmuInfo::None);
        }
        assert!(!PmuCheck::NoPmu.usable());
        assert!(!PmuCheck::NoPmu.failed());
        assert_eq!(PmuCheck::NoPmu.usable_pmu(PmuInfo::None), PmuInfo::None);
        assert_eq!(PmuCheck::NoPmu.to_string(), "instructions=absent (no PMU)");
    }
}
