//! Benchmark markers for the performance-model plugin (`perf::marker`), the
//! user side (the kernel has its own under `arch/x86_64/marker.rs`):
//! each is one multi-byte `nop` whose displacement the plugin reads when
//! QEMU translates it. On hardware and without the plugin it is a `nop`.

use perf::marker::{Kind, code};

/// Emits the marker `nop dword ptr [rdi + rdi*1 + CODE]` with exactly the
/// bytes `perf::marker::PREFIX` then `CODE` (little-endian), whatever the
/// assembler would choose for the mnemonic.
macro_rules! marker {
    ($code:expr) => {
        // SAFETY: a `nop`: it reads no memory and changes no register or flag.
        unsafe {
            core::arch::asm!(
                ".byte 0x0f, 0x1f, 0x84, 0x3f",
                ".long {code}",
                code = const $code,
                options(nomem, nostack, preserves_flags),
            )
        }
    };
}

const _: () = assert!(matches!(perf::marker::PREFIX, [0x0f, 0x1f, 0x84, 0x3f]));

/// Opens benchmark `ID`'s window (`perf::marker::bench_id` of its name).
#[inline(always)]
pub fn window_begin<const ID: u32>() {
    marker!(code(Kind::WindowBegin, ID));
}

/// Closes benchmark `ID`'s window.
#[inline(always)]
pub fn window_end<const ID: u32>() {
    marker!(code(Kind::WindowEnd, ID));
}

/// One operation's measured interval begins.
#[inline(always)]
pub fn op_begin() {
    marker!(code(Kind::OpBegin, 0));
}

/// The operation's interval ends.
#[inline(always)]
pub fn op_end() {
    marker!(code(Kind::OpEnd, 0));
}
