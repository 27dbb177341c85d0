#!/usr/bin/env bash
# Installs what building, running and testing vnetcrypt needs on a fresh Debian 12
# machine, then checks that every tool the build and the tests call actually runs.
# Idempotent: when every tool already runs, it installs nothing and takes about a second.
#
# QEMU comes from bookworm-backports (QEMU 10: its igb device emulates SR-IOV VFs, and a
# fresh machine of ours already carries qemu-utils 10 from there). Installing bookworm's
# qemu-system-x86 7.2 next to it makes apt *remove* qemu-utils 10, so qemu-img vanishes:
# both QEMU packages are installed together, from the same suite.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

QEMU_SUITE=bookworm-backports
QEMU_MIN_MAJOR=10
QEMU_PACKAGES=(qemu-system-x86 qemu-utils)

# Debian packages from the base suite, one line per reason, each with the command that
# proves it is usable ("package:command --version").
APT_TOOLS=(
  "iproute2:ip -V"                          # network namespaces, veth and TAP test hosts
  "iputils-ping:ping -V"
  "iperf3:iperf3 --version"                 # make bench-e2e: throughput, packet rates
  "wireguard-tools:wg --version"            # make bench-e2e: the Linux gateways' WireGuard keys
  "dpkg:dpkg-deb --version"                 # make bench-e2e: unpacks the Linux gateway's packages
  "openssl:openssl version"                 # DTLS interop peers
  "gnutls-bin:gnutls-cli --version"
  "gnutls-bin:gnutls-serv --version"
  "tshark:tshark -v"                        # checks what crosses the fabric
  "dnsmasq-base:dnsmasq --version"          # DHCP server for the wan DHCP test
  "grub-common:grub-mkimage --version"      # boot loaders for the disk images
  "mtools:mcopy -V"                         # FAT without root
  "gdisk:sgdisk -V"                         # GPT on a file
  "binutils:objcopy --version"              # objcopy, strip (bench-boot)
  "binutils:strip --version"
  "python3:python3 --version"               # qemu/vnetcrypt-vm, qemu/topology
  "iptables:iptables -V"                    # the NAT namespace of the topology tests
  "conntrack:conntrack --version"           # ... and changing its public mapping
  "rsyslog:rsyslogd -v"                     # a real syslog receiver for the events test
  "python3-venv:/usr/bin/python3 -c 'import ensurepip, venv'"  # the metrics test's venv
  "curl:curl --version"                     # scrapes the metrics endpoint
)
# Packages that ship files rather than commands ("package:file").
APT_FILES=(
  "grub-pc-bin:/usr/lib/grub/i386-pc/modinfo.sh"
  "grub-efi-amd64-bin:/usr/lib/grub/x86_64-efi/modinfo.sh"
  "ovmf:/usr/share/OVMF/OVMF_CODE.fd"       # UEFI firmware for the boot test
)
# Host tools from crates.io: "binary crate check-command".
CARGO_TOOLS=(
  "defmt-print:defmt-print:defmt-print -V"
  "cargo-fuzz:cargo-fuzz:cargo +nightly fuzz --version"
)

runs() { bash -c "$1" >/dev/null 2>&1; }

qemu_major() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n '1s/.*version \([0-9]*\)\..*/\1/p')
  echo "${v:-0}"
}

qemu_ok() {
  [ "$(qemu_major qemu-system-x86_64)" -ge "$QEMU_MIN_MAJOR" ] &&
    [ "$(qemu_major qemu-img)" -ge "$QEMU_MIN_MAJOR" ] &&
    runs "qemu-nbd --version"
}

apt_updated=""
apt_update() {
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
}

# The backports suite, added once (a deb822 file of our own) when no source has it.
ensure_backports() {
  if ! grep -qsE "(^|[[:space:]])$QEMU_SUITE([[:space:]]|$)" \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    echo "deps: adding the $QEMU_SUITE suite to apt's sources (for QEMU $QEMU_MIN_MAJOR)"
    $SUDO tee /etc/apt/sources.list.d/vnetcrypt-backports.sources >/dev/null <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $QEMU_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_updated=""
  fi
}

if ! qemu_ok; then
  ensure_backports
  apt_update
  echo "deps: installing ${QEMU_PACKAGES[*]} from $QEMU_SUITE"
  $SUDO apt-get install -y -qq --no-install-recommends -t "$QEMU_SUITE" "${QEMU_PACKAGES[@]}" >/dev/null
fi

missing=()
for entry in "${APT_TOOLS[@]}"; do
  pkg=${entry%%:*}
  runs "${entry#*:}" || missing+=("$pkg")
done
for entry in "${APT_FILES[@]}"; do
  [ -e "${entry#*:}" ] || missing+=("${entry%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  apt_update
  echo "deps: installing Debian packages: ${missing[*]}"
  # Never let this remove the QEMU we just checked: hold it while the rest installs.
  $SUDO apt-mark hold "${QEMU_PACKAGES[@]}" >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    $SUDO apt-mark unhold "${QEMU_PACKAGES[@]}" >/dev/null; exit 1; }
  $SUDO apt-mark unhold "${QEMU_PACKAGES[@]}" >/dev/null
fi

# The nightly toolchain runs the fuzzers (cargo-fuzz needs -Z flags). It is preinstalled
# on our machines; elsewhere rustup fetches it, and where it cannot, the fuzz smoke runs
# of make test say so and are skipped (scripts/fuzz.sh).
if ! runs "cargo +nightly --version"; then
  echo "deps: installing the nightly toolchain (fuzzing)"
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1 ||
    echo "deps: NOTICE: no nightly toolchain could be installed: fuzz smoke runs will be skipped"
fi

for entry in "${CARGO_TOOLS[@]}"; do
  IFS=: read -r bin crate _ <<<"$entry"
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/$bin" ]; then
    echo "deps: cargo install $crate"
    cargo install --locked --quiet "$crate"
  fi
done

# The metrics test (tests/tests/ops.rs) parses scrapes with the Prometheus client
# library's own parser (prometheus_client), from PyPI into a venv under build/: the
# system Python is never changed.
METRICS_VENV="$(cd "$(dirname "$0")/.." && pwd)/build/venv-metrics"
METRICS_CHECK="$METRICS_VENV/bin/python -c 'import prometheus_client.parser'"
if ! runs "$METRICS_CHECK"; then
  echo "deps: creating build/venv-metrics with prometheus_client (metrics test)"
  rm -rf "$METRICS_VENV"
  /usr/bin/python3 -m venv "$METRICS_VENV"
  "$METRICS_VENV/bin/pip" install --quiet --disable-pip-version-check "prometheus_client==0.26.0"
fi

# The SNTP interop check runs Debian's chronyd from its package unpacked under build/
# (never installed: no system chrony is touched, no service started). It runs only
# inside the test's namespace, with -x (it never sets a clock).
CHRONY_DIR="$(cd "$(dirname "$0")/.." && pwd)/build/chrony"
CHRONY_CHECK="$CHRONY_DIR/usr/sbin/chronyd -v"
if ! runs "$CHRONY_CHECK"; then
  echo "deps: unpacking Debian's chrony under build/chrony (SNTP interop test)"
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -qq chrony >/dev/null 2>&1) ||
    { apt_update; (cd "$tmp" && apt-get download -qq chrony >/dev/null); }
  rm -rf "$CHRONY_DIR"
  dpkg-deb -x "$tmp"/chrony_*.deb "$CHRONY_DIR"
  rm -rf "$tmp"
  if ! runs "$CHRONY_CHECK"; then
    # Its shared libraries (libraries only: no daemon comes with them).
    apt_update
    $SUDO apt-get install -y -qq --no-install-recommends \
      libedit2 libnettle8 libgnutls30 libseccomp2 libcap2 >/dev/null
  fi
fi

# Everything must run now, not only be listed as installed.
broken=()
qemu_ok || broken+=("QEMU >= $QEMU_MIN_MAJOR (qemu-system-x86_64 $(qemu_major qemu-system-x86_64), qemu-img $(qemu_major qemu-img))")
# The igb SR-IOV card of the VF tests (make test-vf).
runs "qemu-system-x86_64 -device help | grep -q '\"igb\"'" || broken+=("qemu-system-x86_64 -device igb (the SR-IOV NIC of make test-vf)")
for entry in "${APT_TOOLS[@]}"; do
  runs "${entry#*:}" || broken+=("'${entry#*:}' (package ${entry%%:*})")
done
for entry in "${APT_FILES[@]}"; do
  [ -e "${entry#*:}" ] || broken+=("${entry#*:} (package ${entry%%:*})")
done
for entry in "${CARGO_TOOLS[@]}"; do
  IFS=: read -r bin crate check <<<"$entry"
  [ "$bin" = cargo-fuzz ] && ! runs "cargo +nightly --version" && continue
  runs "$check" || broken+=("'$check' (cargo install $crate)")
done
runs "$CHRONY_CHECK" || broken+=("'$CHRONY_CHECK' (Debian's chrony unpacked under build/chrony)")
runs "$METRICS_CHECK" || broken+=("'$METRICS_CHECK' (pip install prometheus_client in build/venv-metrics)")
if [ ${#broken[@]} -gt 0 ]; then
  echo "deps: these tools do not run after installing:" >&2
  printf '  - %s\n' "${broken[@]}" >&2
  exit 1
fi
