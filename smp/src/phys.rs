//! Access to physical memory for the parsers: the [`PhysRead`] trait, and
//! (in tests) a fake physical memory made of byte vectors.

/// Read access to physical memory.
///
/// The kernel implements this over its direct map; host tests use a fake
/// memory built from byte vectors. Parsers never assume anything is mapped.
pub trait PhysRead {
    /// Returns the `len` bytes at physical address `phys`, or `None` when any
    /// of them is not mapped or the range wraps past `u64::MAX`.
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]>;
}

/// A fake physical memory for tests: a few byte vectors placed at physical
/// addresses. A read succeeds only if it lies entirely inside one of them.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct FakeMemory {
    chunks: std::vec::Vec<(u64, std::vec::Vec<u8>)>,
}

#[cfg(test)]
impl FakeMemory {
    /// Places `bytes` at physical address `phys`.
    pub(crate) fn place(&mut self, phys: u64, bytes: &[u8]) -> &mut Self {
        self.chunks.push((phys, bytes.to_vec()));
        self
    }
}

#[cfg(test)]
impl PhysRead for FakeMemory {
    fn read(&self, phys: u64, len: usize) -> Option<&[u8]> {
        self.chunks.iter().find_map(|(base, bytes)| {
            let offset = usize::try_from(phys.checked_sub(*base)?).ok()?;
            bytes.get(offset..offset.checked_add(len)?)
        })
    }
}
