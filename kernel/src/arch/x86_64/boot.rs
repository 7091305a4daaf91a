//! The 32-bit entry path shared by both boot protocols, up to the first Rust
//! instruction in long mode.
//!
//! Two loaders, one path:
//! - PVH (`qemu -kernel`): QEMU finds the `XEN_ELFNOTE_PHYS32_ENTRY` note and
//!   enters `_start_pvh` in 32-bit protected mode, paging off, `ebx` = physical
//!   address of `hvm_start_info`.
//! - Multiboot2 (GRUB): GRUB finds the header in the first 32 KiB, loads the
//!   segments at their physical addresses and enters the ELF entry
//!   (`_start_multiboot2`) with `eax` = 0x36d76289 and `ebx` = the boot
//!   information structure.
//!
//! Both record which loader ran (`edi`) and the boot information address (`esi`)
//! and fall into `boot_common32`, which builds throw-away page tables
//! (identity + direct map of the first 4 GiB with 2 MiB pages, and the kernel's
//! higher-half window), enables PAE/long mode/NX/paging, loads a 64-bit GDT and
//! far-jumps to 64-bit code that switches to the higher-half boot stack and
//! calls [`crate::boot::kernel_entry`]. Rust then builds the real page tables.

/// Loader identifier passed in `rdi` to the Rust entry: PVH.
pub const LOADER_PVH: u32 = 1;
/// Loader identifier passed in `rdi` to the Rust entry: Multiboot2.
pub const LOADER_MULTIBOOT2: u32 = 2;
/// Size of the boot stack (also the BSP's first kernel stack).
/// (Four times as much in debug builds, whose unoptimised frames are
/// several times larger: 64 KiB overflowed there, silently, into the
/// frame allocator below it.)
pub const BOOT_STACK_SIZE: usize = 64 * 1024 * crate::DEBUG_STACK_SCALE;

/// The BSP's boot stack, in the higher half. 16-byte aligned by the wrapper.
#[repr(C, align(4096))]
pub struct BootStack(pub [u8; BOOT_STACK_SIZE]);

#[unsafe(no_mangle)]
static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

core::arch::global_asm!(
    r#"
    .set MB2_MAGIC, 0xe85250d6
    .set MB2_LOADER_MAGIC, 0x36d76289
    .set KERNEL_VMA, 0xffffffff80000000

    /* ---------------- Multiboot2 header (first 32 KiB of the file) ---------------- */
    .section .multiboot2, "a"
    .balign 8
mb2_header_start:
    .long MB2_MAGIC
    .long 0                                   /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header_start
    .long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header_start))
    .balign 8
    /* entry address tag (type 3): the physical 32-bit entry */
    .short 3
    .short 0
    .long 12
    .long _start_multiboot2
    .balign 8
    /* end tag */
    .short 0
    .short 0
    .long 8
mb2_header_end:

    /* ---------------- PVH ELF note ---------------- */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                                   /* namesz: "Xen\0" */
    .long 8                                   /* descsz */
    .long 18                                  /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad _start_pvh
    .balign 4

    /* ---------------- 32-bit entry code (identity-mapped) ---------------- */
    .section .boot.text, "ax"
    .code32
    .global _start_pvh
_start_pvh:
    cli
    cld
    mov edi, {loader_pvh}
    mov esi, ebx
    jmp boot_common32

    .global _start_multiboot2
_start_multiboot2:
    cli
    cld
    cmp eax, MB2_LOADER_MAGIC
    jne boot_fail32
    mov edi, {loader_mb2}
    mov esi, ebx
    jmp boot_common32

boot_fail32:
    /* Not entered by a known loader: print 'E' on COM1 and stop. */
    mov dx, 0x3f8
    mov al, 'E'
    out dx, al
1:  hlt
    jmp 1b

boot_common32:
    mov esp, offset boot_stack32_top

    /* Long mode supported? (CPUID 8000_0001h EDX bit 29) */
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb boot_fail32
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz boot_fail32

    /* Four page directories of 2 MiB pages map physical 0..4 GiB. */
    mov ecx, 0
2:  mov eax, ecx
    shl eax, 21                               /* low half of ecx * 2 MiB */
    or eax, 0x83                              /* present | writable | huge */
    mov edx, ecx
    shr edx, 11                               /* high half of ecx * 2 MiB */
    mov [boot_pd + ecx * 8], eax
    mov [boot_pd + ecx * 8 + 4], edx
    inc ecx
    cmp ecx, 2048
    jne 2b

    /* PDPT for the low 4 GiB: entries 0..3 -> the four directories. */
    mov ecx, 0
3:  mov eax, ecx
    shl eax, 12
    add eax, offset boot_pd
    or eax, 0x3
    mov [boot_pdpt_low + ecx * 8], eax
    mov dword ptr [boot_pdpt_low + ecx * 8 + 4], 0
    inc ecx
    cmp ecx, 4
    jne 3b

    /* PDPT for the top 2 GiB: entries 510, 511 -> physical 0..2 GiB. */
    mov eax, offset boot_pd
    or eax, 0x3
    mov [boot_pdpt_high + 510 * 8], eax
    add eax, 0x1000
    mov [boot_pdpt_high + 511 * 8], eax

    /* PML4: 0 (identity), 256 (direct map at 0xffff800000000000), 511 (kernel). */
    mov eax, offset boot_pdpt_low
    or eax, 0x3
    mov [boot_pml4], eax
    mov [boot_pml4 + 256 * 8], eax
    mov eax, offset boot_pdpt_high
    or eax, 0x3
    mov [boot_pml4 + 511 * 8], eax

    /* CR4.PAE, CR3, EFER.LME|NXE, CR0.PG|WP. */
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov eax, offset boot_pml4
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, (1 << 8) | (1 << 11)
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16)
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    mov eax, offset boot_long_mode
    push 0x08
    push eax
    retf

    .code64
boot_long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    /* Switch to the higher-half boot stack and jump to Rust. */
    movabs rsp, offset BOOT_STACK + {stack_size}
    xor rbp, rbp
    /* edi/esi (loader kind, boot info address) are zero-extended already. */
    mov edi, edi
    mov esi, esi
    movabs rax, offset {entry}
    call rax
4:  hlt
    jmp 4b

    /* ---------------- boot data ---------------- */
    .section .boot.data, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff                  /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff                  /* 0x10: data */
boot_gdt_end:
    .balign 4
    .short 0
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .boot.bss, "aw", @nobits
    .balign 4096
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096 * 4
boot_stack32:   .skip 4096
boot_stack32_top:

    .text
    "#,
    loader_pvh = const LOADER_PVH,
    loader_mb2 = const LOADER_MULTIBOOT2,
    stack_size = const BOOT_STACK_SIZE,
    entry = sym crate::boot::kernel_entry,
);
