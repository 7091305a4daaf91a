//! The kernel's address space: a direct map of all physical memory at
//! [`PHYS_OFFSET`] and the kernel image in the top 2 GiB with per-section
//! permissions (text RX, rodata R, data RW, never W+X).
//!
//! The boot code's tables map the first 4 GiB at both 0 and [`PHYS_OFFSET`];
//! [`build_kernel_space`] builds the real tables through that boot direct map
//! (so page-table frames must come from below 4 GiB, which the frame allocator
//! gives first) and switches CR3, dropping the identity map.

use x86_64::registers::control::{Cr3, Cr3Flags, Cr4, Cr4Flags};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame,
    Size1GiB, Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

/// Where the direct map of physical memory starts.
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;
/// Where the kernel image is linked (physical address + this).
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// The boot page tables map this much physical memory.
pub const BOOT_DIRECT_MAP_LIMIT: u64 = 4 << 30;

/// The direct-map address of a physical address.
pub fn phys_to_virt(phys: u64) -> VirtAddr {
    VirtAddr::new(PHYS_OFFSET + phys)
}

/// The physical address behind a direct-map address, if it is one.
pub fn virt_to_phys_direct(virt: VirtAddr) -> Option<u64> {
    let v = virt.as_u64();
    (PHYS_OFFSET..KERNEL_VMA)
        .contains(&v)
        .then(|| v - PHYS_OFFSET)
}

unsafe extern "C" {
    // Linker-script symbols: only their addresses are meaningful.
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
}

/// Errors while building the kernel's page tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingError {
    /// The frame allocator ran dry.
    OutOfFrames,
    /// A page-table frame came from above the boot direct map.
    FrameNotReachable(u64),
    /// The x86_64 crate refused a mapping (already mapped, ...).
    MapFailed(u64),
}

/// A frame allocator restricted to the boot direct map (page-table frames must
/// be reachable through it while the new tables are built).
struct Reachable<'a, A>(&'a mut A);

// SAFETY: forwards to the wrapped allocator, which hands out unused frames, and
// only filters them (a frame above the limit is an error reported by the caller
// through `Option::None`; it is leaked, never reused, which is safe).
unsafe impl<A: FrameAllocator<Size4KiB>> FrameAllocator<Size4KiB> for Reachable<'_, A> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        self.0
            .allocate_frame()
            .filter(|f| f.start_address().as_u64() + 4096 <= BOOT_DIRECT_MAP_LIMIT)
    }
}

/// What [`build_kernel_space`] did, for the boot log.
#[derive(Debug, Clone, Copy)]
pub struct KernelSpace {
    /// The new PML4.
    pub pml4: PhysFrame,
    /// Bytes of physical memory covered by the direct map.
    pub direct_map_bytes: u64,
    /// Whether 1 GiB pages were used for the direct map.
    pub huge_1g: bool,
}

/// Builds the kernel's page tables (direct map of `0..direct_map_end`, at least
/// 4 GiB so that MMIO below 4 GiB is reachable, and the kernel image) and
/// switches to them.
///
/// # Errors
/// When frames run out or a mapping is refused; the boot tables stay active.
pub fn build_kernel_space(
    frames: &mut impl FrameAllocator<Size4KiB>,
    direct_map_end: u64,
) -> Result<KernelSpace, PagingError> {
    let mut frames = Reachable(frames);
    let pml4_frame = frames.allocate_frame().ok_or(PagingError::OutOfFrames)?;
    let pml4_ptr = phys_to_virt(pml4_frame.start_address().as_u64()).as_mut_ptr::<PageTable>();
    // SAFETY: the frame is freshly allocated (unused), reachable through the
    // boot direct map, and page-table sized and aligned; zeroing it makes a
    // valid empty table that nothing else references yet.
    let pml4 = unsafe {
        pml4_ptr.write(PageTable::new());
        &mut *pml4_ptr
    };
    // SAFETY: all physical memory the new tables reference while being built
    // (their own frames) is mapped at PHYS_OFFSET by the boot tables.
    let mut mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(PHYS_OFFSET)) };

    let huge_1g = raw_cpuid::CpuId::new()
        .get_extended_processor_and_feature_identifiers()
        .is_some_and(|f| f.has_1gib_pages());
    let end = direct_map_end.max(BOOT_DIRECT_MAP_LIMIT);
    let data = F::PRESENT | F::WRITABLE | F::NO_EXECUTE | F::GLOBAL;
    if huge_1g {
        let end = end.next_multiple_of(1 << 30);
        for phys in (0..end).step_by(1 << 30) {
            let page = Page::<Size1GiB>::containing_address(phys_to_virt(phys));
            let frame = PhysFrame::<Size1GiB>::containing_address(PhysAddr::new(phys));
            // SAFETY: a fresh mapping of physical memory in the direct-map
            // window, which nothing else maps; the new tables are not live yet.
            unsafe { mapper.map_to(page, frame, data, &mut frames) }
                .map_err(|_| PagingError::MapFailed(phys))?
                .ignore();
        }
    } else {
        let end = end.next_multiple_of(2 << 20);
        for phys in (0..end).step_by(2 << 20) {
            let page = Page::<Size2MiB>::containing_address(phys_to_virt(phys));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys));
            // SAFETY: as above.
            unsafe { mapper.map_to(page, frame, data, &mut frames) }
                .map_err(|_| PagingError::MapFailed(phys))?
                .ignore();
        }
    }

    let sections = [
        (
            core::ptr::addr_of!(__text_start),
            core::ptr::addr_of!(__text_end),
            F::PRESENT | F::GLOBAL,
        ),
        (
            core::ptr::addr_of!(__rodata_start),
            core::ptr::addr_of!(__rodata_end),
            F::PRESENT | F::GLOBAL | F::NO_EXECUTE,
        ),
        (
            core::ptr::addr_of!(__data_start),
            core::ptr::addr_of!(__data_end),
            F::PRESENT | F::GLOBAL | F::NO_EXECUTE | F::WRITABLE,
        ),
    ];
    for (start, end, flags) in sections {
        let (start, end) = (start as u64 & !0xfff, (end as u64).next_multiple_of(4096));
        for virt in (start..end).step_by(4096) {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
            let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(virt - KERNEL_VMA));
            // SAFETY: maps the kernel image's own pages at their link address
            // with the permissions of their section; not live yet.
            unsafe {
                mapper.map_to_with_table_flags(
                    page,
                    frame,
                    flags,
                    F::PRESENT | F::WRITABLE,
                    &mut frames,
                )
            }
            .map_err(|_| PagingError::MapFailed(virt))?
            .ignore();
        }
    }

    // SAFETY: the new tables map the kernel image (code, stack in .bss, data)
    // at the same virtual addresses as the boot tables, and the direct map; the
    // identity map is gone, which nothing uses after boot (the boot info is read
    // through the direct map). PGE makes the global kernel mappings survive CR3
    // switches.
    unsafe {
        Cr4::update(|f| f.insert(Cr4Flags::PAGE_GLOBAL));
        Cr3::write(pml4_frame, Cr3Flags::empty());
    }
    KERNEL_PML4.store(
        pml4_frame.start_address().as_u64(),
        core::sync::atomic::Ordering::Release,
    );
    Ok(KernelSpace {
        pml4: pml4_frame,
        direct_map_bytes: end,
        huge_1g,
    })
}

static KERNEL_PML4: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Physical address of the kernel's PML4 (0 before `build_kernel_space`).
pub fn kernel_pml4_phys() -> u64 {
    KERNEL_PML4.load(core::sync::atomic::Ordering::Acquire)
}

/// The active kernel page tables as a mapper (through the direct map).
///
/// # Safety
/// The caller must be the only code modifying kernel page tables for the
/// lifetime of the returned mapper (callers hold [`MAPPER_LOCK`]).
unsafe fn kernel_mapper() -> OffsetPageTable<'static> {
    let pml4 = phys_to_virt(kernel_pml4_phys()).as_mut_ptr::<PageTable>();
    // SAFETY: the PML4 is live and reachable through the direct map; exclusive
    // modification is the caller's contract.
    unsafe { OffsetPageTable::new(&mut *pml4, VirtAddr::new(PHYS_OFFSET)) }
}

/// Serialises changes to the kernel's page tables.
static MAPPER_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Start of the window where MMIO is mapped uncached.
const MMIO_BASE: u64 = 0xffff_fe00_0000_0000;
static MMIO_NEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(MMIO_BASE);

/// Maps `len` bytes of MMIO at physical `phys` uncached (PCD|PWT), no-execute,
/// and returns the virtual address of `phys`.
///
/// # Errors
/// When page tables cannot be allocated.
pub fn map_mmio(phys: u64, len: u64) -> Result<VirtAddr, PagingError> {
    let _guard = MAPPER_LOCK.lock();
    let first = phys & !0xfff;
    let pages = (phys + len - first).div_ceil(4096);
    let virt = MMIO_NEXT.fetch_add(pages * 4096, core::sync::atomic::Ordering::AcqRel);
    // SAFETY: MAPPER_LOCK is held.
    let mut mapper = unsafe { kernel_mapper() };
    let flags =
        F::PRESENT | F::WRITABLE | F::NO_EXECUTE | F::NO_CACHE | F::WRITE_THROUGH | F::GLOBAL;
    for i in 0..pages {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt + i * 4096));
        let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(first + i * 4096));
        // SAFETY: a fresh page in the MMIO window, never mapped before (the
        // window only grows), mapped to device memory the caller owns.
        unsafe { mapper.map_to(page, frame, flags, &mut crate::mem::KernelFrames) }
            .map_err(|_| PagingError::MapFailed(virt + i * 4096))?
            .flush();
    }
    Ok(VirtAddr::new(virt + (phys - first)))
}

/// Identity-maps the low page at `phys` (executable, for the AP trampoline)
/// and returns a token for [`unmap_identity_low_page`].
pub fn map_identity_low_page(phys: u64) -> Option<Page<Size4KiB>> {
    let _guard = MAPPER_LOCK.lock();
    // SAFETY: MAPPER_LOCK is held.
    let mut mapper = unsafe { kernel_mapper() };
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(phys));
    let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(phys));
    // SAFETY: the lower half holds no kernel mappings (and no user process
    // exists during AP bring-up); the page is reserved low memory.
    let flush = unsafe {
        mapper.map_to(
            page,
            frame,
            F::PRESENT | F::WRITABLE,
            &mut crate::mem::KernelFrames,
        )
    };
    flush.ok().map(|f| {
        f.flush();
        page
    })
}

/// Removes the identity mapping made by [`map_identity_low_page`].
pub fn unmap_identity_low_page(page: Option<Page<Size4KiB>>) {
    let Some(page) = page else { return };
    let _guard = MAPPER_LOCK.lock();
    // SAFETY: MAPPER_LOCK is held.
    let mut mapper = unsafe { kernel_mapper() };
    if let Ok((_, flush)) = mapper.unmap(page) {
        flush.flush();
    }
}
