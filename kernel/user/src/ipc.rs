//! `rt::ipc`: synchronous IPC and capabilities from user space.
//!
//! Thin inline wrappers around the raw syscall (see `ipc::abi`): `rdi` the
//! capability, `rsi` opcode | flags << 32, `rdx r10 r8 r9` the four message
//! words; on return `rax` the status, the words in `rdx r10 r8 r9` and the
//! sender's badge in `rsi`.
//!
//! [`Endpoint`] mirrors the design's `SyncIPC`: [`Endpoint::send_recv`]
//! (a call), [`Endpoint::recv`], [`reply`], plus [`Endpoint::reply_recv`]
//! (a server's loop in one syscall) and [`Endpoint::send`] (non-blocking).
//!
//! Capability tokens are per process. The first capabilities a process is
//! given land in slots 0, 1, 2... in order ([`initial_cap`]), which is how a
//! freshly spawned program finds what its parent granted it.
//!
//! The error type and the ABI are re-exported (`rt::ipc::IpcError`,
//! `rt::ipc::abi`); inside `rt` the name `ipc` means this module.

pub use ::ipc::IpcError;
pub use ::ipc::abi;
use ::ipc::abi::{Opcode, SyscallFlags};
use ::ipc::cap::CapToken;
use ::ipc::metrics::IpcMetricsSnapshot;

use crate::arch;

/// The four data words of a small message.
pub type Words = [u64; 4];

/// A received message: its words and the badge of the capability the
/// sender used (0 = unbadged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The data words.
    pub data: Words,
    /// The sender's badge.
    pub badge: u64,
}

#[inline(always)]
pub(crate) fn raw(
    op: Opcode,
    flags: SyscallFlags,
    cap: u64,
    data: Words,
) -> Result<Message, IpcError> {
    let r = arch::syscall(cap, op as u64 | (u64::from(flags.bits()) << 32), data);
    if r.status == 0 {
        Ok(Message {
            data: r.data,
            badge: r.badge,
        })
    } else {
        Err(IpcError::from_code(r.status).unwrap_or(IpcError::InvalidArgument))
    }
}

/// The token of the `n`th capability a fresh process was given (slot `n`,
/// first generation).
#[inline]
pub const fn initial_cap(n: u32) -> u64 {
    CapToken::new(n, 1).0
}

/// An endpoint capability (send, receive or both, as its rights say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint(pub u64);

impl Endpoint {
    /// Creates an endpoint for messages up to `max_message_size` bytes (0 =
    /// the 32 bytes of a small message); returns (receive capability with
    /// every right, send capability derived from it).
    ///
    /// # Errors
    /// `OutOfMemory` when the capability space is full.
    pub fn create(max_message_size: u64) -> Result<(Endpoint, Endpoint), IpcError> {
        let r = raw(
            Opcode::EndpointCreate,
            SyscallFlags::empty(),
            0,
            [max_message_size, 0, 0, 0],
        )?;
        Ok((Endpoint(r.data[0]), Endpoint(r.data[1])))
    }

    /// Calls: sends `data` and waits for the reply's words.
    ///
    /// # Errors
    /// `InvalidCapability`, `PermissionDenied`, `MessageTooLarge`,
    /// `RateLimitExceeded`, `ProcessNotFound` (the endpoint's owner or the
    /// server serving the call died), `Deadlock` (nobody but the caller
    /// could ever receive).
    #[inline(always)]
    pub fn send_recv(self, data: Words) -> Result<Words, IpcError> {
        raw(Opcode::Call, SyscallFlags::empty(), self.0, data).map(|m| m.data)
    }

    /// Receives the next message, waiting for one.
    ///
    /// # Errors
    /// Capability errors; `InvalidArgument` while a received call is not
    /// replied to yet.
    #[inline(always)]
    pub fn recv(self) -> Result<Message, IpcError> {
        raw(Opcode::Recv, SyscallFlags::empty(), self.0, [0; 4])
    }

    /// Receives a message if one is queued.
    ///
    /// # Errors
    /// `WouldBlock` when none is; else as [`Endpoint::recv`].
    #[inline(always)]
    pub fn try_recv(self) -> Result<Message, IpcError> {
        raw(Opcode::Recv, SyscallFlags::NONBLOCK, self.0, [0; 4])
    }

    /// Receives a message, waiting until the TSC reaches `deadline`.
    ///
    /// # Errors
    /// `Timeout` when it does; else as [`Endpoint::recv`].
    #[inline(always)]
    pub fn recv_until(self, deadline_tsc: u64) -> Result<Message, IpcError> {
        raw(
            Opcode::Recv,
            SyscallFlags::TIMEOUT,
            self.0,
            [deadline_tsc, 0, 0, 0],
        )
    }

    /// Replies `data` to the caller being served (if any), then receives.
    ///
    /// # Errors
    /// As [`Endpoint::recv`], checked before replying.
    #[inline(always)]
    pub fn reply_recv(self, data: Words) -> Result<Message, IpcError> {
        raw(Opcode::ReplyRecv, SyscallFlags::empty(), self.0, data)
    }

    /// Sends `data` to a receiver waiting now; never blocks.
    ///
    /// # Errors
    /// `WouldBlock` when no receiver waits; else as [`Endpoint::send_recv`].
    #[inline(always)]
    pub fn send(self, data: Words) -> Result<(), IpcError> {
        raw(Opcode::Send, SyscallFlags::empty(), self.0, data).map(|_| ())
    }

    /// The endpoint's metrics (any valid capability to it will do).
    ///
    /// # Errors
    /// Capability errors.
    pub fn metrics(self) -> Result<IpcMetricsSnapshot, IpcError> {
        let mut words = [0u64; 5];
        raw(
            Opcode::MetricsRead,
            SyscallFlags::empty(),
            self.0,
            [words.as_mut_ptr() as u64, 0, 0, 0],
        )?;
        Ok(IpcMetricsSnapshot::from_words(words))
    }
}

/// Replies `data` to the caller being served.
///
/// # Errors
/// `InvalidCapability` if no caller waits for a reply from us.
#[inline(always)]
pub fn reply(data: Words) -> Result<(), IpcError> {
    raw(Opcode::Reply, SyscallFlags::empty(), 0, data).map(|_| ())
}

/// What a derived or granted capability may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights {
    /// May call and send.
    pub send: bool,
    /// May receive.
    pub receive: bool,
    /// May grant and derive.
    pub share: bool,
    /// Largest message in bytes (0 = the source's).
    pub max_message_size: u32,
    /// Messages per second (0 = the source's limit).
    pub rate_limit: u32,
}

impl Rights {
    /// Send only (what a client needs).
    pub const SEND: Rights = Rights {
        send: true,
        receive: false,
        share: false,
        max_message_size: 0,
        rate_limit: 0,
    };
    /// Receive only (what a server needs).
    pub const RECEIVE: Rights = Rights {
        send: false,
        receive: true,
        share: false,
        max_message_size: 0,
        rate_limit: 0,
    };

    /// The rights word of the ABI.
    pub const fn word(self) -> u64 {
        (self.send as u64)
            | (self.receive as u64) << 1
            | (self.share as u64) << 2
            | (self.max_message_size as u64) << 32
    }

    /// The same rights, also shareable.
    pub const fn shareable(self) -> Rights {
        Rights {
            share: true,
            ..self
        }
    }

    /// The same rights at most `per_second` messages per second.
    pub const fn rate(self, per_second: u32) -> Rights {
        Rights {
            rate_limit: per_second,
            ..self
        }
    }

    /// The same rights for messages up to `bytes`.
    pub const fn max_size(self, bytes: u32) -> Rights {
        Rights {
            max_message_size: bytes,
            ..self
        }
    }
}

/// Gives process `pid` a capability derived from `cap` with `rights` and
/// `badge` (0 = the source's); returns its token in `pid`'s space.
///
/// # Errors
/// `ProcessNotFound`, `InvalidCapability`, `PermissionDenied` (no share
/// right, wider rights, or a new badge on a badged capability),
/// `OutOfMemory`.
pub fn grant(cap: u64, pid: u32, rights: Rights, badge: u64) -> Result<u64, IpcError> {
    raw(
        Opcode::CapGrant,
        SyscallFlags::empty(),
        cap,
        [
            u64::from(pid),
            rights.word(),
            u64::from(rights.rate_limit),
            badge,
        ],
    )
    .map(|m| m.data[0])
}

/// Derives a capability from `cap` in our own space.
///
/// # Errors
/// As [`grant`].
pub fn derive(cap: u64, rights: Rights, badge: u64) -> Result<u64, IpcError> {
    raw(
        Opcode::CapDerive,
        SyscallFlags::empty(),
        cap,
        [rights.word(), u64::from(rights.rate_limit), badge, 0],
    )
    .map(|m| m.data[0])
}

/// Revokes `cap` and everything derived from it, everywhere; returns how
/// many capabilities died.
///
/// # Errors
/// `InvalidCapability`.
pub fn revoke(cap: u64) -> Result<u64, IpcError> {
    raw(Opcode::CapRevoke, SyscallFlags::empty(), cap, [0; 4]).map(|m| m.data[0])
}

/// What a capability is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapInfo {
    /// Its rights (the rate limit included).
    pub rights: Rights,
    /// Its badge.
    pub badge: u64,
    /// The kernel's id of the capability object (never reused).
    pub object: u64,
}

/// Describes `cap`.
///
/// # Errors
/// `InvalidCapability` (or `ProcessNotFound` when it died with its
/// endpoint's owner).
pub fn info(cap: u64) -> Result<CapInfo, IpcError> {
    let d = raw(Opcode::CapInfo, SyscallFlags::empty(), cap, [0; 4])?.data;
    Ok(CapInfo {
        rights: Rights {
            send: d[0] & 1 != 0,
            receive: d[0] & 2 != 0,
            share: d[0] & 4 != 0,
            max_message_size: (d[0] >> 32) as u32,
            rate_limit: d[1] as u32,
        },
        badge: d[2],
        object: d[3],
    })
}

/// Waits until `cap` is valid in our space: `tries` checks with a yield
/// between them, then checks every millisecond (sleeping: a yield does not
/// let a lower-priority granter on this CPU run) for up to 60 s more;
/// whether it became valid.
pub fn wait_for_cap(cap: u64, tries: u32) -> bool {
    for _ in 0..tries.min(1_000) {
        if info(cap).is_ok() {
            return true;
        }
        crate::yield_now();
    }
    for _ in 0..60_000 {
        if info(cap).is_ok() {
            return true;
        }
        crate::sleep_ns(1_000_000);
    }
    false
}

/// Prints the kernel's audit rings as `@audit v1` lines; returns (records
/// printed, records lost to overwriting).
///
/// # Errors
/// None in practice.
pub fn audit_dump() -> Result<(u64, u64), IpcError> {
    raw(Opcode::AuditDump, SyscallFlags::empty(), 0, [0; 4]).map(|m| (m.data[0], m.data[1]))
}
