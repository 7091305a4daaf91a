//! [`NodeFrames`]: the frame allocators of every NUMA node, with allocation on
//! a chosen node and fallback to the nearest node (by SLIT distance) when that
//! node is exhausted.
//!
//! A node may own several zones (SRAT often splits a node's memory around the
//! PCI hole), each its own [`FrameBitmap`]. Capacity `N` bounds both the zones
//! and the distinct nodes; no heap.

use arrayvec::ArrayVec;

use super::{FrameBitmap, FrameError, PhysFrame};
use crate::cpuset::NodeId;

/// SLIT distance of a node to itself.
pub const LOCAL_DISTANCE: u8 = 10;
/// The distance assumed between two different nodes when none was set.
pub const DEFAULT_REMOTE_DISTANCE: u8 = 20;

/// One zone: a frame range and the node it belongs to.
#[derive(Debug)]
struct Zone<'a> {
    node: NodeId,
    frames: FrameBitmap<'a>,
}

/// Frame allocators for up to `N` zones on up to `N` nodes.
#[derive(Debug)]
pub struct NodeFrames<'a, const N: usize> {
    zones: ArrayVec<Zone<'a>, N>,
    /// Distinct nodes; a node's position here indexes `distances`.
    nodes: ArrayVec<NodeId, N>,
    /// `distances[a][b]`, 0 = not set (use the defaults).
    distances: [[u8; N]; N],
}

impl<const N: usize> Default for NodeFrames<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, const N: usize> NodeFrames<'a, N> {
    /// No zones, no nodes.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            zones: ArrayVec::new_const(),
            nodes: ArrayVec::new_const(),
            distances: [[0; N]; N],
        }
    }

    /// Adds a zone of `node`.
    ///
    /// # Errors
    /// [`FrameError::OverlappingZone`] if it overlaps a zone already added,
    /// [`FrameError::TooManyZones`] beyond the capacity.
    pub fn add_zone(&mut self, node: NodeId, frames: FrameBitmap<'a>) -> Result<(), FrameError> {
        let overlaps = |zone: &Zone<'_>| {
            zone.frames.base() < frames.end() && frames.base() < zone.frames.end()
        };
        if self.zones.iter().any(overlaps) {
            return Err(FrameError::OverlappingZone);
        }
        if self.zones.is_full() {
            return Err(FrameError::TooManyZones);
        }
        self.slot_or_register(node)?;
        self.zones.push(Zone { node, frames });
        Ok(())
    }

    /// Sets the distance from `from` to `to` (SLIT: 10 = local, larger =
    /// farther; 0 restores the default). Distances need not be symmetric.
    ///
    /// # Errors
    /// [`FrameError::TooManyZones`] if a new node does not fit.
    pub fn set_distance(
        &mut self,
        from: NodeId,
        to: NodeId,
        distance: u8,
    ) -> Result<(), FrameError> {
        let from_slot = self.slot_or_register(from)?;
        let to_slot = self.slot_or_register(to)?;
        self.distances[from_slot][to_slot] = distance;
        Ok(())
    }

    /// The distance from `from` to `to`: the value set, else 10 for a node to
    /// itself and 20 otherwise; `None` if either node is unknown.
    #[must_use]
    pub fn distance(&self, from: NodeId, to: NodeId) -> Option<u8> {
        let stored = self.distances[self.slot(from)?][self.slot(to)?];
        Some(match stored {
            0 if from == to => LOCAL_DISTANCE,
            0 => DEFAULT_REMOTE_DISTANCE,
            set => set,
        })
    }

    /// The nodes to try for an allocation wanted on `node`: `node` itself
    /// first, then the others by increasing distance from it (ties by id).
    #[must_use]
    pub fn fallback_order(&self, node: NodeId) -> FallbackOrder<'_, 'a, N> {
        FallbackOrder {
            frames: self,
            from: node,
            last: None,
        }
    }

    /// Allocates a frame on `node`, or on the nearest node that has one.
    /// Returns the frame and the node that supplied it.
    ///
    /// # Errors
    /// [`FrameError::UnknownNode`], or [`FrameError::Exhausted`] when no node
    /// has a free frame.
    pub fn alloc_on(&mut self, node: NodeId) -> Result<(PhysFrame, NodeId), FrameError> {
        self.alloc_with(node, |frames| frames.alloc())
    }

    /// Allocates `count` contiguous frames aligned to `align` on `node`, or on
    /// the nearest node that has such a run (a run never spans zones).
    ///
    /// # Errors
    /// [`FrameError::UnknownNode`], [`FrameError::ZeroCount`],
    /// [`FrameError::BadAlignment`], or [`FrameError::Exhausted`].
    pub fn alloc_contiguous_on(
        &mut self,
        node: NodeId,
        count: usize,
        align: u64,
    ) -> Result<(PhysFrame, NodeId), FrameError> {
        self.alloc_with(node, |frames| frames.alloc_contiguous(count, align))
    }

    /// Frees `frame` into the zone that holds it; returns that zone's node.
    ///
    /// # Errors
    /// [`FrameError::OutOfRange`] if no zone holds it, [`FrameError::DoubleFree`].
    pub fn free(&mut self, frame: PhysFrame) -> Result<NodeId, FrameError> {
        let zone = self
            .zone_holding(frame)
            .ok_or(FrameError::OutOfRange { addr: frame.addr() })?;
        zone.frames.free(frame)?;
        Ok(zone.node)
    }

    /// Frees `count` contiguous frames from `first`, all in one zone.
    ///
    /// # Errors
    /// As [`FrameBitmap::free_contiguous`]; [`FrameError::OutOfRange`] if no
    /// zone holds `first`.
    pub fn free_contiguous(
        &mut self,
        first: PhysFrame,
        count: usize,
    ) -> Result<NodeId, FrameError> {
        let zone = self
            .zone_holding(first)
            .ok_or(FrameError::OutOfRange { addr: first.addr() })?;
        zone.frames.free_contiguous(first, count)?;
        Ok(zone.node)
    }

    /// The node that should back an allocation of `count` frames wanted on
    /// `node`: `node` itself when it has `count` free frames, else the
    /// nearest node (by distance, then id) that has them. `None` when no
    /// single node has `count` free frames or `node` is unknown.
    #[must_use]
    pub fn node_with_room(&self, node: NodeId, count: usize) -> Option<NodeId> {
        self.slot(node)?;
        self.fallback_order(node)
            .find(|&candidate| self.free_frames_on(candidate) >= count)
    }

    /// Free frames on `node` (0 for an unknown node).
    #[must_use]
    pub fn free_frames_on(&self, node: NodeId) -> usize {
        self.zones_of(node)
            .map(|zone| zone.frames.free_frames())
            .sum()
    }

    /// Frames managed on `node` (0 for an unknown node).
    #[must_use]
    pub fn total_frames_on(&self, node: NodeId) -> usize {
        self.zones_of(node)
            .map(|zone| zone.frames.total_frames())
            .sum()
    }

    /// Free frames on all nodes.
    #[must_use]
    pub fn free_frames(&self) -> usize {
        self.zones
            .iter()
            .map(|zone| zone.frames.free_frames())
            .sum()
    }

    /// Frames managed on all nodes.
    #[must_use]
    pub fn total_frames(&self) -> usize {
        self.zones
            .iter()
            .map(|zone| zone.frames.total_frames())
            .sum()
    }

    /// Tries `alloc` on every zone of every node in fallback order from `node`.
    fn alloc_with(
        &mut self,
        node: NodeId,
        mut alloc: impl FnMut(&mut FrameBitmap<'a>) -> Result<PhysFrame, FrameError>,
    ) -> Result<(PhysFrame, NodeId), FrameError> {
        self.slot(node).ok_or(FrameError::UnknownNode(node))?;
        // Collected first: the order borrows `self`, the allocation mutates it.
        // It fits: the order yields each of the at most N nodes once.
        let order: ArrayVec<NodeId, N> = self.fallback_order(node).collect();
        for candidate in order {
            for zone in self.zones.iter_mut().filter(|zone| zone.node == candidate) {
                match alloc(&mut zone.frames) {
                    Ok(frame) => return Ok((frame, candidate)),
                    Err(FrameError::Exhausted) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Err(FrameError::Exhausted)
    }

    fn zones_of(&self, node: NodeId) -> impl Iterator<Item = &Zone<'a>> {
        self.zones.iter().filter(move |zone| zone.node == node)
    }

    fn zone_holding(&mut self, frame: PhysFrame) -> Option<&mut Zone<'a>> {
        self.zones
            .iter_mut()
            .find(|zone| zone.frames.contains(frame))
    }

    fn slot(&self, node: NodeId) -> Option<usize> {
        self.nodes.iter().position(|known| *known == node)
    }

    fn slot_or_register(&mut self, node: NodeId) -> Result<usize, FrameError> {
        if let Some(slot) = self.slot(node) {
            return Ok(slot);
        }
        self.nodes
            .try_push(node)
            .map_err(|_| FrameError::TooManyZones)?;
        Ok(self.nodes.len() - 1)
    }
}

/// Iterator over nodes by increasing distance from one node (ties by id);
/// see [`NodeFrames::fallback_order`]. Each step is a selection over the
/// nodes, O(N), so no sorting buffer is needed.
#[derive(Clone, Debug)]
pub struct FallbackOrder<'f, 'a, const N: usize> {
    frames: &'f NodeFrames<'a, N>,
    from: NodeId,
    /// The (distance, node) key of the last node yielded.
    last: Option<(u8, NodeId)>,
}

impl<const N: usize> Iterator for FallbackOrder<'_, '_, N> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let from = self.from;
        // The node itself always comes first, whatever distance was set.
        let key = |node: NodeId| {
            let distance = if node == from {
                0
            } else {
                self.frames.distance(from, node).unwrap_or(u8::MAX)
            };
            (distance, node)
        };
        let next = self
            .frames
            .nodes
            .iter()
            .map(|node| key(*node))
            .filter(|candidate| Some(*candidate) > self.last)
            .min()?;
        self.last = Some(next);
        Some(next.1)
    }
}
