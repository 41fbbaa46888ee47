#!/usr/bin/env bash
# Starts and stops the project's own Orthanc (Debian packages orthanc, orthanc-dicomweb)
# on 127.0.0.1, with its storage under $LUMEN_CACHE/orthanc (LUMEN_ORTHANC_DIR and
# LUMEN_ORTHANC_PORT pick another instance: `npm start` runs its own, apart from the
# tests', see scripts/start.sh). Not the GDCM plugin: its
# server-side JPEG 2000 decoding crashes Debian's Orthanc (FIELD-NOTES, and seen here
# under the test suite), and the viewer decodes everything itself anyway.
#   scripts/orthanc.sh start   # idempotent; prints the DICOMweb base URL
#   scripts/orthanc.sh stop
#   scripts/orthanc.sh url
#   scripts/orthanc.sh status  # exit 0 if this instance is running and answering
set -euo pipefail
source "$(dirname "$0")/env.sh"
ORTHANC_HTTP_PORT="${LUMEN_ORTHANC_PORT:-18042}"
DIR="${LUMEN_ORTHANC_DIR:-$LUMEN_CACHE/orthanc}"
PIDFILE="$DIR/orthanc.pid"
BASE="http://127.0.0.1:$ORTHANC_HTTP_PORT"

install() {
  local missing=()
  for p in curl orthanc orthanc-dicomweb; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" \
      || { apt-get -o DPkg::Lock::Timeout=600 update -q; apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"; }
  fi
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  install
  mkdir -p "$DIR/db"
  if running && curl -fsS -m 5 "$BASE/system" >/dev/null 2>&1 && grep -q '"Plugins": \["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"\]' "$DIR/orthanc.json" 2>/dev/null; then echo "$BASE/dicom-web"; return; fi
  stop
  # Orthanc has no bind-address option: refuse remote access and only ever use loopback.
  cat >"$DIR/orthanc.json" <<JSON
{
  "Name": "LUMEN",
  "StorageDirectory": "$DIR/db",
  "IndexDirectory": "$DIR/db",
  "HttpPort": $ORTHANC_HTTP_PORT,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": false,
  "HttpCompressionEnabled": false,
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/", "EnableWado": true, "WadoRoot": "/wado", "Ssl": false, "StudiesMetadata": "Full", "SeriesMetadata": "Full" }
}
JSON
  # Wait for a previous process to let go of the SQLite lock.
  for _ in $(seq 50); do running || break; sleep 0.1; done
  setsid Orthanc "$DIR/orthanc.json" >"$DIR/orthanc.log" 2>&1 < /dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 100); do
    curl -fsS "$BASE/system" >/dev/null 2>&1 && { echo "$BASE/dicom-web"; return; }
    running || { echo "Orthanc exited; see $DIR/orthanc.log" >&2; tail -20 "$DIR/orthanc.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "Orthanc did not answer on $BASE within 10 s; see $DIR/orthanc.log" >&2
  exit 1
}

stop() {
  if running; then
    local pid; pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$BASE/dicom-web" ;;
  status) running && curl -fsS -m 5 "$BASE/system" >/dev/null 2>&1 ;;
  *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac
