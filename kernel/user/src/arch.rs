//! The user side of the syscall ABI: the only assembly user programs contain
//! (the one exception to "asm lives under `kernel/src/arch/x86_64/`", see the
//! README's conventions: user programs keep their syscall stubs in their own
//! runtime, and the kernel never builds this file).

/// Raw result of a syscall: status (`rax`), data words, badge (`rsi`).
#[derive(Clone, Copy, Debug)]
pub struct Raw {
    /// 0 = ok, else an `IpcError` code.
    pub status: u64,
    /// `rdx r10 r8 r9` on return.
    pub data: [u64; 4],
    /// `rsi` on return.
    pub badge: u64,
}

/// Issues `syscall` with the ABI's registers.
#[inline(always)]
pub fn syscall(cap: u64, opcode_flags: u64, data: [u64; 4]) -> Raw {
    let (status, d0, d1, d2, d3, badge);
    // SAFETY: SYSCALL enters the kernel, which preserves every register except
    // rax (status), rdx/r10/r8/r9 (results), rsi (badge), and rcx/r11 (the
    // CPU's return rip/rflags); no memory is touched on the user side.
    unsafe {
        core::arch::asm!(
            "syscall",
            in("rdi") cap,
            inlateout("rsi") opcode_flags => badge,
            inlateout("rdx") data[0] => d0,
            inlateout("r10") data[1] => d1,
            inlateout("r8") data[2] => d2,
            inlateout("r9") data[3] => d3,
            lateout("rax") status,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    Raw {
        status,
        data: [d0, d1, d2, d3],
        badge,
    }
}

/// The value [`syscall_capture_registers`] puts in rbx, rbp and r12-r15
/// before the syscall.
pub const SCRUB_SENTINEL: u64 = 0x5a5a_0000_0000_5a5a;

/// Issues syscall `opcode` with every other register set to a known value
/// (data words 0, callee-saved registers [`SCRUB_SENTINEL`]) and returns every
/// general register as it was right after the syscall returned (for the
/// register-scrub test): rax rbx rcx rdx rsi rdi rbp r8 r9 r10 r11 r12 r13 r14 r15.
pub fn syscall_capture_registers(opcode: u64) -> [u64; 15] {
    let mut regs = [0u64; 15];
    // SAFETY: the asm saves the callee-saved registers it overwrites, stores
    // all fifteen registers into `regs` (a valid 120-byte buffer) and restores
    // them; everything else is declared clobbered.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "push rbp",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            "push rdi",
            "mov rsi, {op}",
            "xor edi, edi",
            "xor edx, edx",
            "xor r10d, r10d",
            "xor r8d, r8d",
            "xor r9d, r9d",
            "mov rbx, {sentinel}",
            "mov rbp, rbx",
            "mov r12, rbx",
            "mov r13, rbx",
            "mov r14, rbx",
            "mov r15, rbx",
            "xor eax, eax",
            "syscall",
            "xchg rdi, [rsp]",
            "mov [rdi + 0], rax",
            "mov [rdi + 8], rbx",
            "mov [rdi + 16], rcx",
            "mov [rdi + 24], rdx",
            "mov [rdi + 32], rsi",
            "pop rax",
            "mov [rdi + 40], rax",
            "mov [rdi + 48], rbp",
            "mov [rdi + 56], r8",
            "mov [rdi + 64], r9",
            "mov [rdi + 72], r10",
            "mov [rdi + 80], r11",
            "mov [rdi + 88], r12",
            "mov [rdi + 96], r13",
            "mov [rdi + 104], r14",
            "mov [rdi + 112], r15",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbp",
            "pop rbx",
            op = in(reg) opcode,
            sentinel = const SCRUB_SENTINEL,
            in("rdi") regs.as_mut_ptr(),
            out("rax") _, out("rcx") _, out("rdx") _, out("rsi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    regs
}

/// Reads the TSC (`lfence; rdtsc`).
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: lfence and rdtsc have no memory effects. (`_mm_lfence` is an
    // SSE2 intrinsic, which this soft-float target cannot inline: it cost a
    // call and a return per reading.)
    unsafe {
        core::arch::asm!("lfence", options(nostack, preserves_flags));
        core::arch::x86_64::_rdtsc()
    }
}

/// Deliberate faults for the fault-isolation tests.
pub mod fault {
    /// #UD.
    pub fn invalid_opcode() -> ! {
        // SAFETY: ud2 raises #UD; the kernel kills the process.
        unsafe { core::arch::asm!("ud2", options(noreturn)) }
    }

    /// #GP: a privileged instruction in ring 3.
    pub fn general_protection() -> ! {
        // SAFETY: cli in ring 3 (IOPL 0) raises #GP; the kernel kills us.
        unsafe { core::arch::asm!("cli", "ud2", options(noreturn)) }
    }

    /// `sidt` in ring 3: the IDT's base, or #GP where the kernel enabled
    /// UMIP (the kernel then kills the process).
    pub fn store_idt() -> u64 {
        let mut table = [0u8; 10];
        // SAFETY: sidt writes 10 bytes (limit, base) to the local buffer.
        unsafe {
            core::arch::asm!("sidt [{}]", in(reg) table.as_mut_ptr(), options(nostack));
        }
        let mut base = [0u8; 8];
        base.copy_from_slice(&table[2..]);
        u64::from_le_bytes(base)
    }

    /// #DE: division by zero.
    pub fn divide_error() -> ! {
        // SAFETY: div by zero raises #DE; the kernel kills the process.
        unsafe {
            core::arch::asm!(
                "xor ecx, ecx",
                "xor edx, edx",
                "mov eax, 1",
                "div ecx",
                "ud2",
                options(noreturn)
            )
        }
    }
}
