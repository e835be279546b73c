//! Aligned text tables, written with plain code (no table crate).

/// Column alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Renders `rows` under `headers`, each line indented by two spaces, columns separated by two
/// spaces; the last column is not padded (long symbol names stay on one line).
pub fn render(headers: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let cols = headers.len();
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for r in std::iter::once(&header_row).chain(rows) {
        out.push_str("  ");
        for (i, cell) in r.iter().enumerate().take(cols) {
            let pad = width[i].saturating_sub(cell.chars().count());
            let last = i + 1 == cols;
            let right = align.get(i) == Some(&Align::Right);
            if right {
                out.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(cell);
            if !right && !last {
                out.extend(std::iter::repeat_n(' ', pad));
            }
            if !last {
                out.push_str("  ");
            }
        }
        out.push('\n');
    }
    out
}

/// `n` as a percentage of `total` with one decimal (`0.0` when `total` is 0).
pub fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        return "0.0".into();
    }
    let tenths = (n as u128 * 1000 + total as u128 / 2) / total as u128;
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = render(
            &["name", "bytes", "what"],
            &[Align::Left, Align::Right, Align::Left],
            &[
                vec![".text".into(), "12345".into(), "code".into()],
                vec![".rodata".into(), "7".into(), "constants".into()],
            ],
        );
        assert_eq!(
            t,
            "  name     bytes  what\n  .text    12345  code\n  .rodata      7  constants\n"
        );
    }

    #[test]
    fn percent_rounds_to_tenths() {
        assert_eq!(percent(1, 3), "33.3");
        assert_eq!(percent(2, 3), "66.7");
        assert_eq!(percent(5, 0), "0.0");
    }
}
