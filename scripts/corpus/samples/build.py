"""The sample studies that `npm start` loads into its Orthanc, and the test fixture study.

    build.py --cache DIR [--only NAME,...]

Writes DIR/samples/<name>/*.dcm and DIR/samples/<name>/sample.json (the study: UIDs,
Patient Name/ID, Study Description, its files); load.py stores them through STOW-RS.
A sample whose sample.json carries the current stamp (this script, its sources) is
kept as it is. Each sample is its own study and its own patient, with a Patient Name
and Study Description that say what it is in a worklist, and new deterministic UIDs
(det_uid), so that nothing collides with the corpus files it was made from:

  head-ct        the invesalius head CT series of the corpus (108 slices), stored as is
  mr-brain       an MR series: the MNI152 T1 template (ICBM 2009a, 197x233x189, 1 mm)
                 that the PyPI nilearn wheel ships, written as 189 axial MR Image Storage
                 slices with their geometry from the NIfTI header (the corpus has no real
                 MR series: pydicom's MR series are 16x16 thumbnails, its MR volumes single
                 images or the 64x64x10 emri_small with no per-frame geometry)
  us-cine        colour multi-frame: pydicom-data color3d_jpeg_baseline.dcm (echo, JPEG
                 baseline YBR_FULL_422, 120 frames)
  us-rgb         colour: pydicom-data US1_UNCR.dcm (RGB, uncompressed)
  enhanced-mr    grey multi-frame: pydicom-data emri_small.dcm (Enhanced MR, 10 frames)
  us-palette     palette colour: pydicom-data OBXXXX1A.dcm (16-bit LUT entries)
  corrupt        the test fixture: 10 head CT slices, slice 5 corrupt (below)

The corrupt fixture (PatientID LUMEN-CORRUPT, PatientName Corrupt^Slice, StudyDescription
"One corrupt slice"; end-to-end tests and scripts/test.sh use it): slices 45-54 of the
head CT, Explicit VR Little Endian, whose 5th slice by position (InstanceNumber 5) has
its Pixel Data cut to half its length (65536 of 131072 bytes). Why this way, measured
on Orthanc 1.10.1 + DICOMweb 1.7:
  * STOW-RS stores it (200, listed in 00081199): DCMTK parses a short OW element fine.
  * WADO-RS frames for it are refused, 400 "Bad file format" (with and without
    transfer-syntax=*), and /rendered is 400; metadata and the other slices are fine;
    the whole instance comes back as stored. Our client then fetches the instance and
    its decoder reports "pixel data too short for frame 1: need 131072 bytes, have
    65536": an error for that slot only, always the same one.
  * The other ways tried, an RLE or JPEG-LS series with slice 5's fragment overwritten
    with random bytes after its header, are stored too and served as stored bytes
    (200) that our decoder rejects ("RLE Lossless: segment 1 decoded to 23130 bytes",
    "JPEG-LS: truncated scan data"); but whether random bytes fail, and how, depends on
    the bytes, and the server-side decode path (500) is one Debian's Orthanc is known
    to crash on for other codecs. Truncation fails the same way every time.
"""
from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import det_uid, write_json  # noqa: E402  (also registers UIDs, quiets pydicom)

import pydicom  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, PYDICOM_IMPLEMENTATION_UID  # noqa: E402

NILEARN = "nilearn==0.14.1"
NILEARN_WHEEL = "nilearn-0.14.1-py3-none-any.whl"
MNI_MEMBER = "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
HERE = Path(__file__).resolve()


def uid(name: str, *parts: object) -> str:
    return det_uid("lumen-samples", name, *parts)


def rehead(ds: Dataset, name: str, meta: dict, k: int = 0) -> Dataset:
    """New study/series/instance UIDs and worklist attributes for sample `name`."""
    ds = copy.deepcopy(ds)
    ds.StudyInstanceUID = uid(name, "study")
    ds.SeriesInstanceUID = uid(name, "series")
    ds.SOPInstanceUID = uid(name, "instance", k)
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = uid(name, "frame-of-reference")
    if not hasattr(ds, "file_meta"):
        ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = meta["patient_name"]
    ds.PatientID = meta["patient_id"]
    ds.StudyDescription = meta["study_description"]
    ds.SeriesDescription = meta["series_description"]
    ds.StudyID = meta.get("study_id", "1")
    ds.AccessionNumber = meta["patient_id"][:16]
    if "ReferringPhysicianName" not in ds:
        ds.ReferringPhysicianName = ""
    date = str(ds.get("StudyDate", "") or "")
    if len(date) != 8 or not date.isdigit():
        ds.StudyDate = meta.get("study_date", "20000101")
    if not ds.get("StudyTime"):
        ds.StudyTime = "120000"
    return ds


# --------------------------------------------------------------------- the samples
def one_file(src_rel: str, meta: dict):
    def make(corpus: Path, out: Path, cache: Path) -> list[Path]:
        ds = pydicom.dcmread(corpus / src_rel, force=True)
        p = out / "1.dcm"
        rehead(ds, meta["name"], meta).save_as(p, enforce_file_format=True)
        return [p]
    return make, [src_rel]


def head_ct(corpus: Path, out: Path, cache: Path) -> list[Path]:
    # stored as the corpus has it: its names already say what it is
    return sorted((corpus / "files" / "invesalius-ct" / "series").glob("CT*.dcm"))


def nifti(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(volume [k, j, i], 3x4 voxel -> RAS mm affine) of a NIfTI-1 file (sform, scl 1/0)."""
    if struct.unpack("<i", raw[:4])[0] != 348:
        raise ValueError("not a little-endian NIfTI-1 header")
    dim = struct.unpack("<8h", raw[40:56])
    datatype = struct.unpack("<h", raw[70:72])[0]
    vox_offset = int(struct.unpack("<f", raw[108:112])[0])
    slope, inter = struct.unpack("<ff", raw[112:120])
    sform = struct.unpack("<h", raw[254:256])[0]
    if dim[0] != 3 or sform <= 0 or slope not in (0.0, 1.0) or inter != 0.0:
        raise ValueError(f"unexpected NIfTI header: dim {dim}, sform {sform}, scl {slope}/{inter}")
    dtype = {2: np.uint8, 4: np.int16, 512: np.uint16}[datatype]
    nx, ny, nz = dim[1:4]
    vol = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"), count=nx * ny * nz, offset=vox_offset)
    affine = np.array([struct.unpack("<4f", raw[280 + 16 * r:296 + 16 * r]) for r in range(3)])
    return vol.reshape(nz, ny, nx), affine


def mni_wheel(cache: Path) -> Path:
    downloads = cache / "downloads"
    wheel = downloads / NILEARN_WHEEL
    if not wheel.is_file():
        print(f"[samples] pip download --no-deps {NILEARN} (the MNI152 template)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                        "-d", str(downloads), NILEARN], check=True)
    return wheel


def mr_brain(corpus: Path, out: Path, cache: Path) -> list[Path]:
    with zipfile.ZipFile(mni_wheel(cache)) as z:
        vol, affine = nifti(gzip.decompress(z.read(MNI_MEMBER)))
    lin, origin = affine[:, :3], affine[:, 3]
    if not np.allclose(lin, np.diag(np.diag(lin))) or (np.diag(lin) <= 0).any():
        raise ValueError(f"expected an axis-aligned RAS affine, got {affine.tolist()}")
    dx, dy, dz = np.diag(lin)
    nz, ny, nx = vol.shape
    # DICOM is LPS: rows run anterior -> posterior (RAS y falling), columns right -> left
    # (RAS x falling), so the image is the NIfTI slice flipped both ways and the top-left
    # pixel is voxel (nx-1, ny-1, k).
    x0 = -(origin[0] + (nx - 1) * dx)
    y0 = -(origin[1] + (ny - 1) * dy)
    brain = vol[vol > 0]
    lo, hi = np.percentile(brain, [1, 99.5])
    meta = SAMPLES["mr-brain"]["meta"]
    files = []
    for k in range(nz):
        sop = uid("mr-brain", "instance", k)
        fm = FileMetaDataset()
        fm.MediaStorageSOPClassUID = MRImageStorage
        fm.MediaStorageSOPInstanceUID = sop
        fm.TransferSyntaxUID = ExplicitVRLittleEndian
        fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = fm
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyDate = "20090101"
        ds.StudyTime = "120000"
        ds.Modality = "MR"
        ds.Manufacturer = "MNI ICBM 2009a nonlinear symmetric T1 template (PyPI nilearn 0.14.1)"
        ds.ImageComments = ("Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal "
                            "Neurological Institute, McGill University; redistributed by nilearn")
        ds.ScanningSequence = "RM"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.EchoTime = ""
        ds.EchoTrainLength = ""
        ds.SliceThickness = f"{dz:g}"
        ds.SpacingBetweenSlices = f"{dz:g}"
        ds.BodyPartExamined = "HEAD"
        ds.PatientPosition = "HFS"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{x0:g}", f"{y0:g}", f"{origin[2] + k * dz:g}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = uid("mr-brain", "frame-of-reference")
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = f"{origin[2] + k * dz:g}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.PixelSpacing = [f"{dy:g}", f"{dx:g}"]
        # MR Image Storage wants 16-bit pixels: the template's 8-bit values, unchanged
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.WindowCenter = f"{(lo + hi) / 2:g}"
        ds.WindowWidth = f"{hi - lo:g}"
        ds.PixelData = np.ascontiguousarray(vol[k, ::-1, ::-1]).astype("<u2").tobytes()
        ds["PixelData"].VR = "OW"
        ds = rehead(ds, "mr-brain", meta, k)
        p = out / f"MR{k + 1:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        files.append(p)
    return files


CORRUPT_SLICES = range(44, 54)  # 0-based slices of the head CT
CORRUPT_POSITION = 5  # 1-based, by position (= InstanceNumber)


def corrupt(corpus: Path, out: Path, cache: Path) -> list[Path]:
    meta = SAMPLES["corrupt"]["meta"]
    files = []
    for i, k in enumerate(CORRUPT_SLICES):
        ds = rehead(pydicom.dcmread(corpus / "files" / "invesalius-ct" / "series" / f"CT{k + 1:04d}.dcm"),
                    "corrupt", meta, i)
        ds.InstanceNumber = i + 1
        if i + 1 == CORRUPT_POSITION:
            full = len(ds.PixelData)
            ds.PixelData = ds.PixelData[: full // 2]
            ds.ImageComments = f"Pixel Data cut to {full // 2} of {full} bytes on purpose (Lumen test fixture)"
        p = out / f"CT{i + 1:02d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        files.append(p)
    return files


def corrupt_extra() -> dict:
    return {"corrupt_position": CORRUPT_POSITION,
            "corrupt_sop_instance_uid": uid("corrupt", "instance", CORRUPT_POSITION - 1),
            "corrupt_reason": "Pixel Data cut to half its length: WADO-RS frames are refused (400), "
                              "the instance decodes to 'pixel data too short'"}


SAMPLES: dict[str, dict] = {
    # InVesalius^Cranium / "InVesalius example head CT (...)", from scripts/corpus/invesalius.py
    "head-ct": {"make": head_ct, "sources": ["files/invesalius-ct/series"], "meta": {}},
    "mr-brain": {"make": mr_brain, "sources": [NILEARN_WHEEL],
                 "meta": {"patient_name": "MNI152^Template", "patient_id": "LUMEN-MNI152",
                          "study_description": "MR brain: MNI152 T1 template, 1 mm isotropic",
                          "series_description": "T1 template, 189 axial slices"}},
    "us-cine": {"source": "files/pydicom-data/color3d_jpeg_baseline.dcm",
                "meta": {"patient_name": "Echo^Cine", "patient_id": "LUMEN-US-CINE",
                         "study_description": "US echo cine: colour JPEG (YBR_FULL_422), 120 frames",
                         "series_description": "Parasternal long axis, 120 frames"}},
    "us-rgb": {"source": "files/pydicom-data/US1_UNCR.dcm",
               "meta": {"patient_name": "Ultrasound^RGB", "patient_id": "LUMEN-US-RGB",
                        "study_description": "US colour: RGB, uncompressed",
                        "series_description": "RGB 640x480"}},
    "enhanced-mr": {"source": "files/pydicom-data/emri_small.dcm",
                    "meta": {"patient_name": "Enhanced^MR", "patient_id": "LUMEN-ENHANCED-MR",
                             "study_description": "Enhanced MR multi-frame: T1, 10 frames",
                             "series_description": "Enhanced MR 64x64, 10 frames"}},
    "us-palette": {"source": "files/pydicom-data/OBXXXX1A.dcm",
                   "meta": {"patient_name": "Palette^Ultrasound", "patient_id": "LUMEN-US-PALETTE",
                            "study_description": "US palette colour (16-bit LUT entries)",
                            "series_description": "Palette colour 800x600"}},
    "corrupt": {"make": corrupt, "sources": ["files/invesalius-ct/series"], "extra": corrupt_extra,
                "meta": {"patient_name": "Corrupt^Slice", "patient_id": "LUMEN-CORRUPT",
                         "study_description": "One corrupt slice",
                         "series_description": "Head CT 10 slices, slice 5 truncated"}},
}
for _name, _s in SAMPLES.items():
    _s["meta"]["name"] = _name
    if "source" in _s:
        _s["make"], _s["sources"] = one_file(_s["source"], _s["meta"])


def stamp(name: str, corpus: Path) -> str:
    h = hashlib.sha256(HERE.read_bytes())
    h.update(name.encode())
    h.update((Path(__file__).resolve().parent.parent / "common.py").read_bytes())
    h.update((corpus / ".stamp").read_bytes() if (corpus / ".stamp").is_file() else b"no corpus stamp")
    for s in SAMPLES[name]["sources"]:
        h.update(s.encode())
    return h.hexdigest()


def build(name: str, cache: Path, corpus: Path) -> dict:
    out = cache / "samples" / name
    record_path = out / "sample.json"
    st = stamp(name, corpus)
    if record_path.is_file():
        rec = json.loads(record_path.read_text())
        if rec.get("stamp") == st and all(Path(f).is_file() for f in rec["files"]):
            return rec
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.dcm"):
        old.unlink()
    record_path.unlink(missing_ok=True)
    s = SAMPLES[name]
    files = [Path(p).resolve() for p in s["make"](corpus, out, cache)]
    if not files:
        raise SystemExit(f"[samples] {name}: no files (is the corpus built? scripts/setup-corpus.sh)")
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    rec = {"name": name, "order": list(SAMPLES).index(name), "study_instance_uid": str(first.StudyInstanceUID),
           "patient_id": str(first.PatientID), "patient_name": str(first.PatientName),
           "study_description": str(first.get("StudyDescription", "")), "modality": str(first.Modality),
           "instances": len(files), "files": [str(f) for f in files], "stamp": st}
    if "extra" in s:
        rec |= s["extra"]()
    write_json(record_path, rec)
    print(f"[samples] built {name}: {len(files)} files, {rec['patient_name']} / {rec['study_description']}", flush=True)
    return rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--only", default="", help="comma-separated sample names (default: all)")
    a = ap.parse_args()
    corpus = a.corpus or a.cache / "corpus"
    names = [n for n in a.only.split(",") if n] or list(SAMPLES)
    unknown = [n for n in names if n not in SAMPLES]
    if unknown:
        raise SystemExit(f"unknown samples {unknown}; known: {list(SAMPLES)}")
    failed = []
    for n in names:
        try:
            build(n, a.cache, corpus)
        except Exception as e:  # noqa: BLE001  (one sample that cannot be made leaves the others)
            failed.append(n)
            print(f"[samples] {n}: could not be made: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
