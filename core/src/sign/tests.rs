//! Unit tests of `sign`: RFC 8032 §7.1 vectors, strictness, base64, key files, `a{sv}` bytes.

use super::*;
use alloc::vec;

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().unwrap()
}

/// RFC 8032 §7.1 TEST 1024: the 1023-byte message.
const TEST_1024_MESSAGE: &str = "
08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8
79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc
1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e
06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7
aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2
d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270
88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07
07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a
ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7
51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8
ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08
d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4
88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e
6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5
0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d
b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0";

/// RFC 8032 §7.1: (name, secret seed, public key, message, signature).
const VECTORS: [(&str, &str, &str, &str, &str); 5] = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        TEST_1024_MESSAGE,
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

#[test]
fn rfc8032_vectors_sign_and_verify() {
    assert_eq!(hex(TEST_1024_MESSAGE).len(), 1023);
    for (name, seed, public, msg, sig) in VECTORS {
        let (sk, pk) = keypair_from_seed(&arr(seed));
        assert_eq!(pk, arr::<32>(public), "{name}: public key");
        assert_eq!(&sk[32..], &pk[..], "{name}: secret key = seed ‖ public");
        let msg = hex(msg);
        let sig: Signature = arr(sig);
        assert_eq!(sign_bytes(&sk, &msg), sig, "{name}: signature");
        assert!(verify_bytes(&pk, &msg, &sig), "{name}: verifies");
        let mut bad = sig;
        bad[5] ^= 1;
        assert!(
            !verify_bytes(&pk, &msg, &bad),
            "{name}: flipped bit refused"
        );
        let mut other = msg.clone();
        other.push(0);
        assert!(
            !verify_bytes(&pk, &other, &sig),
            "{name}: other message refused"
        );
    }
}

/// TEST 1's key, message and signature.
fn test1() -> (PublicKey, Signature) {
    (arr(VECTORS[0].2), arr(VECTORS[0].4))
}

#[test]
fn rejects_non_canonical_s() {
    let (pk, sig) = test1();
    // S + ℓ: the same scalar mod ℓ, so a lax verifier accepts a second encoding.
    let s_plus_l = arr::<32>("4c8c7872aa064e049dbb3013fbf29380d25bf5f0595bbe24655141438e7a101b");
    let l = arr::<32>("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    for s in [s_plus_l, l, [0xff; 32]] {
        let mut bad = sig;
        bad[32..].copy_from_slice(&s);
        assert!(!verify_bytes(&pk, b"", &bad));
    }
}

/// The eight points of small order, each in its canonical encoding.
const SMALL_ORDER: [&str; 8] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

/// The base point B, encoded.
const BASE: &str = "5866666666666666666666666666666666666666666666666666666666666666";

#[test]
fn rejects_small_order_public_keys() {
    // R = B, S = 1: [S]B = R, and [k]A vanishes (cofactored) for every small-order A, so a
    // verifier without the small-order check accepts this for any message.
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&arr::<32>(BASE));
    sig[32] = 1;
    for key in SMALL_ORDER {
        let pk: PublicKey = arr(key);
        assert!(!verify_bytes(&pk, b"any message", &sig), "{key}");
        assert!(!verify_bytes(&pk, b"", &sig), "{key}");
    }
    // And R of small order with S = 0 under a small-order key.
    let ident: PublicKey = arr(SMALL_ORDER[0]);
    let mut sig0 = [0u8; 64];
    sig0[..32].copy_from_slice(&ident);
    assert!(!verify_bytes(&ident, b"x", &sig0));
}

#[test]
fn rejects_small_order_r() {
    let (pk, sig) = test1();
    for r in SMALL_ORDER {
        let mut bad = sig;
        bad[..32].copy_from_slice(&arr::<32>(r));
        assert!(!verify_bytes(&pk, b"", &bad));
    }
}

#[test]
fn rejects_non_canonical_point_encodings() {
    let (pk, sig) = test1();
    for enc in [
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1
        "0200000000000000000000000000000000000000000000000000000000000000", // no square root
        "0100000000000000000000000000000000000000000000000000000000000080", // x = 0, sign set
    ] {
        let bad_key: PublicKey = arr(enc);
        assert!(!verify_bytes(&bad_key, b"", &sig), "key {enc}");
        let mut bad = sig;
        bad[..32].copy_from_slice(&bad_key);
        assert!(!verify_bytes(&pk, b"", &bad), "R {enc}");
    }
}

#[test]
fn base64_round_trips_and_is_strict() {
    let mut s = String::new();
    base64_encode(b"", &mut s);
    assert_eq!(s, "");
    for (raw, text) in [
        (&b"f"[..], "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foobar", "Zm9vYmFy"),
    ] {
        let mut s = String::new();
        base64_encode(raw, &mut s);
        assert_eq!(s, text);
        let mut out = [0u8; 8];
        let n = base64_decode(text.as_bytes(), &mut out).unwrap();
        assert_eq!(&out[..n], raw);
    }
    let mut out = [0u8; 8];
    for bad in [
        "Zg=", "Zh==", "Zm9", "Z===", "Zg==Zg==", "Zm 9", "Zm9-", "Zm8=\n",
    ] {
        assert!(base64_decode(bad.as_bytes(), &mut out).is_err(), "{bad}");
    }
    // Too long for the output buffer.
    assert_eq!(
        base64_decode(b"Zm9vYmFyYmF6", &mut out).unwrap_err().kind,
        Malformed::TooLarge
    );
}

fn b64(bytes: &[u8]) -> String {
    let mut s = String::new();
    base64_encode(bytes, &mut s);
    s
}

#[test]
fn key_file_skips_comments_and_blank_lines() {
    let k1 = arr::<32>(VECTORS[0].2);
    let k2 = arr::<32>(VECTORS[1].2);
    let text = [
        "# trusted keys\n\n",
        &b64(&k1),
        "\r\n   ",
        &b64(&k2),
        "  \n\n",
    ]
    .concat();
    let mut keys = Keys::new();
    keys.add_text(text.as_bytes(), false).unwrap();
    keys.add_text(b64(&k1).as_bytes(), false).unwrap();
    assert_eq!(keys.trusted, vec![k1, k2]);
    assert!(keys.revoked.is_empty());
}

#[test]
fn key_file_names_the_bad_line() {
    let k1 = arr::<32>(VECTORS[0].2);
    let mut keys = Keys::new();
    // Line 3 is a 64-byte secret key, not a public key.
    let text = [&b64(&k1), "\n\n", &b64(&[7u8; 64]), "\n"].concat();
    let (line, e) = keys.add_text(text.as_bytes(), false).unwrap_err();
    assert_eq!(line, 3);
    assert!(matches!(
        e,
        Error::Parse(ParseError {
            kind: Malformed::BadValue,
            ..
        })
    ));
    assert!(keys.trusted.is_empty(), "nothing of a bad file is added");
    let (line, _) = keys.add_text(b"not base64!\n", false).unwrap_err();
    assert_eq!(line, 1);
}

/// A commitmeta with `ostree.sign.ed25519` = `sigs`, as GLib writes it.
fn meta_with(sigs: &[Signature]) -> Vec<u8> {
    let mut m = None;
    for s in sigs {
        m = Some(append_signature(m.as_deref(), s).unwrap());
    }
    m.unwrap_or_default()
}

/// GLib's bytes for `{'ostree.sign.ed25519': <[bytes(range(64))]>}` (python3-gi,
/// `GLib.Variant('a{sv}', …).get_data_as_bytes()`).
const GLIB_ONE_SIG: &str = "6f73747265652e7369676e2e656432353531390000000000\
    000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
    202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
    4000616179145e";

/// GLib's bytes for `{'foo': <'bar'>, 'ostree.sign.ed25519': <[range(64), range(64,128)]>}`.
const GLIB_TWO_SIGS: &str =
    "666f6f000000000062617200007304006f73747265652e7369676e2e6564323535313900000000\
    00000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
    202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
    404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\
    606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f\
    408000616179140faf";

/// `ostree commit --add-detached-metadata-string=foo=bar` wrote these 16 bytes:
/// `foo\0` + 4 pad, `bar\0` `\0` `s` (variant), key end 04, array end 0f.
const OSTREE_FOO_BAR: &str = "666f6f0000000000626172000073040f";

fn seq(from: u8) -> Signature {
    let mut s = [0u8; 64];
    for (i, b) in s.iter_mut().enumerate() {
        *b = from + i as u8;
    }
    s
}

#[test]
fn appended_signature_matches_glib_bytes() {
    assert_eq!(append_signature(None, &seq(0)).unwrap(), hex(GLIB_ONE_SIG));
    let foo = hex(OSTREE_FOO_BAR);
    let one = append_signature(Some(&foo), &seq(0)).unwrap();
    let two = append_signature(Some(&one), &seq(64)).unwrap();
    assert_eq!(two, hex(GLIB_TWO_SIGS));
    assert_eq!(signatures(&two).unwrap(), vec![seq(0), seq(64)]);
    // Appending to an empty dictionary (0 bytes) is appending to none.
    assert_eq!(
        append_signature(Some(b""), &seq(0)).unwrap(),
        hex(GLIB_ONE_SIG)
    );
}

#[test]
fn emitted_entries_round_trip_through_the_reader() {
    let glib = hex(GLIB_TWO_SIGS);
    let e = entries(&glib).unwrap();
    let elems: Vec<&[u8]> = e.iter().map(|e| e.bytes).collect();
    let mut out = Vec::new();
    emit_array(&mut out, &elems, 8);
    assert_eq!(out, glib);
    for e in &e {
        assert_eq!(emit_entry(e.key, e.ty, e.value), e.bytes);
    }
}

#[test]
fn large_commitmeta_uses_wider_offsets_in_normal_form() {
    // 10 signatures: the aay is 650 bytes, so offsets grow to 2 bytes everywhere.
    let sigs: Vec<Signature> = (0..10u8).map(|i| [i; 64]).collect();
    let m = meta_with(&sigs);
    gvariant::validate(b"a{sv}", &m, 0).unwrap();
    assert_eq!(signatures(&m).unwrap(), sigs);
}

fn keys_of(trusted: &[PublicKey], revoked: &[PublicKey]) -> Keys {
    let mut k = Keys::new();
    for t in trusted {
        k.add(*t, false).unwrap();
    }
    for r in revoked {
        k.add(*r, true).unwrap();
    }
    k
}

/// A commit-like message and two key pairs.
type Pair = ([u8; 64], PublicKey);

fn setup() -> (Vec<u8>, Pair, Pair) {
    let commit = hex(VECTORS[3].3);
    (
        commit,
        keypair_from_seed(&[1; 32]),
        keypair_from_seed(&[2; 32]),
    )
}

#[test]
fn verify_commit_accepts_a_trusted_signature() {
    let (commit, (sk1, pk1), (_, pk2)) = setup();
    let meta = meta_with(&[sign_bytes(&sk1, &commit)]);
    assert_eq!(
        verify_commit(&commit, Some(&meta), &keys_of(&[pk2, pk1], &[])),
        Ok(1)
    );
}

#[test]
fn verify_commit_accepts_any_valid_signature_among_several() {
    let (commit, (sk1, _), (sk2, pk2)) = setup();
    let meta = meta_with(&[
        sign_bytes(&sk1, &commit),
        [9; 64],
        sign_bytes(&sk2, &commit),
    ]);
    assert_eq!(
        verify_commit(&commit, Some(&meta), &keys_of(&[pk2], &[])),
        Ok(0)
    );
}

#[test]
fn verify_commit_refuses_unsigned() {
    let (commit, _, (_, pk2)) = setup();
    let keys = keys_of(&[pk2], &[]);
    assert_eq!(verify_commit(&commit, None, &keys), Err(UNSIGNED));
    assert_eq!(verify_commit(&commit, Some(b""), &keys), Err(UNSIGNED));
    assert_eq!(
        verify_commit(&commit, Some(&hex(OSTREE_FOO_BAR)), &keys),
        Err(UNSIGNED)
    );
}

#[test]
fn verify_commit_refuses_wrong_key() {
    let (commit, (sk1, _), (_, pk2)) = setup();
    let meta = meta_with(&[sign_bytes(&sk1, &commit)]);
    assert_eq!(
        verify_commit(&commit, Some(&meta), &keys_of(&[pk2], &[])),
        Err(NO_VALID_SIGNATURE)
    );
}

#[test]
fn verify_commit_refuses_signature_over_other_bytes() {
    let (commit, (sk1, pk1), _) = setup();
    let meta = meta_with(&[sign_bytes(&sk1, &commit[1..])]);
    assert_eq!(
        verify_commit(&commit, Some(&meta), &keys_of(&[pk1], &[])),
        Err(NO_VALID_SIGNATURE)
    );
}

#[test]
fn verify_commit_refuses_revoked_key() {
    let (commit, (sk1, pk1), (_, pk2)) = setup();
    let meta = meta_with(&[sign_bytes(&sk1, &commit)]);
    // Trusted and revoked: revocation wins.
    assert_eq!(
        verify_commit(&commit, Some(&meta), &keys_of(&[pk1, pk2], &[pk1])),
        Err(REVOKED)
    );
    // Revoked only.
    assert_eq!(
        verify_commit(&commit, Some(&meta), &keys_of(&[pk2], &[pk1])),
        Err(REVOKED)
    );
}

#[test]
fn verify_commit_needs_keys() {
    let (commit, (sk1, _), _) = setup();
    let meta = meta_with(&[sign_bytes(&sk1, &commit)]);
    assert_eq!(
        verify_commit(&commit, Some(&meta), &Keys::new()),
        Err(NO_KEYS)
    );
}

#[test]
fn verify_commit_refuses_malformed_commitmeta() {
    let (commit, (sk1, pk1), _) = setup();
    let keys = keys_of(&[pk1], &[]);
    let sig = sign_bytes(&sk1, &commit);
    // Signature of 63 bytes inside an otherwise valid aay.
    let mut value = Vec::new();
    emit_array(&mut value, &[&sig[..63]], 1);
    let mut meta = Vec::new();
    emit_array(&mut meta, &[&emit_entry(METADATA_KEY, b"aay", &value)], 8);
    assert!(matches!(
        verify_commit(&commit, Some(&meta), &keys),
        Err(Error::Parse(_))
    ));
    // The key with another type.
    let mut meta = Vec::new();
    emit_array(&mut meta, &[&emit_entry(METADATA_KEY, b"ay", &sig)], 8);
    assert!(matches!(
        verify_commit(&commit, Some(&meta), &keys),
        Err(Error::Parse(_))
    ));
    // Not normal form: a trailing byte.
    let mut good = meta_with(&[sig]);
    good.push(0);
    assert!(matches!(
        verify_commit(&commit, Some(&good), &keys),
        Err(Error::Parse(_))
    ));
    // Truncated at every length: never a panic.
    let good = meta_with(&[sig]);
    for n in 0..good.len() {
        let _ = verify_commit(&commit, Some(&good[..n]), &keys);
    }
}

#[test]
fn parse_secret_keys_checks_each_public_half() {
    let (sk, _) = keypair_from_seed(&[3; 32]);
    let (sk2, _) = keypair_from_seed(&[4; 32]);
    assert_eq!(parse_secret_keys(b64(&sk).as_bytes()), Ok(vec![sk]));
    let two = ["# signing keys\n", &b64(&sk), "\n\n", &b64(&sk2), "\n"].concat();
    assert_eq!(parse_secret_keys(two.as_bytes()), Ok(vec![sk, sk2]));
    let mut bad = sk;
    bad[40] ^= 1;
    let text = [&b64(&sk), "\n", &b64(&bad), "\n"].concat();
    assert!(matches!(
        parse_secret_keys(text.as_bytes()),
        Err((2, Error::State(_)))
    ));
    assert!(matches!(
        parse_secret_keys(b64(&sk[..32]).as_bytes()),
        Err((1, Error::Parse(_)))
    ));
    assert!(matches!(
        parse_secret_keys(b"\n# none\n"),
        Err((0, Error::State(_)))
    ));
}

/// A fresh directory for a filesystem test.
fn temp_root(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(alloc::format!("ramdisk-sign-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn open_root(p: &std::path::Path) -> OwnedFd {
    fs::open(
        p.to_str().unwrap(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap()
}

#[test]
fn load_system_reads_files_and_d_directories_under_root() {
    let root = temp_root("load");
    let k = |i: u8| keypair_from_seed(&[i; 32]).1;
    let etc = root.join("etc/ostree");
    std::fs::create_dir_all(etc.join("trusted.ed25519.d/subdir")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/ostree/revoked.ed25519.d")).unwrap();
    std::fs::write(
        etc.join("trusted.ed25519"),
        [b64(&k(1)), "\n".into()].concat(),
    )
    .unwrap();
    std::fs::write(etc.join("trusted.ed25519.d/vendor"), b64(&k(2))).unwrap();
    std::fs::write(etc.join("trusted.ed25519.d/.hidden"), "not a key").unwrap();
    std::fs::write(
        root.join("usr/share/ostree/revoked.ed25519.d/old"),
        b64(&k(3)),
    )
    .unwrap();
    let fd = open_root(&root);
    let mut keys = Keys::load_system(fd.as_fd()).unwrap();
    keys.trusted.sort_unstable();
    let mut want = vec![k(1), k(2)];
    want.sort_unstable();
    assert_eq!(keys.trusted, want);
    assert_eq!(keys.revoked, vec![k(3)]);
    // A bad line is named with the absolute path and line number.
    std::fs::write(
        etc.join("trusted.ed25519.d/broken"),
        [b64(&k(4)), "\n%%%%\n".into()].concat(),
    )
    .unwrap();
    let e = Keys::load_system(fd.as_fd()).unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.line),
        ("/etc/ostree/trusted.ed25519.d/broken", 2)
    );
    // No key directory at all: no keys, no error.
    let empty = temp_root("load-empty");
    assert!(Keys::load_system(open_root(&empty).as_fd())
        .unwrap()
        .is_empty());
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn rollback_to_older_commit_is_refused_unless_allowed() {
    assert_eq!(check_rollback(100, Some(200), false), Err(DOWNGRADE));
    assert_eq!(check_rollback(100, Some(200), true), Ok(()));
    assert_eq!(check_rollback(200, Some(200), false), Ok(()));
    assert_eq!(check_rollback(300, Some(200), false), Ok(()));
    assert_eq!(check_rollback(0, None, false), Ok(()));
}

#[test]
fn untrusted_commits_lose_setuid_and_capabilities() {
    assert_eq!(untrusted_mode(0o104755), 0o100755);
    assert_eq!(untrusted_mode(0o102755), 0o100755);
    assert_eq!(untrusted_mode(0o041777), 0o041777, "sticky bit stays");
    assert!(is_privileged_xattr(b"security.capability"));
    assert!(!is_privileged_xattr(b"security.selinux"));
    assert!(!is_privileged_xattr(b"user.foo"));
}
