#!/usr/bin/env bash
# Build the Lumen DICOM test corpus in $LUMEN_CACHE/corpus (default ~/.cache/lumen/corpus).
#
#   bash scripts/setup-corpus.sh            # idempotent; a second run with nothing changed takes seconds
#   LUMEN_CORPUS_FORCE=1 bash scripts/setup-corpus.sh   # rebuild even if the stamp matches
#
# Needs: Debian 12 (apt) as root or with sudo, network access to Debian mirrors and PyPI.
# Installs: dcmtk libgdcm-tools invesalius-examples (apt), a venv with pinned pydicom/pylibjpeg/imagecodecs.
# Output: corpus/files/{pydicom,pydicom-data,invesalius-ct,generated}/..., corpus/refs/*.raw,
#         corpus/manifest.json (see scripts/corpus/manifest.py for the format).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LUMEN_CACHE="${LUMEN_CACHE:-$HOME/.cache/lumen}"
CORPUS="$LUMEN_CACHE/corpus"
VENV="$LUMEN_CACHE/venv"
DOWNLOADS="$LUMEN_CACHE/downloads"
JOBS="${LUMEN_CORPUS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
PYTHON="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1  # keep scripts/corpus free of __pycache__

APT_PKGS=(dcmtk libgdcm-tools invesalius-examples)
NEEDED_CMDS=(dcmconv dcmcjpeg dcmcjpls dcmcrle dcmdjpeg dcmdjpls dcmdrle gdcmconv)
PY_PINS=(numpy==2.4.6 pydicom==3.0.2 pylibjpeg==2.1.0 pylibjpeg-libjpeg==2.5.0
         pylibjpeg-openjpeg==2.6.0 pylibjpeg-rle==2.2.0 imagecodecs==2026.3.6)
DATA_PINS=(pydicom==3.0.2 pydicom-data==1.0.0)

log() { printf '[setup-corpus] %s\n' "$*" >&2; }
T0=$(date +%s)

# Hash of everything that determines the corpus: the scripts and the pins.
STAMP_HASH=$(
  { cat "$HERE/setup-corpus.sh" "$HERE"/corpus/*.py; printf '%s\n' "${PY_PINS[@]}" "${DATA_PINS[@]}"; } |
    sha256sum | cut -d' ' -f1
)

tools_present() {
  local c
  for c in "${NEEDED_CMDS[@]}"; do command -v "$c" >/dev/null 2>&1 || return 1; done
  dpkg -s invesalius-examples >/dev/null 2>&1 || return 1
}

# ---------------------------------------------------------------- fast path
if [[ "${LUMEN_CORPUS_FORCE:-0}" != 1 && -f "$CORPUS/.stamp" && "$(cat "$CORPUS/.stamp")" == "$STAMP_HASH" \
      && -x "$VENV/bin/python" ]] && tools_present \
   && "$VENV/bin/python" "$HERE/corpus/summary.py" "$CORPUS" --verify; then
  log "corpus up to date (stamp $STAMP_HASH), $(( $(date +%s) - T0 ))s"
  exit 0
fi

# ---------------------------------------------------------------- apt
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else log "not root and no sudo: cannot apt-get install"; fi
fi
apt_install() {
  # a concurrent apt run can hold the lock or fail the first try: wait for the lock, retry once
  local opts=(-o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get "${opts[@]}" install "$@" || {
    log "apt-get install failed, updating package lists and retrying once"
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -q update
    "${SUDO[@]}" apt-get "${opts[@]}" install "$@"
  }
}
if ! tools_present; then
  missing=()
  for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [[ ${#missing[@]} -eq 0 ]]; then missing=("${APT_PKGS[@]}"); fi
  log "installing apt packages: ${missing[*]}"
  if [[ ! -d /var/lib/apt/lists || -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]]; then
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -q update
  fi
  apt_install "${missing[@]}"
  tools_present || { log "dcmtk/gdcm/invesalius-examples still missing after apt-get"; exit 1; }
fi

# ---------------------------------------------------------------- venv
mkdir -p "$LUMEN_CACHE" "$DOWNLOADS"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    log "python3 -m venv failed: installing python3-venv"
    apt_install python3-venv
    "$PYTHON" -m venv "$VENV"
  fi
fi
PINS_HASH=$(printf '%s\n' "${PY_PINS[@]}" | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$VENV/.lumen-pins" 2>/dev/null || true)" != "$PINS_HASH" ]]; then
  log "installing pinned Python packages into the venv"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_PINS[@]}"
  echo "$PINS_HASH" >"$VENV/.lumen-pins"
fi

# ---------------------------------------------------------------- test data wheels
have_wheels=1
for w in pydicom-3.0.2-py3-none-any.whl pydicom_data-1.0.0-py3-none-any.whl; do
  [[ -s "$DOWNLOADS/$w" ]] || have_wheels=0
done
if [[ $have_wheels -eq 0 ]]; then
  log "pip download --no-deps ${DATA_PINS[*]}"
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$DOWNLOADS" "${DATA_PINS[@]}"
fi

# ---------------------------------------------------------------- build
T1=$(date +%s)
log "building corpus with $JOBS jobs"
rm -f "$CORPUS/.stamp"
"$VENV/bin/python" "$HERE/corpus/build.py" --cache "$LUMEN_CACHE" --downloads "$DOWNLOADS" --jobs "$JOBS"
echo "$STAMP_HASH" >"$CORPUS/.stamp"
T2=$(date +%s)

"$VENV/bin/python" "$HERE/corpus/summary.py" "$CORPUS"
log "setup $((T1 - T0))s, corpus build $((T2 - T1))s, total $((T2 - T0))s"
