//! Priority inheritance: chains through calls and mutexes, unwinding by reply,
//! timeout, cancellation and death, cycle and chain-bound refusals, the global
//! switch; random operation sequences checked against an independent model.

mod common;

use common::{actual_effective, effective, expected_effective, spawn, table};
use proptest::prelude::*;
use sched::{BlockedOn, MutexId, MutexLock, PiConfig, Priority, SchedError, ThreadId, ThreadState};

fn pi(max_chain: usize) -> PiConfig {
    PiConfig {
        enabled: true,
        max_chain,
    }
}

#[test]
fn chain_lends_transitively_and_unwinds_on_reply() {
    let mut t = table(8, 1, pi(8));
    let client = spawn(&mut t, 50, 0);
    let server_a = spawn(&mut t, 10, 0);
    let server_b = spawn(&mut t, 5, 0);
    t.block_thread(server_a, BlockedOn::Reply(server_b))
        .unwrap();
    assert_eq!(effective(&t, server_b), 10);
    t.block_thread(client, BlockedOn::Reply(server_a)).unwrap();
    assert_eq!((effective(&t, server_a), effective(&t, server_b)), (50, 50));
    // B replies to A: B loses everything, A keeps the client's priority.
    assert_eq!(t.unblock_thread(server_a), Ok(BlockedOn::Reply(server_b)));
    assert_eq!((effective(&t, server_a), effective(&t, server_b)), (50, 5));
    // A replies to the client.
    t.unblock_thread(client).unwrap();
    assert_eq!(effective(&t, server_a), 10);
    assert_eq!(t.get(client).unwrap().state(), ThreadState::Ready);
}

#[test]
fn death_in_the_middle_of_a_chain_unwinds_both_sides() {
    let mut t = table(8, 1, pi(8));
    let client = spawn(&mut t, 60, 0);
    let middle = spawn(&mut t, 20, 0);
    let last = spawn(&mut t, 1, 0);
    t.block_thread(middle, BlockedOn::Reply(last)).unwrap();
    t.block_thread(client, BlockedOn::Reply(middle)).unwrap();
    assert_eq!(effective(&t, last), 60);
    t.exit_thread(middle).unwrap();
    assert_eq!(effective(&t, last), 1, "the dead server no longer lends");
    assert_eq!(
        t.get(client).unwrap().state(),
        ThreadState::Ready,
        "call failed"
    );
    assert_eq!(t.donee(client), Ok(None));
    // The freed client is flagged so that its CPU queues it.
    let flagged: Vec<ThreadId> = std::iter::from_fn(|| t.take_attention()).collect();
    assert!(flagged.contains(&client) && flagged.contains(&last));
    assert_eq!(
        t.block_thread(client, BlockedOn::Reply(middle)),
        Err(SchedError::InvalidState {
            thread: middle,
            state: ThreadState::Dead
        })
    );
}

#[test]
fn mutex_owner_inherits_and_hands_off_to_most_urgent_waiter() {
    let mut t = table(8, 1, pi(8));
    let owner = spawn(&mut t, 3, 0);
    let low = spawn(&mut t, 10, 0);
    let high = spawn(&mut t, 40, 0);
    let caller_of_owner = spawn(&mut t, 25, 0);
    let m = t.create_mutex().unwrap();
    assert_eq!(t.lock_mutex(owner, m), Ok(MutexLock::Acquired));
    assert_eq!(t.lock_mutex(low, m), Ok(MutexLock::Blocked));
    assert_eq!(t.lock_mutex(high, m), Ok(MutexLock::Blocked));
    t.block_thread(caller_of_owner, BlockedOn::Reply(owner))
        .unwrap();
    assert_eq!(effective(&t, owner), 40);
    assert_eq!(
        t.unlock_mutex(low, m),
        Err(SchedError::NotMutexOwner {
            mutex: m,
            thread: low
        })
    );
    assert_eq!(t.unlock_mutex(owner, m), Ok(Some(high)));
    assert_eq!(effective(&t, owner), 25, "still serving a call");
    assert_eq!(t.mutex_owner(m), Ok(Some(high)));
    assert_eq!(effective(&t, high), 40);
    // A mutex wait that times out stops lending.
    t.unblock_thread(low).unwrap();
    assert_eq!(t.unlock_mutex(high, m), Ok(None));
    assert_eq!(t.destroy_mutex(m), Ok(()));
}

#[test]
fn cycles_are_refused_as_deadlock_and_change_nothing() {
    let mut t = table(8, 1, pi(8));
    let a = spawn(&mut t, 1, 0);
    let b = spawn(&mut t, 2, 0);
    let c = spawn(&mut t, 3, 0);
    assert_eq!(
        t.block_thread(a, BlockedOn::Reply(a)),
        Err(SchedError::Deadlock { thread: a })
    );
    t.block_thread(a, BlockedOn::Reply(b)).unwrap();
    t.block_thread(b, BlockedOn::Reply(c)).unwrap();
    let before = actual_effective(&t);
    assert_eq!(
        t.block_thread(c, BlockedOn::Reply(a)),
        Err(SchedError::Deadlock { thread: c })
    );
    assert_eq!(actual_effective(&t), before);
    assert_eq!(t.get(c).unwrap().state(), ThreadState::Ready);
    // Recursive locking would be a wait on oneself.
    let m = t.create_mutex().unwrap();
    assert_eq!(t.lock_mutex(c, m), Ok(MutexLock::Acquired));
    assert_eq!(
        t.lock_mutex(c, m),
        Err(SchedError::AlreadyMutexOwner {
            mutex: m,
            thread: c
        })
    );
    // A cycle through a mutex: a waits on b, b waits on m owned by a.
    let e = spawn(&mut t, 4, 0);
    let f = spawn(&mut t, 5, 0);
    let m2 = t.create_mutex().unwrap();
    assert_eq!(t.lock_mutex(e, m2), Ok(MutexLock::Acquired));
    t.block_thread(e, BlockedOn::Reply(f)).unwrap();
    assert_eq!(t.lock_mutex(f, m2), Err(SchedError::Deadlock { thread: f }));
    let d = spawn(&mut t, 9, 0);
    t.block_thread(d, BlockedOn::Reply(a)).unwrap();
    // c blocking on a call to d would close c -> d -> a -> b -> c.
    assert_eq!(
        t.block_thread(c, BlockedOn::Reply(d)),
        Err(SchedError::Deadlock { thread: c })
    );
}

#[test]
fn chains_longer_than_the_bound_are_refused_from_either_end() {
    let mut t = table(8, 1, pi(2));
    let ids: Vec<ThreadId> = (0..5).map(|p| spawn(&mut t, p, 0)).collect();
    // Built downward: 0 -> 1 -> 2, then 2 -> 3 would make three edges.
    t.block_thread(ids[0], BlockedOn::Reply(ids[1])).unwrap();
    t.block_thread(ids[1], BlockedOn::Reply(ids[2])).unwrap();
    assert_eq!(
        t.block_thread(ids[2], BlockedOn::Reply(ids[3])),
        Err(SchedError::ChainTooLong {
            length: 3,
            limit: 2
        })
    );
    // Built upward: 4 -> 0 would also make three edges.
    assert_eq!(
        t.block_thread(ids[4], BlockedOn::Reply(ids[0])),
        Err(SchedError::ChainTooLong {
            length: 3,
            limit: 2
        })
    );
    assert_eq!(effective(&t, ids[2]), 2);
}

#[test]
fn global_switch_turns_lending_off_and_back_on() {
    let mut t = table(8, 1, pi(8));
    let client = spawn(&mut t, 90, 0);
    let server = spawn(&mut t, 10, 0);
    t.block_thread(client, BlockedOn::Reply(server)).unwrap();
    assert_eq!(effective(&t, server), 90);
    t.set_priority_inheritance(false);
    assert_eq!(effective(&t, server), 10);
    // Edges are still tracked: cycles are still refused.
    assert_eq!(
        t.block_thread(server, BlockedOn::Reply(client)),
        Err(SchedError::Deadlock { thread: server })
    );
    t.set_priority_inheritance(true);
    assert_eq!(effective(&t, server), 90);
    t.set_base_priority(client, Priority(95)).unwrap();
    assert_eq!(effective(&t, server), 95);
}

#[test]
fn lifo_unwinding_restores_every_snapshot() {
    // A tree: two chains meeting at `root`, plus a mutex edge.
    let mut t = table(16, 1, pi(8));
    let prios = [7u8, 80, 30, 55, 12, 99, 4, 61];
    let ids: Vec<ThreadId> = prios.iter().map(|&p| spawn(&mut t, p, 0)).collect();
    let m = t.create_mutex().unwrap();
    assert_eq!(t.lock_mutex(ids[0], m), Ok(MutexLock::Acquired));
    let edges = [
        (ids[1], BlockedOn::Reply(ids[0])),
        (ids[2], BlockedOn::Reply(ids[1])),
        (ids[3], BlockedOn::Mutex(m)),
        (ids[4], BlockedOn::Reply(ids[3])),
        (ids[5], BlockedOn::Reply(ids[4])),
        (ids[6], BlockedOn::Reply(ids[2])),
        (ids[7], BlockedOn::Mutex(m)),
    ];
    let mut snapshots = Vec::new();
    for &(waiter, on) in &edges {
        snapshots.push(actual_effective(&t));
        t.block_thread(waiter, on).unwrap();
        assert_eq!(actual_effective(&t), expected_effective(&t));
    }
    assert_eq!(effective(&t, ids[0]), 99);
    for &(waiter, _) in edges.iter().rev() {
        t.unblock_thread(waiter).unwrap();
        assert_eq!(actual_effective(&t), snapshots.pop().unwrap());
    }
}

// ---- random operation sequences against an independent graph model ----

const THREADS: usize = 7;
const MUTEXES: usize = 3;
const MAX_CHAIN: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Call(usize, usize),
    Lock(usize, usize),
    Unlock(usize),
    /// Reply, timeout or cancellation: the table cannot tell them apart.
    EndWait(usize),
    Exit(usize),
    SetBase(usize, u8),
    TogglePi,
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..THREADS;
    prop_oneof![
        4 => (t.clone(), t.clone()).prop_map(|(a, b)| Op::Call(a, b)),
        3 => (t.clone(), 0..MUTEXES).prop_map(|(a, m)| Op::Lock(a, m)),
        2 => (0..MUTEXES).prop_map(Op::Unlock),
        3 => t.clone().prop_map(Op::EndWait),
        1 => t.clone().prop_map(Op::Exit),
        1 => (t, 0u8..8).prop_map(|(a, p)| Op::SetBase(a, p * 10)),
        1 => Just(Op::TogglePi),
    ]
}

/// Who waits on what and who owns what, kept by the test alone.
#[derive(Default)]
struct Graph {
    dead: [bool; THREADS],
    waits: [Option<BlockedOn>; THREADS],
    owner: [Option<usize>; MUTEXES],
    /// FIFO of waiters per mutex.
    waiters: [Vec<usize>; MUTEXES],
}

impl Graph {
    fn donee(&self, t: usize) -> Option<usize> {
        match self.waits[t]? {
            BlockedOn::Reply(s) => Some(s.0 as usize),
            BlockedOn::Mutex(m) => self.owner[m.0 as usize],
            _ => None,
        }
    }
    fn height(&self, t: usize) -> usize {
        (0..THREADS)
            .filter(|&d| self.donee(d) == Some(t))
            .map(|d| self.height(d) + 1)
            .max()
            .unwrap_or(0)
    }
    /// The error the table must report for a new edge `waiter -> donee`.
    fn edge_error(&self, waiter: usize, donee: usize) -> Option<SchedError> {
        let mut below = 0;
        let mut cursor = donee;
        loop {
            if cursor == waiter {
                return Some(SchedError::Deadlock {
                    thread: ThreadId(waiter as u32),
                });
            }
            match self.donee(cursor) {
                Some(next) => {
                    below += 1;
                    cursor = next;
                }
                None => break,
            }
        }
        let length = self.height(waiter) + 1 + below;
        (length > MAX_CHAIN).then_some(SchedError::ChainTooLong {
            length,
            limit: MAX_CHAIN,
        })
    }
    fn blockable_error(&self, t: usize, table: &sched::ThreadTable) -> Option<SchedError> {
        (self.dead[t] || self.waits[t].is_some()).then(|| SchedError::InvalidState {
            thread: ThreadId(t as u32),
            state: table.get(ThreadId(t as u32)).unwrap().state(),
        })
    }
    fn release(&mut self, m: usize, table: &sched::ThreadTable) -> Option<usize> {
        self.owner[m] = None;
        let eff = |w: usize| effective(table, ThreadId(w as u32));
        let best = self.waiters[m].iter().map(|&w| eff(w)).max()?;
        let index = self.waiters[m].iter().position(|&w| eff(w) == best)?;
        let heir = self.waiters[m].remove(index);
        self.waits[heir] = None;
        self.owner[m] = Some(heir);
        Some(heir)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_operations_match_from_scratch_model(
        bases in proptest::array::uniform7((0u8..6).prop_map(|p| p * 10)),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut t = table(THREADS, 1, pi(MAX_CHAIN));
        let ids: Vec<ThreadId> = bases.iter().map(|&p| spawn(&mut t, p, 0)).collect();
        let mutexes: Vec<MutexId> = (0..MUTEXES).map(|_| t.create_mutex().unwrap()).collect();
        let mut g = Graph::default();
        for op in ops {
            match op {
                Op::Call(c, s) => {
                    let expected = g.blockable_error(c, &t)
                        .or_else(|| g.dead[s].then_some(SchedError::InvalidState {
                            thread: ids[s], state: ThreadState::Dead }))
                        .or_else(|| g.edge_error(c, s));
                    let result = t.block_thread(ids[c], BlockedOn::Reply(ids[s]));
                    prop_assert_eq!(result.err(), expected);
                    if expected.is_none() { g.waits[c] = Some(BlockedOn::Reply(ids[s])); }
                }
                Op::Lock(w, m) => {
                    let result = t.lock_mutex(ids[w], mutexes[m]);
                    if let Some(error) = g.blockable_error(w, &t) {
                        prop_assert_eq!(result, Err(error));
                    } else if g.owner[m].is_none() {
                        prop_assert_eq!(result, Ok(MutexLock::Acquired));
                        g.owner[m] = Some(w);
                    } else if g.owner[m] == Some(w) {
                        prop_assert_eq!(result, Err(SchedError::AlreadyMutexOwner { mutex: mutexes[m], thread: ids[w] }));
                    } else if let Some(error) = g.edge_error(w, g.owner[m].unwrap()) {
                        prop_assert_eq!(result, Err(error));
                    } else {
                        prop_assert_eq!(result, Ok(MutexLock::Blocked));
                        g.waits[w] = Some(BlockedOn::Mutex(mutexes[m]));
                        g.waiters[m].push(w);
                    }
                }
                Op::Unlock(m) => {
                    if let Some(owner) = g.owner[m] {
                        let heir = g.release(m, &t);
                        prop_assert_eq!(t.unlock_mutex(ids[owner], mutexes[m]), Ok(heir.map(|h| ids[h])));
                    }
                }
                Op::EndWait(w) => {
                    let result = t.unblock_thread(ids[w]);
                    match g.waits[w].take() {
                        Some(on) => {
                            prop_assert_eq!(result, Ok(on));
                            for fifo in &mut g.waiters { fifo.retain(|&x| x != w); }
                        }
                        None => prop_assert!(result.is_err()),
                    }
                }
                Op::Exit(x) => {
                    if g.dead[x] {
                        prop_assert!(t.exit_thread(ids[x]).is_err());
                        continue;
                    }
                    // Expected heirs from the priorities before the exit: the
                    // exit cannot change what the waiters lend.
                    let owned: Vec<usize> = (0..MUTEXES).filter(|&m| g.owner[m] == Some(x)).collect();
                    let heirs: Vec<(usize, Option<usize>)> =
                        owned.into_iter().map(|m| (m, g.release(m, &t))).collect();
                    prop_assert_eq!(t.exit_thread(ids[x]), Ok(()));
                    g.dead[x] = true;
                    g.waits[x] = None;
                    for fifo in &mut g.waiters { fifo.retain(|&y| y != x); }
                    for c in 0..THREADS {
                        if g.waits[c] == Some(BlockedOn::Reply(ids[x])) { g.waits[c] = None; }
                    }
                    for (m, heir) in heirs {
                        prop_assert_eq!(t.mutex_owner(mutexes[m]).unwrap(), heir.map(|h| ids[h]));
                    }
                }
                Op::SetBase(x, p) => t.set_base_priority(ids[x], Priority(p)).unwrap(),
                Op::TogglePi => t.set_priority_inheritance(!t.priority_inheritance()),
            }
            // The table's graph equals the model's ...
            for (x, &id) in ids.iter().enumerate() {
                let state = t.get(id).unwrap().state();
                match (g.dead[x], g.waits[x]) {
                    (true, _) => prop_assert_eq!(state, ThreadState::Dead),
                    (false, Some(on)) => prop_assert_eq!(state, ThreadState::Blocked(on)),
                    (false, None) => prop_assert_eq!(state, ThreadState::Ready),
                }
            }
            for (m, &mutex) in mutexes.iter().enumerate() {
                prop_assert_eq!(t.mutex_owner(mutex).unwrap(), g.owner[m].map(|o| ids[o]));
            }
            // ... every chain respects the bound, and priorities equal a
            // from-scratch recomputation.
            prop_assert!((0..THREADS).all(|x| g.height(x) <= MAX_CHAIN));
            prop_assert_eq!(actual_effective(&t), expected_effective(&t));
        }
        // Unwind everything in index order; every lent priority goes away.
        for &id in &ids {
            if matches!(t.get(id).unwrap().state(), ThreadState::Blocked(_)) {
                prop_assert!(t.unblock_thread(id).is_ok());
                prop_assert_eq!(actual_effective(&t), expected_effective(&t));
            }
        }
        for &mutex in &mutexes {
            if let Some(owner) = t.mutex_owner(mutex).unwrap() {
                prop_assert_eq!(t.unlock_mutex(owner, mutex), Ok(None), "no waiters left");
            }
        }
        for &id in &ids {
            let thread = t.get(id).unwrap();
            prop_assert_eq!(thread.effective_priority(), thread.base_priority());
        }
    }
}
