//! The PVH boot ABI's `hvm_start_info` (Xen `arch-x86/hvm/start_info.h`), as
//! QEMU's `-kernel` loader fills it in.
//!
//! Layout (all little-endian):
//! ```text
//! hvm_start_info          0 magic u32 (0x336ec578)   4 version u32   8 flags u32
//!                        12 nr_modules u32   16 modlist_paddr u64
//!                        24 cmdline_paddr u64   32 rsdp_paddr u64
//!   version >= 1:        40 memmap_paddr u64   48 memmap_entries u32   52 reserved u32
//! hvm_modlist_entry       0 paddr u64   8 size u64   16 cmdline_paddr u64   24 reserved u64
//! hvm_memmap_table_entry  0 addr u64    8 size u64   16 type u32   20 reserved u32
//! ```

use arrayvec::ArrayVec;

use super::{
    BootInfo, BootInfoError, BootModule, LoaderKind, MAX_MEMORY_MAP_ENTRIES, MAX_MODULES,
    RsdpSource, build_memory_map, e820_entry, read_bytes, read_c_str,
};
use crate::PhysRead;
use crate::bytes::{u32_at, u64_at};

/// `hvm_start_info.magic`: `"xEn3"` with the top bit of each byte cleared.
pub(crate) const PVH_MAGIC: u32 = 0x336e_c578;
/// Size of `hvm_start_info` version 0.
const START_INFO_V0_SIZE: usize = 40;
/// Size of `hvm_start_info` version 1 (adds the memory map).
const START_INFO_V1_SIZE: usize = 56;
/// Size of one `hvm_modlist_entry`.
const MODULE_ENTRY_SIZE: usize = 32;
/// Size of one `hvm_memmap_table_entry`.
const MEMMAP_ENTRY_SIZE: usize = 24;

/// Parses the `hvm_start_info` at `start_info`.
pub(super) fn parse<'a, M: PhysRead + ?Sized>(
    mem: &'a M,
    start_info: u64,
) -> Result<BootInfo<'a>, BootInfoError> {
    // Field reads below lie inside slices of the struct's full size, so they
    // cannot fail; `unwrap_or(0)` keeps the code free of panic paths anyway.
    let header = read_bytes(mem, start_info, START_INFO_V0_SIZE, "hvm_start_info")?;
    let field32 = |offset| u32_at(header, offset).unwrap_or(0);
    let field64 = |offset| u64_at(header, offset).unwrap_or(0);
    let magic = field32(0);
    if magic != PVH_MAGIC {
        return Err(BootInfoError::BadMagic { found: magic });
    }
    let version = field32(4);
    let (nr_modules, modlist_paddr) = (field32(12), field64(16));
    let (cmdline_paddr, rsdp_paddr) = (field64(24), field64(32));
    if version < 1 {
        return Err(BootInfoError::MissingMemoryMap);
    }
    // Later versions only append fields, so version 1's layout holds.
    let header = read_bytes(mem, start_info, START_INFO_V1_SIZE, "hvm_start_info")?;
    let memmap_paddr = u64_at(header, 40).unwrap_or(0);
    let memmap_entries = u32_at(header, 48).unwrap_or(0) as usize;
    if memmap_entries == 0 || memmap_paddr == 0 {
        return Err(BootInfoError::MissingMemoryMap);
    }
    if memmap_entries > MAX_MEMORY_MAP_ENTRIES {
        return Err(BootInfoError::TooManyMemoryMapEntries {
            count: memmap_entries as u64,
        });
    }
    let table = read_bytes(
        mem,
        memmap_paddr,
        memmap_entries * MEMMAP_ENTRY_SIZE,
        "hvm_memmap_table",
    )?;
    let entries = table.chunks_exact(MEMMAP_ENTRY_SIZE).filter_map(e820_entry);

    let modules = parse_modules(mem, nr_modules, modlist_paddr)?;
    let cmdline = if cmdline_paddr == 0 {
        ""
    } else {
        read_c_str(mem, cmdline_paddr, "kernel cmdline")?
    };
    let (memory_map, dropped_usable_regions) = build_memory_map(entries, &modules)?;
    Ok(BootInfo {
        loader: LoaderKind::Pvh,
        cmdline,
        memory_map,
        dropped_usable_regions,
        modules,
        rsdp: (rsdp_paddr != 0).then_some(RsdpSource::Address(rsdp_paddr)),
    })
}

/// The `count` entries of the module list at `modlist_paddr`.
fn parse_modules<'a, M: PhysRead + ?Sized>(
    mem: &'a M,
    count: u32,
    modlist_paddr: u64,
) -> Result<ArrayVec<BootModule<'a>, MAX_MODULES>, BootInfoError> {
    let mut modules = ArrayVec::new();
    if count as usize > MAX_MODULES {
        return Err(BootInfoError::TooManyModules {
            count: u64::from(count),
        });
    }
    if count == 0 {
        return Ok(modules);
    }
    let list = read_bytes(
        mem,
        modlist_paddr,
        count as usize * MODULE_ENTRY_SIZE,
        "hvm_modlist",
    )?;
    for entry in list.chunks_exact(MODULE_ENTRY_SIZE) {
        let (start, size) = (u64_at(entry, 0).unwrap_or(0), u64_at(entry, 8).unwrap_or(0));
        let cmdline_paddr = u64_at(entry, 16).unwrap_or(0);
        let end = start
            .checked_add(size)
            .ok_or(BootInfoError::BadModuleRange {
                start,
                size_or_end: size,
            })?;
        let cmdline = if cmdline_paddr == 0 {
            ""
        } else {
            read_c_str(mem, cmdline_paddr, "module cmdline")?
        };
        // Cannot fail: `count` was checked against the capacity above.
        modules
            .try_push(BootModule {
                start,
                end,
                cmdline,
            })
            .map_err(|_| BootInfoError::TooManyModules {
                count: u64::from(count),
            })?;
    }
    Ok(modules)
}
