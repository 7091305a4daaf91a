//! The kernel's IPC layer: capability-checked synchronous IPC,
//! wiring the host-tested `ipc` crate to threads, the scheduler and the
//! syscall ABI.
//!
//! What lives where:
//! - `ipc::endpoint::IpcState` decides (capabilities, endpoint queues,
//!   who serves whom) and returns `Action`s; this module carries them out.
//! - One global [`IpcState`] under a spin lock ([`KIPC`]), created lazily;
//!   every process gets its capability space at spawn ([`on_spawn`]) and
//!   loses it, with everything derived from it, when it is marked dead
//!   ([`on_process_exit`]). A kernel thread becomes an `ipc` thread at its
//!   first IPC syscall.
//! - Each kernel thread has a result [`ResultSlot`] (status, four data words,
//!   badge) written by whoever completes its operation, and a `woken` flag.
//!   A blocked thread resumes inside its syscall and reads its slot.
//!
//! The blocking protocol (no lost wake-ups across CPUs): a waker writes the
//! slot and sets `woken` under [`KIPC`], releases it, then calls
//! [`task::wake`]; the waiter blocks with
//! [`task::block_current_unless_woken`], which reads the flag under the
//! thread-table lock (the one [`task::wake`] takes), and loops until the
//! flag is set (so stray wake-ups are harmless). Syscalls run with
//! interrupts off, so nothing else runs on this CPU between releasing
//! [`KIPC`] and blocking.
//!
//! The fast path (`sync.rs`) is seL4's: `ipc`'s guards (mutating nothing),
//! the kernel's last check, the point of no return, the commit, and a
//! direct switch to the partner. `ipc.fastpath=off` on the command line
//! turns it off.
//!
//! Ids: `ipc` process ids map to kernel pids through [`Kipc::procs`]; an
//! `ipc` thread has its kernel thread's id ([`tref_of`]), and
//! [`Kipc::threads`] holds each one's process.

pub(crate) mod audit;
mod calls;
mod caps;
mod fastpath;
pub mod shm;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ipc::IpcError;
use ipc::cap::{CapRegistry, CapTarget, CapToken, EndpointId, IpcCapability, ProcessId};
use ipc::endpoint::{CpuId, IpcState, ThreadRef};
use sched::ThreadId;

use crate::arch::x86_64::cpu::rdtsc;
use crate::task::{self, MAX_THREADS, Pid};

pub use audit::dump as audit_dump;

/// Capability slots per process.
pub const SLOTS_PER_SPACE: u32 = 1024;
/// Capability objects in the whole system.
const MAX_CAP_OBJECTS: u32 = 1 << 16;
/// Default and smallest useful `max_message_size` of a new endpoint: the four
/// data words of a small message.
pub const SMALL_MESSAGE_BYTES: u64 = ipc::endpoint::SMALL_PAYLOAD_BYTES;

/// The syscall opcodes this module serves (see `ipc::abi::Opcode`).
pub mod op {
    use ipc::abi::Opcode;
    /// `call` (the design's `send_recv`).
    pub const CALL: u32 = Opcode::Call as u32;
    /// `recv` (flags: NONBLOCK, TIMEOUT with a TSC deadline in data word 0).
    pub const RECV: u32 = Opcode::Recv as u32;
    /// `reply` to the caller being served.
    pub const REPLY: u32 = Opcode::Reply as u32;
    /// `reply` then `recv`, in one syscall.
    pub const REPLY_RECV: u32 = Opcode::ReplyRecv as u32;
    /// Non-blocking `send` to a waiting receiver.
    pub const SEND: u32 = Opcode::Send as u32;
    /// Creates an endpoint.
    pub const ENDPOINT_CREATE: u32 = Opcode::EndpointCreate as u32;
    /// Grants a derived capability to another process.
    pub const CAP_GRANT: u32 = Opcode::CapGrant as u32;
    /// Derives a capability in the caller's space.
    pub const CAP_DERIVE: u32 = Opcode::CapDerive as u32;
    /// Revokes a capability and everything derived from it.
    pub const CAP_REVOKE: u32 = Opcode::CapRevoke as u32;
    /// Describes a capability.
    pub const CAP_INFO: u32 = Opcode::CapInfo as u32;
    /// Reads an endpoint's metrics.
    pub const METRICS_READ: u32 = Opcode::MetricsRead as u32;
    /// Prints the audit rings as `@audit v1` lines.
    pub const AUDIT_DUMP: u32 = Opcode::AuditDump as u32;
    /// Creates a shared memory region.
    pub const REGION_CREATE: u32 = Opcode::RegionCreate as u32;
    /// Maps a region.
    pub const REGION_MAP: u32 = Opcode::RegionMap as u32;
    /// Unmaps a region.
    pub const REGION_UNMAP: u32 = Opcode::RegionUnmap as u32;
    /// Moves a region to another process (or sends it as a large message).
    pub const REGION_TRANSFER: u32 = Opcode::RegionTransfer as u32;
    /// Creates an asynchronous channel.
    pub const CHANNEL_CREATE: u32 = Opcode::ChannelCreate as u32;
    /// Maps a channel's ring.
    pub const CHANNEL_CONNECT: u32 = Opcode::ChannelConnect as u32;
    /// Waits for a channel's notification.
    pub const NOTIFY_WAIT: u32 = Opcode::NotifyWait as u32;
    /// Signals a channel's notification.
    pub const NOTIFY_SIGNAL: u32 = Opcode::NotifySignal as u32;

    /// Whether `opcode` is served by [`super::syscall`].
    pub const fn is_ipc(opcode: u32) -> bool {
        matches!(
            opcode,
            CALL | RECV
                | REPLY
                | REPLY_RECV
                | SEND
                | ENDPOINT_CREATE
                | CAP_GRANT
                | CAP_DERIVE
                | CAP_REVOKE
                | CAP_INFO
                | METRICS_READ
                | AUDIT_DUMP
                | REGION_CREATE
                | REGION_MAP
                | REGION_UNMAP
                | REGION_TRANSFER
                | CHANNEL_CREATE
                | CHANNEL_CONNECT
                | NOTIFY_WAIT
                | NOTIFY_SIGNAL
        )
    }
}

/// The `ipc.fastpath` setting.
static FASTPATH: AtomicBool = AtomicBool::new(true);

/// [`FASTPATH`], once the IPC state exists: set (under [`KIPC`]) when
/// [`with_kipc`] creates it, which happens once (it is never destroyed). The
/// fast path tests this one flag and so needs no test of the state's
/// existence ([`fastpath::fast`]).
static FAST_READY: AtomicBool = AtomicBool::new(false);

/// How many calls and `reply_recv`s took the fast path since boot (all CPUs;
/// per-CPU counters: a shared one would bounce between CPUs). A fast call
/// either donated (counted as a donation only: one counter less on the
/// fast path) or switched by hand-off.
pub fn fast_path_hits() -> (u64, u64) {
    (0..crate::percpu::MAX_CPUS as u32)
        .filter_map(crate::percpu::of)
        .fold((0, 0), |(c, r), cpu| {
            (
                c + cpu.ipc_donations.load(Ordering::Relaxed)
                    + cpu.ipc_fast_handoff_calls.load(Ordering::Relaxed),
                r + cpu.ipc_fast_replies.load(Ordering::Relaxed),
            )
        })
}

/// How many of [`fast_path_hits`] switched by the scheduler's checked
/// hand-off rather than by a donation or its end (all CPUs).
pub fn fast_path_handoffs() -> u64 {
    (0..crate::percpu::MAX_CPUS as u32)
        .filter_map(crate::percpu::of)
        .map(|cpu| {
            cpu.ipc_fast_handoff_calls.load(Ordering::Relaxed)
                + cpu.ipc_fast_handoff_replies.load(Ordering::Relaxed)
        })
        .sum()
}

/// Turns the IPC fast path on or off (`ipc.fastpath=on|off`).
pub fn set_fastpath(on: bool) {
    let state = KIPC.lock();
    FASTPATH.store(on, Ordering::Relaxed);
    FAST_READY.store(on && state.is_some(), Ordering::Relaxed);
}

/// Whether the fast path is on.
pub fn fastpath() -> bool {
    FASTPATH.load(Ordering::Relaxed)
}

/// The `ipc.fastpath=on|off` setting of a kernel command line (default on;
/// a bad value is reported and ignored).
pub fn fastpath_from_cmdline(line: &str) -> bool {
    crate::cmdline::on_off(line, "ipc.fastpath", true)
}

/// The outcome of a blocking IPC operation: the four data words and the
/// badge it received, or why it failed.
pub type IpcResult = Result<([u64; 4], u64), IpcError>;

/// Where a blocked thread finds its result (one in each thread's record,
/// `task::KThread`).
#[repr(align(64))]
pub(crate) struct ResultSlot {
    /// Set (under [`KIPC`]) once the result below is final; whoever sets it
    /// writes `status` first (the fast path clears only this flag).
    woken: AtomicBool,
    /// 0 or an `IpcError` code.
    status: AtomicU64,
    data: [AtomicU64; 4],
    badge: AtomicU64,
    /// TSC when this thread's last call was made (queueing latency).
    sent_tsc: AtomicU64,
}

impl ResultSlot {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        Self {
            woken: AtomicBool::new(false),
            status: AtomicU64::new(0),
            data: [const { AtomicU64::new(0) }; 4],
            badge: AtomicU64::new(0),
            sent_tsc: AtomicU64::new(0),
        }
    }

    /// Writes a delivered message (the waker holds [`KIPC`]).
    fn deliver(&self, data: [u64; 4], badge: u64) {
        for (word, value) in self.data.iter().zip(data) {
            word.store(value, Ordering::Relaxed);
        }
        self.badge.store(badge, Ordering::Relaxed);
    }

    /// The delivered message.
    fn message(&self) -> ([u64; 4], u64) {
        let data = [0, 1, 2, 3].map(|i| self.data[i].load(Ordering::Relaxed));
        (data, self.badge.load(Ordering::Relaxed))
    }

    /// The final status.
    fn result(&self) -> Result<(), IpcError> {
        match self.status.load(Ordering::Acquire) {
            0 => Ok(()),
            code => Err(IpcError::from_code(code).unwrap_or(IpcError::InvalidArgument)),
        }
    }
}

/// The IPC result flag of kernel thread `tid` (its slot's `woken`: set once
/// the result of its operation is final), for the scheduler's view of a
/// pending donation (`task::materialize`).
pub fn result_flag(tid: ThreadId) -> &'static AtomicBool {
    &slot(tid).woken
}

/// The result slot of kernel thread `tid`.
fn slot(tid: ThreadId) -> &'static ResultSlot {
    // Thread ids are below MAX_THREADS (the scheduler table's size); an id
    // out of range would be a kernel bug.
    task::thread(tid)
        .expect("a thread id below MAX_THREADS")
        .ipc_slot()
}

/// The `ipc` thread of kernel thread `tid` (created by `Kipc::thread_for`):
/// the same index, so that neither direction needs a table (the fast path
/// translates both ways once per operation). An `ipc` thread exists exactly
/// while the kernel's `Kipc::threads` entry of its id does (both are made
/// and dropped under one hold of [`KIPC`]).
#[inline(always)]
fn tref_of(tid: ThreadId) -> ThreadRef {
    ThreadRef(tid.0)
}

/// The kernel side of an `ipc` thread.
#[derive(Clone, Copy, Debug)]
struct ThreadEntry {
    tref: ThreadRef,
    pid: Pid,
    process: ProcessId,
}

/// The kernel side of an `ipc` process.
struct ProcEntry {
    id: ProcessId,
    /// Endpoint (and its incarnation) of every endpoint capability token
    /// this process was given, so that a call through a token that died with
    /// its endpoint's owner reports `ProcessNotFound` rather than
    /// `InvalidCapability`. Consulted on errors only.
    endpoints_of_tokens: BTreeMap<u64, (EndpointId, u64)>,
}

/// The kernel side of an endpoint.
struct EndpointInfo {
    /// Bumped at every creation in this id (ids are reused).
    incarnation: u64,
    /// Process that created it (it dies with it).
    owner: Pid,
    /// The owner died: the endpoint is gone.
    owner_dead: bool,
    /// A receive right was ever granted to another process (so the owner
    /// is not the only possible receiver).
    foreign_receiver: bool,
}

/// The IPC state and the maps between its ids and the kernel's.
pub(crate) struct Kipc {
    state: IpcState,
    procs: BTreeMap<Pid, ProcEntry>,
    /// `ipc` thread of each kernel thread id.
    threads: Vec<Option<ThreadEntry>>,
    endpoints: Vec<EndpointInfo>,
    incarnations: u64,
    /// Nanoseconds per TSC tick, 32.32 fixed point.
    ns_per_tick: u64,
    /// Shared regions and channels.
    shm: shm::Shm,
}

static KIPC: crate::sync::IrqMutex<Option<Kipc>> = crate::sync::IrqMutex::new(None);

impl Kipc {
    fn new() -> Result<Self, IpcError> {
        let hz = crate::cpus::tsc_hz().max(1);
        let registry = CapRegistry::new(MAX_CAP_OBJECTS, hz)?;
        let mut threads = Vec::new();
        threads.resize(MAX_THREADS, None);
        Ok(Self {
            state: IpcState::new(registry, SLOTS_PER_SPACE),
            procs: BTreeMap::new(),
            threads,
            endpoints: Vec::new(),
            incarnations: 0,
            ns_per_tick: u64::try_from((1_000_000_000u128 << 32) / u128::from(hz))
                .unwrap_or(u64::MAX),
            shm: shm::Shm::default(),
        })
    }

    /// TSC ticks to nanoseconds (one multiplication: this runs per message).
    fn tsc_to_ns(&self, ticks: u64) -> u64 {
        u64::try_from((u128::from(ticks) * u128::from(self.ns_per_tick)) >> 32).unwrap_or(u64::MAX)
    }

    /// The `ipc` thread of kernel thread `tid` of process `pid`, created at
    /// its first use.
    fn thread_for(&mut self, tid: ThreadId) -> Result<ThreadEntry, IpcError> {
        let index = tid.0 as usize;
        if let Some(Some(entry)) = self.threads.get(index) {
            return Ok(*entry);
        }
        let pid = task::current_pid().ok_or(IpcError::ProcessNotFound)?;
        let process = self.procs.get(&pid).ok_or(IpcError::ProcessNotFound)?.id;
        // Threads are pinned to the CPU they were spawned on, which is the
        // one running this syscall.
        let slot = self.threads.get_mut(index).ok_or(IpcError::OutOfMemory)?;
        let tref = tref_of(tid);
        self.state
            .create_thread_at(tref, process, CpuId(crate::cpu_index()))?;
        let entry = ThreadEntry { tref, pid, process };
        *slot = Some(entry);
        Ok(entry)
    }

    /// The kernel thread of an `ipc` thread, if it still has one (a thread
    /// of a dying process leaves the kernel's table first).
    fn tid_of(&self, tref: ThreadRef) -> Option<ThreadId> {
        let tid = ThreadId(tref.0);
        self.threads.get(tid.0 as usize)?.map(|_| tid)
    }

    /// The capability `token` names in `process`'s space (no rights checked).
    fn capability(
        &self,
        process: ProcessId,
        token: CapToken,
        now: u64,
    ) -> Result<&IpcCapability, IpcError> {
        self.state
            .space(process)
            .ok_or(IpcError::ProcessNotFound)?
            .lookup(self.state.registry(), token, now)
    }

    /// The endpoint `token` designates in `process`'s space, if it is a
    /// valid endpoint capability.
    fn endpoint_of(&self, process: ProcessId, token: CapToken, now: u64) -> Option<EndpointId> {
        match self.capability(process, token, now).ok()?.target() {
            CapTarget::Endpoint(endpoint) => Some(endpoint),
            _ => None,
        }
    }

    fn endpoint_info(&self, endpoint: EndpointId) -> Option<&EndpointInfo> {
        self.endpoints.get(endpoint.0 as usize)
    }

    /// Refines an `InvalidCapability` from an operation through `token`: a
    /// token that died because its endpoint's owner died reports
    /// `ProcessNotFound`.
    fn refine(&self, pid: Pid, token: CapToken, error: IpcError) -> IpcError {
        if error != IpcError::InvalidCapability {
            return error;
        }
        let Some(&(endpoint, incarnation)) = self
            .procs
            .get(&pid)
            .and_then(|p| p.endpoints_of_tokens.get(&token.0))
        else {
            return error;
        };
        match self.endpoint_info(endpoint) {
            Some(info) if info.incarnation == incarnation && !info.owner_dead => error,
            _ => IpcError::ProcessNotFound,
        }
    }

    /// Remembers that `token` in `pid`'s space designates `endpoint`.
    fn remember(&mut self, pid: Pid, token: CapToken, endpoint: EndpointId) {
        let Some(incarnation) = self.endpoint_info(endpoint).map(|i| i.incarnation) else {
            return;
        };
        let Some(entry) = self.procs.get_mut(&pid) else {
            return;
        };
        // Tokens of revoked slots never come back (generations), so the map
        // only grows; prune tokens that no longer resolve now and then.
        if entry.endpoints_of_tokens.len() >= 4 * SLOTS_PER_SPACE as usize
            && let Some(space) = self.state.space(entry.id)
        {
            let registry = self.state.registry();
            entry
                .endpoints_of_tokens
                .retain(|&t, _| space.lookup(registry, CapToken(t), 0).is_ok());
        }
        entry
            .endpoints_of_tokens
            .insert(token.0, (endpoint, incarnation));
    }
}

/// Writes the status of every `Wake` among `actions` into its thread's
/// result slot and sets its `woken` flag (the caller holds [`KIPC`]), and
/// collects the threads to hand to [`task::wake`] once [`KIPC`] is released.
fn post_wakes(
    k: &Kipc,
    actions: impl IntoIterator<Item = ipc::endpoint::Action>,
    wakes: &mut Vec<ThreadId>,
) {
    for action in actions {
        if let ipc::endpoint::Action::Wake { thread, status } = action
            && let Some(tid) = k.tid_of(thread)
        {
            let s = slot(tid);
            s.status
                .store(ipc::error::status_from_result(status), Ordering::Relaxed);
            s.woken.store(true, Ordering::Release);
            wakes.push(tid);
        }
    }
}

/// Runs `f` on the IPC state, creating it at first use.
fn with_kipc<R>(f: impl FnOnce(&mut Kipc) -> Result<R, IpcError>) -> Result<R, IpcError> {
    let mut guard = KIPC.lock();
    if guard.is_none() {
        *guard = Some(Kipc::new()?);
        FAST_READY.store(fastpath(), Ordering::Relaxed);
    }
    match guard.as_mut() {
        Some(kipc) => f(kipc),
        None => Err(IpcError::OutOfMemory),
    }
}

/// A new process `pid` gets an empty capability space (called by
/// `process::spawn` before its first thread can run).
///
/// # Errors
/// `OutOfMemory` if `ipc` process ids ran out.
pub fn on_spawn(pid: Pid) -> Result<(), IpcError> {
    with_kipc(|k| {
        let id = k.state.create_process()?;
        k.procs.insert(
            pid,
            ProcEntry {
                id,
                endpoints_of_tokens: BTreeMap::new(),
            },
        );
        Ok(())
    })
}

/// Process `pid` was marked dead (`process::set_exit`): its threads leave
/// IPC (a blocked one wakes with `ProcessNotFound` and dies at the end of its
/// syscall), its endpoints are destroyed (their queued callers and waiting
/// receivers wake with an error), the callers its threads were serving wake
/// with `ProcessNotFound`, and its capability space is destroyed, which
/// revokes everything derived from its capabilities in every other space.
pub fn on_process_exit(pid: Pid) {
    let mut wakes = Vec::new();
    let mut deferred = shm::Deferred::default();
    {
        let mut guard = KIPC.lock();
        let Some(k) = guard.as_mut() else { return };
        let Some(process) = k.procs.remove(&pid) else {
            return;
        };
        for index in 0..k.threads.len() {
            let Some(entry) = k.threads[index].filter(|e| e.pid == pid) else {
                continue;
            };
            // u32 fits: the table has MAX_THREADS entries.
            let tid = ThreadId(index as u32);
            let waiting = k
                .state
                .thread_state(entry.tref)
                .is_some_and(|s| s != ipc::endpoint::ThreadState::Running);
            if waiting {
                let s = slot(tid);
                s.status
                    .store(IpcError::ProcessNotFound.code(), Ordering::Relaxed);
                s.woken.store(true, Ordering::Release);
                wakes.push(tid);
            }
            k.threads[index] = None;
        }
        for info in &mut k.endpoints {
            if info.owner == pid {
                info.owner_dead = true;
            }
        }
        let actions = k.state.on_process_death(process.id).unwrap_or_default();
        post_wakes(k, actions, &mut wakes);
        // Its mappings go, and the regions and channels it owned.
        shm::sweep(k, &mut deferred);
    }
    deferred.run();
    for tid in wakes {
        task::wake(tid);
    }
}

/// `call` and `reply_recv` without flags (the dispatcher tries this first):
/// the fast path, or the general operation under the same IPC-lock hold
/// when a fast-path guard refuses ([`fastpath::fast`]). `None`, with nothing
/// changed, when the fast path is off or IPC state for this thread does not
/// exist yet; else the operation's result words and badge.
///
/// `XSAVE` and `PCID` are this CPU's (see `crate::syscall::fast_dispatch`).
///
/// # Safety
/// Called in a system call (so this CPU's per-CPU data is installed: the
/// syscall entry found its kernel stack through it).
pub unsafe fn fast_syscall<const XSAVE: bool, const PCID: bool>(
    call: bool,
    frame: &crate::arch::x86_64::idt::TrapFrame,
) -> Option<IpcResult> {
    if !FAST_READY.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: a system call (this function's contract).
    let cpu = unsafe { crate::percpu::current_installed() };
    // SAFETY: `FAST_READY` is set (above).
    Some(unsafe { fastpath::fast::<XSAVE, PCID>(cpu, task::current_in_syscall(cpu), call, frame) })
}

/// The result of the fast-path `call` or `reply_recv` of the current thread,
/// parked waiting on `on` and now resumed through its kernel stack (see
/// `task::park_and_switch`): the general wake-up protocol.
///
/// # Errors
/// The operation's `IpcError`.
pub fn resumed_from_park(on: sched::BlockedOn) -> IpcResult {
    let tid = task::current().ok_or(IpcError::ProcessNotFound)?;
    calls::resumed(tid, on)
}

/// Serves the IPC syscall `opcode` for the current thread: `capability`
/// (`rdi`), `flags` (the high half of `rsi`) and `data` (`rdx r10 r8 r9`).
/// Returns the data words; the badge for `rsi` goes to `badge`.
///
/// # Errors
/// The operation's `IpcError`.
pub fn syscall(
    opcode: u32,
    capability: u64,
    flags: u32,
    data: [u64; 4],
    badge: &mut u64,
) -> Result<[u64; 4], IpcError> {
    let tid = task::current().ok_or(IpcError::ProcessNotFound)?;
    let token = CapToken(capability);
    let flags = ipc::abi::SyscallFlags::from_bits(flags).ok_or(IpcError::InvalidArgument)?;
    match opcode {
        op::CALL => calls::call(tid, token, flags, data),
        op::RECV => calls::recv(tid, token, flags, data).map(|(d, b)| {
            *badge = b;
            d
        }),
        op::REPLY_RECV => calls::reply_recv(tid, token, flags, data).map(|(d, b)| {
            *badge = b;
            d
        }),
        op::REPLY => calls::reply(tid, flags, data),
        op::SEND => calls::send(tid, token, flags, data),
        op::ENDPOINT_CREATE => caps::endpoint_create(tid, data),
        op::CAP_GRANT => caps::grant(tid, token, data),
        op::CAP_DERIVE => caps::derive(tid, token, data),
        op::CAP_REVOKE => caps::revoke(tid, token),
        op::CAP_INFO => caps::info(tid, token),
        op::METRICS_READ => caps::metrics_read(tid, token, data).map(|(d, throughput)| {
            *badge = throughput;
            d
        }),
        op::AUDIT_DUMP => Ok(audit::dump()),
        op::REGION_CREATE => shm::region_create(tid, data),
        op::REGION_MAP => shm::region_map(tid, token, data),
        op::REGION_UNMAP => shm::region_unmap(tid, token, data),
        op::REGION_TRANSFER => shm::region_transfer(tid, token, data),
        op::CHANNEL_CREATE => shm::channel_create(tid, data),
        op::CHANNEL_CONNECT => shm::channel_connect(tid, token),
        op::NOTIFY_WAIT => shm::notify_wait(tid, token, flags, data),
        op::NOTIFY_SIGNAL => shm::notify_signal(tid, token, data),
        _ => Err(IpcError::InvalidArgument),
    }
}

/// The TSC now, for capability expiry, rate buckets and endpoint metrics:
/// read without a fence, since none of them needs the read ordered after
/// earlier loads (a stamp a few instructions early changes nothing).
fn now() -> u64 {
    rdtsc()
}

/// Live `ipc` processes and threads (for leak checks in tests).
pub fn census() -> (usize, usize) {
    let guard = KIPC.lock();
    guard.as_ref().map_or((0, 0), |k| {
        (
            k.state.process_count(),
            k.threads.iter().filter(|t| t.is_some()).count(),
        )
    })
}

/// Live endpoints and the length of the kernel's endpoint table (for leak
/// checks in tests: both stay bounded by the endpoints alive at once).
pub fn endpoint_census() -> (usize, usize) {
    let guard = KIPC.lock();
    guard
        .as_ref()
        .map_or((0, 0), |k| (k.state.endpoint_count(), k.endpoints.len()))
}
