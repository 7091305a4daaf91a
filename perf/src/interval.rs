//! Latency over time: when a benchmark closes one histogram interval and
//! opens the next.
//!
//! A latency benchmark records its samples into an interval histogram and,
//! between samples, asks an [`IntervalClock`] whether the interval is due
//! to close: after [`IntervalPolicy::every_samples`] samples, or once
//! [`IntervalPolicy::every_ticks`] TSC ticks have passed since it opened,
//! whichever comes first. A closed interval is printed as its own `@hist`
//! line (start and length in seconds since boot) and added to the
//! benchmark's whole histogram, from which `@bench` is computed; the host
//! merges the intervals of a name back into the whole histogram and draws
//! them side by side as a latency-over-time heat map.
//!
//! Invariants: every interval holds at least one sample; intervals are
//! contiguous (each opens at the tick the previous one closed) and their
//! sample counts add up to the samples recorded.

/// When an interval closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalPolicy {
    /// Close after this many samples (at least 1).
    pub every_samples: u64,
    /// Close once this many TSC ticks have passed since the interval
    /// opened (at least 1).
    pub every_ticks: u64,
}

impl IntervalPolicy {
    /// Intervals a run of the planned sample count is cut into when the
    /// time limit does not close them first.
    pub const TARGET_INTERVALS: u64 = 32;
    /// The longest interval, in milliseconds of TSC time.
    pub const MAX_MS: u64 = 1_000;

    /// The policy for a run of `total_samples` samples with the TSC at
    /// `hz`: about [`Self::TARGET_INTERVALS`] intervals, none longer than
    /// [`Self::MAX_MS`].
    #[must_use]
    pub fn for_run(total_samples: u64, hz: u64) -> Self {
        Self {
            every_samples: total_samples.div_ceil(Self::TARGET_INTERVALS).max(1),
            every_ticks: (u128::from(hz) * u128::from(Self::MAX_MS) / 1_000)
                .clamp(1, u128::from(u64::MAX)) as u64,
        }
    }
}

/// One closed interval: TSC ticks `[start, end)` holding `samples` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// TSC at which the interval opened.
    pub start: u64,
    /// TSC at which it closed.
    pub end: u64,
    /// Samples recorded in it.
    pub samples: u64,
}

/// Tracks the open interval of one benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalClock {
    policy: IntervalPolicy,
    /// TSC at which the open interval opened.
    start: u64,
    /// Samples recorded before the open interval.
    closed_samples: u64,
}

impl IntervalClock {
    /// A clock whose first interval opens at TSC `now`.
    #[must_use]
    pub const fn new(policy: IntervalPolicy, now: u64) -> Self {
        Self {
            policy,
            start: now,
            closed_samples: 0,
        }
    }

    /// The policy it follows.
    #[must_use]
    pub const fn policy(&self) -> IntervalPolicy {
        self.policy
    }

    /// After `done` samples in all (cumulative, non-decreasing) at TSC
    /// `now`: the interval that closes now, if it is due, and the next one
    /// opens at `now`. A `done` below what was already closed, or a `now`
    /// before the interval opened, closes nothing.
    pub fn poll(&mut self, done: u64, now: u64) -> Option<Span> {
        let samples = done.checked_sub(self.closed_samples)?;
        let elapsed = now.checked_sub(self.start)?;
        let due = samples >= self.policy.every_samples
            || (samples > 0 && elapsed >= self.policy.every_ticks);
        due.then(|| self.close(done, now))
    }

    /// Closes the open interval at TSC `now` after `done` samples in all
    /// (the end of the run); `None` when it holds no sample.
    pub fn finish(&mut self, done: u64, now: u64) -> Option<Span> {
        let samples = done.checked_sub(self.closed_samples)?;
        (samples > 0).then(|| self.close(done, now.max(self.start)))
    }

    fn close(&mut self, done: u64, now: u64) -> Span {
        let span = Span {
            start: self.start,
            end: now,
            samples: done - self.closed_samples,
        };
        self.start = now;
        self.closed_samples = done;
        span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a clock over samples taken at `ticks` (one sample each),
    /// polling after every sample, and returns the closed spans.
    fn split(policy: IntervalPolicy, first: u64, ticks: &[u64]) -> Vec<Span> {
        let mut clock = IntervalClock::new(policy, first);
        let mut spans = Vec::new();
        for (i, &now) in ticks.iter().enumerate() {
            spans.extend(clock.poll(i as u64 + 1, now));
        }
        spans.extend(clock.finish(ticks.len() as u64, ticks.last().copied().unwrap_or(first)));
        spans
    }

    #[test]
    fn the_policy_aims_at_32_intervals_of_at_most_a_second() {
        let p = IntervalPolicy::for_run(2_000, 3_000_000_000);
        assert_eq!(p.every_samples, 63);
        assert_eq!(p.every_ticks, 3_000_000_000);
        assert_eq!(IntervalPolicy::for_run(3, 1_000).every_samples, 1);
        assert_eq!(IntervalPolicy::for_run(0, 0).every_samples, 1);
        assert_eq!(IntervalPolicy::for_run(0, 0).every_ticks, 1);
        assert_eq!(IntervalPolicy::for_run(100_000, 1).every_samples, 3_125);
    }

    #[test]
    fn intervals_close_by_count_and_cover_every_sample() {
        let policy = IntervalPolicy {
            every_samples: 4,
            every_ticks: u64::MAX,
        };
        let ticks: Vec<u64> = (1..=10).map(|t| t * 10).collect();
        let spans = split(policy, 0, &ticks);
        assert_eq!(
            spans,
            [
                Span {
                    start: 0,
                    end: 40,
                    samples: 4
                },
                Span {
                    start: 40,
                    end: 80,
                    samples: 4
                },
                Span {
                    start: 80,
                    end: 100,
                    samples: 2
                },
            ]
        );
    }

    #[test]
    fn a_slow_stretch_closes_by_time() {
        let policy = IntervalPolicy {
            every_samples: 100,
            every_ticks: 50,
        };
        // Two quick samples, then one far later, then quick ones again.
        let spans = split(policy, 0, &[1, 2, 200, 201, 202]);
        assert_eq!(
            spans,
            [
                Span {
                    start: 0,
                    end: 200,
                    samples: 3
                },
                Span {
                    start: 200,
                    end: 202,
                    samples: 2
                },
            ]
        );
    }

    #[test]
    fn polls_between_chunks_close_whole_chunks() {
        // A loop that polls every 10 samples: each interval holds whole
        // chunks, at least `every_samples`.
        let policy = IntervalPolicy {
            every_samples: 15,
            every_ticks: u64::MAX,
        };
        let mut clock = IntervalClock::new(policy, 0);
        let closed: Vec<u64> = (1..=5)
            .filter_map(|chunk| clock.poll(chunk * 10, chunk * 100))
            .map(|s| s.samples)
            .collect();
        assert_eq!(closed, [20, 20]);
        assert_eq!(clock.finish(50, 500).map(|s| s.samples), Some(10));
    }

    #[test]
    fn nothing_closes_without_samples_or_backwards() {
        let policy = IntervalPolicy {
            every_samples: 1,
            every_ticks: 1,
        };
        let mut clock = IntervalClock::new(policy, 100);
        assert_eq!(clock.poll(0, 1_000), None);
        assert_eq!(clock.poll(1, 50), None, "a clock before the start");
        assert!(clock.poll(1, 101).is_some());
        assert_eq!(clock.poll(0, 200), None, "fewer samples than closed");
        assert_eq!(clock.finish(1, 300), None);
        assert_eq!(split(policy, 5, &[]), []);
    }

    proptest::proptest! {
        #[test]
        fn spans_are_contiguous_and_add_up(
            gaps in proptest::collection::vec(0u64..1_000, 0..300),
            every_samples in 1u64..40,
            every_ticks in 1u64..5_000,
        ) {
            let policy = IntervalPolicy { every_samples, every_ticks };
            let mut now = 7;
            let ticks: Vec<u64> = gaps.iter().map(|g| { now += g; now }).collect();
            let spans = split(policy, 7, &ticks);
            let total: u64 = spans.iter().map(|s| s.samples).sum();
            proptest::prop_assert_eq!(total, ticks.len() as u64);
            let mut open = 7;
            for span in &spans {
                proptest::prop_assert_eq!(span.start, open);
                proptest::prop_assert!(span.end >= span.start);
                proptest::prop_assert!(span.samples >= 1 && span.samples <= every_samples);
                open = span.end;
            }
        }
    }
}
