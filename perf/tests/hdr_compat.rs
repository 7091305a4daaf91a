//! Property tests: `perf::Histogram` against the `hdrhistogram` crate
//! configured with the same layout (1, 2^36 - 1, 3 significant figures) on
//! random data: count, min, max, mean, quantiles, per-value counts,
//! coordinated-omission correction and merging.

use hdrhistogram::Histogram as Reference;
use perf::Histogram;
use perf::histogram::{HIGHEST_TRACKABLE_VALUE, LOWEST_DISCERNIBLE_VALUE, SIGNIFICANT_FIGURES};
use proptest::prelude::*;

fn reference() -> Reference<u64> {
    Reference::new_with_bounds(
        LOWEST_DISCERNIBLE_VALUE,
        HIGHEST_TRACKABLE_VALUE,
        SIGNIFICANT_FIGURES,
    )
    .expect("valid bounds")
}

/// Values spread over every bucket: a random magnitude, then a random value
/// below it, plus the edges.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0_u32..=36).prop_flat_map(|bits| 0..=(1_u64 << bits).min(HIGHEST_TRACKABLE_VALUE)),
        Just(0),
        Just(HIGHEST_TRACKABLE_VALUE),
    ]
}

fn samples() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((value(), 1_u64..1_000), 0..200)
}

const QUANTILES: [f64; 12] = [
    0.0, 1e-9, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0, 1.5,
];

fn assert_same(mine: &Histogram, theirs: &Reference<u64>) -> Result<(), TestCaseError> {
    prop_assert_eq!(mine.len(), theirs.len());
    prop_assert_eq!(mine.min(), theirs.min());
    prop_assert_eq!(mine.max(), theirs.max());
    let (a, b) = (mine.mean(), theirs.mean());
    prop_assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "mean {} vs {}",
        a,
        b
    );
    for q in QUANTILES {
        prop_assert_eq!(
            mine.value_at_quantile(q),
            theirs.value_at_quantile(q),
            "quantile {}",
            q
        );
    }
    let mut buckets = 0;
    for bucket in mine.buckets() {
        prop_assert_eq!(bucket.count, theirs.count_at(bucket.lowest));
        prop_assert_eq!(theirs.lowest_equivalent(bucket.lowest), bucket.lowest);
        prop_assert_eq!(theirs.highest_equivalent(bucket.lowest), bucket.highest);
        buckets += 1;
    }
    prop_assert_eq!(buckets, theirs.iter_recorded().count());
    Ok(())
}

proptest! {
    #[test]
    fn statistics_match_hdrhistogram(samples in samples()) {
        let mut mine = Box::new(Histogram::new());
        let mut theirs = reference();
        for &(value, count) in &samples {
            mine.record_n(value, count);
            theirs.record_n(value, count).expect("in range");
        }
        assert_same(&mine, &theirs)?;
    }

    #[test]
    fn index_math_matches_hdrhistogram(value in value()) {
        let theirs = reference();
        let lowest = perf::histogram::layout::lowest_equivalent(value);
        prop_assert_eq!(lowest, theirs.lowest_equivalent(value));
        prop_assert_eq!(perf::histogram::layout::highest_equivalent(value), theirs.highest_equivalent(value));
        prop_assert_eq!(perf::histogram::layout::median_equivalent(value), theirs.median_equivalent(value));
    }

    #[test]
    fn record_correct_matches_hdrhistogram(
        samples in prop::collection::vec(value(), 0..50),
        interval in 1_u64..100_000,
    ) {
        let mut mine = Box::new(Histogram::new());
        let mut theirs = reference();
        for &value in &samples {
            // Keep the reference's one-by-one loop short.
            let value = value.min(interval.saturating_mul(5_000));
            mine.record_correct(value, interval);
            theirs.record_correct(value, interval).expect("in range");
        }
        assert_same(&mine, &theirs)?;
    }

    #[test]
    fn add_matches_hdrhistogram(left in samples(), right in samples()) {
        let (mut mine, mut mine_right) = (Box::new(Histogram::new()), Box::new(Histogram::new()));
        let (mut theirs, mut theirs_right) = (reference(), reference());
        for &(value, count) in &left {
            mine.record_n(value, count);
            theirs.record_n(value, count).expect("in range");
        }
        for &(value, count) in &right {
            mine_right.record_n(value, count);
            theirs_right.record_n(value, count).expect("in range");
        }
        mine.add(&mine_right);
        theirs.add(&theirs_right).expect("same layout");
        assert_same(&mine, &theirs)?;
    }

    #[test]
    fn saturation_matches_hdrhistogram_saturating_record(
        values in prop::collection::vec(any::<u64>(), 1..50),
    ) {
        let mut mine = Box::new(Histogram::new());
        let mut theirs = reference();
        for &value in &values {
            mine.record(value);
            theirs.saturating_record(value);
        }
        let above = values.iter().filter(|&&v| v > HIGHEST_TRACKABLE_VALUE).count() as u64;
        prop_assert_eq!(mine.saturated(), above);
        assert_same(&mine, &theirs)?;
    }
}

#[test]
fn layout_matches_hdrhistogram() {
    let theirs = reference();
    assert_eq!(theirs.distinct_values(), perf::histogram::COUNTS_LEN);
    assert_eq!(u32::from(theirs.buckets()), perf::histogram::BUCKET_COUNT);
    // Every slot boundary agrees.
    for index in 0..perf::histogram::COUNTS_LEN {
        let lowest = perf::histogram::layout::value_from_index(index);
        assert_eq!(theirs.lowest_equivalent(lowest), lowest, "slot {index}");
        assert_eq!(
            theirs.next_non_equivalent(lowest),
            perf::histogram::layout::highest_equivalent(lowest) + 1
        );
    }
}
