//! `SYSCALL`/`SYSRET`: the syscall entry and the ways back to user mode.
//!
//! The syscall entry builds the same [`TrapFrame`] an interrupt from user mode
//! would (vector [`SYSCALL_VECTOR`]), so every path out of the kernel (sysret
//! here, iretq in `trap_return`) restores the same layout. Only registers the
//! user gave us, or results the kernel chose, go back: nothing of the kernel's
//! leaks (rcx and r11 hold the user's rip and rflags, as SYSRET requires).
//! Every frame offset the assembly reads is a `const offset_of!` operand.

use core::mem::offset_of;

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;

use super::gdt::{KERNEL_CS, KERNEL_DS, USER_CS, USER_DS};
use super::idt::TrapFrame;
use crate::percpu::{FAST_DISPATCH_OFFSET, KERNEL_RSP_OFFSET, USER_RSP_OFFSET};

/// The `vector` value of a TrapFrame built by the syscall entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// Enables SYSCALL/SYSRET on this CPU and points LSTAR at the entry.
pub fn init_this_cpu() {
    // SAFETY: the selectors match the GDT layout (gdt.rs); LSTAR points to the
    // naked entry below; SFMASK clears IF, DF, TF and AC on entry so the kernel
    // runs with interrupts off and a sane direction flag.
    unsafe {
        Star::write(USER_CS, USER_DS, KERNEL_CS, KERNEL_DS).expect("GDT layout fits STAR");
        LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
        SFMask::write(
            RFlags::INTERRUPT_FLAG
                | RFlags::DIRECTION_FLAG
                | RFlags::TRAP_FLAG
                | RFlags::ALIGNMENT_CHECK,
        );
        Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
}

/// Leaves to user mode with SYSRET from the syscall [`TrapFrame`] at `rsp`:
/// every register from the frame but `rcx` and `r11`, which get its rip and
/// rflags (as SYSRET requires; the frame's own `rcx`/`r11` slots are not
/// read), then its user stack pointer. Loads rather than pops: the slots
/// that SYSRET does not need are skipped instead of popped. Its `{f_*}`
/// operands are the frame's offsets, which [`naked_asm_sysret!`] supplies.
macro_rules! sysret_from_frame {
    () => {
        concat!(
            "mov r15, [rsp + {f_r15}]\n",
            "mov r14, [rsp + {f_r14}]\n",
            "mov r13, [rsp + {f_r13}]\n",
            "mov r12, [rsp + {f_r12}]\n",
            "mov r10, [rsp + {f_r10}]\n",
            "mov r9, [rsp + {f_r9}]\n",
            "mov r8, [rsp + {f_r8}]\n",
            "mov rbp, [rsp + {f_rbp}]\n",
            "mov rsi, [rsp + {f_rsi}]\n",
            "mov rdx, [rsp + {f_rdx}]\n",
            "mov rbx, [rsp + {f_rbx}]\n",
            "mov rax, [rsp + {f_rax}]\n",
            "mov rcx, [rsp + {f_rip}]\n",
            "mov r11, [rsp + {f_rflags}]\n",
            "mov rdi, [rsp + {f_rdi}]\n",
            "mov rsp, [rsp + {f_rsp}]\n",
            "swapgs\n",
            "sysretq\n",
        )
    };
}

/// `naked_asm!` whose template uses [`sysret_from_frame!`]: the arguments,
/// then the frame offsets that macro reads.
macro_rules! naked_asm_sysret {
    ($($args:tt)*) => {
        core::arch::naked_asm!(
            $($args)*,
            f_r15 = const offset_of!(TrapFrame, r15),
            f_r14 = const offset_of!(TrapFrame, r14),
            f_r13 = const offset_of!(TrapFrame, r13),
            f_r12 = const offset_of!(TrapFrame, r12),
            f_r10 = const offset_of!(TrapFrame, r10),
            f_r9 = const offset_of!(TrapFrame, r9),
            f_r8 = const offset_of!(TrapFrame, r8),
            f_rbp = const offset_of!(TrapFrame, rbp),
            f_rsi = const offset_of!(TrapFrame, rsi),
            f_rdx = const offset_of!(TrapFrame, rdx),
            f_rbx = const offset_of!(TrapFrame, rbx),
            f_rax = const offset_of!(TrapFrame, rax),
            f_rip = const offset_of!(TrapFrame, rip),
            f_rflags = const offset_of!(TrapFrame, rflags),
            f_rdi = const offset_of!(TrapFrame, rdi),
            f_rsp = const offset_of!(TrapFrame, rsp),
        )
    };
}

/// The SYSCALL entry point.
#[unsafe(naked)]
unsafe extern "C" fn syscall_entry() {
    naked_asm_sysret!(
        "swapgs",
        "mov gs:[{user_rsp}], rsp",
        "mov rsp, gs:[{kernel_rsp}]",
        "push {user_ds}",
        "push qword ptr gs:[{user_rsp}]",
        "push r11",
        "push {user_cs}",
        "push rcx",
        "push 0",
        "push {vector}",
        "push rax",
        "push rbx",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rdi, rsp",
        // `call` and `reply_recv` without flags (the whole of rsi: opcode
        // and flags in one compare) go straight to the IPC fast path, with
        // rsi (now exactly the opcode) as its second argument.
        "cmp rsi, {call}",
        "je 2f",
        "cmp rsi, {reply_recv}",
        "je 2f",
        "call {dispatch}",
        // Return with sysret (the dispatchers guarantee a canonical user rip;
        // otherwise they never return here).
        "1:",
        sysret_from_frame!(),
        "2:",
        // This CPU's instance of the fast path (`PerCpu::fast_dispatch`).
        "call qword ptr gs:[{fast_dispatch}]",
        "jmp 1b",
        user_rsp = const USER_RSP_OFFSET,
        kernel_rsp = const KERNEL_RSP_OFFSET,
        user_ds = const USER_DS.0 as u64,
        user_cs = const USER_CS.0 as u64,
        vector = const SYSCALL_VECTOR,
        call = const crate::kipc::op::CALL,
        reply_recv = const crate::kipc::op::REPLY_RECV,
        dispatch = sym crate::syscall::dispatch,
        fast_dispatch = const FAST_DISPATCH_OFFSET
    );
}

/// Leaves to user mode with SYSRET from the syscall [`TrapFrame`] at `frame`
/// on another thread's kernel stack, as a successful syscall with result
/// words `d0`-`d3` (`rdx r10 r8 r9`) and `badge` (`rsi`), status 0 (`rax`):
/// those come from the arguments (in registers), every other register from
/// the frame, which is not written (it is dead once SYSRET leaves it).
/// Nothing of the current kernel context is saved. The IPC fast path's
/// switch from a parked thread to a thread parked in a syscall: whatever
/// either kernel stack held below its frame is abandoned (a parked thread
/// resumed later through its kernel stack runs from
/// [`prepare_parked_resume`](super::switch::prepare_parked_resume)'s
/// context instead).
///
/// # Safety
/// Interrupts off; `frame` is the syscall TrapFrame at the top of the kernel
/// stack of the thread this CPU now runs (CR3, RSP0, GS bookkeeping and FPU
/// already switched), with a canonical user rip; nothing on that stack below
/// the frame, nor on the current stack, may need to run again.
#[unsafe(naked)]
pub unsafe extern "C" fn resume_user_frame_with(
    frame: *const TrapFrame,
    badge: u64,
    d0: u64,
    d1: u64,
    d2: u64,
    d3: u64,
) -> ! {
    // In: rdi frame, rsi badge, rdx d0, rcx d1, r8 d2, r9 d3 (the C ABI),
    // which are already the result registers but for d1 (r10) and rax.
    core::arch::naked_asm!(
        "mov r10, rcx",
        "xor eax, eax",
        "mov r15, [rdi + {f_r15}]",
        "mov r14, [rdi + {f_r14}]",
        "mov r13, [rdi + {f_r13}]",
        "mov r12, [rdi + {f_r12}]",
        "mov rbp, [rdi + {f_rbp}]",
        "mov rbx, [rdi + {f_rbx}]",
        "mov rcx, [rdi + {f_rip}]",
        "mov r11, [rdi + {f_rflags}]",
        "mov rsp, [rdi + {f_rsp}]",
        "mov rdi, [rdi + {f_rdi}]",
        "swapgs",
        "sysretq",
        f_r15 = const offset_of!(TrapFrame, r15),
        f_r14 = const offset_of!(TrapFrame, r14),
        f_r13 = const offset_of!(TrapFrame, r13),
        f_r12 = const offset_of!(TrapFrame, r12),
        f_rbp = const offset_of!(TrapFrame, rbp),
        f_rbx = const offset_of!(TrapFrame, rbx),
        f_rip = const offset_of!(TrapFrame, rip),
        f_rflags = const offset_of!(TrapFrame, rflags),
        f_rsp = const offset_of!(TrapFrame, rsp),
        f_rdi = const offset_of!(TrapFrame, rdi),
    );
}

/// The return address of a parked thread's resume context
/// ([`prepare_parked_resume`](super::switch::prepare_parked_resume)): `rsp`
/// is the syscall frame (16-byte aligned, as at the syscall entry's call)
/// and `rbx` the parked word. Finishes the thread's syscall with
/// `crate::syscall::finish_parked_syscall(frame, parked)` and leaves to user mode
/// with SYSRET from the frame.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn parked_resume_entry() {
    naked_asm_sysret!(
        "mov rdi, rsp",
        "mov rsi, rbx",
        "call {resume}",
        sysret_from_frame!(),
        resume = sym crate::syscall::finish_parked_syscall
    );
}

/// A trap frame that enters user mode at `rip` with stack `rsp` and `rdi`.
pub fn user_entry_frame(rip: u64, rsp: u64, rdi: u64) -> TrapFrame {
    TrapFrame {
        rip,
        rsp,
        rdi,
        cs: u64::from(USER_CS.0),
        ss: u64::from(USER_DS.0),
        rflags: (RFlags::INTERRUPT_FLAG).bits() | 0x2,
        ..TrapFrame::default()
    }
}

/// Whether `addr` lies in the user half of the address space (below
/// 2^47), so SYSRET to it cannot fault in ring 0.
pub fn canonical_user(addr: u64) -> bool {
    addr < 0x0000_8000_0000_0000
}
