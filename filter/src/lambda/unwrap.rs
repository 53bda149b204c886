//! Turning the Invoke API's answer into the client's response (U1-U16).
//!
//! [`unwrap_response_into`] decides in this order, each step final:
//! 1. U1: upstream 429 → 500 (`Reason` read from the body when it is a JSON object and within the limit).
//! 2. U2: upstream status >= 300, or `x-amz-function-error` present → 502.
//! 3. U16: body over `max_response_body_bytes` → 502 (never a truncated body).
//! 4. The payload: not UTF-8 or not JSON → U15; 2.0 and not an object with `statusCode` → U14; 1.0 and
//!    not an object → U3/U15; else U4-U12 build status, header lines and body, any violation → U15.
//!
//! Every outcome carries the U13 headers (`x-amzn-requestid`, `x-amzn-trace-id` of the Invoke response)
//! and `content-length` (U12); nothing else of the Invoke response's headers reaches the client.
//!
//! Cost: one UTF-8 check of the payload, then one scan of its top level ([`super::scan`]: `memchr2` for the
//! end of each string, serde_json for the other values, serde_json alone for anything unusual); members
//! other than the six known keys are skipped without being kept. The body string is borrowed from the
//! payload when it has no escapes (the usual case) and then either checked for control characters and
//! copied, or base64-decoded (SIMD, `base64-simd`) straight into the output buffer, which refuses control
//! characters by itself. Measured by `benches/lambda.rs`.
//!
//! Choices where the spec is silent:
//! - `headers` and `multiValueHeaders` keys are compared after lower-casing: a later key that lower-cases
//!   to an earlier one replaces it in place (the JSON "last wins" of U3 applied per header name).
//! - A `null` value in `headers` is "another value" of U5 and gives the text `null`; in
//!   `multiValueHeaders` a `null` adds nothing (U6). `cookies` follows U6: `null` elements add nothing,
//!   other non-strings become compact JSON, a non-array `cookies` is malformed.
//! - `statusCode: null` is present, hence not "missing": malformed. A string status may have leading
//!   zeros (`"0201"` is 201). A JSON number with a fraction or exponent (`201.0`, `2e2`) is malformed.
//! - Base64 (U11): padding is required, non-zero trailing bits are accepted (as Java's and Go's decoders
//!   do), whitespace and line breaks are invalid. `isBase64Encoded: true` with a non-string body decodes
//!   the body's compact JSON text (and so is malformed unless that text happens to be base64).
//! - Header names that are not RFC 9110 tokens are dropped like CR/LF names (U9, see
//!   [`DropReason::InvalidName`]); the field lines built from the answer may total at most
//!   [`MAX_RESPONSE_HEADER_BYTES`], more is malformed.
//! - Order of the field lines: the function's headers (`multiValueHeaders` names first, each followed by
//!   its U7 `headers` value, then the names only in `headers`), `content-type` when defaulted, then
//!   `content-length`, the U13 headers, and last the U8 `set-cookie` lines. Error answers: `content-type`,
//!   `content-length`, the `x-envoy-lambda-*` headers, the U13 headers.
//! - `x-envoy-lambda-statusreason` (U1) and `x-envoy-lambda-function-error` (U2) are sent only when the
//!   value is printable ASCII of at most 256 bytes; the log reason keeps an escaped copy either way.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::value::RawValue;

use super::headers::{
    drop_reason, for_log, safe_header_value, DroppedHeader, AMZ_FUNCTION_ERROR, FORWARDED_INVOKE_HEADERS,
    FUNCTION_ERROR, MAX_RESPONSE_HEADER_BYTES, MAX_RESPONSE_HEADER_LINES, STATUSCODE, STATUSREASON,
};
use super::json::{self, Json, Members, Raw};
use super::PayloadFormat;

/// Body of every answer the filter makes for a failed invocation (U1, U2, U15, U16), as API Gateway.
pub const ERROR_BODY: &str = r#"{"message":"Internal server error"}"#;
/// Most [`DroppedHeader`]s kept in [`Unwrapped::dropped`] (the count is kept in full).
pub const MAX_DROPPED_KEPT: usize = 16;
/// Longest `Reason` / `x-amz-function-error` value copied into a response header.
const MAX_REASON_HEADER: usize = 256;

/// U11: standard alphabet, canonical padding required, trailing bits tolerated.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// The Invoke API's answer as Envoy hands it to the filter.
#[derive(Debug, Clone, Copy)]
pub struct InvokeResponse<'a> {
    /// The `:status` of the Invoke response.
    pub status: u16,
    /// Its header field lines (names lower-case as Envoy gives them; compared case-insensitively anyway).
    pub headers: &'a [(String, String)],
    /// The whole buffered body: the function's output.
    pub body: &'a [u8],
}

/// Which rule produced the answer; one counter per variant ([`Outcome::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Outcome {
    /// The function's answer, unwrapped (U3-U12).
    #[default]
    Proxied,
    /// 2.0: the function's output used as the body (U14).
    Inferred,
    /// Upstream 429 (U1).
    Throttled,
    /// Upstream status >= 300 (U2).
    LambdaError,
    /// `x-amz-function-error` (U2).
    FunctionError,
    /// Malformed payload (U15).
    Malformed,
    /// Over `max_response_body_bytes` (U16).
    TooLarge,
    /// The request body is over `max_request_body_bytes`: 413, nothing invoked (L4; see
    /// [`super::invoke::request_too_large`]).
    RequestTooLarge,
    /// The Invoke call timed out (`timeout_ms`): 504 ([`super::invoke::answer_call`]).
    Timeout,
    /// The Invoke call failed without an answer (reset, connection failure): 502
    /// ([`super::invoke::call_failed`]).
    CallFailed,
    /// The filter could not make the call or read its answer (a host call failed): 500
    /// ([`super::invoke::internal_error`]).
    InternalError,
    /// `invocation_type: "Event"` and Lambda's `202`: the event is queued, the client gets 202
    /// (`invoke::invocation_answer`).
    Accepted,
    /// The Invoke answer contradicts the integration's `invocation_type` (the cluster's `aws_lambda`
    /// `invocation_mode` differs): 502, reason naming both (`invoke::invocation_answer`).
    InvocationMismatch,
}

impl Outcome {
    /// Every outcome, in a fixed order (one counter slot each).
    pub const ALL: [Outcome; 13] = [
        Outcome::Proxied,
        Outcome::Inferred,
        Outcome::Throttled,
        Outcome::LambdaError,
        Outcome::FunctionError,
        Outcome::Malformed,
        Outcome::TooLarge,
        Outcome::RequestTooLarge,
        Outcome::Timeout,
        Outcome::CallFailed,
        Outcome::InternalError,
        Outcome::Accepted,
        Outcome::InvocationMismatch,
    ];

    /// Lowercase name for metrics and filter state.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Proxied => "proxied",
            Outcome::Inferred => "inferred",
            Outcome::Throttled => "throttled",
            Outcome::LambdaError => "lambda_error",
            Outcome::FunctionError => "function_error",
            Outcome::Malformed => "malformed",
            Outcome::TooLarge => "too_large",
            Outcome::RequestTooLarge => "request_too_large",
            Outcome::Timeout => "timeout",
            Outcome::CallFailed => "call_failed",
            Outcome::InternalError => "internal_error",
            Outcome::Accepted => "accepted",
            Outcome::InvocationMismatch => "invocation_mismatch",
        }
    }

    /// The position of `self` in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        Outcome::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// The response to send to the client instead of the Invoke response.
///
/// The adapter replaces the whole response header map with `:status` = `status` and `headers` (each
/// entry one field line, in order; repeated names stay separate lines) and the body with `body`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unwrapped {
    /// Status for the client.
    pub status: u16,
    /// Header field lines, lower-case names, in order; includes `content-length` and `content-type`.
    pub headers: Vec<(String, String)>,
    /// The body for the client.
    pub body: Vec<u8>,
    /// Which rule decided.
    pub outcome: Outcome,
    /// Why the answer is not the function's own (U1, U2, U15, U16), for the log and filter state; never
    /// sent to the client. `None` for [`Outcome::Proxied`] and [`Outcome::Inferred`].
    pub reason: Option<String>,
    /// Field lines of the function's answer that were dropped (U9), for debug log lines; at most
    /// [`MAX_DROPPED_KEPT`].
    pub dropped: Vec<DroppedHeader>,
    /// How many field lines were dropped in all.
    pub dropped_total: usize,
}

impl Unwrapped {
    /// Clears everything, keeping the buffers' capacity.
    fn reset(&mut self) {
        self.status = 0;
        self.headers.clear();
        self.body.clear();
        self.outcome = Outcome::Proxied;
        self.reason = None;
        self.dropped.clear();
        self.dropped_total = 0;
    }

    /// The value of the first field line named `name` (lower-case), for tests and logs.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Unwraps the Invoke API's answer (U1-U16) into a new [`Unwrapped`].
pub fn unwrap_response(
    format: PayloadFormat,
    resp: &InvokeResponse<'_>,
    max_response_body_bytes: u64,
) -> Unwrapped {
    let mut out = Unwrapped::default();
    unwrap_response_into(format, resp, max_response_body_bytes, &mut out);
    out
}

/// Unwraps the Invoke API's answer (U1-U16) into `out`, reusing its buffers. Never fails: every input gets
/// the specified answer, and a reason when that answer is not the function's own.
pub fn unwrap_response_into(
    format: PayloadFormat,
    resp: &InvokeResponse<'_>,
    max_response_body_bytes: u64,
    out: &mut Unwrapped,
) {
    out.reset();
    let within_limit = resp.body.len() as u64 <= max_response_body_bytes;

    // U1: every upstream 429 becomes 500 + x-envoy-lambda-statuscode, even with a non-JSON body.
    if resp.status == 429 {
        let reason = if within_limit {
            throttle_reason(resp.body)
        } else {
            None
        };
        let mut text = String::from("lambda throttled the invocation (upstream status 429)");
        if let Some(r) = &reason {
            text.push_str(": ");
            text.push_str(&for_log(r, MAX_REASON_HEADER));
        }
        error_reply(out, 500, Outcome::Throttled, text);
        out.headers.push((STATUSCODE.into(), "429".into()));
        if let Some(r) = reason
            .as_deref()
            .and_then(|r| safe_header_value(r, MAX_REASON_HEADER))
        {
            out.headers.push((STATUSREASON.into(), r.into()));
        }
        push_invoke_headers(out, resp.headers);
        return;
    }

    // U2: Lambda service errors and function errors are never a 200.
    let function_error = resp
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(AMZ_FUNCTION_ERROR))
        .map(|(_, v)| v.as_str());
    if resp.status >= 300 || function_error.is_some() {
        let (outcome, text) = match function_error {
            Some(fe) => (
                Outcome::FunctionError,
                format!(
                    "function error {} (upstream status {})",
                    for_log(fe, MAX_REASON_HEADER),
                    resp.status
                ),
            ),
            None => (
                Outcome::LambdaError,
                format!("lambda invoke failed (upstream status {})", resp.status),
            ),
        };
        error_reply(out, 502, outcome, text);
        out.headers.push((STATUSCODE.into(), resp.status.to_string()));
        if let Some(fe) = function_error.and_then(|v| safe_header_value(v, MAX_REASON_HEADER)) {
            out.headers.push((FUNCTION_ERROR.into(), fe.into()));
        }
        push_invoke_headers(out, resp.headers);
        return;
    }

    // U16: never a truncated body.
    if !within_limit {
        too_large_into(out, resp.headers, resp.body.len() as u64, max_response_body_bytes);
        return;
    }

    if let Err(detail) = unwrap_payload(format, resp, out) {
        // U15: the reason goes to the log and filter state, the client gets the generic answer.
        out.reset();
        error_reply(
            out,
            502,
            Outcome::Malformed,
            format!("malformed lambda response: {detail}"),
        );
        push_invoke_headers(out, resp.headers);
    }
}

/// U16 for a body that is still streaming: the adapter calls this as soon as the buffered size passes the
/// limit, without buffering the rest.
pub fn response_too_large(upstream_headers: &[(String, String)], body_len: u64, limit: u64) -> Unwrapped {
    let mut out = Unwrapped::default();
    too_large_into(&mut out, upstream_headers, body_len, limit);
    out
}

fn too_large_into(out: &mut Unwrapped, upstream_headers: &[(String, String)], body_len: u64, limit: u64) {
    out.reset();
    let text = format!("lambda response body of {body_len} bytes exceeds max_response_body_bytes ({limit})");
    error_reply(out, 502, Outcome::TooLarge, text);
    push_invoke_headers(out, upstream_headers);
}

/// Status, generic JSON body, `content-type`, `content-length` (U1, U2, U15, U16). The caller adds its
/// own headers, then the U13 ones.
fn error_reply(out: &mut Unwrapped, status: u16, outcome: Outcome, reason: String) {
    out.status = status;
    out.outcome = outcome;
    out.reason = Some(reason);
    out.body.clear();
    out.body.extend_from_slice(ERROR_BODY.as_bytes());
    out.headers
        .push(("content-type".into(), "application/json".into()));
    out.headers
        .push(("content-length".into(), ERROR_BODY.len().to_string()));
}

/// U13: of the Invoke response's own headers only these two reach the client.
fn push_invoke_headers(out: &mut Unwrapped, upstream_headers: &[(String, String)]) {
    for wanted in FORWARDED_INVOKE_HEADERS {
        for (name, value) in upstream_headers {
            if name.eq_ignore_ascii_case(wanted) && drop_reason(wanted, value).is_none() {
                out.headers.push((wanted.to_string(), value.clone()));
            }
        }
    }
}

/// U1: the string `Reason` of a JSON object body, if any.
fn throttle_reason(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let [reason] = json::pick(text, &["Reason"], None).ok()??;
    match Json::of(reason?).ok()? {
        Json::Str(s) => Some(s.into_owned()),
        _ => None,
    }
}

/// The payload keys the rules read (U3: others are ignored).
const KEYS: [&str; 6] = [
    "statusCode",
    "headers",
    "multiValueHeaders",
    "cookies",
    "body",
    "isBase64Encoded",
];
/// Index of `body` in [`KEYS`]: the member whose string is validated while it is consumed.
const BODY: usize = 4;

/// U3-U14 on a body within the limit. `Err` carries the U15 reason; `out` may then be half-filled.
fn unwrap_payload(
    format: PayloadFormat,
    resp: &InvokeResponse<'_>,
    out: &mut Unwrapped,
) -> Result<(), String> {
    let text = std::str::from_utf8(resp.body).map_err(|e| {
        format!(
            "payload is not valid JSON: invalid UTF-8 at byte {}",
            e.valid_up_to()
        )
    })?;
    // The body string is checked for control characters while it is copied or decoded (write_body).
    let picked =
        json::pick(text, &KEYS, Some(BODY)).map_err(|e| format!("payload is not valid JSON: {e}"))?;
    let fields = match (format, picked) {
        (PayloadFormat::V2, Some(fields @ [Some(_), ..])) => fields,
        (PayloadFormat::V2, picked) => {
            // U14: valid JSON, not an object with statusCode: the output is the body. Valid includes the
            // body member not yet checked for control characters.
            if let Some(fields) = picked {
                for raw in fields.iter().flatten() {
                    raw.validate()
                        .map_err(|e| format!("payload is not valid JSON: {e}"))?;
                }
            }
            out.status = 200;
            out.outcome = Outcome::Inferred;
            out.body.extend_from_slice(resp.body);
            out.headers
                .push(("content-type".into(), "application/json".into()));
            out.headers
                .push(("content-length".into(), out.body.len().to_string()));
            push_invoke_headers(out, resp.headers);
            return Ok(());
        }
        (PayloadFormat::V1, Some(fields)) => fields,
        (PayloadFormat::V1, None) => return Err("payload must be a JSON object".into()),
    };
    let [status_code, headers, multi_value_headers, cookies, body, is_base64_encoded] = fields;

    out.status = status(status_code)?;
    out.outcome = Outcome::Proxied;

    let single = header_map(headers, "headers", |name, raw| {
        Ok(Some(vec![Json::of_raw_value(raw)
            .map_err(|e| invalid("headers", name, &e))?
            .into_text()]))
    })?;
    let multi = header_map(multi_value_headers, "multiValueHeaders", |name, raw| {
        match Json::of_raw_value(raw).map_err(|e| invalid("multiValueHeaders", name, &e))? {
            // U6: a null value adds nothing.
            Json::Null => Ok(None),
            Json::Other(t) if t.starts_with('[') => Ok(Some(elements(t, "multiValueHeaders", name)?)),
            _ => Err(format!(
                "multiValueHeaders.{} must be an array or null",
                for_log(name, 64)
            )),
        }
    })?;
    let cookies = match cookies
        .map(Json::of)
        .transpose()
        .map_err(|e| invalid("cookies", "", &e))?
    {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Other(t)) if t.starts_with('[') => elements(t, "cookies", "")?,
        Some(_) => return Err("cookies must be an array or null".into()),
    };

    // U5-U7: the function's headers.
    let mut sink = Sink {
        out,
        header_bytes: 0,
        has_content_type: false,
    };
    let mut single_used = vec![false; single.entries.len()];
    for (name, values) in &multi.entries {
        for v in values.iter().flatten() {
            sink.push(name, v);
        }
        if let Some(&i) = single.index.get(name.as_str()) {
            if let Some(used) = single_used.get_mut(i) {
                *used = true;
            }
            // U7: multi values first, then the single value unless it equals one of them.
            if let Some((_, Some(sv))) = single.entries.get(i) {
                for v in sv {
                    if !values.iter().flatten().any(|m| m == v) {
                        sink.push(name, v);
                    }
                }
            }
        }
    }
    for ((name, values), used) in single.entries.iter().zip(&single_used) {
        if !used {
            for v in values.iter().flatten() {
                sink.push(name, v);
            }
        }
    }
    let (has_content_type, header_bytes) = (sink.has_content_type, sink.header_bytes);

    // U10, U11: the body.
    let base64 = is_base64_encoded.is_some_and(|r| r.text == "true");
    write_body(body, base64, &mut out.body)?;

    // 204 and 304 never carry a body (RFC 9110 §15.3.5, §15.4.5): one written after them would be read by
    // a keep-alive client as the start of the next response. The body is dropped, and so are the framing
    // headers that would announce it.
    let bodiless = matches!(out.status, 204 | 304);
    if bodiless {
        out.body.clear();
    }
    // U12: content-type default, content-length always (but on 204/304); then U13; then U8's set-cookie lines.
    if !has_content_type && !bodiless {
        out.headers
            .push(("content-type".into(), "application/json".into()));
    }
    if !bodiless {
        out.headers
            .push(("content-length".into(), out.body.len().to_string()));
    }
    push_invoke_headers(out, resp.headers);
    let mut sink = Sink {
        out,
        header_bytes,
        has_content_type,
    };
    for c in &cookies {
        sink.push("set-cookie", c);
    }
    let header_bytes = sink.header_bytes;
    if header_bytes > MAX_RESPONSE_HEADER_BYTES {
        return Err(format!(
            "response headers total {header_bytes} bytes, over the {MAX_RESPONSE_HEADER_BYTES}-byte limit"
        ));
    }
    // Envoy drops every header of a local reply with more than about 1,020 lines, silently (issue 14):
    // an answer over the limit is malformed rather than delivered without its headers.
    if out.headers.len() > MAX_RESPONSE_HEADER_LINES {
        return Err(format!(
            "response has {} header lines, over the limit of {MAX_RESPONSE_HEADER_LINES}",
            out.headers.len()
        ));
    }
    Ok(())
}

/// U4: missing → 200; an integer or a string of digits in 200..=599; anything else is malformed. A 1xx is
/// not a final status: a function answering one with a body would have Envoy write that body after an
/// interim response, where the client reads it as a response written by the function (issue 14).
fn status(raw: Option<Raw<'_>>) -> Result<u16, String> {
    let Some(raw) = raw else { return Ok(200) };
    let digits = match Json::of(raw) {
        Ok(Json::Str(s)) => s,
        Ok(Json::Other(t)) => Cow::Borrowed(t),
        Ok(Json::Null) | Err(_) => Cow::Borrowed(""),
    };
    // Leading zeros do not change the number (`"000201"` is 201); at most 3 significant digits can be in range.
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let significant = digits.trim_start_matches('0');
    match significant.parse::<u16>() {
        Ok(s) if all_digits && significant.len() <= 3 && (200..=599).contains(&s) => Ok(s),
        _ => Err("statusCode must be an integer in 200..=599".into()),
    }
}

/// A header object in document order, keys lower-cased, a later key replacing an earlier one in place.
/// Values are `None` when they add nothing.
struct HeaderMap<'a> {
    entries: Vec<(String, Option<Vec<Cow<'a, str>>>)>,
    index: HashMap<String, usize>,
}

/// Reads `headers` or `multiValueHeaders` (`null` or absent = empty, U5/U6).
fn header_map<'a>(
    raw: Option<Raw<'a>>,
    field: &str,
    mut values: impl FnMut(&str, &'a RawValue) -> Result<Option<Vec<Cow<'a, str>>>, String>,
) -> Result<HeaderMap<'a>, String> {
    let mut map = HeaderMap {
        entries: Vec::new(),
        index: HashMap::new(),
    };
    let Some(raw) = raw else { return Ok(map) };
    let text = raw.text;
    if text == "null" {
        return Ok(map);
    }
    if !text.starts_with('{') {
        return Err(format!("{field} must be an object or null"));
    }
    let Members(members) =
        serde_json::from_str::<Members<'a>>(text).map_err(|e| format!("{field} is not valid JSON: {e}"))?;
    for (key, value) in members {
        let name = key.to_ascii_lowercase();
        let value = values(&name, value)?;
        match map.index.get(&name) {
            Some(&i) => {
                if let Some(slot) = map.entries.get_mut(i) {
                    slot.1 = value;
                }
            }
            None => {
                map.index.insert(name.clone(), map.entries.len());
                map.entries.push((name, value));
            }
        }
    }
    Ok(map)
}

/// The elements of a JSON array (U6, U8): `null` adds nothing, strings verbatim, others compact JSON.
fn elements<'a>(text: &'a str, field: &str, name: &str) -> Result<Vec<Cow<'a, str>>, String> {
    let items = serde_json::from_str::<Vec<&RawValue>>(text).map_err(|e| invalid(field, name, &e))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match Json::of_raw_value(item).map_err(|e| invalid(field, name, &e))? {
            Json::Null => {}
            j => out.push(j.into_text()),
        }
    }
    Ok(out)
}

/// The U15 reason for a member that passed the document scan but does not decode (a lone surrogate).
fn invalid(field: &str, name: &str, e: &dyn std::fmt::Display) -> String {
    let dot = if name.is_empty() { "" } else { "." };
    format!("{field}{dot}{} is not valid JSON: {e}", for_log(name, 64))
}

/// Collects the function's field lines, applying U9.
struct Sink<'o> {
    out: &'o mut Unwrapped,
    header_bytes: usize,
    has_content_type: bool,
}

impl Sink<'_> {
    fn push(&mut self, name: &str, value: &str) {
        if let Some(reason) = drop_reason(name, value) {
            // U9: dropped, and logged at debug by the adapter.
            self.out.dropped_total += 1;
            if self.out.dropped.len() < MAX_DROPPED_KEPT {
                self.out.dropped.push(DroppedHeader {
                    name: for_log(name, 64),
                    reason,
                });
            }
            return;
        }
        self.has_content_type |= name == "content-type";
        self.header_bytes = self.header_bytes.saturating_add(name.len() + value.len());
        self.out.headers.push((name.to_string(), value.to_string()));
    }
}

/// U10, U11: writes the body into `dst` (empty).
fn write_body(body: Option<Raw<'_>>, base64: bool, dst: &mut Vec<u8>) -> Result<(), String> {
    let decode = |text: &[u8], dst: &mut Vec<u8>| {
        // Fast path: the SIMD decoder, straight into `dst`. It accepts a subset of what BASE64 accepts
        // (tested differentially; it refuses non-zero trailing bits), so on refusal BASE64 decides and
        // words the error.
        let start = dst.len();
        if base64_simd::STANDARD.decode_append(text, dst).is_ok() {
            return Ok(());
        }
        dst.truncate(start);
        BASE64
            .decode_vec(text, dst)
            .map_err(|e| format!("body is not valid base64 (isBase64Encoded is true): {e}"))
    };
    if base64 {
        // The usual base64 body has no escapes: decode it straight from the payload, unchecked for
        // control characters since base64 refuses them itself.
        if let Some(text) = body.and_then(|b| b.unescaped_unchecked()) {
            return decode(text.as_bytes(), dst);
        }
    }
    match body
        .map(Json::of)
        .transpose()
        .map_err(|e| invalid("body", "", &e))?
    {
        None | Some(Json::Null) => {}
        Some(Json::Str(s)) if base64 => decode(s.as_bytes(), dst)?,
        Some(Json::Str(Cow::Owned(s))) if dst.capacity() == 0 => *dst = s.into_bytes(),
        Some(Json::Str(s)) => dst.extend_from_slice(s.as_bytes()),
        Some(Json::Other(t)) if base64 => decode(json::compact(t).as_bytes(), dst)?,
        Some(Json::Other(t)) => json::write_compact(dst, t),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
