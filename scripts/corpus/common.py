"""Shared helpers for the Lumen test-corpus generator.

pydicom is used only to wrap/write datasets and as the reference decoder;
every compressed stream comes from a real encoder (dcmtk, gdcm, imagecodecs).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import subprocess
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")  # pydicom is chatty about the odd test files

import pydicom  # noqa: E402
from pydicom._uid_dict import UID_dictionary  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

# --------------------------------------------------------------------------
# Transfer syntaxes
# --------------------------------------------------------------------------
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JLS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JLS_NEAR = "1.2.840.10008.1.2.4.81"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
RLE = "1.2.840.10008.1.2.5"
DEFLATE_FRAMES = "1.2.840.10008.1.2.8.1"
JXL_LOSSLESS = "1.2.840.10008.1.2.4.110"
JXL_JPEG = "1.2.840.10008.1.2.4.111"
JXL = "1.2.840.10008.1.2.4.112"

TS_SHORT = {
    IMPLICIT: "implicit-le", EXPLICIT: "explicit-le", BIG_ENDIAN: "explicit-be",
    DEFLATED: "deflated-le", JPEG_BASELINE: "jpeg-baseline", JPEG_EXTENDED: "jpeg-extended",
    JPEG_LOSSLESS: "jpeg-lossless", JPEG_SV1: "jpeg-lossless-sv1", JLS_LOSSLESS: "jls-lossless",
    JLS_NEAR: "jls-near", J2K_LOSSLESS: "j2k-lossless", J2K: "j2k", HTJ2K_LOSSLESS: "htj2k-lossless",
    HTJ2K_RPCL: "htj2k-rpcl", HTJ2K: "htj2k", RLE: "rle", DEFLATE_FRAMES: "deflate-frames",
    JXL_LOSSLESS: "jxl-lossless", JXL_JPEG: "jxl-jpeg", JXL: "jxl",
}
UNCOMPRESSED = {IMPLICIT, EXPLICIT, BIG_ENDIAN, DEFLATED}
LOSSY_TS = {JPEG_BASELINE, JPEG_EXTENDED, JLS_NEAR, J2K, HTJ2K, JXL, JXL_JPEG}
JPEG_FAMILY = {JPEG_BASELINE, JPEG_EXTENDED, JPEG_LOSSLESS, JPEG_SV1}
JLS_FAMILY = {JLS_LOSSLESS, JLS_NEAR}
J2K_FAMILY = {J2K_LOSSLESS, J2K}
HTJ2K_FAMILY = {HTJ2K_LOSSLESS, HTJ2K_RPCL, HTJ2K}
JXL_FAMILY = {JXL_LOSSLESS, JXL_JPEG, JXL}

# pydicom 3.0.x does not know these UIDs; register them so that datasets
# using them can be written and read (pixel decoding is done elsewhere).
_EXTRA_TS = {
    JXL_LOSSLESS: ("JPEG XL Lossless", "JPEGXLLossless"),
    JXL_JPEG: ("JPEG XL JPEG Recompression", "JPEGXLJPEGRecompression"),
    JXL: ("JPEG XL", "JPEGXL"),
    DEFLATE_FRAMES: ("Deflated Image Frame Compression", "DeflatedImageFrameCompression"),
}
for _uid, (_name, _kw) in _EXTRA_TS.items():
    UID_dictionary.setdefault(_uid, (_name, "Transfer Syntax", "", "", _kw))

# --------------------------------------------------------------------------
# Misc helpers
# --------------------------------------------------------------------------
UID_SEED = "lumen-test-corpus-v1"


def det_uid(*parts: object) -> str:
    """Deterministic 2.25 UID derived from `parts` (idempotent regeneration).

    Not pydicom's generate_uid(prefix=None, ...): with no prefix it ignores the
    entropy sources and returns a random UUID-based UID."""
    digest = hashlib.sha256("|".join([UID_SEED, *map(str, parts)]).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run a command, raise with its stderr on failure."""
    p = subprocess.run(cmd, capture_output=True, **kw)
    if p.returncode != 0:
        msg = (p.stderr or b"").decode(errors="replace").strip() or (p.stdout or b"").decode(errors="replace").strip()
        raise RuntimeError(f"{' '.join(map(str, cmd))} -> rc {p.returncode}: {msg[-400:]}")
    return p


def pkg_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def tool_versions() -> dict[str, str]:
    v = {
        "pydicom": pydicom.__version__,
        "pylibjpeg": pkg_version("pylibjpeg"),
        "pylibjpeg-libjpeg": pkg_version("pylibjpeg-libjpeg"),
        "pylibjpeg-openjpeg": pkg_version("pylibjpeg-openjpeg"),
        "pylibjpeg-rle": pkg_version("pylibjpeg-rle"),
        "imagecodecs": pkg_version("imagecodecs"),
        "numpy": np.__version__,
    }
    try:
        import imagecodecs
        v["libjxl"] = imagecodecs.jpegxl_version().split()[-1]
        v["openjph"] = imagecodecs.htj2k_version().split()[-1]
        v["openjpeg"] = imagecodecs.jpeg2k_version().split()[-1]
        v["libjpeg-turbo"] = imagecodecs.jpeg8_version().split()[-1]
    except Exception:  # pragma: no cover
        pass
    for tool, cmd in (("dcmtk", ["dcmconv", "--version"]), ("gdcm", ["gdcmconv", "--version"])):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True).stdout
            mt = re.search(r"(?:dcmconv v|gdcm )(\d+\.\d+\.\d+)", out)
            v[tool] = mt.group(1) if mt else "?"
        except FileNotFoundError:
            v[tool] = "missing"
    return v


def write_json(path: Path, obj) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Canonical pixel bytes
# --------------------------------------------------------------------------
def canonical_array(arr: np.ndarray, nframes: int, rows: int, cols: int, spp: int,
                    bits_allocated: int, bits_stored: int, pixel_rep: int) -> np.ndarray:
    """Return an array (frames, rows, cols[, spp]) holding the canonical values.

    * samples interleaved (callers give pydicom output, which is always interleaved)
    * dtype u1/i1/u2/i2/u4/i4 chosen by BitsAllocated (<=8, <=16, <=32) and PixelRepresentation
    * values masked to BitsStored and sign-extended when PixelRepresentation == 1
    * 1-bit data: one byte per pixel, 0/1
    """
    shape = (nframes, rows, cols) + ((spp,) if spp > 1 else ())
    a = np.asarray(arr).reshape(shape)
    if bits_allocated == 1:
        return (a.astype(np.uint8) & 1)
    nbytes = 1 if bits_allocated <= 8 else 2 if bits_allocated <= 16 else 4
    dt = np.dtype(f"<{'i' if pixel_rep else 'u'}{nbytes}")
    v = a.astype(np.int64)
    bs = int(bits_stored)
    if bs < 64:
        v &= (1 << bs) - 1
        if pixel_rep:
            v = np.where(v >= (1 << (bs - 1)), v - (1 << bs), v)
    return v.astype(dt)


def frame_hashes(canon: np.ndarray) -> list[str]:
    return [sha256_bytes(np.ascontiguousarray(f).tobytes()) for f in canon]


def diff_summary(a: np.ndarray, b: np.ndarray) -> str:
    if a.size != b.size:
        return f"shape_mismatch {list(a.shape)} vs {list(b.shape)}"
    a = a.reshape(-1).astype(np.int64)
    b = b.reshape(-1).astype(np.int64)
    if np.array_equal(a, b):
        return "equal"
    return f"max_abs_diff {int(np.abs(a - b).max())}"


# --------------------------------------------------------------------------
# Codestream inspection (used to label what the encoders really wrote)
# --------------------------------------------------------------------------
def parse_j2k(cs: bytes) -> dict:
    """SIZ/COD facts of a JPEG 2000 codestream main header."""
    if cs[:2] != b"\xff\x4f":
        i = cs.find(b"\xff\x4f\xff\x51")
        if i < 0:
            raise ValueError("no J2K SOC marker")
        cs = cs[i:]
    pos, info = 2, {"markers": []}
    while pos + 4 <= len(cs):
        m = struct.unpack(">H", cs[pos:pos + 2])[0]
        pos += 2
        if m in (0xFF93, 0xFFD9, 0xFF90):
            info["markers"].append(hex(m))
            break
        seg_len = struct.unpack(">H", cs[pos:pos + 2])[0]
        seg = cs[pos + 2:pos + seg_len]
        pos += seg_len
        info["markers"].append(hex(m))
        if m == 0xFF51:
            _rsiz, x, y, xo, yo, xt, yt, xto, yto, c = struct.unpack(">HIIIIIIIIH", seg[:36])
            info.update(width=x - xo, height=y - yo, components=c,
                        bits=[(seg[36 + 3 * i] & 0x7F) + 1 for i in range(c)],
                        signed=[bool(seg[36 + 3 * i] & 0x80) for i in range(c)],
                        tiles=((x - xto + xt - 1) // xt) * ((y - yto + yt - 1) // yt))
        elif m == 0xFF52:
            info.update(progression=["LRCP", "RLCP", "RPCL", "PCRL", "CPRL"][seg[1]],
                        layers=struct.unpack(">H", seg[2:4])[0], mct=seg[4], levels=seg[5],
                        reversible=(seg[9] == 1), ht=bool(seg[8] & 0x40))
        elif m == 0xFF55:
            info["tlm"] = True
        elif m == 0xFF50:
            info["cap"] = True
    return info


def jpeg_info(b: bytes) -> dict:
    """Header facts of a JPEG (10918-1) stream up to the first SOS."""
    info: dict = {"markers": []}
    pos = 2
    while pos + 4 <= len(b):
        if b[pos] != 0xFF:
            break
        m = b[pos + 1]
        pos += 2
        if m == 0xFF:
            pos -= 1
            continue
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            continue
        seg_len = struct.unpack(">H", b[pos:pos + 2])[0]
        seg = b[pos + 2:pos + seg_len]
        info["markers"].append(f"{m:02X}")
        if m == 0xEE and seg[:5] == b"Adobe":
            info["app14_transform"] = seg[11]
        if m == 0xE0 and seg[:4] == b"JFIF":
            info["jfif"] = True
        if m in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xF7):
            p, y, x, nf = struct.unpack(">BHHB", seg[:6])
            info.update(sof=f"{m:02X}", precision=p, rows=y, cols=x, ncomp=nf,
                        comp_ids=[seg[6 + 3 * i] for i in range(nf)],
                        sampling=[seg[7 + 3 * i] for i in range(nf)])
            if m == 0xF7:
                info["jls"] = True
        if m == 0xDA:
            ns = seg[0]
            info["scan_components"] = ns
            info["ss"] = seg[1 + 2 * ns]  # predictor (lossless) / NEAR (JPEG-LS)
            info["ilv"] = seg[2 + 2 * ns]  # JPEG-LS interleave mode
            break
        pos += seg_len
    return info
