//! The run summary: the `summary.json` document and [`RunSummary`], what
//! the bench runner gets back to print in the terminal.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use std::collections::BTreeMap;

use crate::baseline::BaselineRow;
use crate::records::{BenchResult, Fields, Skipped};
use crate::runlog::{RunLog, Warning};
use crate::stats::{RepeatStats, falling_scaling};

/// The `summary.json` document:
/// `{"meta": {..., "boot": {...}}, "results": [...], "skipped": [...], "warnings": [...]}`.
///
/// Meta and boot values stay strings exactly as the kernel wrote them (a
/// revision such as `0123456` must not turn into a number).
#[derive(Debug, Serialize)]
pub struct SummaryDocument<'a> {
    /// All `@meta` keys, plus the `@boot` keys under `"boot"`.
    pub meta: Map<String, Value>,
    /// One entry per `@bench`.
    pub results: &'a [BenchResult],
    /// One entry per `@skip`.
    pub skipped: &'a [Skipped],
    /// How many boots the run's log holds.
    pub repeat_count: usize,
    /// Each benchmark's headline value over the repeats: values, min,
    /// median, max, spread and whether it is noisy.
    pub repeats: BTreeMap<&'a str, RepeatStats>,
    /// Scaling rows whose throughput falls as CPUs are added.
    pub scaling_warnings: Vec<String>,
    /// Everything the parser had to drop or found inconsistent.
    pub warnings: &'a [Warning],
    /// The Linux baseline: each `linux.*` row, its Veridian counterpart
    /// and the Veridian / Linux ratio ([`crate::baseline`]); absent
    /// without Linux rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub linux_baseline: Vec<BaselineRow>,
}

impl<'a> SummaryDocument<'a> {
    /// Builds the document from a parsed log.
    #[must_use]
    pub fn new(log: &'a RunLog) -> Self {
        let mut meta = fields_to_json(&log.meta);
        // `boot` is reserved for the @boot keys; a @meta key of that name
        // would be lost, so it moves aside.
        if let Some(clash) = meta.remove("boot") {
            meta.insert("meta.boot".to_owned(), clash);
        }
        meta.insert("boot".to_owned(), Value::Object(fields_to_json(&log.boot)));
        Self {
            meta,
            results: &log.benches,
            skipped: &log.skipped,
            repeat_count: log.repeat_count,
            repeats: log
                .repeats
                .iter()
                .filter_map(|(name, reports)| Some((name.as_str(), RepeatStats::of(reports)?)))
                .collect(),
            scaling_warnings: falling_scaling(&log.repeats),
            warnings: &log.warnings,
            linux_baseline: crate::baseline::rows(&log.benches),
        }
    }
}

fn fields_to_json(fields: &Fields) -> Map<String, Value> {
    fields
        .iter()
        .map(|(key, value)| (key.to_owned(), Value::String(value.to_owned())))
        .collect()
}

/// What [`crate::write_run_dir`] produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run directory.
    pub dir: PathBuf,
    /// Whether the log holds `@done` (the suite ran to the end).
    pub done: bool,
    /// Benchmark results.
    pub results: Vec<BenchResult>,
    /// Skipped benchmarks.
    pub skipped: Vec<Skipped>,
    /// Every report of each benchmark, one per repeat.
    pub repeats: BTreeMap<String, Vec<BenchResult>>,
    /// Parser warnings.
    pub warnings: Vec<Warning>,
}

impl RunSummary {
    /// A plain-text table of p50/p99/max per benchmark with units, columns
    /// aligned (with repeats: also n, min and median of the headline value
    /// over the repeats, the spread, and `noisy` when it is above the row's
    /// threshold), followed by skipped benchmarks, falling scaling rows and
    /// the warning count.
    #[must_use]
    pub fn terminal_table(&self) -> String {
        let repeated = self.repeats.values().any(|r| r.len() > 1);
        let mut header = vec!["benchmark", "p50", "p99", "max", "unit"];
        if repeated {
            header.extend(["n", "min", "median", "spread"]);
        }
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
        for result in &self.results {
            let mut row = vec![
                result.name.clone(),
                format_value(result.p50),
                format_value(result.p99),
                format_value(result.max),
                result.unit.as_str().to_owned(),
            ];
            if repeated {
                match self
                    .repeats
                    .get(&result.name)
                    .and_then(|r| RepeatStats::of(r))
                {
                    Some(stats) => row.extend([
                        stats.values.len().to_string(),
                        format_value(stats.min),
                        format_value(stats.median),
                        format!(
                            "{:.1}%{}",
                            stats.spread * 100.0,
                            if stats.noisy { " noisy" } else { "" }
                        ),
                    ]),
                    None => row.extend(["1", "-", "-", "-"].map(str::to_owned)),
                }
            }
            rows.push(row);
        }
        let mut widths = vec![0; header.len()];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut table = String::new();
        for row in &rows {
            let mut line = String::new();
            for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
                match index {
                    0 => {
                        let _ = write!(line, "{cell:<width$}");
                    }
                    // The unit and the spread are text: left-aligned.
                    4 | 8 => {
                        let _ = write!(line, "  {cell:<width$}");
                    }
                    _ => {
                        let _ = write!(line, "  {cell:>width$}");
                    }
                }
            }
            table.push_str(line.trim_end());
            table.push('\n');
        }
        for skipped in &self.skipped {
            let _ = writeln!(table, "skipped {}: {}", skipped.name, skipped.reason);
        }
        for fall in falling_scaling(&self.repeats) {
            let _ = writeln!(table, "SCALING: {fall}");
        }
        if !self.done {
            table.push_str("run incomplete: no @done record\n");
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(
                table,
                "{} warning(s), see summary.json",
                self.warnings.len()
            );
        }
        table
    }
}

/// Formats a statistic: integers without decimals, others with two.
#[must_use]
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
