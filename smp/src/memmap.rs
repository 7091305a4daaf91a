//! The physical memory map: a fixed-capacity (no heap), sorted, non-overlapping
//! list of typed physical regions.
//!
//! Input regions come from the loader in any order: unsorted, overlapping,
//! zero-length, above 4 GiB or even wrapping past `u64::MAX`. [`MemoryMap::add`]
//! folds each one into a normalised list where, on overlap, the stronger kind
//! wins (see [`RegionKind::stronger`]; every non-usable kind beats `Usable`).
//! The same call carves extra reserved ranges out afterwards (the kernel image,
//! boot modules, page 0, the first MiB), so the order of calls never matters.
//!
//! The stored list is byte-precise ([`MemoryMap::raw_regions`]); the view the
//! frame allocators use ([`MemoryMap::regions`]) shrinks usable regions inward
//! to 4 KiB boundaries. Shrinking on output rather than on input keeps the
//! result independent of the order regions were added in: two adjacent usable
//! pieces that are each smaller than a page still make a whole page together.

use arrayvec::ArrayVec;

/// The size of a physical frame, and the alignment usable regions shrink to.
pub const PAGE_SIZE: u64 = 4096;

/// The end of the first MiB: legacy BIOS areas the kernel never allocates.
pub const LOW_MEMORY_END: u64 = 1 << 20;

/// The capacity the boot-info parsers use for the map they build.
pub const BOOT_MAP_CAPACITY: usize = 128;

/// What a physical region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// Free RAM.
    Usable,
    /// ACPI tables: usable once the kernel has parsed them.
    AcpiReclaimable,
    /// A boot module: usable once the kernel has consumed it.
    Module,
    /// The kernel image (and anything else the kernel keeps for ever).
    Kernel,
    /// Firmware-reserved, MMIO, or of a type we do not know.
    Reserved,
    /// ACPI non-volatile storage: must be preserved across sleep states.
    AcpiNvs,
    /// Memory the firmware reports as defective.
    Bad,
}

impl RegionKind {
    /// The kind from an E820-style type code, as PVH (`hvm_memmap_table_entry`)
    /// and Multiboot2 (memory map tag) both use: 1 RAM, 2 reserved, 3 ACPI
    /// reclaimable, 4 ACPI NVS, 5 unusable. Unknown codes are `Reserved`.
    #[must_use]
    pub const fn from_e820(code: u32) -> Self {
        match code {
            1 => Self::Usable,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Bad,
            _ => Self::Reserved,
        }
    }

    /// Precedence on overlap. Kinds that may later be handed back to the frame
    /// allocator rank lowest, so reclaiming one never frees bytes that some
    /// other, stricter region also claims.
    const fn rank(self) -> u8 {
        match self {
            Self::Usable => 0,
            Self::AcpiReclaimable => 1,
            Self::Module => 2,
            Self::Kernel => 3,
            Self::Reserved => 4,
            Self::AcpiNvs => 5,
            Self::Bad => 6,
        }
    }

    /// The kind that wins where `self` and `other` overlap.
    #[must_use]
    pub const fn stronger(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// A physical region `[base, end)` of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryRegion {
    /// The first byte.
    pub base: u64,
    /// One past the last byte.
    pub end: u64,
    /// What the region holds.
    pub kind: RegionKind,
}

impl MemoryRegion {
    /// The region's size in bytes.
    #[must_use]
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.base)
    }

    /// Whether the region holds no bytes.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.end <= self.base
    }

    /// Whether `addr` lies inside the region.
    #[must_use]
    pub const fn contains(&self, addr: u64) -> bool {
        self.base <= addr && addr < self.end
    }

    /// The region shrunk inward to [`PAGE_SIZE`] boundaries if it is usable
    /// (`None` when no whole page remains), unchanged otherwise.
    #[must_use]
    pub fn page_aligned(self) -> Option<Self> {
        if self.kind != RegionKind::Usable {
            return Some(self);
        }
        let base = self.base.checked_next_multiple_of(PAGE_SIZE)?;
        let end = self.end - self.end % PAGE_SIZE;
        (base < end).then_some(Self {
            base,
            end,
            kind: self.kind,
        })
    }
}

/// Why a region could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMapError {
    /// The normalised map would need more than `capacity` regions; the map is
    /// left as it was before the call.
    CapacityExceeded {
        /// The map's fixed capacity.
        capacity: usize,
    },
}

impl core::fmt::Display for MemoryMapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CapacityExceeded { capacity } => {
                write!(f, "memory map needs more than {capacity} regions")
            }
        }
    }
}

/// A normalised physical memory map holding at most `N` regions.
///
/// Invariants: regions are sorted by base, non-empty and non-overlapping, and
/// two regions that touch have different kinds.
#[derive(Clone, Debug, Default)]
pub struct MemoryMap<const N: usize> {
    regions: ArrayVec<MemoryRegion, N>,
}

impl<const N: usize> MemoryMap<N> {
    /// An empty map.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            regions: ArrayVec::new_const(),
        }
    }

    /// Folds `[base, base + len)` of `kind` into the map; where it overlaps
    /// existing regions the stronger kind wins. Zero-length regions are
    /// ignored; a region running past `u64::MAX` is clamped to end there (no
    /// physical address comes near it, and the last byte cannot be named by an
    /// exclusive end).
    ///
    /// Carving out a range (kernel image, modules, low memory) is `add` with a
    /// non-usable kind.
    ///
    /// # Errors
    /// [`MemoryMapError::CapacityExceeded`] when the result would not fit in
    /// `N` regions; the map is then unchanged.
    pub fn add(&mut self, base: u64, len: u64, kind: RegionKind) -> Result<(), MemoryMapError> {
        let new = MemoryRegion {
            base,
            end: base.saturating_add(len),
            kind,
        };
        if new.is_empty() {
            return Ok(());
        }
        self.regions = self.merged_with(new)?;
        Ok(())
    }

    /// The normalised list with `new` folded in; a single linear pass because
    /// the stored regions are already sorted and disjoint.
    fn merged_with(&self, new: MemoryRegion) -> Result<ArrayVec<MemoryRegion, N>, MemoryMapError> {
        let mut out = ArrayVec::new();
        // Start of the part of `new` not yet emitted.
        let mut rest = new.base;
        for &old in &self.regions {
            if old.end <= new.base {
                push_merging(&mut out, old)?;
                continue;
            }
            if old.base >= new.end {
                if rest < new.end {
                    push_merging(&mut out, MemoryRegion { base: rest, ..new })?;
                    rest = new.end;
                }
                push_merging(&mut out, old)?;
                continue;
            }
            // `old` and `new` overlap: emit the part of `old` before `new`, the
            // gap of `new` before `old`, the overlap, and the part of `old`
            // after `new`, in address order.
            if old.base < new.base {
                push_merging(
                    &mut out,
                    MemoryRegion {
                        end: new.base,
                        ..old
                    },
                )?;
            }
            if rest < old.base {
                push_merging(
                    &mut out,
                    MemoryRegion {
                        base: rest,
                        end: old.base,
                        ..new
                    },
                )?;
            }
            let overlap_end = old.end.min(new.end);
            let overlap = MemoryRegion {
                base: old.base.max(new.base),
                end: overlap_end,
                kind: old.kind.stronger(new.kind),
            };
            push_merging(&mut out, overlap)?;
            rest = overlap_end;
            if old.end > new.end {
                push_merging(
                    &mut out,
                    MemoryRegion {
                        base: new.end,
                        ..old
                    },
                )?;
            }
        }
        if rest < new.end {
            push_merging(&mut out, MemoryRegion { base: rest, ..new })?;
        }
        Ok(out)
    }

    /// The byte-precise normalised regions, sorted by base.
    #[must_use]
    pub fn raw_regions(&self) -> &[MemoryRegion] {
        &self.regions
    }

    /// The regions with usable ones shrunk inward to [`PAGE_SIZE`] boundaries
    /// (and dropped when no whole page remains), sorted by base.
    pub fn regions(&self) -> impl Iterator<Item = MemoryRegion> + '_ {
        self.regions
            .iter()
            .filter_map(|region| region.page_aligned())
    }

    /// The page-aligned usable regions.
    pub fn usable(&self) -> impl Iterator<Item = MemoryRegion> + '_ {
        self.regions()
            .filter(|region| region.kind == RegionKind::Usable)
    }

    /// The total size of the page-aligned usable regions.
    #[must_use]
    pub fn usable_bytes(&self) -> u64 {
        self.usable().map(|region| region.len()).sum()
    }

    /// One past the highest byte of any region (what a direct map must cover),
    /// or `None` for an empty map.
    #[must_use]
    pub fn highest_end(&self) -> Option<u64> {
        self.regions.last().map(|region| region.end)
    }

    /// One past the highest page-aligned usable byte, or `None` when nothing is
    /// usable.
    #[must_use]
    pub fn highest_usable_end(&self) -> Option<u64> {
        self.usable().last().map(|region| region.end)
    }

    /// The kind of the byte at `addr`, or `None` in a hole.
    #[must_use]
    pub fn kind_at(&self, addr: u64) -> Option<RegionKind> {
        let after = self.regions.partition_point(|region| region.base <= addr);
        let candidate = self.regions.get(after.checked_sub(1)?)?;
        candidate.contains(addr).then_some(candidate.kind)
    }

    /// How many regions the map holds (byte-precise).
    #[must_use]
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// Whether the map holds no region.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

/// Appends `region` to `out`, extending the last region instead when the two
/// touch and have the same kind. Empty regions are skipped.
fn push_merging<const N: usize>(
    out: &mut ArrayVec<MemoryRegion, N>,
    region: MemoryRegion,
) -> Result<(), MemoryMapError> {
    if region.is_empty() {
        return Ok(());
    }
    if let Some(last) = out.last_mut()
        && last.end == region.base
        && last.kind == region.kind
    {
        last.end = region.end;
        return Ok(());
    }
    out.try_push(region)
        .map_err(|_| MemoryMapError::CapacityExceeded { capacity: N })
}

#[cfg(test)]
#[path = "memmap_tests.rs"]
mod tests;
