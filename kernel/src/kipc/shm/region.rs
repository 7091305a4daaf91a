//! Shared memory regions: creation on a NUMA node, mapping with the
//! capability's rights, unmapping and transfer of ownership.

use alloc::vec::Vec;

use ipc::IpcError;
use ipc::cap::{Access, CapTarget, CapToken, ChannelId, IpcPermissions, RegionId};
use ipc::message::{CachePolicy, LargeMessage};
use sched::ThreadId;
use x86_64::structures::paging::PageTableFlags as F;

use crate::kipc::{Kipc, ThreadEntry, now};
use crate::mem::{self, paging};
use crate::process;
use crate::task::{self, Pid};

use super::*;

/// Allocates `pages` zeroed frames on `node` (or the nearest with room).
pub(super) fn alloc_frames(node: u32, pages: u64) -> Result<Vec<u64>, IpcError> {
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

pub(super) fn node_arg(word: u64) -> Result<u32, IpcError> {
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

pub(super) fn region_permissions(bytes: u64) -> IpcPermissions {
    IpcPermissions::all(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// `region_create(size, node + 1 or 0 for the caller's)`: returns `[root
/// capability, size in bytes (whole pages), node, 0]`.
pub(in crate::kipc) fn region_create(tid: ThreadId, data: [u64; 4]) -> Result<[u64; 4], IpcError> {
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
pub(super) fn region_of(
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
pub(super) fn page_flags(flags: u64, rights: &IpcPermissions) -> Result<F, IpcError> {
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
pub(super) fn map_into(
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
pub(in crate::kipc) fn region_map(
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
pub(super) fn unmap_at(
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
pub(in crate::kipc) fn region_unmap(
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
pub(in crate::kipc) fn region_transfer(
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
