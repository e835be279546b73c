#!/bin/bash
# Boot the Debian arm64 kernel under qemu-system-aarch64 (TCG) with an initramfs and a raw disk.
#
# Usage: scripts/boot.sh --disk IMG --initramfs CPIO.GZ [--append "ARGS"] [--log FILE]
#                        [--timeout SECONDS] [--show all|markers|none]
#
# The serial console is written to FILE (default: target/qemu/logs/boot.log); with --show markers
# (default) only lines with `ramdisk:`, `QEMU-`, panics and errors are echoed to stdout.
# The kernel comes from scripts/fetch-debian-arm64.sh (fetched on first use).
# Exit status: qemu's (0 after poweroff AND after a panic: judge by the console!), 124 on timeout.
# The wall time of the boot is written to FILE.time (seconds, one line).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DISK= INITRD= APPEND= LOG=${QEMU_DIR:-$ROOT/target/qemu}/logs/boot.log TIMEOUT=${BOOT_TIMEOUT:-90} SHOW=markers
while [ $# -gt 0 ]; do
    case $1 in
    --disk) DISK=$2; shift 2 ;;
    --initramfs) INITRD=$2; shift 2 ;;
    --append) APPEND=$2; shift 2 ;;
    --log) LOG=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --show) SHOW=$2; shift 2 ;;
    -h | --help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "boot.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ -f "$DISK" ] || { echo "boot.sh: disk image '$DISK' not found" >&2; exit 2; }
[ -f "$INITRD" ] || { echo "boot.sh: initramfs '$INITRD' not found" >&2; exit 2; }

eval "$("$ROOT/scripts/fetch-debian-arm64.sh" --print)"
mkdir -p "$(dirname "$LOG")"

case $SHOW in
all) filter() { cat; } ;;
none) filter() { cat >/dev/null; } ;;
*) filter() { grep --line-buffered -aE 'ramdisk|QEMU-|Kernel panic|panic|FAIL|[Ee]rror|Run /|not syncing' || true; } ;;
esac

# -nic none + romfile= : no ipxe-qemu ROMs needed (testing-on-qemu.md, pitfall 1).
# panic=-1 + -no-reboot: a panicking guest makes qemu exit instead of hanging until the timeout.
start=$(date +%s.%N)
set +e
timeout --foreground -k 5 "$TIMEOUT" qemu-system-aarch64 -machine virt -cpu cortex-a72 \
    -smp "${SMP:-1}" -m "${MEM:-512M}" -nographic -no-reboot -nic none \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append "console=ttyAMA0 panic=-1 $APPEND" \
    -drive "file=$DISK,format=raw,if=none,id=hd0" -device virtio-blk-pci,drive=hd0,romfile= \
    </dev/null 2>&1 | tr -d '\r' | tee "$LOG" | filter
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f\n", b - a }' >"$LOG.time"
exit "$rc"
