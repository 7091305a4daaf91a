//! White-box tests of the bucket math at bucket boundaries and of the
//! histogram's bookkeeping (the comparisons against the `hdrhistogram` crate
//! live in `tests/hdr_compat.rs`).

use super::layout::{
    bucket_index, counts_index, equivalent_range, highest_equivalent, lowest_equivalent,
    median_equivalent, sub_bucket_index, value_from_index,
};
use super::*;

#[test]
fn bucket_zero_has_unit_resolution_over_both_halves() {
    for value in [0, 1, 1023, 1024, 2047] {
        assert_eq!(bucket_index(value), 0);
        assert_eq!(counts_index(value), value as usize);
        assert_eq!(equivalent_range(value), 1);
        assert_eq!(lowest_equivalent(value), value);
        assert_eq!(highest_equivalent(value), value);
    }
}

#[test]
fn bucket_boundaries_at_powers_of_two() {
    // 2048 is the first value of bucket 1: sub-bucket 1024, step 2, slot
    // right after bucket 0's last slot.
    assert_eq!(bucket_index(2048), 1);
    assert_eq!(sub_bucket_index(2048, 1), 1024);
    assert_eq!(counts_index(2047), 2047);
    assert_eq!(counts_index(2048), 2048);
    assert_eq!(counts_index(2049), 2048, "2048 and 2049 share a slot");
    assert_eq!(counts_index(2050), 2049);
    assert_eq!(bucket_index(4095), 1);
    assert_eq!(counts_index(4095), 3071);
    // Bucket 2 starts at 4096 with step 4.
    assert_eq!(bucket_index(4096), 2);
    assert_eq!(counts_index(4096), 3072);
    assert_eq!(equivalent_range(4096), 4);
    assert_eq!(highest_equivalent(4096), 4099);
    // In general bucket b starts at 2048 << (b - 1) at index (b + 1) * 1024.
    for bucket in 1..BUCKET_COUNT {
        let first = 1024_u64 << bucket;
        assert_eq!(bucket_index(first), bucket);
        assert_eq!(bucket_index(first - 1), bucket - 1);
        assert_eq!(counts_index(first), (bucket as usize + 1) * 1024);
        assert_eq!(counts_index(first - 1), (bucket as usize + 1) * 1024 - 1);
        assert_eq!(equivalent_range(first), 1 << bucket);
    }
}

#[test]
fn last_slot_ends_at_highest_trackable_value() {
    assert_eq!(counts_index(HIGHEST_TRACKABLE_VALUE), COUNTS_LEN - 1);
    assert_eq!(counts_index(HIGHEST_TRACKABLE_VALUE + 1), COUNTS_LEN);
    assert_eq!(
        lowest_equivalent(HIGHEST_TRACKABLE_VALUE),
        HIGHEST_TRACKABLE_VALUE + 1 - (1 << 25)
    );
    assert_eq!(highest_equivalent(u64::MAX), u64::MAX);
    assert_eq!(bucket_index(u64::MAX), 53);
}

#[test]
fn value_from_index_inverts_counts_index_for_every_slot() {
    for index in 0..COUNTS_LEN {
        let lowest = value_from_index(index);
        assert_eq!(counts_index(lowest), index, "index {index}");
        assert_eq!(lowest_equivalent(lowest), lowest);
        assert_eq!(counts_index(highest_equivalent(lowest)), index);
        if index + 1 < COUNTS_LEN {
            assert_eq!(highest_equivalent(lowest) + 1, value_from_index(index + 1));
        }
    }
}

#[test]
fn median_equivalent_is_the_middle_rounded_up() {
    assert_eq!(median_equivalent(7), 7);
    assert_eq!(median_equivalent(4097), 4098);
    assert_eq!(median_equivalent(2049), 2049);
}

#[test]
fn size_is_the_counts_array_plus_four_words() {
    assert_eq!(core::mem::size_of::<Histogram>(), 27_648 * 8 + 4 * 8);
    assert_eq!(core::mem::size_of::<Histogram>(), 221_216);
}

#[test]
fn saturated_values_are_clamped_and_counted() {
    let mut histogram = Histogram::new();
    histogram.record(u64::MAX);
    histogram.record_n(HIGHEST_TRACKABLE_VALUE + 1, 2);
    histogram.record(HIGHEST_TRACKABLE_VALUE);
    assert_eq!(histogram.saturated(), 3);
    assert_eq!(histogram.len(), 4);
    assert_eq!(histogram.count_at(HIGHEST_TRACKABLE_VALUE), 4);
    assert_eq!(histogram.max(), HIGHEST_TRACKABLE_VALUE);
    assert_eq!(histogram.count_at(u64::MAX), 0);
}

#[test]
fn empty_histogram_statistics_are_zero() {
    let histogram = Histogram::new();
    assert!(histogram.is_empty());
    assert_eq!(histogram.min(), 0);
    assert_eq!(histogram.max(), 0);
    assert_eq!(histogram.mean(), 0.0);
    assert_eq!(histogram.value_at_quantile(0.5), 0);
    assert_eq!(histogram.buckets().count(), 0);
}

#[test]
fn record_n_zero_is_a_no_op() {
    let mut histogram = Histogram::new();
    histogram.record_n(500, 0);
    assert_eq!(histogram, Histogram::new());
}

#[test]
fn record_correct_fills_in_missing_samples() {
    let mut histogram = Histogram::new();
    histogram.record_correct(1000, 300);
    // 1000, then 700 and 400; 100 is below the interval.
    assert_eq!(histogram.len(), 3);
    for value in [1000, 700, 400] {
        assert_eq!(histogram.count_at(value), 1);
    }
    assert_eq!(histogram.min(), 400);
}

#[test]
fn record_correct_is_bounded_for_huge_stalls() {
    let mut histogram = Histogram::new();
    // 2^40 / 1 missing samples would take hours one by one.
    histogram.record_correct(1 << 40, 1);
    assert_eq!(histogram.len(), 1 << 40);
    // Terms above the trackable range: 2^40 itself and 2^40 - 1 down to 2^36.
    assert_eq!(histogram.saturated(), (1 << 40) - (1 << 36) + 1);
    assert_eq!(histogram.min(), 1);
    // Every value 1..2^36 recorded once: each slot holds its range.
    assert_eq!(histogram.count_at(4096), 4);
}

#[test]
fn add_merges_counts_and_extremes() {
    let mut cpu0 = Histogram::new();
    let mut cpu1 = Histogram::new();
    cpu0.record_n(10, 3);
    cpu1.record(5);
    cpu1.record(u64::MAX);
    cpu0.add(&cpu1);
    assert_eq!(cpu0.len(), 5);
    assert_eq!(cpu0.count_at(10), 3);
    assert_eq!(cpu0.min(), 5);
    assert_eq!(cpu0.max(), HIGHEST_TRACKABLE_VALUE);
    assert_eq!(cpu0.saturated(), 1);
}

#[test]
fn reset_returns_to_empty() {
    let mut histogram = Histogram::new();
    histogram.record(u64::MAX);
    histogram.record(3);
    histogram.reset();
    assert_eq!(histogram, Histogram::new());
}

#[test]
fn buckets_report_ranges_in_order() {
    let mut histogram = Histogram::new();
    histogram.record(4097);
    histogram.record_n(1, 2);
    let buckets: Vec<Bucket> = histogram.buckets().collect();
    assert_eq!(
        buckets,
        [
            Bucket {
                lowest: 1,
                highest: 1,
                count: 2
            },
            Bucket {
                lowest: 4096,
                highest: 4099,
                count: 1
            },
        ]
    );
}

#[test]
fn quantiles_on_a_small_data_set() {
    let mut histogram = Histogram::new();
    for value in 1..=100 {
        histogram.record(value);
    }
    assert_eq!(histogram.value_at_quantile(0.0), 1);
    assert_eq!(histogram.value_at_quantile(0.5), 50);
    assert_eq!(histogram.value_at_quantile(0.99), 99);
    assert_eq!(histogram.value_at_quantile(1.0), 100);
    assert_eq!(histogram.value_at_quantile(7.0), 100);
    assert_eq!(histogram.value_at_quantile(f64::NAN), 1);
    assert_eq!(histogram.mean(), 50.5);
}

proptest::proptest! {
    /// `add` and `reset` touch only the occupied slots, yet behave as over
    /// the whole array: the merge equals recording both sample sets, and a
    /// reset histogram equals a new one (zeros included).
    #[test]
    fn add_and_reset_over_the_occupied_slots_are_exact(
        a in proptest::collection::vec(0u64..1 << 40, 0..40),
        b in proptest::collection::vec(0u64..1 << 40, 0..40),
    ) {
        let mut merged = Box::new(Histogram::new());
        let mut other = Box::new(Histogram::new());
        let mut both = Box::new(Histogram::new());
        for &v in &a {
            merged.record(v);
            both.record(v);
        }
        for &v in &b {
            other.record(v);
            both.record(v);
        }
        merged.add(&other);
        proptest::prop_assert!(*merged == *both);
        merged.reset();
        proptest::prop_assert!(*merged == Histogram::new());
    }
}
