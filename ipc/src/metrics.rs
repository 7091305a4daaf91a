//! Per-endpoint IPC measurement points (the design's `IpcMetrics`) and the
//! fixed-layout snapshot the `MetricsRead` syscall copies to user space.
//!
//! Counters are atomics updated with relaxed ordering from any CPU: each value
//! is exact on its own, and a snapshot is a consistent-enough view for
//! monitoring (fields may be from slightly different instants). Precise
//! latency distributions live in the `perf` crate's histograms; these are the
//! cheap always-on counters.

use core::mem::size_of;
use core::sync::atomic::{AtomicU64, Ordering};

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Live counters of one endpoint.
#[derive(Debug, Default)]
pub struct IpcMetrics {
    /// Total messages sent.
    messages_sent: AtomicU64,
    /// Total messages received.
    messages_received: AtomicU64,
    /// Peak latency (nanoseconds).
    max_latency_ns: AtomicU64,
    /// Messages received per second over the last completed window.
    throughput: AtomicU64,
    /// Sum of all latencies, for the average.
    total_latency_ns: AtomicU64,
    /// Start of the current throughput window (ns).
    window_start_ns: AtomicU64,
    /// `messages_received` at the start of the window.
    window_start_received: AtomicU64,
}

/// A copy of [`IpcMetrics`] with a fixed `repr(C)` layout of five `u64`s,
/// in the design's field order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IpcMetricsSnapshot {
    /// Total messages sent.
    pub messages_sent: u64,
    /// Total messages received.
    pub messages_received: u64,
    /// Average latency in nanoseconds.
    pub avg_latency_ns: u64,
    /// Peak latency in nanoseconds.
    pub max_latency_ns: u64,
    /// Messages per second over the last window.
    pub throughput: u64,
}

const _: () = assert!(size_of::<IpcMetricsSnapshot>() == 40);

impl IpcMetricsSnapshot {
    /// The snapshot as the words the kernel copies out, in field order.
    #[must_use]
    pub const fn to_words(&self) -> [u64; 5] {
        [
            self.messages_sent,
            self.messages_received,
            self.avg_latency_ns,
            self.max_latency_ns,
            self.throughput,
        ]
    }

    /// The snapshot from words copied in, in field order.
    #[must_use]
    pub const fn from_words(words: [u64; 5]) -> Self {
        let [
            messages_sent,
            messages_received,
            avg_latency_ns,
            max_latency_ns,
            throughput,
        ] = words;
        Self {
            messages_sent,
            messages_received,
            avg_latency_ns,
            max_latency_ns,
            throughput,
        }
    }
}

impl IpcMetrics {
    /// All counters zero; usable in a `static`.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            messages_sent: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            max_latency_ns: AtomicU64::new(0),
            throughput: AtomicU64::new(0),
            total_latency_ns: AtomicU64::new(0),
            window_start_ns: AtomicU64::new(0),
            window_start_received: AtomicU64::new(0),
        }
    }

    /// Counts one message sent.
    pub fn record_send(&self) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one message received `latency_ns` after it was sent. (The
    /// average is computed when read: no division on the IPC path.)
    pub fn record_recv(&self, latency_ns: u64) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        if latency_ns > 0 {
            self.total_latency_ns
                .fetch_add(latency_ns, Ordering::Relaxed);
            self.max_latency_ns.fetch_max(latency_ns, Ordering::Relaxed);
        }
    }

    /// Counts one message sent and received at once (no queueing: the IPC
    /// fast path's hand-off to a waiting receiver).
    pub fn record_immediate(&self) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.messages_received.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the throughput window if at least `window_ns` has passed since
    /// it opened, storing messages received per second over it. Returns
    /// whether this call closed the window (one caller wins a race).
    pub fn update_throughput(&self, now_ns: u64, window_ns: u64) -> bool {
        let start = self.window_start_ns.load(Ordering::Relaxed);
        let elapsed = now_ns.saturating_sub(start);
        if elapsed == 0 || elapsed < window_ns {
            return false;
        }
        if self
            .window_start_ns
            .compare_exchange(start, now_ns, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        let received = self.messages_received.load(Ordering::Relaxed);
        let previous = self.window_start_received.swap(received, Ordering::Relaxed);
        let per_second =
            u128::from(received.saturating_sub(previous)) * NANOS_PER_SECOND / u128::from(elapsed);
        self.throughput.store(
            u64::try_from(per_second).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        true
    }

    /// A copy of the counters.
    #[must_use]
    pub fn snapshot(&self) -> IpcMetricsSnapshot {
        IpcMetricsSnapshot {
            messages_sent: self.messages_sent.load(Ordering::Relaxed),
            messages_received: self.messages_received.load(Ordering::Relaxed),
            avg_latency_ns: {
                let received = self.messages_received.load(Ordering::Relaxed);
                self.total_latency_ns.load(Ordering::Relaxed) / received.max(1)
            },
            max_latency_ns: self.max_latency_ns.load(Ordering::Relaxed),
            throughput: self.throughput.load(Ordering::Relaxed),
        }
    }

    /// New counters holding these counters' values (each read on its own,
    /// as [`IpcMetrics::snapshot`] does).
    #[must_use]
    pub fn copy(&self) -> Self {
        let value = |counter: &AtomicU64| AtomicU64::new(counter.load(Ordering::Relaxed));
        Self {
            messages_sent: value(&self.messages_sent),
            messages_received: value(&self.messages_received),
            max_latency_ns: value(&self.max_latency_ns),
            throughput: value(&self.throughput),
            total_latency_ns: value(&self.total_latency_ns),
            window_start_ns: value(&self.window_start_ns),
            window_start_received: value(&self.window_start_received),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_holds_the_values() {
        let metrics = IpcMetrics::new();
        metrics.record_send();
        metrics.record_recv(40);
        metrics.record_immediate();
        assert!(metrics.update_throughput(1_000_000_000, 1_000_000_000));
        let copy = metrics.copy();
        assert_eq!(copy.snapshot(), metrics.snapshot());
        assert_eq!(copy.snapshot().messages_sent, 2);
        // Independent counters from then on.
        copy.record_send();
        assert_eq!(metrics.snapshot().messages_sent, 2);
        assert_eq!(copy.snapshot().messages_sent, 3);
    }

    #[test]
    fn counts_average_and_peak() {
        let metrics = IpcMetrics::new();
        for latency in [100, 300, 200] {
            metrics.record_send();
            metrics.record_recv(latency);
        }
        metrics.record_send();
        let snapshot = metrics.snapshot();
        assert_eq!(
            snapshot,
            IpcMetricsSnapshot {
                messages_sent: 4,
                messages_received: 3,
                avg_latency_ns: 200,
                max_latency_ns: 300,
                throughput: 0,
            }
        );
        assert_eq!(
            IpcMetricsSnapshot::from_words(snapshot.to_words()),
            snapshot
        );
    }

    #[test]
    fn throughput_over_windows() {
        let metrics = IpcMetrics::new();
        for _ in 0..500 {
            metrics.record_recv(1);
        }
        assert!(
            !metrics.update_throughput(400_000_000, 1_000_000_000),
            "window still open"
        );
        assert!(metrics.update_throughput(500_000_000, 500_000_000));
        assert_eq!(metrics.snapshot().throughput, 1_000);
        for _ in 0..3_000 {
            metrics.record_recv(1);
        }
        assert!(metrics.update_throughput(2_500_000_000, 1_000_000_000));
        assert_eq!(metrics.snapshot().throughput, 1_500);
    }

    #[test]
    fn concurrent_recording_loses_nothing() {
        let metrics = IpcMetrics::new();
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let metrics = &metrics;
                scope.spawn(move || {
                    for i in 0..10_000u64 {
                        metrics.record_send();
                        metrics.record_recv(thread * 10_000 + i);
                    }
                });
            }
        });
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.messages_sent, 40_000);
        assert_eq!(snapshot.messages_received, 40_000);
        assert_eq!(snapshot.max_latency_ns, 39_999);
    }
}
