#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the system packages the
# tests need (systemd-analyze for the unit checks, socat for pty scanners,
# libusb headers for the HID POS transport), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v socat >/dev/null 2>&1 || need+=(socat)
pkg-config --exists libusb-1.0 2>/dev/null || need+=(libusb-1.0-0-dev pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The decoders under libFuzzer (stable Rust, no sanitizer), bounded in time:
# FUZZ_SECONDS per target (longer runs: FUZZ_SECONDS=600 scripts/fuzz.sh).
FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz.sh

cargo test --locked --all-targets
