//! Build script: hands the linker script to the kernel binary, records the git
//! revision the kernel reports, and builds the user programs (kernel/user) that
//! the kernel embeds.
//!
//! The user programs need other code-generation flags than the kernel (small
//! code model, linked at 0x400000), so they are built by a nested cargo with
//! its own target directory and flags; the environment cargo gives build
//! scripts (encoded RUSTFLAGS, clippy's wrapper, ...) is removed so it cannot
//! leak into that build.
use std::path::PathBuf;
use std::process::Command;

const PROGRAMS: &[&str] = &[
    "init", "worker", "ipctest", "ipcbench", "ipcload", "chantest", "fuzz", "modelcal", "soak",
];

fn main() {
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rustc-link-arg-bins=-T{}/linker.ld", dir.display());
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rerun-if-changed=linker.ld");

    let rev = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(&dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=VERIDIAN_REV={rev}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/index");
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=VERIDIAN_PROFILE={profile}");

    build_user_programs(&dir);
}

fn build_user_programs(kernel_dir: &std::path::Path) {
    let user = kernel_dir.join("user");
    for watched in [
        "src",
        "Cargo.toml",
        "link.ld",
        "build.rs",
        "../../ipc/src",
        "../../perf/src",
    ] {
        println!("cargo:rerun-if-changed={}", user.join(watched).display());
    }
    let target_dir = kernel_dir.join("../target/user");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&user)
        .args([
            "build",
            "--release",
            "--target",
            "x86_64-unknown-none",
            "--bins",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_NONE_RUSTFLAGS",
            "-C relocation-model=static -C code-model=small",
        )
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    let status = cmd.status().expect("run cargo for the user programs");
    assert!(
        status.success(),
        "building the user programs (kernel/user) failed"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in PROGRAMS {
        let src = target_dir.join("x86_64-unknown-none/release").join(name);
        std::fs::copy(&src, out.join(format!("{name}.elf")))
            .unwrap_or_else(|e| panic!("copy user program {}: {e}", src.display()));
    }
}
