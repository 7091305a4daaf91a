//! The system call layer: decode the registers of [`TrapFrame`], run the
//! operation, write status and results back.
//!
//! ABI (see `ipc::abi`): `rdi` capability, `rsi` opcode | flags << 32,
//! `rdx r10 r8 r9` data words; on return `rax` status (0 = ok, else an
//! `IpcError` code), data words in `rdx r10 r8 r9`, badge in `rsi`.

use ipc::IpcError;

use crate::arch::x86_64::cpu::rdtsc_ordered;
use crate::arch::x86_64::entry::canonical_user;
use crate::arch::x86_64::idt::TrapFrame;
use crate::process::{self, ExitReason};
use crate::task;

/// Opcode numbers, decoded with a match (a jump table) on the hot path.
mod op {
    pub const DEBUG_WRITE: u32 = ipc::abi::Opcode::DebugWrite as u32;
    pub const EXIT: u32 = ipc::abi::Opcode::Exit as u32;
    pub const SPAWN: u32 = ipc::abi::Opcode::Spawn as u32;
    pub const WAIT: u32 = ipc::abi::Opcode::Wait as u32;
    pub const KILL: u32 = ipc::abi::Opcode::Kill as u32;
    pub const YIELD: u32 = ipc::abi::Opcode::Yield as u32;
    pub const GET_TIME: u32 = ipc::abi::Opcode::GetTime as u32;
    pub const ECHO: u32 = ipc::abi::Opcode::Echo as u32;
    pub const SLEEP: u32 = ipc::abi::Opcode::Sleep as u32;
    pub const PROC_INFO: u32 = ipc::abi::Opcode::ProcInfo as u32;
    pub const PERF_COUNTERS: u32 = ipc::abi::Opcode::PerfCounters as u32;
}

type SysResult = Result<[u64; 4], IpcError>;

/// Called by the syscall entry with the user's registers, for every
/// syscall but `call` and `reply_recv` without flags (the entry sends those
/// to [`fast_dispatch`]).
pub extern "C" fn dispatch(frame: &mut TrapFrame) {
    let opcode = frame.rsi as u32;
    // The whole of rsi: echo with flag bits set is refused below.
    if frame.rsi == u64::from(op::ECHO) {
        // The null syscall: no state touched at all.
        frame.rax = 0;
        frame.rsi = frame.rdi;
        return;
    }
    general_dispatch(frame, opcode);
}

/// `call` or `reply_recv` without flags (`opcode`; called by the syscall
/// entry, whose `rsi` is then exactly the opcode) through the fast path (or the
/// general operation when a guard refuses), else, when that does not apply
/// (see `kipc::fast_syscall`), through the general dispatcher. A syscall
/// that returns to a non-canonical address never takes it: a thread the
/// fast path parks may be resumed by SYSRET straight from its frame, and
/// the general path's `wait_result` kills such a caller. One instance for
/// both operations, entered straight from the syscall entry (no per-opcode
/// stub that loads the opcode).
///
/// One instance per kind of CPU: `XSAVE` and `PCID` say whether this CPU
/// saves FPU state with XSAVE and tags address spaces with PCIDs, so the
/// fast path's two switches test neither.
/// The syscall entry calls this CPU's instance through its per-CPU data
/// ([`select_fast_dispatch`]), as static keys patch a branch at boot.
///
/// # Safety
/// Called by the syscall entry only (so this CPU's per-CPU data is
/// installed: the entry found its kernel stack through it), on a CPU whose
/// `arch::xsave_on` is `XSAVE` and whose `cpu::pcid_on` is `PCID`.
pub unsafe extern "C" fn fast_dispatch<const XSAVE: bool, const PCID: bool>(
    frame: &mut TrapFrame,
    opcode: u32,
) {
    let call = opcode == crate::kipc::op::CALL;
    let result = if canonical_user(frame.rip) {
        // SAFETY: a system call (this function's contract).
        unsafe { crate::kipc::fast_syscall::<XSAVE, PCID>(call, frame) }
    } else {
        None
    };
    match result {
        Some(Ok((out, out_badge))) => write_success(frame, out, out_badge),
        Some(Err(e)) => write_result(frame, Err(e), 0),
        None => general_dispatch(frame, opcode),
    }
}

/// The [`fast_dispatch`] instance for this CPU, whose FPU and address-space
/// set-up (`arch::init_fpu`, `cpu::init_pcid`) is done: what the syscall
/// entry calls for `call` and `reply_recv` (`PerCpu::fast_dispatch`).
pub fn select_fast_dispatch() -> *const () {
    let xsave = crate::arch::x86_64::fpu::xsave_on();
    let pcid = crate::arch::x86_64::cpu::pcid_on();
    match (xsave, pcid) {
        (true, true) => fast_dispatch::<true, true> as *const (),
        (true, false) => fast_dispatch::<true, false> as *const (),
        (false, true) => fast_dispatch::<false, true> as *const (),
        (false, false) => fast_dispatch::<false, false> as *const (),
    }
}

/// The end of a fast-path `call` or `reply_recv` whose thread was parked
/// (`parked` is its `task` parked word) and now runs again through its
/// kernel stack rather than straight into user mode: from the context
/// `arch::x86_64::switch::prepare_parked_resume` built below its syscall
/// `frame`, which leaves to user mode with SYSRET from the frame once this
/// returns. As [`fast_dispatch`] would have finished the syscall.
pub extern "C" fn finish_parked_syscall(frame: &mut TrapFrame, parked: u64) {
    let on = task::unpark_on_stack(parked);
    match crate::kipc::resumed_from_park(on) {
        Ok((out, out_badge)) => write_success(frame, out, out_badge),
        Err(e) => write_result(frame, Err(e), 0),
    }
}

/// Every syscall but the fast path's.
#[inline(never)]
fn general_dispatch(frame: &mut TrapFrame, opcode: u32) {
    // Flag bits (the high half of rsi) belong to the IPC opcodes, which
    // check them against `ipc::abi::SyscallFlags`; any other opcode with
    // one set is refused.
    if frame.rsi >> 32 != 0 && !crate::kipc::op::is_ipc(opcode) {
        return write_result(frame, Err(IpcError::InvalidArgument), 0);
    }
    let data = frame.data_words();
    let mut badge = 0;
    let result: SysResult = match opcode {
        op::GET_TIME => Ok([
            rdtsc_ordered(),
            crate::cpus::tsc_hz(),
            u64::from(crate::cpu_index()),
            u64::from(task::current_pid().unwrap_or(0)),
        ]),
        op::DEBUG_WRITE => debug_write(data[0], data[1]),
        op::EXIT => process::exit_current(ExitReason::Exited(data[0])),
        op::SPAWN => spawn(data),
        op::WAIT => process::wait(data[0] as u32).map(|r| {
            let [a, b, c] = r.encode();
            [a, b, c, 0]
        }),
        op::KILL => process::kill(data[0] as u32).map(|()| [0; 4]),
        op::SLEEP => {
            let ns = data[0].min(3_600_000_000_000);
            let ticks = (u128::from(ns) * u128::from(crate::cpus::tsc_hz()) / 1_000_000_000) as u64;
            task::sleep_until(rdtsc_ordered().saturating_add(ticks));
            Ok([0; 4])
        }
        op::PROC_INFO => process::info(data[0] as u32),
        op::PERF_COUNTERS => match data[0] {
            0 => Ok([crate::pmu::start(), 0, 0, 0]),
            1 if data[1] < perf::pmu::plan::COUNTERS as u64 => {
                Ok(crate::pmu::read(data[1] as usize))
            }
            _ => Err(IpcError::InvalidArgument),
        },
        op::YIELD => {
            task::yield_now();
            Ok([0; 4])
        }
        opcode if crate::kipc::op::is_ipc(opcode) => {
            match crate::kipc::syscall(
                opcode,
                frame.rdi,
                (frame.rsi >> 32) as u32,
                data,
                &mut badge,
            ) {
                // Success returns at once, like echo (a thread whose process
                // was killed meanwhile dies at its next interrupt); errors
                // take the common tail, which reaps a killed caller.
                Ok(out) if canonical_user(frame.rip) => return write_success(frame, out, badge),
                other => other,
            }
        }
        _ => Err(IpcError::InvalidArgument),
    };
    write_result(frame, result, badge);
}

/// Writes a successful result into a syscall frame: status 0 in `rax`, the
/// data words in `rdx r10 r8 r9`, the badge in `rsi`.
pub fn write_success(frame: &mut TrapFrame, data: [u64; 4], badge: u64) {
    frame.rax = 0;
    [frame.rdx, frame.r10, frame.r8, frame.r9] = data;
    frame.rsi = badge;
}

/// The common tail: a killed caller dies here; the status, result words and
/// badge go into the frame; a non-canonical return address kills the caller.
fn write_result(frame: &mut TrapFrame, result: SysResult, badge: u64) {
    if process::current_doomed() {
        process::exit_current(ExitReason::Killed);
    }
    match result {
        Ok(out) => write_success(frame, out, badge),
        Err(e) => {
            frame.rax = e.code();
            frame.rsi = badge;
        }
    }
    if !canonical_user(frame.rip) {
        // SYSRET to a non-canonical rip would fault in ring 0.
        process::exit_current(ExitReason::Fault {
            vector: 13,
            addr: frame.rip,
        });
    }
}

fn current_pml4() -> Result<u64, IpcError> {
    let pid = task::current_pid().ok_or(IpcError::ProcessNotFound)?;
    process::pml4_of(pid).ok_or(IpcError::ProcessNotFound)
}

/// Largest debug_write (a whole `@hist` record fits).
const DEBUG_WRITE_MAX: u64 = 64 * 1024;

fn debug_write(addr: u64, len: u64) -> SysResult {
    if len > DEBUG_WRITE_MAX {
        return Err(IpcError::MessageTooLarge);
    }
    let mut buf = alloc::vec![0u8; len as usize];
    crate::usercopy::copy_from_user(current_pml4()?, addr, &mut buf)?;
    let text = core::str::from_utf8(&buf).map_err(|_| IpcError::InvalidArgument)?;
    if text.is_empty() {
        // Nothing to print, not even the prefix.
    } else if text.starts_with('@') {
        // Machine-readable records go out unprefixed (and whole: one
        // console lock hold), so host parsers see them as the program wrote.
        crate::serial::write_fmt(format_args!("{text}"));
    } else {
        let pid = task::current_pid().unwrap_or(0);
        crate::serial::write_fmt(format_args!("[{pid}] {text}"));
    }
    Ok([len, 0, 0, 0])
}

/// spawn(name_ptr, name_len, arg, cpu_plus_one | priority << 16), where
/// cpu_plus_one 0 is the caller's CPU and 0xffff the kernel's NUMA-aware
/// choice ([`process::Placement::Balanced`]).
fn spawn(data: [u64; 4]) -> SysResult {
    if data[1] > 64 {
        return Err(IpcError::InvalidArgument);
    }
    let mut name = [0u8; 64];
    let name = &mut name[..data[1] as usize];
    crate::usercopy::copy_from_user(current_pml4()?, data[0], name)?;
    let name = core::str::from_utf8(name).map_err(|_| IpcError::InvalidArgument)?;
    let at = match data[3] & 0xffff {
        0 => process::Placement::Caller,
        0xffff => process::Placement::Balanced,
        n => process::Placement::Cpu((n - 1) as u32),
    };
    let priority = ((data[3] >> 16) & 0xff) as u8;
    let parent = task::current_pid().unwrap_or(0);
    match process::spawn(name, data[2], at, priority, parent) {
        Ok(pid) => Ok([u64::from(pid), 0, 0, 0]),
        Err(process::SpawnError::NoSuchProgram | process::SpawnError::BadElf(_)) => {
            Err(IpcError::InvalidArgument)
        }
        Err(process::SpawnError::BadCpu) => Err(IpcError::InvalidArgument),
        Err(process::SpawnError::OutOfMemory | process::SpawnError::Sched) => {
            Err(IpcError::OutOfMemory)
        }
    }
}
