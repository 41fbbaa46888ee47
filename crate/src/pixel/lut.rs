//! Lookup tables as PS3.3 C.11.1.1 (Modality LUT), C.11.2.1.1 (VOI LUT) and
//! C.7.6.3.1.5 (palette colour LUTs) define them: a descriptor (number of entries,
//! first input value mapped, bits per entry) and one output value per entry.

use serde::Serialize;

/// A Modality or VOI lookup table, validated and ready to apply.
///
/// Inputs below [`first_mapped`](Self::first_mapped) give the first entry, inputs
/// at or past the last mapped value give the last entry (PS3.3 C.11.1.1,
/// C.11.2.1.1); a non-integer input uses the entry of the integer below it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lut {
    /// The first input value mapped (LUT Descriptor value 2), its sign resolved.
    pub first_mapped: i64,
    /// Bits per entry, 8..=16: outputs run from 0 to 2^bits − 1.
    pub bits: u16,
    /// One output per entry; never empty, every entry masked to `bits`.
    pub data: Vec<u16>,
    /// LUT Explanation (0028,3003), if any.
    pub explanation: Option<String>,
}

/// LUT Data (or palette LUT Data) as a data set holds it.
#[derive(Debug, Clone, Copy)]
pub enum LutData<'a> {
    /// 16-bit words (US, SS or OW as read by a parser that knows the byte order).
    Words(&'a [u16]),
    /// Bytes (OB, or OW bytes as sent in DICOM JSON `InlineBinary`: little-endian).
    Bytes(&'a [u8]),
}

impl Lut {
    /// Builds a LUT from its descriptor values (as numbers: a descriptor read as US
    /// may hold a negative first-mapped value as 32768..65535) and its data.
    ///
    /// `signed_input`: the LUT's input values can be negative, so a first-mapped
    /// value read as unsigned above 32767 is the two's complement of a negative one
    /// (the descriptor's VR is US or SS by the sign of its input, PS3.3 C.11.1.1.1).
    ///
    /// Degrades rather than fails, as DCMTK does: a descriptor entry count that
    /// disagrees with the data takes the data's count; 8-bit entries packed two to
    /// a 16-bit word (low byte first) are unpacked; bits per entry outside 8..=16
    /// are replaced by the bits the largest entry needs. `None` only when the
    /// descriptor has fewer than three values or there is no data at all.
    pub fn from_descriptor(
        descriptor: &[f64],
        data: LutData<'_>,
        signed_input: bool,
        explanation: Option<String>,
    ) -> Option<Lut> {
        let [count, first, bits] = descriptor_values(descriptor)?;
        let first_mapped = resolve_first_mapped(first, signed_input);
        let entries = lut_entries(data, count)?;
        Lut::new(first_mapped, bits, entries, explanation)
    }

    /// A LUT from already unpacked entries. `bits` outside 8..=16 is replaced by the
    /// bits the largest entry needs (at least 8); entries are masked to `bits`.
    /// `None` when `data` is empty.
    pub fn new(
        first_mapped: i64,
        bits: i64,
        mut data: Vec<u16>,
        explanation: Option<String>,
    ) -> Option<Lut> {
        if data.is_empty() {
            return None;
        }
        let bits = if (8..=16).contains(&bits) {
            bits as u16
        } else {
            let max = data.iter().copied().max().unwrap_or(0);
            (16 - max.leading_zeros() as u16).max(8)
        };
        let mask = ((1u32 << bits) - 1) as u16;
        data.iter_mut().for_each(|v| *v &= mask);
        Some(Lut {
            first_mapped,
            bits,
            data,
            explanation,
        })
    }

    /// The last input value mapped.
    pub fn last_mapped(&self) -> i64 {
        self.first_mapped + self.data.len() as i64 - 1
    }

    /// The largest output the LUT's bit depth allows: 2^bits − 1.
    pub fn max_output(&self) -> f64 {
        ((1u32 << self.bits) - 1) as f64
    }

    /// The output for an integer input, clamped at both ends.
    pub fn lookup_int(&self, x: i64) -> u16 {
        let i = x
            .saturating_sub(self.first_mapped)
            .clamp(0, self.data.len() as i64 - 1);
        self.data[i as usize]
    }

    /// The output for any input: the entry of `floor(x)`, clamped at both ends
    /// (NaN gives the first entry).
    pub fn lookup(&self, x: f64) -> u16 {
        let f = x.floor();
        if f.is_nan() || f <= self.first_mapped as f64 {
            self.data[0]
        } else if f >= self.last_mapped() as f64 {
            self.data[self.data.len() - 1]
        } else {
            self.lookup_int(f as i64)
        }
    }
}

/// (entries, first mapped as read, bits) from a descriptor; `None` unless it has
/// three finite values.
fn descriptor_values(d: &[f64]) -> Option<[i64; 3]> {
    if d.len() < 3 || d[..3].iter().any(|v| !v.is_finite()) {
        return None;
    }
    // A count read as SS can come out negative: its bit pattern is the count.
    let count = (d[0] as i64) & 0xFFFF;
    let count = if count == 0 { 65536 } else { count };
    Some([count, d[1] as i64, d[2] as i64])
}

/// The sign of a first-mapped value read as US (0..65535) or SS (−32768..32767).
pub(crate) fn resolve_first_mapped(first: i64, signed_input: bool) -> i64 {
    if signed_input && (32768..=65535).contains(&first) {
        first - 65536
    } else {
        first
    }
}

/// Unpacks LUT Data into one value per entry. `count` is the descriptor's entry
/// count; what the data holds wins when they disagree, except that exactly half as
/// many words as entries means 8-bit entries packed two to a word.
pub(crate) fn lut_entries(data: LutData<'_>, count: i64) -> Option<Vec<u16>> {
    let count = count.max(1) as usize;
    let words: Vec<u16> = match data {
        LutData::Bytes(b) if b.len() == count => {
            return Some(b.iter().map(|&v| v as u16).collect())
        }
        LutData::Bytes(b) => b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect(),
        LutData::Words(w) => w.to_vec(),
    };
    if words.is_empty() {
        return None;
    }
    if words.len() != count && words.len() == count.div_ceil(2) {
        let bytes = words.iter().flat_map(|w| w.to_le_bytes());
        return Some(bytes.take(count).map(u16::from).collect());
    }
    // Longer data than the descriptor says is padding; shorter data is what there is.
    let mut words = words;
    words.truncate(count);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_clamps_below_first_mapped_and_past_last() {
        let lut = Lut::new(-2, 16, vec![10, 20, 30], None).unwrap();
        assert_eq!(lut.lookup_int(-100), 10);
        assert_eq!(lut.lookup_int(-2), 10);
        assert_eq!(lut.lookup_int(-1), 20);
        assert_eq!(lut.lookup_int(0), 30);
        assert_eq!(lut.lookup_int(1), 30);
        assert_eq!(lut.lookup(-1.5), 10);
        assert_eq!(lut.lookup(-0.5), 20);
        assert_eq!(lut.lookup(f64::NAN), 10);
        assert_eq!(lut.lookup(f64::INFINITY), 30);
        assert_eq!(lut.last_mapped(), 0);
    }

    #[test]
    fn first_mapped_read_as_us_is_signed_for_signed_input() {
        let d = [4096.0, 63488.0, 16.0];
        let lut = Lut::from_descriptor(&d, LutData::Words(&[0; 4096]), true, None).unwrap();
        assert_eq!(lut.first_mapped, -2048);
        let lut = Lut::from_descriptor(&d, LutData::Words(&[0; 4096]), false, None).unwrap();
        assert_eq!(lut.first_mapped, 63488);
        let lut =
            Lut::from_descriptor(&[4.0, -2.0, 16.0], LutData::Words(&[0; 4]), false, None).unwrap();
        assert_eq!(lut.first_mapped, -2);
    }

    #[test]
    fn zero_entries_means_65536_and_packed_8_bit_entries_unpack() {
        let words = vec![0x0201u16; 32768];
        let lut =
            Lut::from_descriptor(&[0.0, 0.0, 8.0], LutData::Words(&words), false, None).unwrap();
        assert_eq!(lut.data.len(), 65536);
        assert_eq!(&lut.data[..2], &[1, 2]);
        let lut = Lut::from_descriptor(&[3.0, 0.0, 8.0], LutData::Bytes(&[7, 8, 9]), false, None)
            .unwrap();
        assert_eq!(lut.data, vec![7, 8, 9]);
    }

    #[test]
    fn bad_bit_depth_and_count_degrade() {
        // 12-bit values with a descriptor saying 0 bits: derived from the data.
        let lut =
            Lut::from_descriptor(&[3.0, 0.0, 0.0], LutData::Words(&[0, 4095, 7]), false, None)
                .unwrap();
        assert_eq!(lut.bits, 12);
        // The descriptor says 10 entries, the data has 3: the data wins.
        let lut = Lut::from_descriptor(&[10.0, 0.0, 16.0], LutData::Words(&[1, 2, 3]), false, None)
            .unwrap();
        assert_eq!(lut.data, vec![1, 2, 3]);
        // 8-bit entries with garbage in the high byte are masked.
        let lut = Lut::from_descriptor(
            &[2.0, 0.0, 8.0],
            LutData::Words(&[0xAB01, 0xCD02]),
            false,
            None,
        )
        .unwrap();
        assert_eq!(lut.data, vec![1, 2]);
        assert!(Lut::from_descriptor(&[2.0, 0.0], LutData::Words(&[1, 2]), false, None).is_none());
        assert!(
            Lut::from_descriptor(&[2.0, 0.0, 16.0], LutData::Words(&[]), false, None).is_none()
        );
        assert!(
            Lut::from_descriptor(&[f64::NAN, 0.0, 16.0], LutData::Words(&[1]), false, None)
                .is_none()
        );
    }
}
