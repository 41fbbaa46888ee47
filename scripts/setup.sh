#!/usr/bin/env bash
# Installs everything Lumen needs on Debian 12 as root, from the package registries
# only: apt packages, the wasm32 target, wasm-bindgen-cli, npm packages and the test
# corpus. Safe to run again: each step checks before it installs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# Debian packages: build tools and Chromium for the browser tests. The corpus script
# installs its own (dcmtk, gdcm, invesalius-examples).
APT_PACKAGES=(
  ca-certificates curl build-essential pkg-config python3 python3-venv unzip
  nodejs npm
  chromium
  # Mesa's software GPUs for the native render tests and `lumen render`: GL through
  # EGL surfaceless (llvmpipe) and Vulkan (lavapipe).
  libegl1 libegl-mesa0 libgl1-mesa-dri libvulkan1 mesa-vulkan-drivers
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  # Node and npm on this image may come from elsewhere; only ask apt for them if absent.
  filtered=()
  for p in "${missing[@]}"; do
    case "$p" in
      nodejs) command -v node >/dev/null || filtered+=("$p") ;;
      npm) command -v npm >/dev/null || filtered+=("$p") ;;
      python3) command -v python3 >/dev/null || filtered+=("$p") ;;
      python3-venv) python3 -m venv --help >/dev/null 2>&1 || filtered+=("$p") ;;
      *) filtered+=("$p") ;;
    esac
  done
  if ((${#filtered[@]})); then
    log "apt-get install ${filtered[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # A concurrent apt run can fail the first try (FIELD-NOTES): retry once.
    apt-get install -y -q --no-install-recommends "${filtered[@]}" || { sleep 5; apt-get install -y -q --no-install-recommends "${filtered[@]}"; }
  fi
fi

# Rust: the machine's rustup toolchain, plus the wasm32 target.
if ! command -v cargo >/dev/null; then
  echo "cargo not found: Lumen needs a rustup Rust toolchain (1.85 or newer) on PATH" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  # Not --locked: the CLI's lockfile pins a webpki-roots this registry lacks (FIELD-NOTES).
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# npm packages (binaryen's wasm-opt, TypeScript, playwright-core).
if [ ! -d node_modules ] || [ package.json -nt node_modules/.lumen-installed ] || [ package-lock.json -nt node_modules/.lumen-installed ]; then
  log "npm install"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  touch node_modules/.lumen-installed
fi

# The test corpus: real files from PyPI and Debian, variants from real encoders,
# reference pixels from real decoders.
log "test corpus"
bash scripts/setup-corpus.sh
log "done"
