//! Benchmark markers: one-instruction signals from the guest to the
//! performance-model plugin (`perf/plugin`), recognised when QEMU translates
//! the code, never executed for effect.
//!
//! A marker is the 8-byte multi-byte `nop`
//! `0F 1F 84 3F d0 d1 d2 d3` = `nop dword ptr [rdi + rdi*1 + disp32]`, whose
//! little-endian displacement is the marker's [`code`]. Compilers pad with
//! `nop dword ptr [rax + rax*1 + 0]` (SIB byte `0x00`, displacement 0), never
//! with `rdi + rdi`, and the displacement's top byte is [`MAGIC`]; so the
//! plugin matches all eight bytes and nothing else looks like a marker. The
//! `nop` reads no memory and changes no register or flag: the guest pays one
//! instruction.
//!
//! The displacement: bits 31..24 [`MAGIC`], 23..20 the [`Kind`], 19..0 the
//! argument (a benchmark's [`bench_id`] for window markers, else 0).
//!
//! A benchmark opens its window, brackets each operation's measured
//! interval with [`Kind::OpBegin`] / [`Kind::OpEnd`] (placed outside its
//! own timestamps, so the measured numbers do not change), and closes the
//! window; the plugin counts only inside operations, on every CPU, and
//! divides by the operations.
//!
//! Markers carry no name; the host matches a window to the `@bench` record
//! of the same name through [`bench_id`], a 20-bit FNV-1a hash of the name
//! (the plugin and the runner compute it the same way).

/// The displacement's top byte (`'V'`).
pub const MAGIC: u32 = 0x56;

/// The marker's bytes before its displacement.
pub const PREFIX: [u8; 4] = [0x0f, 0x1f, 0x84, 0x3f];

/// Length of a marker instruction in bytes.
pub const LEN: usize = 8;

/// What a marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The measured window of benchmark `arg` (its [`bench_id`]) opens:
    /// nothing is counted until an [`Kind::OpBegin`].
    WindowBegin,
    /// The window of benchmark `arg` closes (its counts are reported).
    WindowEnd,
    /// One operation's measured interval begins: from the next instruction
    /// on, every CPU's events count.
    OpBegin,
    /// The operation's interval ends before this instruction (counting
    /// stops; the window's operation count grows by one).
    OpEnd,
    /// The next `mov cr3` of this CPU keeps the TLB (PCID no-flush bit set):
    /// the plugin cannot read the register, so the kernel says so.
    Cr3NoFlush,
}

impl Kind {
    const fn bits(self) -> u32 {
        match self {
            Self::WindowBegin => 1,
            Self::WindowEnd => 2,
            Self::OpBegin => 3,
            Self::OpEnd => 4,
            Self::Cr3NoFlush => 5,
        }
    }

    const fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            1 => Some(Self::WindowBegin),
            2 => Some(Self::WindowEnd),
            3 => Some(Self::OpBegin),
            4 => Some(Self::OpEnd),
            5 => Some(Self::Cr3NoFlush),
            _ => None,
        }
    }
}

/// Mask of a marker's argument.
pub const ARG_MASK: u32 = 0x000f_ffff;

/// The displacement of a marker of `kind` with argument `arg` (masked to
/// 20 bits).
#[must_use]
pub const fn code(kind: Kind, arg: u32) -> u32 {
    (MAGIC << 24) | (kind.bits() << 20) | (arg & ARG_MASK)
}

/// A benchmark's 20-bit identifier: FNV-1a over the name's bytes, folded.
#[must_use]
pub const fn bench_id(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    (hash ^ (hash >> 20)) & ARG_MASK
}

/// The marker at the start of `bytes` (an instruction's bytes), if it is one.
#[must_use]
pub fn decode(bytes: &[u8]) -> Option<(Kind, u32)> {
    if bytes.len() != LEN || bytes[..4] != PREFIX {
        return None;
    }
    let disp = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if disp >> 24 != MAGIC {
        return None;
    }
    Kind::from_bits((disp >> 20) & 0xf).map(|kind| (kind, disp & ARG_MASK))
}

/// The instruction bytes of a marker (what the guest's `asm!` emits).
#[must_use]
pub const fn bytes(kind: Kind, arg: u32) -> [u8; LEN] {
    let d = code(kind, arg).to_le_bytes();
    [
        PREFIX[0], PREFIX[1], PREFIX[2], PREFIX[3], d[0], d[1], d[2], d[3],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_with_its_argument() {
        for kind in [
            Kind::WindowBegin,
            Kind::WindowEnd,
            Kind::OpBegin,
            Kind::OpEnd,
            Kind::Cr3NoFlush,
        ] {
            for arg in [0, 1, 0x1234, ARG_MASK] {
                assert_eq!(decode(&bytes(kind, arg)), Some((kind, arg)));
            }
        }
    }

    #[test]
    fn compiler_padding_and_other_instructions_are_not_markers() {
        // nop dword ptr [rax + rax*1 + 0] (8 bytes with disp32 0).
        assert_eq!(decode(&[0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0]), None);
        // Right SIB, wrong magic.
        assert_eq!(decode(&[0x0f, 0x1f, 0x84, 0x3f, 0, 0, 0x10, 0x57]), None);
        // Right magic, unknown kind.
        assert_eq!(decode(&[0x0f, 0x1f, 0x84, 0x3f, 0, 0, 0xf0, 0x56]), None);
        // Too short or too long.
        assert_eq!(decode(&bytes(Kind::OpEnd, 0)[..7]), None);
        assert_eq!(
            decode(&[0x0f, 0x1f, 0x84, 0x3f, 0, 0, 0x30, 0x56, 0x90]),
            None
        );
    }

    #[test]
    fn bench_ids_fit_and_differ_for_the_suite_names() {
        let names = [
            "syscall.null",
            "ipc.call.same_cpu",
            "ipc.call.cross_cpu",
            "ipc.call.same_cpu.oneway",
            "ipc.call.same_cpu.cold",
            "ipc.async.latency.cross_cpu",
            "ipc.async.throughput.cross_cpu.b1",
            "ipc.async.throughput.cross_cpu.b16",
            "ipc.large.4096",
            "ipc.large.1048576",
            "ipc.shm.transfer.4096",
            "ipc.shm.transfer.1048576",
            "ipc.large.2097152",
            "ipc.large.16777216",
            "ipc.large.67108864",
            "ipc.shm.transfer.2097152",
            "ipc.shm.transfer.16777216",
            "ipc.shm.transfer.67108864",
            "ipc.shm.map.4096",
            "ipc.shm.map.1048576",
            "ipc.shm.map.2097152",
            "ipc.shm.map.16777216",
            "ipc.shm.map.67108864",
            "cap.lookup.16",
            "cap.lookup.65536",
            "model.calib.l1",
            "model.calib.stride",
            "model.calib.pingpong",
            "model.calib.same_cpu",
        ];
        let ids: Vec<u32> = names.iter().map(|n| bench_id(n)).collect();
        for (i, a) in ids.iter().enumerate() {
            assert!(*a <= ARG_MASK);
            for b in &ids[i + 1..] {
                assert_ne!(a, b, "two suite names share a marker id");
            }
        }
        // Known value: FNV-1a of "a" is 0xe40c292c.
        assert_eq!(
            bench_id("a"),
            (0xe40c_292c ^ (0xe40c_292c >> 20)) & ARG_MASK
        );
    }
}
