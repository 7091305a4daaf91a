//! `ipc`: Veridian's capability-checked IPC, as pure logic.
//!
//! This crate owns everything about IPC that does not touch hardware: message
//! formats, the syscall ABI shared by the kernel and user programs, the
//! capability registry and per-process capability spaces, rate limits, the
//! audit ring, the synchronous endpoint state machine with its fast path, and
//! per-endpoint metrics. The kernel wires it to registers, page tables and the
//! scheduler; user programs use the ABI and message types.
//!
//! Design principles (VeridianOS IPC Design Document v1.3):
//! - **Capability-first.** Every operation names a [`cap::CapToken`]; a token is
//!   checked in O(1) (one bounds check and one array index per level) and revoked
//!   by bumping a generation, never by searching.
//! - **Decisions, not side effects.** State machines return what the kernel must
//!   do ([`endpoint::Action`]) instead of doing it, so they are tested on the host.
//! - **Fast path = guards, then commit.** [`endpoint::IpcState::fast_call`]
//!   runs guards that mutate nothing, then the kernel's own check, and only
//!   past that point of no return commits (in the same pass, over the records
//!   the guards found); a property test pins it to the slow path's behaviour
//!   and a refusal to no change at all.
//! - **No panics on input.** Bad input is an [`error::IpcError`] with a stable
//!   status code.
//!
//! `no_std` with `alloc`; no `unsafe`, no `asm`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
pub mod audit;
pub mod cap;
pub mod endpoint;
pub mod error;
pub mod message;
pub mod metrics;
pub mod ring;

pub use error::IpcError;
