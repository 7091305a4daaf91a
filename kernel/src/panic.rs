//! The panic handler: file:line, message and CPU on the console, the
//! current thread and the stack for a backtrace (`crate::fault_report`),
//! then a failure exit (the in-kernel test runner first closes its report).

use core::panic::PanicInfo;

use crate::arch::x86_64::qemu::{self, ExitCode};

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    x86_64::instructions::interrupts::disable();
    let cpu = crate::cpu_index();
    match info.location() {
        Some(loc) => crate::serial::write_fmt_emergency(format_args!(
            "\n!!! kernel panic on cpu {cpu} at {}:{}: {}\n",
            loc.file(),
            loc.line(),
            info.message()
        )),
        None => crate::serial::write_fmt_emergency(format_args!(
            "\n!!! kernel panic on cpu {cpu}: {}\n",
            info.message()
        )),
    }
    crate::fault_report::print_thread();
    let (pc, sp, bp) = crate::arch::x86_64::backtrace::here();
    crate::fault_report::print_backtrace(pc, sp, bp);
    crate::ktest::on_fatal("kernel panic");
    qemu::exit(ExitCode::Failure)
}
