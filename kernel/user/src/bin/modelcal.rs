//! `modelcal`: calibration programs for the performance model (issue 19),
//! access patterns whose model counts are known in advance, each printed as
//! a `@bench` record with its window and operations marked
//! (`rt::marker`). Run with `bench=model.calib` (never in `quick`/`full`)
//! and `--model`:
//! - 1 `model.calib.l1`: one operation reads one word of each 64-byte line
//!   of a 16 KiB buffer (256 loads): after warm-up, no L1D miss;
//! - 2 `model.calib.stride`: one operation reads one word, 64 bytes after
//!   the previous, through a 64 MiB region: every access misses L1D, L2 and
//!   the LLC;
//! - 3 `model.calib.pingpong`: a line of a shared region passed between
//!   this process on CPU 0 and a partner on CPU 1 (each writes the next
//!   number when it sees its turn): one operation = two hops, each at
//!   least one coherence transfer;
//! - 4 `model.calib.same_cpu`: the same with the partner on this CPU (both
//!   yield while waiting): no coherence transfer.
//!
//! `arg & 0xff` selects the program (`| 0x10`: the partner), `arg >> 8`
//! the samples (bit 63: the TSC counts instructions).
#![no_std]
#![no_main]

use perf::histogram::Histogram;
use perf::marker::bench_id;
use perf::record::Unit;
use rt::ipc::{Rights, initial_cap};
use rt::marker::{op_begin, op_end, window_begin, window_end};
use rt::shm::{MAP_WRITE, Region};
use rt::{Placement, println};

rt::entry!(main);

const L1: u64 = 1;
const STRIDE: u64 = 2;
const PINGPONG: u64 = 3;
const SAME_CPU: u64 = 4;
const PARTNER: u64 = 0x10;
const ICOUNT: u64 = 1 << 63;
/// The ping-pong word the partner stops at.
const QUIT: u64 = u64::MAX;

/// The histogram (221 KB: not on the stack); one user per process.
static mut HIST: Histogram = Histogram::new();

/// The 16 KiB buffer of `model.calib.l1`.
static mut BUF: [u64; 2048] = [0; 2048];

fn main(arg: u64) -> u64 {
    let samples = match (arg & !ICOUNT) >> 8 {
        0 => 2_000,
        n => n,
    };
    let unit = if arg & ICOUNT != 0 {
        Unit::Instructions
    } else {
        Unit::Cycles
    };
    match arg & 0xff {
        L1 => l1(samples, unit),
        STRIDE => stride(unit),
        PINGPONG | SAME_CPU => pingpong(arg & 0xff, samples.min(500), unit),
        m if m & PARTNER != 0 => partner(m & 0x0f),
        m => {
            println!("modelcal: unknown mode {m}");
            1
        }
    }
}

fn hist() -> &'static mut Histogram {
    // SAFETY: each process of this program is single-threaded and takes
    // the histogram once.
    unsafe { &mut *core::ptr::addr_of_mut!(HIST) }
}

fn report(name: &str, unit: Unit, hist: &Histogram, start: u64) {
    let (end, hz, _) = rt::time();
    rt::bench::report_latency(
        name,
        unit,
        hist,
        (start, end, hz),
        &rt::bench::Counts::default(),
    );
}

/// One read of each line of the 16 KiB buffer.
#[inline(always)]
fn pass(buf: *const u64) -> u64 {
    let mut sum = 0u64;
    for line in 0..256 {
        // SAFETY: `line * 8` < 2048 words: inside the buffer.
        sum = sum.wrapping_add(unsafe { buf.add(line * 8).read_volatile() });
    }
    sum
}

fn l1(samples: u64, unit: Unit) -> u64 {
    const ID: u32 = bench_id("model.calib.l1");
    let buf = core::ptr::addr_of!(BUF).cast::<u64>();
    let hist = hist();
    let mut sink = pass(buf);
    let (start, _, _) = rt::time();
    window_begin::<ID>();
    for _ in 0..samples {
        op_begin();
        let a = rt::arch::rdtsc();
        sink = sink.wrapping_add(pass(buf));
        let b = rt::arch::rdtsc();
        op_end();
        hist.record((b - a).max(1));
    }
    window_end::<ID>();
    report("model.calib.l1", unit, hist, start);
    println!("modelcal: l1 sum {sink}");
    0
}

fn stride(unit: Unit) -> u64 {
    const ID: u32 = bench_id("model.calib.stride");
    const SIZE: u64 = 64 << 20;
    let Ok((region, size, _)) = Region::create(SIZE, None) else {
        println!("modelcal: no 64 MiB region");
        return 1;
    };
    let Ok(mapping) = region.map(MAP_WRITE) else {
        println!("modelcal: map failed");
        return 1;
    };
    let base = mapping.base.cast::<u64>();
    let lines = size.min(SIZE) / 64;
    // Touch every page first: no page fault inside the window.
    for page in 0..size.min(SIZE) / 4096 {
        // SAFETY: inside the mapping, which is writable.
        unsafe { base.add(page as usize * 512).write_volatile(page) };
    }
    let hist = hist();
    let mut sum = 0u64;
    let (start, _, _) = rt::time();
    window_begin::<ID>();
    for line in 0..lines {
        op_begin();
        let a = rt::arch::rdtsc();
        // SAFETY: `line * 64` bytes < the mapping's size.
        sum = sum.wrapping_add(unsafe { base.add(line as usize * 8).read_volatile() });
        let b = rt::arch::rdtsc();
        op_end();
        hist.record((b - a).max(1));
    }
    window_end::<ID>();
    report("model.calib.stride", unit, hist, start);
    println!("modelcal: stride {lines} lines, sum {sum}");
    0
}

/// Waits until `*word == value` (yielding the CPU when `yield_cpu`).
#[inline(always)]
fn await_value(word: *const u64, value: u64, yield_cpu: bool) {
    // SAFETY: `word` points into a mapped, shared region.
    while unsafe { word.read_volatile() } != value {
        if yield_cpu {
            rt::yield_now();
        } else {
            core::hint::spin_loop();
        }
    }
}

fn pingpong(mode: u64, samples: u64, unit: Unit) -> u64 {
    const CROSS: u32 = bench_id("model.calib.pingpong");
    const SAME: u32 = bench_id("model.calib.same_cpu");
    let name = if mode == PINGPONG {
        "model.calib.pingpong"
    } else {
        "model.calib.same_cpu"
    };
    let here = rt::time().2 as u32;
    let cpu = if mode == PINGPONG { 1 } else { here };
    let Ok((region, _, _)) = Region::create(4096, None) else {
        return 1;
    };
    let Ok(mapping) = region.map(MAP_WRITE) else {
        return 1;
    };
    let word = mapping.base.cast::<u64>();
    // SAFETY: the first word of the mapping.
    unsafe { word.write_volatile(0) };
    let both = Rights {
        send: true,
        receive: true,
        ..Rights::SEND
    };
    let Ok(shared) = rt::ipc::derive(region.0, both.shareable(), 0) else {
        return 1;
    };
    let at = Placement {
        cpu: Some(cpu),
        priority: 10,
    };
    let pid = match rt::spawn("modelcal", PARTNER | mode, at) {
        Ok(pid) => pid,
        Err(e) => {
            println!("@skip v1 name={name} reason=partner%20not%20started:%20{e:?}");
            return 2;
        }
    };
    if rt::ipc::grant(shared, pid, both, 0).is_err() {
        let _ = rt::kill(pid);
        return 1;
    }
    let same = mode == SAME_CPU;
    // The partner says it mapped the region by writing 1.
    await_value(word, 1, same);
    let hist = hist();
    let (start, _, _) = rt::time();
    match mode {
        PINGPONG => window_begin::<CROSS>(),
        _ => window_begin::<SAME>(),
    }
    for i in 0..samples {
        op_begin();
        let a = rt::arch::rdtsc();
        // SAFETY: the shared word; the partner waits for this odd value.
        unsafe { word.write_volatile(2 * i + 3) };
        await_value(word, 2 * i + 4, same);
        let b = rt::arch::rdtsc();
        op_end();
        hist.record((b - a).max(1));
    }
    match mode {
        PINGPONG => window_end::<CROSS>(),
        _ => window_end::<SAME>(),
    }
    // SAFETY: as above.
    unsafe { word.write_volatile(QUIT) };
    let end = rt::wait(pid);
    report(name, unit, hist, start);
    match end {
        Ok((0, 0, _)) => 0,
        other => {
            println!("modelcal: partner ended with {other:?}");
            1
        }
    }
}

/// The partner: maps the region, then answers each odd value with the next
/// even one until QUIT.
fn partner(mode: u64) -> u64 {
    if !rt::ipc::wait_for_cap(initial_cap(0), 1_000) {
        return 1;
    }
    let Ok(mapping) = Region(initial_cap(0)).map(MAP_WRITE) else {
        return 1;
    };
    let word = mapping.base.cast::<u64>();
    let same = mode == SAME_CPU;
    // SAFETY: the first word of the shared mapping.
    unsafe { word.write_volatile(1) };
    let mut next = 3;
    loop {
        // SAFETY: as above.
        let seen = unsafe { word.read_volatile() };
        if seen == QUIT {
            return 0;
        }
        if seen == next {
            // SAFETY: as above.
            unsafe { word.write_volatile(next + 1) };
            next += 2;
        } else if same {
            rt::yield_now();
        } else {
            core::hint::spin_loop();
        }
    }
}
