//! The serial records checked as text: exact lines for each record kind,
//! the escaping rules, refusal of bad names and non-finite numbers, and the
//! `@hist` payload read back by the `hdrhistogram` crate.

use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use perf::Histogram;
use perf::pmu::PmuInfo;
use perf::record::{
    Accel, BenchKind, BenchResult, Done, Escaped, Hist, Meta, Profile, Progress, RecordError, Skip,
    Switches, Unit,
};
use perf::tsc::TscSource;
use proptest::prelude::*;

/// Reverses the documented escaping (what the dashboards parser does).
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn meta() -> Meta<'static> {
    Meta {
        accel: Accel::Kvm,
        cpu_vendor: "GenuineIntel",
        cpu_model: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
        family: 6,
        model: 85,
        stepping: 4,
        tsc_mhz: 2_095.078_1,
        tsc_source: TscSource::Cpuid15,
        tsc_invariant: true,
        tsc_overhead: 24,
        pmu: PmuInfo::from_intel_cpuid_0ah(0x0730_0404, 0, 0x0603),
        cpus: 4,
        nodes: 2,
        rev: "3f2a9c1-dirty",
        profile: Profile::Release,
        switches: Switches {
            ipc_fastpath: true,
            pi: true,
            pcid: false,
        },
    }
}

#[test]
fn meta_line() {
    let mut out = String::new();
    meta().write_to(&mut out).expect("valid");
    assert_eq!(
        out,
        "@meta v1 accel=kvm cpu_vendor=GenuineIntel \
         cpu_model=Intel(R)%20Xeon(R)%20Gold%206130%20CPU%20@%202.10GHz family=6 model=85 \
         stepping=4 tsc_mhz=2095.078 tsc_src=cpuid15 tsc_invariant=1 tsc_overhead=24 \
         pmu=intel-v4 cpus=4 nodes=2 rev=3f2a9c1-dirty profile=release ipc_fastpath=on \
         pi=on pcid=off\n"
    );
    let mut out = String::new();
    let tcg = Meta {
        accel: Accel::Icount,
        pmu: PmuInfo::None,
        tsc_invariant: false,
        profile: Profile::Debug,
        ..meta()
    };
    tcg.write_to(&mut out).expect("valid");
    assert!(out.contains(" accel=icount "));
    assert!(out.contains(" tsc_invariant=0 "));
    assert!(out.contains(" pmu=none "));
    assert!(out.contains(" profile=debug "));
    assert!(out.ends_with(" ipc_fastpath=on pi=on pcid=off\n"));
    let mut out = String::new();
    Meta {
        accel: Accel::Bochs,
        ..meta()
    }
    .write_to(&mut out)
    .expect("valid");
    assert!(out.starts_with("@meta v1 accel=bochs "));
    let mut out = String::new();
    assert_eq!(
        Meta {
            tsc_mhz: f64::NAN,
            ..meta()
        }
        .write_to(&mut out),
        Err(RecordError::NonFinite)
    );
    assert!(out.is_empty());
}

#[test]
fn accel_tokens_read_back() {
    for accel in Accel::ALL {
        assert_eq!(Accel::from_token(accel.as_str()), Some(accel));
    }
    assert_eq!(Accel::from_token("bochs"), Some(Accel::Bochs));
    assert_eq!(Accel::from_token("qemu"), None);
    assert_eq!(Accel::from_token(""), None);
    assert_eq!(Accel::from_token("TCG"), None);
}

#[test]
fn bench_line_from_a_histogram() {
    let mut histogram = Box::new(Histogram::new());
    // 1024 samples: every term of the mean is exact in binary.
    for value in 1..=1024 {
        histogram.record(value);
    }
    let result = BenchResult::from_histogram("ipc.call.same_cpu", Unit::Cycles, &histogram);
    assert_eq!(result.kind, BenchKind::Latency);
    let mut out = String::new();
    let mut line = result.begin(&mut out).expect("valid");
    line.pmu("llc_misses", 0.25)
        .expect("valid")
        .pmu("branch_misses", 3.0)
        .expect("valid");
    line.finish().expect("String");
    assert_eq!(
        out,
        "@bench v1 name=ipc.call.same_cpu unit=cycles kind=latency count=1024 min=1 p50=512 \
         p90=922 p99=1014 p999=1023 max=1024 mean=512.5 pmu.llc_misses=0.25 pmu.branch_misses=3\n"
    );
}

#[test]
fn bench_line_for_throughput() {
    let result = BenchResult {
        name: "ipc.channel.cross_node",
        unit: Unit::MsgsPerS,
        kind: BenchKind::Throughput,
        count: 5,
        min: 1.5e6,
        p50: 2_000_000.0,
        p90: 2_100_000.0,
        p99: 2_150_000.0,
        p999: 2_150_000.0,
        max: 2_150_000.0,
        mean: 1_950_000.125,
    };
    let mut out = String::new();
    result.write_to(&mut out).expect("valid");
    assert_eq!(
        out,
        "@bench v1 name=ipc.channel.cross_node unit=msgs_per_s kind=throughput count=5 \
         min=1500000 p50=2000000 p90=2100000 p99=2150000 p999=2150000 max=2150000 \
         mean=1950000.125\n"
    );
    // The operations the rate was measured over follow any PMU field.
    let mut out = String::new();
    let mut line = result.begin(&mut out).expect("valid");
    line.pmu("instructions", 310.5)
        .expect("valid")
        .ops(200_000)
        .expect("String");
    line.finish().expect("String");
    assert!(out.ends_with(" mean=1950000.125 pmu.instructions=310.5 ops=200000\n"));
}

#[test]
fn bench_refuses_bad_names_and_non_finite_values_without_writing() {
    let histogram = Histogram::new();
    let valid = BenchResult::from_histogram("a.b", Unit::Ns, &histogram);
    for name in ["", "a b", "a=b", "caf\u{e9}", "a,b"] {
        let mut out = String::new();
        let result = BenchResult { name, ..valid };
        assert_eq!(
            result.write_to(&mut out).err(),
            Some(RecordError::InvalidName)
        );
        assert!(out.is_empty());
    }
    let mut out = String::new();
    let result = BenchResult {
        p99: f64::INFINITY,
        ..valid
    };
    assert_eq!(
        result.write_to(&mut out).err(),
        Some(RecordError::NonFinite)
    );
    assert!(out.is_empty());
    // A bad PMU field is refused but the line can still be finished.
    let mut line = valid.begin(&mut out).expect("valid");
    assert_eq!(
        line.pmu("bad event", 1.0).err(),
        Some(RecordError::InvalidName)
    );
    assert_eq!(line.pmu("ok", f64::NAN).err(), Some(RecordError::NonFinite));
    line.finish().expect("String");
    assert!(out.ends_with(" mean=0\n"), "{out}");
}

#[test]
fn hist_line_carries_a_standard_interval_log_line() {
    let mut histogram = Box::new(Histogram::new());
    histogram.record_n(250, 10);
    histogram.record(9_000);
    let hist = Hist {
        name: "ipc.call.same_cpu",
        histogram: &histogram,
        start: Duration::from_millis(1_500),
        interval: Duration::from_millis(250),
    };
    let mut out = String::new();
    hist.write_to(&mut out).expect("valid");
    let prefix = "@hist v1 name=ipc.call.same_cpu ";
    assert!(
        out.starts_with(
            "@hist v1 name=ipc.call.same_cpu Tag=ipc.call.same_cpu,1.500,0.250,9007.000,"
        ),
        "{out}"
    );
    assert!(out.ends_with('\n'));
    assert_eq!(out.matches('\n').count(), 1, "one line");
    assert_eq!(out.matches(' ').count(), 3, "spaces only between fields");
    let interval_line = &out[prefix.len()..];
    let entries: Vec<_> = IntervalLogIterator::new(interval_line.as_bytes())
        .collect::<Result<_, _>>()
        .expect("parses");
    let [LogEntry::Interval(interval)] = entries.as_slice() else {
        panic!("{entries:?}")
    };
    assert_eq!(
        interval.tag().map(|t| t.as_str()),
        Some("ipc.call.same_cpu")
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(interval.encoded_histogram())
        .expect("base64");
    let decoded: hdrhistogram::Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("decodes");
    assert_eq!(decoded.len(), 11);
    assert_eq!(decoded.count_at(250), 10);
    let mut out = String::new();
    assert_eq!(
        Hist {
            name: "a b",
            ..hist
        }
        .write_to(&mut out),
        Err(RecordError::InvalidName)
    );
    assert!(out.is_empty());
}

#[test]
fn progress_skip_and_done_lines() {
    let mut out = String::new();
    Progress {
        name: "ipc.call.same_cpu",
        done: 5_000,
        total: 100_000,
    }
    .write_to(&mut out)
    .expect("valid");
    Skip {
        name: "pmu.llc",
        reason: "no PMU: CPUID.0Ah=0 (TCG) 100%",
    }
    .write_to(&mut out)
    .expect("valid");
    Done {
        benches: 12,
        skipped: 1,
    }
    .write_to(&mut out)
    .expect("String");
    assert_eq!(
        out,
        "@progress v1 name=ipc.call.same_cpu done=5000 total=100000\n\
         @skip v1 name=pmu.llc reason=no%20PMU:%20CPUID.0Ah%3D0%20(TCG)%20100%25\n\
         @done v1 benches=12 skipped=1\n"
    );
    assert_eq!(
        Skip {
            name: "",
            reason: "x"
        }
        .write_to(&mut String::new()),
        Err(RecordError::InvalidName)
    );
}

#[test]
fn escaping_rules() {
    assert_eq!(Escaped("a b=c%d").to_string(), "a%20b%3Dc%25d");
    assert_eq!(
        Escaped("tab\there\r\n\u{7f}").to_string(),
        "tab%09here%0D%0A%7F"
    );
    assert_eq!(
        Escaped("caf\u{e9} \u{1f600}").to_string(),
        "caf%C3%A9%20%F0%9F%98%80"
    );
    assert_eq!(Escaped("").to_string(), "");
    assert_eq!(Escaped("\"quoted\"@(x)").to_string(), "\"quoted\"@(x)");
}

proptest! {
    #[test]
    fn escaping_round_trips_and_never_leaves_separators(text in any::<String>()) {
        let escaped = Escaped(&text).to_string();
        prop_assert!(escaped.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'='));
        prop_assert_eq!(unescape(&escaped), text.as_bytes());
    }
}
