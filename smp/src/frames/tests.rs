//! Tests for [`super::FrameBitmap`] and [`super::NodeFrames`]: hand-picked
//! cases and property tests against a set of handed-out frames.

use std::collections::BTreeSet;

use super::*;
use proptest::prelude::*;

const BASE: u64 = 0x10_0000;

fn frame(addr: u64) -> PhysFrame {
    PhysFrame::from_addr(addr).unwrap()
}

#[test]
fn new_validates_its_arguments() {
    let mut storage = [0u64; 2];
    assert_eq!(
        FrameBitmap::new(0x1001, 10, &mut storage).unwrap_err(),
        FrameError::Misaligned { addr: 0x1001 }
    );
    assert_eq!(
        FrameBitmap::new(BASE, 129, &mut storage).unwrap_err(),
        FrameError::StorageTooSmall {
            needed: 3,
            given: 2
        }
    );
    assert_eq!(
        FrameBitmap::new(u64::MAX - 0xfff, 2, &mut storage).unwrap_err(),
        FrameError::RangeOverflow
    );
    let bitmap = FrameBitmap::new(BASE, 70, &mut storage).unwrap();
    assert_eq!((bitmap.free_frames(), bitmap.total_frames()), (70, 70));
    assert_eq!(bitmap.end(), BASE + 70 * FRAME_SIZE);
    assert_eq!(FrameBitmap::words_needed(0), 0);
    assert_eq!(FrameBitmap::words_needed(64), 1);
    assert_eq!(FrameBitmap::words_needed(65), 2);
}

#[test]
fn allocates_every_frame_once_then_reports_exhaustion() {
    let mut storage = [0u64; 2];
    let mut bitmap = FrameBitmap::new(BASE, 70, &mut storage).unwrap();
    let handed_out: BTreeSet<_> = (0..70).map(|_| bitmap.alloc().unwrap().addr()).collect();
    assert_eq!(handed_out.len(), 70);
    assert_eq!(handed_out.first(), Some(&BASE));
    assert_eq!(handed_out.last(), Some(&(BASE + 69 * FRAME_SIZE)));
    assert_eq!(bitmap.alloc(), Err(FrameError::Exhausted));
    assert_eq!(bitmap.free_frames(), 0);
}

#[test]
fn free_detects_double_free_and_out_of_range() {
    let mut storage = [0u64; 1];
    let mut bitmap = FrameBitmap::new(BASE, 8, &mut storage).unwrap();
    let first = bitmap.alloc().unwrap();
    bitmap.free(first).unwrap();
    assert_eq!(
        bitmap.free(first),
        Err(FrameError::DoubleFree { addr: BASE })
    );
    assert_eq!(
        bitmap.free(frame(BASE - FRAME_SIZE)),
        Err(FrameError::OutOfRange {
            addr: BASE - FRAME_SIZE
        })
    );
    assert_eq!(
        bitmap.free(frame(BASE + 8 * FRAME_SIZE)),
        Err(FrameError::OutOfRange {
            addr: BASE + 8 * FRAME_SIZE
        })
    );
    assert_eq!(bitmap.free_frames(), 8);
}

#[test]
fn mark_used_carves_the_bitmap_out_of_its_own_range() {
    let mut storage = [0u64; 4];
    let mut bitmap = FrameBitmap::new(BASE, 200, &mut storage).unwrap();
    // 100 bytes at the start of the range still take a whole frame.
    assert_eq!(bitmap.mark_used(BASE, 100), 1);
    assert_eq!(bitmap.mark_used(BASE, 100), 0);
    // Clipped to the range on both sides.
    assert_eq!(bitmap.mark_used(0, BASE + 2 * FRAME_SIZE), 1);
    assert_eq!(bitmap.mark_used(BASE + 199 * FRAME_SIZE, u64::MAX), 1);
    assert_eq!(bitmap.mark_used(u64::MAX - 5, 100), 0);
    assert_eq!(bitmap.free_frames(), 197);
    assert!(!bitmap.is_free(frame(BASE)));
    assert_eq!(bitmap.alloc(), Ok(frame(BASE + 2 * FRAME_SIZE)));
}

#[test]
fn contiguous_runs_respect_alignment_and_skip_used_frames() {
    let mut storage = [0u64; 8];
    // Base 1 MiB + 4 KiB: the first 2 MiB-aligned frame is at 2 MiB.
    let base = BASE + FRAME_SIZE;
    let mut bitmap = FrameBitmap::new(base, 512, &mut storage).unwrap();
    assert_eq!(bitmap.alloc_contiguous(4, 0x20_0000), Ok(frame(0x20_0000)));
    // 16 KiB-aligned: the first candidate (0x104000) is blocked by a used
    // frame in the middle of its run, so the run starts at the next one.
    bitmap.mark_used(0x10_5000, 1);
    let run = bitmap.alloc_contiguous(3, 0x4000).unwrap();
    assert_eq!(run, frame(0x10_8000));
    assert_eq!(
        bitmap.alloc_contiguous(0, 0x1000),
        Err(FrameError::ZeroCount)
    );
    assert_eq!(
        bitmap.alloc_contiguous(1, 0x3000),
        Err(FrameError::BadAlignment { align: 0x3000 })
    );
    assert_eq!(
        bitmap.alloc_contiguous(1, 1 << 63),
        Err(FrameError::Exhausted)
    );
    assert_eq!(bitmap.alloc_contiguous(600, 1), Err(FrameError::Exhausted));
    assert_eq!(bitmap.free_frames(), 512 - 4 - 1 - 3);
    bitmap.free_contiguous(run, 3).unwrap();
    assert_eq!(
        bitmap.free_contiguous(run, 3),
        Err(FrameError::DoubleFree { addr: run.addr() })
    );
    assert_eq!(
        bitmap.free_contiguous(frame(0x20_0000), 1000),
        Err(FrameError::OutOfRange { addr: bitmap.end() })
    );
    assert!(
        !bitmap.is_free(frame(0x20_0000)),
        "a failed free_contiguous frees nothing"
    );
}

#[test]
fn node_frames_fall_back_to_the_nearest_node() {
    let (mut s0, mut s1, mut s2) = ([0u64; 1], [0u64; 1], [0u64; 1]);
    let mut nodes = NodeFrames::<'_, 4>::new();
    nodes
        .add_zone(NodeId(0), FrameBitmap::new(0, 2, &mut s0).unwrap())
        .unwrap();
    nodes
        .add_zone(NodeId(1), FrameBitmap::new(0x10_0000, 2, &mut s1).unwrap())
        .unwrap();
    nodes
        .add_zone(NodeId(2), FrameBitmap::new(0x20_0000, 2, &mut s2).unwrap())
        .unwrap();
    // Node 0 is nearer to node 2 than to node 1.
    nodes.set_distance(NodeId(0), NodeId(1), 30).unwrap();
    nodes.set_distance(NodeId(0), NodeId(2), 15).unwrap();
    assert_eq!(
        nodes.fallback_order(NodeId(0)).collect::<Vec<_>>(),
        [NodeId(0), NodeId(2), NodeId(1)]
    );
    assert_eq!(
        nodes.fallback_order(NodeId(1)).collect::<Vec<_>>(),
        [NodeId(1), NodeId(0), NodeId(2)]
    );
    assert_eq!(nodes.distance(NodeId(1), NodeId(1)), Some(10));
    assert_eq!(nodes.distance(NodeId(1), NodeId(2)), Some(20));
    assert_eq!(nodes.distance(NodeId(7), NodeId(2)), None);

    let served: Vec<_> = (0..6)
        .map(|_| nodes.alloc_on(NodeId(0)).unwrap().1)
        .collect();
    assert_eq!(
        served,
        [
            NodeId(0),
            NodeId(0),
            NodeId(2),
            NodeId(2),
            NodeId(1),
            NodeId(1)
        ]
    );
    assert_eq!(nodes.alloc_on(NodeId(0)), Err(FrameError::Exhausted));
    assert_eq!(
        nodes.alloc_on(NodeId(9)),
        Err(FrameError::UnknownNode(NodeId(9)))
    );
    assert_eq!(nodes.free(frame(0x20_1000)), Ok(NodeId(2)));
    assert_eq!(
        nodes.free(frame(0x20_1000)),
        Err(FrameError::DoubleFree { addr: 0x20_1000 })
    );
    assert_eq!(
        nodes.free(frame(0x30_0000)),
        Err(FrameError::OutOfRange { addr: 0x30_0000 })
    );
    assert_eq!(
        (
            nodes.free_frames_on(NodeId(2)),
            nodes.total_frames_on(NodeId(2))
        ),
        (1, 2)
    );
    assert_eq!((nodes.free_frames(), nodes.total_frames()), (1, 6));
    assert_eq!(nodes.alloc_on(NodeId(1)), Ok((frame(0x20_1000), NodeId(2))));
}

#[test]
fn node_with_room_picks_the_nearest_node_that_holds_the_whole_request() {
    let (mut s0, mut s1, mut s2) = ([0u64; 1], [0u64; 1], [0u64; 1]);
    let mut nodes = NodeFrames::<'_, 4>::new();
    nodes
        .add_zone(NodeId(0), FrameBitmap::new(0, 2, &mut s0).unwrap())
        .unwrap();
    nodes
        .add_zone(NodeId(1), FrameBitmap::new(0x10_0000, 4, &mut s1).unwrap())
        .unwrap();
    nodes
        .add_zone(NodeId(2), FrameBitmap::new(0x20_0000, 8, &mut s2).unwrap())
        .unwrap();
    nodes.set_distance(NodeId(0), NodeId(1), 30).unwrap();
    nodes.set_distance(NodeId(0), NodeId(2), 15).unwrap();
    // Enough on the node asked for: that node.
    assert_eq!(nodes.node_with_room(NodeId(0), 2), Some(NodeId(0)));
    // Node 0 is too small: node 2 is nearer than node 1, and has room.
    assert_eq!(nodes.node_with_room(NodeId(0), 3), Some(NodeId(2)));
    // Node 1 has room for 4, not for 5: node 0 (20) before node 2 (20) by id,
    // but node 0 has only 2 frames, so node 2.
    assert_eq!(nodes.node_with_room(NodeId(1), 4), Some(NodeId(1)));
    assert_eq!(nodes.node_with_room(NodeId(1), 5), Some(NodeId(2)));
    // No node holds 9 frames, though 14 are free in all.
    assert_eq!(nodes.node_with_room(NodeId(0), 9), None);
    assert_eq!(nodes.node_with_room(NodeId(7), 1), None);
    // Room follows the free count.
    nodes.alloc_on(NodeId(2)).unwrap();
    assert_eq!(nodes.node_with_room(NodeId(0), 8), None);
    assert_eq!(nodes.node_with_room(NodeId(0), 7), Some(NodeId(2)));
}

#[test]
fn node_frames_reject_overlap_and_overflow() {
    let (mut s0, mut s1, mut s2) = ([0u64; 1], [0u64; 1], [0u64; 1]);
    let mut nodes = NodeFrames::<'_, 1>::new();
    nodes
        .add_zone(NodeId(0), FrameBitmap::new(0, 4, &mut s0).unwrap())
        .unwrap();
    assert_eq!(
        nodes.add_zone(NodeId(0), FrameBitmap::new(0x3000, 4, &mut s1).unwrap()),
        Err(FrameError::OverlappingZone)
    );
    assert_eq!(
        nodes.add_zone(NodeId(1), FrameBitmap::new(0x10000, 4, &mut s2).unwrap()),
        Err(FrameError::TooManyZones)
    );
    assert_eq!(
        nodes.set_distance(NodeId(0), NodeId(1), 20),
        Err(FrameError::TooManyZones)
    );
}

#[test]
fn node_frames_contiguous_runs_stay_in_one_zone() {
    let (mut s0, mut s1) = ([0u64; 1], [0u64; 1]);
    let mut nodes = NodeFrames::<'_, 2>::new();
    // Two touching zones of node 0: a 6-frame run must not straddle them.
    nodes
        .add_zone(NodeId(0), FrameBitmap::new(0, 4, &mut s0).unwrap())
        .unwrap();
    nodes
        .add_zone(NodeId(0), FrameBitmap::new(0x4000, 8, &mut s1).unwrap())
        .unwrap();
    assert_eq!(
        nodes.alloc_contiguous_on(NodeId(0), 6, 0x1000),
        Ok((frame(0x4000), NodeId(0)))
    );
    assert_eq!(
        nodes.alloc_contiguous_on(NodeId(0), 6, 0x1000),
        Err(FrameError::Exhausted)
    );
    assert_eq!(nodes.free_contiguous(frame(0x4000), 6), Ok(NodeId(0)));
    assert_eq!(nodes.free_frames(), 12);
}

#[derive(Clone, Debug)]
enum Op {
    Alloc,
    AllocContiguous { count: usize, align_shift: u32 },
    Free { pick: usize },
    FreeTwice { pick: usize },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Alloc),
        2 => (1usize..9, 0u32..5).prop_map(|(count, align_shift)| Op::AllocContiguous { count, align_shift }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => any::<usize>().prop_map(|pick| Op::FreeTwice { pick }),
    ]
}

proptest! {
    #[test]
    fn no_frame_is_handed_out_twice_and_frees_restore_counts(
        frames in 1usize..300,
        base_frame in 0u64..64,
        ops in proptest::collection::vec(op_strategy(), 1..200),
    ) {
        let base = base_frame * FRAME_SIZE;
        let mut storage = vec![0u64; FrameBitmap::words_needed(frames)];
        let mut bitmap = FrameBitmap::new(base, frames, &mut storage).unwrap();
        // Every frame handed out and not yet freed, by address.
        let mut allocated = BTreeSet::new();
        for op in ops {
            match op {
                Op::Alloc => match bitmap.alloc() {
                    Ok(frame) => prop_assert!(allocated.insert(frame.addr()), "{:#x} twice", frame.addr()),
                    Err(error) => {
                        prop_assert_eq!(error, FrameError::Exhausted);
                        prop_assert_eq!(allocated.len(), frames);
                    }
                },
                Op::AllocContiguous { count, align_shift } => {
                    let align = FRAME_SIZE << align_shift;
                    if let Ok(first) = bitmap.alloc_contiguous(count, align) {
                        prop_assert_eq!(first.addr() % align, 0);
                        for index in 0..count as u64 {
                            let addr = first.addr() + index * FRAME_SIZE;
                            prop_assert!(addr < base + frames as u64 * FRAME_SIZE);
                            prop_assert!(allocated.insert(addr), "{:#x} twice", addr);
                        }
                    }
                }
                Op::Free { pick } | Op::FreeTwice { pick } => {
                    if let Some(&addr) = allocated.iter().nth(pick % allocated.len().max(1)) {
                        bitmap.free(frame(addr)).unwrap();
                        allocated.remove(&addr);
                        if matches!(op, Op::FreeTwice { .. }) {
                            prop_assert_eq!(bitmap.free(frame(addr)), Err(FrameError::DoubleFree { addr }));
                        }
                    }
                }
            }
            prop_assert_eq!(bitmap.free_frames(), frames - allocated.len());
        }
        for addr in std::mem::take(&mut allocated) {
            bitmap.free(frame(addr)).unwrap();
        }
        prop_assert_eq!(bitmap.free_frames(), frames);
    }

    #[test]
    fn contiguous_search_finds_a_run_when_one_exists(
        used in proptest::collection::btree_set(0usize..128, 0..100),
        count in 1usize..10,
        align_shift in 0u32..4,
    ) {
        let mut storage = [0u64; 2];
        let mut bitmap = FrameBitmap::new(0, 128, &mut storage).unwrap();
        for index in &used {
            bitmap.mark_used(*index as u64 * FRAME_SIZE, 1);
        }
        let step = 1usize << align_shift;
        // The first aligned run of `count` free frames, found by brute force.
        let expected = (0..128usize)
            .step_by(step)
            .find(|start| start + count <= 128 && (*start..start + count).all(|index| !used.contains(&index)));
        let found = bitmap.alloc_contiguous(count, FRAME_SIZE << align_shift).ok();
        prop_assert_eq!(found.map(|first| (first.addr() / FRAME_SIZE) as usize), expected);
    }
}
