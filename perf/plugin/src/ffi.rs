//! The QEMU 7.2 plugin API (`include/qemu/qemu-plugin.h`,
//! `QEMU_PLUGIN_VERSION` 1), the few functions this plugin uses, and the
//! callbacks. Every callback locks the one [`Counter`]: under `-icount`
//! QEMU runs every vCPU on one thread, so the lock is never contended and
//! the order of events is the emulation's.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io::Write;
use std::sync::Mutex;

use perf::marker::Kind;

use crate::counter::{Counter, Options};
use crate::decode::{Special, classify};

type PluginId = u64;
type MemInfo = u32;

#[repr(C)]
struct Tb {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Insn {
    _opaque: [u8; 0],
}
#[repr(C)]
struct HwAddr {
    _opaque: [u8; 0],
}

/// `qemu_info_t`.
#[repr(C)]
pub struct QemuInfo {
    target_name: *const c_char,
    version_min: c_int,
    version_cur: c_int,
    system_emulation: bool,
    smp_vcpus: c_int,
    max_vcpus: c_int,
}

/// `enum qemu_plugin_cb_flags`: QEMU_PLUGIN_CB_NO_REGS.
const CB_NO_REGS: c_int = 0;
/// `enum qemu_plugin_mem_rw`: QEMU_PLUGIN_MEM_RW.
const MEM_RW: c_int = 3;
/// `enum qemu_plugin_op`: QEMU_PLUGIN_INLINE_ADD_U64.
const INLINE_ADD_U64: c_int = 0;

type TbTransCb = extern "C" fn(PluginId, *mut Tb);
type VcpuUdataCb = extern "C" fn(c_uint, *mut c_void);
type MemCb = extern "C" fn(c_uint, MemInfo, u64, *mut c_void);
type UdataCb = extern "C" fn(PluginId, *mut c_void);

unsafe extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(id: PluginId, cb: TbTransCb);
    fn qemu_plugin_register_vcpu_tb_exec_cb(
        tb: *mut Tb,
        cb: VcpuUdataCb,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_vcpu_insn_exec_cb(
        insn: *mut Insn,
        cb: VcpuUdataCb,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_vcpu_insn_exec_inline(
        insn: *mut Insn,
        op: c_int,
        ptr: *mut c_void,
        imm: u64,
    );
    fn qemu_plugin_register_vcpu_mem_cb(
        insn: *mut Insn,
        cb: MemCb,
        flags: c_int,
        rw: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_atexit_cb(id: PluginId, cb: UdataCb, userdata: *mut c_void);
    fn qemu_plugin_tb_n_insns(tb: *const Tb) -> usize;
    fn qemu_plugin_tb_get_insn(tb: *const Tb, idx: usize) -> *mut Insn;
    fn qemu_plugin_insn_data(insn: *const Insn) -> *const c_void;
    fn qemu_plugin_insn_size(insn: *const Insn) -> usize;
    fn qemu_plugin_insn_vaddr(insn: *const Insn) -> u64;
    fn qemu_plugin_mem_size_shift(info: MemInfo) -> c_uint;
    fn qemu_plugin_mem_is_store(info: MemInfo) -> bool;
    fn qemu_plugin_get_hwaddr(info: MemInfo, vaddr: u64) -> *mut HwAddr;
    fn qemu_plugin_hwaddr_is_io(haddr: *const HwAddr) -> bool;
    fn qemu_plugin_hwaddr_phys_addr(haddr: *const HwAddr) -> u64;
    fn qemu_plugin_outs(string: *const c_char);
}

/// The API version this plugin was written against (QEMU 7.2's).
#[unsafe(no_mangle)]
pub static qemu_plugin_version: c_int = 1;

static COUNTER: Mutex<Option<Counter>> = Mutex::new(None);

/// Instructions executed (markers excluded), by every vCPU: QEMU's inline
/// add before each instrumented instruction writes it directly. Under
/// `-icount` one thread runs every vCPU, so the plain adds never race.
struct Executed(UnsafeCell<u64>);

// SAFETY: written only by QEMU's generated code and read by the callbacks,
// all on QEMU's one vCPU thread under -icount (see the module doc).
unsafe impl Sync for Executed {}

static EXECUTED: Executed = Executed(UnsafeCell::new(0));

fn executed() -> u64 {
    // SAFETY: a plain read of the counter on the thread that writes it.
    unsafe { EXECUTED.0.get().read_volatile() }
}

fn outs(message: &str) {
    if let Ok(c) = CString::new(message) {
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        unsafe { qemu_plugin_outs(c.as_ptr()) };
    }
}

fn with<R>(f: impl FnOnce(&mut Counter) -> R) -> Option<R> {
    let mut guard = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_mut().map(f)
}

fn append(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let Some(path) = with(|c| c.options().out.clone()) else {
        return;
    };
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = result {
        outs(&format!("veridian-model: cannot write {path}: {e}\n"));
    }
}

/// What a block's start-of-block callback needs.
struct BlockInfo {
    vector: Option<u64>,
}

/// What a marker's callback needs.
struct MarkerInfo {
    kind: Kind,
    arg: u32,
}

/// What an event instruction's callback needs.
struct SpecialInfo {
    special: Special,
    msr: Option<u32>,
}

/// Hands `value` to QEMU as callback data for the rest of the run (a
/// translation lives until QEMU flushes its code cache, and no callback
/// says when: the few bytes per block are never freed).
fn leak<T>(value: T) -> *mut c_void {
    Box::into_raw(Box::new(value)).cast()
}

extern "C" fn on_block(vcpu: c_uint, data: *mut c_void) {
    // SAFETY: `data` is a leaked `BlockInfo` (see `on_translate`), never freed.
    let info = unsafe { &*data.cast::<BlockInfo>() };
    with(|c| c.block(vcpu, executed(), info.vector));
}

extern "C" fn on_marker(vcpu: c_uint, data: *mut c_void) {
    // SAFETY: `data` is a leaked `MarkerInfo`, never freed.
    let info = unsafe { &*data.cast::<MarkerInfo>() };
    let lines = with(|c| c.marker(vcpu, executed(), info.kind, info.arg)).unwrap_or_default();
    append(&lines);
}

extern "C" fn on_special(vcpu: c_uint, data: *mut c_void) {
    // SAFETY: `data` is a leaked `SpecialInfo`, never freed.
    let info = unsafe { &*data.cast::<SpecialInfo>() };
    with(|c| c.special(vcpu, info.special, info.msr));
}

extern "C" fn on_instruction(_vcpu: c_uint, data: *mut c_void) {
    // The data is the instruction's address itself, not a pointer.
    with(|c| c.instruction(data as u64));
}

extern "C" fn on_memory(vcpu: c_uint, info: MemInfo, vaddr: u64, data: *mut c_void) {
    let mut guard = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(counter) = guard.as_mut() else {
        return;
    };
    if !counter.wants_access() {
        return;
    }
    // SAFETY: QEMU allows these queries inside a memory callback, for the
    // `info` and `vaddr` it passed; a null handle (no translation) is
    // checked before use.
    let (phys, io, size, store) = unsafe {
        let hw = qemu_plugin_get_hwaddr(info, vaddr);
        if hw.is_null() {
            return;
        }
        (
            qemu_plugin_hwaddr_phys_addr(hw),
            qemu_plugin_hwaddr_is_io(hw),
            1u64 << qemu_plugin_mem_size_shift(info),
            qemu_plugin_mem_is_store(info),
        )
    };
    counter.memory(vcpu, data as u64, phys, io, size, store);
}

extern "C" fn on_exit(_id: PluginId, _data: *mut c_void) {
    // Windows are written as they close; an open one at exit is dropped
    // (its benchmark did not finish).
    let mut guard = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    *guard = None;
}

extern "C" fn on_translate(_id: PluginId, tb: *mut Tb) {
    let Some((profile, stubs)) = with(|c| {
        let o = c.options();
        (o.profile.is_some(), o.irq_stubs)
    }) else {
        return;
    };
    // SAFETY: `tb` is the block QEMU is translating; its instruction handles
    // and their bytes are valid during this callback, and callbacks
    // registered here with leaked (never freed) data stay valid.
    unsafe {
        let n = qemu_plugin_tb_n_insns(tb);
        let mut insns = Vec::with_capacity(n);
        for i in 0..n {
            let insn = qemu_plugin_tb_get_insn(tb, i);
            let size = qemu_plugin_insn_size(insn);
            let data = qemu_plugin_insn_data(insn).cast::<u8>();
            let bytes = if data.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(data, size)
            };
            insns.push((insn, classify(bytes), qemu_plugin_insn_vaddr(insn)));
        }
        let vector = match (stubs, insns.first()) {
            (Some((start, len)), Some(&(_, _, pc))) if pc >= start && pc - start < len => {
                Some((pc - start) / 16)
            }
            _ => None,
        };
        let block = leak(BlockInfo { vector });
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, CB_NO_REGS, block);
        let mut msr = None;
        for &(insn, special, pc) in &insns {
            match special {
                Special::Marker(kind, arg) => {
                    let data = leak(MarkerInfo { kind, arg });
                    qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, CB_NO_REGS, data);
                    continue;
                }
                Special::MovEcx(value) => msr = Some(value),
                Special::None => {}
                _ => {
                    let data = leak(SpecialInfo { special, msr });
                    qemu_plugin_register_vcpu_insn_exec_cb(insn, on_special, CB_NO_REGS, data);
                }
            }
            qemu_plugin_register_vcpu_insn_exec_inline(
                insn,
                INLINE_ADD_U64,
                EXECUTED.0.get().cast(),
                1,
            );
            if profile {
                qemu_plugin_register_vcpu_insn_exec_cb(
                    insn,
                    on_instruction,
                    CB_NO_REGS,
                    pc as *mut c_void,
                );
            }
            qemu_plugin_register_vcpu_mem_cb(
                insn,
                on_memory,
                CB_NO_REGS,
                MEM_RW,
                pc as *mut c_void,
            );
        }
    }
}

/// QEMU's entry point: parses the arguments, builds the model and
/// registers the translation callback. Returns non-zero (QEMU then stops
/// with the printed reason) on a bad argument.
///
/// # Safety
/// Called by QEMU with a valid `info` and `argc` NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qemu_plugin_install(
    id: PluginId,
    info: *const QemuInfo,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    let mut args = Vec::new();
    for i in 0..usize::try_from(argc).unwrap_or(0) {
        // SAFETY: QEMU passes `argc` valid NUL-terminated strings.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        args.push(arg.to_string_lossy().into_owned());
    }
    // SAFETY: `info` is valid for the duration of this call.
    let vcpus = unsafe {
        info.as_ref()
            .filter(|i| i.system_emulation)
            .map_or(1, |i| i.max_vcpus.max(i.smp_vcpus).max(1) as usize)
    };
    let counter =
        Options::parse(args.iter().map(String::as_str)).and_then(|opts| Counter::new(opts, vcpus));
    match counter {
        Ok(counter) => {
            // A fresh output file per run: windows are appended as they close.
            if let Err(e) = std::fs::write(&counter.options().out, "") {
                outs(&format!(
                    "veridian-model: cannot create {}: {e}\n",
                    counter.options().out
                ));
                return 1;
            }
            *COUNTER.lock().unwrap_or_else(|e| e.into_inner()) = Some(counter);
            // SAFETY: registering callbacks with this plugin's id.
            unsafe {
                qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
                qemu_plugin_register_atexit_cb(id, on_exit, std::ptr::null_mut());
            }
            0
        }
        Err(e) => {
            outs(&format!("veridian-model: {e}\n"));
            1
        }
    }
}
