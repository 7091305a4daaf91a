//! `Scheduler::handoff` (the IPC fast path's one-step hand-off) leaves
//! exactly the state of the general sequence it replaces, on random
//! scenarios, and refuses what it cannot do without changing anything.

mod common;

use common::{inboxes, spawn, table};
use proptest::prelude::*;
use sched::{BlockedOn, CpuId, Decision, PiConfig, SchedConfig, Scheduler, ThreadId};

/// A scenario: priorities of the threads of CPU 0 (thread 0 runs, thread 1
/// is the partner), which of the others are ready, how the partner waits,
/// what `me` blocks on, and a slice of time already used.
#[derive(Debug, Clone)]
struct Scenario {
    priorities: Vec<u8>,
    ready: Vec<bool>,
    partner_waits_for_me: bool,
    me_on: u8,
    pi: bool,
    elapsed: u64,
    /// Extra callers blocked on a reply from `me` (they lend it priority).
    lenders: Vec<u8>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(0u8..64, 2..8),
        prop::collection::vec(any::<bool>(), 8),
        any::<bool>(),
        0u8..4,
        any::<bool>(),
        0u64..300,
        prop::collection::vec(0u8..64, 0..3),
    )
        .prop_map(
            |(priorities, ready, partner_waits_for_me, me_on, pi, elapsed, lenders)| Scenario {
                priorities,
                ready,
                partner_waits_for_me,
                me_on,
                pi,
                elapsed,
                lenders,
            },
        )
}

struct World {
    table: sched::ThreadTable,
    inbox: sched::Inboxes,
    cpu: Scheduler,
    me: ThreadId,
    to: ThreadId,
    on: BlockedOn,
    now: u64,
}

/// Builds the scenario: `me` current, `to` blocked, others ready or asleep.
fn build(s: &Scenario) -> World {
    let pi = PiConfig {
        enabled: s.pi,
        ..PiConfig::default()
    };
    let mut t = table(16, 1, pi);
    let inbox = inboxes(&t, 16);
    let mut cpu = Scheduler::new(CpuId(0), SchedConfig { time_slice: 100 }, t.capacity());
    let ids: Vec<ThreadId> = s.priorities.iter().map(|&p| spawn(&mut t, p, 0)).collect();
    let lenders: Vec<ThreadId> = s.lenders.iter().map(|&p| spawn(&mut t, p, 0)).collect();
    let (me, to) = (ids[0], ids[1]);
    // Lenders call `me` (it inherits their priority) and the partner waits
    // (for a reply from `me`, or to receive), all before `me` runs.
    for &lender in &lenders {
        t.block_thread(lender, BlockedOn::Reply(me)).unwrap();
    }
    let partner_wait = if s.partner_waits_for_me {
        BlockedOn::Reply(me)
    } else {
        BlockedOn::Receive
    };
    t.block_thread(to, partner_wait).unwrap();
    // Settling queues `me` if lending flagged it.
    let _ = cpu.settle(&mut t, &inbox);
    if !cpu.is_queued(me) && cpu.current() != Some(me) {
        let _ = cpu.enqueue(&t, me).unwrap();
    }
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(me));
    for (i, &other) in ids.iter().enumerate().skip(2) {
        if s.ready[i] {
            let _ = cpu.enqueue(&t, other).unwrap();
        }
    }
    let on = match s.me_on {
        0 => BlockedOn::Receive,
        1 => BlockedOn::Sleep,
        2 => BlockedOn::Reply(to),
        // A reply wait on a third thread (or on `to` if there is none).
        _ => BlockedOn::Reply(*ids.get(2).unwrap_or(&to)),
    };
    World {
        table: t,
        inbox,
        cpu,
        me,
        to,
        on,
        now: s.elapsed,
    }
}

/// Everything observable: the table and the scheduler, field by field.
fn snapshot(w: &World) -> String {
    format!("{:?}\n{:?}", w.table, w.cpu)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn handoff_equals_wake_block_switch(s in scenario()) {
        let mut fast = build(&s);
        let mut slow = build(&s);
        let (me, to, on, now) = (fast.me, fast.to, fast.on, fast.now);

        let fast_result = fast
            .cpu
            .handoff(&mut fast.table, &fast.inbox, me, on, to, now);

        // The general sequence, with its own checks.
        let _ = slow.cpu.apply(Decision::Stay, now);
        let woke = slow.cpu.wake(&mut slow.table, &slow.inbox, to);
        let blocked = slow.cpu.block(&mut slow.table, &slow.inbox, me, on);
        match (&fast_result, blocked) {
            (Ok(next), Ok(decision)) => {
                prop_assert!(woke.is_ok());
                let slow_next = slow.cpu.apply(
                    Decision::SwitchTo(to).combine(decision),
                    now,
                );
                prop_assert_eq!(Some(*next), slow_next);
                prop_assert_eq!(snapshot(&fast), snapshot(&slow));
            }
            (Err(_), Err(_)) => {
                // Refused: nothing changed on the fast side.
                prop_assert_eq!(snapshot(&fast), snapshot(&build(&s)));
            }
            // The documented refusal: `me`'s wait would lend and the
            // partner lends to `me` (the general path handles it).
            (Err(_), Ok(_)) if s.partner_waits_for_me && matches!(on, BlockedOn::Reply(_)) => {
                prop_assert_eq!(snapshot(&fast), snapshot(&build(&s)));
            }
            (fast, slow) => prop_assert!(false, "fast {fast:?} but slow {slow:?}"),
        }
    }
}

#[test]
fn handoff_refuses_a_running_partner_and_a_foreign_cpu() {
    let mut t = table(8, 2, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu = Scheduler::new(CpuId(0), SchedConfig { time_slice: 100 }, t.capacity());
    let me = spawn(&mut t, 10, 0);
    let ready = spawn(&mut t, 10, 0);
    let remote = spawn(&mut t, 10, 1);
    let _ = cpu.enqueue(&t, me).unwrap();
    let _ = cpu.enqueue(&t, ready).unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(me));
    let before = format!("{t:?}{cpu:?}");
    assert!(
        cpu.handoff(&mut t, &inbox, me, BlockedOn::Reply(ready), ready, 0)
            .is_err()
    );
    assert!(
        cpu.handoff(&mut t, &inbox, me, BlockedOn::Receive, remote, 0)
            .is_err()
    );
    assert!(
        cpu.handoff(&mut t, &inbox, me, BlockedOn::Receive, me, 0)
            .is_err()
    );
    assert_eq!(format!("{t:?}{cpu:?}"), before);
}
