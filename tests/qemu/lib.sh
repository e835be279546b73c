# Shared helpers for the qemu scenarios (sourced, bash).
# Scenario scripts print their own progress and end with exactly one line
#   "qemu: <scenario>: ok (...)" or "qemu: <scenario>: FAIL: <why>"  (exit 0 / 1),
# or "qemu: <scenario>: skipped: <why>" (exit 77) when a tool is missing.

QROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QDIR=${QEMU_DIR:-$QROOT/target/qemu}
QLOGS=$QDIR/logs
mkdir -p "$QLOGS"

# has LOG REGEX: the console log contains a line matching REGEX (extended regex).
has() { grep -aqE -- "$2" "$1"; }

# first_field LOG REGEX N: field N of the first line matching REGEX.
first_field() { { grep -aE -- "$2" "$1" || true; } | head -n 1 | awk -v n="$3" '{ print $n }'; }

# console_bad LOG: up to 3 lines showing a kernel panic, no qemu error, no marker of a failed step.
console_bad() {
    { grep -aE 'Kernel panic|not syncing|EXT4-fs error|QEMU-ERROR|efi-virtio.rom|qemu-system-aarch64:' "$1" || true; } | head -n 3
}

# kernel_run_init LOG: kernel timestamp (s) of "Run /init as init process" (empty if quiet).
kernel_run_init() {
    { grep -aE 'Run /init as init process' "$1" || true; } | head -n 1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'
}

# system_uptime LOG: kernel timestamp (s) when the final system's /sbin/init started (QEMU-KMSG).
system_uptime() {
    { grep -aE 'QEMU-KMSG: .* init started' "$1" || true; } | tail -n 1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'
}

# init_to_system LOG: seconds from the kernel's "Run /init" to the final system's init (or "?").
init_to_system() {
    local a b
    a=$(kernel_run_init "$1") b=$(system_uptime "$1")
    if [ -n "$a" ] && [ -n "$b" ]; then awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b - a }'; else echo '?'; fi
}

# need TOOL...: exit 77 with "skipped" if a tool is missing.
need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "qemu: ${SCENARIO:-?}: skipped: '$t' not installed"; exit 77; }
    done
}

fail() { echo "qemu: ${SCENARIO:-?}: FAIL: $*"; exit 1; }
