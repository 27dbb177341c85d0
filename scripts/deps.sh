#!/usr/bin/env bash
# Installs what building, running and testing vnetcrypt needs on a fresh Debian 12
# machine. Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail

# Debian packages, one line per reason.
APT_PACKAGES=(
  qemu-system-x86          # boots the appliance (TCG by default)
  iproute2 iputils-ping    # network namespaces, veth and TAP test hosts
  openssl gnutls-bin       # DTLS interop peers
  tshark                   # checks what crosses the fabric
  dnsmasq-base             # DHCP server for the wan DHCP test
  qemu-utils               # qemu-img: qcow2 and VHD images
  grub-pc-bin grub-efi-amd64-bin grub-common  # BIOS and UEFI boot loaders for the disk images
  mtools gdisk ovmf        # FAT without root, GPT on a file, UEFI firmware for the boot test
  binutils                 # objcopy, strip (bench-boot)
  python3                  # qemu/vnetcrypt-vm, qemu/bench-boot
)
# Host tools from crates.io: "binary crate[@version]".
CARGO_TOOLS=(
  "defmt-print defmt-print"
  "cargo-fuzz cargo-fuzz"   # fuzzing: make fuzz, and a short run in make test
)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for entry in "${CARGO_TOOLS[@]}"; do
  read -r bin crate <<<"$entry"
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/$bin" ]; then
    echo "deps: cargo install $crate"
    cargo install --locked --quiet "$crate"
  fi
done
