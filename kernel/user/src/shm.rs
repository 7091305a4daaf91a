//! `rt::shm`: shared memory regions, asynchronous channels and large
//! messages from user space (the design's mechanisms 2 and 3; the kernel
//! side is `kernel/src/kipc/shm.rs`).
//!
//! - [`Region`]: `create` (frames from this CPU's node or a named one),
//!   `map` (the same frames, never a copy, with the capability's rights),
//!   `unmap`, `transfer` (ownership moves; every old mapping goes).
//! - [`Channel`]: a lock-free ring (`ipc::ring`) mapped into both ends.
//!   [`Sender::send_async`] never blocks (`WouldBlock` when full) and asks
//!   the kernel to wake the receiver only when the ring says it sleeps;
//!   [`Receiver::poll`], [`Receiver::recv_timeout`] and the batch calls
//!   enter the kernel only to sleep.
//! - [`send_large`] / [`recv_large`]: a `LargeMessage` over an endpoint with
//!   its region handed over (zero copy) and its checksum checked.

use ::ipc::abi::{Opcode, SyscallFlags};
use ::ipc::message::LargeMessage;
use ::ipc::ring::{
    MpscConsumer, MpscProducer, RingHeader, RingLayout, RingMessage, SleepDecision, Slot,
    SpscConsumer, SpscProducer, WakeHint,
};

use crate::ipc::{Endpoint, IpcError, Words, raw};

/// `region_map` flag: writable.
pub const MAP_WRITE: u64 = 1 << 0;
/// `region_map` flag: executable (never with [`MAP_WRITE`]).
pub const MAP_EXECUTE: u64 = 1 << 1;
/// Shift of the cache policy (`ipc::message::CachePolicy`) in the flags.
pub const MAP_CACHE_SHIFT: u64 = 8;
/// `region_map` flag: map as the large message that came with the region
/// says (its descriptor's permissions and cache policy), alone.
pub const MAP_AS_SENT: u64 = 1 << 2;

fn sys(op: Opcode, cap: u64, data: Words) -> Result<Words, IpcError> {
    raw(op, SyscallFlags::empty(), cap, data).map(|m| m.data)
}

/// A region capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region(pub u64);

/// A mapping of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First byte.
    pub base: *mut u8,
    /// Length in bytes (whole pages).
    pub size: u64,
}

impl Mapping {
    /// The mapping as a byte slice.
    ///
    /// # Safety
    /// The mapping must still be mapped (not unmapped, transferred or
    /// revoked) for as long as the slice is used, and writable if written.
    #[must_use]
    pub unsafe fn bytes(&self) -> &'static mut [u8] {
        // SAFETY: the caller keeps the mapping alive; it is `size` bytes.
        unsafe { core::slice::from_raw_parts_mut(self.base, self.size as usize) }
    }
}

impl Region {
    /// A region of at least `size` bytes on `node` (`None`: this CPU's);
    /// returns it, its size and node.
    ///
    /// # Errors
    /// `InvalidArgument` (size 0 or over 64 MiB, unknown node),
    /// `OutOfMemory`.
    pub fn create(size: u64, node: Option<u32>) -> Result<(Region, u64, u32), IpcError> {
        let node = node.map_or(0, |n| u64::from(n) + 1);
        let r = sys(Opcode::RegionCreate, 0, [size, node, 0, 0])?;
        Ok((Region(r[0]), r[1], r[2] as u32))
    }

    /// Maps it with `flags` ([`MAP_WRITE`], [`MAP_EXECUTE`], cache policy).
    ///
    /// # Errors
    /// `PermissionDenied` (rights), `InvalidArgument` (write with execute,
    /// write-combining), `InvalidCapability`, `OutOfMemory`.
    pub fn map(self, flags: u64) -> Result<Mapping, IpcError> {
        let r = sys(Opcode::RegionMap, self.0, [flags, 0, 0, 0])?;
        Ok(Mapping {
            base: r[0] as *mut u8,
            size: r[1],
        })
    }

    /// Unmaps the mapping at `base`.
    ///
    /// # Errors
    /// `BadAddress` if there is none, capability errors.
    pub fn unmap(self, mapping: Mapping) -> Result<(), IpcError> {
        sys(Opcode::RegionUnmap, self.0, [mapping.base as u64, 0, 0, 0]).map(|_| ())
    }

    /// Moves the region to process `pid` (the caller must own it); every
    /// mapping of it goes. Returns its capability in `pid`'s space.
    ///
    /// # Errors
    /// `PermissionDenied` (not the owner), `ProcessNotFound`, capability
    /// errors.
    pub fn transfer(self, pid: u32) -> Result<Region, IpcError> {
        sys(Opcode::RegionTransfer, self.0, [u64::from(pid), 0, 0, 0]).map(|r| Region(r[0]))
    }
}

/// Marks a large-message call (word 0 of the small message that follows
/// the hand-over).
pub const LARGE_TAG: u64 = 0x004c_4152_4745;

/// Sends `message` over `endpoint` with `region` (which `message`'s
/// descriptor must describe, as mapped by the caller): the kernel checks
/// the checksum and the endpoint capability's size limit, hands the region
/// to the endpoint's owner, and a call tells the receiver; returns the
/// reply's words. The caller's mapping is gone afterwards.
///
/// # Errors
/// `ChecksumMismatch`, `MessageTooLarge`, `BadAddress` (descriptor not the
/// caller's mapping), capability errors, and the call's errors.
pub fn send_large(
    endpoint: Endpoint,
    region: Region,
    message: &LargeMessage,
) -> Result<Words, IpcError> {
    let theirs = hand_over(endpoint, region, message)?;
    endpoint.send_recv([LARGE_TAG, theirs, message.header().total_size(), 0])
}

/// Hand-over half of [`send_large`] alone (for benchmarks): returns the
/// region's capability in the receiver's space.
///
/// # Errors
/// As [`send_large`], without the call.
pub fn hand_over(
    endpoint: Endpoint,
    region: Region,
    message: &LargeMessage,
) -> Result<u64, IpcError> {
    let bytes = message.to_bytes();
    sys(
        Opcode::RegionTransfer,
        region.0,
        [endpoint.0, bytes.as_ptr() as u64, 0, 0],
    )
    .map(|r| r[0])
}

/// The receiving side: for a message received with words `data` (see
/// [`LARGE_TAG`]), maps the region as its descriptor says and returns the verified
/// message (its descriptor rebased to the new mapping), the region and the
/// mapping.
///
/// # Errors
/// `InvalidArgument` for a message that is not a large one or came without
/// a message, `ChecksumMismatch` for a damaged one, mapping errors.
pub fn recv_large(data: Words) -> Result<(LargeMessage, Region, Mapping), IpcError> {
    if data[0] != LARGE_TAG {
        return Err(IpcError::InvalidArgument);
    }
    let region = Region(data[1]);
    let mut bytes = [0u8; LargeMessage::BYTES];
    let r = sys(
        Opcode::RegionMap,
        region.0,
        [MAP_AS_SENT, bytes.as_mut_ptr() as u64, 0, 0],
    )?;
    let mapping = Mapping {
        base: r[0] as *mut u8,
        size: r[1],
    };
    if r[2] != 1 {
        let _ = region.unmap(mapping);
        return Err(IpcError::InvalidArgument);
    }
    let message = LargeMessage::from_bytes(&bytes);
    message.verify()?;
    Ok((message, region, mapping))
}

/// A channel capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel(pub u64);

/// Ring flavours for [`Channel::create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// One producer.
    Spsc = 1,
    /// Many producers.
    Mpsc = 2,
}

/// A channel's ring, mapped.
#[derive(Clone, Copy, Debug)]
pub struct Connection {
    cap: Channel,
    header: &'static RingHeader,
    slots: &'static [Slot],
    flavor: Flavor,
}

impl Channel {
    /// A channel of `capacity` slots (a power of two); the caller holds
    /// every right and grants send or receive rights to others.
    ///
    /// # Errors
    /// `InvalidArgument`, `OutOfMemory`.
    pub fn create(capacity: u32, flavor: Flavor) -> Result<Channel, IpcError> {
        sys(
            Opcode::ChannelCreate,
            0,
            [u64::from(capacity), flavor as u64, 0, 0],
        )
        .map(|r| Channel(r[0]))
    }

    /// Maps the ring into this process.
    ///
    /// # Errors
    /// `PermissionDenied` without send or receive right, capability errors.
    pub fn connect(self) -> Result<Connection, IpcError> {
        let r = sys(Opcode::ChannelConnect, self.0, [0; 4])?;
        let layout =
            RingLayout::for_capacity(r[1] as usize).map_err(|_| IpcError::InvalidArgument)?;
        if (layout.total_bytes() as u64) > r[3] || r[0] == 0 {
            return Err(IpcError::InvalidArgument);
        }
        let flavor = if r[2] == 2 {
            Flavor::Mpsc
        } else {
            Flavor::Spsc
        };
        let base = r[0] as *const u8;
        // SAFETY: the kernel mapped `r[3]` bytes at `base` (page-aligned) for
        // as long as the channel capability lives, which is the life of this
        // program in practice; the layout fits inside. Every word is atomic,
        // so a misbehaving peer cannot cause undefined behaviour here.
        let (header, slots) = unsafe {
            (
                &*base.cast::<RingHeader>(),
                core::slice::from_raw_parts(
                    base.add(RingLayout::SLOTS_OFFSET).cast::<Slot>(),
                    layout.capacity() as usize,
                ),
            )
        };
        Ok(Connection {
            cap: self,
            header,
            slots,
            flavor,
        })
    }

    /// Wakes the receiver (after publishing `bytes`).
    ///
    /// # Errors
    /// `RateLimitExceeded`, capability errors.
    pub fn signal(self, bytes: u64) -> Result<(), IpcError> {
        sys(Opcode::NotifySignal, self.0, [bytes, 0, 0, 0]).map(|_| ())
    }

    /// Waits for a signal until the TSC reaches `deadline` (`None`: for ever).
    ///
    /// # Errors
    /// `Timeout`, `ProcessNotFound` (every peer left), capability errors.
    pub fn wait(self, deadline: Option<u64>) -> Result<(), IpcError> {
        match deadline {
            Some(d) => raw(
                Opcode::NotifyWait,
                SyscallFlags::TIMEOUT,
                self.0,
                [d, 0, 0, 0],
            ),
            None => raw(Opcode::NotifyWait, SyscallFlags::empty(), self.0, [0; 4]),
        }
        .map(|_| ())
    }
}

enum Producer {
    Single(SpscProducer<'static>),
    Multi(MpscProducer<'static>),
}

/// The sending end of a channel.
pub struct Sender {
    cap: Channel,
    ring: Producer,
    /// Notifications sent (receiver was asleep).
    pub wakes: u64,
}

const MESSAGE_BYTES: u64 = core::mem::size_of::<RingMessage>() as u64;

impl Sender {
    /// Attaches to a connected ring.
    ///
    /// # Errors
    /// `InvalidArgument` for an unformatted or foreign ring.
    pub fn new(connection: Connection) -> Result<Sender, IpcError> {
        let bad = |_| IpcError::InvalidArgument;
        let ring = match connection.flavor {
            Flavor::Spsc => Producer::Single(
                SpscProducer::new(connection.header, connection.slots).map_err(bad)?,
            ),
            Flavor::Mpsc => Producer::Multi(
                MpscProducer::new(connection.header, connection.slots).map_err(bad)?,
            ),
        };
        Ok(Sender {
            cap: connection.cap,
            ring,
            wakes: 0,
        })
    }

    fn wake(&mut self, hint: WakeHint, messages: u64) -> Result<(), IpcError> {
        if hint == WakeHint::NeedsWake {
            self.wakes += 1;
            self.cap.signal(messages * MESSAGE_BYTES)?;
        }
        Ok(())
    }

    /// Sends without blocking.
    ///
    /// # Errors
    /// `WouldBlock` when the ring is full; the signal's errors.
    #[inline]
    pub fn send_async(&mut self, message: RingMessage) -> Result<(), IpcError> {
        let hint = match &mut self.ring {
            Producer::Single(p) => p.try_send(message),
            Producer::Multi(p) => p.try_send(message),
        }
        .map_err(|_| IpcError::WouldBlock)?;
        self.wake(hint, 1)
    }

    /// Sends a prefix of `messages` (as many as fit); returns how many.
    ///
    /// # Errors
    /// `WouldBlock` when none fit; the signal's errors.
    pub fn send_batch(&mut self, messages: &[RingMessage]) -> Result<usize, IpcError> {
        let outcome = match &mut self.ring {
            Producer::Single(p) => p.send_batch(messages),
            Producer::Multi(p) => p.send_batch(messages),
        };
        if outcome.sent == 0 && !messages.is_empty() {
            return Err(IpcError::WouldBlock);
        }
        self.wake(outcome.wake, outcome.sent as u64)?;
        Ok(outcome.sent)
    }
}

enum Consumer {
    Single(SpscConsumer<'static>),
    Multi(MpscConsumer<'static>),
}

/// The receiving end of a channel.
pub struct Receiver {
    cap: Channel,
    ring: Consumer,
    /// Times it slept in the kernel.
    pub sleeps: u64,
}

impl Receiver {
    /// Attaches to a connected ring (one receiver per channel).
    ///
    /// # Errors
    /// `InvalidArgument` for an unformatted or foreign ring.
    pub fn new(connection: Connection) -> Result<Receiver, IpcError> {
        let bad = |_| IpcError::InvalidArgument;
        let ring = match connection.flavor {
            Flavor::Spsc => Consumer::Single(
                SpscConsumer::new(connection.header, connection.slots).map_err(bad)?,
            ),
            Flavor::Mpsc => Consumer::Multi(
                MpscConsumer::new(connection.header, connection.slots).map_err(bad)?,
            ),
        };
        Ok(Receiver {
            cap: connection.cap,
            ring,
            sleeps: 0,
        })
    }

    /// A message if one is there (`Ok(None)` when the ring is empty).
    ///
    /// # Errors
    /// None today; the signature mirrors the design's `poll`.
    #[inline]
    pub fn poll(&mut self) -> Result<Option<RingMessage>, IpcError> {
        Ok(match &mut self.ring {
            Consumer::Single(c) => c.try_recv(),
            Consumer::Multi(c) => c.try_recv(),
        })
    }

    /// Up to `buffer.len()` messages, without waiting; returns how many.
    pub fn recv_batch(&mut self, buffer: &mut [RingMessage]) -> usize {
        match &mut self.ring {
            Consumer::Single(c) => c.recv_batch(buffer),
            Consumer::Multi(c) => c.recv_batch(buffer),
        }
    }

    /// Waits until a message may be there (the ring's sleep protocol), or
    /// the TSC reaches `deadline`.
    ///
    /// # Errors
    /// `Timeout`, `ProcessNotFound` (every sender left), capability errors.
    pub fn wait(&mut self, deadline: Option<u64>) -> Result<(), IpcError> {
        let decision = match &mut self.ring {
            Consumer::Single(c) => c.prepare_to_sleep(),
            Consumer::Multi(c) => c.prepare_to_sleep(),
        };
        if decision == SleepDecision::MessagesPending {
            return Ok(());
        }
        self.sleeps += 1;
        let result = self.cap.wait(deadline);
        if result.is_err() {
            match &mut self.ring {
                Consumer::Single(c) => c.cancel_sleep(),
                Consumer::Multi(c) => c.cancel_sleep(),
            }
        }
        result
    }

    /// The next message, waiting until the TSC reaches `deadline`.
    ///
    /// # Errors
    /// `Timeout`, `ProcessNotFound` (every sender left), capability errors.
    pub fn recv_timeout(&mut self, deadline: Option<u64>) -> Result<RingMessage, IpcError> {
        loop {
            if let Some(message) = self.poll()? {
                return Ok(message);
            }
            self.wait(deadline)?;
        }
    }

    /// At least one message (up to `buffer.len()`), waiting as
    /// [`Self::recv_timeout`] does; returns how many.
    ///
    /// # Errors
    /// As [`Self::recv_timeout`].
    pub fn recv_batch_timeout(
        &mut self,
        buffer: &mut [RingMessage],
        deadline: Option<u64>,
    ) -> Result<usize, IpcError> {
        loop {
            let n = self.recv_batch(buffer);
            if n > 0 {
                return Ok(n);
            }
            self.wait(deadline)?;
        }
    }
}
