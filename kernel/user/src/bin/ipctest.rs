//! `ipctest`: synchronous IPC and capability scenarios, run by the kernel's
//! `kipc_tests`. `arg & 0xff` picks a scenario (exit code 0 = every check
//! passed, else the failed check's number with the reason printed) or, for
//! the copies a scenario spawns of itself, a role; the other bits carry the
//! role's parameters (pids).
//!
//! Capability bootstrap: the first capability a process is granted is its
//! slot 0 (`rt::ipc::initial_cap(0)`), the next slot 1, and so on; a child
//! waits (yielding) until its slot is filled.
#![no_std]
#![no_main]

use ipc::IpcError;
use rt::ipc::{Endpoint, Rights, initial_cap};
use rt::{Placement, println};

rt::entry!(main);

/// Scenarios (the kernel's tests name them).
mod scenario {
    pub const SAME_CPU: u64 = 1;
    pub const CROSS_CPU: u64 = 2;
    pub const ERRORS: u64 = 3;
    pub const REVOKE: u64 = 4;
    pub const RATE: u64 = 5;
    pub const KILL_SERVER: u64 = 6;
    pub const HAMMER: u64 = 7;
    /// Priority inversion: `param` 1 = inheritance on (the client must be
    /// served while the hog still runs), 0 = off (the hog finishes first).
    pub const INVERSION: u64 = 8;
    /// 50,000 cross-CPU calls: 100,000 wake/sleep cycles across CPUs.
    pub const WAKEUPS: u64 = 9;
    /// Same-CPU calls that run the server by scheduling-context donation,
    /// with everything that must end a donation done by the server while it
    /// serves: a priority query, ticks, a spawn and wait, a nested call, a
    /// plain reply, a fault.
    pub const DONATION: u64 = 10;
    /// `ENDPOINT_CHURN_ROUNDS` endpoint creations, each revoked at once.
    pub const ENDPOINT_CHURN: u64 = 11;
    /// A receiver and a queued caller wake with an error when the right
    /// they wait through is revoked.
    pub const REVOKE_WAKES: u64 = 12;
    /// A server holding a delegated receive right dies with a call held and
    /// one queued: both callers fail.
    pub const RECEIVER_DEATH: u64 = 13;
}

/// Roles of the spawned copies.
mod role {
    /// Calls the echo server at slot 0 `param` times, then quits.
    pub const ECHO_CLIENT: u64 = 0x10;
    /// The REVOKE scenario's client.
    pub const REVOKE_CLIENT: u64 = 0x11;
    /// The RATE scenario's client (slot 0 rate limited, slot 1 not).
    pub const RATE_CLIENT: u64 = 0x12;
    /// Serves the KILL_SERVER clients (pids in the parameter) and tells the
    /// driver (slot 0) when it holds a call with another one queued.
    pub const DOOMED_SERVER: u64 = 0x13;
    /// A KILL_SERVER client: its call must fail with ProcessNotFound.
    pub const DOOMED_CLIENT: u64 = 0x14;
    /// A HAMMER client: `HAMMER_CALLS` sequenced calls, then quit.
    pub const HAMMER_CLIENT: u64 = 0x15;
    /// INVERSION's low-priority server: serves two calls, the first with
    /// `LOW_WORK_MS` of work, the second with `SERVER_WORK_MS`.
    pub const INV_SERVER: u64 = 0x16;
    /// INVERSION's low client: the call the server is busy with.
    pub const INV_LOW: u64 = 0x19;
    /// INVERSION's medium-priority hog: spins `HOG_MS`, never blocks.
    pub const INV_HOG: u64 = 0x17;
    /// INVERSION's high-priority client (CPU in the parameter): starts the
    /// hog, sleeps, calls, then exits `HOG_ALIVE` or `HOG_DONE`.
    pub const INV_CLIENT: u64 = 0x18;
    /// DONATION's server: slot 0 receives, slot 1 calls the nested server;
    /// each call's word 0 says what to do (`don::*`).
    pub const DON_SERVER: u64 = 0x1a;
    /// DONATION's nested server: echo (word 0 + 1) on slot 0 until QUIT.
    pub const DON_NESTED: u64 = 0x1b;
    /// DONATION's doomed client: echo calls with 1 ms of server work each
    /// through slot 0, until it is killed.
    pub const DON_VICTIM: u64 = 0x1d;
    /// DONATION's killer (on another CPU): receives a pid on slot 0 and
    /// kills it when the trigger comes: with `param` 0, once the process
    /// was switched in more often than the count that came with it; with 1,
    /// once the server that came with it runs at a lent priority.
    pub const DON_KILLER: u64 = 0x1c;
    /// REVOKE_WAKES's receiver: receives through slot 0 until the right
    /// is revoked.
    pub const RECV_VICTIM: u64 = 0x1e;
    /// REVOKE_WAKES's caller: calls through slot 0, queued until the
    /// endpoint is revoked.
    pub const CALL_VICTIM: u64 = 0x1f;
    /// RECEIVER_DEATH's server: receives through a delegated right (slot 0),
    /// holds the call, reports to the driver (slot 1) once a second call is
    /// queued, and is killed there.
    pub const DELEGATED_SERVER: u64 = 0x20;
    /// RECEIVER_DEATH's client: one call, which must fail with
    /// ProcessNotFound.
    pub const ORPHANED_CLIENT: u64 = 0x21;
}

/// What the DONATION server does for a call (word 0); it replies with
/// `reply_recv` unless said otherwise.
mod don {
    /// Word 1 + 1.
    pub const ECHO: u64 = 1;
    /// Its effective and base priority (`proc_info`), at once.
    pub const PRIORITY: u64 = 2;
    /// Spins word 1 ms (timer ticks come), then as PRIORITY.
    pub const SPIN: u64 = 3;
    /// Spawns a `worker` that exits with word 1, waits for it, replies its
    /// exit code.
    pub const SPAWN: u64 = 4;
    /// Calls the nested server with word 1, replies its answer.
    pub const NESTED: u64 = 5;
    /// Word 1 + 1 with a plain `reply`, then a `recv`.
    pub const SPLIT: u64 = 6;
    /// Reads an unmapped address: the server dies of a page fault.
    pub const FAULT: u64 = 7;
    /// Spins until it is killed (from another CPU).
    pub const KILLED: u64 = 8;
    /// Spins word 1 ms, then as ECHO of 0.
    pub const WORK: u64 = 9;
    /// Replies with a plain `reply` and exits 0.
    pub const QUIT: u64 = super::QUIT;
}

/// INVERSION timing (TSC-measured spins; the verdict is by ordering).
const HOG_MS: u64 = 2_000;
const LOW_WORK_MS: u64 = 600;
const SERVER_WORK_MS: u64 = 30;
const CLIENT_DELAY_MS: u64 = 200;
const SETTLE_MS: u64 = 50;
/// The client's exit codes: how the hog was doing when the reply came.
const HOG_ALIVE: u64 = 10;
const HOG_DONE: u64 = 20;
/// WAKEUPS: calls (each wakes the other CPU twice).
const WAKEUP_CALLS: u64 = 50_000;

/// Message word 0 that ends a conversation.
const QUIT: u64 = u64::MAX;
/// Badge the echo server gives its client.
const ECHO_BADGE: u64 = 0xec40;
/// Calls of the echo scenarios.
const ECHO_CALLS: u64 = 2_000;
/// HAMMER: clients and calls per client.
const HAMMER_CLIENTS: usize = 64;
const HAMMER_CALLS: u64 = 100;
/// RATE: the limit (messages per second) and the calls offered back to
/// back. Every call finishes long before one token refills (1/3 s), so
/// exactly `RATE_LIMIT` pass: the bucket starts full with one second's worth.
const RATE_LIMIT: u32 = 3;
const RATE_CALLS: u64 = 30;
/// Checks of `wait_for_cap` before a child gives up.
const CAP_TRIES: u32 = 100_000;
/// More than the 262,000 rounds that once exhausted the kernel heap.
const ENDPOINT_CHURN_ROUNDS: u64 = 300_000;

/// `check!` for functions that return `(code, value)`.
macro_rules! check2 {
    ($n:expr, $cond:expr, $($why:tt)*) => {
        if !$cond {
            println!("ipctest: check {} failed: {}", $n, format_args!($($why)*));
            return ($n, 0);
        }
    };
}

macro_rules! check {
    ($n:expr, $cond:expr, $($why:tt)*) => {
        if !$cond {
            println!("ipctest: check {} failed: {}", $n, format_args!($($why)*));
            return $n;
        }
    };
}

fn main(arg: u64) -> u64 {
    let param = arg >> 8;
    match arg & 0xff {
        scenario::SAME_CPU => echo_scenario(false),
        scenario::CROSS_CPU => echo_scenario(true),
        scenario::ERRORS => errors(),
        scenario::REVOKE => revoke(),
        scenario::RATE => rate(),
        scenario::KILL_SERVER => kill_server(),
        scenario::HAMMER => hammer(),
        scenario::INVERSION => inversion_runs(param),
        scenario::WAKEUPS => wakeups(),
        role::INV_SERVER => inv_server(),
        role::INV_LOW => inv_low(),
        role::INV_HOG => spin_ms(HOG_MS),
        role::INV_CLIENT => inv_client(param as u32),
        role::ECHO_CLIENT => echo_client(param),
        role::REVOKE_CLIENT => revoke_client(),
        role::RATE_CLIENT => rate_client(),
        role::DOOMED_SERVER => doomed_server(param),
        role::DOOMED_CLIENT => doomed_client(),
        role::HAMMER_CLIENT => hammer_client(param),
        scenario::DONATION => donation(),
        role::DON_SERVER => don_server(),
        role::DON_NESTED => don_nested(),
        role::DON_KILLER => don_killer(param),
        role::DON_VICTIM => don_victim(),
        scenario::ENDPOINT_CHURN => endpoint_churn(),
        scenario::REVOKE_WAKES => revoke_wakes(),
        scenario::RECEIVER_DEATH => receiver_death(),
        role::RECV_VICTIM => recv_victim(),
        role::CALL_VICTIM => call_victim(),
        role::DELEGATED_SERVER => delegated_server(),
        role::ORPHANED_CLIENT => orphaned_client(),
        other => {
            println!("ipctest: unknown mode {other:#x}");
            255
        }
    }
}

/// The CPU this process runs on.
fn this_cpu() -> u32 {
    rt::time().2 as u32
}

/// Whether a process can be placed on `cpu`.
fn cpu_online(cpu: u32) -> bool {
    match rt::spawn(
        "worker",
        0,
        Placement {
            cpu: Some(cpu),
            priority: 10,
        },
    ) {
        Ok(pid) => {
            let _ = rt::wait(pid);
            true
        }
        Err(_) => false,
    }
}

/// Spawns `role | param << 8` on `cpu` (None = here).
fn spawn_role(role: u64, param: u64, cpu: Option<u32>) -> Result<u32, IpcError> {
    rt::spawn(
        "ipctest",
        role | (param << 8),
        Placement { cpu, priority: 10 },
    )
}

/// Whether child `pid` exited with code 0 (its own output says why not).
fn exited_ok(pid: u32) -> bool {
    matches!(rt::wait(pid), Ok((0, 0, _)))
}

/// SAME_CPU / CROSS_CPU: this process serves (echo with the badge), a child
/// client on this CPU or on another one calls `ECHO_CALLS` times.
fn echo_scenario(cross: bool) -> u64 {
    echo_scenario_with(cross, ECHO_CALLS)
}

/// WAKEUPS: the cross-CPU echo scenario with `WAKEUP_CALLS` calls; every
/// call wakes the server on one CPU and the reply wakes the client on the
/// other, so a single lost wake-up hangs it (and the kernel test times out).
fn wakeups() -> u64 {
    let code = echo_scenario_with(true, WAKEUP_CALLS);
    if code == 0 {
        println!(
            "ipctest: {} cross-CPU wake/sleep cycles, none lost",
            2 * WAKEUP_CALLS
        );
    }
    code
}

fn echo_scenario_with(cross: bool, calls: u64) -> u64 {
    let here = this_cpu();
    let client_cpu = if cross {
        let other = if here == 0 { 1 } else { 0 };
        if cpu_online(other) {
            println!("ipctest: server on CPU {here}, client on CPU {other}");
            other
        } else {
            println!(
                "ipctest: only one CPU online: running the cross-CPU scenario on CPU {here} alone"
            );
            here
        }
    } else {
        println!("ipctest: server and client on CPU {here}");
        here
    };
    let Ok((server, send)) = Endpoint::create(0) else {
        println!("ipctest: endpoint_create failed");
        return 1;
    };
    let client = spawn_role(role::ECHO_CLIENT, calls, Some(client_cpu));
    check!(2, client.is_ok(), "spawn: {client:?}");
    let client = client.unwrap_or(0);
    let granted = rt::ipc::grant(send.0, client, Rights::SEND, ECHO_BADGE);
    check!(3, granted == Ok(initial_cap(0)), "grant: {granted:?}");
    let served = echo_serve(server);
    check!(4, served == Ok(calls), "served {served:?}");
    check!(5, exited_ok(client), "client failed");
    let m = server.metrics();
    check!(6, m.is_ok(), "metrics: {m:?}");
    let m = m.unwrap_or_default();
    check!(
        7,
        m.messages_sent == calls + 1 && m.messages_received == calls + 1,
        "metrics {m:?}"
    );
    println!(
        "ipctest: {calls} calls answered with badge {ECHO_BADGE:#x}; metrics sent={} received={}",
        m.messages_sent, m.messages_received
    );
    0
}

/// Serves echo calls on `server` until QUIT; returns how many were served.
fn echo_serve(server: Endpoint) -> Result<u64, IpcError> {
    let mut served = 0;
    let mut message = server.recv()?;
    loop {
        if message.badge != ECHO_BADGE {
            println!("ipctest: wrong badge {:#x}", message.badge);
            return Err(IpcError::InvalidCapability);
        }
        let [a, b, c, _] = message.data;
        if a == QUIT {
            rt::ipc::reply([QUIT, 0, 0, 0])?;
            return Ok(served);
        }
        served += 1;
        message = server.reply_recv([a + 1, !b, c, message.badge])?;
    }
}

/// ECHO_CLIENT: `calls` calls through slot 0, every reply checked.
fn echo_client(calls: u64) -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability granted"
    );
    let server = Endpoint(initial_cap(0));
    for i in 0..calls {
        let reply = server.send_recv([i, i * 3, 7, 0]);
        check!(
            2,
            reply == Ok([i + 1, !(i * 3), 7, ECHO_BADGE]),
            "call {i}: {reply:?}"
        );
    }
    let reply = server.send_recv([QUIT, 0, 0, 0]);
    check!(3, reply == Ok([QUIT, 0, 0, 0]), "quit: {reply:?}");
    0
}

/// ERRORS: every `IpcError` the IPC syscalls can return, each from a real
/// misuse.
fn errors() -> u64 {
    let Ok((own, own_send)) = Endpoint::create(0) else {
        return 1;
    };
    let mut seen = 0u32;
    let mut expect = |n: u64, error: IpcError, got: Result<(), IpcError>, how: &str| -> u64 {
        if got == Err(error) {
            println!("ipctest: error {error}: {how}");
            seen |= 1 << error.code();
            0
        } else {
            println!("ipctest: check {n} failed: {how}: expected {error}, got {got:?}");
            n
        }
    };
    macro_rules! try_check {
        ($e:expr) => {
            let failed = $e;
            if failed != 0 {
                return failed;
            }
        };
    }

    // InvalidCapability: a token that names nothing.
    try_check!(expect(
        10,
        IpcError::InvalidCapability,
        Endpoint(0x0000_0007_0000_0123)
            .send_recv([0; 4])
            .map(|_| ()),
        "call through a forged token"
    ));
    // ProcessNotFound: granting to a process that does not exist.
    try_check!(expect(
        11,
        IpcError::ProcessNotFound,
        rt::ipc::grant(own_send.0, 999_999, Rights::SEND, 0).map(|_| ()),
        "grant to pid 999999"
    ));
    // MessageTooLarge: a 32-byte message through a 16-byte endpoint.
    let Ok((_small, small_send)) = Endpoint::create(16) else {
        return 12;
    };
    try_check!(expect(
        12,
        IpcError::MessageTooLarge,
        small_send.send_recv([1, 2, 3, 4]).map(|_| ()),
        "call with 32 bytes through a capability limited to 16"
    ));
    // OutOfMemory: derive until the capability space is full.
    let Ok((hoard, _)) = Endpoint::create(0) else {
        return 13;
    };
    let mut derived = 0;
    let full = loop {
        match rt::ipc::derive(hoard.0, Rights::SEND.shareable(), 0) {
            Ok(_) => derived += 1,
            Err(e) => break Err(e),
        }
        if derived > 10_000 {
            break Ok(());
        }
    };
    try_check!(expect(
        13,
        IpcError::OutOfMemory,
        full,
        "derive until the capability space is full"
    ));
    println!("ipctest: (the space took {derived} derived capabilities)");
    let freed = rt::ipc::revoke(hoard.0);
    check!(
        14,
        freed == Ok(derived + 2),
        "revoking the hoard (root, its send capability and {derived} derived) freed {freed:?}"
    );
    // WouldBlock: send with no receiver waiting; non-blocking receive with
    // no caller queued.
    try_check!(expect(
        15,
        IpcError::WouldBlock,
        own_send.send([1, 0, 0, 0]),
        "send with no receiver waiting"
    ));
    try_check!(expect(
        16,
        IpcError::WouldBlock,
        own.try_recv().map(|_| ()),
        "non-blocking receive with no caller"
    ));
    // Timeout: a receive whose deadline passes.
    let (now, hz, _) = rt::time();
    try_check!(expect(
        17,
        IpcError::Timeout,
        own.recv_until(now + hz / 500).map(|_| ()),
        "receive with a 2 ms deadline and no caller"
    ));
    // PermissionDenied: receiving through a send-only capability; deriving
    // more rights than the source has.
    try_check!(expect(
        18,
        IpcError::PermissionDenied,
        own_send.recv().map(|_| ()),
        "receive through a send-only capability"
    ));
    try_check!(expect(
        19,
        IpcError::PermissionDenied,
        rt::ipc::derive(own_send.0, Rights::RECEIVE, 0).map(|_| ()),
        "derive a receive right from a send-only capability"
    ));
    // BadAddress: metrics into a kernel address.
    let r = rt::raw(
        ipc::abi::Opcode::MetricsRead as u64,
        own.0,
        [0xffff_8000_0000_0000, 0, 0, 0],
    );
    try_check!(expect(
        20,
        IpcError::BadAddress,
        match r.status {
            0 => Ok(()),
            code => Err(IpcError::from_code(code).unwrap_or(IpcError::InvalidArgument)),
        },
        "metrics_read into a kernel address"
    ));
    // Deadlock: calling our own endpoint, which nobody else can receive on.
    try_check!(expect(
        21,
        IpcError::Deadlock,
        own_send.send_recv([0; 4]).map(|_| ()),
        "call to our own endpoint with no other receiver possible"
    ));
    // InvalidArgument: contradictory flags.
    let r = rt::raw(ipc::abi::Opcode::Recv as u64 | (3 << 32), own.0, [0; 4]);
    try_check!(expect(
        22,
        IpcError::InvalidArgument,
        match r.status {
            0 => Ok(()),
            code => Err(IpcError::from_code(code).unwrap_or(IpcError::BadAddress)),
        },
        "receive with both NONBLOCK and TIMEOUT"
    ));
    // RateLimitExceeded: a child calls twice through a 1 message/s
    // capability (then quits through an unlimited one).
    let child = spawn_role(role::RATE_CLIENT, 1, None);
    check!(23, child.is_ok(), "spawn: {child:?}");
    let child = child.unwrap_or(0);
    let limited = rt::ipc::grant(own_send.0, child, Rights::SEND.rate(1), 0);
    let plain = rt::ipc::grant(own_send.0, child, Rights::SEND, 0);
    check!(
        24,
        limited.is_ok() && plain.is_ok(),
        "grants {limited:?} {plain:?}"
    );
    let served = serve_until_quit(own);
    check!(
        25,
        served == Ok(1),
        "the rate-limited child got {served:?} calls through"
    );
    check!(26, exited_ok(child), "rate child failed");
    seen |= 1 << IpcError::RateLimitExceeded.code();
    println!(
        "ipctest: error rate_limit_exceeded: second call within a second through a 1 msg/s capability"
    );
    // A large message whose bytes were damaged after sealing.
    let damaged = (|| {
        let (region, _, _) = rt::shm::Region::create(4096, None)?;
        let mapping = region.map(rt::shm::MAP_WRITE)?;
        let descriptor = ipc::message::MemoryRegion::new(
            mapping.base as u64,
            mapping.size,
            ipc::message::RegionPermissions::READ,
            ipc::message::CachePolicy::WriteBack,
        );
        let (endpoint, _) = Endpoint::create(1 << 20)?;
        let message = ipc::message::LargeMessage::new(endpoint.0, 1, 0, &[7; 64], descriptor, 100)?;
        let mut bytes = message.to_bytes();
        bytes[100] ^= 1;
        let bad = ipc::message::LargeMessage::from_bytes(&bytes);
        let result = rt::shm::hand_over(endpoint, region, &bad);
        let _ = rt::ipc::revoke(region.0);
        let _ = rt::ipc::revoke(endpoint.0);
        result
    })();
    check!(
        29,
        damaged == Err(IpcError::ChecksumMismatch),
        "damaged large message: {damaged:?}"
    );
    seen |= 1 << IpcError::ChecksumMismatch.code();
    println!("ipctest: error checksum_mismatch: a large message damaged after sealing");
    let missing: u32 = IpcError::ALL
        .iter()
        .filter(|e| seen & (1 << e.code()) == 0)
        .count() as u32;
    check!(27, missing == 0, "{missing} error variants not produced");
    let dumped = rt::ipc::audit_dump();
    check!(
        28,
        matches!(dumped, Ok((n, _)) if n > 0),
        "audit dump {dumped:?}"
    );
    0
}

/// Serves calls on `server` (replying with the message) until QUIT;
/// returns how many non-QUIT calls came.
fn serve_until_quit(server: Endpoint) -> Result<u64, IpcError> {
    let mut served = 0;
    let mut message = server.recv()?;
    loop {
        if message.data[0] == QUIT {
            rt::ipc::reply(message.data)?;
            return Ok(served);
        }
        served += 1;
        message = server.reply_recv(message.data)?;
    }
}

/// RATE_CLIENT: `RATE_CALLS` (or, from ERRORS, 2) calls through slot 0,
/// counted, then QUIT through slot 1; exit 0 iff exactly the limit passed.
fn rate_client() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(1), CAP_TRIES),
        "no capabilities"
    );
    let limited = Endpoint(initial_cap(0));
    let plain = Endpoint(initial_cap(1));
    let info = rt::ipc::info(limited.0);
    let limit = info.map_or(0, |i| i.rights.rate_limit);
    check!(2, limit > 0, "slot 0 is not rate limited: {info:?}");
    let offered = if limit == 1 { 2 } else { RATE_CALLS };
    let (mut passed, mut rejected) = (0, 0);
    for i in 0..offered {
        match limited.send_recv([i, 0, 0, 0]) {
            Ok(_) => passed += 1,
            Err(IpcError::RateLimitExceeded) => rejected += 1,
            Err(e) => {
                println!("ipctest: call {i} failed: {e}");
                return 3;
            }
        }
    }
    println!(
        "ipctest: rate {limit}/s: {offered} calls offered, {passed} passed, {rejected} rejected"
    );
    let _ = plain.send_recv([QUIT, 0, 0, 0]);
    check!(
        4,
        passed == u64::from(limit) && rejected == offered - passed,
        "expected exactly {limit} to pass"
    );
    0
}

/// RATE: a child offers `RATE_CALLS` calls back to back through a capability
/// limited to `RATE_LIMIT`/s; exactly `RATE_LIMIT` reach this server.
fn rate() -> u64 {
    let Ok((server, send)) = Endpoint::create(0) else {
        return 1;
    };
    let child = spawn_role(role::RATE_CLIENT, 0, None);
    check!(2, child.is_ok(), "spawn: {child:?}");
    let child = child.unwrap_or(0);
    let limited = rt::ipc::grant(send.0, child, Rights::SEND.rate(RATE_LIMIT), 0);
    let plain = rt::ipc::grant(send.0, child, Rights::SEND, 0);
    check!(
        3,
        limited == Ok(initial_cap(0)) && plain == Ok(initial_cap(1)),
        "grants"
    );
    let served = serve_until_quit(server);
    check!(
        4,
        served == Ok(u64::from(RATE_LIMIT)),
        "{served:?} calls reached the server"
    );
    check!(5, exited_ok(child), "client failed");
    0
}

/// Message word 0 of the REVOKE client's calls.
mod revoke_step {
    pub const GRANTED: u64 = 1;
    pub const DERIVED: u64 = 2;
    pub const REVOKE_NOW: u64 = 3;
}

/// REVOKE: this server grants a child a capability derived from an
/// intermediate one (`middle`); the child derives its own from it; when the
/// child asks, the server revokes `middle` before replying, and the child's
/// very next operations through either capability fail.
fn revoke() -> u64 {
    let Ok((server, send)) = Endpoint::create(0) else {
        return 1;
    };
    let middle = rt::ipc::derive(send.0, Rights::SEND.shareable(), 0);
    check!(2, middle.is_ok(), "derive: {middle:?}");
    let middle = middle.unwrap_or(0);
    let child = spawn_role(role::REVOKE_CLIENT, 0, None);
    check!(3, child.is_ok(), "spawn: {child:?}");
    let child = child.unwrap_or(0);
    let granted = rt::ipc::grant(middle, child, Rights::SEND.shareable(), 0x77);
    check!(4, granted == Ok(initial_cap(0)), "grant: {granted:?}");
    let mut message = server.recv();
    for expected in [revoke_step::GRANTED, revoke_step::DERIVED] {
        let Ok(m) = message else {
            println!("ipctest: recv failed: {message:?}");
            return 5;
        };
        check!(6, m.data[0] == expected && m.badge == 0x77, "got {m:?}");
        message = server.reply_recv([expected, 0, 0, 0]);
    }
    let Ok(m) = message else { return 7 };
    check!(8, m.data[0] == revoke_step::REVOKE_NOW, "got {m:?}");
    // The middle capability, the child's, and the one the child derived.
    let killed = rt::ipc::revoke(middle);
    check!(9, killed == Ok(3), "revoke killed {killed:?}");
    check!(
        10,
        rt::ipc::info(send.0).is_ok(),
        "our own send capability died too"
    );
    check!(
        11,
        rt::ipc::reply([revoke_step::REVOKE_NOW, 0, 0, 0]).is_ok(),
        "reply"
    );
    check!(12, exited_ok(child), "client failed");
    check!(
        13,
        server.try_recv() == Err(IpcError::WouldBlock),
        "a call got through after revocation"
    );
    println!("ipctest: revoking the delegated parent killed 3 capabilities in 2 spaces at once");
    0
}

/// REVOKE_CLIENT: see [`revoke`].
fn revoke_client() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let granted = Endpoint(initial_cap(0));
    let r = granted.send_recv([revoke_step::GRANTED, 0, 0, 0]);
    check!(
        2,
        r == Ok([revoke_step::GRANTED, 0, 0, 0]),
        "granted call: {r:?}"
    );
    let derived = rt::ipc::derive(granted.0, Rights::SEND, 0);
    check!(3, derived.is_ok(), "derive: {derived:?}");
    let derived = Endpoint(derived.unwrap_or(0));
    let r = derived.send_recv([revoke_step::DERIVED, 0, 0, 0]);
    check!(
        4,
        r == Ok([revoke_step::DERIVED, 0, 0, 0]),
        "derived call: {r:?}"
    );
    let r = granted.send_recv([revoke_step::REVOKE_NOW, 0, 0, 0]);
    check!(
        5,
        r == Ok([revoke_step::REVOKE_NOW, 0, 0, 0]),
        "revoke call: {r:?}"
    );
    // The server revoked before replying: nothing works any more.
    let r = granted.send_recv([9, 0, 0, 0]);
    check!(
        6,
        r == Err(IpcError::InvalidCapability),
        "granted after revoke: {r:?}"
    );
    let r = derived.send_recv([9, 0, 0, 0]);
    check!(
        7,
        r == Err(IpcError::InvalidCapability),
        "derived after revoke: {r:?}"
    );
    let r = rt::ipc::info(derived.0);
    check!(
        8,
        r == Err(IpcError::InvalidCapability),
        "info after revoke: {r:?}"
    );
    let r = rt::ipc::derive(granted.0, Rights::SEND, 0);
    check!(
        9,
        r == Err(IpcError::InvalidCapability),
        "derive after revoke: {r:?}"
    );
    0
}

/// KILL_SERVER: a server holds one client's call (another client's call is
/// queued behind it) and is killed; both clients wake with ProcessNotFound,
/// and calling the dead server again fails the same way.
fn kill_server() -> u64 {
    let Ok((driver, driver_send)) = Endpoint::create(0) else {
        return 1;
    };
    let a = spawn_role(role::DOOMED_CLIENT, 0, None);
    let b = spawn_role(role::DOOMED_CLIENT, 0, None);
    check!(2, a.is_ok() && b.is_ok(), "spawn clients: {a:?} {b:?}");
    let (a, b) = (a.unwrap_or(0), b.unwrap_or(0));
    let server = spawn_role(
        role::DOOMED_SERVER,
        u64::from(a) | (u64::from(b) << 24),
        None,
    );
    check!(3, server.is_ok(), "spawn server: {server:?}");
    let server = server.unwrap_or(0);
    let granted = rt::ipc::grant(driver_send.0, server, Rights::SEND, 0x5e);
    check!(4, granted == Ok(initial_cap(0)), "grant: {granted:?}");
    let holding = driver.recv();
    check!(
        5,
        matches!(holding, Ok(m) if m.badge == 0x5e),
        "server did not report: {holding:?}"
    );
    check!(6, rt::kill(server).is_ok(), "kill");
    check!(
        7,
        rt::wait(server).map(|r| r.0) == Ok(1),
        "server not killed"
    );
    let r = rt::ipc::reply([0; 4]);
    check!(
        8,
        r == Err(IpcError::InvalidCapability),
        "reply to the dead server: {r:?}"
    );
    check!(9, exited_ok(a), "client A failed");
    check!(10, exited_ok(b), "client B failed");
    println!("ipctest: killed server woke its caller and its queued caller with process_not_found");
    0
}

/// DOOMED_SERVER: grants both clients (pids in `param`), receives one call,
/// waits until the other is queued, tells the driver, and is killed there.
fn doomed_server(param: u64) -> u64 {
    let (a, b) = ((param & 0xff_ffff) as u32, (param >> 24) as u32);
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no driver capability"
    );
    let driver = Endpoint(initial_cap(0));
    let Ok((server, send)) = Endpoint::create(0) else {
        return 2;
    };
    for pid in [a, b] {
        let g = rt::ipc::grant(send.0, pid, Rights::SEND, 0);
        check!(3, g == Ok(initial_cap(0)), "grant to {pid}: {g:?}");
    }
    let held = server.recv();
    check!(4, held.is_ok(), "recv {held:?}");
    // Both calls arrived (one held, one queued) once two were sent.
    for _ in 0..CAP_TRIES {
        if server.metrics().is_ok_and(|m| m.messages_sent >= 2) {
            break;
        }
        rt::yield_now();
    }
    let _ = driver.send_recv([1, 0, 0, 0]);
    println!("ipctest: doomed server was not killed");
    5
}

/// DOOMED_CLIENT: see [`kill_server`].
fn doomed_client() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let server = Endpoint(initial_cap(0));
    let r = server.send_recv([1, 2, 3, 4]);
    check!(2, r == Err(IpcError::ProcessNotFound), "call: {r:?}");
    let r = server.send_recv([1, 2, 3, 4]);
    check!(
        3,
        r == Err(IpcError::ProcessNotFound),
        "call to the dead server: {r:?}"
    );
    0
}

/// HAMMER: `HAMMER_CLIENTS` clients (spread over two CPUs when there are
/// two) each make `HAMMER_CALLS` calls with sequence numbers to this
/// server; every message arrives, in order per client, none twice.
fn hammer() -> u64 {
    let Ok((server, send)) = Endpoint::create(0) else {
        return 1;
    };
    let here = this_cpu();
    let other = if here == 0 { 1 } else { 0 };
    let two = cpu_online(other);
    let mut pids = [0u32; HAMMER_CLIENTS];
    for (i, pid) in pids.iter_mut().enumerate() {
        let cpu = if two && i % 2 == 1 { other } else { here };
        let badge = i as u64 + 1;
        let spawned = spawn_role(role::HAMMER_CLIENT, badge, Some(cpu));
        check!(2, spawned.is_ok(), "spawn {i}: {spawned:?}");
        *pid = spawned.unwrap_or(0);
        let g = rt::ipc::grant(send.0, *pid, Rights::SEND, badge);
        check!(3, g == Ok(initial_cap(0)), "grant {i}: {g:?}");
    }
    println!(
        "ipctest: {HAMMER_CLIENTS} clients on {} CPU(s), {HAMMER_CALLS} calls each",
        if two { 2 } else { 1 }
    );
    let mut next = [0u64; HAMMER_CLIENTS];
    let (mut done, mut total) = (0, 0u64);
    let mut message = server.recv();
    loop {
        let Ok(m) = message else {
            println!("ipctest: receive failed: {message:?}");
            return 4;
        };
        let client = m.badge.wrapping_sub(1) as usize;
        check!(5, client < HAMMER_CLIENTS, "unknown badge {:#x}", m.badge);
        let [seq, id, _, _] = m.data;
        check!(6, id == m.badge, "client {client} claims to be {id}");
        if seq == QUIT {
            check!(
                7,
                next[client] == HAMMER_CALLS,
                "client {client} quit after {} calls",
                next[client]
            );
            done += 1;
            if done == HAMMER_CLIENTS {
                check!(8, rt::ipc::reply([QUIT, id, 0, 0]).is_ok(), "last reply");
                break;
            }
        } else {
            check!(
                9,
                seq == next[client],
                "client {client}: got #{seq}, expected #{}",
                next[client]
            );
            next[client] += 1;
            total += 1;
        }
        message = server.reply_recv([seq, id, 0, 0]);
    }
    for (i, &pid) in pids.iter().enumerate() {
        check!(10, exited_ok(pid), "client {i} failed");
    }
    check!(
        11,
        total == HAMMER_CLIENTS as u64 * HAMMER_CALLS,
        "{total} messages"
    );
    println!(
        "ipctest: {total} sequenced calls from {HAMMER_CLIENTS} clients, none lost or repeated"
    );
    0
}

/// HAMMER_CLIENT with badge `id`.
fn hammer_client(id: u64) -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let server = Endpoint(initial_cap(0));
    for seq in 0..HAMMER_CALLS {
        let r = server.send_recv([seq, id, 0, 0]);
        check!(2, r == Ok([seq, id, 0, 0]), "call #{seq}: {r:?}");
    }
    let r = server.send_recv([QUIT, id, 0, 0]);
    check!(3, r.is_ok(), "quit: {r:?}");
    0
}

/// Spins for `ms` milliseconds of TSC time without blocking; exits 0.
fn spin_ms(ms: u64) -> u64 {
    let (start, hz, _) = rt::time();
    let until = start + hz / 1000 * ms;
    let mut x = 1u64;
    while rt::arch::rdtsc() < until {
        x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    0
}

/// INVERSION, the classic scenario on one CPU: a low-priority server (5) is
/// busy with a low client's (8) call when a medium hog (15) starts spinning;
/// then a high client (25) calls the server and is queued behind the call in
/// progress. With inheritance the queued client lends 25 to the server, which
/// preempts the hog, finishes, and serves the client while the hog still
/// runs; without it the hog starves the server and finishes first. The
/// verdict is the order of events, not a time.
/// INVERSION's parameter: bit 0 inheritance expected on; bit 1 benchmark
/// mode; bits 2.. the number of repetitions in benchmark mode. In benchmark
/// mode the high client's call latencies go into `sched.pi.with_pi` or
/// `sched.pi.without_pi` (`@bench` + `@hist`, unit ns).
fn inversion_runs(param: u64) -> u64 {
    let pi = param & 1 == 1;
    if param & 2 == 0 {
        return inversion(pi).0;
    }
    let reps = (param >> 2).max(1);
    let name = if pi {
        "sched.pi.with_pi"
    } else {
        "sched.pi.without_pi"
    };
    // SAFETY: the histogram is touched only by this single-threaded program.
    let hist = unsafe { &mut *core::ptr::addr_of_mut!(PI_HIST) };
    let hz = rt::time().1;
    let Some(mut recorder) = rt::bench::Recorder::new(name, perf::record::Unit::Ns, reps, hz, hist)
    else {
        println!("ipctest: {name}: a recorder is already running");
        return 1;
    };
    // One sample, one interval and one `@progress` per repetition (each
    // takes a few seconds, during which a hog owns this CPU). Performance
    // model: each operation is the high client's call (its markers are in
    // `inv_client`).
    pi_window(pi, true);
    for _ in 0..reps {
        let (code, latency_ns) = inversion(pi);
        if code != 0 {
            return code;
        }
        recorder.record(latency_ns.max(1));
        recorder.tick(rt::arch::rdtsc());
    }
    pi_window(pi, false);
    // Each repetition is a whole scenario of several processes: no
    // per-operation counter values to report.
    recorder.finish(rt::arch::rdtsc(), &rt::bench::Counts::default());
    0
}

/// Opens (`open`) or closes the performance-model window of
/// `sched.pi.with_pi` (`pi`) or `sched.pi.without_pi`.
fn pi_window(pi: bool, open: bool) {
    use perf::marker::bench_id;
    use rt::marker::{window_begin, window_end};
    const WITH: u32 = bench_id("sched.pi.with_pi");
    const WITHOUT: u32 = bench_id("sched.pi.without_pi");
    match (pi, open) {
        (true, true) => window_begin::<WITH>(),
        (true, false) => window_end::<WITH>(),
        (false, true) => window_begin::<WITHOUT>(),
        (false, false) => window_end::<WITHOUT>(),
    }
}

static mut PI_HIST: perf::histogram::Histogram = perf::histogram::Histogram::new();

/// One run of the inversion scenario: (0 or the failed check, the high
/// client's call latency in ns).
fn inversion(pi: bool) -> (u64, u64) {
    let cpu = this_cpu();
    let at = |priority| Placement {
        cpu: Some(cpu),
        priority,
    };
    let Ok((recv_ep, send_ep)) = Endpoint::create(0) else {
        return (1, 0);
    };
    let server = rt::spawn("ipctest", role::INV_SERVER, at(5));
    check2!(2, server.is_ok(), "server spawn: {server:?}");
    let server = server.unwrap_or(0);
    check2!(
        3,
        rt::ipc::grant(recv_ep.0, server, Rights::RECEIVE, 0) == Ok(initial_cap(0)),
        "grant to server"
    );
    rt::sleep_ns(SETTLE_MS * 1_000_000); // the server reaches recv
    let low = rt::spawn("ipctest", role::INV_LOW, at(8));
    check2!(4, low.is_ok(), "low client spawn: {low:?}");
    let low = low.unwrap_or(0);
    check2!(
        5,
        rt::ipc::grant(send_ep.0, low, Rights::SEND, 0) == Ok(initial_cap(0)),
        "grant to low client"
    );
    rt::sleep_ns(SETTLE_MS * 1_000_000); // the server takes the low call
    // The high client starts the hog itself (so it knows the hog's pid).
    let client = rt::spawn("ipctest", role::INV_CLIENT | (u64::from(cpu) << 8), at(25));
    check2!(6, client.is_ok(), "client spawn: {client:?}");
    let client = client.unwrap_or(0);
    check2!(
        7,
        rt::ipc::grant(send_ep.0, client, Rights::SEND, 0) == Ok(initial_cap(0)),
        "grant to client"
    );
    let client_code = rt::wait(client);
    let low_ok = exited_ok(low);
    let server_ok = exited_ok(server);
    let expected = if pi { HOG_ALIVE } else { HOG_DONE };
    let code = client_code.map(|r| r.1).unwrap_or(0);
    let (got, latency_ns) = (code & 0xff, code >> 8);
    println!(
        "ipctest: inversion with inheritance {}: the high client's reply came {} (expected {})",
        if pi { "on" } else { "off" },
        if got == HOG_ALIVE {
            "while the hog still ran"
        } else {
            "after the hog finished"
        },
        if expected == HOG_ALIVE {
            "while the hog ran"
        } else {
            "after the hog"
        }
    );
    check2!(8, low_ok && server_ok, "low client or server failed");
    check2!(
        9,
        got == expected,
        "client exit code {got}, expected {expected}"
    );
    (0, latency_ns)
}

fn inv_server() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no receive capability"
    );
    let ep = Endpoint(initial_cap(0));
    for work in [LOW_WORK_MS, SERVER_WORK_MS] {
        let Ok(call) = ep.recv() else { return 2 };
        spin_ms(work);
        check!(
            3,
            rt::ipc::reply([call.data[0] + 1, 0, 0, 0]).is_ok(),
            "reply failed"
        );
    }
    0
}

fn inv_low() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no send capability"
    );
    let reply = Endpoint(initial_cap(0)).send_recv([1, 0, 0, 0]);
    check!(
        2,
        reply.map(|r| r[0]) == Ok(2),
        "low call failed: {reply:?}"
    );
    0
}

fn inv_client(cpu: u32) -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no send capability"
    );
    let hog = rt::spawn(
        "ipctest",
        role::INV_HOG,
        Placement {
            cpu: Some(cpu),
            priority: 15,
        },
    );
    check!(2, hog.is_ok(), "hog spawn: {hog:?}");
    let hog = hog.unwrap_or(0);
    rt::sleep_ns(CLIENT_DELAY_MS * 1_000_000);
    // The hog must be running (alive) when we call, or the test proves nothing.
    check!(
        3,
        rt::proc_info(hog).is_ok(),
        "the hog is not running when the client calls"
    );
    // The measured call is one operation of the performance model's
    // `sched.pi.*` window (outside a window the markers count nothing).
    rt::marker::op_begin();
    let (t0, hz, _) = rt::time();
    let reply = Endpoint(initial_cap(0)).send_recv([41, 0, 0, 0]);
    let alive = rt::proc_info(hog).is_ok();
    let (t1, _, _) = rt::time();
    rt::marker::op_end();
    println!(
        "ipctest: high client's call took {} us (hog {})",
        (t1 - t0) * 1_000_000 / hz.max(1),
        if alive { "still running" } else { "finished" }
    );
    let hog_end = rt::wait(hog);
    check!(4, reply.map(|r| r[0]) == Ok(42), "call failed: {reply:?}");
    check!(5, hog_end == Ok((0, 0, 0)), "hog ended with {hog_end:?}");
    let latency_ns = (t1 - t0) * 1_000_000_000 / hz.max(1);
    // Exit code: the verdict in the low byte, the latency (ns) above it.
    (latency_ns << 8) | if alive { HOG_ALIVE } else { HOG_DONE }
}

/// DONATION: this process (the client) calls a lower-priority server on its
/// own CPU. Once the server has answered through `reply_recv` it is parked
/// in the fast path, and the next call runs it on the client's behalf
/// without the scheduler (scheduling-context donation). Each request below
/// follows an echo, so it is served under a donation, and makes the server
/// do something that needs the scheduler's books: it must be answered right
/// and the server must see the client's priority lent to it. The fault must
/// reach the client as `ProcessNotFound`, not a hang.
fn donation() -> u64 {
    let here = this_cpu();
    let at = |priority| Placement {
        cpu: Some(here),
        priority,
    };
    let me = rt::proc_info(rt::self_pid());
    check!(1, me.is_ok(), "proc_info: {me:?}");
    let my_priority = me.map_or(0, |i| i.2);
    let server_priority = 3u8;
    check!(
        2,
        my_priority > u64::from(server_priority),
        "client priority {my_priority} too low for the scenario"
    );
    let (Ok((server_ep, send)), Ok((nested_ep, nested_send))) =
        (Endpoint::create(0), Endpoint::create(0))
    else {
        return 3;
    };
    let server = rt::spawn("ipctest", role::DON_SERVER, at(server_priority));
    let nested = rt::spawn("ipctest", role::DON_NESTED, at(server_priority));
    check!(
        4,
        server.is_ok() && nested.is_ok(),
        "spawn: {server:?} {nested:?}"
    );
    let (server, nested) = (server.unwrap_or(0), nested.unwrap_or(0));
    let grants = [
        rt::ipc::grant(server_ep.0, server, Rights::RECEIVE, 0),
        rt::ipc::grant(nested_send.0, server, Rights::SEND, 0),
        rt::ipc::grant(nested_ep.0, nested, Rights::RECEIVE, 0),
    ];
    check!(
        5,
        grants == [Ok(initial_cap(0)), Ok(initial_cap(1)), Ok(initial_cap(0))],
        "grants: {grants:?}"
    );
    let call = |op: u64, arg: u64| send.send_recv([op, arg, 0, 0]);
    let echo = |n: u64| call(don::ECHO, n) == Ok([n + 1, 0, 0, 0]);
    // Warm up: the first call finds the server in a general `recv`.
    for n in 0..3 {
        check!(6, echo(n), "echo {n}");
    }
    let lent = |r: Result<[u64; 4], IpcError>| matches!(r, Ok([e, b, _, _]) if e == my_priority && b == u64::from(server_priority));
    check!(7, echo(10), "echo");
    let r = call(don::PRIORITY, 0);
    check!(8, lent(r), "priority under a donation: {r:?}");
    check!(9, echo(11), "echo");
    let r = call(don::SPIN, 30);
    check!(10, lent(r), "priority after 30 ms of ticks: {r:?}");
    check!(11, echo(12), "echo");
    let r = call(don::SPAWN, 42);
    check!(12, r == Ok([42, 0, 0, 0]), "spawn and wait: {r:?}");
    check!(13, echo(13), "echo");
    let r = call(don::NESTED, 7);
    check!(14, r == Ok([8, 0, 0, 0]), "nested call: {r:?}");
    check!(15, echo(14), "echo");
    let r = call(don::SPLIT, 99);
    check!(16, r == Ok([100, 0, 0, 0]), "reply then recv: {r:?}");
    for n in 0..200 {
        check!(17, echo(n), "echo {n}");
    }
    let r = call(don::FAULT, 0);
    check!(
        18,
        r == Err(IpcError::ProcessNotFound),
        "server fault: {r:?}"
    );
    let ended = rt::wait(server);
    check!(
        19,
        matches!(ended, Ok((2, 14, _))),
        "server ended {ended:?}"
    );
    let quit = nested_send.send_recv([QUIT, 0, 0, 0]);
    check!(20, quit == Ok([QUIT, 0, 0, 0]), "nested quit: {quit:?}");
    check!(21, exited_ok(nested), "nested server failed");
    println!(
        "ipctest: donated calls answered through a priority query, ticks, spawn, nested call, split reply and a fault"
    );
    // Killed from another CPU while it serves (the kill may land before the
    // server's CPU has put the donation in its books, or after).
    let other = if here == 0 { 1 } else { 0 };
    if !cpu_online(other) {
        println!("ipctest: one CPU: no kill from another CPU");
        return 0;
    }
    let (Ok((server_ep, send)), Ok((killer_ep, killer_send))) =
        (Endpoint::create(0), Endpoint::create(0))
    else {
        return 22;
    };
    let server = rt::spawn("ipctest", role::DON_SERVER, at(server_priority));
    let killer = spawn_role(role::DON_KILLER, 0, Some(other));
    check!(
        23,
        server.is_ok() && killer.is_ok(),
        "spawn: {server:?} {killer:?}"
    );
    let (server, killer) = (server.unwrap_or(0), killer.unwrap_or(0));
    let grants = [
        rt::ipc::grant(server_ep.0, server, Rights::RECEIVE, 0),
        rt::ipc::grant(nested_send.0, server, Rights::SEND, 0),
        rt::ipc::grant(killer_ep.0, killer, Rights::RECEIVE, 0),
    ];
    check!(
        24,
        grants == [Ok(initial_cap(0)), Ok(initial_cap(1)), Ok(initial_cap(0))],
        "grants: {grants:?}"
    );
    let call = |op: u64, arg: u64| send.send_recv([op, arg, 0, 0]);
    for n in 0..3 {
        check!(25, call(don::ECHO, n) == Ok([n + 1, 0, 0, 0]), "echo {n}");
    }
    // The killer strikes once the server is switched in for the next call.
    let ins = rt::proc_info(server).map_or(0, |i| i.0);
    let mut told = killer_send.send([u64::from(server), ins, 0, 0]);
    for _ in 0..CAP_TRIES {
        if told != Err(IpcError::WouldBlock) {
            break;
        }
        rt::yield_now();
        told = killer_send.send([u64::from(server), ins, 0, 0]);
    }
    check!(29, told.is_ok(), "tell the killer: {told:?}");
    let r = call(don::KILLED, 0);
    check!(
        26,
        r == Err(IpcError::ProcessNotFound),
        "server killed: {r:?}"
    );
    let ended = rt::wait(server);
    check!(27, matches!(ended, Ok((1, _, _))), "server ended {ended:?}");
    check!(28, exited_ok(killer), "killer failed");
    println!(
        "ipctest: a server killed from another CPU while it served a donated call woke its client"
    );
    // The client killed from another CPU while its call is served: the
    // killer strikes when the server's priority shows the client's loan.
    let (Ok((server_ep, send)), Ok((killer_ep, killer_send))) =
        (Endpoint::create(0), Endpoint::create(0))
    else {
        return 30;
    };
    let server = rt::spawn("ipctest", role::DON_SERVER, at(server_priority));
    let victim = spawn_role(role::DON_VICTIM, 0, Some(here));
    let killer = spawn_role(role::DON_KILLER, 1, Some(other));
    check!(
        31,
        server.is_ok() && victim.is_ok() && killer.is_ok(),
        "spawn: {server:?} {victim:?} {killer:?}"
    );
    let (server, victim, killer) = (
        server.unwrap_or(0),
        victim.unwrap_or(0),
        killer.unwrap_or(0),
    );
    let grants = [
        rt::ipc::grant(server_ep.0, server, Rights::RECEIVE, 0),
        rt::ipc::grant(nested_send.0, server, Rights::SEND, 0),
        rt::ipc::grant(killer_ep.0, killer, Rights::RECEIVE, 0),
        rt::ipc::grant(send.0, victim, Rights::SEND, 0),
    ];
    check!(
        32,
        grants
            == [
                Ok(initial_cap(0)),
                Ok(initial_cap(1)),
                Ok(initial_cap(0)),
                Ok(initial_cap(0))
            ],
        "grants: {grants:?}"
    );
    let mut told = killer_send.send([u64::from(victim), u64::from(server), 0, 0]);
    for _ in 0..CAP_TRIES {
        if told != Err(IpcError::WouldBlock) {
            break;
        }
        rt::yield_now();
        told = killer_send.send([u64::from(victim), u64::from(server), 0, 0]);
    }
    check!(33, told.is_ok(), "tell the killer: {told:?}");
    let ended = rt::wait(victim);
    check!(34, matches!(ended, Ok((1, _, _))), "victim ended {ended:?}");
    check!(35, exited_ok(killer), "killer failed");
    let r = send.send_recv([don::ECHO, 5, 0, 0]);
    check!(
        36,
        r == Ok([6, 0, 0, 0]),
        "server after its client died: {r:?}"
    );
    let r = send.send_recv([don::QUIT, 0, 0, 0]);
    check!(37, r == Ok([QUIT, 0, 0, 0]), "server quit: {r:?}");
    check!(38, exited_ok(server), "server failed");
    println!(
        "ipctest: a client killed from another CPU while its donated call was served died alone"
    );
    0
}

/// DON_VICTIM: see [`donation`].
fn don_victim() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let server = Endpoint(initial_cap(0));
    loop {
        let r = server.send_recv([don::WORK, 1, 0, 0]);
        check!(2, r == Ok([1, 0, 0, 0]), "work: {r:?}");
    }
}

/// DON_KILLER: see [`donation`].
fn don_killer(param: u64) -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let Ok(m) = Endpoint(initial_cap(0)).recv() else {
        return 2;
    };
    let [pid, arg, _, _] = m.data;
    let pid = pid as u32;
    if param == 0 {
        // `arg`: the victim's switch-ins before the call to strike in.
        while rt::proc_info(pid).is_ok_and(|i| i.0 <= arg) {}
    } else {
        // `arg`: the server whose raised priority shows the victim's call
        // (from its third switch-in on: the first call finds the server in
        // a general `recv`, later ones find it parked and are donated).
        let server = arg as u32;
        while rt::proc_info(server).is_ok_and(|i| i.0 < 3 || i.2 == i.3) {}
    }
    check!(3, rt::kill(pid).is_ok(), "kill {pid}");
    0
}

/// DON_SERVER: see [`donation`].
fn don_server() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(1), CAP_TRIES),
        "no capabilities"
    );
    let ep = Endpoint(initial_cap(0));
    let nested = Endpoint(initial_cap(1));
    let me = rt::self_pid();
    let priority = || rt::proc_info(me).map_or([0; 4], |i| [i.2, i.3, 0, 0]);
    let mut m = match ep.recv() {
        Ok(m) => m,
        Err(e) => {
            println!("ipctest: donation server recv: {e:?}");
            return 2;
        }
    };
    loop {
        let [op, arg, _, _] = m.data;
        let reply = match op {
            don::ECHO => [arg + 1, 0, 0, 0],
            don::PRIORITY => priority(),
            don::SPIN => {
                spin_ms(arg);
                priority()
            }
            don::SPAWN => {
                let code = rt::spawn(
                    "worker",
                    arg << 8,
                    Placement {
                        cpu: None,
                        priority: 10,
                    },
                )
                .and_then(rt::wait)
                .map_or(u64::MAX, |r| r.1);
                [code, 0, 0, 0]
            }
            don::NESTED => nested.send_recv([arg, 0, 0, 0]).unwrap_or([0; 4]),
            don::SPLIT => {
                check!(3, rt::ipc::reply([arg + 1, 0, 0, 0]).is_ok(), "reply");
                m = match ep.recv() {
                    Ok(m) => m,
                    Err(_) => return 4,
                };
                continue;
            }
            don::FAULT => {
                // SAFETY: none; the page fault is the point (the kernel
                // kills this process).
                unsafe { core::ptr::read_volatile(0x10 as *const u64) };
                return 5;
            }
            don::WORK => {
                spin_ms(arg);
                [1, 0, 0, 0]
            }
            don::QUIT => {
                check!(8, rt::ipc::reply([QUIT, 0, 0, 0]).is_ok(), "quit");
                return 0;
            }
            don::KILLED => loop {
                // No syscall: nothing on this CPU looks at its books
                // until a tick or the kill's IPI.
                spin_ms(1);
            },
            _ => return 6,
        };
        m = match ep.reply_recv(reply) {
            Ok(m) => m,
            Err(_) => return 7,
        };
    }
}

/// DON_NESTED: see [`donation`].
fn don_nested() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let ep = Endpoint(initial_cap(0));
    let mut m = match ep.recv() {
        Ok(m) => m,
        Err(_) => return 2,
    };
    while m.data[0] != QUIT {
        m = match ep.reply_recv([m.data[0] + 1, 0, 0, 0]) {
            Ok(m) => m,
            Err(_) => return 3,
        };
    }
    if rt::ipc::reply([QUIT, 0, 0, 0]).is_err() {
        return 4;
    }
    0
}

/// ENDPOINT_CHURN: endpoints created and revoked in a loop; the kernel
/// frees each at its revocation (the kernel test checks the tables).
fn endpoint_churn() -> u64 {
    for round in 0..ENDPOINT_CHURN_ROUNDS {
        let created = Endpoint::create(0);
        check!(1, created.is_ok(), "create in round {round}: {created:?}");
        let (root, _) = created.unwrap_or((Endpoint(0), Endpoint(0)));
        let revoked = rt::ipc::revoke(root.0);
        check!(2, revoked == Ok(2), "revoke in round {round}: {revoked:?}");
    }
    println!("ipctest: {ENDPOINT_CHURN_ROUNDS} endpoints created and revoked");
    0
}

/// REVOKE_WAKES: see [`scenario::REVOKE_WAKES`].
fn revoke_wakes() -> u64 {
    let Ok((root, send)) = Endpoint::create(0) else {
        return 1;
    };
    let delegated = rt::ipc::derive(root.0, Rights::RECEIVE.shareable(), 0);
    check!(2, delegated.is_ok(), "derive: {delegated:?}");
    let delegated = delegated.unwrap_or(0);
    let receiver = spawn_role(role::RECV_VICTIM, 0, None);
    check!(3, receiver.is_ok(), "spawn: {receiver:?}");
    let receiver = receiver.unwrap_or(0);
    let g = rt::ipc::grant(delegated, receiver, Rights::RECEIVE, 0);
    check!(4, g == Ok(initial_cap(0)), "grant: {g:?}");
    rt::sleep_ns(SETTLE_MS * 1_000_000);
    check!(
        5,
        rt::ipc::revoke(delegated) == Ok(2),
        "revoke the delegated right"
    );
    check!(6, exited_ok(receiver), "the receiver failed or hung");
    let caller = spawn_role(role::CALL_VICTIM, 0, None);
    check!(7, caller.is_ok(), "spawn: {caller:?}");
    let caller = caller.unwrap_or(0);
    let g = rt::ipc::grant(send.0, caller, Rights::SEND, 0);
    check!(8, g == Ok(initial_cap(0)), "grant: {g:?}");
    rt::sleep_ns(SETTLE_MS * 1_000_000);
    let revoked = rt::ipc::revoke(root.0);
    check!(9, revoked == Ok(3), "revoke the root: {revoked:?}");
    check!(10, exited_ok(caller), "the caller failed or hung");
    println!("ipctest: revocation woke a blocked receiver and a queued caller");
    0
}

/// RECV_VICTIM: see [`role::RECV_VICTIM`].
fn recv_victim() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let r = Endpoint(initial_cap(0)).recv();
    check!(2, r == Err(IpcError::InvalidCapability), "recv: {r:?}");
    0
}

/// CALL_VICTIM: see [`role::CALL_VICTIM`].
fn call_victim() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let r = Endpoint(initial_cap(0)).send_recv([1, 2, 3, 4]);
    check!(2, r == Err(IpcError::InvalidCapability), "call: {r:?}");
    0
}

/// RECEIVER_DEATH: see [`scenario::RECEIVER_DEATH`].
fn receiver_death() -> u64 {
    let Ok((root, send)) = Endpoint::create(0) else {
        return 1;
    };
    let Ok((driver, driver_send)) = Endpoint::create(0) else {
        return 2;
    };
    let server = spawn_role(role::DELEGATED_SERVER, 0, None);
    check!(3, server.is_ok(), "spawn server: {server:?}");
    let server = server.unwrap_or(0);
    let g = rt::ipc::grant(root.0, server, Rights::RECEIVE, 0);
    check!(4, g == Ok(initial_cap(0)), "grant receive: {g:?}");
    let g = rt::ipc::grant(driver_send.0, server, Rights::SEND, 0x5e);
    check!(5, g == Ok(initial_cap(1)), "grant driver: {g:?}");
    let mut clients = [0u32; 2];
    for client in &mut clients {
        let pid = spawn_role(role::ORPHANED_CLIENT, 0, None);
        check!(6, pid.is_ok(), "spawn client: {pid:?}");
        *client = pid.unwrap_or(0);
        let g = rt::ipc::grant(send.0, *client, Rights::SEND, 0);
        check!(7, g == Ok(initial_cap(0)), "grant send: {g:?}");
    }
    let holding = driver.recv();
    check!(
        8,
        matches!(holding, Ok(m) if m.badge == 0x5e),
        "server did not report: {holding:?}"
    );
    check!(9, rt::kill(server).is_ok(), "kill");
    check!(
        10,
        rt::wait(server).map(|r| r.0) == Ok(1),
        "server not killed"
    );
    let _ = rt::ipc::reply([0; 4]);
    for client in clients {
        check!(11, exited_ok(client), "client {client} failed or hung");
    }
    println!("ipctest: a delegated server's death failed its held and its queued caller");
    0
}

/// DELEGATED_SERVER: see [`role::DELEGATED_SERVER`].
fn delegated_server() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(1), CAP_TRIES),
        "no capabilities"
    );
    let server = Endpoint(initial_cap(0));
    let driver = Endpoint(initial_cap(1));
    let held = server.recv();
    check!(2, held.is_ok(), "recv {held:?}");
    for _ in 0..CAP_TRIES {
        if server.metrics().is_ok_and(|m| m.messages_sent >= 2) {
            break;
        }
        rt::yield_now();
    }
    let _ = driver.send_recv([1, 0, 0, 0]);
    println!("ipctest: delegated server was not killed");
    3
}

/// ORPHANED_CLIENT: see [`role::ORPHANED_CLIENT`].
fn orphaned_client() -> u64 {
    check!(
        1,
        rt::ipc::wait_for_cap(initial_cap(0), CAP_TRIES),
        "no capability"
    );
    let r = Endpoint(initial_cap(0)).send_recv([1, 2, 3, 4]);
    check!(2, r == Err(IpcError::ProcessNotFound), "call: {r:?}");
    0
}
