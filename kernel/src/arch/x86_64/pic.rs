//! The legacy 8259 PICs: remapped away from the exception vectors and masked.
//!
//! Firmware leaves them delivering the PIT's IRQ 0 at vector 8, which would
//! look like a double fault the moment interrupts are enabled. The kernel uses
//! the local APIC only, so both PICs are remapped to 0x20..0x2f (spurious IRQs
//! 7 and 15 may still arrive there and are ignored) and fully masked.

use x86_64::instructions::port::Port;

/// First vector of the remapped master PIC.
pub const PIC_BASE: u8 = 0x20;

/// Remaps and masks both PICs.
pub fn disable() {
    let mut master_cmd = Port::<u8>::new(0x20);
    let mut master_data = Port::<u8>::new(0x21);
    let mut slave_cmd = Port::<u8>::new(0xa0);
    let mut slave_data = Port::<u8>::new(0xa1);
    // SAFETY: the standard 8259 initialisation sequence on the PC's fixed PIC
    // ports, run on the BSP with interrupts disabled before anything else
    // uses the PICs.
    unsafe {
        master_cmd.write(0x11); // ICW1: init, ICW4 follows
        slave_cmd.write(0x11);
        master_data.write(PIC_BASE); // ICW2: vector offsets
        slave_data.write(PIC_BASE + 8);
        master_data.write(4); // ICW3: slave on IRQ 2
        slave_data.write(2);
        master_data.write(0x01); // ICW4: 8086 mode
        slave_data.write(0x01);
        master_data.write(0xff); // mask everything
        slave_data.write(0xff);
    }
}
