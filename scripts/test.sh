#!/usr/bin/env bash
# scripts/test.sh: everything CI checks, run by `veridian-run ci`
# (scripts/runner/src/ci/: the steps, their checks, the summary; `--help`
# explains). This shim does what the runner cannot do for itself: install
# the pinned toolchain, QEMU and the ISO tools (scripts/lib.sh), and build
# the runner. Last line "N passed, M failed"; exit 0, 1, 2 (usage) or 128+N
# (interrupted by signal N).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# Arguments (--help, or a usage error) are answered at once by a runner
# that is already built.
if (($# > 0)) && [[ -x $RUNNER ]]; then
    exec "$RUNNER" ci "$@"
fi
if ! (ensure_rust && ensure_qemu && ensure_iso_tools && build_runner); then
    say "set-up failed (see above); no step ran"
    echo "0 passed, 1 failed"
    exit 1
fi
exec "$RUNNER" ci "$@"
