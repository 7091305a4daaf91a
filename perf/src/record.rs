//! The serial records: one line each, written by the kernel, read by the
//! host's `dashboards` parser. **This comment is the contract** between the
//! two sides.
//!
//! # Line syntax
//!
//! ```text
//! @<kind> v<version> <key>=<value> <key>=<value> ...\n
//! ```
//!
//! - A record starts at `@<kind> v1 ` anywhere on a line (other console
//!   output may precede it) and ends at `\n` (a `\r` before it is
//!   tolerated). Fields are separated by single spaces; keys are
//!   `[a-z0-9_.]`, and a key appears at most once.
//! - **Escaping.** Free-text values (`cpu_vendor`, `cpu_model`, `rev`,
//!   `reason`) are percent-encoded byte by byte over their UTF-8: every byte
//!   outside printable ASCII `0x21..=0x7e`, and `%` and `=`, becomes `%XX`
//!   with two uppercase hex digits (space `%20`, `=` `%3D`, `%` `%25`,
//!   newline `%0A`, `é` `%C3%A9`). Decoding is the inverse; values never
//!   contain a space.
//! - **Names** (benchmark names, PMU event names) are `[A-Za-z0-9._-]+`
//!   (dotted, e.g. `ipc.call.same_cpu`) and written as they are; anything
//!   else is refused with [`RecordError::InvalidName`].
//! - **Numbers**: integers in decimal; `f64` values in Rust's `Display`
//!   form (shortest text that reads back as the same `f64`, never an
//!   exponent, e.g. `0.25`, `1234`), except `tsc_mhz` with exactly three
//!   decimals. NaN and infinities are refused ([`RecordError::NonFinite`]).
//!
//! # Records (version 1)
//!
//! ```text
//! @meta v1 accel=<kvm|tcg|icount|bare|bochs> cpu_vendor=<text> cpu_model=<text> family=<n> model=<n> stepping=<n> tsc_mhz=<f.3> tsc_src=<cpuid15|cpuid16|pit|hpet> tsc_invariant=<0|1> tsc_overhead=<n> pmu=<none|intel-v<N>|amd> cpus=<n> nodes=<n> rev=<text> profile=<release|debug> ipc_fastpath=<on|off> pi=<on|off> pcid=<on|off>
//! @bench v1 name=<name> unit=<cycles|instructions|ns|msgs_per_s|bytes_per_s> kind=<latency|throughput> count=<n> min=<f> p50=<f> p90=<f> p99=<f> p999=<f> max=<f> mean=<f> [pmu.<event>=<f per operation> ...] [ops=<n>]
//! @hist v1 name=<name> Tag=<name>,<start_s>,<interval_s>,<max>,<base64>
//! @progress v1 name=<name> done=<n> total=<n>
//! @skip v1 name=<name> reason=<text>
//! @done v1 benches=<n> skipped=<n>
//! ```
//!
//! - `family`/`model`/`stepping` are CPUID's display values, in decimal.
//! - `@bench` statistics of a latency benchmark come from its [`Histogram`]
//!   with the `hdrhistogram` crate's definitions (`min()`, `max()`,
//!   `value_at_quantile(0.5/0.9/0.99/0.999)`, `mean()`), so the host can
//!   recompute them from the `@hist` record. `pmu.<event>` fields, if any,
//!   follow the fixed ones. `ops=` (throughput benchmarks) is the number of
//!   operations the rate was measured over; the performance model's
//!   window of such a benchmark brackets them as one interval, and the
//!   host divides the window's counts by `ops`.
//! - A latency benchmark may print several `@hist` records, one per
//!   interval of its run (`crate::interval`, starts in seconds since
//!   boot); together they hold the samples its `@bench` summarises.
//! - After `@hist v1 name=<name> ` the rest of the line is a standard
//!   HdrHistogram interval-log line ([`crate::encode::interval_log`]) with
//!   `Tag=<name>`: times in seconds with three decimals, `<max>` the
//!   histogram's max (divisor 1.0), then the base64 compressed V2 encoding.
//!   No part of it needs unescaping.

mod bench;
mod escape;

use core::fmt::{self, Display, Write};
use core::time::Duration;

pub use bench::{BenchKind, BenchLine, BenchResult, Unit};
pub use escape::{Escaped, is_valid_name};

use crate::Histogram;
use crate::encode::{self, EncodeError, IntervalLogLine};
use crate::pmu::PmuInfo;
use crate::tsc::TscSource;
use escape::{check_finite, check_name};

/// Why a record was not written (in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// A benchmark or event name is empty or has a character outside
    /// `[A-Za-z0-9._-]`. Nothing was written.
    InvalidName,
    /// A floating-point field is NaN or infinite. Nothing was written.
    NonFinite,
    /// The histogram could not be encoded (a count above `i64::MAX`).
    /// Nothing was written.
    Encode(EncodeError),
    /// The text sink failed; the line may be incomplete.
    Write,
}

impl Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName => f.write_str("names must be non-empty [A-Za-z0-9._-]"),
            Self::NonFinite => f.write_str("record values must be finite"),
            Self::Encode(error) => write!(f, "histogram encoding failed: {error}"),
            Self::Write => f.write_str("the text sink failed"),
        }
    }
}

impl core::error::Error for RecordError {}

impl From<fmt::Error> for RecordError {
    fn from(_: fmt::Error) -> Self {
        Self::Write
    }
}

impl From<EncodeError> for RecordError {
    fn from(error: EncodeError) -> Self {
        match error {
            EncodeError::Write => Self::Write,
            other => Self::Encode(other),
        }
    }
}

/// How the kernel was run (`accel=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// QEMU with KVM: real cycles.
    Kvm,
    /// QEMU software emulation: timings are not cycles.
    Tcg,
    /// QEMU TCG with `-icount shift=0`: the TSC counts instructions.
    Icount,
    /// Bare metal.
    Bare,
    /// The Bochs emulator: timings are not cycles (its TSC advances with
    /// emulated instructions at a configured rate).
    Bochs,
}

impl Accel {
    /// Every accelerator, in token order.
    pub const ALL: [Self; 5] = [Self::Kvm, Self::Tcg, Self::Icount, Self::Bare, Self::Bochs];

    /// The `accel=` token.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
            Self::Icount => "icount",
            Self::Bare => "bare",
            Self::Bochs => "bochs",
        }
    }

    /// The accelerator an `accel=` token names; `None` for anything else.
    #[must_use]
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == token)
    }
}

/// Build profile (`profile=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Optimised build.
    Release,
    /// Debug build.
    Debug,
}

impl Profile {
    /// The `profile=` token.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Debug => "debug",
        }
    }
}

/// `@meta`: how the measurements of this run were taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meta<'a> {
    /// Accelerator.
    pub accel: Accel,
    /// CPUID vendor string, e.g. `GenuineIntel`.
    pub cpu_vendor: &'a str,
    /// CPUID brand string (escaped when written).
    pub cpu_model: &'a str,
    /// Display family.
    pub family: u32,
    /// Display model.
    pub model: u32,
    /// Stepping.
    pub stepping: u32,
    /// TSC frequency in MHz.
    pub tsc_mhz: f64,
    /// How the TSC frequency was obtained.
    pub tsc_source: TscSource,
    /// CPUID says the TSC is invariant.
    pub tsc_invariant: bool,
    /// Cycles one timestamp pair costs, already subtracted from samples.
    pub tsc_overhead: u64,
    /// Performance counters available.
    pub pmu: PmuInfo,
    /// CPUs online.
    pub cpus: u32,
    /// NUMA nodes.
    pub nodes: u32,
    /// Git revision of the kernel.
    pub rev: &'a str,
    /// Build profile.
    pub profile: Profile,
    /// Kernel switches that change what is measured: the IPC fast path,
    /// priority inheritance, PCID-tagged address-space switches.
    pub switches: Switches,
}

/// The `ipc_fastpath=`, `pi=` and `pcid=` fields of `@meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    /// The IPC fast path of call and reply_recv.
    pub ipc_fastpath: bool,
    /// Priority inheritance.
    pub pi: bool,
    /// PCID-tagged address-space switches (off where CPUID has no PCID).
    pub pcid: bool,
}

impl Meta<'_> {
    /// Writes the `@meta` line.
    ///
    /// # Errors
    ///
    /// [`RecordError::NonFinite`] for a NaN/infinite `tsc_mhz` (nothing
    /// written), [`RecordError::Write`] when `out` fails.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<(), RecordError> {
        check_finite(&[self.tsc_mhz])?;
        writeln!(
            out,
            "@meta v1 accel={} cpu_vendor={} cpu_model={} family={} model={} stepping={} \
             tsc_mhz={:.3} tsc_src={} tsc_invariant={} tsc_overhead={} pmu={} cpus={} nodes={} \
             rev={} profile={} ipc_fastpath={} pi={} pcid={}",
            self.accel.as_str(),
            Escaped(self.cpu_vendor),
            Escaped(self.cpu_model),
            self.family,
            self.model,
            self.stepping,
            self.tsc_mhz,
            self.tsc_source,
            u8::from(self.tsc_invariant),
            self.tsc_overhead,
            self.pmu,
            self.cpus,
            self.nodes,
            Escaped(self.rev),
            self.profile.as_str(),
            on_off(self.switches.ipc_fastpath),
            on_off(self.switches.pi),
            on_off(self.switches.pcid),
        )?;
        Ok(())
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// `@hist`: a benchmark's full histogram as an interval-log line.
#[derive(Debug, Clone, Copy)]
pub struct Hist<'a> {
    /// Benchmark name (also the interval-log tag).
    pub name: &'a str,
    /// The samples.
    pub histogram: &'a Histogram,
    /// When recording started (e.g. since boot).
    pub start: Duration,
    /// How long recording lasted.
    pub interval: Duration,
}

impl Hist<'_> {
    /// Writes the `@hist` line.
    ///
    /// # Errors
    ///
    /// [`RecordError::InvalidName`] or [`RecordError::Encode`] (nothing
    /// written), [`RecordError::Write`] when `out` fails.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<(), RecordError> {
        check_name(self.name)?;
        encode::v2_len(self.histogram)?;
        write!(out, "@hist v1 name={} ", self.name)?;
        let line = IntervalLogLine::tagged(self.name, self.start, self.interval);
        encode::write_interval_log_line(out, self.histogram, &line)?;
        out.write_char('\n')?;
        Ok(())
    }
}

/// `@progress`: how far a benchmark has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// Benchmark name.
    pub name: &'a str,
    /// Iterations done.
    pub done: u64,
    /// Iterations planned.
    pub total: u64,
}

impl Progress<'_> {
    /// Writes the `@progress` line.
    ///
    /// # Errors
    ///
    /// [`RecordError::InvalidName`] (nothing written), [`RecordError::Write`].
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<(), RecordError> {
        check_name(self.name)?;
        writeln!(
            out,
            "@progress v1 name={} done={} total={}",
            self.name, self.done, self.total
        )?;
        Ok(())
    }
}

/// `@skip`: a benchmark that did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip<'a> {
    /// Benchmark name.
    pub name: &'a str,
    /// Why (free text, escaped when written).
    pub reason: &'a str,
}

impl Skip<'_> {
    /// Writes the `@skip` line.
    ///
    /// # Errors
    ///
    /// [`RecordError::InvalidName`] (nothing written), [`RecordError::Write`].
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<(), RecordError> {
        check_name(self.name)?;
        writeln!(
            out,
            "@skip v1 name={} reason={}",
            self.name,
            Escaped(self.reason)
        )?;
        Ok(())
    }
}

/// `@done`: the suite finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Benchmarks reported with `@bench`.
    pub benches: u64,
    /// Benchmarks reported with `@skip`.
    pub skipped: u64,
}

impl Done {
    /// Writes the `@done` line.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] when `out` fails.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<(), RecordError> {
        writeln!(
            out,
            "@done v1 benches={} skipped={}",
            self.benches, self.skipped
        )?;
        Ok(())
    }
}
