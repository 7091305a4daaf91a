//! Memory management: the physical memory map, per-NUMA-node frame allocation,
//! the kernel's page tables and direct map, and the kernel heap.
//!
//! Bring-up order (see [`init`]): the boot direct map only reaches the first
//! 4 GiB, so the zones below 4 GiB come first (their bitmaps carved from their
//! own first frames), then the real page tables with a direct map of all RAM,
//! then the zones above 4 GiB, then the heap grows beyond its static arena.

pub mod heap;
pub mod paging;
pub mod tlb;
pub mod usertables;

use core::sync::atomic::{AtomicU64, Ordering};
use smp::cpuset::NodeId;
use smp::frames::{FrameBitmap, NodeFrames, PhysFrame as Frame};
use smp::memmap::{MemoryMap, RegionKind};
use x86_64::PhysAddr;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};

use paging::{BOOT_DIRECT_MAP_LIMIT, phys_to_virt};

/// Most zones (usable regions split by NUMA node) the allocator tracks.
pub const MAX_ZONES: usize = 32;

static FRAMES: crate::sync::IrqMutex<NodeFrames<'static, MAX_ZONES>> =
    crate::sync::IrqMutex::new(NodeFrames::new());
/// The SRAT memory ranges memory was split by (for node-locality checks).
static NODE_RANGES: spin::Once<alloc::vec::Vec<NodeRange>> = spin::Once::new();

/// A NUMA memory range (from SRAT) used to split usable memory into zones.
#[derive(Clone, Copy, Debug)]
pub struct NodeRange {
    /// First byte.
    pub base: u64,
    /// One past the last byte.
    pub end: u64,
    /// The node.
    pub node: u32,
}

/// What memory bring-up found, for the boot record and tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemInfo {
    /// Usable RAM in bytes, after carve-outs.
    pub usable_bytes: u64,
    /// Frames under management at the end of bring-up.
    pub total_frames: usize,
    /// Bytes given to the heap beyond the early arena.
    pub heap_bytes: u64,
    /// Bytes covered by the direct map.
    pub direct_map_bytes: u64,
    /// Usable regions dropped (zone table full, or unusable).
    pub dropped_zones: usize,
}

/// Why memory bring-up failed.
#[derive(Clone, Copy, Debug)]
pub enum MemError {
    /// Building the page tables failed.
    Paging(paging::PagingError),
    /// No usable memory below 4 GiB.
    NoLowMemory,
}

unsafe extern "C" {
    // Linker-script symbols: only their addresses are meaningful.
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
}

/// The physical range of the kernel image.
pub fn kernel_image() -> (u64, u64) {
    (
        core::ptr::addr_of!(__kernel_phys_start) as u64,
        core::ptr::addr_of!(__kernel_phys_end) as u64,
    )
}

/// The node of `addr` according to `nodes` (node 0 when none says).
fn node_of(nodes: &[NodeRange], addr: u64) -> u32 {
    nodes
        .iter()
        .find(|r| r.base <= addr && addr < r.end)
        .map_or(0, |r| r.node)
}

/// Splits `[base, end)` at node boundaries and calls `f(base, end, node)`.
fn for_each_node_piece(nodes: &[NodeRange], base: u64, end: u64, mut f: impl FnMut(u64, u64, u32)) {
    let mut at = base;
    while at < end {
        let node = node_of(nodes, at);
        // The piece ends at the next node boundary inside [at, end).
        let next = nodes
            .iter()
            .flat_map(|r| [r.base, r.end])
            .filter(|&b| b > at && b < end)
            .min()
            .unwrap_or(end);
        f(at, next, node);
        at = next;
    }
}

/// Turns `[base, end)` of usable RAM into a zone of `node`, carving the zone's
/// bitmap from its own first frames. Returns false when it could not.
fn add_zone(frames: &mut NodeFrames<'static, MAX_ZONES>, base: u64, end: u64, node: u32) -> bool {
    let base = base.next_multiple_of(4096);
    let end = end & !0xfff;
    if end <= base {
        return false;
    }
    let count = ((end - base) / 4096) as usize;
    let words = FrameBitmap::words_needed(count);
    let bitmap_frames = (words * 8).div_ceil(4096);
    if bitmap_frames >= count {
        return false;
    }
    let storage_ptr = phys_to_virt(base).as_mut_ptr::<u64>();
    // SAFETY: the first `bitmap_frames` frames of this usable region become
    // the bitmap's storage forever (marked used below, so never handed out);
    // they are reachable through the direct map (the caller only passes
    // regions the current tables map), and no other reference to them exists.
    let storage: &'static mut [u64] =
        unsafe { core::slice::from_raw_parts_mut(storage_ptr, words) };
    let Ok(mut bitmap) = FrameBitmap::new(base, count, storage) else {
        return false;
    };
    bitmap.mark_used(base, bitmap_frames as u64 * 4096);
    frames.add_zone(NodeId(node as u16), bitmap).is_ok()
}

/// Brings up physical memory management, the kernel page tables and the heap.
///
/// # Errors
/// When no memory below 4 GiB is usable or the page tables cannot be built.
pub fn init(
    map: &MemoryMap<{ smp::memmap::BOOT_MAP_CAPACITY }>,
    nodes: &[NodeRange],
    distance: impl Fn(u32, u32) -> Option<u8>,
) -> Result<MemInfo, MemError> {
    let mut map = map.clone();
    let (kstart, kend) = kernel_image();
    // Carve-outs: the first MiB (real-mode IVT, BIOS data, the AP trampoline,
    // PVH start info) and the kernel image. Failure to carve means the map is
    // full: then nothing of those ranges may be used, so refuse the regions.
    let carve_ok = map
        .add(0, smp::memmap::LOW_MEMORY_END, RegionKind::Reserved)
        .is_ok()
        && map.add(kstart, kend - kstart, RegionKind::Kernel).is_ok();
    let mut info = MemInfo {
        usable_bytes: map.usable_bytes(),
        ..MemInfo::default()
    };

    let mut frames = FRAMES.lock();
    // Distances before zones: set_distance registers a node, so every node
    // of the SRAT exists in the allocator even if all its memory is dropped.
    for (a, b) in nodes
        .iter()
        .flat_map(|a| nodes.iter().map(move |b| (a.node, b.node)))
    {
        let d = distance(a, b).unwrap_or(if a == b { 10 } else { 20 });
        let _ = frames.set_distance(NodeId(a as u16), NodeId(b as u16), d);
    }
    let mut high = heapless_regions();
    for region in map.usable() {
        if !carve_ok && region.base < kend {
            info.dropped_zones += 1;
            continue;
        }
        for_each_node_piece(nodes, region.base, region.end, |base, end, node| {
            if end <= BOOT_DIRECT_MAP_LIMIT {
                if !add_zone(&mut frames, base, end, node) {
                    info.dropped_zones += 1;
                }
            } else if base < BOOT_DIRECT_MAP_LIMIT {
                if !add_zone(&mut frames, base, BOOT_DIRECT_MAP_LIMIT, node) {
                    info.dropped_zones += 1;
                }
                high.push((BOOT_DIRECT_MAP_LIMIT, end, node));
            } else {
                high.push((base, end, node));
            }
        });
    }
    if frames.total_frames() == 0 {
        return Err(MemError::NoLowMemory);
    }
    let direct_map_end = map.highest_usable_end().unwrap_or(BOOT_DIRECT_MAP_LIMIT);
    let space = {
        let mut alloc = LockedFrames(&mut frames);
        paging::build_kernel_space(&mut alloc, direct_map_end).map_err(MemError::Paging)?
    };
    info.direct_map_bytes = space.direct_map_bytes;
    for &(base, end, node) in high.as_slice() {
        if !add_zone(&mut frames, base, end, node) {
            info.dropped_zones += 1;
        }
    }
    // Grow the heap: an eighth of RAM, between 4 MiB and 256 MiB.
    let heap_bytes = (frames.free_frames() as u64 * 4096 / 8).clamp(4 << 20, 256 << 20);
    let heap_frames = (heap_bytes / 4096) as usize;
    if let Ok((first, _)) = frames.alloc_contiguous_on(NodeId(0), heap_frames, 4096) {
        // SAFETY: the frames were just allocated for the heap alone and are
        // never freed; the direct map covers them.
        if unsafe { heap::extend(phys_to_virt(first.addr()).as_mut_ptr(), heap_frames * 4096) }
            .is_ok()
        {
            info.heap_bytes = heap_frames as u64 * 4096;
        }
    }
    info.total_frames = frames.total_frames();
    drop(frames);
    NODE_RANGES.call_once(|| nodes.to_vec());
    Ok(info)
}

/// A tiny fixed list of regions above the boot direct map, waiting for the
/// real page tables (no heap yet when it is used).
struct HighRegions {
    items: [(u64, u64, u32); MAX_ZONES],
    len: usize,
}

impl HighRegions {
    fn push(&mut self, item: (u64, u64, u32)) {
        if self.len < self.items.len() {
            self.items[self.len] = item;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[(u64, u64, u32)] {
        &self.items[..self.len]
    }
}

fn heapless_regions() -> HighRegions {
    HighRegions {
        items: [(0, 0, 0); MAX_ZONES],
        len: 0,
    }
}

/// The frame allocator as the `x86_64` crate's paging code wants it (node 0
/// first, nearest other node when it runs dry).
struct LockedFrames<'a, 'b>(
    &'a mut lock_api::MutexGuard<'b, crate::sync::RawIrqSpin, NodeFrames<'static, MAX_ZONES>>,
);

// SAFETY: hands out frames the allocator marked used, each exactly once.
unsafe impl FrameAllocator<Size4KiB> for LockedFrames<'_, '_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let (frame, _) = self.0.alloc_on(NodeId(0)).ok()?;
        Some(PhysFrame::containing_address(PhysAddr::new(frame.addr())))
    }
}

/// The allocator for page tables built after bring-up (locks per frame).
pub struct KernelFrames;

// SAFETY: as for LockedFrames.
unsafe impl FrameAllocator<Size4KiB> for KernelFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let node = crate::percpu::current().map_or(0, |c| c.node);
        let (frame, _) = FRAMES.lock().alloc_on(NodeId(node as u16)).ok()?;
        let virt = phys_to_virt(frame.addr()).as_mut_ptr::<u8>();
        // SAFETY: the frame was just allocated and is reachable through the
        // direct map; page tables must start zeroed.
        unsafe { core::ptr::write_bytes(virt, 0, 4096) };
        Some(PhysFrame::containing_address(PhysAddr::new(frame.addr())))
    }
}

/// Allocates `pages` contiguous zeroed frames on `node` (or the nearest node
/// with room) and returns their direct-map address.
pub fn alloc_zeroed_on(node: u32, pages: usize) -> Option<*mut u8> {
    let (first, _) = FRAMES
        .lock()
        .alloc_contiguous_on(NodeId(node as u16), pages, 4096)
        .ok()?;
    let virt = phys_to_virt(first.addr()).as_mut_ptr::<u8>();
    // SAFETY: freshly allocated frames, reachable through the direct map.
    unsafe { core::ptr::write_bytes(virt, 0, pages * 4096) };
    Some(virt)
}

/// Allocates one frame on `node` (nearest other node when it is full);
/// returns its physical address and the node that supplied it. `None` when
/// every node is full, or when fault injection ([`inject_frame_faults`])
/// picks this allocation.
pub fn alloc_frame_on(node: u32) -> Option<(u64, u32)> {
    if injected_fault() {
        return None;
    }
    let (frame, got) = FRAMES.lock().alloc_on(NodeId(node as u16)).ok()?;
    Some((frame.addr(), u32::from(got.0)))
}

/// Allocates `count` frames, all from one node: `node` when it has `count`
/// free frames, else the nearest node that has (distance, then id).
/// Pushes their physical addresses onto `out` and returns the node that
/// supplied them; the frames are not zeroed. `None` (with `out` as it was)
/// when no single node has room or fault injection picks one of the
/// allocations.
pub fn alloc_frames_on_one_node(
    node: u32,
    count: usize,
    out: &mut alloc::vec::Vec<u64>,
) -> Option<u32> {
    let start = out.len();
    let mut frames = FRAMES.lock();
    let chosen = frames.node_with_room(NodeId(node as u16), count)?;
    for _ in 0..count {
        // The lock is held and `chosen` had `count` free frames, so each
        // allocation comes from `chosen`.
        match frames.alloc_on(chosen) {
            Ok((frame, got)) if got == chosen && !injected_fault() => out.push(frame.addr()),
            other => {
                if let Ok((frame, _)) = other {
                    let _ = frames.free(frame);
                }
                for phys in out.drain(start..) {
                    let _ = frames.free(Frame::containing(phys));
                }
                return None;
            }
        }
    }
    Some(u32::from(chosen.0))
}

/// Frame-allocation fault injection: fail one allocation in
/// `FAULT_EVERY` (0 = off), picked by a seeded xorshift stream.
static FAULT_EVERY: AtomicU64 = AtomicU64::new(0);
static FAULT_STATE: AtomicU64 = AtomicU64::new(1);
static FAULTS_INJECTED: AtomicU64 = AtomicU64::new(0);

/// Fails one frame allocation in `every` from now on, anywhere in the
/// kernel, in a sequence fixed by `seed` (`every` 0 turns it off). Returns
/// how many allocations it failed since the last call.
pub fn inject_frame_faults(every: u64, seed: u64) -> u64 {
    FAULT_STATE.store(seed | 1, Ordering::Relaxed);
    FAULT_EVERY.store(every, Ordering::Relaxed);
    FAULTS_INJECTED.swap(0, Ordering::Relaxed)
}

fn injected_fault() -> bool {
    let every = FAULT_EVERY.load(Ordering::Relaxed);
    if every == 0 {
        return false;
    }
    // One xorshift step; racing CPUs may draw the same value, which only
    // makes the sequence less even, never wrong.
    let mut x = FAULT_STATE.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    FAULT_STATE.store(x, Ordering::Relaxed);
    let fail = x.is_multiple_of(every);
    if fail {
        FAULTS_INJECTED.fetch_add(1, Ordering::Relaxed);
    }
    fail
}

/// Whether `node` has memory (a node of the SRAT, or 0 without one).
pub fn node_exists(node: u32) -> bool {
    NODE_RANGES
        .get()
        .is_some_and(|ranges| ranges.iter().any(|r| r.node == node))
}

/// The node whose SRAT memory holds `phys` (0 outside every range, and on a
/// machine without an SRAT).
pub fn node_of_phys(phys: u64) -> u32 {
    NODE_RANGES.get().map_or(0, |ranges| node_of(ranges, phys))
}

/// Frees one frame. Double frees and foreign frames are reported, not fatal.
pub fn free_frame(phys: u64) -> Result<(), smp::frames::FrameError> {
    FRAMES.lock().free(Frame::containing(phys)).map(|_| ())
}

/// Free frames in total and on each node `0..nodes`.
pub fn free_frames() -> usize {
    FRAMES.lock().free_frames()
}

/// Free frames on `node`.
pub fn free_frames_on(node: u32) -> usize {
    FRAMES.lock().free_frames_on(NodeId(node as u16))
}

crate::ktest! {
    /// Frames come back: allocate a batch on node 0, free it, counts return.
    fn frames_alloc_free_restores_counts() {
        let before = free_frames();
        let mut got = alloc::vec::Vec::new();
        for _ in 0..512 {
            let Some((phys, _)) = alloc_frame_on(0) else { return Err("out of frames".into()) };
            crate::kensure!(phys % 4096 == 0, "unaligned frame {phys:#x}");
            got.push(phys);
        }
        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        crate::kensure!(sorted.len() == got.len(), "a frame was handed out twice");
        crate::kensure!(free_frames() == before - 512, "free count did not drop by 512");
        for phys in got {
            free_frame(phys).map_err(|e| alloc::format!("free {phys:#x}: {e:?}"))?;
        }
        crate::kensure!(free_frames() == before, "free count {} != {before}", free_frames());
        let (kstart, _) = kernel_image();
        crate::kensure!(free_frame(kstart).is_err(), "freeing a kernel-image frame was accepted");
        Ok(())
    }
}

crate::ktest! {
    /// The heap serves large and small allocations beyond the early arena.
    fn heap_grows_past_early_arena() {
        let big: alloc::vec::Vec<u8> = alloc::vec![0xa5; 3 * 1024 * 1024];
        crate::kensure!(big.iter().all(|&b| b == 0xa5), "heap memory corrupted");
        let boxes: alloc::vec::Vec<alloc::boxed::Box<u64>> = (0..10_000).map(alloc::boxed::Box::new).collect();
        crate::kensure!(boxes.iter().enumerate().all(|(i, b)| **b == i as u64), "small allocations corrupted");
        Ok(())
    }
}

crate::ktest! {
    /// The direct map reaches the highest usable frame, and kernel text is not
    /// writable (W^X).
    fn direct_map_and_wx() {
        use x86_64::structures::paging::{PageTableFlags, Translate, mapper::TranslateResult};
        let pml4 = paging::phys_to_virt(paging::kernel_pml4_phys()).as_mut_ptr();
        // SAFETY: read-only translation through the live kernel tables.
        let mapper = unsafe { x86_64::structures::paging::OffsetPageTable::new(&mut *pml4, x86_64::VirtAddr::new(paging::PHYS_OFFSET)) };
        let text = direct_map_and_wx as *const () as u64;
        match mapper.translate(x86_64::VirtAddr::new(text)) {
            TranslateResult::Mapped { flags, .. } => {
                crate::kensure!(!flags.contains(PageTableFlags::WRITABLE), "kernel text is writable");
                crate::kensure!(!flags.contains(PageTableFlags::NO_EXECUTE), "kernel text is not executable");
            }
            _ => return Err("kernel text not mapped".into()),
        }
        let data = core::ptr::addr_of!(FRAMES) as u64;
        match mapper.translate(x86_64::VirtAddr::new(data)) {
            TranslateResult::Mapped { flags, .. } => {
                crate::kensure!(flags.contains(PageTableFlags::NO_EXECUTE), "kernel data is executable");
            }
            _ => return Err("kernel data not mapped".into()),
        }
        crate::kensure!(
            matches!(mapper.translate(x86_64::VirtAddr::new(0x8000)), TranslateResult::NotMapped),
            "the identity map of low memory survived boot"
        );
        Ok(())
    }
}

crate::ktest! {
    /// A frame asked for on node N comes from node N's SRAT memory.
    fn node_local_allocation() {
        let ranges = NODE_RANGES.get().ok_or("memory not initialised")?;
        let mut nodes: alloc::vec::Vec<u32> = ranges.iter().map(|r| r.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for &node in &nodes {
            let (phys, got) = alloc_frame_on(node).ok_or("out of frames")?;
            let inside = ranges.iter().any(|r| r.node == node && r.base <= phys && phys < r.end);
            free_frame(phys).map_err(|e| alloc::format!("{e:?}"))?;
            crate::kensure!(got == node, "asked node {node}, got a frame from node {got}");
            crate::kensure!(inside, "frame {phys:#x} is outside node {node}'s SRAT ranges");
            crate::kprintln!("  node{node}: frame {phys:#x}");
        }
        Ok(())
    }
}

crate::ktest! {
    /// A multi-frame request is placed whole: on the node asked for while it
    /// has room, else on the nearest node with room (every frame inside that
    /// node's SRAT ranges), and the node reported is the one that backs it.
    fn whole_requests_go_to_the_nearest_node_with_room() {
        const WANT: usize = 64;
        let ranges = NODE_RANGES.get().ok_or("memory not initialised")?;
        let inside = |frames: &[u64], node: u32| {
            frames.iter().all(|&phys| {
                ranges.iter().any(|r| r.node == node && r.base <= phys && phys < r.end)
            })
        };
        let free_all = |frames: &mut alloc::vec::Vec<u64>| {
            for phys in frames.drain(..) {
                let _ = free_frame(phys);
            }
        };
        let mut nodes: alloc::vec::Vec<u32> = ranges.iter().map(|r| r.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.is_empty() {
            nodes.push(0);
        }
        let mut frames = alloc::vec::Vec::new();
        for &node in &nodes {
            let got = alloc_frames_on_one_node(node, WANT, &mut frames).ok_or("out of frames")?;
            let ok = got == node && frames.len() == WANT && (ranges.is_empty() || inside(&frames, node));
            free_all(&mut frames);
            crate::kensure!(ok, "asked node {node} for {WANT} frames, got node {got}");
        }
        let Some(&last) = nodes.last().filter(|_| nodes.len() > 1) else {
            return Ok(());
        };
        // Leave node `last` with WANT - 1 free frames: a request for WANT
        // goes to the nearest other node with room, WANT - 1 still fits.
        let mut hog = alloc::vec::Vec::new();
        while free_frames_on(last) >= WANT {
            match alloc_frame_on(last) {
                Some((phys, got)) if got == last => hog.push(phys),
                Some((phys, _)) => {
                    let _ = free_frame(phys);
                    break;
                }
                None => break,
            }
        }
        let spare = free_frames_on(last);
        let nearest = {
            let frames = FRAMES.lock();
            frames
                .fallback_order(NodeId(last as u16))
                .find(|&n| n.0 as u32 != last && frames.free_frames_on(n) >= WANT)
                .map(|n| u32::from(n.0))
        };
        let spilled = alloc_frames_on_one_node(last, WANT, &mut frames);
        let spilled_ok = spilled.is_some() && spilled == nearest && inside(&frames, spilled.unwrap_or(0));
        free_all(&mut frames);
        let fits = alloc_frames_on_one_node(last, WANT - 1, &mut frames);
        let fits_ok = fits == Some(last) && inside(&frames, last);
        free_all(&mut frames);
        free_all(&mut hog);
        crate::kensure!(spare == WANT - 1, "node {last} kept {spare} free frames, wanted {}", WANT - 1);
        crate::kensure!(spilled_ok, "node {last} full: {WANT} frames went to {spilled:?}, nearest with room is {nearest:?}");
        crate::kensure!(fits_ok, "node {last} with {spare} free: {} frames went to {fits:?}", WANT - 1);
        crate::kprintln!("  node{last} full: {WANT} frames on node{}", spilled.unwrap_or(0));
        Ok(())
    }
}
