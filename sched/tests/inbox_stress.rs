//! Many CPUs (std threads) post wake-ups to one inbox while its owner drains:
//! 100,000 wake-ups through a 64-entry queue, each delivered exactly once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use sched::{Inbox, ThreadId};

const PRODUCERS: u32 = 4;
const WAKE_UPS: u32 = 100_000;

#[test]
fn concurrent_posts_are_all_delivered_exactly_once() {
    let inbox = Arc::new(Inbox::new(64, WAKE_UPS as usize).unwrap());
    let producers_done = Arc::new(AtomicBool::new(false));
    let overflows = Arc::new(AtomicUsize::new(0));
    let ipis = Arc::new(AtomicUsize::new(0));
    // Producers start once the consumer runs, so posts and drains overlap.
    let start = Arc::new(Barrier::new(PRODUCERS as usize + 1));

    let consumer = {
        let inbox = Arc::clone(&inbox);
        let done = Arc::clone(&producers_done);
        let start = Arc::clone(&start);
        thread::spawn(move || {
            start.wait();
            let mut seen = vec![0u8; WAKE_UPS as usize];
            let mut deliver = |tid: ThreadId| seen[tid.0 as usize] += 1;
            while !done.load(Ordering::Acquire) {
                if inbox.drain(&mut deliver) == 0 {
                    std::hint::spin_loop();
                }
            }
            inbox.drain(&mut deliver); // everything posted before `done`
            seen
        })
    };
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let inbox = Arc::clone(&inbox);
            let overflows = Arc::clone(&overflows);
            let ipis = Arc::clone(&ipis);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                // Each producer wakes a disjoint, interleaved set of threads.
                for id in (p..WAKE_UPS).step_by(PRODUCERS as usize) {
                    let posted = inbox.post(ThreadId(id)).unwrap();
                    overflows.fetch_add(usize::from(posted.overflowed), Ordering::Relaxed);
                    ipis.fetch_add(usize::from(posted.send_ipi), Ordering::Relaxed);
                    if id % 256 < PRODUCERS {
                        thread::yield_now(); // let the consumer in on 2 cores
                    }
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    producers_done.store(true, Ordering::Release);
    let seen = consumer.join().unwrap();

    let delivered: usize = seen.iter().map(|&n| usize::from(n)).sum();
    assert_eq!(delivered, WAKE_UPS as usize, "wake-ups delivered");
    assert!(seen.iter().all(|&n| n == 1), "each wake-up exactly once");
    assert!(ipis.load(Ordering::Relaxed) >= 1);
    // Informational: how often the overflow path carried a wake-up.
    eprintln!(
        "overflowed posts: {}, IPIs requested: {}",
        overflows.load(Ordering::Relaxed),
        ipis.load(Ordering::Relaxed)
    );
}
