//! CPU identifiers and CPU sets (affinity masks, IPI target sets).

/// Most CPUs a [`CpuSet`] can name.
pub const MAX_CPUS: usize = 256;

/// A logical CPU number, dense from 0 (the kernel maps APIC ids to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(pub u16);

impl CpuId {
    /// The CPU number as an index into per-CPU arrays.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of CPUs, one bit each, for up to [`MAX_CPUS`] CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuSet {
    words: [u64; MAX_CPUS / 64],
}

impl CpuSet {
    /// No CPU.
    pub const EMPTY: CpuSet = CpuSet {
        words: [0; MAX_CPUS / 64],
    };
    /// Every CPU (the default affinity).
    pub const ALL: CpuSet = CpuSet {
        words: [u64::MAX; MAX_CPUS / 64],
    };

    /// Exactly one CPU.
    #[must_use]
    pub fn single(cpu: CpuId) -> Self {
        let mut set = Self::EMPTY;
        set.insert(cpu);
        set
    }

    /// Adds `cpu`; ids at or above [`MAX_CPUS`] are ignored (they cannot exist).
    pub fn insert(&mut self, cpu: CpuId) {
        if let Some(word) = self.words.get_mut(cpu.index() / 64) {
            *word |= 1 << (cpu.index() % 64);
        }
    }

    /// Removes `cpu`.
    pub fn remove(&mut self, cpu: CpuId) {
        if let Some(word) = self.words.get_mut(cpu.index() / 64) {
            *word &= !(1 << (cpu.index() % 64));
        }
    }

    /// Whether `cpu` is in the set.
    #[must_use]
    pub fn contains(&self, cpu: CpuId) -> bool {
        self.words
            .get(cpu.index() / 64)
            .is_some_and(|word| word & (1 << (cpu.index() % 64)) != 0)
    }

    /// Whether the set has no CPU.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&word| word == 0)
    }

    /// The CPUs in ascending order (visits set bits only).
    pub fn iter(&self) -> impl Iterator<Item = CpuId> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            let mut bits = word;
            core::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                u16::try_from(index * 64 + bit).ok().map(CpuId)
            })
        })
    }
}

impl FromIterator<CpuId> for CpuSet {
    fn from_iter<I: IntoIterator<Item = CpuId>>(iter: I) -> Self {
        let mut set = Self::EMPTY;
        for cpu in iter {
            set.insert(cpu);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn insert_remove_iterate() {
        let mut set: CpuSet = [CpuId(3), CpuId(200), CpuId(64)].into_iter().collect();
        assert!(set.contains(CpuId(64)));
        assert!(!set.contains(CpuId(65)));
        set.remove(CpuId(64));
        set.insert(CpuId(9999)); // ignored
        assert_eq!(set.iter().collect::<Vec<_>>(), [CpuId(3), CpuId(200)]);
        assert!(!set.is_empty());
        assert!(CpuSet::EMPTY.is_empty());
        assert!(CpuSet::ALL.contains(CpuId(255)));
        assert_eq!(CpuSet::ALL.iter().count(), MAX_CPUS);
    }

    proptest::proptest! {
        #[test]
        fn iter_lists_exactly_the_members(words in proptest::array::uniform4(proptest::prelude::any::<u64>())) {
            let set = CpuSet { words };
            let by_bits: Vec<CpuId> = set.iter().collect();
            let by_test: Vec<CpuId> = (0..MAX_CPUS as u16).map(CpuId).filter(|&c| set.contains(c)).collect();
            proptest::prop_assert_eq!(by_bits, by_test);
        }
    }
}
