//! Archive content objects (`.filez` = `u32be H ‖ 0000 ‖ (tuuuusa(ayay)) ‖ raw deflate`) through
//! both readers:
//!
//! - `ostree_write::fetched::check_filez` (pull: the object in memory), and the same check fed
//!   in pieces (`FilezCheck`, pieces of an input-chosen size, as they arrive over HTTP);
//! - `ostree::content::Content` (checkout/fsck: the object as a file of an archive repo on tmpfs,
//!   header parsed, inflated in 64 KiB steps, bounded by the header's size).
//!
//! Oracles: no panic; bounded time and memory (`-rss_limit_mb`, `-timeout`); the two readers
//! agree on whether the object is well formed (both then fail only on the checksum, since the
//! name is all zeros); and the content header round trip: the header `emit_content_header`
//! writes from a parsed `.filez` header is a valid `(uuuusa(ayay))` of the announced length that
//! reads back to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ramdisk_core::gvariant::{self, be_u32, Tuple};
use ramdisk_core::ostree::content::{Content, Scratch};
use ramdisk_core::ostree::object::FileHeader;
use ramdisk_core::ostree::Repo;
use ramdisk_core::ostree_write::fetched::{check_filez, FilezCheck};
use ramdisk_core::Error;
use std::sync::OnceLock;

/// The object name used for every input.
const CSUM: [u8; 32] = [0; 32];

struct Fixture {
    object: String,
    repo: Repo,
}

/// An archive repo under $RAMDISK_FUZZ_TMP (scripts/fuzz.sh removes it), else /dev/shm or
/// $TMPDIR, holding one object, rewritten for each input.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let base = if let Some(dir) = std::env::var_os("RAMDISK_FUZZ_TMP") {
            std::path::PathBuf::from(dir)
        } else if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("ramdisk-fuzz-filez-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("objects/00")).expect("mkdir repo");
        std::fs::write(
            dir.join("config"),
            "[core]\nrepo_version=1\nmode=archive-z2\n",
        )
        .expect("write config");
        let object = dir
            .join(format!("objects/00/{}.filez", "0".repeat(62)))
            .to_string_lossy()
            .into_owned();
        let repo = Repo::open_path(dir.to_str().expect("utf-8 path")).expect("open repo");
        Fixture { object, repo }
    })
}

/// Reads the object through `Content`: Ok(()) when only the checksum is wrong.
fn read_content(f: &Fixture, s: &mut Scratch) -> Result<(), Error> {
    let mut c = Content::open(&f.repo, &CSUM, s)?;
    let mut total = 0u64;
    while let Some(chunk) = c.next_chunk()? {
        assert!(chunk.len() <= 64 * 1024);
        total += chunk.len() as u64;
        assert!(
            total <= c.meta.size,
            "Content produced more than the header's size"
        );
    }
    match c.finish() {
        Err(Error::Checksum { .. }) => Ok(()),
        Ok(()) => panic!("all-zero checksum matched"),
        Err(e) => Err(e),
    }
}

fuzz_target!(|data: &[u8]| {
    // Reader 1: in memory.
    let mem = match check_filez(&CSUM, data) {
        Err(Error::Checksum { .. }) => true,
        Ok(()) => panic!("all-zero checksum matched"),
        Err(_) => false,
    };

    // Reader 1b: the same, streamed in pieces of 1 + 64 × (last byte) bytes.
    let piece = 1 + 64 * usize::from(data.last().copied().unwrap_or(0));
    let mut c = FilezCheck::new(&CSUM);
    let streamed = data
        .chunks(piece)
        .try_for_each(|p| c.update(p))
        .and_then(|()| c.finish());
    let streamed = match streamed {
        Err(Error::Checksum { .. }) => true,
        Ok(()) => panic!("all-zero checksum matched"),
        Err(_) => false,
    };
    assert_eq!(
        mem, streamed,
        "check_filez and FilezCheck in pieces of {piece} disagree"
    );

    // Reader 2: a file of an archive repo.
    let f = fixture();
    std::fs::write(&f.object, data).expect("write object");
    thread_local!(static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new()));
    let file = SCRATCH
        .with(|s| read_content(f, &mut s.borrow_mut()))
        .is_ok();
    assert_eq!(
        mem, file,
        "check_filez and Content disagree (in-memory ok: {mem})"
    );

    // Round trip of the content header writer.
    let Some(hlen) = data.get(..4).map(|b| be_u32(b) as usize) else {
        return;
    };
    let Some(header) = data.get(8..).and_then(|d| d.get(..hlen)) else {
        return;
    };
    let Ok(h) = FileHeader::parse(header) else {
        return;
    };
    let mut out = Vec::new();
    gvariant::emit_content_header(h.uid, h.gid, h.mode, h.target, h.xattrs, &mut out);
    let body = &out[8..];
    assert_eq!(
        body.len(),
        gvariant::content_header_len(h.target.len(), h.xattrs.len())
    );
    assert_eq!(be_u32(&out[..4]) as usize, body.len());
    assert_eq!(&out[4..8], &[0; 4]);
    gvariant::validate(b"(uuuusa(ayay))", body, 0).expect("emitted header is not valid");
    let mut t = Tuple::new(body, 0);
    let uid = t.next(4, Some(4), false).expect("uid").0;
    let gid = t.next(4, Some(4), false).expect("gid").0;
    let mode = t.next(4, Some(4), false).expect("mode").0;
    let rdev = t.next(4, Some(4), false).expect("rdev").0;
    let target = t.next(1, None, false).expect("target");
    let xattrs = t.next(1, None, true).expect("xattrs").0;
    t.finish().expect("finish");
    assert_eq!(
        (be_u32(uid), be_u32(gid), be_u32(mode), be_u32(rdev)),
        (h.uid, h.gid, h.mode, 0)
    );
    assert_eq!(
        gvariant::string(target.0, target.1)
            .expect("target")
            .as_bytes(),
        h.target
    );
    assert_eq!(xattrs, h.xattrs);
});
