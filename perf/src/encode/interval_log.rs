//! HdrHistogram interval-log text (`.hlog`), exactly as the `hdrhistogram`
//! crate's `IntervalLogWriter` writes it and `IntervalLogIterator` reads it.
//!
//! An interval line is
//! `[Tag=<tag>,]<start_s>,<interval_s>,<max>,<base64 compressed V2>` where
//! the three numbers use `{:.3}` (three decimals, no exponent), the seconds
//! are `as_secs() + subsec_nanos() / 1e9` as `f64`, and `<max>` is the
//! histogram's `max()` divided by the log's max-value divisor (1.0 unless
//! the header says otherwise). The header lines are the crate's
//! (`#<comment>`, `#[StartTime: ...]`, `#[BaseTime: ...]`,
//! `#[MaxValueDivisor: ...]`) plus the Java writer's legend line, which the
//! crate's reader skips.

use core::fmt::Write;
use core::time::Duration;

use super::{EncodeError, write_base64_compressed_v2};
use crate::Histogram;

/// The column legend HdrHistogram's Java `HistogramLogWriter` writes after
/// the header; readers (Java, Python, the Rust crate) skip it.
pub const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Where and how long one histogram interval was, and how it is labelled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalLogLine<'a> {
    /// Optional `Tag=`: non-empty, no `,`, space, `\r` or `\n`.
    pub tag: Option<&'a str>,
    /// Start of the interval, relative to the log's start/base time.
    pub start: Duration,
    /// Length of the interval.
    pub interval: Duration,
    /// `max()` is divided by this before being written (1.0 = unchanged;
    /// e.g. `tsc_hz / 1e3` to show cycles as milliseconds). Must be positive
    /// and finite.
    pub max_value_divisor: f64,
}

impl<'a> IntervalLogLine<'a> {
    /// A tagged line with divisor 1.0.
    #[must_use]
    pub const fn tagged(tag: &'a str, start: Duration, interval: Duration) -> Self {
        Self {
            tag: Some(tag),
            start,
            interval,
            max_value_divisor: 1.0,
        }
    }
}

/// True when `tag` can be written as an interval-log tag (the crate's
/// `Tag::new` rules, plus non-empty so the field is not ambiguous).
#[must_use]
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty() && !tag.contains([',', ' ', '\r', '\n'])
}

/// Writes one interval line for `histogram`, without the line terminator.
///
/// # Errors
///
/// [`EncodeError::InvalidTag`], [`EncodeError::InvalidMaxValueDivisor`]
/// (checked before anything is written), [`EncodeError::CountTooLarge`] for
/// an unencodable count, [`EncodeError::Write`] when `out` fails.
pub fn write_interval_log_line<W: Write + ?Sized>(
    out: &mut W,
    histogram: &Histogram,
    line: &IntervalLogLine<'_>,
) -> Result<(), EncodeError> {
    if line.tag.is_some_and(|tag| !is_valid_tag(tag)) {
        return Err(EncodeError::InvalidTag);
    }
    if !(line.max_value_divisor.is_finite() && line.max_value_divisor > 0.0) {
        return Err(EncodeError::InvalidMaxValueDivisor);
    }
    // Size check first, so a bad count does not leave half a line behind.
    super::v2_len(histogram)?;
    if let Some(tag) = line.tag {
        write!(out, "Tag={tag},")?;
    }
    write!(
        out,
        "{:.3},{:.3},{:.3},",
        fp_seconds(line.start),
        fp_seconds(line.interval),
        histogram.max() as f64 / line.max_value_divisor
    )?;
    write_base64_compressed_v2(histogram, out)
}

/// Writes `comment` as `#`-prefixed lines (one per `\n`-separated part), as
/// the crate's `write_comment` does.
///
/// # Errors
///
/// [`EncodeError::Write`] when `out` fails.
pub fn write_comment<W: Write + ?Sized>(out: &mut W, comment: &str) -> Result<(), EncodeError> {
    for part in comment.split('\n') {
        writeln!(out, "#{part}")?;
    }
    Ok(())
}

/// Writes `#[StartTime: <s> (seconds since epoch)]`.
///
/// # Errors
///
/// [`EncodeError::Write`] when `out` fails.
pub fn write_start_time<W: Write + ?Sized>(
    out: &mut W,
    since_epoch: Duration,
) -> Result<(), EncodeError> {
    writeln!(
        out,
        "#[StartTime: {:.3} (seconds since epoch)]",
        fp_seconds(since_epoch)
    )?;
    Ok(())
}

/// Writes `#[BaseTime: <s> (seconds since epoch)]`.
///
/// # Errors
///
/// [`EncodeError::Write`] when `out` fails.
pub fn write_base_time<W: Write + ?Sized>(
    out: &mut W,
    since_epoch: Duration,
) -> Result<(), EncodeError> {
    writeln!(
        out,
        "#[BaseTime: {:.3} (seconds since epoch)]",
        fp_seconds(since_epoch)
    )?;
    Ok(())
}

/// Writes `#[MaxValueDivisor: <d>]` (the crate writes it only when the
/// divisor is not 1.0; so should callers).
///
/// # Errors
///
/// [`EncodeError::InvalidMaxValueDivisor`], [`EncodeError::Write`].
pub fn write_max_value_divisor<W: Write + ?Sized>(
    out: &mut W,
    divisor: f64,
) -> Result<(), EncodeError> {
    if !(divisor.is_finite() && divisor > 0.0) {
        return Err(EncodeError::InvalidMaxValueDivisor);
    }
    writeln!(out, "#[MaxValueDivisor: {divisor:.3}]")?;
    Ok(())
}

/// Writes the [`LEGEND`] line.
///
/// # Errors
///
/// [`EncodeError::Write`] when `out` fails.
pub fn write_legend<W: Write + ?Sized>(out: &mut W) -> Result<(), EncodeError> {
    writeln!(out, "{LEGEND}")?;
    Ok(())
}

/// A duration as fractional seconds, computed as the crate does.
fn fp_seconds(duration: Duration) -> f64 {
    duration.as_secs() as f64 + f64::from(duration.subsec_nanos()) / 1_000_000_000_f64
}
