//! A process's capability space: slots that name registry objects.
//!
//! A slot holds (registry index, registry generation) and has its own
//! generation, which the [`CapToken`] carries. Freed slots come back with a
//! bumped generation; a slot whose generation would wrap is retired. A slot
//! whose object was destroyed through another space (its ancestor was
//! revoked) fails every lookup at once and is reclaimed lazily: by
//! [`CapSpace::reclaim_dead`], or automatically when the space runs out of
//! free slots.

use alloc::vec::Vec;

use super::registry::{CapRegistry, ObjectHandle};
use super::{CapToken, IpcCapability, ProcessId};
use crate::error::IpcError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free { next_free: Option<u32> },
    Retired,
    Used(ObjectHandle),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    generation: u32,
    state: SlotState,
}

/// The capability slots of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapSpace {
    owner: ProcessId,
    slots: Vec<Slot>,
    free_head: Option<u32>,
    max_slots: u32,
    used: usize,
    retired: usize,
}

impl CapSpace {
    /// An empty space for `owner` with room for `max_slots` capabilities.
    #[must_use]
    pub const fn new(owner: ProcessId, max_slots: u32) -> Self {
        Self {
            owner,
            slots: Vec::new(),
            free_head: None,
            max_slots,
            used: 0,
            retired: 0,
        }
    }

    /// The process this space belongs to.
    #[must_use]
    pub const fn owner(&self) -> ProcessId {
        self.owner
    }

    /// Occupied slots, including ones whose object died elsewhere and that
    /// [`Self::reclaim_dead`] has not reclaimed yet.
    #[must_use]
    pub const fn used_slots(&self) -> usize {
        self.used
    }

    /// Slots still available.
    #[must_use]
    pub const fn free_slots(&self) -> usize {
        self.max_slots as usize - self.used - self.retired
    }

    /// The live registry object `token` names (generations only, no expiry).
    #[inline(always)]
    pub(crate) fn resolve(
        &self,
        registry: &CapRegistry,
        token: CapToken,
    ) -> Result<ObjectHandle, IpcError> {
        let slot = self
            .slots
            .get(token.slot() as usize)
            .ok_or(IpcError::InvalidCapability)?;
        match slot.state {
            SlotState::Used(handle)
                if slot.generation == token.generation() && registry.object(handle).is_some() =>
            {
                Ok(handle)
            }
            _ => Err(IpcError::InvalidCapability),
        }
    }

    /// The capability `token` names, if valid and unexpired at `now_tsc`.
    /// Mutates nothing: no right is checked and no bucket is charged (see
    /// [`CapRegistry::check`] for that).
    ///
    /// # Errors
    /// [`IpcError::InvalidCapability`] for an unknown, revoked or expired token.
    pub fn lookup<'registry>(
        &self,
        registry: &'registry CapRegistry,
        token: CapToken,
        now_tsc: u64,
    ) -> Result<&'registry IpcCapability, IpcError> {
        let handle = self.resolve(registry, token)?;
        let object = registry.object(handle).ok_or(IpcError::InvalidCapability)?;
        if object.capability.limits().is_expired(now_tsc) {
            return Err(IpcError::InvalidCapability);
        }
        Ok(&object.capability)
    }

    /// Makes sure [`Self::install`] will succeed, reclaiming dead slots if
    /// the space is full.
    pub(crate) fn ensure_free_slot(&mut self, registry: &CapRegistry) -> Result<(), IpcError> {
        if self.free_head.is_some() || self.slots.len() < self.max_slots as usize {
            return Ok(());
        }
        if self.reclaim_dead(registry) > 0 && self.free_head.is_some() {
            return Ok(());
        }
        Err(IpcError::OutOfMemory)
    }

    /// Puts `handle` in a free slot and returns its token.
    pub(crate) fn install(&mut self, handle: ObjectHandle) -> Result<CapToken, IpcError> {
        let index = match self.free_head {
            Some(index) => index,
            None if self.slots.len() < self.max_slots as usize => {
                self.slots.push(Slot {
                    generation: 1,
                    state: SlotState::Free { next_free: None },
                });
                // Bounded by `max_slots: u32`, so the cast cannot truncate.
                (self.slots.len() - 1) as u32
            }
            None => return Err(IpcError::OutOfMemory),
        };
        let slot = &mut self.slots[index as usize];
        if let SlotState::Free { next_free } = slot.state
            && self.free_head == Some(index)
        {
            self.free_head = next_free;
        }
        slot.state = SlotState::Used(handle);
        self.used += 1;
        Ok(CapToken::new(index, slot.generation))
    }

    /// Frees the slot `token` names (the caller has resolved it).
    pub(crate) fn free_slot(&mut self, token: CapToken) {
        let Some(slot) = self.slots.get_mut(token.slot() as usize) else {
            return;
        };
        if !matches!(slot.state, SlotState::Used(_)) || slot.generation != token.generation() {
            return;
        }
        self.used -= 1;
        if slot.generation == u32::MAX {
            slot.state = SlotState::Retired;
            self.retired += 1;
        } else {
            slot.generation += 1;
            slot.state = SlotState::Free {
                next_free: self.free_head,
            };
            self.free_head = Some(token.slot());
        }
    }

    /// Frees every slot whose object was destroyed (an ancestor in another
    /// space was revoked); returns how many. O(slots).
    pub fn reclaim_dead(&mut self, registry: &CapRegistry) -> usize {
        let mut reclaimed = 0;
        for index in 0..self.slots.len() {
            let slot = self.slots[index];
            if let SlotState::Used(handle) = slot.state
                && registry.object(handle).is_none()
            {
                // Bounded by `max_slots: u32`, so the cast cannot truncate.
                self.free_slot(CapToken::new(index as u32, slot.generation));
                reclaimed += 1;
            }
        }
        reclaimed
    }

    /// Whether this space holds a live capability to `target` that allows
    /// `access` (expiry aside). O(slots): for the rare paths that decide
    /// whether a waiting thread lost its right (revocation, death).
    #[must_use]
    pub fn holds(
        &self,
        registry: &CapRegistry,
        target: super::CapTarget,
        access: super::Access,
    ) -> bool {
        self.slots.iter().any(|slot| match slot.state {
            SlotState::Used(handle) => registry.object(handle).is_some_and(|object| {
                object.capability.target == target && object.capability.permissions.allows(access)
            }),
            _ => false,
        })
    }

    /// The objects held by this space, consuming it (process death).
    pub(crate) fn held_objects(self) -> impl Iterator<Item = ObjectHandle> {
        self.slots.into_iter().filter_map(|slot| match slot.state {
            SlotState::Used(handle) => Some(handle),
            _ => None,
        })
    }
}
