//! A fixed-memory HDR latency histogram with exactly HdrHistogram's bucket
//! layout (see [`layout`]), so that its V2 export is read unchanged by the
//! `hdrhistogram` crate, the Python `hdrh` package and HistogramLogAnalyzer.
//!
//! Recording never fails and never allocates: values above
//! [`HIGHEST_TRACKABLE_VALUE`] are clamped to it and counted in
//! [`Histogram::saturated`]; counts saturate at `u64::MAX`.
//! Statistics ([`Histogram::min`], [`Histogram::max`], [`Histogram::mean`],
//! [`Histogram::value_at_quantile`]) follow the `hdrhistogram` crate's
//! definitions so the kernel's `@bench` numbers match what the host computes
//! from the exported histogram.

pub mod layout;
#[cfg(test)]
mod tests;

pub use layout::{
    BUCKET_COUNT, COUNTS_LEN, HIGHEST_TRACKABLE_VALUE, LOWEST_DISCERNIBLE_VALUE,
    SIGNIFICANT_FIGURES, SUB_BUCKET_COUNT,
};

/// A log-linear histogram of `u64` samples (cycles, instructions, ns) with
/// 3 significant figures over `0..=HIGHEST_TRACKABLE_VALUE`.
///
/// It is 221 216 bytes, all inline: place it in a `static` (its constructor
/// is `const`) or a per-CPU area rather than on a kernel stack, and reuse it
/// with [`Histogram::reset`]. Per-CPU recorders are merged with
/// [`Histogram::add`].
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    /// One count per equivalence class, indexed by [`layout::counts_index`].
    counts: [u64; COUNTS_LEN],
    /// Samples recorded (saturating).
    total_count: u64,
    /// Largest sample recorded (after clamping); 0 when empty, as
    /// HdrHistogram's `ORIGINAL_MAX`.
    max_value: u64,
    /// Smallest non-zero sample recorded; `u64::MAX` when there is none.
    min_non_zero_value: u64,
    /// Samples that were above [`HIGHEST_TRACKABLE_VALUE`] and were recorded
    /// as that value instead.
    saturated_count: u64,
}

/// One non-empty slot of a [`Histogram`]: every value in
/// `lowest..=highest` is counted together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Lowest value of the equivalence class.
    pub lowest: u64,
    /// Highest value of the equivalence class.
    pub highest: u64,
    /// Samples recorded in it.
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Histogram {
    /// Summary only: the counts array is 27 648 entries long.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Histogram")
            .field("len", &self.total_count)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("saturated", &self.saturated_count)
            .finish_non_exhaustive()
    }
}

impl Histogram {
    /// An empty histogram.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            counts: [0; COUNTS_LEN],
            total_count: 0,
            max_value: 0,
            min_non_zero_value: u64::MAX,
            saturated_count: 0,
        }
    }

    /// Records one sample of `value`.
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `count` samples of `value`. A value above
    /// [`HIGHEST_TRACKABLE_VALUE`] is recorded as that value and the samples
    /// are added to [`Histogram::saturated`]. `count == 0` changes nothing.
    pub fn record_n(&mut self, value: u64, count: u64) {
        if count == 0 {
            return;
        }
        let value = if value > HIGHEST_TRACKABLE_VALUE {
            self.saturated_count = self.saturated_count.saturating_add(count);
            HIGHEST_TRACKABLE_VALUE
        } else {
            value
        };
        let index = layout::counts_index(value);
        debug_assert!(index < COUNTS_LEN, "clamped values always have a slot");
        if let Some(slot) = self.counts.get_mut(index) {
            *slot = slot.saturating_add(count);
        }
        self.total_count = self.total_count.saturating_add(count);
        self.max_value = self.max_value.max(value);
        if value != 0 {
            self.min_non_zero_value = self.min_non_zero_value.min(value);
        }
    }

    /// Records `value` corrected for coordinated omission, as HdrHistogram's
    /// `record_correct`: when a sample took longer than the
    /// `expected_interval` between samples, the samples that a stalled
    /// load generator failed to take are added too, i.e. `value - k *
    /// expected_interval` for `k = 1, 2, ...` while that is at least
    /// `expected_interval`. `expected_interval == 0` records `value` only.
    ///
    /// Unlike a literal loop over the missing samples, this takes time
    /// proportional to the number of slots they span (at most
    /// [`COUNTS_LEN`]), not to `value / expected_interval`, so a huge stall
    /// cannot stall the kernel too.
    pub fn record_correct(&mut self, value: u64, expected_interval: u64) {
        self.record(value);
        if expected_interval == 0 || value <= expected_interval {
            return;
        }
        let mut missing = value - expected_interval;
        while missing >= expected_interval {
            // All terms of the series between `floor` and `missing` land in
            // the same slot (or all saturate), so record them at once.
            let slot_floor = if missing > HIGHEST_TRACKABLE_VALUE {
                HIGHEST_TRACKABLE_VALUE + 1
            } else {
                layout::lowest_equivalent(missing)
            };
            let floor = slot_floor.max(expected_interval);
            let terms = (missing - floor) / expected_interval + 1;
            self.record_n(missing, terms);
            // terms * interval <= missing - floor + interval <= missing,
            // because floor >= interval: no overflow, no underflow, and the
            // next term is below `floor`, so the loop makes progress.
            missing -= terms * expected_interval;
        }
    }

    /// The slots that can be non-zero: from the smallest recorded value's
    /// to the largest's (empty for an empty histogram). Every count outside
    /// it is 0, since [`Histogram::record_n`] is the only writer and keeps
    /// `min_non_zero_value` and `max_value`.
    fn occupied(&self) -> core::ops::Range<usize> {
        if self.total_count == 0 {
            return 0..0;
        }
        let low = if self.counts[0] != 0 || self.min_non_zero_value == u64::MAX {
            0
        } else {
            layout::counts_index(self.min_non_zero_value)
        };
        let high = (layout::counts_index(self.max_value) + 1).min(COUNTS_LEN);
        low.min(high)..high
    }

    /// Adds every sample of `other` to `self` (merging per-CPU recorders).
    /// Both have the same layout, so this cannot fail; counts saturate.
    /// Only `other`'s occupied slots are touched (a few cache lines for a
    /// narrow latency distribution, not the whole 221 KB).
    pub fn add(&mut self, other: &Self) {
        let range = other.occupied();
        for (mine, theirs) in self.counts[range.clone()]
            .iter_mut()
            .zip(other.counts[range].iter())
        {
            *mine = mine.saturating_add(*theirs);
        }
        self.total_count = self.total_count.saturating_add(other.total_count);
        self.saturated_count = self.saturated_count.saturating_add(other.saturated_count);
        self.max_value = self.max_value.max(other.max_value);
        self.min_non_zero_value = self.min_non_zero_value.min(other.min_non_zero_value);
    }

    /// Forgets every sample (writing only the occupied slots).
    pub fn reset(&mut self) {
        let range = self.occupied();
        self.counts[range].fill(0);
        self.total_count = 0;
        self.max_value = 0;
        self.min_non_zero_value = u64::MAX;
        self.saturated_count = 0;
    }

    /// Number of samples recorded (saturating at `u64::MAX`).
    #[must_use]
    pub const fn len(&self) -> u64 {
        self.total_count
    }

    /// Same as [`Histogram::len`], with HdrHistogram's spelling.
    #[must_use]
    pub const fn count(&self) -> u64 {
        self.total_count
    }

    /// True when no sample was recorded.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.total_count == 0
    }

    /// Samples that exceeded [`HIGHEST_TRACKABLE_VALUE`] and were clamped.
    #[must_use]
    pub const fn saturated(&self) -> u64 {
        self.saturated_count
    }

    /// Number of samples counted in the slot of `value` (0 for values above
    /// the trackable range).
    #[must_use]
    pub fn count_at(&self, value: u64) -> u64 {
        self.counts
            .get(layout::counts_index(value))
            .copied()
            .unwrap_or(0)
    }

    /// Lowest recorded value, up to the histogram's resolution; 0 when
    /// empty or when a 0 was recorded.
    #[must_use]
    pub fn min(&self) -> u64 {
        if self.total_count == 0 || self.counts[0] != 0 {
            0
        } else {
            layout::lowest_equivalent(self.min_non_zero_value)
        }
    }

    /// Highest recorded value, up to the histogram's resolution (the top of
    /// its slot); 0 when empty.
    #[must_use]
    pub const fn max(&self) -> u64 {
        layout::highest_equivalent(self.max_value)
    }

    /// Mean of the recorded values, each taken at the middle of its slot
    /// (HdrHistogram's definition); 0.0 when empty.
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.total_count == 0 {
            return 0.0;
        }
        // Same expression and order as the `hdrhistogram` crate, so the two
        // agree to the last bit.
        let total = self.total_count as f64;
        self.buckets().fold(0.0_f64, |sum, bucket| {
            sum + layout::median_equivalent(bucket.lowest) as f64 * bucket.count as f64 / total
        })
    }

    /// The value below or equivalent to which a `quantile` (0.0..=1.0) of the
    /// samples fall, with the `hdrhistogram` crate's semantics: the top of
    /// the slot where the running count first reaches
    /// `ceil(quantile * len)` (at least 1); for `quantile == 0.0` the bottom
    /// of the first non-empty slot; quantiles above 1.0 count as 1.0; 0 when
    /// empty.
    #[must_use]
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        let quantile = if quantile > 1.0 { 1.0 } else { quantile };
        let count_at_quantile = ceil_to_u64(quantile * self.total_count as f64).max(1);
        let mut running_total: u64 = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            running_total = running_total.saturating_add(count);
            if running_total >= count_at_quantile {
                let value = layout::value_from_index(index);
                return if quantile == 0.0 {
                    layout::lowest_equivalent(value)
                } else {
                    layout::highest_equivalent(value)
                };
            }
        }
        0
    }

    /// The non-empty slots in increasing value order, for export.
    #[must_use]
    pub fn buckets(&self) -> NonEmptyBuckets<'_> {
        NonEmptyBuckets {
            counts: self.counts.iter().enumerate(),
        }
    }

    /// The raw counts array, indexed by [`layout::counts_index`]
    /// (the V2 encoder walks it).
    #[must_use]
    pub(crate) const fn raw_counts(&self) -> &[u64; COUNTS_LEN] {
        &self.counts
    }
}

/// Iterator over the non-empty slots of a [`Histogram`], lowest first.
#[derive(Debug, Clone)]
pub struct NonEmptyBuckets<'a> {
    counts: core::iter::Enumerate<core::slice::Iter<'a, u64>>,
}

impl Iterator for NonEmptyBuckets<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        self.counts
            .find(|(_, count)| **count != 0)
            .map(|(index, &count)| {
                let lowest = layout::value_from_index(index);
                Bucket {
                    lowest,
                    highest: layout::highest_equivalent(lowest),
                    count,
                }
            })
    }
}

/// `x.ceil() as u64` without `f64::ceil`, which `core` does not have on
/// stable: NaN and negatives give 0, values beyond `u64::MAX` saturate.
fn ceil_to_u64(x: f64) -> u64 {
    // `as` truncates toward zero and saturates; NaN becomes 0.
    let truncated = x as u64;
    if (truncated as f64) < x {
        truncated.saturating_add(1)
    } else {
        truncated
    }
}
