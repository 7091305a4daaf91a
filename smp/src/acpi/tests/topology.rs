//! Tests for [`Topology`]: QEMU layouts with one and two nodes, every fallback
//! and warning, capacity limits, and malformed tables of every length.

use super::super::fixtures::*;
use super::super::*;
use super::*;
use crate::cpuset::{CpuId, CpuSet, NodeId};
use proptest::prelude::*;

const G: u64 = 1 << 30;

#[test]
fn q35_four_cpus_two_nodes() {
    let slit_table = slit(2, &[10, 21, 21, 10]);
    let topology =
        Topology::from_bytes(&q35_madt(4), Some(&q35_srat_two_nodes()), Some(&slit_table)).unwrap();
    assert!(topology.is_from_srat());
    assert_eq!(topology.warnings(), []);
    assert_eq!(topology.local_apic_address(), 0xfee0_0000);
    let nodes: Vec<_> = topology
        .cpus()
        .iter()
        .map(|cpu| (cpu.cpu, cpu.apic_id, cpu.node))
        .collect();
    assert_eq!(
        nodes,
        [
            (CpuId(0), 0, NodeId(0)),
            (CpuId(1), 1, NodeId(0)),
            (CpuId(2), 2, NodeId(1)),
            (CpuId(3), 3, NodeId(1)),
        ]
    );
    assert_eq!(
        topology.nodes()[1].cpus,
        [CpuId(2), CpuId(3)].into_iter().collect::<CpuSet>()
    );
    let memory: Vec<_> = topology
        .memory()
        .iter()
        .map(|range| (range.node, range.base, range.end))
        .collect();
    assert_eq!(
        memory,
        [
            (NodeId(0), 0, 0xa_0000),
            (NodeId(0), 0x10_0000, 2 * G),
            (NodeId(1), 2 * G, 3 * G),
            (NodeId(1), 4 * G, 5 * G),
        ]
    );
    assert_eq!(topology.node_of_address(3 * G - 1), Some(NodeId(1)));
    assert_eq!(topology.node_of_address(0xb_0000), None);
    assert_eq!(topology.distance(NodeId(0), NodeId(1)), Some(21));
    assert_eq!(topology.distance(NodeId(1), NodeId(1)), Some(10));
    assert_eq!(topology.distance(NodeId(2), NodeId(0)), None);
    assert_eq!(
        topology.cpu_by_apic_id(3).map(|cpu| cpu.cpu),
        Some(CpuId(3))
    );
}

#[test]
fn captured_qemu_tables_give_a_memory_only_node() {
    // One CPU (domain 0), memory in domains 0 and 1, hot-pluggable memory.
    let topology = Topology::from_bytes(
        &QEMU_Q35_MADT,
        Some(&QEMU_PC_SRAT_TWO_NODES),
        Some(&QEMU_PC_SLIT_TWO_NODES),
    )
    .unwrap();
    assert_eq!(topology.warnings(), []);
    assert_eq!(topology.nodes().len(), 2);
    assert!(topology.nodes()[1].cpus.is_empty());
    let hot: Vec<_> = topology
        .memory()
        .iter()
        .filter(|range| range.hot_pluggable)
        .collect();
    assert_eq!(hot.len(), 1);
    assert_eq!(
        (hot[0].node, hot[0].base, hot[0].end),
        (NodeId(1), 4 * G, 4 * G + 0xb800_0000)
    );
    assert_eq!(topology.distance(NodeId(1), NodeId(0)), Some(21));
}

#[test]
fn sparse_domains_are_numbered_densely_in_domain_order() {
    let table = srat(
        1,
        &[
            srat_cpu(7, 0, 1),
            srat_cpu(3, 1, 1),
            srat_memory(7, 0, G, 1),
            srat_memory(3, G, G, 1),
        ],
    );
    let mut matrix = vec![20u8; 64];
    for index in 0..8 {
        matrix[index * 9] = 10;
    }
    matrix[3 * 8 + 7] = 33;
    let topology =
        Topology::from_bytes(&q35_madt(2), Some(&table), Some(&slit(8, &matrix))).unwrap();
    let domains: Vec<_> = topology
        .nodes()
        .iter()
        .map(|node| node.proximity_domain)
        .collect();
    assert_eq!(domains, [3, 7]);
    assert_eq!(topology.cpus()[0].node, NodeId(1));
    assert_eq!(topology.cpus()[1].node, NodeId(0));
    assert_eq!(topology.distance(NodeId(0), NodeId(1)), Some(33));
    assert_eq!(topology.distance(NodeId(1), NodeId(0)), Some(20));
}

fn assert_single_node(topology: &Topology, cpus: usize) {
    assert!(!topology.is_from_srat());
    assert_eq!(topology.nodes().len(), 1);
    assert_eq!(topology.nodes()[0].cpus.len(), cpus);
    assert!(topology.cpus().iter().all(|cpu| cpu.node == NodeId(0)));
    assert_eq!(topology.memory().len(), 1);
    assert_eq!(
        (topology.memory()[0].base, topology.memory()[0].end),
        (0, u64::MAX)
    );
    assert_eq!(topology.node_of_address(5 * G), Some(NodeId(0)));
    assert_eq!(topology.distance(NodeId(0), NodeId(0)), Some(10));
}

#[test]
fn missing_malformed_or_empty_srat_falls_back_to_one_node() {
    let madt = q35_madt(4);
    let topology = Topology::from_bytes(&madt, None, None).unwrap();
    assert_single_node(&topology, 4);
    assert_eq!(topology.warnings(), [TopologyWarning::SratMissing]);

    let mut bad_checksum = q35_srat_two_nodes();
    bad_checksum[60] ^= 1;
    let topology = Topology::from_bytes(&madt, Some(&bad_checksum), None).unwrap();
    assert_single_node(&topology, 4);
    assert_eq!(
        topology.warnings(),
        [TopologyWarning::SratMalformed(AcpiError::BadChecksum {
            table: Signature::SRAT
        })]
    );

    let zero_length_entry = srat(
        1,
        &[srat_cpu(0, 0, 1), vec![1, 0, 0, 0], srat_memory(0, 0, G, 1)],
    );
    let topology = Topology::from_bytes(&madt, Some(&zero_length_entry), None).unwrap();
    assert_single_node(&topology, 4);
    assert!(matches!(
        topology.warnings(),
        [TopologyWarning::SratMalformed(AcpiError::BadEntry {
            length: 0,
            ..
        })]
    ));

    for incomplete in [
        srat(1, &[]),
        srat(1, &[srat_cpu(0, 0, 1)]),
        srat(1, &[srat_memory(0, 0, G, 1)]),
    ] {
        let topology = Topology::from_bytes(&madt, Some(&incomplete), None).unwrap();
        assert_single_node(&topology, 4);
        assert_eq!(topology.warnings(), [TopologyWarning::SratIncomplete]);
    }
}

#[test]
fn slit_problems_keep_default_distances() {
    let madt = q35_madt(4);
    let srat_table = q35_srat_two_nodes();
    let cases: [(Option<Vec<u8>>, TopologyWarning); 3] = [
        (None, TopologyWarning::SlitMissing),
        (
            Some(slit(2, &[10, 21, 21, 12])),
            TopologyWarning::SlitMalformed(AcpiError::BadDistance {
                from: 1,
                to: 1,
                distance: 12,
            }),
        ),
        (
            Some(slit(1, &[10])),
            TopologyWarning::SlitTooSmall {
                proximity_domain: 1,
            },
        ),
    ];
    for (slit_table, warning) in cases {
        let topology =
            Topology::from_bytes(&madt, Some(&srat_table), slit_table.as_deref()).unwrap();
        assert_eq!(topology.warnings(), [warning]);
        assert_eq!(topology.distance(NodeId(0), NodeId(1)), Some(20));
        assert_eq!(topology.distance(NodeId(1), NodeId(0)), Some(20));
        assert_eq!(topology.distance(NodeId(0), NodeId(0)), Some(10));
    }
}

#[test]
fn cpu_flags_duplicates_and_missing_affinity() {
    let mut body = vec![0, 0, 0xe0, 0xfe, 1, 0, 0, 0];
    body.extend(madt_lapic(0, 0, 1));
    body.extend(madt_lapic(1, 1, 0)); // disabled, not online-capable
    body.extend(madt_lapic(2, 2, 2)); // online-capable hot-plug slot
    body.extend(madt_lapic(3, 0, 1)); // duplicate APIC id 0
    body.extend(madt_x2apic(300, 1, 4));
    let madt = sdt(b"APIC", 1, &body);
    let srat_table = srat(
        1,
        &[
            srat_cpu(0, 0, 1),
            srat_cpu(1, 2, 1),
            srat_memory(0, 0, G, 1),
        ],
    );
    let topology = Topology::from_bytes(&madt, Some(&srat_table), None).unwrap();
    let apic_ids: Vec<_> = topology.cpus().iter().map(|cpu| cpu.apic_id).collect();
    assert_eq!(apic_ids, [0, 300]);
    assert_eq!(topology.online_capable_cpus(), 1);
    assert_eq!(
        topology.warnings(),
        [
            TopologyWarning::DuplicateApicId { apic_id: 0 },
            TopologyWarning::CpuWithoutNode { apic_id: 300 },
        ]
    );
    // The hot-plug slot's domain does not become a node.
    assert_eq!(topology.nodes().len(), 1);
}

#[test]
fn madt_without_processors_is_an_error() {
    let empty = sdt(b"APIC", 1, &[0, 0, 0xe0, 0xfe, 0, 0, 0, 0]);
    assert_eq!(
        Topology::from_bytes(&empty, None, None).unwrap_err(),
        AcpiError::NoProcessors
    );
    let disabled_only = sdt(
        b"APIC",
        1,
        &[0, 0, 0xe0, 0xfe, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0],
    );
    assert_eq!(
        Topology::from_bytes(&disabled_only, None, None).unwrap_err(),
        AcpiError::NoProcessors
    );
}

#[test]
fn capacities_are_enforced_with_warnings() {
    let madt = q35_madt(300);
    let mut entries: Vec<_> = (0..=254)
        .map(|cpu| srat_cpu((cpu % 20) as u8, cpu as u8, 1))
        .collect();
    entries.extend((255..300).map(|cpu| srat_x2apic(cpu % 20, cpu, 1)));
    entries.extend((0..80).map(|index| srat_memory(index % 20, u64::from(index) * G, G, 1)));
    let topology = Topology::from_bytes(&madt, Some(&srat(1, &entries)), None).unwrap();
    assert_eq!(topology.cpus().len(), MAX_CPUS);
    assert_eq!(topology.nodes().len(), MAX_NODES);
    assert_eq!(topology.memory().len(), MAX_MEMORY_RANGES);
    let warnings = topology.warnings();
    assert_eq!(warnings[0], TopologyWarning::TooManyCpus { apic_id: 256 });
    assert!(warnings.contains(&TopologyWarning::TooManyNodes {
        proximity_domain: 16
    }));
    assert_eq!(topology.ignored_cpus(), 300 - MAX_CPUS);
    // CPUs of domains 16-19 have no node: one warning each, beyond the cap.
    assert_eq!(warnings.len(), 16);
    assert!(topology.dropped_warnings() > 0);
    // Every CPU has a node that exists.
    assert!(
        topology
            .cpus()
            .iter()
            .all(|cpu| usize::from(cpu.node.0) < topology.nodes().len())
    );
}

#[test]
fn every_consistent_truncation_builds_or_errors_without_panicking() {
    let madt = q35_madt(4);
    let srat_table = q35_srat_two_nodes();
    let slit_table = slit(2, &[10, 21, 21, 10]);
    for len in 0..madt.len() {
        let cut = consistently_truncated(&madt, len);
        if let Ok(topology) = Topology::from_bytes(&cut, Some(&srat_table), Some(&slit_table)) {
            assert!(!topology.cpus().is_empty());
        }
    }
    for len in 0..srat_table.len() {
        let cut = consistently_truncated(&srat_table, len);
        let topology = Topology::from_bytes(&madt, Some(&cut), Some(&slit_table)).unwrap();
        assert_eq!(topology.cpus().len(), 4);
        assert!(!topology.nodes().is_empty());
    }
    for len in 0..slit_table.len() {
        let cut = consistently_truncated(&slit_table, len);
        let topology = Topology::from_bytes(&madt, Some(&srat_table), Some(&cut)).unwrap();
        assert!(
            matches!(topology.warnings(), [TopologyWarning::SlitMalformed(_)]),
            "{len}"
        );
    }
}

proptest! {
    #[test]
    fn random_entry_bytes_never_panic(madt_entries in proptest::collection::vec(any::<u8>(), 0..120),
                                      srat_entries in proptest::collection::vec(any::<u8>(), 0..160),
                                      slit_body in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut madt_body = vec![0, 0, 0xe0, 0xfe, 1, 0, 0, 0];
        madt_body.extend(madt_lapic(0, 0, 1));
        madt_body.extend(madt_entries);
        let madt = sdt(b"APIC", 1, &madt_body);
        let mut srat_body = vec![0; 12];
        srat_body.extend(srat_entries);
        let srat_table = sdt(b"SRAT", 3, &srat_body);
        let slit_table = sdt(b"SLIT", 1, &slit_body);
        let topology = Topology::from_bytes(&madt, Some(&srat_table), Some(&slit_table)).unwrap();
        prop_assert!(!topology.cpus().is_empty());
        prop_assert!(topology.cpus().iter().all(|cpu| usize::from(cpu.node.0) < topology.nodes().len()));
    }
}
