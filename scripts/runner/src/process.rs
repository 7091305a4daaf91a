//! Running one QEMU process: serial console echoed live (and teed into a log
//! file), QEMU's own messages kept for error reports, a timeout, and an early
//! stop once the console shows what a caller was waiting for.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::serial::{LineSplitter, SerialScan};
use crate::verdict::QemuEnd;

/// How many of QEMU's last stderr lines a [`QemuRun`] keeps.
const STDERR_TAIL_LINES: usize = 20;
/// How often the runner checks for exit, timeout and early stop.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long QEMU gets to exit after SIGTERM before it is killed.
const TERMINATE_GRACE: Duration = Duration::from_secs(2);

/// A condition on the serial console that ends the run early.
pub type StopCondition = fn(&SerialScan) -> bool;

/// Called with every complete serial line as it arrives (progress displays).
pub type LineObserver = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// How to run QEMU.
#[derive(Clone)]
pub struct RunOptions<'a> {
    /// The QEMU program.
    pub qemu: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// Kill QEMU after this long.
    pub timeout: Option<Duration>,
    /// Tee raw serial output into this file.
    pub log: Option<&'a Path>,
    /// Echo serial output to stdout and QEMU's stderr to stderr.
    pub echo: bool,
    /// Pass the terminal's stdin to the guest's serial port.
    pub interactive: bool,
    /// Stop QEMU as soon as this holds.
    pub stop_when: Option<StopCondition>,
    /// Sees every serial line as it arrives.
    pub on_line: Option<LineObserver>,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct QemuRun {
    pub end: QemuEnd,
    pub scan: SerialScan,
    /// The last lines QEMU wrote to stderr.
    pub stderr_tail: Vec<String>,
    pub elapsed: Duration,
}

/// Runs QEMU to the end.
///
/// # Errors
/// QEMU cannot be started, the log file cannot be created, or waiting fails.
pub fn run_qemu(options: &RunOptions<'_>) -> anyhow::Result<QemuRun> {
    let log = options
        .log
        .map(|path| {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            File::create(path)
        })
        .transpose()
        .with_context(|| {
            format!(
                "creating log file {}",
                options.log.unwrap_or(Path::new("")).display()
            )
        })?;

    let started = Instant::now();
    let mut child = Command::new(options.qemu)
        .args(options.args)
        .stdin(if options.interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", options.qemu))?;

    let scan = Arc::new(Mutex::new(SerialScan::default()));
    let stop_requested = Arc::new(AtomicBool::new(false));
    let stdout_reader = child.stdout.take().map(|stdout| {
        let scan = Arc::clone(&scan);
        let stop_requested = Arc::clone(&stop_requested);
        let (echo, stop_when, on_line) = (options.echo, options.stop_when, options.on_line.clone());
        thread::spawn(move || {
            pump_serial(
                stdout,
                log,
                echo,
                &scan,
                stop_when,
                &stop_requested,
                on_line,
            )
        })
    });
    let stderr_reader = child.stderr.take().map(|stderr| {
        let echo = options.echo;
        thread::spawn(move || keep_stderr_tail(stderr, echo))
    });

    let end = wait_for_end(&mut child, options.timeout, &stop_requested)?;
    if let Some(reader) = stdout_reader {
        // A panicking reader only loses echo; the run's ending stands.
        let _ = reader.join();
    }
    let stderr_tail = stderr_reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let scan = scan.lock().unwrap_or_else(PoisonError::into_inner).clone();
    // QEMU catches SIGINT/SIGTERM/SIGHUP, says so on stderr and exits 0.
    let end = match (end, crate::checks::caught_signal(&stderr_tail)) {
        (QemuEnd::Exited(0), Some(signal)) => QemuEnd::Signalled(signal),
        (end, _) => end,
    };
    Ok(QemuRun {
        end,
        scan,
        stderr_tail,
        elapsed: started.elapsed(),
    })
}

fn wait_for_end(
    child: &mut Child,
    timeout: Option<Duration>,
    stop_requested: &AtomicBool,
) -> anyhow::Result<QemuEnd> {
    let deadline = timeout.map(|t| (Instant::now() + t, t));
    loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            return Ok(qemu_end(status));
        }
        if stop_requested.load(Ordering::Relaxed) {
            kill(child)?;
            return Ok(QemuEnd::StoppedByRunner);
        }
        if let Some((at, after)) = deadline
            && Instant::now() >= at
        {
            kill(child)?;
            return Ok(QemuEnd::TimedOut(after));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Stops QEMU: SIGTERM first, so it restores a terminal it put in raw mode,
/// then SIGKILL if it has not exited after [`TERMINATE_GRACE`].
fn kill(child: &mut Child) -> anyhow::Result<()> {
    terminate(child, "QEMU")
}

/// Stops the emulator `child` (named `what` in errors): SIGTERM, then
/// SIGKILL if it has not exited after [`TERMINATE_GRACE`].
pub(crate) fn terminate(child: &mut Child, what: &str) -> anyhow::Result<()> {
    // It may exit by itself between the check and the signal; that is fine.
    let terminated = i32::try_from(child.id())
        .ok()
        .is_some_and(|pid| signal::kill(Pid::from_raw(pid), Signal::SIGTERM).is_ok());
    if terminated {
        let deadline = Instant::now() + TERMINATE_GRACE;
        while Instant::now() < deadline {
            if child
                .try_wait()
                .with_context(|| format!("waiting for {what}"))?
                .is_some()
            {
                return Ok(());
            }
            thread::sleep(POLL_INTERVAL);
        }
    }
    let _ = child.kill();
    child.wait().with_context(|| format!("reaping {what}"))?;
    Ok(())
}

fn qemu_end(status: ExitStatus) -> QemuEnd {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => QemuEnd::Exited(code),
        (None, Some(signal)) => QemuEnd::Signalled(signal),
        // Neither code nor signal only happens for stopped processes, which
        // `try_wait` does not report; treat it as an unexplained status.
        (None, None) => QemuEnd::Exited(-1),
    }
}

fn pump_serial(
    mut serial: impl Read,
    mut log: Option<File>,
    echo: bool,
    scan: &Mutex<SerialScan>,
    stop_when: Option<StopCondition>,
    stop_requested: &AtomicBool,
    on_line: Option<LineObserver>,
) {
    let mut splitter = LineSplitter::default();
    let mut buffer = [0_u8; 4096];
    let mut echoed_line_open = false;
    let mut observe = |line: &str| {
        let mut scan = scan.lock().unwrap_or_else(PoisonError::into_inner);
        scan.observe_line(line);
        if let Some(observer) = &on_line {
            observer(line);
        }
        if stop_when.is_some_and(|holds| holds(&scan)) {
            stop_requested.store(true, Ordering::Relaxed);
        }
    };
    loop {
        let read = match serial.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buffer[..read];
        if echo {
            // Echo is best effort: a closed stdout must not stop the run.
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(chunk).and_then(|()| stdout.flush());
            echoed_line_open = chunk.last() != Some(&b'\n');
        }
        if let Some(file) = log.as_mut()
            && let Err(err) = file.write_all(chunk)
        {
            eprintln!("veridian-run: warning: log file write failed, logging stops: {err}");
            log = None;
        }
        splitter.push(chunk, &mut observe);
    }
    splitter.finish(&mut observe);
    if echoed_line_open {
        // End the console's last line so the runner's own output starts on a fresh one.
        println!();
    }
}

fn keep_stderr_tail(stderr: impl Read, echo: bool) -> Vec<String> {
    let mut tail = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if echo {
            eprintln!("{line}");
        }
        if tail.len() == STDERR_TAIL_LINES {
            tail.remove(0);
        }
        tail.push(line);
    }
    tail
}

/// `program` on `PATH`.
pub fn on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// `apt-get install -y -q --no-install-recommends PACKAGES`, non-interactive
/// with its output dropped, tried again after `apt-get update` when it
/// fails; whether the packages got installed.
pub fn apt_install(packages: &[&str]) -> bool {
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(packages);
    apt(&install) || (apt(&["update", "-q"]) && apt(&install))
}
