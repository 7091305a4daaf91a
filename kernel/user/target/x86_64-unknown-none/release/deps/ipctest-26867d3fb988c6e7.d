/work/main/kernel/user/target/x86_64-unknown-none/release/deps/ipctest-26867d3fb988c6e7.d: src/bin/ipctest.rs Cargo.toml

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libipctest-26867d3fb988c6e7.rmeta: src/bin/ipctest.rs Cargo.toml

src/bin/ipctest.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
