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
    // little-endian layout.
    let width = bytes_per_sample;
    let stride = spp * width;
    let mut out = vec![0u8; pixels * stride];
    // Grey multi-byte samples: each plane is unpacked contiguously (memcpy and fill)
    // and then spread over the frame, a loop that vectorises; colour planes (3 or more
    // bytes apart) are unpacked straight into the frame.
    let mut plane = if spp == 1 && stride > 1 {
        vec![0u8; pixels]
    } else {
        Vec::new()
    };
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
        let (sample, byte) = (seg / width, seg % width);
        let offset = sample * width + (width - 1 - byte);
        let src = &data[start..end];
        let got = if stride == 1 {
            unpack_bits(src, &mut out)
        } else if !plane.is_empty() {
            let got = unpack_bits(src, &mut plane);
            for (dst, &x) in out.chunks_exact_mut(stride).zip(&plane) {
                dst[offset] = x;
            }
            got
        } else {
            unpack_bits_strided(src, &mut out, offset, stride, pixels)
        };
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
    let samples = SampleBuf::Le(out);
    Ok(CodecOutput {
        width: desc.columns,
        height: desc.rows,
        components: desc.samples_per_pixel,
        samples,
        colour: Colour::AsStored,
    })
}

/// PackBits into `out`; returns how many bytes were written (stops when `out` is full,
/// ignoring the padding encoders leave after the last run).
fn unpack_bits(src: &[u8], out: &mut [u8]) -> usize {
    let (mut i, mut o) = (0usize, 0usize);
    while i < src.len() && o < out.len() {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let len = (n as usize + 1).min(out.len() - o).min(src.len() - i);
            out[o..o + len].copy_from_slice(&src[i..i + len]);
            i += n as usize + 1;
            o += len;
        } else if n != -128 {
            let Some(&b) = src.get(i) else { break };
            i += 1;
            let len = ((1 - n as isize) as usize).min(out.len() - o);
            out[o..o + len].fill(b);
            o += len;
        }
    }
    o
}

/// PackBits into byte `offset` of each `stride`-byte pixel of `out`, for `count`
/// pixels at most (`out` holds `count * stride` bytes); returns how many were written.
fn unpack_bits_strided(
    src: &[u8],
    out: &mut [u8],
    offset: usize,
    stride: usize,
    count: usize,
) -> usize {
    let count = count.min(out.len() / stride);
    let (mut i, mut o) = (0usize, 0usize);
    while i < src.len() && o < count {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let len = (n as usize + 1).min(count - o).min(src.len() - i);
            let dst = out[o * stride..(o + len) * stride].chunks_exact_mut(stride);
            for (px, &b) in dst.zip(&src[i..i + len]) {
                px[offset] = b;
            }
            i += n as usize + 1;
            o += len;
        } else if n != -128 {
            let Some(&b) = src.get(i) else { break };
            i += 1;
            let len = ((1 - n as isize) as usize).min(count - o);
            for px in out[o * stride..(o + len) * stride].chunks_exact_mut(stride) {
                px[offset] = b;
            }
            o += len;
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_and_run() {
        let mut out = [0u8; 6];
        // literal of 2 (1,2), run of 4 × 9
        assert_eq!(unpack_bits(&[1, 1, 2, 0xfd, 9], &mut out), 6);
        assert_eq!(out, [1, 2, 9, 9, 9, 9]);
    }

    #[test]
    fn packbits_strided_matches_packed() {
        let src = [1, 1, 2, 0xfd, 9, 0x80, 0, 5];
        let mut packed = [0u8; 7];
        assert_eq!(unpack_bits(&src, &mut packed), 7);
        let mut wide = [0u8; 14];
        assert_eq!(unpack_bits_strided(&src, &mut wide, 1, 2, 7), 7);
        let odd: Vec<u8> = wide.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(odd, packed);
        assert!(wide.iter().step_by(2).all(|&b| b == 0));
    }

    #[test]
    fn truncated_segment_is_an_error() {
        let desc = PixelDescription {
            rows: 2,
            columns: 2,
            samples_per_pixel: 1,
            bits_allocated: 8,
            bits_stored: 8,
            high_bit: None,
            pixel_representation: 0,
            photometric_interpretation: "MONOCHROME2".into(),
            planar_configuration: 0,
            number_of_frames: 1,
        };
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
