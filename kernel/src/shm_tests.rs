//! In-kernel tests of asynchronous channels, shared regions and large
//! messages: each runs the `chantest` user program in one scenario
//! (kernel/user/src/bin/chantest.rs; exit code 0 = every check inside
//! passed) and checks that frames (on every node), processes, threads, IPC
//! state and regions return to where they were.

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::process::{self, ExitReason};

/// `chantest` scenario numbers.
mod scenario {
    pub const CHANNELS: u64 = 1;
    pub const WAKEUPS: u64 = 2;
    pub const REVOKE: u64 = 3;
    pub const TRANSFER: u64 = 4;
    pub const LARGE: u64 = 5;
    pub const ERRORS: u64 = 6;
    pub const WX: u64 = 7;
    pub const BAD_ENVELOPE: u64 = 8;
    pub const MAPPING_EXHAUSTION: u64 = 9;
}

/// Timer ticks (100 Hz) a scenario may take before it is killed as hung.
const MAX_TICKS: u64 = 60_000;

/// Sequence-numbered messages per channel (`test.channel_messages=N`). The
/// issue asks for 10,000,000: `scripts/test.sh` runs that as its own step at
/// 2 CPUs (30,000,000 messages take about 50 s under TCG); the default
/// keeps the runs at every CPU count (and under icount) short.
pub static CHANNEL_MESSAGES: AtomicU64 = AtomicU64::new(200_000);

fn frames_per_node() -> Vec<usize> {
    (0..8).map(crate::mem::free_frames_on).collect()
}

fn scenario(arg: u64) -> crate::ktest::TestResult {
    let before = (
        frames_per_node(),
        process::count(),
        crate::task::live_threads(),
        crate::kipc::census(),
        crate::kipc::shm::census(),
    );
    match process::run_and_wait("chantest", arg, MAX_TICKS) {
        Ok(ExitReason::Exited(0)) => {}
        Ok(other) => return Err(format!("chantest ended with {other:?}")),
        Err(Some(e)) => return Err(format!("spawn failed: {e:?}")),
        Err(None) => return Err(format!("timed out after {MAX_TICKS} ticks")),
    }
    let after = (
        frames_per_node(),
        process::count(),
        crate::task::live_threads(),
        crate::kipc::census(),
        crate::kipc::shm::census(),
    );
    crate::kensure!(
        after == before,
        "leak: (free frames per node, processes, threads, ipc, (regions, region frames)) \
         {before:?} -> {after:?}"
    );
    Ok(())
}

crate::ktest! {
    /// Three channels at once (SPSC, MPSC with two producers, SPSC),
    /// producers on CPU 1 and receivers on CPU 0: every sequence-numbered
    /// message arrives once and in order, at batch 1 and batch 16.
    fn channels_lose_duplicate_and_reorder_nothing() {
        let n = CHANNEL_MESSAGES.load(Ordering::Relaxed).min((1 << 36) - 1);
        scenario(scenario::CHANNELS | (n << 8))?;
        scenario(scenario::CHANNELS | ((n.min(1_000_000) | 16 << 40) << 8))
    }
}

crate::ktest! {
    /// A receiver that sleeps before each of 200 paced messages is woken
    /// for every one (a lost wake-up would time out).
    fn channel_receiver_wakeups_are_never_lost() {
        scenario(scenario::WAKEUPS)
    }
}

crate::ktest! {
    /// Revoking a region granted to two processes unmaps it from both (each
    /// faults on its next touch and dies alone); the owner keeps it.
    fn region_revocation_unmaps_everywhere() {
        scenario(scenario::REVOKE)
    }
}

crate::ktest! {
    /// A 64 MiB region (32 shared leaf tables) written by its owner on CPU 0
    /// and read by processes on CPUs 0 and 1: after the revocation both
    /// readers fault at an address they had read (the full-flush shootdown
    /// left no stale entry on either CPU), the owner's data is intact, and
    /// every frame and table comes back.
    fn big_region_shared_across_cpus_then_revoked() {
        scenario(scenario::REVOKE | (64 << 20) << 8)
    }
}

crate::ktest! {
    /// After `Region::transfer` (the runtime's) the target reads the data
    /// and the sender's touch faults, killing only the sender.
    fn region_transfer_moves_ownership() {
        scenario(scenario::TRANSFER)
    }
}

crate::ktest! {
    /// Large messages of 4 KiB, 64 KiB, 1 MiB and 16 MiB make a round trip
    /// intact (zero copy); over the limit is MessageTooLarge (also for a
    /// region larger than the size it declares), a damaged one
    /// ChecksumMismatch; a read-only descriptor maps read-only at the
    /// receiver, which cannot map it writable.
    fn large_messages_round_trip_intact() {
        scenario(scenario::LARGE)
    }
}

crate::ktest! {
    /// Region and channel misuse: each gets its documented error.
    fn region_and_channel_errors() {
        scenario(scenario::ERRORS)
    }
}

crate::ktest! {
    /// W^X holds across the mappings of one region (no executable mapping
    /// beside a writable one, anywhere); nothing leaks.
    fn wx_is_enforced_across_mappings() {
        scenario(scenario::WX)
    }
}

crate::ktest! {
    /// `region_map` with a bad envelope buffer (null page, kernel address,
    /// unmapped) fails with `BadAddress` and leaves no mapping behind.
    fn region_map_bad_envelope_leaves_nothing() {
        scenario(scenario::BAD_ENVELOPE)
    }
}

crate::ktest! {
    /// One 4 KiB region mapped over and over: the kernel refuses with
    /// `OutOfMemory` at `process::MAX_SHARED_MAPPINGS` live mappings (each
    /// costs a leaf page table), unmapping makes room again, and every
    /// frame is back when the process ends.
    fn mapping_exhaustion_is_bounded() {
        scenario(scenario::MAPPING_EXHAUSTION)
    }
}
