#!/usr/bin/env bash
# Sets everything up and runs every test: native Rust (unit, corpus, malformed input),
# the wasm module under Node against the native CLI, and the shell in Chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
bash scripts/setup.sh
log() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

log "cargo test (native)"
cargo test -p lumen
export LUMEN_CLI="$CARGO_TARGET_DIR/debug/lumen"
bash scripts/build.sh
log "node --test (wasm under Node, browser in Chromium)"
node --test --test-concurrency=1 tests/
