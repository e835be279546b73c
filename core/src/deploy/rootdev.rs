//! Finding the root partition: the pure parsers `init` uses on sysfs files and superblocks.
//!
//! - `/sys/class/block/NAME/dev` is `MAJOR:MINOR\n` (Documentation/ABI/stable/sysfs-block): the
//!   only source of device numbers (never a hard-coded major).
//! - `/sys/class/block/NAME/uevent` holds `KEY=VALUE` lines; partitions carry `PARTUUID=` (GPT
//!   partition GUID, or `SSSSSSSS-PP` for MBR) and `PARTNAME=`.
//! - An ext2/3/4 superblock starts at byte 1024 of the device: `s_magic` (LE `0xEF53`) at 0x38,
//!   `s_uuid[16]` at 0x68, `s_volume_name[16]` at 0x78 (Documentation/filesystems/ext4/super.rst).

use crate::cmdline::RootSpec;

/// Byte offset of the ext2/3/4 superblock on the device.
pub const EXT4_SUPER_OFFSET: u64 = 1024;
/// Bytes of the superblock [`Ext4Super::parse`] needs.
pub const EXT4_SUPER_LEN: usize = 0x88;

mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0x38..0x3a;
    pub const UUID: Range<usize> = 0x68..0x78;
    pub const LABEL: Range<usize> = 0x78..0x88;
}

/// Parses `MAJOR:MINOR` (a trailing newline allowed).
pub fn parse_dev(text: &[u8]) -> Option<(u32, u32)> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let colon = text.iter().position(|&c| c == b':')?;
    let num = |s: &[u8]| -> Option<u32> {
        if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        s.iter().try_fold(0u32, |n, &d| {
            n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
    };
    Some((num(text.get(..colon)?)?, num(text.get(colon + 1..)?)?))
}

/// The value of `key` in a uevent file (`KEY=VALUE` lines).
pub fn uevent_value<'a>(text: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    text.split(|&c| c == b'\n')
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(b"="))
}

/// The identity fields of an ext2/3/4 superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ext4Super<'a> {
    pub uuid: [u8; 16],
    /// The label without its NUL padding.
    pub label: &'a [u8],
}

impl<'a> Ext4Super<'a> {
    /// Parses the superblock bytes read at [`EXT4_SUPER_OFFSET`]; `None` without the magic.
    pub fn parse(sb: &'a [u8]) -> Option<Self> {
        if sb.get(field::MAGIC)? != [0x53, 0xef] {
            return None;
        }
        let uuid = sb.get(field::UUID)?.try_into().ok()?;
        let label = sb.get(field::LABEL)?;
        let end = label.iter().position(|&c| c == 0).unwrap_or(label.len());
        Some(Ext4Super {
            uuid,
            label: label.get(..end)?,
        })
    }

    /// True when this filesystem is the one `spec` names by `LABEL=` or `UUID=`.
    pub fn matches(&self, spec: &RootSpec) -> bool {
        match spec {
            RootSpec::Label(l) => self.label == l.as_bytes(),
            RootSpec::Uuid(u) => uuid_eq(&self.uuid, u.as_bytes()),
            _ => false,
        }
    }
}

/// True when `text` spells `uuid` as `8-4-4-4-12` hex digits, any case.
pub fn uuid_eq(uuid: &[u8; 16], text: &[u8]) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = 0;
    let mut t = text.iter();
    for (n, b) in uuid.iter().enumerate() {
        if matches!(n, 4 | 6 | 8 | 10) && t.next() != Some(&b'-') {
            return false;
        }
        for nibble in [b >> 4, b & 15] {
            let want = HEX.get(usize::from(nibble)).copied().unwrap_or(0);
            if t.next().map(u8::to_ascii_lowercase) != Some(want) {
                return false;
            }
            i += 1;
        }
    }
    i == 32 && t.next().is_none()
}

/// True when a partition's uevent `PARTUUID=` is the one `spec` asks for (case-insensitive).
pub fn partuuid_matches(uevent: &[u8], spec: &RootSpec) -> bool {
    let RootSpec::PartUuid(want) = spec else {
        return false;
    };
    uevent_value(uevent, b"PARTUUID").is_some_and(|v| v.eq_ignore_ascii_case(want.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{parse_root, RootSpec};
    use alloc::vec;

    #[test]
    fn parses_sysfs_dev_numbers() {
        assert_eq!(parse_dev(b"179:3\n"), Some((179, 3)));
        assert_eq!(parse_dev(b"8:0"), Some((8, 0)));
        for bad in [
            &b""[..],
            b":",
            b"8:",
            b":1",
            b"a:1",
            b"8:1:2",
            b"99999999999:1",
        ] {
            assert_eq!(parse_dev(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn finds_partuuid_in_uevent() {
        let ue = b"MAJOR=179\nMINOR=3\nDEVNAME=mmcblk0p3\nDEVTYPE=partition\nPARTN=3\nPARTUUID=1b2C3d4e-03\n";
        assert_eq!(uevent_value(ue, b"DEVNAME"), Some(&b"mmcblk0p3"[..]));
        assert_eq!(uevent_value(ue, b"PART"), None);
        assert!(partuuid_matches(
            ue,
            &parse_root(b"PARTUUID=1B2C3D4E-03").unwrap()
        ));
        assert!(!partuuid_matches(
            ue,
            &parse_root(b"PARTUUID=1b2c3d4e-02").unwrap()
        ));
        assert!(!partuuid_matches(
            b"DEVNAME=sda\n",
            &parse_root(b"PARTUUID=x").unwrap()
        ));
    }

    #[test]
    fn reads_ext4_label_and_uuid() {
        let mut sb = vec![0u8; EXT4_SUPER_LEN];
        sb[0x38] = 0x53; // s_magic, LE 0xEF53
        sb[0x39] = 0xef;
        for (i, b) in sb[0x68..0x78].iter_mut().enumerate() {
            *b = i as u8 * 0x11; // s_uuid 00112233-4455-6677-8899-aabbccddeeff
        }
        sb[0x78..0x7e].copy_from_slice(b"rootfs"); // s_volume_name, NUL padded
        let s = Ext4Super::parse(&sb).unwrap();
        assert_eq!(s.label, b"rootfs");
        assert!(s.matches(&parse_root(b"LABEL=rootfs").unwrap()));
        assert!(!s.matches(&parse_root(b"LABEL=root").unwrap()));
        assert!(s.matches(&parse_root(b"UUID=00112233-4455-6677-8899-AABBCCDDEEFF").unwrap()));
        assert!(!s.matches(&parse_root(b"UUID=00112233-4455-6677-8899-aabbccddeef0").unwrap()));
        assert!(!s.matches(&parse_root(b"UUID=0011223344556677-8899-aabbccddeeff").unwrap()));
        assert!(!s.matches(&RootSpec::Dev(Default::default())));
        sb[0x38] = 0;
        assert_eq!(Ext4Super::parse(&sb), None);
        assert_eq!(Ext4Super::parse(&sb[..0x40]), None);
    }

    #[test]
    fn uuid_needs_dashes_in_place() {
        let u = [0xab; 16];
        assert!(uuid_eq(&u, b"abababab-abab-abab-abab-abababababab"));
        assert!(!uuid_eq(&u, b"abababab-abab-abab-abab-abababababab0"));
        assert!(!uuid_eq(&u, b"abababababababababababababababab"));
        assert!(!uuid_eq(&u, b""));
    }
}
