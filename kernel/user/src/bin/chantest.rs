//! `chantest`: asynchronous channels, shared regions and large messages
//! (issue 7), as tests (run by the kernel's `shm_tests`; exit code 0 = every
//! check passed) and as benchmarks (run by the bench suite; `@bench`
//! records).
//!
//! `arg & 0xff` picks a scenario, a benchmark, or (for the copies a
//! scenario spawns of itself) a role; `arg >> 8` carries parameters.
//! Benchmarks: bit 63 of `arg` = the TSC counts instructions (`-icount`).
//!
//! Placement: consumers and servers on CPU 0, producers and clients on CPU
//! 1 (CPU 0 too when only one is online: the test still runs, the
//! benchmark says so).
#![no_std]
#![no_main]

use ipc::IpcError;
use ipc::message::{CachePolicy, LargeMessage, MemoryRegion, RegionPermissions};
use ipc::ring::RingMessage;
use rt::ipc::{Endpoint, Rights, initial_cap};
use rt::shm::{
    Channel, Flavor, LARGE_TAG, MAP_EXECUTE, MAP_WRITE, Mapping, Receiver, Region, Sender,
};
use rt::{Placement, println};

rt::entry!(main);

/// Scenarios (the kernel's tests name them).
mod scenario {
    /// Three channels at once (SPSC, MPSC with two producers, SPSC), every
    /// message sequence-numbered; `param` = messages per channel | batch
    /// << 40.
    pub const CHANNELS: u64 = 1;
    /// A paced producer: the receiver sleeps before every message and must
    /// be woken every time.
    pub const WAKEUPS: u64 = 2;
    /// A region granted read-only to two processes, then revoked: both lose
    /// it (and die touching it); the owner keeps it.
    pub const REVOKE: u64 = 3;
    /// A region transferred: the target reads the data, the sender's touch
    /// faults and only the sender dies.
    pub const TRANSFER: u64 = 4;
    /// Large messages of 4 KiB, 64 KiB, 1 MiB and 16 MiB: round trips
    /// intact; too large and damaged ones refused.
    pub const LARGE: u64 = 5;
    /// Misuse of the region and channel calls, each with its error.
    pub const ERRORS: u64 = 6;
    /// W^X across the mappings of one region.
    pub const WX: u64 = 7;
    /// A `region_map` whose envelope buffer is bad leaves no mapping.
    pub const BAD_ENVELOPE: u64 = 8;
    /// One region mapped until the kernel refuses: `OutOfMemory` at the
    /// per-process bound, every mapping undone, the bound reached again.
    pub const MAPPING_EXHAUSTION: u64 = 9;
}

/// Benchmarks (the bench suite names them).
mod bench {
    pub const ASYNC_LATENCY: u64 = 0x40;
    pub const ASYNC_B1: u64 = 0x41;
    pub const ASYNC_B16: u64 = 0x42;
    /// Region hand-over benchmarks: `SHM_FIRST + index` into `SHM`.
    pub const SHM_FIRST: u64 = 0x43;
}

/// What a region hand-over benchmark times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HandOver {
    /// `send_large`, the receiver's map and the transfer back.
    Large,
    /// `Region::transfer` alone.
    Transfer,
    /// `Region::map` alone (the unmap is outside the timed interval).
    Map,
}

/// The region hand-over benchmarks, by mode `bench::SHM_FIRST + index`
/// (the kernel's bench table uses the same order).
const SHM: [(&str, HandOver, u64); 15] = [
    ("ipc.large.4096", HandOver::Large, 4096),
    ("ipc.large.1048576", HandOver::Large, 1 << 20),
    ("ipc.shm.transfer.4096", HandOver::Transfer, 4096),
    ("ipc.shm.transfer.1048576", HandOver::Transfer, 1 << 20),
    ("ipc.large.2097152", HandOver::Large, 2 << 20),
    ("ipc.large.16777216", HandOver::Large, 16 << 20),
    ("ipc.large.67108864", HandOver::Large, 64 << 20),
    ("ipc.shm.transfer.2097152", HandOver::Transfer, 2 << 20),
    ("ipc.shm.transfer.16777216", HandOver::Transfer, 16 << 20),
    ("ipc.shm.transfer.67108864", HandOver::Transfer, 64 << 20),
    ("ipc.shm.map.4096", HandOver::Map, 4096),
    ("ipc.shm.map.1048576", HandOver::Map, 1 << 20),
    ("ipc.shm.map.2097152", HandOver::Map, 2 << 20),
    ("ipc.shm.map.16777216", HandOver::Map, 16 << 20),
    ("ipc.shm.map.67108864", HandOver::Map, 64 << 20),
];

/// Roles of spawned copies.
mod role {
    /// Receives on the channel at slot 0: `param` = producers | per-producer
    /// count << 4 | bench flag << 44.
    pub const CONSUMER: u64 = 0x10;
    /// Sends on the channel at slot 0: `param` = id | count << 4 | batch <<
    /// 40 | paced << 48.
    pub const PRODUCER: u64 = 0x11;
    /// Maps the region at slot 0 read-only, checks it, tells the endpoint at
    /// slot 1, then touches it again (after a revocation it must fault).
    pub const READER: u64 = 0x12;
    /// Creates a region, fills it, transfers it to `param` (a pid) and
    /// tells it through the endpoint at slot 0, then touches its old mapping.
    pub const GIVER: u64 = 0x13;
    /// Serves large messages and region hand-backs for client `param`.
    pub const SERVER: u64 = 0x14;
    /// Async latency: echoes every message of slot 0 to slot 1.
    pub const ECHO: u64 = 0x15;
    /// Exits at once (probes whether a CPU is online).
    pub const NOP: u64 = 0xff;
}

const ICOUNT: u64 = 1 << 63;
const QUIT: u64 = u64::MAX;
/// Word 0 of a call that hands a region back and forth (`data[1]` token).
const TRANSFER_TAG: u64 = 0x7472_616e;
/// Word 5 of every channel message (checked).
const MAGIC: u64 = 0x5a5a_a5a5_0f0f_f0f0;

fn main(arg: u64) -> u64 {
    let icount = arg & ICOUNT != 0;
    let arg = arg & !ICOUNT;
    let param = arg >> 8;
    match arg & 0xff {
        scenario::CHANNELS => channels(param),
        scenario::WAKEUPS => wakeups(),
        scenario::REVOKE => revoke(if param == 0 { 64 * 1024 } else { param }),
        scenario::TRANSFER => transfer(),
        scenario::LARGE => large(),
        scenario::ERRORS => errors(),
        scenario::WX => wx(),
        scenario::BAD_ENVELOPE => bad_envelope(),
        scenario::MAPPING_EXHAUSTION => mapping_exhaustion(),
        bench::ASYNC_LATENCY => async_latency(param, icount),
        bench::ASYNC_B1 => async_throughput(param, 1, icount),
        bench::ASYNC_B16 => async_throughput(param, 16, icount),
        mode if (bench::SHM_FIRST..bench::SHM_FIRST + SHM.len() as u64).contains(&mode) => {
            let (name, what, size) = SHM[(mode - bench::SHM_FIRST) as usize];
            large_bench(param, name, what, size, icount)
        }
        role::CONSUMER => consumer(param),
        role::PRODUCER => producer(param),
        role::READER => reader(param),
        role::GIVER => giver(param as u32),
        role::SERVER => server(param as u32),
        role::ECHO => echo(),
        role::NOP => 0,
        other => {
            println!("chantest: unknown mode {other:#x}");
            99
        }
    }
}

/// A failed check: prints it and yields its number as the exit code.
fn fail(code: u64, what: &str) -> u64 {
    println!("chantest: check {code} failed: {what}");
    code
}

macro_rules! ensure {
    ($code:expr, $cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return fail($code, &alloc::format!($($fmt)*));
        }
    };
}

extern crate alloc;

/// Spawns `arg` on `cpu` (falling back to CPU 0 when it is offline).
fn spawn_on(cpu: u32, arg: u64, priority: u8) -> Result<u32, IpcError> {
    let at = |cpu| Placement {
        cpu: Some(cpu),
        priority,
    };
    rt::spawn("chantest", arg, at(cpu)).or_else(|_| rt::spawn("chantest", arg, at(0)))
}

/// Whether a second CPU is online (spawn there succeeds).
fn two_cpus() -> bool {
    match rt::spawn(
        "chantest",
        role::NOP,
        Placement {
            cpu: Some(1),
            priority: 1,
        },
    ) {
        Ok(pid) => {
            let _ = rt::wait(pid);
            true
        }
        Err(_) => false,
    }
}

/// Waits until capability slot `slot` is filled (see
/// `rt::ipc::wait_for_cap`: it sleeps, so a lower-priority granter runs).
fn wait_cap(slot: u32) -> bool {
    rt::ipc::wait_for_cap(initial_cap(slot), 1_000)
}

/// TSC ticks per second.
fn hz() -> u64 {
    rt::time().1.max(1)
}

fn deadline_in(secs: u64) -> u64 {
    rt::arch::rdtsc().saturating_add(hz().saturating_mul(secs))
}

/// Waits for child `pid`; `Ok(exit code)` if it exited, else its end.
fn exit_code(pid: u32) -> Result<u64, (u64, u64, u64)> {
    match rt::wait(pid) {
        Ok((0, code, _)) => Ok(code),
        Ok(other) => Err(other),
        Err(_) => Err((u64::MAX, 0, 0)),
    }
}

// ---------------------------------------------------------------- channels

/// One channel of [`channels`]: its capability, consumer and producers.
struct Lane {
    consumer: u32,
    producers: [u32; 2],
    count: usize,
}

fn start_lane(flavor: Flavor, producers: u64, per_producer: u64, batch: u64) -> Result<Lane, u64> {
    let channel =
        Channel::create(256, flavor).map_err(|e| fail(1, &alloc::format!("create: {e}")))?;
    let consumer = spawn_on(
        0,
        role::CONSUMER | ((producers | per_producer << 4) << 8),
        5,
    )
    .map_err(|e| fail(2, &alloc::format!("spawn consumer: {e}")))?;
    rt::ipc::grant(channel.0, consumer, Rights::RECEIVE, 0)
        .map_err(|e| fail(3, &alloc::format!("grant receive: {e}")))?;
    let mut lane = Lane {
        consumer,
        producers: [0; 2],
        count: 0,
    };
    for id in 0..producers {
        let p = role::PRODUCER | ((id | per_producer << 4 | batch << 40) << 8);
        let pid = spawn_on(1, p, 5).map_err(|e| fail(4, &alloc::format!("spawn producer: {e}")))?;
        rt::ipc::grant(channel.0, pid, Rights::SEND, 0)
            .map_err(|e| fail(5, &alloc::format!("grant send: {e}")))?;
        lane.producers[lane.count] = pid;
        lane.count += 1;
    }
    Ok(lane)
}

fn channels(param: u64) -> u64 {
    let total = (param & 0xff_ffff_ffff).max(2);
    let batch = ((param >> 40) & 0xff).max(1);
    let (t0, hz, _) = rt::time();
    let mut lanes = alloc::vec::Vec::new();
    for (flavor, producers) in [(Flavor::Spsc, 1), (Flavor::Mpsc, 2), (Flavor::Spsc, 1)] {
        match start_lane(flavor, producers, total / producers, batch) {
            Ok(lane) => lanes.push(lane),
            Err(code) => return code,
        }
    }
    let mut failed = 0;
    for lane in &lanes {
        for &pid in &lane.producers[..lane.count] {
            if exit_code(pid) != Ok(0) {
                failed = 10;
            }
        }
        if exit_code(lane.consumer) != Ok(0) {
            failed = 11;
        }
    }
    let (t1, _, _) = rt::time();
    println!(
        "chantest: {} channels x {} messages (batch {batch}) in {} ms",
        lanes.len(),
        total / 2 * 2,
        (t1 - t0) * 1000 / hz.max(1)
    );
    failed
}

fn message(id: u64, seq: u64) -> RingMessage {
    RingMessage {
        words: [id, seq, seq ^ MAGIC, !seq, id ^ MAGIC, MAGIC],
    }
}

fn producer(param: u64) -> u64 {
    let id = param & 0xf;
    let count = (param >> 4) & ((1 << 36) - 1);
    let batch = ((param >> 40) & 0xff).clamp(1, 64) as usize;
    let paced = (param >> 48) & 1 != 0;
    if !wait_cap(0) {
        return fail(20, "producer: no channel capability");
    }
    let channel = Channel(initial_cap(0));
    let mut sender = match channel.connect().and_then(Sender::new) {
        Ok(s) => s,
        Err(e) => return fail(21, &alloc::format!("producer: connect: {e}")),
    };
    let mut buffer = [RingMessage::default(); 64];
    let mut seq = 0;
    let mut full = 0u64;
    while seq < count {
        let n = batch.min((count - seq) as usize);
        for (i, slot) in buffer[..n].iter_mut().enumerate() {
            *slot = message(id, seq + i as u64);
        }
        let result = if n == 1 {
            sender.send_async(buffer[0]).map(|()| 1)
        } else {
            sender.send_batch(&buffer[..n])
        };
        match result {
            Ok(sent) => seq += sent as u64,
            Err(IpcError::WouldBlock) => {
                full += 1;
                rt::yield_now();
            }
            Err(e) => return fail(22, &alloc::format!("producer: send: {e}")),
        }
        if paced {
            rt::sleep_ns(1_000_000);
        }
    }
    let _ = full;
    0
}

fn consumer(param: u64) -> u64 {
    let producers = (param & 0xf).clamp(1, 8) as usize;
    let per = (param >> 4) & ((1 << 36) - 1);
    if !wait_cap(0) {
        return fail(30, "consumer: no channel capability");
    }
    let channel = Channel(initial_cap(0));
    let mut receiver = match channel.connect().and_then(Receiver::new) {
        Ok(r) => r,
        Err(e) => return fail(31, &alloc::format!("consumer: connect: {e}")),
    };
    let mut expected = [0u64; 8];
    let (mut lost, mut duplicated, mut reordered, mut garbled) = (0u64, 0u64, 0u64, 0u64);
    let mut received = 0u64;
    let total = per * producers as u64;
    let mut buffer = [RingMessage::default(); 16];
    while received < total {
        // No progress for 60 s is a hang.
        let n = match receiver.recv_batch_timeout(&mut buffer, Some(deadline_in(60))) {
            Ok(n) => n,
            Err(e) => {
                println!("chantest: consumer: receive failed after {received} of {total}: {e}");
                return 32;
            }
        };
        for m in &buffer[..n] {
            let [id, seq, check, not, idm, magic] = m.words;
            if id as usize >= producers
                || check != seq ^ MAGIC
                || not != !seq
                || idm != id ^ MAGIC
                || magic != MAGIC
            {
                garbled += 1;
                continue;
            }
            let e = &mut expected[id as usize];
            if seq == *e {
                *e += 1;
            } else if seq < *e {
                duplicated += 1;
            } else {
                reordered += 1;
                lost += seq - *e;
                *e = seq + 1;
            }
        }
        received += n as u64;
    }
    let complete = expected[..producers].iter().all(|&e| e == per);
    println!(
        "chantest: channel: {received} of {total} received from {producers} producer(s): \
         lost {lost}, duplicated {duplicated}, reordered {reordered}, garbled {garbled}; \
         receiver slept {} times",
        receiver.sleeps
    );
    ensure!(
        33,
        complete && lost + duplicated + reordered + garbled == 0,
        "sequence errors"
    );
    // The next receive sees that every producer has gone (an error, not a
    // hang), once they have.
    match receiver.recv_timeout(Some(deadline_in(60))) {
        Err(IpcError::ProcessNotFound) => 0,
        other => fail(34, &alloc::format!("after the producers left: {other:?}")),
    }
}

fn wakeups() -> u64 {
    const MESSAGES: u64 = 200;
    let channel = match Channel::create(64, Flavor::Spsc) {
        Ok(c) => c,
        Err(e) => return fail(40, &alloc::format!("create: {e}")),
    };
    let Ok(consumer) = spawn_on(0, role::CONSUMER | ((1 | MESSAGES << 4) << 8), 5) else {
        return fail(41, "spawn consumer");
    };
    let _ = rt::ipc::grant(channel.0, consumer, Rights::RECEIVE, 0);
    let p = role::PRODUCER | ((MESSAGES << 4 | 1 << 40 | 1 << 48) << 8);
    let Ok(producer) = spawn_on(1, p, 5) else {
        return fail(42, "spawn producer");
    };
    let _ = rt::ipc::grant(channel.0, producer, Rights::SEND, 0);
    ensure!(43, exit_code(producer) == Ok(0), "producer failed");
    ensure!(
        44,
        exit_code(consumer) == Ok(0),
        "consumer failed (a lost wake-up times out)"
    );
    println!("chantest: {MESSAGES} paced messages, each after a sleep, all received");
    0
}

// ----------------------------------------------------------------- regions

fn pattern(i: usize, seed: u64) -> u64 {
    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed
}

fn fill(mapping: Mapping, bytes: u64, seed: u64) {
    let words = mapping.base.cast::<u64>();
    for i in 0..(bytes / 8) as usize {
        // SAFETY: inside a live writable mapping of at least `bytes`.
        unsafe { words.add(i).write_volatile(pattern(i, seed)) };
    }
}

fn check(mapping: Mapping, bytes: u64, seed: u64) -> bool {
    let words = mapping.base.cast::<u64>();
    (0..(bytes / 8) as usize).all(|i| {
        // SAFETY: inside a live mapping of at least `bytes`.
        unsafe { words.add(i).read_volatile() == pattern(i, seed) }
    })
}

/// `param`: the region's size in bytes.
fn reader(size: u64) -> u64 {
    if !wait_cap(2) {
        return fail(50, "reader: no capabilities");
    }
    let region = Region(initial_cap(0));
    let tell = Endpoint(initial_cap(1));
    let go = Endpoint(initial_cap(2));
    let mapping = match region.map(0) {
        Ok(m) => m,
        Err(e) => return fail(51, &alloc::format!("reader: map: {e}")),
    };
    ensure!(52, check(mapping, size, 7), "reader: data differs");
    // Writing through a read-only capability is refused.
    ensure!(
        53,
        region.map(MAP_WRITE) == Err(IpcError::PermissionDenied),
        "reader: write mapping allowed"
    );
    let _ = tell.send_recv([mapping.base as u64, 0, 0, 0]);
    // Answered once the capability has been revoked.
    let _ = go.send_recv([0, 0, 0, 0]);
    // Revoked by now: this read must fault and kill only this process.
    // SAFETY: deliberately reads a mapping that should be gone.
    let value = unsafe { mapping.base.cast::<u64>().read_volatile() };
    println!("chantest: reader still reads {value:#x} after the revocation");
    55
}

/// A region of `bytes` written here (CPU 0) and read by two readers, on
/// CPUs 0 and 1 where there are two: after the revocation of their
/// capability both fault at an address they had read (no stale TLB entry
/// on either CPU), and the owner's mapping is intact.
fn revoke(bytes: u64) -> u64 {
    let Ok((region, size, node)) = Region::create(bytes, None) else {
        return fail(60, "create");
    };
    ensure!(61, size == bytes, "size {size}");
    let Ok(mapping) = region.map(MAP_WRITE) else {
        return fail(62, "map");
    };
    fill(mapping, size, 7);
    let (Ok((root, tell)), Ok((go_root, go))) = (Endpoint::create(0), Endpoint::create(0)) else {
        return fail(63, "endpoints");
    };
    // Derived (share) for the readers: revoking it leaves the root alone.
    let Ok(shared) = rt::ipc::derive(region.0, Rights::RECEIVE.shareable(), 0) else {
        return fail(64, "derive");
    };
    let mut readers = [0u32; 2];
    for (i, r) in readers.iter_mut().enumerate() {
        let Ok(pid) = spawn_on(i as u32, role::READER | size << 8, 5) else {
            return fail(65, "spawn reader");
        };
        let g1 = rt::ipc::grant(shared, pid, Rights::RECEIVE, 0);
        // The badge says which reader reports.
        let g2 = rt::ipc::grant(tell.0, pid, Rights::SEND, i as u64 + 1);
        let g3 = rt::ipc::grant(go.0, pid, Rights::SEND, 0);
        ensure!(
            66,
            g1.is_ok() && g2.is_ok() && g3.is_ok(),
            "grants {g1:?} {g2:?} {g3:?}"
        );
        *r = pid;
    }
    // Both map and check, then report their address (answered at once)...
    let mut addresses = [0u64; 2];
    for _ in 0..2 {
        match root.recv_until(deadline_in(60)) {
            Ok(m) if (1..=2).contains(&m.badge) => addresses[m.badge as usize - 1] = m.data[0],
            other => return fail(67, &alloc::format!("recv: {other:?}")),
        }
        let _ = rt::ipc::reply([0; 4]);
    }
    // ...then wait on the go endpoint while their capability is revoked.
    ensure!(68, rt::ipc::revoke(shared).is_ok(), "revoke");
    for _ in 0..2 {
        if go_root.recv_until(deadline_in(60)).is_ok() {
            let _ = rt::ipc::reply([0; 4]);
        }
    }
    for (pid, addr) in readers.iter().zip(addresses) {
        match rt::wait(*pid) {
            Ok((2, 14, a)) if a == addr => {}
            other => {
                return fail(
                    69,
                    &alloc::format!("reader {pid}: {other:?}, wanted #PF at {addr:#x}"),
                );
            }
        }
    }
    ensure!(70, check(mapping, size, 7), "the owner's mapping changed");
    ensure!(71, region.unmap(mapping).is_ok(), "unmap");
    ensure!(
        72,
        region.unmap(mapping) == Err(IpcError::BadAddress),
        "second unmap"
    );
    ensure!(73, rt::ipc::revoke(region.0).is_ok(), "revoke root");
    println!(
        "chantest: region of {size} bytes on node {node} revoked from 2 readers: both faulted, owner unharmed"
    );
    0
}

fn giver(target: u32) -> u64 {
    if !wait_cap(0) {
        return fail(80, "giver: no capability");
    }
    let tell = Endpoint(initial_cap(0));
    let Ok((region, size, _)) = Region::create(3 * 4096, None) else {
        return fail(81, "giver: create");
    };
    let Ok(mapping) = region.map(MAP_WRITE) else {
        return fail(82, "giver: map");
    };
    fill(mapping, size, 9);
    let theirs = match region.transfer(target) {
        Ok(r) => r,
        Err(e) => return fail(83, &alloc::format!("giver: transfer: {e}")),
    };
    // The old capability died with the transfer.
    ensure!(
        84,
        region.map(0) == Err(IpcError::InvalidCapability),
        "giver: still maps"
    );
    let _ = tell.send_recv([theirs.0, mapping.base as u64 + 4096, 0, 0]);
    // SAFETY: deliberately touches the mapping the transfer removed.
    unsafe { mapping.base.add(4096).write_volatile(1) };
    fail(85, "giver: wrote after the transfer")
}

fn transfer() -> u64 {
    let Ok((root, tell)) = Endpoint::create(0) else {
        return fail(90, "endpoint");
    };
    let self_pid = rt::self_pid();
    let Ok(giver) = spawn_on(1, role::GIVER | (u64::from(self_pid) << 8), 5) else {
        return fail(91, "spawn giver");
    };
    ensure!(
        92,
        rt::ipc::grant(tell.0, giver, Rights::SEND, 0).is_ok(),
        "grant"
    );
    let m = match root.recv_until(deadline_in(60)) {
        Ok(m) => m,
        Err(e) => return fail(93, &alloc::format!("recv: {e}")),
    };
    let region = Region(m.data[0]);
    let Ok(mapping) = region.map(0) else {
        return fail(94, "map the transferred region");
    };
    ensure!(95, check(mapping, 3 * 4096, 9), "transferred data differs");
    let _ = rt::ipc::reply([0; 4]);
    match rt::wait(giver) {
        Ok((2, 14, a)) if a == m.data[1] => {}
        other => {
            return fail(
                96,
                &alloc::format!("giver: {other:?}, wanted #PF at {:#x}", m.data[1]),
            );
        }
    }
    ensure!(
        97,
        check(mapping, 3 * 4096, 9),
        "data changed after the giver died"
    );
    // Frames go back when we drop it (the kernel test counts them).
    let _ = rt::ipc::revoke(region.0);
    println!("chantest: transferred region read by the target; the sender faulted alone");
    0
}

// ---------------------------------------------------------- large messages

/// Builds a sealed large message of `total` bytes (64 inline + the rest at
/// the start of `mapping`) through `endpoint`.
fn large_message(
    endpoint: Endpoint,
    mapping: Mapping,
    total: u64,
) -> Result<LargeMessage, IpcError> {
    let rw = RegionPermissions::READ | RegionPermissions::WRITE;
    large_message_as(endpoint, mapping, total, rw)
}

/// [`large_message`] whose descriptor grants `permissions`.
fn large_message_as(
    endpoint: Endpoint,
    mapping: Mapping,
    total: u64,
    permissions: RegionPermissions,
) -> Result<LargeMessage, IpcError> {
    let inline: [u8; 64] = core::array::from_fn(|i| i as u8 ^ 0xa5);
    let region = MemoryRegion::new(
        mapping.base as u64,
        mapping.size,
        permissions,
        CachePolicy::WriteBack,
    );
    LargeMessage::new(endpoint.0, 1, 0, &inline, region, total - 64)
}

/// WX: see [`scenario::WX`].
fn wx() -> u64 {
    let Ok((region, _, _)) = Region::create(4096, None) else {
        return fail(300, "create");
    };
    let Ok(writable) = region.map(MAP_WRITE) else {
        return fail(301, "map writable");
    };
    let r = region.map(MAP_EXECUTE).map(|m| m.base);
    ensure!(
        302,
        r == Err(IpcError::InvalidArgument),
        "executable beside writable: {r:?}"
    );
    ensure!(303, region.unmap(writable).is_ok(), "unmap");
    let Ok(executable) = region.map(MAP_EXECUTE) else {
        return fail(304, "map executable alone");
    };
    let r = region.map(MAP_WRITE).map(|m| m.base);
    ensure!(
        305,
        r == Err(IpcError::InvalidArgument),
        "writable beside executable: {r:?}"
    );
    let Ok(read_only) = region.map(0) else {
        return fail(306, "read-only beside executable");
    };
    ensure!(
        307,
        region.unmap(executable).is_ok() && region.unmap(read_only).is_ok(),
        "unmap"
    );
    ensure!(308, rt::ipc::revoke(region.0).is_ok(), "revoke");
    0
}

/// The kernel's bound on one process's live shared mappings
/// (`process::MAX_SHARED_MAPPINGS`).
const MAX_SHARED_MAPPINGS: usize = 1024;

/// MAPPING_EXHAUSTION: see [`scenario::MAPPING_EXHAUSTION`].
fn mapping_exhaustion() -> u64 {
    let Ok((region, _, _)) = Region::create(4096, None) else {
        return fail(330, "create");
    };
    let mut mappings = alloc::vec::Vec::new();
    for round in 0..2 {
        let refusal = loop {
            match region.map(0) {
                Ok(m) if mappings.len() <= MAX_SHARED_MAPPINGS => mappings.push(m),
                Ok(_) => return fail(331, "more mappings than the bound"),
                Err(e) => break e,
            }
        };
        ensure!(
            332,
            refusal == IpcError::OutOfMemory && mappings.len() == MAX_SHARED_MAPPINGS,
            "round {round}: {} mappings, then {refusal:?}",
            mappings.len()
        );
        for m in mappings.drain(..) {
            ensure!(333, region.unmap(m).is_ok(), "unmap in round {round}");
        }
    }
    ensure!(334, rt::ipc::revoke(region.0).is_ok(), "revoke");
    println!("chantest: one region mapped {MAX_SHARED_MAPPINGS} times, refused once more, twice");
    0
}

/// BAD_ENVELOPE: see [`scenario::BAD_ENVELOPE`].
fn bad_envelope() -> u64 {
    // A region handed to ourselves with a large message carries an envelope
    // that the next `region_map` writes out.
    let Ok((endpoint, _)) = Endpoint::create(1 << 20) else {
        return fail(310, "endpoint");
    };
    let Ok((region, _, _)) = Region::create(4096, None) else {
        return fail(311, "create");
    };
    let Ok(mapping) = region.map(MAP_WRITE) else {
        return fail(312, "map");
    };
    let Ok(message) = large_message(endpoint, mapping, 4096) else {
        return fail(313, "message");
    };
    let Ok(mine) = rt::shm::hand_over(endpoint, region, &message) else {
        return fail(314, "hand over");
    };
    let region = Region(mine);
    for bad in [0x10, 0xffff_8000_0000_0000, 0x5000_0000] {
        let r = rt::raw(
            ipc::abi::Opcode::RegionMap as u64,
            region.0,
            [MAP_WRITE, bad, 0, 0],
        );
        ensure!(
            315,
            r.status == IpcError::BadAddress.code(),
            "envelope buffer {bad:#x}: status {}",
            r.status
        );
    }
    // Had a writable mapping stayed behind, W^X would refuse this.
    let Ok(executable) = region.map(MAP_EXECUTE) else {
        return fail(316, "a failed map left a writable mapping behind");
    };
    ensure!(317, region.unmap(executable).is_ok(), "unmap");
    ensure!(318, rt::ipc::revoke(region.0).is_ok(), "revoke the region");
    ensure!(
        319,
        rt::ipc::revoke(endpoint.0).is_ok(),
        "revoke the endpoint"
    );
    0
}

/// Serves client `client`: large messages (checked when `data[2]` is 1)
/// and region hand-backs; each region goes back to the client.
fn server(client: u32) -> u64 {
    let Ok((root, send)) = Endpoint::create(64 << 20) else {
        return fail(100, "server: endpoint");
    };
    if let Err(e) = rt::ipc::grant(send.0, client, Rights::SEND.shareable(), 0) {
        return fail(101, &alloc::format!("server: grant to {client}: {e}"));
    }
    let mut m = match root.recv() {
        Ok(m) => m,
        Err(e) => return fail(102, &alloc::format!("server: recv: {e}")),
    };
    loop {
        let reply = match m.data[0] {
            QUIT => {
                let _ = rt::ipc::reply([0; 4]);
                return 0;
            }
            LARGE_TAG => match rt::shm::recv_large(m.data) {
                Ok((message, region, mapping)) => {
                    let payload = message.region_payload_len();
                    let inline_ok = message
                        .inline_payload()
                        .iter()
                        .enumerate()
                        .all(|(i, &b)| b == i as u8 ^ 0xa5);
                    // Benchmarks (word 3 = 1) skip the check of the contents.
                    let intact = m.data[3] == 1 || (inline_ok && check(mapping, payload, payload));
                    // Word 3 = 2: say whether a writable mapping is refused.
                    let read_only =
                        m.data[3] == 2 && region.map(MAP_WRITE).map(|w| region.unmap(w)).is_err();
                    match region.transfer(client) {
                        Ok(back) => [
                            back.0,
                            u64::from(intact),
                            message.header().total_size(),
                            u64::from(read_only),
                        ],
                        Err(e) => [0, 0, e.code(), 0],
                    }
                }
                Err(e) => [0, 0, e.code(), 0],
            },
            TRANSFER_TAG => {
                let region = Region(m.data[1]);
                match region.map(0).and_then(|_| region.transfer(client)) {
                    Ok(back) => [back.0, 1, 0, 0],
                    Err(e) => [0, 0, e.code(), 0],
                }
            }
            _ => [0, 0, IpcError::InvalidArgument.code(), 0],
        };
        m = match root.reply_recv(reply) {
            Ok(m) => m,
            Err(e) => return fail(103, &alloc::format!("server: reply_recv: {e}")),
        };
    }
}

fn start_server() -> Result<(u32, Endpoint), u64> {
    let me = rt::self_pid();
    let pid = spawn_on(0, role::SERVER | (u64::from(me) << 8), 5)
        .map_err(|_| fail(110, "spawn server"))?;
    if !wait_cap(0) {
        return Err(fail(111, "no server capability"));
    }
    Ok((pid, Endpoint(initial_cap(0))))
}

fn large() -> u64 {
    let (server_pid, endpoint) = match start_server() {
        Ok(s) => s,
        Err(code) => return code,
    };
    // An unmapped range is reused, page tables and all: map, unmap, map
    // (after the server started: its capability must be the first here).
    let Ok((reuse, _, _)) = Region::create(4096, None) else {
        return fail(220, "create");
    };
    let Ok(first) = reuse.map(MAP_WRITE) else {
        return fail(221, "map");
    };
    ensure!(222, reuse.unmap(first).is_ok(), "unmap");
    let Ok(second) = reuse.map(MAP_WRITE) else {
        return fail(223, "map again");
    };
    ensure!(
        224,
        second.base == first.base,
        "unmapped range not reused: {:?} then {:?}",
        first.base,
        second.base
    );
    ensure!(225, rt::ipc::revoke(reuse.0).is_ok(), "revoke");
    for size in [4096u64, 64 << 10, 1 << 20, 16 << 20] {
        let Ok((region, _, _)) = Region::create(size, None) else {
            return fail(120, "create");
        };
        let Ok(mapping) = region.map(MAP_WRITE) else {
            return fail(121, "map");
        };
        let payload = size - 64;
        fill(mapping, payload, payload);
        let Ok(message) = large_message(endpoint, mapping, size) else {
            return fail(122, "message");
        };
        let r = match rt::shm::send_large(endpoint, region, &message) {
            Ok(r) => r,
            Err(e) => return fail(123, &alloc::format!("{size} B: send: {e}")),
        };
        ensure!(124, r[0] != 0, "{size} B: server error {}", r[2]);
        ensure!(
            125,
            r[1] == 1 && r[2] == size,
            "{size} B: arrived damaged ({r:?})"
        );
        // Round trip: the region came back; map it and check again.
        let back = Region(r[0]);
        let Ok(again) = back.map(0) else {
            return fail(126, "map the returned region");
        };
        ensure!(
            127,
            check(again, payload, payload),
            "{size} B: damaged on the way back"
        );
        ensure!(128, rt::ipc::revoke(back.0).is_ok(), "revoke");
        println!("chantest: large message of {size} bytes: round trip intact");
    }
    // Over the capability's limit: MessageTooLarge; damaged: ChecksumMismatch.
    let Ok(small) = rt::ipc::derive(endpoint.0, Rights::SEND.max_size(64 << 10), 0) else {
        return fail(130, "derive");
    };
    let Ok((region, _, _)) = Region::create(1 << 20, None) else {
        return fail(131, "create");
    };
    let Ok(mapping) = region.map(MAP_WRITE) else {
        return fail(132, "map");
    };
    let Ok(message) = large_message(Endpoint(small), mapping, 1 << 20) else {
        return fail(133, "message");
    };
    let too_large = rt::shm::send_large(Endpoint(small), region, &message);
    ensure!(
        134,
        too_large == Err(IpcError::MessageTooLarge),
        "over the limit: {too_large:?}"
    );
    let mut bytes = message.to_bytes();
    bytes[70] ^= 0x10;
    let damaged = LargeMessage::from_bytes(&bytes);
    let result = rt::shm::send_large(endpoint, region, &damaged);
    ensure!(
        135,
        result == Err(IpcError::ChecksumMismatch),
        "damaged: {result:?}"
    );
    // The limit bounds the region handed over, not the size declared.
    let Ok(understated) = large_message(Endpoint(small), mapping, 4096) else {
        return fail(226, "message");
    };
    let result = rt::shm::send_large(Endpoint(small), region, &understated);
    ensure!(
        227,
        result == Err(IpcError::MessageTooLarge),
        "1 MiB region declared as 4 KiB: {result:?}"
    );
    // A read-only descriptor: the receiver maps it read-only and may not
    // map it writable.
    let Ok(read_only) = large_message_as(endpoint, mapping, 4096, RegionPermissions::READ) else {
        return fail(228, "message");
    };
    let back = rt::shm::hand_over(endpoint, region, &read_only)
        .and_then(|theirs| endpoint.send_recv([LARGE_TAG, theirs, 4096, 2]));
    let region = match back {
        Ok(r) if r[0] != 0 && r[3] == 1 => Region(r[0]),
        other => return fail(229, &alloc::format!("read-only descriptor: {other:?}")),
    };
    let Ok(mapping) = region.map(MAP_WRITE) else {
        return fail(230, "map the returned region");
    };
    // A descriptor that is not our mapping of the region.
    let Ok(other) = large_message(
        endpoint,
        Mapping {
            base: 0x1000 as *mut u8,
            size: 1 << 20,
        },
        4096,
    ) else {
        return fail(136, "message");
    };
    let result = rt::shm::send_large(endpoint, region, &other);
    ensure!(
        137,
        result == Err(IpcError::BadAddress),
        "foreign descriptor: {result:?}"
    );
    // Still ours and intact after the refusals.
    ensure!(138, region.unmap(mapping).is_ok(), "unmap");
    let _ = rt::ipc::revoke(region.0);
    let _ = endpoint.send_recv([QUIT, 0, 0, 0]);
    ensure!(139, exit_code(server_pid) == Ok(0), "server failed");
    0
}

fn errors() -> u64 {
    ensure!(
        140,
        Region::create(0, None).map(|r| r.0) == Err(IpcError::InvalidArgument),
        "size 0"
    );
    ensure!(
        141,
        Region::create(1 << 40, None).map(|r| r.0) == Err(IpcError::InvalidArgument),
        "1 TiB"
    );
    ensure!(
        142,
        Region::create(4096, Some(63)).map(|r| r.0) == Err(IpcError::InvalidArgument),
        "node 63"
    );
    let Ok((region, _, _)) = Region::create(4096, None) else {
        return fail(143, "create");
    };
    ensure!(
        144,
        region.map(MAP_WRITE | MAP_EXECUTE) == Err(IpcError::InvalidArgument),
        "W+X"
    );
    // Write-combining maps (the kernel checks the PTE's PAT bits): a store
    // through it reads back.
    let Ok(wc) = region.map(MAP_WRITE | 3 << rt::shm::MAP_CACHE_SHIFT) else {
        return fail(145, "write-combining map");
    };
    // SAFETY: `wc` maps the region's first page writable.
    let back = unsafe {
        core::ptr::write_volatile(wc.base.cast::<u64>(), 0x5743);
        core::ptr::read_volatile(wc.base.cast::<u64>())
    };
    ensure!(
        145,
        back == 0x5743 && region.unmap(wc).is_ok(),
        "write-combining"
    );
    ensure!(
        146,
        region.map(1 << 5) == Err(IpcError::InvalidArgument),
        "unknown flag"
    );
    ensure!(
        147,
        Region(0xdead_0000_0001).map(0) == Err(IpcError::InvalidCapability),
        "bad cap"
    );
    ensure!(
        148,
        region.transfer(999_999) == Err(IpcError::ProcessNotFound),
        "no such pid"
    );
    let Ok(read_only) = rt::ipc::derive(region.0, Rights::RECEIVE.shareable(), 0) else {
        return fail(149, "derive");
    };
    ensure!(
        150,
        Region(read_only).map(MAP_WRITE) == Err(IpcError::PermissionDenied),
        "write through a read-only cap"
    );
    ensure!(
        151,
        Region(read_only).transfer(1) == Err(IpcError::PermissionDenied),
        "transfer via derived"
    );
    // Execute-only mapping of a read capability works.
    let x = Region(read_only).map(MAP_EXECUTE);
    ensure!(152, x.is_ok(), "execute mapping: {x:?}");
    ensure!(
        153,
        Channel::create(3, Flavor::Spsc) == Err(IpcError::InvalidArgument),
        "capacity 3"
    );
    ensure!(
        154,
        Channel::create(1 << 20, Flavor::Spsc) == Err(IpcError::InvalidArgument),
        "capacity 2^20"
    );
    ensure!(
        155,
        Channel(region.0).connect().is_err(),
        "connect a region"
    );
    let Ok(channel) = Channel::create(16, Flavor::Spsc) else {
        return fail(156, "channel");
    };
    let Ok(send_only) = rt::ipc::derive(channel.0, Rights::SEND, 0) else {
        return fail(157, "derive");
    };
    ensure!(
        158,
        Channel(send_only).wait(Some(0)) == Err(IpcError::PermissionDenied),
        "wait without receive right"
    );
    ensure!(
        159,
        channel.wait(Some(1)) == Err(IpcError::Timeout),
        "timeout"
    );
    ensure!(160, channel.signal(48).is_ok(), "signal");
    ensure!(
        161,
        channel.wait(None).is_ok(),
        "a signal before the wait is kept"
    );
    let _ = rt::ipc::revoke(channel.0);
    let _ = rt::ipc::revoke(region.0);
    println!("chantest: region and channel misuse: every error as documented");
    0
}

// -------------------------------------------------------------- benchmarks

/// The histogram (221 KB: not on the stack).
static mut HIST: perf::histogram::Histogram = perf::histogram::Histogram::new();

fn unit(icount: bool) -> perf::record::Unit {
    if icount {
        perf::record::Unit::Instructions
    } else {
        perf::record::Unit::Cycles
    }
}

/// The recorder of latency benchmark `name` over the program's histogram,
/// or the exit code when there is none.
fn recorder(name: &str, icount: bool, samples: u64) -> Result<rt::bench::Recorder<'_>, u64> {
    // SAFETY: this single-threaded program is the histogram's only user,
    // and each process runs one benchmark.
    let hist = unsafe { &mut *core::ptr::addr_of_mut!(HIST) };
    rt::bench::Recorder::new(name, unit(icount), samples, hz(), hist)
        .ok_or_else(|| fail(179, "a recorder is already running"))
}

fn samples_of(param: u64) -> u64 {
    match param & 0xff_ffff_ffff {
        0 => 2_000,
        n => n,
    }
}

fn echo() -> u64 {
    if !wait_cap(1) {
        return fail(170, "echo: no capabilities");
    }
    let (Ok(mut rx), Ok(mut tx)) = (
        Channel(initial_cap(0)).connect().and_then(Receiver::new),
        Channel(initial_cap(1)).connect().and_then(Sender::new),
    ) else {
        return fail(171, "echo: connect");
    };
    loop {
        match rx.recv_timeout(None) {
            Ok(m) if m.words[0] == QUIT => return 0,
            Ok(m) => {
                let stamp = rt::arch::rdtsc();
                // The measured one-way trip ends here (performance model).
                rt::marker::op_end();
                let mut reply = m;
                reply.words[1] = stamp;
                while tx.send_async(reply) == Err(IpcError::WouldBlock) {
                    rt::yield_now();
                }
            }
            Err(e) => return fail(172, &alloc::format!("echo: {e}")),
        }
    }
}

/// One-way cross-CPU latency: the sender's `rdtsc` (in the message) to the
/// receiver's after its receive returns (the receiver sleeps when the ring
/// is empty, so a wake-up by IPI is inside every sample).
fn async_latency(param: u64, icount: bool) -> u64 {
    let samples = samples_of(param);
    if !two_cpus() {
        println!("@skip v1 name=ipc.async.latency.cross_cpu reason=\"one CPU online\"");
        return 2;
    }
    let (Ok(there), Ok(back)) = (
        Channel::create(64, Flavor::Spsc),
        Channel::create(64, Flavor::Spsc),
    ) else {
        return fail(180, "channels");
    };
    let Ok(pid) = spawn_on(1, role::ECHO, 5) else {
        return fail(181, "spawn");
    };
    let _ = rt::ipc::grant(there.0, pid, Rights::RECEIVE, 0);
    let _ = rt::ipc::grant(back.0, pid, Rights::SEND, 0);
    let (Ok(mut tx), Ok(mut rx)) = (
        there.connect().and_then(Sender::new),
        back.connect().and_then(Receiver::new),
    ) else {
        return fail(182, "connect");
    };
    let mut recorder = match recorder("ipc.async.latency.cross_cpu", icount, samples) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut counting = None;
    const ID: u32 = perf::marker::bench_id("ipc.async.latency.cross_cpu");
    for i in 0..samples + 100 {
        if i == 100 {
            counting = Some(rt::bench::start_counters());
            rt::marker::window_begin::<ID>();
        }
        // The echo ends the operation after its stamp (`op_end` there).
        rt::marker::op_begin();
        let sent = rt::arch::rdtsc();
        let _ = tx.send_async(RingMessage {
            words: [i, sent, 0, 0, 0, 0],
        });
        match rx.recv_timeout(Some(deadline_in(60))) {
            Ok(m) if i >= 100 => {
                recorder.record(m.words[1].saturating_sub(sent).max(1));
                recorder.tick(rt::arch::rdtsc());
            }
            Ok(_) => {}
            Err(e) => return fail(183, &alloc::format!("latency: {e}")),
        }
    }
    rt::marker::window_end::<ID>();
    let counts = counting.map(|c| c.read()).unwrap_or_default();
    let end = rt::arch::rdtsc();
    let _ = tx.send_async(RingMessage {
        words: [QUIT, 0, 0, 0, 0, 0],
    });
    let _ = rt::wait(pid);
    recorder.finish(end, &counts);
    println!(
        "chantest: receiver on CPU 1 slept {} times for {samples} samples",
        tx.wakes
    );
    0
}

/// Cross-CPU throughput at batch 1 or 16: a producer on CPU 1 streams
/// sequence-numbered messages to a receiver here (CPU 0) that checks them.
fn async_throughput(param: u64, batch: u64, icount: bool) -> u64 {
    let name = if batch == 1 {
        "ipc.async.throughput.cross_cpu.b1"
    } else {
        "ipc.async.throughput.cross_cpu.b16"
    };
    if !two_cpus() {
        println!("@skip v1 name={name} reason=\"one CPU online\"");
        return 2;
    }
    let count = samples_of(param) * 100;
    let Ok(channel) = Channel::create(256, Flavor::Spsc) else {
        return fail(190, "channel");
    };
    let Ok(mut rx) = channel.connect().and_then(Receiver::new) else {
        return fail(191, "connect");
    };
    let p = role::PRODUCER | ((count << 4 | batch << 40) << 8);
    let Ok(pid) = spawn_on(1, p, 5) else {
        return fail(192, "spawn");
    };
    let _ = rt::ipc::grant(channel.0, pid, Rights::SEND, 0);
    let mut buffer = [RingMessage::default(); 16];
    let (mut received, mut next) = (0u64, 0u64);
    // Progress in the suite's samples (100 messages each), the clock read
    // once per PROGRESS_MESSAGES messages.
    const PROGRESS_MESSAGES: u64 = 256;
    let mut progress = rt::bench::ProgressTicker::new(name, count / 100, hz());
    let mut next_check = PROGRESS_MESSAGES;
    let mut start = 0;
    let mut counting = rt::bench::start_counters();
    while received < count {
        let n = match rx.recv_batch_timeout(&mut buffer, Some(deadline_in(60))) {
            Ok(n) => n,
            Err(e) => return fail(193, &alloc::format!("throughput: {e}")),
        };
        if received == 0 {
            // Performance model: from the first batch on, one measured
            // interval of `count` messages on both CPUs (`ops=`).
            throughput_window(batch, true);
            rt::marker::op_begin();
            start = rt::arch::rdtsc();
            counting = rt::bench::start_counters();
        }
        for m in &buffer[..n] {
            if m.words[1] != next || m.words[5] != MAGIC {
                return fail(194, "throughput: sequence error");
            }
            next += 1;
        }
        received += n as u64;
        if received >= next_check {
            next_check = received + PROGRESS_MESSAGES;
            progress.tick(received / 100, rt::arch::rdtsc());
        }
    }
    let end = rt::arch::rdtsc();
    rt::marker::op_end();
    throughput_window(batch, false);
    // The receiver's CPU only (the producer runs on CPU 1).
    let counts = counting.read();
    let _ = rt::wait(pid);
    let ticks = (end - start).max(1);
    let rate = (u128::from(count - 1) * u128::from(hz()) / u128::from(ticks)) as f64;
    let per = ticks as f64 / (count - 1) as f64;
    rt::bench::report_throughput(name, rate, count, &counts);
    println!(
        "chantest: {name}: {count} messages, {per:.1} {} per message (machine-wide), receiver slept {} times",
        if icount { "instructions" } else { "TSC ticks" },
        rx.sleeps
    );
    0
}

/// Opens (`open`) or closes the performance-model window of the
/// throughput benchmark of `batch` (1 or 16).
fn throughput_window(batch: u64, open: bool) {
    use perf::marker::bench_id;
    use rt::marker::{window_begin, window_end};
    const B1: u32 = bench_id("ipc.async.throughput.cross_cpu.b1");
    const B16: u32 = bench_id("ipc.async.throughput.cross_cpu.b16");
    match (batch, open) {
        (1, true) => window_begin::<B1>(),
        (1, false) => window_end::<B1>(),
        (_, true) => window_begin::<B16>(),
        (_, false) => window_end::<B16>(),
    }
}

/// Opens (`open`) or closes the performance-model window of the region
/// hand-over benchmark `name` (a marker's id is a constant of its code).
fn large_window(name: &str, open: bool) {
    use perf::marker::bench_id;
    use rt::marker::{window_begin, window_end};
    macro_rules! windows {
        ($($n:literal),*) => {
            match (name, open) {
                $(
                    ($n, true) => window_begin::<{ bench_id($n) }>(),
                    ($n, false) => window_end::<{ bench_id($n) }>(),
                )*
                _ => {}
            }
        };
    }
    windows!(
        "ipc.large.4096",
        "ipc.large.1048576",
        "ipc.shm.transfer.4096",
        "ipc.shm.transfer.1048576",
        "ipc.large.2097152",
        "ipc.large.16777216",
        "ipc.large.67108864",
        "ipc.shm.transfer.2097152",
        "ipc.shm.transfer.16777216",
        "ipc.shm.transfer.67108864",
        "ipc.shm.map.4096",
        "ipc.shm.map.1048576",
        "ipc.shm.map.2097152",
        "ipc.shm.map.16777216",
        "ipc.shm.map.67108864"
    );
}

/// Region hand-over cost. Large: `send_large` (checksum and limit check,
/// transfer, the call) plus the receiver's map and the transfer back;
/// transfer: `Region::transfer` alone (unmapping ours, a shootdown, a new
/// root for the target); map: `Region::map` alone. The region is filled
/// once; nothing copies it.
fn large_bench(param: u64, name: &str, what: HandOver, size: u64, icount: bool) -> u64 {
    let samples = samples_of(param).min(20_000);
    let (server_pid, endpoint) = match start_server() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Ok((mut region, _, _)) = Region::create(size, None) else {
        return fail(200, "create");
    };
    let Ok(mut mapping) = region.map(MAP_WRITE) else {
        return fail(201, "map");
    };
    fill(mapping, size, 1);
    let mut recorder = match recorder(name, icount, samples) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut counting = None;
    for i in 0..samples + 20 {
        if i == 20 {
            counting = Some(rt::bench::start_counters());
            large_window(name, true);
        }
        rt::marker::op_begin();
        let a = rt::arch::rdtsc();
        if what == HandOver::Map {
            let m = match region.map(MAP_WRITE) {
                Ok(m) => m,
                Err(e) => return fail(207, &alloc::format!("map: {e}")),
            };
            let b = rt::arch::rdtsc();
            rt::marker::op_end();
            if i >= 20 {
                recorder.record((b - a).max(1));
                recorder.tick(rt::arch::rdtsc());
            }
            if let Err(e) = region.unmap(m) {
                return fail(208, &alloc::format!("unmap: {e}"));
            }
            continue;
        }
        let back = if what == HandOver::Transfer {
            let theirs = match region.transfer(server_pid) {
                Ok(t) => t,
                Err(e) => return fail(202, &alloc::format!("transfer: {e}")),
            };
            let b = rt::arch::rdtsc();
            rt::marker::op_end();
            if i >= 20 {
                recorder.record((b - a).max(1));
            }
            endpoint.send_recv([TRANSFER_TAG, theirs.0, 0, 0])
        } else {
            let Ok(message) = large_message(endpoint, mapping, size) else {
                return fail(203, "message");
            };
            let r = rt::shm::hand_over(endpoint, region, &message).and_then(|theirs| {
                // Word 3 = 1: the server skips checking the contents.
                endpoint.send_recv([LARGE_TAG, theirs, size, 1])
            });
            let b = rt::arch::rdtsc();
            rt::marker::op_end();
            if i >= 20 {
                recorder.record((b - a).max(1));
            }
            r
        };
        match back {
            Ok(r) if r[0] != 0 => region = Region(r[0]),
            other => return fail(204, &alloc::format!("{name}: {other:?}")),
        }
        mapping = match region.map(MAP_WRITE) {
            Ok(m) => m,
            Err(e) => return fail(205, &alloc::format!("map back: {e}")),
        };
        if i >= 20 {
            recorder.tick(rt::arch::rdtsc());
        }
    }
    large_window(name, false);
    let counts = counting.map(|c| c.read()).unwrap_or_default();
    let end = rt::arch::rdtsc();
    ensure!(
        206,
        check(mapping, size, 1),
        "data changed over {samples} hand-overs"
    );
    let _ = endpoint.send_recv([QUIT, 0, 0, 0]);
    let _ = rt::wait(server_pid);
    let _ = rt::ipc::revoke(region.0);
    recorder.finish(end, &counts);
    0
}
