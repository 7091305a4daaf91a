//! From the first Rust instruction to the run mode: the BSP's boot sequence.

use core::fmt::Write;

use smp::PhysRead;
use smp::acpi::{AcpiError, AcpiTables, Rsdp, Topology, TopologyWarning};
use smp::bootinfo::{BootInfo, LoaderKind, RsdpSource};

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
    crate::arch::x86_64::percpu::early_init();
    crate::serial::init();
    mem::heap::init_early();
    kprintln!(
        "Veridian {} ({})",
        env!("VERIDIAN_REV"),
        env!("VERIDIAN_PROFILE")
    );
    // SAFETY: BSP_TABLES is touched only here, once, on the BSP before any other
    // CPU runs; afterwards only the CPU reads it.
    let bsp_tss = gdt::load(unsafe { &mut *core::ptr::addr_of_mut!(BSP_TABLES) });
    idt::load();
    pic::disable();

    let boot_mem = DirectMap {
        limit: paging::BOOT_DIRECT_MAP_LIMIT,
    };
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
        kprintln!(
            "warning: {} usable memory regions dropped (memory map full)",
            info.dropped_usable_regions
        );
    }

    let topology = read_topology(&boot_mem, info.rsdp);
    let mut node_ranges = [mem::NodeRange {
        base: 0,
        end: 0,
        node: 0,
    }; smp::acpi::MAX_MEMORY_RANGES];
    let mut node_count = 0;
    if let Some(topo) = &topology {
        for (slot, range) in node_ranges.iter_mut().zip(topo.memory()) {
            *slot = mem::NodeRange {
                base: range.base,
                end: range.end,
                node: u32::from(range.node.0),
            };
            node_count += 1;
        }
    }
    let distance = |a: u32, b: u32| {
        let topo = topology.as_ref()?;
        topo.distance(smp::cpuset::NodeId(a as u16), smp::cpuset::NodeId(b as u16))
    };
    let meminfo = match mem::init(&info.memory_map, &node_ranges[..node_count], distance) {
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

    let hpet = map_hpet(&boot_mem, info.rsdp);
    let tsc = tsc::detect(hpet.as_ref());
    let hv = cpu::Hypervisor::detect();
    let xapic_virt = match paging::map_mmio(apic::xapic_phys_base(), 4096) {
        Ok(v) => v.as_u64(),
        Err(e) => {
            kprintln!("fatal: cannot map the local APIC: {e:?}");
            qemu::exit(ExitCode::Failure);
        }
    };
    let mut cpus_desc = alloc::vec::Vec::new();
    let mut nodes = 1;
    if let Some(topo) = &topology {
        cpus_desc.extend(topo.cpus().iter().map(|c| CpuDesc {
            apic_id: c.apic_id,
            node: u32::from(c.node.0),
        }));
        nodes = topo.nodes().len().max(1);
        print_topology(topo);
        let ids: alloc::vec::Vec<_> = topo.nodes().iter().map(|n| n.id).collect();
        let distances = ids
            .iter()
            .flat_map(|&a| ids.iter().map(move |&b| (a, b)))
            .map(|(a, b)| topo.distance(a, b).unwrap_or(u8::MAX))
            .collect();
        crate::task::set_numa_distances(ids.len(), distances);
    }
    if cpus_desc.is_empty() {
        cpus_desc.push(CpuDesc {
            apic_id: 0,
            node: 0,
        });
    }
    let idle_mwait = match smp::cmdline::tokens(cmdline)
        .filter(|t| t.key == "idle")
        .last()
        .and_then(|t| t.value)
    {
        Some("mwait") => true,
        None | Some("hlt") => false,
        Some(other) => {
            kprintln!("warning: cmdline: idle={other:?} is not hlt|mwait; using hlt");
            false
        }
    };
    if crate::arch::x86_64::cpu::init_idle(idle_mwait) {
        kprintln!("idle: mwait");
    } else if let (true, Some(why)) = (idle_mwait, crate::arch::x86_64::cpu::mwait_unusable()) {
        kprintln!("idle: hlt (idle=mwait asked, but {why})");
    } else {
        kprintln!("idle: hlt");
    }
    crate::arch::x86_64::cpu::PCID_ALLOWED.store(
        crate::cmdline::on_off(cmdline, "pcid", true),
        core::sync::atomic::Ordering::Relaxed,
    );
    let online = crate::cpus::bring_up(&cpus_desc, &tsc, xapic_virt, bsp_tss);
    crate::task::init(online as usize, tsc.hz / 100);
    crate::task::set_priority_inheritance(config.pi);
    crate::fuzz_tests::configure(config.fuzz_calls, config.fuzz_seed, config.fault_frames);
    crate::soak_tests::configure(
        config.soak_minutes,
        config.soak_processes,
        config.test_filter,
    );
    crate::fault::configure(config.fault_kill, config.fuzz_seed, config.test_filter);
    if config.channel_messages > 0 {
        crate::shm_tests::CHANNEL_MESSAGES.store(
            config.channel_messages,
            core::sync::atomic::Ordering::Relaxed,
        );
    }
    crate::kipc::set_fastpath(crate::kipc::fastpath_from_cmdline(cmdline));
    let mode = apic::ApicMode::detect(xapic_virt);
    // Counters are trusted only when they count a known loop: records and
    // the PerfCounters syscall then say whether a PMU is present.
    let (advertised, pmu_check) = crate::pmu::checked();
    kprintln!(
        "pmu: {} (advertised {advertised}; {pmu_check})",
        crate::pmu::info()
    );

    let mut record = alloc::string::String::new();
    let _ = write!(
        record,
        "@boot v1 boot={} cpus={} cpus_present={} nodes={} mem_mib={} apic={} timer={} hv={} accel={} tsc_mhz={}.{:03} tsc_src={} tsc_invariant={} pat={} rev={}",
        match info.loader {
            LoaderKind::Pvh => "pvh",
            LoaderKind::Multiboot2 => "multiboot2",
        },
        online,
        crate::cpus::present(),
        nodes,
        meminfo.usable_bytes >> 20,
        mode.name(),
        if mode.tsc_deadline {
            "tsc-deadline"
        } else {
            "oneshot"
        },
        hv.name(),
        config.accel.map_or("unknown", perf::record::Accel::as_str),
        tsc.hz / 1_000_000,
        (tsc.hz / 1_000) % 1_000,
        tsc.source.as_str(),
        u8::from(tsc.invariant),
        pat_layout(),
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
            qemu::exit(if ok {
                ExitCode::Success
            } else {
                ExitCode::Failure
            })
        }
        RunMode::Bench => {
            let accel = match config.accel {
                Some(accel) => accel,
                None => match hv {
                    cpu::Hypervisor::Kvm => perf::record::Accel::Kvm,
                    cpu::Hypervisor::Tcg => perf::record::Accel::Tcg,
                    cpu::Hypervisor::None | cpu::Hypervisor::Other => perf::record::Accel::Bare,
                },
            };
            let cfg = crate::bench::BenchConfig {
                suite: config.bench,
                samples: config.samples,
                accel,
                tsc,
                cpus: online,
                nodes: nodes as u32,
            };
            let ok = crate::bench::run(&cfg);
            qemu::exit(if ok {
                ExitCode::Success
            } else {
                ExitCode::Failure
            })
        }
        RunMode::Report => {
            let ok = crate::report::run(&tsc, hpet.as_ref(), mode);
            qemu::exit(if ok {
                ExitCode::Success
            } else {
                ExitCode::Failure
            })
        }
        RunMode::Idle => {
            kprintln!("idle (run=boot or run=test to exit)");
            crate::task::idle_loop()
        }
    }
}

/// Finds the RSDP: where the loader says, else in the BIOS areas (the first KiB
/// of the EBDA and 0xE0000..0x100000, on 16-byte boundaries).
fn find_rsdp(mem: &DirectMap, from_loader: Option<RsdpSource<'_>>) -> Result<Rsdp, AcpiError> {
    match from_loader {
        Some(RsdpSource::Address(phys)) => return Rsdp::read(mem, phys),
        Some(RsdpSource::Copy(bytes)) => return Rsdp::parse(bytes),
        None => {}
    }
    let ebda = mem
        .read(0x40e, 2)
        .map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])) << 4);
    let areas = [(ebda, 1024), (0xe0000, 0x20000)];
    for (base, len) in areas.into_iter().filter(|&(b, _)| b != 0) {
        for phys in (base..base + len).step_by(16) {
            if mem.read(phys, 8) == Some(b"RSD PTR ".as_slice())
                && let Ok(rsdp) = Rsdp::read(mem, phys)
            {
                return Ok(rsdp);
            }
        }
    }
    Err(AcpiError::TableMissing(smp::acpi::Signature(*b"RSDP")))
}

/// Reads the CPU and NUMA topology from ACPI; `None` (one CPU, one node) with
/// a printed reason when the tables are missing or malformed.
fn read_topology(mem: &DirectMap, rsdp: Option<RsdpSource<'_>>) -> Option<Topology> {
    let result = find_rsdp(mem, rsdp)
        .and_then(|rsdp| AcpiTables::new(mem, &rsdp))
        .and_then(|tables| Topology::from_acpi(&tables));
    match result {
        Ok(topo) => {
            for w in topo.warnings() {
                match w {
                    // Normal on a machine without NUMA: not worth a warning.
                    TopologyWarning::SratMissing => kprintln!("acpi: no SRAT, one NUMA node"),
                    TopologyWarning::SlitMissing => {
                        kprintln!("acpi: no SLIT, default distances (10 local, 20 remote)")
                    }
                    other => kprintln!("warning: acpi: {other:?}"),
                }
            }
            Some(topo)
        }
        Err(e) => {
            kprintln!("warning: acpi: no usable topology ({e:?}); assuming one CPU and one node");
            None
        }
    }
}

/// Maps the HPET that ACPI describes (uncached) and starts its counter;
/// `None` without an HPET table, or one the kernel cannot use.
fn map_hpet(mem: &DirectMap, rsdp: Option<RsdpSource<'_>>) -> Option<tsc::Hpet> {
    let table = find_rsdp(mem, rsdp)
        .and_then(|rsdp| AcpiTables::new(mem, &rsdp))
        .and_then(|tables| tables.find(smp::acpi::Signature(*b"HPET")))
        .ok()
        .flatten()?;
    let hpet = match smp::acpi::Hpet::from_sdt(table) {
        Ok(hpet) if hpet.address_space == 0 && hpet.base_address != 0 => hpet,
        Ok(hpet) => {
            kprintln!(
                "warning: acpi: HPET at {:#x} in address space {} is not usable",
                hpet.base_address,
                hpet.address_space
            );
            return None;
        }
        Err(e) => {
            kprintln!("warning: acpi: malformed HPET table ({e:?})");
            return None;
        }
    };
    let virt = match paging::map_mmio(hpet.base_address, 1024) {
        Ok(v) => v.as_u64(),
        Err(e) => {
            kprintln!("warning: cannot map the HPET: {e:?}");
            return None;
        }
    };
    // SAFETY: `virt` maps the HPET's register block uncached for the rest of
    // the kernel's life, and nothing else in the kernel programs the HPET.
    let found = unsafe { tsc::Hpet::new(virt) };
    if found.is_none() {
        kprintln!(
            "warning: the HPET at {:#x} reports an impossible period; not using it",
            hpet.base_address
        );
    }
    found
}

/// Prints each CPU's APIC id and node, and the node distance matrix (once).
fn print_topology(topo: &Topology) {
    let mut line = alloc::string::String::from("cpus:");
    for c in topo.cpus() {
        let _ = write!(line, " cpu{}=apic{}/node{}", c.cpu.0, c.apic_id, c.node.0);
    }
    kprintln!("{line}");
    let nodes = topo.nodes();
    kprintln!("numa: {} node(s); distance matrix:", nodes.len());
    for a in nodes {
        let mut row = alloc::format!("  node{}:", a.id.0);
        for b in nodes {
            let _ = write!(row, " {:3}", topo.distance(a.id, b.id).unwrap_or(0));
        }
        kprintln!("{row}");
    }
    for m in topo.memory() {
        kprintln!("numa: node{} memory {:#x}..{:#x}", m.node.0, m.base, m.end);
    }
}

/// The PAT layout for the boot record: the types of entries 0-7 joined by
/// commas, or `absent` when the CPU has no PAT.
fn pat_layout() -> alloc::string::String {
    if !cpu::pat_on() {
        return "absent".into();
    }
    let names: alloc::vec::Vec<&str> = cpu::PAT_LAYOUT.iter().map(|t| t.name()).collect();
    names.join(",")
}
