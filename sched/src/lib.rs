//! sched: placeholder, filled in by its issue.
#![cfg_attr(not(test), no_std)]
