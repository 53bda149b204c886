//! The HTTP prelude of a streamed Lambda answer (lambda-streaming.md §4): the function's output stream is
//! a JSON object with the status and headers, 8 NUL bytes, then the body. [`PreludeSplitter`] buffers
//! until the delimiter, turns the JSON into the client's status and header field lines, then passes the
//! body bytes through as they come.
//!
//! ```
//! use routewise::lambda::stream_prelude::{PreludeSplitter, Step};
//!
//! let mut s = PreludeSplitter::new();
//! assert!(matches!(s.push(br#"{"statusCode":201,"headers":{"X-A":"1"}}"#, &[]), Step::NeedMore));
//! match s.push(b"\0\0\0\0\0\0\0\0hel", &[]) {
//!     Step::Head { head, body } => {
//!         assert_eq!(head.status, 201);
//!         assert_eq!(head.headers, [("x-a".into(), "1".into()), ("content-type".into(), "application/json".into())]);
//!         assert_eq!(body, b"hel");
//!     }
//!     _ => unreachable!(),
//! }
//! assert!(matches!(s.push(b"lo", &[]), Step::Body(b"lo")));
//! ```
//!
//! Rule selection:
//! - §4.1/§4.4: the delimiter is the first run of 8 NUL bytes; it must end within the first 16 KB
//!   ([`MAX_PRELUDE_BYTES`]) of the stream, else the client gets **500** (§4.3, as API Gateway). At most
//!   16 KB is buffered; a stream that ends before the delimiter is a 500 too ([`PreludeSplitter::finish`]).
//! - §4.1: the prelude must be a JSON object whose keys are among `statusCode`, `headers`,
//!   `multiValueHeaders` and `cookies`, each optional; anything else (not JSON, not an object, another
//!   key such as `body`) is a 500 with the reason in [`Unwrapped::reason`] (outcome
//!   [`Outcome::Malformed`]).
//! - The four keys follow the buffered rules: U4 (`statusCode`, missing → 200, else 200..=599), U5-U7
//!   (headers, names lower-cased, multi values first), U8 (`cookies` → `set-cookie` lines, last), U9
//!   (CR/LF/NUL, pseudo-headers, hop-by-hop, `content-length`, `x-envoy-lambda-*` dropped), U12's
//!   `content-type` default `application/json`, U13 (`x-amzn-requestid` and `x-amzn-trace-id` of the
//!   Invoke response). Any U15 violation is the §4.3 500 here, not a 502.
//! - No `content-length`: the length is unknown (the function's own is dropped by U9, as
//!   `transfer-encoding` is), so Envoy frames the body itself (chunked on HTTP/1.1), which is what API
//!   Gateway does when neither header is set (§4.1).
//! - 204 and 304 carry no body (RFC 9110): the head has no `content-type`, and [`Step::Body`] is empty.
//! - A `headers` value that is an array (the Rust runtime's http-serde for a repeated header, §4.2) is
//!   U5's "other value": its compact JSON text. What API Gateway does with it is unverified (§4.2).

use super::headers::{drop_reason, FORWARDED_INVOKE_HEADERS};
use super::unwrap::{unwrap_response_into, InvokeResponse, Outcome, Unwrapped, ERROR_BODY};
use super::PayloadFormat;

/// §4.1: the delimiter must end within the first 16 KB of the function's output.
pub const MAX_PRELUDE_BYTES: usize = 16 * 1024;
/// §4.1: 8 NUL bytes.
pub const DELIMITER: [u8; 8] = [0; 8];
/// §4.1: the only keys a prelude may have.
pub const PRELUDE_KEYS: [&str; 4] = ["statusCode", "headers", "multiValueHeaders", "cookies"];

/// What a piece of the function's output gives.
#[derive(Debug)]
pub enum Step<'a> {
    /// The prelude is not complete yet: nothing to send.
    NeedMore,
    /// The prelude is complete: send `head` (status and header lines, no body, not the end of the
    /// stream), then `body`, the bytes of this piece after the delimiter (maybe empty).
    Head {
        /// Status and headers for the client; `body` of it is empty.
        head: Unwrapped,
        /// Body bytes that came with the delimiter.
        body: &'a [u8],
    },
    /// Body bytes to send on (empty for 204 and 304).
    Body(&'a [u8]),
    /// §4.3: the prelude is broken. Send this answer (500) whole; ignore the rest of the stream.
    Failed(Unwrapped),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Prelude,
    Body { bodiless: bool },
    Failed,
}

/// Splits the function's output stream into head and body. One per streamed invocation.
#[derive(Debug)]
pub struct PreludeSplitter {
    buf: Vec<u8>,
    state: State,
}

impl Default for PreludeSplitter {
    fn default() -> Self {
        PreludeSplitter::new()
    }
}

impl PreludeSplitter {
    /// A splitter waiting for the prelude.
    pub fn new() -> PreludeSplitter {
        PreludeSplitter {
            buf: Vec::new(),
            state: State::Prelude,
        }
    }

    /// True while the prelude is incomplete (nothing sent yet).
    pub fn in_prelude(&self) -> bool {
        self.state == State::Prelude
    }

    /// Bytes of the prelude held (at most [`MAX_PRELUDE_BYTES`]).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next bytes of the function's output. `invoke_headers` are the Invoke response's own
    /// headers, for U13.
    pub fn push<'a>(&mut self, bytes: &'a [u8], invoke_headers: &[(String, String)]) -> Step<'a> {
        match self.state {
            State::Failed => return Step::Body(&[]),
            State::Body { bodiless } => return Step::Body(if bodiless { &[] } else { bytes }),
            State::Prelude => {}
        }
        let old = self.buf.len();
        let room = MAX_PRELUDE_BYTES.saturating_sub(old);
        let kept = bytes.get(..room.min(bytes.len())).unwrap_or(bytes);
        self.buf.extend_from_slice(kept);
        // A delimiter may straddle pieces: look again at the last 7 bytes already held.
        let from = old.saturating_sub(DELIMITER.len() - 1);
        let found = self
            .buf
            .get(from..)
            .and_then(|tail| memchr::memmem::find(tail, &DELIMITER))
            .map(|i| from + i);
        let Some(at) = found else {
            if self.buf.len() >= MAX_PRELUDE_BYTES {
                let reason = format!("no 8-byte NUL delimiter within the first {MAX_PRELUDE_BYTES} bytes");
                return self.fail(reason, invoke_headers);
            }
            return Step::NeedMore;
        };
        let end = at + DELIMITER.len();
        // The previous pieces held no delimiter, so this one ends in `bytes`: end > old.
        let body = bytes.get(end.saturating_sub(old)..).unwrap_or_default();
        let prelude = std::mem::take(&mut self.buf);
        let json = prelude.get(..at).unwrap_or_default();
        match head(json, invoke_headers) {
            Ok(head) => {
                let bodiless = matches!(head.status, 204 | 304);
                self.state = State::Body { bodiless };
                Step::Head {
                    head,
                    body: if bodiless { &[] } else { body },
                }
            }
            Err(reason) => self.fail(reason, invoke_headers),
        }
    }

    /// The function's output ended. `Some(500)` when it ended before the prelude was complete (§4.3),
    /// else `None`.
    pub fn finish(&mut self, invoke_headers: &[(String, String)]) -> Option<Unwrapped> {
        if self.state != State::Prelude {
            return None;
        }
        let reason = if self.buf.is_empty() {
            "the function's output is empty (no prelude)".to_string()
        } else {
            "the function's output ended before the 8-byte NUL delimiter".to_string()
        };
        match self.fail(reason, invoke_headers) {
            Step::Failed(out) => Some(out),
            _ => None,
        }
    }

    fn fail<'a>(&mut self, reason: String, invoke_headers: &[(String, String)]) -> Step<'a> {
        self.state = State::Failed;
        self.buf = Vec::new();
        Step::Failed(failure(reason, invoke_headers))
    }
}

/// §4.3: API Gateway's 500, with the U13 headers.
pub fn failure(reason: String, invoke_headers: &[(String, String)]) -> Unwrapped {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("content-length".to_string(), ERROR_BODY.len().to_string()),
    ];
    for wanted in FORWARDED_INVOKE_HEADERS {
        for (name, value) in invoke_headers {
            if name.eq_ignore_ascii_case(wanted) && drop_reason(wanted, value).is_none() {
                headers.push((wanted.to_string(), value.clone()));
            }
        }
    }
    Unwrapped {
        status: 500,
        headers,
        body: ERROR_BODY.as_bytes().to_vec(),
        outcome: Outcome::Malformed,
        reason: Some(format!("malformed stream prelude: {reason}")),
        ..Unwrapped::default()
    }
}

/// §4.1 + U4-U9, U12, U13: the prelude JSON as status and header lines.
fn head(json: &[u8], invoke_headers: &[(String, String)]) -> Result<Unwrapped, String> {
    let text =
        std::str::from_utf8(json).map_err(|e| format!("prelude is not UTF-8 (byte {})", e.valid_up_to()))?;
    let keys: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
        Ok(map) => map,
        Err(e) if e.is_data() => return Err("prelude must be a JSON object".into()),
        Err(e) => return Err(format!("prelude is not valid JSON: {e}")),
    };
    if let Some(k) = keys.keys().find(|k| !PRELUDE_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unsupported prelude key {:?} (only statusCode, headers, multiValueHeaders, cookies)",
            super::headers::for_log(k, 64)
        ));
    }
    // The four keys mean what they mean in a buffered 1.0 answer with no body (U4-U9, U12, U13).
    let resp = InvokeResponse {
        status: 200,
        headers: invoke_headers,
        body: json,
    };
    let mut out = Unwrapped::default();
    unwrap_response_into(PayloadFormat::V1, &resp, MAX_PRELUDE_BYTES as u64, &mut out);
    if out.outcome != Outcome::Proxied {
        let reason = out.reason.take().unwrap_or_default();
        let reason = reason
            .strip_prefix("malformed lambda response: ")
            .unwrap_or(&reason);
        return Err(reason.to_string());
    }
    // The body's length is unknown: Envoy frames it.
    out.headers.retain(|(n, _)| n != "content-length");
    Ok(out)
}

#[cfg(test)]
mod tests;
