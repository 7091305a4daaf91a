//! Fixture generator shared by the integration tests: a small, fully
//! deterministic serial log in the kernel's record format whose histogram
//! payloads come from the `hdrhistogram` crate's compressed V2 serializer
//! (and one from zlib stored blocks, as a minimal kernel encoder emits).
//!
//! `tests/fixtures/run_small.log` is this generator's output, committed so
//! the format is visible; `fixture_is_what_the_generator_writes` keeps the
//! two in step. Regenerate with `DASHBOARDS_REGENERATE_FIXTURES=1 cargo test`.

#![allow(dead_code)] // Each test binary uses a different part.

use std::fmt::Write as _;
use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer, V2Serializer};

/// Path of the committed fixture.
pub const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/run_small.log");

/// The cookie of a compressed V2 histogram (HdrHistogram's
/// `V2CompressedEncodingCookieBase | 0x10`).
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;

/// A latency-like distribution: a body around `base` and a sparse tail.
pub fn latency_histogram(base: u64, samples: u64) -> Histogram<u64> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
    for i in 0..samples {
        let body = base + (i * 7919) % (base / 4 + 1);
        let value = if i % 250 == 0 { body * 8 } else { body };
        histogram.record(value).unwrap();
    }
    histogram
}

/// Compressed V2 with the crate's serializer (zlib at the default level).
pub fn encode_deflate(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .unwrap();
    STANDARD.encode(bytes)
}

/// Compressed V2 whose zlib stream uses only stored (uncompressed) blocks.
pub fn encode_stored(histogram: &Histogram<u64>) -> String {
    let mut plain = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut plain)
        .unwrap();
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::none());
    zlib.write_all(&plain).unwrap();
    let zlib = zlib.finish().unwrap();
    let mut bytes = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
    bytes.extend(u32::try_from(zlib.len()).unwrap().to_be_bytes());
    bytes.extend(zlib);
    STANDARD.encode(bytes)
}

/// The `@bench` line matching a histogram's statistics.
fn bench_line(name: &str, histogram: &Histogram<u64>, extra: &str) -> String {
    let q = |quantile| histogram.value_at_quantile(quantile);
    format!(
        "@bench v1 name={name} unit=cycles kind=latency count={} min={} p50={} p90={} p99={} \
         p999={} max={} mean={:.2}{extra}\n",
        histogram.len(),
        histogram.min(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        histogram.max(),
        histogram.mean()
    )
}

fn hist_line(name: &str, start: &str, histogram: &Histogram<u64>, payload: &str) -> String {
    format!(
        "@hist v1 name={name} Tag={name},{start},0.500,{}.0,{payload}\n",
        histogram.max()
    )
}

/// The latency benchmarks of the fixture: name, base latency, samples.
pub const LATENCY_BENCHES: [(&str, u64, u64); 5] = [
    ("ipc.call.same_cpu", 400, 2000),
    ("ipc.call.cross_cpu.cpu0.cpu0", 420, 500),
    ("ipc.call.cross_cpu.cpu0.cpu1", 2400, 500),
    ("ipc.call.cross_cpu.cpu1.cpu0", 2500, 500),
    ("ipc.call.cross_cpu.cpu1.cpu1", 410, 500),
];

/// The whole fixture log. `slowdown` scales every latency (100 = as is), so
/// a second run for comparisons is one call away.
pub fn fixture_log(slowdown: u64) -> String {
    let mut log = String::new();
    log.push_str("SeaBIOS (version 1.16.3-debian)\n");
    log.push_str("[    0.000000] veridian: booting via PVH\n");
    log.push_str(
        "[    0.000100] @boot v1 boot=pvh cpus=2 cpus_present=2 nodes=1 mem_mib=512 \
         apic=x2apic hv=KVMKVMKVM tsc_mhz=2995.2 tsc_src=cpuid15 cmdline=bench%20quiet\n",
    );
    log.push_str(
        "@meta v1 accel=kvm cpu_vendor=GenuineIntel \
         cpu_model=Intel%28R%29%20Xeon%28R%29%20Gold%206248%20CPU%20%40%202.50GHz family=6 \
         model=85 stepping=7 tsc_mhz=2995.2 tsc_src=cpuid15 tsc_invariant=1 tsc_overhead=24 \
         pmu=intel-v4 cpus=2 nodes=1 rev=0123abc profile=release qemu=8.2.2\n",
    );
    log.push_str("test ipc::cap::lookup_by_generation ... ok\n");
    log.push_str("test sched::inherit_through_call ... ok\n");
    log.push_str("2 passed, 0 failed\n");
    for (index, (name, base, samples)) in LATENCY_BENCHES.iter().enumerate() {
        let histogram = latency_histogram(base * slowdown / 100, *samples);
        let _ = writeln!(
            log,
            "@progress v1 name={name} done={} total={samples}",
            samples / 2
        );
        let extra = if index == 0 {
            " pmu.instructions=312.50 pmu.llc_misses=0.02"
        } else {
            ""
        };
        log.push_str(&bench_line(name, &histogram, extra));
        let payload = if index == 2 {
            encode_stored(&histogram)
        } else {
            encode_deflate(&histogram)
        };
        log.push_str(&hist_line(
            name,
            &format!("{index}.000"),
            &histogram,
            &payload,
        ));
    }
    for (cpus, rate) in [(1, 1_000_000), (2, 1_900_000)] {
        let rate = rate * 100 / slowdown;
        let _ = writeln!(
            log,
            "@bench v1 name=scale.chan.send.cpus{cpus} unit=msgs_per_s kind=throughput count=20 \
             min={} p50={rate} p90={} p99={} p999={} max={} mean={rate}",
            rate - 5000,
            rate + 1000,
            rate + 2000,
            rate + 2500,
            rate + 3000
        );
    }
    log.push_str("@skip v1 name=ipc.call.remote_node reason=only%20one%20NUMA%20node\n");
    log.push_str("@audit v1 op=grant cap=3 gen=1\n");
    log.push_str("@done v1 benches=7 skipped=1\n");
    log
}
