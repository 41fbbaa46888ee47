#!/usr/bin/env bash
# `npm start`: sets everything up, starts Orthanc with its DICOMweb plugin on 127.0.0.1,
# loads the sample studies through our STOW-RS unless they are there already, builds
# the wasm and the shell, and serves the viewer on http://127.0.0.1:8080/ (LUMEN_PORT
# picks another port; a free one is used when it is busy), proxying /dicom-web/* and
# /wado to Orthanc so that the page and the server share an origin (Orthanc has no
# CORS). Ctrl-C (SIGINT) or SIGTERM stops the server, and Orthanc if it was started
# here. Safe to run again, and beside a running copy (which keeps its Orthanc).
#
# npm start's Orthanc is its own, apart from the tests' (scripts/test.sh: port 18042,
# $LUMEN_CACHE/orthanc): port LUMEN_VIEWER_ORTHANC_PORT (18043), storage
# $LUMEN_CACHE/orthanc-viewer, kept between runs. The tests count the studies on
# theirs, and stop it when they end: sharing one would break both.
#
# LUMEN_SKIP_BUILD=1 skips the wasm/shell build (for working on the scripts; the
# default builds).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
log() { printf '\033[1m[start]\033[0m %s\n' "$*"; }
T0=$SECONDS
step() { log "$1 ($((SECONDS - T0)) s)"; }

export LUMEN_ORTHANC_DIR="$LUMEN_CACHE/orthanc-viewer"
export LUMEN_ORTHANC_PORT="${LUMEN_VIEWER_ORTHANC_PORT:-18043}"

started_orthanc=0
server_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  # Ctrl-C is how a running viewer is stopped: that is a success.
  if [ -n "$server_pid" ] && { [ "$rc" = 129 ] || [ "$rc" = 130 ] || [ "$rc" = 143 ]; }; then rc=0; fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$started_orthanc" = 1 ]; then
    log "stopping Orthanc"
    bash scripts/orthanc.sh stop || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

step "setup"
bash scripts/setup.sh

if [ "${LUMEN_SKIP_BUILD:-0}" = 1 ]; then
  step "LUMEN_SKIP_BUILD=1: not building the wasm and the shell"
  [ -f www/pkg/lumen_bg.wasm ] || { echo "LUMEN_SKIP_BUILD=1 but www/pkg/lumen_bg.wasm is missing" >&2; exit 1; }
else
  step "build (wasm + shell)"
  bash scripts/build.sh
fi

if bash scripts/orthanc.sh status; then
  base="$(bash scripts/orthanc.sh url)"
  step "Orthanc already running at $base (left running on exit)"
else
  step "starting Orthanc"
  started_orthanc=1
  base="$(bash scripts/orthanc.sh start)"
  log "Orthanc at $base, storage $LUMEN_ORTHANC_DIR"
fi

step "sample studies (STOW-RS)"
bash scripts/samples.sh "$base" || log "WARNING: not every sample study could be loaded (see above); serving the others"

step "serving"
origin="${base%/dicom-web}"
LUMEN_DICOMWEB_ORIGIN="$origin" node scripts/serve.mjs &
server_pid=$!
# `wait` returns as soon as a trapped signal arrives, so Ctrl-C is handled at once.
wait "$server_pid"
