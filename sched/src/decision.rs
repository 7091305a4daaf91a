//! The scheduling decision every kernel entry returns.

use crate::thread::ThreadId;

/// What the CPU should do when it leaves the kernel. Modelled on Hubris's
/// `NextTask`: handlers cannot drop it by accident, and [`Decision::combine`]
/// merges the hints of several steps of one kernel entry.
#[must_use = "a scheduling decision must reach the context-switch code"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep running the current thread.
    Stay,
    /// The ready set changed: let the scheduler pick (`Scheduler::pick_next`).
    Reschedule,
    /// Switch directly to this thread (e.g. the server a call was delivered
    /// to), skipping the queue scan. `Scheduler::apply` falls back to a full
    /// pick if the hint would run a less urgent thread than one that is queued.
    SwitchTo(ThreadId),
}

impl Decision {
    /// Merges two hints, whatever their order:
    /// equal hints stay; two different direct switches degrade to
    /// `Reschedule`; otherwise a direct switch wins (it is the most specific,
    /// and `Scheduler::apply` still checks priorities); otherwise any
    /// `Reschedule` wins over `Stay`.
    pub fn combine(self, other: Decision) -> Decision {
        use Decision::{Reschedule, Stay, SwitchTo};
        match (self, other) {
            (x, y) if x == y => x,
            (SwitchTo(_), SwitchTo(_)) => Reschedule,
            (SwitchTo(target), _) | (_, SwitchTo(target)) => SwitchTo(target),
            (Reschedule, _) | (_, Reschedule) => Reschedule,
            (Stay, Stay) => Stay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Decision::{self, Reschedule, Stay, SwitchTo};
    use crate::thread::ThreadId;

    #[test]
    fn combine_table_is_symmetric_and_prefers_specific() {
        let a = SwitchTo(ThreadId(1));
        let b = SwitchTo(ThreadId(2));
        let cases: [(Decision, Decision, Decision); 9] = [
            (Stay, Stay, Stay),
            (Stay, Reschedule, Reschedule),
            (Reschedule, Reschedule, Reschedule),
            (Stay, a, a),
            (Reschedule, a, a),
            (a, a, a),
            (a, b, Reschedule),
            (b, Stay, b),
            (Reschedule, Stay, Reschedule),
        ];
        for (x, y, expected) in cases {
            assert_eq!(x.combine(y), expected, "{x:?} + {y:?}");
            assert_eq!(y.combine(x), expected, "{y:?} + {x:?}");
        }
    }
}
