//! In-kernel tests of synchronous IPC and capabilities: each runs the
//! `ipctest` user program in one scenario (kernel/user/src/bin/ipctest.rs;
//! exit code 0 = every check inside passed) and, where it matters, checks
//! that nothing leaked. `bench_smoke` runs `ipcbench` briefly.

use alloc::format;

use crate::process::{self, ExitReason};

/// `ipctest` scenario numbers.
mod scenario {
    pub const SAME_CPU: u64 = 1;
    pub const CROSS_CPU: u64 = 2;
    pub const ERRORS: u64 = 3;
    pub const REVOKE: u64 = 4;
    pub const RATE: u64 = 5;
    pub const KILL_SERVER: u64 = 6;
    pub const HAMMER: u64 = 7;
    pub const INVERSION: u64 = 8;
    pub const WAKEUPS: u64 = 9;
    pub const DONATION: u64 = 10;
    pub const ENDPOINT_CHURN: u64 = 11;
    pub const REVOKE_WAKES: u64 = 12;
    pub const RECEIVER_DEATH: u64 = 13;
}

/// Timer ticks (100 Hz) a scenario may take before it is killed as hung.
const MAX_TICKS: u64 = 20_000;

fn run(program: &str, arg: u64) -> crate::ktest::TestResult {
    match process::run_and_wait(program, arg, MAX_TICKS) {
        Ok(ExitReason::Exited(0)) => Ok(()),
        Ok(other) => Err(format!("{program} ended with {other:?}")),
        Err(Some(e)) => Err(format!("spawn failed: {e:?}")),
        Err(None) => Err(format!("timed out after {MAX_TICKS} ticks")),
    }
}

/// Runs a scenario and checks that processes, threads, frames and IPC
/// state return to where they were.
fn scenario(arg: u64) -> crate::ktest::TestResult {
    let frames = crate::mem::free_frames();
    let procs = process::count();
    let threads = crate::task::live_threads();
    let census = crate::kipc::census();
    run("ipctest", arg)?;
    let after = (
        crate::mem::free_frames(),
        process::count(),
        crate::task::live_threads(),
        crate::kipc::census(),
    );
    crate::kensure!(
        after == (frames, procs, threads, census),
        "leak: (free frames, processes, threads, ipc (processes, threads)) {:?} -> {after:?}",
        (frames, procs, threads, census)
    );
    Ok(())
}

crate::ktest! {
    /// Call/reply between two processes on one CPU: every reply word and
    /// the badge checked over 2,000 calls; per-endpoint metrics count them.
    /// With the fast path on, nearly every call and reply takes it (the
    /// first call finds no server waiting yet; a timer tick may interleave);
    /// with `ipc.fastpath=off`, none does. Both of its switches run: the
    /// server's first reply goes to a client blocked on the general path
    /// (the scheduler's hand-off), the rest end donations.
    fn ipc_call_reply_same_cpu() {
        let before = crate::kipc::fast_path_hits();
        let handoffs_before = crate::kipc::fast_path_handoffs();
        scenario(scenario::SAME_CPU)?;
        let (calls, replies) = crate::kipc::fast_path_hits();
        let (calls, replies) = (calls - before.0, replies - before.1);
        let handoffs = crate::kipc::fast_path_handoffs() - handoffs_before;
        crate::kprintln!("ipc: fast path taken by {calls} calls and {replies} replies ({handoffs} by hand-off)");
        if crate::kipc::fastpath() {
            crate::kensure!(calls >= 1_900 && replies >= 1_900, "fast path taken by only {calls} calls and {replies} replies of 2,000");
            crate::kensure!(handoffs >= 1, "no fast-path hand-off");
        } else {
            crate::kensure!(calls == 0 && replies == 0, "fast path off, yet taken {calls} + {replies} times");
        }
        Ok(())
    }
}

crate::ktest! {
    /// Call/reply with the client on another CPU (on one CPU when only one
    /// is online, and the program says so).
    fn ipc_call_reply_cross_cpu() {
        scenario(scenario::CROSS_CPU)
    }
}

crate::ktest! {
    /// Every IpcError variant a syscall can return, each produced from user
    /// space by a real misuse.
    fn ipc_every_error_from_user_space() {
        scenario(scenario::ERRORS)
    }
}

crate::ktest! {
    /// Revocation takes effect immediately, and revoking a delegated parent
    /// kills what was derived from it in other spaces.
    fn ipc_revocation_is_immediate_and_transitive() {
        scenario(scenario::REVOKE)
    }
}

crate::ktest! {
    /// A 3 msg/s capability lets exactly 3 of 30 back-to-back calls through.
    fn ipc_rate_limit_rejects_at_the_configured_rate() {
        scenario(scenario::RATE)
    }
}

crate::ktest! {
    /// A server killed while holding a call wakes that caller and a queued
    /// one with ProcessNotFound; calls to the dead server fail the same way.
    fn ipc_killed_server_wakes_its_callers() {
        scenario(scenario::KILL_SERVER)
    }
}

crate::ktest! {
    /// 64 clients on two CPUs hammer one server: every sequence number
    /// arrives once, in order.
    fn ipc_64_clients_lose_no_message() {
        scenario(scenario::HAMMER)
    }
}

crate::ktest! {
    /// `ipcbench` same-CPU round trips, 200 samples: it runs and exits 0.
    fn bench_smoke() {
        run("ipcbench", 1 | (200 << 8))
    }
}

crate::ktest! {
    /// The classic inversion: a low-priority server busy with a call, a
    /// medium hog and a high client queued on the server, all on one CPU.
    /// With priority inheritance the client is served while the hog still
    /// runs; with it switched off (`pi=off`) the hog finishes first. Checked
    /// by the order of events, not by time.
    fn priority_inheritance_prevents_inversion() {
        let with = run("ipctest", scenario::INVERSION | (1 << 8));
        crate::task::set_priority_inheritance(false);
        let without = run("ipctest", scenario::INVERSION);
        crate::task::set_priority_inheritance(true);
        with.map_err(|e| alloc::format!("with PI: {e}"))?;
        without.map_err(|e| alloc::format!("without PI: {e}"))
    }
}

crate::ktest! {
    /// 100,000 cross-CPU wake/sleep cycles (50,000 calls between a client
    /// and a server on different CPUs, when two are online) and none lost.
    fn cross_cpu_wakeups_are_never_lost() {
        run("ipctest", scenario::WAKEUPS)
    }
}

crate::ktest! {
    /// Scheduling-context donation: same-CPU calls to a server parked in
    /// its fast path run it without the scheduler, and everything that
    /// needs the scheduler's books while it serves (a priority query, timer
    /// ticks, spawning and waiting, a nested call, a plain reply, a fault)
    /// gets them right: every answer is checked, the server reports the
    /// client's priority lent to it, and its fault reaches the client as
    /// `ProcessNotFound`. With the fast path on, most of the calls donate;
    /// with it off, none does. Nothing leaks.
    fn ipc_donation_survives_everything_the_server_does() {
        let before = crate::task::donations();
        scenario(scenario::DONATION)?;
        let donated = crate::task::donations() - before;
        crate::kprintln!("ipc: {donated} calls donated their scheduling context");
        if crate::kipc::fastpath() {
            crate::kensure!(donated >= 200, "only {donated} of ~210 calls donated");
        } else {
            crate::kensure!(donated == 0, "fast path off, yet {donated} donations");
        }
        Ok(())
    }
}

crate::ktest! {
    /// 300,000 endpoints created and revoked by one process: each is freed
    /// at its revocation, so the kernel's endpoint tables end as they began.
    fn endpoint_churn_survives() {
        let before = crate::kipc::endpoint_census();
        scenario(scenario::ENDPOINT_CHURN)?;
        let after = crate::kipc::endpoint_census();
        crate::kprintln!("  endpoints (live, table) {before:?} -> {after:?}");
        crate::kensure!(after.0 == before.0, "endpoints leaked: {before:?} -> {after:?}");
        crate::kensure!(after.1 <= before.1 + 4, "the endpoint table grew: {before:?} -> {after:?}");
        Ok(())
    }
}

crate::ktest! {
    /// A thread blocked in `recv` through a delegated receive right wakes
    /// with `InvalidCapability` when the right is revoked; a caller queued
    /// on an endpoint wakes likewise when the endpoint's root is revoked.
    fn revoke_wakes_blocked_threads() {
        scenario(scenario::REVOKE_WAKES)
    }
}

crate::ktest! {
    /// A server process holding a delegated receive right dies holding one
    /// call with another queued: both callers get `ProcessNotFound`.
    fn receiver_death_fails_callers() {
        scenario(scenario::RECEIVER_DEATH)
    }
}
