//! `ramdisk-core`: every decision the `ramdisk` binary makes, as `no_std` + `alloc` code.
//!
//! Parsers are pure functions over byte slices (unit-tested and fuzzed without a filesystem);
//! filesystem work goes through directory fds with `rustix`. The binary crate only turns argv
//! into calls and results into messages (DESIGN.md, "Crates and data flow").
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod cmdline;
pub mod deploy;
pub mod error;
pub mod fs;
pub mod gvariant;
pub mod modules;
pub mod mount;
pub mod name;
pub mod ostree;
pub mod ostree_write;
pub mod sign;
pub mod switch_root;

#[cfg(test)]
mod fuzz_regressions;

pub use error::{Error, Malformed, ParseError};
