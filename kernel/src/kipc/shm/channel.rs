//! Asynchronous channels (rings in shared regions) and their sticky
//! notifications.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use ipc::IpcError;
use ipc::abi::SyscallFlags;
use ipc::cap::{Access, CapTarget, CapToken, ChannelId};
use ipc::ring::{RingFlavor, RingHeader, RingLayout, Slot};
use sched::ThreadId;
use x86_64::VirtAddr;
use x86_64::structures::paging::PageTableFlags as F;

use crate::kipc::{Kipc, ThreadEntry, now, with_kipc};
use crate::mem::{self, paging};
use crate::process;
use crate::task;

use super::*;

/// `channel_create(capacity, flavor)`: a ring of `capacity` slots (a power
/// of two), flavour 1 = one producer, 2 = many; returns `[channel
/// capability (every right), capacity, 0, 0]`.
pub(in crate::kipc) fn channel_create(tid: ThreadId, data: [u64; 4]) -> Result<[u64; 4], IpcError> {
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
pub(in crate::kipc) fn channel_connect(
    tid: ThreadId,
    token: CapToken,
) -> Result<[u64; 4], IpcError> {
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
pub(super) fn channel_of(
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
pub(in crate::kipc) fn notify_signal(
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
pub(in crate::kipc) fn notify_wait(
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
