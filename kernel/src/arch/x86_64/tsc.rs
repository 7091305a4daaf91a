//! The TSC as the kernel's clock. Its frequency comes from CPUID leaf 15h
//! when the leaf is complete, else from a calibration against the HPET, or
//! against PIT channel 2 when there is no HPET; leaf 16h (the nominal base
//! frequency, which need not be the TSC rate) is a cross-check and the last
//! resort. The choice and the 1% cross-check are `perf::tsc::choose`.

use raw_cpuid::CpuId;
use x86_64::instructions::port::Port;

pub use perf::tsc::TscSource;

use super::cpu::rdtsc_ordered;

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
    /// Every reading taken, the chosen one among them.
    pub readings: perf::tsc::TscReadings,
}

/// The PIT's input clock in Hz.
const PIT_HZ: u64 = perf::tsc::PIT_HZ;
/// Length of one calibration interval (10 ms).
const CALIBRATION_US: u64 = 10_000;

/// The HPET's registers (memory-mapped, 64-bit).
pub struct Hpet {
    base: *mut u64,
    /// The main counter's width as a mask (32 or 64 bits).
    counter_mask: u64,
}

/// General Capabilities and ID register: bits 63:32 are the counter period
/// in femtoseconds.
const HPET_CAPABILITIES: usize = 0x00;
/// Capabilities bit 13 (COUNT_SIZE_CAP): the main counter has 64 bits.
const HPET_COUNTER_64: u64 = 1 << 13;
/// General Configuration register: bit 0 enables the main counter.
const HPET_CONFIG: usize = 0x10;
/// Main Counter Value register.
const HPET_COUNTER: usize = 0xf0;
/// The largest period the HPET specification allows (100 ns).
const HPET_MAX_PERIOD_FS: u32 = 100_000_000;

impl Hpet {
    /// The HPET whose register block the kernel mapped uncached at `virt`;
    /// enables its main counter. `None` when the period it reports is outside
    /// the specification (no HPET answers there).
    ///
    /// # Safety
    /// `virt` maps the HPET's 1 KiB register block uncached, for as long as
    /// the returned value lives, and nothing else programs the HPET.
    pub unsafe fn new(virt: u64) -> Option<Self> {
        let mut hpet = Self {
            base: virt as *mut u64,
            counter_mask: u64::MAX,
        };
        if hpet.read(HPET_CAPABILITIES) & HPET_COUNTER_64 == 0 {
            hpet.counter_mask = u64::from(u32::MAX);
        }
        let period = hpet.period_fs();
        if period == 0 || period > HPET_MAX_PERIOD_FS {
            return None;
        }
        // SAFETY: the caller guarantees the mapping; setting ENABLE_CNF starts
        // the main counter, and the kernel uses no HPET timer interrupts.
        unsafe {
            let config = hpet.base.byte_add(HPET_CONFIG);
            config.write_volatile(config.read_volatile() | 1);
        }
        Some(hpet)
    }

    fn read(&self, offset: usize) -> u64 {
        // SAFETY: `offset` is a register of the block `new`'s caller mapped.
        unsafe { self.base.byte_add(offset).read_volatile() }
    }

    /// The main counter's period in femtoseconds.
    pub fn period_fs(&self) -> u32 {
        (self.read(HPET_CAPABILITIES) >> 32) as u32
    }

    /// The main counter.
    pub fn counter(&self) -> u64 {
        self.read(HPET_COUNTER) & self.counter_mask
    }

    /// Counter ticks from `earlier` to `later` (two [`Hpet::counter`]
    /// readings less than one wrap apart), across a wrap of a 32-bit counter.
    pub fn ticks_between(&self, earlier: u64, later: u64) -> u64 {
        later.wrapping_sub(earlier) & self.counter_mask
    }

    /// Spins until at least `ticks` counter ticks have passed; returns the
    /// counter ticks and TSC ticks that elapsed. `None` when the counter
    /// stops advancing.
    pub fn time(&self, ticks: u64) -> Option<(u64, u64)> {
        let start = self.counter();
        let start_tsc = rdtsc_ordered();
        let mut now = start;
        let mut unchanged: u32 = 0;
        while self.ticks_between(start, now) < ticks {
            let next = self.counter();
            unchanged = if next == now { unchanged + 1 } else { 0 };
            if unchanged > 1_000_000 {
                return None;
            }
            now = next;
        }
        Some((self.ticks_between(start, now), rdtsc_ordered() - start_tsc))
    }

    /// The main counter's frequency in Hz.
    pub fn hz(&self) -> u64 {
        1_000_000_000_000_000 / u64::from(self.period_fs().max(1))
    }
}

/// Determines the TSC frequency (`hpet`: the HPET, when ACPI describes one).
pub fn detect(hpet: Option<&Hpet>) -> TscInfo {
    let cpuid = CpuId::new();
    let invariant = cpuid
        .get_advanced_power_mgmt_info()
        .is_some_and(|p| p.has_invariant_tsc());
    let cpuid15 = cpuid.get_tsc_info().and_then(|t| {
        perf::tsc::hz_from_cpuid_15h(t.denominator(), t.numerator(), t.nominal_frequency())
    });
    let cpuid16 = cpuid
        .get_processor_frequency_info()
        .and_then(|f| perf::tsc::hz_from_cpuid_16h(u32::from(f.processor_base_frequency())));
    let hpet_hz = hpet.and_then(calibrate_hpet);
    // The PIT only when there is nothing better: it takes 30 ms.
    let pit = if cpuid15.is_none() && hpet_hz.is_none() {
        calibrate_pit()
    } else {
        None
    };
    let readings = perf::tsc::TscReadings {
        cpuid15,
        hpet: hpet_hz,
        pit,
        cpuid16,
    };
    let Some(choice) = perf::tsc::choose(&readings) else {
        crate::kprintln!("warning: tsc: no CPUID leaf and no calibration worked; assuming 1 GHz");
        return TscInfo {
            hz: 1_000_000_000,
            source: TscSource::Pit,
            invariant,
            readings,
        };
    };
    for d in choice.disagreements() {
        crate::kprintln!(
            "warning: tsc: {} says {}.{:03} MHz but {} says {}.{:03} MHz ({}.{:02}% apart); using {}",
            d.chosen.0,
            d.chosen.1 / 1_000_000,
            d.chosen.1 / 1_000 % 1_000,
            d.other.0,
            d.other.1 / 1_000_000,
            d.other.1 / 1_000 % 1_000,
            d.ppm / 10_000,
            d.ppm / 100 % 100,
            d.chosen.0,
        );
    }
    TscInfo {
        hz: choice.hz,
        source: choice.source,
        invariant,
        readings,
    }
}

/// The TSC frequency over 10 ms of HPET time, the median of three runs (a
/// run disturbed between its two clock reads is off either way). `None`
/// when the counter does not advance.
pub fn calibrate_hpet(hpet: &Hpet) -> Option<u64> {
    let period = hpet.period_fs();
    let ticks = CALIBRATION_US * 1_000_000_000 / u64::from(period);
    let mut runs = [0_u64; 3];
    for run in &mut runs {
        let (hpet_ticks, tsc_ticks) = hpet.time(ticks)?;
        *run = perf::tsc::calibrate_hz_hpet(tsc_ticks, hpet_ticks, period)?;
    }
    runs.sort_unstable();
    Some(runs[1])
}

/// TSC ticks over 10 ms of PIT channel 2 (mode 0, gate via port 0x61), best
/// of three. `None` when the PIT never counts down.
fn calibrate_pit() -> Option<u64> {
    const LATCH: u64 = PIT_HZ * CALIBRATION_US / 1_000_000;
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
                    return None; // no PIT
                }
            }
            rdtsc_ordered() - start
        };
        best = best.min(delta);
    }
    perf::tsc::calibrate_hz(best, LATCH, PIT_HZ).filter(|&hz| hz > 0)
}
