//! From the first Rust instruction to the run mode: the BSP's boot sequence.

use core::fmt::Write;

use smp::PhysRead;
use smp::bootinfo::{BootInfo, LoaderKind};

use crate::arch::x86_64::qemu::{self, ExitCode};
use crate::arch::x86_64::{apic, boot as arch_boot, cpu, gdt, idt, pic, tsc};
use crate::cmdline::{Config, RunMode};
use crate::cpus::CpuDesc;
use crate::kprintln;
use crate::mem::{self, paging};

static mut BSP_TABLES: gdt::CpuTables = gdt::CpuTables::new();

/// Physical memory as the boot parsers see it: the boot page tables' direct
/// map of the first 4 GiB (later the full direct map).
struct DirectMap {
    limit: u64,
}

impl PhysRead for DirectMap {
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]> {
        let end = phys.checked_add(len as u64)?;
        if end > self.limit {
            return None;
        }
        let ptr = paging::phys_to_virt(phys).as_ptr::<u8>();
        // SAFETY: [phys, end) lies below `limit`, all of which the active page
        // tables map at PHYS_OFFSET; the bytes are only read, and boot
        // information and firmware tables are not written while parsed.
        Some(unsafe { core::slice::from_raw_parts(ptr, len) })
    }
}

/// The command line, copied out of loader memory before the frame allocator
/// may reuse it.
static mut CMDLINE: [u8; smp::bootinfo::MAX_CMDLINE_LEN] = [0; smp::bootinfo::MAX_CMDLINE_LEN];

fn keep_cmdline(line: &str) -> &'static str {
    let len = line.len().min(smp::bootinfo::MAX_CMDLINE_LEN);
    // SAFETY: written once, on the BSP during boot, before anything reads it;
    // afterwards only shared references exist.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(CMDLINE) };
    buf[..len].copy_from_slice(&line.as_bytes()[..len]);
    // A cut in the middle of a character keeps the valid prefix.
    match core::str::from_utf8(&buf[..len]) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// The Rust entry point, called once by the 64-bit boot code on the BSP with
/// the loader kind and the physical address of its boot information.
pub extern "C" fn kernel_entry(loader: u32, info_phys: u32) -> ! {
    crate::serial::init();
    mem::heap::init_early();
    kprintln!("Veridian {} ({})", env!("VERIDIAN_REV"), env!("VERIDIAN_PROFILE"));
    // SAFETY: BSP_TABLES is touched only here, once, on the BSP before any other
    // CPU runs; afterwards only the CPU reads it.
    gdt::load(unsafe { &mut *core::ptr::addr_of_mut!(BSP_TABLES) });
    idt::load();
    pic::disable();

    let boot_mem = DirectMap { limit: paging::BOOT_DIRECT_MAP_LIMIT };
    let parsed = match loader {
        arch_boot::LOADER_PVH => BootInfo::from_pvh(&boot_mem, u64::from(info_phys)),
        arch_boot::LOADER_MULTIBOOT2 => BootInfo::from_multiboot2(&boot_mem, u64::from(info_phys)),
        other => {
            kprintln!("fatal: entered by unknown loader kind {other}");
            qemu::exit(ExitCode::Failure);
        }
    };
    let info = match parsed {
        Ok(info) => info,
        Err(e) => {
            kprintln!("fatal: boot information at {info_phys:#x} is unusable: {e:?}");
            qemu::exit(ExitCode::Failure);
        }
    };
    let cmdline = keep_cmdline(info.cmdline);
    kprintln!("cmdline: {cmdline:?}");
    let config = Config::parse(cmdline);
    if info.dropped_usable_regions > 0 {
        kprintln!("warning: {} usable memory regions dropped (memory map full)", info.dropped_usable_regions);
    }

    // NUMA layout comes from ACPI (SMP issue); until then one node.
    let nodes: &[mem::NodeRange] = &[];
    let meminfo = match mem::init(&info.memory_map, nodes) {
        Ok(m) => m,
        Err(e) => {
            kprintln!("fatal: memory bring-up failed: {e:?}");
            qemu::exit(ExitCode::Failure);
        }
    };
    kprintln!(
        "memory: {} MiB usable, {} frames managed, heap +{} MiB, direct map {} MiB",
        meminfo.usable_bytes >> 20,
        meminfo.total_frames,
        meminfo.heap_bytes >> 20,
        meminfo.direct_map_bytes >> 20
    );

    let tsc = tsc::detect();
    let hv = cpu::Hypervisor::detect();
    let xapic_virt = match paging::map_mmio(apic::xapic_phys_base(), 4096) {
        Ok(v) => v.as_u64(),
        Err(e) => {
            kprintln!("fatal: cannot map the local APIC: {e:?}");
            qemu::exit(ExitCode::Failure);
        }
    };
    let cpus_desc = [CpuDesc { apic_id: 0, node: 0 }];
    let online = crate::cpus::bring_up(&cpus_desc, &tsc, xapic_virt);
    let mode = apic::ApicMode::detect(xapic_virt);

    let mut record = alloc::string::String::new();
    let _ = write!(
        record,
        "@boot v1 boot={} cpus={} cpus_present={} nodes={} mem_mib={} apic={} timer={} hv={} accel={} tsc_mhz={}.{:03} tsc_src={} tsc_invariant={} rev={}",
        match info.loader {
            LoaderKind::Pvh => "pvh",
            LoaderKind::Multiboot2 => "multiboot2",
        },
        online,
        crate::cpus::present(),
        1,
        meminfo.usable_bytes >> 20,
        mode.name(),
        if mode.tsc_deadline { "tsc-deadline" } else { "oneshot" },
        hv.name(),
        config.accel.unwrap_or("unknown"),
        tsc.hz / 1_000_000,
        (tsc.hz / 1_000) % 1_000,
        tsc.source.name(),
        u8::from(tsc.invariant),
        env!("VERIDIAN_REV"),
    );
    kprintln!("{record}");

    if let Some(fault) = config.fault {
        kprintln!("test.fault: causing a deliberate {fault:?}");
        cpu::deliberate_fault(fault);
    }
    match config.run {
        RunMode::Boot => qemu::exit(ExitCode::Success),
        RunMode::Test => {
            let ok = crate::ktest::run_all(config.test_filter);
            qemu::exit(if ok { ExitCode::Success } else { ExitCode::Failure })
        }
        RunMode::Idle => {
            kprintln!("idle (run=boot or run=test to exit)");
            crate::cpus::idle()
        }
    }
}
