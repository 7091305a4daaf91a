//! The TSC as the kernel's clock: frequency from CPUID leaves 15h/16h when they
//! say, else calibrated against PIT channel 2.

use raw_cpuid::CpuId;
use x86_64::instructions::port::Port;

use super::cpu::rdtsc_ordered;

/// Where the TSC frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TscSource {
    /// CPUID 15h (crystal ratio).
    Cpuid15,
    /// CPUID 16h (processor base frequency).
    Cpuid16,
    /// Calibrated against the PIT.
    Pit,
}

impl TscSource {
    /// The name used in records (`tsc_src=`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpuid15 => "cpuid15",
            Self::Cpuid16 => "cpuid16",
            Self::Pit => "pit",
        }
    }
}

/// The TSC's frequency and how it was obtained.
#[derive(Clone, Copy, Debug)]
pub struct TscInfo {
    /// Ticks per second.
    pub hz: u64,
    /// Where `hz` came from.
    pub source: TscSource,
    /// CPUID 8000_0007h EDX bit 8: the TSC runs at a constant rate in all
    /// P-, C- and T-states.
    pub invariant: bool,
}

/// The PIT's input clock in Hz.
const PIT_HZ: u64 = 1_193_182;

/// Determines the TSC frequency.
pub fn detect() -> TscInfo {
    let cpuid = CpuId::new();
    let invariant = cpuid
        .get_advanced_power_mgmt_info()
        .is_some_and(|p| p.has_invariant_tsc());
    if let Some(hz) = cpuid
        .get_tsc_info()
        .and_then(|t| t.tsc_frequency())
        .filter(|&hz| hz > 0)
    {
        return TscInfo {
            hz,
            source: TscSource::Cpuid15,
            invariant,
        };
    }
    if let Some(mhz) = cpuid
        .get_processor_frequency_info()
        .map(|f| f.processor_base_frequency())
        .filter(|&mhz| mhz > 0)
    {
        return TscInfo {
            hz: u64::from(mhz) * 1_000_000,
            source: TscSource::Cpuid16,
            invariant,
        };
    }
    TscInfo {
        hz: calibrate_pit(),
        source: TscSource::Pit,
        invariant,
    }
}

/// Measures TSC ticks over 10 ms of PIT channel 2 (mode 0, gate via port
/// 0x61), best of three runs (the shortest delta is the least disturbed).
fn calibrate_pit() -> u64 {
    const LATCH: u64 = PIT_HZ / 100; // 10 ms
    let mut best = u64::MAX;
    for _ in 0..3 {
        let mut speaker = Port::<u8>::new(0x61);
        let mut command = Port::<u8>::new(0x43);
        let mut channel2 = Port::<u8>::new(0x42);
        // SAFETY: ports 0x42/0x43/0x61 are the PIT and the PC speaker gate;
        // the kernel uses PIT channel 2 for nothing else, and this runs on the
        // BSP during boot before any other CPU or interrupt handler uses them.
        let delta = unsafe {
            let gate = (speaker.read() & !0x02) | 0x01; // gate high, speaker off
            speaker.write(gate);
            command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0
            channel2.write((LATCH & 0xff) as u8);
            channel2.write((LATCH >> 8) as u8);
            let start = rdtsc_ordered();
            let mut spins: u64 = 0;
            while speaker.read() & 0x20 == 0 {
                spins += 1;
                if spins > 1_000_000_000 {
                    break; // no PIT: fall through to the default below
                }
            }
            rdtsc_ordered() - start
        };
        best = best.min(delta);
    }
    if best == 0 || best == u64::MAX {
        crate::kprintln!("warning: TSC calibration against the PIT failed; assuming 1 GHz");
        return 1_000_000_000;
    }
    best * PIT_HZ / LATCH
}
