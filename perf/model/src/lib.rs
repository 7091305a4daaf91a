//! perf-model: the cache, coherence and cost model behind the QEMU plugin
//! (`perf/plugin`). Pure and deterministic: the same access stream gives the
//! same counts on any host.
//!
//! - [`cache`]: one set-associative cache with LRU replacement;
//! - [`machine`]: per-CPU L1D and L2 (inclusive of L1D), a shared
//!   last-level cache, and a directory that keeps the private caches
//!   coherent MESI-style, counting coherence transfers;
//! - [`events`]: what the plugin counts per CPU and per window;
//! - [`report`]: the plugin's output lines and their parser;
//! - [`costs`]: the cost table (each entry with its published source) that
//!   turns counts into modeled cycles, and its text format.
//!
//! This is a model, labelled so wherever its numbers appear: it has no
//! prefetchers, no out-of-order overlap, no TLB, and charges every event a
//! fixed cost.
#![forbid(unsafe_code)]

pub mod cache;
pub mod costs;
pub mod events;
pub mod machine;
pub mod report;

pub use cache::{Cache, Geometry, GeometryError};
pub use costs::{CostTable, CostsError};
pub use events::Events;
pub use machine::{Access, Machine, MachineConfig, Outcome};
