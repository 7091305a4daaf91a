//! `ipcload`: aggregate synchronous-IPC throughput under load, measured from
//! user space through the real syscall path, printed as `@bench` throughput
//! records (`unit=msgs_per_s`; one message = one call whose reply the client
//! has checked word by word).
//!
//! `arg & 0xff` selects the benchmark, bits 8..48 are the sample count the
//! suite asked for and bits 48..56 the number of CPUs online:
//! - 1 `stress.procs.1024`: 512 client/server pairs (1,024 processes alive
//!   at once), pair `i` on CPU `i mod online`; each client makes
//!   `max(samples / 10, 20)` calls;
//! - 2 `scale.call.cpus<N>` for N = 1..online: N pairs, pair `i` alone on
//!   CPU `i` (client and server on the same CPU), each client making
//!   `samples` calls; one record per N.
//!
//! How a run is timed: the orchestrator (this process, priority 10) spawns
//! every pair at priority 5, so it is never starved by them. Each client,
//! once it holds its server's capability and the orchestrator's two, calls
//! the orchestrator's "ready" endpoint (answered at once) and then its "go"
//! endpoint, where it stays queued. When every client has been ready the
//! orchestrator reads the clock and answers the queued "go" calls back to
//! back, so all clients start within a few microseconds of each other; the
//! run ends when the last client has been reaped. Aggregate = calls / (end - start). The start-up (spawning 1,024
//! processes) is outside the measured interval.
//!
//! The record's statistics are over repetitions (one per run: `count=1`
//! means one run, p50 = that run's aggregate).
//!
//! Progress: each run prints `@progress` under its record's name with
//! `total` = pairs x calls, at its start and end; in between, the first
//! client prints its own calls times the pairs (an estimate of the whole:
//! the pairs run alike) at most once a second, checking the clock every
//! [`PROGRESS_CALLS`] calls.
#![no_std]
#![no_main]

extern crate alloc;

use rt::ipc::{Endpoint, Rights, initial_cap};
use rt::{Placement, println};

rt::entry!(main);

/// Benchmarks.
mod bench {
    pub const STRESS: u64 = 1;
    pub const SCALE: u64 = 2;
}

/// Roles of the spawned processes (`arg & 0xff`).
mod role {
    pub const CLIENT: u64 = 0x10;
    pub const SERVER: u64 = 0x20;
}

/// Message word 0 that stops a server.
const QUIT: u64 = u64::MAX;
/// Client → orchestrator's ready endpoint: "I hold my capabilities".
const READY: u64 = 1;
/// Client → orchestrator's go endpoint: "start me".
const WAIT: u64 = 2;
/// Badge of the server capability a server grants its client.
const SERVER_BADGE: u64 = 0x5e;
/// Badge of the orchestrator's go capability.
const GO_BADGE: u64 = 0x60;
/// Badge of the orchestrator's ready capability.
const READY_BADGE: u64 = 0x61;
/// Bit of `arg` that says the TSC counts instructions.
const ICOUNT: u64 = 1 << 63;
/// Pairs in `stress.procs.1024`.
const STRESS_PAIRS: u32 = 512;
/// Priority of the pairs (below the orchestrator's 10).
const PAIR_PRIORITY: u8 = 5;
/// Seconds the orchestrator waits for the next client to check in.
const CHECK_IN_SECS: u64 = 120;
/// Sleeps of one millisecond (at least a tick) a client waits for its
/// capabilities before giving up: about a minute.
const CAP_WAITS: u32 = 6_000;
/// Calls between the first client's progress checks.
const PROGRESS_CALLS: u64 = 64;
/// A client's argument (after the role byte): its calls in bits 0..40;
/// for the first client of a run, the pairs in bits 40..50 and the
/// benchmark in bits 50..52 (it then prints the run's progress).
const CALLS_MASK: u64 = (1 << 40) - 1;
const PAIRS_SHIFT: u32 = 40;
const BENCH_SHIFT: u32 = 50;

fn main(arg: u64) -> u64 {
    let mode = arg & 0xff;
    let rest = (arg & !ICOUNT) >> 8;
    let samples = rest & ((1 << 40) - 1);
    let cpus = ((rest >> 40) & 0xff).max(1) as u32;
    match mode & 0xf0 {
        role::CLIENT => client(rest),
        role::SERVER => server(rest as u32),
        _ => match mode {
            bench::STRESS => stress(samples, cpus),
            bench::SCALE => scale(samples, cpus),
            _ => {
                println!("ipcload: unknown benchmark {mode}");
                1
            }
        },
    }
}

/// The reply a server gives to `d`; the client checks every word.
fn transform(d: [u64; 4]) -> [u64; 4] {
    [
        d[0].wrapping_add(1),
        d[1] ^ 0xa5a5_a5a5_a5a5_a5a5,
        d[2].rotate_left(7),
        !d[3],
    ]
}

/// One run: `pairs` client/server pairs, pair `i` on CPU `cpu_of(i)`, each
/// client making `calls` calls. Returns the aggregate calls per second and
/// the calls made, or the error code to exit with.
fn run(bench: u64, pairs: u32, calls: u64, cpu_of: impl Fn(u32) -> u32) -> Result<(u64, u64), u64> {
    let name = record_name(bench, pairs);
    let total = calls * u64::from(pairs);
    let (Ok((go_recv, go_send)), Ok((ready_recv, ready_send))) =
        (Endpoint::create(0), Endpoint::create(0))
    else {
        println!("ipcload: endpoint create failed");
        return Err(1);
    };
    let mut clients = alloc_pids(pairs);
    let mut servers = alloc_pids(pairs);
    let mut failed = None;
    for i in 0..pairs {
        let at = Placement {
            cpu: Some(cpu_of(i)),
            priority: PAIR_PRIORITY,
        };
        let reporter = if i == 0 {
            (u64::from(pairs) << PAIRS_SHIFT) | (bench << BENCH_SHIFT)
        } else {
            0
        };
        let client = match rt::spawn("ipcload", role::CLIENT | ((calls | reporter) << 8), at) {
            Ok(pid) => pid,
            Err(e) => {
                failed = Some(alloc::format!("spawn of client {i} failed: {e:?}"));
                break;
            }
        };
        clients.push(client);
        match rt::spawn("ipcload", role::SERVER | (u64::from(client) << 8), at) {
            Ok(pid) => servers.push(pid),
            Err(e) => {
                failed = Some(alloc::format!("spawn of server {i} failed: {e:?}"));
                break;
            }
        }
        if rt::ipc::grant(go_send.0, client, Rights::SEND, GO_BADGE).is_err()
            || rt::ipc::grant(ready_send.0, client, Rights::SEND, READY_BADGE).is_err()
        {
            failed = Some(alloc::format!("grant to client {i} failed"));
            break;
        }
    }
    if let Some(why) = failed {
        println!("ipcload: {why}");
        for &pid in clients.iter().chain(servers.iter()) {
            let _ = rt::kill(pid);
            let _ = rt::wait(pid);
        }
        return Err(2);
    }
    // Phase 1: every client says READY (answered at once); it then queues
    // on the go endpoint. Phase 2: release the WAIT calls back to back. A
    // client that dies or never checks in cannot hang the run: each receive
    // has a deadline.
    let mut start = 0;
    for (phase, endpoint, word) in [(1, ready_recv, READY), (2, go_recv, WAIT)] {
        if phase == 2 {
            progress(&name, 0, total);
            // Performance model: the run is one measured interval of
            // `total` calls on every CPU (`ops=` in the record).
            window(bench, pairs, true);
            rt::marker::op_begin();
            start = rt::time().0;
        }
        for n in 0..pairs {
            let (now, hz, _) = rt::time();
            match endpoint.recv_until(now + hz * CHECK_IN_SECS) {
                Ok(m) if m.data[0] == word => {
                    let _ = rt::ipc::reply([0; 4]);
                }
                other => {
                    println!(
                        "ipcload: phase {phase}: {n} of {pairs} clients checked in, then {other:?}"
                    );
                    if phase == 2 {
                        rt::marker::op_end();
                        window(bench, pairs, false);
                    }
                    return Err(abandon(&clients, &servers));
                }
            }
        }
    }
    let hz = rt::time().1;
    let mut bad = 0u32;
    for (i, &pid) in clients.iter().enumerate() {
        match rt::wait(pid) {
            Ok((0, 0, _)) => {}
            other => {
                if bad == 0 {
                    println!("ipcload: client {i} (pid {pid}) ended with {other:?}");
                }
                bad += 1;
                // Its server would wait for calls forever.
                if let Some(&server) = servers.get(i) {
                    let _ = rt::kill(server);
                }
            }
        }
    }
    let (end, _, _) = rt::time();
    rt::marker::op_end();
    window(bench, pairs, false);
    for (i, &pid) in servers.iter().enumerate() {
        match rt::wait(pid) {
            Ok((0, 0, _)) => {}
            other => {
                if bad == 0 {
                    println!("ipcload: server {i} (pid {pid}) ended with {other:?}");
                }
                bad += 1;
            }
        }
    }
    if bad != 0 {
        println!("ipcload: {bad} of {} processes failed", 2 * pairs);
        return Err(3);
    }
    progress(&name, total, total);
    let ticks = u128::from((end - start).max(1));
    println!(
        "ipcload: {pairs} pairs x {calls} calls = {total} calls, every reply checked, in {} ticks at {hz} Hz",
        end - start
    );
    Ok(((u128::from(total) * u128::from(hz) / ticks) as u64, total))
}

/// Opens (`open`) or closes the performance-model window of the run of
/// `bench` with `pairs` pairs (`stress.procs.1024`, `scale.call.cpus<N>`
/// for N up to 64: marker ids are constants, one per name).
fn window(bench: u64, pairs: u32, open: bool) {
    use perf::marker::bench_id;
    use rt::marker::{window_begin, window_end};
    macro_rules! scale_windows {
        ($($n:literal)*) => {
            match pairs {
                $($n => {
                    const ID: u32 = bench_id(concat!("scale.call.cpus", $n));
                    if open { window_begin::<ID>() } else { window_end::<ID>() }
                })*
                _ => {}
            }
        };
    }
    if bench == bench::STRESS {
        const ID: u32 = bench_id("stress.procs.1024");
        if open {
            window_begin::<ID>();
        } else {
            window_end::<ID>();
        }
        return;
    }
    scale_windows!(
        1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
        33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
        62 63 64
    );
}

/// The record name of a run of `bench` with `pairs` pairs.
fn record_name(bench: u64, pairs: u32) -> alloc::string::String {
    if bench == bench::SCALE {
        alloc::format!("scale.call.cpus{pairs}")
    } else {
        alloc::string::String::from("stress.procs.1024")
    }
}

fn progress(name: &str, done: u64, total: u64) {
    let mut c = rt::Console::new();
    let _ = perf::record::Progress { name, done, total }.write_to(&mut c);
    c.flush();
}

fn alloc_pids(n: u32) -> alloc::vec::Vec<u32> {
    alloc::vec::Vec::with_capacity(n as usize)
}

/// Kills every process of a failed run; the exit code to return.
fn abandon(clients: &[u32], servers: &[u32]) -> u64 {
    for &pid in clients.iter().chain(servers.iter()) {
        let _ = rt::kill(pid);
        let _ = rt::wait(pid);
    }
    4
}

/// Prints one throughput record whose only repetition is `rate` over
/// `calls` calls (the load spans every CPU: no per-message counter values).
fn report(name: &str, (rate, calls): (u64, u64)) {
    rt::bench::report_throughput(name, rate as f64, calls, &rt::bench::Counts::default());
}

fn stress(samples: u64, cpus: u32) -> u64 {
    let calls = (samples / 10).max(20);
    match run(bench::STRESS, STRESS_PAIRS, calls, |i| i % cpus) {
        Ok(rate) => {
            report("stress.procs.1024", rate);
            0
        }
        Err(code) => code,
    }
}

fn scale(samples: u64, cpus: u32) -> u64 {
    let calls = samples.max(100);
    for n in 1..=cpus {
        match run(bench::SCALE, n, calls, |i| i) {
            Ok(rate) => report(&alloc::format!("scale.call.cpus{n}"), rate),
            Err(code) => return code,
        }
    }
    0
}

/// A server: grants its client (pid `client`) a send capability, then
/// answers with `transform` until QUIT.
fn server(client: u32) -> u64 {
    let Ok((receive, send)) = Endpoint::create(0) else {
        return 1;
    };
    if rt::ipc::grant(send.0, client, Rights::SEND, SERVER_BADGE).is_err() {
        println!("ipcload: server grant failed");
        return 1;
    }
    let mut message = receive.recv();
    loop {
        let Ok(m) = message else {
            println!("ipcload: server receive failed: {message:?}");
            return 1;
        };
        if m.data[0] == QUIT {
            let _ = rt::ipc::reply([0; 4]);
            return 0;
        }
        message = receive.reply_recv(transform(m.data));
    }
}

/// A client: waits for its three capabilities, checks in with the
/// orchestrator, then makes its calls and checks every reply (`arg`: see
/// [`CALLS_MASK`]).
fn client(arg: u64) -> u64 {
    let calls = arg & CALLS_MASK;
    let pairs = (arg >> PAIRS_SHIFT) & 0x3ff;
    let name = record_name((arg >> BENCH_SHIFT) & 3, pairs as u32);
    let hz = rt::time().1;
    // Only the first client of a run reports (pairs > 0).
    let mut ticker = (pairs > 0).then(|| rt::bench::ProgressTicker::new(&name, calls * pairs, hz));
    let slots = [initial_cap(0), initial_cap(1), initial_cap(2)];
    let mut waits = 0;
    while !slots.iter().all(|&c| rt::ipc::info(c).is_ok()) {
        waits += 1;
        if waits > CAP_WAITS {
            println!("ipcload: client never got its capabilities");
            return 1;
        }
        rt::sleep_ns(1_000_000);
    }
    // The grants race (server and orchestrator): tell them apart by badge.
    let by_badge = |badge| {
        slots
            .iter()
            .copied()
            .find(|&c| rt::ipc::info(c).map(|i| i.badge) == Ok(badge))
            .map(Endpoint)
    };
    let (Some(server), Some(ready), Some(go)) = (
        by_badge(SERVER_BADGE),
        by_badge(READY_BADGE),
        by_badge(GO_BADGE),
    ) else {
        println!("ipcload: client capabilities have unexpected badges");
        return 1;
    };
    if ready.send_recv([READY, 0, 0, 0]).is_err() || go.send_recv([WAIT, 0, 0, 0]).is_err() {
        println!("ipcload: orchestrator unreachable");
        return 2;
    }
    for seq in 0..calls {
        if let Some(ticker) = &mut ticker
            && seq % PROGRESS_CALLS == 0
        {
            ticker.tick(seq * pairs, rt::arch::rdtsc());
        }
        let words = [
            seq,
            seq ^ 0x1234,
            seq.wrapping_mul(0x9e37_79b9),
            u64::MAX - seq,
        ];
        match server.send_recv(words) {
            Ok(r) if r == transform(words) => {}
            Ok(r) => {
                println!(
                    "ipcload: call {seq}: reply {r:x?}, expected {:x?}",
                    transform(words)
                );
                return 3;
            }
            Err(e) => {
                println!("ipcload: call {seq} failed: {e}");
                return 4;
            }
        }
    }
    if server.send_recv([QUIT, 0, 0, 0]).is_err() {
        return 5;
    }
    0
}
