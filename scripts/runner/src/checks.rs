//! Input checks made before anything boots: the benchmark selection against
//! the suite's table (`perf::suite`, the one the kernel runs), the kernel
//! command line's `run=` and `bench=` words, and the guest memory the kernel
//! image needs. Each failure is a [`UsageError`] that says what to use instead.

use std::path::Path;

use perf::suite::{self, Measures};

use crate::qemu_cmd::UsageError;
use crate::size::MemSize;

/// What the runner requires above the kernel image's end (the highest byte
/// its ELF loads, `.bss` included) for page tables, per-CPU stacks and the
/// user programs' address spaces. Measured with the release kernel (image
/// end 26 MiB): the boot record appears down to 26 MiB, where the frame
/// allocator reports 0 MiB free; benchmarks run at 34 MiB (8 MiB above).
pub const MEMORY_ABOVE_IMAGE_MIB: u64 = 8;

/// The `run=` modes the kernel knows (`kernel/src/cmdline.rs`).
pub const RUN_MODES: [&str; 4] = ["boot", "test", "report", "idle"];

/// The benchmark table as `--list` prints it: one benchmark a line, name
/// and kind (scaling entries say which records they print).
#[must_use]
pub fn benchmark_list() -> String {
    let mut out = String::new();
    for bench in suite::SUITE {
        let kind = match bench.measures {
            Measures::Latency => "latency",
            Measures::Throughput => "throughput",
        };
        let note = if bench.per_cpu_count {
            format!("  (prints {}.cpus<N> for N = 1..CPUs)", bench.name)
        } else {
            String::new()
        };
        out.push_str(&format!("{:<36} {kind}{note}\n", bench.name));
    }
    out
}

/// Checks a `--suite` value (`quick`, `full`, `all`, or comma-separated
/// name prefixes) against the table.
///
/// # Errors
/// A prefix that selects no benchmark.
pub fn check_suite(suite_value: &str) -> Result<(), UsageError> {
    match suite::first_unmatched(suite_value) {
        None => Ok(()),
        Some(prefix) => Err(UsageError(format!(
            "--suite {suite_value:?}: {} selects no benchmark; use quick, full, all or name \
             prefixes (comma-separated) of: {} (--list prints them)",
            if prefix.is_empty() {
                "an empty prefix".to_owned()
            } else {
                format!("{prefix:?}")
            },
            suite::SUITE
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Checks the `run=` and `bench=` words of a kernel command line.
///
/// # Errors
/// A `run=` mode the kernel does not know, or a `bench=` selection that
/// selects nothing.
pub fn check_cmdline(cmdline: &str) -> Result<(), UsageError> {
    for word in cmdline.split_whitespace() {
        if let Some(mode) = word.strip_prefix("run=")
            && !RUN_MODES.contains(&mode)
        {
            return Err(UsageError(format!(
                "--cmdline: run={mode} is not a mode of the kernel (it would idle forever); \
                 use run={}, or bench=<suite>",
                RUN_MODES.join(", run=")
            )));
        }
        if let Some(selection) = word.strip_prefix("bench=") {
            check_suite(selection).map_err(|e| UsageError(format!("--cmdline bench=: {}", e.0)))?;
        }
    }
    Ok(())
}

/// The least guest memory, in MiB, for the kernel ELF at `kernel`: its
/// image's end rounded up, plus [`MEMORY_ABOVE_IMAGE_MIB`]. `None` when the
/// file is not an ELF with loadable segments (QEMU then says why).
#[must_use]
pub fn minimum_memory_mib(kernel: &Path) -> Option<u64> {
    let bytes = std::fs::read(kernel).ok()?;
    let file = elf::ElfBytes::<elf::endian::AnyEndian>::minimal_parse(&bytes).ok()?;
    let end = file
        .segments()?
        .iter()
        .filter(|ph| ph.p_type == elf::abi::PT_LOAD)
        .map(|ph| ph.p_paddr.saturating_add(ph.p_memsz))
        .max()?;
    Some(end.div_ceil(1 << 20) + MEMORY_ABOVE_IMAGE_MIB)
}

/// Checks `--mem` against what the kernel image needs.
///
/// # Errors
/// Less memory than [`minimum_memory_mib`].
pub fn check_memory(mem: MemSize, kernel: &Path) -> Result<(), UsageError> {
    match minimum_memory_mib(kernel) {
        Some(min) if mem.mib() < min => Err(UsageError(format!(
            "--mem {mem} is too small for the kernel at {}: it needs at least {min}M \
             (its image ends at {}M, plus {MEMORY_ABOVE_IMAGE_MIB}M for page tables, stacks \
             and user programs)",
            kernel.display(),
            min - MEMORY_ABOVE_IMAGE_MIB
        ))),
        _ => Ok(()),
    }
}

/// The signal QEMU names when it exits by itself after catching one
/// (`qemu-system-x86_64: terminating on signal 15 from pid 123 (kill)`):
/// such a run exits with status 0, which without this would read as a
/// guest reset.
#[must_use]
pub fn caught_signal(stderr_tail: &[String]) -> Option<i32> {
    stderr_tail.iter().rev().find_map(|line| {
        let rest = line.split("terminating on signal ").nth(1)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_modes_are_the_kernels() {
        // Every `"<mode>" => cfg.run = RunMode::...` arm of the kernel's
        // command-line parser, and nothing else.
        let parser = include_str!("../../../kernel/src/cmdline.rs");
        let kernel: Vec<&str> = parser
            .lines()
            .filter(|line| line.contains("=> cfg.run = RunMode::"))
            .filter(|line| !line.contains("bench"))
            .filter_map(|line| line.trim().strip_prefix('"')?.split('"').next())
            .collect();
        let mut ours = RUN_MODES.to_vec();
        let mut kernel_sorted = kernel.clone();
        ours.sort_unstable();
        kernel_sorted.sort_unstable();
        assert_eq!(ours, kernel_sorted, "kernel/src/cmdline.rs has {kernel:?}");
    }

    #[test]
    fn suites_are_checked_against_the_table() {
        assert!(check_suite("quick").is_ok());
        assert!(check_suite("ipc.call").is_ok());
        assert!(check_suite("syscall,cap.lookup").is_ok());
        let err = check_suite("nosuch").unwrap_err().0;
        assert!(err.contains("\"nosuch\" selects no benchmark"), "{err}");
        assert!(
            err.contains("syscall.null") && err.contains("--list"),
            "{err}"
        );
        let err = check_suite("").unwrap_err().0;
        assert!(err.contains("an empty prefix"), "{err}");
    }

    #[test]
    fn cmdline_run_and_bench_words_are_checked() {
        assert!(check_cmdline("run=test test.filter=ipc").is_ok());
        assert!(check_cmdline("bench=ipc.call accel=tcg").is_ok());
        assert!(check_cmdline("").is_ok());
        let err = check_cmdline("run=nosuch").unwrap_err().0;
        assert!(err.contains("run=nosuch is not a mode"), "{err}");
        let err = check_cmdline("bench=nosuch").unwrap_err().0;
        assert!(
            err.contains("bench=") && err.contains("\"nosuch\""),
            "{err}"
        );
    }

    #[test]
    fn the_list_names_every_benchmark_with_its_kind() {
        let list = benchmark_list();
        assert_eq!(list.lines().count(), suite::SUITE.len());
        assert!(
            list.lines()
                .any(|l| l.starts_with("syscall.null") && l.ends_with("latency"))
        );
        assert!(list.contains("scale.call.cpus<N>"));
    }

    #[test]
    fn qemu_signal_messages_are_read() {
        let tail = [
            "something".to_owned(),
            "qemu-system-x86_64: terminating on signal 15 from pid 4242 (kill)".to_owned(),
        ];
        assert_eq!(caught_signal(&tail), Some(15));
        assert_eq!(
            caught_signal(&["qemu: terminating on signal 2".to_owned()]),
            Some(2)
        );
        assert_eq!(caught_signal(&["terminating on signal x".to_owned()]), None);
        assert_eq!(caught_signal(&[]), None);
    }

    #[test]
    fn memory_minimum_comes_from_the_loadable_segments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, elf_with_load(0x10_0000, 0x0300_0000)).unwrap();
        // Image ends at 1 MiB + 48 MiB.
        assert_eq!(minimum_memory_mib(&path), Some(49 + MEMORY_ABOVE_IMAGE_MIB));
        let small = MemSize::from_mib(16).unwrap();
        let err = check_memory(small, &path).unwrap_err().0;
        assert!(err.contains("--mem 16M is too small"), "{err}");
        assert!(
            err.contains(&format!("at least {}M", 49 + MEMORY_ABOVE_IMAGE_MIB)),
            "{err}"
        );
        assert!(check_memory(MemSize::from_mib(64).unwrap(), &path).is_ok());
        std::fs::write(&path, b"not an ELF").unwrap();
        assert_eq!(minimum_memory_mib(&path), None);
        assert!(check_memory(small, &path).is_ok());
    }

    /// A minimal little-endian ELF64 with one `PT_LOAD` at `paddr` of `memsz`.
    pub(crate) fn elf_with_load(paddr: u64, memsz: u64) -> Vec<u8> {
        let mut elf = Vec::new();
        elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
        elf.extend_from_slice(&[0; 8]);
        elf.extend_from_slice(&2u16.to_le_bytes()); // e_type EXEC
        elf.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine x86_64
        elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
        elf.extend_from_slice(&paddr.to_le_bytes()); // e_entry
        elf.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        elf.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
        elf.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
        elf.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        elf.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
        elf.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
        elf.extend_from_slice(&1u32.to_le_bytes()); // p_type PT_LOAD
        elf.extend_from_slice(&7u32.to_le_bytes()); // p_flags
        elf.extend_from_slice(&0u64.to_le_bytes()); // p_offset
        elf.extend_from_slice(&paddr.to_le_bytes()); // p_vaddr
        elf.extend_from_slice(&paddr.to_le_bytes()); // p_paddr
        elf.extend_from_slice(&0u64.to_le_bytes()); // p_filesz
        elf.extend_from_slice(&memsz.to_le_bytes()); // p_memsz
        elf.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
        elf
    }
}
