//! The cost table: modeled cycles per event, each with its published
//! source, and the text format `--model-costs FILE` reads.
//!
//! Modeled cycles = `instruction` x instructions + the sum over events of
//! count x cost. Costs are *marginal*: an L1D miss costs the L2 latency, an
//! L2 miss adds the LLC's, an LLC miss adds memory's, a coherence transfer
//! adds a snoop on top. Nothing overlaps (no out-of-order execution, no
//! memory-level parallelism): a model, not a measurement.
//!
//! The defaults describe one Skylake-SP-class core (the cache geometry the
//! plugin models by default is that core's: L1D 32 KiB 8-way, L2 1 MiB
//! 16-way). The file format is one `key cycles` pair per line; `#` starts a
//! comment; every key of [`KEYS`] must appear exactly once.

use core::fmt;

use crate::Events;

/// One entry of the table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// The event's key (a field of [`Events`], or `instruction`).
    pub key: &'static str,
    /// Modeled cycles per event.
    pub cycles: f64,
    /// Where the number comes from.
    pub source: &'static str,
}

/// The keys, in table order.
pub const KEYS: [&str; 11] = [
    "instruction",
    "l1d_miss",
    "l2_miss",
    "llc_miss",
    "coherence_transfer",
    "cr3_write",
    "tlb_flush",
    "syscall",
    "ipi",
    "interrupt",
    "xsave",
];

/// The default table.
pub const DEFAULT: [Cost; 11] = [
    Cost {
        key: "instruction",
        cycles: 1.0,
        source: "model assumption: one instruction per cycle (no published number: the base rate everything else is added to)",
    },
    Cost {
        key: "l1d_miss",
        cycles: 14.0,
        source: "L2 hit latency, Skylake Server: Intel 64 and IA-32 Architectures Optimization Reference Manual, Skylake Server microarchitecture cache parameters (L2 1 MiB 16-way, 14 cycles)",
    },
    Cost {
        key: "l2_miss",
        cycles: 63.0,
        source: "L3 (LLC) hit ~77 cycles on Skylake-SP (AnandTech, 'The Intel Skylake-X Review', cache table, 2017) minus the 14 already charged for the L2",
    },
    Cost {
        key: "llc_miss",
        cycles: 190.0,
        source: "local DRAM ~65 ns at 2.93 GHz: Molka, Hackenberg, Schoene, Mueller, 'Memory Performance and Cache Coherency Effects on an Intel Nehalem Multiprocessor System', PACT 2009",
    },
    Cost {
        key: "coherence_transfer",
        cycles: 100.0,
        source: "a line modified in (or invalidated from) another core of the same die, ~100 cycles on top of the LLC lookup: Molka, Hackenberg, Schoene, Nagel, 'Cache Coherence Protocol and Memory Performance of the Intel Haswell-EP Architecture', ICPP 2015 (order of magnitude)",
    },
    Cost {
        key: "cr3_write",
        cycles: 200.0,
        source: "MOV to CR3 is serializing (Intel SDM Vol. 3A, 9.3 'Serializing instructions'); ~200 cycles is the order reported for a CR3 write in the Linux PTI/PCID work (Documentation/x86/pti.rst, 'Overhead'): an estimate",
    },
    Cost {
        key: "tlb_flush",
        cycles: 150.0,
        source: "refilling the lost translations: a page walk that hits the caches costs tens of cycles (Intel Optimization Reference Manual, DTLB miss); ~5 walks per flush assumed: an estimate",
    },
    Cost {
        key: "syscall",
        cycles: 80.0,
        source: "SYSCALL + SYSRET mode switches, direct cost ~ 80 cycles beyond the instructions: Soares and Stumm, 'FlexSC: Flexible System Call Scheduling with Exception-Less System Calls', OSDI 2010 (order of magnitude)",
    },
    Cost {
        key: "ipi",
        cycles: 1000.0,
        source: "sending an IPI (uncacheable ICR write and delivery) costs on the order of a microsecond: Amit, Tai, Wei, 'Don't shoot down TLB shootdowns!', EuroSys 2020 (order of magnitude)",
    },
    Cost {
        key: "interrupt",
        cycles: 700.0,
        source: "interrupt delivery, entry and IRET: several hundred cycles, same source as ipi (EuroSys 2020) (order of magnitude)",
    },
    Cost {
        key: "xsave",
        cycles: 100.0,
        source: "XSAVE/XRSTOR of x87+SSE+AVX state, ~100 cycles each on Skylake: Agner Fog, 'Instruction tables' (Skylake section) (order of magnitude)",
    },
];

/// A cost table.
#[derive(Clone, Debug, PartialEq)]
pub struct CostTable {
    /// The entries, in [`KEYS`] order.
    pub costs: [Cost; 11],
    /// Where the table came from (`default` or the file name).
    pub origin: String,
}

/// Why a cost file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostsError(pub String);

impl fmt::Display for CostsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CostsError {}

impl Default for CostTable {
    fn default() -> Self {
        Self {
            costs: DEFAULT,
            origin: String::from("default"),
        }
    }
}

impl CostTable {
    /// The cost of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<f64> {
        self.costs.iter().find(|c| c.key == key).map(|c| c.cycles)
    }

    /// Modeled cycles of `events`.
    #[must_use]
    pub fn cycles(&self, e: &Events) -> f64 {
        let c = |k| self.get(k).unwrap_or(0.0);
        c("instruction") * e.instructions as f64
            + c("l1d_miss") * e.l1d_misses as f64
            + c("l2_miss") * e.l2_misses as f64
            + c("llc_miss") * e.llc_misses as f64
            + c("coherence_transfer") * e.coherence_transfers as f64
            + c("cr3_write") * e.cr3_writes as f64
            + c("tlb_flush") * e.tlb_flushes as f64
            + c("syscall") * e.syscalls as f64
            + c("ipi") * e.ipis as f64
            + c("interrupt") * e.interrupts as f64
            + c("xsave") * e.xsaves as f64
    }

    /// Parses a cost file (`origin` names it in errors and in the table).
    ///
    /// # Errors
    /// A message with the line number for a malformed line, an unknown or
    /// repeated key, a negative or non-finite cost, or a missing key.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CostsError> {
        let mut costs = DEFAULT;
        let mut seen = [false; 11];
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |what: String| CostsError(format!("{origin}:{}: {what}", n + 1));
            let mut words = line.split_whitespace();
            let (Some(key), Some(value), None) = (words.next(), words.next(), words.next()) else {
                return Err(err(format!("expected `key cycles`, got `{line}`")));
            };
            let Some(i) = KEYS.iter().position(|k| *k == key) else {
                return Err(err(format!(
                    "unknown key `{key}` (keys: {})",
                    KEYS.join(", ")
                )));
            };
            if seen[i] {
                return Err(err(format!("`{key}` given twice")));
            }
            let cycles: f64 = value
                .parse()
                .map_err(|_| err(format!("`{value}` is not a number")))?;
            if !cycles.is_finite() || cycles < 0.0 {
                return Err(err(format!("cost `{value}` must be finite and >= 0")));
            }
            seen[i] = true;
            costs[i].cycles = cycles;
            costs[i].source = "user cost file";
        }
        let missing: Vec<&str> = KEYS
            .iter()
            .zip(seen)
            .filter(|(_, s)| !s)
            .map(|(k, _)| *k)
            .collect();
        if !missing.is_empty() {
            return Err(CostsError(format!(
                "{origin}: missing keys: {} (every key must be given)",
                missing.join(", ")
            )));
        }
        Ok(Self {
            costs,
            origin: origin.to_string(),
        })
    }

    /// The table in the file format, each entry's source as a comment
    /// (parses back to the same costs).
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "# Veridian performance-model cost table ({}): modeled cycles per event.\n\
             # A model, not a measurement. Format: `key cycles`, `#` comments.\n",
            self.origin
        );
        for c in &self.costs {
            out.push_str(&format!("{} {}  # {}\n", c.key, c.cycles, c.source));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_has_every_key_with_a_source() {
        for (c, k) in DEFAULT.iter().zip(KEYS) {
            assert_eq!(c.key, k);
            assert!(!c.source.is_empty());
            assert!(c.cycles >= 0.0);
        }
    }

    #[test]
    fn the_text_form_parses_back() {
        let t = CostTable::default();
        let back = CostTable::parse(&t.to_text(), "x").unwrap();
        for (a, b) in t.costs.iter().zip(back.costs) {
            assert_eq!(a.cycles, b.cycles);
        }
    }

    #[test]
    fn cycles_are_instructions_plus_weighted_events() {
        let t = CostTable::default();
        let e = Events {
            instructions: 100,
            l1d_misses: 2,
            coherence_transfers: 1,
            syscalls: 1,
            ..Events::default()
        };
        assert_eq!(t.cycles(&e), 100.0 + 2.0 * 14.0 + 100.0 + 80.0);
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let good = CostTable::default().to_text();
        let e = CostTable::parse(&format!("{good}\nbogus 3\n"), "f").unwrap_err();
        assert!(e.0.contains("unknown key `bogus`"), "{e}");
        let e = CostTable::parse(&format!("{good}\nipi 3\n"), "f").unwrap_err();
        assert!(e.0.contains("given twice"), "{e}");
        let e = CostTable::parse("ipi -1\n", "f").unwrap_err();
        assert!(e.0.contains("f:1"), "{e}");
        let e = CostTable::parse("ipi x\n", "f").unwrap_err();
        assert!(e.0.contains("not a number"), "{e}");
        let e = CostTable::parse("ipi 1 2\n", "f").unwrap_err();
        assert!(e.0.contains("expected"), "{e}");
        let e = CostTable::parse("ipi 1\n", "f").unwrap_err();
        assert!(e.0.contains("missing keys: instruction"), "{e}");
    }
}
