//! The soak (issue 22): the `soak` user program (kernel/user/src/bin/soak.rs)
//! runs synchronous, asynchronous and large-message traffic between
//! `soak.processes=N` processes for `soak.minutes=M` minutes, every message
//! sequence-numbered and checksummed, and prints a line of counts per
//! minute. It runs only when asked for (`soak.minutes=`, or a
//! `test.filter=` naming it): its periods are TSC seconds, which under
//! icount are 10^9 instructions each (a 2-second run took 215 s there), so
//! the whole suite's runs (every CPU count, icount, Bochs) leave it out.
//! `scripts/soak.sh` runs it; `test.filter=soak` alone gives one 2-second
//! period of 32 processes. This side prints
//! `soak: free frames F` every 5 s (the runner puts the latest beside each
//! minute's line), fails on a hang or a non-zero exit, and checks that
//! every resource count returns to its baseline afterwards.

use alloc::format;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::ktest::{Census, pause, ticks};
use crate::process::{self, ExitReason, Placement};

/// Minutes of traffic (`soak.minutes=`; 0 = one [`SHORT_SECONDS`] period).
static MINUTES: AtomicU64 = AtomicU64::new(0);
/// Worker processes (`soak.processes=`), rounded up to groups of four.
static PROCESSES: AtomicU64 = AtomicU64::new(32);
/// The short period's length.
const SHORT_SECONDS: u64 = 2;

/// The coordinator's role number in `soak`.
const COORDINATOR: u64 = 1;
/// Timer ticks (100 Hz) between two `soak: free frames` lines.
const FRAMES_EVERY: u64 = 500;

/// Whether a soak runs (the interrupt hook prints only then).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// CPU 0's tick count at the last `soak: free frames` line.
static LAST_PRINT: AtomicU64 = AtomicU64::new(0);

/// Called after every device interrupt and IPI (interrupts off): on CPU 0,
/// during a soak, prints the free frames every [`FRAMES_EVERY`] ticks. The
/// console and the frame allocator take their locks with interrupts off,
/// so no interrupted code on this CPU holds them.
#[inline(always)]
pub fn on_interrupt() {
    if ACTIVE.load(Ordering::Relaxed) {
        print_frames();
    }
}

/// [`on_interrupt`] during a soak.
#[cold]
#[inline(never)]
fn print_frames() {
    let Some(cpu) = crate::percpu::current().filter(|c| c.index == 0) else {
        return;
    };
    let now = cpu.timer_ticks.load(Ordering::Relaxed);
    if now.wrapping_sub(LAST_PRINT.load(Ordering::Relaxed)) >= FRAMES_EVERY {
        LAST_PRINT.store(now, Ordering::Relaxed);
        crate::kprintln!("soak: free frames {}", crate::mem::free_frames());
    }
}

/// Whether the soak was asked for.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Applies `soak.minutes` and `soak.processes` (0 keeps the default
/// process count); `filter` is `test.filter=`.
pub fn configure(minutes: u64, processes: u64, filter: &str) {
    REQUESTED.store(minutes > 0 || filter.contains("soak"), Ordering::Relaxed);
    MINUTES.store(minutes.min(0xffff), Ordering::Relaxed);
    if processes > 0 {
        PROCESSES.store(processes.min(4 * 0xffff), Ordering::Relaxed);
    }
}

crate::ktest! {
    /// Mixed traffic between many processes for a while: no message lost,
    /// duplicated, reordered or garbled, no worker fails, nothing hangs,
    /// and frames, processes, threads, capabilities, endpoints and regions
    /// all return to their baseline.
    fn soak_mixed_traffic() {
        if !REQUESTED.load(Ordering::Relaxed) {
            crate::kprintln!("soak: not asked for (soak.minutes= or test.filter=soak); not run");
            return Ok(());
        }
        let minutes = MINUTES.load(Ordering::Relaxed);
        let groups = PROCESSES.load(Ordering::Relaxed).div_ceil(4);
        let before = Census::take();
        crate::kprintln!("soak: {} processes, {} minute(s)", groups * 4, minutes);
        let seconds = if minutes == 0 { SHORT_SECONDS } else { minutes * 60 };
        // Start-up, the stop phase (up to 120 s) and slack under TCG.
        let max_ticks = (seconds + 600 + groups) * 100;
        let pid = process::spawn(
            "soak",
            COORDINATOR | (minutes | groups << 16 | SHORT_SECONDS << 32) << 8,
            Placement::Caller,
            20,
            0,
        )
        .map_err(|e| format!("spawn soak: {e:?}"))?;
        let start = ticks();
        LAST_PRINT.store(start, Ordering::Relaxed);
        ACTIVE.store(true, Ordering::Relaxed);
        let reason = loop {
            if let Some(reason) = process::poll_exit(pid) {
                break reason;
            }
            if ticks() - start > max_ticks {
                ACTIVE.store(false, Ordering::Relaxed);
                crate::kprintln!("soak: hung after {max_ticks} ticks; threads:");
                crate::task::dump_threads();
                let _ = process::kill(pid);
                return Err(format!("soak: hung after {max_ticks} ticks"));
            }
            pause();
        };
        ACTIVE.store(false, Ordering::Relaxed);
        crate::kensure!(reason == ExitReason::Exited(0), "soak ended with {reason:?}");
        let after = Census::settle_to(&before, 1_000);
        crate::kprintln!("soak: free frames {} at the end", crate::mem::free_frames());
        crate::kensure!(after == before, "leak: {before:?} -> {after:?}");
        Ok(())
    }
}
