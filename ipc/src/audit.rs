//! The capability audit trail: events, a per-CPU lock-free ring, and the
//! `@audit v1` serial line format.
//!
//! Each CPU owns one [`AuditRing`]: a single writer (the owning CPU, enforced
//! by the [`AuditWriter`] claim) appends without ever blocking, overwriting
//! the oldest record when full; any number of readers may dump concurrently.
//! Every slot is a seqlock made of atomics only: the writer marks the slot odd
//! (`2n + 1` for record `n`), writes the fields, then marks it even
//! (`2n + 2`). A reader that sees the same even value before and after reading
//! the fields (with an acquire fence in between, the pattern of Boehm's
//! "Can seqlocks get along with programming language memory models?") got an
//! intact record `n`; anything else means the record was overwritten and is
//! counted as missed, never returned torn.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

/// What happened to a capability.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A capability was granted or derived.
    Grant = 1,
    /// A capability was used successfully.
    Use = 2,
    /// A capability was revoked.
    Revoke = 3,
    /// A use or derivation was refused.
    Denied = 4,
}

impl AuditKind {
    /// The name used in `@audit` lines.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            AuditKind::Grant => "grant",
            AuditKind::Use => "use",
            AuditKind::Revoke => "revoke",
            AuditKind::Denied => "denied",
        }
    }

    const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(AuditKind::Grant),
            2 => Some(AuditKind::Use),
            3 => Some(AuditKind::Revoke),
            4 => Some(AuditKind::Denied),
            _ => None,
        }
    }
}

/// One audited capability operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The acting process.
    pub pid: u32,
    /// The token used (raw [`crate::cap::CapToken`]).
    pub token: u64,
    /// The capability object's id ([`crate::cap::IpcCapability::id`]), which
    /// unlike the token is unique across spaces and never reused.
    pub object: u64,
    /// The status code returned ([`crate::error::IpcError::code`], 0 = ok).
    pub result: u64,
    /// TSC when it happened.
    pub tsc: u64,
}

/// An event with its sequence number in its ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuditRecord {
    /// 0 for the ring's first event, then +1 per event.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
}

/// One seqlock-protected record; a cache line so that a reader of one slot
/// does not bounce the line the writer is filling.
#[repr(align(64))]
struct AuditSlot {
    seq: AtomicU64,
    kind_and_pid: AtomicU64,
    token: AtomicU64,
    object: AtomicU64,
    result: AtomicU64,
    tsc: AtomicU64,
}

impl AuditSlot {
    const fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
            kind_and_pid: AtomicU64::new(0),
            token: AtomicU64::new(0),
            object: AtomicU64::new(0),
            result: AtomicU64::new(0),
            tsc: AtomicU64::new(0),
        }
    }
}

/// What a dump saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DumpSummary {
    /// Pass this as `from_seq` next time to continue where this dump ended.
    pub next_seq: u64,
    /// Records between `from_seq` and `next_seq` that were overwritten before
    /// they could be read.
    pub missed: u64,
}

/// A fixed-size audit ring of `N` records (`N` a power of two).
pub struct AuditRing<const N: usize> {
    cpu: u32,
    /// Records written so far; record `n` lives in slot `n % N`.
    head: AtomicU64,
    writer_claimed: AtomicBool,
    slots: [AuditSlot; N],
}

impl<const N: usize> AuditRing<N> {
    /// An empty ring for `cpu`; usable in a `static`.
    #[must_use]
    pub const fn new(cpu: u32) -> Self {
        const {
            assert!(
                N.is_power_of_two(),
                "audit ring size must be a power of two"
            )
        };
        Self {
            cpu,
            head: AtomicU64::new(0),
            writer_claimed: AtomicBool::new(false),
            slots: [const { AuditSlot::new() }; N],
        }
    }

    /// The CPU this ring belongs to.
    #[must_use]
    pub const fn cpu(&self) -> u32 {
        self.cpu
    }

    /// Claims the single writer; `None` while another writer exists.
    #[must_use]
    pub fn writer(&self) -> Option<AuditWriter<'_, N>> {
        self.writer_claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| AuditWriter { ring: self })
    }

    /// Events ever written.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Events overwritten so far (written but no longer held).
    #[must_use]
    pub fn overwritten(&self) -> u64 {
        self.written().saturating_sub(N as u64)
    }

    fn slot(&self, seq: u64) -> &AuditSlot {
        // `N` is a power of two, so the mask keeps the index in bounds.
        &self.slots[(seq & (N as u64 - 1)) as usize]
    }

    /// Reads record `seq` if it is still intact.
    fn read(&self, seq: u64) -> Option<AuditRecord> {
        let slot = self.slot(seq);
        let before = slot.seq.load(Ordering::Acquire);
        if before != 2 * seq + 2 {
            return None;
        }
        let kind_and_pid = slot.kind_and_pid.load(Ordering::Relaxed);
        let token = slot.token.load(Ordering::Relaxed);
        let object = slot.object.load(Ordering::Relaxed);
        let result = slot.result.load(Ordering::Relaxed);
        let tsc = slot.tsc.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) != before {
            return None;
        }
        let kind = AuditKind::from_raw(kind_and_pid as u8)?;
        let pid = (kind_and_pid >> 32) as u32;
        Some(AuditRecord {
            seq,
            event: AuditEvent {
                kind,
                pid,
                token,
                object,
                result,
                tsc,
            },
        })
    }

    /// Calls `visit` with every intact record from `from_seq` on, oldest
    /// first, without blocking the writer. Records already overwritten are
    /// counted in [`DumpSummary::missed`].
    pub fn dump_since(&self, from_seq: u64, mut visit: impl FnMut(&AuditRecord)) -> DumpSummary {
        let head = self.written();
        let start = from_seq.max(head.saturating_sub(N as u64));
        let mut summary = DumpSummary {
            next_seq: head.max(from_seq),
            missed: start.saturating_sub(from_seq),
        };
        for seq in start..head {
            match self.read(seq) {
                Some(record) => visit(&record),
                None => summary.missed += 1,
            }
        }
        summary
    }
}

/// The one writer of an [`AuditRing`]; dropping it releases the claim.
pub struct AuditWriter<'ring, const N: usize> {
    ring: &'ring AuditRing<N>,
}

impl<const N: usize> AuditWriter<'_, N> {
    /// Appends `event`, overwriting the oldest record when the ring is full.
    /// Never blocks; returns the event's sequence number.
    pub fn push(&mut self, event: &AuditEvent) -> u64 {
        // Only this writer stores `head`, so a relaxed load sees its own value.
        let seq = self.ring.head.load(Ordering::Relaxed);
        let slot = self.ring.slot(seq);
        slot.seq.store(2 * seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.kind_and_pid.store(
            ((event.pid as u64) << 32) | event.kind as u64,
            Ordering::Relaxed,
        );
        slot.token.store(event.token, Ordering::Relaxed);
        slot.object.store(event.object, Ordering::Relaxed);
        slot.result.store(event.result, Ordering::Relaxed);
        slot.tsc.store(event.tsc, Ordering::Relaxed);
        slot.seq.store(2 * seq + 2, Ordering::Release);
        self.ring.head.store(seq + 1, Ordering::Release);
        seq
    }
}

impl<const N: usize> Drop for AuditWriter<'_, N> {
    fn drop(&mut self) {
        self.ring.writer_claimed.store(false, Ordering::Release);
    }
}

/// Writes `record` from CPU `cpu` as one line (with a trailing newline):
/// `@audit v1 cpu=0 seq=12 kind=use pid=3 cap=0x0000000100000002 obj=7 result=0 tsc=123456`.
///
/// # Errors
/// Whatever `out` returns.
pub fn write_audit_line(out: &mut impl fmt::Write, cpu: u32, record: &AuditRecord) -> fmt::Result {
    let event = &record.event;
    writeln!(
        out,
        "@audit v1 cpu={cpu} seq={} kind={} pid={} cap={:#018x} obj={} result={} tsc={}",
        record.seq,
        event.kind.name(),
        event.pid,
        event.token,
        event.object,
        event.result,
        event.tsc,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    fn event(n: u64) -> AuditEvent {
        AuditEvent {
            kind: AuditKind::Use,
            pid: n as u32,
            token: n,
            object: n,
            result: 0,
            tsc: n,
        }
    }

    #[test]
    fn line_format_is_stable() {
        let record = AuditRecord {
            seq: 12,
            event: AuditEvent {
                kind: AuditKind::Denied,
                pid: 3,
                token: 0x1_0000_0002,
                object: 7,
                result: 8,
                tsc: 123_456,
            },
        };
        let mut line = String::new();
        write_audit_line(&mut line, 1, &record).unwrap();
        assert_eq!(
            line,
            "@audit v1 cpu=1 seq=12 kind=denied pid=3 cap=0x0000000100000002 obj=7 result=8 tsc=123456\n"
        );
    }

    #[test]
    fn one_writer_at_a_time() {
        let ring = AuditRing::<4>::new(0);
        let writer = ring.writer();
        assert!(writer.is_some());
        assert!(ring.writer().is_none());
        drop(writer);
        assert!(ring.writer().is_some());
    }

    #[test]
    fn overwrites_are_counted_and_dumps_resume() {
        let ring = AuditRing::<8>::new(2);
        let mut writer = ring.writer().unwrap();
        for n in 0..5 {
            assert_eq!(writer.push(&event(n)), n);
        }
        let mut seen = Vec::new();
        let summary = ring.dump_since(0, |record| seen.push(record.seq));
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(
            summary,
            DumpSummary {
                next_seq: 5,
                missed: 0
            }
        );

        for n in 5..20 {
            writer.push(&event(n));
        }
        assert_eq!(ring.written(), 20);
        assert_eq!(ring.overwritten(), 12);
        seen.clear();
        let summary = ring.dump_since(5, |record| {
            assert_eq!(record.event, event(record.seq));
            seen.push(record.seq);
        });
        assert_eq!(seen, (12..20).collect::<Vec<_>>());
        assert_eq!(
            summary,
            DumpSummary {
                next_seq: 20,
                missed: 7
            }
        );
        let summary = ring.dump_since(20, |_| panic!("nothing new"));
        assert_eq!(
            summary,
            DumpSummary {
                next_seq: 20,
                missed: 0
            }
        );
    }
}
