//! The MADT (signature `APIC`): the local APIC address, then entries. Those
//! decoded here:
//!
//! ```text
//! header 36 | 36 local_apic_address u32 | 40 flags u32 (bit 0 PC-AT compatible) | 44 entries
//! 0 Local APIC          len 8   2 processor_uid u8  3 apic_id u8  4 flags u32
//! 1 I/O APIC            len 12  2 id u8  4 address u32  8 gsi_base u32
//! 2 Interrupt override  len 10  2 bus u8  3 source u8  4 gsi u32  8 flags u16
//! 4 Local APIC NMI      len 6   2 processor_uid u8 (0xff = all)  3 flags u16  5 lint u8
//! 5 LAPIC addr override len 12  4 address u64
//! 9 Local x2APIC        len 16  4 x2apic_id u32  8 flags u32  12 processor_uid u32
//! processor flags: bit 0 enabled, bit 1 online capable
//! ```
//! Other entry types are reported as [`MadtEntry::Other`].

use super::entries::{EntryWalker, RawEntry};
use super::{AcpiError, Sdt, Signature};
use crate::bytes::{u8_at, u16_at, u32_at, u64_at};

/// Offset of the first entry.
const ENTRIES_OFFSET: usize = 44;

/// A processor's MADT flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessorFlags {
    /// The processor is ready to use.
    pub enabled: bool,
    /// A disabled processor that can be brought online at run time.
    pub online_capable: bool,
}

impl ProcessorFlags {
    const fn from_bits(bits: u32) -> Self {
        Self {
            enabled: bits & 1 != 0,
            online_capable: bits & 2 != 0,
        }
    }
}

/// One decoded MADT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadtEntry {
    /// Type 0: a processor with an 8-bit APIC id.
    LocalApic {
        /// ACPI processor UID.
        processor_uid: u8,
        /// Local APIC id.
        apic_id: u8,
        /// Enabled / online-capable.
        flags: ProcessorFlags,
    },
    /// Type 1: an I/O APIC.
    IoApic {
        /// I/O APIC id.
        id: u8,
        /// MMIO base address.
        address: u32,
        /// First global system interrupt it handles.
        gsi_base: u32,
    },
    /// Type 2: an ISA IRQ routed to another GSI or with other polarity/trigger.
    InterruptSourceOverride {
        /// Bus (0 = ISA).
        bus: u8,
        /// Bus-relative IRQ.
        source: u8,
        /// Global system interrupt it maps to.
        gsi: u32,
        /// MPS INTI flags (polarity bits 0-1, trigger mode bits 2-3).
        flags: u16,
    },
    /// Type 4: a local APIC LINT pin wired to NMI.
    LocalApicNmi {
        /// ACPI processor UID (0xff = all processors).
        processor_uid: u8,
        /// MPS INTI flags.
        flags: u16,
        /// LINT pin (0 or 1).
        lint: u8,
    },
    /// Type 5: the 64-bit local APIC address, overriding the header field.
    LocalApicAddressOverride {
        /// Physical address.
        address: u64,
    },
    /// Type 9: a processor with a 32-bit x2APIC id.
    LocalX2Apic {
        /// x2APIC id.
        x2apic_id: u32,
        /// Enabled / online-capable.
        flags: ProcessorFlags,
        /// ACPI processor UID.
        processor_uid: u32,
    },
    /// Any other entry type, skipped.
    Other {
        /// The entry's type.
        entry_type: u8,
        /// The entry's length.
        length: u8,
    },
}

/// A validated MADT.
#[derive(Clone, Copy, Debug)]
pub struct Madt<'a> {
    sdt: Sdt<'a>,
    local_apic_address: u32,
    flags: u32,
}

impl<'a> Madt<'a> {
    /// Validates `bytes` as an MADT.
    ///
    /// # Errors
    /// Any error of [`Sdt::parse`], or [`AcpiError::Truncated`] when the table
    /// is too short for its fixed fields. Entry errors surface while iterating.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AcpiError> {
        Self::from_sdt(Sdt::parse(bytes, Some(Signature::MADT))?)
    }

    /// The MADT in an already validated table.
    ///
    /// # Errors
    /// [`AcpiError::WrongSignature`], or [`AcpiError::Truncated`] when the
    /// table is too short for its fixed fields.
    pub fn from_sdt(sdt: Sdt<'a>) -> Result<Self, AcpiError> {
        let found = sdt.header().signature;
        if found != Signature::MADT {
            return Err(AcpiError::WrongSignature {
                expected: Signature::MADT,
                found,
            });
        }
        let bytes = sdt.bytes();
        let truncated = AcpiError::Truncated {
            table: found,
            needed: ENTRIES_OFFSET,
            present: bytes.len(),
        };
        let local_apic_address = u32_at(bytes, 36).ok_or(truncated)?;
        let flags = u32_at(bytes, 40).ok_or(truncated)?;
        Ok(Self {
            sdt,
            local_apic_address,
            flags,
        })
    }

    /// The local APIC's physical address: the type 5 override when one is
    /// among the well-formed entries, else the header's 32-bit field.
    #[must_use]
    pub fn local_apic_address(&self) -> u64 {
        self.entries()
            .map_while(Result::ok)
            .find_map(|entry| match entry {
                MadtEntry::LocalApicAddressOverride { address } => Some(address),
                _ => None,
            })
            .unwrap_or(self.local_apic_address.into())
    }

    /// Whether the system also has dual 8259 PICs (which must be masked).
    #[must_use]
    pub const fn pcat_compatible(&self) -> bool {
        self.flags & 1 != 0
    }

    /// The entries in table order; a malformed entry yields an error and ends
    /// the walk.
    #[must_use]
    pub fn entries(&self) -> MadtEntries<'a> {
        MadtEntries {
            walker: EntryWalker {
                signature: Signature::MADT,
                table: self.sdt.bytes(),
                offset: ENTRIES_OFFSET,
            },
        }
    }
}

/// Iterator over [`MadtEntry`]s; see [`Madt::entries`].
#[derive(Clone, Debug)]
pub struct MadtEntries<'a> {
    walker: EntryWalker<'a>,
}

impl Iterator for MadtEntries<'_> {
    type Item = Result<MadtEntry, AcpiError>;

    fn next(&mut self) -> Option<Self::Item> {
        let decoded = self.walker.next()?.and_then(decode);
        if decoded.is_err() {
            // A malformed entry ends the walk: nothing after it is trusted.
            self.walker.offset = self.walker.table.len();
        }
        Some(decoded)
    }
}

/// Decodes one entry, checking its length against its type.
fn decode(entry: RawEntry<'_>) -> Result<MadtEntry, AcpiError> {
    let bytes = entry.bytes;
    let min_len = match entry.entry_type {
        0 => 8,
        1 | 5 => 12,
        2 => 10,
        4 => 6,
        9 => 16,
        _ => 2,
    };
    entry.require(Signature::MADT, min_len)?;
    // All reads below are inside the `min_len` bytes just checked.
    let byte = |offset| u8_at(bytes, offset).unwrap_or(0);
    let half = |offset| u16_at(bytes, offset).unwrap_or(0);
    let word = |offset| u32_at(bytes, offset).unwrap_or(0);
    Ok(match entry.entry_type {
        0 => MadtEntry::LocalApic {
            processor_uid: byte(2),
            apic_id: byte(3),
            flags: ProcessorFlags::from_bits(word(4)),
        },
        1 => MadtEntry::IoApic {
            id: byte(2),
            address: word(4),
            gsi_base: word(8),
        },
        2 => MadtEntry::InterruptSourceOverride {
            bus: byte(2),
            source: byte(3),
            gsi: word(4),
            flags: half(8),
        },
        4 => MadtEntry::LocalApicNmi {
            processor_uid: byte(2),
            flags: half(3),
            lint: byte(5),
        },
        5 => MadtEntry::LocalApicAddressOverride {
            address: u64_at(bytes, 4).unwrap_or(0),
        },
        9 => MadtEntry::LocalX2Apic {
            x2apic_id: word(4),
            flags: ProcessorFlags::from_bits(word(8)),
            processor_uid: word(12),
        },
        entry_type => MadtEntry::Other {
            entry_type,
            length: bytes.len() as u8,
        },
    })
}
