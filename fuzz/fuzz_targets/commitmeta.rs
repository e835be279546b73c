//! Detached commit metadata (`.commitmeta`, `a{sv}` with `ostree.sign.ed25519: aay`) and key
//! files (core::sign), reliability.md §5 `commitmeta_verify`.
//!
//! Oracles: no panic; bounded memory; the writer round trip: for metadata `signatures` accepts,
//! `append_signature` gives a normal-form `a{sv}` whose signatures are the old ones plus the new
//! one; verification with a key that signed nothing never succeeds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ramdisk_core::gvariant;
use ramdisk_core::sign::{self, Keys, MAX_SIGNATURES};

fuzz_target!(|data: &[u8]| {
    let sig = [0x5a; 64];
    if let Ok(old) = sign::signatures(data) {
        assert!(gvariant::validate(b"a{sv}", data, 0).is_ok());
        match sign::append_signature(Some(data), &sig) {
            Ok(out) => {
                gvariant::validate(b"a{sv}", &out, 0).expect("appended metadata is not valid");
                let new = sign::signatures(&out).expect("appended metadata does not re-parse");
                assert_eq!(new.len(), old.len() + 1);
                assert_eq!(&new[..old.len()], &old[..]);
                assert_eq!(new.last(), Some(&sig));
                // Appending to the writer's own output works again.
                if old.len() + 1 < MAX_SIGNATURES {
                    let again = sign::append_signature(Some(&out), &sig).expect("append twice");
                    assert_eq!(
                        sign::signatures(&again).expect("re-parse").len(),
                        old.len() + 2
                    );
                }
            }
            Err(_) => assert!(old.len() >= MAX_SIGNATURES || data.len() > 10 << 20),
        }
        let mut keys = Keys::default();
        keys.trusted.push([7; 32]);
        assert!(sign::verify_commit(b"commit", Some(data), &keys).is_err());
    }
    // Key files: one base64 key per line.
    let _ = sign::parse_key_lines(data, |_, _| Ok(()));
    let _ = sign::parse_secret_keys(data);
});
