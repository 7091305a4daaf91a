//! Interrupt-safe spin locks.
//!
//! Kernel code runs with interrupts enabled in a few places (the test and
//! benchmark drivers, idle loops), and the timer tick preempts it there. A
//! plain spin lock taken in such a place can be held across a preemption:
//! every CPU that then wants it spins with interrupts off, forever (seen as
//! a hang of both CPUs in `process::current_doomed`). [`RawIrqSpin`] disables
//! interrupts on this CPU before it spins and restores them after the
//! unlock, so a holder is never preempted.
//!
//! Written here because `spin`'s locks leave interrupts alone and no
//! well-kept crate offers an x86_64 interrupt-disabling `lock_api` mutex on
//! stable; `lock_api` supplies the guard types.

use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::interrupts;

/// A test-and-test-and-set spin lock that keeps interrupts off while held.
///
/// Nested locks must be released in reverse order (each restores the
/// interrupt state it found).
pub struct RawIrqSpin {
    locked: AtomicBool,
    /// Whether interrupts were on when the holder locked (written by the
    /// holder only).
    irq_was_enabled: AtomicBool,
}

// SAFETY: `lock` returns only once this CPU owns `locked` (an acquire swap
// that found it false, or an acquire CAS in `try_lock`), and
// `unlock` (release store) is only called by the owner, per the trait's
// contract; so at most one holder at a time.
unsafe impl lock_api::RawMutex for RawIrqSpin {
    #[allow(clippy::declare_interior_mutable_const)] // The trait's pattern.
    const INIT: Self = Self {
        locked: AtomicBool::new(false),
        irq_was_enabled: AtomicBool::new(false),
    };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        let was = interrupts::are_enabled();
        interrupts::disable();
        self.acquire();
        self.irq_was_enabled.store(was, Ordering::Relaxed);
    }

    fn try_lock(&self) -> bool {
        let was = interrupts::are_enabled();
        interrupts::disable();
        let got = self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if got {
            self.irq_was_enabled.store(was, Ordering::Relaxed);
        } else if was {
            interrupts::enable();
        }
        got
    }

    unsafe fn unlock(&self) {
        let was = self.irq_was_enabled.load(Ordering::Relaxed);
        self.release();
        if was {
            interrupts::enable();
        }
    }

    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

impl RawIrqSpin {
    /// Spins until this CPU owns the lock (interrupts off).
    #[inline(always)]
    fn acquire(&self) {
        // A swap rather than a compare-exchange (no expected-value register),
        // and the spinning out of line: an uncontended lock is four
        // instructions, with no jump over an inlined spin loop.
        if self.locked.swap(true, Ordering::Acquire) {
            self.acquire_contended();
        }
    }

    /// [`Self::acquire`] once the lock was found held: test-and-test-and-set.
    #[cold]
    #[inline(never)]
    fn acquire_contended(&self) {
        loop {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }

    /// Gives the lock up (its holder only), leaving interrupts as they are.
    #[inline(always)]
    fn release(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// A mutex whose holder cannot be interrupted (see the module docs).
pub type IrqMutex<T> = lock_api::Mutex<RawIrqSpin, T>;

/// Locks `mutex` where interrupts are already off (a system call: SFMASK
/// clears IF), so that neither the lock nor the unlock reads or changes the
/// interrupt flag: the IPC fast path's lock.
#[inline(always)]
pub fn lock_irqs_off<T>(mutex: &IrqMutex<T>) -> IrqsOffGuard<'_, T> {
    debug_assert!(!interrupts::are_enabled(), "interrupts are on");
    // SAFETY: `raw` is only used to take the lock, which the guard below
    // then owns.
    unsafe { mutex.raw() }.acquire();
    IrqsOffGuard { mutex }
}

/// The holder of a lock taken by [`lock_irqs_off`]; unlocking leaves the
/// interrupt flag alone (one store, where a `lock_api` guard's unlock also
/// reads what the flag was).
pub struct IrqsOffGuard<'a, T> {
    mutex: &'a IrqMutex<T>,
}

impl<T> core::ops::Deref for IrqsOffGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see `lock_irqs_off`).
        unsafe { &*self.mutex.data_ptr() }
    }
}

impl<T> core::ops::DerefMut for IrqsOffGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the
        // only reference through it.
        unsafe { &mut *self.mutex.data_ptr() }
    }
}

impl<T> Drop for IrqsOffGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is only used to release the lock this guard holds.
        unsafe { self.mutex.raw() }.release();
    }
}
