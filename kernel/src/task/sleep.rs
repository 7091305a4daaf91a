//! Sleeping until a TSC deadline: each CPU keeps its sleepers
//! ([`PerCpu::sleepers`](crate::percpu::PerCpu::sleepers)) and wakes them
//! on its timer tick.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use sched::ThreadId;

use crate::percpu;

use super::*;

pub(super) fn deadline_flag(tid: ThreadId) -> Option<&'static core::sync::atomic::AtomicBool> {
    thread(tid).map(|t| &t.deadline_passed)
}

/// Queues `tid` (the current thread) to be woken at the first tick of this
/// CPU at or after `deadline`.
pub(super) fn add_sleeper(tid: ThreadId, deadline: u64) {
    let (Some(t), Some(cpu)) = (thread(tid), percpu::current()) else {
        return;
    };
    t.deadline_passed.store(false, Ordering::Relaxed);
    t.sleeper_cpu.store(cpu.index, Ordering::Relaxed);
    cpu.sleepers.lock().push((deadline, tid));
}

/// Takes `tid` off the sleeper list it was put on.
pub(super) fn remove_sleeper(tid: ThreadId) {
    if let Some(t) = thread(tid)
        && let Some(cpu) = percpu::of(t.sleeper_cpu.load(Ordering::Relaxed))
    {
        cpu.sleepers.lock().retain(|&(_, t)| t != tid);
    }
}

/// Blocks the current thread until the TSC passes `deadline` (checked on
/// every timer tick, so the resolution is one tick). It may return early
/// when something else wakes the thread (a kill, for one).
pub fn sleep_until(deadline: u64) {
    let Some(tid) = current() else { return };
    let Some(flag) = deadline_flag(tid) else {
        return;
    };
    let _ = block_current_unless_woken(sched::BlockedOn::Sleep, None, flag, Some(deadline));
}

/// Ends the sleep of `tid` as if its deadline had passed and makes it
/// runnable if it is blocked (its process was told to die: it leaves at the
/// end of its syscall). A thread blocked on a flag that is still clear
/// blocks again, so only waits that also read the deadline flag end.
pub fn interrupt(tid: ThreadId) {
    if let Some(flag) = deadline_flag(tid) {
        flag.store(true, Ordering::Release);
    }
    wake(tid);
}

/// Wakes every sleeper of this CPU whose deadline passed (called on each
/// timer tick).
pub(super) fn wake_sleepers(now: u64) {
    let Some(cpu) = percpu::current() else {
        return;
    };
    let due: Vec<ThreadId> = {
        let mut sleepers = cpu.sleepers.lock();
        if sleepers.is_empty() {
            return;
        }
        let due = sleepers
            .iter()
            .filter(|(d, _)| *d <= now)
            .map(|&(_, t)| t)
            .collect();
        sleepers.retain(|(d, _)| *d > now);
        due
    };
    for tid in due {
        // The flag first: a sleeper not blocked yet sees it and stays up.
        if let Some(flag) = deadline_flag(tid) {
            flag.store(true, Ordering::Release);
        }
        wake(tid);
    }
}
