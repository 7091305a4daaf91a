//! perf: the measurement math of Veridian, shared by the kernel and the host.
//!
//! The kernel reads the clocks (`rdtscp`, `rdpmc`, CPUID, MSRs); this crate
//! turns what it read into numbers and text, with no `asm`, no `unsafe` and
//! no heap:
//!
//! - [`histogram`]: a fixed-memory HDR histogram with HdrHistogram's exact
//!   bucket layout, so per-CPU recorders merge and export losslessly;
//! - [`encode`]: HdrHistogram V2 (plain and zlib-compressed), base64 and
//!   interval-log lines, streamed into a buffer or a `core::fmt::Write`;
//! - [`record`]: the versioned one-line serial records (`@meta`, `@bench`,
//!   `@hist`, ...) that the host's `dashboards` tool parses;
//! - [`interval`]: when a latency benchmark closes one histogram interval
//!   and opens the next (latency over time);
//! - [`suite`]: the benchmark table the kernel runs and the host checks
//!   `--suite` against;
//! - [`tsc`]: TSC frequency from CPUID or calibration, cycle/ns conversion,
//!   measurement overhead;
//! - [`marker`]: the one-instruction benchmark markers the performance-model
//!   plugin recognises;
//! - [`pmu`]: CPUID decode of the performance-monitoring unit, event-select
//!   encodings and per-model event choice.
//!
//! Principles: bad input gives an error, never a panic; every number written
//! for the host can be recomputed there from the exported histogram.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod encode;
pub mod histogram;
pub mod interval;
pub mod marker;
pub mod pmu;
pub mod record;
pub mod suite;
pub mod tsc;

pub use histogram::Histogram;
