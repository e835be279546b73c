//! The boot configuration of `init`: `/etc/ramdisk.conf` defaults, then `/proc/cmdline`.
//!
//! Keys (DESIGN.md, "init: kernel command line"): `root=` (`/dev/NAME`, `NAME`, `PARTUUID=`,
//! `LABEL=`, `UUID=`), `mount=` (alias of `root=`), `rootfstype=`, `rootflags=`, `rootwait`,
//! `rootdelay=`, `init=`, `ramdisk.modules=a,b`, `ostree.ref=`, `ostree.repo=`,
//! `ramdisk.update=0`, `ramdisk.rollback`, `ramdisk.trials=N`, `ramdisk.panic=reboot`,
//! `ramdisk.keys=PATH` (a file of trusted ed25519 public keys inside the initramfs, added to
//! `/etc/ostree/trusted.ed25519[.d]`), `ramdisk.allow-downgrade` (deploy a commit older than
//! the current deployment's).
//! Every other word (`console=`, `quiet`, …) belongs to someone else and is skipped.
//!
//! Word splitting follows the kernel's `next_arg()` (lib/cmdline.c): words split at white space
//! outside double quotes; `key="a b"` and `"key=a b"` give the value `a b`. On the kernel
//! command line a bare `--` ends the kernel's part (the rest is for init's argv), so parsing
//! stops there. The config file uses the same syntax, across lines, with `#` comments.
//!
//! Values live in fixed-capacity `heapless` strings: the boot path allocates nothing here.
//! A later word overrides an earlier one, so applying the file first and the command line
//! second makes the file the defaults.

use crate::error::{Malformed, ParseError};

/// Capacity of one value (a path, a label, a module list).
pub const VALUE_MAX: usize = 255;

/// A value of the configuration: UTF-8, at most [`VALUE_MAX`] bytes.
pub type Value = heapless::String<VALUE_MAX>;

/// Largest accepted `ramdisk.trials=` (a boot counter, not a loop bound anyone needs to be big).
pub const TRIALS_MAX: u32 = 1000;

/// Largest accepted `rootdelay=` in seconds.
pub const ROOTDELAY_MAX: u32 = 3600;

/// How the root partition is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootSpec {
    /// A block device name under `/dev` and `/sys/class/block` (`mmcblk0p3`, `vda`).
    Dev(Value),
    /// `PARTUUID=`: the GPT partition UUID (or MBR `SSSSSSSS-PP`), as the kernel's uevent has it.
    PartUuid(Value),
    /// `LABEL=`: the ext2/3/4 volume label.
    Label(Value),
    /// `UUID=`: the ext2/3/4 filesystem UUID.
    Uuid(Value),
}

/// What `init` does when it has nothing to boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panic {
    /// Print the reason and wait forever (the default: the message stays on screen).
    Wait,
    /// Print the reason and reboot (`ramdisk.panic=reboot`).
    Reboot,
}

/// The whole boot configuration, with DESIGN.md's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub root: RootSpec,
    /// `rootfstype=`; empty means "try ext4".
    pub rootfstype: Value,
    /// `rootflags=`: mount options for the root partition.
    pub rootflags: Value,
    pub rootwait: bool,
    /// `rootdelay=` in seconds.
    pub rootdelay: u32,
    /// `init=`: the program of the deployment to exec.
    pub init: Value,
    /// `ramdisk.modules=`: comma-separated module names; see [`Config::modules`].
    pub modules: Value,
    pub ostree_ref: Value,
    /// `ostree.repo=`: the repository path on the root partition.
    pub ostree_repo: Value,
    /// False with `ramdisk.update=0`.
    pub update: bool,
    /// `ramdisk.rollback`: flip back to the previous deployment at this boot.
    pub rollback: bool,
    /// `ramdisk.trials=`: boots a new deployment gets before it is rolled back; 0 = no trial.
    pub trials: u32,
    pub panic: Panic,
    /// `ramdisk.keys=`: a key file (base64 ed25519 public keys, one per line) trusted besides
    /// `/etc/ostree/trusted.ed25519[.d]`; empty = none.
    pub keys: Value,
    /// `ramdisk.allow-downgrade`: deploy a commit older than the current deployment's.
    pub allow_downgrade: bool,
}

fn value(s: &str) -> Value {
    let mut v = Value::new();
    // Every default below is far shorter than VALUE_MAX.
    let _ = v.push_str(s);
    v
}

impl Default for Config {
    fn default() -> Self {
        Config {
            root: RootSpec::Dev(value("mmcblk0p3")),
            rootfstype: Value::new(),
            rootflags: Value::new(),
            rootwait: false,
            rootdelay: 0,
            init: value("/sbin/init"),
            modules: Value::new(),
            ostree_ref: value("master"),
            ostree_repo: value("/ostree/repo"),
            update: true,
            rollback: false,
            trials: 3,
            panic: Panic::Wait,
            keys: Value::new(),
            allow_downgrade: false,
        }
    }
}

/// Which syntax [`Config::apply`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `/proc/cmdline`: stops at a bare `--`.
    Cmdline,
    /// `/etc/ramdisk.conf`: `#` starts a comment running to the end of the line.
    File,
}

impl Config {
    /// Applies every known `key[=value]` word of `input` over `self`.
    ///
    /// Unknown words are skipped. A known key with a bad value keeps the old value; the other
    /// words are still applied (a typo must not stop the boot).
    ///
    /// # Errors
    /// The first bad value: `BadValue` (not a number, not a known choice, empty), `TooLarge`
    /// (longer than [`VALUE_MAX`] or above the key's limit) or `BadUtf8`, at its byte offset.
    pub fn apply(&mut self, input: &[u8], source: Source) -> Result<(), ParseError> {
        let mut first_err = None;
        for w in Words::new(input, source) {
            if let Err(e) = self.apply_word(&w) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn apply_word(&mut self, w: &Word<'_>) -> Result<(), ParseError> {
        let bad = |kind| ParseError::at(w.value_offset, kind);
        // Flags: present without a value means "on".
        match (w.key, w.value) {
            (b"rootwait", None) => self.rootwait = true,
            (b"ramdisk.rollback", None) => self.rollback = true,
            (b"ramdisk.rollback", Some(v)) => {
                self.rollback = parse_bool(v).ok_or(bad(Malformed::BadValue))?
            }
            (b"ramdisk.allow-downgrade", None) => self.allow_downgrade = true,
            (b"ramdisk.allow-downgrade", Some(v)) => {
                self.allow_downgrade = parse_bool(v).ok_or(bad(Malformed::BadValue))?
            }
            (b"ramdisk.keys", Some(v)) => self.keys = text(v).map_err(bad)?,
            (b"ramdisk.update", Some(v)) => {
                self.update = parse_bool(v).ok_or(bad(Malformed::BadValue))?
            }
            (b"root" | b"mount", Some(v)) => self.root = parse_root(v).map_err(bad)?,
            (b"rootfstype", Some(v)) => self.rootfstype = text(v).map_err(bad)?,
            (b"rootflags", Some(v)) => self.rootflags = text(v).map_err(bad)?,
            (b"rootdelay", Some(v)) => self.rootdelay = number(v, ROOTDELAY_MAX).map_err(bad)?,
            (b"init", Some(v)) => self.init = nonempty(v).map_err(bad)?,
            (b"ramdisk.modules", Some(v)) => self.modules = text(v).map_err(bad)?,
            (b"ostree.ref", Some(v)) => self.ostree_ref = nonempty(v).map_err(bad)?,
            (b"ostree.repo", Some(v)) => self.ostree_repo = nonempty(v).map_err(bad)?,
            (b"ramdisk.trials", Some(v)) => self.trials = number(v, TRIALS_MAX).map_err(bad)?,
            (b"ramdisk.panic", Some(v)) => {
                self.panic = match v {
                    b"reboot" => Panic::Reboot,
                    b"wait" | b"halt" => Panic::Wait,
                    _ => return Err(bad(Malformed::BadValue)),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The module names of `ramdisk.modules=`, empty items skipped.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.split(',').filter(|m| !m.is_empty())
    }
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    match v {
        b"1" | b"yes" | b"y" | b"true" | b"on" => Some(true),
        b"0" | b"no" | b"n" | b"false" | b"off" => Some(false),
        _ => None,
    }
}

fn text(v: &[u8]) -> Result<Value, Malformed> {
    let s = core::str::from_utf8(v).map_err(|_| Malformed::BadUtf8)?;
    let mut out = Value::new();
    out.push_str(s).map_err(|()| Malformed::TooLarge)?;
    Ok(out)
}

fn nonempty(v: &[u8]) -> Result<Value, Malformed> {
    if v.is_empty() {
        return Err(Malformed::BadValue);
    }
    text(v)
}

fn number(v: &[u8], max: u32) -> Result<u32, Malformed> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(Malformed::BadValue);
    }
    let mut n: u32 = 0;
    for &d in v {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u32::from(d - b'0')))
            .ok_or(Malformed::TooLarge)?;
    }
    if n > max {
        return Err(Malformed::TooLarge);
    }
    Ok(n)
}

/// Parses a `root=` value.
///
/// # Errors
/// `BadValue` for an empty name or a device name holding `/` (only `/dev/NAME` is accepted);
/// `TooLarge`, `BadUtf8` as for any value.
pub fn parse_root(v: &[u8]) -> Result<RootSpec, Malformed> {
    if let Some(r) = v.strip_prefix(b"PARTUUID=") {
        return Ok(RootSpec::PartUuid(nonempty(r)?));
    }
    if let Some(r) = v.strip_prefix(b"LABEL=") {
        return Ok(RootSpec::Label(nonempty(r)?));
    }
    if let Some(r) = v.strip_prefix(b"UUID=") {
        return Ok(RootSpec::Uuid(nonempty(r)?));
    }
    let name = v.strip_prefix(b"/dev/").unwrap_or(v);
    if crate::name::Name::new(name).is_err() {
        return Err(Malformed::BadValue);
    }
    Ok(RootSpec::Dev(text(name)?))
}

/// One `key[=value]` word, quotes removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
    /// Byte offset of the value (of the key when there is none) in the input.
    pub value_offset: usize,
}

/// The words of a command line or config file, split as the kernel's `next_arg()` does.
pub struct Words<'a> {
    input: &'a [u8],
    pos: usize,
    source: Source,
}

impl<'a> Words<'a> {
    pub fn new(input: &'a [u8], source: Source) -> Self {
        Words {
            input,
            pos: 0,
            source,
        }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = Word<'a>;

    fn next(&mut self) -> Option<Word<'a>> {
        let input = self.input;
        loop {
            // Skip white space (and comments in a file).
            let mut start = self.pos;
            loop {
                match input.get(start) {
                    Some(c) if c.is_ascii_whitespace() => start += 1,
                    Some(b'#') if self.source == Source::File => {
                        while input.get(start).is_some_and(|&c| c != b'\n') {
                            start += 1;
                        }
                    }
                    Some(_) => break,
                    None => {
                        self.pos = start;
                        return None;
                    }
                }
            }
            // The word ends at white space outside quotes.
            let mut end = start;
            let mut in_quote = false;
            while let Some(&c) = input.get(end) {
                if c.is_ascii_whitespace() && !in_quote {
                    break;
                }
                if c == b'"' {
                    in_quote = !in_quote;
                }
                end += 1;
            }
            self.pos = end;
            let raw = input.get(start..end)?;
            if raw == b"--" && self.source == Source::Cmdline {
                self.pos = input.len();
                return None;
            }
            if let Some(w) = split_word(raw, start) {
                return Some(w);
            }
        }
    }
}

/// Splits one raw word at its first `=` and drops the quotes `next_arg()` drops.
fn split_word(raw: &[u8], offset: usize) -> Option<Word<'_>> {
    let (mut raw, mut offset) = (raw, offset);
    let mut quoted = false;
    if let Some(r) = raw.strip_prefix(b"\"") {
        raw = r;
        offset += 1;
        quoted = true;
    }
    let (key, value, value_offset) = match raw.iter().position(|&c| c == b'=') {
        None => {
            let key = if quoted {
                raw.strip_suffix(b"\"").unwrap_or(raw)
            } else {
                raw
            };
            (key, None, offset)
        }
        Some(eq) => {
            let key = raw.get(..eq)?;
            let mut v = raw.get(eq + 1..)?;
            let mut voff = offset + eq + 1;
            let mut strip_end = quoted;
            if let Some(r) = v.strip_prefix(b"\"") {
                v = r;
                voff += 1;
                strip_end = true;
            }
            if strip_end {
                v = v.strip_suffix(b"\"").unwrap_or(v);
            }
            (key, Some(v), voff)
        }
    };
    if key.is_empty() {
        return None;
    }
    Some(Word {
        key,
        value,
        value_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn words(s: &str, src: Source) -> Vec<(&[u8], Option<&[u8]>)> {
        Words::new(s.as_bytes(), src)
            .map(|w| (w.key, w.value))
            .collect()
    }

    fn cfg(s: &str) -> Config {
        let mut c = Config::default();
        c.apply(s.as_bytes(), Source::Cmdline)
            .expect("valid cmdline");
        c
    }

    #[test]
    fn defaults_match_design() {
        let c = Config::default();
        assert_eq!(c.root, RootSpec::Dev(value("mmcblk0p3")));
        assert_eq!(c.init.as_str(), "/sbin/init");
        assert_eq!(c.ostree_ref.as_str(), "master");
        assert_eq!(c.ostree_repo.as_str(), "/ostree/repo");
        assert_eq!(c.trials, 3);
        assert!(c.update && !c.rollback && !c.rootwait);
        assert_eq!(c.panic, Panic::Wait);
        assert_eq!(c.rootfstype.as_str(), "");
        assert_eq!(c.keys.as_str(), "");
        assert!(!c.allow_downgrade);
    }

    #[test]
    fn parses_key_file_and_allow_downgrade() {
        let c = cfg("ramdisk.keys=/etc/ramdisk/keys.pub ramdisk.allow-downgrade");
        assert_eq!(c.keys.as_str(), "/etc/ramdisk/keys.pub");
        assert!(c.allow_downgrade);
        assert!(cfg("ramdisk.allow-downgrade=1").allow_downgrade);
        assert!(!cfg("ramdisk.allow-downgrade ramdisk.allow-downgrade=0").allow_downgrade);
        // An empty value clears a key file set by /etc/ramdisk.conf.
        let mut c = Config::default();
        c.apply(b"ramdisk.keys=/etc/k.pub\n", Source::File).unwrap();
        c.apply(b"ramdisk.keys=", Source::Cmdline).unwrap();
        assert_eq!(c.keys.as_str(), "");
    }

    #[test]
    fn bad_allow_downgrade_value_keeps_it_off() {
        let mut c = Config::default();
        assert_eq!(
            c.apply(b"ramdisk.allow-downgrade=perhaps", Source::Cmdline),
            Err(ParseError::at(24, Malformed::BadValue))
        );
        assert!(!c.allow_downgrade);
        assert_eq!(
            c.apply(b"ramdisk.keys=\xff", Source::Cmdline),
            Err(ParseError::at(13, Malformed::BadUtf8))
        );
        assert_eq!(c, Config::default());
    }

    #[test]
    fn splits_words_like_the_kernel() {
        assert_eq!(
            words("  console=ttyAMA0  quiet root=/dev/vda\n", Source::Cmdline),
            [
                (&b"console"[..], Some(&b"ttyAMA0"[..])),
                (b"quiet", None),
                (b"root", Some(b"/dev/vda")),
            ]
        );
    }

    #[test]
    fn strips_quotes_around_values_with_spaces() {
        assert_eq!(
            words(r#"a="x y" "b=p q" "c" d=e"f"#, Source::Cmdline),
            [
                (&b"a"[..], Some(&b"x y"[..])),
                (b"b", Some(b"p q")),
                (b"c", None),
                (b"d", Some(b"e\"f")),
            ]
        );
    }

    #[test]
    fn stops_at_double_dash_on_cmdline_only() {
        assert_eq!(words("a -- b", Source::Cmdline), [(&b"a"[..], None)]);
        assert_eq!(words("a -- b", Source::File).len(), 3);
    }

    #[test]
    fn file_comments_run_to_end_of_line() {
        assert_eq!(
            words(
                "# defaults\nrootwait # wait\n  ostree.ref=os/stable\n#x=y",
                Source::File
            ),
            [
                (&b"rootwait"[..], None),
                (b"ostree.ref", Some(&b"os/stable"[..]))
            ]
        );
    }

    #[test]
    fn parses_every_root_form() {
        assert_eq!(cfg("root=/dev/vda1").root, RootSpec::Dev(value("vda1")));
        assert_eq!(
            cfg("root=mmcblk1p2").root,
            RootSpec::Dev(value("mmcblk1p2"))
        );
        assert_eq!(cfg("mount=sda3").root, RootSpec::Dev(value("sda3")));
        assert_eq!(
            cfg("root=PARTUUID=1234abcd-02").root,
            RootSpec::PartUuid(value("1234abcd-02"))
        );
        assert_eq!(
            cfg("root=LABEL=rootfs").root,
            RootSpec::Label(value("rootfs"))
        );
        assert_eq!(
            cfg("root=\"LABEL=my root\"").root,
            RootSpec::Label(value("my root"))
        );
        assert_eq!(cfg("root=UUID=0a1b").root, RootSpec::Uuid(value("0a1b")));
    }

    #[test]
    fn rejects_root_with_path_or_empty() {
        let mut c = Config::default();
        assert_eq!(
            c.apply(b"root=/dev/mapper/x", Source::Cmdline),
            Err(ParseError::at(5, Malformed::BadValue))
        );
        assert_eq!(c.root, RootSpec::Dev(value("mmcblk0p3")));
        assert!(c.apply(b"root=", Source::Cmdline).is_err());
        assert!(c.apply(b"root=LABEL=", Source::Cmdline).is_err());
    }

    #[test]
    fn parses_every_key() {
        let c = cfg(
            "rootfstype=ext4 rootflags=noatime,data=ordered rootwait rootdelay=5 \
             init=/lib/systemd/systemd ramdisk.modules=virtio_blk,,ext4 ostree.ref=os/x \
             ostree.repo=/data/repo ramdisk.update=0 ramdisk.rollback ramdisk.trials=0 \
             ramdisk.panic=reboot console=ttyS0,115200 ro",
        );
        assert_eq!(c.rootfstype.as_str(), "ext4");
        assert_eq!(c.rootflags.as_str(), "noatime,data=ordered");
        assert!(c.rootwait);
        assert_eq!(c.rootdelay, 5);
        assert_eq!(c.init.as_str(), "/lib/systemd/systemd");
        assert_eq!(c.modules().collect::<Vec<_>>(), ["virtio_blk", "ext4"]);
        assert_eq!(c.ostree_ref.as_str(), "os/x");
        assert_eq!(c.ostree_repo.as_str(), "/data/repo");
        assert!(!c.update);
        assert!(c.rollback);
        assert_eq!(c.trials, 0);
        assert_eq!(c.panic, Panic::Reboot);
    }

    #[test]
    fn cmdline_overrides_file_defaults() {
        let mut c = Config::default();
        c.apply(b"ramdisk.trials=5\nostree.ref=a\nrootwait\n", Source::File)
            .unwrap();
        c.apply(b"ostree.ref=b quiet", Source::Cmdline).unwrap();
        assert_eq!(c.trials, 5);
        assert_eq!(c.ostree_ref.as_str(), "b");
        assert!(c.rootwait);
    }

    #[test]
    fn bad_value_keeps_default_and_applies_the_rest() {
        let mut c = Config::default();
        let r = c.apply(
            b"ramdisk.trials=x3 rootwait ramdisk.update=maybe",
            Source::Cmdline,
        );
        assert_eq!(r, Err(ParseError::at(15, Malformed::BadValue)));
        assert_eq!(c.trials, 3);
        assert!(c.rootwait);
        assert!(c.update);
    }

    #[test]
    fn rejects_numbers_out_of_range() {
        let mut c = Config::default();
        assert_eq!(
            c.apply(b"ramdisk.trials=99999999999", Source::Cmdline),
            Err(ParseError::at(15, Malformed::TooLarge))
        );
        assert!(c.apply(b"rootdelay=3601", Source::Cmdline).is_err());
        assert!(c.apply(b"rootdelay=-1", Source::Cmdline).is_err());
        assert_eq!(c.rootdelay, 0);
    }

    #[test]
    fn rejects_overlong_and_non_utf8_values() {
        let mut c = Config::default();
        let mut long = Vec::from(&b"init=/"[..]);
        long.resize(6 + VALUE_MAX, b'x');
        assert_eq!(
            c.apply(&long, Source::Cmdline),
            Err(ParseError::at(5, Malformed::TooLarge))
        );
        assert_eq!(
            c.apply(b"ostree.ref=\xff", Source::Cmdline),
            Err(ParseError::at(11, Malformed::BadUtf8))
        );
        assert_eq!(c, Config::default());
    }

    #[test]
    fn odd_input_never_panics() {
        for s in [
            &b""[..],
            b"\"",
            b"=",
            b"\"=\"",
            b"a=\"",
            b"==",
            b"\"\"=x",
            b"#",
            b"\x00 \xff=",
        ] {
            let mut c = Config::default();
            let _ = c.apply(s, Source::Cmdline);
            let _ = c.apply(s, Source::File);
        }
    }
}
