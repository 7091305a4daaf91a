//! The instruction and stack pointers of the caller, for fault reports that
//! are unwound on the host (`crate::fault_report`).

/// `(rip, rsp, rbp)` at one point of the caller: inlined, so all three
/// describe the caller's frame at the same instruction (the host's
/// unwinder needs them to match: the call-frame rules depend on the
/// instruction, and frames compiled with a frame pointer find their
/// frame through `rbp`).
#[inline(always)]
pub fn here() -> (u64, u64, u64) {
    let (rip, rsp, rbp): (u64, u64, u64);
    // SAFETY: reads the instruction pointer (rip-relative lea), the stack
    // pointer and rbp; no memory access, no flags changed.
    unsafe {
        core::arch::asm!(
            "lea {rip}, [rip]",
            "mov {rsp}, rsp",
            "mov {rbp}, rbp",
            rip = out(reg) rip,
            rsp = out(reg) rsp,
            rbp = out(reg) rbp,
            options(nomem, nostack, preserves_flags)
        );
    }
    (rip, rsp, rbp)
}
