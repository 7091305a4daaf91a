/work/main/kernel/user/target/x86_64-unknown-none/release/deps/perf-7b326dbd9928fc9a.d: /work/main/perf/src/lib.rs /work/main/perf/src/encode/mod.rs /work/main/perf/src/encode/base64.rs /work/main/perf/src/encode/interval_log.rs /work/main/perf/src/encode/v2.rs /work/main/perf/src/encode/zlib.rs /work/main/perf/src/histogram/mod.rs /work/main/perf/src/histogram/layout.rs /work/main/perf/src/pmu.rs /work/main/perf/src/pmu/events.rs /work/main/perf/src/record.rs /work/main/perf/src/record/bench.rs /work/main/perf/src/record/escape.rs /work/main/perf/src/tsc.rs

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libperf-7b326dbd9928fc9a.rmeta: /work/main/perf/src/lib.rs /work/main/perf/src/encode/mod.rs /work/main/perf/src/encode/base64.rs /work/main/perf/src/encode/interval_log.rs /work/main/perf/src/encode/v2.rs /work/main/perf/src/encode/zlib.rs /work/main/perf/src/histogram/mod.rs /work/main/perf/src/histogram/layout.rs /work/main/perf/src/pmu.rs /work/main/perf/src/pmu/events.rs /work/main/perf/src/record.rs /work/main/perf/src/record/bench.rs /work/main/perf/src/record/escape.rs /work/main/perf/src/tsc.rs

/work/main/perf/src/lib.rs:
/work/main/perf/src/encode/mod.rs:
/work/main/perf/src/encode/base64.rs:
/work/main/perf/src/encode/interval_log.rs:
/work/main/perf/src/encode/v2.rs:
/work/main/perf/src/encode/zlib.rs:
/work/main/perf/src/histogram/mod.rs:
/work/main/perf/src/histogram/layout.rs:
/work/main/perf/src/pmu.rs:
/work/main/perf/src/pmu/events.rs:
/work/main/perf/src/record.rs:
/work/main/perf/src/record/bench.rs:
/work/main/perf/src/record/escape.rs:
/work/main/perf/src/tsc.rs:
