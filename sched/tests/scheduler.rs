//! The per-CPU facade: round robin, preemption, yield, inheritance moving
//! queued threads, remote wake-ups through inboxes, direct switches, stealing
//! and exits.

mod common;

use common::{effective, inboxes, spawn, table};
use sched::{
    BlockedOn, CpuId, CpuSet, Decision, PiConfig, SchedConfig, SchedError, Scheduler, ThreadState,
};

const SLICE: u64 = 100;

fn scheduler(cpu: u16) -> Scheduler {
    // At least the capacity of every table below.
    Scheduler::new(CpuId(cpu), SchedConfig { time_slice: SLICE }, 64)
}

#[test]
fn equal_priorities_share_the_cpu_in_turn() {
    let mut t = table(8, 1, PiConfig::default());
    let mut cpu = scheduler(0);
    let threads: Vec<_> = (0..4).map(|_| spawn(&mut t, 10, 0)).collect();
    for &tid in &threads {
        let _ = cpu.enqueue(&t, tid).unwrap();
    }
    let mut now = 0;
    let mut running = cpu.apply(Decision::Reschedule, now);
    let mut order = Vec::new();
    for _ in 0..40 {
        order.push(running.unwrap());
        assert_eq!(cpu.slice_deadline(), Some(now + SLICE));
        now += SLICE / 2;
        assert_eq!(cpu.tick(now), Decision::Stay, "half a slice left");
        now += SLICE / 2;
        let decision = cpu.tick(now);
        assert_eq!(
            decision,
            Decision::Reschedule,
            "slice used up, peers waiting"
        );
        running = cpu.apply(decision, now);
    }
    for (turn, tid) in order.iter().enumerate() {
        assert_eq!(*tid, threads[turn % 4], "strict rotation");
    }
    for &tid in &threads {
        assert_eq!(order.iter().filter(|&&x| x == tid).count(), 10);
    }
}

#[test]
fn a_thread_alone_at_the_top_keeps_running_with_fresh_slices() {
    let mut t = table(8, 1, PiConfig::default());
    let mut cpu = scheduler(0);
    let high = spawn(&mut t, 20, 0);
    let low = spawn(&mut t, 5, 0);
    let _ = cpu.enqueue(&t, high).unwrap();
    let _ = cpu.enqueue(&t, low).unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(high));
    assert_eq!(cpu.tick(SLICE), Decision::Stay);
    assert_eq!(cpu.slice_left(high), Some(SLICE));
    assert_eq!(cpu.yield_now(), Decision::Reschedule);
    assert_eq!(
        cpu.apply(Decision::Reschedule, SLICE),
        Some(high),
        "nobody to yield to"
    );
}

#[test]
fn wake_of_a_more_urgent_thread_preempts_and_the_victim_keeps_its_turn() {
    let mut t = table(8, 1, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu = scheduler(0);
    let a = spawn(&mut t, 10, 0);
    let b = spawn(&mut t, 10, 0);
    let urgent = spawn(&mut t, 40, 0);
    let _ = cpu.enqueue(&t, a).unwrap();
    let _ = cpu.enqueue(&t, b).unwrap();
    let _ = cpu.enqueue(&t, urgent).unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(urgent));
    assert_eq!(
        cpu.block(&mut t, &inbox, urgent, BlockedOn::Sleep),
        Ok(Decision::Reschedule)
    );
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(a));
    assert_eq!(cpu.wake(&mut t, &inbox, urgent), Ok(Decision::Reschedule));
    assert_eq!(cpu.apply(Decision::Reschedule, 30), Some(urgent));
    assert_eq!(
        cpu.block(&mut t, &inbox, urgent, BlockedOn::Sleep),
        Ok(Decision::Reschedule)
    );
    assert_eq!(
        cpu.apply(Decision::Reschedule, 40),
        Some(a),
        "a keeps its turn"
    );
    assert_eq!(cpu.slice_left(a), Some(SLICE - 30), "and its slice");
    // A less urgent wake-up does not preempt.
    let low = spawn(&mut t, 1, 0);
    t.set_affinity(low, CpuSet::single(CpuId(0))).unwrap();
    assert_eq!(cpu.enqueue(&t, low), Ok(Decision::Stay));
}

/// A thread whose slice ran out while a more urgent thread preempts it (in
/// the same tick) goes to the back of its level: a sleeper that wakes every
/// tick must not keep one spinner in front of its peers forever.
#[test]
fn preempted_with_an_exhausted_slice_goes_to_the_back() {
    let mut t = table(8, 1, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu = scheduler(0);
    let a = spawn(&mut t, 10, 0);
    let b = spawn(&mut t, 10, 0);
    let sleeper = spawn(&mut t, 40, 0);
    let _ = cpu.enqueue(&t, a).unwrap();
    let _ = cpu.enqueue(&t, b).unwrap();
    let _ = cpu.enqueue(&t, sleeper).unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(sleeper));
    let _ = cpu
        .block(&mut t, &inbox, sleeper, BlockedOn::Sleep)
        .unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(a));
    // A whole slice later the sleeper wakes and preempts `a` in the same tick.
    let _ = cpu.wake(&mut t, &inbox, sleeper).unwrap();
    let decision = cpu.tick(SLICE);
    assert_eq!(cpu.apply(decision, SLICE), Some(sleeper));
    let _ = cpu
        .block(&mut t, &inbox, sleeper, BlockedOn::Sleep)
        .unwrap();
    assert_eq!(
        cpu.apply(Decision::Reschedule, SLICE),
        Some(b),
        "b's turn: a used its slice"
    );
}

/// The inversion inheritance exists to prevent: a client at 50 waits for a
/// server at 10 while a thread at 30 is ready.
fn inversion_scenario(pi_enabled: bool) -> (Option<sched::ThreadId>, [sched::ThreadId; 3]) {
    let pi = PiConfig {
        enabled: pi_enabled,
        ..PiConfig::default()
    };
    let mut t = table(8, 1, pi);
    let inbox = inboxes(&t, 8);
    let mut cpu = scheduler(0);
    let client = spawn(&mut t, 50, 0);
    let middle = spawn(&mut t, 30, 0);
    let server = spawn(&mut t, 10, 0);
    for tid in [client, middle, server] {
        let _ = cpu.enqueue(&t, tid).unwrap();
    }
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(client));
    let decision = cpu
        .block(&mut t, &inbox, client, BlockedOn::Reply(server))
        .unwrap();
    (cpu.apply(decision, 10), [client, middle, server])
}

#[test]
fn inheritance_moves_a_queued_server_ahead_of_the_middle_thread() {
    let (running, [_, middle, server]) = inversion_scenario(true);
    assert_eq!(running, Some(server));
    let (running, _) = inversion_scenario(false);
    assert_eq!(
        running,
        Some(middle),
        "without inheritance the middle thread runs"
    );
}

#[test]
fn reply_drops_the_server_below_its_client() {
    let mut t = table(8, 1, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu = scheduler(0);
    let client = spawn(&mut t, 50, 0);
    let server = spawn(&mut t, 10, 0);
    let _ = cpu.enqueue(&t, client).unwrap();
    let _ = cpu.enqueue(&t, server).unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(client));
    let decision = cpu
        .block(&mut t, &inbox, client, BlockedOn::Reply(server))
        .unwrap();
    assert_eq!(cpu.apply(decision, 0), Some(server));
    assert_eq!(effective(&t, server), 50);
    // The server replies: the client is ready again and outranks it.
    assert_eq!(cpu.wake(&mut t, &inbox, client), Ok(Decision::Reschedule));
    assert_eq!(effective(&t, server), 10);
    assert_eq!(cpu.apply(Decision::Reschedule, 5), Some(client));
}

#[test]
fn direct_switch_runs_the_callee_unless_something_more_urgent_waits() {
    let mut t = table(8, 1, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu = scheduler(0);
    let client = spawn(&mut t, 40, 0);
    let server = spawn(&mut t, 5, 0);
    let other = spawn(&mut t, 20, 0);
    let _ = cpu.enqueue(&t, server).unwrap();
    let _ = cpu.enqueue(&t, client).unwrap();
    let _ = cpu.enqueue(&t, other).unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(client));
    // Not yet inheriting: a direct switch to the server would run 5 over 20.
    assert_eq!(cpu.apply(Decision::SwitchTo(server), 0), Some(client));
    let blocked = cpu
        .block(&mut t, &inbox, client, BlockedOn::Reply(server))
        .unwrap();
    let decision = blocked.combine(Decision::SwitchTo(server));
    assert_eq!(decision, Decision::SwitchTo(server));
    assert_eq!(cpu.apply(decision, 0), Some(server));
    assert_eq!(t.get(server).unwrap().state(), ThreadState::Ready);
    assert_eq!(cpu.current(), Some(server));
    assert_eq!(cpu.queued_len(), 1);
}

#[test]
fn remote_wake_goes_through_the_inbox_and_asks_for_one_ipi() {
    let mut t = table(8, 2, PiConfig::default());
    let inbox = inboxes(&t, 1); // tiny queue: the second post overflows
    let mut cpu0 = scheduler(0);
    let mut cpu1 = scheduler(1);
    let sleepers: Vec<_> = (0..3).map(|p| spawn(&mut t, 10 + p, 1)).collect();
    for &tid in &sleepers {
        let _ = cpu1.enqueue(&t, tid).unwrap();
        assert_eq!(cpu1.apply(Decision::Reschedule, 0), Some(tid));
        let _ = cpu1.block(&mut t, &inbox, tid, BlockedOn::Receive).unwrap();
    }
    for &tid in &sleepers {
        assert_eq!(cpu0.wake(&mut t, &inbox, tid), Ok(Decision::Stay));
        assert_eq!(t.get(tid).unwrap().state(), ThreadState::Ready);
    }
    assert_eq!(cpu1.queued_len(), 0, "cpu0 never touches cpu1's queue");
    assert_eq!(cpu0.take_ipi_targets(), CpuSet::single(CpuId(1)));
    assert_eq!(cpu0.take_ipi_targets(), CpuSet::EMPTY);
    assert_eq!(cpu1.drain_inbox(&t, &inbox), Ok(Decision::Reschedule));
    assert_eq!(cpu1.queued_len(), 3, "no wake-up lost to the full queue");
    assert_eq!(cpu1.apply(Decision::Reschedule, 1), Some(sleepers[2]));
}

#[test]
fn inheritance_across_cpus_requeues_on_the_owner_cpu() {
    let mut t = table(8, 2, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu0 = scheduler(0);
    let mut cpu1 = scheduler(1);
    let client = spawn(&mut t, 70, 0);
    let server = spawn(&mut t, 10, 1);
    let busy = spawn(&mut t, 30, 1);
    let _ = cpu0.enqueue(&t, client).unwrap();
    assert_eq!(cpu0.apply(Decision::Reschedule, 0), Some(client));
    let _ = cpu1.enqueue(&t, busy).unwrap();
    assert_eq!(cpu1.apply(Decision::Reschedule, 0), Some(busy));
    let _ = cpu1.enqueue(&t, server).unwrap();
    assert_eq!(cpu1.highest_queued().map(|p| p.0), Some(10));
    let _ = cpu0
        .block(&mut t, &inbox, client, BlockedOn::Reply(server))
        .unwrap();
    assert_eq!(cpu0.take_ipi_targets(), CpuSet::single(CpuId(1)));
    assert_eq!(
        cpu1.highest_queued().map(|p| p.0),
        Some(10),
        "moved by its owner only"
    );
    assert_eq!(cpu1.drain_inbox(&t, &inbox), Ok(Decision::Reschedule));
    assert_eq!(cpu1.highest_queued().map(|p| p.0), Some(70));
    assert_eq!(cpu1.apply(Decision::Reschedule, 1), Some(server));
}

#[test]
fn stealing_hands_over_the_most_urgent_allowed_thread() {
    let mut t = table(8, 2, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut victim = scheduler(0);
    let mut thief = scheduler(1);
    let pinned = spawn(&mut t, 90, 0);
    t.set_affinity(pinned, CpuSet::single(CpuId(0))).unwrap();
    let movable = spawn(&mut t, 40, 0);
    let low = spawn(&mut t, 5, 0);
    for tid in [pinned, movable, low] {
        let _ = victim.enqueue(&t, tid).unwrap();
    }
    assert_eq!(
        victim.give_to_thief(&mut t, &inbox, CpuId(1)),
        Ok(Some(movable))
    );
    assert_eq!(t.get(movable).unwrap().cpu(), CpuId(1));
    assert_eq!(victim.queued_len(), 2);
    assert_eq!(victim.take_ipi_targets(), CpuSet::single(CpuId(1)));
    assert_eq!(thief.drain_inbox(&t, &inbox), Ok(Decision::Reschedule));
    assert_eq!(thief.apply(Decision::Reschedule, 0), Some(movable));
    assert_eq!(
        victim.give_to_thief(&mut t, &inbox, CpuId(1)),
        Ok(Some(low))
    );
    assert_eq!(
        victim.give_to_thief(&mut t, &inbox, CpuId(1)),
        Ok(None),
        "pinned stays"
    );
    assert_eq!(
        victim.give_to_thief(&mut t, &inbox, CpuId(7)),
        Err(SchedError::NoSuchCpu(CpuId(7)))
    );
}

#[test]
fn exit_unwinds_and_refuses_remote_runnable_threads() {
    let mut t = table(8, 2, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu0 = scheduler(0);
    let mut cpu1 = scheduler(1);
    let client = spawn(&mut t, 60, 0);
    let server = spawn(&mut t, 10, 1);
    let _ = cpu0.enqueue(&t, client).unwrap();
    let _ = cpu1.enqueue(&t, server).unwrap();
    assert_eq!(cpu0.apply(Decision::Reschedule, 0), Some(client));
    assert_eq!(
        cpu0.exit(&mut t, &inbox, server),
        Err(SchedError::WrongCpu {
            thread: server,
            owner: CpuId(1)
        })
    );
    let _ = cpu0
        .block(&mut t, &inbox, client, BlockedOn::Reply(server))
        .unwrap();
    assert_eq!(cpu1.drain_inbox(&t, &inbox), Ok(Decision::Reschedule));
    assert_eq!(cpu1.apply(Decision::Reschedule, 0), Some(server));
    // The server dies while serving: the call fails and the client runs again.
    assert_eq!(cpu1.exit(&mut t, &inbox, server), Ok(Decision::Reschedule));
    assert_eq!(t.get(server).unwrap().state(), ThreadState::Dead);
    assert_eq!(cpu1.apply(Decision::Reschedule, 1), None);
    assert_eq!(cpu1.take_ipi_targets(), CpuSet::single(CpuId(0)));
    assert_eq!(cpu0.drain_inbox(&t, &inbox), Ok(Decision::Reschedule));
    assert_eq!(cpu0.apply(Decision::Reschedule, 2), Some(client));
    t.reap(server).unwrap();
    assert!(t.get(server).is_err());
}

#[test]
fn mutex_through_the_facade_blocks_lends_and_hands_off() {
    let mut t = table(8, 1, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu = scheduler(0);
    let low = spawn(&mut t, 5, 0);
    let high = spawn(&mut t, 50, 0);
    let m = t.create_mutex().unwrap();
    let _ = cpu.enqueue(&t, low).unwrap();
    assert_eq!(cpu.apply(Decision::Reschedule, 0), Some(low));
    assert_eq!(cpu.lock_mutex(&mut t, &inbox, low, m), Ok(Decision::Stay));
    assert_eq!(cpu.enqueue(&t, high), Ok(Decision::Reschedule));
    assert_eq!(cpu.apply(Decision::Reschedule, 1), Some(high));
    assert_eq!(
        cpu.lock_mutex(&mut t, &inbox, high, m),
        Ok(Decision::Reschedule)
    );
    assert_eq!(cpu.apply(Decision::Reschedule, 2), Some(low));
    assert_eq!(effective(&t, low), 50);
    assert_eq!(
        cpu.unlock_mutex(&mut t, &inbox, low, m),
        Ok(Decision::Reschedule)
    );
    assert_eq!(effective(&t, low), 5);
    assert_eq!(cpu.apply(Decision::Reschedule, 3), Some(high));
    assert_eq!(t.mutex_owner(m), Ok(Some(high)));
}

#[test]
fn facade_refuses_bad_requests() {
    let mut t = table(8, 2, PiConfig::default());
    let inbox = inboxes(&t, 8);
    let mut cpu0 = scheduler(0);
    let remote = spawn(&mut t, 1, 1);
    assert_eq!(
        cpu0.enqueue(&t, remote),
        Err(SchedError::WrongCpu {
            thread: remote,
            owner: CpuId(1)
        })
    );
    assert!(matches!(
        cpu0.block(&mut t, &inbox, remote, BlockedOn::Sleep),
        Err(SchedError::InvalidState { .. })
    ));
    let too_few = sched::Inboxes::new(1, 8, 8).unwrap();
    assert_eq!(
        cpu0.wake(&mut t, &too_few, remote),
        Err(SchedError::InboxesMismatch)
    );
}
