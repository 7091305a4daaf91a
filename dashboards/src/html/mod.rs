//! The self-contained HTML dashboard: one file with inline CSS and inline
//! SVG charts, no scripts, fonts or any other resource fetched from
//! anywhere. Given several runs, every chart overlays them (one colour per
//! run) and a ratio table compares each run with the first. A latency
//! benchmark whose run printed several histogram intervals also gets a
//! latency-over-time heat map per run.

mod charts;
mod tables;

use std::fmt::Write as _;

use crate::compare::Comparison;
use crate::error::Error;
use crate::hdr::{latency_over_time, log_bars, nines, percentile_curve};
use crate::records::{BenchKind, BenchResult};
use crate::run::LabeledRun;
use crate::stats::{RepeatStats, falling_scaling};
use crate::summary::format_value;

use charts::{
    HeatCell, Series, heatmap_chart, histogram_chart, latency_over_time_chart, percentile_chart,
    run_color, scaling_chart,
};
use tables::{run_badge, table, text};

/// Bars per latency histogram.
const HISTOGRAM_BARS: usize = 40;
/// Latency buckets per doubling in the latency-over-time heat maps.
const ROWS_PER_DOUBLING: u32 = 4;
/// Heat maps are drawn up to this many CPUs a side.
const MAX_HEATMAP_CPUS: usize = 64;

const STYLE: &str = "
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f2f2f2; }
td { font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; }
.missing { color: #a00; font-style: italic; }
.slower { color: #fff; background: #c0392b; padding: 0 4px; font-weight: bold; }
.faster { color: #fff; background: #1e8449; padding: 0 4px; font-weight: bold; }
.differs { background: #f9e79f; font-weight: bold; padding: 0 4px; }
.differs-note { font-weight: bold; }
.noisy { color: #fff; background: #b9770e; padding: 0 4px; }
.pi { font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
details.bench { margin: 0.8em 0; } details.bench > summary { font-weight: bold; cursor: pointer; }
";

/// Renders the dashboard for one or more runs (run 1 is the baseline of
/// the comparison).
///
/// # Errors
///
/// [`Error::Chart`] if a chart cannot be drawn.
pub fn render_dashboard(runs: &[LabeledRun]) -> Result<String, Error> {
    let mut html =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<title>Veridian benchmark dashboard</title>\n");
    let _ = write!(html, "<style>{STYLE}</style>\n</head>\n<body>\n");
    html.push_str("<h1>Veridian benchmark dashboard</h1>\n");
    html.push_str(&run_list(runs));
    html.push_str(&summary_section(runs));
    html.push_str(&tables::linux_baseline_section(runs));

    html.push_str("<h2>Run conditions</h2>\n");
    html.push_str(&tables::conditions_table(runs));

    if let Some((baseline, candidates)) = runs.split_first()
        && !candidates.is_empty()
    {
        html.push_str("<h2>Comparison with the baseline (run 1)</h2>\n");
        html.push_str(
            "<p>Ratio = candidate / baseline of the median over repeats. Under icount \
             (both runs) a difference is exact; otherwise the verdict comes from a 95% \
             confidence interval of the ratio over the repeats, and a row with one repeat \
             a side is <em>unsure</em>.</p>\n",
        );
        for (offset, candidate) in candidates.iter().enumerate() {
            let comparison = Comparison::new(baseline, candidate);
            html.push_str(&tables::comparison_tables(runs, offset + 1, &comparison));
        }
    }

    html.push_str(&latency_section(runs)?);
    html.push_str(&heatmap_section(runs)?);
    html.push_str(&scaling_section(runs)?);
    html.push_str(&throughput_section(runs));

    let optional_sections = [
        ("PMU counters per operation", tables::pmu_table(runs)),
        (
            "Performance model per operation (a model, not a measurement: \
             QEMU plugin counts under -icount, cycles from the cost table in model-costs.txt)",
            tables::model_table(runs),
        ),
        ("Kernel tests", tables::tests_table(runs)),
        ("Skipped benchmarks", tables::skipped_table(runs)),
        ("Warnings", tables::warnings_table(runs)),
    ];
    for (title, content) in optional_sections {
        let _ = writeln!(html, "<h2>{title}</h2>");
        html.push_str(content.as_deref().unwrap_or("<p>None.</p>\n"));
    }
    html.push_str("</body>\n</html>\n");
    Ok(html)
}

/// The summary at the top: every benchmark of every run with p50, p99 and
/// unit of run 1 (the baseline when there are several), its repeats (n,
/// spread, noisy), and each later run's ratio to run 1 with its verdict;
/// then the priority-inheritance ratio and falling scaling rows.
fn summary_section(runs: &[LabeledRun]) -> String {
    let Some((baseline, candidates)) = runs.split_first() else {
        return String::new();
    };
    let comparisons: Vec<Comparison> = candidates
        .iter()
        .map(|candidate| Comparison::new(baseline, candidate))
        .collect();
    let mut names: Vec<&str> = Vec::new();
    for bench in runs.iter().flat_map(|run| &run.log.benches) {
        if !names.contains(&bench.name.as_str()) {
            names.push(&bench.name);
        }
    }
    let mut headers: Vec<String> = ["benchmark", "p50", "p99", "unit", "repeats"]
        .map(str::to_owned)
        .to_vec();
    for index in 1..runs.len() {
        headers.push(format!("{} / {}", runs[index].label, runs[0].label));
    }
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|name| {
            let bench = baseline.log.bench(name);
            let number =
                |value: Option<f64>| value.map_or_else(|| "&ndash;".to_owned(), format_value);
            let repeats = baseline
                .log
                .repeats
                .get(*name)
                .and_then(|reports| RepeatStats::of(reports))
                .map_or_else(
                    || "&ndash;".to_owned(),
                    |stats| {
                        format!(
                            "n={} spread {:.1}%{}",
                            stats.values.len(),
                            stats.spread * 100.0,
                            if stats.noisy {
                                " <span class=\"noisy\">noisy</span>"
                            } else {
                                ""
                            }
                        )
                    },
                );
            let mut cells = vec![
                text(name),
                number(bench.map(|b| b.p50)),
                number(bench.map(|b| b.p99)),
                bench.map_or_else(String::new, |b| b.unit.as_str().to_owned()),
                repeats,
            ];
            for comparison in &comparisons {
                let cell = comparison
                    .rows
                    .iter()
                    .find(|row| row.name == *name)
                    .and_then(|row| row.ratio.map(|ratio| (ratio, row.verdict)))
                    .map_or_else(
                        || "&ndash;".to_owned(),
                        |(ratio, verdict)| format!("{ratio:.3} ({})", text(verdict.as_str())),
                    );
                cells.push(cell);
            }
            cells
        })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut html = String::from("<h2>Summary</h2>\n");
    html.push_str(&table(&header_refs, &rows));
    for (index, run) in runs.iter().enumerate() {
        if let Some(ratio) = pi_ratio(run) {
            let _ = writeln!(
                html,
                "<p class=\"pi\">{}: priority inheritance: the high-priority call's p50 is \
                 {ratio:.2}x longer without it than with it (sched.pi.without_pi / \
                 sched.pi.with_pi)</p>",
                run_badge(runs, index)
            );
        }
        for fall in falling_scaling(&run.log.repeats) {
            let _ = writeln!(
                html,
                "<p class=\"missing\">{}: {}</p>",
                run_badge(runs, index),
                text(&fall)
            );
        }
    }
    html
}

/// p50 of `sched.pi.without_pi` over p50 of `sched.pi.with_pi`.
pub(crate) fn pi_ratio(run: &LabeledRun) -> Option<f64> {
    let with = run.log.bench("sched.pi.with_pi")?.p50;
    let without = run.log.bench("sched.pi.without_pi")?.p50;
    (with > 0.0 && without.is_finite()).then(|| without / with)
}

fn run_list(runs: &[LabeledRun]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .enumerate()
        .map(|(index, run)| {
            let status = if run.log.done.is_some() {
                "complete"
            } else {
                "incomplete (no @done)"
            };
            vec![
                format!("{}", index + 1),
                run_badge(runs, index),
                run.log.benches.len().to_string(),
                run.log.skipped.len().to_string(),
                run.log.warnings.len().to_string(),
                status.to_owned(),
            ]
        })
        .collect();
    table(
        &["#", "run", "benchmarks", "skipped", "warnings", "status"],
        &rows,
    )
}

/// Names of benchmarks of `kind` over all runs, in first-seen order.
fn bench_names(runs: &[LabeledRun], kind: BenchKind) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for bench in runs.iter().flat_map(|run| &run.log.benches) {
        if bench.kind == kind && !names.contains(&bench.name.as_str()) {
            names.push(&bench.name);
        }
    }
    names
}

/// Splits `<prefix>.cpu<i>.cpu<j>` into its parts.
pub(crate) fn cpu_pair(name: &str) -> Option<(&str, usize, usize)> {
    let (rest, to) = name.rsplit_once('.')?;
    let (prefix, from) = rest.rsplit_once('.')?;
    let cpu = |part: &str| part.strip_prefix("cpu")?.parse::<usize>().ok();
    (!prefix.is_empty()).then_some(())?;
    Some((prefix, cpu(from)?, cpu(to)?))
}

/// Splits `scale.<what>.cpus<N>` into `<what>` and `N`.
pub(crate) fn scale_point(name: &str) -> Option<(&str, u32)> {
    let (what, cpus) = name.strip_prefix("scale.")?.rsplit_once('.')?;
    let count = cpus.strip_prefix("cpus")?.parse().ok()?;
    (!what.is_empty()).then_some((what, count))
}

/// The percentile curve of `bench` in `run`: from its histogram when there
/// is one, else from the summary percentiles of its `@bench` record.
fn run_curve(run: &LabeledRun, bench: &BenchResult) -> Vec<(f64, f64)> {
    if let Some(histogram) = run.log.histogram(&bench.name) {
        return percentile_curve(&histogram);
    }
    let max_nines = (bench.count.max(1) as f64).log10().max(3.3);
    vec![
        (0.0, bench.min),
        (nines(0.5), bench.p50),
        (1.0, bench.p90),
        (2.0, bench.p99),
        (3.0, bench.p999),
        (max_nines, bench.max),
    ]
}

fn latency_section(runs: &[LabeledRun]) -> Result<String, Error> {
    let mut html = String::from("<h2>Latency</h2>\n");
    let names = bench_names(runs, BenchKind::Latency);
    if names.is_empty() {
        html.push_str("<p>No latency benchmarks.</p>\n");
    }
    for name in names {
        let mut curves = Vec::new();
        let mut bars = Vec::new();
        let mut unit = "";
        for (index, run) in runs.iter().enumerate() {
            let Some(bench) = run.log.bench(name) else {
                continue;
            };
            unit = bench.unit.as_str();
            let label = run.label.clone();
            curves.push(Series {
                label: label.clone(),
                color: run_color(index),
                data: run_curve(run, bench),
            });
            if let Some(histogram) = run.log.histogram(name) {
                bars.push(Series {
                    label,
                    color: run_color(index),
                    data: log_bars(&histogram, HISTOGRAM_BARS),
                });
            }
        }
        let open = if cpu_pair(name).is_some() {
            ""
        } else {
            " open"
        };
        let _ = writeln!(
            html,
            "<details class=\"bench\"{open}><summary>{}</summary>",
            text(name)
        );
        html.push_str(&tables::stats_table(runs, name));
        html.push_str("<div class=\"charts\">\n");
        html.push_str(&percentile_chart(
            &format!("{name}: percentile distribution"),
            unit,
            &curves,
        )?);
        if !bars.is_empty() {
            html.push_str(&histogram_chart(
                &format!("{name}: histogram"),
                unit,
                &bars,
            )?);
        }
        for run in runs {
            html.push_str(&over_time(run, name, unit, runs.len() > 1)?);
        }
        html.push_str("</div>\n</details>\n");
    }
    Ok(html)
}

/// The latency-over-time heat map of benchmark `name` in `run`, in a
/// `<figure class="latency-over-time">` whose `data-intervals` and
/// `data-cells` say what it holds (a browser check can count them); empty
/// when the run's first boot has fewer than two intervals of it.
fn over_time(run: &LabeledRun, name: &str, unit: &str, label: bool) -> Result<String, Error> {
    let all: Vec<_> = run
        .log
        .histograms
        .iter()
        .zip(&run.log.histogram_boots)
        .filter(|(h, _)| h.name == name)
        .collect();
    // A repeated run boots again and its clock restarts: draw the
    // intervals of the first boot that has this benchmark.
    let Some(&(_, &boot)) = all.first() else {
        return Ok(String::new());
    };
    let intervals: Vec<_> = all
        .iter()
        .filter(|(_, b)| **b == boot)
        .map(|(h, _)| *h)
        .collect();
    let first_boot_only = intervals.len() < all.len();
    if intervals.len() < 2 {
        return Ok(String::new());
    }
    let Some(map) = latency_over_time(&intervals, ROWS_PER_DOUBLING) else {
        return Ok(String::new());
    };
    let boot = if first_boot_only { ", first boot" } else { "" };
    let title = if label {
        format!("{name}: latency over time, {}{boot}", run.label)
    } else {
        format!("{name}: latency over time{boot}")
    };
    let (svg, cells) = latency_over_time_chart(&title, unit, &map)?;
    Ok(format!(
        "<figure class=\"latency-over-time\" data-intervals=\"{}\" data-cells=\"{cells}\">{svg}</figure>\n",
        intervals.len()
    ))
}

fn heatmap_section(runs: &[LabeledRun]) -> Result<String, Error> {
    let mut prefixes: Vec<&str> = Vec::new();
    for bench in runs.iter().flat_map(|run| &run.log.benches) {
        if let Some((prefix, _, _)) = cpu_pair(&bench.name)
            && !prefixes.contains(&prefix)
        {
            prefixes.push(prefix);
        }
    }
    if prefixes.is_empty() {
        return Ok(String::new());
    }
    let mut html = String::from("<h2>CPU x CPU heat maps (p50)</h2>\n");
    for prefix in prefixes {
        let grids: Vec<(Vec<HeatCell>, &str)> = runs
            .iter()
            .map(|run| {
                let mut unit = "";
                let cells = run
                    .log
                    .benches
                    .iter()
                    .filter_map(|bench| match cpu_pair(&bench.name) {
                        Some((p, from, to)) if p == prefix => {
                            unit = bench.unit.as_str();
                            Some((from, to, bench.p50))
                        }
                        _ => None,
                    })
                    .collect();
                (cells, unit)
            })
            .collect();
        let all_cells = || grids.iter().flat_map(|(cells, _)| cells.iter());
        let cpus = all_cells()
            .map(|&(from, to, _)| from.max(to) + 1)
            .max()
            .unwrap_or(0);
        let low = all_cells().map(|c| c.2).fold(f64::INFINITY, f64::min);
        let high = all_cells().map(|c| c.2).fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(html, "<h3>{}</h3>", text(prefix));
        if cpus > MAX_HEATMAP_CPUS {
            let _ = writeln!(
                html,
                "<p>{cpus} CPUs: too many to draw (limit {MAX_HEATMAP_CPUS}).</p>"
            );
            continue;
        }
        html.push_str("<div class=\"charts\">\n");
        for (run, (cells, unit)) in runs.iter().zip(&grids) {
            if cells.is_empty() {
                continue;
            }
            let title = format!("{} p50 ({unit}), {}", prefix, run.label);
            html.push_str(&heatmap_chart(&title, cpus, cells, (low, high))?);
        }
        html.push_str("</div>\n");
    }
    Ok(html)
}

/// The value a scaling chart plots: mean throughput, median latency.
fn headline(bench: &BenchResult) -> f64 {
    match bench.kind {
        BenchKind::Throughput => bench.mean,
        BenchKind::Latency => bench.p50,
    }
}

fn scaling_section(runs: &[LabeledRun]) -> Result<String, Error> {
    let mut groups: Vec<&str> = Vec::new();
    for bench in runs.iter().flat_map(|run| &run.log.benches) {
        if let Some((what, _)) = scale_point(&bench.name)
            && !groups.contains(&what)
        {
            groups.push(what);
        }
    }
    if groups.is_empty() {
        return Ok(String::new());
    }
    let mut html = String::from("<h2>Scaling with CPU count</h2>\n<div class=\"charts\">\n");
    for what in groups {
        let mut unit = "";
        let mut kind = "";
        let mut series = Vec::new();
        for (index, run) in runs.iter().enumerate() {
            let mut points: Vec<(f64, f64)> = Vec::new();
            for bench in &run.log.benches {
                if let Some((w, cpus)) = scale_point(&bench.name)
                    && w == what
                {
                    unit = bench.unit.as_str();
                    kind = if bench.kind == BenchKind::Throughput {
                        "mean"
                    } else {
                        "p50"
                    };
                    points.push((f64::from(cpus), headline(bench)));
                }
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !points.is_empty() {
                series.push(Series {
                    label: run.label.clone(),
                    color: run_color(index),
                    data: points,
                });
            }
        }
        let title = format!("scale.{what}: {kind} vs CPUs");
        html.push_str(&scaling_chart(&title, unit, &series)?);
    }
    html.push_str("</div>\n");
    Ok(html)
}

fn throughput_section(runs: &[LabeledRun]) -> String {
    let names = bench_names(runs, BenchKind::Throughput);
    if names.is_empty() {
        return String::new();
    }
    let mut rows = Vec::new();
    for name in names {
        for (index, run) in runs.iter().enumerate() {
            if let Some(bench) = run.log.bench(name) {
                let mut cells = vec![text(name), run_badge(runs, index), bench.count.to_string()];
                cells.extend([bench.mean, bench.min, bench.p50, bench.max].map(format_value));
                cells.push(bench.unit.as_str().to_owned());
                rows.push(cells);
            }
        }
    }
    let headers = [
        "benchmark",
        "run",
        "count",
        "mean",
        "min",
        "p50",
        "max",
        "unit",
    ];
    format!("<h2>Throughput</h2>\n{}", table(&headers, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_cpu_pairs() {
        assert_eq!(
            cpu_pair("ipc.call.cross_cpu.cpu0.cpu1"),
            Some(("ipc.call.cross_cpu", 0, 1))
        );
        assert_eq!(cpu_pair("x.cpu12.cpu3"), Some(("x", 12, 3)));
        assert_eq!(cpu_pair(".cpu0.cpu1"), None);
        assert_eq!(cpu_pair("ipc.cpu0.cpuX"), None);
        assert_eq!(cpu_pair("cpu0.cpu1"), None);
    }

    fn run_of(lines: &str) -> LabeledRun {
        LabeledRun {
            label: "r".to_owned(),
            log: crate::RunLog::parse(lines),
        }
    }

    #[test]
    fn intervals_of_a_boot_become_a_latency_over_time_heat_map() {
        let hist = |start: &str, values: &[u64]| {
            let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
            for &v in values {
                h.record(v).unwrap();
            }
            let payload = crate::hdr::encode_histogram(&h).unwrap();
            format!("@hist v1 name=a Tag=a,{start},0.5,1.0,{payload}\n")
        };
        let bench = "@bench v1 name=a unit=cycles kind=latency count=5 min=100 p50=100 \
                     p90=900 p99=900 p999=900 max=900 mean=400\n";
        let boot = "@boot v1 cpus=1\n";
        let first = format!(
            "{boot}{}{}{bench}{}",
            hist("0.0", &[100, 100]),
            hist("0.5", &[900]),
            hist("1.0", &[100, 110])
        );
        let html = render_dashboard(&[run_of(&first)]).unwrap();
        assert!(
            html.contains(
                "<figure class=\"latency-over-time\" data-intervals=\"3\" data-cells=\"4\">"
            ),
            "{html}"
        );
        assert!(html.contains("a: latency over time\n"));
        // A second boot (a repeat) restarts the clock: the first is drawn.
        let repeated = format!(
            "{first}{boot}{}{}{bench}",
            hist("0.0", &[5]),
            hist("0.5", &[5])
        );
        let html = render_dashboard(&[run_of(&repeated)]).unwrap();
        assert!(html.contains("data-intervals=\"3\""));
        assert!(html.contains("a: latency over time, first boot\n"));
        // One interval: nothing over time to show.
        let single = format!("{boot}{}{bench}", hist("0.0", &[100]));
        let html = render_dashboard(&[run_of(&single)]).unwrap();
        assert!(!html.contains("latency-over-time"));
    }

    #[test]
    fn no_runs_render_an_empty_page() {
        let html = render_dashboard(&[]).unwrap();
        assert!(html.contains("<h1>Veridian benchmark dashboard</h1>"));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn extreme_values_still_render() {
        let lines = "@bench v1 name=a.cpu0.cpu1 unit=ns kind=latency count=0 min=-5 p50=1e308 \
                     p90=1.7e308 p99=1.7e308 p999=1.7e308 max=1.7976931348623157e308 mean=0\n\
                     @bench v1 name=scale.x.cpus4000000000 unit=msgs_per_s kind=throughput \
                     count=1 min=0 p50=0 p90=0 p99=0 p999=0 max=0 mean=-1\n\
                     @bench v1 name=b.cpu1000.cpu0 unit=ns kind=latency count=1 min=1 p50=1 \
                     p90=1 p99=1 p999=1 max=1 mean=1\n";
        let html = render_dashboard(&[run_of(lines)]).unwrap();
        assert!(html.contains("too many to draw"));
        assert_eq!(html.matches("<svg").count(), 4);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(24))]
        #[test]
        fn any_finite_statistics_render(
            values in proptest::collection::vec(
                proptest::num::f64::NORMAL | proptest::num::f64::ZERO, 7),
            cpus in 0_u32..100,
        ) {
            let stats = ["min", "p50", "p90", "p99", "p999", "max", "mean"]
                .iter()
                .zip(&values)
                .map(|(key, value)| format!("{key}={value:e}"))
                .collect::<Vec<_>>()
                .join(" ");
            let lines = format!(
                "@bench v1 name=a.cpu{cpus}.cpu0 unit=ns kind=latency count=3 {stats}\n\
                 @bench v1 name=scale.a.cpus{cpus} unit=ns kind=throughput count=3 {stats}\n"
            );
            let run = run_of(&lines);
            proptest::prop_assert_eq!(run.log.benches.len(), 2);
            proptest::prop_assert!(render_dashboard(&[run]).is_ok());
        }
    }

    #[test]
    fn recognises_scale_points() {
        assert_eq!(scale_point("scale.chan.send.cpus4"), Some(("chan.send", 4)));
        assert_eq!(scale_point("scale.cpus4"), None);
        assert_eq!(scale_point("scale.x.cpus"), None);
        assert_eq!(scale_point("ipc.x.cpus4"), None);
    }

    #[test]
    fn the_summary_leads_with_every_benchmark_the_pi_ratio_and_falling_scaling() {
        let bench = |name: &str, kind: &str, p50: f64| {
            format!(
                "@bench v1 name={name} unit=cycles kind={kind} count=1 min={p50} p50={p50} \
                 p90={p50} p99={p50} p999={p50} max={p50} mean={p50}\n"
            )
        };
        let lines = bench("sched.pi.with_pi", "latency", 1000.0)
            + &bench("sched.pi.without_pi", "latency", 250_000.0)
            + &bench("scale.call.cpus1", "throughput", 100.0)
            + &bench("scale.call.cpus2", "throughput", 90.0);
        let run = run_of(&lines);
        assert_eq!(pi_ratio(&run), Some(250.0));
        let html = render_dashboard(&[run.clone(), run]).unwrap();
        let summary = html.find("<h2>Summary</h2>").unwrap();
        assert!(summary < html.find("<h2>Run conditions</h2>").unwrap());
        assert!(html.contains("250.00x longer without it than with it"));
        assert!(html.contains("scale.call.cpus2 (90) is below scale.call.cpus1 (100)"));
        assert!(
            html.contains("<th>r / r</th>"),
            "a ratio column per later run"
        );
        assert!(html.contains("<td>1.000 (unsure)</td>"));
    }
}
