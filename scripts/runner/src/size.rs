//! Guest memory sizes as written on the command line (`64M`, `4G`, `512M`).
//!
//! The runner hands QEMU whole mebibytes (`-m 512M`, memory backends of
//! `size=256M`), so a [`MemSize`] is always a positive whole number of MiB.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// A guest memory size: a positive whole number of mebibytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemSize {
    mib: u64,
}

/// Why a memory size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemSizeError {
    #[error("empty memory size (expected e.g. 512M or 4G)")]
    Empty,
    #[error("memory size '{0}' does not start with a number (expected e.g. 512M or 4G)")]
    NoNumber(String),
    #[error("unknown size suffix '{suffix}' in '{text}' (use K, M, G or T; no suffix means M)")]
    UnknownSuffix { text: String, suffix: String },
    #[error("memory size '{0}' is too large")]
    TooLarge(String),
    #[error("memory size '{0}' is zero")]
    Zero(String),
    #[error("memory size '{0}' is not a whole number of MiB")]
    NotWholeMib(String),
}

impl MemSize {
    /// A size of `mib` mebibytes, or `None` for zero.
    #[must_use]
    pub fn from_mib(mib: u64) -> Option<Self> {
        (mib > 0).then_some(Self { mib })
    }

    /// The size in mebibytes.
    #[must_use]
    pub fn mib(self) -> u64 {
        self.mib
    }
}

impl FromStr for MemSize {
    type Err = MemSizeError;

    /// Parses `<digits>[K|M|G|T]` (case-insensitive; no suffix means MiB, as
    /// QEMU's `-m` does).
    ///
    /// # Errors
    /// Empty text, a missing number, an unknown suffix, zero, overflow, or a
    /// size that is not a whole number of MiB (e.g. `1000K`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(MemSizeError::Empty);
        }
        let digits_end = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (digits, suffix) = trimmed.split_at(digits_end);
        if digits.is_empty() {
            return Err(MemSizeError::NoNumber(text.to_owned()));
        }
        let unit = match suffix.to_ascii_uppercase().as_str() {
            "K" => KIB,
            "" | "M" => MIB,
            "G" => GIB,
            "T" => TIB,
            _ => {
                return Err(MemSizeError::UnknownSuffix {
                    text: text.to_owned(),
                    suffix: suffix.to_owned(),
                });
            }
        };
        let count: u64 = digits
            .parse()
            .map_err(|_| MemSizeError::TooLarge(text.to_owned()))?;
        let bytes = count
            .checked_mul(unit)
            .ok_or_else(|| MemSizeError::TooLarge(text.to_owned()))?;
        if bytes == 0 {
            return Err(MemSizeError::Zero(text.to_owned()));
        }
        if !bytes.is_multiple_of(MIB) {
            return Err(MemSizeError::NotWholeMib(text.to_owned()));
        }
        Ok(Self { mib: bytes / MIB })
    }
}

impl fmt::Display for MemSize {
    /// Formats as QEMU reads it: `4G` when whole GiB, else `<n>M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mib.is_multiple_of(1024) {
            write!(f, "{}G", self.mib / 1024)
        } else {
            write!(f, "{}M", self.mib)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MemSize, MemSizeError> {
        text.parse()
    }

    #[test]
    fn common_sizes_parse_to_mib() {
        assert_eq!(parse("64M").unwrap().mib(), 64);
        assert_eq!(parse("512M").unwrap().mib(), 512);
        assert_eq!(parse("4G").unwrap().mib(), 4096);
        assert_eq!(parse("4g").unwrap().mib(), 4096);
        assert_eq!(parse("1T").unwrap().mib(), 1024 * 1024);
        assert_eq!(parse("2048K").unwrap().mib(), 2);
        assert_eq!(parse("256").unwrap().mib(), 256, "no suffix means MiB");
    }

    #[test]
    fn bad_suffix_is_rejected_with_the_suffix_named() {
        let err = parse("12Q").unwrap_err();
        assert_eq!(
            err,
            MemSizeError::UnknownSuffix {
                text: "12Q".into(),
                suffix: "Q".into()
            }
        );
        assert!(err.to_string().contains("'Q'"));
        assert!(matches!(
            parse("12MB"),
            Err(MemSizeError::UnknownSuffix { .. })
        ));
    }

    #[test]
    fn malformed_sizes_are_rejected() {
        assert_eq!(parse(""), Err(MemSizeError::Empty));
        assert_eq!(parse("M"), Err(MemSizeError::NoNumber("M".into())));
        assert_eq!(parse("-5M"), Err(MemSizeError::NoNumber("-5M".into())));
        assert_eq!(parse("0G"), Err(MemSizeError::Zero("0G".into())));
        assert_eq!(
            parse("1000K"),
            Err(MemSizeError::NotWholeMib("1000K".into()))
        );
        assert!(matches!(
            parse("99999999999999999999G"),
            Err(MemSizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse("17179869184T"),
            Err(MemSizeError::TooLarge(_))
        ));
    }

    #[test]
    fn display_round_trips_through_qemu_syntax() {
        for text in ["64M", "512M", "4G", "1536M"] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
        assert_eq!(MemSize::from_mib(0), None);
        assert_eq!(MemSize::from_mib(2048).unwrap().to_string(), "2G");
    }
}
