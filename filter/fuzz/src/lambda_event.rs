//! `lambda_event`: request pieces from the fuzzer's bytes, built into events of both payload formats.
//!
//! Layout: byte 0 picks the body limit, the content type and the caller; eight bytes are the request time
//! (any `u64`, the far future included); then fields separated by `0xff` (method, raw path, path, query,
//! header lines, source ip, user agent, protocol, route key, stage, request id, domain, api id, path
//! parameters, stage variables), header lines and pairs by `0xfe` and `0xfd`; the rest is the body.
//!
//! Invariants: L4 first (a body over the limit is `Err` and leaves nothing to send); otherwise valid JSON
//! in which the fields read back (L1: `httpMethod`, `path`, `resource`, `headers` with the last value per
//! name, `multiValueHeaders` with every value, `requestContext`; L2: `version`, `routeKey`, `rawPath`,
//! `rawQueryString`, `headers` comma-joined, `cookies`, `requestContext.http`), and the body round-trips
//! (L3: text when textual and UTF-8, else base64 with `isBase64Encoded: true`; 2.0 omits an empty body).
//! With a caller (byte 0, `0x20`), the stage variables are also JWT claims and the user agent's words the
//! scopes: the authorizer reads back (1.0 `principalId` and `claims`, 2.0 `jwt.claims`, `jwt.scopes`,
//! `lambda.principalId`; lambda-streaming.md §7).

use std::collections::BTreeMap;

use base64::Engine as _;
use routewise::lambda::jwt::JwtClaims;
use routewise::lambda::{build_event, is_textual_content_type, Caller, EventRequest, PayloadFormat};
use serde_json::Value;

use crate::bytes::{text, Bytes};

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/json"),
    Some("text/plain; charset=utf-8"),
    Some("application/octet-stream"),
    Some("application/vnd.api+json"),
    Some("TEXT/XML"),
    Some("image/png"),
    Some("application/x-www-form-urlencoded"),
];

/// The `lambda_event` target.
pub fn lambda_event(data: &[u8]) {
    let mut b = Bytes::new(data);
    let sel = b.u8();
    let limit: u64 = match sel & 3 {
        0 => 16,
        1 => 0,
        _ => 6 * 1024 * 1024,
    };
    let content_type = CONTENT_TYPES[usize::from((sel >> 2) & 7)];
    let time = b.u64();
    let mut field = || text(b.until(0xff));
    let method = field();
    let raw_path = field();
    let path = field();
    let query = field();
    let header_blob = field();
    let source_ip = field();
    let user_agent = field();
    let protocol = field();
    let route_key = field();
    let stage = field();
    let request_id = field();
    let domain_name = field();
    let api_id = field();
    let params_blob = field();
    let vars_blob = field();
    let body = b.rest();
    let headers = pairs(&header_blob, true);
    let params = pairs(&params_blob, false);
    let vars: BTreeMap<String, String> = pairs(&vars_blob, false).into_iter().collect();
    let context = [("tier".to_string(), "gold".to_string())];
    let claims = JwtClaims {
        claims: vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        scopes: (!user_agent.is_empty()).then(|| user_agent.split(' ').map(str::to_string).collect()),
    };
    let caller = (sel & 0x20 != 0).then_some(Caller {
        consumer: Some(&user_agent),
        api_key_id: (sel & 0x40 != 0).then_some(request_id.as_str()),
        context: &context,
        jwt: Some(&claims),
    });
    let req = EventRequest {
        method: &method,
        raw_path: &raw_path,
        path: &path,
        query: &query,
        headers: &headers,
        source_ip: &source_ip,
        user_agent: (sel & 0x80 != 0).then_some(user_agent.as_str()),
        protocol: &protocol,
        body,
        content_type,
        route_key: &route_key,
        resource_path: &route_key,
        path_parameters: &params,
        stage: &stage,
        stage_variables: &vars,
        request_id: &request_id,
        domain_name: &domain_name,
        api_id: &api_id,
        request_time_epoch_ms: time,
        caller,
    };
    for format in [PayloadFormat::V1, PayloadFormat::V2] {
        let event = match build_event(format, &req, limit) {
            Ok(e) => e,
            Err(e) => {
                // L4: only a body over the limit is refused.
                assert!(
                    body.len() as u64 > limit,
                    "refused a {}-byte body: {e:?}",
                    body.len()
                );
                assert_eq!((e.body_len, e.limit), (body.len() as u64, limit));
                continue;
            }
        };
        assert!(
            body.len() as u64 <= limit,
            "L4: a {}-byte body sent over a {limit}-byte limit",
            body.len()
        );
        let v: Value = serde_json::from_slice(&event).unwrap_or_else(|e| {
            panic!(
                "{format} event is not JSON ({e}): {}",
                String::from_utf8_lossy(&event)
            )
        });
        match format {
            PayloadFormat::V1 => check_v1(&v, &req),
            PayloadFormat::V2 => check_v2(&v, &req),
        }
        check_body(&v, &req, format);
        check_authorizer(&v, &req, format);
    }
}

/// §7: the caller's authorizer object, when there is a caller.
fn check_authorizer(v: &Value, req: &EventRequest<'_>, format: PayloadFormat) {
    let authorizer = &v["requestContext"]["authorizer"];
    let Some(caller) = req.caller else {
        assert!(
            authorizer.is_null(),
            "an authorizer without a caller: {authorizer}"
        );
        return;
    };
    let Some(jwt) = caller.jwt else { return };
    let claims: serde_json::Map<String, Value> = jwt
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let scopes = jwt.scopes.as_ref().map_or(Value::Null, |s| {
        Value::Array(s.iter().map(|x| Value::String(x.clone())).collect())
    });
    let (principal, got_claims) = match format {
        PayloadFormat::V1 => (&authorizer["principalId"], &authorizer["claims"]),
        PayloadFormat::V2 => {
            assert_eq!(authorizer["jwt"]["scopes"], scopes, "2.0 jwt.scopes");
            (&authorizer["lambda"]["principalId"], &authorizer["jwt"]["claims"])
        }
    };
    assert_eq!(principal.as_str(), caller.consumer, "{format} principalId");
    assert_eq!(got_claims, &Value::Object(claims), "{format} claims");
}

/// Splits `blob` into `(name, value)` pairs (`0xfd` between name and value, `0xfe` between pairs; the
/// lossy text of 0xfd/0xfe is U+FFFD, so split on that). Header names are lower-cased, as Envoy gives them.
fn pairs(blob: &str, lower: bool) -> Vec<(String, String)> {
    if blob.is_empty() {
        return Vec::new();
    }
    let parts: Vec<&str> = blob.split('\u{fffd}').collect();
    parts
        .chunks(2)
        .map(|c| {
            let name = c[0];
            let value = c.get(1).copied().unwrap_or_default();
            let name = if lower {
                name.to_ascii_lowercase()
            } else {
                name.to_string()
            };
            (name, value.to_string())
        })
        .collect()
}

fn s<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn expect_str(v: &Value, path: &[&str], want: &str) {
    assert_eq!(s(v, path).as_str(), Some(want), "{} in {v}", path.join("."));
}

/// The header lines that go into the event (event.rs: pseudo-headers out, `:authority` as `host` when no
/// `host` line, 2.0 takes `cookie` out).
fn event_headers<'a>(req: &'a EventRequest<'_>, keep_cookie: bool) -> Vec<(&'a str, &'a str)> {
    let has_host = req.headers.iter().any(|(n, _)| n == "host");
    req.headers
        .iter()
        .filter_map(|(n, v)| {
            if n == ":authority" && !has_host {
                Some(("host", v.as_str()))
            } else if n.starts_with(':') || (!keep_cookie && n == "cookie") {
                None
            } else {
                Some((n.as_str(), v.as_str()))
            }
        })
        .collect()
}

fn check_v1(v: &Value, req: &EventRequest<'_>) {
    expect_str(v, &["httpMethod"], req.method);
    expect_str(v, &["path"], req.path);
    expect_str(v, &["resource"], req.resource_path);
    expect_str(v, &["requestContext", "path"], req.raw_path);
    expect_str(v, &["requestContext", "stage"], req.stage);
    expect_str(v, &["requestContext", "requestId"], req.request_id);
    expect_str(v, &["requestContext", "domainName"], req.domain_name);
    expect_str(v, &["requestContext", "apiId"], req.api_id);
    expect_str(v, &["requestContext", "identity", "sourceIp"], req.source_ip);
    assert_eq!(
        s(v, &["requestContext", "requestTimeEpoch"]).as_u64(),
        Some(req.request_time_epoch_ms)
    );
    assert!(s(v, &["requestContext", "requestTime"]).is_string());
    // The key is a credential: never in the event.
    assert!(s(v, &["requestContext", "identity", "apiKey"]).is_null());
    // L1: headers has the last value per name, multiValueHeaders every value in order.
    let lines = event_headers(req, true);
    let mut names: Vec<&str> = lines.iter().map(|(n, _)| *n).collect();
    names.dedup();
    for name in names {
        let all: Vec<&str> = lines
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .collect();
        expect_str(v, &["headers", name], all.last().copied().unwrap_or_default());
        let multi: Vec<&str> = s(v, &["multiValueHeaders", name])
            .as_array()
            .unwrap_or_else(|| panic!("multiValueHeaders.{name} in {v}"))
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(multi, all, "multiValueHeaders.{name}");
    }
    let count = |k: &str| s(v, &[k]).as_object().map_or(0, |o| o.len());
    let distinct: std::collections::BTreeSet<&str> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(count("headers"), distinct.len(), "headers: one member per name");
    for (name, value) in req.path_parameters.iter().rev() {
        // A repeated name keeps the last value: the last occurrence of each name wins.
        let last = req
            .path_parameters
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v);
        if last == Some(value) {
            expect_str(v, &["pathParameters", name], value);
        }
    }
}

fn check_v2(v: &Value, req: &EventRequest<'_>) {
    expect_str(v, &["version"], "2.0");
    expect_str(v, &["routeKey"], req.route_key);
    expect_str(v, &["rawPath"], req.path);
    expect_str(v, &["rawQueryString"], req.query);
    expect_str(v, &["requestContext", "http", "method"], req.method);
    expect_str(v, &["requestContext", "http", "path"], req.path);
    expect_str(v, &["requestContext", "http", "protocol"], req.protocol);
    expect_str(v, &["requestContext", "http", "sourceIp"], req.source_ip);
    expect_str(v, &["requestContext", "stage"], req.stage);
    expect_str(v, &["requestContext", "requestId"], req.request_id);
    assert_eq!(
        s(v, &["requestContext", "timeEpoch"]).as_u64(),
        Some(req.request_time_epoch_ms)
    );
    match req.user_agent {
        Some(ua) => expect_str(v, &["requestContext", "http", "userAgent"], ua),
        None => assert!(s(v, &["requestContext", "http", "userAgent"]).is_null()),
    }
    // L2: repeated values comma-joined; cookie lines become `cookies`.
    let lines = event_headers(req, false);
    let distinct: std::collections::BTreeSet<&str> = lines.iter().map(|(n, _)| *n).collect();
    for name in &distinct {
        let joined: Vec<&str> = lines.iter().filter(|(n, _)| n == name).map(|(_, v)| *v).collect();
        expect_str(v, &["headers", name], &joined.join(","));
    }
    assert_eq!(
        s(v, &["headers"]).as_object().map(|o| o.len()),
        Some(distinct.len())
    );
    let cookies: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split("; "))
        .filter(|c| !c.is_empty())
        .collect();
    match s(v, &["cookies"]).as_array() {
        Some(got) => {
            let got: Vec<&str> = got.iter().map(|c| c.as_str().unwrap()).collect();
            assert_eq!(got, cookies, "cookies");
        }
        None => assert!(cookies.is_empty(), "cookies {cookies:?} missing"),
    }
}

/// L3: the body round-trips; 2.0 omits an empty one, 1.0 sends `null`.
fn check_body(v: &Value, req: &EventRequest<'_>, format: PayloadFormat) {
    let b64 = s(v, &["isBase64Encoded"])
        .as_bool()
        .unwrap_or_else(|| panic!("isBase64Encoded in {v}"));
    let body = s(v, &["body"]);
    if req.body.is_empty() {
        assert!(!b64, "an empty body marked base64");
        match format {
            PayloadFormat::V1 => assert!(body.is_null() || body.as_str() == Some(""), "body {body}"),
            PayloadFormat::V2 => assert!(body.is_null(), "2.0 sends an empty body: {body}"),
        }
        return;
    }
    let text_ok =
        req.content_type.is_some_and(is_textual_content_type) && std::str::from_utf8(req.body).is_ok();
    assert_eq!(
        !b64, text_ok,
        "L3: isBase64Encoded {b64} for {:?}",
        req.content_type
    );
    let got = body.as_str().unwrap_or_else(|| panic!("body {body}"));
    if b64 {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(got)
            .unwrap_or_else(|e| panic!("body is not base64: {e}"));
        assert_eq!(
            decoded, req.body,
            "L3: the base64 body does not decode to the request body"
        );
    } else {
        assert_eq!(got.as_bytes(), req.body, "L3: the text body differs");
    }
}
