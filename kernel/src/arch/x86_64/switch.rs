//! Kernel context switches: a kernel context is the callee-saved registers
//! and a return address on its own stack ([`KernelContext`]), saved by
//! [`switch_stack`] and restored by it or [`jump_to_context`]; new threads
//! and parked threads get one built for them.

use super::idt::TrapFrame;

/// A kernel context on its stack, lowest address first: what
/// `save_kernel_context!` pushes (below the return address of the call into
/// [`switch_stack`]) and `restore_kernel_context!` pops before returning.
#[repr(C)]
struct KernelContext {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    rbx: u64,
    rbp: u64,
    /// Where the restored context continues.
    rip: u64,
}

/// Saves the callee-saved registers on the stack (the [`KernelContext`]
/// below the caller's return address) and the stack pointer to `[rdi]`:
/// the half of a switch that a later [`switch_stack`] to that pointer undoes.
macro_rules! save_kernel_context {
    () => {
        concat!(
            "push rbp\n",
            "push rbx\n",
            "push r12\n",
            "push r13\n",
            "push r14\n",
            "push r15\n",
            "mov [rdi], rsp\n",
        )
    };
}

/// Switches to the [`KernelContext`] at stack pointer `$to`: its
/// callee-saved registers, then a return into it.
macro_rules! restore_kernel_context {
    ($to:literal) => {
        concat!(
            "mov rsp, ",
            $to,
            "\n",
            "pop r15\n",
            "pop r14\n",
            "pop r13\n",
            "pop r12\n",
            "pop rbx\n",
            "pop rbp\n",
            "ret\n",
        )
    };
}

/// Saves the callee-saved registers on the current stack, stores the stack
/// pointer to `*from_rsp`, switches to `to_rsp` and restores what the target
/// saved there. Returns when something switches back to `*from_rsp`.
///
/// # Safety
/// `to_rsp` must be a stack prepared by [`prepare_stack`] or saved by a
/// previous call; interrupts must be off.
#[unsafe(naked)]
pub unsafe extern "C" fn switch_stack(from_rsp: *mut u64, to_rsp: u64) {
    core::arch::naked_asm!(save_kernel_context!(), restore_kernel_context!("rsi"),);
}

/// Switches to `to_rsp` (as [`switch_stack`] does) without saving the
/// current context: the switch away from a parked thread, whose kernel
/// stack holds nothing that must run again.
///
/// # Safety
/// As for [`switch_stack`]'s `to_rsp`; nothing on the current stack may
/// need to run again.
#[unsafe(naked)]
pub unsafe extern "C" fn jump_to_context(to_rsp: u64) -> ! {
    core::arch::naked_asm!(restore_kernel_context!("rdi"));
}

/// Writes a [`KernelContext`] that continues at `rip` with `rbx` just
/// below `top` and returns its stack pointer (the other registers zero).
///
/// # Safety
/// The [`KernelContext`] below `top` is writable memory of a kernel stack
/// that nothing else uses.
unsafe fn push_context(top: u64, rip: u64, rbx: u64) -> u64 {
    let rsp = top - core::mem::size_of::<KernelContext>() as u64;
    let context = KernelContext {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        rbx,
        rbp: 0,
        rip,
    };
    // SAFETY: per the contract; `top` is 8-byte aligned (a frame's address).
    unsafe { (rsp as *mut KernelContext).write(context) };
    rsp
}

/// Builds, just below the syscall [`TrapFrame`] at `frame`, the kernel
/// context of a thread that the IPC fast path parked and that now runs
/// again through its kernel stack, and returns its stack pointer for
/// [`switch_stack`] or [`jump_to_context`]: it enters
/// [`parked_resume_entry`](super::entry::parked_resume_entry) with the
/// parked word in `rbx`, which finishes the thread's syscall with
/// `crate::syscall::finish_parked_syscall(frame, parked)` and leaves to user mode
/// with SYSRET from the frame.
///
/// # Safety
/// `frame` is the syscall frame at the top of the kernel stack of a parked
/// thread that is not running (so the stack below it is free), with a
/// canonical user rip.
pub unsafe fn prepare_parked_resume(frame: *mut TrapFrame, parked: u64) -> u64 {
    let entry = super::entry::parked_resume_entry as *const () as u64;
    // SAFETY: the stack below the frame is the thread's own, unused while
    // it is parked (the caller's contract).
    unsafe { push_context(frame as u64, entry, parked) }
}

/// The first code of a new thread: leaves to user mode through `trap_return`
/// with the TrapFrame [`prepare_stack`] placed above.
#[unsafe(naked)]
unsafe extern "C" fn thread_first_entry() {
    core::arch::naked_asm!("call {hook}", "jmp trap_return", hook = sym crate::task::on_thread_start);
}

/// Lays out a new kernel stack (top at `stack_top`) so that switching to the
/// returned stack pointer enters user mode with `frame`.
///
/// # Safety
/// `[stack_top - 4 KiB, stack_top)` must be writable memory owned by the new
/// thread.
pub unsafe fn prepare_stack(stack_top: u64, frame: &TrapFrame) -> u64 {
    let frame_addr = stack_top - core::mem::size_of::<TrapFrame>() as u64;
    // SAFETY: within the range the caller vouches for.
    unsafe {
        (frame_addr as *mut TrapFrame).write(*frame);
        push_context(frame_addr, thread_first_entry as *const () as u64, 0)
    }
}
