//! Tests for [`super::MemoryMap`]: hand-picked cases and property tests against
//! a byte-granular model.

use super::*;
use proptest::prelude::*;

const GIB: u64 = 1 << 30;

fn region(base: u64, end: u64, kind: RegionKind) -> MemoryRegion {
    MemoryRegion { base, end, kind }
}

#[test]
fn unsorted_overlapping_input_is_sorted_and_reserved_wins() {
    let mut map = MemoryMap::<16>::new();
    map.add(0x10_0000, 0x7ff0_0000, RegionKind::Usable).unwrap();
    map.add(0, 0x9fc00, RegionKind::Usable).unwrap();
    map.add(0x9fc00, 0x400, RegionKind::Reserved).unwrap();
    map.add(0xf0000, 0x10000, RegionKind::Reserved).unwrap();
    // An ACPI region overlapping the top of RAM.
    map.add(0x7ffe_0000, 0x2_0000, RegionKind::AcpiReclaimable)
        .unwrap();
    assert_eq!(
        map.raw_regions(),
        &[
            region(0, 0x9fc00, RegionKind::Usable),
            region(0x9fc00, 0xa0000, RegionKind::Reserved),
            region(0xf0000, 0x10_0000, RegionKind::Reserved),
            region(0x10_0000, 0x7ffe_0000, RegionKind::Usable),
            region(0x7ffe_0000, 0x8000_0000, RegionKind::AcpiReclaimable),
        ]
    );
    assert_eq!(map.kind_at(0x9fc00), Some(RegionKind::Reserved));
    assert_eq!(map.kind_at(0xa0000), None);
    assert_eq!(map.highest_end(), Some(0x8000_0000));
    assert_eq!(map.highest_usable_end(), Some(0x7ffe_0000));
    assert_eq!(map.usable_bytes(), 0x9f000 + (0x7ffe_0000 - 0x10_0000));
}

#[test]
fn usable_regions_shrink_inward_to_pages() {
    let mut map = MemoryMap::<8>::new();
    map.add(0x1001, 0x2ffe, RegionKind::Usable).unwrap();
    map.add(0x8000, 0x800, RegionKind::Usable).unwrap();
    map.add(0x9800, 0x800, RegionKind::Reserved).unwrap();
    let view: Vec<_> = map.regions().collect();
    // [0x1001, 0x3fff) keeps only [0x2000, 0x3000); the half page at 0x8000
    // disappears; the reserved half page stays byte-precise.
    assert_eq!(
        view,
        [
            region(0x2000, 0x3000, RegionKind::Usable),
            region(0x9800, 0xa000, RegionKind::Reserved)
        ]
    );
    assert_eq!(map.usable_bytes(), 0x1000);
}

#[test]
fn adjacent_sub_page_pieces_make_a_page_in_any_order() {
    for order in [[0, 1], [1, 0]] {
        let pieces = [(0x1000, 0x800), (0x1800, 0x800)];
        let mut map = MemoryMap::<4>::new();
        for index in order {
            let (base, len) = pieces[index];
            map.add(base, len, RegionKind::Usable).unwrap();
        }
        assert_eq!(
            map.usable().collect::<Vec<_>>(),
            [region(0x1000, 0x2000, RegionKind::Usable)]
        );
    }
}

#[test]
fn carving_kernel_and_low_memory_splits_usable_ram() {
    let mut map = MemoryMap::<8>::new();
    map.add(0, 4 * GIB, RegionKind::Usable).unwrap();
    map.add(0, LOW_MEMORY_END, RegionKind::Reserved).unwrap();
    map.add(0x20_0000, 0x10_0000, RegionKind::Kernel).unwrap();
    map.add(0x40_0000, 0x1234, RegionKind::Module).unwrap();
    assert_eq!(
        map.regions().collect::<Vec<_>>(),
        [
            region(0, LOW_MEMORY_END, RegionKind::Reserved),
            region(LOW_MEMORY_END, 0x20_0000, RegionKind::Usable),
            region(0x20_0000, 0x30_0000, RegionKind::Kernel),
            region(0x30_0000, 0x40_0000, RegionKind::Usable),
            region(0x40_0000, 0x40_1234, RegionKind::Module),
            region(0x40_2000, 4 * GIB, RegionKind::Usable),
        ]
    );
}

#[test]
fn usable_never_overrides_an_earlier_reserved_region() {
    let mut map = MemoryMap::<4>::new();
    map.add(0x5000, 0x1000, RegionKind::Bad).unwrap();
    map.add(0, 0x10000, RegionKind::Usable).unwrap();
    assert_eq!(map.kind_at(0x5000), Some(RegionKind::Bad));
    assert_eq!(map.kind_at(0x4fff), Some(RegionKind::Usable));
    assert_eq!(map.kind_at(0x6000), Some(RegionKind::Usable));
    assert_eq!(map.len(), 3);
}

#[test]
fn zero_length_regions_are_ignored() {
    let mut map = MemoryMap::<1>::new();
    map.add(0x1000, 0, RegionKind::Reserved).unwrap();
    map.add(u64::MAX, 0x1000, RegionKind::Usable).unwrap();
    assert!(map.is_empty());
    assert_eq!(map.highest_end(), None);
    assert_eq!(map.highest_usable_end(), None);
}

#[test]
fn regions_above_4_gib_and_wrapping_past_the_top_are_clamped() {
    let mut map = MemoryMap::<4>::new();
    map.add(8 * GIB, 2 * GIB, RegionKind::Usable).unwrap();
    map.add(u64::MAX - 0x1fff, 0x10000, RegionKind::Usable)
        .unwrap();
    map.add(u64::MAX - 10, 100, RegionKind::Reserved).unwrap();
    assert_eq!(map.kind_at(u64::MAX - 1), Some(RegionKind::Reserved));
    assert_eq!(map.kind_at(u64::MAX), None);
    assert_eq!(map.highest_end(), Some(u64::MAX));
    // The wrapped usable region keeps its one whole page.
    let usable: Vec<_> = map.usable().collect();
    assert_eq!(
        usable,
        [
            region(8 * GIB, 10 * GIB, RegionKind::Usable),
            region(u64::MAX - 0x1fff, u64::MAX - 0xfff, RegionKind::Usable),
        ]
    );
}

#[test]
fn capacity_overflow_is_an_error_and_leaves_the_map_unchanged() {
    let mut map = MemoryMap::<2>::new();
    map.add(0, 0x10000, RegionKind::Usable).unwrap();
    map.add(0x20000, 0x10000, RegionKind::Usable).unwrap();
    let before = map.raw_regions().to_vec();
    // A hole in the middle of the first region needs three regions.
    let error = map.add(0x4000, 0x1000, RegionKind::Reserved).unwrap_err();
    assert_eq!(error, MemoryMapError::CapacityExceeded { capacity: 2 });
    assert_eq!(map.raw_regions(), &before[..]);
    // Merging into an existing region still works when full.
    map.add(0x10000, 0x10000, RegionKind::Usable).unwrap();
    assert_eq!(map.raw_regions(), &[region(0, 0x30000, RegionKind::Usable)]);
}

#[test]
fn e820_codes_map_to_kinds() {
    assert_eq!(RegionKind::from_e820(1), RegionKind::Usable);
    assert_eq!(RegionKind::from_e820(2), RegionKind::Reserved);
    assert_eq!(RegionKind::from_e820(3), RegionKind::AcpiReclaimable);
    assert_eq!(RegionKind::from_e820(4), RegionKind::AcpiNvs);
    assert_eq!(RegionKind::from_e820(5), RegionKind::Bad);
    assert_eq!(RegionKind::from_e820(0x1234), RegionKind::Reserved);
}

// ---- property tests against a byte-granular model ----

/// Input regions start in the first six pages, enough for alignment effects.
const MODEL_SPAN: u64 = 6 * PAGE_SIZE;
/// The model covers every byte an input can reach.
const MODEL_BYTES: u64 = MODEL_SPAN + MODEL_SPAN / 2;

const ALL_KINDS: [RegionKind; 7] = [
    RegionKind::Usable,
    RegionKind::AcpiReclaimable,
    RegionKind::Module,
    RegionKind::Kernel,
    RegionKind::Reserved,
    RegionKind::AcpiNvs,
    RegionKind::Bad,
];

fn kind_strategy() -> impl Strategy<Value = RegionKind> {
    // Usable three times as likely as each other kind, so usable runs form.
    prop_oneof![3 => Just(RegionKind::Usable), 4 => proptest::sample::select(&ALL_KINDS[1..])]
}

fn input_strategy() -> impl Strategy<Value = Vec<(u64, u64, RegionKind)>> {
    proptest::collection::vec((0..MODEL_SPAN, 0..MODEL_SPAN / 2, kind_strategy()), 0..12)
}

/// The model: the kind of every byte in `[0, MODEL_BYTES)`.
fn model_of(inputs: &[(u64, u64, RegionKind)]) -> Vec<Option<RegionKind>> {
    let mut bytes = vec![None; MODEL_BYTES as usize];
    for &(base, len, kind) in inputs {
        for byte in &mut bytes[base as usize..(base + len) as usize] {
            *byte = Some(byte.map_or(kind, |old: RegionKind| old.stronger(kind)));
        }
    }
    bytes
}

fn assert_invariants<const N: usize>(map: &MemoryMap<N>) {
    for pair in map.raw_regions().windows(2) {
        assert!(pair[0].end <= pair[1].base, "overlap or unsorted: {pair:?}");
        assert!(
            pair[0].end < pair[1].base || pair[0].kind != pair[1].kind,
            "unmerged: {pair:?}"
        );
    }
    assert!(map.raw_regions().iter().all(|region| !region.is_empty()));
}

fn assert_matches_model<const N: usize>(map: &MemoryMap<N>, model: &[Option<RegionKind>]) {
    for (addr, expected) in model.iter().enumerate() {
        assert_eq!(map.kind_at(addr as u64), *expected, "byte {addr:#x}");
    }
    // Aligned usable view = exactly the pages the model says are wholly usable.
    let mut usable_pages = 0;
    for page in 0..MODEL_BYTES / PAGE_SIZE {
        let start = (page * PAGE_SIZE) as usize;
        let wholly_usable = model[start..start + PAGE_SIZE as usize]
            .iter()
            .all(|kind| *kind == Some(RegionKind::Usable));
        let in_view = map.usable().any(|region| region.contains(page * PAGE_SIZE));
        assert_eq!(in_view, wholly_usable, "page {page}");
        usable_pages += u64::from(wholly_usable);
    }
    assert_eq!(map.usable_bytes(), usable_pages * PAGE_SIZE);
    for region in map.usable() {
        assert_eq!(region.base % PAGE_SIZE, 0);
        assert_eq!(region.end % PAGE_SIZE, 0);
    }
}

proptest! {
    #[test]
    fn map_matches_byte_model(inputs in input_strategy()) {
        let mut map = MemoryMap::<64>::new();
        for &(base, len, kind) in &inputs {
            map.add(base, len, kind).unwrap();
            assert_invariants(&map);
        }
        assert_matches_model(&map, &model_of(&inputs));
    }

    #[test]
    fn insertion_order_does_not_matter(inputs in input_strategy(), seed in any::<u64>()) {
        let mut shuffled = inputs.clone();
        // A deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        for index in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(index, (state % (index as u64 + 1)) as usize);
        }
        let mut first = MemoryMap::<64>::new();
        let mut second = MemoryMap::<64>::new();
        for &(base, len, kind) in &inputs {
            first.add(base, len, kind).unwrap();
        }
        for &(base, len, kind) in &shuffled {
            second.add(base, len, kind).unwrap();
        }
        prop_assert_eq!(first.raw_regions(), second.raw_regions());
    }

    #[test]
    fn small_capacity_rejects_cleanly(inputs in input_strategy()) {
        let mut map = MemoryMap::<4>::new();
        let mut accepted = Vec::new();
        for &(base, len, kind) in &inputs {
            let before = map.raw_regions().to_vec();
            match map.add(base, len, kind) {
                Ok(()) => accepted.push((base, len, kind)),
                Err(MemoryMapError::CapacityExceeded { capacity }) => {
                    prop_assert_eq!(capacity, 4);
                    prop_assert_eq!(map.raw_regions(), &before[..]);
                }
            }
            assert_invariants(&map);
        }
        assert_matches_model(&map, &model_of(&accepted));
    }
}
