//! The structure of a data set, walked before dicom-object reads it: every element's
//! length must fit in the bytes that remain, and sequences may nest only so deep.
//! dicom-object reserves each value's declared length before reading it (a 100-byte
//! file declaring a 4 GB element took 4.2 GB and 13 s natively; in wasm the memory
//! never shrinks again) and reads nested sequences recursively (a file nested 100,000
//! levels deep overflowed the stack: an abort natively, a trap in wasm). This walk
//! reads element headers only, without recursion and without allocating per element.
//! What it cannot interpret (a truncated header, an unknown delimiter) is left for the
//! parser to report.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// How deeply sequences may nest. Real data sets nest a few levels; SR content trees a
/// few dozen.
pub const MAX_SEQUENCE_NESTING: usize = 64;

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// How element headers are encoded (PS3.5 7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    ExplicitLe,
    ImplicitLe,
    ExplicitBe,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sequence,
    Item,
    /// Encapsulated Pixel Data: its items are fragments, opaque bytes.
    Fragments,
}

struct Open {
    kind: Kind,
    /// Where a defined-length sequence or item ends.
    end: Option<usize>,
    /// The encoding inside (an undefined-length UN holds implicit VR little endian).
    encoding: Encoding,
}

/// Walks `data` from its start, encoded as `encoding`. With `only_group`, stops at the
/// first top-level element of another group (the file meta group is walked this way)
/// and returns where; otherwise returns how far it walked. `Err` names the element
/// whose length does not fit, or the sequence that nests too deep.
pub(crate) fn walk(
    data: &[u8],
    encoding: Encoding,
    only_group: Option<u16>,
) -> Result<usize, String> {
    let be = |enc: Encoding| enc == Encoding::ExplicitBe;
    let u16_at = |enc: Encoding, at: usize| {
        let b = [data[at], data[at + 1]];
        if be(enc) {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_at = |enc: Encoding, at: usize| {
        let b = [data[at], data[at + 1], data[at + 2], data[at + 3]];
        if be(enc) {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let fits = |tag: Tag, at: usize, len: u32| {
        let remaining = data.len() - at;
        if len as usize <= remaining {
            Ok(())
        } else {
            Err(format!(
                "element {tag} at byte {at} declares {len} bytes, only {remaining} remain"
            ))
        }
    };
    let mut stack: Vec<Open> = Vec::new();
    let mut sequences = 0usize;
    let mut pos = 0usize;
    loop {
        while let Some(open) = stack.last() {
            match open.end {
                Some(end) if pos >= end => {
                    if open.kind != Kind::Item {
                        sequences -= 1;
                    }
                    stack.pop();
                }
                _ => break,
            }
        }
        let enc = stack.last().map_or(encoding, |o| o.encoding);
        if pos + 8 > data.len() {
            return Ok(pos);
        }
        let tag = Tag(u16_at(enc, pos), u16_at(enc, pos + 2));
        if stack.is_empty() && only_group.is_some_and(|g| g != tag.0) {
            return Ok(pos);
        }
        if tag.0 == 0xFFFE {
            // Items and delimiters: a 4-byte length, no VR, in every encoding.
            let len = u32_at(enc, pos + 4);
            let top = stack.last().map(|o| o.kind);
            match tag.1 {
                0xE000 if top == Some(Kind::Fragments) => {
                    fits(tag, pos + 8, len)?;
                    pos += 8 + len as usize;
                }
                0xE000 => {
                    let end = if len == UNDEFINED {
                        None
                    } else {
                        fits(tag, pos + 8, len)?;
                        Some(pos + 8 + len as usize)
                    };
                    stack.push(Open {
                        kind: Kind::Item,
                        end,
                        encoding: enc,
                    });
                    pos += 8;
                }
                0xE00D => {
                    if top == Some(Kind::Item) {
                        stack.pop();
                    }
                    pos += 8;
                }
                0xE0DD => {
                    if top == Some(Kind::Item) {
                        stack.pop();
                    }
                    if stack.last().is_some_and(|o| o.kind != Kind::Item) {
                        stack.pop();
                        sequences -= 1;
                    }
                    pos += 8;
                }
                _ => return Ok(pos),
            }
            continue;
        }
        let (vr, len, header) = match enc {
            Encoding::ImplicitLe => (implicit_vr(tag), u32_at(enc, pos + 4), 8),
            Encoding::ExplicitLe | Encoding::ExplicitBe => {
                let vr = VR::from_binary([data[pos + 4], data[pos + 5]]).unwrap_or(VR::UN);
                if short_length(vr) {
                    (vr, u32::from(u16_at(enc, pos + 6)), 8)
                } else if pos + 12 > data.len() {
                    return Ok(pos);
                } else {
                    (vr, u32_at(enc, pos + 8), 12)
                }
            }
        };
        if len == UNDEFINED || vr == VR::SQ {
            let (kind, end) = if len == UNDEFINED {
                let kind = if tag == Tag(0x7FE0, 0x0010) {
                    Kind::Fragments
                } else {
                    Kind::Sequence
                };
                (kind, None)
            } else {
                fits(tag, pos + header, len)?;
                (Kind::Sequence, Some(pos + header + len as usize))
            };
            sequences += 1;
            if sequences > MAX_SEQUENCE_NESTING {
                return Err(format!(
                    "sequences nest more than {MAX_SEQUENCE_NESTING} levels deep (at {tag}, byte {pos})"
                ));
            }
            // PS3.5 6.2.2: an undefined-length UN holds implicit VR little endian.
            let encoding = if vr == VR::UN && len == UNDEFINED {
                Encoding::ImplicitLe
            } else {
                enc
            };
            stack.push(Open {
                kind,
                end,
                encoding,
            });
            pos += header;
        } else {
            fits(tag, pos + header, len)?;
            pos += header + len as usize;
        }
    }
}

/// The VRs whose explicit length field is 16 bits (PS3.5 7.1.2); dicom-parser reads an
/// unknown VR as UN, with a 32-bit length.
fn short_length(vr: VR) -> bool {
    use VR::*;
    matches!(
        vr,
        AE | AS
            | AT
            | CS
            | DA
            | DS
            | DT
            | FL
            | FD
            | IS
            | LO
            | LT
            | PN
            | SH
            | SL
            | SS
            | ST
            | TM
            | UI
            | UL
            | US
    )
}

/// The VR the standard dictionary gives `tag` (implicit VR): only SQ matters here.
fn implicit_vr(tag: Tag) -> VR {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(VR::SQ)) => VR::SQ,
        _ => VR::UN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        out.extend_from_slice(vr);
        if short_length(VR::from_binary(*vr).unwrap_or(VR::UN)) {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn a_length_past_the_end_is_named() {
        let mut data = explicit((0x0010, 0x0010), b"PN", b"DOE^JOHN");
        data.extend_from_slice(&[0x29, 0, 0x10, 0x10, b'U', b'N', 0, 0]);
        data.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        data.extend_from_slice(b"abcd");
        let err = walk(&data, Encoding::ExplicitLe, None).unwrap_err();
        assert_eq!(
            err,
            "element (0029,1010) at byte 28 declares 4294967280 bytes, only 4 remain"
        );
    }

    #[test]
    fn fragments_and_defined_length_items_are_checked() {
        // Encapsulated pixel data: an empty offset table, then a fragment that lies.
        let mut data = vec![
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0x00, 0x10, 0, 0, 1, 2]);
        let err = walk(&data, Encoding::ExplicitLe, None).unwrap_err();
        assert!(
            err.starts_with("element (FFFE,E000) at byte 28 declares 4096 bytes"),
            "{err}"
        );
    }

    #[test]
    fn the_meta_group_ends_at_the_first_other_group() {
        let mut data = explicit((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2\0");
        let meta = data.len();
        data.extend(explicit((0x0008, 0x0060), b"CS", b"CT"));
        assert_eq!(walk(&data, Encoding::ExplicitLe, Some(2)), Ok(meta));
        assert_eq!(walk(&data, Encoding::ExplicitLe, None), Ok(data.len()));
    }

    #[test]
    fn implicit_sequences_are_known_from_the_dictionary() {
        // (0040,A730) Content Sequence, defined length 16: one empty item of undefined
        // length and its delimiter; then a second nesting level is counted the same way.
        let mut seq = Vec::new();
        seq.extend_from_slice(&[0x40, 0x00, 0x30, 0xA7, 16, 0, 0, 0]);
        seq.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        seq.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        assert_eq!(walk(&seq, Encoding::ImplicitLe, None), Ok(seq.len()));
        // The same sequence declaring more than the bytes it has.
        seq[4] = 200;
        let err = walk(&seq, Encoding::ImplicitLe, None).unwrap_err();
        assert!(
            err.starts_with("element (0040,A730) at byte 8 declares 200 bytes"),
            "{err}"
        );
    }
}
