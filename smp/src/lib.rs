//! `smp`: the pure logic behind Veridian's boot, memory bring-up and SMP/NUMA.
//!
//! The kernel wires this crate to hardware; everything here is host-testable:
//! - [`memmap`]: the physical memory map (fixed capacity, no heap), normalised
//!   from whatever the loader says, with carve-outs for the kernel and modules.
//! - [`bootinfo`] and [`cmdline`]: the PVH `hvm_start_info` and Multiboot2
//!   information parsers, producing one [`bootinfo::BootInfo`].
//! - [`frames`]: bitmap frame allocators, one per memory range, and the
//!   NUMA-aware set of them ([`frames::NodeFrames`]).
//! - [`acpi`]: RSDP/RSDT/XSDT, MADT, SRAT, SLIT and HPET parsers and the
//!   [`acpi::Topology`] built from them.
//! - [`cpuset`] and [`ipi`]: CPU and node ids, CPU sets, IPI messages and the
//!   TLB-shootdown protocol on core atomics.
//!
//! Design principles:
//! - **Bytes in, values out.** Parsers read physical memory only through
//!   [`PhysRead`], so host tests feed them byte vectors.
//! - **No panics on input.** Malformed firmware or loader data is an error
//!   value (or a warning the kernel prints), never a panic or an endless loop.
//! - **No heap.** Everything has a fixed capacity: most of it runs before the
//!   kernel heap exists.
//!
//! `no_std`, no `alloc`, no `unsafe`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod acpi;
pub mod bootinfo;
mod bytes;
pub mod cmdline;
pub mod cpuset;
pub mod frames;
pub mod ipi;
pub mod memmap;
pub mod pcid;
mod phys;

#[cfg(test)]
pub(crate) use phys::FakeMemory;
pub use phys::PhysRead;
