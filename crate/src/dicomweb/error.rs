//! Errors of the DICOMweb client. Each carries the method, the URL (never a token:
//! credentials travel only in headers) and what the server said.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DicomWebError {
    /// 401/403: the shell can refresh its token and retry once.
    #[error("{method} {url}: authentication failed (HTTP {status}){}", fmt_msg(.message))]
    Authentication {
        method: String,
        url: String,
        status: u16,
        message: String,
    },

    /// Any other non-success status. `retry_after_ms`: the server's Retry-After
    /// (delta-seconds), when it sent one (429, 503).
    #[error("{method} {url}: HTTP {status}{}", fmt_msg(.message))]
    Http {
        method: String,
        url: String,
        status: u16,
        message: String,
        retry_after_ms: Option<u64>,
    },

    /// The request never got a response (connection refused, reset, DNS, TLS).
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },

    /// No response within the configured time.
    #[error("{method} {url}: timed out after {seconds} s")]
    Timeout {
        method: String,
        url: String,
        seconds: u64,
    },

    /// The caller cancelled the request.
    #[error("{method} {url}: cancelled")]
    Cancelled { method: String, url: String },

    /// The body was not what its Content-Type promised.
    #[error("{url}: {message}")]
    Body { url: String, message: String },

    /// A URL or query could not be built.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

fn fmt_msg(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {}", m.chars().take(300).collect::<String>())
    }
}

impl DicomWebError {
    /// True when a fresh token might make the request succeed.
    pub fn is_authentication(&self) -> bool {
        matches!(self, DicomWebError::Authentication { .. })
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DicomWebError::Authentication { status, .. } | DicomWebError::Http { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// How long the server asked to wait before a retry (its Retry-After).
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            DicomWebError::Http { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// Transient: worth a retry with backoff (5xx, 429, dropped connections, timeouts).
    pub fn is_transient(&self) -> bool {
        match self {
            DicomWebError::Http { status, .. } => *status == 429 || *status >= 500,
            DicomWebError::Transport { .. } | DicomWebError::Timeout { .. } => true,
            _ => false,
        }
    }
}

/// A Retry-After header's delay in ms: delta-seconds only (an HTTP-date, which
/// needs a trustworthy clock, yields `None` and the caller's own backoff).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok().map(|s| s.min(24 * 3600) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_delta_seconds_only() {
        assert_eq!(parse_retry_after("3"), Some(3000));
        assert_eq!(parse_retry_after(" 0 "), Some(0));
        assert_eq!(parse_retry_after("99999999999"), Some(24 * 3600 * 1000));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("1.5"), None);
        assert_eq!(parse_retry_after(""), None);
    }
}
