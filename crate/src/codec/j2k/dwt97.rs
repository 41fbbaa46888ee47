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
//!   the vertical pass on strips of `LANES` columns, or on whole rows at the last
//!   level when the rows are emitted), or interleaving a sample's steps with other
//!   samples', changes nothing.
//!
//! The tile is at the grid origin (even coordinates), as `ht53` requires.

use super::dwt53::LastBands;

const K: f32 = 1.230_174_1;
/// openjp2's "historic value for 2 / opj_invK" (BUG_WEIRD_TWO_INVK), not 2/K exactly.
const TWO_INV_K: f32 = 1.625_732_4;
const ALPHA: f32 = -1.586_134_3;
const BETA: f32 = -0.052_980_118;
const GAMMA: f32 = 0.882_911_1;
const DELTA: f32 = 0.443_506_87;

/// Columns per strip in the vertical pass: one 64-byte cache line of f32.
const LANES: usize = 16;

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
    synthesise(plane, width, height, levels, None::<fn(usize, &[f32])>);
}

/// `idwt97`, handing each finished row to `emit(y, samples)` instead of storing
/// the last level into `plane` (which is then left partly transformed), so that the
/// caller converts them while they are in cache. Every row is emitted once, in
/// order.
pub(super) fn idwt97_emit(
    plane: &mut [f32],
    width: usize,
    height: usize,
    levels: u32,
    emit: impl FnMut(usize, &[f32]),
) {
    synthesise(plane, width, height, levels, Some(emit));
}

/// `idwt97_emit` (`levels` at least 1, `height` at least 2) with the plane holding
/// only the last level's low band (its LL: the lower resolution's size, row stride
/// its width) and the three high bands from `bands`, whose rows are asked for in
/// order. False when `bands` fails (some rows then emitted, not all).
pub(super) fn idwt97_bands(
    plane: &mut [f32],
    width: usize,
    height: usize,
    levels: u32,
    bands: &mut impl LastBands<f32>,
    mut emit: impl FnMut(usize, &[f32]),
) -> bool {
    let (sw, sh) = (
        res_size(width, levels, levels - 1),
        res_size(height, levels, levels - 1),
    );
    if plane.len() < sw * sh || height < 2 {
        return false;
    }
    // The lower resolution's levels (of the same sizes: ⌈⌈n/2⌉/2^j⌉ = ⌈n/2^(j+1)⌉).
    idwt97(plane, sw, sh, levels - 1);
    let mut rows = BandRows {
        ll: plane,
        sw,
        bands,
    };
    let (mut lo, mut hi) = (Vec::new(), Vec::new());
    last_level_rows(&mut rows, width, height, sh, &mut lo, &mut hi, &mut emit).is_some()
}

/// The last level's interleaved rows as `last_level_rows` reads them: row k's low
/// and high halves (k even: rows k/2 of LL and HL; odd: of LH and HH), k from 0 up;
/// `None` when they cannot be had.
trait LevelRows {
    fn rows(&mut self, k: usize) -> Option<(&[f32], &[f32])>;
}

/// The subbands in the plane (row stride `stride`, LL and HL on top of `sh` rows,
/// `sw` columns on the left).
struct PlaneRows<'a> {
    plane: &'a [f32],
    stride: usize,
    rw: usize,
    sw: usize,
    sh: usize,
}

impl LevelRows for PlaneRows<'_> {
    #[inline(always)]
    fn rows(&mut self, k: usize) -> Option<(&[f32], &[f32])> {
        let y = if k.is_multiple_of(2) {
            k / 2
        } else {
            self.sh + k / 2
        };
        Some(self.plane[y * self.stride..][..self.rw].split_at(self.sw))
    }
}

/// LL in its own plane (row stride `sw`), the high bands from `LastBands`.
struct BandRows<'a, B> {
    ll: &'a [f32],
    sw: usize,
    bands: &'a mut B,
}

impl<B: LastBands<f32>> LevelRows for BandRows<'_, B> {
    #[inline(always)]
    fn rows(&mut self, k: usize) -> Option<(&[f32], &[f32])> {
        let i = k / 2;
        if k.is_multiple_of(2) {
            Some((
                self.ll.get(i * self.sw..)?.get(..self.sw)?,
                self.bands.hl(i)?,
            ))
        } else {
            self.bands.lh_hh(i)
        }
    }
}

fn synthesise(
    plane: &mut [f32],
    width: usize,
    height: usize,
    levels: u32,
    mut emit: Option<impl FnMut(usize, &[f32])>,
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
        if r == levels && rh > 1 {
            if let Some(emit) = emit.as_mut() {
                let mut rows = PlaneRows {
                    plane,
                    stride,
                    rw,
                    sw,
                    sh,
                };
                last_level_rows(&mut rows, rw, rh, sh, &mut lo, &mut hi, emit);
                return;
            }
        }
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
            vertical(plane, stride, rw, rh, sh, &mut strip);
        }
    }
    if let Some(emit) = emit.as_mut() {
        for y in 0..height {
            emit(y, &plane[y * stride..y * stride + width]);
        }
    }
}

/// The last level, with `emit`: row by row rather than strip by strip, so that
/// each row is read (from `src`) once, transformed horizontally and lifted
/// vertically while in cache, and emitted (the plane left as it was). The
/// vertical lifting is two `RowLifter`s in a chain, δγ then βα, as the strips'
/// `gather_delta_gamma` and `beta_alpha` but on whole rows. `None` when `src`
/// fails.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn last_level_rows(
    src: &mut impl LevelRows,
    rw: usize,
    rh: usize,
    sh: usize,
    lo: &mut Vec<f32>,
    hi: &mut Vec<f32>,
    emit: &mut impl FnMut(usize, &[f32]),
) -> Option<()> {
    let dn = rh - sh;
    let mut first = RowLifter::new(rw, sh, dn, -DELTA, -GAMMA);
    let mut second = RowLifter::new(rw, sh, dn, -BETA, -ALPHA);
    let mut out = |y: usize, samples: &mut Vec<f32>| emit(y, samples);
    let mut pass =
        |k: usize, row: &mut Vec<f32>| second.push(k, |b| core::mem::swap(b, row), &mut out);
    for k in 0..rh {
        let s = if k.is_multiple_of(2) { K } else { TWO_INV_K };
        let (src_lo, src_hi) = src.rows(k)?;
        let fill = |b: &mut Vec<f32>| {
            if rw > 1 {
                horizontal_scaled(src_lo, src_hi, b, lo, hi, s);
            } else {
                b[0] = src_lo[0] * s;
            }
        };
        first.push(k, fill, &mut pass);
    }
    first.finish(&mut pass);
    second.finish(&mut out);
    Some(())
}

/// Two lifting steps, `x_low += (n + n') · cl` then `x_high += (n + n') · ch`, on
/// the rows of a column pushed in order (interleaved: low row i is row 2i, high
/// row i row 2i + 1), each row handed on as soon as both steps are done with it:
/// low row i once high row i has come, high row i − 1 with it (`sn` low rows, `dn`
/// high, `dn >= 1`, `sn` being `dn` or `dn + 1`). Per sample the operations of
/// the low then the high step (see `scale_lift_low`, `lift_high_low`) in the same
/// order, as `gather_delta_gamma`.
struct RowLifter {
    sn: usize,
    dn: usize,
    cl: f32,
    ch: f32,
    /// Low row i − 1 (done), high row i − 1 (not yet lifted by `ch`), low row i
    /// (not yet by `cl`), high row i: i the last odd row pushed, halved.
    l0: Vec<f32>,
    h0: Vec<f32>,
    l1: Vec<f32>,
    h1: Vec<f32>,
}

impl RowLifter {
    fn new(n: usize, sn: usize, dn: usize, cl: f32, ch: f32) -> Self {
        let row = || vec![0.0; n];
        RowLifter {
            sn,
            dn,
            cl,
            ch,
            l0: row(),
            h0: row(),
            l1: row(),
            h1: row(),
        }
    }

    /// Row k, written (or swapped in) by `fill`; the rows it finishes to `put(k,
    /// row)`, which may take the row's buffer and leave another of the same length.
    #[inline(always)]
    fn push(
        &mut self,
        k: usize,
        fill: impl FnOnce(&mut Vec<f32>),
        put: &mut impl FnMut(usize, &mut Vec<f32>),
    ) {
        let (i, cl, ch) = (k / 2, self.cl, self.ch);
        if k == 0 {
            fill(&mut self.l0);
        } else if k == 1 {
            fill(&mut self.h0);
            for (l, &h) in self.l0.iter_mut().zip(&self.h0) {
                *l += (h + h) * cl;
            }
        } else if k.is_multiple_of(2) {
            fill(&mut self.l1);
            if i == self.dn {
                // The last row, low (sn = dn + 1).
                for ((l1, h0), &l0) in self.l1.iter_mut().zip(self.h0.iter_mut()).zip(&self.l0) {
                    *l1 += *h0 * (cl + cl);
                    *h0 += (l0 + *l1) * ch;
                }
                put(k - 2, &mut self.l0);
                put(k - 1, &mut self.h0);
                put(k, &mut self.l1);
            }
        } else {
            fill(&mut self.h1);
            for (((l1, h0), &l0), &h1) in self
                .l1
                .iter_mut()
                .zip(self.h0.iter_mut())
                .zip(&self.l0)
                .zip(&self.h1)
            {
                *l1 += (*h0 + h1) * cl;
                *h0 += (l0 + *l1) * ch;
            }
            put(k - 3, &mut self.l0);
            put(k - 2, &mut self.h0);
            core::mem::swap(&mut self.l0, &mut self.l1);
            core::mem::swap(&mut self.h0, &mut self.h1);
        }
    }

    /// After the last row: the last high row when it is the column's last.
    fn finish(&mut self, put: &mut impl FnMut(usize, &mut Vec<f32>)) {
        if self.sn == self.dn {
            let ch = self.ch;
            for (h, &l) in self.h0.iter_mut().zip(&self.l0) {
                *h += l * (ch + ch);
            }
            put(2 * self.dn - 2, &mut self.l0);
            put(2 * self.dn - 1, &mut self.h0);
        }
    }
}

/// One row: `row[..sn]` low, `row[sn..]` high, synthesised in place in three
/// passes: both halves scaled into `lo` and `hi` with δ lifted, then γ and β, then
/// α lifted as the two are interleaved back into the row.
#[inline(never)]
fn horizontal(row: &mut [f32], sn: usize, lo: &mut Vec<f32>, hi: &mut Vec<f32>) {
    let (src_lo, src_hi) = row.split_at(sn);
    let (lo, hi) = horizontal_lift(src_lo, src_hi, lo, hi);
    lift_high_interleave::<false>(row, lo, hi, -ALPHA, 1.0);
}

/// `horizontal` from `src_lo` (low) and `src_hi` (high) into `out`, every sample
/// then multiplied by `s` (the vertical pass's scaling, for `last_level_rows`).
#[inline(never)]
fn horizontal_scaled(
    src_lo: &[f32],
    src_hi: &[f32],
    out: &mut [f32],
    lo: &mut Vec<f32>,
    hi: &mut Vec<f32>,
    s: f32,
) {
    let (lo, hi) = horizontal_lift(src_lo, src_hi, lo, hi);
    lift_high_interleave::<true>(out, lo, hi, -ALPHA, s);
}

/// `horizontal` up to α: `src_lo` and `src_hi` lifted into `lo` and `hi`.
#[inline(always)]
fn horizontal_lift<'a>(
    src_lo: &[f32],
    src_hi: &[f32],
    lo: &'a mut Vec<f32>,
    hi: &'a mut Vec<f32>,
) -> (&'a [f32], &'a [f32]) {
    let (sn, dn) = (src_lo.len(), src_hi.len());
    // Every row of a level has the same length: after the first, no-ops.
    lo.resize(sn, 0.0);
    hi.resize(dn, 0.0);
    let (lo, hi) = (&mut lo[..sn], &mut hi[..dn]);
    scale_lift_low(lo, hi, src_lo, src_hi, -DELTA);
    lift_high_low(hi, lo, -GAMMA, -BETA);
    (lo, hi)
}

/// The high lifting step `hi[i] += (lo[i] + lo[i+1]) · g` (openjp2's step 2 on the
/// odd samples, the last as `lo[sn-1] · (g + g)` when there are as many high
/// samples as low), then the low one (as in `scale_lift_low`) with `b`, in one
/// pass: `lo[i]` takes β as soon as `hi[i]` has taken γ (the same operations per
/// sample in the same order). Needs `hi` not empty.
#[inline(always)]
fn lift_high_low(hi: &mut [f32], lo: &mut [f32], g: f32, b: f32) {
    let (dn, sn) = (hi.len(), lo.len());
    let m = dn.min(sn - 1);
    let h0 = if m > 0 {
        hi[0] + (lo[0] + lo[1]) * g
    } else {
        hi[0] + lo[0] * (g + g)
    };
    hi[0] = h0;
    lo[0] += (h0 + h0) * b;
    let mut hp = h0;
    {
        let (hi, lo) = (&mut hi[..m], &mut lo[..m + 1]);
        for i in 1..m {
            let h = hi[i] + (lo[i] + lo[i + 1]) * g;
            hi[i] = h;
            lo[i] += (hp + h) * b;
            hp = h;
        }
    }
    if m < dn && m > 0 {
        let h = hi[m] + lo[m] * (g + g);
        hi[m] = h;
        lo[m] += (hp + h) * b;
    }
    if sn > dn {
        lo[dn] += hi[dn - 1] * (b + b);
    }
}

/// `lo[i] = src_lo[i] · K` and `hi[i] = src_hi[i] · TWO_INV_K`, then the low
/// lifting step `lo[i] += (hi[i-1] + hi[i]) · c` (openjp2's step 2 on the even
/// samples), with `hi[-1] = hi[0]` as `(hi[0] + hi[0]) · c` and, when there are
/// more low samples than high, the last as `hi[dn-1] · (c + c)`; in one pass (the
/// same operations on each sample in the same order). Needs `hi` not empty.
#[inline(always)]
fn scale_lift_low(lo: &mut [f32], hi: &mut [f32], src_lo: &[f32], src_hi: &[f32], c: f32) {
    let (sn, dn) = (lo.len(), hi.len());
    let (src_lo, src_hi) = (&src_lo[..sn], &src_hi[..dn]);
    let h0 = src_hi[0] * TWO_INV_K;
    hi[0] = h0;
    lo[0] = src_lo[0] * K + (h0 + h0) * c;
    let mut hp = h0;
    // sn >= dn: every high sample but the first is scaled here.
    for (((l, h), &xl), &xh) in lo[1..dn]
        .iter_mut()
        .zip(&mut hi[1..])
        .zip(&src_lo[1..dn])
        .zip(&src_hi[1..])
    {
        let x = xh * TWO_INV_K;
        *h = x;
        *l = xl * K + (hp + x) * c;
        hp = x;
    }
    if sn > dn {
        lo[dn] = src_lo[dn] * K + hp * (c + c);
    }
}

/// The high lifting step (as in `lift_high_low`) with the result interleaved into `out` (`out[2k] = lo[k]`,
/// `out[2k + 1] = hi[k]`, `out` as long as both), each then multiplied by `s` if
/// `SCALED`: four pairs at a time with SSE or wasm SIMD where there are (the same
/// operations per sample, then moves).
#[inline(always)]
fn lift_high_interleave<const SCALED: bool>(
    out: &mut [f32],
    lo: &[f32],
    hi: &[f32],
    c: f32,
    s: f32,
) {
    let sc = |x: f32| if SCALED { x * s } else { x };
    let (sn, dn) = (lo.len(), hi.len());
    let out = &mut out[..sn + dn];
    let m = dn.min(sn - 1);
    #[allow(unused_mut)]
    let mut k = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::*;
        // SAFETY: SSE is part of x86_64.
        let (cv, sv) = unsafe { (_mm_set1_ps(c), _mm_set1_ps(s)) };
        while k + 4 <= m {
            // SAFETY: k + 4 <= m <= sn - 1 bounds the loads from lo (up to k + 5)
            // and hi, and the eight stores into out (2k + 8 <= 2m <= sn + dn).
            unsafe {
                let l = _mm_loadu_ps(lo.as_ptr().add(k));
                let l1 = _mm_loadu_ps(lo.as_ptr().add(k + 1));
                let h = _mm_loadu_ps(hi.as_ptr().add(k));
                let mut h = _mm_add_ps(h, _mm_mul_ps(_mm_add_ps(l, l1), cv));
                let mut l = l;
                if SCALED {
                    (l, h) = (_mm_mul_ps(l, sv), _mm_mul_ps(h, sv));
                }
                _mm_storeu_ps(out.as_mut_ptr().add(2 * k), _mm_unpacklo_ps(l, h));
                _mm_storeu_ps(out.as_mut_ptr().add(2 * k + 4), _mm_unpackhi_ps(l, h));
            }
            k += 4;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        let (cv, sv) = (f32x4_splat(c), f32x4_splat(s));
        while k + 4 <= m {
            // SAFETY: as above; wasm loads and stores need no alignment.
            unsafe {
                let l = v128_load(lo.as_ptr().add(k) as *const v128);
                let l1 = v128_load(lo.as_ptr().add(k + 1) as *const v128);
                let h = v128_load(hi.as_ptr().add(k) as *const v128);
                let mut h = f32x4_add(h, f32x4_mul(f32x4_add(l, l1), cv));
                let mut l = l;
                if SCALED {
                    (l, h) = (f32x4_mul(l, sv), f32x4_mul(h, sv));
                }
                let out = out.as_mut_ptr().add(2 * k) as *mut v128;
                v128_store(out, i32x4_shuffle::<0, 4, 1, 5>(l, h));
                v128_store(out.add(1), i32x4_shuffle::<2, 6, 3, 7>(l, h));
            }
            k += 4;
        }
    }
    for k in k..m {
        out[2 * k] = sc(lo[k]);
        out[2 * k + 1] = sc(hi[k] + (lo[k] + lo[k + 1]) * c);
    }
    if m < dn {
        out[2 * m] = sc(lo[m]);
        out[2 * m + 1] = sc(hi[m] + lo[m] * (c + c));
    }
    if sn > dn {
        out[sn + dn - 1] = sc(lo[sn - 1]);
    }
}

/// The vertical pass over columns `0..rw` of rows `0..rh` (`sn` low rows on top),
/// `LANES` columns at a time: gathered into `strip` interleaved (low row i at 2i,
/// high row i at 2i + 1), scaled and lifted by δ and γ in that pass, then β and α
/// in a second, which writes the rows back into the plane. Two passes over the
/// strip, not five: at a few thousand rows it is in L2, not L1. (All four steps in
/// one pass was slower.)
#[inline(never)]
fn vertical(
    plane: &mut [f32],
    stride: usize,
    rw: usize,
    rh: usize,
    sn: usize,
    strip: &mut Vec<[f32; LANES]>,
) {
    let dn = rh - sn;
    strip.clear();
    strip.resize(rh, [0.0; LANES]);
    let mut x0 = 0;
    while x0 < rw {
        let cw = LANES.min(rw - x0);
        if cw == LANES {
            gather_delta_gamma(strip, sn, dn, |i| {
                plane[i * stride + x0..][..LANES].try_into().unwrap()
            });
        } else {
            gather_delta_gamma(strip, sn, dn, |i| {
                let mut v = [0.0; LANES];
                v[..cw].copy_from_slice(&plane[i * stride + x0..][..cw]);
                v
            });
        }
        if cw == LANES {
            beta_alpha(strip, sn, dn, |k, v| {
                plane[k * stride + x0..][..LANES].copy_from_slice(v)
            });
        } else {
            beta_alpha(strip, sn, dn, |k, v| {
                plane[k * stride + x0..][..cw].copy_from_slice(&v[..cw])
            });
        }
        x0 += LANES;
    }
}

/// A strip gathered interleaved (low row i at `w[2i]`, high row i at `w[2i + 1]`,
/// `row(k)` the plane's row k), scaled, with δ and γ lifted as it goes: one pass
/// in place of three over a strip that does not fit in L1. Each sample gets the
/// same operations in the same order as scaling, the low step (δ), the high (γ):
/// low row i is final for δ once high rows i − 1 and i are scaled, high row i − 1
/// for γ once low rows i − 1 and i are. Needs `dn >= 1` and `sn` being `dn` or
/// `dn + 1` (a column of two or more).
#[inline(always)]
fn gather_delta_gamma(
    w: &mut [[f32; LANES]],
    sn: usize,
    dn: usize,
    row: impl Fn(usize) -> [f32; LANES],
) {
    let (d, g) = (-DELTA, -GAMMA);
    let scaled = |k: usize, s: f32| row(k).map(|x| x * s);
    let w = &mut w[..sn + dn];
    let mut h0 = scaled(sn, TWO_INV_K);
    let mut l0 = scaled(0, K);
    for k in 0..LANES {
        l0[k] += (h0[k] + h0[k]) * d;
    }
    for i in 1..dn {
        let h1 = scaled(sn + i, TWO_INV_K);
        let mut l1 = scaled(i, K);
        for k in 0..LANES {
            l1[k] += (h0[k] + h1[k]) * d;
            h0[k] += (l0[k] + l1[k]) * g;
        }
        w[2 * i - 2] = l0;
        w[2 * i - 1] = h0;
        (l0, h0) = (l1, h1);
    }
    // (l0, h0): low and high row dn − 1.
    if sn > dn {
        let mut l1 = scaled(dn, K);
        for k in 0..LANES {
            l1[k] += h0[k] * (d + d);
            h0[k] += (l0[k] + l1[k]) * g;
        }
        w[2 * dn] = l1;
    } else {
        for k in 0..LANES {
            h0[k] += l0[k] * (g + g);
        }
    }
    w[2 * dn - 2] = l0;
    w[2 * dn - 1] = h0;
}

/// β then α (the low step, then the high) in one pass over the strip, as in
/// `gather_delta_gamma`, each finished row k handed to `put(k, row)` (k from 0 up).
#[inline(always)]
fn beta_alpha(w: &[[f32; LANES]], sn: usize, dn: usize, mut put: impl FnMut(usize, &[f32; LANES])) {
    let (b, a) = (-BETA, -ALPHA);
    let w = &w[..sn + dn];
    let mut h0 = w[1];
    let mut l0 = w[0];
    for k in 0..LANES {
        l0[k] += (h0[k] + h0[k]) * b;
    }
    for i in 1..dn {
        let h1 = w[2 * i + 1];
        let mut l1 = w[2 * i];
        for k in 0..LANES {
            l1[k] += (h0[k] + h1[k]) * b;
            h0[k] += (l0[k] + l1[k]) * a;
        }
        put(2 * i - 2, &l0);
        put(2 * i - 1, &h0);
        (l0, h0) = (l1, h1);
    }
    if sn > dn {
        let mut l1 = w[2 * dn];
        for k in 0..LANES {
            l1[k] += h0[k] * (b + b);
            h0[k] += (l0[k] + l1[k]) * a;
        }
        put(2 * dn - 2, &l0);
        put(2 * dn - 1, &h0);
        put(2 * dn, &l1);
    } else {
        for k in 0..LANES {
            h0[k] += l0[k] * (a + a);
        }
        put(2 * dn - 2, &l0);
        put(2 * dn - 1, &h0);
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
    fn emitted_samples_are_idwt97s() {
        for (seed, &(w, h)) in [
            (1, 2),
            (2, 2),
            (3, 3),
            (7, 2),
            (17, 9),
            (33, 31),
            (40, 3),
            (64, 65),
        ]
        .iter()
        .enumerate()
        {
            for levels in 0..=6 {
                let input = noise(w * h, seed as u32 * 5 + levels);
                let mut want = input.clone();
                idwt97(&mut want, w, h, levels);
                let mut got = vec![f32::NAN; w * h];
                let mut plane = input;
                idwt97_emit(&mut plane, w, h, levels, |y, samples| {
                    got[y * w..(y + 1) * w].copy_from_slice(samples)
                });
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{w}x{h}, {levels} levels");
            }
        }
    }

    /// A plane's last-level high bands as `LastBands`, checking that their rows
    /// are asked for in order.
    struct PlaneBands {
        bands: [Vec<f32>; 3],
        widths: [usize; 3],
        loaded: usize,
    }

    impl PlaneBands {
        /// Notes that row `i` is asked for, checking the order.
        fn ask(&mut self, i: usize) {
            assert!(
                i + 1 >= self.loaded,
                "row {i} asked for after row {}",
                self.loaded - 1
            );
            self.loaded = i + 1;
        }

        /// Row `i` of band `b` (0 HL, 1 LH, 2 HH).
        fn band(&self, b: usize, i: usize) -> Option<&[f32]> {
            let w = self.widths[b];
            self.bands[b].get(i * w..)?.get(..w)
        }
    }

    impl LastBands<f32> for PlaneBands {
        fn hl(&mut self, i: usize) -> Option<&[f32]> {
            self.ask(i);
            self.band(0, i)
        }

        fn lh_hh(&mut self, i: usize) -> Option<(&[f32], &[f32])> {
            self.ask(i);
            Some((self.band(1, i)?, self.band(2, i)?))
        }
    }

    #[test]
    fn band_rows_give_idwt97s() {
        for (seed, &(w, h)) in [(1, 2), (2, 2), (3, 3), (7, 2), (17, 9), (33, 31), (64, 65)]
            .iter()
            .enumerate()
        {
            for levels in 1..=6 {
                let input = noise(w * h, seed as u32 * 3 + levels);
                let mut want = input.clone();
                idwt97(&mut want, w, h, levels);
                let (sw, sh) = (
                    res_size(w, levels, levels - 1),
                    res_size(h, levels, levels - 1),
                );
                let band = |x0: usize, y0: usize, bw: usize, bh: usize| -> Vec<f32> {
                    (0..bh)
                        .flat_map(|y| input[(y0 + y) * w + x0..][..bw].to_vec())
                        .collect()
                };
                let mut ll = band(0, 0, sw, sh);
                let mut bands = PlaneBands {
                    bands: [
                        band(sw, 0, w - sw, sh),
                        band(0, sh, sw, h - sh),
                        band(sw, sh, w - sw, h - sh),
                    ],
                    widths: [w - sw, sw, w - sw],
                    loaded: 0,
                };
                let mut got = vec![f32::NAN; w * h];
                assert!(idwt97_bands(
                    &mut ll,
                    w,
                    h,
                    levels,
                    &mut bands,
                    |y, samples| { got[y * w..(y + 1) * w].copy_from_slice(samples) }
                ));
                let same = got
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
