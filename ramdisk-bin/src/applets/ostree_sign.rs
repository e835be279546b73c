//! `ostree sign` and `ostree keygen` (full build, feature `pull`): ed25519 commit signatures
//! (core `sign`; reliability.md §4). The `ostree` applet dispatches here.
//!
//! Usage (`--repo=R` comes from the `ostree` applet):
//! - `ostree sign [--keys-file=SECRET] COMMIT [SECRET-KEY...]`: signs COMMIT with each secret key
//!   (base64 of the 64-byte seed ‖ public key, as `ostree sign` takes KEY-IDs; the file holds one
//!   per line) and appends the signatures to `objects/XX/REST.commitmeta` (`a{sv}`, key
//!   `ostree.sign.ed25519`, type `aay`), replacing the file atomically.
//! - `ostree sign --verify [--keys-file=PUBLIC] [--keys-dir=DIR] COMMIT [PUBLIC-KEY...]`: exit 0
//!   when a signature verifies with a trusted key that is not revoked. Trusted keys are the
//!   PUBLIC-KEYs and `--keys-file`; without them, `trusted.ed25519` and `trusted.ed25519.d/*` in
//!   DIR (default `/usr/share/ostree` and `/etc/ostree`). Prints `Signature verified with key
//!   'BASE64'` on success.
//! - `ostree keygen`: prints a new secret key (base64, 64 bytes) on the first line and its public
//!   key (base64, 32 bytes) on the second, from `/dev/urandom`. openssl makes the same formats:
//!   `openssl genpkey -algorithm ed25519 -out k.pem`; the seed is
//!   `openssl pkey -in k.pem -outform DER | tail -c 32`, the public key
//!   `openssl pkey -in k.pem -pubout -outform DER | tail -c 32`; the secret key file holds
//!   `base64 -w0` of seed ‖ public key, the trusted key file `base64 -w0` of the public key.
//!
//! Deliberate differences from ostree 2022.7 (whose Debian build has no ed25519 at all):
//! - revoked keys (`revoked.ed25519[.d]` in the key directories) are honoured even when the
//!   trusted keys come from the command line or `--keys-file`.
//! - a key file line that is not one base64 key is an error naming file and line (ostree skips it).
//! - verification is strict (non-canonical S or points and small-order keys are refused).
//! - `--delete` and `--sign-type=dummy` are not offered; `--sign-type` accepts only `ed25519`.

use super::{open_repo, resolve, APPLET};
use crate::report;
use argh::FromArgs;
use ramdisk_core::ostree::Repo;
use ramdisk_core::ostree_write::layout;
use ramdisk_core::sign::{self, KeyFileError, Keys};
use ramdisk_core::Error;
use rustix::fs::{Mode, OFlags, CWD};

/// Sign a commit, or verify its signatures.
#[derive(FromArgs)]
struct SignArgs {
    /// verify the commit's signatures instead of signing it
    #[argh(switch)]
    verify: bool,
    /// signature type (only ed25519)
    #[argh(option, short = 's')]
    sign_type: Option<String>,
    /// file of base64 keys, one per line: secret keys to sign with, public keys to trust
    #[argh(option)]
    keys_file: Option<String>,
    /// directory holding trusted.ed25519[.d] and revoked.ed25519[.d] (default: /usr/share/ostree
    /// and /etc/ostree)
    #[argh(option)]
    keys_dir: Option<String>,
    /// the commit
    #[argh(positional)]
    commit: String,
    /// base64 keys: secret keys to sign with, or public keys to trust
    #[argh(positional)]
    keys: Vec<String>,
}

/// Generate an ed25519 key pair: secret key, then public key, base64, one per line.
#[derive(FromArgs)]
struct KeygenArgs {}

/// Prints `ostree: sign: FILE:LINE: why`.
fn key_file_error(e: &KeyFileError) {
    let mut line = String::from(e.file.as_str());
    if e.line > 0 {
        line.push(':');
        report::push_u64(&mut line, u64::from(e.line));
    }
    line.push_str(": ");
    report::push_error(&mut line, &e.error);
    report::err(&[APPLET, ": sign: ", &line]);
}

/// `ostree sign`: `words` are the arguments after `sign`.
pub fn sign_main(repo_path: &str, words: &[&str]) -> u8 {
    let a: SignArgs = match crate::args::parse_words("ostree sign", words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    if let Some(t) = a.sign_type.as_deref().filter(|t| *t != "ed25519") {
        report::err(&[
            APPLET,
            ": sign: Requested signature type '",
            t,
            "' is not implemented",
        ]);
        return 1;
    }
    let Some(repo) = open_repo("sign", repo_path) else {
        return 1;
    };
    let Some(commit) = resolve("sign", &repo, &a.commit) else {
        return 1;
    };
    if a.verify {
        verify(&repo, &commit, &a)
    } else {
        sign_with(&repo, &commit, &a)
    }
}

/// Reads the key file `path` (relative to the current directory, or absolute), printing the failure.
fn read_text(path: &str) -> Option<Vec<u8>> {
    match layout::read_file(CWD, path, 1 << 20) {
        Ok(t) => Some(t),
        Err(e) => {
            key_file_error(&KeyFileError {
                file: path.into(),
                line: 0,
                error: e,
            });
            None
        }
    }
}

fn sign_with(repo: &Repo, commit: &[u8; 32], a: &SignArgs) -> u8 {
    let mut secrets = Vec::new();
    for (i, k) in a.keys.iter().enumerate() {
        match sign::parse_secret_keys(k.as_bytes()) {
            Ok(mut ks) if ks.len() == 1 => secrets.append(&mut ks),
            Ok(_) | Err(_) => {
                let mut n = String::new();
                report::push_u64(&mut n, i as u64 + 1);
                report::err(&[
                    APPLET,
                    ": sign: invalid secret key ",
                    &n,
                    " (base64 of 64 bytes)",
                ]);
                return 1;
            }
        }
    }
    if let Some(path) = a.keys_file.as_deref() {
        let Some(text) = read_text(path) else {
            return 1;
        };
        match sign::parse_secret_keys(&text) {
            Ok(mut ks) => secrets.append(&mut ks),
            Err((line, error)) => {
                key_file_error(&KeyFileError {
                    file: path.into(),
                    line,
                    error,
                });
                return 1;
            }
        }
    }
    if secrets.is_empty() {
        report::err(&[
            APPLET,
            ": sign: Need at least one KEY-ID or --keys-file to sign with",
        ]);
        return 1;
    }
    for sk in &secrets {
        if let Err(f) = sign::sign_repo_commit(repo, commit, sk) {
            super::fail("sign", &f);
            return 1;
        }
    }
    0
}

fn verify(repo: &Repo, commit: &[u8; 32], a: &SignArgs) -> u8 {
    let mut dirs = Keys::new();
    let loaded = match a.keys_dir.as_deref() {
        Some(d) => dirs.add_dir(CWD, d),
        None => Keys::load_system(CWD).map(|k| dirs = k),
    };
    if let Err(e) = loaded {
        key_file_error(&e);
        return 1;
    }
    let mut keys = Keys::new();
    for (i, k) in a.keys.iter().enumerate() {
        if let Err((_, error)) = keys.add_text(k.as_bytes(), false) {
            let mut n = String::from("KEY-ID ");
            report::push_u64(&mut n, i as u64 + 1);
            key_file_error(&KeyFileError {
                file: n,
                line: 0,
                error,
            });
            return 1;
        }
    }
    if let Some(path) = a.keys_file.as_deref() {
        if let Err(e) = keys.add_file(CWD, path, false) {
            key_file_error(&e);
            return 1;
        }
    }
    if keys.is_empty() {
        keys.trusted = dirs.trusted;
    }
    for r in dirs.revoked {
        if keys.add(r, true).is_err() {
            report::err(&[APPLET, ": sign: too many keys"]);
            return 1;
        }
    }
    match sign::verify_repo_commit(repo, commit, &keys) {
        Ok(i) => {
            let mut line = String::from("Signature verified with key '");
            if let Some(k) = keys.trusted.get(i) {
                sign::base64_encode(k, &mut line);
            }
            line.push_str("'\n");
            report::out(&line);
            0
        }
        Err(f) => {
            super::fail("sign", &f);
            1
        }
    }
}

/// `ostree keygen`: `words` are the arguments after `keygen`.
pub fn keygen_main(words: &[&str]) -> u8 {
    let _: KeygenArgs = match crate::args::parse_words("ostree keygen", words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let mut seed = [0u8; 32];
    let read = rustix::fs::open(
        "/dev/urandom",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|fd| rustix::io::read(&fd, &mut seed));
    match read {
        Ok(32) => {}
        Ok(_) => {
            report::fail(
                APPLET,
                "keygen",
                &Error::State("short read from /dev/urandom"),
            );
            return 1;
        }
        Err(errno) => {
            report::fail_errno(APPLET, "keygen: can't read", "/dev/urandom", errno);
            return 1;
        }
    }
    if seed == [0; 32] {
        report::fail(
            APPLET,
            "keygen",
            &Error::State("/dev/urandom returned zeros"),
        );
        return 1;
    }
    let (sk, pk) = sign::keypair_from_seed(&seed);
    let mut out = String::new();
    sign::base64_encode(&sk, &mut out);
    out.push('\n');
    sign::base64_encode(&pk, &mut out);
    out.push('\n');
    report::out(&out);
    0
}
