//! Per-CPU GDT and TSS, with IST stacks for the faults that must never run on a
//! possibly broken stack (#DF, NMI, #MC).
//!
//! Selector layout (fixed by SYSCALL/SYSRET, see `STAR`): 0x08 kernel code,
//! 0x10 kernel data, 0x18 user data, 0x20 user code, 0x28 TSS.

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (1-based in the IDT, 0-based in the TSS array) for #DF.
pub const IST_DOUBLE_FAULT: u16 = 0;
/// IST slot for NMI.
pub const IST_NMI: u16 = 1;
/// IST slot for #MC.
pub const IST_MACHINE_CHECK: u16 = 2;
/// Size of each IST stack.
pub const IST_STACK_SIZE: usize = 16 * 1024 * crate::DEBUG_STACK_SCALE;

/// Kernel code selector.
pub const KERNEL_CS: SegmentSelector = SegmentSelector(0x08);
/// Kernel data selector.
pub const KERNEL_DS: SegmentSelector = SegmentSelector(0x10);
/// User data selector (RPL 3).
pub const USER_DS: SegmentSelector = SegmentSelector(0x18 | 3);
/// User code selector (RPL 3).
pub const USER_CS: SegmentSelector = SegmentSelector(0x20 | 3);

/// One IST stack.
#[repr(C, align(16))]
pub struct IstStack(pub [u8; IST_STACK_SIZE]);

/// Selector of the TSS descriptor (after the four segments).
pub const TSS_SELECTOR: SegmentSelector = SegmentSelector(0x28);

/// Everything one CPU's descriptor tables need; lives forever once loaded.
pub struct CpuTables {
    /// The GDT (kernel/user segments and this CPU's TSS).
    pub gdt: GlobalDescriptorTable,
    /// The TSS [`load`] loads, until [`move_tss`] moves this CPU to the one
    /// in its per-CPU data.
    pub tss: TaskStateSegment,
    /// Backing memory of the IST stacks.
    pub ist: [IstStack; 3],
}

impl CpuTables {
    /// An empty set of tables, for static storage.
    pub const fn new() -> Self {
        Self {
            gdt: GlobalDescriptorTable::new(),
            tss: TaskStateSegment::new(),
            ist: [
                IstStack([0; IST_STACK_SIZE]),
                IstStack([0; IST_STACK_SIZE]),
                IstStack([0; IST_STACK_SIZE]),
            ],
        }
    }
}

impl Default for CpuTables {
    fn default() -> Self {
        Self::new()
    }
}

/// Fills in `tables` and loads them on the calling CPU: GDT, segment registers
/// and the TSS.
pub fn load(tables: &'static mut CpuTables) -> *mut TaskStateSegment {
    for (i, stack) in tables.ist.iter().enumerate() {
        let top = VirtAddr::from_ptr(stack.0.as_ptr()) + IST_STACK_SIZE as u64;
        tables.tss.interrupt_stack_table[i] = top;
    }
    let tables: &'static CpuTables = {
        let gdt = &mut tables.gdt;
        *gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let udata = gdt.append(Descriptor::user_data_segment());
        let ucode = gdt.append(Descriptor::user_code_segment());
        debug_assert_eq!(code.0, KERNEL_CS.0);
        debug_assert_eq!(data.0, KERNEL_DS.0);
        debug_assert_eq!(udata.0, USER_DS.0);
        debug_assert_eq!(ucode.0, USER_CS.0);
        tables
    };
    // The TSS descriptor needs a 'static reference to the TSS, and the GDT
    // holding it must itself be 'static: split the borrow through a raw pointer.
    let tables_ptr = tables as *const CpuTables as *mut CpuTables;
    // SAFETY: `tables` is 'static and exclusively ours (it came in as `&'static
    // mut`); the GDT and TSS fields are disjoint, so taking `&'static` to the
    // TSS while mutating the GDT aliases nothing.
    let tss_sel = unsafe {
        let tss: &'static TaskStateSegment = &(*tables_ptr).tss;
        (*tables_ptr).gdt.append(Descriptor::tss_segment(tss))
    };
    debug_assert_eq!(tss_sel.0, TSS_SELECTOR.0);
    // SAFETY: as above; from here on the tables are only read (by the CPU).
    let tables: &'static CpuTables = unsafe { &*tables_ptr };
    tables.gdt.load();
    // SAFETY: the selectors index the GDT just loaded, whose descriptors are
    // valid 64-bit code/data segments and a TSS that lives forever.
    unsafe {
        CS::set_reg(KERNEL_CS);
        DS::set_reg(KERNEL_DS);
        ES::set_reg(KERNEL_DS);
        SS::set_reg(KERNEL_DS);
        load_tss(tss_sel);
    }
    // The kernel updates RSP0 on thread switches through this pointer; the CPU
    // reads the TSS only on privilege changes.
    core::ptr::addr_of!(tables.tss) as *mut TaskStateSegment
}

/// Moves this CPU from the TSS `from` (loaded by [`load`]) to `to`, which
/// gets the same IST stacks: the TSS descriptor of the loaded GDT is
/// rewritten to name `to` and the task register reloaded.
///
/// # Safety
/// `from` is the TSS [`load`] loaded on this CPU; `to` lives forever and is
/// used by this CPU alone; interrupts are off.
pub unsafe fn move_tss(from: *const TaskStateSegment, to: *mut TaskStateSegment) {
    // SAFETY: both TSSs live forever (the caller's contract); `from` is read
    // only, `to` is this CPU's alone.
    let to: &'static TaskStateSegment = unsafe {
        (*to).interrupt_stack_table = (*from).interrupt_stack_table;
        (*to).privilege_stack_table = (*from).privilege_stack_table;
        &*to
    };
    let Descriptor::SystemSegment(low, high) = Descriptor::tss_segment(to) else {
        unreachable!("a TSS descriptor is a system segment");
    };
    let gdt = x86_64::instructions::tables::sgdt()
        .base
        .as_mut_ptr::<u64>();
    let slot = usize::from(TSS_SELECTOR.index());
    // SAFETY: the loaded GDT is this CPU's (from `load`, living forever),
    // with its TSS descriptor, two entries, at `TSS_SELECTOR`; the new
    // descriptor is available (not busy), so `ltr` accepts it, and the CPU
    // keeps using the cached old one (still valid) until then.
    unsafe {
        gdt.add(slot).write_volatile(low);
        gdt.add(slot + 1).write_volatile(high);
        load_tss(TSS_SELECTOR);
    }
}
