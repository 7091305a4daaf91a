//! The value rules of the serial records: percent-escaping of free text
//! ([`Escaped`]), the name charset ([`is_valid_name`]) and the finiteness
//! check for numbers, as specified in the [`record`](super) module doc.

use core::fmt::{self, Display, Write};

use super::RecordError;

/// A free-text value, percent-encoded as the module doc specifies when
/// displayed.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut rest = self.0;
        // Bytes before the first one needing escape are printable ASCII, so
        // `at` is a character boundary; escape that whole character (every
        // byte of a multi-byte character needs it) and go on after it.
        while let Some(at) = rest.bytes().position(needs_escape) {
            let (plain, escaped) = rest.split_at(at);
            f.write_str(plain)?;
            let char_len = escaped.chars().next().map_or(1, char::len_utf8);
            let (character, after) = escaped.split_at(char_len);
            for byte in character.bytes() {
                f.write_char('%')?;
                f.write_char(char::from(HEX[usize::from(byte >> 4)]))?;
                f.write_char(char::from(HEX[usize::from(byte & 0xf)]))?;
            }
            rest = after;
        }
        f.write_str(rest)
    }
}

/// True for bytes the escaping must encode.
const fn needs_escape(byte: u8) -> bool {
    !matches!(byte, 0x21..=0x7e) || byte == b'%' || byte == b'='
}

/// True for a valid benchmark or event name (`[A-Za-z0-9._-]+`).
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(super) fn check_name(name: &str) -> Result<(), RecordError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(RecordError::InvalidName)
    }
}

pub(super) fn check_finite(values: &[f64]) -> Result<(), RecordError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(RecordError::NonFinite)
    }
}
