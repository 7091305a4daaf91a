//! Multi-threaded stress tests of the channel rings on real threads: a million
//! sequence-numbered messages through SPSC and MPSC rings, single and
//! batched, asserting 0 lost, 0 duplicated, 0 reordered per producer and no
//! torn payloads; and the sleep/wake protocol with parked threads.
//!
//! Run: `cargo test -p ipc --release --test ring_stress` (also passes in a
//! debug build, more slowly).
#![cfg(not(loom))]

use std::thread;
use std::time::{Duration, Instant};

use ipc::ring::{
    MpscConsumer, MpscProducer, RingFlavor, RingHeader, RingMessage, SleepDecision, Slot,
    SpscConsumer, SpscProducer, WakeHint,
};

/// Messages per test run, split across the producers.
const TOTAL_MESSAGES: u64 = 1_000_000;
/// Largest batch the batched tests send or receive at once.
const BATCH: usize = 32;

/// Heap storage for one ring, standing in for the shared mapping.
struct RingMemory {
    header: RingHeader,
    slots: Vec<Slot>,
}

impl RingMemory {
    fn formatted(capacity: usize, flavor: RingFlavor) -> Self {
        let memory = Self {
            header: RingHeader::new(),
            slots: (0..capacity).map(|_| Slot::new()).collect(),
        };
        memory
            .header
            .format(&memory.slots, flavor)
            .expect("test capacities are powers of two");
        memory
    }
}

/// Message `sequence` of `producer`; every word depends on both, so a torn
/// payload (words from two different messages) is detected.
fn message(producer: u64, sequence: u64) -> RingMessage {
    let tag = producer << 40 | sequence;
    RingMessage {
        words: [
            producer,
            sequence,
            !tag,
            tag.rotate_left(17),
            tag.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            tag ^ 0xDEAD_BEEF,
        ],
    }
}

/// Per-producer bookkeeping on the consumer side.
struct Tally {
    next_sequence: Vec<u64>,
}

impl Tally {
    fn new(producers: usize) -> Self {
        Self {
            next_sequence: vec![0; producers],
        }
    }

    /// Checks one received message: intact, from a known producer, and the
    /// very next sequence number of that producer (so nothing lost before it,
    /// duplicated or reordered).
    fn record(&mut self, received: &RingMessage) {
        let (producer, sequence) = (received.words[0], received.words[1]);
        assert_eq!(*received, message(producer, sequence), "torn payload");
        let next = self
            .next_sequence
            .get_mut(usize::try_from(producer).expect("small id"))
            .expect("known producer");
        assert_eq!(
            sequence, *next,
            "producer {producer}: lost, duplicated or reordered"
        );
        *next += 1;
    }

    fn total(&self) -> u64 {
        self.next_sequence.iter().sum()
    }
}

fn spsc_run(capacity: usize, batched: bool) {
    let memory = RingMemory::formatted(capacity, RingFlavor::SingleProducer);
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut producer = SpscProducer::new(&memory.header, &memory.slots).expect("SPSC");
            let mut sequence = 0;
            while sequence < TOTAL_MESSAGES {
                let sent = if batched {
                    let end = (sequence + BATCH as u64).min(TOTAL_MESSAGES);
                    let batch: Vec<_> = (sequence..end).map(|s| message(0, s)).collect();
                    producer.send_batch(&batch).sent as u64
                } else {
                    u64::from(producer.try_send(message(0, sequence)).is_ok())
                };
                if sent == 0 {
                    thread::yield_now();
                }
                sequence += sent;
            }
        });
        let mut consumer = SpscConsumer::new(&memory.header, &memory.slots).expect("SPSC");
        let mut tally = Tally::new(1);
        let mut buffer = [RingMessage::default(); BATCH];
        while tally.total() < TOTAL_MESSAGES {
            let taken = if batched {
                let taken = consumer.recv_batch(&mut buffer);
                buffer[..taken].iter().for_each(|m| tally.record(m));
                taken
            } else {
                consumer.try_recv().map(|m| tally.record(&m)).is_some() as usize
            };
            if taken == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(tally.next_sequence, [TOTAL_MESSAGES]);
        assert!(consumer.try_recv().is_none(), "a message beyond the last");
    });
}

/// Four producers; those with an odd id send batches, the others single
/// messages. The consumer receives in batches if `batched_receive`.
fn mpsc_run(capacity: usize, batched_receive: bool) {
    const PRODUCERS: u64 = 4;
    let per_producer = TOTAL_MESSAGES / PRODUCERS;
    let memory = RingMemory::formatted(capacity, RingFlavor::MultiProducer);
    thread::scope(|scope| {
        for producer_id in 0..PRODUCERS {
            let memory = &memory;
            scope.spawn(move || {
                let producer = MpscProducer::new(&memory.header, &memory.slots).expect("MPSC");
                let mut sequence = 0;
                while sequence < per_producer {
                    let sent = if producer_id % 2 == 1 {
                        let end = (sequence + BATCH as u64).min(per_producer);
                        let batch: Vec<_> =
                            (sequence..end).map(|s| message(producer_id, s)).collect();
                        producer.send_batch(&batch).sent as u64
                    } else {
                        u64::from(producer.try_send(message(producer_id, sequence)).is_ok())
                    };
                    if sent == 0 {
                        thread::yield_now();
                    }
                    sequence += sent;
                }
            });
        }
        let mut consumer = MpscConsumer::new(&memory.header, &memory.slots).expect("MPSC");
        let mut tally = Tally::new(PRODUCERS as usize);
        let mut buffer = [RingMessage::default(); BATCH];
        while tally.total() < per_producer * PRODUCERS {
            let taken = if batched_receive {
                let taken = consumer.recv_batch(&mut buffer);
                buffer[..taken].iter().for_each(|m| tally.record(m));
                taken
            } else {
                consumer.try_recv().map(|m| tally.record(&m)).is_some() as usize
            };
            if taken == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(tally.next_sequence, [per_producer; PRODUCERS as usize]);
        assert!(consumer.try_recv().is_none(), "a message beyond the last");
    });
}

#[test]
fn spsc_million_single_messages_arrive_exactly_once_in_order() {
    spsc_run(64, false);
}

#[test]
fn spsc_million_batched_messages_arrive_exactly_once_in_order() {
    spsc_run(128, true);
}

#[test]
fn mpsc_four_producers_million_messages_single_receive() {
    mpsc_run(64, false);
}

#[test]
fn mpsc_four_producers_million_messages_batched_receive() {
    mpsc_run(16, true);
}

/// A consumer that sleeps whenever the ring is empty is always woken: every
/// park is bounded by a generous timeout, and running into it while messages
/// wait counts as a lost wake-up.
fn sleeping_consumer_run(multi_producer: bool) {
    const PRODUCERS: u64 = 2;
    const PER_PRODUCER: u64 = 20_000;
    const LOST_WAKEUP: Duration = Duration::from_secs(5);
    let flavor = if multi_producer {
        RingFlavor::MultiProducer
    } else {
        RingFlavor::SingleProducer
    };
    let producers = if multi_producer { PRODUCERS } else { 1 };
    let memory = RingMemory::formatted(8, flavor);
    thread::scope(|scope| {
        let receiver = thread::current();
        for producer_id in 0..producers {
            let memory = &memory;
            let receiver = receiver.clone();
            scope.spawn(move || {
                // Both variants through one closure: `try_send` of this end.
                let mut send: Box<dyn FnMut(RingMessage) -> Option<WakeHint>> = if multi_producer {
                    let producer = MpscProducer::new(&memory.header, &memory.slots).expect("MPSC");
                    Box::new(move |m| producer.try_send(m).ok())
                } else {
                    let mut producer =
                        SpscProducer::new(&memory.header, &memory.slots).expect("SPSC");
                    Box::new(move |m| producer.try_send(m).ok())
                };
                for sequence in 0..PER_PRODUCER {
                    loop {
                        match send(message(producer_id, sequence)) {
                            Some(WakeHint::NeedsWake) => receiver.unpark(),
                            Some(WakeHint::ReceiverAwake) => {}
                            None => {
                                thread::yield_now();
                                continue;
                            }
                        }
                        break;
                    }
                    // Pause now and then so the consumer really goes to sleep.
                    if sequence % 64 == 0 {
                        thread::sleep(Duration::from_micros(50));
                    }
                }
            });
        }
        let tally = if multi_producer {
            let consumer = MpscConsumer::new(&memory.header, &memory.slots).expect("MPSC");
            receive_sleeping(consumer, producers, PER_PRODUCER, LOST_WAKEUP)
        } else {
            let consumer = SpscConsumer::new(&memory.header, &memory.slots).expect("SPSC");
            receive_sleeping(consumer, producers, PER_PRODUCER, LOST_WAKEUP)
        };
        assert_eq!(tally.next_sequence, vec![PER_PRODUCER; producers as usize]);
    });
}

/// The receiving end of either variant, for [`receive_sleeping`].
trait SleepingReceiver {
    fn try_recv(&mut self) -> Option<RingMessage>;
    fn prepare_to_sleep(&mut self) -> SleepDecision;
}

impl SleepingReceiver for SpscConsumer<'_> {
    fn try_recv(&mut self) -> Option<RingMessage> {
        SpscConsumer::try_recv(self)
    }
    fn prepare_to_sleep(&mut self) -> SleepDecision {
        SpscConsumer::prepare_to_sleep(self)
    }
}

impl SleepingReceiver for MpscConsumer<'_> {
    fn try_recv(&mut self) -> Option<RingMessage> {
        MpscConsumer::try_recv(self)
    }
    fn prepare_to_sleep(&mut self) -> SleepDecision {
        MpscConsumer::prepare_to_sleep(self)
    }
}

/// Receives everything, parking (bounded by `lost_wakeup`) whenever the
/// protocol says to sleep; panics if a park runs into the bound.
fn receive_sleeping(
    mut consumer: impl SleepingReceiver,
    producers: u64,
    per_producer: u64,
    lost_wakeup: Duration,
) -> Tally {
    let mut tally = Tally::new(producers as usize);
    let mut sleeps = 0_u32;
    while tally.total() < producers * per_producer {
        if let Some(received) = consumer.try_recv() {
            tally.record(&received);
            continue;
        }
        if consumer.prepare_to_sleep() == SleepDecision::Sleep {
            sleeps += 1;
            let parked_at = Instant::now();
            thread::park_timeout(lost_wakeup);
            assert!(parked_at.elapsed() < lost_wakeup, "lost wake-up");
        }
    }
    assert!(
        sleeps > 0,
        "the consumer never slept: the test proved nothing"
    );
    tally
}

#[test]
fn spsc_sleeping_consumer_is_always_woken() {
    sleeping_consumer_run(false);
}

#[test]
fn mpsc_sleeping_consumer_is_always_woken() {
    sleeping_consumer_run(true);
}
