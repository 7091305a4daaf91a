#!/usr/bin/env bash
# scripts/test.sh: everything CI checks. Formatting, clippy (host crates and
# the kernel), host unit/property tests, then the in-kernel tests in QEMU at
# several CPU counts. Installs what is missing and builds what it needs.
#
# Every step runs even when an earlier one fails; the end lists what failed
# and the last line is the combined `N passed, M failed` (host + kernel tests).
# A failing step that reports no failed test of its own (fmt, clippy, a build,
# a crash before any result) counts as one failure there, so M > 0 exactly
# when something failed. Exit status: 0 when everything passed, else 1;
# interrupted (SIGINT, SIGTERM, SIGHUP): the summary says so and the status is
# 128 + the signal; 2 for a usage error. `--help` prints this and exits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
    cat <<'USAGE'
Usage: scripts/test.sh [--help]

Runs everything CI checks: cargo fmt, clippy (host crates, the kernel, the
user programs), the host unit/property tests, then the in-kernel tests in
QEMU at 1, 2, 4 and 8 CPUs and a NUMA layout (TCG, icount, fast path off,
debug build, without XSAVE), boots at 64M and 4G, a deliberate fault, the
quick benchmark suite, icount repeatability, the dashboard in headless
Chromium and GRUB ISO boots. It takes 12+ minutes of two cores.

Every step runs even when an earlier one fails. The last line is the
combined "N passed, M failed" (host + kernel tests).

Exit status: 0 everything passed; 1 something failed; 2 usage error;
128+N interrupted by signal N (the summary says so).

For a targeted run use the runner directly, e.g.
  cargo test -p dashboards
  target/debug/veridian-run test-kernel --cpus 2 --accel tcg --cmdline test.filter=kipc
USAGE
}
for arg in "$@"; do
    case $arg in
    -h | --help)
        usage
        exit 0
        ;;
    *)
        printf 'test.sh: unknown argument %q (it takes none; --help explains)\n' "$arg" >&2
        exit 2
        ;;
    esac
done

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

failed_steps=()
interrupted=""
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
    if [[ -n $interrupted ]]; then
        say "INTERRUPTED by SIG$interrupted: the steps after it did not run; these totals are partial"
    fi
    for step in "${failed_steps[@]}"; do
        say "FAILED: $step"
    done
    ((${#failed_steps[@]} > 0)) || say "all steps passed"
    echo "$passed_total passed, $failed_total failed"
    ((status < 128)) || exit "$status"
    ((${#failed_steps[@]} == 0)) || exit 1
    exit 0
}
trap 'finish $?' EXIT

# on_signal NAME NUMBER: a signal ends the run as a failure that says so.
# The running step is a job of its own (its own process group, see step):
# `wait` returns as soon as the signal arrives, and the whole step is ended.
on_signal() {
    trap - INT TERM HUP
    if [[ -n $step_pid ]]; then
        kill -TERM -- "-$step_pid" 2>/dev/null || true
        wait "$step_pid" 2>/dev/null || true
    fi
    interrupted=$1
    failed_steps+=("test.sh interrupted by SIG$1")
    failed_total=$((failed_total + 1))
    finish $((128 + $2))
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

# step NAME COMMAND...: runs a step, records it if it fails and sets
# last_step_ok. Steps that count tests append "PASSED FAILED" lines to
# $logs/counts (they run in a subshell) and return non-zero when anything
# failed. Each step runs as a background job with job control on, so it has
# a process group of its own that on_signal can end as a whole, and the
# script's `wait` is interrupted by a signal (a foreground command would
# make bash run the trap only after the command ended, and not at all when
# the command caught SIGINT and exited normally, as cargo does).
set -m
last_step_ok=false
step_pid=""
step() {
    local name=$1
    shift
    say "==== $name"
    local before=$failed_total status=0 passed failed
    last_step_ok=true
    : >"$logs/counts"
    "$@" &
    step_pid=$!
    wait "$step_pid" || status=$?
    step_pid=""
    while read -r passed failed; do
        passed_total=$((passed_total + passed))
        failed_total=$((failed_total + failed))
    done <"$logs/counts"
    if ((status == 0)); then
        return 0
    fi
    last_step_ok=false
    failed_steps+=("$name")
    if ((failed_total == before)); then
        failed_total=$((failed_total + 1))
    fi
    return 0
}

# host_tests: `cargo test` over the default members, counting the
# `test result: ... N passed; M failed; ...` lines.
host_tests() {
    local log="$logs/host.log" status=0
    cargo test 2>&1 | tee "$log" || status=$?
    count_tests "$log"
    return "$status"
}

# count_tests LOG: adds the `test result: ... N passed; M failed; ...`
# lines of a cargo test log to the totals.
count_tests() {
    local counts
    counts="$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed;.*/\1 \2/p' "$1" |
        awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }')"
    echo "$counts" >>"$logs/counts"
}

# loom_tests: the loom model checks of the lock-free rings, built with
# `--cfg loom` in a target directory of their own (the flag changes every
# crate's build).
loom_tests() {
    local log="$logs/loom.log" status=0
    RUSTFLAGS="--cfg loom" cargo test -p ipc --release --test ring_loom \
        --target-dir "$TARGET_DIR/loom" 2>&1 | tee "$log" || status=$?
    count_tests "$log"
    return "$status"
}

# miri_tests: Miri needs a nightly toolchain with its component; where
# rustup has one installed it runs the ipc and perf tests under it,
# else it says so in one line.
miri_tests() {
    if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then
        say "SKIP miri: no nightly toolchain with the miri component here (rustup +nightly component add miri)"
        return 0
    fi
    local log="$logs/miri.log" status=0
    cargo +nightly miri test -p ipc -p perf --lib 2>&1 | tee "$log" || status=$?
    count_tests "$log"
    return "$status"
}

# debug_kernel_tests: the kernel tests on a debug build of the kernel.
debug_kernel_tests() {
    say "building the kernel (debug, $KERNEL_TARGET)"
    (cd "$ROOT" && cargo build -q -p kernel --target "$KERNEL_TARGET") || return 1
    kernel_tests --cpus 2 --accel tcg --timeout 600 \
        --kernel "$TARGET_DIR/$KERNEL_TARGET/debug/veridian"
}

# fxsave_kernel_tests: the kernel tests on a CPU without XSAVE (QEMU's
# `-cpu max,-xsave`, through a wrapper around the QEMU program): the FXSAVE
# instance of the IPC fast path (`syscall::select_fast_dispatch`) and the
# FXSAVE switches; the boot log must say which instance runs.
fxsave_kernel_tests() {
    local wrapper="$logs/qemu-no-xsave"
    cat >"$wrapper" <<'SH'
#!/usr/bin/env bash
args=()
for a in "$@"; do
    if [[ $a == max ]]; then args+=("max,-xsave"); else args+=("$a"); fi
done
exec qemu-system-x86_64 "${args[@]}"
SH
    chmod +x "$wrapper"
    kernel_tests --cpus 2 --accel tcg --qemu "$wrapper" || return 1
    grep -q "fpu: fxsave (the IPC fast path's instance: xsave=false" "$logs/kernel.log" ||
        { say "the boot log does not show the FXSAVE instance"; return 1; }
}

# kernel_tests ARGS...: `veridian-run test-kernel ARGS...`, counting its
# combined closing line (the last line of its stdout).
kernel_tests() {
    local log="$logs/kernel.log" status=0 closing
    "$RUNNER" test-kernel "$@" | tee "$log" || status=$?
    closing="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
    if [[ $closing =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" >>"$logs/counts"
    fi
    return "$status"
}

# bochs_kernel_tests: the kernel tests under Bochs 2.7 (CPU model
# corei7_skylake_x, 2 CPUs): the hardware paths QEMU's TCG lacks run there:
# x2APIC IPIs and timer, TSC-deadline ticks, PCID/INVPCID address-space
# switches and the fast path's pcid=true instance. The runner installs Bochs
# (apt-get) when missing; the ISO needs the GRUB tools. Every kernel test
# runs: the whole set takes about 3 minutes of one core here.
bochs_kernel_tests() {
    local log="$logs/bochs.log" status=0 closing
    ensure_iso_tools
    "$RUNNER" qemu --emulator bochs --cpu-model corei7_skylake_x --cpus 2 --timeout 600 \
        --cmdline "run=test" --log "$log" >/dev/null || status=$?
    grep -E "^@boot v1|^tlb: |^fpu: |^pmu: |^warning: tsc" "$log" || true
    closing="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)"
    if [[ $closing =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        say "bochs: $closing"
        echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" >>"$logs/counts"
    fi
    local want
    # Bochs 2.7 advertises perfmon v4 whose counters never advance: the
    # boot-time check must find the PMU absent (`pmu: none`).
    for want in "apic=x2apic timer=tsc-deadline" "accel=bochs" "tlb: pcid=on invpcid=yes" \
        "pcid=true)" "pmu: none "; do
        grep -qF "$want" "$log" || { say "bochs: the log does not show '$want'"; status=1; }
    done
    return "$status"
}

# hardware_report: `run=report` (what bare-metal users send back) under TCG
# at 2 CPUs: every report line, the drift check against the HPET passing
# and the PMU reading present (absent under TCG, which has no PMU). About 2 s.
hardware_report() {
    local log="$logs/report.log" status=0
    "$RUNNER" qemu --accel tcg --cpus 2 --cmdline "run=report" --timeout 120 \
        --log "$log" >/dev/null || status=$?
    grep -E "^@boot v1|^pmu: |^report: " "$log" || true
    local want
    for want in "report: done checks=ok" "report: pmu_check instructions"; do
        grep -qF "$want" "$log" || { say "report: the log does not show '$want'"; status=1; }
    done
    return "$status"
}

# boot_at_memory_sizes: the boot record appears with 64 MiB and with 4 GiB.
boot_at_memory_sizes() {
    "$RUNNER" qemu --mem 64M --cmdline run=boot --accel tcg --timeout 120 &&
        "$RUNNER" qemu --mem 4G --cmdline run=boot --accel tcg --timeout 120
}

# deliberate_fault: test.fault=pf and test.fault=panic must print the
# register dump (pf), fail, and the runner must name the fault, the thread
# and a symbolized backtrace.
deliberate_fault() {
    local log="$logs/fault.log" plog="$logs/panic.log"
    if "$RUNNER" qemu --cmdline "run=boot test.fault=pf" --accel tcg --timeout 120 >"$log" 2>&1; then
        say "a deliberate page fault exited with success"
        return 1
    fi
    grep -q "kernel exception on cpu 0: #PF page fault" "$log" && grep -q "faulting address (cr2)=0x00007fffdead0000" "$log" || return 1
    # The runner names the fault as the failure reason, with the thread and
    # a backtrace unwound from the kernel ELF's call-frame information.
    grep -q "veridian-run: FAIL after .*: kernel exception on cpu 0: #PF page fault" "$log" &&
        grep -q "veridian-run:   thread: " "$log" &&
        grep -q "veridian-run:     #0 .* veridian::arch::x86_64::cpu::deliberate_fault\|inlined into veridian::arch::x86_64::cpu::deliberate_fault" "$log" &&
        grep -q "veridian-run:     #1 .* veridian::boot::kernel_entry at .*boot.rs" "$log" || {
        say "the page fault's report lacks the reason, the thread or the backtrace (see $log)"
        return 1
    }
    if "$RUNNER" qemu --cmdline "run=boot test.fault=panic" --accel tcg --timeout 120 >"$plog" 2>&1; then
        say "a deliberate kernel panic exited with success"
        return 1
    fi
    grep -q "veridian-run: FAIL after .*: kernel panic on cpu 0 at .*: deliberate kernel panic" "$plog" &&
        grep -q "veridian-run:     #[0-9] .* veridian::arch::x86_64::cpu::deliberate_fault at" "$plog" &&
        grep -q "veridian-run:     #[0-9] .* veridian::boot::kernel_entry at" "$plog" || {
        say "the panic's report lacks the reason or the backtrace (see $plog)"
        return 1
    }
}

# unknown_flags: every entry point rejects an unknown flag with status 2.
unknown_flags() {
    local script status
    for script in scripts/qemu.sh scripts/bench.sh scripts/iso.sh; do
        status=0
        "$script" --no-such-flag >/dev/null 2>&1 || status=$?
        if ((status != 2)); then
            say "$script --no-such-flag exited $status, expected 2"
            return 1
        fi
    done
}

# bench_quick: the quick suite completes and every record parses (the run
# directory writer fails on a missing @done; warnings are checked here).
bench_quick() {
    local out="$TARGET_DIR/ci-bench/tcg"
    rm -rf "$out"
    "$RUNNER" bench --accel tcg --cpus 2 --suite quick --samples 200 --out "$out" || return 1
    for f in serial.log summary.json histograms.hlog dashboard.html syscall.null.hgrm; do
        [[ -s $out/$f ]] || { say "bench: $f missing"; return 1; }
    done
    python3 - "$out/summary.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert not doc["warnings"], doc["warnings"]
names = {r["name"] for r in doc["results"]} | {s["name"] for s in doc["skipped"]}
assert "syscall.null" in names, names
print(f"bench: {len(doc['results'])} results, {len(doc['skipped'])} skipped, no warnings")
PY
}

# icount_repeatable: two icount runs give identical p50 per benchmark.
icount_repeatable() {
    local a="$TARGET_DIR/ci-bench/icount-a" b="$TARGET_DIR/ci-bench/icount-b"
    rm -rf "$a" "$b"
    "$RUNNER" bench --accel icount --cpus 2 --suite syscall --samples 300 --out "$a" >/dev/null &&
        "$RUNNER" bench --accel icount --cpus 2 --suite ipc.call.same_cpu --samples 300 --out "$a.ipc" >/dev/null &&
        "$RUNNER" bench --accel icount --cpus 2 --suite syscall --samples 300 --out "$b" >/dev/null &&
        "$RUNNER" bench --accel icount --cpus 2 --suite ipc.call.same_cpu --samples 300 --out "$b.ipc" >/dev/null || return 1
    python3 - "$a" "$b" <<'PY'
import json, sys
def p50s(d):
    out = {}
    for sub in (d, d + ".ipc"):
        for r in json.load(open(sub + "/summary.json"))["results"]:
            out[r["name"]] = r["p50"]
    return out
a, b = p50s(sys.argv[1]), p50s(sys.argv[2])
assert a, "no results"
assert a == b, f"p50 differs between icount runs: {a} vs {b}"
print(f"icount: identical p50 in both runs: {a}")
PY
}

# compare_gate: under icount the fast path off, compared with it on, is
# slower beyond noise (exit 3 with --fail-on-regression 5, ipc_fastpath named
# as the condition that differs); the two runs swapped, the verdict flips and
# the gate passes.
compare_gate() {
    local on="$TARGET_DIR/ci-bench/gate-on" off="$TARGET_DIR/ci-bench/gate-off"
    local log="$logs/gate.log" status=0
    rm -rf "$on" "$off"
    "$RUNNER" bench --accel icount --cpus 2 --suite ipc.call.same_cpu --samples 300 \
        --out "$on" >/dev/null || return 1
    "$RUNNER" bench --accel icount --cpus 2 --suite ipc.call.same_cpu --samples 300 \
        --cmdline ipc.fastpath=off --out "$off" --compare "$on" --fail-on-regression 5 \
        >"$log" 2>&1 || status=$?
    cat "$log"
    if ((status != 3)); then
        say "the fast path off passed the 5% regression gate (status $status, expected 3)"
        return 1
    fi
    grep -q "CONDITION DIFFERS: ipc_fastpath: baseline on -> candidate off" "$log" &&
        grep -Eq "^  ipc\.call\.same_cpu .* SLOWER" "$log" || return 1
    "$RUNNER" compare "$off" "$on" --fail-on-regression 5 --html "$logs/swapped.html" >"$log" 2>&1 ||
        { cat "$log"; return 1; }
    cat "$log"
    grep -Eq "^  ipc\.call\.same_cpu .* faster" "$log"
}

# model_checks: the performance-model plugin under icount. Its calibration
# programs must count what their access patterns imply (a 16 KiB loop
# near-zero L1D misses, a 64-byte stride over 64 MiB a miss at every level on
# every access, a line passed between two CPUs at least one coherence
# transfer per hop, a same-CPU ping-pong none), and a profile's total must be
# model.instructions x model.ops, with frames naming the syscall entry and
# the fast path.
model_checks() {
    local out="$TARGET_DIR/ci-bench/model"
    rm -rf "$out" "$out.prof"
    (cd "$ROOT" && cargo build -q -p perf-plugin --release) || return 1
    "$RUNNER" bench --accel icount --cpus 2 --model --suite model.calib --out "$out" >/dev/null || return 1
    "$RUNNER" bench --accel icount --cpus 2 --profile ipc.call.same_cpu --samples 300 \
        --out "$out.prof" >/dev/null || return 1
    python3 - "$out" "$out.prof" <<'PY'
import json, sys
def model(d):
    return {r["name"]: r.get("model") for r in json.load(open(d + "/summary.json"))["results"]}
m = model(sys.argv[1])
l1, stride = m["model.calib.l1"], m["model.calib.stride"]
pingpong, same = m["model.calib.pingpong"], m["model.calib.same_cpu"]
assert l1["l1d_misses"] < 0.5, l1
assert stride["l1d_misses"] == stride["l2_misses"] == stride["llc_misses"] == 1.0, stride
assert pingpong["coherence_transfers"] >= 2.0, pingpong  # a round trip is two hops
assert same["coherence_transfers"] == 0.0, same
p = model(sys.argv[2])["ipc.call.same_cpu"]
folded = open(sys.argv[2] + "/ipc.call.same_cpu.folded").read()
total = sum(int(line.rsplit(" ", 1)[1]) for line in folded.splitlines())
assert total == round(p["instructions"] * p["ops"]), (total, p)
assert "syscall_entry" in folded and "fast_dispatch" in folded, "frames"
print(f"model: l1 {l1['l1d_misses']} L1D misses/op, stride {stride['llc_misses']} LLC misses/access, "
      f"ping-pong {pingpong['coherence_transfers']} transfers/round trip, same CPU "
      f"{same['coherence_transfers']}; profile total {total} = {p['instructions']} x {p['ops']:.0f}")
PY
}

# browser_check: headless Chromium renders the CI run's dashboard; the
# screenshot must not be blank. Installs Debian's chromium when root.
browser_check() {
    local html="$TARGET_DIR/ci-bench/tcg/dashboard.html" png="$logs/dashboard.png" browser=""
    if [[ ! -s $html ]]; then
        say "browser check: no dashboard (the bench step failed)"
        return 1
    fi
    if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        say "installing chromium (apt-get) for the dashboard check"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } || true
    fi
    browser="$(command -v chromium || true)"
    if [[ -z $browser ]]; then
        say "SKIP browser check: chromium is not installed and cannot be (not root or no package)"
        return 0
    fi
    local dom="$logs/dom.html" err="$logs/chromium.err"
    local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --user-data-dir="$logs/chromium-profile" --enable-logging=stderr --v=0)
    timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$html" >"$dom" 2>"$err" || return 1
    grep -q "Veridian benchmark dashboard" "$dom" || { say "dashboard did not load"; return 1; }
    if grep -E "CONSOLE.*(Uncaught|Error)|:ERROR:CONSOLE" "$err"; then
        say "console errors in the dashboard"
        return 1
    fi
    timeout 120 "$browser" "${flags[@]}" --window-size=1280,1600 --screenshot="$png" "file://$html" >/dev/null 2>&1 || return 1
    python3 scripts/png_check.py "$png"
}

# user_programs_lint: kernel/user is its own cargo project (other code
# generation flags), so the workspace-wide fmt and clippy do not see it.
user_programs_lint() {
    (cd kernel/user && cargo fmt --check && cargo clippy --release --target "$KERNEL_TARGET" --target-dir "$TARGET_DIR/user-lint" -- -D warnings)
}

ensure_rust
ensure_qemu

step "cargo fmt --all --check" cargo fmt --all --check
step "clippy (host crates)" cargo clippy --workspace --exclude kernel --all-targets -- -D warnings
step "clippy (kernel)" cargo clippy -p kernel --target "$KERNEL_TARGET" -- -D warnings
step "fmt + clippy (user programs, kernel/user)" user_programs_lint
step "host tests (cargo test)" host_tests
step "loom model checks (ipc rings)" loom_tests
step "miri (ipc, perf)" miri_tests
step "build runner" build_runner
runner_built=$last_step_ok
step "build kernel" build_kernel
kernel_built=$last_step_ok

if $runner_built && $kernel_built && [[ -f $KERNEL_ELF ]]; then
    # Every CPU count the SMP issue names, and a two-node NUMA machine.
    step "kernel tests (cpus 1,2,4,8 and NUMA 4:2; TCG)" kernel_tests --cpus 1,2,4,8 --numa-configs 4:2 --accel tcg
    # Deterministic instruction counting; SMP bring-up must not hang under it.
    # Under icount one host thread runs both CPUs: fewer channel messages,
    # and more time (the run takes 250-300 s on this 2-core host, so the
    # default 300 s timeout cut it off once).
    step "kernel tests (icount, 2 CPUs)" kernel_tests --cpus 2 --accel icount \
        --cmdline test.channel_messages=20000 --timeout 600
    # The general IPC path alone (the fast path takes nearly every same-CPU
    # call otherwise).
    step "IPC tests with the fast path off (2 CPUs, TCG)" kernel_tests --cpus 2 --accel tcg \
        --cmdline "test.filter=kipc ipc.fastpath=off"
    # A debug build: integer overflow checks and debug assertions (the
    # fast path's invariants among them) that the release kernel compiles out.
    step "kernel tests, debug build (2 CPUs, TCG)" debug_kernel_tests
    step "kernel tests on a CPU without XSAVE (2 CPUs, TCG)" fxsave_kernel_tests
    step "3 channels x 10,000,000 messages (2 CPUs, TCG)" kernel_tests --cpus 2 --accel tcg \
        --cmdline "test.filter=channels_lose test.channel_messages=10000000" --timeout 600
    step "kernel tests under Bochs (corei7_skylake_x, 2 CPUs)" bochs_kernel_tests
    # Seeded random system calls on both CPUs beside checked IPC traffic;
    # the test fails on a kernel fault, a hang or any resource not returned.
    step "syscall fuzzer (1,000,000 calls, 2 CPUs, TCG)" kernel_tests --cpus 2 --accel tcg \
        --cmdline "test.filter=fuzz_random_syscalls fuzz.calls=1000000 fuzz.seed=$((RANDOM % 1000 + 1))" \
        --timeout 900
    # The same with one frame allocation in 5 failing anywhere in the kernel
    # while the processes run: no panic, and every frame comes back.
    step "frame-allocation fault injection (fault.frames=5, 2 CPUs, TCG)" kernel_tests \
        --cpus 2 --accel tcg --timeout 600 \
        --cmdline "test.filter=fuzz_random_syscalls fuzz.calls=200000 fault.frames=5 fuzz.seed=$((RANDOM % 1000 + 1))"
    step "hardware report (run=report, 2 CPUs, TCG)" hardware_report
    step "boot record at 64M and 4G" boot_at_memory_sizes
    step "deliberate kernel page fault and panic are reported (reason, thread, backtrace)" deliberate_fault
    step "unknown script flags exit 2" unknown_flags
    step "benchmark suite (quick, TCG, 2 CPUs)" bench_quick
    step "icount runs repeat exactly" icount_repeatable
    step "regression gate: fast path off vs on (icount), and swapped" compare_gate
    step "performance model: calibration and profile (icount, 2 CPUs)" model_checks
    step "dashboard in headless Chromium" browser_check
    ensure_iso_tools
    step "ISO boot (SeaBIOS)" "$RUNNER" qemu --boot iso-bios --cmdline run=boot --accel tcg --timeout 300
    step "ISO boot (OVMF)" "$RUNNER" qemu --boot iso-uefi --cmdline run=boot --accel tcg --timeout 300
else
    failed_steps+=("kernel tests (not run: the runner or the kernel at $KERNEL_ELF did not build)")
    failed_total=$((failed_total + 1))
fi
