//! Ed25519 commit signatures as ostree writes and checks them (reliability.md §4; ostree-format.md
//! §1.2, §2; `man ostree-sign`).
//!
//! A commit's detached metadata `objects/XX/REST.commitmeta` is an `a{sv}` dictionary; its key
//! `ostree.sign.ed25519` holds an `aay` of 64-byte signatures, each over the **exact bytes of the
//! `.commit` object**. A commit is trusted when at least one signature verifies with a trusted key
//! that is not revoked (`ostree_sign_ed25519_data_verify`). Keys are 32-byte public keys, base64,
//! one per line, in `trusted.ed25519` files and `trusted.ed25519.d/` directories under
//! `/usr/share/ostree` and `/etc/ostree`, with `revoked.ed25519` (and `.d/`) alongside.
//!
//! Verification is strict (`ed25519-compact`): a non-canonical `S` (≥ ℓ), a non-canonical point
//! encoding, and small-order public keys or `R` are rejected. Differences from ostree:
//! - a key file line that is not exactly one base64 key (32 bytes) is an error naming the file and
//!   line; ostree skips it silently. Blank lines and lines starting with `#` are ignored.
//! - every signature element must be exactly 64 bytes and the dictionary must be in normal form.
//!
//! The calls other code makes: [`Keys::load_system`] (once, under the root of the initramfs or
//! system) plus [`Keys::add_file`] for an explicit key file; [`verify_repo_commit`] (or
//! [`verify_commit`] on bytes already in memory, as pull has them) before a commit is checked
//! out, deployed or accepted; [`check_rollback`], [`untrusted_mode`] and [`is_privileged_xattr`]
//! for the deploy policy; [`sign_repo_commit`] for `ostree sign`.
//!
//! Invariant: nothing here panics on any input; parsers are pure, the loaders read through fds.

use crate::error::{Errno, Error, Malformed, ParseError};
use crate::gvariant::{self, framed_width, Array, Tuple};
use crate::ostree::{self, Checksum, ObjType, Repo, MAX_METADATA_SIZE};
use alloc::string::String;
use alloc::vec::Vec;
use ed25519_compact as ed;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, FileType, Mode, OFlags};

/// The `a{sv}` key of the signatures in `.commitmeta`.
pub const METADATA_KEY: &str = "ostree.sign.ed25519";
/// The GVariant type of that key's value.
pub const METADATA_TYPE: &str = "aay";
/// Bytes of a public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of a secret key as ostree (libsodium) stores it: the 32-byte seed, then the public key.
pub const SECRET_KEY_LEN: usize = 64;
/// Bytes of a signature.
pub const SIGNATURE_LEN: usize = 64;

/// A 32-byte Ed25519 public key.
pub type PublicKey = [u8; PUBLIC_KEY_LEN];
/// A 64-byte Ed25519 signature.
pub type Signature = [u8; SIGNATURE_LEN];
/// Index of the trusted key that verified a commit, into [`Keys::trusted`].
pub type KeyIndex = usize;

/// The system key directories, in the order ostree reads them (`man ostree-sign`).
pub const SYSTEM_KEY_DIRS: [&str; 2] = ["/usr/share/ostree", "/etc/ostree"];

/// Most keys [`Keys`] holds (trusted plus revoked): each signature is tried against each key.
pub const MAX_KEYS: usize = 1024;
/// Most signatures one commit may carry.
pub const MAX_SIGNATURES: usize = 64;
/// Largest key file read.
const MAX_KEY_FILE: usize = 1 << 20;

/// The commit has no `.commitmeta`, or no `ostree.sign.ed25519` signatures in it.
pub const UNSIGNED: Error = Error::State("commit is not signed");
/// Signatures exist but none verifies with a trusted key.
pub const NO_VALID_SIGNATURE: Error = Error::State("no valid signature from a trusted key");
/// The only signatures that verify are from revoked keys.
pub const REVOKED: Error = Error::State("signed only by a revoked key");
/// Verification was asked for with no trusted key loaded.
pub const NO_KEYS: Error = Error::State("no trusted ed25519 keys");

/// Refused by [`check_rollback`]: the commit is older than the deployed one.
pub const DOWNGRADE: Error = Error::State("commit is older than the deployed one");

/// Anti-rollback (reliability.md §4, point 4): a commit whose timestamp is older than the
/// deployed commit's is refused unless `allow_downgrade` (`ramdisk.allow-downgrade`). Equal
/// timestamps pass (a re-deploy of the same build).
///
/// # Errors
/// [`DOWNGRADE`].
pub fn check_rollback(
    new_timestamp: u64,
    deployed_timestamp: Option<u64>,
    allow_downgrade: bool,
) -> Result<(), Error> {
    match deployed_timestamp {
        Some(old) if new_timestamp < old && !allow_downgrade => Err(DOWNGRADE),
        _ => Ok(()),
    }
}

/// The mode a checkout gives a file of a commit that is not trusted (not verified by a key):
/// without the setuid and setgid bits.
pub const fn untrusted_mode(mode: u32) -> u32 {
    mode & !0o6000
}

/// True for the xattrs a checkout drops from a commit that is not trusted: file capabilities
/// (`security.capability`), which grant privileges like setuid does. `name` is without its NUL.
pub fn is_privileged_xattr(name: &[u8]) -> bool {
    name == b"security.capability"
}

/// Trusted and revoked public keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    /// Keys whose signatures are accepted unless also revoked, in load order, without duplicates.
    pub trusted: Vec<PublicKey>,
    /// Keys whose signatures are never accepted.
    pub revoked: Vec<PublicKey>,
}

/// A key file that could not be read or parsed: `file` as the caller named it (plus the entry
/// name for a `.d/` directory), `line` 1-based or 0 when the error is not about one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFileError {
    /// The file, for the message.
    pub file: String,
    /// The line at fault (1-based), 0 for the whole file.
    pub line: u32,
    /// What went wrong.
    pub error: Error,
}

impl Keys {
    /// No keys.
    pub const fn new() -> Self {
        Keys {
            trusted: Vec::new(),
            revoked: Vec::new(),
        }
    }

    /// True when no trusted key is loaded (the caller then decides whether signatures are needed).
    pub fn is_empty(&self) -> bool {
        self.trusted.is_empty()
    }

    /// Adds `key` to the trusted (`revoked == false`) or revoked list, once.
    ///
    /// # Errors
    /// `Error::Limit` past [`MAX_KEYS`].
    pub fn add(&mut self, key: PublicKey, revoked: bool) -> Result<(), Error> {
        if self.trusted.len() + self.revoked.len() >= MAX_KEYS {
            return Err(Error::Limit("number of ed25519 keys"));
        }
        let list = if revoked {
            &mut self.revoked
        } else {
            &mut self.trusted
        };
        if !list.contains(&key) {
            list.push(key);
        }
        Ok(())
    }

    /// True when `key` is revoked.
    pub fn is_revoked(&self, key: &PublicKey) -> bool {
        self.revoked.contains(key)
    }

    /// Adds every key of a key file's `text` (see [`parse_key_lines`]).
    ///
    /// # Errors
    /// `(line, error)` for the first bad line (nothing of this file is added then).
    pub fn add_text(&mut self, text: &[u8], revoked: bool) -> Result<(), (u32, Error)> {
        let mut keys = Vec::new();
        parse_key_lines(text, |line, key| {
            if keys.len() >= MAX_KEYS {
                return Err((line, Error::Limit("number of ed25519 keys")));
            }
            keys.push(key);
            Ok(())
        })?;
        for key in keys {
            self.add(key, revoked).map_err(|e| (0, e))?;
        }
        Ok(())
    }

    /// Reads the key file `path` (relative to `dir`, or absolute) into the trusted or revoked list.
    ///
    /// # Errors
    /// A [`KeyFileError`] naming `path` (and the line): missing, unreadable, too large, bad line.
    pub fn add_file(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &str,
        revoked: bool,
    ) -> Result<(), KeyFileError> {
        let fail = |line, error| KeyFileError {
            file: String::from(path),
            line,
            error,
        };
        let text = read_key_file(dir, path).map_err(|e| fail(0, e))?;
        self.add_text(&text, revoked)
            .map_err(|(line, e)| fail(line, e))
    }

    /// Loads `trusted.ed25519`, `trusted.ed25519.d/*`, `revoked.ed25519` and `revoked.ed25519.d/*`
    /// from the directory `path` (relative to `dir`); `path` itself and each of these may be
    /// missing. `.d/` entries are read in directory order, skipping names that start with `.`
    /// and entries that are not regular files (after following symlinks).
    ///
    /// # Errors
    /// The first file that exists but cannot be read or parsed.
    pub fn add_dir(&mut self, dir: BorrowedFd<'_>, path: &str) -> Result<(), KeyFileError> {
        let fail = |file: &str, error| KeyFileError {
            file: join(path, file),
            line: 0,
            error,
        };
        let base = match open_dir(dir, path) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(fail("", Error::sys("openat", e))),
        };
        for (name, revoked) in [("trusted.ed25519", false), ("revoked.ed25519", true)] {
            match self.add_file(base.as_fd(), name, revoked) {
                Err(KeyFileError {
                    error:
                        Error::Sys {
                            errno: Errno::NOENT,
                            ..
                        },
                    ..
                }) => {}
                Err(e) => {
                    return Err(KeyFileError {
                        file: join(path, &e.file),
                        ..e
                    })
                }
                Ok(()) => {}
            }
            let dname = if revoked {
                "revoked.ed25519.d"
            } else {
                "trusted.ed25519.d"
            };
            let dpath = join(path, dname);
            let d = match open_dir(base.as_fd(), dname) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(fail(dname, Error::sys("openat", e))),
            };
            // Entries in directory order (a set of keys does not depend on it); names starting
            // with `.` and entries that are not regular files are skipped.
            let mut rd =
                fs::Dir::read_from(&d).map_err(|e| fail(dname, Error::sys("openat", e)))?;
            let mut files = 0usize;
            while let Some(entry) = rd.read() {
                let entry = entry.map_err(|e| fail(dname, Error::sys("getdents", e)))?;
                let name = entry.file_name();
                if name.to_bytes().first() == Some(&b'.') {
                    continue;
                }
                let efail = |line, error| KeyFileError {
                    file: join(&dpath, &String::from_utf8_lossy(name.to_bytes())),
                    line,
                    error,
                };
                files += 1;
                if files > MAX_KEYS {
                    return Err(efail(0, Error::Limit("number of key files")));
                }
                let fd = match fs::openat(
                    &d,
                    name,
                    OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(efail(0, Error::sys("openat", e))),
                };
                match fs::fstat(&fd) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
                    Ok(_) => continue,
                    Err(e) => return Err(efail(0, Error::sys("fstat", e))),
                }
                let text = crate::ostree::repo::read_all(fd.as_fd(), MAX_KEY_FILE, "key file size")
                    .map_err(|e| efail(0, e))?;
                self.add_text(&text, revoked)
                    .map_err(|(line, e)| efail(line, e))?;
            }
        }
        Ok(())
    }

    /// Loads the system keys: [`SYSTEM_KEY_DIRS`] resolved under the directory `root` (the root of
    /// the initramfs or of a deployment), via [`Keys::add_dir`].
    ///
    /// # Errors
    /// As [`Keys::add_dir`].
    pub fn load_system(root: BorrowedFd<'_>) -> Result<Keys, KeyFileError> {
        let mut keys = Keys::new();
        for d in SYSTEM_KEY_DIRS {
            // Resolved under `root`, but messages name the absolute path.
            keys.add_dir(root, d.trim_start_matches('/'))
                .map_err(|e| KeyFileError {
                    file: join("/", &e.file),
                    ..e
                })?;
        }
        Ok(keys)
    }
}

fn join(dir: &str, name: &str) -> String {
    let mut s = String::from(dir);
    if !name.is_empty() {
        if !s.is_empty() && !s.ends_with('/') {
            s.push('/');
        }
        s.push_str(name);
    }
    s
}

fn open_dir(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, Errno> {
    fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn open_file(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, Errno> {
    fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
}

/// Reads a key file (a regular file, at most 1 MiB).
fn read_key_file(dir: BorrowedFd<'_>, path: &str) -> Result<Vec<u8>, Error> {
    let fd = open_file(dir, path).map_err(|e| Error::sys("openat", e))?;
    let st = fs::fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Error::State("not a regular file"));
    }
    crate::ostree::repo::read_all(fd.as_fd(), MAX_KEY_FILE, "key file size")
}

/// Calls `f(line_number, key)` for each key line of a public key file: one base64 key per line;
/// leading/trailing spaces, tabs and `\r` are ignored, as are blank lines and lines starting
/// with `#`.
///
/// # Errors
/// `(line, Parse(BadValue))` for a line that is not canonical base64 of exactly 32 bytes, or the
/// first error `f` returns.
pub fn parse_key_lines(
    text: &[u8],
    mut f: impl FnMut(u32, PublicKey) -> Result<(), (u32, Error)>,
) -> Result<(), (u32, Error)> {
    for_each_key_line(text, PUBLIC_KEY_LEN, |line, bytes| {
        let mut key = [0u8; PUBLIC_KEY_LEN];
        key.copy_from_slice(bytes.get(..PUBLIC_KEY_LEN).unwrap_or(&[0; PUBLIC_KEY_LEN]));
        f(line, key)
    })
}

/// Calls `f(line_number, decoded)` for each key line of a key file: one base64 key of `len`
/// bytes per line; leading/trailing spaces, tabs and `\r` are ignored, as are blank lines and
/// lines starting with `#`.
///
/// # Errors
/// `(line, Parse)` for a line that is not canonical base64 of exactly `len` bytes (the offset is
/// that of the line in `text`), or the first error `f` returns.
fn for_each_key_line(
    text: &[u8],
    len: usize,
    mut f: impl FnMut(u32, &[u8]) -> Result<(), (u32, Error)>,
) -> Result<(), (u32, Error)> {
    let mut offset = 0usize;
    let mut buf = [0u8; SECRET_KEY_LEN + 3];
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let start = offset;
        offset = offset.saturating_add(raw.len() + 1);
        let s = trim(raw);
        if s.is_empty() || s.first() == Some(&b'#') {
            continue;
        }
        let bad = |kind| (line, Error::Parse(ParseError::at(start, kind)));
        match base64_decode(s, &mut buf) {
            Ok(n) if n == len => f(line, buf.get(..n).unwrap_or_default())?,
            Ok(_)
            | Err(ParseError {
                kind: Malformed::TooLarge,
                ..
            }) => return Err(bad(Malformed::BadValue)),
            Err(e) => return Err(bad(e.kind)),
        }
    }
    Ok(())
}

fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Parses secret keys as `ostree sign` takes them: base64 of the 64-byte libsodium secret key
/// (seed, then public key), one per line (blank lines and `#` comments ignored). The public half
/// of each must belong to its seed.
///
/// # Errors
/// `(line, Parse(BadValue))` for bad base64 or length, `(line, State)` when the halves do not
/// match, `(0, State)` for a file without a key.
pub fn parse_secret_keys(text: &[u8]) -> Result<Vec<[u8; SECRET_KEY_LEN]>, (u32, Error)> {
    let mut keys = Vec::new();
    for_each_key_line(text, SECRET_KEY_LEN, |line, bytes| {
        let mut sk = [0u8; SECRET_KEY_LEN];
        sk.copy_from_slice(bytes.get(..SECRET_KEY_LEN).unwrap_or(&[0; SECRET_KEY_LEN]));
        let mut seed = [0u8; 32];
        seed.copy_from_slice(sk.get(..32).unwrap_or(&[0; 32]));
        if keypair_from_seed(&seed).0 != sk {
            return Err((
                line,
                Error::State("secret key does not match its public key"),
            ));
        }
        if keys.len() >= MAX_KEYS {
            return Err((line, Error::Limit("number of ed25519 keys")));
        }
        keys.push(sk);
        Ok(())
    })?;
    if keys.is_empty() {
        return Err((0, Error::State("no secret key")));
    }
    Ok(keys)
}

/// The libsodium-style secret key (seed ‖ public) and public key of `seed` (RFC 8032 §5.1.5).
pub fn keypair_from_seed(seed: &[u8; 32]) -> ([u8; SECRET_KEY_LEN], PublicKey) {
    let kp = ed::KeyPair::from_seed(ed::Seed::new(*seed));
    (*kp.sk, *kp.pk)
}

/// The RFC 8032 Ed25519 signature of `message` by the 64-byte secret key `sk` (deterministic).
pub fn sign_bytes(sk: &[u8; SECRET_KEY_LEN], message: &[u8]) -> Signature {
    *ed::SecretKey::new(*sk).sign(message, None)
}

/// True when `sig` is a valid signature of `message` by `key` under strict rules: canonical `S`
/// and point encodings, neither the key nor `R` of small order.
pub fn verify_bytes(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    ed::PublicKey::new(*key)
        .verify(message, &ed::Signature::new(*sig))
        .is_ok()
}

/// Checks the signatures of the commit whose exact object bytes are `commit`, with detached
/// metadata `commitmeta` (`None` when there is no `.commitmeta`), against `keys`.
///
/// Returns the index in `keys.trusted` of the first non-revoked key that verified a signature.
///
/// # Errors
/// [`NO_KEYS`] when `keys` has no trusted key; [`UNSIGNED`] when there is no signature;
/// [`REVOKED`] when only revoked keys verify; [`NO_VALID_SIGNATURE`] otherwise;
/// `Parse` for a commitmeta that is not a normal-form `a{sv}` or whose signatures are not an `aay`
/// of 64-byte elements; `Limit` past [`MAX_SIGNATURES`] or the metadata size limit.
pub fn verify_commit(
    commit: &[u8],
    commitmeta: Option<&[u8]>,
    keys: &Keys,
) -> Result<KeyIndex, Error> {
    if keys.trusted.is_empty() {
        return Err(NO_KEYS);
    }
    let sigs = match commitmeta {
        None => return Err(UNSIGNED),
        Some(meta) => signatures(meta)?,
    };
    if sigs.is_empty() {
        return Err(UNSIGNED);
    }
    for sig in &sigs {
        for (i, key) in keys.trusted.iter().enumerate() {
            if !keys.is_revoked(key) && verify_bytes(key, commit, sig) {
                return Ok(i);
            }
        }
    }
    for sig in &sigs {
        if keys
            .revoked
            .iter()
            .any(|key| verify_bytes(key, commit, sig))
        {
            return Err(REVOKED);
        }
    }
    Err(NO_VALID_SIGNATURE)
}

/// The ed25519 signatures in the detached metadata `meta` (empty when the key is absent).
///
/// # Errors
/// As [`verify_commit`] for malformed metadata.
pub fn signatures(meta: &[u8]) -> Result<Vec<Signature>, Error> {
    if meta.len() > MAX_METADATA_SIZE {
        return Err(Error::Limit("commitmeta size"));
    }
    gvariant::validate(b"a{sv}", meta, 0)?;
    let mut out = Vec::new();
    let Some(Entry {
        ty,
        value,
        value_at: at,
        ..
    }) = lookup(meta, METADATA_KEY)?
    else {
        return Ok(out);
    };
    if ty != METADATA_TYPE.as_bytes() {
        return Err(Error::Parse(ParseError::at(at, Malformed::BadValue)));
    }
    let mut arr = Array::new(value, at, 1)?;
    if arr.len() > MAX_SIGNATURES {
        return Err(Error::Limit("number of signatures"));
    }
    while let Some(e) = arr.next_elem() {
        let (bytes, eat) = e?;
        let sig: Signature = bytes
            .try_into()
            .map_err(|_| Error::Parse(ParseError::at(eat, Malformed::BadValue)))?;
        out.push(sig);
    }
    Ok(out)
}

/// One entry of a validated `a{sv}`: key, value type, value bytes, offset of the value, and the
/// whole entry's bytes.
struct Entry<'a> {
    key: &'a str,
    ty: &'a [u8],
    value: &'a [u8],
    value_at: usize,
    bytes: &'a [u8],
}

/// The entries of the `a{sv}` dictionary `dict` in order (`dict` validated by the caller).
fn entries(dict: &[u8]) -> Result<Vec<Entry<'_>>, ParseError> {
    let mut arr = Array::new(dict, 0, 8)?;
    let mut out = Vec::with_capacity(arr.len());
    while let Some(e) = arr.next_elem() {
        let (bytes, at) = e?;
        let mut tup = Tuple::new(bytes, at);
        let (k, kat) = tup.next(1, None, false)?;
        let (v, vat) = tup.next(8, None, true)?;
        tup.finish()?;
        let key = gvariant::string(k, kat)?;
        let nul = v
            .iter()
            .rposition(|&b| b == 0)
            .ok_or(ParseError::at(vat, Malformed::Truncated))?;
        let (value, ty) = v.split_at(nul);
        out.push(Entry {
            key,
            ty: ty.get(1..).unwrap_or_default(),
            value,
            value_at: vat,
            bytes,
        });
    }
    Ok(out)
}

/// The entry `key` of the validated `a{sv}` `dict`.
fn lookup<'a>(dict: &'a [u8], key: &str) -> Result<Option<Entry<'a>>, ParseError> {
    Ok(entries(dict)?.into_iter().find(|e| e.key == key))
}

/// Appends `x` little-endian in `w` bytes.
fn push_le(out: &mut Vec<u8>, x: usize, w: usize) {
    let b = (x as u64).to_le_bytes(); // usize is at most 64 bits on every target
    out.extend_from_slice(b.get(..w).unwrap_or_default());
}

/// Appends zero bytes up to a multiple of 8 counted from `start`.
fn pad8(out: &mut Vec<u8>, start: usize) {
    while !(out.len() - start).is_multiple_of(8) {
        out.push(0);
    }
}

/// Appends the normal-form array of variable-size elements (`elems` already serialized, each
/// aligned to `align` in the array).
fn emit_array(out: &mut Vec<u8>, elems: &[&[u8]], align: usize) {
    let start = out.len();
    let mut ends = Vec::with_capacity(elems.len());
    for e in elems {
        while !(out.len() - start).is_multiple_of(align) {
            out.push(0);
        }
        out.extend_from_slice(e);
        ends.push(out.len() - start);
    }
    let w = framed_width(out.len() - start, ends.len());
    for e in ends {
        push_le(out, e, w);
    }
}

/// The normal-form dict entry `{sv}`: `key` and a variant of type `ty` holding `value`.
fn emit_entry(key: &str, ty: &[u8], value: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(key.len() + value.len() + ty.len() + 16);
    e.extend_from_slice(key.as_bytes());
    e.push(0);
    let key_end = e.len();
    pad8(&mut e, 0);
    e.extend_from_slice(value);
    e.push(0);
    e.extend_from_slice(ty);
    let w = framed_width(e.len(), 1);
    push_le(&mut e, key_end, w);
    e
}

/// The detached metadata `existing` (or an empty dictionary) with `sig` appended to its
/// `ostree.sign.ed25519` signatures, as `ostree sign` does (`_sign_detached_metadata_append`):
/// other entries keep their bytes and order; a new key goes last. The result is in normal form.
///
/// # Errors
/// As [`signatures`] for malformed `existing`, `Limit` past [`MAX_SIGNATURES`].
pub fn append_signature(existing: Option<&[u8]>, sig: &Signature) -> Result<Vec<u8>, Error> {
    let old = existing.unwrap_or_default();
    let mut sigs = signatures(old)?;
    if sigs.len() >= MAX_SIGNATURES {
        return Err(Error::Limit("number of signatures"));
    }
    sigs.push(*sig);
    let list: Vec<&[u8]> = sigs.iter().map(|s| s.as_slice()).collect();
    let mut value = Vec::with_capacity(sigs.len() * (SIGNATURE_LEN + 2));
    emit_array(&mut value, &list, 1);
    let new_entry = emit_entry(METADATA_KEY, METADATA_TYPE.as_bytes(), &value);
    let entries = entries(old)?;
    let mut elems: Vec<&[u8]> = Vec::with_capacity(entries.len() + 1);
    let mut placed = false;
    for e in &entries {
        if e.key == METADATA_KEY {
            if !placed {
                elems.push(&new_entry);
                placed = true;
            }
        } else {
            elems.push(e.bytes);
        }
    }
    if !placed {
        elems.push(&new_entry);
    }
    let mut out = Vec::with_capacity(old.len() + new_entry.len() + 16);
    emit_array(&mut out, &elems, 8);
    if out.len() > MAX_METADATA_SIZE {
        return Err(Error::Limit("commitmeta size"));
    }
    Ok(out)
}

/// `XX/REST.commitmeta` for `csum`, split into the directory and the file name.
fn commitmeta_names(csum: &Checksum) -> ([u8; 2], [u8; 62 + 11]) {
    let hex = ostree::checksum_hex(csum);
    let mut dir = [0u8; 2];
    dir.copy_from_slice(hex.get(..2).unwrap_or(b"00"));
    let mut name = [0u8; 62 + 11];
    name[..62].copy_from_slice(hex.get(2..).unwrap_or(&[b'0'; 62]));
    name[62..].copy_from_slice(b".commitmeta");
    (dir, name)
}

/// Reads `objects/XX/REST.commitmeta` of commit `csum` from `repo` or, when it has none, from
/// the first `core.parent` that has the commit. `None` when there is no detached metadata.
///
/// # Errors
/// `Error::Sys` for an unreadable file, `Limit` past 10 MiB, `State` for a non-regular file.
pub fn load_commitmeta(repo: &Repo, csum: &Checksum) -> Result<Option<Vec<u8>>, Error> {
    let (dir, name) = commitmeta_names(csum);
    let mut path = [0u8; 2 + 1 + 62 + 11];
    path[..2].copy_from_slice(&dir);
    path[2] = b'/';
    path[3..].copy_from_slice(&name);
    let path = core::str::from_utf8(&path).unwrap_or("");
    let mut r = Some(repo);
    while let Some(cur) = r {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        match fs::openat(cur.objects(), path, flags, Mode::empty()) {
            Ok(fd) => {
                let st = fs::fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Err(Error::State("commitmeta is not a regular file"));
                }
                return crate::ostree::repo::read_all(
                    fd.as_fd(),
                    MAX_METADATA_SIZE,
                    "commitmeta size",
                )
                .map(Some);
            }
            Err(Errno::NOENT) if cur.has_object(ObjType::Commit, csum) => return Ok(None),
            Err(Errno::NOENT) => r = cur.parent(),
            Err(e) => return Err(Error::sys("openat commitmeta", e)),
        }
    }
    Ok(None)
}

/// Loads commit `csum` (SHA-256 checked) and its detached metadata from `repo`, and checks its
/// signatures with [`verify_commit`]: the one call checkout, fsck, pull and init make.
///
/// # Errors
/// A [`ostree::Failure`] naming the commit: load failures, or the errors of [`verify_commit`].
pub fn verify_repo_commit(repo: &Repo, csum: &Checksum, keys: &Keys) -> ostree::OResult<KeyIndex> {
    let on = |e| ostree::Failure::on(ObjType::Commit, csum, e);
    if keys.is_empty() {
        return Err(on(NO_KEYS));
    }
    let commit = repo.load_metadata(ObjType::Commit, csum)?;
    let meta = load_commitmeta(repo, csum).map_err(on)?;
    verify_commit(&commit, meta.as_deref(), keys).map_err(on)
}

/// Signs commit `csum` of `repo` with the secret key `sk` and writes the signature into the
/// commit's `.commitmeta` (appended to the signatures already there), atomically: the new file is
/// written and `fsync`ed in `tmp/`, renamed over `objects/XX/REST.commitmeta`, and `objects/XX`
/// is `fsync`ed (after a crash the file holds its old or its new bytes). Returns the signature.
///
/// # Errors
/// A [`ostree::Failure`] naming the commit: load, parse or write failures.
pub fn sign_repo_commit(
    repo: &Repo,
    csum: &Checksum,
    sk: &[u8; SECRET_KEY_LEN],
) -> ostree::OResult<Signature> {
    let on = |e| ostree::Failure::on(ObjType::Commit, csum, e);
    let commit = repo.load_metadata(ObjType::Commit, csum)?;
    let sig = sign_bytes(sk, &commit);
    let meta = load_commitmeta(repo, csum).map_err(on)?;
    let new = append_signature(meta.as_deref(), &sig).map_err(on)?;
    let (dir, name) = commitmeta_names(csum);
    let dir = core::str::from_utf8(&dir).unwrap_or("00");
    let name = core::str::from_utf8(&name).unwrap_or("");
    // The commit may live in a `core.parent` repository: `objects/XX` may not exist here yet.
    crate::ostree_write::layout::mkdir_exist_ok(repo.objects(), dir).map_err(on)?;
    let objdir = open_dir(repo.objects(), dir).map_err(|e| on(Error::sys("openat", e)))?;
    let tmp = open_dir(repo.dir(), "tmp").map_err(|e| on(Error::sys("openat tmp", e)))?;
    crate::ostree_write::layout::replace_file(tmp.as_fd(), objdir.as_fd(), name, &new)
        .map_err(on)?;
    Ok(sig)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the standard base64 (RFC 4648 §4, padded) of `bytes`.
pub fn base64_encode(bytes: &[u8], out: &mut String) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
}

fn b64_val(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes canonical standard base64 (padded, RFC 4648 §4) into `out`; returns the decoded
/// length. Strict: no whitespace, `=` only as final padding, unused bits zero.
///
/// # Errors
/// `BadValue` at the offending input byte, `TooLarge` when `out` is too small, `Truncated` when
/// the length is not a multiple of 4.
pub fn base64_decode(text: &[u8], out: &mut [u8]) -> Result<usize, ParseError> {
    if !text.len().is_multiple_of(4) {
        return Err(ParseError::at(text.len(), Malformed::Truncated));
    }
    let mut n = 0usize;
    let quads = text.len() / 4;
    for (q, quad) in text.chunks_exact(4).enumerate() {
        let last = q + 1 == quads;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(ParseError::at(q * 4 + 4 - pad, Malformed::BadValue));
        }
        let mut acc = 0u32;
        for (i, &c) in quad.iter().enumerate().take(4 - pad) {
            let v = b64_val(c).ok_or(ParseError::at(q * 4 + i, Malformed::BadValue))?;
            acc |= v << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        let keep = 3 - pad;
        // Canonical: bits that the padding drops must be zero.
        if bytes
            .get(1 + keep..)
            .unwrap_or_default()
            .iter()
            .any(|&b| b != 0)
        {
            return Err(ParseError::at(q * 4 + 3 - pad, Malformed::BadValue));
        }
        let dst = out
            .get_mut(n..n + keep)
            .ok_or(ParseError::at(q * 4, Malformed::TooLarge))?;
        dst.copy_from_slice(bytes.get(1..1 + keep).unwrap_or_default());
        n += keep;
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
