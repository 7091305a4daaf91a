//! Property test of the capability registry and spaces against a simple model.
//!
//! Random sequences of mint, derive, grant (to another space), revoke,
//! process death, clock advances, lookups and checks run against both the real
//! [`CapRegistry`]/[`CapSpace`] and a model that keeps every capability ever
//! made in a flat list with a parent index and an alive flag. After every
//! operation, every token ever handed out must be valid or invalid exactly as
//! the model says, and the live-object count must match.

use ipc::IpcError;
use ipc::cap::{
    Access, CapRegistry, CapSpace, CapTarget, CapToken, EndpointId, IpcLimits, IpcPermissions,
    ProcessId,
};
use proptest::prelude::*;

const SPACES: usize = 3;
const TSC_HZ: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    Mint {
        space: usize,
        permissions: IpcPermissions,
        limits: IpcLimits,
    },
    Derive {
        cap: usize,
        request: Request,
    },
    Grant {
        cap: usize,
        to: usize,
        request: Request,
    },
    Revoke {
        cap: usize,
    },
    KillProcess {
        space: usize,
    },
    Advance {
        ticks: u64,
    },
    Check {
        cap: usize,
        access: Access,
        bytes: u64,
    },
}

/// What a derivation asks for. With `narrow`, the rights and limits are
/// first intersected with the parent's (a request that should usually pass);
/// without, they are taken as generated (often too wide).
#[derive(Clone, Debug)]
struct Request {
    narrow: bool,
    permissions: IpcPermissions,
    limits: IpcLimits,
    badge: Option<u64>,
}

#[derive(Clone, Debug)]
struct ModelCap {
    space: usize,
    token: CapToken,
    parent: Option<usize>,
    alive: bool,
    permissions: IpcPermissions,
    limits: IpcLimits,
    badge: u64,
}

struct Harness {
    registry: CapRegistry,
    spaces: Vec<CapSpace>,
    next_pid: u32,
    caps: Vec<ModelCap>,
    now: u64,
}

fn permissions() -> impl Strategy<Value = IpcPermissions> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![0usize, 32, 64, 4096]),
    )
        .prop_map(
            |(can_send, can_receive, can_share, max_message_size)| IpcPermissions {
                can_send,
                can_receive,
                can_share,
                max_message_size,
            },
        )
}

fn limits() -> impl Strategy<Value = IpcLimits> {
    (
        prop::option::of(prop::sample::select(vec![5u32, 1_000])),
        prop::option::of(prop::sample::select(vec![64u64, 1 << 20])),
        prop::option::of(0u64..4_000),
    )
        .prop_map(|(rate_limit, bandwidth_limit, expiration)| IpcLimits {
            rate_limit,
            bandwidth_limit,
            expiration,
        })
}

fn badge() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(prop::sample::select(vec![0u64, 5, 9]))
}

fn request() -> impl Strategy<Value = Request> {
    (prop::bool::weighted(0.75), permissions(), limits(), badge()).prop_map(
        |(narrow, permissions, limits, badge)| Request {
            narrow,
            permissions,
            limits,
            badge,
        },
    )
}

/// The tighter of two limits where `None` is unlimited.
fn tighter<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let cap = 0usize..64;
    prop_oneof![
        2 => (0..SPACES, permissions(), limits())
            .prop_map(|(space, permissions, limits)| Op::Mint { space, permissions, limits }),
        4 => (cap.clone(), request()).prop_map(|(cap, request)| Op::Derive { cap, request }),
        4 => (cap.clone(), 0..SPACES, request())
            .prop_map(|(cap, to, request)| Op::Grant { cap, to, request }),
        2 => cap.clone().prop_map(|cap| Op::Revoke { cap }),
        1 => (0..SPACES).prop_map(|space| Op::KillProcess { space }),
        1 => (0u64..1_500).prop_map(|ticks| Op::Advance { ticks }),
        3 => (cap, prop::sample::select(vec![Access::Send, Access::Receive, Access::Share]), 0u64..100)
            .prop_map(|(cap, access, bytes)| Op::Check { cap, access, bytes }),
    ]
}

/// `child` within `parent` where `None` is unlimited.
fn within<T: Ord>(child: Option<T>, parent: Option<T>) -> bool {
    match (child, parent) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(child), Some(parent)) => child <= parent,
    }
}

impl Harness {
    fn new() -> Self {
        let spaces = (0..SPACES as u32)
            .map(|pid| CapSpace::new(ProcessId(pid), 256))
            .collect();
        Self {
            registry: CapRegistry::new(4_096, TSC_HZ).unwrap(),
            spaces,
            next_pid: SPACES as u32,
            caps: Vec::new(),
            now: 0,
        }
    }

    fn pick(&self, cap: usize) -> Option<usize> {
        (!self.caps.is_empty()).then(|| cap % self.caps.len())
    }

    fn expired(&self, index: usize) -> bool {
        self.caps[index]
            .limits
            .expiration
            .is_some_and(|deadline| self.now >= deadline)
    }

    fn kill_subtree(&mut self, root: usize) {
        // Children always come after their parent in the list.
        self.caps[root].alive = false;
        for index in root + 1..self.caps.len() {
            if let Some(parent) = self.caps[index].parent
                && !self.caps[parent].alive
            {
                self.caps[index].alive = false;
            }
        }
    }

    /// The model's verdict on deriving from `parent`.
    fn derivation(
        &self,
        parent: usize,
        permissions: &IpcPermissions,
        limits: &IpcLimits,
        badge: Option<u64>,
    ) -> Result<u64, IpcError> {
        let source = &self.caps[parent];
        if !source.alive || self.expired(parent) {
            return Err(IpcError::InvalidCapability);
        }
        let rights_ok = (!permissions.can_send || source.permissions.can_send)
            && (!permissions.can_receive || source.permissions.can_receive)
            && (!permissions.can_share || source.permissions.can_share)
            && permissions.max_message_size <= source.permissions.max_message_size;
        let limits_ok = within(limits.rate_limit, source.limits.rate_limit)
            && within(limits.bandwidth_limit, source.limits.bandwidth_limit)
            && within(limits.expiration, source.limits.expiration);
        if !source.permissions.can_share || !rights_ok || !limits_ok {
            return Err(IpcError::PermissionDenied);
        }
        match badge {
            None => Ok(source.badge),
            Some(badge) if source.badge == 0 || source.badge == badge => Ok(badge),
            Some(_) => Err(IpcError::PermissionDenied),
        }
    }

    /// The rights, limits and badge `request` asks of `parent`.
    fn shape(&self, parent: usize, request: &Request) -> (IpcPermissions, IpcLimits, Option<u64>) {
        let Request {
            narrow,
            mut permissions,
            mut limits,
            badge,
        } = request.clone();
        if narrow {
            let source = &self.caps[parent];
            permissions.can_send &= source.permissions.can_send;
            permissions.can_receive &= source.permissions.can_receive;
            permissions.can_share &= source.permissions.can_share;
            permissions.max_message_size = permissions
                .max_message_size
                .min(source.permissions.max_message_size);
            limits.rate_limit = tighter(limits.rate_limit, source.limits.rate_limit);
            limits.bandwidth_limit = tighter(limits.bandwidth_limit, source.limits.bandwidth_limit);
            limits.expiration = tighter(limits.expiration, source.limits.expiration);
        }
        (permissions, limits, badge)
    }

    fn record(
        &mut self,
        space: usize,
        token: CapToken,
        parent: Option<usize>,
        permissions: IpcPermissions,
        limits: IpcLimits,
        badge: u64,
    ) {
        self.caps.push(ModelCap {
            space,
            token,
            parent,
            alive: true,
            permissions,
            limits,
            badge,
        });
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Mint {
                space,
                permissions,
                limits,
            } => {
                let target = CapTarget::Endpoint(EndpointId(space as u32));
                let token = self
                    .registry
                    .mint(&mut self.spaces[space], target, permissions, limits, 0)
                    .unwrap();
                self.record(space, token, None, permissions, limits, 0);
            }
            Op::Derive { cap, request } => {
                let Some(parent) = self.pick(cap) else { return };
                let space = self.caps[parent].space;
                if space >= SPACES {
                    return; // held by a dead process
                }
                let (permissions, limits, badge) = self.shape(parent, &request);
                let expected = self.derivation(parent, &permissions, &limits, badge);
                let token = self.caps[parent].token;
                let actual = self.registry.derive(
                    &mut self.spaces[space],
                    token,
                    permissions,
                    limits,
                    badge,
                    self.now,
                );
                assert_eq!(
                    actual.map(|_| ()),
                    expected.map(|_| ()),
                    "derive from {parent}"
                );
                if let (Ok(token), Ok(badge)) = (actual, expected) {
                    self.record(space, token, Some(parent), permissions, limits, badge);
                }
            }
            Op::Grant { cap, to, request } => {
                let Some(parent) = self.pick(cap) else { return };
                let from = self.caps[parent].space;
                if from >= SPACES {
                    return; // held by a dead process
                }
                if from == to {
                    return self.apply(Op::Derive { cap, request });
                }
                let (permissions, limits, badge) = self.shape(parent, &request);
                let expected = self.derivation(parent, &permissions, &limits, badge);
                let token = self.caps[parent].token;
                let (source, destination) = if from < to {
                    let (low, high) = self.spaces.split_at_mut(to);
                    (&low[from], &mut high[0])
                } else {
                    let (low, high) = self.spaces.split_at_mut(from);
                    (&high[0], &mut low[to])
                };
                let actual = self.registry.grant(
                    source,
                    token,
                    destination,
                    permissions,
                    limits,
                    badge,
                    self.now,
                );
                assert_eq!(
                    actual.map(|_| ()),
                    expected.map(|_| ()),
                    "grant from {parent}"
                );
                if let (Ok(token), Ok(badge)) = (actual, expected) {
                    self.record(to, token, Some(parent), permissions, limits, badge);
                }
            }
            Op::Revoke { cap } => {
                let Some(index) = self.pick(cap) else { return };
                let ModelCap {
                    space,
                    token,
                    alive,
                    ..
                } = self.caps[index];
                if space >= SPACES {
                    return; // held by a dead process
                }
                let before = self.caps.iter().filter(|cap| cap.alive).count();
                let actual = self.registry.revoke(&mut self.spaces[space], token);
                if alive {
                    self.kill_subtree(index);
                    let died = before - self.caps.iter().filter(|cap| cap.alive).count();
                    assert_eq!(actual, Ok(died));
                } else {
                    assert_eq!(actual, Err(IpcError::InvalidCapability));
                }
            }
            Op::KillProcess { space } => {
                let fresh = CapSpace::new(ProcessId(self.next_pid), 256);
                self.next_pid += 1;
                let dead = std::mem::replace(&mut self.spaces[space], fresh);
                self.registry.destroy_space(dead);
                for index in 0..self.caps.len() {
                    if self.caps[index].space == space && self.caps[index].alive {
                        self.kill_subtree(index);
                    }
                }
                // Tokens are names within one space: the dead space's are gone.
                for cap in self.caps.iter_mut().filter(|cap| cap.space == space) {
                    cap.space = usize::MAX;
                }
            }
            Op::Advance { ticks } => self.now += ticks,
            Op::Check { cap, access, bytes } => {
                let Some(index) = self.pick(cap) else { return };
                let cap = self.caps[index].clone();
                let Some(space) = self.spaces.get(cap.space) else {
                    return;
                };
                let actual = self
                    .registry
                    .check(space, cap.token, access, bytes, self.now)
                    .map(|c| c.badge());
                let expected = if !cap.alive || self.expired(index) {
                    Err(IpcError::InvalidCapability)
                } else if !cap.permissions.allows(access) {
                    Err(IpcError::PermissionDenied)
                } else if bytes > cap.permissions.max_message_size as u64 {
                    Err(IpcError::MessageTooLarge)
                } else {
                    Ok(cap.badge)
                };
                let metered = access == Access::Send
                    && (cap.limits.rate_limit.is_some() || cap.limits.bandwidth_limit.is_some());
                if metered && expected.is_ok() {
                    // The buckets are tested on their own; here either outcome
                    // of the rate check is fine.
                    assert!(matches!(
                        actual,
                        Ok(_) | Err(IpcError::RateLimitExceeded) | Err(IpcError::MessageTooLarge)
                    ));
                } else {
                    assert_eq!(actual, expected, "check {index} {access:?}");
                }
            }
        }
    }

    /// Every token ever issued is valid exactly when the model says so.
    fn assert_agrees(&mut self) {
        for (index, cap) in self.caps.iter().enumerate() {
            let expected_valid = cap.alive && !self.expired(index);
            for (space_index, space) in self.spaces.iter().enumerate() {
                let found = space.lookup(&self.registry, cap.token, self.now);
                if space_index == cap.space {
                    assert_eq!(found.is_ok(), expected_valid, "cap {index}: {cap:?}");
                    if let Ok(found) = found {
                        assert_eq!(found.badge(), cap.badge);
                        assert_eq!(*found.permissions(), cap.permissions);
                    }
                }
            }
        }
        let alive = self.caps.iter().filter(|cap| cap.alive).count();
        assert_eq!(self.registry.live_objects(), alive);
        for (space_index, space) in self.spaces.iter_mut().enumerate() {
            space.reclaim_dead(&self.registry);
            let held = self
                .caps
                .iter()
                .filter(|cap| cap.space == space_index && cap.alive)
                .count();
            assert_eq!(space.used_slots(), held, "space {space_index}");
            assert_eq!(space.used_slots() + space.free_slots(), 256);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn capability_spaces_match_the_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut harness = Harness::new();
        for op in ops {
            harness.apply(op);
            harness.assert_agrees();
        }
    }
}

#[test]
fn revoking_a_root_kills_descendants_in_every_space() {
    let mut registry = CapRegistry::new(64, TSC_HZ).unwrap();
    let mut server = CapSpace::new(ProcessId(0), 8);
    let mut clients: Vec<CapSpace> = (1..4).map(|pid| CapSpace::new(ProcessId(pid), 8)).collect();
    let root = registry
        .mint(
            &mut server,
            CapTarget::Endpoint(EndpointId(0)),
            IpcPermissions::all(64),
            IpcLimits::NONE,
            0,
        )
        .unwrap();
    let mut tokens = Vec::new();
    for (badge, client) in clients.iter_mut().enumerate() {
        let token = registry
            .grant(
                &server,
                root,
                client,
                IpcPermissions::all(64),
                IpcLimits::NONE,
                Some(badge as u64 + 1),
                0,
            )
            .unwrap();
        let grandchild = registry
            .derive(
                client,
                token,
                IpcPermissions {
                    can_share: false,
                    ..IpcPermissions::all(32)
                },
                IpcLimits::NONE,
                None,
                0,
            )
            .unwrap();
        assert_eq!(
            client.lookup(&registry, grandchild, 0).unwrap().badge(),
            badge as u64 + 1
        );
        tokens.push((token, grandchild));
    }
    assert_eq!(registry.live_objects(), 7);
    assert_eq!(registry.revoke(&mut server, root), Ok(7));
    assert_eq!(registry.live_objects(), 0);
    for (client, (token, grandchild)) in clients.iter_mut().zip(tokens) {
        assert_eq!(
            client.lookup(&registry, token, 0),
            Err(IpcError::InvalidCapability)
        );
        assert_eq!(
            client.lookup(&registry, grandchild, 0),
            Err(IpcError::InvalidCapability)
        );
        assert_eq!(client.used_slots(), 2);
        assert_eq!(client.reclaim_dead(&registry), 2);
        assert_eq!(client.used_slots(), 0);
    }
    assert_eq!(
        server.lookup(&registry, root, 0),
        Err(IpcError::InvalidCapability)
    );
}

#[test]
fn full_tables_fail_cleanly_and_reclaim_dead_slots() {
    let mut registry = CapRegistry::new(3, TSC_HZ).unwrap();
    let mut owner = CapSpace::new(ProcessId(0), 4);
    let mut small = CapSpace::new(ProcessId(1), 1);
    let target = CapTarget::Endpoint(EndpointId(0));
    let root = registry
        .mint(
            &mut owner,
            target,
            IpcPermissions::all(8),
            IpcLimits::NONE,
            0,
        )
        .unwrap();
    let first = registry
        .grant(
            &owner,
            root,
            &mut small,
            IpcPermissions::all(8),
            IpcLimits::NONE,
            None,
            0,
        )
        .unwrap();
    assert_eq!(
        registry.grant(
            &owner,
            root,
            &mut small,
            IpcPermissions::all(8),
            IpcLimits::NONE,
            None,
            0
        ),
        Err(IpcError::OutOfMemory),
        "the one slot is taken"
    );
    let second = registry
        .derive(
            &mut owner,
            root,
            IpcPermissions::all(8),
            IpcLimits::NONE,
            None,
            0,
        )
        .unwrap();
    assert_eq!(
        registry.derive(
            &mut owner,
            root,
            IpcPermissions::all(8),
            IpcLimits::NONE,
            None,
            0
        ),
        Err(IpcError::OutOfMemory),
        "the registry is full"
    );
    assert_eq!(registry.free_objects(), 0);
    // Make room in the registry, then kill `first` remotely by revoking its
    // parent: `small`'s slot is dead but still counted until the next grant
    // into the full space reclaims it.
    registry.revoke(&mut owner, second).unwrap();
    let other_root = registry
        .mint(
            &mut owner,
            target,
            IpcPermissions::all(8),
            IpcLimits::NONE,
            0,
        )
        .unwrap();
    registry.revoke(&mut owner, root).unwrap();
    assert_eq!(small.used_slots(), 1, "dead but not yet reclaimed");
    let regranted = registry
        .grant(
            &owner,
            other_root,
            &mut small,
            IpcPermissions::all(8),
            IpcLimits::NONE,
            None,
            0,
        )
        .unwrap();
    assert_eq!(
        small.lookup(&registry, first, 0),
        Err(IpcError::InvalidCapability)
    );
    assert!(small.lookup(&registry, regranted, 0).is_ok());
    assert_ne!(first, regranted, "the reused slot has a new generation");
}
