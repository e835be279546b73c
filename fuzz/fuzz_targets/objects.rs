//! Commit, dirtree, dirmeta, `user.ostreemeta` and `.filez` header views (ostree::object).
//!
//! Every view runs on every input (they are cheap). Oracles: no panic; whatever a view accepts,
//! the generic `validate` of its GVariant type accepts too (the views are stricter, never
//! looser); the views' own invariants (sorted unique names, 32-byte checksums, modes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ramdisk_core::gvariant;
use ramdisk_core::ostree::object::{
    Commit, CommitInfo, DirTree, FileHeader, Meta, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Commit::parse(data) {
        assert!(gvariant::validate(b"(a{sv}aya(say)sstayay)", data, 0).is_ok());
        assert!(gvariant::validate(b"a{sv}", c.metadata, 0).is_ok());
        let info = CommitInfo::from_commit(&c);
        assert_eq!(info.timestamp, c.timestamp);
        assert_eq!(&info.root_tree, c.root_tree);
    }
    if let Ok(t) = DirTree::parse(data) {
        assert!(gvariant::validate(b"(a(say)a(sayay))", data, 0).is_ok());
        for w in t.files.windows(2) {
            assert!(w[0].name.as_bytes() < w[1].name.as_bytes());
        }
        for w in t.dirs.windows(2) {
            assert!(w[0].name.as_bytes() < w[1].name.as_bytes());
        }
        for f in &t.files {
            assert!(
                !t.dirs.iter().any(|d| d.name == f.name),
                "name in both lists"
            );
        }
    }
    if let Ok(m) = Meta::parse_dirmeta(data) {
        assert!(gvariant::validate(b"(uuua(ayay))", data, 0).is_ok());
        assert_eq!(m.mode & S_IFMT, S_IFDIR);
    }
    if let Ok(m) = Meta::parse_ostreemeta(data) {
        assert!(gvariant::validate(b"(uuua(ayay))", data, 0).is_ok());
        assert!(matches!(m.mode & S_IFMT, S_IFREG | S_IFLNK));
    }
    if let Ok(h) = FileHeader::parse(data) {
        assert!(gvariant::validate(b"(tuuuusa(ayay))", data, 0).is_ok());
        assert!(matches!(h.mode & S_IFMT, S_IFREG | S_IFLNK));
        assert_eq!(h.mode & S_IFMT == S_IFLNK, !h.target.is_empty());
    }
    // Detached commit metadata (commitmeta) is a bare a{sv}.
    let _ = gvariant::validate(b"a{sv}", data, 0);
});
