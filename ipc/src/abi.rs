//! The syscall ABI shared by the kernel and user programs.
//!
//! On `SYSCALL` entry:
//!
//! | register | meaning |
//! |---|---|
//! | `rdi` | capability token ([`crate::cap::CapToken`], `0` when none) |
//! | `rsi` | opcode in the low 32 bits, [`SyscallFlags`] in the high 32 bits |
//! | `rdx r10 r8 r9` | the four data words of a [`SmallMessage`] |
//!
//! The design document's `rcx` is clobbered by `SYSCALL` (it holds the return
//! `rip`, `r11` holds `rflags`), so `r10` takes its place, as on Linux.
//!
//! On return: `rax` = status (`0` or an [`IpcError`] code), `rdx r10 r8 r9` =
//! the four data words delivered to the caller, `rsi` = the badge of the
//! capability the delivered message came through (`0` when no message was
//! delivered or the capability is unbadged). `rdi` is preserved; `rcx` and
//! `r11` are clobbered.

use bitflags::bitflags;

use crate::error::{IpcError, STATUS_OK, UnknownStatusCode, result_from_status};
use crate::message::SmallMessage;

/// A system call number.
///
/// Numbers are grouped by subsystem in blocks of 256 (the high byte of the
/// low 16 bits), so each group has room to grow without renumbering; they are
/// ABI and never change.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// Write `data[1]` bytes at user address `data[0]` to the debug console.
    DebugWrite = 0x0001,
    /// End the calling process with exit code `data[0]`.
    Exit = 0x0002,
    /// Start a process from a boot image.
    Spawn = 0x0003,
    /// Wait for a child process to exit.
    Wait = 0x0004,
    /// Kill a process (needs a process capability).
    Kill = 0x0005,
    /// Give up the rest of the time slice.
    Yield = 0x0006,
    /// Sleep for `data[0]` nanoseconds.
    Sleep = 0x0007,
    /// Read the TSC, its frequency, the CPU index and the caller's pid.
    GetTime = 0x0008,
    /// Return the four data words and the capability word unchanged (ABI
    /// round-trip tests and the null-syscall benchmark).
    Echo = 0x0009,
    /// Scheduling facts about live process `data[0]` (an ended one is
    /// `ProcessNotFound`): times its threads were
    /// switched in, the CPU of its first thread, its effective and base
    /// priority.
    ProcInfo = 0x000a,

    /// Send and wait for the reply (the design's `send_recv`).
    Call = 0x0100,
    /// Wait for a message on an endpoint.
    Recv = 0x0101,
    /// Reply to the caller being served.
    Reply = 0x0102,
    /// Reply to the current caller, then wait for the next message.
    ReplyRecv = 0x0103,
    /// Non-blocking send: delivered only if a receiver is waiting.
    Send = 0x0104,
    /// Create an endpoint; returns its capability.
    EndpointCreate = 0x0105,

    /// Give a derived capability to another process.
    CapGrant = 0x0200,
    /// Derive a capability with equal or fewer rights.
    CapDerive = 0x0201,
    /// Revoke a capability and all its descendants.
    CapRevoke = 0x0202,
    /// Describe a capability (kind, rights, limits).
    CapInfo = 0x0203,

    /// Create an asynchronous channel.
    ChannelCreate = 0x0300,
    /// Connect to an asynchronous channel.
    ChannelConnect = 0x0301,
    /// Wait for a notification.
    NotifyWait = 0x0302,
    /// Signal a notification.
    NotifySignal = 0x0303,

    /// Create a shared memory region.
    RegionCreate = 0x0400,
    /// Map a region into the caller's address space.
    RegionMap = 0x0401,
    /// Unmap a region.
    RegionUnmap = 0x0402,
    /// Move a region's ownership to another process.
    RegionTransfer = 0x0403,

    /// Read an endpoint's [`crate::metrics::IpcMetricsSnapshot`].
    MetricsRead = 0x0500,
    /// Dump the audit rings to the serial console.
    AuditDump = 0x0501,

    /// Performance counters on the caller's CPU: `data[0] = 0` programs and
    /// starts them and returns the mask of those counting in `data[0]` (0:
    /// no usable PMU); `data[0] = 1` returns the counts since the start of
    /// counters `data[1]..data[1] + 4` (in the order of
    /// `perf::pmu::plan::COUNTER_NAMES`; 0 where not counting).
    PerfCounters = 0x0600,
}

impl Opcode {
    /// Every opcode, for exhaustive tests and tables.
    pub const ALL: [Opcode; 31] = [
        Opcode::DebugWrite,
        Opcode::Echo,
        Opcode::ProcInfo,
        Opcode::Exit,
        Opcode::Spawn,
        Opcode::Wait,
        Opcode::Kill,
        Opcode::Yield,
        Opcode::Sleep,
        Opcode::GetTime,
        Opcode::Call,
        Opcode::Recv,
        Opcode::Reply,
        Opcode::ReplyRecv,
        Opcode::Send,
        Opcode::EndpointCreate,
        Opcode::CapGrant,
        Opcode::CapDerive,
        Opcode::CapRevoke,
        Opcode::CapInfo,
        Opcode::ChannelCreate,
        Opcode::ChannelConnect,
        Opcode::NotifyWait,
        Opcode::NotifySignal,
        Opcode::RegionCreate,
        Opcode::RegionMap,
        Opcode::RegionUnmap,
        Opcode::RegionTransfer,
        Opcode::MetricsRead,
        Opcode::AuditDump,
        Opcode::PerfCounters,
    ];
}

impl TryFrom<u32> for Opcode {
    type Error = IpcError;

    /// # Errors
    /// [`IpcError::InvalidArgument`] for a number that names no opcode.
    fn try_from(raw: u32) -> Result<Self, IpcError> {
        // A linear scan of the table; the compiler turns the equivalent match
        // into a jump table, but the table keeps one source of truth.
        Opcode::ALL
            .iter()
            .copied()
            .find(|op| *op as u32 == raw)
            .ok_or(IpcError::InvalidArgument)
    }
}

bitflags! {
    /// Modifiers carried in the high 32 bits of `rsi`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SyscallFlags: u32 {
        /// Fail with [`IpcError::WouldBlock`] instead of blocking.
        const NONBLOCK = 1 << 0;
        /// Bound the wait: for `Recv`, `NotifyWait` and `Wait`, `data[3]`
        /// (`r9`) holds a relative timeout in nanoseconds.
        const TIMEOUT = 1 << 1;
    }
}

/// The registers of a syscall, as the entry stub saved them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SyscallArgs {
    /// `rdi`: capability token.
    pub capability: u64,
    /// `rsi`: opcode (low 32 bits) | flags (high 32 bits).
    pub opcode_and_flags: u64,
    /// `rdx r10 r8 r9`.
    pub data: [u64; 4],
}

impl SyscallArgs {
    /// Packs arguments the way user code loads registers.
    #[must_use]
    pub const fn new(capability: u64, opcode: Opcode, flags: SyscallFlags, data: [u64; 4]) -> Self {
        Self {
            capability,
            opcode_and_flags: (opcode as u32 as u64) | ((flags.bits() as u64) << 32),
            data,
        }
    }

    /// The opcode in `rsi`'s low half.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] for an unknown opcode.
    pub fn opcode(&self) -> Result<Opcode, IpcError> {
        Opcode::try_from(self.opcode_and_flags as u32)
    }

    /// The flags in `rsi`'s high half.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] if a flag bit this build does not know is
    /// set (rejecting them keeps those bits free for future meanings).
    pub fn flags(&self) -> Result<SyscallFlags, IpcError> {
        SyscallFlags::from_bits((self.opcode_and_flags >> 32) as u32)
            .ok_or(IpcError::InvalidArgument)
    }

    /// The registers as the message they carry.
    #[must_use]
    pub const fn to_small_message(&self) -> SmallMessage {
        SmallMessage::new(
            self.capability,
            self.opcode_and_flags as u32,
            (self.opcode_and_flags >> 32) as u32,
            self.data,
        )
    }

    /// Registers carrying `message`.
    #[must_use]
    pub const fn from_small_message(message: &SmallMessage) -> Self {
        Self {
            capability: message.capability(),
            opcode_and_flags: (message.opcode() as u64) | ((message.flags() as u64) << 32),
            data: message.data(),
        }
    }
}

/// The registers a syscall returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SyscallRet {
    /// `rax`: `0` or an [`IpcError`] code.
    pub status: u64,
    /// `rdx r10 r8 r9`: data words delivered to the caller.
    pub data: [u64; 4],
    /// `rsi`: badge of the capability the delivered message came through.
    pub badge: u64,
}

impl SyscallRet {
    /// Success with a delivered message.
    #[must_use]
    pub const fn ok(data: [u64; 4], badge: u64) -> Self {
        Self {
            status: STATUS_OK,
            data,
            badge,
        }
    }

    /// Failure; data words and badge are zeroed so nothing leaks.
    #[must_use]
    pub const fn err(error: IpcError) -> Self {
        Self {
            status: error.code(),
            data: [0; 4],
            badge: 0,
        }
    }

    /// Decodes the registers user code got back.
    ///
    /// # Errors
    /// The outer error is [`UnknownStatusCode`] for a status this build does
    /// not know; the inner result is the operation's outcome, with
    /// `(badge, data)` on success.
    pub const fn into_result(self) -> Result<Result<(u64, [u64; 4]), IpcError>, UnknownStatusCode> {
        match result_from_status(self.status) {
            Ok(Ok(())) => Ok(Ok((self.badge, self.data))),
            Ok(Err(error)) => Ok(Err(error)),
            Err(unknown) => Err(unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip_and_are_unique() {
        for (index, op) in Opcode::ALL.iter().enumerate() {
            assert_eq!(Opcode::try_from(*op as u32), Ok(*op));
            for other in &Opcode::ALL[index + 1..] {
                assert_ne!(*op as u32, *other as u32);
            }
        }
        for unknown in [0, 0x000b, 0x0106, 0x0601, u32::MAX] {
            assert_eq!(Opcode::try_from(unknown), Err(IpcError::InvalidArgument));
        }
    }

    #[test]
    fn args_pack_opcode_low_and_flags_high() {
        let args = SyscallArgs::new(0xAB, Opcode::Recv, SyscallFlags::TIMEOUT, [1, 2, 3, 4]);
        assert_eq!(args.opcode_and_flags, 0x0000_0002_0000_0101);
        assert_eq!(args.opcode(), Ok(Opcode::Recv));
        assert_eq!(args.flags(), Ok(SyscallFlags::TIMEOUT));
        let message = args.to_small_message();
        assert_eq!(message.opcode(), Opcode::Recv as u32);
        assert_eq!(message.flags(), SyscallFlags::TIMEOUT.bits());
        assert_eq!(SyscallArgs::from_small_message(&message), args);
    }

    #[test]
    fn unknown_flags_and_opcodes_are_rejected() {
        let args = SyscallArgs {
            capability: 0,
            opcode_and_flags: (1 << 40) | 0x0100,
            data: [0; 4],
        };
        assert_eq!(args.flags(), Err(IpcError::InvalidArgument));
        assert_eq!(args.opcode(), Ok(Opcode::Call));
        let args = SyscallArgs {
            capability: 0,
            opcode_and_flags: 0x7777,
            data: [0; 4],
        };
        assert_eq!(args.opcode(), Err(IpcError::InvalidArgument));
    }

    #[test]
    fn return_registers_round_trip() {
        assert_eq!(
            SyscallRet::ok([5, 6, 7, 8], 42).into_result(),
            Ok(Ok((42, [5, 6, 7, 8])))
        );
        let failed = SyscallRet::err(IpcError::Timeout);
        assert_eq!(failed.status, 7);
        assert_eq!(failed.into_result(), Ok(Err(IpcError::Timeout)));
        let unknown = SyscallRet {
            status: 99,
            ..SyscallRet::default()
        };
        assert_eq!(unknown.into_result(), Err(UnknownStatusCode(99)));
    }
}
