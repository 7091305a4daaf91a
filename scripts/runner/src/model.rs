//! `veridian-run bench --model` / `--profile`: run the suite with the QEMU
//! performance-model plugin (`perf/plugin`) and merge its per-window counts
//! into the `@bench` records as `model.<field>` per operation.
//!
//! The plugin appends one `@model` line per benchmark window to
//! `<run>/model.txt`, keyed by the benchmark's marker id
//! (`perf::marker::bench_id` of its name); the runner adds to each
//! `@bench` record of the same id the counts divided by the window's
//! operations, and `model.cycles` from the cost table (written to
//! `<run>/model-costs.txt`). Benchmarks without markers get no fields.
//!
//! Model runs add `sleep=off` to `-icount`: an idle machine's virtual clock
//! then jumps to the next timer deadline instead of following host time, so
//! two runs execute the same instructions and the counts repeat exactly.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use object::{Object, ObjectSymbol};
use perf_model::CostTable;
use perf_model::events::FIELDS;
use perf_model::report::{ProfileRow, WindowReport};

use crate::cli::BenchArgs;
use crate::machine::Accel;
use crate::qemu_cmd::UsageError;
use crate::workspace::Workspace;

/// The plugin's file name under `<target>/release/`.
pub const PLUGIN_FILE: &str = "libveridian_model_plugin.so";
/// The plugin's output in the run directory.
pub const MODEL_OUT: &str = "model.txt";
/// The cost table used, in the run directory.
pub const COSTS_OUT: &str = "model-costs.txt";
/// The kernel's interrupt entry stubs: 256 vectors, 16 bytes apart.
const TRAP_STUBS: &str = "trap_stub_table";
const TRAP_STUBS_LEN: u64 = 256 * 16;

/// A model run being prepared or finished.
#[derive(Debug)]
pub struct ModelRun {
    plugin: PathBuf,
    out: PathBuf,
    irq_stubs: Option<u64>,
    /// The cost table for `model.cycles`.
    pub costs: CostTable,
    /// The benchmark profiled per instruction address, if any.
    pub profile: Option<String>,
    /// Extra plugin arguments (`l1d=32K:8`, `caches=run`, ...), checked.
    pub plugin_args: Vec<String>,
}

/// Checks `--model-cache LEVEL=SIZE:WAYS` values and turns them and
/// `--model-warm` into plugin arguments.
///
/// # Errors
/// A [`UsageError`] naming the bad value.
pub fn plugin_args(caches: &[String], warm: &str) -> Result<Vec<String>, UsageError> {
    let mut args = Vec::new();
    for value in caches {
        let bad = |why: String| UsageError(format!("--model-cache {value}: {why}"));
        let (level, geometry) = value
            .split_once('=')
            .ok_or_else(|| bad("expected LEVEL=SIZE:WAYS, e.g. l1d=32K:8".to_owned()))?;
        if !matches!(level, "l1d" | "l2" | "llc") {
            return Err(bad(format!("unknown level `{level}` (l1d, l2, llc)")));
        }
        perf_model::Geometry::parse(geometry, 64).map_err(|e| bad(e.0))?;
        args.push(format!("{level}={geometry}"));
    }
    match warm {
        "window" | "run" => args.push(format!("caches={warm}")),
        other => {
            return Err(UsageError(format!(
                "--model-warm {other}: expected window or run"
            )));
        }
    }
    Ok(args)
}

impl ModelRun {
    /// Checks what a model run needs: `--accel icount`, the built plugin, a
    /// readable cost file when one is given, the kernel ELF's trap stubs.
    ///
    /// # Errors
    /// A [`UsageError`] naming what is missing or malformed.
    pub fn prepare(
        icount: bool,
        target: &Path,
        kernel: &Path,
        costs_file: Option<&Path>,
        profile: Option<&str>,
        run_dir: &Path,
        plugin_args: Vec<String>,
    ) -> anyhow::Result<Self> {
        if !icount {
            return Err(UsageError(
                "--model and --profile need --accel icount (the plugin's counts are \
                 deterministic only when every vCPU runs on one thread)"
                    .to_owned(),
            )
            .into());
        }
        let plugin = target.join("release").join(PLUGIN_FILE);
        if !plugin.is_file() {
            return Err(UsageError(format!(
                "{} is missing: build it with `cargo build -p perf-plugin --release` \
                 (scripts/bench.sh does)",
                plugin.display()
            ))
            .into());
        }
        let costs = match costs_file {
            None => CostTable::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| UsageError(format!("--model-costs {}: {e}", path.display())))?;
                CostTable::parse(&text, &path.display().to_string())
                    .map_err(|e| UsageError(format!("--model-costs: {e}")))?
            }
        };
        Ok(Self {
            plugin,
            out: run_dir.join(MODEL_OUT),
            irq_stubs: trap_stubs(kernel)?,
            costs,
            profile: profile.map(str::to_owned),
            plugin_args,
        })
    }

    /// QEMU's arguments with the plugin added and `sleep=off` in `-icount`.
    #[must_use]
    pub fn qemu_args(&self, mut args: Vec<String>) -> Vec<String> {
        if let Some(i) = args.iter().position(|a| a == "-icount")
            && let Some(value) = args.get_mut(i + 1)
            && !value.contains("sleep=")
        {
            value.push_str(",sleep=off");
        }
        let mut plugin = format!("{},out={}", self.plugin.display(), self.out.display());
        if let Some(start) = self.irq_stubs {
            let _ = write!(plugin, ",irq_stubs={start:x}:{TRAP_STUBS_LEN:x}");
        }
        if let Some(name) = &self.profile {
            let _ = write!(plugin, ",profile={}", perf::marker::bench_id(name));
        }
        for arg in &self.plugin_args {
            let _ = write!(plugin, ",{arg}");
        }
        args.push("-plugin".to_owned());
        args.push(plugin);
        args
    }

    /// Reads the plugin's output.
    ///
    /// # Errors
    /// The file is unreadable or holds a malformed record.
    pub fn read_output(&self) -> anyhow::Result<(Vec<WindowReport>, Vec<ProfileRow>)> {
        let text = std::fs::read_to_string(&self.out)
            .with_context(|| format!("reading the model's output {}", self.out.display()))?;
        parse_output(&text).with_context(|| format!("in {}", self.out.display()))
    }

    /// Writes the cost table used to `<run_dir>/model-costs.txt`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_costs(&self, run_dir: &Path) -> anyhow::Result<()> {
        let path = run_dir.join(COSTS_OUT);
        std::fs::write(&path, self.costs.to_text())
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// The `@model` and `@prof` records of the plugin's output.
///
/// # Errors
/// The first malformed record, with its line number.
pub fn parse_output(text: &str) -> anyhow::Result<(Vec<WindowReport>, Vec<ProfileRow>)> {
    let (mut windows, mut rows) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let context = || format!("line {}", n + 1);
        if let Some(w) = WindowReport::parse(line).with_context(context)? {
            windows.push(w);
        } else if let Some(r) = ProfileRow::parse(line).with_context(context)? {
            rows.push(r);
        }
    }
    Ok((windows, rows))
}

/// The start of the kernel's trap stub table, `None` when the ELF has no
/// such symbol (interrupts are then not counted).
fn trap_stubs(kernel: &Path) -> anyhow::Result<Option<u64>> {
    let data = std::fs::read(kernel).with_context(|| format!("reading {}", kernel.display()))?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{}: not an ELF the model can read", kernel.display()))?;
    Ok(file
        .symbols()
        .find(|s| s.name() == Ok(TRAP_STUBS))
        .map(|s| s.address()))
}

/// A count per operation as a record value: integers plain, else three
/// decimals (the same text for the same counts, run after run).
fn per_op(count: u64, ops: u64) -> String {
    if count.is_multiple_of(ops) {
        (count / ops).to_string()
    } else {
        format!("{:.3}", count as f64 / ops as f64)
    }
}

/// The `model.*` words for a window, its counts divided by `ops`
/// operations (the window's own operation count, or the `ops=` of a
/// throughput record whose window brackets them as one interval); empty
/// for a window with no operation.
#[must_use]
pub fn model_words_per(w: &WindowReport, costs: &CostTable, ops: u64) -> String {
    if w.ops == 0 || ops == 0 {
        return String::new();
    }
    let mut words = String::new();
    for field in FIELDS {
        let _ = write!(
            words,
            " model.{field}={}",
            per_op(w.total.get(field).unwrap_or(0), ops)
        );
    }
    let _ = write!(
        words,
        " model.cycles={:.3} model.ops={}",
        costs.cycles(&w.total) / ops as f64,
        ops
    );
    for (cpu, n) in w.cpu_instructions.iter().enumerate() {
        let _ = write!(words, " model.instructions.cpu{cpu}={}", per_op(*n, ops));
    }
    words
}

/// `log` with each `@bench` record of a benchmark the model saw extended by
/// its `model.*` words; returns the merged log and the names merged with
/// the operations their counts were divided by. A record with `ops=N` (a
/// throughput run) gets the window's counts per one of its N operations.
#[must_use]
pub fn merge(
    log: &str,
    windows: &[WindowReport],
    costs: &CostTable,
) -> (String, Vec<(String, u64)>) {
    let by_id: HashMap<u32, &WindowReport> = windows.iter().map(|w| (w.id, w)).collect();
    let mut merged = String::with_capacity(log.len());
    let mut names = Vec::new();
    for line in log.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let words = body.strip_prefix("@bench v1 ");
        let field = |key: &str| {
            words.and_then(|rest| rest.split_whitespace().find_map(|w| w.strip_prefix(key)))
        };
        let name = field("name=");
        let record_ops = field("ops=").and_then(|n| n.parse::<u64>().ok());
        match name.and_then(|n| by_id.get(&perf::marker::bench_id(n)).map(|w| (n, w))) {
            Some((n, w)) if w.ops > 0 => {
                let ops = record_ops.filter(|&n| n > 0).unwrap_or(w.ops);
                merged.push_str(body);
                merged.push_str(&model_words_per(w, costs, ops));
                merged.push_str(&line[body.len()..]);
                names.push((n.to_owned(), ops));
            }
            _ => merged.push_str(line),
        }
    }
    (merged, names)
}

/// A terminal table of the model's counts per operation.
#[must_use]
pub fn terminal_table(windows: &[(String, WindowReport)], costs: &CostTable) -> String {
    let mut t = format!(
        "performance model per operation (a model, not a measurement; costs: {}):\n\
         {:<34} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6}\n",
        costs.origin,
        "benchmark",
        "instr",
        "cycles",
        "l1d_miss",
        "l2_miss",
        "llc_miss",
        "coher",
        "cr3",
        "tlbf",
        "sysc",
        "ipi",
        "irq",
        "xsave"
    );
    for (name, w) in windows {
        let ops = w.ops.max(1) as f64;
        let v = |n: u64| n as f64 / ops;
        let e = &w.total;
        let _ = writeln!(
            t,
            "{name:<34} {:>10.1} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>5.2} {:>5.2} {:>5.2} {:>5.2} {:>5.2} {:>6.2}",
            v(e.instructions),
            costs.cycles(e) / ops,
            v(e.l1d_misses),
            v(e.l2_misses),
            v(e.llc_misses),
            v(e.coherence_transfers),
            v(e.cr3_writes),
            v(e.tlb_flushes),
            v(e.syscalls),
            v(e.ipis),
            v(e.interrupts),
            v(e.xsaves),
        );
    }
    t
}

/// The model run `args` asks for (`--model` or `--profile`), checked;
/// `None` for a plain run.
///
/// # Errors
/// As [`ModelRun::prepare`].
pub fn prepare(
    args: &BenchArgs,
    accel: &Accel,
    workspace: &Workspace,
    kernel: &Path,
    run_dir: &Path,
) -> anyhow::Result<Option<ModelRun>> {
    if !args.model && args.profile.is_none() {
        return Ok(None);
    }
    let plugin_args = plugin_args(&args.model_cache, &args.model_warm)?;
    ModelRun::prepare(
        matches!(accel, Accel::Icount),
        &workspace.target,
        kernel,
        args.model_costs.as_deref(),
        args.profile.as_deref(),
        run_dir,
        plugin_args,
    )
    .map(Some)
}

/// What the plugin reported, matched to the run's benchmarks.
#[derive(Debug)]
pub struct Finished {
    /// (benchmark name, its window) in record order; the window's `ops`
    /// is what its record's fields are per (a throughput record's `ops=`).
    pub windows: Vec<(String, WindowReport)>,
    /// The profile rows (with `--profile`).
    pub rows: Vec<ProfileRow>,
}

/// Merges the plugin's counts into `log` (see [`merge`]) and writes the
/// cost table to the run directory.
///
/// # Errors
/// The plugin's output is missing or malformed; the cost table cannot be
/// written.
pub fn merge_into(m: &ModelRun, log: &mut String, run_dir: &Path) -> anyhow::Result<Finished> {
    let (windows, rows) = m.read_output()?;
    let (merged, names) = merge(log, &windows, &m.costs);
    *log = merged;
    m.write_costs(run_dir)?;
    let by_id: HashMap<u32, &WindowReport> = windows.iter().map(|w| (w.id, w)).collect();
    // Each window with the operations its record's fields are per.
    let windows = names
        .into_iter()
        .filter_map(|(n, ops)| {
            by_id.get(&perf::marker::bench_id(&n)).map(|w| {
                (
                    n,
                    WindowReport {
                        ops,
                        ..(*w).clone()
                    },
                )
            })
        })
        .collect();
    Ok(Finished { windows, rows })
}

/// Prints the model's table and, with `--profile`, writes and prints the
/// profile.
///
/// # Errors
/// The profile cannot be made (see [`crate::profile::write`]).
pub fn report(
    m: &ModelRun,
    finished: &Finished,
    kernel: &Path,
    workspace: &Workspace,
    run_dir: &Path,
) -> anyhow::Result<()> {
    println!("{}", terminal_table(&finished.windows, &m.costs));
    let Some(bench) = &m.profile else {
        return Ok(());
    };
    let user_dir = workspace
        .target
        .join("user")
        .join("x86_64-unknown-none")
        .join("release");
    let files = crate::profile::write(bench, &finished.rows, kernel, &user_dir, run_dir)?;
    crate::profile::add_to_dashboard(run_dir, bench, &files)?;
    let window = finished.windows.iter().find(|(n, _)| n == bench);
    println!("top functions of {bench} (instructions in the window, innermost frame):");
    println!("{}", files.table);
    match window {
        Some((_, w)) => eprintln!(
            "veridian-run: profile of {bench}: {} instructions = model.instructions {} x {} operations{}",
            files.instructions,
            per_op(w.total.instructions, w.ops.max(1)),
            w.ops,
            if files.instructions == w.total.instructions {
                ""
            } else {
                " (MISMATCH)"
            }
        ),
        None => eprintln!("veridian-run: profile of {bench}: no @bench record to compare with"),
    }
    eprintln!(
        "veridian-run: {} {} {}",
        files.folded.display(),
        files.svg.display(),
        files.top.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use perf_model::Events;

    fn window(name: &str, ops: u64, instructions: u64) -> WindowReport {
        WindowReport {
            id: perf::marker::bench_id(name),
            ops,
            total: Events {
                instructions,
                syscalls: 2 * ops,
                ..Events::default()
            },
            cpu_instructions: vec![instructions, 0],
        }
    }

    #[test]
    fn bench_records_of_modeled_benchmarks_gain_model_fields() {
        let log = "@meta v1 accel=icount\n\
                   @bench v1 name=ipc.call.same_cpu unit=instructions kind=latency count=2 min=1 p50=1 p90=1 p99=1 p999=1 max=1 mean=1\n\
                   @bench v1 name=scale.call.cpus1 unit=instructions kind=latency count=2 min=1 p50=1 p90=1 p99=1 p999=1 max=1 mean=1\n";
        let windows = [window("ipc.call.same_cpu", 4, 1500)];
        let (merged, names) = merge(log, &windows, &CostTable::default());
        assert_eq!(names, [("ipc.call.same_cpu".to_owned(), 4)]);
        let lines: Vec<&str> = merged.lines().collect();
        assert_eq!(lines[0], "@meta v1 accel=icount");
        assert!(
            lines[1].contains(" model.instructions=375 "),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(" model.syscalls=2 "));
        // 375 instructions at 1 cycle plus 2 syscalls at 80.
        assert!(lines[1].contains(" model.cycles=535.000 "), "{}", lines[1]);
        assert!(lines[1].ends_with(" model.instructions.cpu1=0"));
        assert!(!lines[2].contains("model."));
        // The dashboards parser reads the merged record.
        let Some(Ok(dashboards::records::Record::Bench(b))) =
            dashboards::records::parse_line(lines[1])
        else {
            panic!("merged record does not parse");
        };
        assert_eq!(b.model.unwrap()["instructions"], 375.0);
    }

    #[test]
    fn throughput_records_divide_by_their_own_operations() {
        let log = "@bench v1 name=stress.procs.1024 unit=msgs_per_s kind=throughput count=1 \
                   min=9 p50=9 p90=9 p99=9 p999=9 max=9 mean=9 ops=1000\n";
        // One marker operation spanning the run: 1,000 calls.
        let windows = [window("stress.procs.1024", 1, 2_500_000)];
        let (merged, names) = merge(log, &windows, &CostTable::default());
        assert_eq!(names, [("stress.procs.1024".to_owned(), 1000)]);
        assert!(merged.contains(" model.instructions=2500 "), "{merged}");
        assert!(merged.contains(" model.syscalls=0.002 "), "{merged}");
        assert!(merged.contains(" model.ops=1000 "), "{merged}");
        assert!(merged.ends_with(" model.instructions.cpu1=0\n"));
        assert_eq!(model_words_per(&windows[0], &CostTable::default(), 0), "");
    }

    #[test]
    fn per_operation_values_are_plain_or_three_decimals() {
        assert_eq!(per_op(10, 5), "2");
        assert_eq!(per_op(10, 4), "2.500");
        assert_eq!(per_op(1, 3), "0.333");
    }

    #[test]
    fn windows_without_operations_add_nothing() {
        let empty = window("x", 0, 10);
        assert_eq!(
            model_words_per(&empty, &CostTable::default(), empty.ops),
            ""
        );
    }

    #[test]
    fn plugin_output_with_a_bad_record_is_refused_with_its_line() {
        let w = window("a", 1, 1).to_line();
        assert_eq!(parse_output(&format!("{w}\n")).unwrap().0.len(), 1);
        let e = parse_output(&format!("{w}\n@model v1 ops=x\n")).unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }

    #[test]
    fn model_runs_need_icount_the_plugin_and_a_good_cost_file() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("k");
        let e = ModelRun::prepare(
            false,
            dir.path(),
            &kernel,
            None,
            None,
            dir.path(),
            Vec::new(),
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("--accel icount"));
        let e = ModelRun::prepare(
            true,
            dir.path(),
            &kernel,
            None,
            None,
            dir.path(),
            Vec::new(),
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("cargo build -p perf-plugin"));
        std::fs::create_dir_all(dir.path().join("release")).unwrap();
        std::fs::write(dir.path().join("release").join(PLUGIN_FILE), b"").unwrap();
        let costs = dir.path().join("costs");
        std::fs::write(&costs, "ipi 1\n").unwrap();
        let e = ModelRun::prepare(
            true,
            dir.path(),
            &kernel,
            Some(&costs),
            None,
            dir.path(),
            Vec::new(),
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("missing keys"));
        std::fs::write(&kernel, b"not an elf").unwrap();
        let e = ModelRun::prepare(
            true,
            dir.path(),
            &kernel,
            None,
            None,
            dir.path(),
            Vec::new(),
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("not an ELF"));
    }

    #[test]
    fn cache_flags_are_checked_before_qemu_starts() {
        assert_eq!(
            plugin_args(&["l1d=64K:8".to_owned()], "window").unwrap(),
            ["l1d=64K:8", "caches=window"]
        );
        for bad in ["l3=8M:16", "l1d=33K:8", "l1d", "llc=8M"] {
            let e = plugin_args(&[bad.to_owned()], "window").unwrap_err();
            assert!(e.0.contains(bad), "{e}");
        }
        assert!(plugin_args(&[], "sometimes").is_err());
    }

    #[test]
    fn the_plugin_joins_the_qemu_command_and_icount_stops_sleeping() {
        let run = ModelRun {
            plugin: PathBuf::from("/p.so"),
            out: PathBuf::from("/r/model.txt"),
            irq_stubs: Some(0xffff_ffff_8010_91f0),
            costs: CostTable::default(),
            profile: Some("ipc.call.same_cpu".to_owned()),
            plugin_args: plugin_args(&["llc=16M:16".to_owned()], "run").unwrap(),
        };
        let args = run.qemu_args(vec!["-icount".to_owned(), "shift=0,align=off".to_owned()]);
        assert_eq!(args[1], "shift=0,align=off,sleep=off");
        assert_eq!(args[2], "-plugin");
        assert_eq!(
            args[3],
            format!(
                "/p.so,out=/r/model.txt,irq_stubs=ffffffff801091f0:1000,profile={},llc=16M:16,caches=run",
                perf::marker::bench_id("ipc.call.same_cpu")
            )
        );
    }
}
