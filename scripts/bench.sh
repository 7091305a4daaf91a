#!/usr/bin/env bash
# scripts/bench.sh: the main job. Builds what is needed, boots the kernel in
# QEMU (KVM when usable, else TCG, said which), runs the benchmark suite with a
# progress bar per benchmark, and writes target/bench/<UTC time>/ (or --out):
# serial.log, summary.json, histograms.hlog, <bench>.hgrm, dashboard.html.
# Prints a p50/p99/max table and the run directory. `--help` lists the flags.
# --model / --profile BENCH also build the QEMU plugin (perf/plugin) and run
# under it (--accel icount): model.* counts per operation, flame graphs.
# Exit status: 0 when the suite finished, 1 when the kernel failed, timed out
# or printed no @done (with the reason), 2 on a usage error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_rust
build_runner
for arg in "$@"; do
    case $arg in
    -h | --help) exec "$RUNNER" bench --help ;;
    esac
done
ensure_qemu
build_kernel
for arg in "$@"; do
    case $arg in
    --model | --profile | --profile=*)
        say "building the performance-model plugin (perf-plugin)"
        (cd "$ROOT" && cargo build -q -p perf-plugin --release)
        break
        ;;
    esac
done
exec "$RUNNER" bench "$@"
