#!/usr/bin/env bash
# scripts/fuzz.sh [--calls N] [--seed S] [--cpus C] [--accel tcg|icount|kvm|auto]
# [--timeout SECONDS]: the syscall fuzzer. Boots the kernel with one `fuzz`
# process per CPU (seeded random system calls, kernel/user/src/bin/fuzz.rs)
# beside well-behaved IPC checkers, and checks that every resource count
# returns to its baseline. Prints
#   fuzz: N calls, seed S, K kernel faults, conservation ok|FAILED
# (from the kernel, or from here when the kernel died: then K is 1 and the
# panic report above it names the CPU, the registers and the thread).
# Exit status: 0 ok, 1 a fault, hang or leak, 2 a usage error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

calls=1000000
seed=1
cpus=2
accel=tcg
timeout=""
usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}
number() {
    [[ $2 =~ ^[0-9]+$ ]] || {
        say "$1 takes a number, not '$2'"
        exit 2
    }
}
while (($# > 0)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --calls | --seed | --cpus | --timeout)
        (($# >= 2)) || {
            say "$1 needs a value"
            exit 2
        }
        number "$1" "$2"
        case $1 in
        --calls) calls=$2 ;;
        --seed) seed=$2 ;;
        --cpus) cpus=$2 ;;
        --timeout) timeout=$2 ;;
        esac
        shift 2
        ;;
    --accel)
        (($# >= 2)) || {
            say "--accel needs a value"
            exit 2
        }
        accel=$2
        shift 2
        ;;
    *)
        say "unknown flag '$1' (see --help)"
        exit 2
        ;;
    esac
done
# About 8,000 calls per second under TCG on this kind of host, plus boot.
[[ -n $timeout ]] || timeout=$((calls / 2000 + 300))

ensure_rust
build_runner
ensure_qemu
build_kernel
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
"$RUNNER" qemu --accel "$accel" --cpus "$cpus" --timeout "$timeout" \
    --cmdline "run=test test.filter=fuzz_random_syscalls fuzz.calls=$calls fuzz.seed=$seed" \
    2>&1 | tee "$log" || status=$?
if ! grep -q '^fuzz: [0-9]* calls, seed' "$log"; then
    echo "fuzz: $calls calls, seed $seed, 1 kernel faults, conservation FAILED"
    status=1
fi
exit "$status"
