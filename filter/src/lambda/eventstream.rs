//! An incremental decoder of `application/vnd.amazon.eventstream`, the body of Lambda's
//! `InvokeWithResponseStream` answer (lambda-streaming.md §1, §3).
//!
//! Bytes arrive in pieces of any size ([`Decoder::feed`]); every complete message is checked (both CRC-32s,
//! §3.1; the header block, §3.2) and handed to the caller as an [`Event`] (§3.3): the function's bytes
//! ([`Event::PayloadChunk`], borrowed from the piece when the message lies in it whole), the end of the
//! invocation ([`Event::InvokeComplete`], with `ErrorCode` / `ErrorDetails` / `LogResult`), or a generic
//! `exception` / `error` message. Any violation is a [`DecodeError`]; the decoder then refuses every later
//! byte (§3.1: a bad CRC ends the stream).
//!
//! ```
//! use routewise::lambda::eventstream::{Decoder, Event};
//!
//! // §3.4's PayloadChunk "hello", fed one byte at a time.
//! let hex = "0000006f0000005af5fe871f0b3a6576656e742d7479706507000c5061796c6f61644368756e6b0d3a636f6e74656e\
//!            742d747970650700186170706c69636174696f6e2f6f637465742d73747265616d0d3a6d6573736167652d74797065\
//!            0700056576656e7468656c6c6f29e71260";
//! let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
//! let mut decoder = Decoder::new();
//! let mut body = Vec::new();
//! for b in &bytes {
//!     decoder.feed(std::slice::from_ref(b), |event| {
//!         if let Event::PayloadChunk(p) = event { body.extend_from_slice(p) }
//!     }).unwrap();
//! }
//! assert_eq!(body, b"hello");
//! ```
//!
//! Bounds: the decoder keeps at most one incomplete message ([`Decoder::buffered`] ≤ the message limit,
//! by default the spec's 24 MB payload + 128 KB headers + 16 bytes; the filter passes a smaller one). The
//! prelude (12 bytes) is checked, lengths and CRC, before any byte of the rest is buffered, so an oversized
//! or corrupt length is refused at once rather than waited for.
//!
//! Choices where the spec is silent (each marked *recommendation* or *unverified* there):
//! - A message without `:message-type` is an error (§3.3: the spec requires it, SDK decoders fail).
//! - An `event` whose `:event-type` is neither `PayloadChunk` nor `InvokeComplete` is [`Event::Unknown`]:
//!   the caller skips it (an SDK would skip an unmodelled event too).
//! - `InvokeComplete`: an empty payload is `{}`; a missing or `null` member is `None` (success when
//!   `ErrorCode` is `None`); a payload that is not a JSON object, or a member that is not a string or
//!   `null`, is an error.
//! - Header values: string and byte-array lengths are taken as written (0..=65,535); names must be 1..=255
//!   bytes of UTF-8; a name written twice keeps its last value.

use std::fmt;

/// Most bytes of a message's payload (§3.1: 25,165,824).
pub const MAX_PAYLOAD_BYTES: u32 = 25_165_824;
/// Most bytes of a message's header block (§3.1: 131,072).
pub const MAX_HEADERS_BYTES: u32 = 131_072;
/// The prelude (total length, headers length, prelude CRC) and the message CRC (§3.1).
pub const OVERHEAD_BYTES: u32 = 16;
/// The largest message the spec allows.
pub const MAX_MESSAGE_BYTES: u32 = MAX_PAYLOAD_BYTES + MAX_HEADERS_BYTES + OVERHEAD_BYTES;

const PRELUDE_BYTES: usize = 12;

// ------------------------------------------------------------------------------------------------- CRC-32

/// The table of the reflected polynomial 0xEDB88320, built at compile time (an index out of bounds would
/// fail the build, not a request).
#[allow(clippy::indexing_slicing)]
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 as zlib and gzip compute it (§3.1: reflected 0xEDB88320, init and xorout 0xFFFFFFFF), continued
/// from `crc` (0 to start): `crc32(b, crc32(a, 0)) == crc32(a ++ b, 0)`.
pub fn crc32(bytes: &[u8], crc: u32) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        // The index is masked to 0..=255, the table's length.
        #[allow(clippy::indexing_slicing)]
        let t = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize];
        c = t ^ (c >> 8);
    }
    !c
}

// ------------------------------------------------------------------------------------------------ headers

/// A header value (§3.2), borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    /// Types 0 and 1.
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6.
    Bytes(&'a [u8]),
    /// Type 7 (UTF-8).
    String(&'a str),
    /// Type 8: milliseconds since the epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

/// Parses a header block (§3.2) into (name, value) pairs in the order written.
pub fn parse_headers(mut block: &[u8]) -> Result<Vec<(&str, HeaderValue<'_>)>, DecodeError> {
    let mut out = Vec::new();
    while !block.is_empty() {
        let (&name_len, rest) = block
            .split_first()
            .ok_or(DecodeError::Header("truncated name length"))?;
        if name_len == 0 {
            return Err(DecodeError::Header("empty header name"));
        }
        let (name, rest) = take(rest, usize::from(name_len)).ok_or(DecodeError::Header("truncated name"))?;
        let name = std::str::from_utf8(name).map_err(|_| DecodeError::Header("header name is not UTF-8"))?;
        let (&ty, rest) = rest
            .split_first()
            .ok_or(DecodeError::Header("truncated value type"))?;
        let (value, rest) = match ty {
            0 => (HeaderValue::Bool(true), rest),
            1 => (HeaderValue::Bool(false), rest),
            2 => {
                let (v, r) = fixed(rest, 1)?;
                (HeaderValue::Byte(i8::from_be_bytes(arr(v))), r)
            }
            3 => {
                let (v, r) = fixed(rest, 2)?;
                (HeaderValue::Short(i16::from_be_bytes(arr(v))), r)
            }
            4 => {
                let (v, r) = fixed(rest, 4)?;
                (HeaderValue::Int(i32::from_be_bytes(arr(v))), r)
            }
            5 | 8 => {
                let (v, r) = fixed(rest, 8)?;
                let n = i64::from_be_bytes(arr(v));
                (
                    if ty == 5 {
                        HeaderValue::Long(n)
                    } else {
                        HeaderValue::Timestamp(n)
                    },
                    r,
                )
            }
            6 | 7 => {
                let (len, r) = fixed(rest, 2)?;
                let (v, r) = fixed(r, usize::from(u16::from_be_bytes(arr(len))))?;
                if ty == 6 {
                    (HeaderValue::Bytes(v), r)
                } else {
                    let s = std::str::from_utf8(v)
                        .map_err(|_| DecodeError::Header("string value is not UTF-8"))?;
                    (HeaderValue::String(s), r)
                }
            }
            9 => {
                let (v, r) = fixed(rest, 16)?;
                (HeaderValue::Uuid(arr(v)), r)
            }
            _ => return Err(DecodeError::Header("unknown value type")),
        };
        out.push((name, value));
        block = rest;
    }
    Ok(out)
}

fn fixed(rest: &[u8], n: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    take(rest, n).ok_or(DecodeError::Header("truncated value"))
}

fn take(bytes: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (bytes.len() >= n).then(|| bytes.split_at(n))
}

/// The first `N` bytes of `s` as an array (zeros past its end; callers pass exactly `N`).
fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    for (d, b) in a.iter_mut().zip(s) {
        *d = *b;
    }
    a
}

fn be32(s: &[u8]) -> u32 {
    u32::from_be_bytes(arr(s))
}

// ------------------------------------------------------------------------------------------------- events

/// What a message means (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// `event` / `PayloadChunk`: bytes of the function's output stream.
    PayloadChunk(&'a [u8]),
    /// `event` / `InvokeComplete`: the last message. `error_code` is `None` on success.
    InvokeComplete {
        /// `ErrorCode` (for example `Runtime.StreamError`).
        error_code: Option<String>,
        /// `ErrorDetails`.
        error_details: Option<String>,
        /// `LogResult` (base64 of the log tail, with `X-Amz-Log-Type: Tail`).
        log_result: Option<String>,
    },
    /// `exception`: `:exception-type` and the payload (a mid-stream failure, §3.3 recommendation).
    Exception {
        /// `:exception-type`, empty when absent.
        exception_type: String,
        /// The payload.
        payload: &'a [u8],
    },
    /// `error`: `:error-code` and `:error-message` (a mid-stream failure).
    Error {
        /// `:error-code`, empty when absent.
        code: String,
        /// `:error-message`, empty when absent.
        message: String,
    },
    /// An `event` of another type: skipped by the caller.
    Unknown {
        /// Its `:event-type`.
        event_type: String,
    },
}

/// Why the stream cannot be decoded. After one, [`Decoder::feed`] returns [`DecodeError::Failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// `total_length` below 16 or over the limit.
    TotalLength {
        /// As written.
        total: u32,
        /// The decoder's limit.
        limit: u32,
    },
    /// `headers_length` over 131,072 or not fitting in the message.
    HeadersLength(u32),
    /// The payload is over 24 MB.
    PayloadLength(u32),
    /// The prelude CRC does not match.
    PreludeCrc {
        /// As written.
        expected: u32,
        /// As computed.
        computed: u32,
    },
    /// The message CRC does not match.
    MessageCrc {
        /// As written.
        expected: u32,
        /// As computed.
        computed: u32,
    },
    /// The header block is malformed.
    Header(&'static str),
    /// No `:message-type`, or an `event` without `:event-type`, or an unknown message type.
    MessageType(String),
    /// The `InvokeComplete` payload is not what §3.3 describes.
    InvokeComplete(String),
    /// A byte after `InvokeComplete`.
    AfterComplete,
    /// An earlier error ended the stream.
    Failed,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TotalLength { total, limit } => {
                write!(f, "event-stream message length {total} outside 16..={limit}")
            }
            DecodeError::HeadersLength(n) => write!(f, "event-stream headers length {n} invalid"),
            DecodeError::PayloadLength(n) => {
                write!(f, "event-stream payload length {n} over {MAX_PAYLOAD_BYTES}")
            }
            DecodeError::PreludeCrc { expected, computed } => write!(
                f,
                "event-stream prelude crc mismatch (expected {expected:#010x}, computed {computed:#010x})"
            ),
            DecodeError::MessageCrc { expected, computed } => write!(
                f,
                "event-stream message crc mismatch (expected {expected:#010x}, computed {computed:#010x})"
            ),
            DecodeError::Header(what) => write!(f, "event-stream header block: {what}"),
            DecodeError::MessageType(what) => write!(f, "event-stream message type: {what}"),
            DecodeError::InvokeComplete(what) => write!(f, "InvokeComplete payload: {what}"),
            DecodeError::AfterComplete => f.write_str("event-stream bytes after InvokeComplete"),
            DecodeError::Failed => f.write_str("event stream already failed"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The incremental decoder. One per streamed invocation.
#[derive(Debug)]
pub struct Decoder {
    /// The incomplete message: its first bytes, at most `limit`.
    buf: Vec<u8>,
    /// `total_length` of the message in `buf`, once its prelude is checked.
    want: Option<usize>,
    limit: u32,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Complete,
    Failed,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder accepting messages up to [`MAX_MESSAGE_BYTES`].
    pub fn new() -> Decoder {
        Decoder::with_limit(MAX_MESSAGE_BYTES)
    }

    /// A decoder accepting messages up to `limit` bytes (at least 16; clamped to [`MAX_MESSAGE_BYTES`]):
    /// the most it ever buffers.
    pub fn with_limit(limit: u32) -> Decoder {
        Decoder {
            buf: Vec::new(),
            want: None,
            limit: limit.clamp(OVERHEAD_BYTES, MAX_MESSAGE_BYTES),
            state: State::Open,
        }
    }

    /// Bytes of an incomplete message held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True once `InvokeComplete` was decoded.
    pub fn is_complete(&self) -> bool {
        self.state == State::Complete
    }

    /// True when the stream ended at a message boundary: nothing is buffered. (Truncation is the caller's
    /// to judge with [`Decoder::is_complete`].)
    pub fn at_boundary(&self) -> bool {
        self.buf.is_empty()
    }

    /// Decodes `piece`, calling `on_event` for each complete message in order. On error nothing more is
    /// decoded, now or later.
    pub fn feed(&mut self, mut piece: &[u8], mut on_event: impl FnMut(Event<'_>)) -> Result<(), DecodeError> {
        match self.state {
            State::Failed => return Err(DecodeError::Failed),
            State::Complete if !piece.is_empty() => return self.fail(DecodeError::AfterComplete),
            _ => {}
        }
        while !piece.is_empty() {
            if self.state == State::Complete {
                return self.fail(DecodeError::AfterComplete);
            }
            if self.buf.is_empty() && piece.len() >= PRELUDE_BYTES {
                // Fast path: a message starting at the front of the piece is decoded in place when whole.
                let total = match self.check_prelude(piece) {
                    Ok(t) => t,
                    Err(e) => return self.fail(e),
                };
                if let Some((message, rest)) = take(piece, total) {
                    if let Err(e) = self.decode_message(message, &mut on_event) {
                        return self.fail(e);
                    }
                    piece = rest;
                    continue;
                }
            }
            // Slow path: gather the prelude, check it, then gather the message.
            let want = match self.want {
                Some(w) => w,
                None => {
                    let need = PRELUDE_BYTES - self.buf.len();
                    let n = need.min(piece.len());
                    let (head, rest) = piece.split_at(n);
                    self.buf.extend_from_slice(head);
                    piece = rest;
                    if self.buf.len() < PRELUDE_BYTES {
                        continue;
                    }
                    match self.check_prelude(&self.buf) {
                        Ok(t) => {
                            self.buf.reserve_exact(t.saturating_sub(self.buf.len()));
                            self.want = Some(t);
                            t
                        }
                        Err(e) => return self.fail(e),
                    }
                }
            };
            let n = want.saturating_sub(self.buf.len()).min(piece.len());
            let (head, rest) = piece.split_at(n);
            self.buf.extend_from_slice(head);
            piece = rest;
            if self.buf.len() == want {
                let message = std::mem::take(&mut self.buf);
                self.want = None;
                let result = self.decode_message(&message, &mut on_event);
                // Keep the allocation for the next message.
                self.buf = message;
                self.buf.clear();
                if let Err(e) = result {
                    return self.fail(e);
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self, e: DecodeError) -> Result<(), DecodeError> {
        self.state = State::Failed;
        self.buf = Vec::new();
        self.want = None;
        Err(e)
    }

    /// §3.1 on the first 12 bytes of a message: its total length, checked.
    fn check_prelude(&self, bytes: &[u8]) -> Result<usize, DecodeError> {
        let prelude = bytes
            .get(..PRELUDE_BYTES)
            .ok_or(DecodeError::Header("short prelude"))?;
        let (lengths, crc) = prelude.split_at(8);
        let (total, headers) = lengths.split_at(4);
        let (total, headers, crc) = (be32(total), be32(headers), be32(crc));
        let computed = crc32(lengths, 0);
        if computed != crc {
            return Err(DecodeError::PreludeCrc {
                expected: crc,
                computed,
            });
        }
        if !(OVERHEAD_BYTES..=self.limit).contains(&total) {
            return Err(DecodeError::TotalLength {
                total,
                limit: self.limit,
            });
        }
        if headers > MAX_HEADERS_BYTES || headers > total - OVERHEAD_BYTES {
            return Err(DecodeError::HeadersLength(headers));
        }
        let payload = total - OVERHEAD_BYTES - headers;
        if payload > MAX_PAYLOAD_BYTES {
            return Err(DecodeError::PayloadLength(payload));
        }
        usize::try_from(total).map_err(|_| DecodeError::TotalLength {
            total,
            limit: self.limit,
        })
    }

    /// A whole message whose prelude passed [`Decoder::check_prelude`].
    fn decode_message<'m>(
        &mut self,
        message: &'m [u8],
        on_event: &mut impl FnMut(Event<'m>),
    ) -> Result<(), DecodeError> {
        let total = message.len();
        let (body, crc) = message
            .split_at_checked(total.saturating_sub(4))
            .ok_or(DecodeError::Header("short message"))?;
        let expected = be32(crc);
        let computed = crc32(body, 0);
        if expected != computed {
            return Err(DecodeError::MessageCrc { expected, computed });
        }
        let headers_len = message.get(4..8).map_or(0, be32) as usize;
        let after_prelude = body.get(PRELUDE_BYTES..).unwrap_or_default();
        let (block, payload) =
            take(after_prelude, headers_len).ok_or(DecodeError::HeadersLength(headers_len as u32))?;
        let event = to_event(&parse_headers(block)?, payload)?;
        if matches!(event, Event::InvokeComplete { .. }) {
            self.state = State::Complete;
        }
        on_event(event);
        Ok(())
    }
}

/// §3.3: a message's headers and payload as an [`Event`].
fn to_event<'m>(headers: &[(&str, HeaderValue<'m>)], payload: &'m [u8]) -> Result<Event<'m>, DecodeError> {
    let string = |name: &str| {
        headers
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| match v {
                HeaderValue::String(s) => Some(*s),
                _ => None,
            })
    };
    match string(":message-type") {
        Some("event") => match string(":event-type") {
            Some("PayloadChunk") => Ok(Event::PayloadChunk(payload)),
            Some("InvokeComplete") => invoke_complete(payload),
            Some(other) => Ok(Event::Unknown {
                event_type: other.to_string(),
            }),
            None => Err(DecodeError::MessageType("event without :event-type".into())),
        },
        Some("exception") => Ok(Event::Exception {
            exception_type: string(":exception-type").unwrap_or_default().to_string(),
            payload,
        }),
        Some("error") => Ok(Event::Error {
            code: string(":error-code").unwrap_or_default().to_string(),
            message: string(":error-message").unwrap_or_default().to_string(),
        }),
        Some(other) => Err(DecodeError::MessageType(format!(
            "unknown :message-type {other:?}"
        ))),
        None => Err(DecodeError::MessageType("no :message-type".into())),
    }
}

fn invoke_complete(payload: &[u8]) -> Result<Event<'_>, DecodeError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Complete {
        error_code: Option<String>,
        error_details: Option<String>,
        log_result: Option<String>,
    }
    let c: Complete = if payload.iter().all(u8::is_ascii_whitespace) {
        Complete {
            error_code: None,
            error_details: None,
            log_result: None,
        }
    } else {
        serde_json::from_slice(payload).map_err(|e| DecodeError::InvokeComplete(e.to_string()))?
    };
    Ok(Event::InvokeComplete {
        error_code: c.error_code,
        error_details: c.error_details,
        log_result: c.log_result,
    })
}

// ------------------------------------------------------------------------------------------------ encoder

/// One message (§3.1) with string headers (§3.2, type 7), both CRCs computed: what Lambda sends, for the
/// tests, the fake Envoy and the Lambda mock (the filter itself only decodes). Names are cut at 255 bytes,
/// values at 32,767 (the format's limits).
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        let name = name.as_bytes().get(..name.len().min(255)).unwrap_or_default();
        let value = value
            .as_bytes()
            .get(..value.len().min(32_767))
            .unwrap_or_default();
        block.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        block.extend_from_slice(name);
        block.push(7);
        block.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
        block.extend_from_slice(value);
    }
    let total = u32::try_from(block.len() + payload.len() + OVERHEAD_BYTES as usize).unwrap_or(u32::MAX);
    let mut m = Vec::with_capacity(total as usize);
    m.extend_from_slice(&total.to_be_bytes());
    m.extend_from_slice(&u32::try_from(block.len()).unwrap_or(u32::MAX).to_be_bytes());
    let prelude_crc = crc32(&m, 0);
    m.extend_from_slice(&prelude_crc.to_be_bytes());
    m.extend_from_slice(&block);
    m.extend_from_slice(payload);
    let crc = crc32(&m, 0);
    m.extend_from_slice(&crc.to_be_bytes());
    m
}

/// A `PayloadChunk` event (§3.3) carrying `payload`.
pub fn encode_payload_chunk(payload: &[u8]) -> Vec<u8> {
    encode_message(
        &[
            (":event-type", "PayloadChunk"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An `InvokeComplete` event (§3.3) with the JSON `payload` (`{}` on success).
pub fn encode_invoke_complete(payload: &str) -> Vec<u8> {
    encode_message(
        &[
            (":event-type", "InvokeComplete"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.as_bytes(),
    )
}

#[cfg(test)]
mod tests;
