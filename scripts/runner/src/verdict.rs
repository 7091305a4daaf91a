//! Deciding pass or fail: how QEMU ended (exit status, signal, timeout)
//! combined with what the serial console was expected to show.
//!
//! The kernel ends QEMU through `isa-debug-exit`: writing `v` makes QEMU exit
//! with `(v << 1) | 1`, so 0x10 (pass) is status 33 and 0x20 (fail) is 65.
//! Every other ending is a failure with a message that says what happened.

use std::time::Duration;

use crate::serial::{BOOT_RECORD_MARKER, SerialScan};

/// `isa-debug-exit` value the kernel writes on success.
pub const DEBUG_EXIT_SUCCESS: u32 = 0x10;
/// `isa-debug-exit` value the kernel writes on failure.
pub const DEBUG_EXIT_FAILURE: u32 = 0x20;
/// QEMU's exit status after the kernel wrote [`DEBUG_EXIT_SUCCESS`].
pub const QEMU_STATUS_SUCCESS: i32 = debug_exit_status(DEBUG_EXIT_SUCCESS);
/// QEMU's exit status after the kernel wrote [`DEBUG_EXIT_FAILURE`].
pub const QEMU_STATUS_FAILURE: i32 = debug_exit_status(DEBUG_EXIT_FAILURE);

const _: () = assert!(QEMU_STATUS_SUCCESS == 33 && QEMU_STATUS_FAILURE == 65);

/// QEMU's exit status when the guest writes `value` to `isa-debug-exit`
/// (QEMU exits with the low 8 bits of the shifted value).
#[must_use]
pub const fn debug_exit_status(value: u32) -> i32 {
    (((value << 1) | 1) & 0xff) as i32
}

/// How a QEMU run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuEnd {
    /// QEMU exited by itself with this status.
    Exited(i32),
    /// QEMU was ended by this signal (not by the runner's timeout): killed
    /// by it, or exited after catching it (it says so on stderr).
    Signalled(i32),
    /// The runner killed QEMU when the timeout ran out.
    TimedOut(Duration),
    /// The runner stopped QEMU once the serial output it waited for appeared.
    StoppedByRunner,
}

/// What the serial console must show for a run to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Expectation {
    /// An `@boot v1` record.
    Boot,
    /// A closing `<N> passed, <M> failed` line with M = 0.
    Test,
    /// Nothing beyond a successful `isa-debug-exit`.
    None,
}

impl Expectation {
    /// The default for a kernel command line: `run=test` expects tests,
    /// `run=boot` a boot record, anything else nothing in particular.
    #[must_use]
    pub fn for_cmdline(cmdline: &str) -> Self {
        let run_value = cmdline
            .split_whitespace()
            .filter_map(|word| word.strip_prefix("run="))
            .next_back();
        match run_value {
            Some("test") => Self::Test,
            Some("boot") => Self::Boot,
            _ => Self::None,
        }
    }
}

/// Explains a QEMU ending; `Ok` only for the kernel's success exit.
///
/// # Errors
/// A message naming what went wrong for every other ending.
pub fn explain_end(end: QemuEnd) -> Result<(), String> {
    match end {
        QemuEnd::Exited(QEMU_STATUS_SUCCESS) => Ok(()),
        QemuEnd::Exited(QEMU_STATUS_FAILURE) => Err(format!(
            "kernel reported failure (isa-debug-exit {DEBUG_EXIT_FAILURE:#x}, QEMU status {QEMU_STATUS_FAILURE})"
        )),
        QemuEnd::Exited(0) => Err(
            "kernel triple-faulted / reset (QEMU exited with status 0 under -no-reboot, \
             without an isa-debug-exit)"
                .to_owned(),
        ),
        QemuEnd::Exited(1) => Err(
            "QEMU exited with status 1: a QEMU error (see its messages above) \
             or the kernel wrote 0x0 to isa-debug-exit"
                .to_owned(),
        ),
        QemuEnd::Exited(status) if status > 0 && status % 2 == 1 => Err(format!(
            "kernel wrote unexpected value {:#x} to isa-debug-exit (QEMU status {status})",
            (status - 1) / 2
        )),
        QemuEnd::Exited(status) => Err(format!("QEMU exited with unexpected status {status}")),
        QemuEnd::Signalled(signal) => Err(format!(
            "QEMU was killed by signal {signal}{}",
            signal_name(signal).map_or_else(String::new, |name| format!(" ({name})"))
        )),
        QemuEnd::TimedOut(after) => Err(format!("timeout after {} s", after.as_secs())),
        QemuEnd::StoppedByRunner => {
            Err("stopped by the runner before the kernel exited".to_owned())
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// The outcome of one kernel run: pass, or fail with every reason found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub failures: Vec<String>,
}

impl Verdict {
    /// Whether the run passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Judges a run from how QEMU ended and what the console showed.
#[must_use]
pub fn judge(end: QemuEnd, expectation: Expectation, scan: &SerialScan) -> Verdict {
    let mut failures = Vec::new();
    // A kernel fault is the reason; the exit status only follows from it.
    if let Some(fault) = &scan.fault.report {
        failures.push(fault.header.clone());
    }
    if let Err(why) = explain_end(end) {
        failures.push(why);
    }
    match expectation {
        Expectation::Boot if scan.boot_record.is_none() => {
            failures.push(format!("no '{BOOT_RECORD_MARKER}' boot record on serial"));
        }
        Expectation::Test => match scan.closing {
            None => failures.push("no closing '<N> passed, <M> failed' line on serial".to_owned()),
            Some(tally) if tally.failed > 0 => failures.push(format!("kernel tests: {tally}")),
            Some(_) => {}
        },
        Expectation::Boot | Expectation::None => {}
    }
    Verdict { failures }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::TestTally;

    #[test]
    fn debug_exit_values_map_to_qemu_statuses() {
        assert_eq!(debug_exit_status(0x10), 33);
        assert_eq!(debug_exit_status(0x20), 65);
        assert_eq!(debug_exit_status(0), 1);
    }

    #[test]
    fn only_status_33_passes() {
        assert_eq!(explain_end(QemuEnd::Exited(33)), Ok(()));
        let fail = explain_end(QemuEnd::Exited(65)).unwrap_err();
        assert!(fail.contains("kernel reported failure"), "{fail}");
        let zero = explain_end(QemuEnd::Exited(0)).unwrap_err();
        assert!(zero.contains("kernel triple-faulted / reset"), "{zero}");
        let one = explain_end(QemuEnd::Exited(1)).unwrap_err();
        assert!(one.contains("QEMU error"), "{one}");
        let odd = explain_end(QemuEnd::Exited(7)).unwrap_err();
        assert!(odd.contains("0x3"), "{odd}");
        let even = explain_end(QemuEnd::Exited(2)).unwrap_err();
        assert!(even.contains("unexpected status 2"), "{even}");
    }

    #[test]
    fn signals_and_timeouts_are_named() {
        assert_eq!(
            explain_end(QemuEnd::Signalled(9)),
            Err("QEMU was killed by signal 9 (SIGKILL)".to_owned())
        );
        assert_eq!(
            explain_end(QemuEnd::Signalled(42)),
            Err("QEMU was killed by signal 42".to_owned())
        );
        assert_eq!(
            explain_end(QemuEnd::TimedOut(Duration::from_secs(30))),
            Err("timeout after 30 s".to_owned())
        );
    }

    #[test]
    fn expectation_defaults_follow_the_run_key() {
        assert_eq!(
            Expectation::for_cmdline("run=test cpus=4"),
            Expectation::Test
        );
        assert_eq!(Expectation::for_cmdline("a=1 run=boot"), Expectation::Boot);
        assert_eq!(Expectation::for_cmdline("bench=ipc"), Expectation::None);
        assert_eq!(Expectation::for_cmdline("xrun=test"), Expectation::None);
        assert_eq!(Expectation::for_cmdline(""), Expectation::None);
    }

    fn scan_with(boot: bool, closing: Option<(u64, u64)>) -> SerialScan {
        SerialScan {
            boot_record: boot.then(|| "@boot v1 cpus=1".to_owned()),
            closing: closing.map(|(passed, failed)| TestTally { passed, failed }),
            failed_tests: Vec::new(),
            ..SerialScan::default()
        }
    }

    #[test]
    fn a_kernel_fault_is_the_first_reason() {
        let mut scan = scan_with(true, Some((3, 1)));
        for line in [
            "",
            "!!! kernel panic on cpu 1 at kernel/src/x.rs:3: boom",
            "thread: tid 4 pid 2 on cpu 1",
        ] {
            scan.observe_line(line);
        }
        let v = judge(QemuEnd::Exited(65), Expectation::Test, &scan);
        assert_eq!(
            v.failures[0],
            "kernel panic on cpu 1 at kernel/src/x.rs:3: boom"
        );
        assert!(v.failures.len() > 1, "{v:?}");
    }

    #[test]
    fn test_expectation_needs_a_clean_closing_line_and_exit() {
        let ok = judge(
            QemuEnd::Exited(33),
            Expectation::Test,
            &scan_with(true, Some((5, 0))),
        );
        assert!(ok.passed(), "{ok:?}");
        let missing = judge(
            QemuEnd::Exited(33),
            Expectation::Test,
            &scan_with(true, None),
        );
        assert_eq!(missing.failures.len(), 1);
        assert!(missing.failures[0].contains("no closing"));
        let failed = judge(
            QemuEnd::Exited(65),
            Expectation::Test,
            &scan_with(true, Some((4, 1))),
        );
        assert_eq!(failed.failures.len(), 2, "{failed:?}");
        assert!(failed.failures[1].contains("4 passed, 1 failed"));
    }

    #[test]
    fn boot_expectation_needs_a_boot_record() {
        assert!(
            judge(
                QemuEnd::Exited(33),
                Expectation::Boot,
                &scan_with(true, None)
            )
            .passed()
        );
        let no_record = judge(
            QemuEnd::Exited(33),
            Expectation::Boot,
            &scan_with(false, None),
        );
        assert!(no_record.failures[0].contains("@boot v1"));
        let timed_out = judge(
            QemuEnd::TimedOut(Duration::from_secs(5)),
            Expectation::None,
            &scan_with(false, None),
        );
        assert_eq!(timed_out.failures, ["timeout after 5 s"]);
    }
}
