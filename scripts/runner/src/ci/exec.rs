//! Running a CI step's programs: each in a process group of its own, so an
//! interruption ends the whole group (cargo and its rustc children, the
//! runner and its QEMU), with its output on the terminal, teed into a log,
//! written to a file or dropped.
//!
//! SIGINT, SIGTERM and SIGHUP are caught by `signal-hook` and handed to one
//! watcher thread (programs started later get the default actions back at
//! `exec`). A signal ignored when the runner started stays ignored, as a
//! shell's `trap` leaves it (`nohup` keeps working). The watcher records the
//! first signal and sends SIGTERM to the running program's group; the step
//! then sees its program fail, and the scheduler sees [`interrupted`] and
//! stops.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;

use anyhow::Context as _;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The signal that interrupted the run (0: none yet).
static INTERRUPTED_BY: AtomicI32 = AtomicI32::new(0);
/// The process group of the program running now, if any. The watcher and
/// [`run`] take this lock around "is it interrupted, who runs", so a program
/// started just as a signal arrives is ended too.
static RUNNING_GROUP: Mutex<Option<Pid>> = Mutex::new(None);

/// Catches SIGINT, SIGTERM and SIGHUP (those not ignored at start) and
/// starts the thread that acts on them.
///
/// # Errors
/// When the handlers cannot be installed.
pub fn watch_signals() -> anyhow::Result<()> {
    let ignored = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| ignored_signals(&status))
        .unwrap_or(0);
    let wanted: Vec<i32> = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP]
        .into_iter()
        .map(|signal| signal as i32)
        .filter(|&number| ignored & (1 << (number - 1)) == 0)
        .collect();
    let mut signals =
        signal_hook::iterator::Signals::new(&wanted).context("catching SIGINT/SIGTERM/SIGHUP")?;
    thread::spawn(move || {
        let mut arriving = signals.forever();
        let Some(number) = arriving.next() else {
            return;
        };
        {
            let running = RUNNING_GROUP.lock().unwrap_or_else(PoisonError::into_inner);
            INTERRUPTED_BY.store(number, Ordering::SeqCst);
            if let Some(group) = *running {
                // The group may have ended already; nothing else to do then.
                let _ = killpg(group, Signal::SIGTERM);
            }
        }
        // A second signal takes its default action at once (ending the
        // runner before its summary), as after a shell's `trap -`.
        for again in arriving {
            let _ = signal_hook::low_level::emulate_default_handler(again);
        }
    });
    Ok(())
}

/// The ignored-signal mask of a `/proc/<pid>/status` text (bit N-1 is
/// signal N).
fn ignored_signals(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The signal that interrupted the run, if one did.
pub fn interrupted() -> Option<Signal> {
    Signal::try_from(INTERRUPTED_BY.load(Ordering::SeqCst)).ok()
}

/// Where a program's output goes.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// Stdout and stderr on the terminal.
    Terminal,
    /// Stdout on the terminal and into the file; stderr on the terminal.
    TeeStdout(&'a Path),
    /// Stdout and stderr, interleaved as written, on the terminal and into
    /// the file (a shell's `2>&1 | tee`).
    TeeBoth(&'a Path),
    /// Stdout and stderr into the file only.
    File(&'a Path),
    /// Stdout dropped; stderr on the terminal.
    DropStdout,
    /// Both dropped.
    Drop,
}

/// Runs `command` to its end in a process group of its own, with no
/// input, output as `output` says, and returns its status. An interrupted run returns the
/// status of the ended program (a failure).
///
/// # Errors
/// When the program cannot be started or a log cannot be written.
pub fn run(mut command: Command, output: Output<'_>) -> anyhow::Result<ExitStatus> {
    use std::os::unix::process::CommandExt as _;
    // A program in a background process group that reads the terminal is
    // stopped (SIGTTIN); no step needs input.
    command.process_group(0).stdin(Stdio::null());
    let description = describe(&command);
    let mut tee: Option<(Box<dyn Read + Send>, File)> = None;
    match output {
        Output::Terminal => {}
        Output::TeeStdout(log) => {
            command.stdout(Stdio::piped());
            tee = Some((Box::new(io::empty()), create(log)?));
        }
        Output::TeeBoth(log) => {
            let (reader, writer) = io::pipe().context("creating a pipe")?;
            command.stdout(writer.try_clone().context("creating a pipe")?);
            command.stderr(writer);
            tee = Some((Box::new(reader), create(log)?));
        }
        Output::File(log) => {
            let file = create(log)?;
            command.stdout(file.try_clone().context("duplicating a log handle")?);
            command.stderr(file);
        }
        Output::DropStdout => {
            command.stdout(Stdio::null());
        }
        Output::Drop => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let mut child = {
        let mut running = RUNNING_GROUP.lock().unwrap_or_else(PoisonError::into_inner);
        let child = command
            .spawn()
            .with_context(|| format!("starting {description}"))?;
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        if interrupted().is_some() {
            let _ = killpg(group, Signal::SIGTERM);
        }
        *running = Some(group);
        child
    };
    // The pipe's write ends live in `command` too: drop them, or the reader
    // never sees the end of the output.
    drop(command);
    let copied = match tee {
        Some((reader, mut file)) => {
            let reader: Box<dyn Read + Send> = match child.stdout.take() {
                Some(stdout) => Box::new(stdout),
                None => reader,
            };
            copy_to_terminal_and(reader, &mut file)
        }
        None => Ok(()),
    };
    let status = child.wait();
    *RUNNING_GROUP.lock().unwrap_or_else(PoisonError::into_inner) = None;
    copied.with_context(|| format!("copying the output of {description}"))?;
    status.with_context(|| format!("waiting for {description}"))
}

/// Runs `command` as [`run`] does and fails unless it exits with status 0.
///
/// # Errors
/// As [`run`], or the program's failure.
pub fn run_ok(command: Command, output: Output<'_>) -> anyhow::Result<()> {
    let description = describe(&command);
    let status = run(command, output)?;
    anyhow::ensure!(status.success(), "{description} failed ({status})");
    Ok(())
}

/// A command as one would type it (program and arguments).
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A log file, created or emptied.
fn create(path: &Path) -> anyhow::Result<File> {
    File::create(path).with_context(|| format!("creating {}", path.display()))
}

/// Copies everything from `reader` to stdout and `file` as it arrives.
fn copy_to_terminal_and(mut reader: impl Read, file: &mut File) -> io::Result<()> {
    let mut buf = [0_u8; 8192];
    let stdout = io::stdout();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let chunk = buf.get(..n).unwrap_or(&[]);
        file.write_all(chunk)?;
        let mut out = stdout.lock();
        // A closed terminal must not stop the step: the log still gets it all.
        let _ = out.write_all(chunk).and_then(|()| out.flush());
    }
}

/// The first program called `name` on `PATH` (a shell's `command -v`).
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tee_both_keeps_stdout_and_stderr_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out.log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo one; echo two >&2; exit 3"]);
        let status = run(command, Output::TeeBoth(&log)).unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
    }

    #[test]
    fn tee_stdout_and_file_capture_what_they_say() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out.log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2"]);
        run_ok(command, Output::TeeStdout(&log)).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "out\n");
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2"]);
        run_ok(command, Output::File(&log)).unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
    }

    #[test]
    fn a_failing_program_is_an_error_naming_it() {
        let mut command = Command::new("sh");
        command.args(["-c", "exit 1"]);
        let err = run_ok(command, Output::Drop).unwrap_err().to_string();
        assert!(err.starts_with("sh -c exit 1 failed"), "{err}");
        let missing = Command::new("/nonexistent/program");
        assert!(run(missing, Output::Drop).is_err());
    }

    #[test]
    fn ignored_signals_come_from_sigign() {
        let status = "Name:\tx\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\n";
        let ignored = ignored_signals(status).unwrap();
        assert_eq!(ignored & 1, 1, "SIGHUP (1) ignored");
        assert_eq!(ignored & (1 << 12), 1 << 12, "SIGPIPE (13) ignored");
        assert_eq!(ignored & (1 << 1), 0, "SIGINT (2) not ignored");
        assert_eq!(ignored_signals("no such line"), None);
    }

    #[test]
    fn find_program_searches_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-here").is_none());
    }
}
