//! Context switches: the general switch between kernel contexts, and the
//! IPC fast path's switch between threads parked in their syscalls, which
//! goes straight from one syscall frame into user mode of the other.

use core::sync::atomic::Ordering;

use sched::ThreadId;

use crate::arch::x86_64::entry;
use crate::arch::x86_64::fpu;
use crate::arch::x86_64::idt::TrapFrame;
use crate::arch::x86_64::switch as arch_switch;
use crate::percpu::{self, IrqGuard};

use super::*;

/// A thread of this CPU parked in its own fast path ([`is_parked`]), with
/// its record, as the fast path's switch takes it.
#[derive(Clone, Copy)]
pub struct Parked {
    pub(super) tid: ThreadId,
    /// Lives while the thread can be switched to (see `kthread`): it is
    /// parked on the CPU that holds this, so it cannot die meanwhile.
    pub(super) thread: *mut KThread,
}

/// `tid`, if it is parked ([`is_parked`]).
#[inline(always)]
pub(super) fn parked(tid: ThreadId) -> Option<Parked> {
    let thread = kthread(u64::from(tid.0));
    // SAFETY: a non-null record lives while its thread can still be switched
    // to (see `kthread`); `parked` is an atomic.
    (!thread.is_null() && unsafe { &*thread }.parked.load(Ordering::Relaxed) != 0)
        .then_some(Parked { tid, thread })
}

/// The final, successful result of a thread parked by [`park_and_switch`]:
/// its four data words and badge, which [`switch_to_resuming`] writes into
/// its syscall frame to enter it straight in user mode.
pub type ParkedResult = ([u64; 4], u64);

pub(super) fn switch_to(cpu: &percpu::PerCpu, next: u64) {
    crate::fault::on_switch(cpu);
    switch_to_resuming(cpu, next, None, false);
}

/// Makes `tid` (record `t`; `u64::MAX` and null for the idle context) the
/// thread `cpu`, this CPU, runs.
#[inline(always)]
pub(super) fn set_current(cpu: &percpu::PerCpu, tid: u64, t: *mut KThread) {
    cpu.current_kthread.store(t, Ordering::Relaxed);
    cpu.current_thread.store(tid, Ordering::Release);
}

/// Switches this CPU from its current context to `next` (`u64::MAX`: the
/// idle context). `prev_parked`: the current context is a thread that
/// [`park_and_switch`] parked, which leaves no kernel context behind. A
/// parked `next` enters user mode straight from its syscall frame when
/// `resume` is its result (then `prev_parked` must hold), else it runs
/// through a context built on its kernel stack that finishes its syscall
/// ([`arch_switch::prepare_parked_resume`]). Returns when the current context runs
/// again (never for a parked one, unless `next` has no record and nothing
/// switched).
#[inline(always)]
pub(super) fn switch_to_resuming(
    cpu: &percpu::PerCpu,
    next: u64,
    resume: Option<ParkedResult>,
    prev_parked: bool,
) {
    // The switch is always away from this CPU's current thread, whose
    // record (null for the idle context) the per-CPU area holds.
    let prev_ptr = cpu.current_kthread.load(Ordering::Relaxed);
    let prev_slot: *mut u64 = if prev_ptr.is_null() {
        cpu.idle_rsp.as_ptr()
    } else {
        // SAFETY: the thread is this CPU's current one (so its record lives,
        // see `kthread`); only this CPU touches its FPU area and saved_rsp
        // while it runs.
        unsafe {
            fpu::fpu_save(&mut *(*prev_ptr).fpu.get());
            debug_assert_eq!((*prev_ptr).parked.load(Ordering::Relaxed) != 0, prev_parked);
            (*prev_ptr).saved_rsp.get()
        }
    };
    let next_ptr = if next == u64::MAX {
        core::ptr::null_mut()
    } else {
        kthread(next)
    };
    let next_rsp = if next == u64::MAX {
        // The idle context must not keep a user address space: the process
        // may be reaped and its PML4 frame reused (and zeroed) while this CPU
        // idles, and the next interrupt would then fault in the IDT lookup.
        crate::arch::x86_64::cpu::load_address_space(crate::mem::paging::kernel_pml4_phys());
        cpu.idle_rsp.load(Ordering::Acquire)
    } else {
        if next_ptr.is_null() {
            return;
        }
        // SAFETY: the scheduler chose the thread, so it is runnable and its
        // record lives (see `kthread`); its fields read here are immutable
        // or, like its FPU area, touched only by the CPU that runs it.
        let t = unsafe { &*next_ptr };
        let frame = enter(cpu, t);
        // SAFETY: only this CPU, which switches `t` in, touches its FPU
        // area and saved stack pointer now.
        unsafe { fpu::fpu_restore(&*t.fpu.get()) };
        let parked = t.parked.load(Ordering::Relaxed);
        if parked == 0 {
            // SAFETY: as above.
            unsafe { *t.saved_rsp.get() }
        } else {
            if let Some((data, badge)) = resume {
                debug_assert!(prev_parked, "a direct resume from an unparked thread");
                // SAFETY: a parked thread is blocked inside a syscall, so the
                // top of its kernel stack holds the syscall entry's
                // TrapFrame, which nothing else touches while it is not
                // running.
                // SAFETY: as in `resume_parked`; the current thread is parked
                // (only `park_and_switch` passes a result).
                unsafe { resume_parked(cpu, next, t, frame, data, badge) };
            }
            t.parked.store(0, Ordering::Relaxed);
            // SAFETY: `frame` is the syscall frame of `next`, parked (so its
            // kernel stack below the frame is free and its rip canonical:
            // the fast path is taken only then) and not running.
            unsafe { arch_switch::prepare_parked_resume(frame, parked) }
        }
    };
    set_current(cpu, next, next_ptr);
    if prev_parked {
        // SAFETY: interrupts are off; `next_rsp` is a stack saved by an
        // earlier switch, prepared by `prepare_stack` or
        // `prepare_parked_resume`, or the idle context's; the current thread
        // is parked, so nothing on its stack must run again.
        unsafe { arch_switch::jump_to_context(next_rsp) };
    }
    // SAFETY: interrupts are off; `prev_slot` is where the previous context's
    // stack pointer belongs and `next_rsp` a stack as above.
    unsafe { arch_switch::switch_stack(prev_slot, next_rsp) };
}

/// The switch into `t` on this CPU (`cpu`) up to its stack and but for its
/// FPU state: RSP0 and the syscall entry's stack top, its address space.
/// Returns where its syscall frame lies (the top of its kernel stack).
#[inline(always)]
pub(super) fn enter(cpu: &percpu::PerCpu, t: &KThread) -> *mut TrapFrame {
    if crate::arch::x86_64::cpu::pcid_on() {
        enter_as::<true>(cpu, t)
    } else {
        enter_as::<false>(cpu, t)
    }
}

/// [`enter`] on a CPU whose `cpu::pcid_on` is `PCID` (known to the IPC
/// fast path's instance, chosen at boot: see `crate::syscall`).
#[inline(always)]
pub(super) fn enter_as<const PCID: bool>(cpu: &percpu::PerCpu, t: &KThread) -> *mut TrapFrame {
    // A direct-map address plus the stack size: canonical.
    let top = t.kstack_top.load(Ordering::Relaxed);
    // SAFETY: `cpu` is this CPU's data and interrupts are off (a switch).
    unsafe { cpu.set_kernel_stack(top) };
    crate::arch::x86_64::cpu::load_address_space_as::<PCID>(t.cr3.load(Ordering::Relaxed));
    t.switch_ins.fetch_add(1, Ordering::Relaxed);
    (top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame
}

/// The end of a switch to the parked thread `next` that [`enter`] entered:
/// it is current and unparked, and leaves to user mode from its `frame`
/// with its syscall's successful result (`data` words and `badge`, handed
/// over in registers, not through the frame); nothing of the current
/// context is saved.
///
/// # Safety
/// Interrupts off; `frame` is `next`'s syscall frame as `enter` returned it,
/// `next` is parked (its kernel stack below the frame holds nothing to run,
/// see [`park_and_switch`], and its rip is a canonical user address: the
/// fast path is taken only then); the current thread is parked too (nothing
/// on its stack must run again).
#[inline(always)]
pub(super) unsafe fn resume_parked(
    cpu: &percpu::PerCpu,
    next: u64,
    t: &KThread,
    frame: *mut TrapFrame,
    data: [u64; 4],
    badge: u64,
) -> ! {
    t.parked.store(0, Ordering::Relaxed);
    set_current(cpu, next, core::ptr::from_ref(t).cast_mut());
    let [d0, d1, d2, d3] = data;
    // SAFETY: per this function's contract.
    unsafe { entry::resume_user_frame_with(frame, badge, d0, d1, d2, d3) }
}

/// `on` as a parked thread's `KThread::parked` word (never 0).
#[inline(always)]
pub(super) fn park_word(on: sched::BlockedOn) -> u64 {
    match on {
        sched::BlockedOn::Reply(t) => u64::from(t.0) << 2 | 1,
        sched::BlockedOn::Mutex(m) => u64::from(m.0) << 2 | 2,
        sched::BlockedOn::Receive => 3,
        sched::BlockedOn::Sleep => 7,
    }
}

/// The wait of a [`park_word`].
pub(super) fn parked_on(word: u64) -> sched::BlockedOn {
    match (word & 3, word >> 2) {
        (1, t) => sched::BlockedOn::Reply(ThreadId(t as u32)),
        (2, m) => sched::BlockedOn::Mutex(sched::MutexId(m as u32)),
        (_, 0) => sched::BlockedOn::Receive,
        _ => sched::BlockedOn::Sleep,
    }
}

/// The start of a parked thread's run through its kernel stack (see
/// [`arch_switch::prepare_parked_resume`]; `parked` is the word it was parked
/// with): what the switch that parked it would have done on its return
/// (free a thread that died before the switch here). Returns what its
/// syscall waits on, for the general wake-up (`kipc`).
pub fn unpark_on_stack(parked: u64) -> sched::BlockedOn {
    finish_switch();
    parked_on(parked)
}

/// The IPC fast path's switch from the current thread of this CPU (`cpu`;
/// its record `prev`) to `to`, parked in its own fast path here
/// ([`is_parked`]): `to`'s syscall returns with the data words of `from`
/// (the current thread's syscall frame) and `badge`, straight into user
/// mode, and the current thread parks waiting on `on`; this never returns
/// (see [`park_and_switch`]). Interrupts must be off (a syscall), this CPU
/// must run a thread (not its idle context: a system call comes from a
/// thread), and the current thread's syscall must return to a canonical
/// address.
#[inline(always)]
pub(super) fn switch_to_parked_fp<const XSAVE: bool, const PCID: bool>(
    cpu: &percpu::PerCpu,
    prev: *mut KThread,
    to: Parked,
    from: &TrapFrame,
    badge: u64,
    on: sched::BlockedOn,
) -> ! {
    // `prev` is this CPU's `current_kthread`, not null: this CPU runs a
    // thread, and `set_current` stores its record whenever
    // `current_thread` names one (so no test here; debug builds check).
    debug_assert_eq!(prev, cpu.current_kthread.load(Ordering::Relaxed));
    debug_assert!(!prev.is_null(), "the fast path's switch from idle");
    // SAFETY: `prev` is the (non-null, see above) record of this CPU's
    // current thread and `to` a thread parked on this CPU, so both records
    // live (see `kthread`) and only this CPU touches their FPU areas and
    // parked words.
    let (prev, next) = unsafe { (&*prev, &*to.thread) };
    prev.parked.store(park_word(on), Ordering::Relaxed);
    // SAFETY: as above, only this CPU touches the two FPU areas now.
    unsafe { fpu::fpu_switch::<XSAVE>(&mut *prev.fpu.get(), &*next.fpu.get()) };
    let frame = enter_as::<PCID>(cpu, next);
    let data = from.data_words();
    // SAFETY: interrupts are off, `next` was entered and is parked, and the
    // current thread is now parked.
    unsafe { resume_parked(cpu, u64::from(to.tid.0), next, frame, data, badge) }
}

/// Whether thread `tid` of this CPU is parked by [`park_and_switch`] (so a
/// switch to it with its result enters it straight in user mode).
#[inline(always)]
pub fn is_parked(tid: ThreadId) -> bool {
    parked(tid).is_some()
}

/// Switches from the current thread, which [`ipc_fast_handoff`] blocked and
/// whose syscall has nothing left to do but wait on `on` and return its
/// result, to `next`: straight into user mode when `next` is parked and
/// `result` is its result, else through `next`'s kernel stack. The current
/// thread is parked meanwhile: its syscall must return to a canonical user
/// address (the dispatcher sends any other to the general path, which
/// kills the thread; SYSRET to it would fault in ring 0). It never returns
/// (but when `next` is this thread or has no record: nothing switched):
/// its kernel stack is abandoned (nothing on it holds a lock or owns
/// memory), and it runs again either straight into user mode or, through
/// its kernel stack, from a context that finishes its syscall with the
/// general wake-up on `on` (see [`arch_switch::prepare_parked_resume`]).
#[inline(always)]
pub fn park_and_switch(next: ThreadId, result: Option<ParkedResult>, on: sched::BlockedOn) {
    let _irq = IrqGuard::new();
    let Some(cpu) = percpu::current() else {
        return;
    };
    let prev = cpu.current_thread.load(Ordering::Acquire);
    let next_raw = u64::from(next.0);
    let prev_ptr = cpu.current_kthread.load(Ordering::Relaxed);
    if prev == next_raw || prev == u64::MAX || prev_ptr.is_null() {
        return;
    }
    // SAFETY: `prev_ptr` is the record of this CPU's current thread, which
    // lives while it runs (see `kthread`).
    let parked = unsafe { &(*prev_ptr).parked };
    parked.store(park_word(on), Ordering::Relaxed);
    switch_to_resuming(cpu, next_raw, result, true);
    // `next` had no record: nothing switched.
    parked.store(0, Ordering::Relaxed);
}
