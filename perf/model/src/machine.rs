//! The modeled memory system: per CPU an L1D and an L2 (the L2 holds
//! everything the L1D holds), one shared last-level cache, and a directory
//! that keeps the CPUs' private caches coherent MESI-style.
//!
//! The directory knows, for every line some CPU holds privately, the set of
//! holders and whether the (then single) holder modified it. An access of
//! CPU `c` to line `L`:
//! - a write while another CPU holds `L` invalidates it there: one
//!   coherence transfer (a read-for-ownership, or an upgrade of a shared
//!   line); `c` then holds `L` modified, alone;
//! - a read of a line another CPU holds modified takes it from that CPU:
//!   one coherence transfer; both then hold it shared (the owner's copy is
//!   written back to the LLC);
//! - otherwise no transfer. Then `c`'s L1D, its L2 and the LLC are looked up
//!   in turn, each miss counted and filled; a line supplied by another CPU
//!   does not look up the LLC. An L2 eviction removes the line from the
//!   L1D too and drops `c` from the line's holders.
//!
//! The LLC is not inclusive (evicting from it invalidates nothing), there
//! are no prefetchers and no instruction fetches: data accesses only.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::cache::{Cache, Geometry, GeometryError};
use crate::events::Events;

/// The caches' geometry and the number of CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// CPUs (1..=64).
    pub cpus: usize,
    /// Each CPU's L1 data cache.
    pub l1d: Geometry,
    /// Each CPU's L2.
    pub l2: Geometry,
    /// The shared last-level cache.
    pub llc: Geometry,
}

impl MachineConfig {
    /// The defaults: L1D 32 KiB 8-way, L2 1 MiB 16-way, LLC 8 MiB 16-way,
    /// 64-byte lines.
    #[must_use]
    pub const fn with_cpus(cpus: usize) -> Self {
        Self {
            cpus,
            l1d: Geometry {
                size: 32 << 10,
                ways: 8,
                line: 64,
            },
            l2: Geometry {
                size: 1 << 20,
                ways: 16,
                line: 64,
            },
            llc: Geometry {
                size: 8 << 20,
                ways: 16,
                line: 64,
            },
        }
    }
}

/// One data access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The CPU.
    pub cpu: usize,
    /// Physical byte address.
    pub addr: u64,
    /// Bytes accessed (1..).
    pub size: u64,
    /// A store (else a load).
    pub write: bool,
}

/// Where one line access was served from (the last access's, for tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The CPU's L1D.
    L1,
    /// The CPU's L2.
    L2,
    /// Another CPU's cache (a coherence transfer).
    Peer,
    /// The LLC.
    Llc,
    /// Memory.
    Memory,
}

/// A directory entry: which CPUs hold the line, and whether its holder
/// modified it (then exactly one CPU holds it).
#[derive(Clone, Copy, Debug, Default)]
struct Holders {
    cpus: u64,
    modified: bool,
}

/// A multiplicative hash for line numbers (the default SipHash costs more
/// than the rest of an access).
#[derive(Default)]
struct LineHasher(u64);

impl Hasher for LineHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The modeled caches of every CPU and the shared LLC.
pub struct Machine {
    line_shift: u32,
    l1d: Vec<Cache>,
    l2: Vec<Cache>,
    llc: Cache,
    directory: HashMap<u64, Holders, BuildHasherDefault<LineHasher>>,
}

impl Machine {
    /// Empty caches.
    ///
    /// # Errors
    /// A bad geometry, a CPU count outside 1..=64, or levels whose line
    /// sizes differ.
    pub fn new(cfg: &MachineConfig) -> Result<Self, GeometryError> {
        if cfg.cpus == 0 || cfg.cpus > 64 {
            return Err(GeometryError(format!("{} CPUs: need 1..=64", cfg.cpus)));
        }
        if cfg.l1d.line != cfg.l2.line || cfg.l2.line != cfg.llc.line {
            return Err(GeometryError(String::from(
                "L1D, L2 and LLC must have the same line size",
            )));
        }
        let mut l1d = Vec::with_capacity(cfg.cpus);
        let mut l2 = Vec::with_capacity(cfg.cpus);
        for _ in 0..cfg.cpus {
            l1d.push(Cache::new(cfg.l1d)?);
            l2.push(Cache::new(cfg.l2)?);
        }
        Ok(Self {
            line_shift: cfg.l1d.line.trailing_zeros(),
            l1d,
            l2,
            llc: Cache::new(cfg.llc)?,
            directory: HashMap::default(),
        })
    }

    /// The number of CPUs modeled.
    #[must_use]
    pub fn cpus(&self) -> usize {
        self.l1d.len()
    }

    /// Models `a` (every line it touches), counting into `events`; returns
    /// where its last line was served from. A CPU beyond the model's count
    /// is folded onto the last one.
    pub fn access(&mut self, a: Access, events: &mut Events) -> Outcome {
        let cpu = a.cpu.min(self.cpus() - 1);
        let first = a.addr >> self.line_shift;
        let last = a.addr.saturating_add(a.size.max(1) - 1) >> self.line_shift;
        let mut outcome = Outcome::L1;
        for line in first..=last {
            outcome = self.access_line(cpu, line, a.write, events);
        }
        outcome
    }

    fn access_line(&mut self, cpu: usize, line: u64, write: bool, ev: &mut Events) -> Outcome {
        let me = 1u64 << cpu;
        let holders = self.directory.get(&line).copied().unwrap_or_default();
        let others = holders.cpus & !me;
        let mut from_peer = false;
        if write && others != 0 {
            from_peer = true;
            for peer in 0..self.cpus() {
                if others & (1 << peer) != 0 {
                    self.l1d[peer].remove(line);
                    self.l2[peer].remove(line);
                }
            }
        } else if !write && holders.modified && others != 0 {
            // The owner's modified copy is written back and shared.
            from_peer = true;
            if !self.llc.contains(line) {
                self.llc.insert(line);
            }
        }
        if from_peer {
            ev.coherence_transfers += 1;
        }
        let outcome = if self.l1d[cpu].touch(line) {
            Outcome::L1
        } else {
            ev.l1d_misses += 1;
            let outcome = if self.l2[cpu].touch(line) {
                Outcome::L2
            } else {
                ev.l2_misses += 1;
                let outcome = if from_peer {
                    Outcome::Peer
                } else if self.llc.touch(line) {
                    Outcome::Llc
                } else {
                    ev.llc_misses += 1;
                    self.llc.insert(line);
                    Outcome::Memory
                };
                if let Some(victim) = self.l2[cpu].insert(line) {
                    self.evict_private(cpu, victim);
                }
                outcome
            };
            // The L2 holds the line now, so an L1D victim stays held.
            self.l1d[cpu].insert(line);
            outcome
        };
        // The L2 victim above is another line, so `line`'s entry is still
        // `holders` (less the peers a write invalidated).
        let entry = self.directory.entry(line).or_default();
        if write {
            entry.cpus = me;
            entry.modified = true;
        } else {
            entry.cpus |= me;
            entry.modified &= !from_peer;
        }
        outcome
    }

    /// `cpu`'s L2 dropped `line`: drop it from the L1D and the directory.
    fn evict_private(&mut self, cpu: usize, line: u64) {
        self.l1d[cpu].remove(line);
        if let Some(h) = self.directory.get_mut(&line) {
            if h.modified && h.cpus == 1 << cpu && !self.llc.contains(line) {
                // Write-back of a modified line.
                self.llc.insert(line);
            }
            h.cpus &= !(1 << cpu);
            if h.cpus == 0 {
                self.directory.remove(&line);
            } else if h.modified {
                h.modified = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(cpus: usize) -> Machine {
        Machine::new(&MachineConfig::with_cpus(cpus)).unwrap()
    }

    fn load(cpu: usize, addr: u64) -> Access {
        Access {
            cpu,
            addr,
            size: 8,
            write: false,
        }
    }

    fn store(cpu: usize, addr: u64) -> Access {
        Access {
            write: true,
            ..load(cpu, addr)
        }
    }

    #[test]
    fn a_16k_loop_misses_only_while_warming_up() {
        let mut m = machine(1);
        let mut warm = Events::default();
        for addr in (0..16 << 10).step_by(8) {
            m.access(load(0, addr), &mut warm);
        }
        assert_eq!(warm.l1d_misses, 256, "one cold miss per 64-byte line");
        let mut ev = Events::default();
        for _ in 0..10 {
            for addr in (0..16 << 10).step_by(8) {
                m.access(load(0, addr), &mut ev);
                m.access(store(0, addr), &mut ev);
            }
        }
        assert_eq!(ev, Events::default(), "no miss and no transfer once warm");
    }

    #[test]
    fn a_64_byte_stride_over_64_mib_misses_every_level_on_every_access() {
        let mut m = machine(1);
        let mut ev = Events::default();
        let lines = (64u64 << 20) / 64;
        for pass in 0..2 {
            for i in 0..lines {
                let o = m.access(load(0, i * 64), &mut ev);
                assert_eq!(o, Outcome::Memory, "pass {pass} line {i}");
            }
        }
        assert_eq!(ev.l1d_misses, 2 * lines);
        assert_eq!(ev.l2_misses, 2 * lines);
        assert_eq!(ev.llc_misses, 2 * lines);
        assert_eq!(ev.coherence_transfers, 0);
    }

    #[test]
    fn a_line_passed_between_two_cpus_transfers_on_every_hop() {
        let mut m = machine(2);
        let mut ev = Events::default();
        let hops = 1000;
        for i in 0..hops {
            // CPU i%2 reads the line its peer wrote, then writes it.
            let cpu = i % 2;
            m.access(load(cpu as usize, 0x1000), &mut ev);
            m.access(store(cpu as usize, 0x1000), &mut ev);
        }
        // Per hop: the read takes the modified line (one transfer), the
        // write invalidates the peer's shared copy (one more); the first
        // hop has no peer.
        assert!(ev.coherence_transfers >= hops - 1, "{ev:?}");
        assert_eq!(ev.coherence_transfers, 2 * (hops - 1));
        assert_eq!(ev.llc_misses, 1);
    }

    #[test]
    fn a_store_to_a_line_only_read_elsewhere_is_one_transfer() {
        let mut m = machine(2);
        let mut ev = Events::default();
        m.access(load(0, 0x40), &mut ev);
        m.access(load(1, 0x40), &mut ev);
        assert_eq!(ev.coherence_transfers, 0, "sharing a clean line is free");
        assert_eq!(m.access(store(1, 0x40), &mut ev), Outcome::L1);
        assert_eq!(ev.coherence_transfers, 1);
        // CPU 0 lost its copy.
        assert_eq!(m.access(load(0, 0x40), &mut ev), Outcome::Peer);
        assert_eq!(ev.coherence_transfers, 2);
    }

    #[test]
    fn a_same_cpu_loop_counts_no_transfer() {
        let mut m = machine(4);
        let mut ev = Events::default();
        for i in 0..10_000u64 {
            m.access(load(2, (i % 64) * 64), &mut ev);
            m.access(store(2, (i % 64) * 64), &mut ev);
        }
        assert_eq!(ev.coherence_transfers, 0);
        assert_eq!(ev.l1d_misses, 64);
    }

    #[test]
    fn an_access_across_a_line_boundary_touches_both_lines() {
        let mut m = machine(1);
        let mut ev = Events::default();
        m.access(
            Access {
                cpu: 0,
                addr: 60,
                size: 8,
                write: false,
            },
            &mut ev,
        );
        assert_eq!(ev.l1d_misses, 2);
    }

    #[test]
    fn l2_evictions_leave_the_l1d_and_the_directory() {
        // A working set of twice the L2 in one CPU, then a peer reads the
        // first line: it must not count a transfer for a line CPU 0 lost.
        let mut m = machine(2);
        let mut ev = Events::default();
        for i in 0..(2u64 << 20) / 64 {
            m.access(store(0, i * 64), &mut ev);
        }
        let before = ev.coherence_transfers;
        m.access(load(1, 0), &mut ev);
        assert_eq!(ev.coherence_transfers, before);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut cfg = MachineConfig::with_cpus(0);
        assert!(Machine::new(&cfg).is_err());
        cfg.cpus = 65;
        assert!(Machine::new(&cfg).is_err());
        cfg.cpus = 2;
        cfg.llc.line = 128;
        assert!(Machine::new(&cfg).is_err());
    }
}
