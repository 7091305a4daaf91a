//! Loom model checks of the channel rings: every interleaving (within the
//! preemption bound) of small SPSC and MPSC runs, batched and single, and of
//! the sleep/wake protocol.
//!
//! Run:
//! `RUSTFLAGS="--cfg loom" cargo test -p ipc --release --test ring_loom`
//! (add `LOOM_MAX_PREEMPTIONS=N` to change the default bound of 3).
//!
//! The ring code is compiled against loom's atomics (`ipc/src/ring/sync.rs`),
//! so these models check the real implementation. Lost messages, duplicates,
//! reordering or torn payloads fail the assertions; a lost wake-up leaves the
//! consumer parked forever, which loom reports as a deadlock.
#![cfg(loom)]

use ipc::ring::{
    MpscConsumer, MpscProducer, RingFlavor, RingHeader, RingMessage, SleepDecision, Slot,
    SpscConsumer, SpscProducer, WakeHint,
};
use loom::sync::Arc;
use loom::thread;

/// Storage for one ring, standing in for the shared mapping.
struct RingMemory {
    header: RingHeader,
    slots: Vec<Slot>,
}

fn formatted(capacity: usize, flavor: RingFlavor) -> Arc<RingMemory> {
    let memory = RingMemory {
        header: RingHeader::new(),
        slots: (0..capacity).map(|_| Slot::new()).collect(),
    };
    memory
        .header
        .format(&memory.slots, flavor)
        .expect("model capacities are powers of two");
    Arc::new(memory)
}

/// Message `sequence` of `producer`; every word is derived from both, so a
/// torn payload is detected.
fn message(producer: u64, sequence: u64) -> RingMessage {
    let tag = producer << 32 | sequence;
    RingMessage {
        words: [
            producer,
            sequence,
            !tag,
            tag.rotate_left(7),
            tag ^ 0x55,
            tag + 1,
        ],
    }
}

/// Checks a message and returns `(producer, sequence)`.
fn decode(received: &RingMessage) -> (u64, u64) {
    let (producer, sequence) = (received.words[0], received.words[1]);
    assert_eq!(*received, message(producer, sequence), "torn payload");
    (producer, sequence)
}

/// Asserts `received` holds, for each producer `p < counts.len()`, exactly
/// sequences `0..counts[p]` in order (interleaving between producers free).
fn assert_complete_and_ordered(received: &[RingMessage], counts: &[u64]) {
    let mut next = vec![0; counts.len()];
    for message in received {
        let (producer, sequence) = decode(message);
        let expected = &mut next[usize::try_from(producer).expect("small id")];
        assert_eq!(sequence, *expected, "producer {producer} out of order");
        *expected += 1;
    }
    assert_eq!(next, counts, "lost or duplicated messages");
}

fn model(test: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(test);
}

#[test]
fn spsc_single_ops_deliver_in_order_across_the_wrap() {
    model(|| {
        let memory = formatted(2, RingFlavor::SingleProducer);
        let producer_memory = Arc::clone(&memory);
        let producer = thread::spawn(move || {
            let memory = &producer_memory;
            let mut producer = SpscProducer::new(&memory.header, &memory.slots).expect("SPSC");
            for sequence in 0..3 {
                while producer.try_send(message(0, sequence)).is_err() {
                    thread::yield_now();
                }
            }
        });
        let mut consumer = SpscConsumer::new(&memory.header, &memory.slots).expect("SPSC");
        let mut received = Vec::new();
        while received.len() < 3 {
            match consumer.try_recv() {
                Some(message) => received.push(message),
                None => thread::yield_now(),
            }
        }
        producer.join().expect("producer thread");
        assert_complete_and_ordered(&received, &[3]);
        assert!(consumer.is_empty());
    });
}

#[test]
fn spsc_batches_deliver_in_order_across_the_wrap() {
    model(|| {
        let memory = formatted(2, RingFlavor::SingleProducer);
        let producer_memory = Arc::clone(&memory);
        let producer = thread::spawn(move || {
            let memory = &producer_memory;
            let mut producer = SpscProducer::new(&memory.header, &memory.slots).expect("SPSC");
            let batch: Vec<_> = (0..3).map(|sequence| message(0, sequence)).collect();
            let mut sent = 0;
            while sent < batch.len() {
                let outcome = producer.send_batch(&batch[sent..]);
                assert_eq!(outcome.wake, WakeHint::ReceiverAwake);
                if outcome.sent == 0 {
                    thread::yield_now();
                }
                sent += outcome.sent;
            }
        });
        let mut consumer = SpscConsumer::new(&memory.header, &memory.slots).expect("SPSC");
        let mut received = Vec::new();
        let mut buffer = [RingMessage::default(); 3];
        while received.len() < 3 {
            let taken = consumer.recv_batch(&mut buffer[..3 - received.len()]);
            if taken == 0 {
                thread::yield_now();
            }
            received.extend_from_slice(&buffer[..taken]);
        }
        producer.join().expect("producer thread");
        assert_complete_and_ordered(&received, &[3]);
    });
}

/// Spawns a thread that offers `count` messages as `producer` on an MPSC
/// ring, one at a time or as one batch, and stops at the first refusal (a
/// loom model must not spin on a full ring). Joins to how many went in.
fn spawn_mpsc_producer(
    memory: &Arc<RingMemory>,
    producer: u64,
    count: u64,
    batched: bool,
) -> thread::JoinHandle<u64> {
    let memory = Arc::clone(memory);
    thread::spawn(move || {
        let sender = MpscProducer::new(&memory.header, &memory.slots).expect("MPSC");
        let messages: Vec<_> = (0..count)
            .map(|sequence| message(producer, sequence))
            .collect();
        if batched {
            return sender.send_batch(&messages).sent as u64;
        }
        let accepted = messages
            .iter()
            .take_while(|message| sender.try_send(**message).is_ok())
            .count();
        accepted as u64
    })
}

/// Polls an MPSC ring twice while the producers run, joins them, drains what
/// is left, and checks that exactly the accepted messages arrived, in order
/// per producer, and that a refusal only ever came from a really full ring.
fn receive_and_check(memory: &RingMemory, producers: Vec<thread::JoinHandle<u64>>, batched: bool) {
    let mut consumer = MpscConsumer::new(&memory.header, &memory.slots).expect("MPSC");
    let mut received = Vec::new();
    let mut receive = |consumer: &mut MpscConsumer<'_>| {
        if batched {
            let mut buffer = [RingMessage::default(); 4];
            let taken = consumer.recv_batch(&mut buffer);
            received.extend_from_slice(&buffer[..taken]);
            taken
        } else {
            consumer.try_recv().map_or(0, |message| {
                received.push(message);
                1
            })
        }
    };
    for _ in 0..2 {
        receive(&mut consumer);
    }
    let accepted: Vec<u64> = producers
        .into_iter()
        .map(|producer| producer.join().expect("producer thread"))
        .collect();
    // Every producer has returned, so every claimed slot is published.
    while receive(&mut consumer) > 0 {}
    assert_complete_and_ordered(&received, &accepted);
    let total: u64 = accepted.iter().sum();
    assert!(
        total >= memory.slots.len() as u64,
        "a producer was refused while the ring had room: accepted {accepted:?}"
    );
    assert!(consumer.is_empty());
}

#[test]
fn mpsc_two_producers_lose_nothing_through_a_full_ring() {
    model(|| {
        let memory = formatted(2, RingFlavor::MultiProducer);
        let producers = vec![
            spawn_mpsc_producer(&memory, 0, 2, false),
            spawn_mpsc_producer(&memory, 1, 1, false),
        ];
        receive_and_check(&memory, producers, false);
    });
}

#[test]
fn mpsc_capacity_one_ring_serialises_two_producers() {
    model(|| {
        let memory = formatted(1, RingFlavor::MultiProducer);
        let producers = vec![
            spawn_mpsc_producer(&memory, 0, 1, false),
            spawn_mpsc_producer(&memory, 1, 1, false),
        ];
        receive_and_check(&memory, producers, false);
    });
}

#[test]
fn mpsc_batch_and_single_producers_interleave_safely() {
    model(|| {
        let memory = formatted(2, RingFlavor::MultiProducer);
        let producers = vec![
            spawn_mpsc_producer(&memory, 0, 2, true),
            spawn_mpsc_producer(&memory, 1, 1, false),
        ];
        receive_and_check(&memory, producers, true);
    });
}

/// Consumer loop of the sleep/wake models: drain, else announce sleep and
/// park until a producer's `NeedsWake` unparks this thread.
fn receive_sleeping<Consumer>(
    consumer: &mut Consumer,
    total: usize,
    try_recv: fn(&mut Consumer) -> Option<RingMessage>,
    prepare_to_sleep: fn(&mut Consumer) -> SleepDecision,
) -> Vec<RingMessage> {
    let mut received = Vec::new();
    while received.len() < total {
        if let Some(message) = try_recv(consumer) {
            received.push(message);
            continue;
        }
        if prepare_to_sleep(consumer) == SleepDecision::Sleep {
            // Lost wake-up => parked forever => loom reports a deadlock.
            thread::park();
        }
    }
    received
}

#[test]
fn spsc_sleeping_receiver_is_always_woken() {
    model(|| {
        let memory = formatted(4, RingFlavor::SingleProducer);
        let receiver = thread::current();
        let producer_memory = Arc::clone(&memory);
        let producer = thread::spawn(move || {
            let memory = &producer_memory;
            let mut producer = SpscProducer::new(&memory.header, &memory.slots).expect("SPSC");
            for sequence in 0..2 {
                if producer.try_send(message(0, sequence)) == Ok(WakeHint::NeedsWake) {
                    receiver.unpark();
                }
            }
        });
        let mut consumer = SpscConsumer::new(&memory.header, &memory.slots).expect("SPSC");
        let received = receive_sleeping(
            &mut consumer,
            2,
            SpscConsumer::try_recv,
            SpscConsumer::prepare_to_sleep,
        );
        producer.join().expect("producer thread");
        assert_complete_and_ordered(&received, &[2]);
    });
}

#[test]
fn mpsc_sleeping_receiver_is_always_woken() {
    model(|| {
        let memory = formatted(2, RingFlavor::MultiProducer);
        let producers: Vec<_> = (0..2)
            .map(|producer| {
                let receiver = thread::current();
                let memory = Arc::clone(&memory);
                thread::spawn(move || {
                    let sender = MpscProducer::new(&memory.header, &memory.slots).expect("MPSC");
                    let sent = if producer == 0 {
                        sender.try_send(message(producer, 0))
                    } else {
                        let outcome = sender.send_batch(&[message(producer, 0)]);
                        assert_eq!(outcome.sent, 1, "a 2-slot ring has room for 2");
                        Ok(outcome.wake)
                    };
                    if sent == Ok(WakeHint::NeedsWake) {
                        receiver.unpark();
                    }
                })
            })
            .collect();
        let mut consumer = MpscConsumer::new(&memory.header, &memory.slots).expect("MPSC");
        let received = receive_sleeping(
            &mut consumer,
            2,
            MpscConsumer::try_recv,
            MpscConsumer::prepare_to_sleep,
        );
        for producer in producers {
            producer.join().expect("producer thread");
        }
        assert_complete_and_ordered(&received, &[1, 1]);
    });
}
