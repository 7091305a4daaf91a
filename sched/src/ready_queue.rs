//! One CPU's ready queue: a FIFO per priority level, linked through the thread
//! table, and a [`PriorityBitmap`] of the non-empty levels.
//!
//! Enqueue, dequeue, remove-from-the-middle and "most urgent queued thread" are
//! all O(1). Only the owning CPU touches its queue; other CPUs reach it through
//! its inbox (`inbox.rs`).

use crate::cpuset::CpuId;
use crate::error::SchedError;
use crate::list::{Link, Linked, ListHead};
use crate::priority::{PRIORITY_LEVELS, Priority, PriorityBitmap};
use crate::thread::ThreadId;

/// A thread's place in a ready queue: its list link and which CPU's queue and
/// which level it is linked at (so removal never trusts a priority that may
/// have changed since, e.g. through inheritance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueLink {
    link: Link,
    position: Option<(CpuId, Priority)>,
}

impl QueueLink {
    pub(crate) const UNQUEUED: QueueLink = QueueLink {
        link: Link::UNLINKED,
        position: None,
    };

    /// The queue (by owning CPU) and level the thread is linked at.
    pub(crate) fn position(&self) -> Option<(CpuId, Priority)> {
        self.position
    }
}

impl Linked for QueueLink {
    fn link(&self) -> &Link {
        &self.link
    }
    fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }
}

/// Where a thread re-enters its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueEnd {
    /// Behind its peers (new arrivals, expired slices, yields).
    Back,
    /// Ahead of its peers (preempted with slice left: it keeps its turn).
    Front,
}

/// Ready threads of one CPU by priority level.
#[derive(Debug, Clone)]
pub(crate) struct ReadyQueue {
    owner: CpuId,
    levels: [ListHead; PRIORITY_LEVELS],
    non_empty: PriorityBitmap,
    len: usize,
}

impl ReadyQueue {
    pub(crate) fn new(owner: CpuId) -> Self {
        Self {
            owner,
            levels: [ListHead::EMPTY; PRIORITY_LEVELS],
            non_empty: PriorityBitmap::new(),
            len: 0,
        }
    }

    /// Links `tid` at `level`.
    ///
    /// # Errors
    /// [`SchedError::UnknownThread`] if `tid` has no link slot,
    /// [`SchedError::AlreadyQueued`] if it is in a ready queue already.
    pub(crate) fn insert(
        &mut self,
        links: &mut [QueueLink],
        tid: ThreadId,
        level: Priority,
        end: QueueEnd,
    ) -> Result<(), SchedError> {
        let slot = links
            .get(tid.slot())
            .ok_or(SchedError::UnknownThread(tid))?;
        if slot.position.is_some() {
            return Err(SchedError::AlreadyQueued(tid));
        }
        let list = &mut self.levels[level.index()];
        match end {
            QueueEnd::Back => list.push_back(links, tid.0),
            QueueEnd::Front => list.push_front(links, tid.0),
        }
        links[tid.slot()].position = Some((self.owner, level));
        self.non_empty.set(level);
        self.len += 1;
        Ok(())
    }

    /// Unlinks `tid` from wherever it is in this queue; returns its level.
    ///
    /// # Errors
    /// [`SchedError::NotQueued`] if `tid` is not in this queue.
    pub(crate) fn remove(
        &mut self,
        links: &mut [QueueLink],
        tid: ThreadId,
    ) -> Result<Priority, SchedError> {
        let position = links.get(tid.slot()).and_then(|slot| slot.position);
        let Some((owner, level)) = position else {
            return Err(SchedError::NotQueued(tid));
        };
        if owner != self.owner {
            return Err(SchedError::NotQueued(tid));
        }
        let list = &mut self.levels[level.index()];
        list.remove(links, tid.0);
        if list.is_empty() {
            self.non_empty.clear(level);
        }
        links[tid.slot()].position = None;
        self.len -= 1;
        Ok(level)
    }

    /// Unlinks and returns the first thread of the most urgent level.
    pub(crate) fn pop_highest(&mut self, links: &mut [QueueLink]) -> Option<ThreadId> {
        let level = self.non_empty.highest()?;
        let first = self.levels[level.index()].front()?;
        let tid = ThreadId(first);
        // The thread was just found linked here, so removal cannot fail.
        self.remove(links, tid).ok()?;
        Some(tid)
    }

    /// The most urgent non-empty level.
    pub(crate) fn highest(&self) -> Option<Priority> {
        self.non_empty.highest()
    }

    /// Threads queued at `level`, front to back.
    pub(crate) fn level<'a>(
        &self,
        links: &'a [QueueLink],
        level: Priority,
    ) -> impl Iterator<Item = ThreadId> + 'a {
        self.levels[level.index()].iter(links).map(ThreadId)
    }

    /// Non-empty levels, most urgent first.
    pub(crate) fn levels_descending(&self) -> impl Iterator<Item = Priority> + '_ {
        (0..=u8::MAX)
            .rev()
            .map(Priority)
            .filter(|&level| self.non_empty.contains(level))
    }

    /// Number of queued threads.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::{BTreeMap, VecDeque};
    use alloc::vec::Vec;
    use proptest::prelude::*;

    const THREADS: u32 = 24;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, u8, bool),
        PopHighest,
        Remove(u32),
        ChangePriority(u32, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        // A few levels only, so that levels hold several threads; plus the
        // extremes and both sides of the 64-level word boundaries.
        let level = prop_oneof![0u8..4, Just(63u8), Just(64u8), Just(191u8), Just(255u8)];
        prop_oneof![
            (0..THREADS, level.clone(), any::<bool>()).prop_map(|(t, l, f)| Op::Insert(t, l, f)),
            Just(Op::PopHighest),
            (0..THREADS).prop_map(Op::Remove),
            (0..THREADS, level).prop_map(|(t, l)| Op::ChangePriority(t, l)),
        ]
    }

    /// The obvious reference: a map from level to FIFO.
    #[derive(Default)]
    struct Model(BTreeMap<u8, VecDeque<u32>>);

    impl Model {
        fn contains(&self, t: u32) -> bool {
            self.0.values().any(|fifo| fifo.contains(&t))
        }
        fn remove(&mut self, t: u32) -> Option<u8> {
            let (&level, fifo) = self.0.iter_mut().find(|(_, fifo)| fifo.contains(&t))?;
            fifo.retain(|&x| x != t);
            if fifo.is_empty() {
                self.0.remove(&level);
            }
            Some(level)
        }
        fn pop_highest(&mut self) -> Option<u32> {
            let mut last = self.0.last_entry()?;
            let t = last.get_mut().pop_front();
            if last.get().is_empty() {
                last.remove();
            }
            t
        }
    }

    proptest! {
        #[test]
        fn matches_fifo_per_level_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut links = [QueueLink::UNQUEUED; THREADS as usize];
            let mut queue = ReadyQueue::new(CpuId(0));
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Insert(t, level, front) => {
                        let end = if front { QueueEnd::Front } else { QueueEnd::Back };
                        let result = queue.insert(&mut links, ThreadId(t), Priority(level), end);
                        if model.contains(t) {
                            prop_assert_eq!(result, Err(SchedError::AlreadyQueued(ThreadId(t))));
                        } else {
                            prop_assert_eq!(result, Ok(()));
                            let fifo = model.0.entry(level).or_default();
                            if front { fifo.push_front(t) } else { fifo.push_back(t) }
                        }
                    }
                    Op::PopHighest => {
                        prop_assert_eq!(queue.pop_highest(&mut links), model.pop_highest().map(ThreadId));
                    }
                    Op::Remove(t) => {
                        let expected = model.remove(t).map(Priority).ok_or(SchedError::NotQueued(ThreadId(t)));
                        prop_assert_eq!(queue.remove(&mut links, ThreadId(t)), expected);
                    }
                    Op::ChangePriority(t, level) => {
                        // What the scheduler does when inheritance changes a queued thread.
                        if model.remove(t).is_some() {
                            prop_assert!(queue.remove(&mut links, ThreadId(t)).is_ok());
                            prop_assert!(queue.insert(&mut links, ThreadId(t), Priority(level), QueueEnd::Back).is_ok());
                            model.0.entry(level).or_default().push_back(t);
                        }
                    }
                }
                // Invariants: length, bitmap and every level's exact FIFO order.
                prop_assert_eq!(queue.len(), model.0.values().map(VecDeque::len).sum::<usize>());
                prop_assert_eq!(queue.highest(), model.0.keys().next_back().copied().map(Priority));
                let levels: Vec<Priority> = queue.levels_descending().collect();
                let model_levels: Vec<Priority> = model.0.keys().rev().copied().map(Priority).collect();
                prop_assert_eq!(levels, model_levels);
                for (&level, fifo) in &model.0 {
                    let queued: Vec<u32> = queue.level(&links, Priority(level)).map(|t| t.0).collect();
                    prop_assert_eq!(queued, fifo.iter().copied().collect::<Vec<_>>());
                    for &t in fifo {
                        prop_assert_eq!(links[t as usize].position(), Some((CpuId(0), Priority(level))));
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_threads_of_another_queue() {
        let mut links = [QueueLink::UNQUEUED; 2];
        let mut cpu0 = ReadyQueue::new(CpuId(0));
        let mut cpu1 = ReadyQueue::new(CpuId(1));
        cpu0.insert(&mut links, ThreadId(0), Priority(5), QueueEnd::Back)
            .unwrap();
        assert_eq!(
            cpu1.remove(&mut links, ThreadId(0)),
            Err(SchedError::NotQueued(ThreadId(0)))
        );
        assert_eq!(
            cpu1.insert(&mut links, ThreadId(0), Priority(5), QueueEnd::Back),
            Err(SchedError::AlreadyQueued(ThreadId(0)))
        );
        assert_eq!(
            cpu0.insert(&mut links, ThreadId(7), Priority(5), QueueEnd::Back),
            Err(SchedError::UnknownThread(ThreadId(7)))
        );
        assert_eq!(cpu0.remove(&mut links, ThreadId(0)), Ok(Priority(5)));
        assert!(cpu0.highest().is_none());
    }
}
