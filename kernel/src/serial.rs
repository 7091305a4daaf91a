//! The kernel console: COM1 through the `uart_16550` crate, shared by all CPUs.
//!
//! Output is line-buffered by nobody: every `kprint!` takes the console lock with
//! interrupts disabled (so an interrupt handler that prints cannot deadlock
//! against the code it interrupted), which also keeps records whole: one
//! `kprintln!` is one uninterrupted line on the wire.

use core::fmt::{self, Write};
use uart_16550::SerialPort;

/// The I/O port base of COM1.
const COM1: u16 = 0x3f8;

static CONSOLE: crate::sync::IrqMutex<Option<SerialPort>> = crate::sync::IrqMutex::new(None);

/// Initialises COM1 (115200 8N1, FIFOs on). Safe to call more than once.
pub fn init() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut console = CONSOLE.lock();
        if console.is_none() {
            // SAFETY: COM1 at 0x3f8 is the standard PC serial port; nothing
            // else in the kernel touches these I/O ports.
            let mut port = unsafe { SerialPort::new(COM1) };
            port.init();
            *console = Some(port);
        }
    });
}

/// Writes formatted text to the console (used by the print macros).
pub fn write_fmt(args: fmt::Arguments<'_>) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut console = CONSOLE.lock();
        if let Some(port) = console.as_mut() {
            // The UART never reports an error; a formatting error of a Display
            // impl is not worth dying for on the console path.
            let _ = port.write_fmt(args);
        }
    });
}

/// Writes to the console even if another CPU holds the lock forever (a CPU
/// that panicked while printing): used only by the panic and fault paths.
pub fn write_fmt_emergency(args: fmt::Arguments<'_>) {
    // SAFETY: as in `init`; a second SerialPort handle on the same ports may
    // interleave bytes with a concurrent writer but cannot corrupt memory.
    let mut port = unsafe { SerialPort::new(COM1) };
    let _ = port.write_fmt(args);
}

/// A `core::fmt::Write` sink for the console, for code that formats
/// incrementally (records built piece by piece). Each `write_str` is atomic;
/// build a whole record in a buffer first when it must not be interleaved.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_fmt(format_args!("{s}"));
        Ok(())
    }
}

/// Prints to the serial console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::serial::write_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the serial console, atomically with respect to other CPUs.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::serial::write_fmt(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::serial::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
