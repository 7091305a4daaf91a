//! From the first Rust instruction to the run mode: the BSP's boot sequence.

use crate::arch::x86_64::{boot as arch_boot, gdt, idt};
use crate::arch::x86_64::qemu::{self, ExitCode};
use crate::kprintln;

static mut BSP_TABLES: gdt::CpuTables = gdt::CpuTables::new();

/// The Rust entry point, called once by the 64-bit boot code on the BSP with
/// the loader kind and the physical address of its boot information.
pub extern "C" fn kernel_entry(loader: u32, info_phys: u32) -> ! {
    crate::serial::init();
    let loader_name = match loader {
        arch_boot::LOADER_PVH => "pvh",
        arch_boot::LOADER_MULTIBOOT2 => "multiboot2",
        _ => "unknown",
    };
    kprintln!("Veridian {} booting ({loader_name}, boot info at {info_phys:#x})", env!("VERIDIAN_REV"));
    // SAFETY: BSP_TABLES is touched only here, once, on the BSP before any other
    // CPU runs; afterwards only the CPU reads it.
    gdt::load(unsafe { &mut *core::ptr::addr_of_mut!(BSP_TABLES) });
    idt::load();
    kprintln!("@boot v1 boot={loader_name}");
    qemu::exit(ExitCode::Success)
}
