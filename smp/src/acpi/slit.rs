//! The SLIT (System Locality Information Table): the relative distance between
//! every pair of proximity domains (localities).
//!
//! ```text
//! header 36 | 36 locality_count u64 | 44 distances [u8; count * count], row-major
//! ```
//! Validation: the table is exactly `44 + count²` bytes, a locality's distance
//! to itself is 10, and no distance is below 10 (0-9 are reserved; 255 means
//! unreachable and is kept as is).

use super::{AcpiError, Sdt, Signature};
use crate::bytes::u64_at;

/// Offset of the distance matrix.
const MATRIX_OFFSET: usize = 44;
/// The distance of a locality to itself.
const LOCAL: u8 = 10;

/// A validated SLIT.
#[derive(Clone, Copy, Debug)]
pub struct Slit<'a> {
    count: u32,
    matrix: &'a [u8],
}

impl<'a> Slit<'a> {
    /// The most localities accepted (a 256 × 256 matrix is 64 KiB).
    pub const MAX_LOCALITIES: u64 = 256;

    /// Validates `bytes` as a SLIT.
    ///
    /// # Errors
    /// Any error of [`Sdt::parse`]; [`AcpiError::Truncated`] when the count
    /// field is missing; [`AcpiError::BadLocalityCount`] when the count is
    /// above [`Slit::MAX_LOCALITIES`] or the matrix does not fill the table
    /// exactly; [`AcpiError::BadDistance`] for a bad diagonal or reserved value.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AcpiError> {
        Self::from_sdt(Sdt::parse(bytes, Some(Signature::SLIT))?)
    }

    /// The SLIT in an already validated table.
    ///
    /// # Errors
    /// As [`Slit::parse`], plus [`AcpiError::WrongSignature`].
    pub fn from_sdt(sdt: Sdt<'a>) -> Result<Self, AcpiError> {
        let found = sdt.header().signature;
        if found != Signature::SLIT {
            return Err(AcpiError::WrongSignature {
                expected: Signature::SLIT,
                found,
            });
        }
        let bytes = sdt.bytes();
        let count = u64_at(bytes, 36).ok_or(AcpiError::Truncated {
            table: found,
            needed: MATRIX_OFFSET,
            present: bytes.len(),
        })?;
        let matrix = bytes.get(MATRIX_OFFSET..).unwrap_or_default();
        if count > Self::MAX_LOCALITIES || matrix.len() as u64 != count * count {
            return Err(AcpiError::BadLocalityCount { count });
        }
        // Cannot truncate: at most MAX_LOCALITIES.
        let count = count as u32;
        for (index, distance) in matrix.iter().enumerate() {
            let (from, to) = (index as u32 / count, index as u32 % count);
            if (from == to && *distance != LOCAL) || *distance < LOCAL {
                return Err(AcpiError::BadDistance {
                    from,
                    to,
                    distance: *distance,
                });
            }
        }
        Ok(Self { count, matrix })
    }

    /// The number of localities.
    #[must_use]
    pub const fn locality_count(&self) -> u32 {
        self.count
    }

    /// The distance from locality `from` to `to`, or `None` when either is
    /// beyond the locality count.
    #[must_use]
    pub fn distance(&self, from: u32, to: u32) -> Option<u8> {
        if from >= self.count || to >= self.count {
            return None;
        }
        self.matrix
            .get(from as usize * self.count as usize + to as usize)
            .copied()
    }
}
