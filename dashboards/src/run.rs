//! Run directories: [`write_run_dir`] turns one serial log into the files
//! the bench runner leaves in `target/bench/<run>/`, and [`load_run`] reads
//! a run (directory or raw log) back for the dashboard.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::hdr::{interval_log, percentile_distribution};
use crate::html::render_dashboard;
use crate::runlog::RunLog;
use crate::summary::{RunSummary, SummaryDocument};

/// The raw serial log inside a run directory.
pub const SERIAL_LOG: &str = "serial.log";
/// The JSON summary inside a run directory.
pub const SUMMARY_JSON: &str = "summary.json";
/// The interval log of all histograms inside a run directory.
pub const HISTOGRAM_LOG: &str = "histograms.hlog";
/// The HTML dashboard inside a run directory.
pub const DASHBOARD_HTML: &str = "dashboard.html";

/// One run to show on a dashboard, with the label its legend uses.
#[derive(Debug, Clone)]
pub struct LabeledRun {
    /// Legend label, normally the run directory's name.
    pub label: String,
    /// The parsed log.
    pub log: RunLog,
}

/// Writes a run directory from a serial log: `serial.log` (verbatim),
/// `summary.json`, `histograms.hlog`, one `<bench>.hgrm` per benchmark with
/// histograms, and `dashboard.html`. Creates `out` if needed. Unreadable
/// log lines do not fail the call; they are listed in the summary's
/// warnings.
///
/// # Errors
///
/// [`Error::Io`] when a file cannot be written, or the rare rendering
/// errors of [`Error`].
pub fn write_run_dir(serial_log: &str, out: &Path) -> Result<RunSummary, Error> {
    write_run_dir_booted_at(serial_log, out, None)
}

/// [`write_run_dir`] for a run that booted at `booted` (wall-clock time
/// since the Unix epoch, when the runner knows it): `histograms.hlog` gets
/// it as its `StartTime` and `BaseTime`, so interval timestamps (seconds
/// since boot) read as wall-clock times.
///
/// # Errors
///
/// As [`write_run_dir`].
pub fn write_run_dir_booted_at(
    serial_log: &str,
    out: &Path,
    booted: Option<Duration>,
) -> Result<RunSummary, Error> {
    let base_time = booted;
    fs::create_dir_all(out).map_err(Error::io(out))?;
    let write = |name: &str, contents: &[u8]| {
        let path = out.join(name);
        fs::write(&path, contents).map_err(Error::io(path))
    };
    write(SERIAL_LOG, serial_log.as_bytes())?;

    let log = RunLog::parse(serial_log);
    let summary = serde_json::to_string_pretty(&SummaryDocument::new(&log))?;
    write(SUMMARY_JSON, summary.as_bytes())?;

    let conditions: Vec<String> = log
        .meta
        .iter()
        .map(|(key, value)| format!("[{key}={value}]"))
        .collect();
    let hlog =
        interval_log(&log.histograms, &conditions, base_time).map_err(Error::HistogramLog)?;
    write(HISTOGRAM_LOG, hlog.as_bytes())?;

    let mut used_names = BTreeSet::new();
    for name in log.histogram_names() {
        if let Some(histogram) = log.histogram(name) {
            let file = unique_file_name(&mut used_names, name, "hgrm");
            write(&file, percentile_distribution(&histogram).as_bytes())?;
        }
    }

    let run = LabeledRun {
        label: run_label(out),
        log,
    };
    let html = render_dashboard(std::slice::from_ref(&run))?;
    write(DASHBOARD_HTML, html.as_bytes())?;

    let log = run.log;
    Ok(RunSummary {
        dir: out.to_path_buf(),
        done: log.done.is_some(),
        results: log.benches,
        skipped: log.skipped,
        repeats: log.repeats,
        warnings: log.warnings,
    })
}

/// Reads a run for the dashboard: a directory written by [`write_run_dir`]
/// (its `serial.log` is parsed again) or a raw serial log file. Bytes that
/// are not UTF-8 are replaced, as serial lines can carry line noise.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read.
pub fn load_run(path: &Path) -> Result<LabeledRun, Error> {
    let log_path: PathBuf = if path.is_dir() {
        path.join(SERIAL_LOG)
    } else {
        path.to_path_buf()
    };
    let bytes = fs::read(&log_path).map_err(Error::io(&log_path))?;
    Ok(LabeledRun {
        label: run_label(path),
        log: RunLog::parse(&String::from_utf8_lossy(&bytes)),
    })
}

/// The last path component (without `.log`), or the whole path.
fn run_label(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    name.strip_suffix(".log").map(str::to_owned).unwrap_or(name)
}

/// A file name for benchmark `name`: characters other than ASCII letters,
/// digits, `.`, `_` and `-` become `_`, and a numeric suffix keeps names
/// that collide apart.
fn unique_file_name(used: &mut BTreeSet<String>, name: &str, extension: &str) -> String {
    let mut stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        stem.insert(0, '_');
    }
    let mut candidate = format!("{stem}.{extension}");
    let mut suffix = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{stem}-{suffix}.{extension}");
        suffix += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_sanitized_and_unique() {
        let mut used = BTreeSet::new();
        assert_eq!(
            unique_file_name(&mut used, "ipc.call", "hgrm"),
            "ipc.call.hgrm"
        );
        assert_eq!(
            unique_file_name(&mut used, "ipc/call", "hgrm"),
            "ipc_call.hgrm"
        );
        assert_eq!(
            unique_file_name(&mut used, "ipc?call", "hgrm"),
            "ipc_call-2.hgrm"
        );
        assert_eq!(unique_file_name(&mut used, "../x", "hgrm"), "_.._x.hgrm");
        assert_eq!(unique_file_name(&mut used, "", "hgrm"), "_.hgrm");
    }

    #[test]
    fn labels_come_from_the_last_component() {
        assert_eq!(run_label(Path::new("target/bench/run-7")), "run-7");
        assert_eq!(run_label(Path::new("/tmp/serial.log")), "serial");
    }
}
