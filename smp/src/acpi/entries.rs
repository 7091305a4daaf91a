//! The walk over `type u8, length u8, ...` sub-table entries shared by the
//! MADT and SRAT: each step advances by the entry's length, and a length that
//! is zero, below 2 or past the table ends the walk with an error, so a
//! malformed table can never make the walk loop or read out of bounds.

use super::{AcpiError, Signature};

/// One entry: its offset in the table, its type, and all its bytes (the
/// two-byte header included).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEntry<'a> {
    pub(crate) offset: usize,
    pub(crate) entry_type: u8,
    pub(crate) bytes: &'a [u8],
}

impl RawEntry<'_> {
    /// `Ok(())` if the entry is at least `min_len` bytes long, else the error
    /// naming it.
    pub(crate) fn require(&self, table: Signature, min_len: usize) -> Result<(), AcpiError> {
        if self.bytes.len() >= min_len {
            Ok(())
        } else {
            Err(AcpiError::BadEntry {
                table,
                offset: self.offset,
                entry_type: self.entry_type,
                length: self.bytes.len() as u8,
            })
        }
    }
}

/// Iterator over the entries of `table` from `offset` on; after an error it
/// yields nothing more.
#[derive(Clone, Debug)]
pub(crate) struct EntryWalker<'a> {
    pub(crate) signature: Signature,
    pub(crate) table: &'a [u8],
    pub(crate) offset: usize,
}

impl<'a> Iterator for EntryWalker<'a> {
    type Item = Result<RawEntry<'a>, AcpiError>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset;
        let rest = self.table.get(offset..).filter(|rest| !rest.is_empty())?;
        let entry_type = rest[0];
        let length = rest.get(1).copied().unwrap_or(0);
        let Some(bytes) = rest.get(..usize::from(length)).filter(|_| length >= 2) else {
            self.offset = self.table.len();
            return Some(Err(AcpiError::BadEntry {
                table: self.signature,
                offset,
                entry_type,
                length,
            }));
        };
        self.offset += usize::from(length);
        Some(Ok(RawEntry {
            offset,
            entry_type,
            bytes,
        }))
    }
}
