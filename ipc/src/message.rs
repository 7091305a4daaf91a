//! IPC message formats: register-sized [`SmallMessage`] and memory-backed
//! [`LargeMessage`] with its [`MessageHeader`] and [`MemoryRegion`] descriptor.
//!
//! Layouts follow the design document field for field, `#[repr(C)]`, with sizes
//! pinned at compile time. The only deviation is [`MessageHeader`]'s explicit
//! `reserved` word, which names the 4 bytes of tail padding `repr(C)` would add
//! anyway, so that no uninitialised byte ever crosses into user space.
//!
//! Large messages carry a CRC-32C (Castagnoli, the iSCSI/SSE4.2 polynomial
//! `0x1EDC6F41`, reflected, init and xorout `0xFFFF_FFFF`) over everything the
//! kernel copies: header fields except the checksum itself, the region
//! descriptor, and the used inline bytes. The shared region's contents are not
//! covered: checksumming them would read every byte and defeat zero-copy.
//! The `crc` crate's slice-by-16 table does the work.

use core::mem::size_of;

use bitflags::bitflags;
use crc::{CRC_32_ISCSI, Crc, Table};

use crate::error::IpcError;

/// Bytes of payload a [`LargeMessage`] carries inline.
pub const INLINE_CAPACITY: usize = 64;

/// CRC-32C engine (slice-by-16 lookup table, 16 KiB of read-only data).
static CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// A message that fits in registers: a capability, an opcode, flags and four
/// data words (the `rdi rsi rdx r10 r8 r9` of the syscall ABI).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SmallMessage {
    capability: u64,
    opcode: u32,
    flags: u32,
    data: [u64; 4],
}

const _: () = assert!(size_of::<SmallMessage>() == 48);

impl SmallMessage {
    /// A message with all four data words.
    #[must_use]
    pub const fn new(capability: u64, opcode: u32, flags: u32, data: [u64; 4]) -> Self {
        Self {
            capability,
            opcode,
            flags,
            data,
        }
    }

    /// The capability token (raw `u64`, see [`crate::cap::CapToken`]).
    #[must_use]
    pub const fn capability(&self) -> u64 {
        self.capability
    }

    /// The raw opcode (see [`crate::abi::Opcode`]).
    #[must_use]
    pub const fn opcode(&self) -> u32 {
        self.opcode
    }

    /// The raw flags (see [`crate::abi::SyscallFlags`]).
    #[must_use]
    pub const fn flags(&self) -> u32 {
        self.flags
    }

    /// The four payload words.
    #[must_use]
    pub const fn data(&self) -> [u64; 4] {
        self.data
    }

    /// The same message with different payload words.
    #[must_use]
    pub const fn with_data(self, data: [u64; 4]) -> Self {
        Self { data, ..self }
    }
}

/// Header of a [`LargeMessage`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    capability: u64,
    opcode: u32,
    flags: u32,
    total_size: u64,
    checksum: u32,
    /// The tail padding of the design's layout, made explicit; always zero.
    reserved: u32,
}

const _: () = assert!(size_of::<MessageHeader>() == 32);

impl MessageHeader {
    /// The capability token (raw `u64`).
    #[must_use]
    pub const fn capability(&self) -> u64 {
        self.capability
    }
    /// The raw opcode.
    #[must_use]
    pub const fn opcode(&self) -> u32 {
        self.opcode
    }
    /// The raw flags.
    #[must_use]
    pub const fn flags(&self) -> u32 {
        self.flags
    }
    /// Payload bytes in total: inline first, the rest in the region.
    #[must_use]
    pub const fn total_size(&self) -> u64 {
        self.total_size
    }
    /// The stored CRC-32C.
    #[must_use]
    pub const fn checksum(&self) -> u32 {
        self.checksum
    }
}

bitflags! {
    /// Access rights of a shared [`MemoryRegion`] (its `permissions` word).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct RegionPermissions: u32 {
        /// The receiver may read the region.
        const READ = 1 << 0;
        /// The receiver may write the region.
        const WRITE = 1 << 1;
        /// The receiver may execute from the region.
        const EXECUTE = 1 << 2;
    }
}

/// Memory type of a shared region's mapping (its `cache_policy` word).
#[repr(u32)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CachePolicy {
    /// Normal cached memory.
    #[default]
    WriteBack = 0,
    /// Writes go through to memory.
    WriteThrough = 1,
    /// No caching (device memory).
    Uncached = 2,
    /// Write-combining (frame buffers, streaming).
    WriteCombining = 3,
}

impl TryFrom<u32> for CachePolicy {
    type Error = IpcError;

    /// # Errors
    /// [`IpcError::InvalidArgument`] for an unknown policy number.
    fn try_from(raw: u32) -> Result<Self, IpcError> {
        match raw {
            0 => Ok(CachePolicy::WriteBack),
            1 => Ok(CachePolicy::WriteThrough),
            2 => Ok(CachePolicy::Uncached),
            3 => Ok(CachePolicy::WriteCombining),
            _ => Err(IpcError::InvalidArgument),
        }
    }
}

/// Descriptor of a shared memory region travelling with a large message.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemoryRegion {
    base_addr: u64,
    size: u64,
    permissions: u32,
    cache_policy: u32,
}

const _: () = assert!(size_of::<MemoryRegion>() == 24);

impl MemoryRegion {
    /// A region of `size` bytes at `base_addr`.
    #[must_use]
    pub const fn new(
        base_addr: u64,
        size: u64,
        permissions: RegionPermissions,
        cache_policy: CachePolicy,
    ) -> Self {
        Self {
            base_addr,
            size,
            permissions: permissions.bits(),
            cache_policy: cache_policy as u32,
        }
    }
    /// First byte of the region (a user virtual address).
    #[must_use]
    pub const fn base_addr(&self) -> u64 {
        self.base_addr
    }
    /// Length in bytes.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }
    /// Access rights.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] if unknown bits are set.
    pub const fn permissions(&self) -> Result<RegionPermissions, IpcError> {
        match RegionPermissions::from_bits(self.permissions) {
            Some(permissions) => Ok(permissions),
            None => Err(IpcError::InvalidArgument),
        }
    }
    /// Cache policy.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] for an unknown policy number.
    pub fn cache_policy(&self) -> Result<CachePolicy, IpcError> {
        CachePolicy::try_from(self.cache_policy)
    }
    /// One past the last byte.
    ///
    /// # Errors
    /// [`IpcError::BadAddress`] if the region wraps the address space.
    pub const fn end(&self) -> Result<u64, IpcError> {
        match self.base_addr.checked_add(self.size) {
            Some(end) => Ok(end),
            None => Err(IpcError::BadAddress),
        }
    }
}

/// A message too big for registers: header, region descriptor, inline bytes.
///
/// The payload is `total_size` bytes: the first `min(total_size, 64)` inline,
/// the remaining `total_size - 64` at the start of the region.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LargeMessage {
    header: MessageHeader,
    memory_region: MemoryRegion,
    inline_data: [u8; INLINE_CAPACITY],
}

const _: () = assert!(size_of::<LargeMessage>() == 120);

impl LargeMessage {
    /// Builds and seals (checksums) a message whose payload starts with
    /// `inline` and continues in `region`.
    ///
    /// # Errors
    /// - [`IpcError::InvalidArgument`] if `inline` is longer than 64 bytes, or
    ///   shorter than 64 while `region_bytes` is non-zero (inline fills first).
    /// - [`IpcError::BadAddress`] if `region` wraps the address space or is
    ///   smaller than `region_bytes`.
    pub fn new(
        capability: u64,
        opcode: u32,
        flags: u32,
        inline: &[u8],
        region: MemoryRegion,
        region_bytes: u64,
    ) -> Result<Self, IpcError> {
        if inline.len() > INLINE_CAPACITY || (region_bytes > 0 && inline.len() < INLINE_CAPACITY) {
            return Err(IpcError::InvalidArgument);
        }
        let mut inline_data = [0u8; INLINE_CAPACITY];
        inline_data[..inline.len()].copy_from_slice(inline);
        let total_size = (inline.len() as u64)
            .checked_add(region_bytes)
            .ok_or(IpcError::InvalidArgument)?;
        let header = MessageHeader {
            capability,
            opcode,
            flags,
            total_size,
            checksum: 0,
            reserved: 0,
        };
        let mut message = Self {
            header,
            memory_region: region,
            inline_data,
        };
        message.validate_layout()?;
        message.header.checksum = message.compute_checksum();
        Ok(message)
    }

    /// The header.
    #[must_use]
    pub const fn header(&self) -> &MessageHeader {
        &self.header
    }
    /// The region descriptor.
    #[must_use]
    pub const fn memory_region(&self) -> &MemoryRegion {
        &self.memory_region
    }
    /// The used inline bytes (`min(total_size, 64)` of them).
    #[must_use]
    pub fn inline_payload(&self) -> &[u8] {
        &self.inline_data[..self.inline_len()]
    }
    /// Payload bytes that live in the region.
    #[must_use]
    pub const fn region_payload_len(&self) -> u64 {
        self.header
            .total_size
            .saturating_sub(INLINE_CAPACITY as u64)
    }

    fn inline_len(&self) -> usize {
        // Bounded by INLINE_CAPACITY, so the cast cannot truncate.
        self.header.total_size.min(INLINE_CAPACITY as u64) as usize
    }

    fn validate_layout(&self) -> Result<(), IpcError> {
        self.memory_region.end()?;
        if self.region_payload_len() > self.memory_region.size {
            return Err(IpcError::BadAddress);
        }
        if self.header.reserved != 0 {
            return Err(IpcError::InvalidArgument);
        }
        Ok(())
    }

    /// Size of the wire form ([`Self::to_bytes`]).
    pub const BYTES: usize = 120;

    /// The wire form: the `repr(C)` layout, little-endian.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        let h = &self.header;
        let r = &self.memory_region;
        out[0..8].copy_from_slice(&h.capability.to_le_bytes());
        out[8..12].copy_from_slice(&h.opcode.to_le_bytes());
        out[12..16].copy_from_slice(&h.flags.to_le_bytes());
        out[16..24].copy_from_slice(&h.total_size.to_le_bytes());
        out[24..28].copy_from_slice(&h.checksum.to_le_bytes());
        out[28..32].copy_from_slice(&h.reserved.to_le_bytes());
        out[32..40].copy_from_slice(&r.base_addr.to_le_bytes());
        out[40..48].copy_from_slice(&r.size.to_le_bytes());
        out[48..52].copy_from_slice(&r.permissions.to_le_bytes());
        out[52..56].copy_from_slice(&r.cache_policy.to_le_bytes());
        out[56..120].copy_from_slice(&self.inline_data);
        out
    }

    /// Decodes the wire form. Every byte pattern decodes; [`Self::verify`]
    /// says whether the result is consistent and intact.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; Self::BYTES]) -> Self {
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let u32_at = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&bytes[i..i + 4]);
            u32::from_le_bytes(w)
        };
        let mut inline_data = [0u8; INLINE_CAPACITY];
        inline_data.copy_from_slice(&bytes[56..120]);
        Self {
            header: MessageHeader {
                capability: u64_at(0),
                opcode: u32_at(8),
                flags: u32_at(12),
                total_size: u64_at(16),
                checksum: u32_at(24),
                reserved: u32_at(28),
            },
            memory_region: MemoryRegion {
                base_addr: u64_at(32),
                size: u64_at(40),
                permissions: u32_at(48),
                cache_policy: u32_at(52),
            },
            inline_data,
        }
    }

    /// The same message as seen by a receiver that mapped the region at
    /// `base_addr` with `capability` naming it there, resealed (the kernel
    /// does this after it has verified the sender's checksum).
    #[must_use]
    pub fn rebased(&self, capability: u64, base_addr: u64) -> Self {
        let mut message = *self;
        message.header.capability = capability;
        message.memory_region.base_addr = base_addr;
        message.header.checksum = message.compute_checksum();
        message
    }

    /// CRC-32C over the covered bytes, in a fixed little-endian encoding so
    /// that the value does not depend on host layout.
    #[must_use]
    pub fn compute_checksum(&self) -> u32 {
        // The covered fields laid end to end, then one update: eight short
        // updates each paid the digest's per-call cost (the kernel checks
        // and reseals every large message it passes on).
        let h = &self.header;
        let r = &self.memory_region;
        let mut covered = [0u8; 48];
        covered[0..8].copy_from_slice(&h.capability.to_le_bytes());
        covered[8..12].copy_from_slice(&h.opcode.to_le_bytes());
        covered[12..16].copy_from_slice(&h.flags.to_le_bytes());
        covered[16..24].copy_from_slice(&h.total_size.to_le_bytes());
        covered[24..32].copy_from_slice(&r.base_addr.to_le_bytes());
        covered[32..40].copy_from_slice(&r.size.to_le_bytes());
        covered[40..44].copy_from_slice(&r.permissions.to_le_bytes());
        covered[44..48].copy_from_slice(&r.cache_policy.to_le_bytes());
        let mut digest = CRC32C.digest();
        digest.update(&covered);
        digest.update(self.inline_payload());
        digest.finalize()
    }

    /// Checks a message received from untrusted memory.
    ///
    /// # Errors
    /// [`IpcError::BadAddress`] / [`IpcError::InvalidArgument`] for an
    /// inconsistent layout, then [`IpcError::ChecksumMismatch`] if the stored
    /// checksum is wrong.
    pub fn verify(&self) -> Result<(), IpcError> {
        self.validate_layout()?;
        if self.compute_checksum() != self.header.checksum {
            return Err(IpcError::ChecksumMismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips_and_rebasing_reseals() {
        let region = MemoryRegion::new(
            0x4000_0000,
            8192,
            RegionPermissions::READ | RegionPermissions::WRITE,
            CachePolicy::WriteBack,
        );
        let message = LargeMessage::new(7, 3, 0, &[0xab; 64], region, 4096).unwrap();
        let bytes = message.to_bytes();
        assert_eq!(LargeMessage::from_bytes(&bytes), message);
        let moved = message.rebased(9, 0x5000_0000);
        assert_eq!(moved.verify(), Ok(()));
        assert_eq!(moved.memory_region().base_addr(), 0x5000_0000);
        assert_eq!(moved.header().capability(), 9);
        let mut bad = bytes;
        bad[60] ^= 1;
        assert_eq!(
            LargeMessage::from_bytes(&bad).verify(),
            Err(IpcError::ChecksumMismatch)
        );
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn layouts_match_the_design() {
        assert_eq!(core::mem::offset_of!(SmallMessage, data), 16);
        assert_eq!(core::mem::offset_of!(MessageHeader, checksum), 24);
        assert_eq!(core::mem::offset_of!(LargeMessage, memory_region), 32);
        assert_eq!(core::mem::offset_of!(LargeMessage, inline_data), 56);
    }

    fn region() -> MemoryRegion {
        MemoryRegion::new(
            0x4000_0000,
            8192,
            RegionPermissions::READ,
            CachePolicy::WriteBack,
        )
    }

    #[test]
    fn sealed_message_verifies_and_detects_corruption() {
        let payload = [7u8; INLINE_CAPACITY];
        let message = LargeMessage::new(0x1_0000_0002, 3, 0, &payload, region(), 4000).unwrap();
        assert_eq!(message.verify(), Ok(()));
        assert_eq!(message.header().total_size(), 4064);
        assert_eq!(message.region_payload_len(), 4000);

        let mut corrupted = message;
        corrupted.inline_data[10] ^= 1;
        assert_eq!(corrupted.verify(), Err(IpcError::ChecksumMismatch));
        let mut corrupted = message;
        corrupted.header.opcode = 4;
        assert_eq!(corrupted.verify(), Err(IpcError::ChecksumMismatch));
        let mut corrupted = message;
        corrupted.header.total_size = 1 << 40;
        assert_eq!(corrupted.verify(), Err(IpcError::BadAddress));
    }

    proptest::proptest! {
        /// The one-buffer checksum equals the field-by-field definition
        /// (the wire format's checksums did not change).
        #[test]
        fn checksum_is_the_field_by_field_crc(
            capability: u64, opcode: u32, flags: u32, base in 0u64..1 << 40,
            inline in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=64),
        ) {
            let region_bytes = if inline.len() == 64 { 4096 } else { 0 };
            let permissions = RegionPermissions::READ | RegionPermissions::WRITE;
            let region = MemoryRegion::new(base, 8192, permissions, CachePolicy::WriteThrough);
            let message = LargeMessage::new(capability, opcode, flags, &inline, region, region_bytes).unwrap();
            let mut digest = CRC32C.digest();
            digest.update(&capability.to_le_bytes());
            digest.update(&opcode.to_le_bytes());
            digest.update(&flags.to_le_bytes());
            digest.update(&(inline.len() as u64 + region_bytes).to_le_bytes());
            digest.update(&base.to_le_bytes());
            digest.update(&8192u64.to_le_bytes());
            digest.update(&permissions.bits().to_le_bytes());
            digest.update(&(CachePolicy::WriteThrough as u32).to_le_bytes());
            digest.update(&inline);
            proptest::prop_assert_eq!(message.header().checksum(), digest.finalize());
        }
    }

    #[test]
    fn unused_inline_bytes_are_not_covered() {
        let mut message = LargeMessage::new(1, 2, 3, b"hello", region(), 0).unwrap();
        assert_eq!(message.inline_payload(), b"hello");
        message.inline_data[40] = 0xFF;
        assert_eq!(message.verify(), Ok(()));
    }

    #[test]
    fn malformed_large_messages_are_rejected() {
        let long = [0u8; INLINE_CAPACITY + 1];
        assert_eq!(
            LargeMessage::new(1, 2, 3, &long, region(), 0),
            Err(IpcError::InvalidArgument)
        );
        assert_eq!(
            LargeMessage::new(1, 2, 3, b"x", region(), 10),
            Err(IpcError::InvalidArgument)
        );
        let full = [0u8; INLINE_CAPACITY];
        assert_eq!(
            LargeMessage::new(1, 2, 3, &full, region(), 8193),
            Err(IpcError::BadAddress)
        );
        let wrapping = MemoryRegion::new(
            u64::MAX - 10,
            100,
            RegionPermissions::READ,
            CachePolicy::Uncached,
        );
        assert_eq!(
            LargeMessage::new(1, 2, 3, &full, wrapping, 1),
            Err(IpcError::BadAddress)
        );
    }

    #[test]
    fn region_fields_decode_or_fail_cleanly() {
        let mut descriptor = region();
        assert_eq!(descriptor.permissions(), Ok(RegionPermissions::READ));
        assert_eq!(descriptor.cache_policy(), Ok(CachePolicy::WriteBack));
        descriptor.permissions = 0x80;
        descriptor.cache_policy = 9;
        assert_eq!(descriptor.permissions(), Err(IpcError::InvalidArgument));
        assert_eq!(descriptor.cache_policy(), Err(IpcError::InvalidArgument));
    }
}
