//! IPC errors and their stable syscall status codes.
//!
//! After a syscall `rax` holds `0` for success or one of the codes below. The
//! codes are ABI: never renumber a variant, only append.

use core::fmt;

/// Why an IPC operation failed.
///
/// The first seven variants are the design document's; the others are
/// additions, each justified on the variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpcError {
    /// The capability token is invalid, revoked, expired, or names an object
    /// of the wrong kind; also a `reply` with no caller waiting for it (the
    /// implicit reply capability does not exist).
    InvalidCapability,
    /// The target process (or the server holding a call) does not exist or
    /// died while the caller waited.
    ProcessNotFound,
    /// The message exceeds the capability's `max_message_size`, or a bandwidth
    /// limit so small that the message could never pass.
    MessageTooLarge,
    /// A kernel table (capability registry, capability space, threads) is full.
    OutOfMemory,
    /// The operation would block and the caller asked not to
    /// (non-blocking send with no receiver waiting, `NONBLOCK` receive).
    WouldBlock,
    /// The capability's message-rate or bandwidth token bucket is empty.
    RateLimitExceeded,
    /// A receive with a timeout expired before a message arrived.
    Timeout,
    /// Addition: the token is valid but lacks the right the operation needs
    /// (`can_send`, `can_receive`, `can_share`), or a derivation asks for more
    /// rights or looser limits than its parent. Distinct from
    /// [`IpcError::InvalidCapability`] because the caller's remedy differs:
    /// a fresh token will not help, different rights will.
    PermissionDenied,
    /// Addition: a user pointer (a large message's region, a buffer argument)
    /// is not mapped, not user-accessible, or wraps the address space. The
    /// kernel checks pointers; this crate only names the result.
    BadAddress,
    /// Addition: a large message's CRC-32C does not match its contents, so it
    /// was corrupted or forged in shared memory.
    ChecksumMismatch,
    /// Addition: a call would close a cycle of callers waiting on each other.
    /// Priority inheritance walks the chain of blocked callers (`sched`
    /// crate); meeting the caller itself means the call can never complete.
    Deadlock,
    /// Addition: a malformed argument: unknown opcode, unknown flag bits, a
    /// malformed message (e.g. inline length beyond 64 bytes), or a call made
    /// in the wrong thread state (receiving while a caller awaits a reply).
    InvalidArgument,
}

/// A status code this build does not know (e.g. from a newer kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnknownStatusCode(pub u64);

impl fmt::Display for UnknownStatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown IPC status code {}", self.0)
    }
}

impl core::error::Error for UnknownStatusCode {}

/// The status code `rax` holds after a successful syscall.
pub const STATUS_OK: u64 = 0;

impl IpcError {
    /// Every variant, in code order (index + 1 is the code).
    pub const ALL: [IpcError; 12] = [
        IpcError::InvalidCapability,
        IpcError::ProcessNotFound,
        IpcError::MessageTooLarge,
        IpcError::OutOfMemory,
        IpcError::WouldBlock,
        IpcError::RateLimitExceeded,
        IpcError::Timeout,
        IpcError::PermissionDenied,
        IpcError::BadAddress,
        IpcError::ChecksumMismatch,
        IpcError::Deadlock,
        IpcError::InvalidArgument,
    ];

    /// The stable, non-zero status code of this error.
    #[must_use]
    pub const fn code(self) -> u64 {
        match self {
            IpcError::InvalidCapability => 1,
            IpcError::ProcessNotFound => 2,
            IpcError::MessageTooLarge => 3,
            IpcError::OutOfMemory => 4,
            IpcError::WouldBlock => 5,
            IpcError::RateLimitExceeded => 6,
            IpcError::Timeout => 7,
            IpcError::PermissionDenied => 8,
            IpcError::BadAddress => 9,
            IpcError::ChecksumMismatch => 10,
            IpcError::Deadlock => 11,
            IpcError::InvalidArgument => 12,
        }
    }

    /// The error whose [`code`](Self::code) is `code`, if any.
    #[must_use]
    pub const fn from_code(code: u64) -> Option<IpcError> {
        // `code - 1` cannot underflow: 0 is excluded first.
        if code == STATUS_OK || code > IpcError::ALL.len() as u64 {
            return None;
        }
        Some(IpcError::ALL[(code - 1) as usize])
    }

    /// A short, stable, snake_case name (used in serial records).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            IpcError::InvalidCapability => "invalid_capability",
            IpcError::ProcessNotFound => "process_not_found",
            IpcError::MessageTooLarge => "message_too_large",
            IpcError::OutOfMemory => "out_of_memory",
            IpcError::WouldBlock => "would_block",
            IpcError::RateLimitExceeded => "rate_limit_exceeded",
            IpcError::Timeout => "timeout",
            IpcError::PermissionDenied => "permission_denied",
            IpcError::BadAddress => "bad_address",
            IpcError::ChecksumMismatch => "checksum_mismatch",
            IpcError::Deadlock => "deadlock",
            IpcError::InvalidArgument => "invalid_argument",
        }
    }
}

impl TryFrom<u64> for IpcError {
    type Error = UnknownStatusCode;

    /// # Errors
    /// [`UnknownStatusCode`] for `0` (success is not an error) and for codes
    /// this build does not know.
    fn try_from(code: u64) -> Result<Self, Self::Error> {
        IpcError::from_code(code).ok_or(UnknownStatusCode(code))
    }
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::error::Error for IpcError {}

/// The `rax` value that reports `result` to user space.
#[must_use]
pub const fn status_from_result(result: Result<(), IpcError>) -> u64 {
    match result {
        Ok(()) => STATUS_OK,
        Err(error) => error.code(),
    }
}

/// Decodes `rax` after a syscall.
///
/// # Errors
/// The outer error is [`UnknownStatusCode`] when `rax` is neither `0` nor a
/// known code; the inner result is the operation's own outcome.
pub const fn result_from_status(rax: u64) -> Result<Result<(), IpcError>, UnknownStatusCode> {
    if rax == STATUS_OK {
        return Ok(Ok(()));
    }
    match IpcError::from_code(rax) {
        Some(error) => Ok(Err(error)),
        None => Err(UnknownStatusCode(rax)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        for (index, error) in IpcError::ALL.iter().enumerate() {
            assert_eq!(error.code(), index as u64 + 1);
            assert_eq!(IpcError::try_from(error.code()), Ok(*error));
            assert_eq!(
                result_from_status(status_from_result(Err(*error))),
                Ok(Err(*error))
            );
        }
    }

    #[test]
    fn ok_round_trips_and_unknown_codes_are_errors() {
        assert_eq!(result_from_status(status_from_result(Ok(()))), Ok(Ok(())));
        assert_eq!(IpcError::try_from(0), Err(UnknownStatusCode(0)));
        for unknown in [13, 14, 1000, u64::MAX] {
            assert_eq!(IpcError::try_from(unknown), Err(UnknownStatusCode(unknown)));
            assert_eq!(result_from_status(unknown), Err(UnknownStatusCode(unknown)));
        }
    }
}
