//! The initramfs layout (DESIGN.md "Size", anchors-multicall.md §5), as a cpio archive.
//!
//! ```text
//! bin/ramdisk              the binary, 0755
//! bin/APPLET  -> ramdisk   one per applet
//! sbin/APPLET -> ../bin/ramdisk
//! init        -> bin/ramdisk   (argv[0] "/init" dispatches to the init applet)
//! dev/console              char 5:1, 0600 (the kernel needs it before init opens a console)
//! proc sys dev sysroot tmp etc   empty directories, 0755 (tmp 1777)
//! etc/ramdisk.conf         --conf
//! lib/modules/VERSION/...  --modules
//! ```
//! Relative symlinks keep the image correct wherever it is unpacked (a test tree, `cpio -id`).

use crate::cpio::{Archive, Entry, Kind};

/// An extra regular file: where it goes in the image, its bytes, its permission bits.
#[derive(Debug, Clone)]
pub struct ExtraFile {
    pub dest: String,
    pub data: Vec<u8>,
    pub perm: u32,
}

/// Kernel modules to include, already resolved and decompressed.
#[derive(Debug, Clone)]
pub struct Modules {
    /// The kernel release (`lib/modules/VERSION`).
    pub version: String,
    /// Files relative to `lib/modules/VERSION/` (modules and the index files).
    pub files: Vec<(String, Vec<u8>)>,
}

/// Everything the image holds beyond the fixed layout.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub binary: Vec<u8>,
    pub applets: Vec<String>,
    pub conf: Option<Vec<u8>>,
    pub files: Vec<ExtraFile>,
    pub dirs: Vec<(String, u32)>,
}

/// The empty directories every image has, with their modes.
pub const DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("proc", 0o555),
    ("sbin", 0o755),
    ("sys", 0o555),
    ("sysroot", 0o755),
    ("tmp", 0o1777),
];

/// The archive for `spec`, plus `modules` when given.
///
/// # Errors
/// An applet name that is not a single path component, or an extra file or directory that
/// collides with another entry (names the path).
pub fn build(spec: &Spec, modules: Option<&Modules>) -> Result<Archive, String> {
    let mut a = Archive::new();
    for (d, perm) in DIRS {
        a.add(
            d,
            Entry {
                kind: Kind::Dir,
                perm: *perm,
            },
        )?;
    }
    a.add(
        "bin/ramdisk",
        Entry {
            kind: Kind::File(spec.binary.clone()),
            perm: 0o755,
        },
    )?;
    for name in &spec.applets {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." || name == "ramdisk"
        {
            return Err(format!("applet name '{name}' can't be a link name"));
        }
        let link = |t: &str| Entry {
            kind: Kind::Symlink(t.to_string()),
            perm: 0o777,
        };
        a.add(&format!("bin/{name}"), link("ramdisk"))?;
        a.add(&format!("sbin/{name}"), link("../bin/ramdisk"))?;
    }
    a.add(
        "init",
        Entry {
            kind: Kind::Symlink("bin/ramdisk".into()),
            perm: 0o777,
        },
    )?;
    a.add(
        "dev/console",
        Entry {
            kind: Kind::CharDev { major: 5, minor: 1 },
            perm: 0o600,
        },
    )?;
    if let Some(conf) = &spec.conf {
        a.add(
            "etc/ramdisk.conf",
            Entry {
                kind: Kind::File(conf.clone()),
                perm: 0o644,
            },
        )?;
    }
    for (d, perm) in &spec.dirs {
        add_new(
            &mut a,
            d,
            Entry {
                kind: Kind::Dir,
                perm: *perm,
            },
        )?;
    }
    for f in &spec.files {
        add_new(
            &mut a,
            &f.dest,
            Entry {
                kind: Kind::File(f.data.clone()),
                perm: f.perm,
            },
        )?;
    }
    if let Some(m) = modules {
        for (rel, data) in &m.files {
            let path = format!("lib/modules/{}/{rel}", m.version);
            add_new(
                &mut a,
                &path,
                Entry {
                    kind: Kind::File(data.clone()),
                    perm: 0o644,
                },
            )?;
        }
    }
    Ok(a)
}

/// Adds an entry the user asked for; it must not replace one of the layout's.
fn add_new(a: &mut Archive, path: &str, e: Entry) -> Result<(), String> {
    if a.contains(path) && !matches!(e.kind, Kind::Dir) {
        return Err(format!(
            "'/{}' is already in the image",
            path.trim_start_matches('/')
        ));
    }
    a.add(path, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            binary: b"\x7fELF".to_vec(),
            applets: vec!["init".into(), "mount".into()],
            ..Spec::default()
        }
    }

    #[test]
    fn layout_has_binary_links_console_and_dirs() {
        let a = build(&spec(), None).unwrap();
        assert_eq!(
            a.paths(),
            [
                "bin",
                "bin/init",
                "bin/mount",
                "bin/ramdisk",
                "dev",
                "dev/console",
                "etc",
                "init",
                "proc",
                "sbin",
                "sbin/init",
                "sbin/mount",
                "sys",
                "sysroot",
                "tmp"
            ]
        );
    }

    #[test]
    fn extra_file_may_not_replace_the_binary() {
        let mut s = spec();
        s.files.push(ExtraFile {
            dest: "/bin/ramdisk".into(),
            data: vec![],
            perm: 0o755,
        });
        assert!(build(&s, None)
            .unwrap_err()
            .contains("'/bin/ramdisk' is already in the image"));
    }

    #[test]
    fn rejects_applet_names_that_are_paths() {
        let mut s = spec();
        s.applets.push("../x".into());
        assert!(build(&s, None).is_err());
    }
}
