"""Debian `invesalius-examples` head CT -> DICOM CT Image Storage series.

The package ships an InVesalius 3 project (Cranium.inv3: a gzip'd tar with
main.plist + matrix.dat). matrix.dat is a raw little-endian int16 volume of
HU values, shape (slices, rows, cols) = (108, 256, 256), spacing from the plist
(0.9570312 x 0.9570312 x 1.5 mm). It is not DICOM, so geometry is derived
from that header:
  * InVesalius stores each slice bottom-up (its DICOM reader flips rows for
    VTK); rows are flipped back so that row 0 is anterior, as scanners write.
  * axial slices, ImageOrientationPatient 1\\0\\0\\0\\1\\0, slice k at
    z = k * 1.5 mm (slice 0 is the most inferior one, z increases upwards).
  * HU are stored directly as signed 16-bit values: RescaleSlope 1, Intercept 0.
"""
from __future__ import annotations

import plistlib
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from common import EXPLICIT, det_uid  # noqa: F401  (common registers UIDs / warnings)

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

STUDY_UID = det_uid("invesalius", "study")
FOR_UID = det_uid("invesalius", "frame-of-reference")
SERIES_UID = det_uid("invesalius", "series", "full")


def find_inv3() -> Path:
    cands: list[Path] = []
    try:
        out = subprocess.run(["dpkg", "-L", "invesalius-examples"], capture_output=True, text=True).stdout
        cands += [Path(l) for l in out.splitlines() if l.endswith(".inv3")]
    except FileNotFoundError:
        pass
    for root in ("/usr/share/doc/invesalius-examples", "/usr/share/invesalius", "/usr/share/invesalius-examples"):
        cands += sorted(Path(root).glob("**/*.inv3")) if Path(root).exists() else []
    for c in cands:
        if c.is_file():
            return c
    raise SystemExit("invesalius-examples .inv3 project not found (apt-get install invesalius-examples)")


def load_volume(inv3: Path | None = None) -> tuple[np.ndarray, dict]:
    """Return (volume int16 [slices, rows, cols] in DICOM row order, header dict)."""
    inv3 = inv3 or find_inv3()
    with tarfile.open(inv3, "r:gz") as tf:
        members = {Path(m.name).name: m for m in tf.getmembers()}
        header = plistlib.loads(tf.extractfile(members["main.plist"]).read())
        mat = header["matrix"]
        raw = tf.extractfile(members[mat["filename"]]).read()
    shape = tuple(int(x) for x in mat["shape"])
    vol = np.frombuffer(raw, dtype=np.dtype(mat["dtype"]).newbyteorder("<")).reshape(shape)
    vol = np.ascontiguousarray(vol[:, ::-1, :]).astype("<i2")  # undo InVesalius' bottom-up rows
    header["_source"] = str(inv3)
    return vol, header


def slice_dataset(vol: np.ndarray, header: dict, k: int, *, series_uid: str, sop_uid: str,
                  series_number: int, series_desc: str) -> Dataset:
    """One CT Image Storage slice k of the volume (Explicit VR Little Endian)."""
    nz, rows, cols = vol.shape
    dx, dy, dz = (float(s) for s in header["spacing"])
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = CTImageStorage
    fm.MediaStorageSOPInstanceUID = sop_uid
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = fm
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = "20120914"
    ds.StudyTime = "151208"
    ds.AccessionNumber = ""
    ds.Modality = header.get("modality", "CT")
    ds.Manufacturer = "Debian invesalius-examples (Cranium.inv3, GPL-2)"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"InVesalius example head CT ({header.get('name', '')})"
    ds.SeriesDescription = series_desc
    ds.PatientName = "InVesalius^Cranium"
    ds.PatientID = "INVESALIUS-CRANIUM"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = f"{dz:g}"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = k + 1
    x0 = -(cols - 1) * dx / 2.0
    y0 = -(rows - 1) * dy / 2.0
    ds.ImagePositionPatient = [f"{x0:.4f}", f"{y0:.4f}", f"{k * dz:.4f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = FOR_UID
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{k * dz:.4f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [f"{dy:.7g}", f"{dx:.7g}"]  # row spacing \ column spacing
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.WindowCenter = f"{float(header.get('window_level', 40)):g}"
    ds.WindowWidth = f"{float(header.get('window_width', 400)):g}"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = vol[k].astype("<i2").tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def write_series(out_dir: Path, vol: np.ndarray, header: dict) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(vol.shape[0]):
        ds = slice_dataset(vol, header, k, series_uid=SERIES_UID,
                           sop_uid=det_uid("invesalius", "full", k), series_number=1,
                           series_desc=f"Head CT {vol.shape[0]} slices (Explicit VR LE)")
        p = out_dir / f"CT{k + 1:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


if __name__ == "__main__":
    v, h = load_volume()
    print(v.shape, v.dtype, v.min(), v.max(), h["spacing"])
    if len(sys.argv) > 1:
        print(len(write_series(Path(sys.argv[1]), v, h)))
