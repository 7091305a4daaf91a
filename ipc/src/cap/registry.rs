//! The global capability registry: every capability object, its generation,
//! its rate buckets, and the derivation tree that revocation walks.
//!
//! Objects live in one growable table bounded by `max_objects`; freed entries
//! go on a free list and come back with a bumped generation. An entry whose
//! generation would wrap is retired instead, so a stale handle can never match
//! again. The derivation tree is intrusive (parent, first child, siblings in
//! the entries themselves): creating and unlinking are O(1) and revoking a
//! subtree is an iterative post-order walk with no allocation and no recursion.

use alloc::vec::Vec;

use super::space::CapSpace;
use super::{Access, CapTarget, CapToken, IpcCapability, IpcLimits, IpcPermissions, TokenBucket};
use crate::error::IpcError;

/// Where a registry object is: index and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ObjectHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// A live capability object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CapObject {
    pub(crate) capability: IpcCapability,
    rate: Option<TokenBucket>,
    bandwidth: Option<TokenBucket>,
    /// Unmetered, may send, and a small message fits: the fast path's
    /// sending rights in one test (a capability never changes once made).
    fast_send: bool,
    parent: Option<u32>,
    first_child: Option<u32>,
    prev_sibling: Option<u32>,
    next_sibling: Option<u32>,
}

impl CapObject {
    /// Whether a message of `bytes` may be charged to the buckets now.
    fn admits(&self, bytes: u64, now_tsc: u64) -> Result<(), IpcError> {
        if let Some(rate) = &self.rate {
            rate.admits(1, now_tsc)?;
        }
        if let Some(bandwidth) = &self.bandwidth {
            bandwidth.admits(bytes, now_tsc)?;
        }
        Ok(())
    }

    /// Whether the fast path may send a small message through it, expiry
    /// aside: unmetered (no rate or bandwidth bucket: charging one would be
    /// a side effect), `can_send`, and `max_message_size` at least
    /// [`crate::endpoint::SMALL_PAYLOAD_BYTES`].
    #[inline(always)]
    pub(crate) const fn fast_send(&self) -> bool {
        self.fast_send
    }
}

// Free entries are as large as live ones: boxing live objects would cost an
// allocation per capability and a pointer chase on every check.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
// An explicit one-byte tag: the niche the compiler otherwise picks (inside
// the token buckets) made "is it live?" a 128-bit compare on every lookup.
#[repr(u8)]
enum EntryState {
    Free { next_free: Option<u32> },
    Retired,
    Live(CapObject),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct RegistryEntry {
    generation: u32,
    state: EntryState,
}

/// The global table of capability objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapRegistry {
    entries: Vec<RegistryEntry>,
    free_head: Option<u32>,
    max_objects: u32,
    live: usize,
    retired: usize,
    next_id: u64,
    tsc_hz: u64,
    /// Bumped whenever an object dies (the only way a token that once
    /// resolved can stop resolving, or name something else): what the fast
    /// path remembered about a token holds while this is unchanged. Starts
    /// at 1, so a record of epoch 0 never matches.
    epoch: u64,
}

impl CapRegistry {
    /// An empty registry of at most `max_objects` objects whose rate limits
    /// run on a TSC of `tsc_hz`.
    ///
    /// # Errors
    /// [`IpcError::InvalidArgument`] if `tsc_hz` is zero.
    pub fn new(max_objects: u32, tsc_hz: u64) -> Result<Self, IpcError> {
        if tsc_hz == 0 {
            return Err(IpcError::InvalidArgument);
        }
        Ok(Self {
            entries: Vec::new(),
            free_head: None,
            max_objects,
            live: 0,
            retired: 0,
            next_id: 1,
            tsc_hz,
            epoch: 1,
        })
    }

    /// Live capability objects.
    #[must_use]
    pub const fn live_objects(&self) -> usize {
        self.live
    }

    /// Objects that can still be created.
    #[must_use]
    pub const fn free_objects(&self) -> usize {
        self.max_objects as usize - self.live - self.retired
    }

    /// The count of object deaths so far, plus one (see the field).
    #[inline(always)]
    pub(crate) const fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn object(&self, handle: ObjectHandle) -> Option<&CapObject> {
        let entry = self.entries.get(handle.index as usize)?;
        match &entry.state {
            EntryState::Live(object) if entry.generation == handle.generation => Some(object),
            _ => None,
        }
    }

    fn object_mut(&mut self, handle: ObjectHandle) -> Option<&mut CapObject> {
        let entry = self.entries.get_mut(handle.index as usize)?;
        match &mut entry.state {
            EntryState::Live(object) if entry.generation == handle.generation => Some(object),
            _ => None,
        }
    }

    /// Live object at `index` whatever its generation (tree links are only
    /// ever set between live objects and cleared before an entry is freed).
    fn live_at(&mut self, index: u32) -> Option<&mut CapObject> {
        match &mut self.entries.get_mut(index as usize)?.state {
            EntryState::Live(object) => Some(object),
            _ => None,
        }
    }

    fn bucket(rate: Option<u64>, tsc_hz: u64) -> Option<TokenBucket> {
        // Burst = one second's worth, at least one unit; `new` only fails for
        // a zero TSC rate or capacity, both excluded here.
        rate.and_then(|rate| TokenBucket::new(rate, rate.max(1), tsc_hz).ok())
    }

    /// Creates an object under `parent` (or as a root) and returns its handle.
    fn create(
        &mut self,
        target: CapTarget,
        permissions: IpcPermissions,
        limits: IpcLimits,
        badge: u64,
        parent: Option<ObjectHandle>,
    ) -> Result<ObjectHandle, IpcError> {
        let rate = Self::bucket(limits.rate_limit.map(u64::from), self.tsc_hz);
        let bandwidth = Self::bucket(limits.bandwidth_limit, self.tsc_hz);
        let object = CapObject {
            fast_send: rate.is_none()
                && bandwidth.is_none()
                && permissions.can_send
                && permissions.max_message_size as u64 >= crate::endpoint::SMALL_PAYLOAD_BYTES,
            capability: IpcCapability {
                id: self.next_id,
                target,
                permissions,
                limits,
                badge,
            },
            rate,
            bandwidth,
            parent: parent.map(|parent| parent.index),
            first_child: None,
            prev_sibling: None,
            next_sibling: None,
        };
        let index = match self.free_head {
            Some(index) => index,
            None if self.entries.len() < self.max_objects as usize => {
                self.entries.push(RegistryEntry {
                    generation: 1,
                    state: EntryState::Free { next_free: None },
                });
                // Bounded by `max_objects: u32`, so the cast cannot truncate.
                (self.entries.len() - 1) as u32
            }
            None => return Err(IpcError::OutOfMemory),
        };
        let entry = &mut self.entries[index as usize];
        if let EntryState::Free { next_free } = entry.state
            && self.free_head == Some(index)
        {
            self.free_head = next_free;
        }
        entry.state = EntryState::Live(object);
        let handle = ObjectHandle {
            index,
            generation: entry.generation,
        };
        self.live += 1;
        self.next_id += 1;
        if let Some(parent) = parent {
            let old_first = self
                .live_at(parent.index)
                .and_then(|p| p.first_child.replace(index));
            if let Some(old_first) = old_first {
                if let Some(sibling) = self.live_at(old_first) {
                    sibling.prev_sibling = Some(index);
                }
                if let Some(me) = self.live_at(index) {
                    me.next_sibling = Some(old_first);
                }
            }
        }
        Ok(handle)
    }

    /// Unlinks the childless live object at `index` from its parent and
    /// siblings, frees it, tells `died` its target and returns its parent's
    /// index.
    fn free_leaf(&mut self, index: u32, died: &mut impl FnMut(CapTarget)) -> Option<u32> {
        let (parent, prev, next) = match self.live_at(index) {
            Some(object) => {
                died(object.capability.target);
                (object.parent, object.prev_sibling, object.next_sibling)
            }
            None => return None,
        };
        debug_assert!(self.live_at(index).is_some_and(|o| o.first_child.is_none()));
        match prev {
            Some(prev) => {
                if let Some(prev) = self.live_at(prev) {
                    prev.next_sibling = next;
                }
            }
            None => {
                if let Some(parent) = parent.and_then(|p| self.live_at(p)) {
                    parent.first_child = next;
                }
            }
        }
        if let Some(next) = next.and_then(|n| self.live_at(n)) {
            next.prev_sibling = prev;
        }
        let entry = &mut self.entries[index as usize];
        self.live -= 1;
        self.epoch += 1;
        if entry.generation == u32::MAX {
            entry.state = EntryState::Retired;
            self.retired += 1;
        } else {
            entry.generation += 1;
            entry.state = EntryState::Free {
                next_free: self.free_head,
            };
            self.free_head = Some(index);
        }
        parent
    }

    /// Destroys `root` and all its descendants, telling `died` the target
    /// of each; returns how many objects died. Every outstanding token for
    /// them fails from now on.
    pub(crate) fn destroy_subtree(
        &mut self,
        root: ObjectHandle,
        died: &mut impl FnMut(CapTarget),
    ) -> usize {
        if self.object(root).is_none() {
            return 0;
        }
        let mut destroyed = 0;
        let mut current = root.index;
        loop {
            // Descend to a leaf, then free it and climb back to its parent.
            if let Some(child) = self.live_at(current).and_then(|o| o.first_child) {
                current = child;
                continue;
            }
            let parent = self.free_leaf(current, died);
            destroyed += 1;
            match parent {
                Some(parent) if current != root.index => current = parent,
                _ => break,
            }
        }
        destroyed
    }

    /// Installs a new object in `space`, destroying it again if that fails
    /// (`ensure_free_slot` makes failure impossible; this keeps it harmless).
    fn place(&mut self, space: &mut CapSpace, handle: ObjectHandle) -> Result<CapToken, IpcError> {
        let token = space.install(handle);
        if token.is_err() {
            self.destroy_subtree(handle, &mut |_| {});
        }
        token
    }

    /// Mints a root capability (the kernel creating an object) into `space`.
    ///
    /// # Errors
    /// [`IpcError::OutOfMemory`] if the registry or the space is full.
    pub fn mint(
        &mut self,
        space: &mut CapSpace,
        target: CapTarget,
        permissions: IpcPermissions,
        limits: IpcLimits,
        badge: u64,
    ) -> Result<CapToken, IpcError> {
        space.ensure_free_slot(self)?;
        let handle = self.create(target, permissions, limits, badge, None)?;
        self.place(space, handle)
    }

    /// Checks a derivation request against the source capability; returns the
    /// parent's handle and the badge the child gets.
    fn check_derivation(
        &self,
        source: &CapSpace,
        token: CapToken,
        permissions: &IpcPermissions,
        limits: &IpcLimits,
        badge: Option<u64>,
        now_tsc: u64,
    ) -> Result<(ObjectHandle, CapTarget, u64), IpcError> {
        let handle = source.resolve(self, token)?;
        let parent = self
            .object(handle)
            .ok_or(IpcError::InvalidCapability)?
            .capability;
        if parent.limits.is_expired(now_tsc) {
            return Err(IpcError::InvalidCapability);
        }
        if !parent.permissions.can_share
            || !permissions.is_within(&parent.permissions)
            || !limits.is_within(&parent.limits)
        {
            return Err(IpcError::PermissionDenied);
        }
        // A badge can be set once: on an unbadged capability.
        let child_badge = match badge {
            None => parent.badge,
            Some(badge) if parent.badge == 0 || badge == parent.badge => badge,
            Some(_) => return Err(IpcError::PermissionDenied),
        };
        Ok((handle, parent.target, child_badge))
    }

    /// Derives a capability with equal or fewer rights and equal or tighter
    /// limits, in the same space. `badge: None` keeps the parent's badge.
    ///
    /// # Errors
    /// [`IpcError::InvalidCapability`] for a bad or expired token;
    /// [`IpcError::PermissionDenied`] without `can_share`, for wider rights,
    /// looser limits, or re-badging a badged capability;
    /// [`IpcError::OutOfMemory`] if the registry or the space is full.
    pub fn derive(
        &mut self,
        space: &mut CapSpace,
        token: CapToken,
        permissions: IpcPermissions,
        limits: IpcLimits,
        badge: Option<u64>,
        now_tsc: u64,
    ) -> Result<CapToken, IpcError> {
        let (parent, target, badge) =
            self.check_derivation(space, token, &permissions, &limits, badge, now_tsc)?;
        space.ensure_free_slot(self)?;
        let handle = self.create(target, permissions, limits, badge, Some(parent))?;
        self.place(space, handle)
    }

    /// Grants another process a derived capability: as [`Self::derive`], but
    /// the child lands in `destination`. It dies when the source is revoked.
    ///
    /// # Errors
    /// As [`Self::derive`] (space errors concern `destination`).
    #[allow(clippy::too_many_arguments)] // Each argument is one part of the request.
    pub fn grant(
        &mut self,
        source: &CapSpace,
        token: CapToken,
        destination: &mut CapSpace,
        permissions: IpcPermissions,
        limits: IpcLimits,
        badge: Option<u64>,
        now_tsc: u64,
    ) -> Result<CapToken, IpcError> {
        let (parent, target, badge) =
            self.check_derivation(source, token, &permissions, &limits, badge, now_tsc)?;
        destination.ensure_free_slot(self)?;
        let handle = self.create(target, permissions, limits, badge, Some(parent))?;
        self.place(destination, handle)
    }

    /// Revokes the capability `token` names and every capability derived from
    /// it, in every space, and frees the slot. Expired capabilities can still
    /// be revoked. Returns how many objects died.
    ///
    /// # Errors
    /// [`IpcError::InvalidCapability`] if the token names no live capability.
    pub fn revoke(&mut self, space: &mut CapSpace, token: CapToken) -> Result<usize, IpcError> {
        self.revoke_into(space, token, &mut |_| {})
    }

    /// [`Self::revoke`], telling `died` the target of every capability that
    /// died (once per capability).
    ///
    /// # Errors
    /// As [`Self::revoke`].
    pub fn revoke_into(
        &mut self,
        space: &mut CapSpace,
        token: CapToken,
        died: &mut impl FnMut(CapTarget),
    ) -> Result<usize, IpcError> {
        let handle = space.resolve(self, token)?;
        space.free_slot(token);
        Ok(self.destroy_subtree(handle, died))
    }

    /// Destroys a dead process's space: every capability it held and all
    /// their descendants die. Returns how many objects died.
    pub fn destroy_space(&mut self, space: CapSpace) -> usize {
        self.destroy_space_into(space, &mut |_| {})
    }

    /// [`Self::destroy_space`], telling `died` the target of every
    /// capability that died.
    pub fn destroy_space_into(
        &mut self,
        space: CapSpace,
        died: &mut impl FnMut(CapTarget),
    ) -> usize {
        space
            .held_objects()
            .map(|handle| self.destroy_subtree(handle, died))
            .sum()
    }

    /// Checks `token` for `access` with a message of `bytes` at `now_tsc`
    /// exactly as [`Self::check`] does, but charges nothing.
    ///
    /// Order: token validity and expiry ([`IpcError::InvalidCapability`]),
    /// the right ([`IpcError::PermissionDenied`]), `max_message_size`
    /// ([`IpcError::MessageTooLarge`]), then, for [`Access::Send`] only, both
    /// buckets ([`IpcError::RateLimitExceeded`], or
    /// [`IpcError::MessageTooLarge`] for a message larger than the bandwidth
    /// burst, which could never pass).
    ///
    /// # Errors
    /// As listed above.
    pub fn admits(
        &self,
        space: &CapSpace,
        token: CapToken,
        access: Access,
        bytes: u64,
        now_tsc: u64,
    ) -> Result<&IpcCapability, IpcError> {
        let handle = space.resolve(self, token)?;
        let object = self.object(handle).ok_or(IpcError::InvalidCapability)?;
        if object.capability.limits.is_expired(now_tsc) {
            return Err(IpcError::InvalidCapability);
        }
        let permissions = &object.capability.permissions;
        if !permissions.allows(access) {
            return Err(IpcError::PermissionDenied);
        }
        if bytes > permissions.max_message_size as u64 {
            return Err(IpcError::MessageTooLarge);
        }
        if access == Access::Send {
            object.admits(bytes, now_tsc)?;
        }
        Ok(&object.capability)
    }

    /// Checks `token` as [`Self::admits`] does and, for [`Access::Send`],
    /// charges one message and `bytes` to the rate and bandwidth buckets: the
    /// one call the kernel makes per IPC operation. Nothing is charged on error.
    ///
    /// # Errors
    /// As [`Self::admits`].
    pub fn check(
        &mut self,
        space: &CapSpace,
        token: CapToken,
        access: Access,
        bytes: u64,
        now_tsc: u64,
    ) -> Result<&IpcCapability, IpcError> {
        self.admits(space, token, access, bytes, now_tsc)?;
        let handle = space.resolve(self, token)?;
        let object = self.object_mut(handle).ok_or(IpcError::InvalidCapability)?;
        if access == Access::Send {
            // `admits` passed for both buckets, so neither take can fail.
            if let Some(rate) = &mut object.rate {
                rate.try_take(1, now_tsc)?;
            }
            if let Some(bandwidth) = &mut object.bandwidth {
                bandwidth.try_take(bytes, now_tsc)?;
            }
        }
        Ok(&object.capability)
    }
}
