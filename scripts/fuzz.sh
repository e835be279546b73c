#!/bin/bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 30), one after the other, and
# prints the executions per target (reliability.md §5, STYLE.md §2 "Pure, so fuzzable").
#
#   scripts/fuzz.sh [SECONDS]        e.g. scripts/fuzz.sh 30 (test.sh), scripts/fuzz.sh 600
#   FUZZ_TARGETS="gvariant filez" scripts/fuzz.sh 60      only these targets
#
# Stable Rust: cargo-fuzz's nightly flags are enabled with RUSTC_BOOTSTRAP=1; AddressSanitizer is
# used when the toolchain ships its runtime (librustc-*_rt.asan.a), else `--sanitizer none`.
# Installs cargo-fuzz with `cargo install --locked` when missing; if that is impossible it prints
# `skipped: …` and exits 0 (1 under REQUIRE_ALL=1, as the other test steps do).
# Seeds: fuzz/seeds/<target>/ (made by fuzz/seeds/generate.sh from real `ostree` repos when
# absent); the growing corpus is fuzz/corpus/<target>/, crashes go to fuzz/artifacts/<target>/.
# Limits per input: -rss_limit_mb=512 -timeout=5. Exit status 1 when any target finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-30}
TARGETS=${FUZZ_TARGETS:-gvariant objects filez commitmeta cmdline mount_options}
TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/fuzz}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

skip() {
    echo "fuzz.sh: skipped: $*"
    [ "${REQUIRE_ALL:-0}" = 1 ] && exit 1
    exit 0
}

case $SECONDS_EACH in
'' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number, got '$SECONDS_EACH'" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    nice -n 19 cargo install cargo-fuzz --locked >/dev/null 2>&1 \
        || skip "cargo-fuzz is not installed and 'cargo install cargo-fuzz --locked' failed"
    cargo fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz installed but not on PATH"
fi

host=$(rustc -vV | sed -n 's/^host: //p')
sanitizer=none
if ls "$(rustc --print sysroot)/lib/rustlib/$host/lib/"librustc-*_rt.asan.a >/dev/null 2>&1; then
    sanitizer=address
fi

# Seeds from real repositories (once).
if [ ! -d fuzz/seeds/filez ] || [ -z "$(ls -A fuzz/seeds/filez 2>/dev/null)" ]; then
    if command -v ostree >/dev/null && command -v python3 >/dev/null; then
        fuzz/seeds/generate.sh
    else
        echo "fuzz.sh: no seeds (needs ostree and python3 for fuzz/seeds/generate.sh)"
    fi
fi

echo "fuzz.sh: building targets (sanitizer: $sanitizer, target dir: $TARGET_DIR)"
# shellcheck disable=SC2086 # TARGETS is a list of words
for t in $TARGETS; do
    nice -n 19 cargo fuzz build -s "$sanitizer" --target-dir "$TARGET_DIR" --fuzz-dir fuzz "$t"
done
BIN=$TARGET_DIR/$host/release

status=0
printf '%-14s %12s %8s %9s %s\n' target executions exec/s seconds result
cd fuzz
for t in $TARGETS; do
    mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
    log=$(mktemp)
    # The filez target keeps its scratch repository here.
    RAMDISK_FUZZ_TMP=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/ramdisk-fuzz.XXXXXX")
    export RAMDISK_FUZZ_TMP
    # One process, no -jobs/-workers: the machine is shared.
    set +e
    nice -n 19 "$BIN/$t" -artifact_prefix="artifacts/$t/" -rss_limit_mb=512 -timeout=5 \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 "corpus/$t" "seeds/$t" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    if [ $rc = 0 ]; then
        result=ok
    else
        result="FAILED (exit $rc)"
        status=1
    fi
    printf '%-14s %12s %8s %9s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$SECONDS_EACH" "$result"
    if [ $rc != 0 ]; then
        grep -E -A12 "panicked|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY" "$log" | head -40
        crash=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
        [ -n "$crash" ] && echo "  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer --fuzz-dir fuzz $t fuzz/$crash"
    fi
    rm -f "$log"
    rm -rf "$RAMDISK_FUZZ_TMP"
done
exit $status
