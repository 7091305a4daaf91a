//! Shared memory regions: creation on a NUMA node, mapping with the
//! capability's rights, unmapping and transfer of ownership.

use alloc::vec::Vec;

use ipc::IpcError;
use ipc::cap::{Access, CapTarget, CapToken, ChannelId, IpcPermissions, RegionId};
use ipc::message::{CachePolicy, LargeMessage};
use sched::ThreadId;
use x86_64::structures::paging::PageTableFlags as F;

use crate::kipc::{Kipc, ThreadEntry, now};
use crate::mem::{self, paging, usertables};
use crate::process;
use crate::task::{self, Pid};

use super::*;

/// Allocates `pages` zeroed frames, all on `node` when it has room, else on
/// the nearest node that has; returns them and the node that supplied them.
pub(super) fn alloc_frames(node: u32, pages: u64) -> Result<(Vec<u64>, u32), IpcError> {
    let count = usize::try_from(pages).map_err(|_| IpcError::InvalidArgument)?;
    let mut frames = Vec::new();
    frames
        .try_reserve_exact(count)
        .map_err(|_| IpcError::OutOfMemory)?;
    let got =
        mem::alloc_frames_on_one_node(node, count, &mut frames).ok_or(IpcError::OutOfMemory)?;
    for &phys in &frames {
        // SAFETY: a fresh frame, reachable through the direct map; regions
        // must not leak earlier contents.
        unsafe { core::ptr::write_bytes(paging::phys_to_virt(phys).as_mut_ptr::<u8>(), 0, 4096) };
    }
    Ok((frames, got))
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
    let (frames, node) = alloc_frames(node, pages)?;
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
    // PAT index = PAT bit (PTE bit 7, which the `x86_64` crate names
    // HUGE_PAGE, its meaning in upper levels) * 4 + PCD * 2 + PWT; the
    // layout is `cpu::PAT_LAYOUT` (0 WB, 1 WT, 3 UC, 4 WC).
    match CachePolicy::try_from(((flags >> CACHE_SHIFT) & 0xff) as u32)? {
        CachePolicy::WriteBack => {}
        CachePolicy::WriteThrough => f |= F::WRITE_THROUGH,
        CachePolicy::Uncached => f |= F::WRITE_THROUGH | F::NO_CACHE,
        CachePolicy::WriteCombining if crate::arch::x86_64::cpu::pat_on() => f |= F::HUGE_PAGE,
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
    let pages = region.frames.len() as u64;
    let memory_type = flags & usertables::MEMORY_TYPE_BITS;
    let set = match region.tables.iter().position(|(t, _)| *t == memory_type) {
        Some(set) => set,
        None => {
            let node = region.node;
            let tables = usertables::build_leaf_tables(
                &region.frames,
                memory_type,
                &mut || mem::alloc_frame_on(node).map(|(phys, _)| phys),
                &mut |phys| {
                    let _ = mem::free_frame(phys);
                },
            )
            .ok_or(IpcError::OutOfMemory)?;
            region.tables.push((memory_type, tables));
            region.tables.len() - 1
        }
    };
    let va = process::map_shared(me.pid, &region.tables[set].1, pages, flags)?;
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
/// the caller (`flags` = `map_flags`; `AS_SENT` takes them from the large
/// message that came with the region); returns `[address, size, 1 if a large message was written to
/// the buffer else 0, 0]`.
pub(in crate::kipc) fn region_map(
    tid: ThreadId,
    token: CapToken,
    data: [u64; 4],
) -> Result<[u64; 4], IpcError> {
    let (result, envelope) = with_shm(|k, _| {
        let me = k.thread_for(tid)?;
        let (id, rights) = region_of(k, me, token)?;
        let sent = k
            .shm
            .regions
            .get(&id)
            .filter(|r| r.owner == me.pid)
            .and_then(|r| r.envelope);
        let word = match (data[0], sent) {
            (map_flags::AS_SENT, Some(message)) => sent_flags(&message)?,
            (map_flags::AS_SENT, None) => return Err(IpcError::InvalidArgument),
            (word, _) => word,
        };
        let flags = page_flags(word, &rights)?;
        let (va, size) = map_into(k, me, token, id, flags)?;
        let envelope = sent.map(|m| m.rebased(token.0, va));
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
/// owner may, with the share right. With a message, the endpoint
/// capability's size limit bounds the region's size (or the declared total
/// if larger), the descriptor's permissions and cache policy must be valid,
/// and the receiver's root has the send (write) right only if the
/// descriptor grants `WRITE`. Every mapping goes, the old capabilities die;
/// returns `[the target's root capability, target pid,
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
                sent_flags(message)?;
                let endpoint_token = CapToken(data[0]);
                // The limit bounds what is handed over: the whole region,
                // whatever the header declares.
                let total = message.header().total_size().max(size);
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
        // The receiver of a large message may write only what its
        // descriptor lets it write.
        let mut permissions = region_permissions(size);
        if let Some(message) = &envelope {
            permissions.can_send = sent_flags(message)? & map_flags::WRITE != 0;
        }
        // Mint the target's root first: if that fails nothing changed.
        let new_root = k
            .state
            .mint(to, CapTarget::Region(RegionId(id)), permissions)?;
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

/// Maps one fresh frame into a sleeping worker process once per entry of
/// `requests` (`region_map` flag words), through leaf tables of its own as
/// a region would, and calls `probe(pml4, va)` on each mapping.
fn probe_mappings<T>(
    requests: &[u64],
    mut probe: impl FnMut(u64, u64) -> T,
) -> Result<Vec<T>, alloc::string::String> {
    use alloc::format;
    let (phys, _) = mem::alloc_frame_on(0).ok_or("out of frames")?;
    // A worker that sleeps 3 s: alive while its mappings are probed.
    let placement = crate::process::Placement::Caller;
    let pid = crate::process::spawn("worker", 9 | 3_000 << 8, placement, 10, 0)
        .map_err(|e| format!("spawn: {e:?}"))?;
    let pml4 = crate::process::pml4_of(pid).ok_or("no worker")?;
    let mut seen = Vec::new();
    let mut result = Ok(());
    for &request in requests {
        let flags = match page_flags(request, &region_permissions(4096)) {
            Ok(flags) => flags,
            Err(e) => {
                result = Err(format!("flags {request:#x}: {e:?}"));
                break;
            }
        };
        let Some(tables) = usertables::build_leaf_tables(
            &[phys],
            flags & usertables::MEMORY_TYPE_BITS,
            &mut || mem::alloc_frame_on(0).map(|(t, _)| t),
            &mut |t| {
                let _ = mem::free_frame(t);
            },
        ) else {
            result = Err("out of frames".into());
            break;
        };
        match crate::process::map_shared(pid, &tables, 1, flags) {
            Ok(va) => {
                seen.push(probe(pml4, va));
                if let Some(cpus) = crate::process::unmap_shared(pid, va, 1) {
                    mem::tlb::shootdown(VirtAddr::new(va), 1, cpus);
                }
                crate::process::release_shared(pid, va, 1);
            }
            Err(e) => result = Err(format!("map {request:#x}: {e:?}")),
        }
        for t in tables {
            let _ = mem::free_frame(t);
        }
        if result.is_err() {
            break;
        }
    }
    let reaped = crate::process::kill_and_reap(pid);
    let _ = mem::free_frame(phys);
    result?;
    crate::kensure!(reaped, "worker {pid} was not reaped");
    Ok(seen)
}

crate::ktest! {
    /// A write-combining mapping selects the PAT's write-combining entry:
    /// PTE bit 7 (PAT) set, PWT and PCD clear; this CPU's IA32_PAT holds
    /// `cpu::PAT_LAYOUT`, and write-back stays PAT index 0.
    fn write_combining_maps_through_the_pat() {
        use crate::arch::x86_64::cpu;
        crate::kensure!(cpu::pat_on(), "CPUID has no PAT");
        crate::kensure!(
            cpu::pat_msr() == Some(cpu::pat_msr_value()),
            "IA32_PAT {:x?}, want {:#x}",
            cpu::pat_msr(),
            cpu::pat_msr_value()
        );
        let pat_index = |f: F| {
            usize::from(f.contains(F::HUGE_PAGE)) * 4
                + usize::from(f.contains(F::NO_CACHE)) * 2
                + usize::from(f.contains(F::WRITE_THROUGH))
        };
        let policies = [
            CachePolicy::WriteBack,
            CachePolicy::WriteThrough,
            CachePolicy::Uncached,
            CachePolicy::WriteCombining,
        ];
        let requests = policies.map(|p| map_flags::WRITE | (p as u64) << map_flags::CACHE_SHIFT);
        let seen = probe_mappings(&requests, |pml4, va| {
            usertables::translate(pml4, va).map(|(_, f)| cpu::PAT_LAYOUT[pat_index(f)])
        })?;
        let want = [
            cpu::MemoryType::WriteBack,
            cpu::MemoryType::WriteThrough,
            cpu::MemoryType::Uncached,
            cpu::MemoryType::WriteCombining,
        ]
        .map(Some);
        crate::kensure!(seen == want, "memory types of the mappings {seen:?}, want {want:?}");
        Ok(())
    }
}

crate::ktest! {
    /// A region's leaf entries allow writing and execution; the mapping's
    /// directory entry restricts them. The kernel's user copies honour the
    /// restriction: a write into a read-only mapping is `BadAddress`, a read
    /// is not; a writable mapping takes both.
    fn read_only_mappings_of_shared_tables_refuse_kernel_writes() {
        let copies = |pml4: u64, va: u64| {
            let mut byte = [0u8; 1];
            (
                crate::usercopy::copy_from_user(pml4, va, &mut byte).is_ok(),
                crate::usercopy::copy_to_user(pml4, va, &[1]),
                usertables::translate(pml4, va).map(|(_, f)| f.contains(F::NO_EXECUTE)),
            )
        };
        let seen = probe_mappings(&[0, map_flags::WRITE, map_flags::EXECUTE], copies)?;
        let want = [
            (true, Err(IpcError::BadAddress), Some(true)),
            (true, Ok(()), Some(true)),
            (true, Err(IpcError::BadAddress), Some(false)),
        ];
        crate::kensure!(seen == want, "(read, write, no-execute) per mapping {seen:?}, want {want:?}");
        Ok(())
    }
}
