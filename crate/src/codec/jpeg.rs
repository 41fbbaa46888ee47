//! JPEG (ITU T.81) for 1.2.840.10008.1.2.4.50/.51/.57/.70: libjpeg-turbo-rs for DCT
//! frames, 8-bit (its simd128 kernels in the SIMD wasm build; libjpeg-turbo's integer
//! IDCT, fancy upsampling and colour conversion, whose SIMD forms are bit-exact with
//! the scalar ones) and 12-bit; jpeg-decoder for every lossless process (predictors
//! 1–7, precision 2–16) and for the rare 8-bit frame whose colour decision cannot be
//! expressed to libjpeg-turbo-rs.
//!
//! Colour: a 3-component DCT frame is YCbCr→RGB converted exactly when libjpeg would
//! (JFIF, Adobe APP14 transform flag, component identifiers); the decision is made
//! once here and forced on the decoder, so the canonical step knows whether the
//! output is already RGB. Lossless frames are never colour-converted.

use super::{check_geometry, CodecOutput, Colour, PixelDescription, SampleBuf};
use crate::error::DecodeError;
use jpeg_decoder::{CodingProcess, ColorTransform};

const CODEC: &str = "JPEG";

/// What the markers before the first scan say.
#[derive(Debug, Default)]
struct Header {
    precision: u8,
    width: u16,
    height: u16,
    component_ids: Vec<u8>,
    lossless: bool,
    jfif: bool,
    adobe_transform: Option<u8>,
}

fn read_header(data: &[u8]) -> Result<Header, DecodeError> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(DecodeError::codec(
            CODEC,
            "codestream does not start with SOI (FFD8)",
        ));
    }
    let mut h = Header::default();
    let mut i = 2;
    let mut have_sof = false;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            i += 1;
            continue;
        }
        let marker = data[i + 1];
        if marker == 0xFF || marker == 0x00 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            i += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if len < 2 || i + 2 + len > data.len() {
            return Err(DecodeError::codec(
                CODEC,
                format!("marker FF{marker:02X} segment runs past the end of the codestream"),
            ));
        }
        let seg = &data[i + 4..i + 2 + len];
        match marker {
            0xC0..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => {
                if seg.len() < 6 {
                    return Err(DecodeError::codec(CODEC, "SOF segment too short"));
                }
                if marker & 0x08 != 0 {
                    return Err(DecodeError::codec(
                        CODEC,
                        format!("arithmetic coding (SOF{}) is not supported", marker & 0x0F),
                    ));
                }
                h.precision = seg[0];
                h.height = u16::from_be_bytes([seg[1], seg[2]]);
                h.width = u16::from_be_bytes([seg[3], seg[4]]);
                let n = seg[5] as usize;
                if seg.len() < 6 + 3 * n {
                    return Err(DecodeError::codec(
                        CODEC,
                        "SOF segment too short for its components",
                    ));
                }
                h.component_ids = (0..n).map(|c| seg[6 + 3 * c]).collect();
                h.lossless = matches!(marker, 0xC3 | 0xC7);
                have_sof = true;
            }
            0xE0 if seg.starts_with(b"JFIF\0") => h.jfif = true,
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => {
                h.adobe_transform = Some(seg[11])
            }
            0xDA => break,
            _ => {}
        }
        i += 2 + len;
    }
    if !have_sof {
        return Err(DecodeError::codec(
            CODEC,
            "no SOF marker before the first scan",
        ));
    }
    Ok(h)
}

impl Header {
    /// Whether 3 components are YCbCr: libjpeg's order (jdapimin.c
    /// `default_decompress_parms`) for what the markers say (JFIF, then the Adobe
    /// transform flag, then 'R','G','B' identifiers); where they say nothing, the
    /// DICOM Photometric Interpretation decides (PS3.5 8.2.1: RGB means the encoder
    /// applied no colour transform), as pydicom does.
    fn is_ycbcr(&self, photometric: &str) -> bool {
        if self.lossless || self.component_ids.len() != 3 {
            return false;
        }
        if self.jfif {
            return true;
        }
        if let Some(transform) = self.adobe_transform {
            return transform != 0;
        }
        if self.component_ids == [b'R', b'G', b'B'] {
            return false;
        }
        photometric != "RGB"
    }
}

pub(crate) fn decode(data: &[u8], desc: &PixelDescription) -> Result<CodecOutput, DecodeError> {
    let header = read_header(data)?;
    check_geometry(
        CODEC,
        header.width as u32,
        header.height as u32,
        header.component_ids.len() as u16,
        desc,
    )?;
    let ycbcr = header.is_ycbcr(desc.photometric());
    let colour = if ycbcr {
        Colour::ConvertedToRgb
    } else {
        Colour::AsStored
    };
    if !header.lossless && header.precision > 8 {
        return decode_12bit(data, &header, colour);
    }
    if !header.lossless {
        if let Some(out) = decode_8bit_turbo(data, &header, desc, ycbcr)? {
            return Ok(out);
        }
    }
    let mut decoder = jpeg_decoder::Decoder::new(data);
    decoder.set_max_decoding_buffer_size(
        desc.rows as usize * desc.columns as usize * desc.samples_per_pixel as usize * 2 + 1024,
    );
    if header.component_ids.len() == 3 {
        decoder.set_color_transform(if ycbcr {
            ColorTransform::YCbCr
        } else {
            ColorTransform::RGB
        });
    }
    let pixels = decoder
        .decode()
        .map_err(|e| DecodeError::codec(CODEC, e.to_string()))?;
    let info = decoder
        .info()
        .ok_or_else(|| DecodeError::codec(CODEC, "decoder returned no frame information"))?;
    let wide = info.coding_process == CodingProcess::Lossless && header.precision > 8;
    let samples = if wide && cfg!(target_endian = "little") && desc.bits_allocated == 16 {
        // jpeg-decoder's native-endian u16 bytes already are the canonical layout.
        SampleBuf::Le(pixels)
    } else if wide {
        SampleBuf::U16(
            pixels
                .chunks_exact(2)
                .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                .collect(),
        )
    } else {
        SampleBuf::U8(pixels)
    };
    Ok(CodecOutput {
        width: info.width as u32,
        height: info.height as u32,
        components: header.component_ids.len() as u16,
        samples,
        colour,
    })
}

/// 8-bit DCT through libjpeg-turbo-rs (libjpeg-turbo's integer IDCT, fancy upsampling
/// and colour conversion; simd128 kernels in the SIMD wasm build). `None` when the
/// colour decision cannot be expressed to it (the caller then uses jpeg-decoder).
fn decode_8bit_turbo(
    data: &[u8],
    header: &Header,
    desc: &PixelDescription,
    ycbcr: bool,
) -> Result<Option<CodecOutput>, DecodeError> {
    use libjpeg_turbo_rs::{ColorSpace, Decoder, PixelFormat};
    let fail = |e: libjpeg_turbo_rs::JpegError| DecodeError::codec(CODEC, e.to_string());
    let n = header.component_ids.len();
    let mut decoder = Decoder::new(data).map_err(fail)?;
    decoder.set_max_pixels(desc.rows as usize * desc.columns as usize);
    match n {
        1 => decoder.set_output_format(PixelFormat::Grayscale),
        3 => {
            decoder.set_output_format(PixelFormat::Rgb);
            match (ycbcr, decoder.jpeg_color_space()) {
                (true, ColorSpace::YCbCr) | (false, ColorSpace::Rgb) => {}
                // libjpeg would convert; the markers say nothing and the DICOM
                // Photometric Interpretation says RGB: keep the samples as stored.
                (false, ColorSpace::YCbCr) => decoder.set_output_colorspace(ColorSpace::YCbCr),
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    }
    let image = decoder.decode_image().map_err(fail)?;
    if image.data.len() != image.width * image.height * n {
        return Err(DecodeError::codec(
            CODEC,
            format!(
                "decoder returned {} bytes for {}×{}×{n}",
                image.data.len(),
                image.width,
                image.height
            ),
        ));
    }
    Ok(Some(CodecOutput {
        width: image.width as u32,
        height: image.height as u32,
        components: n as u16,
        samples: SampleBuf::U8(image.data),
        colour: if ycbcr {
            Colour::ConvertedToRgb
        } else {
            Colour::AsStored
        },
    }))
}

fn decode_12bit(data: &[u8], header: &Header, colour: Colour) -> Result<CodecOutput, DecodeError> {
    let image = libjpeg_turbo_rs::decompress_12bit(data)
        .map_err(|e| DecodeError::codec("JPEG 12-bit", e.to_string()))?;
    Ok(CodecOutput {
        width: image.width as u32,
        height: image.height as u32,
        components: image.num_components as u16,
        samples: SampleBuf::U16(image.data.into_iter().map(|v| v as u16).collect()),
        colour: if header.component_ids.len() == 3 {
            colour
        } else {
            Colour::AsStored
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_jpeg_bytes() {
        let err = read_header(&[0, 1, 2, 3, 4]).unwrap_err();
        assert!(err.to_string().contains("SOI"), "{err}");
    }

    #[test]
    fn colour_transform_follows_markers_then_photometric() {
        let h = |ids: [u8; 3], jfif, adobe| Header {
            precision: 8,
            component_ids: ids.to_vec(),
            jfif,
            adobe_transform: adobe,
            ..Default::default()
        };
        // The Adobe flag wins over component identifiers, as in libjpeg.
        assert!(!h([1, 2, 3], false, Some(0)).is_ycbcr("YBR_FULL_422"));
        assert!(h([0, 1, 2], false, Some(1)).is_ycbcr("RGB"));
        assert!(h([0, 1, 2], true, None).is_ycbcr("RGB"));
        assert!(!h([b'R', b'G', b'B'], false, None).is_ycbcr("YBR_FULL_422"));
        // No marker: the Photometric Interpretation decides.
        assert!(!h([0, 1, 2], false, None).is_ycbcr("RGB"));
        assert!(h([1, 2, 3], false, None).is_ycbcr("YBR_FULL_422"));
    }
}
