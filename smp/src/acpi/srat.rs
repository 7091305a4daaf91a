//! The SRAT (System Resource Affinity Table): which proximity domain each
//! processor and memory range belongs to. Entries decoded here:
//!
//! ```text
//! header 36 | 36 reserved u32 (1) | 40 reserved u64 | 48 entries
//! 0 Processor local APIC affinity  len 16  2 domain[7:0] u8  3 apic_id u8  4 flags u32
//!                                          8 sapic_eid u8  9 domain[31:8] [u8; 3]  12 clock_domain u32
//! 1 Memory affinity                len 40  2 domain u32  8 base u64  16 length u64  28 flags u32
//! 2 Processor x2APIC affinity      len 24  4 domain u32  8 x2apic_id u32  12 flags u32  16 clock_domain u32
//! flags: bit 0 enabled; memory also bit 1 hot-pluggable, bit 2 non-volatile
//! ```
//! The high 24 bits of a type-0 domain count only from SRAT revision 2 on
//! (earlier firmware left garbage there), as Linux does.

use super::entries::{EntryWalker, RawEntry};
use super::{AcpiError, Sdt, Signature};
use crate::bytes::{array_at, u8_at, u32_at, u64_at};

/// Offset of the first entry.
const ENTRIES_OFFSET: usize = 48;

/// One decoded SRAT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SratEntry {
    /// Type 0: the domain of a processor with an 8-bit APIC id.
    ProcessorApic {
        /// Proximity domain.
        proximity_domain: u32,
        /// Local APIC id.
        apic_id: u8,
        /// The entry is in use.
        enabled: bool,
        /// Clock domain.
        clock_domain: u32,
    },
    /// Type 1: the domain of a physical memory range.
    Memory {
        /// Proximity domain.
        proximity_domain: u32,
        /// Base physical address.
        base: u64,
        /// Length in bytes.
        length: u64,
        /// The entry is in use.
        enabled: bool,
        /// The range may be hot-added or removed.
        hot_pluggable: bool,
        /// The range is non-volatile memory.
        non_volatile: bool,
    },
    /// Type 2: the domain of a processor with a 32-bit x2APIC id.
    ProcessorX2Apic {
        /// Proximity domain.
        proximity_domain: u32,
        /// x2APIC id.
        x2apic_id: u32,
        /// The entry is in use.
        enabled: bool,
        /// Clock domain.
        clock_domain: u32,
    },
    /// Any other entry type (GICC, generic initiator, ...), skipped.
    Other {
        /// The entry's type.
        entry_type: u8,
        /// The entry's length.
        length: u8,
    },
}

/// A validated SRAT.
#[derive(Clone, Copy, Debug)]
pub struct Srat<'a> {
    sdt: Sdt<'a>,
}

impl<'a> Srat<'a> {
    /// Validates `bytes` as an SRAT.
    ///
    /// # Errors
    /// Any error of [`Sdt::parse`], or [`AcpiError::Truncated`] when the table
    /// is too short for its fixed fields. Entry errors surface while iterating.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AcpiError> {
        Self::from_sdt(Sdt::parse(bytes, Some(Signature::SRAT))?)
    }

    /// The SRAT in an already validated table.
    ///
    /// # Errors
    /// [`AcpiError::WrongSignature`] or [`AcpiError::Truncated`].
    pub fn from_sdt(sdt: Sdt<'a>) -> Result<Self, AcpiError> {
        let found = sdt.header().signature;
        if found != Signature::SRAT {
            return Err(AcpiError::WrongSignature {
                expected: Signature::SRAT,
                found,
            });
        }
        if sdt.bytes().len() < ENTRIES_OFFSET {
            return Err(AcpiError::Truncated {
                table: found,
                needed: ENTRIES_OFFSET,
                present: sdt.bytes().len(),
            });
        }
        Ok(Self { sdt })
    }

    /// The entries in table order; a malformed entry yields an error and ends
    /// the walk.
    #[must_use]
    pub fn entries(&self) -> SratEntries<'a> {
        SratEntries {
            walker: EntryWalker {
                signature: Signature::SRAT,
                table: self.sdt.bytes(),
                offset: ENTRIES_OFFSET,
            },
            revision: self.sdt.header().revision,
        }
    }
}

/// Iterator over [`SratEntry`]s; see [`Srat::entries`].
#[derive(Clone, Debug)]
pub struct SratEntries<'a> {
    walker: EntryWalker<'a>,
    revision: u8,
}

impl Iterator for SratEntries<'_> {
    type Item = Result<SratEntry, AcpiError>;

    fn next(&mut self) -> Option<Self::Item> {
        let decoded = self
            .walker
            .next()?
            .and_then(|entry| decode(entry, self.revision));
        if decoded.is_err() {
            // A malformed entry ends the walk: nothing after it is trusted.
            self.walker.offset = self.walker.table.len();
        }
        Some(decoded)
    }
}

/// Decodes one entry, checking its length against its type.
fn decode(entry: RawEntry<'_>, revision: u8) -> Result<SratEntry, AcpiError> {
    let bytes = entry.bytes;
    let min_len = match entry.entry_type {
        0 => 16,
        1 => 40,
        2 => 24,
        _ => 2,
    };
    entry.require(Signature::SRAT, min_len)?;
    // All reads below are inside the `min_len` bytes just checked.
    let word = |offset| u32_at(bytes, offset).unwrap_or(0);
    let quad = |offset| u64_at(bytes, offset).unwrap_or(0);
    Ok(match entry.entry_type {
        0 => {
            let low = u32::from(u8_at(bytes, 2).unwrap_or(0));
            let [b1, b2, b3] = array_at::<3>(bytes, 9).unwrap_or_default();
            let high = if revision >= 2 {
                u32::from_le_bytes([0, b1, b2, b3])
            } else {
                0
            };
            SratEntry::ProcessorApic {
                proximity_domain: high | low,
                apic_id: u8_at(bytes, 3).unwrap_or(0),
                enabled: word(4) & 1 != 0,
                clock_domain: word(12),
            }
        }
        1 => {
            let flags = word(28);
            SratEntry::Memory {
                proximity_domain: word(2),
                base: quad(8),
                length: quad(16),
                enabled: flags & 1 != 0,
                hot_pluggable: flags & 2 != 0,
                non_volatile: flags & 4 != 0,
            }
        }
        2 => SratEntry::ProcessorX2Apic {
            proximity_domain: word(4),
            x2apic_id: word(8),
            enabled: word(12) & 1 != 0,
            clock_domain: word(16),
        },
        entry_type => SratEntry::Other {
            entry_type,
            length: bytes.len() as u8,
        },
    })
}
