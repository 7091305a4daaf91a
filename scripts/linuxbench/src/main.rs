//! `linuxbench`: the Linux baseline of Veridian's IPC benchmarks, built
//! static for `x86_64-unknown-linux-musl` and run as `/init` of a small
//! initramfs under the distribution's Linux kernel in the same QEMU machine
//! as Veridian (same `--accel`, same CPUs except under icount, where Linux
//! boots only with one).
//!
//! It prints, on the console, one `@meta` with `linux.*` keys (kernel
//! release, CPUs, accelerator, TSC overhead, samples, page-table
//! isolation), then per benchmark `@progress`, `@bench` and `@hist` (or
//! `@skip` with the reason), in the kernel's record format
//! (`perf::record`). As PID 1 it then ends QEMU through `isa-debug-exit`:
//! 0x10 when every benchmark ran or was skipped, 0x20 when one failed (its
//! `linuxbench: FAILED` line says why). Run by hand it exits 0 or 1.
//!
//! Settings come from the environment (the kernel command line's unknown
//! `key=value` words): `accel=icount|tcg|kvm`, `samples=N`,
//! `only=<prefix>[,<prefix>...]`.

mod bench;
mod config;
mod sys;

use std::fmt::Write as _;
use std::io::Write as _;

use perf::record::Escaped;

use crate::bench::Harness;
use crate::config::{BENCHMARKS, Config};

/// `isa-debug-exit` values, as the Veridian kernel writes them.
const EXIT_SUCCESS: u8 = 0x10;
const EXIT_FAILURE: u8 = 0x20;

fn main() {
    let init = std::process::id() == 1;
    let ok = run(init);
    if init {
        sys::leave_qemu(if ok { EXIT_SUCCESS } else { EXIT_FAILURE });
    }
    std::process::exit(if ok { 0 } else { 1 });
}

/// Page-table isolation as the kernel reports it in sysfs (`on`, `off`,
/// or `unknown` without sysfs).
fn page_table_isolation() -> &'static str {
    match std::fs::read_to_string("/sys/devices/system/cpu/vulnerabilities/meltdown") {
        Ok(text) if text.contains("PTI") => "on",
        Ok(_) => "off",
        Err(_) => "unknown",
    }
}

fn run(init: bool) -> bool {
    if init {
        // sysfs tells whether page-table isolation is on; a failure only
        // leaves that condition `unknown`.
        if let Err(e) = sys::mount_pseudo("sysfs", "/sys") {
            println!("linuxbench: mounting /sys: {e}");
        }
    }
    let config = match Config::from_vars(std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            println!("linuxbench: FAILED: {e}");
            return false;
        }
    };
    let mut harness = match Harness::new(config.icount, config.samples, std::io::stdout()) {
        Ok(h) => h,
        Err(e) => {
            println!("linuxbench: FAILED: reading the allowed CPUs: {e}");
            return false;
        }
    };
    let mut meta = String::new();
    let _ = writeln!(
        meta,
        "@meta v1 linux.kernel={} linux.cpus={} linux.accel={} linux.tsc_overhead={} \
         linux.samples={} linux.pti={}",
        Escaped(&sys::kernel_release()),
        harness.cpu_count(),
        Escaped(&config.accel),
        harness.overhead(),
        config.samples,
        page_table_isolation(),
    );
    if harness.emit(&meta).is_err() {
        return false;
    }
    let mut failures = 0;
    for name in BENCHMARKS.into_iter().filter(|n| config.selected(n)) {
        if let Err(failed) = harness.run(name) {
            println!("linuxbench: FAILED: {}: {}", failed.name, failed.error);
            failures += 1;
        }
    }
    println!("linuxbench: finished, {failures} failed");
    let _ = std::io::stdout().flush();
    failures == 0
}
