//! Per-CPU PCID tags for address spaces (x86 process-context identifiers):
//! which address space each of a CPU's tags last held, so a switch back to
//! it keeps its TLB entries (CR3 load with the no-flush bit).
//!
//! Correctness rests on one global *generation* that the kernel bumps
//! whenever a user mapping goes away anywhere (unmap, transfer, revocation,
//! teardown of an address space, whose page-table frames may then be reused
//! by another). A tag keeps its entries only while the generation it was
//! loaded at is still current; a switch into a tag loaded at an older
//! generation flushes it. Shootdown IPIs still go to the CPUs where the
//! address space may run, which flush the tag they are running; any other
//! tag holding the address space is stale by generation and flushed at its
//! next use. So no CPU ever runs an address space on entries older than the
//! last unmap, and a tag never carries entries of one address space into
//! another.
//!
//! Tag 0 is left to the kernel's own address space (no user mappings); user
//! address spaces get tags `1..=N`, replaced round robin. Linux keeps six
//! dynamic tags per CPU the same way; no crate does this bookkeeping.

/// What a switch must load into CR3 besides the PML4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// The PCID (CR3 bits 0..12).
    pub pcid: u16,
    /// Whether the tag's entries must be flushed (CR3 bit 63 clear).
    pub flush: bool,
}

/// One CPU's tags.
#[derive(Debug, Clone)]
pub struct PcidCache<const N: usize> {
    /// Address space (PML4 physical address, never 0) held by tag `i + 1`.
    space: [u64; N],
    /// Generation at which tag `i + 1` was last flushed or filled.
    generation: [u64; N],
    next_victim: usize,
}

impl<const N: usize> Default for PcidCache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PcidCache<N> {
    /// Tags available (at most 4095: PCIDs are 12 bits and 0 is the kernel's).
    pub const TAGS: usize = {
        assert!(N >= 1 && N <= 4095, "PCIDs are 12 bits and 0 is reserved");
        N
    };

    /// No tag holds anything.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            space: [0; N],
            generation: [0; N],
            next_victim: 0,
        }
    }

    /// The CR3 tag to load for a switch to `space` (non-zero) when the
    /// global generation is `generation`. Records the load.
    pub fn switch_to(&mut self, space: u64, generation: u64) -> Load {
        let _ = Self::TAGS;
        if let Some(i) = self.space.iter().position(|&s| s == space) {
            let flush = self.generation[i] != generation;
            self.generation[i] = generation;
            return Load {
                pcid: (i + 1) as u16,
                flush,
            };
        }
        let i = self.next_victim;
        self.next_victim = (i + 1) % N;
        self.space[i] = space;
        self.generation[i] = generation;
        Load {
            pcid: (i + 1) as u16,
            flush: true,
        }
    }

    /// The address space tag `pcid` holds, if any.
    #[must_use]
    pub fn holder(&self, pcid: u16) -> Option<u64> {
        let space = *self.space.get(usize::from(pcid).checked_sub(1)?)?;
        (space != 0).then_some(space)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Switch(u64),
        Unmap,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u64..12).prop_map(Op::Switch),
            1 => Just(Op::Unmap),
        ]
    }

    proptest! {
        /// A model TLB: each tag holds entries of one address space taken at
        /// some generation. A load without flush must find the tag holding
        /// the same address space with nothing unmapped since.
        #[test]
        fn never_keeps_entries_across_spaces_or_unmaps(ops in prop::collection::vec(op(), 1..200)) {
            let mut cache = PcidCache::<4>::new();
            let mut generation = 0u64;
            // tag -> (space, generation its entries date from)
            let mut tlb: [Option<(u64, u64)>; 5] = [None; 5];
            let mut kept = 0;
            for op in ops {
                match op {
                    Op::Unmap => generation += 1,
                    Op::Switch(space) => {
                        let load = cache.switch_to(space, generation);
                        prop_assert!((1..=4).contains(&load.pcid));
                        let slot = &mut tlb[load.pcid as usize];
                        if load.flush {
                            *slot = Some((space, generation));
                        } else {
                            kept += 1;
                            prop_assert_eq!(*slot, Some((space, generation)));
                        }
                        prop_assert_eq!(cache.holder(load.pcid), Some(space));
                    }
                }
            }
            let _ = kept;
        }
    }

    #[test]
    fn a_switch_back_keeps_the_entries_until_an_unmap() {
        let mut cache = PcidCache::<2>::new();
        // (space, generation) -> (tag, flush)
        let steps = [
            ((0x1000, 0), (1, true)),
            ((0x2000, 0), (2, true)),
            ((0x1000, 0), (1, false)),
            ((0x2000, 0), (2, false)),
            // Something was unmapped somewhere: each tag is flushed once.
            ((0x1000, 1), (1, true)),
            ((0x1000, 1), (1, false)),
            // A third space takes the oldest tag round robin.
            ((0x3000, 1), (1, true)),
            ((0x1000, 1), (2, true)),
        ];
        for ((space, generation), (pcid, flush)) in steps {
            assert_eq!(
                cache.switch_to(space, generation),
                Load { pcid, flush },
                "switch to {space:#x} at generation {generation}"
            );
        }
        assert_eq!(cache.holder(1), Some(0x3000));
        assert_eq!(cache.holder(3), None);
        assert_eq!(cache.holder(0), None);
    }
}
