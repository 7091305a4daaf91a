//! Memory management: the physical memory map, frame allocation, the kernel's
//! page tables and direct map, and the kernel heap.

pub mod heap;
pub mod paging;
