//! The measurements, by the kernel benchmarks' method: the back-to-back
//! `rdtsc` cost measured first, a warm-up of a tenth of the samples (at
//! least 100), then per sample `rdtsc` / one round trip / `rdtsc`, the
//! difference minus that cost (at least 1) into an HDR histogram; records
//! `@bench` + `@hist` as the kernel writes them, `@progress` at the start,
//! at least once per second and at the end.
//!
//! Every round trip carries what its Veridian counterpart carries where
//! the mechanism has a payload: 32 bytes (a call's four data words) over
//! pipes and Unix sockets; a counter over eventfd; a word over futexes and
//! shared memory.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use perf::histogram::Histogram;
use perf::record::{BenchResult, Hist, Progress, Skip, Unit};

use crate::sys::{self, Fd};

/// Samples between progress checks.
const CHUNK: u64 = 1024;
/// How often `@progress` is printed while a benchmark runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Bytes per pipe or socket message (a call's four data words).
const MESSAGE: usize = 32;

/// Where two halves of a benchmark run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Both on the first CPU this process may use.
    SameCpu,
    /// The measuring half on the first allowed CPU, the partner on the
    /// second.
    CrossCpu,
}

/// The measuring state: settings, the TSC overhead, the histogram and
/// where records go.
pub struct Harness<W: Write> {
    unit: Unit,
    samples: u64,
    overhead: u64,
    hist: Box<Histogram>,
    out: W,
    /// The CPUs the run may use (the first two place the halves).
    cpus: Vec<usize>,
    /// Time zero of the `@hist` intervals.
    epoch: Instant,
}

/// A benchmark's failure, with its name.
#[derive(Debug)]
pub struct Failed {
    pub name: &'static str,
    pub error: io::Error,
}

impl<W: Write> Harness<W> {
    /// A harness writing records to `out`.
    ///
    /// # Errors
    /// The allowed CPUs cannot be read.
    pub fn new(icount: bool, samples: u64, out: W) -> io::Result<Self> {
        Ok(Self {
            unit: if icount {
                Unit::Instructions
            } else {
                Unit::Cycles
            },
            samples,
            overhead: sys::tsc_overhead(),
            hist: Box::new(Histogram::new()),
            out,
            cpus: sys::allowed_cpus()?,
            epoch: Instant::now(),
        })
    }

    /// The back-to-back `rdtsc` cost subtracted from every sample.
    #[must_use]
    pub fn overhead(&self) -> u64 {
        self.overhead
    }

    /// How many CPUs the run may use.
    #[must_use]
    pub fn cpu_count(&self) -> usize {
        self.cpus.len()
    }

    /// Hands back the record sink.
    #[cfg(test)]
    pub fn into_out(self) -> W {
        self.out
    }

    /// Writes one record line whole.
    ///
    /// # Errors
    /// The sink failed.
    pub fn emit(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.flush()
    }

    fn progress(&mut self, name: &str, done: u64) -> io::Result<()> {
        let mut line = String::new();
        let _ = Progress {
            name,
            done,
            total: self.samples,
        }
        .write_to(&mut line);
        self.emit(&line)
    }

    /// `@skip` for `name`.
    ///
    /// # Errors
    /// The sink failed.
    pub fn skip(&mut self, name: &str, reason: &str) -> io::Result<()> {
        let mut line = String::new();
        let _ = Skip { name, reason }.write_to(&mut line);
        self.emit(&line)
    }

    /// The (measuring, partner) CPUs of a placement; `None` when it needs
    /// more CPUs than the run may use.
    fn cpus_for(&self, placement: Placement) -> Option<(usize, usize)> {
        let first = *self.cpus.first()?;
        match placement {
            Placement::SameCpu => Some((first, first)),
            Placement::CrossCpu => self.cpus.get(1).map(|&second| (first, second)),
        }
    }

    /// Measures `op` (one round trip) as benchmark `name` and prints its
    /// records.
    fn measure(&mut self, name: &str, mut op: impl FnMut() -> io::Result<()>) -> io::Result<()> {
        for _ in 0..(self.samples / 10).max(100) {
            op()?;
        }
        self.progress(name, 0)?;
        self.hist.reset();
        let start = self.epoch.elapsed();
        let mut last_progress = Instant::now();
        let mut done = 0;
        while done < self.samples {
            let end = self.samples.min(done + CHUNK);
            for _ in done..end {
                let a = sys::rdtsc();
                op()?;
                let b = sys::rdtsc();
                self.hist
                    .record(b.wrapping_sub(a).saturating_sub(self.overhead).max(1));
            }
            done = end;
            if done < self.samples && last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                self.progress(name, done)?;
            }
        }
        let interval = self.epoch.elapsed().saturating_sub(start);
        let mut line = String::new();
        BenchResult::from_histogram(name, self.unit, &self.hist)
            .write_to(&mut line)
            .map_err(io::Error::other)?;
        Hist {
            name,
            histogram: &self.hist,
            start,
            interval,
        }
        .write_to(&mut line)
        .map_err(io::Error::other)?;
        self.emit(&line)?;
        self.progress(name, self.samples)
    }

    /// Runs benchmark `name` (one of [`crate::config::BENCHMARKS`]):
    /// `Ok` when it printed its records or a `@skip`.
    ///
    /// # Errors
    /// A system call failed or the partner failed; the name says which.
    pub fn run(&mut self, name: &'static str) -> Result<(), Failed> {
        let failed = |error| Failed { name, error };
        let Some((mechanism, placement)) = parse_name(name) else {
            return Err(failed(io::Error::other("no such benchmark")));
        };
        let Some((mine, theirs)) = self.cpus_for(placement) else {
            let why_one = if self.unit == Unit::Instructions {
                " (under icount Linux boots with 1 CPU: its SMP bring-up hangs in QEMU 7.2; \
                 cross-CPU rows come from TCG)"
            } else {
                ""
            };
            let reason = format!("needs 2 CPUs, {} online{why_one}", self.cpus.len());
            return self.skip(name, &reason).map_err(failed);
        };
        let all = self.cpus.clone();
        sys::pin(&[mine]).map_err(failed)?;
        let result = match mechanism {
            Mechanism::Syscall => self.measure(name, sys::null_syscall),
            Mechanism::Futex => self.futex(name, theirs),
            Mechanism::Pipe => self.pipe(name, theirs),
            Mechanism::Eventfd => self.eventfd(name, theirs),
            Mechanism::Unix => self.unix(name, theirs),
            Mechanism::ShmSpin => self.shm_spin(name, theirs, placement == Placement::SameCpu),
        };
        sys::pin(&all).map_err(failed)?;
        result.map_err(failed)
    }

    /// Futex ping-pong between two threads: the measuring thread sets the
    /// turn word to 1 and wakes the partner, which sets it back to 0 and
    /// wakes it; each sleeps in FUTEX_WAIT until its turn.
    fn futex(&mut self, name: &str, cpu: usize) -> io::Result<()> {
        const QUIT: u32 = 2;
        let turn = Arc::new(AtomicU32::new(0));
        let partner = {
            let turn = Arc::clone(&turn);
            std::thread::spawn(move || -> io::Result<()> {
                sys::pin(&[cpu])?;
                loop {
                    let now = turn.load(Ordering::Acquire);
                    match now {
                        0 => sys::futex_wait(&turn, 0)?,
                        QUIT => return Ok(()),
                        _ => {
                            turn.store(0, Ordering::Release);
                            sys::futex_wake(&turn)?;
                        }
                    }
                }
            })
        };
        let result = self.measure(name, || {
            turn.store(1, Ordering::Release);
            sys::futex_wake(&turn)?;
            while turn.load(Ordering::Acquire) != 0 {
                sys::futex_wait(&turn, 1)?;
            }
            Ok(())
        });
        turn.store(QUIT, Ordering::Release);
        let woken = sys::futex_wake(&turn);
        let ended = partner
            .join()
            .map_err(|_| io::Error::other("futex partner thread panicked"))?;
        result.and(woken).and(ended)
    }

    /// Pipe round trip between two processes: 32 bytes there over one
    /// pipe, echoed back over another.
    fn pipe(&mut self, name: &str, cpu: usize) -> io::Result<()> {
        let (there_r, there_w) = sys::pipe()?;
        let (back_r, back_w) = sys::pipe()?;
        let pid = sys::fork_child(|| {
            there_w.close_in_child();
            back_r.close_in_child();
            echo_stream(cpu, &there_r, &back_w)
        })?;
        drop((there_r, back_w));
        let result = self.stream_round_trips(name, &there_w, &back_r);
        // End of file stops the partner.
        drop(there_w);
        result.and(sys::wait_child(pid))
    }

    /// Unix stream socket round trip between two processes: 32 bytes
    /// there and echoed back over one socket pair.
    fn unix(&mut self, name: &str, cpu: usize) -> io::Result<()> {
        let (mine, theirs) = sys::unix_pair()?;
        let pid = sys::fork_child(|| {
            mine.close_in_child();
            echo_stream(cpu, &theirs, &theirs)
        })?;
        drop(theirs);
        let result = self.stream_round_trips(name, &mine, &mine);
        // End of file stops the partner.
        let stopped = mine.shutdown_write();
        result.and(stopped).and(sys::wait_child(pid))
    }

    /// Measures write-then-read-back round trips with an echoing partner.
    fn stream_round_trips(&mut self, name: &str, writer: &Fd, reader: &Fd) -> io::Result<()> {
        let mut message = [0u8; MESSAGE];
        let mut reply = [0u8; MESSAGE];
        let mut sequence = 0u64;
        self.measure(name, || {
            sequence += 1;
            message[..8].copy_from_slice(&sequence.to_le_bytes());
            writer.write_all(&message)?;
            if !reader.read_exact(&mut reply)? {
                return Err(io::Error::other("the partner closed the connection"));
            }
            if reply != message {
                return Err(io::Error::other("the echo differs from the message"));
            }
            Ok(())
        })
    }

    /// eventfd round trip between two processes: the measuring process
    /// adds 1 to the first eventfd and reads the second; the partner reads
    /// the first and adds 1 to the second. A 2 stops the partner.
    fn eventfd(&mut self, name: &str, cpu: usize) -> io::Result<()> {
        let there = sys::eventfd()?;
        let back = sys::eventfd()?;
        let pid = sys::fork_child(|| {
            if sys::pin(&[cpu]).is_err() {
                return 3;
            }
            let mut value = [0u8; 8];
            loop {
                match there.read_exact(&mut value) {
                    Ok(true) if u64::from_ne_bytes(value) == 1 => {}
                    Ok(true) if u64::from_ne_bytes(value) == 2 => return 0,
                    _ => return 4,
                }
                if back.write_all(&1u64.to_ne_bytes()).is_err() {
                    return 5;
                }
            }
        })?;
        let mut value = [0u8; 8];
        let result = self.measure(name, || {
            there.write_all(&1u64.to_ne_bytes())?;
            back.read_exact(&mut value)?;
            if u64::from_ne_bytes(value) == 1 {
                Ok(())
            } else {
                Err(io::Error::other("eventfd counter other than 1"))
            }
        });
        let stopped = there.write_all(&2u64.to_ne_bytes());
        result.and(stopped).and(sys::wait_child(pid))
    }

    /// Shared-memory ping-pong between two processes (Veridian's
    /// `model.calib.pingpong` / `model.calib.same_cpu`): the measuring
    /// process writes 2i+3 to a shared word and waits for 2i+4, which the
    /// partner writes when it sees an odd value. Across CPUs both spin;
    /// on one CPU both yield while they wait.
    fn shm_spin(&mut self, name: &str, cpu: usize, yielding: bool) -> io::Result<()> {
        const QUIT: u64 = u64::MAX;
        let shared = sys::Shared::new(4096)?;
        let word = shared.word();
        let wait = |until: &dyn Fn(u64) -> bool| loop {
            let now = word.load(Ordering::Acquire);
            if until(now) {
                return now;
            }
            if yielding {
                sys::yield_now();
            } else {
                core::hint::spin_loop();
            }
        };
        let pid = sys::fork_child(|| {
            if sys::pin(&[cpu]).is_err() {
                return 3;
            }
            word.store(1, Ordering::Release);
            loop {
                let now = wait(&|v| v == QUIT || v % 2 == 1 && v > 1);
                if now == QUIT {
                    return 0;
                }
                word.store(now + 1, Ordering::Release);
            }
        })?;
        wait(&|v| v >= 1);
        let mut next = 3u64;
        let result = self.measure(name, || {
            word.store(next, Ordering::Release);
            wait(&|v| v == next + 1);
            next += 2;
            Ok(())
        });
        word.store(QUIT, Ordering::Release);
        result.and(sys::wait_child(pid))
    }
}

/// The partner of the pipe and socket benchmarks: pinned to `cpu`, echoes
/// 32-byte messages from `input` to `output` until end of file. Its exit
/// status says what failed.
fn echo_stream(cpu: usize, input: &Fd, output: &Fd) -> i32 {
    if sys::pin(&[cpu]).is_err() {
        return 3;
    }
    let mut message = [0u8; MESSAGE];
    loop {
        match input.read_exact(&mut message) {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(_) => return 4,
        }
        if output.write_all(&message).is_err() {
            return 5;
        }
    }
}

/// The mechanisms measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Syscall,
    Futex,
    Pipe,
    Eventfd,
    Unix,
    ShmSpin,
}

/// The mechanism and placement a benchmark name says.
#[must_use]
pub fn parse_name(name: &str) -> Option<(Mechanism, Placement)> {
    if name == "linux.syscall.null" {
        return Some((Mechanism::Syscall, Placement::SameCpu));
    }
    let rest = name.strip_prefix("linux.")?;
    let (mechanism, placement) = rest.rsplit_once('.')?;
    let placement = match placement {
        "same_cpu" => Placement::SameCpu,
        "cross_cpu" => Placement::CrossCpu,
        _ => return None,
    };
    let mechanism = match mechanism {
        "futex" => Mechanism::Futex,
        "pipe" => Mechanism::Pipe,
        "eventfd" => Mechanism::Eventfd,
        "unix" => Mechanism::Unix,
        "shm.spin" => Mechanism::ShmSpin,
        _ => return None,
    };
    Some((mechanism, placement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BENCHMARKS;

    #[test]
    fn every_benchmark_name_parses() {
        for name in BENCHMARKS {
            assert!(parse_name(name).is_some(), "{name}");
        }
        assert_eq!(
            parse_name("linux.shm.spin.cross_cpu"),
            Some((Mechanism::ShmSpin, Placement::CrossCpu))
        );
        assert_eq!(parse_name("linux.pipe.elsewhere"), None);
        assert_eq!(parse_name("ipc.call.same_cpu"), None);
    }

    /// The tests fork; one at a time, so that no child inherits another
    /// test's descriptors.
    static FORKING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Runs `name` with 50 samples on this machine and returns the records.
    fn records_of(name: &'static str) -> String {
        let _one = FORKING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut harness = Harness::new(false, 50, Vec::new()).unwrap();
        harness
            .run(name)
            .unwrap_or_else(|f| panic!("{}: {}", f.name, f.error));
        String::from_utf8(harness.into_out()).unwrap()
    }

    #[test]
    fn same_cpu_round_trips_print_a_full_histogram() {
        for name in [
            "linux.syscall.null",
            "linux.futex.same_cpu",
            "linux.pipe.same_cpu",
            "linux.eventfd.same_cpu",
            "linux.unix.same_cpu",
            "linux.shm.spin.same_cpu",
        ] {
            let text = records_of(name);
            let bench = text
                .lines()
                .find(|l| l.starts_with("@bench v1 "))
                .unwrap_or_else(|| panic!("{name}: no @bench in {text}"));
            assert!(bench.contains(&format!("name={name} unit=cycles kind=latency count=50 ")));
            let hist = text.find(&format!("@hist v1 name={name} Tag={name},"));
            assert!(hist.is_some(), "{name}: {text}");
            assert!(text.contains(&format!("@progress v1 name={name} done=50 total=50")));
        }
    }

    #[test]
    fn cross_cpu_rows_run_or_say_why_not() {
        let text = records_of("linux.pipe.cross_cpu");
        if sys::allowed_cpus().unwrap().len() >= 2 {
            assert!(
                text.contains("@bench v1 name=linux.pipe.cross_cpu "),
                "{text}"
            );
        } else {
            assert!(text.starts_with("@skip v1 name=linux.pipe.cross_cpu reason=needs"));
        }
    }

    #[test]
    fn unknown_names_fail_with_the_name() {
        let mut harness = Harness::new(true, 10, Vec::new()).unwrap();
        let failed = harness.run("linux.nothing").unwrap_err();
        assert_eq!(failed.name, "linux.nothing");
        assert!(harness.into_out().is_empty());
    }
}
