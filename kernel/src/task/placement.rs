//! Placement of new threads on CPUs (NUMA-aware, by the CPUs' published
//! loads).

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use sched::{CpuId, CpuSet};

use crate::percpu::{self, MAX_CPUS};

/// SLIT distances between NUMA nodes (node count, row-major matrix), set
/// once at boot from ACPI; without them every CPU counts as one node.
pub(super) static NUMA_DISTANCES: spin::Once<(usize, Vec<u8>)> = spin::Once::new();

/// Records the distances between the `nodes` NUMA nodes (row-major SLIT).
pub fn set_numa_distances(nodes: usize, distances: Vec<u8>) {
    if nodes * nodes == distances.len() {
        NUMA_DISTANCES.call_once(|| (nodes, distances));
    }
}

/// Chooses the CPU for a new thread whose parent runs on `parent_cpu`
/// (`sched::place_thread`): the least loaded online CPU of the parent's
/// NUMA node, else of the nearest node; loads are the CPUs' published
/// runnable counts. The chosen CPU's load is raised at once, so placements
/// in a row spread before the new threads first run. `None` if no CPU is
/// online.
pub fn place(parent_cpu: u32) -> Option<u32> {
    let cpus: Vec<Option<&'static percpu::PerCpu>> = (0..MAX_CPUS as u32).map(percpu::of).collect();
    let count = cpus.iter().rposition(Option::is_some)? + 1;
    let cpus = &cpus[..count];
    let node =
        |c: &Option<&percpu::PerCpu>| c.map_or(0, |c| u8::try_from(c.node).unwrap_or(u8::MAX));
    let node_of: Vec<sched::NodeId> = cpus.iter().map(|c| sched::NodeId(node(c))).collect();
    let nodes = usize::from(cpus.iter().map(node).max().unwrap_or(0)) + 1;
    let distances = match NUMA_DISTANCES.get() {
        Some((n, d)) if *n >= nodes => d.clone(),
        // No SLIT: local 10, remote 20 (the ACPI default).
        _ => (0..nodes * nodes)
            .map(|i| if i / nodes == i % nodes { 10 } else { 20 })
            .collect(),
    };
    let topology = sched::Topology::new(node_of, distances).ok()?;
    let mut allowed = CpuSet::EMPTY;
    for (i, cpu) in cpus.iter().enumerate() {
        if cpu.is_some_and(|c| c.online.load(Ordering::Acquire)) {
            allowed.insert(CpuId(i as u16));
        }
    }
    let loads: Vec<usize> = cpus
        .iter()
        .map(|c| c.map_or(0, |c| c.sched_load.load(Ordering::Relaxed) as usize))
        .collect();
    let parent_node = sched::NodeId(node(cpus.get(parent_cpu as usize)?));
    let chosen = sched::place_thread(&topology, parent_node, &allowed, &loads).ok()?;
    let chosen = u32::from(chosen.0);
    if let Some(cpu) = percpu::of(chosen) {
        cpu.sched_load.fetch_add(1, Ordering::Relaxed);
    }
    Some(chosen)
}
