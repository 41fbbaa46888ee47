//! JPEG 2000 and HTJ2K (1.2.840.10008.1.2.4.90/.91/.201/.202/.203) through openjp2, the
//! pure-Rust port of OpenJPEG 2.5 (part-15 HT block decoder included), read from
//! memory. A JP2 file wrapper, which some writers put in DICOM, is accepted.
//!
//! Colour: openjp2 applies the codestream's inverse component transform (RCT/ICT)
//! itself, so a 3-component frame with the COD MCT flag set comes out as RGB.

use super::{check_geometry, CodecOutput, Colour, PixelDescription, SampleBuf};
use crate::error::DecodeError;
use core::ffi::{c_char, c_void};
use openjp2::openjpeg::*;
use openjp2::{opj_dparameters_t, opj_image, CODEC_FORMAT, OPJ_CODEC_J2K, OPJ_CODEC_JP2};

const CODEC: &str = "JPEG 2000";
const JP2_SIGNATURE: [u8; 12] = [
    0, 0, 0, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A,
];

/// Header facts read before decoding: size, components and whether MCT is on.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct J2kHeader {
    pub width: u32,
    pub height: u32,
    pub components: u16,
    pub mct: bool,
}

/// Finds SIZ and COD in a raw codestream's main header (or inside a JP2 `jp2c` box).
pub(crate) fn read_header(data: &[u8]) -> Result<J2kHeader, DecodeError> {
    let start = data
        .windows(2)
        .position(|w| w == [0xFF, 0x4F])
        .filter(|&p| p == 0 || data.starts_with(&JP2_SIGNATURE));
    let Some(mut i) = start else {
        return Err(DecodeError::codec(
            CODEC,
            "codestream does not start with SOC (FF4F)",
        ));
    };
    i += 2;
    let mut h = J2kHeader::default();
    let mut siz = false;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return Err(DecodeError::codec(
                CODEC,
                format!("expected a marker at byte {i} of the main header"),
            ));
        }
        let marker = data[i + 1];
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if marker == 0x90 || marker == 0x93 {
            break; // SOT / SOD: end of the main header
        }
        if len < 2 || i + 2 + len > data.len() {
            return Err(DecodeError::codec(
                CODEC,
                format!("marker FF{marker:02X} runs past the end of the codestream"),
            ));
        }
        let seg = &data[i + 4..i + 2 + len];
        match marker {
            0x51 if seg.len() >= 36 => {
                let be32 =
                    |o: usize| u32::from_be_bytes([seg[o], seg[o + 1], seg[o + 2], seg[o + 3]]);
                let (xsiz, ysiz, x0, y0) = (be32(2), be32(6), be32(10), be32(14));
                if xsiz <= x0 || ysiz <= y0 {
                    return Err(DecodeError::codec(CODEC, "SIZ gives an empty image"));
                }
                h.width = xsiz - x0;
                h.height = ysiz - y0;
                h.components = u16::from_be_bytes([seg[34], seg[35]]);
                siz = true;
            }
            0x52 if seg.len() >= 5 => h.mct = seg[4] != 0,
            _ => {}
        }
        i += 2 + len;
    }
    if !siz {
        return Err(DecodeError::codec(
            CODEC,
            "no SIZ marker in the main header",
        ));
    }
    Ok(h)
}

struct Memory<'a> {
    data: &'a [u8],
    pos: usize,
}

unsafe extern "C" fn mem_read(buf: *mut c_void, n: usize, user: *mut c_void) -> usize {
    let m = &mut *(user as *mut Memory);
    let take = n.min(m.data.len() - m.pos);
    if take > 0 {
        core::ptr::copy_nonoverlapping(m.data.as_ptr().add(m.pos), buf as *mut u8, take);
        m.pos += take;
    }
    take
}

unsafe extern "C" fn mem_skip(n: i64, user: *mut c_void) -> i64 {
    let m = &mut *(user as *mut Memory);
    let target = m.pos as i64 + n;
    if target < 0 || target > m.data.len() as i64 {
        return -1;
    }
    m.pos = target as usize;
    n
}

unsafe extern "C" fn mem_seek(n: i64, user: *mut c_void) -> i32 {
    let m = &mut *(user as *mut Memory);
    if n < 0 || n > m.data.len() as i64 {
        return 0;
    }
    m.pos = n as usize;
    1
}

unsafe extern "C" fn keep_message(msg: *const c_char, user: *mut c_void) {
    if msg.is_null() || user.is_null() {
        return;
    }
    let text = core::ffi::CStr::from_ptr(msg).to_string_lossy();
    let out = &mut *(user as *mut String);
    if out.is_empty() {
        out.push_str(text.trim());
    }
}

/// Owns the openjp2 objects so that every exit path frees them.
struct Session {
    codec: *mut opj_codec_t,
    stream: *mut opj_stream_t,
    image: *mut opj_image,
}

impl Drop for Session {
    fn drop(&mut self) {
        unsafe {
            if !self.image.is_null() {
                openjp2::image::opj_image_destroy(self.image);
            }
            if !self.stream.is_null() {
                opj_stream_destroy(self.stream);
            }
            if !self.codec.is_null() {
                opj_destroy_codec(self.codec);
            }
        }
    }
}

pub(crate) fn decode(data: &[u8], desc: &PixelDescription) -> Result<CodecOutput, DecodeError> {
    let header = read_header(data)?;
    check_geometry(CODEC, header.width, header.height, header.components, desc)?;
    let format: CODEC_FORMAT = if data.starts_with(&JP2_SIGNATURE) {
        OPJ_CODEC_JP2
    } else {
        OPJ_CODEC_J2K
    };
    let mut memory = Memory { data, pos: 0 };
    let mut message = String::new();
    let fail = |what: &str, message: &String| {
        let detail = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        DecodeError::codec(CODEC, format!("{what}{detail}"))
    };
    unsafe {
        let mut s = Session {
            codec: opj_create_decompress(format),
            stream: core::ptr::null_mut(),
            image: core::ptr::null_mut(),
        };
        if s.codec.is_null() {
            return Err(DecodeError::codec(CODEC, "could not create a decoder"));
        }
        let user = &mut message as *mut String as *mut c_void;
        opj_set_error_handler(s.codec, Some(keep_message), user);
        let mut params = opj_dparameters_t::default();
        opj_set_default_decoder_parameters(&mut params);
        if opj_setup_decoder(s.codec, &mut params) == 0 {
            return Err(fail("decoder setup failed", &message));
        }
        s.stream = opj_stream_create(data.len().clamp(4096, 1 << 20), 1);
        if s.stream.is_null() {
            return Err(DecodeError::codec(CODEC, "could not create a stream"));
        }
        opj_stream_set_user_data(s.stream, &mut memory as *mut Memory as *mut c_void, None);
        opj_stream_set_user_data_length(s.stream, data.len() as u64);
        opj_stream_set_read_function(s.stream, Some(mem_read));
        opj_stream_set_skip_function(s.stream, Some(mem_skip));
        opj_stream_set_seek_function(s.stream, Some(mem_seek));
        if opj_read_header(s.stream, s.codec, &mut s.image) == 0 || s.image.is_null() {
            return Err(fail("could not read the codestream header", &message));
        }
        if opj_decode(s.codec, s.stream, s.image) == 0 {
            return Err(fail("corrupt or truncated codestream", &message));
        }
        opj_end_decompress(s.codec, s.stream);
        let image = &*s.image;
        let comps = image
            .comps()
            .ok_or_else(|| DecodeError::codec(CODEC, "decoded image has no components"))?;
        let (w, h) = (comps[0].w, comps[0].h);
        if comps
            .iter()
            .any(|c| c.w != w || c.h != h || c.dx != 1 || c.dy != 1)
        {
            return Err(DecodeError::codec(
                CODEC,
                "subsampled components are not supported",
            ));
        }
        let n = comps.len();
        let pixels = w as usize * h as usize;
        let planes: Vec<&[i32]> = comps
            .iter()
            .map(|c| {
                c.data()
                    .filter(|d| d.len() >= pixels)
                    .ok_or_else(|| DecodeError::codec(CODEC, "a component has no decoded data"))
            })
            .collect::<Result<_, _>>()?;
        // Straight into the canonical little-endian layout; the shared step masks and
        // sign-extends afterwards.
        let width = desc.canonical_sample_bytes();
        let mut v = vec![0u8; pixels * n * width];
        for (c, plane) in planes.iter().enumerate() {
            for (dst, &x) in v.chunks_exact_mut(n * width).zip(&plane[..pixels]) {
                dst[c * width..(c + 1) * width].copy_from_slice(&(x as u32).to_le_bytes()[..width]);
            }
        }
        let colour = if n == 3 && header.mct {
            Colour::ConvertedToRgb
        } else {
            Colour::AsStored
        };
        Ok(CodecOutput {
            width: w,
            height: h,
            components: n as u16,
            samples: SampleBuf::Le(v),
            colour,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_codestream_is_named() {
        let err = read_header(b"\xFF\xD8\xFF\xE0 this is a JPEG").unwrap_err();
        assert!(err.to_string().contains("SOC"), "{err}");
    }
}
