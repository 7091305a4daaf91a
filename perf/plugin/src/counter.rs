//! The plugin's state and what each callback does to it, free of FFI so the
//! host tests drive it directly.
//!
//! The caches are modeled for every data access of the whole run (so a
//! window starts with the caches its warm-up left); events are counted only
//! inside an open window's operations: from the instruction after an
//! `OpBegin` marker to the instruction before the next `OpEnd`, on every
//! CPU. Markers themselves are never counted.
//!
//! Instructions: every instruction but a marker adds one to a counter of
//! executed instructions as it runs (a QEMU inline add, no call), so a block
//! cut short (an exception, or under `-icount` a device access that QEMU
//! re-runs in a block of its own) counts only what ran. The plugin hands
//! that counter to every block start and marker ([`Counter::block`],
//! [`Counter::marker`]); the instructions since the previous one belong to
//! the CPU that ran the previous block, because under `-icount` one thread
//! runs the vCPUs in turn and a CPU's next instructions always begin with a
//! block start.

use std::collections::BTreeMap;

use perf::marker::Kind;
use perf_model::report::{ProfileRow, WindowReport};
use perf_model::{Access, Events, Geometry, Machine, MachineConfig};

use crate::decode::Special;

/// The plugin's arguments (`-plugin lib.so,key=value,...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where `@model` / `@prof` lines are appended.
    pub out: String,
    /// CPUs modeled (QEMU's vCPU count unless given).
    pub cpus: Option<usize>,
    /// Cache geometry.
    pub l1d: Geometry,
    /// Cache geometry.
    pub l2: Geometry,
    /// Cache geometry.
    pub llc: Geometry,
    /// The benchmark id whose window is profiled per instruction address.
    pub profile: Option<u32>,
    /// Guest addresses `[start, start + len)` of the kernel's interrupt
    /// entry stubs, 16 bytes per vector: a block starting there is an
    /// interrupt (vector >= 32) or exception taken.
    pub irq_stubs: Option<(u64, u64)>,
    /// Physical address of the xAPIC interrupt command register (low).
    pub apic_icr: u64,
    /// Which data accesses go through the cache model.
    pub caches: Caches,
}

/// Which data accesses the cache model sees (`caches=run|window|off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caches {
    /// Every access of the run: a window starts with the caches its
    /// warm-up left (the slowest).
    Run,
    /// Accesses while a window is open (counted or not): the first
    /// operations of a window warm the caches.
    Window,
    /// None: no miss or transfer counts (the fastest; other events still
    /// count).
    Off,
}

impl Options {
    /// Parses `key=value` arguments.
    ///
    /// # Errors
    /// A message naming the bad argument.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let defaults = MachineConfig::with_cpus(1);
        let mut o = Self {
            out: String::new(),
            cpus: None,
            l1d: defaults.l1d,
            l2: defaults.l2,
            llc: defaults.llc,
            profile: None,
            irq_stubs: None,
            apic_icr: 0xfee0_0300,
            caches: Caches::Window,
        };
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| format!("argument `{arg}`: expected key=value"))?;
            let bad = |what: &str| format!("argument `{arg}`: {what}");
            match key {
                "out" => o.out = value.to_string(),
                "cpus" => {
                    o.cpus = Some(value.parse().map_err(|_| bad("not a CPU count"))?);
                }
                "l1d" | "l2" | "llc" => {
                    let g = Geometry::parse(value, o.l1d.line).map_err(|e| bad(&e.0))?;
                    match key {
                        "l1d" => o.l1d = g,
                        "l2" => o.l2 = g,
                        _ => o.llc = g,
                    }
                }
                "line" => {
                    let line: u64 = value.parse().map_err(|_| bad("not a line size"))?;
                    o.l1d.line = line;
                    o.l2.line = line;
                    o.llc.line = line;
                }
                "profile" => o.profile = Some(value.parse().map_err(|_| bad("not a bench id"))?),
                "irq_stubs" => {
                    let (s, l) = value
                        .split_once(':')
                        .ok_or_else(|| bad("expected START:LEN"))?;
                    let hex = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16);
                    o.irq_stubs = Some((
                        hex(s).map_err(|_| bad("START is not hex"))?,
                        hex(l).map_err(|_| bad("LEN is not hex"))?,
                    ));
                }
                "caches" => {
                    o.caches = match value {
                        "run" => Caches::Run,
                        "window" => Caches::Window,
                        "off" => Caches::Off,
                        _ => return Err(bad("expected run, window or off")),
                    };
                }
                "apic_icr" => {
                    o.apic_icr = u64::from_str_radix(value.trim_start_matches("0x"), 16)
                        .map_err(|_| bad("not hex"))?;
                }
                _ => {
                    return Err(bad(
                        "unknown key (out, cpus, l1d, l2, llc, line, caches, profile, irq_stubs, apic_icr)",
                    ));
                }
            }
        }
        if o.out.is_empty() {
            return Err(String::from("missing argument out=FILE"));
        }
        Ok(o)
    }
}

/// Per-address counts of a profiled window.
#[derive(Clone, Copy, Debug, Default)]
struct PcCounts {
    instructions: u64,
    l1d_misses: u64,
    llc_misses: u64,
    coherence_transfers: u64,
}

struct Window {
    id: u32,
    ops: u64,
    /// Inside an operation (between `OpBegin` and `OpEnd`).
    counting: bool,
    per_cpu: Vec<Events>,
    profile: Option<BTreeMap<u64, PcCounts>>,
}

/// Everything the plugin knows.
pub struct Counter {
    machine: Machine,
    cpus: usize,
    opts: Options,
    window: Option<Window>,
    /// Per CPU: a `Cr3NoFlush` marker ran and its `mov cr3` has not.
    no_flush: Vec<bool>,
    /// Events outside any window (discarded; the caches still change).
    scratch: Events,
    /// The executed-instruction counter at the last block start or marker.
    synced: u64,
    /// The CPU that ran the last block.
    running: usize,
}

impl Counter {
    /// A counter for `vcpus` CPUs (unless the options say otherwise).
    ///
    /// # Errors
    /// A bad cache geometry or CPU count.
    pub fn new(opts: Options, vcpus: usize) -> Result<Self, String> {
        let cpus = opts.cpus.unwrap_or(vcpus).max(1);
        let machine = Machine::new(&MachineConfig {
            cpus,
            l1d: opts.l1d,
            l2: opts.l2,
            llc: opts.llc,
        })
        .map_err(|e| e.to_string())?;
        Ok(Self {
            machine,
            cpus,
            opts,
            window: None,
            no_flush: vec![false; cpus],
            scratch: Events::default(),
            synced: 0,
            running: 0,
        })
    }

    /// The options it runs with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Whether the open window is profiled per instruction address.
    #[must_use]
    pub fn profiling(&self) -> bool {
        self.window.as_ref().is_some_and(|w| w.profile.is_some())
    }

    fn cpu(&self, vcpu: u32) -> usize {
        (vcpu as usize).min(self.cpus - 1)
    }

    fn events(&mut self, vcpu: u32) -> &mut Events {
        let cpu = self.cpu(vcpu);
        match &mut self.window {
            Some(w) if w.counting => &mut w.per_cpu[cpu],
            _ => &mut self.scratch,
        }
    }

    fn counting(&self) -> bool {
        self.window.as_ref().is_some_and(|w| w.counting)
    }

    /// Charges the instructions run since the last call (`executed` is
    /// the executed-instruction counter) to the CPU that ran them, when
    /// counting.
    fn sync(&mut self, executed: u64) {
        let delta = executed.wrapping_sub(self.synced);
        self.synced = executed;
        let cpu = self.running;
        if let Some(w) = &mut self.window
            && w.counting
        {
            w.per_cpu[cpu].instructions += delta;
        }
    }

    /// A translation block of `vcpu` starts; `executed` = the counter.
    /// `vector` is the interrupt vector when it is an interrupt entry stub.
    pub fn block(&mut self, vcpu: u32, executed: u64, vector: Option<u64>) {
        self.sync(executed);
        self.running = self.cpu(vcpu);
        if vector.is_some_and(|v| v >= 32) && self.counting() {
            self.events(vcpu).interrupts += 1;
        }
    }

    /// One instruction at `pc` runs (called for every instruction when a
    /// profile was asked for; counts only in the profiled window).
    pub fn instruction(&mut self, pc: u64) {
        if let Some(Window {
            profile: Some(p),
            counting: true,
            ..
        }) = &mut self.window
        {
            p.entry(pc).or_default().instructions += 1;
        }
    }

    /// A marker of `vcpu` runs; `executed` = the counter (the instructions
    /// before the marker have run, the marker has not). Returns a finished
    /// window's report lines (to append to the output).
    pub fn marker(&mut self, vcpu: u32, executed: u64, kind: Kind, arg: u32) -> Vec<String> {
        self.sync(executed);
        let cpu = self.cpu(vcpu);
        self.running = cpu;
        match (kind, &mut self.window) {
            (Kind::WindowBegin, None) => {
                self.window = Some(Window {
                    id: arg,
                    ops: 0,
                    counting: false,
                    per_cpu: vec![Events::default(); self.cpus],
                    profile: (self.opts.profile == Some(arg)).then(BTreeMap::new),
                });
            }
            (Kind::WindowEnd, Some(w)) if w.id == arg => {
                let w = self.window.take().expect("matched above");
                return report(w);
            }
            (Kind::OpBegin, Some(w)) if !w.counting => w.counting = true,
            (Kind::OpEnd, Some(w)) if w.counting => {
                w.counting = false;
                w.ops += 1;
            }
            (Kind::Cr3NoFlush, _) => self.no_flush[cpu] = true,
            // A begin inside a window, an end of another, an operation
            // marker out of order: ignored, so a stray marker cannot split
            // or reopen anything.
            _ => {}
        }
        Vec::new()
    }

    /// A recognised instruction runs; `msr` = the `mov ecx, imm` value seen
    /// before it in its block.
    pub fn special(&mut self, vcpu: u32, special: Special, msr: Option<u32>) {
        let cpu = self.cpu(vcpu);
        if special == Special::Cr3Write {
            let keep = std::mem::take(&mut self.no_flush[cpu]);
            let e = self.events(vcpu);
            e.cr3_writes += 1;
            if !keep {
                e.tlb_flushes += 1;
            }
            return;
        }
        let e = self.events(vcpu);
        match special {
            Special::Syscall => e.syscalls += 1,
            Special::Invlpg | Special::Invpcid => e.tlb_flushes += 1,
            Special::Xsave => e.xsaves += 1,
            Special::Wrmsr if msr == Some(0x830) => e.ipis += 1,
            _ => {}
        }
    }

    /// Whether [`Counter::memory`] needs the next data access (so the
    /// plugin can skip looking up its physical address).
    #[must_use]
    pub fn wants_access(&self) -> bool {
        match self.opts.caches {
            Caches::Run => true,
            Caches::Window => self.window.is_some(),
            Caches::Off => self.counting(),
        }
    }

    /// A data access: `phys` its physical address (None when QEMU had
    /// none), `io` when it went to a device.
    pub fn memory(&mut self, vcpu: u32, pc: u64, phys: u64, io: bool, size: u64, store: bool) {
        if io {
            if store && phys == self.opts.apic_icr {
                self.events(vcpu).ipis += 1;
            }
            return;
        }
        if self.opts.caches == Caches::Off {
            return;
        }
        let cpu = self.cpu(vcpu);
        let access = Access {
            cpu,
            addr: phys,
            size,
            write: store,
        };
        match &mut self.window {
            Some(w) if w.counting => {
                let e = &mut w.per_cpu[cpu];
                let before = *e;
                self.machine.access(access, e);
                if let Some(p) = &mut w.profile {
                    let after = w.per_cpu[cpu];
                    let c = p.entry(pc).or_default();
                    c.l1d_misses += after.l1d_misses - before.l1d_misses;
                    c.llc_misses += after.llc_misses - before.llc_misses;
                    c.coherence_transfers += after.coherence_transfers - before.coherence_transfers;
                }
            }
            _ => {
                self.machine.access(access, &mut self.scratch);
            }
        }
    }
}

fn report(w: Window) -> Vec<String> {
    let mut total = Events::default();
    for e in &w.per_cpu {
        total.add(e);
    }
    let mut lines = vec![
        WindowReport {
            id: w.id,
            ops: w.ops,
            total,
            cpu_instructions: w.per_cpu.iter().map(|e| e.instructions).collect(),
        }
        .to_line(),
    ];
    if let Some(p) = w.profile {
        for (pc, c) in p {
            lines.push(
                ProfileRow {
                    id: w.id,
                    pc,
                    instructions: c.instructions,
                    l1d_misses: c.l1d_misses,
                    llc_misses: c.llc_misses,
                    coherence_transfers: c.coherence_transfers,
                }
                .to_line(),
            );
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(cpus: usize) -> Counter {
        let opts = Options::parse(["out=/dev/null"]).unwrap();
        Counter::new(opts, cpus).unwrap()
    }

    #[test]
    fn only_operations_of_the_window_are_counted_on_the_cpu_that_ran_them() {
        let mut c = counter(2);
        // `n` is the executed-instruction counter QEMU's inline adds keep.
        c.block(0, 0, None);
        c.special(0, Special::Syscall, None); // before the window
        c.marker(0, 10, Kind::WindowBegin, 7); // 10 ran before it
        c.marker(0, 12, Kind::OpBegin, 0); // 2 between: not counted
        c.block(1, 16, None); // CPU 0 ran 4 in the operation
        c.special(1, Special::Syscall, None);
        c.block(0, 21, None); // CPU 1 ran 5
        c.marker(0, 24, Kind::OpEnd, 0); // CPU 0 ran 3 more
        c.block(1, 74, None); // between operations
        c.special(1, Special::Syscall, None);
        c.marker(1, 80, Kind::OpBegin, 0);
        c.block(0, 83, None); // CPU 1 ran 3
        c.marker(0, 85, Kind::OpEnd, 0); // CPU 0 ran 2
        let lines = c.marker(0, 90, Kind::WindowEnd, 7);
        let r = WindowReport::parse(&lines[0]).unwrap().unwrap();
        assert_eq!(r.id, 7);
        assert_eq!(r.ops, 2);
        assert_eq!(r.cpu_instructions, vec![4 + 3 + 2, 5 + 3]);
        assert_eq!(r.total.instructions, 17);
        assert_eq!(r.total.syscalls, 1);
        // After the window nothing is counted.
        c.block(0, 1000, None);
        assert!(c.window.is_none());
    }

    #[test]
    fn cr3_writes_flush_unless_marked_no_flush() {
        let mut c = counter(1);
        c.marker(0, 0, Kind::WindowBegin, 1);
        c.marker(0, 0, Kind::OpBegin, 0);
        c.special(0, Special::Cr3Write, None);
        c.marker(0, 0, Kind::Cr3NoFlush, 0);
        c.special(0, Special::Cr3Write, None);
        c.special(0, Special::Cr3Write, None);
        c.special(0, Special::Invlpg, None);
        let r = WindowReport::parse(&c.marker(0, 0, Kind::WindowEnd, 1)[0])
            .unwrap()
            .unwrap();
        assert_eq!(r.total.cr3_writes, 3);
        assert_eq!(r.total.tlb_flushes, 3);
    }

    #[test]
    fn ipis_are_icr_stores_and_x2apic_icr_writes() {
        let mut c = counter(1);
        c.marker(0, 0, Kind::WindowBegin, 1);
        c.marker(0, 0, Kind::OpBegin, 0);
        c.memory(0, 0, 0xfee0_0300, true, 4, true);
        c.memory(0, 0, 0xfee0_0300, true, 4, false); // a read: no IPI
        c.memory(0, 0, 0xfee0_0310, true, 4, true); // ICR high: no IPI
        c.special(0, Special::Wrmsr, Some(0x830));
        c.special(0, Special::Wrmsr, Some(0x80b)); // EOI
        c.block(0, 0, Some(0x40));
        c.block(0, 0, Some(14)); // a page fault: not an interrupt
        let r = WindowReport::parse(&c.marker(0, 0, Kind::WindowEnd, 1)[0])
            .unwrap()
            .unwrap();
        assert_eq!(r.total.ipis, 2);
        assert_eq!(r.total.interrupts, 1);
    }

    #[test]
    fn a_profiled_window_counts_per_address_and_sums_to_the_total() {
        let opts = Options::parse(["out=/dev/null", "profile=9"]).unwrap();
        let mut c = Counter::new(opts, 2).unwrap();
        c.marker(0, 0, Kind::WindowBegin, 9);
        c.instruction(0x8); // between operations: not counted
        c.marker(0, 1, Kind::OpBegin, 0);
        assert!(c.profiling());
        for pc in [0x10, 0x14, 0x10] {
            c.instruction(pc);
            c.memory(0, pc, 0x1000, false, 8, false);
        }
        c.block(1, 4, None);
        c.instruction(0x20);
        c.memory(1, 0x20, 0x1000, false, 8, true);
        c.block(0, 5, None);
        c.marker(0, 5, Kind::OpEnd, 0);
        let lines = c.marker(0, 5, Kind::WindowEnd, 9);
        let r = WindowReport::parse(&lines[0]).unwrap().unwrap();
        assert_eq!(r.total.instructions, 4);
        let rows: Vec<ProfileRow> = lines[1..]
            .iter()
            .map(|l| ProfileRow::parse(l).unwrap().unwrap())
            .collect();
        assert_eq!(rows.iter().map(|r| r.instructions).sum::<u64>(), 4);
        assert_eq!(rows[0].pc, 0x10);
        assert_eq!(rows[0].instructions, 2);
        assert_eq!(rows[0].l1d_misses, 1);
        assert_eq!(rows[2].coherence_transfers, 1);
    }

    #[test]
    fn stray_markers_do_not_split_a_window() {
        let mut c = counter(1);
        c.marker(0, 0, Kind::WindowEnd, 3); // no window: ignored
        c.marker(0, 0, Kind::WindowBegin, 3);
        c.marker(0, 0, Kind::WindowBegin, 4); // nested: ignored
        assert!(c.marker(0, 0, Kind::WindowEnd, 4).is_empty());
        assert_eq!(c.marker(0, 0, Kind::WindowEnd, 3).len(), 1);
    }

    #[test]
    fn bad_arguments_are_refused() {
        for args in [
            vec!["cpus=2"],
            vec!["out=x", "l1d=32K"],
            vec!["out=x", "l1d=abc:8"],
            vec!["out=x", "irq_stubs=zz:10"],
            vec!["out=x", "what=1"],
            vec!["out=x", "noequals"],
        ] {
            assert!(Options::parse(args.clone()).is_err(), "{args:?}");
        }
        let o = Options::parse(["out=x", "l2=2M:16", "irq_stubs=0xffff0000:1000"]).unwrap();
        assert_eq!(o.l2.size, 2 << 20);
        assert_eq!(o.irq_stubs, Some((0xffff_0000, 0x1000)));
        assert!(Options::parse(["out=x", "l1d=33K:8"]).is_err());
        let bad_line = Options::parse(["out=x", "line=48"]).unwrap();
        assert!(Counter::new(bad_line, 1).is_err());
    }
}
