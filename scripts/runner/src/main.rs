//! `veridian-run`: the host tool behind `scripts/qemu.sh`, `scripts/iso.sh`,
//! `scripts/bench.sh` and `scripts/test.sh` (`veridian-run ci`). It boots the
//! kernel in QEMU (KVM when a probe shows it works, else TCG), builds GRUB
//! ISOs, runs the in-kernel tests in several machine configurations, runs
//! the CI steps, and turns every way a run can end into a clear pass/fail.
//!
//! Exit status: 0 pass, 1 failure (or error), 2 usage error, 3 a benchmark
//! regressed beyond `--fail-on-regression`.
//!
//! Serial output goes to stdout as it arrives; the runner's own messages go to
//! stderr prefixed `veridian-run:`, except `test-kernel`'s combined closing
//! line, which goes to stdout.

#![forbid(unsafe_code)]

mod bench;
mod bochs;
mod checks;
mod ci;
mod cli;
mod fault_report;
mod iso;
mod kernel_tests;
mod linux;
mod machine;
mod model;
mod probe;
mod process;
mod profile;
mod qemu_cmd;
mod serial;
mod size;
mod soak;
mod verdict;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::qemu_cmd::{HostTools, UsageError};
use crate::workspace::Workspace;

/// Exit status for a run that failed or could not happen.
const EXIT_FAILURE: u8 = 1;
/// Exit status for bad command-line usage (clap uses the same).
const EXIT_USAGE: u8 = 2;
/// Exit status of `bench --fail-on-regression` and `compare
/// --fail-on-regression` when a benchmark regressed.
const EXIT_REGRESSION: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workspace = Workspace::locate();
    let host = HostTools {
        qemu: &cli.qemu,
        kvm_device: &cli.kvm_device,
    };
    let outcome = match &cli.command {
        Command::Ci(args) => return ci::run(args, &workspace),
        Command::Qemu(args) => qemu_cmd::run(&host, args, &workspace),
        Command::TestKernel(args) => kernel_tests::run(&host, args, &workspace),
        Command::Iso(args) => build_iso(args, &workspace).map(|()| true),
        Command::Bench(args) => bench::run(&host, args, &workspace),
        Command::Compare(args) => bench::compare_command(args),
        Command::Soak(args) => soak::run(&host, args, &workspace),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_FAILURE),
        Err(err) if err.is::<bench::RegressionFound>() => {
            eprintln!("veridian-run: FAIL: {err}");
            ExitCode::from(EXIT_REGRESSION)
        }
        Err(err) if err.is::<UsageError>() || err.is::<iso::GrubCfgError>() => {
            eprintln!("veridian-run: usage error: {err}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(err) => {
            eprintln!("veridian-run: error: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `veridian-run iso`.
fn build_iso(args: &cli::IsoArgs, workspace: &Workspace) -> anyhow::Result<()> {
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| workspace.default_kernel());
    iso::build_iso(&iso::IsoRequest {
        kernel: &kernel,
        out: &args.out,
        cmdline: &args.cmdline,
        modules: &args.modules,
    })?;
    eprintln!(
        "veridian-run: wrote {} (GRUB, BIOS + UEFI, kernel command line '{}'{})",
        args.out.display(),
        args.cmdline,
        if args.modules.is_empty() {
            String::new()
        } else {
            format!(", {} module(s)", args.modules.len())
        }
    );
    Ok(())
}
