//! The native transport: ureq (blocking, rustls for https) behind the async
//! [`Transport`] interface. Used by the CLI and the tests against a real server; the
//! blocking reads are fine there, since each caller drives one request at a time.

use super::error::DicomWebError;
use super::transport::{BodyStream, HttpRequest, HttpResponse, Method, Transport};
use std::io::Read;
use std::time::Duration;

pub struct NativeTransport {
    agent: ureq::Agent,
    timeout: Duration,
}

impl NativeTransport {
    /// `timeout` bounds a whole request, body included.
    pub fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(5)
            .build();
        NativeTransport {
            agent: ureq::Agent::new_with_config(config),
            timeout,
        }
    }
}

impl Default for NativeTransport {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

pub struct NativeBody {
    reader: Option<ureq::BodyReader<'static>>,
    method: &'static str,
    url: String,
    timeout: Duration,
}

fn io_error(
    method: &str,
    url: &str,
    timeout: Duration,
    e: &dyn std::fmt::Display,
    timed_out: bool,
) -> DicomWebError {
    if timed_out {
        DicomWebError::Timeout {
            method: method.into(),
            url: url.into(),
            seconds: timeout.as_secs(),
        }
    } else {
        DicomWebError::Transport {
            method: method.into(),
            url: url.into(),
            message: e.to_string(),
        }
    }
}

impl BodyStream for NativeBody {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, DicomWebError> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf) {
            Ok(0) => {
                self.reader = None;
                Ok(None)
            }
            Ok(n) => {
                buf.truncate(n);
                Ok(Some(buf))
            }
            Err(e) => {
                let timed_out =
                    e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("imeout");
                Err(io_error(
                    self.method,
                    &self.url,
                    self.timeout,
                    &e,
                    timed_out,
                ))
            }
        }
    }
}

impl Transport for NativeTransport {
    type Body = NativeBody;

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse<NativeBody>, DicomWebError> {
        let method = request.method.as_str();
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(&request.url);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let url = request.url.clone();
        let invalid =
            |e: ureq::http::Error| DicomWebError::InvalidRequest(format!("{method} {url}: {e}"));
        let result = match (request.method, request.body) {
            (Method::Post, body) => {
                let req = builder.body(body.unwrap_or_default()).map_err(invalid)?;
                self.agent.run(req)
            }
            (_, _) => {
                let req = builder.body(()).map_err(invalid)?;
                self.agent.run(req)
            }
        };
        let response = result.map_err(|e| {
            let timed_out = matches!(e, ureq::Error::Timeout(_));
            io_error(method, &url, self.timeout, &e, timed_out)
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader();
        Ok(HttpResponse {
            status,
            headers,
            body: NativeBody {
                reader: Some(body),
                method,
                url,
                timeout: self.timeout,
            },
        })
    }
}
