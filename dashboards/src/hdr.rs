//! HdrHistogram plumbing on top of the `hdrhistogram` crate: decoding the
//! base64 payload of a `@hist` record, writing the interval log
//! (`histograms.hlog`) and the percentile distribution (`<bench>.hgrm`), and
//! reducing a histogram to the points and bars the charts draw.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use thiserror::Error;

use crate::records::HistRecord;

/// The percentile ticks per half distance of `.hgrm` output, as
/// HdrHistogram's `HistogramLogProcessor` prints by default.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Standard base64 that accepts the payload with or without `=` padding, as
/// encoders differ on it and the padding carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a histogram payload could not be decoded.
#[derive(Debug, Error)]
pub enum HistogramDecodeError {
    /// Not valid base64.
    #[error("corrupted base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Valid base64 but not a V2 (compressed) HdrHistogram.
    #[error("undecodable HdrHistogram payload: {0}")]
    Histogram(#[from] hdrhistogram::serialization::DeserializeError),
}

/// Decodes a base64 V2 HdrHistogram, compressed (zlib, stored blocks
/// included) or not.
///
/// # Errors
///
/// [`HistogramDecodeError`] for bad base64 or a malformed histogram.
pub fn decode_histogram(base64_text: &str) -> Result<Histogram<u64>, HistogramDecodeError> {
    let bytes = BASE64.decode(base64_text.trim())?;
    Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
}

/// Encodes a histogram the way `@hist` carries it: compressed V2, base64.
///
/// # Errors
///
/// The serializer's error as text (it fails only for histograms it cannot
/// represent).
pub fn encode_histogram(histogram: &Histogram<u64>) -> Result<String, String> {
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|error| format!("{error:?}"))?;
    Ok(general_purpose::STANDARD.encode(bytes))
}

/// Writes a complete HdrHistogram interval log: the usual header (format
/// version, start and base time, column legend), then one interval line per
/// record, tagged with its benchmark name. `comments` become `#` lines at
/// the top.
///
/// Interval timestamps are seconds since the kernel booted. `base_time` is
/// the wall-clock time (since the Unix epoch) at which the run booted, so
/// readers place every interval at `BaseTime + start`; without it the log
/// says `BaseTime: 0` and readers take the timestamps as written.
///
/// # Errors
///
/// The serializer's error as text.
pub fn interval_log(
    records: &[HistRecord],
    comments: &[String],
    base_time: Option<Duration>,
) -> Result<String, String> {
    let mut text = String::new();
    for comment in comments {
        for line in comment.lines() {
            let _ = writeln!(text, "#{line}");
        }
    }
    text.push_str("#[Histogram log format version 1.3]\n");
    text.push_str("#[Interval timestamps are seconds since kernel boot]\n");
    let base = base_time.unwrap_or_default().as_secs_f64();
    if base_time.is_some() {
        text.push_str("#[BaseTime is the wall-clock time the run booted]\n");
        let _ = writeln!(text, "#[StartTime: {base:.3} (seconds since epoch)]");
    }
    let _ = writeln!(text, "#[BaseTime: {base:.3} (seconds since epoch)]");
    text.push_str(
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
    );
    let mut bytes = text.into_bytes();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut bytes, &mut serializer)
            .map_err(|error| error.to_string())?;
        for record in records {
            let tag = Tag::new(&record.tag).or_else(|| Tag::new(&record.name));
            writer
                .write_histogram(&record.histogram, record.start, record.interval, tag)
                .map_err(|error| error.to_string())?;
        }
    }
    // Everything written above is UTF-8: our text, numbers and base64.
    String::from_utf8(bytes).map_err(|error| error.to_string())
}

/// Renders the percentile distribution exactly as HdrHistogram's
/// `outputPercentileDistribution` (and so `HistogramLogProcessor`) prints
/// it with 5 ticks per half distance and a value scale of 1: a header, one
/// `Value Percentile TotalCount 1/(1-Percentile)` row per step, and the
/// mean, max and bucket footer.
#[must_use]
pub fn percentile_distribution(histogram: &Histogram<u64>) -> String {
    let digits = usize::from(histogram.sigfig());
    let mut text = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total_count = 0_u64;
    for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total_count = total_count.saturating_add(step.count_since_last_iteration());
        let value = step.value_iterated_to() as f64;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let _ = writeln!(
                text,
                "{value:12.digits$} {quantile:2.12} {total_count:10} {:14.2}",
                1.0 / (1.0 - quantile)
            );
        } else {
            let _ = writeln!(text, "{value:12.digits$} {quantile:2.12} {total_count:10}");
        }
    }
    let _ = writeln!(
        text,
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]",
        histogram.mean(),
        histogram.stdev()
    );
    let _ = writeln!(
        text,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        histogram.max() as f64,
        histogram.len()
    );
    let _ = writeln!(
        text,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.buckets(),
        sub_bucket_count(histogram)
    );
    text
}

/// The number of sub-buckets per bucket. The crate keeps it private, but
/// its counts array holds `(buckets + 1) * sub_buckets / 2` entries.
fn sub_bucket_count(histogram: &Histogram<u64>) -> usize {
    2 * histogram.distinct_values() / (usize::from(histogram.buckets()) + 1)
}

/// Converts a quantile to "nines": 0.9 is 1, 0.99 is 2, 0.999 is 3.
#[must_use]
pub fn nines(quantile: f64) -> f64 {
    -(1.0 - quantile).log10()
}

/// The percentile curve of a histogram as `(nines, value)` points, stepping
/// like the `.hgrm` output. The 100% point cannot sit at infinite nines, so
/// the maximum is drawn at `log10(count)` nines (where one sample in `count`
/// lies), or just past the last finite point if that is further right.
#[must_use]
pub fn percentile_curve(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = histogram
        .iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .filter(|step| step.quantile_iterated_to() < 1.0)
        .map(|step| {
            (
                nines(step.quantile_iterated_to()),
                step.value_iterated_to() as f64,
            )
        })
        .collect();
    if !histogram.is_empty() {
        let last_x = points.last().map_or(0.0, |&(x, _)| x);
        let max_x = (histogram.len() as f64).log10().max(last_x + 0.1);
        points.push((max_x, histogram.max() as f64));
    }
    points
}

/// One bar of a histogram chart: samples in `[low, high)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Lower edge.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// Samples in the bar.
    pub count: u64,
}

/// Groups the recorded HDR buckets into at most `bar_count` bars of equal
/// width on a log scale between the smallest and largest sample (a value of
/// 0 joins the first bar). Empty histograms give no bars.
#[must_use]
pub fn log_bars(histogram: &Histogram<u64>, bar_count: usize) -> Vec<Bar> {
    if histogram.is_empty() || bar_count == 0 {
        return Vec::new();
    }
    let low = (histogram.min() as f64).max(1.0);
    let high = ((histogram.max() as f64) + 1.0).max(low * 2.0);
    let ratio = (high / low).powf(1.0 / bar_count as f64);
    let mut bars: Vec<Bar> = (0..bar_count)
        .map(|index| Bar {
            low: low * ratio.powi(index as i32),
            high: low * ratio.powi(index as i32 + 1),
            count: 0,
        })
        .collect();
    for step in histogram.iter_recorded() {
        let value = (step.value_iterated_to() as f64).max(low);
        let position = ((value / low).ln() / ratio.ln()).floor();
        // `position` is finite and non-negative here; the cast saturates.
        let index = (position as usize).min(bar_count - 1);
        bars[index].count += step.count_at_value();
    }
    bars
}

/// A benchmark's latency over time: one column per histogram interval (in
/// log order), one row per latency bucket on a log scale, and the samples
/// of each interval in each bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyOverTime {
    /// Each interval's start and length in seconds since boot.
    pub columns: Vec<(f64, f64)>,
    /// Each row's latency range `[low, high)`, from the fastest up; every
    /// row spans the same ratio (`2^(1/rows_per_doubling)`).
    pub rows: Vec<(f64, f64)>,
    /// `counts[column][row]`: samples of that interval in that bucket.
    pub counts: Vec<Vec<u64>>,
}

impl LatencyOverTime {
    /// The largest count of any cell (0 when there is none).
    #[must_use]
    pub fn max_count(&self) -> u64 {
        self.counts.iter().flatten().copied().max().unwrap_or(0)
    }

    /// Cells with at least one sample.
    #[must_use]
    pub fn filled_cells(&self) -> usize {
        self.counts.iter().flatten().filter(|&&c| c > 0).count()
    }
}

/// The heat-map data of `intervals` (one benchmark's `@hist` records, in
/// log order) with `rows_per_doubling` rows per factor of two of latency
/// (at least 1). Values below 1 join the first row. `None` when there is
/// no sample at all.
#[must_use]
pub fn latency_over_time(
    intervals: &[&HistRecord],
    rows_per_doubling: u32,
) -> Option<LatencyOverTime> {
    let per = f64::from(rows_per_doubling.max(1));
    // The bucket of a value: floor(log2(value) * per), values below 1 at 0.
    let bucket = |value: u64| ((value.max(1) as f64).log2() * per).floor() as i64;
    let recorded = || {
        intervals
            .iter()
            .flat_map(|r| r.histogram.iter_recorded().map(|v| v.value_iterated_to()))
    };
    let first = recorded().map(bucket).min()?;
    let last = recorded().map(bucket).max()?;
    let edge = |b: i64| 2f64.powf(b as f64 / per);
    let rows: Vec<(f64, f64)> = (first..=last).map(|b| (edge(b), edge(b + 1))).collect();
    let counts = intervals
        .iter()
        .map(|record| {
            let mut column = vec![0u64; rows.len()];
            for step in record.histogram.iter_recorded() {
                // `bucket` lies in first..=last by construction.
                let row = (bucket(step.value_iterated_to()) - first) as usize;
                column[row] += step.count_at_value();
            }
            column
        })
        .collect();
    let columns = intervals
        .iter()
        .map(|r| (r.start.as_secs_f64(), r.interval.as_secs_f64()))
        .collect();
    Some(LatencyOverTime {
        columns,
        rows,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(values: &[u64]) -> Histogram<u64> {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for &value in values {
            histogram.record(value).unwrap();
        }
        histogram
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let histogram = histogram_of(&[1, 5, 5, 900, 123_456]);
        let decoded = decode_histogram(&encode_histogram(&histogram).unwrap()).unwrap();
        assert_eq!(decoded, histogram);
    }

    #[test]
    fn percentile_distribution_matches_the_java_layout() {
        // The bounds of Java's `new Histogram(3600L * 1000 * 1000, 3)`.
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for value in 1..=4 {
            histogram.record(value).unwrap();
        }
        let text = percentile_distribution(&histogram);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        assert_eq!(
            lines[3],
            "       1.000 0.100000000000          1           1.11"
        );
        let last_row = lines[lines.len() - 4];
        assert_eq!(last_row, "       4.000 1.000000000000          4");
        assert_eq!(
            lines[lines.len() - 3],
            "#[Mean    =        2.500, StdDeviation   =        1.118]"
        );
        assert_eq!(
            lines[lines.len() - 2],
            "#[Max     =        4.000, Total count    =            4]"
        );
        assert_eq!(
            lines[lines.len() - 1],
            "#[Buckets =           22, SubBuckets     =         2048]"
        );
    }

    #[test]
    fn percentile_curve_ends_at_the_maximum() {
        let values: Vec<u64> = (1..=1000).collect();
        let curve = percentile_curve(&histogram_of(&values));
        assert_eq!(curve.first(), Some(&(0.0, 1.0)));
        let &(last_x, last_y) = curve.last().unwrap();
        assert_eq!(last_y, 1000.0);
        assert!(last_x >= 3.0);
        assert!(
            curve
                .windows(2)
                .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1)
        );
        assert!(percentile_curve(&histogram_of(&[])).is_empty());
    }

    #[test]
    fn log_bars_keep_every_sample_in_range() {
        let histogram = histogram_of(&[0, 10, 10, 100, 1000, 10_000]);
        let bars = log_bars(&histogram, 8);
        assert_eq!(bars.len(), 8);
        assert_eq!(bars.iter().map(|bar| bar.count).sum::<u64>(), 6);
        assert_eq!(bars[0].low, 1.0);
        assert!(
            bars.windows(2)
                .all(|pair| (pair[0].high - pair[1].low).abs() < 1e-9)
        );
        assert_eq!(bars[0].count, 1, "0 joins the first bar");
        assert_eq!(bars[7].count, 1, "the maximum lands in the last bar");
        assert!(log_bars(&histogram_of(&[]), 8).is_empty());
        assert_eq!(
            log_bars(&histogram_of(&[7, 7]), 4)
                .iter()
                .map(|b| b.count)
                .sum::<u64>(),
            2
        );
    }

    #[test]
    fn interval_log_is_read_back_by_the_crate() {
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let record = HistRecord {
            name: "a.b".into(),
            tag: "a.b".into(),
            start: std::time::Duration::from_millis(1500),
            interval: std::time::Duration::from_secs(2),
            max: 3.0,
            histogram: histogram_of(&[1, 2, 3]),
        };
        let text = interval_log(&[record], &["[rev=abc]".to_owned()], None).unwrap();
        assert!(text.starts_with("#[rev=abc]\n#[Histogram log format version 1.3]\n"));
        let entries: Vec<_> = IntervalLogIterator::new(text.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(entries.len(), 2);
        assert!(matches!(entries[0], LogEntry::BaseTime(d) if d.is_zero()));
        let LogEntry::Interval(interval) = &entries[1] else {
            panic!("expected an interval")
        };
        assert_eq!(interval.tag().map(|t| t.as_str()), Some("a.b"));
        assert_eq!(
            interval.start_timestamp(),
            std::time::Duration::from_millis(1500)
        );
        let decoded = decode_histogram(interval.encoded_histogram()).unwrap();
        assert_eq!(decoded.len(), 3);
    }

    #[test]
    fn interval_log_base_time_is_the_wall_clock_boot() {
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let record = |start_ms: u64, values: &[u64]| HistRecord {
            name: "a".into(),
            tag: "a".into(),
            start: Duration::from_millis(start_ms),
            interval: Duration::from_millis(500),
            max: 0.0,
            histogram: histogram_of(values),
        };
        let boot = Duration::from_secs(1_765_000_000);
        let text = interval_log(&[record(250, &[1]), record(750, &[2])], &[], Some(boot)).unwrap();
        assert!(text.contains("#[StartTime: 1765000000.000 (seconds since epoch)]\n"));
        let entries: Vec<_> = IntervalLogIterator::new(text.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(matches!(entries[0], LogEntry::StartTime(d) if d == boot));
        assert!(matches!(entries[1], LogEntry::BaseTime(d) if d == boot));
        let starts: Vec<Duration> = entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Interval(i) => Some(i.start_timestamp()),
                _ => None,
            })
            .collect();
        assert_eq!(
            starts,
            [Duration::from_millis(250), Duration::from_millis(750)]
        );
    }

    fn interval(start_s: u64, values: &[u64]) -> HistRecord {
        HistRecord {
            name: "a".into(),
            tag: "a".into(),
            start: Duration::from_secs(start_s),
            interval: Duration::from_secs(1),
            max: 0.0,
            histogram: histogram_of(values),
        }
    }

    #[test]
    fn latency_over_time_puts_each_interval_in_a_column_of_log_rows() {
        // Interval 1: fast; interval 2: a slow stretch; interval 3: both.
        let records = [
            interval(0, &[100, 100, 110]),
            interval(1, &[800, 900]),
            interval(2, &[100, 1000]),
        ];
        let refs: Vec<&HistRecord> = records.iter().collect();
        let map = latency_over_time(&refs, 1).unwrap();
        assert_eq!(map.columns, [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)]);
        // Rows by doubling from 64 (the bucket of 100) to 512..1024.
        assert_eq!(
            map.rows,
            [
                (64.0, 128.0),
                (128.0, 256.0),
                (256.0, 512.0),
                (512.0, 1024.0)
            ]
        );
        assert_eq!(map.counts[0], [3, 0, 0, 0]);
        assert_eq!(map.counts[1], [0, 0, 0, 2]);
        assert_eq!(map.counts[2], [1, 0, 0, 1]);
        assert_eq!(map.max_count(), 3);
        assert_eq!(map.filled_cells(), 4);
        // Every sample lands in exactly one cell.
        let total: u64 = map.counts.iter().flatten().sum();
        assert_eq!(total, 7);
    }

    #[test]
    fn latency_over_time_rows_split_doublings_and_zero_joins_the_first() {
        let records = [interval(0, &[0, 1, 2, 3])];
        let refs: Vec<&HistRecord> = records.iter().collect();
        let map = latency_over_time(&refs, 2).unwrap();
        assert_eq!(map.rows.len(), 4, "1, sqrt2, 2, 2sqrt2 up to 4");
        assert_eq!(map.rows[0].0, 1.0);
        assert!((map.rows[1].0 - std::f64::consts::SQRT_2).abs() < 1e-12);
        assert_eq!(map.counts[0], [2, 0, 1, 1]);
        assert!(latency_over_time(&[], 2).is_none());
        let empty = [interval(0, &[])];
        let refs: Vec<&HistRecord> = empty.iter().collect();
        assert!(latency_over_time(&refs, 2).is_none());
    }
}
