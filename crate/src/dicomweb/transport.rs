//! The one small interface between the DICOMweb client and the network, so that the
//! same client code runs on browser `fetch` (wasm) and on a native HTTP client (CLI,
//! tests) — the Orthanc Stone "oracle" idea. Bodies stream: a multipart reply is parsed
//! part by part while it arrives.

use super::error::DicomWebError;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Cancels requests that are no longer needed (the user scrolled on): checked before a
/// request is sent and between body chunks, so a cancelled multipart reply stops
/// within one chunk.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Options => "OPTIONS",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub cancel: Option<CancelToken>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            cancel: None,
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn cancellable(mut self, cancel: Option<&CancelToken>) -> Self {
        self.cancel = cancel.cloned();
        self
    }
}

/// A response whose body is read in chunks.
pub struct HttpResponse<B> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: B,
}

impl<B> HttpResponse<B> {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response body arriving in chunks; `None` at the end.
pub trait BodyStream {
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>, DicomWebError>>;
}

/// Sends one request. Implementations: [`super::native::NativeTransport`] (ureq) and,
/// in wasm, `web::FetchTransport` (browser fetch with streaming bodies).
pub trait Transport {
    type Body: BodyStream;
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse<Self::Body>, DicomWebError>>;
}

/// Reads a whole body into memory, refusing one larger than `limit` bytes (a lying
/// or runaway server must not exhaust memory).
pub async fn read_all<B: BodyStream>(
    body: &mut B,
    limit: u64,
    url: &str,
) -> Result<Vec<u8>, DicomWebError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next_chunk().await? {
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(DicomWebError::Body {
                url: url.to_string(),
                message: format!("reply larger than the {limit}-byte limit"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The first `limit` bytes of a body (for error messages); read errors end it early.
pub async fn read_prefix<B: BodyStream>(body: &mut B, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match body.next_chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]),
            _ => break,
        }
    }
    out
}
