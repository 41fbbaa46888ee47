#!/usr/bin/env bash
# Sets everything up and runs every test: native Rust (unit, corpus, malformed input,
# DICOMweb against Orthanc), the wasm module under Node against the native CLI and
# Orthanc, and the shell and the wasm DICOMweb client in Chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
bash scripts/setup.sh
log() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

log "Orthanc on 127.0.0.1 (scripts/orthanc.sh)"
export LUMEN_DICOMWEB_URL="$(bash scripts/orthanc.sh start)"
trap 'bash scripts/orthanc.sh stop' EXIT

log "cargo test (native; loads the corpus into Orthanc through STOW-RS)"
cargo test -p lumen
export LUMEN_CLI="$CARGO_TARGET_DIR/debug/lumen"
bash scripts/build.sh
log "node --test (wasm under Node, browser in Chromium)"
node --test --test-concurrency=1 tests/
