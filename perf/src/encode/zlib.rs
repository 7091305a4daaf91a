//! A zlib stream (RFC 1950) whose DEFLATE data (RFC 1951) is made only of
//! stored (uncompressed) blocks, written on the fly into a [`ByteSink`].
//!
//! Not `miniz_oxide`, for three reasons:
//! - Its compressor (`deflate`, behind its `with-alloc` feature) keeps its
//!   state on the heap: `CompressorOxide` is 65,712 bytes itself (measured
//!   with `size_of_val` for 0.9.1) and boxes a 164,097-byte hash table
//!   and an 85,196-byte output buffer, over 300 KiB per stream. User
//!   programs print `@hist` records too (`kernel/user/src/bench.rs`), and
//!   their heap is 64 KiB (`kernel/user/src/lib.rs`).
//! - The compressed V2 form puts the zlib stream's length before the
//!   stream, so real compression would need the whole encoding in memory
//!   before its first byte leaves; stored blocks have a length known in
//!   advance ([`stored_stream_len`]), so the chain histogram -> V2 -> zlib
//!   -> base64 -> serial streams with no buffer.
//! - The payload is already compact (runs of empty slots collapse to one
//!   varint), so compression would save little; stored blocks cost 5 bytes
//!   per 64 KiB and need no state beyond the running Adler-32 (from the
//!   `adler2` crate, which `miniz_oxide` uses too).
//!
//! Every inflater reads stored blocks; the host tests decode these streams
//! with the `hdrhistogram` crate's deserializer (`tests/roundtrip.rs`).

use super::{ByteSink, EncodeError};

/// Largest stored block: its length field is 16 bits.
const MAX_STORED_BLOCK: usize = 0xffff;
/// CMF = 0x78 (deflate, 32 KiB window), FLG = 0x01 (no dictionary, fastest
/// level, FCHECK making `0x7801 % 31 == 0`).
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];
/// Bytes of a stored block header: BFINAL/BTYPE byte, LEN, NLEN.
const BLOCK_HEADER_LEN: usize = 5;
/// Bytes of the Adler-32 trailer.
const TRAILER_LEN: usize = 4;

const _: () = assert!(u16::from_be_bytes(ZLIB_HEADER).is_multiple_of(31));

/// Number of stored blocks for `content_len` bytes (at least one, which may
/// be empty).
const fn block_count(content_len: usize) -> usize {
    if content_len == 0 {
        1
    } else {
        content_len.div_ceil(MAX_STORED_BLOCK)
    }
}

/// Length of the whole zlib stream carrying `content_len` bytes.
#[must_use]
pub const fn stored_stream_len(content_len: usize) -> usize {
    ZLIB_HEADER.len() + block_count(content_len) * BLOCK_HEADER_LEN + content_len + TRAILER_LEN
}

/// Frames exactly `content_len` bytes written to it as a zlib stream of
/// stored blocks in the inner sink.
pub struct StoredZlibWriter<'s, S: ByteSink + ?Sized> {
    inner: &'s mut S,
    /// Content bytes not yet written.
    remaining_total: usize,
    /// Content bytes left in the block whose header was written last.
    remaining_in_block: usize,
    checksum: adler2::Adler32,
}

impl<'s, S: ByteSink + ?Sized> StoredZlibWriter<'s, S> {
    /// Writes the zlib header (and the first block header) for a stream of
    /// exactly `content_len` content bytes.
    ///
    /// # Errors
    ///
    /// Whatever `inner` reports.
    pub fn begin(inner: &'s mut S, content_len: usize) -> Result<Self, EncodeError> {
        inner.write_bytes(&ZLIB_HEADER)?;
        let mut writer = Self {
            inner,
            remaining_total: content_len,
            remaining_in_block: 0,
            checksum: adler2::Adler32::new(),
        };
        if content_len == 0 {
            writer.start_block()?;
        }
        Ok(writer)
    }

    /// Writes the header of the next block, sized from what remains.
    fn start_block(&mut self) -> Result<(), EncodeError> {
        let len = self.remaining_total.min(MAX_STORED_BLOCK);
        let is_final = len == self.remaining_total;
        // `len <= 0xffff`, so the conversion cannot fail.
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        let [len_lo, len_hi] = len16.to_le_bytes();
        let [nlen_lo, nlen_hi] = (!len16).to_le_bytes();
        // BFINAL is bit 0, BTYPE = 00 (stored) bits 1-2; a stored block's
        // LEN starts at the next byte boundary, which is the next byte here.
        self.inner
            .write_bytes(&[u8::from(is_final), len_lo, len_hi, nlen_lo, nlen_hi])?;
        self.remaining_in_block = len;
        Ok(())
    }

    /// Writes the Adler-32 trailer.
    ///
    /// # Errors
    ///
    /// [`EncodeError::LengthMismatch`] if fewer content bytes were written
    /// than announced (the stream would be corrupt), else whatever `inner`
    /// reports.
    pub fn finish(self) -> Result<(), EncodeError> {
        if self.remaining_total != 0 {
            return Err(EncodeError::LengthMismatch);
        }
        self.inner
            .write_bytes(&self.checksum.checksum().to_be_bytes())
    }
}

impl<S: ByteSink + ?Sized> ByteSink for StoredZlibWriter<'_, S> {
    /// # Errors
    ///
    /// [`EncodeError::LengthMismatch`] when more bytes arrive than were
    /// announced to [`StoredZlibWriter::begin`].
    fn write_bytes(&mut self, mut bytes: &[u8]) -> Result<(), EncodeError> {
        if bytes.len() > self.remaining_total {
            return Err(EncodeError::LengthMismatch);
        }
        self.checksum.write_slice(bytes);
        while !bytes.is_empty() {
            if self.remaining_in_block == 0 {
                self.start_block()?;
            }
            let (now, later) = bytes.split_at(bytes.len().min(self.remaining_in_block));
            self.inner.write_bytes(now)?;
            self.remaining_in_block -= now.len();
            self.remaining_total -= now.len();
            bytes = later;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::SliceSink;

    fn stored(content: &[u8], out: &mut [u8]) -> usize {
        let mut sink = SliceSink::new(out);
        let mut zlib = StoredZlibWriter::begin(&mut sink, content.len()).expect("room");
        // Uneven pieces, to cross block boundaries mid-write.
        for piece in content.chunks(7_001) {
            zlib.write_bytes(piece).expect("announced length");
        }
        zlib.finish().expect("complete");
        sink.len()
    }

    #[test]
    fn empty_content_is_one_empty_final_block() {
        let mut out = [0_u8; 16];
        let len = stored(&[], &mut out);
        assert_eq!(len, stored_stream_len(0));
        // Adler-32 of nothing is 1.
        assert_eq!(
            &out[..len],
            &[0x78, 0x01, 0x01, 0, 0, 0xff, 0xff, 0, 0, 0, 1]
        );
    }

    #[test]
    fn long_content_is_split_into_64k_blocks() {
        let content: Vec<u8> = (0..150_000_u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = vec![0_u8; stored_stream_len(content.len())];
        let len = stored(&content, &mut out);
        assert_eq!(len, out.len());
        assert_eq!(len, 2 + 3 * 5 + 150_000 + 4);
        // First block: not final, 65535 bytes.
        assert_eq!(&out[2..7], &[0x00, 0xff, 0xff, 0x00, 0x00]);
        // Last block: final, 150000 - 2 * 65535 = 18930 = 0x49f2 bytes.
        let last = 2 + 2 * (5 + 65_535);
        assert_eq!(&out[last..last + 5], &[0x01, 0xf2, 0x49, 0x0d, 0xb6]);
        let adler = adler2::adler32_slice(&content).to_be_bytes();
        assert_eq!(&out[len - 4..len], &adler);
    }

    #[test]
    fn writing_more_than_announced_is_refused() {
        let mut out = [0_u8; 32];
        let mut sink = SliceSink::new(&mut out);
        let mut zlib = StoredZlibWriter::begin(&mut sink, 2).expect("room");
        assert_eq!(
            zlib.write_bytes(&[1, 2, 3]),
            Err(EncodeError::LengthMismatch)
        );
    }

    #[test]
    fn finishing_early_is_refused() {
        let mut out = [0_u8; 32];
        let mut sink = SliceSink::new(&mut out);
        let zlib = StoredZlibWriter::begin(&mut sink, 2).expect("room");
        assert_eq!(zlib.finish(), Err(EncodeError::LengthMismatch));
    }
}
