//! The fast path is an optimisation, not a second semantics: for random
//! states and calls where `fast_call` accepts, it must leave exactly the
//! state and return exactly the actions of the slow path `call`; where it
//! refuses (a guard, or the kernel's last check), it must leave the state
//! as it found it.

use ipc::cap::{CapRegistry, CapToken, IpcLimits, IpcPermissions, ProcessId};
use ipc::endpoint::{Action, Actions, CpuId, FastPlan, IpcState, RecvMode, Slow, ThreadRef};
use ipc::message::SmallMessage;
use proptest::prelude::*;

/// The fast path's entry points with a last check that answers yes
/// (`Some`) or no (`None`), and every refusal, by a guard or by that check,
/// as [`Slow`]: what these tests ask of it.
trait FastPathOrSlow {
    /// [`IpcState::fast_call`], refusals as [`Slow`].
    fn fast_call_or_slow<R>(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        now_tsc: u64,
        proceed: impl FnOnce(ThreadRef) -> Option<R>,
    ) -> Result<(FastPlan, R), Slow>;

    /// [`IpcState::fast_reply_recv`], refusals as [`Slow`].
    fn fast_reply_recv_or_slow<R>(
        &mut self,
        server: ThreadRef,
        token: CapToken,
        now_tsc: u64,
        proceed: impl FnOnce(ThreadRef) -> Option<R>,
    ) -> Result<(ThreadRef, R), Slow>;

    /// [`IpcState::fast_call`] with nothing for the kernel to check, and
    /// the actions the slow path would return for it.
    fn call_fast(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        now_tsc: u64,
    ) -> Result<Actions, Slow>;
}

impl FastPathOrSlow for IpcState {
    fn fast_call_or_slow<R>(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        now_tsc: u64,
        proceed: impl FnOnce(ThreadRef) -> Option<R>,
    ) -> Result<(FastPlan, R), Slow> {
        self.fast_call(caller, token, now_tsc, |receiver| {
            proceed(receiver).ok_or(())
        })
        .map_err(|_| Slow)
    }

    fn fast_reply_recv_or_slow<R>(
        &mut self,
        server: ThreadRef,
        token: CapToken,
        now_tsc: u64,
        proceed: impl FnOnce(ThreadRef) -> Option<R>,
    ) -> Result<(ThreadRef, R), Slow> {
        self.fast_reply_recv(server, token, now_tsc, |caller| proceed(caller).ok_or(()))
            .map_err(|_| Slow)
    }

    fn call_fast(
        &mut self,
        caller: ThreadRef,
        token: CapToken,
        message: SmallMessage,
        now_tsc: u64,
    ) -> Result<Actions, Slow> {
        let (plan, ()) = self.fast_call_or_slow(caller, token, now_tsc, |_| Some(()))?;
        Ok(plan.actions(caller, message))
    }
}

const PROCESSES: usize = 3;
const THREADS_PER_PROCESS: usize = 2;

/// How a granted capability is shaped, to exercise every fast-path guard.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Plain,
    NoSend,
    NoReceive,
    Tiny,
    RateLimited,
    BandwidthLimited,
    Expiring(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Grant {
        from: usize,
        to: usize,
        shape: Shape,
        badge: u64,
    },
    Recv {
        thread: usize,
        token: usize,
        deadline: Option<u64>,
    },
    Call {
        thread: usize,
        token: usize,
        word: u64,
    },
    Reply {
        thread: usize,
    },
    ReplyRecv {
        thread: usize,
        token: usize,
    },
    Timeout {
        thread: usize,
    },
    Advance {
        ticks: u64,
    },
    Revoke {
        process: usize,
        token: usize,
    },
    KillThread {
        thread: usize,
    },
}

struct World {
    state: IpcState,
    processes: Vec<ProcessId>,
    threads: Vec<ThreadRef>,
    /// Tokens each process holds (some may have been revoked since), with
    /// the index of the process whose endpoint each one names.
    tokens: Vec<Vec<(CapToken, usize)>>,
    now: u64,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        6 => Just(Shape::Plain),
        1 => Just(Shape::NoSend),
        1 => Just(Shape::NoReceive),
        1 => Just(Shape::Tiny),
        1 => Just(Shape::RateLimited),
        1 => Just(Shape::BandwidthLimited),
        1 => (0u64..3_000).prop_map(Shape::Expiring),
    ]
}

/// Every shape equally often (for the capability a case calls or receives
/// through).
fn fresh_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Plain),
        Just(Shape::NoSend),
        Just(Shape::NoReceive),
        Just(Shape::Tiny),
        Just(Shape::RateLimited),
        Just(Shape::BandwidthLimited),
        (0u64..3_000).prop_map(Shape::Expiring),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let thread = 0..PROCESSES * THREADS_PER_PROCESS;
    prop_oneof![
        3 => (0..PROCESSES, 0..PROCESSES, shape(), 0u64..4)
            .prop_map(|(from, to, shape, badge)| Op::Grant { from, to, shape, badge }),
        4 => (thread.clone(), 0usize..8, prop::option::of(0u64..3_000))
            .prop_map(|(thread, token, deadline)| Op::Recv { thread, token, deadline }),
        3 => (thread.clone(), 0usize..8, any::<u64>())
            .prop_map(|(thread, token, word)| Op::Call { thread, token, word }),
        2 => thread.clone().prop_map(|thread| Op::Reply { thread }),
        2 => (thread.clone(), 0usize..8).prop_map(|(thread, token)| Op::ReplyRecv { thread, token }),
        1 => thread.clone().prop_map(|thread| Op::Timeout { thread }),
        1 => (0u64..1_000).prop_map(|ticks| Op::Advance { ticks }),
        1 => (0..PROCESSES, 0usize..8).prop_map(|(process, token)| Op::Revoke { process, token }),
        1 => thread.prop_map(|thread| Op::KillThread { thread }),
    ]
}

impl World {
    fn new(cpus: &[u32]) -> Self {
        let registry = CapRegistry::new(4_096, 1_000_000).unwrap();
        let mut state = IpcState::new(registry, 64);
        let mut processes = Vec::new();
        let mut threads = Vec::new();
        let mut tokens = Vec::new();
        for process_index in 0..PROCESSES {
            let process = state.create_process().unwrap();
            for thread_index in 0..THREADS_PER_PROCESS {
                let cpu = cpus[process_index * THREADS_PER_PROCESS + thread_index];
                threads.push(state.create_thread(process, CpuId(cpu)).unwrap());
            }
            let (_, root) = state.create_endpoint(process, 64).unwrap();
            processes.push(process);
            tokens.push(vec![(root, process_index)]);
        }
        let mut world = Self {
            state,
            processes,
            threads,
            tokens,
            now: 1,
        };
        // Everyone starts able to call everyone.
        for from in 0..PROCESSES {
            for to in (0..PROCESSES).filter(|to| *to != from) {
                world.apply(&Op::Grant {
                    from,
                    to,
                    shape: Shape::Plain,
                    badge: from as u64 + 1,
                });
            }
        }
        world
    }

    fn token(&self, thread: usize, token: usize) -> CapToken {
        let held = &self.tokens[thread / THREADS_PER_PROCESS];
        held[token % held.len()].0
    }

    /// One of `thread`'s tokens for the endpoint of process `target`, if any.
    fn token_for(&self, thread: usize, target: usize, pick: usize) -> Option<CapToken> {
        let held: Vec<CapToken> = self.tokens[thread / THREADS_PER_PROCESS]
            .iter()
            .filter(|(_, endpoint)| *endpoint == target)
            .map(|(token, _)| *token)
            .collect();
        (!held.is_empty()).then(|| held[pick % held.len()])
    }

    /// Applies `op`; errors are legitimate outcomes of random operations.
    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::Grant {
                from,
                to,
                shape,
                badge,
            } => {
                let all = IpcPermissions::all(64);
                let (permissions, limits) = match shape {
                    Shape::Plain => (all, IpcLimits::NONE),
                    Shape::NoSend => (
                        IpcPermissions {
                            can_send: false,
                            ..all
                        },
                        IpcLimits::NONE,
                    ),
                    Shape::NoReceive => (
                        IpcPermissions {
                            can_receive: false,
                            ..all
                        },
                        IpcLimits::NONE,
                    ),
                    Shape::Tiny => (IpcPermissions::all(8), IpcLimits::NONE),
                    Shape::RateLimited => (
                        all,
                        IpcLimits {
                            rate_limit: Some(2),
                            ..IpcLimits::NONE
                        },
                    ),
                    Shape::BandwidthLimited => (
                        all,
                        IpcLimits {
                            bandwidth_limit: Some(64),
                            ..IpcLimits::NONE
                        },
                    ),
                    Shape::Expiring(at) => (
                        all,
                        IpcLimits {
                            expiration: Some(at),
                            ..IpcLimits::NONE
                        },
                    ),
                };
                let root = self.tokens[from][0].0;
                if let Ok(token) = self.state.grant(
                    self.processes[from],
                    root,
                    self.processes[to],
                    permissions,
                    limits,
                    Some(badge),
                    now,
                ) {
                    self.tokens[to].push((token, from));
                }
            }
            Op::Recv {
                thread,
                token,
                deadline,
            } => {
                let mode = deadline.map_or(RecvMode::Block, |at| RecvMode::Until(now + at));
                let _ = self
                    .state
                    .recv(self.threads[thread], self.token(thread, token), mode, now);
            }
            Op::Call {
                thread,
                token,
                word,
            } => {
                // As the kernel does: the fast path first (which remembers
                // what the token resolved to), else the slow path.
                let (me, token) = (self.threads[thread], self.token(thread, token));
                let message = SmallMessage::new(0, 0x0100, 0, [word; 4]);
                if self.state.call_fast(me, token, message, now).is_err() {
                    let _ = self.state.call(me, token, message, now);
                }
            }
            Op::ReplyRecv { thread, token } => {
                let (me, token) = (self.threads[thread], self.token(thread, token));
                let fast = self
                    .state
                    .fast_reply_recv_or_slow(me, token, now, |_| Some(()));
                if fast.is_err() {
                    let message = SmallMessage::default();
                    let _ = self
                        .state
                        .reply_recv(me, token, message, RecvMode::Block, now);
                }
            }
            Op::Reply { thread } => {
                let _ = self
                    .state
                    .reply(self.threads[thread], SmallMessage::default());
            }
            Op::Timeout { thread } => {
                let _ = self.state.timeout(self.threads[thread], now);
            }
            Op::Advance { ticks } => self.now += ticks,
            Op::Revoke { process, token } => {
                let held = &self.tokens[process];
                // Keep the root: revoking it would end all IPC in this world.
                if held.len() > 1 {
                    let token = held[1 + token % (held.len() - 1)].0;
                    let _ = self.state.revoke(self.processes[process], token);
                }
            }
            Op::KillThread { thread } => {
                let _ = self.state.on_thread_death(self.threads[thread]);
            }
        }
    }
}

/// The random part of a fast-path case (see [`receiver_waiting`]).
#[derive(Clone, Debug)]
struct Scenario {
    cpus: Vec<u32>,
    ops: Vec<Op>,
    receiver: usize,
    receiver_token: usize,
    caller_offset: usize,
    caller_token: usize,
    aim: bool,
    /// A capability of this shape, granted to the caller's process just
    /// before the call, is the one it calls through (when it aims): every
    /// guard on the capability then meets every shape often, not only when
    /// the random operations happened to grant one.
    fresh: Option<Shape>,
    /// For `reply_recv`: likewise, the capability the server receives
    /// through next.
    fresh_recv: Option<Shape>,
    /// Ticks that pass after those grants (so that expiring ones expire).
    age: u64,
    data: [u64; 4],
}

prop_compose! {
    fn scenario()(
        cpus in prop::collection::vec(prop::sample::select(vec![0u32, 0, 0, 1]), PROCESSES * THREADS_PER_PROCESS),
        ops in prop::collection::vec(op(), 0..24),
        receiver in 0..PROCESSES * THREADS_PER_PROCESS,
        receiver_token in 0usize..8,
        caller_offset in 1..PROCESSES * THREADS_PER_PROCESS,
        caller_token in 0usize..8,
        aim in prop::bool::weighted(0.8),
        fresh in prop::option::weighted(0.5, fresh_shape()),
        fresh_recv in prop::option::weighted(0.5, fresh_shape()),
        age in prop_oneof![Just(0u64), 0u64..3_000],
        data in any::<[u64; 4]>(),
    ) -> Scenario {
        Scenario {
            cpus, ops, receiver, receiver_token, caller_offset, caller_token, aim, fresh, fresh_recv,
            age, data,
        }
    }
}

/// A world after `ops` where thread `receiver` waits to receive (on its own
/// endpoint's root if `aim`, else through its token `receiver_token`), and
/// the caller `caller_offset` threads further on holds a token aimed at that
/// endpoint if `aim` (else its token `caller_token`): a `fresh` one of that
/// shape if given, else one it holds. Returns the world, the caller, the
/// receive token index and the call token.
#[allow(clippy::too_many_arguments)] // The scenario's fields, spelled out.
fn receiver_waiting(
    cpus: &[u32],
    ops: &[Op],
    receiver: usize,
    receiver_token: usize,
    caller_offset: usize,
    caller_token: usize,
    aim: bool,
    fresh: Option<Shape>,
) -> (World, usize, usize, CapToken) {
    let mut world = World::new(cpus);
    for op in ops {
        world.apply(op);
    }
    let caller = (receiver + caller_offset) % (PROCESSES * THREADS_PER_PROCESS);
    let receiver_process = receiver / THREADS_PER_PROCESS;
    let recv_token = if aim { 0 } else { receiver_token };
    world.apply(&Op::Recv {
        thread: receiver,
        token: recv_token,
        deadline: None,
    });
    let caller_process = caller / THREADS_PER_PROCESS;
    if let Some(shape) = fresh.filter(|_| aim && caller_process != receiver_process) {
        let held = world.tokens[caller_process].len();
        world.apply(&Op::Grant {
            from: receiver_process,
            to: caller_process,
            shape,
            badge: 9,
        });
        if world.tokens[caller_process].len() > held {
            let fresh_token = world.tokens[caller_process][held].0;
            return (world, caller, recv_token, fresh_token);
        }
    }
    let call_token = world
        .token_for(caller, receiver_process, caller_token)
        .filter(|_| aim)
        .unwrap_or_else(|| world.token(caller, caller_token));
    (world, caller, recv_token, call_token)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn fast_path_equals_slow_path(s in scenario()) {
        let Scenario {
            cpus, ops, receiver, receiver_token, caller_offset, caller_token, aim, fresh, age, data, ..
        } = s;
        // Give the fast path a fair chance: someone waits on its own
        // endpoint and, mostly, the caller aims at that endpoint.
        let (mut world, caller, _, token) =
            receiver_waiting(&cpus, &ops, receiver, receiver_token, caller_offset, caller_token, aim, fresh);
        world.apply(&Op::Advance { ticks: age });
        check_call(&world, caller, token, data)?;
    }
}

/// The fast call of thread `caller` through `token` in `world` with
/// `data`, against the slow path: where it accepts, the slow path's state
/// and actions; where a guard or the kernel's check refuses, nothing
/// changed, and the slow path does not do the fast path's job.
fn check_call(
    world: &World,
    caller: usize,
    token: CapToken,
    data: [u64; 4],
) -> Result<(), TestCaseError> {
    let caller_ref = world.threads[caller];
    let message = SmallMessage::new(token.0, 0x0100, 0, data);
    let now = world.now;

    let before = world.state.clone();
    // The kernel's check refusing changes nothing, and is asked only
    // once every guard passed, about the receiver the call would get.
    let mut asked = None;
    let mut refused = world.state.clone();
    let refusal = refused.fast_call_or_slow(caller_ref, token, now, |receiver| {
        asked = Some(receiver);
        None::<()>
    });
    prop_assert_eq!(refusal, Err(Slow));
    prop_assert!(
        refused.same_state_as(&before),
        "a refused fast path must not mutate: {:?} vs {:?}",
        &refused,
        &before
    );
    let mut fast = world.state.clone();
    match fast.fast_call_or_slow(caller_ref, token, now, |_| Some(())) {
        Ok((plan, ())) => {
            prop_assert_eq!(asked, Some(plan.receiver()));
            let fast_actions = plan.actions(caller_ref, message);
            let mut slow = world.state.clone();
            let slow_actions = slow.call(caller_ref, token, message, now);
            prop_assert_eq!(Ok(fast_actions.clone()), slow_actions);
            prop_assert!(
                fast.same_state_as(&slow),
                "fast and slow paths differ: {:?} vs {:?}",
                &fast,
                &slow
            );
            prop_assert_eq!(
                fast_actions.last(),
                Some(&Action::SwitchTo {
                    thread: plan.receiver()
                })
            );
        }
        Err(_) => {
            prop_assert_eq!(asked, None, "asked the kernel, then refused by a guard");
            prop_assert!(
                fast.same_state_as(&before),
                "a refused fast path must not mutate: {:?} vs {:?}",
                &fast,
                &before
            );
            // The slow path decides; whatever it does, it must not have
            // been a same-CPU hand-off of an unmetered call (that is the
            // fast path's job, and missing it would be a silent slowdown).
            let mut slow = world.state.clone();
            if let Ok(actions) = slow.call(caller_ref, token, message, now) {
                let switched = actions.iter().any(|a| matches!(a, Action::SwitchTo { .. }));
                prop_assert!(!switched || slow_was_metered(world, caller, token));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// `reply_recv`'s fast path: where `fast_reply_recv` accepts, it leaves
    /// exactly the slow path's state, and the slow
    /// path's actions are the reply, the block and the switch the kernel
    /// carries out itself; where it refuses, the slow path never switches
    /// straight to the caller.
    #[test]
    fn reply_recv_fast_path_equals_slow_path(s in scenario()) {
        let Scenario {
            cpus,
            ops,
            receiver: server,
            receiver_token: server_token,
            caller_offset,
            caller_token,
            aim,
            fresh,
            fresh_recv,
            age,
            data,
        } = s;
        // Mostly: the server receives on its own endpoint and a caller of
        // another process calls it, so the server serves that caller.
        let (mut world, caller, recv_token, call_token) =
            receiver_waiting(&cpus, &ops, server, server_token, caller_offset, caller_token, aim, fresh);
        let _ = world.state.call(
            world.threads[caller],
            call_token,
            SmallMessage::new(call_token.0, 0x0100, 0, [7; 4]),
            world.now,
        );
        let server_ref = world.threads[server];
        let mut token = world.token(server, recv_token);
        let server_process = server / THREADS_PER_PROCESS;
        let other = (server_process + 1) % PROCESSES;
        if let Some(shape) = fresh_recv {
            let held = world.tokens[server_process].len();
            world.apply(&Op::Grant { from: other, to: server_process, shape, badge: 9 });
            if let Some(&(fresh_token, _)) = world.tokens[server_process].get(held) {
                token = fresh_token;
            }
        }
        world.apply(&Op::Advance { ticks: age });
        let message = SmallMessage::new(0, 0x0102, 0, data);
        let now = world.now;

        let before = world.state.clone();
        let mut slow = world.state.clone();
        let slow_actions = slow.reply_recv(server_ref, token, message, RecvMode::Block, now);
        let mut asked = None;
        let mut refused = world.state.clone();
        let refusal = refused.fast_reply_recv_or_slow(server_ref, token, now, |caller| {
            asked = Some(caller);
            None::<()>
        });
        prop_assert_eq!(refusal, Err(Slow));
        prop_assert!(refused.same_state_as(&before), "a refused fast path must not mutate: {:?} vs {:?}", &refused, &before);
        let mut fast = world.state.clone();
        match fast.fast_reply_recv_or_slow(server_ref, token, now, |_| Some(())) {
            Ok((caller_ref, ())) => {
                prop_assert_eq!(asked, Some(caller_ref));
                prop_assert!(fast.same_state_as(&slow), "fast and slow paths differ: {:?} vs {:?}", &fast, &slow);
                let expected = vec![
                    Action::Deliver { from: server_ref, to: caller_ref, message, badge: 0 },
                    Action::Wake { thread: caller_ref, status: Ok(()) },
                    Action::Block { thread: server_ref, deadline: None },
                    Action::SwitchTo { thread: caller_ref },
                ];
                prop_assert_eq!(slow_actions.map(|a| a.to_vec()), Ok(expected));
            }
            Err(_) => {
                prop_assert_eq!(asked, None, "asked the kernel, then refused by a guard");
                prop_assert!(fast.same_state_as(&before), "a refused fast path must not mutate: {:?} vs {:?}", &fast, &before);
                if let Ok(actions) = slow_actions {
                    let switched = actions.iter().any(|a| matches!(a, Action::SwitchTo { .. }));
                    prop_assert!(!switched, "the fast path missed a same-CPU reply: {actions:?}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// What the fast path remembers about tokens never outlives what it
    /// describes: a client and a server make one round trip on the fast
    /// path (so each remembers its token), random operations follow
    /// (revocations, deaths, grants, time, other calls), then the client
    /// calls through the same token again, and the fast path must agree
    /// with the slow path as everywhere else.
    #[test]
    fn remembered_tokens_agree_with_the_slow_path(
        shape in prop::option::of(fresh_shape()),
        ops in prop::collection::vec(op(), 0..16),
        age in 0u64..3_000,
        data in any::<[u64; 4]>(),
    ) {
        let mut world = World::new(&[0; PROCESSES * THREADS_PER_PROCESS]);
        let server = world.threads[0];
        let server_token = world.token(0, 0);
        world.apply(&Op::Recv { thread: 0, token: 0, deadline: None });
        // The client calls through its first grant, or a fresh one of a
        // random shape (the warm-up is then refused when the shape does not
        // suit the fast path, and nothing is remembered).
        let mut token = world.token_for(THREADS_PER_PROCESS, 0, 0).unwrap();
        if let Some(shape) = shape {
            let held = world.tokens[1].len();
            world.apply(&Op::Grant { from: 0, to: 1, shape, badge: 9 });
            if let Some(&(fresh, _)) = world.tokens[1].get(held) {
                token = fresh;
            }
        }
        let client = world.threads[THREADS_PER_PROCESS];
        if world.state.fast_call_or_slow(client, token, world.now, |_| Some(())).is_ok() {
            prop_assert!(world
                .state
                .fast_reply_recv_or_slow(server, server_token, world.now, |_| Some(()))
                .is_ok());
        }
        world.apply(&Op::Advance { ticks: age });
        for op in &ops {
            world.apply(op);
        }
        let caller = world.threads.iter().position(|t| *t == client).unwrap();
        check_call(&world, caller, token, data)?;
    }
}

/// Whether `token` (held by `caller`'s process) carries a rate or bandwidth
/// limit.
fn slow_was_metered(world: &World, caller: usize, token: CapToken) -> bool {
    let process = world.processes[caller / THREADS_PER_PROCESS];
    world
        .state
        .space(process)
        .and_then(|space| space.lookup(world.state.registry(), token, world.now).ok())
        .is_some_and(|capability| {
            let limits = capability.limits();
            limits.rate_limit.is_some() || limits.bandwidth_limit.is_some()
        })
}

/// The common case: thread 0 waits on its endpoint; the first thread of
/// process 1 calls it on the fast path. Returns the world, the client, its
/// token, the message and what the fast call did.
fn common_call() -> (
    World,
    ThreadRef,
    CapToken,
    SmallMessage,
    ipc::endpoint::FastPlan,
) {
    let mut world = World::new(&[0; PROCESSES * THREADS_PER_PROCESS]);
    world.apply(&Op::Recv {
        thread: 0,
        token: 0,
        deadline: None,
    });
    let client = world.threads[THREADS_PER_PROCESS];
    let token = world.token_for(THREADS_PER_PROCESS, 0, 0).unwrap();
    let message = SmallMessage::new(token.0, 0x0100, 0, [1, 2, 3, 4]);
    let (plan, ()) = world
        .state
        .fast_call_or_slow(client, token, world.now, |_| Some(()))
        .unwrap();
    (world, client, token, message, plan)
}

#[test]
fn fast_path_applies_to_the_common_case() {
    let (world, client, _, message, plan) = common_call();
    assert_eq!(plan.receiver(), world.threads[0]);
    let actions = plan.actions(client, message);
    assert_eq!(
        actions[0],
        Action::Deliver {
            from: client,
            to: world.threads[0],
            message,
            badge: 1
        }
    );
    assert_eq!(world.state.serving(world.threads[0]), Some(client));
}

#[test]
fn reply_recv_fast_path_applies_to_the_common_case() {
    let (mut world, client, token, _, _) = common_call();
    let server = world.threads[0];
    let server_token = world.token(0, 0);
    let (caller, ()) = world
        .state
        .fast_reply_recv_or_slow(server, server_token, world.now, |_| Some(()))
        .unwrap();
    assert_eq!(caller, client);
    // The server waits again and the next call takes the fast path too.
    let (again, ()) = world
        .state
        .fast_call_or_slow(client, token, world.now, |_| Some(()))
        .unwrap();
    assert_eq!(again.receiver(), server);
}

/// A last check that declines says so: `Refused::Declined` with its
/// answer, where a failed guard gives `Refused::Slow`; nothing changes
/// either way, and the same guards then pass for another last check.
#[test]
fn a_declined_last_check_is_told_from_a_failed_guard() {
    use ipc::endpoint::Refused;
    let (mut world, client, token, _, _) = common_call();
    let server = world.threads[0];
    let server_token = world.token(0, 0);
    let before = world.state.clone();
    let now = world.now;
    assert_eq!(
        world
            .state
            .fast_reply_recv(server, server_token, now, |_| Err::<(), _>(7)),
        Err(Refused::Declined(7))
    );
    assert_eq!(world.state, before);
    // The client awaits the reply: its own call fails a guard.
    assert_eq!(
        world
            .state
            .fast_call(client, token, now, |_| Err::<(), _>(7)),
        Err(Refused::Slow)
    );
    assert_eq!(world.state, before);
    let (caller, answer) = world
        .state
        .fast_reply_recv(server, server_token, now, |_| Ok::<_, ()>(5))
        .unwrap();
    assert_eq!((caller, answer), (client, 5));
    // The server waits again: a call's declined last check, then an
    // accepted one.
    let before = world.state.clone();
    assert_eq!(
        world
            .state
            .fast_call(client, token, now, |_| Err::<(), _>("busy")),
        Err(Refused::Declined("busy"))
    );
    assert_eq!(world.state, before);
    let (plan, ()) = world
        .state
        .fast_call(client, token, now, |_| Ok::<_, ()>(()))
        .unwrap();
    assert_eq!(plan.receiver(), server);
}

/// The fast path counts each call in its endpoint's metrics, sent and
/// received at once; the slow path leaves counting to the kernel, and a
/// refused fast call counts nothing.
#[test]
fn fast_calls_count_in_the_endpoint_metrics() {
    let (mut world, client, token, message, plan) = common_call();
    let endpoint = plan.endpoint();
    let counted = |world: &World| {
        let snapshot = world.state.endpoint_metrics(endpoint).unwrap().snapshot();
        (snapshot.messages_sent, snapshot.messages_received)
    };
    assert_eq!(counted(&world), (1, 1));
    let server = world.threads[0];
    let server_token = world.token(0, 0);
    world
        .state
        .fast_reply_recv_or_slow(server, server_token, world.now, |_| Some(()))
        .unwrap();
    assert_eq!(counted(&world), (1, 1), "a reply is not a message sent");
    let now = world.now;
    // Refused by the kernel's last check: nothing counted.
    assert_eq!(
        world
            .state
            .fast_call_or_slow(client, token, now, |_| None::<()>),
        Err(Slow)
    );
    assert_eq!(counted(&world), (1, 1));
    let (again, ()) = world
        .state
        .fast_call_or_slow(client, token, now, |_| Some(()))
        .unwrap();
    assert_eq!(again.endpoint(), endpoint);
    assert_eq!(counted(&world), (2, 2));
    // The slow path: the server replies and does not wait again; the
    // client's next call queues, uncounted here.
    world.state.reply(server, message).unwrap();
    world.state.call(client, token, message, now).unwrap();
    assert_eq!(counted(&world), (2, 2));
    assert!(
        world
            .state
            .endpoint_metrics(ipc::cap::EndpointId(999))
            .is_none()
    );
}

/// What the fast path remembered about a token stops counting the moment
/// the capability dies: a token revoked after a fast call resolved it is
/// refused by the next fast call, and the slow path reports it invalid.
#[test]
fn a_remembered_token_dies_with_its_capability() {
    let (mut world, client, token, message, _) = common_call();
    let server = world.threads[0];
    let server_token = world.token(0, 0);
    world
        .state
        .fast_reply_recv_or_slow(server, server_token, world.now, |_| Some(()))
        .unwrap();
    let process = world.processes[1];
    world.state.revoke(process, token).unwrap();
    let now = world.now;
    assert_eq!(
        world
            .state
            .fast_call_or_slow(client, token, now, |_| Some(())),
        Err(Slow)
    );
    assert_eq!(
        world.state.call(client, token, message, now),
        Err(ipc::error::IpcError::InvalidCapability)
    );
}

/// And it expires with it: a capability that expires after a fast call
/// resolved it is refused from its deadline on.
#[test]
fn a_remembered_token_expires_with_its_capability() {
    let mut world = World::new(&[0; PROCESSES * THREADS_PER_PROCESS]);
    world.apply(&Op::Recv {
        thread: 0,
        token: 0,
        deadline: None,
    });
    let held = world.tokens[1].len();
    world.apply(&Op::Grant {
        from: 0,
        to: 1,
        shape: Shape::Expiring(100),
        badge: 5,
    });
    let token = world.tokens[1][held].0;
    let client = world.threads[THREADS_PER_PROCESS];
    let server = world.threads[0];
    let server_token = world.token(0, 0);
    let now = world.now;
    let (plan, ()) = world
        .state
        .fast_call_or_slow(client, token, now, |_| Some(()))
        .unwrap();
    assert_eq!(plan.badge(), 5);
    world
        .state
        .fast_reply_recv_or_slow(server, server_token, now, |_| Some(()))
        .unwrap();
    // Grants do not change the epoch, so the record still holds; the
    // deadline alone (an absolute tick) refuses.
    let deadline = 100;
    assert_eq!(
        world
            .state
            .fast_call_or_slow(client, token, deadline, |_| Some(())),
        Err(Slow)
    );
    let message = SmallMessage::new(token.0, 0x0100, 0, [0; 4]);
    assert_eq!(
        world.state.call(client, token, message, deadline),
        Err(ipc::error::IpcError::InvalidCapability)
    );
    assert!(
        world
            .state
            .fast_call_or_slow(client, token, deadline - 1, |_| Some(()))
            .is_ok()
    );
}

/// A server's remembered receive token expires with its capability too.
#[test]
fn a_remembered_receive_token_expires_with_its_capability() {
    let mut world = World::new(&[0; PROCESSES * THREADS_PER_PROCESS]);
    let server = world.threads[0];
    let root = world.token(0, 0);
    let expiring = world
        .state
        .derive(
            world.processes[0],
            root,
            IpcPermissions::all(64),
            IpcLimits {
                expiration: Some(100),
                ..IpcLimits::NONE
            },
            None,
            world.now,
        )
        .unwrap();
    world
        .state
        .recv(server, expiring, RecvMode::Block, world.now)
        .unwrap();
    let client = world.threads[THREADS_PER_PROCESS];
    let token = world.token_for(THREADS_PER_PROCESS, 0, 0).unwrap();
    let now = world.now;
    let fast_round_trip = |state: &mut IpcState, at: u64| {
        let (_, ()) = state
            .fast_call_or_slow(client, token, at, |_| Some(()))
            .unwrap();
        state.fast_reply_recv_or_slow(server, expiring, at, |_| Some(()))
    };
    // The first round trip remembers the receive token, the second uses it.
    assert!(fast_round_trip(&mut world.state, now).is_ok());
    assert!(fast_round_trip(&mut world.state, 99).is_ok());
    let before = world.state.clone();
    assert_eq!(fast_round_trip(&mut world.state, 100), Err(Slow));
    // The call went through; the expired receive did not.
    let mut slow = world.state.clone();
    assert_eq!(
        slow.reply_recv(
            server,
            expiring,
            SmallMessage::default(),
            RecvMode::Block,
            100
        ),
        Err(ipc::error::IpcError::InvalidCapability)
    );
    assert_ne!(world.state, before);
}
