//! The kernel command line as tokens: `key=value` pairs and bare `flag`s,
//! separated by ASCII whitespace, and a check for keys the kernel does not know.
//!
//! There is no quoting: a value cannot contain whitespace. The kernel's own
//! options never need it, and the loaders pass the line through unchanged.

/// One command-line token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The text before the first `=`, or the whole token for a bare flag.
    pub key: &'a str,
    /// The text after the first `=` (possibly empty), or `None` for a flag.
    pub value: Option<&'a str>,
}

/// Iterator over the tokens of a command line, in order.
#[derive(Clone, Debug)]
pub struct Tokens<'a> {
    words: core::str::SplitAsciiWhitespace<'a>,
}

/// The tokens of `line`.
#[must_use]
pub fn tokens(line: &str) -> Tokens<'_> {
    Tokens {
        words: line.split_ascii_whitespace(),
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let word = self.words.next()?;
        Some(match word.split_once('=') {
            Some((key, value)) => Token {
                key,
                value: Some(value),
            },
            None => Token {
                key: word,
                value: None,
            },
        })
    }
}

/// The tokens of `line` whose key is not in `known`, in order; the kernel
/// prints them and boots on.
pub fn unknown_keys<'a>(
    line: &'a str,
    known: &'a [&'a str],
) -> impl Iterator<Item = Token<'a>> + 'a {
    tokens(line).filter(move |token| !known.contains(&token.key))
}

/// The last token with key `key` (later tokens override earlier ones), or
/// `None` when the key does not appear.
#[must_use]
pub fn find<'a>(line: &'a str, key: &str) -> Option<Token<'a>> {
    tokens(line).filter(|token| token.key == key).last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pairs_flags_and_empty_values() {
        let found: Vec<_> = tokens("  run=test\tquiet  a=b=c empty= \n").collect();
        assert_eq!(
            found,
            [
                Token {
                    key: "run",
                    value: Some("test")
                },
                Token {
                    key: "quiet",
                    value: None
                },
                Token {
                    key: "a",
                    value: Some("b=c")
                },
                Token {
                    key: "empty",
                    value: Some("")
                },
            ]
        );
        assert_eq!(tokens("").count(), 0);
        assert_eq!(tokens(" \t ").count(), 0);
    }

    #[test]
    fn reports_unknown_keys_in_order() {
        let known = ["run", "accel"];
        let unknown: Vec<_> = unknown_keys("run=boot colour=red accel=kvm verbose", &known)
            .map(|token| token.key)
            .collect();
        assert_eq!(unknown, ["colour", "verbose"]);
        assert_eq!(unknown_keys("run=x accel=y", &known).count(), 0);
    }

    #[test]
    fn find_returns_the_last_occurrence() {
        assert_eq!(
            find("run=boot run=test", "run").and_then(|token| token.value),
            Some("test")
        );
        assert_eq!(
            find("quiet", "quiet"),
            Some(Token {
                key: "quiet",
                value: None
            })
        );
        assert_eq!(find("run=boot", "accel"), None);
    }
}
