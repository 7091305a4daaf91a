//! The benchmark suite runner (`bench=quick|full|<prefix>`, `samples=N`).
//!
//! Prints `@meta` (every condition of the measurement), then for each
//! benchmark either its results (`@bench` + `@hist`, printed by the user
//! program that measured through the real syscall path, or by the kernel for
//! in-kernel micro-benchmarks) or an honest `@skip` naming the missing
//! mechanism, with `@progress` lines around each, and finally `@done`.

use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use perf::histogram::Histogram;
use perf::interval::{IntervalClock, IntervalPolicy, Span};
use perf::record::{
    self, Accel, BenchResult, Done, Hist, Meta, Profile, Progress, Skip, Switches, Unit,
};

use crate::arch::x86_64::cpu::rdtsc_ordered;
use crate::arch::x86_64::marker;
use crate::arch::x86_64::tsc::TscInfo;
use crate::process::{self, ExitReason};
use crate::{kprint, kprintln};

/// What a benchmark needs and how it is run.
enum How {
    /// A user program: (program, argument low byte).
    User(&'static str, u64),
    /// Program `ipcload` in this mode, told the sample count and the number
    /// of CPUs online (it prints its own records).
    Load(u64),
    /// In-kernel capability lookup over a table of this many slots.
    CapLookup(u32),
    /// The priority-inversion scenario (ipctest), inheritance on or off: the
    /// high-priority client's call latency over repeated runs.
    Inversion(bool),
}

/// How each benchmark of the shared table (`perf::suite::SUITE`, whose
/// names are part of the record contract) is run; `None` for a name this
/// kernel has no mechanism for (it is reported as skipped).
fn how(name: &str) -> Option<How> {
    Some(match name {
        "syscall.null" => How::User("init", 6),
        "ipc.call.same_cpu" => How::User("ipcbench", 1),
        "ipc.call.cross_cpu" => How::User("ipcbench", 2),
        "ipc.call.same_cpu.oneway" => How::User("ipcbench", 3),
        "ipc.call.same_cpu.cold" => How::User("ipcbench", 4),
        "ipc.async.latency.cross_cpu" => How::User("chantest", 0x40),
        "ipc.async.throughput.cross_cpu.b1" => How::User("chantest", 0x41),
        "ipc.async.throughput.cross_cpu.b16" => How::User("chantest", 0x42),
        // chantest's region hand-over benchmarks: 0x43 + the index in its
        // `SHM` table.
        "ipc.large.4096" => How::User("chantest", 0x43),
        "ipc.large.1048576" => How::User("chantest", 0x44),
        "ipc.shm.transfer.4096" => How::User("chantest", 0x45),
        "ipc.shm.transfer.1048576" => How::User("chantest", 0x46),
        "ipc.large.2097152" => How::User("chantest", 0x47),
        "ipc.large.16777216" => How::User("chantest", 0x48),
        "ipc.large.67108864" => How::User("chantest", 0x49),
        "ipc.shm.transfer.2097152" => How::User("chantest", 0x4a),
        "ipc.shm.transfer.16777216" => How::User("chantest", 0x4b),
        "ipc.shm.transfer.67108864" => How::User("chantest", 0x4c),
        "ipc.shm.map.4096" => How::User("chantest", 0x4d),
        "ipc.shm.map.1048576" => How::User("chantest", 0x4e),
        "ipc.shm.map.2097152" => How::User("chantest", 0x4f),
        "ipc.shm.map.16777216" => How::User("chantest", 0x50),
        "ipc.shm.map.67108864" => How::User("chantest", 0x51),
        "cap.lookup.16" => How::CapLookup(16),
        "cap.lookup.65536" => How::CapLookup(65536),
        "sched.pi.with_pi" => How::Inversion(true),
        "sched.pi.without_pi" => How::Inversion(false),
        "stress.procs.1024" => How::Load(1),
        // Prints `scale.call.cpus<N>` for N = 1..online.
        "scale.call" => How::Load(2),
        // Calibration of the performance model (only when asked for by name).
        "model.calib.l1" => How::User("modelcal", 1),
        "model.calib.stride" => How::User("modelcal", 2),
        "model.calib.pingpong" => How::User("modelcal", 3),
        "model.calib.same_cpu" => How::User("modelcal", 4),
        _ => return None,
    })
}

// The host runner caps `--cpus` at the table's maximum.
const _: () = assert!(crate::percpu::MAX_CPUS == perf::suite::MAX_CPUS as usize);

/// How the run was configured.
pub struct BenchConfig<'a> {
    /// `quick`, `full`, or a name prefix.
    pub suite: &'a str,
    /// Samples per benchmark (0 = the suite's default).
    pub samples: u64,
    /// What the host said it used (`accel=`), else detected.
    pub accel: Accel,
    /// TSC information.
    pub tsc: TscInfo,
    /// CPUs online and NUMA nodes.
    pub cpus: u32,
    /// NUMA nodes.
    pub nodes: u32,
}

fn emit(line: &str) {
    // One console write per record keeps it whole.
    kprint!("{line}");
}

/// Back-to-back timestamp cost, measured (min of many).
fn tsc_overhead() -> u64 {
    (0..1000)
        .map(|_| {
            let a = rdtsc_ordered();
            let b = rdtsc_ordered();
            b - a
        })
        .min()
        .unwrap_or(0)
}

/// Runs the suite and prints every record. Returns false when a benchmark
/// program failed.
pub fn run(cfg: &BenchConfig<'_>) -> bool {
    let cpuid = raw_cpuid::CpuId::new();
    let vendor = cpuid
        .get_vendor_info()
        .map(|v| String::from(v.as_str()))
        .unwrap_or_else(|| String::from("unknown"));
    let brand = cpuid
        .get_processor_brand_string()
        .map(|b| String::from(b.as_str().trim()))
        .unwrap_or_default();
    let (family, model, stepping) = cpuid.get_feature_info().map_or((0, 0, 0), |f| {
        (
            u32::from(f.family_id()),
            u32::from(f.model_id()),
            u32::from(f.stepping_id()),
        )
    });
    let overhead = tsc_overhead();
    let meta = Meta {
        accel: cfg.accel,
        cpu_vendor: &vendor,
        cpu_model: if brand.is_empty() { "unknown" } else { &brand },
        family,
        model,
        stepping,
        tsc_mhz: cfg.tsc.hz as f64 / 1e6,
        tsc_source: cfg.tsc.source,
        tsc_invariant: cfg.tsc.invariant,
        tsc_overhead: overhead,
        pmu: crate::pmu::info(),
        cpus: cfg.cpus,
        nodes: cfg.nodes,
        rev: env!("VERIDIAN_REV"),
        profile: if env!("VERIDIAN_PROFILE") == "release" {
            Profile::Release
        } else {
            Profile::Debug
        },
        switches: Switches {
            ipc_fastpath: crate::kipc::fastpath(),
            pi: crate::task::priority_inheritance(),
            pcid: crate::arch::x86_64::cpu::pcid_on(),
        },
    };
    let mut line = String::new();
    let _ = meta.write_to(&mut line);
    emit(&line);

    let default_samples = if cfg.suite == "full" { 100_000 } else { 2_000 };
    let samples = if cfg.samples == 0 {
        default_samples
    } else {
        cfg.samples
    };
    let icount_flag = if cfg.accel == Accel::Icount {
        1u64 << 63
    } else {
        0
    };
    let (mut benches, mut skipped, mut ok) = (0u64, 0u64, true);
    let chosen = perf::suite::SUITE
        .iter()
        .filter(|b| perf::suite::selected(cfg.suite, b.name));
    for name in chosen.map(|b| b.name) {
        let Some(how) = how(name) else {
            emit_skip(name, "this kernel has no mechanism for it");
            skipped += 1;
            continue;
        };
        // The priority-inversion scenario counts its runs, not samples.
        let total = match how {
            How::Inversion(_) => inversion_reps(cfg.suite),
            _ => samples,
        };
        // `ipcload` brackets its own runs (one bar per CPU count of
        // `scale.call`); every other program reports `samples` (or the
        // scenario's runs) as its total.
        let own_progress = matches!(how, How::Load(_));
        if !own_progress {
            emit_progress(name, 0, total);
        }
        match &how {
            How::User(program, mode) if crate::programs::find(program).is_some() => {
                let arg = mode | (samples << 8) | icount_flag;
                match process::run_and_wait(program, arg, 360_000) {
                    Ok(ExitReason::Exited(0)) => benches += 1,
                    Ok(ExitReason::Exited(2)) => skipped += 1, // the program printed @skip
                    other => {
                        kprintln!("bench: {name}: {program} ended with {other:?}");
                        ok = false;
                    }
                }
            }
            How::User(program, _) => {
                let mut line = String::new();
                let reason =
                    alloc::format!("program {program} is not built yet (synchronous IPC, issue 5)");
                let _ = Skip {
                    name,
                    reason: &reason,
                }
                .write_to(&mut line);
                emit(&line);
                skipped += 1;
            }
            How::Load(mode) => {
                let arg = mode | (samples.min((1 << 40) - 1) << 8) | (u64::from(cfg.cpus) << 48);
                match process::run_and_wait("ipcload", arg, 360_000) {
                    // `scale.call` prints one record per CPU count.
                    Ok(ExitReason::Exited(0)) if *mode == 2 => benches += u64::from(cfg.cpus),
                    Ok(ExitReason::Exited(0)) => benches += 1,
                    other => {
                        kprintln!("bench: {name}: ipcload ended with {other:?}");
                        ok = false;
                    }
                }
            }
            How::Inversion(pi) => {
                // Each run takes a few seconds (a 2 s hog): few repetitions.
                let reps = inversion_reps(cfg.suite);
                crate::task::set_priority_inheritance(*pi);
                let arg = 8 | ((u64::from(*pi) | 2 | (reps << 2)) << 8);
                let result = process::run_and_wait("ipctest", arg, 360_000);
                crate::task::set_priority_inheritance(true);
                match result {
                    Ok(ExitReason::Exited(0)) => benches += 1,
                    other => {
                        kprintln!("bench: {name}: ipctest ended with {other:?}");
                        ok = false;
                    }
                }
            }
            How::CapLookup(slots) => {
                cap_lookup(name, *slots, samples, cfg);
                benches += 1;
            }
        }
        if !own_progress {
            emit_progress(name, total, total);
        }
    }
    let mut line = String::new();
    let _ = (Done { benches, skipped }).write_to(&mut line);
    emit(&line);
    ok
}

/// Runs of the priority-inversion scenario (each takes a few seconds: a
/// 2 s hog).
fn inversion_reps(suite: &str) -> u64 {
    if suite == "full" { 20 } else { 3 }
}

/// The kernel's histogram for in-kernel benchmarks (221 KB: not on a stack).
static KHIST: spin::Mutex<Histogram> = spin::Mutex::new(Histogram::new());
/// The open interval of an in-kernel benchmark (`perf::interval`).
static KINTERVAL: spin::Mutex<Histogram> = spin::Mutex::new(Histogram::new());
static SINK: AtomicU64 = AtomicU64::new(0);

/// `cap.lookup.<slots>`: one capability check (`CapRegistry::admits`: slot
/// index, generation, rights, limits) in a space of `slots` capabilities,
/// timed with the TSC per lookup, random slot order.
fn cap_lookup(name: &str, slots: u32, samples: u64, cfg: &BenchConfig<'_>) {
    use ipc::cap::{
        Access, CapRegistry, CapSpace, CapTarget, EndpointId, IpcLimits, IpcPermissions, ProcessId,
    };
    let Ok(mut registry) = CapRegistry::new(slots + 16, cfg.tsc.hz) else {
        emit_skip(name, "capability registry could not be created");
        return;
    };
    let mut space = CapSpace::new(ProcessId(1), slots + 16);
    let mut tokens = alloc::vec::Vec::with_capacity(slots as usize);
    for i in 0..slots {
        match registry.mint(
            &mut space,
            CapTarget::Endpoint(EndpointId(i)),
            IpcPermissions::all(64),
            IpcLimits::NONE,
            0,
        ) {
            Ok(t) => tokens.push(t),
            Err(_) => {
                emit_skip(name, "capability space could not be filled");
                return;
            }
        }
    }
    let overhead = tsc_overhead();
    let mut whole = KHIST.lock();
    let mut hist = KINTERVAL.lock();
    whole.reset();
    hist.reset();
    window(slots, true);
    let start = rdtsc_ordered();
    let mut between = Between::new(name, samples, cfg.tsc.hz, start);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    // Chunks of one interval's samples; between them, outside the
    // measured loop, progress and the interval's end.
    let chunk = between.clock.policy().every_samples;
    let mut done = 0;
    while done < samples {
        let n = chunk.min(samples - done);
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let token = tokens[(x % u64::from(slots)) as usize];
            marker::op_begin();
            let a = rdtsc_ordered();
            let r = registry.admits(&space, token, Access::Send, 8, a);
            let b = rdtsc_ordered();
            marker::op_end();
            SINK.fetch_add(u64::from(r.is_ok()), Ordering::Relaxed);
            hist.record((b - a).saturating_sub(overhead).max(1));
        }
        done += n;
        between.handle(done, rdtsc_ordered(), &mut whole, &mut hist);
    }
    let end = rdtsc_ordered();
    window(slots, false);
    between.finish(samples, end, &mut whole, &hist);
    let unit = if cfg.accel == Accel::Icount {
        Unit::Instructions
    } else {
        Unit::Cycles
    };
    let mut line = String::new();
    let _ = BenchResult::from_histogram(name, unit, &whole).write_to(&mut line);
    emit(&line);
    between.emit_last(&hist);
}

/// What an in-kernel latency benchmark does between chunks of samples,
/// out of line: `@progress` once a second of TSC time, and closing a
/// histogram interval (`perf::interval`) when it is due, printing it as
/// `@hist` and adding it to the whole run.
struct Between<'a> {
    name: &'a str,
    hz: u64,
    total: u64,
    clock: IntervalClock,
    /// The next `@progress` (TSC).
    next_progress: u64,
    /// The last interval, once [`Between::finish`] closed it.
    last: Option<Span>,
}

impl<'a> Between<'a> {
    fn new(name: &'a str, total: u64, hz: u64, now: u64) -> Self {
        let hz = hz.max(1);
        let policy = IntervalPolicy::for_run(total, hz);
        Self {
            name,
            hz,
            total,
            clock: IntervalClock::new(policy, now),
            next_progress: now.saturating_add(hz),
            last: None,
        }
    }

    /// After `done` samples at TSC `now` (between chunks; out of the
    /// loop's way).
    #[cold]
    #[inline(never)]
    fn handle(&mut self, done: u64, now: u64, whole: &mut Histogram, hist: &mut Histogram) {
        if now >= self.next_progress {
            self.next_progress = now.saturating_add(self.hz);
            emit_progress(self.name, done, self.total);
        }
        if let Some(span) = self.clock.poll(done, now) {
            whole.add(hist);
            self.emit_interval(hist, span);
            hist.reset();
        }
    }

    /// Closes the last interval at TSC `end` after `done` samples and adds
    /// it to the whole run.
    fn finish(&mut self, done: u64, end: u64, whole: &mut Histogram, hist: &Histogram) {
        self.last = self.clock.finish(done, end);
        if self.last.is_some() {
            whole.add(hist);
        }
    }

    /// Prints the last interval (after `@bench`).
    fn emit_last(&self, hist: &Histogram) {
        if let Some(span) = self.last {
            self.emit_interval(hist, span);
        }
    }

    fn emit_interval(&self, hist: &Histogram, span: Span) {
        let secs = |t: u64| {
            Duration::from_nanos((u128::from(t) * 1_000_000_000 / u128::from(self.hz)) as u64)
        };
        let mut line = String::new();
        let _ = Hist {
            name: self.name,
            histogram: hist,
            start: secs(span.start),
            interval: secs(span.end - span.start),
        }
        .write_to(&mut line);
        emit(&line);
    }
}

/// Opens (`open`) or closes the performance-model window of
/// `cap.lookup.<slots>` (16, else 65536: the suite's two).
fn window(slots: u32, open: bool) {
    use perf::marker::bench_id;
    const SMALL: u32 = bench_id("cap.lookup.16");
    const LARGE: u32 = bench_id("cap.lookup.65536");
    match (slots, open) {
        (16, true) => marker::window_begin::<SMALL>(),
        (16, false) => marker::window_end::<SMALL>(),
        (_, true) => marker::window_begin::<LARGE>(),
        (_, false) => marker::window_end::<LARGE>(),
    }
}

fn emit_progress(name: &str, done: u64, total: u64) {
    let mut line = String::new();
    let _ = Progress { name, done, total }.write_to(&mut line);
    emit(&line);
}

fn emit_skip(name: &str, reason: &str) {
    let mut line = String::new();
    let _ = record::Skip { name, reason }.write_to(&mut line);
    emit(&line);
}
