//! `veridian-run ci`: everything CI checks, behind `scripts/test.sh` (which
//! installs the toolchain, QEMU and the ISO tools, builds the runner and
//! hands over to this).
//!
//! The steps ([`steps::STEPS`]) run one after another, each program in a
//! process group of its own ([`exec`]), and every step runs even when an
//! earlier one failed. Steps that run tests add their `N passed, M failed`
//! to the totals; a failing step that reports no failed test of its own
//! (fmt, clippy, a build, a crash before any result, a check on a run
//! directory) counts as one failure, so M > 0 exactly when something
//! failed. The steps marked `needs_kernel` run only when the runner and the
//! release kernel built; otherwise they are one failure together. Each
//! step's logs go to a temporary directory that is removed at the end.
//!
//! The end is a summary: the failed steps, then the combined
//! `N passed, M failed` as the last line of stdout. Exit status 0 when
//! everything passed, else 1; interrupted by SIGINT, SIGTERM or SIGHUP, the
//! running step's process group gets SIGTERM, the summary says so and the
//! status is 128 + the signal; 2 for a usage error.
//!
//! **Adding a step** is one entry in [`steps::STEPS`] (its name, whether
//! it needs the kernel, and its function) and a function
//! `fn(&mut Ctx) -> anyhow::Result<()>` in `steps.rs`: run programs with
//! [`Ctx::runner`] / [`Ctx::cargo`] and [`exec::run_ok`], put logs under
//! [`Ctx::log`], add test counts with [`Ctx::count`], and return an error
//! that says what is wrong. Pure checks on what a step read back go into
//! `checks.rs` with a host test.

mod checks;
mod exec;
mod steps;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use crate::workspace::Workspace;
use checks::Counts;

/// What `scripts/test.sh --help` and `veridian-run ci --help` print.
const HELP: &str = "\
Usage: scripts/test.sh [--help] [--only TEXT]
       veridian-run ci [--help] [--only TEXT]

Runs everything CI checks: cargo fmt, clippy (host crates, the kernel, the
user programs), the host unit/property tests, then the in-kernel tests in
QEMU at 1, 2, 4 and 8 CPUs and a NUMA layout (TCG, icount, fast path off,
debug build, without XSAVE), boots at 64M and 4G, a deliberate fault, the
quick benchmark suite, icount repeatability, the dashboard in headless
Chromium and GRUB ISO boots. It takes 12+ minutes of two cores.

Every step runs even when an earlier one fails. The last line is the
combined \"N passed, M failed\" (host + kernel tests).

Exit status: 0 everything passed; 1 something failed; 2 usage error;
128+N interrupted by signal N (the summary says so).

--only TEXT runs only the steps whose name contains TEXT (the kernel steps
then boot the kernel already built). The steps are listed in
scripts/runner/src/ci/steps.rs. For a targeted run use the runner directly,
e.g.
  cargo test -p dashboards
  target/debug/veridian-run test-kernel --cpus 2 --accel tcg --cmdline test.filter=kipc
";

/// Flags of `veridian-run ci` (`--help`, `--only TEXT`), read here so that
/// the help and the usage errors are `scripts/test.sh`'s.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CiArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

/// What a step needs before it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing.
    Nothing,
    /// The runner and the release kernel built.
    Kernel,
}

/// One CI step.
pub struct Step {
    /// The name printed before it runs and in the summary.
    pub name: &'static str,
    pub needs: Needs,
    /// The step; an error is its failure (with what went wrong).
    pub run: fn(&mut Ctx) -> anyhow::Result<()>,
}

/// What the steps share: where things are, the logs, and the test counts
/// of the step running now.
pub struct Ctx {
    /// The repository root (the working directory of every program).
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target: PathBuf,
    /// The runner the `build runner` step builds (the steps call its other
    /// subcommands; a rebuild during the run replaces it on disk, which a
    /// path taken from `current_exe` would no longer name).
    pub runner_exe: PathBuf,
    logs: tempfile::TempDir,
    step_counts: Counts,
    /// Whether `build runner` and `build kernel` passed.
    runner_built: bool,
    kernel_built: bool,
}

/// The kernel's build target.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

impl Ctx {
    /// A log file path for this run (in the temporary log directory).
    #[must_use]
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs.path().join(name)
    }

    /// Adds a step's test counts to the totals.
    pub fn count(&mut self, counts: Counts) {
        self.step_counts = self.step_counts.plus(counts);
    }

    /// `veridian-run ARGS...` in the repository root.
    #[must_use]
    pub fn runner(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.runner_exe);
        command.args(args).current_dir(&self.root);
        command
    }

    /// `cargo ARGS...` in the repository root.
    #[must_use]
    pub fn cargo(&self, args: &[&str]) -> Command {
        let mut command = Command::new("cargo");
        command.args(args).current_dir(&self.root);
        command
    }

    /// The release kernel ELF.
    #[must_use]
    pub fn kernel_elf(&self) -> PathBuf {
        self.target
            .join(KERNEL_TARGET)
            .join("release")
            .join("veridian")
    }

    /// A path under the target directory.
    #[must_use]
    pub fn in_target(&self, relative: &str) -> PathBuf {
        self.target.join(relative)
    }
}

/// A progress line on stderr.
pub fn say(message: impl std::fmt::Display) {
    eprintln!("ci: {message}");
}

/// `veridian-run ci`.
#[must_use]
pub fn run(args: &CiArgs, workspace: &Workspace) -> ExitCode {
    let only = match parse_args(&args.args) {
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run { only }) => only,
        Err(message) => {
            eprintln!("test.sh: {message} (--help explains)");
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let mut summary = Summary::default();
    if let Err(err) = run_steps(workspace, only.as_deref(), &mut summary) {
        summary.fail(format!("ci aborted: {err:#}"));
    }
    summary.finish()
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Help,
    /// Run the steps (those whose name contains `only`, if given).
    Run {
        only: Option<String>,
    },
}

/// Reads `--help` and `--only TEXT`; anything else is a usage error.
fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut only = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--only" => match rest.next() {
                Some(text) if !text.is_empty() => only = Some(text.clone()),
                _ => return Err("--only needs the text of a step name".to_owned()),
            },
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(Parsed::Run { only })
}

/// Runs every step (or those whose name contains `only`), filling `summary`.
fn run_steps(
    workspace: &Workspace,
    only: Option<&str>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    exec::watch_signals()?;
    let mut ctx = Ctx {
        root: workspace.root.clone(),
        target: workspace.target.clone(),
        runner_exe: workspace.target.join("debug").join("veridian-run"),
        logs: tempfile::Builder::new().prefix("veridian-ci-").tempdir()?,
        step_counts: Counts::default(),
        runner_built: false,
        kernel_built: false,
    };
    let mut kernel_gate: Option<bool> = None;
    for step in steps::STEPS {
        if only.is_some_and(|text| !step.name.contains(text)) {
            continue;
        }
        if step.needs == Needs::Kernel {
            let gate = *kernel_gate.get_or_insert_with(|| {
                // With --only, the builds may not have run: the kernel must exist.
                let built = only.is_some() || (ctx.runner_built && ctx.kernel_built);
                let open = built && ctx.kernel_elf().is_file();
                if !open {
                    summary.fail(format!(
                        "kernel tests (not run: the runner or the kernel at {} did not build)",
                        ctx.kernel_elf().display()
                    ));
                }
                open
            });
            if !gate {
                continue;
            }
        }
        let passed = run_step(&mut ctx, step, summary);
        if let Some(signal) = exec::interrupted() {
            summary.interrupted = Some(signal);
            summary.fail(format!("test.sh interrupted by {signal}"));
            return Ok(());
        }
        match step.name {
            steps::BUILD_RUNNER => ctx.runner_built = passed,
            steps::BUILD_KERNEL => ctx.kernel_built = passed,
            _ => {}
        }
    }
    Ok(())
}

/// Runs one step and adds what it did to `summary`; true when it passed.
fn run_step(ctx: &mut Ctx, step: &Step, summary: &mut Summary) -> bool {
    say(format_args!("==== {}", step.name));
    let started = std::time::Instant::now();
    ctx.step_counts = Counts::default();
    let outcome = (step.run)(ctx);
    if exec::interrupted().is_some() {
        // The step was cut short: the summary names the signal instead.
        return false;
    }
    let counts = ctx.step_counts;
    summary.totals = summary.totals.plus(counts);
    let seconds = started.elapsed().as_secs();
    match outcome {
        Ok(()) => {
            say(format_args!(
                "---- {}: ok ({} passed, {} failed, {seconds} s)",
                step.name, counts.passed, counts.failed
            ));
            true
        }
        Err(err) => {
            say(format_args!("{}: {err:#}", step.name));
            say(format_args!(
                "---- {}: FAILED ({} passed, {} failed, {seconds} s)",
                step.name, counts.passed, counts.failed
            ));
            summary.failed_steps.push(step.name.to_owned());
            if counts.failed == 0 {
                summary.totals.failed += 1;
            }
            false
        }
    }
}

/// The run's outcome so far.
#[derive(Debug, Default)]
struct Summary {
    failed_steps: Vec<String>,
    totals: Counts,
    interrupted: Option<nix::sys::signal::Signal>,
}

impl Summary {
    /// Records a failure that is not a step's own (one failure).
    fn fail(&mut self, what: String) {
        self.failed_steps.push(what);
        self.totals.failed += 1;
    }

    /// Prints the summary and gives the exit status.
    fn finish(self) -> ExitCode {
        say("---- summary ----");
        if let Some(signal) = self.interrupted {
            say(format_args!(
                "INTERRUPTED by {signal}: the steps after it did not run; these totals are partial"
            ));
        }
        for step in &self.failed_steps {
            say(format_args!("FAILED: {step}"));
        }
        if self.failed_steps.is_empty() {
            say("all steps passed");
        }
        println!(
            "{} passed, {} failed",
            self.totals.passed, self.totals.failed
        );
        if let Some(signal) = self.interrupted {
            return ExitCode::from(128_u8.saturating_add(u8::try_from(signal as i32).unwrap_or(0)));
        }
        if self.failed_steps.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(crate::EXIT_FAILURE)
        }
    }
}

/// True when `path` is a non-empty file.
fn non_empty(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.len() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(&args.iter().map(|&a| a.to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_are_help_only_or_errors() {
        assert_eq!(parse(&[]), Ok(Parsed::Run { only: None }));
        assert_eq!(parse(&["--help"]), Ok(Parsed::Help));
        assert_eq!(parse(&["-h", "--bogus"]), Ok(Parsed::Help));
        assert_eq!(
            parse(&["--only", "ISO"]),
            Ok(Parsed::Run {
                only: Some("ISO".to_owned())
            })
        );
        assert_eq!(
            parse(&["--frobnicate"]).unwrap_err(),
            "unknown argument --frobnicate"
        );
        assert!(parse(&["--only"]).is_err());
        assert!(parse(&["--only", ""]).is_err());
    }
}
