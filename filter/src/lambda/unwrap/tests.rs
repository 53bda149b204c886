//! U1-U16, one test (or table) per rule, named after it. Expected header lists are byte for byte, in order.

use super::*;
use crate::lambda::headers::DropReason;
use proptest::prelude::*;

const MB6: u64 = 6 * 1024 * 1024;
/// Expected field lines, `(name, value)`, in order.
type Lines<'a> = &'a [(&'a str, &'a str)];
const V1: PayloadFormat = PayloadFormat::V1;
const V2: PayloadFormat = PayloadFormat::V2;

/// The Invoke response headers Envoy typically sees from Lambda (U13 keeps only the first two).
fn invoke_headers() -> Vec<(String, String)> {
    [
        ("x-amzn-requestid", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
        (
            "x-amzn-trace-id",
            "root=1-5d137d67-8a99e17221febd9e8df569e4;sampled=0",
        ),
        ("x-amz-executed-version", "$LATEST"),
        ("content-type", "application/json"),
        ("content-length", "99"),
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("connection", "keep-alive"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

/// The U13 lines as they appear at the end of every answer (before set-cookie lines).
const U13: [(&str, &str); 2] = [
    ("x-amzn-requestid", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
    (
        "x-amzn-trace-id",
        "root=1-5d137d67-8a99e17221febd9e8df569e4;sampled=0",
    ),
];

fn run(format: PayloadFormat, status: u16, extra: &[(&str, &str)], body: &[u8]) -> Unwrapped {
    let mut headers = invoke_headers();
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    unwrap_response(
        format,
        &InvokeResponse {
            status,
            headers: &headers,
            body,
        },
        MB6,
    )
}

/// A 200 Invoke response with `payload`.
fn ok(format: PayloadFormat, payload: &str) -> Unwrapped {
    run(format, 200, &[], payload.as_bytes())
}

fn lines(out: &Unwrapped) -> Vec<(&str, &str)> {
    out.headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// `first` lines, then content-length (of `body_len`) and the U13 lines.
fn expect_lines<'a>(first: &[(&'a str, &'a str)], body_len: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut v = first.to_vec();
    v.push(("content-length", body_len));
    v.extend(U13);
    v
}

/// Asserts the generic error answer (U1, U2, U15, U16) with `extra` x-envoy-lambda-* lines.
fn assert_error(out: &Unwrapped, status: u16, outcome: Outcome, extra: &[(&str, &str)]) {
    assert_eq!(out.status, status);
    assert_eq!(out.outcome, outcome);
    assert_eq!(out.body, ERROR_BODY.as_bytes());
    let mut want = vec![("content-type", "application/json"), ("content-length", "35")];
    want.extend_from_slice(extra);
    want.extend(U13);
    assert_eq!(lines(out), want);
}

fn assert_malformed(out: &Unwrapped, reason: &str) {
    assert_eq!(
        out.reason.as_deref(),
        Some(format!("malformed lambda response: {reason}").as_str())
    );
    assert_error(out, 502, Outcome::Malformed, &[]);
}

#[test]
fn error_body_is_35_bytes() {
    assert_eq!(ERROR_BODY.len(), 35);
}

// ---------------------------------------------------------------------------------------------- U1

#[test]
fn u1_throttle_429_becomes_500_with_reason() {
    let body = br#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#;
    let out = run(V2, 429, &[], body);
    assert_error(
        &out,
        500,
        Outcome::Throttled,
        &[
            ("x-envoy-lambda-statuscode", "429"),
            (
                "x-envoy-lambda-statusreason",
                "ReservedFunctionConcurrentInvocationLimitExceeded",
            ),
        ],
    );
    assert_eq!(
        out.reason.as_deref(),
        Some("lambda throttled the invocation (upstream status 429): ReservedFunctionConcurrentInvocationLimitExceeded")
    );
}

#[test]
fn u1_throttle_429_without_usable_reason_is_still_500() {
    // (body, why there is no statusreason header)
    let table: &[(&[u8], &str)] = &[
        (b"", "no body"),
        (b"Rate Exceeded.", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (br#"["Reason"]"#, "not an object"),
        (br#"{"Reason":42}"#, "Reason not a string"),
        (br#"{"reason":"x"}"#, "key is case-sensitive"),
        (br#"{"Reason":"a\r\nx-evil: 1"}"#, "CR/LF never reaches a header"),
        (br#"{"Reason":"caf\u00e9"}"#, "non-ASCII never reaches a header"),
    ];
    for (body, why) in table {
        let out = run(V1, 429, &[], body);
        assert_error(
            &out,
            500,
            Outcome::Throttled,
            &[("x-envoy-lambda-statuscode", "429")],
        );
        assert!(
            out.reason.as_deref().unwrap().starts_with("lambda throttled"),
            "{why}"
        );
    }
    // The log keeps an escaped copy of a reason that could not be a header value.
    let out = run(V1, 429, &[], br#"{"Reason":"a\r\nb"}"#);
    assert_eq!(
        out.reason.as_deref(),
        Some("lambda throttled the invocation (upstream status 429): a\\r\\nb")
    );
}

#[test]
fn u1_duplicate_reason_last_wins_and_429_beats_function_error() {
    let out = run(
        V1,
        429,
        &[("x-amz-function-error", "Unhandled")],
        br#"{"Reason":"A","Reason":"B"}"#,
    );
    assert_error(
        &out,
        500,
        Outcome::Throttled,
        &[
            ("x-envoy-lambda-statuscode", "429"),
            ("x-envoy-lambda-statusreason", "B"),
        ],
    );
}

#[test]
fn u1_reason_not_read_from_a_body_over_the_limit() {
    let headers = invoke_headers();
    let body = br#"{"Reason":"Big"}"#;
    let out = unwrap_response(
        V2,
        &InvokeResponse {
            status: 429,
            headers: &headers,
            body,
        },
        4,
    );
    assert_error(
        &out,
        500,
        Outcome::Throttled,
        &[("x-envoy-lambda-statuscode", "429")],
    );
}

// ---------------------------------------------------------------------------------------------- U2

#[test]
fn u2_lambda_service_errors_become_502() {
    for status in [300u16, 400, 403, 404, 413, 500, 502, 503] {
        let out = run(
            V2,
            status,
            &[],
            br#"{"message":"The security token included in the request is invalid."}"#,
        );
        let code = status.to_string();
        assert_error(
            &out,
            502,
            Outcome::LambdaError,
            &[("x-envoy-lambda-statuscode", &code)],
        );
        assert_eq!(
            out.reason,
            Some(format!("lambda invoke failed (upstream status {status})"))
        );
    }
}

#[test]
fn u2_function_error_becomes_502_with_its_value() {
    let body = br#"{"errorMessage":"boom","errorType":"Error","statusCode":200,"body":"fine"}"#;
    let out = run(V1, 200, &[("x-amz-function-error", "Unhandled")], body);
    assert_error(
        &out,
        502,
        Outcome::FunctionError,
        &[
            ("x-envoy-lambda-statuscode", "200"),
            ("x-envoy-lambda-function-error", "Unhandled"),
        ],
    );
    assert_eq!(
        out.reason.as_deref(),
        Some("function error Unhandled (upstream status 200)")
    );
    // Even an empty value is a function error; an unprintable one is not copied into a header.
    let out = run(V2, 200, &[("x-amz-function-error", "")], b"{}");
    assert_error(
        &out,
        502,
        Outcome::FunctionError,
        &[("x-envoy-lambda-statuscode", "200")],
    );
    let out = run(V2, 200, &[("X-Amz-Function-Error", "Handled\r\nx: y")], b"{}");
    assert_error(
        &out,
        502,
        Outcome::FunctionError,
        &[("x-envoy-lambda-statuscode", "200")],
    );
    assert_eq!(
        out.reason.as_deref(),
        Some("function error Handled\\r\\nx: y (upstream status 200)")
    );
}

// ---------------------------------------------------------------------------------------------- U3

#[test]
fn u3_payload_must_be_an_object_in_1_0() {
    for payload in ["[]", "[1,{}]", r#""text""#, "1", "-2.5", "true", "null"] {
        assert_malformed(&ok(V1, payload), "payload must be a JSON object");
    }
}

#[test]
fn u3_unknown_top_level_keys_are_ignored() {
    for format in [V1, V2] {
        let out = ok(
            format,
            r#"{"statusCode":200,"whatever":{"deep":[1,2,{"x":null}]},"Body":"no","body":"yes"}"#,
        );
        assert_eq!(out.outcome, Outcome::Proxied);
        assert_eq!(out.body, b"yes");
    }
}

#[test]
fn u3_duplicate_keys_last_wins() {
    // serde_json's own Map agrees (in case a later change parses into a Map).
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(r#"{"a":1,"a":2}"#).unwrap();
    assert_eq!(map["a"], 2);

    let out = ok(
        V1,
        r#"{"statusCode":500,"body":"first","headers":{"x-a":"1"},"statusCode":201,"body":"last","headers":{"x-b":"2"}}"#,
    );
    assert_eq!(out.status, 201);
    assert_eq!(out.body, b"last");
    assert_eq!(
        lines(&out),
        expect_lines(&[("x-b", "2"), ("content-type", "application/json")], "4")
    );
    // Inside headers too, and names that differ only in case are the same header.
    let out = ok(
        V2,
        r#"{"statusCode":200,"headers":{"X-A":"1","x-b":"2","x-a":"3"}}"#,
    );
    assert_eq!(
        lines(&out),
        expect_lines(
            &[("x-a", "3"), ("x-b", "2"), ("content-type", "application/json")],
            "0"
        )
    );
}

// ---------------------------------------------------------------------------------------------- U4

#[test]
fn u4_status_code_table() {
    // (statusCode member, status or None = malformed)
    let table: &[(&str, Option<u16>)] = &[
        ("", Some(200)),
        (r#","statusCode":201"#, Some(201)),
        (r#","statusCode":"201""#, Some(201)),
        (r#","statusCode":"0201""#, Some(201)),
        (r#","statusCode":"000201""#, Some(201)),
        (r#","statusCode":"0000000000000000000000201""#, Some(201)),
        (r#","statusCode":"000""#, None),
        (r#","statusCode":"0065736""#, None),
        (r#","statusCode":100"#, None), // 1xx is interim, never a final answer (issue 14)
        (r#","statusCode":199"#, None),
        (r#","statusCode":"101""#, None),
        (r#","statusCode":200"#, Some(200)),
        (r#","statusCode":599"#, Some(599)),
        (r#","statusCode":"\u0032\u0030\u0034""#, Some(204)),
        (r#","statusCode":99"#, None),
        (r#","statusCode":600"#, None),
        (r#","statusCode":0"#, None), // Go's zero value
        (r#","statusCode":-200"#, None),
        (r#","statusCode":201.0"#, None),
        (r#","statusCode":2e2"#, None),
        (r#","statusCode":65736"#, None),
        (r#","statusCode":99999999999999999999999"#, None),
        (r#","statusCode":"20a""#, None),
        (r#","statusCode":"""#, None),
        (r#","statusCode":" 201""#, None),
        (r#","statusCode":"+201""#, None),
        (r#","statusCode":null"#, None),
        (r#","statusCode":true"#, None),
        (r#","statusCode":{}"#, None),
        (r#","statusCode":[200]"#, None),
    ];
    for (member, want) in table {
        let payload = format!(r#"{{"body":"b"{member}}}"#);
        let out = ok(V1, &payload);
        match want {
            Some(status) => assert_eq!(
                (out.status, out.outcome),
                (*status, Outcome::Proxied),
                "{payload}"
            ),
            None => assert_malformed(&out, "statusCode must be an integer in 200..=599"),
        }
    }
}

// ---------------------------------------------------------------------------------------------- U5

#[test]
fn u5_header_values_table() {
    // (headers JSON value of "X-V", resulting field line value)
    let table: &[(&str, &str)] = &[
        (r#""text""#, "text"),
        (r#""a,b ; c""#, "a,b ; c"),
        (r#""caf\u00e9 \"q\"""#, "caf\u{e9} \"q\""),
        ("400", "400"),
        ("-1.50", "-1.50"),
        ("true", "true"),
        (r#"{"a":"b"}"#, r#"{"a":"b"}"#),
        (r#"{ "a" : [ 1 , "x y" ] }"#, r#"{"a":[1,"x y"]}"#),
        ("null", "null"),
    ];
    for (value, want) in table {
        let out = ok(
            V2,
            &format!(r#"{{"statusCode":200,"headers":{{"X-V":{value}}}}}"#),
        );
        assert_eq!(
            lines(&out),
            expect_lines(&[("x-v", want), ("content-type", "application/json")], "0")
        );
    }
}

#[test]
fn u5_headers_null_or_absent_is_empty_and_other_shapes_are_malformed() {
    for payload in [r#"{"statusCode":202,"headers":null}"#, r#"{"statusCode":202}"#] {
        let out = ok(V1, payload);
        assert_eq!(
            (out.status, lines(&out)),
            (202, expect_lines(&[("content-type", "application/json")], "0"))
        );
    }
    for value in [r#""x""#, "[]", "1", "true"] {
        let out = ok(V1, &format!(r#"{{"statusCode":200,"headers":{value}}}"#));
        assert_malformed(&out, "headers must be an object or null");
    }
}

// ---------------------------------------------------------------------------------------------- U6

#[test]
fn u6_multi_value_headers_table() {
    // (multiValueHeaders JSON, resulting lines before content-type) or None = malformed
    let table: &[(&str, Option<Lines>)] = &[
        (r#"{"X-A":["1","2"]}"#, Some(&[("x-a", "1"), ("x-a", "2")])),
        (r#"{"X-A":["1,2"]}"#, Some(&[("x-a", "1,2")])),
        (r#"{"X-A":[]}"#, Some(&[])),
        (r#"{"X-A":null}"#, Some(&[])),
        (r#"{"X-A":[null,"1",null]}"#, Some(&[("x-a", "1")])),
        (
            r#"{"X-A":[1,true,{"k":"v"},[2]]}"#,
            Some(&[
                ("x-a", "1"),
                ("x-a", "true"),
                ("x-a", r#"{"k":"v"}"#),
                ("x-a", "[2]"),
            ]),
        ),
        (r#"{"X-A":["1"],"x-a":["2"]}"#, Some(&[("x-a", "2")])),
        ("null", Some(&[])),
        (r#"{"X-A":"1"}"#, None),
        (r#"{"X-A":1}"#, None),
        (r#"{"X-A":{"0":"1"}}"#, None),
        (r#"{"X-A":true}"#, None),
    ];
    for (multi, want) in table {
        let out = ok(V1, &format!(r#"{{"multiValueHeaders":{multi}}}"#));
        match want {
            Some(want) => {
                let mut first = want.to_vec();
                first.push(("content-type", "application/json"));
                assert_eq!(lines(&out), expect_lines(&first, "0"), "{multi}");
            }
            None => assert_malformed(&out, "multiValueHeaders.x-a must be an array or null"),
        }
    }
    for multi in [r#""x""#, "[]", "7"] {
        let out = ok(V1, &format!(r#"{{"multiValueHeaders":{multi}}}"#));
        assert_malformed(&out, "multiValueHeaders must be an object or null");
    }
}

// ---------------------------------------------------------------------------------------------- U7

#[test]
fn u7_multi_values_first_then_single_unless_equal() {
    // (headers, multiValueHeaders, lines before content-type)
    let table: &[(&str, &str, Lines)] = &[
        (
            r#"{"x-a":"s"}"#,
            r#"{"x-a":["m1","m2"]}"#,
            &[("x-a", "m1"), ("x-a", "m2"), ("x-a", "s")],
        ),
        (
            r#"{"x-a":"m2"}"#,
            r#"{"x-a":["m1","m2"]}"#,
            &[("x-a", "m1"), ("x-a", "m2")],
        ),
        (
            r#"{"X-A":"s"}"#,
            r#"{"x-A":["m"]}"#,
            &[("x-a", "m"), ("x-a", "s")],
        ),
        (r#"{"x-a":"s"}"#, r#"{"x-a":null}"#, &[("x-a", "s")]),
        (r#"{"x-a":1}"#, r#"{"x-a":[1]}"#, &[("x-a", "1")]),
        (
            r#"{"x-s":"1","x-both":"b","x-t":"2"}"#,
            r#"{"x-m":["m"],"x-both":["a"]}"#,
            &[
                ("x-m", "m"),
                ("x-both", "a"),
                ("x-both", "b"),
                ("x-s", "1"),
                ("x-t", "2"),
            ],
        ),
    ];
    for (single, multi, want) in table {
        let out = ok(
            V1,
            &format!(r#"{{"headers":{single},"multiValueHeaders":{multi}}}"#),
        );
        let mut first = want.to_vec();
        first.push(("content-type", "application/json"));
        assert_eq!(lines(&out), expect_lines(&first, "0"), "{single} {multi}");
    }
}

// ---------------------------------------------------------------------------------------------- U8

#[test]
fn u8_cookies_become_set_cookie_lines_after_the_other_headers() {
    for format in [V2, V1] {
        let out = ok(
            format,
            r#"{"statusCode":200,"cookies":["a=1; Path=/","b=2, c=3",null,7],"headers":{"Set-Cookie":"h=0","X-A":"1"},"body":"ok"}"#,
        );
        let mut want = expect_lines(
            &[
                ("set-cookie", "h=0"),
                ("x-a", "1"),
                ("content-type", "application/json"),
            ],
            "2",
        );
        want.extend([
            ("set-cookie", "a=1; Path=/"),
            ("set-cookie", "b=2, c=3"),
            ("set-cookie", "7"),
        ]);
        assert_eq!(lines(&out), want, "{format}");
    }
    let out = ok(V2, r#"{"statusCode":200,"cookies":null}"#);
    assert_eq!(
        lines(&out),
        expect_lines(&[("content-type", "application/json")], "0")
    );
    for cookies in [r#""a=1""#, r#"{"a":"1"}"#, "1"] {
        let out = ok(V2, &format!(r#"{{"statusCode":200,"cookies":{cookies}}}"#));
        assert_malformed(&out, "cookies must be an array or null");
    }
    // U9 applies to cookies too.
    let out = ok(V2, r#"{"statusCode":200,"cookies":["a=1\r\nx-evil: 1","b=2"]}"#);
    assert_eq!(
        out.headers.last(),
        Some(&("set-cookie".to_string(), "b=2".to_string()))
    );
    assert_eq!(out.dropped_total, 1);
}

// ---------------------------------------------------------------------------------------------- U9

#[test]
fn u9_unsafe_pseudo_hop_by_hop_and_content_length_lines_are_dropped() {
    let payload = r#"{"statusCode":200,"headers":{
        "X-Ok":"1", "X-Cr":"a\rb", "X-Lf":"a\nb", "X-Nul":"a\u0000b", "X-\r\nName":"v",
        ":status":"200", "Connection":"close", "Keep-Alive":"5", "Transfer-Encoding":"chunked", "Upgrade":"h2c",
        "TE":"trailers", "Trailer":"x", "Proxy-Connection":"x", "Content-Length":"999", "Bad Name":"v", "":"v"},
        "multiValueHeaders":{"x-m":["ok","bad\r\n"]},"body":"abc"}"#;
    let out = ok(V1, payload);
    assert_eq!(
        lines(&out),
        expect_lines(
            &[("x-m", "ok"), ("x-ok", "1"), ("content-type", "application/json")],
            "3"
        )
    );
    let reasons: Vec<(&str, DropReason)> = out.dropped.iter().map(|d| (d.name.as_str(), d.reason)).collect();
    assert_eq!(
        reasons,
        [
            ("x-m", DropReason::ControlCharacter),
            ("x-cr", DropReason::ControlCharacter),
            ("x-lf", DropReason::ControlCharacter),
            ("x-nul", DropReason::ControlCharacter),
            ("x-\\r\\nname", DropReason::ControlCharacter),
            (":status", DropReason::PseudoHeader),
            ("connection", DropReason::HopByHop),
            ("keep-alive", DropReason::HopByHop),
            ("transfer-encoding", DropReason::HopByHop),
            ("upgrade", DropReason::HopByHop),
            ("te", DropReason::HopByHop),
            ("trailer", DropReason::HopByHop),
            ("proxy-connection", DropReason::HopByHop),
            ("content-length", DropReason::ContentLength),
            ("bad name", DropReason::InvalidName),
            ("", DropReason::InvalidName),
        ]
    );
    assert_eq!(out.dropped_total, 16);
    assert_eq!(out.outcome, Outcome::Proxied);
    assert_eq!(out.reason, None);
}

#[test]
fn u9_a_function_cannot_forge_the_filters_x_envoy_lambda_headers() {
    // The x-envoy-lambda-* headers say "Lambda or the function failed" (U1, U2); a 200 from the function
    // carrying them would pass for a throttle or a service error in clients and metrics.
    let payload = r#"{"statusCode":200,"headers":{"X-Envoy-Lambda-StatusCode":"429","x-ok":"1"},
        "multiValueHeaders":{"x-envoy-lambda-function-error":["Unhandled"],
                             "x-envoy-lambda-statusreason":["Forged"]},
        "cookies":["a=1"],"body":"fine"}"#;
    for format in [V1, V2] {
        let out = ok(format, payload);
        assert_eq!(out.status, 200);
        assert_eq!(out.outcome, Outcome::Proxied);
        assert!(
            out.headers.iter().all(|(n, _)| !n.starts_with("x-envoy-lambda-")),
            "{:?}",
            out.headers
        );
        let mut want = expect_lines(&[("x-ok", "1"), ("content-type", "application/json")], "4");
        want.push(("set-cookie", "a=1"));
        assert_eq!(lines(&out), want);
        let reasons: Vec<(&str, DropReason)> =
            out.dropped.iter().map(|d| (d.name.as_str(), d.reason)).collect();
        assert_eq!(
            reasons,
            [
                ("x-envoy-lambda-function-error", DropReason::Reserved),
                ("x-envoy-lambda-statusreason", DropReason::Reserved),
                ("x-envoy-lambda-statuscode", DropReason::Reserved),
            ]
        );
    }
}

#[test]
fn u9_dropped_list_is_capped_but_counted() {
    let members: Vec<String> = (0..100).map(|i| format!(r#""x-{i}":"a\nb""#)).collect();
    let out = ok(
        V2,
        &format!(r#"{{"statusCode":200,"headers":{{{}}}}}"#, members.join(",")),
    );
    assert_eq!(out.dropped.len(), MAX_DROPPED_KEPT);
    assert_eq!(out.dropped_total, 100);
}

// ---------------------------------------------------------------------------------------------- U10

#[test]
fn u10_body_table() {
    // (body member, resulting body)
    let table: &[(&str, &[u8])] = &[
        (r#","body":"hello""#, b"hello"),
        (r#","body":"""#, b""),
        (
            r#","body":"line\nbreak \"q\" caf\u00e9 \ud83d\ude00 \/""#,
            "line\nbreak \"q\" caf\u{e9} \u{1f600} /".as_bytes(),
        ),
        (r#","body":null"#, b""),
        ("", b""),
        (r#","body":42"#, b"42"),
        (r#","body":-0.5e3"#, b"-0.5e3"),
        (r#","body":true"#, b"true"),
        (r#","body":{ "b" : 1 , "a" : [ 1, 2 ] }"#, br#"{"b":1,"a":[1,2]}"#),
        (r#","body":["x", null]"#, br#"["x",null]"#),
    ];
    for (member, want) in table {
        for format in [V1, V2] {
            let out = ok(format, &format!(r#"{{"statusCode":200{member}}}"#));
            assert_eq!(out.body, *want, "{member}");
            assert_eq!(
                out.header("content-length"),
                Some(want.len().to_string().as_str())
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------- U11

#[test]
fn u11_base64_table() {
    // (body + isBase64Encoded members, Ok(body) or Err(reason detail))
    let table: &[(&str, Result<&[u8], &str>)] = &[
        (r#""body":"aGVsbG8=","isBase64Encoded":true"#, Ok(b"hello")),
        (
            r#""isBase64Encoded":true,"body":"AAEC/w==""#,
            Ok(b"\x00\x01\x02\xff"),
        ),
        (
            r#""body":"AAEC\/w==","isBase64Encoded":true"#,
            Ok(b"\x00\x01\x02\xff"),
        ), // PHP escapes '/'
        (r#""body":"","isBase64Encoded":true"#, Ok(b"")),
        (r#""body":null,"isBase64Encoded":true"#, Ok(b"")),
        (r#""isBase64Encoded":true"#, Ok(b"")),
        (r#""body":"QR==","isBase64Encoded":true"#, Ok(b"A")), // non-zero trailing bits accepted
        (r#""body":"aGVsbG8=","isBase64Encoded":"true""#, Ok(b"aGVsbG8=")),
        (r#""body":"aGVsbG8=","isBase64Encoded":1"#, Ok(b"aGVsbG8=")),
        (r#""body":"aGVsbG8=","isBase64Encoded":false"#, Ok(b"aGVsbG8=")),
        (r#""body":"aGVsbG8=","isBase64Encoded":null"#, Ok(b"aGVsbG8=")),
        (
            r#""body":"aGVsbG8=","isBase64Encoded":true,"isBase64Encoded":false"#,
            Ok(b"aGVsbG8="),
        ),
        (r#""body":1234,"isBase64Encoded":true"#, Ok(b"\xd7\x6d\xf8")),
        (
            r#""body":"aGVsbG8","isBase64Encoded":true"#,
            Err("body is not valid base64 (isBase64Encoded is true): Invalid padding"),
        ),
        (
            r#""body":"aGVs bG8=","isBase64Encoded":true"#,
            Err("body is not valid base64 (isBase64Encoded is true): Invalid symbol 32, offset 4."),
        ),
        (
            r#""body":"aGVsbG8=\n","isBase64Encoded":true"#,
            Err("body is not valid base64 (isBase64Encoded is true): Invalid symbol 10, offset 8."),
        ),
        (
            r#""body":"aGVs-G8=","isBase64Encoded":true"#,
            Err("body is not valid base64 (isBase64Encoded is true): Invalid symbol 45, offset 4."),
        ),
        (
            r#""body":"a","isBase64Encoded":true"#,
            Err("body is not valid base64 (isBase64Encoded is true): Invalid input length: 1"),
        ),
        (r#""body":true,"isBase64Encoded":true"#, Ok(b"\xb6\xbb\x9e")), // "true" is base64 too
        (
            r#""body":false,"isBase64Encoded":true"#,
            Err("body is not valid base64 (isBase64Encoded is true): Invalid input length: 5"),
        ),
    ];
    for (members, want) in table {
        let out = ok(V2, &format!(r#"{{"statusCode":200,{members}}}"#));
        match want {
            Ok(body) => assert_eq!(
                (out.outcome, out.body.as_slice()),
                (Outcome::Proxied, *body),
                "{members}"
            ),
            Err(reason) => assert_malformed(&out, reason),
        }
    }
}

// ---------------------------------------------------------------------------------------------- U12

#[test]
fn u12_content_length_is_always_the_final_length_and_content_type_defaults_to_json() {
    let out = ok(
        V1,
        r#"{"statusCode":200,"headers":{"Content-Length":"1","Content-Type":"text/plain"},"body":"aGk=","isBase64Encoded":true}"#,
    );
    assert_eq!(lines(&out), expect_lines(&[("content-type", "text/plain")], "2"));
    assert_eq!(out.body, b"hi");
    // A content-type dropped by U9 is not "set": the default applies.
    let out = ok(V1, r#"{"headers":{"Content-Type":"text/html\r\n"},"body":"x"}"#);
    assert_eq!(
        lines(&out),
        expect_lines(&[("content-type", "application/json")], "1")
    );
    // Several content-type lines from multiValueHeaders are the function's business.
    let out = ok(V1, r#"{"multiValueHeaders":{"Content-Type":["a/b","c/d"]}}"#);
    assert_eq!(
        lines(&out),
        expect_lines(&[("content-type", "a/b"), ("content-type", "c/d")], "0")
    );
}

// ---------------------------------------------------------------------------------------------- U13

#[test]
fn u13_only_request_id_and_trace_id_of_the_invoke_response_are_forwarded() {
    let cases: Vec<Unwrapped> = vec![
        ok(V2, r#"{"statusCode":200}"#), // proxied
        ok(V2, "[]"),                    // inferred
        ok(V2, "{"),                     // malformed
        run(V2, 429, &[], b""),          // throttled
        run(V2, 500, &[], b""),          // lambda error
        run(V2, 200, &[("x-amz-function-error", "Unhandled")], b""),
        response_too_large(&invoke_headers(), 10, 5),
    ];
    for out in &cases {
        let names: Vec<&str> = out.headers.iter().map(|(n, _)| n.as_str()).collect();
        for dropped in [
            "x-amz-executed-version",
            "date",
            "connection",
            "x-amz-function-error",
        ] {
            assert!(!names.contains(&dropped), "{:?}: {names:?}", out.outcome);
        }
        let forwarded: Vec<(&str, &str)> = lines(out)
            .into_iter()
            .filter(|(n, _)| n.starts_with("x-amzn-"))
            .collect();
        assert_eq!(forwarded, U13, "{:?}", out.outcome);
        assert_eq!(names.iter().filter(|n| **n == "content-type").count(), 1);
        assert_eq!(names.iter().filter(|n| **n == "content-length").count(), 1);
    }
    // Repeated lines are kept, upper-case names matched, unsafe values dropped.
    let headers: Vec<(String, String)> = [
        ("X-Amzn-RequestId", "a"),
        ("x-amzn-requestid", "b"),
        ("x-amzn-trace-id", "t\r\n"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let out = unwrap_response(
        V1,
        &InvokeResponse {
            status: 200,
            headers: &headers,
            body: b"{}",
        },
        MB6,
    );
    assert_eq!(
        lines(&out),
        [
            ("content-type", "application/json"),
            ("content-length", "0"),
            ("x-amzn-requestid", "a"),
            ("x-amzn-requestid", "b"),
        ]
    );
}

// ---------------------------------------------------------------------------------------------- U14

#[test]
fn u14_v2_json_that_is_not_an_object_with_status_code_is_the_body() {
    // (function output, V1 result: Some(body) when 1.0 unwraps it, None when malformed)
    let table: &[(&str, Option<&[u8]>)] = &[
        (r#""hello""#, None),
        ("[1, 2]", None),
        ("42", None),
        ("null", None),
        ("true", None),
        ("{}", Some(b"")),
        (r#"{"body":"x","headers":{"X-A":"1"}}"#, Some(b"x")),
        (" {\n \"message\" : \"hi\" }\n", Some(b"")),
    ];
    for (output, v1) in table {
        let out = ok(V2, output);
        assert_eq!(out.status, 200);
        assert_eq!(out.outcome, Outcome::Inferred);
        assert_eq!(out.body, output.as_bytes(), "verbatim, whitespace included");
        assert_eq!(
            lines(&out),
            expect_lines(&[("content-type", "application/json")], &output.len().to_string())
        );
        assert_eq!(out.reason, None);

        let out = ok(V1, output);
        match v1 {
            Some(body) => assert_eq!((out.outcome, out.body.as_slice()), (Outcome::Proxied, *body)),
            None => assert_malformed(&out, "payload must be a JSON object"),
        }
    }
    // An object with statusCode follows the normal rules, even a broken one.
    assert_malformed(
        &ok(V2, r#"{"statusCode":null,"body":"x"}"#),
        "statusCode must be an integer in 200..=599",
    );
}

// ---------------------------------------------------------------------------------------------- U15

#[test]
fn u15_malformed_payload_table() {
    // (payload bytes, reason detail)
    let table: &[(&[u8], &str)] = &[
        (b"", "payload is not valid JSON: EOF while parsing a value at line 1 column 0"),
        (b"not json", "payload is not valid JSON: expected ident at line 1 column 2"),
        (b"{", "payload is not valid JSON: EOF while parsing an object at line 1 column 1"),
        (br#"{"statusCode":200} x"#, "payload is not valid JSON: trailing characters at line 1 column 20"),
        (br#"{"statusCode":200,}"#, "payload is not valid JSON: trailing comma at line 1 column 19"),
        (
            b"{\"statusCode\":200,\"body\":\"a\tb\"}",
            "body is not valid JSON: control character (\\u0000-\\u001F) found while parsing a string",
        ),
        (
            b"{\"statusCode\":200,\"x\":\"a\tb\"}",
            "payload is not valid JSON: control character (\\u0000-\\u001F) found while parsing a string at line 1 column 24",
        ),
        (
            b"{\"statusCode\":200,\"body\":\"aGVs\tbG8=\",\"isBase64Encoded\":true}",
            "body is not valid base64 (isBase64Encoded is true): Invalid symbol 9, offset 4.",
        ),
        (b"{\"body\":\"\xff\"}", "payload is not valid JSON: invalid UTF-8 at byte 9"),
        (b"\xef\xbb\xbf{}", "payload is not valid JSON: expected value at line 1 column 1"),
        (br#"{"statusCode":200,"body":"\ud800"}"#, "body is not valid JSON: unexpected end of hex escape at line 1 column 8"),
        (br#"{"statusCode":200,"headers":{"x":"\udc00"}}"#, "headers.x is not valid JSON: lone leading surrogate in hex escape at line 1 column 7"),
        (br#"{"statusCode":200,"multiValueHeaders":{"x":["\ud800"]}}"#, "multiValueHeaders.x is not valid JSON: unexpected end of hex escape at line 1 column 8"),
        (br#"{"statusCode":200,"cookies":["\ud800"]}"#, "cookies is not valid JSON: unexpected end of hex escape at line 1 column 8"),
        (br#"{"\ud800":1}"#, "payload is not valid JSON: unexpected end of hex escape at line 1 column 9"),
    ];
    for (payload, detail) in table {
        for format in [V1, V2] {
            let out = run(format, 200, &[], payload);
            assert_malformed(&out, detail);
        }
    }
}

#[test]
fn deep_nesting_is_valid_json_not_a_stack_overflow() {
    // Members are skipped and captured without recursion (serde_json's ignore_value is iterative), so
    // depth is no risk and no limit: 10,000 levels are valid JSON like any other.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let out = ok(V2, &deep);
    assert_eq!((out.outcome, out.body.len()), (Outcome::Inferred, 20_000)); // U14
    assert_malformed(&ok(V1, &deep), "payload must be a JSON object"); // U3
    let payload = format!(r#"{{"statusCode":200,"headers":{{"x":{deep}}},"body":{deep}}}"#);
    let out = ok(V1, &payload);
    assert_eq!(
        (out.outcome, out.body.len(), out.header("x").map(str::len)),
        (Outcome::Proxied, 20_000, Some(20_000))
    );
}

#[test]
fn u14_u15_raw_control_character_in_an_inferred_body_is_malformed() {
    // The body member is checked lazily (while copied); U14 must still refuse invalid JSON.
    let out = ok(V2, "{\"body\":\"a\tb\"}");
    assert_malformed(
        &out,
        "payload is not valid JSON: control character (\\u0000-\\u001F) found while parsing a string",
    );
    let out = ok(V2, "{\"other\":\"a\tb\"}");
    assert_malformed(
        &out,
        "payload is not valid JSON: control character (\\u0000-\\u001F) found while parsing a string at line 1 column 11",
    );
}

#[test]
fn u15_reason_never_reaches_the_client() {
    let out = ok(V1, r#"{"statusCode":"secret-700"}"#);
    assert_malformed(&out, "statusCode must be an integer in 200..=599");
    let all = format!("{:?}{}", out.headers, String::from_utf8_lossy(&out.body));
    assert!(!all.contains("statusCode") && !all.contains("secret"), "{all}");
}

#[test]
fn u15_huge_headers_are_malformed() {
    let big = "v".repeat(MAX_RESPONSE_HEADER_BYTES);
    let out = ok(
        V2,
        &format!(r#"{{"statusCode":200,"headers":{{"x-big":"{big}"}}}}"#),
    );
    assert_malformed(
        &out,
        "response headers total 61445 bytes, over the 61440-byte limit",
    );
    // Many small set-cookie lines count too.
    let cookies: Vec<String> = (0..6000).map(|i| format!(r#""c{i}=1""#)).collect();
    let out = ok(
        V2,
        &format!(r#"{{"statusCode":200,"cookies":[{}]}}"#, cookies.join(",")),
    );
    assert_eq!(out.outcome, Outcome::Malformed);
    // Just under the limit is fine.
    let fits = "v".repeat(MAX_RESPONSE_HEADER_BYTES - 200);
    let out = ok(
        V2,
        &format!(r#"{{"statusCode":200,"headers":{{"x-big":"{fits}"}}}}"#),
    );
    assert_eq!(out.outcome, Outcome::Proxied);
}

// ---------------------------------------------------------------------------------------------- U16

#[test]
fn u16_over_the_limit_is_502_never_truncated() {
    let headers = invoke_headers();
    let body = br#"{"statusCode":200,"body":"0123456789"}"#;
    let at = |limit: u64| {
        unwrap_response(
            V1,
            &InvokeResponse {
                status: 200,
                headers: &headers,
                body,
            },
            limit,
        )
    };
    let len = body.len() as u64;
    assert_eq!(at(len).outcome, Outcome::Proxied);
    let out = at(len - 1);
    assert_error(&out, 502, Outcome::TooLarge, &[]);
    assert_eq!(
        out.reason,
        Some(format!(
            "lambda response body of {len} bytes exceeds max_response_body_bytes ({})",
            len - 1
        ))
    );

    let out = response_too_large(&headers, 7_000_000, 6_291_456);
    assert_error(&out, 502, Outcome::TooLarge, &[]);
    assert_eq!(
        out.reason.as_deref(),
        Some("lambda response body of 7000000 bytes exceeds max_response_body_bytes (6291456)")
    );
}

#[test]
fn u16_a_six_mb_body_is_unwrapped_whole() {
    let text = "x".repeat(6 * 1024 * 1024 - 100);
    let payload = format!(r#"{{"statusCode":200,"body":"{text}"}}"#);
    let out = ok(V2, &payload);
    assert_eq!(out.outcome, Outcome::Proxied);
    assert_eq!(out.body.len(), text.len());
}

// ---------------------------------------------------------------------------------------------- misc

#[test]
fn unwrap_into_reuses_buffers_without_leaking_state() {
    let headers = invoke_headers();
    let mut out = Unwrapped::default();
    let first = br#"{"statusCode":201,"headers":{"x-a":"1","bad":"a\nb"},"body":"first"}"#;
    unwrap_response_into(
        V1,
        &InvokeResponse {
            status: 200,
            headers: &headers,
            body: first,
        },
        MB6,
        &mut out,
    );
    assert_eq!((out.status, out.dropped_total), (201, 1));
    for body in [&br#"{"statusCode":202,"body":"2"}"#[..], b"{", b"[1]"] {
        let resp = InvokeResponse {
            status: 200,
            headers: &headers,
            body,
        };
        unwrap_response_into(V2, &resp, MB6, &mut out);
        assert_eq!(out, unwrap_response(V2, &resp, MB6));
    }
}

#[test]
fn outcome_names() {
    let all = [
        Outcome::Proxied,
        Outcome::Inferred,
        Outcome::Throttled,
        Outcome::LambdaError,
        Outcome::FunctionError,
        Outcome::Malformed,
        Outcome::TooLarge,
    ];
    let names: Vec<&str> = all.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        names,
        [
            "proxied",
            "inferred",
            "throttled",
            "lambda_error",
            "function_error",
            "malformed",
            "too_large"
        ]
    );
}

// ---------------------------------------------------------------------------------------------- proptest

/// Invariants every answer keeps, whatever the function sent.
fn check_invariants(out: &Unwrapped) {
    assert!((100..=599).contains(&out.status));
    let mut content_lengths = out.headers.iter().filter(|(n, _)| n == "content-length");
    if matches!(out.status, 204 | 304) {
        // U12: a 204 or 304 carries no body, so neither a content-length nor a default content-type.
        assert!(out.body.is_empty());
        assert!(content_lengths.next().is_none());
    } else {
        assert_eq!(
            content_lengths.next().map(|(_, v)| v.as_str()),
            Some(out.body.len().to_string().as_str())
        );
        assert!(content_lengths.next().is_none());
        assert!(out.headers.iter().any(|(n, _)| n == "content-type"));
    }
    let own_answer = !matches!(out.outcome, Outcome::Proxied | Outcome::Inferred);
    for (name, value) in out.headers.iter().filter(|(n, _)| n != "content-length") {
        match drop_reason(name, value) {
            // The x-envoy-lambda-* lines: only on the filter's own answers (U1, U2), never from a function.
            Some(DropReason::Reserved) => assert!(own_answer, "{name:?}: {value:?}"),
            reason => assert_eq!(reason, None, "{name:?}: {value:?}"),
        }
        assert_eq!(name.to_ascii_lowercase(), *name);
    }
    match out.outcome {
        Outcome::Proxied | Outcome::Inferred => assert!(out.reason.is_none()),
        _ => {
            assert!(out.reason.is_some());
            assert!(out.status == 500 || out.status == 502);
            assert_eq!(out.body, ERROR_BODY.as_bytes());
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1000i64..1000).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        "[A-Za-z0-9+/]{0,12}={0,2}".prop_map(Value::String),
        Just(json!("200")),
        Just(json!(true)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("statusCode".to_string()),
                        Just("headers".to_string()),
                        Just("multiValueHeaders".to_string()),
                        Just("cookies".to_string()),
                        Just("body".to_string()),
                        Just("isBase64Encoded".to_string()),
                        Just("Reason".to_string()),
                        "[A-Za-z:\r\n -]{0,8}",
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kvs| serde_json::Value::Object(kvs.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2048,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn unwrap_never_panics_on_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..256),
        status in prop_oneof![Just(200u16), Just(429u16), Just(500u16), any::<u16>()],
        v1 in any::<bool>(),
        limit in prop_oneof![Just(MB6), 0u64..300],
    ) {
        let format = if v1 { V1 } else { V2 };
        let headers = invoke_headers();
        let out = unwrap_response(format, &InvokeResponse { status, headers: &headers, body: &body }, limit);
        check_invariants(&out);
    }

    #[test]
    fn unwrap_never_panics_on_arbitrary_json(value in json_value(), v1 in any::<bool>(), pretty in any::<bool>()) {
        let format = if v1 { V1 } else { V2 };
        let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
        let out = ok(format, &text);
        check_invariants(&out);
        // A response object of the expected shape never becomes malformed because of whitespace.
        let compact = ok(format, &serde_json::to_string(&value).unwrap());
        prop_assert_eq!(out.status, compact.status);
        prop_assert_eq!(out.outcome, compact.outcome);
    }

    #[test]
    fn unwrap_round_trips_any_body_through_base64(body in prop::collection::vec(any::<u8>(), 0..512)) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
        let out = ok(V2, &format!(r#"{{"statusCode":200,"body":"{b64}","isBase64Encoded":true}}"#));
        prop_assert_eq!(out.body, body);
    }

    /// U11: the SIMD decoder (fast path) never accepts what the reference engine refuses, and agrees
    /// on the bytes; so the rule is the reference engine's, whichever decodes.
    #[test]
    fn u11_simd_base64_accepts_a_subset_of_the_reference(
        text in prop_oneof![
            "[A-Za-z0-9+/]{0,40}={0,3}",
            "[A-Za-z0-9+/= \n\r\t_-]{0,40}",
            prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(b)
            }),
        ],
    ) {
        if let Ok(fast) = base64_simd::STANDARD.decode_to_vec(text.as_bytes()) {
            prop_assert_eq!(Ok(fast), BASE64.decode(text.as_bytes()));
        }
    }

    #[test]
    fn unwrap_round_trips_any_string_body(text in ".{0,64}") {
        let payload = serde_json::json!({"statusCode": 200, "body": text}).to_string();
        let out = ok(V1, &payload);
        prop_assert_eq!(out.body, text.as_bytes());
    }
}

// ------------------------------------------------------------------------------- framing (issue 14)

/// 204 and 304 never carry a body: a function's body is dropped, and no content-length or default
/// content-type announces one (a body after them would desync a keep-alive connection).
#[test]
fn u12_a_204_or_304_answer_has_no_body_and_no_framing_headers() {
    for (status, format) in [(204, V1), (304, V1), (204, V2), (304, V2)] {
        let payload = format!(
            r#"{{"statusCode":{status},"headers":{{"etag":"x"}},"body":"HTTP/1.1 200 OK\r\n\r\nforged"}}"#
        );
        let out = ok(format, &payload);
        assert_eq!(out.status, status);
        assert!(
            out.body.is_empty(),
            "{status}: {:?}",
            String::from_utf8_lossy(&out.body)
        );
        assert_eq!(out.header("content-length"), None, "{status}");
        assert_eq!(out.header("content-type"), None, "{status}");
        assert_eq!(out.header("etag"), Some("x"));
    }
}

/// An answer whose header lines Envoy could not deliver whole is malformed (502), not sent without them.
#[test]
fn u15_more_header_lines_than_a_local_reply_carries_is_malformed() {
    let values: Vec<String> = (0..MAX_RESPONSE_HEADER_LINES)
        .map(|i| format!("\"v{i}\""))
        .collect();
    let payload = format!(
        r#"{{"statusCode":200,"multiValueHeaders":{{"x-many":[{}]}}}}"#,
        values.join(",")
    );
    let out = unwrap_response(
        V2,
        &InvokeResponse {
            status: 200,
            headers: &[],
            body: payload.as_bytes(),
        },
        6 << 20,
    );
    assert_eq!(out.status, 502);
    assert_eq!(out.outcome, Outcome::Malformed);
    assert!(
        out.reason.as_deref().is_some_and(|r| r.contains("header lines")),
        "{:?}",
        out.reason
    );
    let fewer: Vec<String> = (0..900).map(|i| format!("\"v{i}\"")).collect();
    let payload = format!(
        r#"{{"statusCode":200,"multiValueHeaders":{{"x-many":[{}]}}}}"#,
        fewer.join(",")
    );
    let out = unwrap_response(
        V2,
        &InvokeResponse {
            status: 200,
            headers: &[],
            body: payload.as_bytes(),
        },
        6 << 20,
    );
    assert_eq!(out.status, 200, "{:?}", out.reason);
}
