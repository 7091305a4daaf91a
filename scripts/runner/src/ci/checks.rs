//! What the CI steps read back from logs and run directories: test counts,
//! the benchmark summary, icount repeatability, the performance model's
//! calibration, the comparison table's rows and the dashboard screenshot.
//! Pure functions over text and bytes, so each assertion is host-tested.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

/// Passed and failed tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

impl Counts {
    /// The sum of two counts.
    #[must_use]
    pub const fn plus(self, other: Self) -> Self {
        Self {
            passed: self.passed.saturating_add(other.passed),
            failed: self.failed.saturating_add(other.failed),
        }
    }
}

/// The sum of a cargo test log's `test result: ok. N passed; M failed; ...`
/// lines (zero when there are none).
#[must_use]
pub fn cargo_test_counts(log: &str) -> Counts {
    log.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test result: ")?;
            let (word, rest) = rest.split_once(". ")?;
            if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) {
                return None;
            }
            let (passed, rest) = rest.split_once(" passed; ")?;
            let (failed, _) = rest.split_once(" failed;")?;
            Some(Counts {
                passed: number(passed)?,
                failed: number(failed)?,
            })
        })
        .fold(Counts::default(), Counts::plus)
}

/// The last `N passed, M failed` line of a log: the whole line when
/// `whole_line`, else its start (the kernel may print more after it).
#[must_use]
pub fn closing_counts(log: &str, whole_line: bool) -> Option<Counts> {
    log.lines().rev().find_map(|line| {
        let (passed, rest) = line.split_once(" passed, ")?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (failed, tail) = rest.split_at(digits);
        let tail_ok = if whole_line {
            tail == " failed"
        } else {
            tail.starts_with(" failed")
        };
        tail_ok.then_some(())?;
        Some(Counts {
            passed: number(passed)?,
            failed: number(failed)?,
        })
    })
}

/// A non-empty run of ASCII digits as a number.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The quick suite's summary.json: no warnings, and `syscall.null` among
/// the results or the skipped. Returns the line to print.
///
/// # Errors
/// The assertion that failed, or unreadable JSON.
pub fn bench_summary(summary: &str) -> anyhow::Result<String> {
    let doc: Value = serde_json::from_str(summary).context("summary.json is not JSON")?;
    let warnings = &doc["warnings"];
    ensure!(
        warnings.as_array().is_some_and(Vec::is_empty),
        "bench: summary.json has warnings: {warnings}"
    );
    let results = array(&doc, "results")?;
    let skipped = array(&doc, "skipped")?;
    let has_null = results
        .iter()
        .chain(skipped)
        .any(|entry| entry["name"] == "syscall.null");
    ensure!(
        has_null,
        "bench: syscall.null is neither a result nor skipped"
    );
    Ok(format!(
        "bench: {} results, {} skipped, no warnings",
        results.len(),
        skipped.len()
    ))
}

/// A `--baseline linux` run: no warnings, the same-CPU futex and pipe rows,
/// and the pipe row paired with `ipc.call.same_cpu` at a positive ratio.
///
/// # Errors
/// What is missing, or unreadable JSON.
pub fn linux_baseline(summary: &str) -> anyhow::Result<String> {
    let doc: Value = serde_json::from_str(summary).context("summary.json is not JSON")?;
    let warnings = &doc["warnings"];
    ensure!(
        warnings.as_array().is_some_and(Vec::is_empty),
        "linux baseline: summary.json has warnings: {warnings}"
    );
    let results = array(&doc, "results")?;
    for name in ["linux.futex.same_cpu", "linux.pipe.same_cpu"] {
        ensure!(
            results.iter().any(|r| r["name"] == name),
            "linux baseline: no {name} result"
        );
    }
    let pairs = array(&doc, "linux_baseline")?;
    let pipe = pairs
        .iter()
        .find(|p| p["linux"] == "linux.pipe.same_cpu")
        .context("linux baseline: no pair for linux.pipe.same_cpu")?;
    let ratio = pipe["ratio"].as_f64().unwrap_or(0.0);
    ensure!(
        pipe["veridian"] == "ipc.call.same_cpu" && ratio > 0.0,
        "linux baseline: linux.pipe.same_cpu pairs with {} at ratio {}",
        pipe["veridian"],
        pipe["ratio"]
    );
    Ok(format!(
        "linux baseline: ipc.call.same_cpu / linux.pipe.same_cpu = {ratio:.3}"
    ))
}

/// The rendered dashboard has at least one latency-over-time heat map with
/// cells (`<figure class="latency-over-time" data-intervals=N
/// data-cells=M>`, M > 0).
///
/// # Errors
/// No such figure.
pub fn heat_maps(dom: &str) -> anyhow::Result<String> {
    let attribute = |tag: &str, name: &str| -> Option<u64> {
        let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
        tag[at..].split('"').next()?.parse().ok()
    };
    let cells: Vec<u64> = dom
        .split("<figure class=\"latency-over-time\"")
        .skip(1)
        .filter_map(|rest| {
            let tag = rest.split('>').next()?;
            attribute(tag, "data-intervals")?;
            attribute(tag, "data-cells")
        })
        .collect();
    ensure!(
        cells.iter().any(|&c| c > 0),
        "no latency-over-time heat map with cells in the dashboard ({} figures)",
        cells.len()
    );
    Ok(format!(
        "dashboard: {} latency-over-time heat maps, {} cells",
        cells.len(),
        cells.iter().sum::<u64>()
    ))
}

/// Whether some line of `log` starts with `prefix` and holds each of
/// `parts` after it, in order.
pub fn line_with(log: &str, prefix: &str, parts: &[&str]) -> bool {
    log.lines().any(|line| {
        let Some(mut rest) = line.strip_prefix(prefix) else {
            return false;
        };
        parts.iter().all(|part| match rest.find(part) {
            Some(at) => {
                rest = &rest[at + part.len()..];
                true
            }
            None => false,
        })
    })
}

/// The runner's report of a deliberate kernel fault (`pf`) or panic: the
/// failure reason, the thread (for the fault) and a symbolized backtrace
/// through `cpu::deliberate_fault` and `boot::kernel_entry`.
///
/// # Errors
/// What the report lacks.
pub fn fault_report(log: &str, panic: bool) -> anyhow::Result<()> {
    const FRAME: &str = "veridian-run:     #";
    let reason = if panic {
        line_with(
            log,
            "veridian-run: FAIL after ",
            &[": kernel panic on cpu 0 at ", ": deliberate kernel panic"],
        )
    } else {
        line_with(
            log,
            "veridian-run: FAIL after ",
            &[": kernel exception on cpu 0: #PF page fault"],
        )
    };
    ensure!(
        reason,
        "the runner does not name the {} as the failure reason",
        if panic { "panic" } else { "fault" }
    );
    ensure!(
        panic || line_with(log, "veridian-run:   thread: ", &[]),
        "the fault report does not name the thread"
    );
    let deliberate = line_with(
        log,
        FRAME,
        &[" veridian::arch::x86_64::cpu::deliberate_fault"],
    ) || log
        .contains("inlined into veridian::arch::x86_64::cpu::deliberate_fault");
    ensure!(deliberate, "the backtrace lacks cpu::deliberate_fault");
    ensure!(
        line_with(
            log,
            FRAME,
            &[" veridian::boot::kernel_entry at ", "boot.rs"]
        ),
        "the backtrace lacks boot::kernel_entry"
    );
    Ok(())
}

/// `doc[key]` as an array.
fn array<'a>(doc: &'a Value, key: &str) -> anyhow::Result<&'a Vec<Value>> {
    doc[key]
        .as_array()
        .with_context(|| format!("summary.json has no '{key}' list"))
}

/// Each result's p50 in summary.json texts, by benchmark name.
///
/// # Errors
/// Unreadable JSON.
pub fn p50s<'a>(
    summaries: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for summary in summaries {
        let doc: Value = serde_json::from_str(summary).context("summary.json is not JSON")?;
        for result in array(&doc, "results")? {
            let name = result["name"].as_str().unwrap_or_default().to_owned();
            out.insert(name, result["p50"].clone());
        }
    }
    Ok(out)
}

/// Two icount runs' p50s: present and identical. Returns the line to print.
///
/// # Errors
/// When there are none or they differ.
pub fn identical_p50s(
    a: &BTreeMap<String, Value>,
    b: &BTreeMap<String, Value>,
) -> anyhow::Result<String> {
    ensure!(!a.is_empty(), "icount: no results");
    ensure!(
        a == b,
        "icount: p50 differs between icount runs: {a:?} vs {b:?}"
    );
    let listed: Vec<String> = a
        .iter()
        .map(|(name, p50)| format!("{name}={p50}"))
        .collect();
    Ok(format!(
        "icount: identical p50 in both runs: {}",
        listed.join(" ")
    ))
}

/// True when a comparison table has the row of `bench` (`  <bench> ...`)
/// saying `word` after the name.
#[must_use]
pub fn row_says(table: &str, bench: &str, word: &str) -> bool {
    let prefix = format!("  {bench} ");
    let word = format!(" {word}");
    table.lines().any(|line| {
        line.strip_prefix(&prefix)
            .is_some_and(|rest| rest.contains(&word))
    })
}

/// The performance model's calibration (`bench --model --suite
/// model.calib`) and a profile of `ipc.call.same_cpu`: a 16 KiB loop has
/// under 0.5 L1D misses per pass; a 64-byte stride misses L1D, L2 and LLC
/// exactly once per access; a line passed between two CPUs costs at least
/// 2 coherence transfers per round trip (one per hop) and the same
/// ping-pong on one CPU none; the folded stacks' total is
/// `model.instructions x model.ops` (rounded half to even) and names the
/// syscall entry and the fast path. Returns the line to print.
///
/// # Errors
/// The assertion that failed, or unreadable input.
pub fn model_calibration(calib: &str, profile: &str, folded: &str) -> anyhow::Result<String> {
    let calib = models(calib)?;
    let field = |bench: &str, key: &str| -> anyhow::Result<f64> {
        calib
            .get(bench)
            .and_then(|model| model[key].as_f64())
            .with_context(|| format!("model: {bench} has no model.{key}"))
    };
    let l1 = field("model.calib.l1", "l1d_misses")?;
    ensure!(
        l1 < 0.5,
        "model: model.calib.l1 has {l1} L1D misses per pass (< 0.5 expected)"
    );
    let stride = [
        field("model.calib.stride", "l1d_misses")?,
        field("model.calib.stride", "l2_misses")?,
        field("model.calib.stride", "llc_misses")?,
    ];
    #[allow(clippy::float_cmp)] // the model counts whole misses over whole accesses
    let stride_exact = stride == [1.0; 3];
    ensure!(
        stride_exact,
        "model: model.calib.stride misses (L1D, L2, LLC) {stride:?} per access, 1 each expected"
    );
    let pingpong = field("model.calib.pingpong", "coherence_transfers")?;
    ensure!(
        pingpong >= 2.0,
        "model: model.calib.pingpong has {pingpong} transfers per round trip (>= 2 expected: two hops)"
    );
    let same = field("model.calib.same_cpu", "coherence_transfers")?;
    ensure!(
        same == 0.0,
        "model: model.calib.same_cpu has {same} coherence transfers (0 expected)"
    );
    let profile = models(profile)?;
    let model = profile
        .get("ipc.call.same_cpu")
        .context("model: the profile run has no ipc.call.same_cpu model")?;
    let (instructions, ops) = (
        model["instructions"]
            .as_f64()
            .context("model: no instructions")?,
        model["ops"].as_f64().context("model: no ops")?,
    );
    let mut total: u64 = 0;
    for line in folded.lines() {
        let count = line
            .rsplit_once(' ')
            .and_then(|(_, count)| count.parse::<u64>().ok())
            .with_context(|| format!("model: folded line without a count: {line}"))?;
        total = total.saturating_add(count);
    }
    let expected = (instructions * ops).round_ties_even();
    #[allow(clippy::cast_precision_loss)] // counts far below 2^53
    let total_matches = total as f64 == expected;
    ensure!(
        total_matches,
        "model: the profile's total {total} is not instructions x ops = {instructions} x {ops}"
    );
    ensure!(
        folded.contains("syscall_entry") && folded.contains("fast_dispatch"),
        "model: the profile's frames do not name syscall_entry and fast_dispatch"
    );
    Ok(format!(
        "model: l1 {l1} L1D misses/op, stride {} LLC misses/access, ping-pong {pingpong} \
         transfers/round trip, same CPU {same}; profile total {total} = {instructions} x {ops:.0}",
        stride[2]
    ))
}

/// Each result's `model` object in a summary.json, by benchmark name.
fn models(summary: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let doc: Value = serde_json::from_str(summary).context("summary.json is not JSON")?;
    Ok(array(&doc, "results")?
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["model"].clone(),
            )
        })
        .collect())
}

/// The lines of headless Chromium's log that report a console error.
#[must_use]
pub fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            line.contains(":ERROR:CONSOLE")
                || line.find("CONSOLE").is_some_and(|at| {
                    line[at..].contains("Uncaught") || line[at..].contains("Error")
                })
        })
        .collect()
}

/// A screenshot that shows a rendered page: a PNG with a size whose first
/// scanlines hold more than 8 distinct byte values (a blank page has one
/// colour; counting bytes of the filtered data needs no unfiltering).
/// Returns the line to print.
///
/// # Errors
/// Not a PNG, a corrupt one, or a blank one.
pub fn rendered_png(png: &[u8]) -> anyhow::Result<String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    /// Bytes of the decompressed image looked at.
    const SAMPLE: usize = 4096 * 64;
    let Some(mut rest) = png.strip_prefix(SIGNATURE) else {
        bail!("not a PNG");
    };
    let (mut width, mut height, mut idat) = (0_u32, 0_u32, Vec::new());
    while rest.len() >= 8 {
        let (head, tail) = rest.split_at(8);
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        let body = tail
            .get(..length)
            .context("a PNG chunk runs past the end")?;
        match kind {
            b"IHDR" if body.len() >= 8 => {
                width = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                height = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            }
            b"IDAT" => idat.extend_from_slice(body),
            _ => {}
        }
        // The chunk's CRC follows its body.
        rest = tail.get(length + 4..).unwrap_or(&[]);
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat)
        .map_err(|err| anyhow::anyhow!("the PNG's image data does not inflate: {err}"))?;
    let sample = raw.get(1..).unwrap_or(&[]);
    let sample = &sample[..sample.len().min(SAMPLE)];
    let mut seen = [false; 256];
    for &byte in sample {
        seen[usize::from(byte)] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    let line = format!("{width}x{height}, {distinct} distinct byte values");
    ensure!(
        width > 0 && height > 0 && distinct > 8,
        "blank screenshot: {line}"
    );
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_test_lines_add_up() {
        let log = "running 3 tests\n\
            test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n\
            test result: FAILED. 7 passed; 2 failed; 1 ignored;\n\
            test result: ok 9 passed; 0 failed;\n\
            test result: ok. x passed; 0 failed;\n";
        assert_eq!(
            cargo_test_counts(log),
            Counts {
                passed: 10,
                failed: 2
            }
        );
        assert_eq!(cargo_test_counts("nothing"), Counts::default());
    }

    #[test]
    fn the_last_closing_line_counts() {
        let log = "1 passed, 0 failed\ntest x ... ok\n35 passed, 1 failed\nexit: failure (0x20)\n";
        assert_eq!(
            closing_counts(log, true),
            Some(Counts {
                passed: 35,
                failed: 1
            })
        );
        let bochs = "35 passed, 0 failed (3 skipped)\n";
        assert_eq!(closing_counts(bochs, true), None);
        assert_eq!(
            closing_counts(bochs, false),
            Some(Counts {
                passed: 35,
                failed: 0
            })
        );
        assert_eq!(closing_counts("x passed, 1 failed", false), None);
    }

    #[test]
    fn bench_summary_needs_no_warnings_and_syscall_null() {
        let ok = r#"{"warnings": [], "results": [{"name": "syscall.null"}], "skipped": [{"name": "a"}]}"#;
        assert_eq!(
            bench_summary(ok).unwrap(),
            "bench: 1 results, 1 skipped, no warnings"
        );
        let skipped = r#"{"warnings": [], "results": [], "skipped": [{"name": "syscall.null"}]}"#;
        assert!(bench_summary(skipped).is_ok());
        let warned = r#"{"warnings": ["x"], "results": [{"name": "syscall.null"}], "skipped": []}"#;
        assert!(
            bench_summary(warned)
                .unwrap_err()
                .to_string()
                .contains("warnings")
        );
        let missing = r#"{"warnings": [], "results": [{"name": "other"}], "skipped": []}"#;
        assert!(bench_summary(missing).is_err());
        assert!(bench_summary("not json").is_err());
    }

    #[test]
    fn linux_baseline_needs_both_rows_and_the_pipe_pair() {
        let ok = r#"{"warnings": [], "results": [{"name": "linux.futex.same_cpu"},
            {"name": "linux.pipe.same_cpu"}], "linux_baseline": [{"linux": "linux.pipe.same_cpu",
            "veridian": "ipc.call.same_cpu", "ratio": 0.029}]}"#;
        assert_eq!(
            linux_baseline(ok).unwrap(),
            "linux baseline: ipc.call.same_cpu / linux.pipe.same_cpu = 0.029"
        );
        let no_futex = ok.replace("linux.futex.same_cpu", "linux.futex.cross_cpu");
        assert!(
            linux_baseline(&no_futex)
                .unwrap_err()
                .to_string()
                .contains("futex")
        );
        let unpaired = ok.replace("\"ipc.call.same_cpu\"", "null");
        assert!(linux_baseline(&unpaired).is_err());
        let zero = ok.replace("0.029", "0");
        assert!(linux_baseline(&zero).is_err());
        let warned = ok.replace("\"warnings\": []", "\"warnings\": [\"w\"]");
        assert!(linux_baseline(&warned).is_err());
        assert!(linux_baseline("{}").is_err());
    }

    #[test]
    fn heat_maps_need_a_figure_with_cells() {
        let dom =
            r#"<p><figure class="latency-over-time" data-intervals="4" data-cells="12"><svg>"#;
        assert_eq!(
            heat_maps(dom).unwrap(),
            "dashboard: 1 latency-over-time heat maps, 12 cells"
        );
        let empty = r#"<figure class="latency-over-time" data-intervals="0" data-cells="0">"#;
        assert!(heat_maps(empty).is_err());
        assert!(heat_maps("<figure class=\"other\">").is_err());
    }

    #[test]
    fn fault_reports_need_reason_thread_and_frames() {
        let fault = "veridian-run: FAIL after 1.2s: kernel exception on cpu 0: #PF page fault\n\
                     veridian-run:   thread: none (boot)\n\
                     veridian-run:     #0 0xffff8000 veridian::arch::x86_64::cpu::deliberate_fault at cpu.rs:1\n\
                     veridian-run:     #1 0xffff8001 veridian::boot::kernel_entry at src/boot.rs:2\n";
        assert!(fault_report(fault, false).is_ok());
        assert!(fault_report(fault, true).is_err());
        let no_thread = fault.replace("  thread: none (boot)", "x");
        assert!(fault_report(&no_thread, false).is_err());
        let no_entry = fault.replace("kernel_entry", "other");
        assert!(fault_report(&no_entry, false).is_err());
        let panic = "veridian-run: FAIL after 1s: kernel panic on cpu 0 at src/cpu.rs:9: deliberate kernel panic\n\
                     veridian-run:     #2 0x1 core::ptr::read_volatile at ptr.rs:1\n\
                     veridian-run:         inlined into veridian::arch::x86_64::cpu::deliberate_fault at cpu.rs:4\n\
                     veridian-run:     #3 0x2 veridian::boot::kernel_entry at src/boot.rs:2\n";
        assert!(fault_report(panic, true).is_ok());
        assert!(!line_with("a b c", "a", &["c", "b"]));
        assert!(line_with("a b c", "a", &["b", "c"]));
    }

    #[test]
    fn p50s_must_be_present_and_equal() {
        let one = r#"{"results": [{"name": "a", "p50": 375}]}"#;
        let two = r#"{"results": [{"name": "b", "p50": 75}]}"#;
        let a = p50s([one, two]).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            identical_p50s(&a, &p50s([one, two]).unwrap()).unwrap(),
            "icount: identical p50 in both runs: a=375 b=75"
        );
        let other = r#"{"results": [{"name": "a", "p50": 376}]}"#;
        let b = p50s([other, two]).unwrap();
        assert!(
            identical_p50s(&a, &b)
                .unwrap_err()
                .to_string()
                .contains("differs")
        );
        assert!(identical_p50s(&BTreeMap::new(), &BTreeMap::new()).is_err());
    }

    #[test]
    fn rows_are_matched_by_exact_name() {
        let table = "  ipc.call.same_cpu.oneway  1  2  SLOWER\n  ipc.call.same_cpu  375  4243  11.3  faster\n";
        assert!(row_says(table, "ipc.call.same_cpu", "faster"));
        assert!(!row_says(table, "ipc.call.same_cpu", "SLOWER"));
        assert!(row_says(table, "ipc.call.same_cpu.oneway", "SLOWER"));
    }

    fn calib(l1: f64, stride: f64, pingpong: f64, same: f64) -> String {
        format!(
            r#"{{"results": [
            {{"name": "model.calib.l1", "model": {{"l1d_misses": {l1}}}}},
            {{"name": "model.calib.stride", "model": {{"l1d_misses": {stride}, "l2_misses": 1.0, "llc_misses": 1.0}}}},
            {{"name": "model.calib.pingpong", "model": {{"coherence_transfers": {pingpong}}}}},
            {{"name": "model.calib.same_cpu", "model": {{"coherence_transfers": {same}}}}}]}}"#
        )
    }

    const PROFILE: &str = r#"{"results": [{"name": "ipc.call.same_cpu", "model": {"instructions": 376.5, "ops": 2.0}}]}"#;
    const FOLDED: &str = "kernel;syscall_entry 700\nkernel;fast_dispatch 53\n";

    #[test]
    fn model_calibration_checks_each_program() {
        let line = model_calibration(&calib(0.128, 1.0, 4.0, 0.0), PROFILE, FOLDED).unwrap();
        assert!(line.contains("profile total 753 = 376.5 x 2"), "{line}");
        for (bad, what) in [
            (calib(0.5, 1.0, 4.0, 0.0), "model.calib.l1"),
            (calib(0.1, 1.5, 4.0, 0.0), "model.calib.stride"),
            (calib(0.1, 1.0, 1.0, 0.0), "model.calib.pingpong"),
            (calib(0.1, 1.0, 4.0, 1.0), "model.calib.same_cpu"),
        ] {
            let err = model_calibration(&bad, PROFILE, FOLDED)
                .unwrap_err()
                .to_string();
            assert!(err.contains(what), "{err}");
        }
        let calib = calib(0.1, 1.0, 2.0, 0.0);
        assert!(model_calibration(&calib, PROFILE, "kernel;syscall_entry 753\n").is_err());
        assert!(
            model_calibration(
                &calib,
                PROFILE,
                "kernel;syscall_entry 700\nx;fast_dispatch 52\n"
            )
            .is_err()
        );
    }

    #[test]
    fn console_errors_are_found() {
        let log = "[1:2:INFO:CONSOLE(3)] \"ready\"\n\
            [1:2:INFO:CONSOLE(9)] \"Uncaught TypeError: x\"\n\
            [1:2:ERROR:CONSOLE(1)] \"bad\"\n\
            Error before CONSOLE\n";
        assert_eq!(console_errors(log).len(), 2);
    }

    /// A PNG of `width` x 2 pixels (8-bit greyscale) holding `row` twice.
    fn png(width: u32, row: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        for _ in 0..2 {
            raw.push(0);
            raw.extend_from_slice(row);
        }
        let chunk = |kind: &[u8], body: &[u8]| {
            let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
            out.extend_from_slice(kind);
            out.extend_from_slice(body);
            out.extend_from_slice(&[0; 4]); // CRC, not checked
            out
        };
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&2_u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(chunk(b"IHDR", &ihdr));
        out.extend(chunk(
            b"IDAT",
            &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
        ));
        out.extend(chunk(b"IEND", &[]));
        out
    }

    #[test]
    fn screenshots_must_show_something() {
        let varied: Vec<u8> = (0..64).collect();
        assert_eq!(
            rendered_png(&png(64, &varied)).unwrap(),
            "64x2, 64 distinct byte values"
        );
        let blank = rendered_png(&png(64, &[255; 64])).unwrap_err().to_string();
        assert!(
            blank.contains("blank screenshot: 64x2, 2 distinct"),
            "{blank}"
        );
        assert!(rendered_png(b"GIF89a").is_err());
        assert!(rendered_png(b"\x89PNG\r\n\x1a\n\0\0\0\x09IDATshort").is_err());
    }
}
