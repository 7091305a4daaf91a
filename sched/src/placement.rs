//! NUMA-aware placement of new threads and the order in which an idle CPU
//! looks for work to steal. Pure policy over a [`Topology`] and per-CPU loads
//! (`Scheduler::load`, published by each CPU); no scheduler state is touched.

use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::cpuset::{CpuId, CpuSet, MAX_CPUS};
use crate::error::SchedError;

/// A NUMA node (proximity domain, renumbered densely from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u8);

/// Which node each CPU is on and the distances between nodes (ACPI SLIT:
/// 10 = local, larger = farther).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    node_of_cpu: Vec<NodeId>,
    node_count: usize,
    /// Row-major `node_count x node_count`: `distances[from * n + to]`.
    distances: Vec<u8>,
}

impl Topology {
    /// Builds a topology from the node of every CPU (indexed by `CpuId`) and a
    /// row-major SLIT matrix.
    ///
    /// # Errors
    /// [`SchedError::InvalidTopology`] if there are no CPUs, more than
    /// [`MAX_CPUS`], a matrix that is not square, or a CPU on a node outside it.
    pub fn new(node_of_cpu: Vec<NodeId>, distances: Vec<u8>) -> Result<Self, SchedError> {
        let node_count = distances.len().isqrt();
        let consistent = !node_of_cpu.is_empty()
            && node_of_cpu.len() <= MAX_CPUS
            && node_count * node_count == distances.len()
            && node_of_cpu
                .iter()
                .all(|node| usize::from(node.0) < node_count);
        if !consistent {
            return Err(SchedError::InvalidTopology);
        }
        Ok(Self {
            node_of_cpu,
            node_count,
            distances,
        })
    }

    /// Every CPU on one node (a machine without SRAT/SLIT).
    ///
    /// # Errors
    /// [`SchedError::InvalidTopology`] for 0 or more than [`MAX_CPUS`] CPUs.
    pub fn uniform(cpus: usize) -> Result<Self, SchedError> {
        Self::new(alloc::vec![NodeId(0); cpus], alloc::vec![10])
    }

    /// Number of CPUs.
    #[must_use]
    pub fn cpu_count(&self) -> usize {
        self.node_of_cpu.len()
    }

    /// The node of `cpu`.
    #[must_use]
    pub fn node_of(&self, cpu: CpuId) -> Option<NodeId> {
        self.node_of_cpu.get(cpu.index()).copied()
    }

    /// SLIT distance between two nodes (`u8::MAX` for unknown nodes).
    #[must_use]
    pub fn distance(&self, from: NodeId, to: NodeId) -> u8 {
        let (from, to) = (usize::from(from.0), usize::from(to.0));
        if from >= self.node_count || to >= self.node_count {
            return u8::MAX;
        }
        self.distances[from * self.node_count + to]
    }

    fn cpus(&self) -> impl Iterator<Item = (CpuId, NodeId)> + '_ {
        self.node_of_cpu
            .iter()
            .enumerate()
            .filter_map(|(i, &node)| u16::try_from(i).ok().map(|id| (CpuId(id), node)))
    }

    fn check_loads(&self, loads: &[usize]) -> Result<(), SchedError> {
        if loads.len() == self.cpu_count() {
            Ok(())
        } else {
            Err(SchedError::InvalidTopology)
        }
    }
}

/// Chooses the CPU for a new thread: the least loaded CPU allowed by
/// `affinity` on the parent's node; if the affinity allows none there, the
/// least loaded allowed CPU on the nearest node that has one. Ties go to the
/// lower CPU number.
///
/// # Errors
/// [`SchedError::InvalidTopology`] if `loads` has not one entry per CPU;
/// [`SchedError::NoAllowedCpu`] if the affinity allows no existing CPU.
pub fn place_thread(
    topology: &Topology,
    parent_node: NodeId,
    affinity: &CpuSet,
    loads: &[usize],
) -> Result<CpuId, SchedError> {
    topology.check_loads(loads)?;
    topology
        .cpus()
        .filter(|&(cpu, _)| affinity.contains(cpu))
        .min_by_key(|&(cpu, node)| {
            (
                node != parent_node,
                topology.distance(parent_node, node),
                loads[cpu.index()],
                cpu,
            )
        })
        .map(|(cpu, _)| cpu)
        .ok_or(SchedError::NoAllowedCpu)
}

/// The CPUs an idle `thief` should ask for work, in order: nearest node first,
/// then the most loaded, then the lower CPU number. Only CPUs with a thread
/// queued behind the running one (load of 2 or more) are listed.
///
/// # Errors
/// [`SchedError::InvalidTopology`] if `loads` has not one entry per CPU;
/// [`SchedError::NoSuchCpu`] if `thief` does not exist.
pub fn steal_order(
    topology: &Topology,
    thief: CpuId,
    loads: &[usize],
) -> Result<Vec<CpuId>, SchedError> {
    topology.check_loads(loads)?;
    let home = topology
        .node_of(thief)
        .ok_or(SchedError::NoSuchCpu(thief))?;
    let mut victims: Vec<(CpuId, NodeId)> = topology
        .cpus()
        .filter(|&(cpu, _)| cpu != thief && loads[cpu.index()] >= 2)
        .collect();
    victims.sort_by_key(|&(cpu, node)| {
        (
            topology.distance(home, node),
            Reverse(loads[cpu.index()]),
            cpu,
        )
    });
    Ok(victims.into_iter().map(|(cpu, _)| cpu).collect())
}
