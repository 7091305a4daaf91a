/work/main/kernel/user/target/x86_64-unknown-none/release/deps/scopeguard-5fe5dc887e2b6495.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libscopeguard-5fe5dc887e2b6495.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs:
