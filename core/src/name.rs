//! A validated single path component: the only kind of name passed to `*at` syscalls.
//!
//! Rules (DESIGN.md, "Trust and limits"; ostree-format.md §6.2): non-empty, no `/`, no NUL, not
//! `.` or `..`, at most 255 bytes. After [`Name::new`] succeeds, the bytes are safe to hand to
//! `openat`/`mkdirat`/`linkat` relative to a directory fd: they cannot leave that directory.

use crate::error::{Malformed, ParseError};

/// Longest name Linux accepts for one component (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A borrowed, validated file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Name<'a>(&'a [u8]);

impl<'a> Name<'a> {
    /// Checks `bytes` against the name rules.
    ///
    /// # Errors
    /// `Malformed::BadName` at offset 0 for every broken rule.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let bad = || ParseError::at(0, Malformed::BadName);
        if bytes.is_empty() || bytes.len() > NAME_MAX || bytes == b"." || bytes == b".." {
            return Err(bad());
        }
        if bytes.iter().any(|&b| b == b'/' || b == 0) {
            return Err(bad());
        }
        Ok(Name(bytes))
    }

    /// The raw bytes, never empty.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in [
            &b"a"[..],
            b"...",
            b".hidden",
            "ünïcode".as_bytes(),
            &[b'x'; 255],
        ] {
            assert!(Name::new(n).is_ok(), "{n:?}");
        }
    }

    #[test]
    fn rejects_each_bad_name_kind() {
        for n in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b", &[b'x'; 256]] {
            assert_eq!(
                Name::new(n),
                Err(ParseError::at(0, Malformed::BadName)),
                "{n:?}"
            );
        }
    }
}
