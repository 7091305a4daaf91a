//! `veridian-run test-kernel`: boot `run=test` in each machine configuration,
//! one result line per configuration, and a combined `N passed, M failed`.
//!
//! A configuration that fails without a closing line of its own (crash,
//! timeout, triple fault), or whose closing line says 0 failed while the run
//! failed, counts as one failed test so the combined line never hides it.

use std::fmt;
use std::time::Duration;

use crate::cli::TestKernelArgs;
use crate::machine::{self, BootMedium, MachineSpec};
use crate::probe;
use crate::qemu_cmd::{self, HostTools, UsageError};
use crate::serial::{SerialScan, TestTally};
use crate::size::MemSize;
use crate::verdict::{Expectation, Verdict};
use crate::workspace::Workspace;

/// One machine configuration the kernel tests run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestConfig {
    pub cpus: u32,
    pub numa_nodes: Option<u32>,
}

impl fmt::Display for TestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpus={}", self.cpus)?;
        if let Some(nodes) = self.numa_nodes {
            write!(f, " numa={nodes}")?;
        }
        Ok(())
    }
}

/// The configurations to run: plain CPU counts, then NUMA layouts, each
/// checked against `mem`.
///
/// # Errors
/// A configuration whose CPUs or memory do not split over its nodes.
pub fn configs(args: &TestKernelArgs) -> Result<Vec<TestConfig>, UsageError> {
    let plain = args.cpus.iter().map(|&cpus| TestConfig {
        cpus,
        numa_nodes: None,
    });
    let numa = args.numa_configs.iter().map(|numa| TestConfig {
        cpus: numa.cpus,
        numa_nodes: Some(numa.nodes),
    });
    plain
        .chain(numa)
        .map(|config| {
            machine::validate(config.cpus, args.mem, config.numa_nodes)
                .map(|()| config)
                .map_err(|err| UsageError(format!("configuration {config}: {err}")))
        })
        .collect()
}

/// The tally a configuration contributes to the combined line.
#[must_use]
pub fn config_tally(verdict: &Verdict, scan: &SerialScan) -> TestTally {
    let mut tally = scan.closing.unwrap_or_default();
    if !verdict.passed() && tally.failed == 0 {
        tally.failed = 1;
    }
    tally
}

/// The kernel command line for the tests, with the caller's extra words.
#[must_use]
pub fn test_cmdline(extra: &str) -> String {
    std::iter::once("run=test")
        .chain(extra.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `veridian-run test-kernel`; `Ok(true)` when every configuration passed.
///
/// # Errors
/// Usage errors, a missing kernel, or QEMU not starting.
pub fn run(
    host: &HostTools<'_>,
    args: &TestKernelArgs,
    workspace: &Workspace,
) -> anyhow::Result<bool> {
    let configs = configs(args)?;
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| workspace.default_kernel());
    qemu_cmd::require_kernel(&kernel)?;
    crate::checks::check_cmdline(&args.cmdline)?;
    crate::checks::check_memory(args.mem, &kernel)?;
    let accel = probe::choose_accel(host, workspace, &kernel, args.accel, args.reprobe)?;
    let cmdline = crate::bench::with_accel_word(&test_cmdline(&args.cmdline), &accel);

    let mut total = TestTally::default();
    let mut summaries = Vec::new();
    let mut failed_tests = Vec::new();
    for config in &configs {
        let spec = MachineSpec {
            cpus: config.cpus,
            mem: args.mem,
            numa_nodes: config.numa_nodes,
            accel: accel.clone(),
            boot: BootMedium::Pvh {
                kernel: kernel.clone(),
            },
            cmdline: cmdline.clone(),
            gdb: false,
        };
        eprintln!("veridian-run: test-kernel {config}: starting");
        let (run, verdict) = qemu_cmd::boot_and_judge(
            host.qemu,
            &spec,
            Some(Duration::from_secs(args.timeout)),
            None,
            false,
            Expectation::Test,
        )?;
        crate::fault_report::print(&run.scan.fault, &kernel);
        let tally = config_tally(&verdict, &run.scan);
        total.add(tally);
        failed_tests.extend(
            run.scan
                .failed_tests
                .iter()
                .map(|line| format!("[{config}] {line}")),
        );
        summaries.push(config_line(*config, args.mem, tally, &verdict, run.elapsed));
        eprintln!("{}", summaries.last().map_or("", String::as_str));
    }

    eprintln!("veridian-run: test-kernel summary:");
    for line in summaries.iter().chain(&failed_tests) {
        eprintln!("{line}");
    }
    println!("{total}");
    Ok(total.failed == 0)
}

fn config_line(
    config: TestConfig,
    mem: MemSize,
    tally: TestTally,
    verdict: &Verdict,
    took: Duration,
) -> String {
    let secs = took.as_secs_f64();
    if verdict.passed() {
        format!("veridian-run: test-kernel {config} mem={mem}: ok, {tally} ({secs:.1}s)")
    } else {
        format!(
            "veridian-run: test-kernel {config} mem={mem}: FAILED, {tally} ({secs:.1}s): {}",
            verdict.failures.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::NumaConfig;

    fn args(cpus: &[u32], numa: &[(u32, u32)], mem: &str) -> TestKernelArgs {
        TestKernelArgs {
            cpus: cpus.to_vec(),
            numa_configs: numa
                .iter()
                .map(|&(cpus, nodes)| NumaConfig { cpus, nodes })
                .collect(),
            mem: mem.parse().expect("test sizes are valid"),
            accel: probe::AccelChoice::Tcg,
            reprobe: false,
            timeout: 300,
            cmdline: String::new(),
            kernel: None,
        }
    }

    #[test]
    fn configs_list_plain_then_numa_and_reject_uneven_splits() {
        assert_eq!(
            configs(&args(&[1, 4], &[(4, 2)], "512M")).unwrap(),
            [
                TestConfig {
                    cpus: 1,
                    numa_nodes: None
                },
                TestConfig {
                    cpus: 4,
                    numa_nodes: None
                },
                TestConfig {
                    cpus: 4,
                    numa_nodes: Some(2)
                },
            ]
        );
        let err = configs(&args(&[1], &[(3, 2)], "512M")).unwrap_err();
        assert_eq!(
            err.0,
            "configuration cpus=3 numa=2: 3 CPUs do not divide evenly into 2 NUMA nodes"
        );
    }

    #[test]
    fn a_failed_run_without_failed_tests_counts_as_one_failure() {
        let pass = Verdict { failures: vec![] };
        let fail = Verdict {
            failures: vec!["timeout after 300 s".to_owned()],
        };
        let clean = SerialScan {
            closing: Some(TestTally {
                passed: 7,
                failed: 0,
            }),
            ..SerialScan::default()
        };
        let reds = SerialScan {
            closing: Some(TestTally {
                passed: 5,
                failed: 2,
            }),
            ..SerialScan::default()
        };
        assert_eq!(
            config_tally(&pass, &clean),
            TestTally {
                passed: 7,
                failed: 0
            }
        );
        assert_eq!(
            config_tally(&fail, &clean),
            TestTally {
                passed: 7,
                failed: 1
            }
        );
        assert_eq!(
            config_tally(&fail, &reds),
            TestTally {
                passed: 5,
                failed: 2
            }
        );
        assert_eq!(
            config_tally(&fail, &SerialScan::default()),
            TestTally {
                passed: 0,
                failed: 1
            }
        );
    }

    #[test]
    fn cmdline_starts_with_run_test() {
        assert_eq!(test_cmdline(""), "run=test");
        assert_eq!(
            test_cmdline("  test.filter=ipc  x=1 "),
            "run=test test.filter=ipc x=1"
        );
    }
}
