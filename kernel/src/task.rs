//! Kernel threads behind user threads: kernel stacks, context switches, FPU
//! state, and the glue to the `sched` crate's per-CPU schedulers.
//!
//! Locking: each CPU's `sched::Scheduler` (ready queue, current thread, live
//! time slices) lives in that CPU's [`PerCpu`](crate::percpu::PerCpu) and is
//! touched by that CPU alone, with interrupts off and no lock: picking the
//! next thread, the timer tick and yielding take no lock at all. The shared
//! thread table (states, priorities, the priority-inheritance graph, which
//! spans CPUs) is under one lock ([`TABLE`]), taken to block, wake, spawn,
//! exit or change priorities, and by a CPU that drains its inbox (only when
//! something was posted). Wake-ups of another CPU's thread go through that
//! CPU's lock-free inbox and an IPI; no CPU ever touches another's queue.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use sched::{
    CpuId, CpuSet, Decision, Inbox, Inboxes, PiConfig, Priority, SchedConfig, Scheduler,
    TableLimits, ThreadId, ThreadParams, ThreadTable,
};

use crate::arch::x86_64::cpu::rdtsc_ordered;
use crate::arch::x86_64::idt::TrapFrame;
use crate::arch::x86_64::syscall::{self as arch, FpuArea};
use crate::percpu::{self, IrqGuard, MAX_CPUS};

/// Most threads alive at once.
pub const MAX_THREADS: usize = 4096;
/// Kernel stack per thread.
pub const KSTACK_PAGES: usize = 4 * crate::DEBUG_STACK_SCALE;

/// A process id.
pub type Pid = u32;

/// The kernel side of one thread.
pub struct KThread {
    /// Its id in the scheduler's table.
    pub tid: ThreadId,
    /// Owning process.
    pub pid: Pid,
    /// Direct-map address of the kernel stack's lowest byte.
    kstack: *mut u8,
    /// Just above its highest byte (kept: a switch then adds nothing).
    kstack_top: u64,
    /// Saved kernel stack pointer while switched out.
    saved_rsp: u64,
    /// Physical address of the address space's PML4.
    pub cr3: u64,
    /// Saved FPU state, in the record (a switch then saves and restores at
    /// fixed offsets of the two records, with no pointer to load).
    fpu: FpuArea,
    /// Times this thread was switched in.
    switch_ins: AtomicU64,
    /// Parked by [`park_and_switch`] or [`switch_to_parked`]: blocked in an
    /// IPC syscall with nothing on its kernel stack that must run again (no
    /// locks, no heap objects, no deadline), so it may be resumed straight
    /// into user mode. 0 when not parked, else what its syscall waits on
    /// ([`park_word`]): a parked thread leaves no kernel context (its
    /// `saved_rsp` is stale), and resumed through its kernel stack it runs
    /// from a context built then ([`arch::prepare_parked_resume`]), which
    /// finishes the syscall with that wait. Set and cleared only by the CPU
    /// the thread belongs to, with interrupts off.
    parked: AtomicU64,
}

// SAFETY: a KThread is reached only under the THREADS lock or by the CPU that
// runs it; the raw stack pointer names memory owned by the thread.
unsafe impl Send for KThread {}

/// The shared half of scheduling (see the module doc). Taken with interrupts
/// off: a holder must never be interruptible (see `crate::sync`).
static TABLE: crate::sync::IrqMutex<Option<ThreadTable>> = crate::sync::IrqMutex::new(None);
/// Every CPU's wake-up inbox (lock-free, set once by [`init`]).
static INBOXES: spin::Once<Inboxes> = spin::Once::new();
static THREADS: crate::sync::IrqMutex<Vec<Option<Box<KThread>>>> =
    crate::sync::IrqMutex::new(Vec::new());
/// The records of [`THREADS`] by thread id, for context switches (see
/// [`kthread`]); null where there is none.
static KTHREADS: [core::sync::atomic::AtomicPtr<KThread>; MAX_THREADS] =
    [const { core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()) }; MAX_THREADS];
/// Saved stack pointer of each CPU's idle context.
static IDLE_RSP: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// A thread that died on this CPU and whose stack is freed after the switch.
static DEAD_PREV: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

/// Each CPU's scheduler from [`init`] until that CPU takes it into its
/// per-CPU area (at its first scheduling event): built on the BSP so that no
/// CPU allocates in its timer interrupt. Each slot is taken only by its CPU.
static PENDING: [crate::sync::IrqMutex<Option<Scheduler>>; MAX_CPUS] =
    [const { crate::sync::IrqMutex::new(None) }; MAX_CPUS];

/// Runs `f` on this CPU's own scheduler, its books first brought up to date
/// with a pending scheduling-context donation ([`materialize`], which takes
/// the thread-table lock: never call this with that lock held; see
/// [`with_sched_locked`]). `None` before per-CPU data and [`init`] are set
/// up. Never nest it (the cell panics on re-entry).
fn with_sched<R>(irq: &IrqGuard, f: impl FnOnce(&mut Scheduler) -> R) -> Option<R> {
    with_sched_raw(irq, |cpu, sched| {
        if donating(cpu) {
            let inboxes = INBOXES.get()?;
            let mut guard = TABLE.lock();
            materialize(cpu, sched, guard.as_mut()?, inboxes);
        }
        Some(f(sched))
    })
    .flatten()
}

/// [`with_sched`] for a caller that holds the thread-table lock: `table`.
fn with_sched_locked<R>(
    irq: &IrqGuard,
    table: &mut ThreadTable,
    f: impl FnOnce(&mut Scheduler, &mut ThreadTable) -> R,
) -> Option<R> {
    with_sched_raw(irq, |cpu, sched| {
        if donating(cpu) {
            materialize(cpu, sched, table, INBOXES.get()?);
        }
        Some(f(sched, table))
    })
    .flatten()
}

/// This CPU's scheduler as it is (see [`with_sched`]), with its per-CPU data.
fn with_sched_raw<R>(
    irq: &IrqGuard,
    f: impl FnOnce(&percpu::PerCpu, &mut Scheduler) -> R,
) -> Option<R> {
    let cpu = percpu::current()?;
    cpu.sched.with(irq, |slot| {
        let sched = match slot {
            Some(sched) => sched,
            None => slot.insert(PENDING.get(cpu.index as usize)?.lock().take()?),
        };
        let result = f(cpu, sched);
        cpu.sched_load.store(
            u32::try_from(sched.load()).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
        Some(result)
    })
}

/// Runs `f` with the shared thread table (locked), the inboxes and this
/// CPU's scheduler: the shape of every operation that blocks, wakes or
/// changes priorities. `None` before [`init`].
fn with_table<R>(
    irq: &IrqGuard,
    f: impl FnOnce(&mut Scheduler, &mut ThreadTable, &'static Inboxes) -> R,
) -> Option<R> {
    let inboxes = INBOXES.get()?;
    let mut guard = TABLE.lock();
    let table = guard.as_mut()?;
    with_sched_locked(irq, table, |sched, table| f(sched, table, inboxes))
}

// Scheduling-context donation on the IPC fast path, per CPU
// (`PerCpu::ipc_donation`, packed `c << 32 | s`): while a client `c` that
// called a server `s` parked in its own fast path waits for the reply, the
// CPU runs `s` on `c`'s behalf without telling the scheduler: its books
// still say that `c` runs and `s` waits to receive, `c`'s slice pays for
// `s`'s time, and `s` runs at `c`'s priority (which, as `c` ran, nothing
// queued here beats). `s`'s reply ends the donation with nothing to undo,
// so a same-CPU call and its reply touch neither the thread table nor its
// lock. Anything that needs this CPU's books first makes them true
// ([`materialize`]): every [`with_sched`], so every tick, wake, block,
// yield and exit here, and so every scheduling decision of this CPU sees
// the true state. Other CPUs never decide from this CPU's books (they post
// to its inbox), so what they see of `c` and `s` meanwhile (`c` ready, `s`
// waiting to receive) only delays, to this CPU's next scheduling event,
// what they ask of it.

/// The (client, server) of a packed `PerCpu::ipc_donation`, if one is pending.
fn pending(raw: u64) -> Option<(ThreadId, ThreadId)> {
    (raw != u64::MAX).then_some((ThreadId((raw >> 32) as u32), ThreadId(raw as u32)))
}

/// Every CPU's pending donation: (CPU, client, server).
fn pending_donations() -> impl Iterator<Item = (&'static percpu::PerCpu, ThreadId, ThreadId)> {
    (0..MAX_CPUS as u32)
        .filter_map(percpu::of)
        .filter_map(|cpu| {
            pending(cpu.ipc_donation.load(Ordering::Relaxed)).map(|(c, s)| (cpu, c, s))
        })
}

/// Whether `cpu` has a donation pending.
#[inline(always)]
fn donating(cpu: &percpu::PerCpu) -> bool {
    cpu.ipc_donation.load(Ordering::Relaxed) != u64::MAX
}

/// Ends the donation of `sched`'s CPU by making its books true, at the
/// thread-table lock (held by the caller): the client blocks waiting for
/// the server's reply (lending it its priority) and the server is the
/// current thread, as the scheduler's own IPC hand-off would have left
/// them. When that is refused, or the client's result is already final
/// (the server's process died meanwhile), the server is simply made
/// current and the client merely preempted: it runs again through its
/// kernel stack, whose wait loop reads its result or blocks again as the
/// general path does. A queued thread that beats the server then runs as
/// soon as interrupts are on again (a reschedule IPI to this CPU).
fn materialize(
    cpu: &percpu::PerCpu,
    sched: &mut Scheduler,
    table: &mut ThreadTable,
    inboxes: &Inboxes,
) {
    let Some((client, server)) = pending(cpu.ipc_donation.swap(u64::MAX, Ordering::Relaxed)) else {
        return;
    };
    // The client's IPC result flag (looked up here, not recorded with the
    // donation: the fast path then stores less).
    let final_result = crate::kipc::result_flag(client).load(Ordering::Acquire);
    let now = rdtsc_ordered();
    let on = sched::BlockedOn::Reply(server);
    if final_result
        || sched
            .handoff(table, inboxes, client, on, server, now)
            .is_err()
    {
        let _ = sched.wake(table, inboxes, server);
        if !sched.is_queued(server) {
            let _ = sched.drain_inbox(table, inboxes);
        }
    }
    if sched.adopt(table, server, now) == Ok(Decision::Reschedule) {
        // A queued thread (the client, when it was only preempted) beats the
        // server: a reschedule IPI to this CPU, taken as soon as interrupts
        // are on again, runs it without waiting for the next tick.
        let _ = crate::cpus::send(cpu.index, crate::cpus::IpiMessage::Reschedule);
    }
}

/// A thread of this CPU parked in its own fast path ([`is_parked`]), with
/// its record, as the fast path's switch takes it.
#[derive(Clone, Copy)]
pub struct Parked {
    tid: ThreadId,
    /// Lives while the thread can be switched to (see `kthread`): it is
    /// parked on the CPU that holds this, so it cannot die meanwhile.
    thread: *mut KThread,
}

/// `tid`, if it is parked ([`is_parked`]).
#[inline(always)]
fn parked(tid: ThreadId) -> Option<Parked> {
    let thread = kthread(u64::from(tid.0));
    // SAFETY: a non-null record lives while its thread can still be switched
    // to (see `kthread`); `parked` is an atomic.
    (!thread.is_null() && unsafe { &*thread }.parked.load(Ordering::Relaxed) != 0)
        .then_some(Parked { tid, thread })
}

/// `server`, if the current thread of this CPU (`cpu`) may donate its
/// scheduling context to it for a same-CPU call: no donation is pending
/// here and `server` is parked in its own fast path (so it waits to
/// receive, on this CPU).
#[inline(always)]
pub fn donatable(cpu: &percpu::PerCpu, server: ThreadId) -> Option<Parked> {
    if donating(cpu) {
        return None;
    }
    // `server` has an IPC record (the fast path found it waiting to
    // receive), so its kernel record lives: a thread leaves IPC with its
    // process (`kipc::on_process_exit`, in `process::set_exit`) before it
    // can exit, and joins it only while it runs. No null test, then (it
    // cost two instructions per call); debug builds check.
    let thread = kthread(u64::from(server.0));
    debug_assert!(!thread.is_null(), "an IPC thread without a kernel record");
    // SAFETY: not null (above), and a record lives while its thread can
    // still be switched to (see `kthread`); `parked` is an atomic.
    (unsafe { &*thread }.parked.load(Ordering::Relaxed) != 0).then_some(Parked {
        tid: server,
        thread,
    })
}

/// `client`, if a reply of `server`, the current thread of this CPU
/// (`cpu`), to it ends this CPU's donation with the client still parked (so
/// the switch back is [`end_donation_to_parked`]).
#[inline(always)]
pub fn donation_ends(cpu: &percpu::PerCpu, client: ThreadId, server: ThreadId) -> Option<Parked> {
    if cpu.ipc_donation.load(Ordering::Relaxed) != u64::from(client.0) << 32 | u64::from(server.0) {
        return None;
    }
    // The client of a pending donation is parked, with its record in
    // `ipc_donor`: it parked when the donation began and runs again only at
    // its end (here) or after a scheduling event of this CPU, which first
    // ends the donation ([`materialize`], in every `with_sched`). No lookup
    // and no test (they cost seven instructions per reply).
    let thread = cpu.ipc_donor.load(Ordering::Relaxed);
    debug_assert!(
        parked(client).is_some_and(|p| p.thread == thread),
        "a pending donation whose client is not parked"
    );
    Some(Parked {
        tid: client,
        thread,
    })
}

/// The current thread `client` of this CPU (`cpu`) calls `server`, parked
/// here in its own fast path, on the fast path, with no donation pending
/// here: the CPU runs `server` on its behalf (see [`materialize`]), entering
/// it with the data words of `from` (the client's syscall frame) and
/// `badge`; the client parks waiting on `on` (the reply). Never returns, as
/// [`switch_to_parked`].
#[inline(always)]
pub fn donate_to_parked<const XSAVE: bool, const PCID: bool>(
    cpu: &percpu::PerCpu,
    client: ThreadId,
    server: Parked,
    from: &TrapFrame,
    badge: u64,
    on: sched::BlockedOn,
) -> ! {
    let prev = cpu.current_kthread.load(Ordering::Relaxed);
    cpu.ipc_donation.store(
        u64::from(client.0) << 32 | u64::from(server.tid.0),
        Ordering::Relaxed,
    );
    cpu.ipc_donor.store(prev, Ordering::Relaxed);
    cpu.ipc_donations.fetch_add(1, Ordering::Relaxed);
    switch_to_parked::<XSAVE, PCID>(cpu, prev, server, from, badge, on);
}

/// The server of this CPU's (`cpu`) donation, its current thread, replies
/// to its client, parked since the donation began, on the fast path: the
/// donation ends (the books were right all along) and the CPU switches back
/// to the client, entering it with the data words of `from` (the server's
/// syscall frame); the server parks waiting on `on` (its next call).
/// Never returns, as [`switch_to_parked`].
#[inline(always)]
pub fn end_donation_to_parked<const XSAVE: bool, const PCID: bool>(
    cpu: &percpu::PerCpu,
    client: Parked,
    from: &TrapFrame,
    on: sched::BlockedOn,
) -> ! {
    cpu.ipc_donation.store(u64::MAX, Ordering::Relaxed);
    let prev = cpu.current_kthread.load(Ordering::Relaxed);
    switch_to_parked::<XSAVE, PCID>(cpu, prev, client, from, 0, on);
}

/// Drains this CPU's inbox when something was posted (the table lock is
/// taken only then) and returns what it asks for.
fn drain_inbox(sched: &mut Scheduler) -> Decision {
    let Some(inboxes) = INBOXES.get() else {
        return Decision::Stay;
    };
    if !inboxes.get(sched.cpu()).is_some_and(Inbox::has_mail) {
        return Decision::Stay;
    }
    let guard = TABLE.lock();
    guard.as_ref().map_or(Decision::Stay, |table| {
        sched.drain_inbox(table, inboxes).unwrap_or(Decision::Stay)
    })
}

/// SLIT distances between NUMA nodes (node count, row-major matrix), set
/// once at boot from ACPI; without them every CPU counts as one node.
static NUMA_DISTANCES: spin::Once<(usize, Vec<u8>)> = spin::Once::new();

/// Records the distances between the `nodes` NUMA nodes (row-major SLIT).
pub fn set_numa_distances(nodes: usize, distances: Vec<u8>) {
    if nodes * nodes == distances.len() {
        NUMA_DISTANCES.call_once(|| (nodes, distances));
    }
}

/// Chooses the CPU for a new thread whose parent runs on `parent_cpu`
/// (`sched::place_thread`): the least loaded online CPU of the parent's
/// NUMA node, else of the nearest node; loads are the CPUs' published
/// runnable counts. The chosen CPU's load is raised at once, so placements
/// in a row spread before the new threads first run. `None` if no CPU is
/// online.
pub fn place(parent_cpu: u32) -> Option<u32> {
    let cpus: Vec<Option<&'static percpu::PerCpu>> = (0..MAX_CPUS as u32).map(percpu::of).collect();
    let count = cpus.iter().rposition(Option::is_some)? + 1;
    let cpus = &cpus[..count];
    let node =
        |c: &Option<&percpu::PerCpu>| c.map_or(0, |c| u8::try_from(c.node).unwrap_or(u8::MAX));
    let node_of: Vec<sched::NodeId> = cpus.iter().map(|c| sched::NodeId(node(c))).collect();
    let nodes = usize::from(cpus.iter().map(node).max().unwrap_or(0)) + 1;
    let distances = match NUMA_DISTANCES.get() {
        Some((n, d)) if *n >= nodes => d.clone(),
        // No SLIT: local 10, remote 20 (the ACPI default).
        _ => (0..nodes * nodes)
            .map(|i| if i / nodes == i % nodes { 10 } else { 20 })
            .collect(),
    };
    let topology = sched::Topology::new(node_of, distances).ok()?;
    let mut allowed = CpuSet::EMPTY;
    for (i, cpu) in cpus.iter().enumerate() {
        if cpu.is_some_and(|c| c.online.load(Ordering::Acquire)) {
            allowed.insert(CpuId(i as u16));
        }
    }
    let loads: Vec<usize> = cpus
        .iter()
        .map(|c| c.map_or(0, |c| c.sched_load.load(Ordering::Relaxed) as usize))
        .collect();
    let parent_node = sched::NodeId(node(cpus.get(parent_cpu as usize)?));
    let chosen = sched::place_thread(&topology, parent_node, &allowed, &loads).ok()?;
    let chosen = u32::from(chosen.0);
    if let Some(cpu) = percpu::of(chosen) {
        cpu.sched_load.fetch_add(1, Ordering::Relaxed);
    }
    Some(chosen)
}

/// Whether priority inheritance is on (command line `pi=off` turns it off).
pub fn set_priority_inheritance(on: bool) {
    let irq = IrqGuard::new();
    let targets = with_table(&irq, |sched, table, inboxes| {
        table.set_priority_inheritance(on);
        // Requeue every thread whose priority changed (others' by inbox).
        let _ = sched.settle(table, inboxes);
        sched.take_ipi_targets()
    });
    kick(targets.unwrap_or(CpuSet::EMPTY));
}

/// Whether priority inheritance is on.
pub fn priority_inheritance() -> bool {
    TABLE
        .lock()
        .as_ref()
        .is_some_and(ThreadTable::priority_inheritance)
}

/// Sets up the scheduler for `cpus` CPUs with time slices of `slice_tsc`.
pub fn init(cpus: usize, slice_tsc: u64) {
    let limits = TableLimits {
        threads: MAX_THREADS,
        mutexes: 64,
        cpus,
    };
    let table = ThreadTable::new(limits, PiConfig::default()).expect("scheduler limits are valid");
    INBOXES.call_once(|| Inboxes::new(cpus, 256, MAX_THREADS).expect("inbox limits are valid"));
    let config = SchedConfig {
        time_slice: slice_tsc,
    };
    for (cpu, pending) in PENDING.iter().enumerate().take(cpus) {
        let sched = Scheduler::new(CpuId(cpu as u16), config, MAX_THREADS);
        *pending.lock() = Some(sched);
    }
    *TABLE.lock() = Some(table);
    let mut threads = THREADS.lock();
    threads.resize_with(MAX_THREADS, || None);
}

/// The thread running on this CPU, if any (not idle).
pub fn current() -> Option<ThreadId> {
    current_on(percpu::current()?)
}

/// The thread running on `cpu`, this CPU, if any (not idle).
#[inline(always)]
pub fn current_on(cpu: &percpu::PerCpu) -> Option<ThreadId> {
    let raw = cpu.current_thread.load(Ordering::Acquire);
    (raw != u64::MAX).then_some(ThreadId(raw as u32))
}

/// The thread of this CPU (`cpu`) in a system call, as [`current_on`] but
/// with no test for the idle context (it cost two instructions per IPC
/// operation on the fast path): a system call comes from a thread. Were it
/// the idle context anyway, the id would be `u32::MAX`, which names no
/// thread (the fast path's guards refuse it and the general operation
/// fails with `ProcessNotFound`, as without the fast path).
#[inline(always)]
pub fn current_in_syscall(cpu: &percpu::PerCpu) -> ThreadId {
    let raw = cpu.current_thread.load(Ordering::Acquire);
    debug_assert_ne!(raw, u64::MAX, "a system call from the idle context");
    ThreadId(raw as u32)
}

/// The process of the thread running on this CPU.
pub fn current_pid() -> Option<Pid> {
    let tid = current()?;
    THREADS.lock().get(tid.0 as usize)?.as_ref().map(|t| t.pid)
}

/// Why a thread could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
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
) -> Result<ThreadId, SpawnError> {
    let irq = IrqGuard::new();
    let node = percpu::of(cpu).map_or(0, |c| c.node);
    let kstack = crate::mem::alloc_zeroed_on(node, KSTACK_PAGES).ok_or(SpawnError::OutOfMemory)?;
    let stack_top = kstack as u64 + (KSTACK_PAGES * 4096) as u64;
    // SAFETY: the stack was just allocated for this thread alone.
    let rsp = unsafe { arch::prepare_stack(stack_top, frame) };
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
        return Err(SpawnError::Sched);
    };
    let mut thread = Box::new(KThread {
        tid,
        pid,
        kstack,
        kstack_top: stack_top,
        saved_rsp: rsp,
        cr3,
        fpu: FpuArea([0; arch::FPU_AREA_SIZE]),
        switch_ins: AtomicU64::new(0),
        parked: AtomicU64::new(0),
    });
    arch::fpu_init_area(&mut thread.fpu);
    // The box's address is stable until it is dropped in `finish_switch`.
    KTHREADS[tid.0 as usize].store(
        &*thread as *const KThread as *mut KThread,
        Ordering::Release,
    );
    THREADS.lock()[tid.0 as usize] = Some(thread);
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

fn free_stack(kstack: *mut u8) {
    for i in 0..KSTACK_PAGES {
        if let Some(phys) = crate::mem::paging::virt_to_phys_direct(
            x86_64::VirtAddr::from_ptr(kstack) + (i * 4096) as u64,
        ) {
            let _ = crate::mem::free_frame(phys);
        }
    }
}

/// Runs the scheduler on this CPU with `decision` and switches threads if it
/// says so. Interrupts must be off. Returns when this context runs again.
pub fn reschedule(decision: Decision) {
    let picked = {
        let irq = IrqGuard::new();
        with_sched(&irq, |sched| {
            let drained = drain_inbox(sched);
            let next = sched.apply(decision.combine(drained), rdtsc_ordered());
            (next, sched.take_ipi_targets())
        })
    };
    let Some((next, ipi_targets)) = picked else {
        return;
    };
    kick(ipi_targets);
    let Some(cpu) = percpu::current() else {
        return;
    };
    let prev = cpu.current_thread.load(Ordering::Acquire);
    let next_raw = next.map_or(u64::MAX, |t| u64::from(t.0));
    if prev == next_raw {
        return;
    }
    switch_to(cpu, next_raw);
    finish_switch();
}

/// Sends a reschedule IPI to every CPU in `targets`.
fn kick(targets: CpuSet) {
    if targets.is_empty() {
        return;
    }
    let me = percpu::index();
    for cpu in targets.iter().map(|cpu| u32::from(cpu.0)) {
        if cpu != me {
            let _ = crate::cpus::send(cpu, crate::cpus::IpiMessage::Reschedule);
        }
    }
}

/// The final, successful result of a thread parked by [`park_and_switch`]:
/// its four data words and badge, which [`switch_to_resuming`] writes into
/// its syscall frame to enter it straight in user mode.
pub type ParkedResult = ([u64; 4], u64);

fn switch_to(cpu: &percpu::PerCpu, next: u64) {
    crate::fault::on_switch(cpu);
    switch_to_resuming(cpu, next, None, false);
}

/// The kernel side of thread `tid` for a context switch, without the
/// [`THREADS`] lock: the switching CPU only touches the thread it switches
/// away from (its own current one) and the one the scheduler just chose
/// (runnable), and a thread's record is dropped only after it died and a
/// switch away from it completed (`finish_switch`).
fn kthread(tid: u64) -> *mut KThread {
    KTHREADS
        .get(tid as usize)
        .map_or(core::ptr::null_mut(), |p| p.load(Ordering::Acquire))
}

/// Makes `tid` (record `t`; `u64::MAX` and null for the idle context) the
/// thread `cpu`, this CPU, runs.
#[inline(always)]
fn set_current(cpu: &percpu::PerCpu, tid: u64, t: *mut KThread) {
    cpu.current_kthread.store(t, Ordering::Relaxed);
    cpu.current_thread.store(tid, Ordering::Release);
}

/// Switches this CPU from its current context to `next` (`u64::MAX`: the
/// idle context). `prev_parked`: the current context is a thread that
/// [`park_and_switch`] parked, which leaves no kernel context behind. A
/// parked `next` enters user mode straight from its syscall frame when
/// `resume` is its result (then `prev_parked` must hold), else it runs
/// through a context built on its kernel stack that finishes its syscall
/// ([`arch::prepare_parked_resume`]). Returns when the current context runs
/// again (never for a parked one, unless `next` has no record and nothing
/// switched).
#[inline(always)]
fn switch_to_resuming(
    cpu: &percpu::PerCpu,
    next: u64,
    resume: Option<ParkedResult>,
    prev_parked: bool,
) {
    let me = cpu.index as usize;
    // The switch is always away from this CPU's current thread, whose
    // record (null for the idle context) the per-CPU area holds.
    let prev_ptr = cpu.current_kthread.load(Ordering::Relaxed);
    let prev_slot: *mut u64 = if prev_ptr.is_null() {
        IDLE_RSP[me].as_ptr()
    } else {
        // SAFETY: the thread is this CPU's current one (so its record lives,
        // see `kthread`); only this CPU touches its FPU area and saved_rsp
        // while it runs.
        unsafe {
            arch::fpu_save(&mut (*prev_ptr).fpu);
            debug_assert_eq!((*prev_ptr).parked.load(Ordering::Relaxed) != 0, prev_parked);
            core::ptr::addr_of_mut!((*prev_ptr).saved_rsp)
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
        IDLE_RSP[me].load(Ordering::Acquire)
    } else {
        if next_ptr.is_null() {
            return;
        }
        // SAFETY: the scheduler chose the thread, so it is runnable and its
        // record lives (see `kthread`); its fields read here are immutable
        // or, like its FPU area, touched only by the CPU that runs it.
        let t = unsafe { &*next_ptr };
        let frame = enter(cpu, t);
        arch::fpu_restore(&t.fpu);
        let parked = t.parked.load(Ordering::Relaxed);
        if parked == 0 {
            t.saved_rsp
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
            unsafe { arch::prepare_parked_resume(frame, parked) }
        }
    };
    set_current(cpu, next, next_ptr);
    if prev_parked {
        // SAFETY: interrupts are off; `next_rsp` is a stack saved by an
        // earlier switch, prepared by `prepare_stack` or
        // `prepare_parked_resume`, or the idle context's; the current thread
        // is parked, so nothing on its stack must run again.
        unsafe { arch::jump_to_context(next_rsp) };
    }
    // SAFETY: interrupts are off; `prev_slot` is where the previous context's
    // stack pointer belongs and `next_rsp` a stack as above.
    unsafe { arch::switch_stack(prev_slot, next_rsp) };
}

/// The switch into `t` on this CPU (`cpu`) up to its stack and but for its
/// FPU state: RSP0 and the syscall entry's stack top, its address space.
/// Returns where its syscall frame lies (the top of its kernel stack).
#[inline(always)]
fn enter(cpu: &percpu::PerCpu, t: &KThread) -> *mut TrapFrame {
    if crate::arch::x86_64::cpu::pcid_on() {
        enter_as::<true>(cpu, t)
    } else {
        enter_as::<false>(cpu, t)
    }
}

/// [`enter`] on a CPU whose `cpu::pcid_on` is `PCID` (known to the IPC
/// fast path's instance, chosen at boot: see `crate::syscall`).
#[inline(always)]
fn enter_as<const PCID: bool>(cpu: &percpu::PerCpu, t: &KThread) -> *mut TrapFrame {
    // A direct-map address plus the stack size: canonical.
    let top = t.kstack_top;
    cpu.kernel_rsp.store(top, Ordering::Relaxed);
    let tss = cpu.tss.load(Ordering::Relaxed);
    debug_assert!(!tss.is_null(), "a CPU without a TSS");
    // SAFETY: this CPU's TSS (never null: `PerCpu::init`), which lives
    // forever; the CPU reads RSP0 only on a privilege change, which cannot
    // happen while interrupts are off here. `top` is canonical (above), so
    // it needs no sign extension (`new_truncate` cost two instructions per
    // switch).
    unsafe { (*tss).privilege_stack_table[0] = x86_64::VirtAddr::new_unsafe(top) };
    crate::arch::x86_64::cpu::load_address_space_as::<PCID>(t.cr3);
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
unsafe fn resume_parked(
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
    unsafe { arch::resume_user_frame_with(frame, badge, d0, d1, d2, d3) }
}

/// `on` as a parked thread's `KThread::parked` word (never 0).
#[inline(always)]
fn park_word(on: sched::BlockedOn) -> u64 {
    match on {
        sched::BlockedOn::Reply(t) => u64::from(t.0) << 2 | 1,
        sched::BlockedOn::Mutex(m) => u64::from(m.0) << 2 | 2,
        sched::BlockedOn::Receive => 3,
        sched::BlockedOn::Sleep => 7,
    }
}

/// The wait of a [`park_word`].
fn parked_on(word: u64) -> sched::BlockedOn {
    match (word & 3, word >> 2) {
        (1, t) => sched::BlockedOn::Reply(ThreadId(t as u32)),
        (2, m) => sched::BlockedOn::Mutex(sched::MutexId(m as u32)),
        (_, 0) => sched::BlockedOn::Receive,
        _ => sched::BlockedOn::Sleep,
    }
}

/// The start of a parked thread's run through its kernel stack (see
/// [`arch::prepare_parked_resume`]; `parked` is the word it was parked
/// with): what the switch that parked it would have done on its return
/// (free a thread that died before the switch here). Returns what its
/// syscall waits on, for the general wake-up (`kipc`).
pub fn resumed_from_park(parked: u64) -> sched::BlockedOn {
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
fn switch_to_parked<const XSAVE: bool, const PCID: bool>(
    cpu: &percpu::PerCpu,
    prev: *mut KThread,
    to: Parked,
    from: &TrapFrame,
    badge: u64,
    on: sched::BlockedOn,
) -> ! {
    // `prev` is this CPU's `current_kthread`, not null: this CPU runs a
    // thread, and `set_current` stores its record whenever
    // `current_thread` names one (no test here: it cost two instructions
    // per switch).
    debug_assert_eq!(prev, cpu.current_kthread.load(Ordering::Relaxed));
    debug_assert!(!prev.is_null(), "the fast path's switch from idle");
    // SAFETY: `prev` is the (non-null, see above) record of this CPU's
    // current thread and `to` a thread parked on this CPU, so both records
    // live (see `kthread`) and only this CPU touches their FPU areas and
    // parked words.
    let (prev, next) = unsafe { (&mut *prev, &*to.thread) };
    prev.parked.store(park_word(on), Ordering::Relaxed);
    arch::fpu_switch::<XSAVE>(&mut prev.fpu, &next.fpu);
    let frame = enter_as::<PCID>(cpu, next);
    let data = from.data_words();
    // SAFETY: interrupts are off, `next` was entered and is parked, and the
    // current thread is now parked.
    unsafe { resume_parked(cpu, u64::from(to.tid.0), next, frame, data, badge) }
}

/// Frees the stack of a thread that died before the switch away from it.
fn finish_switch() {
    let me = percpu::index() as usize;
    let dead = DEAD_PREV[me].swap(u64::MAX, Ordering::AcqRel);
    if dead == u64::MAX {
        return;
    }
    KTHREADS[dead as usize].store(core::ptr::null_mut(), Ordering::Release);
    let thread = THREADS.lock().get_mut(dead as usize).and_then(Option::take);
    if let Some(t) = thread {
        free_stack(t.kstack);
        if let Some(table) = TABLE.lock().as_mut() {
            let _ = table.reap(t.tid);
        }
        crate::process::thread_reaped(t.pid, t.tid);
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
    let me = percpu::index() as usize;
    let tid = current().expect("exit_current runs on a thread");
    let _ = with_table(&irq, |sched, table, inboxes| {
        sched.exit(table, inboxes, tid)
    });
    DEAD_PREV[me].store(u64::from(tid.0), Ordering::Release);
    reschedule(Decision::Reschedule);
    unreachable!("a dead thread was scheduled again");
}

/// Blocks the current thread until [`wake`]; returns after it is woken.
pub fn block_current() {
    let _ = block_current_on(sched::BlockedOn::Sleep, None);
}

/// Blocks the current thread on `on` (a `Reply(server)` wait lends this
/// thread's priority to the server: priority inheritance) and, if `hint` names
/// a thread, switches to it directly when the scheduler allows. Returns once
/// the thread is woken by [`wake`].
///
/// # Errors
/// What the scheduler refuses (e.g. a PI cycle: `SchedError::Deadlock`); the
/// thread then did not block.
pub fn block_current_on(
    on: sched::BlockedOn,
    hint: Option<ThreadId>,
) -> Result<(), sched::SchedError> {
    let irq = IrqGuard::new();
    let Some(tid) = current() else { return Ok(()) };
    let Some(decision) = with_table(&irq, |sched, table, inboxes| {
        sched.block(table, inboxes, tid, on)
    }) else {
        return Ok(());
    };
    let decision = decision?;
    let decision = match hint {
        Some(target) => Decision::SwitchTo(target).combine(decision),
        None => decision.combine(Decision::Reschedule),
    };
    reschedule(decision);
    Ok(())
}

/// As [`block_current_on`], for waits whose end is announced through a flag
/// (the IPC layer's per-thread result slots): `woken` is read under the
/// thread-table lock and, if it is already set, the thread does not block. A
/// waker that sets `woken` and then calls [`wake`] is therefore never lost,
/// whatever CPU it runs on: either the check sees the flag, or the thread is
/// blocked before `wake` can take the lock. With `deadline` (a TSC value) the
/// thread is also woken at the first timer tick at or after it. Returns when
/// the thread runs again; the caller re-checks its flag (wake-ups may be
/// spurious).
///
/// # Errors
/// As [`block_current_on`]; the thread then did not block.
pub fn block_current_unless_woken(
    on: sched::BlockedOn,
    hint: Option<ThreadId>,
    woken: &core::sync::atomic::AtomicBool,
    deadline: Option<u64>,
) -> Result<(), sched::SchedError> {
    let irq = IrqGuard::new();
    let Some(tid) = current() else { return Ok(()) };
    if let Some(deadline) = deadline {
        add_sleeper(tid, deadline);
    }
    // A deadline that passed before the thread blocked must not be lost
    // either (see DEADLINE_PASSED).
    let timed_out =
        || deadline.is_some() && deadline_flag(tid).is_some_and(|f| f.load(Ordering::Acquire));
    let blocked = with_table(&irq, |sched, table, inboxes| {
        if woken.load(Ordering::Acquire) || timed_out() {
            Ok(None)
        } else {
            sched.block(table, inboxes, tid, on).map(Some)
        }
    })
    .unwrap_or(Ok(None));
    if let Ok(Some(decision)) = blocked {
        let decision = match hint {
            Some(target) => Decision::SwitchTo(target).combine(decision),
            None => decision.combine(Decision::Reschedule),
        };
        reschedule(decision);
    }
    if deadline.is_some() {
        remove_sleeper(tid);
    }
    blocked.map(|_| ())
}

/// The IPC hand-off (a call delivered to a receiver waiting on this CPU, or
/// a reply to a caller of this CPU): makes the blocked thread `to` runnable,
/// blocks the current thread on `on` unless `woken` is already set (see
/// [`block_current_unless_woken`]), and switches straight to `to` when the
/// scheduler allows it (otherwise it picks). One thread-table-lock hold, and
/// IPIs only when another CPU must be told. Returns when the current thread
/// runs again; the caller re-checks its flag.
///
/// # Errors
/// What the scheduler refuses for the wait (e.g. `to` is dead); `to` is
/// runnable anyway and the current thread did not block.
pub fn ipc_handoff(
    to: ThreadId,
    on: sched::BlockedOn,
    woken: &core::sync::atomic::AtomicBool,
) -> Result<(), sched::SchedError> {
    let irq = IrqGuard::new();
    let Some(cpu) = percpu::current() else {
        return Ok(());
    };
    let Some(tid) = current_on(cpu) else {
        return Ok(());
    };
    let Some((next, targets, blocked)) = with_table(&irq, |sched, table, inboxes| {
        let woke = sched.wake(table, inboxes, to).unwrap_or(Decision::Stay);
        let blocked = if woken.load(Ordering::Acquire) {
            Ok(Decision::Stay)
        } else {
            sched
                .block(table, inboxes, tid, on)
                .map(|d| Decision::SwitchTo(to).combine(d))
        };
        let decision = woke.combine(*blocked.as_ref().unwrap_or(&Decision::Stay));
        let drained = sched.drain_inbox(table, inboxes).unwrap_or(Decision::Stay);
        let next = sched.apply(decision.combine(drained), rdtsc_ordered());
        (next, sched.take_ipi_targets(), blocked)
    }) else {
        return Ok(());
    };
    if !targets.is_empty() {
        kick(targets);
    }
    let prev = cpu.current_thread.load(Ordering::Acquire);
    let next_raw = next.map_or(u64::MAX, |t| u64::from(t.0));
    if prev != next_raw {
        switch_to(cpu, next_raw);
        finish_switch();
    }
    blocked.map(|_| ())
}

/// The scheduler half of the IPC fast path: the current thread `me` blocks
/// on `on` and the blocked thread `to` of this CPU runs, in one checked step
/// ([`sched::Scheduler::handoff`]), at TSC time `now`. Returns the thread to
/// switch to (`to` unless something more urgent waits).
///
/// # Errors
/// What the scheduler refuses; nothing changed.
#[inline(never)]
pub fn ipc_fast_handoff(
    me: ThreadId,
    on: sched::BlockedOn,
    to: ThreadId,
    now: u64,
) -> Result<ThreadId, sched::SchedError> {
    let irq = IrqGuard::new();
    let (next, targets) = with_table(&irq, |sched, table, inboxes| {
        let next = sched.handoff(table, inboxes, me, on, to, now)?;
        Ok((
            next,
            sched.has_ipi_targets().then(|| sched.take_ipi_targets()),
        ))
    })
    .unwrap_or_else(|| Err(sched::SchedError::NoSuchCpu(CpuId(percpu::index() as u16))))?;
    if let Some(targets) = targets {
        kick(targets);
    }
    Ok(next)
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
/// general wake-up on `on` (see [`arch::prepare_parked_resume`]).
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

/// The CPU a thread belongs to.
pub fn cpu_of(tid: ThreadId) -> Option<u32> {
    TABLE
        .lock()
        .as_ref()
        .and_then(|table| table.get(tid).ok())
        .map(|t| u32::from(t.cpu().0))
}

/// The effective (inherited) and base priority of a thread.
pub fn priorities_of(tid: ThreadId) -> Option<(u8, u8)> {
    let guard = TABLE.lock();
    let table = guard.as_ref()?;
    let thread = table.get(tid).ok()?;
    let mut effective = thread.effective_priority();
    // A server running on a client's behalf (a donation not yet in the
    // books) has the priority the client lends it once they are.
    if table.priority_inheritance() {
        for (_, client, _) in pending_donations().filter(|&(_, _, server)| server == tid) {
            if let Ok(client) = table.get(client) {
                effective = effective.max(client.effective_priority());
            }
        }
    }
    Some((effective.0, thread.base_priority().0))
}

/// How many same-CPU calls ran their server by scheduling-context donation
/// since boot (all CPUs).
pub fn donations() -> u64 {
    (0..MAX_CPUS as u32)
        .filter_map(percpu::of)
        .map(|cpu| cpu.ipc_donations.load(Ordering::Relaxed))
        .sum()
}

/// Makes a blocked thread runnable again (on its own CPU, through its inbox
/// and an IPI when that is another CPU) and returns the scheduling decision
/// for this CPU. Interrupts must be off.
fn wake_decision(irq: &IrqGuard, tid: ThreadId) -> Decision {
    let Some((decision, targets)) = with_table(irq, |sched, table, inboxes| {
        let decision = sched.wake(table, inboxes, tid).unwrap_or(Decision::Stay);
        (decision, sched.take_ipi_targets())
    }) else {
        return Decision::Stay;
    };
    kick(targets);
    decision
}

/// Makes a blocked thread runnable again (on its own CPU) and, when it runs on
/// this CPU and should preempt, switches to it now.
pub fn wake_and_maybe_switch(tid: ThreadId) {
    let irq = IrqGuard::new();
    let decision = wake_decision(&irq, tid);
    if decision != Decision::Stay {
        reschedule(decision);
    }
}

/// Makes a blocked thread runnable again (on its own CPU); a preemption it
/// calls for happens at this CPU's next reschedule point.
pub fn wake(tid: ThreadId) {
    let irq = IrqGuard::new();
    let _ = wake_decision(&irq, tid);
}

/// Gives up the rest of the slice.
pub fn yield_now() {
    let irq = IrqGuard::new();
    let Some(decision) = with_sched(&irq, Scheduler::yield_now) else {
        return;
    };
    reschedule(decision);
}

/// The timer tick: wake sleepers, charge the slice, preempt when it says so.
pub fn on_timer_tick() {
    wake_sleepers(rdtsc_ordered());
    let irq = IrqGuard::new();
    let Some(decision) = with_sched(&irq, |sched| sched.tick(rdtsc_ordered())) else {
        return;
    };
    drop(irq);
    if decision != Decision::Stay {
        reschedule(decision);
    }
}

/// The idle context of a CPU: run threads when there are any, halt otherwise.
pub fn idle_loop() -> ! {
    let cpu = percpu::index();
    loop {
        x86_64::instructions::interrupts::disable();
        reschedule(Decision::Reschedule);
        crate::arch::x86_64::cpu::idle_wait(cpu);
    }
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
    THREADS.lock().iter().filter(|t| t.is_some()).count()
}

/// Times thread `tid` was switched in (0 for an unknown thread).
pub fn switch_ins(tid: ThreadId) -> u64 {
    THREADS
        .lock()
        .get(tid.0 as usize)
        .and_then(|t| t.as_ref())
        .map_or(0, |t| t.switch_ins.load(Ordering::Relaxed))
}

/// Threads sleeping until a TSC deadline, by the CPU they sleep on (each
/// CPU's tick looks at its own list only; a list is taken by another CPU
/// only to drop a sleeper that moved).
static SLEEPERS: [crate::sync::IrqMutex<Vec<(u64, ThreadId)>>; MAX_CPUS] =
    [const { crate::sync::IrqMutex::new(Vec::new()) }; MAX_CPUS];
/// The [`SLEEPERS`] list each thread was put on.
static SLEEPER_CPU: [core::sync::atomic::AtomicU32; MAX_THREADS] =
    [const { core::sync::atomic::AtomicU32::new(0) }; MAX_THREADS];
/// Per thread: its deadline passed (set by [`wake_sleepers`] before it wakes
/// the thread). A sleeper checks it under the thread-table lock before
/// blocking, so a tick that fires between queueing the sleeper and blocking
/// it (on any CPU) is never lost.
static DEADLINE_PASSED: [core::sync::atomic::AtomicBool; MAX_THREADS] =
    [const { core::sync::atomic::AtomicBool::new(false) }; MAX_THREADS];

fn deadline_flag(tid: ThreadId) -> Option<&'static core::sync::atomic::AtomicBool> {
    DEADLINE_PASSED.get(tid.0 as usize)
}

/// Queues `tid` (the current thread) to be woken at the first tick of this
/// CPU at or after `deadline`.
fn add_sleeper(tid: ThreadId, deadline: u64) {
    let (Some(flag), Some(list)) = (deadline_flag(tid), SLEEPER_CPU.get(tid.0 as usize)) else {
        return;
    };
    flag.store(false, Ordering::Relaxed);
    let me = percpu::index();
    list.store(me, Ordering::Relaxed);
    SLEEPERS[me as usize].lock().push((deadline, tid));
}

/// Takes `tid` off the sleeper list it was put on.
fn remove_sleeper(tid: ThreadId) {
    if let Some(list) = SLEEPER_CPU.get(tid.0 as usize) {
        let cpu = list.load(Ordering::Relaxed) as usize;
        SLEEPERS[cpu].lock().retain(|&(_, t)| t != tid);
    }
}

/// Blocks the current thread until the TSC passes `deadline` (checked on
/// every timer tick, so the resolution is one tick). It may return early
/// when something else wakes the thread (a kill, for one).
pub fn sleep_until(deadline: u64) {
    let Some(tid) = current() else { return };
    let Some(flag) = deadline_flag(tid) else {
        return;
    };
    let _ = block_current_unless_woken(sched::BlockedOn::Sleep, None, flag, Some(deadline));
}

/// Ends the sleep of `tid` as if its deadline had passed and makes it
/// runnable if it is blocked (its process was told to die: it leaves at the
/// end of its syscall). A thread blocked on a flag that is still clear
/// blocks again, so only waits that also read the deadline flag end.
pub fn interrupt(tid: ThreadId) {
    if let Some(flag) = deadline_flag(tid) {
        flag.store(true, Ordering::Release);
    }
    wake(tid);
}

/// Wakes every sleeper of this CPU whose deadline passed (called on each
/// timer tick).
fn wake_sleepers(now: u64) {
    let due: Vec<ThreadId> = {
        let mut sleepers = SLEEPERS[percpu::index() as usize].lock();
        if sleepers.is_empty() {
            return;
        }
        let due = sleepers
            .iter()
            .filter(|(d, _)| *d <= now)
            .map(|&(_, t)| t)
            .collect();
        sleepers.retain(|(d, _)| *d > now);
        due
    };
    for tid in due {
        // The flag first: a sleeper not blocked yet sees it and stays up.
        if let Some(flag) = deadline_flag(tid) {
            flag.store(true, Ordering::Release);
        }
        wake(tid);
    }
}
