//! Bringing every CPU online and keeping track of them: per-CPU data on the
//! CPU's node, APs started by INIT-SIPI-SIPI, the local APIC timer, and typed
//! IPIs through a lock-free per-CPU inbox.
//!
//! AP start-up does not depend on time passing on the other CPU: the BSP waits
//! for each AP by polling its `online` flag with TSC-based timeouts, which
//! advance even under `-icount` (the TSC counts the BSP's own instructions).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use spin::Once;

use crate::arch::x86_64::apic::{self, Apic, ApicMode};
use crate::arch::x86_64::trampoline::{self, TRAMPOLINE_PHYS, TrampolineParams};
use crate::arch::x86_64::{cpu, gdt, idt, tsc};
use crate::mem;
use crate::percpu::{self, CpuLocal, IrqGuard, MAX_CPUS, PerCpu};
use crate::trap;

/// A CPU to bring up, from the ACPI MADT (or just the BSP when there is none).
#[derive(Clone, Copy, Debug)]
pub struct CpuDesc {
    /// Local APIC id.
    pub apic_id: u32,
    /// NUMA node (from SRAT; 0 without one).
    pub node: u32,
}

/// A typed inter-processor message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiMessage {
    /// Answer with `Pong` to `from`.
    Ping {
        /// Sender's CPU index.
        from: u32,
        /// Sequence number, echoed back.
        seq: u64,
    },
    /// The answer to a `Ping`.
    Pong {
        /// Responder's CPU index.
        from: u32,
        /// The echoed sequence number.
        seq: u64,
    },
    /// Flush the TLB for the current shootdown request (see `mem::tlb`).
    TlbShootdown,
    /// Run the scheduler (a thread was posted to this CPU's inbox).
    Reschedule,
    /// Ping every other online CPU with sequence number `seq` (tests).
    PingAll {
        /// Sequence number for the pings.
        seq: u64,
    },
}

/// Per-CPU state that belongs to this module.
pub struct CpuState {
    /// The local APIC, only ever touched by its own CPU.
    pub apic: CpuLocal<Option<Apic>>,
    /// Incoming IPI messages (any CPU pushes, the owner drains).
    pub inbox: ArrayQueue<IpiMessage>,
    /// Pongs received (by sequence-number sum and count), for the IPI test.
    pub pongs: AtomicU64,
    /// Sum of the sequence numbers of pongs received.
    pub pong_seq_sum: AtomicU64,
}

/// Capacity of each CPU's IPI inbox.
const INBOX_CAPACITY: usize = 256;

static ONLINE: AtomicU32 = AtomicU32::new(0);
/// Bit `i` set once CPU `i` (below 64) is online.
static ONLINE_MASK: AtomicU64 = AtomicU64::new(0);

/// Marks `cpu` online (its flag and the mask shootdowns read).
fn mark_online(cpu: &PerCpu) {
    cpu.online.store(true, Ordering::Release);
    if cpu.index < 64 {
        ONLINE_MASK.fetch_or(1 << cpu.index, Ordering::AcqRel);
    }
}

/// Bitmask of online CPU indices (below 64).
pub fn online_mask() -> u64 {
    ONLINE_MASK.load(Ordering::Acquire)
}
static PRESENT: AtomicU32 = AtomicU32::new(0);
static MODE: Once<ApicMode> = Once::new();
static TSC_HZ: AtomicU64 = AtomicU64::new(1_000_000_000);
/// Timer period in TSC ticks (and in APIC ticks for one-shot mode, see below).
static TIMER_PERIOD_TSC: AtomicU64 = AtomicU64::new(0);
static TIMER_PERIOD_APIC: AtomicU32 = AtomicU32::new(0);

/// Timer interrupt frequency.
pub const TIMER_HZ: u64 = 100;

/// CPUs that completed bring-up.
pub fn online() -> u32 {
    ONLINE.load(Ordering::Acquire)
}

/// CPUs the firmware described (enabled in the MADT, capped at MAX_CPUS).
pub fn present() -> u32 {
    PRESENT.load(Ordering::Acquire)
}

impl CpuState {
    /// No APIC yet, an empty inbox.
    pub fn new() -> Self {
        Self {
            apic: CpuLocal::new(None),
            inbox: ArrayQueue::new(INBOX_CAPACITY),
            pongs: AtomicU64::new(0),
            pong_seq_sum: AtomicU64::new(0),
        }
    }
}

impl Default for CpuState {
    fn default() -> Self {
        Self::new()
    }
}

/// This module's state of CPU `index` (in its per-CPU data, once the CPU
/// registered it in its bring-up).
pub fn state(index: u32) -> Option<&'static CpuState> {
    percpu::of(index).map(|c| &c.cpu_state)
}

fn delay_tsc(ticks: u64) {
    let start = cpu::rdtsc_ordered();
    while cpu::rdtsc_ordered().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

fn us_to_tsc(us: u64) -> u64 {
    TSC_HZ.load(Ordering::Relaxed) / 1_000_000 * us
}

/// Allocates and installs this CPU's per-CPU data, enables its APIC and
/// starts its timer. Runs on every CPU (BSP first).
fn setup_this_cpu(
    percpu: &'static PerCpu,
    tss: *mut x86_64::structures::tss::TaskStateSegment,
) -> &'static PerCpu {
    PerCpu::install(percpu);
    {
        let _irq = IrqGuard::new();
        // SAFETY: `tss` is the TSS `gdt::load` loaded on this CPU; the
        // per-CPU data lives forever and is this CPU's; interrupts are off.
        unsafe { gdt::move_tss(tss, percpu.tss()) };
    }
    crate::arch::x86_64::entry::init_this_cpu();
    crate::arch::x86_64::fpu::init_fpu();
    let (pcid, invpcid) = crate::arch::x86_64::cpu::init_pcid();
    let protection = crate::arch::x86_64::cpu::init_protection();
    crate::arch::x86_64::cpu::init_pat();
    // The IPC fast path for this CPU's FPU and address-space switches.
    percpu.fast_dispatch.store(
        crate::syscall::select_fast_dispatch().cast_mut(),
        Ordering::Release,
    );
    if percpu.index == 0 {
        crate::kprintln!(
            "tlb: pcid={} invpcid={} ({} tags per CPU)",
            if pcid { "on" } else { "off" },
            if invpcid { "yes" } else { "no" },
            crate::mem::tlb::PCID_TAGS
        );
        let on_off = |on: bool| if on { "on" } else { "off (not in CPUID)" };
        crate::kprintln!(
            "cpu: smep={} smap={} umip={}",
            on_off(protection.smep),
            on_off(protection.smap),
            on_off(protection.umip)
        );
        let xsave = crate::arch::x86_64::fpu::xsave_on();
        crate::kprintln!(
            "fpu: {} (the IPC fast path's instance: xsave={xsave} pcid={pcid})",
            if xsave { "xsave" } else { "fxsave" },
        );
    }
    percpu::register(percpu);
    let mode = *MODE
        .get()
        .expect("APIC mode is set before any CPU is set up");
    let state = &percpu.cpu_state;
    let guard = IrqGuard::new();
    match Apic::enable(mode) {
        Ok(mut apic) => {
            arm_timer(&mut apic);
            state.apic.with(&guard, |slot| *slot = Some(apic));
        }
        Err(why) => crate::kprintln!(
            "warning: cpu {}: local APIC not enabled: {why}",
            percpu.index
        ),
    }
    percpu
}

fn arm_timer(apic: &mut Apic) {
    let period = TIMER_PERIOD_TSC.load(Ordering::Relaxed);
    apic.arm_timer(
        cpu::rdtsc_ordered().wrapping_add(period),
        TIMER_PERIOD_APIC.load(Ordering::Relaxed),
    );
}

fn with_apic<R>(f: impl FnOnce(&mut Apic) -> R) -> Option<R> {
    let guard = IrqGuard::new();
    let state = state(percpu::index())?;
    state.apic.with(&guard, |apic| apic.as_mut().map(f))
}

fn timer_interrupt(frame: &mut crate::arch::x86_64::idt::TrapFrame) {
    if let Some(me) = percpu::current() {
        me.timer_ticks.fetch_add(1, Ordering::Relaxed);
    }
    with_apic(|apic| {
        arm_timer(apic);
        apic.eoi();
    });
    crate::task::on_timer_tick();
    if frame.from_user() && crate::process::current_doomed() {
        crate::process::exit_current(crate::process::ExitReason::Killed);
    }
}

fn ipi_interrupt(_frame: &mut crate::arch::x86_64::idt::TrapFrame) {
    let me = percpu::index();
    if let Some(p) = percpu::current() {
        p.ipis.fetch_add(1, Ordering::Relaxed);
    }
    with_apic(|apic| apic.eoi());
    let Some(state) = state(me) else { return };
    while let Some(msg) = state.inbox.pop() {
        match msg {
            IpiMessage::Ping { from, seq } => {
                // A full inbox at the pinger is reported by `send` as an error;
                // the ping test counts pongs, so a lost one fails it loudly.
                let _ = send(from, IpiMessage::Pong { from: me, seq });
            }
            IpiMessage::Pong { seq, .. } => {
                state.pong_seq_sum.fetch_add(seq, Ordering::Relaxed);
                state.pongs.fetch_add(1, Ordering::Release);
            }
            IpiMessage::TlbShootdown => mem::tlb::handle_shootdown(),
            IpiMessage::Reschedule => crate::task::reschedule(sched::Decision::Reschedule),
            IpiMessage::PingAll { seq } => {
                for other in (0..online()).filter(|&c| c != me) {
                    let _ = send(other, IpiMessage::Ping { from: me, seq });
                }
            }
        }
    }
}

fn spurious_interrupt(_frame: &mut crate::arch::x86_64::idt::TrapFrame) {}

fn error_interrupt(_frame: &mut crate::arch::x86_64::idt::TrapFrame) {
    crate::kprintln!(
        "warning: local APIC error interrupt on cpu {}",
        percpu::index()
    );
    with_apic(|apic| apic.eoi());
}

/// Why an IPI could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiError {
    /// No such CPU (or not online).
    NoSuchCpu,
    /// The target's inbox is full; retry later.
    InboxFull,
    /// The sending CPU has no usable APIC.
    NoApic,
}

/// Queues `msg` in CPU `target`'s inbox and interrupts it.
///
/// # Errors
/// See [`IpiError`].
pub fn send(target: u32, msg: IpiMessage) -> Result<(), IpiError> {
    let st = state(target).ok_or(IpiError::NoSuchCpu)?;
    let dest = percpu::of(target).ok_or(IpiError::NoSuchCpu)?;
    st.inbox.push(msg).map_err(|_| IpiError::InboxFull)?;
    crate::arch::x86_64::cpu::wake_line_touch(target);
    with_apic(|apic| apic.send_ipi(dest.apic_id, apic::VECTOR_IPI)).ok_or(IpiError::NoApic)
}

/// Allocates a zeroed, node-local, 'static `T` (per-CPU structures).
fn alloc_on_node<T>(node: u32) -> &'static mut T {
    let bytes = core::mem::size_of::<T>().next_multiple_of(4096);
    let virt = mem::alloc_zeroed_on(node, bytes / 4096)
        .or_else(|| mem::alloc_zeroed_on(0, bytes / 4096))
        .expect("memory for per-CPU structures");
    // SAFETY: `virt` is a fresh, zeroed, page-aligned allocation of at least
    // size_of::<T>() bytes that is never freed; every T used here (PerCpu
    // before `new`, CpuTables) is valid when all-zero or is written before use.
    unsafe { &mut *virt.cast::<T>() }
}

/// Brings up the BSP's per-CPU data and APIC, then every AP in `cpus`
/// (the BSP is the entry whose APIC id matches ours). Returns the number of
/// CPUs online.
pub fn bring_up(
    cpus: &[CpuDesc],
    tsc_info: &tsc::TscInfo,
    xapic_virt: u64,
    bsp_tss: *mut x86_64::structures::tss::TaskStateSegment,
) -> u32 {
    TSC_HZ.store(tsc_info.hz, Ordering::Relaxed);
    let mode = *MODE.call_once(|| ApicMode::detect(xapic_virt));
    TIMER_PERIOD_TSC.store(tsc_info.hz / TIMER_HZ, Ordering::Relaxed);
    trap::register(apic::VECTOR_TIMER, timer_interrupt);
    trap::register(apic::VECTOR_IPI, ipi_interrupt);
    trap::register(apic::VECTOR_TLB, ipi_interrupt);
    trap::register(apic::VECTOR_ERROR, error_interrupt);
    trap::register(apic::VECTOR_SPURIOUS, spurious_interrupt);

    let present = cpus.len().min(MAX_CPUS) as u32;
    PRESENT.store(present.max(1), Ordering::Release);
    // The BSP: find our own APIC id (read before the per-CPU data exists).
    let bsp_apic_id = raw_cpuid::CpuId::new()
        .get_feature_info()
        .map_or(0, |f| u32::from(f.initial_local_apic_id()));
    let bsp_node = cpus
        .iter()
        .find(|c| c.apic_id == bsp_apic_id)
        .map_or(0, |c| c.node);
    let bsp = PerCpu::init(alloc_on_node::<PerCpu>(bsp_node), 0, bsp_apic_id, bsp_node);
    let bsp = setup_this_cpu(bsp, bsp_tss);
    if !mode.tsc_deadline {
        calibrate_apic_timer();
    }
    mark_online(bsp);
    ONLINE.store(1, Ordering::Release);
    x86_64::instructions::interrupts::enable();

    let (blob, params_off) = trampoline::blob();
    let tramp_virt = mem::paging::phys_to_virt(TRAMPOLINE_PHYS).as_mut_ptr::<u8>();
    // SAFETY: page 0x8000 lies in the first MiB, which the frame allocator
    // never hands out (reserved at boot); the blob is smaller than a page.
    unsafe { core::ptr::copy_nonoverlapping(blob.as_ptr(), tramp_virt, blob.len()) };
    let identity = mem::paging::map_identity_low_page(TRAMPOLINE_PHYS);

    let mut next_index = 1u32;
    for desc in cpus.iter().filter(|c| c.apic_id != bsp_apic_id) {
        if next_index as usize >= MAX_CPUS {
            crate::kprintln!("warning: more than {MAX_CPUS} CPUs; the rest stay offline");
            break;
        }
        // The AP loads these tables in `ap_entry`, then moves to the TSS
        // in its per-CPU data (`setup_this_cpu`).
        let tables = alloc_on_node::<gdt::CpuTables>(desc.node);
        let percpu = PerCpu::init(
            alloc_on_node::<PerCpu>(desc.node),
            next_index,
            desc.apic_id,
            desc.node,
        );
        let stack_pages = AP_STACK_SIZE / 4096;
        let stack = mem::alloc_zeroed_on(desc.node, stack_pages)
            .or_else(|| mem::alloc_zeroed_on(0, stack_pages))
            .expect("memory for an AP stack");
        let boot = Box::leak(Box::new(ApBoot { percpu, tables }));
        let params = TrampolineParams {
            cr3: mem::paging::kernel_pml4_phys(),
            stack_top: stack as u64 + AP_STACK_SIZE as u64,
            entry: ap_entry as *const () as u64,
            arg: boot as *mut ApBoot as u64,
        };
        // SAFETY: the parameter block lies inside the blob copied above; the
        // AP reads it only after the SIPI below.
        unsafe {
            tramp_virt
                .add(params_off)
                .cast::<TrampolineParams>()
                .write_volatile(params)
        };
        if start_ap(desc.apic_id, &percpu.online) {
            next_index += 1;
        } else {
            crate::kprintln!(
                "warning: CPU with APIC id {} did not come online",
                desc.apic_id
            );
        }
    }
    mem::paging::unmap_identity_low_page(identity);
    online()
}

/// Size of each AP's boot/kernel stack.
const AP_STACK_SIZE: usize = 64 * 1024 * crate::DEBUG_STACK_SCALE;

/// What the trampoline hands to [`ap_entry`].
struct ApBoot {
    percpu: &'static PerCpu,
    tables: *mut gdt::CpuTables,
}

/// INIT, then STARTUP twice if needed (Intel SDM 8.4.4.1), then wait for the AP
/// to report online.
fn start_ap(apic_id: u32, online: &core::sync::atomic::AtomicBool) -> bool {
    let page = (TRAMPOLINE_PHYS >> 12) as u8;
    with_apic(|a| a.send_init(apic_id));
    delay_tsc(us_to_tsc(10_000));
    for _ in 0..2 {
        with_apic(|a| a.send_sipi(apic_id, page));
        let start = cpu::rdtsc_ordered();
        while cpu::rdtsc_ordered().wrapping_sub(start) < us_to_tsc(200_000) {
            if online.load(Ordering::Acquire) {
                return true;
            }
            core::hint::spin_loop();
        }
    }
    // Last chance: slow emulators.
    let start = cpu::rdtsc_ordered();
    while cpu::rdtsc_ordered().wrapping_sub(start) < us_to_tsc(2_000_000) {
        if online.load(Ordering::Acquire) {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// The AP's first Rust code, called by the trampoline on the AP's own stack.
extern "C" fn ap_entry(arg: u64) -> ! {
    crate::arch::x86_64::percpu::early_init();
    // SAFETY: `arg` is the leaked ApBoot the BSP built for exactly this AP.
    let boot = unsafe { &*(arg as *const ApBoot) };
    // SAFETY: the tables were allocated for this AP alone, the BSP dropped its
    // reference after building ApBoot, and they live forever.
    let tables: &'static mut gdt::CpuTables = unsafe { &mut *boot.tables };
    let tss = gdt::load(tables);
    idt::load();
    let percpu = setup_this_cpu(boot.percpu, tss);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    mark_online(percpu);
    crate::task::idle_loop()
}

/// TSC ticks per second.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Measures the APIC timer's rate against the TSC for one-shot mode.
fn calibrate_apic_timer() {
    // Run the one-shot timer from a large count for 10 ms of TSC time.
    let start_count = u32::MAX;
    with_apic(|a| a.arm_timer(0, start_count));
    delay_tsc(us_to_tsc(10_000));
    let remaining = with_apic(|a| a.timer_current()).unwrap_or(start_count);
    let per_10ms = u64::from(start_count - remaining).max(1);
    let per_period = per_10ms * 100 / TIMER_HZ;
    TIMER_PERIOD_APIC.store(
        per_period.min(u64::from(u32::MAX)) as u32,
        Ordering::Relaxed,
    );
    with_apic(|a| a.arm_timer(0, TIMER_PERIOD_APIC.load(Ordering::Relaxed)));
}

/// Waits (polling, interrupts on) until `done()` or `max_us` of TSC time.
fn wait_until(max_us: u64, mut done: impl FnMut() -> bool) -> bool {
    let start = cpu::rdtsc_ordered();
    while cpu::rdtsc_ordered().wrapping_sub(start) < us_to_tsc(max_us) {
        if done() {
            return true;
        }
        x86_64::instructions::interrupts::enable();
        core::hint::spin_loop();
    }
    done()
}

crate::ktest! {
    /// Every CPU the MADT lists came online, with its APIC id and node.
    fn all_cpus_online() {
        crate::kensure!(online() == present(), "{} of {} CPUs online", online(), present());
        for i in 0..online() {
            let Some(c) = percpu::of(i) else { return Err(alloc::format!("cpu {i} not registered")) };
            crate::kensure!(c.online.load(Ordering::Acquire), "cpu {i} not marked online");
            crate::kprintln!("  cpu{} apic_id={} node={}", c.index, c.apic_id, c.node);
        }
        Ok(())
    }
}

crate::ktest! {
    /// Every CPU pings every other CPU by IPI and gets every pong back.
    fn ipi_round_trip_all_pairs() {
        let n = online();
        let before: alloc::vec::Vec<(u64, u64)> = (0..n)
            .map(|i| state(i).map_or((0, 0), |s| (s.pongs.load(Ordering::Acquire), s.pong_seq_sum.load(Ordering::Acquire))))
            .collect();
        const SEQ: u64 = 7;
        for i in 0..n {
            if i == percpu::index() {
                for other in (0..n).filter(|&c| c != i) {
                    send(other, IpiMessage::Ping { from: i, seq: SEQ }).map_err(|e| alloc::format!("{e:?}"))?;
                }
            } else {
                send(i, IpiMessage::PingAll { seq: SEQ }).map_err(|e| alloc::format!("{e:?}"))?;
            }
        }
        let expected = u64::from(n.saturating_sub(1));
        let all_back = wait_until(5_000_000, || {
            (0..n).all(|i| state(i).is_some_and(|s| s.pongs.load(Ordering::Acquire) - before[i as usize].0 == expected))
        });
        for i in 0..n {
            let s = state(i).ok_or("missing cpu state")?;
            let got = s.pongs.load(Ordering::Acquire) - before[i as usize].0;
            let seq_sum = s.pong_seq_sum.load(Ordering::Acquire) - before[i as usize].1;
            crate::kensure!(got == expected, "cpu {i}: {got} of {expected} pongs (all_back={all_back})");
            crate::kensure!(seq_sum == expected * SEQ, "cpu {i}: pong sequence numbers do not add up");
        }
        Ok(())
    }
}

crate::ktest! {
    /// A TLB shootdown reaches (and is acknowledged by) every other CPU.
    fn tlb_shootdown_reaches_all() {
        let n = online();
        let me = percpu::index();
        let before: alloc::vec::Vec<u64> = (0..n).map(|i| mem::tlb::HANDLED[i as usize].load(Ordering::Acquire)).collect();
        mem::tlb::shootdown(x86_64::VirtAddr::new(0xffff_ff80_0000_0000), 4, u64::MAX);
        for i in (0..n).filter(|&i| i != me) {
            let got = mem::tlb::HANDLED[i as usize].load(Ordering::Acquire) - before[i as usize];
            crate::kensure!(got == 1, "cpu {i} handled {got} shootdowns, expected 1");
        }
        Ok(())
    }
}

crate::ktest! {
    /// The local APIC timer interrupts every online CPU.
    fn timer_ticks_on_every_cpu() {
        let n = online();
        let before: alloc::vec::Vec<u64> = (0..n)
            .map(|i| percpu::of(i).map_or(0, |c| c.timer_ticks.load(Ordering::Acquire)))
            .collect();
        let ok = wait_until(10_000_000, || {
            (0..n).all(|i| percpu::of(i).is_some_and(|c| c.timer_ticks.load(Ordering::Acquire) >= before[i as usize] + 2))
        });
        for i in 0..n {
            let now = percpu::of(i).map_or(0, |c| c.timer_ticks.load(Ordering::Acquire));
            crate::kensure!(now >= before[i as usize] + 2, "cpu {i}: {} timer ticks in the wait (ok={ok})", now - before[i as usize]);
        }
        Ok(())
    }
}
