//! The Root System Description Pointer: version 1 (20 bytes, one checksum) and
//! version 2+ (36 bytes, a second checksum over the whole structure and the
//! XSDT address).
//!
//! ```text
//!  0 "RSD PTR "  8 checksum u8  9 oem_id [u8; 6]  15 revision u8  16 rsdt_address u32
//!  v2: 20 length u32  24 xsdt_address u64  32 extended_checksum u8  33 reserved [u8; 3]
//! ```

use super::{AcpiError, Signature};
use crate::PhysRead;
use crate::bytes::{array_at, byte_sum, u8_at, u32_at, u64_at};

/// The name used for the RSDP in errors (it has no 4-byte signature).
const RSDP_NAME: Signature = Signature(*b"RSDP");

/// A validated RSDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 for ACPI 1.0, 2 and above for ACPI 2.0+.
    pub revision: u8,
    /// The OEM id.
    pub oem_id: [u8; 6],
    /// Physical address of the RSDT (may be 0 on 64-bit-only firmware).
    pub rsdt_address: u32,
    /// Physical address of the XSDT (v2 only; `None` when absent or 0).
    pub xsdt_address: Option<u64>,
}

impl Rsdp {
    /// Size of a version 1 RSDP.
    pub const V1_LEN: usize = 20;
    /// Size of a version 2 RSDP.
    pub const V2_LEN: usize = 36;
    /// The largest v2 `length` accepted (the structure is 36 bytes today).
    const MAX_LEN: u32 = 1024;

    /// Parses and validates an RSDP (e.g. the copy in a Multiboot2 tag).
    ///
    /// # Errors
    /// [`AcpiError::Truncated`], [`AcpiError::BadRsdpSignature`],
    /// [`AcpiError::BadRsdpChecksum`], [`AcpiError::BadLength`] or
    /// [`AcpiError::BadRsdpExtendedChecksum`].
    pub fn parse(bytes: &[u8]) -> Result<Self, AcpiError> {
        let truncated = |needed| AcpiError::Truncated {
            table: RSDP_NAME,
            needed,
            present: bytes.len(),
        };
        let v1 = bytes.get(..Self::V1_LEN).ok_or(truncated(Self::V1_LEN))?;
        if &v1[..8] != b"RSD PTR " {
            return Err(AcpiError::BadRsdpSignature);
        }
        if byte_sum(v1) != 0 {
            return Err(AcpiError::BadRsdpChecksum);
        }
        // In-bounds reads of the 20-byte prefix.
        let revision = v1[15];
        let oem_id = array_at(v1, 9).unwrap_or_default();
        let rsdt_address = u32_at(v1, 16).unwrap_or(0);
        if revision < 2 {
            return Ok(Self {
                revision,
                oem_id,
                rsdt_address,
                xsdt_address: None,
            });
        }
        let v2 = bytes.get(..Self::V2_LEN).ok_or(truncated(Self::V2_LEN))?;
        let length = u32_at(v2, 20).unwrap_or(0);
        if !(Self::V2_LEN as u32..=Self::MAX_LEN).contains(&length) {
            return Err(AcpiError::BadLength {
                table: RSDP_NAME,
                length: length.into(),
            });
        }
        let whole = bytes
            .get(..length as usize)
            .ok_or(truncated(length as usize))?;
        if byte_sum(whole) != 0 {
            return Err(AcpiError::BadRsdpExtendedChecksum);
        }
        let xsdt_address = u64_at(v2, 24).filter(|address| *address != 0);
        Ok(Self {
            revision,
            oem_id,
            rsdt_address,
            xsdt_address,
        })
    }

    /// Reads and validates the RSDP at physical address `phys`.
    ///
    /// # Errors
    /// [`AcpiError::Unreadable`], or any error of [`Rsdp::parse`].
    pub fn read<M: PhysRead + ?Sized>(mem: &M, phys: u64) -> Result<Self, AcpiError> {
        let unreadable = |len| AcpiError::Unreadable { phys, len };
        let v1 = mem
            .read(phys, Self::V1_LEN)
            .ok_or(unreadable(Self::V1_LEN))?;
        if u8_at(v1, 15).unwrap_or(0) < 2 {
            return Self::parse(v1);
        }
        let v2 = mem
            .read(phys, Self::V2_LEN)
            .ok_or(unreadable(Self::V2_LEN))?;
        let length = u32_at(v2, 20).unwrap_or(0);
        if !(Self::V2_LEN as u32..=Self::MAX_LEN).contains(&length) {
            // Let `parse` name the problem (signature, checksum or length).
            return Self::parse(v2);
        }
        Self::parse(
            mem.read(phys, length as usize)
                .ok_or(unreadable(length as usize))?,
        )
    }
}
