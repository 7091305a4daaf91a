//! `veridian-run bench`: boot the kernel with `bench=<suite>`, show a progress
//! bar per benchmark (driven by the kernel's `@progress`/`@bench`/`@skip`
//! records as they arrive), then hand the serial log to `dashboards` to write
//! the run directory (serial.log, summary.json, histograms.hlog, *.hgrm,
//! dashboard.html), print the p50/p99/max table and, with `--compare`, a
//! comparison dashboard and ratio table against earlier runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use dashboards::records::{Record, parse_line};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::BenchArgs;
use crate::machine::{self, Accel, BootMedium, MachineSpec};
use crate::probe::{self, ProbeContext};
use crate::process::{self, RunOptions};
use crate::qemu_cmd::{HostTools, UsageError, require_kernel, shell_words};
use crate::verdict;
use crate::workspace::Workspace;

/// The kernel command-line word for an accelerator (`accel=`).
#[must_use]
pub fn accel_word(accel: &Accel) -> &'static str {
    match accel {
        Accel::Tcg => "tcg",
        Accel::Icount => "icount",
        Accel::Kvm { .. } => "kvm",
    }
}

/// `cmdline` with `accel=<accel>` appended unless it names one already (the
/// kernel reports the accelerator in its boot and benchmark records).
#[must_use]
pub fn with_accel_word(cmdline: &str, accel: &Accel) -> String {
    if cmdline.split_whitespace().any(|w| w.starts_with("accel=")) {
        cmdline.to_owned()
    } else {
        format!("{cmdline} accel={}", accel_word(accel))
            .trim()
            .to_owned()
    }
}

/// `line` followed by the user's extra words (if any).
#[must_use]
pub fn with_extra(line: String, extra: &str) -> String {
    match extra.trim() {
        "" => line,
        extra => format!("{line} {extra}"),
    }
}

/// The kernel command line of a benchmark run.
#[must_use]
pub fn bench_cmdline(suite: &str, samples: Option<u64>, accel: &Accel) -> String {
    let mut line = format!("bench={suite} accel={}", accel_word(accel));
    if let Some(n) = samples {
        line.push_str(&format!(" samples={n}"));
    }
    line
}

/// `target/bench/<UTC time>` under the workspace's target directory.
fn default_out(workspace: &Workspace) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    workspace.target.join("bench").join(stamp)
}

/// Live progress: one bar per benchmark, keyed by name.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    style: ProgressStyle,
}

impl Bars {
    fn new() -> Self {
        let style = ProgressStyle::with_template("{prefix:>34} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Self {
            multi: MultiProgress::new(),
            bars: HashMap::new(),
            style,
        }
    }

    fn bar(&mut self, name: &str, total: u64) -> &ProgressBar {
        let (multi, style) = (&self.multi, &self.style);
        self.bars.entry(name.to_owned()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(total.max(1)));
            bar.set_style(style.clone());
            bar.set_prefix(name.to_owned());
            bar
        })
    }

    fn observe(&mut self, line: &str) {
        match parse_line(line) {
            Some(Ok(Record::Progress(p))) => {
                let bar = self.bar(&p.name, p.total);
                bar.set_length(p.total.max(1));
                bar.set_position(p.done.min(p.total));
            }
            Some(Ok(Record::Bench(b))) => {
                let unit = b.unit.as_str();
                let bar = self.bar(&b.name, b.count);
                bar.set_position(bar.length().unwrap_or(0));
                bar.finish_with_message(format!("p50={} p99={} {unit}", b.p50, b.p99));
            }
            Some(Ok(Record::Skip(s))) => {
                let bar = self.bar(&s.name, 1);
                bar.finish_with_message(format!("skipped: {}", s.reason));
            }
            _ => {}
        }
    }
}

/// Runs `veridian-run bench`; `Ok(true)` when the suite completed.
///
/// # Errors
/// Usage errors, a missing kernel, QEMU not starting, the run directory not
/// being writable.
pub fn run(host: &HostTools<'_>, args: &BenchArgs, workspace: &Workspace) -> anyhow::Result<bool> {
    machine::validate(args.cpus, args.mem, args.numa).map_err(|e| UsageError(e.to_string()))?;
    for dir in &args.compare {
        if !dir.exists() {
            return Err(UsageError(format!(
                "--compare {}: no such run directory or log",
                dir.display()
            ))
            .into());
        }
    }
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| workspace.default_kernel());
    require_kernel(&kernel)?;
    let probe_context = ProbeContext {
        qemu: host.qemu,
        kvm_device: host.kvm_device,
        kernel: &kernel,
        cache_dir: &workspace.runner_dir(),
        reprobe: false,
    };
    let (accel, accel_line) = probe::resolve_accel(args.accel, &probe_context)?;
    eprintln!("veridian-run: {accel_line}");
    let out = args.out.clone().unwrap_or_else(|| default_out(workspace));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let model = crate::model::prepare(args, &accel, workspace, &kernel, &out)?;
    let suite = args.profile.as_deref().unwrap_or(&args.suite);
    let spec = MachineSpec {
        cpus: args.cpus,
        mem: args.mem,
        numa_nodes: args.numa,
        accel: accel.clone(),
        boot: BootMedium::Pvh {
            kernel: kernel.clone(),
        },
        cmdline: with_extra(bench_cmdline(suite, args.samples, &accel), &args.cmdline),
        gdb: false,
    };
    let mut qemu_args = machine::qemu_args(&spec)?;
    if let Some(m) = &model {
        qemu_args = m.qemu_args(qemu_args);
    }
    eprintln!("veridian-run: {}", shell_words(host.qemu, &qemu_args));
    let raw_log = out.join("serial.log");
    let bars = Arc::new(Mutex::new(Bars::new()));
    let observer = {
        let bars = Arc::clone(&bars);
        Arc::new(move |line: &str| {
            if let Ok(mut b) = bars.lock() {
                b.observe(line);
            }
        })
    };
    let run = process::run_qemu(&RunOptions {
        qemu: host.qemu,
        args: &qemu_args,
        timeout: Some(Duration::from_secs(args.timeout)),
        log: Some(&raw_log),
        echo: args.verbose,
        interactive: false,
        stop_when: None,
        on_line: Some(observer),
    })?;
    if let Ok(b) = bars.lock() {
        let _ = b.multi.clear();
    }
    let log = std::fs::read(&raw_log).with_context(|| format!("reading {}", raw_log.display()))?;
    let mut log = String::from_utf8_lossy(&log).into_owned();
    let finished = match &model {
        Some(m) => Some(crate::model::merge_into(m, &mut log, &out)?),
        None => None,
    };
    let summary = dashboards::write_run_dir(&log, &out)
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{}", summary.terminal_table());
    if let (Some(m), Some(finished)) = (&model, finished) {
        crate::model::report(m, &finished, &kernel, workspace, &out)?;
    }
    for w in &summary.warnings {
        eprintln!("veridian-run: warning: {w}");
    }
    if !args.compare.is_empty() {
        compare(&out, &args.compare)?;
    }
    eprintln!("veridian-run: results in {}", out.display());
    let mut ok = true;
    if let Err(why) = verdict::explain_end(run.end) {
        eprintln!("veridian-run: FAIL: the kernel did not finish the suite: {why}");
        ok = false;
    }
    if !summary.done {
        eprintln!(
            "veridian-run: FAIL: no @done record (the suite did not finish); see {}",
            raw_log.display()
        );
        ok = false;
    }
    if ok {
        eprintln!(
            "veridian-run: suite '{}' done in {:.1}s: {} results, {} skipped",
            suite,
            run.elapsed.as_secs_f64(),
            summary.results.len(),
            summary.skipped.len()
        );
    }
    Ok(ok)
}

/// Writes `<out>/compare.html` (this run first, then the others) and prints
/// the ratio table.
fn compare(out: &Path, others: &[PathBuf]) -> anyhow::Result<()> {
    let mut runs = vec![dashboards::load_run(out)?];
    for dir in others {
        runs.push(dashboards::load_run(dir).with_context(|| format!("loading {}", dir.display()))?);
    }
    let html = dashboards::render_dashboard(&runs)?;
    let path = out.join("compare.html");
    std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))?;
    let rows = dashboards::compare::ratio_table(&runs);
    if rows.is_empty() {
        bail!("no benchmark appears in both runs: nothing to compare");
    }
    println!(
        "comparison against {} earlier run(s) (ratio = other / this run):",
        others.len()
    );
    let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    for row in rows {
        println!(
            "  {:<36} run {}  p50 x{}  p99 x{}{}{}",
            row.name,
            row.run + 1,
            ratio(row.p50_ratio),
            ratio(row.p99_ratio),
            if row.slower { "  SLOWER" } else { "" },
            row.note.map(|n| format!("  ({n})")).unwrap_or_default()
        );
    }
    eprintln!("veridian-run: comparison dashboard {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_words_follow_the_bench_words() {
        assert_eq!(
            with_extra("bench=ipc accel=tcg".into(), " "),
            "bench=ipc accel=tcg"
        );
        assert_eq!(
            with_extra("bench=ipc accel=tcg".into(), "ipc.fastpath=off pi=off"),
            "bench=ipc accel=tcg ipc.fastpath=off pi=off"
        );
    }

    #[test]
    fn bench_cmdline_names_suite_accel_and_samples() {
        assert_eq!(
            bench_cmdline("quick", None, &Accel::Tcg),
            "bench=quick accel=tcg"
        );
        assert_eq!(
            bench_cmdline("ipc.", Some(500), &Accel::Icount),
            "bench=ipc. accel=icount samples=500"
        );
        let kvm = Accel::Kvm {
            cpu_model: "host".to_owned(),
        };
        assert_eq!(
            bench_cmdline("full", Some(1), &kvm),
            "bench=full accel=kvm samples=1"
        );
    }

    #[test]
    fn accel_word_is_added_once() {
        assert_eq!(
            with_accel_word("run=boot", &Accel::Tcg),
            "run=boot accel=tcg"
        );
        assert_eq!(with_accel_word("", &Accel::Icount), "accel=icount");
        assert_eq!(
            with_accel_word("run=test accel=bare", &Accel::Tcg),
            "run=test accel=bare"
        );
    }

    #[test]
    fn progress_records_drive_bars_and_garbage_is_ignored() {
        let mut bars = Bars::new();
        bars.observe("@progress v1 name=syscall.null done=0 total=100");
        bars.observe("random console output");
        bars.observe("@progress v1 name=syscall.null done=50 total=100");
        assert_eq!(bars.bars["syscall.null"].position(), 50);
        bars.observe("@skip v1 name=ipc.large.4096 reason=not%20built");
        assert!(bars.bars["ipc.large.4096"].is_finished());
        bars.observe("@progress v1 name=bad");
        assert_eq!(bars.bars.len(), 2);
    }
}
