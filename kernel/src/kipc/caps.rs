//! Capability syscalls: endpoint creation, derive, grant, revoke, info, and
//! the per-endpoint metrics read through a capability.
//!
//! Rights travel in one word (see `rt::ipc::Rights`): bit 0 send, bit 1
//! receive, bit 2 share, bits 32..64 the largest message in bytes (0 = the
//! source capability's). A rate limit of 0 and a badge of 0 mean "the
//! source's". Bandwidth limits and expiry are inherited.

use alloc::vec::Vec;

use ipc::IpcError;
use ipc::audit::AuditKind;
use ipc::cap::{CapTarget, CapToken, IpcLimits, IpcPermissions};
use sched::ThreadId;

use super::{
    EndpointInfo, IpcResult, Kipc, SMALL_MESSAGE_BYTES, ThreadEntry, audit, now, with_kipc,
};
use crate::task::Pid;

/// Rights bits of the rights word.
mod rights {
    pub const SEND: u64 = 1 << 0;
    pub const RECEIVE: u64 = 1 << 1;
    pub const SHARE: u64 = 1 << 2;
    pub const ALL: u64 = SEND | RECEIVE | SHARE;
}

/// Decodes a rights word against the source's largest message size.
fn decode_rights(word: u64, parent: &IpcPermissions) -> Result<IpcPermissions, IpcError> {
    if word & 0xffff_ffff & !rights::ALL != 0 {
        return Err(IpcError::InvalidArgument);
    }
    let size = word >> 32;
    Ok(IpcPermissions {
        can_send: word & rights::SEND != 0,
        can_receive: word & rights::RECEIVE != 0,
        can_share: word & rights::SHARE != 0,
        max_message_size: if size == 0 {
            parent.max_message_size
        } else {
            usize::try_from(size).map_err(|_| IpcError::InvalidArgument)?
        },
    })
}

/// Encodes permissions as a rights word.
fn encode_rights(p: &IpcPermissions) -> u64 {
    let mut bits = 0;
    for (granted, bit) in [
        (p.can_send, rights::SEND),
        (p.can_receive, rights::RECEIVE),
        (p.can_share, rights::SHARE),
    ] {
        if granted {
            bits |= bit;
        }
    }
    bits | (p.max_message_size.min(u32::MAX as usize) as u64) << 32
}

/// What a derived capability gets, from the request and its source.
struct Request {
    permissions: IpcPermissions,
    limits: IpcLimits,
    badge: Option<u64>,
    target: CapTarget,
}

fn request(
    k: &Kipc,
    me: ThreadEntry,
    token: CapToken,
    rights_word: u64,
    rate: u64,
    badge: u64,
    now: u64,
) -> Result<Request, IpcError> {
    let source = k.capability(me.process, token, now)?;
    let permissions = decode_rights(rights_word, source.permissions())?;
    let rate_limit = match rate {
        0 => source.limits().rate_limit,
        n => Some(u32::try_from(n).map_err(|_| IpcError::InvalidArgument)?),
    };
    Ok(Request {
        permissions,
        limits: IpcLimits {
            rate_limit,
            ..*source.limits()
        },
        badge: (badge != 0).then_some(badge),
        target: source.target(),
    })
}

/// Audits a capability creation (or its refusal) and refines the error.
fn created(
    k: &mut Kipc,
    me: ThreadEntry,
    source: CapToken,
    holder: Pid,
    target: Option<CapTarget>,
    result: Result<CapToken, IpcError>,
) -> Result<CapToken, IpcError> {
    let t = now();
    match result {
        Ok(token) => {
            let holder_process = k.procs.get(&holder).map(|p| p.id);
            let object = holder_process
                .and_then(|p| k.capability(p, token, t).ok())
                .map_or(0, |c| c.id());
            audit::record(AuditKind::Grant, me.pid, token, object, Ok(()));
            if let Some(CapTarget::Endpoint(endpoint)) = target {
                k.remember(holder, token, endpoint);
            }
            Ok(token)
        }
        Err(error) => {
            let object = k.capability(me.process, source, t).map_or(0, |c| c.id());
            let error = k.refine(me.pid, source, error);
            audit::record(AuditKind::Denied, me.pid, source, object, Err(error));
            Err(error)
        }
    }
}

/// `endpoint_create(max_message_size)`: a new endpoint owned by the caller.
/// Returns `[receive capability (every right), send capability (send and
/// share, derived from the first), 0, 0]`; revoking the first revokes both.
pub(super) fn endpoint_create(tid: ThreadId, data: [u64; 4]) -> Result<[u64; 4], IpcError> {
    let max = match data[0] {
        0 => SMALL_MESSAGE_BYTES,
        n => n,
    };
    let max = usize::try_from(max).map_err(|_| IpcError::InvalidArgument)?;
    with_kipc(|k| {
        let me = k.thread_for(tid)?;
        let (endpoint, root) = k.state.create_endpoint(me.process, max)?;
        k.incarnations += 1;
        let info = EndpointInfo {
            incarnation: k.incarnations,
            owner: me.pid,
            owner_dead: false,
            foreign_receiver: false,
        };
        let index = endpoint.0 as usize;
        if k.endpoints.len() <= index {
            k.endpoints.resize_with(index + 1, || EndpointInfo {
                incarnation: 0,
                owner: 0,
                owner_dead: true,
                foreign_receiver: false,
            });
        }
        k.endpoints[index] = info;
        let target = Some(CapTarget::Endpoint(endpoint));
        let root = created(k, me, CapToken::NULL, me.pid, target, Ok(root))?;
        let send_only = IpcPermissions {
            can_send: true,
            can_receive: false,
            can_share: true,
            max_message_size: max,
        };
        let t = now();
        let send = k
            .state
            .derive(me.process, root, send_only, IpcLimits::NONE, None, t);
        let send = created(k, me, root, me.pid, target, send)?;
        Ok([root.0, send.0, 0, 0])
    })
}

/// `cap_derive(token; rights, rate, badge)`: a capability with equal or
/// fewer rights in the caller's space, revoked with its source.
pub(super) fn derive(tid: ThreadId, token: CapToken, data: [u64; 4]) -> Result<[u64; 4], IpcError> {
    let [rights_word, rate, badge, _] = data;
    with_kipc(|k| {
        let me = k.thread_for(tid)?;
        let t = now();
        let result = request(k, me, token, rights_word, rate, badge, t).and_then(|r| {
            k.state
                .derive(me.process, token, r.permissions, r.limits, r.badge, t)
                .map(|token| (token, r.target))
        });
        let target = result.as_ref().ok().map(|(_, target)| *target);
        let new = created(k, me, token, me.pid, target, result.map(|(t, _)| t))?;
        Ok([new.0, 0, 0, 0])
    })
}

/// `cap_grant(token; pid, rights, rate, badge)`: gives process `pid` a
/// capability derived from `token` (the caller needs the share right);
/// returns the token in `pid`'s space.
pub(super) fn grant(tid: ThreadId, token: CapToken, data: [u64; 4]) -> Result<[u64; 4], IpcError> {
    let [pid, rights_word, rate, badge] = data;
    let pid = Pid::try_from(pid).map_err(|_| IpcError::ProcessNotFound)?;
    with_kipc(|k| {
        let me = k.thread_for(tid)?;
        let t = now();
        let result = k
            .procs
            .get(&pid)
            .map(|p| p.id)
            .ok_or(IpcError::ProcessNotFound)
            .and_then(|to| {
                let r = request(k, me, token, rights_word, rate, badge, t)?;
                let new =
                    k.state
                        .grant(me.process, token, to, r.permissions, r.limits, r.badge, t)?;
                Ok((new, r))
            });
        if let Ok((_, r)) = &result
            && let CapTarget::Endpoint(endpoint) = r.target
            && r.permissions.can_receive
            && pid != me.pid
            && let Some(info) = k.endpoints.get_mut(endpoint.0 as usize)
        {
            info.foreign_receiver = true;
        }
        let target = result.as_ref().ok().map(|(_, r)| r.target);
        let new = created(k, me, token, pid, target, result.map(|(t, _)| t))?;
        Ok([new.0, 0, 0, 0])
    })
}

/// `cap_revoke(token)`: revokes the capability and everything derived from
/// it, in every space, at once; returns how many capabilities died.
pub(super) fn revoke(tid: ThreadId, token: CapToken) -> Result<[u64; 4], IpcError> {
    let mut wakes = Vec::new();
    let result = revoke_caps(tid, token, &mut wakes);
    // Threads that waited through what died wake with an error; mappings
    // made through it go, everywhere, before this returns.
    for waiter in wakes {
        crate::task::wake(waiter);
    }
    super::shm::sweep_now();
    result
}

fn revoke_caps(
    tid: ThreadId,
    token: CapToken,
    wakes: &mut Vec<ThreadId>,
) -> Result<[u64; 4], IpcError> {
    with_kipc(|k| {
        let me = k.thread_for(tid)?;
        let object = k.capability(me.process, token, 0).map_or(0, |c| c.id());
        match k.state.revoke(me.process, token) {
            Ok((count, actions)) => {
                super::post_wakes(k, actions, wakes);
                audit::record(AuditKind::Revoke, me.pid, token, object, Ok(()));
                Ok([count as u64, 0, 0, 0])
            }
            Err(error) => {
                let error = k.refine(me.pid, token, error);
                audit::record(AuditKind::Denied, me.pid, token, object, Err(error));
                Err(error)
            }
        }
    })
}

/// `cap_info(token)`: `[rights word, rate limit (0 = none), badge, object
/// id]` of a valid capability.
pub(super) fn info(tid: ThreadId, token: CapToken) -> Result<[u64; 4], IpcError> {
    with_kipc(|k| {
        let me = k.thread_for(tid)?;
        let capability = k
            .capability(me.process, token, now())
            .map_err(|e| k.refine(me.pid, token, e))?;
        Ok([
            encode_rights(capability.permissions()),
            capability.limits().rate_limit.map_or(0, u64::from),
            capability.badge(),
            capability.id(),
        ])
    })
}

/// `metrics_read(token; buffer)`: the metrics of the endpoint `token`
/// designates (any valid capability to it will do). Returns `[sent,
/// received, average latency ns, peak latency ns]` and the throughput
/// (messages/s) as the badge; with a non-zero `buffer`, also copies the
/// whole `IpcMetricsSnapshot` (five words) there.
pub(super) fn metrics_read(tid: ThreadId, token: CapToken, data: [u64; 4]) -> IpcResult {
    let (snapshot, pid) = with_kipc(|k| {
        let me = k.thread_for(tid)?;
        let t = now();
        let capability = k
            .capability(me.process, token, t)
            .map_err(|e| k.refine(me.pid, token, e))?;
        let CapTarget::Endpoint(endpoint) = capability.target() else {
            return Err(IpcError::InvalidCapability);
        };
        let metrics = k
            .state
            .endpoint_metrics(endpoint)
            .ok_or(IpcError::InvalidCapability)?;
        metrics.update_throughput(k.tsc_to_ns(t), 1_000_000_000);
        Ok((metrics.snapshot(), me.pid))
    })?;
    let words = snapshot.to_words();
    if data[0] != 0 {
        let pml4 = crate::process::pml4_of(pid).ok_or(IpcError::ProcessNotFound)?;
        let mut bytes = [0u8; 40];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        crate::usercopy::copy_to_user(pml4, data[0], &bytes)?;
    }
    Ok(([words[0], words[1], words[2], words[3]], words[4]))
}
