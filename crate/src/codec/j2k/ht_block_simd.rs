//! The MagSgn step of the HTJ2K cleanup pass with wasm simd128, after the design of
//! OpenJPH's `ojph_block_decoder_wasm.cpp`: each quad's four samples are decoded at
//! once (their MagSgn bit offsets by a prefix sum, their bits gathered with byte
//! swizzles), with no branch per sample. Quads go two at a time: in 16-bit lanes where
//! both quads' U_q are at most 15 (OpenJPH's `decode_two_quad16`, which it takes per
//! block, by the block's bound), else one by one in 32-bit lanes (`decode_one_quad32`).
//! `ht_block::decode_codeblock32` calls it (`decode_cleanup`) in place of its VLC/MEL
//! step and scalar MagSgn loop in simd128 builds: it runs the shared VLC/MEL decoder
//! (`ht_block::VlcDecoder`) a quad pair at a time, each pair of the next quad row
//! beside a MagSgn pair of this one, so that the VLC step's chain of dependent look-ups
//! and the MagSgn step's vector work overlap; the refinement passes after it stay
//! shared. Its output equals the scalar steps' for every block, malformed ones
//! included: the MagSgn bytes are unstuffed the way the scalar reader does it (a
//! stuffed byte's top bit ORed into the next byte's first), and each sample's sign is
//! its first MagSgn bit, as there.
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

use super::ht_block::{vlc_words, vlc_words_len, Mel, VlcDecoder};
use core::arch::wasm32::{
    i16x8_add, i16x8_mul, i16x8_ne, i16x8_shl, i16x8_sub, i32x4_add, i32x4_extend_high_i16x8,
    i32x4_extend_low_i16x8, i32x4_mul, i32x4_ne, i32x4_shl, i32x4_shuffle, i32x4_sub, i64x2_shl,
    i8x16, i8x16_add, i8x16_shuffle, i8x16_sub, i8x16_swizzle, u16x8, u16x8_extract_lane,
    u16x8_shr, u16x8_splat, u32x4, u32x4_extend_high_u16x8, u32x4_extend_low_u16x8,
    u32x4_extract_lane, u32x4_shr, u32x4_splat, u8x16_splat, v128, v128_and, v128_bitselect,
    v128_load, v128_or, v128_store,
};

/// Bytes of all-ones after the unstuffed MagSgn bits: each quad reads 32 bytes from
/// its bit position's byte, and everything past the segment reads as ones.
const PAD: usize = 40;

/// One byte of `unstuff`, one at a time: its 8 bits (7 after a 0xFF) onto `acc`'s
/// `cnt`, and 32 bits out at `out[o..]` whenever there are that many.
#[inline(always)]
fn byte(b: u8, acc: &mut u64, cnt: &mut u32, stuffed: &mut bool, out: &mut [u8], o: &mut usize) {
    *acc |= u64::from(b) << *cnt;
    *cnt += 8 - u32::from(*stuffed);
    *stuffed = b == 0xFF;
    if *cnt >= 32 {
        out[*o..*o + 4].copy_from_slice(&(*acc as u32).to_le_bytes());
        *o += 4;
        *acc >>= 32;
        *cnt -= 32;
    }
}

/// Unstuffs the MagSgn segment `src` into `out` (at least `src.len() + PAD` bytes):
/// bit i of the stream is bit i % 8 of byte i / 8, and past the segment every bit is
/// one, as the scalar reader feeds 0xFF bytes there. A byte after a 0xFF gives 7 bits,
/// its whole value ORed in at the stream position (so a malformed stuffed bit lands on
/// the next byte's first bit, as in the scalar reader). Eight bytes with no 0xFF among
/// them (nor before them) go at once.
fn unstuff(src: &[u8], out: &mut [u8]) {
    let mut acc: u64 = 0;
    let mut cnt: u32 = 0; // bits in acc, below 32 between steps
    let mut stuffed = false; // the previous byte was 0xFF
    let mut o = 0usize;
    let mut chunks = src.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let x = !w; // a zero byte of x is a 0xFF byte of w
        if !stuffed && x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080 == 0 {
            // 64 bits: the stream's next 8 bytes are acc's cnt bits and w's first
            // 64 − cnt; w's last cnt bits stay.
            out[o..o + 8].copy_from_slice(&(acc | w << cnt).to_le_bytes());
            o += 8;
            acc = if cnt == 0 { 0 } else { w >> (64 - cnt) };
        } else {
            for &b in c {
                byte(b, &mut acc, &mut cnt, &mut stuffed, out, &mut o);
            }
        }
    }
    for &b in chunks.remainder() {
        byte(b, &mut acc, &mut cnt, &mut stuffed, out, &mut o);
    }
    // At most 31 bits left; ones above them, and after them.
    acc |= !0u64 << cnt;
    out[o..o + 8].copy_from_slice(&acc.to_le_bytes());
    out[o + 8..].fill(0xFF);
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
    let s = *bitpos & 7;
    let q = i32x4_add(ex, u32x4_splat(s as u32));
    let b = u32x4_shr(q, 3);
    let r = v128_and(q, u32x4_splat(7));
    // x1: bytes b+1..b+4 of each lane; x0: byte b. window = (x0 | x1 << 8) >> r,
    // as x1 · 2^(8−r) | x0 · 2^(7−r) >> 7 (no per-lane shifts in simd128).
    let bb = i8x16_swizzle(b, i8x16(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
    let idx1 = i8x16_add(bb, u32x4_splat(0x0403_0201));
    let idx0 = v128_or(b, u32x4_splat(0xFFFF_FF00));
    // Every byte used below 16 when s + total ≤ 95 (then b + 4 ≤ 15): one vector.
    let (x1, x0) = if s + total as usize <= 95 {
        let lo = load16(bits, off);
        (i8x16_swizzle(lo, idx1), i8x16_swizzle(lo, idx0))
    } else {
        let (lo, hi) = load32(bits, off);
        (gather(lo, hi, idx1), gather(lo, hi, idx0))
    };
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

/// Steps 1 and 2 of `decode_codeblock32`'s cleanup pass together: the VLC and MEL
/// segments (`ht_block::VlcDecoder`) and the MagSgn segment (`coded_data[..lcup −
/// scup]`), into `scratch[..quads_len]` (row stride `sstr`, as step 1 leaves it) and
/// `decoded`. The loop over a quad row's pairs decodes the next quad row's VLC pair
/// beside this row's MagSgn pair: the VLC decoding is one long chain of dependent
/// table look-ups and the MagSgn decoding mostly independent vector work, and
/// interleaved the two overlap. Returns false for a malformed block (a VLC pair that
/// makes samples outside the block significant, a U_q over `mmsbp2`, or a block that
/// does not fit `decoded`), as the two steps one after the other would. `scratch` is
/// borrowed past `quads_len` for the unstuffed VLC and MagSgn bits and given back at
/// that length.
#[allow(clippy::too_many_arguments)]
pub(super) fn decode_cleanup(
    scratch: &mut Vec<u16>,
    quads_len: usize,
    sstr: usize,
    coded_data: &[u8],
    lcup: usize,
    scup: usize,
    decoded: &mut [u32],
    width: u32,
    height: u32,
    stride: usize,
    p: u32,
    mmsbp2: u32,
) -> bool {
    let row_len = 4 * (width as usize).div_ceil(4) + 2;
    if sstr < row_len || quads_len < sstr * (height as usize).div_ceil(2) {
        return false;
    }
    let magsgn = &coded_data[..lcup - scup];
    let vlc_len = vlc_words_len(scup);
    let n = magsgn.len() + PAD;
    scratch.truncate(quads_len);
    scratch.resize(quads_len + vlc_len + n.div_ceil(2), 0);
    let (quads, tail) = scratch.split_at_mut(quads_len);
    let (vlc_tail, ms_tail) = tail.split_at_mut(vlc_len);
    // SAFETY: u8 has alignment 1 and every bit pattern is a valid u8; the view covers
    // exactly the bytes of `ms_tail`, which it borrows mutably for its lifetime.
    let bits: &mut [u8] = unsafe {
        core::slice::from_raw_parts_mut(ms_tail.as_mut_ptr() as *mut u8, ms_tail.len() * 2)
    };
    unstuff(magsgn, bits);
    let words = vlc_words(vlc_tail, coded_data, lcup, scup);
    let mut mel = Mel::new(coded_data, lcup, scup);
    let mut vlc = VlcDecoder::new(words, &mut mel, width, height);
    let rows = Rows {
        sstr,
        row_len,
        width: width as usize,
        height,
        stride,
        p,
        mmsbp2,
    };
    let ok = if p >= 17 {
        cleanup_rows::<true>(&mut vlc, quads, bits, decoded, &rows)
    } else {
        cleanup_rows::<false>(&mut vlc, quads, bits, decoded, &rows)
    };
    scratch.truncate(quads_len);
    ok
}

/// What `cleanup_rows` needs of the block.
struct Rows {
    sstr: usize,
    /// Entries of a quad row in use (its pairs' and the two sentinels).
    row_len: usize,
    width: usize,
    height: u32,
    stride: usize,
    p: u32,
    mmsbp2: u32,
}

/// The MagSgn decoding state across a block's quad rows, apart from the v_n of the
/// row above (`VnRow`): an array indexed by quad, which keeps a struct holding it in
/// memory, where these fields, apart, stay in locals.
struct MagSgn<'a> {
    bits: &'a [u8],
    bitpos: usize,
    /// v_n(row 1) of the last quad decoded in this row.
    prev_v3: u32,
}

/// v_n of the quad row above, as the scalar decoder keeps them: entry q is
/// v_n(row 1, column 2q − 1) | v_n(row 1, column 2q).
type VnRow = [u32; 512 + 4];

/// The rows of `decode_cleanup` (`HIGH`: p ≥ 17): the initial VLC row, then for each
/// quad row its MagSgn pairs, each beside the VLC pair below it.
fn cleanup_rows<const HIGH: bool>(
    vlc: &mut VlcDecoder,
    quads: &mut [u16],
    bits: &[u8],
    decoded: &mut [u32],
    r: &Rows,
) -> bool {
    let nq = r.width.div_ceil(2);
    let npairs = r.width.div_ceil(4);
    let mut ms = MagSgn {
        bits,
        bitpos: 0,
        prev_v3: 0,
    };
    let mut vn: VnRow = [0; 512 + 4];
    if nq >= vn.len() {
        return false;
    }
    if npairs == 0 {
        return true;
    }
    if !vlc.initial_row(&mut quads[..r.row_len]) {
        return false;
    }
    let nrows = (r.height as usize).div_ceil(2);
    for row in 0..nrows {
        let (done, below) = quads.split_at_mut((row + 1) * r.sstr);
        let qrow = &done[row * r.sstr..row * r.sstr + r.row_len];
        let base = 2 * row * r.stride;
        ms.prev_v3 = 0;
        // The MagSgn pair of quads `q`, `q + 1` of this row (a macro, not a closure:
        // a closure holding `ms` and `vn` kept them in memory, measured 15-26 % slower).
        macro_rules! magsgn {
            ($q:expr) => {
                magsgn_pair::<HIGH>(&mut ms, &mut vn, qrow, $q, nq, row == 0, decoded, base, r)
            };
        }
        let y = 2 * (row as u32 + 1);
        if y < r.height {
            // The next quad row's VLC pairs beside this row's MagSgn pairs.
            let Some(next) = below.get_mut(..r.row_len) else {
                return false;
            };
            let mut vrow = vlc.row(qrow, y);
            let edge_row = y + 2 > r.height;
            let (pairs, sentinel) = next.split_at_mut(4 * npairs);
            let (body, last) = pairs.split_at_mut(4 * (npairs - 1));
            // qrow[4k + 2..4k + 6]: the entries above pair k's second quad and the next
            // pair's first.
            for (k, (sp, above)) in body
                .chunks_exact_mut(4)
                .zip(qrow[2..].chunks_exact(4))
                .enumerate()
            {
                let (n1, n2) = (u32::from(above[0]), u32::from(above[2]));
                if !vlc.pair(&mut vrow, sp, n1, n2, 4 * k as u32, true, edge_row) || !magsgn!(2 * k)
                {
                    return false;
                }
            }
            let x = 4 * (npairs - 1);
            let (n1, n2) = (u32::from(qrow[x + 2]), u32::from(qrow[x + 4]));
            let two = (x + 2) < r.width;
            if !vlc.pair(&mut vrow, last, n1, n2, x as u32, two, true) || !magsgn!(2 * (npairs - 1))
            {
                return false;
            }
            sentinel.fill(0);
        } else {
            for k in 0..npairs {
                if !magsgn!(2 * k) {
                    return false;
                }
            }
        }
        vn[nq] = ms.prev_v3;
    }
    true
}

/// The MagSgn step of quads `q` and `q + 1` (if inside the block) of quad row `qrow`
/// (`first_row`: the initial one; its samples' rows start at `base` in `decoded`;
/// `vn`: the row above's v_n, updated for the next row):
/// in 16-bit lanes where both quads' U_q are at most 15, else a quad at a time in
/// 32-bit lanes. Returns false where a quad's U_q exceeds the bound or the samples do
/// not fit `decoded`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn magsgn_pair<const HIGH: bool>(
    ms: &mut MagSgn,
    vn: &mut VnRow,
    qrow: &[u16],
    q: usize,
    nq: usize,
    first_row: bool,
    decoded: &mut [u32],
    base: usize,
    r: &Rows,
) -> bool {
    let (stride, p, mmsbp2) = (r.stride, r.p, r.mmsbp2);
    let two = q + 1 < nq;
    let inf0 = u32::from(qrow[2 * q]);
    let u0 = quad_u(inf0, u32::from(qrow[2 * q + 1]), first_row, vn, q);
    if u0 > mmsbp2 {
        return false;
    }
    let (inf1, u1) = if two {
        let inf1 = u32::from(qrow[2 * q + 2]);
        let u1 = quad_u(inf1, u32::from(qrow[2 * q + 3]), first_row, vn, q + 1);
        if u1 > mmsbp2 {
            return false;
        }
        (inf1, u1)
    } else {
        (0, 1)
    };
    let (row0, row1) = if (inf0 | inf1) & 0xF0 == 0 {
        vn[q] = ms.prev_v3;
        if two {
            vn[q + 1] = 0;
        }
        ms.prev_v3 = 0;
        (u32x4_splat(0), u32x4_splat(0))
    } else if u0 > 15 || u1 > 15 {
        // A quad with U_q over 15: 32-bit lanes, a quad at a time.
        let (out0, v0) = decode_quad(inf0, u0, ms.bits, &mut ms.bitpos, p);
        vn[q] = ms.prev_v3 | u32x4_extract_lane::<1>(v0);
        ms.prev_v3 = u32x4_extract_lane::<3>(v0);
        let out1 = if two {
            let (out1, v1) = decode_quad(inf1, u1, ms.bits, &mut ms.bitpos, p);
            vn[q + 1] = ms.prev_v3 | u32x4_extract_lane::<1>(v1);
            ms.prev_v3 = u32x4_extract_lane::<3>(v1);
            out1
        } else {
            u32x4_splat(0)
        };
        (
            i32x4_shuffle::<0, 2, 4, 6>(out0, out1),
            i32x4_shuffle::<1, 3, 5, 7>(out0, out1),
        )
    } else {
        let (row0, row1, v) = decode_pair16::<HIGH>(inf0, u0, inf1, u1, ms.bits, &mut ms.bitpos, p);
        vn[q] = ms.prev_v3 | u32::from(u16x8_extract_lane::<1>(v));
        if two {
            vn[q + 1] =
                u32::from(u16x8_extract_lane::<3>(v)) | u32::from(u16x8_extract_lane::<5>(v));
            ms.prev_v3 = u32::from(u16x8_extract_lane::<7>(v));
        } else {
            ms.prev_v3 = u32::from(u16x8_extract_lane::<3>(v));
        }
        (row0, row1)
    };
    store_rows(decoded, base + 2 * q, stride, row0, row1, r.width - 2 * q)
}

/// The quad's U_q: `u_q` plus kappa (from the v_n of the quad row above, `vn`
/// entries q and q + 1) in non-initial rows, as the scalar decoder computes it.
#[inline(always)]
fn quad_u(inf: u32, u_q: u32, first_row: bool, vn: &[u32], q: usize) -> u32 {
    if first_row {
        return u_q;
    }
    // Both kappas computed, then one chosen: whether a quad has more than one
    // significant sample follows the data, a branch on it mispredicts often.
    let g = inf & 0xF0;
    let from_above = 31 - ((vn[q] | vn[q + 1]) | 2).leading_zeros();
    let kappa = if g & g.wrapping_sub(0x10) != 0 {
        from_above
    } else {
        1
    };
    u_q + kappa
}

/// Two quads (`inf0`, `u0`; `inf1`, `u1`, as for `decode_quad`) in 16-bit lanes,
/// for blocks whose U_q are at most 15 (so m_n ≤ 15 and v_n < 2^16; the values come
/// out as the 32-bit computation's; `HIGH`: p ≥ 17). Returns the samples as two
/// rows of four columns and the eight v_n (16-bit lanes, quad 0 then quad 1).
#[inline(always)]
fn decode_pair16<const HIGH: bool>(
    inf0: u32,
    u0: u32,
    inf1: u32,
    u1: u32,
    bits: &[u8],
    bitpos: &mut usize,
    p: u32,
) -> (v128, v128, v128) {
    let zero = u16x8_splat(0);
    // Lanes 0–3 quad 0, lanes 4–7 quad 1.
    let pair = |a: u32, b: u32| {
        let v = u32x4_splat(a | b << 16);
        i8x16_shuffle::<0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3>(v, v)
    };
    let infv = pair(inf0, inf1);
    let uv = pair(u0, u1);
    let sig = i16x8_ne(
        v128_and(infv, u16x8(0x10, 0x20, 0x40, 0x80, 0x10, 0x20, 0x40, 0x80)),
        zero,
    );
    let ek = i16x8_ne(
        v128_and(
            infv,
            u16x8(
                0x1000, 0x2000, 0x4000, 0x8000, 0x1000, 0x2000, 0x4000, 0x8000,
            ),
        ),
        zero,
    );
    let e1 = i16x8_ne(
        v128_and(
            infv,
            u16x8(0x100, 0x200, 0x400, 0x800, 0x100, 0x200, 0x400, 0x800),
        ),
        zero,
    );
    let e = i16x8_add(uv, ek); // U_q − e_k: 0..=15
    let m = v128_and(e, sig);
    // Inclusive prefix sum over the eight lanes: within each quad (its four lanes one
    // 64-bit lane, shifted by whole lanes), then quad 0's total onto quad 1's lanes;
    // each sample's first bit is its exclusive sum.
    let inc = i16x8_add(m, i64x2_shl(m, 16));
    let inc = i16x8_add(inc, i64x2_shl(inc, 32));
    let inc = i16x8_add(
        inc,
        i8x16_shuffle::<16, 16, 16, 16, 16, 16, 16, 16, 6, 7, 6, 7, 6, 7, 6, 7>(inc, zero),
    );
    let ex = i16x8_sub(inc, m);
    let total = u16x8_extract_lane::<7>(inc);

    let s = *bitpos & 7;
    let q = i16x8_add(ex, u16x8_splat(s as u16)); // ≤ 7 + 7 · 15
    let b = u16x8_shr(q, 3);
    let r = v128_and(q, u16x8_splat(7));
    // Per lane bytes (b, b+1) and (b+1, b+2); window = bits r..r+15 from byte b:
    // low byte (d0 · 2^(8−r) mod 2^16) >> 8, high byte (d1 · 2^(8−r)) & 0xFF00.
    let bcast = i8x16(0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
    let idx0 = i8x16_add(i8x16_swizzle(b, bcast), u16x8_splat(0x0100));
    let idx1 = i8x16_add(idx0, u16x8_splat(0x0101));
    // Every byte used below 16 when s + total ≤ 111 (then b + 2 ≤ 15): one vector.
    let (d0, d1) = if s + usize::from(total) <= 111 {
        let lo = load16(bits, *bitpos >> 3);
        (i8x16_swizzle(lo, idx0), i8x16_swizzle(lo, idx1))
    } else {
        let (lo, hi) = load32(bits, *bitpos >> 3);
        (gather(lo, hi, idx0), gather(lo, hi, idx1))
    };
    // 2^(8−r): low byte from entry r, high byte from entry r + 8.
    let pow8 = i8x16(0, -128, 64, 32, 16, 8, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0);
    let mult = i8x16_swizzle(
        pow8,
        i8x16_add(i8x16_swizzle(r, bcast), u16x8_splat(0x0800)),
    );
    let w = v128_or(
        u16x8_shr(i16x8_mul(d0, mult), 8),
        v128_and(i16x8_mul(d1, mult), u16x8_splat(0xFF00)),
    );
    // 1 << m_n from two byte tables (e ≤ 15).
    let pow_lo = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0);
    let pow_hi = i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, -128);
    let pow = v128_or(
        i8x16_swizzle(pow_lo, v128_or(e, u16x8_splat(0xFF00))),
        i8x16_swizzle(pow_hi, v128_or(i16x8_shl(e, 8), u16x8_splat(0x00FF))),
    );
    let one = u16x8_splat(1);
    let v_n = v128_and(
        v128_or(
            v128_or(v128_and(w, i16x8_sub(pow, one)), v128_and(pow, e1)),
            one,
        ),
        sig,
    );
    *bitpos += usize::from(total);
    // Samples in 32 bits: sign (the window's first bit) at 31, (v_n + 2) << (p − 1),
    // as row 0 (quad 0 columns 0, 1, quad 1 columns 0, 1) and row 1.
    if HIGH {
        // p − 1 ≥ 16: the low 16 bits are zero and the high 16 bits are the 16-bit
        // computation's (what leaves 16 bits here leaves 32 bits there).
        let val = v128_and(
            v128_or(
                i16x8_shl(i16x8_add(v_n, u16x8_splat(2)), p - 17),
                i16x8_shl(w, 15),
            ),
            sig,
        );
        // Row 0 the even 16-bit lanes, row 1 the odd ones, each as a 32-bit lane's
        // high half: a shift and a mask rather than two byte shuffles.
        let row0 = i32x4_shl(val, 16);
        let row1 = v128_and(val, u32x4_splat(0xFFFF_0000));
        return (row0, row1, v_n);
    }
    let widen = |v_n: v128, w: v128, sig: v128| {
        v128_and(
            v128_or(
                i32x4_shl(i32x4_add(v_n, u32x4_splat(2)), p - 1),
                i32x4_shl(w, 31),
            ),
            sig,
        )
    };
    let out0 = widen(
        u32x4_extend_low_u16x8(v_n),
        u32x4_extend_low_u16x8(w),
        i32x4_extend_low_i16x8(sig),
    );
    let out1 = widen(
        u32x4_extend_high_u16x8(v_n),
        u32x4_extend_high_u16x8(w),
        i32x4_extend_high_i16x8(sig),
    );
    (
        i32x4_shuffle::<0, 2, 4, 6>(out0, out1),
        i32x4_shuffle::<1, 3, 5, 7>(out0, out1),
        v_n,
    )
}

/// Stores two rows of four columns (`row0` at `at`, `row1` at `at + stride`), or the
/// first `cols` columns of them where fewer are left in the block.
#[inline(always)]
fn store_rows(
    decoded: &mut [u32],
    at: usize,
    stride: usize,
    row0: v128,
    row1: v128,
    cols: usize,
) -> bool {
    let Some(end) = (at + stride).checked_add(4) else {
        return false;
    };
    if cols >= 4 && end <= decoded.len() {
        // SAFETY: at + stride + 4 ≤ decoded.len() (and at ≤ at + stride): both rows'
        // four u32 (16 bytes) lie inside `decoded`; v128 stores need no alignment.
        unsafe {
            let d = decoded.as_mut_ptr();
            v128_store(d.add(at) as *mut v128, row0);
            v128_store(d.add(at + stride) as *mut v128, row1);
        }
        return true;
    }
    let mut r = [[0u32; 4]; 2];
    // SAFETY: each store writes 16 bytes into a [u32; 4].
    unsafe {
        v128_store(r[0].as_mut_ptr() as *mut v128, row0);
        v128_store(r[1].as_mut_ptr() as *mut v128, row1);
    }
    let cols = cols.min(4);
    match (decoded.get_mut(at..at + cols), r[0].get(..cols)) {
        (Some(d), Some(s)) => d.copy_from_slice(s),
        _ => return false,
    }
    match (
        decoded.get_mut(at + stride..at + stride + cols),
        r[1].get(..cols),
    ) {
        (Some(d), Some(s)) => d.copy_from_slice(s),
        _ => return false,
    }
    true
}

/// The 16 bytes at `off` of the unstuffed bits, or all ones past them (see
/// `unstuff`: the segment's bytes are followed by at least 32 of padding).
#[inline(always)]
fn load16(bits: &[u8], off: usize) -> v128 {
    match bits.get(off..off + 16) {
        // SAFETY: the slice holds the 16 bytes loaded; v128 loads need no alignment.
        Some(s) => unsafe { v128_load(s.as_ptr() as *const v128) },
        None => u32x4_splat(!0),
    }
}

/// The 32 bytes at `off` of the unstuffed bits, or all ones past them (see
/// `unstuff`).
#[inline(always)]
fn load32(bits: &[u8], off: usize) -> (v128, v128) {
    match bits.get(off..off + 32) {
        // SAFETY: the slice holds the 32 bytes loaded; v128 loads need no alignment.
        Some(s) => unsafe {
            (
                v128_load(s.as_ptr() as *const v128),
                v128_load(s.as_ptr().add(16) as *const v128),
            )
        },
        None => (u32x4_splat(!0), u32x4_splat(!0)),
    }
}
