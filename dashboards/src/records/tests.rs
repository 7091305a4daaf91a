//! Parser tests: every record kind, percent escapes, console noise around
//! records, and each kind of damage a serial line can suffer.

use hdrhistogram::Histogram;
use proptest::prelude::*;

use super::*;
use crate::hdr::encode_histogram;

const BENCH: &str = "@bench v1 name=ipc.call unit=cycles kind=latency count=1000 min=80 \
                     p50=100 p90=120 p99=300 p999=900 max=1200 mean=110.5";

fn parse_ok(line: &str) -> Record {
    match parse_line(line) {
        Some(Ok(record)) => record,
        other => panic!("expected a record from {line:?}, got {other:?}"),
    }
}

fn parse_err(line: &str) -> ParseError {
    match parse_line(line) {
        Some(Err(error)) => error,
        other => panic!("expected an error from {line:?}, got {other:?}"),
    }
}

fn sample_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for value in [100, 100, 150, 2000] {
        histogram.record(value).unwrap();
    }
    histogram
}

#[test]
fn plain_console_output_is_not_a_record() {
    assert!(parse_line("").is_none());
    assert!(parse_line("[0.01] smp: 4 CPUs online").is_none());
    assert!(parse_line("mail root@host.example v1 now").is_none());
    assert!(parse_line("@Bench v1 name=x").is_none());
    assert!(parse_line("@bench 1 name=x").is_none());
}

#[test]
fn bench_record_reads_every_statistic_and_pmu_event() {
    let line = format!("{BENCH} pmu.instructions=312.5 pmu.llc_misses=0.25");
    let Record::Bench(bench) = parse_ok(&line) else {
        panic!("not a bench record")
    };
    assert_eq!(bench.name, "ipc.call");
    assert_eq!(bench.unit, Unit::Cycles);
    assert_eq!(bench.kind, BenchKind::Latency);
    assert_eq!(bench.count, 1000);
    assert_eq!(
        [
            bench.min, bench.p50, bench.p90, bench.p99, bench.p999, bench.max
        ],
        [80.0, 100.0, 120.0, 300.0, 900.0, 1200.0]
    );
    assert_eq!(bench.mean, 110.5);
    let pmu = bench.pmu.unwrap();
    assert_eq!(pmu.get("instructions"), Some(&312.5));
    assert_eq!(pmu.get("llc_misses"), Some(&0.25));
}

#[test]
fn bench_record_reads_model_fields_apart_from_pmu_events() {
    let line =
        format!("{BENCH} pmu.instructions=312.5 model.instructions=380 model.instructions.cpu1=0");
    let Some(Ok(Record::Bench(bench))) = parse_line(&line) else {
        panic!("not a bench record: {line}");
    };
    let model = bench.model.unwrap();
    assert_eq!(model.get("instructions"), Some(&380.0));
    assert_eq!(model.get("instructions.cpu1"), Some(&0.0));
    assert_eq!(bench.pmu.unwrap().len(), 1);
    let bad = format!("{BENCH} model.cycles=nan");
    assert!(matches!(parse_line(&bad), Some(Err(_))));
}

#[test]
fn bench_without_pmu_has_none() {
    let Record::Bench(bench) = parse_ok(BENCH) else {
        panic!("not a bench record")
    };
    assert_eq!(bench.pmu, None);
}

#[test]
fn record_after_console_garbage_on_the_same_line() {
    let line = format!("panicked at kernel/src/x.rs:1 @ cpu3 v0x{BENCH}");
    assert!(matches!(parse_ok(&line), Record::Bench(_)));
    let line = format!("\u{1b}[0m[  1.5] {BENCH}\r");
    let Record::Bench(bench) = parse_ok(&line) else {
        panic!("not a bench record")
    };
    assert_eq!(bench.mean, 110.5);
}

#[test]
fn values_are_percent_decoded_and_extra_meta_keys_kept() {
    let line = "@meta v1 accel=tcg cpu_model=QEMU%20Virtual%20CPU%3D2.5%25 rev=0123 x_custom=yes";
    let Record::Meta(fields) = parse_ok(line) else {
        panic!("not a meta record")
    };
    assert_eq!(fields.get("cpu_model"), Some("QEMU Virtual CPU=2.5%"));
    assert_eq!(fields.get("rev"), Some("0123"));
    assert_eq!(fields.get("x_custom"), Some("yes"));
    assert_eq!(fields.len(), 4);
    let keys: Vec<&str> = fields.iter().map(|(key, _)| key).collect();
    assert_eq!(keys, ["accel", "cpu_model", "rev", "x_custom"]);
}

#[test]
fn other_record_kinds() {
    let Record::Progress(progress) = parse_ok("@progress v1 name=a.b done=5 total=10") else {
        panic!("not progress")
    };
    assert_eq!(
        (progress.name.as_str(), progress.done, progress.total),
        ("a.b", 5, 10)
    );
    let Record::Skip(skip) = parse_ok("@skip v1 name=numa reason=one%20node") else {
        panic!("not skip")
    };
    assert_eq!(skip.reason, "one node");
    let Record::Done(done) = parse_ok("@done v1 benches=3 skipped=1") else {
        panic!("not done")
    };
    assert_eq!((done.benches, done.skipped), (3, 1));
    let Record::Boot(boot) = parse_ok("@boot v1 boot=pvh cpus=4 extra=1") else {
        panic!("not boot")
    };
    assert_eq!(boot.get("boot"), Some("pvh"));
}

#[test]
fn audit_and_unknown_kinds_are_ignored_whatever_their_version() {
    for line in [
        "@audit v1 op=grant cap=3",
        "@future v7 x=1",
        "@audit v2 garbage",
    ] {
        assert!(matches!(parse_ok(line), Record::Ignored { .. }), "{line}");
    }
}

#[test]
fn unknown_version_of_a_known_kind_is_an_error() {
    let line = BENCH.replace("v1", "v2");
    assert_eq!(
        parse_err(&line),
        ParseError::UnsupportedVersion {
            kind: "bench".into(),
            version: "2".into()
        }
    );
    let huge = parse_err("@done v99999999999999999999 benches=1 skipped=0");
    assert!(matches!(huge, ParseError::UnsupportedVersion { .. }));
}

#[test]
fn truncated_lines_are_errors() {
    let cut = &BENCH[..BENCH.find(" p99").unwrap()];
    assert_eq!(parse_err(cut), ParseError::MissingKey("p99".into()));
    assert!(matches!(
        parse_err("@bench v1 name=ipc.call unit=cyc"),
        ParseError::UnknownValue { .. }
    ));
    assert!(matches!(parse_err("@done v1"), ParseError::MissingKey(_)));
    let mid_key = format!("{} p9", &BENCH[..BENCH.find(" p99").unwrap()]);
    assert_eq!(parse_err(&mid_key), ParseError::MalformedField("p9".into()));
}

#[test]
fn output_interleaved_into_a_record_is_an_error() {
    let line = BENCH.replace(" p99=", " panicked at 'oops' p99=");
    assert_eq!(
        parse_err(&line),
        ParseError::MalformedField("panicked".into())
    );
}

#[test]
fn non_numeric_and_non_finite_fields_are_errors() {
    for bad in ["abc", "NaN", "inf", "1e999"] {
        let line = BENCH.replace("p50=100", &format!("p50={bad}"));
        assert_eq!(
            parse_err(&line),
            ParseError::InvalidNumber {
                key: "p50".into(),
                value: bad.into()
            }
        );
    }
    let line = BENCH.replace("count=1000", "count=-1");
    assert!(matches!(parse_err(&line), ParseError::InvalidNumber { .. }));
}

#[test]
fn duplicate_keys_are_errors() {
    let line = format!("{BENCH} p50=3");
    assert_eq!(parse_err(&line), ParseError::DuplicateKey("p50".into()));
}

#[test]
fn hist_record_decodes_the_histogram() {
    let histogram = sample_histogram();
    let payload = encode_histogram(&histogram).unwrap();
    let line = format!("noise @hist v1 name=ipc.call Tag=ipc.call,1.250,0.500,2000.0,{payload}");
    let Record::Hist(hist) = parse_ok(&line) else {
        panic!("not a hist record")
    };
    assert_eq!(hist.name, "ipc.call");
    assert_eq!(hist.tag, "ipc.call");
    assert_eq!(hist.start, Duration::from_millis(1250));
    assert_eq!(hist.interval, Duration::from_millis(500));
    assert_eq!(hist.max, 2000.0);
    assert_eq!(hist.histogram, histogram);
}

#[test]
fn hist_payload_with_escaped_or_missing_padding_decodes() {
    let histogram = sample_histogram();
    let payload = encode_histogram(&histogram).unwrap();
    let escaped = payload.replace('=', "%3D");
    let unpadded = payload.trim_end_matches('=');
    for body in [escaped.as_str(), unpadded] {
        let line = format!("@hist v1 name=a Tag=a,0.0,1.0,2000.0,{body}");
        let Record::Hist(hist) = parse_ok(&line) else {
            panic!("not a hist record")
        };
        assert_eq!(hist.histogram.len(), 4);
    }
}

#[test]
fn corrupted_hist_lines_are_errors() {
    let payload = encode_histogram(&sample_histogram()).unwrap();
    let corrupt_base64 = format!("@hist v1 name=a Tag=a,0.0,1.0,2.0,{}!!", &payload[..20]);
    assert!(
        matches!(parse_err(&corrupt_base64), ParseError::BadHistogram(m) if m.contains("base64"))
    );
    let truncated = format!(
        "@hist v1 name=a Tag=a,0.0,1.0,2.0,{}",
        &payload[..payload.len() / 2]
    );
    assert!(matches!(parse_err(&truncated), ParseError::BadHistogram(_)));
    let not_a_histogram = "@hist v1 name=a Tag=a,0.0,1.0,2.0,aGVsbG8gd29ybGQ=";
    assert!(matches!(
        parse_err(not_a_histogram),
        ParseError::BadHistogram(_)
    ));
    let missing_parts = "@hist v1 name=a Tag=a,0.0,1.0";
    assert!(matches!(
        parse_err(missing_parts),
        ParseError::BadHistogram(_)
    ));
    let negative_time = format!("@hist v1 name=a Tag=a,-1.0,1.0,2.0,{payload}");
    assert!(matches!(
        parse_err(&negative_time),
        ParseError::InvalidNumber { .. }
    ));
}

#[test]
fn test_runner_lines() {
    let Record::Test(ok) = parse_ok("test ipc::cap::lookup ... ok") else {
        panic!("not a test line")
    };
    assert_eq!((ok.name.as_str(), ok.failure), ("ipc::cap::lookup", None));
    let Record::Test(failed) = parse_ok("test sched::pi ... FAILED: prio 3 != 5") else {
        panic!("not a test line")
    };
    assert_eq!(failed.failure.as_deref(), Some("prio 3 != 5"));
    let Record::Test(bare) = parse_ok("test x ... FAILED") else {
        panic!("not a test line")
    };
    assert_eq!(bare.failure.as_deref(), Some(""));
    for (line, passed, failed) in [
        ("12 passed, 1 failed", 12, 1),
        ("kernel: 3 passed, 0 failed", 3, 0),
        ("3 passed, 0 failed, 2 skipped", 3, 0),
    ] {
        let Record::TestTotals(totals) = parse_ok(line) else {
            panic!("not totals: {line}")
        };
        assert_eq!((totals.passed, totals.failed), (passed, failed));
    }
    assert!(parse_line("test result: ok. 5 passed; 0 failed").is_none());
    assert!(parse_line("test x ... ignored").is_none());
    assert!(parse_line("x passed, y failed").is_none());
}

/// Valid lines to damage in the property tests.
fn valid_lines() -> Vec<String> {
    let payload = encode_histogram(&sample_histogram()).unwrap();
    vec![
        BENCH.to_owned(),
        format!("@hist v1 name=a Tag=a,0.0,1.0,2000.0,{payload}"),
        "@meta v1 accel=kvm cpu_model=A%20B".to_owned(),
        "@done v1 benches=1 skipped=0".to_owned(),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = parse_line(&line);
    }

    #[test]
    fn random_bodies_after_a_header_never_panic(
        kind in prop::sample::select(vec!["bench", "hist", "meta", "progress", "skip", "done"]),
        body in "[ -~]{0,200}",
    ) {
        let _ = parse_line(&format!("@{kind} v1 {body}"));
    }

    #[test]
    fn damaged_valid_lines_never_panic(
        which in 0..4_usize,
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let lines = valid_lines();
        let mut bytes = lines[which].clone().into_bytes();
        for (position, byte) in flips {
            let index = position.index(bytes.len());
            bytes[index] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let line = String::from_utf8_lossy(&bytes);
        let _ = parse_line(&line);
    }
}
