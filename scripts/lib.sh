# shellcheck shell=bash
# scripts/lib.sh: sourced by the scripts/*.sh entry points. Makes sure the
# tools exist (installing what is missing and saying so), builds the kernel
# and the host runner, and names where they land.
#
# Variables it sets: ROOT (repository root), TARGET_DIR (cargo's target dir,
# honouring CARGO_TARGET_DIR), KERNEL_ELF, RUNNER (the veridian-run binary).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
KERNEL_TARGET="x86_64-unknown-none"
# shellcheck disable=SC2034 # used by the scripts that source this file
KERNEL_ELF="$TARGET_DIR/$KERNEL_TARGET/release/veridian"
# shellcheck disable=SC2034 # used by the scripts that source this file
RUNNER="$TARGET_DIR/debug/veridian-run"

# say MESSAGE...: a progress line on stderr, prefixed with the script's name.
say() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# apt_install WHAT PACKAGE...: installs Debian packages when running as root,
# else explains the command to run and exits 1.
apt_install() {
    local what=$1
    shift
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        say "installing $what with apt-get: $*"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
    else
        say "$what is missing; install it with: sudo apt-get install -y $*"
        exit 1
    fi
}

# ensure_rust: the toolchain pinned in rust-toolchain.toml, with its
# components and the kernel's x86_64-unknown-none target. Installs through
# rustup explicitly, so it works with RUSTUP_AUTO_INSTALL=0.
ensure_rust() {
    if ! command -v rustup >/dev/null; then
        say "rustup is missing; install it from https://rustup.rs (then re-run)"
        exit 1
    fi
    local channel
    channel="$(sed -nE 's/^channel *= *"([^"]+)".*/\1/p' "$ROOT/rust-toolchain.toml")"
    if [[ -z $channel ]]; then
        say "no channel in $ROOT/rust-toolchain.toml"
        exit 1
    fi
    if ! rustup toolchain list | grep -q "^$channel-"; then
        say "installing Rust $channel (from rust-toolchain.toml) with rustup"
        # rustup >= 1.28 installs the toolchain file's toolchain (with its
        # components and targets) when given no name; older ones need it spelled out.
        (cd "$ROOT" && rustup toolchain install) ||
            rustup toolchain install "$channel" --profile minimal \
                --component rustfmt,clippy --target "$KERNEL_TARGET"
    fi
    local component
    for component in rustfmt clippy; do
        if ! rustup component list --installed --toolchain "$channel" | grep -q "^$component"; then
            say "adding the $component component to Rust $channel with rustup"
            rustup component add --toolchain "$channel" "$component"
        fi
    done
    if ! rustup target list --installed --toolchain "$channel" | grep -qx "$KERNEL_TARGET"; then
        say "adding the $KERNEL_TARGET target to Rust $channel with rustup"
        rustup target add --toolchain "$channel" "$KERNEL_TARGET"
    fi
}

# ensure_qemu: qemu-system-x86_64 (Debian package qemu-system-x86).
ensure_qemu() {
    if ! command -v qemu-system-x86_64 >/dev/null; then
        apt_install "QEMU (qemu-system-x86_64)" qemu-system-x86
    fi
}

# ensure_iso_tools: grub-mkrescue for BIOS and UEFI, xorriso, mtools, OVMF.
ensure_iso_tools() {
    local missing=()
    [[ -d /usr/lib/grub/i386-pc ]] && command -v grub-mkrescue >/dev/null ||
        missing+=(grub-pc-bin)
    [[ -d /usr/lib/grub/x86_64-efi ]] || missing+=(grub-efi-amd64-bin)
    command -v xorriso >/dev/null || missing+=(xorriso)
    command -v mformat >/dev/null || missing+=(mtools)
    compgen -G '/usr/share/OVMF/OVMF_CODE*.fd' >/dev/null ||
        [[ -f /usr/share/ovmf/OVMF.fd ]] || missing+=(ovmf)
    if ((${#missing[@]} > 0)); then
        apt_install "ISO tools (GRUB BIOS+UEFI, xorriso, mtools, OVMF)" "${missing[@]}"
    fi
}

# build_kernel: the release kernel ELF at $KERNEL_ELF.
build_kernel() {
    say "building the kernel (release, $KERNEL_TARGET)"
    (cd "$ROOT" && cargo build -p kernel --release --target "$KERNEL_TARGET")
}

# build_runner: the host runner at $RUNNER.
build_runner() {
    say "building the host runner (veridian-run)"
    (cd "$ROOT" && cargo build -q -p runner)
}
