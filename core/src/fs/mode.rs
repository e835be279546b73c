//! File mode strings as `mknod -m` / `chmod` take them: octal (`0644`) or symbolic
//! (`u=rw,go+r`), the forms busybox's `bb_parse_mode` accepts (chmod(1), POSIX "Symbolic Modes").
//!
//! Pure: no umask is applied (busybox applies none with `-m` either); an empty `who` means all
//! classes.

/// Permission and special bits a mode string may set.
pub const ALL_BITS: u32 = 0o7777;

/// Parses `s` into permission bits, starting from `base` for the symbolic form (mknod uses
/// 0666). `None` for anything malformed: a non-octal digit, a value above 07777, an unknown
/// letter, a clause without an operator.
pub fn parse_mode(s: &str, base: u32) -> Option<u32> {
    let b = s.as_bytes();
    if b.first()?.is_ascii_digit() {
        let mut v: u32 = 0;
        for &c in b {
            if !(b'0'..=b'7').contains(&c) {
                return None;
            }
            v = v.checked_mul(8)? + u32::from(c - b'0');
            if v > ALL_BITS {
                return None;
            }
        }
        return Some(v);
    }
    let mut mode = base & ALL_BITS;
    for clause in s.split(',') {
        let cb = clause.as_bytes();
        let mut i = 0;
        let mut who = 0u32;
        while let Some(&c) = cb.get(i) {
            who |= match c {
                b'u' => 0o4700,
                b'g' => 0o2070,
                b'o' => 0o1007,
                b'a' => ALL_BITS,
                _ => break,
            };
            i += 1;
        }
        if who == 0 {
            who = ALL_BITS;
        }
        // At least one operator per clause.
        let mut ops = 0;
        while let Some(&op) = cb.get(i) {
            if !matches!(op, b'+' | b'-' | b'=') {
                return None;
            }
            i += 1;
            let mut perm = 0u32;
            while let Some(&c) = cb.get(i) {
                perm |= match c {
                    b'r' => 0o444,
                    b'w' => 0o222,
                    b'x' => 0o111,
                    b'X' if mode & 0o111 != 0 => 0o111,
                    b'X' => 0,
                    b's' => 0o6000,
                    b't' => 0o1000,
                    b'u' => ((mode >> 6) & 7) * 0o111,
                    b'g' => ((mode >> 3) & 7) * 0o111,
                    b'o' => (mode & 7) * 0o111,
                    b'+' | b'-' | b'=' => break,
                    _ => return None,
                };
                i += 1;
            }
            let perm = perm & who;
            mode = match op {
                b'+' => mode | perm,
                b'-' => mode & !perm,
                _ => (mode & !who) | perm,
            };
            ops += 1;
        }
        if ops == 0 {
            return None;
        }
    }
    Some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_octal() {
        assert_eq!(parse_mode("0644", 0o666), Some(0o644));
        assert_eq!(parse_mode("600", 0o666), Some(0o600));
        assert_eq!(parse_mode("7777", 0), Some(0o7777));
        assert_eq!(parse_mode("0", 0o666), Some(0));
    }

    #[test]
    fn rejects_bad_octal() {
        for s in ["999", "08", "17777", "0644x", "", "99999999999999999999"] {
            assert_eq!(parse_mode(s, 0o666), None, "{s}");
        }
    }

    #[test]
    fn parses_symbolic_relative_to_base() {
        assert_eq!(parse_mode("u=rw,go=r", 0o666), Some(0o644));
        assert_eq!(parse_mode("go-w", 0o666), Some(0o644));
        assert_eq!(parse_mode("a+x", 0o644), Some(0o755));
        assert_eq!(parse_mode("+x", 0o644), Some(0o755));
        assert_eq!(parse_mode("u+s,o+t", 0o644), Some(0o5644));
        assert_eq!(parse_mode("g=u", 0o640), Some(0o660));
        assert_eq!(parse_mode("o=", 0o666), Some(0o660));
        assert_eq!(parse_mode("u=rwx,g=rx-x", 0o0), Some(0o740));
        assert_eq!(parse_mode("a+X", 0o644), Some(0o644));
        assert_eq!(parse_mode("a+X", 0o744), Some(0o755));
    }

    #[test]
    fn rejects_bad_symbolic() {
        for s in ["abc", "u", "u=q", "z+r", "u+r,", "=r,,"] {
            assert_eq!(parse_mode(s, 0o666), None, "{s}");
        }
    }
}
