//! `/proc/cmdline` and `/etc/ramdisk.conf` parsing (core::cmdline).
//!
//! Oracles: no panic; every word's key and value lie inside the input at the reported offset;
//! applying the same text twice changes nothing more than applying it once (a later word wins,
//! a bad value keeps the old one); a value kept is at most VALUE_MAX bytes; limits hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ramdisk_core::cmdline::{self, Config, Source, Words, ROOTDELAY_MAX, TRIALS_MAX};

fn check(input: &[u8], source: Source) {
    for w in Words::new(input, source) {
        assert!(!w.key.is_empty() || w.value.is_some());
        let at = w.value.unwrap_or(w.key);
        let start = w.value_offset;
        assert_eq!(
            input.get(start..start + at.len()),
            Some(at),
            "value is not at value_offset"
        );
    }
    let mut once = Config::default();
    let r1 = once.apply(input, source);
    let mut twice = once.clone();
    let r2 = twice.apply(input, source);
    assert_eq!(once, twice, "applying the same words twice differs");
    assert_eq!(r1, r2);
    if let Err(e) = r1 {
        assert!(e.offset as usize <= input.len());
    }
    assert!(once.trials <= TRIALS_MAX);
    assert!(once.rootdelay <= ROOTDELAY_MAX);
    assert!(!once.init.is_empty() && !once.ostree_ref.is_empty() && !once.ostree_repo.is_empty());
    for m in once.modules() {
        assert!(!m.is_empty() && !m.contains(','));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, Source::Cmdline);
    check(data, Source::File);
    let _ = cmdline::parse_root(data);
});
