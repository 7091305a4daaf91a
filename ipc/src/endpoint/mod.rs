//! The synchronous endpoint state machine, independent of the kernel.
//!
//! [`IpcState`] holds the capability registry, one [`CapSpace`] per process,
//! the threads that take part in IPC and the endpoints. Each operation either
//! fails with an [`IpcError`] and changes nothing, or changes the state and
//! returns the [`Action`]s the kernel must carry out (copy registers, block,
//! wake, switch). The thread that made the syscall resumes with status `0`
//! unless an action blocks it.
//!
//! Operations live in `ops` (call, send, recv, reply, reply_recv), `death`
//! (timeouts, thread and process death) and `fastpath` (seL4-style
//! plan/commit for a call to a receiver waiting on the same CPU).
//!
//! Ids are indices into tables of `Option`s; freed ids are reused. A free
//! endpoint id comes off a free list in O(1); finding a free process or
//! thread id scans its table (slow path only); using an id is one index.
//!
//! An endpoint lives while a capability to it does: it counts the live
//! capabilities that name it, and the revocation or death that takes the
//! count to zero destroys it (waking everything queued on it). A thread
//! waiting on an endpoint whose process no longer holds the right it waits
//! with is woken with [`IpcError::InvalidCapability`].

mod death;
mod fastpath;
mod ops;
mod waiters;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use arrayvec::ArrayVec;

pub use fastpath::{FastPlan, Refused, Slow};
pub use ops::RecvMode;

use crate::cap::{
    CapRegistry, CapSpace, CapTarget, CapToken, EndpointId, IpcLimits, IpcPermissions, ProcessId,
};
use crate::error::IpcError;
use crate::message::SmallMessage;
use crate::metrics::IpcMetrics;

/// Payload bytes of a small message (four words), as charged to a
/// capability's `max_message_size` and bandwidth limit.
pub const SMALL_PAYLOAD_BYTES: u64 = 32;

/// A thread taking part in IPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadRef(pub u32);

/// A logical CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(pub u32);

/// What a thread is doing, as far as IPC knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadState {
    /// Not blocked in IPC.
    Running,
    /// Queued on `endpoint` with a call whose message and badge wait here.
    Calling {
        /// The endpoint called.
        endpoint: EndpointId,
        /// The message to deliver.
        message: SmallMessage,
        /// The badge of the capability used.
        badge: u64,
    },
    /// Waiting on `endpoint` for a message, until `deadline` (a TSC value).
    Receiving {
        /// The endpoint received on.
        endpoint: EndpointId,
        /// When the wait times out, if ever.
        deadline: Option<u64>,
    },
    /// Waiting for `server` to reply.
    AwaitingReply {
        /// The thread that received the call.
        server: ThreadRef,
    },
}

/// One thing the kernel must do after an operation, in list order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Copy `message`'s data words into `to`'s return registers and `badge`
    /// into its `rsi` (see [`crate::abi`]).
    Deliver {
        /// Sender.
        from: ThreadRef,
        /// Receiver.
        to: ThreadRef,
        /// What was sent.
        message: SmallMessage,
        /// Badge of the sender's capability (`0` for replies).
        badge: u64,
    },
    /// Take `thread` off its CPU; arm a timer for `deadline` if there is one
    /// and call [`IpcState::timeout`] when it fires.
    Block {
        /// The thread to block.
        thread: ThreadRef,
        /// TSC deadline of the wait.
        deadline: Option<u64>,
    },
    /// Make `thread` runnable; its syscall returns `status`.
    Wake {
        /// The thread to wake.
        thread: ThreadRef,
        /// Its syscall's result.
        status: Result<(), IpcError>,
    },
    /// Switch to `thread` now, on this CPU, without a scheduler pass.
    SwitchTo {
        /// The thread to run.
        thread: ThreadRef,
    },
}

/// The actions of one operation (at most four: deliver, block, wake, switch).
pub type Actions = ArrayVec<Action, 4>;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Thread {
    process: ProcessId,
    cpu: CpuId,
    state: ThreadState,
    /// The caller this thread has received and must reply to.
    serving: Option<ThreadRef>,
    /// The receiver queued behind this one on its endpoint (see
    /// [`waiters`]).
    next_waiter: Option<ThreadRef>,
    /// What the fast path last resolved this thread's tokens to.
    remembered: fastpath::Remembered,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Endpoint {
    owner: ProcessId,
    /// Threads in [`ThreadState::Calling`] on this endpoint, oldest first.
    callers: VecDeque<ThreadRef>,
    /// Threads in [`ThreadState::Receiving`] on this endpoint, oldest first.
    receivers: waiters::Waiters,
    /// The thread that most recently received (or began waiting to receive)
    /// on this endpoint: its server, to which queued callers lend priority.
    last_receiver: Option<ThreadRef>,
    /// Its measurement points ([`IpcState::endpoint_metrics`]).
    metrics: Counters,
    /// Live capabilities that name it; it is destroyed when this drops to 0.
    caps: u32,
}

/// An endpoint's [`IpcMetrics`], kept with its queues so that the fast
/// path counts its message through the record it holds already, with no
/// lookup in a table of the kernel's. The
/// kernel records the slow path's messages ([`IpcState::endpoint_metrics`]).
///
/// Counters, not state: two `IpcState`s that differ only here behave the
/// same, so equality ignores them (the property tests compare the fast and
/// the slow path, which the kernel counts, on the state alone); a clone
/// copies the values.
#[derive(Debug, Default)]
struct Counters(IpcMetrics);

impl Clone for Counters {
    fn clone(&self) -> Self {
        Self(self.0.copy())
    }
}

impl PartialEq for Counters {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Counters {}

/// Capabilities, processes, threads and endpoints of synchronous IPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpcState {
    registry: CapRegistry,
    spaces: Vec<Option<CapSpace>>,
    threads: Vec<Option<Thread>>,
    endpoints: Vec<Option<Endpoint>>,
    /// Ids of destroyed endpoints, reused last-in first-out.
    free_endpoints: Vec<u32>,
    slots_per_space: u32,
}

/// The capability space of `process` (a free function over the table, so
/// callers can borrow the registry mutably at the same time).
fn space_of(spaces: &[Option<CapSpace>], process: ProcessId) -> Result<&CapSpace, IpcError> {
    spaces
        .get(process.0 as usize)
        .and_then(Option::as_ref)
        .ok_or(IpcError::ProcessNotFound)
}

/// The record of `thread` (a free function over the table, like
/// [`space_of`], so the fast path can hold other tables at the same time).
#[inline(always)]
fn thread_in(threads: &[Option<Thread>], thread: ThreadRef) -> Option<&Thread> {
    threads.get(thread.0 as usize)?.as_ref()
}

/// The queues of `endpoint`, mutably (as [`thread_in`]).
#[inline(always)]
fn endpoint_in_mut(
    endpoints: &mut [Option<Endpoint>],
    endpoint: EndpointId,
) -> Option<&mut Endpoint> {
    endpoints.get_mut(endpoint.0 as usize)?.as_mut()
}

/// As [`space_of`], mutably.
fn space_of_mut(
    spaces: &mut [Option<CapSpace>],
    process: ProcessId,
) -> Result<&mut CapSpace, IpcError> {
    spaces
        .get_mut(process.0 as usize)
        .and_then(Option::as_mut)
        .ok_or(IpcError::ProcessNotFound)
}

/// A sink for [`CapRegistry::revoke_into`] and
/// [`CapRegistry::destroy_space_into`] that keeps the endpoints among the
/// targets (the only objects whose deaths [`IpcState::settle`] acts on), so
/// that a revocation of anything else allocates nothing.
fn endpoints_into(died: &mut Vec<EndpointId>) -> impl FnMut(CapTarget) + '_ {
    |target| {
        if let CapTarget::Endpoint(endpoint) = target {
            died.push(endpoint);
        }
    }
}

/// Index of the first `None` in `table`, appending one if there is none.
fn free_index<T>(table: &mut Vec<Option<T>>) -> Result<u32, IpcError> {
    let index = match table.iter().position(Option::is_none) {
        Some(index) => index,
        None => {
            table.push(None);
            table.len() - 1
        }
    };
    u32::try_from(index).map_err(|_| IpcError::OutOfMemory)
}

impl IpcState {
    /// Whether `self` and `other` hold the same state, ignoring only what
    /// the fast path remembered about each thread's tokens (facts that say
    /// what a lookup would while their epoch is current, so two states that
    /// differ only there behave the same) and, as `==` does, each
    /// endpoint's metrics counters. The property tests compare the fast and
    /// the slow path, which remembers nothing, with this.
    #[must_use]
    pub fn same_state_as(&self, other: &Self) -> bool {
        self.forgetting_remembered() == other.forgetting_remembered()
    }

    /// A copy with every thread's remembered tokens forgotten.
    fn forgetting_remembered(&self) -> Self {
        let mut state = self.clone();
        for thread in state.threads.iter_mut().flatten() {
            thread.remembered = fastpath::Remembered::NONE;
        }
        state
    }
}

impl IpcState {
    /// Empty state over `registry`; each process gets `slots_per_space`
    /// capability slots.
    #[must_use]
    pub fn new(registry: CapRegistry, slots_per_space: u32) -> Self {
        Self {
            registry,
            spaces: Vec::new(),
            threads: Vec::new(),
            endpoints: Vec::new(),
            free_endpoints: Vec::new(),
            slots_per_space,
        }
    }

    /// The capability registry.
    #[must_use]
    pub const fn registry(&self) -> &CapRegistry {
        &self.registry
    }

    /// A process's capability space.
    #[must_use]
    pub fn space(&self, process: ProcessId) -> Option<&CapSpace> {
        space_of(&self.spaces, process).ok()
    }

    /// Live processes.
    #[must_use]
    pub fn process_count(&self) -> usize {
        self.spaces.iter().flatten().count()
    }

    /// What `thread` is doing, or `None` if it does not exist.
    #[must_use]
    pub fn thread_state(&self, thread: ThreadRef) -> Option<ThreadState> {
        Some(self.thread(thread)?.state)
    }

    /// The caller `thread` must reply to, if any.
    #[must_use]
    pub fn serving(&self, thread: ThreadRef) -> Option<ThreadRef> {
        self.thread(thread)?.serving
    }

    fn thread(&self, thread: ThreadRef) -> Option<&Thread> {
        thread_in(&self.threads, thread)
    }

    fn thread_mut(&mut self, thread: ThreadRef) -> Option<&mut Thread> {
        self.threads.get_mut(thread.0 as usize)?.as_mut()
    }

    /// The server of `endpoint`: the live thread that most recently received
    /// (or began waiting to receive) on it. A caller queued on the endpoint
    /// waits for this thread, and lends it its priority.
    #[must_use]
    pub fn endpoint_server(&self, endpoint: EndpointId) -> Option<ThreadRef> {
        let server = self.endpoint(endpoint)?.last_receiver?;
        self.thread(server).map(|_| server)
    }

    fn endpoint(&self, endpoint: EndpointId) -> Option<&Endpoint> {
        self.endpoints.get(endpoint.0 as usize)?.as_ref()
    }

    fn endpoint_mut(&mut self, endpoint: EndpointId) -> Option<&mut Endpoint> {
        endpoint_in_mut(&mut self.endpoints, endpoint)
    }

    /// Creates a process with an empty capability space.
    ///
    /// # Errors
    /// [`IpcError::OutOfMemory`] if process ids are exhausted.
    pub fn create_process(&mut self) -> Result<ProcessId, IpcError> {
        let index = free_index(&mut self.spaces)?;
        let process = ProcessId(index);
        self.spaces[index as usize] = Some(CapSpace::new(process, self.slots_per_space));
        Ok(process)
    }

    /// Creates a running thread of `process` on `cpu`.
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process;
    /// [`IpcError::OutOfMemory`] if thread ids are exhausted.
    pub fn create_thread(&mut self, process: ProcessId, cpu: CpuId) -> Result<ThreadRef, IpcError> {
        self.space(process).ok_or(IpcError::ProcessNotFound)?;
        let thread = ThreadRef(free_index(&mut self.threads)?);
        self.create_thread_at(thread, process, cpu)?;
        Ok(thread)
    }

    /// Creates a running thread of `process` on `cpu` under the reference
    /// the caller chose (a kernel makes it its own thread id, so that it
    /// translates neither way).
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process;
    /// [`IpcError::InvalidArgument`] if `thread` names a live thread;
    /// [`IpcError::OutOfMemory`] if the table cannot grow to it.
    pub fn create_thread_at(
        &mut self,
        thread: ThreadRef,
        process: ProcessId,
        cpu: CpuId,
    ) -> Result<(), IpcError> {
        self.space(process).ok_or(IpcError::ProcessNotFound)?;
        let index = thread.0 as usize;
        if self.threads.len() <= index {
            self.threads
                .try_reserve(index + 1 - self.threads.len())
                .map_err(|_| IpcError::OutOfMemory)?;
            self.threads.resize(index + 1, None);
        }
        let entry = &mut self.threads[index];
        if entry.is_some() {
            return Err(IpcError::InvalidArgument);
        }
        *entry = Some(Thread {
            process,
            cpu,
            state: ThreadState::Running,
            serving: None,
            next_waiter: None,
            remembered: fastpath::Remembered::NONE,
        });
        Ok(())
    }

    /// The measurement points of `endpoint`, if it exists: the fast path
    /// counts its messages there itself (sent and received at once); the
    /// kernel counts the slow path's, whose latencies it measures.
    #[must_use]
    pub fn endpoint_metrics(&self, endpoint: EndpointId) -> Option<&IpcMetrics> {
        let e = self.endpoints.get(endpoint.0 as usize)?.as_ref()?;
        Some(&e.metrics.0)
    }

    /// Creates an endpoint owned by `process` and gives it a capability with
    /// every right for messages up to `max_message_size` bytes, unbadged.
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process;
    /// [`IpcError::OutOfMemory`] if a table is full.
    pub fn create_endpoint(
        &mut self,
        process: ProcessId,
        max_message_size: usize,
    ) -> Result<(EndpointId, CapToken), IpcError> {
        let space = space_of_mut(&mut self.spaces, process)?;
        let index = match self.free_endpoints.last() {
            Some(&index) => index,
            None => u32::try_from(self.endpoints.len()).map_err(|_| IpcError::OutOfMemory)?,
        };
        let endpoint = EndpointId(index);
        let token = self.registry.mint(
            space,
            CapTarget::Endpoint(endpoint),
            IpcPermissions::all(max_message_size),
            IpcLimits::NONE,
            0,
        )?;
        if self.free_endpoints.pop().is_none() {
            self.endpoints.push(None);
        }
        debug_assert!(self.endpoints[index as usize].is_none());
        self.endpoints[index as usize] = Some(Endpoint {
            owner: process,
            callers: VecDeque::new(),
            receivers: waiters::Waiters::default(),
            last_receiver: None,
            metrics: Counters::default(),
            caps: 1,
        });
        Ok((endpoint, token))
    }

    /// Mints a root capability to a kernel object other than an endpoint
    /// (a region, a channel) into `process`'s space, unbadged and unlimited.
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process;
    /// [`IpcError::OutOfMemory`] if the registry or the space is full.
    pub fn mint(
        &mut self,
        process: ProcessId,
        target: CapTarget,
        permissions: IpcPermissions,
    ) -> Result<CapToken, IpcError> {
        let space = space_of_mut(&mut self.spaces, process)?;
        let token = self
            .registry
            .mint(space, target, permissions, IpcLimits::NONE, 0)?;
        self.count_new_capability(target);
        Ok(token)
    }

    /// Counts a new capability to `target` (see [`Endpoint::caps`]).
    fn count_new_capability(&mut self, target: CapTarget) {
        if let CapTarget::Endpoint(endpoint) = target
            && let Some(endpoint) = self.endpoint_mut(endpoint)
        {
            endpoint.caps += 1;
        }
    }

    /// Counts a capability derived into `process`'s space as `token`.
    fn count_derived(&mut self, process: ProcessId, token: CapToken) {
        let target = space_of(&self.spaces, process)
            .ok()
            .and_then(|space| space.resolve(&self.registry, token).ok())
            .and_then(|handle| self.registry.object(handle))
            .map(|object| object.capability.target());
        if let Some(target) = target {
            self.count_new_capability(target);
        }
    }

    /// Checks `token` in `process`'s space for `access` of `bytes` and, for
    /// a send, charges the capability's rate and bandwidth limits (see
    /// [`CapRegistry::check`]); returns a copy of the capability.
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process, else as
    /// [`CapRegistry::check`].
    pub fn check(
        &mut self,
        process: ProcessId,
        token: CapToken,
        access: crate::cap::Access,
        bytes: u64,
        now_tsc: u64,
    ) -> Result<crate::cap::IpcCapability, IpcError> {
        let space = space_of(&self.spaces, process)?;
        self.registry
            .check(space, token, access, bytes, now_tsc)
            .copied()
    }

    /// Derives a capability within `process`'s space (see
    /// [`CapRegistry::derive`]).
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process, else as
    /// [`CapRegistry::derive`].
    pub fn derive(
        &mut self,
        process: ProcessId,
        token: CapToken,
        permissions: IpcPermissions,
        limits: IpcLimits,
        badge: Option<u64>,
        now_tsc: u64,
    ) -> Result<CapToken, IpcError> {
        let space = space_of_mut(&mut self.spaces, process)?;
        let new = self
            .registry
            .derive(space, token, permissions, limits, badge, now_tsc)?;
        self.count_derived(process, new);
        Ok(new)
    }

    /// Grants `to` a capability derived from `from`'s `token` (see
    /// [`CapRegistry::grant`]). Granting to oneself is a derive.
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] if either process is unknown, else as
    /// [`CapRegistry::grant`].
    #[allow(clippy::too_many_arguments)] // Each argument is one part of the request.
    pub fn grant(
        &mut self,
        from: ProcessId,
        token: CapToken,
        to: ProcessId,
        permissions: IpcPermissions,
        limits: IpcLimits,
        badge: Option<u64>,
        now_tsc: u64,
    ) -> Result<CapToken, IpcError> {
        if from == to {
            return self.derive(from, token, permissions, limits, badge, now_tsc);
        }
        let [source, destination] = self
            .spaces
            .get_disjoint_mut([from.0 as usize, to.0 as usize])
            .map_err(|_| IpcError::ProcessNotFound)?;
        let (Some(source), Some(destination)) = (source.as_ref(), destination.as_mut()) else {
            return Err(IpcError::ProcessNotFound);
        };
        let new = self.registry.grant(
            source,
            token,
            destination,
            permissions,
            limits,
            badge,
            now_tsc,
        )?;
        self.count_derived(to, new);
        Ok(new)
    }

    /// Revokes `token` in `process`'s space and everything derived from it.
    /// Returns how many capabilities died and the wake-ups of the threads
    /// that waited through them (see [`Self::settle`]).
    ///
    /// # Errors
    /// [`IpcError::ProcessNotFound`] for an unknown process;
    /// [`IpcError::InvalidCapability`] for a bad token.
    pub fn revoke(
        &mut self,
        process: ProcessId,
        token: CapToken,
    ) -> Result<(usize, Vec<Action>), IpcError> {
        let space = space_of_mut(&mut self.spaces, process)?;
        let mut died = Vec::new();
        let count = self
            .registry
            .revoke_into(space, token, &mut endpoints_into(&mut died))?;
        let mut actions = Vec::new();
        self.settle(&died, &mut actions);
        Ok((count, actions))
    }

    /// Live endpoints (for leak checks).
    #[must_use]
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len() - self.free_endpoints.len()
    }
}
