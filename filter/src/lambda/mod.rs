//! The AWS Lambda proxy integration, without proxy-wasm: the request event (spec lambda.md L1-L4) and the
//! unwrapping of the function's answer (U1-U16).
//!
//! Envoy's `aws_lambda` filter (`payload_passthrough: true`, an upstream filter of the Lambda cluster)
//! signs and sends the Invoke call that the filter makes itself ([`invoke`]); this module builds what the
//! function receives and turns what it answers back into an HTTP response, as API Gateway's Lambda proxy
//! integration does, for payload format 1.0 (REST APIs) and 2.0 (HTTP APIs).
//!
//! ```
//! use std::collections::BTreeMap;
//! use routewise::lambda::{build_event, unwrap_response, EventRequest, InvokeResponse, PayloadFormat};
//!
//! let format: PayloadFormat = "2.0".parse().unwrap();
//! let headers = vec![(":authority".to_string(), "api.example.com".to_string())];
//! let (params, vars) = (vec![("id".to_string(), "7".to_string())], BTreeMap::new());
//! let req = EventRequest {
//!     method: "GET", raw_path: "/shop/pets/7", path: "/pets/7", query: "", headers: &headers,
//!     source_ip: "203.0.113.9", user_agent: None, protocol: "HTTP/1.1", body: b"", content_type: None,
//!     route_key: "GET /pets/{id}", resource_path: "/pets/{id}", path_parameters: &params, stage: "prod",
//!     stage_variables: &vars, request_id: "r-1", domain_name: "api.example.com", api_id: "shop",
//!     request_time_epoch_ms: 1_583_348_638_390, caller: None,
//! };
//! let event = build_event(format, &req, 6 * 1024 * 1024).unwrap(); // Err = 413 (L4)
//! assert!(event.starts_with(br#"{"version":"2.0","routeKey":"GET /pets/{id}","rawPath":"/pets/7""#));
//!
//! let answer = br#"{"statusCode":201,"headers":{"X-Id":"7"},"body":"created"}"#;
//! let resp = InvokeResponse { status: 200, headers: &[], body: answer };
//! let out = unwrap_response(format, &resp, 6 * 1024 * 1024);
//! assert_eq!(out.status, 201);
//! assert_eq!(out.headers, [
//!     ("x-id".to_string(), "7".to_string()),
//!     ("content-type".to_string(), "application/json".to_string()),
//!     ("content-length".to_string(), "7".to_string()),
//! ]);
//! assert_eq!(out.body, b"created");
//! assert_eq!(out.reason, None);
//! ```
//!
//! # Rule selection
//!
//! - Request ([`event`]): L4 first (a body over `max_request_body_bytes` gets 413 and nothing is sent),
//!   then L1 or L2 by the integration's `payload_format_version`, with the body per L3 (text when the
//!   content type is textual and the bytes are UTF-8, else base64).
//! - Response ([`unwrap`]), first match wins: U1 (upstream 429 → 500), U2 (upstream >= 300 or
//!   `x-amz-function-error` → 502), U16 (over `max_response_body_bytes` → 502), then the payload: U14
//!   (2.0, valid JSON but not an object with `statusCode` → the output is the body) or U3-U12, any
//!   violation → U15 (502). U13 applies to every outcome.
//!
//! Nothing here panics on any input: every failure is an answer plus a reason string
//! ([`Unwrapped::reason`], [`RequestTooLarge::reason`]) for the log and filter state.
//!
//! # How the adapter uses it
//!
//! The request never goes through Envoy's router: proxy-wasm cannot give a body to a request that has
//! none (proxy-wasm/spec#86), and most Lambda calls are GETs. The adapter (`adapter/lambda_stream.rs`)
//! keeps what the event needs ([`invoke::PendingInvocation`]), checks `content-length` and then the
//! buffered size against `max_request_body_bytes` (413 at once, [`invoke::request_too_large`]), builds
//! the event at the end of the body, and sends it itself with `dispatch_http_call` to the integration's
//! cluster, whose `aws_lambda` filter, configured as an upstream HTTP filter with `payload_passthrough:
//! true`, signs it and makes it the Invoke call ([`invoke::call_headers`], `timeout_ms`). The Invoke
//! response arrives whole in `on_http_call_response`; [`invoke::answer_call_into`] turns it into the
//! client's response (the timeout rule, then [`unwrap_response_into`]; a body over
//! `max_response_body_bytes` is not even read, U16), which the adapter sends with
//! `send_http_response`: `status`, every [`Unwrapped::headers`] entry its own field line (repeated names
//! stay separate lines), [`Unwrapped::body`]. It counts [`Outcome::as_str`], logs [`Unwrapped::reason`]
//! (warn) and [`Unwrapped::dropped`] (debug) and puts the outcome, the Invoke status and the reason in
//! filter state. The body callbacks of a request whose headers the filter paused run only with
//! `allow_on_headers_stop_iteration: true` (Envoy >= 1.35): without it a Lambda request with a body
//! stalls; the example configs set it. (The spec's preamble speaks of holding the response headers: with
//! the call made by the filter there are none to hold, so the flag matters for request bodies only.)
//!
//! # Where the answer differs from API Gateway's, and why
//!
//! - An answer with an **empty body** carries no `content-type` (U12 asks for `application/json`): Envoy's
//!   local replies drop `content-type` and `content-length` when the body is empty
//!   (`Utility::encodeLocalReply`), and `send_http_response` is how the filter answers. HTTP/1 clients see
//!   `content-length: 0` from Envoy's codec.
//! - The Invoke call timing out after `timeout_ms` (Envoy's 504 without `x-amzn-requestid`) is answered
//!   `504 {"message":"Endpoint request timed out"}`, as API Gateway answers an integration timeout, not with
//!   U2's 502: that status is Envoy's, not Lambda's.

pub mod event;
pub mod eventstream;
pub mod headers;
pub mod invoke;
mod json;
pub mod jwt;
mod query;
mod scan;
pub mod stream_answer;
pub mod stream_prelude;
pub mod unwrap;

pub use event::{
    build_event, build_event_into, check_request_body_len, is_textual_content_type, Caller, EventRequest,
    RequestTooLarge,
};
pub use headers::{DropReason, DroppedHeader};
pub use unwrap::{
    response_too_large, unwrap_response, unwrap_response_into, InvokeResponse, Outcome, Unwrapped,
};

use std::fmt;
use std::str::FromStr;

/// API Gateway payload format version of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PayloadFormat {
    /// `"1.0"`: REST API events (L1).
    V1,
    /// `"2.0"`: HTTP API events (L2), the default.
    #[default]
    V2,
}

impl PayloadFormat {
    /// The config spelling: `"1.0"` or `"2.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::V1 => "1.0",
            PayloadFormat::V2 => "2.0",
        }
    }
}

impl fmt::Display for PayloadFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a `payload_format_version` that is neither `"1.0"` nor `"2.0"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPayloadFormat(pub String);

impl fmt::Display for UnknownPayloadFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown payload_format_version `{}` (hint: use \"1.0\" or \"2.0\")",
            self.0
        )
    }
}

impl std::error::Error for UnknownPayloadFormat {}

impl FromStr for PayloadFormat {
    type Err = UnknownPayloadFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0" => Ok(PayloadFormat::V1),
            "2.0" => Ok(PayloadFormat::V2),
            other => Err(UnknownPayloadFormat(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_format_parses_the_two_config_spellings_only() {
        assert_eq!("1.0".parse(), Ok(PayloadFormat::V1));
        assert_eq!("2.0".parse(), Ok(PayloadFormat::V2));
        for bad in ["1", "2", "v2", "2.0 ", ""] {
            assert_eq!(
                bad.parse::<PayloadFormat>(),
                Err(UnknownPayloadFormat(bad.into()))
            );
        }
        assert_eq!(
            UnknownPayloadFormat("3.0".into()).to_string(),
            "unknown payload_format_version `3.0` (hint: use \"1.0\" or \"2.0\")"
        );
        assert_eq!(PayloadFormat::V1.to_string(), "1.0");
    }
}
