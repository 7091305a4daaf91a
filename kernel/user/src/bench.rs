//! Benchmark records from user programs: performance counters around the
//! measured loop (the `PerfCounters` syscall), then `@bench` (with
//! `pmu.<event>` fields per operation when counters ran) and `@hist`,
//! written whole to the console. One place for every benchmark program.

use perf::histogram::Histogram;
use perf::pmu::plan::{COUNTER_NAMES, COUNTERS};
use perf::record::{BenchKind, BenchResult, Hist, Progress, Unit};

use crate::{Console, call};
use ipc::abi::Opcode;

/// `@progress` for a measuring loop, printed between samples at most once
/// per second of TSC time (the host's progress bars move at least that
/// often). `tick` takes a TSC value the loop already read, so the loop
/// reads no extra clock; the print itself is out of line.
pub struct ProgressTicker<'a> {
    name: &'a str,
    total: u64,
    every: u64,
    next: u64,
}

impl<'a> ProgressTicker<'a> {
    /// A ticker for `total` samples of benchmark `name`, the TSC at `hz`.
    #[must_use]
    pub fn new(name: &'a str, total: u64, hz: u64) -> Self {
        let every = hz.max(1);
        Self {
            name,
            total,
            every,
            next: crate::arch::rdtsc().saturating_add(every),
        }
    }

    /// After sample `done` (1-based) ended at TSC `now`: prints when a
    /// second has passed since the last print.
    #[inline]
    pub fn tick(&mut self, done: u64, now: u64) {
        if now >= self.next {
            self.next = now.saturating_add(self.every);
            self.print(done);
        }
    }

    #[cold]
    #[inline(never)]
    fn print(&self, done: u64) {
        let mut c = Console::new();
        let _ = Progress {
            name: self.name,
            done,
            total: self.total,
        }
        .write_to(&mut c);
        c.flush();
    }
}

/// Counters started on this CPU (none where there is no PMU, as under TCG
/// or a KVM without PMU passthrough: the records then carry no PMU fields).
#[derive(Clone, Copy, Debug)]
pub struct Counting {
    mask: u64,
}

/// Counts over a measured loop; `None` where a counter did not run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    values: [Option<u64>; COUNTERS],
}

/// Starts the performance counters on this CPU (they count user and kernel
/// work of every thread on it, so a same-CPU round trip includes the
/// partner's share).
#[must_use]
pub fn start_counters() -> Counting {
    let mask = call(Opcode::PerfCounters, 0, [0; 4]).map_or(0, |d| d[0]);
    Counting { mask }
}

impl Counting {
    /// The counts since [`start_counters`].
    #[must_use]
    pub fn read(&self) -> Counts {
        let mut counts = Counts::default();
        if self.mask == 0 {
            return counts;
        }
        for first in (0..COUNTERS).step_by(4) {
            let Ok(words) = call(Opcode::PerfCounters, 0, [1, first as u64, 0, 0]) else {
                return Counts::default();
            };
            for (k, word) in words.iter().enumerate() {
                let i = first + k;
                if i < COUNTERS && self.mask & (1 << i) != 0 {
                    counts.values[i] = Some(*word);
                }
            }
        }
        counts
    }
}

impl Counts {
    /// How many counters ran.
    #[must_use]
    pub fn counted(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }
}

fn write_bench(c: &mut Console, result: &BenchResult<'_>, counts: &Counts, operations: u64) {
    let Ok(mut line) = result.begin(c) else {
        return;
    };
    for (name, value) in COUNTER_NAMES.iter().zip(counts.values) {
        if let Some(value) = value {
            let _ = line.pmu(name, value as f64 / operations.max(1) as f64);
        }
    }
    let _ = line.finish();
}

/// Prints a latency benchmark: `@bench` from `hist` and the `@hist` line
/// for the interval `[start, end)` (TSC ticks at `hz`); PMU fields are
/// `counts` divided by the samples.
pub fn report_latency(
    name: &str,
    unit: Unit,
    hist: &Histogram,
    (start, end, hz): (u64, u64, u64),
    counts: &Counts,
) {
    let secs = |t: u64| {
        core::time::Duration::from_nanos(
            (u128::from(t) * 1_000_000_000 / u128::from(hz.max(1))) as u64,
        )
    };
    let mut c = Console::new();
    let result = BenchResult::from_histogram(name, unit, hist);
    write_bench(&mut c, &result, counts, hist.len());
    let _ = Hist {
        name,
        histogram: hist,
        start: secs(start),
        interval: secs(end.saturating_sub(start)),
    }
    .write_to(&mut c);
    c.flush();
}

/// Prints a throughput benchmark measured once: `rate` messages per second
/// over `messages` messages (PMU fields per message).
pub fn report_throughput(name: &str, rate: f64, messages: u64, counts: &Counts) {
    let result = BenchResult {
        name,
        unit: Unit::MsgsPerS,
        kind: BenchKind::Throughput,
        count: 1,
        min: rate,
        p50: rate,
        p90: rate,
        p99: rate,
        p999: rate,
        max: rate,
        mean: rate,
    };
    let mut c = Console::new();
    write_bench(&mut c, &result, counts, messages);
    c.flush();
}
