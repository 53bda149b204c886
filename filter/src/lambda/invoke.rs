//! The Invoke call the adapter makes itself, and the answers that are not the function's own (L4's 413, a
//! timeout, a failed call, an internal error): everything of the Lambda stream that needs no proxy-wasm, so
//! that it is tested natively.
//!
//! Why a call of its own instead of rewriting the request: proxy-wasm cannot give a body to a request that
//! arrived without one (`set_buffer_bytes(HTTP_REQUEST_BODY)` from `on_request_headers` is BAD_ARGUMENT in
//! Envoy 1.40 and the SDK traps on it; proxy-wasm/spec#86), and most Lambda requests are GETs. So a Lambda
//! request never reaches Envoy's router. The adapter buffers the request, builds the event
//! ([`PendingInvocation::build_event_into`]), sends it with `dispatch_http_call` to the integration's
//! cluster ([`call_headers`]), whose `aws_lambda` filter, configured as an *upstream* HTTP filter with
//! `payload_passthrough: true`, signs the call and rewrites it to `POST
//! /2015-03-31/functions/<arn>/invocations`; then it answers the client with `send_http_response` from
//! what [`answer_call_into`] makes of the Invoke response.
//!
//! Choices where the spec is silent:
//! - **Timeout** (`timeout_ms`, default 29 000 like API Gateway's integration limit). Envoy answers a
//!   dispatched call that outlives its timeout itself, with a `504` (`upstream request timeout`)
//!   delivered like any response; `get_status` cannot tell it apart (Envoy reports every failed call as
//!   BrokenConnection "reset"). The Invoke API does not answer 504 and always sends `x-amzn-requestid`,
//!   so a 504 *without* `x-amzn-requestid` is taken as the timeout and answered as API Gateway's REST APIs
//!   answer an integration timeout: `504 {"message":"Endpoint request timed out"}` (HTTP APIs answer 503
//!   there; one answer for both formats). A 504 that carries `x-amzn-requestid` is U2's (502).
//! - **A call that fails without response headers** (reset, connection failure, response over Envoy's
//!   buffer): `502 {"message":"Internal server error"}`, as API Gateway answers an unreachable
//!   integration.
//! - **The filter cannot make the call** (`dispatch_http_call` refused, typically a cluster missing from
//!   Envoy) or cannot read the request or the answer: `500 {"message":"Internal server error"}`, API
//!   Gateway's answer for a misconfigured integration.
//! - Every answer made here sets `content-type` (Envoy would add `text/plain` to a local reply without
//!   one) and `content-length`.
//! - `requestId`: Envoy's `x-request-id` (the connection manager sets it before any filter runs), else
//!   `routewise-<epoch ms, hex>-<per-VM counter>`.
//! - `resource` / `resourcePath`: the route key's path (`/pets/{id}` of `GET /pets/{id}`, `/static/*` of
//!   `GET,HEAD /static/*`); for `$default` the path the route saw (as API Gateway's 1.0 example shows).
//! - `domainName`: the `:authority` (else `host`) without port, lower-cased. `sourceIp`: Envoy's
//!   `source.address` without the port. `protocol`: Envoy's `request.protocol`, else `HTTP/1.1`.
//! - Plugins (G1, G2) act on the event as on a forwarded request: the header edits of `key-auth`
//!   (`hide_credentials`) and `proxy-rewrite` apply to the event's headers, their path change to its
//!   path and query, and the consumer `key-auth` identified is the authorizer's `principalId` (1.0
//!   `requestContext.authorizer`, 2.0 `requestContext.authorizer.lambda`), as API Gateway does for API
//!   keys; 1.0 `requestContext.identity.apiKeyId` is the id of its key (the first 10 hex digits of the
//!   key's SHA-256, the start of the consumer's `key_sha256`) and `identity.apiKey` stays `null`: the key
//!   is a credential (`event` module docs). A `response-rewrite` applies to the answer as to any response
//!   (the adapter's response callback sees the filter's own answer).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::event::{build_event_into, check_request_body_len, Caller, EventRequest, RequestTooLarge};
use super::headers::{AMZ_FUNCTION_ERROR, FORWARDED_INVOKE_HEADERS};
use super::unwrap::{
    response_too_large, unwrap_response_into, InvokeResponse, Outcome, Unwrapped, ERROR_BODY,
};
use crate::decision::{Forward, LambdaTarget};
use crate::matchers::addr::parse_remote_addr;
use crate::matchers::host::split_authority;
use crate::matchers::path::split_query;
use crate::plugins::HeaderEdit;

/// `:path` of the Invoke call. The `aws_lambda` upstream filter replaces it with the configured
/// function's; the name only shows in Envoy's logs.
pub const INVOKE_PATH: &str = "/2015-03-31/functions/routewise/invocations";
/// `:authority` of the Invoke call (Envoy needs one; the `aws_lambda` filter signs for the cluster's host).
pub const INVOKE_AUTHORITY: &str = "lambda";
/// Body of the 504 answer to a timed-out call (API Gateway's REST API text).
pub const TIMEOUT_BODY: &str = r#"{"message":"Endpoint request timed out"}"#;
/// Default `timeout_ms` of a Lambda integration: API Gateway's integration timeout (29 s).
pub const DEFAULT_TIMEOUT_MS: u32 = 29_000;
/// Allowed `timeout_ms`: from 50 ms to Lambda's 15-minute maximum.
pub const TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 50..=900_000;

/// `invocation_type` of a Lambda integration: Lambda's `X-Amz-Invocation-Type`.
///
/// `DryRun` is not offered: Envoy's `aws_lambda` filter can only send `RequestResponse` or `Event` (its
/// `invocation_mode`), and a gateway route that answers 204 without running the function serves no client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvocationType {
    /// Synchronous: Lambda answers with the function's payload, which is unwrapped (U3-U16).
    #[default]
    RequestResponse,
    /// Asynchronous: Lambda queues the event and answers `202` with no payload; the client gets that 202.
    Event,
}

impl InvocationType {
    /// The `X-Amz-Invocation-Type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
        }
    }
}

impl std::str::FromStr for InvocationType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "RequestResponse" => Ok(InvocationType::RequestResponse),
            "Event" => Ok(InvocationType::Event),
            _ => Err(()),
        }
    }
}

/// `X-Amz-Invocation-Type`, sent on the Invoke call. A cluster whose `aws_lambda` filter signs the call
/// replaces it with its own `invocation_mode` (`setReference` in the filter), so it matters there only as
/// documentation in Envoy's logs; a cluster signing with `aws_request_signing` passes it to Lambda as is.
pub const INVOCATION_TYPE_HEADER: &str = "x-amz-invocation-type";

/// The header lines of the Invoke call: `POST`, [`INVOKE_PATH`], [`INVOKE_AUTHORITY`], JSON and the
/// integration's [`InvocationType`].
pub fn call_headers(invocation: InvocationType) -> [(&'static str, &'static str); 5] {
    [
        (":method", "POST"),
        (":path", INVOKE_PATH),
        (":authority", INVOKE_AUTHORITY),
        ("content-type", "application/json"),
        (INVOCATION_TYPE_HEADER, invocation.as_str()),
    ]
}

/// What the host knows about a request besides its headers, read by the adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFacts<'a> {
    /// Envoy's `source.address` (`ip:port`, `[v6]:port`).
    pub source_address: Option<&'a str>,
    /// Envoy's `request.protocol` (`HTTP/1.1`, `HTTP/2`).
    pub protocol: Option<&'a str>,
    /// The host clock, milliseconds since the Unix epoch.
    pub now_epoch_ms: u64,
    /// A per-VM sequence number, for the fallback request id.
    pub sequence: u64,
}

/// A Lambda request between its headers and the end of its body: owned copies of everything the event
/// needs except the body (the routing decision borrows from the engine and ends with the callback).
#[derive(Debug, Clone)]
pub struct PendingInvocation {
    /// The integration.
    pub target: Arc<LambdaTarget>,
    /// `:method`.
    pub method: String,
    /// The path as received, without the query.
    pub raw_path: String,
    /// The path the route saw (after any base-path strip), without the query.
    pub path: String,
    /// The query string without `?`: as received, less what a plugin removed.
    pub query: String,
    /// The request's header lines (pseudo-headers included; the event leaves them out).
    pub headers: Vec<(String, String)>,
    /// Client IP.
    pub source_ip: String,
    /// `HTTP/1.1`, `HTTP/2`.
    pub protocol: String,
    /// Route key.
    pub route_key: String,
    /// Resource path (see the module docs).
    pub resource_path: String,
    /// Path parameters in pattern order.
    pub path_parameters: Vec<(String, String)>,
    /// Stage name.
    pub stage: String,
    /// Stage variables.
    pub stage_variables: BTreeMap<String, String>,
    /// Request id.
    pub request_id: String,
    /// Host without port.
    pub domain_name: String,
    /// API id.
    pub api_id: String,
    /// Request time, epoch milliseconds.
    pub request_time_epoch_ms: u64,
    /// The consumer `key-auth` identified (G2).
    pub consumer: Option<String>,
    /// The id of the key that identified it (1.0 `identity.apiKeyId`; never the key).
    pub api_key_id: Option<String>,
    /// The claims of a token Envoy's `jwt_authn` verified, when the integration reads them
    /// ([`super::jwt`]); set by the pipeline after [`PendingInvocation::new`].
    pub jwt: Option<super::jwt::JwtClaims>,
}

impl PendingInvocation {
    /// Takes what the event needs from the request's header lines (as Envoy gives them, client copies of
    /// internal headers already removed), the routing decision and the host.
    pub fn new(
        target: Arc<LambdaTarget>,
        f: &Forward<'_>,
        mut headers: Vec<(String, String)>,
        host: &HostFacts<'_>,
    ) -> PendingInvocation {
        // G2: what the plugins remove or set reaches the function as it would reach an HTTP upstream.
        apply_header_edits(&mut headers, &f.plugins.request_headers);
        let first = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let method = first(":method").unwrap_or_default().to_string();
        let (raw_path, raw_query) = split_query(first(":path").unwrap_or("/"));
        // `f.path` is the new `:path` with its query when a base path was stripped (R7, R9) or a plugin
        // changed it (a `key-auth` credential removed from the query, G2): what the function sees.
        let (path, query) = match &f.path {
            Some(p) => split_query(p),
            None => (raw_path, raw_query),
        };
        let authority = first(":authority").or_else(|| first("host")).unwrap_or_default();
        let domain_name = split_authority(authority).0.into_owned();
        let request_id = match first("x-request-id") {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => format!("routewise-{:x}-{}", host.now_epoch_ms, host.sequence),
        };
        let source_ip = match host.source_address {
            Some(a) => parse_remote_addr(a).map_or_else(|| a.to_string(), |ip| ip.to_string()),
            None => String::new(),
        };
        PendingInvocation {
            method,
            raw_path: raw_path.to_string(),
            path: path.to_string(),
            query: query.unwrap_or_default().to_string(),
            source_ip,
            protocol: host.protocol.unwrap_or("HTTP/1.1").to_string(),
            route_key: f.route_key.to_string(),
            resource_path: resource_path(f.route_key, path).to_string(),
            path_parameters: f
                .path_params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            stage: f.stage.to_string(),
            stage_variables: f.stage_variables.clone(),
            request_id,
            domain_name,
            api_id: f.api.to_string(),
            request_time_epoch_ms: host.now_epoch_ms,
            consumer: f.plugins.consumer.map(str::to_string),
            api_key_id: f.plugins.api_key_id.map(str::to_string),
            jwt: None,
            headers,
            target,
        }
    }

    /// The first line of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// L4 on request headers: a `content-length` over `max_request_body_bytes` is refused before any body
    /// arrives. An unparsable value is left to Envoy (which rejects it) and to the count of buffered bytes.
    pub fn check_content_length(&self) -> Result<(), RequestTooLarge> {
        match self
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(len) => check_request_body_len(len, self.target.max_request_body_bytes),
            None => Ok(()),
        }
    }

    /// L4 while the body streams in: `buffered` bytes so far.
    pub fn check_buffered(&self, buffered: u64) -> Result<(), RequestTooLarge> {
        check_request_body_len(buffered, self.target.max_request_body_bytes)
    }

    /// The event's input with `body`.
    pub fn event_request<'s>(&'s self, body: &'s [u8]) -> EventRequest<'s> {
        EventRequest {
            method: &self.method,
            raw_path: &self.raw_path,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            source_ip: &self.source_ip,
            user_agent: self.header("user-agent"),
            protocol: &self.protocol,
            body,
            content_type: self.header("content-type"),
            route_key: &self.route_key,
            resource_path: &self.resource_path,
            path_parameters: &self.path_parameters,
            stage: &self.stage,
            stage_variables: &self.stage_variables,
            request_id: &self.request_id,
            domain_name: &self.domain_name,
            api_id: &self.api_id,
            request_time_epoch_ms: self.request_time_epoch_ms,
            caller: (self.consumer.is_some() || self.api_key_id.is_some() || self.jwt.is_some()).then(|| {
                Caller {
                    consumer: self.consumer.as_deref(),
                    api_key_id: self.api_key_id.as_deref(),
                    jwt: self.jwt.as_ref(),
                    ..Caller::default()
                }
            }),
        }
    }

    /// L1-L4: the event for the whole `body` into `out` (cleared first; left empty on `Err`).
    pub fn build_event_into(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), RequestTooLarge> {
        build_event_into(
            self.target.payload_format,
            &self.event_request(body),
            self.target.max_request_body_bytes,
            out,
        )
    }
}

/// Applies plugin header edits to header lines, as Envoy applies them to its header map (names compared
/// without case; a set replaces every line of the name with one, appended).
fn apply_header_edits(headers: &mut Vec<(String, String)>, edits: &[HeaderEdit]) {
    for e in edits {
        match e {
            HeaderEdit::Remove(n) => headers.retain(|(h, _)| !h.eq_ignore_ascii_case(n)),
            HeaderEdit::Set(n, v) => {
                headers.retain(|(h, _)| !h.eq_ignore_ascii_case(n));
                headers.push((n.to_ascii_lowercase(), v.to_string()));
            }
            HeaderEdit::Add(n, v) => headers.push((n.to_ascii_lowercase(), v.to_string())),
        }
    }
}

/// `/pets/{id}` of `GET /pets/{id}`; `path` for `$default` (or any key without a path part).
fn resource_path<'a>(route_key: &'a str, path: &'a str) -> &'a str {
    match route_key.split_once(' ') {
        Some((_, resource)) if resource.starts_with('/') => resource,
        _ => path,
    }
}

/// The Invoke call's answer as the adapter read it.
#[derive(Debug, Clone, Copy)]
pub struct CallResponse<'a> {
    /// Every header line, `:status` included.
    pub headers: &'a [(String, String)],
    /// The body, or `None` when it was not read because `body_len` is over `max_response_body_bytes`.
    pub body: Option<&'a [u8]>,
    /// The body's length as Envoy announced it.
    pub body_len: u64,
}

/// Turns the Invoke call's answer into the client's response: the timeout rule (module docs), then U1-U16
/// ([`unwrap_response_into`]); a body left unread for its size is U16's unless U1 or U2 decide first (they
/// ignore the body). Returns the Invoke status, when there was one, for filter state.
pub fn answer_call_into(target: &LambdaTarget, resp: &CallResponse<'_>, out: &mut Unwrapped) -> Option<u16> {
    let status = resp
        .headers
        .iter()
        .find(|(n, _)| n == ":status")
        .and_then(|(_, v)| v.parse::<u16>().ok());
    let Some(status) = status else {
        *out = call_failed("the Invoke response has no valid :status");
        return None;
    };
    let has = |name: &str| resp.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if status == 504 && !has(FORWARDED_INVOKE_HEADERS[0]) {
        *out = timeout(target.timeout_ms);
        return Some(status);
    }
    // The Invoke API always sends x-amzn-requestid. A 502/503 without it is Envoy's own answer for an
    // endpoint that reset, refused the connection or sent something that is not HTTP: the call failed, and
    // the status is Envoy's, not Lambda's (U2 would report it as x-envoy-lambda-statuscode; issue 14).
    if matches!(status, 502 | 503) && !has(FORWARDED_INVOKE_HEADERS[0]) {
        *out = call_failed(&format!(
            "Envoy answered {status} for the Lambda endpoint (no x-amzn-requestid: the endpoint did not answer)"
        ));
        return None;
    }
    if let Some(answer) = invocation_answer(target.invocation, status, has(AMZ_FUNCTION_ERROR)) {
        *out = answer;
        return Some(status);
    }
    let format = target.payload_format;
    let limit = target.max_response_body_bytes;
    match resp.body {
        Some(body) => unwrap_response_into(
            format,
            &InvokeResponse {
                status,
                headers: resp.headers,
                body,
            },
            limit,
            out,
        ),
        // U1 and U2 never read the body: decide them with none. Anything else is U16.
        None if status == 429 || status >= 300 || has(AMZ_FUNCTION_ERROR) => unwrap_response_into(
            format,
            &InvokeResponse {
                status,
                headers: resp.headers,
                body: b"",
            },
            limit,
            out,
        ),
        None => *out = response_too_large(resp.headers, resp.body_len, limit),
    }
    Some(status)
}

/// The answers decided by the integration's [`InvocationType`] before any unwrapping; `None`: unwrap as
/// usual (throttling and errors, >= 300 or `x-amz-function-error`, keep U1/U2 in both modes).
///
/// - `Event` and Lambda's `202`: the event is queued; the client gets `202` with no body (and
///   `content-type: application/json`, API Gateway's default, as U12 gives every empty answer). This is
///   what Kong's and Gloo's asynchronous Lambda options answer, and what an API Gateway method with
///   `X-Amz-Invocation-Type: 'Event'` shows when it maps the integration's 202 through.
/// - `Event` and any other 2xx: the cluster invoked synchronously (its `aws_lambda` `invocation_mode` is
///   `SYNCHRONOUS`, the default), so the function has run and its answer is not what the route promises:
///   `502`, reason naming both settings, nothing of the function's answer sent.
/// - `RequestResponse` and `202`: the cluster invoked asynchronously (`invocation_mode: ASYNCHRONOUS`);
///   there is no function answer to unwrap: `502`, reason naming both settings. (A synchronous Invoke
///   never answers 202.)
fn invocation_answer(invocation: InvocationType, status: u16, function_error: bool) -> Option<Unwrapped> {
    if function_error || !(200..300).contains(&status) {
        return None;
    }
    match (invocation, status) {
        (InvocationType::Event, 202) => Some(Unwrapped {
            status: 202,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("content-length".into(), "0".into()),
            ],
            outcome: Outcome::Accepted,
            ..Unwrapped::default()
        }),
        (InvocationType::Event, s) => Some(filter_answer(
            502,
            ERROR_BODY,
            Outcome::InvocationMismatch,
            format!(
                "the integration's invocation_type is \"Event\" but Lambda answered {s}, a synchronous \
                 invocation: set invocation_mode: ASYNCHRONOUS on the cluster's aws_lambda filter (the \
                 function has run; its answer was dropped)"
            ),
        )),
        (InvocationType::RequestResponse, 202) => Some(filter_answer(
            502,
            ERROR_BODY,
            Outcome::InvocationMismatch,
            "the integration's invocation_type is \"RequestResponse\" but Lambda answered 202, an \
             asynchronous (Event) invocation with no function answer: the cluster's aws_lambda filter has \
             invocation_mode: ASYNCHRONOUS; set invocation_type: \"Event\" on the integration or make the \
             cluster synchronous"
                .to_string(),
        )),
        (InvocationType::RequestResponse, _) => None,
    }
}

/// L4: `413 {"message":"Request Entity Too Large"}`, nothing invoked.
pub fn request_too_large(e: &RequestTooLarge) -> Unwrapped {
    filter_answer(
        RequestTooLarge::STATUS,
        RequestTooLarge::BODY,
        Outcome::RequestTooLarge,
        e.reason(),
    )
}

/// The Invoke call failed without an answer: `502 {"message":"Internal server error"}`.
pub fn call_failed(detail: &str) -> Unwrapped {
    filter_answer(
        502,
        ERROR_BODY,
        Outcome::CallFailed,
        format!("the Invoke call failed: {detail}"),
    )
}

/// The Invoke call timed out: `504 {"message":"Endpoint request timed out"}`.
pub fn timeout(timeout_ms: u32) -> Unwrapped {
    filter_answer(
        504,
        TIMEOUT_BODY,
        Outcome::Timeout,
        format!("the Invoke call timed out (no answer within timeout_ms = {timeout_ms})"),
    )
}

/// A host call failed around the invocation: `500 {"message":"Internal server error"}`.
pub fn internal_error(detail: String) -> Unwrapped {
    filter_answer(500, ERROR_BODY, Outcome::InternalError, detail)
}

fn filter_answer(status: u16, body: &str, outcome: Outcome, reason: String) -> Unwrapped {
    Unwrapped {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("content-length".into(), body.len().to_string()),
        ],
        body: body.as_bytes().to_vec(),
        outcome,
        reason: Some(reason),
        ..Unwrapped::default()
    }
}

#[cfg(test)]
mod tests;
