//! Reading the kernel's serial console: the `@boot v1` record, per-test
//! result lines and the closing `<N> passed, <M> failed` line.
//!
//! Serial output may be interleaved with firmware noise (OVMF, GRUB escape
//! sequences) and carriage returns, so lines are trimmed and the boot record is
//! found anywhere on its line.

use std::fmt;

/// Marker that opens the kernel's boot record.
pub const BOOT_RECORD_MARKER: &str = "@boot v1";

/// A test tally: the numbers in a `<N> passed, <M> failed` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestTally {
    pub passed: u64,
    pub failed: u64,
}

impl TestTally {
    /// Adds another tally to this one (saturating; counts never wrap).
    pub fn add(&mut self, other: TestTally) {
        self.passed = self.passed.saturating_add(other.passed);
        self.failed = self.failed.saturating_add(other.failed);
    }
}

impl fmt::Display for TestTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// Parses a closing line, `<N> passed, <M> failed`, alone on its line
/// (surrounding whitespace and `\r` allowed). Anything else is `None`.
#[must_use]
pub fn parse_closing_line(line: &str) -> Option<TestTally> {
    let rest = line.trim();
    let (passed, rest) = rest.split_once(" passed, ")?;
    let failed = rest.strip_suffix(" failed")?;
    Some(TestTally {
        passed: parse_count(passed)?,
        failed: parse_count(failed)?,
    })
}

fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether `line` reports a failed test: `test <name> ... FAILED[: why]`.
#[must_use]
pub fn is_failed_test_line(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("test ") && line.contains(" ... FAILED")
}

/// What the runner has learned from the serial console so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SerialScan {
    /// The first boot record, from its `@boot v1` marker to the end of line.
    pub boot_record: Option<String>,
    /// The last closing line seen (a kernel prints one per test run).
    pub closing: Option<TestTally>,
    /// Every `test ... FAILED` line, trimmed, in order.
    pub failed_tests: Vec<String>,
    /// The first kernel fault report (panic or kernel-mode exception).
    pub fault: crate::fault_report::FaultCollector,
}

impl SerialScan {
    /// Takes in one line of serial output (without its `\n`).
    pub fn observe_line(&mut self, line: &str) {
        if self.boot_record.is_none()
            && let Some(at) = line.find(BOOT_RECORD_MARKER)
        {
            self.boot_record = Some(line[at..].trim_end().to_owned());
        }
        if let Some(tally) = parse_closing_line(line) {
            self.closing = Some(tally);
        }
        if is_failed_test_line(line) {
            self.failed_tests.push(line.trim().to_owned());
        }
        self.fault.observe_line(line);
    }
}

/// Splits a byte stream into lines for a [`SerialScan`], whatever the chunk
/// boundaries; invalid UTF-8 is replaced rather than rejected.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Appends `chunk` and calls `on_line` for every line it completes.
    pub fn push(&mut self, chunk: &[u8], mut on_line: impl FnMut(&str)) {
        self.pending.extend_from_slice(chunk);
        while let Some(newline) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=newline).collect();
            on_line(&String::from_utf8_lossy(&line[..newline]));
        }
    }

    /// Hands over a last unterminated line, if any.
    pub fn finish(&mut self, mut on_line: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            on_line(&String::from_utf8_lossy(&line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_is_parsed_alone_on_its_line() {
        assert_eq!(
            parse_closing_line("12 passed, 0 failed"),
            Some(TestTally {
                passed: 12,
                failed: 0
            })
        );
        assert_eq!(
            parse_closing_line("  3 passed, 2 failed\r"),
            Some(TestTally {
                passed: 3,
                failed: 2
            })
        );
        assert_eq!(parse_closing_line("test result: 3 passed, 0 failed"), None);
        assert_eq!(parse_closing_line("3 passed, 0 failed; 1 ignored"), None);
        assert_eq!(parse_closing_line("x passed, 0 failed"), None);
        assert_eq!(parse_closing_line("-1 passed, 0 failed"), None);
        assert_eq!(parse_closing_line(" passed, 0 failed"), None);
        assert_eq!(parse_closing_line("3 passed,  0 failed"), None);
        assert_eq!(
            parse_closing_line("99999999999999999999 passed, 0 failed"),
            None
        );
    }

    #[test]
    fn scan_finds_boot_record_tests_and_last_closing_line() {
        let mut scan = SerialScan::default();
        for line in [
            "\x1b[2J\x1b[01;01H@boot v1 cpus=2 accel=tcg\r",
            "@boot v1 second=ignored",
            "test ipc::call ... ok",
            "test sched::pick ... FAILED: picked idle",
            "1 passed, 1 failed",
            "test smp::ipi ... FAILED",
            "1 passed, 2 failed",
        ] {
            scan.observe_line(line);
        }
        assert_eq!(
            scan.boot_record.as_deref(),
            Some("@boot v1 cpus=2 accel=tcg")
        );
        assert_eq!(
            scan.closing,
            Some(TestTally {
                passed: 1,
                failed: 2
            })
        );
        assert_eq!(
            scan.failed_tests,
            [
                "test sched::pick ... FAILED: picked idle",
                "test smp::ipi ... FAILED"
            ]
        );
    }

    #[test]
    fn splitter_reassembles_lines_across_chunks() {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        splitter.push(b"@boot v1 a=", |l| lines.push(l.to_owned()));
        assert!(lines.is_empty());
        splitter.push(b"1\nok\r\npart", |l| lines.push(l.to_owned()));
        splitter.push(b"\xffial", |l| lines.push(l.to_owned()));
        splitter.finish(|l| lines.push(l.to_owned()));
        assert_eq!(lines, ["@boot v1 a=1", "ok\r", "part\u{fffd}ial"]);
    }

    #[test]
    fn tallies_add_and_display() {
        let mut total = TestTally::default();
        total.add(TestTally {
            passed: 4,
            failed: 1,
        });
        total.add(TestTally {
            passed: 6,
            failed: 0,
        });
        assert_eq!(total.to_string(), "10 passed, 1 failed");
    }
}
