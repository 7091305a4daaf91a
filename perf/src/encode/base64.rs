//! Standard base64 (RFC 4648 section 4: `A-Z a-z 0-9 + /`, `=` padding)
//! streamed into a `core::fmt::Write`.
//!
//! Hand-written on purpose: the `base64` crate encodes whole slices into a
//! buffer or a `String`, and its streaming encoder needs `std::io`; here the
//! bytes arrive from the V2/zlib encoders a few at a time and go straight to
//! the serial console, with at most two bytes held back. The host tests
//! check it against the `base64` crate.

use super::{ByteSink, EncodeError};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A [`ByteSink`] writing base64 text. Call [`Base64Writer::finish`] to
/// flush the last one or two bytes with padding.
pub struct Base64Writer<'w, W: core::fmt::Write + ?Sized> {
    out: &'w mut W,
    pending: [u8; 3],
    pending_len: usize,
}

impl<'w, W: core::fmt::Write + ?Sized> Base64Writer<'w, W> {
    /// A writer appending base64 text to `out`.
    pub fn new(out: &'w mut W) -> Self {
        Self {
            out,
            pending: [0; 3],
            pending_len: 0,
        }
    }

    /// Encodes the held-back bytes (with `=` padding) and ends the text.
    ///
    /// # Errors
    ///
    /// [`EncodeError::Write`] when `out` fails.
    pub fn finish(mut self) -> Result<(), EncodeError> {
        match self.pending_len {
            0 => Ok(()),
            held => {
                self.pending[held..].fill(0);
                let quad = encode_group(self.pending);
                // 1 byte -> 2 characters, 2 bytes -> 3 characters.
                let (text, padding) = quad.split_at(held + 1);
                write_ascii(self.out, text)?;
                for _ in padding {
                    self.out.write_char('=')?;
                }
                Ok(())
            }
        }
    }
}

impl<W: core::fmt::Write + ?Sized> ByteSink for Base64Writer<'_, W> {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        for &byte in bytes {
            self.pending[self.pending_len] = byte;
            self.pending_len += 1;
            if self.pending_len == 3 {
                write_ascii(self.out, &encode_group(self.pending))?;
                self.pending_len = 0;
            }
        }
        Ok(())
    }
}

/// Three bytes as four alphabet characters.
fn encode_group(group: [u8; 3]) -> [u8; 4] {
    let bits = u32::from_be_bytes([0, group[0], group[1], group[2]]);
    [18, 12, 6, 0].map(|shift| ALPHABET[((bits >> shift) & 0x3f) as usize])
}

/// Writes alphabet characters (always ASCII) to `out`.
fn write_ascii<W: core::fmt::Write + ?Sized>(out: &mut W, text: &[u8]) -> Result<(), EncodeError> {
    for &c in text {
        out.write_char(char::from(c))?;
    }
    Ok(())
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
}
