//! Reading a DICOM Part 10 file (through dicom-object) into what `codec` needs: the
//! transfer syntax, the Image Pixel description, the palette LUTs for the display
//! path, and each frame's bytes. Encapsulated frames are found from the Extended
//! Offset Table, the Basic Offset Table, or the codestreams' own start markers, in
//! that order, because real archives get each of them wrong at times.

use crate::codec::{
    self, frame_length_in_bytes, Codec, DecodeLimits, DecodedFrame, PixelDescription,
    TransferSyntax,
};
use crate::error::DecodeError;
use dicom_core::header::HasLength;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTable, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use std::borrow::Cow;
use structure::{walk, Encoding};

mod structure;
pub use structure::MAX_SEQUENCE_NESTING;

const EXTENDED_OFFSET_TABLE: Tag = Tag(0x7FE0, 0x0001);
const EXTENDED_OFFSET_TABLE_LENGTHS: Tag = Tag(0x7FE0, 0x0002);

/// One of the three palette colour LUTs (PS3.3 C.7.6.3.1.5), kept for the display path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaletteLut {
    /// Number of entries (a descriptor value of 0 means 65536).
    pub entries: u32,
    /// The first stored value mapped.
    pub first_mapped: i32,
    /// 8 or 16.
    pub bits_per_entry: u16,
    /// One value per entry.
    pub data: Vec<u16>,
}

/// Red, green and blue palette LUTs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Palette {
    pub red: PaletteLut,
    pub green: PaletteLut,
    pub blue: PaletteLut,
}

enum PixelStore {
    /// Native Pixel Data, already in little-endian order.
    Native {
        bytes: Vec<u8>,
    },
    Encapsulated {
        frames: Vec<Vec<u8>>,
    },
}

/// A parsed Part 10 file with pixel data.
pub struct DicomFile {
    pub transfer_syntax: TransferSyntax,
    pub description: PixelDescription,
    pub palette: Option<Palette>,
    /// What the data set says about displaying its pixels (windows, LUTs, rescale,
    /// presentation, spacing); see [`crate::pixel`].
    pub display: crate::pixel::DisplayAttributes,
    store: PixelStore,
}

/// The transfer syntax UID the file meta group declares (none without one) and the data
/// set after it; the 128-byte preamble may be present or not.
fn split_meta(bytes: &[u8]) -> Result<(Option<String>, &[u8]), DecodeError> {
    let body = bytes_with_magic(bytes);
    if !body.starts_with(b"DICM") {
        return Ok((None, body));
    }
    walk(&body[4..], Encoding::ExplicitLe, Some(2)).map_err(DecodeError::Parse)?;
    let mut cursor = std::io::Cursor::new(body);
    let meta =
        FileMetaTable::from_reader(&mut cursor).map_err(|e| DecodeError::Parse(e.to_string()))?;
    let uid = meta
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    Ok((Some(uid), &body[cursor.position() as usize..]))
}

/// The encoding of a data set's element headers under transfer syntax `ts` (the
/// encapsulated syntaxes and Deflated are explicit VR little endian).
fn encoding_of(ts: TransferSyntax) -> Encoding {
    match ts {
        TransferSyntax::ImplicitVrLittleEndian => Encoding::ImplicitLe,
        TransferSyntax::ExplicitVrBigEndian => Encoding::ExplicitBe,
        _ => Encoding::ExplicitLe,
    }
}

/// The largest Deflated data set inflated for the structure walk.
const MAX_INFLATED_DATA_SET: usize = 256 << 20;

/// Whether the file's structure holds under the transfer syntax its meta group declares
/// (what dicom-object will read it as): `Err` names what does not. A file without a
/// meta group passes (dicom-object refuses it before reading any element).
fn declared_structure(bytes: &[u8]) -> Result<(), String> {
    let Some(body) = after_magic(bytes) else {
        return Ok(());
    };
    let meta = walk(body, Encoding::ExplicitLe, Some(2))?;
    let uid = FileMetaTable::from_reader(std::io::Cursor::new(bytes_with_magic(bytes)))
        .map_err(|e| e.to_string())?
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    let ts = TransferSyntax::from_uid(&uid).map_err(|e| e.to_string())?;
    let dataset = &body[meta..];
    if ts == TransferSyntax::DeflatedExplicitVrLittleEndian {
        let inflated =
            miniz_oxide::inflate::decompress_to_vec_with_limit(dataset, MAX_INFLATED_DATA_SET)
                .map_err(|e| {
                    format!(
                        "the Deflated data set does not inflate within {MAX_INFLATED_DATA_SET} bytes ({:?})",
                        e.status
                    )
                })?;
        walk(&inflated, Encoding::ExplicitLe, None)?;
    } else {
        walk(dataset, encoding_of(ts), None)?;
    }
    Ok(())
}

/// The bytes after "DICM" (with or without the 128-byte preamble), if there is one.
fn after_magic(bytes: &[u8]) -> Option<&[u8]> {
    let body = bytes_with_magic(bytes);
    body.strip_prefix(b"DICM")
}

/// `bytes` from "DICM" on where the preamble is there, else `bytes`.
fn bytes_with_magic(bytes: &[u8]) -> &[u8] {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else {
        bytes
    }
}

impl DicomFile {
    /// Parses a Part 10 file from memory (the 128-byte preamble may be present or not).
    /// Files that real archives hold but that a strict parser refuses are read too: a
    /// data set encoded differently from what its meta group declares (e.g. implicit
    /// VR under an explicit transfer syntax), and a bare data set with no meta group
    /// (native pixel data, encoding detected from the first element).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        // dicom-object reads with the declared transfer syntax, reserving each declared
        // length and recursing into sequences: a file whose structure does not hold under
        // that syntax (lengths past the end, nesting too deep; or mislabelled) goes
        // straight to the tolerant reading, which walks it again as really encoded.
        if let Err(problem) = declared_structure(bytes) {
            return Self::from_bytes_tolerant(bytes).map_err(|tolerant| match tolerant {
                DecodeError::Parse(_) => DecodeError::Parse(problem),
                other => other,
            });
        }
        match OpenFileOptions::new().from_reader(std::io::Cursor::new(bytes)) {
            Ok(obj) => {
                let ts = TransferSyntax::from_uid(obj.meta().transfer_syntax())?;
                Self::from_dataset(ts, &obj)
            }
            Err(strict) => Self::from_bytes_tolerant(bytes).map_err(|tolerant| match tolerant {
                DecodeError::Parse(_) => DecodeError::Parse(strict.to_string()),
                other => other,
            }),
        }
    }

    fn from_bytes_tolerant(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (declared, dataset) = split_meta(bytes)?;
        let declared = declared
            .map(|uid| TransferSyntax::from_uid(&uid))
            .transpose()?;
        let sniffed = sniff_native_encoding(dataset).ok_or_else(|| {
            DecodeError::Parse("data set starts with no recognisable element".into())
        })?;
        walk(dataset, encoding_of(sniffed), None).map_err(DecodeError::Parse)?;
        let declared = match declared {
            Some(ts) => ts,
            None => sniffed,
        };
        let parse_ts = TransferSyntaxRegistry
            .get(sniffed.uid())
            .ok_or_else(|| DecodeError::Parse(format!("no parser for {}", sniffed.uid())))?;
        let obj = InMemDicomObject::read_dataset_with_ts(dataset, parse_ts)
            .map_err(|e| DecodeError::Parse(e.to_string()))?;
        Self::from_dataset(declared, &obj)
    }

    /// Reads a file from disk (native builds only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &std::path::Path) -> Result<Self, DecodeError> {
        let bytes = std::fs::read(path)
            .map_err(|e| DecodeError::Parse(format!("{}: {e}", path.display())))?;
        Self::from_bytes(&bytes)
    }

    fn from_dataset(
        transfer_syntax: TransferSyntax,
        obj: &InMemDicomObject,
    ) -> Result<Self, DecodeError> {
        let description = pixel_description(obj)?;
        description.validate()?;
        let palette = if description.photometric() == "PALETTE COLOR" {
            read_palette(obj)?
        } else {
            None
        };
        let pixel = obj
            .element(tags::PIXEL_DATA)
            .map_err(|_| DecodeError::NoPixelData)?;
        let store = match pixel.value() {
            Value::Primitive(p) => {
                if transfer_syntax.is_encapsulated() {
                    return Err(DecodeError::Encapsulation(format!(
                        "transfer syntax {} needs encapsulated Pixel Data, the file has a native value",
                        transfer_syntax.uid()
                    )));
                }
                let big_endian = transfer_syntax == TransferSyntax::ExplicitVrBigEndian;
                PixelStore::Native {
                    bytes: native_little_endian(p, big_endian, description.bits_allocated),
                }
            }
            Value::PixelSequence(seq) => {
                if !transfer_syntax.is_encapsulated() {
                    return Err(DecodeError::Encapsulation(format!(
                        "transfer syntax {} is native, the file has encapsulated Pixel Data",
                        transfer_syntax.uid()
                    )));
                }
                let extended = read_extended_offset_table(obj)?;
                let frames = assemble_frames(
                    transfer_syntax,
                    seq.fragments(),
                    seq.offset_table(),
                    extended.as_ref(),
                    description.number_of_frames,
                )?;
                PixelStore::Encapsulated { frames }
            }
            Value::Sequence(_) => {
                return Err(DecodeError::Parse(
                    "Pixel Data is a sequence of items".into(),
                ))
            }
        };
        Ok(DicomFile {
            transfer_syntax,
            description,
            palette,
            display: crate::pixel::DisplayAttributes::from_part10(obj),
            store,
        })
    }

    pub fn number_of_frames(&self) -> u32 {
        self.description.number_of_frames
    }

    fn check_frame_index(&self, index: u32) -> Result<(), DecodeError> {
        let frames = self.number_of_frames();
        if index >= frames {
            return Err(DecodeError::FrameOutOfRange {
                frame: index + 1,
                frames,
            });
        }
        Ok(())
    }

    /// The stored bytes of frame `index` (0-based): the codestream of an encapsulated
    /// frame, or the native frame's bytes.
    pub fn frame_bytes(&self, index: u32) -> Result<Cow<'_, [u8]>, DecodeError> {
        self.check_frame_index(index)?;
        match &self.store {
            PixelStore::Encapsulated { frames } => Ok(Cow::Borrowed(&frames[index as usize])),
            PixelStore::Native { bytes, .. } => {
                let len = frame_length_in_bytes(&self.description);
                let start = len * index as u64;
                let end = (start + len).min(bytes.len() as u64);
                Ok(Cow::Borrowed(
                    &bytes[(start.min(end)) as usize..end as usize],
                ))
            }
        }
    }

    /// Decodes frame `index` (0-based) to canonical bytes.
    pub fn decode_frame(
        &self,
        index: u32,
        limits: &DecodeLimits,
    ) -> Result<DecodedFrame, DecodeError> {
        self.check_frame_index(index)?;
        match &self.store {
            PixelStore::Native { bytes } => codec::decode_with_byte_order(
                self.transfer_syntax,
                bytes,
                index,
                &self.description,
                limits,
                false,
            ),
            PixelStore::Encapsulated { frames } => codec::decode_frame(
                self.transfer_syntax,
                &frames[index as usize],
                &self.description,
                limits,
            ),
        }
    }
}

/// Native Pixel Data as little-endian bytes. dicom-object keeps an OW value as u16
/// words in memory order (already little-endian for us), OL as u32; only an OB value
/// from a Big Endian file, and 32-bit samples read as OW words, need reordering.
fn native_little_endian(value: &PrimitiveValue, big_endian: bool, bits_allocated: u16) -> Vec<u8> {
    let mut bytes = value.to_bytes().into_owned();
    if !big_endian {
        return bytes;
    }
    match (value, bits_allocated) {
        (PrimitiveValue::U8(_), 16) => bytes.chunks_exact_mut(2).for_each(|c| c.swap(0, 1)),
        (PrimitiveValue::U8(_), 32) => bytes.chunks_exact_mut(4).for_each(|c| c.reverse()),
        (PrimitiveValue::U16(_) | PrimitiveValue::I16(_), 32) => {
            // Words [hi, lo] of each big-endian 32-bit sample.
            bytes.chunks_exact_mut(4).for_each(|c| {
                let (hi, lo) = ([c[0], c[1]], [c[2], c[3]]);
                c[..2].copy_from_slice(&lo);
                c[2..].copy_from_slice(&hi);
            })
        }
        _ => {}
    }
    bytes
}

/// Which native encoding a bare data set uses, from its first element: group number
/// byte order, and whether a two-letter VR follows the tag.
fn sniff_native_encoding(data: &[u8]) -> Option<TransferSyntax> {
    if data.len() < 8 {
        return None;
    }
    let le_group = u16::from_le_bytes([data[0], data[1]]);
    let be_group = u16::from_be_bytes([data[0], data[1]]);
    let explicit = data[4].is_ascii_uppercase() && data[5].is_ascii_uppercase();
    let plausible = |g: u16| (0x0002..=0x0100).contains(&g);
    match (plausible(le_group), plausible(be_group), explicit) {
        (true, _, true) => Some(TransferSyntax::ExplicitVrLittleEndian),
        (true, _, false) => Some(TransferSyntax::ImplicitVrLittleEndian),
        (false, true, true) => Some(TransferSyntax::ExplicitVrBigEndian),
        _ => None,
    }
}

fn int_attr(
    obj: &InMemDicomObject,
    tag: Tag,
    keyword: &'static str,
    text: &'static str,
) -> Result<Option<i64>, DecodeError> {
    match obj.element_opt(tag) {
        Ok(Some(e)) if !e.value().primitive().map(|p| p.is_empty()).unwrap_or(true) => {
            e.to_int::<i64>().map(Some).map_err(|err| {
                DecodeError::InvalidPixelDescription(format!("{keyword} {text}: {err}"))
            })
        }
        _ => Ok(None),
    }
}

fn required(
    obj: &InMemDicomObject,
    tag: Tag,
    keyword: &'static str,
    text: &'static str,
    max: i64,
) -> Result<u32, DecodeError> {
    let v = int_attr(obj, tag, keyword, text)?
        .ok_or(DecodeError::MissingAttribute { keyword, tag: text })?;
    if v < 0 || v > max {
        return Err(DecodeError::InvalidPixelDescription(format!(
            "{keyword} {text} is {v}"
        )));
    }
    Ok(v as u32)
}

/// The Image Pixel description from a data set.
pub fn pixel_description(obj: &InMemDicomObject) -> Result<PixelDescription, DecodeError> {
    let rows = required(obj, tags::ROWS, "Rows", "(0028,0010)", 65535)?;
    let columns = required(obj, tags::COLUMNS, "Columns", "(0028,0011)", 65535)?;
    let samples_per_pixel = required(
        obj,
        tags::SAMPLES_PER_PIXEL,
        "SamplesPerPixel",
        "(0028,0002)",
        4,
    )? as u16;
    let bits_allocated = required(
        obj,
        tags::BITS_ALLOCATED,
        "BitsAllocated",
        "(0028,0100)",
        64,
    )? as u16;
    let bits_stored = match int_attr(obj, tags::BITS_STORED, "BitsStored", "(0028,0101)")? {
        Some(v) if (1..=64).contains(&v) => v as u16,
        _ => bits_allocated,
    };
    let high_bit =
        int_attr(obj, tags::HIGH_BIT, "HighBit", "(0028,0102)")?.map(|v| v.clamp(0, 63) as u16);
    let pixel_representation = int_attr(
        obj,
        tags::PIXEL_REPRESENTATION,
        "PixelRepresentation",
        "(0028,0103)",
    )?
    .unwrap_or(0);
    let photometric_interpretation = obj
        .element(tags::PHOTOMETRIC_INTERPRETATION)
        .ok()
        .and_then(|e| {
            e.to_str()
                .ok()
                .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
        })
        .ok_or(DecodeError::MissingAttribute {
            keyword: "PhotometricInterpretation",
            tag: "(0028,0004)",
        })?;
    let planar_configuration = int_attr(
        obj,
        tags::PLANAR_CONFIGURATION,
        "PlanarConfiguration",
        "(0028,0006)",
    )?
    .unwrap_or(0);
    let number_of_frames =
        match int_attr(obj, tags::NUMBER_OF_FRAMES, "NumberOfFrames", "(0028,0008)")? {
            None => 1,
            Some(v) if v >= 1 && v <= u32::MAX as i64 => v as u32,
            Some(v) => {
                return Err(DecodeError::InvalidPixelDescription(format!(
                    "NumberOfFrames (0028,0008) is {v}"
                )))
            }
        };
    Ok(PixelDescription {
        rows,
        columns,
        samples_per_pixel,
        bits_allocated,
        bits_stored,
        high_bit,
        pixel_representation: pixel_representation.clamp(0, 2) as u16,
        photometric_interpretation,
        planar_configuration: planar_configuration.clamp(0, 2) as u16,
        number_of_frames,
    })
}

fn read_palette(obj: &InMemDicomObject) -> Result<Option<Palette>, DecodeError> {
    let one =
        |desc_tag: Tag, data_tag: Tag, name: &str| -> Result<Option<PaletteLut>, DecodeError> {
            let Ok(desc) = obj.element(desc_tag) else {
                return Ok(None);
            };
            let d: Vec<i64> = desc.to_multi_int::<i64>().map_err(|e| {
                DecodeError::InvalidPixelDescription(format!(
                    "{name} Palette Color LUT Descriptor: {e}"
                ))
            })?;
            if d.len() != 3 {
                return Err(DecodeError::InvalidPixelDescription(format!(
                    "{name} Palette Color LUT Descriptor has {} values, expected 3",
                    d.len()
                )));
            }
            let entries = if d[0] == 0 {
                65536
            } else {
                (d[0] as u32) & 0xFFFF
            };
            let bits = d[2] as u16;
            if bits != 8 && bits != 16 {
                return Err(DecodeError::InvalidPixelDescription(format!(
                    "{name} Palette Color LUT Descriptor gives {bits} bits per entry"
                )));
            }
            let Ok(data) = obj.element(data_tag) else {
                return Ok(None);
            };
            let raw = data.to_bytes().map_err(|e| {
                DecodeError::InvalidPixelDescription(format!("{name} Palette Color LUT Data: {e}"))
            })?;
            // 8-bit entries are sometimes packed one per byte, sometimes one per 16-bit word.
            let values: Vec<u16> = if bits == 8 && raw.len() == entries as usize {
                raw.iter().map(|&b| b as u16).collect()
            } else {
                raw.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect()
            };
            if values.len() < entries as usize {
                return Err(DecodeError::InvalidPixelDescription(format!(
                    "{name} Palette Color LUT Data has {} entries, the descriptor says {entries}",
                    values.len()
                )));
            }
            let first_mapped = d[1] as i32;
            Ok(Some(PaletteLut {
                entries,
                first_mapped,
                bits_per_entry: bits,
                data: values[..entries as usize].to_vec(),
            }))
        };
    let red = one(
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        "Red",
    )?;
    let green = one(
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        "Green",
    )?;
    let blue = one(
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        "Blue",
    )?;
    Ok(match (red, green, blue) {
        (Some(red), Some(green), Some(blue)) => Some(Palette { red, green, blue }),
        _ => None,
    })
}

fn read_extended_offset_table(
    obj: &InMemDicomObject,
) -> Result<Option<(Vec<u64>, Vec<u64>)>, DecodeError> {
    let (Ok(Some(offsets)), Ok(Some(lengths))) = (
        obj.element_opt(EXTENDED_OFFSET_TABLE),
        obj.element_opt(EXTENDED_OFFSET_TABLE_LENGTHS),
    ) else {
        return Ok(None);
    };
    let words =
        |e: &dicom_object::mem::InMemElement, name: &str| -> Result<Vec<u64>, DecodeError> {
            let b = e
                .to_bytes()
                .map_err(|err| DecodeError::Encapsulation(format!("{name}: {err}")))?;
            if b.len() % 8 != 0 {
                return Err(DecodeError::Encapsulation(format!(
                    "{name} length {} is not a multiple of 8",
                    b.len()
                )));
            }
            Ok(b.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect())
        };
    let o = words(offsets, "Extended Offset Table (7FE0,0001)")?;
    let l = words(lengths, "Extended Offset Table Lengths (7FE0,0002)")?;
    if o.len() != l.len() {
        return Err(DecodeError::Encapsulation(format!(
            "Extended Offset Table has {} entries but its Lengths has {}",
            o.len(),
            l.len()
        )));
    }
    Ok(Some((o, l)))
}

/// True when a fragment starts a new codestream of this transfer syntax.
fn starts_codestream(ts: TransferSyntax, fragment: &[u8]) -> Option<bool> {
    Some(match ts.codec() {
        Codec::Jpeg | Codec::JpegLs => fragment.starts_with(&[0xFF, 0xD8]),
        Codec::Jpeg2000 => {
            fragment.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
                || fragment.starts_with(&[0, 0, 0, 0x0C, b'j', b'P'])
        }
        Codec::JpegXl => {
            fragment.starts_with(&[0xFF, 0x0A])
                || fragment.starts_with(&[0, 0, 0, 0x0C, b'J', b'X', b'L'])
        }
        Codec::Rle | Codec::Deflate | Codec::Native { .. } => return None,
    })
}

/// Groups fragments into frames. Offsets in both tables count from the first byte of
/// the first fragment's Item tag, so each fragment advances them by 8 + its length.
pub(crate) fn assemble_frames(
    ts: TransferSyntax,
    fragments: &[Vec<u8>],
    basic: &[u32],
    extended: Option<&(Vec<u64>, Vec<u64>)>,
    frames: u32,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    let n = frames as usize;
    if fragments.is_empty() {
        return Err(DecodeError::Encapsulation(
            "Pixel Data has no fragments".into(),
        ));
    }
    let mut positions = Vec::with_capacity(fragments.len() + 1);
    let mut pos = 0u64;
    for f in fragments {
        positions.push(pos);
        pos += 8 + f.len() as u64;
    }
    let index_of = |offset: u64| positions.binary_search(&offset).ok();
    let join = |range: std::ops::Range<usize>| -> Vec<u8> {
        let mut v = Vec::with_capacity(fragments[range.clone()].iter().map(Vec::len).sum());
        fragments[range].iter().for_each(|f| v.extend_from_slice(f));
        v
    };
    let by_starts = |starts: &[usize]| -> Vec<Vec<u8>> {
        (0..starts.len())
            .map(|i| join(starts[i]..starts.get(i + 1).copied().unwrap_or(fragments.len())))
            .collect()
    };

    if let Some((offsets, lengths)) = extended {
        if offsets.len() == n {
            if let Some(starts) = offsets
                .iter()
                .map(|&o| index_of(o))
                .collect::<Option<Vec<_>>>()
            {
                if starts.windows(2).all(|w| w[0] < w[1]) {
                    let mut out = by_starts(&starts);
                    for (frame, &len) in out.iter_mut().zip(lengths) {
                        if (len as usize) <= frame.len() {
                            frame.truncate(len as usize);
                        }
                    }
                    return Ok(out);
                }
            }
        }
    }
    if basic.len() == n && n > 0 {
        if let Some(starts) = basic
            .iter()
            .map(|&o| index_of(o as u64))
            .collect::<Option<Vec<_>>>()
        {
            if starts[0] == 0 && starts.windows(2).all(|w| w[0] < w[1]) {
                return Ok(by_starts(&starts));
            }
        }
    }
    if n == 1 {
        return Ok(vec![join(0..fragments.len())]);
    }
    if fragments.len() == n {
        return Ok(fragments.to_vec());
    }
    if fragments.len() < n {
        return Err(DecodeError::Encapsulation(format!(
            "{} fragment(s) for {n} frames",
            fragments.len()
        )));
    }
    if let Some(true) = starts_codestream(ts, &fragments[0]) {
        let starts: Vec<usize> = (0..fragments.len())
            .filter(|&i| starts_codestream(ts, &fragments[i]) == Some(true))
            .collect();
        if starts.len() == n {
            return Ok(by_starts(&starts));
        }
        return Err(DecodeError::Encapsulation(format!(
            "{} fragments hold {} codestream start(s) for {n} frames, and no usable offset table",
            fragments.len(),
            starts.len()
        )));
    }
    Err(DecodeError::Encapsulation(format!(
        "{} fragments for {n} frames with no usable offset table",
        fragments.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(tag: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.resize(len, tag);
        v
    }

    #[test]
    fn frames_from_basic_offset_table_span_fragments() {
        let f = vec![jpeg(1, 10), vec![1; 6], jpeg(2, 4)];
        let out = assemble_frames(
            TransferSyntax::JpegBaseline,
            &f,
            &[0, 8 + 10 + 8 + 6],
            None,
            2,
        )
        .unwrap();
        assert_eq!(out[0].len(), 16);
        assert_eq!(out[1], f[2]);
    }

    #[test]
    fn frames_without_offset_table_split_on_start_markers() {
        let f = vec![jpeg(1, 10), vec![1; 6], jpeg(2, 4), vec![3; 2]];
        let out = assemble_frames(TransferSyntax::JpegBaseline, &f, &[], None, 2).unwrap();
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [16, 6]);
    }

    #[test]
    fn extended_offset_table_wins_and_trims_padding() {
        let f = vec![jpeg(1, 10), jpeg(2, 6)];
        let eot = (vec![0, 18], vec![9, 5]);
        let out = assemble_frames(TransferSyntax::JpegBaseline, &f, &[], Some(&eot), 2).unwrap();
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [9, 5]);
    }

    #[test]
    fn too_few_fragments_is_an_error() {
        let err =
            assemble_frames(TransferSyntax::RleLossless, &[vec![0; 64]], &[], None, 3).unwrap_err();
        assert!(
            err.to_string().contains("1 fragment(s) for 3 frames"),
            "{err}"
        );
    }
}
