//! [`Topology`]: the machine's CPUs, NUMA nodes, node memory ranges and node
//! distances, built from the MADT, SRAT and SLIT.
//!
//! CPUs are the MADT's enabled processors, numbered in MADT order (firmware
//! lists the BSP first). Nodes are the SRAT proximity domains that hold one of
//! those CPUs or enabled memory, numbered in increasing domain order. Anything
//! surprising becomes a [`TopologyWarning`] the kernel prints; boot goes on:
//! - no SRAT, a malformed SRAT, or one without CPU or memory affinities: one
//!   node holding every CPU and all memory (`[0, u64::MAX)`);
//! - no SLIT, or a malformed one: distance 10 to itself, 20 to others.

use arrayvec::ArrayVec;

use super::{
    AcpiError, AcpiTables, Madt, MadtEntry, ProcessorFlags, Signature, Slit, Srat, SratEntry,
};
use crate::PhysRead;
use crate::cpuset::{CpuId, CpuSet, NodeId};

/// The most CPUs a topology holds (the [`CpuSet`] capacity).
pub const MAX_CPUS: usize = CpuSet::CAPACITY as usize;
/// The most NUMA nodes a topology holds.
pub const MAX_NODES: usize = 16;
/// The most node memory ranges a topology holds.
pub const MAX_MEMORY_RANGES: usize = 64;
/// The most warnings kept; later ones are only counted.
const MAX_WARNINGS: usize = 16;
/// Distance of a node to itself.
const LOCAL_DISTANCE: u8 = 10;
/// Distance assumed between different nodes without a SLIT.
const REMOTE_DISTANCE: u8 = 20;

/// One usable CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    /// The kernel's CPU number (position in the MADT).
    pub cpu: CpuId,
    /// Local APIC or x2APIC id.
    pub apic_id: u32,
    /// ACPI processor UID.
    pub processor_uid: u32,
    /// The node it belongs to.
    pub node: NodeId,
}

/// One NUMA node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The kernel's node number.
    pub id: NodeId,
    /// The ACPI proximity domain (0 for the fallback node).
    pub proximity_domain: u32,
    /// The node's CPUs.
    pub cpus: CpuSet,
}

/// A physical memory range of one node (from SRAT; not a memory map: holes
/// and reserved areas inside it are the memory map's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeMemory {
    /// The node.
    pub node: NodeId,
    /// First byte.
    pub base: u64,
    /// One past the last byte.
    pub end: u64,
    /// The range may be hot-added or removed.
    pub hot_pluggable: bool,
    /// The range is non-volatile memory.
    pub non_volatile: bool,
}

/// Something odd in the tables, worked around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyWarning {
    /// A malformed MADT entry; the CPUs before it are kept.
    MadtEntryMalformed(AcpiError),
    /// Two enabled MADT processors with the same APIC id; the second ignored.
    DuplicateApicId {
        /// The APIC id.
        apic_id: u32,
    },
    /// More enabled processors than [`MAX_CPUS`]: this one and all later
    /// ones ignored (counted in [`Topology::ignored_cpus`]).
    TooManyCpus {
        /// The APIC id of the first processor ignored.
        apic_id: u32,
    },
    /// No SRAT: one node.
    SratMissing,
    /// A malformed SRAT: one node.
    SratMalformed(AcpiError),
    /// An SRAT without enabled memory or without any of the MADT's CPUs: one node.
    SratIncomplete,
    /// More proximity domains than [`MAX_NODES`]; this one's CPUs go to node 0
    /// and its memory is left out.
    TooManyNodes {
        /// The domain.
        proximity_domain: u32,
    },
    /// More node memory ranges than [`MAX_MEMORY_RANGES`]; the rest left out.
    TooManyMemoryRanges,
    /// A CPU the SRAT gives no node; placed on node 0.
    CpuWithoutNode {
        /// Its APIC id.
        apic_id: u32,
    },
    /// No SLIT on a multi-node machine: default distances.
    SlitMissing,
    /// A malformed SLIT: default distances.
    SlitMalformed(AcpiError),
    /// A proximity domain beyond the SLIT's locality count: default distances
    /// for its node.
    SlitTooSmall {
        /// The domain.
        proximity_domain: u32,
    },
}

/// The machine's CPUs, nodes, node memory and distances.
#[derive(Clone, Debug)]
pub struct Topology {
    cpus: ArrayVec<CpuInfo, MAX_CPUS>,
    nodes: ArrayVec<NodeInfo, MAX_NODES>,
    memory: ArrayVec<NodeMemory, MAX_MEMORY_RANGES>,
    distances: [[u8; MAX_NODES]; MAX_NODES],
    local_apic_address: u64,
    online_capable_cpus: usize,
    ignored_cpus: usize,
    from_srat: bool,
    warnings: ArrayVec<TopologyWarning, MAX_WARNINGS>,
    dropped_warnings: usize,
}

impl Topology {
    /// Builds the topology from the tables the RSDT/XSDT lists.
    ///
    /// # Errors
    /// [`AcpiError::TableMissing`] without an MADT, any MADT parse error, or
    /// [`AcpiError::NoProcessors`]. SRAT and SLIT problems are warnings.
    pub fn from_acpi<M: PhysRead + ?Sized>(tables: &AcpiTables<'_, M>) -> Result<Self, AcpiError> {
        let madt = tables
            .find(Signature::MADT)?
            .ok_or(AcpiError::TableMissing(Signature::MADT))?;
        let madt = Madt::from_sdt(madt)?;
        let srat = tables
            .find(Signature::SRAT)
            .transpose()
            .map(|found| found.and_then(Srat::from_sdt));
        let slit = tables
            .find(Signature::SLIT)
            .transpose()
            .map(|found| found.and_then(Slit::from_sdt));
        Self::build(&madt, srat, slit)
    }

    /// Builds the topology from table bytes (`None` = table absent).
    ///
    /// # Errors
    /// Any MADT parse error, or [`AcpiError::NoProcessors`]. SRAT and SLIT
    /// problems are warnings.
    pub fn from_bytes(
        madt: &[u8],
        srat: Option<&[u8]>,
        slit: Option<&[u8]>,
    ) -> Result<Self, AcpiError> {
        Self::build(
            &Madt::parse(madt)?,
            srat.map(Srat::parse),
            slit.map(Slit::parse),
        )
    }

    /// Builds the topology; `None` = table absent, `Some(Err)` = malformed.
    fn build(
        madt: &Madt<'_>,
        srat: Option<Result<Srat<'_>, AcpiError>>,
        slit: Option<Result<Slit<'_>, AcpiError>>,
    ) -> Result<Self, AcpiError> {
        let mut topology = Self {
            cpus: ArrayVec::new(),
            nodes: ArrayVec::new(),
            memory: ArrayVec::new(),
            distances: [[REMOTE_DISTANCE; MAX_NODES]; MAX_NODES],
            local_apic_address: madt.local_apic_address(),
            online_capable_cpus: 0,
            ignored_cpus: 0,
            from_srat: false,
            warnings: ArrayVec::new(),
            dropped_warnings: 0,
        };
        for (index, row) in topology.distances.iter_mut().enumerate() {
            row[index] = LOCAL_DISTANCE;
        }
        topology.add_madt_cpus(madt);
        if topology.cpus.is_empty() {
            return Err(AcpiError::NoProcessors);
        }
        topology.from_srat = match srat {
            None => topology.warn(TopologyWarning::SratMissing),
            Some(Err(error)) => topology.warn(TopologyWarning::SratMalformed(error)),
            Some(Ok(srat)) => topology.apply_srat(&srat),
        };
        if topology.from_srat {
            topology.apply_slit(slit);
        } else {
            topology.make_single_node();
        }
        Ok(topology)
    }

    fn add_madt_cpus(&mut self, madt: &Madt<'_>) {
        for entry in madt.entries() {
            match entry {
                Ok(MadtEntry::LocalApic {
                    processor_uid,
                    apic_id,
                    flags,
                }) => {
                    self.add_cpu(apic_id.into(), processor_uid.into(), flags);
                }
                Ok(MadtEntry::LocalX2Apic {
                    x2apic_id,
                    flags,
                    processor_uid,
                }) => {
                    self.add_cpu(x2apic_id, processor_uid, flags);
                }
                Ok(_) => {}
                Err(error) => {
                    self.warn(TopologyWarning::MadtEntryMalformed(error));
                }
            }
        }
    }

    fn add_cpu(&mut self, apic_id: u32, processor_uid: u32, flags: ProcessorFlags) {
        if !flags.enabled {
            self.online_capable_cpus += usize::from(flags.online_capable);
            return;
        }
        if self.cpu_by_apic_id(apic_id).is_some() {
            self.warn(TopologyWarning::DuplicateApicId { apic_id });
            return;
        }
        let cpu = CpuInfo {
            cpu: CpuId(self.cpus.len() as u32),
            apic_id,
            processor_uid,
            node: NodeId(0),
        };
        if self.cpus.try_push(cpu).is_err() {
            if self.ignored_cpus == 0 {
                self.warn(TopologyWarning::TooManyCpus { apic_id });
            }
            self.ignored_cpus += 1;
        }
    }

    /// Assigns nodes and memory from `srat`; returns false (changing nothing
    /// but the warnings) when the SRAT is malformed or incomplete.
    fn apply_srat(&mut self, srat: &Srat<'_>) -> bool {
        // Pass 1: validate every entry and collect each CPU's domain and the
        // domains in use, without touching `self`.
        let mut cpu_domains = [None::<u32>; MAX_CPUS];
        let mut domains = ArrayVec::<u32, MAX_NODES>::new();
        let mut overflowing_domain = None;
        let mut has_memory = false;
        for entry in srat.entries() {
            let (domain, apic_id) = match entry {
                Err(error) => return self.warn(TopologyWarning::SratMalformed(error)),
                Ok(SratEntry::ProcessorApic {
                    proximity_domain,
                    apic_id,
                    enabled: true,
                    ..
                }) => (proximity_domain, Some(u32::from(apic_id))),
                Ok(SratEntry::ProcessorX2Apic {
                    proximity_domain,
                    x2apic_id,
                    enabled: true,
                    ..
                }) => (proximity_domain, Some(x2apic_id)),
                Ok(SratEntry::Memory {
                    proximity_domain,
                    length,
                    enabled: true,
                    ..
                }) if length > 0 => {
                    has_memory = true;
                    (proximity_domain, None)
                }
                Ok(_) => continue,
            };
            if let Some(apic_id) = apic_id {
                // Processors the MADT does not enable (hot-plug slots) are skipped.
                let Some(index) = self.cpus.iter().position(|cpu| cpu.apic_id == apic_id) else {
                    continue;
                };
                cpu_domains[index] = Some(domain);
            }
            if !domains.contains(&domain) && domains.try_push(domain).is_err() {
                overflowing_domain.get_or_insert(domain);
            }
        }
        if !has_memory || cpu_domains.iter().all(Option::is_none) {
            return self.warn(TopologyWarning::SratIncomplete);
        }
        if let Some(proximity_domain) = overflowing_domain {
            self.warn(TopologyWarning::TooManyNodes { proximity_domain });
        }

        // Pass 2: commit.
        domains.sort_unstable();
        let node_of = |domain: u32| {
            domains
                .iter()
                .position(|known| *known == domain)
                .map(|index| NodeId(index as u16))
        };
        for (index, proximity_domain) in domains.iter().enumerate() {
            let id = NodeId(index as u16);
            self.nodes.push(NodeInfo {
                id,
                proximity_domain: *proximity_domain,
                cpus: CpuSet::new(),
            });
        }
        let cpu_count = self.cpus.len();
        for (index, domain) in cpu_domains.iter().enumerate().take(cpu_count) {
            let node = domain.and_then(node_of);
            if node.is_none() {
                let apic_id = self.cpus[index].apic_id;
                self.warn(TopologyWarning::CpuWithoutNode { apic_id });
            }
            let node = node.unwrap_or(NodeId(0));
            self.cpus[index].node = node;
            // Cannot fail: CPU numbers are below MAX_CPUS = CpuSet::CAPACITY.
            let _ = self.nodes[usize::from(node.0)]
                .cpus
                .insert(self.cpus[index].cpu);
        }
        let mut memory_overflow = false;
        for entry in srat.entries().map_while(Result::ok) {
            let SratEntry::Memory {
                proximity_domain,
                base,
                length,
                enabled: true,
                hot_pluggable,
                non_volatile,
            } = entry
            else {
                continue;
            };
            let Some(node) = node_of(proximity_domain).filter(|_| length > 0) else {
                continue;
            };
            let range = NodeMemory {
                node,
                base,
                end: base.saturating_add(length),
                hot_pluggable,
                non_volatile,
            };
            memory_overflow |= self.memory.try_push(range).is_err();
        }
        if memory_overflow {
            self.warn(TopologyWarning::TooManyMemoryRanges);
        }
        self.memory.sort_unstable_by_key(|range| range.base);
        true
    }

    /// Sets node distances from `slit`, keeping the defaults where it cannot.
    fn apply_slit(&mut self, slit: Option<Result<Slit<'_>, AcpiError>>) {
        let slit = match slit {
            Some(Ok(slit)) => slit,
            Some(Err(error)) => {
                self.warn(TopologyWarning::SlitMalformed(error));
                return;
            }
            None => {
                if self.nodes.len() > 1 {
                    self.warn(TopologyWarning::SlitMissing);
                }
                return;
            }
        };
        // Fits: there are at most MAX_NODES nodes.
        let domains: ArrayVec<u32, MAX_NODES> = self
            .nodes
            .iter()
            .map(|node| node.proximity_domain)
            .collect();
        for (from, from_domain) in domains.iter().enumerate() {
            if *from_domain >= slit.locality_count() {
                self.warn(TopologyWarning::SlitTooSmall {
                    proximity_domain: *from_domain,
                });
                continue;
            }
            for (to, to_domain) in domains.iter().enumerate() {
                if let Some(distance) = slit.distance(*from_domain, *to_domain) {
                    self.distances[from][to] = distance;
                }
            }
        }
    }

    /// The fallback: one node with every CPU and all memory.
    fn make_single_node(&mut self) {
        let all_cpus: CpuSet = self.cpus.iter().map(|cpu| cpu.cpu).collect();
        for cpu in &mut self.cpus {
            cpu.node = NodeId(0);
        }
        self.nodes.clear();
        self.nodes.push(NodeInfo {
            id: NodeId(0),
            proximity_domain: 0,
            cpus: all_cpus,
        });
        self.memory.clear();
        self.memory.push(NodeMemory {
            node: NodeId(0),
            base: 0,
            end: u64::MAX,
            hot_pluggable: false,
            non_volatile: false,
        });
    }

    /// Records a warning; returns false so callers can `return self.warn(..)`.
    fn warn(&mut self, warning: TopologyWarning) -> bool {
        if self.warnings.try_push(warning).is_err() {
            self.dropped_warnings += 1;
        }
        false
    }

    /// The usable CPUs, by CPU number.
    #[must_use]
    pub fn cpus(&self) -> &[CpuInfo] {
        &self.cpus
    }

    /// The nodes, by node number.
    #[must_use]
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The nodes' memory ranges, sorted by base.
    #[must_use]
    pub fn memory(&self) -> &[NodeMemory] {
        &self.memory
    }

    /// The distance from node `from` to node `to` (10 = local), or `None` for
    /// an unknown node.
    #[must_use]
    pub fn distance(&self, from: NodeId, to: NodeId) -> Option<u8> {
        let (from, to) = (usize::from(from.0), usize::from(to.0));
        (from < self.nodes.len() && to < self.nodes.len()).then(|| self.distances[from][to])
    }

    /// The node whose memory holds `addr`.
    #[must_use]
    pub fn node_of_address(&self, addr: u64) -> Option<NodeId> {
        self.memory
            .iter()
            .find(|range| range.base <= addr && addr < range.end)
            .map(|range| range.node)
    }

    /// The CPU with APIC id `apic_id`.
    #[must_use]
    pub fn cpu_by_apic_id(&self, apic_id: u32) -> Option<&CpuInfo> {
        self.cpus.iter().find(|cpu| cpu.apic_id == apic_id)
    }

    /// The local APIC's physical address (after any MADT override).
    #[must_use]
    pub const fn local_apic_address(&self) -> u64 {
        self.local_apic_address
    }

    /// Disabled but online-capable processors (hot-plug slots), not in [`Topology::cpus`].
    #[must_use]
    pub const fn online_capable_cpus(&self) -> usize {
        self.online_capable_cpus
    }

    /// Enabled processors left out because there were more than [`MAX_CPUS`].
    #[must_use]
    pub const fn ignored_cpus(&self) -> usize {
        self.ignored_cpus
    }

    /// Whether the nodes come from the SRAT (false: the one-node fallback).
    #[must_use]
    pub const fn is_from_srat(&self) -> bool {
        self.from_srat
    }

    /// The warnings, in the order they arose.
    #[must_use]
    pub fn warnings(&self) -> &[TopologyWarning] {
        &self.warnings
    }

    /// Warnings beyond the kept ones, only counted.
    #[must_use]
    pub const fn dropped_warnings(&self) -> usize {
        self.dropped_warnings
    }
}
