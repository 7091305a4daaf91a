//! The Veridian performance-model plugin for QEMU 7.2's TCG
//! (`qemu-system-x86_64 -plugin libveridian_model_plugin.so,out=FILE,...`).
//!
//! It sees every instruction and data access of every vCPU; under
//! `-icount` all vCPUs run on one host thread in a fixed order, so what it
//! counts is deterministic. Between a benchmark's window markers
//! (`perf::marker`) it counts instructions per CPU (exactly: an inline add
//! per executed instruction), the misses and
//! coherence transfers of the cache model (`perf_model::Machine`, fed with
//! every physical data access of the run), `mov cr3`, TLB flushes,
//! `syscall`, IPIs sent, interrupts taken and XSAVE-family instructions,
//! and appends one `@model` line per window to `out` (with `profile=<id>`,
//! also one `@prof` line per instruction address of that window).
//!
//! - [`decode`]: what an instruction's bytes are, at translation time;
//! - [`counter`]: the state and what each callback does (no FFI: tested on
//!   the host);
//! - `ffi`: the QEMU 7.2 plugin C ABI, declared here (Debian ships no
//!   `qemu-plugin.h`), and the callbacks that forward to [`counter`].
#![deny(unsafe_code)]

pub mod counter;
pub mod decode;

// The C ABI references QEMU's exported functions, which exist only inside
// QEMU's process: the test harness does not link it.
#[cfg(not(test))]
mod ffi;
