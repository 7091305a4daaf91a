//! The ownership split under real concurrency: one OS thread per CPU, each
//! owning its `Scheduler` outright (moved into the thread, so no other CPU
//! can reach its queue: the type system is the proof), the thread table
//! behind one mutex taken only to block and wake, and wake-ups of another
//! CPU's threads travelling through the lock-free inboxes. Picks, ticks and
//! yields run without the table.
//!
//! Workload: pairs of threads ping-pong (each wakes its partner, then blocks
//! unless a wake-up is owed to it), most pairs split across CPUs, one pair
//! per CPU local. A lost wake-up stalls a pair for good, so the check is that
//! every pair completes its rounds; then every runnable thread is found
//! exactly once (current or queued on its own CPU) and every blocked thread
//! nowhere.
//!
//! The stall detector counts work, not time: a pair is stalled when both of
//! its CPUs ran `STALL_PICKS` loop iterations since the pair last moved. A
//! runnable thread is picked within a few iterations of its CPU's loop, so a
//! healthy pair never gets there, however slowly the host runs the OS
//! threads (a descheduled OS thread runs no iterations); a pair whose
//! wake-up was lost gets there while the other pairs keep both CPUs busy.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{inboxes, spawn, table};
use sched::{
    BlockedOn, CpuId, Inboxes, PiConfig, SchedConfig, Scheduler, ThreadId, ThreadState, ThreadTable,
};

const CPUS: u16 = 4;
const ROUNDS_PER_PAIR: u64 = 20_000;
/// Loop iterations of both CPUs of a pair without a round of it that make a
/// stall (a lost wake-up).
const STALL_PICKS: u64 = 5_000_000;

struct Shared {
    table: Mutex<ThreadTable>,
    inboxes: Inboxes,
    /// Wake-ups owed to a thread that was not blocked when woken (counted
    /// under the table lock, as the kernel's woken flags are checked there).
    owed: Vec<AtomicU64>,
    partner: Vec<ThreadId>,
    /// Actions run per pair (index: the pair's first thread).
    rounds: Vec<AtomicU64>,
    /// Loop iterations per CPU.
    iterations: Vec<AtomicU64>,
    stop: AtomicBool,
}

/// One CPU: pick (no lock), run the picked thread's action, repeat.
fn run_cpu(shared: &Shared, mut sched: Scheduler, pair_of: &[usize]) -> Scheduler {
    let mut now = 0u64;
    let inbox = shared.inboxes.get(sched.cpu()).expect("inbox");
    let iterations = &shared.iterations[usize::from(sched.cpu().0)];
    while !shared.stop.load(Ordering::Acquire) {
        iterations.fetch_add(1, Ordering::Relaxed);
        now += 7;
        let mut decision = sched.tick(now);
        if inbox.has_mail() {
            let table = shared.table.lock().unwrap();
            decision = decision.combine(sched.drain_inbox(&table, &shared.inboxes).unwrap());
        }
        let Some(me) = sched.apply(decision, now) else {
            std::thread::yield_now(); // idle: wait for mail
            continue;
        };
        if now.is_multiple_of(5) {
            let _ = sched.yield_now();
            continue;
        }
        // The thread's "user code": wake the partner, then block unless a
        // wake-up is owed.
        let partner = shared.partner[me.0 as usize];
        let mut table = shared.table.lock().unwrap();
        if table.get(partner).unwrap().state() == ThreadState::Ready {
            shared.owed[partner.0 as usize].fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = sched.wake(&mut table, &shared.inboxes, partner).unwrap();
        }
        let owed = &shared.owed[me.0 as usize];
        if owed.load(Ordering::Relaxed) > 0 {
            owed.fetch_sub(1, Ordering::Relaxed);
        } else {
            let _ = sched
                .block(&mut table, &shared.inboxes, me, BlockedOn::Receive)
                .unwrap();
        }
        drop(table);
        shared.rounds[pair_of[me.0 as usize]].fetch_add(1, Ordering::Relaxed);
        // The IPIs the kernel would send: the posted CPUs poll `has_mail`.
        let _ = sched.take_ipi_targets();
    }
    sched
}

#[test]
fn ping_pong_across_cpus_loses_no_wake_up() {
    let cpus = usize::from(CPUS);
    let mut t = table(64, cpus, PiConfig::default());
    let inbox = inboxes(&t, 4); // small queues: the overflow bitmap is used too
    let mut scheds: Vec<Scheduler> = (0..CPUS)
        .map(|c| Scheduler::new(CpuId(c), SchedConfig { time_slice: 50 }, t.capacity()))
        .collect();
    // Pairs: (cpu c, cpu c+1) twice per CPU, and one local pair per CPU.
    let mut pairs = Vec::new();
    for c in 0..CPUS {
        for next in [(c + 1) % CPUS, (c + 2) % CPUS, c] {
            let a = spawn(&mut t, 10, c);
            let b = spawn(&mut t, 10, next);
            pairs.push((a, b));
        }
    }
    let mut partner = vec![ThreadId(0); t.capacity()];
    let mut pair_of = vec![usize::MAX; t.capacity()];
    for (i, &(a, b)) in pairs.iter().enumerate() {
        partner[a.0 as usize] = b;
        partner[b.0 as usize] = a;
        pair_of[a.0 as usize] = i;
        pair_of[b.0 as usize] = i;
        // `a` starts runnable, `b` waits for it.
        let _ = scheds[usize::from(t.get(a).unwrap().cpu().0)]
            .enqueue(&t, a)
            .unwrap();
        t.block_thread(b, BlockedOn::Receive).unwrap();
    }
    let shared = Arc::new(Shared {
        table: Mutex::new(t),
        inboxes: inbox,
        owed: (0..64).map(|_| AtomicU64::new(0)).collect(),
        partner,
        rounds: (0..pairs.len()).map(|_| AtomicU64::new(0)).collect(),
        iterations: (0..cpus).map(|_| AtomicU64::new(0)).collect(),
        stop: AtomicBool::new(false),
    });
    let pair_of = Arc::new(pair_of);
    let handles: Vec<_> = scheds
        .into_iter()
        .map(|sched| {
            let shared = Arc::clone(&shared);
            let pair_of = Arc::clone(&pair_of);
            std::thread::spawn(move || run_cpu(&shared, sched, &pair_of))
        })
        .collect();
    // The stall detector (see the module doc): per pair, its rounds and its
    // two CPUs' iterations when its rounds last changed.
    let cpus_of: Vec<[usize; 2]> = {
        let table = shared.table.lock().unwrap();
        pairs
            .iter()
            .map(|&(a, b)| [a, b].map(|t| usize::from(table.get(t).unwrap().cpu().0)))
            .collect()
    };
    let iterations = |cpu: usize| shared.iterations[cpu].load(Ordering::Relaxed);
    let mut seen: Vec<(u64, [u64; 2])> = cpus_of
        .iter()
        .map(|cpus| (0, cpus.map(iterations)))
        .collect();
    loop {
        assert!(
            !handles.iter().any(std::thread::JoinHandle::is_finished),
            "a CPU thread ended early"
        );
        let mut done = true;
        for (pair, (rounds_then, iterations_then)) in seen.iter_mut().enumerate() {
            let rounds = shared.rounds[pair].load(Ordering::Relaxed);
            let now = cpus_of[pair].map(iterations);
            if rounds != *rounds_then {
                *rounds_then = rounds;
                *iterations_then = now;
            } else if rounds < ROUNDS_PER_PAIR {
                assert!(
                    (0..2).any(|i| now[i] - iterations_then[i] < STALL_PICKS),
                    "pair {pair} stalled at {rounds} rounds while its CPUs {:?} ran \
                     {STALL_PICKS} iterations each (a lost wake-up)",
                    cpus_of[pair]
                );
            }
            done &= rounds >= ROUNDS_PER_PAIR;
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    shared.stop.store(true, Ordering::Release);
    let mut scheds: Vec<Scheduler> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    // Quiescent: deliver what is still in the inboxes, then account for
    // every thread exactly once.
    let table = shared.table.lock().unwrap();
    for sched in &mut scheds {
        let _ = sched.drain_inbox(&table, &shared.inboxes).unwrap();
    }
    for tid in table.thread_ids() {
        let thread = table.get(tid).unwrap();
        let places: Vec<u16> = scheds
            .iter()
            .filter(|s| s.current() == Some(tid) || s.is_queued(tid))
            .map(|s| s.cpu().0)
            .collect();
        match thread.state() {
            ThreadState::Ready => assert_eq!(places, vec![thread.cpu().0], "{tid:?}"),
            _ => assert!(places.is_empty(), "blocked {tid:?} found on {places:?}"),
        }
    }
    // Each pair keeps at least one member runnable (or owed a wake-up).
    for &(a, b) in &pairs {
        let runnable = |t: ThreadId| table.get(t).unwrap().state() == ThreadState::Ready;
        let owed = |t: ThreadId| shared.owed[t.0 as usize].load(Ordering::Relaxed) > 0;
        assert!(
            runnable(a) || runnable(b) || owed(a) || owed(b),
            "pair {a:?}/{b:?} both asleep"
        );
    }
}
