//! Trap dispatch: the safe core behind the IDT stubs.
//!
//! Exceptions in kernel mode are fatal: the register dump, the current
//! thread and the stack for a backtrace (`crate::fault_report`) go to the
//! console and the kernel stops with a failure exit code. Exceptions in user mode will
//! kill only the offending process (user-mode issue). Device and IPI vectors are
//! routed through a table of handlers registered at run time.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch::x86_64::idt::TrapFrame;
use crate::arch::x86_64::qemu::{self, ExitCode};

/// A handler for an interrupt vector (32..=255).
pub type IrqHandler = fn(&mut TrapFrame);

/// Kernel-mode breakpoints taken (see `dispatch`).
pub static BREAKPOINTS: AtomicUsize = AtomicUsize::new(0);

/// Registered handlers, as function addresses (0 = none).
static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

/// Registers `handler` for `vector`, replacing any previous one.
///
/// # Panics
/// If `vector` is an exception vector (below 32): exceptions are not routable.
pub fn register(vector: u8, handler: IrqHandler) {
    assert!(vector >= 32, "vector {vector} is an exception vector");
    HANDLERS[vector as usize].store(handler as usize, Ordering::Release);
}

/// Human-readable exception names, by vector.
fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating point",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        _ => "reserved exception",
    }
}

/// Called by `trap_common` with interrupts disabled (interrupt gates).
pub extern "C" fn dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector;
    if vector == 3 && !frame.from_user() {
        // int3 in the kernel: count it and go on (used by the trap round-trip
        // test; a debugger attached through QEMU's gdb stub never gets here).
        BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if (vector == 13 || vector == 6)
        && !frame.from_user()
        && crate::arch::x86_64::cpu::fixup_probe(&mut frame.rip)
    {
        // A probed MSR or counter does not exist: the probe returns None.
        return;
    }
    if vector < 32 {
        if frame.from_user() && vector != 2 && vector != 8 && vector != 18 {
            // A user fault kills that process alone.
            let addr = if vector == 14 {
                x86_64::registers::control::Cr2::read_raw()
            } else {
                frame.rip
            };
            crate::process::user_fault(vector, addr);
        }
        fatal_exception(frame);
    }
    let handler = HANDLERS[vector as usize].load(Ordering::Acquire);
    if handler == 0 && (vector == 0x27 || vector == 0x2f) {
        // Spurious IRQ 7/15 of the (masked) legacy PICs: nothing to do.
        return;
    }
    if handler == 0 {
        crate::kprintln!(
            "warning: unexpected interrupt vector {vector} on cpu {}",
            crate::cpu_index()
        );
        return;
    }
    // SAFETY: only `register` stores non-zero values, and it stores valid
    // `IrqHandler` function pointers.
    let handler: IrqHandler = unsafe { core::mem::transmute::<usize, IrqHandler>(handler) };
    // Before the handler: a timer tick may switch threads and not return.
    crate::soak_tests::on_interrupt();
    crate::fault::on_interrupt();
    handler(frame);
}

/// Prints the register dump of a kernel-mode exception and stops the kernel.
fn fatal_exception(frame: &TrapFrame) -> ! {
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    let f = frame;
    crate::serial::write_fmt_emergency(format_args!(
        "\n!!! kernel exception on cpu {cpu}: {name} (vector {v}, error code {ec:#x})\n\
         rip={rip:#018x} cs={cs:#x} rflags={rf:#x} rsp={rsp:#018x} ss={ss:#x}\n\
         faulting address (cr2)={cr2:#018x}\n\
         rax={rax:#018x} rbx={rbx:#018x} rcx={rcx:#018x} rdx={rdx:#018x}\n\
         rsi={rsi:#018x} rdi={rdi:#018x} rbp={rbp:#018x} r8 ={r8:#018x}\n\
         r9 ={r9:#018x} r10={r10:#018x} r11={r11:#018x} r12={r12:#018x}\n\
         r13={r13:#018x} r14={r14:#018x} r15={r15:#018x}\n",
        cpu = crate::cpu_index(),
        name = exception_name(f.vector),
        v = f.vector,
        ec = f.error_code,
        rip = f.rip,
        cs = f.cs,
        rf = f.rflags,
        rsp = f.rsp,
        ss = f.ss,
        cr2 = cr2,
        rax = f.rax,
        rbx = f.rbx,
        rcx = f.rcx,
        rdx = f.rdx,
        rsi = f.rsi,
        rdi = f.rdi,
        rbp = f.rbp,
        r8 = f.r8,
        r9 = f.r9,
        r10 = f.r10,
        r11 = f.r11,
        r12 = f.r12,
        r13 = f.r13,
        r14 = f.r14,
        r15 = f.r15,
    ));
    crate::fault_report::print_thread();
    crate::fault_report::print_backtrace(f.rip, f.rsp, f.rbp);
    crate::ktest::on_fatal("kernel exception");
    qemu::exit(ExitCode::Failure)
}

crate::ktest! {
    /// An `int3` goes through the stub, the dispatcher and back with every
    /// general register intact.
    fn breakpoint_round_trip() {
        let before = BREAKPOINTS.load(Ordering::Relaxed);
        let (mut a, mut b) = (0x1111_2222_3333_4444u64, 0x5555_6666_7777_8888u64);
        crate::arch::x86_64::cpu::breakpoint_preserving(&mut a, &mut b);
        crate::kensure!(BREAKPOINTS.load(Ordering::Relaxed) == before + 1, "breakpoint not counted");
        crate::kensure!(a == 0x1111_2222_3333_4444 && b == 0x5555_6666_7777_8888, "registers clobbered: {a:#x} {b:#x}");
        Ok(())
    }
}

crate::ktest! {
    /// A faulting counter probe (an invalid rdpmc index: #GP on hardware and
    /// KVM, #UD under TCG) returns None instead of crashing the kernel, and an
    /// MSR that exists everywhere (IA32_EFER) reads through the same path.
    fn counter_probes_survive_faults() {
        crate::kensure!(crate::arch::x86_64::cpu::rdpmc_probe(0x7fff_ffff).is_none(), "invalid rdpmc index read succeeded");
        let efer = crate::arch::x86_64::cpu::rdmsr_probe(0xc000_0080);
        crate::kensure!(efer.is_some_and(|e| e & (1 << 10) != 0), "IA32_EFER unreadable or long mode inactive: {efer:?}");
        // Writes: an MSR index in no architecture's range raises #GP on
        // hardware and KVM, which the probe survives (we get here); QEMU
        // 7.2's TCG ignores writes (and reads 0) of unknown MSRs instead.
        let wrote = crate::arch::x86_64::cpu::wrmsr_probe(0x0bad_0000, 0);
        crate::kprintln!("probe: write to a nonexistent MSR {}", if wrote.is_none() { "faulted (survived)" } else { "was ignored (as TCG does)" });
        let efer = efer.unwrap_or(0);
        crate::kensure!(crate::arch::x86_64::cpu::wrmsr_probe(0xc000_0080, efer).is_some(), "rewriting IA32_EFER faulted");
        Ok(())
    }
}
