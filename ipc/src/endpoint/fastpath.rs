//! The IPC fast path, shaped like seL4's `fastpath_call` and
//! `fastpath_reply_recv`.
//!
//! [`IpcState::fast_call`] and [`IpcState::fast_reply_recv`] are each a
//! straight line of guards that change nothing; any guard that fails sends
//! the syscall to the slow path ([`IpcState::call`],
//! [`IpcState::reply_recv`]). Then the kernel's own last check (its
//! `proceed` closure: can the scheduler switch to the partner?), refusable
//! too, and past it the point of no return and the commit, which cannot
//! fail and reuses the records the guards found (one pass, no second
//! lookup). The fast path applies to a `call` whose capability is valid,
//! unexpired, unmetered (no rate or bandwidth bucket to charge), allows
//! sending 32 bytes, and names an endpoint where a receiver already waits on
//! the caller's CPU; and to a blocking `reply_recv` of a server whose caller
//! waits on its CPU, through a capability that may receive on an endpoint
//! with no call queued. Wherever it applies it must leave exactly the state
//! and actions the slow path would, and where refused exactly the state it
//! found (`tests/fastpath.rs` checks both by property).

use super::{Actions, CpuId, Endpoint, IpcState, Thread, ThreadRef, ThreadState};
use crate::cap::{CapObject, CapRegistry};
use crate::cap::{CapSpace, CapTarget, CapToken, EndpointId, ProcessId};
use crate::message::SmallMessage;

/// What a fast call did: the receiver that now runs, the endpoint called
/// (whose metrics counted it) and the badge the receiver gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct FastPlan {
    receiver: ThreadRef,
    endpoint: EndpointId,
    badge: u64,
}

impl FastPlan {
    /// The thread that runs next.
    #[must_use]
    pub const fn receiver(&self) -> ThreadRef {
        self.receiver
    }

    /// The endpoint called (whose metrics counted the message).
    #[must_use]
    pub const fn endpoint(&self) -> EndpointId {
        self.endpoint
    }

    /// The capability's badge the receiver gets.
    #[must_use]
    pub const fn badge(&self) -> u64 {
        self.badge
    }

    /// The actions the slow path returns for this call by `caller` of
    /// `message` (the kernel's fast path carries them out itself).
    pub fn actions(&self, caller: ThreadRef, message: SmallMessage) -> Actions {
        super::ops::call_received(caller, self.receiver, message, self.badge)
    }
}

/// The fast path does not apply (or the kernel's `proceed` refused);
/// nothing changed: take the slow path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slow;

/// Why a fast operation with a fallible last check
/// ([`IpcState::fast_call`], [`IpcState::fast_reply_recv`]) did
/// not take place; nothing changed either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refused<E> {
    /// A guard refused: the fast path does not apply ([`Slow`]).
    Slow,
    /// The guards passed and the kernel's last check declined, saying `E`
    /// (so the kernel may try another way to switch, with the same guards).
    Declined(E),
}

impl<E> From<Slow> for Refused<E> {
    fn from(_: Slow) -> Self {
        Self::Slow
    }
}

/// What one fast operation of a thread resolved its capability token to
/// (the endpoint, the badge, and the tick the capability expires at or
/// `u64::MAX`), valid while the registry's epoch is the one recorded: no
/// object died since, so the token still names the same live capability,
/// and a capability never changes once made. It is written only after a
/// fast operation succeeded, so it also records that the capability passed
/// the rights the fast path needs. A hit skips the four lookups behind a
/// token (space, slot, registry entry, target); a miss costs nothing more
/// than before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Resolved {
    token: CapToken,
    epoch: u64,
    endpoint: EndpointId,
    badge: u64,
    until: u64,
}

impl Resolved {
    /// Matches nothing (the registry's epoch is never 0).
    const NONE: Self = Self {
        token: CapToken::NULL,
        epoch: 0,
        endpoint: EndpointId(0),
        badge: 0,
        until: 0,
    };

    #[inline(always)]
    fn hit(&self, token: CapToken, epoch: u64) -> bool {
        self.token == token && self.epoch == epoch
    }
}

/// A thread's [`Resolved`] tokens: the last one it called through and the
/// last one it received through on the fast path.
///
/// Remembered facts, not state: two `IpcState`s that differ only here
/// behave the same (a record is used only while its epoch is current, and
/// then says what a lookup would), so the property tests compare fast and
/// slow paths with [`IpcState::same_state_as`], which ignores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Remembered {
    call: Resolved,
    recv: Resolved,
}

impl Remembered {
    pub(super) const NONE: Self = Self {
        call: Resolved::NONE,
        recv: Resolved::NONE,
    };
}

/// The process, CPU and state of a thread record, if it exists.
#[inline(always)]
fn facts(threads: &[Option<Thread>], thread: ThreadRef) -> Option<(ProcessId, CpuId, &Thread)> {
    let t = super::thread_in(threads, thread)?;
    Some((t.process, t.cpu, t))
}

/// The process, CPU and record of `thread`, if it exists and is not
/// blocked in IPC (so it makes the call or `reply_recv`).
#[inline(always)]
fn running(
    threads: &[Option<Thread>],
    thread: ThreadRef,
) -> Result<(ProcessId, CpuId, &Thread), Slow> {
    let (process, cpu, me) = facts(threads, thread).ok_or(Slow)?;
    if me.state != ThreadState::Running {
        return Err(Slow);
    }
    Ok((process, cpu, me))
}

/// The tick a capability expires at, `u64::MAX` for never (a fast
/// operation at that very tick is refused and takes the slow path, which
/// decides exactly).
#[inline(always)]
fn until(object: &CapObject) -> u64 {
    object.capability.limits().expiration.unwrap_or(u64::MAX)
}

/// The live capability `token` names in `process`'s space and the endpoint
/// it designates (generations checked; rights, limits and expiry left to
/// the caller).
#[inline(always)]
fn endpoint_capability<'r>(
    spaces: &[Option<CapSpace>],
    registry: &'r CapRegistry,
    process: ProcessId,
    token: CapToken,
) -> Result<(&'r CapObject, EndpointId), Slow> {
    let space = super::space_of(spaces, process).map_err(|_| Slow)?;
    let handle = space.resolve(registry, token).map_err(|_| Slow)?;
    let object = registry.object(handle).ok_or(Slow)?;
    let CapTarget::Endpoint(endpoint) = object.capability.target() else {
        return Err(Slow);
    };
    Ok((object, endpoint))
}

/// The queues of `endpoint`, if it exists.
#[inline(always)]
fn queues(endpoints: &mut [Option<Endpoint>], endpoint: EndpointId) -> Result<&mut Endpoint, Slow> {
    super::endpoint_in_mut(endpoints, endpoint).ok_or(Slow)
}

impl IpcState {
    /// `caller`'s call through `token` on the fast path: the guards, then
    /// `proceed(receiver)` (the kernel's last check, whose answer comes back
    /// with the plan), then the point of no return and the commit: the
    /// receiver leaves the endpoint's queue and serves the caller, the
    /// caller waits for the reply, and the kernel switches straight to the
    /// receiver, which gets the message (the guards never look at it: a
    /// small message always fits) and [`FastPlan::badge`].
    ///
    /// # Errors
    /// [`Refused::Slow`] if a guard fails, [`Refused::Declined`] with
    /// `proceed`'s answer if it declines; nothing changed either way. The
    /// slow path then decides the outcome (which may be an error, or
    /// success by another route).
    #[inline(always)]
    pub fn fast_call<R, E>(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        now_tsc: u64,
        proceed: impl FnOnce(ThreadRef) -> Result<R, E>,
    ) -> Result<(FastPlan, R), Refused<E>> {
        // One instance for a remembered token and one for a cold one: the
        // warm one (every call of a steady client) carries no "remember
        // this" flag from its guards to its commit.
        let warm = super::thread_in(&self.threads, caller)
            .is_some_and(|me| me.remembered.call.hit(token, self.registry.epoch()));
        if warm {
            self.fast_call_as::<true, R, E>(caller, token, now_tsc, proceed)
        } else {
            self.fast_call_as::<false, R, E>(caller, token, now_tsc, proceed)
        }
    }

    /// [`IpcState::fast_call`] where `WARM` says whether `caller`
    /// remembers `token` (see [`Resolved`]).
    #[inline(always)]
    fn fast_call_as<const WARM: bool, R, E>(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        now_tsc: u64,
        proceed: impl FnOnce(ThreadRef) -> Result<R, E>,
    ) -> Result<(FastPlan, R), Refused<E>> {
        let Self {
            registry,
            spaces,
            threads,
            endpoints,
            ..
        } = self;
        let (process, cpu, me) = running(threads, caller)?;
        let epoch = registry.epoch();
        let remembered = me.remembered.call;
        let (endpoint, badge, until) = if !WARM {
            let (object, endpoint) = endpoint_capability(spaces, registry, process, token)?;
            if !object.fast_send() {
                return Err(Refused::Slow);
            }
            (endpoint, object.capability.badge(), until(object))
        } else {
            (remembered.endpoint, remembered.badge, remembered.until)
        };
        let queue = queues(endpoints, endpoint)?;
        // The most common refusal first: no receiver waiting on this CPU
        // (a server elsewhere, or busy).
        let receiver = queue.receivers.front().ok_or(Slow)?;
        let (_, receiver_cpu, _) = facts(threads, receiver).ok_or(Slow)?;
        if receiver_cpu != cpu || now_tsc >= until {
            return Err(Refused::Slow);
        }
        // A receiver waits, so it is not the running caller: two records.
        let Ok([Some(me), Some(server)]) =
            threads.get_disjoint_mut([caller.0 as usize, receiver.0 as usize])
        else {
            return Err(Refused::Slow);
        };
        let agreed = proceed(receiver).map_err(Refused::Declined)?;
        // --- POINT OF NO RETURN ---
        queue.receivers.pop_front_of(server);
        queue.metrics.0.record_immediate();
        server.state = ThreadState::Running;
        server.serving = Some(caller);
        me.state = ThreadState::AwaitingReply { server: receiver };
        if !WARM {
            me.remembered.call = Resolved {
                token,
                epoch,
                endpoint,
                badge,
                until,
            };
        }
        Ok((
            FastPlan {
                receiver,
                endpoint,
                badge,
            },
            agreed,
        ))
    }

    /// `server`'s blocking `reply_recv` through `token` on the fast path:
    /// the guards (the server serves a caller of its CPU that awaits its
    /// reply, the capability admits receiving, which is never metered, and
    /// no call is queued on the endpoint, so the server will wait and the
    /// caller runs next), then `proceed(caller)` (the kernel's last check),
    /// then the point of no return and the commit: the caller is answered
    /// (the kernel delivers the reply words, badge 0) and runs, and the
    /// server waits on the endpoint. Returns the caller and `proceed`'s
    /// answer. The state is what [`IpcState::reply_recv`] leaves.
    ///
    /// # Errors
    /// [`Refused::Slow`] if a guard fails, [`Refused::Declined`] with
    /// `proceed`'s answer if it declines; nothing changed either way.
    #[inline(always)]
    pub fn fast_reply_recv<R, E>(
        &mut self,
        server: ThreadRef,
        token: CapToken,
        now_tsc: u64,
        proceed: impl FnOnce(ThreadRef) -> Result<R, E>,
    ) -> Result<(ThreadRef, R), Refused<E>> {
        let Self {
            registry,
            spaces,
            threads,
            endpoints,
            ..
        } = self;
        let (process, cpu, me) = running(threads, server)?;
        let caller = me.serving.ok_or(Slow)?;
        let remembered = me.remembered.recv;
        // The cheapest refusal first: a caller on another CPU (the common
        // slow case) is known before any capability lookup.
        let (_, caller_cpu, client) = facts(threads, caller).ok_or(Slow)?;
        if client.state != (ThreadState::AwaitingReply { server }) || caller_cpu != cpu {
            return Err(Refused::Slow);
        }
        let epoch = registry.epoch();
        let miss = !remembered.hit(token, epoch);
        let (endpoint, until) = if miss {
            // `CapRegistry::admits` for receiving (no size, never metered),
            // inlined: its general form costs a call and an error value per
            // guard.
            let (object, endpoint) = endpoint_capability(spaces, registry, process, token)?;
            if !object.capability.permissions().can_receive {
                return Err(Refused::Slow);
            }
            (endpoint, until(object))
        } else {
            (remembered.endpoint, remembered.until)
        };
        if now_tsc >= until {
            return Err(Refused::Slow);
        }
        let queue = queues(endpoints, endpoint)?;
        if !queue.callers.is_empty() {
            return Err(Refused::Slow);
        }
        // The caller awaits this server's reply, so it is another thread.
        let Ok([Some(me), Some(client)]) =
            threads.get_disjoint_mut([server.0 as usize, caller.0 as usize])
        else {
            return Err(Refused::Slow);
        };
        let agreed = proceed(caller).map_err(Refused::Declined)?;
        // --- POINT OF NO RETURN ---
        client.state = ThreadState::Running;
        me.serving = None;
        me.state = ThreadState::Receiving {
            endpoint,
            deadline: None,
        };
        if miss {
            me.remembered.recv = Resolved {
                token,
                epoch,
                endpoint,
                badge: 0,
                until,
            };
        }
        queue.last_receiver = Some(server);
        queue.receivers.push_back(threads, server);
        Ok((caller, agreed))
    }
}
