/work/main/kernel/user/target/x86_64-unknown-none/release/deps/worker-d80b854e401d8b96.d: src/bin/worker.rs Cargo.toml

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libworker-d80b854e401d8b96.rmeta: src/bin/worker.rs Cargo.toml

src/bin/worker.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
