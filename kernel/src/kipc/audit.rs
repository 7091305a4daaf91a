//! The capability audit trail: one `ipc::audit::AuditRing` per CPU, written
//! by that CPU only (interrupts are off in syscalls, so the single-writer
//! claim always succeeds), dumped over serial as `@audit v1` lines.
//!
//! Audited: every capability created (endpoint, derive, grant: `grant`),
//! revoked (`revoke`), and every refusal of a capability by any operation
//! (`denied`, with the error code). Successful message operations (`use`)
//! are not recorded: a record costs as much as the rest of an IPC.

use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

use ipc::IpcError;
use ipc::audit::{AuditEvent, AuditKind, AuditRing, write_audit_line};
use ipc::cap::CapToken;

use crate::percpu::MAX_CPUS;
use crate::task::Pid;

/// Records per CPU (a power of two; the oldest are overwritten).
const RING_RECORDS: usize = 128;

/// One CPU's audit trail, in its per-CPU data (`PerCpu::audit`).
pub struct CpuAudit {
    ring: AuditRing<RING_RECORDS>,
    /// Where the next dump of the ring starts.
    dumped: AtomicU64,
}

impl CpuAudit {
    /// An empty trail of CPU `cpu`.
    pub const fn new(cpu: u32) -> Self {
        Self {
            ring: AuditRing::new(cpu),
            dumped: AtomicU64::new(0),
        }
    }
}

/// Appends an event to this CPU's ring.
pub(super) fn record(
    kind: AuditKind,
    pid: Pid,
    token: CapToken,
    object: u64,
    result: Result<(), IpcError>,
) {
    let Some(cpu) = crate::percpu::current() else {
        return;
    };
    let ring = &cpu.audit.ring;
    // Only this CPU writes its ring and it does so with interrupts off, so
    // the claim cannot fail; if it ever did, the event is dropped.
    if let Some(mut writer) = ring.writer() {
        writer.push(&AuditEvent {
            kind,
            pid,
            token: token.0,
            object,
            result: ipc::error::status_from_result(result),
            tsc: super::now(),
        });
    }
}

/// Prints every record not dumped yet, ring by ring, as `@audit v1` lines;
/// returns `[records printed, records lost to overwriting, 0, 0]`.
pub fn dump() -> [u64; 4] {
    let (mut printed, mut missed) = (0, 0);
    let online = crate::cpus::online() as usize;
    for (cpu, trail) in (0..online.min(MAX_CPUS) as u32)
        .filter_map(crate::percpu::of)
        .map(|c| (c.index, &c.audit))
    {
        let mut lines = String::new();
        let from = trail.dumped.load(Ordering::Acquire);
        let summary = trail.ring.dump_since(from, |record| {
            let _ = write_audit_line(&mut lines, cpu, record);
            printed += 1;
        });
        trail.dumped.fetch_max(summary.next_seq, Ordering::AcqRel);
        missed += summary.missed;
        if !lines.is_empty() {
            crate::serial::write_fmt(format_args!("{lines}"));
        }
    }
    [printed, missed, 0, 0]
}
