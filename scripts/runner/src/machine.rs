//! The QEMU machine the kernel boots on, and the exact argv that describes it:
//! q35, CPU count, memory, an optional even NUMA split, accelerator, boot
//! medium (PVH `-kernel`, GRUB ISO under `SeaBIOS` or OVMF) and the kernel's
//! exit/serial plumbing.
//!
//! Building the argv is pure so every accelerator/boot/NUMA combination is
//! unit tested without starting QEMU.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::size::MemSize;

/// Distance QEMU/ACPI SLIT uses for a node to itself.
pub const NUMA_LOCAL_DISTANCE: u8 = 10;
/// Distance the runner gives every pair of different nodes.
pub const NUMA_REMOTE_DISTANCE: u8 = 20;
/// The `isa-debug-exit` device the kernel ends QEMU through.
pub const DEBUG_EXIT_DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// A resolved accelerator (the `auto` choice is made before this point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accel {
    /// TCG software emulation with `-cpu max`.
    Tcg,
    /// TCG with `-icount shift=0`: the TSC counts instructions, deterministic.
    Icount,
    /// KVM with the CPU model the probe found to work (`host`, or
    /// `host,-arch-capabilities` on hosts where MSR 0x10a cannot be set).
    Kvm { cpu_model: String },
}

/// OVMF firmware for UEFI boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UefiFirmware {
    /// Separate code (read-only) and variable store (a writable copy).
    Split { code: PathBuf, vars: PathBuf },
    /// One combined image, loaded with `-bios`.
    Combined(PathBuf),
}

/// What QEMU boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootMedium {
    /// The kernel ELF through its PVH note (`-kernel`, command line via `-append`).
    Pvh { kernel: PathBuf },
    /// A GRUB ISO under `SeaBIOS`.
    IsoBios { iso: PathBuf },
    /// A GRUB ISO under OVMF.
    IsoUefi {
        iso: PathBuf,
        firmware: UefiFirmware,
    },
}

/// One NUMA node of an even split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumaNode {
    pub id: u32,
    pub first_cpu: u32,
    pub last_cpu: u32,
    pub mem: MemSize,
}

/// Everything that decides the QEMU command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    pub cpus: u32,
    pub mem: MemSize,
    /// NUMA node count; `None` for a machine without NUMA description.
    pub numa_nodes: Option<u32>,
    pub accel: Accel,
    pub boot: BootMedium,
    /// Kernel command line; for ISO boots it is already in grub.cfg.
    pub cmdline: String,
    /// Wait for a debugger on :1234 before the first instruction.
    pub gdb: bool,
}

/// Why a machine cannot be described to QEMU.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MachineError {
    #[error("--cpus must be at least 1")]
    NoCpus,
    #[error("--cpus {0}: the kernel brings up at most {max} CPUs", max = perf::suite::MAX_CPUS)]
    TooManyCpus(u32),
    #[error("--numa must be at least 1 node")]
    NoNumaNodes,
    #[error("{cpus} CPUs do not divide evenly into {nodes} NUMA nodes")]
    CpusNotDivisible { cpus: u32, nodes: u32 },
    #[error("{mem} of memory does not divide evenly into {nodes} NUMA nodes of whole MiB")]
    MemNotDivisible { mem: MemSize, nodes: u32 },
    #[error("path {0} is not valid UTF-8; QEMU options need text paths")]
    NonUtf8Path(PathBuf),
}

/// Splits `cpus` and `mem` evenly over `nodes` NUMA nodes.
///
/// # Errors
/// Zero CPUs or nodes, or CPUs/memory (in whole MiB) that do not divide evenly.
pub fn numa_layout(cpus: u32, mem: MemSize, nodes: u32) -> Result<Vec<NumaNode>, MachineError> {
    if cpus == 0 {
        return Err(MachineError::NoCpus);
    }
    if nodes == 0 {
        return Err(MachineError::NoNumaNodes);
    }
    if !cpus.is_multiple_of(nodes) {
        return Err(MachineError::CpusNotDivisible { cpus, nodes });
    }
    let node_mem = mem
        .mib()
        .is_multiple_of(u64::from(nodes))
        .then(|| MemSize::from_mib(mem.mib() / u64::from(nodes)))
        .flatten()
        .ok_or(MachineError::MemNotDivisible { mem, nodes })?;
    let cpus_per_node = cpus / nodes;
    Ok((0..nodes)
        .map(|id| NumaNode {
            id,
            first_cpu: id * cpus_per_node,
            last_cpu: (id + 1) * cpus_per_node - 1,
            mem: node_mem,
        })
        .collect())
}

/// Checks a machine description without building anything.
///
/// # Errors
/// As [`numa_layout`].
pub fn validate(cpus: u32, mem: MemSize, numa_nodes: Option<u32>) -> Result<(), MachineError> {
    if cpus == 0 {
        return Err(MachineError::NoCpus);
    }
    if cpus > perf::suite::MAX_CPUS {
        return Err(MachineError::TooManyCpus(cpus));
    }
    match numa_nodes {
        Some(nodes) => numa_layout(cpus, mem, nodes).map(drop),
        None => Ok(()),
    }
}

/// The QEMU argv (without the program name) for `spec`.
///
/// # Errors
/// An invalid CPU/NUMA split or a non-UTF-8 path.
pub fn qemu_args(spec: &MachineSpec) -> Result<Vec<String>, MachineError> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));

    push(&["-machine", "q35"]);
    match &spec.accel {
        Accel::Tcg => push(&["-accel", "tcg", "-cpu", "max"]),
        Accel::Icount => push(&[
            "-accel",
            "tcg",
            "-icount",
            "shift=0,align=off",
            "-cpu",
            "max",
        ]),
        Accel::Kvm { cpu_model } => push(&["-accel", "kvm", "-cpu", cpu_model]),
    }
    match spec.numa_nodes {
        None => {
            validate(spec.cpus, spec.mem, None)?;
            push(&["-smp", &spec.cpus.to_string()]);
        }
        Some(nodes) => {
            let layout = numa_layout(spec.cpus, spec.mem, nodes)?;
            // One socket per node so no socket straddles two nodes.
            let smp = format!(
                "{},sockets={nodes},cores={},threads=1",
                spec.cpus,
                spec.cpus / nodes
            );
            push(&["-smp", &smp]);
            for node in &layout {
                let cpus = if node.first_cpu == node.last_cpu {
                    node.first_cpu.to_string()
                } else {
                    format!("{}-{}", node.first_cpu, node.last_cpu)
                };
                push(&[
                    "-object",
                    &format!("memory-backend-ram,size={},id=m{}", node.mem, node.id),
                    "-numa",
                    &format!("node,nodeid={},cpus={cpus},memdev=m{}", node.id, node.id),
                ]);
            }
            for src in 0..nodes {
                for dst in 0..nodes {
                    let val = if src == dst {
                        NUMA_LOCAL_DISTANCE
                    } else {
                        NUMA_REMOTE_DISTANCE
                    };
                    push(&["-numa", &format!("dist,src={src},dst={dst},val={val}")]);
                }
            }
        }
    }
    push(&["-m", &spec.mem.to_string()]);
    push(&[
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-device",
        DEBUG_EXIT_DEVICE,
    ]);
    match &spec.boot {
        BootMedium::Pvh { kernel } => {
            push(&["-kernel", utf8(kernel)?]);
            if !spec.cmdline.trim().is_empty() {
                push(&["-append", &spec.cmdline]);
            }
        }
        BootMedium::IsoBios { iso } => push(&["-cdrom", utf8(iso)?, "-boot", "d"]),
        BootMedium::IsoUefi { iso, firmware } => {
            match firmware {
                UefiFirmware::Split { code, vars } => push(&[
                    "-drive",
                    &format!(
                        "if=pflash,format=raw,unit=0,readonly=on,file={}",
                        escape_option_value(utf8(code)?)
                    ),
                    "-drive",
                    &format!(
                        "if=pflash,format=raw,unit=1,file={}",
                        escape_option_value(utf8(vars)?)
                    ),
                ]),
                UefiFirmware::Combined(image) => push(&["-bios", utf8(image)?]),
            }
            push(&["-cdrom", utf8(iso)?, "-boot", "d"]);
        }
    }
    if spec.gdb {
        push(&["-s", "-S"]);
    }
    Ok(args)
}

fn utf8(path: &Path) -> Result<&str, MachineError> {
    path.to_str()
        .ok_or_else(|| MachineError::NonUtf8Path(path.to_owned()))
}

/// Escapes a value inside a QEMU `key=value,...` option list (commas double).
#[must_use]
pub fn escape_option_value(value: &str) -> String {
    value.replace(',', ",,")
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
