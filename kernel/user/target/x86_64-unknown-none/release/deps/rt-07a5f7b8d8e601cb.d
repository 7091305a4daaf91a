/work/main/kernel/user/target/x86_64-unknown-none/release/deps/rt-07a5f7b8d8e601cb.d: src/lib.rs src/../../src/arch/x86_64/user_syscall.rs src/ipc.rs Cargo.toml

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/librt-07a5f7b8d8e601cb.rmeta: src/lib.rs src/../../src/arch/x86_64/user_syscall.rs src/ipc.rs Cargo.toml

src/lib.rs:
src/../../src/arch/x86_64/user_syscall.rs:
src/ipc.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
