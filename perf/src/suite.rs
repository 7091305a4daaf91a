//! The benchmark suite's table: every benchmark the kernel can run, in run
//! order, with what it measures. The kernel runs the entries [`selected`] by
//! its `bench=` word; the host runner checks `--suite` against the same
//! table (and `--list` prints it) before it boots anything.
//!
//! A `bench=` value is `quick`, `full` or `all` (every benchmark but the
//! performance model's calibration programs, `model.*`, which run only when
//! a prefix starting with `model` names them), or a comma-separated list of
//! name prefixes (`ipc.call`, `syscall,cap.lookup`).

/// What a benchmark's records measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measures {
    /// Time per operation (`kind=latency`): smaller is better.
    Latency,
    /// Operations per second (`kind=throughput`): bigger is better; one
    /// sample per run, so the host repeats these under noisy accelerators.
    Throughput,
}

/// One entry of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Benchmark {
    /// The benchmark name, as its `@bench` / `@skip` records spell it.
    pub name: &'static str,
    /// Latency or throughput.
    pub measures: Measures,
    /// The entry prints one record per online CPU count, named
    /// `<name>.cpus<N>` for N = 1..=CPUs (a scaling series).
    pub per_cpu_count: bool,
}

const fn latency(name: &'static str) -> Benchmark {
    Benchmark {
        name,
        measures: Measures::Latency,
        per_cpu_count: false,
    }
}

const fn throughput(name: &'static str) -> Benchmark {
    Benchmark {
        name,
        measures: Measures::Throughput,
        per_cpu_count: false,
    }
}

/// The suite, in run order. Names are part of the record contract.
pub const SUITE: &[Benchmark] = &[
    latency("syscall.null"),
    latency("ipc.call.same_cpu"),
    latency("ipc.call.cross_cpu"),
    latency("ipc.call.same_cpu.oneway"),
    latency("ipc.call.same_cpu.cold"),
    latency("ipc.async.latency.cross_cpu"),
    throughput("ipc.async.throughput.cross_cpu.b1"),
    throughput("ipc.async.throughput.cross_cpu.b16"),
    latency("ipc.large.4096"),
    latency("ipc.large.1048576"),
    latency("ipc.large.2097152"),
    latency("ipc.large.16777216"),
    latency("ipc.large.67108864"),
    latency("ipc.shm.transfer.4096"),
    latency("ipc.shm.transfer.1048576"),
    latency("ipc.shm.transfer.2097152"),
    latency("ipc.shm.transfer.16777216"),
    latency("ipc.shm.transfer.67108864"),
    latency("ipc.shm.map.4096"),
    latency("ipc.shm.map.1048576"),
    latency("ipc.shm.map.2097152"),
    latency("ipc.shm.map.16777216"),
    latency("ipc.shm.map.67108864"),
    latency("cap.lookup.16"),
    latency("cap.lookup.65536"),
    latency("sched.pi.with_pi"),
    latency("sched.pi.without_pi"),
    throughput("stress.procs.1024"),
    Benchmark {
        name: "scale.call",
        measures: Measures::Throughput,
        per_cpu_count: true,
    },
    latency("model.calib.l1"),
    latency("model.calib.stride"),
    latency("model.calib.pingpong"),
    latency("model.calib.same_cpu"),
];

/// Names of the benchmarks that run only when a prefix starting with
/// `model` asks for them (the performance model's calibration programs).
const ON_REQUEST: &str = "model";

/// The most CPUs the kernel brings up (the size of its per-CPU tables); a
/// machine with more runs only this many.
pub const MAX_CPUS: u32 = 64;

/// The words that select every benchmark.
pub const ALL_WORDS: [&str; 3] = ["quick", "full", "all"];

/// Whether `bench=<suite>` runs the benchmark called `name`.
#[must_use]
pub fn selected(suite: &str, name: &str) -> bool {
    let on_request = name.starts_with(ON_REQUEST);
    (ALL_WORDS.contains(&suite) && !on_request)
        || suite.split(',').map(str::trim).any(|prefix| {
            !prefix.is_empty()
                && name.starts_with(prefix)
                && (!on_request || prefix.starts_with(ON_REQUEST))
        })
}

/// The first prefix of a comma-separated `suite` that selects no benchmark,
/// or `None` when every prefix selects at least one (an empty suite or an
/// empty prefix selects none).
#[must_use]
pub fn first_unmatched(suite: &str) -> Option<&str> {
    if ALL_WORDS.contains(&suite) {
        return None;
    }
    suite
        .split(',')
        .map(str::trim)
        .find(|prefix| prefix.is_empty() || !SUITE.iter().any(|b| b.name.starts_with(prefix)))
}

/// The benchmark whose records include `record_name` (a name of the table,
/// or `<name>.cpus<N>` of a scaling entry).
#[must_use]
pub fn entry_of(record_name: &str) -> Option<&'static Benchmark> {
    SUITE.iter().find(|b| {
        b.name == record_name
            || (b.per_cpu_count
                && record_name
                    .strip_prefix(b.name)
                    .and_then(|rest| rest.strip_prefix(".cpus"))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_no_name_shadows_a_later_one() {
        for (i, a) in SUITE.iter().enumerate() {
            for b in &SUITE[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn suite_words_and_prefix_lists_select() {
        assert!(selected("quick", "scale.call"));
        assert!(selected("full", "syscall.null"));
        assert!(!selected("quick", "model.calib.l1"));
        assert!(!selected("all", "model.calib.l1"));
        assert!(selected("model.calib", "model.calib.l1"));
        assert!(selected("model", "model.calib.stride"));
        assert!(selected("ipc.call", "ipc.call.same_cpu"));
        assert!(!selected("ipc.call", "ipc.async.latency.cross_cpu"));
        assert!(selected("syscall, cap.lookup.16", "cap.lookup.16"));
        assert!(selected("syscall,cap.lookup.16", "syscall.null"));
        assert!(!selected("syscall,", "cap.lookup.16"));
        assert!(!selected("", "syscall.null"));
    }

    #[test]
    fn unmatched_prefixes_are_named() {
        assert_eq!(first_unmatched("quick"), None);
        assert_eq!(first_unmatched("ipc.call"), None);
        assert_eq!(first_unmatched("ipc.call,nosuch"), Some("nosuch"));
        assert_eq!(first_unmatched("nosuch"), Some("nosuch"));
        assert_eq!(first_unmatched(""), Some(""));
        assert_eq!(first_unmatched("syscall,,cap"), Some(""));
        // A record name of a scaling series is not a table prefix: the
        // kernel selects by entry.
        assert_eq!(
            first_unmatched("scale.call.cpus2"),
            Some("scale.call.cpus2")
        );
    }

    #[test]
    fn scaling_records_map_to_their_entry() {
        assert_eq!(
            entry_of("scale.call.cpus12").map(|b| b.name),
            Some("scale.call")
        );
        assert_eq!(entry_of("scale.call").map(|b| b.name), Some("scale.call"));
        assert!(entry_of("scale.call.cpus").is_none());
        assert!(entry_of("scale.call.cpusx").is_none());
        assert!(entry_of("syscall.null.cpus2").is_none());
        assert_eq!(
            entry_of("stress.procs.1024").map(|b| b.measures),
            Some(Measures::Throughput)
        );
    }
}
