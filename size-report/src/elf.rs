//! What the bytes of the binary are: ELF sections, and symbols grouped by crate.
//!
//! Sections come from the shipped (stripped) binary. Symbols come from the unstripped build of
//! the same profile (`release-syms`): each defined function or data symbol with a size, its
//! legacy Rust mangling demangled by `rustc-demangle` without the hash, and attributed to the
//! crate named by the demangled path's first segment (`std`, `core`, `alloc` count as crates).
//! Under LTO much is inlined, so a crate's figure is "code that ended up in symbols named after
//! it", not what its source would cost alone.

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use std::collections::BTreeMap;

/// One section of the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub size: u64,
    /// False for sections that take no file bytes (`.bss`).
    pub in_file: bool,
    /// True for sections loaded at run time (SHF_ALLOC).
    pub loaded: bool,
}

/// One sized symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Demangled name without the trailing hash (the raw name when it is not Rust).
    pub name: String,
    pub size: u64,
    pub krate: String,
}

/// Bytes per crate, largest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateSize {
    pub krate: String,
    pub size: u64,
    pub symbols: usize,
}

/// The bucket for symbols that are neither Rust nor C++ (musl's libc, assembly).
pub const NON_RUST: &str = "[C]";

/// The ELF machine of `data`, e.g. `aarch64`, as `std::env::consts::ARCH` spells it.
///
/// # Errors
/// `data` is not an object file `object` can read.
pub fn arch(data: &[u8]) -> Result<&'static str, String> {
    let file = object::File::parse(data).map_err(|e| format!("not an ELF file: {e}"))?;
    Ok(match file.architecture() {
        object::Architecture::Aarch64 => "aarch64",
        object::Architecture::X86_64 => "x86_64",
        object::Architecture::Arm => "arm",
        object::Architecture::Riscv64 => "riscv64",
        object::Architecture::I386 => "x86",
        _ => "unknown",
    })
}

/// Every section with a non-zero size, largest first (name order breaks ties).
///
/// # Errors
/// `data` is not an ELF file.
pub fn sections(data: &[u8]) -> Result<Vec<Section>, String> {
    let file = object::File::parse(data).map_err(|e| format!("not an ELF file: {e}"))?;
    let mut out = Vec::new();
    for s in file.sections() {
        let name = s.name().unwrap_or("?").to_string();
        if s.size() == 0 || name.is_empty() {
            continue;
        }
        let loaded = match s.flags() {
            object::SectionFlags::Elf { sh_flags } => {
                sh_flags & u64::from(object::elf::SHF_ALLOC) != 0
            }
            _ => true,
        };
        out.push(Section {
            name,
            size: s.size(),
            in_file: !matches!(
                s.kind(),
                SectionKind::UninitializedData | SectionKind::UninitializedTls
            ),
            loaded,
        });
    }
    out.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Every defined, sized text or data symbol, largest first; empty for a stripped binary.
/// Aliases (same address and size) are counted once.
///
/// # Errors
/// `data` is not an ELF file.
pub fn symbols(data: &[u8]) -> Result<Vec<Symbol>, String> {
    let file = object::File::parse(data).map_err(|e| format!("not an ELF file: {e}"))?;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.is_undefined() || sym.size() == 0 {
            continue;
        }
        if !matches!(
            sym.kind(),
            SymbolKind::Text | SymbolKind::Data | SymbolKind::Tls
        ) {
            continue;
        }
        if !seen.insert((sym.address(), sym.size())) {
            continue;
        }
        let raw = sym.name().unwrap_or("?");
        let (name, krate) = match rustc_demangle::try_demangle(raw) {
            Ok(d) => {
                let name = format!("{d:#}");
                let krate = crate_of(&name).to_string();
                (name, krate)
            }
            Err(_) => (raw.to_string(), foreign_crate(raw)),
        };
        out.push(Symbol {
            name,
            size: sym.size(),
            krate,
        });
    }
    out.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Sums `symbols` per crate, largest first.
pub fn crates(symbols: &[Symbol]) -> Vec<CrateSize> {
    let mut by: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for s in symbols {
        let e = by.entry(&s.krate).or_default();
        e.0 += s.size;
        e.1 += 1;
    }
    let mut out: Vec<CrateSize> = by
        .into_iter()
        .map(|(k, (size, symbols))| CrateSize {
            krate: k.to_string(),
            size,
            symbols,
        })
        .collect();
    out.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.krate.cmp(&b.krate)));
    out
}

/// The crate a demangled Rust path belongs to: its first path segment.
///
/// `<alloc::string::String as core::fmt::Write>::write_str` belongs to `alloc` (the type's
/// crate); when the self type is not a path (`<&T as core::fmt::Debug>::fmt`, `<str as …>`),
/// the trait's crate is used.
pub fn crate_of(demangled: &str) -> &str {
    let mut s = demangled;
    loop {
        let t = s.trim_start_matches(['<', '&', '*', '[', '(', ' ']);
        let t = ["mut ", "const ", "dyn "]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        if t.len() == s.len() {
            break;
        }
        s = t;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let ident = &s[..end];
    if !ident.is_empty() && s[end..].starts_with("::") {
        return ident;
    }
    if let Some(i) = demangled.find(" as ") {
        return crate_of(&demangled[i + 4..]);
    }
    // An inherent impl on a primitive or a slice (`<char>::encode_utf8`, `<[T]>::sort`).
    if ident.is_empty() || PRIMITIVES.contains(&ident) || ident.len() == 1 {
        "core"
    } else {
        ident
    }
}

/// Primitive type names, whose inherent methods live in `core` (or `alloc`, counted as `core`).
const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64",
];

/// The bucket of a symbol that is not Rust: an Itanium C++ name's first namespace
/// (`_ZN9libunwind…` → `libunwind`, LLVM's unwinder in std), else [`NON_RUST`] (musl's libc).
fn foreign_crate(raw: &str) -> String {
    let Some(rest) = raw.strip_prefix("_ZN") else {
        return NON_RUST.to_string();
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let len: usize = rest[..digits].parse().unwrap_or(0);
    match digits
        .checked_add(len)
        .and_then(|end| rest.get(digits..end))
    {
        Some(ns) if len > 0 => format!("[C++ {ns}]"),
        _ => NON_RUST.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_is_first_path_segment() {
        assert_eq!(crate_of("core::fmt::write"), "core");
        assert_eq!(crate_of("std::rt::lang_start_internal::{{closure}}"), "std");
        assert_eq!(crate_of("ramdisk_core::name::Name::new"), "ramdisk_core");
        assert_eq!(crate_of("ramdisk::applets::mount::main"), "ramdisk");
    }

    #[test]
    fn impl_symbols_belong_to_the_self_type_else_the_trait() {
        assert_eq!(
            crate_of("<alloc::string::String as core::fmt::Write>::write_str"),
            "alloc"
        );
        assert_eq!(crate_of("<&T as core::fmt::Display>::fmt"), "core");
        assert_eq!(crate_of("<str as core::fmt::Debug>::fmt"), "core");
        assert_eq!(
            crate_of("<&mut rustix::fs::Dir as core::iter::Iterator>::next"),
            "rustix"
        );
        assert_eq!(crate_of("<[u8] as argh::FromArgValue>::x"), "argh");
        assert_eq!(crate_of("<dyn core::any::Any>::type_id"), "core");
        assert_eq!(crate_of("<char>::escape_debug_ext"), "core");
        assert_eq!(crate_of("<[T]>::sort"), "core");
    }

    #[test]
    fn demangled_legacy_names_drop_the_hash() {
        let d = rustc_demangle::try_demangle("_ZN4core3fmt5write17h0123456789abcdefE").unwrap();
        assert_eq!(format!("{d:#}"), "core::fmt::write");
        assert!(rustc_demangle::try_demangle("memcpy").is_err());
    }

    #[test]
    fn foreign_symbols_are_cpp_namespace_or_c() {
        assert_eq!(
            foreign_crate("_ZN9libunwind10CFI_ParserE"),
            "[C++ libunwind]"
        );
        assert_eq!(foreign_crate("memcpy"), "[C]");
        assert_eq!(foreign_crate("_ZN99x"), "[C]");
        assert_eq!(foreign_crate("_ZN18446744073709551615x"), "[C]");
    }

    #[test]
    fn crates_sum_and_sort() {
        let s = |k: &str, n| Symbol {
            name: k.into(),
            size: n,
            krate: k.into(),
        };
        let c = crates(&[s("core", 5), s("std", 7), s("core", 4)]);
        assert_eq!(
            c[0],
            CrateSize {
                krate: "core".into(),
                size: 9,
                symbols: 2
            }
        );
        assert_eq!(
            c[1],
            CrateSize {
                krate: "std".into(),
                size: 7,
                symbols: 1
            }
        );
    }
}
