//! Per-CPU data: one cache-line-aligned [`PerCpu`] per CPU, allocated on the
//! CPU's own NUMA node and reached through `GS` (see
//! `arch::x86_64::percpu`).
//!
//! Shared fields are atomics (other CPUs read counters and send to the inbox).
//! CPU-private mutable state lives in [`CpuLocal`] cells, reachable only with an
//! [`IrqGuard`] in hand: proof that interrupts (and therefore preemption) are off
//! on this CPU, so nothing else on it can be inside the cell at the same time.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::x86_64::percpu as arch;

/// Most CPUs the kernel brings up.
pub const MAX_CPUS: usize = 64;

/// Proof that interrupts are disabled on this CPU; restores the previous state
/// on drop.
pub struct IrqGuard {
    was_enabled: bool,
    // Not Send: the proof is about *this* CPU.
    _not_send: core::marker::PhantomData<*const ()>,
}

impl IrqGuard {
    /// Disables interrupts on this CPU until the guard is dropped.
    pub fn new() -> Self {
        let was_enabled = x86_64::instructions::interrupts::are_enabled();
        x86_64::instructions::interrupts::disable();
        Self {
            was_enabled,
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Default for IrqGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IrqGuard {
    fn drop(&mut self) {
        if self.was_enabled {
            x86_64::instructions::interrupts::enable();
        }
    }
}

/// CPU-private mutable state, borrowed only under an [`IrqGuard`].
pub struct CpuLocal<T> {
    value: UnsafeCell<T>,
    borrowed: AtomicBool,
}

// SAFETY: a CpuLocal is only accessed by its own CPU (it lives in that CPU's
// PerCpu and `with` requires this CPU's IrqGuard); the borrow flag catches
// re-entry on that CPU.
unsafe impl<T: Send> Sync for CpuLocal<T> {}

impl<T> CpuLocal<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            value: UnsafeCell::new(value),
            borrowed: AtomicBool::new(false),
        }
    }

    /// Runs `f` with exclusive access to the value.
    ///
    /// # Panics
    /// On re-entry (a `with` inside a `with` of the same cell): a kernel bug.
    pub fn with<R>(&self, _proof: &IrqGuard, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(
            !self.borrowed.swap(true, Ordering::Acquire),
            "CpuLocal borrowed twice"
        );
        // SAFETY: interrupts are off on this CPU (the guard), only this CPU
        // touches this cell, and the flag rules out re-entry: the reference is
        // unique for the duration of `f`.
        let r = f(unsafe { &mut *self.value.get() });
        self.borrowed.store(false, Ordering::Release);
        r
    }
}

/// One CPU's data. `#[repr(C)]` with the self pointer first (read by `gs:[0]`).
#[repr(C, align(128))]
pub struct PerCpu {
    self_ptr: *const PerCpu,
    /// This CPU's TSS, loaded in its task register from its bring-up on
    /// (`gdt::move_tss`): the IST stacks, and in RSP0 the kernel stack top of
    /// the running thread, which the syscall entry loads too
    /// ([`KERNEL_RSP_OFFSET`]). Written only by this CPU with interrupts off
    /// ([`PerCpu::set_kernel_stack`]); the CPU reads RSP0 on privilege
    /// changes.
    tss: UnsafeCell<x86_64::structures::tss::TaskStateSegment>,
    /// Scratch: the user stack pointer during syscall entry.
    pub user_rsp: core::sync::atomic::AtomicU64,
    /// What the syscall entry calls for `call` and `reply_recv`: the
    /// general dispatcher until this CPU's FPU and address-space set-up is
    /// done, then the fast path's instance for this CPU
    /// (`syscall::select_fast_dispatch`).
    pub fast_dispatch: core::sync::atomic::AtomicPtr<()>,
    /// Dense CPU index (0 = BSP).
    pub index: u32,
    /// Local APIC id.
    pub apic_id: u32,
    /// NUMA node.
    pub node: u32,
    /// Set once the CPU runs its idle loop with interrupts on.
    pub online: AtomicBool,
    /// Timer interrupts taken.
    pub timer_ticks: AtomicU64,
    /// IPIs taken (all kinds).
    pub ipis: AtomicU64,
    /// IPC calls that took the fast path on this CPU and switched by the
    /// scheduler's checked hand-off (the server was not parked, or a
    /// donation was pending here); those that donated are
    /// `ipc_donations`.
    pub ipc_fast_handoff_calls: AtomicU64,
    /// `reply_recv`s that took the fast path on this CPU.
    pub ipc_fast_replies: AtomicU64,
    /// Of those, the ones that switched by the scheduler's checked
    /// hand-off rather than by the end of a donation.
    pub ipc_fast_handoff_replies: AtomicU64,
    /// This CPU's PCID tags (used only when PCIDs are on).
    pub pcids: CpuLocal<smp::pcid::PcidCache<{ crate::mem::tlb::PCID_TAGS }>>,
    /// This CPU's scheduler (ready queue, current thread, live slices),
    /// built by `task::init` and taken in at this CPU's first scheduling
    /// event; no other CPU ever touches it.
    pub sched: CpuLocal<Option<sched::Scheduler>>,
    /// Runnable threads here (queued + running), published by this CPU's
    /// scheduler after each of its operations and raised by a CPU that
    /// places a new thread here; read by placement (`task::place`).
    pub sched_load: core::sync::atomic::AtomicU32,
    /// The IPC fast path's scheduling-context donation pending on this CPU
    /// (see `task::materialize`): client << 32 | server, `u64::MAX`
    /// for none. Written only by this CPU with interrupts off.
    pub ipc_donation: AtomicU64,
    /// The client's record while `ipc_donation` names one (stale
    /// otherwise): the server's reply switches back to it without looking
    /// it up. Written only by this CPU with interrupts off.
    pub ipc_donor: core::sync::atomic::AtomicPtr<crate::task::KThread>,
    /// Donations made on this CPU since boot.
    pub ipc_donations: AtomicU64,
    /// The thread this CPU runs (`u64::MAX`: its idle context) and its
    /// record (null for idle), written together by this CPU's switches
    /// (`task::set_current`).
    pub current_thread: AtomicU64,
    /// See `current_thread`.
    pub current_kthread: core::sync::atomic::AtomicPtr<crate::task::KThread>,
    /// Saved stack pointer of this CPU's idle context (written by the
    /// switch away from it).
    pub idle_rsp: AtomicU64,
    /// A thread that died on this CPU and whose stack is freed after the
    /// switch away from it (`u64::MAX`: none).
    pub dead_prev: AtomicU64,
    /// This CPU's scheduler from `task::init` until this CPU takes it into
    /// [`sched`](Self::sched) at its first scheduling event: built on the
    /// BSP so that no CPU allocates in its timer interrupt. Taken only by
    /// this CPU.
    pub sched_pending: crate::sync::IrqMutex<Option<sched::Scheduler>>,
    /// Threads sleeping on this CPU until a TSC deadline (deadline, thread).
    /// This CPU's tick looks at its own list only; another CPU takes the
    /// lock only to drop a sleeper that moved.
    pub sleepers: crate::sync::IrqMutex<alloc::vec::Vec<(u64, sched::ThreadId)>>,
    /// This CPU's local APIC and IPI inbox (`cpus`).
    pub cpu_state: crate::cpus::CpuState,
    /// The line this CPU monitors while it idles with MWAIT
    /// (`arch::x86_64::cpu::idle_wait`).
    pub wake_line: crate::arch::x86_64::cpu::WakeLine,
    /// This CPU's capability audit trail (`kipc::audit`).
    pub audit: crate::kipc::audit::CpuAudit,
    /// This CPU's performance counters as last started (`pmu`).
    pub pmu: crate::pmu::CpuCounters,
}

// SAFETY: shared fields are atomics or immutable after bring-up; the raw self
// pointer is only dereferenced as a shared reference to this 'static struct.
unsafe impl Sync for PerCpu {}
// SAFETY: as above.
unsafe impl Send for PerCpu {}

impl PerCpu {
    /// Writes a PerCpu for CPU `index` into `slot` (fixing its self pointer)
    /// and returns it, shared from now on.
    pub fn init(slot: &'static mut PerCpu, index: u32, apic_id: u32, node: u32) -> &'static PerCpu {
        let value = PerCpu {
            self_ptr: core::ptr::null(),
            tss: UnsafeCell::new(x86_64::structures::tss::TaskStateSegment::new()),
            user_rsp: core::sync::atomic::AtomicU64::new(0),
            fast_dispatch: core::sync::atomic::AtomicPtr::new(
                crate::syscall::dispatch as *const () as *mut (),
            ),
            index,
            apic_id,
            node,
            online: AtomicBool::new(false),
            timer_ticks: AtomicU64::new(0),
            ipis: AtomicU64::new(0),
            ipc_fast_handoff_calls: AtomicU64::new(0),
            ipc_fast_replies: AtomicU64::new(0),
            ipc_fast_handoff_replies: AtomicU64::new(0),
            pcids: CpuLocal::new(smp::pcid::PcidCache::new()),
            sched: CpuLocal::new(None),
            sched_load: core::sync::atomic::AtomicU32::new(0),
            ipc_donation: AtomicU64::new(u64::MAX),
            ipc_donor: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            ipc_donations: AtomicU64::new(0),
            current_thread: AtomicU64::new(u64::MAX),
            current_kthread: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            idle_rsp: AtomicU64::new(0),
            dead_prev: AtomicU64::new(u64::MAX),
            sched_pending: crate::sync::IrqMutex::new(None),
            sleepers: crate::sync::IrqMutex::new(alloc::vec::Vec::new()),
            cpu_state: crate::cpus::CpuState::new(),
            wake_line: crate::arch::x86_64::cpu::WakeLine::new(),
            audit: crate::kipc::audit::CpuAudit::new(index),
            pmu: crate::pmu::CpuCounters::new(),
        };
        // SAFETY: `slot` is valid for writes; its old bytes (zeroed memory
        // from the allocator, not a PerCpu) are overwritten, never dropped.
        unsafe { core::ptr::write(core::ptr::from_mut(slot), value) };
        slot.self_ptr = slot as *const PerCpu;
        slot
    }

    /// This CPU's TSS, for `gdt::move_tss` (at bring-up, on this CPU).
    pub fn tss(&self) -> *mut x86_64::structures::tss::TaskStateSegment {
        self.tss.get()
    }

    /// Makes `top` the kernel stack of this CPU's traps and system calls
    /// from user mode (RSP0), on a switch to a thread whose kernel stack
    /// ends there. `top` is canonical (a direct-map address plus the stack
    /// size), so it needs no sign extension.
    ///
    /// # Safety
    /// `self` is this CPU's data and interrupts are off: nothing else
    /// touches the TSS meanwhile (the CPU reads RSP0 only on a privilege
    /// change, which cannot happen here).
    #[inline(always)]
    pub unsafe fn set_kernel_stack(&self, top: u64) {
        // SAFETY: per the contract; RSP0 is a field of the packed TSS, so
        // it is written unaligned.
        unsafe {
            core::ptr::addr_of_mut!((*self.tss.get()).privilege_stack_table[0])
                .write_unaligned(x86_64::VirtAddr::new_unsafe(top));
        }
    }

    /// Makes `this` the calling CPU's per-CPU data (GS base).
    pub fn install(this: &'static PerCpu) {
        // SAFETY: `this` is 'static and its first field is its own address
        // (set by `init`).
        unsafe { arch::install((this as *const PerCpu).cast()) };
    }
}

/// Offset of `fast_dispatch` from GS base (used by the syscall entry).
pub const FAST_DISPATCH_OFFSET: usize = core::mem::offset_of!(PerCpu, fast_dispatch);
/// Offset from GS base of the running thread's kernel stack top, RSP0 of
/// this CPU's TSS (used by the syscall entry).
pub const KERNEL_RSP_OFFSET: usize = core::mem::offset_of!(PerCpu, tss)
    + core::mem::offset_of!(
        x86_64::structures::tss::TaskStateSegment,
        privilege_stack_table
    );
/// Offset of `user_rsp` from GS base (used by the syscall entry).
pub const USER_RSP_OFFSET: usize = core::mem::offset_of!(PerCpu, user_rsp);

static CPUS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Records `cpu` in the table of all CPUs (for cross-CPU lookups).
pub fn register(cpu: &'static PerCpu) {
    CPUS[cpu.index as usize].store(cpu as *const PerCpu as u64, Ordering::Release);
}

/// The PerCpu of CPU `index`, if it was registered.
pub fn of(index: u32) -> Option<&'static PerCpu> {
    let p = CPUS.get(index as usize)?.load(Ordering::Acquire) as *const PerCpu;
    // SAFETY: only `register` stores non-zero values, each the address of a
    // 'static PerCpu.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// This CPU's data, or `None` before per-CPU setup ran on it.
pub fn current() -> Option<&'static PerCpu> {
    let p = arch::self_ptr().cast::<PerCpu>();
    // SAFETY: a non-null self pointer was installed by `PerCpu::install` and
    // points to a 'static PerCpu.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// This CPU's data, where it is known to be installed: a system call (the
/// syscall entry found its kernel stack through it, [`KERNEL_RSP_OFFSET`]).
/// [`current`] without the test for null (debug builds check).
///
/// # Safety
/// [`PerCpu::install`] ran on this CPU.
#[inline(always)]
pub unsafe fn current_installed() -> &'static PerCpu {
    let p = arch::self_ptr().cast::<PerCpu>();
    debug_assert!(!p.is_null(), "per-CPU data not installed");
    // SAFETY: per the contract, the self pointer was installed by
    // `PerCpu::install` and points to a 'static PerCpu.
    unsafe { &*p }
}

/// This CPU's index (0 before per-CPU setup, i.e. on the BSP during early boot).
pub fn index() -> u32 {
    current().map_or(0, |c| c.index)
}
