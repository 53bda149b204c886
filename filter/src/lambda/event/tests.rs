//! L1-L4, named after the rule. Full events are compared byte for byte.

use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};

const MB6: u64 = 6 * 1024 * 1024;

/// Owns what an [`EventRequest`] borrows.
struct Fixture {
    method: String,
    raw_path: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    user_agent: Option<String>,
    body: Vec<u8>,
    content_type: Option<String>,
    path_parameters: Vec<(String, String)>,
    stage_variables: BTreeMap<String, String>,
    caller: Option<OwnedCaller>,
}

/// Owns what a [`Caller`] borrows.
struct OwnedCaller {
    consumer: Option<String>,
    api_key_id: Option<String>,
    context: Vec<(String, String)>,
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// A POST to `/shop/pets/7?...` routed as `POST /pets/{id}` after stripping `/shop`.
fn fixture() -> Fixture {
    Fixture {
        method: "POST".into(),
        raw_path: "/shop/pets/7".into(),
        path: "/pets/7".into(),
        query: "tag=a+b&tag=c%2Fd&limit=10".into(),
        headers: pairs(&[
            (":authority", "api.example.com"),
            (":path", "/shop/pets/7?tag=a+b&tag=c%2Fd&limit=10"),
            (":method", "POST"),
            ("content-type", "application/json"),
            ("accept", "text/html"),
            ("cookie", "s=1; t=2"),
            ("accept", "application/json"),
            ("cookie", "u=3"),
            ("user-agent", "curl/8.0"),
        ]),
        user_agent: Some("curl/8.0".into()),
        body: br#"{"name":"rex"}"#.to_vec(),
        content_type: Some("application/json".into()),
        path_parameters: pairs(&[("id", "7")]),
        stage_variables: [("env".to_string(), "prod".to_string())].into_iter().collect(),
        caller: None,
    }
}

impl Fixture {
    fn with_caller<'a>(&'a self, caller: &'a Option<Caller<'a>>) -> EventRequest<'a> {
        EventRequest {
            method: &self.method,
            raw_path: &self.raw_path,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            source_ip: "203.0.113.9",
            user_agent: self.user_agent.as_deref(),
            protocol: "HTTP/1.1",
            body: &self.body,
            content_type: self.content_type.as_deref(),
            route_key: "POST /pets/{id}",
            resource_path: "/pets/{id}",
            path_parameters: &self.path_parameters,
            stage: "prod",
            stage_variables: &self.stage_variables,
            request_id: "req-1",
            domain_name: "api.example.com",
            api_id: "shop",
            request_time_epoch_ms: 1_583_348_638_390,
            caller: *caller,
        }
    }

    fn event(&self, format: PayloadFormat) -> String {
        let caller = self.caller.as_ref().map(|c| Caller {
            consumer: c.consumer.as_deref(),
            api_key_id: c.api_key_id.as_deref(),
            context: &c.context,
            jwt: None,
        });
        let out = build_event(format, &self.with_caller(&caller), MB6).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn json(&self, format: PayloadFormat) -> Value {
        serde_json::from_str(&self.event(format)).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------- L1

#[test]
fn l1_event_byte_for_byte() {
    let want = concat!(
        r#"{"resource":"/pets/{id}","path":"/pets/7","httpMethod":"POST","#,
        r#""headers":{"accept":"application/json","content-type":"application/json","cookie":"u=3","host":"api.example.com","user-agent":"curl/8.0"},"#,
        r#""multiValueHeaders":{"accept":["text/html","application/json"],"content-type":["application/json"],"cookie":["s=1; t=2","u=3"],"host":["api.example.com"],"user-agent":["curl/8.0"]},"#,
        r#""queryStringParameters":{"limit":"10","tag":"c/d"},"#,
        r#""multiValueQueryStringParameters":{"limit":["10"],"tag":["a b","c/d"]},"#,
        r#""pathParameters":{"id":"7"},"stageVariables":{"env":"prod"},"#,
        // L1 (issue 15): accountId, extendedRequestId, resourceId and every identity key, as API Gateway
        // sends them (`l1_l2_keys_and_types_match_aws_example_events`; values: module docs).
        r#""requestContext":{"accountId":null,"apiId":"shop","domainName":"api.example.com","domainPrefix":"api","#,
        r#""extendedRequestId":"req-1","httpMethod":"POST","#,
        r#""identity":{"accessKey":null,"accountId":null,"apiKey":null,"caller":null,"cognitoAuthenticationProvider":null,"#,
        r#""cognitoAuthenticationType":null,"cognitoIdentityId":null,"cognitoIdentityPoolId":null,"principalOrgId":null,"#,
        r#""user":null,"userArn":null,"apiKeyId":null,"sourceIp":"203.0.113.9","userAgent":"curl/8.0"},"#,
        r#""path":"/shop/pets/7","protocol":"HTTP/1.1","requestId":"req-1","requestTime":"04/Mar/2020:19:03:58 +0000","#,
        r#""requestTimeEpoch":1583348638390,"resourceId":"ql1zsc","resourcePath":"/pets/{id}","stage":"prod"},"#,
        r#""body":"{\"name\":\"rex\"}","isBase64Encoded":false}"#,
    );
    assert_eq!(fixture().event(PayloadFormat::V1), want);
}

#[test]
fn l1_empty_maps_and_body_are_null() {
    let mut f = fixture();
    f.query.clear();
    f.path_parameters.clear();
    f.stage_variables.clear();
    f.body.clear();
    f.headers.clear();
    f.user_agent = None;
    let v = f.json(PayloadFormat::V1);
    for key in [
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ] {
        assert_eq!(v[key], Value::Null, "{key}");
        assert!(v.as_object().unwrap().contains_key(key), "{key} present as null");
    }
    assert_eq!(v["headers"], json!({}));
    assert_eq!(v["multiValueHeaders"], json!({}));
    assert_eq!(v["isBase64Encoded"], json!(false));
    assert_eq!(v["requestContext"]["identity"]["userAgent"], Value::Null);
    // A query of only separators has no parameters either.
    f.query = "&&".into();
    assert_eq!(f.json(PayloadFormat::V1)["queryStringParameters"], Value::Null);
}

#[test]
fn l1_headers_last_value_multi_value_headers_all_in_order() {
    let v = fixture().json(PayloadFormat::V1);
    assert_eq!(v["headers"]["accept"], "application/json");
    assert_eq!(
        v["multiValueHeaders"]["accept"],
        json!(["text/html", "application/json"])
    );
    // Pseudo-headers never appear; :authority is the Host.
    assert!(v["headers"]
        .as_object()
        .unwrap()
        .keys()
        .all(|k| !k.starts_with(':')));
    assert_eq!(v["headers"]["host"], "api.example.com");
}

#[test]
fn l1_authority_does_not_override_a_host_line() {
    let mut f = fixture();
    f.headers.push(("host".into(), "h.example".into()));
    let v = f.json(PayloadFormat::V1);
    assert_eq!(v["multiValueHeaders"]["host"], json!(["h.example"]));
}

#[test]
fn l1_query_parameters_decoded_last_and_multi() {
    // (raw query, queryStringParameters, multiValueQueryStringParameters)
    let table: &[(&str, Value, Value)] = &[
        ("a=1&a=2", json!({"a":"2"}), json!({"a":["1","2"]})),
        (
            "sort=-+createdAt",
            json!({"sort":"- createdAt"}),
            json!({"sort":["- createdAt"]}),
        ),
        (
            "q=%22x%22&e=%E2%82%AC",
            json!({"e":"\u{20ac}","q":"\"x\""}),
            json!({"e":["\u{20ac}"],"q":["\"x\""]}),
        ),
        (
            "flag&x=",
            json!({"flag":"","x":""}),
            json!({"flag":[""],"x":[""]}),
        ),
        ("k%3D=v%26w", json!({"k=":"v&w"}), json!({"k=":["v&w"]})),
        ("bad=%zz%", json!({"bad":"%zz%"}), json!({"bad":["%zz%"]})),
    ];
    for (query, single, multi) in table {
        let mut f = fixture();
        f.query = query.to_string();
        let v = f.json(PayloadFormat::V1);
        assert_eq!(v["queryStringParameters"], *single, "{query}");
        assert_eq!(v["multiValueQueryStringParameters"], *multi, "{query}");
    }
}

#[test]
fn l1_repeated_path_parameter_keeps_the_last_value() {
    let mut f = fixture();
    f.path_parameters = pairs(&[("id", "1"), ("proxy", "a/b"), ("id", "2")]);
    assert_eq!(
        f.json(PayloadFormat::V1)["pathParameters"],
        json!({"id":"2","proxy":"a/b"})
    );
}

#[test]
fn l1_caller_identity_and_authorizer() {
    let mut f = fixture();
    f.caller = Some(OwnedCaller {
        consumer: Some("alice".into()),
        api_key_id: Some("kid-9".into()),
        context: pairs(&[("tier", "gold")]),
    });
    let v = f.json(PayloadFormat::V1);
    // The key is a credential: never in the event, whatever identified the caller.
    assert_eq!(v["requestContext"]["identity"]["apiKey"], Value::Null);
    assert_eq!(v["requestContext"]["identity"]["apiKeyId"], "kid-9");
    assert_eq!(
        v["requestContext"]["authorizer"],
        json!({"principalId":"alice","tier":"gold"})
    );
    // Nothing to authorize with: no authorizer member at all.
    f.caller = Some(OwnedCaller {
        consumer: None,
        api_key_id: None,
        context: Vec::new(),
    });
    let v = f.json(PayloadFormat::V1);
    assert!(v["requestContext"].get("authorizer").is_none());
    assert_eq!(v["requestContext"]["identity"]["apiKeyId"], Value::Null);
}

// ---------------------------------------------------------------------------------------------- L2

#[test]
fn l2_event_byte_for_byte() {
    let want = concat!(
        r#"{"version":"2.0","routeKey":"POST /pets/{id}","rawPath":"/pets/7","rawQueryString":"tag=a+b&tag=c%2Fd&limit=10","#,
        r#""cookies":["s=1","t=2","u=3"],"#,
        r#""headers":{"accept":"text/html,application/json","content-type":"application/json","host":"api.example.com","user-agent":"curl/8.0"},"#,
        r#""queryStringParameters":{"limit":"10","tag":"a b,c/d"},"#,
        // L2 (issue 15): accountId, as API Gateway sends it (null: module docs).
        r#""requestContext":{"accountId":null,"apiId":"shop","domainName":"api.example.com","domainPrefix":"api","#,
        r#""http":{"method":"POST","path":"/pets/7","protocol":"HTTP/1.1","sourceIp":"203.0.113.9","userAgent":"curl/8.0"},"#,
        r#""requestId":"req-1","routeKey":"POST /pets/{id}","stage":"prod","time":"04/Mar/2020:19:03:58 +0000","timeEpoch":1583348638390},"#,
        r#""body":"{\"name\":\"rex\"}","pathParameters":{"id":"7"},"isBase64Encoded":false,"stageVariables":{"env":"prod"}}"#,
    );
    assert_eq!(fixture().event(PayloadFormat::V2), want);
}

#[test]
fn l2_empty_fields_are_omitted() {
    let mut f = fixture();
    f.query.clear();
    f.path_parameters.clear();
    f.stage_variables.clear();
    f.body.clear();
    f.headers.retain(|(n, _)| n != "cookie");
    let v = f.json(PayloadFormat::V2);
    let obj = v.as_object().unwrap();
    for key in [
        "cookies",
        "queryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ] {
        assert!(!obj.contains_key(key), "{key}");
    }
    assert_eq!(v["rawQueryString"], "");
    assert_eq!(v["isBase64Encoded"], json!(false));
}

#[test]
fn l2_cookies_split_on_semicolon_space_and_cookie_header_excluded() {
    // (cookie lines, cookies)
    let table: &[(&[&str], Value)] = &[
        (&["a=1"], json!(["a=1"])),
        (&["a=1; b=2; c=3"], json!(["a=1", "b=2", "c=3"])),
        (&["a=1", "b=2; c=3"], json!(["a=1", "b=2", "c=3"])),
        (&["a=1;b=2"], json!(["a=1;b=2"])), // only "; " separates
        (&["a=1; ; b=2; "], json!(["a=1", "b=2"])),
    ];
    for (lines, want) in table {
        let mut f = fixture();
        f.headers.retain(|(n, _)| n != "cookie");
        f.headers
            .extend(lines.iter().map(|l| ("cookie".to_string(), l.to_string())));
        let v = f.json(PayloadFormat::V2);
        assert_eq!(v["cookies"], *want, "{lines:?}");
        assert!(v["headers"].get("cookie").is_none());
    }
}

#[test]
fn l2_headers_and_query_parameters_comma_joined() {
    let mut f = fixture();
    f.headers.push(("x-multi".into(), "a, b".into()));
    f.headers.push(("x-multi".into(), "c".into()));
    f.query = "a=1&b=2&a=3".into();
    let v = f.json(PayloadFormat::V2);
    assert_eq!(v["headers"]["x-multi"], "a, b,c");
    assert_eq!(v["queryStringParameters"], json!({"a":"1,3","b":"2"}));
    assert_eq!(v["rawQueryString"], "a=1&b=2&a=3");
}

#[test]
fn l2_caller_goes_to_authorizer_lambda() {
    let mut f = fixture();
    f.caller = Some(OwnedCaller {
        consumer: Some("alice".into()),
        api_key_id: Some("kid-9".into()),
        context: Vec::new(),
    });
    let v = f.json(PayloadFormat::V2);
    assert_eq!(
        v["requestContext"]["authorizer"],
        json!({"lambda":{"principalId":"alice"}})
    );
    // 2.0 has no `identity` (HTTP APIs have no API keys): the key id goes nowhere.
    assert!(v["requestContext"].get("identity").is_none());
    assert!(!f.event(PayloadFormat::V2).contains("kid-9"));
    f.caller = None;
    assert!(f.json(PayloadFormat::V2)["requestContext"]
        .get("authorizer")
        .is_none());
}

#[test]
fn l1_l2_request_time_formats() {
    // (epoch ms, API Gateway time text)
    let table: &[(u64, &str)] = &[
        (0, "01/Jan/1970:00:00:00 +0000"),
        (951_782_400_000, "29/Feb/2000:00:00:00 +0000"),
        (1_583_348_638_390, "04/Mar/2020:19:03:58 +0000"),
        (1_709_251_199_000, "29/Feb/2024:23:59:59 +0000"),
    ];
    for (ms, want) in table {
        let mut out = Vec::new();
        write_clf_time(&mut out, *ms);
        assert_eq!(String::from_utf8(out).unwrap(), format!("\"{want}\""));
    }
    // Any epoch, however far out, formats without overflow.
    let mut out = Vec::new();
    write_clf_time(&mut out, u64::MAX);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\"03/Apr/584556019:14:25:51 +0000\""
    );
}

// ---------------------------------------------------------------------------------------------- L3

#[test]
fn l3_textual_content_types_table() {
    let table: &[(&str, bool)] = &[
        ("text/plain", true),
        ("text/html; charset=utf-8", true),
        ("TEXT/CSV", true),
        ("application/json", true),
        ("Application/JSON ; charset=UTF-8", true),
        ("application/xml", true),
        ("application/vnd.api+json", true),
        ("application/problem+json; charset=utf-8", true),
        ("image/svg+xml", true),
        ("application/atom+XML", true),
        ("application/x-www-form-urlencoded", true),
        ("application/octet-stream", false),
        ("multipart/form-data; boundary=x", false),
        ("image/png", false),
        ("application/jsonx", false),
        ("application/json-seq", false),
        ("application/javascript", false),
        ("json", false),
        ("", false),
        ("+json", false),
    ];
    for (ct, want) in table {
        assert_eq!(is_textual_content_type(ct), *want, "{ct:?}");
    }
}

#[test]
fn l3_body_text_or_base64() {
    // (content type, body, expected body member, isBase64Encoded)
    let table: &[(Option<&str>, &[u8], &str, bool)] = &[
        (
            Some("text/plain"),
            b"hi \"there\"\n\x01",
            "hi \"there\"\n\u{1}",
            false,
        ),
        (
            Some("application/json"),
            "caf\u{e9}".as_bytes(),
            "caf\u{e9}",
            false,
        ),
        (Some("text/plain"), b"\xff\xfe", "//4=", true), // not UTF-8
        (Some("application/octet-stream"), b"hello", "aGVsbG8=", true),
        (None, b"hello", "aGVsbG8=", true),
        (Some("image/png"), b"\x89PNG", "iVBORw==", true),
    ];
    for (ct, body, want, b64) in table {
        for format in [PayloadFormat::V1, PayloadFormat::V2] {
            let mut f = fixture();
            f.content_type = ct.map(str::to_string);
            f.body = body.to_vec();
            let v = f.json(format);
            assert_eq!(v["body"], *want, "{ct:?} {format}");
            assert_eq!(v["isBase64Encoded"], json!(b64), "{ct:?} {format}");
        }
    }
    // The escaping, byte for byte.
    let mut f = fixture();
    f.content_type = Some("text/plain".into());
    f.body = b"a\"b\\c\nd\x00".to_vec();
    assert!(f
        .event(PayloadFormat::V2)
        .contains(r#","body":"a\"b\\c\nd\u0000","#));
}

// ---------------------------------------------------------------------------------------------- L4

#[test]
fn l4_body_over_the_limit_is_413_before_anything_is_built() {
    let f = fixture();
    let req = f.with_caller(&None);
    let len = f.body.len() as u64;
    let mut out = b"stale".to_vec();
    assert_eq!(build_event_into(PayloadFormat::V2, &req, len, &mut out), Ok(()));
    assert!(!out.is_empty());
    let err = build_event_into(PayloadFormat::V1, &req, len - 1, &mut out).unwrap_err();
    assert!(out.is_empty(), "nothing to send");
    assert_eq!(
        err,
        RequestTooLarge {
            body_len: len,
            limit: len - 1
        }
    );
    assert_eq!(
        err.reason(),
        format!(
            "request body of {len} bytes exceeds max_request_body_bytes ({})",
            len - 1
        )
    );
    assert_eq!(RequestTooLarge::STATUS, 413);
    assert_eq!(RequestTooLarge::BODY, r#"{"message":"Request Entity Too Large"}"#);
    assert_eq!(check_request_body_len(MB6, MB6), Ok(()));
    assert_eq!(
        check_request_body_len(MB6 + 1, MB6),
        Err(RequestTooLarge {
            body_len: MB6 + 1,
            limit: MB6
        })
    );
    assert_eq!(check_request_body_len(0, 0), Ok(()));
}

#[test]
fn build_event_into_reuses_and_clears_the_buffer() {
    let f = fixture();
    let mut out = b"garbage".to_vec();
    build_event_into(PayloadFormat::V1, &f.with_caller(&None), MB6, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), f.event(PayloadFormat::V1));
}

// ---------------------------------------------------------------------------------------------- proptest

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Whatever the request holds, the event is valid JSON and carries the body losslessly.
    #[test]
    fn event_is_always_valid_json_and_body_round_trips(
        path in ".{0,24}",
        query in "[a-z=&+%0-9A-F\u{e9}\"\\\\]{0,24}",
        headers in prop::collection::vec(("[a-z:-]{0,8}", ".{0,16}"), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..64),
        content_type in prop_oneof![Just(None), Just(Some("text/plain".to_string())), ".{0,12}".prop_map(Some)],
        v1 in any::<bool>(),
    ) {
        let mut f = fixture();
        f.path = path.clone();
        f.raw_path = path;
        f.query = query;
        f.headers = headers;
        f.body = body.clone();
        f.content_type = content_type;
        let format = if v1 { PayloadFormat::V1 } else { PayloadFormat::V2 };
        let v = f.json(format);
        let sent = match (&v["body"], &v["isBase64Encoded"]) {
            (Value::Null, Value::Bool(false)) => Vec::new(),
            (Value::String(s), Value::Bool(false)) => s.as_bytes().to_vec(),
            (Value::String(s), Value::Bool(true)) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(s).unwrap()
            }
            _ if !v1 && body.is_empty() => Vec::new(),
            other => panic!("unexpected body members {other:?}"),
        };
        prop_assert_eq!(sent, body);
        prop_assert_eq!(&v["rawPath"].as_str().or(v["path"].as_str()), &Some(f.path.as_str()));
    }
}

// ------------------------------------------------------------------- L1, L2 against AWS's example events

/// An object's members with the JSON types allowed for each.
type Members<'a> = &'a [(&'a str, &'a [&'a str])];
/// Object paths (JSON pointers) with their members.
type Shape<'a> = &'a [(&'a str, Members<'a>)];

/// A JSON value's type, as the comparison sees it.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `event` against `want`: each object path with its exact set of keys, and each key with the
/// types allowed for it (AWS's type first; a second one only where the module docs say why routewise
/// differs). `optional` keys may be absent (API Gateway too leaves them out: an authorizer only with one).
#[track_caller]
fn assert_keys_and_types(what: &str, event: &Value, want: Shape<'_>, optional: &[&str]) {
    for (pointer, members) in want {
        let Some(obj) = event.pointer(pointer).and_then(Value::as_object) else {
            panic!("{what}: no object at {pointer:?}: {event}")
        };
        let mut have: Vec<&str> = obj.keys().map(String::as_str).collect();
        have.retain(|k| !optional.contains(&format!("{pointer}/{k}").as_str()));
        have.sort_unstable();
        let mut expected: Vec<&str> = members
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !optional.contains(&format!("{pointer}/{k}").as_str()))
            .collect();
        expected.sort_unstable();
        assert_eq!(have, expected, "{what}: the keys of {pointer:?}");
        for (k, types) in *members {
            if let Some(v) = obj.get(*k) {
                assert!(
                    types.contains(&kind(v)),
                    "{what}: {pointer}/{k} is {} ({v}), AWS's example has {types:?}",
                    kind(v)
                );
            }
        }
    }
}

/// L1 (issue 15): the 1.0 event has every key of API Gateway's REST API example events, with their types.
///
/// Sources (keys and types read from them, not copied):
/// - AWS's Go runtime fixture `aws/aws-lambda-go` `events/testdata/apigw-request.json` (a REST API proxy
///   event: top level, `requestContext` with `accountId`, `resourceId`, `identity` with 13 keys,
///   `authorizer`);
/// - AWS's Rust runtime fixture `awslabs/aws-lambda-rust-runtime`
///   `lambda-events/src/fixtures/example-apigw-request.json` (the same plus `requestContext.path` and
///   `protocol`);
/// - AWS's Powertools `APIGatewayProxyEvent` type
///   (https://docs.aws.amazon.com/powertools/typescript/2.13.0/api/types/_aws-lambda-powertools_parser.types.APIGatewayProxyEvent.html):
///   `extendedRequestId`, `isBase64Encoded`, nullable identity keys;
/// - the developer guide's 1.0 example (http-api-develop-integrations-lambda.html), read here as reproduced
///   at https://aphextwinz.github.io/aws-lambda-events/rest-api: `extendedRequestId`,
///   `identity.principalOrgId`, every identity key `null` but `sourceIp` and `userAgent`.
///
/// Where routewise's type differs (`string` → `null`), the module docs say why: `accountId` is unknown to
/// the filter, and so are the IAM / Cognito / Organizations identity keys and `apiKey` (never sent).
#[test]
fn l1_l2_keys_and_types_match_aws_example_events() {
    const S: &[&str] = &["string"];
    const S_OR_NULL: &[&str] = &["string", "null"];
    const NULL: &[&str] = &["null", "string"];
    const OBJ_OR_NULL: &[&str] = &["object", "null"];
    const OBJ: &[&str] = &["object"];
    const NUM: &[&str] = &["number"];
    const BOOL: &[&str] = &["bool"];
    let v1: Shape<'_> = &[
        (
            "",
            &[
                ("resource", S),
                ("path", S),
                ("httpMethod", S),
                ("headers", OBJ),
                ("multiValueHeaders", OBJ),
                ("queryStringParameters", OBJ_OR_NULL),
                ("multiValueQueryStringParameters", OBJ_OR_NULL),
                ("pathParameters", OBJ_OR_NULL),
                ("stageVariables", OBJ_OR_NULL),
                ("requestContext", OBJ),
                ("body", S_OR_NULL),
                ("isBase64Encoded", BOOL),
            ],
        ),
        (
            "/requestContext",
            &[
                ("accountId", NULL),
                ("apiId", S),
                ("authorizer", OBJ),
                ("domainName", S),
                ("domainPrefix", S),
                ("extendedRequestId", S),
                ("httpMethod", S),
                ("identity", OBJ),
                ("path", S),
                ("protocol", S),
                ("requestId", S),
                ("requestTime", S),
                ("requestTimeEpoch", NUM),
                ("resourceId", S),
                ("resourcePath", S),
                ("stage", S),
            ],
        ),
        (
            "/requestContext/identity",
            &[
                ("accessKey", NULL),
                ("accountId", NULL),
                ("apiKey", NULL),
                ("apiKeyId", S_OR_NULL),
                ("caller", NULL),
                ("cognitoAuthenticationProvider", NULL),
                ("cognitoAuthenticationType", NULL),
                ("cognitoIdentityId", NULL),
                ("cognitoIdentityPoolId", NULL),
                ("principalOrgId", NULL),
                ("sourceIp", S),
                ("user", NULL),
                ("userAgent", S_OR_NULL),
                ("userArn", NULL),
            ],
        ),
    ];
    // L2: AWS's Go and Rust runtime fixtures `events/testdata/apigw-v2-request-no-authorizer.json` and
    // `lambda-events/src/fixtures/example-apigw-v2-request-no-authorizer.json` (no cookies, query, body,
    // path parameters or stage variables: API Gateway leaves them out), the 2.0 authorizer input example of
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html (`cookies`,
    // `queryStringParameters`), and L2 for `body`, `pathParameters`, `stageVariables`.
    // Their `requestContext.authentication` (mutual TLS) is not sent (module docs).
    let v2: Shape<'_> = &[
        (
            "",
            &[
                ("version", S),
                ("routeKey", S),
                ("rawPath", S),
                ("rawQueryString", S),
                ("cookies", &["array"]),
                ("headers", OBJ),
                ("queryStringParameters", OBJ),
                ("requestContext", OBJ),
                ("body", S),
                ("pathParameters", OBJ),
                ("isBase64Encoded", BOOL),
                ("stageVariables", OBJ),
            ],
        ),
        (
            "/requestContext",
            &[
                ("accountId", NULL),
                ("apiId", S),
                ("authorizer", OBJ),
                ("domainName", S),
                ("domainPrefix", S),
                ("http", OBJ),
                ("requestId", S),
                ("routeKey", S),
                ("stage", S),
                ("time", S),
                ("timeEpoch", NUM),
            ],
        ),
        (
            "/requestContext/http",
            &[
                ("method", S),
                ("path", S),
                ("protocol", S),
                ("sourceIp", S),
                ("userAgent", S),
            ],
        ),
    ];
    let mut f = fixture();
    // Without a caller (no authorizer member: optional) and with one.
    assert_keys_and_types(
        "1.0",
        &f.json(PayloadFormat::V1),
        v1,
        &["/requestContext/authorizer"],
    );
    assert_keys_and_types(
        "2.0",
        &f.json(PayloadFormat::V2),
        v2,
        &["/requestContext/authorizer"],
    );
    f.caller = Some(OwnedCaller {
        consumer: Some("alice".into()),
        api_key_id: Some("kid-9".into()),
        context: Vec::new(),
    });
    assert_keys_and_types("1.0 with a caller", &f.json(PayloadFormat::V1), v1, &[]);
    assert_keys_and_types("2.0 with a caller", &f.json(PayloadFormat::V2), v2, &[]);
    // The 2.0 members API Gateway leaves out when empty (L2), and 1.0's nulls.
    let mut bare = fixture();
    bare.query.clear();
    bare.headers.retain(|(n, _)| n != "cookie");
    bare.body.clear();
    bare.path_parameters.clear();
    bare.stage_variables.clear();
    assert_keys_and_types(
        "2.0 bare",
        &bare.json(PayloadFormat::V2),
        v2,
        &[
            "/cookies",
            "/queryStringParameters",
            "/body",
            "/pathParameters",
            "/stageVariables",
            "/requestContext/authorizer",
        ],
    );
    assert_keys_and_types(
        "1.0 bare",
        &bare.json(PayloadFormat::V1),
        v1,
        &["/requestContext/authorizer"],
    );
}

/// L1: `resourceId` is API Gateway's shape (6 of `[0-9a-z]`), the same for every request to a resource,
/// different between resources (module docs).
#[test]
fn l1_resource_id_is_six_base36_characters_per_resource_path() {
    let a = resource_id("/pets/{id}");
    assert_eq!(a.len(), 6);
    assert!(
        a.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
        "{a}"
    );
    assert_eq!(a, resource_id("/pets/{id}"));
    assert_ne!(a, resource_id("/pets"));
    assert_eq!(resource_id("").len(), 6);
}
