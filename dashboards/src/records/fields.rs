//! Low-level pieces of the serial record syntax: finding the `@<kind> v<N>`
//! header inside a console line, splitting the body into percent-decoded
//! `key=value` fields, and reading typed values out of them.

use std::str::FromStr;

use super::ParseError;
use percent_encoding::percent_decode_str;

/// The `@<kind> v<N>` header of a record and the text after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordHeader<'a> {
    /// The record kind, such as `bench` or `hist`.
    pub kind: &'a str,
    /// The version digits after `v`, not yet checked against what we support.
    pub version: &'a str,
    /// Everything after the header and its separating space.
    pub body: &'a str,
}

/// Finds the first `@<kind> v<N>` header on `line`, skipping any console
/// output in front of it. A header is `@`, a kind of ASCII lowercase letters,
/// digits, `_` or `-`, a space, `v`, one or more digits, and then a space or
/// the end of the line.
pub(crate) fn find_header(line: &str) -> Option<RecordHeader<'_>> {
    line.match_indices('@')
        .find_map(|(at, _)| header_at(&line[at + 1..]))
}

/// Tries to read a header from the text right after an `@`.
fn header_at(rest: &str) -> Option<RecordHeader<'_>> {
    let kind_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
        .count();
    if kind_len == 0 {
        return None;
    }
    let (kind, after_kind) = rest.split_at(kind_len);
    let after_v = after_kind.strip_prefix(" v")?;
    let digits = after_v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (version, after_version) = after_v.split_at(digits);
    let body = match after_version.strip_prefix(' ') {
        Some(body) => body,
        None if after_version.trim_end_matches('\r').is_empty() => "",
        None => return None,
    };
    Some(RecordHeader {
        kind,
        version,
        body,
    })
}

/// The `key=value` fields of one record, in the order the line gave them,
/// with values percent-decoded. Keys are unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Splits a record body into fields.
    ///
    /// Fields are separated by spaces; runs of spaces and a trailing `\r` are
    /// tolerated. Each value is percent-decoded (`%20` is a space, `%3D` is
    /// `=`, `%25` is `%`); malformed escapes are kept as written.
    ///
    /// # Errors
    ///
    /// [`ParseError::MalformedField`] for a token without `=` or with an
    /// empty key (typically a line cut short or overwritten by other output),
    /// and [`ParseError::DuplicateKey`] when a key appears twice.
    pub fn parse(body: &str) -> Result<Self, ParseError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for token in body.trim_end_matches(['\r', '\n']).split(' ') {
            if token.is_empty() {
                continue;
            }
            let Some((key, raw_value)) = token.split_once('=') else {
                return Err(ParseError::MalformedField(token.to_owned()));
            };
            if key.is_empty() {
                return Err(ParseError::MalformedField(token.to_owned()));
            }
            if fields.iter().any(|(existing, _)| existing == key) {
                return Err(ParseError::DuplicateKey(key.to_owned()));
            }
            let value = percent_decode_str(raw_value).decode_utf8_lossy();
            fields.push((key.to_owned(), value.into_owned()));
        }
        Ok(Self(fields))
    }

    /// The value of `key`, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(existing, _)| existing == key)
            .map(|(_, value)| value.as_str())
    }

    /// All fields in line order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// Number of fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets `key` to `value`, replacing an earlier value in place.
    /// Returns the replaced value.
    pub fn insert(&mut self, key: &str, value: &str) -> Option<String> {
        if let Some((_, existing)) = self.0.iter_mut().find(|(k, _)| k == key) {
            return Some(std::mem::replace(existing, value.to_owned()));
        }
        self.0.push((key.to_owned(), value.to_owned()));
        None
    }

    /// The value of a required `key`.
    ///
    /// # Errors
    ///
    /// [`ParseError::MissingKey`] when absent.
    pub(crate) fn required(&self, key: &str) -> Result<&str, ParseError> {
        self.get(key)
            .ok_or_else(|| ParseError::MissingKey(key.to_owned()))
    }

    /// The value of a required `key` parsed as an unsigned integer.
    ///
    /// # Errors
    ///
    /// [`ParseError::MissingKey`] or [`ParseError::InvalidNumber`].
    pub(crate) fn required_u64(&self, key: &str) -> Result<u64, ParseError> {
        parse_number(key, self.required(key)?)
    }

    /// The value of a required `key` parsed as a finite float.
    ///
    /// # Errors
    ///
    /// [`ParseError::MissingKey`] or [`ParseError::InvalidNumber`].
    pub(crate) fn required_f64(&self, key: &str) -> Result<f64, ParseError> {
        parse_finite(key, self.required(key)?)
    }
}

/// Parses `value` (of field `key`) as a number of type `T`.
///
/// # Errors
///
/// [`ParseError::InvalidNumber`] naming the key and the offending text.
pub(crate) fn parse_number<T: FromStr>(key: &str, value: &str) -> Result<T, ParseError> {
    value.parse().map_err(|_| ParseError::InvalidNumber {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// Parses `value` as an `f64` and rejects NaN and infinities, which JSON
/// cannot carry and which no measurement produces.
///
/// # Errors
///
/// [`ParseError::InvalidNumber`].
pub(crate) fn parse_finite(key: &str, value: &str) -> Result<f64, ParseError> {
    let number: f64 = parse_number(key, value)?;
    if number.is_finite() {
        Ok(number)
    } else {
        Err(ParseError::InvalidNumber {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}
