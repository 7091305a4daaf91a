#!/usr/bin/env bash
# scripts/qemu.sh [flags]: boot the kernel in QEMU (KVM when usable, else TCG),
# serial console on this terminal. Installs what is missing, builds the
# kernel and the runner, then hands over to `veridian-run qemu`.
#   scripts/qemu.sh --help                 all flags
#   scripts/qemu.sh --gdb                  wait for gdb on :1234
#   scripts/qemu.sh --cpus 4 --numa 2 --cmdline run=test
#   scripts/qemu.sh --emulator bochs --cmdline run=test   Bochs (x2APIC, TSC-deadline, PCID)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_rust
build_runner
wants_iso=false
for arg in "$@"; do
    case $arg in
    -h | --help) exec "$RUNNER" qemu --help ;;
    iso-bios | iso-uefi | --boot=iso-*) wants_iso=true ;;
    bochs | --emulator=bochs) wants_iso=true ;; # Bochs boots a GRUB ISO
    esac
done
ensure_qemu
if $wants_iso; then
    ensure_iso_tools
fi
build_kernel
exec "$RUNNER" qemu "$@"
