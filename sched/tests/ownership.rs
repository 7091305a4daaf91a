//! The per-CPU ownership split on random operation sequences over three
//! CPUs: picks, ticks and yields (no table), blocking, waking, priority
//! changes and calls that lend priority across CPUs (table plus inboxes).
//! After every operation the posted CPUs drain their inboxes (the IPIs) and
//! then, whatever the history:
//! - every ready thread is in exactly one place, its own CPU's current
//!   thread or queue, and every blocked or dead thread is nowhere;
//! - each CPU's view of a priority (its current thread's level, each queued
//!   thread's level) equals the table's effective priority;
//! - no CPU runs a thread while a more urgent one waits in its queue;
//! - slices left stay within one slice.

mod common;

use common::{inboxes, spawn, table};
use proptest::prelude::*;
use sched::{
    BlockedOn, CpuId, Decision, Inboxes, PiConfig, Priority, SchedConfig, Scheduler, ThreadId,
    ThreadState, ThreadTable,
};

const CPUS: u16 = 3;
const THREADS: u32 = 9;
const SLICE: u64 = 50;

#[derive(Debug, Clone)]
enum Op {
    Tick(u16, u64),
    Yield(u16),
    /// The current thread of a CPU blocks: 0 receive, 1 sleep, 2.. a call
    /// to thread (n - 2) (it lends its priority to that server).
    Block(u16, u32),
    Wake(u16, u32),
    SetPriority(u16, u32, u8),
    Exit(u16),
    /// A CPU makes a thread it has queued current at once (the end of a
    /// scheduling-context donation), then carries out what that asks for.
    Adopt(u16, u32),
}

fn op() -> impl Strategy<Value = Op> {
    let cpu = 0..CPUS;
    prop_oneof![
        (cpu.clone(), 0u64..80).prop_map(|(c, dt)| Op::Tick(c, dt)),
        cpu.clone().prop_map(Op::Yield),
        (cpu.clone(), 0..THREADS + 2).prop_map(|(c, on)| Op::Block(c, on)),
        (cpu.clone(), 0..THREADS).prop_map(|(c, t)| Op::Wake(c, t)),
        (cpu.clone(), 0..THREADS, 0u8..40).prop_map(|(c, t, p)| Op::SetPriority(c, t, p)),
        cpu.clone().prop_map(Op::Exit),
        (cpu, 0..THREADS).prop_map(|(c, t)| Op::Adopt(c, t)),
    ]
}

struct World {
    table: ThreadTable,
    inboxes: Inboxes,
    cpus: Vec<Scheduler>,
    now: u64,
}

impl World {
    fn new(priorities: &[u8]) -> Self {
        let mut table = table(THREADS as usize, usize::from(CPUS), PiConfig::default());
        let inboxes = inboxes(&table, 2); // small: the overflow bitmap is used too
        let mut cpus: Vec<Scheduler> = (0..CPUS)
            .map(|c| {
                Scheduler::new(
                    CpuId(c),
                    SchedConfig { time_slice: SLICE },
                    table.capacity(),
                )
            })
            .collect();
        for (i, &p) in priorities.iter().enumerate() {
            let cpu = i as u16 % CPUS;
            let tid = spawn(&mut table, p, cpu);
            let _ = cpus[usize::from(cpu)].enqueue(&table, tid).unwrap();
        }
        let mut world = Self {
            table,
            inboxes,
            cpus,
            now: 0,
        };
        for c in 0..CPUS {
            world.run(c, Decision::Reschedule);
        }
        world
    }

    /// CPU `c` carries out `decision` (after draining its inbox).
    fn run(&mut self, c: u16, decision: Decision) {
        let sched = &mut self.cpus[usize::from(c)];
        let drained = sched.drain_inbox(&self.table, &self.inboxes).unwrap();
        let _ = sched.apply(decision.combine(drained), self.now);
    }

    /// The IPIs: every CPU drains and reschedules until nothing is posted.
    fn deliver(&mut self) {
        for _ in 0..4 {
            let mut posted = false;
            for c in 0..CPUS {
                posted |= !self.cpus[usize::from(c)].take_ipi_targets().is_empty();
            }
            for c in 0..CPUS {
                self.run(c, Decision::Stay);
            }
            if !posted {
                return;
            }
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let World {
            table,
            inboxes,
            cpus,
            now,
        } = self;
        match *op {
            Op::Tick(c, dt) => {
                *now += dt;
                let d = cpus[usize::from(c)].tick(*now);
                self.run(c, d);
            }
            Op::Yield(c) => {
                let d = cpus[usize::from(c)].yield_now();
                self.run(c, d);
            }
            Op::Block(c, on) => {
                let sched = &mut cpus[usize::from(c)];
                let Some(me) = sched.current() else {
                    return Ok(());
                };
                let on = match on {
                    0 => BlockedOn::Receive,
                    1 => BlockedOn::Sleep,
                    n => BlockedOn::Reply(ThreadId(n - 2)),
                };
                // Refusals (a dead server, a cycle) leave it running.
                if let Ok(d) = sched.block(table, inboxes, me, on) {
                    self.run(c, d);
                }
            }
            Op::Wake(c, t) => {
                if let Ok(d) = cpus[usize::from(c)].wake(table, inboxes, ThreadId(t)) {
                    self.run(c, d);
                }
            }
            Op::SetPriority(c, t, p) => {
                let sched = &mut cpus[usize::from(c)];
                if let Ok(d) = sched.set_base_priority(table, inboxes, ThreadId(t), Priority(p)) {
                    self.run(c, d);
                }
            }
            Op::Exit(c) => {
                let sched = &mut cpus[usize::from(c)];
                let Some(me) = sched.current() else {
                    return Ok(());
                };
                if let Ok(d) = sched.exit(table, inboxes, me) {
                    self.run(c, d);
                }
            }
            Op::Adopt(c, t) => {
                let sched = &mut cpus[usize::from(c)];
                let queued = sched.is_queued(ThreadId(t));
                match sched.adopt(table, ThreadId(t), *now) {
                    Ok(d) => {
                        prop_assert!(queued || sched.current() == Some(ThreadId(t)));
                        prop_assert_eq!(sched.current(), Some(ThreadId(t)));
                        self.run(c, d);
                    }
                    Err(_) => prop_assert!(!queued, "{:?} queued on {} but refused", t, c),
                }
            }
        }
        self.deliver();
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for tid in self.table.thread_ids() {
            let thread = self.table.get(tid).unwrap();
            let places: Vec<(u16, bool)> = self
                .cpus
                .iter()
                .filter_map(|s| {
                    if s.current() == Some(tid) {
                        Some((s.cpu().0, true))
                    } else if s.is_queued(tid) {
                        Some((s.cpu().0, false))
                    } else {
                        None
                    }
                })
                .collect();
            match thread.state() {
                ThreadState::Ready => {
                    prop_assert_eq!(places.len(), 1, "{:?} ready in {:?}", tid, places);
                    prop_assert_eq!(places[0].0, thread.cpu().0, "{:?} on a foreign CPU", tid);
                    let sched = &self.cpus[usize::from(thread.cpu().0)];
                    let seen = if places[0].1 {
                        sched.current_level()
                    } else {
                        sched.queued_level(tid)
                    };
                    prop_assert_eq!(seen, Some(thread.effective_priority()), "{:?} level", tid);
                    let slice = sched.slice_left(tid).unwrap();
                    prop_assert!(slice <= SLICE, "{:?} slice {}", tid, slice);
                }
                _ => prop_assert!(
                    places.is_empty(),
                    "{:?} {:?} in {:?}",
                    tid,
                    thread.state(),
                    places
                ),
            }
        }
        for sched in &self.cpus {
            if let (Some(level), Some(best)) = (sched.current_level(), sched.highest_queued()) {
                prop_assert!(
                    level >= best,
                    "cpu {:?} runs {:?} below {:?}",
                    sched.cpu(),
                    level,
                    best
                );
            }
            prop_assert!(sched.current().is_some() || sched.highest_queued().is_none());
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn every_cpu_view_matches_the_table(
        priorities in prop::collection::vec(0u8..40, THREADS as usize),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut world = World::new(&priorities);
        world.check()?;
        for op in &ops {
            world.apply(op)?;
            world.check()?;
        }
    }
}
