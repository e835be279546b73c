//! `size-budget.toml`: the byte limits size-report enforces.
//!
//! The file is a flat TOML subset read by hand: `# comments`, blank lines and `KEY = INTEGER`
//! (TOML's `_` digit separators allowed, a trailing `# comment` too). Keys are the figures:
//! `binary` (the stripped binary), `initramfs` (the compressed image without kernel modules),
//! `initramfs_modules` (the image with them, checked only when `--modules` is given). An
//! unknown key is an error, so a typo never disables a budget.

/// The figures a budget can name.
pub const FIGURES: &[&str] = &["binary", "initramfs", "initramfs_modules"];

/// Parsed budgets: figure name → limit in bytes, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budgets(pub Vec<(String, u64)>);

impl Budgets {
    /// The limit for `figure`, if the file sets one.
    pub fn get(&self, figure: &str) -> Option<u64> {
        self.0.iter().find(|(k, _)| k == figure).map(|(_, v)| *v)
    }
}

/// Parses the file's text; errors name the line.
///
/// # Errors
/// A line that is not `KEY = INTEGER`, an unknown or repeated key, an integer out of range.
pub fn parse(text: &str) -> Result<Budgets, String> {
    let mut out = Budgets::default();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {line_no}: expected KEY = BYTES, got '{raw}'"));
        };
        let key = key.trim();
        let value = value.trim();
        if !FIGURES.contains(&key) {
            return Err(format!(
                "line {line_no}: unknown figure '{key}' (known: {})",
                FIGURES.join(", ")
            ));
        }
        if out.get(key).is_some() {
            return Err(format!("line {line_no}: '{key}' set twice"));
        }
        let digits: String = value.chars().filter(|c| *c != '_').collect();
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || value.starts_with('_')
        {
            return Err(format!(
                "line {line_no}: '{key}' must be a byte count, got '{value}'"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("line {line_no}: '{key}' = '{value}' is out of range"))?;
        out.0.push((key.to_string(), n));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_comments_and_separators() {
        let b = parse("# top\n\nbinary = 458_752 # 448 KiB\ninitramfs=229376\n").unwrap();
        assert_eq!(b.get("binary"), Some(458752));
        assert_eq!(b.get("initramfs"), Some(229376));
        assert_eq!(b.get("initramfs_modules"), None);
    }

    #[test]
    fn rejects_unknown_repeated_and_malformed_lines() {
        assert!(parse("binray = 1")
            .unwrap_err()
            .contains("unknown figure 'binray'"));
        assert!(parse("binary = 1\nbinary = 2")
            .unwrap_err()
            .contains("line 2"));
        assert!(parse("binary = 1.5").is_err());
        assert!(parse("binary = -1").is_err());
        assert!(parse("binary").is_err());
        assert!(parse("binary = 99999999999999999999999").is_err());
    }
}
