//! The Multiboot2 boot information structure, as GRUB builds it.
//!
//! Layout (all little-endian): `total_size u32, reserved u32`, then tags, each
//! starting on an 8-byte boundary: `type u32, size u32` (size includes these 8
//! bytes, not the padding), then the payload. The tags read here:
//! ```text
//!  0 end            (size 8)
//!  1 command line   string, NUL-terminated
//!  3 module         mod_start u32, mod_end u32, string
//!  6 memory map     entry_size u32, entry_version u32,
//!                   entries { base_addr u64, length u64, type u32, reserved u32 }
//! 14 ACPI old RSDP  a copy of the RSDP v1 (20 bytes)
//! 15 ACPI new RSDP  a copy of the RSDP v2 (36 bytes)
//! ```
//! Other tags are skipped; for repeated tags the first one counts.

use arrayvec::ArrayVec;

use super::{
    BootInfo, BootInfoError, BootModule, LoaderKind, MAX_MEMORY_MAP_ENTRIES, MAX_MODULES,
    RsdpSource, build_memory_map, e820_entry, read_bytes, str_before_nul,
};
use crate::PhysRead;
use crate::bytes::u32_at;

/// The largest `total_size` accepted (GRUB's structures are a few KiB; EFI
/// memory maps and framebuffer tags stay far below this).
pub(crate) const MAX_TOTAL_SIZE: u32 = 1 << 20;
/// Size of the fixed header and of every tag header.
const HEADER_SIZE: usize = 8;
/// The smallest memory-map entry (`base_addr`, `length`, `type`, `reserved`).
const MIN_MEMMAP_ENTRY_SIZE: u32 = 24;

const TAG_END: u32 = 0;
const TAG_CMDLINE: u32 = 1;
const TAG_MODULE: u32 = 3;
const TAG_MEMORY_MAP: u32 = 6;
const TAG_ACPI_OLD: u32 = 14;
const TAG_ACPI_NEW: u32 = 15;

/// The memory-map tag's entries and their declared size.
#[derive(Clone, Copy)]
struct MemoryMapTag<'a> {
    entries: &'a [u8],
    entry_size: usize,
}

/// Parses the Multiboot2 information structure at `info`.
pub(super) fn parse<'a, M: PhysRead + ?Sized>(
    mem: &'a M,
    info: u64,
) -> Result<BootInfo<'a>, BootInfoError> {
    let header = read_bytes(mem, info, HEADER_SIZE, "multiboot2 info header")?;
    let total_size = u32_at(header, 0).unwrap_or(0);
    if !(2 * HEADER_SIZE as u32..=MAX_TOTAL_SIZE).contains(&total_size) {
        return Err(BootInfoError::BadTotalSize { total_size });
    }
    let bytes = read_bytes(mem, info, total_size as usize, "multiboot2 info")?;

    let mut cmdline = None;
    let mut modules = ArrayVec::<BootModule<'a>, MAX_MODULES>::new();
    let mut memory_map = None;
    let (mut rsdp_old, mut rsdp_new) = (None, None);
    let mut offset = HEADER_SIZE;
    loop {
        // Every pass moves `offset` forward by at least 8, so this ends.
        let (Some(tag_type), Some(size)) = (u32_at(bytes, offset), u32_at(bytes, offset + 4))
        else {
            return Err(BootInfoError::MissingEndTag);
        };
        if (size as usize) < HEADER_SIZE {
            return Err(BootInfoError::TagTooSmall {
                tag_type,
                offset,
                size,
            });
        }
        let payload = bytes
            .get(offset + HEADER_SIZE..offset + size as usize)
            .ok_or(BootInfoError::TagPastEnd { offset, size })?;
        let too_small = BootInfoError::TagTooSmall {
            tag_type,
            offset,
            size,
        };
        match tag_type {
            TAG_END => break,
            TAG_CMDLINE if cmdline.is_none() => {
                cmdline = Some(str_before_nul(payload, "kernel cmdline")?)
            }
            TAG_MODULE => {
                let (start, end) = (
                    u32_at(payload, 0).ok_or(too_small)?,
                    u32_at(payload, 4).ok_or(too_small)?,
                );
                if end < start {
                    return Err(BootInfoError::BadModuleRange {
                        start: start.into(),
                        size_or_end: end.into(),
                    });
                }
                let name = str_before_nul(payload.get(8..).unwrap_or_default(), "module cmdline")?;
                let module = BootModule {
                    start: start.into(),
                    end: end.into(),
                    cmdline: name,
                };
                modules
                    .try_push(module)
                    .map_err(|_| BootInfoError::TooManyModules {
                        count: MAX_MODULES as u64 + 1,
                    })?;
            }
            TAG_MEMORY_MAP if memory_map.is_none() => {
                memory_map = Some(memory_map_tag(payload, too_small)?)
            }
            TAG_ACPI_OLD if rsdp_old.is_none() => rsdp_old = Some(payload),
            TAG_ACPI_NEW if rsdp_new.is_none() => rsdp_new = Some(payload),
            _ => {}
        }
        offset = (offset + size as usize).next_multiple_of(HEADER_SIZE);
    }

    let map = memory_map.ok_or(BootInfoError::MissingMemoryMap)?;
    let entries = map
        .entries
        .chunks_exact(map.entry_size)
        .filter_map(e820_entry);
    let (memory_map, dropped_usable_regions) = build_memory_map(entries, &modules)?;
    Ok(BootInfo {
        loader: LoaderKind::Multiboot2,
        cmdline: cmdline.unwrap_or(""),
        memory_map,
        dropped_usable_regions,
        modules,
        rsdp: rsdp_new.or(rsdp_old).map(RsdpSource::Copy),
    })
}

/// Validates a memory-map tag's payload.
fn memory_map_tag(
    payload: &[u8],
    too_small: BootInfoError,
) -> Result<MemoryMapTag<'_>, BootInfoError> {
    let entry_size = u32_at(payload, 0).ok_or(too_small)?;
    if entry_size < MIN_MEMMAP_ENTRY_SIZE {
        return Err(BootInfoError::MemoryMapEntryTooSmall { entry_size });
    }
    // `entry_version` (offset 4) is 0 in every Multiboot2 revision; entries
    // only ever grow, so larger entries are read by their known prefix.
    let entries = payload.get(8..).ok_or(too_small)?;
    let entry_size_bytes = entry_size as usize;
    if entries.len() % entry_size_bytes != 0 {
        return Err(BootInfoError::MemoryMapSizeMismatch {
            entries_size: entries.len(),
            entry_size,
        });
    }
    let count = entries.len() / entry_size_bytes;
    if count > MAX_MEMORY_MAP_ENTRIES {
        return Err(BootInfoError::TooManyMemoryMapEntries {
            count: count as u64,
        });
    }
    Ok(MemoryMapTag {
        entries,
        entry_size: entry_size_bytes,
    })
}
