//! One read-only view over the two kinds of data set the display attributes come
//! from: a Part 10 data set parsed by dicom-object, and a DICOM JSON data set from
//! WADO-RS metadata. Every accessor degrades to "absent" on a malformed value.

use crate::dicomweb::json::{self, Dataset};
use dicom_core::header::HasLength;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_object::InMemDicomObject;

/// (group, element).
pub(crate) type TagPair = (u16, u16);

/// LUT Data as found, before unpacking.
pub(crate) enum RawLutData {
    Words(Vec<u16>),
    Bytes(Vec<u8>),
    /// DICOM JSON `BulkDataURI`: the bytes must be fetched by the caller.
    BulkData(String),
}

pub(crate) trait Source {
    /// Every value as a number; `None` when absent, empty, or any value is not a number.
    fn numbers(&self, tag: TagPair) -> Option<Vec<f64>>;
    /// Every text value, padding trimmed; empty when absent or not text.
    fn texts(&self, tag: TagPair) -> Vec<String>;
    /// LUT Data (or palette LUT Data).
    fn lut_data(&self, tag: TagPair) -> Option<RawLutData>;
    /// The items of a sequence; empty when absent or not a sequence.
    fn items(&self, tag: TagPair) -> Vec<&Self>;
}

fn trim(s: &str) -> String {
    s.trim_end_matches(['\0', ' ']).trim().to_string()
}

impl Source for InMemDicomObject {
    fn numbers(&self, (g, e): TagPair) -> Option<Vec<f64>> {
        let el = self.element_opt(dicom_core::Tag(g, e)).ok()??;
        if let Value::Primitive(p) = el.value() {
            if p.is_empty() {
                return None;
            }
        }
        let v = el.to_multi_float64().ok()?;
        (!v.is_empty()).then_some(v)
    }

    fn texts(&self, (g, e): TagPair) -> Vec<String> {
        match self.element_opt(dicom_core::Tag(g, e)) {
            Ok(Some(el)) => el
                .to_multi_str()
                .map(|v| v.iter().map(|s| trim(s)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn lut_data(&self, (g, e): TagPair) -> Option<RawLutData> {
        let el = self.element_opt(dicom_core::Tag(g, e)).ok()??;
        let Value::Primitive(p) = el.value() else {
            return None;
        };
        Some(match p {
            PrimitiveValue::U16(v) => RawLutData::Words(v.to_vec()),
            PrimitiveValue::I16(v) => RawLutData::Words(v.iter().map(|&x| x as u16).collect()),
            PrimitiveValue::U8(v) => RawLutData::Bytes(v.to_vec()),
            other => RawLutData::Bytes(other.to_bytes().into_owned()),
        })
    }

    fn items(&self, (g, e): TagPair) -> Vec<&Self> {
        match self.element_opt(dicom_core::Tag(g, e)) {
            Ok(Some(el)) => el.items().map(|i| i.iter().collect()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

impl Source for Dataset {
    fn numbers(&self, (g, e): TagPair) -> Option<Vec<f64>> {
        let v = self.floats(json::Tag(g, e));
        (!v.is_empty()).then_some(v)
    }

    fn texts(&self, (g, e): TagPair) -> Vec<String> {
        self.strings(json::Tag(g, e))
            .into_iter()
            .map(trim)
            .collect()
    }

    fn lut_data(&self, (g, e): TagPair) -> Option<RawLutData> {
        match &self.get(json::Tag(g, e))?.value {
            json::Value::Numbers(v) => Some(RawLutData::Words(
                // SS values arrive negative; their bit pattern is the entry.
                v.iter().map(|&x| (x as i64 & 0xFFFF) as u16).collect(),
            )),
            json::Value::InlineBinary(b) => Some(RawLutData::Bytes(b.clone())),
            json::Value::BulkDataUri(uri) => Some(RawLutData::BulkData(uri.clone())),
            _ => None,
        }
    }

    fn items(&self, (g, e): TagPair) -> Vec<&Self> {
        self.sequence(json::Tag(g, e))
            .map(|items| items.iter().collect())
            .unwrap_or_default()
    }
}
