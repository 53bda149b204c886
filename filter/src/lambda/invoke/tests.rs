//! The invocation around the event and the unwrapping: what is taken from the request (L1, L2 inputs), L4
//! before the call, the timeout / failed-call answers, and U1/U2/U16 for an answer whose body was not read.

use super::*;
use crate::decision::{Decision, Integration, PayloadFormat};
use crate::engine::Engine;
use crate::request::RequestView;
use serde_json::{json, Value};

fn target(format: PayloadFormat) -> Arc<LambdaTarget> {
    Arc::new(LambdaTarget {
        cluster: "lambda_echo".into(),
        payload_format: format,
        max_request_body_bytes: 10,
        max_response_body_bytes: 64,
        timeout_ms: 1500,
        stream_path: None,
        invocation: InvocationType::RequestResponse,
        jwt: None,
    })
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// `/shop` mapped to API `pets` (stripped, R9), route `GET /pets/{id}`, a Lambda stage integration.
fn engine(format: PayloadFormat) -> Engine {
    let config = json!({
        "domains": [{"name": "*", "api_mappings": [{"id": "shop", "base_path": "shop", "api": "pets", "stage": "prod"}]}],
        "apis": [{"id": "pets", "routes": [{"key": "GET /pets/{id}"}],
                  "stages": {"prod": {"variables": {"env": "test"}, "integration": {
                      "type": "lambda", "cluster": "lambda_echo", "payload_format_version": format.as_str(),
                      "max_request_body_bytes": 10, "max_response_body_bytes": 64, "timeout_ms": 1500}}}}]
    });
    Engine::from_json(&config.to_string()).expect("valid config")
}

/// The pending invocation of a request with `headers` (its `:path` is routed by [`engine`]).
fn pending(format: PayloadFormat, headers: &[(&str, &str)], host: HostFacts<'_>) -> PendingInvocation {
    let engine = engine(format);
    let headers = pairs(headers);
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let req = RequestView {
        method: find(":method").unwrap_or_default(),
        authority: find(":authority").unwrap_or_default(),
        path: find(":path").unwrap_or_default(),
        headers: &headers,
        remote_addr: None,
    };
    let Decision::Forward(f) = engine.evaluate(&req) else {
        panic!("routed to the lambda integration")
    };
    let Integration::Lambda(t) = f.integration else {
        panic!("a lambda integration")
    };
    assert_eq!(**t, *target(format));
    PendingInvocation::new(Arc::clone(t), &f, headers.clone(), &host)
}

const REQUEST: &[(&str, &str)] = &[
    (":authority", "Api.Example.com:8443"),
    (":path", "/shop/pets/7?a=1&a=2"),
    (":method", "GET"),
    (":scheme", "http"),
    ("user-agent", "curl/8.0"),
    ("x-request-id", "rid-1"),
];

fn host() -> HostFacts<'static> {
    HostFacts {
        source_address: Some("203.0.113.9:51000"),
        protocol: Some("HTTP/2"),
        now_epoch_ms: 1_735_689_600_000,
        sequence: 3,
    }
}

#[test]
fn the_invoke_call_is_a_json_post_to_the_invocations_path() {
    assert_eq!(
        call_headers(InvocationType::RequestResponse),
        [
            (":method", "POST"),
            (":path", "/2015-03-31/functions/routewise/invocations"),
            (":authority", "lambda"),
            ("content-type", "application/json"),
            ("x-amz-invocation-type", "RequestResponse"),
        ]
    );
    assert_eq!(
        call_headers(InvocationType::Event)[4],
        ("x-amz-invocation-type", "Event")
    );
}

#[test]
fn l1_l2_inputs_are_taken_from_the_request_the_decision_and_the_host() {
    let p = pending(PayloadFormat::V1, REQUEST, host());
    assert_eq!(p.method, "GET");
    assert_eq!(p.raw_path, "/shop/pets/7");
    assert_eq!(p.path, "/pets/7");
    assert_eq!(p.query, "a=1&a=2");
    assert_eq!(p.domain_name, "api.example.com");
    assert_eq!(p.source_ip, "203.0.113.9");
    assert_eq!(p.protocol, "HTTP/2");
    assert_eq!(p.request_id, "rid-1");
    assert_eq!(p.route_key, "GET /pets/{id}");
    assert_eq!(p.resource_path, "/pets/{id}");
    assert_eq!(p.path_parameters, pairs(&[("id", "7")]));
    assert_eq!((p.api_id.as_str(), p.stage.as_str()), ("pets", "prod"));
    assert_eq!(p.request_time_epoch_ms, 1_735_689_600_000);

    let mut event = Vec::new();
    p.build_event_into(b"", &mut event).expect("within the limit");
    let event: Value = serde_json::from_slice(&event).expect("JSON");
    assert_eq!(event["resource"], "/pets/{id}");
    assert_eq!(event["path"], "/pets/7");
    assert_eq!(event["requestContext"]["path"], "/shop/pets/7");
    assert_eq!(event["requestContext"]["identity"]["userAgent"], "curl/8.0");
    assert_eq!(event["requestContext"]["domainName"], "api.example.com");
    assert_eq!(event["stageVariables"], json!({"env": "test"}));
    assert_eq!(event["headers"]["host"], "Api.Example.com:8443");
}

#[test]
fn request_id_falls_back_to_time_and_sequence_and_source_ip_to_what_envoy_gave() {
    let without_id: Vec<(&str, &str)> = REQUEST
        .iter()
        .copied()
        .filter(|(n, _)| *n != "x-request-id")
        .collect();
    let mut h = host();
    h.source_address = Some("[2001:db8::1]:443");
    h.protocol = None;
    let p = pending(PayloadFormat::V2, &without_id, h);
    assert_eq!(p.request_id, "routewise-1941f297c00-3");
    assert_eq!(p.source_ip, "2001:db8::1");
    assert_eq!(p.protocol, "HTTP/1.1");

    h.source_address = Some("unix:/tmp/sock");
    assert_eq!(pending(PayloadFormat::V2, REQUEST, h).source_ip, "unix:/tmp/sock");
    h.source_address = None;
    assert_eq!(pending(PayloadFormat::V2, REQUEST, h).source_ip, "");
}

#[test]
fn resource_path_is_the_route_keys_path_or_the_path_for_default() {
    for (key, want) in [
        ("GET /pets/{id}", "/pets/{id}"),
        ("ANY /{proxy+}", "/{proxy+}"),
        ("GET,HEAD /static/*", "/static/*"),
        ("$default", "/pets/7"),
    ] {
        assert_eq!(resource_path(key, "/pets/7"), want, "{key}");
    }
}

#[test]
fn l4_content_length_and_buffered_size_over_the_limit_are_refused() {
    let mut headers = REQUEST.to_vec();
    headers.push(("content-length", "11"));
    let p = pending(PayloadFormat::V2, &headers, host());
    let e = p.check_content_length().expect_err("11 > 10");
    assert_eq!((e.body_len, e.limit), (11, 10));
    assert_eq!(p.check_buffered(10), Ok(()));
    assert!(p.check_buffered(11).is_err());

    headers.pop();
    headers.push(("content-length", "10"));
    assert_eq!(
        pending(PayloadFormat::V2, &headers, host()).check_content_length(),
        Ok(())
    );
    headers.pop();
    headers.push(("content-length", "x"));
    assert_eq!(
        pending(PayloadFormat::V2, &headers, host()).check_content_length(),
        Ok(())
    );

    let out = request_too_large(&e);
    assert_eq!(out.status, 413);
    assert_eq!(out.body, br#"{"message":"Request Entity Too Large"}"#);
    assert_eq!(
        out.headers,
        pairs(&[("content-type", "application/json"), ("content-length", "38")])
    );
    assert_eq!(out.outcome, Outcome::RequestTooLarge);
    assert_eq!(
        out.reason.as_deref(),
        Some("request body of 11 bytes exceeds max_request_body_bytes (10)")
    );
}

fn answer(headers: &[(&str, &str)], body: Option<&[u8]>, body_len: u64) -> (Option<u16>, Unwrapped) {
    let headers = pairs(headers);
    let mut out = Unwrapped::default();
    let status = answer_call_into(
        &target(PayloadFormat::V2),
        &CallResponse {
            headers: &headers,
            body,
            body_len,
        },
        &mut out,
    );
    (status, out)
}

#[test]
fn a_504_without_a_lambda_request_id_is_envoys_timeout() {
    let (status, out) = answer(
        &[(":status", "504"), ("content-type", "text/plain")],
        Some(b"upstream request timeout"),
        24,
    );
    assert_eq!(status, Some(504));
    assert_eq!(out.status, 504);
    assert_eq!(out.outcome, Outcome::Timeout);
    assert_eq!(out.body, TIMEOUT_BODY.as_bytes());
    assert_eq!(
        out.headers,
        pairs(&[("content-type", "application/json"), ("content-length", "40")])
    );
    assert_eq!(
        out.reason.as_deref(),
        Some("the Invoke call timed out (no answer within timeout_ms = 1500)")
    );

    // U2: a 504 that Lambda itself sent.
    let (_, out) = answer(&[(":status", "504"), ("x-amzn-requestid", "r")], Some(b""), 0);
    assert_eq!((out.status, out.outcome), (502, Outcome::LambdaError));
    assert_eq!(out.header("x-envoy-lambda-statuscode"), Some("504"));
}

#[test]
fn u16_a_body_left_unread_is_too_large_unless_u1_or_u2_decide() {
    let (status, out) = answer(&[(":status", "200"), ("x-amzn-requestid", "r")], None, 65);
    assert_eq!(status, Some(200));
    assert_eq!((out.status, out.outcome), (502, Outcome::TooLarge));
    assert_eq!(out.header("x-amzn-requestid"), Some("r"));

    let (_, out) = answer(&[(":status", "429")], None, 65);
    assert_eq!((out.status, out.outcome), (500, Outcome::Throttled));
    assert_eq!(out.header("x-envoy-lambda-statuscode"), Some("429"));

    let (_, out) = answer(&[(":status", "500")], None, 65);
    assert_eq!((out.status, out.outcome), (502, Outcome::LambdaError));

    let (_, out) = answer(
        &[(":status", "200"), ("x-amz-function-error", "Unhandled")],
        None,
        65,
    );
    assert_eq!((out.status, out.outcome), (502, Outcome::FunctionError));
    assert_eq!(out.header("x-envoy-lambda-function-error"), Some("Unhandled"));
}

#[test]
fn a_read_body_is_unwrapped() {
    let body = br#"{"statusCode":201,"body":"made"}"#;
    let (status, out) = answer(&[(":status", "200")], Some(body), body.len() as u64);
    assert_eq!(status, Some(200));
    assert_eq!(
        (out.status, out.outcome, out.body.as_slice()),
        (201, Outcome::Proxied, &b"made"[..])
    );
}

#[test]
fn an_answer_without_a_status_is_a_failed_call() {
    let (status, out) = answer(&[("content-type", "application/json")], Some(b"{}"), 2);
    assert_eq!(status, None);
    assert_eq!((out.status, out.outcome), (502, Outcome::CallFailed));
    assert_eq!(out.body, ERROR_BODY.as_bytes());
    assert_eq!(
        out.reason.as_deref(),
        Some("the Invoke call failed: the Invoke response has no valid :status")
    );
    let out = internal_error("cannot read the request body: BadArgument".into());
    assert_eq!((out.status, out.outcome), (500, Outcome::InternalError));
    assert_eq!(
        out.headers,
        pairs(&[("content-type", "application/json"), ("content-length", "35")])
    );
}

#[test]
fn outcome_names_are_distinct_and_indexed() {
    let names: std::collections::BTreeSet<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(names.len(), Outcome::ALL.len());
    for (i, o) in Outcome::ALL.iter().enumerate() {
        assert_eq!(o.index(), i);
    }
}

/// A config whose only API sends everything to `integration` (its stage's).
fn one_integration(integration: Value) -> String {
    json!({"domains": [{"name": "*", "api_mappings": [{"api": "f", "stage": "s"}]}],
           "apis": [{"id": "f", "stages": {"s": {"integration": integration}}}]})
    .to_string()
}

/// The Lambda target a request gets under [`one_integration`]`(integration)`.
fn lambda_target_of(integration: Value) -> Arc<LambdaTarget> {
    let engine = Engine::from_json(&one_integration(integration)).expect("valid");
    let headers = vec![];
    let req = RequestView {
        method: "GET",
        authority: "x",
        path: "/",
        headers: &headers,
        remote_addr: None,
    };
    let Decision::Forward(f) = engine.evaluate(&req) else {
        panic!("forwarded")
    };
    let Integration::Lambda(t) = f.integration else {
        panic!("lambda")
    };
    Arc::clone(t)
}

#[test]
fn timeout_ms_defaults_to_29_s_and_is_validated_by_name() {
    let config = one_integration;
    assert_eq!(
        lambda_target_of(json!({"type": "lambda", "cluster": "c"})).timeout_ms,
        29_000
    );

    for ok in [50, 900_000] {
        assert!(Engine::from_json(&config(
            json!({"type": "lambda", "cluster": "c", "timeout_ms": ok})
        ))
        .is_ok());
    }
    for bad in [0_u64, 49, 900_001, u64::MAX] {
        let errs = Engine::from_json(&config(
            json!({"type": "lambda", "cluster": "c", "timeout_ms": bad}),
        ))
        .expect_err("out of range");
        let lines: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let want = format!(
            "apis[0].stages.s.integration.timeout_ms: {} is outside 50..=900000",
            i64::try_from(bad).unwrap_or(i64::MAX)
        );
        assert_eq!(lines, [want]);
    }
}

#[test]
fn g2_plugins_act_on_the_event_as_on_a_forwarded_request() {
    use sha2::{Digest, Sha256};
    let sha: String = Sha256::digest(b"k1").iter().map(|b| format!("{b:02x}")).collect();
    let config = json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "f", "stage": "s"}]}],
        "apis": [{"id": "f", "routes": [{"key": "ANY /{proxy+}",
                  "plugins": {"key-auth": {}, "proxy-rewrite": {"headers": {"set": {"x-env": "prod"}}}}}],
                  "stages": {"s": {"integration": {"type": "lambda", "cluster": "c", "payload_format_version": "1.0"}}}}],
        "consumers": [{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha}}}]
    });
    let engine = Engine::from_json(&config.to_string()).expect("valid");
    for (path, key_header) in [("/a?apikey=k1&x=1", None), ("/a?x=1", Some("k1"))] {
        let mut headers = pairs(&[
            (":authority", "h"),
            (":path", path),
            (":method", "GET"),
            ("x-env", "dev"),
        ]);
        if let Some(k) = key_header {
            headers.push(("apikey".into(), k.into()));
        }
        let req = RequestView {
            method: "GET",
            authority: "h",
            path,
            headers: &headers,
            remote_addr: None,
        };
        let Decision::Forward(f) = engine.evaluate(&req) else {
            panic!("authenticated")
        };
        let Integration::Lambda(t) = f.integration else {
            panic!("lambda")
        };
        let p = PendingInvocation::new(Arc::clone(t), &f, headers.clone(), &host());
        let mut event = Vec::new();
        p.build_event_into(b"", &mut event).expect("built");
        let event: Value = serde_json::from_slice(&event).expect("JSON");
        // hide_credentials: the key reaches the function neither as a header nor in the query.
        assert_eq!(event["headers"].get("apikey"), None, "{path}");
        assert_eq!(event["queryStringParameters"], json!({"x": "1"}), "{path}");
        assert_eq!(event["multiValueHeaders"]["x-env"], json!(["prod"]), "{path}");
        assert_eq!(
            event["requestContext"]["authorizer"],
            json!({"principalId": "jack"}),
            "{path}"
        );
        // API Gateway's 1.0 identity for API keys: the key's id (the start of `key_sha256`), never the key.
        assert_eq!(p.api_key_id.as_deref(), Some(&sha[..10]), "{path}");
        let identity = &event["requestContext"]["identity"];
        assert_eq!(identity["apiKeyId"], &sha[..10], "{path}");
        assert_eq!(identity["apiKey"], Value::Null, "{path}");
        let text = event.to_string();
        assert!(!text.contains("k1"), "the key is nowhere in the event: {text}");
    }
}

/// Issue 14: a 502/503 without x-amzn-requestid is Envoy's answer for an endpoint that reset or spoke no
/// HTTP: the call failed (502, outcome call_failed), never reported as Lambda's status (U2).
#[test]
fn envoys_own_502_or_503_for_a_dead_endpoint_is_a_failed_call_not_a_lambda_error() {
    let target = target(PayloadFormat::V2);
    for status in ["502", "503"] {
        let headers = vec![(":status".to_string(), status.to_string())];
        let mut out = Unwrapped::default();
        let got = answer_call_into(
            &target,
            &CallResponse {
                headers: &headers,
                body: Some(b"upstream connect error"),
                body_len: 22,
            },
            &mut out,
        );
        assert_eq!(
            (got, out.status, out.outcome),
            (None, 502, Outcome::CallFailed),
            "{status}"
        );
        assert_eq!(out.header("x-envoy-lambda-statuscode"), None);
    }
    // With the request id it is Lambda's own error (U2).
    let headers = vec![
        (":status".to_string(), "502".to_string()),
        ("x-amzn-requestid".to_string(), "r".to_string()),
    ];
    let mut out = Unwrapped::default();
    answer_call_into(
        &target,
        &CallResponse {
            headers: &headers,
            body: Some(b""),
            body_len: 0,
        },
        &mut out,
    );
    assert_eq!((out.status, out.outcome), (502, Outcome::LambdaError));
}

/// The answer to an Invoke response for an integration with `invocation`.
fn answer_for(invocation: InvocationType, headers: &[(&str, &str)], body: &[u8]) -> Unwrapped {
    let headers = pairs(headers);
    let mut t = (*target(PayloadFormat::V2)).clone();
    t.invocation = invocation;
    let mut out = Unwrapped::default();
    answer_call_into(
        &t,
        &CallResponse {
            headers: &headers,
            body: Some(body),
            body_len: body.len() as u64,
        },
        &mut out,
    );
    out
}

/// Issue 15, `X-Amz-Invocation-Type` per integration: an `Event` integration passes Lambda's 202 on with no
/// body; a cluster whose `invocation_mode` contradicts the integration is a 502 that names both settings.
#[test]
fn event_invocations_answer_202_and_a_mode_mismatch_is_a_named_502() {
    let accepted = answer_for(
        InvocationType::Event,
        &[(":status", "202"), ("x-amzn-requestid", "r")],
        b"",
    );
    assert_eq!((accepted.status, accepted.outcome), (202, Outcome::Accepted));
    assert!(accepted.body.is_empty());
    assert_eq!(
        accepted.headers,
        pairs(&[("content-type", "application/json"), ("content-length", "0")])
    );
    assert_eq!(accepted.reason, None);

    // Event route, synchronous cluster: the function ran and answered 200; nothing of it reaches the client.
    let sync = answer_for(
        InvocationType::Event,
        &[(":status", "200"), ("x-amzn-requestid", "r")],
        br#"{"statusCode":201,"body":"secret"}"#,
    );
    assert_eq!((sync.status, sync.outcome), (502, Outcome::InvocationMismatch));
    assert_eq!(sync.body, ERROR_BODY.as_bytes());
    let reason = sync.reason.unwrap_or_default();
    assert!(
        reason.contains("invocation_type is \"Event\"") && reason.contains("ASYNCHRONOUS"),
        "{reason}"
    );

    // RequestResponse route, asynchronous cluster: a 202 has no function answer to unwrap.
    let queued = answer_for(
        InvocationType::RequestResponse,
        &[(":status", "202"), ("x-amzn-requestid", "r")],
        b"",
    );
    assert_eq!(
        (queued.status, queued.outcome),
        (502, Outcome::InvocationMismatch)
    );
    let reason = queued.reason.unwrap_or_default();
    assert!(
        reason.contains("answered 202") && reason.contains("invocation_mode: ASYNCHRONOUS"),
        "{reason}"
    );

    // U1 and U2 keep deciding in both modes.
    for invocation in [InvocationType::Event, InvocationType::RequestResponse] {
        let throttled = answer_for(
            invocation,
            &[(":status", "429"), ("x-amzn-requestid", "r")],
            b"{}",
        );
        assert_eq!((throttled.status, throttled.outcome), (500, Outcome::Throttled));
        let failed = answer_for(
            invocation,
            &[
                (":status", "200"),
                ("x-amzn-requestid", "r"),
                ("x-amz-function-error", "Unhandled"),
            ],
            b"{}",
        );
        assert_eq!(failed.outcome, Outcome::FunctionError);
    }
}

#[test]
fn invocation_type_is_validated_by_name_and_event_cannot_stream() {
    let config = one_integration;
    let event = lambda_target_of(json!({"type": "lambda", "cluster": "c", "invocation_type": "Event"}));
    assert_eq!(event.invocation, InvocationType::Event);

    let lines = |integration: Value| -> Vec<String> {
        Engine::from_json(&config(integration))
            .expect_err("invalid")
            .iter()
            .map(|e| e.to_string())
            .collect()
    };
    let bad = lines(json!({"type": "lambda", "cluster": "c", "invocation_type": "DryRun"}));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].starts_with("apis[0].stages.s.integration.invocation_type: "),
        "{bad:?}"
    );
    assert!(bad[0].contains("DryRun"), "{bad:?}");
    let stream = lines(
        json!({"type": "lambda", "cluster": "c", "invocation_type": "Event",
                               "response_transfer_mode": "STREAM", "function_name": "f"}),
    );
    assert_eq!(stream.len(), 1, "{stream:?}");
    assert!(
        stream[0].starts_with("apis[0].stages.s.integration.invocation_type: "),
        "{stream:?}"
    );
    assert!(stream[0].contains("InvokeWithResponseStream"), "{stream:?}");
}
