//! The system calls the benchmarks use, each behind a safe function that
//! turns a failure into an `io::Error` (all of this crate's `unsafe`), and
//! the TSC reading the measurements take.

use std::io;
use std::sync::atomic::AtomicU32;

/// Reads the TSC after earlier loads (`lfence; rdtsc`), as the kernel's
/// benchmarks do.
#[inline(always)]
#[must_use]
pub fn rdtsc() -> u64 {
    // SAFETY: `lfence` and `rdtsc` have no memory effects; user mode may
    // read the TSC (Linux leaves CR4.TSD clear unless a process asks with
    // prctl(PR_SET_TSC), which this program does not).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// The back-to-back cost of two [`rdtsc`] readings: the minimum of 1,000
/// pairs, subtracted from every sample (the kernel's method).
#[must_use]
pub fn tsc_overhead() -> u64 {
    (0..1000)
        .map(|_| {
            let a = rdtsc();
            let b = rdtsc();
            b.wrapping_sub(a)
        })
        .min()
        .unwrap_or(0)
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    check(libc::c_long::from(ret)).map(|_| ret)
}

/// `getppid` as a raw system call (no library caching): the null call.
pub fn null_syscall() -> io::Result<()> {
    // SAFETY: getppid takes no arguments and touches no memory.
    check(unsafe { libc::syscall(libc::SYS_getppid) }).map(drop)
}

/// The CPUs this thread may run on, in ascending order.
///
/// # Errors
/// `sched_getaffinity` failed.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size passed.
    check_int(unsafe {
        libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &raw mut set)
    })?;
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to `cpus`.
///
/// # Errors
/// `sched_setaffinity` failed (a CPU that is not online).
pub fn pin(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    for &cpu in cpus {
        if cpu < libc::CPU_SETSIZE as usize {
            // SAFETY: `cpu` is below CPU_SETSIZE, the set's capacity.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 is this thread.
    check_int(unsafe {
        libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &raw const set)
    })
    .map(drop)
}

/// `sched_yield`.
pub fn yield_now() {
    // SAFETY: sched_yield has no arguments and cannot fail on Linux.
    unsafe { libc::sched_yield() };
}

/// Sleeps in FUTEX_WAIT while `word` holds `expected` (returns at once if
/// it does not, or on a spurious wake-up: callers re-check).
///
/// # Errors
/// A futex error other than EAGAIN (value changed) or EINTR.
pub fn futex_wait(word: &AtomicU32, expected: u32) -> io::Result<()> {
    // SAFETY: `word` is a live, aligned u32 for the duration of the call;
    // a null timeout waits without limit.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            core::ptr::null::<libc::timespec>(),
        )
    };
    match check(ret) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => Ok(()),
        other => other.map(drop),
    }
}

/// Wakes one waiter of `word`.
///
/// # Errors
/// The futex call failed.
pub fn futex_wake(word: &AtomicU32) -> io::Result<()> {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE only reads its address.
    check(unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    })
    .map(drop)
}

/// An owned file descriptor (closed on drop).
#[derive(Debug)]
pub struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: this value owns the descriptor and nothing uses it after.
        unsafe { libc::close(self.0) };
    }
}

impl Fd {
    /// Writes all of `buf`.
    ///
    /// # Errors
    /// The write failed or wrote nothing.
    pub fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            // SAFETY: `buf` is readable for its length.
            let n = check(unsafe { libc::write(self.0, buf.as_ptr().cast(), buf.len()) } as _)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n as usize..];
        }
        Ok(())
    }

    /// Closes this descriptor in a forked child, whose copy of `self` is
    /// never dropped (it leaves through `_exit`): the partner must not hold
    /// the ends it does not use, or the parent's close is no end of file.
    pub fn close_in_child(&self) {
        // SAFETY: close takes no pointers; the child never uses this
        // descriptor again.
        unsafe { libc::close(self.0) };
    }

    /// Shuts the sending side of a socket (the peer reads end of file).
    ///
    /// # Errors
    /// `shutdown` failed.
    pub fn shutdown_write(&self) -> io::Result<()> {
        // SAFETY: shutdown takes no pointers.
        check_int(unsafe { libc::shutdown(self.0, libc::SHUT_WR) }).map(drop)
    }

    /// Fills `buf`; `Ok(false)` at end of file before the first byte.
    ///
    /// # Errors
    /// The read failed, or end of file came in the middle of `buf`.
    pub fn read_exact(&self, buf: &mut [u8]) -> io::Result<bool> {
        let mut done = 0;
        while done < buf.len() {
            let rest = &mut buf[done..];
            // SAFETY: `rest` is writable for its length.
            let n =
                check(unsafe { libc::read(self.0, rest.as_mut_ptr().cast(), rest.len()) } as _)?;
            if n == 0 {
                return if done == 0 {
                    Ok(false)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            done += n as usize;
        }
        Ok(true)
    }
}

/// A pipe: (read end, write end).
///
/// # Errors
/// `pipe2` failed.
pub fn pipe() -> io::Result<(Fd, Fd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// A connected pair of Unix stream sockets.
///
/// # Errors
/// `socketpair` failed.
pub fn unix_pair() -> io::Result<(Fd, Fd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    check_int(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// An eventfd with counter 0.
///
/// # Errors
/// `eventfd` failed.
pub fn eventfd() -> io::Result<Fd> {
    // SAFETY: eventfd takes no pointers.
    check_int(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) }).map(Fd)
}

/// `len` bytes of zeroed anonymous memory shared with children forked
/// later (unmapped on drop).
pub struct Shared {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Shared {
    /// Maps the region.
    ///
    /// # Errors
    /// `mmap` failed.
    pub fn new(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping chosen by the kernel aliases
        // nothing.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { ptr, len })
    }

    /// The first word of the region, shared between the processes.
    #[must_use]
    pub fn word(&self) -> &core::sync::atomic::AtomicU64 {
        // SAFETY: the mapping is page-aligned, at least 8 bytes, zeroed
        // (a valid AtomicU64) and lives as long as `self`; every access
        // from either process is atomic.
        unsafe { &*self.ptr.cast::<core::sync::atomic::AtomicU64>() }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no reference to it outlives self.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Forks; in the child runs `child` and exits with its status (never
/// returning), in the parent returns the child's pid. `child` must not
/// allocate or take locks another thread may hold (the caller has no
/// other threads when it forks).
///
/// # Errors
/// `fork` failed.
pub fn fork_child(child: impl FnOnce() -> i32) -> io::Result<libc::pid_t> {
    // SAFETY: the benchmarks fork from a single-threaded process, so the
    // child's copy of every lock is free.
    let pid = check_int(unsafe { libc::fork() })?;
    if pid == 0 {
        let code = child();
        // SAFETY: _exit ends the child without running the parent's
        // destructors or flushing its buffers a second time.
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

/// Waits for child `pid`; `Ok` when it exited with status 0.
///
/// # Errors
/// `waitpid` failed, or the child failed (its status says how).
pub fn wait_child(pid: libc::pid_t) -> io::Result<()> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a writable int.
        match check_int(unsafe { libc::waitpid(pid, &raw mut status, 0) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "partner process ended with wait status {status:#x}"
        )))
    }
}

/// The running kernel's release (`uname -r`).
#[must_use]
pub fn kernel_release() -> String {
    // SAFETY: an all-zero utsname is valid storage for uname to fill.
    let mut name: libc::utsname = unsafe { core::mem::zeroed() };
    // SAFETY: `name` is writable storage of the right type.
    if unsafe { libc::uname(&raw mut name) } != 0 {
        return "unknown".to_owned();
    }
    let bytes: Vec<u8> = name
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Mounts a pseudo file system (`proc`, `sysfs`) at `target`.
///
/// # Errors
/// `mount` failed.
pub fn mount_pseudo(fstype: &str, target: &str) -> io::Result<()> {
    let fstype = std::ffi::CString::new(fstype).map_err(io::Error::other)?;
    let target = std::ffi::CString::new(target).map_err(io::Error::other)?;
    // SAFETY: every pointer is a NUL-terminated string or null (no data).
    check_int(unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            core::ptr::null(),
        )
    })
    .map(drop)
}

/// The `isa-debug-exit` port QEMU is started with (`iobase=0xf4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends QEMU through `isa-debug-exit` with `value` (0x10 success, 0x20
/// failure, as the Veridian kernel does); powers off if the port cannot be
/// reached. Only PID 1 calls this.
pub fn leave_qemu(value: u8) -> ! {
    // SAFETY: ioperm only changes this process's I/O permission bitmap.
    if unsafe { libc::ioperm(libc::c_ulong::from(DEBUG_EXIT_PORT), 1, 1) } == 0 {
        // SAFETY: the port is ours now; QEMU's isa-debug-exit device ends
        // the machine on this write and nothing else listens there.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") DEBUG_EXIT_PORT, in("al") value,
                options(nomem, nostack, preserves_flags));
        }
    }
    loop {
        // SAFETY: reboot with POWER_OFF takes no pointers; PID 1 has
        // CAP_SYS_BOOT.
        unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_POWER_OFF) };
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
