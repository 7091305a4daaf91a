//! What the plugin recognises in an instruction's bytes at translation
//! time: markers, and the instructions whose executions are events.
//!
//! A small x86-64 prefix/opcode decoder: legacy prefixes, one REX, then the
//! opcode. Only the handful of encodings below matter; everything else is
//! [`Special::None`].

use perf::marker::{self, Kind};

/// The recognised instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// Nothing the model counts (memory accesses aside).
    None,
    /// A benchmark marker.
    Marker(Kind, u32),
    /// `syscall`.
    Syscall,
    /// `mov cr3, r64`.
    Cr3Write,
    /// `invlpg m`.
    Invlpg,
    /// `invpcid r, m128`.
    Invpcid,
    /// `xsave*`, `xrstor*`, `fxsave`, `fxrstor` (memory forms).
    Xsave,
    /// `wrmsr`.
    Wrmsr,
    /// `mov ecx, imm32` (or `mov rcx, imm`): the MSR number a following
    /// `wrmsr` in the same block writes.
    MovEcx(u32),
}

/// Classifies one instruction's bytes.
#[must_use]
pub fn classify(bytes: &[u8]) -> Special {
    if let Some((kind, arg)) = marker::decode(bytes) {
        return Special::Marker(kind, arg);
    }
    let mut i = 0;
    let (mut opsize, mut rep) = (false, false);
    while let Some(&b) = bytes.get(i) {
        match b {
            0x66 => opsize = true,
            0xf2 | 0xf3 => rep = true,
            0x67 | 0xf0 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65 => {}
            _ => break,
        }
        i += 1;
    }
    let rex = match bytes.get(i) {
        Some(&b) if b & 0xf0 == 0x40 => {
            i += 1;
            b
        }
        _ => 0,
    };
    let rex_r = (rex >> 2) & 1;
    let rex_b = rex & 1;
    let at = |k: usize| bytes.get(i + k).copied();
    let modrm = |k: usize| at(k).map(|m| (m >> 6, (m >> 3) & 7));
    match (at(0), at(1)) {
        (Some(0xb9), _) if rex_b == 0 => match bytes.get(i + 1..i + 5) {
            Some(imm) => Special::MovEcx(u32::from_le_bytes([imm[0], imm[1], imm[2], imm[3]])),
            None => Special::None,
        },
        (Some(0x0f), Some(0x05)) => Special::Syscall,
        (Some(0x0f), Some(0x30)) => Special::Wrmsr,
        (Some(0x0f), Some(0x22)) => match modrm(2) {
            Some((_, 3)) if rex_r == 0 => Special::Cr3Write,
            _ => Special::None,
        },
        (Some(0x0f), Some(0x01)) => match modrm(2) {
            Some((m, 7)) if m != 3 => Special::Invlpg,
            _ => Special::None,
        },
        (Some(0x0f), Some(0x38)) if opsize && at(2) == Some(0x82) => Special::Invpcid,
        (Some(0x0f), Some(0xae)) if !opsize && !rep => match modrm(2) {
            Some((m, 0 | 1 | 4 | 5 | 6)) if m != 3 => Special::Xsave,
            _ => Special::None,
        },
        (Some(0x0f), Some(0xc7)) if !opsize && !rep => match modrm(2) {
            Some((m, 3..=5)) if m != 3 => Special::Xsave,
            _ => Special::None,
        },
        _ => Special::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_instructions_are_recognised() {
        let cases: &[(&[u8], Special)] = &[
            (&[0x0f, 0x05], Special::Syscall),
            (&[0x0f, 0x22, 0xd8], Special::Cr3Write), // mov cr3, rax
            (&[0x41, 0x0f, 0x22, 0xd8], Special::Cr3Write), // mov cr3, r8
            (&[0x0f, 0x01, 0x38], Special::Invlpg),   // invlpg [rax]
            (&[0x66, 0x0f, 0x38, 0x82, 0x00], Special::Invpcid),
            (&[0x0f, 0xae, 0x20], Special::Xsave), // xsave [rax]
            (&[0x48, 0x0f, 0xae, 0x20], Special::Xsave), // xsave64 [rax]
            (&[0x48, 0x0f, 0xae, 0x28], Special::Xsave), // xrstor64 [rax]
            (&[0x48, 0x0f, 0xae, 0x00], Special::Xsave), // fxsave64 [rax]
            (&[0x0f, 0xc7, 0x28], Special::Xsave), // xsaves [rax]
            (&[0x0f, 0x30], Special::Wrmsr),
            (&[0xb9, 0x30, 0x08, 0x00, 0x00], Special::MovEcx(0x830)),
        ];
        for (bytes, want) in cases {
            assert_eq!(classify(bytes), *want, "{bytes:02x?}");
        }
    }

    #[test]
    fn look_alikes_are_not_events() {
        let cases: &[&[u8]] = &[
            &[0x0f, 0x20, 0xd8],                   // mov rax, cr3 (a read)
            &[0x44, 0x0f, 0x22, 0xd8],             // mov cr11: REX.R
            &[0x0f, 0x22, 0xc0],                   // mov cr0, rax
            &[0x0f, 0x01, 0xf8],                   // swapgs (0F 01 /7, register form)
            &[0x0f, 0xae, 0xe8],                   // lfence
            &[0x0f, 0xae, 0x38],                   // clflush [rax]
            &[0x66, 0x0f, 0xae, 0x30],             // clwb [rax]
            &[0xf3, 0x48, 0x0f, 0xae, 0xc0],       // rdfsbase rax
            &[0x0f, 0xc7, 0x08],                   // cmpxchg8b [rax]
            &[0x41, 0xb9, 0x30, 0x08, 0x00, 0x00], // mov r9d, 0x830
            &[0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0], // compiler padding
            &[0x90],
            &[],
        ];
        for bytes in cases {
            assert_eq!(classify(bytes), Special::None, "{bytes:02x?}");
        }
    }

    #[test]
    fn markers_are_decoded() {
        let b = marker::bytes(Kind::WindowBegin, 77);
        assert_eq!(classify(&b), Special::Marker(Kind::WindowBegin, 77));
    }
}
