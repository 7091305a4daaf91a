//! The run summary: the `summary.json` document and [`RunSummary`], what
//! the bench runner gets back to print in the terminal.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::records::{BenchResult, Fields, Skipped};
use crate::runlog::{RunLog, Warning};

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
    /// Everything the parser had to drop or found inconsistent.
    pub warnings: &'a [Warning],
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
            warnings: &log.warnings,
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
    /// Parser warnings.
    pub warnings: Vec<Warning>,
}

impl RunSummary {
    /// A plain-text table of p50/p99/max per benchmark with units, columns
    /// aligned, followed by skipped benchmarks and the warning count.
    #[must_use]
    pub fn terminal_table(&self) -> String {
        let header = ["benchmark", "p50", "p99", "max", "unit"];
        let rows: Vec<[String; 5]> = self
            .results
            .iter()
            .map(|result| {
                [
                    result.name.clone(),
                    format_value(result.p50),
                    format_value(result.p99),
                    format_value(result.max),
                    result.unit.as_str().to_owned(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut table = String::new();
        let mut push_row = |cells: [&str; 5]| {
            let [name, p50, p99, max, unit] = cells;
            let _ = writeln!(
                table,
                "{name:<w0$}  {p50:>w1$}  {p99:>w2$}  {max:>w3$}  {unit}",
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
        };
        push_row(header);
        for row in &rows {
            push_row([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
        for skipped in &self.skipped {
            let _ = writeln!(table, "skipped {}: {}", skipped.name, skipped.reason);
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
