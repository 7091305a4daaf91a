//! The parser and the run-directory writer on a real log captured from the
//! kernel (`bench=quick samples=500 accel=icount`, `-smp 2`, QEMU TCG with
//! `-icount shift=0`): the records the kernel-side encoders (`perf::record`)
//! print must parse without a single warning, and damaged copies of it must
//! still render with per-line warnings.

use std::fs;

use dashboards::{RunLog, write_run_dir};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

const KERNEL_LOG: &str = "tests/fixtures/kernel_quick_icount.log";

fn kernel_log() -> String {
    fs::read_to_string(KERNEL_LOG).expect("the kernel log fixture is committed")
}

#[test]
fn every_kernel_record_parses() {
    let log = RunLog::parse(&kernel_log());
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    assert_eq!(log.boot.get("boot"), Some("pvh"));
    assert_eq!(log.meta.get("accel"), Some("icount"));
    assert_eq!(log.meta.get("pmu"), Some("none"));
    let done = log.done.as_ref().expect("@done");
    assert_eq!(done.benches as usize, log.benches.len());
    assert_eq!(done.skipped as usize, log.skipped.len());
    let names: Vec<&str> = log.benches.iter().map(|b| b.name.as_str()).collect();
    for expected in ["syscall.null", "cap.lookup.16", "cap.lookup.65536"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
        let hist = log.histogram(expected).expect("a histogram per benchmark");
        assert_eq!(
            hist.len(),
            500,
            "{expected}: every sample is in the histogram"
        );
    }
    for skip in &log.skipped {
        assert!(
            !skip.reason.is_empty(),
            "{} skipped without a reason",
            skip.name
        );
    }
}

#[test]
fn kernel_run_dir_has_every_file_and_a_readable_hlog() {
    let dir = tempfile::tempdir().unwrap();
    let summary = write_run_dir(&kernel_log(), dir.path()).unwrap();
    assert!(summary.done);
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    for file in [
        "serial.log",
        "summary.json",
        "histograms.hlog",
        "dashboard.html",
        "syscall.null.hgrm",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    let hlog = fs::read(dir.path().join("histograms.hlog")).unwrap();
    let tags: Vec<String> = IntervalLogIterator::new(&hlog)
        .filter_map(|e| match e {
            Ok(LogEntry::Interval(h)) => h.tag().map(|t| t.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert!(tags.iter().any(|t| t == "syscall.null"), "{tags:?}");
}

#[test]
fn truncated_kernel_log_still_renders_with_warnings() {
    let log = kernel_log();
    let cut = &log[..log.len() * 2 / 3];
    let dir = tempfile::tempdir().unwrap();
    let summary = write_run_dir(cut, dir.path()).unwrap();
    assert!(!summary.done, "a cut log has no @done");
    assert!(dir.path().join("dashboard.html").is_file());
}
