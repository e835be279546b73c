//! The one error type of `core`: small, `Copy`, no heap (STYLE.md §5).
//!
//! The binary renders it in one place (`ramdisk-bin/src/report.rs`). Callers add the operand
//! (path, object) they already hold; the error itself carries only what it alone knows.

pub use rustix::io::Errno;

/// What is wrong with bytes that failed to parse; fieldless so it stays one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The input ends before a field it must hold.
    Truncated,
    /// A GVariant that is not in normal form (offset width, padding, trailing bytes).
    NotNormal,
    /// Names in a directory listing are not strictly sorted.
    Unsorted,
    /// The same name appears twice in one directory.
    Duplicate,
    /// A name that is empty, `.`, `..`, longer than 255 bytes, or holds `/` or NUL.
    BadName,
    /// A checksum field that is not 32 bytes / 64 lowercase hex digits.
    BadChecksum,
    /// A number out of its allowed range, or a value of the wrong type.
    BadValue,
    /// A file mode other than the allowed kinds and permission bits.
    BadMode,
    /// Text that is not valid UTF-8 where UTF-8 is required.
    BadUtf8,
    /// The input is larger than the limit for its kind.
    TooLarge,
    /// Nesting deeper than the limit.
    TooDeep,
    /// A key or option this parser does not know.
    Unknown,
}

impl Malformed {
    /// Short English text for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated",
            Malformed::NotNormal => "not in normal form",
            Malformed::Unsorted => "names not sorted",
            Malformed::Duplicate => "duplicate name",
            Malformed::BadName => "invalid name",
            Malformed::BadChecksum => "invalid checksum",
            Malformed::BadValue => "invalid value",
            Malformed::BadMode => "invalid mode",
            Malformed::BadUtf8 => "invalid UTF-8",
            Malformed::TooLarge => "too large",
            Malformed::TooDeep => "nested too deep",
            Malformed::Unknown => "unknown key",
        }
    }
}

/// Where and how a parse failed: `offset` is a byte offset into the parsed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub offset: u32,
    pub kind: Malformed,
}

impl ParseError {
    /// An error of `kind` at byte `offset` (saturated to `u32::MAX`).
    pub fn at(offset: usize, kind: Malformed) -> Self {
        ParseError {
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            kind,
        }
    }
}

/// Every failure `core` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A syscall failed; `op` names it the way `strace` would (`"openat"`, `"mount"`).
    Sys { op: &'static str, errno: Errno },
    /// Bytes that do not parse (an object, a config file, an option string).
    Parse(ParseError),
    /// An object whose SHA-256 is not its name.
    Checksum {
        expected: [u8; 32],
        actual: [u8; 32],
    },
    /// A limit was hit (size, depth, count); the text names it.
    Limit(&'static str),
    /// A refusal or a state that makes the operation impossible; the text says why.
    State(&'static str),
}

impl Error {
    /// Shorthand for a failed syscall.
    pub const fn sys(op: &'static str, errno: Errno) -> Self {
        Error::Sys { op, errno }
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Parse(e)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
