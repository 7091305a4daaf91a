/work/main/kernel/user/target/x86_64-unknown-none/release/deps/ipcbench-9c18537d3fae241d.d: src/bin/ipcbench.rs Cargo.toml

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libipcbench-9c18537d3fae241d.rmeta: src/bin/ipcbench.rs Cargo.toml

src/bin/ipcbench.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
