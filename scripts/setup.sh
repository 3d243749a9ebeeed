#!/usr/bin/env bash
# Installs what building and testing Deviate needs, skipping whatever is already there.
#   scripts/setup.sh build    rustup's wasm32 target and wasm-bindgen-cli (for `make serve`)
#   scripts/setup.sh test     also Debian's chromium + chromium-driver, Mesa's Vulkan (lavapipe)
#                             for native wgpu tests, and the npm packages (for `make test`)
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
say() { echo "setup: $*"; }

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup: error: $1 is missing. $2" >&2; exit 1; }
}

build_tools() {
  need cargo "Install Rust with rustup (https://rustup.rs), toolchain 1.95 or newer."
  need rustup "Install Rust with rustup so the wasm32 target can be added."
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Not --locked: the locked webpki-roots is not in the registry.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]} (apt)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

test_tools() {
  need apt-get "The browser tests use Debian's chromium and chromium-driver packages."
  apt_install chromium chromium-driver mesa-vulkan-drivers
  need npm "Install Node.js 20 with npm."
  if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages"
    npm ci --no-audit --no-fund
  fi
}

case "${1:-}" in
  build) build_tools ;;
  test) build_tools; test_tools ;;
  *) echo "usage: scripts/setup.sh build|test" >&2; exit 2 ;;
esac
