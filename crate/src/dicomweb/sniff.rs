//! What a frame's bytes really are. Servers mislabel payloads (Orthanc returns raw
//! HTJ2K codestreams labelled as Explicit VR Little Endian), so the magic bytes decide
//! and the label only breaks ties.

use crate::codec::TransferSyntax;

/// The transfer syntax a WADO-RS part is labelled with: its `transfer-syntax`
/// parameter, else its media type.
pub fn label_transfer_syntax(
    content_type: Option<&str>,
    transfer_syntax_param: Option<&str>,
) -> Option<TransferSyntax> {
    if let Some(ts) = transfer_syntax_param.and_then(|uid| TransferSyntax::from_uid(uid).ok()) {
        return Some(ts);
    }
    let media = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    Some(match media.as_str() {
        "image/jpeg" => TransferSyntax::JpegBaseline,
        "image/jls" | "image/x-jls" => TransferSyntax::JpegLsLossless,
        "image/jp2" | "image/jpx" | "image/j2c" => TransferSyntax::Jpeg2000,
        "image/jphc" => TransferSyntax::Htj2k,
        "image/jxl" => TransferSyntax::JpegXl,
        "image/dicom-rle" | "image/x-dicom-rle" => TransferSyntax::RleLossless,
        "application/octet-stream" => TransferSyntax::ExplicitVrLittleEndian,
        _ => return None,
    })
}

/// The transfer syntax of a frame judged from its first bytes, refined by the label
/// where the bytes cannot tell (e.g. lossless vs lossy J2K, which decode alike).
pub fn sniff_transfer_syntax(bytes: &[u8], label: Option<TransferSyntax>) -> TransferSyntax {
    use TransferSyntax::*;
    let labelled = |family: &[TransferSyntax], default: TransferSyntax| match label {
        Some(l) if family.contains(&l) => l,
        _ => default,
    };
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return match first_sof(bytes) {
            Some(0xF7) => labelled(&[JpegLsLossless, JpegLsNearLossless], JpegLsLossless),
            Some(0xC3) => labelled(&[JpegLossless, JpegLosslessSv1], JpegLossless),
            Some(0xC1) | Some(0xC2) => JpegExtended,
            Some(0xC0) => labelled(&[JpegBaseline, JpegExtended], JpegBaseline),
            _ => labelled(
                &[
                    JpegBaseline,
                    JpegExtended,
                    JpegLossless,
                    JpegLosslessSv1,
                    JpegLsLossless,
                    JpegLsNearLossless,
                ],
                JpegBaseline,
            ),
        };
    }
    let j2k = [
        Jpeg2000Lossless,
        Jpeg2000,
        Htj2kLossless,
        Htj2kLosslessRpcl,
        Htj2k,
    ];
    if bytes.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        let ht = bytes.windows(2).take(4096).any(|w| w == [0xFF, 0x50]); // CAP marker: part-15 HT
        return labelled(&j2k, if ht { Htj2k } else { Jpeg2000 });
    }
    if bytes.starts_with(&[0, 0, 0, 0x0C, b'j', b'P', b' ', b' ']) {
        return labelled(&j2k, Jpeg2000);
    }
    if bytes.starts_with(&[0xFF, 0x0A])
        || bytes.starts_with(&[0, 0, 0, 0x0C, b'J', b'X', b'L', b' '])
    {
        return labelled(&[JpegXlLossless, JpegXlJpegRecompression, JpegXl], JpegXl);
    }
    if label == Some(RleLossless) && looks_like_rle(bytes) {
        return RleLossless;
    }
    // Raw Deflate has no signature: a Deflated Image Frame label is all there is.
    if label == Some(DeflatedImageFrameCompression) {
        return DeflatedImageFrameCompression;
    }
    match label {
        // A compressed label on bytes with no codestream signature: RLE has none, trust
        // the label only when the header is plausible; otherwise the bytes are native.
        Some(ts) if !ts.is_encapsulated() => ts,
        _ if looks_like_rle(bytes) => RleLossless,
        _ => ExplicitVrLittleEndian,
    }
}

fn looks_like_rle(bytes: &[u8]) -> bool {
    if bytes.len() < 64 {
        return false;
    }
    let segments = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let first = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    (1..=15).contains(&segments)
        && first == 64
        // Offsets of segments 1..=n fill bytes 4..4+4n; the unused ones must be zero.
        && bytes[4 + 4 * segments as usize..64].iter().all(|&b| b == 0)
}

/// The first SOFn marker code of a JPEG stream.
fn first_sof(bytes: &[u8]) -> Option<u8> {
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let m = bytes[i + 1];
        if matches!(m, 0xC0..=0xCF | 0xF7) && m != 0xC4 && m != 0xC8 && m != 0xCC {
            return Some(m);
        }
        if m == 0xDA {
            return None;
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htj2k_labelled_as_explicit_le_is_recognised() {
        let mut cs = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41];
        cs.extend_from_slice(&[0; 41]);
        cs.extend_from_slice(&[0xFF, 0x50, 0, 8, 0, 2, 0, 0, 0, 0]);
        let label = label_transfer_syntax(
            Some("application/octet-stream"),
            Some("1.2.840.10008.1.2.1"),
        );
        assert_eq!(sniff_transfer_syntax(&cs, label), TransferSyntax::Htj2k);
    }

    #[test]
    fn native_bytes_labelled_jpeg_are_native() {
        let label = label_transfer_syntax(Some("image/jpeg"), None);
        assert_eq!(
            sniff_transfer_syntax(&[0u8; 128], label),
            TransferSyntax::ExplicitVrLittleEndian
        );
    }

    #[test]
    fn rle_headers_with_every_segment_count_are_judged_without_panicking() {
        for n in 0u32..=16 {
            let mut h = vec![0u8; 80];
            h[..4].copy_from_slice(&n.to_le_bytes());
            for i in 0..n.min(15) as usize {
                h[4 + 4 * i..8 + 4 * i].copy_from_slice(&(64 + 4 * i as u32).to_le_bytes());
            }
            assert_eq!(looks_like_rle(&h), (1..=15).contains(&n), "{n} segments");
        }
    }

    #[test]
    fn jpeg_ls_by_its_sof() {
        let jls = [0xFF, 0xD8, 0xFF, 0xF7, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0];
        assert_eq!(
            sniff_transfer_syntax(&jls, None),
            TransferSyntax::JpegLsLossless
        );
        let label = label_transfer_syntax(Some("image/jls"), Some("1.2.840.10008.1.2.4.81"));
        assert_eq!(
            sniff_transfer_syntax(&jls, label),
            TransferSyntax::JpegLsNearLossless
        );
    }
}
