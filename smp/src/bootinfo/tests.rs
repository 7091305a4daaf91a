//! Tests for the PVH and Multiboot2 parsers: QEMU- and GRUB-like inputs, every
//! malformed case the parsers name, truncation at every size, random bytes.

use super::multiboot2::MAX_TOTAL_SIZE;
use super::pvh::PVH_MAGIC;
use super::*;
use crate::FakeMemory;
use crate::memmap::MemoryRegion;
use proptest::prelude::*;

/// QEMU's e820 for `-m 128M` on q35: low RAM, EBDA, BIOS, RAM, and the
/// reserved windows below 4 GiB.
const QEMU_E820: [(u64, u64, u32); 5] = [
    (0, 0x9fc00, 1),
    (0x9fc00, 0x400, 2),
    (0xf0000, 0x10000, 2),
    (0x10_0000, 0x7ee_0000, 1),
    (0xfeff_c000, 0x4000, 2),
];

const START_INFO: u64 = 0x1000;
const MEMMAP: u64 = 0x2000;
const MODLIST: u64 = 0x3000;
const CMDLINE: u64 = 0x4000;
const MODULE_CMDLINE: u64 = 0x5000;

fn le32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}
fn le64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// The fields of a PVH start info under test.
struct Pvh<'t> {
    magic: u32,
    version: u32,
    nr_modules: u32,
    cmdline: Option<&'t [u8]>,
    rsdp: u64,
    memmap_entries: u32,
    memmap: &'t [(u64, u64, u32)],
    modules: &'t [(u64, u64)],
}

impl Default for Pvh<'_> {
    fn default() -> Self {
        Self {
            magic: PVH_MAGIC,
            version: 1,
            nr_modules: 1,
            cmdline: Some(b"run=test accel=kvm\0"),
            rsdp: 0xf52d0,
            memmap_entries: QEMU_E820.len() as u32,
            memmap: &QEMU_E820,
            modules: &[(0x80_0000, 0x1234)],
        }
    }
}

impl Pvh<'_> {
    fn start_info(&self) -> Vec<u8> {
        let mut info = Vec::new();
        for value in [self.magic, self.version, 0, self.nr_modules] {
            le32(&mut info, value);
        }
        le64(&mut info, MODLIST);
        le64(&mut info, if self.cmdline.is_some() { CMDLINE } else { 0 });
        le64(&mut info, self.rsdp);
        le64(&mut info, MEMMAP);
        le32(&mut info, self.memmap_entries);
        le32(&mut info, 0);
        info
    }

    fn memory(&self) -> FakeMemory {
        let mut memmap = Vec::new();
        for &(base, len, kind) in self.memmap {
            le64(&mut memmap, base);
            le64(&mut memmap, len);
            le32(&mut memmap, kind);
            le32(&mut memmap, 0);
        }
        let mut modlist = Vec::new();
        for (index, &(start, size)) in self.modules.iter().enumerate() {
            le64(&mut modlist, start);
            le64(&mut modlist, size);
            le64(&mut modlist, MODULE_CMDLINE + 0x100 * index as u64);
            le64(&mut modlist, 0);
        }
        let mut mem = FakeMemory::default();
        mem.place(START_INFO, &self.start_info())
            .place(MEMMAP, &memmap)
            .place(MODLIST, &modlist);
        if let Some(cmdline) = self.cmdline {
            mem.place(CMDLINE, cmdline);
        }
        for index in 0..self.modules.len() as u64 {
            mem.place(MODULE_CMDLINE + 0x100 * index, b"user/bench-server\0");
        }
        mem
    }
}

fn pvh_error(pvh: &Pvh<'_>) -> BootInfoError {
    BootInfo::from_pvh(&pvh.memory(), START_INFO).unwrap_err()
}

#[test]
fn pvh_qemu_layout_parses() {
    let mem = Pvh::default().memory();
    let info = BootInfo::from_pvh(&mem, START_INFO).unwrap();
    assert_eq!(info.loader, LoaderKind::Pvh);
    assert_eq!(info.cmdline, "run=test accel=kvm");
    assert_eq!(info.rsdp, Some(RsdpSource::Address(0xf52d0)));
    assert_eq!(
        info.modules.as_slice(),
        [BootModule {
            start: 0x80_0000,
            end: 0x80_1234,
            cmdline: "user/bench-server"
        }]
    );
    assert_eq!(info.dropped_usable_regions, 0);
    let map = &info.memory_map;
    assert_eq!(map.kind_at(0x80_0000), Some(RegionKind::Module));
    assert_eq!(map.kind_at(0x80_2000), Some(RegionKind::Usable));
    assert_eq!(map.kind_at(0x9fc00), Some(RegionKind::Reserved));
    assert_eq!(map.highest_end(), Some(0xff00_0000));
    assert_eq!(map.highest_usable_end(), Some(0x7fe_0000));
    // Low RAM shrinks to 0x9f000; the module's partial last page is lost.
    assert_eq!(map.usable_bytes(), 0x9f000 + (0x7ee_0000 - 0x2000));
}

#[test]
fn pvh_without_cmdline_or_rsdp_gives_empty_values() {
    let pvh = Pvh {
        cmdline: None,
        rsdp: 0,
        nr_modules: 0,
        modules: &[],
        ..Pvh::default()
    };
    let mem = pvh.memory();
    let info = BootInfo::from_pvh(&mem, START_INFO).unwrap();
    assert_eq!(info.cmdline, "");
    assert_eq!(info.rsdp, None);
    assert!(info.modules.is_empty());
}

#[test]
fn pvh_malformed_inputs_are_named_errors() {
    assert_eq!(
        pvh_error(&Pvh {
            magic: 0x1BAD_B002,
            ..Pvh::default()
        }),
        BootInfoError::BadMagic { found: 0x1BAD_B002 }
    );
    assert_eq!(
        pvh_error(&Pvh {
            version: 0,
            ..Pvh::default()
        }),
        BootInfoError::MissingMemoryMap
    );
    assert_eq!(
        pvh_error(&Pvh {
            memmap_entries: 0,
            ..Pvh::default()
        }),
        BootInfoError::MissingMemoryMap
    );
    assert_eq!(
        pvh_error(&Pvh {
            memmap_entries: u32::MAX,
            ..Pvh::default()
        }),
        BootInfoError::TooManyMemoryMapEntries {
            count: u64::from(u32::MAX)
        }
    );
    assert_eq!(
        pvh_error(&Pvh {
            nr_modules: 1000,
            ..Pvh::default()
        }),
        BootInfoError::TooManyModules { count: 1000 }
    );
    // The table claims more entries than memory holds.
    assert!(matches!(
        pvh_error(&Pvh {
            memmap_entries: 6,
            ..Pvh::default()
        }),
        BootInfoError::Unreadable {
            what: "hvm_memmap_table",
            ..
        }
    ));
    assert_eq!(
        pvh_error(&Pvh {
            modules: &[(u64::MAX - 1, 2)],
            ..Pvh::default()
        }),
        BootInfoError::BadModuleRange {
            start: u64::MAX - 1,
            size_or_end: 2
        }
    );
    assert_eq!(
        pvh_error(&Pvh {
            cmdline: Some(b"\xff\xfe\0"),
            ..Pvh::default()
        }),
        BootInfoError::CmdlineNotUtf8 {
            what: "kernel cmdline"
        }
    );
}

#[test]
fn pvh_cmdline_must_end_within_bounds() {
    // No NUL before the end of readable memory.
    assert!(matches!(
        pvh_error(&Pvh {
            cmdline: Some(b"run=test"),
            ..Pvh::default()
        }),
        BootInfoError::Unreadable {
            what: "kernel cmdline",
            ..
        }
    ));
    let long = vec![b'a'; MAX_CMDLINE_LEN + 10];
    assert_eq!(
        pvh_error(&Pvh {
            cmdline: Some(&long),
            ..Pvh::default()
        }),
        BootInfoError::CmdlineTooLong {
            what: "kernel cmdline"
        }
    );
    let mut longest = vec![b'a'; MAX_CMDLINE_LEN];
    longest.push(0);
    let pvh = Pvh {
        cmdline: Some(&longest),
        ..Pvh::default()
    };
    let mem = pvh.memory();
    assert_eq!(
        BootInfo::from_pvh(&mem, START_INFO).unwrap().cmdline.len(),
        MAX_CMDLINE_LEN
    );
}

#[test]
fn pvh_truncated_start_info_is_unreadable() {
    let full = Pvh::default().start_info();
    for len in 0..full.len() {
        let mut truncated = FakeMemory::default();
        truncated.place(START_INFO, &full[..len]);
        let error = BootInfo::from_pvh(&truncated, START_INFO).unwrap_err();
        assert!(
            matches!(
                error,
                BootInfoError::Unreadable {
                    what: "hvm_start_info",
                    ..
                }
            ),
            "{len}: {error:?}"
        );
    }
}

#[test]
fn oversized_memory_maps_drop_usable_regions_only() {
    // 200 alternating RAM/reserved pages: 200 regions for a 128-region map.
    let entries: Vec<_> = (0..200u64)
        .map(|page| (page * 0x1000, 0x1000, if page % 2 == 0 { 1 } else { 2 }))
        .collect();
    let pvh = Pvh {
        memmap: &entries,
        memmap_entries: 200,
        nr_modules: 0,
        modules: &[],
        ..Pvh::default()
    };
    let mem = pvh.memory();
    let info = BootInfo::from_pvh(&mem, START_INFO).unwrap();
    assert_eq!(info.dropped_usable_regions, 200 - BOOT_MAP_CAPACITY);
    for page in (1..200u64).step_by(2) {
        assert_eq!(
            info.memory_map.kind_at(page * 0x1000),
            Some(RegionKind::Reserved)
        );
    }
    assert_eq!(info.memory_map.len(), BOOT_MAP_CAPACITY);
}

// ---- Multiboot2 ----

const MB2_INFO: u64 = 0x9000;

/// Appends a tag with `payload`, padded to 8 bytes.
fn tag(out: &mut Vec<u8>, tag_type: u32, payload: &[u8]) {
    le32(out, tag_type);
    le32(out, 8 + payload.len() as u32);
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(8), 0);
}

fn mmap_payload(entry_size: u32, entries: &[(u64, u64, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    le32(&mut payload, entry_size);
    le32(&mut payload, 0);
    for &(base, len, kind) in entries {
        let start = payload.len();
        le64(&mut payload, base);
        le64(&mut payload, len);
        le32(&mut payload, kind);
        payload.resize(start + entry_size as usize, 0);
    }
    payload
}

/// A GRUB-like information structure: the given tags, then the end tag.
fn mb2_info(tags: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut info = vec![0; 8];
    for (tag_type, payload) in tags {
        tag(&mut info, *tag_type, payload);
    }
    tag(&mut info, 0, &[]);
    let total = info.len() as u32;
    info[0..4].copy_from_slice(&total.to_le_bytes());
    info
}

fn grub_tags() -> Vec<(u32, Vec<u8>)> {
    let mut module = Vec::new();
    le32(&mut module, 0x80_0000);
    le32(&mut module, 0x80_1234);
    module.extend_from_slice(b"/boot/bench-server\0");
    vec![
        (1, b"run=boot samples=1000\0".to_vec()),
        (2, b"GRUB 2.12\0".to_vec()),
        (3, module),
        (6, mmap_payload(24, &QEMU_E820)),
        (14, vec![0x11; 20]),
        (15, vec![0x22; 36]),
    ]
}

fn parse_mb2(info: &[u8]) -> Result<(), BootInfoError> {
    let mut mem = FakeMemory::default();
    mem.place(MB2_INFO, info);
    BootInfo::from_multiboot2(&mem, MB2_INFO).map(|_| ())
}

#[test]
fn multiboot2_grub_layout_parses() {
    let mut mem = FakeMemory::default();
    mem.place(MB2_INFO, &mb2_info(&grub_tags()));
    let info = BootInfo::from_multiboot2(&mem, MB2_INFO).unwrap();
    assert_eq!(info.loader, LoaderKind::Multiboot2);
    assert_eq!(info.cmdline, "run=boot samples=1000");
    assert_eq!(
        info.modules.as_slice(),
        [BootModule {
            start: 0x80_0000,
            end: 0x80_1234,
            cmdline: "/boot/bench-server"
        }]
    );
    assert_eq!(info.rsdp, Some(RsdpSource::Copy(&[0x22; 36][..])));
    assert_eq!(info.memory_map.kind_at(0x80_1000), Some(RegionKind::Module));
    assert_eq!(
        info.memory_map.usable().next(),
        Some(MemoryRegion {
            base: 0,
            end: 0x9f000,
            kind: RegionKind::Usable
        })
    );
}

#[test]
fn multiboot2_old_rsdp_and_larger_entries_are_accepted() {
    let tags = vec![(14, vec![0x11; 20]), (6, mmap_payload(32, &QEMU_E820))];
    let mut mem = FakeMemory::default();
    mem.place(MB2_INFO, &mb2_info(&tags));
    let info = BootInfo::from_multiboot2(&mem, MB2_INFO).unwrap();
    assert_eq!(info.rsdp, Some(RsdpSource::Copy(&[0x11; 20][..])));
    assert_eq!(info.cmdline, "");
    assert_eq!(info.memory_map.kind_at(0x10_0000), Some(RegionKind::Usable));
}

#[test]
fn multiboot2_malformed_inputs_are_named_errors() {
    let good = mb2_info(&grub_tags());
    let with = |tags: Vec<(u32, Vec<u8>)>| parse_mb2(&mb2_info(&tags)).unwrap_err();
    let mmap = || (6, mmap_payload(24, &QEMU_E820));

    assert_eq!(
        with(vec![(1, b"no nul".to_vec()), mmap()]),
        BootInfoError::CmdlineNotTerminated {
            what: "kernel cmdline"
        }
    );
    assert_eq!(
        with(vec![(1, b"\xc3\x28\0".to_vec()), mmap()]),
        BootInfoError::CmdlineNotUtf8 {
            what: "kernel cmdline"
        }
    );
    assert_eq!(
        with(vec![(6, mmap_payload(16, &[]))]),
        BootInfoError::MemoryMapEntryTooSmall { entry_size: 16 }
    );
    let mut ragged = mmap_payload(24, &QEMU_E820);
    ragged.truncate(ragged.len() - 4);
    assert_eq!(
        with(vec![(6, ragged)]),
        BootInfoError::MemoryMapSizeMismatch {
            entries_size: 116,
            entry_size: 24
        }
    );
    assert_eq!(
        with(vec![(1, b"x\0".to_vec())]),
        BootInfoError::MissingMemoryMap
    );
    assert!(matches!(
        with(vec![(3, vec![0; 4]), mmap()]),
        BootInfoError::TagTooSmall { tag_type: 3, .. }
    ));
    assert!(matches!(
        with(vec![(6, vec![24, 0, 0, 0])]),
        BootInfoError::TagTooSmall { tag_type: 6, .. }
    ));
    let mut backwards = Vec::new();
    le32(&mut backwards, 0x2000);
    le32(&mut backwards, 0x1000);
    backwards.push(0);
    assert_eq!(
        with(vec![(3, backwards), mmap()]),
        BootInfoError::BadModuleRange {
            start: 0x2000,
            size_or_end: 0x1000
        }
    );
    let mut module = vec![0; 8];
    module.push(0);
    let many = vec![(3, module); MAX_MODULES + 1];
    assert!(matches!(with(many), BootInfoError::TooManyModules { .. }));

    // Structural damage: sizes patched in an otherwise good structure.
    let patched = |offset: usize, value: u32| {
        let mut info = good.clone();
        info[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        parse_mb2(&info).unwrap_err()
    };
    assert_eq!(patched(0, 8), BootInfoError::BadTotalSize { total_size: 8 });
    assert_eq!(
        patched(0, MAX_TOTAL_SIZE + 1),
        BootInfoError::BadTotalSize {
            total_size: MAX_TOTAL_SIZE + 1
        }
    );
    assert!(matches!(
        patched(0, good.len() as u32 + 8),
        BootInfoError::Unreadable { .. }
    ));
    assert_eq!(
        patched(12, 4),
        BootInfoError::TagTooSmall {
            tag_type: 1,
            offset: 8,
            size: 4
        }
    );
    assert_eq!(
        patched(12, 0x1000),
        BootInfoError::TagPastEnd {
            offset: 8,
            size: 0x1000
        }
    );
    // The end tag turned into an unknown tag: the walk runs off the end.
    assert_eq!(patched(good.len() - 8, 99), BootInfoError::MissingEndTag);
}

#[test]
fn multiboot2_every_truncated_total_size_is_an_error_not_a_panic() {
    let good = mb2_info(&grub_tags());
    assert!(parse_mb2(&good).is_ok());
    for total in 0..good.len() as u32 {
        let mut info = good.clone();
        info[0..4].copy_from_slice(&total.to_le_bytes());
        assert!(parse_mb2(&info).is_err(), "total_size {total} accepted");
    }
}

proptest! {
    #[test]
    fn multiboot2_random_bytes_never_panic(mut body in proptest::collection::vec(any::<u8>(), 8..256),
                                           claim_exact_size in any::<bool>()) {
        if claim_exact_size {
            let len = body.len() as u32;
            body[0..4].copy_from_slice(&len.to_le_bytes());
        }
        let _ = parse_mb2(&body);
    }

    #[test]
    fn multiboot2_corrupted_grub_structure_never_panics(index in 0usize..200, value in any::<u8>()) {
        let mut info = mb2_info(&grub_tags());
        let index = index % info.len();
        info[index] = value;
        let _ = parse_mb2(&info);
    }

    #[test]
    fn pvh_random_start_info_never_panics(mut body in proptest::collection::vec(any::<u8>(), 56..57)) {
        body[0..4].copy_from_slice(&PVH_MAGIC.to_le_bytes());
        let mut mem = Pvh::default().memory();
        mem.place(0x7000, &body);
        let _ = BootInfo::from_pvh(&mem, 0x7000);
    }
}
