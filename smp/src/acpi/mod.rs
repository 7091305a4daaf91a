//! ACPI table parsers over bytes, and the NUMA [`Topology`] built from them.
//!
//! - [`Rsdp`]: the root pointer (v1, 20 bytes; v2, 36 bytes; both checksums).
//! - [`Sdt`]: any table's 36-byte header, length bounds and checksum;
//!   [`AcpiTables`] walks the RSDT or XSDT through [`crate::PhysRead`].
//! - [`Madt`], [`Srat`], [`Slit`], [`Hpet`]: the tables SMP/NUMA bring-up and
//!   timekeeping need.
//! - [`Topology`]: CPUs, nodes, memory ranges and distances, with warnings,
//!   falling back to one node when SRAT is missing or malformed.
//!
//! Why hand-written rather than the `acpi` crate: `acpi` 5.2 with
//! `default-features = false` builds on stable and covers the MADT, but not
//! SRAT or SLIT, and needs an `unsafe` mapping handler; these parsers are a few
//! hundred lines over byte slices, so every malformed input (bad checksum,
//! truncation at every byte, zero-length entries, absurd counts) is tested on
//! the host at the byte level.
//!
//! Every parser bounds its reads by the table's declared length and by the
//! bytes actually present; a malformed table is an [`AcpiError`], never a
//! panic, and entry walks always advance (a zero-length entry is an error).

mod entries;
mod hpet;
mod madt;
mod rsdp;
mod sdt;
mod slit;
mod srat;
mod topology;

pub use hpet::Hpet;
pub use madt::{Madt, MadtEntries, MadtEntry, ProcessorFlags};
pub use rsdp::Rsdp;
pub use sdt::{AcpiTables, Sdt, SdtHeader};
pub use slit::Slit;
pub use srat::{Srat, SratEntries, SratEntry};
pub use topology::{
    CpuInfo, MAX_CPUS, MAX_MEMORY_RANGES, MAX_NODES, NodeInfo, NodeMemory, Topology,
    TopologyWarning,
};

/// A table signature such as `APIC` or `SRAT`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 4]);

impl Signature {
    /// Multiple APIC Description Table.
    pub const MADT: Self = Self(*b"APIC");
    /// System Resource Affinity Table.
    pub const SRAT: Self = Self(*b"SRAT");
    /// System Locality Information Table.
    pub const SLIT: Self = Self(*b"SLIT");
    /// High Precision Event Timer table.
    pub const HPET: Self = Self(*b"HPET");
    /// Root System Description Table (32-bit entries).
    pub const RSDT: Self = Self(*b"RSDT");
    /// Extended System Description Table (64-bit entries).
    pub const XSDT: Self = Self(*b"XSDT");
}

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match core::str::from_utf8(&self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "{:02x?}", self.0),
        }
    }
}

/// Why an ACPI structure could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// The RSDP does not start with `"RSD PTR "`.
    BadRsdpSignature,
    /// The RSDP's first 20 bytes do not sum to zero.
    BadRsdpChecksum,
    /// The RSDP v2's extended checksum does not sum to zero.
    BadRsdpExtendedChecksum,
    /// A table with another signature where `expected` was wanted.
    WrongSignature {
        /// The signature wanted.
        expected: Signature,
        /// The signature found.
        found: Signature,
    },
    /// A table's bytes do not sum to zero.
    BadChecksum {
        /// The table.
        table: Signature,
    },
    /// Fewer bytes than the structure needs (or than its length field says).
    Truncated {
        /// The table (or `RSD ` for the RSDP).
        table: Signature,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        present: usize,
    },
    /// A length field below the structure's minimum or above the sanity bound.
    BadLength {
        /// The table.
        table: Signature,
        /// The length found.
        length: u64,
    },
    /// A sub-table entry whose length is zero, too small for its type, or
    /// runs past the table.
    BadEntry {
        /// The table.
        table: Signature,
        /// The entry's offset in the table.
        offset: usize,
        /// The entry's type.
        entry_type: u8,
        /// The entry's declared length.
        length: u8,
    },
    /// SLIT: a locality count whose matrix does not fit the table, or above
    /// the sanity bound.
    BadLocalityCount {
        /// The count found.
        count: u64,
    },
    /// SLIT: a distance of a locality to itself other than 10, or a distance
    /// between two localities below 10 (values 0-9 are reserved).
    BadDistance {
        /// Row.
        from: u32,
        /// Column.
        to: u32,
        /// The value found.
        distance: u8,
    },
    /// `len` bytes at physical address `phys` are not readable.
    Unreadable {
        /// The address.
        phys: u64,
        /// The length.
        len: usize,
    },
    /// The MADT lists no enabled processor.
    NoProcessors,
    /// A required table is not listed by the RSDT/XSDT.
    TableMissing(Signature),
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The Debug form names the variant and every field; that is the message.
        write!(f, "bad ACPI table: {self:?}")
    }
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
