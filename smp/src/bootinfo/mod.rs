//! What the loader tells the kernel: one [`BootInfo`] built from either the PVH
//! `hvm_start_info` ([`BootInfo::from_pvh`], `qemu -kernel`) or the Multiboot2
//! information structure ([`BootInfo::from_multiboot2`], GRUB).
//!
//! Both parsers read through [`PhysRead`], bound every count and length, and
//! turn malformed input into a [`BootInfoError`]. The memory map they build is
//! fed into [`MemoryMap`] in two passes: firmware's non-usable regions and the
//! boot modules first (they must fit, or parsing fails), usable RAM last (a
//! usable region that does not fit is dropped and counted, which only loses
//! memory and can never make a reserved byte usable).

mod multiboot2;
mod pvh;

use arrayvec::ArrayVec;

use crate::PhysRead;
use crate::bytes::{u32_at, u64_at};
use crate::memmap::{BOOT_MAP_CAPACITY, MemoryMap, MemoryMapError, RegionKind};

/// The most boot modules a [`BootInfo`] holds.
pub const MAX_MODULES: usize = 16;

/// The longest command line accepted, in bytes, without the NUL.
pub const MAX_CMDLINE_LEN: usize = 4096;

/// The most memory-map entries accepted from a loader.
pub const MAX_MEMORY_MAP_ENTRIES: usize = 1024;

/// Which boot protocol started the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoaderKind {
    /// The Xen PVH boot ABI (`hvm_start_info`), as `qemu -kernel` uses.
    Pvh,
    /// Multiboot2, as GRUB uses.
    Multiboot2,
}

/// A boot module: a file the loader placed in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootModule<'a> {
    /// Physical address of the first byte.
    pub start: u64,
    /// Physical address one past the last byte.
    pub end: u64,
    /// The module's command line (often its file name), possibly empty.
    pub cmdline: &'a str,
}

/// Where the ACPI RSDP is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsdpSource<'a> {
    /// At this physical address (PVH).
    Address(u64),
    /// A copy inside the boot information (Multiboot2 tags 14 and 15); not yet
    /// validated: pass it to [`crate::acpi::Rsdp::parse`].
    Copy(&'a [u8]),
}

/// Everything the kernel needs from its loader.
#[derive(Clone, Debug)]
pub struct BootInfo<'a> {
    /// The boot protocol.
    pub loader: LoaderKind,
    /// The kernel command line (valid UTF-8, at most [`MAX_CMDLINE_LEN`] bytes).
    pub cmdline: &'a str,
    /// The normalised physical memory map, boot modules carved out as
    /// [`RegionKind::Module`]. The kernel carves its own image and low memory.
    pub memory_map: MemoryMap<BOOT_MAP_CAPACITY>,
    /// Usable regions left out because the memory map was full.
    pub dropped_usable_regions: usize,
    /// The boot modules, in the loader's order.
    pub modules: ArrayVec<BootModule<'a>, MAX_MODULES>,
    /// The ACPI RSDP, if the loader reported one.
    pub rsdp: Option<RsdpSource<'a>>,
}

/// Why the boot information could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// `len` bytes at `phys` holding `what` are not readable.
    Unreadable {
        /// Which structure was being read.
        what: &'static str,
        /// Its physical address.
        phys: u64,
        /// How many bytes were needed.
        len: usize,
    },
    /// The PVH start info does not start with `0x336ec578`.
    BadMagic {
        /// The value found instead.
        found: u32,
    },
    /// The loader reported no memory map (or an empty one).
    MissingMemoryMap,
    /// More memory-map entries than [`MAX_MEMORY_MAP_ENTRIES`].
    TooManyMemoryMapEntries {
        /// The count the loader reported.
        count: u64,
    },
    /// More boot modules than [`MAX_MODULES`].
    TooManyModules {
        /// The count the loader reported (or reached).
        count: u64,
    },
    /// A module whose end lies before its start or past `u64::MAX`.
    BadModuleRange {
        /// Its start.
        start: u64,
        /// Its size, or end for Multiboot2 (as the loader gave it).
        size_or_end: u64,
    },
    /// A command line with no NUL within [`MAX_CMDLINE_LEN`] bytes.
    CmdlineTooLong {
        /// Which command line.
        what: &'static str,
    },
    /// A command line whose NUL lies outside its container (Multiboot2 tag).
    CmdlineNotTerminated {
        /// Which command line.
        what: &'static str,
    },
    /// A command line that is not valid UTF-8.
    CmdlineNotUtf8 {
        /// Which command line.
        what: &'static str,
    },
    /// The Multiboot2 `total_size` is below 16 or absurdly large.
    BadTotalSize {
        /// The value found.
        total_size: u32,
    },
    /// A Multiboot2 tag whose size is too small for its type.
    TagTooSmall {
        /// The tag's type.
        tag_type: u32,
        /// The tag's offset in the information structure.
        offset: usize,
        /// Its declared size.
        size: u32,
    },
    /// A Multiboot2 tag that runs past `total_size`.
    TagPastEnd {
        /// The tag's offset in the information structure.
        offset: usize,
        /// Its declared size.
        size: u32,
    },
    /// The Multiboot2 tags reach `total_size` without an end tag.
    MissingEndTag,
    /// A Multiboot2 memory-map `entry_size` below 24 bytes.
    MemoryMapEntryTooSmall {
        /// The value found.
        entry_size: u32,
    },
    /// A Multiboot2 memory-map tag that is not a whole number of entries.
    MemoryMapSizeMismatch {
        /// The entries' total size in bytes.
        entries_size: usize,
        /// The declared size of one entry.
        entry_size: u32,
    },
    /// Reserved regions and modules do not fit in the memory map.
    MemoryMap(MemoryMapError),
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The Debug form names the variant and every field; that is the message.
        write!(f, "bad boot information: {self:?}")
    }
}

impl From<MemoryMapError> for BootInfoError {
    fn from(error: MemoryMapError) -> Self {
        Self::MemoryMap(error)
    }
}

impl<'a> BootInfo<'a> {
    /// Parses the PVH `hvm_start_info` at physical address `start_info`.
    ///
    /// # Errors
    /// A [`BootInfoError`] for unreadable memory, a bad magic, a missing or
    /// oversized memory map, too many modules, or a bad command line.
    pub fn from_pvh<M: PhysRead + ?Sized>(
        mem: &'a M,
        start_info: u64,
    ) -> Result<Self, BootInfoError> {
        pvh::parse(mem, start_info)
    }

    /// Parses the Multiboot2 information structure at physical address `info`.
    ///
    /// # Errors
    /// A [`BootInfoError`] for unreadable memory, a bad `total_size`, a bad
    /// tag, a missing or malformed memory map, too many modules, or a bad
    /// command line.
    pub fn from_multiboot2<M: PhysRead + ?Sized>(
        mem: &'a M,
        info: u64,
    ) -> Result<Self, BootInfoError> {
        multiboot2::parse(mem, info)
    }
}

/// One E820-style memory-map entry: base, length, type code.
type E820Entry = (u64, u64, u32);

/// One E820-style entry from the front of `chunk`: `base u64, length u64,
/// type u32` (`None` if `chunk` is shorter than 20 bytes).
fn e820_entry(chunk: &[u8]) -> Option<E820Entry> {
    Some((u64_at(chunk, 0)?, u64_at(chunk, 8)?, u32_at(chunk, 16)?))
}

/// Builds the memory map from the loader's entries and the modules (see the
/// module documentation for the two passes). Returns the map and how many
/// usable regions were dropped.
fn build_memory_map(
    entries: impl Iterator<Item = E820Entry> + Clone,
    modules: &[BootModule<'_>],
) -> Result<(MemoryMap<BOOT_MAP_CAPACITY>, usize), BootInfoError> {
    let mut map = MemoryMap::new();
    let mut saw_entry = false;
    for (base, len, code) in entries.clone() {
        saw_entry = true;
        let kind = RegionKind::from_e820(code);
        if kind != RegionKind::Usable {
            map.add(base, len, kind)?;
        }
    }
    if !saw_entry {
        return Err(BootInfoError::MissingMemoryMap);
    }
    for module in modules {
        map.add(
            module.start,
            module.end.saturating_sub(module.start),
            RegionKind::Module,
        )?;
    }
    let mut dropped = 0;
    for (base, len, code) in entries {
        if RegionKind::from_e820(code) == RegionKind::Usable
            && map.add(base, len, RegionKind::Usable).is_err()
        {
            dropped += 1;
        }
    }
    Ok((map, dropped))
}

/// The UTF-8 string before the first NUL of `bytes`.
fn str_before_nul<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, BootInfoError> {
    let len = bytes
        .iter()
        .position(|byte| *byte == 0)
        .ok_or(BootInfoError::CmdlineNotTerminated { what })?;
    if len > MAX_CMDLINE_LEN {
        return Err(BootInfoError::CmdlineTooLong { what });
    }
    core::str::from_utf8(&bytes[..len]).map_err(|_| BootInfoError::CmdlineNotUtf8 { what })
}

/// The NUL-terminated UTF-8 string at physical address `phys`.
///
/// The NUL is searched for one byte at a time: the string may end just before
/// unmapped memory, so any longer read could fail where the string is fine.
/// At most [`MAX_CMDLINE_LEN`] + 1 one-byte reads, once per boot.
fn read_c_str<'a, M: PhysRead + ?Sized>(
    mem: &'a M,
    phys: u64,
    what: &'static str,
) -> Result<&'a str, BootInfoError> {
    let mut len = 0;
    loop {
        let addr = phys
            .checked_add(len as u64)
            .ok_or(BootInfoError::Unreadable {
                what,
                phys,
                len: len + 1,
            })?;
        let byte = mem.read(addr, 1).ok_or(BootInfoError::Unreadable {
            what,
            phys,
            len: len + 1,
        })?;
        if byte == [0] {
            break;
        }
        if len == MAX_CMDLINE_LEN {
            return Err(BootInfoError::CmdlineTooLong { what });
        }
        len += 1;
    }
    let bytes = mem
        .read(phys, len)
        .ok_or(BootInfoError::Unreadable { what, phys, len })?;
    core::str::from_utf8(bytes).map_err(|_| BootInfoError::CmdlineNotUtf8 { what })
}

/// Reads `len` bytes at `phys`, naming `what` in the error.
fn read_bytes<'a, M: PhysRead + ?Sized>(
    mem: &'a M,
    phys: u64,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], BootInfoError> {
    mem.read(phys, len)
        .ok_or(BootInfoError::Unreadable { what, phys, len })
}

#[cfg(test)]
mod tests;
