//! The serial record parser: one console line in, at most one typed
//! [`Record`] out.
//!
//! The contract (shared with the kernel's encoder in `perf/src/record.rs`):
//! a record starts at the first `@<kind> v<N> ` on a line, possibly after
//! other console output, and continues as space-separated, percent-escaped
//! `key=value` fields. Plain test-runner lines (`test <name> ... ok`,
//! `test <name> ... FAILED: <why>`, `<N> passed, <M> failed`) are records too.
//! Every malformed line yields a [`ParseError`] saying why; nothing panics.

mod fields;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use thiserror::Error;

pub use fields::Fields;
use fields::{find_header, parse_finite, parse_number};

use crate::hdr::decode_histogram;

/// The only record version this parser understands.
pub const SUPPORTED_VERSION: u32 = 1;

/// One parsed line of a serial log.
#[derive(Debug, Clone)]
pub enum Record {
    /// `@boot`: how the kernel was booted (arbitrary keys).
    Boot(Fields),
    /// `@meta`: the measurement conditions of the run (arbitrary keys).
    Meta(Fields),
    /// `@progress`: how far a benchmark has got.
    Progress(Progress),
    /// `@bench`: the summary statistics of one benchmark.
    Bench(BenchResult),
    /// `@hist`: the full HdrHistogram of one benchmark.
    Hist(HistRecord),
    /// `@skip`: a benchmark that did not run, and why.
    Skip(Skipped),
    /// `@done`: the benchmark suite finished.
    Done(SuiteDone),
    /// A record kind this tool does not use (`@audit`, or anything newer).
    Ignored {
        /// The record kind.
        kind: String,
    },
    /// `test <name> ... ok` or `test <name> ... FAILED: <why>`.
    Test(TestOutcome),
    /// `<N> passed, <M> failed`.
    TestTotals(TestTotals),
}

/// `@progress v1 name=<bench> done=<n> total=<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Benchmark name.
    pub name: String,
    /// Iterations done so far.
    pub done: u64,
    /// Iterations planned.
    pub total: u64,
}

/// What a benchmark measures, which decides whether bigger is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchKind {
    /// Time (or work) per operation: smaller is better.
    Latency,
    /// Operations per unit of time: bigger is better.
    Throughput,
}

/// The unit of a benchmark's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// TSC cycles.
    Cycles,
    /// Retired instructions (also what the TSC counts under TCG `-icount`).
    Instructions,
    /// Nanoseconds.
    Ns,
    /// Messages per second.
    MsgsPerS,
    /// Bytes per second.
    BytesPerS,
}

impl Unit {
    /// The spelling used in the serial log and in `summary.json`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cycles => "cycles",
            Self::Instructions => "instructions",
            Self::Ns => "ns",
            Self::MsgsPerS => "msgs_per_s",
            Self::BytesPerS => "bytes_per_s",
        }
    }
}

/// `@bench v1 ...`: one benchmark's statistics, exactly the shape of a
/// `summary.json` result entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchResult {
    /// Dotted benchmark name, such as `ipc.call.same_cpu`.
    pub name: String,
    /// Unit of every statistic below.
    pub unit: Unit,
    /// Latency or throughput.
    pub kind: BenchKind,
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// PMU events per operation (`pmu.<event>=<f64>`), `None` when the run
    /// had no PMU or the benchmark reported none.
    pub pmu: Option<BTreeMap<String, f64>>,
    /// The performance model's counts per operation (`model.<field>=<f64>`,
    /// added by `veridian-run bench --model` from the QEMU plugin's
    /// output), `None` without the model. Absent from `summary.json` then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<BTreeMap<String, f64>>,
}

/// `@hist v1 name=<bench> Tag=<bench>,<start_s>,<interval_s>,<max>,<base64>`.
#[derive(Debug, Clone)]
pub struct HistRecord {
    /// Benchmark name from `name=`.
    pub name: String,
    /// The interval-log tag (normally the benchmark name).
    pub tag: String,
    /// Interval start, seconds since boot.
    pub start: Duration,
    /// Interval length.
    pub interval: Duration,
    /// The interval's maximum as written on the line.
    pub max: f64,
    /// The decoded histogram.
    pub histogram: Histogram<u64>,
}

/// `@skip v1 name=.. reason=..`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Benchmark name.
    pub name: String,
    /// Why it did not run.
    pub reason: String,
}

/// `@done v1 benches=<n> skipped=<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuiteDone {
    /// Benchmarks the kernel reported.
    pub benches: u64,
    /// Benchmarks the kernel skipped.
    pub skipped: u64,
}

/// One in-kernel test result line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestOutcome {
    /// Test name.
    pub name: String,
    /// `None` when the test passed, else the failure reason (may be empty).
    pub failure: Option<String>,
}

/// The `<N> passed, <M> failed` line closing a kernel test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TestTotals {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
}

/// Why a line that looked like a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A known record kind with a version this parser does not know.
    #[error("unsupported version v{version} of @{kind} (this tool reads v{SUPPORTED_VERSION})")]
    UnsupportedVersion {
        /// Record kind.
        kind: String,
        /// Version text after `v`.
        version: String,
    },
    /// A token without `=` or with an empty key: the line was cut short or
    /// overwritten by other console output.
    #[error("malformed field {0:?} (truncated or interleaved line?)")]
    MalformedField(String),
    /// The same key twice on one line.
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    /// A required key is absent.
    #[error("missing key {0:?} (truncated line?)")]
    MissingKey(String),
    /// A numeric field does not hold a (finite) number.
    #[error("field {key:?} is not a valid number: {value:?}")]
    InvalidNumber {
        /// Key of the field.
        key: String,
        /// Its text.
        value: String,
    },
    /// A field holds a word outside its documented set.
    #[error("field {key:?} has unknown value {value:?}")]
    UnknownValue {
        /// Key of the field.
        key: String,
        /// Its text.
        value: String,
    },
    /// The interval-log part of a `@hist` record is malformed.
    #[error("bad histogram: {0}")]
    BadHistogram(String),
}

/// Parses one console line.
///
/// Returns `None` for lines that carry no record (ordinary console output),
/// `Some(Ok(_))` for a record, and `Some(Err(_))` for a line that starts a
/// record but cannot be read.
#[must_use]
pub fn parse_line(line: &str) -> Option<Result<Record, ParseError>> {
    if let Some(header) = find_header(line) {
        return Some(parse_record(header.kind, header.version, header.body));
    }
    parse_test_line(line).map(Ok)
}

fn parse_record(kind: &str, version: &str, body: &str) -> Result<Record, ParseError> {
    const KNOWN: [&str; 7] = ["boot", "meta", "progress", "bench", "hist", "skip", "done"];
    if !KNOWN.contains(&kind) {
        return Ok(Record::Ignored {
            kind: kind.to_owned(),
        });
    }
    if version.parse::<u32>().ok() != Some(SUPPORTED_VERSION) {
        return Err(ParseError::UnsupportedVersion {
            kind: kind.to_owned(),
            version: version.to_owned(),
        });
    }
    let fields = Fields::parse(body)?;
    match kind {
        "boot" => Ok(Record::Boot(fields)),
        "meta" => Ok(Record::Meta(fields)),
        "progress" => Ok(Record::Progress(Progress {
            name: fields.required("name")?.to_owned(),
            done: fields.required_u64("done")?,
            total: fields.required_u64("total")?,
        })),
        "bench" => parse_bench(&fields).map(Record::Bench),
        "hist" => parse_hist(&fields).map(Record::Hist),
        "skip" => Ok(Record::Skip(Skipped {
            name: fields.required("name")?.to_owned(),
            reason: fields.required("reason")?.to_owned(),
        })),
        _ => Ok(Record::Done(SuiteDone {
            benches: fields.required_u64("benches")?,
            skipped: fields.required_u64("skipped")?,
        })),
    }
}

fn parse_bench(fields: &Fields) -> Result<BenchResult, ParseError> {
    let unit = match fields.required("unit")? {
        "cycles" => Unit::Cycles,
        "instructions" => Unit::Instructions,
        "ns" => Unit::Ns,
        "msgs_per_s" => Unit::MsgsPerS,
        "bytes_per_s" => Unit::BytesPerS,
        other => return Err(unknown_value("unit", other)),
    };
    let kind = match fields.required("kind")? {
        "latency" => BenchKind::Latency,
        "throughput" => BenchKind::Throughput,
        other => return Err(unknown_value("kind", other)),
    };
    let mut pmu = BTreeMap::new();
    let mut model = BTreeMap::new();
    for (key, value) in fields.iter() {
        if let Some(event) = key.strip_prefix("pmu.") {
            pmu.insert(event.to_owned(), parse_finite(key, value)?);
        } else if let Some(field) = key.strip_prefix("model.") {
            model.insert(field.to_owned(), parse_finite(key, value)?);
        }
    }
    Ok(BenchResult {
        name: fields.required("name")?.to_owned(),
        unit,
        kind,
        count: fields.required_u64("count")?,
        min: fields.required_f64("min")?,
        p50: fields.required_f64("p50")?,
        p90: fields.required_f64("p90")?,
        p99: fields.required_f64("p99")?,
        p999: fields.required_f64("p999")?,
        max: fields.required_f64("max")?,
        mean: fields.required_f64("mean")?,
        pmu: (!pmu.is_empty()).then_some(pmu),
        model: (!model.is_empty()).then_some(model),
    })
}

fn unknown_value(key: &str, value: &str) -> ParseError {
    ParseError::UnknownValue {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

/// Reads the standard interval-log line held by `Tag=`:
/// `<tag>,<start_s>,<interval_s>,<max>,<base64 compressed V2 histogram>`.
fn parse_hist(fields: &Fields) -> Result<HistRecord, ParseError> {
    let name = fields.required("name")?.to_owned();
    let interval_line = fields.required("Tag")?;
    let parts: Vec<&str> = interval_line.splitn(5, ',').collect();
    let [tag, start, interval, max, payload] = parts[..] else {
        return Err(ParseError::BadHistogram(format!(
            "expected 5 comma-separated parts after Tag=, found {}",
            parts.len()
        )));
    };
    let seconds = |key: &str, text: &str| {
        let value: f64 = parse_number(key, text)?;
        Duration::try_from_secs_f64(value).map_err(|_| ParseError::InvalidNumber {
            key: key.to_owned(),
            value: text.to_owned(),
        })
    };
    Ok(HistRecord {
        name,
        tag: tag.to_owned(),
        start: seconds("start_s", start)?,
        interval: seconds("interval_len_s", interval)?,
        max: parse_finite("max", max)?,
        histogram: decode_histogram(payload)
            .map_err(|error| ParseError::BadHistogram(error.to_string()))?,
    })
}

/// Recognises the plain test-runner lines; `None` for anything else.
fn parse_test_line(line: &str) -> Option<Record> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("test ") {
        let (name, verdict) = rest.split_once(" ... ")?;
        let failure = if verdict == "ok" {
            None
        } else {
            let reason = verdict.strip_prefix("FAILED")?;
            Some(reason.trim_start_matches(':').trim().to_owned())
        };
        return Some(Record::Test(TestOutcome {
            name: name.to_owned(),
            failure,
        }));
    }
    parse_test_totals(line).map(Record::TestTotals)
}

/// `<N> passed, <M> failed`, optionally after one `word:` and followed by
/// `, <K> skipped`.
fn parse_test_totals(line: &str) -> Option<TestTotals> {
    let line = match line.split_once(": ") {
        Some((word, rest)) if !word.contains(' ') => rest,
        _ => line,
    };
    let (passed, rest) = line.split_once(" passed, ")?;
    let failed = rest.strip_suffix(" failed").or_else(|| {
        let (failed, skipped) = rest.split_once(" failed, ")?;
        let count = skipped.strip_suffix(" skipped")?;
        count.parse::<u64>().ok().map(|_| failed)
    })?;
    Some(TestTotals {
        passed: passed.parse().ok()?,
        failed: failed.parse().ok()?,
    })
}
