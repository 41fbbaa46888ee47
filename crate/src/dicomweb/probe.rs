//! `lumen probe`: "does it work with our PACS?" Each check asks the server one
//! question the viewer depends on and records what it answered and how fast.

use super::client::{DicomWebClient, QidoQuery, ACCEPT_STORED_FRAMES};
use super::error::DicomWebError;
use super::json::{tags, StudyRecord};
use super::transport::{read_prefix, HttpRequest, Method, Transport};
use crate::codec::TransferSyntax;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    Info,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub area: &'static str,
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
    pub ms: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeReport {
    pub base_url: String,
    pub checks: Vec<Check>,
}

impl ProbeReport {
    pub fn find(&self, area: &str, name_contains: &str) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.area == area && c.name.contains(name_contains))
    }

    /// A readable table.
    pub fn table(&self) -> String {
        let mut s = format!("DICOMweb probe of {}\n\n", self.base_url);
        let w = self
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(10)
            .min(60);
        let mut area = "";
        for c in &self.checks {
            if c.area != area {
                area = c.area;
                s.push_str(&format!("{area}\n"));
            }
            let mark = match c.outcome {
                Outcome::Pass => "ok  ",
                Outcome::Warn => "WARN",
                Outcome::Fail => "FAIL",
                Outcome::Info => "    ",
            };
            let ms =
                c.ms.map(|m| format!("{m:>7.1} ms"))
                    .unwrap_or_else(|| " ".repeat(10));
            s.push_str(&format!(
                "  {mark} {:<w$} {ms}  {}\n",
                c.name,
                c.detail,
                w = w
            ));
        }
        s
    }
}

/// Clock for response times: `std::time` natively; the caller supplies one in wasm.
pub trait Clock {
    fn now_ms(&self) -> f64;
}

struct Probe<'a, C: Clock> {
    clock: &'a C,
    checks: Vec<Check>,
}

impl<C: Clock> Probe<'_, C> {
    fn add(
        &mut self,
        area: &'static str,
        name: impl Into<String>,
        outcome: Outcome,
        detail: impl Into<String>,
        ms: Option<f64>,
    ) {
        self.checks.push(Check {
            area,
            name: name.into(),
            outcome,
            detail: detail.into(),
            ms: ms.map(|m| (m * 10.0).round() / 10.0),
        });
    }

    async fn timed<R>(
        &self,
        f: impl std::future::Future<Output = Result<R, DicomWebError>>,
    ) -> (Result<R, DicomWebError>, f64) {
        let t = self.clock.now_ms();
        let r = f.await;
        (r, self.clock.now_ms() - t)
    }
}

fn short(e: &DicomWebError) -> String {
    match e {
        DicomWebError::Http {
            status, message, ..
        }
        | DicomWebError::Authentication {
            status, message, ..
        } => {
            let m: String = message.chars().take(80).collect();
            if m.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {m}")
            }
        }
        other => other.to_string(),
    }
}

/// Runs every check. `origin`, when given, is the page origin whose CORS access is tested.
pub async fn probe<T: Transport, C: Clock>(
    client: &DicomWebClient<T>,
    clock: &C,
    origin: Option<&str>,
) -> ProbeReport {
    let mut p = Probe {
        clock,
        checks: Vec::new(),
    };

    // --- QIDO-RS: studies, and what a worklist needs from them.
    let all = QidoQuery::new().include("all").limit(50);
    let (studies, ms) = p.timed(client.search_studies(&all)).await;
    let studies: Vec<StudyRecord> = match studies {
        Ok(s) => {
            p.add(
                "QIDO-RS",
                "studies (includefield=all, limit=50)",
                Outcome::Pass,
                format!("{} study(ies)", s.len()),
                Some(ms),
            );
            s
        }
        Err(e) => {
            let outcome = if e.is_authentication() {
                Outcome::Fail
            } else {
                Outcome::Fail
            };
            p.add("QIDO-RS", "studies", outcome, short(&e), Some(ms));
            return ProbeReport {
                base_url: client.base_url().to_string(),
                checks: p.checks,
            };
        }
    };
    if studies.is_empty() {
        p.add(
            "QIDO-RS",
            "studies present",
            Outcome::Warn,
            "no studies: the remaining checks need at least one",
            None,
        );
        return ProbeReport {
            base_url: client.base_url().to_string(),
            checks: p.checks,
        };
    }
    let worklist_fields: [(&str, fn(&StudyRecord) -> bool); 8] = [
        ("PatientName", |s| s.patient_name.is_some()),
        ("PatientID", |s| s.patient_id.is_some()),
        ("StudyDate", |s| s.study_date.is_some()),
        ("AccessionNumber", |s| s.accession_number.is_some()),
        ("StudyDescription", |s| s.study_description.is_some()),
        ("ModalitiesInStudy", |s| !s.modalities_in_study.is_empty()),
        ("NumberOfStudyRelatedSeries", |s| {
            s.number_of_series.is_some()
        }),
        ("NumberOfStudyRelatedInstances", |s| {
            s.number_of_instances.is_some()
        }),
    ];
    for (name, has) in worklist_fields {
        let n = studies.iter().filter(|s| has(s)).count();
        let outcome = if n == studies.len() {
            Outcome::Pass
        } else {
            Outcome::Warn
        };
        p.add(
            "worklist attributes",
            name,
            outcome,
            format!("in {n} of {} studies", studies.len()),
            None,
        );
    }

    // --- QIDO match types, each judged by whether the expected study comes back.
    let first = studies[0].clone();
    let uid = first.study_instance_uid.clone();
    let contains = |r: &Result<Vec<StudyRecord>, DicomWebError>| -> Result<bool, DicomWebError> {
        r.as_ref()
            .map(|v| v.iter().any(|s| s.study_instance_uid == uid))
            .map_err(Clone::clone)
    };
    let mut matchers: Vec<(String, QidoQuery)> = Vec::new();
    if let Some(date) = first.study_date.clone().filter(|d| d.len() == 8) {
        matchers.push((
            format!("StudyDate closed range {date}-{date}"),
            QidoQuery::new().matching("StudyDate", &format!("{date}-{date}")),
        ));
        matchers.push((
            format!("StudyDate open range -{date}"),
            QidoQuery::new().matching("StudyDate", &format!("-{date}")),
        ));
        matchers.push((
            format!("StudyDate open range {date}-"),
            QidoQuery::new().matching("StudyDate", &format!("{date}-")),
        ));
    }
    if let Some(pid) = first.patient_id.clone().filter(|p| !p.is_empty()) {
        let prefix: String = pid.chars().take(pid.chars().count().div_ceil(2)).collect();
        matchers.push((
            format!("PatientID wildcard {prefix}*"),
            QidoQuery::new().matching("PatientID", &format!("{prefix}*")),
        ));
        let mut q: String = pid.chars().collect();
        q.replace_range(
            q.len() - q.chars().last().map(char::len_utf8).unwrap_or(1)..,
            "?",
        );
        matchers.push((
            format!("PatientID single-character wildcard {q}"),
            QidoQuery::new().matching("PatientID", &q),
        ));
    }
    matchers.push((
        "StudyInstanceUID exact".into(),
        QidoQuery::new().matching("StudyInstanceUID", &uid),
    ));
    if let Some(other) = studies.get(1) {
        matchers.push((
            "StudyInstanceUID list (2 UIDs)".into(),
            QidoQuery::new().matching(
                "StudyInstanceUID",
                &format!("{uid},{}", other.study_instance_uid),
            ),
        ));
    }
    matchers.push((
        "fuzzymatching=true accepted".into(),
        QidoQuery::new().matching("StudyInstanceUID", &uid).fuzzy(),
    ));
    for (name, q) in matchers {
        let (r, ms) = p.timed(client.search_studies(&q)).await;
        match contains(&r) {
            Ok(true) => p.add(
                "QIDO match types",
                name,
                Outcome::Pass,
                "expected study returned",
                Some(ms),
            ),
            Ok(false) => p.add(
                "QIDO match types",
                name,
                Outcome::Warn,
                "answered, but without the expected study",
                Some(ms),
            ),
            Err(e) => p.add("QIDO match types", name, Outcome::Fail, short(&e), Some(ms)),
        }
    }
    // includefield: ask for one field by keyword and one by tag on a query that
    // would not return them by default.
    for field in ["StudyDescription", "00081030"] {
        let (r, ms) = p
            .timed(client.search(
                &format!("studies?StudyInstanceUID={uid}"),
                &QidoQuery::new().include(field),
            ))
            .await;
        match r {
            Ok(sets)
                if sets
                    .iter()
                    .any(|d| d.get(tags::STUDY_DESCRIPTION).is_some()) =>
            {
                p.add(
                    "QIDO match types",
                    format!("includefield={field}"),
                    Outcome::Pass,
                    "field returned",
                    Some(ms),
                )
            }
            Ok(_) => p.add(
                "QIDO match types",
                format!("includefield={field}"),
                Outcome::Warn,
                "field not returned",
                Some(ms),
            ),
            Err(e) => p.add(
                "QIDO match types",
                format!("includefield={field}"),
                Outcome::Fail,
                short(&e),
                Some(ms),
            ),
        }
    }
    if studies.len() >= 2 {
        let (a, ms) = p
            .timed(client.search_studies(&QidoQuery::new().limit(1).offset(0)))
            .await;
        let (b, _) = p
            .timed(client.search_studies(&QidoQuery::new().limit(1).offset(1)))
            .await;
        match (a, b) {
            (Ok(a), Ok(b))
                if a.len() == 1
                    && b.len() == 1
                    && a[0].study_instance_uid != b[0].study_instance_uid =>
            {
                p.add(
                    "QIDO match types",
                    "limit=1 with offset=0 and offset=1",
                    Outcome::Pass,
                    "one study each, different",
                    Some(ms),
                )
            }
            (Ok(a), Ok(b)) => p.add(
                "QIDO match types",
                "limit=1 with offset=0 and offset=1",
                Outcome::Warn,
                format!("{} and {} result(s)", a.len(), b.len()),
                Some(ms),
            ),
            (Err(e), _) | (_, Err(e)) => p.add(
                "QIDO match types",
                "limit/offset",
                Outcome::Fail,
                short(&e),
                Some(ms),
            ),
        }
    }

    // --- Resource levels.
    let (series, ms) = p
        .timed(client.search_series(Some(&uid), &QidoQuery::new()))
        .await;
    let series = match series {
        Ok(s) => {
            p.add(
                "QIDO-RS",
                "studies/{uid}/series",
                Outcome::Pass,
                format!("{} series", s.len()),
                Some(ms),
            );
            s
        }
        Err(e) => {
            p.add(
                "QIDO-RS",
                "studies/{uid}/series",
                Outcome::Fail,
                short(&e),
                Some(ms),
            );
            Vec::new()
        }
    };
    for (path, name) in [
        ("series", "series (all studies)"),
        ("instances", "instances (all studies)"),
    ] {
        let (r, ms) = p
            .timed(client.search(path, &QidoQuery::new().limit(5)))
            .await;
        match r {
            Ok(v) => p.add(
                "QIDO-RS",
                name,
                Outcome::Pass,
                format!("{} result(s)", v.len()),
                Some(ms),
            ),
            Err(e) => p.add("QIDO-RS", name, Outcome::Warn, short(&e), Some(ms)),
        }
    }
    if let Some(se) = series.first() {
        let (r, ms) = p
            .timed(client.search_instances(
                Some(&uid),
                Some(&se.series_instance_uid),
                &QidoQuery::new(),
            ))
            .await;
        match r {
            Ok(v) => p.add(
                "QIDO-RS",
                "studies/{uid}/series/{uid}/instances",
                Outcome::Pass,
                format!("{} instance(s)", v.len()),
                Some(ms),
            ),
            Err(e) => p.add(
                "QIDO-RS",
                "studies/{uid}/series/{uid}/instances",
                Outcome::Fail,
                short(&e),
                Some(ms),
            ),
        }
    }

    // --- WADO-RS metadata over up to 25 studies: does it say the transfer syntax and
    // the pixel description? One instance per series becomes a frames candidate.
    struct Candidate {
        study: String,
        series: String,
        sop: String,
        declared: Option<TransferSyntax>,
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    let (mut metadata_checked, mut with_ts, mut with_pixel) = (0, 0, 0);
    for (i, st) in studies.iter().take(25).enumerate() {
        let (r, ms) = p
            .timed(client.metadata(&st.study_instance_uid, None, None))
            .await;
        let sets = match r {
            Ok(s) => s,
            Err(e) => {
                p.add(
                    "WADO-RS",
                    "study metadata",
                    Outcome::Fail,
                    short(&e),
                    Some(ms),
                );
                continue;
            }
        };
        if i == 0 {
            p.add(
                "WADO-RS",
                "study metadata",
                Outcome::Pass,
                format!("{} instance(s)", sets.len()),
                Some(ms),
            );
        }
        for d in sets {
            metadata_checked += 1;
            let declared = d
                .string(tags::TRANSFER_SYNTAX_UID)
                .or_else(|| d.string(tags::AVAILABLE_TRANSFER_SYNTAX_UID));
            if declared.is_some() {
                with_ts += 1;
            }
            let has_pixel = d.int(tags::ROWS).is_some()
                && d.int(tags::COLUMNS).is_some()
                && d.int(tags::BITS_ALLOCATED).is_some()
                && d.string(tags::PHOTOMETRIC_INTERPRETATION).is_some();
            if !has_pixel {
                continue;
            }
            with_pixel += 1;
            let (Some(se), Some(sop)) = (
                d.string(tags::SERIES_INSTANCE_UID),
                d.string(tags::SOP_INSTANCE_UID),
            ) else {
                continue;
            };
            if candidates.iter().any(|c| c.series == se) || candidates.len() >= 60 {
                continue;
            }
            candidates.push(Candidate {
                study: st.study_instance_uid.clone(),
                series: se.to_string(),
                sop: sop.to_string(),
                declared: declared.and_then(|u| TransferSyntax::from_uid(u).ok()),
            });
        }
    }
    let outcome = if with_ts == metadata_checked {
        Outcome::Pass
    } else {
        Outcome::Warn
    };
    p.add(
        "WADO-RS",
        "metadata gives Transfer Syntax UID (0002,0010)",
        outcome,
        format!("{with_ts} of {metadata_checked} instances"),
        None,
    );
    p.add("WADO-RS", "metadata gives the Image Pixel description", Outcome::Info, format!("{with_pixel} of {metadata_checked} instances have Rows, Columns, Bits Allocated, Photometric Interpretation"), None);

    // --- Frames: one row per stored transfer syntax (declared by the metadata, or, where
    // it says nothing, as the stored-bytes reply's bytes show): stored bytes or
    // transcoded, refused or not, labels true or not.
    let mut rows: BTreeMap<String, (Outcome, String, f64)> = BTreeMap::new();
    let mut boundary_style = None;
    let mut rendered_targets = Vec::new();
    for c in &candidates {
        let url = client.url(&format!(
            "studies/{}/series/{}/instances/{}/frames/1",
            c.study, c.series, c.sop
        ));
        let direct = client
            .send(HttpRequest::get(&url).header("Accept", ACCEPT_STORED_FRAMES))
            .await;
        let refused = match direct {
            Ok(mut resp) => {
                let ct = resp.header("Content-Type").unwrap_or("").to_string();
                if boundary_style.is_none() && ct.contains("boundary=") {
                    boundary_style = Some(if ct.contains("boundary=\"") {
                        "quoted"
                    } else {
                        "unquoted"
                    });
                }
                let _ = read_prefix(&mut resp.body, client.body_limit() as usize).await;
                None
            }
            Err(e) => Some(short(&e)),
        };
        let mut got = None;
        let (r, ms) = p
            .timed(
                client.retrieve_frames(&c.study, &c.series, &c.sop, &[1], None, |f| got = Some(f)),
            )
            .await;
        let (key, row) = match (r, got) {
            (Ok(retrieval), Some(frame)) => {
                let stored = c.declared.or(if retrieval.fell_back {
                    None
                } else {
                    Some(frame.transfer_syntax)
                });
                let key = match stored {
                    Some(ts) => format!("{} ({})", ts.name(), ts.uid()),
                    None => format!(
                        "a syntax the server would not send as stored (default reply: {})",
                        frame.transfer_syntax.name()
                    ),
                };
                let as_stored = stored.map(|s| s.codec() == frame.transfer_syntax.codec());
                let mut detail = format!(
                    "{} bytes as {}, labelled {}",
                    frame.bytes.len(),
                    frame.transfer_syntax.name(),
                    frame.content_type.as_deref().unwrap_or("-")
                );
                if let Some(why) = &refused {
                    detail = format!("transfer-syntax=* refused ({why}); default reply: {detail}");
                }
                if frame.mislabelled {
                    detail.push_str("; THE LABEL DOES NOT MATCH THE BYTES");
                }
                let kind = match (as_stored, retrieval.fell_back) {
                    (Some(true), false) => "stored bytes",
                    (Some(true), true) => "stored bytes on the fallback",
                    (Some(false), _) => "transcoded",
                    (None, _) => "unknown",
                };
                let outcome =
                    if retrieval.fell_back || frame.mislabelled || as_stored == Some(false) {
                        Outcome::Warn
                    } else {
                        Outcome::Pass
                    };
                if outcome == Outcome::Pass && rendered_targets.len() < 3 {
                    rendered_targets.push((c.study.clone(), c.series.clone(), c.sop.clone()));
                }
                (key, (outcome, format!("{kind}: {detail}"), ms))
            }
            (Ok(_), None) => (
                format!("instance {}", c.sop),
                (Outcome::Fail, "no part in the reply".to_string(), ms),
            ),
            (Err(e), _) => {
                let key = c
                    .declared
                    .map(|t| format!("{} ({})", t.name(), t.uid()))
                    .unwrap_or_else(|| format!("instance {}", c.sop));
                (
                    key,
                    (
                        Outcome::Fail,
                        format!(
                            "{}{}",
                            refused
                                .map(|r| format!("transfer-syntax=* refused ({r}); "))
                                .unwrap_or_default(),
                            short(&e)
                        ),
                        ms,
                    ),
                )
            }
        };
        rows.entry(key).or_insert(row);
    }
    for (key, (outcome, detail, ms)) in rows {
        p.add(
            "WADO-RS frames",
            format!("frames of {key}"),
            outcome,
            detail,
            Some(ms),
        );
    }
    if let Some(style) = boundary_style {
        p.add(
            "WADO-RS frames",
            "multipart boundary",
            Outcome::Info,
            style,
            None,
        );
    }

    // --- Rendered and thumbnail: the first of a few instances that answers counts.
    for (kind, path) in [("thumbnail", "thumbnail"), ("rendered", "rendered")] {
        let mut last = None;
        for (st, se, sop) in &rendered_targets {
            let url = client.url(&format!("studies/{st}/series/{se}/instances/{sop}/{path}"));
            let (r, ms) = p
                .timed(client.send(HttpRequest::get(&url).header("Accept", "image/jpeg")))
                .await;
            match r {
                Ok(mut resp) => {
                    let ct = resp.header("Content-Type").unwrap_or("").to_string();
                    let n = read_prefix(&mut resp.body, client.body_limit() as usize)
                        .await
                        .len();
                    last = Some((Outcome::Pass, format!("{ct}, {n} bytes"), ms));
                    break;
                }
                Err(e) => {
                    let fallback = if kind == "thumbnail" {
                        "; the client falls back to rendered"
                    } else {
                        ""
                    };
                    last = Some((Outcome::Warn, format!("{}{fallback}", short(&e)), ms));
                }
            }
        }
        if let Some((outcome, detail, ms)) = last {
            p.add("WADO-RS", kind, outcome, detail, Some(ms));
        }
    }

    // --- CORS for the page's origin.
    if let Some(origin) = origin {
        let url = client.url("studies?limit=1");
        let preflight = HttpRequest {
            method: Method::Options,
            url: url.clone(),
            headers: vec![
                ("Origin".into(), origin.into()),
                ("Access-Control-Request-Method".into(), "GET".into()),
                (
                    "Access-Control-Request-Headers".into(),
                    "authorization, accept".into(),
                ),
            ],
            body: None,
            timeout: None,
            cancel: None,
        };
        let (r, ms) = p.timed(client.send(preflight)).await;
        match r {
            Ok(resp) => {
                let allow = resp
                    .header("Access-Control-Allow-Origin")
                    .map(str::to_string);
                let ok = allow.as_deref() == Some("*") || allow.as_deref() == Some(origin);
                p.add(
                    "CORS",
                    format!("preflight OPTIONS from {origin}"),
                    if ok { Outcome::Pass } else { Outcome::Fail },
                    format!(
                        "Access-Control-Allow-Origin: {}",
                        allow.unwrap_or_else(|| "(none)".into())
                    ),
                    Some(ms),
                );
            }
            Err(e) => p.add(
                "CORS",
                format!("preflight OPTIONS from {origin}"),
                Outcome::Fail,
                short(&e),
                Some(ms),
            ),
        }
        let (r, ms) = p
            .timed(
                client.send(
                    HttpRequest::get(&url)
                        .header("Origin", origin)
                        .header("Accept", "application/dicom+json"),
                ),
            )
            .await;
        match r {
            Ok(mut resp) => {
                let allow = resp
                    .header("Access-Control-Allow-Origin")
                    .map(str::to_string);
                let _ = read_prefix(&mut resp.body, client.body_limit() as usize).await;
                let ok = allow.as_deref() == Some("*") || allow.as_deref() == Some(origin);
                p.add(
                    "CORS",
                    format!("GET from {origin}"),
                    if ok { Outcome::Pass } else { Outcome::Fail },
                    format!(
                        "Access-Control-Allow-Origin: {}",
                        allow.unwrap_or_else(|| {
                            "(none): a page on that origin cannot read replies".into()
                        })
                    ),
                    Some(ms),
                );
            }
            Err(e) => p.add(
                "CORS",
                format!("GET from {origin}"),
                Outcome::Fail,
                short(&e),
                Some(ms),
            ),
        }
    }
    ProbeReport {
        base_url: client.base_url().to_string(),
        checks: p.checks,
    }
}
