//! [`RunLog`]: everything one serial log says, collected record by record,
//! with a [`Warning`] for each line that could not be read and for
//! inconsistencies between records.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::records::{
    BenchResult, Fields, HistRecord, Progress, Record, Skipped, SuiteDone, TestOutcome, TestTotals,
    parse_line,
};

/// Something in a log that was dropped or looks wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// 1-based line number, `None` for whole-log findings.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "line {line}: {}", self.message),
            None => formatter.write_str(&self.message),
        }
    }
}

/// All records of one serial log.
#[derive(Debug, Clone, Default)]
pub struct RunLog {
    /// Keys of all `@boot` records.
    pub boot: Fields,
    /// Keys of all `@meta` records.
    pub meta: Fields,
    /// Benchmark results in log order; a name reported again keeps the
    /// last report.
    pub benches: Vec<BenchResult>,
    /// Every report of each benchmark, one per repeat, in log order. A log
    /// of a repeated run is the logs of its boots one after the other: each
    /// `@boot` after a `@bench`, `@skip` or `@done` starts a new repeat.
    pub repeats: BTreeMap<String, Vec<BenchResult>>,
    /// How many repeats (boots with records) the log holds.
    pub repeat_count: usize,
    /// Histogram intervals in log order.
    pub histograms: Vec<HistRecord>,
    /// The boot (0-based count of `@boot` records before it) of each entry
    /// of `histograms`: a repeated run's clock restarts at every boot.
    pub histogram_boots: Vec<usize>,
    /// `@boot` records seen.
    boots: usize,
    /// Skipped benchmarks in log order.
    pub skipped: Vec<Skipped>,
    /// The latest `@progress` of each benchmark.
    pub progress: BTreeMap<String, Progress>,
    /// The `@done` record, if the suite finished.
    pub done: Option<SuiteDone>,
    /// In-kernel test results in log order.
    pub tests: Vec<TestOutcome>,
    /// The closing `<N> passed, <M> failed` line.
    pub test_totals: Option<TestTotals>,
    /// Benchmarks and skips seen since the current repeat began.
    repeat_seen: (u64, u64),
    /// The repeat in which each benchmark was last reported.
    last_repeat: BTreeMap<String, usize>,
    /// Whether the current repeat has any `@bench`, `@skip` or `@done`.
    repeat_has_records: bool,
    /// Record kinds this tool ignores (`@audit`, newer kinds) with counts.
    pub ignored_kinds: BTreeMap<String, usize>,
    /// Unreadable lines and inconsistencies.
    pub warnings: Vec<Warning>,
}

impl RunLog {
    /// Parses a whole serial log. Never fails: bad lines become warnings.
    #[must_use]
    pub fn parse(serial_log: &str) -> Self {
        let mut log = Self::default();
        for (index, line) in serial_log.lines().enumerate() {
            match parse_line(line) {
                None => {}
                Some(Ok(record)) => log.add(index + 1, record),
                Some(Err(error)) => log.warn(Some(index + 1), error.to_string()),
            }
        }
        log.choose_median_reports();
        if log.done.is_none() && (!log.benches.is_empty() || !log.skipped.is_empty()) {
            log.warn(
                None,
                "no @done record: the benchmark run did not finish".into(),
            );
        }
        log
    }

    fn warn(&mut self, line: Option<usize>, message: String) {
        self.warnings.push(Warning { line, message });
    }

    fn add(&mut self, line: usize, record: Record) {
        match record {
            Record::Boot(fields) => {
                self.boots += 1;
                if self.repeat_has_records {
                    self.repeat_has_records = false;
                    self.repeat_seen = (0, 0);
                    self.done = None;
                }
                self.merge_fields(line, "boot", fields);
            }
            Record::Meta(fields) => self.merge_fields(line, "meta", fields),
            Record::Progress(progress) => {
                self.progress.insert(progress.name.clone(), progress);
            }
            Record::Bench(result) => {
                self.start_records();
                self.repeat_seen.0 += 1;
                // A name reported twice in one repeat counts once.
                let again_in_this_repeat = self
                    .last_repeat
                    .insert(result.name.clone(), self.repeat_count)
                    == Some(self.repeat_count);
                let reports = self.repeats.entry(result.name.clone()).or_default();
                if again_in_this_repeat {
                    reports.pop();
                    self.repeat_seen.0 -= 1;
                }
                reports.push(result.clone());
                if let Some(index) = self.benches.iter().position(|b| b.name == result.name) {
                    if again_in_this_repeat {
                        self.warn(
                            Some(line),
                            format!(
                                "benchmark {:?} reported again; keeping this one",
                                result.name
                            ),
                        );
                    }
                    self.benches.remove(index);
                }
                self.benches.push(result);
            }
            Record::Hist(histogram) => {
                self.histograms.push(histogram);
                self.histogram_boots.push(self.boots.saturating_sub(1));
            }
            Record::Skip(skipped) => {
                self.start_records();
                self.repeat_seen.1 += 1;
                if !self.skipped.iter().any(|s| s.name == skipped.name) {
                    self.skipped.push(skipped);
                }
            }
            Record::Done(done) => {
                self.start_records();
                self.check_done(done);
                self.done = Some(done);
            }
            Record::Ignored { kind } => *self.ignored_kinds.entry(kind).or_default() += 1,
            Record::Test(outcome) => self.tests.push(outcome),
            Record::TestTotals(totals) => self.test_totals = Some(totals),
        }
    }

    fn merge_fields(&mut self, line: usize, kind: &str, fields: Fields) {
        for (key, value) in fields.iter() {
            let target = if kind == "boot" {
                &mut self.boot
            } else {
                &mut self.meta
            };
            // Measured conditions differ from boot to boot (a boot after
            // one with records is a repeat).
            let measured = crate::compare::MEASURED_CONDITIONS.contains(&key);
            if let Some(old) = target.insert(key, value)
                && old != value
                && !(measured && self.repeat_count >= 1)
            {
                self.warn(
                    Some(line),
                    format!("@{kind} key {key:?} changed from {old:?} to {value:?}"),
                );
            }
        }
    }

    /// A benchmark reported by several repeats is represented in `benches`
    /// by its median repeat (by headline value, the lower middle one for an
    /// even count), not by whichever came last.
    fn choose_median_reports(&mut self) {
        for bench in &mut self.benches {
            let Some(reports) = self.repeats.get(&bench.name).filter(|r| r.len() > 1) else {
                continue;
            };
            let mut order: Vec<&BenchResult> = reports.iter().collect();
            order.sort_by(|a, b| a.p50.total_cmp(&b.p50));
            *bench = order[(order.len() - 1) / 2].clone();
        }
    }

    /// The first `@bench`, `@skip` or `@done` of a boot makes it a repeat.
    fn start_records(&mut self) {
        if !self.repeat_has_records {
            self.repeat_has_records = true;
            self.repeat_count += 1;
        }
    }

    /// Compares `@done`'s counts with what this repeat of the log holds.
    fn check_done(&mut self, done: SuiteDone) {
        let (seen, skipped) = self.repeat_seen;
        if done.benches != seen {
            self.warn(
                None,
                format!(
                    "@done reports {} benchmarks but the log holds {seen}",
                    done.benches
                ),
            );
        }
        if done.skipped != skipped {
            self.warn(
                None,
                format!(
                    "@done reports {} skipped but the log holds {skipped}",
                    done.skipped
                ),
            );
        }
    }

    /// The benchmark result called `name`.
    #[must_use]
    pub fn bench(&self, name: &str) -> Option<&BenchResult> {
        self.benches.iter().find(|bench| bench.name == name)
    }

    /// All histogram intervals of benchmark `name` added together, or `None`
    /// when there are none.
    #[must_use]
    pub fn histogram(&self, name: &str) -> Option<Histogram<u64>> {
        let mut intervals = self.histograms.iter().filter(|h| h.name == name);
        let mut merged = intervals.next()?.histogram.clone();
        merged.auto(true);
        for interval in intervals {
            // With auto-resize on, adding only fails if the sum overflows the
            // u64 counts, which a kernel log cannot reach; keep what we have.
            let _ = merged.add(&interval.histogram);
        }
        Some(merged)
    }

    /// Benchmark names that have histograms, in first-seen order.
    #[must_use]
    pub fn histogram_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for record in &self.histograms {
            if !names.contains(&record.name.as_str()) {
                names.push(&record.name);
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdr::encode_histogram;

    const BENCH: &str = "@bench v1 name=a unit=ns kind=latency count=2 min=1 p50=1 p90=2 \
                         p99=2 p999=2 max=2 mean=1.5";

    fn messages(log: &RunLog) -> Vec<String> {
        log.warnings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn collects_records_and_counts_ignored_kinds() {
        let text = format!(
            "@boot v1 boot=multiboot2\n@meta v1 accel=tcg\nnoise\n{BENCH}\n\
             @skip v1 name=b reason=no%20pmu\n@audit v1 x=1\n@audit v1 x=2\n\
             @progress v1 name=a done=1 total=2\n@progress v1 name=a done=2 total=2\n\
             @done v1 benches=1 skipped=1\n"
        );
        let log = RunLog::parse(&text);
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
        assert_eq!(log.boot.get("boot"), Some("multiboot2"));
        assert_eq!(log.meta.get("accel"), Some("tcg"));
        assert_eq!(log.bench("a").map(|b| b.count), Some(2));
        assert_eq!(log.skipped[0].reason, "no pmu");
        assert_eq!(log.ignored_kinds.get("audit"), Some(&2));
        assert_eq!(log.progress["a"].done, 2);
        assert!(log.done.is_some());
    }

    #[test]
    fn inconsistencies_become_warnings() {
        let text = format!(
            "@meta v1 accel=kvm\n@meta v1 accel=tcg\n{BENCH}\n{BENCH}\n@done v1 benches=3 skipped=1\n"
        );
        let log = RunLog::parse(&text);
        assert_eq!(log.benches.len(), 1);
        assert_eq!(log.meta.get("accel"), Some("tcg"));
        assert_eq!(
            messages(&log),
            [
                "line 2: @meta key \"accel\" changed from \"kvm\" to \"tcg\"",
                "line 4: benchmark \"a\" reported again; keeping this one",
                "@done reports 3 benchmarks but the log holds 1",
                "@done reports 1 skipped but the log holds 0",
            ]
        );
    }

    #[test]
    fn a_run_without_done_is_flagged() {
        let log = RunLog::parse(&format!("{BENCH}\n@bench v1 name=x\n"));
        assert_eq!(
            messages(&log),
            [
                "line 2: missing key \"unit\" (truncated line?)",
                "no @done record: the benchmark run did not finish",
            ]
        );
    }

    #[test]
    fn histogram_intervals_of_a_benchmark_are_merged() {
        let mut first = Histogram::<u64>::new_with_max(1000, 3).unwrap();
        first.record(10).unwrap();
        let mut second = Histogram::<u64>::new_with_max(1000, 3).unwrap();
        second.record_n(999, 2).unwrap();
        let line = |start: &str, histogram: &Histogram<u64>| {
            let payload = encode_histogram(histogram).unwrap();
            format!("@hist v1 name=a Tag=a,{start},1.0,1.0,{payload}\n")
        };
        let log = RunLog::parse(&(line("0.0", &first) + &line("1.0", &second)));
        let merged = log.histogram("a").unwrap();
        assert_eq!((merged.len(), merged.min(), merged.max()), (3, 10, 999));
        assert_eq!(log.histogram_names(), ["a"]);
        assert!(log.histogram("b").is_none());
    }

    #[test]
    fn boots_after_records_are_repeats() {
        let boot = "@boot v1 cpus=2 tsc_mhz=2600.1\n@meta v1 accel=tcg\n";
        let bench = |p50: u32| {
            format!(
                "@bench v1 name=a unit=ns kind=latency count=2 min=1 p50={p50} p90=2 \
                 p99=2 p999=2 max=2 mean=1.5\n"
            )
        };
        let done = "@done v1 benches=1 skipped=0\n";
        // A boot that printed nothing (it crashed early) is no repeat.
        let text = format!(
            "{boot}{}{done}{boot}{boot}{}{done}{boot}{}",
            bench(10),
            bench(12),
            bench(11)
        );
        let log = RunLog::parse(&text);
        assert_eq!(log.repeat_count, 3);
        let p50s: Vec<f64> = log.repeats["a"].iter().map(|b| b.p50).collect();
        assert_eq!(p50s, [10.0, 12.0, 11.0]);
        // The median repeat represents the benchmark.
        assert_eq!(log.bench("a").map(|b| b.p50), Some(11.0));
        // The last repeat did not finish.
        assert!(log.done.is_none());
        assert_eq!(
            messages(&log),
            ["no @done record: the benchmark run did not finish"]
        );
    }
}
