//! The parts of a kernel fault report that the panic handler and the
//! kernel-mode exception path share: the current thread, and the raw
//! material of a backtrace.
//!
//! The kernel is built without frame pointers, so it cannot walk its own
//! stack; instead it prints the faulting instruction and stack pointers and
//! the stack words above the stack pointer, and the host runner unwinds
//! them with the call-frame information (`.debug_frame`) of the kernel ELF
//! and symbolizes every frame (`scripts/runner/src/fault_report.rs`). The
//! format, one item a line:
//!
//! ```text
//! thread: tid T pid P on cpu C        (or: thread: none (cpu C's own context))
//! backtrace: pc=0x... sp=0x... bp=0x... words=N
//! stack 0x<address>: <word> <word> <word> <word>
//! backtrace: end
//! ```
//!
//! Everything here runs with interrupts off after a fatal error: it takes
//! no lock and allocates nothing, and it reads only stack pages that the
//! current page tables map.

use core::sync::atomic::Ordering;

use x86_64::VirtAddr;
use x86_64::structures::paging::{OffsetPageTable, PageTable, Translate};

/// Stack words printed at most (4 KiB: deep enough for the kernel's call
/// chains in a release build, short enough for the serial line).
const STACK_WORDS: u64 = 512;

/// Prints the thread this CPU runs, read without locks from the per-CPU
/// area.
pub fn print_thread() {
    let cpu = crate::cpu_index();
    let Some(c) = crate::percpu::current() else {
        crate::serial::write_fmt_emergency(format_args!("thread: unknown (no per-CPU area)\n"));
        return;
    };
    let t = c.current_kthread.load(Ordering::Relaxed);
    if t.is_null() {
        crate::serial::write_fmt_emergency(format_args!(
            "thread: none (cpu {cpu}'s own context)\n"
        ));
        return;
    }
    // SAFETY: `t` is this CPU's current thread's record, which is freed
    // only after a switch away from the thread completes; this CPU is
    // stopped in its fault path and switches no more.
    let (tid, pid) = unsafe { ((*t).tid().0, (*t).pid()) };
    crate::serial::write_fmt_emergency(format_args!("thread: tid {tid} pid {pid} on cpu {cpu}\n"));
}

/// Whether the 8 bytes at `addr` are mapped in the current address space.
fn mapped(addr: u64) -> bool {
    let Ok(virt) = VirtAddr::try_new(addr) else {
        return false;
    };
    let (frame, _) = x86_64::registers::control::Cr3::read();
    let table = crate::mem::paging::phys_to_virt(frame.start_address().as_u64());
    // SAFETY: CR3 names the active top-level table, reachable through the
    // direct map; the table is only read here (`translate_addr`), and this
    // CPU, stopped in its fault path, changes no page table meanwhile.
    let pt = unsafe {
        OffsetPageTable::new(
            &mut *table.as_mut_ptr::<PageTable>(),
            crate::mem::paging::phys_to_virt(0),
        )
    };
    pt.translate_addr(virt).is_some()
}

/// Prints the backtrace material for a fault at `pc` with stack pointer
/// `sp` and `rbp` `bp`: up to [`STACK_WORDS`] words from `sp` up, stopping
/// at the first unmapped page.
pub fn print_backtrace(pc: u64, sp: u64, bp: u64) {
    let sp = sp & !7;
    let mut words = 0;
    while words < STACK_WORDS {
        let addr = sp + words * 8;
        if (words == 0 || addr.is_multiple_of(4096)) && !mapped(addr) {
            break;
        }
        words += 1;
    }
    crate::serial::write_fmt_emergency(format_args!(
        "backtrace: pc={pc:#x} sp={sp:#x} bp={bp:#x} words={words}\n"
    ));
    for line in 0..words.div_ceil(4) {
        let base = sp + line * 32;
        let mut w = [0u64; 4];
        let n = (words - line * 4).min(4) as usize;
        for (i, word) in w.iter_mut().enumerate().take(n) {
            // SAFETY: the page of every word up to `words` was found mapped
            // above (the walk checks each page it enters), and the address
            // is 8-byte aligned.
            *word = unsafe { core::ptr::read_volatile((base + i as u64 * 8) as *const u64) };
        }
        match n {
            1 => crate::serial::write_fmt_emergency(format_args!("stack {base:#x}: {:#x}\n", w[0])),
            2 => crate::serial::write_fmt_emergency(format_args!(
                "stack {base:#x}: {:#x} {:#x}\n",
                w[0], w[1]
            )),
            3 => crate::serial::write_fmt_emergency(format_args!(
                "stack {base:#x}: {:#x} {:#x} {:#x}\n",
                w[0], w[1], w[2]
            )),
            _ => crate::serial::write_fmt_emergency(format_args!(
                "stack {base:#x}: {:#x} {:#x} {:#x} {:#x}\n",
                w[0], w[1], w[2], w[3]
            )),
        }
    }
    crate::serial::write_fmt_emergency(format_args!("backtrace: end\n"));
}
