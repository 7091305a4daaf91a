//! The HPET description table: where the High Precision Event Timer's
//! registers are and the minimum tick it supports in periodic mode.
//!
//! ```text
//! header 36 | 36 event_timer_block_id u32 (bits 8-12 comparators - 1, bit 13 64-bit
//!              counter, bit 15 legacy replacement, bits 16-31 PCI vendor id)
//!           | 40 base_address: generic address structure (40 space_id u8, 41 bit_width u8,
//!              42 bit_offset u8, 43 access_size u8, 44 address u64)
//!           | 52 hpet_number u8 | 53 minimum_tick u16 | 55 page_protection u8
//! ```

use super::{AcpiError, Sdt, Signature};
use crate::bytes::{u8_at, u16_at, u32_at, u64_at};

/// The table's full size.
const HPET_LEN: usize = 56;

/// A validated HPET table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hpet {
    /// Physical address of the register block.
    pub base_address: u64,
    /// Address space of the register block (0 = system memory).
    pub address_space: u8,
    /// The HPET's sequence number.
    pub hpet_number: u8,
    /// Minimum tick in periodic mode, in counter ticks.
    pub minimum_tick: u16,
    /// Number of comparators.
    pub comparator_count: u8,
    /// The main counter is 64 bits wide.
    pub counter_is_64_bit: bool,
    /// Legacy replacement IRQ routing is supported.
    pub legacy_replacement: bool,
    /// PCI vendor id of the timer block.
    pub pci_vendor_id: u16,
}

impl Hpet {
    /// Validates `bytes` as an HPET table.
    ///
    /// # Errors
    /// Any error of [`Sdt::parse`], or [`AcpiError::Truncated`] when the table
    /// is shorter than 56 bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, AcpiError> {
        Self::from_sdt(Sdt::parse(bytes, Some(Signature::HPET))?)
    }

    /// The HPET table in an already validated table.
    ///
    /// # Errors
    /// [`AcpiError::WrongSignature`] or [`AcpiError::Truncated`].
    pub fn from_sdt(sdt: Sdt<'_>) -> Result<Self, AcpiError> {
        let found = sdt.header().signature;
        if found != Signature::HPET {
            return Err(AcpiError::WrongSignature {
                expected: Signature::HPET,
                found,
            });
        }
        let bytes = sdt.bytes();
        if bytes.len() < HPET_LEN {
            return Err(AcpiError::Truncated {
                table: found,
                needed: HPET_LEN,
                present: bytes.len(),
            });
        }
        // All reads below are inside the 56 bytes just checked.
        let block_id = u32_at(bytes, 36).unwrap_or(0);
        Ok(Self {
            base_address: u64_at(bytes, 44).unwrap_or(0),
            address_space: u8_at(bytes, 40).unwrap_or(0),
            hpet_number: u8_at(bytes, 52).unwrap_or(0),
            minimum_tick: u16_at(bytes, 53).unwrap_or(0),
            comparator_count: ((block_id >> 8) & 0x1f) as u8 + 1,
            counter_is_64_bit: block_id & (1 << 13) != 0,
            legacy_replacement: block_id & (1 << 15) != 0,
            pci_vendor_id: (block_id >> 16) as u16,
        })
    }
}
