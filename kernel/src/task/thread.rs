//! The thread table: one [`KThread`] record per thread id, holding all of a
//! thread's kernel state, and the lifecycle of a thread (spawn, exit, the
//! freeing of its stack after the last switch away from it).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use sched::{CpuId, CpuSet, Decision, Priority, ThreadId, ThreadParams};

use crate::arch::x86_64::fpu::{self, FpuArea};
use crate::arch::x86_64::idt::TrapFrame;
use crate::percpu::{self, IrqGuard, MAX_CPUS};

use super::*;

/// The kernel side of one thread: everything the kernel keeps per thread id
/// (the scheduler's and the `ipc` crate's own records aside). Records live
/// in the static [`THREADS`] table, one per thread id, so every field is
/// reachable for any id at a fixed address and a record is never freed; the
/// fields that describe one incarnation of the id (stack, address space,
/// FPU state) are valid while `live` is set. Each field says who writes it.
///
/// A record is 1 KiB, so that the fast path finds one from a thread id with
/// a shift; the FPU area comes first, at offset 0 of the record.
#[repr(C, align(1024))]
pub struct KThread {
    /// Saved FPU state, in the record (a switch then saves and restores at
    /// fixed offsets of the two records, with no pointer to load). Touched
    /// only by the CPU that runs the thread, with interrupts off.
    pub(super) fpu: core::cell::UnsafeCell<FpuArea>,
    /// Where its blocking IPC operation finds its result (`kipc`).
    pub(super) ipc: crate::kipc::ResultSlot,
    /// Its id (set at spawn; the record's index in [`THREADS`]).
    pub(super) tid: core::sync::atomic::AtomicU32,
    /// Owning process (set at spawn).
    pub(super) pid: core::sync::atomic::AtomicU32,
    /// Set by [`spawn`] once the fields below describe a thread, cleared by
    /// [`finish_switch`] before its stack is freed.
    pub(super) live: core::sync::atomic::AtomicBool,
    /// Its deadline passed (set by [`wake_sleepers`] or [`interrupt`] before
    /// the thread is woken). A sleeper checks it under the thread-table lock
    /// before blocking, so a tick that fires between queueing the sleeper
    /// and blocking it (on any CPU) is never lost.
    pub(super) deadline_passed: core::sync::atomic::AtomicBool,
    /// A child it waits for ended (set before the wake-up, read under the
    /// thread-table lock before blocking; `process::wait`).
    pub(super) child_ended: core::sync::atomic::AtomicBool,
    /// The CPU whose sleeper list ([`PerCpu::sleepers`](percpu::PerCpu))
    /// it was last put on.
    pub(super) sleeper_cpu: core::sync::atomic::AtomicU32,
    /// Direct-map address of the kernel stack's lowest byte.
    pub(super) kstack: core::sync::atomic::AtomicPtr<u8>,
    /// Just above its highest byte (kept: a switch then adds nothing).
    pub(super) kstack_top: AtomicU64,
    /// Saved kernel stack pointer while switched out (written by the switch
    /// away from it, on the CPU that ran it).
    pub(super) saved_rsp: core::cell::UnsafeCell<u64>,
    /// Physical address of the address space's PML4.
    pub(super) cr3: AtomicU64,
    /// Times this thread was switched in.
    pub(super) switch_ins: AtomicU64,
    /// Parked by [`park_and_switch`] or [`switch_to_parked_fp`]: blocked in an
    /// IPC syscall with nothing on its kernel stack that must run again (no
    /// locks, no heap objects, no deadline), so it may be resumed straight
    /// into user mode. 0 when not parked, else what its syscall waits on
    /// ([`park_word`]): a parked thread leaves no kernel context (its
    /// `saved_rsp` is stale), and resumed through its kernel stack it runs
    /// from a context built then ([`arch_switch::prepare_parked_resume`]), which
    /// finishes the syscall with that wait. Set and cleared only by the CPU
    /// the thread belongs to, with interrupts off.
    pub(super) parked: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<KThread>() == 1024);
const _: () = assert!(core::mem::offset_of!(KThread, fpu) == 0);

// SAFETY: the non-atomic fields (`saved_rsp`, `fpu`) are touched only by the
// CPU that switches the thread out or in, with interrupts off, and the
// scheduler runs a thread on one CPU at a time; everything else is atomic.
unsafe impl Sync for KThread {}

impl KThread {
    const fn new() -> Self {
        Self {
            tid: core::sync::atomic::AtomicU32::new(0),
            pid: core::sync::atomic::AtomicU32::new(0),
            live: core::sync::atomic::AtomicBool::new(false),
            deadline_passed: core::sync::atomic::AtomicBool::new(false),
            child_ended: core::sync::atomic::AtomicBool::new(false),
            sleeper_cpu: core::sync::atomic::AtomicU32::new(0),
            kstack: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            kstack_top: AtomicU64::new(0),
            saved_rsp: core::cell::UnsafeCell::new(0),
            cr3: AtomicU64::new(0),
            switch_ins: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            ipc: crate::kipc::ResultSlot::new(),
            fpu: core::cell::UnsafeCell::new(FpuArea([0; fpu::FPU_AREA_SIZE])),
        }
    }

    /// Its thread id.
    pub fn tid(&self) -> ThreadId {
        ThreadId(self.tid.load(Ordering::Relaxed))
    }

    /// Its process id (0 for a kernel thread).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// Physical address of its address space's PML4.
    pub fn cr3(&self) -> u64 {
        self.cr3.load(Ordering::Relaxed)
    }

    /// Where its blocking IPC operation finds its result.
    #[inline(always)]
    pub(crate) fn ipc_slot(&self) -> &crate::kipc::ResultSlot {
        &self.ipc
    }

    /// Set when a child it waits for ends (see `process::wait`).
    pub fn child_ended(&self) -> &core::sync::atomic::AtomicBool {
        &self.child_ended
    }
}

/// One record per thread id (see [`KThread`]).
pub(super) static THREADS: [KThread; MAX_THREADS] = [const { KThread::new() }; MAX_THREADS];

/// The record of thread id `tid`, live or not; `None` for an id out of range.
#[inline(always)]
pub fn thread(tid: ThreadId) -> Option<&'static KThread> {
    THREADS.get(tid.0 as usize)
}

/// The process of the thread running on this CPU.
pub fn current_pid() -> Option<Pid> {
    let tid = current()?;
    let t = thread(tid)?;
    t.live
        .load(Ordering::Acquire)
        .then(|| t.pid.load(Ordering::Relaxed))
}

/// Why a thread could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadSpawnError {
    /// No memory for the kernel stack or FPU area.
    OutOfMemory,
    /// The scheduler refused (table full, bad CPU).
    Sched,
}

/// Creates a thread of `pid` in address space `cr3`, entering user mode with
/// `frame` on CPU `cpu` at `priority`, and makes it runnable.
pub fn spawn(
    pid: Pid,
    cr3: u64,
    frame: &TrapFrame,
    cpu: u32,
    priority: u8,
) -> Result<ThreadId, ThreadSpawnError> {
    let irq = IrqGuard::new();
    let node = percpu::of(cpu).map_or(0, |c| c.node);
    let kstack =
        crate::mem::alloc_zeroed_on(node, KSTACK_PAGES).ok_or(ThreadSpawnError::OutOfMemory)?;
    let stack_top = kstack as u64 + (KSTACK_PAGES * 4096) as u64;
    // SAFETY: the stack was just allocated for this thread alone.
    let rsp = unsafe { crate::arch::x86_64::switch::prepare_stack(stack_top, frame) };
    let mut guard = TABLE.lock();
    let table = guard.as_mut().expect("scheduler initialised");
    let mut affinity = CpuSet::EMPTY;
    affinity.insert(CpuId(cpu as u16));
    let params = ThreadParams {
        priority: Priority(priority),
        affinity,
        cpu: CpuId(cpu as u16),
    };
    let Ok(tid) = table.spawn(params) else {
        free_stack(kstack);
        return Err(ThreadSpawnError::Sched);
    };
    let Some(thread) = thread(tid) else {
        let _ = table.reap(tid);
        free_stack(kstack);
        return Err(ThreadSpawnError::Sched);
    };
    debug_assert!(
        !thread.live.load(Ordering::Relaxed),
        "a new thread on a live record"
    );
    thread.tid.store(tid.0, Ordering::Relaxed);
    thread.pid.store(pid, Ordering::Relaxed);
    thread.kstack.store(kstack, Ordering::Relaxed);
    thread.kstack_top.store(stack_top, Ordering::Relaxed);
    thread.cr3.store(cr3, Ordering::Relaxed);
    thread.switch_ins.store(0, Ordering::Relaxed);
    thread.parked.store(0, Ordering::Relaxed);
    // SAFETY: the record is not live (its id was free until `table.spawn`
    // above, under the thread-table lock, which this CPU holds), so no
    // other CPU switches it in or out.
    unsafe {
        *thread.saved_rsp.get() = rsp;
        fpu::fpu_init_area(&mut *thread.fpu.get());
    }
    // Publishes the fields above to the CPU that switches the thread in.
    thread.live.store(true, Ordering::Release);
    // A fresh thread is Ready; queue it on its CPU (through the inbox when it
    // is another CPU's).
    if cpu == percpu::index() {
        // The caller is mid-syscall; the new thread runs at the next pick.
        let _ = with_sched_locked(&irq, table, |sched, table| sched.enqueue(table, tid));
        drop(guard);
    } else {
        drop(guard);
        let posted = INBOXES
            .get()
            .and_then(|inboxes| inboxes.get(CpuId(cpu as u16)))
            .map(|inbox| inbox.post(tid));
        if let Some(Ok(p)) = posted
            && p.send_ipi
        {
            let _ = crate::cpus::send(cpu, crate::cpus::IpiMessage::Reschedule);
        }
    }
    Ok(tid)
}

pub(super) fn free_stack(kstack: *mut u8) {
    for i in 0..KSTACK_PAGES {
        if let Some(phys) = crate::mem::paging::virt_to_phys_direct(
            x86_64::VirtAddr::from_ptr(kstack) + (i * 4096) as u64,
        ) {
            let _ = crate::mem::free_frame(phys);
        }
    }
}

/// The record of thread `tid` for a context switch, null when there is none
/// (an id out of range or not live): the switching CPU only touches the
/// thread it switches away from (its own current one) and the one the
/// scheduler just chose (runnable), and a record stops being live only
/// after its thread died and a switch away from it completed
/// (`finish_switch`).
pub(super) fn kthread(tid: u64) -> *mut KThread {
    THREADS
        .get(tid as usize)
        .map_or(core::ptr::null_mut(), |t| {
            if t.live.load(Ordering::Acquire) {
                core::ptr::from_ref(t).cast_mut()
            } else {
                core::ptr::null_mut()
            }
        })
}

/// The record of thread `tid` without the tests of [`kthread`], for the IPC
/// fast path, whose guards found `tid` in IPC (so it is live, see
/// [`donatable_fp`]).
#[inline(always)]
pub(super) fn kthread_fp(tid: ThreadId) -> *mut KThread {
    debug_assert!((tid.0 as usize) < MAX_THREADS, "a thread id out of range");
    // SAFETY: an IPC thread's id is a kernel thread id (`kipc::tref_of`),
    // made by the thread table, which has MAX_THREADS entries.
    let t = unsafe { THREADS.get_unchecked(tid.0 as usize) };
    debug_assert!(
        t.live.load(Ordering::Relaxed),
        "the fast path met a dead thread"
    );
    core::ptr::from_ref(t).cast_mut()
}

/// Frees the stack of a thread that died before the switch away from it.
pub(super) fn finish_switch() {
    let Some(cpu) = percpu::current() else {
        return;
    };
    let dead = cpu.dead_prev.swap(u64::MAX, Ordering::AcqRel);
    if dead == u64::MAX {
        return;
    }
    let Some(t) = thread(ThreadId(dead as u32)) else {
        return;
    };
    // Dead and switched away from: no CPU switches it in or out again, and
    // its id is reused only after `reap` below.
    if t.live.swap(false, Ordering::AcqRel) {
        free_stack(t.kstack.load(Ordering::Relaxed));
        let (tid, pid) = (t.tid(), t.pid.load(Ordering::Relaxed));
        if let Some(table) = TABLE.lock().as_mut() {
            let _ = table.reap(tid);
        }
        crate::process::thread_reaped(pid, tid);
    }
}

/// Called by a new thread's first code, before it enters user mode.
pub extern "C" fn on_thread_start() {
    finish_switch();
}

/// Ends the current thread (its process decides what that means) and never
/// returns.
pub fn exit_current() -> ! {
    let irq = IrqGuard::new();
    let cpu = percpu::current().expect("exit_current runs on a thread");
    let tid = current().expect("exit_current runs on a thread");
    let _ = with_table(&irq, |sched, table, inboxes| {
        sched.exit(table, inboxes, tid)
    });
    cpu.dead_prev.store(u64::from(tid.0), Ordering::Release);
    reschedule(Decision::Reschedule);
    unreachable!("a dead thread was scheduled again");
}

/// Prints every thread's scheduling state, queue membership and process
/// (run when a kernel test times out, so a hang says what everyone waits on).
pub fn dump_threads() {
    let lines: Vec<alloc::string::String> = {
        let guard = TABLE.lock();
        let Some(table) = guard.as_ref() else { return };
        let current: Vec<u64> = (0..MAX_CPUS as u32)
            .map(|i| percpu::of(i).map_or(u64::MAX, |c| c.current_thread.load(Ordering::Relaxed)))
            .collect();
        // Queues are their CPUs' own: a Ready thread not running is queued
        // on its CPU or posted to its inbox.
        table
            .thread_ids()
            .filter_map(|tid| {
                let t = table.get(tid).ok()?;
                Some(alloc::format!(
                    "thread {} cpu {} prio {}/{} {:?} running_on={:?} slice_left(at last block)={}",
                    tid.0,
                    t.cpu().0,
                    t.effective_priority().0,
                    t.base_priority().0,
                    t.state(),
                    current.iter().position(|&c| c == u64::from(tid.0)),
                    t.slice_left()
                ))
            })
            .collect()
    };
    for line in lines {
        crate::kprintln!("  {line}");
    }
    for (cpu, client, server) in pending_donations() {
        crate::kprintln!(
            "  cpu {}: runs thread {} on thread {}'s behalf (a donation not yet in the books above)",
            cpu.index,
            server.0,
            client.0
        );
    }
}

/// Threads alive (for leak checks).
pub fn live_threads() -> usize {
    THREADS
        .iter()
        .filter(|t| t.live.load(Ordering::Acquire))
        .count()
}

/// Times thread `tid` was switched in (0 for an unknown thread).
pub fn switch_ins(tid: ThreadId) -> u64 {
    thread(tid)
        .filter(|t| t.live.load(Ordering::Acquire))
        .map_or(0, |t| t.switch_ins.load(Ordering::Relaxed))
}
