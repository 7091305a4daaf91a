//! `SYSCALL`/`SYSRET`, kernel context switches and the FPU.
//!
//! The syscall entry builds the same [`TrapFrame`] an interrupt from user mode
//! would (vector [`SYSCALL_VECTOR`]), so every path out of the kernel (sysret
//! here, iretq in `trap_return`) restores the same layout. Only registers the
//! user gave us, or results the kernel chose, go back: nothing of the kernel's
//! leaks (rcx and r11 hold the user's rip and rflags, as SYSRET requires).
//!
//! FPU/SSE/AVX state is switched *eagerly* on every thread switch (XSAVE when
//! the CPU has it, else FXSAVE): lazy switching saves little for an IPC kernel
//! whose hot path switches threads constantly, and it leaks state across
//! processes on CPUs affected by LazyFP (CVE-2018-3665).

use core::mem::offset_of;

use x86_64::VirtAddr;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::registers::xcontrol::{XCr0, XCr0Flags};

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

const F_RAX: usize = offset_of!(TrapFrame, rax);

/// Saves the callee-saved registers on the stack and the stack pointer to
/// `[rdi]`: the half of a switch that a later [`switch_stack`] to that
/// pointer undoes.
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

/// Switches to the kernel context saved at stack pointer `$to` (by
/// [`save_kernel_context!`], or built by `prepare_stack` /
/// [`prepare_parked_resume`]): its callee-saved registers, then a return
/// into it.
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

/// Leaves to user mode with SYSRET from the syscall [`TrapFrame`] at `rsp`:
/// every register from the frame but `rcx` and `r11`, which get its rip and
/// rflags (as SYSRET requires; the frame's own `rcx`/`r11` slots are not
/// read), then its user stack pointer. Loads rather than pops: the slots
/// that SYSRET does not need are skipped instead of popped. Shared by the
/// syscall entry's return and `parked_resume_entry` (and, for the
/// registers other than the result's, [`resume_user_frame_with`]).
macro_rules! sysret_from_frame {
    (rsp) => {
        concat!(
            sysret_from_frame!(@common rsp),
            "mov rdi, [rsp + 72]\n",
            "mov rsp, [rsp + 160]\n",
            "swapgs\n",
            "sysretq\n",
        )
    };
    (@common $base:ident) => {
        concat!(
            "mov r15, [", stringify!($base), " + 0]\n",
            "mov r14, [", stringify!($base), " + 8]\n",
            "mov r13, [", stringify!($base), " + 16]\n",
            "mov r12, [", stringify!($base), " + 24]\n",
            "mov r10, [", stringify!($base), " + 40]\n",
            "mov r9, [", stringify!($base), " + 48]\n",
            "mov r8, [", stringify!($base), " + 56]\n",
            "mov rbp, [", stringify!($base), " + 64]\n",
            "mov rsi, [", stringify!($base), " + 80]\n",
            "mov rdx, [", stringify!($base), " + 88]\n",
            "mov rbx, [", stringify!($base), " + 104]\n",
            "mov rax, [", stringify!($base), " + 112]\n",
            "mov rcx, [", stringify!($base), " + 136]\n",
            "mov r11, [", stringify!($base), " + 152]\n",
        )
    };
}

// The offsets `sysret_from_frame!` and `resume_user_frame_with` read.
const _: () = {
    use core::mem::offset_of as at;
    assert!(at!(TrapFrame, r15) == 0 && at!(TrapFrame, r14) == 8);
    assert!(at!(TrapFrame, r13) == 16 && at!(TrapFrame, r12) == 24);
    assert!(at!(TrapFrame, r10) == 40 && at!(TrapFrame, r9) == 48);
    assert!(at!(TrapFrame, r8) == 56 && at!(TrapFrame, rbp) == 64);
    assert!(at!(TrapFrame, rdi) == 72 && at!(TrapFrame, rsi) == 80);
    assert!(at!(TrapFrame, rdx) == 88 && at!(TrapFrame, rbx) == 104);
    assert!(at!(TrapFrame, rax) == 112 && at!(TrapFrame, rip) == 136);
    assert!(at!(TrapFrame, rflags) == 152 && at!(TrapFrame, rsp) == 160);
};

/// The SYSCALL entry point.
#[unsafe(naked)]
unsafe extern "C" fn syscall_entry() {
    core::arch::naked_asm!(
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
        sysret_from_frame!(rsp),
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
        fast_dispatch = const FAST_DISPATCH_OFFSET,
    );
}

const _: () = assert!(F_RAX == 14 * 8);

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

/// Leaves to user mode with SYSRET from the syscall [`TrapFrame`] at `frame`
/// on another thread's kernel stack, as a successful syscall with result
/// words `d0`-`d3` (`rdx r10 r8 r9`) and `badge` (`rsi`), status 0 (`rax`):
/// those come from the arguments (in registers), every other register from
/// the frame, which is not written (it is dead once SYSRET leaves it).
/// Nothing of the current kernel context is saved. The IPC fast path's
/// switch from a parked thread to a thread parked in a syscall: whatever
/// either kernel stack held below its frame is abandoned (a parked thread
/// resumed later through its kernel stack runs from
/// [`prepare_parked_resume`]'s context instead).
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
        "mov r15, [rdi + 0]",
        "mov r14, [rdi + 8]",
        "mov r13, [rdi + 16]",
        "mov r12, [rdi + 24]",
        "mov rbp, [rdi + 64]",
        "mov rbx, [rdi + 104]",
        "mov rcx, [rdi + 136]",
        "mov r11, [rdi + 152]",
        "mov rsp, [rdi + 160]",
        "mov rdi, [rdi + 72]",
        "swapgs",
        "sysretq",
    );
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

/// Builds, just below the syscall [`TrapFrame`] at `frame`, the kernel
/// context of a thread that the IPC fast path parked and that now runs
/// again through its kernel stack, and returns its stack pointer for
/// [`switch_stack`] or [`jump_to_context`]: it enters
/// `parked_resume_entry`, which finishes the thread's syscall with
/// `crate::syscall::resume_parked(frame, parked)` and leaves to user mode
/// with SYSRET from the frame.
///
/// # Safety
/// `frame` is the syscall frame at the top of the kernel stack of a parked
/// thread that is not running (so the stack below it is free), with a
/// canonical user rip.
pub unsafe fn prepare_parked_resume(frame: *mut TrapFrame, parked: u64) -> u64 {
    // The six callee-saved registers (`rbx`, the fifth popped, carries
    // `parked`) and the return address.
    let rsp = frame as u64 - 7 * 8;
    let slots = rsp as *mut u64;
    // SAFETY: the 56 bytes below the frame are on the thread's own kernel
    // stack, unused while it is parked (the caller's contract).
    unsafe {
        for i in 0..6 {
            slots.add(i).write(0);
        }
        slots.add(4).write(parked);
        slots.add(6).write(parked_resume_entry as *const () as u64);
    }
    rsp
}

/// The return address of [`prepare_parked_resume`]'s context: `rsp` is the
/// syscall frame (16-byte aligned, as at the syscall entry's call) and
/// `rbx` the parked word.
#[unsafe(naked)]
unsafe extern "C" fn parked_resume_entry() {
    core::arch::naked_asm!(
        "mov rdi, rsp",
        "mov rsi, rbx",
        "call {resume}",
        sysret_from_frame!(rsp),
        resume = sym crate::syscall::resume_parked,
    );
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
    // Six callee-saved registers (zero) and the return address.
    let rsp = frame_addr - 7 * 8;
    // SAFETY: within the range the caller vouches for.
    unsafe {
        (frame_addr as *mut TrapFrame).write(*frame);
        let slots = rsp as *mut u64;
        for i in 0..6 {
            slots.add(i).write(0);
        }
        slots.add(6).write(thread_first_entry as *const () as u64);
    }
    rsp
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

/// Whether the CPU has XSAVE (decided once by [`init_fpu`]).
static XSAVE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Size of a thread's FPU save area: the standard-format XSAVE area of the
/// components this kernel enables (x87 and SSE, 512 bytes; the XSAVE
/// header, 64; AVX, 256). [`init_fpu`] enables AVX only where CPUID says
/// the enabled components fit.
pub const FPU_AREA_SIZE: usize = 832;

/// A thread's saved FPU/SSE/AVX state.
#[repr(C, align(64))]
pub struct FpuArea(pub [u8; FPU_AREA_SIZE]);

/// Enables x87/SSE (and XSAVE with AVX when present) for user code on this CPU.
pub fn init_fpu() {
    let cpuid = raw_cpuid::CpuId::new();
    let f = cpuid.get_feature_info();
    let xsave = f.as_ref().is_some_and(|f| f.has_xsave());
    let avx = f.as_ref().is_some_and(|f| f.has_avx());
    // SAFETY: standard FPU enablement: CR0.MP on, EM and TS off; CR4.OSFXSR
    // and OSXMMEXCPT announce FXSAVE and SSE exception support; XCR0 enables
    // only components CPUID reports.
    unsafe {
        Cr0::update(|c| {
            c.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            c.insert(Cr0Flags::MONITOR_COPROCESSOR);
        });
        Cr4::update(|c| c.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
        if xsave {
            Cr4::update(|c| c.insert(Cr4Flags::OSXSAVE));
            let mut x = XCr0Flags::X87 | XCr0Flags::SSE;
            if avx {
                x |= XCr0Flags::AVX;
            }
            // write_raw: no read-back of XCR0 first (xgetbv), which some
            // nested-virtualisation instruction emulators cannot execute.
            XCr0::write_raw(x.bits());
            // The area XSAVE writes for the components now enabled must fit
            // a thread's FpuArea; otherwise x87 and SSE only (576 bytes).
            let size = cpuid.get_extended_state_info().map_or(usize::MAX, |i| {
                i.xsave_area_size_enabled_features() as usize
            });
            if size > FPU_AREA_SIZE {
                XCr0::write_raw((XCr0Flags::X87 | XCr0Flags::SSE).bits());
            }
        }
    }
    XSAVE.store(xsave, core::sync::atomic::Ordering::Relaxed);
}

/// Saves the current FPU state into `area`.
pub fn fpu_save(area: &mut FpuArea) {
    if XSAVE.load(core::sync::atomic::Ordering::Relaxed) {
        // SAFETY: OSXSAVE is enabled and the area is 64-byte aligned and large
        // enough for the components enabled in XCR0 (x87, SSE, AVX: 832 bytes).
        unsafe {
            core::arch::asm!("xsave64 [{}]", in(reg) area.0.as_mut_ptr(), in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
        };
    } else {
        // SAFETY: OSFXSR is enabled; the area is 16-byte aligned, >= 512 bytes.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack)) };
    }
}

/// Loads FPU state from `area` (saved by [`fpu_save`] or [`fpu_init_area`]).
pub fn fpu_restore(area: &FpuArea) {
    if XSAVE.load(core::sync::atomic::Ordering::Relaxed) {
        // SAFETY: the area holds a valid XSAVE image (as above).
        unsafe {
            core::arch::asm!("xrstor64 [{}]", in(reg) area.0.as_ptr(), in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
        };
    } else {
        // SAFETY: the area holds a valid FXSAVE image.
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack)) };
    }
}

/// Whether this kernel saves FPU state with XSAVE (else FXSAVE), as
/// [`init_fpu`] decided from CPUID.
pub fn xsave_on() -> bool {
    XSAVE.load(core::sync::atomic::Ordering::Relaxed)
}

/// [`fpu_save`] into `save`, then [`fpu_restore`] from `load`: a thread
/// switch's FPU work, for a CPU whose [`xsave_on`] is `XSAVE` (known when
/// the caller was chosen at boot, so no flag is tested here: the IPC fast
/// path's switch makes two per round trip, see
/// `crate::syscall::fast_dispatch`).
#[inline(always)]
pub fn fpu_switch<const XSAVE_ON: bool>(save: &mut FpuArea, load: &FpuArea) {
    debug_assert_eq!(xsave_on(), XSAVE_ON, "an FPU switch chosen for another CPU");
    if XSAVE_ON {
        // SAFETY: as in `fpu_save` and `fpu_restore`: OSXSAVE is enabled,
        // both areas are aligned and large enough, and `load` holds a valid
        // XSAVE image.
        unsafe {
            core::arch::asm!(
                "xsave64 [{save}]",
                "xrstor64 [{load}]",
                save = in(reg) save.0.as_mut_ptr(),
                load = in(reg) load.0.as_ptr(),
                in("eax") u32::MAX,
                in("edx") u32::MAX,
                options(nostack),
            )
        };
    } else {
        // SAFETY: as in `fpu_save` and `fpu_restore` (FXSAVE images).
        unsafe {
            core::arch::asm!(
                "fxsave64 [{save}]",
                "fxrstor64 [{load}]",
                save = in(reg) save.0.as_mut_ptr(),
                load = in(reg) load.0.as_ptr(),
                options(nostack),
            )
        };
    }
}

/// Fills `area` with the initial FPU state (as after `fninit`, MXCSR default).
pub fn fpu_init_area(area: &mut FpuArea) {
    area.0.fill(0);
    // Legacy area: FCW = 0x37f, MXCSR = 0x1f80 (the XSAVE header, zero,
    // marks every component as in its initial state).
    area.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    area.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
}

/// Reads the TSC as user code would (for tests of the kernel's clock).
pub fn canonical_user(addr: u64) -> bool {
    addr < 0x0000_8000_0000_0000
}
