//! Command-line normalization shared by every applet, then parsing with `argh`.
//!
//! argh matches whole words only, so the forms busybox and ostree users type — `-fn`, `-oro`,
//! `-m0644`, `--repo=PATH` — are rewritten first into the words argh knows (`-f -n`, `-o ro`,
//! `-m 0644`, `--repo PATH`). Everything after `--` is left alone.

use argh::FromArgs;

/// Rewrites `args` (without the applet name) into whole words.
///
/// `value_shorts` lists the short options that take a value (`b"to"` for mount's `-t`/`-o`):
/// in a cluster, the first of them takes the rest of the word (or the next word) as its value.
pub fn normalize(args: &[&str], value_shorts: &[u8]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut rest = false;
    for &a in args {
        if rest {
            out.push(a.to_string());
            continue;
        }
        if a == "--" {
            rest = true;
            out.push(a.to_string());
        } else if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((k, v)) => {
                    out.push(["--", k].concat());
                    out.push(v.to_string());
                }
                None => out.push(a.to_string()),
            }
        } else if a.len() > 2 && a.starts_with('-') {
            split_cluster(&a[1..], value_shorts, &mut out);
        } else {
            out.push(a.to_string());
        }
    }
    out
}

/// `-abc` → `-a -b -c`; `-oro` → `-o ro` when `o` takes a value.
fn split_cluster(cluster: &str, value_shorts: &[u8], out: &mut Vec<String>) {
    for (i, c) in cluster.char_indices() {
        out.push(['-', c].iter().collect());
        if c.is_ascii() && value_shorts.contains(&(c as u8)) {
            let value = &cluster[i + c.len_utf8()..];
            if !value.is_empty() {
                out.push(value.to_string());
            }
            return;
        }
    }
}

/// Moves every `--NAME VALUE` pair found after the subcommand word to before it
/// (ostree accepts `ostree checkout --repo=R ...` as well as `ostree --repo=R checkout ...`).
pub fn hoist_option(words: &mut Vec<String>, name: &str) {
    let mut i = 0;
    let mut hoisted = Vec::new();
    while i < words.len() {
        if words[i] == "--" {
            break;
        }
        if words[i] == name && i + 1 < words.len() {
            let v = words.remove(i + 1);
            let k = words.remove(i);
            hoisted.push(k);
            hoisted.push(v);
        } else {
            i += 1;
        }
    }
    for (n, w) in hoisted.into_iter().enumerate() {
        words.insert(n, w);
    }
}

/// Parses `argv` (applet name first) into `T`, printing help (exit 0) or the usage error (exit 1).
///
/// `Err(status)` means the applet should return `status` right away.
pub fn parse<T: FromArgs>(argv: &[&str], value_shorts: &[u8]) -> Result<T, u8> {
    let (name, rest) = match argv.split_first() {
        Some((n, r)) => (*n, r),
        None => ("?", &[][..]),
    };
    let words = normalize(rest, value_shorts);
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    parse_words(name, &refs)
}

/// Like [`parse`], on words already normalized.
pub fn parse_words<T: FromArgs>(name: &str, words: &[&str]) -> Result<T, u8> {
    let name = name.rsplit('/').next().unwrap_or(name);
    T::from_args(&[name], words).map_err(|early| {
        if early.status.is_ok() {
            crate::report::out(&early.output);
            if !early.output.ends_with('\n') {
                crate::report::out("\n");
            }
            0
        } else {
            let msg = early.output.trim_end();
            crate::report::err(&[name, ": ", msg]);
            1
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str], v: &[u8]) -> Vec<String> {
        normalize(args, v)
    }

    #[test]
    fn splits_flag_clusters() {
        assert_eq!(n(&["-fn", "a", "b"], b""), ["-f", "-n", "a", "b"]);
    }

    #[test]
    fn splits_attached_short_values() {
        assert_eq!(n(&["-oro", "-tproc"], b"ot"), ["-o", "ro", "-t", "proc"]);
        assert_eq!(n(&["-rt", "ext4"], b"ot"), ["-r", "-t", "ext4"]);
        assert_eq!(n(&["-m0644", "x", "p"], b"m"), ["-m", "0644", "x", "p"]);
    }

    #[test]
    fn splits_long_equals() {
        assert_eq!(n(&["--repo=a=b", "log"], b""), ["--repo", "a=b", "log"]);
    }

    #[test]
    fn leaves_words_after_double_dash() {
        assert_eq!(n(&["--", "-fn", "--x=y"], b""), ["--", "-fn", "--x=y"]);
    }

    #[test]
    fn keeps_single_letters_and_operands() {
        assert_eq!(n(&["-", "-f", "/mnt/x"], b""), ["-", "-f", "/mnt/x"]);
    }

    #[test]
    fn hoists_repo_before_subcommand() {
        let mut w: Vec<String> = ["checkout", "--repo", "r", "master", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        hoist_option(&mut w, "--repo");
        assert_eq!(w, ["--repo", "r", "checkout", "master", "d"]);
    }
}
