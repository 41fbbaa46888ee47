//! Streaming parser for `multipart/related` response bodies (WADO-RS frames, bulk
//! data and instances; PS3.18 §8.7.3, RFC 2046 §5.1, RFC 2387).
//!
//! Owns: splitting a body that arrives in chunks of any size into [`Part`]s, each
//! with its headers and its exact body bytes, and handing every part on as soon as
//! the boundary after it has been seen. Also owns the fallback for servers that send
//! a single part bare (a non-multipart Content-Type).
//!
//! Never touches: the network (the caller feeds bytes), pixels or DICOM content
//! (a part body is opaque bytes), and never buffers more than the caller has fed:
//! bytes already known to belong to a part body are moved out of the scan buffer,
//! so the scan buffer holds at most one chunk plus a boundary's length (or one
//! part's header block, which is capped by [`DEFAULT_HEADER_LIMIT`]).
//!
//! Tolerated beyond the RFC, because real servers do it: unquoted `boundary`/`type`
//! parameters (Orthanc), parameters in any order and case, whitespace around `;`
//! and `=`, bare LF line endings in boundary lines and part headers, whitespace
//! (transport padding) after a boundary, folded header lines.

use thiserror::Error;

/// Default cap on one part's header block, in bytes. A real part has two or three
/// short headers; a block this large means the boundary or the body is wrong, and
/// without a cap a broken stream would be buffered whole while looking for the
/// empty line.
pub const DEFAULT_HEADER_LIMIT: usize = 64 * 1024;

/// RFC 2046 allows 70 characters; some servers use longer ones, so allow more, but
/// the boundary sizes the skip table, which stores shifts as `u8`.
const MAX_BOUNDARY_LEN: usize = 200;

/// Whitespace allowed between a boundary and its line end ("transport padding").
/// Past this the candidate is treated as body data, so a hostile body cannot make
/// the parser wait forever on a half-seen boundary line.
const MAX_TRANSPORT_PADDING: usize = 256;

/// Upper bound on what one `Content-Length` may pre-reserve; a bigger part still
/// works, it just grows as its bytes arrive. The header is outside data and must
/// not size an allocation on its own.
const MAX_PRERESERVE: u64 = 16 * 1024 * 1024;

/// One body part of a multipart response, or the whole body of a single-part one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part {
    /// Every header of the part, names and values trimmed, in arrival order
    /// (folded lines joined with a space). In single-part mode: the response's
    /// `Content-Type`, if it was not empty.
    pub headers: Vec<(String, String)>,
    /// The media type of the part's `Content-Type`, lowercased, without parameters
    /// (`image/jpeg`). `None` when the part has no `Content-Type`; RFC 2387 then
    /// implies the response's `type` parameter, see
    /// [`MultipartParser::related_type`]. The full value stays in `headers`.
    pub content_type: Option<String>,
    /// The `transfer-syntax` parameter of the part's `Content-Type`, unquoted
    /// (`1.2.840.10008.1.2.4.50`). Servers are known to mislabel (Orthanc sends
    /// HTJ2K labelled `1.2.840.10008.1.2.1`): decoders should still sniff.
    pub transfer_syntax: Option<String>,
    /// The part's `Content-Location`, trimmed.
    pub content_location: Option<String>,
    /// The body bytes exactly as sent: the CRLF before the next boundary belongs to
    /// the boundary and is not included.
    pub body: Vec<u8>,
}

impl Part {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a multipart body could not be split into parts. Parts are numbered from 1
/// in the order they arrive.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MultipartError {
    /// The Content-Type says multipart but gives no `boundary` parameter.
    #[error("Content-Type {content_type:?} is multipart but has no boundary parameter")]
    MissingBoundary { content_type: String },

    /// The `boundary` parameter is empty, too long or contains a line break.
    #[error("multipart boundary {boundary:?} is not usable: {reason}")]
    InvalidBoundary {
        boundary: String,
        reason: &'static str,
    },

    /// A part's header block has no empty line within the limit.
    #[error("headers of part {part} exceed {limit} bytes without the empty line that ends them")]
    HeaderTooLarge { part: usize, limit: usize },

    /// A header line is not `Name: value`.
    #[error("part {part} has a malformed header line {line:?} (expected `Name: value`)")]
    MalformedHeader { part: usize, line: String },

    /// The bytes after a part's declared Content-Length are not a boundary.
    #[error("part {part} declares Content-Length {declared} but no boundary follows that many body bytes")]
    ContentLengthMismatch { part: usize, declared: u64 },

    /// A part (or a single-part body) is larger than the configured ceiling.
    #[error("part {part} is larger than the limit of {limit} bytes")]
    PartTooLarge { part: usize, limit: u64 },

    /// The body ended and the boundary never appeared: most likely the boundary
    /// parameter does not match the body.
    #[error("multipart body of {bytes} byte(s) ended without any boundary {boundary:?}")]
    NoBoundaryFound { boundary: String, bytes: u64 },

    /// The body ended inside a part or before the closing boundary.
    #[error("multipart body ended after {parts} complete part(s) without the closing boundary")]
    Truncated { parts: usize },
}

/// Headers of the part whose body is being read.
#[derive(Debug, Default)]
struct PartHeaders {
    headers: Vec<(String, String)>,
    content_type: Option<String>,
    transfer_syntax: Option<String>,
    content_location: Option<String>,
    content_length: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not multipart: every byte is the one part's body.
    Single,
    /// Before the first boundary: bytes are discarded.
    Preamble,
    /// Reading a header block that starts at `pos`. `line_start` and `scanned` are
    /// offsets from `pos`, so that compaction of the buffer leaves them valid and
    /// no byte is examined twice.
    Headers { line_start: usize, scanned: usize },
    /// Reading a body of unknown length: scanning for the delimiter.
    BodyScan,
    /// Reading a body of declared length.
    BodyFixed { remaining: u64, declared: u64 },
    /// A declared-length body is complete; the delimiter must come next.
    ExpectDelimiter { declared: u64 },
    /// After the closing boundary: everything is ignored.
    Epilogue,
}

/// What follows a `\n--boundary` candidate.
enum Tail {
    /// Not enough bytes yet to tell.
    NeedMore,
    /// The candidate continues with other characters: it is data, not a boundary.
    NotDelimiter,
    /// `--`: the closing delimiter.
    Close,
    /// Optional padding and a line end; the value is how many bytes that took.
    Open(usize),
}

/// A push parser for a `multipart/related` body (or a bare single-part body).
///
/// Feed chunks of any size with [`feed`](Self::feed), collect the parts each call
/// returns, then call [`finish`](Self::finish) at end of body: a multipart body is
/// only complete once its closing boundary has been seen.
///
/// Cost: each body byte is copied twice (into the scan buffer, then into its part)
/// and examined about once per boundary length (Horspool search); the scan position
/// is kept across calls, so no byte is rescanned, whatever the chunk sizes.
#[derive(Debug)]
pub struct MultipartParser {
    state: State,
    /// The response's Content-Type value, trimmed (single-part mode reports it).
    content_type: String,
    media_type: String,
    related_type: Option<String>,
    response_transfer_syntax: Option<String>,
    boundary: String,
    /// `\n--` + boundary. Matching on the LF (and dropping a CR before it) accepts
    /// both CRLF and bare-LF delimiters with one search.
    delimiter: Vec<u8>,
    /// Horspool shift per byte value; every shift is at most `delimiter.len()`.
    shift: [u8; 256],
    /// Unconsumed bytes; `buf[..pos]` is consumed and dropped at the end of `feed`.
    buf: Vec<u8>,
    pos: usize,
    /// Next candidate start for the delimiter search (absolute index into `buf`).
    scan: usize,
    /// The body of the current part, as far as it is known.
    body: Vec<u8>,
    pending: PartHeaders,
    parts_completed: usize,
    bytes_received: u64,
    header_limit: usize,
    part_limit: Option<u64>,
    /// An error found while parts completed in the same chunk were being returned:
    /// it is reported by the next call, so that those parts are not lost.
    failed: Option<MultipartError>,
}

impl MultipartParser {
    /// Builds a parser from the response's `Content-Type` header value.
    ///
    /// A `multipart/*` type must carry a usable `boundary` parameter (quoted or
    /// not). Any other type, including an empty one, gives single-part mode: the
    /// whole body is returned as one [`Part`] by [`finish`](Self::finish), with
    /// `content_type` and `transfer_syntax` taken from this header.
    pub fn new(content_type: &str) -> Result<Self, MultipartError> {
        let raw = content_type.trim().to_string();
        let (media_type, params) = parse_media_type(&raw);
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let related_type = param("type").filter(|t| !t.is_empty());
        let response_transfer_syntax = param("transfer-syntax").filter(|t| !t.is_empty());
        let mut parser = MultipartParser {
            state: State::Single,
            content_type: raw.clone(),
            media_type: media_type.clone(),
            related_type,
            response_transfer_syntax,
            boundary: String::new(),
            delimiter: Vec::new(),
            shift: [0; 256],
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            body: Vec::new(),
            pending: PartHeaders::default(),
            parts_completed: 0,
            bytes_received: 0,
            header_limit: DEFAULT_HEADER_LIMIT,
            part_limit: None,
            failed: None,
        };
        if !media_type.starts_with("multipart/") {
            return Ok(parser);
        }
        let boundary = param("boundary").ok_or_else(|| MultipartError::MissingBoundary {
            content_type: raw.clone(),
        })?;
        let invalid = |reason| MultipartError::InvalidBoundary {
            boundary: boundary.clone(),
            reason,
        };
        if boundary.is_empty() {
            return Err(invalid("it is empty"));
        }
        if boundary.len() > MAX_BOUNDARY_LEN {
            return Err(invalid("it is longer than 200 bytes"));
        }
        if boundary.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(invalid("it contains a line break"));
        }
        let mut delimiter = b"\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let m = delimiter.len();
        // Horspool: shift by the distance from the last occurrence of the byte
        // (excluding the final position) to the end of the pattern.
        let mut shift = [m as u8; 256];
        for (i, &b) in delimiter[..m - 1].iter().enumerate() {
            shift[b as usize] = (m - 1 - i) as u8;
        }
        parser.boundary = boundary;
        parser.delimiter = delimiter;
        parser.shift = shift;
        parser.state = State::Preamble;
        // A virtual line break lets a boundary at the very start of the body be
        // found by the same `\n--boundary` search as every later one.
        parser.buf.push(b'\n');
        Ok(parser)
    }

    /// Sets the cap on one part's header block (default [`DEFAULT_HEADER_LIMIT`]).
    pub fn with_header_limit(mut self, bytes: usize) -> Self {
        self.header_limit = bytes;
        self
    }

    /// Sets a ceiling on one part's body (or a single-part body); a larger part
    /// fails with [`MultipartError::PartTooLarge`] as soon as that is known
    /// (immediately when its Content-Length says so). Default: no ceiling.
    pub fn with_part_limit(mut self, bytes: u64) -> Self {
        self.part_limit = Some(bytes);
        self
    }

    /// Whether the response Content-Type was multipart (false: single-part mode).
    pub fn is_multipart(&self) -> bool {
        self.state != State::Single
    }

    /// The response's media type, lowercased (`multipart/related`).
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The response's `type` parameter (`application/octet-stream`), unquoted:
    /// what a part without its own Content-Type is.
    pub fn related_type(&self) -> Option<&str> {
        self.related_type.as_deref()
    }

    /// The response's own `transfer-syntax` parameter, if any.
    pub fn response_transfer_syntax(&self) -> Option<&str> {
        self.response_transfer_syntax.as_deref()
    }

    /// The boundary, unquoted (empty in single-part mode).
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Parts returned so far (single-part mode: 0 until [`finish`](Self::finish)).
    pub fn parts_completed(&self) -> usize {
        self.parts_completed
    }

    /// Feeds the next chunk of the body and returns every part it completed, in
    /// order. A part is complete when the boundary after it has been seen, so parts
    /// are handed on while the rest of the body is still arriving.
    ///
    /// After the closing boundary, further bytes (the epilogue) are ignored. Once an
    /// error has been returned, every later call returns it again. If a chunk both
    /// completes parts and reveals an error, the parts are returned and the error
    /// comes from the next call to `feed` or `finish`.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Part>, MultipartError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.bytes_received = self.bytes_received.saturating_add(chunk.len() as u64);
        match self.state {
            State::Single => {
                self.body.extend_from_slice(chunk);
                if let Err(err) = self.check_part_limit(self.body.len() as u64) {
                    self.failed = Some(err.clone());
                    return Err(err);
                }
                return Ok(Vec::new());
            }
            State::Epilogue => return Ok(Vec::new()),
            _ => {}
        }
        let mut chunk = chunk;
        // A large fixed-length body goes straight from the chunk into the part, not
        // through the scan buffer.
        if let State::BodyFixed {
            remaining,
            declared,
        } = self.state
        {
            if self.pos == self.buf.len() {
                let take = usize::try_from(remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
                self.body.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                let remaining = remaining - take as u64;
                self.state = if remaining == 0 {
                    State::ExpectDelimiter { declared }
                } else {
                    State::BodyFixed {
                        remaining,
                        declared,
                    }
                };
            }
        }
        self.buf.extend_from_slice(chunk);
        let mut parts = Vec::new();
        let result = self.run(&mut parts);
        self.compact();
        match result {
            Ok(()) => Ok(parts),
            Err(err) => {
                self.failed = Some(err.clone());
                if parts.is_empty() {
                    Err(err)
                } else {
                    Ok(parts)
                }
            }
        }
    }

    /// Ends the body. Single-part mode: returns the one part (possibly with an
    /// empty body). Multipart: returns no parts if the closing boundary was seen
    /// (every part has already come from `feed`), otherwise an error that says how
    /// many parts arrived complete.
    pub fn finish(mut self) -> Result<Vec<Part>, MultipartError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        match self.state {
            State::Single => {
                let mut headers = Vec::new();
                if !self.content_type.is_empty() {
                    headers.push(("Content-Type".to_string(), self.content_type.clone()));
                }
                self.parts_completed = 1;
                Ok(vec![Part {
                    headers,
                    content_type: Some(self.media_type.clone()).filter(|t| !t.is_empty()),
                    transfer_syntax: self.response_transfer_syntax.clone(),
                    content_location: None,
                    body: std::mem::take(&mut self.body),
                }])
            }
            State::Epilogue => Ok(Vec::new()),
            State::Preamble => Err(MultipartError::NoBoundaryFound {
                boundary: self.boundary.clone(),
                bytes: self.bytes_received,
            }),
            _ => Err(MultipartError::Truncated {
                parts: self.parts_completed,
            }),
        }
    }

    /// Advances the state machine until it needs more bytes.
    fn run(&mut self, out: &mut Vec<Part>) -> Result<(), MultipartError> {
        loop {
            let progressed = match self.state {
                State::Preamble => self.step_scan(true, out)?,
                State::BodyScan => self.step_scan(false, out)?,
                State::Headers {
                    line_start,
                    scanned,
                } => self.step_headers(line_start, scanned)?,
                State::BodyFixed {
                    remaining,
                    declared,
                } => self.step_fixed(remaining, declared),
                State::ExpectDelimiter { declared } => self.step_expect(declared, out)?,
                State::Epilogue => {
                    self.pos = self.buf.len();
                    false
                }
                State::Single => false,
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Searches for `\n--boundary` from the saved scan position. `discard`: the
    /// bytes before it are preamble, not a part body.
    fn step_scan(&mut self, discard: bool, out: &mut Vec<Part>) -> Result<bool, MultipartError> {
        let m = self.delimiter.len();
        let last = self.delimiter[m - 1];
        let mut i = self.scan.max(self.pos);
        let mut found = None;
        while i + m <= self.buf.len() {
            let b = self.buf[i + m - 1];
            if b == last && self.buf[i..i + m] == self.delimiter[..] {
                match boundary_tail(&self.buf[i + m..]) {
                    Tail::NeedMore => break,
                    Tail::NotDelimiter => {
                        i += 1;
                        continue;
                    }
                    Tail::Close => {
                        found = Some((i, None));
                        break;
                    }
                    Tail::Open(n) => {
                        found = Some((i, Some(n)));
                        break;
                    }
                }
            }
            i += usize::from(self.shift[usize::from(b)]);
        }
        // No delimiter can start before `i`: those bytes are settled.
        if !discard {
            self.body.extend_from_slice(&self.buf[self.pos..i]);
        }
        self.pos = i;
        self.scan = i;
        let Some((at, line_len)) = found else {
            if !discard {
                self.check_part_limit(self.body.len() as u64)?;
            }
            return Ok(false);
        };
        if !discard {
            // The CR of a CRLF delimiter belongs to the delimiter.
            if self.body.last() == Some(&b'\r') {
                self.body.pop();
            }
            self.check_part_limit(self.body.len() as u64)?;
            self.complete_part(out);
        }
        self.after_delimiter(at + m, line_len);
        Ok(true)
    }

    /// Moves past a delimiter whose boundary ends at `end`: into the epilogue if it
    /// was the closing one (`line_len` None), else into the next header block.
    fn after_delimiter(&mut self, end: usize, line_len: Option<usize>) {
        match line_len {
            None => {
                self.state = State::Epilogue;
                self.pos = self.buf.len();
            }
            Some(n) => {
                self.pos = end + n;
                self.scan = self.pos;
                self.state = State::Headers {
                    line_start: 0,
                    scanned: 0,
                };
            }
        }
    }

    /// Looks for the empty line that ends the header block starting at `pos`.
    fn step_headers(
        &mut self,
        mut line_start: usize,
        scanned: usize,
    ) -> Result<bool, MultipartError> {
        let part = self.parts_completed + 1;
        let limit = self.header_limit;
        let mut from = scanned.max(line_start);
        loop {
            let block = &self.buf[self.pos..];
            let Some(offset) = block[from..].iter().position(|&b| b == b'\n') else {
                if block.len() > limit {
                    return Err(MultipartError::HeaderTooLarge { part, limit });
                }
                self.state = State::Headers {
                    line_start,
                    scanned: block.len(),
                };
                return Ok(false);
            };
            let newline = from + offset;
            if newline + 1 > limit {
                return Err(MultipartError::HeaderTooLarge { part, limit });
            }
            let line = &block[line_start..newline];
            if line.is_empty() || line == b"\r" {
                let headers = parse_header_block(&block[..line_start], part)?;
                self.pos += newline + 1;
                self.scan = self.pos;
                self.state = match headers.content_length {
                    Some(declared) => {
                        self.check_part_limit(declared)?;
                        let reserve = declared.min(MAX_PRERESERVE);
                        self.body.reserve(usize::try_from(reserve).unwrap_or(0));
                        if declared == 0 {
                            State::ExpectDelimiter { declared }
                        } else {
                            State::BodyFixed {
                                remaining: declared,
                                declared,
                            }
                        }
                    }
                    None => State::BodyScan,
                };
                self.pending = headers;
                return Ok(true);
            }
            line_start = newline + 1;
            from = line_start;
        }
    }

    /// Copies declared-length body bytes without looking at them.
    fn step_fixed(&mut self, remaining: u64, declared: u64) -> bool {
        let available = self.buf.len() - self.pos;
        let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
        self.body
            .extend_from_slice(&self.buf[self.pos..self.pos + take]);
        self.pos += take;
        let remaining = remaining - take as u64;
        if remaining == 0 {
            self.state = State::ExpectDelimiter { declared };
            true
        } else {
            self.state = State::BodyFixed {
                remaining,
                declared,
            };
            false
        }
    }

    /// Checks that a delimiter directly follows a declared-length body.
    fn step_expect(&mut self, declared: u64, out: &mut Vec<Part>) -> Result<bool, MultipartError> {
        let mismatch = MultipartError::ContentLengthMismatch {
            part: self.parts_completed + 1,
            declared,
        };
        let rest = &self.buf[self.pos..];
        let cr = usize::from(rest.first() == Some(&b'\r'));
        let m = self.delimiter.len();
        let seen = rest.len().saturating_sub(cr).min(m);
        if rest[cr..cr + seen] != self.delimiter[..seen] {
            return Err(mismatch);
        }
        if seen < m {
            return Ok(false);
        }
        let line_len = match boundary_tail(&rest[cr + m..]) {
            Tail::NeedMore => return Ok(false),
            Tail::NotDelimiter => return Err(mismatch),
            Tail::Close => None,
            Tail::Open(n) => Some(n),
        };
        self.complete_part(out);
        let end = self.pos + cr + m;
        self.after_delimiter(end, line_len);
        Ok(true)
    }

    fn complete_part(&mut self, out: &mut Vec<Part>) {
        let headers = std::mem::take(&mut self.pending);
        out.push(Part {
            headers: headers.headers,
            content_type: headers.content_type,
            transfer_syntax: headers.transfer_syntax,
            content_location: headers.content_location,
            body: std::mem::take(&mut self.body),
        });
        self.parts_completed += 1;
    }

    fn check_part_limit(&self, bytes: u64) -> Result<(), MultipartError> {
        match self.part_limit {
            Some(limit) if bytes > limit => Err(MultipartError::PartTooLarge {
                part: self.parts_completed + 1,
                limit,
            }),
            _ => Ok(()),
        }
    }

    /// Drops consumed bytes so the buffer holds only what is still undecided.
    fn compact(&mut self) {
        if self.pos == 0 {
            return;
        }
        self.buf.drain(..self.pos);
        self.scan = self.scan.saturating_sub(self.pos);
        self.pos = 0;
    }
}

/// Classifies the bytes right after `\n--boundary`.
fn boundary_tail(rest: &[u8]) -> Tail {
    match rest.first() {
        None => return Tail::NeedMore,
        Some(b'-') => {
            return match rest.get(1) {
                None => Tail::NeedMore,
                Some(b'-') => Tail::Close,
                Some(_) => Tail::NotDelimiter,
            }
        }
        Some(_) => {}
    }
    let mut k = 0;
    while let Some(b' ' | b'\t') = rest.get(k) {
        k += 1;
        if k > MAX_TRANSPORT_PADDING {
            return Tail::NotDelimiter;
        }
    }
    match rest.get(k) {
        None => Tail::NeedMore,
        Some(b'\n') => Tail::Open(k + 1),
        Some(b'\r') => match rest.get(k + 1) {
            None => Tail::NeedMore,
            Some(b'\n') => Tail::Open(k + 2),
            Some(_) => Tail::NotDelimiter,
        },
        Some(_) => Tail::NotDelimiter,
    }
}

/// Parses one part's header block (without its terminating empty line).
fn parse_header_block(block: &[u8], part: usize) -> Result<PartHeaders, MultipartError> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for raw in block.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        let line = String::from_utf8_lossy(raw);
        if raw[0] == b' ' || raw[0] == b'\t' {
            // RFC 5322 folding: a continuation of the previous header's value.
            if let Some((_, value)) = headers.last_mut() {
                let more = line.trim();
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(more);
                }
                continue;
            }
        }
        let malformed = || MultipartError::MalformedHeader {
            part,
            line: line.chars().take(120).collect(),
        };
        let (name, value) = line.split_once(':').ok_or_else(malformed)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(malformed());
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut parsed = PartHeaders::default();
    if let Some(ct) = find("content-type") {
        let (media_type, params) = parse_media_type(ct);
        parsed.content_type = Some(media_type).filter(|t| !t.is_empty());
        parsed.transfer_syntax = params
            .into_iter()
            .find(|(n, _)| n == "transfer-syntax")
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty());
    }
    parsed.content_location = find("content-location").map(str::to_string);
    // A Content-Length that is not a plain number is ignored rather than fatal:
    // scanning for the boundary finds the body's end anyway.
    parsed.content_length = find("content-length").and_then(|v| {
        let v = v.trim();
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            v.parse::<u64>().ok()
        } else {
            None
        }
    });
    parsed.headers = headers;
    Ok(parsed)
}

/// Splits a Content-Type value into its media type (lowercased) and parameters
/// (names lowercased, values unquoted). Quoted values may contain `;` and
/// backslash escapes; an unterminated quote runs to the end. Malformed parameters
/// are skipped, not fatal: only the ones the caller needs are checked by it.
pub fn parse_media_type(value: &str) -> (String, Vec<(String, String)>) {
    let (media_type, rest) = match value.find(';') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, ""),
    };
    let media_type = media_type.trim().to_ascii_lowercase();
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_whitespace() || *c == ';') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        let mut has_value = false;
        while let Some(&c) = chars.peek() {
            if c == ';' {
                break;
            }
            chars.next();
            if c == '=' {
                has_value = true;
                break;
            }
            name.push(c);
        }
        if !has_value {
            continue;
        }
        while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            val.push(escaped);
                        }
                    }
                    _ => val.push(c),
                }
            }
            // Anything between the closing quote and the next `;` is junk.
            while let Some(&c) = chars.peek() {
                if c == ';' {
                    break;
                }
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ';' {
                    break;
                }
                chars.next();
                val.push(c);
            }
            val = val.trim().to_string();
        }
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() {
            params.push((name, val));
        }
    }
    (media_type, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "d4e8b1a2-6f0c-4a3e-9b7d-31c2e5f8a9b0";

    /// Deterministic pseudo-random numbers for chunk splits and garbage.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    struct Body {
        parts: Vec<(Vec<String>, Vec<u8>)>,
        preamble: &'static str,
        epilogue: &'static str,
        eol: &'static str,
        with_length: bool,
    }

    impl Body {
        fn new(parts: Vec<(Vec<&str>, Vec<u8>)>) -> Self {
            Body {
                parts: parts
                    .into_iter()
                    .map(|(h, b)| (h.into_iter().map(String::from).collect(), b))
                    .collect(),
                preamble: "",
                epilogue: "",
                eol: "\r\n",
                with_length: false,
            }
        }
        fn bytes(&self) -> Vec<u8> {
            let eol = self.eol;
            let mut out = self.preamble.as_bytes().to_vec();
            for (i, (headers, body)) in self.parts.iter().enumerate() {
                if i > 0 || !self.preamble.is_empty() {
                    out.extend_from_slice(eol.as_bytes());
                }
                out.extend_from_slice(format!("--{BOUNDARY}{eol}").as_bytes());
                for h in headers {
                    out.extend_from_slice(format!("{h}{eol}").as_bytes());
                }
                if self.with_length {
                    out.extend_from_slice(
                        format!("Content-Length: {}{eol}", body.len()).as_bytes(),
                    );
                }
                out.extend_from_slice(eol.as_bytes());
                out.extend_from_slice(body);
            }
            out.extend_from_slice(format!("{eol}--{BOUNDARY}--{eol}").as_bytes());
            out.extend_from_slice(self.epilogue.as_bytes());
            out
        }
    }

    fn content_type() -> String {
        format!("multipart/related; type=\"application/octet-stream\"; boundary={BOUNDARY}")
    }

    /// Feeds `body` in chunks of the given sizes (cycled), collecting all parts.
    fn parse_in_chunks(
        ct: &str,
        body: &[u8],
        sizes: &mut dyn FnMut() -> usize,
    ) -> Result<Vec<Part>, MultipartError> {
        let mut parser = MultipartParser::new(ct)?;
        let mut parts = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            parts.extend(parser.feed(&rest[..n])?);
            rest = &rest[n..];
        }
        parts.extend(parser.finish()?);
        Ok(parts)
    }

    fn parse_whole(ct: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
        parse_in_chunks(ct, body, &mut || usize::MAX)
    }

    fn parse_bytewise(ct: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
        parse_in_chunks(ct, body, &mut || 1)
    }

    /// Bodies that contain things resembling the delimiter.
    fn tricky_bodies() -> Vec<Vec<u8>> {
        let b = BOUNDARY;
        vec![
            Vec::new(),
            b"plain".to_vec(),
            b"\r".to_vec(),
            b"\r\n".to_vec(),
            b"ends with CR\r".to_vec(),
            format!("\r\n--{}", &b[..10]).into_bytes(),
            format!("x\r\n--{b}X more").into_bytes(),
            format!("x\r\n--{b}-y").into_bytes(),
            format!("--{b}").into_bytes(),
            format!("\r\n-\r\n--\r\n--{}\r\n--{}", &b[..b.len() - 1], &b[..3]).into_bytes(),
            (0..=255u8).cycle().take(5000).collect(),
        ]
    }

    fn tricky_message() -> Body {
        let parts = tricky_bodies()
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let headers = if i % 3 == 0 {
                    vec![]
                } else {
                    vec!["Content-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", "Content-Location: /x"]
                };
                (headers, body)
            })
            .collect();
        Body::new(parts)
    }

    #[test]
    fn whole_body_yields_each_part_with_exact_bytes() {
        let message = tricky_message();
        let parts = parse_whole(&content_type(), &message.bytes()).unwrap();
        assert_eq!(parts.len(), message.parts.len());
        for (part, (_, body)) in parts.iter().zip(&message.parts) {
            assert_eq!(&part.body, body);
        }
        assert_eq!(
            parts[1].transfer_syntax.as_deref(),
            Some("1.2.840.10008.1.2.1")
        );
        assert_eq!(parts[1].content_location.as_deref(), Some("/x"));
        assert_eq!(parts[0].content_type, None);
        assert!(parts[0].headers.is_empty());
    }

    #[test]
    fn byte_at_a_time_equals_whole_body() {
        for with_length in [false, true] {
            let mut message = tricky_message();
            message.with_length = with_length;
            message.preamble = "This is a preamble with --not-the-boundary\r\n";
            message.epilogue = "epilogue --";
            let bytes = message.bytes();
            let whole = parse_whole(&content_type(), &bytes).unwrap();
            let bytewise = parse_bytewise(&content_type(), &bytes).unwrap();
            assert!(whole == bytewise, "with_length {with_length}");
            assert_eq!(whole.len(), message.parts.len());
        }
    }

    #[test]
    fn every_two_chunk_split_equals_whole_body() {
        let body = b"preamble\r\n--xyz\r\nContent-Type: image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50\r\nContent-Location: http://h/f/1\r\n\r\n\xff\xd8--xy\r\n--x\xff\xd9\r\n--xyz\r\nContent-Type: application/octet-stream\r\n\r\nsecond part\r\n--xyz--\r\nepilogue";
        let whole = {
            let mut p = MultipartParser::new("multipart/related; boundary=xyz").unwrap();
            let mut parts = p.feed(body).unwrap();
            parts.extend(p.finish().unwrap());
            parts
        };
        assert_eq!(whole.len(), 2);
        for at in 0..=body.len() {
            let mut p = MultipartParser::new("multipart/related; boundary=\"xyz\"").unwrap();
            let mut parts = p.feed(&body[..at]).unwrap();
            parts.extend(p.feed(&body[at..]).unwrap());
            parts.extend(p.finish().unwrap());
            assert_eq!(parts.len(), 2, "split at {at}");
            for (a, b) in parts.iter().zip(&whole) {
                assert_eq!(a.body, b.body, "split at {at}");
                assert_eq!(a.transfer_syntax, b.transfer_syntax, "split at {at}");
            }
        }
    }

    #[test]
    fn random_chunk_splits_equal_whole_body() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            let mut message = tricky_message();
            message.with_length = round % 2 == 0;
            if round % 5 == 0 {
                // With bare-LF delimiters a body's own trailing CR is taken as part
                // of the delimiter (documented ambiguity), unless Content-Length says.
                message.eol = "\n";
                if !message.with_length {
                    message.parts.retain(|(_, b)| b.last() != Some(&b'\r'));
                }
            }
            let bytes = message.bytes();
            let expected = parse_whole(&content_type(), &bytes).unwrap();
            let max = [2u64, 7, 64, 1000, 20_000][round % 5];
            let split =
                parse_in_chunks(&content_type(), &bytes, &mut || rng.below(max) as usize + 1)
                    .unwrap();
            assert!(split == expected, "round {round}: split parse differs");
            let bodies: Vec<_> = split.iter().map(|p| p.body.clone()).collect();
            let want: Vec<_> = message.parts.iter().map(|(_, b)| b.clone()).collect();
            assert!(bodies == want, "round {round}: bodies differ");
        }
    }

    #[test]
    fn parts_are_handed_on_before_the_body_ends() {
        let message = Body::new(vec![
            (vec![], b"first".to_vec()),
            (vec![], b"second".to_vec()),
        ]);
        let bytes = message.bytes();
        let second_starts = bytes.windows(6).position(|w| w == b"second").unwrap();
        let mut parser = MultipartParser::new(&content_type()).unwrap();
        let early = parser.feed(&bytes[..second_starts]).unwrap();
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].body, b"first");
        assert_eq!(parser.parts_completed(), 1);
        let late = parser.feed(&bytes[second_starts..]).unwrap();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].body, b"second");
        assert!(parser.finish().unwrap().is_empty());
    }

    #[test]
    fn boundary_quoted_or_not_and_parameters_in_any_order_or_case() {
        let body = Body::new(vec![(vec!["content-type: image/jpeg"], b"abc".to_vec())]).bytes();
        for ct in [
            format!(
                "multipart/related; type=\"application/octet-stream\"; boundary=\"{BOUNDARY}\""
            ),
            format!("multipart/related;boundary={BOUNDARY};type=application/octet-stream"),
            format!(
                "Multipart/Related ;  BOUNDARY = \"{BOUNDARY}\" ; Type = \"application/dicom\""
            ),
            format!("multipart/related; transfer-syntax=*; boundary={BOUNDARY}  ;"),
        ] {
            let parser = MultipartParser::new(&ct).unwrap();
            assert!(parser.is_multipart());
            assert_eq!(parser.boundary(), BOUNDARY, "{ct}");
            let parts = parse_whole(&ct, &body).unwrap();
            assert_eq!(parts.len(), 1, "{ct}");
            assert_eq!(parts[0].body, b"abc");
            assert_eq!(parts[0].content_type.as_deref(), Some("image/jpeg"));
        }
        let parser = MultipartParser::new(
            "multipart/related; type=\"application/dicom;x=1\"; boundary=\"a\\\"b\"",
        )
        .unwrap();
        assert_eq!(parser.related_type(), Some("application/dicom;x=1"));
        assert_eq!(parser.boundary(), "a\"b");
    }

    #[test]
    fn part_transfer_syntax_quoted_or_not() {
        let message = Body::new(vec![
            (
                vec!["Content-Type: image/jpeg; transfer-syntax=\"1.2.840.10008.1.2.4.50\""],
                b"a".to_vec(),
            ),
            (
                vec!["Content-Type:image/jls;Transfer-Syntax=1.2.840.10008.1.2.4.80"],
                b"b".to_vec(),
            ),
            (
                vec!["CONTENT-TYPE: application/octet-stream"],
                b"c".to_vec(),
            ),
        ]);
        let parts = parse_whole(&content_type(), &message.bytes()).unwrap();
        let ts: Vec<_> = parts.iter().map(|p| p.transfer_syntax.as_deref()).collect();
        assert_eq!(
            ts,
            [
                Some("1.2.840.10008.1.2.4.50"),
                Some("1.2.840.10008.1.2.4.80"),
                None
            ]
        );
        assert_eq!(parts[1].content_type.as_deref(), Some("image/jls"));
        assert_eq!(
            parts[1].header("content-type"),
            Some("image/jls;Transfer-Syntax=1.2.840.10008.1.2.4.80")
        );
    }

    #[test]
    fn content_length_skips_scanning_so_a_fake_boundary_inside_survives() {
        let inner = format!("before\r\n--{BOUNDARY}\r\nContent-Type: x\r\n\r\nafter");
        let mut message = Body::new(vec![
            (vec![], inner.clone().into_bytes()),
            (vec![], b"tail".to_vec()),
        ]);
        message.with_length = true;
        let parts = parse_bytewise(&content_type(), &message.bytes()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, inner.as_bytes());
        assert_eq!(
            parts[0].header("Content-Length"),
            Some(inner.len().to_string().as_str())
        );
    }

    #[test]
    fn content_length_that_disagrees_with_the_boundary_is_an_error() {
        // 5 would cover "abcd\r" and leave a bare-LF delimiter, which is accepted.
        for declared in [3usize, 6] {
            let body = format!(
                "--{BOUNDARY}\r\nContent-Length: {declared}\r\n\r\nabcd\r\n--{BOUNDARY}--\r\n"
            );
            let err = parse_whole(&content_type(), body.as_bytes()).unwrap_err();
            assert_eq!(
                err,
                MultipartError::ContentLengthMismatch {
                    part: 1,
                    declared: declared as u64
                }
            );
            assert_eq!(
                parse_bytewise(&content_type(), body.as_bytes()).unwrap_err(),
                err
            );
            assert!(err.to_string().contains("part 1 declares Content-Length"));
        }
        let zero = format!("--{BOUNDARY}\r\nContent-Length: 0\r\n\r\n\r\n--{BOUNDARY}--");
        assert_eq!(
            parse_bytewise(&content_type(), zero.as_bytes()).unwrap()[0].body,
            b""
        );
        // Not a number: ignored, the boundary scan finds the end.
        let junk = format!("--{BOUNDARY}\r\nContent-Length: lots\r\n\r\nabcd\r\n--{BOUNDARY}--");
        assert_eq!(
            parse_whole(&content_type(), junk.as_bytes()).unwrap()[0].body,
            b"abcd"
        );
    }

    #[test]
    fn bare_lf_line_endings_preamble_padding_and_epilogue() {
        let body = format!(
            "preamble line\n--{BOUNDARY}  \t\nContent-Type: image/jpeg\n  ; transfer-syntax=1.2.840.10008.1.2.4.50\nContent-Location: http://h/f/1\n\n\x01\x02\x7f\x00\n--{BOUNDARY}--  \nepilogue\n--{BOUNDARY}\nignored\n"
        );
        let parts = parse_bytewise(&content_type(), body.as_bytes()).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].body, b"\x01\x02\x7f\x00");
        assert_eq!(
            parts[0].transfer_syntax.as_deref(),
            Some("1.2.840.10008.1.2.4.50")
        );
        assert_eq!(parts[0].content_location.as_deref(), Some("http://h/f/1"));
    }

    #[test]
    fn orthanc_style_frames_response() {
        // As Orthanc 1.10 / DICOMweb 1.7 answers /frames/1,2 with
        // `Accept: multipart/related; type="application/octet-stream"; transfer-syntax=*`.
        let ct = "multipart/related; type=application/octet-stream; boundary=d4e8a5c0-3f0b-4f8e-b6a3-5e7c1d2f9a01";
        let boundary = "d4e8a5c0-3f0b-4f8e-b6a3-5e7c1d2f9a01";
        let frame1: Vec<u8> =
            [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[0x42; 3000], &[0xFF, 0xD9]].concat();
        let frame2: Vec<u8> = [
            &[0xFF, 0xD8][..],
            b"\r\n--d4e8a5c0",
            &[0x17; 999],
            &[0xFF, 0xD9],
        ]
        .concat();
        let mut body = Vec::new();
        for (i, frame) in [&frame1, &frame2].iter().enumerate() {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Type: image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50\r\nContent-Location: http://127.0.0.1:8042/dicom-web/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5/frames/{}\r\n\r\n", i + 1).as_bytes());
            body.extend_from_slice(frame);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        for parts in [
            parse_whole(ct, &body).unwrap(),
            parse_bytewise(ct, &body).unwrap(),
        ] {
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0].body, frame1);
            assert_eq!(parts[1].body, frame2);
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(p.content_type.as_deref(), Some("image/jpeg"));
                assert_eq!(p.transfer_syntax.as_deref(), Some("1.2.840.10008.1.2.4.50"));
                assert!(p
                    .content_location
                    .as_deref()
                    .unwrap()
                    .ends_with(&format!("/frames/{}", i + 1)));
            }
        }
        let parser = MultipartParser::new(ct).unwrap();
        assert_eq!(parser.related_type(), Some("application/octet-stream"));
    }

    #[test]
    fn single_part_mode_returns_the_whole_body_with_its_content_type() {
        for (ct, media, ts) in [
            (
                "application/octet-stream",
                Some("application/octet-stream"),
                None,
            ),
            (
                "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50",
                Some("image/jpeg"),
                Some("1.2.840.10008.1.2.4.50"),
            ),
            (
                "Image/JLS;transfer-syntax=\"1.2.840.10008.1.2.4.80\"",
                Some("image/jls"),
                Some("1.2.840.10008.1.2.4.80"),
            ),
            ("", None, None),
        ] {
            let data = format!("\r\n--{BOUNDARY}--\r\n not a boundary here").into_bytes();
            let mut parser = MultipartParser::new(ct).unwrap();
            assert!(!parser.is_multipart());
            for chunk in data.chunks(3) {
                assert!(parser.feed(chunk).unwrap().is_empty());
            }
            let parts = parser.finish().unwrap();
            assert_eq!(parts.len(), 1);
            assert_eq!(parts[0].body, data);
            assert_eq!(parts[0].content_type.as_deref(), media);
            assert_eq!(parts[0].transfer_syntax.as_deref(), ts);
        }
        let empty = MultipartParser::new("image/jpeg")
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(empty[0].body, b"");
    }

    #[test]
    fn truncated_body_names_how_many_parts_arrived() {
        let message = Body::new(vec![
            (vec![], b"1".to_vec()),
            (vec![], b"2".to_vec()),
            (vec![], b"3".to_vec()),
            (vec![], b"4".to_vec()),
        ]);
        let bytes = message.bytes();
        let cut = bytes.windows(1).rposition(|w| w == b"4").unwrap();
        let mut parser = MultipartParser::new(&content_type()).unwrap();
        let parts = parser.feed(&bytes[..cut]).unwrap();
        assert_eq!(parts.len(), 3);
        let err = parser.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "multipart body ended after 3 complete part(s) without the closing boundary"
        );
        // Ending right after the last part's delimiter line, or inside the closing "--".
        let closing = format!("--{BOUNDARY}--");
        let end = bytes
            .windows(closing.len())
            .position(|w| w == closing.as_bytes())
            .unwrap();
        for cut in [end + closing.len() - 1, end + 3] {
            let err = parse_whole(&content_type(), &bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, MultipartError::Truncated { parts: 3 | 4 }),
                "{err}"
            );
        }
    }

    #[test]
    fn a_body_without_the_boundary_says_so() {
        let err = parse_whole(
            &content_type(),
            b"--other-boundary\r\n\r\nx\r\n--other-boundary--",
        )
        .unwrap_err();
        assert!(
            matches!(err, MultipartError::NoBoundaryFound { bytes: 41, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(BOUNDARY));
    }

    #[test]
    fn empty_multipart_has_no_parts() {
        let parts = parse_whole(&content_type(), format!("--{BOUNDARY}--\r\n").as_bytes()).unwrap();
        assert!(parts.is_empty());
    }

    #[test]
    fn bad_content_types_are_named() {
        let err = MultipartParser::new("multipart/related; type=application/dicom").unwrap_err();
        assert_eq!(err.to_string(), "Content-Type \"multipart/related; type=application/dicom\" is multipart but has no boundary parameter");
        assert!(matches!(
            MultipartParser::new("multipart/related; boundary=\"\"").unwrap_err(),
            MultipartError::InvalidBoundary { .. }
        ));
        let long = format!("multipart/related; boundary={}", "b".repeat(201));
        assert!(matches!(
            MultipartParser::new(&long).unwrap_err(),
            MultipartError::InvalidBoundary { .. }
        ));
    }

    #[test]
    fn oversized_header_block_is_an_error_not_a_buffer() {
        let mut parser = MultipartParser::new(&content_type())
            .unwrap()
            .with_header_limit(1024);
        parser
            .feed(format!("--{BOUNDARY}\r\nX-Long: ").as_bytes())
            .unwrap();
        let mut result = Ok(Vec::new());
        for _ in 0..100 {
            result = parser.feed(&[b'a'; 100]);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result.unwrap_err(),
            MultipartError::HeaderTooLarge {
                part: 1,
                limit: 1024
            }
        );
        assert!(parser.buf.len() < 1300, "buffered {}", parser.buf.len());
        assert!(parser.feed(b"more").is_err());
    }

    #[test]
    fn malformed_header_line_is_named() {
        let body = format!("--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n--{BOUNDARY}--");
        let err = parse_whole(&content_type(), body.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            MultipartError::MalformedHeader {
                part: 1,
                line: "no colon here".into()
            }
        );
    }

    #[test]
    fn part_limit_is_enforced_with_and_without_content_length() {
        let message = Body::new(vec![(vec![], vec![7; 100]), (vec![], vec![8; 5000])]);
        let mut with_length = Body::new(vec![(vec![], vec![7; 100]), (vec![], vec![8; 5000])]);
        with_length.with_length = true;
        for bytes in [message.bytes(), with_length.bytes()] {
            let mut parser = MultipartParser::new(&content_type())
                .unwrap()
                .with_part_limit(1000);
            let mut got = Vec::new();
            let mut err = None;
            for chunk in bytes.chunks(64) {
                match parser.feed(chunk) {
                    Ok(p) => got.extend(p),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            assert_eq!(got.len(), 1);
            assert_eq!(
                err,
                Some(MultipartError::PartTooLarge {
                    part: 2,
                    limit: 1000
                })
            );
        }
    }

    #[test]
    fn parts_completed_alongside_an_error_are_not_lost() {
        let body = format!("--{BOUNDARY}\r\n\r\ngood\r\n--{BOUNDARY}\r\nbad header\r\n\r\n");
        let mut parser = MultipartParser::new(&content_type()).unwrap();
        let parts = parser.feed(body.as_bytes()).unwrap();
        assert_eq!(parts[0].body, b"good");
        assert!(matches!(
            parser.feed(b"").unwrap_err(),
            MultipartError::MalformedHeader { part: 2, .. }
        ));
        assert!(matches!(
            parser.finish().unwrap_err(),
            MultipartError::MalformedHeader { .. }
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
        let cts = [
            content_type(),
            "multipart/related; boundary=a".to_string(),
            "multipart/x; boundary=\"".into(),
            "multipart/related; boundary=\"--\"".into(),
            "text/plain".into(),
            ";;==;\"".into(),
            "multipart/; boundary= ; boundary=z".into(),
        ];
        let alphabet = format!("\r\n-{BOUNDARY}a: ;=\"");
        let alphabet = alphabet.as_bytes();
        let valid = tricky_message().bytes();
        for round in 0..3000 {
            let ct = &cts[round % cts.len()];
            let len = rng.below(600) as usize;
            let data: Vec<u8> = match round % 3 {
                0 => (0..len).map(|_| rng.next() as u8).collect(),
                1 => (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                    .collect(),
                _ => {
                    let mut v = valid.clone();
                    for _ in 0..rng.below(8) {
                        if v.is_empty() {
                            break;
                        }
                        let i = rng.below(v.len() as u64) as usize;
                        match rng.below(3) {
                            0 => v[i] = rng.next() as u8,
                            1 => {
                                v.remove(i);
                            }
                            _ => v.truncate(i),
                        }
                    }
                    v
                }
            };
            let Ok(parser) = MultipartParser::new(ct) else {
                continue;
            };
            let limit = 200 + round % 50;
            let mut parser = parser.with_header_limit(limit);
            let mut outcome = (Vec::new(), Ok(()));
            for chunk in data.chunks(rng.below(40) as usize + 1) {
                match parser.feed(chunk) {
                    Ok(parts) => outcome.0.extend(parts),
                    Err(e) => {
                        outcome.1 = Err(e);
                        break;
                    }
                }
            }
            if outcome.1.is_ok() {
                match parser.finish() {
                    Ok(parts) => outcome.0.extend(parts),
                    Err(e) => outcome.1 = Err(e),
                }
            }
            // Garbage or not, the outcome must not depend on how it was chunked.
            let mut whole = MultipartParser::new(ct).unwrap().with_header_limit(limit);
            let mut expected = (Vec::new(), Ok(()));
            match whole.feed(&data) {
                Ok(parts) => expected.0.extend(parts),
                Err(e) => expected.1 = Err(e),
            }
            let next = if expected.1.is_ok() {
                whole.finish()
            } else {
                Ok(Vec::new())
            };
            match next {
                Ok(parts) => expected.0.extend(parts),
                Err(e) => expected.1 = Err(e),
            }
            assert!(
                outcome == expected,
                "round {round}: chunked {:?} vs whole {:?}",
                outcome.1,
                expected.1
            );
        }
        for ct in [
            "multipart/related; boundary=\u{e9}\u{1F600}",
            "\u{0}",
            "multipart/related; boundary=\u{1F600}\"x",
        ] {
            if let Ok(mut p) = MultipartParser::new(ct) {
                let _ = p.feed("--\u{1F600}\r\n\r\n\r\n--\u{1F600}--".as_bytes());
                let _ = p.finish();
            }
        }
    }
}
