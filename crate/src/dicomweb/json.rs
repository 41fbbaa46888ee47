//! The DICOM JSON model (PS3.18 Annex F.2): QIDO-RS results, WADO-RS metadata and
//! STOW-RS responses, parsed into typed [`Dataset`]s and, for QIDO, into
//! [`StudyRecord`], [`SeriesRecord`] and [`InstanceRecord`].
//!
//! Owns: turning `{"0020000D": {"vr": "UI", "Value": [...]}}` into values a viewer
//! can use, and the leniency that real servers need. Never touches: the network,
//! bulk data (a `BulkDataURI` is handed on as a string for the caller to fetch),
//! pixels, or character sets (JSON is already Unicode).
//!
//! Tolerated, because servers do it: attributes with no `Value` (Orthanc sends
//! empty attributes as `{"vr":"PN"}`), numbers given as JSON numbers or as strings
//! (`"512"`, `" 512 "`, `"1.5e-3"`), Person Names given as plain strings, `null`
//! inside `Value` arrays, a `Value` that is a bare scalar instead of an array,
//! unknown VRs (kept as strings), lowercase hex keys, and a single object where an
//! array of data sets was expected.
//!
//! Rejected, with an error that says where: text that is not JSON, a top level
//! that is neither an array nor an object, a key that is not 8 hex digits, an
//! attribute without a `vr`, a sequence item that is not an object, bad base64.

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Sequences nested deeper than this are refused: real data sets nest a handful of
/// levels, and a `serde_json::Value` built by a caller has no depth limit of its
/// own, so recursion must be bounded here.
pub const MAX_SEQUENCE_DEPTH: usize = 64;

/// A DICOM attribute tag, (group, element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u16, pub u16);

impl Tag {
    /// The group number.
    pub fn group(self) -> u16 {
        self.0
    }

    /// The element number.
    pub fn element(self) -> u16 {
        self.1
    }

    /// Parses a DICOM JSON key: exactly 8 hex digits, either case (`"0020000D"`,
    /// `"0020000d"`).
    pub fn from_key(key: &str) -> Option<Tag> {
        if key.len() != 8 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        // All bytes are ASCII hex digits, so slicing at 4 is on a char boundary.
        let group = u16::from_str_radix(&key[..4], 16).ok()?;
        let element = u16::from_str_radix(&key[4..], 16).ok()?;
        Some(Tag(group, element))
    }

    /// The DICOM JSON key, uppercase: `"0020000D"`.
    pub fn key(self) -> String {
        format!("{:04X}{:04X}", self.0, self.1)
    }
}

impl fmt::Display for Tag {
    /// `(0020,000D)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:04X},{:04X})", self.0, self.1)
    }
}

impl FromStr for Tag {
    type Err = JsonModelError;

    /// Same as [`Tag::from_key`], with an error that names the key.
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        Tag::from_key(key).ok_or_else(|| JsonModelError::InvalidTag {
            key: key.to_string(),
            path: String::new(),
        })
    }
}

/// The value of one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text VRs (AE, AS, AT, CS, DA, DT, LO, LT, SH, ST, TM, UC, UI, UR, UT, and
    /// any VR this module does not know). `None` is a `null` in the `Value` array,
    /// kept so that the positions of multi-valued attributes stay right.
    Strings(Vec<Option<String>>),
    /// IS, DS, US, SS, UL, SL, FL, FD, UV, SV, whether sent as JSON numbers or as
    /// strings. `null` and empty-string entries are left out. 64-bit integers
    /// beyond 2^53 lose precision. A value that is not a number at all makes the
    /// whole attribute [`Value::Strings`] instead, so nothing is thrown away.
    Numbers(Vec<f64>),
    /// PN. A `null` entry becomes a name with all three groups `None`.
    PersonNames(Vec<PersonName>),
    /// SQ: the items, in order. A `null` item becomes an empty data set.
    Sequence(Vec<Dataset>),
    /// `InlineBinary`, base64-decoded.
    InlineBinary(Vec<u8>),
    /// `BulkDataURI`, as sent (may be relative; the caller resolves it).
    BulkDataUri(String),
    /// No `Value`, `InlineBinary` or `BulkDataURI` (or an empty `Value` array):
    /// the attribute is present but empty.
    Empty,
}

/// One attribute: its VR (uppercased as sent) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub vr: String,
    pub value: Value,
}

/// A Person Name (PN) value, in its three component groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonName {
    pub alphabetic: Option<String>,
    pub ideographic: Option<String>,
    pub phonetic: Option<String>,
}

/// A DICOM data set: attributes ordered by tag.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    elements: BTreeMap<Tag, Element>,
}

/// Why a DICOM JSON body could not be parsed. `path` says where: `data set 3 >
/// (0008,1199) item 2 > (0008,1155)`; empty means the top level.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum JsonModelError {
    /// The body is not JSON at all.
    #[error("DICOM JSON body is not valid JSON (line {line}, column {column}): {message}")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },

    /// The top level is not an array of data sets (nor a single data set object).
    #[error("expected a JSON array of DICOM data sets (or one data set object), found {found}")]
    NotAnArray { found: &'static str },

    /// Something that should be a data set is not a JSON object.
    #[error("expected a DICOM data set (a JSON object) at {}, found {found}", at(.path))]
    NotADataset { path: String, found: &'static str },

    /// An attribute key is not a tag.
    #[error("attribute key {key:?} at {} is not a tag of 8 hexadecimal digits", at(.path))]
    InvalidTag { key: String, path: String },

    /// An attribute is malformed (no `vr`, a bad value, bad base64).
    #[error("attribute {path}: {reason}")]
    InvalidAttribute { path: String, reason: String },

    /// Sequences nested beyond [`MAX_SEQUENCE_DEPTH`].
    #[error("sequences nested deeper than {limit} levels at {}", at(.path))]
    SequenceTooDeep { path: String, limit: usize },

    /// A QIDO record lacks its identifying UID.
    #[error("{record} record has no {keyword} {tag}")]
    MissingRequired {
        record: &'static str,
        keyword: &'static str,
        tag: Tag,
    },
}

fn at(path: &str) -> &str {
    if path.is_empty() {
        "the top level"
    } else {
        path
    }
}

impl JsonModelError {
    /// Prefixes the location of an error found inside `outer`.
    fn within(mut self, outer: &str) -> Self {
        match &mut self {
            JsonModelError::NotADataset { path, .. }
            | JsonModelError::InvalidTag { path, .. }
            | JsonModelError::InvalidAttribute { path, .. }
            | JsonModelError::SequenceTooDeep { path, .. } => {
                *path = if path.is_empty() {
                    outer.to_string()
                } else {
                    format!("{outer} > {path}")
                };
            }
            _ => {}
        }
        self
    }
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// VRs whose values are numbers in the JSON model (PS3.18 F.2.3).
fn is_numeric_vr(vr: &str) -> bool {
    matches!(
        vr,
        "IS" | "DS" | "US" | "SS" | "UL" | "SL" | "FL" | "FD" | "UV" | "SV"
    )
}

impl Dataset {
    /// An empty data set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one data set from its JSON object.
    pub fn from_json(v: &Json) -> Result<Self, JsonModelError> {
        Self::from_json_at_depth(v, 0)
    }

    /// Parses a QIDO-RS or WADO-RS metadata body: a JSON array of data sets. An
    /// empty or all-whitespace body (some servers answer "no match" with 204 or an
    /// empty 200) gives an empty Vec; a single object is taken as a one-element
    /// array.
    pub fn parse_array(text: &str) -> Result<Vec<Dataset>, JsonModelError> {
        let text = text.trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let json: Json = serde_json::from_str(text).map_err(|e| JsonModelError::NotJson {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        match &json {
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    Dataset::from_json(item).map_err(|e| e.within(&format!("data set {}", i + 1)))
                })
                .collect(),
            Json::Object(_) => Ok(vec![Dataset::from_json(&json)?]),
            other => Err(JsonModelError::NotAnArray {
                found: json_kind(other),
            }),
        }
    }

    fn from_json_at_depth(v: &Json, depth: usize) -> Result<Self, JsonModelError> {
        let Json::Object(map) = v else {
            return Err(JsonModelError::NotADataset {
                path: String::new(),
                found: json_kind(v),
            });
        };
        let mut elements = BTreeMap::new();
        for (key, attribute) in map {
            let tag = Tag::from_key(key).ok_or_else(|| JsonModelError::InvalidTag {
                key: key.clone(),
                path: String::new(),
            })?;
            let element =
                parse_element(attribute, depth).map_err(|e| e.within(&tag.to_string()))?;
            elements.insert(tag, element);
        }
        Ok(Dataset { elements })
    }

    /// Adds or replaces an attribute.
    pub fn insert(&mut self, tag: Tag, element: Element) -> Option<Element> {
        self.elements.insert(tag, element)
    }

    /// The attribute, if present (even if empty).
    pub fn get(&self, tag: Tag) -> Option<&Element> {
        self.elements.get(&tag)
    }

    /// Whether the attribute is present (even if empty).
    pub fn contains(&self, tag: Tag) -> bool {
        self.elements.contains_key(&tag)
    }

    /// All attributes in tag order.
    pub fn iter(&self) -> impl Iterator<Item = (Tag, &Element)> {
        self.elements.iter().map(|(t, e)| (*t, e))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The first value as text, trailing spaces and NULs removed (padding that
    /// some converters leave on UIDs and codes). A PN gives its alphabetic group.
    /// `None` if absent, empty, the first value is `null`, or the value is not
    /// text (numbers: use [`int`](Self::int) / [`float`](Self::float)).
    pub fn string(&self, tag: Tag) -> Option<&str> {
        match &self.get(tag)?.value {
            Value::Strings(values) => values.first()?.as_deref().map(trim_padding),
            Value::PersonNames(names) => names.first()?.alphabetic.as_deref().map(trim_padding),
            _ => None,
        }
    }

    /// Every non-null text value (e.g. ModalitiesInStudy), trimmed as in
    /// [`string`](Self::string); for PN the alphabetic groups. Empty if absent or
    /// not text.
    pub fn strings(&self, tag: Tag) -> Vec<&str> {
        match self.get(tag).map(|e| &e.value) {
            Some(Value::Strings(values)) => {
                values.iter().flatten().map(|s| trim_padding(s)).collect()
            }
            Some(Value::PersonNames(names)) => names
                .iter()
                .filter_map(|n| n.alphabetic.as_deref())
                .map(trim_padding)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The first value as an integer, from a number or from text (`"512"`,
    /// `" 512 "`, `"5.12e2"`). `None` if absent, empty, or not a whole number in
    /// `i64` range.
    pub fn int(&self, tag: Tag) -> Option<i64> {
        let f = self.float(tag)?;
        if let Some(Value::Strings(values)) = self.get(tag).map(|e| &e.value) {
            // Exact for integers beyond 2^53, which f64 would round.
            if let Ok(i) = values.first()?.as_deref()?.trim().parse::<i64>() {
                return Some(i);
            }
        }
        // 2^63 is exactly representable; anything from it upward does not fit.
        if f.fract() == 0.0
            && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
        {
            Some(f as i64)
        } else {
            None
        }
    }

    /// The first value as a number, from a number or from text. `None` if absent,
    /// empty, or not a finite number.
    pub fn float(&self, tag: Tag) -> Option<f64> {
        match &self.get(tag)?.value {
            Value::Numbers(values) => values.first().copied(),
            Value::Strings(values) => parse_number(values.first()?.as_deref()?),
            _ => None,
        }
    }

    /// Every value as a number (e.g. ImagePositionPatient, PixelSpacing). Empty if
    /// absent, or if any non-null value is not a number: geometry built from some
    /// of the values would be silently wrong.
    pub fn floats(&self, tag: Tag) -> Vec<f64> {
        match self.get(tag).map(|e| &e.value) {
            Some(Value::Numbers(values)) => values.clone(),
            Some(Value::Strings(values)) => values
                .iter()
                .flatten()
                .map(|s| parse_number(s))
                .collect::<Option<Vec<f64>>>()
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The first Person Name.
    pub fn person_name(&self, tag: Tag) -> Option<&PersonName> {
        match &self.get(tag)?.value {
            Value::PersonNames(names) => names.first(),
            _ => None,
        }
    }

    /// The items of a sequence; an SQ that is present but empty gives `Some(&[])`.
    pub fn sequence(&self, tag: Tag) -> Option<&[Dataset]> {
        let element = self.get(tag)?;
        match &element.value {
            Value::Sequence(items) => Some(items),
            Value::Empty if element.vr == "SQ" => Some(&[]),
            _ => None,
        }
    }

    /// The `BulkDataURI` of the attribute, as sent.
    pub fn bulk_data_uri(&self, tag: Tag) -> Option<&str> {
        match &self.get(tag)?.value {
            Value::BulkDataUri(uri) => Some(uri),
            _ => None,
        }
    }

    /// The decoded `InlineBinary` of the attribute.
    pub fn inline_binary(&self, tag: Tag) -> Option<&[u8]> {
        match &self.get(tag)?.value {
            Value::InlineBinary(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The text of a required UID-like attribute, or the error naming it.
    fn required(
        &self,
        tag: Tag,
        record: &'static str,
        keyword: &'static str,
    ) -> Result<String, JsonModelError> {
        self.string(tag)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(JsonModelError::MissingRequired {
                record,
                keyword,
                tag,
            })
    }

    fn opt_string(&self, tag: Tag) -> Option<String> {
        self.string(tag)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// A count or size: absent, negative or out of range gives `None`.
    fn opt_u32(&self, tag: Tag) -> Option<u32> {
        self.int(tag).and_then(|i| u32::try_from(i).ok())
    }

    fn opt_i32(&self, tag: Tag) -> Option<i32> {
        self.int(tag).and_then(|i| i32::try_from(i).ok())
    }
}

/// Removes trailing spaces and NULs (DICOM value padding).
fn trim_padding(s: &str) -> &str {
    s.trim_end_matches([' ', '\0'])
}

/// A DS/IS-style decimal from text: surrounding spaces allowed, exponents allowed,
/// non-finite results (`"inf"`, `"NaN"`, which Rust would accept) refused.
fn parse_number(s: &str) -> Option<f64> {
    let f = s.trim_matches([' ', '\0']).parse::<f64>().ok()?;
    f.is_finite().then_some(f)
}

fn parse_element(attribute: &Json, depth: usize) -> Result<Element, JsonModelError> {
    let invalid = |reason: String| JsonModelError::InvalidAttribute {
        path: String::new(),
        reason,
    };
    let Json::Object(map) = attribute else {
        return Err(invalid(format!(
            "expected an object with \"vr\", found {}",
            json_kind(attribute)
        )));
    };
    let vr = match map.get("vr") {
        Some(Json::String(vr)) => vr.trim().to_ascii_uppercase(),
        Some(other) => {
            return Err(invalid(format!(
                "\"vr\" is {}, not a string",
                json_kind(other)
            )))
        }
        None => return Err(invalid("has no \"vr\"".to_string())),
    };
    let value = if let Some(v) = map.get("Value").filter(|v| !v.is_null()) {
        parse_values(&vr, v, depth)?
    } else if let Some(v) = map.get("InlineBinary").filter(|v| !v.is_null()) {
        let Json::String(text) = v else {
            return Err(invalid(format!(
                "InlineBinary is {}, not a string",
                json_kind(v)
            )));
        };
        Value::InlineBinary(
            decode_base64(text).map_err(|reason| invalid(format!("InlineBinary: {reason}")))?,
        )
    } else if let Some(v) = map.get("BulkDataURI").filter(|v| !v.is_null()) {
        let Json::String(uri) = v else {
            return Err(invalid(format!(
                "BulkDataURI is {}, not a string",
                json_kind(v)
            )));
        };
        Value::BulkDataUri(uri.clone())
    } else {
        Value::Empty
    };
    Ok(Element { vr, value })
}

fn parse_values(vr: &str, v: &Json, depth: usize) -> Result<Value, JsonModelError> {
    let invalid = |reason: String| JsonModelError::InvalidAttribute {
        path: String::new(),
        reason,
    };
    // The standard says array; a bare scalar has been seen and is unambiguous.
    let items: &[Json] = match v {
        Json::Array(items) => items,
        other => std::slice::from_ref(other),
    };
    if items.is_empty() {
        return Ok(Value::Empty);
    }
    match vr {
        "SQ" => {
            if depth >= MAX_SEQUENCE_DEPTH {
                return Err(JsonModelError::SequenceTooDeep {
                    path: String::new(),
                    limit: MAX_SEQUENCE_DEPTH,
                });
            }
            let mut datasets = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let dataset = match item {
                    Json::Null => Dataset::default(),
                    Json::Object(_) => Dataset::from_json_at_depth(item, depth + 1)
                        .map_err(|e| e.within(&format!("item {}", i + 1)))?,
                    other => {
                        return Err(invalid(format!(
                            "sequence item {} is {}, not a data set object",
                            i + 1,
                            json_kind(other)
                        )))
                    }
                };
                datasets.push(dataset);
            }
            Ok(Value::Sequence(datasets))
        }
        "PN" => {
            let mut names = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let name = match item {
                    Json::Null => PersonName::default(),
                    // Some servers send the alphabetic group as a bare string.
                    Json::String(s) => PersonName {
                        alphabetic: Some(s.clone()),
                        ..PersonName::default()
                    },
                    Json::Object(groups) => {
                        let group = |name: &str| match groups.get(name) {
                            Some(Json::String(s)) => Some(s.clone()),
                            _ => None,
                        };
                        PersonName {
                            alphabetic: group("Alphabetic"),
                            ideographic: group("Ideographic"),
                            phonetic: group("Phonetic"),
                        }
                    }
                    other => {
                        return Err(invalid(format!(
                            "person name {} is {}, not an object or a string",
                            i + 1,
                            json_kind(other)
                        )))
                    }
                };
                names.push(name);
            }
            Ok(Value::PersonNames(names))
        }
        _ if is_numeric_vr(vr) => {
            let mut numbers = Vec::with_capacity(items.len());
            for item in items {
                let number = match item {
                    Json::Null => continue,
                    Json::Number(n) => n.as_f64().filter(|f| f.is_finite()),
                    Json::String(s) if s.trim_matches([' ', '\0']).is_empty() => continue,
                    Json::String(s) => parse_number(s),
                    _ => None,
                };
                match number {
                    Some(f) => numbers.push(f),
                    // Not a number: keep the attribute as text rather than lose it.
                    None => return strings_from(items).map_err(invalid),
                }
            }
            Ok(if numbers.is_empty() {
                Value::Empty
            } else {
                Value::Numbers(numbers)
            })
        }
        _ => strings_from(items).map_err(invalid),
    }
}

fn strings_from(items: &[Json]) -> Result<Value, String> {
    let mut strings = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        strings.push(match item {
            Json::Null => None,
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(b.to_string()),
            other => {
                return Err(format!(
                    "value {} is {}, not a string",
                    i + 1,
                    json_kind(other)
                ))
            }
        });
    }
    Ok(Value::Strings(strings))
}

/// Decodes base64 (RFC 4648). Accepts the standard and URL-safe alphabets, ignores
/// ASCII whitespace (line-wrapped output), and does not require padding.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0;
    let mut padding = 0;
    for (offset, b) in text.bytes().enumerate() {
        let sextet = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => {
                // Every earlier byte was ASCII, so `offset` starts a character.
                let c = text
                    .get(offset..)
                    .and_then(|t| t.chars().next())
                    .unwrap_or('?');
                return Err(format!("invalid base64 character {c:?} at offset {offset}"));
            }
        };
        if padding > 0 {
            return Err(format!("base64 data after '=' padding at offset {offset}"));
        }
        acc = (acc << 6) | u32::from(sextet);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 => {}
        1 => return Err("base64 ends with a lone character (truncated?)".to_string()),
        2 => out.push((acc >> 4) as u8),
        _ => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
    }
    if padding > 2 {
        return Err(format!("base64 has {padding} '=' padding characters"));
    }
    Ok(out)
}

/// One study of a QIDO-RS `/studies` result. Only the Study Instance UID is
/// required; servers return what they choose (and what `includefield` asked for).
/// Dates and times stay as DICOM text (`YYYYMMDD`, `HHMMSS.FFFFFF`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StudyRecord {
    pub study_instance_uid: String,
    pub patient_name: Option<PersonName>,
    pub patient_id: Option<String>,
    pub patient_birth_date: Option<String>,
    pub patient_sex: Option<String>,
    pub study_date: Option<String>,
    pub study_time: Option<String>,
    pub accession_number: Option<String>,
    pub study_description: Option<String>,
    pub study_id: Option<String>,
    pub referring_physician_name: Option<PersonName>,
    pub modalities_in_study: Vec<String>,
    /// NumberOfStudyRelatedSeries (0020,1206).
    pub number_of_series: Option<u32>,
    /// NumberOfStudyRelatedInstances (0020,1208).
    pub number_of_instances: Option<u32>,
    pub retrieve_url: Option<String>,
}

impl StudyRecord {
    /// Builds the record; fails only if StudyInstanceUID is absent or empty. An
    /// optional attribute that is malformed (a count of `-1`) reads as `None`.
    pub fn from_dataset(ds: &Dataset) -> Result<Self, JsonModelError> {
        Ok(StudyRecord {
            study_instance_uid: ds.required(
                tags::STUDY_INSTANCE_UID,
                "study",
                "StudyInstanceUID",
            )?,
            patient_name: non_empty_name(ds.person_name(tags::PATIENT_NAME)),
            patient_id: ds.opt_string(tags::PATIENT_ID),
            patient_birth_date: ds.opt_string(tags::PATIENT_BIRTH_DATE),
            patient_sex: ds.opt_string(tags::PATIENT_SEX),
            study_date: ds.opt_string(tags::STUDY_DATE),
            study_time: ds.opt_string(tags::STUDY_TIME),
            accession_number: ds.opt_string(tags::ACCESSION_NUMBER),
            study_description: ds.opt_string(tags::STUDY_DESCRIPTION),
            study_id: ds.opt_string(tags::STUDY_ID),
            referring_physician_name: non_empty_name(
                ds.person_name(tags::REFERRING_PHYSICIAN_NAME),
            ),
            modalities_in_study: ds
                .strings(tags::MODALITIES_IN_STUDY)
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            number_of_series: ds.opt_u32(tags::NUMBER_OF_STUDY_RELATED_SERIES),
            number_of_instances: ds.opt_u32(tags::NUMBER_OF_STUDY_RELATED_INSTANCES),
            retrieve_url: ds.opt_string(tags::RETRIEVE_URL),
        })
    }
}

/// One series of a QIDO-RS `/series` result. Only the Series Instance UID is
/// required (the Study Instance UID is often left out of a study-scoped query).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesRecord {
    pub series_instance_uid: String,
    pub study_instance_uid: Option<String>,
    pub modality: Option<String>,
    pub series_number: Option<i32>,
    pub series_description: Option<String>,
    pub series_date: Option<String>,
    /// NumberOfSeriesRelatedInstances (0020,1209).
    pub number_of_instances: Option<u32>,
    pub retrieve_url: Option<String>,
}

impl SeriesRecord {
    /// Builds the record; fails only if SeriesInstanceUID is absent or empty.
    pub fn from_dataset(ds: &Dataset) -> Result<Self, JsonModelError> {
        Ok(SeriesRecord {
            series_instance_uid: ds.required(
                tags::SERIES_INSTANCE_UID,
                "series",
                "SeriesInstanceUID",
            )?,
            study_instance_uid: ds.opt_string(tags::STUDY_INSTANCE_UID),
            modality: ds.opt_string(tags::MODALITY),
            series_number: ds.opt_i32(tags::SERIES_NUMBER),
            series_description: ds.opt_string(tags::SERIES_DESCRIPTION),
            series_date: ds.opt_string(tags::SERIES_DATE),
            number_of_instances: ds.opt_u32(tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
            retrieve_url: ds.opt_string(tags::RETRIEVE_URL),
        })
    }
}

/// One instance of a QIDO-RS `/instances` result. Only the SOP Instance UID is
/// required. `rows`/`columns`/`number_of_frames` are what the server says, not yet
/// checked against any pixel data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstanceRecord {
    pub sop_instance_uid: String,
    pub sop_class_uid: Option<String>,
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub instance_number: Option<i32>,
    pub number_of_frames: Option<u32>,
    pub rows: Option<u32>,
    pub columns: Option<u32>,
    pub available_transfer_syntax_uid: Option<String>,
    pub retrieve_url: Option<String>,
}

impl InstanceRecord {
    /// Builds the record; fails only if SOPInstanceUID is absent or empty.
    pub fn from_dataset(ds: &Dataset) -> Result<Self, JsonModelError> {
        Ok(InstanceRecord {
            sop_instance_uid: ds.required(tags::SOP_INSTANCE_UID, "instance", "SOPInstanceUID")?,
            sop_class_uid: ds.opt_string(tags::SOP_CLASS_UID),
            study_instance_uid: ds.opt_string(tags::STUDY_INSTANCE_UID),
            series_instance_uid: ds.opt_string(tags::SERIES_INSTANCE_UID),
            instance_number: ds.opt_i32(tags::INSTANCE_NUMBER),
            number_of_frames: ds.opt_u32(tags::NUMBER_OF_FRAMES),
            rows: ds.opt_u32(tags::ROWS),
            columns: ds.opt_u32(tags::COLUMNS),
            available_transfer_syntax_uid: ds.opt_string(tags::AVAILABLE_TRANSFER_SYNTAX_UID),
            retrieve_url: ds.opt_string(tags::RETRIEVE_URL),
        })
    }
}

/// A name with no group at all (`{}` or `null`) is treated as absent.
fn non_empty_name(name: Option<&PersonName>) -> Option<PersonName> {
    name.filter(|n| n.alphabetic.is_some() || n.ideographic.is_some() || n.phonetic.is_some())
        .cloned()
}

/// Tags that a worklist, series and instance lists, the Image Pixel, Image Plane
/// and VOI LUT modules, palettes and STOW-RS responses need.
pub mod tags {
    use super::Tag;

    macro_rules! tags {
        ($($name:ident = ($g:literal, $e:literal) $keyword:literal;)*) => {
            $(#[doc = concat!($keyword, " ", stringify!(($g, $e)))] pub const $name: Tag = Tag($g, $e);)*
            /// Every tag above with its DICOM keyword, in tag order.
            pub const ALL: &[(Tag, &str)] = &[$((Tag($g, $e), $keyword)),*];
        };
    }

    tags! {
        TRANSFER_SYNTAX_UID = (0x0002, 0x0010) "TransferSyntaxUID";
        SPECIFIC_CHARACTER_SET = (0x0008, 0x0005) "SpecificCharacterSet";
        IMAGE_TYPE = (0x0008, 0x0008) "ImageType";
        SOP_CLASS_UID = (0x0008, 0x0016) "SOPClassUID";
        SOP_INSTANCE_UID = (0x0008, 0x0018) "SOPInstanceUID";
        STUDY_DATE = (0x0008, 0x0020) "StudyDate";
        SERIES_DATE = (0x0008, 0x0021) "SeriesDate";
        STUDY_TIME = (0x0008, 0x0030) "StudyTime";
        SERIES_TIME = (0x0008, 0x0031) "SeriesTime";
        ACCESSION_NUMBER = (0x0008, 0x0050) "AccessionNumber";
        RETRIEVE_AE_TITLE = (0x0008, 0x0054) "RetrieveAETitle";
        INSTANCE_AVAILABILITY = (0x0008, 0x0056) "InstanceAvailability";
        MODALITY = (0x0008, 0x0060) "Modality";
        MODALITIES_IN_STUDY = (0x0008, 0x0061) "ModalitiesInStudy";
        REFERRING_PHYSICIAN_NAME = (0x0008, 0x0090) "ReferringPhysicianName";
        TIMEZONE_OFFSET_FROM_UTC = (0x0008, 0x0201) "TimezoneOffsetFromUTC";
        STUDY_DESCRIPTION = (0x0008, 0x1030) "StudyDescription";
        SERIES_DESCRIPTION = (0x0008, 0x103E) "SeriesDescription";
        REFERENCED_SOP_CLASS_UID = (0x0008, 0x1150) "ReferencedSOPClassUID";
        REFERENCED_SOP_INSTANCE_UID = (0x0008, 0x1155) "ReferencedSOPInstanceUID";
        RETRIEVE_URL = (0x0008, 0x1190) "RetrieveURL";
        WARNING_REASON = (0x0008, 0x1196) "WarningReason";
        FAILURE_REASON = (0x0008, 0x1197) "FailureReason";
        FAILED_SOP_SEQUENCE = (0x0008, 0x1198) "FailedSOPSequence";
        REFERENCED_SOP_SEQUENCE = (0x0008, 0x1199) "ReferencedSOPSequence";
        AVAILABLE_TRANSFER_SYNTAX_UID = (0x0008, 0x3002) "AvailableTransferSyntaxUID";
        PATIENT_NAME = (0x0010, 0x0010) "PatientName";
        PATIENT_ID = (0x0010, 0x0020) "PatientID";
        PATIENT_BIRTH_DATE = (0x0010, 0x0030) "PatientBirthDate";
        PATIENT_SEX = (0x0010, 0x0040) "PatientSex";
        SLICE_THICKNESS = (0x0018, 0x0050) "SliceThickness";
        SPACING_BETWEEN_SLICES = (0x0018, 0x0088) "SpacingBetweenSlices";
        STUDY_INSTANCE_UID = (0x0020, 0x000D) "StudyInstanceUID";
        SERIES_INSTANCE_UID = (0x0020, 0x000E) "SeriesInstanceUID";
        STUDY_ID = (0x0020, 0x0010) "StudyID";
        SERIES_NUMBER = (0x0020, 0x0011) "SeriesNumber";
        INSTANCE_NUMBER = (0x0020, 0x0013) "InstanceNumber";
        IMAGE_POSITION_PATIENT = (0x0020, 0x0032) "ImagePositionPatient";
        IMAGE_ORIENTATION_PATIENT = (0x0020, 0x0037) "ImageOrientationPatient";
        FRAME_OF_REFERENCE_UID = (0x0020, 0x0052) "FrameOfReferenceUID";
        NUMBER_OF_STUDY_RELATED_SERIES = (0x0020, 0x1206) "NumberOfStudyRelatedSeries";
        NUMBER_OF_STUDY_RELATED_INSTANCES = (0x0020, 0x1208) "NumberOfStudyRelatedInstances";
        NUMBER_OF_SERIES_RELATED_INSTANCES = (0x0020, 0x1209) "NumberOfSeriesRelatedInstances";
        SAMPLES_PER_PIXEL = (0x0028, 0x0002) "SamplesPerPixel";
        PHOTOMETRIC_INTERPRETATION = (0x0028, 0x0004) "PhotometricInterpretation";
        PLANAR_CONFIGURATION = (0x0028, 0x0006) "PlanarConfiguration";
        NUMBER_OF_FRAMES = (0x0028, 0x0008) "NumberOfFrames";
        ROWS = (0x0028, 0x0010) "Rows";
        COLUMNS = (0x0028, 0x0011) "Columns";
        PIXEL_SPACING = (0x0028, 0x0030) "PixelSpacing";
        BITS_ALLOCATED = (0x0028, 0x0100) "BitsAllocated";
        BITS_STORED = (0x0028, 0x0101) "BitsStored";
        HIGH_BIT = (0x0028, 0x0102) "HighBit";
        PIXEL_REPRESENTATION = (0x0028, 0x0103) "PixelRepresentation";
        PIXEL_PADDING_VALUE = (0x0028, 0x0120) "PixelPaddingValue";
        WINDOW_CENTER = (0x0028, 0x1050) "WindowCenter";
        WINDOW_WIDTH = (0x0028, 0x1051) "WindowWidth";
        RESCALE_INTERCEPT = (0x0028, 0x1052) "RescaleIntercept";
        RESCALE_SLOPE = (0x0028, 0x1053) "RescaleSlope";
        RESCALE_TYPE = (0x0028, 0x1054) "RescaleType";
        WINDOW_CENTER_WIDTH_EXPLANATION = (0x0028, 0x1055) "WindowCenterWidthExplanation";
        VOI_LUT_FUNCTION = (0x0028, 0x1056) "VOILUTFunction";
        RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR = (0x0028, 0x1101) "RedPaletteColorLookupTableDescriptor";
        GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR = (0x0028, 0x1102) "GreenPaletteColorLookupTableDescriptor";
        BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR = (0x0028, 0x1103) "BluePaletteColorLookupTableDescriptor";
        RED_PALETTE_COLOR_LOOKUP_TABLE_DATA = (0x0028, 0x1201) "RedPaletteColorLookupTableData";
        GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA = (0x0028, 0x1202) "GreenPaletteColorLookupTableData";
        BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA = (0x0028, 0x1203) "BluePaletteColorLookupTableData";
        SHARED_FUNCTIONAL_GROUPS_SEQUENCE = (0x5200, 0x9229) "SharedFunctionalGroupsSequence";
        PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE = (0x5200, 0x9230) "PerFrameFunctionalGroupsSequence";
        PIXEL_DATA = (0x7FE0, 0x0010) "PixelData";
    }

    /// The DICOM keyword of a tag listed here (for messages and debugging).
    pub fn keyword(tag: Tag) -> Option<&'static str> {
        ALL.iter().find(|(t, _)| *t == tag).map(|(_, k)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::tags::*;
    use super::*;

    /// A QIDO-RS /studies answer as Orthanc 1.10 + DICOMweb 1.7 writes it: empty
    /// attributes without "Value", unsorted, RetrieveURL absolute, counts as numbers.
    const ORTHANC_STUDIES: &str = r#"[
      {
        "00080005": {"vr": "CS", "Value": ["ISO_IR 100"]},
        "00080020": {"vr": "DA", "Value": ["20061012"]},
        "00080030": {"vr": "TM", "Value": ["090358.000000"]},
        "00080050": {"vr": "SH"},
        "00080061": {"vr": "CS", "Value": ["CT", "SR"]},
        "00080090": {"vr": "PN"},
        "00081030": {"vr": "LO", "Value": ["CT Head w/o contrast"]},
        "00081190": {"vr": "UR", "Value": ["http://127.0.0.1:8042/dicom-web/studies/1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "00100020": {"vr": "LO", "Value": ["4MR1"]},
        "00100030": {"vr": "DA"},
        "00100040": {"vr": "CS", "Value": ["F"]},
        "0020000D": {"vr": "UI", "Value": ["1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"]},
        "00200010": {"vr": "SH", "Value": ["4MR1"]},
        "00201206": {"vr": "IS", "Value": [2]},
        "00201208": {"vr": "IS", "Value": [109]}
      },
      {
        "0020000d": {"vr": "UI", "Value": ["2.25.1234"]},
        "00100010": {"vr": "PN", "Value": ["Yamada^Tarou"]},
        "00201208": {"vr": "IS", "Value": [" 12 "]},
        "00080061": {"vr": "CS", "Value": ["MR", null, "PR"]}
      }
    ]"#;

    /// WADO-RS metadata of one CT instance, as PS3.18 F.2 and Orthanc write it:
    /// DS as JSON numbers and as strings, palette data as BulkDataURI, no
    /// TransferSyntaxUID, no PixelData for compressed instances.
    const METADATA: &str = r#"[{
        "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
        "00080018": {"vr": "UI", "Value": ["1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322\u0000"]},
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY", "AXIAL"]},
        "00180050": {"vr": "DS", "Value": [5.0]},
        "00200013": {"vr": "IS", "Value": ["1"]},
        "00200032": {"vr": "DS", "Value": [-158.135803, -179.035797, -75.699997]},
        "00200037": {"vr": "DS", "Value": ["1.000000", "0.0", "0E0", "0", "1", "-1.5e-17"]},
        "00280002": {"vr": "US", "Value": [1]},
        "00280004": {"vr": "CS", "Value": ["PALETTE COLOR"]},
        "00280010": {"vr": "US", "Value": [512]},
        "00280011": {"vr": "US", "Value": [512]},
        "00280030": {"vr": "DS", "Value": [0.661468, 0.661468]},
        "00280100": {"vr": "US", "Value": [16]},
        "00280101": {"vr": "US", "Value": [16]},
        "00280102": {"vr": "US", "Value": [15]},
        "00280103": {"vr": "US", "Value": [1]},
        "00281050": {"vr": "DS", "Value": ["40", "400"]},
        "00281051": {"vr": "DS", "Value": [400, 2000]},
        "00281052": {"vr": "DS", "Value": ["-1024.0"]},
        "00281053": {"vr": "DS", "Value": ["1"]},
        "00281101": {"vr": "US", "Value": [256, 0, 16]},
        "00281201": {"vr": "OW", "BulkDataURI": "http://127.0.0.1:8042/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/bulk/00281201"},
        "00282000": {"vr": "OB", "InlineBinary": "AAEC/w=="},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}]},
        "52009229": {"vr": "SQ", "Value": [{
            "00289110": {"vr": "SQ", "Value": [{"00280030": {"vr": "DS", "Value": [0.5, 0.5]}}]}
        }]},
        "00081199": {"vr": "SQ"},
        "00091001": {"vr": "XX", "Value": ["private"]}
    }]"#;

    #[test]
    fn tag_parses_keys_and_displays_in_dicom_form() {
        assert_eq!(Tag::from_key("0020000D"), Some(STUDY_INSTANCE_UID));
        assert_eq!(Tag::from_key("0020000d"), Some(STUDY_INSTANCE_UID));
        assert_eq!(STUDY_INSTANCE_UID.to_string(), "(0020,000D)");
        assert_eq!(STUDY_INSTANCE_UID.key(), "0020000D");
        for bad in [
            "",
            "0020000",
            "0020000D0",
            "+020000D",
            "0020 00D",
            "002G000D",
            "ééééé",
            "00\u{e9}0000",
        ] {
            assert_eq!(Tag::from_key(bad), None, "{bad:?}");
        }
        let err = "PatientName".parse::<Tag>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "attribute key \"PatientName\" at the top level is not a tag of 8 hexadecimal digits"
        );
        assert_eq!(keyword(PIXEL_SPACING), Some("PixelSpacing"));
        assert!(
            ALL.windows(2).all(|w| w[0].0 < w[1].0),
            "tag table in order, no duplicates"
        );
    }

    #[test]
    fn orthanc_qido_studies_parse_into_records() {
        let datasets = Dataset::parse_array(ORTHANC_STUDIES).unwrap();
        assert_eq!(datasets.len(), 2);
        let first = &datasets[0];
        assert_eq!(first.get(ACCESSION_NUMBER).unwrap().value, Value::Empty);
        assert_eq!(first.get(REFERRING_PHYSICIAN_NAME).unwrap().vr, "PN");
        assert_eq!(first.string(ACCESSION_NUMBER), None);
        assert_eq!(first.person_name(REFERRING_PHYSICIAN_NAME), None);
        assert_eq!(first.strings(MODALITIES_IN_STUDY), ["CT", "SR"]);

        let study = StudyRecord::from_dataset(first).unwrap();
        assert_eq!(
            study.study_instance_uid,
            "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
        );
        assert_eq!(
            study.patient_name.unwrap().alphabetic.as_deref(),
            Some("Doe^Jane")
        );
        assert_eq!(study.patient_id.as_deref(), Some("4MR1"));
        assert_eq!(study.patient_birth_date, None);
        assert_eq!(study.patient_sex.as_deref(), Some("F"));
        assert_eq!(study.study_date.as_deref(), Some("20061012"));
        assert_eq!(study.accession_number, None);
        assert_eq!(study.referring_physician_name, None);
        assert_eq!(study.modalities_in_study, ["CT", "SR"]);
        assert_eq!(study.number_of_series, Some(2));
        assert_eq!(study.number_of_instances, Some(109));
        assert!(study.retrieve_url.unwrap().ends_with("12322"));

        // Lowercase key, PN as a plain string, count as a padded string, null in a
        // multi-valued attribute.
        let sparse = StudyRecord::from_dataset(&datasets[1]).unwrap();
        assert_eq!(sparse.study_instance_uid, "2.25.1234");
        assert_eq!(
            sparse.patient_name.unwrap().alphabetic.as_deref(),
            Some("Yamada^Tarou")
        );
        assert_eq!(sparse.number_of_instances, Some(12));
        assert_eq!(sparse.number_of_series, None);
        assert_eq!(sparse.modalities_in_study, ["MR", "PR"]);
        assert_eq!(
            datasets[1].get(MODALITIES_IN_STUDY).unwrap().value,
            Value::Strings(vec![Some("MR".into()), None, Some("PR".into())])
        );
    }

    #[test]
    fn series_and_instance_records_from_sparse_qido() {
        let series = Dataset::parse_array(r#"[
            {"0020000E": {"vr": "UI", "Value": ["1.2.3.4"]}, "00080060": {"vr": "CS", "Value": ["CT"]},
             "00200011": {"vr": "IS", "Value": ["-3"]}, "00201209": {"vr": "IS", "Value": [108]},
             "0008103E": {"vr": "LO"}},
            {"0020000E": {"vr": "UI", "Value": ["1.2.3.5"]}, "00201209": {"vr": "IS", "Value": [-1]}}
        ]"#).unwrap();
        let records: Vec<_> = series
            .iter()
            .map(|d| SeriesRecord::from_dataset(d).unwrap())
            .collect();
        assert_eq!(records[0].modality.as_deref(), Some("CT"));
        assert_eq!(records[0].series_number, Some(-3));
        assert_eq!(records[0].number_of_instances, Some(108));
        assert_eq!(records[0].series_description, None);
        assert_eq!(
            records[1].number_of_instances, None,
            "a negative count is not a count"
        );
        assert_eq!(records[1].study_instance_uid, None);

        let instances = Dataset::parse_array(r#"{"00080018": {"vr": "UI", "Value": ["1.2.3.4.5"]},
            "00280008": {"vr": "IS", "Value": ["  24"]}, "00280010": {"vr": "US", "Value": [512]},
            "00200013": {"vr": "IS", "Value": ["7.0"]}, "00083002": {"vr": "UI", "Value": ["1.2.840.10008.1.2.4.50"]}}"#).unwrap();
        let instance = InstanceRecord::from_dataset(&instances[0]).unwrap();
        assert_eq!(instance.sop_instance_uid, "1.2.3.4.5");
        assert_eq!(instance.number_of_frames, Some(24));
        assert_eq!(instance.rows, Some(512));
        assert_eq!(instance.columns, None);
        assert_eq!(instance.instance_number, Some(7));
        assert_eq!(
            instance.available_transfer_syntax_uid.as_deref(),
            Some("1.2.840.10008.1.2.4.50")
        );
    }

    #[test]
    fn records_without_their_uid_are_refused_by_name() {
        let ds = Dataset::parse_array(
            r#"[{"00100020": {"vr": "LO", "Value": ["X"]}, "0020000E": {"vr": "UI"}}]"#,
        )
        .unwrap();
        let err = StudyRecord::from_dataset(&ds[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "study record has no StudyInstanceUID (0020,000D)"
        );
        let err = SeriesRecord::from_dataset(&ds[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "series record has no SeriesInstanceUID (0020,000E)"
        );
        assert!(InstanceRecord::from_dataset(&ds[0]).is_err());
    }

    #[test]
    fn metadata_values_are_typed() {
        let ds = &Dataset::parse_array(METADATA).unwrap()[0];
        assert_eq!(
            ds.string(SOP_INSTANCE_UID),
            Some("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")
        );
        assert_eq!(ds.strings(IMAGE_TYPE), ["ORIGINAL", "PRIMARY", "AXIAL"]);
        assert_eq!(ds.int(ROWS), Some(512));
        assert_eq!(ds.int(INSTANCE_NUMBER), Some(1));
        assert_eq!(ds.int(PIXEL_REPRESENTATION), Some(1));
        assert_eq!(ds.float(SLICE_THICKNESS), Some(5.0));
        assert_eq!(
            ds.floats(IMAGE_POSITION_PATIENT),
            [-158.135803, -179.035797, -75.699997]
        );
        assert_eq!(
            ds.floats(IMAGE_ORIENTATION_PATIENT),
            [1.0, 0.0, 0.0, 0.0, 1.0, -1.5e-17]
        );
        assert_eq!(ds.floats(PIXEL_SPACING), [0.661468, 0.661468]);
        assert_eq!(ds.floats(WINDOW_CENTER), [40.0, 400.0]);
        assert_eq!(ds.floats(WINDOW_WIDTH), [400.0, 2000.0]);
        assert_eq!(ds.float(RESCALE_INTERCEPT), Some(-1024.0));
        assert_eq!(ds.int(RESCALE_INTERCEPT), Some(-1024));
        assert_eq!(
            ds.floats(RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR),
            [256.0, 0.0, 16.0]
        );
        assert!(ds
            .bulk_data_uri(RED_PALETTE_COLOR_LOOKUP_TABLE_DATA)
            .unwrap()
            .ends_with("/bulk/00281201"));
        assert_eq!(
            ds.inline_binary(Tag(0x0028, 0x2000)),
            Some(&[0u8, 1, 2, 255][..])
        );
        let name = ds.person_name(PATIENT_NAME).unwrap();
        assert_eq!(name.ideographic.as_deref(), Some("山田^太郎"));
        assert_eq!(name.phonetic.as_deref(), Some("やまだ^たろう"));
        assert_eq!(ds.string(PATIENT_NAME), Some("Yamada^Tarou"));
        let shared = ds.sequence(SHARED_FUNCTIONAL_GROUPS_SEQUENCE).unwrap();
        let measures = shared[0].sequence(Tag(0x0028, 0x9110)).unwrap();
        assert_eq!(measures[0].floats(PIXEL_SPACING), [0.5, 0.5]);
        assert_eq!(ds.sequence(REFERENCED_SOP_SEQUENCE), Some(&[][..]));
        assert_eq!(ds.string(Tag(0x0009, 0x1001)), Some("private"));
        assert_eq!(ds.get(Tag(0x0009, 0x1001)).unwrap().vr, "XX");
        assert_eq!(ds.string(TRANSFER_SYNTAX_UID), None);
        assert!(!ds.contains(PIXEL_DATA));
        // Wrong-kind accessors answer None rather than guess.
        assert_eq!(ds.string(ROWS), None);
        assert_eq!(ds.int(PATIENT_NAME), None);
        assert_eq!(ds.sequence(ROWS), None);
    }

    #[test]
    fn numbers_given_as_strings_numbers_or_nonsense() {
        let ds = &Dataset::parse_array(
            r#"[{
            "00280010": {"vr": "US", "Value": [" 512 "]},
            "00281053": {"vr": "DS", "Value": ["1.5E+00"]},
            "00281052": {"vr": "DS", "Value": ["+.5e1"]},
            "00200032": {"vr": "DS", "Value": [1, null, "", "3"]},
            "00281050": {"vr": "DS", "Value": ["N/A"]},
            "00280008": {"vr": "IS", "Value": ["2.5"]},
            "00091010": {"vr": "LO", "Value": ["9007199254740993"]},
            "00201206": {"vr": "IS", "Value": [1e300]},
            "00280011": {"vr": "US", "Value": ["NaN"]},
            "00280030": {"vr": "DS", "Value": [null]},
            "00180050": {"vr": "ds", "Value": "2.5"}
        }]"#,
        )
        .unwrap()[0];
        assert_eq!(ds.int(ROWS), Some(512));
        assert_eq!(ds.float(RESCALE_SLOPE), Some(1.5));
        assert_eq!(ds.float(RESCALE_INTERCEPT), Some(5.0));
        assert_eq!(
            ds.floats(IMAGE_POSITION_PATIENT),
            [1.0, 3.0],
            "null and empty entries are left out"
        );
        assert_eq!(
            ds.get(WINDOW_CENTER).unwrap().value,
            Value::Strings(vec![Some("N/A".into())])
        );
        assert_eq!(ds.float(WINDOW_CENTER), None);
        assert!(ds.floats(WINDOW_CENTER).is_empty());
        assert_eq!(ds.int(NUMBER_OF_FRAMES), None, "2.5 is not an integer");
        assert_eq!(
            ds.int(Tag(0x0009, 0x1010)),
            Some(9_007_199_254_740_993),
            "exact from text"
        );
        assert_eq!(
            ds.int(NUMBER_OF_STUDY_RELATED_SERIES),
            None,
            "out of i64 range"
        );
        assert_eq!(ds.int(COLUMNS), None);
        assert_eq!(ds.get(PIXEL_SPACING).unwrap().value, Value::Empty);
        assert_eq!(ds.get(SLICE_THICKNESS).unwrap().vr, "DS");
        assert_eq!(ds.float(SLICE_THICKNESS), Some(2.5), "a bare scalar Value");
    }

    #[test]
    fn person_names_in_every_form() {
        let ds = &Dataset::parse_array(
            r#"[{
            "00100010": {"vr": "PN", "Value": [null, {"Alphabetic": "B^b"}]},
            "00080090": {"vr": "PN", "Value": [{}]},
            "00081060": {"vr": "PN", "Value": ["A^a", {"Ideographic": "甲"}]}
        }]"#,
        )
        .unwrap()[0];
        assert_eq!(ds.person_name(PATIENT_NAME), Some(&PersonName::default()));
        assert_eq!(ds.string(PATIENT_NAME), None);
        assert_eq!(ds.strings(PATIENT_NAME), ["B^b"]);
        assert_eq!(ds.strings(Tag(0x0008, 0x1060)), ["A^a"]);
        let study = StudyRecord::from_dataset(&{
            let mut d = ds.clone();
            d.insert(
                STUDY_INSTANCE_UID,
                Element {
                    vr: "UI".into(),
                    value: Value::Strings(vec![Some("1.2".into())]),
                },
            );
            d
        })
        .unwrap();
        assert_eq!(
            study.referring_physician_name, None,
            "an empty name object is no name"
        );
    }

    #[test]
    fn stow_response_with_failed_and_referenced_sequences() {
        let ds = &Dataset::parse_array(r#"{
            "00081190": {"vr": "UR", "Value": ["http://127.0.0.1:8042/dicom-web/studies/1.2"]},
            "00081198": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
                "00081155": {"vr": "UI", "Value": ["1.2.3"]}, "00081197": {"vr": "US", "Value": [49442]}}]},
            "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.4"]},
                "00081190": {"vr": "UR", "Value": ["http://x/instances/1.2.4"]}}, null]}
        }"#).unwrap()[0];
        let failed = ds.sequence(FAILED_SOP_SEQUENCE).unwrap();
        assert_eq!(failed[0].int(FAILURE_REASON), Some(0xC122));
        assert_eq!(failed[0].string(REFERENCED_SOP_INSTANCE_UID), Some("1.2.3"));
        let stored = ds.sequence(REFERENCED_SOP_SEQUENCE).unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].string(REFERENCED_SOP_INSTANCE_UID), Some("1.2.4"));
        assert!(stored[1].is_empty(), "a null item is an empty data set");
    }

    #[test]
    fn empty_bodies_and_top_level_shapes() {
        assert!(Dataset::parse_array("").unwrap().is_empty());
        assert!(Dataset::parse_array(" \r\n\t").unwrap().is_empty());
        assert!(Dataset::parse_array("[]").unwrap().is_empty());
        assert!(Dataset::parse_array("\u{feff}[{}]").unwrap()[0].is_empty());
        assert_eq!(Dataset::parse_array("{}").unwrap().len(), 1);
        for (text, found) in [
            ("42", "a number"),
            ("\"x\"", "a string"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            assert_eq!(
                Dataset::parse_array(text).unwrap_err(),
                JsonModelError::NotAnArray { found }
            );
        }
        let err = Dataset::parse_array("[{}, 3]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a DICOM data set (a JSON object) at data set 2, found a number"
        );
        assert_eq!(
            Dataset::from_json(&serde_json::json!([]))
                .unwrap_err()
                .to_string(),
            "expected a DICOM data set (a JSON object) at the top level, found an array"
        );
    }

    #[test]
    fn errors_say_where() {
        let err = Dataset::parse_array("<html>502 Bad Gateway</html>").unwrap_err();
        assert!(
            matches!(
                err,
                JsonModelError::NotJson {
                    line: 1,
                    column: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            Dataset::parse_array("[{\"0020000D\": {\"vr\": \"UI\"").unwrap_err(),
            JsonModelError::NotJson { .. }
        ));

        let err = Dataset::parse_array(r#"[{}, {"PatientName": {"vr": "PN"}}]"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "attribute key \"PatientName\" at data set 2 is not a tag of 8 hexadecimal digits"
        );

        let nested = r#"[{"00081199": {"vr": "SQ", "Value": [{}, {"00081155": {"vr": "UI", "Value": [["1.2"]]}}]}}]"#;
        let err = Dataset::parse_array(nested).unwrap_err();
        assert_eq!(err.to_string(), "attribute data set 1 > (0008,1199) > item 2 > (0008,1155): value 1 is an array, not a string");

        let err = Dataset::parse_array(r#"[{"00100010": {"Value": ["x"]}}]"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "attribute data set 1 > (0010,0010): has no \"vr\""
        );
        let err =
            Dataset::parse_array(r#"[{"00081199": {"vr": "SQ", "Value": ["x"]}}]"#).unwrap_err();
        assert!(
            err.to_string().contains("sequence item 1 is a string"),
            "{err}"
        );
        let err = Dataset::parse_array(r#"[{"7FE00010": {"vr": "OB", "InlineBinary": "AA=A"}}]"#)
            .unwrap_err();
        assert_eq!(err.to_string(), "attribute data set 1 > (7FE0,0010): InlineBinary: base64 data after '=' padding at offset 3");
        let err =
            Dataset::parse_array(r#"[{"00100010": {"vr": "PN", "Value": [7]}}]"#).unwrap_err();
        assert!(
            err.to_string().contains("person name 1 is a number"),
            "{err}"
        );
    }

    #[test]
    fn sequences_nested_too_deep_are_refused() {
        // Text cannot get this deep: serde_json stops at 128 JSON levels (about 42
        // sequence levels). A Value built in code has no such limit.
        let nest = |levels: usize| {
            let mut v = serde_json::json!({"00080005": {"vr": "CS", "Value": ["x"]}});
            for _ in 0..levels {
                v = serde_json::json!({"00081199": {"vr": "SQ", "Value": [v]}});
            }
            v
        };
        assert!(Dataset::from_json(&nest(MAX_SEQUENCE_DEPTH)).is_ok());
        let err = Dataset::from_json(&nest(MAX_SEQUENCE_DEPTH + 1)).unwrap_err();
        assert!(
            matches!(
                err,
                JsonModelError::SequenceTooDeep {
                    limit: MAX_SEQUENCE_DEPTH,
                    ..
                }
            ),
            "{err}"
        );
        let mut text = String::from("{}");
        for _ in 0..50 {
            text = format!(r#"{{"00081199": {{"vr": "SQ", "Value": [{text}]}}}}"#);
        }
        assert!(matches!(
            Dataset::parse_array(&text).unwrap_err(),
            JsonModelError::NotJson { .. }
        ));
    }

    #[test]
    fn base64_decodes_standard_vectors_and_refuses_junk() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg==", b"foob"),
            ("Zm9vYmE=", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
            ("Zm9vYmE", b"fooba"),
            ("Zm9v\r\nYmFy", b"foobar"),
            ("+/8=", &[0xFB, 0xFF]),
            ("-_8", &[0xFB, 0xFF]),
        ] {
            assert_eq!(decode_base64(text).unwrap(), bytes, "{text:?}");
        }
        for junk in ["Z", "Zm9vY", "Zg===", "Z!==", "Zg==Zg==", "é"] {
            assert!(decode_base64(junk).is_err(), "{junk:?}");
        }
        // Every byte value survives a round trip through a simple encoder.
        let all: Vec<u8> = (0..=255).collect();
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut encoded = String::new();
        for chunk in all.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))
                << (8 * (3 - chunk.len()));
            for k in 0..=chunk.len() {
                encoded.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            }
        }
        assert_eq!(decode_base64(&encoded).unwrap(), all);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces = [
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "\"vr\"",
            "\"Value\"",
            "\"SQ\"",
            "\"PN\"",
            "\"DS\"",
            "\"IS\"",
            "\"UI\"",
            "\"0020000D\"",
            "\"00081199\"",
            "\"zz\"",
            "null",
            "1e999",
            "-0",
            "\"InlineBinary\"",
            "\"QQ==\"",
            "\"BulkDataURI\"",
            "\"Alphabetic\"",
            "\" 5 \"",
            "\"\u{0}\"",
            "\"é\"",
            "true",
            "12345678901234567890",
        ];
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            if let Ok(datasets) = Dataset::parse_array(&text) {
                for ds in &datasets {
                    for tag in [STUDY_INSTANCE_UID, REFERENCED_SOP_SEQUENCE] {
                        let _ = (
                            ds.string(tag),
                            ds.strings(tag),
                            ds.int(tag),
                            ds.float(tag),
                            ds.floats(tag),
                        );
                        let _ = (ds.person_name(tag), ds.sequence(tag), ds.bulk_data_uri(tag));
                    }
                    let _ = (
                        StudyRecord::from_dataset(ds),
                        SeriesRecord::from_dataset(ds),
                        InstanceRecord::from_dataset(ds),
                    );
                }
            }
        }
        for _ in 0..2_000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = Dataset::parse_array(&String::from_utf8_lossy(&bytes));
            let _ = decode_base64(&String::from_utf8_lossy(&bytes));
        }
    }
}
