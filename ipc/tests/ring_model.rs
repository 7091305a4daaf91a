//! Single-threaded checks of the channel rings: layout and attach errors,
//! property tests of both variants against a `VecDeque` model (wrap-around,
//! full, empty, batches, the sleeping flag), and batch/single equivalence.
//!
//! Run: `cargo test -p ipc --test ring_model`.
#![cfg(not(loom))]

use std::collections::VecDeque;

use ipc::ring::{
    Full, MpscConsumer, MpscProducer, RingError, RingFlavor, RingHeader, RingLayout, RingMessage,
    SendBatchOutcome, SleepDecision, Slot, SpscConsumer, SpscProducer, WakeHint,
};
use proptest::prelude::*;

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

/// A message whose every word depends on `id`, so a torn or misplaced
/// payload cannot compare equal.
fn message(id: u64) -> RingMessage {
    RingMessage {
        words: [
            id,
            !id,
            id.rotate_left(13),
            id ^ 0xA5A5_A5A5_A5A5_A5A5,
            id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            id.wrapping_add(7),
        ],
    }
}

/// Both ends of one ring, whichever variant, behind one interface.
trait RingEnds {
    fn try_send(&mut self, message: RingMessage) -> Result<WakeHint, Full>;
    fn send_batch(&mut self, messages: &[RingMessage]) -> SendBatchOutcome;
    fn try_recv(&mut self) -> Option<RingMessage>;
    fn recv_batch(&mut self, buffer: &mut [RingMessage]) -> usize;
    fn prepare_to_sleep(&mut self) -> SleepDecision;
    fn cancel_sleep(&mut self);
    /// `(producer's len, consumer's len, consumer's is_empty)`.
    fn observed_len(&self) -> (usize, usize, bool);
}

struct Spsc<'ring>(SpscProducer<'ring>, SpscConsumer<'ring>);
struct Mpsc<'ring>(MpscProducer<'ring>, MpscConsumer<'ring>);

impl RingEnds for Spsc<'_> {
    fn try_send(&mut self, message: RingMessage) -> Result<WakeHint, Full> {
        self.0.try_send(message)
    }
    fn send_batch(&mut self, messages: &[RingMessage]) -> SendBatchOutcome {
        self.0.send_batch(messages)
    }
    fn try_recv(&mut self) -> Option<RingMessage> {
        self.1.try_recv()
    }
    fn recv_batch(&mut self, buffer: &mut [RingMessage]) -> usize {
        self.1.recv_batch(buffer)
    }
    fn prepare_to_sleep(&mut self) -> SleepDecision {
        self.1.prepare_to_sleep()
    }
    fn cancel_sleep(&mut self) {
        self.1.cancel_sleep();
    }
    fn observed_len(&self) -> (usize, usize, bool) {
        (self.0.len(), self.1.len(), self.1.is_empty())
    }
}

impl RingEnds for Mpsc<'_> {
    fn try_send(&mut self, message: RingMessage) -> Result<WakeHint, Full> {
        self.0.try_send(message)
    }
    fn send_batch(&mut self, messages: &[RingMessage]) -> SendBatchOutcome {
        self.0.send_batch(messages)
    }
    fn try_recv(&mut self) -> Option<RingMessage> {
        self.1.try_recv()
    }
    fn recv_batch(&mut self, buffer: &mut [RingMessage]) -> usize {
        self.1.recv_batch(buffer)
    }
    fn prepare_to_sleep(&mut self) -> SleepDecision {
        self.1.prepare_to_sleep()
    }
    fn cancel_sleep(&mut self) {
        self.1.cancel_sleep();
    }
    fn observed_len(&self) -> (usize, usize, bool) {
        (self.0.len(), self.1.len(), self.1.is_empty())
    }
}

fn spsc_ends(memory: &RingMemory) -> Spsc<'_> {
    Spsc(
        SpscProducer::new(&memory.header, &memory.slots).expect("formatted SPSC"),
        SpscConsumer::new(&memory.header, &memory.slots).expect("formatted SPSC"),
    )
}

fn mpsc_ends(memory: &RingMemory) -> Mpsc<'_> {
    Mpsc(
        MpscProducer::new(&memory.header, &memory.slots).expect("formatted MPSC"),
        MpscConsumer::new(&memory.header, &memory.slots).expect("formatted MPSC"),
    )
}

#[derive(Clone, Debug)]
enum Op {
    Send,
    SendBatch(usize),
    Recv,
    RecvBatch(usize),
    PrepareToSleep,
    CancelSleep,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Send),
        2 => (0_usize..80).prop_map(Op::SendBatch),
        4 => Just(Op::Recv),
        2 => (0_usize..80).prop_map(Op::RecvBatch),
        1 => Just(Op::PrepareToSleep),
        1 => Just(Op::CancelSleep),
    ]
}

/// Capacities 1, 2, 4, ..., 64.
fn capacity_strategy() -> impl Strategy<Value = usize> {
    (0_u32..=6).prop_map(|shift| 1_usize << shift)
}

/// The model's answer to "did this publish wake the sleeper?".
fn expected_wake(sleeping: &mut bool, published: bool) -> WakeHint {
    if published && std::mem::take(sleeping) {
        WakeHint::NeedsWake
    } else {
        WakeHint::ReceiverAwake
    }
}

/// Runs `ops` against `ends` and a `VecDeque` model, comparing every result.
fn check_against_model(
    ends: &mut impl RingEnds,
    capacity: usize,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = VecDeque::new();
    let mut sleeping = false;
    let mut next_id = 0_u64;
    let mut fresh = |count: usize| -> Vec<RingMessage> {
        (0..count)
            .map(|_| {
                next_id += 1;
                message(next_id)
            })
            .collect()
    };
    for op in ops {
        match *op {
            Op::Send => {
                let sent = fresh(1)[0];
                let result = ends.try_send(sent);
                if model.len() < capacity {
                    model.push_back(sent);
                    prop_assert_eq!(result, Ok(expected_wake(&mut sleeping, true)));
                } else {
                    prop_assert_eq!(result, Err(Full));
                }
            }
            Op::SendBatch(count) => {
                let batch = fresh(count);
                let outcome = ends.send_batch(&batch);
                let fits = count.min(capacity - model.len());
                model.extend(&batch[..fits]);
                let wake = expected_wake(&mut sleeping, fits > 0);
                prop_assert_eq!(outcome, SendBatchOutcome { sent: fits, wake });
            }
            Op::Recv => prop_assert_eq!(ends.try_recv(), model.pop_front()),
            Op::RecvBatch(count) => {
                let mut buffer = vec![RingMessage::default(); count];
                let taken = ends.recv_batch(&mut buffer);
                let expected: Vec<_> = model.drain(..count.min(model.len())).collect();
                prop_assert_eq!(&buffer[..taken], &expected[..]);
                prop_assert!(buffer[taken..].iter().all(|m| *m == RingMessage::default()));
            }
            Op::PrepareToSleep => {
                let decision = ends.prepare_to_sleep();
                if model.is_empty() {
                    sleeping = true;
                    prop_assert_eq!(decision, SleepDecision::Sleep);
                } else {
                    sleeping = false;
                    prop_assert_eq!(decision, SleepDecision::MessagesPending);
                }
            }
            Op::CancelSleep => {
                ends.cancel_sleep();
                sleeping = false;
            }
        }
        let (producer_len, consumer_len, consumer_empty) = ends.observed_len();
        prop_assert_eq!(producer_len, model.len());
        prop_assert_eq!(consumer_len, model.len());
        prop_assert_eq!(consumer_empty, model.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn spsc_matches_vecdeque_model(
        capacity in capacity_strategy(),
        ops in prop::collection::vec(op_strategy(), 1..300),
    ) {
        let memory = RingMemory::formatted(capacity, RingFlavor::SingleProducer);
        check_against_model(&mut spsc_ends(&memory), capacity, &ops)?;
    }

    #[test]
    fn mpsc_matches_vecdeque_model(
        capacity in capacity_strategy(),
        ops in prop::collection::vec(op_strategy(), 1..300),
    ) {
        let memory = RingMemory::formatted(capacity, RingFlavor::MultiProducer);
        check_against_model(&mut mpsc_ends(&memory), capacity, &ops)?;
    }

    /// Two rings fed the same traffic, one with single operations and one
    /// with batches, accept, return and hold exactly the same messages.
    #[test]
    fn batches_match_single_operations(
        capacity in capacity_strategy(),
        multi_producer in any::<bool>(),
        steps in prop::collection::vec((0_usize..70, 0_usize..70), 1..60),
    ) {
        let flavor = if multi_producer {
            RingFlavor::MultiProducer
        } else {
            RingFlavor::SingleProducer
        };
        let single_memory = RingMemory::formatted(capacity, flavor);
        let batch_memory = RingMemory::formatted(capacity, flavor);
        let (mut single, mut batch): (Box<dyn RingEnds>, Box<dyn RingEnds>) = if multi_producer {
            (Box::new(mpsc_ends(&single_memory)), Box::new(mpsc_ends(&batch_memory)))
        } else {
            (Box::new(spsc_ends(&single_memory)), Box::new(spsc_ends(&batch_memory)))
        };
        let mut next_id = 0_u64;
        for (send_count, recv_count) in steps {
            let messages: Vec<_> = (next_id..next_id + send_count as u64).map(message).collect();
            next_id += send_count as u64;
            let sent_singly = messages
                .iter()
                .take_while(|m| single.try_send(**m).is_ok())
                .count();
            prop_assert_eq!(batch.send_batch(&messages).sent, sent_singly);

            let received_singly: Vec<_> =
                std::iter::from_fn(|| single.try_recv()).take(recv_count).collect();
            let mut buffer = vec![RingMessage::default(); recv_count];
            let taken = batch.recv_batch(&mut buffer);
            prop_assert_eq!(&buffer[..taken], &received_singly[..]);
            prop_assert_eq!(single.observed_len(), batch.observed_len());
        }
    }
}

#[test]
fn layout_places_slots_after_a_512_byte_header() {
    let layout = RingLayout::for_capacity(8).expect("8 is a power of two");
    assert_eq!(layout.capacity(), 8);
    assert_eq!(RingLayout::ALIGN, 128);
    assert_eq!(RingLayout::HEADER_OFFSET, 0);
    assert_eq!(RingLayout::SLOTS_OFFSET, 512);
    assert_eq!(layout.slots_bytes(), 8 * 64);
    assert_eq!(layout.total_bytes(), 512 + 8 * 64);
    assert_eq!(layout.slot_offset(0), Some(512));
    assert_eq!(layout.slot_offset(7), Some(512 + 7 * 64));
    assert_eq!(layout.slot_offset(8), None);
    assert_eq!(std::mem::size_of::<RingHeader>(), RingLayout::SLOTS_OFFSET);
    assert_eq!(std::mem::size_of::<Slot>(), 64);
    assert_eq!(std::mem::align_of::<Slot>(), 64);
}

#[test]
fn layout_rejects_capacities_that_are_not_powers_of_two() {
    for capacity in [0, 3, 6, 100, 1 << 32, usize::MAX] {
        assert_eq!(
            RingLayout::for_capacity(capacity),
            Err(RingError::InvalidCapacity { capacity }),
            "capacity {capacity}"
        );
    }
    assert_eq!(
        RingLayout::for_capacity(1 << 31).map(|layout| layout.capacity()),
        Ok(1 << 31)
    );
}

#[test]
fn format_rejects_slot_counts_that_are_not_powers_of_two() {
    let header = RingHeader::new();
    let slots: Vec<Slot> = (0..3).map(|_| Slot::new()).collect();
    assert_eq!(
        header.format(&slots, RingFlavor::SingleProducer),
        Err(RingError::InvalidCapacity { capacity: 3 })
    );
    // The header stays unformatted.
    assert_eq!(
        SpscProducer::new(&header, &slots[..2]).err(),
        Some(RingError::Unformatted)
    );
}

#[test]
fn handles_refuse_an_unformatted_ring() {
    let header = RingHeader::new();
    let slots: Vec<Slot> = (0..4).map(|_| Slot::new()).collect();
    assert_eq!(
        SpscProducer::new(&header, &slots).err(),
        Some(RingError::Unformatted)
    );
    assert_eq!(
        SpscConsumer::new(&header, &slots).err(),
        Some(RingError::Unformatted)
    );
    assert_eq!(
        MpscProducer::new(&header, &slots).err(),
        Some(RingError::Unformatted)
    );
    assert_eq!(
        MpscConsumer::new(&header, &slots).err(),
        Some(RingError::Unformatted)
    );
}

#[test]
fn handles_refuse_a_slot_slice_of_the_wrong_length() {
    let memory = RingMemory::formatted(8, RingFlavor::MultiProducer);
    let expected = Some(RingError::SlotCountMismatch {
        header_capacity: 8,
        slots: 4,
    });
    assert_eq!(
        MpscProducer::new(&memory.header, &memory.slots[..4]).err(),
        expected
    );
    assert_eq!(
        MpscConsumer::new(&memory.header, &memory.slots[..4]).err(),
        expected
    );
}

#[test]
fn handles_refuse_a_ring_of_the_other_flavor() {
    let spsc = RingMemory::formatted(4, RingFlavor::SingleProducer);
    let mpsc = RingMemory::formatted(4, RingFlavor::MultiProducer);
    assert_eq!(
        MpscProducer::new(&spsc.header, &spsc.slots).err(),
        Some(RingError::FlavorMismatch {
            expected: RingFlavor::MultiProducer,
            found: RingFlavor::SingleProducer.as_raw(),
        })
    );
    assert_eq!(
        SpscConsumer::new(&mpsc.header, &mpsc.slots).err(),
        Some(RingError::FlavorMismatch {
            expected: RingFlavor::SingleProducer,
            found: RingFlavor::MultiProducer.as_raw(),
        })
    );
}

#[test]
fn a_reattached_end_resumes_where_the_ring_is() {
    let memory = RingMemory::formatted(4, RingFlavor::SingleProducer);
    {
        let mut producer = SpscProducer::new(&memory.header, &memory.slots).expect("SPSC");
        for id in 0..3 {
            assert_eq!(producer.try_send(message(id)), Ok(WakeHint::ReceiverAwake));
        }
    }
    let mut consumer = SpscConsumer::new(&memory.header, &memory.slots).expect("SPSC");
    assert_eq!(consumer.try_recv(), Some(message(0)));
    // A new producer picks up at the tail: one message in, two slots free.
    let mut producer = SpscProducer::new(&memory.header, &memory.slots).expect("SPSC");
    assert_eq!(producer.len(), 2);
    assert_eq!(
        producer
            .send_batch(&[message(3), message(4), message(5)])
            .sent,
        2
    );
    let mut buffer = [RingMessage::default(); 8];
    assert_eq!(consumer.recv_batch(&mut buffer), 4);
    assert_eq!(
        buffer[..4],
        [message(1), message(2), message(3), message(4)]
    );
}

/// Reformatting a ring under live handles is what a peer scribbling over the
/// indices looks like: the ends must refuse or see nothing, never panic.
#[test]
fn ends_survive_indices_reset_under_them() {
    let spsc = RingMemory::formatted(4, RingFlavor::SingleProducer);
    let mut producer = SpscProducer::new(&spsc.header, &spsc.slots).expect("SPSC");
    let mut consumer = SpscConsumer::new(&spsc.header, &spsc.slots).expect("SPSC");
    assert_eq!(producer.send_batch(&[message(0); 4]).sent, 4);
    assert_eq!(consumer.recv_batch(&mut [RingMessage::default(); 3]), 3);
    assert_eq!(producer.send_batch(&[message(1); 2]).sent, 2);
    spsc.header
        .format(&spsc.slots, RingFlavor::SingleProducer)
        .expect("valid capacity");
    // Each end trusts its own index: the producer's cached consumer index
    // still allows one send; re-reading head 0 against its 7 published is
    // more than a ring, so it refuses from then on.
    assert_eq!(producer.try_send(message(2)), Ok(WakeHint::ReceiverAwake));
    assert_eq!(producer.try_send(message(3)), Err(Full));
    assert_eq!(producer.send_batch(&[message(3)]).sent, 0);
    // The consumer's cached tail still covers what was published before.
    let mut buffer = [RingMessage::default(); 8];
    assert_eq!(consumer.recv_batch(&mut buffer), 4);
    assert_eq!(
        buffer[..4],
        [message(0), message(1), message(1), message(2)]
    );
    assert_eq!(consumer.try_recv(), None);
    // A tail that falls behind the consumer's index reads as empty.
    spsc.header
        .format(&spsc.slots, RingFlavor::SingleProducer)
        .expect("valid capacity");
    assert_eq!(consumer.try_recv(), None);
    assert_eq!(consumer.recv_batch(&mut buffer), 0);
    assert_eq!(producer.try_send(message(4)), Err(Full));
    assert_eq!((producer.len(), consumer.len()), (0, 0));

    let mpsc = RingMemory::formatted(4, RingFlavor::MultiProducer);
    let producer = MpscProducer::new(&mpsc.header, &mpsc.slots).expect("MPSC");
    let mut consumer = MpscConsumer::new(&mpsc.header, &mpsc.slots).expect("MPSC");
    assert_eq!(producer.send_batch(&[message(0); 3]).sent, 3);
    assert_eq!(consumer.recv_batch(&mut [RingMessage::default(); 3]), 3);
    mpsc.header
        .format(&mpsc.slots, RingFlavor::MultiProducer)
        .expect("valid capacity");
    assert_eq!(producer.try_send(message(1)), Ok(WakeHint::ReceiverAwake));
    // The consumer waits at position 3, which nobody published since.
    assert_eq!(consumer.try_recv(), None);
    assert_eq!(consumer.recv_batch(&mut [RingMessage::default(); 8]), 0);
}

#[test]
fn only_one_of_several_producers_is_asked_to_wake_the_receiver() {
    let memory = RingMemory::formatted(4, RingFlavor::MultiProducer);
    let first = MpscProducer::new(&memory.header, &memory.slots).expect("MPSC");
    let second = first;
    let mut consumer = MpscConsumer::new(&memory.header, &memory.slots).expect("MPSC");
    assert_eq!(consumer.prepare_to_sleep(), SleepDecision::Sleep);
    assert_eq!(first.try_send(message(1)), Ok(WakeHint::NeedsWake));
    assert_eq!(second.try_send(message(2)), Ok(WakeHint::ReceiverAwake));
    assert_eq!(consumer.prepare_to_sleep(), SleepDecision::MessagesPending);
    assert_eq!(second.try_send(message(3)), Ok(WakeHint::ReceiverAwake));
}

#[test]
fn wake_hints_combine_to_needs_wake_if_either_does() {
    use WakeHint::{NeedsWake, ReceiverAwake};
    assert_eq!(ReceiverAwake.combine(ReceiverAwake), ReceiverAwake);
    assert_eq!(ReceiverAwake.combine(NeedsWake), NeedsWake);
    assert_eq!(NeedsWake.combine(ReceiverAwake), NeedsWake);
    assert_eq!(NeedsWake.combine(NeedsWake), NeedsWake);
}

#[test]
fn errors_explain_themselves() {
    assert_eq!(Full.to_string(), "channel ring is full");
    assert_eq!(
        RingError::SlotCountMismatch {
            header_capacity: 8,
            slots: 4
        }
        .to_string(),
        "ring header says 8 slots but 4 were supplied"
    );
    assert_eq!(
        RingError::InvalidCapacity { capacity: 3 }.to_string(),
        "ring capacity 3 is not a non-zero power of two below 2^32"
    );
}
