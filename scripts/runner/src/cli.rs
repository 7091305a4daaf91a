//! The `veridian-run` command line: subcommands, flags and their defaults.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::probe::AccelChoice;
use crate::size::MemSize;
use crate::verdict::Expectation;

/// Builds and boots the Veridian kernel: QEMU runs, GRUB ISOs, in-kernel tests.
///
/// Exit status: 0 pass, 1 failure, 2 usage error, 3 a regression beyond
/// `--fail-on-regression`.
#[derive(Debug, Parser)]
#[command(name = "veridian-run", version)]
pub struct Cli {
    /// The QEMU program to run.
    #[arg(
        long,
        global = true,
        default_value = "qemu-system-x86_64",
        value_name = "PROGRAM"
    )]
    pub qemu: String,
    /// The KVM device the probe opens (a test hook).
    #[arg(
        long,
        global = true,
        default_value = "/dev/kvm",
        value_name = "PATH",
        hide = true
    )]
    pub kvm_device: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot the kernel in QEMU (q35), echo its serial console and judge the run.
    Qemu(QemuArgs),
    /// Build a GRUB ISO that boots the kernel under BIOS and UEFI.
    Iso(IsoArgs),
    /// Run the in-kernel tests (run=test) in several machine configurations.
    TestKernel(TestKernelArgs),
    /// Run the benchmark suite and write a run directory with a dashboard.
    Bench(BenchArgs),
    /// Compare two finished runs (run directories or serial logs): verdicts,
    /// the conditions that differ, and optionally a regression gate.
    Compare(CompareArgs),
    /// Everything CI checks (behind scripts/test.sh); `ci --help` lists it.
    Ci(crate::ci::CiArgs),
    /// Run the soak: 1,024 processes of mixed, checked traffic for M
    /// minutes, a line per minute; fails on any anomaly.
    Soak(SoakArgs),
}

/// Flags of `veridian-run soak`.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Minutes of traffic (0: one 10-second period).
    #[arg(long, default_value_t = 2)]
    pub minutes: u64,
    /// Number of CPUs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus: u32,
    /// Worker processes (groups of four).
    #[arg(long, default_value_t = 1024)]
    pub processes: u64,
    /// Guest memory: <n>[K|M|G|T], no suffix means MiB.
    #[arg(long, default_value = "512M")]
    pub mem: MemSize,
    /// Accelerator.
    #[arg(long, value_enum, default_value_t = AccelChoice::Tcg)]
    pub accel: AccelChoice,
    /// Kill QEMU and fail after S seconds [default: the minutes + 15 minutes].
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// Also write the raw serial output to FILE.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Print every serial line (the minute lines then come as the kernel
    /// prints them, without the free frames).
    #[arg(long)]
    pub verbose: bool,
}

/// Flags of `veridian-run compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run (directory or serial log).
    #[arg(value_name = "BASELINE")]
    pub baseline: PathBuf,
    /// The candidate run (directory or serial log).
    #[arg(value_name = "CANDIDATE")]
    pub candidate: PathBuf,
    /// Exit with status 3 when a benchmark is slower than the baseline by
    /// more than PCT percent beyond noise.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub fail_on_regression: Option<f64>,
    /// Also write a comparison dashboard to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Parses a non-negative, finite percentage.
fn parse_percent(text: &str) -> Result<f64, String> {
    text.trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0)
        .ok_or_else(|| format!("'{text}' is not a percentage (a number >= 0, e.g. 5)"))
}

/// Flags of `veridian-run bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of CPUs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus: u32,
    /// Split CPUs and memory evenly into N NUMA nodes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub numa: Option<u32>,
    /// Guest memory: <n>[K|M|G|T].
    #[arg(long, default_value = "512M")]
    pub mem: MemSize,
    /// Accelerator (auto: KVM when the probe shows it usable and fast, else TCG).
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,
    /// `quick` (every benchmark, few samples: CI), `full` (many samples), or
    /// benchmark-name prefixes such as `ipc.call` (comma-separated; checked
    /// against the suite: `--list` prints it).
    #[arg(long, default_value = "quick")]
    pub suite: String,
    /// Print the suite's benchmarks (name and kind) and exit.
    #[arg(long)]
    pub list: bool,
    /// Boot and run the suite N times; each row reports min, median and
    /// spread [default: 1 under icount; under TCG or KVM the throughput rows
    /// of the selection run 3 times, the rest once].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: Option<u32>,
    /// Samples per benchmark [default: the suite's].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub samples: Option<u64>,
    /// Run directory [default: target/bench/<UTC time>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The baseline: an earlier run directory (or serial log); this run is
    /// the candidate.
    #[arg(long, value_name = "DIR")]
    pub compare: Option<PathBuf>,
    /// With --compare: exit with status 3 when a benchmark is slower than
    /// the baseline by more than PCT percent beyond noise.
    #[arg(long, value_name = "PCT", value_parser = parse_percent, requires = "compare")]
    pub fail_on_regression: Option<f64>,
    /// Kill QEMU and fail after S seconds.
    #[arg(long, value_name = "S", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Also echo the raw serial console.
    #[arg(long)]
    pub verbose: bool,
    /// Kernel ELF [default: <target>/x86_64-unknown-none/release/veridian].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Extra kernel command-line words, e.g. "ipc.fastpath=off" or "pi=off"
    /// (the run's @meta says which switches were on).
    #[arg(long, value_name = "WORDS", default_value = "")]
    pub cmdline: String,
    /// Run under the performance-model QEMU plugin (needs --accel icount):
    /// adds model.* counts per operation to the records, summary.json and
    /// dashboard (a model, not a measurement).
    #[arg(long)]
    pub model: bool,
    /// Cost table for model.cycles (`key cycles` lines; see
    /// model-costs.txt in a model run's directory) [default: built in].
    #[arg(long, value_name = "FILE", requires = "model")]
    pub model_costs: Option<PathBuf>,
    /// A modeled cache's geometry, `l1d=SIZE:WAYS`, `l2=...` or `llc=...`
    /// (SIZE with K or M) [defaults: l1d=32K:8 l2=1M:16 llc=8M:16, 64-byte
    /// lines]; repeatable.
    #[arg(long, value_name = "LEVEL=SIZE:WAYS")]
    pub model_cache: Vec<String>,
    /// Which accesses feed the modeled caches: `window` (from a benchmark
    /// window's opening) or `run` (the whole run: warmer, about 3x slower).
    #[arg(long, value_name = "WHEN", default_value = "window", value_parser = ["window", "run"])]
    pub model_warm: String,
    /// Profile one benchmark under the model: runs it (its name is the
    /// suite) and writes <BENCHMARK>.folded, .svg and .top.txt.
    #[arg(long, value_name = "BENCHMARK")]
    pub profile: Option<String>,
    /// Also boot the distribution's Linux kernel in the same machine (same
    /// --accel and --cpus; 1 CPU under icount) with a benchmark program as
    /// its init: linux.* rows and a Veridian / Linux ratio per
    /// like-for-like pair in the table, summary.json and dashboard.
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub baseline: Option<Baseline>,
    /// The Linux kernel image for --baseline linux [default: the newest
    /// /boot/vmlinuz-*; as root, linux-image-amd64 is installed with
    /// apt-get when there is none].
    #[arg(long, value_name = "PATH", requires = "baseline")]
    pub linux_kernel: Option<PathBuf>,
    /// A prebuilt Linux benchmark program for --baseline linux (static,
    /// x86_64-unknown-linux-musl) [default: built with cargo from
    /// scripts/linuxbench].
    #[arg(long, value_name = "PATH", requires = "baseline")]
    pub linux_program: Option<PathBuf>,
    /// Extra Linux command-line words for --baseline linux (e.g.
    /// "mitigations=off").
    #[arg(long, value_name = "WORDS", default_value = "", requires = "baseline")]
    pub linux_cmdline: String,
}

/// A system measured beside Veridian (`--baseline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Baseline {
    /// The distribution's Linux kernel (package linux-image-amd64).
    Linux,
}

/// How the kernel reaches the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BootChoice {
    /// `-kernel` through the ELF's PVH note; the command line goes in `-append`.
    Pvh,
    /// A GRUB ISO (built into target/veridian-run/) under `SeaBIOS`.
    IsoBios,
    /// A GRUB ISO (built into target/veridian-run/) under OVMF.
    IsoUefi,
}

/// Flags of `veridian-run qemu`.
#[derive(Debug, Args)]
pub struct QemuArgs {
    /// Number of CPUs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus: u32,
    /// Guest memory: <n>[K|M|G|T], no suffix means MiB.
    #[arg(long, default_value = "512M")]
    pub mem: MemSize,
    /// Split CPUs and memory evenly into N NUMA nodes (distances 10 local, 20 remote).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub numa: Option<u32>,
    /// Accelerator; `auto` uses KVM only if a probe boot under KVM works and is not
    /// slower than under TCG (the result is cached under target/).
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,
    /// Re-run the KVM probe instead of using its cached result.
    #[arg(long)]
    pub reprobe: bool,
    /// Boot path.
    #[arg(long, value_enum, default_value_t = BootChoice::Pvh)]
    pub boot: BootChoice,
    /// Kernel command line: space-separated key=value (run=boot, run=test, bench=<suite>, ...).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub cmdline: String,
    /// Wait for gdb on :1234 before the first instruction (-s -S); disables the timeout.
    #[arg(long)]
    pub gdb: bool,
    /// Kill QEMU and fail after S seconds [default: 600; none with --gdb].
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// Also write the raw serial output to FILE.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// A user-program ELF for the kernel (repeatable). Only ISO boots carry
    /// modules (as grub.cfg `module2` lines); under PVH the kernel embeds its
    /// programs and modules are ignored with a note.
    #[arg(long = "module", value_name = "PATH")]
    pub modules: Vec<PathBuf>,
    /// Kernel ELF [default: <target>/x86_64-unknown-none/release/veridian].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// What the serial console must show [default: test for run=test, boot for run=boot, else none].
    #[arg(long, value_enum)]
    pub expect: Option<Expectation>,
    /// The emulator: QEMU, or Bochs (a GRUB ISO under its BIOS, headless,
    /// serial to a file; x2APIC, TSC-deadline, PCID and INVPCID).
    #[arg(long, value_enum, default_value_t = Emulator::Qemu)]
    pub emulator: Emulator,
    /// Bochs CPU model (`bochs --help cpu` lists them; Bochs only).
    #[arg(long, value_name = "MODEL", default_value = crate::bochs::DEFAULT_CPU_MODEL)]
    pub cpu_model: String,
}

/// Which emulator `veridian-run qemu` boots the kernel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emulator {
    /// QEMU (q35; KVM, TCG or icount).
    Qemu,
    /// Bochs 2.7 (the distribution's `bochs` package).
    Bochs,
}

/// Flags of `veridian-run iso`.
#[derive(Debug, Args)]
pub struct IsoArgs {
    /// Where to write the ISO.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Kernel command line, written into grub.cfg's multiboot2 line.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub cmdline: String,
    /// A user-program ELF to add as a `module2` (repeatable).
    #[arg(long = "module", value_name = "PATH")]
    pub modules: Vec<PathBuf>,
    /// Kernel ELF [default: <target>/x86_64-unknown-none/release/veridian].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
}

/// Flags of `veridian-run test-kernel`.
#[derive(Debug, Args)]
pub struct TestKernelArgs {
    /// CPU counts to test, each without NUMA (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4", value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus: Vec<u32>,
    /// Further NUMA configurations as CPUS:NODES (comma-separated), e.g. 4:2.
    #[arg(long, value_delimiter = ',', value_name = "CPUS:NODES")]
    pub numa_configs: Vec<NumaConfig>,
    /// Guest memory per configuration.
    #[arg(long, default_value = "512M")]
    pub mem: MemSize,
    /// Accelerator (probed once for all configurations).
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,
    /// Re-run the KVM probe instead of using its cached result.
    #[arg(long)]
    pub reprobe: bool,
    /// Per-configuration timeout in seconds.
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Extra kernel command-line words after run=test (e.g. test.filter=ipc).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub cmdline: String,
    /// Kernel ELF [default: <target>/x86_64-unknown-none/release/veridian].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
}

/// A NUMA test configuration, `CPUS:NODES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumaConfig {
    pub cpus: u32,
    pub nodes: u32,
}

impl FromStr for NumaConfig {
    type Err = String;

    /// # Errors
    /// Anything but two positive integers around a colon.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let positive = |part: &str| part.trim().parse::<u32>().ok().filter(|&n| n > 0);
        text.split_once(':')
            .and_then(|(cpus, nodes)| {
                Some(Self {
                    cpus: positive(cpus)?,
                    nodes: positive(nodes)?,
                })
            })
            .ok_or_else(|| format!("'{text}' is not CPUS:NODES with positive numbers (e.g. 4:2)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("veridian-run").chain(args.iter().copied()))
    }

    #[test]
    fn qemu_defaults_match_the_contract() {
        let Command::Qemu(args) = parse(&["qemu"]).unwrap().command else {
            panic!("expected the qemu subcommand");
        };
        assert_eq!(args.cpus, 2);
        assert_eq!(args.mem.mib(), 512);
        assert_eq!(args.accel, AccelChoice::Auto);
        assert_eq!(args.boot, BootChoice::Pvh);
        assert_eq!((args.numa, args.timeout, args.expect), (None, None, None));
        assert!(args.cmdline.is_empty() && !args.gdb && args.modules.is_empty());
    }

    #[test]
    fn qemu_flags_parse() {
        let cli = parse(&[
            "qemu",
            "--cpus",
            "4",
            "--mem",
            "4G",
            "--numa",
            "2",
            "--accel",
            "icount",
            "--boot",
            "iso-uefi",
            "--cmdline",
            "run=test test.fault=pf",
            "--timeout",
            "30",
            "--module",
            "a",
            "--module",
            "b",
            "--expect",
            "none",
            "--log",
            "x.log",
        ])
        .unwrap();
        let Command::Qemu(args) = cli.command else {
            panic!("expected the qemu subcommand");
        };
        assert_eq!((args.cpus, args.mem.mib(), args.numa), (4, 4096, Some(2)));
        assert_eq!(
            (args.accel, args.boot),
            (AccelChoice::Icount, BootChoice::IsoUefi)
        );
        assert_eq!(args.cmdline, "run=test test.fault=pf");
        assert_eq!(args.modules, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(
            (args.timeout, args.expect),
            (Some(30), Some(Expectation::None))
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["qemu", "--mem", "12Q"][..],
            &["qemu", "--cpus", "0"],
            &["qemu", "--numa", "0"],
            &["qemu", "--timeout", "0"],
            &["test-kernel", "--numa-configs", "4-2"],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{bad:?}");
            assert_eq!(err.exit_code(), 2);
        }
        let err = parse(&["qemu", "--mem", "12Q"]).unwrap_err().to_string();
        assert!(err.contains("unknown size suffix 'Q'"), "{err}");
        assert_eq!(
            parse(&["qemu", "--accel", "hvf"]).unwrap_err().kind(),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            parse(&["qemu", "--frobnicate"]).unwrap_err().kind(),
            ErrorKind::UnknownArgument
        );
    }

    #[test]
    fn the_linux_baseline_flags_parse_and_need_baseline() {
        let Command::Bench(args) = parse(&[
            "bench",
            "--baseline",
            "linux",
            "--linux-kernel",
            "/boot/vmlinuz-x",
            "--linux-cmdline",
            "mitigations=off",
        ])
        .unwrap()
        .command
        else {
            panic!("expected the bench subcommand");
        };
        assert_eq!(args.baseline, Some(Baseline::Linux));
        assert_eq!(args.linux_kernel, Some(PathBuf::from("/boot/vmlinuz-x")));
        assert_eq!(args.linux_cmdline, "mitigations=off");
        let Command::Bench(plain) = parse(&["bench"]).unwrap().command else {
            panic!("expected the bench subcommand");
        };
        assert_eq!(plain.baseline, None);
        assert_eq!(
            parse(&["bench", "--baseline", "freebsd"])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            parse(&["bench", "--linux-kernel", "x"]).unwrap_err().kind(),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn test_kernel_lists_parse() {
        let Command::TestKernel(args) = parse(&[
            "test-kernel",
            "--cpus",
            "1,4",
            "--numa-configs",
            "4:2,8:4",
            "--accel",
            "tcg",
        ])
        .unwrap()
        .command
        else {
            panic!("expected the test-kernel subcommand");
        };
        assert_eq!(args.cpus, [1, 4]);
        assert_eq!(
            args.numa_configs,
            [
                NumaConfig { cpus: 4, nodes: 2 },
                NumaConfig { cpus: 8, nodes: 4 }
            ]
        );
        assert_eq!((args.accel, args.timeout), (AccelChoice::Tcg, 300));
        assert_eq!(
            "0:2".parse::<NumaConfig>().unwrap_err(),
            "'0:2' is not CPUS:NODES with positive numbers (e.g. 4:2)"
        );
    }
}
