#!/usr/bin/env bash
# scripts/test.sh: everything CI checks. Formatting, clippy (host crates and
# the kernel), host unit/property tests, then the in-kernel tests in QEMU at
# several CPU counts. Installs what is missing and builds what it needs.
#
# Every step runs even when an earlier one fails; the end lists what failed
# and the last line is the combined `N passed, M failed` (host + kernel tests).
# A failing step that reports no failed test of its own (fmt, clippy, a build,
# a crash before any result) counts as one failure there, so M > 0 exactly
# when something failed. Exit status: 0 when everything passed, else 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

failed_steps=()
passed_total=0
failed_total=0
logs="$(mktemp -d)"

# finish: the summary, printed however the script ends (also on set -e aborts).
finish() {
    local status=$1
    trap - EXIT
    if ((status != 0 && ${#failed_steps[@]} == 0)); then
        failed_steps+=("test.sh aborted (status $status)")
        failed_total=$((failed_total + 1))
    fi
    rm -rf "$logs"
    say "---- summary ----"
    local step
    for step in "${failed_steps[@]}"; do
        say "FAILED: $step"
    done
    ((${#failed_steps[@]} > 0)) || say "all steps passed"
    echo "$passed_total passed, $failed_total failed"
    ((${#failed_steps[@]} == 0)) || exit 1
    exit 0
}
trap 'finish $?' EXIT

# step NAME COMMAND...: runs a step, records it if it fails and sets
# last_step_ok. Steps that count tests add to passed_total/failed_total
# themselves and return non-zero when anything failed.
last_step_ok=false
step() {
    local name=$1
    shift
    say "==== $name"
    local before=$failed_total
    last_step_ok=true
    if "$@"; then
        return 0
    fi
    last_step_ok=false
    failed_steps+=("$name")
    if ((failed_total == before)); then
        failed_total=$((failed_total + 1))
    fi
    return 0
}

# host_tests: `cargo test` over the default members, adding up the
# `test result: ... N passed; M failed; ...` lines.
host_tests() {
    local log="$logs/host.log" status=0 counts
    cargo test 2>&1 | tee "$log" || status=$?
    counts="$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed;.*/\1 \2/p' "$log" |
        awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }')"
    passed_total=$((passed_total + ${counts% *}))
    failed_total=$((failed_total + ${counts#* }))
    return "$status"
}

# kernel_tests ARGS...: `veridian-run test-kernel ARGS...`, adding up its
# combined closing line (the last line of its stdout).
kernel_tests() {
    local log="$logs/kernel.log" status=0 closing
    "$RUNNER" test-kernel "$@" | tee "$log" || status=$?
    closing="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
    if [[ $closing =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed_total=$((passed_total + BASH_REMATCH[1]))
        failed_total=$((failed_total + BASH_REMATCH[2]))
    fi
    return "$status"
}

ensure_rust
ensure_qemu

step "cargo fmt --all --check" cargo fmt --all --check
step "clippy (host crates)" cargo clippy --workspace --exclude kernel --all-targets -- -D warnings
step "clippy (kernel)" cargo clippy -p kernel --target "$KERNEL_TARGET" -- -D warnings
step "host tests (cargo test)" host_tests
step "build runner" build_runner
runner_built=$last_step_ok
step "build kernel" build_kernel
kernel_built=$last_step_ok

if $runner_built && $kernel_built && [[ -f $KERNEL_ELF ]]; then
    step "kernel tests (cpus 1,4; TCG)" kernel_tests --cpus 1,4 --accel tcg

    # ---- MORE KERNEL CONFIGURATIONS GO HERE (lead) -----------------------------
    # Each line is one step; failures are collected, counts added up. E.g.:
    #   step "kernel tests (NUMA 4:2, 8:4)" kernel_tests --cpus 2 --numa-configs 4:2,8:4 --accel tcg
    #   step "kernel tests (icount)" kernel_tests --cpus 1 --accel icount
    # ISO boot checks need the ISO tools first:
    #   ensure_iso_tools
    #   step "ISO boot (BIOS)" "$RUNNER" qemu --boot iso-bios --cmdline run=boot --accel tcg --timeout 120
    #   step "ISO boot (UEFI)" "$RUNNER" qemu --boot iso-uefi --cmdline run=boot --accel tcg --timeout 180
    # -----------------------------------------------------------------------------
else
    failed_steps+=("kernel tests (not run: the runner or the kernel at $KERNEL_ELF did not build)")
    failed_total=$((failed_total + 1))
fi
