//! Pure-Rust JPEG-LS decoder (ITU-T T.87 / ISO/IEC 14495-1), as used by the
//! DICOM transfer syntaxes 1.2.840.10008.1.2.4.80 (lossless) and
//! 1.2.840.10008.1.2.4.81 (near-lossless).
//!
//! Supported:
//! * precision 2..=16 bits, 1..=4 components;
//! * interleave modes none (ILV=0, one scan per component), line (ILV=1) and
//!   sample (ILV=2);
//! * lossless and near-lossless (NEAR > 0, may differ per scan);
//! * default and custom preset coding parameters (LSE id 1: MAXVAL, T1, T2,
//!   T3, RESET), also between scans;
//! * oversize image dimensions (LSE id 4);
//! * restart intervals (DRI with 2, 3 or 4 byte Ri; RSTn markers);
//! * fill bytes before markers, a trailing `FF FF D9` (dcmtk padding),
//!   APPn / COM segments (skipped), SPIFF headers (skipped).
//!
//! Rejected with a typed [`JpegLsError`]:
//! * HP colour transforms (APP8 "mrfx" with a non-zero transform id);
//! * mapping tables (LSE id 2/3, or a scan with a non-zero table selector);
//! * sampling factors that differ between components (subsampling);
//! * point transform (Al != 0), more than 4 components, precision outside 2..=16.
//!
//! Output: [`JpegLsImage::samples`] is always `Vec<u16>` (also for precision
//! <= 8), samples interleaved per pixel (component order of the frame header),
//! rows top to bottom. Values are in `0..=MAXVAL`. [`decode_le`] writes the
//! same samples as little-endian bytes, 1 or 2 bytes a sample, masked or
//! sign-extended to a number of bits (a [`SampleLayout`]: the canonical frame
//! layout), without an intermediate `u16` buffer or a second pass.
//!
//! Bit-exactness: the decoding follows CharLS 2.4 (the reference most DICOM
//! toolkits use), including its behaviour for sample-interleaved run
//! interruption (all components use run context 0) and its 8-bit storage of
//! the run-interruption RESET/N counters (matters only for RESET > 255).
//! For a custom MAXVAL (LSE id 1 with MAXVAL < 2^P - 1) this decoder follows
//! T.87 (RANGE, qbpp and LIMIT derived from MAXVAL); CharLS differs there.

use std::cell::{Cell, UnsafeCell};
use std::fmt;

/// A decoded JPEG-LS image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegLsImage {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub bits_per_sample: u8,
    /// Largest NEAR of all scans (0 = lossless).
    pub near: u8,
    /// Interleave mode of the first scan (0 none, 1 line, 2 sample).
    pub interleave: u8,
    /// Samples interleaved per pixel, row-major; always u16, also for P <= 8.
    pub samples: Vec<u16>,
}

/// Frame and first-scan parameters, as returned by [`read_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegLsHeader {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub bits_per_sample: u8,
    pub near: u8,
    pub interleave: u8,
}

/// Everything that can go wrong while decoding. Never panics on any input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JpegLsError {
    /// The data does not start with an SOI marker.
    NotJpeg,
    /// The stream ended inside a marker segment or before all scans.
    Truncated {
        what: &'static str,
    },
    /// The entropy-coded data of a scan ran out (component id from the frame header).
    TruncatedScanData {
        component: u8,
    },
    /// The entropy-coded data of a scan is inconsistent.
    InvalidScanData {
        component: u8,
    },
    /// A marker was expected at this byte offset.
    MarkerExpected {
        offset: usize,
    },
    /// A marker that is not allowed here.
    UnexpectedMarker {
        marker: u8,
        context: &'static str,
    },
    /// A JPEG frame of another process (e.g. SOF0 baseline) - not JPEG-LS.
    NotJpegLs {
        marker: u8,
    },
    /// A marker segment with a bad length or layout.
    InvalidSegment {
        marker: u8,
        reason: &'static str,
    },
    /// A header parameter outside its legal range.
    InvalidParameter {
        name: &'static str,
        value: u32,
    },
    UnsupportedBitsPerSample(u8),
    UnsupportedComponentCount(u8),
    UnsupportedSubsampling {
        component: u8,
        h: u8,
        v: u8,
    },
    /// Mapping table definitions (LSE id 2 or 3).
    UnsupportedMappingTable {
        lse_id: u8,
    },
    /// A scan that uses a mapping table.
    MappingTableReference {
        component: u8,
        table: u8,
    },
    /// HP colour transform announced by an APP8 "mrfx" segment.
    UnsupportedColorTransform(u8),
    UnsupportedPointTransform(u8),
    UnsupportedLse {
        id: u8,
    },
    ImageTooLarge {
        width: u32,
        height: u32,
        components: u8,
    },
    EmptyImage {
        width: u32,
        height: u32,
    },
    OutOfMemory {
        bytes: u64,
    },
    MissingFrameHeader,
    DuplicateFrameHeader,
    UnknownComponent {
        id: u8,
    },
    DuplicateScan {
        component: u8,
    },
    MissingScan {
        component: u8,
    },
    RestartMarkerExpected {
        offset: usize,
    },
    /// A decode started while another one on the same thread still holds the
    /// decoding tables (see [`Lease`]); decoding never nests, so this is not
    /// expected to happen.
    NestedDecode,
}

impl fmt::Display for JpegLsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use JpegLsError::*;
        f.write_str("JPEG-LS: ")?;
        match self {
            NotJpeg => f.write_str("missing SOI marker, not a JPEG stream"),
            Truncated { what } => write!(f, "truncated data ({what})"),
            TruncatedScanData { component } => {
                write!(f, "truncated scan data in component {component}")
            }
            InvalidScanData { component } => {
                write!(f, "invalid entropy-coded data in component {component}")
            }
            MarkerExpected { offset } => write!(f, "marker expected at byte offset {offset}"),
            UnexpectedMarker { marker, context } => {
                write!(f, "unexpected marker 0xFF{marker:02X} {context}")
            }
            NotJpegLs { marker } => write!(
                f,
                "frame marker 0xFF{marker:02X} is not JPEG-LS (SOF55, 0xFFF7 expected)"
            ),
            InvalidSegment { marker, reason } => {
                write!(f, "invalid marker segment 0xFF{marker:02X}: {reason}")
            }
            InvalidParameter { name, value } => write!(f, "invalid {name} ({value})"),
            UnsupportedBitsPerSample(p) => {
                write!(f, "unsupported precision {p} bits (2..16 supported)")
            }
            UnsupportedComponentCount(n) => {
                write!(f, "unsupported component count {n} (1..4 supported)")
            }
            UnsupportedSubsampling { component, h, v } => write!(
                f,
                "unsupported subsampling (component {component} has sampling factors {h}x{v})"
            ),
            UnsupportedMappingTable { lse_id } => {
                write!(f, "unsupported mapping table (LSE id {lse_id})")
            }
            MappingTableReference { component, table } => write!(
                f,
                "unsupported mapping table {table} referenced by component {component}"
            ),
            UnsupportedColorTransform(t) => {
                write!(f, "unsupported HP colour transform {t} (APP8 mrfx)")
            }
            UnsupportedPointTransform(t) => write!(f, "unsupported point transform {t}"),
            UnsupportedLse { id } => write!(f, "unsupported LSE marker segment id {id}"),
            ImageTooLarge {
                width,
                height,
                components,
            } => write!(f, "image too large ({width}x{height}x{components} samples)"),
            EmptyImage { width, height } => write!(f, "image has zero size ({width}x{height})"),
            OutOfMemory { bytes } => write!(f, "cannot allocate {bytes} bytes for the image"),
            MissingFrameHeader => f.write_str("scan before frame header (SOF55)"),
            DuplicateFrameHeader => f.write_str("more than one frame header (SOF55)"),
            UnknownComponent { id } => write!(f, "scan references unknown component {id}"),
            DuplicateScan { component } => {
                write!(f, "component {component} appears in more than one scan")
            }
            MissingScan { component } => write!(f, "no scan data for component {component}"),
            RestartMarkerExpected { offset } => {
                write!(f, "restart marker expected at byte offset {offset}")
            }
            NestedDecode => f.write_str("decoding tables already in use on this thread"),
        }
    }
}

impl std::error::Error for JpegLsError {}

/// Decoded sample count ceiling (checked before allocating).
const MAX_SAMPLES: u64 = 1 << 31;
/// Zero bits that may be consumed past the end of a scan segment before the
/// data counts as truncated.
const SLACK_BITS: u32 = 32;
/// Gradient quantisation table size: indexed by the difference plus
/// [`QZERO`] (differences of samples are in -(2^16 - 1)..=2^16 - 1).
const QSIZE: usize = 1 << 17;
/// Index of difference 0 in the gradient quantisation table.
const QZERO: usize = 1 << 16;

/// Sample reconstruction variants (const generic of the line decoders).
const MODE_MASK: u8 = 0;
const MODE_LOSSLESS: u8 = 1;
const MODE_NEAR: u8 = 2;

/// Bias update variants (const generic of the line decoders, see `Coder::line`).
const BIAS_BRANCHY: u8 = 0;
const BIAS_COUNT: u8 = 1;
const BIAS_FREE: u8 = 2;
/// Every this many lines a lane's line counts its bias corrections and its
/// Golomb parameters, which pick the line decoder of the lines up to the
/// next count (see [`LineKind`]).
const BIAS_SAMPLE_LINES: usize = 32;
/// A sample line with fewer regular-mode samples (mostly runs, as the black
/// margins of ultrasound images) picks no decoder: it would not predict the
/// lines below; the lane's next line counts again.
const MIN_SAMPLE_REGULARS: u32 = 64;

const J: [u8; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13,
    14, 15,
];

/// Read the frame header and the first scan header.
pub fn read_header(data: &[u8]) -> Result<JpegLsHeader, JpegLsError> {
    run(data, false, SampleLayout::raw(2)).map(|(h, _)| h)
}

/// How [`decode_le`] writes each sample: little-endian in `bytes` bytes (1 or
/// 2; anything else counts as 2), from its low `bits` bits, sign-extended
/// where `signed`: DICOM's Bits Allocated, Bits Stored and Pixel
/// Representation, so that the output is the canonical frame as it is.
/// Bits beyond the container are dropped (a sample wider than 8 bits keeps its
/// low byte in 1 byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleLayout {
    pub bytes: usize,
    pub bits: u32,
    pub signed: bool,
}

impl SampleLayout {
    /// The low `bytes` bytes of each sample, as decoded.
    pub fn raw(bytes: usize) -> Self {
        SampleLayout {
            bytes,
            bits: 8 * bytes as u32,
            signed: false,
        }
    }
}

/// Decode a complete JPEG-LS codestream into little-endian samples laid out
/// as `layout` says, interleaved per pixel, rows top to bottom.
pub fn decode_le(
    data: &[u8],
    layout: SampleLayout,
) -> Result<(JpegLsHeader, Vec<u8>), JpegLsError> {
    run(data, true, layout)
}

/// Decode a complete JPEG-LS codestream.
pub fn decode(data: &[u8]) -> Result<JpegLsImage, JpegLsError> {
    let (h, bytes) = run(data, true, SampleLayout::raw(2))?;
    let samples = bytes
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    Ok(JpegLsImage {
        width: h.width,
        height: h.height,
        components: h.components,
        bits_per_sample: h.bits_per_sample,
        near: h.near,
        interleave: h.interleave,
        samples,
    })
}

// ---------------------------------------------------------------------------
// Marker level
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Frame {
    width: u32,
    height: u32,
    bits: u8,
    nf: usize,
    ids: [u8; 4],
}

#[derive(Clone, Copy, Default)]
struct Preset {
    maxval: i32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i32,
}

struct ScanHeader {
    ns: usize,
    /// Frame component indices of the scan components.
    comps: [usize; 4],
    near: i32,
    ilv: u8,
}

/// Derived coding parameters of one scan.
#[derive(Clone, Copy)]
struct Params {
    maxval: i32,
    near: i32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i32,
    range: i32,
    qbpp: u32,
    limit: i32,
}

fn be16(d: &[u8], i: usize) -> Option<u32> {
    Some(u32::from(*d.get(i)?) << 8 | u32::from(*d.get(i + 1)?))
}

/// Reads a marker at `pos` (skipping fill bytes). Returns (code, position after it).
fn read_marker(data: &[u8], pos: usize) -> Result<(u8, usize), JpegLsError> {
    match data.get(pos) {
        None => {
            return Err(JpegLsError::Truncated {
                what: "marker expected",
            })
        }
        Some(0xFF) => {}
        Some(_) => return Err(JpegLsError::MarkerExpected { offset: pos }),
    }
    let mut q = pos + 1;
    while q < data.len() && data[q] == 0xFF {
        q += 1;
    }
    match data.get(q) {
        None => Err(JpegLsError::Truncated {
            what: "marker code",
        }),
        Some(0) => Err(JpegLsError::MarkerExpected { offset: pos }),
        Some(&m) => Ok((m, q + 1)),
    }
}

/// Returns the payload of the segment whose length field is at `pos`, and the
/// position after it.
fn read_segment(data: &[u8], pos: usize, marker: u8) -> Result<(&[u8], usize), JpegLsError> {
    let len = be16(data, pos).ok_or(JpegLsError::Truncated {
        what: "segment length",
    })? as usize;
    if len < 2 {
        return Err(JpegLsError::InvalidSegment {
            marker,
            reason: "length below 2",
        });
    }
    let end = pos + len;
    if end > data.len() {
        return Err(JpegLsError::Truncated {
            what: "marker segment",
        });
    }
    Ok((&data[pos + 2..end], end))
}

/// Position of the first marker (0xFF followed by a byte >= 0x80) at or after
/// `from`, or `data.len()`.
fn find_marker(data: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < data.len() {
        if data[i] == 0xFF && data[i + 1] >= 0x80 {
            return i;
        }
        i += 1;
    }
    data.len()
}

fn compute_default(maxval: i32, near: i32) -> (i32, i32, i32) {
    fn clamp(i: i32, j: i32, maxval: i32) -> i32 {
        if i > maxval || i < j {
            j
        } else {
            i
        }
    }
    const BASIC_T1: i32 = 3;
    const BASIC_T2: i32 = 7;
    const BASIC_T3: i32 = 21;
    if maxval >= 128 {
        let factor = (maxval.min(4095) + 128) / 256;
        let t1 = clamp(factor * (BASIC_T1 - 2) + 2 + 3 * near, near + 1, maxval);
        let t2 = clamp(factor * (BASIC_T2 - 3) + 3 + 5 * near, t1, maxval);
        let t3 = clamp(factor * (BASIC_T3 - 4) + 4 + 7 * near, t2, maxval);
        (t1, t2, t3)
    } else {
        let factor = 256 / (maxval + 1);
        let t1 = clamp((BASIC_T1 / factor + 3 * near).max(2), near + 1, maxval);
        let t2 = clamp((BASIC_T2 / factor + 5 * near).max(3), t1, maxval);
        let t3 = clamp((BASIC_T3 / factor + 7 * near).max(4), t2, maxval);
        (t1, t2, t3)
    }
}

fn log2_ceil(x: i32) -> u32 {
    if x <= 1 {
        0
    } else {
        32 - ((x - 1) as u32).leading_zeros()
    }
}

fn coding_params(bits: u8, preset: &Preset, near: i32) -> Result<Params, JpegLsError> {
    let inv = |name, value: i32| JpegLsError::InvalidParameter {
        name,
        value: value as u32,
    };
    let full = (1i32 << bits) - 1;
    let maxval = if preset.maxval != 0 {
        preset.maxval
    } else {
        full
    };
    if maxval < 1 || maxval > full {
        return Err(inv("MAXVAL", maxval));
    }
    if near > (maxval / 2).min(255) {
        return Err(inv("NEAR", near));
    }
    let (d1, d2, d3) = compute_default(maxval, near);
    let t1 = if preset.t1 != 0 { preset.t1 } else { d1 };
    if t1 < near + 1 || t1 > maxval {
        return Err(inv("T1", t1));
    }
    let t2 = if preset.t2 != 0 { preset.t2 } else { d2 };
    if t2 < t1 || t2 > maxval {
        return Err(inv("T2", t2));
    }
    let t3 = if preset.t3 != 0 { preset.t3 } else { d3 };
    if t3 < t2 || t3 > maxval {
        return Err(inv("T3", t3));
    }
    let reset = if preset.reset != 0 { preset.reset } else { 64 };
    if reset < 3 || reset > maxval.max(255) {
        return Err(inv("RESET", reset));
    }
    let range = (maxval + 2 * near) / (2 * near + 1) + 1;
    let qbpp = log2_ceil(range);
    // CharLS: bits_per_pixel = log2_ceil(MAXVAL); LIMIT = 2 * (bpp + max(8, bpp)).
    let bpp = log2_ceil(maxval) as i32;
    let limit = 2 * (bpp + bpp.max(8));
    Ok(Params {
        maxval,
        near,
        t1,
        t2,
        t3,
        reset,
        range,
        qbpp,
        limit,
    })
}

/// Reads the codestream's markers and, where `decode`, decodes its scans
/// into samples laid out as `layout` says.
fn run(
    data: &[u8],
    decode: bool,
    layout: SampleLayout,
) -> Result<(JpegLsHeader, Vec<u8>), JpegLsError> {
    let store = Store::new(layout);
    let sb = store.sb;
    if data.len() < 2 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(JpegLsError::NotJpeg);
    }
    let mut pos = 2usize;
    let mut frame: Option<Frame> = None;
    let mut preset = Preset::default();
    let mut restart = 0u32;
    let mut oversize: Option<(u32, u32)> = None;
    let mut out: Vec<u8> = Vec::new();
    let mut done = [false; 4];
    let mut header: Option<JpegLsHeader> = None;

    loop {
        if pos >= data.len() {
            // Missing EOI: accepted when every component has been decoded.
            break;
        }
        let (m, after) = read_marker(data, pos)?;
        match m {
            0xD9 => break,
            0xF7 => {
                let (p, next) = read_segment(data, after, m)?;
                if frame.is_some() {
                    return Err(JpegLsError::DuplicateFrameHeader);
                }
                frame = Some(parse_sof(p)?);
                pos = next;
            }
            0xC0..=0xCF if m != 0xC4 && m != 0xC8 && m != 0xCC => {
                return Err(JpegLsError::NotJpegLs { marker: m })
            }
            0xF8 => {
                let (p, next) = read_segment(data, after, m)?;
                parse_lse(p, &mut preset, &mut oversize)?;
                pos = next;
            }
            0xDD => {
                let (p, next) = read_segment(data, after, m)?;
                if p.is_empty() || p.len() > 4 {
                    return Err(JpegLsError::InvalidSegment {
                        marker: m,
                        reason: "DRI length",
                    });
                }
                restart = p.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
                pos = next;
            }
            0xE8 => {
                let (p, next) = read_segment(data, after, m)?;
                if p.len() >= 5 && &p[..4] == b"mrfx" && p[4] != 0 {
                    return Err(JpegLsError::UnsupportedColorTransform(p[4]));
                }
                pos = next;
            }
            0xDA => {
                let (p, next) = read_segment(data, after, m)?;
                let f = frame.as_mut().ok_or(JpegLsError::MissingFrameHeader)?;
                if let Some((ow, oh)) = oversize.take() {
                    if f.width == 0 {
                        f.width = ow;
                    }
                    if f.height == 0 {
                        f.height = oh;
                    }
                }
                if f.width == 0 || f.height == 0 {
                    return Err(JpegLsError::EmptyImage {
                        width: f.width,
                        height: f.height,
                    });
                }
                let total = u64::from(f.width) * u64::from(f.height) * f.nf as u64;
                if total > MAX_SAMPLES {
                    return Err(JpegLsError::ImageTooLarge {
                        width: f.width,
                        height: f.height,
                        components: f.nf as u8,
                    });
                }
                let scan = parse_sos(p, f)?;
                for &c in &scan.comps[..scan.ns] {
                    if done[c] {
                        return Err(JpegLsError::DuplicateScan {
                            component: f.ids[c],
                        });
                    }
                }
                let params = coding_params(f.bits, &preset, scan.near)?;
                let h = header.get_or_insert(JpegLsHeader {
                    width: f.width,
                    height: f.height,
                    components: f.nf as u8,
                    bits_per_sample: f.bits,
                    near: scan.near as u8,
                    interleave: scan.ilv,
                });
                h.near = h.near.max(scan.near as u8);
                if !decode {
                    return Ok((*h, Vec::new()));
                }
                if out.is_empty() {
                    let n = total as usize * sb;
                    out.try_reserve_exact(n)
                        .map_err(|_| JpegLsError::OutOfMemory {
                            bytes: total * sb as u64,
                        })?;
                    // A scan with every component fills the image row by row:
                    // decode_scan grows `out` a row at a time (no zero fill of
                    // the whole image first, the rows stay in cache).
                    if scan.ns != f.nf {
                        out.resize(n, 0);
                    }
                }
                pos = decode_scan(data, next, f, &scan, &params, restart, &mut out, store)?;
                for &c in &scan.comps[..scan.ns] {
                    done[c] = true;
                }
            }
            0x01 | 0xD0..=0xD8 => {
                return Err(JpegLsError::UnexpectedMarker {
                    marker: m,
                    context: "outside a scan",
                })
            }
            _ => {
                // APPn, COM, DQT, DHT, DNL, ...: skip.
                let (_, next) = read_segment(data, after, m)?;
                pos = next;
            }
        }
    }
    let f = frame.ok_or(JpegLsError::MissingFrameHeader)?;
    let h = header.ok_or(JpegLsError::Truncated {
        what: "no scan before end of image",
    })?;
    if decode {
        for (c, &d) in done[..f.nf].iter().enumerate() {
            if !d {
                return Err(JpegLsError::MissingScan {
                    component: f.ids[c],
                });
            }
        }
    }
    Ok((h, out))
}

fn parse_sof(p: &[u8]) -> Result<Frame, JpegLsError> {
    const M: u8 = 0xF7;
    if p.len() < 6 {
        return Err(JpegLsError::InvalidSegment {
            marker: M,
            reason: "too short",
        });
    }
    let bits = p[0];
    if !(2..=16).contains(&bits) {
        return Err(JpegLsError::UnsupportedBitsPerSample(bits));
    }
    let height = be16(p, 1).unwrap_or(0);
    let width = be16(p, 3).unwrap_or(0);
    let nf = p[5];
    if nf == 0 || nf > 4 {
        return Err(JpegLsError::UnsupportedComponentCount(nf));
    }
    let nf = nf as usize;
    if p.len() < 6 + 3 * nf {
        return Err(JpegLsError::InvalidSegment {
            marker: M,
            reason: "too short for components",
        });
    }
    let mut ids = [0u8; 4];
    let hv0 = p[7];
    for i in 0..nf {
        let id = p[6 + 3 * i];
        let hv = p[7 + 3 * i];
        if ids[..i].contains(&id) {
            return Err(JpegLsError::InvalidSegment {
                marker: M,
                reason: "duplicate component id",
            });
        }
        if hv != hv0 || hv >> 4 == 0 || hv & 15 == 0 {
            return Err(JpegLsError::UnsupportedSubsampling {
                component: id,
                h: hv >> 4,
                v: hv & 15,
            });
        }
        ids[i] = id;
    }
    Ok(Frame {
        width,
        height,
        bits,
        nf,
        ids,
    })
}

fn parse_lse(
    p: &[u8],
    preset: &mut Preset,
    oversize: &mut Option<(u32, u32)>,
) -> Result<(), JpegLsError> {
    const M: u8 = 0xF8;
    let id = *p.first().ok_or(JpegLsError::InvalidSegment {
        marker: M,
        reason: "empty",
    })?;
    match id {
        1 => {
            if p.len() < 11 {
                return Err(JpegLsError::InvalidSegment {
                    marker: M,
                    reason: "preset parameters too short",
                });
            }
            let g = |i| be16(p, i).unwrap_or(0) as i32;
            *preset = Preset {
                maxval: g(1),
                t1: g(3),
                t2: g(5),
                t3: g(7),
                reset: g(9),
            };
            Ok(())
        }
        2 | 3 => Err(JpegLsError::UnsupportedMappingTable { lse_id: id }),
        4 => {
            let wxy = *p.get(1).unwrap_or(&0) as usize;
            if !(2..=4).contains(&wxy) || p.len() < 2 + 2 * wxy {
                return Err(JpegLsError::InvalidSegment {
                    marker: M,
                    reason: "oversize dimensions",
                });
            }
            let rd = |s: &[u8]| s.iter().fold(0u32, |a, &b| a << 8 | u32::from(b));
            let h = rd(&p[2..2 + wxy]);
            let w = rd(&p[2 + wxy..2 + 2 * wxy]);
            *oversize = Some((w, h));
            Ok(())
        }
        _ => Err(JpegLsError::UnsupportedLse { id }),
    }
}

fn parse_sos(p: &[u8], f: &Frame) -> Result<ScanHeader, JpegLsError> {
    const M: u8 = 0xDA;
    let ns = *p.first().ok_or(JpegLsError::InvalidSegment {
        marker: M,
        reason: "empty",
    })? as usize;
    if ns == 0 || ns > f.nf {
        return Err(JpegLsError::InvalidParameter {
            name: "scan component count",
            value: ns as u32,
        });
    }
    if p.len() < 1 + 2 * ns + 3 {
        return Err(JpegLsError::InvalidSegment {
            marker: M,
            reason: "too short",
        });
    }
    let mut comps = [0usize; 4];
    for i in 0..ns {
        let id = p[1 + 2 * i];
        let tm = p[2 + 2 * i];
        let c = f.ids[..f.nf]
            .iter()
            .position(|&x| x == id)
            .ok_or(JpegLsError::UnknownComponent { id })?;
        if comps[..i].contains(&c) {
            return Err(JpegLsError::DuplicateScan { component: id });
        }
        if tm != 0 {
            return Err(JpegLsError::MappingTableReference {
                component: id,
                table: tm,
            });
        }
        comps[i] = c;
    }
    let near = i32::from(p[1 + 2 * ns]);
    let ilv = p[2 + 2 * ns];
    let al = p[3 + 2 * ns];
    if ilv > 2 {
        return Err(JpegLsError::InvalidParameter {
            name: "interleave mode",
            value: ilv.into(),
        });
    }
    if ilv == 0 && ns != 1 {
        return Err(JpegLsError::InvalidParameter {
            name: "scan component count for interleave mode 0",
            value: ns as u32,
        });
    }
    if al != 0 {
        return Err(JpegLsError::UnsupportedPointTransform(al));
    }
    Ok(ScanHeader {
        ns,
        comps,
        near,
        ilv,
    })
}

// ---------------------------------------------------------------------------
// Bit reader
// ---------------------------------------------------------------------------

/// The mutable part of the bit reader that the decoding uses. Kept apart from
/// the data so that the line decoders can hold it in locals (registers) and
/// hand it by value to the cold paths, which return the new state.
///
/// `cache` holds the valid bits (at most 63) at its top, then a 1 bit (the
/// sentinel), then zeros: the count of valid bits is 63 - its trailing zeros.
/// So consuming bits is a shift alone, with no count to update and one value
/// fewer live in the line loops.
#[derive(Clone, Copy)]
struct BitState {
    cache: u64,
    /// Next byte to load; its first bit goes to the sentinel's position.
    pos: usize,
}

impl BitState {
    /// Number of valid bits (0..=63).
    #[inline(always)]
    fn valid(&self) -> u32 {
        63 - self.cache.trailing_zeros()
    }

    /// Whether at least `n` bits are valid (n < 64): the cache shifted by n
    /// keeps its sentinel. For n = 32 it tests the low 32 bits.
    #[inline(always)]
    fn has(&self, n: u32) -> bool {
        self.cache << n != 0
    }
}

/// The scan's bytes and where its segment ended, behind one reference: kept out of
/// [`BitState`] so that the line decoders carry four values (this reference and
/// the state), not six; the refill loads the bytes' address and length from here.
#[derive(Default)]
struct Segment<'a> {
    data: &'a [u8],
    /// Zero bits appended after the end of the segment.
    pad: Cell<u32>,
    ended: Cell<bool>,
}

/// MSB-first bit reader with a left-aligned 64-bit cache. Handles the JPEG-LS
/// bit stuffing (a 0xFF byte is followed by 7 data bits) and stops at a
/// marker, after which zero bits are supplied (counted in `end.pad`).
#[derive(Clone, Copy)]
struct BitReader<'a> {
    end: &'a Segment<'a>,
    s: BitState,
}

/// Slow refill: byte by byte, with bit stuffing and the end of the segment.
#[cold]
#[inline(never)]
fn refill_slow(end: &Segment, s: BitState) -> BitState {
    let data = end.data;
    let mut ended = end.ended.get();
    // The valid bits without the sentinel, and their count.
    let mut valid = s.valid();
    let mut cache = s.cache & s.cache.wrapping_sub(1);
    let mut pos = s.pos;
    while !ended && valid <= 55 {
        let Some(&b) = data.get(pos) else {
            ended = true;
            break;
        };
        if b != 0xFF {
            cache |= u64::from(b) << (56 - valid);
            valid += 8;
            pos += 1;
        } else {
            match data.get(pos + 1) {
                Some(&b2) if b2 < 0x80 => {
                    if valid > 48 {
                        break;
                    }
                    cache |= 0xFFu64 << (56 - valid);
                    valid += 8;
                    cache |= u64::from(b2) << (57 - valid);
                    valid += 7;
                    pos += 2;
                }
                _ => {
                    // Marker (or 0xFF as the last byte): end of segment.
                    ended = true;
                }
            }
        }
    }
    if ended {
        end.ended.set(true);
        end.pad.set(end.pad.get().saturating_add(63 - valid));
        valid = 63;
    }
    BitState {
        cache: cache | 1 << (63 - valid),
        pos,
    }
}

impl<'a> BitReader<'a> {
    /// A reader of `end`'s bytes from `pos`; `end` is (re)set to "not reached".
    fn new(end: &'a Segment<'a>, pos: usize) -> Self {
        end.pad.set(0);
        end.ended.set(false);
        let s = BitState {
            cache: 1 << 63,
            pos,
        };
        BitReader {
            end,
            s: refill_slow(end, s),
        }
    }

    /// Fills the cache; only where fewer than 32 bits are valid (every
    /// caller tests that first), else `refill_fast` does nothing and the slow
    /// refill would run for no use.
    #[inline(always)]
    fn refill(&mut self) {
        debug_assert!(!self.s.has(32));
        if !self.refill_fast() {
            self.s = refill_slow(self.end, self.s);
        }
    }

    /// The common case of [`BitReader::refill`]: false (nothing done) where
    /// 32 or more bits are valid, or the next 4 bytes hold a 0xFF or end the
    /// segment.
    #[inline(always)]
    fn refill_fast(&mut self) -> bool {
        let s = &mut self.s;
        let data = self.end.data;
        // `pos <= data.len()` always holds, so `pos + 4` cannot overflow.
        // Four bytes where fewer than 32 bits are valid: the 4-byte byte
        // swap is cheaper than the 8-byte one (wasm has none), and 32 bits
        // are all that a regular sample or a run segment needs.
        if !s.has(32) && s.pos + 4 <= data.len() {
            let chunk: [u8; 4] = data[s.pos..s.pos + 4].try_into().unwrap();
            let w = u32::from_be_bytes(chunk);
            // Any 0xFF byte? (zero byte in !w)
            if ((!w).wrapping_sub(0x0101_0101) & w & 0x8080_8080) == 0 {
                // The sentinel, at bit t >= 32, gives way to w at bits
                // t..=t - 31 and a new sentinel at t - 32: one addition of
                // w, the new sentinel and minus the old one (one operation
                // fewer than clearing the old one and an or).
                let t = s.cache.trailing_zeros();
                let add = (u64::from(w) << 1).wrapping_sub(0xFFFF_FFFF) << (t - 32);
                s.cache = s.cache.wrapping_add(add);
                s.pos += 4;
                return true;
            }
        }
        false
    }

    /// Number of zero bits consumed beyond the end of the segment.
    #[inline]
    fn overrun(&self) -> u32 {
        self.end.pad.get().saturating_sub(self.s.valid())
    }

    #[inline(always)]
    fn skip(&mut self, n: u32) {
        self.s.cache <<= n;
    }

    #[inline(always)]
    fn read_bit(&mut self) -> u32 {
        if !self.s.has(1) {
            self.refill();
        }
        let b = (self.s.cache >> 63) as u32;
        self.skip(1);
        b
    }

    /// n <= 32
    #[inline(always)]
    fn read_bits(&mut self, n: u32) -> u32 {
        if !self.s.has(n) {
            self.refill();
        }
        let v = (self.s.cache >> 1 >> (63 - n)) as u32;
        self.skip(n);
        v
    }

    /// Limited-length Golomb code (T.87 A.5.3): returns the mapped value.
    /// `thr` = LIMIT - qbpp - 1 (unary prefix length that marks an escape).
    #[inline(always)]
    fn decode_value(&mut self, k: u32, thr: i32, qbpp: u32) -> Result<u32, ()> {
        if !self.s.has(32) {
            self.refill();
        }
        let lz = self.s.cache.leading_zeros();
        if (lz as i32) < thr && lz + k < self.s.valid() {
            // lz < thr <= 62 and k < 32 (callers: k <= 24).
            return Ok(self.take_golomb(lz, k));
        }
        let (s, r) = decode_value_slow(*self, k, thr, qbpp);
        self.s = s;
        r
    }

    /// The Golomb code at the front of the cache, whose unary part is `lz` zeros
    /// (then its 1) and whose remainder is `k` bits, all valid: its value, consumed.
    /// lz < 63 and k < 32, so the shifts stay below 64.
    #[inline(always)]
    fn take_golomb(&mut self, lz: u32, k: u32) -> u32 {
        // `t` starts with the 1 that ends the unary part; its top k + 1 bits are
        // 2^k + remainder.
        let t = self.s.cache << lz;
        let v = ((t >> (63 - k)) as u32).wrapping_add(lz.wrapping_sub(1) << k);
        self.s.cache = t << 1 << k;
        v
    }

    /// `decode_value` for k < 16 (regular mode) with one test on the fast
    /// path: `fast` = min(thr, 17). The line loop has refilled: at
    /// least 32 bits are valid, and a unary part of lz <= 16 zeros with k <= 15
    /// takes at most 32.
    /// `k0`: a branch for k = 0, whose value is the unary part alone: it does
    /// not wait for k (the context), which pays where k is nearly always 0.
    #[inline(always)]
    fn decode_regular(
        &mut self,
        k: u32,
        fast: u32,
        thr: i32,
        qbpp: u32,
        k0: bool,
    ) -> Result<u32, ()> {
        debug_assert!(self.s.has(32));
        let lz = self.s.cache.leading_zeros();
        if lz < fast {
            if k0 && k == 0 {
                self.skip(lz + 1);
                return Ok(lz);
            }
            return Ok(self.take_golomb(lz, k));
        }
        let (s, r) = decode_value_slow(*self, k, thr, qbpp);
        self.s = s;
        r
    }

    /// Byte position from which to search for the marker that ends the segment.
    fn search_start(&self, seg_start: usize) -> usize {
        self.s.pos.saturating_sub(9).max(seg_start)
    }
}

/// `decode_value` past its fast path. Inline, not a cold call, for the same
/// reason as `reconstruct_outside`.
#[inline(always)]
fn decode_value_slow(
    mut br: BitReader,
    k: u32,
    thr: i32,
    qbpp: u32,
) -> (BitState, Result<u32, ()>) {
    let max_high = thr.max(0) as u32;
    let mut high = 0u32;
    loop {
        if !br.s.has(1) {
            br.refill();
        }
        // lz <= valid: the sentinel ends the zeros.
        let lz = br.s.cache.leading_zeros();
        if lz < br.s.valid() {
            high += lz;
            br.skip(lz + 1);
            break;
        }
        high += lz;
        br.skip(lz);
        if high > max_high {
            return (br.s, Err(()));
        }
    }
    if high > max_high {
        return (br.s, Err(()));
    }
    if high as i32 >= thr {
        let v = br.read_bits(qbpp) + 1;
        return (br.s, Ok(v));
    }
    if k > 24 {
        return (br.s, Err(()));
    }
    let v = (high << k) | br.read_bits(k);
    (br.s, Ok(v))
}

// ---------------------------------------------------------------------------
// Scan decoding
// ---------------------------------------------------------------------------

/// A regular-mode context; 16 bytes, which the quantisation table's values
/// (see [`quant`]) count in.
#[derive(Clone, Copy)]
struct Ctx {
    a: i32,
    b: i32,
    n: i32,
    /// Bias correction C, in -128..=127.
    c: i16,
    /// Golomb parameter for the current A and N (kept up to date by the
    /// update, which takes it off the decoding's dependency chain). Read from
    /// the slot of the signed Q, so the update writes it to both slots ±Q
    /// (see [`regular`]); the other fields only in slot `CTX_MID + |Q|`.
    k: u16,
}

const _: () = assert!(std::mem::size_of::<Ctx>() == 16);

/// A run-interruption context, `Tables::rctx[RItype]`.
#[derive(Clone, Copy)]
struct RunCtx {
    a: i32,
    // CharLS keeps N and Nn (and the RESET compared against) in 8 bits.
    n: u8,
    nn: u8,
}

/// Scan constants, copied into locals by the line decoders.
#[derive(Clone, Copy)]
struct Consts {
    maxval: i32,
    near: i32,
    range: i32,
    qstep: i32,
    qbpp: u32,
    limit: i32,
    thr: i32,
    /// min(thr, 17), the fast path's unary limit in regular mode.
    thr_fast: u32,
    reset: i32,
    reset_u8: u8,
    /// RANGE * (2 * NEAR + 1).
    range_q: i32,
}

/// The tables that the line decoders index, per scan: in a thread-local
/// `static` (see [`TABLES`]), whose address is a constant in wasm, where it
/// folds into the loads' offsets: the line loops hold no base registers for them.
struct Tables {
    /// Gradient quantisation (see [`quant`]), filled per scan.
    quant: [u8; QSIZE],
    /// Regular-mode contexts by slot (see [`regular`]).
    ctx: [Ctx; CTX_SLOTS],
    rctx: [RunCtx; 2],
}

/// Context slot of Q = 81 Q1 + 9 Q2 + Q3 = 0 (Q in -364..=364): slot
/// `CTX_MID + |Q|` holds context |Q|, and its Golomb parameter k is also in
/// slot `CTX_MID - |Q|` (see [`regular`]).
const CTX_MID: usize = 364;
const CTX_SLOTS: usize = 2 * CTX_MID + 1;
/// Byte offset of slot `CTX_MID`: the [`quant`] sum of Q = 0 (run mode). Not
/// [`QZERO`], the quantisation table's index of the difference 0.
const CTX_Q0: i32 = (CTX_MID * 16) as i32;

/// [`Tables`] and whether a [`Lease`] holds them.
struct TablesSlot {
    leased: Cell<bool>,
    tables: UnsafeCell<Tables>,
}

thread_local! {
    /// This thread's decoding tables. On wasm32 without the atomics feature a
    /// thread local is a plain `static` (a constant address); natively every
    /// test thread has its own. All zero at first: every quantisation value
    /// is then 16 times 0..=8, as `quant` requires (fill_quant keeps that).
    static TABLES: TablesSlot = const {
        let ctx = Ctx { a: 0, b: 0, n: 0, c: 0, k: 0 };
        let rctx = RunCtx { a: 0, n: 0, nn: 0 };
        TablesSlot {
            leased: Cell::new(false),
            tables: UnsafeCell::new(Tables {
                quant: [0; QSIZE],
                ctx: [ctx; CTX_SLOTS],
                rctx: [rctx; 2],
            }),
        }
    };
}

/// Exclusive use of this thread's [`TABLES`] while it lives: at most one lease
/// exists per thread (`acquire` refuses a second one, so a nested decode is an
/// error, not aliasing), and it cannot leave the thread (`!Send`). Zero-sized:
/// the line decoders take the tables' address from the `static`, not from it.
struct Lease {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Lease {
    fn acquire() -> Option<Lease> {
        TABLES.with(|t| {
            // `then`, not `then_some`: a refused lease must not be built
            // (its drop would end the lease that holds the tables).
            (!t.leased.replace(true)).then(|| Lease {
                _not_send: std::marker::PhantomData,
            })
        })
    }

    #[inline(always)]
    fn tables(&mut self) -> &mut Tables {
        // SAFETY: this lease is the only one of this thread (`acquire`), and
        // the `&mut self` borrow makes the returned reference the only one
        // derived from it while it lives. The thread local outlives the lease,
        // which stays on its thread; `Tables` has no destructor.
        TABLES.with(|t| unsafe { &mut *t.tables.get() })
    }

    /// The quantisation table (see [`quant`]).
    #[inline(always)]
    fn quant(&self) -> &[u8; QSIZE] {
        // SAFETY: as in `tables`; `&self` excludes a live `&mut Tables`.
        TABLES.with(|t| unsafe { &(*t.tables.get()).quant })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        TABLES.with(|t| t.leased.set(false));
    }
}

struct Coder<'a> {
    br: BitReader<'a>,
    lease: Lease,
    k: Consts,
    a_init: i32,
}

#[inline(always)]
fn med(a: i32, b: i32, c: i32) -> i32 {
    // median(a, b, a + b - c), branch-free
    let mx = a.max(b);
    let mn = a.min(b);
    (a + b - c).min(mx).max(mn)
}

/// Smallest k with (n << k) >= a.
#[inline(always)]
fn golomb_k(a: i32, n: i32) -> u32 {
    let (a, n) = (a as u32, n as u32);
    let t = n.leading_zeros().saturating_sub(a.leading_zeros());
    t + u32::from((n << t) < a)
}

/// The quantised gradient Qi of the difference `d` of two samples as 16 (Qi +
/// 4), 16 the size of a [`Ctx`]: 81 Q1 + 9 Q2 + Q3 from such values is the
/// byte offset 16 (Q + 364) of slot `CTX_MID + Q` (see [`regular`]); not
/// negative, so that wasm folds the table's address into the loads' offsets.
#[inline(always)]
fn quant(table: &[u8; QSIZE], d: i32) -> i32 {
    debug_assert!(d.unsigned_abs() < 1 << 16);
    // SAFETY: every sample that the line decoders read is in 0..=MAXVAL, and
    // MAXVAL < 2^16 (coding_params): `reconstruct` and the MODE_MASK `&` give
    // such values, runs and edges repeat them, and the lines start zeroed
    // (decode_scan, also after a restart). So |d| < 2^16 and d + QZERO is in
    // 1..QSIZE.
    i32::from(unsafe { *table.get_unchecked((d + QZERO as i32) as usize) })
}

/// Reconstructed sample from the corrected prediction `px`, not yet clamped
/// to 0..=MAXVAL, and the error `e` (near-lossless: already multiplied by
/// 2 * NEAR + 1).
#[inline(always)]
fn reconstruct<const MODE: u8>(p: &Consts, px: i32, e: i32) -> i32 {
    if MODE == MODE_MASK {
        // Lossless with MAXVAL = 2^P - 1: modulo reduction is a mask.
        return (px.max(0).min(p.maxval) + e) & p.maxval;
    }
    // Usually Px and the sample are in 0..=MAXVAL: one test on the common
    // path, which leaves the clamp of Px off the per-sample dependency chain.
    let v = px + e;
    if (px as u32 <= p.maxval as u32) & (v as u32 <= p.maxval as u32) {
        return v;
    }
    let (near, span) = if MODE == MODE_NEAR {
        (p.near, p.range_q)
    } else {
        (0, p.range)
    };
    reconstruct_outside(px, e, p.maxval, near, span)
}

/// `reconstruct` where Px or Px + error is outside 0..=MAXVAL: Px clamps,
/// then values beyond -NEAR..=MAXVAL + NEAR wrap by `span` = RANGE *
/// (2 * NEAR + 1) (A.8; lossless: below 0 or above MAXVAL) and clamp. Inline,
/// not a cold call: V8 keeps fewer of the line loop's values in memory.
#[inline(always)]
fn reconstruct_outside(px: i32, e: i32, maxval: i32, near: i32, span: i32) -> i32 {
    let mut v = px.max(0).min(maxval) + e;
    if v < -near {
        v += span;
    } else if v > maxval + near {
        v -= span;
    }
    v.max(0).min(maxval)
}

/// Error value times 2 * NEAR + 1 (near-lossless), as `reconstruct` takes it.
#[inline(always)]
fn dequant<const MODE: u8>(p: &Consts, e: i32) -> i32 {
    if MODE == MODE_NEAR {
        e * p.qstep
    } else {
        e
    }
}

/// Counts of a sample line (`BIAS_COUNT`), from which [`LineKind::choose`]
/// picks the decoder of the next lines.
#[derive(Clone, Copy, Default)]
struct LineCounts {
    regulars: u32,
    /// Bias corrections (B moved back into 1 - N..=0).
    adjusted: u32,
    /// Regular-mode samples with Golomb parameter k = 0.
    k_zero: u32,
}

/// The line decoder variant of a lane up to its next sample line.
#[derive(Clone, Copy, Default)]
struct LineKind {
    /// Branch-free bias update (`BIAS_FREE`).
    bias_free: bool,
    /// k = 0 branch in the Golomb decoding (see [`BitReader::decode_regular`]).
    k0: bool,
}

impl LineKind {
    /// The decoder for the counts `c`, none where they are too few
    /// (see [`MIN_SAMPLE_REGULARS`]).
    fn choose(c: &LineCounts) -> Option<Self> {
        if c.regulars < MIN_SAMPLE_REGULARS {
            return None;
        }
        Some(LineKind {
            // The branch-free update wins above about one correction in 7 samples.
            bias_free: c.adjusted * 7 > c.regulars,
            // The k = 0 branch wins where it mispredicts below about one sample in 8.
            k0: c.k_zero * 8 > c.regulars * 7,
        })
    }
}

/// Regular-mode sample (T.87 A.4 - A.6). `BIAS` picks the bias update and `K0`
/// the Golomb decoding (see [`LineKind`]); with `BIAS_COUNT`, `counts` counts.
/// The caller has refilled `br` (at least 32 valid bits).
///
/// Context Q and context -Q are one (A.3.4), kept in slot `CTX_MID + |Q|`;
/// its k is written to both slots `CTX_MID +- Q` at each update, so that k,
/// on the per-sample dependency chain, is read at the signed `q`, without
/// waiting for its absolute value (measured 1-3 % faster in near-lossless
/// scans, alike in lossless ones).
#[inline(always)]
fn regular<const MODE: u8, const BIAS: u8, const K0: bool>(
    ctxs: &mut [Ctx; CTX_SLOTS],
    br: &mut BitReader,
    p: &Consts,
    q: i32,
    pred: i32,
    counts: &mut LineCounts,
) -> Result<i32, ()> {
    debug_assert!(br.s.has(32));
    let sign = (q - CTX_Q0) >> 31;
    debug_assert!((0..=2 * CTX_Q0).contains(&q) && q % 16 == 0);
    // SAFETY: `q` is 16 (81 Q1 + 9 Q2 + Q3 + 364) with Q1..Q3 in -4..=4 (the
    // quantisation table holds 16 times 0..=8, fill_quant), so q and 2 CTX_Q0
    // - q are multiples of 16 = size_of::<Ctx>() (asserted at Ctx) in 0..=728
    // * 16: byte offsets of slots 0..CTX_SLOTS of `ctxs`, aligned, as is
    // CTX_Q0 + |q - CTX_Q0|. Raw pointers: for Q = 0 (sample interleaving)
    // all three are slot CTX_MID.
    let canon = CTX_Q0 + (q - CTX_Q0).abs();
    let (slot, mirror, canon) = unsafe {
        let base = ctxs.as_mut_ptr().cast::<u8>();
        (
            base.add(q as usize).cast::<Ctx>(),
            base.add((2 * CTX_Q0 - q) as usize).cast::<Ctx>(),
            base.add(canon as usize).cast::<Ctx>(),
        )
    };
    let k = u32::from(unsafe { (*slot).k });
    // SAFETY: as above; no other reference to `ctxs` lives meanwhile.
    let ctx = unsafe { &mut *canon };
    // k < 16 bounds A: A <= N << 15 (k is the smallest with N << k >= A).
    if k >= 16 {
        return Err(());
    }
    let lossless = MODE != MODE_NEAR;
    let px = pred + ((i32::from(ctx.c) ^ sign) - sign);
    if BIAS == BIAS_COUNT {
        counts.regulars += 1;
        counts.k_zero += u32::from(k == 0);
    }
    let m = br.decode_regular(k, p.thr_fast, p.thr, p.qbpp, K0)?;
    // The error value is (m >> 1) ^ mask, mask = -1 for odd m, and lossless
    // with k = 0 inverted where 2B + N - 1 < 0 (A.5.2); |error| is then
    // (m >> 1) - mask, which the update of A takes without waiting for the
    // error and its absolute value (A's update leads to the next k).
    let mut mask = -((m & 1) as i32);
    if lossless && k == 0 {
        mask ^= (2 * ctx.b + ctx.n - 1) >> 31;
    }
    let e = ((m >> 1) as i32) ^ mask;
    let e_abs = ((m >> 1) as i32).wrapping_sub(mask) as u32;
    // No overflow below: m < 62 << 15 (unary prefix < THR <= 62, k < 16) or
    // m <= 2^16 (escape), so |e| < 2^20 and |e * (2 * NEAR + 1)| < 2^29.
    // A <= (N << 15) + 2^20 < 2^32 with N <= RESET < 2^16 (kept as u32 bits;
    // a too large A gives k >= 16, an error at the context's next use).
    // B is in 1 - N..=0 after each bias update, so |B| < 2^29 + 2^16.
    let eq = if lossless { e } else { e * p.qstep };
    ctx.a = (ctx.a as u32).wrapping_add(e_abs) as i32;
    // B in a local through the bias update, stored once.
    let mut b = ctx.b + eq;
    if ctx.n == p.reset {
        ctx.a = ((ctx.a as u32) >> 1) as i32;
        b >>= 1;
        ctx.n >>= 1;
    }
    ctx.n += 1;
    // Bias update (A.13): branches where B usually stays in 1 - N..=0 (neither
    // is taken), else branch-free.
    let n = ctx.n;
    if BIAS == BIAS_FREE {
        // -1: B + N <= 0 (B += N, C -= 1), 1: B > 0 (B -= N, C += 1), else 0;
        // then B clamped to 1 - N..=0 (a no-op for 0), C to -128..=127.
        let d = i32::from(b > 0) - i32::from(b + n <= 0);
        b = (b - d * n).max(1 - n).min(0);
        ctx.c = (i32::from(ctx.c) + d).clamp(-128, 127) as i16;
    } else if b + n <= 0 {
        if BIAS == BIAS_COUNT {
            counts.adjusted += 1;
        }
        b = (b + n).max(1 - n);
        if ctx.c > -128 {
            ctx.c -= 1;
        }
    } else if b > 0 {
        if BIAS == BIAS_COUNT {
            counts.adjusted += 1;
        }
        b = (b - n).min(0);
        if ctx.c < 127 {
            ctx.c += 1;
        }
    }
    ctx.b = b;
    let k = golomb_k(ctx.a, n) as u16;
    // SAFETY: as above.
    unsafe {
        (*slot).k = k;
        (*mirror).k = k;
    }
    Ok(reconstruct::<MODE>(p, px, (eq ^ sign) - sign))
}

/// Run-interruption error value (A.7.2) of type `RITYPE` with run context
/// `rc`. The type a constant: no multiply by it, no load of it.
#[inline(always)]
fn ri_error<const RITYPE: i32>(
    rc: &mut RunCtx,
    br: &mut BitReader,
    p: &Consts,
    ri: usize,
) -> Result<i32, ()> {
    let temp = rc.a + (i32::from(rc.n) >> 1) * RITYPE;
    let n = i32::from(rc.n);
    // Smallest k with (N << k) >= TEMP; N wraps to 0 with RESET = 256 (8-bit
    // counter, as CharLS), which no k satisfies.
    if n == 0 && temp > 0 {
        return Err(());
    }
    let k = golomb_k(temp.max(1), n.max(1));
    if k > 24 {
        return Err(());
    }
    let limit = p.limit - i32::from(J[ri & 31]) - 1;
    let thr = limit - p.qbpp as i32 - 1;
    let em = br.decode_value(k, thr, p.qbpp)? as i32;
    let t = em + RITYPE;
    let map = t & 1;
    // t >= 0 (EMErrval >= 0): the halving is a shift.
    let eabs = (t + map) >> 1;
    let e = if (k != 0 || 2 * i32::from(rc.nn) >= n) == (map != 0) {
        -eabs
    } else {
        eabs
    };
    // Nn counts the negative errors; an add, not a branch (the sign of the
    // error is about as likely either way, a branch mispredicts).
    rc.nn = rc.nn.wrapping_add(u8::from(e < 0));
    rc.a += (em + 1 - RITYPE) >> 1;
    if rc.a >= 1 << 24 {
        return Err(());
    }
    if rc.n == p.reset_u8 {
        rc.a >>= 1;
        rc.n >>= 1;
        rc.nn >>= 1;
    }
    rc.n = rc.n.wrapping_add(1);
    Ok(e)
}

/// Why the inner loop of [`Coder::line`] left.
enum Exit {
    /// Run mode at sample x.
    Run,
    /// The end of the line.
    End,
    /// Sample x, regular with context Q and prediction Px, needs the slow
    /// refill or the slow Golomb decoding.
    Slow(i32, i32),
}

/// J_SUM[i]: samples covered by the run segments of indices 0..i (sum of 2^J).
const J_SUM: [u32; 33] = {
    let mut t = [0u32; 33];
    let mut i = 0;
    while i < 32 {
        t[i + 1] = t[i] + (1 << J[i]);
        i += 1;
    }
    t
};

/// Decodes the run-length part of run mode; returns the run length and
/// whether the run reached the end of the line.
#[inline(always)]
fn run_length(br: &mut BitReader, remaining: usize, ri: &mut usize) -> Result<(usize, bool), ()> {
    // Fast path: n1 <= 16 one bits (full segments, RUNindex stays <= 31),
    // ending before the end of the line, then the 0 bit and J[RUNindex]
    // <= 15 bits: at most 32 bits, all valid after the refill (so the ones
    // counted lie within the valid bits).
    if !br.s.has(32) {
        br.refill();
    }
    let n1 = br.s.cache.leading_ones();
    let r0 = *ri & 31;
    if n1 <= 16 && r0 + n1 as usize <= 31 {
        let sum = (J_SUM[r0 + n1 as usize] - J_SUM[r0]) as usize;
        if sum < remaining {
            // Every segment is full: RUNindex advances once per one bit.
            let r1 = r0 + n1 as usize;
            *ri = r1;
            // The ones, the 0 and j <= 15 bits: no refill, and no branch for
            // j = 0 (the bits' shift is then 64).
            let j = u32::from(J[r1]);
            let t = br.s.cache << (n1 + 1);
            let cnt = sum + (t >> 32 >> (32 - j)) as usize;
            br.s.cache = t << j;
            if cnt > remaining {
                return Err(());
            }
            return Ok((cnt, cnt == remaining));
        }
    }
    let mut cnt = 0usize;
    loop {
        if br.read_bit() == 0 {
            break;
        }
        let seg = 1usize << J[*ri & 31];
        let take = seg.min(remaining - cnt);
        cnt += take;
        if take == seg && *ri < 31 {
            *ri += 1;
        }
        if cnt == remaining {
            return Ok((cnt, true));
        }
    }
    let j = u32::from(J[*ri & 31]);
    if j > 0 {
        cnt += br.read_bits(j) as usize;
    }
    if cnt > remaining {
        return Err(());
    }
    Ok((cnt, cnt == remaining))
}

impl<'a> Coder<'a> {
    fn new(br: BitReader<'a>, lease: Lease, p: &Params) -> Self {
        let mut c = Coder {
            br,
            lease,
            k: Consts {
                maxval: p.maxval,
                near: p.near,
                range: p.range,
                qstep: 2 * p.near + 1,
                qbpp: p.qbpp,
                limit: p.limit,
                thr: p.limit - p.qbpp as i32 - 1,
                thr_fast: (p.limit - p.qbpp as i32 - 1).clamp(0, 17) as u32,
                reset: p.reset,
                reset_u8: p.reset as u8,
                range_q: p.range * (2 * p.near + 1),
            },
            a_init: ((p.range + 32) / 64).max(2),
        };
        c.reset_contexts();
        c
    }

    fn reset_contexts(&mut self) {
        let a = self.a_init;
        let t = self.lease.tables();
        for c in t.ctx.iter_mut() {
            *c = Ctx {
                a,
                b: 0,
                n: 1,
                c: 0,
                k: golomb_k(a, 1) as u16,
            };
        }
        t.rctx = [RunCtx { a, n: 1, nn: 0 }; 2];
    }

    /// One line of one component with the decoder `kind`, or counting
    /// (`count`, a sample line). `prev`/`cur` hold samples x = -1..=w at
    /// indices 0..=w+1; cur[0] and prev[w+1] are set by the caller. Returns
    /// the decoder for the next lines (sample lines only, see
    /// [`LineKind::choose`]; else none).
    fn line_of<const MODE: u8>(
        &mut self,
        count: bool,
        kind: LineKind,
        prev: &[i32],
        cur: &mut [i32],
        w: usize,
        ri: &mut usize,
    ) -> Result<Option<LineKind>, ()> {
        match (count, kind.bias_free, kind.k0) {
            (true, ..) => self.line::<MODE, BIAS_COUNT, false>(prev, cur, w, ri),
            (_, true, true) => self.line::<MODE, BIAS_FREE, true>(prev, cur, w, ri),
            (_, true, false) => self.line::<MODE, BIAS_FREE, false>(prev, cur, w, ri),
            (_, false, true) => self.line::<MODE, BIAS_BRANCHY, true>(prev, cur, w, ri),
            (_, false, false) => self.line::<MODE, BIAS_BRANCHY, false>(prev, cur, w, ri),
        }
    }

    /// One line of one component (see [`Coder::line_of`]).
    ///
    /// `BIAS`: the bias update with branches (`BIAS_BRANCHY`, `BIAS_COUNT`),
    /// cheaper while they are rarely taken (smooth images, small errors), or
    /// branch-free (`BIAS_FREE`), cheaper with many corrections, whose branches
    /// would mispredict. `K0`: the Golomb decoding's k = 0 branch. All give the
    /// same result; `BIAS_COUNT` also counts what picks the variant of the next
    /// lines (only on sample lines: the count costs a few percent).
    #[inline(never)]
    fn line<const MODE: u8, const BIAS: u8, const K0: bool>(
        &mut self,
        prev: &[i32],
        cur: &mut [i32],
        w: usize,
        ri: &mut usize,
    ) -> Result<Option<LineKind>, ()> {
        // The bit reader lives in a local for the line (registers, not memory).
        let mut br = self.br;
        let r = self.line_inner::<MODE, BIAS, K0>(&mut br, prev, cur, w, ri);
        self.br = br;
        r
    }

    #[inline(always)]
    fn line_inner<const MODE: u8, const BIAS: u8, const K0: bool>(
        &mut self,
        br: &mut BitReader,
        prev: &[i32],
        cur: &mut [i32],
        w: usize,
        ri: &mut usize,
    ) -> Result<Option<LineKind>, ()> {
        if prev.len() < w + 2 || cur.len() < w + 2 {
            return Err(());
        }
        let p = self.k;
        let prev = &prev[..w + 2];
        let cur = &mut cur[..w + 2];
        let mut x = 0usize;
        let mut counts = LineCounts::default();
        // The regular samples run in the inner loop, which has no call: it
        // leaves for run mode and for the samples that need the slow refill
        // or the slow Golomb decoding, after which the outer loop reloads its
        // values from the lines. So no value of the inner loop lives across a
        // call (V8 keeps such values in memory). Run mode has calls (the slow
        // refill): near-lossless runs it inline in the outer loop.
        while x < w {
            // Rb and Rd of sample x - 1 (Rc and Rb of sample x), and the
            // quantised gradient Rb - Rc of sample x: it is the D1 of sample
            // x - 1, carried.
            let mut ra = cur[x];
            let mut rb = prev[x];
            let mut rd = prev[x + 1];
            let mut q2 = quant(self.lease.quant(), rd - rb);
            let exit = loop {
                let rc = rb;
                rb = rd;
                // Lossless without the bounds check (x < w holds): measured
                // faster; near-lossless measured slower without it.
                rd = if MODE == MODE_NEAR {
                    prev[x + 2]
                } else {
                    debug_assert!(x < w);
                    // SAFETY: x < w (the outer loop's test, and the exit
                    // below where x reaches w), and prev.len() = w + 2,
                    // which does not wrap (w <= MAX_SAMPLES).
                    unsafe { *prev.get_unchecked(x + 2) }
                };
                let qt = self.lease.quant();
                let q1 = quant(qt, rd - rb);
                let q = (q1 * 9 + q2) * 9 + quant(qt, rc - ra);
                q2 = q1;
                if q == CTX_Q0 {
                    break Exit::Run;
                }
                let pred = med(ra, rb, rc);
                // Out of the loop where the sample needs the slow refill or
                // the slow Golomb decoding (a unary part of `thr_fast` or
                // more zeros, see `decode_regular`): `regular` has neither here.
                if (!br.s.has(32) && !br.refill_fast()) || br.s.cache.leading_zeros() >= p.thr_fast
                {
                    break Exit::Slow(q, pred);
                }
                ra = regular::<MODE, BIAS, K0>(
                    &mut self.lease.tables().ctx,
                    br,
                    &p,
                    q,
                    pred,
                    &mut counts,
                )?;
                cur[x + 1] = ra;
                x += 1;
                if x >= w {
                    break Exit::End;
                }
            };
            match exit {
                Exit::Run => {}
                Exit::End => break,
                Exit::Slow(q, pred) => {
                    let s = br.s;
                    // A copy, so that `counts` stays in locals.
                    let mut c = counts;
                    let (st, r) =
                        self.regular_slow::<MODE, BIAS>(br.end, s.cache, s.pos, q, pred, &mut c);
                    br.s = st;
                    counts = c;
                    cur[x + 1] = r?;
                    x += 1;
                    continue;
                }
            }
            // Lossless: run mode out of line, fewer values live in this
            // loop. Near-lossless (more, shorter runs): inline, which V8
            // runs faster there.
            if MODE == MODE_NEAR {
                x = self.run_mode_inner::<MODE>(br, &p, prev, cur, x, ra, ri)?;
            } else {
                let s = br.s;
                let (st, r) = self.run_mode::<MODE>(br.end, s.cache, s.pos, prev, cur, x, ra, ri);
                br.s = st;
                x = r?;
            }
        }
        Ok(if BIAS == BIAS_COUNT {
            LineKind::choose(&counts)
        } else {
            None
        })
    }

    /// Regular-mode sample of context `q` and prediction `pred` that the
    /// inner loop of [`Coder::line`] leaves to this: with the slow refill or
    /// the slow Golomb decoding, whose calls would make V8 keep the inner
    /// loop's values in memory. Returns the bit reader state and the sample;
    /// the bit reader comes as in [`Coder::run_mode`].
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn regular_slow<const MODE: u8, const BIAS: u8>(
        &mut self,
        end: &Segment,
        cache: u64,
        pos: usize,
        q: i32,
        pred: i32,
        counts: &mut LineCounts,
    ) -> (BitState, Result<i32, ()>) {
        let mut br = BitReader {
            end,
            s: BitState { cache, pos },
        };
        if !br.s.has(32) {
            br.refill();
        }
        let p = self.k;
        let r = regular::<MODE, BIAS, false>(
            &mut self.lease.tables().ctx,
            &mut br,
            &p,
            q,
            pred,
            counts,
        );
        (br.s, r)
    }

    /// Run mode at sample x (Ra = `ra`): the run, then unless it reaches the
    /// end of the line the run-interruption sample. Returns the bit reader
    /// state and the position after the last decoded sample. The bit reader
    /// comes as its segment and its state's fields: a struct argument is
    /// passed by address and stays in memory here, its fields are locals
    /// (registers).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn run_mode<const MODE: u8>(
        &mut self,
        end: &Segment,
        cache: u64,
        pos: usize,
        prev: &[i32],
        cur: &mut [i32],
        x: usize,
        ra: i32,
        ri: &mut usize,
    ) -> (BitState, Result<usize, ()>) {
        let s = BitState { cache, pos };
        let mut br = BitReader { end, s };
        let p = self.k;
        let r = self.run_mode_inner::<MODE>(&mut br, &p, prev, cur, x, ra, ri);
        (br.s, r)
    }

    /// `run_mode` for the line loop, with the scan constants `p` it holds.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn run_mode_inner<const MODE: u8>(
        &mut self,
        br: &mut BitReader,
        p: &Consts,
        prev: &[i32],
        cur: &mut [i32],
        mut x: usize,
        ra: i32,
        ri: &mut usize,
    ) -> Result<usize, ()> {
        // prev and cur hold w + 2 samples (checked by the caller).
        let w = prev.len().saturating_sub(2);
        if cur.len() < w + 2 || x >= w {
            return Err(());
        }
        let (cnt, eol) = run_length(br, w - x, ri)?;
        fill_run(cur, x + 1, x + 1 + cnt, ra);
        x += cnt;
        if eol {
            return Ok(w);
        }
        // Run interruption sample at x.
        let rbx = prev[x + 1];
        let v = if (ra - rbx).abs() <= p.near {
            let e = ri_error::<1>(&mut self.lease.tables().rctx[1], br, p, *ri)?;
            reconstruct::<MODE>(p, ra, dequant::<MODE>(p, e))
        } else {
            let e = ri_error::<0>(&mut self.lease.tables().rctx[0], br, p, *ri)?;
            let s = ((rbx - ra) >> 31) | 1;
            reconstruct::<MODE>(p, rbx, dequant::<MODE>(p, e * s))
        };
        cur[x + 1] = v;
        *ri = ri.saturating_sub(1);
        Ok(x + 1)
    }

    /// One line of a sample-interleaved scan with N components. Pixel x
    /// (-1..=w) occupies indices (x+1)*N .. (x+2)*N.
    #[inline(never)]
    fn line_n<const N: usize, const MODE: u8>(
        &mut self,
        prev: &[i32],
        cur: &mut [i32],
        w: usize,
        ri: &mut usize,
    ) -> Result<(), ()> {
        let mut br = self.br;
        let r = self.line_n_inner::<N, MODE>(&mut br, prev, cur, w, ri);
        self.br = br;
        r
    }

    #[inline(always)]
    fn line_n_inner<const N: usize, const MODE: u8>(
        &mut self,
        br: &mut BitReader,
        prev: &[i32],
        cur: &mut [i32],
        w: usize,
        ri: &mut usize,
    ) -> Result<(), ()> {
        if prev.len() < (w + 2) * N || cur.len() < (w + 2) * N {
            return Err(());
        }
        let p = self.k;
        let prev = &prev[..(w + 2) * N];
        let cur = &mut cur[..(w + 2) * N];
        let mut x = 0usize;
        let mut counts = LineCounts::default();
        while x < w {
            let base = (x + 1) * N;
            let mut qs = [0i32; N];
            let mut any = 0;
            for c in 0..N {
                let ra = cur[base - N + c];
                let rc = prev[base - N + c];
                let rb = prev[base + c];
                let rd = prev[base + N + c];
                let qt = self.lease.quant();
                qs[c] = quant(qt, rd - rb) * 81 + quant(qt, rb - rc) * 9 + quant(qt, rc - ra);
                any |= qs[c] ^ CTX_Q0;
            }
            if any != 0 {
                for c in 0..N {
                    let ra = cur[base - N + c];
                    let rc = prev[base - N + c];
                    let rb = prev[base + c];
                    // Lossless: branches, near-lossless: branch-free (see `line`).
                    let (ctxs, pred) = (&mut self.lease.tables().ctx, med(ra, rb, rc));
                    if !br.s.has(32) {
                        br.refill();
                    }
                    cur[base + c] = if MODE == MODE_NEAR {
                        regular::<MODE, BIAS_FREE, false>(ctxs, br, &p, qs[c], pred, &mut counts)?
                    } else {
                        regular::<MODE, BIAS_BRANCHY, false>(
                            ctxs,
                            br,
                            &p,
                            qs[c],
                            pred,
                            &mut counts,
                        )?
                    };
                }
                x += 1;
            } else {
                let mut ra = [0i32; N];
                ra.copy_from_slice(&cur[base - N..base]);
                let (cnt, eol) = run_length(br, w - x, ri)?;
                for px in cur[base..base + cnt * N].chunks_exact_mut(N) {
                    px.copy_from_slice(&ra);
                }
                x += cnt;
                if eol {
                    break;
                }
                let base = (x + 1) * N;
                let mut es = [0i32; N];
                for e in es.iter_mut() {
                    *e = ri_error::<0>(&mut self.lease.tables().rctx[0], br, &p, *ri)?;
                }
                for c in 0..N {
                    let rb = prev[base + c];
                    let s = ((rb - ra[c]) >> 31) | 1;
                    cur[base + c] = reconstruct::<MODE>(&p, rb, dequant::<MODE>(&p, es[c] * s));
                }
                *ri = ri.saturating_sub(1);
                x += 1;
            }
        }
        Ok(())
    }
}

/// Sets `line[from..to]` to `v` (a run), 8 samples a step: the last step may
/// write past `to`, into samples of the line that are decoded (overwritten)
/// later, or into the edge sample after them, which the next line sets
/// before reading it. Fewer steps and no remainder loop for the short runs
/// of near-lossless images. The first step is taken also for an empty run
/// (`from == to`): runs of 0 to 8 samples take the same path, with no
/// branch on the length.
#[inline(always)]
fn fill_run(line: &mut [i32], from: usize, to: usize, v: i32) {
    let mut i = from;
    loop {
        match line.get_mut(i..i + 8) {
            Some(s) => fill8(s, v),
            None => {
                line[i..to].fill(v);
                return;
            }
        }
        i += 8;
        if i >= to {
            return;
        }
    }
}

/// Sets the 8 samples `s` to `v` with two 16-byte wasm SIMD stores (the
/// portable copy compiles to eight 4-byte stores).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn fill8(s: &mut [i32], v: i32) {
    use core::arch::wasm32::*;
    let s = &mut s[..8];
    let x = i32x4_splat(v);
    let p = s.as_mut_ptr().cast::<v128>();
    // SAFETY: `s` holds 8 i32 = 2 v128 (unaligned stores are allowed in wasm).
    unsafe {
        p.write_unaligned(x);
        p.add(1).write_unaligned(x);
    }
}

/// Without wasm SIMD: the 8 samples `s` set to `v` by a copy.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn fill8(s: &mut [i32], v: i32) {
    s[..8].copy_from_slice(&[v; 8]);
}

/// How the output stores write a sample (see [`SampleLayout`]).
#[derive(Clone, Copy)]
struct Store {
    /// Bytes a sample, 1 or 2.
    sb: usize,
    /// The low `bits` bits.
    mask: i32,
    /// The sign bit of `bits` where signed, else 0.
    half: i32,
    /// Whether [`Store::fix`] can change the stored bytes (bits < 8 sb).
    fixes: bool,
}

impl Store {
    fn new(layout: SampleLayout) -> Self {
        let sb = if layout.bytes == 1 { 1 } else { 2 };
        let bits = layout.bits.clamp(1, 32);
        let mask = (u32::MAX >> (32 - bits)) as i32;
        Store {
            sb,
            mask,
            half: if layout.signed { (mask >> 1) + 1 } else { 0 },
            fixes: bits < 8 * sb as u32,
        }
    }

    /// `v`'s low bits, sign-extended where signed: masked, then the sign bit
    /// flipped and subtracted (constant operands, unlike shifts by the
    /// width, which V8 lowers to several instructions for SIMD).
    #[inline(always)]
    fn fix(&self, v: i32) -> i32 {
        ((v & self.mask) ^ self.half).wrapping_sub(self.half)
    }

    /// [`Store::fix`] of four samples.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn fix4(&self, v: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
        use core::arch::wasm32::*;
        let half = i32x4_splat(self.half);
        i32x4_sub(v128_xor(v128_and(v, i32x4_splat(self.mask)), half), half)
    }
}

/// Writes `src` as samples laid out as `st` says to every `nf`-th sample of
/// `row`, starting with sample `c`.
#[inline(never)]
fn put_samples(row: &mut [u8], src: &[i32], nf: usize, c: usize, st: Store) {
    if st.fixes {
        put_samples_as::<true>(row, src, nf, c, st)
    } else {
        put_samples_as::<false>(row, src, nf, c, st)
    }
}

/// `put_samples`; `FIX`: whether `st.fix` can change the stored bytes (else
/// it is left out).
#[inline(always)]
fn put_samples_as<const FIX: bool>(row: &mut [u8], src: &[i32], nf: usize, c: usize, st: Store) {
    let fix = |v: i32| if FIX { st.fix(v) } else { v };
    match (st.sb, nf) {
        (1, 1) => {
            for (o, &v) in row.iter_mut().zip(src) {
                *o = fix(v) as u8;
            }
        }
        (1, _) => {
            for (o, &v) in row[c..].chunks_mut(nf).zip(src) {
                o[0] = fix(v) as u8;
            }
        }
        (_, 1) => {
            let done = put_u16_simd::<FIX>(row, src, st);
            for (o, &v) in row[2 * done..].chunks_exact_mut(2).zip(&src[done..]) {
                o.copy_from_slice(&(fix(v) as u16).to_le_bytes());
            }
        }
        _ => {
            for (o, &v) in row[2 * c..].chunks_mut(2 * nf).zip(src) {
                o[..2].copy_from_slice(&(fix(v) as u16).to_le_bytes());
            }
        }
    }
}

/// `put_samples` of one component's 16-bit samples, 8 a step with wasm SIMD;
/// returns the number of samples written (a multiple of 8, the rest is left).
/// Each keeps its low 16 bits (`st.fix`'s where `FIX`: its mask joins the
/// 16-bit one, its sign extension is done in 16-bit lanes, which hold the
/// same low 16 bits), as the scalar loop's `as u16`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn put_u16_simd<const FIX: bool>(row: &mut [u8], src: &[i32], st: Store) -> usize {
    use core::arch::wasm32::*;
    let n = (row.len() / 2).min(src.len()) & !7;
    let low = i32x4_splat(if FIX { st.mask & 0xFFFF } else { 0xFFFF });
    let half = i16x8_splat(st.half as i16);
    for (s, o) in src[..n].chunks_exact(8).zip(row.chunks_exact_mut(16)) {
        let p = s.as_ptr().cast::<v128>();
        // SAFETY: `s` holds 8 i32 = 2 v128 and `o` 16 bytes = one v128
        // (unaligned loads and stores are allowed in wasm).
        unsafe {
            let (a, b) = (p.read_unaligned(), p.add(1).read_unaligned());
            let mut v = u16x8_narrow_i32x4(v128_and(a, low), v128_and(b, low));
            if FIX && st.half != 0 {
                v = i16x8_sub(v128_xor(v, half), half);
            }
            o.as_mut_ptr().cast::<v128>().write_unaligned(v);
        }
    }
    n
}

/// Without wasm SIMD: nothing (the scalar loop of `put_samples` writes every sample).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn put_u16_simd<const FIX: bool>(_row: &mut [u8], _src: &[i32], _st: Store) -> usize {
    0
}

/// Writes the three lines `l0`, `l1`, `l2` as the interleaved pixels of `row`,
/// samples laid out as `st` says.
#[inline(never)]
fn put_rgb(row: &mut [u8], l0: &[i32], l1: &[i32], l2: &[i32], st: Store) {
    if st.fixes {
        put_rgb_as::<true>(row, l0, l1, l2, st)
    } else {
        put_rgb_as::<false>(row, l0, l1, l2, st)
    }
}

/// `put_rgb`; `FIX` as in [`put_samples_as`].
#[inline(always)]
fn put_rgb_as<const FIX: bool>(row: &mut [u8], l0: &[i32], l1: &[i32], l2: &[i32], st: Store) {
    let fix = |v: i32| if FIX { st.fix(v) } else { v };
    if st.sb == 1 {
        let done = put_rgb8_simd::<FIX>(row, l0, l1, l2, st);
        for (o, ((&a, &b), &c)) in row[3 * done..]
            .chunks_exact_mut(3)
            .zip(l0[done..].iter().zip(&l1[done..]).zip(&l2[done..]))
        {
            o.copy_from_slice(&[fix(a) as u8, fix(b) as u8, fix(c) as u8]);
        }
    } else {
        for (o, ((&a, &b), &c)) in row.chunks_exact_mut(6).zip(l0.iter().zip(l1).zip(l2)) {
            let (a, b, c) = (
                (fix(a) as u16).to_le_bytes(),
                (fix(b) as u16).to_le_bytes(),
                (fix(c) as u16).to_le_bytes(),
            );
            o.copy_from_slice(&[a[0], a[1], b[0], b[1], c[0], c[1]]);
        }
    }
}

/// `put_rgb` of 8-bit samples, 4 pixels a step with wasm SIMD; returns the
/// number of pixels written (a multiple of 4, the rest is left).
///
/// Each sample keeps its low 8 bits (after `st.fix` where `FIX`), as the
/// scalar loop's `as u8` (samples above 255, from a stream of more bits than
/// the description's 8, come out the same in both builds). A step builds the
/// 4 pixels as 32-bit lanes R | G << 8 | B << 16 with shifts (cheap in V8,
/// unlike two-vector byte shuffles), packs their 12 bytes with one
/// single-vector shuffle and stores 16 bytes: the last 4 are the next step's
/// pixels, written again by it (or by the scalar rest), so the steps stop
/// where a store would leave the row.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn put_rgb8_simd<const FIX: bool>(
    row: &mut [u8],
    l0: &[i32],
    l1: &[i32],
    l2: &[i32],
    st: Store,
) -> usize {
    use core::arch::wasm32::*;
    let load = |l: &[i32], i: usize| -> v128 {
        let s = &l[i..i + 4];
        // SAFETY: `s` holds 4 i32 = one v128 (unaligned loads are allowed in wasm).
        let v = unsafe { s.as_ptr().cast::<v128>().read_unaligned() };
        if FIX {
            st.fix4(v)
        } else {
            v
        }
    };
    let n = (row.len() / 3).min(l0.len()).min(l1.len()).min(l2.len());
    let mut i = 0;
    while i + 4 <= n && 3 * i + 16 <= row.len() {
        let r = v128_and(load(l0, i), i32x4_splat(0xFF));
        let g = u32x4_shr(i32x4_shl(load(l1, i), 24), 16);
        let b = u32x4_shr(i32x4_shl(load(l2, i), 24), 8);
        let px = v128_or(v128_or(r, g), b);
        let packed = i8x16_shuffle::<0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0, 0, 0, 0>(px, px);
        let o = &mut row[3 * i..3 * i + 16];
        // SAFETY: `o` holds 16 bytes = one v128 (unaligned stores are allowed in wasm).
        unsafe { o.as_mut_ptr().cast::<v128>().write_unaligned(packed) };
        i += 4;
    }
    i
}

/// Without wasm SIMD: nothing (the scalar loop of `put_rgb` writes every pixel).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn put_rgb8_simd<const FIX: bool>(
    _row: &mut [u8],
    _l0: &[i32],
    _l1: &[i32],
    _l2: &[i32],
    _st: Store,
) -> usize {
    0
}

fn fill_quant(q: &mut [u8; QSIZE], p: &Params) {
    let qval = |d: i32| -> i32 {
        if d <= -p.t3 {
            -4
        } else if d <= -p.t2 {
            -3
        } else if d <= -p.t1 {
            -2
        } else if d < -p.near {
            -1
        } else if d <= p.near {
            0
        } else if d < p.t1 {
            1
        } else if d < p.t2 {
            2
        } else if d < p.t3 {
            3
        } else {
            4
        }
    };
    // Differences -MAXVAL..=MAXVAL (index QZERO + d), values 16 (Qi + 4) (see
    // `quant`). |d| >= T3 (T3 <= MAXVAL, checked in coding_params) quantise
    // to +-4: bulk fills; the compare chain only for |d| < T3.
    let entry = |d: i32| (16 * (qval(d) + 4)) as u8;
    let (maxval, t3) = (p.maxval as usize, p.t3 as usize);
    for d in 0..t3 {
        q[QZERO + d] = entry(d as i32);
        q[QZERO - d] = entry(-(d as i32));
    }
    q[QZERO + t3..=QZERO + maxval].fill(entry(p.t3));
    q[QZERO - maxval..=QZERO - t3].fill(entry(-p.t3));
}

/// Decodes the scan whose entropy-coded data starts at `start`; returns the
/// position of the marker that follows it.
#[allow(clippy::too_many_arguments)]
fn decode_scan(
    data: &[u8],
    start: usize,
    f: &Frame,
    scan: &ScanHeader,
    params: &Params,
    restart: u32,
    out: &mut Vec<u8>,
    store: Store,
) -> Result<usize, JpegLsError> {
    let sb = store.sb;
    let mut lease = Lease::acquire().ok_or(JpegLsError::NestedDecode)?;
    fill_quant(&mut lease.tables().quant, params);
    let w = f.width as usize;
    let h = f.height as usize;
    let nf = f.nf;
    let mode = if params.near != 0 {
        MODE_NEAR
    } else if params.maxval & (params.maxval + 1) == 0 {
        MODE_MASK
    } else {
        MODE_LOSSLESS
    };
    // Sample interleaving with one component is the same as no interleaving.
    let ilv = if scan.ns == 1 { 0 } else { scan.ilv };
    let lanes = if ilv == 1 { scan.ns } else { 1 };
    let px_n = if ilv == 2 { scan.ns } else { 1 };
    let stride = (w + 2) * px_n;
    // Line-interleaved three-component scan in frame order (RGB): the output
    // row is written once per line, pixel by pixel, not with three strided passes.
    let rgb_lines = ilv == 1 && lanes == 3 && nf == 3 && scan.comps[..3] == [0, 1, 2];
    let mut prev = vec![0i32; stride * lanes];
    let mut cur = vec![0i32; stride * lanes];
    let mut ris = [0usize; 4];
    // Per lane: the line decoder that the last sample line picked; none: the
    // next line is a sample line (see MIN_SAMPLE_REGULARS).
    let mut kinds: [Option<LineKind>; 4] = [None; 4];
    let interval = if restart == 0 { h } else { restart as usize };
    let seg_end = Segment {
        data,
        ..Segment::default()
    };
    let mut coder = Coder::new(BitReader::new(&seg_end, start), lease, params);
    let mut seg_start = start;
    let mut y = 0usize;
    let comp_id = |lane: usize| f.ids[scan.comps[lane]];
    loop {
        let end_y = h.min(y.saturating_add(interval));
        while y < end_y {
            let row_end = (y + 1) * w * nf * sb;
            if out.len() < row_end {
                // Capacity reserved by the caller: no reallocation.
                out.resize(row_end, 0);
            }
            for lane in 0..lanes {
                let pl = &mut prev[lane * stride..(lane + 1) * stride];
                let cl = &mut cur[lane * stride..(lane + 1) * stride];
                // Edge samples: x = -1 of the current line is Rb of x = 0,
                // x = w of the previous line repeats x = w - 1.
                pl.copy_within(w * px_n..(w + 1) * px_n, (w + 1) * px_n);
                cl[..px_n].copy_from_slice(&pl[px_n..2 * px_n]);
                let ri = &mut ris[lane];
                let count = y.is_multiple_of(BIAS_SAMPLE_LINES) || kinds[lane].is_none();
                let kind = kinds[lane].unwrap_or_default();
                let r = match (px_n, mode) {
                    (1, MODE_MASK) => coder.line_of::<MODE_MASK>(count, kind, pl, cl, w, ri),
                    (1, MODE_LOSSLESS) => {
                        coder.line_of::<MODE_LOSSLESS>(count, kind, pl, cl, w, ri)
                    }
                    (1, _) => coder.line_of::<MODE_NEAR>(count, kind, pl, cl, w, ri),
                    _ => {
                        let r = match (px_n, mode) {
                            (2, MODE_MASK) => coder.line_n::<2, MODE_MASK>(pl, cl, w, ri),
                            (2, MODE_LOSSLESS) => coder.line_n::<2, MODE_LOSSLESS>(pl, cl, w, ri),
                            (2, _) => coder.line_n::<2, MODE_NEAR>(pl, cl, w, ri),
                            (3, MODE_MASK) => coder.line_n::<3, MODE_MASK>(pl, cl, w, ri),
                            (3, MODE_LOSSLESS) => coder.line_n::<3, MODE_LOSSLESS>(pl, cl, w, ri),
                            (3, _) => coder.line_n::<3, MODE_NEAR>(pl, cl, w, ri),
                            (_, MODE_MASK) => coder.line_n::<4, MODE_MASK>(pl, cl, w, ri),
                            (_, MODE_LOSSLESS) => coder.line_n::<4, MODE_LOSSLESS>(pl, cl, w, ri),
                            (_, _) => coder.line_n::<4, MODE_NEAR>(pl, cl, w, ri),
                        };
                        r.map(|()| Some(LineKind::default()))
                    }
                };
                let over = coder.br.overrun();
                if over > SLACK_BITS || (r.is_err() && over > 0) {
                    return Err(JpegLsError::TruncatedScanData {
                        component: comp_id(lane),
                    });
                }
                match r {
                    Ok(next) => {
                        if count {
                            kinds[lane] = next;
                        }
                    }
                    Err(()) => {
                        return Err(JpegLsError::InvalidScanData {
                            component: comp_id(lane),
                        })
                    }
                }
                // Output.
                let row_len = w * nf * sb;
                let row = &mut out[y * row_len..(y + 1) * row_len];
                if rgb_lines {
                    // Written below, all three lanes at once.
                } else if px_n == 1 {
                    put_samples(row, &cl[1..w + 1], nf, scan.comps[lane], store);
                } else {
                    let src = &cl[px_n..(w + 1) * px_n];
                    let identity =
                        nf == px_n && scan.comps[..px_n].iter().enumerate().all(|(i, &c)| i == c);
                    if identity {
                        put_samples(row, src, 1, 0, store);
                    } else {
                        for (pix, s) in row.chunks_exact_mut(nf * sb).zip(src.chunks_exact(px_n)) {
                            for (c, &v) in s.iter().enumerate() {
                                let o = scan.comps[c] * sb;
                                let le = (store.fix(v) as u16).to_le_bytes();
                                pix[o..o + sb].copy_from_slice(&le[..sb]);
                            }
                        }
                    }
                }
            }
            if rgb_lines {
                let row_len = w * 3 * sb;
                let row = &mut out[y * row_len..(y + 1) * row_len];
                let l0 = &cur[1..w + 1];
                let l1 = &cur[stride + 1..stride + w + 1];
                let l2 = &cur[2 * stride + 1..2 * stride + w + 1];
                put_rgb(row, l0, l1, l2, store);
            }
            std::mem::swap(&mut prev, &mut cur);
            y += 1;
        }
        let mpos = if seg_end.ended.get() {
            find_marker(data, coder.br.s.pos.max(seg_start))
        } else {
            find_marker(data, coder.br.search_start(seg_start))
        };
        if y >= h {
            return Ok(mpos);
        }
        // Restart marker, then reset the coder state (T.87 D.3).
        let (m, next) = match read_marker(data, mpos) {
            Ok(v) => v,
            Err(_) => {
                return Err(JpegLsError::TruncatedScanData {
                    component: comp_id(0),
                })
            }
        };
        if !(0xD0..=0xD7).contains(&m) {
            return Err(JpegLsError::RestartMarkerExpected { offset: mpos });
        }
        seg_start = next;
        coder.br = BitReader::new(&seg_end, next);
        coder.reset_contexts();
        prev.fill(0);
        cur.fill(0);
        ris = [0; 4];
        kinds = [None; 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jpegls/");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Minimal SHA-256 (FIPS 180-4), test-only, to compare against the manifest.
    fn sha256(msg: &[u8]) -> String {
        const K: [u32; 64] = [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2,
        ];
        let mut h: [u32; 8] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut data = msg.to_vec();
        data.push(0x80);
        while data.len() % 64 != 56 {
            data.push(0);
        }
        data.extend_from_slice(&((msg.len() as u64) * 8).to_be_bytes());
        for block in data.chunks_exact(64) {
            let mut w = [0u32; 64];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([
                    block[4 * i],
                    block[4 * i + 1],
                    block[4 * i + 2],
                    block[4 * i + 3],
                ]);
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1);
            }
            let mut v = h;
            for i in 0..64 {
                let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
                let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
                let t1 = v[7]
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
                let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
                let t2 = s0.wrapping_add(maj);
                v = [
                    t1.wrapping_add(t2),
                    v[0],
                    v[1],
                    v[2],
                    v[3].wrapping_add(t1),
                    v[4],
                    v[5],
                    v[6],
                ];
            }
            for (a, b) in h.iter_mut().zip(v) {
                *a = a.wrapping_add(b);
            }
        }
        h.iter().map(|x| format!("{x:08x}")).collect()
    }

    fn samples_sha(img: &JpegLsImage) -> String {
        let bytes: Vec<u8> = img.samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        sha256(&bytes)
    }

    fn manifest() -> Vec<(String, [u32; 6], String)> {
        let text =
            std::fs::read_to_string(format!("{FIXTURES}manifest.txt")).expect("manifest.txt");
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let n = |i: usize| f[i].parse::<u32>().unwrap();
                (
                    f[0].to_string(),
                    [n(1), n(2), n(3), n(4), n(5), n(6)],
                    f[7].to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fixtures_bit_exact_with_charls() {
        let m = manifest();
        assert!(m.len() >= 40, "manifest has {} entries", m.len());
        for (name, [w, h, nf, bits, near, ilv], sha) in m {
            let data = fixture(&name);
            let hdr = read_header(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (
                    hdr.width,
                    hdr.height,
                    hdr.components as u32,
                    hdr.bits_per_sample as u32,
                    hdr.near as u32,
                    hdr.interleave as u32
                ),
                (w, h, nf, bits, near, ilv),
                "{name} header"
            );
            let img = decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (img.width, img.height, img.components as u32),
                (w, h, nf),
                "{name}"
            );
            assert_eq!(img.samples.len(), (w * h * nf) as usize, "{name}");
            assert_eq!(samples_sha(&img), sha, "{name}: samples differ from CharLS");
        }
    }

    /// `decode_le` with a layout of fewer bits (masked or sign-extended in the
    /// output stores) gives the raw decode's samples with the low bits kept and
    /// sign-extended one by one: every fixture, 1 and 2 bytes a sample, every
    /// width of 1 to 16 bits, unsigned and signed (all store paths: one and
    /// three components, line and sample interleaving, RGB lines).
    #[test]
    fn layouts_mask_and_sign_extend() {
        for (name, [.., bits, _, _], _) in manifest() {
            let data = fixture(&name);
            let raw = decode(&data)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .samples;
            for bytes in [1usize, 2] {
                for keep in (1..=8 * bytes as u32).filter(|&k| k <= bits + 1) {
                    for signed in [false, true] {
                        let layout = SampleLayout {
                            bytes,
                            bits: keep,
                            signed,
                        };
                        let (_, out) = decode_le(&data, layout).unwrap();
                        let want: Vec<u8> = raw
                            .iter()
                            .flat_map(|&v| {
                                let sh = 32 - keep;
                                let v = u32::from(v) << sh;
                                let v = if signed {
                                    ((v as i32) >> sh) as u32
                                } else {
                                    v >> sh
                                };
                                v.to_le_bytes().into_iter().take(bytes)
                            })
                            .collect();
                        assert!(out == want, "{name}: {layout:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn golomb_k_matches_loop() {
        for n in 1..300 {
            for a in 1..5000 {
                let mut k = 0;
                while (n << k) < a {
                    k += 1;
                }
                assert_eq!(golomb_k(a, n), k, "a={a} n={n}");
            }
        }
    }

    fn find_seg(data: &[u8], marker: u8) -> usize {
        (0..data.len() - 1)
            .find(|&i| data[i] == 0xFF && data[i + 1] == marker)
            .expect("marker")
    }

    #[test]
    fn truncated_scan_is_an_error() {
        let data = fixture("mono16_lossless.jls");
        let sos = find_seg(&data, 0xDA);
        let cut = &data[..sos + (data.len() - sos) / 2];
        assert_eq!(
            decode(cut),
            Err(JpegLsError::TruncatedScanData { component: 1 })
        );
        let msg = decode(cut).unwrap_err().to_string();
        assert_eq!(msg, "JPEG-LS: truncated scan data in component 1");
        // Header-only reads still work on a truncated stream.
        assert_eq!(read_header(cut).unwrap().width, 64);
        // Cut in the third component scan of a non-interleaved colour image.
        let data = fixture("rgb8_ilv0.jls");
        let last_sos = (0..data.len() - 1)
            .rev()
            .find(|&i| data[i] == 0xFF && data[i + 1] == 0xDA)
            .unwrap();
        let cut = &data[..last_sos + 40];
        assert!(
            matches!(
                decode(cut),
                Err(JpegLsError::TruncatedScanData { component: 3 })
            ),
            "{:?}",
            decode(cut)
        );
    }

    #[test]
    fn missing_eoi_is_accepted() {
        let data = fixture("mono8_lossless.jls");
        let full = decode(&data).unwrap();
        assert_eq!(decode(&data[..data.len() - 2]).unwrap(), full);
        // Zero padding after EOI (dcmtk +pz) and leading fill bytes before markers.
        let mut padded = data.clone();
        padded.push(0);
        assert_eq!(decode(&padded).unwrap(), full);
    }

    #[test]
    fn rejects_unsupported_features_with_clear_errors() {
        let base = fixture("rgb8_ilv2.jls");
        // Mapping table (LSE id 2) right after SOI.
        let mut d = base[..2].to_vec();
        d.extend_from_slice(&[0xFF, 0xF8, 0x00, 0x07, 0x02, 0x01, 0x01, 0x00, 0x01]);
        d.extend_from_slice(&base[2..]);
        let e = decode(&d).unwrap_err();
        assert_eq!(e, JpegLsError::UnsupportedMappingTable { lse_id: 2 });
        assert_eq!(
            e.to_string(),
            "JPEG-LS: unsupported mapping table (LSE id 2)"
        );
        // HP colour transform (APP8 "mrfx", transform 1).
        let mut d = base[..2].to_vec();
        d.extend_from_slice(&[0xFF, 0xE8, 0x00, 0x07, b'm', b'r', b'f', b'x', 0x01]);
        d.extend_from_slice(&base[2..]);
        assert_eq!(
            decode(&d).unwrap_err(),
            JpegLsError::UnsupportedColorTransform(1)
        );
        // mrfx with transform 0 (none) is fine.
        let n = d.len();
        let pos = find_seg(&d, 0xE8) + 8;
        d[pos] = 0;
        assert_eq!(d.len(), n);
        assert!(decode(&d).is_ok());
        // Subsampling: second component 2x1.
        let mut d = base.clone();
        let sof = find_seg(&d, 0xF7);
        d[sof + 10 + 3 + 1] = 0x21;
        assert!(matches!(
            decode(&d),
            Err(JpegLsError::UnsupportedSubsampling { h: 2, v: 1, .. })
        ));
        // Baseline JPEG frame.
        let mut d = base.clone();
        d[sof + 1] = 0xC0;
        assert_eq!(
            decode(&d).unwrap_err(),
            JpegLsError::NotJpegLs { marker: 0xC0 }
        );
        // Not a JPEG at all.
        assert_eq!(decode(b"hello").unwrap_err(), JpegLsError::NotJpeg);
        assert_eq!(decode(&[]).unwrap_err(), JpegLsError::NotJpeg);
        // Zero width.
        let mut d = base.clone();
        d[sof + 7] = 0;
        d[sof + 8] = 0;
        assert!(matches!(
            decode(&d),
            Err(JpegLsError::EmptyImage { width: 0, .. })
        ));
        // Point transform.
        let mut d = base.clone();
        let sos = find_seg(&d, 0xDA);
        let ns = d[sos + 4] as usize;
        d[sos + 4 + 1 + 2 * ns + 2] = 1;
        assert_eq!(
            decode(&d).unwrap_err(),
            JpegLsError::UnsupportedPointTransform(1)
        );
        // Mapping table selector in the scan header.
        let mut d = base.clone();
        d[sos + 6] = 3;
        assert!(matches!(
            decode(&d),
            Err(JpegLsError::MappingTableReference { table: 3, .. })
        ));
        // Precision 17.
        let mut d = base.clone();
        d[sof + 4] = 17;
        assert_eq!(
            decode(&d).unwrap_err(),
            JpegLsError::UnsupportedBitsPerSample(17)
        );
    }

    #[test]
    fn error_implements_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(JpegLsError::InvalidScanData { component: 2 });
        assert_eq!(
            e.to_string(),
            "JPEG-LS: invalid entropy-coded data in component 2"
        );
    }

    /// xorshift for deterministic pseudo-random mutations.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn corrupt_input_never_panics_or_hangs() {
        let names = [
            "mono8_lossless.jls",
            "mono16_near3.jls",
            "rgb8_ilv2_restart5.jls",
            "rgb8_ilv1_near2.jls",
            "rgb8_ilv0_restart16.jls",
            "rgba8_ilv2.jls",
            "mono2_lossless.jls",
            "dcmtk_mono12_default.jls",
            "mono12_custom_t_near2.jls",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for name in names {
            let data = fixture(name);
            // Every truncation.
            for len in 0..data.len() {
                let _ = decode(&data[..len]);
            }
            // Random byte changes, insertions and deletions.
            for _ in 0..400 {
                let mut d = data.clone();
                for _ in 0..1 + rng(&mut state) % 4 {
                    let i = (rng(&mut state) % d.len() as u64) as usize;
                    match rng(&mut state) % 4 {
                        0 => d[i] = rng(&mut state) as u8,
                        1 => d[i] ^= 1 << (rng(&mut state) % 8),
                        2 => d.insert(i, rng(&mut state) as u8),
                        _ => {
                            d.remove(i);
                        }
                    }
                }
                if let Ok(img) = decode(&d) {
                    assert_eq!(
                        img.samples.len() as u64,
                        u64::from(img.width) * u64::from(img.height) * u64::from(img.components)
                    );
                }
            }
        }
    }

    /// The benchmark frames ($LUMEN_CACHE/bench/frames, made by
    /// scripts/bench/frames.py; skipped when absent), damaged: bytes flipped and
    /// overwritten in the entropy-coded data, cut short. Decoding gives an
    /// image of the announced size or an error, never a panic or a hang.
    #[test]
    fn damaged_bench_frames_never_panic() {
        let cache = std::env::var("LUMEN_CACHE").unwrap_or_else(|_| {
            format!("{}/.cache/lumen", std::env::var("HOME").unwrap_or_default())
        });
        let dir = std::path::Path::new(&cache).join("bench/frames");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("no {}: skipped", dir.display());
            return;
        };
        let mut names: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                let n = p.to_string_lossy();
                n.contains(".4.80.") || n.contains(".4.81.")
            })
            .collect();
        names.sort();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for path in names {
            let data = std::fs::read(&path).unwrap();
            if read_header(&data).is_err() {
                continue;
            }
            let check = |d: &[u8]| {
                if let Ok((h, out)) = decode_le(d, SampleLayout::raw(2)) {
                    let n = u64::from(h.width) * u64::from(h.height) * u64::from(h.components);
                    assert_eq!(out.len() as u64, 2 * n, "{}", path.display());
                }
            };
            let sos = find_seg(&data, 0xDA);
            let span = data.len() - sos;
            for i in 0..6u64 {
                let cut = sos + (span as u64 * (i + 1) / 7) as usize;
                check(&data[..cut]);
            }
            for _ in 0..24 {
                let mut d = data.clone();
                for _ in 0..1 + rng(&mut state) % 3 {
                    let i = sos + (rng(&mut state) % span as u64) as usize;
                    if rng(&mut state) & 1 == 0 {
                        d[i] ^= 1 << (rng(&mut state) % 8);
                    } else {
                        d[i] = rng(&mut state) as u8;
                    }
                }
                check(&d);
            }
        }
    }

    #[test]
    fn nested_decode_is_an_error() {
        let data = fixture("mono8_lossless.jls");
        let full = decode(&data).unwrap();
        let lease = Lease::acquire().unwrap();
        assert!(Lease::acquire().is_none());
        assert_eq!(decode(&data), Err(JpegLsError::NestedDecode));
        // The refused attempts left the lease in place.
        assert_eq!(decode(&data), Err(JpegLsError::NestedDecode));
        drop(lease);
        assert_eq!(decode(&data).unwrap(), full);
    }

    #[test]
    fn huge_dimensions_are_rejected_before_allocating() {
        let base = fixture("rgb8_ilv2.jls");
        let sof = find_seg(&base, 0xF7);
        let mut d = base.clone();
        d[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(decode(&d), Err(JpegLsError::ImageTooLarge { .. })));
    }
}
