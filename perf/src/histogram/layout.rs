//! The bucket layout of [`Histogram`](super::Histogram): constants and the
//! value <-> counts-index math, identical to HdrHistogram (the Java original
//! and `HdrHistogram_rust`) for lowest discernible value 1, 3 significant
//! figures and highest trackable value 2^36 - 1.
//!
//! # The layout in one paragraph
//!
//! Values are grouped into *buckets* `0..BUCKET_COUNT`. Bucket `b` covers
//! `[0, SUB_BUCKET_COUNT << b)` in steps of `1 << b` ("sub-buckets"), so every
//! bucket has the same relative precision: 2048 sub-buckets, enough to tell
//! apart any two values that differ in the third significant digit. The lower
//! half of bucket `b > 0` covers exactly what bucket `b - 1` already covers
//! with finer steps, so only its upper half (sub-buckets 1024..2048) gets
//! storage; bucket 0 keeps both halves. Hence `(BUCKET_COUNT + 1) * 1024`
//! counts in one flat array, each slot standing for an *equivalence class* of
//! values `[lowest, lowest + (1 << b))`.
//!
//! Because the lowest discernible value is 1, HdrHistogram's
//! `unit_magnitude` is 0 and drops out of every formula below; the constant
//! is kept so the code reads like the original.

/// Smallest value the histogram distinguishes from 0 (HdrHistogram's
/// `lowest_discernible_value`). Written into the V2 header.
pub const LOWEST_DISCERNIBLE_VALUE: u64 = 1;

/// Significant decimal digits kept for every value. Written into the V2 header.
pub const SIGNIFICANT_FIGURES: u8 = 3;

/// Largest value recorded as itself; larger values are clamped to it and
/// counted in [`Histogram::saturated`](super::Histogram::saturated).
///
/// 2^36 - 1 cycles is 17 s at 4 GHz and 34 s at 2 GHz: far beyond any IPC
/// latency, so a sample this large means a hung measurement, not data. The
/// `- 1` makes the last slot of the last bucket end exactly at this value, so
/// the counts array has no slots for untrackable values (26 buckets instead
/// of the 27 that 2^36 itself would need).
pub const HIGHEST_TRACKABLE_VALUE: u64 = (1 << 36) - 1;

/// `floor(log2(LOWEST_DISCERNIBLE_VALUE))`: values are tracked in units of
/// `1 << UNIT_MAGNITUDE`.
const UNIT_MAGNITUDE: u32 = LOWEST_DISCERNIBLE_VALUE.ilog2();

/// `ceil(log2(2 * 10^SIGNIFICANT_FIGURES))`. HdrHistogram needs single-unit
/// resolution up to `2 * 10^digits` (being +/-1 at 1000 is fine, +/-2 at 1999
/// is not) and rounds that up to a power of two for direct indexing.
const SUB_BUCKET_COUNT_MAGNITUDE: u32 =
    (2 * 10_u32.pow(SIGNIFICANT_FIGURES as u32) - 1).ilog2() + 1;

/// Sub-buckets per bucket: 2048 for 3 significant figures.
pub const SUB_BUCKET_COUNT: u32 = 1 << SUB_BUCKET_COUNT_MAGNITUDE;

const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = SUB_BUCKET_COUNT_MAGNITUDE - 1;

/// Sub-buckets that get storage in every bucket but the first: 1024.
const SUB_BUCKET_HALF_COUNT: u32 = SUB_BUCKET_COUNT / 2;

/// The bits a value in bucket 0 may use (shifted by the unit magnitude).
/// OR-ing it into a value caps the leading-zero count, which makes every
/// value below `SUB_BUCKET_COUNT` land in bucket 0.
const SUB_BUCKET_MASK: u64 = ((SUB_BUCKET_COUNT as u64) - 1) << UNIT_MAGNITUDE;

/// Leading zeros of the largest value in bucket 0; each leading zero fewer
/// means one bucket up.
const LEADING_ZERO_COUNT_BASE: u32 = 64 - UNIT_MAGNITUDE - SUB_BUCKET_COUNT_MAGNITUDE;

/// Number of buckets needed to cover [`HIGHEST_TRACKABLE_VALUE`]: 26.
pub const BUCKET_COUNT: u32 = buckets_to_cover(HIGHEST_TRACKABLE_VALUE);

/// Length of the counts array: `(BUCKET_COUNT + 1) * 1024` = 27 648.
pub const COUNTS_LEN: usize = (BUCKET_COUNT as usize + 1) * SUB_BUCKET_HALF_COUNT as usize;

// The layout is pinned at compile time: if one of these fails, the V2 export
// no longer describes the same histogram as its header says.
const _: () = assert!(SUB_BUCKET_COUNT == 2048);
const _: () = assert!(LEADING_ZERO_COUNT_BASE == 53);
const _: () = assert!(BUCKET_COUNT == 26);
const _: () = assert!(COUNTS_LEN == 27_648);
const _: () = assert!(counts_index(HIGHEST_TRACKABLE_VALUE) == COUNTS_LEN - 1);
const _: () = assert!(highest_equivalent(HIGHEST_TRACKABLE_VALUE) == HIGHEST_TRACKABLE_VALUE);

/// HdrHistogram's `buckets_to_cover`: bucket `k` can express values below
/// `SUB_BUCKET_COUNT << k`, so count doublings until `value` is below that.
const fn buckets_to_cover(value: u64) -> u32 {
    let mut smallest_untrackable_value = (SUB_BUCKET_COUNT as u64) << UNIT_MAGNITUDE;
    let mut buckets_needed = 1;
    while smallest_untrackable_value <= value {
        if smallest_untrackable_value > u64::MAX / 2 {
            return buckets_needed + 1;
        }
        smallest_untrackable_value <<= 1;
        buckets_needed += 1;
    }
    buckets_needed
}

/// The bucket `value` falls in: the number of bits `value` needs beyond
/// what bucket 0 holds. Any `u64` gives a result in `0..=53`; results
/// `>= BUCKET_COUNT` are beyond the trackable range.
#[must_use]
pub const fn bucket_index(value: u64) -> u32 {
    // `| SUB_BUCKET_MASK` caps the leading zeros at LEADING_ZERO_COUNT_BASE,
    // so the subtraction cannot underflow.
    LEADING_ZERO_COUNT_BASE - (value | SUB_BUCKET_MASK).leading_zeros()
}

/// The sub-bucket of `value` inside `bucket`: `value` in units of the
/// bucket's step. For the bucket [`bucket_index`] chose this is in
/// `0..SUB_BUCKET_COUNT`, and in the upper half for every bucket but 0
/// (otherwise the value would have fit in the bucket below).
#[must_use]
pub const fn sub_bucket_index(value: u64, bucket: u32) -> u32 {
    // At most 11 significant bits remain after the shift, so `as u32` keeps
    // them all.
    (value >> (bucket + UNIT_MAGNITUDE)) as u32
}

/// Index into the counts array of the slot that counts `value`. Values above
/// [`HIGHEST_TRACKABLE_VALUE`] give indexes `>= COUNTS_LEN` (at most
/// `54 * 1024`), which the caller must treat as out of range.
#[must_use]
pub const fn counts_index(value: u64) -> usize {
    let bucket = bucket_index(value);
    let sub_bucket = sub_bucket_index(value, bucket);
    debug_assert!(sub_bucket < SUB_BUCKET_COUNT);
    debug_assert!(bucket == 0 || sub_bucket >= SUB_BUCKET_HALF_COUNT);
    // Bucket b's stored slots start at (b + 1) * 1024 and hold its
    // sub-buckets 1024..2048, so subtract the unstored lower half. Bucket 0
    // stores all 2048 sub-buckets starting at index 0, which the same
    // formula gives: (0 + 1) * 1024 + sub - 1024 = sub.
    let bucket_base = ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) as usize;
    bucket_base + sub_bucket as usize - SUB_BUCKET_HALF_COUNT as usize
}

/// Lowest value counted by the slot at `index` (the inverse of
/// [`counts_index`] up to equivalence). `index` must be below
/// `COUNTS_LEN`.
#[must_use]
pub const fn value_from_index(index: usize) -> u64 {
    debug_assert!(index < COUNTS_LEN);
    // Undo counts_index: every block of 1024 slots past the first is one
    // bucket's upper half; the first two blocks are bucket 0.
    let block = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as u32;
    let offset = (index as u32) & (SUB_BUCKET_HALF_COUNT - 1);
    let (bucket, sub_bucket) = if block == 0 {
        (0, offset)
    } else {
        (block - 1, offset + SUB_BUCKET_HALF_COUNT)
    };
    (sub_bucket as u64) << (bucket + UNIT_MAGNITUDE)
}

/// Size of the equivalence class `value` belongs to (`1 << bucket`).
#[must_use]
pub const fn equivalent_range(value: u64) -> u64 {
    1 << (UNIT_MAGNITUDE + bucket_index(value))
}

/// Lowest value equivalent to `value` (same slot).
#[must_use]
pub const fn lowest_equivalent(value: u64) -> u64 {
    let bucket = bucket_index(value);
    (sub_bucket_index(value, bucket) as u64) << (bucket + UNIT_MAGNITUDE)
}

/// Highest value equivalent to `value`, capped at `u64::MAX`.
#[must_use]
pub const fn highest_equivalent(value: u64) -> u64 {
    if value == u64::MAX {
        u64::MAX
    } else {
        lowest_equivalent(value).saturating_add(equivalent_range(value)) - 1
    }
}

/// The middle of `value`'s equivalence class (rounded up), used for the mean
/// exactly as HdrHistogram does.
#[must_use]
pub const fn median_equivalent(value: u64) -> u64 {
    lowest_equivalent(value) + (equivalent_range(value) >> 1)
}
