//! `fuzz`: issues seeded random system calls at the kernel.
//!
//! `arg` = seed << 40 | calls. Every opcode is drawn, the defined ones more
//! often than the undefined ones, with capability words from the tokens
//! this process made (live, revoked and derived), forged and stale tokens,
//! and data words from a table of interesting values: 0, -1, kernel,
//! non-canonical, unmapped, unaligned and page-straddling addresses, huge
//! lengths. Sequences build objects (endpoints, regions, channels), derive,
//! map and revoke them, and tear everything down every `TEARDOWN` calls.
//!
//! The generator is deterministic in the seed, so a run that finds
//! something is reproduced by its seed and call count. What this process
//! cannot do to itself without ending the run is left out or bounded: it
//! never exits early, never kills or grants to processes it did not spawn
//! (those calls take raw pids, which would reach processes outside the
//! run), never blocks without a deadline, sleeps at most 100 µs, spawns
//! only short-lived workers and writes no console output of its own
//! through `debug_write`. Exit code 0: every call returned; 1: a forged or
//! revoked capability was accepted (the calls before it are printed).
#![no_std]
#![no_main]

use ipc::abi::Opcode;
use ipc::cap::CapToken;
use rt::println;

rt::entry!(main);

/// Calls between two teardowns of everything this process made.
const TEARDOWN: u64 = 256;
/// The last calls kept for the report of a failure.
const HISTORY: usize = 8;
/// Flag bits in the high half of `rsi`.
const NONBLOCK: u64 = 1 << 32;
const TIMEOUT: u64 = 1 << 33;

/// xorshift64*: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One call, for the report.
#[derive(Clone, Copy, Debug, Default)]
struct Call {
    index: u64,
    rsi: u64,
    cap: u64,
    data: [u64; 4],
    status: u64,
}

struct Fuzzer {
    rng: Rng,
    /// Tokens this process was handed by successful calls (some revoked
    /// since: stale tokens are part of the point).
    tokens: [u64; 64],
    /// Tokens revoked at the last teardown: none may work again.
    revoked: [u64; 64],
    /// Addresses of this process's mappings.
    mappings: [u64; 16],
    /// Children spawned and not yet waited for.
    children: [u32; 8],
    history: [Call; HISTORY],
    calls: u64,
    seed: u64,
    /// A buffer the kernel may write to (valid pointer case).
    buffer: [u8; 128],
}

impl Fuzzer {
    fn remember(list: &mut [u64], rng: &mut Rng, value: u64) {
        let at = rng.below(list.len() as u64) as usize;
        list[at] = value;
    }

    /// A data word: an interesting value, a token, a mapping, or noise.
    fn word(&mut self) -> u64 {
        let stack = self.buffer.as_ptr() as u64;
        match self.rng.below(16) {
            0 => 0,
            1 => u64::MAX,
            2 => 0xffff_8000_0000_0000,   // kernel half
            3 => 0xffff_ffff_8010_0000,   // kernel image
            4 => 0x0000_8000_0000_0000,   // first non-canonical
            5 => 0x5000_0000,             // unmapped user
            6 => stack + 1,               // unaligned, valid
            7 => (stack | 0xfff) - 3,     // straddles a page
            8 => 1 << self.rng.below(64), // huge lengths, bits
            9 => self.rng.below(4096),    // small numbers
            10 => self.rng.pick(&self.tokens),
            11 => self.rng.pick(&self.revoked),
            12 => self.rng.pick(&self.mappings),
            13 => stack, // valid buffer
            14 => u64::from(rt::self_pid()) + self.rng.below(3),
            _ => self.rng.next(),
        }
    }

    /// A capability word: mostly tokens this process holds or held, some
    /// forged (their generation or slot out of range).
    fn capability(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => CapToken::new(self.rng.below(2048) as u32, self.rng.next() as u32).0,
            1 => self.rng.next(),
            2 => 0,
            3 => self.rng.pick(&self.revoked),
            _ => self.rng.pick(&self.tokens),
        }
    }

    /// The next call's opcode word, capability and data, made safe for the
    /// run to go on (see the module doc).
    fn next_call(&mut self) -> (u64, u64, [u64; 4]) {
        let opcode = loop {
            let opcode = if self.rng.below(32) == 0 {
                self.rng.next() & 0xffff_ffff
            } else {
                self.rng.pick(&Opcode::ALL) as u64
            };
            // `exit` would end the run; `audit_dump` only floods the console.
            if opcode != Opcode::Exit as u64 && opcode != Opcode::AuditDump as u64 {
                break opcode;
            }
        };
        let mut flags = match self.rng.below(8) {
            0 => self.rng.next() & 0xffff_ffff_0000_0000,
            1 => NONBLOCK,
            2 => TIMEOUT,
            _ => 0,
        };
        let cap = self.capability();
        let mut data = [self.word(), self.word(), self.word(), self.word()];
        let now = rt::arch::rdtsc();
        match opcode {
            x if x == Opcode::Recv as u64
                || x == Opcode::ReplyRecv as u64
                || x == Opcode::NotifyWait as u64 =>
            {
                // Never wait longer than a few microseconds.
                flags = TIMEOUT;
                data[0] = now + self.rng.below(20_000);
            }
            x if x == Opcode::Sleep as u64 => data[0] %= 100_000,
            x if x == Opcode::DebugWrite as u64 => {
                // Bad buffers only, or nothing: no console noise.
                data[0] = self.rng.pick(&[0, 0xffff_8000_0000_0000, 0x5000_0000]);
                data[1] = self.rng.pick(&[0, 8, 1 << 40]);
            }
            x if x == Opcode::Spawn as u64 => {
                // A worker that exits at once (mode 0) or makes a few
                // syscalls (8), from a valid name; or a bad name.
                let name = b"worker";
                if self.rng.below(2) == 0 {
                    data[0] = name.as_ptr() as u64;
                    data[1] = name.len() as u64;
                    data[2] = self.rng.pick(&[0, 8]);
                    data[3] &= 0x00ff_ffff;
                    if data[3] & 0xffff != 0xffff {
                        data[3] &= !0xffff; // this CPU or a bad one below
                        data[3] |= self.rng.pick(&[0u64, 1, 2, 3, 200]);
                    }
                }
            }
            x if x == Opcode::Kill as u64 || x == Opcode::Wait as u64 => {
                // Own children or pids that name nobody.
                data[0] = match self.rng.below(3) {
                    0 => u64::from(self.rng.pick(&self.children)),
                    1 => u64::from(u32::MAX - self.rng.below(16) as u32),
                    _ => 0,
                };
                if x == Opcode::Wait as u64 && data[0] != 0 && data[0] < u64::from(u32::MAX - 16) {
                    // Waiting is only for children that end by themselves.
                    if let Some(c) = self.children.iter_mut().find(|c| u64::from(**c) == data[0]) {
                        *c = 0;
                    }
                }
            }
            x if x == Opcode::CapGrant as u64 => {
                // To itself (a derive) or to nobody.
                data[0] = self
                    .rng
                    .pick(&[u64::from(rt::self_pid()), u64::from(u32::MAX), 0]);
            }
            x if x == Opcode::RegionCreate as u64 => {
                // Bounded memory: at most 64 KiB, or sizes the kernel refuses.
                data[0] = match self.rng.below(4) {
                    0 => self.rng.pick(&[0, u64::MAX, 1 << 40, (64 << 20) + 1]),
                    _ => 1 + self.rng.below(64 << 10),
                };
            }
            x if x == Opcode::ChannelCreate as u64 => {
                data[0] = self.rng.pick(&[0, 1, 3, 2, 64, 1 << 20, u64::MAX]);
            }
            // To itself or to nobody (else a large message through a token).
            x if x == Opcode::RegionTransfer as u64 && self.rng.below(2) == 0 => {
                data[0] = self
                    .rng
                    .pick(&[u64::from(rt::self_pid()), u64::from(u32::MAX)]);
            }
            x if x == Opcode::Call as u64 || x == Opcode::Send as u64 => {
                // Only this process's endpoints exist for it: a call to one
                // fails (nobody else can receive) rather than blocking.
            }
            _ => {}
        }
        (opcode | flags, cap, data)
    }

    /// Revokes every token and kills and waits for every child.
    fn teardown(&mut self) {
        for i in 0..self.tokens.len() {
            let _ = rt::raw(Opcode::CapRevoke as u64, self.tokens[i], [0; 4]);
        }
        self.revoked = core::mem::replace(&mut self.tokens, [0; 64]);
        for i in 0..self.children.len() {
            let child = core::mem::take(&mut self.children[i]);
            if child != 0 {
                let _ = rt::kill(child);
                let _ = rt::wait(child);
            }
        }
    }

    fn run(&mut self, calls: u64) -> u64 {
        let me = rt::self_pid();
        while self.calls < calls {
            let (rsi, cap, data) = self.next_call();
            let opcode = rsi & 0xffff_ffff;
            // A capability it may hold: one of its tokens, or a word that
            // matches none it was ever given since the last teardown.
            let dead = cap != 0 && self.revoked.contains(&cap) && !self.tokens.contains(&cap);
            let r = rt::raw(rsi, cap, data);
            self.history[(self.calls % HISTORY as u64) as usize] = Call {
                index: self.calls,
                rsi,
                cap,
                data,
                status: r.status,
            };
            self.calls += 1;
            if r.status == 0 {
                let checked = matches!(opcode, x if x == Opcode::CapInfo as u64
                    || x == Opcode::CapRevoke as u64
                    || x == Opcode::CapDerive as u64);
                if dead && checked {
                    println!(
                        "fuzz: seed {}: a revoked capability ({cap:#x}) was accepted",
                        self.seed
                    );
                    self.report();
                    return 1;
                }
                self.learn(opcode, &r.data, me);
            }
            if self.calls.is_multiple_of(TEARDOWN) {
                self.teardown();
            }
            if self.calls.is_multiple_of(100_000) {
                println!("fuzz: {} calls", self.calls);
            }
        }
        self.teardown();
        0
    }

    /// Keeps what a successful call handed out.
    fn learn(&mut self, opcode: u64, data: &[u64; 4], me: u32) {
        let rng = &mut self.rng;
        match opcode {
            x if x == Opcode::EndpointCreate as u64 => {
                Self::remember(&mut self.tokens, rng, data[0]);
                Self::remember(&mut self.tokens, rng, data[1]);
            }
            x if x == Opcode::CapDerive as u64
                || x == Opcode::ChannelCreate as u64
                || x == Opcode::RegionCreate as u64 =>
            {
                Self::remember(&mut self.tokens, rng, data[0]);
            }
            x if x == Opcode::CapGrant as u64
                || (x == Opcode::RegionTransfer as u64 && data[1] == u64::from(me)) =>
            {
                Self::remember(&mut self.tokens, rng, data[0]);
            }
            x if x == Opcode::RegionMap as u64 || x == Opcode::ChannelConnect as u64 => {
                Self::remember(&mut self.mappings, rng, data[0]);
            }
            x if x == Opcode::Spawn as u64 => {
                let at = rng.below(self.children.len() as u64) as usize;
                let old = core::mem::replace(&mut self.children[at], data[0] as u32);
                if old != 0 {
                    let _ = rt::kill(old);
                    let _ = rt::wait(old);
                }
            }
            _ => {}
        }
    }

    fn report(&self) {
        for c in &self.history {
            println!(
                "fuzz: call {}: rsi {:#x} rdi {:#x} data {:x?} -> status {}",
                c.index, c.rsi, c.cap, c.data, c.status
            );
        }
    }
}

fn main(arg: u64) -> u64 {
    let seed = arg >> 40;
    let calls = arg & ((1 << 40) - 1);
    let mut fuzzer = Fuzzer {
        // xorshift needs a nonzero state.
        rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        tokens: [0; 64],
        revoked: [0; 64],
        seed,
        mappings: [0; 16],
        children: [0; 8],
        history: [Call::default(); HISTORY],
        calls: 0,
        buffer: [0; 128],
    };
    let code = fuzzer.run(calls);
    println!("fuzz: seed {seed}: {} calls done", fuzzer.calls);
    code
}
