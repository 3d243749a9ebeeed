#!/usr/bin/env bash
# Installs what building and testing Deviate needs, skipping whatever is already there.
#   scripts/setup.sh target   rustup's wasm32 target (the wasm's crates need only this)
#   scripts/setup.sh bindgen  wasm-bindgen-cli (which `make serve` needs after the wasm is built)
#   scripts/setup.sh build    both (for `make serve`)
#   scripts/setup.sh test     also Debian's chromium + chromium-driver, Mesa's Vulkan (lavapipe)
#                             for native wgpu tests, and the npm packages (for `make test`)
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
say() { echo "setup: $*"; }

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup: error: $1 is missing. $2" >&2; exit 1; }
}

wasm_target() {
  need cargo "Install Rust with rustup (https://rustup.rs), toolchain 1.95 or newer."
  need rustup "Install Rust with rustup so the wasm32 target can be added."
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# Its own target folder (cargo's default for install), so it compiles beside the wasm's crates
# instead of waiting for their build folder's lock. Without default features: no TLS stack (the
# test runner only talks to a local chromedriver). At opt-level 0 it compiles in 42 s instead of
# 136 s on 2 cores and writes the same bytes, in 10 s instead of 3 s per wasm build (README, Figures).
wasm_bindgen() {
  need cargo "Install Rust with rustup (https://rustup.rs), toolchain 1.95 or newer."
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Not --locked: the locked webpki-roots is not in the registry.
    env -u CARGO_TARGET_DIR CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
      cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --no-default-features --force
  fi
}

build_tools() {
  wasm_target
  wasm_bindgen
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
  target) wasm_target ;;
  bindgen) wasm_bindgen ;;
  build) build_tools ;;
  test) build_tools; test_tools ;;
  *) echo "usage: scripts/setup.sh target|bindgen|build|test" >&2; exit 2 ;;
esac
