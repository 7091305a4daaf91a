//! `veridian-run bench --profile <benchmark>`: turn the plugin's
//! per-address counts of one benchmark window (`@prof` records) into
//! folded stacks, a flame graph and a top-functions table.
//!
//! Each guest address is symbolized with its inlined frames (`addr2line`
//! over the DWARF of the kernel ELF, or of the user program the benchmark
//! runs, from `target/user/x86_64-unknown-none/release/`): the stack of a
//! sample is `kernel` or `user:<program>`, then the outermost function
//! down to the innermost inlined one. Weights are instructions, so the
//! flame graph's total is the window's instruction count: `model.instructions`
//! times `model.ops` of the same run.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use perf_model::report::ProfileRow;

/// Kernel addresses start here (the higher half).
const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;

/// The user program that measures `bench` (its user-mode addresses are
/// symbolized against that program's ELF).
#[must_use]
pub fn user_program(bench: &str) -> Option<&'static str> {
    const PROGRAMS: [(&str, &str); 5] = [
        ("syscall.", "init"),
        ("ipc.call.", "ipcbench"),
        ("ipc.async.", "chantest"),
        ("ipc.large.", "chantest"),
        ("ipc.shm.", "chantest"),
    ];
    PROGRAMS
        .iter()
        .find(|(prefix, _)| bench.starts_with(prefix))
        .map(|(_, program)| *program)
}

/// Symbolizes addresses of one ELF, with a cache per address.
struct Symbolizer {
    root: &'static str,
    loader: Option<addr2line::Loader>,
    cache: HashMap<u64, Vec<String>>,
}

impl Symbolizer {
    fn new(root: &'static str, elf: Option<&Path>) -> Self {
        let loader = elf.and_then(|p| addr2line::Loader::new(p).ok());
        Self {
            root,
            loader,
            cache: HashMap::new(),
        }
    }

    /// `root;outer;...;inner` for `pc` (the address in hex when unknown).
    fn stack(&mut self, pc: u64) -> Vec<String> {
        if let Some(s) = self.cache.get(&pc) {
            return s.clone();
        }
        let mut names = Vec::new();
        if let Some(loader) = &self.loader {
            if let Ok(mut frames) = loader.find_frames(pc) {
                while let Ok(Some(frame)) = frames.next() {
                    if let Some(f) = frame.function
                        && let Ok(name) = f.demangle()
                    {
                        names.push(clean(&name));
                    }
                }
            }
            if names.is_empty()
                && let Some(sym) = loader.find_symbol(pc)
            {
                names.push(clean(&addr2line::demangle_auto(sym.into(), None)));
            }
        }
        if names.is_empty() {
            names.push(format!("0x{pc:x}"));
        }
        names.push(self.root.to_owned());
        names.reverse();
        self.cache.insert(pc, names.clone());
        names
    }
}

/// A frame name without the hash suffix and without the characters the
/// folded format reserves (`;` separates frames, the last space the count).
fn clean(name: &str) -> String {
    let name = match name.rfind("::h") {
        Some(i) if name[i + 3..].chars().all(|c| c.is_ascii_hexdigit()) && name.len() - i == 19 => {
            &name[..i]
        }
        _ => name,
    };
    name.replace(';', ":").replace(' ', "_")
}

/// Per-function totals for the top-functions table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionCounts {
    /// Instructions whose innermost frame is the function.
    pub instructions: u64,
    /// L1D misses of those instructions.
    pub l1d_misses: u64,
    /// LLC misses.
    pub llc_misses: u64,
    /// Coherence transfers.
    pub coherence_transfers: u64,
}

/// Folded stacks and per-function totals of `rows`.
#[must_use]
pub fn fold(
    rows: &[ProfileRow],
    mut stack_of: impl FnMut(u64) -> Vec<String>,
) -> (String, BTreeMap<String, FunctionCounts>) {
    let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
    let mut functions: BTreeMap<String, FunctionCounts> = BTreeMap::new();
    for row in rows {
        let stack = stack_of(row.pc);
        if row.instructions > 0 {
            *stacks.entry(stack.join(";")).or_default() += row.instructions;
        }
        let leaf = format!(
            "{} ({})",
            stack.last().map_or("?", String::as_str),
            stack.first().map_or("?", String::as_str)
        );
        let f = functions.entry(leaf).or_default();
        f.instructions += row.instructions;
        f.l1d_misses += row.l1d_misses;
        f.llc_misses += row.llc_misses;
        f.coherence_transfers += row.coherence_transfers;
    }
    let mut folded = String::new();
    for (stack, count) in stacks {
        let _ = writeln!(folded, "{stack} {count}");
    }
    (folded, functions)
}

/// The top `n` functions by instructions, as a text table.
#[must_use]
pub fn top_table(functions: &BTreeMap<String, FunctionCounts>, total: u64, n: usize) -> String {
    let mut sorted: Vec<(&String, &FunctionCounts)> = functions.iter().collect();
    sorted.sort_by(|a, b| b.1.instructions.cmp(&a.1.instructions).then(a.0.cmp(b.0)));
    let mut t = format!(
        "{:>10} {:>6} {:>9} {:>9} {:>9}  function (innermost frame)\n",
        "instr", "%", "l1d_miss", "llc_miss", "coher"
    );
    for (name, c) in sorted.into_iter().take(n) {
        let _ = writeln!(
            t,
            "{:>10} {:>6.2} {:>9} {:>9} {:>9}  {name}",
            c.instructions,
            100.0 * c.instructions as f64 / total.max(1) as f64,
            c.l1d_misses,
            c.llc_misses,
            c.coherence_transfers
        );
    }
    t
}

/// What [`write`] produced.
#[derive(Debug)]
pub struct ProfileFiles {
    /// `<bench>.folded`.
    pub folded: PathBuf,
    /// `<bench>.svg`.
    pub svg: PathBuf,
    /// `<bench>.top.txt`.
    pub top: PathBuf,
    /// Instructions in the profile (the flame graph's total).
    pub instructions: u64,
    /// The top-functions table.
    pub table: String,
}

/// Writes `<bench>.folded`, `<bench>.svg` and `<bench>.top.txt` in
/// `run_dir` from the rows of `bench`'s window.
///
/// # Errors
/// No profile rows for `bench` (its benchmark has no markers), or a file
/// that cannot be written.
pub fn write(
    bench: &str,
    rows: &[ProfileRow],
    kernel: &Path,
    user_dir: &Path,
    run_dir: &Path,
) -> anyhow::Result<ProfileFiles> {
    let id = perf::marker::bench_id(bench);
    let rows: Vec<ProfileRow> = rows.iter().copied().filter(|r| r.id == id).collect();
    anyhow::ensure!(
        !rows.is_empty(),
        "no profile for {bench}: the benchmark did not run or has no model markers"
    );
    let user_elf = user_program(bench).map(|p| user_dir.join(p));
    let mut kernel_syms = Symbolizer::new("kernel", Some(kernel));
    let user_root: &'static str = match user_program(bench) {
        Some("init") => "user:init",
        Some("ipcbench") => "user:ipcbench",
        Some("chantest") => "user:chantest",
        _ => "user",
    };
    let mut user_syms = Symbolizer::new(user_root, user_elf.as_deref());
    let (folded, functions) = fold(&rows, |pc| {
        if pc >= KERNEL_BASE {
            kernel_syms.stack(pc)
        } else {
            user_syms.stack(pc)
        }
    });
    let instructions: u64 = rows.iter().map(|r| r.instructions).sum();
    let path = |ext: &str| run_dir.join(format!("{bench}.{ext}"));
    let (folded_path, svg_path, top_path) = (path("folded"), path("svg"), path("top.txt"));
    std::fs::write(&folded_path, &folded)
        .with_context(|| format!("writing {}", folded_path.display()))?;
    let mut options = inferno::flamegraph::Options::default();
    options.title = format!("{bench}: instructions per function (performance model, QEMU -icount)");
    options.count_name = "instructions".to_owned();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg)
        .context("drawing the flame graph")?;
    std::fs::write(&svg_path, &svg).with_context(|| format!("writing {}", svg_path.display()))?;
    let table = top_table(&functions, instructions, 25);
    std::fs::write(&top_path, &table).with_context(|| format!("writing {}", top_path.display()))?;
    Ok(ProfileFiles {
        folded: folded_path,
        svg: svg_path,
        top: top_path,
        instructions,
        table,
    })
}

/// Adds the profile (its top-functions table and a link to the flame
/// graph) to the run's `dashboard.html`, before `</body>`.
///
/// # Errors
/// The dashboard cannot be read or written, or has no `</body>`.
pub fn add_to_dashboard(run_dir: &Path, bench: &str, files: &ProfileFiles) -> anyhow::Result<()> {
    let path = run_dir.join("dashboard.html");
    let html =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let Some(end) = html.rfind("</body>") else {
        anyhow::bail!("{}: no </body>", path.display());
    };
    let svg = files
        .svg
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let section = format!(
        "<h2>Profile of {b}: top functions (performance model, a model: QEMU plugin \
         under -icount)</h2>\n<p>{n} instructions in the window; flame graph: \
         <a href=\"{s}\">{s}</a></p>\n<pre>{t}</pre>\n",
        b = escape(bench),
        n = files.instructions,
        s = escape(&svg),
        t = escape(&files.table)
    );
    let html = format!("{}{section}{}", &html[..end], &html[end..]);
    std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pc: u64, instructions: u64, l1d_misses: u64) -> ProfileRow {
        ProfileRow {
            id: 1,
            pc,
            instructions,
            l1d_misses,
            ..ProfileRow::default()
        }
    }

    #[test]
    fn folding_sums_instructions_per_stack_and_per_innermost_function() {
        let stacks = |pc: u64| -> Vec<String> {
            let frames: &[&str] = match pc {
                1 | 2 => &["kernel", "syscall_entry", "fast"],
                3 => &["kernel", "syscall_entry"],
                _ => &["user:ipcbench", "main"],
            };
            frames.iter().map(|s| (*s).to_owned()).collect()
        };
        let rows = [row(1, 10, 1), row(2, 5, 0), row(3, 7, 2), row(4, 3, 0)];
        let (folded, functions) = fold(&rows, stacks);
        assert_eq!(
            folded,
            "kernel;syscall_entry 7\nkernel;syscall_entry;fast 15\nuser:ipcbench;main 3\n"
        );
        let total: u64 = folded
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 25);
        assert_eq!(functions["fast (kernel)"].instructions, 15);
        assert_eq!(functions["fast (kernel)"].l1d_misses, 1);
        let table = top_table(&functions, total, 2);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].ends_with("fast (kernel)"), "{table}");
        assert!(lines[1].contains("60.00"), "{table}");
    }

    #[test]
    fn names_lose_hashes_and_reserved_characters() {
        assert_eq!(clean("kernel::fast::h0123456789abcdef"), "kernel::fast");
        assert_eq!(clean("<a as b>::c"), "<a_as_b>::c");
        assert_eq!(clean("x;y"), "x:y");
    }

    #[test]
    fn benchmarks_map_to_their_programs() {
        assert_eq!(user_program("ipc.call.same_cpu"), Some("ipcbench"));
        assert_eq!(user_program("ipc.shm.transfer.4096"), Some("chantest"));
        assert_eq!(user_program("cap.lookup.16"), None);
    }

    #[test]
    fn the_profile_joins_the_dashboard_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dashboard.html"),
            "<html><body>x</body></html>",
        )
        .unwrap();
        let files = ProfileFiles {
            folded: dir.path().join("b.folded"),
            svg: dir.path().join("b.svg"),
            top: dir.path().join("b.top.txt"),
            instructions: 7,
            table: "<a as b>::c".to_owned(),
        };
        add_to_dashboard(dir.path(), "b", &files).unwrap();
        let html = std::fs::read_to_string(dir.path().join("dashboard.html")).unwrap();
        assert!(html.contains("&lt;a as b&gt;::c"), "{html}");
        assert!(html.contains("href=\"b.svg\""));
        assert!(html.ends_with("</pre>\n</body></html>"), "{html}");
        std::fs::write(dir.path().join("dashboard.html"), "no end").unwrap();
        assert!(add_to_dashboard(dir.path(), "b", &files).is_err());
    }

    #[test]
    fn a_benchmark_without_rows_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = write("ipc.call.same_cpu", &[], dir.path(), dir.path(), dir.path());
        assert!(format!("{:#}", e.unwrap_err()).contains("no profile"));
    }
}
