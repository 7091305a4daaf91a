//! The user programs embedded in the kernel image, found by name.
//!
//! They are built from `kernel/user` by `build.rs`. Boot modules (PVH/GRUB
//! modules) would add programs without rebuilding the kernel; the embedded set
//! is what the tests and benchmarks use.

/// Name and ELF image of each embedded program.
static PROGRAMS: &[(&str, &[u8])] = &[
    (
        "init",
        include_bytes!(concat!(env!("OUT_DIR"), "/init.elf")),
    ),
    (
        "worker",
        include_bytes!(concat!(env!("OUT_DIR"), "/worker.elf")),
    ),
    (
        "ipctest",
        include_bytes!(concat!(env!("OUT_DIR"), "/ipctest.elf")),
    ),
    (
        "ipcbench",
        include_bytes!(concat!(env!("OUT_DIR"), "/ipcbench.elf")),
    ),
    (
        "ipcload",
        include_bytes!(concat!(env!("OUT_DIR"), "/ipcload.elf")),
    ),
    (
        "chantest",
        include_bytes!(concat!(env!("OUT_DIR"), "/chantest.elf")),
    ),
    (
        "fuzz",
        include_bytes!(concat!(env!("OUT_DIR"), "/fuzz.elf")),
    ),
    (
        "modelcal",
        include_bytes!(concat!(env!("OUT_DIR"), "/modelcal.elf")),
    ),
    (
        "soak",
        include_bytes!(concat!(env!("OUT_DIR"), "/soak.elf")),
    ),
];

/// The ELF image of program `name`.
pub fn find(name: &str) -> Option<&'static [u8]> {
    PROGRAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, image)| *image)
}
