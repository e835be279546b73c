//! Mount option strings and `/proc/mounts` text (core::mount).
//!
//! Oracles: no panic; `-o a -o b` equals `-o a,b`; the filesystem data string re-parses to
//! itself with no flag set (it holds only options mount does not know); action bits never leak
//! into `mount_flags`; the listing has one line per parsed `/proc/mounts` entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ramdisk_core::mount::{self, ms, MountEntry, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let all = Options::parse(text);
    // Split at an input-chosen comma: two -o's give the same result as one joined list.
    if let Some(cut) = text
        .char_indices()
        .filter(|&(_, c)| c == ',')
        .map(|(i, _)| i)
        .nth(data.len() % 7)
    {
        let mut two = Options::new();
        two.push(&text[..cut]);
        two.push(&text[cut + 1..]);
        assert_eq!(all, two, "-o a -o b differs from -o a,b");
    }
    let data_again = Options::parse(&all.data);
    assert_eq!(
        data_again.data, all.data,
        "data does not re-parse to itself"
    );
    assert_eq!(data_again.flags, ms::SILENT);
    assert_eq!(data_again.propagation, 0);
    assert_eq!(all.data().is_none(), all.data.is_empty());
    assert_eq!(
        all.mount_flags() & (ms::REMOUNT | ms::MOVE | ms::BIND | ms::REC),
        0
    );
    let _ = all.action();
    for opt in text.split(',') {
        let _ = mount::lookup(opt);
    }

    // /proc/mounts listing.
    let entries = text.lines().filter_map(MountEntry::parse).count();
    let listed = mount::format_mounts(text, None);
    assert!(listed.lines().count() >= entries);
    let _ = mount::format_mounts(text, Some("ext4"));
    let mut out = String::new();
    mount::push_unescaped(&mut out, text);
    assert!(out.len() <= text.len() * 3);
    let _ = mount::block_filesystems(text).count();
});
