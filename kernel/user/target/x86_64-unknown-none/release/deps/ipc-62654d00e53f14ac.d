/work/main/kernel/user/target/x86_64-unknown-none/release/deps/ipc-62654d00e53f14ac.d: /work/main/ipc/src/lib.rs /work/main/ipc/src/abi.rs /work/main/ipc/src/audit.rs /work/main/ipc/src/cap/mod.rs /work/main/ipc/src/cap/bucket.rs /work/main/ipc/src/cap/registry.rs /work/main/ipc/src/cap/space.rs /work/main/ipc/src/endpoint/mod.rs /work/main/ipc/src/endpoint/death.rs /work/main/ipc/src/endpoint/fastpath.rs /work/main/ipc/src/endpoint/ops.rs /work/main/ipc/src/error.rs /work/main/ipc/src/message.rs /work/main/ipc/src/metrics.rs /work/main/ipc/src/ring/mod.rs /work/main/ipc/src/ring/layout.rs /work/main/ipc/src/ring/mpsc.rs /work/main/ipc/src/ring/outcome.rs /work/main/ipc/src/ring/spsc.rs /work/main/ipc/src/ring/sync.rs

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libipc-62654d00e53f14ac.rmeta: /work/main/ipc/src/lib.rs /work/main/ipc/src/abi.rs /work/main/ipc/src/audit.rs /work/main/ipc/src/cap/mod.rs /work/main/ipc/src/cap/bucket.rs /work/main/ipc/src/cap/registry.rs /work/main/ipc/src/cap/space.rs /work/main/ipc/src/endpoint/mod.rs /work/main/ipc/src/endpoint/death.rs /work/main/ipc/src/endpoint/fastpath.rs /work/main/ipc/src/endpoint/ops.rs /work/main/ipc/src/error.rs /work/main/ipc/src/message.rs /work/main/ipc/src/metrics.rs /work/main/ipc/src/ring/mod.rs /work/main/ipc/src/ring/layout.rs /work/main/ipc/src/ring/mpsc.rs /work/main/ipc/src/ring/outcome.rs /work/main/ipc/src/ring/spsc.rs /work/main/ipc/src/ring/sync.rs

/work/main/ipc/src/lib.rs:
/work/main/ipc/src/abi.rs:
/work/main/ipc/src/audit.rs:
/work/main/ipc/src/cap/mod.rs:
/work/main/ipc/src/cap/bucket.rs:
/work/main/ipc/src/cap/registry.rs:
/work/main/ipc/src/cap/space.rs:
/work/main/ipc/src/endpoint/mod.rs:
/work/main/ipc/src/endpoint/death.rs:
/work/main/ipc/src/endpoint/fastpath.rs:
/work/main/ipc/src/endpoint/ops.rs:
/work/main/ipc/src/error.rs:
/work/main/ipc/src/message.rs:
/work/main/ipc/src/metrics.rs:
/work/main/ipc/src/ring/mod.rs:
/work/main/ipc/src/ring/layout.rs:
/work/main/ipc/src/ring/mpsc.rs:
/work/main/ipc/src/ring/outcome.rs:
/work/main/ipc/src/ring/spsc.rs:
/work/main/ipc/src/ring/sync.rs:
