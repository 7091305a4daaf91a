//! HdrHistogram's V2 binary encoding and its compressed form, byte-for-byte
//! as the `hdrhistogram` crate's `V2Serializer` writes them.
//!
//! The cookies on the wire are the V2 cookie bases `0x1c849303` (plain) and
//! `0x1c849304` (compressed) with `0x10` or-ed in: `0x1c849313` and
//! `0x1c849314`. The Java original sets that bit to mark the
//! ZigZag-LEB128 ("TLZE") count encoding and masks it off when reading; the
//! Rust crate only accepts the cookies with the bit set, so the bases alone
//! would be unreadable there.
//!
//! V2 layout, all integers big-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | cookie `0x1c849313` |
//! | 4..8 | payload length (bytes of counts that follow the header) |
//! | 8..12 | normalizing index offset, always 0 |
//! | 12..16 | significant figures (3) |
//! | 16..24 | lowest discernible value (1) |
//! | 24..32 | highest trackable value (2^36 - 1) |
//! | 32..40 | integer-to-double conversion ratio, `f64` 1.0 |
//! | 40.. | counts from index 0 to the slot of `max()`, each ZigZag-encoded as LEB128-64b9B; a run of `n > 1` empty slots is the single number `-n` |
//!
//! Compressed: cookie `0x1c849314`, the length of the zlib stream, then a
//! zlib stream whose content is the whole V2 encoding above.

use super::{Base64Writer, ByteSink, CountingSink, EncodeError, SliceSink, ensure_room, zlib};
use crate::histogram::{
    COUNTS_LEN, HIGHEST_TRACKABLE_VALUE, Histogram, LOWEST_DISCERNIBLE_VALUE, SIGNIFICANT_FIGURES,
    layout,
};

/// Bit or-ed into the V2 cookie bases: "counts are ZigZag LEB128".
const TLZE_ENCODING_BIT: u32 = 0x10;
/// Cookie of an uncompressed V2 histogram (base `0x1c849303`).
pub const V2_COOKIE: u32 = 0x1c84_9303 | TLZE_ENCODING_BIT;
/// Cookie of a compressed V2 histogram (base `0x1c849304`).
pub const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | TLZE_ENCODING_BIT;
/// Bytes of the V2 header before the counts.
pub const V2_HEADER_LEN: usize = 40;
/// Bytes before the zlib stream in the compressed form (cookie + length).
const COMPRESSED_PREFIX_LEN: usize = 8;

/// Length in bytes of the uncompressed V2 encoding of `histogram`.
///
/// # Errors
///
/// [`EncodeError::CountTooLarge`] if a count exceeds `i64::MAX`.
pub fn v2_len(histogram: &Histogram) -> Result<usize, EncodeError> {
    Ok(V2_HEADER_LEN + counts_payload_len(histogram)?)
}

/// Length in bytes of the compressed V2 encoding of `histogram`.
///
/// # Errors
///
/// [`EncodeError::CountTooLarge`] if a count exceeds `i64::MAX`.
pub fn compressed_v2_len(histogram: &Histogram) -> Result<usize, EncodeError> {
    Ok(COMPRESSED_PREFIX_LEN + zlib::stored_stream_len(v2_len(histogram)?))
}

/// Writes the uncompressed V2 encoding of `histogram` to `sink` and returns
/// its length.
///
/// # Errors
///
/// [`EncodeError::CountTooLarge`] if a count exceeds `i64::MAX` (checked
/// before anything is written), else whatever `sink` reports.
pub fn write_v2<S: ByteSink + ?Sized>(
    histogram: &Histogram,
    sink: &mut S,
) -> Result<usize, EncodeError> {
    let payload_len = counts_payload_len(histogram)?;
    // The payload is at most 9 bytes per slot, far below u32::MAX.
    let payload_len_field = u32::try_from(payload_len).map_err(|_| EncodeError::CountTooLarge)?;
    let mut header = [0_u8; V2_HEADER_LEN];
    header[0..4].copy_from_slice(&V2_COOKIE.to_be_bytes());
    header[4..8].copy_from_slice(&payload_len_field.to_be_bytes());
    header[8..12].copy_from_slice(&0_u32.to_be_bytes());
    header[12..16].copy_from_slice(&u32::from(SIGNIFICANT_FIGURES).to_be_bytes());
    header[16..24].copy_from_slice(&LOWEST_DISCERNIBLE_VALUE.to_be_bytes());
    header[24..32].copy_from_slice(&HIGHEST_TRACKABLE_VALUE.to_be_bytes());
    header[32..40].copy_from_slice(&1.0_f64.to_be_bytes());
    sink.write_bytes(&header)?;
    write_counts(histogram, sink)?;
    Ok(V2_HEADER_LEN + payload_len)
}

/// Encodes `histogram` as uncompressed V2 into `buf` and returns the length
/// used.
///
/// # Errors
///
/// [`EncodeError::BufferTooSmall`] (with the length needed) when `buf` is too
/// short, [`EncodeError::CountTooLarge`] as for [`write_v2`].
pub fn encode_v2(histogram: &Histogram, buf: &mut [u8]) -> Result<usize, EncodeError> {
    ensure_room(v2_len(histogram)?, buf.len())?;
    write_v2(histogram, &mut SliceSink::new(buf))
}

/// Writes the compressed V2 encoding of `histogram` to `sink` and returns
/// its length.
///
/// # Errors
///
/// As [`write_v2`].
pub fn write_compressed_v2<S: ByteSink + ?Sized>(
    histogram: &Histogram,
    sink: &mut S,
) -> Result<usize, EncodeError> {
    let content_len = v2_len(histogram)?;
    let stream_len = zlib::stored_stream_len(content_len);
    let stream_len_field = u32::try_from(stream_len).map_err(|_| EncodeError::CountTooLarge)?;
    sink.write_bytes(&V2_COMPRESSED_COOKIE.to_be_bytes())?;
    sink.write_bytes(&stream_len_field.to_be_bytes())?;
    let mut stream = zlib::StoredZlibWriter::begin(sink, content_len)?;
    write_v2(histogram, &mut stream)?;
    stream.finish()?;
    Ok(COMPRESSED_PREFIX_LEN + stream_len)
}

/// Encodes `histogram` as compressed V2 into `buf` and returns the length
/// used.
///
/// # Errors
///
/// As [`encode_v2`].
pub fn encode_compressed_v2(histogram: &Histogram, buf: &mut [u8]) -> Result<usize, EncodeError> {
    ensure_room(compressed_v2_len(histogram)?, buf.len())?;
    write_compressed_v2(histogram, &mut SliceSink::new(buf))
}

/// Writes the compressed V2 encoding of `histogram` as padded standard
/// base64 to `out`: the last field of an interval-log line.
///
/// # Errors
///
/// [`EncodeError::CountTooLarge`] as for [`write_v2`], [`EncodeError::Write`]
/// when `out` fails.
pub fn write_base64_compressed_v2<W: core::fmt::Write + ?Sized>(
    histogram: &Histogram,
    out: &mut W,
) -> Result<(), EncodeError> {
    let mut base64 = Base64Writer::new(out);
    write_compressed_v2(histogram, &mut base64)?;
    base64.finish()
}

/// Length of the counts payload (the bytes after the header).
fn counts_payload_len(histogram: &Histogram) -> Result<usize, EncodeError> {
    let mut counter = CountingSink::default();
    write_counts(histogram, &mut counter)?;
    Ok(counter.len)
}

/// Walks the counts array up to the slot of `max()` as the `hdrhistogram`
/// crate's `encode_counts` does: a run of `n >= 2` empty slots becomes `-n`,
/// a single empty slot is written as the count 0.
fn write_counts<S: ByteSink + ?Sized>(
    histogram: &Histogram,
    sink: &mut S,
) -> Result<(), EncodeError> {
    let counts = histogram.raw_counts();
    // max() never exceeds the trackable range, so its slot exists; `min`
    // only keeps the slice expression obviously in bounds.
    let last_index = layout::counts_index(histogram.max()).min(COUNTS_LEN - 1);
    let counts = &counts[..=last_index];
    let mut index = 0;
    while let Some(&count) = counts.get(index) {
        let zeros = counts[index..].iter().take_while(|&&c| c == 0).count();
        let number = if zeros > 1 {
            index += zeros;
            // At most COUNTS_LEN, far below i64::MAX.
            -(zeros as i64)
        } else {
            index += 1;
            i64::try_from(count).map_err(|_| EncodeError::CountTooLarge)?
        };
        let mut varint = [0_u8; 9];
        let len = leb128_64b9b(zigzag(number), &mut varint);
        sink.write_bytes(&varint[..len])?;
    }
    Ok(())
}

/// ZigZag: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
const fn zigzag(number: i64) -> u64 {
    ((number << 1) ^ (number >> 63)) as u64
}

/// HdrHistogram's "LEB128-64b9B": little-endian groups of 7 bits with a
/// continuation bit, except that the ninth byte carries the top 8 bits
/// whole, so no `u64` takes more than 9 bytes. Returns the bytes used.
fn leb128_64b9b(mut value: u64, out: &mut [u8; 9]) -> usize {
    for (used, byte) in out.iter_mut().enumerate().take(8) {
        if value < 0x80 {
            *byte = value as u8;
            return used + 1;
        }
        *byte = (value as u8 & 0x7f) | 0x80;
        value >>= 7;
    }
    out[8] = value as u8;
    9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_the_reference_mapping() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn leb128_uses_at_most_nine_bytes() {
        let mut out = [0; 9];
        assert_eq!(leb128_64b9b(0x7f, &mut out), 1);
        assert_eq!(out[0], 0x7f);
        assert_eq!(leb128_64b9b(300, &mut out), 2);
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(leb128_64b9b(u64::MAX, &mut out), 9);
        assert_eq!(out, [0xff; 9]);
        assert_eq!(leb128_64b9b(1 << 56, &mut out), 9);
        assert_eq!(&out[7..], &[0x80, 0x01]);
    }

    #[test]
    fn empty_histogram_encodes_one_zero_count() {
        let mut buf = [0_u8; 64];
        let len = encode_v2(&Histogram::new(), &mut buf).expect("fits");
        assert_eq!(len, 41);
        assert_eq!(&buf[0..4], &[0x1c, 0x84, 0x93, 0x13]);
        assert_eq!(&buf[4..8], &[0, 0, 0, 1]);
        assert_eq!(&buf[12..16], &[0, 0, 0, 3]);
        assert_eq!(&buf[24..32], &((1_u64 << 36) - 1).to_be_bytes());
        assert_eq!(&buf[32..40], &[0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(buf[40], 0);
    }

    #[test]
    fn runs_of_zeros_become_negative_counts() {
        let mut histogram = Histogram::new();
        histogram.record(1);
        histogram.record_n(4, 2);
        let mut buf = [0_u8; 64];
        let len = encode_v2(&histogram, &mut buf).expect("fits");
        // index 0: single zero -> 0; index 1: 1 -> 2; 2..4: two zeros -> -2
        // -> 3; index 4: 2 -> 4.
        assert_eq!(&buf[40..len], &[0, 2, 3, 4]);
    }

    #[test]
    fn too_small_buffer_is_reported_with_the_needed_length() {
        let mut histogram = Histogram::new();
        histogram.record(1000);
        let needed = compressed_v2_len(&histogram).expect("encodable");
        let mut buf = [0_u8; 16];
        assert_eq!(
            encode_compressed_v2(&histogram, &mut buf),
            Err(EncodeError::BufferTooSmall {
                needed,
                available: 16
            })
        );
        assert_eq!(
            encode_v2(&histogram, &mut buf),
            Err(EncodeError::BufferTooSmall {
                needed: v2_len(&histogram).expect("encodable"),
                available: 16
            })
        );
    }

    #[test]
    fn counts_above_i64_max_are_refused() {
        let mut histogram = Histogram::new();
        histogram.record_n(7, u64::MAX);
        let mut buf = [0_u8; 64];
        assert_eq!(
            encode_v2(&histogram, &mut buf),
            Err(EncodeError::CountTooLarge)
        );
    }
}
