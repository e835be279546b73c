//! All console output of the applets: `&str` pieces, no `format!` (STYLE.md §5, §7).
//!
//! Messages have the busybox shape `APPLET: what 'operand': why`; `why` for a failed syscall is
//! the strerror text from a short table of the errnos we meet.

use ramdisk_core::error::Errno;
use ramdisk_core::Error;
use std::io::Write;

/// Writes `s` to stdout (errors ignored: there is nobody left to tell).
pub fn out(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

/// Writes the pieces plus a newline to stderr as one write.
pub fn err(pieces: &[&str]) {
    let mut line = String::new();
    for p in pieces {
        line.push_str(p);
    }
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes the pieces to stderr as one write, without a newline (a prompt such as `mv: overwrite 'x'? `).
pub fn err_raw(pieces: &[&str]) {
    let _ = std::io::stderr()
        .lock()
        .write_all(pieces.concat().as_bytes());
}

/// strerror text for the errnos an initramfs meets; `error N` for the rest.
pub fn errno_str(e: Errno, buf: &mut String) {
    let text = match e {
        Errno::PERM => "Operation not permitted",
        Errno::NOENT => "No such file or directory",
        Errno::SRCH => "No such process",
        Errno::INTR => "Interrupted system call",
        Errno::IO => "I/O error",
        Errno::NXIO => "No such device or address",
        Errno::TOOBIG => "Argument list too long",
        Errno::NOEXEC => "Exec format error",
        Errno::BADF => "Bad file descriptor",
        Errno::AGAIN => "Resource temporarily unavailable",
        Errno::NOMEM => "Out of memory",
        Errno::ACCESS => "Permission denied",
        Errno::FAULT => "Bad address",
        Errno::NOTBLK => "Block device required",
        Errno::BUSY => "Resource busy",
        Errno::EXIST => "File exists",
        Errno::XDEV => "Invalid cross-device link",
        Errno::NODEV => "No such device",
        Errno::NOTDIR => "Not a directory",
        Errno::ISDIR => "Is a directory",
        Errno::INVAL => "Invalid argument",
        Errno::NFILE => "Too many open files in system",
        Errno::MFILE => "Too many open files",
        Errno::NOTTY => "Not a tty",
        Errno::TXTBSY => "Text file busy",
        Errno::FBIG => "File too large",
        Errno::NOSPC => "No space left on device",
        Errno::SPIPE => "Illegal seek",
        Errno::ROFS => "Read-only file system",
        Errno::MLINK => "Too many links",
        Errno::PIPE => "Broken pipe",
        Errno::RANGE => "Result not representable",
        Errno::NAMETOOLONG => "File name too long",
        Errno::NOSYS => "Function not implemented",
        Errno::NOTEMPTY => "Directory not empty",
        Errno::LOOP => "Symbolic link loop",
        Errno::NODATA => "No data available",
        Errno::NOTSUP => "Not supported",
        Errno::STALE => "Stale file handle",
        Errno::DQUOT => "Disk quota exceeded",
        Errno::KEYREJECTED => "Key was rejected by service",
        _ => {
            buf.push_str("error ");
            push_u64(buf, e.raw_os_error() as u64);
            return;
        }
    };
    buf.push_str(text);
}

/// Appends `n` in decimal.
pub fn push_u64(buf: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        buf.push(d as char);
    }
}

/// Appends `bytes` as lowercase hex.
pub fn push_hex(buf: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        buf.push(HEX[usize::from(b >> 4)] as char);
        buf.push(HEX[usize::from(b & 15)] as char);
    }
}

/// Appends the "why" part of a message for a core error.
pub fn push_error(buf: &mut String, e: &Error) {
    match e {
        Error::Sys { op, errno } => {
            buf.push_str(op);
            buf.push_str(": ");
            errno_str(*errno, buf);
        }
        Error::Parse(p) => {
            buf.push_str(p.kind.as_str());
            buf.push_str(" at byte ");
            push_u64(buf, u64::from(p.offset));
        }
        Error::Checksum { expected, actual } => {
            buf.push_str("checksum mismatch (expected ");
            push_hex(buf, expected);
            buf.push_str(", got ");
            push_hex(buf, actual);
            buf.push(')');
        }
        Error::Limit(what) => {
            buf.push_str("limit exceeded: ");
            buf.push_str(what);
        }
        Error::State(why) => buf.push_str(why),
    }
}

/// Prints `APPLET: what: why` for a core error.
pub fn fail(applet: &str, what: &str, e: &Error) {
    let mut line = String::new();
    line.push_str(applet);
    line.push_str(": ");
    if !what.is_empty() {
        line.push_str(what);
        line.push_str(": ");
    }
    push_error(&mut line, e);
    err(&[&line]);
}

/// Prints `APPLET: what 'operand': strerror` (the busybox shape) for a failed syscall.
pub fn fail_errno(applet: &str, what: &str, operand: &str, errno: Errno) {
    let mut why = String::new();
    errno_str(errno, &mut why);
    err(&[applet, ": ", what, " '", operand, "': ", &why]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_numbers_and_hex() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, 18446744073709551615);
        s.push(' ');
        push_hex(&mut s, &[0x3a, 0xbc, 0x01]);
        assert_eq!(s, "0 18446744073709551615 3abc01");
    }

    #[test]
    fn renders_errno_text() {
        let mut s = String::new();
        errno_str(Errno::NOENT, &mut s);
        assert_eq!(s, "No such file or directory");
    }
}
