//! Capabilities: what they are ([`IpcCapability`]), how they are named
//! ([`CapToken`]), where they live ([`CapRegistry`], [`CapSpace`]) and how
//! their limits are enforced ([`TokenBucket`]).
//!
//! Two levels, both O(1):
//! - The global [`CapRegistry`] holds every capability *object*: its rights,
//!   limits, badge, rate buckets, a generation, and its place in the
//!   derivation tree (parent link and an intrusive child list). Derivation is
//!   global because a derived capability may live in another process's space
//!   and must die with its parent.
//! - Each process has a [`CapSpace`] of slots. A slot names one registry
//!   object by (index, generation) and has its own generation. A
//!   [`CapToken`] is (slot index, slot generation).
//!
//! A token is valid iff its slot's generation matches, the registry object's
//! generation matches the slot's copy, and the capability has not expired:
//! two bounds checks, two array indexes, three compares, at any table size.
//! Every registry object is held by exactly one slot (grants create child
//! objects, never aliases), so destroying a slot's object, revoking it, and
//! revoking its whole subtree are the same operation.

mod bucket;
mod registry;
mod space;

pub use bucket::TokenBucket;
pub(crate) use registry::CapObject;
pub use registry::CapRegistry;
pub use space::CapSpace;

/// A process, as capability spaces and endpoints know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u32);

/// A synchronous endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub u32);

/// An asynchronous channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub u32);

/// A shared memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub u32);

/// The kernel object a capability designates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapTarget {
    /// A synchronous endpoint.
    Endpoint(EndpointId),
    /// An asynchronous channel.
    Channel(ChannelId),
    /// A shared memory region.
    Region(RegionId),
    /// A process (spawn, kill, wait).
    Process(ProcessId),
}

/// The operation a capability check is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Send a message of some size (needs `can_send`; charged to the limits).
    Send,
    /// Receive (needs `can_receive`).
    Receive,
    /// Grant or derive (needs `can_share`).
    Share,
}

/// What the holder of a capability may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpcPermissions {
    /// May send (call, send).
    pub can_send: bool,
    /// May receive (recv, reply_recv).
    pub can_receive: bool,
    /// May grant or derive.
    pub can_share: bool,
    /// Largest message in bytes.
    pub max_message_size: usize,
}

impl IpcPermissions {
    /// Every right, messages up to `max_message_size` bytes.
    #[must_use]
    pub const fn all(max_message_size: usize) -> Self {
        Self {
            can_send: true,
            can_receive: true,
            can_share: true,
            max_message_size,
        }
    }

    /// Whether `self` grants nothing that `parent` does not.
    #[must_use]
    pub const fn is_within(&self, parent: &IpcPermissions) -> bool {
        (!self.can_send || parent.can_send)
            && (!self.can_receive || parent.can_receive)
            && (!self.can_share || parent.can_share)
            && self.max_message_size <= parent.max_message_size
    }

    /// Whether `access` is allowed.
    #[must_use]
    pub const fn allows(&self, access: Access) -> bool {
        match access {
            Access::Send => self.can_send,
            Access::Receive => self.can_receive,
            Access::Share => self.can_share,
        }
    }
}

/// Usage restrictions of a capability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IpcLimits {
    /// Messages per second (burst: one second's worth).
    pub rate_limit: Option<u32>,
    /// Bytes per second (burst: one second's worth).
    pub bandwidth_limit: Option<u64>,
    /// Absolute TSC deadline; the capability is invalid from this tick on.
    pub expiration: Option<u64>,
}

/// `child` is at most `parent` where `None` means unlimited.
fn limit_within<T: Ord>(child: Option<T>, parent: Option<T>) -> bool {
    match (child, parent) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(child), Some(parent)) => child <= parent,
    }
}

impl IpcLimits {
    /// No limits.
    pub const NONE: IpcLimits = IpcLimits {
        rate_limit: None,
        bandwidth_limit: None,
        expiration: None,
    };

    /// Whether every limit of `self` is equal to or tighter than `parent`'s.
    #[must_use]
    pub fn is_within(&self, parent: &IpcLimits) -> bool {
        limit_within(self.rate_limit, parent.rate_limit)
            && limit_within(self.bandwidth_limit, parent.bandwidth_limit)
            && limit_within(self.expiration, parent.expiration)
    }

    /// Whether the capability has expired at `now_tsc`.
    #[must_use]
    pub fn is_expired(&self, now_tsc: u64) -> bool {
        self.expiration.is_some_and(|deadline| now_tsc >= deadline)
    }
}

/// A capability: an object, the rights and limits on it, and the badge its
/// receiver sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpcCapability {
    id: u64,
    target: CapTarget,
    permissions: IpcPermissions,
    limits: IpcLimits,
    badge: u64,
}

impl IpcCapability {
    /// Unique id, never reused (audit records name capabilities by it).
    #[must_use]
    pub const fn id(&self) -> u64 {
        self.id
    }
    /// The designated object.
    #[must_use]
    pub const fn target(&self) -> CapTarget {
        self.target
    }
    /// What the holder may do.
    #[must_use]
    pub const fn permissions(&self) -> &IpcPermissions {
        &self.permissions
    }
    /// Usage restrictions.
    #[must_use]
    pub const fn limits(&self) -> &IpcLimits {
        &self.limits
    }
    /// The badge a receiver sees on messages sent through this capability
    /// (`0` = unbadged).
    #[must_use]
    pub const fn badge(&self) -> u64 {
        self.badge
    }
}

/// A process's name for a capability: slot index (low 32 bits) and slot
/// generation (high 32 bits). Generations start at 1, so `CapToken(0)` is
/// never valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapToken(pub u64);

impl CapToken {
    /// The token that is never valid.
    pub const NULL: CapToken = CapToken(0);

    /// Packs a slot index and generation.
    #[must_use]
    pub const fn new(slot: u32, generation: u32) -> Self {
        Self(((generation as u64) << 32) | slot as u64)
    }
    /// The slot index.
    #[must_use]
    pub const fn slot(self) -> u32 {
        self.0 as u32
    }
    /// The slot generation.
    #[must_use]
    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_packs_slot_low_and_generation_high() {
        let token = CapToken::new(7, 3);
        assert_eq!(token.0, 0x0000_0003_0000_0007);
        assert_eq!((token.slot(), token.generation()), (7, 3));
    }

    #[test]
    fn permission_and_limit_ordering() {
        let parent = IpcPermissions::all(64);
        let mut child = IpcPermissions {
            can_share: false,
            ..parent
        };
        assert!(child.is_within(&parent));
        child.max_message_size = 65;
        assert!(!child.is_within(&parent));
        let no_send = IpcPermissions {
            can_send: false,
            ..parent
        };
        assert!(!parent.is_within(&no_send));

        let limited = IpcLimits {
            rate_limit: Some(10),
            ..IpcLimits::NONE
        };
        assert!(limited.is_within(&IpcLimits::NONE));
        assert!(!IpcLimits::NONE.is_within(&limited));
        let looser = IpcLimits {
            rate_limit: Some(11),
            ..IpcLimits::NONE
        };
        assert!(!looser.is_within(&limited));
        let expiring = IpcLimits {
            expiration: Some(100),
            ..IpcLimits::NONE
        };
        assert!(!expiring.is_expired(99));
        assert!(expiring.is_expired(100));
    }
}
