//! CPU and NUMA node identifiers, and [`CpuSet`], a fixed-size CPU bitset.
//!
//! A [`CpuId`] is the kernel's dense logical CPU number (0 = the BSP), not an
//! APIC id; a [`NodeId`] is the dense NUMA node number the topology assigns,
//! not an ACPI proximity domain.

/// A logical CPU number, dense from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(pub u32);

/// A NUMA node number, dense from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u16);

/// How many 64-bit words a [`CpuSet`] holds.
pub(crate) const CPU_SET_WORDS: usize = 4;

/// A CPU id too large for a [`CpuSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuOutOfRange(pub CpuId);

impl core::fmt::Display for CpuOutOfRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "cpu {} is beyond the {} a CpuSet holds",
            self.0.0,
            CpuSet::CAPACITY
        )
    }
}

/// A set of up to [`CpuSet::CAPACITY`] CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuSet {
    words: [u64; CPU_SET_WORDS],
}

impl CpuSet {
    /// The number of CPUs a set can hold: ids `0..CAPACITY`.
    pub const CAPACITY: u32 = (CPU_SET_WORDS * 64) as u32;

    /// The empty set.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            words: [0; CPU_SET_WORDS],
        }
    }

    /// The set `{0, 1, ..., count - 1}` (clamped to the capacity).
    #[must_use]
    pub fn first_n(count: u32) -> Self {
        let mut set = Self::new();
        for (index, word) in set.words.iter_mut().enumerate() {
            let below = count.saturating_sub(index as u32 * 64);
            *word = if below >= 64 {
                u64::MAX
            } else {
                (1u64 << below) - 1
            };
        }
        set
    }

    /// The set from its raw words (bit `i` of word `w` is CPU `64 * w + i`).
    #[must_use]
    pub const fn from_words(words: [u64; CPU_SET_WORDS]) -> Self {
        Self { words }
    }

    /// The raw words (bit `i` of word `w` is CPU `64 * w + i`).
    #[must_use]
    pub const fn words(&self) -> [u64; CPU_SET_WORDS] {
        self.words
    }

    /// Adds `cpu`; returns whether it was newly added.
    ///
    /// # Errors
    /// [`CpuOutOfRange`] when `cpu` is not below [`CpuSet::CAPACITY`].
    pub fn insert(&mut self, cpu: CpuId) -> Result<bool, CpuOutOfRange> {
        let (word, bit) = Self::position(cpu).ok_or(CpuOutOfRange(cpu))?;
        let was_present = self.words[word] & bit != 0;
        self.words[word] |= bit;
        Ok(!was_present)
    }

    /// Removes `cpu`; returns whether it was present.
    pub fn remove(&mut self, cpu: CpuId) -> bool {
        let Some((word, bit)) = Self::position(cpu) else {
            return false;
        };
        let was_present = self.words[word] & bit != 0;
        self.words[word] &= !bit;
        was_present
    }

    /// Whether `cpu` is in the set (always false beyond the capacity).
    #[must_use]
    pub fn contains(&self, cpu: CpuId) -> bool {
        Self::position(cpu).is_some_and(|(word, bit)| self.words[word] & bit != 0)
    }

    /// The number of CPUs in the set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.words
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|word| *word == 0)
    }

    /// The lowest CPU in the set.
    #[must_use]
    pub fn first(&self) -> Option<CpuId> {
        self.iter().next()
    }

    /// CPUs in either set.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a | b)
    }

    /// CPUs in both sets.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a & b)
    }

    /// CPUs in `self` but not in `other`.
    #[must_use]
    pub fn difference(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a & !b)
    }

    /// The CPUs in ascending order.
    #[must_use]
    pub fn iter(&self) -> CpuSetIter {
        CpuSetIter {
            words: self.words,
            word: 0,
        }
    }

    fn zip_with(&self, other: &Self, op: impl Fn(u64, u64) -> u64) -> Self {
        let mut words = [0; CPU_SET_WORDS];
        for (index, word) in words.iter_mut().enumerate() {
            *word = op(self.words[index], other.words[index]);
        }
        Self { words }
    }

    /// The word index and bit mask of `cpu`, or `None` beyond the capacity.
    fn position(cpu: CpuId) -> Option<(usize, u64)> {
        (cpu.0 < Self::CAPACITY).then(|| ((cpu.0 / 64) as usize, 1u64 << (cpu.0 % 64)))
    }
}

impl IntoIterator for &CpuSet {
    type Item = CpuId;
    type IntoIter = CpuSetIter;
    fn into_iter(self) -> CpuSetIter {
        self.iter()
    }
}

impl FromIterator<CpuId> for CpuSet {
    /// Collects CPUs into a set, ignoring ids beyond the capacity.
    fn from_iter<I: IntoIterator<Item = CpuId>>(cpus: I) -> Self {
        let mut set = Self::new();
        for cpu in cpus {
            // Ids beyond the capacity are documented as ignored.
            let _ = set.insert(cpu);
        }
        set
    }
}

/// Iterator over a [`CpuSet`] in ascending order (a snapshot of the set).
#[derive(Clone, Debug)]
pub struct CpuSetIter {
    words: [u64; CPU_SET_WORDS],
    word: usize,
}

impl Iterator for CpuSetIter {
    type Item = CpuId;

    fn next(&mut self) -> Option<CpuId> {
        while let Some(bits) = self.words.get_mut(self.word) {
            if *bits != 0 {
                let bit = bits.trailing_zeros();
                *bits &= *bits - 1;
                return Some(CpuId(self.word as u32 * 64 + bit));
            }
            self.word += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insert_remove_contains_across_word_boundaries() {
        let mut set = CpuSet::new();
        for id in [0, 63, 64, 127, 128, 255] {
            assert_eq!(set.insert(CpuId(id)), Ok(true));
        }
        assert_eq!(set.insert(CpuId(64)), Ok(false));
        assert_eq!(set.insert(CpuId(256)), Err(CpuOutOfRange(CpuId(256))));
        assert!(!set.contains(CpuId(256)));
        assert!(!set.remove(CpuId(u32::MAX)));
        assert_eq!(set.len(), 6);
        assert_eq!(set.first(), Some(CpuId(0)));
        assert!(set.remove(CpuId(0)));
        assert!(!set.contains(CpuId(0)));
        assert_eq!(
            set.iter().map(|cpu| cpu.0).collect::<Vec<_>>(),
            [63, 64, 127, 128, 255]
        );
    }

    #[test]
    fn first_n_fills_exactly_the_low_ids() {
        assert!(CpuSet::first_n(0).is_empty());
        assert_eq!(CpuSet::first_n(65).len(), 65);
        assert!(CpuSet::first_n(65).contains(CpuId(64)));
        assert!(!CpuSet::first_n(65).contains(CpuId(65)));
        assert_eq!(CpuSet::first_n(1000).len(), CpuSet::CAPACITY as usize);
    }

    proptest! {
        #[test]
        fn set_operations_match_a_model(a in proptest::collection::btree_set(0u32..256, 0..40),
                                        b in proptest::collection::btree_set(0u32..256, 0..40)) {
            let set_a: CpuSet = a.iter().map(|id| CpuId(*id)).collect();
            let set_b: CpuSet = b.iter().map(|id| CpuId(*id)).collect();
            let ids = |set: CpuSet| set.iter().map(|cpu| cpu.0).collect::<Vec<_>>();
            prop_assert_eq!(ids(set_a), a.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(ids(set_a.union(&set_b)), a.union(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(
                ids(set_a.intersection(&set_b)),
                a.intersection(&b).copied().collect::<Vec<_>>()
            );
            prop_assert_eq!(
                ids(set_a.difference(&set_b)),
                a.difference(&b).copied().collect::<Vec<_>>()
            );
            prop_assert_eq!(set_a.len(), a.len());
        }
    }
}
