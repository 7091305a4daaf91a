//! `soak`: a long run of mixed traffic (issue 22), run by the kernel's
//! `soak_tests` (exit code 0 = no anomaly).
//!
//! The coordinator (mode [`role::COORDINATOR`]) starts `groups` groups of
//! four processes, placed by the kernel:
//! - a synchronous client and its server: every call carries a sequence
//!   number and a checksum of its words; the reply echoes the sequence and
//!   a checksum of its own. Every 16th call is a large message instead (a
//!   fresh region of 4, 16 or 64 KiB filled with a pattern that depends on
//!   the sequence number), which the server checks and frees;
//! - an asynchronous producer and its consumer on an SPSC channel: every
//!   ring message carries its producer, its sequence number and three
//!   checksum words.
//!
//! The checking sides (client and consumer) count messages, lost,
//! duplicated, reordered and garbled ones and report their counts to the
//! coordinator once a second with a call on its stats endpoint. At every
//! minute the coordinator prints
//! `soak: minute M: messages N (R/s), large L, lost 0, duplicated 0,
//! reordered 0, garbled 0` (the kernel prints the free frames beside it);
//! at the end `soak: done: ...: ok|FAILED`, and exits 1 on any anomaly, a
//! failed worker or a minute without traffic.
//!
//! Under `fault.kill` (the kernel kills random processes of the run, the
//! [`TOLERANT`] bit) every worker also watches its partner: a server
//! waits for calls with a deadline and, when its client has gone, exits
//! with an error (the kernel does not tell a receiver that its senders
//! died); a producer whose ring stays full checks its consumer likewise.
//! A client whose server dies, and a consumer whose producer dies, get
//! `ProcessNotFound` from the kernel. Every worker then ends by itself:
//! killed, with 0, or with the error it saw. Lost, duplicated, reordered
//! and garbled messages are still anomalies; failed workers are counted,
//! not failures.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use ipc::IpcError;
use ipc::message::{CachePolicy, LargeMessage, MemoryRegion, RegionPermissions};
use ipc::ring::RingMessage;
use rt::ipc::{Endpoint, Rights, initial_cap};
use rt::shm::{Channel, Flavor, LARGE_TAG, MAP_WRITE, Mapping, Receiver, Region, Sender};
use rt::{Placement, println};

rt::entry!(main);

/// Roles (`arg & 0xff`); `arg >> 8` carries the parameters.
mod role {
    /// `param` = minutes (0 = one short period) | groups << 16 | the short
    /// period's seconds << 32 (0 = [`super::SHORT_SECONDS`]) |
    /// [`super::TOLERANT`].
    pub const COORDINATOR: u64 = 1;
    /// `param` = the client's pid | [`super::TOLERANT`].
    pub const SERVER: u64 = 2;
    pub const CLIENT: u64 = 3;
    /// `param` = the consumer's pid | [`super::TOLERANT`].
    pub const PRODUCER: u64 = 4;
    pub const CONSUMER: u64 = 5;
}

/// Parameter bit: processes of the run may be killed (`fault.kill`).
const TOLERANT: u64 = 1 << 40;

/// Exit codes of a worker that saw its partner or the coordinator die.
mod saw {
    pub const SERVER_GONE: u64 = 11;
    pub const COORDINATOR_GONE: u64 = 12;
    pub const CLIENT_GONE: u64 = 13;
    pub const CONSUMER_GONE: u64 = 24;
    pub const PRODUCER_GONE: u64 = 32;
}

/// The default length of a run with 0 minutes.
const SHORT_SECONDS: u64 = 10;
/// The coordinator's answer to a report after the last period: stop.
const STOP: u64 = 1;
/// Bit of a report's word 1: the reporter's last report.
const FINAL: u64 = 1 << 63;
/// Word 3 of the ring messages and the small calls' checksum seed.
const MAGIC: u64 = 0x50a4_c0de_1234_abcd;
/// Word 0 of the client's last call: the server exits after replying.
const QUIT: u64 = u64::MAX;
/// The producer's last message's sequence number.
const END_OF_STREAM: u64 = u64::MAX;
/// Large message sizes, cycled.
const LARGE_SIZES: [u64; 3] = [4096, 16 << 10, 64 << 10];
/// Priorities: the coordinator above its workers so reports are served.
const WORKER_PRIORITY: u8 = 5;

fn main(arg: u64) -> u64 {
    let param = arg >> 8;
    match arg & 0xff {
        role::COORDINATOR => coordinator(
            param & 0xffff,
            (param >> 16) & 0xffff,
            match (param >> 32) & 0xff {
                0 => SHORT_SECONDS,
                s => s,
            },
            param & TOLERANT != 0,
        ),
        role::SERVER => server(param as u32, param & TOLERANT != 0),
        role::CLIENT => client(),
        role::PRODUCER => producer(param as u32),
        role::CONSUMER => consumer(),
        other => {
            println!("soak: unknown role {other:#x}");
            99
        }
    }
}

/// TSC ticks per second.
fn hz() -> u64 {
    rt::time().1.max(1)
}

/// The checksum of a small message's first three words.
fn checksum(a: u64, b: u64, c: u64) -> u64 {
    let mut x = MAGIC;
    for w in [a, b, c] {
        x = (x ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    x
}

/// Counts kept by a checking side, reported as deltas.
#[derive(Clone, Copy, Default)]
struct Counts {
    /// Every message checked: calls (small and large) and ring messages.
    messages: u64,
    /// Synchronous calls among them.
    calls: u64,
    /// Large messages among the calls.
    large: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    garbled: u64,
}

impl Counts {
    fn anomalies(&self) -> u64 {
        self.lost + self.duplicated + self.reordered + self.garbled
    }

    fn add(&mut self, o: &Counts) {
        self.messages += o.messages;
        self.calls += o.calls;
        self.large += o.large;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.garbled += o.garbled;
    }

    /// Four words: messages, large | calls << 24 (bit 63: [`FINAL`]), lost
    /// | duplicated << 32, reordered | garbled << 32 (a second's counts fit).
    fn words(&self) -> [u64; 4] {
        [
            self.messages,
            self.large.min(0xff_ffff) | self.calls.min((1 << 39) - 1) << 24,
            self.lost.min(u32::MAX.into()) | self.duplicated.min(u32::MAX.into()) << 32,
            self.reordered.min(u32::MAX.into()) | self.garbled.min(u32::MAX.into()) << 32,
        ]
    }

    fn from_words(w: [u64; 4]) -> Counts {
        Counts {
            messages: w[0],
            large: w[1] & 0xff_ffff,
            calls: (w[1] & !FINAL) >> 24,
            lost: w[2] & 0xffff_ffff,
            duplicated: w[2] >> 32,
            reordered: w[3] & 0xffff_ffff,
            garbled: w[3] >> 32,
        }
    }
}

/// A worker's once-a-second report to the coordinator (slot 0), whose
/// answer says when to stop.
struct Reporter {
    stats: Endpoint,
    since: Counts,
    next: u64,
    period: u64,
}

impl Reporter {
    fn new() -> Reporter {
        let period = hz();
        Reporter {
            stats: Endpoint(initial_cap(0)),
            since: Counts::default(),
            next: rt::arch::rdtsc() + period,
            period,
        }
    }

    /// Reports if a second has passed; returns whether the coordinator
    /// said stop, or the error of the report (the coordinator died).
    fn maybe_report(&mut self) -> Result<bool, IpcError> {
        let t = rt::arch::rdtsc();
        if t < self.next {
            return Ok(false);
        }
        let answer = self.stats.send_recv(self.since.words());
        self.since = Counts::default();
        self.next = t + self.period;
        answer.map(|a| a[0] == STOP)
    }

    /// The last report.
    fn finish(&mut self) {
        let mut words = self.since.words();
        words[1] |= FINAL;
        let _ = self.stats.send_recv(words);
        self.since = Counts::default();
    }
}

// ------------------------------------------------------------- coordinator

/// A group's four pids.
struct Group {
    client: u32,
    server: u32,
    producer: u32,
    consumer: u32,
}

fn spawn(arg: u64) -> Result<u32, IpcError> {
    rt::spawn(
        "soak",
        arg,
        Placement {
            cpu: Some(Placement::ANY_CPU),
            priority: WORKER_PRIORITY,
        },
    )
}

fn start_group(stats: Endpoint, tolerant: u64) -> Result<Group, IpcError> {
    let client = spawn(role::CLIENT)?;
    // The client's slot 0: the stats endpoint; slot 1 comes from its server.
    rt::ipc::grant(stats.0, client, Rights::SEND, 0)?;
    let server = spawn(role::SERVER | (u64::from(client) | tolerant) << 8)?;
    let channel = Channel::create(256, Flavor::Spsc)?;
    let consumer = spawn(role::CONSUMER)?;
    rt::ipc::grant(stats.0, consumer, Rights::SEND, 0)?;
    rt::ipc::grant(channel.0, consumer, Rights::RECEIVE, 0)?;
    let producer = spawn(role::PRODUCER | (u64::from(consumer) | tolerant) << 8)?;
    rt::ipc::grant(stats.0, producer, Rights::SEND, 0)?;
    rt::ipc::grant(channel.0, producer, Rights::SEND, 0)?;
    Ok(Group {
        client,
        server,
        producer,
        consumer,
    })
}

fn kill_all(groups: &[Group]) {
    for g in groups {
        for pid in [g.client, g.server, g.producer, g.consumer] {
            let _ = rt::kill(pid);
        }
    }
}

/// Serves reports until `deadline` or until `want` final reports came,
/// adding them to `into`; answers each with `answer`. Returns how many
/// final reports came, or the error.
fn serve_reports(
    stats: Endpoint,
    deadline: u64,
    answer: u64,
    want: u64,
    into: &mut Counts,
) -> Result<u64, IpcError> {
    let mut finals = 0;
    while rt::arch::rdtsc() < deadline && finals < want {
        match stats.recv_until(deadline) {
            Ok(msg) => {
                into.add(&Counts::from_words(msg.data));
                finals += u64::from(msg.data[1] & FINAL != 0);
                let _ = rt::ipc::reply([answer, 0, 0, 0]);
            }
            Err(IpcError::Timeout) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(finals)
}

fn print_counts(what: &str, c: &Counts, secs: u64) {
    println!(
        "soak: {what}: messages {} ({}/s), calls {}, large {}, lost {}, duplicated {}, reordered {}, garbled {}",
        c.messages,
        c.messages / secs.max(1),
        c.calls,
        c.large,
        c.lost,
        c.duplicated,
        c.reordered,
        c.garbled
    );
}

fn coordinator(minutes: u64, groups: u64, short_seconds: u64, tolerant: bool) -> u64 {
    let hz = hz();
    let groups = groups.max(1);
    let Ok((stats, stats_send)) = Endpoint::create(0) else {
        println!("soak: cannot create the stats endpoint");
        return 1;
    };
    let start = rt::arch::rdtsc();
    let mut pids: Vec<Group> = Vec::new();
    for g in 0..groups {
        match start_group(stats_send, if tolerant { TOLERANT } else { 0 }) {
            Ok(group) => pids.push(group),
            // Under fault.kill a worker may die before its grant.
            Err(IpcError::ProcessNotFound) if tolerant => {}
            Err(e) => {
                println!("soak: starting group {g}: {e}; FAILED");
                kill_all(&pids);
                return 1;
            }
        }
    }
    let begun = rt::arch::rdtsc();
    println!(
        "soak: {} processes in {groups} groups started in {} ms",
        groups * 4,
        (begun - start) * 1000 / hz
    );
    // Periods count from the end of start-up: minutes, or one short period.
    let (period, periods) = if minutes == 0 {
        (short_seconds * hz, 1)
    } else {
        (60 * hz, minutes)
    };
    let mut total = Counts::default();
    let mut failed = false;
    let mut finals = 0;
    for m in 1..=periods {
        let mut this = Counts::default();
        match serve_reports(stats, begun + m * period, 0, u64::MAX, &mut this) {
            Ok(f) => finals += f,
            Err(e) => {
                println!("soak: stats receive: {e}");
                failed = true;
            }
        }
        let label = alloc::format!("minute {m}");
        print_counts(
            if minutes == 0 { "period 1" } else { &label },
            &this,
            period / hz,
        );
        // A final report before the end is a worker that gave up.
        if this.anomalies() > 0 || (!tolerant && (this.messages == 0 || finals > 0)) {
            failed = true;
        }
        total.add(&this);
    }
    // Every report from now on is answered "stop"; the clients and
    // consumers send a final one (a consumer after its producer's end of
    // stream).
    let mut tail = Counts::default();
    // Under fault.kill, killed checkers never report: answer "stop" for a
    // few seconds, then wait for every worker to end by itself.
    let stop_window = if tolerant { 5 } else { 120 };
    let stop_deadline = rt::arch::rdtsc() + stop_window * hz;
    if finals < groups * 2 {
        match serve_reports(stats, stop_deadline, STOP, groups * 2 - finals, &mut tail) {
            Ok(f) => finals += f,
            Err(e) => {
                println!("soak: stats receive: {e}");
                failed = true;
            }
        }
    }
    total.add(&tail);
    if tail.anomalies() > 0 {
        failed = true;
    }
    if finals < groups * 2 && !tolerant {
        println!(
            "soak: only {finals} of {} workers stopped within 120 s; killing the rest",
            groups * 2
        );
        failed = true;
        kill_all(&pids);
    }
    let mut workers_failed = 0u64;
    let (mut killed, mut saw_error) = (0u64, 0u64);
    // A checker that failed leaves its partner waiting for it: kill the
    // partner before waiting for it (under fault.kill every partner must
    // end by itself: nobody is killed here).
    for group in &pids {
        for (checker, partner) in [
            (group.client, group.server),
            (group.consumer, group.producer),
        ] {
            for pid in [checker, partner] {
                match rt::wait(pid) {
                    Ok((0, 0, _)) => {}
                    Ok((1, _, _)) if tolerant => killed += 1,
                    Ok((0, _, _)) if tolerant => saw_error += 1,
                    Ok(other) => {
                        println!("soak: worker {pid} ended with {other:?}");
                        workers_failed += 1;
                        let _ = rt::kill(partner);
                    }
                    Err(e) => {
                        println!("soak: wait {pid}: {e}");
                        workers_failed += 1;
                        let _ = rt::kill(partner);
                    }
                }
            }
        }
    }
    if tolerant {
        println!(
            "soak: under fault.kill: {} workers: {killed} killed, {saw_error} ended with the error they saw, {} clean",
            groups * 4,
            groups * 4 - killed - saw_error - workers_failed
        );
    }
    let ok = !failed && workers_failed == 0;
    println!(
        "soak: done: {periods} period(s), {} messages, calls {}, large {}, lost {}, duplicated {}, reordered {}, garbled {}, workers failed {workers_failed}: {}",
        total.messages,
        total.calls,
        total.large,
        total.lost,
        total.duplicated,
        total.reordered,
        total.garbled,
        if ok { "ok" } else { "FAILED" }
    );
    u64::from(!ok)
}

// ------------------------------------------------------ synchronous traffic

fn pattern(i: usize, seed: u64) -> u64 {
    (i as u64 ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed.rotate_left(17)
}

fn fill(mapping: Mapping, bytes: u64, seed: u64) {
    let words = mapping.base.cast::<u64>();
    for i in 0..(bytes / 8) as usize {
        // SAFETY: inside a live writable mapping of at least `bytes`.
        unsafe { words.add(i).write_volatile(pattern(i, seed)) };
    }
}

fn intact(mapping: Mapping, bytes: u64, seed: u64) -> bool {
    let words = mapping.base.cast::<u64>();
    (0..(bytes / 8) as usize).all(|i| {
        // SAFETY: inside a live mapping of at least `bytes`.
        unsafe { words.add(i).read_volatile() == pattern(i, seed) }
    })
}

/// Serves `client`: small calls answered with a checksum, large messages
/// checked and freed. Replies `[seq, answer, checksum, status]`.
fn server(client: u32, tolerant: bool) -> u64 {
    let Ok((root, send)) = Endpoint::create(64 << 10) else {
        println!("soak: server: endpoint");
        return 2;
    };
    if let Err(e) = rt::ipc::grant(send.0, client, Rights::SEND, 0) {
        println!("soak: server: grant to {client}: {e}");
        return 3;
    }
    let hz = hz();
    // Under fault.kill: wait a second at a time, and leave when the client
    // has gone (the kernel does not tell a receiver that its senders died).
    let receive = || loop {
        if !tolerant {
            return root.recv().map_err(|e| {
                println!("soak: server: recv: {e}");
                4
            });
        }
        match root.recv_until(rt::arch::rdtsc() + hz) {
            Ok(m) => return Ok(m),
            Err(IpcError::Timeout) if rt::proc_info(client).is_err() => {
                return Err(saw::CLIENT_GONE);
            }
            Err(IpcError::Timeout) => {}
            Err(e) => {
                println!("soak: server: recv: {e}");
                return Err(4);
            }
        }
    };
    let mut m = match receive() {
        Ok(m) => m,
        Err(code) => return code,
    };
    loop {
        let [w0, w1, w2, w3] = m.data;
        let reply = if w0 == QUIT {
            let _ = rt::ipc::reply([QUIT, 0, 0, 0]);
            return 0;
        } else if w0 == LARGE_TAG {
            // Word 3: the sequence number, which seeds the pattern.
            let seq = w3;
            let status = match rt::shm::recv_large([w0, w1, w2, 0]) {
                Ok((message, region, mapping)) => {
                    let payload = message.region_payload_len();
                    let good = intact(mapping, payload, seq);
                    let _ = region.unmap(mapping);
                    let _ = rt::ipc::revoke(region.0);
                    if good { 0 } else { 1 }
                }
                Err(e) => 0x100 | e.code(),
            };
            [
                seq,
                payload_answer(seq),
                checksum(seq, payload_answer(seq), status),
                status,
            ]
        } else {
            // Small: [seq, value, checksum(seq, value, 0), 0].
            let status = u64::from(w2 != checksum(w0, w1, 0) || w3 != 0);
            let answer = payload_answer(w1);
            [w0, answer, checksum(w0, answer, status), status]
        };
        let next = if tolerant {
            // A client killed while waiting for the reply is not an error
            // of the reply: the next receive finds out it has gone.
            let _ = rt::ipc::reply(reply);
            receive()
        } else {
            root.reply_recv(reply).map_err(|e| {
                println!("soak: server: reply_recv: {e}");
                5
            })
        };
        m = match next {
            Ok(m) => m,
            Err(code) => return code,
        };
    }
}

fn payload_answer(x: u64) -> u64 {
    x.rotate_left(13) ^ MAGIC
}

/// Sends one large message of `size` bytes for sequence `seq`; returns the
/// reply's words.
fn send_large(endpoint: Endpoint, size: u64, seq: u64) -> Result<[u64; 4], IpcError> {
    let (region, _, _) = Region::create(size, None)?;
    let mapping = match region.map(MAP_WRITE) {
        Ok(m) => m,
        Err(e) => {
            let _ = rt::ipc::revoke(region.0);
            return Err(e);
        }
    };
    let payload = size - 64;
    fill(mapping, payload, seq);
    let inline: [u8; 64] = core::array::from_fn(|i| i as u8 ^ seq as u8);
    let descriptor = MemoryRegion::new(
        mapping.base as u64,
        mapping.size,
        RegionPermissions::READ | RegionPermissions::WRITE,
        CachePolicy::WriteBack,
    );
    let message = LargeMessage::new(endpoint.0, 1, 0, &inline, descriptor, payload)?;
    let theirs = match rt::shm::hand_over(endpoint, region, &message) {
        Ok(t) => t,
        Err(e) => {
            let _ = rt::ipc::revoke(region.0);
            return Err(e);
        }
    };
    endpoint.send_recv([LARGE_TAG, theirs, message.header().total_size(), seq])
}

fn client() -> u64 {
    if !rt::ipc::wait_for_cap(initial_cap(1), 1_000) {
        println!("soak: client: no server capability");
        return 10;
    }
    let server = Endpoint(initial_cap(1));
    let mut report = Reporter::new();
    let mut seq = 0u64;
    let mut value = u64::from(rt::self_pid()).wrapping_mul(0x2545_f491_4f6c_dd1d);
    loop {
        seq += 1;
        let large = seq.is_multiple_of(16);
        let result = if large {
            let size = LARGE_SIZES[(seq / 16) as usize % LARGE_SIZES.len()];
            send_large(server, size, seq)
        } else {
            value = value.wrapping_mul(6364136223846793005).wrapping_add(1);
            server.send_recv([seq, value, checksum(seq, value, 0), 0])
        };
        let [rseq, answer, check, status] = match result {
            Ok(r) => r,
            Err(IpcError::ProcessNotFound) => {
                println!("soak: client: call {seq}: the server has gone");
                report.finish();
                return saw::SERVER_GONE;
            }
            Err(e) => {
                println!("soak: client: call {seq}: {e}");
                report.finish();
                return 14;
            }
        };
        let expected = if large {
            payload_answer(seq)
        } else {
            payload_answer(value)
        };
        if check != checksum(rseq, answer, status) || status != 0 {
            report.since.garbled += 1;
        } else if rseq < seq {
            report.since.duplicated += 1;
        } else if rseq > seq {
            report.since.reordered += 1;
        } else if answer != expected {
            report.since.garbled += 1;
        } else {
            report.since.messages += 1;
            report.since.calls += 1;
            if large {
                report.since.large += 1;
            }
        }
        match report.maybe_report() {
            Ok(false) => {}
            Ok(true) => break,
            Err(_) => {
                let _ = server.send_recv([QUIT, 0, 0, 0]);
                return saw::COORDINATOR_GONE;
            }
        }
    }
    let code = match server.send_recv([QUIT, 0, 0, 0]) {
        Ok(r) if r[0] == QUIT => 0,
        Ok(_) => {
            report.since.garbled += 1;
            0
        }
        Err(IpcError::ProcessNotFound) => saw::SERVER_GONE,
        Err(_) => 14,
    };
    report.finish();
    code
}

// ----------------------------------------------------- asynchronous traffic

fn ring_message(id: u64, seq: u64) -> RingMessage {
    RingMessage {
        words: [id, seq, checksum(id, seq, 1), MAGIC, !seq, seq ^ id],
    }
}

fn producer(consumer: u32) -> u64 {
    if !rt::ipc::wait_for_cap(initial_cap(1), 1_000) {
        println!("soak: producer: no channel");
        return 20;
    }
    let mut sender = match Channel(initial_cap(1)).connect().and_then(Sender::new) {
        Ok(s) => s,
        Err(e) => {
            println!("soak: producer: connect: {e}");
            return 21;
        }
    };
    // The producer's reports carry no counts (its consumer counts): they
    // only fetch the coordinator's answer.
    let mut report = Reporter::new();
    let id = u64::from(rt::self_pid());
    let mut seq = 0u64;
    let mut buffer = [RingMessage::default(); 8];
    let mut full = 0u64;
    loop {
        match report.maybe_report() {
            Ok(false) => {}
            Ok(true) => break,
            Err(_) => return saw::COORDINATOR_GONE,
        }
        for (i, m) in buffer.iter_mut().enumerate() {
            *m = ring_message(id, seq + i as u64);
        }
        // Batches of 1 to 8, by the sequence number.
        let n = (seq % 8 + 1) as usize;
        match sender.send_batch(&buffer[..n]) {
            Ok(sent) => {
                seq += sent as u64;
                full = 0;
            }
            Err(IpcError::WouldBlock) => {
                // A full ring for long: is the consumer still there?
                full += 1;
                if full.is_multiple_of(256) && rt::proc_info(consumer).is_err() {
                    return saw::CONSUMER_GONE;
                }
                rt::yield_now();
            }
            Err(IpcError::ProcessNotFound) => return saw::CONSUMER_GONE,
            Err(e) => {
                println!("soak: producer: send {seq}: {e}");
                return 22;
            }
        }
    }
    loop {
        match sender.send_async(ring_message(id, END_OF_STREAM)) {
            Ok(()) => return 0,
            Err(IpcError::WouldBlock) => {
                full += 1;
                if full.is_multiple_of(256) && rt::proc_info(consumer).is_err() {
                    return saw::CONSUMER_GONE;
                }
                rt::yield_now();
            }
            Err(e) => {
                println!("soak: producer: end of stream: {e}");
                return 23;
            }
        }
    }
}

fn consumer() -> u64 {
    if !rt::ipc::wait_for_cap(initial_cap(1), 1_000) {
        println!("soak: consumer: no channel");
        return 30;
    }
    let mut receiver = match Channel(initial_cap(1)).connect().and_then(Receiver::new) {
        Ok(r) => r,
        Err(e) => {
            println!("soak: consumer: connect: {e}");
            return 31;
        }
    };
    let mut report = Reporter::new();
    let hz = hz();
    let mut expected = 0u64;
    let mut producer = None;
    let mut buffer = [RingMessage::default(); 16];
    loop {
        // No message for 60 s is a hang.
        let deadline = rt::arch::rdtsc() + 60 * hz;
        let n = match receiver.recv_batch_timeout(&mut buffer, Some(deadline)) {
            Ok(n) => n,
            Err(IpcError::ProcessNotFound) => {
                println!("soak: consumer: after {expected}: the producer has gone");
                report.finish();
                return saw::PRODUCER_GONE;
            }
            Err(e) => {
                println!("soak: consumer: receive after {expected}: {e}");
                report.finish();
                return 34;
            }
        };
        for m in &buffer[..n] {
            let [id, seq, check, magic, not, x] = m.words;
            if check != checksum(id, seq, 1)
                || magic != MAGIC
                || not != !seq
                || x != seq ^ id
                || *producer.get_or_insert(id) != id
            {
                report.since.garbled += 1;
                continue;
            }
            if seq == END_OF_STREAM {
                report.finish();
                return 0;
            }
            if seq == expected {
                expected += 1;
                report.since.messages += 1;
            } else if seq < expected {
                report.since.duplicated += 1;
            } else {
                report.since.reordered += 1;
                report.since.lost += seq - expected;
                expected = seq + 1;
            }
        }
        // "Stop" is for the producer; the consumer stops at the end of its
        // stream.
        if report.maybe_report().is_err() {
            return saw::COORDINATOR_GONE;
        }
    }
}
