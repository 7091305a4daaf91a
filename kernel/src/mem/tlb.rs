//! TLB shootdown across CPUs.
//!
//! One shootdown is in flight at a time (a lock serialises initiators). The
//! initiator publishes the range and a bitmask of target CPUs, sends each a
//! `TlbShootdown` IPI, flushes locally and waits until every target cleared
//! its bit. While waiting for the lock or the acks it keeps serving requests
//! addressed to itself, so two CPUs that shoot down at once cannot deadlock.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::VirtAddr;
use x86_64::instructions::tlb;

use crate::cpus::{self, IpiMessage};

static LOCK: spin::Mutex<()> = spin::Mutex::new(());
static START: AtomicU64 = AtomicU64::new(0);
static PAGES: AtomicU64 = AtomicU64::new(0);
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Completed shootdowns handled by each CPU (by index), for tests.
pub static HANDLED: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// Beyond this many pages a full flush is cheaper than `invlpg` per page.
const FULL_FLUSH_PAGES: u64 = 64;

fn flush_local(start: u64, pages: u64) {
    if pages > FULL_FLUSH_PAGES {
        tlb::flush_all();
    } else {
        for i in 0..pages {
            tlb::flush(VirtAddr::new(start + i * 4096));
        }
    }
}

/// Serves a pending request addressed to this CPU (IPI handler and waiters).
pub fn handle_shootdown() {
    let me = crate::cpu_index();
    let bit = 1u64 << me;
    if PENDING.load(Ordering::Acquire) & bit == 0 {
        return;
    }
    flush_local(START.load(Ordering::Acquire), PAGES.load(Ordering::Acquire));
    HANDLED[me as usize].fetch_add(1, Ordering::Relaxed);
    PENDING.fetch_and(!bit, Ordering::AcqRel);
}

/// Invalidates `[start, start + pages * 4 KiB)` on this CPU and on every CPU in
/// `targets` (a bitmask of CPU indices; this CPU's bit is ignored), returning
/// when all have done so.
pub fn shootdown(start: VirtAddr, pages: u64, targets: u64) {
    let me = crate::cpu_index();
    let targets = targets & !(1u64 << me) & online_mask();
    let guard = loop {
        if let Some(g) = LOCK.try_lock() {
            break g;
        }
        handle_shootdown();
        core::hint::spin_loop();
    };
    START.store(start.as_u64(), Ordering::Release);
    PAGES.store(pages, Ordering::Release);
    PENDING.store(targets, Ordering::Release);
    for cpu in 0..64u32 {
        if targets & (1 << cpu) != 0 {
            let mut msg_sent = cpus::send(cpu, IpiMessage::TlbShootdown);
            while msg_sent == Err(cpus::IpiError::InboxFull) {
                core::hint::spin_loop();
                msg_sent = cpus::send(cpu, IpiMessage::TlbShootdown);
            }
            if msg_sent.is_err() {
                // Not online after all: nothing to flush there.
                PENDING.fetch_and(!(1u64 << cpu), Ordering::AcqRel);
            }
        }
    }
    flush_local(start.as_u64(), pages);
    while PENDING.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
    drop(guard);
}

/// Bitmask of online CPU indices.
pub fn online_mask() -> u64 {
    (0..64u32)
        .filter(|&i| crate::percpu::of(i).is_some_and(|c| c.online.load(Ordering::Acquire)))
        .fold(0, |m, i| m | (1 << i))
}
