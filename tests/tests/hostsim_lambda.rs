//! The AWS Lambda proxy integration (spec lambda.md, L1-L4 and U1-U16) through the real filter `.wasm` in
//! host-sim.
//!
//! The filter invokes the function with an HTTP call of its own (answered here with `on_http_call`, as
//! the Lambda cluster's `aws_lambda` upstream filter would relay the Invoke API's answer) and answers the
//! client with a local reply: the request never reaches the router. Each test asserts the event the
//! filter sent (parsed) and what the client got: status, header lines in order (repeated lines kept),
//! body bytes; and the filter state, counters and log lines where a rule names them.
//!
//! Needs `cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm` first (or $ROUTEWISE_WASM).

use std::time::Duration;

use host_sim::{
    Error, Exchange, Headers, HttpCallReply, LogLevel, Plugin, Request, Response, Sim, StreamState,
};
use serde_json::{json, Value};

const V1: &str = "1.0";
const V2: &str = "2.0";
/// `{"message":"Internal server error"}`: every failed invocation (U1, U2, U15, U16).
const ERROR_BODY: &str = r#"{"message":"Internal server error"}"#;
/// host-sim's wall clock at the start: 2025-01-01T00:00:00Z.
const START_MS: u64 = 1_735_689_600_000;

/// Domain `*`, the `(none)` mapping to API `fn`, routes `GET /pets/{id}` and `ANY /{proxy+}`, and a
/// stage whose integration is `lambda_echo` with `format` plus `extra` integration fields.
fn config(format: &str, extra: Value) -> Value {
    let mut integration =
        json!({"type": "lambda", "cluster": "lambda_echo", "payload_format_version": format});
    if let (Some(i), Some(e)) = (integration.as_object_mut(), extra.as_object()) {
        i.extend(e.clone());
    }
    json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "fn", "stage": "prod"}]}],
        "apis": [{"id": "fn",
                  "routes": [{"id": "pet", "key": "GET /pets/{id}"}, {"id": "any", "key": "ANY /{proxy+}"}],
                  "stages": {"prod": {"variables": {"env": "test"}, "integration": integration}}}]
    })
}

fn plugin() -> Plugin {
    Plugin::routewise()
        .expect("routewise.wasm (cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm)")
}

/// A VM with `allow_on_headers_stop_iteration: true`, as the example Envoy configs run the filter.
fn sim_for(cfg: &Value) -> Sim {
    plugin()
        .sim()
        .config_json(cfg)
        .allow_on_headers_stop_iteration(true)
        .start()
        .expect("configured")
}

fn sim(format: &str) -> Sim {
    sim_for(&config(format, json!({})))
}

/// The Invoke API's `200` carrying the function's output `payload`, with the headers Lambda sends.
fn invoke_ok(payload: impl Into<Vec<u8>>) -> Response {
    Response::ok()
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
        .header(
            "x-amzn-trace-id",
            "root=1-5d137d67-8a99e17221febd9e8df569e4;sampled=0",
        )
        .header("x-amz-executed-version", "$LATEST")
        .header("date", "Mon, 01 Jan 2024 00:00:00 GMT")
        .body(payload)
}

/// The two Invoke response headers every answer carries (U13).
const U13: [(&str, &str); 2] = [
    ("x-amzn-requestid", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
    (
        "x-amzn-trace-id",
        "root=1-5d137d67-8a99e17221febd9e8df569e4;sampled=0",
    ),
];

/// Sends `req`; the Invoke call gets `reply`. The client must be answered by the filter, never by the
/// router.
fn invoke(sim: &mut Sim, req: Request, reply: HttpCallReply) -> Exchange {
    sim.on_http_call(move |_| reply.clone()).expect("handler");
    let ex = sim
        .send(req, Response::new(599).body("the router must not be reached"))
        .expect("exchange");
    assert!(
        ex.upstream_request.is_none(),
        "a Lambda request reached the router: {ex:?}"
    );
    assert!(sim.failed().is_none(), "the VM failed: {:?}", sim.failed());
    ex
}

/// [`invoke`] with the function's output `payload` in a 200 Invoke response.
fn run(sim: &mut Sim, req: Request, payload: &str) -> Exchange {
    invoke(sim, req, HttpCallReply::Response(invoke_ok(payload)))
}

fn get(path: &str) -> Request {
    Request::get(path).authority("api.example.com")
}

/// The event of the exchange's one Invoke call, after checking the call itself.
fn event(ex: &Exchange) -> Value {
    assert_eq!(ex.http_calls.len(), 1, "one Invoke call: {:?}", ex.http_calls);
    let call = &ex.http_calls[0];
    assert_eq!(call.cluster, "lambda_echo");
    assert_eq!(call.headers.get(":method"), Some("POST"));
    assert_eq!(
        call.headers.get(":path"),
        Some("/2015-03-31/functions/routewise/invocations")
    );
    serde_json::from_slice(&call.body).expect("the event is JSON")
}

/// What the client got: status, header lines without `content-length`, body. Checks `content-length`
/// (U12): one line with the body's length, or none for an empty body (Envoy drops `content-length` from a
/// local reply without a body, `Utility::prepareLocalReply`, and its HTTP/1 codec writes `content-length:
/// 0`; it drops `content-type` too, which the filter restores: `u12_an_empty_body_answer_...`).
fn client(ex: &Exchange) -> (u32, Vec<(String, String)>, Vec<u8>) {
    let r = ex.response.as_ref().expect("the client got a response");
    let lengths: Vec<&str> = r.headers.get_all("content-length");
    if r.body.is_empty() {
        assert!(lengths.is_empty() || lengths == ["0"], "{lengths:?}");
    } else {
        assert_eq!(
            lengths,
            [r.body.len().to_string()],
            "content-length is the final body length (U12)"
        );
    }
    let lines = r
        .headers
        .iter()
        .filter(|(n, _)| *n != "content-length")
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    (r.status, lines, r.body.clone())
}

fn owned(lines: &[(&str, &str)]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// `lines` then the U13 lines.
fn with_u13(lines: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = owned(lines);
    v.extend(owned(&U13));
    v
}

/// Asserts the generic error answer of U1, U2, U15, U16 with its `x-envoy-lambda-*` lines.
#[track_caller]
fn assert_error(ex: &Exchange, status: u32, extra: &[(&str, &str)], outcome: &str) {
    let (got, lines, body) = client(ex);
    assert_eq!(got, status);
    let mut want = vec![("content-type", "application/json")];
    want.extend_from_slice(extra);
    assert_eq!(lines, with_u13(&want));
    assert_eq!(body, ERROR_BODY.as_bytes());
    assert_eq!(ex.property("routewise.lambda_outcome").as_deref(), Some(outcome));
}

// ------------------------------------------------------------------------------------------- the call

#[test]
fn the_invoke_call_is_a_json_post_to_the_integrations_cluster_with_its_timeout() {
    let mut sim = sim_for(&config(V2, json!({"timeout_ms": 1500})));
    // A client-sent cluster header is removed before anything else: it neither steers the call nor
    // reaches the function.
    let ex = run(
        &mut sim,
        get("/pets/7").header("x-routewise-cluster", "evil"),
        r#"{"statusCode":200}"#,
    );
    let call = &ex.http_calls[0];
    assert_eq!(call.cluster, "lambda_echo");
    assert_eq!(call.timeout_ms, 1500);
    let len = call.body.len().to_string();
    assert_eq!(
        call.headers.iter().collect::<Vec<_>>(),
        [
            (":method", "POST"),
            (":path", "/2015-03-31/functions/routewise/invocations"),
            (":authority", "lambda"),
            ("content-type", "application/json"),
            ("x-amz-invocation-type", "RequestResponse"),
            ("content-length", len.as_str()),
        ]
    );
    assert_eq!(event(&ex)["headers"].get("x-routewise-cluster"), None);

    // timeout_ms defaults to API Gateway's 29 s.
    let ex = run(
        &mut sim_for(&config(V2, json!({}))),
        get("/pets/7"),
        r#"{"statusCode":200}"#,
    );
    assert_eq!(ex.http_calls[0].timeout_ms, 29_000);
}

// ------------------------------------------------------------------------------------------------ L1

#[test]
fn l1_format_1_0_event() {
    let mut sim = sim(V1);
    let req = get("/pets/7?a=1&a=2&b=x%20y")
        .header("Accept", "text/html")
        .header("accept", "application/json")
        .header("user-agent", "curl/8.0")
        .header("cookie", "s=1; t=2");
    let ex = run(&mut sim, req, r#"{"statusCode":200,"body":"ok"}"#);
    let rid = "00000000-0000-4000-8000-000000000002";
    assert_eq!(
        event(&ex),
        json!({
            "resource": "/pets/{id}",
            "path": "/pets/7",
            "httpMethod": "GET",
            // x-forwarded-for and x-envoy-external-address: the connection manager's (use_remote_address).
            "headers": {"accept": "application/json", "cookie": "s=1; t=2", "host": "api.example.com",
                        "user-agent": "curl/8.0", "x-envoy-external-address": "127.0.0.1",
                        "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http", "x-request-id": rid},
            "multiValueHeaders": {"accept": ["text/html", "application/json"], "cookie": ["s=1; t=2"],
                                  "host": ["api.example.com"], "user-agent": ["curl/8.0"],
                                  "x-envoy-external-address": ["127.0.0.1"], "x-forwarded-for": ["127.0.0.1"],
                                  "x-forwarded-proto": ["http"], "x-request-id": [rid]},
            "queryStringParameters": {"a": "2", "b": "x y"},
            "multiValueQueryStringParameters": {"a": ["1", "2"], "b": ["x y"]},
            "pathParameters": {"id": "7"},
            "stageVariables": {"env": "test"},
            // L1 (issue 15): every requestContext and identity key of API Gateway's REST events
            // (filter/src/lambda/event.rs docs: accountId unknown, extendedRequestId = requestId,
            // resourceId derived from the resource path).
            "requestContext": {
                "accountId": null, "apiId": "fn", "domainName": "api.example.com", "domainPrefix": "api",
                "extendedRequestId": rid, "httpMethod": "GET",
                "identity": {"accessKey": null, "accountId": null, "apiKey": null, "apiKeyId": null,
                             "caller": null, "cognitoAuthenticationProvider": null,
                             "cognitoAuthenticationType": null, "cognitoIdentityId": null,
                             "cognitoIdentityPoolId": null, "principalOrgId": null,
                             "sourceIp": "127.0.0.1", "user": null, "userAgent": "curl/8.0", "userArn": null},
                "path": "/pets/7", "protocol": "HTTP/1.1", "requestId": rid,
                "requestTime": "01/Jan/2025:00:00:00 +0000", "requestTimeEpoch": START_MS,
                "resourceId": "ql1zsc", "resourcePath": "/pets/{id}", "stage": "prod"},
            "body": null,
            "isBase64Encoded": false
        })
    );
    let (status, lines, body) = client(&ex);
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(lines, with_u13(&[("content-type", "application/json")]));
}

// ------------------------------------------------------------------------------------------------ L2

#[test]
fn l2_format_2_0_event() {
    let mut sim = sim(V2);
    let req = get("/pets/7?a=1&a=2&b=x%20y")
        .header("accept", "text/html")
        .header("accept", "application/json")
        .header("user-agent", "curl/8.0")
        .header("cookie", "s=1; t=2")
        .header("cookie", "u=3");
    let ex = run(&mut sim, req, r#"{"statusCode":200,"body":"ok"}"#);
    let rid = "00000000-0000-4000-8000-000000000002";
    assert_eq!(
        event(&ex),
        json!({
            "version": "2.0",
            "routeKey": "GET /pets/{id}",
            "rawPath": "/pets/7",
            "rawQueryString": "a=1&a=2&b=x%20y",
            "cookies": ["s=1", "t=2", "u=3"],
            "headers": {"accept": "text/html,application/json", "host": "api.example.com",
                        "user-agent": "curl/8.0", "x-envoy-external-address": "127.0.0.1",
                        "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http", "x-request-id": rid},
            "queryStringParameters": {"a": "1,2", "b": "x y"},
            // L2 (issue 15): accountId as API Gateway's HTTP API events have it (null: unknown).
            "requestContext": {
                "accountId": null, "apiId": "fn", "domainName": "api.example.com", "domainPrefix": "api",
                "http": {"method": "GET", "path": "/pets/7", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                         "userAgent": "curl/8.0"},
                "requestId": rid, "routeKey": "GET /pets/{id}", "stage": "prod",
                "time": "01/Jan/2025:00:00:00 +0000", "timeEpoch": START_MS},
            "pathParameters": {"id": "7"},
            "isBase64Encoded": false,
            "stageVariables": {"env": "test"}
        })
    );
    assert_eq!(client(&ex).2, b"ok");
}

// ------------------------------------------------------------------------------------------------ L3

#[test]
fn l3_textual_utf8_bodies_are_text_everything_else_base64() {
    // (content-type, body, expected `body` in the event, isBase64Encoded)
    let table: &[(Option<&str>, &[u8], &str, bool)] = &[
        (Some("application/json"), br#"{"a":"b"}"#, r#"{"a":"b"}"#, false),
        (
            Some("text/plain; charset=utf-8"),
            "caf\u{e9}".as_bytes(),
            "caf\u{e9}",
            false,
        ),
        (Some("application/vnd.api+json"), b"[1]", "[1]", false),
        (Some("application/soap+xml"), b"<a/>", "<a/>", false),
        (
            Some("application/x-www-form-urlencoded"),
            b"a=1&b=2",
            "a=1&b=2",
            false,
        ),
        (Some("image/png"), b"\x89PNG\r\n", "iVBORw0K", true),
        // Textual but not UTF-8: base64 (L3 asks for both).
        (Some("text/plain"), b"\xff\xfe", "//4=", true),
        (None, b"plain", "cGxhaW4=", true),
    ];
    for format in [V1, V2] {
        let mut sim = sim(format);
        for (ct, body, want, b64) in table {
            let mut req = Request::post("/upload").authority("api.example.com");
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            // Several chunks: the filter buffers until the end of the body.
            let (a, b) = body.split_at(body.len() / 2);
            let ex = run(
                &mut sim,
                req.body_chunks([a.to_vec(), b.to_vec()]),
                r#"{"statusCode":204}"#,
            );
            let e = event(&ex);
            assert_eq!(e["body"], *want, "{format} {ct:?}");
            assert_eq!(e["isBase64Encoded"], *b64, "{format} {ct:?}");
            assert_eq!(client(&ex).0, 204);
        }
    }
}

#[test]
fn l3_a_large_binary_body_arrives_whole_in_base64() {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut sim = sim(V2);
    let chunks: Vec<Vec<u8>> = body.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let req = Request::post("/blob")
        .header("content-type", "application/octet-stream")
        .body_chunks(chunks);
    let ex = run(&mut sim, req, r#"{"statusCode":200}"#);
    let e = event(&ex);
    assert_eq!(e["isBase64Encoded"], true);
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(e["body"].as_str().expect("a string"))
        .expect("base64");
    assert!(decoded == body, "the body arrives whole");
}

#[test]
fn l3_trailers_end_the_request_body() {
    let mut sim = sim(V1);
    let mut trailers = Headers::new();
    trailers.add("x-checksum", "abc");
    let req = Request::post("/t")
        .header("content-type", "text/plain")
        .body_chunks(["ab", "cd"])
        .trailers(trailers);
    let ex = run(&mut sim, req, r#"{"statusCode":200}"#);
    assert_eq!(event(&ex)["body"], "abcd");
}

// ------------------------------------------------------------------------------------------------ L4

#[test]
fn l4_a_body_over_max_request_body_bytes_gets_413_and_nothing_is_invoked() {
    for format in [V1, V2] {
        let mut sim = sim_for(&config(format, json!({"max_request_body_bytes": 16})));
        let too_large = |ex: &Exchange, len: u32| {
            assert!(ex.http_calls.is_empty(), "nothing may be sent to Lambda");
            let (status, lines, body) = client(ex);
            assert_eq!(status, 413);
            assert_eq!(lines, owned(&[("content-type", "application/json")]));
            assert_eq!(body, br#"{"message":"Request Entity Too Large"}"#);
            assert_eq!(
                ex.property("routewise.lambda_outcome").as_deref(),
                Some("request_too_large")
            );
            assert_eq!(
                ex.property("routewise.lambda_reason"),
                Some(format!(
                    "request body of {len} bytes exceeds max_request_body_bytes (16)"
                ))
            );
            assert_eq!(ex.property("routewise.lambda_status"), None);
        };
        // Announced by content-length: refused on the request headers.
        let req = Request::post("/x")
            .header("content-length", "17")
            .body("0123456789abcdefg");
        too_large(&invoke(&mut sim, req, HttpCallReply::Fail), 17);
        // Streamed without content-length: refused as soon as the buffered size passes the limit.
        let req = Request::post("/x").body_chunks(["0123456789", "abcdefg", "more that never matters"]);
        too_large(&invoke(&mut sim, req, HttpCallReply::Fail), 17);
        // Exactly the limit is sent.
        let req = Request::post("/x")
            .header("content-type", "text/plain")
            .body("0123456789abcdef");
        let ex = run(&mut sim, req, r#"{"statusCode":200}"#);
        assert_eq!(event(&ex)["body"], "0123456789abcdef");
        assert_eq!(sim.metric("routewise.lambda.request_too_large"), Some(2));
        assert_eq!(sim.metric("routewise.lambda.proxied"), Some(1));
    }
}

// ------------------------------------------------------------------------------------------------ U1

#[test]
fn u1_a_throttle_becomes_500_with_the_status_and_reason_headers() {
    let reason = "ReservedFunctionConcurrentInvocationLimitExceeded";
    for format in [V1, V2] {
        let mut sim = sim(format);
        let throttle = Response::new(429)
            .header("x-amzn-requestid", U13[0].1)
            .header("x-amzn-trace-id", U13[1].1)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"Reason":"{reason}","Type":"User","message":"Rate Exceeded."}}"#
            ));
        let ex = invoke(
            &mut sim,
            get("/pets/7"),
            HttpCallReply::Response(throttle.clone()),
        );
        assert_error(
            &ex,
            500,
            &[
                ("x-envoy-lambda-statuscode", "429"),
                ("x-envoy-lambda-statusreason", reason),
            ],
            "throttled",
        );
        assert_eq!(ex.property("routewise.lambda_status").as_deref(), Some("429"));
        // Without a JSON body: still 500, without the reason header.
        let ex = invoke(
            &mut sim,
            get("/pets/7"),
            HttpCallReply::Response(throttle.body("Rate Exceeded")),
        );
        assert_error(&ex, 500, &[("x-envoy-lambda-statuscode", "429")], "throttled");
        assert_eq!(sim.metric("routewise.lambda.throttled"), Some(2));
    }
}

// ------------------------------------------------------------------------------------------------ U2

#[test]
fn u2_lambda_service_errors_and_function_errors_are_502() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        for status in [400, 403, 413, 500, 502] {
            let resp = Response::new(status)
                .header("x-amzn-requestid", U13[0].1)
                .header("x-amzn-trace-id", U13[1].1)
                .body(r#"{"Type":"Service","message":"boom"}"#);
            let ex = invoke(&mut sim, get("/pets/7"), HttpCallReply::Response(resp));
            let code = status.to_string();
            assert_error(
                &ex,
                502,
                &[("x-envoy-lambda-statuscode", code.as_str())],
                "lambda_error",
            );
            assert_eq!(ex.property("routewise.lambda_status"), Some(code));
        }
        // The function raised: a 200 Invoke response with x-amz-function-error is never a 200.
        let raised = invoke_ok(r#"{"errorMessage":"boom","errorType":"Error","statusCode":200}"#)
            .header("x-amz-function-error", "Unhandled");
        let ex = invoke(&mut sim, get("/pets/7"), HttpCallReply::Response(raised));
        assert_error(
            &ex,
            502,
            &[
                ("x-envoy-lambda-statuscode", "200"),
                ("x-envoy-lambda-function-error", "Unhandled"),
            ],
            "function_error",
        );
    }
}

// ------------------------------------------------------------------------------------------------ U3

#[test]
fn u3_the_payload_is_an_object_unknown_keys_ignored_the_last_duplicate_wins() {
    let mut sim = sim(V1);
    for not_an_object in ["[1,2]", r#""text""#, "42", "null"] {
        let ex = run(&mut sim, get("/pets/7"), not_an_object);
        assert_error(&ex, 502, &[], "malformed");
    }
    let ex = run(
        &mut sim,
        get("/pets/7"),
        r#"{"statusCode":201,"unknown":{"x":[1]},"body":"first","body":"last","statusCode":202}"#,
    );
    let (status, _, body) = client(&ex);
    assert_eq!((status, body.as_slice()), (202, &b"last"[..]));
}

// ------------------------------------------------------------------------------------------------ U4

#[test]
fn u4_status_code_missing_integer_or_digit_string() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        // (payload, client status); 502 = malformed (U15)
        let table: &[(&str, u32)] = &[
            (r#"{"statusCode":201,"body":"x"}"#, 201),
            (r#"{"statusCode":"202","body":"x"}"#, 202),
            (r#"{"statusCode":599,"body":"x"}"#, 599),
            (r#"{"statusCode":"abc"}"#, 502),
            (r#"{"statusCode":600}"#, 502),
            (r#"{"statusCode":99}"#, 502),
            (r#"{"statusCode":201.5}"#, 502),
            (r#"{"statusCode":null}"#, 502),
        ];
        for (payload, want) in table {
            assert_eq!(
                client(&run(&mut sim, get("/pets/7"), payload)).0,
                *want,
                "{format} {payload}"
            );
        }
    }
    // Missing → 200 (2.0 needs another key to stay an object answer, else U14 infers; both give 200).
    let ex = run(&mut sim(V1), get("/pets/7"), r#"{"body":"x"}"#);
    assert_eq!(client(&ex).0, 200);
}

// ------------------------------------------------------------------------------------------------ U5

#[test]
fn u5_headers_lower_cased_non_strings_as_compact_json_null_is_absent() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let payload = r#"{"statusCode":200,"headers":{"X-Str":"v a","X-Num":400,"X-Bool":true,
                          "X-Obj":{ "a" : "b" }},"body":"b"}"#;
        let (_, lines, _) = client(&run(&mut sim, get("/pets/7"), payload));
        assert_eq!(
            lines,
            with_u13(&[
                ("x-str", "v a"),
                ("x-num", "400"),
                ("x-bool", "true"),
                ("x-obj", r#"{"a":"b"}"#),
                ("content-type", "application/json")
            ])
        );
        let ex = run(
            &mut sim,
            get("/pets/7"),
            r#"{"statusCode":200,"headers":null,"body":"b"}"#,
        );
        assert_eq!(client(&ex).1, with_u13(&[("content-type", "application/json")]));
    }
}

// ------------------------------------------------------------------------------------------------ U6

#[test]
fn u6_multi_value_headers_are_separate_field_lines() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let payload =
            r#"{"statusCode":200,"multiValueHeaders":{"X-M":["a","b",null,3],"x-n":null},"body":"b"}"#;
        let (_, lines, _) = client(&run(&mut sim, get("/pets/7"), payload));
        assert_eq!(
            lines,
            with_u13(&[
                ("x-m", "a"),
                ("x-m", "b"),
                ("x-m", "3"),
                ("content-type", "application/json")
            ])
        );
        let ex = run(
            &mut sim,
            get("/pets/7"),
            r#"{"statusCode":200,"multiValueHeaders":{"x-m":"a"}}"#,
        );
        assert_error(&ex, 502, &[], "malformed");
    }
}

// ------------------------------------------------------------------------------------------------ U7

#[test]
fn u7_multi_values_first_then_the_single_value_unless_equal() {
    let mut sim = sim(V1);
    let payload = r#"{"statusCode":200,"headers":{"x-a":"s","x-b":"m1","x-c":"only"},
                      "multiValueHeaders":{"x-a":["m1","m2"],"x-b":["m1"]},"body":"b"}"#;
    let (_, lines, _) = client(&run(&mut sim, get("/pets/7"), payload));
    assert_eq!(
        lines,
        with_u13(&[
            ("x-a", "m1"),
            ("x-a", "m2"),
            ("x-a", "s"),
            ("x-b", "m1"),
            ("x-c", "only"),
            ("content-type", "application/json")
        ])
    );
}

// ------------------------------------------------------------------------------------------------ U8

#[test]
fn u8_cookies_become_set_cookie_lines_after_the_other_headers() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let payload = r#"{"statusCode":200,"cookies":["a=1; Path=/","b=2",null],
                          "multiValueHeaders":{"set-cookie":["c=3"]},"body":"b"}"#;
        let (_, lines, _) = client(&run(&mut sim, get("/pets/7"), payload));
        let mut want = with_u13(&[("set-cookie", "c=3"), ("content-type", "application/json")]);
        want.extend(owned(&[("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2")]));
        assert_eq!(lines, want, "{format}");
    }
}

// ------------------------------------------------------------------------------------------------ U9

#[test]
fn u9_unsafe_pseudo_hop_by_hop_length_and_reserved_lines_are_dropped() {
    let mut sim = sim(V1);
    let payload = r#"{"statusCode":200,"headers":{"X-Ok":"1","X-Cr":"a\rb","X-\r\nName":"v",":status":"500",
        "Connection":"close","Transfer-Encoding":"chunked","Keep-Alive":"5","Content-Length":"999",
        "Bad Name":"v","X-Envoy-Lambda-StatusCode":"429"},
        "multiValueHeaders":{"x-envoy-lambda-function-error":["Unhandled"],"x-m":["ok","bad\n"]},"body":"abc"}"#;
    let ex = run(&mut sim, get("/pets/7"), payload);
    let (status, lines, body) = client(&ex);
    assert_eq!((status, body.as_slice()), (200, &b"abc"[..]));
    // A function cannot make its 200 look like a Lambda failure (x-envoy-lambda-* are the filter's).
    assert_eq!(
        lines,
        with_u13(&[("x-m", "ok"), ("x-ok", "1"), ("content-type", "application/json")])
    );
    assert_eq!(
        ex.property("routewise.lambda_outcome").as_deref(),
        Some("proxied")
    );
}

// ----------------------------------------------------------------------------------------------- U10

#[test]
fn u10_body_string_verbatim_other_json_compact_null_or_missing_empty() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let table: &[(&str, &[u8])] = &[
            (
                r#","body":"line\nbreak \"q\" caf\u00e9""#,
                "line\nbreak \"q\" caf\u{e9}".as_bytes(),
            ),
            (r#","body":{ "b" : 1 , "a" : [ 1, 2 ] }"#, br#"{"b":1,"a":[1,2]}"#),
            (r#","body":42"#, b"42"),
            (r#","body":true"#, b"true"),
            (r#","body":null"#, b""),
            ("", b""),
        ];
        for (member, want) in table {
            let ex = run(
                &mut sim,
                get("/pets/7"),
                &format!(r#"{{"statusCode":200{member}}}"#),
            );
            let (status, _, body) = client(&ex);
            assert_eq!((status, body.as_slice()), (200, *want), "{format} {member}");
        }
    }
}

// ----------------------------------------------------------------------------------------------- U11

#[test]
fn u11_base64_bodies_are_decoded_and_invalid_base64_is_malformed() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let ex = run(
            &mut sim,
            get("/pets/7"),
            r#"{"statusCode":200,"headers":{"content-type":"image/png"},"body":"AAEC/w==","isBase64Encoded":true}"#,
        );
        let (status, lines, body) = client(&ex);
        assert_eq!((status, body), (200, vec![0, 1, 2, 255]));
        assert_eq!(lines, with_u13(&[("content-type", "image/png")]));
        // Only the boolean true decodes.
        let ex = run(
            &mut sim,
            get("/pets/7"),
            r#"{"statusCode":200,"body":"AAEC/w==","isBase64Encoded":"true"}"#,
        );
        assert_eq!(client(&ex).2, b"AAEC/w==");
        // No silent empty body.
        for bad in ["AAEC/w", "A A=", "%%%%"] {
            let payload = format!(r#"{{"statusCode":200,"body":"{bad}","isBase64Encoded":true}}"#);
            assert_error(&run(&mut sim, get("/pets/7"), &payload), 502, &[], "malformed");
        }
    }
}

// ----------------------------------------------------------------------------------------------- U12

#[test]
fn u12_content_length_is_the_final_length_and_content_type_defaults_to_json() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let ex = run(
            &mut sim,
            get("/pets/7"),
            r#"{"statusCode":200,"headers":{"Content-Type":"text/html","Content-Length":"1"},"body":"<p>hello</p>"}"#,
        );
        let (_, lines, body) = client(&ex); // asserts content-length: 12
        assert_eq!(body, b"<p>hello</p>");
        assert_eq!(lines, with_u13(&[("content-type", "text/html")]));
        let ex = run(&mut sim, get("/pets/7"), r#"{"statusCode":200,"body":"{}"}"#);
        assert_eq!(client(&ex).1, with_u13(&[("content-type", "application/json")]));
        // 204: no body, no content-length and no default content-type (U12, RFC 9110 §15.3.5).
        let ex = run(&mut sim, get("/pets/7"), r#"{"statusCode":204}"#);
        let (status, lines, body) = client(&ex);
        assert_eq!((status, body.len()), (204, 0));
        assert_eq!(lines, owned(&U13));
    }
}

/// U12 with an empty body (issue 15), the cases a real Envoy 1.40 answers in both builds
/// (`tests/tests/envoy_lambda.rs`, the same table): host-sim's local reply drops `content-type` without a
/// body and answers HEAD with headers only, as Envoy's `Utility::prepareLocalReply` / `encodeLocalReply` do,
/// and the filter restores `content-type` when its own reply passes `on_http_response_headers`.
#[test]
fn u12_an_empty_body_answer_keeps_the_functions_content_type_as_in_envoy() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        for case in routewise_tests::lambda_mock::EMPTY_BODY_CASES {
            let what = format!("{format} {} /{} ({})", case.method, case.function, case.why);
            let req = Request::new(case.method, &format!("/{}", case.function)).authority("api.example.com");
            let ex = run(&mut sim, req, case.payload);
            let r = ex.response.as_ref().expect("the client got a response");
            assert_eq!(r.status, u32::from(case.status), "{what}: {r:?}");
            assert_eq!(r.headers.get("content-type"), case.content_type, "{what}: {r:?}");
            // host-sim writes no HTTP/1 framing: Envoy's codec adds `content-length: 0` to a bodiless
            // answer (tests/tests/fidelity.rs, normalisations); a length host-sim has must be Envoy's.
            if let Some(have) = r.headers.get("content-length") {
                assert_eq!(Some(have), case.content_length, "{what}: {r:?}");
            }
            if case.status == 204 {
                assert_eq!(r.headers.get("content-length"), None, "{what}: {r:?}");
            }
            if case.method == "HEAD" || case.empty {
                assert!(r.body.is_empty(), "{what}: {r:?}");
            }
            assert_eq!(
                ex.property("routewise.lambda_outcome").as_deref(),
                Some("proxied"),
                "{what}"
            );
        }
    }
}

// ----------------------------------------------------------------------------------------------- U13

#[test]
fn u13_of_the_invoke_responses_headers_only_request_id_and_trace_id_reach_the_client() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let resp = invoke_ok(r#"{"statusCode":200,"headers":{"x-own":"1"},"body":"b"}"#)
            .header("connection", "keep-alive")
            .header("x-amzn-remapped-content-length", "0")
            .header("x-amz-log-result", "bG9n");
        let ex = invoke(&mut sim, get("/pets/7"), HttpCallReply::Response(resp));
        assert_eq!(
            client(&ex).1,
            with_u13(&[("x-own", "1"), ("content-type", "application/json")])
        );
    }
}

// ----------------------------------------------------------------------------------------------- U14

#[test]
fn u14_format_2_0_takes_an_answer_without_status_code_as_the_body() {
    let mut sim = sim(V2);
    for output in [
        r#"{"message":"hi","body":"not used"}"#,
        r#""hello""#,
        "[1,2]",
        "42",
        "null",
    ] {
        let ex = run(&mut sim, get("/pets/7"), output);
        let (status, lines, body) = client(&ex);
        assert_eq!((status, body.as_slice()), (200, output.as_bytes()), "{output}");
        assert_eq!(lines, with_u13(&[("content-type", "application/json")]));
        assert_eq!(
            ex.property("routewise.lambda_outcome").as_deref(),
            Some("inferred")
        );
    }
    // 1.0 has no inference: an object without statusCode is 200 with its own body (U4, U10).
    let ex = run(&mut self::sim(V1), get("/pets/7"), r#"{"message":"hi"}"#);
    assert_eq!((client(&ex).0, client(&ex).2), (200, Vec::new()));
}

// ----------------------------------------------------------------------------------------------- U15

#[test]
fn u15_malformed_answers_are_502_and_the_reason_goes_to_the_log_and_filter_state_only() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        sim.clear_logs();
        let ex = run(&mut sim, get("/pets/7"), r#"{"statusCode":"two hundred"}"#);
        assert_error(&ex, 502, &[], "malformed");
        let reason = "malformed lambda response: statusCode must be an integer in 200..=599";
        assert_eq!(ex.property("routewise.lambda_reason").as_deref(), Some(reason));
        assert_eq!(ex.property("routewise.lambda_status").as_deref(), Some("200"));
        assert!(
            sim.logs_at(LogLevel::Warn).iter().any(|l| l.contains(reason)),
            "{:?}",
            sim.logs()
        );
        let ex = run(&mut sim, get("/pets/7"), "not json");
        assert_error(&ex, 502, &[], "malformed");
        assert!(ex
            .property("routewise.lambda_reason")
            .is_some_and(|r| r.starts_with("malformed lambda response: payload is not valid JSON")));
        assert_eq!(sim.metric("routewise.lambda.malformed"), Some(2));
    }
}

// ----------------------------------------------------------------------------------------------- U16

#[test]
fn u16_an_answer_over_max_response_body_bytes_is_502_never_truncated() {
    for format in [V1, V2] {
        let mut sim = sim_for(&config(format, json!({"max_response_body_bytes": 64})));
        let big = format!(r#"{{"statusCode":200,"body":"{}"}}"#, "x".repeat(100));
        let ex = run(&mut sim, get("/pets/7"), &big);
        assert_error(&ex, 502, &[], "too_large");
        assert_eq!(
            ex.property("routewise.lambda_reason"),
            Some(format!(
                "lambda response body of {} bytes exceeds max_response_body_bytes (64)",
                big.len()
            ))
        );
        // At the limit it is unwrapped.
        let fits = format!(
            r#"{{"statusCode":200,"body":"{}"}}"#,
            "x".repeat(64 - r#"{"statusCode":200,"body":""}"#.len())
        );
        assert_eq!(fits.len(), 64);
        assert_eq!(client(&run(&mut sim, get("/pets/7"), &fits)).0, 200);
        // U1 comes first: a big throttle answer is still a throttle.
        let throttle = Response::new(429).body(big.clone());
        let ex = invoke(&mut sim, get("/pets/7"), HttpCallReply::Response(throttle));
        assert_eq!(
            (client(&ex).0, ex.property("routewise.lambda_outcome")),
            (500, Some("throttled".into()))
        );
    }
}

// ------------------------------------------------------------------------ failures around the call

#[test]
fn a_call_that_outlives_timeout_ms_is_answered_504() {
    let mut sim = sim_for(&config(V2, json!({"timeout_ms": 1000})));
    sim.on_http_call(|_| HttpCallReply::Pending).expect("handler");
    let id = sim.begin(get("/pets/7")).expect("begun");
    assert_eq!(sim.pending_http_calls().len(), 1);
    sim.advance(Duration::from_millis(999)).expect("advance");
    assert!(
        matches!(sim.stream_state(id).expect("state"), StreamState::Stalled(_)),
        "still waiting"
    );
    sim.advance(Duration::from_millis(1)).expect("advance");
    let ex = sim.finish(id).expect("answered");
    let (status, lines, body) = client(&ex);
    assert_eq!(status, 504);
    assert_eq!(lines, owned(&[("content-type", "application/json")]));
    assert_eq!(body, br#"{"message":"Endpoint request timed out"}"#);
    assert_eq!(
        ex.property("routewise.lambda_outcome").as_deref(),
        Some("timeout")
    );
    assert_eq!(
        ex.property("routewise.lambda_reason").as_deref(),
        Some("the Invoke call timed out (no answer within timeout_ms = 1000)")
    );
    assert_eq!(sim.metric("routewise.lambda.timeout"), Some(1));
}

#[test]
fn a_call_that_fails_without_an_answer_is_502() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let ex = invoke(&mut sim, get("/pets/7"), HttpCallReply::Fail);
        let (status, lines, body) = client(&ex);
        assert_eq!(status, 502);
        assert_eq!(lines, owned(&[("content-type", "application/json")]));
        assert_eq!(body, ERROR_BODY.as_bytes());
        assert_eq!(
            ex.property("routewise.lambda_outcome").as_deref(),
            Some("call_failed")
        );
        assert_eq!(ex.property("routewise.lambda_status"), None);
        assert!(ex
            .property("routewise.lambda_reason")
            .is_some_and(|r| r.starts_with("the Invoke call failed")));
        assert_eq!(sim.metric("routewise.lambda.call_failed"), Some(1));
    }
}

#[test]
fn a_cluster_envoy_does_not_know_is_a_logged_500() {
    let mut sim = plugin()
        .sim()
        .config_json(&config(V2, json!({})))
        .allow_on_headers_stop_iteration(true)
        .clusters(["some_other_cluster"])
        .start()
        .expect("configured");
    let ex = invoke(&mut sim, get("/pets/7"), HttpCallReply::Fail);
    assert!(ex.http_calls.is_empty());
    let (status, lines, body) = client(&ex);
    assert_eq!((status, body.as_slice()), (500, ERROR_BODY.as_bytes()));
    assert_eq!(lines, owned(&[("content-type", "application/json")]));
    assert_eq!(
        ex.property("routewise.lambda_outcome").as_deref(),
        Some("internal_error")
    );
    let reason = ex.property("routewise.lambda_reason").expect("a reason");
    assert!(reason.contains("cannot call cluster `lambda_echo`"), "{reason}");
    assert!(sim.logs_at(LogLevel::Warn).iter().any(|l| l.contains(&reason)));
}

#[test]
fn a_bad_answer_then_a_good_one_on_the_same_vm() {
    for format in [V1, V2] {
        let mut sim = sim(format);
        let bad = [
            "{",
            r#"{"statusCode":1e999}"#,
            r#"{"statusCode":200,"body":"\ud800"}"#,
        ];
        for payload in bad {
            assert_eq!(
                client(&run(&mut sim, get("/pets/7"), payload)).0,
                502,
                "{payload}"
            );
            let ex = invoke(&mut sim, get("/pets/7"), HttpCallReply::Fail);
            assert_eq!(client(&ex).0, 502);
            let ex = run(&mut sim, get("/pets/8"), r#"{"statusCode":200,"body":"fine"}"#);
            assert_eq!((client(&ex).0, client(&ex).2), (200, b"fine".to_vec()));
            assert_eq!(event(&ex)["pathParameters"], json!({"id": "8"}));
        }
        assert!(sim.failed().is_none());
        assert_eq!(sim.metric("routewise.lambda.proxied"), Some(3));
        assert_eq!(sim.metric("routewise.requests.forwarded"), Some(9));
    }
}

#[test]
fn without_allow_on_headers_stop_iteration_requests_without_a_body_are_served_and_bodies_stall() {
    let mut sim = plugin()
        .sim()
        .config_json(&config(V2, json!({})))
        .start()
        .expect("configured");
    sim.on_http_call(|_| HttpCallReply::Response(invoke_ok(r#"{"statusCode":200,"body":"ok"}"#)))
        .expect("handler");
    let ex = sim.send(get("/pets/7"), Response::ok()).expect("a GET is served");
    assert_eq!((ex.status(), client(&ex).2), (200, b"ok".to_vec()));
    // Documented: Envoy buffers the body without calling the filter, so the request waits for Envoy's
    // stream timeout (the example configs set allow_on_headers_stop_iteration: true).
    match sim.send(Request::post("/x").body("abc"), Response::ok()) {
        Err(Error::Stalled { .. }) => {}
        other => panic!("expected a stall, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------- example configs

#[test]
fn the_minimal_example_configs_send_every_request_to_the_lambda_cluster() {
    for (file, format) in [("lambda-minimal.json", V1), ("lambda-minimal-v2.json", V2)] {
        let path = host_sim::workspace_root().join("envoy/examples").join(file);
        let text = std::fs::read_to_string(&path).expect("example config");
        let mut sim = plugin()
            .sim()
            .config(text.into_bytes())
            .allow_on_headers_stop_iteration(true)
            .start()
            .expect("the example is valid");
        let requests = [
            Request::get("/"),
            Request::get("/a/b/c?x=1&x=2").authority("api.example.com"),
            Request::new("DELETE", "/items/7").authority("10.0.0.1:8080"),
            Request::post("/orders")
                .authority("Other.Example.ORG")
                .header("content-type", "application/json")
                .body("{}"),
        ];
        for req in requests {
            let (method, full) = (req.method.clone(), req.path.clone());
            let path = full.split('?').next().unwrap_or_default().to_string();
            sim.on_http_call(|_| HttpCallReply::Response(invoke_ok(r#"{"statusCode":200,"body":"hi"}"#)))
                .expect("handler");
            let ex = sim.send(req, Response::new(599)).expect("exchange");
            assert!(ex.upstream_request.is_none());
            assert_eq!(ex.http_calls.len(), 1, "{file} {method} {full}");
            assert_eq!(ex.http_calls[0].cluster, "lambda");
            let e: Value = serde_json::from_slice(&ex.http_calls[0].body).expect("JSON");
            if format == V1 {
                assert_eq!(
                    (e["httpMethod"].as_str(), e["path"].as_str()),
                    (Some(&*method), Some(&*path))
                );
                assert_eq!(e["resource"], *path);
                assert_eq!(e["requestContext"]["stage"], "$default");
            } else {
                assert_eq!(e["version"], "2.0");
                assert_eq!(e["routeKey"], "$default");
                assert_eq!(e["rawPath"], *path);
                assert_eq!(e["requestContext"]["http"]["method"], *method);
                assert_eq!(e["requestContext"]["stage"], "$default");
            }
            assert_eq!(
                (ex.status(), client(&ex).2),
                (200, b"hi".to_vec()),
                "{file} {method} {full}"
            );
        }
    }
}

// -------------------------------------------------------------------------------------- plugins (G2)

/// G1, G2 with L1/L2: key-auth, proxy-rewrite and response-rewrite on a Lambda route act on the event and
/// the answer as on a forwarded request; the consumer goes into the event as API Gateway sends the caller of
/// an API key: 1.0 `requestContext.authorizer.principalId` and `identity.apiKeyId` (the first 10 hex digits
/// of the key's SHA-256, i.e. of the configured `key_sha256`), 2.0 `requestContext.authorizer.lambda`.
/// The key itself is nowhere in the event (`identity.apiKey` is `null`).
#[test]
fn g2_plugins_on_a_lambda_route_act_on_the_event_and_the_answer() {
    use sha2::{Digest, Sha256};
    const KEY: &str = "sk-LIVE-jack-7f3a9c";
    let sha: String = Sha256::digest(KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for format in [V1, V2] {
        let cfg = json!({
            "domains": [{"name": "*", "api_mappings": [{"api": "fn", "stage": "prod"}]}],
            "apis": [{"id": "fn",
                      "routes": [{"key": "ANY /{proxy+}", "plugins": {
                          "key-auth": {},
                          "proxy-rewrite": {"headers": {"set": {"x-env": "prod"}}},
                          "response-rewrite": {"status_code": 202, "headers": {"set": {"cache-control": "no-store"}}}}}],
                      "stages": {"prod": {"integration": {"type": "lambda", "cluster": "lambda_echo",
                                                          "payload_format_version": format}}}}],
            "consumers": [{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha}}}]
        });
        let mut sim = sim_for(&cfg);
        for req in [
            get("/a?x=1").header("apikey", KEY),
            get(&format!("/a?apikey={KEY}&x=1")),
        ] {
            let ex = run(
                &mut sim,
                req.header("x-env", "dev"),
                r#"{"statusCode":200,"body":"ok"}"#,
            );
            let e = event(&ex);
            // hide_credentials (the default): the key reaches the function neither as a header nor in the
            // query, nor anywhere else in the event.
            assert_eq!(e["headers"].get("apikey"), None, "{format}");
            let raw = String::from_utf8_lossy(&ex.http_calls[0].body).into_owned();
            assert!(!raw.contains(KEY), "{format}: the key is in the event: {raw}");
            let ctx = &e["requestContext"];
            if format == V1 {
                assert_eq!(e["queryStringParameters"], json!({"x": "1"}));
                assert_eq!(e["multiValueHeaders"]["x-env"], json!(["prod"]));
                assert_eq!(ctx["authorizer"], json!({"principalId": "jack"}));
                assert_eq!(ctx["identity"]["apiKeyId"], sha[..10], "the start of key_sha256");
                assert_eq!(ctx["identity"]["apiKey"], Value::Null);
            } else {
                assert_eq!(e["rawQueryString"], "x=1");
                assert_eq!(e["headers"]["x-env"], "prod");
                assert_eq!(ctx["authorizer"], json!({"lambda": {"principalId": "jack"}}));
                assert_eq!(ctx.get("identity"), None, "HTTP APIs have no API keys");
            }
            // response-rewrite applies to the filter's answer as to any response.
            let (status, lines, body) = client(&ex);
            assert_eq!((status, body.as_slice()), (202, &b"ok"[..]));
            let mut want = with_u13(&[("content-type", "application/json")]);
            want.push(("cache-control".into(), "no-store".into()));
            assert_eq!(lines, want);
        }
        // G2: no key, no invocation.
        let ex = invoke(&mut sim, get("/a"), HttpCallReply::Fail);
        assert!(ex.http_calls.is_empty());
        assert_eq!(ex.status(), 401);
    }
}

/// lambda-streaming.md §7, §8.2 (issue 15): a Lambda integration with `jwt` reads the payload header only when
/// Envoy's `jwt_authn` left its `payload_in_metadata` key in the stream's dynamic metadata, which the filter
/// asks for with `proxy_get_property(["metadata", "filter_metadata", "envoy.filters.http.jwt_authn", key])`:
/// OK, or SERIALIZATION_FAILURE for a payload with a `null` inside (present either way); NOT_FOUND without it
/// (a client's forged header: no claims). The header never reaches the event. 1.0 puts the claims in
/// `authorizer.claims` (§7.1), 2.0 in `authorizer.jwt` with `scopes` (§7.2), beside key-auth's consumer.
#[test]
fn s7_s8_2_jwt_claims_only_with_jwt_authn_metadata_and_the_payload_header_removed() {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    const NS: &str = "envoy.filters.http.jwt_authn";
    let payload = json!({"sub": "u1", "scope": "a b", "n": 2, "gone": null});
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    let claims = json!({"n": "2", "scope": "a b", "sub": "u1"});
    let sha: String = Sha256::digest(b"k1").iter().map(|b| format!("{b:02x}")).collect();
    for format in [V1, V2] {
        let cfg = json!({
            "domains": [{"name": "*", "api_mappings": [{"api": "fn", "stage": "prod"}]}],
            "apis": [{"id": "fn", "routes": [{"key": "ANY /{proxy+}"},
                                             {"key": "ANY /keyed/{proxy+}", "plugins": {"key-auth": {}}}],
                      "stages": {"prod": {"integration": {"type": "lambda", "cluster": "lambda_echo",
                          "payload_format_version": format, "jwt": {}}}}}],
            "consumers": [{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha}}}]
        });
        let mut sim = sim_for(&cfg);
        let want = |lambda: Option<Value>| match (format, lambda) {
            (V1, None) => json!({"claims": claims}),
            (V1, Some(_)) => json!({"principalId": "jack", "claims": claims}),
            (_, None) => json!({"jwt": {"claims": claims, "scopes": ["a", "b"]}}),
            (_, Some(l)) => json!({"jwt": {"claims": claims, "scopes": ["a", "b"]}, "lambda": l}),
        };
        // The metadata value as jwt_authn stores it: the payload Struct; with a `null` inside, proxy-wasm's
        // serialization fails (§8.2), without one it succeeds: the key is present in both.
        for stored in [payload.clone(), json!({"sub": "u1"})] {
            for (path, lambda) in [("/a", None), ("/keyed/a", Some(json!({"principalId": "jack"})))] {
                let req = get(path)
                    .header("apikey", "k1")
                    .header("x-jwt-payload", &header)
                    .dynamic_metadata(NS, "jwt_payload", stored.clone());
                let ex = run(&mut sim, req, r#"{"statusCode":200,"body":"ok"}"#);
                let e = event(&ex);
                assert_eq!(
                    e["requestContext"]["authorizer"],
                    want(lambda),
                    "{format} {stored}: {e}"
                );
                assert_eq!(e["headers"].get("x-jwt-payload"), None, "{format}: {e}");
            }
        }
        // No jwt_authn metadata (or another key, or another namespace): a client's header, ignored and removed.
        for req in [
            get("/a"),
            get("/a").dynamic_metadata(NS, "other", json!({"sub": "u1"})),
            get("/a").dynamic_metadata("other.ns", "jwt_payload", json!({"sub": "u1"})),
        ] {
            let ex = run(
                &mut sim,
                req.header("x-jwt-payload", &header),
                r#"{"statusCode":200,"body":"ok"}"#,
            );
            let e = event(&ex);
            assert_eq!(e["requestContext"].get("authorizer"), None, "{format}: {e}");
            let raw = String::from_utf8_lossy(&ex.http_calls[0].body).into_owned();
            assert!(
                !raw.contains(&header),
                "{format}: the forged header is in the event: {raw}"
            );
        }
    }
}
