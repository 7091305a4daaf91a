//! Shared memory regions, asynchronous channels and large messages (the
//! design's mechanisms 2 and 3).
//!
//! - A **region** is a set of zeroed frames from one NUMA node. Its root
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
//! be separated by a revocation. Mapping 16 MiB holds it for 4,096 page
//! table stores; a finer lock is future work.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use ipc::IpcError;
use ipc::abi::SyscallFlags;
use ipc::cap::{Access, CapTarget, CapToken, ChannelId, IpcPermissions, ProcessId, RegionId};
use ipc::message::{CachePolicy, LargeMessage};
use ipc::ring::{RingFlavor, RingHeader, RingLayout, Slot};
use sched::ThreadId;
use x86_64::VirtAddr;
use x86_64::structures::paging::PageTableFlags as F;

use super::{KIPC, Kipc, ThreadEntry, now, with_kipc};
use crate::mem::{self, paging};
use crate::process;
use crate::task::{self, Pid};

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
    /// Cache policy (`ipc::message::CachePolicy`) in bits 8..16.
    pub const CACHE_SHIFT: u64 = 8;
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

/// Allocates `pages` zeroed frames on `node` (or the nearest with room).
fn alloc_frames(node: u32, pages: u64) -> Result<Vec<u64>, IpcError> {
    let mut frames = Vec::new();
    frames
        .try_reserve_exact(pages as usize)
        .map_err(|_| IpcError::OutOfMemory)?;
    for _ in 0..pages {
        let Some((phys, _)) = mem::alloc_frame_on(node) else {
            for f in frames {
                let _ = mem::free_frame(f);
            }
            return Err(IpcError::OutOfMemory);
        };
        // SAFETY: a fresh frame, reachable through the direct map; regions
        // must not leak earlier contents.
        unsafe { core::ptr::write_bytes(paging::phys_to_virt(phys).as_mut_ptr::<u8>(), 0, 4096) };
        frames.push(phys);
    }
    Ok(frames)
}

fn node_arg(word: u64) -> Result<u32, IpcError> {
    match word {
        0 => Ok(crate::percpu::current().map_or(0, |c| c.node)),
        n => {
            let node = u32::try_from(n - 1).map_err(|_| IpcError::InvalidArgument)?;
            if mem::node_exists(node) {
                Ok(node)
            } else {
                Err(IpcError::InvalidArgument)
            }
        }
    }
}

fn region_permissions(bytes: u64) -> IpcPermissions {
    IpcPermissions::all(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// `region_create(size, node + 1 or 0 for the caller's)`: returns `[root
/// capability, size in bytes (whole pages), node, 0]`.
pub(super) fn region_create(tid: ThreadId, data: [u64; 4]) -> Result<[u64; 4], IpcError> {
    let size = data[0];
    if size == 0 || size > MAX_REGION_BYTES {
        return Err(IpcError::InvalidArgument);
    }
    let node = node_arg(data[1])?;
    let pages = size.div_ceil(4096);
    // Frames first, outside the lock (zeroing 64 MiB takes a while).
    let frames = alloc_frames(node, pages)?;
    let mut frames = Some(frames);
    let result = with_shm(|k, _| {
        let me = k.thread_for(tid)?;
        let id = k.shm.next_region;
        let token = k.state.mint(
            me.process,
            CapTarget::Region(RegionId(id)),
            region_permissions(pages * 4096),
        )?;
        k.shm
            .add_region(me, token, frames.take().unwrap_or_default(), node, None);
        Ok([token.0, pages * 4096, u64::from(node), 0])
    });
    if let Some(frames) = frames {
        for f in frames {
            let _ = mem::free_frame(f);
        }
    }
    result
}

/// The region a capability names, and the capability's rights.
fn region_of(
    k: &Kipc,
    me: ThreadEntry,
    token: CapToken,
) -> Result<(u32, IpcPermissions), IpcError> {
    let cap = k.capability(me.process, token, now())?;
    match cap.target() {
        CapTarget::Region(RegionId(id)) => Ok((id, *cap.permissions())),
        CapTarget::Channel(ChannelId(c)) => {
            let channel = k.shm.channels.get(&c).ok_or(IpcError::InvalidCapability)?;
            Ok((channel.region, *cap.permissions()))
        }
        _ => Err(IpcError::InvalidCapability),
    }
}

/// Page flags for a mapping request against the capability's rights.
fn page_flags(flags: u64, rights: &IpcPermissions) -> Result<F, IpcError> {
    use map_flags::{CACHE_SHIFT, EXECUTE, WRITE};
    if flags & !(WRITE | EXECUTE | (0xff << CACHE_SHIFT)) != 0 {
        return Err(IpcError::InvalidArgument);
    }
    if flags & WRITE != 0 && flags & EXECUTE != 0 {
        return Err(IpcError::InvalidArgument);
    }
    if !rights.can_receive || (flags & WRITE != 0 && !rights.can_send) {
        return Err(IpcError::PermissionDenied);
    }
    let mut f = F::PRESENT | F::USER_ACCESSIBLE;
    if flags & WRITE != 0 {
        f |= F::WRITABLE;
    }
    if flags & EXECUTE == 0 {
        f |= F::NO_EXECUTE;
    }
    // The PAT keeps its power-on entries: 0 WB, 1 WT, 2 UC-, 3 UC. Write
    // combining would need a PAT entry of its own, which is not set up.
    match CachePolicy::try_from(((flags >> CACHE_SHIFT) & 0xff) as u32)? {
        CachePolicy::WriteBack => {}
        CachePolicy::WriteThrough => f |= F::WRITE_THROUGH,
        CachePolicy::Uncached => f |= F::WRITE_THROUGH | F::NO_CACHE,
        CachePolicy::WriteCombining => return Err(IpcError::InvalidArgument),
    }
    Ok(f)
}

/// Maps region `id` into `me`'s process through `token`.
fn map_into(
    k: &mut Kipc,
    me: ThreadEntry,
    token: CapToken,
    id: u32,
    flags: F,
) -> Result<(u64, u64), IpcError> {
    let region = k
        .shm
        .regions
        .get_mut(&id)
        .ok_or(IpcError::InvalidCapability)?;
    let executable = |f: F| !f.contains(F::NO_EXECUTE);
    let clashes = |m: &Mapping| {
        (flags.contains(F::WRITABLE) && executable(m.flags))
            || (executable(flags) && m.flags.contains(F::WRITABLE))
    };
    if region.mappings.iter().any(clashes) {
        return Err(IpcError::InvalidArgument);
    }
    let va = process::map_shared(me.pid, &region.frames, flags)?;
    let pages = region.frames.len() as u64;
    region.mappings.push(Mapping {
        pid: me.pid,
        process: me.process,
        token,
        va,
        pages,
        flags,
    });
    Ok((va, pages * 4096))
}

/// `region_map(token; flags, envelope buffer or 0)`: maps the region into
/// the caller; returns `[address, size, 1 if a large message was written to
/// the buffer else 0, 0]`.
pub(super) fn region_map(
    tid: ThreadId,
    token: CapToken,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    let (result, envelope) = with_shm(|k, _| {
        let me = k.thread_for(tid)?;
        let (id, rights) = region_of(k, me, token)?;
        let flags = page_flags(data[0], &rights)?;
        let (va, size) = map_into(k, me, token, id, flags)?;
        let envelope = k
            .shm
            .regions
            .get(&id)
            .filter(|r| r.owner == me.pid)
            .and_then(|r| r.envelope)
            .map(|m| m.rebased(token.0, va));
        Ok(((me.pid, id, va, size), envelope))
    })?;
    let (pid, id, va, size) = result;
    let mut delivered = 0;
    if data[1] != 0
        && let Some(message) = envelope
    {
        let written = process::pml4_of(pid)
            .ok_or(IpcError::ProcessNotFound)
            .and_then(|pml4| crate::usercopy::copy_to_user(pml4, data[1], &message.to_bytes()));
        if let Err(error) = written {
            // A failed call leaves nothing behind: the mapping goes again.
            let _ = with_shm(|k, deferred| unmap_at(k, deferred, id, pid, va));
            return Err(error);
        }
        delivered = 1;
    }
    Ok([va, size, delivered, 0])
}

/// Removes `pid`'s mapping of region `id` at `va` (its shootdown deferred);
/// returns its pages.
fn unmap_at(
    k: &mut Kipc,
    deferred: &mut Deferred,
    id: u32,
    pid: Pid,
    va: u64,
) -> Result<u64, IpcError> {
    let region = k
        .shm
        .regions
        .get_mut(&id)
        .ok_or(IpcError::InvalidCapability)?;
    let at = region
        .mappings
        .iter()
        .position(|m| m.pid == pid && m.va == va)
        .ok_or(IpcError::BadAddress)?;
    let m = region.mappings.swap_remove(at);
    if let Some(mask) = process::unmap_shared(m.pid, m.va, m.pages) {
        deferred.shootdowns.push((m.pid, m.va, m.pages, mask));
    }
    sweep(k, deferred);
    Ok(m.pages)
}

/// `region_unmap(token; address)`: removes the caller's mapping of the
/// region at `address` (with a shootdown); returns `[pages, 0, 0, 0]`.
pub(super) fn region_unmap(
    tid: ThreadId,
    token: CapToken,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    with_shm(|k, deferred| {
        let me = k.thread_for(tid)?;
        let (id, _) = region_of(k, me, token)?;
        let pages = unmap_at(k, deferred, id, me.pid, data[0])?;
        Ok([pages, 0, 0, 0])
    })
}

/// `region_transfer(token; pid)` or, for a large message,
/// `region_transfer(token; endpoint token, message address)`: moves the
/// region to `pid` (or to the endpoint's owner, with the message). Only the
/// owner may, with the share right. Every mapping goes, the old
/// capabilities die; returns `[the target's root capability, target pid,
/// 0, 0]`.
pub(super) fn region_transfer(
    tid: ThreadId,
    token: CapToken,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    let pid = task::current_pid().ok_or(IpcError::ProcessNotFound)?;
    let envelope = if data[1] == 0 {
        None
    } else {
        let pml4 = process::pml4_of(pid).ok_or(IpcError::ProcessNotFound)?;
        let mut bytes = [0u8; LargeMessage::BYTES];
        crate::usercopy::copy_from_user(pml4, data[1], &mut bytes)?;
        let message = LargeMessage::from_bytes(&bytes);
        message.verify()?;
        Some(message)
    };
    with_shm(|k, deferred| {
        let me = k.thread_for(tid)?;
        let t = now();
        let cap = *k.capability(me.process, token, t)?;
        let CapTarget::Region(RegionId(id)) = cap.target() else {
            return Err(IpcError::InvalidCapability);
        };
        let region = k.shm.regions.get(&id).ok_or(IpcError::InvalidCapability)?;
        // Only the owner, through the root capability itself.
        if region.owner != me.pid || token != region.root || !cap.permissions().can_share {
            return Err(IpcError::PermissionDenied);
        }
        let size = region.frames.len() as u64 * 4096;
        let target = match &envelope {
            None => Pid::try_from(data[0]).map_err(|_| IpcError::ProcessNotFound)?,
            Some(message) => {
                // The descriptor must be the sender's own mapping of it.
                let d = message.memory_region();
                let mapped = region
                    .mappings
                    .iter()
                    .any(|m| m.pid == me.pid && m.va == d.base_addr());
                if !mapped || d.size() > size {
                    return Err(IpcError::BadAddress);
                }
                let endpoint_token = CapToken(data[0]);
                let total = message.header().total_size();
                let endpoint = k
                    .state
                    .check(me.process, endpoint_token, Access::Send, total, t)
                    .map_err(|e| k.refine(me.pid, endpoint_token, e))?;
                let CapTarget::Endpoint(endpoint) = endpoint.target() else {
                    return Err(IpcError::InvalidCapability);
                };
                let info = k
                    .endpoint_info(endpoint)
                    .ok_or(IpcError::InvalidCapability)?;
                if info.owner_dead {
                    return Err(IpcError::ProcessNotFound);
                }
                info.owner
            }
        };
        let to = k.procs.get(&target).ok_or(IpcError::ProcessNotFound)?.id;
        // Mint the target's root first: if that fails nothing changed.
        let new_root = k.state.mint(
            to,
            CapTarget::Region(RegionId(id)),
            region_permissions(size),
        )?;
        let old_root = region.root;
        // A region's capabilities name no endpoint, so no thread waits
        // through them: the revocation wakes nobody.
        let woken = k.state.revoke(me.process, old_root).map(|(_, wakes)| wakes);
        debug_assert!(woken.is_ok_and(|wakes| wakes.is_empty()));
        if let Some(region) = k.shm.regions.get_mut(&id) {
            region.owner = target;
            region.owner_process = to;
            region.root = new_root;
            region.envelope = envelope;
        }
        sweep(k, deferred);
        Ok([new_root.0, u64::from(target), 0, 0])
    })
}

/// `channel_create(capacity, flavor)`: a ring of `capacity` slots (a power
/// of two), flavour 1 = one producer, 2 = many; returns `[channel
/// capability (every right), capacity, 0, 0]`.
pub(super) fn channel_create(tid: ThreadId, data: [u64; 4]) -> Result<[u64; 4], IpcError> {
    let capacity = data[0];
    if capacity == 0 || capacity > MAX_RING_SLOTS {
        return Err(IpcError::InvalidArgument);
    }
    let flavor = match data[1] {
        1 => RingFlavor::SingleProducer,
        2 => RingFlavor::MultiProducer,
        _ => return Err(IpcError::InvalidArgument),
    };
    let layout =
        RingLayout::for_capacity(capacity as usize).map_err(|_| IpcError::InvalidArgument)?;
    let pages = (layout.total_bytes() as u64).div_ceil(4096);
    let node = crate::percpu::current().map_or(0, |c| c.node);
    // Contiguous, so the kernel can format the ring through the direct map.
    let base = mem::alloc_zeroed_on(node, pages as usize).ok_or(IpcError::OutOfMemory)?;
    let phys =
        paging::virt_to_phys_direct(VirtAddr::from_ptr(base)).ok_or(IpcError::OutOfMemory)?;
    let frames: Vec<u64> = (0..pages).map(|i| phys + i * 4096).collect();
    // SAFETY: the ring's memory is fresh, zeroed, page-aligned (so aligned
    // for the header and the slots) and ours alone until it is mapped; the
    // layout says where the header and `capacity` slots lie inside it.
    let (header, slots) = unsafe {
        let header = &*base.cast::<RingHeader>();
        let slots = core::slice::from_raw_parts(
            base.add(RingLayout::SLOTS_OFFSET).cast::<Slot>(),
            layout.capacity() as usize,
        );
        (header, slots)
    };
    header
        .format(slots, flavor)
        .map_err(|_| IpcError::InvalidArgument)?;
    let mut frames = Some(frames);
    let result = with_shm(|k, _| {
        let me = k.thread_for(tid)?;
        let cid = k.shm.next_channel;
        let token = k.state.mint(
            me.process,
            CapTarget::Channel(ChannelId(cid)),
            // A signal reports at most a full ring's worth of bytes.
            region_permissions(
                u64::from(layout.capacity()) * ipc::ring::layout::PAYLOAD_WORDS as u64 * 8,
            ),
        )?;
        k.shm.next_channel += 1;
        let rid = k.shm.add_region(
            me,
            token,
            frames.take().unwrap_or_default(),
            node,
            Some(cid),
        );
        k.shm.channels.insert(
            cid,
            Channel {
                region: rid,
                capacity: layout.capacity(),
                flavor,
                notify: Arc::new(Notify {
                    pending: AtomicBool::new(false),
                    waiter: AtomicU32::new(0),
                    dead: AtomicBool::new(false),
                }),
                senders: Vec::new(),
            },
        );
        Ok([token.0, u64::from(layout.capacity()), 0, 0])
    });
    if let Some(frames) = frames {
        for f in frames {
            let _ = mem::free_frame(f);
        }
    }
    result
}

/// `channel_connect(token)`: maps the channel's ring (read-write) into the
/// caller, which needs the send or the receive right; returns `[address,
/// capacity, flavour (1 one producer, 2 many), bytes]`.
pub(super) fn channel_connect(tid: ThreadId, token: CapToken) -> Result<[u64; 4], IpcError> {
    with_shm(|k, _| {
        let me = k.thread_for(tid)?;
        let cap = *k.capability(me.process, token, now())?;
        let CapTarget::Channel(ChannelId(cid)) = cap.target() else {
            return Err(IpcError::InvalidCapability);
        };
        let rights = cap.permissions();
        if !rights.can_send && !rights.can_receive {
            return Err(IpcError::PermissionDenied);
        }
        let channel = k
            .shm
            .channels
            .get(&cid)
            .ok_or(IpcError::InvalidCapability)?;
        let (rid, capacity, flavor) = (channel.region, channel.capacity, channel.flavor);
        let flags = F::PRESENT | F::USER_ACCESSIBLE | F::WRITABLE | F::NO_EXECUTE;
        let (va, size) = map_into(k, me, token, rid, flags)?;
        if rights.can_send
            && let Some(c) = k.shm.channels.get_mut(&cid)
            && !c.senders.contains(&me.pid)
        {
            c.senders.push(me.pid);
        }
        let flavor = match flavor {
            RingFlavor::SingleProducer => 1,
            RingFlavor::MultiProducer => 2,
        };
        Ok([va, u64::from(capacity), flavor, size])
    })
}

/// The channel `token` names, checked for `access` (a send charges the
/// rate limit and `bytes` to the bandwidth limit).
fn channel_of(
    k: &mut Kipc,
    me: ThreadEntry,
    token: CapToken,
    access: Access,
    bytes: u64,
) -> Result<u32, IpcError> {
    let cap = k.state.check(me.process, token, access, bytes, now())?;
    match cap.target() {
        CapTarget::Channel(ChannelId(cid)) if k.shm.channels.contains_key(&cid) => Ok(cid),
        _ => Err(IpcError::InvalidCapability),
    }
}

/// `notify_signal(token; bytes published)`: wakes the channel's receiver
/// (the send right; the rate limit counts signals, the bandwidth limit the
/// bytes reported).
pub(super) fn notify_signal(
    tid: ThreadId,
    token: CapToken,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    let notify = with_kipc(|k| {
        let me = k.thread_for(tid)?;
        let cid = channel_of(k, me, token, Access::Send, data[0].max(1))?;
        Ok(k.shm.channels.get(&cid).map(|c| c.notify.clone()))
    })?;
    if let Some(notify) = notify {
        notify.signal();
    }
    Ok([0; 4])
}

/// `notify_wait(token)`: waits for the channel's notification (the receive
/// right). Flags: NONBLOCK (`WouldBlock` when none is pending), TIMEOUT (a
/// TSC deadline in data word 0: `Timeout`). `ProcessNotFound` once every
/// peer that connected has gone, `InvalidCapability` if the channel died.
pub(super) fn notify_wait(
    tid: ThreadId,
    token: CapToken,
    flags: SyscallFlags,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    let deadline = flags.contains(SyscallFlags::TIMEOUT).then_some(data[0]);
    loop {
        let notify = with_kipc(|k| {
            let me = k.thread_for(tid)?;
            let cid = channel_of(k, me, token, Access::Receive, 0)?;
            let channel = k
                .shm
                .channels
                .get(&cid)
                .ok_or(IpcError::InvalidCapability)?;
            let peers = k
                .shm
                .regions
                .get(&channel.region)
                .is_some_and(|r| r.mappings.iter().any(|m| m.pid != me.pid));
            if channel.senders.iter().any(|&p| p != me.pid)
                && !peers
                && !channel.notify.pending.load(Ordering::Acquire)
            {
                return Err(IpcError::ProcessNotFound);
            }
            Ok(channel.notify.clone())
        })?;
        if notify.dead.load(Ordering::Acquire) {
            return Err(IpcError::InvalidCapability);
        }
        notify.waiter.store(tid.0 + 1, Ordering::SeqCst);
        if notify.pending.swap(false, Ordering::SeqCst) {
            notify.waiter.store(0, Ordering::Release);
            return Ok([0; 4]);
        }
        if flags.contains(SyscallFlags::NONBLOCK) {
            notify.waiter.store(0, Ordering::Release);
            return Err(IpcError::WouldBlock);
        }
        if deadline.is_some_and(|d| now() >= d) {
            notify.waiter.store(0, Ordering::Release);
            return Err(IpcError::Timeout);
        }
        let _ = task::block_current_unless_woken(
            sched::BlockedOn::Sleep,
            None,
            &notify.pending,
            deadline,
        );
        notify.waiter.store(0, Ordering::Release);
        if notify.pending.swap(false, Ordering::AcqRel) {
            return Ok([0; 4]);
        }
        if process::current_doomed() {
            return Err(IpcError::ProcessNotFound);
        }
        if deadline.is_some_and(|d| now() >= d) {
            return Err(IpcError::Timeout);
        }
        // A peer left or a stray wake-up: check the channel again.
    }
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

/// Node of each region (for tests: regions come from the caller's node).
pub fn region_nodes() -> Vec<u32> {
    let guard = KIPC.lock();
    guard.as_ref().map_or_else(Vec::new, |k| {
        k.shm.regions.values().map(|r| r.node).collect()
    })
}
