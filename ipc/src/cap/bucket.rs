//! Token buckets on the TSC: the rate and bandwidth limits of a capability.
//!
//! A bucket holds up to `capacity` units (messages or bytes) and refills at
//! `rate` units per second. Time is the TSC, passed in by the caller, so the
//! bucket is pure and tested with a synthetic clock. The refill per tick is a
//! 64.64 fixed-point number: with a 3 GHz TSC and a rate of 1 msg/s the per-tick
//! refill is about 3.3e-10 units, which 32 fractional bits would round off by
//! 30 %; 64 fractional bits keep the error below 1e-9. Hand-written because
//! the usual crates (`governor`, `leaky-bucket`) need `std` and a wall clock.

use crate::error::IpcError;

/// Fractional bits of the fixed-point level and refill rate.
const FRACTION_BITS: u32 = 64;

/// A token bucket refilled by TSC ticks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenBucket {
    /// Largest level, in whole units.
    capacity: u64,
    /// Current level, in units, 64.64 fixed point.
    level: u128,
    /// Units added per TSC tick, 64.64 fixed point.
    refill_per_tick: u128,
    /// TSC of the last refill.
    last_tsc: u64,
}

impl TokenBucket {
    /// A full bucket of `capacity` units refilled at `rate_per_sec` units per
    /// second of a TSC running at `tsc_hz`.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] if `tsc_hz` or `capacity` is zero.
    pub const fn new(rate_per_sec: u64, capacity: u64, tsc_hz: u64) -> Result<Self, IpcError> {
        if tsc_hz == 0 || capacity == 0 {
            return Err(IpcError::InvalidArgument);
        }
        // Rounded up, so that a whole second refills a whole `rate` (the
        // excess is below 2^-64 units per tick). `rate << 64` fits a u128 for
        // every u64 rate.
        let refill_per_tick = ((rate_per_sec as u128) << FRACTION_BITS).div_ceil(tsc_hz as u128);
        Ok(Self {
            capacity,
            level: (capacity as u128) << FRACTION_BITS,
            refill_per_tick,
            last_tsc: 0,
        })
    }

    /// Largest level in whole units.
    #[must_use]
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Level (fixed point) the bucket would have at `now_tsc`. A TSC that went
    /// backwards (another CPU's clock) refills nothing.
    fn level_at(&self, now_tsc: u64) -> u128 {
        let elapsed = now_tsc.saturating_sub(self.last_tsc) as u128;
        let full = (self.capacity as u128) << FRACTION_BITS;
        self.level
            .saturating_add(elapsed.saturating_mul(self.refill_per_tick))
            .min(full)
    }

    /// Whole units available at `now_tsc`.
    #[must_use]
    pub fn available(&self, now_tsc: u64) -> u64 {
        // The level never exceeds `capacity << 64`, so the shift fits a u64.
        (self.level_at(now_tsc) >> FRACTION_BITS) as u64
    }

    /// Whether `units` could be taken at `now_tsc`, without taking them.
    ///
    /// # Errors
    /// [`IpcError::MessageTooLarge`] if `units` exceeds the capacity (it could
    /// never pass), [`IpcError::RateLimitExceeded`] if the bucket is too empty.
    pub fn admits(&self, units: u64, now_tsc: u64) -> Result<(), IpcError> {
        if units > self.capacity {
            return Err(IpcError::MessageTooLarge);
        }
        if self.level_at(now_tsc) < (units as u128) << FRACTION_BITS {
            return Err(IpcError::RateLimitExceeded);
        }
        Ok(())
    }

    /// Takes `units` at `now_tsc`; on error the bucket is unchanged.
    ///
    /// # Errors
    /// As [`TokenBucket::admits`].
    pub fn try_take(&mut self, units: u64, now_tsc: u64) -> Result<(), IpcError> {
        self.admits(units, now_tsc)?;
        self.level = self.level_at(now_tsc) - ((units as u128) << FRACTION_BITS);
        self.last_tsc = self.last_tsc.max(now_tsc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSC_HZ: u64 = 1_000_000_000;

    /// Offers one message every `period` ticks, `attempts` times; returns how
    /// many passed.
    fn admitted(bucket: &mut TokenBucket, start: u64, period: u64, attempts: u64) -> u64 {
        (0..attempts)
            .filter(|i| bucket.try_take(1, start + i * period).is_ok())
            .count() as u64
    }

    #[test]
    fn full_bucket_then_steady_rate() {
        let mut bucket = TokenBucket::new(1_000, 1_000, TSC_HZ).unwrap();
        // 10 000 offers at t = 1 .. 1 s (every 100 µs) hit a full bucket of
        // 1 000, then the refill of 1 000 msgs/s over ~1 s.
        let passed = admitted(&mut bucket, 1, 100_000, 10_000);
        assert!((1_999..=2_000).contains(&passed), "passed {passed}");
    }

    #[test]
    fn drained_bucket_admits_exactly_the_rate() {
        let mut bucket = TokenBucket::new(100, 10, TSC_HZ).unwrap();
        assert_eq!(admitted(&mut bucket, 0, 0, 50), 10);
        // 10 s of offers every 1 ms: 100 msgs/s * 10 s = 1 000 admitted.
        let passed = admitted(&mut bucket, 1_000_000, 1_000_000, 10_000);
        assert!((999..=1_000).contains(&passed), "passed {passed}");
    }

    #[test]
    fn slow_rate_is_not_rounded_away() {
        // 1 msg/s on a 3 GHz TSC: the per-tick refill is 3.3e-10 units.
        let mut bucket = TokenBucket::new(1, 1, 3_000_000_000).unwrap();
        assert_eq!(bucket.try_take(1, 0), Ok(()));
        assert_eq!(
            bucket.try_take(1, 2_999_999_000),
            Err(IpcError::RateLimitExceeded)
        );
        assert_eq!(bucket.try_take(1, 3_000_000_000), Ok(()));
    }

    #[test]
    fn oversized_requests_and_failures_leave_the_bucket_unchanged() {
        let mut bucket = TokenBucket::new(4_096, 4_096, TSC_HZ).unwrap();
        let before = bucket.clone();
        assert_eq!(bucket.try_take(4_097, 5), Err(IpcError::MessageTooLarge));
        assert_eq!(bucket, before);
        assert_eq!(bucket.try_take(4_000, 0), Ok(()));
        let drained = bucket.clone();
        assert_eq!(bucket.try_take(200, 0), Err(IpcError::RateLimitExceeded));
        assert_eq!(bucket, drained);
        assert_eq!(bucket.available(0), 96);
    }

    #[test]
    fn backwards_clock_and_huge_gaps_are_safe() {
        let mut bucket = TokenBucket::new(u64::MAX, 8, 1).unwrap();
        assert_eq!(bucket.try_take(8, 1_000), Ok(()));
        assert_eq!(bucket.available(10), 0, "an older TSC refills nothing");
        assert_eq!(
            bucket.available(u64::MAX),
            8,
            "refill saturates at capacity"
        );
        assert_eq!(TokenBucket::new(1, 1, 0), Err(IpcError::InvalidArgument));
        assert_eq!(TokenBucket::new(1, 0, 1), Err(IpcError::InvalidArgument));
    }
}
