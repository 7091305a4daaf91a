//! NUMA placement of new threads and steal order, on a three-node machine
//! with a SLIT where node 0 and node 2 are farthest apart.

use sched::{CpuId, CpuSet, NodeId, SchedError, Topology, place_thread, steal_order};

/// Six CPUs, two per node; distances 10 local, 20 to the neighbour, 30 across.
fn three_nodes() -> Topology {
    let nodes = [0, 0, 1, 1, 2, 2].map(NodeId).to_vec();
    let slit = vec![10, 20, 30, 20, 10, 20, 30, 20, 10];
    Topology::new(nodes, slit).unwrap()
}

fn cpus(ids: &[u16]) -> CpuSet {
    ids.iter().map(|&i| CpuId(i)).collect()
}

#[test]
fn new_threads_go_to_the_least_loaded_cpu_of_the_parent_node() {
    let topology = three_nodes();
    let loads = [3, 1, 0, 0, 0, 0];
    assert_eq!(
        place_thread(&topology, NodeId(0), &CpuSet::ALL, &loads),
        Ok(CpuId(1))
    );
    assert_eq!(
        place_thread(&topology, NodeId(2), &CpuSet::ALL, &[0; 6]),
        Ok(CpuId(4))
    );
}

#[test]
fn affinity_is_respected_and_the_nearest_node_is_next() {
    let topology = three_nodes();
    let loads = [0, 0, 5, 4, 0, 0];
    // Parent on node 0 but only CPUs 0 and 2..5 allowed; CPU 0 is on node 0.
    assert_eq!(
        place_thread(&topology, NodeId(0), &cpus(&[0, 2, 3, 4, 5]), &loads),
        Ok(CpuId(0))
    );
    // Nothing allowed on node 0: node 1 (distance 20) beats idle node 2 (30).
    assert_eq!(
        place_thread(&topology, NodeId(0), &cpus(&[2, 3, 4, 5]), &loads),
        Ok(CpuId(3))
    );
    assert_eq!(
        place_thread(&topology, NodeId(0), &CpuSet::EMPTY, &loads),
        Err(SchedError::NoAllowedCpu)
    );
    assert_eq!(
        place_thread(&topology, NodeId(0), &cpus(&[6, 7]), &loads),
        Err(SchedError::NoAllowedCpu)
    );
    assert_eq!(
        place_thread(&topology, NodeId(0), &CpuSet::ALL, &loads[..5]),
        Err(SchedError::InvalidTopology)
    );
}

#[test]
fn steal_order_follows_distance_then_load() {
    let topology = three_nodes();
    let loads = [0, 2, 3, 6, 9, 1];
    // Thief CPU 0 on node 0: its neighbour CPU 1 first, then node 1 (most
    // loaded first), then node 2; CPU 5 has nothing queued.
    assert_eq!(
        steal_order(&topology, CpuId(0), &loads),
        Ok(vec![CpuId(1), CpuId(3), CpuId(2), CpuId(4)])
    );
    // From node 2 the order of nodes reverses.
    assert_eq!(
        steal_order(&topology, CpuId(5), &loads),
        Ok(vec![CpuId(4), CpuId(3), CpuId(2), CpuId(1)])
    );
    assert_eq!(
        steal_order(&topology, CpuId(9), &loads),
        Err(SchedError::NoSuchCpu(CpuId(9)))
    );
}

#[test]
fn inconsistent_topologies_are_refused() {
    assert_eq!(
        Topology::new(vec![NodeId(0)], vec![10, 20, 20]),
        Err(SchedError::InvalidTopology)
    );
    assert_eq!(
        Topology::new(vec![NodeId(1)], vec![10]),
        Err(SchedError::InvalidTopology)
    );
    assert_eq!(
        Topology::new(vec![], vec![10]),
        Err(SchedError::InvalidTopology)
    );
    let uniform = Topology::uniform(4).unwrap();
    assert_eq!(uniform.distance(NodeId(0), NodeId(0)), 10);
    assert_eq!(uniform.distance(NodeId(0), NodeId(3)), u8::MAX);
}
