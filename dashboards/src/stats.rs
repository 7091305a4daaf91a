//! Statistics over the repeats of one benchmark: the headline value of each
//! repeat, their min, median and spread, and a confidence interval for the
//! ratio of two runs' values.
//!
//! A benchmark's headline value is its `p50` (for a throughput row, whose
//! single sample fills every percentile, the rate itself).

use serde::Serialize;

use crate::records::{BenchKind, BenchResult};

/// The spread (max - min over the median) above which a latency row is noisy.
pub const LATENCY_NOISE: f64 = 0.05;
/// The spread above which a throughput row is noisy: a rate is one sample
/// per run, and a run's rate moves with the host's load.
pub const THROUGHPUT_NOISE: f64 = 0.10;

/// The spread a row of this kind may have before it is marked noisy.
#[must_use]
pub fn noise_threshold(kind: BenchKind) -> f64 {
    match kind {
        BenchKind::Latency => LATENCY_NOISE,
        BenchKind::Throughput => THROUGHPUT_NOISE,
    }
}

/// One benchmark's headline values over a run's repeats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepeatStats {
    /// The headline value of each repeat, in log order.
    pub values: Vec<f64>,
    /// Smallest value.
    pub min: f64,
    /// Median value (the mean of the middle two for an even count).
    pub median: f64,
    /// Largest value.
    pub max: f64,
    /// (max - min) / median; 0 for one repeat or a zero median.
    pub spread: f64,
    /// The spread exceeds [`noise_threshold`] of the row's kind.
    pub noisy: bool,
}

impl RepeatStats {
    /// The statistics of `reports` (one benchmark's repeats), or `None`
    /// when there are none or a value is not finite.
    #[must_use]
    pub fn of(reports: &[BenchResult]) -> Option<Self> {
        let kind = reports.first()?.kind;
        Self::of_values(reports.iter().map(|r| r.p50).collect(), kind)
    }

    /// The statistics of `values` for a row of `kind`, or `None` when there
    /// are none or one is not finite.
    #[must_use]
    pub fn of_values(values: Vec<f64>, kind: BenchKind) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
        let median = median_of_sorted(&sorted);
        let spread = if median == 0.0 {
            0.0
        } else {
            (max - min) / median.abs()
        };
        Some(Self {
            values,
            min,
            median,
            max,
            spread,
            noisy: spread > noise_threshold(kind),
        })
    }

    /// Every repeat gave the same value.
    #[must_use]
    pub fn constant(&self) -> bool {
        self.min == self.max
    }
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    }
}

/// The 97.5th percentile of Student's t distribution with `df` degrees of
/// freedom (rounded down: a wider interval), for a two-sided 95% interval.
#[must_use]
pub fn t_975(df: f64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if !df.is_finite() || df < 1.0 {
        return TABLE[0];
    }
    let whole = df.floor();
    if whole <= 30.0 {
        // `whole` is in 1..=30 here.
        TABLE[whole as usize - 1]
    } else {
        // Above 30 degrees of freedom t approaches the normal 1.960 as
        // about 1.96 + 2.4 / df (within 0.003 of the exact value).
        1.960 + 2.4 / whole
    }
}

/// A 95% confidence interval for the ratio `candidate / baseline` of two
/// sets of repeated values (all positive): Welch's t interval for the
/// difference of the means of their logarithms, exponentiated. `None` when a
/// side has fewer than two values or a value is not positive.
#[must_use]
pub fn ratio_interval(baseline: &[f64], candidate: &[f64]) -> Option<(f64, f64)> {
    let logs = |values: &[f64]| -> Option<Vec<f64>> {
        (values.len() >= 2 && values.iter().all(|v| *v > 0.0 && v.is_finite()))
            .then(|| values.iter().map(|v| v.ln()).collect())
    };
    let (base, cand) = (logs(baseline)?, logs(candidate)?);
    let moments = |logs: &[f64]| {
        let n = logs.len() as f64;
        let mean = logs.iter().sum::<f64>() / n;
        let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (n, mean, var / n)
    };
    let (nb, mb, vb) = moments(&base);
    let (nc, mc, vc) = moments(&cand);
    let diff = mc - mb;
    let se2 = vb + vc;
    if se2 == 0.0 {
        let ratio = diff.exp();
        return Some((ratio, ratio));
    }
    // Welch–Satterthwaite degrees of freedom.
    let df = se2 * se2 / (vb * vb / (nb - 1.0) + vc * vc / (nc - 1.0));
    let half = t_975(df) * se2.sqrt();
    Some(((diff - half).exp(), (diff + half).exp()))
}

/// The scaling rows (`<series>.cpus<N>`, throughput) whose median falls
/// as CPUs are added: one message per fall from N to the next count.
#[must_use]
pub fn falling_scaling(
    repeats: &std::collections::BTreeMap<String, Vec<BenchResult>>,
) -> Vec<String> {
    let mut series: std::collections::BTreeMap<&str, Vec<(u32, f64)>> = Default::default();
    for (name, reports) in repeats {
        let Some((prefix, cpus)) = name
            .rsplit_once(".cpus")
            .and_then(|(p, n)| Some((p, n.parse::<u32>().ok()?)))
        else {
            continue;
        };
        if reports
            .first()
            .is_some_and(|r| r.kind == BenchKind::Throughput)
            && let Some(stats) = RepeatStats::of(reports)
        {
            series.entry(prefix).or_default().push((cpus, stats.median));
        }
    }
    let mut falls = Vec::new();
    for (prefix, mut points) in series {
        points.sort_by_key(|p| p.0);
        for pair in points.windows(2) {
            let ((n, low), (m, high)) = (pair[0], pair[1]);
            if high < low {
                falls.push(format!(
                    "{prefix}.cpus{m} ({}) is below {prefix}.cpus{n} ({}): throughput falls \
                     as CPUs are added",
                    crate::format_value(high),
                    crate::format_value(low)
                ));
            }
        }
    }
    falls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falling_scaling_rows_are_flagged() {
        let report = |name: &str, v: f64| BenchResult {
            name: name.to_owned(),
            unit: crate::records::Unit::MsgsPerS,
            kind: BenchKind::Throughput,
            count: 1,
            min: v,
            p50: v,
            p90: v,
            p99: v,
            p999: v,
            max: v,
            mean: v,
            pmu: None,
            model: None,
        };
        let mut repeats = std::collections::BTreeMap::new();
        for (n, values) in [
            (1, [100.0, 110.0, 105.0]),
            (2, [90.0, 95.0, 300.0]),
            (4, [400.0; 3]),
            (10, [350.0; 3]),
        ] {
            let name = format!("scale.call.cpus{n}");
            repeats.insert(
                name.clone(),
                values.iter().map(|v| report(&name, *v)).collect(),
            );
        }
        repeats.insert("other".to_owned(), vec![report("other", 1.0)]);
        assert_eq!(
            falling_scaling(&repeats),
            [
                "scale.call.cpus2 (95) is below scale.call.cpus1 (105): throughput falls as CPUs are added",
                "scale.call.cpus10 (350) is below scale.call.cpus4 (400): throughput falls as CPUs are added",
            ]
        );
    }

    #[test]
    fn median_min_spread_and_noise() {
        let stats = RepeatStats::of_values(vec![110.0, 100.0, 90.0], BenchKind::Latency).unwrap();
        assert_eq!((stats.min, stats.median, stats.max), (90.0, 100.0, 110.0));
        assert!((stats.spread - 0.2).abs() < 1e-12);
        assert!(stats.noisy);
        let even = RepeatStats::of_values(vec![4.0, 1.0, 2.0, 3.0], BenchKind::Latency).unwrap();
        assert_eq!(even.median, 2.5);
        let tight =
            RepeatStats::of_values(vec![1000.0, 1050.0, 990.0], BenchKind::Throughput).unwrap();
        assert!(!tight.noisy, "{tight:?}");
        let one = RepeatStats::of_values(vec![7.0], BenchKind::Latency).unwrap();
        assert_eq!((one.spread, one.noisy, one.constant()), (0.0, false, true));
        assert!(RepeatStats::of_values(vec![], BenchKind::Latency).is_none());
        assert!(RepeatStats::of_values(vec![f64::NAN], BenchKind::Latency).is_none());
    }

    #[test]
    fn t_quantiles_fall_towards_the_normal() {
        assert_eq!(t_975(1.0), 12.706);
        assert_eq!(t_975(2.9), 4.303);
        assert_eq!(t_975(0.3), 12.706);
        assert!((t_975(120.0) - 1.980).abs() < 0.001);
        let mut last = f64::INFINITY;
        for df in 1..200 {
            let t = t_975(f64::from(df));
            assert!(t <= last && t > 1.96, "df {df}: {t}");
            last = t;
        }
    }

    #[test]
    fn interval_brackets_the_ratio_and_needs_two_values_a_side() {
        let (lo, hi) = ratio_interval(&[100.0, 102.0, 98.0], &[200.0, 204.0, 196.0]).unwrap();
        assert!(lo > 1.9 && hi < 2.1 && lo < 2.0 && hi > 2.0, "{lo} {hi}");
        let (lo, hi) = ratio_interval(&[100.0, 100.0], &[100.0, 100.0]).unwrap();
        assert_eq!((lo, hi), (1.0, 1.0));
        assert!(ratio_interval(&[100.0], &[100.0, 101.0]).is_none());
        assert!(ratio_interval(&[0.0, 1.0], &[1.0, 1.0]).is_none());
        // Swapping the runs inverts the interval.
        let (a, b) = ratio_interval(&[10.0, 12.0, 11.0], &[30.0, 29.0, 35.0]).unwrap();
        let (c, d) = ratio_interval(&[30.0, 29.0, 35.0], &[10.0, 12.0, 11.0]).unwrap();
        assert!((a * d - 1.0).abs() < 1e-9 && (b * c - 1.0).abs() < 1e-9);
    }
}
