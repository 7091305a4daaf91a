//! Round trips through the `hdrhistogram` crate's own readers: our V2 bytes
//! equal its `V2Serializer`'s, our compressed V2 + base64 decodes with its
//! `Deserializer` to identical counts, and our interval-log lines and header
//! parse with its `IntervalLogIterator`.

use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram as Reference;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry, Tag};
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use perf::Histogram;
use perf::encode::{self, EncodeError, IntervalLogLine, interval_log};
use perf::histogram::HIGHEST_TRACKABLE_VALUE;
use proptest::prelude::*;

fn histogram_from(samples: &[(u64, u64)]) -> (Box<Histogram>, Reference<u64>) {
    let mut mine = Box::new(Histogram::new());
    let mut theirs = Reference::new_with_bounds(1, HIGHEST_TRACKABLE_VALUE, 3).expect("bounds");
    for &(value, count) in samples {
        mine.record_n(value, count);
        theirs.record_n(value, count).expect("in range");
    }
    (mine, theirs)
}

fn samples() -> impl Strategy<Value = Vec<(u64, u64)>> {
    let value = (0_u32..=36).prop_flat_map(|bits| 0..=(1_u64 << bits).min(HIGHEST_TRACKABLE_VALUE));
    let count = prop_oneof![1_u64..10, 1_u64..=(i64::MAX as u64 / 1_000)];
    prop::collection::vec((value, count), 0..300)
}

fn assert_identical(mine: &Histogram, decoded: &Reference<u64>) -> Result<(), TestCaseError> {
    prop_assert_eq!(decoded.len(), mine.len());
    prop_assert_eq!(decoded.max(), mine.max());
    prop_assert_eq!(decoded.min(), mine.min());
    for bucket in mine.buckets() {
        prop_assert_eq!(decoded.count_at(bucket.lowest), bucket.count);
    }
    prop_assert_eq!(decoded.iter_recorded().count(), mine.buckets().count());
    Ok(())
}

fn base64_compressed(histogram: &Histogram) -> String {
    let mut text = String::new();
    encode::write_base64_compressed_v2(histogram, &mut text).expect("encodable");
    text
}

proptest! {
    #[test]
    fn v2_bytes_equal_the_reference_serializer(samples in samples()) {
        let (mine, theirs) = histogram_from(&samples);
        let mut expected = Vec::new();
        V2Serializer::new().serialize(&theirs, &mut expected).expect("serializable");
        let mut buf = vec![0_u8; encode::v2_len(&mine).expect("encodable")];
        let len = encode::encode_v2(&mine, &mut buf).expect("exact size fits");
        prop_assert_eq!(&buf[..len], &expected[..]);
    }

    #[test]
    fn compressed_base64_decodes_to_identical_counts(samples in samples()) {
        let (mine, _) = histogram_from(&samples);
        let text = base64_compressed(&mine);
        let bytes = base64::engine::general_purpose::STANDARD.decode(&text).expect("valid base64");
        // Same bytes as the buffer encoder, and as long as announced.
        let mut buf = vec![0_u8; encode::compressed_v2_len(&mine).expect("encodable")];
        let len = encode::encode_compressed_v2(&mine, &mut buf).expect("exact size fits");
        prop_assert_eq!(len, buf.len());
        prop_assert_eq!(&bytes, &buf);
        let decoded: Reference<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .expect("the crate reads our encoding");
        assert_identical(&mine, &decoded)?;
    }

    #[test]
    fn base64_matches_the_base64_crate(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        use perf::encode::ByteSink as _;
        let mut text = String::new();
        let mut writer = encode::Base64Writer::new(&mut text);
        for piece in bytes.chunks(7) {
            writer.write_bytes(piece).expect("String");
        }
        writer.finish().expect("String");
        prop_assert_eq!(text, base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
}

#[test]
fn large_histogram_spans_several_stored_blocks() {
    // A count in every slot: 27 648 varints of up to 9 bytes is more than one
    // 64 KiB stored block.
    let mut mine = Box::new(Histogram::new());
    for index in 0..perf::histogram::COUNTS_LEN {
        mine.record_n(perf::histogram::layout::value_from_index(index), 1 << 50);
    }
    assert!(encode::v2_len(&mine).expect("encodable") > 65_535 * 3);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_compressed(&mine))
        .expect("valid base64");
    let decoded: Reference<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("the crate reads our encoding");
    assert_eq!(decoded.len(), mine.len());
    assert_eq!(decoded.count_at(HIGHEST_TRACKABLE_VALUE), 1 << 50);
}

#[test]
fn interval_log_line_parses_with_interval_log_iterator() {
    let (mine, _) = histogram_from(&[(120, 1000), (4_500, 30), (1 << 30, 1)]);
    let mut log = String::new();
    interval_log::write_comment(&mut log, "Veridian bench\nsecond line").expect("String");
    interval_log::write_start_time(&mut log, Duration::from_millis(1_700_000_000_123))
        .expect("String");
    interval_log::write_base_time(&mut log, Duration::from_secs(1_700_000_000)).expect("String");
    interval_log::write_legend(&mut log).expect("String");
    let line = IntervalLogLine::tagged(
        "ipc.call.same_cpu",
        Duration::new(12, 345_678_901),
        Duration::from_micros(2_500_600),
    );
    encode::write_interval_log_line(&mut log, &mine, &line).expect("encodable");
    log.push('\n');
    let untagged = IntervalLogLine { tag: None, ..line };
    encode::write_interval_log_line(&mut log, &mine, &untagged).expect("encodable");
    log.push('\n');

    let expected_max = format!("{:.3}", mine.max() as f64);
    assert!(
        log.contains(&format!(
            "Tag=ipc.call.same_cpu,12.346,2.501,{expected_max},HISTFAAA"
        )),
        "{log}"
    );
    assert!(log.starts_with(
        "#Veridian bench\n#second line\n#[StartTime: 1700000000.123 (seconds since epoch)]\n"
    ));

    let entries: Vec<LogEntry<'_>> = IntervalLogIterator::new(log.as_bytes())
        .collect::<Result<_, _>>()
        .expect("the crate parses every line");
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert_eq!(
        entries[0],
        LogEntry::StartTime(Duration::from_millis(1_700_000_000_123))
    );
    assert_eq!(
        entries[1],
        LogEntry::BaseTime(Duration::from_secs(1_700_000_000))
    );
    for (entry, tag) in entries[2..]
        .iter()
        .zip([Tag::new("ipc.call.same_cpu"), None])
    {
        let LogEntry::Interval(interval) = entry else {
            panic!("not an interval: {entry:?}")
        };
        assert_eq!(interval.tag(), tag);
        assert_eq!(interval.start_timestamp(), Duration::from_millis(12_346));
        assert_eq!(interval.duration(), Duration::from_millis(2_501));
        assert_eq!(interval.max(), mine.max() as f64);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .expect("valid base64");
        let decoded: Reference<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .expect("decodable");
        assert_identical(&mine, &decoded).expect("identical counts");
    }
}

#[test]
fn interval_log_matches_the_crate_writer_byte_for_byte() {
    use hdrhistogram::serialization::V2DeflateSerializer;
    use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
    let (mine, theirs) = histogram_from(&[(3, 7), (70_000, 2)]);
    let mut theirs_text = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .begin_log_with(&mut theirs_text, &mut serializer)
        .expect("Vec");
    let (start, length) = (
        Duration::new(1, 999_600_000),
        Duration::from_nanos(1_234_567),
    );
    writer
        .write_histogram(&theirs, start, length, Tag::new("t"))
        .expect("Vec");
    let theirs_text = String::from_utf8(theirs_text).expect("ASCII");
    let mut mine_text = String::new();
    encode::write_interval_log_line(
        &mut mine_text,
        &mine,
        &IntervalLogLine::tagged("t", start, length),
    )
    .expect("encodable");
    // Everything but the payload (zlib compresses differently) is identical.
    let prefix = |s: &str| {
        s.rsplit_once(',')
            .map(|(p, _)| p.to_owned())
            .expect("has fields")
    };
    assert_eq!(prefix(&mine_text), prefix(&theirs_text));
    assert_eq!(prefix(&mine_text), "Tag=t,2.000,0.001,70015.000");
}

#[test]
fn bad_tags_and_divisors_are_refused_before_writing() {
    let mine = Histogram::new();
    for tag in ["", "a,b", "a b", "a\nb"] {
        let mut out = String::new();
        let line = IntervalLogLine::tagged(tag, Duration::ZERO, Duration::ZERO);
        assert_eq!(
            encode::write_interval_log_line(&mut out, &mine, &line),
            Err(EncodeError::InvalidTag)
        );
        assert!(out.is_empty());
    }
    for divisor in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut out = String::new();
        let line = IntervalLogLine {
            max_value_divisor: divisor,
            ..IntervalLogLine::tagged("t", Duration::ZERO, Duration::ZERO)
        };
        assert_eq!(
            encode::write_interval_log_line(&mut out, &mine, &line),
            Err(EncodeError::InvalidMaxValueDivisor)
        );
        assert!(out.is_empty());
    }
}

#[test]
fn max_value_divisor_scales_the_max_column() {
    let (mine, _) = histogram_from(&[(3_000_000, 1)]);
    let mut out = String::new();
    interval_log::write_max_value_divisor(&mut out, 3_000.0).expect("valid");
    let line = IntervalLogLine {
        max_value_divisor: 3_000.0,
        ..IntervalLogLine::tagged("ms", Duration::ZERO, Duration::ZERO)
    };
    encode::write_interval_log_line(&mut out, &mine, &line).expect("encodable");
    let expected = format!(
        "#[MaxValueDivisor: 3000.000]\nTag=ms,0.000,0.000,{:.3},",
        mine.max() as f64 / 3_000.0
    );
    assert!(out.starts_with(&expected), "{out}");
}
