//! Intrusive, index-linked doubly linked lists over slabs.
//!
//! Elements are slab indices (`u32`), links live inside the slab entries, so a
//! list costs no allocation and removing an element from the middle is O(1).
//! Used for the per-level ready queues, the waiter lists of the priority
//! inheritance graph and the "needs attention" list. Membership is tracked by
//! the callers (a thread is on a list iff its state says so); the functions here
//! `debug_assert!` the invariants they rely on.
//!
//! Hand-written rather than taken from a crate: the intrusive-collections style
//! crates link through pointers (needing `unsafe` and pinning), while we index
//! slabs that the kernel shares as plain data.

/// The "no element" index.
const NIL: u32 = u32::MAX;

/// Previous/next element of one list, stored inside a slab entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    prev: u32,
    next: u32,
}

impl Link {
    /// A link that is on no list.
    pub(crate) const UNLINKED: Link = Link {
        prev: NIL,
        next: NIL,
    };
}

/// Slab entries that carry a [`Link`] for one particular list.
pub(crate) trait Linked {
    fn link(&self) -> &Link;
    fn link_mut(&mut self) -> &mut Link;
}

impl Linked for Link {
    fn link(&self) -> &Link {
        self
    }
    fn link_mut(&mut self) -> &mut Link {
        self
    }
}

/// First/last element and length of one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListHead {
    head: u32,
    tail: u32,
    len: u32,
}

impl Default for ListHead {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl ListHead {
    /// A list with no elements.
    pub(crate) const EMPTY: ListHead = ListHead {
        head: NIL,
        tail: NIL,
        len: 0,
    };

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// Appends `idx`, which must be on no list of this kind.
    pub(crate) fn push_back<L: Linked>(&mut self, slots: &mut [L], idx: u32) {
        debug_assert_eq!(*slots[idx as usize].link(), Link::UNLINKED);
        *slots[idx as usize].link_mut() = Link {
            prev: self.tail,
            next: NIL,
        };
        if self.tail == NIL {
            self.head = idx;
        } else {
            slots[self.tail as usize].link_mut().next = idx;
        }
        self.tail = idx;
        self.len += 1;
    }

    /// Prepends `idx`, which must be on no list of this kind.
    pub(crate) fn push_front<L: Linked>(&mut self, slots: &mut [L], idx: u32) {
        debug_assert_eq!(*slots[idx as usize].link(), Link::UNLINKED);
        *slots[idx as usize].link_mut() = Link {
            prev: NIL,
            next: self.head,
        };
        if self.head == NIL {
            self.tail = idx;
        } else {
            slots[self.head as usize].link_mut().prev = idx;
        }
        self.head = idx;
        self.len += 1;
    }

    /// Unlinks `idx`, which must be on this list.
    pub(crate) fn remove<L: Linked>(&mut self, slots: &mut [L], idx: u32) {
        let Link { prev, next } = *slots[idx as usize].link();
        debug_assert!(self.len > 0);
        debug_assert!(
            prev != NIL || self.head == idx,
            "element is not on this list"
        );
        if prev == NIL {
            self.head = next;
        } else {
            slots[prev as usize].link_mut().next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            slots[next as usize].link_mut().prev = prev;
        }
        *slots[idx as usize].link_mut() = Link::UNLINKED;
        self.len -= 1;
    }

    /// Unlinks and returns the first element.
    pub(crate) fn pop_front<L: Linked>(&mut self, slots: &mut [L]) -> Option<u32> {
        let first = self.front()?;
        self.remove(slots, first);
        Some(first)
    }

    /// The elements front to back.
    pub(crate) fn iter<'a, L: Linked>(&self, slots: &'a [L]) -> impl Iterator<Item = u32> + 'a {
        let mut cursor = self.head;
        core::iter::from_fn(move || {
            if cursor == NIL {
                return None;
            }
            let current = cursor;
            cursor = slots[current as usize].link().next;
            Some(current)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn push_remove_pop_keep_order() {
        let mut slots = [Link::UNLINKED; 5];
        let mut list = ListHead::EMPTY;
        list.push_back(&mut slots, 1);
        list.push_back(&mut slots, 2);
        list.push_front(&mut slots, 0);
        list.push_back(&mut slots, 3);
        assert_eq!(list.iter(&slots).collect::<Vec<_>>(), [0, 1, 2, 3]);
        list.remove(&mut slots, 2);
        assert_eq!(list.iter(&slots).collect::<Vec<_>>(), [0, 1, 3]);
        list.remove(&mut slots, 3);
        assert_eq!(list.pop_front(&mut slots), Some(0));
        assert_eq!(list.iter(&slots).collect::<Vec<_>>(), [1]);
        assert_eq!(list.pop_front(&mut slots), Some(1));
        assert!(list.is_empty());
        assert_eq!(list.pop_front(&mut slots), None);
        assert!(slots.iter().all(|link| *link == Link::UNLINKED));
    }
}
