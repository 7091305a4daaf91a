//! Leaving QEMU: the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
//!
//! QEMU exits with status `(value << 1) | 1`. The kernel's codes, 0x10 for
//! success (QEMU status 33) and 0x20 for failure (status 65), cannot be confused
//! with QEMU's own 0 and 1. Bochs has no such device; writing the string
//! `Shutdown` byte by byte to its port 0x8900 ends the emulation (Bochs exits
//! with status 1 either way, so the runner judges a Bochs run by the serial
//! console alone). On hardware without either device the writes go nowhere
//! and the caller halts.

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

/// Bochs's shutdown port: the bytes of [`BOCHS_SHUTDOWN`] written to it in
/// order end the emulation.
const BOCHS_SHUTDOWN_PORT: u16 = 0x8900;
/// The string Bochs's shutdown port matches.
const BOCHS_SHUTDOWN: &[u8] = b"Shutdown";

/// Asks QEMU to exit with `code` (and Bochs to end the emulation), then halts
/// this CPU forever (on hardware, or if neither device is present).
pub fn exit(code: ExitCode) -> ! {
    // The last console line names the verdict, for emulators whose own exit
    // status cannot carry it (Bochs). The emergency writer cannot block on a
    // console lock that a panicking CPU holds.
    crate::serial::write_fmt_emergency(format_args!(
        "exit: {} ({:#x})\n",
        match code {
            ExitCode::Success => "success",
            ExitCode::Failure => "failure",
        },
        code as u32
    ));
    wait_for_serial_drain();
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit device when present; on a PC
    // without it, 0xf4 is unassigned and the write has no effect.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    let mut bochs = Port::<u8>::new(BOCHS_SHUTDOWN_PORT);
    for &byte in BOCHS_SHUTDOWN {
        // SAFETY: 0x8900 is Bochs's shutdown port under Bochs; on QEMU and on
        // PCs it is unassigned and byte writes to it have no effect.
        unsafe { bochs.write(byte) };
    }
    super::cpu::halt_forever()
}

/// COM1's line status register; bit 6 (TEMT) is set once the transmitter has
/// sent every byte it holds.
const COM1_LSR: u16 = 0x3fd;
const LSR_TRANSMITTER_EMPTY: u8 = 1 << 6;

/// Waits (bounded) until COM1 has sent its last byte, so that an emulator
/// that stops at once (Bochs) does not cut the closing line short.
fn wait_for_serial_drain() {
    let mut lsr = Port::<u8>::new(COM1_LSR);
    for _ in 0..1_000_000 {
        // SAFETY: reading COM1's line status register has no side effect on
        // output; the console lock is not needed for a status read.
        if unsafe { lsr.read() } & LSR_TRANSMITTER_EMPTY != 0 {
            return;
        }
        core::hint::spin_loop();
    }
}
