//! Scheduling priorities and the two-level priority bitmap that makes
//! "highest non-empty level" an O(1) question.

/// Number of distinct priority levels.
pub const PRIORITY_LEVELS: usize = 256;

/// A fixed scheduling priority. **Larger is more urgent**: 255 preempts 254,
/// 0 is the least urgent level (idle-class work).
///
/// Every `u8` is a valid priority, so constructing one cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Priority(pub u8);

impl Priority {
    /// The least urgent priority.
    pub const LOWEST: Priority = Priority(0);
    /// The most urgent priority.
    pub const HIGHEST: Priority = Priority(u8::MAX);

    /// The level as an index into per-level arrays.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Words in the second level of the bitmap (one bit per priority level).
const LEAF_WORDS: usize = PRIORITY_LEVELS / 64;

// The summary word has one bit per leaf word, so it must fit in a u64.
const _: () = assert!(LEAF_WORDS <= 64 && PRIORITY_LEVELS.is_multiple_of(64));

/// Which priority levels are non-empty, in two levels as in seL4's ready
/// queues: `summary` bit `w` is set iff `leaves[w]` is non-zero, and bit `b` of
/// `leaves[w]` stands for level `w * 64 + b`. Finding the highest set level is
/// two leading-zero counts, whatever the number of levels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriorityBitmap {
    summary: u64,
    leaves: [u64; LEAF_WORDS],
}

impl PriorityBitmap {
    /// An empty bitmap.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            summary: 0,
            leaves: [0; LEAF_WORDS],
        }
    }

    /// Marks `level` non-empty.
    pub fn set(&mut self, level: Priority) {
        let (word, bit) = Self::split(level);
        self.leaves[word] |= 1 << bit;
        self.summary |= 1 << word;
    }

    /// Marks `level` empty.
    pub fn clear(&mut self, level: Priority) {
        let (word, bit) = Self::split(level);
        self.leaves[word] &= !(1 << bit);
        if self.leaves[word] == 0 {
            self.summary &= !(1 << word);
        }
    }

    /// Whether `level` is marked non-empty.
    #[must_use]
    pub fn contains(&self, level: Priority) -> bool {
        let (word, bit) = Self::split(level);
        self.leaves[word] & (1 << bit) != 0
    }

    /// The most urgent non-empty level, in O(1).
    #[must_use]
    pub fn highest(&self) -> Option<Priority> {
        if self.summary == 0 {
            return None;
        }
        let word = 63 - self.summary.leading_zeros() as usize;
        debug_assert_ne!(self.leaves[word], 0, "summary bit set for an empty leaf");
        let bit = 63 - self.leaves[word].leading_zeros() as usize;
        // word < LEAF_WORDS and bit < 64, so the level is below PRIORITY_LEVELS = 256.
        u8::try_from(word * 64 + bit).ok().map(Priority)
    }

    /// Whether no level is marked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.summary == 0
    }

    fn split(level: Priority) -> (usize, u32) {
        (level.index() / 64, (level.index() % 64) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_tracks_set_and_clear_across_words() {
        let mut bitmap = PriorityBitmap::new();
        assert_eq!(bitmap.highest(), None);
        for level in [0u8, 63, 64, 130, 255] {
            bitmap.set(Priority(level));
            assert_eq!(bitmap.highest(), Some(Priority(level)));
        }
        bitmap.clear(Priority(255));
        assert_eq!(bitmap.highest(), Some(Priority(130)));
        bitmap.clear(Priority(130));
        bitmap.clear(Priority(64));
        assert_eq!(bitmap.highest(), Some(Priority(63)));
        assert!(bitmap.contains(Priority(0)));
        assert!(!bitmap.contains(Priority(64)));
        bitmap.clear(Priority(63));
        bitmap.clear(Priority(0));
        assert!(bitmap.is_empty());
        assert_eq!(bitmap.highest(), None);
    }

    #[test]
    fn every_single_level_is_found() {
        for level in 0..=u8::MAX {
            let mut bitmap = PriorityBitmap::new();
            bitmap.set(Priority(level));
            assert_eq!(bitmap.highest(), Some(Priority(level)));
        }
    }
}
