//! Inter-processor interrupts: the typed message a CPU sends ([`IpiMessage`])
//! and the TLB-shootdown protocol on core atomics ([`TlbShootdown`]).
//!
//! Shootdown protocol (one shootdown in flight at a time):
//! 1. The initiator takes the protocol ([`TlbShootdown::try_begin`] or
//!    [`TlbShootdown::begin`], which waits for the previous shootdown and
//!    serves requests aimed at its own CPU meanwhile, so two initiators never
//!    deadlock), publishes the request, bumps the generation, and sets one
//!    pending bit per target (`Release`). It flushes its own TLB itself and is
//!    never a target.
//! 2. The kernel sends [`IpiMessage::TlbShootdown`] to the targets.
//! 3. Each target, in its IPI handler, calls [`TlbShootdown::service`]: it sees
//!    its bit (`Acquire`), reads the request, flushes, then clears its bit
//!    (`Release`) — the acknowledgement.
//! 4. The initiator's [`TlbShootdown::wait`] spins until every bit is clear
//!    (`Acquire`: every target's flush happened before it returns), then
//!    releases the protocol for the next initiator.
//!
//! A target never reads a request after acknowledging it, and the next
//! initiator cannot publish until every acknowledgement is in, so a target
//! always reads the request that set its bit.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::cpuset::{CPU_SET_WORDS, CpuId, CpuSet};

/// What an IPI asks the receiving CPU to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiMessage {
    /// Look at the run queue / wake-up inbox: something became runnable.
    Wake,
    /// Serve the pending TLB shootdown ([`TlbShootdown::service`]).
    TlbShootdown,
    /// Reply with the same sequence number (liveness and latency checks).
    Ping {
        /// Sequence number to echo.
        seq: u32,
    },
    /// Stop: disable interrupts and halt (panic or shutdown).
    Stop,
}

/// A word that is not an encoded [`IpiMessage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpiDecodeError(pub u64);

const TAG_WAKE: u64 = 1;
const TAG_TLB_SHOOTDOWN: u64 = 2;
const TAG_PING: u64 = 3;
const TAG_STOP: u64 = 4;

impl IpiMessage {
    /// The message as one word for a per-CPU mailbox: the tag in bits 0-7, the
    /// payload in bits 32-63. Zero never encodes a message (an empty mailbox).
    #[must_use]
    pub const fn encode(self) -> u64 {
        match self {
            Self::Wake => TAG_WAKE,
            Self::TlbShootdown => TAG_TLB_SHOOTDOWN,
            Self::Ping { seq } => TAG_PING | ((seq as u64) << 32),
            Self::Stop => TAG_STOP,
        }
    }

    /// The message encoded in `word`.
    ///
    /// # Errors
    /// [`IpiDecodeError`] for an unknown tag or a payload where none belongs.
    pub const fn decode(word: u64) -> Result<Self, IpiDecodeError> {
        let (tag, payload) = (word & 0xffff_ffff, word >> 32);
        match (tag, payload) {
            (TAG_WAKE, 0) => Ok(Self::Wake),
            (TAG_TLB_SHOOTDOWN, 0) => Ok(Self::TlbShootdown),
            (TAG_PING, seq) => Ok(Self::Ping { seq: seq as u32 }),
            (TAG_STOP, 0) => Ok(Self::Stop),
            _ => Err(IpiDecodeError(word)),
        }
    }
}

/// What a target must flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushRequest {
    /// The address space (e.g. its PCID or root table address), opaque here.
    pub address_space: u64,
    /// First virtual address to flush.
    pub start: u64,
    /// One past the last virtual address to flush.
    pub end: u64,
}

/// Proof that the caller holds the shootdown protocol; pass it to
/// [`TlbShootdown::wait`].
#[must_use = "a shootdown must be waited for, or no other CPU can start one"]
#[derive(Debug)]
pub struct ShootdownTicket {
    generation: u64,
    targets: CpuSet,
}

impl ShootdownTicket {
    /// The shootdown's generation (1 for the first).
    #[must_use]
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    /// The CPUs that must acknowledge (the initiator excluded).
    #[must_use]
    pub const fn targets(&self) -> &CpuSet {
        &self.targets
    }
}

/// The shared state of the TLB-shootdown protocol; one per machine.
#[derive(Debug, Default)]
pub struct TlbShootdown {
    /// An initiator holds the protocol.
    busy: AtomicBool,
    /// Generation of the latest published shootdown.
    generation: AtomicU64,
    address_space: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
    /// One bit per target that has not acknowledged yet.
    pending: [AtomicU64; CPU_SET_WORDS],
}

impl TlbShootdown {
    /// Idle: no shootdown in flight.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            busy: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            address_space: AtomicU64::new(0),
            start: AtomicU64::new(0),
            end: AtomicU64::new(0),
            pending: [const { AtomicU64::new(0) }; CPU_SET_WORDS],
        }
    }

    /// Publishes `request` to `targets` (minus `initiator`) unless another
    /// shootdown is in flight (`None`).
    pub fn try_begin(
        &self,
        initiator: CpuId,
        request: FlushRequest,
        targets: &CpuSet,
    ) -> Option<ShootdownTicket> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let mut targets = *targets;
        targets.remove(initiator);
        // Only the holder writes these; the `Release` stores of the pending
        // bits below publish them to the targets.
        self.address_space
            .store(request.address_space, Ordering::Relaxed);
        self.start.store(request.start, Ordering::Relaxed);
        self.end.store(request.end, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        self.generation.store(generation, Ordering::Relaxed);
        for (pending, bits) in self.pending.iter().zip(targets.words()) {
            pending.store(bits, Ordering::Release);
        }
        Some(ShootdownTicket {
            generation,
            targets,
        })
    }

    /// Like [`TlbShootdown::try_begin`], but waits for the shootdown in
    /// flight, serving requests aimed at `initiator` meanwhile with
    /// `flush_own(request, generation)` (the other initiator may be waiting
    /// for exactly that acknowledgement) and calling `relax` between attempts
    /// (the kernel passes [`core::hint::spin_loop`]; host tests yield).
    pub fn begin(
        &self,
        initiator: CpuId,
        request: FlushRequest,
        targets: &CpuSet,
        mut flush_own: impl FnMut(FlushRequest, u64),
        mut relax: impl FnMut(),
    ) -> ShootdownTicket {
        loop {
            if let Some(ticket) = self.try_begin(initiator, request, targets) {
                return ticket;
            }
            self.service(initiator, &mut flush_own);
            relax();
        }
    }

    /// Whether every target of `ticket` has acknowledged.
    #[must_use]
    pub fn is_complete(&self, ticket: &ShootdownTicket) -> bool {
        let targets = ticket.targets.words();
        self.pending
            .iter()
            .zip(targets)
            .all(|(pending, bits)| pending.load(Ordering::Acquire) & bits == 0)
    }

    /// The targets that have not acknowledged yet (for diagnostics).
    #[must_use]
    pub fn pending_targets(&self) -> CpuSet {
        let mut words = [0; CPU_SET_WORDS];
        for (word, pending) in words.iter_mut().zip(&self.pending) {
            *word = pending.load(Ordering::Acquire);
        }
        CpuSet::from_words(words)
    }

    /// Waits until every target of `ticket` has acknowledged, calling `relax`
    /// between checks, then lets the next initiator in. When this returns,
    /// every target has flushed.
    pub fn wait(&self, ticket: ShootdownTicket, mut relax: impl FnMut()) {
        while !self.is_complete(&ticket) {
            relax();
        }
        self.busy.store(false, Ordering::Release);
    }

    /// Called by `cpu` on [`IpiMessage::TlbShootdown`] (or while waiting to
    /// begin): if a shootdown targets it, calls `flush(request, generation)`
    /// and then acknowledges. Returns whether it flushed.
    pub fn service(&self, cpu: CpuId, flush: impl FnOnce(FlushRequest, u64)) -> bool {
        if cpu.0 >= CpuSet::CAPACITY {
            return false;
        }
        let (word, bit) = ((cpu.0 / 64) as usize, 1u64 << (cpu.0 % 64));
        let pending = &self.pending[word];
        if pending.load(Ordering::Acquire) & bit == 0 {
            return false;
        }
        let request = FlushRequest {
            address_space: self.address_space.load(Ordering::Relaxed),
            start: self.start.load(Ordering::Relaxed),
            end: self.end.load(Ordering::Relaxed),
        };
        flush(request, self.generation.load(Ordering::Relaxed));
        pending.fetch_and(!bit, Ordering::Release);
        true
    }
}

#[cfg(test)]
#[path = "ipi_tests.rs"]
mod tests;
