//! Tests for the table parsers: QEMU's captured tables, hand-built ones, and
//! malformed input (bad checksums, every truncation, zero-length entries,
//! absurd counts).

use super::super::fixtures::*;
use super::super::*;
use super::*;
use crate::FakeMemory;
use crate::cpuset::NodeId;

fn rsdp_v2(xsdt: u64) -> Vec<u8> {
    let mut rsdp = b"RSD PTR ".to_vec();
    rsdp.push(0);
    rsdp.extend_from_slice(b"BOCHS ");
    rsdp.push(2);
    le32(&mut rsdp, 0x7fe_1000);
    le32(&mut rsdp, 36);
    le64(&mut rsdp, xsdt);
    rsdp.extend([0; 4]);
    let sum = |bytes: &[u8]| bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    rsdp[8] = 0u8.wrapping_sub(sum(&rsdp[..20]));
    rsdp[32] = 0u8.wrapping_sub(sum(&rsdp));
    rsdp
}

#[test]
fn rsdp_v1_and_v2_parse() {
    let v2 = rsdp_v2(0x7fe_2000);
    let parsed = Rsdp::parse(&v2).unwrap();
    assert_eq!(
        parsed,
        Rsdp {
            revision: 2,
            oem_id: *b"BOCHS ",
            rsdt_address: 0x7fe_1000,
            xsdt_address: Some(0x7fe_2000)
        }
    );
    let mut v1 = v2[..20].to_vec();
    v1[15] = 0;
    v1[8] = v1[8].wrapping_add(2);
    assert_eq!(Rsdp::parse(&v1).unwrap().xsdt_address, None);
    assert_eq!(Rsdp::parse(&rsdp_v2(0)).unwrap().xsdt_address, None);
}

#[test]
fn rsdp_malformed_is_rejected() {
    let good = rsdp_v2(0x7fe_2000);
    let mut bad_signature = good.clone();
    bad_signature[0] = b'X';
    assert_eq!(
        Rsdp::parse(&bad_signature),
        Err(AcpiError::BadRsdpSignature)
    );
    let mut bad_checksum = good.clone();
    bad_checksum[8] ^= 1;
    assert_eq!(Rsdp::parse(&bad_checksum), Err(AcpiError::BadRsdpChecksum));
    let mut bad_extended = good.clone();
    bad_extended[32] ^= 1;
    assert_eq!(
        Rsdp::parse(&bad_extended),
        Err(AcpiError::BadRsdpExtendedChecksum)
    );
    for len in 0..good.len() {
        assert!(
            matches!(Rsdp::parse(&good[..len]), Err(AcpiError::Truncated { .. })),
            "{len}"
        );
    }
    let mut short_length = good;
    short_length[20] = 20;
    short_length[8] = 0;
    short_length[8] = 0u8.wrapping_sub(
        short_length[..20]
            .iter()
            .fold(0u8, |s, b| s.wrapping_add(*b)),
    );
    assert!(matches!(
        Rsdp::parse(&short_length),
        Err(AcpiError::BadLength { length: 20, .. })
    ));
}

#[test]
fn sdt_header_fields_and_validation() {
    let sdt_bytes = Sdt::parse(&QEMU_PC_HPET, None).unwrap();
    let header = sdt_bytes.header();
    assert_eq!(header.signature, Signature::HPET);
    assert_eq!((header.length, header.revision), (56, 1));
    assert_eq!(&header.oem_id, b"BOCHS ");
    assert_eq!(&header.oem_table_id, b"BXPCHPET");
    assert_eq!(sdt_bytes.body().len(), 20);

    let mut bad = QEMU_PC_HPET;
    bad[50] ^= 0x40;
    assert_eq!(
        Sdt::parse(&bad, None).unwrap_err(),
        AcpiError::BadChecksum {
            table: Signature::HPET
        }
    );
    assert_eq!(
        Sdt::parse(&QEMU_PC_HPET, Some(Signature::SRAT)).unwrap_err(),
        AcpiError::WrongSignature {
            expected: Signature::SRAT,
            found: Signature::HPET
        }
    );
    let mut short = QEMU_PC_HPET;
    short[4] = 35;
    assert_eq!(
        Sdt::parse(&short, None).unwrap_err(),
        AcpiError::BadLength {
            table: Signature::HPET,
            length: 35
        }
    );
    let mut huge = QEMU_PC_HPET;
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Sdt::parse(&huge, None),
        Err(AcpiError::BadLength { .. })
    ));
}

/// A parser run that answers whether the bytes were rejected.
type RejectsBytes = fn(&[u8]) -> bool;

#[test]
fn every_truncation_of_every_table_is_an_error() {
    let tables: [(&[u8], RejectsBytes); 4] = [
        (&QEMU_Q35_MADT, |bytes| Madt::parse(bytes).is_err()),
        (&QEMU_PC_SRAT_TWO_NODES, |bytes| Srat::parse(bytes).is_err()),
        (&QEMU_PC_SLIT_TWO_NODES, |bytes| Slit::parse(bytes).is_err()),
        (&QEMU_PC_HPET, |bytes| Hpet::parse(bytes).is_err()),
    ];
    for (table, fails) in tables {
        for len in 0..table.len() {
            assert!(
                fails(&table[..len]),
                "accepted {len} bytes of {:?}",
                &table[..4]
            );
        }
    }
}

#[test]
fn qemu_madt_decodes_every_entry() {
    let madt = Madt::parse(&QEMU_Q35_MADT).unwrap();
    assert_eq!(madt.local_apic_address(), 0xfee0_0000);
    assert!(madt.pcat_compatible());
    let entries: Vec<_> = madt.entries().collect::<Result<_, _>>().unwrap();
    let level_high = 0xd;
    assert_eq!(
        entries,
        [
            MadtEntry::LocalApic {
                processor_uid: 0,
                apic_id: 0,
                flags: ProcessorFlags {
                    enabled: true,
                    online_capable: false
                }
            },
            MadtEntry::IoApic {
                id: 0,
                address: 0xfec0_0000,
                gsi_base: 0
            },
            MadtEntry::InterruptSourceOverride {
                bus: 0,
                source: 0,
                gsi: 2,
                flags: 0
            },
            MadtEntry::InterruptSourceOverride {
                bus: 0,
                source: 5,
                gsi: 5,
                flags: level_high
            },
            MadtEntry::InterruptSourceOverride {
                bus: 0,
                source: 9,
                gsi: 9,
                flags: level_high
            },
            MadtEntry::InterruptSourceOverride {
                bus: 0,
                source: 10,
                gsi: 10,
                flags: level_high
            },
            MadtEntry::InterruptSourceOverride {
                bus: 0,
                source: 11,
                gsi: 11,
                flags: level_high
            },
            MadtEntry::LocalApicNmi {
                processor_uid: 0xff,
                flags: 0,
                lint: 1
            },
        ]
    );
    // The hand-built q35 layout matches QEMU's bytes entry for entry.
    let built = q35_madt(1);
    assert_eq!(built[36..], QEMU_Q35_MADT[36..]);
}

#[test]
fn madt_x2apic_flags_and_address_override() {
    let mut body = Vec::new();
    le32(&mut body, 0xfee0_0000);
    le32(&mut body, 0);
    body.extend(madt_lapic(0, 0, 1));
    body.extend(madt_lapic(1, 1, 2));
    body.extend(madt_x2apic(300, 1, 7));
    body.extend([5, 12, 0, 0]);
    le64(&mut body, 0x1_0000_0000);
    body.extend([0x7f, 3, 0]);
    let table = sdt(b"APIC", 5, &body);
    let madt = Madt::parse(&table).unwrap();
    assert_eq!(madt.local_apic_address(), 0x1_0000_0000);
    assert!(!madt.pcat_compatible());
    let entries: Vec<_> = madt.entries().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        entries[1],
        MadtEntry::LocalApic {
            processor_uid: 1,
            apic_id: 1,
            flags: ProcessorFlags {
                enabled: false,
                online_capable: true
            }
        }
    );
    assert_eq!(
        entries[2],
        MadtEntry::LocalX2Apic {
            x2apic_id: 300,
            flags: ProcessorFlags {
                enabled: true,
                online_capable: false
            },
            processor_uid: 7
        }
    );
    assert_eq!(
        entries[4],
        MadtEntry::Other {
            entry_type: 0x7f,
            length: 3
        }
    );
}

#[test]
fn madt_bad_entries_end_the_walk_with_an_error() {
    let with_entries = |entries: &[u8]| {
        let mut body = vec![0, 0, 0xe0, 0xfe, 1, 0, 0, 0];
        body.extend_from_slice(entries);
        sdt(b"APIC", 1, &body)
    };
    let zero_length = with_entries(&[0, 0, 0, 0, 1, 0, 0, 0]);
    let walked: Vec<_> = Madt::parse(&zero_length).unwrap().entries().collect();
    assert_eq!(
        walked,
        [Err(AcpiError::BadEntry {
            table: Signature::MADT,
            offset: 44,
            entry_type: 0,
            length: 0
        })]
    );
    let past_end = with_entries(&[1, 200, 0, 0]);
    let walked: Vec<_> = Madt::parse(&past_end).unwrap().entries().collect();
    assert_eq!(
        walked,
        [Err(AcpiError::BadEntry {
            table: Signature::MADT,
            offset: 44,
            entry_type: 1,
            length: 200
        })]
    );
    // A LAPIC entry of 6 bytes, then a good one that is never reached.
    let mut short = vec![0, 6, 0, 0, 1, 0];
    short.extend(madt_lapic(1, 1, 1));
    let walked: Vec<_> = Madt::parse(&with_entries(&short))
        .unwrap()
        .entries()
        .collect();
    assert_eq!(
        walked,
        [Err(AcpiError::BadEntry {
            table: Signature::MADT,
            offset: 44,
            entry_type: 0,
            length: 6
        })]
    );
    // A lone trailing byte.
    let walked: Vec<_> = Madt::parse(&with_entries(&[9]))
        .unwrap()
        .entries()
        .collect();
    assert_eq!(walked.len(), 1);
    assert!(walked[0].is_err());
    // No entries at all.
    assert_eq!(
        Madt::parse(&with_entries(&[])).unwrap().entries().count(),
        0
    );
}

#[test]
fn every_consistent_truncation_of_madt_and_srat_terminates() {
    for (table, is_madt) in [(q35_madt(4), true), (q35_srat_two_nodes(), false)] {
        for len in 0..table.len() {
            let cut = consistently_truncated(&table, len);
            let walked = if is_madt {
                Madt::parse(&cut).map(|madt| madt.entries().count())
            } else {
                Srat::parse(&cut).map(|srat| srat.entries().count())
            };
            // At most one item per two bytes: the walk always advances.
            if let Ok(count) = walked {
                assert!(count <= len / 2, "{len}: {count}");
            }
        }
    }
}

#[test]
fn qemu_srat_decodes_every_entry() {
    let srat = Srat::parse(&QEMU_PC_SRAT_TWO_NODES).unwrap();
    let entries: Vec<_> = srat.entries().collect::<Result<_, _>>().unwrap();
    let memory = |domain, base, length, enabled, hot_pluggable| SratEntry::Memory {
        proximity_domain: domain,
        base,
        length,
        enabled,
        hot_pluggable,
        non_volatile: false,
    };
    assert_eq!(
        entries,
        [
            SratEntry::ProcessorApic {
                proximity_domain: 0,
                apic_id: 0,
                enabled: true,
                clock_domain: 0
            },
            SratEntry::ProcessorApic {
                proximity_domain: 0,
                apic_id: 1,
                enabled: true,
                clock_domain: 0
            },
            memory(0, 0, 0xa_0000, true, false),
            memory(0, 0x10_0000, 0x3f0_0000, true, false),
            memory(1, 0x400_0000, 0x400_0000, true, false),
            memory(0, 0, 0, false, false),
            memory(1, 0x1_0000_0000, 0xb800_0000, true, true),
        ]
    );
}

#[test]
fn srat_high_domain_bits_count_from_revision_2() {
    let mut cpu = srat_cpu(0x12, 5, 1);
    cpu[9..12].copy_from_slice(&[0x34, 0x56, 0x78]);
    let entries = [cpu, srat_x2apic(9, 400, 1)];
    for (revision, expected) in [(1, 0x12), (3, 0x7856_3412)] {
        let table = srat(revision, &entries);
        let decoded: Vec<_> = Srat::parse(&table)
            .unwrap()
            .entries()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            decoded[0],
            SratEntry::ProcessorApic {
                proximity_domain: expected,
                apic_id: 5,
                enabled: true,
                clock_domain: 0
            }
        );
        assert_eq!(
            decoded[1],
            SratEntry::ProcessorX2Apic {
                proximity_domain: 9,
                x2apic_id: 400,
                enabled: true,
                clock_domain: 0
            }
        );
    }
    let mut short_memory = srat_memory(0, 0, 0x1000, 1);
    short_memory[1] = 24;
    short_memory.truncate(24);
    let table = srat(1, &[short_memory]);
    let walked: Vec<_> = Srat::parse(&table).unwrap().entries().collect();
    assert_eq!(
        walked,
        [Err(AcpiError::BadEntry {
            table: Signature::SRAT,
            offset: 48,
            entry_type: 1,
            length: 24
        })]
    );
}

#[test]
fn qemu_slit_and_its_validation() {
    let slit_table = Slit::parse(&QEMU_PC_SLIT_TWO_NODES).unwrap();
    assert_eq!(slit_table.locality_count(), 2);
    assert_eq!(slit_table.distance(0, 0), Some(10));
    assert_eq!(slit_table.distance(0, 1), Some(21));
    assert_eq!(slit_table.distance(1, 0), Some(21));
    assert_eq!(slit_table.distance(2, 0), None);

    assert_eq!(
        Slit::parse(&slit(2, &[10, 20, 20, 11])).unwrap_err(),
        AcpiError::BadDistance {
            from: 1,
            to: 1,
            distance: 11
        }
    );
    assert_eq!(
        Slit::parse(&slit(2, &[10, 5, 20, 10])).unwrap_err(),
        AcpiError::BadDistance {
            from: 0,
            to: 1,
            distance: 5
        }
    );
    assert_eq!(
        Slit::parse(&slit(2, &[10, 20, 20])).unwrap_err(),
        AcpiError::BadLocalityCount { count: 2 }
    );
    assert_eq!(
        Slit::parse(&slit(u64::MAX, &[10])).unwrap_err(),
        AcpiError::BadLocalityCount { count: u64::MAX }
    );
    assert_eq!(
        Slit::parse(&slit(1 << 32, &[])).unwrap_err(),
        AcpiError::BadLocalityCount { count: 1 << 32 }
    );
    // Zero localities is well-formed and answers nothing.
    assert_eq!(Slit::parse(&slit(0, &[])).unwrap().distance(0, 0), None);
    // Unreachable (255) is kept.
    assert_eq!(
        Slit::parse(&slit(2, &[10, 255, 255, 10]))
            .unwrap()
            .distance(1, 0),
        Some(255)
    );
}

#[test]
fn qemu_hpet_decodes() {
    assert_eq!(
        Hpet::parse(&QEMU_PC_HPET).unwrap(),
        Hpet {
            base_address: 0xfed0_0000,
            address_space: 0,
            hpet_number: 0,
            minimum_tick: 0,
            comparator_count: 3,
            counter_is_64_bit: true,
            legacy_replacement: true,
            pci_vendor_id: 0x8086,
        }
    );
    let mut body = QEMU_PC_HPET[36..].to_vec();
    body[17] = 0x80;
    assert_eq!(
        Hpet::parse(&sdt(b"HPET", 1, &body)).unwrap().minimum_tick,
        0x80
    );
    assert_eq!(
        Hpet::parse(&sdt(b"HPET", 1, &body[..19])).unwrap_err(),
        AcpiError::Truncated {
            table: Signature::HPET,
            needed: 56,
            present: 55
        }
    );
}

/// A fake machine: RSDP at 0xf5000, root table at 0x7fe0000, the tables
/// after it, and one root entry pointing at unmapped memory.
fn machine(xsdt: bool, srat_table: &[u8]) -> FakeMemory {
    let tables: [&[u8]; 4] = [
        &QEMU_PC_HPET,
        &QEMU_Q35_MADT,
        srat_table,
        &QEMU_PC_SLIT_TWO_NODES,
    ];
    let mut mem = FakeMemory::default();
    let mut addresses = vec![0xdead_0000u64];
    for (index, table) in tables.iter().enumerate() {
        let address = 0x7fe_1000 + 0x1000 * index as u64;
        mem.place(address, table);
        addresses.push(address);
    }
    let mut body = Vec::new();
    for address in addresses {
        if xsdt {
            le64(&mut body, address)
        } else {
            le32(&mut body, address as u32)
        }
    }
    mem.place(
        0x7fe_0000,
        &sdt(if xsdt { b"XSDT" } else { b"RSDT" }, 1, &body),
    );
    let mut rsdp = rsdp_v2(if xsdt { 0x7fe_0000 } else { 0 });
    if !xsdt {
        rsdp[16..20].copy_from_slice(&0x7fe_0000u32.to_le_bytes());
        rsdp[8] = 0;
        rsdp[8] = 0u8.wrapping_sub(rsdp[..20].iter().fold(0u8, |s, b| s.wrapping_add(*b)));
        rsdp[32] = 0;
        rsdp[32] = 0u8.wrapping_sub(rsdp.iter().fold(0u8, |s, b| s.wrapping_add(*b)));
    }
    mem.place(0xf_5000, &rsdp);
    mem
}

#[test]
fn rsdt_and_xsdt_walks_find_tables_by_signature() {
    for xsdt in [false, true] {
        let mem = machine(xsdt, &QEMU_PC_SRAT_TWO_NODES);
        let rsdp = Rsdp::read(&mem, 0xf_5000).unwrap();
        let tables = AcpiTables::new(&mem, &rsdp).unwrap();
        assert_eq!(
            tables.root().header().signature,
            if xsdt {
                Signature::XSDT
            } else {
                Signature::RSDT
            }
        );
        assert_eq!(tables.table_addresses().count(), 5);
        let madt = tables.find(Signature::MADT).unwrap().unwrap();
        assert_eq!(madt.bytes(), &QEMU_Q35_MADT[..]);
        assert_eq!(
            tables.find(Signature::SLIT).unwrap().unwrap().bytes(),
            &QEMU_PC_SLIT_TWO_NODES[..]
        );
        assert!(tables.find(Signature(*b"FACP")).unwrap().is_none());
        let topology = Topology::from_acpi(&tables).unwrap();
        assert_eq!(topology.nodes().len(), 2);
        assert_eq!(topology.distance(NodeId(0), NodeId(1)), Some(21));
    }
}

#[test]
fn a_corrupt_table_is_an_error_when_found() {
    let mut corrupt = QEMU_PC_SRAT_TWO_NODES;
    corrupt[100] ^= 1;
    let mem = machine(true, &corrupt);
    let rsdp = Rsdp::read(&mem, 0xf_5000).unwrap();
    let tables = AcpiTables::new(&mem, &rsdp).unwrap();
    assert_eq!(
        tables.find(Signature::SRAT).unwrap_err(),
        AcpiError::BadChecksum {
            table: Signature::SRAT
        }
    );
    // The topology survives it: one node, with a warning.
    let topology = Topology::from_acpi(&tables).unwrap();
    assert!(!topology.is_from_srat());
    assert_eq!(
        topology.warnings(),
        [TopologyWarning::SratMalformed(AcpiError::BadChecksum {
            table: Signature::SRAT
        })]
    );
    assert!(matches!(
        Rsdp::read(&mem, 0xf_5020),
        Err(AcpiError::Unreadable { .. })
    ));
}
