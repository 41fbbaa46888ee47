//! The irreversible (9/7, float) inverse wavelet transform and dequantisation,
//! computed exactly as openjp2 0.6.1 (OpenJPEG 2.5) computes them, so that lossy
//! JPEG 2000 / HTJ2K decoded here is bit-identical to openjp2's output:
//!
//! - dequantisation (`band_scale`, `dequantise`): openjp2 keeps each code-block
//!   sample as an integer with one extra fraction bit (the half-bin reconstruction),
//!   and multiplies it, as f32, by `0.5f32 * stepsize`, where `stepsize` is
//!   `(1 + μ/2048) · 2^(R_b − ε)` computed in f64 and rounded to f32, with R_b the
//!   component precision and *no* subband gain (openjp2's "BUG_WEIRD_TWO_INVK": the
//!   decoder uses log2 gain 0 for the 9/7 and compensates with `2/K` instead of
//!   `1/K` in the synthesis);
//! - synthesis (`idwt97`, openjp2's `opj_dwt_decode_tile_97` / `opj_v8dwt_decode`):
//!   per level, every row of the resolution, then every column; in each 1-D pass the
//!   low samples are scaled by K and the high ones by 2/K (1.6257324, the historic
//!   constant), then the four lifting steps δ, γ, β, α (with negated constants)
//!   `x[i] = x[i] + (n0 + n1) · c`, the symmetric boundary on the left as
//!   `(n + n) · c` and on the right as `n · (c + c)`; a line of one sample is left as
//!   it is (not scaled). Every sample's arithmetic is what openjp2 does, in f32
//!   without contraction, so processing several rows or columns at a time (as here:
//!   the vertical pass on strips of `LANES` columns) changes nothing.
//!
//! The tile is at the grid origin (even coordinates), as `ht53` requires.

const K: f32 = 1.230_174_1;
/// openjp2's "historic value for 2 / opj_invK" (BUG_WEIRD_TWO_INVK), not 2/K exactly.
const TWO_INV_K: f32 = 1.625_732_4;
const ALPHA: f32 = -1.586_134_3;
const BETA: f32 = -0.052_980_118;
const GAMMA: f32 = 0.882_911_1;
const DELTA: f32 = 0.443_506_87;

/// Columns per strip in the vertical pass: one 64-byte cache line of f32.
pub(super) const LANES: usize = 16;

/// The factor openjp2 multiplies a code-block sample (an integer with one fraction
/// bit) by: `0.5f32 * stepsize`, stepsize from the QCD exponent `expn` and mantissa
/// `mant` of the band and the component precision `prec` (in bits).
pub(super) fn band_scale(prec: u32, expn: u32, mant: u32) -> f32 {
    let step = (1.0f64 + mant as f64 / 2048.0) * 2f64.powi(prec as i32 - expn as i32);
    0.5f32 * step as f32
}

/// One code-block sample, as openjp2's t1 leaves it (sign and magnitude with one
/// fraction bit, as an `i32`), dequantised.
#[inline(always)]
pub(super) fn dequantise(v: i32, scale: f32) -> f32 {
    v as f32 * scale
}

/// Size of resolution `r` of `n` samples with `levels` decompositions (origin 0).
pub(super) fn res_size(n: usize, levels: u32, r: u32) -> usize {
    let s = levels - r;
    if s >= usize::BITS {
        return (n > 0) as usize;
    }
    n.div_ceil(1 << s)
}

/// The inverse 9/7 transform of one component's plane (`width` × `height`, row
/// stride `width`, subbands laid out as openjp2 lays them out: each resolution's
/// L|H columns and L/H rows at the top left), in place.
pub(super) fn idwt97(plane: &mut [f32], width: usize, height: usize, levels: u32) {
    synthesise(plane, width, height, levels, None::<fn(Finished)>);
}

/// Finished samples that `idwt97_emit` hands on.
pub(super) enum Finished<'a> {
    /// Columns `x..x + width` of every row, row k at `rows[k][..width]`.
    Strip {
        x: usize,
        width: usize,
        rows: &'a [[f32; LANES]],
    },
    /// All of row `y`.
    Row { y: usize, samples: &'a [f32] },
}

/// `idwt97`, handing the finished samples to `emit` instead of storing the last
/// vertical pass into `plane` (which is then left partly transformed), so that the
/// caller converts them while they are in cache. Every sample is emitted once.
pub(super) fn idwt97_emit(
    plane: &mut [f32],
    width: usize,
    height: usize,
    levels: u32,
    emit: impl FnMut(Finished),
) {
    synthesise(plane, width, height, levels, Some(emit));
}

fn synthesise(
    plane: &mut [f32],
    width: usize,
    height: usize,
    levels: u32,
    mut emit: Option<impl FnMut(Finished)>,
) {
    let stride = width;
    if plane.len() < width * height {
        return;
    }
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    let mut strip: Vec<[f32; LANES]> = Vec::new();
    for r in 1..=levels {
        let (rw, rh) = (res_size(width, levels, r), res_size(height, levels, r));
        let (sw, sh) = (
            res_size(width, levels, r - 1),
            res_size(height, levels, r - 1),
        );
        if rw > 1 {
            for y in 0..rh {
                horizontal(
                    &mut plane[y * stride..y * stride + rw],
                    sw,
                    &mut lo,
                    &mut hi,
                );
            }
        }
        if rh > 1 {
            let last = if r == levels { emit.as_mut() } else { None };
            let emitted = last.is_some();
            vertical(plane, stride, rw, rh, sh, &mut strip, last);
            if emitted {
                return;
            }
        }
    }
    if let Some(emit) = emit.as_mut() {
        for y in 0..height {
            emit(Finished::Row {
                y,
                samples: &plane[y * stride..y * stride + width],
            });
        }
    }
}

/// One row: `row[..sn]` low, `row[sn..]` high, synthesised in place.
#[inline(never)]
fn horizontal(row: &mut [f32], sn: usize, lo: &mut Vec<f32>, hi: &mut Vec<f32>) {
    let n = row.len();
    let dn = n - sn;
    lo.clear();
    lo.extend(row[..sn].iter().map(|&x| x * K));
    hi.clear();
    hi.extend(row[sn..].iter().map(|&x| x * TWO_INV_K));
    lift_low(lo, hi, -DELTA);
    lift_high(hi, lo, -GAMMA);
    lift_low(lo, hi, -BETA);
    lift_high(hi, lo, -ALPHA);
    interleave(&mut row[..2 * dn], &lo[..dn], &hi[..dn]);
    if sn > dn {
        row[n - 1] = lo[sn - 1];
    }
}

/// `out[2k] = lo[k]`, `out[2k + 1] = hi[k]` (`out` twice as long as `lo` and `hi`):
/// four pairs at a time with SSE or wasm SIMD shuffles where there are (moves only,
/// so the values are the same whichever way).
#[inline(always)]
fn interleave(out: &mut [f32], lo: &[f32], hi: &[f32]) {
    let n = lo.len().min(hi.len()).min(out.len() / 2);
    #[allow(unused_mut)]
    let mut k = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::*;
        while k + 4 <= n {
            // SAFETY: k + 4 <= n bounds the four loads from lo and hi and the eight
            // stores into out; SSE is part of x86_64.
            unsafe {
                let l = _mm_loadu_ps(lo.as_ptr().add(k));
                let h = _mm_loadu_ps(hi.as_ptr().add(k));
                _mm_storeu_ps(out.as_mut_ptr().add(2 * k), _mm_unpacklo_ps(l, h));
                _mm_storeu_ps(out.as_mut_ptr().add(2 * k + 4), _mm_unpackhi_ps(l, h));
            }
            k += 4;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        while k + 4 <= n {
            // SAFETY: as above; wasm loads and stores need no alignment.
            unsafe {
                let l = v128_load(lo.as_ptr().add(k) as *const v128);
                let h = v128_load(hi.as_ptr().add(k) as *const v128);
                let out = out.as_mut_ptr().add(2 * k) as *mut v128;
                v128_store(out, i32x4_shuffle::<0, 4, 1, 5>(l, h));
                v128_store(out.add(1), i32x4_shuffle::<2, 6, 3, 7>(l, h));
            }
            k += 4;
        }
    }
    for k in k..n {
        out[2 * k] = lo[k];
        out[2 * k + 1] = hi[k];
    }
}

/// `lo[i] += (hi[i-1] + hi[i]) · c` (openjp2's step 2 on the even samples), with
/// `hi[-1] = hi[0]` as `(hi[0] + hi[0]) · c` and, when there are more low samples
/// than high, the last as `hi[dn-1] · (c + c)`.
#[inline(always)]
fn lift_low(lo: &mut [f32], hi: &[f32], c: f32) {
    let (sn, dn) = (lo.len(), hi.len());
    if dn == 0 {
        return;
    }
    lo[0] += (hi[0] + hi[0]) * c;
    let m = sn.min(dn);
    for ((l, &a), &b) in lo[1..m].iter_mut().zip(&hi[..m - 1]).zip(&hi[1..m]) {
        *l += (a + b) * c;
    }
    if sn > dn {
        lo[dn] += hi[dn - 1] * (c + c);
    }
}

/// `hi[i] += (lo[i] + lo[i+1]) · c` (openjp2's step 2 on the odd samples), the last
/// as `lo[sn-1] · (c + c)` when there are as many high samples as low.
#[inline(always)]
fn lift_high(hi: &mut [f32], lo: &[f32], c: f32) {
    let (dn, sn) = (hi.len(), lo.len());
    let m = dn.min(sn - 1);
    for ((h, &a), &b) in hi[..m].iter_mut().zip(&lo[..m]).zip(&lo[1..=m]) {
        *h += (a + b) * c;
    }
    if m < dn {
        hi[m] += lo[m] * (c + c);
    }
}

/// The vertical pass over columns `0..rw` of rows `0..rh` (`sn` low rows on top),
/// `LANES` columns at a time: gathered into `strip` interleaved (low row i at 2i,
/// high row i at 2i + 1), lifted, written back row by row.
#[inline(never)]
fn vertical(
    plane: &mut [f32],
    stride: usize,
    rw: usize,
    rh: usize,
    sn: usize,
    strip: &mut Vec<[f32; LANES]>,
    mut emit: Option<&mut impl FnMut(Finished)>,
) {
    let dn = rh - sn;
    strip.clear();
    strip.resize(rh, [0.0; LANES]);
    let mut x0 = 0;
    while x0 < rw {
        let cw = LANES.min(rw - x0);
        if cw == LANES {
            for i in 0..sn {
                let src: &[f32; LANES] = plane[i * stride + x0..][..LANES].try_into().unwrap();
                let d = &mut strip[2 * i];
                for k in 0..LANES {
                    d[k] = src[k] * K;
                }
            }
            for i in 0..dn {
                let at = (sn + i) * stride + x0;
                let src: &[f32; LANES] = plane[at..][..LANES].try_into().unwrap();
                let d = &mut strip[2 * i + 1];
                for k in 0..LANES {
                    d[k] = src[k] * TWO_INV_K;
                }
            }
        } else {
            for i in 0..sn {
                let src = &plane[i * stride + x0..][..cw];
                for (d, &s) in strip[2 * i].iter_mut().zip(src) {
                    *d = s * K;
                }
            }
            for i in 0..dn {
                let src = &plane[(sn + i) * stride + x0..][..cw];
                for (d, &s) in strip[2 * i + 1].iter_mut().zip(src) {
                    *d = s * TWO_INV_K;
                }
            }
        }
        lift_strip(strip, sn, dn);
        if let Some(emit) = emit.as_mut() {
            emit(Finished::Strip {
                x: x0,
                width: cw,
                rows: strip,
            });
        } else if cw == LANES {
            for (k, v) in strip.iter().enumerate() {
                plane[k * stride + x0..][..LANES].copy_from_slice(v);
            }
        } else {
            for (k, v) in strip.iter().enumerate() {
                plane[k * stride + x0..][..cw].copy_from_slice(&v[..cw]);
            }
        }
        x0 += LANES;
    }
}

/// The four lifting steps on an interleaved strip (`w[2i]` low, `w[2i+1]` high).
fn lift_strip(w: &mut [[f32; LANES]], sn: usize, dn: usize) {
    strip_low(w, sn, dn, -DELTA);
    strip_high(w, sn, dn, -GAMMA);
    strip_low(w, sn, dn, -BETA);
    strip_high(w, sn, dn, -ALPHA);
}

#[inline(always)]
fn axpy2(x: &mut [f32; LANES], a: &[f32; LANES], b: &[f32; LANES], c: f32) {
    for k in 0..LANES {
        x[k] += (a[k] + b[k]) * c;
    }
}

#[inline(always)]
fn axpy1(x: &mut [f32; LANES], a: &[f32; LANES], c2: f32) {
    for k in 0..LANES {
        x[k] += a[k] * c2;
    }
}

/// `lift_low` on a strip.
fn strip_low(w: &mut [[f32; LANES]], sn: usize, dn: usize, c: f32) {
    if dn == 0 {
        return;
    }
    {
        let (l, h) = w.split_at_mut(1);
        let h0 = h[0];
        axpy2(&mut l[0], &h0, &h0, c);
    }
    let m = sn.min(dn);
    for i in 1..m {
        let (before, after) = w.split_at_mut(2 * i);
        let (x, rest) = after.split_first_mut().unwrap();
        axpy2(x, &before[2 * i - 1], &rest[0], c);
    }
    if sn > dn {
        let (before, after) = w.split_at_mut(2 * dn);
        axpy1(&mut after[0], &before[2 * dn - 1], c + c);
    }
}

/// `lift_high` on a strip.
fn strip_high(w: &mut [[f32; LANES]], sn: usize, dn: usize, c: f32) {
    let m = dn.min(sn - 1);
    for i in 0..m {
        let (before, after) = w.split_at_mut(2 * i + 1);
        let (x, rest) = after.split_first_mut().unwrap();
        axpy2(x, &before[2 * i], &rest[0], c);
    }
    if m < dn {
        let (before, after) = w.split_at_mut(2 * m + 1);
        axpy1(&mut after[0], &before[2 * m], c + c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// openjp2's 1-D `opj_v8dwt_decode` for one lane, transcribed literally
    /// (interleaved buffer, cas 0), as the reference for the tests below.
    fn reference_1d(w: &mut [f32], sn: usize, dn: usize) {
        if !(dn > 0 || sn > 1) {
            return;
        }
        for i in 0..sn {
            w[2 * i] *= K;
        }
        for i in 0..dn {
            w[2 * i + 1] *= TWO_INV_K;
        }
        // step2(l, w, start, end, m, c): fw starts one past `w`'s first element.
        fn step2(buf: &mut [f32], l: usize, w: usize, end: usize, m: usize, mut c: f32) {
            let (mut fl, mut fw) = (l, w);
            let imax = end.min(m);
            for _ in 0..imax {
                buf[fw - 1] += (buf[fl] + buf[fw]) * c;
                fl = fw;
                fw += 2;
            }
            if m < end {
                c += c;
                buf[fw - 1] += buf[fl] * c;
            }
        }
        let (a, b) = (0usize, 1usize);
        let min = |x: isize, y: isize| x.min(y).max(0) as usize;
        let (sn_i, dn_i) = (sn as isize, dn as isize);
        let mut padded = w.to_vec();
        padded.resize(w.len() + 2, 0.0);
        step2(
            &mut padded,
            b,
            a + 1,
            sn,
            min(sn_i, dn_i - a as isize),
            -DELTA,
        );
        step2(
            &mut padded,
            a,
            b + 1,
            dn,
            min(dn_i, sn_i - b as isize),
            -GAMMA,
        );
        step2(
            &mut padded,
            b,
            a + 1,
            sn,
            min(sn_i, dn_i - a as isize),
            -BETA,
        );
        step2(
            &mut padded,
            a,
            b + 1,
            dn,
            min(dn_i, sn_i - b as isize),
            -ALPHA,
        );
        w.copy_from_slice(&padded[..w.len()]);
    }

    /// The reference 2-D transform: openjp2's order (rows, then columns, per level).
    fn reference_2d(plane: &mut [f32], width: usize, height: usize, levels: u32) {
        for r in 1..=levels {
            let (rw, rh) = (res_size(width, levels, r), res_size(height, levels, r));
            let (sw, sh) = (
                res_size(width, levels, r - 1),
                res_size(height, levels, r - 1),
            );
            for y in 0..rh {
                let row = &mut plane[y * width..y * width + rw];
                let mut w = vec![0.0; rw];
                for i in 0..sw {
                    w[2 * i] = row[i];
                }
                for i in 0..rw - sw {
                    w[2 * i + 1] = row[sw + i];
                }
                reference_1d(&mut w, sw, rw - sw);
                row.copy_from_slice(&w);
            }
            for x in 0..rw {
                let mut w = vec![0.0; rh];
                for i in 0..sh {
                    w[2 * i] = plane[i * width + x];
                }
                for i in 0..rh - sh {
                    w[2 * i + 1] = plane[(sh + i) * width + x];
                }
                reference_1d(&mut w, sh, rh - sh);
                for (k, &v) in w.iter().enumerate() {
                    plane[k * width + x] = v;
                }
            }
        }
    }

    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                ((s >> 8) as f32 / (1 << 24) as f32 - 0.5) * 4000.0
            })
            .collect()
    }

    #[test]
    fn matches_openjp2_order_on_odd_and_tiny_sizes() {
        let sizes = [
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
            (3, 3),
            (1, 7),
            (7, 1),
            (5, 4),
            (17, 9),
            (16, 16),
            (33, 31),
            (40, 3),
            (64, 65),
            (100, 37),
        ];
        for (seed, &(w, h)) in sizes.iter().enumerate() {
            for levels in 0..=6 {
                let input = noise(w * h, seed as u32 * 7 + levels);
                let mut ours = input.clone();
                let mut want = input;
                idwt97(&mut ours, w, h, levels);
                reference_2d(&mut want, w, h, levels);
                let same = ours
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{w}x{h}, {levels} levels");
            }
        }
    }

    #[test]
    fn step_sizes_are_openjp2s() {
        // (1 + 158/2048) · 2^(16 − 17) / 2, exactly.
        assert_eq!(
            band_scale(16, 17, 0x09e),
            0.5 * (1.0 + 158.0 / 2048.0) * 0.5
        );
        assert_eq!(band_scale(8, 0, 0), 128.0);
        assert_eq!(dequantise(-3, 0.25), -0.75);
    }
}
