//! `rt`: the Veridian user runtime: syscall wrappers over the ABI in
//! `ipc::abi`, console output, the panic handler and the program entry.
#![no_std]

pub mod arch;
pub mod bench;
pub mod ipc;
pub mod marker;
pub mod shm;

use core::fmt::{self, Write};

use ipc::IpcError;
use ipc::abi::Opcode;

/// Result of a syscall with data words.
pub type SysResult = Result<[u64; 4], IpcError>;

pub(crate) fn call(op: Opcode, cap: u64, data: [u64; 4]) -> SysResult {
    let raw = arch::syscall(cap, op as u64, data);
    match raw.status {
        0 => Ok(raw.data),
        code => Err(IpcError::from_code(code).unwrap_or(IpcError::InvalidArgument)),
    }
}

/// A raw syscall with any opcode number (for misuse tests).
pub fn raw(opcode: u64, cap: u64, data: [u64; 4]) -> arch::Raw {
    arch::syscall(cap, opcode, data)
}

/// Writes bytes to the kernel console.
///
/// # Errors
/// What the kernel returns for a bad buffer.
pub fn debug_write(bytes: &[u8]) -> SysResult {
    call(
        Opcode::DebugWrite,
        0,
        [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0],
    )
}

/// Ends the process.
pub fn exit(code: u64) -> ! {
    let _ = call(Opcode::Exit, 0, [code, 0, 0, 0]);
    // The kernel never returns from exit; if it did, fault loudly.
    arch::fault::invalid_opcode()
}

/// Where a spawned program runs.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// CPU index, or `None` for the caller's; [`Placement::ANY_CPU`] lets
    /// the kernel choose.
    pub cpu: Option<u32>,
    /// Priority (larger = more urgent).
    pub priority: u8,
}

impl Placement {
    /// The CPU "number" that asks the kernel to place the program: the
    /// least loaded online CPU of the caller's NUMA node (else of the
    /// nearest node).
    pub const ANY_CPU: u32 = 0xfffe;
}

/// Starts program `name` with `arg`; returns its pid.
///
/// # Errors
/// `InvalidArgument` for an unknown program or CPU, `OutOfMemory`.
pub fn spawn(name: &str, arg: u64, at: Placement) -> Result<u32, IpcError> {
    let cpu = at.cpu.map_or(0, |c| u64::from(c) + 1);
    let packed = cpu | (u64::from(at.priority) << 16);
    call(
        Opcode::Spawn,
        0,
        [name.as_ptr() as u64, name.len() as u64, arg, packed],
    )
    .map(|d| d[0] as u32)
}

/// How a child ended: `(kind, detail, address)`; kind 0 exit(detail),
/// 1 killed, 2 fault(vector=detail), 3 stack overflow.
///
/// # Errors
/// `ProcessNotFound` for a pid that is not our child.
pub fn wait(pid: u32) -> Result<(u64, u64, u64), IpcError> {
    call(Opcode::Wait, 0, [u64::from(pid), 0, 0, 0]).map(|d| (d[0], d[1], d[2]))
}

/// Kills process `pid`.
///
/// # Errors
/// `ProcessNotFound`.
pub fn kill(pid: u32) -> Result<(), IpcError> {
    call(Opcode::Kill, 0, [u64::from(pid), 0, 0, 0]).map(|_| ())
}

/// Sleeps for at least `ns` nanoseconds (one timer tick of resolution).
pub fn sleep_ns(ns: u64) {
    let _ = call(Opcode::Sleep, 0, [ns, 0, 0, 0]);
}

/// Scheduling facts about `pid`: (switch-ins, CPU, effective priority, base
/// priority).
///
/// # Errors
/// `ProcessNotFound`.
pub fn proc_info(pid: u32) -> Result<(u64, u64, u64, u64), IpcError> {
    call(Opcode::ProcInfo, 0, [u64::from(pid), 0, 0, 0]).map(|d| (d[0], d[1], d[2], d[3]))
}

/// Gives up the CPU.
pub fn yield_now() {
    let _ = call(Opcode::Yield, 0, [0; 4]);
}

/// (TSC, TSC Hz, CPU index).
pub fn time() -> (u64, u64, u64) {
    call(Opcode::GetTime, 0, [0; 4]).map_or((0, 0, 0), |d| (d[0], d[1], d[2]))
}

/// This process's id.
pub fn self_pid() -> u32 {
    call(Opcode::GetTime, 0, [0; 4]).map_or(0, |d| d[3] as u32)
}

/// The echo syscall: returns (status, data words, badge = cap).
pub fn echo(cap: u64, data: [u64; 4]) -> arch::Raw {
    arch::syscall(cap, Opcode::Echo as u64, data)
}

/// A `fmt::Write` that buffers a line and sends it with one syscall.
pub struct Console {
    buf: [u8; CONSOLE_BUF],
    len: usize,
}

/// Bytes a [`Console`] buffers before it must flush mid-line (records must fit).
pub const CONSOLE_BUF: usize = 32 * 1024;

impl Console {
    /// An empty line buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; CONSOLE_BUF],
            len: 0,
        }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            let _ = debug_write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Prints a line to the kernel console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        let mut c = $crate::Console::new();
        let _ = core::fmt::Write::write_fmt(&mut c, format_args!($($arg)*));
        let _ = core::fmt::Write::write_str(&mut c, "\n");
        c.flush();
    }};
}

/// The heap's backing memory: small, because it is mapped eagerly into every
/// process (no demand paging yet) and 1,024 processes must fit in 512 MiB;
/// only the benchmark orchestrators allocate (pid lists, names).
static mut ARENA: [u8; 64 * 1024] = [0; 64 * 1024];

#[global_allocator]
static ALLOCATOR: talc::Talck<spin::Mutex<()>, talc::ClaimOnOom> =
    // SAFETY: the arena is a static used by nothing else; talc claims it once.
    talc::Talc::new(unsafe {
        talc::ClaimOnOom::new(talc::Span::from_array(
            core::ptr::addr_of!(ARENA).cast_mut(),
        ))
    })
    .lock();

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("user panic: {}", info);
    exit(101)
}

/// Declares the program's entry: `entry!(main)` with `fn main(arg: u64) -> u64`
/// (the return value is the exit code).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn _start(arg: u64) -> ! {
            let code: u64 = $main(arg);
            $crate::exit(code)
        }
    };
}
