//! Benchmark records from user programs: performance counters around the
//! measured loop (the `PerfCounters` syscall), then `@bench` (with
//! `pmu.<event>` fields per operation when counters ran) and `@hist`,
//! written whole to the console. One place for every benchmark program.
//!
//! A latency benchmark records through a [`Recorder`]: it prints
//! `@progress` at least once per second of TSC time and closes a histogram
//! interval (`perf::interval`) every few samples or every second, printing
//! each closed interval as its own `@hist` line, so the host can draw the
//! latency over time; `@bench` summarises the whole run.

use core::sync::atomic::{AtomicBool, Ordering};

use perf::histogram::Histogram;
use perf::interval::{IntervalClock, IntervalPolicy, Span};
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

/// The open interval's histogram (221 KB: not on a stack), lent to one
/// [`Recorder`] at a time.
static mut INTERVAL: Histogram = Histogram::new();
/// Whether a [`Recorder`] holds [`INTERVAL`].
static INTERVAL_LENT: AtomicBool = AtomicBool::new(false);

/// Records a latency benchmark's samples, prints its progress and its
/// closed intervals while it runs, and its `@bench` at the end.
///
/// The loop calls [`Recorder::record`] once per sample and
/// [`Recorder::tick`] between samples (or between chunks of samples) with
/// a TSC value it already read; printing happens only in `tick`, outside
/// any measured interval.
pub struct Recorder<'a> {
    name: &'a str,
    unit: Unit,
    hz: u64,
    whole: &'a mut Histogram,
    interval: &'static mut Histogram,
    /// Samples of the intervals already closed.
    closed: u64,
    clock: IntervalClock,
    progress: ProgressTicker<'a>,
}

impl<'a> Recorder<'a> {
    /// A recorder for `total` planned samples of benchmark `name` in
    /// `unit`, the TSC at `hz`, summing the run into `whole` (reset
    /// first). `None` when another recorder of this process is alive.
    #[must_use]
    pub fn new(
        name: &'a str,
        unit: Unit,
        total: u64,
        hz: u64,
        whole: &'a mut Histogram,
    ) -> Option<Self> {
        if INTERVAL_LENT.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: the flag above was clear, so no other reference to
        // INTERVAL exists until this recorder is dropped (which clears it).
        let interval = unsafe { &mut *core::ptr::addr_of_mut!(INTERVAL) };
        interval.reset();
        whole.reset();
        let now = crate::arch::rdtsc();
        Some(Self {
            name,
            unit,
            hz,
            whole,
            interval,
            closed: 0,
            clock: IntervalClock::new(IntervalPolicy::for_run(total, hz), now),
            progress: ProgressTicker::new(name, total, hz),
        })
    }

    /// Records one sample (only that: the loop's code around its
    /// timestamps stays as with a bare histogram).
    #[inline(always)]
    pub fn record(&mut self, value: u64) {
        self.interval.record(value);
    }

    /// Between samples, at TSC `now` (a value the loop already read):
    /// prints `@progress` when a second has passed and closes the interval
    /// when it is due.
    #[inline]
    pub fn tick(&mut self, now: u64) {
        let recorded = self.recorded();
        self.progress.tick(recorded, now);
        if let Some(span) = self.clock.poll(recorded, now) {
            self.close(span);
        }
    }

    /// Samples recorded so far.
    #[must_use]
    pub fn recorded(&self) -> u64 {
        self.closed + self.interval.len()
    }

    /// Prints the open interval as `@hist`, adds it to the whole run and
    /// empties it.
    #[cold]
    #[inline(never)]
    fn close(&mut self, span: Span) {
        self.closed += span.samples;
        self.whole.add(self.interval);
        self.print_interval(span);
        self.interval.reset();
    }

    /// Prints a closed interval between samples through a 4 KiB buffer
    /// (a [`Console`] is 32 KiB: clearing it would push the benchmark's own
    /// lines out of a 32 KiB L1D cache at every interval).
    fn print_interval(&self, span: Span) {
        let mut line = SmallLine {
            buf: [0; SMALL_LINE],
            len: 0,
        };
        self.write_interval(&mut line, span);
        line.flush();
    }

    fn write_interval<W: core::fmt::Write>(&self, c: &mut W, span: Span) {
        let _ = Hist {
            name: self.name,
            histogram: self.interval,
            start: duration(span.start, self.hz),
            interval: duration(span.end.saturating_sub(span.start), self.hz),
        }
        .write_to(c);
    }

    /// Ends the run at TSC `end`: prints `@bench` for the whole run (PMU
    /// fields are `counts` divided by the samples), then the last
    /// interval's `@hist` (one console buffer for both: it is 32 KiB of
    /// the stack).
    pub fn finish(mut self, end: u64, counts: &Counts) {
        let last = self.clock.finish(self.recorded(), end);
        if last.is_some() {
            self.whole.add(self.interval);
        }
        let mut c = Console::new();
        let result = BenchResult::from_histogram(self.name, self.unit, self.whole);
        write_bench(&mut c, &result, counts, self.whole.len());
        if let Some(span) = last {
            self.write_interval(&mut c, span);
        }
        c.flush();
        self.interval.reset();
    }
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        INTERVAL_LENT.store(false, Ordering::Release);
    }
}

/// Bytes of a [`SmallLine`]: an `@hist` line of a latency distribution
/// fits (a longer one is written in pieces).
const SMALL_LINE: usize = 4096;

/// A line buffer of [`SMALL_LINE`] bytes, sent with one console write
/// when it fills and at its end.
struct SmallLine {
    buf: [u8; SMALL_LINE],
    len: usize,
}

impl SmallLine {
    fn flush(&mut self) {
        if self.len > 0 {
            let _ = crate::debug_write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl core::fmt::Write for SmallLine {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == SMALL_LINE {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// `ticks` of a TSC at `hz` as a duration.
fn duration(ticks: u64, hz: u64) -> core::time::Duration {
    core::time::Duration::from_nanos(
        (u128::from(ticks) * 1_000_000_000 / u128::from(hz.max(1))) as u64,
    )
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
    write_bench_ops(c, result, counts, operations, None);
}

/// The `@bench` line with PMU fields per operation and, for a throughput
/// benchmark, `ops=`.
fn write_bench_ops(
    c: &mut Console,
    result: &BenchResult<'_>,
    counts: &Counts,
    operations: u64,
    ops_field: Option<u64>,
) {
    let Ok(mut line) = result.begin(c) else {
        return;
    };
    for (name, value) in COUNTER_NAMES.iter().zip(counts.values) {
        if let Some(value) = value {
            let _ = line.pmu(name, value as f64 / operations.max(1) as f64);
        }
    }
    if let Some(ops) = ops_field {
        let _ = line.ops(ops);
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

/// Prints a throughput benchmark measured once: `rate` operations per
/// second over `operations` operations (`ops=`; PMU fields per operation).
pub fn report_throughput(name: &str, rate: f64, operations: u64, counts: &Counts) {
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
    write_bench_ops(&mut c, &result, counts, operations, Some(operations));
    c.flush();
}
