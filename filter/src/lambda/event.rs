//! The request event sent to the function (L1-L4): API Gateway's payload format 1.0 and 2.0.
//!
//! [`build_event_into`] checks the body limit first (L4) and then writes the whole event as JSON into a
//! caller-owned buffer, by hand (no intermediate `Value` tree; field order as in AWS's documented
//! examples). Every string goes through one escaping writer, so header values, paths and bodies with
//! quotes, backslashes or control characters always give valid JSON; a body that is not textual UTF-8 is
//! base64-encoded (L3).
//!
//! Choices where the spec is silent:
//! - Paths. `path` (1.0) and `rawPath` / `requestContext.http.path` (2.0) are the path the route saw, after
//!   any base-path strip (R7/R9): stripping is what the user asked the gateway to forward. API Gateway
//!   itself leaves a custom domain's base path in `path` (a long-standing quirk, e.g.
//!   CodeGenieApp/serverless-express#216); the path as received is still there in 1.0's
//!   `requestContext.path`, as in API Gateway.
//! - Headers arrive lower-cased from Envoy and stay so (API Gateway 1.0 would keep the client's case).
//!   Pseudo-headers are left out, except that `:authority` becomes `host` when there is no `host` line
//!   (Envoy keeps the Host header only as `:authority`). Names appear in byte order; the values of a
//!   name keep their order.
//! - 2.0 omits `cookies`, `queryStringParameters`, `pathParameters`, `stageVariables` and `body` when
//!   empty, as API Gateway does; 1.0 sends `null` for the empty maps and the empty body.
//! - A repeated path parameter name keeps the last value.
//! - `requestTime` (1.0) and `time` (2.0) are derived from the epoch milliseconds, in API Gateway's
//!   `12/Mar/2020:19:03:58 +0000` form; `domainPrefix` is the domain name's first label.
//! - The caller part ([`Caller`], for authentication plugins): 1.0 `requestContext.identity.apiKeyId`
//!   (`null` when unknown) and `requestContext.authorizer` = `{"principalId": <consumer>, <context...>}`;
//!   2.0 `requestContext.authorizer.lambda` = the same object (2.0 has no `identity`: HTTP APIs have no
//!   API keys). `authorizer` is omitted when there is nothing to put in it. For `key-auth`, `apiKeyId` is
//!   the key's id, the first 10 hex digits of its SHA-256 (the start of the consumer's configured
//!   `key_sha256`, so operators can correlate), and `principalId` the consumer's name.
//! - JWT claims ([`Caller::jwt`], verified by Envoy's `jwt_authn`, [`super::jwt`]): 1.0
//!   `requestContext.authorizer.claims` (after `principalId` when a consumer is known too), 2.0
//!   `requestContext.authorizer.jwt` = `{"claims": {...}, "scopes": [...] | null}` (before `lambda`), every
//!   claim a string (lambda-streaming.md §7.1, §7.2; the rules and why 1.0 uses strings: [`super::jwt`]).
//!   1.0 has no `scopes`: API Gateway's documented 1.0 places are the claims only (§7.1).
//! - `requestContext.identity.apiKey` is always `null`, although API Gateway puts the presented key
//!   there: the key is a credential, and `key-auth` removes it before forwarding by default
//!   (`hide_credentials`) precisely so that the backend never holds it. A function that logs its event
//!   would otherwise write every caller's key into its logs. [`Caller`] has no field for it, so no plugin
//!   can send one; `apiKeyId` and `principalId` say who called.
//! - `requestContext` fields API Gateway fills from its own state, derived here (L1, L2; compared key by key
//!   with AWS's example events in the tests, `l1_l2_keys_and_types_match_aws_example_events`):
//!   - `accountId` (1.0 and 2.0): `null`. API Gateway sends the API owner's account; routewise does not know
//!     it (the function's ARN, which carries the account, is configured on the Envoy cluster's `aws_lambda`
//!     filter, not in routewise's config).
//!   - `extendedRequestId` (1.0): the same value as `requestId` (Envoy's `x-request-id`, else
//!     `routewise-<ms>-<n>`): API Gateway's second id has no counterpart in Envoy.
//!   - `resourceId` (1.0): 6 characters of `[0-9a-z]` like API Gateway's (`roq9wj`), derived from the
//!     resource path (FNV-1a 64 in base 36), so that every request to one resource carries the same id.
//!   - `resourcePath` (1.0): the route key's path template (`/pets/{id}`), as `resource`.
//!   - `identity` (1.0): every key API Gateway sends (`accessKey`, `accountId`, `apiKey`, `apiKeyId`,
//!     `caller`, `cognitoAuthenticationProvider`, `cognitoAuthenticationType`, `cognitoIdentityId`,
//!     `cognitoIdentityPoolId`, `principalOrgId`, `sourceIp`, `user`, `userAgent`, `userArn`), `null` for
//!     the IAM, Cognito and Organizations ones the filter cannot know.
//!   - Not sent: 1.0 `identity.clientCert` and 2.0 `authentication` (mutual TLS only; the filter does not
//!     read Envoy's TLS state).
//! - The 413 answer (L4) is `{"message":"Request Entity Too Large"}` with `content-type:
//!   application/json`.

use std::collections::BTreeMap;

use super::json::write_str;
use super::jwt::JwtClaims;
use super::query;
use super::PayloadFormat;

/// What the event is built from: the request as Envoy saw it plus what routing decided. All borrowed; the
/// adapter fills it from the header map, properties and the route match.
#[derive(Debug, Clone, Copy)]
pub struct EventRequest<'a> {
    /// HTTP method (`GET`).
    pub method: &'a str,
    /// The path as received, before any base-path strip, without the query (`/orders/pets/7`).
    pub raw_path: &'a str,
    /// The path the route saw, after any base-path strip (`/pets/7`).
    pub path: &'a str,
    /// The query string without the leading `?`, as received (`a=1&a=2`); empty when none.
    pub query: &'a str,
    /// Request header field lines, lower-case names, repeats as separate entries, in order. Pseudo-headers
    /// may be included (`:authority` gives `host`, the others are ignored).
    pub headers: &'a [(String, String)],
    /// Client address (`203.0.113.9`).
    pub source_ip: &'a str,
    /// The `User-Agent` value, if any.
    pub user_agent: Option<&'a str>,
    /// `HTTP/1.1`, `HTTP/2`.
    pub protocol: &'a str,
    /// The whole request body.
    pub body: &'a [u8],
    /// The request's `content-type` value, if any (L3).
    pub content_type: Option<&'a str>,
    /// Route key (`GET /pets/{id}`, `$default`).
    pub route_key: &'a str,
    /// Resource path of the route (`/pets/{id}`).
    pub resource_path: &'a str,
    /// Path parameters from `{name}` / `{proxy+}` segments, in route order.
    pub path_parameters: &'a [(String, String)],
    /// Stage name.
    pub stage: &'a str,
    /// Stage variables.
    pub stage_variables: &'a BTreeMap<String, String>,
    /// Request id (also sent to the client by the adapter).
    pub request_id: &'a str,
    /// The domain name the request came to (the Host, without port).
    pub domain_name: &'a str,
    /// The API's id.
    pub api_id: &'a str,
    /// Request time, milliseconds since the Unix epoch.
    pub request_time_epoch_ms: u64,
    /// Who is calling, when an authentication plugin identified them.
    pub caller: Option<Caller<'a>>,
}

/// The identity part of the event, filled by authentication plugins (`key-auth`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    /// Consumer name (`principalId` of the authorizer object).
    pub consumer: Option<&'a str>,
    /// The id of the API key presented, never the key (1.0 `identity.apiKeyId`; for `key-auth` the first 10
    /// hex digits of the key's SHA-256). There is no field for the key itself: 1.0 `identity.apiKey` is
    /// always `null` (module docs).
    pub api_key_id: Option<&'a str>,
    /// Extra authorizer context entries, after `principalId`.
    pub context: &'a [(String, String)],
    /// The claims of a JWT Envoy's `jwt_authn` verified (1.0 `authorizer.claims`, 2.0 `authorizer.jwt`).
    pub jwt: Option<&'a JwtClaims>,
}

/// L4: the request body is over the configured limit; answer 413 and send nothing to Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTooLarge {
    /// Body length seen (for a streamed body: the length when the limit was first passed).
    pub body_len: u64,
    /// The configured `max_request_body_bytes`.
    pub limit: u64,
}

impl RequestTooLarge {
    /// Status of the local reply.
    pub const STATUS: u16 = 413;
    /// Body of the local reply (`content-type: application/json`).
    pub const BODY: &'static str = r#"{"message":"Request Entity Too Large"}"#;
    /// Content type of [`Self::BODY`].
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// The log / filter-state reason.
    pub fn reason(&self) -> String {
        format!(
            "request body of {} bytes exceeds max_request_body_bytes ({})",
            self.body_len, self.limit
        )
    }
}

/// L4: `Err` when a body of `body_len` bytes may not be sent (strictly more than `limit`). The adapter
/// calls this with `content-length` on request headers and with the buffered size on each body chunk, so
/// that an oversized body is refused as soon as it is known.
pub fn check_request_body_len(body_len: u64, limit: u64) -> Result<(), RequestTooLarge> {
    if body_len > limit {
        Err(RequestTooLarge { body_len, limit })
    } else {
        Ok(())
    }
}

/// L3: whether a body of this content type is sent as text (when it is also valid UTF-8): `text/*`,
/// `application/json`, `application/xml`, `*/*+json`, `*/*+xml`, `application/x-www-form-urlencoded`.
/// Parameters (`; charset=utf-8`) are ignored, case does not matter.
pub fn is_textual_content_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let Some((ty, sub)) = media.split_once('/') else {
        return false;
    };
    let sub_ends = |suffix: &str| {
        sub.len() >= suffix.len()
            && sub
                .get(sub.len() - suffix.len()..)
                .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
    };
    ty.eq_ignore_ascii_case("text")
        || [
            "application/json",
            "application/xml",
            "application/x-www-form-urlencoded",
        ]
        .iter()
        .any(|t| media.eq_ignore_ascii_case(t))
        || sub_ends("+json")
        || sub_ends("+xml")
}

/// Builds the event; see [`build_event_into`].
pub fn build_event(
    format: PayloadFormat,
    req: &EventRequest<'_>,
    max_request_body_bytes: u64,
) -> Result<Vec<u8>, RequestTooLarge> {
    let mut out = Vec::new();
    build_event_into(format, req, max_request_body_bytes, &mut out)?;
    Ok(out)
}

/// Checks the body limit (L4), then clears `out` and writes the event JSON (L1 or L2, body per L3).
/// On `Err`, `out` is left empty: nothing may be sent.
pub fn build_event_into(
    format: PayloadFormat,
    req: &EventRequest<'_>,
    max_request_body_bytes: u64,
    out: &mut Vec<u8>,
) -> Result<(), RequestTooLarge> {
    out.clear();
    // L4 before anything else: an oversized body never reaches Lambda.
    check_request_body_len(req.body.len() as u64, max_request_body_bytes)?;
    out.reserve(1024 + req.body.len() / 3 * 4 + 4);
    match format {
        PayloadFormat::V1 => write_v1(req, out),
        PayloadFormat::V2 => write_v2(req, out),
    }
    Ok(())
}

/// 1.0 `requestContext.identity` keys the filter has no value for (IAM, Cognito, Organizations callers;
/// `apiKey` by choice, module docs), written as `null` before `apiKeyId`, `sourceIp` and `userAgent`.
const IDENTITY_NULL_KEYS: [&str; 11] = [
    "accessKey",
    "accountId",
    "apiKey",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityId",
    "cognitoIdentityPoolId",
    "principalOrgId",
    "user",
    "userArn",
];

/// L1: payload format 1.0 (REST APIs).
fn write_v1(req: &EventRequest<'_>, out: &mut Vec<u8>) {
    let headers = group(event_headers(req, true));
    let params = query::parse(req.query);
    let params = group(params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));

    field(out, "{", "resource", req.resource_path);
    field(out, ",", "path", req.path);
    field(out, ",", "httpMethod", req.method);
    key(out, ",", "headers");
    write_last_map(out, &headers);
    key(out, ",", "multiValueHeaders");
    write_multi_map(out, &headers);
    key(out, ",", "queryStringParameters");
    if params.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        write_last_map(out, &params);
    }
    key(out, ",", "multiValueQueryStringParameters");
    if params.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        write_multi_map(out, &params);
    }
    key(out, ",", "pathParameters");
    write_pairs_or_null(out, req.path_parameters);
    key(out, ",", "stageVariables");
    write_stage_variables_or_null(out, req.stage_variables);

    key(out, ",", "requestContext");
    // Unknown to the filter (module docs): the function's ARN, and so its account, is in the Envoy
    // cluster's `aws_lambda` filter, not in routewise's config.
    key(out, "{", "accountId");
    out.extend_from_slice(b"null");
    field(out, ",", "apiId", req.api_id);
    if let Some(caller) = &req.caller {
        if has_authorizer(caller) {
            key(out, ",", "authorizer");
            write_authorizer_with(out, caller, caller.jwt);
        }
    }
    field(out, ",", "domainName", req.domain_name);
    field(out, ",", "domainPrefix", domain_prefix(req.domain_name));
    field(out, ",", "extendedRequestId", req.request_id);
    field(out, ",", "httpMethod", req.method);
    key(out, ",", "identity");
    let caller = req.caller.unwrap_or_default();
    // Every key API Gateway sends, `null` where the filter knows nothing (no IAM, Cognito or
    // Organizations caller); never the key itself: a credential (module docs).
    for (i, name) in IDENTITY_NULL_KEYS.iter().enumerate() {
        key(out, if i == 0 { "{" } else { "," }, name);
        out.extend_from_slice(b"null");
    }
    key(out, ",", "apiKeyId");
    write_opt_str(out, caller.api_key_id);
    field(out, ",", "sourceIp", req.source_ip);
    key(out, ",", "userAgent");
    write_opt_str(out, req.user_agent);
    out.push(b'}');
    field(out, ",", "path", req.raw_path);
    field(out, ",", "protocol", req.protocol);
    field(out, ",", "requestId", req.request_id);
    key(out, ",", "requestTime");
    write_clf_time(out, req.request_time_epoch_ms);
    key(out, ",", "requestTimeEpoch");
    push_u64(out, req.request_time_epoch_ms);
    field(out, ",", "resourceId", &resource_id(req.resource_path));
    field(out, ",", "resourcePath", req.resource_path);
    field(out, ",", "stage", req.stage);
    out.push(b'}');

    key(out, ",", "body");
    let base64 = write_body(out, req);
    key(out, ",", "isBase64Encoded");
    out.extend_from_slice(if base64 { b"true" } else { b"false" });
    out.push(b'}');
}

/// L2: payload format 2.0 (HTTP APIs).
fn write_v2(req: &EventRequest<'_>, out: &mut Vec<u8>) {
    let headers = group(event_headers(req, false));
    let params = query::parse(req.query);
    let params = group(params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));

    field(out, "{", "version", "2.0");
    field(out, ",", "routeKey", req.route_key);
    field(out, ",", "rawPath", req.path);
    field(out, ",", "rawQueryString", req.query);
    let mut cookies = req
        .headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split("; "))
        .filter(|c| !c.is_empty())
        .peekable();
    if cookies.peek().is_some() {
        key(out, ",", "cookies");
        let mut sep = b'[';
        for c in cookies {
            out.push(sep);
            sep = b',';
            write_str(out, c);
        }
        out.push(b']');
    }
    key(out, ",", "headers");
    write_joined_map(out, &headers);
    if !params.is_empty() {
        key(out, ",", "queryStringParameters");
        write_joined_map(out, &params);
    }

    key(out, ",", "requestContext");
    // Unknown to the filter, as in 1.0.
    key(out, "{", "accountId");
    out.extend_from_slice(b"null");
    field(out, ",", "apiId", req.api_id);
    if let Some(caller) = &req.caller {
        if has_authorizer(caller) {
            key(out, ",", "authorizer");
            let mut sep = "{";
            if let Some(jwt) = caller.jwt {
                key(out, sep, "jwt");
                write_jwt_v2(out, jwt);
                sep = ",";
            }
            if has_lambda_context(caller) {
                key(out, sep, "lambda");
                write_authorizer(out, caller);
            }
            out.push(b'}');
        }
    }
    field(out, ",", "domainName", req.domain_name);
    field(out, ",", "domainPrefix", domain_prefix(req.domain_name));
    key(out, ",", "http");
    field(out, "{", "method", req.method);
    field(out, ",", "path", req.path);
    field(out, ",", "protocol", req.protocol);
    field(out, ",", "sourceIp", req.source_ip);
    key(out, ",", "userAgent");
    write_opt_str(out, req.user_agent);
    out.push(b'}');
    field(out, ",", "requestId", req.request_id);
    field(out, ",", "routeKey", req.route_key);
    field(out, ",", "stage", req.stage);
    key(out, ",", "time");
    write_clf_time(out, req.request_time_epoch_ms);
    key(out, ",", "timeEpoch");
    push_u64(out, req.request_time_epoch_ms);
    out.push(b'}');

    let mut base64 = false;
    if !req.body.is_empty() {
        key(out, ",", "body");
        base64 = write_body(out, req);
    }
    if !req.path_parameters.is_empty() {
        key(out, ",", "pathParameters");
        write_pairs_or_null(out, req.path_parameters);
    }
    key(out, ",", "isBase64Encoded");
    out.extend_from_slice(if base64 { b"true" } else { b"false" });
    if !req.stage_variables.is_empty() {
        key(out, ",", "stageVariables");
        write_stage_variables_or_null(out, req.stage_variables);
    }
    out.push(b'}');
}

/// The header lines that go into the event: pseudo-headers out, `:authority` as `host` when there is no
/// `host` line, and (2.0) `cookie` out, since it becomes `cookies`.
fn event_headers<'a>(
    req: &EventRequest<'a>,
    keep_cookie: bool,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let headers: &'a [(String, String)] = req.headers;
    let has_host = headers.iter().any(|(n, _)| n == "host");
    headers.iter().filter_map(move |(n, v)| {
        if n == ":authority" && !has_host {
            Some(("host", v.as_str()))
        } else if n.starts_with(':') || (!keep_cookie && n == "cookie") {
            None
        } else {
            Some((n.as_str(), v.as_str()))
        }
    })
}

/// Groups `(name, value)` pairs by name: names in byte order, each name's values in input order.
fn group<'s>(pairs: impl Iterator<Item = (&'s str, &'s str)>) -> Vec<(&'s str, Vec<&'s str>)> {
    let mut pairs: Vec<(&str, &str)> = pairs.collect();
    crate::sort::sort_by(&mut pairs, |a, b| a.0.cmp(b.0)); // stable: values keep their order
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value) in pairs {
        match out.last_mut() {
            Some((last, values)) if *last == name => values.push(value),
            _ => out.push((name, vec![value])),
        }
    }
    out
}

/// `{"name":"last value",...}` (1.0 `headers`, `queryStringParameters`).
fn write_last_map(out: &mut Vec<u8>, groups: &[(&str, Vec<&str>)]) {
    let mut sep = "{";
    for (name, values) in groups {
        field(out, sep, name, values.last().copied().unwrap_or_default());
        sep = ",";
    }
    close_object(out, sep);
}

/// `{"name":["v1","v2"],...}` (1.0 `multiValueHeaders`, `multiValueQueryStringParameters`).
fn write_multi_map(out: &mut Vec<u8>, groups: &[(&str, Vec<&str>)]) {
    let mut sep = "{";
    for (name, values) in groups {
        key(out, sep, name);
        sep = ",";
        let mut vsep = b'[';
        for v in values {
            out.push(vsep);
            vsep = b',';
            write_str(out, v);
        }
        out.push(b']');
    }
    close_object(out, sep);
}

/// `{"name":"v1,v2",...}` (2.0 `headers`, `queryStringParameters`).
fn write_joined_map(out: &mut Vec<u8>, groups: &[(&str, Vec<&str>)]) {
    let mut sep = "{";
    for (name, values) in groups {
        key(out, sep, name);
        sep = ",";
        write_str(out, &values.join(","));
    }
    close_object(out, sep);
}

/// Path parameters as an object (a repeated name keeps the last value), or `null` when there are none.
fn write_pairs_or_null(out: &mut Vec<u8>, pairs: &[(String, String)]) {
    let groups = group(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if groups.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        write_last_map(out, &groups);
    }
}

fn write_stage_variables_or_null(out: &mut Vec<u8>, vars: &BTreeMap<String, String>) {
    if vars.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    let mut sep = "{";
    for (k, v) in vars {
        field(out, sep, k, v);
        sep = ",";
    }
    close_object(out, sep);
}

fn has_authorizer(caller: &Caller<'_>) -> bool {
    has_lambda_context(caller) || caller.jwt.is_some()
}

/// What 2.0 puts in `authorizer.lambda` (and 1.0 at the top of `authorizer`): a consumer or context.
fn has_lambda_context(caller: &Caller<'_>) -> bool {
    caller.consumer.is_some() || !caller.context.is_empty()
}

/// `{"principalId":"<consumer>",<context...>}`; in 1.0 (`claims`) also `"claims":{...}` (§7.1).
fn write_authorizer(out: &mut Vec<u8>, caller: &Caller<'_>) {
    write_authorizer_with(out, caller, None);
}

fn write_authorizer_with(out: &mut Vec<u8>, caller: &Caller<'_>, claims: Option<&JwtClaims>) {
    let mut sep = "{";
    if let Some(consumer) = caller.consumer {
        field(out, sep, "principalId", consumer);
        sep = ",";
    }
    for (k, v) in caller.context {
        field(out, sep, k, v);
        sep = ",";
    }
    if let Some(jwt) = claims {
        key(out, sep, "claims");
        write_claims(out, jwt);
        sep = ",";
    }
    close_object(out, sep);
}

/// `{"claim":"value",...}`: every claim a string (§7.1, §7.2).
fn write_claims(out: &mut Vec<u8>, jwt: &JwtClaims) {
    let mut sep = "{";
    for (k, v) in &jwt.claims {
        field(out, sep, k, v);
        sep = ",";
    }
    close_object(out, sep);
}

/// 2.0 `authorizer.jwt`: `{"claims":{...},"scopes":[...]|null}` (§7.2).
fn write_jwt_v2(out: &mut Vec<u8>, jwt: &JwtClaims) {
    key(out, "{", "claims");
    write_claims(out, jwt);
    key(out, ",", "scopes");
    match &jwt.scopes {
        Some(scopes) => {
            let mut sep = b'[';
            for s in scopes {
                out.push(sep);
                sep = b',';
                write_str(out, s);
            }
            if sep == b'[' {
                out.push(b'[');
            }
            out.push(b']');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// L3: writes the body value and returns `isBase64Encoded`. 1.0 writes `null` for an empty body (2.0 does
/// not call this for one).
fn write_body(out: &mut Vec<u8>, req: &EventRequest<'_>) -> bool {
    if req.body.is_empty() {
        out.extend_from_slice(b"null");
        return false;
    }
    if req.content_type.is_some_and(is_textual_content_type) {
        if let Ok(text) = std::str::from_utf8(req.body) {
            write_str(out, text);
            return false;
        }
    }
    // Encoded straight into the event buffer (SIMD where the CPU has it), no intermediate String.
    out.push(b'"');
    base64_simd::STANDARD.encode_append(req.body, out);
    out.push(b'"');
    true
}

/// `sep` + `"name":`.
fn key(out: &mut Vec<u8>, sep: &str, name: &str) {
    out.extend_from_slice(sep.as_bytes());
    write_str(out, name);
    out.push(b':');
}

/// `sep` + `"name":"value"`.
fn field(out: &mut Vec<u8>, sep: &str, name: &str, value: &str) {
    key(out, sep, name);
    write_str(out, value);
}

/// Closes an object opened by the first `sep` (or writes `{}` when nothing was written).
fn close_object(out: &mut Vec<u8>, sep: &str) {
    if sep == "{" {
        out.push(b'{');
    }
    out.push(b'}');
}

fn write_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => write_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            // n % 10 < 10: the cast cannot truncate.
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// 1.0 `requestContext.resourceId`: the resource path's FNV-1a 64-bit hash, its low 6 base-36 digits.
fn resource_id(resource_path: &str) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in resource_path.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut id = String::with_capacity(6);
    for _ in 0..6 {
        // h % 36 < 36: always a valid index.
        id.push(char::from(DIGITS.get((h % 36) as usize).copied().unwrap_or(b'0')));
        h /= 36;
    }
    id
}

fn domain_prefix(domain: &str) -> &str {
    domain.split('.').next().unwrap_or(domain)
}

/// `"12/Mar/2020:19:03:58 +0000"` (with quotes) for epoch milliseconds, UTC.
fn write_clf_time(out: &mut Vec<u8>, epoch_ms: u64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let sod = secs % 86_400;
    let month = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    let text = format!(
        "{day:02}/{month}/{year}:{:02}:{:02}:{:02} +0000",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    write_str(out, &text);
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`, unsigned since epoch times here are never negative).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
