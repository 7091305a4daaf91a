//! Kernel fault reports: the kernel's panic handler and kernel-mode
//! exception path print a header (`!!! kernel panic ...` or `!!! kernel
//! exception ...`), the registers, the current thread and the raw material
//! of a backtrace (`kernel/src/fault_report.rs`): the faulting `pc` and
//! `sp` and the stack words above `sp`. The kernel has no frame pointers,
//! so the runner unwinds those words with the call-frame information of the
//! kernel ELF (`.debug_frame`, through `gimli`) and symbolizes every frame
//! with `addr2line`, then shows the header as the run's failure reason and
//! the backtrace below it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use addr2line::gimli::{
    self, BaseAddresses, CfaRule, DebugFrame, RegisterRule, UnwindContext, UnwindSection, X86_64,
};
use object::{Object, ObjectSection};

/// What the console showed of one kernel fault.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultReport {
    /// The `!!! kernel ...` line, without the marks.
    pub header: String,
    /// The `thread: ...` line.
    pub thread: Option<String>,
    /// `rbp` at `pc` (from the backtrace line, else the register dump).
    pub rbp: Option<u64>,
    /// The faulting instruction and stack pointer.
    pub pc: u64,
    pub sp: u64,
    /// Stack words from `sp` up.
    pub stack: Vec<u64>,
    /// Whether `backtrace: end` came.
    pub complete: bool,
}

/// Collects the first fault report from serial lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCollector {
    /// The report, from its header on.
    pub report: Option<FaultReport>,
    in_stack: bool,
    done: bool,
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The value of `key=0x...` in `line`.
fn field(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)?;
    hex(line[at + key.len()..].split_whitespace().next()?)
}

impl FaultCollector {
    /// Takes in one line of serial output.
    pub fn observe_line(&mut self, line: &str) {
        let line = line.trim();
        if self.done {
            return;
        }
        if let Some(at) = line.find("!!! kernel ") {
            if self.report.is_none() {
                self.report = Some(FaultReport {
                    header: line[at + 4..].to_owned(),
                    ..FaultReport::default()
                });
            }
            return;
        }
        let Some(report) = self.report.as_mut() else {
            return;
        };
        if line.starts_with("rsi=") {
            report.rbp = field(line, "rbp=");
        } else if let Some(thread) = line.strip_prefix("thread: ") {
            report.thread = Some(thread.to_owned());
        } else if line.starts_with("backtrace: pc=") {
            report.pc = field(line, "pc=").unwrap_or(0);
            report.sp = field(line, "sp=").unwrap_or(0);
            report.rbp = field(line, "bp=").or(report.rbp);
            self.in_stack = true;
        } else if line == "backtrace: end" {
            report.complete = true;
            self.in_stack = false;
            self.done = true;
        } else if self.in_stack
            && let Some(words) = line.strip_prefix("stack ")
        {
            let mut parts = words.split_whitespace();
            let base = parts.next().and_then(|b| hex(b.trim_end_matches(':')));
            // Words must continue where the last line ended.
            let expected = report.sp + report.stack.len() as u64 * 8;
            if base == Some(expected) {
                report.stack.extend(parts.filter_map(hex));
            } else {
                self.in_stack = false;
            }
        }
    }
}

/// The most frames unwound (a corrupt stack could loop).
const MAX_FRAMES: usize = 64;

/// Unwinds `report` with the `.debug_frame` of `elf`: the return
/// addresses, innermost first (the faulting `pc` first), and why the walk
/// stopped.
///
/// # Errors
/// The ELF cannot be parsed or has no `.debug_frame`.
pub fn unwind(elf: &[u8], report: &FaultReport) -> Result<(Vec<u64>, String), String> {
    let file = object::File::parse(elf).map_err(|e| format!("kernel ELF: {e}"))?;
    let section = file
        .section_by_name(".debug_frame")
        .ok_or("the kernel ELF has no .debug_frame")?;
    let data = section
        .uncompressed_data()
        .map_err(|e| format!(".debug_frame: {e}"))?;
    let mut frame = DebugFrame::new(&data, gimli::LittleEndian);
    frame.set_address_size(8);
    let bases = BaseAddresses::default();
    let mut ctx = UnwindContext::new();
    let read = |addr: u64| -> Option<u64> {
        let index = addr.checked_sub(report.sp)? / 8;
        (addr.is_multiple_of(8))
            .then(|| report.stack.get(index as usize).copied())
            .flatten()
    };
    let mut pcs = vec![report.pc];
    let (mut pc, mut sp, mut rbp) = (report.pc, report.sp, report.rbp);
    // The first pc is the faulting instruction; later ones are return
    // addresses, looked up one byte back (inside the call).
    let mut lookup = pc;
    let why = loop {
        if pcs.len() >= MAX_FRAMES {
            break format!("stopped at {MAX_FRAMES} frames");
        }
        let row = match frame.unwind_info_for_address(
            &bases,
            &mut ctx,
            lookup,
            DebugFrame::cie_from_offset,
        ) {
            Ok(row) => row,
            Err(_) => break format!("no call-frame information for {pc:#x}"),
        };
        let cfa = match *row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RSP => {
                sp.wrapping_add_signed(offset)
            }
            CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RBP => match rbp
            {
                Some(bp) => bp.wrapping_add_signed(offset),
                None => break "the frame address is in rbp, which is unknown".to_owned(),
            },
            _ => break format!("an unsupported frame rule at {pc:#x}"),
        };
        let Some(RegisterRule::Offset(ra_at)) = row.register(X86_64::RA) else {
            break "no return address (the outermost frame)".to_owned();
        };
        let Some(ra) = read(cfa.wrapping_add_signed(ra_at)) else {
            break "the stack dump ends".to_owned();
        };
        rbp = match row.register(X86_64::RBP) {
            Some(RegisterRule::Offset(at)) => read(cfa.wrapping_add_signed(at)),
            Some(RegisterRule::SameValue) | None => rbp,
            Some(_) => None,
        };
        if ra == 0 {
            break "a zero return address (the outermost frame)".to_owned();
        }
        pcs.push(ra);
        pc = ra;
        lookup = ra - 1;
        sp = cfa;
    };
    Ok((pcs, why))
}

/// Names for `pc` (inlined frames first, the function last).
fn names(
    loader: &addr2line::Loader,
    pc: u64,
    cache: &mut HashMap<u64, Vec<String>>,
) -> Vec<String> {
    if let Some(n) = cache.get(&pc) {
        return n.clone();
    }
    let mut out = Vec::new();
    if let Ok(mut frames) = loader.find_frames(pc) {
        while let Ok(Some(frame)) = frames.next() {
            let name = frame
                .function
                .and_then(|f| f.demangle().ok().map(|n| n.into_owned()))
                .unwrap_or_else(|| "?".to_owned());
            let at = frame.location.map_or(String::new(), |l| {
                format!(
                    " at {}:{}",
                    l.file.unwrap_or("?"),
                    l.line.map_or("?".to_owned(), |n| n.to_string())
                )
            });
            out.push(format!("{name}{at}"));
        }
    }
    if out.is_empty()
        && let Some(sym) = loader.find_symbol(pc)
    {
        out.push(addr2line::demangle_auto(sym.into(), None).into_owned());
    }
    cache.insert(pc, out.clone());
    out
}

/// The symbolized backtrace of `report` from `kernel` (an ELF), as lines.
///
/// # Errors
/// The ELF cannot be read or unwound.
pub fn backtrace(kernel: &Path, report: &FaultReport) -> Result<Vec<String>, String> {
    let elf = std::fs::read(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let (pcs, why) = unwind(&elf, report)?;
    let loader =
        addr2line::Loader::new(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let mut cache = HashMap::new();
    let mut lines = Vec::new();
    for (i, &pc) in pcs.iter().enumerate() {
        // Return addresses are symbolized at the call (one byte back).
        let at = if i == 0 { pc } else { pc - 1 };
        let names = names(&loader, at, &mut cache);
        if names.is_empty() {
            lines.push(format!("#{i:<2} {pc:#x} ?"));
        }
        for (j, name) in names.iter().enumerate() {
            let mut line = String::new();
            if j == 0 {
                let _ = write!(line, "#{i:<2} {pc:#x} {name}");
            } else {
                let _ = write!(line, "    inlined into {name}");
            }
            lines.push(line);
        }
    }
    lines.push(format!("({} frames; {why})", pcs.len()));
    Ok(lines)
}

/// Prints the fault report of a run, if there is one: the header, the
/// thread and the symbolized backtrace, on stderr.
pub fn print(collector: &FaultCollector, kernel: &Path) {
    let Some(report) = &collector.report else {
        return;
    };
    eprintln!("veridian-run: kernel fault: {}", report.header);
    if let Some(thread) = &report.thread {
        eprintln!("veridian-run:   thread: {thread}");
    }
    if report.stack.is_empty() {
        eprintln!("veridian-run:   (no stack dump on serial)");
        return;
    }
    match backtrace(kernel, report) {
        Ok(lines) => {
            eprintln!("veridian-run:   backtrace:");
            for line in lines {
                eprintln!("veridian-run:     {line}");
            }
        }
        Err(e) => eprintln!("veridian-run:   no backtrace: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
test.fault: causing a deliberate PageFault

!!! kernel exception on cpu 0: #PF page fault (vector 14, error code 0x0)
rip=0xffffffff8012a719 cs=0x8 rflags=0x286 rsp=0xffffffff81f7f690 ss=0x10
rsi=0x1 rdi=0x0 rbp=0x1234 r8 =0x3fd
thread: none (cpu 0's own context)
backtrace: pc=0xffffffff8012a719 sp=0xffffffff81f7f690 words=6
stack 0xffffffff81f7f690: 0x0 0x0 0x1 0xffffffff80136081
stack 0xffffffff81f7f6b0: 0x1970 0x2
backtrace: end
";

    fn collect(log: &str) -> FaultCollector {
        let mut c = FaultCollector::default();
        for line in log.lines() {
            c.observe_line(line);
        }
        c
    }

    #[test]
    fn a_report_is_read_whole() {
        let report = collect(LOG).report.expect("a report");
        assert_eq!(
            report.header,
            "kernel exception on cpu 0: #PF page fault (vector 14, error code 0x0)"
        );
        assert_eq!(report.thread.as_deref(), Some("none (cpu 0's own context)"));
        assert_eq!(report.rbp, Some(0x1234));
        assert_eq!(report.pc, 0xffff_ffff_8012_a719);
        assert_eq!(report.sp, 0xffff_ffff_81f7_f690);
        assert_eq!(
            report.stack,
            vec![0, 0, 1, 0xffff_ffff_8013_6081, 0x1970, 2]
        );
        assert!(report.complete);
    }

    #[test]
    fn a_gap_in_the_stack_dump_ends_it() {
        let log = LOG.replace("stack 0xffffffff81f7f6b0", "stack 0xffffffff81f7f6c0");
        let report = collect(&log).report.expect("a report");
        assert_eq!(report.stack.len(), 4);
    }

    #[test]
    fn no_fault_no_report() {
        assert_eq!(collect("boot\n1 passed, 0 failed\n").report, None);
    }

    #[test]
    fn a_panic_header_is_kept() {
        let c = collect("\n!!! kernel panic on cpu 1 at kernel/src/x.rs:3: boom\n");
        assert_eq!(
            c.report.map(|r| r.header),
            Some("kernel panic on cpu 1 at kernel/src/x.rs:3: boom".to_owned())
        );
    }

    #[test]
    fn garbage_is_not_an_elf() {
        let report = collect(LOG).report.expect("a report");
        assert!(unwind(b"not an elf", &report).is_err());
    }
}
