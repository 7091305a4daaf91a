//! In-kernel tests, registered without nightly through a link section.
//!
//! `ktest!` places a [`KernelTest`] in the `.ktests` section; the linker script
//! brackets that section with `__ktests_start`/`__ktests_end`, and [`run_all`]
//! walks it. Each test prints `test <name> ... ok` or
//! `test <name> ... FAILED: <why>`; the run ends with `<N> passed, <M> failed`
//! alone on a line. A test that panics or faults is reported as failed by the
//! panic/fault path (see [`on_fatal`]), which also prints the closing line so the
//! host runner always sees one.

use alloc::string::String;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// What a test returns: `Err(reason)` on failure.
pub type TestResult = Result<(), String>;

/// One registered test.
#[repr(C)]
pub struct KernelTest {
    /// `module::function`.
    pub name: &'static str,
    /// The test body.
    pub run: fn() -> TestResult,
}

/// Registers a kernel test: `ktest! { fn name() { ...; Ok(()) } }`.
#[macro_export]
macro_rules! ktest {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        fn $name() -> $crate::ktest::TestResult $body
        const _: () = {
            #[used]
            #[unsafe(link_section = ".ktests")]
            static ENTRY: $crate::ktest::KernelTest = $crate::ktest::KernelTest {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: $name,
            };
        };
    };
}

/// Fails the current test with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! kensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($arg)*));
        }
    };
}

unsafe extern "C" {
    // Linker-script symbols: only their addresses are meaningful.
    static __ktests_start: u8;
    static __ktests_end: u8;
}

/// The registered tests.
pub fn all() -> &'static [KernelTest] {
    // SAFETY: the linker script places only `KernelTest` statics (all from
    // `ktest!`, `#[repr(C)]`, same size and alignment) between the two symbols,
    // contiguously; the section is read-only and lives forever.
    unsafe {
        let start = core::ptr::addr_of!(__ktests_start).cast::<KernelTest>();
        let end = core::ptr::addr_of!(__ktests_end).cast::<KernelTest>();
        let len = (end as usize - start as usize) / core::mem::size_of::<KernelTest>();
        core::slice::from_raw_parts(start, len)
    }
}

static CURRENT: AtomicPtr<KernelTest> = AtomicPtr::new(core::ptr::null_mut());
static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// Runs every test whose name contains `filter` (all when empty); returns
/// whether all passed.
pub fn run_all(filter: &str) -> bool {
    let tests = all();
    crate::kprintln!("running {} kernel tests", tests.len());
    for test in tests.iter().filter(|t| t.name.contains(filter)) {
        CURRENT.store(
            test as *const KernelTest as *mut KernelTest,
            Ordering::SeqCst,
        );
        let result = (test.run)();
        CURRENT.store(core::ptr::null_mut(), Ordering::SeqCst);
        match result {
            Ok(()) => {
                PASSED.fetch_add(1, Ordering::SeqCst);
                crate::kprintln!("test {} ... ok", test.name);
            }
            Err(why) => {
                FAILED.fetch_add(1, Ordering::SeqCst);
                crate::kprintln!("test {} ... FAILED: {}", test.name, why);
            }
        }
    }
    let (passed, failed) = (PASSED.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst));
    crate::kprintln!("{passed} passed, {failed} failed");
    failed == 0
}

/// Called by the panic and fatal-exception paths: if a test was running, report
/// it as failed and print the closing line so the report is complete.
pub fn on_fatal(what: &str) {
    let current = CURRENT.swap(core::ptr::null_mut(), Ordering::SeqCst);
    if current.is_null() {
        return;
    }
    // SAFETY: CURRENT only ever holds pointers into the 'static test table.
    let test = unsafe { &*current };
    let failed = FAILED.fetch_add(1, Ordering::SeqCst) + 1;
    let passed = PASSED.load(Ordering::SeqCst);
    crate::serial::write_fmt_emergency(format_args!(
        "test {} ... FAILED: {what} (see above)\n{passed} passed, {failed} failed\n",
        test.name
    ));
}

/// What processes hold, counted for conservation checks: free frames per
/// node, processes, threads, IPC processes and threads, live endpoints,
/// regions (count, frames). The endpoint tables keep the length of their
/// peak (ids are reused from a free list), so their length is not counted.
#[derive(Debug, PartialEq, Eq)]
pub struct Census {
    /// Free frames on nodes 0..8.
    pub frames_per_node: alloc::vec::Vec<usize>,
    /// Live processes.
    pub processes: usize,
    /// Live threads.
    pub threads: usize,
    /// `kipc::census`.
    pub ipc: (usize, usize),
    /// Live endpoints.
    pub endpoints: usize,
    /// `kipc::shm::census`: regions and their frames.
    pub regions: (usize, usize),
}

impl Census {
    /// The counts now.
    pub fn take() -> Self {
        Self {
            frames_per_node: (0..8).map(crate::mem::free_frames_on).collect(),
            processes: crate::process::count(),
            threads: crate::task::live_threads(),
            ipc: crate::kipc::census(),
            endpoints: crate::kipc::endpoint_census().0,
            regions: crate::kipc::shm::census(),
        }
    }

    /// Counts until they equal `baseline` or `max_ticks` timer ticks of
    /// this CPU pass (processes end on their own CPUs meanwhile); returns
    /// the last count.
    pub fn settle_to(baseline: &Self, max_ticks: u64) -> Self {
        let start = ticks();
        let mut now = Self::take();
        while now != *baseline && ticks() - start < max_ticks {
            pause();
            now = Self::take();
        }
        now
    }
}

/// This CPU's timer ticks.
pub fn ticks() -> u64 {
    crate::percpu::current().map_or(0, |c| c.timer_ticks.load(Ordering::Relaxed))
}

/// Idles this context until the next interrupt (the children run).
pub fn pause() {
    x86_64::instructions::interrupts::disable();
    crate::task::reschedule(sched::Decision::Reschedule);
    x86_64::instructions::interrupts::enable_and_hlt();
}
