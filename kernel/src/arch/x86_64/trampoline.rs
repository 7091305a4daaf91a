//! The application-processor trampoline: real mode -> protected mode -> long
//! mode, then a jump to the kernel's Rust AP entry.
//!
//! The blob is assembled here (position-dependent on [`TRAMPOLINE_PHYS`]) and
//! copied to that page below 1 MiB before each STARTUP IPI (vector =
//! page number). Its parameter block at the end carries the CR3 to load (the
//! kernel's tables, temporarily given an identity map of the first 2 MiB), the
//! AP's stack top, the Rust entry point and its argument. The AP writes nothing
//! here: it reports through its per-CPU data once in Rust.

/// Physical address the trampoline is copied to (page 8, SIPI vector 0x08).
pub const TRAMPOLINE_PHYS: u64 = 0x8000;

/// The parameter block at the end of the blob (`#[repr(C)]`, 8-byte fields).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrampolineParams {
    /// Physical address of the PML4 (must be below 4 GiB).
    pub cr3: u64,
    /// Top of the AP's kernel stack (16-byte aligned).
    pub stack_top: u64,
    /// Address of `extern "C" fn(u64) -> !`.
    pub entry: u64,
    /// Argument passed in `rdi`.
    pub arg: u64,
}

core::arch::global_asm!(
    r#"
    .set TRAMP, {base}
    .section .rodata.ap_trampoline, "a"
    .balign 16
    .global ap_trampoline_start
ap_trampoline_start:
    .code16
    cli
    cld
    mov ax, cs
    mov ds, ax
    lgdt [AP_GDTR_OFF]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    /* jmp far 0x08:TRAMP+ap_tramp_32 with a 32-bit offset */
    .byte 0x66, 0xea
    .long TRAMP + (ap_tramp_32 - ap_trampoline_start)
    .short 0x08

    .code32
ap_tramp_32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, (1 << 5) | (1 << 7)               /* PAE | PGE */
    mov cr4, eax
    mov eax, [AP_PARAMS]
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, (1 << 8) | (1 << 11)              /* LME | NXE */
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16)             /* PG | WP */
    mov cr0, eax
    .byte 0xea
    .long TRAMP + (ap_tramp_64 - ap_trampoline_start)
    .short 0x18

    .code64
ap_tramp_64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, qword ptr [AP_PARAMS + 8]
    mov rdi, qword ptr [AP_PARAMS + 24]
    mov rax, qword ptr [AP_PARAMS + 16]
    xor ebp, ebp
    call rax
1:  hlt
    jmp 1b

    .balign 16
ap_tramp_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff                  /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff                  /* 0x10: data */
    .quad 0x00af9a000000ffff                  /* 0x18: 64-bit code */
ap_tramp_gdt_end:
    .balign 4
    .short 0
ap_tramp_gdtr:
    .short ap_tramp_gdt_end - ap_tramp_gdt - 1
    .long TRAMP + (ap_tramp_gdt - ap_trampoline_start)
    .balign 8
    .global ap_trampoline_params
ap_tramp_params:
ap_trampoline_params:
    .quad 0, 0, 0, 0
    .global ap_trampoline_end
ap_trampoline_end:
    .set AP_GDTR_OFF, ap_tramp_gdtr - ap_trampoline_start
    .set AP_PARAMS, TRAMP + (ap_tramp_params - ap_trampoline_start)
    .text
    "#,
    base = const TRAMPOLINE_PHYS,
);

unsafe extern "C" {
    // Assembler labels: only their addresses are meaningful.
    static ap_trampoline_start: u8;
    static ap_trampoline_params: u8;
    static ap_trampoline_end: u8;
}

/// The blob's bytes and the offset of its parameter block.
pub fn blob() -> (&'static [u8], usize) {
    let start = core::ptr::addr_of!(ap_trampoline_start);
    let params = core::ptr::addr_of!(ap_trampoline_params) as usize - start as usize;
    let len = core::ptr::addr_of!(ap_trampoline_end) as usize - start as usize;
    // SAFETY: the labels delimit the blob assembled above in .rodata, which is
    // mapped read-only for the kernel's lifetime.
    (unsafe { core::slice::from_raw_parts(start, len) }, params)
}

const _: () = assert!(core::mem::size_of::<TrampolineParams>() == 32);
