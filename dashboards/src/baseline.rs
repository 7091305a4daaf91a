//! The Linux baseline beside Veridian: which `linux.*` benchmark is the
//! like-for-like case of which Veridian benchmark, and the Veridian-over-
//! Linux ratio of their medians (above 1: Veridian takes longer).
//!
//! Pairs join the same shape of communication: two address spaces with
//! two processes (a synchronous call with a pipe, eventfd or Unix socket
//! round trip; a shared-memory ping-pong with a shared-memory ping-pong),
//! on one CPU or across two. A futex ping-pong is between two threads of
//! one process; Veridian has no threads within a process yet, so those
//! rows have no partner. A ratio needs both rows in the run and the same
//! unit (both `instructions` under icount, both `cycles` otherwise).
//!
//! Under icount Linux boots with one CPU (its SMP bring-up hangs in QEMU
//! 7.2), so its cross-CPU rows are skipped there and come from TCG runs.

use std::fmt::Write as _;

use serde::Serialize;

use crate::records::BenchResult;
use crate::summary::format_value;

/// One pairing of a Linux benchmark with its Veridian counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The Linux benchmark.
    pub linux: &'static str,
    /// Its Veridian counterpart; `None` when Veridian has no like case.
    pub veridian: Option<&'static str>,
    /// What the pair has in common (or why there is no counterpart).
    pub relation: &'static str,
}

const fn pair(linux: &'static str, veridian: &'static str, relation: &'static str) -> Pair {
    Pair {
        linux,
        veridian: Some(veridian),
        relation,
    }
}

const NO_THREADS: &str = "two threads of one process: Veridian has no threads within a process yet";
const CALL_SAME: &str = "round trip between two processes on one CPU";
const CALL_CROSS: &str = "round trip between two processes on two CPUs";

/// Every Linux benchmark and its counterpart, in the Linux program's order.
pub const PAIRS: [Pair; 11] = [
    pair(
        "linux.syscall.null",
        "syscall.null",
        "one system call that does nothing",
    ),
    Pair {
        linux: "linux.futex.same_cpu",
        veridian: None,
        relation: NO_THREADS,
    },
    Pair {
        linux: "linux.futex.cross_cpu",
        veridian: None,
        relation: NO_THREADS,
    },
    pair("linux.pipe.same_cpu", "ipc.call.same_cpu", CALL_SAME),
    pair("linux.pipe.cross_cpu", "ipc.call.cross_cpu", CALL_CROSS),
    pair("linux.eventfd.same_cpu", "ipc.call.same_cpu", CALL_SAME),
    pair("linux.eventfd.cross_cpu", "ipc.call.cross_cpu", CALL_CROSS),
    pair("linux.unix.same_cpu", "ipc.call.same_cpu", CALL_SAME),
    pair("linux.unix.cross_cpu", "ipc.call.cross_cpu", CALL_CROSS),
    pair(
        "linux.shm.spin.same_cpu",
        "model.calib.same_cpu",
        "shared-memory ping-pong between two processes on one CPU, yielding",
    ),
    pair(
        "linux.shm.spin.cross_cpu",
        "model.calib.pingpong",
        "shared-memory ping-pong between two processes on two CPUs, spinning",
    ),
];

/// One row of the baseline table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineRow {
    /// The Linux benchmark.
    pub linux: String,
    /// Its p50, when the run has it.
    pub linux_p50: Option<f64>,
    /// The Veridian counterpart, if any.
    pub veridian: Option<String>,
    /// The counterpart's p50, when the run has it.
    pub veridian_p50: Option<f64>,
    /// The unit of both p50s (of the Linux row when they differ).
    pub unit: Option<String>,
    /// Veridian p50 / Linux p50, when both are there in the same unit.
    pub ratio: Option<f64>,
    /// What the pair has in common.
    pub relation: String,
    /// Why there is no ratio (empty when there is one).
    pub note: String,
}

/// The Linux benchmark's pairing; `None` for a name not in [`PAIRS`].
#[must_use]
pub fn pair_of(linux: &str) -> Option<&'static Pair> {
    PAIRS.iter().find(|p| p.linux == linux)
}

/// One row per `linux.*` benchmark in `benches` (in [`PAIRS`] order, then
/// unknown `linux.*` names), with its counterpart and ratio. Empty when
/// the run has no Linux rows.
#[must_use]
pub fn rows(benches: &[BenchResult]) -> Vec<BaselineRow> {
    let find = |name: &str| benches.iter().find(|b| b.name == name);
    let mut names: Vec<&str> = PAIRS
        .iter()
        .map(|p| p.linux)
        .filter(|name| find(name).is_some())
        .collect();
    for bench in benches {
        if bench.name.starts_with("linux.") && !names.contains(&bench.name.as_str()) {
            names.push(&bench.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let linux = find(name);
            let pairing = pair_of(name);
            let veridian_name = pairing.and_then(|p| p.veridian);
            let veridian = veridian_name.and_then(find);
            let (ratio, note) = match (pairing, linux, veridian) {
                (None, _, _) => (None, "no pairing known for this benchmark".to_owned()),
                (Some(Pair { veridian: None, .. }), _, _) => {
                    (None, "no Veridian counterpart".to_owned())
                }
                (_, _, None) => (
                    None,
                    format!(
                        "{} not in this run",
                        veridian_name.unwrap_or("the counterpart")
                    ),
                ),
                (_, None, _) => (None, "not in this run".to_owned()),
                (_, Some(l), Some(v)) if l.unit != v.unit => (
                    None,
                    format!("units differ ({} vs {})", v.unit.as_str(), l.unit.as_str()),
                ),
                (_, Some(l), Some(_)) if l.p50 <= 0.0 => (None, "Linux p50 is 0".to_owned()),
                (_, Some(l), Some(v)) => (Some(v.p50 / l.p50), String::new()),
            };
            BaselineRow {
                linux: name.to_owned(),
                linux_p50: linux.map(|b| b.p50),
                veridian: veridian_name.map(str::to_owned),
                veridian_p50: veridian.map(|b| b.p50),
                unit: linux.map(|b| b.unit.as_str().to_owned()),
                ratio,
                relation: pairing.map_or("", |p| p.relation).to_owned(),
                note,
            }
        })
        .collect()
}

/// What every rendering of the table says under it.
pub const NOTE: &str = "Veridian / Linux = Veridian p50 over Linux p50 of the like-for-like \
    case (above 1: Veridian takes longer). Linux runs in the same QEMU machine with the same \
    accelerator; under icount it boots with 1 CPU (its SMP bring-up hangs in QEMU 7.2), so \
    cross-CPU Linux rows come from TCG runs.";

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), format_value)
}

/// The rows as a plain-text table (empty string without Linux rows).
#[must_use]
pub fn terminal_table(benches: &[BenchResult]) -> String {
    let rows = rows(benches);
    if rows.is_empty() {
        return String::new();
    }
    let mut cells = vec![
        [
            "linux benchmark",
            "p50",
            "veridian benchmark",
            "p50",
            "unit",
            "veridian / linux",
        ]
        .map(str::to_owned),
    ];
    for row in &rows {
        cells.push([
            row.linux.clone(),
            number(row.linux_p50),
            row.veridian.clone().unwrap_or_else(|| "-".to_owned()),
            number(row.veridian_p50),
            row.unit.clone().unwrap_or_default(),
            row.ratio
                .map_or_else(|| row.note.clone(), |r| format!("{r:.3}")),
        ]);
    }
    let mut widths = [0usize; 6];
    for line in &cells {
        for (w, c) in widths.iter_mut().zip(line) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut text = String::new();
    for line in &cells {
        let mut out = String::new();
        for (i, (c, w)) in line.iter().zip(widths).enumerate() {
            let _ = match i {
                0 => write!(out, "{c:<w$}"),
                1 | 3 => write!(out, "  {c:>w$}"),
                _ => write!(out, "  {c:<w$}"),
            };
        }
        text.push_str(out.trim_end());
        text.push('\n');
    }
    text.push_str(NOTE);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{BenchKind, Unit};

    fn bench(name: &str, unit: Unit, p50: f64) -> BenchResult {
        BenchResult {
            name: name.to_owned(),
            unit,
            kind: BenchKind::Latency,
            count: 10,
            min: p50,
            p50,
            p90: p50,
            p99: p50,
            p999: p50,
            max: p50,
            mean: p50,
            pmu: None,
            model: None,
        }
    }

    #[test]
    fn every_pair_is_a_linux_row_with_a_veridian_suite_name() {
        for (i, p) in PAIRS.iter().enumerate() {
            assert!(p.linux.starts_with("linux."));
            assert!(PAIRS[i + 1..].iter().all(|q| q.linux != p.linux));
            if let Some(v) = p.veridian {
                assert!(perf::suite::SUITE.iter().any(|b| b.name == v), "{v}");
            }
        }
    }

    #[test]
    fn like_for_like_shapes() {
        // Two address spaces with two processes, same CPU and across.
        assert_eq!(
            pair_of("linux.pipe.same_cpu").unwrap().veridian,
            Some("ipc.call.same_cpu")
        );
        assert_eq!(
            pair_of("linux.unix.cross_cpu").unwrap().veridian,
            Some("ipc.call.cross_cpu")
        );
        // Two threads: no Veridian counterpart yet.
        assert_eq!(pair_of("linux.futex.same_cpu").unwrap().veridian, None);
        assert_eq!(pair_of("ipc.call.same_cpu"), None);
    }

    #[test]
    fn ratios_are_veridian_over_linux_in_the_same_unit() {
        let benches = [
            bench("ipc.call.same_cpu", Unit::Instructions, 375.0),
            bench("linux.pipe.same_cpu", Unit::Instructions, 1500.0),
            bench("linux.futex.same_cpu", Unit::Instructions, 900.0),
            bench("linux.eventfd.same_cpu", Unit::Cycles, 1000.0),
            bench("linux.unix.cross_cpu", Unit::Instructions, 5000.0),
            bench("linux.unix.same_cpu", Unit::Instructions, 0.0),
        ];
        let rows = rows(&benches);
        let names: Vec<&str> = rows.iter().map(|r| r.linux.as_str()).collect();
        assert_eq!(
            names,
            [
                "linux.futex.same_cpu",
                "linux.pipe.same_cpu",
                "linux.eventfd.same_cpu",
                "linux.unix.same_cpu",
                "linux.unix.cross_cpu"
            ]
        );
        let by = |n: &str| rows.iter().find(|r| r.linux == n).unwrap();
        let pipe = by("linux.pipe.same_cpu");
        assert_eq!(pipe.ratio, Some(0.25));
        assert_eq!(
            (pipe.veridian_p50, pipe.linux_p50),
            (Some(375.0), Some(1500.0))
        );
        assert!(pipe.note.is_empty());
        assert_eq!(by("linux.futex.same_cpu").ratio, None);
        assert_eq!(by("linux.futex.same_cpu").note, "no Veridian counterpart");
        assert_eq!(
            by("linux.eventfd.same_cpu").note,
            "units differ (instructions vs cycles)"
        );
        assert_eq!(
            by("linux.unix.cross_cpu").note,
            "ipc.call.cross_cpu not in this run"
        );
        assert_eq!(by("linux.unix.same_cpu").ratio, None);
    }

    #[test]
    fn unknown_linux_rows_are_listed_without_a_ratio_and_runs_without_linux_have_none() {
        let benches = [
            bench("syscall.null", Unit::Cycles, 100.0),
            bench("linux.other.thing", Unit::Cycles, 10.0),
        ];
        let rows = rows(&benches);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].note, "no pairing known for this benchmark");
        assert!(super::rows(&benches[..1]).is_empty());
        assert!(terminal_table(&benches[..1]).is_empty());
    }

    #[test]
    fn summary_json_and_dashboard_carry_the_ratio_column() {
        let bench_line = |name: &str, p50: u32| {
            format!(
                "@bench v1 name={name} unit=instructions kind=latency count=1 min={p50} \
                 p50={p50} p90={p50} p99={p50} p999={p50} max={p50} mean={p50}\n"
            )
        };
        let log = format!(
            "@meta v1 accel=icount cpus=2\n{}@done v1 benches=1 skipped=0\n\
             @meta v1 linux.kernel=6.1.0 linux.cpus=1 linux.accel=icount linux.pti=off\n{}{}",
            bench_line("ipc.call.same_cpu", 375),
            bench_line("linux.pipe.same_cpu", 1500),
            bench_line("linux.futex.same_cpu", 900),
        );
        let log = crate::RunLog::parse(&log);
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
        let json = serde_json::to_value(crate::SummaryDocument::new(&log)).unwrap();
        let rows = json["linux_baseline"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["linux"], "linux.pipe.same_cpu");
        assert_eq!(rows[1]["ratio"], 0.25);
        assert_eq!(json["meta"]["linux.cpus"], "1");
        let run = crate::LabeledRun {
            label: "run".to_owned(),
            log,
        };
        let html = crate::render_dashboard(std::slice::from_ref(&run)).unwrap();
        let section = &html[html.find("<h2>Linux baseline</h2>").unwrap()..];
        assert!(section.contains("<th>Veridian / Linux</th>"));
        assert!(section.contains("<td>0.250</td>"));
        assert!(section.contains("no Veridian counterpart"));
        assert!(section.contains("cross-CPU Linux rows come from TCG"));
        assert!(section.contains("accel=icount on 1 CPU(s)"));
        // A run without Linux rows has no section and no summary key.
        let plain = crate::RunLog::parse(&bench_line("syscall.null", 75));
        let json = serde_json::to_value(crate::SummaryDocument::new(&plain)).unwrap();
        assert!(json.get("linux_baseline").is_none());
    }

    #[test]
    fn the_terminal_table_has_the_ratio_column_and_the_note() {
        let benches = [
            bench("syscall.null", Unit::Instructions, 75.0),
            bench("linux.syscall.null", Unit::Instructions, 150.0),
        ];
        let table = terminal_table(&benches);
        let mut lines = table.lines();
        assert!(lines.next().unwrap().ends_with("veridian / linux"));
        let row = lines.next().unwrap();
        assert!(row.starts_with("linux.syscall.null"), "{row}");
        assert!(row.ends_with("0.500"), "{row}");
        assert!(table.contains("cross-CPU Linux rows come from TCG"));
    }
}
