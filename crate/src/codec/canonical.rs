//! The one step every codec's output goes through: geometry check, YBR → RGB where
//! the codec did not already convert, masking to Bits Stored, sign extension, and
//! little-endian packing into 1, 2 or 4 bytes per sample.

use super::{CodecOutput, Colour, PixelDescription, SampleBuf};
use crate::error::DecodeError;

pub(crate) fn canonicalise(
    out: CodecOutput,
    desc: &PixelDescription,
    out_len: usize,
) -> Result<Vec<u8>, DecodeError> {
    if out.width != desc.columns
        || out.height != desc.rows
        || out.components != desc.samples_per_pixel
    {
        return Err(DecodeError::mismatch(
            "decoder",
            format!(
                "decoded {}×{} with {} component(s); the description says Columns {} × Rows {} with Samples per Pixel {}",
                out.width, out.height, out.components, desc.columns, desc.rows, desc.samples_per_pixel
            ),
        ));
    }
    let count = desc.rows as usize * desc.columns as usize * desc.samples_per_pixel as usize;
    let width = desc.canonical_sample_bytes();
    if out.samples.len(width) != count {
        return Err(DecodeError::mismatch(
            "decoder",
            format!(
                "decoded {} samples, expected {count}",
                out.samples.len(width)
            ),
        ));
    }
    let pi = desc.photometric();
    let mut samples = out.samples;
    // Masking and sign extension change nothing when Bits Stored fills the container,
    // nor where the codec did them, unless a colour conversion follows.
    let converts = desc.samples_per_pixel == 3
        && matches!(pi, "YBR_FULL" | "YBR_FULL_422")
        && out.colour == Colour::AsStored;
    let identity = desc.bits_stored as usize == 8 * width
        || matches!(samples, SampleBuf::Canonical(_)) && !converts;
    if converts {
        match &mut samples {
            SampleBuf::U8(v) => ybr_full_to_rgb(v),
            SampleBuf::Le(v) | SampleBuf::Canonical(v) if width == 1 => ybr_full_to_rgb(v),
            _ => {
                return Err(DecodeError::InvalidPixelDescription(format!(
                    "{pi} with Bits Allocated {}: only 8-bit YBR is defined for conversion to RGB",
                    desc.bits_allocated
                )))
            }
        }
    }

    let bits = desc.bits_stored as u32;
    let mask: u32 = if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    let signed = desc.pixel_representation == 1;
    let shift = 32 - bits;
    let fix = |v: u32| -> u32 {
        let m = v & mask;
        if signed && bits < 32 {
            (((m << shift) as i32) >> shift) as u32
        } else {
            m
        }
    };

    if let SampleBuf::Le(mut v) | SampleBuf::Canonical(mut v) = samples {
        if !identity {
            match width {
                1 => v.iter_mut().for_each(|b| *b = fix(*b as u32) as u8),
                2 => {
                    // As u16 where the buffer allows (little-endian, aligned): a loop of
                    // shifts or one AND that vectorises (simd128 in the SIMD build).
                    match bytemuck::try_cast_slice_mut::<u8, u16>(&mut v) {
                        Ok(words) if cfg!(target_endian = "little") => fix_u16(words, bits, signed),
                        _ => v.chunks_exact_mut(2).for_each(|c| {
                            let x = fix(u16::from_le_bytes([c[0], c[1]]) as u32) as u16;
                            c.copy_from_slice(&x.to_le_bytes());
                        }),
                    }
                }
                _ => v.chunks_exact_mut(4).for_each(|c| {
                    let x = fix(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                    c.copy_from_slice(&x.to_le_bytes());
                }),
            }
        }
        debug_assert_eq!(v.len(), out_len);
        return Ok(v);
    }

    // 16-bit samples in 16-bit containers: fixed in place as u16, then one copy.
    let samples = match samples {
        SampleBuf::U16(mut v) if width == 2 && cfg!(target_endian = "little") => {
            if !identity {
                fix_u16(&mut v, bits, signed);
            }
            let bytes = bytemuck::cast_slice::<u16, u8>(&v).to_vec();
            debug_assert_eq!(bytes.len(), out_len);
            return Ok(bytes);
        }
        other => other,
    };
    let mut bytes = vec![0u8; out_len];
    match width {
        1 => {
            let get = |i: usize| -> u32 {
                match &samples {
                    SampleBuf::U8(v) => v[i] as u32,
                    SampleBuf::U16(v) => v[i] as u32,
                    SampleBuf::Le(v) | SampleBuf::Canonical(v) => v[i] as u32,
                }
            };
            match (&samples, identity) {
                (SampleBuf::U8(v), true) => bytes.copy_from_slice(v),
                _ => bytes
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b = fix(get(i)) as u8),
            }
        }
        2 => match (&samples, identity) {
            (SampleBuf::U16(v), true) => {
                for (c, x) in bytes.chunks_exact_mut(2).zip(v) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            (SampleBuf::U8(v), _) => bytes
                .chunks_exact_mut(2)
                .zip(v)
                .for_each(|(c, &x)| c.copy_from_slice(&(fix(x as u32) as u16).to_le_bytes())),
            (SampleBuf::U16(v), _) => bytes
                .chunks_exact_mut(2)
                .zip(v)
                .for_each(|(c, &x)| c.copy_from_slice(&(fix(x as u32) as u16).to_le_bytes())),
            (SampleBuf::Le(_) | SampleBuf::Canonical(_), _) => unreachable!("handled above"),
        },
        _ => match &samples {
            SampleBuf::U8(v) => bytes
                .chunks_exact_mut(4)
                .zip(v)
                .for_each(|(c, &x)| c.copy_from_slice(&fix(x as u32).to_le_bytes())),
            SampleBuf::U16(v) => bytes
                .chunks_exact_mut(4)
                .zip(v)
                .for_each(|(c, &x)| c.copy_from_slice(&fix(x as u32).to_le_bytes())),
            SampleBuf::Le(_) | SampleBuf::Canonical(_) => unreachable!("handled above"),
        },
    }
    debug_assert_eq!(bytes.len(), out_len);
    Ok(bytes)
}

/// Masks 16-bit words to `bits` (< 16) and sign-extends them when `signed`: shifts or
/// one AND per word, a loop that vectorises.
fn fix_u16(words: &mut [u16], bits: u32, signed: bool) {
    if signed {
        let sh = 16 - bits;
        words
            .iter_mut()
            .for_each(|x| *x = (((*x << sh) as i16) >> sh) as u16);
    } else {
        let m = ((1u32 << bits) - 1) as u16;
        words.iter_mut().for_each(|x| *x &= m);
    }
}

/// YBR_FULL → RGB for 8-bit interleaved samples, in place (PS3.3 C.7.6.3.1.2), with
/// the same single-precision arithmetic and rounding as pydicom's reference
/// (`convert_color_space`), so that uncompressed YBR matches it.
pub fn ybr_full_to_rgb(v: &mut [u8]) {
    let cb_g = (-0.114f64 * 1.772 / 0.587) as f32;
    let cr_g = (-0.299f64 * 1.402 / 0.587) as f32;
    for px in v.chunks_exact_mut(3) {
        let y = px[0] as f32;
        let cb = px[1] as f32 - 128.0;
        let cr = px[2] as f32 - 128.0;
        let r = y + 1.402f32 * cr;
        let g = y + cb_g * cb + cr_g * cr;
        let b = y + 1.772f32 * cb;
        px[0] = (r + 0.5).floor().clamp(0.0, 255.0) as u8;
        px[1] = (g + 0.5).floor().clamp(0.0, 255.0) as u8;
        px[2] = (b + 0.5).floor().clamp(0.0, 255.0) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ybr_grey_stays_grey() {
        let mut v = [0u8, 128, 128, 200, 128, 128, 255, 128, 128];
        ybr_full_to_rgb(&mut v);
        assert_eq!(v, [0, 0, 0, 200, 200, 200, 255, 255, 255]);
    }

    #[test]
    fn ybr_primaries_round_like_pydicom() {
        // Pure red in BT.601 full range is Y=76, Cb=85, Cr=255 (PS3.3 C.7.6.3.1.2).
        let mut v = [76u8, 85, 255];
        ybr_full_to_rgb(&mut v);
        assert_eq!(v[0], 254);
        assert!(v[1] <= 1 && v[2] <= 1, "{v:?}");
    }
}
