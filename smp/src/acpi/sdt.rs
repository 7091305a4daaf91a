//! System description tables: the common 36-byte header ([`SdtHeader`]), a
//! validated table ([`Sdt`]: length bounds and checksum), and the RSDT/XSDT
//! walk that finds tables by signature through [`PhysRead`] ([`AcpiTables`]).
//!
//! ```text
//!  0 signature [u8; 4]  4 length u32  8 revision u8  9 checksum u8  10 oem_id [u8; 6]
//! 16 oem_table_id [u8; 8]  24 oem_revision u32  28 creator_id u32  32 creator_revision u32
//! ```

use super::{AcpiError, Rsdp, Signature};
use crate::PhysRead;
use crate::bytes::{array_at, byte_sum, u32_at, u64_at};

/// The header every system description table starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdtHeader {
    /// The table's signature.
    pub signature: Signature,
    /// The table's length in bytes, header included.
    pub length: u32,
    /// The table's revision.
    pub revision: u8,
    /// The OEM id.
    pub oem_id: [u8; 6],
    /// The OEM table id.
    pub oem_table_id: [u8; 8],
    /// The OEM revision.
    pub oem_revision: u32,
    /// The id of the tool that built the table.
    pub creator_id: u32,
    /// The revision of that tool.
    pub creator_revision: u32,
}

/// A table whose length and checksum are valid.
#[derive(Clone, Copy, Debug)]
pub struct Sdt<'a> {
    header: SdtHeader,
    bytes: &'a [u8],
}

impl<'a> Sdt<'a> {
    /// Size of the common header.
    pub const HEADER_LEN: usize = 36;
    /// The largest table accepted (16 MiB: far above any real DSDT).
    pub const MAX_LEN: u32 = 1 << 24;

    /// Validates the table at the start of `bytes` (which may hold more): its
    /// signature (when `expected` is given), length and checksum.
    ///
    /// # Errors
    /// [`AcpiError::Truncated`], [`AcpiError::WrongSignature`],
    /// [`AcpiError::BadLength`] or [`AcpiError::BadChecksum`].
    pub fn parse(bytes: &'a [u8], expected: Option<Signature>) -> Result<Self, AcpiError> {
        let fallback_name = expected.unwrap_or(Signature(*b"????"));
        let header_bytes = bytes.get(..Self::HEADER_LEN).ok_or(AcpiError::Truncated {
            table: fallback_name,
            needed: Self::HEADER_LEN,
            present: bytes.len(),
        })?;
        let header = parse_header(header_bytes);
        let table = header.signature;
        if let Some(expected) = expected
            && expected != table
        {
            return Err(AcpiError::WrongSignature {
                expected,
                found: table,
            });
        }
        if !(Self::HEADER_LEN as u32..=Self::MAX_LEN).contains(&header.length) {
            return Err(AcpiError::BadLength {
                table,
                length: header.length.into(),
            });
        }
        let length = header.length as usize;
        let bytes = bytes.get(..length).ok_or(AcpiError::Truncated {
            table,
            needed: length,
            present: bytes.len(),
        })?;
        if byte_sum(bytes) != 0 {
            return Err(AcpiError::BadChecksum { table });
        }
        Ok(Self { header, bytes })
    }

    /// Reads and validates the table at physical address `phys`.
    ///
    /// # Errors
    /// [`AcpiError::Unreadable`], or any error of [`Sdt::parse`].
    pub fn read<M: PhysRead + ?Sized>(
        mem: &'a M,
        phys: u64,
        expected: Option<Signature>,
    ) -> Result<Self, AcpiError> {
        let header = mem
            .read(phys, Self::HEADER_LEN)
            .ok_or(AcpiError::Unreadable {
                phys,
                len: Self::HEADER_LEN,
            })?;
        let length = u32_at(header, 4).unwrap_or(0);
        if !(Self::HEADER_LEN as u32..=Self::MAX_LEN).contains(&length) {
            // Let `parse` name the problem (signature or length).
            return Self::parse(header, expected);
        }
        let bytes = mem
            .read(phys, length as usize)
            .ok_or(AcpiError::Unreadable {
                phys,
                len: length as usize,
            })?;
        Self::parse(bytes, expected)
    }

    /// The table's header.
    #[must_use]
    pub const fn header(&self) -> &SdtHeader {
        &self.header
    }

    /// The whole table: exactly `header.length` bytes.
    #[must_use]
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The table after the common header.
    #[must_use]
    pub fn body(&self) -> &'a [u8] {
        self.bytes.get(Self::HEADER_LEN..).unwrap_or_default()
    }
}

/// The header fields of a slice at least [`Sdt::HEADER_LEN`] long.
fn parse_header(bytes: &[u8]) -> SdtHeader {
    // Every read is inside the 36-byte slice; the defaults are never used.
    SdtHeader {
        signature: Signature(array_at(bytes, 0).unwrap_or_default()),
        length: u32_at(bytes, 4).unwrap_or(0),
        revision: bytes.get(8).copied().unwrap_or(0),
        oem_id: array_at(bytes, 10).unwrap_or_default(),
        oem_table_id: array_at(bytes, 16).unwrap_or_default(),
        oem_revision: u32_at(bytes, 24).unwrap_or(0),
        creator_id: u32_at(bytes, 28).unwrap_or(0),
        creator_revision: u32_at(bytes, 32).unwrap_or(0),
    }
}

/// The tables listed by the RSDT or XSDT, read through `mem`.
#[derive(Debug)]
pub struct AcpiTables<'a, M: PhysRead + ?Sized> {
    mem: &'a M,
    root: Sdt<'a>,
    /// 4 for the RSDT, 8 for the XSDT.
    entry_size: usize,
}

impl<'a, M: PhysRead + ?Sized> AcpiTables<'a, M> {
    /// Opens the XSDT if the RSDP names one, else the RSDT.
    ///
    /// # Errors
    /// Any error of [`Sdt::read`] on the root table.
    pub fn new(mem: &'a M, rsdp: &Rsdp) -> Result<Self, AcpiError> {
        let (root, entry_size) = match rsdp.xsdt_address {
            Some(xsdt) => (Sdt::read(mem, xsdt, Some(Signature::XSDT))?, 8),
            None => (
                Sdt::read(mem, rsdp.rsdt_address.into(), Some(Signature::RSDT))?,
                4,
            ),
        };
        Ok(Self {
            mem,
            root,
            entry_size,
        })
    }

    /// The root table (RSDT or XSDT).
    #[must_use]
    pub const fn root(&self) -> &Sdt<'a> {
        &self.root
    }

    /// The physical addresses the root table lists (a trailing partial entry
    /// is ignored).
    pub fn table_addresses(&self) -> impl Iterator<Item = u64> + '_ {
        self.root
            .body()
            .chunks_exact(self.entry_size)
            .map(|entry| match entry.len() {
                4 => u32_at(entry, 0).map_or(0, u64::from),
                _ => u64_at(entry, 0).unwrap_or(0),
            })
    }

    /// The first listed table with `signature`, validated; `Ok(None)` when no
    /// listed table has it. Entries whose header cannot be read are skipped.
    ///
    /// # Errors
    /// Any error of [`Sdt::read`] on the matching table.
    pub fn find(&self, signature: Signature) -> Result<Option<Sdt<'a>>, AcpiError> {
        for address in self.table_addresses() {
            let Some(found) = self.mem.read(address, 4) else {
                continue;
            };
            if found == signature.0 {
                return Sdt::read(self.mem, address, Some(signature)).map(Some);
            }
        }
        Ok(None)
    }
}
