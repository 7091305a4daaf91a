//! The audit ring under real concurrency: one writer thread appends as fast
//! as it can while reader threads dump continuously. Every record a reader
//! gets must be intact (each field is a function of the sequence number, so a
//! torn record cannot pass), and each reader's records plus its counted misses
//! must account for every event exactly once.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use ipc::audit::{AuditEvent, AuditKind, AuditRing};

const EVENTS: u64 = 200_000;
const READERS: usize = 2;

fn event(seq: u64) -> AuditEvent {
    let kind = [
        AuditKind::Grant,
        AuditKind::Use,
        AuditKind::Revoke,
        AuditKind::Denied,
    ][(seq % 4) as usize];
    AuditEvent {
        kind,
        pid: seq as u32 ^ 0x5a5a,
        token: seq.wrapping_mul(3),
        object: !seq,
        result: seq % 13,
        tsc: seq.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    }
}

#[test]
fn concurrent_dumps_never_see_a_torn_record() {
    let ring = AuditRing::<16>::new(3);
    let done = AtomicBool::new(false);
    let start = Barrier::new(READERS + 1);
    let totals = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let (mut cursor, mut seen, mut missed, mut dumps) = (0u64, 0u64, 0u64, 0u64);
                    loop {
                        dumps += 1;
                        let finished = done.load(Ordering::Acquire);
                        let mut last = None;
                        let summary = ring.dump_since(cursor, |record| {
                            assert_eq!(
                                record.event,
                                event(record.seq),
                                "torn record {}",
                                record.seq
                            );
                            assert!(last.is_none_or(|last| record.seq > last), "out of order");
                            assert!(record.seq >= cursor, "record from before the cursor");
                            last = Some(record.seq);
                            seen += 1;
                        });
                        missed += summary.missed;
                        if summary.next_seq == cursor {
                            // Nothing new: let the writer run (2 shared cores).
                            std::thread::yield_now();
                        }
                        cursor = summary.next_seq;
                        if finished {
                            return (cursor, seen, missed, dumps);
                        }
                    }
                })
            })
            .collect();
        let mut writer = ring.writer().expect("first writer");
        assert!(ring.writer().is_none(), "single writer");
        start.wait();
        for seq in 0..EVENTS {
            assert_eq!(writer.push(&event(seq)), seq);
            if seq % 200 == 0 {
                // Interleave with the readers even when cores are scarce.
                std::thread::yield_now();
            }
        }
        done.store(true, Ordering::Release);
        readers
            .into_iter()
            .map(|reader| reader.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (cursor, seen, missed, dumps) in totals {
        eprintln!("reader: {dumps} dumps, {seen} records read, {missed} missed");
        assert_eq!(cursor, EVENTS);
        assert_eq!(
            seen + missed,
            EVENTS,
            "every event read once or counted as missed"
        );
        assert!(
            seen >= 16,
            "the final dump sees at least the last ring's worth"
        );
    }
    assert_eq!(ring.written(), EVENTS);
    assert_eq!(ring.overwritten(), EVENTS - 16);
}
