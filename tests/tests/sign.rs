//! Ed25519 commit signatures (issue 8): `ramdisk ostree sign [--verify]` and `ostree keygen`
//! against independent implementations, on commits written by the real `ostree`.
//!
//! - Ed25519 from pyca/cryptography and `a{sv}` bytes from GLib (PyGObject), through
//!   `tests/sign/sigtool.py`; each is looked for in `python3` and `/usr/bin/python3`.
//! - The real `ostree` makes the repositories; it must still read what ramdisk wrote
//!   (`show --print-detached-metadata-key`, `fsck`). The Debian ostree 2022.7 has no ed25519
//!   (`ostree sign` says "Requested signature type is not implemented"): the cross-check with
//!   `ostree sign --verify` then prints `skipped:`.
//!
//! The binary must be the full build (`--features pull`): `$RAMDISK_PULL_BIN`, else
//! `target/pull/debug/ramdisk`, else `$RAMDISK_BIN` / the default binary when it has `sign`.
//!
//! Run: `cargo build -p ramdisk-bin --features pull --target-dir target/pull &&
//! cargo test -p tests --test sign` (a few seconds).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tests::{have, ramdisk_bin, run, skip_unless, stderr, stdout, TempDir};

/// Text only the sign applet contains.
const SIGN_MARKER: &[u8] = b"--keys-file to sign with";

fn has_sign(bin: &Path) -> bool {
    std::fs::read(bin)
        .map(|b| b.windows(SIGN_MARKER.len()).any(|w| w == SIGN_MARKER))
        .unwrap_or(false)
}

fn sign_bin() -> Option<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("RAMDISK_PULL_BIN") {
        c.push(PathBuf::from(p));
    }
    c.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pull/debug/ramdisk"));
    if std::env::var_os("RAMDISK_BIN").is_some() {
        c.push(ramdisk_bin());
    } else if let Some(b) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("ramdisk")))
    {
        c.push(b);
    }
    c.into_iter().find(|p| has_sign(p))
}

const TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sign/sigtool.py");

/// A Python interpreter that imports `module`.
fn python_with(module: &str) -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args([TOOL, "probe", module])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

struct Env {
    bin: PathBuf,
    crypto: &'static str,
    glib: &'static str,
}

/// The binary and interpreters, or a loud skip.
fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Option<Env>> = OnceLock::new();
    let e = ENV.get_or_init(|| {
        Some(Env {
            bin: sign_bin()?,
            crypto: python_with("cryptography")?,
            glib: python_with("gi.repository.GLib")?,
        })
    });
    if skip_unless(have("ostree"), "ostree CLI missing")
        || skip_unless(
            sign_bin().is_some(),
            "no ramdisk with `ostree sign` (build with --features pull)",
        )
        || skip_unless(
            python_with("cryptography").is_some(),
            "python3 without cryptography (pip install cryptography)",
        )
        || skip_unless(
            python_with("gi.repository.GLib").is_some(),
            "python3 without gi (python3-gi)",
        )
    {
        return None;
    }
    e.as_ref()
}

fn rd(e: &Env, args: &[&str]) -> Output {
    let mut cmd = match std::env::var_os("RAMDISK_RUNNER") {
        Some(r) if !r.is_empty() => {
            let mut c = Command::new(r);
            c.arg(&e.bin);
            c
        }
        _ => Command::new(&e.bin),
    };
    run(cmd.args(args))
}

fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn tool(py: &str, args: &[&str]) -> Output {
    run(Command::new(py).arg(TOOL).args(args))
}

/// A repository the real ostree wrote, with one commit on `main`.
struct Fx {
    dir: TempDir,
    repo: String,
    commit: String,
}

impl Fx {
    fn new(tag: &str, mode: &str, detached: Option<&str>) -> Fx {
        let dir = TempDir::new(tag);
        let repo = dir.path().join("repo").display().to_string();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(tree.join("etc/os-release"), "ID=test\n").unwrap();
        ok(
            run(Command::new("ostree").args(["init", "--repo", &repo, "--mode", mode])),
            "ostree init",
        );
        let mut c = Command::new("ostree");
        c.args([
            "commit",
            "--repo",
            &repo,
            "-b",
            "main",
            "-s",
            "signed",
            "--timestamp",
            "2024-01-01",
        ]);
        if let Some(kv) = detached {
            c.arg(format!("--add-detached-metadata-string={kv}"));
        }
        c.arg(&tree);
        let commit = ok(run(&mut c), "ostree commit").trim().to_string();
        Fx { dir, repo, commit }
    }

    fn object(&self, ext: &str) -> String {
        format!(
            "{}/objects/{}/{}.{ext}",
            self.repo,
            &self.commit[..2],
            &self.commit[2..]
        )
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn verify(&self, e: &Env, extra: &[&str]) -> Output {
        let repo = format!("--repo={}", self.repo);
        let mut args = vec!["ostree", &repo, "sign", "--verify", "main"];
        args.extend_from_slice(extra);
        rd(e, &args)
    }
}

/// (secret, public) base64 from the independent implementation.
fn py_keygen(e: &Env) -> (String, String) {
    let out = ok(tool(e.crypto, &["keygen"]), "keygen");
    let mut l = out.lines();
    (l.next().unwrap().to_string(), l.next().unwrap().to_string())
}

fn py_sign(e: &Env, secret: &str, file: &str) -> String {
    ok(tool(e.crypto, &["sign", secret, file]), "py sign")
        .trim()
        .to_string()
}

/// The signatures GLib reads from the commitmeta (asserting normal form).
fn py_sigs(e: &Env, fx: &Fx) -> Vec<String> {
    let out = ok(
        tool(e.glib, &["read-meta", &fx.object("commitmeta")]),
        "read-meta",
    );
    out.lines()
        .filter_map(|l| l.strip_prefix("sig "))
        .map(String::from)
        .collect()
}

fn py_write_meta(e: &Env, fx: &Fx, sigs: &[&str]) {
    let meta = fx.object("commitmeta");
    let mut args = vec!["write-meta", &meta];
    if Path::new(&meta).exists() {
        args.push("--existing");
        args.push(&meta);
    }
    args.extend_from_slice(sigs);
    ok(tool(e.glib, &args), "write-meta");
}

fn expect_refusal(o: Output, fx: &Fx, why: &str) {
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stderr(&o),
        format!("ostree: sign: object {}.commit: {why}\n", fx.commit)
    );
    assert_eq!(stdout(&o), "");
}

#[test]
fn independent_signature_over_real_commit_is_accepted() {
    let Some(e) = env() else { return };
    for mode in ["archive", "bare-user"] {
        let fx = Fx::new("sign-accept", mode, None);
        let (sk, pk) = py_keygen(e);
        let sig = py_sign(e, &sk, &fx.object("commit"));
        py_write_meta(e, &fx, &[&sig]);
        let line = format!("Signature verified with key '{pk}'\n");
        // Key on the command line, in --keys-file, and in a key directory's .d/.
        assert_eq!(ok(fx.verify(e, &[&pk]), "verify KEY-ID"), line);
        let kf = fx.file("pub.ed25519", &format!("# test key\n\n{pk}\n"));
        assert_eq!(
            ok(
                fx.verify(e, &[&format!("--keys-file={kf}")]),
                "verify --keys-file"
            ),
            line
        );
        fx.file("keys/trusted.ed25519.d/10-vendor", &format!("{pk}\n"));
        let kd = fx.dir.path().join("keys").display().to_string();
        assert_eq!(
            ok(
                fx.verify(e, &[&format!("--keys-dir={kd}")]),
                "verify --keys-dir"
            ),
            line
        );
    }
}

#[test]
fn ramdisk_signature_verifies_with_independent_implementation() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-produce", "archive", None);
    // A key made by ramdisk and one made by the independent implementation (same file format).
    let out = ok(rd(e, &["ostree", "keygen"]), "keygen");
    let mut l = out.lines();
    let (sk1, pk1) = (l.next().unwrap().to_string(), l.next().unwrap().to_string());
    assert_eq!(
        (sk1.len(), pk1.len()),
        (88, 44),
        "base64 of 64 and 32 bytes"
    );
    let (sk2, pk2) = py_keygen(e);
    let repo = format!("--repo={}", fx.repo);
    ok(
        rd(e, &["ostree", &repo, "sign", &fx.commit, &sk1]),
        "sign KEY-ID",
    );
    let kf = fx.file("secret.ed25519", &format!("{sk2}\n"));
    ok(
        rd(
            e,
            &[
                "ostree",
                &repo,
                "sign",
                &format!("--keys-file={kf}"),
                "main",
            ],
        ),
        "sign --keys-file",
    );
    let sigs = py_sigs(e, &fx);
    assert_eq!(sigs.len(), 2, "both signatures appended");
    let commit = fx.object("commit");
    assert!(tool(e.crypto, &["verify", &pk1, &commit, &sigs[0]])
        .status
        .success());
    assert!(tool(e.crypto, &["verify", &pk2, &commit, &sigs[1]])
        .status
        .success());
    // The real ostree still reads the repository and the detached metadata.
    ok(
        run(Command::new("ostree").args(["fsck", "--repo", &fx.repo])),
        "ostree fsck",
    );
    let shown = ok(
        run(Command::new("ostree").args([
            "show",
            "--repo",
            &fx.repo,
            "--print-detached-metadata-key=ostree.sign.ed25519",
            "main",
        ])),
        "ostree show",
    );
    assert!(
        shown.starts_with("[[byte 0x") || shown.starts_with("[b'"),
        "{shown}"
    );
    // ramdisk verifies its own and the independent signature.
    ok(fx.verify(e, &[&pk1]), "verify pk1");
    ok(fx.verify(e, &[&pk2]), "verify pk2");
}

#[test]
fn sign_appends_to_commitmeta_written_by_ostree() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-append", "archive", Some("foo=bar"));
    let (sk, pk) = py_keygen(e);
    let repo = format!("--repo={}", fx.repo);
    ok(rd(e, &["ostree", &repo, "sign", "main", &sk]), "sign");
    let ours = std::fs::read(fx.object("commitmeta")).unwrap();
    // GLib, inserting the same signature into ostree's original dictionary, writes the same bytes.
    let again = Fx::new("sign-append-glib", "archive", Some("foo=bar"));
    assert_eq!(
        again.commit, fx.commit,
        "same tree, same timestamp: same commit"
    );
    let sig = py_sigs(e, &fx).remove(0);
    py_write_meta(e, &again, &[&sig]);
    assert_eq!(std::fs::read(again.object("commitmeta")).unwrap(), ours);
    let foo = ok(
        run(Command::new("ostree").args([
            "show",
            "--repo",
            &fx.repo,
            "--print-detached-metadata-key=foo",
            "main",
        ])),
        "show foo",
    );
    assert_eq!(foo, "'bar'\n");
    ok(fx.verify(e, &[&pk]), "verify");
}

#[test]
fn verify_refuses_unsigned_commit() {
    let Some(e) = env() else { return };
    let (_, pk) = py_keygen(e);
    let fx = Fx::new("sign-unsigned", "archive", None);
    expect_refusal(fx.verify(e, &[&pk]), &fx, "commit is not signed");
    let fx = Fx::new("sign-unsigned-meta", "archive", Some("foo=bar"));
    expect_refusal(fx.verify(e, &[&pk]), &fx, "commit is not signed");
}

#[test]
fn verify_refuses_signature_by_untrusted_key() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-wrongkey", "archive", None);
    let (sk, _) = py_keygen(e);
    let (_, other) = py_keygen(e);
    py_write_meta(e, &fx, &[&py_sign(e, &sk, &fx.object("commit"))]);
    expect_refusal(
        fx.verify(e, &[&other]),
        &fx,
        "no valid signature from a trusted key",
    );
}

#[test]
fn verify_refuses_signature_over_other_bytes() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-otherbytes", "archive", None);
    let (sk, pk) = py_keygen(e);
    // A valid signature, but over the commit's bytes plus one byte.
    let mut other = std::fs::read(fx.object("commit")).unwrap();
    other.push(0);
    let f = fx.file("other", "");
    std::fs::write(&f, other).unwrap();
    py_write_meta(e, &fx, &[&py_sign(e, &sk, &f)]);
    expect_refusal(
        fx.verify(e, &[&pk]),
        &fx,
        "no valid signature from a trusted key",
    );
}

#[test]
fn verify_refuses_revoked_key() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-revoked", "archive", None);
    let (sk, pk) = py_keygen(e);
    py_write_meta(e, &fx, &[&py_sign(e, &sk, &fx.object("commit"))]);
    fx.file("keys/trusted.ed25519", &format!("{pk}\n"));
    fx.file("keys/revoked.ed25519.d/old", &format!("{pk}\n"));
    let kd = format!("--keys-dir={}", fx.dir.path().join("keys").display());
    expect_refusal(fx.verify(e, &[&kd]), &fx, "signed only by a revoked key");
    // Revocation also applies to a key given on the command line.
    expect_refusal(
        fx.verify(e, &[&kd, &pk]),
        &fx,
        "signed only by a revoked key",
    );
}

#[test]
fn verify_refuses_non_canonical_s() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-malleable", "archive", None);
    let (sk, pk) = py_keygen(e);
    let sig = py_sign(e, &sk, &fx.object("commit"));
    let bad = ok(tool(e.crypto, &["tweak-s", &sig]), "tweak-s")
        .trim()
        .to_string();
    py_write_meta(e, &fx, &[&bad]);
    expect_refusal(
        fx.verify(e, &[&pk]),
        &fx,
        "no valid signature from a trusted key",
    );
}

#[test]
fn verify_refuses_small_order_key() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-smallorder", "archive", None);
    // Public key = the identity point; signature R = B, S = 1 satisfies [S]B = R + [k]A for any
    // message, so only the small-order check refuses it.
    let identity = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let mut forged = vec![0x58u8];
    forged.extend([0x66u8; 31]);
    forged.push(1);
    forged.extend([0u8; 31]);
    let f = fx.file("forged", "");
    std::fs::write(&f, &forged).unwrap();
    let b64 = ok(run(Command::new("base64").args(["-w0", &f])), "base64");
    py_write_meta(e, &fx, &[&b64]);
    expect_refusal(
        fx.verify(e, &[identity]),
        &fx,
        "no valid signature from a trusted key",
    );
}

#[test]
fn bad_key_file_line_is_named() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-badkeyfile", "archive", None);
    let (sk, pk) = py_keygen(e);
    // Line 3 holds a secret key (64 bytes), not a public key.
    let kf = fx.file("keys/trusted.ed25519", &format!("{pk}\n\n{sk}\n"));
    let o = fx.verify(e, &[&format!("--keys-file={kf}")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "ostree: sign: {kf}:3: invalid value at byte {}\n",
            pk.len() + 2
        )
    );
    let repo = format!("--repo={}", fx.repo);
    let o = rd(
        e,
        &[
            "ostree",
            &repo,
            "sign",
            &format!("--keys-file={kf}"),
            "main",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("ostree: sign: {kf}:1: invalid value at byte 0\n")
    );
    assert!(
        !Path::new(&fx.object("commitmeta")).exists(),
        "nothing written"
    );
}

#[test]
fn real_ostree_verifies_ramdisk_signature() {
    let Some(e) = env() else { return };
    let fx = Fx::new("sign-realostree", "archive", None);
    let probe =
        run(Command::new("ostree").args(["sign", "--repo", &fx.repo, "--verify", "main", "AAAA"]));
    if stderr(&probe).contains("not implemented") {
        // Not `skip_unless`: no package fixes this (Debian builds ostree 2022.7 without
        // libsodium), so REQUIRE_ALL must not turn it into a failure. Still loud.
        eprintln!("skipped: this ostree is built without ed25519 (libsodium): no `ostree sign` cross-check");
        return;
    }
    let (sk, pk) = py_keygen(e);
    let repo = format!("--repo={}", fx.repo);
    ok(rd(e, &["ostree", &repo, "sign", "main", &sk]), "sign");
    ok(
        run(Command::new("ostree").args(["sign", "--repo", &fx.repo, "--verify", "main", &pk])),
        "ostree verify",
    );
}

#[test]
fn openssl_keys_and_signatures_interoperate() {
    let Some(e) = env() else { return };
    if skip_unless(have("openssl"), "openssl missing") {
        return;
    }
    let fx = Fx::new("sign-openssl", "archive", None);
    let d = fx.dir.path().display().to_string();
    // The key formats documented in ostree_sign.rs: seed and public key are the last 32 bytes
    // of openssl's DER encodings.
    let sh = |script: &str| {
        ok(
            run(Command::new("sh").args(["-euc", script, "sh", &d])),
            script,
        )
    };
    sh("cd \"$1\"; openssl genpkey -algorithm ed25519 -out k.pem; \
        openssl pkey -in k.pem -outform DER | tail -c 32 > seed; \
        openssl pkey -in k.pem -pubout -outform DER | tail -c 32 > pub; \
        openssl pkey -in k.pem -pubout -out pub.pem; \
        cat seed pub | base64 -w0 > secret.ed25519; base64 -w0 pub > trusted.ed25519");
    let repo = format!("--repo={}", fx.repo);
    let kf = format!("--keys-file={d}/secret.ed25519");
    ok(
        rd(e, &["ostree", &repo, "sign", &kf, "main"]),
        "sign with openssl's key",
    );
    let sig = py_sigs(e, &fx).remove(0);
    std::fs::write(format!("{d}/sig.b64"), sig).unwrap();
    let commit = fx.object("commit");
    let verified = sh(&format!(
        "cd \"$1\"; base64 -d sig.b64 > sig; \
         openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in {commit} -sigfile sig"
    ));
    assert!(
        verified.contains("Signature Verified Successfully"),
        "{verified}"
    );
    // And a signature openssl made is accepted by ramdisk.
    let fx2 = Fx::new("sign-openssl2", "archive", None);
    sh(&format!("cd \"$1\"; openssl pkeyutl -sign -inkey k.pem -rawin -in {} -out sig2; base64 -w0 sig2 > sig2.b64", fx2.object("commit")));
    let sig2 = std::fs::read_to_string(format!("{d}/sig2.b64")).unwrap();
    py_write_meta(e, &fx2, &[&sig2]);
    ok(
        fx2.verify(e, &[&format!("--keys-file={d}/trusted.ed25519")]),
        "verify openssl's signature",
    );
}
