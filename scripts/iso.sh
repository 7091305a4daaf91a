#!/usr/bin/env bash
# scripts/iso.sh [--out PATH] [--cmdline "..."] [--module PATH]...: a GRUB ISO
# that boots the kernel under BIOS and UEFI (default out: target/veridian.iso),
# for a USB stick or bare metal. Installs what is missing, builds, then hands
# over to `veridian-run iso`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_rust
build_runner
has_out=false
for arg in "$@"; do
    case $arg in
    -h | --help) exec "$RUNNER" iso --help ;;
    --out | --out=*) has_out=true ;;
    esac
done
ensure_iso_tools
build_kernel
if $has_out; then
    exec "$RUNNER" iso "$@"
fi
exec "$RUNNER" iso --out "$TARGET_DIR/veridian.iso" "$@"
