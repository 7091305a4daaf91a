//! End-to-end tests of `write_run_dir`, the dashboard and the `dashboard`
//! command on the generated fixture log.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use dashboards::compare::{Comparison, Verdict};
use dashboards::hdr::decode_histogram;
use dashboards::{RunLog, load_run, render_dashboard, write_run_dir};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

use common::{FIXTURE, LATENCY_BENCHES, fixture_log};

/// Charts in a one-run dashboard of the fixture: a percentile plot and a
/// histogram per latency benchmark, one heat map, one scaling chart.
const CHARTS_ONE_RUN: usize = LATENCY_BENCHES.len() * 2 + 2;

fn committed_fixture() -> String {
    fs::read_to_string(FIXTURE).expect("tests/fixtures/run_small.log is committed")
}

#[test]
fn fixture_is_what_the_generator_writes() {
    let generated = fixture_log(100);
    if std::env::var_os("DASHBOARDS_REGENERATE_FIXTURES").is_some() {
        fs::write(FIXTURE, &generated).unwrap();
    }
    // Compare meaning, not bytes: zlib output may change between flate2
    // versions while decoding to the same histograms.
    let (committed, fresh) = (
        RunLog::parse(&committed_fixture()),
        RunLog::parse(&generated),
    );
    assert_eq!(committed.benches, fresh.benches);
    assert_eq!(committed.meta, fresh.meta);
    assert_eq!(committed.boot, fresh.boot);
    assert_eq!(committed.skipped, fresh.skipped);
    assert_eq!(committed.histograms.len(), fresh.histograms.len());
    for (old, new) in committed.histograms.iter().zip(&fresh.histograms) {
        assert_eq!(
            (&old.name, old.start, &old.histogram),
            (&new.name, new.start, &new.histogram)
        );
    }
}

#[test]
fn run_dir_holds_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let log = committed_fixture();
    let summary = write_run_dir(&log, dir.path()).unwrap();

    assert!(summary.done);
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(summary.results.len(), 7);
    assert_eq!(
        fs::read_to_string(dir.path().join("serial.log")).unwrap(),
        log
    );
    for file in ["summary.json", "histograms.hlog", "dashboard.html"] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    for (name, _, _) in LATENCY_BENCHES {
        assert!(
            dir.path().join(format!("{name}.hgrm")).is_file(),
            "{name}.hgrm missing"
        );
    }
}

#[test]
fn summary_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    write_run_dir(&committed_fixture(), dir.path()).unwrap();
    let text = fs::read_to_string(dir.path().join("summary.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();

    let top: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        top,
        [
            "meta",
            "results",
            "skipped",
            "repeat_count",
            "repeats",
            "scaling_warnings",
            "warnings"
        ]
    );
    assert_eq!(json["repeat_count"], 1);
    let same_cpu = &json["repeats"]["ipc.call.same_cpu"];
    assert_eq!(same_cpu["values"].as_array().map(Vec::len), Some(1));
    assert_eq!(same_cpu["median"], same_cpu["min"]);
    assert_eq!(same_cpu["noisy"], false);
    let meta = &json["meta"];
    assert_eq!(meta["accel"], "kvm");
    assert_eq!(
        meta["cpu_model"],
        "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
    );
    assert_eq!(meta["rev"], "0123abc");
    assert_eq!(meta["qemu"], "8.2.2", "extra @meta keys are kept");
    assert_eq!(meta["boot"]["boot"], "pvh");
    assert_eq!(meta["boot"]["cmdline"], "bench quiet");

    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    let keys = [
        "name", "unit", "kind", "count", "min", "p50", "p90", "p99", "p999", "max", "mean", "pmu",
    ];
    for result in results {
        let found: Vec<&str> = result
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(found, keys);
        assert!(["latency", "throughput"].contains(&result["kind"].as_str().unwrap()));
        assert!(result["count"].is_u64());
        assert!(keys[4..11].iter().all(|key| result[key].is_number()));
        assert!(result["pmu"].is_null() || result["pmu"].is_object());
    }
    assert_eq!(results[0]["pmu"]["instructions"], 312.5);
    assert_eq!(results[6]["unit"], "msgs_per_s");
    assert_eq!(json["skipped"][0]["reason"], "only one NUMA node");
    assert_eq!(json["warnings"].as_array().unwrap().len(), 0);
}

#[test]
fn interval_log_reads_back_with_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    let log = committed_fixture();
    write_run_dir(&log, dir.path()).unwrap();
    let hlog = fs::read(dir.path().join("histograms.hlog")).unwrap();

    let mut counts = BTreeMap::new();
    for entry in IntervalLogIterator::new(&hlog) {
        if let LogEntry::Interval(interval) = entry.unwrap() {
            let histogram = decode_histogram(interval.encoded_histogram()).unwrap();
            counts.insert(interval.tag().unwrap().as_str().to_owned(), histogram.len());
        }
    }
    let expected: BTreeMap<String, u64> = RunLog::parse(&log)
        .histograms
        .iter()
        .map(|record| (record.name.clone(), record.histogram.len()))
        .collect();
    assert_eq!(counts.len(), LATENCY_BENCHES.len());
    assert_eq!(counts, expected);
}

#[test]
fn hgrm_files_carry_the_percentile_table_and_footer() {
    let dir = tempfile::tempdir().unwrap();
    write_run_dir(&committed_fixture(), dir.path()).unwrap();
    for (name, _, samples) in LATENCY_BENCHES {
        let text = fs::read_to_string(dir.path().join(format!("{name}.hgrm"))).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        assert!(text.contains("#[Mean    = "));
        assert!(text.contains(&format!("Total count    = {samples:>12}]")));
        assert!(text.contains("#[Buckets = "));
        assert!(text.contains("SubBuckets     =         2048]"));
    }
}

fn svg_count(html: &str) -> usize {
    html.matches("<svg").count()
}

fn assert_self_contained(html: &str) {
    assert!(!html.contains("http://") && !html.contains("https://"));
    for tag in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!html.contains(tag), "dashboard contains {tag}");
    }
}

#[test]
fn dashboard_has_a_chart_per_view_and_no_external_resources() {
    let dir = tempfile::tempdir().unwrap();
    write_run_dir(&committed_fixture(), dir.path()).unwrap();
    let html = fs::read_to_string(dir.path().join("dashboard.html")).unwrap();

    assert_eq!(svg_count(&html), CHARTS_ONE_RUN);
    assert_eq!(html.matches("</svg>").count(), CHARTS_ONE_RUN);
    assert_self_contained(&html);
    for text in [
        "GenuineIntel",
        "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
        "TSC invariant",
        "cpuid15",
        "intel-v4",
        "boot.hv",
        "llc_misses",
        "only one NUMA node",
        "CPU x CPU heat maps",
        "scale.chan.send",
        "2 passed, 0 failed",
        "1 @audit record(s)",
    ] {
        assert!(html.contains(text), "dashboard lacks {text:?}");
    }
    assert!(!html.contains("Comparison with run 1"));
}

#[test]
fn damaged_lines_become_warnings_and_the_rest_still_renders() {
    let mut lines: Vec<String> = committed_fixture().lines().map(str::to_owned).collect();
    let bench = lines.iter().position(|l| l.starts_with("@bench")).unwrap();
    let hist = lines.iter().position(|l| l.starts_with("@hist")).unwrap();
    let damaged = [
        lines[bench][..lines[bench].len() / 2].to_owned(),
        lines[bench].replace("@bench v1", "@bench v2"),
        lines[bench].replace("p50=", "p50=x"),
        format!("{}#corrupt", &lines[hist][..lines[hist].len() - 10]),
        "thread panicked at 'oops' @bench v1 name=ipc.x unit=cycles kind=lat".to_owned(),
    ];
    for (offset, line) in damaged.into_iter().enumerate() {
        lines.insert(3 + offset, line);
    }
    let log = lines.join("\n");

    let dir = tempfile::tempdir().unwrap();
    let summary = write_run_dir(&log, dir.path()).unwrap();
    let warned: Vec<Option<usize>> = summary.warnings.iter().map(|w| w.line).collect();
    assert_eq!(warned, [Some(4), Some(5), Some(6), Some(7), Some(8)]);
    assert!(
        summary.warnings[1]
            .message
            .contains("unsupported version v2")
    );
    assert!(summary.warnings[3].message.contains("bad histogram"));
    assert_eq!(summary.results.len(), 7);
    let html = fs::read_to_string(dir.path().join("dashboard.html")).unwrap();
    assert_eq!(svg_count(&html), CHARTS_ONE_RUN);
    assert!(html.contains("unsupported version v2 of @bench"));
    let json: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(json["warnings"][0]["line"], 4);
}

#[test]
fn terminal_table_is_aligned_with_units() {
    let dir = tempfile::tempdir().unwrap();
    let table = write_run_dir(&committed_fixture(), dir.path())
        .unwrap()
        .terminal_table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("benchmark"));
    assert!(lines[0].ends_with("unit"));
    let latency_rows: Vec<&&str> = lines.iter().filter(|l| l.ends_with(" cycles")).collect();
    assert_eq!(latency_rows.len(), LATENCY_BENCHES.len());
    let width = latency_rows[0].len();
    assert!(latency_rows.iter().all(|row| row.len() == width));
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(" msgs_per_s")).count(),
        2
    );
    assert!(table.contains("skipped ipc.call.remote_node: only one NUMA node"));
}

/// A baseline and a 10% slower candidate, each of three repeats (the logs
/// of three boots one after the other) with the same values.
fn two_run_dirs(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (base, slow) = (root.join("base"), root.join("slow"));
    write_run_dir(&fixture_log(100).repeat(3), &base).unwrap();
    write_run_dir(&fixture_log(110).repeat(3), &slow).unwrap();
    (base, slow)
}

#[test]
fn comparing_two_runs_overlays_charts_and_flags_slowdowns() {
    let root = tempfile::tempdir().unwrap();
    let (base, slow) = two_run_dirs(root.path());
    let runs = [load_run(&base).unwrap(), load_run(&slow).unwrap()];
    assert_eq!(runs[1].label, "slow");

    assert!(
        runs[0].log.warnings.is_empty(),
        "{:?}",
        runs[0].log.warnings
    );
    assert_eq!(runs[0].log.repeat_count, 3);

    let comparison = Comparison::new(&runs[0], &runs[1]);
    assert_eq!(comparison.rows.len(), 7);
    assert!(
        comparison
            .rows
            .iter()
            .all(|row| row.verdict == Verdict::Slower),
        "{comparison:?}"
    );
    let same_cpu = &comparison.rows[0];
    assert!((same_cpu.ratio.unwrap() - 1.1).abs() < 0.02);
    assert_eq!(comparison.regressions(5.0).len(), 7);
    assert!(comparison.regressions(20.0).is_empty());
    let swapped = Comparison::new(&runs[1], &runs[0]);
    assert!(
        swapped
            .rows
            .iter()
            .all(|row| row.verdict == Verdict::Faster)
    );

    let html = render_dashboard(&runs).unwrap();
    assert!(html.contains("Comparison with the baseline (run 1)"));
    assert_eq!(
        html.matches("<span class=\"slower\">slower</span>").count(),
        7
    );
    // Overlaid: the same charts, plus one more heat map for the second run.
    assert_eq!(svg_count(&html), CHARTS_ONE_RUN + 1);
    assert_self_contained(&html);
}

#[test]
fn cli_renders_run_dirs_and_raw_logs() {
    let root = tempfile::tempdir().unwrap();
    let (base, slow) = two_run_dirs(root.path());
    let out = root.path().join("out.html");
    let status = Command::new(env!("CARGO_BIN_EXE_dashboard"))
        .arg(&base)
        .arg(&slow)
        .arg(FIXTURE)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.contains("run_small"), "raw log labelled by file stem");
    // The slow run against the baseline; the raw log is compared too.
    assert!(html.matches("<span class=\"slower\">slower</span>").count() >= 7);
    assert_eq!(html.matches("</span>slow against <span").count(), 1);
    assert_eq!(html.matches("</span>run_small against <span").count(), 1);
}

#[test]
fn cli_usage_errors_exit_2() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dashboard"))
            .args(args)
            .output()
            .unwrap()
    };
    let unknown_flag = run(&[FIXTURE, "-o", "/dev/null", "--bogus"]);
    assert_eq!(unknown_flag.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_flag.stderr).contains("Usage"));
    assert_eq!(run(&[FIXTURE]).status.code(), Some(2), "missing -o");
    assert_eq!(run(&["-o", "/dev/null"]).status.code(), Some(2), "no run");
    let missing = run(&["/nonexistent/run", "-o", "/dev/null"]);
    assert_eq!(missing.status.code(), Some(1));
}
