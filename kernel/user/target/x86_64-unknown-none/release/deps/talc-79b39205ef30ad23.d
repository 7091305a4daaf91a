/work/main/kernel/user/target/x86_64-unknown-none/release/deps/talc-79b39205ef30ad23.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/oom_handler.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/ptr_utils.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/span.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc/llist.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc/tag.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/locking.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talck.rs

/work/main/kernel/user/target/x86_64-unknown-none/release/deps/libtalc-79b39205ef30ad23.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/oom_handler.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/ptr_utils.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/span.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc/llist.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc/tag.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/locking.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talck.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/oom_handler.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/ptr_utils.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/span.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc/llist.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talc/tag.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/locking.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/talc-4.4.3/src/talck.rs:
