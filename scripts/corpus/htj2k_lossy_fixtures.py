# Usage: python htj2k_lossy_fixtures.py crate/tests/fixtures/htj2k-lossy (imagecodecs venv)
# Small lossy HTJ2K codestreams (OpenJPH via imagecodecs) for the openjp2 exactness tests.
import imagecodecs, numpy as np, sys, os
out = sys.argv[1]
rng = np.random.default_rng(7)
def img(h, w, dtype, lo, hi, c=None):
    shape = (h, w) if c is None else (h, w, c)
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / 3.0) + np.cos(y / 5.0)) * (hi - lo) / 4 + (hi + lo) / 2
    if c is not None:
        base = np.stack([base * (0.5 + 0.25 * k) for k in range(c)], axis=-1)
    noise = rng.normal(0, (hi - lo) / 16, shape)
    return np.clip(base + noise, lo, hi).astype(dtype)
cases = [
    ("u8-1x1", img(1, 1, np.uint8, 0, 255), None, None),
    ("u8-1x9", img(1, 9, np.uint8, 0, 255), None, None),
    ("u8-9x1", img(9, 1, np.uint8, 0, 255), None, None),
    ("u8-2x2", img(2, 2, np.uint8, 0, 255), None, None),
    ("u8-3x5", img(3, 5, np.uint8, 0, 255), 0.01, None),
    ("u8-17x33", img(17, 33, np.uint8, 0, 255), 0.002, None),
    ("u8-64x64-q4", img(64, 64, np.uint8, 0, 255), 0.03, None),
    ("u8-65x63-r1", img(65, 63, np.uint8, 0, 255), None, 1),
    ("u8-65x63-r2", img(65, 63, np.uint8, 0, 255), None, 2),
    ("u8-100x37-r7", img(100, 37, np.uint8, 0, 255), None, 7),
    ("s8-40x30", img(40, 30, np.int8, -128, 127), None, None),
    ("u16-12bit-129x70", img(129, 70, np.uint16, 0, 4095), None, None),
    ("u16-12bit-129x70-fine", img(129, 70, np.uint16, 0, 4095), 0.0005, None),
    ("u16-full-50x61", img(50, 61, np.uint16, 0, 65535), 0.001, None),
    ("s16-14bit-77x45", img(77, 45, np.int16, -8192, 8191), None, None),
    ("s16-full-33x96", img(33, 96, np.int16, -32768, 32767), 0.02, None),
    ("rgb8-31x47", img(31, 47, np.uint8, 0, 255, 3), None, None),
    ("rgb8-48x40-q3", img(48, 40, np.uint8, 0, 255, 3), 0.02, None),
    ("rgb8-1x5", img(1, 5, np.uint8, 0, 255, 3), None, None),
    ("rgb16-12bit-23x29", img(23, 29, np.uint16, 0, 4095, 3), None, None),
    ("u8-300x260", img(300, 260, np.uint8, 0, 255), 0.02, None),
    ("u8-130x70-coarse", img(130, 70, np.uint8, 0, 255), 0.2, None),
]
for name, a, q, res in cases:
    kw = dict(reversible=False)
    if q is not None:
        kw["level"] = q
    if res is not None:
        kw["resolutions"] = res
    b = imagecodecs.htj2k_encode(a, **kw)
    open(os.path.join(out, name + ".j2c"), "wb").write(b)
    print(name, a.shape, a.dtype, len(b))
