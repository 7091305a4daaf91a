//! The kernel command line: what to run, and test-only switches.
//!
//! Tokens are `key=value` separated by spaces. Unknown keys are reported on the
//! console and ignored; the boot goes on.

/// What the kernel does after boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Print the boot record and exit with success.
    Boot,
    /// Run the in-kernel tests and exit with their verdict.
    Test,
    /// Boot and halt (interactive use, `scripts/qemu.sh` without `run=`).
    Idle,
    /// Run the benchmark suite (`bench=<suite>`) and exit.
    Bench,
    /// Print the hardware report (`crate::report`) and exit.
    Report,
}

/// A deliberate fault, for testing the fault path (`test.fault=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliberateFault {
    /// A kernel page fault on an unmapped address.
    PageFault,
    /// An invalid opcode (`ud2`).
    InvalidOpcode,
    /// A general protection fault (non-canonical access).
    GeneralProtection,
    /// A kernel panic (`panic!`).
    Panic,
}

/// The parsed command line.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    /// What to run.
    pub run: RunMode,
    /// Only tests whose names contain this run (`test.filter=`).
    pub test_filter: &'a str,
    /// A deliberate fault after boot (`test.fault=pf|ud|gp|panic`).
    pub fault: Option<DeliberateFault>,
    /// The accelerator the host says it used (`accel=`), for records.
    pub accel: Option<perf::record::Accel>,
    /// Priority inheritance on (`pi=on`, default) or off (`pi=off`).
    pub pi: bool,
    /// The benchmark suite (`bench=quick|full|<name prefix>`).
    pub bench: &'a str,
    /// Samples per benchmark (`samples=N`, 0 = the suite's default).
    pub samples: u64,
    /// Messages per channel in the channel test (`test.channel_messages=N`,
    /// 0 = the test's default).
    pub channel_messages: u64,
    /// System calls of the fuzz test, over all its fuzzers (`fuzz.calls=N`,
    /// 0 = the test's default).
    pub fuzz_calls: u64,
    /// The fuzz test's seed (`fuzz.seed=N`).
    pub fuzz_seed: Option<u64>,
    /// Fail one frame allocation in N while the fuzz test's processes run
    /// (`fault.frames=N`, 0 = never).
    pub fault_frames: u64,
    /// Kill a random process of the scenario at one scheduling event in N
    /// in the fault-kill test (`fault.kill=N`, 0 = the test's default).
    pub fault_kill: u64,
    /// Minutes of the soak test (`soak.minutes=N`, 0 = one short period).
    pub soak_minutes: u64,
    /// Processes of the soak test (`soak.processes=N`, 0 = the default).
    pub soak_processes: u64,
}

/// Keys the kernel understands.
pub const KNOWN_KEYS: &[&str] = &[
    "run",
    "test.filter",
    "test.fault",
    "accel",
    "bench",
    "samples",
    "pi",
    "ipc.fastpath",
    "pcid",
    "idle",
    "test.channel_messages",
    "fuzz.calls",
    "fuzz.seed",
    "fault.frames",
    "soak.minutes",
    "soak.processes",
    "fault.kill",
];

impl<'a> Config<'a> {
    /// Parses `line`, printing a warning for every unknown key or bad value.
    pub fn parse(line: &'a str) -> Self {
        let mut cfg = Config {
            run: RunMode::Idle,
            test_filter: "",
            fault: None,
            accel: None,
            pi: true,
            bench: "",
            samples: 0,
            channel_messages: 0,
            fuzz_calls: 0,
            fuzz_seed: None,
            fault_frames: 0,
            fault_kill: 0,
            soak_minutes: 0,
            soak_processes: 0,
        };
        for token in smp::cmdline::tokens(line) {
            let (key, value) = (token.key, token.value.unwrap_or(""));
            match key {
                "run" => match value {
                    "boot" => cfg.run = RunMode::Boot,
                    "test" => cfg.run = RunMode::Test,
                    "idle" => cfg.run = RunMode::Idle,
                    "report" => cfg.run = RunMode::Report,
                    other => {
                        crate::kprintln!("warning: cmdline: unknown run mode {other:?}; using idle")
                    }
                },
                "test.filter" => cfg.test_filter = value,
                "test.fault" => match value {
                    "pf" => cfg.fault = Some(DeliberateFault::PageFault),
                    "ud" => cfg.fault = Some(DeliberateFault::InvalidOpcode),
                    "gp" => cfg.fault = Some(DeliberateFault::GeneralProtection),
                    "panic" => cfg.fault = Some(DeliberateFault::Panic),
                    other => crate::kprintln!(
                        "warning: cmdline: unknown test.fault {other:?} (pf|ud|gp|panic); ignored"
                    ),
                },
                "accel" => match perf::record::Accel::from_token(value) {
                    Some(accel) => cfg.accel = Some(accel),
                    None => crate::kprintln!(
                        "warning: cmdline: accel={value:?} is not kvm|tcg|icount|bare|bochs; ignored"
                    ),
                },
                "bench" => {
                    cfg.bench = value;
                    cfg.run = RunMode::Bench;
                }
                "samples" => match value.parse() {
                    Ok(n) => cfg.samples = n,
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: samples={value:?} is not a number; using the default"
                    ),
                },
                "test.channel_messages" => match value.parse() {
                    Ok(n) => cfg.channel_messages = n,
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: test.channel_messages={value:?} is not a number; ignored"
                    ),
                },
                "fuzz.calls" => match value.parse() {
                    Ok(n) => cfg.fuzz_calls = n,
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: fuzz.calls={value:?} is not a number; ignored"
                    ),
                },
                "fault.frames" => match value.parse() {
                    Ok(n) => cfg.fault_frames = n,
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: fault.frames={value:?} is not a number; ignored"
                    ),
                },
                "fault.kill" => match value.parse() {
                    Ok(n) => cfg.fault_kill = n,
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: fault.kill={value:?} is not a number; ignored"
                    ),
                },
                "soak.minutes" => match value.parse() {
                    Ok(n) => cfg.soak_minutes = n,
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: soak.minutes={value:?} is not a number; ignored"
                    ),
                },
                "soak.processes" => match value.parse() {
                    Ok(n) => cfg.soak_processes = n,
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: soak.processes={value:?} is not a number; ignored"
                    ),
                },
                "fuzz.seed" => match value.parse() {
                    Ok(n) => cfg.fuzz_seed = Some(n),
                    Err(_) => crate::kprintln!(
                        "warning: cmdline: fuzz.seed={value:?} is not a number; ignored"
                    ),
                },
                "pi" => match value {
                    "on" => cfg.pi = true,
                    "off" => cfg.pi = false,
                    other => {
                        crate::kprintln!("warning: cmdline: pi={other:?} is not on|off; keeping on")
                    }
                },
                k if KNOWN_KEYS.contains(&k) => {}
                other => crate::kprintln!("warning: cmdline: unknown key {other:?}; ignored"),
            }
        }
        cfg
    }
}

/// The `<key>=on|off` switch of a kernel command line (the last one wins;
/// a bad value is reported and ignored).
pub fn on_off(line: &str, key: &str, default: bool) -> bool {
    let mut on = default;
    for token in smp::cmdline::tokens(line).filter(|t| t.key == key) {
        match token.value {
            Some("on") => on = true,
            Some("off") => on = false,
            other => crate::kprintln!(
                "warning: cmdline: {key}={other:?} is not on|off; keeping {}",
                if on { "on" } else { "off" }
            ),
        }
    }
    on
}
