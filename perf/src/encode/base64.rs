//! Standard base64 (RFC 4648 section 4: `A-Z a-z 0-9 + /`, `=` padding)
//! streamed into a `core::fmt::Write`, on the `base64` crate.
//!
//! The crate encodes whole slices; its streaming writer needs `std::io`.
//! Here the bytes arrive from the V2/zlib encoders a few at a time and go
//! straight to the serial console, so [`Base64Writer`] holds up to
//! [`CHUNK`] bytes and hands each full chunk to the crate's
//! `Base64Display` (no heap, no text buffer). `CHUNK` is a multiple of 3,
//! so only the last, partial chunk ends in `=` padding and the text equals
//! the crate's encoding of all the bytes at once.

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;

use super::{ByteSink, EncodeError};

/// Bytes encoded per call of the crate's encoder.
const CHUNK: usize = 48;

const _: () = assert!(CHUNK.is_multiple_of(3));

/// A [`ByteSink`] writing base64 text. Call [`Base64Writer::finish`] to
/// flush the held-back bytes with padding.
pub struct Base64Writer<'w, W: core::fmt::Write + ?Sized> {
    out: &'w mut W,
    pending: [u8; CHUNK],
    /// Bytes of `pending` in use; below `CHUNK` between calls.
    pending_len: usize,
}

impl<'w, W: core::fmt::Write + ?Sized> Base64Writer<'w, W> {
    /// A writer appending base64 text to `out`.
    pub fn new(out: &'w mut W) -> Self {
        Self {
            out,
            pending: [0; CHUNK],
            pending_len: 0,
        }
    }

    /// Encodes the held-back bytes (with `=` padding) and ends the text.
    ///
    /// # Errors
    ///
    /// [`EncodeError::Write`] when `out` fails.
    pub fn finish(mut self) -> Result<(), EncodeError> {
        self.flush()
    }

    /// Writes the held-back bytes as text; padded unless a multiple of 3.
    fn flush(&mut self) -> Result<(), EncodeError> {
        let held = self.pending.get(..self.pending_len).unwrap_or(&[]);
        if !held.is_empty() {
            write!(self.out, "{}", Base64Display::new(held, &STANDARD))?;
        }
        self.pending_len = 0;
        Ok(())
    }
}

impl<W: core::fmt::Write + ?Sized> ByteSink for Base64Writer<'_, W> {
    fn write_bytes(&mut self, mut bytes: &[u8]) -> Result<(), EncodeError> {
        while !bytes.is_empty() {
            let room = CHUNK - self.pending_len;
            let (now, later) = bytes.split_at(bytes.len().min(room));
            self.pending[self.pending_len..self.pending_len + now.len()].copy_from_slice(now);
            self.pending_len += now.len();
            if self.pending_len == CHUNK {
                self.flush()?;
            }
            bytes = later;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bytes: &[u8]) -> String {
        let mut text = String::new();
        let mut writer = Base64Writer::new(&mut text);
        writer.write_bytes(bytes).expect("String never fails");
        writer.finish().expect("String never fails");
        text
    }

    #[test]
    fn rfc4648_test_vectors() {
        // RFC 4648 section 10.
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"foob"), "Zm9vYg==");
        assert_eq!(encode(b"fooba"), "Zm9vYmE=");
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn uses_plus_and_slash() {
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn chunk_boundaries_add_no_padding() {
        // One byte short of, exactly at, and one past a chunk (and two chunks).
        for len in [CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 2] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let text = encode(&bytes);
            assert_eq!(text.len(), len.div_ceil(3) * 4, "{len}");
            assert!(!text.trim_end_matches('=').contains('='), "{len}");
            assert_eq!(text, base64::Engine::encode(&STANDARD, &bytes), "{len}");
        }
    }
}
