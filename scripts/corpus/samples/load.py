"""Puts the sample studies (build.py) on a DICOMweb server through our STOW-RS, unless
it already has them; or takes them off an Orthanc.

    load.py BASE_URL --cache DIR [--only NAME,...]            # store what is missing
    load.py BASE_URL --cache DIR [--only NAME,...] --remove   # delete them (Orthanc REST API)

A study counts as stored when QIDO-RS finds its StudyInstanceUID with at least as many
instances (NumberOfStudyRelatedInstances) as it has files. Missing ones go through
`lumen store` (the native CLI): $LUMEN_CLI if set, else `cargo build -p lumen --bin
lumen` (debug, as `npm test` builds it) and $CARGO_TARGET_DIR/debug/lumen.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def log(msg: str) -> None:
    print(f"[samples] {msg}", flush=True)


def http(method: str, url: str, body: bytes | None = None, accept: str = "application/dicom+json"):
    req = urllib.request.Request(url, data=body, method=method, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def stored_instances(base: str, study: str) -> int:
    q = urllib.parse.urlencode({"StudyInstanceUID": study, "includefield": "00201208"})
    status, body = http("GET", f"{base}/studies?{q}")
    if status == 204 or (status == 200 and not body.strip()):
        return 0
    if status != 200:
        raise SystemExit(f"[samples] QIDO-RS {base}/studies?{q}: HTTP {status}: {body[:300]!r}")
    found = json.loads(body)
    if not found:
        return 0
    return int((found[0].get("00201208", {}).get("Value") or [0])[0])


def cli() -> str:
    env = os.environ.get("LUMEN_CLI")
    if env and os.access(env, os.X_OK):
        return env
    log("cargo build -p lumen --bin lumen (the native CLI, for `lumen store`)")
    subprocess.run(["cargo", "build", "-p", "lumen", "--bin", "lumen"], cwd=ROOT, check=True,
                   stdout=sys.stderr)
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path(os.environ.get("LUMEN_CACHE", "")) / "target")
    return str(Path(target) / "debug" / "lumen")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("--only", default="")
    ap.add_argument("--remove", action="store_true")
    a = ap.parse_args()
    base = a.base.rstrip("/")
    root = a.cache / "samples"
    names = [n for n in a.only.split(",") if n] or sorted(p.parent.name for p in root.glob("*/sample.json"))
    records = []
    for n in names:
        p = root / n / "sample.json"
        if not p.is_file():
            raise SystemExit(f"[samples] {p} missing: run scripts/corpus/samples/build.py first")
        records.append(json.loads(p.read_text()))
    records.sort(key=lambda r: r.get("order", 99))

    if a.remove:
        origin = base[: -len("/dicom-web")] if base.endswith("/dicom-web") else base
        for r in records:
            status, body = http("POST", f"{origin}/tools/lookup", r["study_instance_uid"].encode(), "application/json")
            ids = [x["ID"] for x in json.loads(body or b"[]") if x.get("Type") == "Study"] if status == 200 else []
            for i in ids:
                status, body = http("DELETE", f"{origin}/studies/{i}", accept="application/json")
                if status != 200:
                    raise SystemExit(f"[samples] DELETE {origin}/studies/{i}: HTTP {status}: {body[:200]!r}")
            if ids:
                log(f"{r['name']}: removed from {origin}")
        return 0

    t0 = time.time()
    missing = []
    for r in records:
        have = stored_instances(base, r["study_instance_uid"])
        if have >= r["instances"]:
            log(f"{r['name']}: {r['patient_name']} / {r['study_description']} ({r['instances']} instances): already stored")
        else:
            missing.append(r)
    if not missing:
        return 0
    lumen = cli()
    failed = []
    for r in missing:
        t = time.time()
        p = subprocess.run([lumen, "store", base, *r["files"]], capture_output=True, text=True)
        have = stored_instances(base, r["study_instance_uid"])
        if have < r["instances"]:
            failed.append(r["name"])
            log(f"{r['name']}: STOW-RS stored {have} of {r['instances']} instances (lumen store exit {p.returncode}): "
                f"{(p.stdout + p.stderr).strip()[-600:]}")
            continue
        log(f"{r['name']}: {r['patient_name']} / {r['study_description']} ({r['instances']} instances): "
            f"stored in {time.time() - t:.1f} s")
    log(f"{len(missing) - len(failed)} studies stored through STOW-RS in {time.time() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
