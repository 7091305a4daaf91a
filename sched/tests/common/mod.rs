//! Helpers shared by the integration tests: building tables, threads and a
//! from-scratch model of priority inheritance.

#![allow(dead_code)] // each test binary uses a different subset

use sched::{
    BlockedOn, CpuId, CpuSet, Inboxes, PiConfig, Priority, TableLimits, ThreadId, ThreadParams,
    ThreadState, ThreadTable,
};

pub fn table(threads: usize, cpus: usize, pi: PiConfig) -> ThreadTable {
    ThreadTable::new(
        TableLimits {
            threads,
            mutexes: 8,
            cpus,
        },
        pi,
    )
    .expect("valid limits")
}

pub fn inboxes(table: &ThreadTable, queue_capacity: usize) -> Inboxes {
    Inboxes::new(table.cpu_count(), queue_capacity, table.capacity()).expect("valid sizes")
}

pub fn spawn(table: &mut ThreadTable, priority: u8, cpu: u16) -> ThreadId {
    table
        .spawn(ThreadParams {
            priority: Priority(priority),
            affinity: CpuSet::ALL,
            cpu: CpuId(cpu),
        })
        .expect("free slot")
}

pub fn effective(table: &ThreadTable, tid: ThreadId) -> u8 {
    table.get(tid).expect("live thread").effective_priority().0
}

/// Effective priorities recomputed from scratch from the public view of the
/// table (states and mutex owners): `max(base, effective of every donor)`.
pub fn expected_effective(table: &ThreadTable) -> Vec<(ThreadId, u8)> {
    let ids: Vec<ThreadId> = table.thread_ids().collect();
    let donee = |tid: ThreadId| -> Option<ThreadId> {
        match table.get(tid).ok()?.state() {
            ThreadState::Blocked(BlockedOn::Reply(server)) => Some(server),
            ThreadState::Blocked(BlockedOn::Mutex(m)) => table.mutex_owner(m).ok()?,
            _ => None,
        }
    };
    fn eff(
        tid: ThreadId,
        ids: &[ThreadId],
        table: &ThreadTable,
        donee: &dyn Fn(ThreadId) -> Option<ThreadId>,
        depth: usize,
    ) -> u8 {
        assert!(depth <= ids.len(), "cycle in the wait graph");
        let thread = table.get(tid).expect("live");
        if thread.state() == ThreadState::Dead || !table.priority_inheritance() {
            return thread.base_priority().0;
        }
        ids.iter()
            .filter(|&&d| donee(d) == Some(tid))
            .map(|&d| eff(d, ids, table, donee, depth + 1))
            .fold(thread.base_priority().0, u8::max)
    }
    ids.iter()
        .map(|&tid| (tid, eff(tid, &ids, table, &donee, 0)))
        .collect()
}

pub fn actual_effective(table: &ThreadTable) -> Vec<(ThreadId, u8)> {
    table
        .thread_ids()
        .map(|tid| (tid, effective(table, tid)))
        .collect()
}
