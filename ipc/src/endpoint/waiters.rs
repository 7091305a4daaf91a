//! The receivers waiting on an endpoint: a FIFO list threaded through the
//! thread records themselves (seL4's endpoint queues of TCBs).
//!
//! Written here rather than taken from a crate: an intrusive list over
//! `Option` table entries indexed by [`ThreadRef`] is a few lines, and no
//! crate links records that live in a `Vec` by index. What it buys over a
//! `VecDeque`: push and pop are a few loads and stores with no allocation
//! (a `VecDeque` may grow, under the IPC lock), and the fast path, which
//! already holds the records involved, pays no ring arithmetic.
//!
//! Invariant: a thread is linked in at most one queue, and a thread in no
//! queue (or the last of one) has `next_waiter == None`.

use super::{Thread, ThreadRef};

/// An endpoint's waiting receivers, oldest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Waiters {
    head: Option<ThreadRef>,
    tail: Option<ThreadRef>,
}

fn record(threads: &mut [Option<Thread>], thread: ThreadRef) -> Option<&mut Thread> {
    threads.get_mut(thread.0 as usize)?.as_mut()
}

impl Waiters {
    /// The oldest waiting receiver.
    #[inline(always)]
    pub(super) const fn front(&self) -> Option<ThreadRef> {
        self.head
    }

    /// Whether no receiver waits.
    pub(super) const fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Appends `thread` (linked in no queue, so its own link is `None`).
    #[inline(always)]
    pub(super) fn push_back(&mut self, threads: &mut [Option<Thread>], thread: ThreadRef) {
        match self.tail.and_then(|tail| record(threads, tail)) {
            Some(tail) => tail.next_waiter = Some(thread),
            None => self.head = Some(thread),
        }
        self.tail = Some(thread);
    }

    /// Unlinks the oldest receiver, `front`, whose record the caller holds
    /// (so the fast path looks nothing up again).
    #[inline(always)]
    pub(super) fn pop_front_of(&mut self, front: &mut Thread) {
        self.head = front.next_waiter.take();
        if self.head.is_none() {
            self.tail = None;
        }
    }

    /// Unlinks and returns the oldest receiver.
    pub(super) fn pop_front(&mut self, threads: &mut [Option<Thread>]) -> Option<ThreadRef> {
        let front = self.head?;
        match record(threads, front) {
            Some(record) => self.pop_front_of(record),
            // Unreachable while the invariant holds (records leave the table
            // only after `remove`); drop the whole queue rather than loop.
            None => *self = Self::default(),
        }
        Some(front)
    }

    /// Unlinks `thread` wherever it is (a timeout, a death). O(queue
    /// length): the slow path only.
    pub(super) fn remove(&mut self, threads: &mut [Option<Thread>], thread: ThreadRef) {
        let mut previous: Option<ThreadRef> = None;
        let mut current = self.head;
        while let Some(here) = current {
            let next = record(threads, here).and_then(|r| r.next_waiter);
            if here == thread {
                match previous.and_then(|p| record(threads, p)) {
                    Some(previous) => previous.next_waiter = next,
                    None => self.head = next,
                }
                if self.tail == Some(thread) {
                    self.tail = previous;
                }
                if let Some(record) = record(threads, thread) {
                    record.next_waiter = None;
                }
                return;
            }
            previous = current;
            current = next;
        }
    }

    /// The receivers, oldest first, without unlinking them.
    pub(super) fn iter<'a>(
        &self,
        threads: &'a [Option<Thread>],
    ) -> impl Iterator<Item = ThreadRef> + 'a {
        core::iter::successors(self.front(), move |current| {
            threads.get(current.0 as usize)?.as_ref()?.next_waiter
        })
    }

    /// Unlinks every receiver, oldest first (the endpoint is destroyed).
    pub(super) fn drain(&mut self, threads: &mut [Option<Thread>]) -> alloc::vec::Vec<ThreadRef> {
        let mut drained = alloc::vec::Vec::new();
        while let Some(front) = self.pop_front(threads) {
            drained.push(front);
        }
        drained
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::{Thread, ThreadRef, Waiters};
    use crate::cap::ProcessId;
    use crate::endpoint::{CpuId, ThreadState};

    const THREADS: u32 = 6;

    #[derive(Clone, Debug)]
    enum Op {
        Push(u32),
        Pop,
        PopHeld,
        Remove(u32),
        Drain,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..THREADS).prop_map(Op::Push),
            2 => Just(Op::Pop),
            2 => Just(Op::PopHeld),
            2 => (0..THREADS).prop_map(Op::Remove),
            1 => Just(Op::Drain),
        ]
    }

    fn thread() -> Option<Thread> {
        Some(Thread {
            process: ProcessId(0),
            cpu: CpuId(0),
            state: ThreadState::Running,
            serving: None,
            next_waiter: None,
            remembered: crate::endpoint::fastpath::Remembered::NONE,
        })
    }

    /// The queue read by following the links from its head.
    fn walk(queue: &Waiters, threads: &[Option<Thread>]) -> Vec<ThreadRef> {
        let mut order = Vec::new();
        let mut current = queue.front();
        while let Some(here) = current {
            order.push(here);
            current = threads[here.0 as usize].as_ref().unwrap().next_waiter;
        }
        order
    }

    proptest! {
        /// Against a `VecDeque` model: the same order after every operation,
        /// the tail is the last element, and every thread outside the queue
        /// (or at its end) has no link.
        #[test]
        fn behaves_like_a_fifo(ops in prop::collection::vec(op(), 0..64)) {
            let mut threads: Vec<Option<Thread>> = (0..THREADS).map(|_| thread()).collect();
            let mut queue = Waiters::default();
            let mut model: VecDeque<ThreadRef> = VecDeque::new();
            for op in ops {
                match op {
                    // A thread waits in at most one place, once.
                    Op::Push(t) if !model.contains(&ThreadRef(t)) => {
                        queue.push_back(&mut threads, ThreadRef(t));
                        model.push_back(ThreadRef(t));
                    }
                    Op::Push(_) => {}
                    Op::Pop => prop_assert_eq!(queue.pop_front(&mut threads), model.pop_front()),
                    Op::PopHeld => {
                        if let Some(front) = queue.front() {
                            let record = threads[front.0 as usize].as_mut().unwrap();
                            queue.pop_front_of(record);
                            prop_assert_eq!(Some(front), model.pop_front());
                        } else {
                            prop_assert!(model.is_empty());
                        }
                    }
                    Op::Remove(t) => {
                        queue.remove(&mut threads, ThreadRef(t));
                        model.retain(|waiting| *waiting != ThreadRef(t));
                    }
                    Op::Drain => {
                        let drained = queue.drain(&mut threads);
                        prop_assert_eq!(drained, model.drain(..).collect::<Vec<_>>());
                    }
                }
                prop_assert_eq!(walk(&queue, &threads), model.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(queue.is_empty(), model.is_empty());
                prop_assert_eq!(queue.tail, model.back().copied());
                for (index, record) in threads.iter().enumerate() {
                    let link = record.as_ref().unwrap().next_waiter;
                    let me = ThreadRef(index as u32);
                    if !model.contains(&me) || model.back() == Some(&me) {
                        prop_assert_eq!(link, None);
                    }
                }
            }
        }
    }
}
