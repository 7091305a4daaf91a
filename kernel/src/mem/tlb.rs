//! TLB shootdown across CPUs, on the `smp` crate's host-tested protocol
//! ([`smp::ipi::TlbShootdown`]): the initiator publishes the range and the
//! target set, sends each target a `TlbShootdown` IPI, flushes locally and
//! waits for every acknowledgement; while waiting to begin it serves requests
//! aimed at itself, so two CPUs shooting down at once cannot deadlock.

use core::sync::atomic::{AtomicU64, Ordering};

use smp::cpuset::{CpuId, CpuSet};
use smp::ipi::{FlushRequest, TlbShootdown};
use x86_64::VirtAddr;
use x86_64::instructions::tlb;

use crate::cpus::{self, IpiMessage};

static PROTOCOL: TlbShootdown = TlbShootdown::new();
/// Completed shootdowns handled by each CPU (by index), for tests.
pub static HANDLED: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// Beyond this many pages a full flush is cheaper than `invlpg` per page.
const FULL_FLUSH_PAGES: u64 = 64;

fn flush_local(request: FlushRequest, _generation: u64) {
    let pages = request.end.saturating_sub(request.start) / 4096;
    if pages > FULL_FLUSH_PAGES {
        tlb::flush_all();
    } else {
        for i in 0..pages {
            tlb::flush(VirtAddr::new(request.start + i * 4096));
        }
    }
}

/// The user-mapping generation: bumped whenever a user mapping goes away
/// anywhere (a shared mapping unmapped, an address space torn down), before
/// the shootdown or the freeing of its frames. A PCID tag loaded at an older
/// generation is flushed at its next load (see `smp::pcid`).
static USER_GENERATION: AtomicU64 = AtomicU64::new(0);

/// PCID tags per CPU for user address spaces.
pub const PCID_TAGS: usize = 8;

/// Announces that user mappings went away (call before the shootdown and
/// before any of their frames is freed).
pub fn user_mappings_removed() {
    USER_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// This CPU's tag for a switch to the user address space `pml4`. Called with
/// interrupts off by the context switch.
pub fn pcid_load(pml4: u64) -> smp::pcid::Load {
    let irq = crate::percpu::IrqGuard::new();
    let generation = USER_GENERATION.load(Ordering::SeqCst);
    match crate::percpu::current() {
        Some(cpu) => cpu
            .pcids
            .with(&irq, |tags| tags.switch_to(pml4, generation)),
        // Before per-CPU setup no user space runs; flush to be safe.
        None => smp::pcid::Load {
            pcid: 1,
            flush: true,
        },
    }
}

/// Serves a pending request addressed to this CPU (IPI handler and waiters).
pub fn handle_shootdown() {
    let me = crate::cpu_index();
    // Counted inside the flush, so before the acknowledgement (a release):
    // an initiator that saw every acknowledgement sees every count. Counted
    // after it, a test could read the count in between.
    PROTOCOL.service(CpuId(me), |request, generation| {
        flush_local(request, generation);
        HANDLED[me as usize].fetch_add(1, Ordering::Relaxed);
    });
}

/// Invalidates `[start, start + pages * 4 KiB)` on this CPU and on every
/// online CPU in `targets` (a bitmask of CPU indices), returning when all
/// have done so.
pub fn shootdown(start: VirtAddr, pages: u64, targets: u64) {
    let me = crate::cpu_index();
    let mask = targets & online_mask();
    let mut words = CpuSet::new().words();
    words[0] = mask;
    let set = CpuSet::from_words(words);
    let request = FlushRequest {
        address_space: 0,
        start: start.as_u64(),
        end: start.as_u64() + pages * 4096,
    };
    let ticket = PROTOCOL.begin(CpuId(me), request, &set, flush_local, core::hint::spin_loop);
    for cpu in ticket.targets().iter() {
        let mut sent = cpus::send(cpu.0, IpiMessage::TlbShootdown);
        while sent == Err(cpus::IpiError::InboxFull) {
            core::hint::spin_loop();
            sent = cpus::send(cpu.0, IpiMessage::TlbShootdown);
        }
    }
    flush_local(request, ticket.generation());
    PROTOCOL.wait(ticket, core::hint::spin_loop);
}

/// Bitmask of online CPU indices.
pub fn online_mask() -> u64 {
    crate::cpus::online_mask()
}
