//! The `@bench` record: [`BenchResult`] (from a histogram, or filled in for
//! a throughput benchmark) and [`BenchLine`], which appends the optional
//! `pmu.<event>` fields before ending the line.

use core::fmt::Write;

use super::RecordError;
use super::escape::{check_finite, check_name};
use crate::Histogram;

/// Unit of a benchmark's statistics (`unit=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// TSC cycles.
    Cycles,
    /// Retired instructions (TSC under `-icount`).
    Instructions,
    /// Nanoseconds.
    Ns,
    /// Messages per second.
    MsgsPerS,
    /// Bytes per second.
    BytesPerS,
}

impl Unit {
    /// The `unit=` token.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cycles => "cycles",
            Self::Instructions => "instructions",
            Self::Ns => "ns",
            Self::MsgsPerS => "msgs_per_s",
            Self::BytesPerS => "bytes_per_s",
        }
    }
}

/// What a benchmark measures (`kind=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchKind {
    /// Cost per operation: smaller is better.
    Latency,
    /// Operations per time: bigger is better.
    Throughput,
}

impl BenchKind {
    /// The `kind=` token.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Throughput => "throughput",
        }
    }
}

/// `@bench`: one benchmark's statistics. Build it from a histogram with
/// [`BenchResult::from_histogram`], or fill it in directly for a throughput
/// benchmark that has no histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchResult<'a> {
    /// Dotted benchmark name.
    pub name: &'a str,
    /// Unit of every statistic.
    pub unit: Unit,
    /// Latency or throughput.
    pub kind: BenchKind,
    /// Samples (or repetitions).
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
}

impl<'a> BenchResult<'a> {
    /// A latency result summarising `histogram` (see the module doc).
    #[must_use]
    pub fn from_histogram(name: &'a str, unit: Unit, histogram: &Histogram) -> Self {
        let at = |quantile| histogram.value_at_quantile(quantile) as f64;
        Self {
            name,
            unit,
            kind: BenchKind::Latency,
            count: histogram.len(),
            min: histogram.min() as f64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: histogram.max() as f64,
            mean: histogram.mean(),
        }
    }

    /// Writes the line up to the fixed fields; add `pmu.<event>` fields to
    /// the returned [`BenchLine`] and [`BenchLine::finish`] it.
    ///
    /// # Errors
    ///
    /// [`RecordError::InvalidName`] or [`RecordError::NonFinite`] (nothing
    /// written), [`RecordError::Write`] when `out` fails.
    pub fn begin<'w, W: Write + ?Sized>(
        &self,
        out: &'w mut W,
    ) -> Result<BenchLine<'w, W>, RecordError> {
        check_name(self.name)?;
        let stats = [
            self.min, self.p50, self.p90, self.p99, self.p999, self.max, self.mean,
        ];
        check_finite(&stats)?;
        write!(
            out,
            "@bench v1 name={} unit={} kind={} count={}",
            self.name,
            self.unit.as_str(),
            self.kind.as_str(),
            self.count
        )?;
        for (key, value) in ["min", "p50", "p90", "p99", "p999", "max", "mean"]
            .iter()
            .zip(stats)
        {
            write!(out, " {key}={value}")?;
        }
        Ok(BenchLine { out })
    }

    /// Writes the whole line, without PMU fields.
    ///
    /// # Errors
    ///
    /// As [`BenchResult::begin`].
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<(), RecordError> {
        self.begin(out)?.finish()
    }
}

/// An `@bench` line being written: add PMU fields, then finish it.
#[must_use = "the line is only terminated by finish()"]
pub struct BenchLine<'w, W: Write + ?Sized> {
    out: &'w mut W,
}

impl<W: Write + ?Sized> BenchLine<'_, W> {
    /// Appends `pmu.<event>=<per_operation>`.
    ///
    /// # Errors
    ///
    /// [`RecordError::InvalidName`] or [`RecordError::NonFinite`] (nothing
    /// written, the line can still be finished), [`RecordError::Write`].
    pub fn pmu(&mut self, event: &str, per_operation: f64) -> Result<&mut Self, RecordError> {
        check_name(event)?;
        check_finite(&[per_operation])?;
        write!(self.out, " pmu.{event}={per_operation}")?;
        Ok(self)
    }

    /// Appends `ops=<operations>`: how many operations the benchmark's
    /// performance-model window covers when the window brackets them as
    /// one measured interval (a throughput run: the model then reports its
    /// counts per one of these operations).
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`].
    pub fn ops(&mut self, operations: u64) -> Result<&mut Self, RecordError> {
        write!(self.out, " ops={operations}")?;
        Ok(self)
    }

    /// Terminates the line.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] when the sink fails.
    pub fn finish(self) -> Result<(), RecordError> {
        self.out.write_char('\n')?;
        Ok(())
    }
}
