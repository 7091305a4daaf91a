//! The events the plugin counts, and their text form.
//!
//! A window's report is one line of `key=value` words (see [`Events::write`]
//! and [`Events::parse_field`]): the plugin writes it, the runner reads it.

/// Counts of modeled events (over a window, or one CPU's share of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Instructions retired (markers excluded).
    pub instructions: u64,
    /// Data accesses that missed the CPU's L1D.
    pub l1d_misses: u64,
    /// ... and its L2.
    pub l2_misses: u64,
    /// ... and the shared last-level cache (went to memory). Accesses served
    /// by another CPU's cache (a coherence transfer) are not LLC misses.
    pub llc_misses: u64,
    /// Lines moved or invalidated between CPUs: a read of a line another
    /// CPU modified, or a write to a line another CPU holds.
    pub coherence_transfers: u64,
    /// `mov cr3` executed (address-space switches).
    pub cr3_writes: u64,
    /// TLB flushes: `invlpg`, `invpcid`, and `mov cr3` without the PCID
    /// no-flush bit.
    pub tlb_flushes: u64,
    /// `syscall` instructions.
    pub syscalls: u64,
    /// IPIs sent: stores to the local APIC's interrupt command register
    /// (xAPIC MMIO at offset 0x300; x2APIC `wrmsr` to 0x830 when the MSR
    /// number is an immediate the plugin saw: see the plugin's docs).
    pub ipis: u64,
    /// Interrupts and exceptions returned from (`iretq`).
    pub interrupts: u64,
    /// Extended-state saves and restores (`xsave*`, `xrstor*`, `fxsave`,
    /// `fxrstor`).
    pub xsaves: u64,
}

/// The field names, in report order; [`Events::get`] and
/// [`Events::get_mut`] follow it.
pub const FIELDS: [&str; 11] = [
    "instructions",
    "l1d_misses",
    "l2_misses",
    "llc_misses",
    "coherence_transfers",
    "cr3_writes",
    "tlb_flushes",
    "syscalls",
    "ipis",
    "interrupts",
    "xsaves",
];

impl Events {
    /// The count named `field` (one of [`FIELDS`]).
    #[must_use]
    pub fn get(&self, field: &str) -> Option<u64> {
        let e = self;
        Some(match field {
            "instructions" => e.instructions,
            "l1d_misses" => e.l1d_misses,
            "l2_misses" => e.l2_misses,
            "llc_misses" => e.llc_misses,
            "coherence_transfers" => e.coherence_transfers,
            "cr3_writes" => e.cr3_writes,
            "tlb_flushes" => e.tlb_flushes,
            "syscalls" => e.syscalls,
            "ipis" => e.ipis,
            "interrupts" => e.interrupts,
            "xsaves" => e.xsaves,
            _ => return None,
        })
    }

    /// The counter named `field`, to set.
    pub fn get_mut(&mut self, field: &str) -> Option<&mut u64> {
        let e = self;
        Some(match field {
            "instructions" => &mut e.instructions,
            "l1d_misses" => &mut e.l1d_misses,
            "l2_misses" => &mut e.l2_misses,
            "llc_misses" => &mut e.llc_misses,
            "coherence_transfers" => &mut e.coherence_transfers,
            "cr3_writes" => &mut e.cr3_writes,
            "tlb_flushes" => &mut e.tlb_flushes,
            "syscalls" => &mut e.syscalls,
            "ipis" => &mut e.ipis,
            "interrupts" => &mut e.interrupts,
            "xsaves" => &mut e.xsaves,
            _ => return None,
        })
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Events) {
        for f in FIELDS {
            if let (Some(a), Some(b)) = (self.get_mut(f), other.get(f)) {
                *a += b;
            }
        }
    }

    /// `key=value` words for every field, each key prefixed by `prefix`.
    #[must_use]
    pub fn write(&self, prefix: &str) -> String {
        let mut out = String::new();
        for f in FIELDS {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format!("{prefix}{f}={}", self.get(f).unwrap_or(0)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_named_once_and_reachable() {
        let mut e = Events::default();
        for (i, f) in FIELDS.iter().enumerate() {
            *e.get_mut(f).unwrap() = i as u64 + 1;
        }
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(e.get(f), Some(i as u64 + 1));
        }
        assert_eq!(e.get("nope"), None);
        let mut sum = e;
        sum.add(&e);
        assert_eq!(sum.xsaves, 2 * e.xsaves);
        assert!(e.write("x.").starts_with("x.instructions=1 x.l1d_misses=2"));
    }
}
