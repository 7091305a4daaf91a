//! `veridian-run bench`: boot the kernel with `bench=<suite>`, show a progress
//! bar per benchmark (driven by the kernel's `@progress`/`@bench`/`@skip`
//! records as they arrive), then hand the serial log to `dashboards` to write
//! the run directory (serial.log, summary.json, histograms.hlog, *.hgrm,
//! dashboard.html), print the p50/p99/max table (with repeats: n, min,
//! median, spread) and, with `--compare DIR`, this run as the candidate
//! against the baseline DIR: verdicts, the conditions that differ, a
//! comparison dashboard and, with `--fail-on-regression`, the gate.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use dashboards::compare::Comparison;
use dashboards::records::{Record, parse_line};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use perf::suite::Measures;

use crate::checks;
use crate::cli::{BenchArgs, CompareArgs};
use crate::machine::{self, Accel, BootMedium, MachineSpec};
use crate::probe;
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
    with_accel_named(cmdline, accel_word(accel))
}

/// `cmdline` with `accel=<word>` appended unless it names one already.
#[must_use]
pub fn with_accel_named(cmdline: &str, word: &str) -> String {
    if cmdline.split_whitespace().any(|w| w.starts_with("accel=")) {
        cmdline.to_owned()
    } else {
        format!("{cmdline} accel={word}").trim().to_owned()
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

/// How often progress is printed as a plain line when stderr is not a
/// terminal (CI logs, pipes).
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Live progress: an overall bar (benchmarks finished of those selected,
/// with an ETA) and one bar per benchmark, keyed by name. When stderr is
/// not a terminal indicatif draws nothing, and a plain line is printed
/// instead at most every [`PLAIN_PROGRESS_EVERY`].
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    bars: HashMap<String, ProgressBar>,
    style: ProgressStyle,
    /// Table entries finished (a scaling entry counts once).
    finished: std::collections::BTreeSet<&'static str>,
    /// The benchmark running now.
    current: Option<String>,
    /// Plain lines: when the last was printed (`None`: on a terminal).
    plain: Option<std::time::Instant>,
    started: std::time::Instant,
}

impl Bars {
    /// Bars for a boot that runs `selection` (a `bench=` value).
    fn new(selection: &str, terminal: bool) -> Self {
        let style = ProgressStyle::with_template("{prefix:>34} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let total = perf::suite::SUITE
            .iter()
            .filter(|b| perf::suite::selected(selection, b.name))
            .count() as u64;
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(total));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>34} [{bar:30}] {pos}/{len} benchmarks, {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#> "),
        );
        overall.set_prefix("suite");
        let now = std::time::Instant::now();
        Self {
            multi,
            overall,
            bars: HashMap::new(),
            style,
            finished: std::collections::BTreeSet::new(),
            current: None,
            plain: (!terminal).then_some(now),
            started: now,
        }
    }

    /// The plain progress line.
    fn plain_line(&self) -> String {
        format!(
            "veridian-run: progress: {} of {} benchmarks done after {:.0} s{}",
            self.overall.position(),
            self.overall.length().unwrap_or(0),
            self.started.elapsed().as_secs_f64(),
            self.current
                .as_ref()
                .map(|c| format!(", running {c}"))
                .unwrap_or_default()
        )
    }

    fn finish_entry(&mut self, record_name: &str) {
        if let Some(entry) = perf::suite::entry_of(record_name)
            && self.finished.insert(entry.name)
        {
            self.overall.inc(1);
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
        self.observe_record(line);
        if let Some(last) = self.plain
            && last.elapsed() >= PLAIN_PROGRESS_EVERY
        {
            eprintln!("{}", self.plain_line());
            self.plain = Some(std::time::Instant::now());
        }
    }

    fn observe_record(&mut self, line: &str) {
        match parse_line(line) {
            Some(Ok(Record::Progress(p))) => {
                if p.done < p.total {
                    self.current = Some(p.name.clone());
                }
                let bar = self.bar(&p.name, p.total);
                bar.set_length(p.total.max(1));
                bar.set_position(p.done.min(p.total));
            }
            Some(Ok(Record::Bench(b))) => {
                let unit = b.unit.as_str();
                let bar = self.bar(&b.name, b.count);
                bar.set_position(bar.length().unwrap_or(0));
                bar.finish_with_message(format!("p50={} p99={} {unit}", b.p50, b.p99));
                self.finish_entry(&b.name);
                self.current = None;
            }
            Some(Ok(Record::Skip(s))) => {
                let bar = self.bar(&s.name, 1);
                bar.finish_with_message(format!("skipped: {}", s.reason));
                self.finish_entry(&s.name);
                self.current = None;
            }
            _ => {}
        }
    }
}

/// A regression beyond `--fail-on-regression` (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("{count} benchmark(s) slower than the baseline by more than {percent}% beyond noise")]
pub struct RegressionFound {
    pub count: usize,
    pub percent: f64,
}

/// The `bench=` selection of each boot. `--repeat N` boots the whole
/// selection N times. Without it, icount runs (deterministic) boot once;
/// TCG and KVM runs boot the selection once and then its throughput rows
/// (one sample per boot, and the noisiest) twice more.
#[must_use]
pub fn plan_passes(suite: &str, repeat: Option<u32>, accel: &Accel) -> Vec<String> {
    if let Some(n) = repeat {
        return vec![suite.to_owned(); n as usize];
    }
    if *accel == Accel::Icount {
        return vec![suite.to_owned()];
    }
    let throughput: Vec<&str> = perf::suite::SUITE
        .iter()
        .filter(|b| b.measures == Measures::Throughput && perf::suite::selected(suite, b.name))
        .map(|b| b.name)
        .collect();
    let mut passes = vec![suite.to_owned()];
    if !throughput.is_empty() {
        passes.extend([throughput.join(","), throughput.join(",")]);
    }
    passes
}

/// Runs `veridian-run bench`; `Ok(true)` when the suite completed.
///
/// # Errors
/// Usage errors, a missing kernel, QEMU not starting, the run directory not
/// being writable, or [`RegressionFound`].
pub fn run(host: &HostTools<'_>, args: &BenchArgs, workspace: &Workspace) -> anyhow::Result<bool> {
    if args.list {
        print!("{}", checks::benchmark_list());
        return Ok(true);
    }
    machine::validate(args.cpus, args.mem, args.numa).map_err(|e| UsageError(e.to_string()))?;
    checks::check_suite(&args.suite)?;
    checks::check_cmdline(&args.cmdline)?;
    if let Some(dir) = &args.compare
        && !dir.exists()
    {
        return Err(UsageError(format!(
            "--compare {}: no such run directory or log",
            dir.display()
        ))
        .into());
    }
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| workspace.default_kernel());
    require_kernel(&kernel)?;
    checks::check_memory(args.mem, &kernel)?;
    let accel = probe::choose_accel(host, workspace, &kernel, args.accel, false)?;
    let out = args.out.clone().unwrap_or_else(|| default_out(workspace));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let model = crate::model::prepare(args, &accel, workspace, &kernel, &out)?;
    // The Linux baseline's kernel and program are ready before anything boots.
    let linux = match args.baseline {
        Some(crate::cli::Baseline::Linux) => Some(crate::linux::prepare(args, workspace)?),
        None => None,
    };
    let suite = args.profile.as_deref().unwrap_or(&args.suite);
    let passes = plan_passes(suite, args.repeat, &accel);
    let mut log = String::new();
    let mut failure = None;
    let mut elapsed = Duration::ZERO;
    // The wall-clock time of the first boot: the interval log's base time
    // (its intervals start at seconds since boot).
    let mut booted = None;
    for (index, selection) in passes.iter().enumerate() {
        if passes.len() > 1 {
            eprintln!(
                "veridian-run: boot {} of {}: bench={selection}",
                index + 1,
                passes.len()
            );
        }
        let pass_log = out.join(format!("serial.{}.log", index + 1));
        let spec = MachineSpec {
            cpus: args.cpus,
            mem: args.mem,
            numa_nodes: args.numa,
            accel: accel.clone(),
            boot: BootMedium::Pvh {
                kernel: kernel.clone(),
            },
            cmdline: with_extra(
                bench_cmdline(selection, args.samples, &accel),
                &args.cmdline,
            ),
            gdb: false,
        };
        booted = booted.or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
        });
        let run = boot_once(host, &spec, args, &pass_log, model.as_ref())?;
        elapsed += run.elapsed;
        let text =
            std::fs::read(&pass_log).with_context(|| format!("reading {}", pass_log.display()))?;
        log.push_str(&String::from_utf8_lossy(&text));
        let _ = std::fs::remove_file(&pass_log);
        if let Err(why) = verdict::explain_end(run.end) {
            for line in &run.stderr_tail {
                eprintln!("veridian-run: qemu: {line}");
            }
            failure = Some(why);
            break;
        }
    }
    let finished = match &model {
        Some(m) if failure.is_none() => Some(crate::model::merge_into(m, &mut log, &out)?),
        _ => None,
    };
    // Linux's records follow Veridian's in the run's log.
    let linux_failure = match (&linux, &failure) {
        (Some(prepared), None) => crate::linux::run(host, prepared, args, &accel, &out)
            .map(|records| log.push_str(&records))
            .err(),
        _ => None,
    };
    let summary = dashboards::write_run_dir_booted_at(&log, &out, booted)
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{}", summary.terminal_table());
    print!("{}", dashboards::baseline::terminal_table(&summary.results));
    if let (Some(m), Some(finished)) = (&model, finished) {
        crate::model::report(m, &finished, &kernel, workspace, &out)?;
    }
    for w in &summary.warnings {
        eprintln!("veridian-run: warning: {w}");
    }
    let mut regressions = None;
    if let Some(baseline) = &args.compare {
        let comparison = compare(baseline, &out)?;
        if let Some(percent) = args.fail_on_regression {
            regressions = Some((comparison.regressions(percent).len(), percent));
        }
    }
    eprintln!("veridian-run: results in {}", out.display());
    let raw_log = out.join(dashboards::SERIAL_LOG);
    let mut ok = true;
    if let Some(why) = failure {
        eprintln!("veridian-run: FAIL: the kernel did not finish the suite: {why}");
        ok = false;
    } else if !summary.done {
        eprintln!(
            "veridian-run: FAIL: no @done record (the suite did not finish); see {}",
            raw_log.display()
        );
        ok = false;
    }
    if let Some(e) = linux_failure {
        eprintln!("veridian-run: FAIL: {e:#}");
        ok = false;
    }
    if ok {
        eprintln!(
            "veridian-run: suite '{}' done in {:.1}s ({} boot(s)): {} results, {} skipped",
            suite,
            elapsed.as_secs_f64(),
            passes.len(),
            summary.results.len(),
            summary.skipped.len()
        );
    }
    if let Some((count, percent)) = regressions
        && count > 0
    {
        return Err(RegressionFound { count, percent }.into());
    }
    Ok(ok)
}

/// Boots the machine once with progress bars, teeing the serial console
/// into `log`.
fn boot_once(
    host: &HostTools<'_>,
    spec: &MachineSpec,
    args: &BenchArgs,
    log: &Path,
    model: Option<&crate::model::ModelRun>,
) -> anyhow::Result<process::QemuRun> {
    let mut qemu_args = machine::qemu_args(spec)?;
    if let Some(m) = model {
        qemu_args = m.qemu_args(qemu_args);
    }
    eprintln!("veridian-run: {}", shell_words(host.qemu, &qemu_args));
    let selection = spec
        .cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bench="))
        .unwrap_or("quick");
    let bars = Arc::new(Mutex::new(Bars::new(
        selection,
        std::io::stderr().is_terminal(),
    )));
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
        log: Some(log),
        echo: args.verbose,
        interactive: false,
        stop_when: None,
        on_line: Some(observer),
    })?;
    if let Ok(b) = bars.lock() {
        let _ = b.multi.clear();
        if b.plain.is_some() {
            eprintln!("{}", b.plain_line());
        }
    }
    Ok(run)
}

/// Compares the run at `candidate` with the run at `baseline`: prints the
/// report and writes `<candidate>/compare.html` (baseline first).
///
/// # Errors
/// A run cannot be read, or the dashboard cannot be written.
pub fn compare(baseline: &Path, candidate: &Path) -> anyhow::Result<Comparison> {
    compare_to(baseline, candidate, Some(&candidate.join("compare.html")))
}

/// [`compare`] with the dashboard written to `html`, if given.
///
/// # Errors
/// A run cannot be read, or the dashboard cannot be written.
pub fn compare_to(
    baseline: &Path,
    candidate: &Path,
    html: Option<&Path>,
) -> anyhow::Result<Comparison> {
    let load = |path: &Path| {
        dashboards::load_run(path).with_context(|| format!("loading {}", path.display()))
    };
    let runs = [load(baseline)?, load(candidate)?];
    let comparison = Comparison::new(&runs[0], &runs[1]);
    if comparison.rows.iter().all(|row| row.ratio.is_none()) {
        bail!("no benchmark appears in both runs: nothing to compare");
    }
    print!(
        "{}",
        comparison.terminal_report(
            &baseline.display().to_string(),
            &candidate.display().to_string()
        )
    );
    if let Some(html) = html {
        let page = dashboards::render_dashboard(&runs)?;
        std::fs::write(html, page).with_context(|| format!("writing {}", html.display()))?;
        eprintln!("veridian-run: comparison dashboard {}", html.display());
    }
    Ok(comparison)
}

/// `veridian-run compare`: exit status 0, or 3 with `--fail-on-regression`
/// when a benchmark regressed.
///
/// # Errors
/// A run cannot be read, or [`RegressionFound`].
pub fn compare_command(args: &CompareArgs) -> anyhow::Result<bool> {
    for path in [&args.baseline, &args.candidate] {
        if !path.exists() {
            return Err(
                UsageError(format!("{}: no such run directory or log", path.display())).into(),
            );
        }
    }
    let comparison = compare_to(&args.baseline, &args.candidate, args.html.as_deref())?;
    if let Some(percent) = args.fail_on_regression {
        let count = comparison.regressions(percent).len();
        if count > 0 {
            return Err(RegressionFound { count, percent }.into());
        }
    }
    Ok(true)
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
    fn noisy_accelerators_repeat_the_throughput_rows() {
        assert_eq!(plan_passes("ipc.call", None, &Accel::Tcg), ["ipc.call"]);
        assert_eq!(plan_passes("quick", None, &Accel::Icount), ["quick"]);
        let tput = "ipc.async.throughput.cross_cpu.b1,ipc.async.throughput.cross_cpu.b16,\
                    stress.procs.1024,scale.call";
        assert_eq!(
            plan_passes("quick", None, &Accel::Tcg),
            ["quick", tput, tput]
        );
        assert_eq!(
            plan_passes("syscall,scale", None, &Accel::Tcg),
            ["syscall,scale", "scale.call", "scale.call"]
        );
        assert_eq!(
            plan_passes("ipc.call", Some(2), &Accel::Icount),
            ["ipc.call", "ipc.call"]
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
        assert_eq!(
            with_accel_named("run=report", crate::bochs::ACCEL_WORD),
            "run=report accel=bochs"
        );
        assert_eq!(
            with_accel_named("accel=tcg run=test", "bochs"),
            "accel=tcg run=test"
        );
    }

    #[test]
    fn progress_records_drive_bars_and_garbage_is_ignored() {
        let mut bars = Bars::new("quick", true);
        bars.observe("@progress v1 name=syscall.null done=0 total=100");
        bars.observe("random console output");
        bars.observe("@progress v1 name=syscall.null done=50 total=100");
        assert_eq!(bars.bars["syscall.null"].position(), 50);
        bars.observe("@skip v1 name=ipc.large.4096 reason=not%20built");
        assert!(bars.bars["ipc.large.4096"].is_finished());
        bars.observe("@progress v1 name=bad");
        assert_eq!(bars.bars.len(), 2);
        // The skip finished one entry of the selection.
        assert_eq!(bars.overall.position(), 1);
        let quick = perf::suite::SUITE
            .iter()
            .filter(|b| perf::suite::selected("quick", b.name))
            .count();
        assert_eq!(bars.overall.length(), Some(quick as u64));
    }

    #[test]
    fn the_overall_bar_counts_entries_and_the_plain_line_names_the_running_one() {
        let mut bars = Bars::new("syscall,scale", false);
        assert_eq!(bars.overall.length(), Some(2));
        bars.observe("@progress v1 name=syscall.null done=0 total=100");
        assert_eq!(
            bars.plain_line().split(" after ").next(),
            Some("veridian-run: progress: 0 of 2 benchmarks done")
        );
        assert!(bars.plain_line().ends_with(", running syscall.null"));
        let bench = |name: &str| {
            format!(
                "@bench v1 name={name} unit=cycles kind=latency count=1 min=1 p50=1 p90=1 \
                 p99=1 p999=1 max=1 mean=1"
            )
        };
        bars.observe(&bench("syscall.null"));
        assert!(!bars.plain_line().contains("running"));
        bars.observe(&bench("scale.call.cpus1"));
        bars.observe(&bench("scale.call.cpus2"));
        assert_eq!(bars.overall.position(), 2);
        assert!(
            bars.plain_line()
                .starts_with("veridian-run: progress: 2 of 2 benchmarks done")
        );
    }
}
