//! The plugin's output, one line per record, and its parser (the runner's
//! side).
//!
//! ```text
//! @model v1 id=<bench id> ops=<n> cpus=<n> instructions=<n> l1d_misses=<n> ... cpu0.instructions=<n> ...
//! @prof v1 id=<bench id> pc=<hex> instructions=<n> l1d_misses=<n> llc_misses=<n> coherence_transfers=<n>
//! ```
//!
//! `@model`: one measured window (its counts summed over CPUs, and each
//! CPU's instructions). `@prof`: one guest instruction address of a
//! profiled window.

use core::fmt;

use crate::events::Events;

/// One measured window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowReport {
    /// The benchmark's marker id (`perf::marker::bench_id`).
    pub id: u32,
    /// Operations marked in the window.
    pub ops: u64,
    /// Counts over every CPU.
    pub total: Events,
    /// Instructions per CPU, index = CPU.
    pub cpu_instructions: Vec<u64>,
}

/// One instruction address of a profiled window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfileRow {
    /// The benchmark's marker id.
    pub id: u32,
    /// Guest virtual address of the instruction.
    pub pc: u64,
    /// Times it ran in the window.
    pub instructions: u64,
    /// L1D misses of its data accesses.
    pub l1d_misses: u64,
    /// LLC misses of its data accesses.
    pub llc_misses: u64,
    /// Coherence transfers of its data accesses.
    pub coherence_transfers: u64,
}

/// A line that is not a well-formed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportError(pub String);

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}

fn words<'a>(line: &'a str, tag: &str) -> Option<impl Iterator<Item = (&'a str, &'a str)>> {
    let rest = line.trim().strip_prefix(tag)?.strip_prefix(" v1")?;
    Some(
        rest.split_whitespace()
            .map(|w| w.split_once('=').unwrap_or((w, ""))),
    )
}

fn num(key: &str, value: &str) -> Result<u64, ReportError> {
    value
        .parse()
        .map_err(|_| ReportError(format!("`{key}={value}`: not a count")))
}

impl WindowReport {
    /// The record line (no newline).
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "@model v1 id={} ops={} cpus={} {}",
            self.id,
            self.ops,
            self.cpu_instructions.len(),
            self.total.write("")
        );
        for (cpu, n) in self.cpu_instructions.iter().enumerate() {
            s.push_str(&format!(" cpu{cpu}.instructions={n}"));
        }
        s
    }

    /// Parses a `@model` line; `Ok(None)` for any other line.
    ///
    /// # Errors
    /// A `@model v1` line with a malformed or unknown field.
    pub fn parse(line: &str) -> Result<Option<Self>, ReportError> {
        let Some(words) = words(line, "@model") else {
            return Ok(None);
        };
        let mut r = Self::default();
        let mut cpus = 0usize;
        for (key, value) in words {
            match key {
                "id" => r.id = num(key, value)? as u32,
                "ops" => r.ops = num(key, value)?,
                "cpus" => {
                    cpus = num(key, value)? as usize;
                    if cpus > 64 {
                        return Err(ReportError(format!("cpus={cpus}: more than 64")));
                    }
                    r.cpu_instructions = vec![0; cpus];
                }
                _ => {
                    if let Some(cpu) = key
                        .strip_prefix("cpu")
                        .and_then(|k| k.strip_suffix(".instructions"))
                    {
                        let cpu: usize = cpu
                            .parse()
                            .map_err(|_| ReportError(format!("bad key `{key}`")))?;
                        let slot = r
                            .cpu_instructions
                            .get_mut(cpu)
                            .ok_or_else(|| ReportError(format!("`{key}` beyond cpus={cpus}")))?;
                        *slot = num(key, value)?;
                    } else if let Some(slot) = r.total.get_mut(key) {
                        *slot = num(key, value)?;
                    } else {
                        return Err(ReportError(format!("unknown field `{key}`")));
                    }
                }
            }
        }
        Ok(Some(r))
    }
}

impl ProfileRow {
    /// The record line (no newline).
    #[must_use]
    pub fn to_line(&self) -> String {
        format!(
            "@prof v1 id={} pc={:x} instructions={} l1d_misses={} llc_misses={} coherence_transfers={}",
            self.id,
            self.pc,
            self.instructions,
            self.l1d_misses,
            self.llc_misses,
            self.coherence_transfers
        )
    }

    /// Parses a `@prof` line; `Ok(None)` for any other line.
    ///
    /// # Errors
    /// A `@prof v1` line with a malformed or unknown field.
    pub fn parse(line: &str) -> Result<Option<Self>, ReportError> {
        let Some(words) = words(line, "@prof") else {
            return Ok(None);
        };
        let mut r = Self::default();
        for (key, value) in words {
            match key {
                "id" => r.id = num(key, value)? as u32,
                "pc" => {
                    r.pc = u64::from_str_radix(value, 16)
                        .map_err(|_| ReportError(format!("`pc={value}`: not hex")))?;
                }
                "instructions" => r.instructions = num(key, value)?,
                "l1d_misses" => r.l1d_misses = num(key, value)?,
                "llc_misses" => r.llc_misses = num(key, value)?,
                "coherence_transfers" => r.coherence_transfers = num(key, value)?,
                _ => return Err(ReportError(format!("unknown field `{key}`"))),
            }
        }
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_reports_round_trip() {
        let r = WindowReport {
            id: 12345,
            ops: 2000,
            total: Events {
                instructions: 750_000,
                coherence_transfers: 3,
                ..Events::default()
            },
            cpu_instructions: vec![700_000, 50_000],
        };
        assert_eq!(WindowReport::parse(&r.to_line()), Ok(Some(r)));
        assert_eq!(WindowReport::parse("@bench v1 name=x"), Ok(None));
    }

    #[test]
    fn profile_rows_round_trip() {
        let r = ProfileRow {
            id: 1,
            pc: 0xffff_8000_0010_2030,
            instructions: 9,
            l1d_misses: 1,
            llc_misses: 0,
            coherence_transfers: 2,
        };
        assert_eq!(ProfileRow::parse(&r.to_line()), Ok(Some(r)));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            "@model v1 id=x",
            "@model v1 cpus=2 cpu5.instructions=1",
            "@model v1 cpus=999",
            "@model v1 bogus=1",
            "@prof v1 pc=zz",
            "@prof v1 bogus=1",
        ] {
            let r = WindowReport::parse(line)
                .err()
                .or(ProfileRow::parse(line).err());
            assert!(r.is_some(), "{line}");
        }
    }
}
