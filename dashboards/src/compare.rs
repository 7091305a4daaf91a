//! Run comparison: a candidate run against a baseline run, benchmark by
//! benchmark, with noise-aware verdicts and the conditions that differ.
//!
//! Ratios are candidate / baseline of each row's median headline value over
//! its repeats ([`crate::stats`]). The verdict says whether the candidate is
//! `faster`, `slower` or the `same`:
//!
//! - When both sides are deterministic (both runs under `accel=icount`, and
//!   every repeat of the row gave the same value on each side), any
//!   difference is real: the ratio decides exactly.
//! - Otherwise (TCG, KVM, or repeats that differ) the verdict comes from a
//!   95% confidence interval of the ratio over the repeats
//!   ([`crate::stats::ratio_interval`]): `slower` or `faster` only when the
//!   interval excludes 1, `same` when it holds 1, and `unsure` when a side
//!   has fewer than two repeats (no estimate of the noise).
//!
//! [`Comparison::regressions`] is the regression gate: the rows slower by
//! more than a threshold even at the favourable end of their interval.

use std::fmt;

use serde::Serialize;

use crate::records::{BenchKind, BenchResult, Unit};
use crate::run::LabeledRun;
use crate::stats::{RepeatStats, ratio_interval};

/// Condition keys whose values are measured at boot (and so differ a
/// little between any two runs); they are listed after the others.
pub const MEASURED_CONDITIONS: [&str; 2] = ["tsc_mhz", "tsc_overhead"];

/// How the candidate's row compares with the baseline's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Better beyond noise (lower latency, higher throughput).
    Faster,
    /// No difference beyond noise.
    Same,
    /// Worse beyond noise.
    Slower,
    /// Too few repeats on a noisy accelerator to tell.
    Unsure,
    /// The row cannot be compared (see the row's note).
    Missing,
}

impl Verdict {
    /// The word printed in tables.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Faster => "faster",
            Self::Same => "same",
            Self::Slower => "slower",
            Self::Unsure => "unsure",
            Self::Missing => "-",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A measurement condition whose value differs between the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionDiff {
    /// The `@meta` key, or `boot.<key>` for a key only `@boot` has.
    pub key: String,
    /// The baseline's value, `None` when it does not report the key.
    pub baseline: Option<String>,
    /// The candidate's value.
    pub candidate: Option<String>,
    /// The key is measured at boot ([`MEASURED_CONDITIONS`]).
    pub measured: bool,
}

/// One benchmark of the candidate against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// Benchmark name.
    pub name: String,
    /// Latency or throughput (the baseline's).
    pub kind: BenchKind,
    /// Unit of both sides' values.
    pub unit: Unit,
    /// The baseline's repeats, when it has the row.
    pub baseline: Option<RepeatStats>,
    /// The candidate's repeats, when it has the row.
    pub candidate: Option<RepeatStats>,
    /// Candidate median / baseline median.
    pub ratio: Option<f64>,
    /// 95% confidence interval of the ratio; equal bounds for exact rows.
    pub interval: Option<(f64, f64)>,
    /// The verdict.
    pub verdict: Verdict,
    /// Both sides are deterministic and the verdict is exact.
    pub exact: bool,
    /// Why there is no verdict, or what to know about it.
    pub note: Option<String>,
}

impl CompareRow {
    /// How much slower the candidate is at the favourable end of the
    /// interval, as a fraction of the baseline's time per operation (0.1 =
    /// 10% slower); `None` without an interval. For throughput the time per
    /// operation is the inverse of the rate.
    #[must_use]
    pub fn least_slowdown(&self) -> Option<f64> {
        let (lo, hi) = self.interval?;
        Some(match self.kind {
            BenchKind::Latency => lo - 1.0,
            BenchKind::Throughput => 1.0 / hi - 1.0,
        })
    }
}

/// A candidate run against a baseline run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Conditions whose values differ, conditions set by hand first, then
    /// the measured ones.
    pub conditions: Vec<ConditionDiff>,
    /// Both runs ran under `accel=icount` (instruction counts: exact).
    pub deterministic: bool,
    /// One row per benchmark of either run: the baseline's order, then the
    /// candidate's new ones.
    pub rows: Vec<CompareRow>,
}

impl Comparison {
    /// Compares `candidate` with `baseline`.
    #[must_use]
    pub fn new(baseline: &LabeledRun, candidate: &LabeledRun) -> Self {
        let deterministic = [baseline, candidate]
            .iter()
            .all(|run| run.log.meta.get("accel") == Some("icount"));
        let mut names: Vec<&str> = baseline
            .log
            .benches
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        for bench in &candidate.log.benches {
            if !names.contains(&bench.name.as_str()) {
                names.push(&bench.name);
            }
        }
        let rows = names
            .into_iter()
            .map(|name| {
                compare_row(
                    name,
                    side(baseline, name),
                    side(candidate, name),
                    deterministic,
                )
            })
            .collect();
        Self {
            conditions: differing_conditions(baseline, candidate),
            deterministic,
            rows,
        }
    }

    /// Rows slower than the baseline by more than `percent` at the
    /// favourable end of their interval (exactly, for deterministic rows).
    #[must_use]
    pub fn regressions(&self, percent: f64) -> Vec<&CompareRow> {
        self.rows
            .iter()
            .filter(|row| {
                row.verdict == Verdict::Slower
                    && row
                        .least_slowdown()
                        .is_some_and(|slowdown| slowdown * 100.0 > percent)
            })
            .collect()
    }

    /// A plain-text report: differing conditions, then one line per row.
    #[must_use]
    pub fn terminal_report(&self, baseline_label: &str, candidate_label: &str) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "comparison: candidate {candidate_label} against baseline {baseline_label} \
             (ratio = candidate / baseline; {})",
            if self.deterministic {
                "icount: exact"
            } else {
                "95% interval over repeats"
            }
        );
        if self.conditions.is_empty() {
            out.push_str("  conditions: identical\n");
        }
        for diff in &self.conditions {
            let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not reported)".into());
            let _ = writeln!(
                out,
                "  CONDITION DIFFERS{}: {}: baseline {} -> candidate {}",
                if diff.measured { " (measured)" } else { "" },
                diff.key,
                value(&diff.baseline),
                value(&diff.candidate)
            );
        }
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(9)
            .max(9);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>12}  {:>12}  {:>8}  {:>19}  verdict",
            "benchmark", "baseline", "candidate", "ratio", "95% interval"
        );
        let median = |s: &Option<RepeatStats>| {
            s.as_ref()
                .map_or("-".into(), |s| crate::format_value(s.median))
        };
        for row in &self.rows {
            let interval = row.interval.map_or("-".into(), |(lo, hi)| {
                if row.exact {
                    "exact".to_owned()
                } else {
                    format!("[{lo:.3}, {hi:.3}]")
                }
            });
            let noisy = [&row.baseline, &row.candidate]
                .iter()
                .any(|s| s.as_ref().is_some_and(|s| s.noisy));
            let _ = writeln!(
                out,
                "  {:<width$}  {:>12}  {:>12}  {:>8}  {:>19}  {}{}{}",
                row.name,
                median(&row.baseline),
                median(&row.candidate),
                row.ratio.map_or("-".into(), |r| format!("{r:.3}")),
                interval,
                if row.verdict == Verdict::Slower {
                    "SLOWER".to_owned()
                } else {
                    row.verdict.to_string()
                },
                if noisy { " (noisy)" } else { "" },
                row.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
        out
    }
}

/// A run's repeats of benchmark `name` (its last report when the repeats
/// map lacks it).
fn side<'a>(run: &'a LabeledRun, name: &str) -> Option<&'a [BenchResult]> {
    run.log
        .repeats
        .get(name)
        .map(Vec::as_slice)
        .filter(|r| !r.is_empty())
        .or_else(|| {
            run.log
                .benches
                .iter()
                .position(|b| b.name == name)
                .map(|i| std::slice::from_ref(&run.log.benches[i]))
        })
}

fn compare_row(
    name: &str,
    baseline: Option<&[BenchResult]>,
    candidate: Option<&[BenchResult]>,
    deterministic: bool,
) -> CompareRow {
    let first = baseline.or(candidate).and_then(<[BenchResult]>::first);
    let mut row = CompareRow {
        name: name.to_owned(),
        kind: first.map_or(BenchKind::Latency, |b| b.kind),
        unit: first.map_or(Unit::Cycles, |b| b.unit),
        baseline: baseline.and_then(RepeatStats::of),
        candidate: candidate.and_then(RepeatStats::of),
        ratio: None,
        interval: None,
        verdict: Verdict::Missing,
        exact: false,
        note: None,
    };
    let (Some(base), Some(cand)) = (baseline, candidate) else {
        row.note = Some(
            if baseline.is_none() {
                "not in the baseline"
            } else {
                "not in the candidate"
            }
            .to_owned(),
        );
        return row;
    };
    if base
        .iter()
        .chain(cand)
        .any(|b| b.unit != row.unit || b.kind != row.kind)
    {
        row.note = Some("unit or kind differs".to_owned());
        return row;
    }
    let (Some(bs), Some(cs)) = (&row.baseline, &row.candidate) else {
        row.note = Some("a value is not finite".to_owned());
        return row;
    };
    if bs.median <= 0.0 || cs.median <= 0.0 {
        row.note = Some("a median is zero".to_owned());
        return row;
    }
    let ratio = cs.median / bs.median;
    row.ratio = Some(ratio);
    let larger_is_better = row.kind == BenchKind::Throughput;
    let direction = |candidate_larger: bool| {
        if candidate_larger == larger_is_better {
            Verdict::Faster
        } else {
            Verdict::Slower
        }
    };
    if deterministic && bs.constant() && cs.constant() {
        row.exact = true;
        row.interval = Some((ratio, ratio));
        row.verdict = if ratio == 1.0 {
            Verdict::Same
        } else {
            direction(ratio > 1.0)
        };
        return row;
    }
    match ratio_interval(&bs.values, &cs.values) {
        Some((lo, hi)) => {
            row.interval = Some((lo, hi));
            row.verdict = if lo > 1.0 {
                direction(true)
            } else if hi < 1.0 {
                direction(false)
            } else {
                Verdict::Same
            };
        }
        None => {
            row.verdict = Verdict::Unsure;
            row.note = Some(format!(
                "{} and {} repeat(s): at least 2 a side are needed under a noisy accelerator",
                bs.values.len(),
                cs.values.len()
            ));
        }
    }
    row
}

/// The `@meta` keys (then `@boot`-only keys as `boot.<key>`) whose values
/// differ between the runs, measured ones last.
fn differing_conditions(baseline: &LabeledRun, candidate: &LabeledRun) -> Vec<ConditionDiff> {
    let mut diffs: Vec<ConditionDiff> = Vec::new();
    let mut consider = |key: String, base: Option<&str>, cand: Option<&str>| {
        if base != cand && !diffs.iter().any(|d| d.key == key) {
            let measured = MEASURED_CONDITIONS.contains(&key.trim_start_matches("boot."));
            diffs.push(ConditionDiff {
                key,
                baseline: base.map(str::to_owned),
                candidate: cand.map(str::to_owned),
                measured,
            });
        }
    };
    for run in [baseline, candidate] {
        for (key, _) in run.log.meta.iter() {
            consider(
                key.to_owned(),
                baseline.log.meta.get(key),
                candidate.log.meta.get(key),
            );
        }
    }
    for run in [baseline, candidate] {
        for (key, _) in run.log.boot.iter() {
            let in_meta =
                baseline.log.meta.get(key).is_some() || candidate.log.meta.get(key).is_some();
            if !in_meta {
                consider(
                    format!("boot.{key}"),
                    baseline.log.boot.get(key),
                    candidate.log.boot.get(key),
                );
            }
        }
    }
    diffs.sort_by_key(|d| d.measured);
    diffs
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

    fn bench(name: &str, kind: &str, unit: &str, p50: f64) -> String {
        format!(
            "@bench v1 name={name} unit={unit} kind={kind} count=10 min=1 p50={p50} p90={p50} \
             p99={p50} p999={p50} max={p50} mean={p50}\n"
        )
    }

    /// A log of `repeats` boots under `accel`, each reporting every
    /// `(name, kind, values)` row with its value for that repeat.
    fn repeated(accel: &str, extra_meta: &str, rows: &[(&str, &str, &[f64])]) -> String {
        let repeats = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
        let mut log = String::new();
        for i in 0..repeats {
            log += &format!("@boot v1 cpus=2\n@meta v1 accel={accel} {extra_meta}\n");
            let mut n = 0;
            for (name, kind, values) in rows {
                if let Some(v) = values.get(i) {
                    let unit = if *kind == "latency" {
                        "cycles"
                    } else {
                        "msgs_per_s"
                    };
                    log += &bench(name, kind, unit, *v);
                    n += 1;
                }
            }
            log += &format!("@done v1 benches={n} skipped=0\n");
        }
        log
    }

    fn row<'a>(c: &'a Comparison, name: &str) -> &'a CompareRow {
        c.rows.iter().find(|r| r.name == name).unwrap()
    }

    #[test]
    fn icount_rows_compare_exactly_and_swapping_flips_verdicts() {
        let fast = run(
            "fast",
            &repeated(
                "icount",
                "ipc_fastpath=on",
                &[
                    ("ipc.call.same_cpu", "latency", &[375.0]),
                    ("tput", "throughput", &[1000.0]),
                    ("same", "latency", &[50.0]),
                ],
            ),
        );
        let slow = run(
            "slow",
            &repeated(
                "icount",
                "ipc_fastpath=off",
                &[
                    ("ipc.call.same_cpu", "latency", &[4243.0]),
                    ("tput", "throughput", &[999.0]),
                    ("same", "latency", &[50.0]),
                ],
            ),
        );
        let c = Comparison::new(&fast, &slow);
        assert!(c.deterministic);
        let call = row(&c, "ipc.call.same_cpu");
        assert_eq!((call.verdict, call.exact), (Verdict::Slower, true));
        assert!((call.ratio.unwrap() - 4243.0 / 375.0).abs() < 1e-12);
        // One fewer message per second is slower, exactly.
        assert_eq!(row(&c, "tput").verdict, Verdict::Slower);
        assert_eq!(row(&c, "same").verdict, Verdict::Same);
        let gate: Vec<&str> = c.regressions(5.0).iter().map(|r| r.name.as_str()).collect();
        assert_eq!(gate, ["ipc.call.same_cpu"], "0.1% is within the 5% gate");
        assert_eq!(c.regressions(0.05).len(), 2);
        assert_eq!(
            c.conditions,
            [ConditionDiff {
                key: "ipc_fastpath".into(),
                baseline: Some("on".into()),
                candidate: Some("off".into()),
                measured: false,
            }]
        );

        let swapped = Comparison::new(&slow, &fast);
        assert_eq!(row(&swapped, "ipc.call.same_cpu").verdict, Verdict::Faster);
        assert_eq!(row(&swapped, "tput").verdict, Verdict::Faster);
        assert_eq!(row(&swapped, "same").verdict, Verdict::Same);
        assert!(swapped.regressions(5.0).is_empty());
        assert_eq!(swapped.conditions[0].baseline.as_deref(), Some("off"));
    }

    #[test]
    fn noisy_rows_need_a_difference_beyond_their_interval() {
        let rows_a: &[(&str, &str, &[f64])] = &[
            ("clear", "latency", &[1000.0, 1020.0, 990.0]),
            ("noisy", "latency", &[1000.0, 1500.0, 700.0]),
            ("tput", "throughput", &[7.16e6, 7.0e6, 7.3e6]),
            ("lonely", "latency", &[100.0]),
        ];
        let rows_b: &[(&str, &str, &[f64])] = &[
            ("clear", "latency", &[1200.0, 1190.0, 1230.0]),
            ("noisy", "latency", &[1300.0, 800.0, 1100.0]),
            ("tput", "throughput", &[9.1e4, 1.2e5, 1.0e5]),
            ("lonely", "latency", &[300.0]),
        ];
        let a = run("a", &repeated("tcg", "", rows_a));
        let b = run("b", &repeated("tcg", "", rows_b));
        let c = Comparison::new(&a, &b);
        assert!(!c.deterministic);
        assert_eq!(row(&c, "clear").verdict, Verdict::Slower);
        assert!(!row(&c, "clear").exact);
        let noisy = row(&c, "noisy");
        assert_eq!(noisy.verdict, Verdict::Same, "{noisy:?}");
        assert!(noisy.baseline.as_ref().unwrap().noisy && noisy.candidate.as_ref().unwrap().noisy);
        assert_eq!(row(&c, "tput").verdict, Verdict::Slower);
        let lonely = row(&c, "lonely");
        assert_eq!(lonely.verdict, Verdict::Unsure);
        assert!(lonely.note.as_ref().unwrap().contains("1 and 1 repeat(s)"));
        // 3x slower but with one sample a side: the gate does not fire on it.
        let gated: Vec<&str> = c.regressions(5.0).iter().map(|r| r.name.as_str()).collect();
        assert_eq!(gated, ["clear", "tput"]);
        // `clear` is ~20% slower: its interval's near end is above 10%
        // but not above 19.9%.
        assert!(c.regressions(10.0).iter().any(|r| r.name == "clear"));
        assert!(!c.regressions(19.9).iter().any(|r| r.name == "clear"));

        let swapped = Comparison::new(&b, &a);
        assert_eq!(row(&swapped, "clear").verdict, Verdict::Faster);
        assert_eq!(row(&swapped, "tput").verdict, Verdict::Faster);
        assert_eq!(row(&swapped, "noisy").verdict, Verdict::Same);
        assert_eq!(row(&swapped, "lonely").verdict, Verdict::Unsure);
        assert!(swapped.regressions(0.0).is_empty());
    }

    #[test]
    fn icount_rows_whose_repeats_differ_are_judged_statistically() {
        let a = run(
            "a",
            &repeated("icount", "", &[("x", "latency", &[100.0, 101.0])]),
        );
        let b = run(
            "b",
            &repeated("icount", "", &[("x", "latency", &[100.0, 100.0])]),
        );
        let c = Comparison::new(&a, &b);
        assert!(!row(&c, "x").exact);
        assert_eq!(row(&c, "x").verdict, Verdict::Same);
    }

    #[test]
    fn mixed_accelerators_are_not_exact_and_the_difference_is_shown() {
        let a = run("a", &repeated("icount", "", &[("x", "latency", &[100.0])]));
        let b = run("b", &repeated("tcg", "", &[("x", "latency", &[100.0])]));
        let c = Comparison::new(&a, &b);
        assert!(!c.deterministic);
        assert_eq!(row(&c, "x").verdict, Verdict::Unsure);
        assert_eq!(c.conditions[0].key, "accel");
        let report = c.terminal_report("a", "b");
        assert!(
            report.contains("CONDITION DIFFERS: accel: baseline icount -> candidate tcg"),
            "{report}"
        );
    }

    #[test]
    fn rows_missing_or_of_another_unit_have_notes() {
        let a = run(
            "a",
            &(bench("gone", "latency", "cycles", 1.0)
                + &bench("unit", "latency", "cycles", 5.0)
                + &bench("zero", "latency", "cycles", 0.0)),
        );
        let b = run(
            "b",
            &(bench("unit", "latency", "ns", 5.0)
                + &bench("zero", "latency", "cycles", 3.0)
                + &bench("new", "latency", "cycles", 3.0)),
        );
        let c = Comparison::new(&a, &b);
        let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["gone", "unit", "zero", "new"]);
        assert_eq!(
            row(&c, "gone").note.as_deref(),
            Some("not in the candidate")
        );
        assert_eq!(row(&c, "new").note.as_deref(), Some("not in the baseline"));
        assert_eq!(
            row(&c, "unit").note.as_deref(),
            Some("unit or kind differs")
        );
        assert_eq!(row(&c, "zero").note.as_deref(), Some("a median is zero"));
        assert!(
            c.rows
                .iter()
                .all(|r| r.verdict == Verdict::Missing && r.ratio.is_none())
        );
        assert!(c.regressions(0.0).is_empty());
    }

    #[test]
    fn measured_conditions_come_last() {
        let a = run(
            "a",
            "@meta v1 accel=tcg tsc_mhz=2600.1 rev=a\n@boot v1 mem_mib=512\n",
        );
        let b = run(
            "b",
            "@meta v1 accel=tcg tsc_mhz=2599.8 rev=b\n@boot v1 mem_mib=1024\n",
        );
        let keys: Vec<(String, bool)> = Comparison::new(&a, &b)
            .conditions
            .into_iter()
            .map(|d| (d.key, d.measured))
            .collect();
        assert_eq!(
            keys,
            [
                ("rev".to_owned(), false),
                ("boot.mem_mib".to_owned(), false),
                ("tsc_mhz".to_owned(), true)
            ]
        );
    }
}
