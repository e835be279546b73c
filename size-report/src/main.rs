//! `size-report`: what the `ramdisk` binary and its initramfs cost, checked against budgets.
//!
//! ```text
//! cargo run -p size-report --release -- [OPTIONS]
//! ```
//! 1. Builds the product binary and the unstripped `release-syms` build of the same code with
//!    `scripts/build-product.sh` (std rebuilt with `panic=immediate-abort`; see that script), or
//!    takes `--binary`, and prints its size, its sections, its 15 largest crates and 20
//!    largest symbols.
//! 2. Writes the initramfs (`cpio` newc, gzip; DESIGN.md "Size", anchors-multicall.md §5),
//!    byte-identical for the same inputs.
//! 3. Checks `size-budget.toml` and exits 1 naming each figure over its budget.
//!
//! It is a host tool: it may use `format!`, `std::process` and crates the binary must not.

mod budget;
mod cpio;
mod elf;
mod image;
mod kmod;
mod table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use table::Align;

const TARGET: &str = "aarch64-unknown-linux-musl";
const USAGE: &str = "\
Usage: size-report [OPTIONS]

Builds the aarch64 release ramdisk binary, reports its size, sections, largest crates and
symbols, writes the initramfs image and checks size-budget.toml.

Options:
  --binary PATH          report on PATH instead of building (its own symbols, unless --syms)
  --syms PATH            unstripped build of the same code, for the crate and symbol tables
  --no-build             do not run cargo; use the binaries already in the target directory
  --output PATH          image path (default: TARGET_DIR/initramfs.cpio.gz, .xz/.zst with --xz/--zstd)
  --budget FILE          budget file (default: size-budget.toml at the repository root)
  --modules KROOT NAME...  add kernel modules NAME (with dependencies and softdeps) from
                         KROOT/lib/modules/VERSION/ (names run up to the next option)
  --kver VERSION         the VERSION under KROOT/lib/modules when there are several
  --conf FILE            put FILE at /etc/ramdisk.conf
  --file SRC:DEST[:MODE] add file SRC at DEST (octal MODE; default from SRC); repeatable
  --dir DEST[:MODE]      add an empty directory (default mode 755); repeatable
  --xz | --zstd          write the image compressed with xz (crc32, 1 MiB dict) or zstd -19
                         instead of gzip (needs the xz/zstd tool); the budget stays on gzip
  --applets-from-source  read the applet list from ramdisk-bin/src/applets/mod.rs instead of
                         running the binary's --list
  -h, --help             this text

SOURCE_DATE_EPOCH sets the mtime of every entry (default 0).";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compress {
    Gzip,
    Xz,
    Zstd,
}

#[derive(Debug, Default)]
struct Options {
    binary: Option<PathBuf>,
    syms: Option<PathBuf>,
    no_build: bool,
    output: Option<PathBuf>,
    budget: Option<PathBuf>,
    modules: Option<(PathBuf, Vec<String>)>,
    kver: Option<String>,
    conf: Option<PathBuf>,
    files: Vec<String>,
    dirs: Vec<String>,
    compress: Option<Compress>,
    applets_from_source: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("size-report: {e}");
            eprintln!("Try 'size-report --help'.");
            return ExitCode::FAILURE;
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("size-report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses argv (without argv[0]); `Ok(None)` means `--help`.
fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options::default();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("option '{name}' needs a value"))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--binary" => o.binary = Some(value(a)?.into()),
            "--syms" => o.syms = Some(value(a)?.into()),
            "--no-build" => o.no_build = true,
            "--output" => o.output = Some(value(a)?.into()),
            "--budget" => o.budget = Some(value(a)?.into()),
            "--kver" => o.kver = Some(value(a)?),
            "--conf" => o.conf = Some(value(a)?.into()),
            "--file" => o.files.push(value(a)?),
            "--dir" => o.dirs.push(value(a)?),
            "--applets-from-source" => o.applets_from_source = true,
            "--xz" | "--zstd" => {
                let c = if a == "--xz" {
                    Compress::Xz
                } else {
                    Compress::Zstd
                };
                if o.compress.is_some_and(|old| old != c) {
                    return Err("'--xz' and '--zstd' exclude each other".into());
                }
                o.compress = Some(c);
            }
            "--modules" => {
                let root = value(a)?;
                let mut names = Vec::new();
                while let Some(n) = it.next_if(|n| !n.starts_with('-')) {
                    names.push(n.clone());
                }
                if names.is_empty() {
                    return Err(
                        "'--modules KERNEL_ROOT NAME...' needs at least one module name".into(),
                    );
                }
                if o.modules.is_some() {
                    return Err("'--modules' given twice".into());
                }
                o.modules = Some((root.into(), names));
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if o.kver.is_some() && o.modules.is_none() {
        return Err("'--kver' needs '--modules'".into());
    }
    Ok(Some(o))
}

/// The repository root (this crate's parent directory).
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` at the repository root.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                std::env::current_dir().map(|c| c.join(&d)).unwrap_or(d)
            }
        }
        _ => root.join("target"),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("can't read {what} '{}': {e}", path.display()))
}

/// Runs the whole report; `Ok(false)` when a budget is exceeded.
fn run(o: &Options) -> Result<bool, String> {
    let root = repo_root();
    let target = target_dir(&root);
    let epoch = mtime()?;

    // Read every input before building anything, so a typo fails fast.
    let budget_path = o
        .budget
        .clone()
        .unwrap_or_else(|| root.join("size-budget.toml"));
    let budget_text = read(&budget_path, "budget file")?;
    let budgets = budget::parse(&String::from_utf8_lossy(&budget_text))
        .map_err(|e| format!("{}: {e}", budget_path.display()))?;
    let conf = match &o.conf {
        Some(p) => Some(read(p, "--conf file")?),
        None => None,
    };
    let files = o
        .files
        .iter()
        .map(|f| extra_file(f))
        .collect::<Result<Vec<_>, _>>()?;
    let dirs = o
        .dirs
        .iter()
        .map(|d| extra_dir(d))
        .collect::<Result<Vec<_>, _>>()?;
    let modules = match &o.modules {
        Some((kroot, names)) => Some(kmod::collect(kroot, o.kver.as_deref(), names)?),
        None => None,
    };

    // The binary, and the unstripped build of the same code for its symbols.
    let release_dir = target.join("product").join(TARGET).join("release");
    let bin_path = match &o.binary {
        Some(b) => b.clone(),
        None => {
            if !o.no_build {
                cargo_build(&root, "release")?;
                cargo_build(&root, "release-syms")?;
            }
            release_dir.join("ramdisk")
        }
    };
    let binary = read(&bin_path, "binary").map_err(|e| {
        if o.no_build {
            format!("{e} (build it, or drop --no-build)")
        } else {
            e
        }
    })?;
    let arch = elf::arch(&binary).map_err(|e| format!("'{}': {e}", bin_path.display()))?;
    let sections = elf::sections(&binary).map_err(|e| format!("'{}': {e}", bin_path.display()))?;
    let symbols = find_symbols(&bin_path, &binary, &sections, o.syms.as_deref())?;

    let mut out = String::new();
    out += &format!("binary:   {} ({arch})\n", bin_path.display());
    out += &format!(
        "size:     {} B ({})\n\n",
        binary.len(),
        kib(binary.len() as u64)
    );
    out += &section_table(&sections, binary.len() as u64);
    out += "\n";
    out += &match &symbols {
        Ok(syms) => symbol_tables(syms, &sections),
        Err(why) => format!("crates/symbols: none ({why})\n"),
    };

    // The applets and the image.
    let (applets, applets_from) = applet_list(&root, &bin_path, arch, o.applets_from_source)?;
    out += &format!(
        "\napplets:  {} ({applets_from}): {}\n",
        applets.len(),
        applets.join(" ")
    );
    let spec = image::Spec {
        binary,
        applets,
        conf,
        files,
        dirs,
    };
    let base = Packed::new(&spec, None, epoch)?;
    let full = match &modules {
        Some(m) => Some(Packed::new(&spec, Some(&m.image), epoch)?),
        None => None,
    };
    let written = full.as_ref().unwrap_or(&base);
    let compress = o.compress.unwrap_or(Compress::Gzip);
    let (image_bytes, ext) = match compress {
        Compress::Gzip => (written.gz.clone(), "gz"),
        Compress::Xz => (external("xz", XZ_ARGS, &written.cpio)?, "xz"),
        Compress::Zstd => (external("zstd", ZSTD_ARGS, &written.cpio)?, "zst"),
    };
    let output = o
        .output
        .clone()
        .unwrap_or_else(|| target.join(format!("initramfs.cpio.{ext}")));
    write_atomic(&output, &image_bytes)?;

    out += &format!("\ninitramfs: {}\n", output.display());
    let mut headers = vec!["image", "entries", "cpio B", "gzip B"];
    let mut rows = vec![base.row("without modules".into())];
    if let (Some(f), Some(m)) = (&full, &modules) {
        rows.push(f.row(format!("with {} modules ({})", m.modules.len(), m.version)));
    }
    if compress != Compress::Gzip {
        headers.push(if compress == Compress::Xz {
            "xz B"
        } else {
            "zstd B"
        });
        for r in &mut rows {
            r.push(String::new());
        }
        if let Some(last) = rows.last_mut() {
            last[4] = image_bytes.len().to_string();
        }
    }
    let right = [
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
    ];
    out += &table::render(&headers, &right, &rows);
    if let Some(m) = &modules {
        out += "  modules:";
        for name in &m.modules {
            out.push(' ');
            out += name;
        }
        out += "\n";
    }

    // Budgets.
    out += &format!("\nbudgets:  {}\n", budget_path.display());
    let mut over = Vec::new();
    let mut figure = |name: &str, value: u64, unit: &str| {
        let line = match budgets.get(name) {
            Some(limit) if value > limit => {
                over.push(name.to_string());
                format!(
                    "{name} {value} B{unit} (budget {limit} B) EXCEEDED by {} B",
                    value - limit
                )
            }
            Some(limit) => format!("{name} {value} B{unit} (budget {limit} B) ok"),
            None => format!("{name} {value} B{unit} (no budget)"),
        };
        out += &line;
        out += "\n";
    };
    figure("binary", spec.binary.len() as u64, "");
    figure("initramfs", base.gz.len() as u64, " gz");
    if let Some(f) = &full {
        figure("initramfs_modules", f.gz.len() as u64, " gz");
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
    if over.is_empty() {
        Ok(true)
    } else {
        eprintln!("size-report: budget exceeded: {}", over.join(", "));
        Ok(false)
    }
}

/// xz as the kernel wants it (Documentation/staging/xz.rst: CRC32 check; a 1 MiB dictionary
/// for the in-kernel decoder, anchors-multicall.md §5).
const XZ_ARGS: &[&str] = &[
    "--format=xz",
    "--check=crc32",
    "--lzma2=preset=9e,dict=1MiB",
    "-c",
];
const ZSTD_ARGS: &[&str] = &["-19", "-q", "-c", "--no-check"];

/// One image: its entry count, the cpio bytes and their gzip.
struct Packed {
    entries: usize,
    cpio: Vec<u8>,
    gz: Vec<u8>,
}

impl Packed {
    fn new(
        spec: &image::Spec,
        modules: Option<&image::Modules>,
        epoch: u32,
    ) -> Result<Packed, String> {
        let archive = image::build(spec, modules)?;
        let cpio = archive.to_bytes(epoch);
        let gz = gzip(&cpio)?;
        Ok(Packed {
            entries: archive.paths().len(),
            cpio,
            gz,
        })
    }

    fn row(&self, label: String) -> Vec<String> {
        vec![
            label,
            self.entries.to_string(),
            self.cpio.len().to_string(),
            self.gz.len().to_string(),
        ]
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org) or 0.
fn mtime() -> Result<u32, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.is_empty() => s.parse::<u32>().map_err(|_| {
            format!("SOURCE_DATE_EPOCH '{s}' is not a time newc can hold (0..=4294967295)")
        }),
        _ => Ok(0),
    }
}

fn kib(n: u64) -> String {
    let tenths = (n * 10 + 512) / 1024;
    format!("{}.{} KiB", tenths / 10, tenths % 10)
}

fn section_table(sections: &[elf::Section], file_size: u64) -> String {
    let rows: Vec<Vec<String>> = sections
        .iter()
        .map(|s| {
            let what = match (s.loaded, s.in_file) {
                (true, true) => "loaded",
                (true, false) => "memory only",
                (false, _) => "file only",
            };
            let pct = if s.in_file {
                table::percent(s.size, file_size)
            } else {
                "-".into()
            };
            vec![s.name.clone(), s.size.to_string(), pct, what.into()]
        })
        .collect();
    format!(
        "sections\n{}",
        table::render(
            &["section", "bytes", "% file", "kind"],
            &[Align::Left, Align::Right, Align::Right, Align::Left],
            &rows
        )
    )
}

/// The symbol table used for the crate and symbol tables.
struct Syms {
    symbols: Vec<elf::Symbol>,
    path: PathBuf,
    /// Loaded file bytes of the symbols build minus those of the binary.
    delta: i64,
}

/// The symbols for the crate and symbol tables: `--syms` when given, else the binary itself
/// when it has a symbol table, else `../release-syms/NAME` beside it. `Ok(Err(why))` when there
/// is nothing usable.
///
/// The `release-syms` build is not byte-identical code: another profile name gives other
/// symbol hashes, and LLVM's choices shift by a few hundred bytes. So a symbols file is used when
/// it has the same loaded sections with sizes within 1 % in total (the difference is printed);
/// a stale or unrelated build is refused rather than reported on.
///
/// # Errors
/// `--syms` names a file that can't be read or isn't ELF.
fn find_symbols(
    bin_path: &Path,
    binary: &[u8],
    sections: &[elf::Section],
    explicit: Option<&Path>,
) -> Result<Result<Syms, String>, String> {
    let loaded = |secs: &[elf::Section]| -> (Vec<String>, u64) {
        let l: Vec<&elf::Section> = secs.iter().filter(|s| s.loaded && s.in_file).collect();
        let mut names: Vec<String> = l.iter().map(|s| s.name.clone()).collect();
        names.sort();
        (names, l.iter().map(|s| s.size).sum())
    };
    let (bin_names, bin_total) = loaded(sections);
    let check = |path: &Path, data: &[u8]| -> Result<Result<Syms, String>, String> {
        let err = |e: String| format!("'{}': {e}", path.display());
        let (names, total) = loaded(&elf::sections(data).map_err(err)?);
        let delta = total as i64 - bin_total as i64;
        if names != bin_names || delta.unsigned_abs() * 100 > bin_total {
            return Ok(Err(format!(
                "'{}' is not the same build as the binary (its loaded sections differ by {delta} B); \
                 rebuild it",
                path.display()
            )));
        }
        let symbols = elf::symbols(data).map_err(err)?;
        if symbols.is_empty() {
            return Ok(Err(format!("'{}' has no symbol table", path.display())));
        }
        Ok(Ok(Syms {
            symbols,
            path: path.to_path_buf(),
            delta,
        }))
    };
    if let Some(p) = explicit {
        return check(p, &read(p, "--syms file")?);
    }
    let own = elf::symbols(binary).map_err(|e| format!("'{}': {e}", bin_path.display()))?;
    if !own.is_empty() {
        return Ok(Ok(Syms {
            symbols: own,
            path: bin_path.to_path_buf(),
            delta: 0,
        }));
    }
    let sibling = match (
        bin_path.parent().and_then(Path::parent),
        bin_path.file_name(),
    ) {
        (Some(dir), Some(name)) => dir.join("release-syms").join(name),
        _ => return Ok(Err("the binary is stripped; pass --syms".into())),
    };
    match std::fs::read(&sibling) {
        Ok(data) => check(&sibling, &data),
        Err(_) => Ok(Err(format!(
            "the binary is stripped and '{}' is missing: build it with \
             'scripts/build-product.sh release-syms' or pass --syms",
            sibling.display()
        ))),
    }
}

fn symbol_tables(syms: &Syms, sections: &[elf::Section]) -> String {
    let symbols = &syms.symbols;
    let total: u64 = symbols.iter().map(|s| s.size).sum();
    let loaded: u64 = sections.iter().filter(|s| s.loaded).map(|s| s.size).sum();
    let crates = elf::crates(symbols);
    let crate_rows: Vec<Vec<String>> = crates
        .iter()
        .take(15)
        .map(|c| {
            vec![
                c.krate.clone(),
                c.size.to_string(),
                table::percent(c.size, total),
                c.symbols.to_string(),
            ]
        })
        .collect();
    let sym_rows: Vec<Vec<String>> = symbols
        .iter()
        .take(20)
        .map(|s| {
            let mut name = s.name.clone();
            if name.chars().count() > 110 {
                name = name.chars().take(107).collect::<String>() + "...";
            }
            vec![s.size.to_string(), s.krate.clone(), name]
        })
        .collect();
    let delta = match syms.delta {
        0 => String::new(),
        d => format!("; its loaded sections are {d:+} B off the binary's"),
    };
    format!(
        "symbols:  {} ({} symbols, {total} B = {}% of loaded sections{delta})\n\n\
         largest crates (of {} crates)\n{}\nlargest symbols\n{}",
        syms.path.display(),
        symbols.len(),
        table::percent(total, loaded),
        crates.len(),
        table::render(
            &["crate", "bytes", "% syms", "symbols"],
            &[Align::Left, Align::Right, Align::Right, Align::Right],
            &crate_rows
        ),
        table::render(
            &["bytes", "crate", "symbol"],
            &[Align::Right, Align::Left, Align::Left],
            &sym_rows
        ),
    )
}

/// Builds the product binary with `scripts/build-product.sh PROFILE` (the one place that knows
/// the build flags): `target/product/aarch64-unknown-linux-musl/PROFILE/ramdisk`.
fn cargo_build(root: &Path, profile: &str) -> Result<(), String> {
    let script = root.join("scripts/build-product.sh");
    eprintln!("size-report: scripts/build-product.sh {profile}");
    let status = Command::new(&script)
        .arg(profile)
        .current_dir(root)
        .status()
        .map_err(|e| format!("can't run '{}': {e}", script.display()))?;
    if !status.success() {
        return Err(format!("scripts/build-product.sh {profile} failed"));
    }
    Ok(())
}

/// The applet names and where they came from: the binary's `--list` (under
/// `qemu-ARCH-static` for a foreign binary), else the table in `applets/mod.rs`.
fn applet_list(
    root: &Path,
    bin: &Path,
    arch: &str,
    from_source: bool,
) -> Result<(Vec<String>, String), String> {
    let source = root.join("ramdisk-bin/src/applets/mod.rs");
    let why = if from_source {
        "asked for".to_string()
    } else {
        let mut cmd;
        let how;
        if arch == std::env::consts::ARCH {
            cmd = Command::new(bin);
            how = format!("'{} --list'", bin.display());
        } else {
            let runner = format!("qemu-{arch}-static");
            cmd = Command::new(&runner);
            cmd.arg(bin);
            how = format!("'{} --list' under {runner}", bin.display());
        }
        cmd.arg("--list");
        match cmd.output() {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let names: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                if !names.is_empty() && names.iter().all(|n| valid_applet(n)) {
                    return Ok((names, format!("from {how}")));
                }
                format!("{how} printed no valid applet list")
            }
            Ok(o) => format!("{how} exited with {}", o.status),
            Err(e) => format!("can't run {how}: {e}"),
        }
    };
    let text = std::fs::read_to_string(&source).map_err(|e| {
        format!(
            "no applet list: {why}, and can't read '{}': {e}",
            source.display()
        )
    })?;
    let names = parse_applet_table(&text).ok_or_else(|| {
        format!(
            "no applet list: {why}, and no APPLETS table in '{}'",
            source.display()
        )
    })?;
    if !from_source {
        eprintln!(
            "size-report: {why}; using the table in {}",
            source.display()
        );
    }
    Ok((names, format!("from {}", source.display())))
}

fn valid_applet(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && n != "."
        && n != ".."
}

/// The names in `pub const APPLETS: &[(&str, Main)] = &[ ("name", module::main), ... ];`.
fn parse_applet_table(text: &str) -> Option<Vec<String>> {
    let start = text.find("APPLETS")?;
    let body = &text[start..];
    let open = body.find("= &[")? + 4;
    let close = body[open..].find("];")? + open;
    let mut names = Vec::new();
    for line in body[open..close].lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("(\"") else {
            continue;
        };
        let name = rest.split('"').next()?;
        if !valid_applet(name) {
            return None;
        }
        names.push(name.to_string());
    }
    if names.is_empty() {
        None
    } else {
        Some(names)
    }
}

/// `SRC:DEST[:MODE]` → the file to add.
fn extra_file(spec: &str) -> Result<image::ExtraFile, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dest, mode) = match parts.as_slice() {
        [src, dest] => (*src, *dest, None),
        [src, dest, mode] => (
            *src,
            *dest,
            Some(
                octal(mode)
                    .ok_or_else(|| format!("--file '{spec}': MODE '{mode}' is not octal"))?,
            ),
        ),
        _ => return Err(format!("--file '{spec}': expected SRC:DEST[:MODE]")),
    };
    if src.is_empty() || dest.is_empty() {
        return Err(format!("--file '{spec}': expected SRC:DEST[:MODE]"));
    }
    let data = read(Path::new(src), "--file source")?;
    let perm = match mode {
        Some(m) => m,
        None => {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(src)
                .map_err(|e| format!("--file '{src}': {e}"))?
                .permissions()
                .mode();
            if m & 0o111 != 0 {
                0o755
            } else {
                0o644
            }
        }
    };
    Ok(image::ExtraFile {
        dest: dest.to_string(),
        data,
        perm,
    })
}

/// `DEST[:MODE]` → the directory to add.
fn extra_dir(spec: &str) -> Result<(String, u32), String> {
    match spec.split_once(':') {
        None => Ok((spec.to_string(), 0o755)),
        Some((d, m)) => {
            let m = octal(m).ok_or_else(|| format!("--dir '{spec}': MODE '{m}' is not octal"))?;
            Ok((d.to_string(), m))
        }
    }
}

fn octal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    u32::from_str_radix(s, 8).ok()
}

/// gzip at miniz_oxide's highest level (10, "uber"), mtime 0, no file name: reproducible.
fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::new(10));
    enc.write_all(data).map_err(|e| format!("gzip: {e}"))?;
    enc.finish().map_err(|e| format!("gzip: {e}"))
}

/// Pipes `data` through `tool args`.
fn external(tool: &str, args: &[&str], data: &[u8]) -> Result<Vec<u8>, String> {
    use std::process::Stdio;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("can't run '{tool}': {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("'{tool}': {e}"))?;
    let wrote = writer
        .join()
        .map_err(|_| format!("'{tool}': writer thread failed"))?;
    if !out.status.success() {
        return Err(format!(
            "'{tool} {}' failed: {}",
            args.join(" "),
            out.status
        ));
    }
    wrote.map_err(|e| format!("'{tool}': {e}"))?;
    Ok(out.stdout)
}

/// Writes `path` through a temporary file and a rename: an old image is never half-replaced.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("can't create '{}': {e}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let res = std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("can't write '{}': {e}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn modules_take_names_up_to_the_next_option() {
        let o = parse_args(&args(&[
            "--modules",
            "/k",
            "ext4",
            "virtio_blk",
            "--no-build",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            o.modules,
            Some((
                PathBuf::from("/k"),
                vec!["ext4".into(), "virtio_blk".into()]
            ))
        );
        assert!(o.no_build);
        assert!(parse_args(&args(&["--modules", "/k"])).is_err());
        assert!(parse_args(&args(&["--binary"])).is_err());
        assert!(parse_args(&args(&["--frobnicate"]))
            .unwrap_err()
            .contains("'--frobnicate'"));
    }

    #[test]
    fn applet_table_is_read_from_source() {
        let src = "pub const APPLETS: &[(&str, Main)] = &[\n    (\"deploy\", deploy::main),\n    (\"switch_root\", switch_root::main),\n];\n";
        assert_eq!(
            parse_applet_table(src),
            Some(vec!["deploy".into(), "switch_root".into()])
        );
        assert_eq!(parse_applet_table("nothing"), None);
    }

    #[test]
    fn real_applet_table_parses() {
        let text =
            std::fs::read_to_string(repo_root().join("ramdisk-bin/src/applets/mod.rs")).unwrap();
        let names = parse_applet_table(&text).unwrap();
        assert!(names.contains(&"init".to_string()), "{names:?}");
    }

    #[test]
    fn extra_dir_and_mode_parse() {
        assert_eq!(extra_dir("/run").unwrap(), ("/run".into(), 0o755));
        assert_eq!(extra_dir("/run:700").unwrap(), ("/run".into(), 0o700));
        assert!(extra_dir("/run:9").is_err());
    }

    #[test]
    fn gzip_is_reproducible_and_inflates_back() {
        let data = b"hello hello hello hello".repeat(100);
        let a = gzip(&data).unwrap();
        assert_eq!(a, gzip(&data).unwrap());
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a[..]), &mut back).unwrap();
        assert_eq!(back, data);
    }
}
