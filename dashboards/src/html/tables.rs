//! The dashboard's HTML tables: run conditions, per-benchmark statistics,
//! PMU counters, the run-comparison ratios, tests, skipped benchmarks and
//! warnings. Every piece of log text goes through HTML escaping.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use html_escape::encode_text;
use plotters::style::RGBColor;

use crate::compare::{Comparison, Verdict};
use crate::run::LabeledRun;
use crate::summary::format_value;

use super::charts::run_color;

/// The measurement conditions every run must state, with their labels, in
/// display order. Other `@meta` keys follow, then the `@boot` keys.
const CONDITIONS: [(&str, &str); 15] = [
    ("accel", "Accelerator"),
    ("cpu_vendor", "CPU vendor"),
    ("cpu_model", "CPU model"),
    ("family", "CPU family"),
    ("model", "CPU model number"),
    ("stepping", "CPU stepping"),
    ("tsc_mhz", "TSC MHz"),
    ("tsc_src", "TSC frequency source"),
    ("tsc_invariant", "TSC invariant"),
    ("tsc_overhead", "Timestamp overhead (subtracted)"),
    ("pmu", "PMU"),
    ("cpus", "CPUs"),
    ("nodes", "NUMA nodes"),
    ("profile", "Build profile"),
    ("rev", "Revision"),
];

/// A table from a header row and rows of already-escaped cell HTML.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table>\n<thead><tr>");
    for header in headers {
        let _ = write!(html, "<th>{}</th>", encode_text(header));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n");
    html
}

/// Escaped text for a cell.
pub(crate) fn text(value: &str) -> String {
    encode_text(value).into_owned()
}

/// A run's label with its colour swatch.
pub(crate) fn run_badge(runs: &[LabeledRun], index: usize) -> String {
    let RGBColor(red, green, blue) = run_color(index);
    let label = runs.get(index).map_or("", |run| run.label.as_str());
    format!(
        "<span class=\"swatch\" style=\"background:rgb({red},{green},{blue})\"></span>{}",
        text(label)
    )
}

/// Every measurement condition of every run: the listed conditions first
/// (shown as "not reported" when a run lacks them), then any other `@meta`
/// key, then the `@boot` keys as `boot.<key>`.
pub(crate) fn conditions_table(runs: &[LabeledRun]) -> String {
    let mut headers = vec!["condition"];
    headers.extend(runs.iter().map(|run| run.label.as_str()));
    let mut rows = Vec::new();
    let mut row = |label: &str, value_of: &dyn Fn(&LabeledRun) -> Option<String>| {
        let mut cells = vec![text(label)];
        cells.extend(runs.iter().map(|run| match value_of(run) {
            Some(value) => text(&value),
            None => "<span class=\"missing\">not reported</span>".to_owned(),
        }));
        rows.push(cells);
    };
    for (key, label) in CONDITIONS {
        row(&format!("{label} ({key})"), &|run| {
            run.log.meta.get(key).map(str::to_owned)
        });
    }
    let listed: BTreeSet<&str> = CONDITIONS.iter().map(|(key, _)| *key).collect();
    for key in ordered_keys(runs, |run| run.log.meta.iter().map(|(k, _)| k).collect()) {
        if !listed.contains(key.as_str()) {
            row(&key, &|run| run.log.meta.get(&key).map(str::to_owned));
        }
    }
    for key in ordered_keys(runs, |run| run.log.boot.iter().map(|(k, _)| k).collect()) {
        row(&format!("boot.{key}"), &|run| {
            run.log.boot.get(&key).map(str::to_owned)
        });
    }
    table(&headers, &rows)
}

/// The union of the keys `keys_of` gives for each run, first-seen order.
fn ordered_keys(runs: &[LabeledRun], keys_of: impl Fn(&LabeledRun) -> Vec<&str>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for run in runs {
        for key in keys_of(run) {
            if !keys.iter().any(|known| known == key) {
                keys.push(key.to_owned());
            }
        }
    }
    keys
}

/// The statistics of one benchmark, one row per run that has it.
pub(crate) fn stats_table(runs: &[LabeledRun], name: &str) -> String {
    let headers = [
        "run", "count", "min", "p50", "p90", "p99", "p99.9", "max", "mean", "unit",
    ];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .enumerate()
        .filter_map(|(index, run)| run.log.bench(name).map(|bench| (index, bench)))
        .map(|(index, bench)| {
            let mut cells = vec![run_badge(runs, index), bench.count.to_string()];
            cells.extend(
                [
                    bench.min, bench.p50, bench.p90, bench.p99, bench.p999, bench.max, bench.mean,
                ]
                .map(format_value),
            );
            cells.push(bench.unit.as_str().to_owned());
            cells
        })
        .collect();
    table(&headers, &rows)
}

/// PMU events per operation for every benchmark that reports them; `None`
/// when no run has PMU data.
pub(crate) fn pmu_table(runs: &[LabeledRun]) -> Option<String> {
    let events: BTreeSet<&str> = runs
        .iter()
        .flat_map(|run| &run.log.benches)
        .filter_map(|bench| bench.pmu.as_ref())
        .flat_map(|pmu| pmu.keys().map(String::as_str))
        .collect();
    if events.is_empty() {
        return None;
    }
    let mut headers = vec!["benchmark", "run"];
    headers.extend(events.iter().copied());
    let mut rows = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        for bench in &run.log.benches {
            let Some(pmu) = &bench.pmu else { continue };
            let mut cells = vec![text(&bench.name), run_badge(runs, index)];
            cells.extend(events.iter().map(|event| {
                pmu.get(*event)
                    .map_or_else(|| "&ndash;".to_owned(), |value| format!("{value:.3}"))
            }));
            rows.push(cells);
        }
    }
    Some(table(&headers, &rows))
}

/// The performance model's counts per operation beside each benchmark's
/// measured p50, for every benchmark the model saw; `None` when no run
/// used the model. The column order follows [`MODEL_COLUMNS`], then the
/// per-CPU instruction counts.
pub(crate) fn model_table(runs: &[LabeledRun]) -> Option<String> {
    let extra: BTreeSet<&str> = runs
        .iter()
        .flat_map(|run| &run.log.benches)
        .filter_map(|bench| bench.model.as_ref())
        .flat_map(|model| model.keys().map(String::as_str))
        .filter(|key| !MODEL_COLUMNS.contains(key))
        .collect();
    if runs
        .iter()
        .flat_map(|run| &run.log.benches)
        .all(|bench| bench.model.is_none())
    {
        return None;
    }
    let mut headers = vec!["benchmark", "run", "measured p50", "unit"];
    headers.extend(MODEL_COLUMNS);
    headers.extend(extra.iter().copied());
    let mut rows = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        for bench in &run.log.benches {
            let Some(model) = &bench.model else { continue };
            let mut cells = vec![
                text(&bench.name),
                run_badge(runs, index),
                format_value(bench.p50),
                text(bench.unit.as_str()),
            ];
            cells.extend(MODEL_COLUMNS.iter().chain(extra.iter()).map(|key| {
                model.get(*key).map_or_else(
                    || "&ndash;".to_owned(),
                    |value| format_value((value * 100.0).round() / 100.0),
                )
            }));
            rows.push(cells);
        }
    }
    Some(table(&headers, &rows))
}

/// The model's main fields, in display order.
const MODEL_COLUMNS: [&str; 12] = [
    "instructions",
    "cycles",
    "l1d_misses",
    "l2_misses",
    "llc_misses",
    "coherence_transfers",
    "cr3_writes",
    "tlb_flushes",
    "syscalls",
    "ipis",
    "interrupts",
    "xsaves",
];

/// Run `candidate` (an index into `runs`) against run 1: the conditions
/// that differ, highlighted, then one row per benchmark with its verdict.
pub(crate) fn comparison_tables(
    runs: &[LabeledRun],
    candidate: usize,
    comparison: &Comparison,
) -> String {
    let mut html = format!(
        "<h3>{} against {}</h3>\n",
        run_badge(runs, candidate),
        run_badge(runs, 0)
    );
    if comparison.conditions.is_empty() {
        html.push_str("<p>Every reported condition is the same in both runs.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = comparison
            .conditions
            .iter()
            .map(|diff| {
                let value = |v: &Option<String>| {
                    v.as_deref().map_or_else(
                        || "<span class=\"missing\">not reported</span>".to_owned(),
                        text,
                    )
                };
                let key = if diff.measured {
                    format!("{} (measured)", text(&diff.key))
                } else {
                    format!("<span class=\"differs\">{}</span>", text(&diff.key))
                };
                vec![key, value(&diff.baseline), value(&diff.candidate)]
            })
            .collect();
        html.push_str("<p class=\"differs-note\">Conditions that differ between the runs:</p>\n");
        html.push_str(&table(&["condition", "baseline", "candidate"], &rows));
    }
    let rows: Vec<Vec<String>> = comparison
        .rows
        .iter()
        .map(|row| {
            let median = |s: &Option<crate::stats::RepeatStats>| {
                s.as_ref().map_or_else(
                    || "&ndash;".to_owned(),
                    |s| {
                        format!(
                            "{} <small>(n={}{})</small>",
                            format_value(s.median),
                            s.values.len(),
                            if s.noisy { ", noisy" } else { "" }
                        )
                    },
                )
            };
            let interval = match (row.interval, row.exact) {
                (Some(_), true) => "exact".to_owned(),
                (Some((lo, hi)), false) => format!("{lo:.3} &ndash; {hi:.3}"),
                (None, _) => "&ndash;".to_owned(),
            };
            let verdict = match row.verdict {
                Verdict::Slower => "<span class=\"slower\">slower</span>".to_owned(),
                Verdict::Faster => "<span class=\"faster\">faster</span>".to_owned(),
                other => text(other.as_str()),
            };
            vec![
                text(&row.name),
                median(&row.baseline),
                median(&row.candidate),
                row.ratio
                    .map_or_else(|| "&ndash;".to_owned(), |r| format!("{r:.3}")),
                interval,
                verdict,
                text(row.note.as_deref().unwrap_or("")),
                text(row.unit.as_str()),
            ]
        })
        .collect();
    html.push_str(&table(
        &[
            "benchmark",
            "baseline",
            "candidate",
            "ratio",
            "95% interval",
            "verdict",
            "note",
            "unit",
        ],
        &rows,
    ));
    html
}

/// Skipped benchmarks with reasons, per run.
pub(crate) fn skipped_table(runs: &[LabeledRun]) -> Option<String> {
    let rows: Vec<Vec<String>> =
        runs.iter()
            .enumerate()
            .flat_map(|(index, run)| {
                run.log.skipped.iter().map(move |skip| {
                    vec![text(&skip.name), run_badge(runs, index), text(&skip.reason)]
                })
            })
            .collect();
    (!rows.is_empty()).then(|| table(&["benchmark", "run", "reason"], &rows))
}

/// Kernel test totals and failures per run; `None` without test lines.
pub(crate) fn tests_table(runs: &[LabeledRun]) -> Option<String> {
    let mut rows = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let log = &run.log;
        if log.tests.is_empty() && log.test_totals.is_none() {
            continue;
        }
        let passed = log.tests.iter().filter(|t| t.failure.is_none()).count();
        let totals = log.test_totals.map_or_else(
            || "no totals line".to_owned(),
            |t| format!("{} passed, {} failed", t.passed, t.failed),
        );
        let failures: Vec<String> = log
            .tests
            .iter()
            .filter_map(|t| t.failure.as_ref().map(|why| format!("{}: {why}", t.name)))
            .collect();
        rows.push(vec![
            run_badge(runs, index),
            format!("{passed} of {}", log.tests.len()),
            text(&totals),
            text(&failures.join("; ")),
        ]);
    }
    (!rows.is_empty()).then(|| table(&["run", "ok lines", "totals", "failures"], &rows))
}

/// Parser warnings and ignored record kinds, per run.
pub(crate) fn warnings_table(runs: &[LabeledRun]) -> Option<String> {
    let mut rows = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        for warning in &run.log.warnings {
            let line = warning
                .line
                .map_or_else(String::new, |line| line.to_string());
            rows.push(vec![run_badge(runs, index), line, text(&warning.message)]);
        }
        for (kind, count) in &run.log.ignored_kinds {
            let message = format!("{count} @{kind} record(s) not used by the dashboard");
            rows.push(vec![run_badge(runs, index), String::new(), text(&message)]);
        }
    }
    (!rows.is_empty()).then(|| table(&["run", "line", "warning"], &rows))
}

/// The Linux baseline of each run that has one: every `linux.*` row with
/// its Veridian counterpart and the Veridian / Linux ratio
/// ([`crate::baseline`]); empty when no run has Linux rows.
pub(crate) fn linux_baseline_section(runs: &[LabeledRun]) -> String {
    let number = |value: Option<f64>| value.map_or_else(|| "&ndash;".to_owned(), format_value);
    let mut html = String::new();
    for (index, run) in runs.iter().enumerate() {
        let rows = crate::baseline::rows(&run.log.benches);
        if rows.is_empty() {
            continue;
        }
        if html.is_empty() {
            html.push_str("<h2>Linux baseline</h2>\n");
            let _ = writeln!(html, "<p>{}</p>", text(crate::baseline::NOTE));
        }
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                vec![
                    text(&row.linux),
                    number(row.linux_p50),
                    row.veridian
                        .as_deref()
                        .map_or_else(|| "&ndash;".to_owned(), text),
                    number(row.veridian_p50),
                    text(row.unit.as_deref().unwrap_or("")),
                    row.ratio.map_or_else(
                        || format!("<span class=\"missing\">{}</span>", text(&row.note)),
                        |ratio| format!("{ratio:.3}"),
                    ),
                    text(&row.relation),
                ]
            })
            .collect();
        if runs.len() > 1 {
            let _ = writeln!(html, "<p>{}</p>", run_badge(runs, index));
        }
        html.push_str(&table(
            &[
                "Linux benchmark",
                "Linux p50",
                "Veridian benchmark",
                "Veridian p50",
                "unit",
                "Veridian / Linux",
                "like for like",
            ],
            &cells,
        ));
        let linux_accel = run.log.meta.get("linux.accel").unwrap_or("?");
        let linux_cpus = run.log.meta.get("linux.cpus").unwrap_or("?");
        let _ = writeln!(
            html,
            "<p>Linux {} ran with accel={} on {} CPU(s), page-table isolation {}.</p>",
            text(run.log.meta.get("linux.kernel").unwrap_or("?")),
            text(linux_accel),
            text(linux_cpus),
            text(run.log.meta.get("linux.pti").unwrap_or("unknown")),
        );
    }
    html
}
