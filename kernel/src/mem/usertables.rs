//! User page tables edited through the direct map: the walk to a table of
//! a given level, a translation with the permissions in effect, and the
//! shared leaf tables of regions.
//!
//! A region owns its leaf tables (one per 512 pages). Their entries allow
//! writing and execution; each mapping installs one page-directory entry
//! per table, and that entry carries the mapping's `WRITABLE` and
//! `NO_EXECUTE`. x86 allows a write only where every level allows it and
//! executes only where no level forbids it, so the directory entry decides.
//! Mapping, unmapping and transferring then write one entry per 2 MiB, not
//! one per page. The memory type (PAT, PCD, PWT) exists only in leaf
//! entries, so a region keeps one set of tables per memory type in use.
//!
//! Hand-written rather than through `x86_64`'s `OffsetPageTable`: its
//! `translate` reports only the last level's flags, which would let a write
//! through a read-only mapping of a shared table pass, and its `map_to`
//! walks once per page.

use alloc::vec::Vec;
use x86_64::VirtAddr;
use x86_64::structures::paging::{FrameAllocator, PageTable, PageTableFlags as F, Size4KiB};

use super::paging;

/// Bytes one leaf table maps.
pub const TABLE_SPAN: u64 = 512 * 4096;

/// Flags of a leaf entry that select the memory type.
pub const MEMORY_TYPE_BITS: F = F::WRITE_THROUGH
    .union(F::NO_CACHE)
    // Bit 7 of a 4 KiB entry is the PAT bit (`x86_64` names the bit by its
    // meaning in upper levels).
    .union(F::HUGE_PAGE);

fn table(phys: u64) -> &'static mut PageTable {
    // SAFETY: callers pass only live page tables of user address spaces,
    // reachable through the direct map, and hold the lock that serialises
    // changes to them (PROCS, or KIPC for a region's own tables).
    unsafe { &mut *paging::phys_to_virt(phys).as_mut_ptr::<PageTable>() }
}

/// The table `levels` steps below `pml4` on the way to `va` (1: the PDPT,
/// 2: the page directory, 3: the leaf table), creating missing tables with
/// `alloc` when given. `None` when a level is missing (and no `alloc`) or
/// maps a huge page.
pub fn table_at(
    pml4: u64,
    va: u64,
    levels: usize,
    mut alloc: Option<&mut dyn FrameAllocator<Size4KiB>>,
) -> Option<&'static mut PageTable> {
    let addr = VirtAddr::new(va);
    let indices = [addr.p4_index(), addr.p3_index(), addr.p2_index()];
    let mut table_phys = pml4;
    for index in indices.into_iter().take(levels) {
        let entry = &mut table(table_phys)[index];
        if entry.is_unused() {
            let frame = alloc.as_mut()?.allocate_frame()?;
            entry.set_frame(frame, F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE);
        } else if entry.flags().contains(F::HUGE_PAGE) {
            return None;
        }
        table_phys = entry.addr().as_u64();
    }
    Some(table(table_phys))
}

/// The physical address `va` maps to in `pml4` and the flags in effect:
/// `PRESENT`, `USER_ACCESSIBLE` and `WRITABLE` where every level has them,
/// `NO_EXECUTE` where any level has it, the memory-type bits of the last
/// level. `None` when not mapped.
pub fn translate(pml4: u64, va: u64) -> Option<(u64, F)> {
    let addr = VirtAddr::new(va);
    let indices = [
        addr.p4_index(),
        addr.p3_index(),
        addr.p2_index(),
        addr.p1_index(),
    ];
    let all = F::PRESENT | F::USER_ACCESSIBLE | F::WRITABLE;
    let mut allowed = all;
    let mut forbidden = F::empty();
    let mut table_phys = pml4;
    for (level, index) in indices.into_iter().enumerate() {
        let entry = &table(table_phys)[index];
        let flags = entry.flags();
        if !flags.contains(F::PRESENT) {
            return None;
        }
        allowed &= flags & all;
        forbidden |= flags & F::NO_EXECUTE;
        // A huge page at the PDPT (1 GiB) or directory (2 MiB) level.
        let huge = (level == 1 || level == 2) && flags.contains(F::HUGE_PAGE);
        if level == 3 || huge {
            let span = match level {
                1 => 1 << 30,
                2 => 1 << 21,
                _ => 4096,
            };
            let memory_type = if huge {
                flags & (F::WRITE_THROUGH | F::NO_CACHE)
            } else {
                flags & MEMORY_TYPE_BITS
            };
            return Some((
                entry.addr().as_u64() + (va & (span - 1)),
                allowed | forbidden | memory_type,
            ));
        }
        table_phys = entry.addr().as_u64();
    }
    None
}

/// Builds leaf tables mapping `frames` in order (entry flags: present,
/// user, writable, executable, and `memory_type`), with frames from
/// `alloc`. `None` when `alloc` runs out (the tables built so far are
/// returned to `free`).
pub fn build_leaf_tables(
    frames: &[u64],
    memory_type: F,
    alloc: &mut dyn FnMut() -> Option<u64>,
    free: &mut dyn FnMut(u64),
) -> Option<Vec<u64>> {
    let flags = F::PRESENT | F::USER_ACCESSIBLE | F::WRITABLE | (memory_type & MEMORY_TYPE_BITS);
    let mut tables = Vec::new();
    if tables
        .try_reserve_exact(frames.len().div_ceil(512))
        .is_err()
    {
        return None;
    }
    for chunk in frames.chunks(512) {
        let Some(phys) = alloc() else {
            tables.into_iter().for_each(&mut *free);
            return None;
        };
        let t = table(phys);
        t.zero();
        for (entry, &frame) in t.iter_mut().zip(chunk) {
            entry.set_addr(x86_64::PhysAddr::new(frame), flags);
        }
        tables.push(phys);
    }
    Some(tables)
}

/// The page-directory entries of `pml4` from 2 MiB-aligned `va` up to
/// `count` of them or the end of that directory, as raw words, creating the
/// directory with `alloc` when given.
fn directory_entries(
    pml4: u64,
    va: u64,
    count: usize,
    alloc: Option<&mut dyn FrameAllocator<Size4KiB>>,
) -> Option<&'static mut [u64]> {
    let directory = table_at(pml4, va, 2, alloc)?;
    let first = usize::from(VirtAddr::new(va).p2_index());
    let n = count.min(512 - first);
    // SAFETY: a page table is 512 eight-byte entries (`PageTableEntry` is a
    // transparent u64); the slice stays inside it and borrows it
    // exclusively, as `table_at`'s result did.
    let words = unsafe {
        core::slice::from_raw_parts_mut(core::ptr::from_mut(directory).cast::<u64>().add(first), n)
    };
    Some(words)
}

/// Points the page-directory entries for `[va, va + tables.len() * 2 MiB)`
/// of `pml4` at `tables`, with `flags` (its `WRITABLE` and `NO_EXECUTE`
/// apply to every page). `va` is 2 MiB-aligned and the entries are unused.
/// `false` when a directory could not be created (nothing is left
/// installed).
pub fn install_tables(
    pml4: u64,
    va: u64,
    tables: &[u64],
    flags: F,
    alloc: &mut dyn FrameAllocator<Size4KiB>,
) -> bool {
    debug_assert_eq!(va % TABLE_SPAN, 0);
    let bits = (F::PRESENT | F::USER_ACCESSIBLE | (flags & (F::WRITABLE | F::NO_EXECUTE))).bits();
    let mut done = 0;
    while done < tables.len() {
        let at = va + done as u64 * TABLE_SPAN;
        let Some(entries) = directory_entries(pml4, at, tables.len() - done, Some(&mut *alloc))
        else {
            clear_tables(pml4, va, done as u64);
            return false;
        };
        for (entry, &leaf) in entries.iter_mut().zip(&tables[done..]) {
            debug_assert_eq!(*entry, 0);
            debug_assert_eq!(leaf & 0xfff, 0);
            *entry = leaf | bits;
        }
        done += entries.len();
    }
    true
}

/// Clears `count` page-directory entries from 2 MiB-aligned `va` (no
/// flush: the caller shoots down).
pub fn clear_tables(pml4: u64, va: u64, count: u64) {
    let mut done = 0;
    while done < count {
        let at = va + done * TABLE_SPAN;
        let left = (count - done) as usize;
        match directory_entries(pml4, at, left, None) {
            Some(entries) => {
                entries.fill(0);
                done += entries.len() as u64;
            }
            // No directory there: nothing to clear up to its end.
            None => done += (512 - u64::from(VirtAddr::new(at).p2_index())).min(count - done),
        }
    }
}
