#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the system packages the
# tests need (systemd-analyze for the unit checks, socat for pty scanners,
# libusb headers for the HID POS transport, Debian's chromium for the tablet
# UI test, Python's venv for schemathesis) and playwright-core (npm ci, on the
# machine's Node 20) and schemathesis (pip, pinned, under target/), then runs
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v socat >/dev/null 2>&1 || need+=(socat)
pkg-config --exists libusb-1.0 2>/dev/null || need+=(libusb-1.0-0-dev pkg-config)
[ -x /usr/bin/chromium ] || need+=(chromium)
# The package test (tests/it/package.rs): lintian on the .deb, a Debian
# root made by mmdebstrap to install it into.
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The decoders under libFuzzer (stable Rust, no sanitizer), bounded in time:
# FUZZ_SECONDS per target (longer runs: FUZZ_SECONDS=600 scripts/fuzz.sh).
FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz.sh

# The browser test's driver, exactly as locked (no Debian nodejs: the
# machine's Node 20 runs it).
command -v node >/dev/null 2>&1 || { echo "Node.js 20 is needed for the tablet UI test" >&2; exit 1; }
npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error

# cargo-deb builds the .deb from the release binary below (`cargo deb
# --no-build`, in tests/it/package.rs), so the binary is built once.
if ! cargo deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb" >&2
  cargo install cargo-deb --locked
fi

# The API contract test's schemathesis (PyPI), pinned with its dependencies
# in scripts/schemathesis-requirements.txt, in a venv of its own under target/ (tests/it/schemathesis.rs runs it); installed only when
# missing or another version.
SCHEMATHESIS_VERSION=4.32.5
if ! target/schemathesis/bin/st --version 2>/dev/null | grep -x "st, version $SCHEMATHESIS_VERSION" >/dev/null; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into target/schemathesis" >&2
  rm -rf target/schemathesis
  python3 -m venv target/schemathesis
  target/schemathesis/bin/pip install --quiet --disable-pip-version-check -r scripts/schemathesis-requirements.txt
fi

# The memory tests measure the release binary (debug builds use several
# times the memory), and the package test packs it; build it here, visibly,
# rather than inside a test.
echo "building the release binary for the memory tests" >&2
cargo build --release --locked --bin store-edge

cargo test --locked --all-targets

if ls target/ui-screenshots/*.png >/dev/null 2>&1; then
  echo "tablet UI screenshots:"
  ls -1 "$PWD"/target/ui-screenshots/*.png
fi
if ls target/print-previews/*.png >/dev/null 2>&1; then
  echo "print previews:"
  ls -1 "$PWD"/target/print-previews/*.png
fi
