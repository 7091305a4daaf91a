//! `worker`: a child process with one behaviour per mode (`arg` low byte),
//! used by the tests: exit, fault in each way, spin, do syscalls.
#![no_std]
#![no_main]

use rt::arch::fault;

rt::entry!(main);

const HERE: rt::Placement = rt::Placement {
    cpu: None,
    priority: 10,
};

/// Modes (shared with `init`).
fn main(arg: u64) -> u64 {
    match arg & 0xff {
        0 => arg >> 8,
        1 => {
            // #PF: read an unmapped user address.
            // SAFETY: none; the fault is the point (the kernel kills us).
            unsafe { core::ptr::read_volatile(0x10 as *const u64) }
        }
        2 => fault::general_protection(),
        3 => fault::invalid_opcode(),
        4 => fault::divide_error(),
        5 => recurse(0),
        6 => {
            // A sibling that keeps running while others die: many slices of
            // work with syscalls in between, then exit 0.
            let mut x = 0u64;
            for i in 0..200u64 {
                for j in 0..20_000u64 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(i ^ j);
                }
                rt::yield_now();
            }
            core::hint::black_box(x);
            0
        }
        7 => loop {
            core::hint::spin_loop();
        },
        8 => {
            // Some syscalls, then exit with the number that succeeded.
            let mut ok = 0;
            for i in 0..4 {
                if rt::echo(i, [i, i + 1, i + 2, i + 3]).status == 0 {
                    ok += 1;
                }
            }
            if rt::time().1 > 0 {
                ok += 1;
            }
            ok
        }
        // Sleeps `arg >> 8` milliseconds, then exits 0.
        9 => {
            rt::sleep_ns((arg >> 8) * 1_000_000);
            0
        }
        // Spawns a worker that sleeps `arg >> 8` ms and waits for it.
        10 => match rt::spawn("worker", 9 | (arg >> 8) << 8, HERE) {
            Ok(child) => rt::wait(child).map_or(2, |r| r.0),
            Err(_) => 1,
        },
        // Spawns four workers that exit at once and four that sleep
        // `arg >> 8` ms, and exits without waiting for any of them.
        11 => {
            for _ in 0..4 {
                if rt::spawn("worker", 0, HERE).is_err()
                    || rt::spawn("worker", 9 | (arg >> 8) << 8, HERE).is_err()
                {
                    return 1;
                }
            }
            0
        }
        // `sidt` in ring 3: exits with the IDT base it read, unless UMIP
        // makes it fault.
        12 => rt::arch::fault::store_idt(),
        other => {
            rt::println!("worker: unknown mode {other}");
            255
        }
    }
}

/// Recurses until the stack's guard page stops it: the point of mode 5.
#[inline(never)]
#[allow(
    unconditional_recursion,
    reason = "runs off the end of the stack on purpose"
)]
fn recurse(depth: u64) -> u64 {
    let pad = core::hint::black_box([depth; 64]);
    pad[0] + recurse(depth + 1)
}
