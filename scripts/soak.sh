#!/usr/bin/env bash
# scripts/soak.sh [--minutes M] [--cpus C] [--processes N] [--accel tcg|icount|kvm|auto]
# [--log FILE]: the soak. Boots the kernel with N processes (default 1,024)
# of mixed synchronous, asynchronous and large-message traffic, every
# message sequence-numbered and checksummed (kernel/user/src/bin/soak.rs),
# for M minutes (default 2), and prints a line per minute:
#   soak: minute M: messages N (R/s), calls C, large L, lost 0,
#   duplicated 0, reordered 0, garbled 0, free frames F
# then the final line and, after every process is gone, the kernel's check
# that frames, processes, threads, capabilities and regions are back.
# Exit status: 0 ok, 1 any anomaly, failure, leak, fault or hang, 2 usage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

minutes=2
cpus=2
processes=1024
accel=tcg
log=""
usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
}
while (($# > 0)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --minutes | --cpus | --processes | --accel | --log)
        (($# >= 2)) || {
            say "$1 needs a value"
            exit 2
        }
        case $1 in
        --minutes) minutes=$2 ;;
        --cpus) cpus=$2 ;;
        --processes) processes=$2 ;;
        --accel) accel=$2 ;;
        --log) log=$2 ;;
        esac
        shift 2
        ;;
    *)
        say "unknown flag '$1' (see --help)"
        exit 2
        ;;
    esac
done
for n in "$minutes" "$cpus" "$processes"; do
    [[ $n =~ ^[0-9]+$ ]] || {
        say "--minutes, --cpus and --processes take numbers, not '$n'"
        exit 2
    }
done

ensure_rust
build_runner
ensure_qemu
build_kernel
args=(soak --minutes "$minutes" --cpus "$cpus" --processes "$processes" --accel "$accel")
[[ -z $log ]] || args+=(--log "$log")
exec "$RUNNER" "${args[@]}"
