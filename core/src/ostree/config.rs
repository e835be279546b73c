//! The repository `config` file: a GKeyFile whose `[core]` group says the format
//! (ostree-format.md §1.1, `reload_core_config` in libostree `repo.c`).
//!
//! Only what a reader needs is kept: `repo_version` (must be `1`), `mode`, and `parent`.

use crate::error::Error;

/// How content objects are stored (ostree-format.md §1.1 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `archive` / `archive-z2`: `.filez` = header + raw deflate.
    Archive,
    /// `bare`: the object file is the file, with its real owner, mode and xattrs.
    Bare,
    /// `bare-user`: metadata in the `user.ostreemeta` xattr; symlinks are regular files.
    BareUser,
    /// `bare-user-only`: uid = gid = 0, no xattrs, mode from `st_mode`.
    BareUserOnly,
}

impl Mode {
    /// The name `ostree` writes into `config`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Archive => "archive-z2",
            Mode::Bare => "bare",
            Mode::BareUser => "bare-user",
            Mode::BareUserOnly => "bare-user-only",
        }
    }
}

/// What the reader takes from `config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    /// `core.mode` (default `bare`).
    pub mode: Mode,
    /// `core.parent`: a repository where missing objects and refs are looked up.
    pub parent: Option<&'a str>,
}

/// Parses the text of `config`.
///
/// # Errors
/// `Error::State` naming the refusal: wrong or missing `repo_version`, legacy
/// `core.archive=true`, `bare-split-xattrs`, an unknown mode, or a file that is not UTF-8.
pub fn parse(text: &[u8]) -> Result<Config<'_>, Error> {
    let text = core::str::from_utf8(text).map_err(|_| Error::State("config: not UTF-8"))?;
    let mut in_core = false;
    let mut version = None;
    let mut mode = None;
    let mut parent = None;
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            in_core = group.trim_end() == "core]";
            continue;
        }
        if !in_core {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim_end() {
            "repo_version" => version = Some(value),
            "mode" => mode = Some(value),
            "parent" => parent = Some(value),
            "archive" if value == "true" => {
                return Err(Error::State(
                    "legacy archive repository (core.archive=true) not supported",
                ))
            }
            _ => {}
        }
    }
    if version != Some("1") {
        return Err(Error::State("config: repo_version is not 1"));
    }
    let mode = match mode.unwrap_or("bare") {
        "archive" | "archive-z2" => Mode::Archive,
        "bare" => Mode::Bare,
        "bare-user" => Mode::BareUser,
        "bare-user-only" => Mode::BareUserOnly,
        "bare-split-xattrs" => {
            return Err(Error::State(
                "repository mode bare-split-xattrs not supported",
            ))
        }
        _ => return Err(Error::State("config: unknown repository mode")),
    };
    Ok(Config {
        mode,
        parent: parent.filter(|p| !p.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_modes_as_ostree_init_writes_them() {
        let c = parse(b"[core]\nrepo_version=1\nmode=archive-z2\n").unwrap();
        assert_eq!(
            c,
            Config {
                mode: Mode::Archive,
                parent: None
            }
        );
        assert_eq!(
            parse(b"[core]\nrepo_version=1\nmode=archive\n")
                .unwrap()
                .mode,
            Mode::Archive
        );
        assert_eq!(parse(b"[core]\nrepo_version=1\n").unwrap().mode, Mode::Bare);
        assert_eq!(
            parse(b"[core]\nrepo_version=1\nmode=bare-user-only\n")
                .unwrap()
                .mode,
            Mode::BareUserOnly
        );
    }

    #[test]
    fn honours_parent_and_ignores_other_groups() {
        let c = parse(b"[remote \"o\"]\nmode=bad\n[core]\nrepo_version = 1\nparent=/r\n").unwrap();
        assert_eq!(c.parent, Some("/r"));
    }

    #[test]
    fn refuses_legacy_and_split_xattrs() {
        assert!(parse(b"[core]\nrepo_version=1\narchive=true\n").is_err());
        assert!(parse(b"[core]\nrepo_version=1\nmode=bare-split-xattrs\n").is_err());
        assert!(parse(b"[core]\nrepo_version=2\nmode=bare\n").is_err());
        assert!(parse(b"[core]\nmode=bare\n").is_err());
        assert!(parse(b"[core]\nrepo_version=1\nmode=zip\n").is_err());
    }
}
