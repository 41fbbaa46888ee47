//! JPEG 2000 and HTJ2K (1.2.840.10008.1.2.4.90/.91/.201/.202/.203) through openjp2, the
//! pure-Rust port of OpenJPEG 2.5 (part-15 HT block decoder included), read from
//! memory. A JP2 file wrapper, which some writers put in DICOM, is accepted.
//! Reversible single-tile HTJ2K goes to `ht53` instead (OpenJPH's HT block decoder,
//! `ht_block`, with our own packet reader and 5/3 transform), where it fits, and so
//! does reversible single-tile part-1 JPEG 2000 (EBCOT code-blocks through `t1`).
//!
//! Colour: openjp2 applies the codestream's inverse component transform (RCT/ICT)
//! itself, so a 3-component frame with the COD MCT flag set comes out as RGB.

use super::{check_geometry, CodecOutput, Colour, PixelDescription, SampleBuf};
use crate::error::DecodeError;
use core::ffi::{c_char, c_void};
use openjp2::openjpeg::*;
use openjp2::{opj_dparameters_t, opj_image, CODEC_FORMAT, OPJ_CODEC_J2K, OPJ_CODEC_JP2};

mod ht53;
mod ht_block;
mod ht_tables;
mod mq;
mod t1;

#[cfg(test)]
mod differential;

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
    /// COD: HT (part 15) code-blocks (code-block style bit 0x40).
    pub ht: bool,
    /// COD: the reversible 5/3 wavelet.
    pub reversible: bool,
    /// A COC or QCC in the main header (per-component coding or quantisation).
    pub per_component: bool,
    /// The codestream starts at byte 0 (no JP2 wrapper).
    pub raw: bool,
    /// Where the main header ends (the first SOT), 0 if not found.
    pub first_sot: usize,
    /// COD: decomposition levels.
    pub levels: u8,
    /// QCD: no quantisation (reversible), with one exponent byte per subband
    /// (3 × levels + 1); checked after the whole main header is read.
    pub qcd_reversible_complete: bool,
    /// Where component 0's Ssiz byte lies in `data` (0 if SIZ is short).
    pub ssiz_at: usize,
    /// The full image extent (Xsiz, Ysiz) on the reference grid.
    pub extent: (u32, u32),
    /// COD: quality layers.
    pub layers: u16,
    /// COD: the progression order (0 LRCP, 1 RLCP, 2 RPCL, 3 PCRL, 4 CPRL).
    pub progression: u8,
    /// COD: the code-block style byte.
    pub cb_style: u8,
    /// COD: every resolution's precinct holds the whole resolution (no precinct
    /// partition in effect), so each resolution of each component is one packet.
    pub one_precinct: bool,
    /// SIZ: the number of tiles.
    pub tiles: u64,
    /// A main-header marker that changes how packets or coefficients are read
    /// beyond SIZ/COD/QCD (RGN, POC, PPM, or one not known here); COC and QCC are
    /// `per_component`.
    pub other_markers: bool,
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
    let mut qcd = None;
    let mut cod: Option<&[u8]> = None;
    let mut h = J2kHeader {
        raw: i == 0,
        ..J2kHeader::default()
    };
    i += 2;
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
            if marker == 0x90 {
                h.first_sot = i;
            }
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
                h.extent = (xsiz, ysiz);
                let (xt, yt, xto, yto) = (be32(18), be32(22), be32(26), be32(30));
                if xt > 0 && yt > 0 && xto <= x0 && yto <= y0 {
                    h.tiles = (xsiz - xto).div_ceil(xt) as u64 * (ysiz - yto).div_ceil(yt) as u64;
                }
                h.components = u16::from_be_bytes([seg[34], seg[35]]);
                if seg.len() >= 36 + 3 * h.components as usize {
                    h.ssiz_at = i + 4 + 36;
                }
                siz = true;
            }
            0x52 if seg.len() >= 5 => {
                h.mct = seg[4] != 0;
                h.layers = u16::from_be_bytes([seg[2], seg[3]]);
                if seg.len() >= 10 {
                    h.levels = seg[5];
                    h.cb_style = seg[8];
                    h.progression = seg[1];
                    h.ht = seg[8] & 0x40 != 0;
                    h.reversible = seg[9] == 1;
                    cod = Some(seg);
                }
            }
            0x53 | 0x5D => h.per_component = true,
            0x5C if !seg.is_empty() => qcd = Some((seg[0], seg.len() - 1)),
            // SIZ, COD, QCD (read above, or short), TLM, PLM, CRG, COM.
            0x51 | 0x52 | 0x5C | 0x55 | 0x57 | 0x63 | 0x64 => {}
            _ => h.other_markers = true,
        }
        i += 2 + len;
    }
    h.qcd_reversible_complete = matches!(qcd, Some((sqcd, n))
        if sqcd & 0x1F == 0 && n >= 3 * h.levels as usize + 1);
    h.one_precinct = match cod {
        // Default precincts: 2^15 on a side, larger than any DICOM frame.
        Some(seg) if seg[0] & 1 == 0 => h.extent.0 <= 1 << 15 && h.extent.1 <= 1 << 15,
        // User precincts (one PPx/PPy byte per resolution): each must cover the
        // resolution's whole extent from the grid origin.
        Some(seg) => {
            let levels = h.levels as u32;
            seg.len() > 10 + levels as usize
                && (0..=levels).all(|r| {
                    let pp = seg[10 + r as usize];
                    let shift = levels - r;
                    let (w, ht) = (
                        h.extent.0.div_ceil(1 << shift.min(31)),
                        h.extent.1.div_ceil(1 << shift.min(31)),
                    );
                    (w as u64) <= 1u64 << (pp & 0x0F) && (ht as u64) <= 1u64 << (pp >> 4)
                })
        }
        None => false,
    };
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
    if ht_reversible_fits(data, &header) || part1_reversible_fits(data, &header) {
        if let Some(out) = decode_ht_reversible(data, &header, desc) {
            return Ok(out);
        }
    }
    decode_openjp2(data, &header, desc)
}

/// The whole stream through openjp2 (anything `ht53` does not take).
pub(crate) fn decode_openjp2(
    data: &[u8],
    header: &J2kHeader,
    desc: &PixelDescription,
) -> Result<CodecOutput, DecodeError> {
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
        match (n, width) {
            // The common grey cases, with a constant sample width.
            (1, 1) => {
                for (dst, &x) in v.iter_mut().zip(&planes[0][..pixels]) {
                    *dst = x as u8;
                }
            }
            (1, 2) => {
                for (dst, &x) in v.chunks_exact_mut(2).zip(&planes[0][..pixels]) {
                    dst.copy_from_slice(&(x as u16).to_le_bytes());
                }
            }
            _ => {
                for (c, plane) in planes.iter().enumerate() {
                    for (dst, &x) in v.chunks_exact_mut(n * width).zip(&plane[..pixels]) {
                        dst[c * width..(c + 1) * width]
                            .copy_from_slice(&(x as u32).to_le_bytes()[..width]);
                    }
                }
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

/// Whether `ht53` may decode this stream (it also declines what it finds outside its
/// subset, and openjp2 decodes that). Its packet reader is a subset of part 15 (the
/// one openjph-core 0.1.0 reads): one quality layer and one precinct per resolution
/// (then LRCP, RLCP and RPCL all give resolution-major order, and with one component
/// every order does), HT cleanup blocks only (no mixed mode, no vertically causal
/// context), main-header coding parameters only, one tile-part per tile. The inverse
/// RCT, level shift and clamp are done by `decode_ht_reversible`.
fn ht_reversible_fits(data: &[u8], h: &J2kHeader) -> bool {
    let colour_ok = h.components == 3 && h.ssiz_at != 0 && {
        let s = &data[h.ssiz_at..];
        // The same depth and signedness in all three, and a progression order that
        // puts resolution before component (LRCP, RLCP, RPCL).
        s[0] == s[3] && s[0] == s[6] && h.progression <= 2
    };
    h.ht && h.cb_style & 0xC8 == 0x40
        && h.reversible
        && h.raw
        && !h.per_component
        && h.layers == 1
        && h.one_precinct
        && (h.components == 1 || colour_ok)
        && h.ssiz_at != 0
        && h.qcd_reversible_complete
        && tile_parts_complete(data, h.first_sot, h.tiles)
}

/// Whether `ht53` may decode this part-1 (EBCOT) stream: what `ht_reversible_fits`
/// asks of HTJ2K, with part-1 code-blocks in any of the six style options (`t1`
/// decodes them all), one quality layer, and no RGN, POC or PPM in the main header.
fn part1_reversible_fits(data: &[u8], h: &J2kHeader) -> bool {
    let colour_ok = h.components == 3 && h.ssiz_at != 0 && {
        let s = &data[h.ssiz_at..];
        s[0] == s[3] && s[0] == s[6] && h.progression <= 2
    };
    !h.ht
        && h.cb_style & 0xC0 == 0
        && h.reversible
        && h.raw
        && !h.per_component
        && !h.other_markers
        && h.layers == 1
        && h.one_precinct
        && (h.components == 1 || colour_ok)
        && h.ssiz_at != 0
        && h.qcd_reversible_complete
        && tile_parts_complete(data, h.first_sot, h.tiles)
}

/// Where the codestream ends once DICOM's padding to an even length is off: zero
/// bytes, or one 0xFF after the EOC (which some writers use).
pub(super) fn padded_end(data: &[u8]) -> usize {
    let mut end = data.len();
    while end > 0 && data[end - 1] == 0 {
        end -= 1;
    }
    if end >= 3 && data[end - 3..end] == [0xFF, 0xD9, 0xFF] {
        end -= 1;
    }
    end
}

/// Whether the tile-parts from `sot` on are one per tile, in tile order, each with an
/// empty tile-part header (SOD right after SOT), chaining by their Psot lengths to an
/// EOC that ends the codestream (DICOM's even-length padding allowed). A stream that
/// fails this check goes to openjp2, which says what is wrong (OpenJPH-style decoding
/// would turn a truncated stream into a picture).
fn tile_parts_complete(data: &[u8], sot: usize, tiles: u64) -> bool {
    let end = padded_end(data);
    if sot == 0 || tiles == 0 || end < 2 || data[end - 2..end] != [0xFF, 0xD9] {
        return false;
    }
    let eoc = end - 2;
    let mut p = sot;
    let mut index = 0u64;
    while p < eoc {
        if p + 14 > eoc
            || data[p..p + 4] != [0xFF, 0x90, 0, 10]
            || data[p + 12..p + 14] != [0xFF, 0x93]
            || u16::from_be_bytes([data[p + 4], data[p + 5]]) as u64 != index
            || data[p + 10] != 0
            || data[p + 11] > 1
        {
            return false;
        }
        index += 1;
        let psot =
            u32::from_be_bytes([data[p + 6], data[p + 7], data[p + 8], data[p + 9]]) as usize;
        if psot == 0 {
            return index == tiles; // the last tile-part runs to the EOC
        }
        if psot < 14 || psot > eoc - p {
            return false;
        }
        p += psot;
    }
    p == eoc && index == tiles
}

/// Reversible HTJ2K (grey, or three components with or without the RCT) through
/// `ht53` (HT code-blocks with OpenJPH's block decoder, several times faster than
/// openjp2's), then the inverse RCT, level shift and clamp here. Lossless, so any
/// conforming decoder gives the same samples; lossy (9/7, float) HTJ2K stays with
/// openjp2, which matches OpenJPEG exactly. `ht_reversible_fits` and `ht53` say
/// which streams; `None` for the rest, which openjp2 decodes.
fn decode_ht_reversible(
    data: &[u8],
    header: &J2kHeader,
    desc: &PixelDescription,
) -> Option<CodecOutput> {
    let n = header.components as usize;
    // Depth and signedness per component: (lo, hi, level shift).
    let mut ranges = Vec::with_capacity(n);
    for c in 0..n {
        let ssiz = data[header.ssiz_at + 3 * c];
        let bits = (ssiz & 0x7F) as u32 + 1;
        if bits > 31 {
            return None;
        }
        ranges.push(if ssiz & 0x80 != 0 {
            (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1, 0)
        } else {
            (0, ((1u32 << bits) - 1) as i32, 1i32 << (bits - 1))
        });
    }
    let (w, h, planes) = ht53::decode(data, header.first_sot, n)?;
    if w != header.width as usize || h != header.height as usize || w == 0 {
        return None;
    }
    let width = desc.canonical_sample_bytes();
    let stride = n * width;
    let rct = n == 3 && header.mct;
    let mut v = vec![0u8; w * h * stride];
    if n == 1 && width == 2 {
        // Grey in 16-bit containers: as u16 words where the buffer is aligned (a
        // loop that vectorises), else byte pairs.
        let (lo, hi, shift) = ranges[0];
        let px = |x: i32| x.wrapping_add(shift).max(lo).min(hi) as u16;
        match bytemuck::try_cast_slice_mut::<u8, u16>(&mut v) {
            Ok(words) if cfg!(target_endian = "little") => {
                for (d, &x) in words.iter_mut().zip(&planes[0]) {
                    *d = px(x);
                }
            }
            _ => {
                for (d, &x) in v.chunks_exact_mut(2).zip(&planes[0]) {
                    d.copy_from_slice(&px(x).to_le_bytes());
                }
            }
        }
        return Some(CodecOutput {
            width: w as u32,
            height: h as u32,
            components: 1,
            samples: SampleBuf::Le(v),
            colour: Colour::AsStored,
        });
    }
    let mut rgb = Vec::new();
    for (y, row) in v.chunks_exact_mut(w * stride).enumerate() {
        let line = |c: usize| &planes[c][y * w..(y + 1) * w];
        if rct {
            let (y, u, v) = (line(0), line(1), line(2));
            let (lo, hi, shift) = ranges[0];
            let px = |x: i32| x.wrapping_add(shift).max(lo).min(hi);
            if width == 1 {
                // Inverse RCT, level shift and clamp in one pass.
                for (((d, &y), &u), &v) in row.chunks_exact_mut(3).zip(y).zip(u).zip(v) {
                    let g = y.wrapping_sub(u.wrapping_add(v) >> 2);
                    d[0] = px(v.wrapping_add(g)) as u8;
                    d[1] = px(g) as u8;
                    d[2] = px(u.wrapping_add(g)) as u8;
                }
            } else {
                rgb.clear();
                rgb.resize(3 * w, 0);
                let (r, gb) = rgb.split_at_mut(w);
                let (g, b) = gb.split_at_mut(w);
                for k in 0..w {
                    g[k] = y[k].wrapping_sub(u[k].wrapping_add(v[k]) >> 2);
                    r[k] = v[k].wrapping_add(g[k]);
                    b[k] = u[k].wrapping_add(g[k]);
                }
                for (c, plane) in [&*r, &*g, &*b].iter().enumerate() {
                    write_samples(&mut row[c * width..], plane, stride, width, ranges[c]);
                }
            }
        } else {
            for c in 0..n {
                write_samples(&mut row[c * width..], line(c), stride, width, ranges[c]);
            }
        }
    }
    Some(CodecOutput {
        width: w as u32,
        height: h as u32,
        components: n as u16,
        samples: SampleBuf::Le(v),
        colour: if rct {
            Colour::ConvertedToRgb
        } else {
            Colour::AsStored
        },
    })
}

/// Level-shifts, clamps and stores one component's line as `width`-byte little-endian
/// samples, `stride` bytes apart.
fn write_samples(
    dst: &mut [u8],
    line: &[i32],
    stride: usize,
    width: usize,
    range: (i32, i32, i32),
) {
    let (lo, hi, shift) = range;
    for (k, &x) in line.iter().enumerate() {
        let b = x.wrapping_add(shift).max(lo).min(hi).to_le_bytes();
        dst[k * stride..k * stride + width].copy_from_slice(&b[..width]);
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
