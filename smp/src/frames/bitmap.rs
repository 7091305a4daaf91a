//! [`FrameBitmap`]: a frame allocator for one contiguous physical range, one
//! bit per frame, the bitmap storage supplied by the caller (the kernel carves
//! it out of the range itself, before any heap exists).
//!
//! A set bit means the frame is free, so a search is "first non-zero word,
//! then `trailing_zeros`". Single-frame allocation starts at a hint (the word
//! of the last allocation or free), which makes it O(1) in the common case and
//! O(words) at worst.

use super::{FRAME_SIZE, FrameError, PhysFrame};

/// Bits per bitmap word.
const WORD_BITS: usize = 64;

/// The free/used state of every frame in `[base, base + frames * FRAME_SIZE)`.
#[derive(Debug)]
pub struct FrameBitmap<'a> {
    /// Address of frame 0.
    base: u64,
    /// Number of frames managed.
    frames: usize,
    /// Bit `i` of word `w` set = frame `64 * w + i` is free. Exactly
    /// [`FrameBitmap::words_needed`] words; bits past `frames` stay clear.
    free_bits: &'a mut [u64],
    /// Number of set bits.
    free: usize,
    /// The word where the next single-frame search starts.
    hint: usize,
}

impl<'a> FrameBitmap<'a> {
    /// The number of `u64` words the bitmap for `frames` frames needs.
    #[must_use]
    pub const fn words_needed(frames: usize) -> usize {
        frames.div_ceil(WORD_BITS)
    }

    /// An allocator for `frames` frames from `base`, all free, keeping its
    /// bitmap in `storage` (extra words are left untouched).
    ///
    /// # Errors
    /// [`FrameError::Misaligned`] if `base` is not frame-aligned,
    /// [`FrameError::RangeOverflow`] if the range passes `u64::MAX`,
    /// [`FrameError::StorageTooSmall`] if `storage` is shorter than
    /// [`FrameBitmap::words_needed`].
    pub fn new(base: u64, frames: usize, storage: &'a mut [u64]) -> Result<Self, FrameError> {
        if !base.is_multiple_of(FRAME_SIZE) {
            return Err(FrameError::Misaligned { addr: base });
        }
        (frames as u64)
            .checked_mul(FRAME_SIZE)
            .and_then(|len| base.checked_add(len))
            .ok_or(FrameError::RangeOverflow)?;
        let needed = Self::words_needed(frames);
        let given = storage.len();
        let free_bits = storage
            .get_mut(..needed)
            .ok_or(FrameError::StorageTooSmall { needed, given })?;
        free_bits.fill(u64::MAX);
        if let Some(last) = free_bits.last_mut()
            && !frames.is_multiple_of(WORD_BITS)
        {
            *last = (1u64 << (frames % WORD_BITS)) - 1;
        }
        Ok(Self {
            base,
            frames,
            free_bits,
            free: frames,
            hint: 0,
        })
    }

    /// Marks every frame overlapping `[start, start + len)` (clipped to this
    /// range) as used, e.g. the frames holding this bitmap. Returns how many
    /// frames were free before.
    pub fn mark_used(&mut self, start: u64, len: u64) -> usize {
        let end = start.saturating_add(len).min(self.end());
        let start = start.max(self.base);
        if start >= end {
            return 0;
        }
        let first = ((start - self.base) / FRAME_SIZE) as usize;
        let last = (end - self.base).div_ceil(FRAME_SIZE) as usize;
        let mut newly_used = 0;
        for index in first..last {
            if self.is_free_index(index) {
                self.set_used(index);
                newly_used += 1;
            }
        }
        self.free -= newly_used;
        newly_used
    }

    /// Allocates one frame.
    ///
    /// # Errors
    /// [`FrameError::Exhausted`] when no frame is free.
    pub fn alloc(&mut self) -> Result<PhysFrame, FrameError> {
        if self.free == 0 {
            return Err(FrameError::Exhausted);
        }
        let words = self.free_bits.len();
        for step in 0..words {
            let word = (self.hint + step) % words;
            let bits = self.free_bits[word];
            if bits != 0 {
                self.free_bits[word] = bits & (bits - 1);
                self.free -= 1;
                self.hint = word;
                return Ok(self.frame_at(word * WORD_BITS + bits.trailing_zeros() as usize));
            }
        }
        Err(FrameError::Exhausted)
    }

    /// Allocates `count` physically contiguous frames whose first frame's
    /// address is a multiple of `align` (a power of two; anything up to
    /// [`FRAME_SIZE`] means frame alignment). First fit, from the low end.
    ///
    /// # Errors
    /// [`FrameError::ZeroCount`], [`FrameError::BadAlignment`], or
    /// [`FrameError::Exhausted`] when no such run is free.
    pub fn alloc_contiguous(&mut self, count: usize, align: u64) -> Result<PhysFrame, FrameError> {
        if count == 0 {
            return Err(FrameError::ZeroCount);
        }
        if !align.is_power_of_two() {
            return Err(FrameError::BadAlignment { align });
        }
        let align = align.max(FRAME_SIZE);
        if count > self.free {
            return Err(FrameError::Exhausted);
        }
        let first_aligned = self
            .base
            .checked_next_multiple_of(align)
            .ok_or(FrameError::Exhausted)?;
        // Candidate starts are `start + k * step` frames; work in u64 so a huge
        // alignment cannot overflow, and stop once a run would pass the end.
        let step = align / FRAME_SIZE;
        let mut start = (first_aligned - self.base) / FRAME_SIZE;
        loop {
            let end = start
                .checked_add(count as u64)
                .ok_or(FrameError::Exhausted)?;
            if end > self.frames as u64 {
                return Err(FrameError::Exhausted);
            }
            let (start_index, end_index) = (start as usize, end as usize);
            let Some(used) = self.first_in(start_index, end_index, false) else {
                for index in start_index..end_index {
                    self.set_used(index);
                }
                self.free -= count;
                return Ok(self.frame_at(start_index));
            };
            // Skip past the used frame to the next free one, then up to the
            // next candidate start.
            let next_free = self
                .first_in(used + 1, self.frames, true)
                .ok_or(FrameError::Exhausted)?;
            start += (next_free as u64 - start).div_ceil(step) * step;
        }
    }

    /// Frees `frame`.
    ///
    /// # Errors
    /// [`FrameError::OutOfRange`] if the frame is not in this range,
    /// [`FrameError::DoubleFree`] if it is already free.
    pub fn free(&mut self, frame: PhysFrame) -> Result<(), FrameError> {
        let index = self.index_of(frame)?;
        if self.is_free_index(index) {
            return Err(FrameError::DoubleFree { addr: frame.addr() });
        }
        self.set_free(index);
        self.free += 1;
        self.hint = index / WORD_BITS;
        Ok(())
    }

    /// Frees `count` contiguous frames from `first`; frees nothing unless all
    /// of them are in range and allocated.
    ///
    /// # Errors
    /// [`FrameError::ZeroCount`], [`FrameError::OutOfRange`] if any frame is
    /// outside this range, [`FrameError::DoubleFree`] naming the first frame
    /// that is already free.
    pub fn free_contiguous(&mut self, first: PhysFrame, count: usize) -> Result<(), FrameError> {
        if count == 0 {
            return Err(FrameError::ZeroCount);
        }
        let start = self.index_of(first)?;
        // The run leaving the range is reported by the first frame past its end.
        let past_end = FrameError::OutOfRange { addr: self.end() };
        let end = start
            .checked_add(count)
            .filter(|end| *end <= self.frames)
            .ok_or(past_end)?;
        if let Some(already_free) = self.first_in(start, end, true) {
            return Err(FrameError::DoubleFree {
                addr: self.frame_at(already_free).addr(),
            });
        }
        for index in start..end {
            self.set_free(index);
        }
        self.free += count;
        self.hint = start / WORD_BITS;
        Ok(())
    }

    /// Whether `frame` is in range and free.
    #[must_use]
    pub fn is_free(&self, frame: PhysFrame) -> bool {
        self.index_of(frame)
            .is_ok_and(|index| self.is_free_index(index))
    }

    /// Whether `frame` lies in this allocator's range.
    #[must_use]
    pub fn contains(&self, frame: PhysFrame) -> bool {
        self.index_of(frame).is_ok()
    }

    /// The number of free frames.
    #[must_use]
    pub const fn free_frames(&self) -> usize {
        self.free
    }

    /// The number of frames managed.
    #[must_use]
    pub const fn total_frames(&self) -> usize {
        self.frames
    }

    /// The address of the first frame.
    #[must_use]
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// One past the last byte managed.
    #[must_use]
    pub const fn end(&self) -> u64 {
        // Cannot overflow: checked in `new`.
        self.base + self.frames as u64 * FRAME_SIZE
    }

    fn index_of(&self, frame: PhysFrame) -> Result<usize, FrameError> {
        let addr = frame.addr();
        if addr < self.base || addr >= self.end() {
            return Err(FrameError::OutOfRange { addr });
        }
        Ok(((addr - self.base) / FRAME_SIZE) as usize)
    }

    const fn frame_at(&self, index: usize) -> PhysFrame {
        PhysFrame::containing(self.base + index as u64 * FRAME_SIZE)
    }

    fn is_free_index(&self, index: usize) -> bool {
        self.free_bits[index / WORD_BITS] & (1 << (index % WORD_BITS)) != 0
    }

    fn set_free(&mut self, index: usize) {
        self.free_bits[index / WORD_BITS] |= 1 << (index % WORD_BITS);
    }

    fn set_used(&mut self, index: usize) {
        self.free_bits[index / WORD_BITS] &= !(1 << (index % WORD_BITS));
    }

    /// The first frame index in `[start, end)` that is free (`want_free`) or
    /// used (`!want_free`), scanning a word at a time.
    fn first_in(&self, start: usize, end: usize, want_free: bool) -> Option<usize> {
        let mut index = start;
        while index < end {
            let word = index / WORD_BITS;
            let low = index % WORD_BITS;
            let high = (end - word * WORD_BITS).min(WORD_BITS);
            let in_range = (u64::MAX >> (WORD_BITS - (high - low))) << low;
            let bits = if want_free {
                self.free_bits[word]
            } else {
                !self.free_bits[word]
            };
            let hits = bits & in_range;
            if hits != 0 {
                return Some(word * WORD_BITS + hits.trailing_zeros() as usize);
            }
            index = (word + 1) * WORD_BITS;
        }
        None
    }
}
