//! The MagSgn step of the HTJ2K cleanup pass with wasm simd128, after the design of
//! OpenJPH's `ojph_block_decoder_wasm.cpp`: each quad's four samples are decoded at
//! once (their MagSgn bit offsets by a prefix sum, their bits gathered with byte
//! swizzles), with no branch per sample. `ht_block::decode_codeblock32` calls it in
//! place of its scalar MagSgn loop in simd128 builds; the VLC/MEL step before it and
//! the refinement passes after it stay shared. Its output equals the scalar loop's
//! for every block, malformed ones included: the MagSgn bytes are unstuffed the way
//! the scalar reader does it (a stuffed byte's top bit ORed into the next byte's
//! first), and each sample's sign is its first MagSgn bit, as there.
//!
//! Copyright (c) 2019, Aous Naman; Copyright (c) 2019, Kakadu Software Pty Ltd;
//! Copyright (c) 2019, The University of New South Wales, Australia (OpenJPH), and
//! the openjph-core authors. BSD-2-Clause: redistribution and use in source and
//! binary forms, with or without modification, are permitted provided that (1)
//! redistributions of source code retain this copyright notice, this list of
//! conditions and the following disclaimer, and (2) redistributions in binary form
//! reproduce it in the documentation and/or other materials provided with the
//! distribution. THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND
//! CONTRIBUTORS "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES ARE DISCLAIMED.

use core::arch::wasm32::{
    i16x8_mul, i32x4_add, i32x4_mul, i32x4_ne, i32x4_shl, i32x4_shuffle, i32x4_sub, i8x16,
    i8x16_add, i8x16_sub, i8x16_swizzle, u32x4, u32x4_extract_lane, u32x4_shr, u32x4_splat,
    u8x16_splat, v128, v128_and, v128_bitselect, v128_load, v128_or, v128_store64_lane,
};

/// Bytes of all-ones after the unstuffed MagSgn bits: each quad reads 32 bytes from
/// its bit position's byte, and everything past the segment reads as ones.
const PAD: usize = 40;

/// Unstuffs the MagSgn segment `src` into `out` (at least `src.len() + PAD` bytes,
/// all 0xFF on entry): bit i of the stream is bit i % 8 of byte i / 8, and past the
/// segment every bit is one, as the scalar reader feeds 0xFF bytes there. A byte
/// after a 0xFF gives 7 bits, its whole value ORed in at the stream position (so a
/// malformed stuffed bit lands on the next byte's first bit, as in the scalar reader).
fn unstuff(src: &[u8], out: &mut [u8]) {
    let mut acc: u64 = 0;
    let mut cnt: u32 = 0; // bits in acc, below 32 between steps
    let mut stuffed = false; // the previous byte was 0xFF
    let mut o = 0usize;
    let mut chunks = src.chunks_exact(4);
    for c in &mut chunks {
        let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let x = !w; // a zero byte of x is a 0xFF byte of w
        if !stuffed && x.wrapping_sub(0x0101_0101) & !x & 0x8080_8080 == 0 {
            acc |= u64::from(w) << cnt;
            cnt += 32;
        } else {
            for &b in c {
                acc |= u64::from(b) << cnt;
                cnt += 8 - u32::from(stuffed);
                stuffed = b == 0xFF;
            }
        }
        if cnt >= 32 {
            out[o..o + 4].copy_from_slice(&(acc as u32).to_le_bytes());
            o += 4;
            acc >>= 32;
            cnt -= 32;
        }
    }
    for &b in chunks.remainder() {
        acc |= u64::from(b) << cnt;
        cnt += 8 - u32::from(stuffed);
        stuffed = b == 0xFF;
    }
    // At most 32 + 3 × 8 bits left; ones above them.
    acc |= !0u64 << cnt;
    out[o..o + 8].copy_from_slice(&acc.to_le_bytes());
}

/// Bytes `idx` (0..32; larger → 0) of the 32 bytes `lo`, `hi`.
#[inline(always)]
fn gather(lo: v128, hi: v128, idx: v128) -> v128 {
    v128_or(
        i8x16_swizzle(lo, idx),
        i8x16_swizzle(hi, i8x16_sub(idx, u8x16_splat(16))),
    )
}

/// One quad: `inf` its VLC entry (significance in bits 4–7, e_1 in 8–11, e_k in
/// 12–15, sample order: column 0 rows 0, 1, then column 1 rows 0, 1), `u` its U_q.
/// Returns the four decoded samples (0 where insignificant) and their v_n values,
/// and moves `bitpos` past the MagSgn bits used.
#[inline(always)]
fn decode_quad(inf: u32, u: u32, bits: &[u8], bitpos: &mut usize, p: u32) -> (v128, v128) {
    let zero = u32x4_splat(0);
    let one = u32x4_splat(1);
    let infv = u32x4_splat(inf);
    let sig = i32x4_ne(v128_and(infv, u32x4(0x10, 0x20, 0x40, 0x80)), zero);
    let ek = i32x4_ne(v128_and(infv, u32x4(0x1000, 0x2000, 0x4000, 0x8000)), zero);
    let e1 = i32x4_ne(v128_and(infv, u32x4(0x100, 0x200, 0x400, 0x800)), zero);
    // m_n = U_q − e_k bits per significant sample (ek lanes are −1).
    let m = v128_and(i32x4_add(u32x4_splat(u), ek), sig);
    let inc = i32x4_add(m, i32x4_shuffle::<4, 0, 1, 2>(m, zero));
    let inc = i32x4_add(inc, i32x4_shuffle::<4, 4, 0, 1>(inc, zero));
    let ex = i32x4_shuffle::<4, 0, 1, 2>(inc, zero); // each sample's first bit
    let total = u32x4_extract_lane::<3>(inc);

    let off = *bitpos >> 3;
    let (lo, hi) = match bits.get(off..off + 32) {
        // SAFETY: the slice holds the 32 bytes loaded; v128 loads need no alignment.
        Some(s) => unsafe {
            (
                v128_load(s.as_ptr() as *const v128),
                v128_load(s.as_ptr().add(16) as *const v128),
            )
        },
        // Past the unstuffed segment and its padding: all ones (see `unstuff`).
        None => (u32x4_splat(!0), u32x4_splat(!0)),
    };
    let q = i32x4_add(ex, u32x4_splat((*bitpos & 7) as u32));
    let b = u32x4_shr(q, 3);
    let r = v128_and(q, u32x4_splat(7));
    // x1: bytes b+1..b+4 of each lane; x0: byte b. window = (x0 | x1 << 8) >> r,
    // as x1 · 2^(8−r) | x0 · 2^(7−r) >> 7 (no per-lane shifts in simd128).
    let bb = i8x16_swizzle(b, i8x16(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
    let idx1 = i8x16_add(bb, u32x4_splat(0x0403_0201));
    let x1 = gather(lo, hi, idx1);
    let x0 = gather(lo, hi, v128_or(b, u32x4_splat(0xFFFF_FF00)));
    let pow2 = i8x16(-128, 64, 32, 16, 8, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    let mp = i8x16_swizzle(pow2, v128_or(r, u32x4_splat(0xFFFF_FF00)));
    let w = v128_or(
        i32x4_shl(i32x4_mul(x1, mp), 1),
        u32x4_shr(i16x8_mul(x0, mp), 7),
    );
    // 1 << m_n (shift counts wrap as the scalar decoder's do in release builds).
    let pow = v128_bitselect(
        u32x4_splat(1u32.wrapping_shl(u.wrapping_sub(1))),
        u32x4_splat(1u32.wrapping_shl(u)),
        ek,
    );
    let v_n = v128_or(
        v128_or(v128_and(w, i32x4_sub(pow, one)), v128_and(pow, e1)),
        one,
    );
    let val = v128_or(
        i32x4_shl(w, 31),
        i32x4_shl(i32x4_add(v_n, u32x4_splat(2)), p - 1),
    );
    *bitpos += total as usize;
    (v128_and(val, sig), v128_and(v_n, sig))
}

/// Stores a quad's samples (`out` as from `decode_quad`) at `at` (row y) and
/// `at + stride` (row y + 1), two columns or, at an odd block width's last quad, one.
#[inline(always)]
fn store_quad(decoded: &mut [u32], at: usize, stride: usize, out: v128, two: bool) -> bool {
    let rows = i32x4_shuffle::<0, 2, 1, 3>(out, out); // row 0 pair, row 1 pair
    if two {
        let (Some(r0), Some(r1)) = (
            decoded.get_mut(at..at + 2).map(|s| s.as_mut_ptr()),
            decoded
                .get_mut(at + stride..at + stride + 2)
                .map(|s| s.as_mut_ptr()),
        ) else {
            return false;
        };
        // SAFETY: each pointer starts two u32 (8 bytes) inside `decoded`; the 64-bit
        // lane stores need no alignment.
        unsafe {
            v128_store64_lane::<0>(rows, r0 as *mut u64);
            v128_store64_lane::<1>(rows, r1 as *mut u64);
        }
    } else {
        let Some(d) = decoded.get_mut(at + stride) else {
            return false;
        };
        *d = u32x4_extract_lane::<2>(rows);
        decoded[at] = u32x4_extract_lane::<0>(rows);
    }
    true
}

/// Step 2 of `decode_codeblock32` (the MagSgn segment `magsgn`), with the quads'
/// VLC entries and u_q in `scratch[..quads_len]` (row stride `sstr`) as step 1 left
/// them. Returns false where a quad's U_q exceeds `mmsbp2` (or the block does not fit
/// `decoded`). `scratch` is borrowed past `quads_len` for the unstuffed bits and
/// given back at that length.
#[allow(clippy::too_many_arguments)]
pub(super) fn decode_magsgn(
    scratch: &mut Vec<u16>,
    quads_len: usize,
    sstr: usize,
    magsgn: &[u8],
    decoded: &mut [u32],
    width: u32,
    height: u32,
    stride: usize,
    p: u32,
    mmsbp2: u32,
) -> bool {
    let n = magsgn.len() + PAD;
    scratch.resize(quads_len + n.div_ceil(2), 0);
    let (quads, tail) = scratch.split_at_mut(quads_len);
    // SAFETY: u8 has alignment 1 and every bit pattern is a valid u8; the view covers
    // exactly the bytes of `tail`, which it borrows mutably for its lifetime.
    let bits: &mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(tail.as_mut_ptr() as *mut u8, tail.len() * 2) };
    bits.fill(0xFF);
    unstuff(magsgn, bits);
    let ok = decode_rows(quads, bits, sstr, decoded, width, height, stride, p, mmsbp2);
    scratch.truncate(quads_len);
    ok
}

#[allow(clippy::too_many_arguments)]
fn decode_rows(
    quads: &[u16],
    bits: &[u8],
    sstr: usize,
    decoded: &mut [u32],
    width: u32,
    height: u32,
    stride: usize,
    p: u32,
    mmsbp2: u32,
) -> bool {
    let width = width as usize;
    let nq = width.div_ceil(2);
    // v_n of the quad row above, as the scalar decoder keeps them: entry q is
    // v_n(row 1, column 2q − 1) | v_n(row 1, column 2q).
    let mut vn = [0u32; 512 + 4];
    if nq >= vn.len() {
        return false;
    }
    let mut bitpos = 0usize;
    for row in 0..(height as usize).div_ceil(2) {
        let Some(qrow) = quads.get(row * sstr..row * sstr + 2 * nq) else {
            return false;
        };
        let base = 2 * row * stride;
        let mut prev_v3 = 0u32;
        for q in 0..nq {
            let inf = u32::from(qrow[2 * q]);
            let u_q = u32::from(qrow[2 * q + 1]);
            let u = if row == 0 {
                u_q
            } else {
                let g = inf & 0xF0;
                let kappa = if g & g.wrapping_sub(0x10) != 0 {
                    31 - ((vn[q] | vn[q + 1]) | 2).leading_zeros()
                } else {
                    1
                };
                u_q + kappa
            };
            if u > mmsbp2 {
                return false;
            }
            let (out, v) = if inf & 0xF0 == 0 {
                (u32x4_splat(0), u32x4_splat(0))
            } else {
                decode_quad(inf, u, bits, &mut bitpos, p)
            };
            vn[q] = prev_v3 | u32x4_extract_lane::<1>(v);
            prev_v3 = u32x4_extract_lane::<3>(v);
            if !store_quad(decoded, base + 2 * q, stride, out, 2 * q + 1 < width) {
                return false;
            }
        }
        vn[nq] = prev_v3;
    }
    true
}
