//! Tests for [`super::IpiMessage`] and [`super::TlbShootdown`]: the protocol
//! step by step on one thread, then many rounds on real threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::*;

fn request(tag: u64) -> FlushRequest {
    FlushRequest {
        address_space: tag,
        start: tag * 0x1000,
        end: tag * 0x1000 + 0x1000,
    }
}

#[test]
fn messages_round_trip_and_bad_words_are_rejected() {
    for message in [
        IpiMessage::Wake,
        IpiMessage::TlbShootdown,
        IpiMessage::Ping { seq: u32::MAX },
        IpiMessage::Stop,
    ] {
        assert_ne!(message.encode(), 0);
        assert_eq!(IpiMessage::decode(message.encode()), Ok(message));
    }
    assert_eq!(IpiMessage::decode(0), Err(IpiDecodeError(0)));
    assert_eq!(IpiMessage::decode(99), Err(IpiDecodeError(99)));
    assert_eq!(
        IpiMessage::decode(TAG_WAKE | 1 << 40),
        Err(IpiDecodeError(TAG_WAKE | 1 << 40))
    );
}

#[test]
fn shootdown_step_by_step() {
    let shootdown = TlbShootdown::new();
    let targets: CpuSet = [CpuId(0), CpuId(1), CpuId(70)].into_iter().collect();
    let ticket = shootdown.try_begin(CpuId(0), request(5), &targets).unwrap();
    assert_eq!(ticket.generation(), 1);
    // The initiator is not a target.
    assert_eq!(
        ticket.targets().iter().collect::<Vec<_>>(),
        [CpuId(1), CpuId(70)]
    );
    assert!(!shootdown.service(CpuId(0), |_, _| panic!("initiator flushed")));
    assert!(!shootdown.service(CpuId(2), |_, _| panic!("non-target flushed")));
    assert!(!shootdown.service(CpuId(u32::MAX), |_, _| panic!("bogus cpu flushed")));
    // A second shootdown cannot start while one is in flight.
    assert!(
        shootdown
            .try_begin(CpuId(2), request(6), &targets)
            .is_none()
    );

    let mut seen = Vec::new();
    assert!(shootdown.service(CpuId(70), |flush, generation| {
        seen.push((flush, generation))
    }));
    assert!(!shootdown.is_complete(&ticket));
    assert_eq!(
        shootdown.pending_targets().iter().collect::<Vec<_>>(),
        [CpuId(1)]
    );
    assert!(shootdown.service(CpuId(1), |flush, generation| seen.push((flush, generation))));
    assert!(!shootdown.service(CpuId(1), |_, _| panic!("acknowledged twice")));
    assert!(shootdown.is_complete(&ticket));
    assert_eq!(seen, [(request(5), 1), (request(5), 1)]);
    shootdown.wait(ticket, core::hint::spin_loop);

    let next = shootdown
        .try_begin(CpuId(2), request(6), &CpuSet::new())
        .unwrap();
    assert_eq!(next.generation(), 2);
    assert!(shootdown.is_complete(&next), "no targets: complete at once");
    shootdown.wait(next, core::hint::spin_loop);
}

#[test]
fn concurrent_initiators_lose_no_acknowledgement() {
    // Four CPUs that are all initiators and targets; the host may have fewer
    // cores, so every wait yields instead of spinning.
    const CPUS: u32 = 4;
    const ROUNDS: u64 = 5_000;
    let shootdown = Arc::new(TlbShootdown::new());
    let finished_initiators = Arc::new(AtomicUsize::new(0));
    let (results, collected) = mpsc::channel();
    for cpu in 0..CPUS {
        let (shootdown, finished_initiators, results) = (
            Arc::clone(&shootdown),
            Arc::clone(&finished_initiators),
            results.clone(),
        );
        std::thread::spawn(move || {
            let me = CpuId(cpu);
            let mut flushed = 0u64;
            // A request is consistent if its fields all derive from one tag:
            // a torn or stale read would break that.
            let mut check = |flush: FlushRequest, generation: u64| {
                assert_eq!(
                    flush,
                    request(flush.address_space),
                    "torn request in generation {generation}"
                );
                flushed += 1;
            };
            let mut sent = 0u64;
            for round in 0..ROUNDS {
                // Varying target sets: all CPUs, or every other one.
                let targets = if round % 3 == 0 {
                    CpuSet::first_n(CPUS)
                } else {
                    (0..CPUS)
                        .filter(|other| (other + round as u32).is_multiple_of(2))
                        .map(CpuId)
                        .collect()
                };
                let tag = u64::from(cpu) << 32 | round;
                let ticket = shootdown.begin(
                    me,
                    request(tag),
                    &targets,
                    &mut check,
                    std::thread::yield_now,
                );
                sent += ticket.targets().len() as u64;
                shootdown.wait(ticket, std::thread::yield_now);
            }
            finished_initiators.fetch_add(1, Ordering::AcqRel);
            // Keep answering the others until every initiator is done.
            while finished_initiators.load(Ordering::Acquire) < CPUS as usize {
                shootdown.service(me, &mut check);
                std::thread::yield_now();
            }
            results.send((sent, flushed)).unwrap();
        });
    }
    let mut totals = (0, 0);
    for _ in 0..CPUS {
        let (sent, flushed) = collected
            .recv_timeout(Duration::from_secs(120))
            .expect("a shootdown never completed");
        totals.0 += sent;
        totals.1 += flushed;
    }
    assert!(totals.0 > 0);
    assert_eq!(
        totals.0, totals.1,
        "every target flushed exactly once per shootdown"
    );
    assert!(shootdown.pending_targets().is_empty());
    assert_eq!(
        shootdown.generation.load(Ordering::Relaxed),
        u64::from(CPUS) * ROUNDS
    );
}
