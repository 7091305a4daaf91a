//! `ipcbench`: synchronous IPC latency, measured from user space through the
//! real syscall path, printed as `@bench` + `@hist` records.
//!
//! `arg & 0xff` selects the benchmark (`arg >> 8` = samples, 0 = 10 000;
//! bit 63 = the TSC counts instructions, `-icount`):
//! - 1 `ipc.call.same_cpu`: round trip (call with four words, reply with
//!   four), client and server on this CPU, user `rdtsc` to user `rdtsc`
//!   minus the back-to-back `rdtsc` overhead;
//! - 2 `ipc.call.cross_cpu`: the same with the client on CPU 0 and the
//!   server on CPU 1 (`@skip` and exit code 2 with one CPU);
//! - 3 `ipc.call.same_cpu.oneway`: call to server-receive, from the TSC
//!   stamp the client puts in a data word to the server's stamp after its
//!   receive returns;
//! - 4 `ipc.call.same_cpu.cold`: the round trip of 1 with the fast path's
//!   remembered tokens useless: the server holds two endpoints, the client
//!   calls them in turn and the server receives on them in turn, so every
//!   call and every receive names another token than the thread's last.
//!
//! This process only places the two halves and waits: it spawns the client
//! (which measures and prints) and then the server, which grants the client
//! its capability (slot 0; slot 1 is the second endpoint of 4).
#![no_std]
#![no_main]

use rt::ipc::{Endpoint, IpcError, Message, Rights, initial_cap};
use rt::{Placement, println};

rt::entry!(main);

/// Benchmarks.
mod bench {
    pub const SAME_CPU: u64 = 1;
    pub const CROSS_CPU: u64 = 2;
    pub const ONEWAY: u64 = 3;
    pub const COLD: u64 = 4;
}

/// Roles of the spawned halves (`role | bench`).
mod role {
    pub const CLIENT: u64 = 0x10;
    pub const SERVER: u64 = 0x20;
}

/// Message word 0 that stops the server.
const QUIT: u64 = u64::MAX;
/// Bit of `arg` that says the TSC counts instructions.
const ICOUNT: u64 = 1 << 63;

fn main(arg: u64) -> u64 {
    let mode = arg & 0xff;
    match mode & 0xf0 {
        role::CLIENT => client(mode & 0x0f, arg),
        role::SERVER => server(mode & 0x0f, arg >> 8),
        _ => place(mode, arg),
    }
}

fn name(bench: u64) -> &'static str {
    match bench {
        bench::CROSS_CPU => "ipc.call.cross_cpu",
        bench::ONEWAY => "ipc.call.same_cpu.oneway",
        bench::COLD => "ipc.call.same_cpu.cold",
        _ => "ipc.call.same_cpu",
    }
}

/// Spawns the client and the server where `bench` wants them and waits.
fn place(bench: u64, arg: u64) -> u64 {
    if !matches!(
        bench,
        bench::SAME_CPU | bench::CROSS_CPU | bench::ONEWAY | bench::COLD
    ) {
        println!("ipcbench: unknown benchmark {bench}");
        return 1;
    }
    let here = rt::time().2 as u32;
    let (client_cpu, server_cpu) = if bench == bench::CROSS_CPU {
        (0, 1)
    } else {
        (here, here)
    };
    let at = |cpu| Placement {
        cpu: Some(cpu),
        priority: 10,
    };
    let client_arg = (arg & !0xff) | role::CLIENT | bench;
    let client = match rt::spawn("ipcbench", client_arg, at(client_cpu)) {
        Ok(pid) => pid,
        Err(e) => {
            println!("ipcbench: spawn client: {e:?}");
            return 1;
        }
    };
    let server_arg = role::SERVER | bench | (u64::from(client) << 8);
    let server = match rt::spawn("ipcbench", server_arg, at(server_cpu)) {
        Ok(pid) => pid,
        Err(_) if bench == bench::CROSS_CPU => {
            // One CPU: tell the client to stand down.
            let _ = rt::kill(client);
            let _ = rt::wait(client);
            println!("@skip v1 name=ipc.call.cross_cpu reason=needs%202%20CPUs");
            return 2;
        }
        Err(e) => {
            println!("ipcbench: spawn server: {e:?}");
            let _ = rt::kill(client);
            let _ = rt::wait(client);
            return 1;
        }
    };
    let client_end = rt::wait(client);
    let server_end = rt::wait(server);
    match (client_end, server_end) {
        (Ok((0, 0, _)), Ok((0, 0, _))) => 0,
        other => {
            println!("ipcbench: {} ended with {other:?}", name(bench));
            1
        }
    }
}

/// The server: grants the client (pid `client`) a send capability, then
/// answers until QUIT. For the one-way benchmark the reply carries the
/// latency from the client's stamp to this receive.
fn server(bench: u64, client: u64) -> u64 {
    let Ok((receive, send)) = Endpoint::create(0) else {
        return 1;
    };
    if rt::ipc::grant(send.0, client as u32, Rights::SEND, 1).is_err() {
        println!("ipcbench: grant failed");
        return 1;
    }
    if bench == bench::COLD {
        return cold_server(receive, client);
    }
    let mut message = receive.recv();
    if bench == bench::ONEWAY {
        loop {
            let stamp = rt::arch::rdtsc();
            // The measured one-way trip ends here (performance model: the
            // client's own `op_end` then finds the operation closed).
            rt::marker::op_end();
            let data = match served(message) {
                Ok(data) => data,
                Err(code) => return code,
            };
            message = receive.reply_recv([stamp.wrapping_sub(data[0]), 0, 0, 0]);
        }
    }
    // Every other benchmark: an echo, and the loop does nothing else (no
    // clock reading), so a round trip measures the kernel and not the server.
    loop {
        let data = match served(message) {
            Ok(data) => data,
            Err(code) => return code,
        };
        message = receive.reply_recv(data);
    }
}

/// The server of `ipc.call.same_cpu.cold`: a second endpoint granted to
/// the client (its slot 1), then an echo that receives on `first` and
/// the second endpoint in turn, as the client calls them.
fn cold_server(first: Endpoint, client: u64) -> u64 {
    let Ok((second, send)) = Endpoint::create(0) else {
        return 1;
    };
    if rt::ipc::grant(send.0, client as u32, Rights::SEND, 2).is_err() {
        println!("ipcbench: grant of the second endpoint failed");
        return 1;
    }
    let mut message = first.recv();
    let mut next = second;
    loop {
        let data = match served(message) {
            Ok(data) => data,
            Err(code) => return code,
        };
        message = next.reply_recv(data);
        next = if next == second { first } else { second };
    }
}

/// The request the server received, or its exit code: 0 after answering
/// QUIT, 1 if the receive failed.
#[inline(always)]
fn served(message: Result<Message, IpcError>) -> Result<[u64; 4], u64> {
    match message {
        Ok(m) if m.data[0] == QUIT => {
            let _ = rt::ipc::reply([0; 4]);
            Err(0)
        }
        Ok(m) => Ok(m.data),
        Err(error) => {
            println!("ipcbench: server receive failed: {error:?}");
            Err(1)
        }
    }
}

/// Samples between progress and interval checks (at most).
const PROGRESS_CHUNK: u64 = 1024;

/// Opens (`open`) or closes the performance-model window of `bench`
/// (markers: `rt::marker`; each operation is one round trip, or one call
/// for the one-way benchmark, bracketed outside its timestamps).
fn window(bench: u64, open: bool) {
    use perf::marker::bench_id;
    use rt::marker::{window_begin, window_end};
    const SAME: u32 = bench_id("ipc.call.same_cpu");
    const CROSS: u32 = bench_id("ipc.call.cross_cpu");
    const ONEWAY: u32 = bench_id("ipc.call.same_cpu.oneway");
    const COLD: u32 = bench_id("ipc.call.same_cpu.cold");
    match (bench, open) {
        (bench::CROSS_CPU, true) => window_begin::<CROSS>(),
        (bench::CROSS_CPU, false) => window_end::<CROSS>(),
        (bench::ONEWAY, true) => window_begin::<ONEWAY>(),
        (bench::ONEWAY, false) => window_end::<ONEWAY>(),
        (bench::COLD, true) => window_begin::<COLD>(),
        (bench::COLD, false) => window_end::<COLD>(),
        (_, true) => window_begin::<SAME>(),
        (_, false) => window_end::<SAME>(),
    }
}

/// The histogram (221 KB: not on the stack); only the client touches it.
static mut HIST: perf::histogram::Histogram = perf::histogram::Histogram::new();

/// The client: waits for its capability, warms up, measures, prints.
fn client(bench: u64, arg: u64) -> u64 {
    let unit = if arg & ICOUNT != 0 {
        perf::record::Unit::Instructions
    } else {
        perf::record::Unit::Cycles
    };
    let samples = (arg & !ICOUNT) >> 8;
    let samples = if samples == 0 { 10_000 } else { samples };
    let caps = if bench == bench::COLD { 2 } else { 1 };
    if !(0..caps).all(|slot| rt::ipc::wait_for_cap(initial_cap(slot), 100_000)) {
        println!("ipcbench: no capability granted");
        return 1;
    }
    // The cold benchmark calls its two endpoints in turn; the others have
    // one (and `servers[1]` is the same).
    let servers = [Endpoint(initial_cap(0)), Endpoint(initial_cap(caps - 1))];
    // SAFETY: this single-threaded program is the histogram's only user.
    let hist = unsafe { &mut *core::ptr::addr_of_mut!(HIST) };
    let mut overhead = u64::MAX;
    for _ in 0..1000 {
        let a = rt::arch::rdtsc();
        let b = rt::arch::rdtsc();
        overhead = overhead.min(b - a);
    }
    // An even number of warm-up calls: the measured loop starts with
    // `servers[0]`, as the cold server expects.
    let warm_up = (samples / 10).max(100) & !1;
    for i in 0..warm_up {
        if servers[(i & 1) as usize].send_recv([i, 1, 2, 3]).is_err() {
            println!("ipcbench: warm-up call failed");
            return 1;
        }
    }
    let hz = rt::time().1;
    let Some(mut recorder) = rt::bench::Recorder::new(name(bench), unit, samples, hz, hist) else {
        println!("ipcbench: a recorder is already running");
        return 1;
    };
    // Chunks no longer than an interval, so intervals close on time.
    let chunk = PROGRESS_CHUNK.min(recorder_interval(samples, hz));
    let counting = rt::bench::start_counters();
    window(bench, true);
    let rec = &mut recorder;
    let measured = match bench {
        bench::COLD => {
            measure::<false>(samples, chunk, overhead, rec, |i| servers[(i & 1) as usize])
        }
        bench::ONEWAY => measure::<true>(samples, chunk, overhead, rec, |_| servers[0]),
        _ => measure::<false>(samples, chunk, overhead, rec, |_| servers[0]),
    };
    if measured.is_err() {
        return 1;
    }
    window(bench, false);
    let counts = counting.read();
    let end = rt::arch::rdtsc();
    let _ = servers[(samples & 1) as usize].send_recv([QUIT, 0, 0, 0]);
    recorder.finish(end, &counts);
    println!(
        "ipcbench: {} tsc_overhead={overhead} samples={samples} fastpath_eligible={}",
        name(bench),
        bench != bench::CROSS_CPU
    );
    0
}

/// The measured loop: `samples` calls to `server(i)`, in chunks of
/// `chunk` with progress and intervals between them; `ONEWAY`: the call
/// carries the client's stamp and the sample is the server's answer, else
/// the sample is the round trip. Inlined into each caller, so that each
/// instance has nothing to choose between its timestamps.
#[inline(always)]
fn measure<const ONEWAY: bool>(
    samples: u64,
    chunk: u64,
    overhead: u64,
    recorder: &mut rt::bench::Recorder<'_>,
    server: impl Fn(u64) -> Endpoint,
) -> Result<(), ()> {
    let mut chunk_start = 0;
    while chunk_start < samples {
        let chunk_end = samples.min(chunk_start + chunk);
        for i in chunk_start..chunk_end {
            let server = server(i);
            rt::marker::op_begin();
            let a = rt::arch::rdtsc();
            let words = if ONEWAY { [a, 1, 2, 3] } else { [i, 1, 2, 3] };
            let reply = server.send_recv(words);
            let b = rt::arch::rdtsc();
            rt::marker::op_end();
            let sample = match reply {
                Ok(r) if ONEWAY => r[0],
                Ok(_) => b - a,
                Err(e) => {
                    println!("ipcbench: call failed: {e}");
                    return Err(());
                }
            };
            recorder.record(sample.saturating_sub(overhead).max(1));
        }
        recorder.tick(rt::arch::rdtsc());
        chunk_start = chunk_end;
    }
    Ok(())
}

/// Samples per histogram interval of a run of `samples` samples.
fn recorder_interval(samples: u64, hz: u64) -> u64 {
    perf::interval::IntervalPolicy::for_run(samples, hz).every_samples
}
