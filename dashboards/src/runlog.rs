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
    /// Benchmark results in log order; a name reported twice keeps the last.
    pub benches: Vec<BenchResult>,
    /// Histogram intervals in log order.
    pub histograms: Vec<HistRecord>,
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
        log.check_done();
        log
    }

    fn warn(&mut self, line: Option<usize>, message: String) {
        self.warnings.push(Warning { line, message });
    }

    fn add(&mut self, line: usize, record: Record) {
        match record {
            Record::Boot(fields) => self.merge_fields(line, "boot", fields),
            Record::Meta(fields) => self.merge_fields(line, "meta", fields),
            Record::Progress(progress) => {
                self.progress.insert(progress.name.clone(), progress);
            }
            Record::Bench(result) => {
                if let Some(index) = self.benches.iter().position(|b| b.name == result.name) {
                    self.warn(
                        Some(line),
                        format!(
                            "benchmark {:?} reported again; keeping this one",
                            result.name
                        ),
                    );
                    self.benches.remove(index);
                }
                self.benches.push(result);
            }
            Record::Hist(histogram) => self.histograms.push(histogram),
            Record::Skip(skipped) => self.skipped.push(skipped),
            Record::Done(done) => self.done = Some(done),
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
            if let Some(old) = target.insert(key, value)
                && old != value
            {
                self.warn(
                    Some(line),
                    format!("@{kind} key {key:?} changed from {old:?} to {value:?}"),
                );
            }
        }
    }

    /// Compares `@done`'s counts with what the log actually holds.
    fn check_done(&mut self) {
        let Some(done) = self.done else {
            if !self.benches.is_empty() || !self.skipped.is_empty() {
                self.warn(
                    None,
                    "no @done record: the benchmark run did not finish".into(),
                );
            }
            return;
        };
        let seen = self.benches.len() as u64;
        if done.benches != seen {
            self.warn(
                None,
                format!(
                    "@done reports {} benchmarks but the log holds {seen}",
                    done.benches
                ),
            );
        }
        let skipped = self.skipped.len() as u64;
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
}
