//! Exporting a [`Histogram`](crate::Histogram) in HdrHistogram's standard
//! formats without a heap: the V2 binary encoding ([`v2`]), its compressed
//! form wrapped in a zlib stream of stored blocks ([`zlib`]), base64
//! ([`base64`]) and the interval-log text format ([`interval_log`]).
//!
//! Every encoder writes through a [`ByteSink`]; the sizes of all outputs are
//! computed before the first byte is written, so a too-small caller buffer is
//! reported up front as [`EncodeError::BufferTooSmall`] and the whole chain
//! histogram -> V2 -> zlib -> base64 -> serial can stream with no buffer
//! at all.

pub mod base64;
pub mod interval_log;
pub mod v2;
pub mod zlib;

pub use base64::Base64Writer;
pub use interval_log::{IntervalLogLine, write_interval_log_line};
pub use v2::{
    V2_COMPRESSED_COOKIE, V2_COOKIE, V2_HEADER_LEN, compressed_v2_len, encode_compressed_v2,
    encode_v2, v2_len, write_base64_compressed_v2, write_compressed_v2, write_v2,
};

/// Why an encoding could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The caller's buffer cannot hold the encoding; nothing useful was
    /// written. `needed` is the full encoded length.
    BufferTooSmall {
        /// Bytes the encoding takes.
        needed: usize,
        /// Bytes the buffer had room for.
        available: usize,
    },
    /// A count above `i64::MAX` cannot be ZigZag-encoded (the V2 format
    /// stores counts as signed 64-bit numbers).
    CountTooLarge,
    /// An interval-log tag contains `,`, a space, `\r` or `\n`, or is empty.
    InvalidTag,
    /// The max-value divisor of an interval-log line is not a positive,
    /// finite number.
    InvalidMaxValueDivisor,
    /// A length-framed stream (the zlib stored blocks) was given more or
    /// fewer bytes than it announced; the output would be corrupt.
    LengthMismatch,
    /// The text sink (`core::fmt::Write`) reported an error.
    Write,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small: encoding needs {needed} bytes, buffer has {available}"
            ),
            Self::CountTooLarge => f.write_str("a count above i64::MAX cannot be V2-encoded"),
            Self::InvalidTag => {
                f.write_str("interval-log tag must be non-empty without ',', ' ', '\\r', '\\n'")
            }
            Self::InvalidMaxValueDivisor => {
                f.write_str("max-value divisor must be positive and finite")
            }
            Self::LengthMismatch => f.write_str("stream length differs from the announced length"),
            Self::Write => f.write_str("the text sink failed"),
        }
    }
}

impl core::error::Error for EncodeError {}

impl From<core::fmt::Error> for EncodeError {
    fn from(_: core::fmt::Error) -> Self {
        Self::Write
    }
}

/// Somewhere encoded bytes go: a caller's buffer ([`SliceSink`]), a base64
/// text stream ([`Base64Writer`]), or the kernel's serial port.
pub trait ByteSink {
    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// Whatever the sink cannot do: [`EncodeError::BufferTooSmall`] when
    /// full, [`EncodeError::Write`] when the text sink fails.
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError>;
}

/// A [`ByteSink`] filling a caller-provided buffer from the start.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// A sink writing into `buf` from offset 0.
    #[must_use]
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written yet.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    #[must_use]
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl ByteSink for SliceSink<'_> {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.len.checked_add(bytes.len());
        match end.and_then(|end| self.buf.get_mut(self.len..end)) {
            Some(dest) => {
                dest.copy_from_slice(bytes);
                self.len += bytes.len();
                Ok(())
            }
            None => Err(EncodeError::BufferTooSmall {
                needed: self.len.saturating_add(bytes.len()),
                available: self.buf.len(),
            }),
        }
    }
}

/// A [`ByteSink`] that only counts, used to size encodings before writing.
#[derive(Debug, Default)]
pub(crate) struct CountingSink {
    pub(crate) len: usize,
}

impl ByteSink for CountingSink {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.len = self.len.saturating_add(bytes.len());
        Ok(())
    }
}

/// Checks that `available` bytes can hold `needed`.
pub(crate) fn ensure_room(needed: usize, available: usize) -> Result<(), EncodeError> {
    if needed > available {
        Err(EncodeError::BufferTooSmall { needed, available })
    } else {
        Ok(())
    }
}
