//! RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, one PackBits
//! segment per byte plane (most significant byte first) of each sample.

use super::{CodecOutput, Colour, PixelDescription, SampleBuf};
use crate::error::DecodeError;

const CODEC: &str = "RLE Lossless";

pub(crate) fn decode(data: &[u8], desc: &PixelDescription) -> Result<CodecOutput, DecodeError> {
    if desc.bits_allocated % 8 != 0 {
        return Err(DecodeError::codec(
            CODEC,
            format!(
                "Bits Allocated {} is not a whole number of bytes",
                desc.bits_allocated
            ),
        ));
    }
    if data.len() < 64 {
        return Err(DecodeError::codec(
            CODEC,
            format!("header needs 64 bytes, frame has {}", data.len()),
        ));
    }
    let word = |i: usize| {
        u32::from_le_bytes([
            data[4 * i],
            data[4 * i + 1],
            data[4 * i + 2],
            data[4 * i + 3],
        ]) as usize
    };
    let segments = word(0);
    let bytes_per_sample = desc.bits_allocated as usize / 8;
    let spp = desc.samples_per_pixel as usize;
    let expected = bytes_per_sample * spp;
    if segments != expected {
        return Err(DecodeError::codec(
            CODEC,
            format!("header lists {segments} segment(s); Bits Allocated {} × Samples per Pixel {spp} needs {expected}", desc.bits_allocated),
        ));
    }
    if segments > 15 {
        return Err(DecodeError::codec(
            CODEC,
            format!("{segments} segments do not fit the 15 offsets of the header"),
        ));
    }
    let pixels = desc.rows as usize * desc.columns as usize;
    // Each segment is one byte plane (sample s, byte b from the most significant); it
    // lands at byte (width - 1 - b) of sample s of every pixel in the canonical
    // little-endian layout. One plane (8-bit grey) is unpacked straight into the
    // frame; otherwise every plane is unpacked contiguously and the planes are then
    // interleaved in one pass over the frame. Unpacking appends, so those buffers are
    // not zeroed first; both have SLACK bytes of spare capacity for `unpack_bits`.
    let width = bytes_per_sample;
    let stride = spp * width;
    let mut out = Vec::with_capacity(pixels * stride + SLACK);
    // Filled by appending (no zeroing first): plane `seg` is planes[seg * pixels..].
    let mut planes = Vec::with_capacity(if segments > 1 {
        pixels * segments + SLACK
    } else {
        0
    });
    for seg in 0..segments {
        let start = word(seg + 1);
        let end = if seg + 1 < segments {
            word(seg + 2)
        } else {
            data.len()
        };
        if start < 64 || start > end || end > data.len() {
            return Err(DecodeError::codec(
                CODEC,
                format!(
                    "segment {} has offsets {start}..{end} outside the {}-byte frame",
                    seg + 1,
                    data.len()
                ),
            ));
        }
        let dst = if segments == 1 { &mut out } else { &mut planes };
        let got = unpack_bits(&data[start..end], dst, pixels);
        if got < pixels {
            return Err(DecodeError::codec(
                CODEC,
                format!(
                    "segment {} decoded to {got} bytes, expected {pixels}",
                    seg + 1
                ),
            ));
        }
    }
    if segments > 1 {
        interleave(&planes, pixels, spp, width, &mut out);
        debug_assert_eq!(out.len(), pixels * stride);
    }
    let samples = SampleBuf::Le(out);
    Ok(CodecOutput {
        width: desc.columns,
        height: desc.rows,
        components: desc.samples_per_pixel,
        samples,
        colour: Colour::AsStored,
    })
}

/// Spare capacity `unpack_bits` needs past what it appends: short runs are copied or
/// filled as `SLACK` bytes, whatever their length.
const SLACK: usize = 32;

/// PackBits appended to `out`, `limit` bytes at most (the padding encoders leave after
/// the last run is ignored); returns how many were appended. No zeroing of the buffer
/// beforehand. Runs of up to 32 bytes (most of them) are written as 32 bytes, in two
/// loads and stores, instead of by a `memory.copy` or `memory.fill` of their length,
/// whose fixed cost dominates at those lengths; the bytes after the run are
/// overwritten by the next run or left beyond `out`'s length.
fn unpack_bits(src: &[u8], out: &mut Vec<u8>, limit: usize) -> usize {
    out.reserve(limit + SLACK);
    let base = out.len();
    let dst = out.spare_capacity_mut()[..limit + SLACK].as_mut_ptr() as *mut u8;
    let (mut i, mut o) = (0usize, 0usize);
    while i < src.len() && o < limit {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let len = (n as usize + 1).min(limit - o).min(src.len() - i);
            // SAFETY: o < limit, so o + SLACK ≤ limit + SLACK, the spare capacity
            // taken above; the source bytes are in `src` (tested, or i + len ≤
            // src.len() by the min above).
            unsafe {
                let (from, to) = (src.as_ptr().add(i), dst.add(o));
                if len <= SLACK && i + SLACK <= src.len() {
                    core::ptr::copy_nonoverlapping(from, to, SLACK);
                } else {
                    core::ptr::copy_nonoverlapping(from, to, len);
                }
            }
            i += n as usize + 1;
            o += len;
        } else if n != -128 {
            let Some(&b) = src.get(i) else { break };
            i += 1;
            let len = ((1 - n as isize) as usize).min(limit - o);
            // SAFETY: as above, o + max(len, SLACK) ≤ limit + SLACK.
            unsafe {
                if len <= SLACK {
                    core::ptr::write_bytes(dst.add(o), b, SLACK);
                } else {
                    core::ptr::write_bytes(dst.add(o), b, len);
                }
            }
            o += len;
        }
    }
    // SAFETY: the loop wrote bytes base..base + o (and maybe some after them).
    unsafe { out.set_len(base + o) };
    o
}

/// Appends the unpacked byte planes (`planes`: sample-major, most significant byte
/// first, `pixels` bytes each) to `out` as the canonical little-endian frame. The two
/// common shapes (16-bit grey, 8-bit colour) have loops of their own, with simd128
/// shuffles where the build has them.
fn interleave(planes: &[u8], pixels: usize, spp: usize, width: usize, out: &mut Vec<u8>) {
    let plane = |i: usize| &planes[i * pixels..(i + 1) * pixels];
    match (spp, width) {
        (1, 2) => {
            let (hi, lo) = (plane(0), plane(1));
            let done = simd::interleave_2(hi, lo, out);
            let at = out.len();
            out.resize(at + 2 * (pixels - done), 0);
            for ((d, &h), &l) in out[at..]
                .chunks_exact_mut(2)
                .zip(&hi[done..])
                .zip(&lo[done..])
            {
                d[0] = l;
                d[1] = h;
            }
        }
        (3, 1) => {
            let (r, g, b) = (plane(0), plane(1), plane(2));
            let done = simd::interleave_3(r, g, b, out);
            let at = out.len();
            out.resize(at + 3 * (pixels - done), 0);
            let px = out[at..].chunks_exact_mut(3);
            for (((d, &r), &g), &b) in px.zip(&r[done..]).zip(&g[done..]).zip(&b[done..]) {
                d[0] = r;
                d[1] = g;
                d[2] = b;
            }
        }
        _ => {
            let stride = spp * width;
            let at = out.len();
            out.resize(at + pixels * stride, 0);
            for seg in 0..spp * width {
                let (sample, byte) = (seg / width, seg % width);
                let offset = sample * width + (width - 1 - byte);
                for (d, &x) in out[at..].chunks_exact_mut(stride).zip(plane(seg)) {
                    d[offset] = x;
                }
            }
        }
    }
}

/// The interleaving loops with wasm simd128 shuffles, 16 pixels a step; each returns
/// how many pixels it wrote (the rest is the scalar loop's). Without simd128: none.
mod simd {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    use core::arch::wasm32::{i8x16_shuffle, v128, v128_load, v128_store};

    /// (high, low) byte planes → little-endian 16-bit samples, appended.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub(super) fn interleave_2(hi: &[u8], lo: &[u8], out: &mut Vec<u8>) -> usize {
        let n = hi.len().min(lo.len()) / 16 * 16;
        out.reserve(2 * n);
        let dst = out.spare_capacity_mut()[..2 * n].as_mut_ptr() as *mut u8;
        for (k, (h, l)) in hi[..n]
            .chunks_exact(16)
            .zip(lo[..n].chunks_exact(16))
            .enumerate()
        {
            // SAFETY: every source chunk holds the 16 bytes loaded; the 32 bytes
            // stored at 32k lie within the 2n reserved above. v128 loads and stores
            // need no alignment.
            unsafe {
                let (h, l) = (
                    v128_load(h.as_ptr() as *const v128),
                    v128_load(l.as_ptr() as *const v128),
                );
                let a =
                    i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(l, h);
                let b = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(
                    l, h,
                );
                let p = dst.add(32 * k);
                v128_store(p as *mut v128, a);
                v128_store(p.add(16) as *mut v128, b);
            }
        }
        // SAFETY: the loop wrote all 2n bytes after the old length.
        unsafe { out.set_len(out.len() + 2 * n) };
        n
    }

    /// R, G, B planes → RGB pixels, appended.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub(super) fn interleave_3(r: &[u8], g: &[u8], b: &[u8], out: &mut Vec<u8>) -> usize {
        let n = r.len().min(g.len()).min(b.len()) / 16 * 16;
        out.reserve(3 * n);
        let dst = out.spare_capacity_mut()[..3 * n].as_mut_ptr() as *mut u8;
        for (k, ((r, g), b)) in r[..n]
            .chunks_exact(16)
            .zip(g[..n].chunks_exact(16))
            .zip(b[..n].chunks_exact(16))
            .enumerate()
        {
            // SAFETY: as in interleave_2 (16-byte sources; 48 bytes stored at 48k,
            // within the 3n reserved).
            unsafe {
                let r = v128_load(r.as_ptr() as *const v128);
                let g = v128_load(g.as_ptr() as *const v128);
                let b = v128_load(b.as_ptr() as *const v128);
                let [o0, o1, o2] = super::super::interleave::rgb16(r, g, b);
                let p = dst.add(48 * k);
                v128_store(p as *mut v128, o0);
                v128_store(p.add(16) as *mut v128, o1);
                v128_store(p.add(32) as *mut v128, o2);
            }
        }
        // SAFETY: the loop wrote all 3n bytes after the old length.
        unsafe { out.set_len(out.len() + 3 * n) };
        n
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    pub(super) fn interleave_2(_: &[u8], _: &[u8], _: &mut Vec<u8>) -> usize {
        0
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    pub(super) fn interleave_3(_: &[u8], _: &[u8], _: &[u8], _: &mut Vec<u8>) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_and_run() {
        let mut out = vec![7];
        // literal of 2 (1,2), run of 4 × 9, appended; a run past the limit is cut
        assert_eq!(unpack_bits(&[1, 1, 2, 0xfd, 9, 0xfe, 3], &mut out, 7), 7);
        assert_eq!(out, [7, 1, 2, 9, 9, 9, 9, 3]);
    }

    /// PS3.5 G.3.2 as written, one byte at a time: what `unpack_bits`, with its
    /// over-long copies and fills, must equal.
    fn unpack_bits_textbook(src: &[u8], limit: usize) -> Vec<u8> {
        let (mut out, mut i) = (Vec::new(), 0);
        while i < src.len() && out.len() < limit {
            let n = src[i] as i8;
            i += 1;
            if n >= 0 {
                for _ in 0..=n {
                    if i < src.len() && out.len() < limit {
                        out.push(src[i]);
                    }
                    i += 1;
                }
            } else if n != -128 && i < src.len() {
                for _ in 0..(1 - n as i32) {
                    if out.len() < limit {
                        out.push(src[i]);
                    }
                }
                i += 1;
            } else if n != -128 {
                break;
            }
        }
        out
    }

    #[test]
    fn packbits_equals_the_textbook_loop() {
        // Random segments: headers drawn so that runs of every length up to 128
        // occur, literal runs cut by the segment's end and limits inside runs.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..2000 {
            let len = (next() % 300) as usize;
            let src: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let limit = (next() % 400) as usize;
            let want = unpack_bits_textbook(&src, limit);
            let mut out = vec![1, 2, 3];
            let got = unpack_bits(&src, &mut out, limit);
            assert_eq!(got, want.len(), "case {case}");
            assert_eq!(out[3..], want[..], "case {case}");
            assert_eq!(out[..3], [1, 2, 3]);
        }
    }

    #[test]
    fn planes_interleave_to_little_endian() {
        // 16-bit grey: plane 0 is the high byte.
        let mut out = vec![];
        interleave(&[1, 2, 3, 4], 2, 1, 2, &mut out);
        assert_eq!(out, [3, 1, 4, 2]);
        // 8-bit colour: R, G, B planes.
        let mut out = vec![];
        interleave(&[1, 2, 3, 4, 5, 6], 2, 3, 1, &mut out);
        assert_eq!(out, [1, 3, 5, 2, 4, 6]);
        // 16-bit colour (the general loop): (R hi, R lo, G hi, G lo, B hi, B lo).
        let mut out = vec![];
        interleave(&[1, 2, 3, 4, 5, 6], 1, 3, 2, &mut out);
        assert_eq!(out, [2, 1, 4, 3, 6, 5]);
    }

    #[test]
    fn truncated_segment_is_an_error() {
        let desc = PixelDescription::grey(2, 2, 8, 8);
        let mut frame = vec![0u8; 64];
        frame[0] = 1;
        frame[4] = 64;
        frame.extend_from_slice(&[1, 7, 7]); // only 2 of 4 bytes
        let err = decode(&frame, &desc).err().unwrap();
        assert!(
            err.to_string().contains("segment 1 decoded to 2 bytes"),
            "{err}"
        );
    }
}
