#!/usr/bin/env bash
# Builds the sample studies and stores them on a DICOMweb server through our STOW-RS
# (`lumen store`), skipping those the server already has (QIDO-RS by StudyInstanceUID).
#   scripts/samples.sh BASE_URL                  # all samples (npm start)
#   scripts/samples.sh BASE_URL --only corrupt   # some (comma-separated names)
#   scripts/samples.sh BASE_URL --only corrupt --remove   # delete them again (Orthanc only)
# The samples, and the test fixture `corrupt`, are described in
# scripts/corpus/samples/build.py; files go to $LUMEN_CACHE/samples (not in git).
# Needs the corpus and its venv (scripts/setup.sh). `lumen store` is $LUMEN_CLI, or
# built with `cargo build -p lumen --bin lumen` when something has to be stored.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
export PYTHONDONTWRITEBYTECODE=1
base="${1:?usage: scripts/samples.sh BASE_URL [--only NAME,...] [--remove]}"
shift
only=""
remove=()
while (($#)); do
  case "$1" in
    --only) only="${2:?--only needs NAME,...}"; shift 2 ;;
    --remove) remove=(--remove); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
py="$LUMEN_CACHE/venv/bin/python"
[ -x "$py" ] || { echo "no venv at $LUMEN_CACHE/venv: run scripts/setup.sh first" >&2; exit 1; }
# A sample that cannot be made (say, no network for the nilearn wheel) leaves the
# others to be stored; the exit status still says so.
rc=0
"$py" scripts/corpus/samples/build.py --cache "$LUMEN_CACHE" --corpus "$LUMEN_CORPUS" --only "$only" || rc=$?
"$py" scripts/corpus/samples/load.py "$base" --cache "$LUMEN_CACHE" --only "$only" "${remove[@]}" || rc=$?
exit $rc
