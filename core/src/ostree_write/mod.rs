//! Writing an OSTree repository: `init`, remote entries in `config`, and storing objects that a
//! pull has already verified (ostree-format.md §1, §1.2, §1.4).
//!
//! Invariants this module keeps, so a power cut or a kill at any line leaves a repository that
//! `ostree fsck` accepts:
//! - An object appears under `objects/XX/` only complete and synced: it is written to a fresh file
//!   in `tmp/`, `fsync`ed, then `renameat` into place ([`store`]). A crash leaves at most a stray
//!   temporary file in `tmp/`, which ostree ignores.
//! - `config` is replaced whole the same way ([`layout::replace_file`]); `init` writes it last, so
//!   a half-made repository has no `config` and a second `init` completes it.
//! - A commit is marked partial (`state/CSUM.commitpartial`) before any of its tree is fetched and
//!   unmarked only after `syncfs` made every object durable; the ref is written after that.
//!
//! Reading and verification are `crate::ostree`'s job; this module never checks a checksum, it
//! stores what the caller proved.

pub mod fetched;
pub mod keyfile;
pub mod layout;
pub mod store;

pub use layout::{init, InitMode};
pub use store::{ObjKind, Store, TmpObject};
