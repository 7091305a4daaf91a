//! x86_64 support: every `asm!`, `global_asm!` and naked function of the kernel
//! lives below this module.

pub mod apic;
pub mod backtrace;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod marker;
pub mod percpu;
pub mod pic;
pub mod qemu;
pub mod switch;
pub mod trampoline;
pub mod tsc;
