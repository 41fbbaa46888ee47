//! The DICOMweb client: QIDO-RS, WADO-RS (metadata, frames streamed part by part,
//! bulk data, rendered, thumbnail, instances), WADO-URI and STOW-RS, over any
//! [`Transport`]. It knows HTTP and DICOM JSON, nothing about pixels: frames leave it
//! as bytes plus the transfer syntax their bytes really have.

use super::error::DicomWebError;
use super::json::{tags, Dataset, InstanceRecord, SeriesRecord, StudyRecord};
use super::multipart::{MultipartParser, Part};
use super::sniff::{label_transfer_syntax, sniff_transfer_syntax};
use super::transport::{
    read_all, read_prefix, BodyStream, CancelToken, HttpRequest, HttpResponse, Method, Transport,
};
use crate::codec::TransferSyntax;
use url::Url;

/// One server: where it is and how to authenticate. Credentials are sent only to
/// this origin; a BulkDataURI or RetrieveURL elsewhere gets none.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// DICOMweb root, e.g. `http://127.0.0.1:8042/dicom-web`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`.
    pub bearer_token: Option<String>,
    /// Extra headers (e.g. an API key).
    pub headers: Vec<(String, String)>,
    /// WADO-URI endpoint for legacy servers, e.g. `http://127.0.0.1:8042/wado`.
    pub wado_uri_url: Option<String>,
    /// Largest multipart part accepted (default 512 MiB): a lying or runaway server
    /// cannot make the client buffer without bound.
    pub max_part_bytes: Option<u64>,
}

const DEFAULT_MAX_PART_BYTES: u64 = 512 << 20;

/// A QIDO-RS query: match keys, includefield, fuzzy matching, paging.
#[derive(Debug, Clone, Default)]
pub struct QidoQuery {
    params: Vec<(String, String)>,
}

impl QidoQuery {
    pub fn new() -> Self {
        Self::default()
    }
    /// Exact value, wildcard (`*`, `?`), UID list (`a,b`) or range (`20200101-20201231`,
    /// `-20201231`, `20200101-`) for an attribute keyword or tag.
    pub fn matching(mut self, attribute: &str, value: &str) -> Self {
        self.params.push((attribute.to_string(), value.to_string()));
        self
    }
    /// `includefield` with a keyword, a tag, or `all`.
    pub fn include(mut self, field: &str) -> Self {
        self.params.push(("includefield".into(), field.to_string()));
        self
    }
    pub fn fuzzy(mut self) -> Self {
        self.params.push(("fuzzymatching".into(), "true".into()));
        self
    }
    pub fn limit(mut self, n: u32) -> Self {
        self.params.push(("limit".into(), n.to_string()));
        self
    }
    pub fn offset(mut self, n: u32) -> Self {
        self.params.push(("offset".into(), n.to_string()));
        self
    }
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

/// One frame from a WADO-RS frames request.
#[derive(Debug, Clone)]
pub struct RetrievedFrame {
    /// 1-based frame number, as requested.
    pub number: u32,
    pub bytes: Vec<u8>,
    /// What the bytes are (sniffed; see [`sniff_transfer_syntax`]).
    pub transfer_syntax: TransferSyntax,
    /// The part's Content-Type as the server sent it.
    pub content_type: Option<String>,
    /// True when the label disagreed with the bytes.
    pub mislabelled: bool,
}

/// How the server answered a frames request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRetrieval {
    /// The Accept header that worked.
    pub accept: String,
    /// True when the first choice (stored bytes) was refused and we fell back.
    pub fell_back: bool,
    pub frames: usize,
}

/// What STOW-RS reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    pub status: u16,
    /// SOP Instance UIDs stored (00081199).
    pub stored: Vec<String>,
    /// (SOP Instance UID, Failure Reason) from 00081198.
    pub failed: Vec<(String, Option<u16>)>,
    /// Warning Reason (00081196), if any.
    pub warning: Option<u16>,
    /// Parts the server refused without listing them (Orthanc does this).
    pub unaccounted: usize,
}

impl StoreOutcome {
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.unaccounted == 0 && (200..300).contains(&self.status)
    }
}

/// The stored bytes, as stored: what every viewer should ask for first.
pub const ACCEPT_STORED_FRAMES: &str =
    "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";
/// The server's default (uncompressed) frames: the fallback.
pub const ACCEPT_DEFAULT_FRAMES: &str = "multipart/related; type=\"application/octet-stream\"";

/// The server's explanation from an error body, on one line: the `Message` and
/// `Details` of a JSON error object (Orthanc's form), else the text itself.
pub fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(&text) {
        let field = |k: &str| {
            o.get(k)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        match (
            field("Message").or(field("message")).or(field("error")),
            field("Details"),
        ) {
            (Some(m), Some(d)) => return format!("{m} ({d})"),
            (Some(m), None) => return m.to_string(),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Percent-encodes a query name or value minimally: only what would change the
/// query's meaning (`&`, `=`, `+`, `#`, `%`, space, controls, non-ASCII). QIDO
/// wildcards (`*`, `?`), ranges, UID lists and media types (`/`) stay literal,
/// because some servers (Orthanc 1.10) do not decode percent-escapes in queries.
pub fn encode_query_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'&' | b'=' | b'+' | b'#' | b'%' | b' ' | 0..=0x1F | 0x7F..=0xFF => {
                out.push_str(&format!("%{b:02X}"))
            }
            _ => out.push(b as char),
        }
    }
    out
}

pub struct DicomWebClient<T: Transport> {
    config: ServerConfig,
    base: Url,
    transport: T,
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl<T: Transport> DicomWebClient<T> {
    pub fn new(config: ServerConfig, transport: T) -> Result<Self, DicomWebError> {
        let trimmed = config.base_url.trim_end_matches('/');
        let base = Url::parse(&format!("{trimmed}/")).map_err(|e| {
            DicomWebError::InvalidRequest(format!("base URL {:?}: {e}", config.base_url))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(DicomWebError::InvalidRequest(format!(
                "base URL {:?} is not http(s)",
                config.base_url
            )));
        }
        Ok(DicomWebClient {
            config,
            base,
            transport,
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The most bytes one reply (or one multipart part) may hold.
    pub fn body_limit(&self) -> u64 {
        self.config.max_part_bytes.unwrap_or(DEFAULT_MAX_PART_BYTES)
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `{base}/{path}` with path segments as given (UIDs need no escaping).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url(), path.trim_start_matches('/'))
    }

    /// Adds credentials when — and only when — `url` is on the configured server's origin.
    fn authorise(&self, request: &mut HttpRequest) {
        let same_origin = Url::parse(&request.url)
            .map(|u| origin(&u) == origin(&self.base))
            .unwrap_or(false);
        if !same_origin {
            return;
        }
        if let Some(token) = &self.config.bearer_token {
            request
                .headers
                .push(("Authorization".into(), format!("Bearer {token}")));
        }
        request.headers.extend(self.config.headers.iter().cloned());
    }

    /// Sends a request and turns a non-2xx status into a typed error carrying the
    /// server's message.
    pub async fn send(
        &self,
        mut request: HttpRequest,
    ) -> Result<HttpResponse<T::Body>, DicomWebError> {
        self.authorise(&mut request);
        let method = request.method.as_str().to_string();
        let url = request.url.clone();
        if request
            .cancel
            .as_ref()
            .is_some_and(CancelToken::is_cancelled)
        {
            return Err(DicomWebError::Cancelled { method, url });
        }
        let mut response = self.transport.send(request).await?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let retry_after_ms = response
            .header("Retry-After")
            .and_then(super::error::parse_retry_after);
        let body = read_prefix(&mut response.body, 64 << 10).await;
        let message = server_message(&body);
        let status = response.status;
        Err(if status == 401 || status == 403 {
            DicomWebError::Authentication {
                method,
                url,
                status,
                message,
            }
        } else {
            DicomWebError::Http {
                method,
                url,
                status,
                message,
                retry_after_ms,
            }
        })
    }

    async fn get_json(&self, url: String) -> Result<Vec<Dataset>, DicomWebError> {
        let mut response = self
            .send(HttpRequest::get(&url).header("Accept", "application/dicom+json"))
            .await?;
        if response.status == 204 {
            return Ok(Vec::new());
        }
        let body = read_all(&mut response.body, self.body_limit(), &url).await?;
        let text = String::from_utf8_lossy(&body);
        Dataset::parse_array(&text).map_err(|e| DicomWebError::Body {
            url,
            message: e.to_string(),
        })
    }

    fn with_query(&self, path: &str, query: &QidoQuery) -> Result<String, DicomWebError> {
        let mut url = self.url(path);
        for (i, (k, v)) in query.params.iter().enumerate() {
            let sep = if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            };
            url.push(sep);
            url.push_str(&encode_query_component(k));
            url.push('=');
            url.push_str(&encode_query_component(v));
        }
        Ok(url)
    }

    /// QIDO-RS at any level: `studies`, `studies/{uid}/series`, `series`,
    /// `studies/{uid}/series/{uid}/instances`, `instances`, …
    pub async fn search(
        &self,
        path: &str,
        query: &QidoQuery,
    ) -> Result<Vec<Dataset>, DicomWebError> {
        self.get_json(self.with_query(path, query)?).await
    }

    /// QIDO-RS results as typed records; a record that cannot be built (e.g. no UID)
    /// is a body error naming the URL.
    async fn search_records<R, E: std::fmt::Display>(
        &self,
        path: &str,
        query: &QidoQuery,
        build: fn(&Dataset) -> Result<R, E>,
    ) -> Result<Vec<R>, DicomWebError> {
        let url = self.with_query(path, query)?;
        let sets = self.get_json(url.clone()).await?;
        sets.iter()
            .map(|d| {
                build(d).map_err(|e| DicomWebError::Body {
                    url: url.clone(),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    pub async fn search_studies(
        &self,
        query: &QidoQuery,
    ) -> Result<Vec<StudyRecord>, DicomWebError> {
        self.search_records("studies", query, StudyRecord::from_dataset)
            .await
    }

    pub async fn search_series(
        &self,
        study: Option<&str>,
        query: &QidoQuery,
    ) -> Result<Vec<SeriesRecord>, DicomWebError> {
        let path = match study {
            Some(s) => format!("studies/{s}/series"),
            None => "series".into(),
        };
        self.search_records(&path, query, SeriesRecord::from_dataset)
            .await
    }

    pub async fn search_instances(
        &self,
        study: Option<&str>,
        series: Option<&str>,
        query: &QidoQuery,
    ) -> Result<Vec<InstanceRecord>, DicomWebError> {
        let path = match (study, series) {
            (Some(st), Some(se)) => format!("studies/{st}/series/{se}/instances"),
            (Some(st), None) => format!("studies/{st}/instances"),
            _ => "instances".into(),
        };
        self.search_records(&path, query, InstanceRecord::from_dataset)
            .await
    }

    /// WADO-RS metadata for a study, a series (`series = Some`) or an instance.
    pub async fn metadata(
        &self,
        study: &str,
        series: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Vec<Dataset>, DicomWebError> {
        let path = match (series, instance) {
            (Some(se), Some(i)) => format!("studies/{study}/series/{se}/instances/{i}/metadata"),
            (Some(se), None) => format!("studies/{study}/series/{se}/metadata"),
            _ => format!("studies/{study}/metadata"),
        };
        self.get_json(self.url(&path)).await
    }

    /// Streams a multipart reply, handing each part to `on_part` as soon as it is
    /// complete. Returns how many parts arrived.
    pub async fn stream_parts(
        &self,
        request: HttpRequest,
        mut on_part: impl FnMut(Part) -> Result<(), DicomWebError>,
    ) -> Result<usize, DicomWebError> {
        let url = request.url.clone();
        let method = request.method.as_str();
        let cancel = request.cancel.clone();
        let mut response = self.send(request).await?;
        let content_type = response
            .header("Content-Type")
            .unwrap_or("application/octet-stream")
            .to_string();
        let body_err = |e: &dyn std::fmt::Display| DicomWebError::Body {
            url: url.clone(),
            message: e.to_string(),
        };
        let limit = self.config.max_part_bytes.unwrap_or(DEFAULT_MAX_PART_BYTES);
        let mut parser = MultipartParser::new(&content_type)
            .map_err(|e| body_err(&e))?
            .with_part_limit(limit);
        let mut count = 0;
        while let Some(chunk) = response.body.next_chunk().await? {
            if cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
                return Err(DicomWebError::Cancelled {
                    method: method.into(),
                    url,
                });
            }
            for part in parser.feed(&chunk).map_err(|e| body_err(&e))? {
                count += 1;
                on_part(part)?;
            }
        }
        for part in parser.finish().map_err(|e| body_err(&e))? {
            count += 1;
            on_part(part)?;
        }
        Ok(count)
    }

    /// WADO-RS frames, stored bytes first (`transfer-syntax=*`), falling back to the
    /// server's default when it refuses (Orthanc answers 500 for some syntaxes).
    /// Each frame goes to `on_frame` as soon as its part is complete.
    pub async fn retrieve_frames(
        &self,
        study: &str,
        series: &str,
        instance: &str,
        frames: &[u32],
        cancel: Option<&CancelToken>,
        mut on_frame: impl FnMut(RetrievedFrame),
    ) -> Result<FrameRetrieval, DicomWebError> {
        if frames.is_empty() {
            return Err(DicomWebError::InvalidRequest("no frame numbers".into()));
        }
        let list = frames
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let url = self.url(&format!(
            "studies/{study}/series/{series}/instances/{instance}/frames/{list}"
        ));
        let mut fell_back = false;
        for accept in [ACCEPT_STORED_FRAMES, ACCEPT_DEFAULT_FRAMES] {
            let mut next = 0usize;
            let result = self
                .stream_parts(
                    HttpRequest::get(&url)
                        .header("Accept", accept)
                        .cancellable(cancel),
                    |part| {
                        let number = *frames.get(next).ok_or_else(|| DicomWebError::Body {
                            url: url.clone(),
                            message: format!(
                                "more parts than the {} frame(s) requested",
                                frames.len()
                            ),
                        })?;
                        next += 1;
                        let label = label_transfer_syntax(
                            part.content_type.as_deref(),
                            part.transfer_syntax.as_deref(),
                        );
                        let ts = sniff_transfer_syntax(&part.body, label);
                        on_frame(RetrievedFrame {
                            number,
                            mislabelled: label.map(|l| l.codec() != ts.codec()).unwrap_or(false),
                            content_type: part.content_type,
                            transfer_syntax: ts,
                            bytes: part.body,
                        });
                        Ok(())
                    },
                )
                .await;
            match result {
                Ok(n) if n == frames.len() => {
                    return Ok(FrameRetrieval {
                        accept: accept.to_string(),
                        fell_back,
                        frames: n,
                    })
                }
                Ok(n) => {
                    return Err(DicomWebError::Body {
                        url,
                        message: format!("{n} part(s) for {} frame(s)", frames.len()),
                    })
                }
                // Refusals of the stored-bytes request: try the server's default once.
                Err(DicomWebError::Http { status, .. })
                    if accept == ACCEPT_STORED_FRAMES
                        && next == 0
                        && matches!(status, 400 | 406 | 415 | 500 | 501 | 503) =>
                {
                    fell_back = true;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Resolves a BulkDataURI (absolute, or relative to the base) and fetches it.
    /// Credentials go only to the configured origin.
    pub async fn bulk_data(&self, uri: &str) -> Result<Vec<u8>, DicomWebError> {
        let url = self
            .base
            .join(uri)
            .map_err(|e| DicomWebError::InvalidRequest(format!("BulkDataURI {uri:?}: {e}")))?;
        let mut out = Vec::new();
        self.stream_parts(
            HttpRequest::get(url.as_str()).header(
                "Accept",
                "multipart/related; type=\"application/octet-stream\", application/octet-stream",
            ),
            |part| {
                out.extend_from_slice(&part.body);
                Ok(())
            },
        )
        .await?;
        Ok(out)
    }

    /// WADO-RS rendered (a consumer image, e.g. JPEG or PNG): (content type, bytes).
    pub async fn rendered(
        &self,
        study: &str,
        series: &str,
        instance: &str,
        frame: Option<u32>,
        accept: &str,
    ) -> Result<(String, Vec<u8>), DicomWebError> {
        let mut path = format!("studies/{study}/series/{series}/instances/{instance}");
        if let Some(f) = frame {
            path.push_str(&format!("/frames/{f}"));
        }
        path.push_str("/rendered");
        self.get_bytes(self.url(&path), accept).await
    }

    /// WADO-RS thumbnail, falling back to rendered where the server has none
    /// (Orthanc: 404).
    pub async fn thumbnail(
        &self,
        study: &str,
        series: &str,
        instance: &str,
        accept: &str,
    ) -> Result<(String, Vec<u8>), DicomWebError> {
        let url = self.url(&format!(
            "studies/{study}/series/{series}/instances/{instance}/thumbnail"
        ));
        match self.get_bytes(url, accept).await {
            Err(DicomWebError::Http { status, .. }) if matches!(status, 400 | 404 | 406 | 501) => {
                self.rendered(study, series, instance, None, accept).await
            }
            other => other,
        }
    }

    async fn get_bytes(
        &self,
        url: String,
        accept: &str,
    ) -> Result<(String, Vec<u8>), DicomWebError> {
        let mut response = self
            .send(HttpRequest::get(&url).header("Accept", accept))
            .await?;
        let ct = response.header("Content-Type").unwrap_or("").to_string();
        Ok((
            ct,
            read_all(&mut response.body, self.body_limit(), &url).await?,
        ))
    }

    /// A whole instance as a Part 10 file (WADO-RS, `application/dicom`).
    pub async fn instance(
        &self,
        study: &str,
        series: &str,
        instance: &str,
    ) -> Result<Vec<u8>, DicomWebError> {
        let url = self.url(&format!(
            "studies/{study}/series/{series}/instances/{instance}"
        ));
        let mut file = None;
        self.stream_parts(
            HttpRequest::get(&url).header(
                "Accept",
                "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
            ),
            |part| {
                file.get_or_insert(part.body);
                Ok(())
            },
        )
        .await?;
        file.ok_or(DicomWebError::Body {
            url,
            message: "no part in the reply".into(),
        })
    }

    /// WADO-URI, for legacy servers: `?requestType=WADO&studyUID=…&contentType=application/dicom`.
    pub async fn wado_uri(
        &self,
        study: &str,
        series: &str,
        object: &str,
    ) -> Result<Vec<u8>, DicomWebError> {
        let endpoint = self.config.wado_uri_url.clone().ok_or_else(|| {
            DicomWebError::InvalidRequest("no WADO-URI endpoint configured".into())
        })?;
        Url::parse(&endpoint).map_err(|e| {
            DicomWebError::InvalidRequest(format!("WADO-URI endpoint {endpoint:?}: {e}"))
        })?;
        let mut url = endpoint.clone();
        let pairs = [
            ("requestType", "WADO"),
            ("studyUID", study),
            ("seriesUID", series),
            ("objectUID", object),
            ("contentType", "application/dicom"),
        ];
        for (i, (k, v)) in pairs.iter().enumerate() {
            url.push(if i == 0 && !endpoint.contains('?') {
                '?'
            } else {
                '&'
            });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode_query_component(v));
        }
        Ok(self
            .get_bytes(url.to_string(), "application/dicom")
            .await?
            .1)
    }

    /// STOW-RS: stores Part 10 files in one multipart request and reports what the
    /// server said, partial success included.
    pub async fn store(
        &self,
        study: Option<&str>,
        instances: &[Vec<u8>],
    ) -> Result<StoreOutcome, DicomWebError> {
        let boundary = format!(
            "lumen-{:016x}",
            instances.iter().map(|i| i.len() as u64).sum::<u64>() ^ 0x5DEECE66D
        );
        let mut body = Vec::with_capacity(
            instances.iter().map(Vec::len).sum::<usize>() + 128 * instances.len(),
        );
        for inst in instances {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(inst);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let url = match study {
            Some(s) => self.url(&format!("studies/{s}")),
            None => self.url("studies"),
        };
        let mut request = HttpRequest {
            method: Method::Post,
            url: url.clone(),
            headers: vec![
                (
                    "Content-Type".into(),
                    format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
                ),
                ("Accept".into(), "application/dicom+json".into()),
            ],
            body: Some(body),
            timeout: None,
            cancel: None,
        };
        self.authorise(&mut request);
        let mut response = self.transport.send(request).await?;
        let status = response.status;
        let bytes = read_all(&mut response.body, self.body_limit(), &url).await?;
        if status == 401 || status == 403 {
            let message = server_message(&bytes);
            return Err(DicomWebError::Authentication {
                method: "POST".into(),
                url,
                status,
                message,
            });
        }
        let text = String::from_utf8_lossy(&bytes);
        let reply = Dataset::parse_array(&text)
            .ok()
            .and_then(|v| v.into_iter().next());
        let Some(reply) = reply else {
            if (200..300).contains(&status) {
                return Ok(StoreOutcome {
                    status,
                    unaccounted: instances.len(),
                    ..Default::default()
                });
            }
            return Err(DicomWebError::Http {
                method: "POST".into(),
                url,
                status,
                message: text.trim().to_string(),
                retry_after_ms: None,
            });
        };
        let uid = |d: &Dataset| {
            d.string(tags::REFERENCED_SOP_INSTANCE_UID)
                .unwrap_or_default()
                .to_string()
        };
        let stored: Vec<String> = reply
            .sequence(tags::REFERENCED_SOP_SEQUENCE)
            .unwrap_or_default()
            .iter()
            .map(uid)
            .collect();
        let failed: Vec<(String, Option<u16>)> = reply
            .sequence(tags::FAILED_SOP_SEQUENCE)
            .unwrap_or_default()
            .iter()
            .map(|d| (uid(d), d.int(tags::FAILURE_REASON).map(|v| v as u16)))
            .collect();
        let warning = reply.int(tags::WARNING_REASON).map(|v| v as u16);
        let unaccounted = instances.len().saturating_sub(stored.len() + failed.len());
        Ok(StoreOutcome {
            status,
            stored,
            failed,
            warning,
            unaccounted,
        })
    }
}
