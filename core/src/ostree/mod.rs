//! Reading OSTree repositories and checking out commits (ostree-format.md; DESIGN.md "Trust and
//! limits").
//!
//! The entry point is [`Repo::open`] on a directory fd. Every object read through a [`Repo`] is
//! verified before it is trusted: metadata objects (commit, dirtree, dirmeta) must hash to their
//! name, be ≤ 10 MiB and in GVariant normal form; content objects are hashed over the canonical
//! header + content while they stream, and a checked-out file is linked into place only after its
//! hash matched. libostree's checkout trusts the repository (`trusted=TRUE`); we never do.
//!
//! The public API below is what the `init` applet and `ramdisk ostree` call; its names are stable:
//! - [`Repo::open`], [`Repo::resolve_rev`], [`Repo::is_partial`], [`Repo::load_commit`]
//! - [`checkout()`] with [`CheckoutOptions`], returning [`Stats`] or a [`Failure`] that names the
//!   object (or destination path) at fault.

pub mod checkout;
pub mod config;
pub mod content;
pub mod fsck;
pub mod log;
pub mod object;
pub mod refs;
pub mod repo;
pub mod rev;
pub mod verify;

pub use checkout::{checkout, CheckoutOptions, Stats, Union};
pub use config::Mode;
pub use object::{CommitInfo, ObjType};
pub use repo::Repo;

use crate::error::Error;

/// A SHA-256 object checksum (ostree-format.md §5).
pub type Checksum = [u8; 32];

/// Largest metadata object (commit, dirtree, dirmeta) we read: `OSTREE_MAX_METADATA_SIZE`
/// (ostree-format.md §1.2).
pub const MAX_METADATA_SIZE: usize = 10 * 1024 * 1024;

/// Deepest directory nesting a checkout follows (reliability.md §4, point 6).
pub const MAX_DEPTH: usize = 64;

/// An [`Error`] plus the object it happened on, so the message can name it
/// (`object 3abc….dirtree: checksum mismatch (…)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong.
    pub error: Error,
    /// The object being read or written when it went wrong, if any.
    pub object: Option<(ObjType, Checksum)>,
}

impl Failure {
    /// `error` while handling object `csum` of type `kind`.
    pub fn on(kind: ObjType, csum: &Checksum, error: Error) -> Self {
        Failure {
            error,
            object: Some((kind, *csum)),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            object: None,
        }
    }
}

impl From<crate::error::ParseError> for Failure {
    fn from(e: crate::error::ParseError) -> Self {
        Failure {
            error: Error::Parse(e),
            object: None,
        }
    }
}

/// `Result` with [`Failure`].
pub type OResult<T> = core::result::Result<T, Failure>;

/// Parses 64 lowercase hex digits into a checksum.
///
/// # Errors
/// `None` for any other length or character (uppercase is invalid, as in libostree).
pub fn parse_checksum(hex: &[u8]) -> Option<Checksum> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0])?;
        let lo = hex_val(pair[1])?;
        *out.get_mut(i)? = (hi << 4) | lo;
    }
    Some(out)
}

/// The value of one lowercase hex digit.
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Writes `csum` as 64 lowercase hex digits into `out`.
pub fn checksum_hex(csum: &Checksum) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in csum.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}
