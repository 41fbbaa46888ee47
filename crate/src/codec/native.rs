//! Native (uncompressed) pixel data: little- and big-endian byte order, 1-bit packing,
//! Planar Configuration 1 and YBR_FULL_422 chroma sharing.

use super::{CodecOutput, Colour, PixelDescription, SampleBuf};
use crate::error::DecodeError;

/// Bits one native frame occupies (1-bit frames are packed back to back, unpadded).
fn frame_bits(desc: &PixelDescription) -> u64 {
    let pixels = desc.rows as u64 * desc.columns as u64;
    if desc.photometric() == "YBR_FULL_422" && desc.samples_per_pixel == 3 {
        // Two luminance samples share one Cb and one Cr: 2 samples per pixel.
        pixels * 2 * desc.bits_allocated as u64
    } else {
        pixels * desc.samples_per_pixel as u64 * desc.bits_allocated as u64
    }
}

/// Bytes one native frame occupies, rounded up to whole bytes.
pub fn frame_length_in_bytes(desc: &PixelDescription) -> u64 {
    frame_bits(desc).div_ceil(8)
}

pub(crate) fn decode(
    data: &[u8],
    frame_index: u32,
    desc: &PixelDescription,
    big_endian: bool,
) -> Result<CodecOutput, DecodeError> {
    let pixels = desc.rows as usize * desc.columns as usize;
    let spp = desc.samples_per_pixel as usize;
    let bits = frame_bits(desc);
    let start_bit = frame_index as u64 * bits;
    let end_bit = start_bit + bits;
    let available = data.len() as u64 * 8;
    if end_bit > available {
        return Err(DecodeError::TruncatedPixelData {
            frame: frame_index + 1,
            needed: end_bit.div_ceil(8),
            available: data.len() as u64,
        });
    }
    let out = |samples| CodecOutput {
        width: desc.columns,
        height: desc.rows,
        components: desc.samples_per_pixel,
        samples,
        colour: Colour::AsStored,
    };

    if desc.bits_allocated == 1 {
        let mut v = Vec::with_capacity(pixels);
        for i in 0..pixels as u64 {
            let bit = start_bit + i;
            v.push((data[(bit / 8) as usize] >> (bit % 8)) & 1);
        }
        return Ok(out(SampleBuf::U8(v)));
    }

    let frame = &data[(start_bit / 8) as usize..(end_bit / 8) as usize];
    let ybr422 = desc.photometric() == "YBR_FULL_422" && spp == 3;
    if ybr422 {
        if desc.bits_allocated != 8 {
            return Err(DecodeError::InvalidPixelDescription(
                "uncompressed YBR_FULL_422 with Bits Allocated other than 8".into(),
            ));
        }
        if desc.columns % 2 != 0 {
            return Err(DecodeError::InvalidPixelDescription(
                "uncompressed YBR_FULL_422 with an odd number of Columns".into(),
            ));
        }
        let mut v = Vec::with_capacity(pixels * 3);
        for quad in frame.chunks_exact(4) {
            let (y1, y2, cb, cr) = (quad[0], quad[1], quad[2], quad[3]);
            v.extend_from_slice(&[y1, cb, cr, y2, cb, cr]);
        }
        return Ok(out(SampleBuf::U8(v)));
    }

    // Native little-endian data already is the canonical layout: one copy, no
    // widening. Big-endian samples are byte-swapped into it.
    let width = match desc.bits_allocated {
        8 => 1,
        16 => 2,
        32 => 4,
        other => {
            return Err(DecodeError::InvalidPixelDescription(format!(
                "Bits Allocated {other}"
            )))
        }
    };
    let mut bytes = if desc.planar_configuration == 1 && spp > 1 {
        interleave_planes(frame, pixels, spp, width)
    } else {
        frame.to_vec()
    };
    if big_endian && width > 1 {
        bytes.chunks_exact_mut(width).for_each(|c| c.reverse());
    }
    Ok(out(SampleBuf::Le(bytes)))
}

/// Planar Configuration 1 (RRR…GGG…BBB…) → interleaved (RGBRGB…), for samples of
/// `width` bytes.
fn interleave_planes(frame: &[u8], pixels: usize, spp: usize, width: usize) -> Vec<u8> {
    let mut out = vec![0u8; frame.len()];
    for s in 0..spp {
        let plane = &frame[s * pixels * width..(s + 1) * pixels * width];
        for (p, x) in plane.chunks_exact(width).enumerate() {
            let at = (p * spp + s) * width;
            out[at..at + width].copy_from_slice(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(rows: u32, cols: u32, spp: u16, ba: u16, pi: &str, planar: u16) -> PixelDescription {
        PixelDescription {
            samples_per_pixel: spp,
            photometric_interpretation: pi.into(),
            planar_configuration: planar,
            ..PixelDescription::grey(rows, cols, ba, ba)
        }
    }

    #[test]
    fn one_bit_frames_are_packed_across_bytes() {
        // Two 3×3 frames = 18 bits; frame 2 starts at bit 9.
        let d = desc(3, 3, 1, 1, "MONOCHROME2", 0);
        let data = [0b1000_0001u8, 0b0000_0011, 0b0000_0010];
        let f0 = decode(&data, 0, &d, false).unwrap();
        let f1 = decode(&data, 1, &d, false).unwrap();
        let SampleBuf::U8(a) = f0.samples else {
            panic!()
        };
        let SampleBuf::U8(b) = f1.samples else {
            panic!()
        };
        assert_eq!(a, [1, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(b, [1, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn planar_configuration_1_is_interleaved() {
        let d = desc(1, 2, 3, 8, "RGB", 1);
        let f = decode(&[1, 2, 3, 4, 5, 6], 0, &d, false).unwrap();
        let SampleBuf::Le(v) = f.samples else {
            panic!()
        };
        assert_eq!(v, [1, 3, 5, 2, 4, 6]);
    }

    #[test]
    fn big_endian_16_bit_is_swapped() {
        let d = desc(1, 2, 1, 16, "MONOCHROME2", 0);
        let f = decode(&[0x01, 0x02, 0xff, 0x00], 0, &d, true).unwrap();
        let SampleBuf::Le(v) = f.samples else {
            panic!()
        };
        assert_eq!(v, [0x02, 0x01, 0x00, 0xff]);
    }

    #[test]
    fn short_frame_is_reported_not_read_past() {
        let d = desc(4, 4, 1, 16, "MONOCHROME2", 0);
        let err = decode(&[0u8; 20], 0, &d, false).err().unwrap();
        assert_eq!(
            err,
            DecodeError::TruncatedPixelData {
                frame: 1,
                needed: 32,
                available: 20
            }
        );
    }
}
