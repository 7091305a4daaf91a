//! `veridian-run soak`: boots the kernel with the soak test
//! (`kernel/src/soak_tests.rs`, `kernel/user/src/bin/soak.rs`), follows
//! its serial output and prints one line per minute:
//!
//! `soak: minute M: messages N (R/s), calls C, large L, lost 0, duplicated
//! 0, reordered 0, garbled 0, free frames F`
//!
//! (the user program counts the messages; the kernel's latest
//! `soak: free frames F` goes beside them), then the program's final line
//! and the verdict. Any anomaly in a minute, a worker failure, a leak, a
//! kernel fault or a hang fails the run.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cli::SoakArgs;
use crate::machine::{self, BootMedium, MachineSpec};
use crate::probe;
use crate::process::{self, RunOptions};
use crate::qemu_cmd::{HostTools, UsageError, shell_words};
use crate::verdict::{self, Expectation};
use crate::workspace::Workspace;

/// What the follower has seen so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SoakFollower {
    /// The kernel's latest free-frame count.
    pub free_frames: Option<u64>,
    /// Minute lines seen.
    pub minutes: u64,
    /// Minutes with an anomaly (lost, duplicated, reordered or garbled
    /// messages, or no messages at all).
    pub bad_minutes: u64,
    /// The user program's closing line, if it came.
    pub done: Option<String>,
}

/// The counts of one `soak: minute` line: `(messages, anomalies)`.
fn minute_counts(line: &str) -> Option<(u64, u64)> {
    let number = |key: &str| -> Option<u64> {
        let at = line.find(key)?;
        line[at + key.len()..]
            .split_whitespace()
            .next()?
            .trim_end_matches(',')
            .parse()
            .ok()
    };
    let messages = number("messages ")?;
    let mut anomalies = 0;
    for key in ["lost ", "duplicated ", "reordered ", "garbled "] {
        anomalies += number(key)?;
    }
    Some((messages, anomalies))
}

impl SoakFollower {
    /// Takes one serial line; returns the line to print for it, if any.
    pub fn observe(&mut self, line: &str) -> Option<String> {
        let Some(at) = line.find("soak: ") else {
            // The test's verdict, the closing line and fault reports.
            let keep = line.starts_with("test ")
                || line.contains("!!!")
                || crate::serial::parse_closing_line(line).is_some();
            return keep.then(|| line.trim_end().to_owned());
        };
        let text = line[at..].trim_end();
        if let Some(n) = text.strip_prefix("soak: free frames ") {
            self.free_frames = n.split_whitespace().next().and_then(|n| n.parse().ok());
            return None;
        }
        if text.starts_with("soak: minute ") || text.starts_with("soak: period ") {
            self.minutes += 1;
            match minute_counts(text) {
                Some((messages, 0)) if messages > 0 => {}
                _ => self.bad_minutes += 1,
            }
            let frames = self
                .free_frames
                .map_or_else(|| "?".to_owned(), |f| f.to_string());
            return Some(format!("{text}, free frames {frames}"));
        }
        if text.starts_with("soak: done: ") {
            self.done = Some(text.to_owned());
        }
        Some(text.to_owned())
    }

    /// Why the soak failed, from what it printed (empty: it did not).
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.bad_minutes > 0 {
            why.push(format!(
                "{} of {} minute(s) had an anomaly or no traffic",
                self.bad_minutes, self.minutes
            ));
        }
        match &self.done {
            None => why.push("no 'soak: done' line".to_owned()),
            Some(line) if !line.ends_with(": ok") => why.push(line.clone()),
            Some(_) => {}
        }
        why
    }
}

/// Runs `veridian-run soak`; `Ok(true)` when the soak passed.
///
/// # Errors
/// Usage errors, a missing kernel, or QEMU not starting.
pub fn run(host: &HostTools<'_>, args: &SoakArgs, workspace: &Workspace) -> anyhow::Result<bool> {
    machine::validate(args.cpus, args.mem, None).map_err(|err| UsageError(err.to_string()))?;
    if args.processes < 4 {
        return Err(UsageError(format!(
            "--processes {}: at least 4 (one group of client, server, producer and consumer)",
            args.processes
        ))
        .into());
    }
    let kernel = workspace.default_kernel();
    crate::qemu_cmd::require_kernel(&kernel)?;
    let accel = probe::choose_accel(host, workspace, &kernel, args.accel, false)?;
    let cmdline = crate::bench::with_accel_word(
        &format!(
            "run=test test.filter=soak_mixed_traffic soak.minutes={} soak.processes={}",
            args.minutes, args.processes
        ),
        &accel,
    );
    let spec = MachineSpec {
        cpus: args.cpus,
        mem: args.mem,
        numa_nodes: None,
        accel,
        boot: BootMedium::Pvh {
            kernel: kernel.clone(),
        },
        cmdline,
        gdb: false,
    };
    let qemu_args = machine::qemu_args(&spec)?;
    eprintln!("veridian-run: {}", shell_words(host.qemu, &qemu_args));
    // Start-up, the stop phase and the end of the test, on top of the minutes.
    let timeout = args
        .timeout
        .unwrap_or(args.minutes * 60 + 900 + args.processes / 2);
    let follower = Arc::new(Mutex::new(SoakFollower::default()));
    let observer = {
        let follower = Arc::clone(&follower);
        let verbose = args.verbose;
        Arc::new(move |line: &str| {
            if verbose {
                println!("{line}");
            }
            if let Ok(mut f) = follower.lock()
                && let Some(out) = f.observe(line)
                && !verbose
            {
                println!("{out}");
            }
        })
    };
    let run = process::run_qemu(&RunOptions {
        qemu: host.qemu,
        args: &qemu_args,
        timeout: Some(Duration::from_secs(timeout)),
        log: args.log.as_deref().or(Some(Path::new("/dev/null"))),
        echo: false,
        interactive: false,
        stop_when: None,
        on_line: Some(observer),
    })?;
    crate::fault_report::print(&run.scan.fault, &kernel);
    let mut failures = verdict::judge(run.end, Expectation::Test, &run.scan).failures;
    if let Ok(f) = follower.lock() {
        failures.extend(f.failures());
    }
    for line in &run.scan.failed_tests {
        eprintln!("veridian-run: {line}");
    }
    let took = run.elapsed.as_secs_f64();
    if failures.is_empty() {
        eprintln!("veridian-run: soak PASS after {took:.0}s");
        Ok(true)
    } else {
        eprintln!(
            "veridian-run: soak FAIL after {took:.0}s: {}",
            failures.join("; ")
        );
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: &str = "[1] soak: minute 3: messages 1200 (20/s), calls 300, large 18, lost 0, duplicated 0, reordered 0, garbled 0";

    #[test]
    fn minute_lines_get_the_latest_free_frames() {
        let mut f = SoakFollower::default();
        assert_eq!(f.observe("soak: free frames 100"), None);
        assert_eq!(f.observe("soak: free frames 98"), None);
        assert_eq!(
            f.observe(MINUTE).as_deref(),
            Some(
                "soak: minute 3: messages 1200 (20/s), calls 300, large 18, lost 0, duplicated 0, \
                 reordered 0, garbled 0, free frames 98"
            )
        );
        assert_eq!(f.minutes, 1);
        assert_eq!(f.bad_minutes, 0);
        assert_eq!(f.observe("unrelated"), None);
        assert_eq!(
            f.observe("test veridian::soak_tests::soak_mixed_traffic ... ok")
                .as_deref(),
            Some("test veridian::soak_tests::soak_mixed_traffic ... ok")
        );
    }

    #[test]
    fn an_anomaly_or_a_silent_minute_fails() {
        let mut f = SoakFollower::default();
        f.observe(&MINUTE.replace("reordered 0", "reordered 2"));
        f.observe(&MINUTE.replace("messages 1200 (20/s)", "messages 0 (0/s)"));
        f.observe(MINUTE);
        assert_eq!(f.bad_minutes, 2);
        f.observe("[1] soak: done: 3 period(s), 2400 messages: ok");
        let why = f.failures();
        assert_eq!(
            why,
            vec!["2 of 3 minute(s) had an anomaly or no traffic".to_owned()]
        );
    }

    #[test]
    fn a_missing_or_failed_closing_line_fails() {
        let mut f = SoakFollower::default();
        f.observe(MINUTE);
        assert_eq!(f.failures(), vec!["no 'soak: done' line".to_owned()]);
        f.observe("[1] soak: done: 1 period(s), 1200 messages, workers failed 1: FAILED");
        assert_eq!(
            f.failures(),
            vec!["soak: done: 1 period(s), 1200 messages, workers failed 1: FAILED".to_owned()]
        );
        f.observe("[1] soak: done: 1 period(s), 1200 messages, workers failed 0: ok");
        assert!(f.failures().is_empty());
    }

    #[test]
    fn counts_are_read_from_the_line() {
        assert_eq!(minute_counts(MINUTE), Some((1200, 0)));
        assert_eq!(
            minute_counts(
                &MINUTE
                    .replace("lost 0", "lost 5")
                    .replace("garbled 0", "garbled 1")
            ),
            Some((1200, 6))
        );
        assert_eq!(minute_counts("soak: minute 1: messages x"), None);
    }
}
