//! Run comparison: the ratio of every benchmark's p50 and p99 in run k to
//! run 1, flagged when run k is more than 5% slower.

use crate::records::{BenchKind, BenchResult};
use crate::run::LabeledRun;

/// How much worse than run 1 a run may be before it is flagged (5%).
pub const SLOWDOWN_TOLERANCE: f64 = 0.05;

/// One benchmark of run k against the same benchmark of run 1.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioRow {
    /// Benchmark name.
    pub name: String,
    /// 0-based index of run k (always at least 1).
    pub run: usize,
    /// p50 of run k / p50 of run 1, when both exist and are comparable.
    pub p50_ratio: Option<f64>,
    /// p99 of run k / p99 of run 1, likewise.
    pub p99_ratio: Option<f64>,
    /// Run k is more than [`SLOWDOWN_TOLERANCE`] slower at p50 or p99.
    pub slower: bool,
    /// Why ratios are missing, if they are.
    pub note: Option<&'static str>,
}

/// Compares every later run with the first, benchmark by benchmark (in run
/// 1's order). Latency is slower when the ratio is above 1.05, throughput
/// when it is below 0.95. A benchmark absent from run k, or measured in a
/// different unit or kind, gets a row with no ratios and a note.
#[must_use]
pub fn ratio_table(runs: &[LabeledRun]) -> Vec<RatioRow> {
    let Some((baseline, others)) = runs.split_first() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for base in &baseline.log.benches {
        for (offset, other) in others.iter().enumerate() {
            rows.push(compare_one(base, other.log.bench(&base.name), offset + 1));
        }
    }
    rows
}

fn compare_one(base: &BenchResult, other: Option<&BenchResult>, run: usize) -> RatioRow {
    let mut row = RatioRow {
        name: base.name.clone(),
        run,
        p50_ratio: None,
        p99_ratio: None,
        slower: false,
        note: None,
    };
    let Some(other) = other else {
        row.note = Some("absent from this run");
        return row;
    };
    if other.unit != base.unit || other.kind != base.kind {
        row.note = Some("unit or kind differs");
        return row;
    }
    row.p50_ratio = ratio(other.p50, base.p50);
    row.p99_ratio = ratio(other.p99, base.p99);
    if row.p50_ratio.is_none() && row.p99_ratio.is_none() {
        row.note = Some("run 1 value is zero");
    }
    row.slower = [row.p50_ratio, row.p99_ratio]
        .into_iter()
        .flatten()
        .any(|ratio| is_slower(base.kind, ratio));
    row
}

fn ratio(value: f64, baseline: f64) -> Option<f64> {
    (baseline != 0.0).then(|| value / baseline)
}

/// Whether `ratio` (run k / run 1) means run k is slower beyond tolerance.
#[must_use]
pub fn is_slower(kind: BenchKind, ratio: f64) -> bool {
    match kind {
        BenchKind::Latency => ratio > 1.0 + SLOWDOWN_TOLERANCE,
        BenchKind::Throughput => ratio < 1.0 - SLOWDOWN_TOLERANCE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runlog::RunLog;

    fn run(label: &str, lines: &str) -> LabeledRun {
        LabeledRun {
            label: label.to_owned(),
            log: RunLog::parse(lines),
        }
    }

    fn bench(name: &str, kind: &str, unit: &str, p50: u32, p99: u32) -> String {
        format!(
            "@bench v1 name={name} unit={unit} kind={kind} count=10 min=1 p50={p50} p90={p50} \
             p99={p99} p999={p99} max={p99} mean={p50}\n"
        )
    }

    #[test]
    fn flags_latency_and_throughput_regressions_by_direction() {
        let first = bench("lat", "latency", "cycles", 100, 200)
            + &bench("tput", "throughput", "msgs_per_s", 1000, 1000)
            + &bench("same", "latency", "cycles", 100, 100)
            + &bench("gone", "latency", "cycles", 1, 1)
            + &bench("zero", "latency", "cycles", 0, 0)
            + &bench("unit", "latency", "cycles", 5, 5);
        let second = bench("lat", "latency", "cycles", 106, 200)
            + &bench("tput", "throughput", "msgs_per_s", 940, 1000)
            + &bench("same", "latency", "cycles", 104, 96)
            + &bench("zero", "latency", "cycles", 3, 3)
            + &bench("unit", "latency", "ns", 5, 5);
        let rows = ratio_table(&[run("a", &first), run("b", &second)]);
        let by_name = |name: &str| rows.iter().find(|row| row.name == name).unwrap();

        assert_eq!(rows.len(), 6);
        assert!(by_name("lat").slower);
        assert_eq!(by_name("lat").p50_ratio, Some(1.06));
        assert_eq!(by_name("lat").p99_ratio, Some(1.0));
        assert!(by_name("tput").slower);
        assert_eq!(by_name("tput").p50_ratio, Some(0.94));
        assert!(!by_name("same").slower);
        assert_eq!(by_name("gone").note, Some("absent from this run"));
        assert_eq!(by_name("gone").p50_ratio, None);
        assert_eq!(by_name("zero").note, Some("run 1 value is zero"));
        assert_eq!(by_name("unit").note, Some("unit or kind differs"));
        assert!(rows.iter().all(|row| row.run == 1));
    }

    #[test]
    fn a_single_run_has_no_ratios() {
        let only = bench("lat", "latency", "cycles", 1, 2);
        assert!(ratio_table(&[run("a", &only)]).is_empty());
        assert!(ratio_table(&[]).is_empty());
    }
}
