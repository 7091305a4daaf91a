//! Leaving QEMU: the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
//!
//! QEMU exits with status `(value << 1) | 1`. The kernel's codes, 0x10 for
//! success (QEMU status 33) and 0x20 for failure (status 65), cannot be confused
//! with QEMU's own 0 and 1. On hardware without the device the write goes
//! nowhere and the caller halts.

use x86_64::instructions::port::Port;

/// Why the kernel is stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Everything asked for on the command line succeeded.
    Success = 0x10,
    /// A test failed, the kernel panicked or faulted.
    Failure = 0x20,
}

/// Asks QEMU to exit with `code`, then halts this CPU forever (on hardware, or
/// if the device is absent).
pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit device when present; on a PC
    // without it, 0xf4 is unassigned and the write has no effect.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    super::cpu::halt_forever()
}
