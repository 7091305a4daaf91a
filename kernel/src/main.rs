//! Veridian: an SMP, NUMA-aware x86_64 microkernel built for IPC performance
//! engineering.
//!
//! Design principles (see `shared/ARCHITECTURE.md`):
//! - Pure logic lives in the host-tested crates (`ipc`, `sched`, `smp`, `perf`);
//!   this crate wires it to the hardware.
//! - All assembly lives under `arch::x86_64`; every `unsafe` block says why it
//!   is sound.
//! - Bad input (boot information, command line, user pointers) gets a clear
//!   error, never a panic.
//! - Everything measured is reported with how it was measured.
#![no_std]
#![no_main]

extern crate alloc;

/// How many times larger than a release build's every kernel stack is in a
/// debug build: unoptimised frames are several times larger, and the
/// release sizes overflowed there.
pub const DEBUG_STACK_SCALE: usize = if cfg!(debug_assertions) { 4 } else { 1 };

pub mod arch;
pub mod bench;
pub mod boot;
pub mod cmdline;
pub mod cpus;
pub mod fault;
pub mod fault_report;
pub mod fuzz_tests;
pub mod kipc;
pub mod kipc_tests;
pub mod ktest;
pub mod mem;
pub mod panic;
pub mod percpu;
pub mod pmu;
pub mod process;
pub mod programs;
pub mod report;
pub mod serial;
pub mod shm_tests;
pub mod soak_tests;
pub mod sync;
pub mod syscall;
pub mod task;
pub mod trap;
pub mod usercopy;
pub mod usertests;

/// The index of the CPU executing this (0 = the bootstrap processor).
pub fn cpu_index() -> u32 {
    percpu::index()
}
