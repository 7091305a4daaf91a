//! Shared memory regions, asynchronous channels and large messages (the
//! design's mechanisms 2 and 3).
//!
//! - A **region** is a set of zeroed frames from one NUMA node (the one asked
//!   for, or the nearest with room for all of them). Its root
//!   capability belongs to its owner; capabilities derived from it (granted
//!   to other processes) let them map it too. `map` shares the frames (page
//!   table entries, never a copy) with the capability's rights: reading needs
//!   the receive right, writing the send right, never write and execute
//!   together. `transfer` moves ownership: every capability to the region
//!   dies, so every mapping of it goes (a TLB shootdown on the CPUs that may
//!   cache it) before the target, which gets a fresh root, can map it.
//! - A **channel** is a ring (`ipc::ring`) in a region mapped into both ends
//!   plus a sticky notification. Messages never enter the kernel; it is only
//!   asked to sleep (`notify_wait`) and to wake (`notify_signal`, which
//!   reaches the receiver's CPU by IPI through `task::wake`). The ring's
//!   receiver-sleeping flag makes senders signal only a sleeping receiver.
//! - A **large message** is a `LargeMessage` (header, region descriptor, 64
//!   inline bytes) handed to the kernel with the region: the kernel verifies
//!   its checksum and the endpoint capability's size limit, transfers the
//!   region to the endpoint's owner and keeps the message with the region;
//!   the receiver gets it, rebased to its own mapping and resealed, when it
//!   maps the region.
//!
//! Lifetime: a mapping lives while the capability it was made through
//! resolves; a region lives while its root capability resolves or any
//! mapping of it remains. After anything that can kill capabilities (revoke,
//! transfer, a process's death) [`sweep`] unmaps what lost its capability
//! and frees what lost everything. Shootdowns and frame frees run after
//! [`super::KIPC`] is released ([`Deferred`]), frees after the shootdowns.
//!
//! All of it lives under [`super::KIPC`]: one lock for capabilities and the
//! objects they name, so a capability check and the mapping it allows cannot
//! be separated by a revocation. Mapping holds it for one page-directory
//! store per 2 MiB (regions own their leaf tables, `mem::usertables`).

mod channel;
mod region;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use ipc::IpcError;
use ipc::cap::{CapToken, ProcessId};
use ipc::message::LargeMessage;
use ipc::ring::RingFlavor;
use sched::ThreadId;
use x86_64::VirtAddr;
use x86_64::structures::paging::PageTableFlags as F;

use crate::kipc::{KIPC, Kipc, ThreadEntry, with_kipc};
use crate::mem;
use crate::process;
use crate::task::{self, Pid};

pub(super) use channel::*;
pub(super) use region::*;

/// Largest region: 64 MiB (a 512 MiB machine must survive a few).
pub const MAX_REGION_BYTES: u64 = 64 << 20;
/// Largest channel ring, in slots.
pub const MAX_RING_SLOTS: u64 = 1 << 14;

/// Bits of `region_map`'s flags word.
pub mod map_flags {
    /// Map writable (needs the send right).
    pub const WRITE: u64 = 1 << 0;
    /// Map executable (never with WRITE).
    pub const EXECUTE: u64 = 1 << 1;
    /// Map as the large message that came with the region says: writable
    /// if its descriptor grants `WRITE`, executable if `EXECUTE`, with its
    /// cache policy (the other bits must be clear; only the owner the
    /// message was delivered to, while the region holds it).
    pub const AS_SENT: u64 = 1 << 2;
    /// Cache policy (`ipc::message::CachePolicy`) in bits 8..16.
    pub const CACHE_SHIFT: u64 = 8;
}

/// The `region_map` flags word a large message's descriptor asks for.
///
/// # Errors
/// `InvalidArgument` for unknown permission bits or cache policy, or for a
/// descriptor that is both writable and executable.
fn sent_flags(message: &LargeMessage) -> Result<u64, IpcError> {
    use ipc::message::RegionPermissions as P;
    let d = message.memory_region();
    let permissions = d.permissions()?;
    if permissions.contains(P::WRITE | P::EXECUTE) {
        return Err(IpcError::InvalidArgument);
    }
    let mut flags = (d.cache_policy()? as u64) << map_flags::CACHE_SHIFT;
    if permissions.contains(P::WRITE) {
        flags |= map_flags::WRITE;
    }
    if permissions.contains(P::EXECUTE) {
        flags |= map_flags::EXECUTE;
    }
    Ok(flags)
}

/// One mapping of a region into a process.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    pid: Pid,
    process: ProcessId,
    /// The capability it was made through (it goes when that dies).
    token: CapToken,
    va: u64,
    pages: u64,
    /// Its page flags: W^X holds across the mappings of a region (none
    /// executable while one is writable, anywhere).
    flags: F,
}

/// A shared memory region.
struct Region {
    frames: Vec<u64>,
    /// Leaf tables mapping `frames`, one set per memory type in use (see
    /// `mem::usertables`); freed with the region.
    tables: Vec<(F, Vec<u64>)>,
    node: u32,
    /// Holder of the root capability.
    owner: Pid,
    owner_process: ProcessId,
    /// The capability whose death ends the region (for a channel ring: the
    /// channel's root).
    root: CapToken,
    mappings: Vec<Mapping>,
    /// A large message that travelled with the region to its owner.
    envelope: Option<LargeMessage>,
    /// The ring of this channel, if any (not transferable).
    channel: Option<u32>,
}

/// A sticky notification: a signal before the wait is not lost.
pub struct Notify {
    pending: AtomicBool,
    /// Waiting thread id + 1 (0 = none).
    waiter: AtomicU32,
    /// The channel died: waiters get an error.
    dead: AtomicBool,
}

impl Notify {
    /// Sets the pending bit and wakes the waiter, if any. Both sides use
    /// `SeqCst` (a store then a load of the other word, on each side): with
    /// weaker orderings the store could sit in a store buffer while the load
    /// reads the old value on both sides, and the wake-up would be lost.
    fn signal(&self) {
        self.pending.store(true, Ordering::SeqCst);
        let w = self.waiter.load(Ordering::SeqCst);
        if w != 0 {
            task::wake(ThreadId(w - 1));
        }
    }
}

/// An asynchronous channel.
struct Channel {
    region: u32,
    capacity: u32,
    flavor: RingFlavor,
    notify: Arc<Notify>,
    /// Processes that connected with the send right; once one other than
    /// the waiter has, and every process but the waiter has gone, waits fail.
    senders: Vec<Pid>,
}

/// All regions and channels (inside [`Kipc`]).
#[derive(Default)]
pub(super) struct Shm {
    regions: BTreeMap<u32, Region>,
    channels: BTreeMap<u32, Channel>,
    next_region: u32,
    next_channel: u32,
}

impl Shm {
    /// Records a new region owned by `me` whose life is `root`'s; returns
    /// its id (the next one: callers mint `root` for that id first).
    fn add_region(
        &mut self,
        me: ThreadEntry,
        root: CapToken,
        frames: Vec<u64>,
        node: u32,
        channel: Option<u32>,
    ) -> u32 {
        let id = self.next_region;
        self.next_region += 1;
        self.regions.insert(
            id,
            Region {
                frames,
                tables: Vec::new(),
                node,
                owner: me.pid,
                owner_process: me.process,
                root,
                mappings: Vec::new(),
                envelope: None,
                channel,
            },
        );
        id
    }
}

/// Work for after [`super::KIPC`] is released.
#[derive(Default)]
#[must_use]
pub(super) struct Deferred {
    /// Unmapped ranges (pid, va, pages, CPU mask): shot down, then
    /// released for reuse by the process.
    shootdowns: Vec<(crate::task::Pid, u64, u64, u64)>,
    free: Vec<u64>,
    wake: Vec<Arc<Notify>>,
}

impl Deferred {
    /// Shoots down, then releases the unmapped ranges, frees, wakes.
    pub(super) fn run(self) {
        for (pid, va, pages, mask) in self.shootdowns {
            crate::mem::tlb::shootdown(VirtAddr::new(va), pages, mask);
            process::release_shared(pid, va, pages);
        }
        for frame in self.free {
            let _ = mem::free_frame(frame);
        }
        for notify in self.wake {
            notify.signal();
        }
    }
}

/// Runs `f` under [`super::KIPC`], then the deferred work.
fn with_shm<R>(
    f: impl FnOnce(&mut Kipc, &mut Deferred) -> Result<R, IpcError>,
) -> Result<R, IpcError> {
    let mut deferred = Deferred::default();
    let result = with_kipc(|k| f(k, &mut deferred));
    deferred.run();
    result
}

fn resolves(k: &Kipc, process: ProcessId, token: CapToken) -> bool {
    k.state
        .space(process)
        .is_some_and(|s| s.lookup(k.state.registry(), token, 0).is_ok())
}

/// Unmaps what lost its capability and frees what lost everything.
pub(super) fn sweep(k: &mut Kipc, deferred: &mut Deferred) {
    let mut dead_regions = Vec::new();
    let ids: Vec<u32> = k.shm.regions.keys().copied().collect();
    for id in ids {
        let Some(region) = k.shm.regions.get(&id) else {
            continue;
        };
        let root_alive = resolves(k, region.owner_process, region.root);
        let (keep, gone): (Vec<Mapping>, Vec<Mapping>) = region
            .mappings
            .iter()
            .partition(|m| root_alive && resolves(k, m.process, m.token));
        let channel = region.channel;
        if let Some(region) = k.shm.regions.get_mut(&id) {
            region.mappings = keep;
        }
        for m in &gone {
            if let Some(mask) = process::unmap_shared(m.pid, m.va, m.pages) {
                deferred.shootdowns.push((m.pid, m.va, m.pages, mask));
            }
        }
        if let Some(c) = channel.and_then(|c| k.shm.channels.get(&c))
            && !gone.is_empty()
        {
            // A peer left (or the channel died): the receiver re-checks.
            deferred.wake.push(c.notify.clone());
        }
        if !root_alive {
            dead_regions.push(id);
        }
    }
    for id in dead_regions {
        let empty = k
            .shm
            .regions
            .get(&id)
            .is_some_and(|r| r.mappings.is_empty());
        if !empty {
            continue;
        }
        if let Some(region) = k.shm.regions.remove(&id) {
            deferred.free.extend(region.frames);
            deferred
                .free
                .extend(region.tables.into_iter().flat_map(|(_, tables)| tables));
            if let Some(c) = region.channel.and_then(|c| k.shm.channels.remove(&c)) {
                c.notify.dead.store(true, Ordering::Release);
                deferred.wake.push(c.notify);
            }
        }
    }
}

/// Sweeps after a capability operation that may have killed some.
pub(super) fn sweep_now() {
    let mut deferred = Deferred::default();
    {
        let mut guard = KIPC.lock();
        if let Some(k) = guard.as_mut() {
            sweep(k, &mut deferred);
        }
    }
    deferred.run();
}

/// Frames held by regions (for leak checks).
pub fn census() -> (usize, usize) {
    let guard = KIPC.lock();
    guard.as_ref().map_or((0, 0), |k| {
        (
            k.shm.regions.len(),
            k.shm.regions.values().map(|r| r.frames.len()).sum(),
        )
    })
}

/// Each region's node as recorded, and whether every one of its frames lies
/// in that node's SRAT memory.
pub fn region_nodes() -> Vec<(u32, bool)> {
    let guard = KIPC.lock();
    guard.as_ref().map_or_else(Vec::new, |k| {
        k.shm
            .regions
            .values()
            .map(|r| {
                (
                    r.node,
                    r.frames.iter().all(|&f| mem::node_of_phys(f) == r.node),
                )
            })
            .collect()
    })
}
