//! JPEG 2000 and HTJ2K (1.2.840.10008.1.2.4.90/.91/.201/.202/.203) through openjp2, the
//! pure-Rust port of OpenJPEG 2.5 (part-15 HT block decoder included), read from
//! memory. A JP2 file wrapper, which some writers put in DICOM, is accepted.
//! Single-tile HTJ2K goes to `ht53` instead (OpenJPH's HT block decoder, `ht_block`,
//! with our own packet reader and 5/3 transform, or for irreversible streams the 9/7
//! of `dwt97`), where it fits; the irreversible path reproduces openjp2's float
//! arithmetic exactly, so both give the same bytes. So does single-tile part-1 JPEG
//! 2000, reversible or irreversible (EBCOT code-blocks through `t1`).
//!
//! Colour: openjp2 applies the codestream's inverse component transform (RCT/ICT)
//! itself, so a 3-component frame with the COD MCT flag set comes out as RGB.

use super::{check_geometry, CodecOutput, Colour, PixelDescription, SampleBuf};
use crate::error::DecodeError;
use core::ffi::{c_char, c_void};
use openjp2::openjpeg::*;
use openjp2::{opj_dparameters_t, opj_image, CODEC_FORMAT, OPJ_CODEC_J2K, OPJ_CODEC_JP2};

mod dwt53;
mod dwt97;
mod ht53;
mod ht_block;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod ht_block_simd;
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
    /// QCD: scalar derived quantisation (one step), or scalar expounded with one step
    /// per subband (3 × levels + 1).
    pub qcd_irreversible_complete: bool,
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
            _ => {}
        }
        i += 2 + len;
    }
    h.qcd_reversible_complete = matches!(qcd, Some((sqcd, n))
        if sqcd & 0x1F == 0 && n > 3 * h.levels as usize);
    h.qcd_irreversible_complete = matches!(qcd, Some((sqcd, n))
        if (sqcd & 0x1F == 1 && n == 2)
            || (sqcd & 0x1F == 2 && n % 2 == 0 && n >= 2 * (3 * h.levels as usize + 1)));
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
    if ht_fits(data, &header) || part1_fits(data, &header) {
        if let Some(out) = decode_ht(data, &header, desc) {
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
/// context), main-header coding parameters only, one tile-part per tile. Reversible
/// (5/3, no quantisation) or irreversible (9/7, scalar derived or expounded
/// quantisation, reproduced bit for bit as openjp2 computes it). The component
/// transform, level shift and clamp are done by `decode_ht`.
fn ht_fits(data: &[u8], h: &J2kHeader) -> bool {
    h.ht && h.cb_style & 0xC8 == 0x40 && ht53_layout_fits(data, h)
}

/// What `ht53` needs of any stream, HT or part 1: raw samples, main-header coding
/// parameters only, one layer, precincts in a resolution-major order, grey or three alike
/// components with resolution before component, complete quantisation (reversible or
/// irreversible), one tile-part per tile.
fn ht53_layout_fits(data: &[u8], h: &J2kHeader) -> bool {
    let colour_ok = h.components == 3 && h.ssiz_at != 0 && {
        let s = &data[h.ssiz_at..];
        // The same depth and signedness in all three, and a progression order that
        // puts resolution before component (LRCP, RLCP, RPCL).
        s[0] == s[3] && s[0] == s[6] && h.progression <= 2
    };
    let quantisation_ok = if h.reversible {
        h.qcd_reversible_complete
    } else {
        h.qcd_irreversible_complete
    };
    h.raw
        && !h.per_component
        && h.layers == 1
        // Precinct partitions: resolution-major orders only (ht53 checks again).
        && (h.one_precinct || h.progression <= 2)
        && (h.components == 1 || colour_ok)
        && h.ssiz_at != 0
        && quantisation_ok
        && tile_parts_complete(data, h.first_sot, h.tiles)
}

/// Whether `ht53` may decode this part-1 (EBCOT) stream: what `ht_fits` asks of
/// HTJ2K (reversible, or irreversible with openjp2's dequantisation and 9/7), with
/// part-1 code-blocks in any of the six style options (`t1` decodes them all). Main-
/// header markers beyond SIZ/COD/QCD/TLM/CAP/PLM/CRG/COM (RGN, POC, PPM, ...) are
/// refused by `ht53::read_params`, for both paths.
fn part1_fits(data: &[u8], h: &J2kHeader) -> bool {
    !h.ht && h.cb_style & 0xC0 == 0 && ht53_layout_fits(data, h)
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

/// HTJ2K (grey, or three components with or without the RCT / ICT) through `ht53`
/// (HT code-blocks with OpenJPH's block decoder, several times faster than
/// openjp2's), then the inverse component transform, level shift and clamp here.
/// Reversible streams are lossless, so any conforming decoder gives the same
/// samples; irreversible ones (9/7, float) give openjp2's samples exactly (see
/// `dwt97`, `ict_row` and `round_shift_clamp`). `ht_fits` and `ht53` say which
/// streams; `None` for the rest, which openjp2 decodes.
fn decode_ht(data: &[u8], header: &J2kHeader, desc: &PixelDescription) -> Option<CodecOutput> {
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
    let (w, h, samples) = ht53::decode(data, header.first_sot, n)?;
    if w != header.width as usize || h != header.height as usize || w == 0 {
        return None;
    }
    let (mut planes, levels, mut last) = match samples {
        ht53::Samples::Int {
            planes,
            levels,
            last,
        } => (planes, levels, last),
        ht53::Samples::Float {
            planes,
            levels,
            last,
        } => return write_float(w, h, planes, levels, last, header.mct, &ranges, desc),
    };
    let width = desc.canonical_sample_bytes();
    let stride = n * width;
    let rct = n == 3 && header.mct;
    if n == 1 {
        // Grey: each row level-shifted, clamped and stored as the last synthesis
        // pass gives it.
        let mut rows = dwt53::Rows53::new(&mut planes[0], w, h, levels, &mut last[0]);
        let v = rows_out(h, w * width, |dst| {
            store_grey_row(dst, rows.next_row()?, width, ranges[0]);
            Some(())
        })?;
        return Some(output(w, h, 1, v, false));
    }
    // The components streamed together, each row of theirs combined and stored while
    // it is in cache.
    let mut rows: Vec<_> = planes
        .iter_mut()
        .zip(&mut last)
        .map(|(plane, last)| dwt53::Rows53::new(plane, w, h, levels, last))
        .collect();
    // The inverse RCT's R, G and B lines (every element written per row).
    let mut rgb = if rct { vec![0i32; 3 * w] } else { Vec::new() };
    let v = rows_out(h, w * stride, |row| {
        let lines: Vec<&[i32]> = rows
            .iter_mut()
            .map(|r| r.next_row())
            .collect::<Option<_>>()?;
        let line = |c: usize| lines[c];
        if rct {
            let (y, u, v) = (line(0), line(1), line(2));
            // 8-bit: sixteen pixels at a time with simd128, all in registers; the
            // rest (and wider samples) through the R, G and B lines.
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            let done = if width == 1 {
                simd_rgb::rct_rgb8(row, y, u, v, ranges[0])
            } else {
                0
            };
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            let done = 0;
            let (r, gb) = rgb.split_at_mut(w);
            let (g, b) = gb.split_at_mut(w);
            for k in done..w {
                g[k] = y[k].wrapping_sub(u[k].wrapping_add(v[k]) >> 2);
                r[k] = v[k].wrapping_add(g[k]);
                b[k] = u[k].wrapping_add(g[k]);
            }
            if width == 1 {
                // Level shift and clamp (the three components alike), interleaved.
                let (lo, hi, shift) = ranges[0];
                for line in rgb.chunks_exact_mut(w) {
                    for x in line[done..].iter_mut() {
                        *x = x.wrapping_add(shift).max(lo).min(hi);
                    }
                }
                let (r, gb) = rgb.split_at(w);
                let (g, b) = gb.split_at(w);
                store_rgb8(
                    &mut row[3 * done..],
                    &r[done..],
                    &g[done..],
                    &b[done..],
                    lo < 0,
                );
            } else {
                for (c, plane) in rgb.chunks_exact(w).enumerate() {
                    write_samples(&mut row[c * width..], plane, stride, width, ranges[c]);
                }
            }
        } else {
            for c in 0..n {
                write_samples(&mut row[c * width..], line(c), stride, width, ranges[c]);
            }
        }
        Some(())
    })?;
    Some(output(w, h, n, v, rct))
}

/// `h` rows of `row_bytes` bytes, each from `fill`, one after the other: each row is
/// zeroed just before it is filled, while in cache, rather than the whole output
/// zeroed ahead and written again.
fn rows_out(
    h: usize,
    row_bytes: usize,
    mut fill: impl FnMut(&mut [u8]) -> Option<()>,
) -> Option<Vec<u8>> {
    let mut v = Vec::with_capacity(h * row_bytes);
    for _ in 0..h {
        let at = v.len();
        v.resize(at + row_bytes, 0);
        fill(&mut v[at..])?;
    }
    Some(v)
}

/// Canonical little-endian samples of `w` × `h` pixels of `components` samples each as
/// a `CodecOutput`; `converted` when an inverse component transform made them RGB.
fn output(w: usize, h: usize, components: usize, v: Vec<u8>, converted: bool) -> CodecOutput {
    CodecOutput {
        width: w as u32,
        height: h as u32,
        components: components as u16,
        samples: SampleBuf::Le(v),
        colour: if converted {
            Colour::ConvertedToRgb
        } else {
            Colour::AsStored
        },
    }
}

/// The irreversible path's synthesis (`dwt97`) and output: openjp2's ICT
/// (`opj_mct_decode_real`) when the stream has it, then its rounding, level shift and
/// clamp (`opj_tcd_dc_level_shift_decode`), into canonical little-endian samples.
/// Grey samples are converted as the last vertical pass gives them, its high bands
/// from `last` where `ht53` kept them (`None` if one of their code-blocks fails).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn write_float(
    w: usize,
    h: usize,
    mut planes: Vec<Vec<f32>>,
    levels: u32,
    mut last: Vec<ht53::LastLevel>,
    mct: bool,
    ranges: &[(i32, i32, i32)],
    desc: &PixelDescription,
) -> Option<CodecOutput> {
    if planes.len() == 1 {
        let width = desc.canonical_sample_bytes();
        let mut v = vec![0u8; w * h * width];
        let mut ints = vec![0i32; w];
        let range = ranges[0];
        // One line of samples (`ints`, already rounded, shifted and clamped) into `v`
        // at sample index `at`.
        let store = |v: &mut [u8], at: usize, ints: &[i32]| {
            let dst = &mut v[at * width..(at + ints.len()) * width];
            store_grey_row(dst, ints, width, (i32::MIN, i32::MAX, 0));
        };
        // Rounds, shifts, clamps and stores `samples` at sample index `at`: eight at a
        // time with simd128 where it can, the rest through `ints`.
        let emit = |v: &mut [u8], at: usize, samples: &[f32], ints: &mut [i32]| {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            let done = simd_round::round_store(samples, &mut v[at * width..], width, range);
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            let done = 0;
            if done < samples.len() {
                let rest = &samples[done..];
                round_line_inlined(rest, &mut ints[..rest.len()], range);
                store(v, at + done, &ints[..rest.len()]);
            }
        };
        let row = |y: usize, samples: &[f32]| emit(&mut v, y * w, samples, &mut ints);
        match last.first_mut() {
            Some(last) if last.deferred() => {
                if !dwt97::idwt97_bands(&mut planes[0], w, h, levels, last, row) {
                    return None;
                }
            }
            _ => dwt97::idwt97_emit(&mut planes[0], w, h, levels, row),
        }
        return Some(output(w, h, 1, v, false));
    }
    // (`ht53` keeps the last level apart for grey streams only.)
    if last.iter().any(|l| l.deferred()) {
        return None;
    }
    for plane in planes.iter_mut() {
        dwt97::idwt97(plane, w, h, levels);
    }
    let n = planes.len();
    let width = desc.canonical_sample_bytes();
    let stride = n * width;
    let ict = n == 3 && mct;
    let mut v = vec![0u8; w * h * stride];
    // Each component's line as rounded, shifted and clamped integers, then stored.
    let mut ints = vec![0i32; n * w];
    let mut rgb = Vec::new();
    if ict {
        rgb.resize(3 * w, 0.0);
    }
    for (y, row) in v.chunks_exact_mut(w * stride).enumerate() {
        let line = |c: usize| &planes[c][y * w..(y + 1) * w];
        if ict {
            ict_row(line(0), line(1), line(2), &mut rgb);
        }
        for c in 0..n {
            let src = if ict {
                &rgb[c * w..(c + 1) * w]
            } else {
                line(c)
            };
            round_line(src, &mut ints[c * w..(c + 1) * w], ranges[c]);
        }
        if (n, width) == (3, 1) {
            let (r, gb) = ints.split_at(w);
            let (g, b) = gb.split_at(w);
            store_rgb8(row, r, g, b, ranges[0].0 < 0);
        } else {
            // Already clamped: stored as they are.
            for (c, line) in ints.chunks_exact(w).enumerate() {
                write_samples(
                    &mut row[c * width..],
                    line,
                    stride,
                    width,
                    (i32::MIN, i32::MAX, 0),
                );
            }
        }
    }
    Some(output(w, h, n, v, ict))
}

/// openjp2's inverse ICT (`opj_mct_decode_real`), f32, in its operation order, of one
/// line: R, G, B into `rgb`'s thirds.
fn ict_row(y: &[f32], u: &[f32], v: &[f32], rgb: &mut [f32]) {
    let w = y.len();
    let (r, gb) = rgb.split_at_mut(w);
    let (g, b) = gb.split_at_mut(w);
    for k in 0..w {
        let (y, u, v) = (y[k], u[k], v[k]);
        r[k] = y + v * 1.402f32;
        g[k] = y - u * 0.34413f32 - v * 0.71414f32;
        b[k] = y + u * 1.772f32;
    }
}

/// `round_shift_clamp` over a line, `range` = (lo, hi, level shift): eight samples at
/// a time through the fast form where all eight allow it (a loop that vectorises).
fn round_line(src: &[f32], dst: &mut [i32], range: (i32, i32, i32)) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = simd_round::round_ints(src, dst, range);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = 0;
    round_line_inlined(&src[done..], &mut dst[done..], range)
}

/// `round_line`, inlined where it is called for each strip row.
#[inline(always)]
fn round_line_inlined(src: &[f32], dst: &mut [i32], range: (i32, i32, i32)) {
    let (lo, hi, shift) = range;
    let mut d8 = dst.chunks_exact_mut(8);
    let mut s8 = src.chunks_exact(8);
    const LIMIT_BITS: i32 = ROUND_FAST_LIMIT.to_bits() as i32;
    for (d, s) in (&mut d8).zip(&mut s8) {
        // |x| < the limit, compared as bits (a NaN fails too).
        let mut large = false;
        for &x in s {
            large |= (x.to_bits() & 0x7FFF_FFFF) as i32 >= LIMIT_BITS;
        }
        if !large {
            for (d, &x) in d.iter_mut().zip(s) {
                *d = (round_small(x) + shift).clamp(lo, hi);
            }
        } else {
            for (d, &x) in d.iter_mut().zip(s) {
                *d = round_shift_clamp(x, lo, hi, shift);
            }
        }
    }
    for (d, &x) in d8.into_remainder().iter_mut().zip(s8.remainder()) {
        *d = round_shift_clamp(x, lo, hi, shift);
    }
}

/// `round_line` and the little-endian store of 8- and 16-bit samples, fused, with
/// simd128: adding `ROUND_MAGIC` rounds half to even as `round_small` does; and the same
/// store for integer samples (`store_grey_row`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd_round {
    use super::{ROUND_FAST_LIMIT, ROUND_MAGIC};
    use core::arch::wasm32::*;

    const MAGIC_BITS: i32 = ROUND_MAGIC.to_bits() as i32;

    /// Four samples rounded half to even, level-shifted and clamped (`range` = (lo,
    /// hi, `MAGIC_BITS` less the level shift)), and a mask of those below
    /// `ROUND_FAST_LIMIT` in magnitude (a NaN is not), for which the result is exact:
    /// adding `ROUND_MAGIC` rounds such an x half to even to an integer in the last place
    /// of a float in [2^23, 2^24], whose bit pattern less `MAGIC_BITS` is that
    /// integer (two operations, where `nearest` and `trunc_sat` are many).
    #[inline(always)]
    fn round4(x: v128, (lo, hi, bias): (v128, v128, v128)) -> (v128, v128) {
        let small = f32x4_lt(f32x4_abs(x), f32x4_splat(ROUND_FAST_LIMIT));
        let r = i32x4_sub(f32x4_add(x, f32x4_splat(ROUND_MAGIC)), bias);
        (i32x4_min(i32x4_max(r, lo), hi), small)
    }

    /// `round4`'s lanes for `(lo, hi, shift)`.
    fn splat_range((lo, hi, shift): (i32, i32, i32)) -> (v128, v128, v128) {
        let bias = MAGIC_BITS - shift;
        (i32x4_splat(lo), i32x4_splat(hi), i32x4_splat(bias))
    }

    /// `round_line` four samples at a time; returns how many it did: all but the
    /// last `len % 4` when every sample is below `ROUND_FAST_LIMIT` in magnitude,
    /// else none (checked once, at the end: the caller then redoes the line).
    pub(super) fn round_ints(src: &[f32], dst: &mut [i32], range: (i32, i32, i32)) -> usize {
        let n = src.len().min(dst.len()) & !3;
        let range = splat_range(range);
        let mut all_small = u32x4_splat(!0);
        for i in (0..n).step_by(4) {
            // SAFETY: i + 4 ≤ n ≤ both lengths.
            unsafe {
                let (v, small) = round4(v128_load(src.as_ptr().add(i) as *const v128), range);
                v128_store(dst.as_mut_ptr().add(i) as *mut v128, v);
                all_small = v128_and(all_small, small);
            }
        }
        if i32x4_all_true(all_small) {
            n
        } else {
            0
        }
    }

    /// Rounds, level-shifts, clamps (`range` = (lo, hi, shift)) and stores `src` as
    /// `width`-byte samples into `dst`, eight at a time; returns how many samples it
    /// stored: all but the last `len % 8` when every sample is below
    /// `ROUND_FAST_LIMIT` in magnitude (a NaN is not), else none (checked once, at
    /// the end: the caller then redoes the line). Widths other than 1 and 2: none.
    pub(super) fn round_store(
        src: &[f32],
        dst: &mut [u8],
        width: usize,
        range: (i32, i32, i32),
    ) -> usize {
        if width != 1 && width != 2 {
            return 0;
        }
        let n = (src.len().min(dst.len() / width)) & !7;
        // Clamped to [lo, hi], which fits the sample width: the saturating narrowing
        // below is exact with the right signedness.
        let signed = range.0 < 0;
        let range = splat_range(range);
        let mut all_small = u32x4_splat(!0);
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 ≤ n ≤ src.len(), and n × width ≤ dst.len().
            unsafe {
                let (a, sa) = round4(v128_load(src.as_ptr().add(i) as *const v128), range);
                let (b, sb) = round4(v128_load(src.as_ptr().add(i + 4) as *const v128), range);
                all_small = v128_and(all_small, v128_and(sa, sb));
                narrow_store8(a, b, signed, width, dst.as_mut_ptr(), i);
            }
        }
        if i32x4_all_true(all_small) {
            n
        } else {
            0
        }
    }

    /// Stores samples `i..i + 8` of `dst` (`width` bytes each, 1 or 2) from the lanes
    /// of `a` then `b`, already clamped to a range that fits the width with the
    /// signedness `signed`, so that the saturating narrowing is exact.
    ///
    /// # Safety
    /// `(i + 8) × width` must not exceed the length of the buffer at `dst`.
    #[inline(always)]
    unsafe fn narrow_store8(a: v128, b: v128, signed: bool, width: usize, dst: *mut u8, i: usize) {
        let words = if signed {
            i16x8_narrow_i32x4(a, b)
        } else {
            u16x8_narrow_i32x4(a, b)
        };
        if width == 2 {
            v128_store(dst.add(2 * i) as *mut v128, words);
        } else {
            let bytes = if signed {
                i8x16_narrow_i16x8(words, words)
            } else {
                u8x16_narrow_i16x8(words, words)
            };
            v128_store64_lane::<0>(bytes, dst.add(i) as *mut u64);
        }
    }

    /// Level-shifts, clamps (`range` = (lo, hi, shift)) and stores `src` as
    /// `width`-byte samples into `dst`, eight at a time; returns how many samples it
    /// stored. Widths other than 1 and 2, or a range that does not fit the width with
    /// its signedness: none.
    pub(super) fn store_ints(
        src: &[i32],
        dst: &mut [u8],
        width: usize,
        (lo, hi, shift): (i32, i32, i32),
    ) -> usize {
        let signed = lo < 0;
        let bits = 8 * width as u32;
        let fits = match (width, signed) {
            (1 | 2, true) => lo >= -(1 << (bits - 1)) && hi < 1 << (bits - 1),
            (1 | 2, false) => hi < 1 << bits,
            _ => false,
        };
        if !fits {
            return 0;
        }
        let n = (src.len().min(dst.len() / width)) & !7;
        let (vlo, vhi, vshift) = (i32x4_splat(lo), i32x4_splat(hi), i32x4_splat(shift));
        let px = |x: v128| i32x4_min(i32x4_max(i32x4_add(x, vshift), vlo), vhi);
        // Clamped to [lo, hi], which fits the sample width: the saturating narrowing
        // below is exact with the right signedness.
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 ≤ n ≤ src.len(), and n × width ≤ dst.len().
            unsafe {
                let a = px(v128_load(src.as_ptr().add(i) as *const v128));
                let b = px(v128_load(src.as_ptr().add(i + 4) as *const v128));
                narrow_store8(a, b, signed, width, dst.as_mut_ptr(), i);
            }
        }
        n
    }
}

/// Below this magnitude `round_small` is exact (and the sum with a level shift of
/// at most 2^30 cannot overflow).
const ROUND_FAST_LIMIT: f32 = 4_194_304.0;

/// 1.5 · 2^23: adding and subtracting it rounds half to even any |x| < 2^22.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Round half to even of |x| < 2^22, as `lrintf` does in the default rounding mode.
#[inline(always)]
fn round_small(x: f32) -> i32 {
    // `ROUND_MAGIC` natively, where `round_ties_even` may be a library call; wasm has
    // an instruction.
    let r = if cfg!(target_arch = "wasm32") {
        x.round_ties_even()
    } else {
        (x + ROUND_MAGIC) - ROUND_MAGIC
    };
    debug_assert!(r.abs() <= ROUND_FAST_LIMIT);
    // SAFETY: r is an integer of magnitude at most 2^22 (callers check |x| < 2^22),
    // so it converts to i32 exactly.
    unsafe { r.to_int_unchecked::<i32>() }
}

/// openjp2's float-to-sample step (`opj_tcd_dc_level_shift_decode`, irreversible):
/// beyond ±2^31 the bound, else round half to even (`lrintf`), add the level shift
/// (in i64) and clamp.
#[inline(always)]
fn round_shift_clamp(x: f32, lo: i32, hi: i32, shift: i32) -> i32 {
    if x.abs() < ROUND_FAST_LIMIT {
        return (round_small(x) + shift).clamp(lo, hi);
    }
    if x > 2_147_483_648.0 {
        hi
    } else if x < -2_147_483_648.0 {
        lo
    } else {
        (x.round_ties_even() as i64 + shift as i64).clamp(lo as i64, hi as i64) as i32
    }
}

/// Interleaves three lines of 8-bit samples (already within the 8-bit range,
/// `signed` or not) into `row` as R, G, B bytes: sixteen pixels at a time with
/// simd128.
fn store_rgb8(row: &mut [u8], r: &[i32], g: &[i32], b: &[i32], signed: bool) {
    let n = r.len().min(g.len()).min(b.len()).min(row.len() / 3);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = simd_rgb::store_rgb8(&mut row[..3 * n], &r[..n], &g[..n], &b[..n], signed);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = {
        let _ = signed;
        0
    };
    for (((d, &r), &g), &b) in row[3 * done..3 * n]
        .chunks_exact_mut(3)
        .zip(&r[done..n])
        .zip(&g[done..n])
        .zip(&b[done..n])
    {
        d[0] = r as u8;
        d[1] = g as u8;
        d[2] = b as u8;
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd_rgb {
    use core::arch::wasm32::*;

    /// Sixteen samples from `at` as bytes (exact: the values fit 8 bits).
    #[inline(always)]
    unsafe fn bytes16(x: &[i32], at: usize, signed: bool) -> v128 {
        let p = x.as_ptr().add(at) as *const v128;
        let lo = i16x8_narrow_i32x4(v128_load(p), v128_load(p.add(1)));
        let hi = i16x8_narrow_i32x4(v128_load(p.add(2)), v128_load(p.add(3)));
        if signed {
            i8x16_narrow_i16x8(lo, hi)
        } else {
            u8x16_narrow_i16x8(lo, hi)
        }
    }

    /// `super::store_rgb8` sixteen pixels at a time (the three lines and `row` hold
    /// n and 3n); returns how many pixels it stored.
    pub(super) fn store_rgb8(
        row: &mut [u8],
        r: &[i32],
        g: &[i32],
        b: &[i32],
        signed: bool,
    ) -> usize {
        let n = r.len() & !15;
        for i in (0..n).step_by(16) {
            // SAFETY: i + 16 ≤ n ≤ each line's length, and 3(i + 16) ≤ row.len().
            unsafe {
                let (r, g, b) = (
                    bytes16(r, i, signed),
                    bytes16(g, i, signed),
                    bytes16(b, i, signed),
                );
                let [o0, o1, o2] = super::super::interleave::rgb16(r, g, b);
                let out = row.as_mut_ptr().add(3 * i) as *mut v128;
                v128_store(out, o0);
                v128_store(out.add(1), o1);
                v128_store(out.add(2), o2);
            }
        }
        n
    }

    /// The inverse RCT of sixteen samples from `at` of the Y, U and V lines, each of
    /// R, G and B level-shifted, clamped (`range` = (lo, hi, shift)) and narrowed to
    /// bytes as `bytes16` does. `CLAMP` false: the range is the 8-bit one, which the
    /// saturating narrowing clamps to by itself.
    #[inline(always)]
    unsafe fn rct16<const CLAMP: bool>(
        (y, u, v): (&[i32], &[i32], &[i32]),
        at: usize,
        (lo, hi, shift): (v128, v128, v128),
        signed: bool,
    ) -> [v128; 3] {
        let px = |x: v128| {
            let x = i32x4_add(x, shift);
            if CLAMP {
                i32x4_min(i32x4_max(x, lo), hi)
            } else {
                x
            }
        };
        // R, G and B of the four samples from at + 4j.
        let quad = |j: usize| {
            let load = |x: &[i32]| v128_load(x.as_ptr().add(at + 4 * j) as *const v128);
            let (y, u, v) = (load(y), load(u), load(v));
            let g = i32x4_sub(y, i32x4_shr(i32x4_add(u, v), 2));
            (px(i32x4_add(v, g)), px(g), px(i32x4_add(u, g)))
        };
        let bytes = |a: v128, b: v128, c: v128, d: v128| {
            let lo = i16x8_narrow_i32x4(a, b);
            let hi = i16x8_narrow_i32x4(c, d);
            if signed {
                i8x16_narrow_i16x8(lo, hi)
            } else {
                u8x16_narrow_i16x8(lo, hi)
            }
        };
        let (r0, g0, b0) = quad(0);
        let (r1, g1, b1) = quad(1);
        let (r2, g2, b2) = quad(2);
        let (r3, g3, b3) = quad(3);
        [
            bytes(r0, r1, r2, r3),
            bytes(g0, g1, g2, g3),
            bytes(b0, b1, b2, b3),
        ]
    }

    /// The inverse RCT of the Y, U and V lines (n samples each), level-shifted and
    /// clamped to `range`, into `row` (3n) as 8-bit R, G, B, sixteen pixels at a
    /// time, as the scalar RCT, clamp and `store_rgb8` do; returns how many pixels it
    /// stored.
    pub(super) fn rct_rgb8(
        row: &mut [u8],
        y: &[i32],
        u: &[i32],
        v: &[i32],
        (lo, hi, shift): (i32, i32, i32),
    ) -> usize {
        let n = y.len().min(u.len()).min(v.len()).min(row.len() / 3) & !15;
        let range = (i32x4_splat(lo), i32x4_splat(hi), i32x4_splat(shift));
        let clamp = (lo, hi) != (0, 255) && (lo, hi) != (-128, 127);
        for i in (0..n).step_by(16) {
            // SAFETY: i + 16 ≤ n ≤ each line's length, and 3(i + 16) ≤ row.len().
            unsafe {
                let [r, g, b] = if clamp {
                    rct16::<true>((y, u, v), i, range, lo < 0)
                } else {
                    rct16::<false>((y, u, v), i, range, lo < 0)
                };
                let [o0, o1, o2] = super::super::interleave::rgb16(r, g, b);
                let out = row.as_mut_ptr().add(3 * i) as *mut v128;
                v128_store(out, o0);
                v128_store(out.add(1), o1);
                v128_store(out.add(2), o2);
            }
        }
        n
    }
}

/// One grey row, level-shifted and clamped, into little-endian `width`-byte samples
/// (`dst` holds exactly the row): 8- and 16-bit as loops that vectorise.
fn store_grey_row(dst: &mut [u8], row: &[i32], width: usize, range: (i32, i32, i32)) {
    // Eight at a time with simd128 where it can, the rest below.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = simd_round::store_ints(row, dst, width, range);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = 0;
    let (dst, row) = (&mut dst[done * width..], &row[done..]);
    let (lo, hi, shift) = range;
    let px = |x: i32| x.wrapping_add(shift).max(lo).min(hi);
    match width {
        1 => {
            for (d, &x) in dst.iter_mut().zip(row) {
                *d = px(x) as u8;
            }
        }
        2 => match bytemuck::try_cast_slice_mut::<u8, u16>(dst) {
            Ok(words) if cfg!(target_endian = "little") => {
                for (d, &x) in words.iter_mut().zip(row) {
                    *d = px(x) as u16;
                }
            }
            _ => write_samples(dst, row, 2, 2, range),
        },
        _ => write_samples(dst, row, width, width, range),
    }
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
    use super::differential::{cache, samples, xorshift};
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn not_a_codestream_is_named() {
        let err = read_header(b"\xFF\xD8\xFF\xE0 this is a JPEG").unwrap_err();
        assert!(err.to_string().contains("SOC"), "{err}");
    }

    /// A description that fits a raw codestream's header.
    fn describe(data: &[u8]) -> Option<PixelDescription> {
        let h = read_header(data).ok()?;
        let ssiz = *data.get(h.ssiz_at)?;
        let bits = (ssiz & 0x7F) as u16 + 1;
        Some(PixelDescription {
            rows: h.height,
            columns: h.width,
            samples_per_pixel: h.components,
            bits_allocated: if bits <= 8 {
                8
            } else if bits <= 16 {
                16
            } else {
                32
            },
            bits_stored: bits,
            high_bit: None,
            pixel_representation: (ssiz >> 7) as u16,
            photometric_interpretation: if h.components == 3 {
                "RGB".into()
            } else {
                "MONOCHROME2".into()
            },
            planar_configuration: 0,
            number_of_frames: 1,
        })
    }

    /// Decodes `data` through `ht53` (if it admits it) and through openjp2; panics
    /// unless they agree byte for byte. Whether `ht53` took it.
    fn same_as_openjp2(data: &[u8], desc: &PixelDescription, what: &str) -> bool {
        let Ok(header) = read_header(data) else {
            return false;
        };
        if !ht_fits(data, &header) {
            return false;
        }
        let Some(ours) = decode_ht(data, &header, desc) else {
            return false;
        };
        let theirs = decode_openjp2(data, &header, desc)
            .unwrap_or_else(|e| panic!("{what}: ht53 decodes, openjp2 fails: {e}"));
        assert_eq!(
            (ours.width, ours.height, ours.components, ours.colour),
            (
                theirs.width,
                theirs.height,
                theirs.components,
                theirs.colour
            ),
            "{what}"
        );
        let (a, b) = (samples(&ours), samples(&theirs));
        if a != b {
            let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
            panic!(
                "{what}: ht53 and openjp2 differ first at byte {at} of {} ({} vs {})",
                a.len(),
                a[at],
                b[at]
            );
        }
        true
    }

    /// The main header's QCD segment replaced by `qcd` (Sqcd and its steps).
    fn with_qcd(data: &[u8], qcd: &[u8]) -> Vec<u8> {
        let mut i = 2;
        while i + 4 <= data.len() && data[i + 1] != 0x90 {
            let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
            if data[i + 1] == 0x5C {
                let mut out = data[..i].to_vec();
                out.extend_from_slice(&[0xFF, 0x5C]);
                out.extend_from_slice(&(qcd.len() as u16 + 2).to_be_bytes());
                out.extend_from_slice(qcd);
                out.extend_from_slice(&data[i + 2 + len..]);
                return out;
            }
            i += 2 + len;
        }
        data.to_vec()
    }

    /// The QCD segment's bytes (Sqcd and its steps).
    fn qcd_of(data: &[u8]) -> Vec<u8> {
        let mut i = 2;
        while i + 4 <= data.len() && data[i + 1] != 0x90 {
            let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
            if data[i + 1] == 0x5C {
                return data[i + 4..i + 2 + len].to_vec();
            }
            i += 2 + len;
        }
        Vec::new()
    }

    /// Variants of a lossy stream's quantisation that both decoders must read alike:
    /// more guard bits, and scalar derived quantisation from a first step large
    /// enough for every band's bit-planes.
    fn quantisation_variants(data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let qcd = qcd_of(data);
        if qcd.len() < 3 || qcd[0] & 0x1F != 2 {
            return Vec::new();
        }
        let steps: Vec<(u16, u16)> = qcd[1..]
            .chunks_exact(2)
            .map(|w| {
                let v = u16::from_be_bytes([w[0], w[1]]);
                (v >> 11, v & 0x7FF)
            })
            .collect();
        let guard = qcd[0] >> 5;
        let mut out = Vec::new();
        for extra in 1..=2u8 {
            let mut q = qcd.clone();
            q[0] = ((guard + extra).min(7) << 5) | 2;
            out.push((format!("guard bits {}", guard + extra), with_qcd(data, &q)));
        }
        let levels = (steps.len() as u16 - 1) / 3;
        let e0 = steps.iter().map(|s| s.0).max().unwrap_or(0) + levels;
        for mant in [0u16, 0x3FF, 0x7FF] {
            if e0 <= 31 {
                let v = (e0 << 11) | mant;
                let q = [(guard << 5) | 1, (v >> 8) as u8, v as u8];
                out.push((format!("derived ε0 {e0} μ {mant}"), with_qcd(data, &q)));
            }
        }
        out
    }

    fn fixtures() -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/htj2k-lossy");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("tests/fixtures/htj2k-lossy")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "j2c"))
            .collect();
        files.sort();
        files
    }

    /// Small lossy HTJ2K streams (OpenJPH via imagecodecs; odd and one-sample
    /// sizes, 0 to 7 decompositions, 8/16-bit, signed, RGB with the ICT) and their
    /// quantisation variants: `ht53` takes each and gives openjp2's bytes exactly.
    #[test]
    fn lossy_ht_matches_openjp2_on_fixtures() {
        let mut taken = 0;
        let mut variants = 0;
        for path in fixtures() {
            let data = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let desc = describe(&data).unwrap();
            assert!(same_as_openjp2(&data, &desc, &name), "{name}: not taken");
            taken += 1;
            for (what, v) in quantisation_variants(&data) {
                if same_as_openjp2(&v, &desc, &format!("{name}, {what}")) {
                    variants += 1;
                }
            }
        }
        assert!(taken >= 20, "{taken} fixtures");
        assert!(
            variants >= 3 * taken,
            "{variants} quantisation variants taken"
        );
    }

    /// Every frame of the corpus and bench files in a JPEG 2000 / HTJ2K syntax.
    fn corpus_frames() -> Vec<(String, Vec<u8>, PixelDescription)> {
        let cache = cache();
        let mut paths = Vec::new();
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(cache.join("corpus/manifest.json")).expect("corpus"),
        )
        .unwrap();
        for e in manifest["files"].as_array().unwrap() {
            let ts = e["transfer_syntax"].as_str().unwrap_or("");
            if ts.starts_with("1.2.840.10008.1.2.4.9") || ts.starts_with("1.2.840.10008.1.2.4.20") {
                paths.push(cache.join("corpus").join(e["path"].as_str().unwrap()));
            }
        }
        if let Ok(dir) = std::fs::read_dir(cache.join("bench")) {
            let mut bench: Vec<PathBuf> = dir
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    let n = p.to_string_lossy();
                    n.ends_with(".4.201.dcm")
                        || n.ends_with(".4.202.dcm")
                        || n.ends_with(".4.203.dcm")
                        || n.ends_with(".4.90.dcm")
                        || n.ends_with(".4.91.dcm")
                })
                .collect();
            bench.sort();
            paths.extend(bench);
        }
        let mut out = Vec::new();
        for p in paths {
            let Ok(file) = crate::DicomFile::open(&p) else {
                continue;
            };
            for i in 0..file.number_of_frames() {
                if let Ok(data) = file.frame_bytes(i) {
                    let name = format!("{} frame {}", p.display(), i + 1);
                    out.push((name, data.to_vec(), file.description.clone()));
                }
            }
        }
        out
    }

    /// Every JPEG 2000 / HTJ2K frame of the corpus and bench files (the caches that
    /// scripts/setup-corpus.sh and the bench scripts fill), and its quantisation
    /// variants: wherever `ht53` takes one, openjp2 gives the same bytes. Ignored by
    /// default (needs the caches): `cargo test --release -p lumen --lib -- --ignored
    /// ht_matches_openjp2_on_corpus --nocapture`.
    #[test]
    #[ignore]
    fn ht_matches_openjp2_on_corpus() {
        let (mut frames, mut ht, mut taken, mut lossy, mut variants) = (0, 0, 0, 0, 0);
        for (name, data, desc) in corpus_frames() {
            frames += 1;
            let header = read_header(&data).ok();
            let is_ht = header.as_ref().is_some_and(|h| h.ht);
            ht += is_ht as usize;
            if same_as_openjp2(&data, &desc, &name) {
                taken += 1;
                if header.as_ref().is_some_and(|h| !h.reversible) {
                    lossy += 1;
                }
            } else if is_ht {
                println!("not taken: {name}");
            }
            for (what, v) in quantisation_variants(&data) {
                if same_as_openjp2(&v, &desc, &format!("{name}, {what}")) {
                    variants += 1;
                }
            }
        }
        println!(
            "{frames} JPEG 2000 / HTJ2K frames ({ht} HTJ2K): {taken} through ht53 ({lossy} \
             irreversible), all equal to openjp2; {variants} quantisation variants equal too"
        );
        assert!(lossy > 0);
    }

    /// Byte flips, runs of garbage and truncations of the lossy fixtures and bench
    /// frames through the whole dispatch: no panic, no hang. Ignored by default:
    /// `cargo test --release -p lumen --lib -- --ignored lossy_ht_fuzz --nocapture`
    /// (LUMEN_FUZZ_ROUNDS sets the rounds per stream).
    #[test]
    #[ignore]
    fn lossy_ht_fuzz() {
        let rounds: usize = std::env::var("LUMEN_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let mut streams: Vec<(String, Vec<u8>, PixelDescription)> = fixtures()
            .into_iter()
            .map(|p| {
                let data = std::fs::read(&p).unwrap();
                let desc = describe(&data).unwrap();
                (p.display().to_string(), data, desc)
            })
            .collect();
        streams.extend(
            corpus_frames()
                .into_iter()
                .filter(|(_, d, _)| read_header(d).is_ok_and(|h| h.ht && !h.reversible)),
        );
        let mut next = xorshift();
        let (mut runs, mut ok, mut agree, mut refused, mut differ) = (0, 0, 0, 0, 0);
        let mut slowest = std::time::Duration::ZERO;
        for (name, data, desc) in &streams {
            for round in 0..rounds {
                let mut v = data.clone();
                match next() % 4 {
                    0 => {
                        let cut = (next() as usize) % v.len();
                        v.truncate(cut);
                    }
                    1 => {
                        for _ in 0..1 + next() % 4 {
                            let at = (next() as usize) % v.len();
                            v[at] ^= 1 << (next() % 8);
                        }
                    }
                    2 => {
                        let at = (next() as usize) % v.len();
                        let n = (1 + next() as usize % 16).min(v.len() - at);
                        for b in &mut v[at..at + n] {
                            *b = next() as u8;
                        }
                    }
                    _ => {
                        // Flips in the main header and the first packet headers.
                        let span = v.len().min(400);
                        let at = (next() as usize) % span;
                        v[at] = next() as u8;
                    }
                }
                let t = std::time::Instant::now();
                let result = std::panic::catch_unwind(|| decode(&v, desc));
                let took = t.elapsed();
                slowest = slowest.max(took);
                runs += 1;
                match result {
                    Err(_) => panic!("{name} round {round}: panic"),
                    Ok(Ok(_)) => ok += 1,
                    Ok(Err(_)) => {}
                }
                assert!(took.as_secs() < 10, "{name} round {round}: {took:?}");
                // Where ht53 takes a damaged stream, compare with openjp2 for the record.
                if let Ok(h) = read_header(&v) {
                    if ht_fits(&v, &h)
                        && check_geometry(CODEC, h.width, h.height, h.components, desc).is_ok()
                    {
                        if let Some(ours) = decode_ht(&v, &h, desc) {
                            match decode_openjp2(&v, &h, desc) {
                                Ok(t) if samples(&t) == samples(&ours) => agree += 1,
                                Ok(_) => {
                                    differ += 1;
                                    if let Ok(dir) = std::env::var("LUMEN_FUZZ_DUMP") {
                                        let f = format!("{dir}/differ-{differ}.j2c");
                                        let _ = std::fs::write(f, &v);
                                    }
                                }
                                Err(e) => {
                                    refused += 1;
                                    if let Ok(dir) = std::env::var("LUMEN_FUZZ_DUMP") {
                                        println!("openjp2 refuses: {e}");
                                        let f = format!("{dir}/refused-{refused}.j2c");
                                        let _ = std::fs::write(f, &v);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        println!(
            "{runs} damaged streams from {} lossy ones: {ok} decoded, no panic, slowest {slowest:?}; \
             of those ht53 took, {agree} equal to openjp2, {refused} that openjp2 refuses, \
             {differ} that it decodes otherwise",
            streams.len()
        );
    }
}
