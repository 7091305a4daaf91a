/work/main/kernel/user/target/x86_64-unknown-none/release/deps/init-e8bfffec128ec2af.d: src/bin/init.rs Cargo.toml

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libinit-e8bfffec128ec2af.rmeta: src/bin/init.rs Cargo.toml

src/bin/init.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
