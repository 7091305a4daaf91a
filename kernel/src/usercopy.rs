//! Copying to and from user memory, checked.
//!
//! Every access walks the caller's page tables first: the range must lie in
//! the user half, and every page must be present and user-accessible (and
//! writable, for writes). The copy then goes through the kernel's direct map
//! of the translated frames, so a bad pointer is an error status, never a
//! kernel fault.

use ipc::IpcError;
use x86_64::structures::paging::PageTableFlags as F;

use crate::mem::paging;

/// The end (exclusive) of user addresses.
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// The largest single copy the kernel accepts.
pub const MAX_COPY: usize = 1 << 20;

fn translate(pml4: u64, addr: u64, write: bool) -> Result<u64, IpcError> {
    // The flags in effect across every level: a region's shared leaf
    // tables allow writing, and a read-only mapping forbids it one level up.
    let (phys, flags) =
        crate::mem::usertables::translate(pml4, addr).ok_or(IpcError::BadAddress)?;
    let ok =
        flags.contains(F::PRESENT | F::USER_ACCESSIBLE) && (!write || flags.contains(F::WRITABLE));
    if ok {
        Ok(phys)
    } else {
        Err(IpcError::BadAddress)
    }
}

fn check_range(addr: u64, len: usize) -> Result<(), IpcError> {
    if len > MAX_COPY {
        return Err(IpcError::MessageTooLarge);
    }
    let end = addr.checked_add(len as u64).ok_or(IpcError::BadAddress)?;
    if end > USER_END {
        return Err(IpcError::BadAddress);
    }
    Ok(())
}

fn walk(
    pml4: u64,
    addr: u64,
    len: usize,
    write: bool,
    mut f: impl FnMut(*mut u8, usize, usize),
) -> Result<(), IpcError> {
    check_range(addr, len)?;
    // First pass: validate everything, so a failed copy changes nothing.
    let mut at = addr;
    while at < addr + len as u64 {
        translate(pml4, at, write)?;
        at = (at & !0xfff) + 4096;
    }
    let mut done = 0usize;
    while done < len {
        let va = addr + done as u64;
        let phys = translate(pml4, va, write)?;
        let chunk = (4096 - (va & 0xfff) as usize).min(len - done);
        f(paging::phys_to_virt(phys).as_mut_ptr::<u8>(), done, chunk);
        done += chunk;
    }
    Ok(())
}

/// Copies `buf.len()` bytes from user address `addr` of address space `pml4`.
///
/// # Errors
/// `BadAddress` for an unmapped, kernel or wrapping range; `MessageTooLarge`
/// beyond [`MAX_COPY`].
pub fn copy_from_user(pml4: u64, addr: u64, buf: &mut [u8]) -> Result<(), IpcError> {
    let len = buf.len();
    walk(pml4, addr, len, false, |src, off, n| {
        // SAFETY: `src` is the direct-map address of `n` validated user bytes;
        // `buf[off..off+n]` is in bounds.
        unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr().add(off), n) }
    })
}

/// Copies `buf` to user address `addr` of address space `pml4`.
///
/// # Errors
/// As [`copy_from_user`], plus `BadAddress` for read-only pages.
pub fn copy_to_user(pml4: u64, addr: u64, buf: &[u8]) -> Result<(), IpcError> {
    walk(pml4, addr, buf.len(), true, |dst, off, n| {
        // SAFETY: `dst` is the direct-map address of `n` validated writable
        // user bytes; `buf[off..off+n]` is in bounds.
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr().add(off), dst, n) }
    })
}
