//! The reversible 5/3 synthesis of JPEG 2000 (ITU-T T.800 F.3, origin 0), on one
//! component's plane with its subbands laid out as openjp2 lays them out: each
//! resolution's low band in the top-left corner of the next, L columns before H
//! columns, L rows above H rows. Horizontal synthesis of every row, then vertical,
//! per level, as openjp2 does (the rounding makes the order matter).
//!
//! The lower levels go plane → scratch plane → plane, a plane of the last level's
//! low band only. The last, full-resolution level is streamed: its subbands' rows
//! come from `LastBands` as they are needed, are synthesised horizontally into a
//! handful of line buffers, and each output row goes to the caller as soon as it is
//! final, so that the caller converts it to samples while it is in cache and no
//! full-size plane is written or read.

use super::dwt97::res_size;

/// One-dimensional 5/3 synthesis (F.3.8, origin even) of `low` (⌈n/2⌉) and `high`
/// (⌊n/2⌋) into `out` (n), in one pass: each pair of samples from the even sample
/// before it (carried) and the one after it, the lifting done on the deinterleaved
/// lines (four pairs at a time with simd128) and only the results interleaved.
fn syn53(low: &[i32], high: &[i32], out: &mut [i32]) {
    let n = out.len();
    if n == 1 {
        out[0] = low[0];
        return;
    }
    let (nl, nh) = (low.len(), high.len());
    // Even sample k: x[2k] = y[2k] - floor((y[2k-1] + y[2k+1] + 2) / 4), with y[-1]
    // = y[1] and, for n odd, y[n] = y[n-2].
    let even = |k: usize| {
        let (a, b) = (high[k.max(1) - 1], high[k.min(nh - 1)]);
        low[k].wrapping_sub(a.wrapping_add(b).wrapping_add(2) >> 2)
    };
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let k0 = simd::syn(low, high, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let k0 = 0;
    // Odd sample k: x[2k+1] = y[2k+1] + floor((x[2k] + x[2k+2]) / 2), with, for n
    // even, x[n] = x[n-2].
    let mut e = even(k0);
    for k in k0..nh {
        let e1 = if k + 1 < nl { even(k + 1) } else { e };
        out[2 * k] = e;
        out[2 * k + 1] = high[k].wrapping_add(e.wrapping_add(e1) >> 1);
        e = e1;
    }
    if nl > nh {
        out[n - 1] = e;
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// `super::syn53` four pairs at a time from the start, as far as the next four
    /// even samples are inside the lines (`low` and `high` hold ⌈n/2⌉ and ⌊n/2⌋,
    /// n ≥ 2, `out` n); returns how many pairs (k) it wrote, `out[..2k]`.
    #[inline(always)]
    pub(super) fn syn(low: &[i32], high: &[i32], out: &mut [i32]) -> usize {
        let nh = high.len().min(low.len()).min(out.len() / 2);
        if nh < 8 {
            return 0;
        }
        let two = i32x4_splat(2);
        // x[2k..2k+8 step 2] from y[2k], y[2k-1] and y[2k+1] four at a time.
        let even =
            |l: v128, a: v128, b: v128| i32x4_sub(l, i32x4_shr(i32x4_add(i32x4_add(a, b), two), 2));
        let load = |x: &[i32], k: usize| {
            // SAFETY: every caller has k + 4 ≤ x.len() (see below).
            unsafe { v128_load(x.as_ptr().add(k) as *const v128) }
        };
        // The first four even samples, y[-1] = y[1]: high[0] in front of high[0..3].
        let h = load(high, 0);
        let mut e = even(load(low, 0), i32x4_shuffle::<0, 0, 1, 2>(h, h), h);
        let mut k = 0;
        // Each step needs high[k + 3..k + 8] and low[k + 4..k + 8]: k + 8 ≤ nh ≤ both.
        while k + 8 <= nh {
            let e_next = even(load(low, k + 4), load(high, k + 3), load(high, k + 4));
            let e1 = i32x4_shuffle::<1, 2, 3, 4>(e, e_next);
            let o = i32x4_add(load(high, k), i32x4_shr(i32x4_add(e, e1), 1));
            // SAFETY: 2k + 8 ≤ 2nh ≤ out.len().
            unsafe {
                let d = out.as_mut_ptr().add(2 * k) as *mut v128;
                v128_store(d, i32x4_shuffle::<0, 4, 1, 5>(e, o));
                v128_store(d.add(1), i32x4_shuffle::<2, 6, 3, 7>(e, o));
            }
            e = e_next;
            k += 4;
        }
        k
    }
}

/// The even output row of the vertical step: `l - floor((a + b + 2) / 4)`.
#[inline(always)]
fn even_row(out: &mut [i32], l: &[i32], a: &[i32], b: &[i32]) {
    for (((o, &l), &a), &b) in out.iter_mut().zip(l).zip(a).zip(b) {
        *o = l.wrapping_sub(a.wrapping_add(b).wrapping_add(2) >> 2);
    }
}

/// The odd output row of the vertical step: `h + floor((e0 + e1) / 2)`.
#[inline(always)]
fn odd_row(out: &mut [i32], h: &[i32], e0: &[i32], e1: &[i32]) {
    for (((o, &h), &e0), &e1) in out.iter_mut().zip(h).zip(e0).zip(e1) {
        *o = h.wrapping_add(e0.wrapping_add(e1) >> 1);
    }
}

/// Vertical synthesis of `n` rows (`nl` low over the high ones) of `src` into `dst`,
/// both with row stride `stride`, `wr` columns.
fn vert53(src: &[i32], dst: &mut [i32], stride: usize, wr: usize, n: usize, nl: usize) {
    let row = |i: usize| &src[i * stride..i * stride + wr];
    if n == 1 {
        dst[..wr].copy_from_slice(row(0));
        return;
    }
    let nh = n - nl;
    let low = |k: usize| row(k);
    let high = |k: usize| row(nl + k);
    for k in 0..nl {
        let (a, b) = (high(k.max(1) - 1), high(k.min(nh - 1)));
        even_row(&mut dst[2 * k * stride..2 * k * stride + wr], low(k), a, b);
    }
    for k in 0..nh {
        let o = 2 * k + 1;
        let (before, after) = dst.split_at_mut(o * stride);
        let even = &before[(o - 1) * stride..(o - 1) * stride + wr];
        let (out, rest) = after.split_at_mut(stride.min(after.len()));
        let next = if o + 1 < n { &rest[..wr] } else { even };
        odd_row(&mut out[..wr], high(k), even, next);
    }
}

/// The last decomposition level's HL, LH and HH bands, row by row, for
/// `Rows53` (`T` = i32) and `dwt97::idwt97_bands` (f32), from wherever they are
/// kept (`ht53` decodes their code-blocks as their rows are asked for). None when
/// they cannot be had.
pub(super) trait LastBands<T> {
    /// Row `k` of the HL band: the high half of the level's L row k.
    fn hl(&mut self, k: usize) -> Option<&[T]>;
    /// Row `k` of the LH and HH bands: the low and high halves of its H row k.
    fn lh_hh(&mut self, k: usize) -> Option<(&[T], &[T])>;
}

/// The inverse 5/3 transform of a `width` × `height` component with `levels`
/// decompositions, its output rows pulled top to bottom (`next_row`), so that a
/// caller can combine several components' rows while they are in cache. `plane`
/// holds all of the component but the last level's HL, LH and HH bands (`last`), as
/// the subband layout of resolution `levels − 1` (its width is the row stride), or,
/// with no levels, the whole component; it is left holding intermediate values.
pub(super) struct Rows53<'a, L: LastBands<i32>> {
    plane: &'a [i32],
    last: &'a mut L,
    width: usize,
    height: usize,
    /// 0 when the plane is the whole component.
    levels: u32,
    /// The plane's row stride.
    stride: usize,
    /// The last level's L rows (its H rows are the other height − nl).
    nl: usize,
    /// The next output row.
    y: usize,
    /// H rows k and k + 1 (as far as they exist), the low row, even rows k and
    /// k + 1, and the odd row, where 2k + 1 is the last row given out or next.
    h0: Vec<i32>,
    h1: Vec<i32>,
    lo: Vec<i32>,
    e0: Vec<i32>,
    e1: Vec<i32>,
    odd: Vec<i32>,
}

impl<'a, L: LastBands<i32>> Rows53<'a, L> {
    /// Synthesises the levels below the last one in `plane`, whole: rows (L | H)
    /// into a scratch plane, then columns back.
    pub(super) fn new(
        plane: &'a mut [i32],
        width: usize,
        height: usize,
        levels: u32,
        last: &'a mut L,
    ) -> Self {
        // Nothing to synthesise in an empty component.
        let levels = if width > 0 && height > 0 { levels } else { 0 };
        let (stride, top_low_h) = match levels {
            0 => (width, height),
            _ => (
                res_size(width, levels, levels - 1),
                res_size(height, levels, levels - 1),
            ),
        };
        let mut tmp = Vec::new();
        for r in 1..levels {
            let (wr, hr) = (res_size(width, levels, r), res_size(height, levels, r));
            let (lw, lh) = (
                res_size(width, levels, r - 1),
                res_size(height, levels, r - 1),
            );
            if tmp.len() < hr * stride {
                // Only grown: every element read below is written first.
                tmp.resize(top_low_h * stride, 0);
            }
            for y in 0..hr {
                let row = &plane[y * stride..y * stride + wr];
                syn53(
                    &row[..lw],
                    &row[lw..],
                    &mut tmp[y * stride..y * stride + wr],
                );
            }
            vert53(&tmp, plane, stride, wr, hr, lh);
        }
        Rows53 {
            plane,
            last,
            width,
            height,
            levels,
            stride,
            nl: top_low_h,
            y: 0,
            h0: Vec::new(),
            h1: Vec::new(),
            lo: Vec::new(),
            e0: Vec::new(),
            e1: vec![0; width],
            odd: vec![0; width],
        }
    }

    /// Row `y` of the last level before its vertical step, synthesised horizontally
    /// into `out`: L row y from the plane's row and the HL band's, or, for y ≥ nl,
    /// H row y − nl from the LH and HH bands'.
    fn hsyn(&mut self, y: usize, which: Line) -> Option<()> {
        let stride = self.stride;
        let (low, high) = if y < self.nl {
            (&self.plane[y * stride..(y + 1) * stride], self.last.hl(y)?)
        } else {
            self.last.lh_hh(y - self.nl)?
        };
        let out = match which {
            Line::H0 => &mut self.h0,
            Line::H1 => &mut self.h1,
            Line::Lo => &mut self.lo,
        };
        out.resize(self.width, 0);
        syn53(low, high, out);
        Some(())
    }

    /// The next output row (the caller asks for `height` of them); None when the
    /// last level's bands cannot be had.
    pub(super) fn next_row(&mut self) -> Option<&[i32]> {
        let (y, w, n, nl) = (self.y, self.width, self.height, self.nl);
        if y >= n {
            return None;
        }
        self.y += 1;
        if self.levels == 0 {
            return self.plane.get(y * w..(y + 1) * w);
        }
        if n == 1 {
            self.hsyn(0, Line::Lo)?;
            return Some(&self.lo);
        }
        if y == 0 {
            // x[0] = L[0] - floor((H[0] + H[0] + 2) / 4) (H[-1] mirrors H[0]).
            self.hsyn(nl, Line::H0)?;
            self.hsyn(0, Line::Lo)?;
            self.e0.resize(w, 0);
            even_row(&mut self.e0, &self.lo, &self.h0, &self.h0);
            return Some(&self.e0);
        }
        if y % 2 == 0 {
            // Even row 2k + 2 came with odd row 2k + 1.
            core::mem::swap(&mut self.e0, &mut self.e1);
            core::mem::swap(&mut self.h0, &mut self.h1);
            return Some(&self.e0);
        }
        let k = y / 2;
        if k + 1 < nl {
            // x[2k+2] = L[k+1] - floor((H[k] + H[k+1] + 2) / 4), H[nh] mirrors H[nh-1].
            if k + 1 < n - nl {
                self.hsyn(nl + k + 1, Line::H1)?;
            } else {
                self.h1.clone_from(&self.h0);
            }
            self.hsyn(k + 1, Line::Lo)?;
            even_row(&mut self.e1, &self.lo, &self.h0, &self.h1);
            odd_row(&mut self.odd, &self.h0, &self.e0, &self.e1);
        } else {
            // n even: the last odd row mirrors x[n] to x[n-2].
            odd_row(&mut self.odd, &self.h0, &self.e0, &self.e0);
        }
        Some(&self.odd)
    }
}

/// Which of `Rows53`'s lines `hsyn` fills.
enum Line {
    H0,
    H1,
    Lo,
}
