//! `--modules KERNEL_ROOT NAME...`: the kernel modules to put under `/lib/modules/VERSION/`.
//!
//! KERNEL_ROOT is an extracted kernel package with `lib/modules/VERSION/modules.dep` (from
//! `depmod -b`). Names are resolved by `ramdisk_core::modules` — the same resolver the `modprobe`
//! applet uses on the board — with dependencies, `softdep` lines and aliases (ext4 pulls
//! `crc32c_generic` in through `softdep ext4 pre: crypto-crc32c` + `alias crypto-crc32c
//! crc32c_generic`). Compressed modules (`.ko.xz`, `.ko.zst`, `.ko.gz`) are stored decompressed
//! as `.ko`: the image's gzip then sees the plain code, and the kernel needs no
//! `CONFIG_MODULE_DECOMPRESS`. The image gets index files that cover exactly what it holds:
//! the `modules.dep` lines of the included modules (renamed to `.ko`), the `softdep` lines that
//! apply to them, the aliases that point at them, and the `modules.builtin` lines of requested
//! names the kernel has built in.

use crate::image::Modules;
use ramdisk_core::modules::{glob_match, module_name, names_equal, ModuleIndex, Resolved};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The resolved module set, ready for the image.
#[derive(Debug, Clone)]
pub struct Collected {
    pub version: String,
    /// Module names in load order, for the report.
    pub modules: Vec<String>,
    pub image: Modules,
}

/// Resolves `names` under `kroot` and reads (and decompresses) the modules.
///
/// # Errors
/// No or several `lib/modules/VERSION` without `--kver`, a missing or malformed index file, a
/// name that matches nothing, an unreadable or corrupt module file; each names the path.
pub fn collect(kroot: &Path, kver: Option<&str>, names: &[String]) -> Result<Collected, String> {
    let base = kroot.join("lib/modules");
    let version = match kver {
        Some(v) => v.to_string(),
        None => only_version(&base)?,
    };
    let dir = base.join(&version);
    let dep_path = dir.join("modules.dep");
    let dep = std::fs::read(&dep_path).map_err(|e| {
        format!(
            "--modules: can't read '{}': {e} (run 'depmod -b {} {version}')",
            dep_path.display(),
            kroot.display()
        )
    })?;
    let softdep = optional(&dir.join("modules.softdep"))?;
    let alias = optional(&dir.join("modules.alias"))?;
    let builtin = optional(&dir.join("modules.builtin"))?;
    let mut index = ModuleIndex::parse(&dep, &softdep, &alias).map_err(|e| {
        format!(
            "--modules: '{}' line at byte {}: malformed",
            dir.join(e.file).display(),
            e.error.offset
        )
    })?;
    index.add_builtin(&builtin).map_err(|e| {
        format!(
            "--modules: '{}' line at byte {}: malformed",
            dir.join("modules.builtin").display(),
            e.offset
        )
    })?;

    let mut builtins = Vec::new();
    for n in names {
        match index.resolve(n) {
            Ok(Resolved::Builtin(b)) => builtins.push(b),
            Ok(Resolved::Modules(_)) => {}
            Err(_) => {
                return Err(format!(
                    "--modules: module '{n}' not found in '{}' (nor an alias or built in)",
                    dep_path.display()
                ))
            }
        }
    }
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let order = index.load_order_all(&name_refs).map_err(|_| {
        format!(
            "--modules: can't resolve {} in '{}'",
            names.join(" "),
            dep_path.display()
        )
    })?;

    let mut files = Vec::new();
    let mut loaded = Vec::new();
    for path in &order {
        let src = if Path::new(path).is_absolute() {
            kroot.join(path.trim_start_matches('/'))
        } else {
            dir.join(path)
        };
        let raw = std::fs::read(&src)
            .map_err(|e| format!("--modules: can't read '{}': {e}", src.display()))?;
        let data =
            decompress(path, &raw).map_err(|e| format!("--modules: '{}': {e}", src.display()))?;
        files.push((plain(path), data));
        loaded.push(module_name(path).unwrap_or(path).to_string());
    }

    let dep_text = String::from_utf8_lossy(&dep);
    let mut out_dep = String::new();
    for line in dep_text.lines() {
        let Some((p, deps)) = line.split_once(':') else {
            continue;
        };
        if !order.contains(&p.trim()) {
            continue;
        }
        out_dep += &plain(p.trim());
        out_dep.push(':');
        for d in deps.split_whitespace() {
            out_dep.push(' ');
            out_dep += &plain(d);
        }
        out_dep.push('\n');
    }
    let included: Vec<&str> = order.iter().filter_map(|p| module_name(p)).collect();
    let out_soft: String = String::from_utf8_lossy(&softdep)
        .lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some("softdep")
                && w.next().is_some_and(|m| {
                    included
                        .iter()
                        .any(|i| glob_match(m.as_bytes(), i.as_bytes()))
                })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let out_alias: String = String::from_utf8_lossy(&alias)
        .lines()
        .filter(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            matches!(w.as_slice(), ["alias", _, m]
                if included.iter().chain(&builtins).any(|i| names_equal(i, m)))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let out_builtin: String = String::from_utf8_lossy(&builtin)
        .lines()
        .filter(|l| {
            module_name(l.trim()).is_some_and(|m| builtins.iter().any(|b| names_equal(b, m)))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    files.push(("modules.dep".into(), out_dep.into_bytes()));
    files.push(("modules.softdep".into(), out_soft.into_bytes()));
    files.push(("modules.alias".into(), out_alias.into_bytes()));
    if !out_builtin.is_empty() {
        files.push(("modules.builtin".into(), out_builtin.into_bytes()));
    }
    Ok(Collected {
        version: version.clone(),
        modules: loaded,
        image: Modules { version, files },
    })
}

/// The one `lib/modules/VERSION` that has a `modules.dep`.
fn only_version(base: &Path) -> Result<String, String> {
    let rd = std::fs::read_dir(base)
        .map_err(|e| format!("--modules: can't read '{}': {e}", base.display()))?;
    let mut found: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().join("modules.dep").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "--modules: no '{}/VERSION/modules.dep' (run 'depmod -b KERNEL_ROOT VERSION')",
            base.display()
        )),
        many => Err(format!(
            "--modules: several kernels in '{}' ({}): pick one with --kver",
            base.display(),
            many.join(" ")
        )),
    }
}

fn optional(p: &PathBuf) -> Result<Vec<u8>, String> {
    match std::fs::read(p) {
        Ok(d) => Ok(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("--modules: can't read '{}': {e}", p.display())),
    }
}

/// `path` with a compression suffix removed (`a.ko.xz` → `a.ko`).
fn plain(path: &str) -> String {
    for ext in [".xz", ".zst", ".gz"] {
        if let Some(p) = path.strip_suffix(ext) {
            if p.ends_with(".ko") {
                return p.to_string();
            }
        }
    }
    path.to_string()
}

/// The module bytes, decompressed according to the file name.
fn decompress(path: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if path.ends_with(".ko.xz") {
        lzma_rs::xz_decompress(&mut &raw[..], &mut out).map_err(|e| format!("bad xz data: {e}"))?;
    } else if path.ends_with(".ko.zst") {
        let mut d = ruzstd::decoding::StreamingDecoder::new(raw)
            .map_err(|e| format!("bad zstd data: {e}"))?;
        d.read_to_end(&mut out)
            .map_err(|e| format!("bad zstd data: {e}"))?;
    } else if path.ends_with(".ko.gz") {
        flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| format!("bad gzip data: {e}"))?;
    } else {
        return Ok(raw.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_drops_only_module_compression_suffixes() {
        assert_eq!(plain("kernel/a.ko.xz"), "kernel/a.ko");
        assert_eq!(plain("kernel/a.ko.zst"), "kernel/a.ko");
        assert_eq!(plain("kernel/a.ko"), "kernel/a.ko");
        assert_eq!(plain("kernel/a.xz"), "kernel/a.xz");
    }

    #[test]
    fn decompresses_xz_zstd_and_gzip() {
        let data = b"\x7fELF module bytes".repeat(50);
        let run = |tool: &str, args: &[&str]| crate::external(tool, args, &data).unwrap();
        assert_eq!(
            decompress("a.ko.xz", &run("xz", &["-c", "--check=crc32"])).unwrap(),
            data
        );
        assert_eq!(
            decompress("a.ko.zst", &run("zstd", &["-q", "-c"])).unwrap(),
            data
        );
        assert_eq!(decompress("a.ko.gz", &run("gzip", &["-c"])).unwrap(), data);
        assert_eq!(decompress("a.ko", &data).unwrap(), data);
        assert!(decompress("a.ko.xz", b"not xz").is_err());
    }
}
