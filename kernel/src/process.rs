//! Processes: address spaces, ELF images, lifecycle (spawn, exit, wait, kill)
//! and the resources a process holds, all returned when it dies by any path.
//!
//! An address space is a PML4 whose upper half is the kernel's (shared
//! entries, supervisor-only) and whose lower half maps the program's ELF
//! segments and a stack with an unmapped guard page below it. Every frame a
//! process owns (user pages and its page tables) is recorded, so teardown can
//! return each one to its node's allocator.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use sched::ThreadId;
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

use crate::arch::x86_64::entry::user_entry_frame;
use crate::mem::{self, paging};
use crate::task::{self, Pid};

/// Top of the user stack (exclusive).
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// User stack size (mapped eagerly: 1,024 processes at once must fit in a
/// 512 MiB machine; there is no demand paging yet).
pub const USER_STACK_SIZE: u64 = 128 * 1024;
/// Lowest address a program may be linked at.
pub const USER_MIN: u64 = 0x1000;
/// The window where shared regions are mapped (ELF segments stay below it).
pub const SHARED_BASE: u64 = 0x0000_1000_0000_0000;
/// End of the shared-region window (exclusive).
pub const SHARED_END: u64 = 0x0000_7000_0000_0000;

/// Live shared mappings (regions and channel rings) a process may hold at
/// once. Each takes a 2 MiB chunk of the shared window and so a leaf page
/// table of its own: the bound caps the page tables one process can make
/// the kernel allocate at 1,024 (4 MiB) plus the upper levels.
pub const MAX_SHARED_MAPPINGS: usize = 1024;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// `exit(code)`.
    Exited(u64),
    /// Killed by another process.
    Killed,
    /// Killed by the CPU exception `vector` at `addr` (CR2 for #PF, else rip).
    Fault {
        /// The exception vector.
        vector: u64,
        /// Faulting address.
        addr: u64,
    },
    /// Ran off the bottom of its stack.
    StackOverflow {
        /// Faulting address.
        addr: u64,
    },
}

impl ExitReason {
    /// The encoding returned by the `wait` syscall: (kind, detail, address).
    pub fn encode(self) -> [u64; 3] {
        match self {
            Self::Exited(code) => [0, code, 0],
            Self::Killed => [1, 0, 0],
            Self::Fault { vector, addr } => [2, vector, addr],
            Self::StackOverflow { addr } => [3, 14, addr],
        }
    }
}

/// A process.
pub struct Process {
    /// Its id.
    pub pid: Pid,
    /// The program's name.
    pub name: String,
    /// Who spawned it (0 = the kernel).
    pub parent: Pid,
    /// Physical address of its PML4.
    pub pml4: u64,
    /// Every frame it owns (user pages and page tables, PML4 included).
    frames: Vec<u64>,
    /// Its live threads.
    threads: Vec<ThreadId>,
    /// Set once it has exited or been killed; threads still running die at
    /// their next kernel entry.
    pub exit: Option<ExitReason>,
    /// Threads blocked in `wait` on this process.
    waiters: Vec<ThreadId>,
    /// Its children still in the table (so a death without children scans
    /// nothing for them).
    children: usize,
    /// Next never-used address of the shared-region window (96 TiB).
    next_shared: u64,
    /// Shared-area ranges (start, bytes; 2 MiB-aligned chunks) unmapped and
    /// shot down, reused by later mappings: their page tables exist, so a
    /// map/unmap cycle neither allocates nor zeroes a table, and the tables
    /// a process holds stay bounded by its peak of live mappings.
    free_shared: Vec<(u64, u64)>,
    /// Shared mappings made and not yet released (at most
    /// [`MAX_SHARED_MAPPINGS`]).
    shared_mappings: usize,
}

/// The flag of thread `tid` that a child it waits for has ended
/// (`task::KThread::child_ended`).
fn child_ended(tid: ThreadId) -> Option<&'static core::sync::atomic::AtomicBool> {
    task::thread(tid).map(task::KThread::child_ended)
}

/// Wakes threads blocked in `wait` without losing a wake-up.
fn wake_waiters(waiters: Vec<ThreadId>) {
    for w in waiters {
        if let Some(flag) = child_ended(w) {
            flag.store(true, core::sync::atomic::Ordering::Release);
        }
        task::wake(w);
    }
}

static PROCS: crate::sync::IrqMutex<BTreeMap<Pid, Process>> =
    crate::sync::IrqMutex::new(BTreeMap::new());
static NEXT_PID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

/// Why a process could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// No program by that name.
    NoSuchProgram,
    /// The ELF image is malformed or asks for something not allowed.
    BadElf(&'static str),
    /// Frames ran out.
    OutOfMemory,
    /// The CPU asked for is not online.
    BadCpu,
    /// The scheduler refused the thread.
    Sched,
}

/// Frames allocated for one address space, recorded as they are handed out.
struct Recording<'a> {
    node: u32,
    frames: &'a mut Vec<u64>,
}

// SAFETY: hands out fresh zeroed frames, each once, and records them.
unsafe impl FrameAllocator<Size4KiB> for Recording<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let (phys, _) = mem::alloc_frame_on(self.node)?;
        // SAFETY: fresh frame reachable through the direct map.
        unsafe { core::ptr::write_bytes(paging::phys_to_virt(phys).as_mut_ptr::<u8>(), 0, 4096) };
        self.frames.push(phys);
        Some(PhysFrame::containing_address(PhysAddr::new(phys)))
    }
}

/// The address space of `pml4` as a mapper.
///
/// # Safety
/// The caller must have exclusive use of the lower half of this address space.
pub unsafe fn mapper(pml4: u64) -> OffsetPageTable<'static> {
    let table = paging::phys_to_virt(pml4).as_mut_ptr::<PageTable>();
    // SAFETY: a live PML4 reachable through the direct map; exclusivity is the
    // caller's contract.
    unsafe { OffsetPageTable::new(&mut *table, VirtAddr::new(paging::PHYS_OFFSET)) }
}

/// Frees an address space's frames (its page tables among them): the
/// generation moves first, so no CPU keeps a PCID tag's entries for page
/// tables that another address space may reuse.
fn free_all(frames: &[u64]) {
    mem::tlb::user_mappings_removed();
    for &f in frames {
        let _ = mem::free_frame(f);
    }
}

/// Builds an address space with `image` loaded; returns (pml4, entry, frames).
fn build_space(image: &[u8], node: u32) -> Result<(u64, u64, Vec<u64>), SpawnError> {
    let elf = ElfBytes::<LittleEndian>::minimal_parse(image)
        .map_err(|_| SpawnError::BadElf("not an ELF64 little-endian image"))?;
    if elf.ehdr.e_machine != elf::abi::EM_X86_64 || elf.ehdr.e_type != elf::abi::ET_EXEC {
        return Err(SpawnError::BadElf("not an x86_64 executable"));
    }
    let segments = elf
        .segments()
        .ok_or(SpawnError::BadElf("no program headers"))?;
    let mut frames = Vec::new();
    let mut rec = Recording {
        node,
        frames: &mut frames,
    };
    let pml4 = match rec.allocate_frame() {
        Some(f) => f.start_address().as_u64(),
        None => return Err(SpawnError::OutOfMemory),
    };
    // The kernel half: share the kernel's PML4 entries 256..512.
    let kernel = paging::phys_to_virt(paging::kernel_pml4_phys()).as_ptr::<PageTable>();
    let user = paging::phys_to_virt(pml4).as_mut_ptr::<PageTable>();
    // SAFETY: both tables are live and reachable through the direct map; the
    // new one is ours alone.
    unsafe {
        for i in 256..512 {
            (&mut (*user))[i] = (&(*kernel))[i].clone();
        }
    }
    let result = (|| {
        // SAFETY: the address space is new and private to this function.
        let mut m = unsafe { mapper(pml4) };
        for ph in segments.iter().filter(|p| p.p_type == PT_LOAD) {
            let (vaddr, memsz, filesz, off) = (ph.p_vaddr, ph.p_memsz, ph.p_filesz, ph.p_offset);
            let end = vaddr
                .checked_add(memsz)
                .ok_or(SpawnError::BadElf("segment wraps"))?;
            if vaddr < USER_MIN || end > SHARED_BASE || filesz > memsz {
                return Err(SpawnError::BadElf("segment outside the user range"));
            }
            let data = off
                .checked_add(filesz)
                .and_then(|e| image.get(off as usize..e as usize))
                .ok_or(SpawnError::BadElf("segment data past the end of the file"))?;
            if ph.p_flags & PF_W != 0 && ph.p_flags & PF_X != 0 {
                return Err(SpawnError::BadElf("writable and executable segment (W^X)"));
            }
            let mut flags = F::PRESENT | F::USER_ACCESSIBLE;
            if ph.p_flags & PF_W != 0 {
                flags |= F::WRITABLE;
            }
            if ph.p_flags & PF_X == 0 {
                flags |= F::NO_EXECUTE;
            }
            for page_addr in ((vaddr & !0xfff)..end).step_by(4096) {
                let page = Page::<Size4KiB>::containing_address(VirtAddr::new(page_addr));
                let frame = match m.translate_page(page) {
                    Ok(f) => f,
                    Err(_) => {
                        let f = rec.allocate_frame().ok_or(SpawnError::OutOfMemory)?;
                        // SAFETY: maps a fresh frame at a user page of a
                        // private address space.
                        unsafe {
                            m.map_to_with_table_flags(
                                page,
                                f,
                                flags,
                                F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE,
                                &mut rec,
                            )
                        }
                        .map_err(|_| SpawnError::OutOfMemory)?
                        .ignore();
                        f
                    }
                };
                // Copy the part of the file that falls into this page.
                let page_end = page_addr + 4096;
                let copy_from = page_addr.max(vaddr);
                let copy_to = page_end.min(vaddr + filesz);
                if copy_from < copy_to {
                    let src = &data[(copy_from - vaddr) as usize..(copy_to - vaddr) as usize];
                    let dst = paging::phys_to_virt(
                        frame.start_address().as_u64() + (copy_from - page_addr),
                    )
                    .as_mut_ptr::<u8>();
                    // SAFETY: dst is inside the frame just mapped (zeroed,
                    // owned by this address space); src is in the image.
                    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
                }
            }
        }
        let stack_flags = F::PRESENT | F::USER_ACCESSIBLE | F::WRITABLE | F::NO_EXECUTE;
        for page_addr in ((USER_STACK_TOP - USER_STACK_SIZE)..USER_STACK_TOP).step_by(4096) {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(page_addr));
            let f = rec.allocate_frame().ok_or(SpawnError::OutOfMemory)?;
            // SAFETY: as above.
            unsafe {
                m.map_to_with_table_flags(
                    page,
                    f,
                    stack_flags,
                    F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE,
                    &mut rec,
                )
            }
            .map_err(|_| SpawnError::OutOfMemory)?
            .ignore();
        }
        Ok(elf.ehdr.e_entry)
    })();
    match result {
        Ok(entry) if (USER_MIN..USER_STACK_TOP).contains(&entry) => Ok((pml4, entry, frames)),
        Ok(_) => {
            free_all(&frames);
            Err(SpawnError::BadElf("entry point outside the user range"))
        }
        Err(e) => {
            free_all(&frames);
            Err(e)
        }
    }
}

/// Where a new process's thread runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The caller's CPU.
    Caller,
    /// This CPU (by index).
    Cpu(u32),
    /// The scheduler's NUMA-aware choice ([`task::place`]): the least loaded
    /// online CPU of the caller's node, else of the nearest node.
    Balanced,
}

/// Starts program `name` with argument `arg` (in `rdi`) on the CPU `at`
/// says, at `priority`, child of `parent`.
///
/// # Errors
/// See [`SpawnError`].
pub fn spawn(
    name: &str,
    arg: u64,
    at: Placement,
    priority: u8,
    parent: Pid,
) -> Result<Pid, SpawnError> {
    let image = crate::programs::find(name).ok_or(SpawnError::NoSuchProgram)?;
    let cpu = match at {
        Placement::Caller => crate::cpu_index(),
        Placement::Cpu(cpu) => cpu,
        Placement::Balanced => task::place(crate::cpu_index()).ok_or(SpawnError::BadCpu)?,
    };
    let Some(target) =
        crate::percpu::of(cpu).filter(|c| c.online.load(core::sync::atomic::Ordering::Acquire))
    else {
        return Err(SpawnError::BadCpu);
    };
    let (pml4, entry, frames) = build_space(image, target.node)?;
    let pid = NEXT_PID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let mut procs = PROCS.lock();
    if let Some(p) = procs.get_mut(&parent) {
        p.children += 1;
    }
    procs.insert(
        pid,
        Process {
            pid,
            name: String::from(name),
            parent,
            pml4,
            frames,
            threads: Vec::new(),
            exit: None,
            waiters: Vec::new(),
            children: 0,
            next_shared: SHARED_BASE,
            free_shared: Vec::new(),
            shared_mappings: 0,
        },
    );
    drop(procs);
    // Without a capability space the process simply has no IPC
    // (ProcessNotFound); it can still run.
    let _ = crate::kipc::on_spawn(pid);
    let frame = user_entry_frame(entry, USER_STACK_TOP - 8, arg);
    // The thread is recorded under the same PROCS hold that creates it: it
    // may run (on another CPU, or here after a preemption of a kernel
    // caller), exit and be reaped at once, and a record added after that
    // would never be removed (the process would never be reapable).
    let mut procs = PROCS.lock();
    match task::spawn(pid, pml4, &frame, cpu, priority) {
        Ok(tid) => {
            if let Some(p) = procs.get_mut(&pid) {
                p.threads.push(tid);
            }
            Ok(pid)
        }
        Err(e) => {
            drop(procs);
            crate::kipc::on_process_exit(pid);
            if let Some(p) = remove(&mut PROCS.lock(), pid) {
                free_all(&p.frames);
            }
            Err(match e {
                task::ThreadSpawnError::OutOfMemory => SpawnError::OutOfMemory,
                task::ThreadSpawnError::Sched => SpawnError::Sched,
            })
        }
    }
}

/// Records `reason` for process `pid` (first reason wins), wakes waiters,
/// ends the sleeps and waits of its threads (they die at the end of their
/// syscalls), and gives up its children: ended ones are reaped now, the
/// others when they end ([`ORPHAN`]).
fn set_exit(pid: Pid, reason: ExitReason) {
    let (waiters, died, threads, reaped) = {
        let mut procs = PROCS.lock();
        let Some(p) = procs.get_mut(&pid) else { return };
        let died = p.exit.is_none();
        if died {
            p.exit = Some(reason);
            if !matches!(reason, ExitReason::Exited(_)) {
                crate::kprintln!("process {} ({}) killed: {:?}", p.pid, p.name, reason);
            }
        }
        let waiters = core::mem::take(&mut p.waiters);
        let threads = if died { p.threads.clone() } else { Vec::new() };
        let reaped = if died {
            give_up_children(&mut procs, pid)
        } else {
            Vec::new()
        };
        (waiters, died, threads, reaped)
    };
    for orphan in reaped {
        free_all(&orphan.frames);
    }
    if died {
        // IPC partners wake with errors; its capabilities die.
        crate::kipc::on_process_exit(pid);
        let me = task::current();
        for tid in threads.into_iter().filter(|&t| Some(t) != me) {
            if let Some(flag) = child_ended(tid) {
                flag.store(true, core::sync::atomic::Ordering::Release);
            }
            task::interrupt(tid);
        }
    }
    wake_waiters(waiters);
}

/// The parent of a process whose parent died: nobody waits for it, and it
/// is reaped as soon as it has ended and its last thread is gone.
const ORPHAN: Pid = Pid::MAX;

/// Makes the children of dead process `parent` orphans and removes those
/// that have ended (their frames are the caller's to free, outside
/// [`PROCS`]).
fn give_up_children(procs: &mut BTreeMap<Pid, Process>, parent: Pid) -> Vec<Process> {
    match procs.get_mut(&parent) {
        Some(p) if p.children > 0 => p.children = 0,
        _ => return Vec::new(),
    }
    let children: Vec<Pid> = procs
        .values()
        .filter(|c| c.parent == parent)
        .map(|c| c.pid)
        .collect();
    children
        .into_iter()
        .filter_map(|child| {
            if let Some(c) = procs.get_mut(&child) {
                c.parent = ORPHAN;
            }
            reap_orphan(procs, child)
        })
        .collect()
}

/// Removes orphan `pid` from the table if it has ended and has no thread
/// left (its frames are the caller's to free, outside [`PROCS`]).
fn reap_orphan(procs: &mut BTreeMap<Pid, Process>, pid: Pid) -> Option<Process> {
    let p = procs.get(&pid)?;
    if p.parent == ORPHAN && p.exit.is_some() && p.threads.is_empty() {
        remove(procs, pid)
    } else {
        None
    }
}

/// Takes `pid` out of the table, telling its parent it has a child less
/// (its frames are the caller's to free, outside [`PROCS`]).
fn remove(procs: &mut BTreeMap<Pid, Process>, pid: Pid) -> Option<Process> {
    let p = procs.remove(&pid)?;
    if let Some(parent) = procs.get_mut(&p.parent) {
        parent.children -= 1;
    }
    Some(p)
}

/// Ends the calling process with `reason` and never returns.
pub fn exit_current(reason: ExitReason) -> ! {
    if let Some(pid) = task::current_pid() {
        set_exit(pid, reason);
    }
    task::exit_current()
}

/// Kills `pid` (its threads die at their next kernel entry).
///
/// # Errors
/// `ProcessNotFound` if it does not exist or already ended.
pub fn kill(pid: Pid) -> Result<(), ipc::IpcError> {
    let exists = PROCS.lock().get(&pid).is_some_and(|p| p.exit.is_none());
    if !exists {
        return Err(ipc::IpcError::ProcessNotFound);
    }
    set_exit(pid, ExitReason::Killed);
    Ok(())
}

/// Whether the calling thread's process has been told to die.
pub fn current_doomed() -> bool {
    task::current_pid().is_some_and(|pid| PROCS.lock().get(&pid).is_some_and(|p| p.exit.is_some()))
}

/// Waits for child `pid` to end and returns how (reaping it).
///
/// # Errors
/// `ProcessNotFound` if `pid` is not a child of the caller.
pub fn wait(pid: Pid) -> Result<ExitReason, ipc::IpcError> {
    let me = task::current_pid().unwrap_or(0);
    loop {
        {
            let mut procs = PROCS.lock();
            // A kill sets the exit reason under PROCS before it sets the
            // waiters' flags: seen here, or its flag store follows the clear
            // below.
            if procs.get(&me).is_some_and(|p| p.exit.is_some()) {
                drop(procs);
                exit_current(ExitReason::Killed);
            }
            let Some(p) = procs.get_mut(&pid).filter(|p| p.parent == me) else {
                return Err(ipc::IpcError::ProcessNotFound);
            };
            if let (Some(reason), true) = (p.exit, p.threads.is_empty()) {
                let p = remove(&mut procs, pid).expect("present");
                drop(procs);
                free_all(&p.frames);
                return Ok(reason);
            }
            if let Some(tid) = task::current() {
                if let Some(flag) = child_ended(tid) {
                    flag.store(false, core::sync::atomic::Ordering::Relaxed);
                }
                p.waiters.push(tid);
            }
        }
        // The child may end on another CPU between the unlock above and the
        // block: the flag (set before the wake) keeps that wake-up.
        match task::current().and_then(child_ended) {
            Some(flag) => {
                let _ = task::block_current_unless_woken(sched::BlockedOn::Sleep, None, flag, None);
            }
            None => task::block_current(),
        }
        if current_doomed() {
            exit_current(ExitReason::Killed);
        }
    }
}

/// Called when a thread's kernel stack has been freed.
pub fn thread_reaped(pid: Pid, tid: ThreadId) {
    let (waiters, reaped) = {
        let mut procs = PROCS.lock();
        let Some(p) = procs.get_mut(&pid) else { return };
        p.threads.retain(|&t| t != tid);
        let ended_here = p.threads.is_empty() && p.exit.is_none();
        if ended_here {
            p.exit = Some(ExitReason::Killed);
        }
        let waiters = if p.threads.is_empty() {
            core::mem::take(&mut p.waiters)
        } else {
            Vec::new()
        };
        let mut reaped = if ended_here {
            give_up_children(&mut procs, pid)
        } else {
            Vec::new()
        };
        reaped.extend(reap_orphan(&mut procs, pid));
        (waiters, reaped)
    };
    for orphan in reaped {
        free_all(&orphan.frames);
    }
    wake_waiters(waiters);
}

/// A user-mode exception: the process dies alone, with the reason printed.
pub fn user_fault(vector: u64, addr: u64) -> ! {
    let guard_lo = USER_STACK_TOP - USER_STACK_SIZE - 4096;
    let reason = if vector == 14 && (guard_lo..guard_lo + 4096).contains(&addr) {
        ExitReason::StackOverflow { addr }
    } else {
        ExitReason::Fault { vector, addr }
    };
    exit_current(reason)
}

/// Processes that exist (alive or not yet reaped).
pub fn count() -> usize {
    PROCS.lock().len()
}

/// The PML4 of process `pid`.
pub fn pml4_of(pid: Pid) -> Option<u64> {
    PROCS.lock().get(&pid).map(|p| p.pml4)
}

/// For kernel-side drivers (tests, benchmarks) of a process whose parent is the
/// kernel: its exit reason once it ended and all its threads are gone (the
/// process is then reaped), else `None`.
pub fn poll_exit(pid: Pid) -> Option<ExitReason> {
    let mut procs = PROCS.lock();
    let p = procs.get(&pid)?;
    if p.exit.is_none() || !p.threads.is_empty() {
        return None;
    }
    let p = remove(&mut procs, pid)?;
    drop(procs);
    free_all(&p.frames);
    p.exit
}

/// Runs program `name` with `arg` as a child of the kernel on the calling CPU
/// and waits for it (this context idles meanwhile), at most `max_ticks` timer
/// ticks of this CPU.
///
/// # Errors
/// The spawn error, or `Err(None)` on timeout (the process is killed).
pub fn run_and_wait(
    name: &str,
    arg: u64,
    max_ticks: u64,
) -> Result<ExitReason, Option<SpawnError>> {
    let pid = spawn(name, arg, Placement::Caller, 10, 0).map_err(Some)?;
    let me = crate::percpu::current().map_or(0, |c| {
        c.timer_ticks.load(core::sync::atomic::Ordering::Relaxed)
    });
    loop {
        if let Some(reason) = poll_exit(pid) {
            return Ok(reason);
        }
        let now = crate::percpu::current().map_or(0, |c| {
            c.timer_ticks.load(core::sync::atomic::Ordering::Relaxed)
        });
        if now - me > max_ticks {
            crate::kprintln!("run_and_wait: {name} (pid {pid}) timed out; threads:");
            task::dump_threads();
            kill_and_reap(pid);
            return Err(None);
        }
        x86_64::instructions::interrupts::disable();
        task::reschedule(sched::Decision::Reschedule);
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// Kills child-of-the-kernel `pid` and lets it die (this context idles
/// meanwhile, up to 1,000 scheduling rounds); returns whether it was reaped.
pub fn kill_and_reap(pid: Pid) -> bool {
    let _ = kill(pid);
    for _ in 0..1000 {
        x86_64::instructions::interrupts::disable();
        task::reschedule(sched::Decision::Reschedule);
        x86_64::instructions::interrupts::enable_and_hlt();
        if poll_exit(pid).is_some() {
            return true;
        }
    }
    false
}

/// `proc_info`: [switch-ins of all its threads, CPU of its first thread,
/// effective priority, base priority] of a live process.
///
/// # Errors
/// `ProcessNotFound`.
pub fn info(pid: Pid) -> Result<[u64; 4], ipc::IpcError> {
    // A process that has ended (a zombie until its parent waits) is gone.
    let threads = PROCS
        .lock()
        .get(&pid)
        .filter(|p| p.exit.is_none())
        .map(|p| p.threads.clone())
        .ok_or(ipc::IpcError::ProcessNotFound)?;
    let switch_ins = threads.iter().map(|&t| task::switch_ins(t)).sum();
    let first = threads.first().copied();
    let cpu = first.and_then(task::cpu_of).map_or(u64::MAX, u64::from);
    let (eff, base) = first.and_then(task::priorities_of).unwrap_or((0, 0));
    Ok([switch_ins, cpu, u64::from(eff), u64::from(base)])
}

/// Maps a region whose leaf tables are `tables` (`pages` pages in all;
/// shared, not owned: teardown frees neither them nor their frames) into
/// live process `pid` at a fresh 2 MiB-aligned address of the shared
/// window, followed by at least one unmapped page; returns the address.
/// One page-directory entry per table carries `flags`' `WRITABLE` and
/// `NO_EXECUTE` (see `mem::usertables`). Directories created for it belong
/// to the process.
///
/// # Errors
/// `ProcessNotFound` for a dead process, `OutOfMemory` when frames for page
/// tables or the window ran out.
pub fn map_shared(pid: Pid, tables: &[u64], pages: u64, flags: F) -> Result<u64, ipc::IpcError> {
    use ipc::IpcError;
    debug_assert_eq!(tables.len() as u64, pages.div_ceil(512));
    let node = crate::percpu::current().map_or(0, |c| c.node);
    let mut procs = PROCS.lock();
    let p = procs
        .get_mut(&pid)
        .filter(|p| p.exit.is_none())
        .ok_or(IpcError::ProcessNotFound)?;
    if p.shared_mappings >= MAX_SHARED_MAPPINGS {
        return Err(IpcError::OutOfMemory);
    }
    let bytes = (pages + 1) * 4096;
    let chunk = shared_chunk(bytes);
    // The smallest released range that fits, else fresh space.
    let reused = p
        .free_shared
        .iter()
        .enumerate()
        .filter(|(_, (_, size))| *size >= chunk)
        .min_by_key(|(_, (_, size))| *size)
        .map(|(i, _)| i);
    let (va, fresh) = match reused {
        Some(i) => (p.free_shared.swap_remove(i).0, false),
        None => (p.next_shared, true),
    };
    if va.checked_add(bytes).is_none_or(|end| end > SHARED_END) {
        if !fresh {
            p.free_shared.push((va, chunk));
        }
        return Err(IpcError::OutOfMemory);
    }
    let pml4 = p.pml4;
    let mut rec = Recording {
        node,
        frames: &mut p.frames,
    };
    if !mem::usertables::install_tables(pml4, va, tables, flags, &mut rec) {
        if !fresh {
            p.free_shared.push((va, chunk));
        }
        return Err(IpcError::OutOfMemory);
    }
    p.shared_mappings += 1;
    // The next mapping starts on a fresh 2 MiB boundary, past the guard.
    if fresh {
        p.next_shared = va + chunk;
    }
    Ok(va)
}

/// The 2 MiB-aligned chunk of the shared area a mapping of `bytes` (guard
/// page included) occupies.
fn shared_chunk(bytes: u64) -> u64 {
    bytes.next_multiple_of(2 << 20)
}

/// Makes the range of an unmapped mapping (`va`, `pages`) of `pid` reusable.
/// Call only once the TLB shootdown of the unmap has completed: until then
/// a CPU may still hold entries for it.
pub fn release_shared(pid: Pid, va: u64, pages: u64) {
    if let Some(p) = PROCS.lock().get_mut(&pid).filter(|p| p.exit.is_none()) {
        p.free_shared.push((va, shared_chunk((pages + 1) * 4096)));
        p.shared_mappings -= 1;
    }
}

/// Unmaps `pages` pages of a shared mapping at `va` in process `pid` (whose
/// threads may still run: it may be dying). Returns the CPUs whose TLBs may
/// hold the entries (where its threads run, and this one), for the caller's
/// shootdown, or `None` if the process is gone (its page tables with it).
pub fn unmap_shared(pid: Pid, va: u64, pages: u64) -> Option<u64> {
    let procs = PROCS.lock();
    let p = procs.get(&pid)?;
    mem::usertables::clear_tables(p.pml4, va, pages.div_ceil(512));
    // Threads are pinned, so the CPUs of its threads are the only ones that
    // may run it; a CPU that switched to another address space flushed these
    // entries (no PCIDs) or holds them under a tag the generation bump makes
    // it flush at its next load (PCIDs).
    mem::tlb::user_mappings_removed();
    let mut mask = 1u64 << crate::cpu_index();
    for &t in &p.threads {
        if let Some(cpu) = task::cpu_of(t).filter(|&c| c < 64) {
            mask |= 1 << cpu;
        }
    }
    Some(mask)
}
