//! JWT claims for the event's authorizer: the rendering rules of lambda-streaming.md §7.1 / §7.2 (named in
//! each test), the bounds, the config checks, and the pipeline's trust rule (§8: claims only with
//! `jwt_authn`'s dynamic metadata key; the payload header always removed).

use super::*;
use crate::pipeline::{FilterConfig, Next, RecordingHost, Stream};
use serde_json::json;

fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(v: Value) -> JwtClaims {
    match claims_from_payload(&b64url(&v), 16 * 1024) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn claim<'a>(c: &'a JwtClaims, name: &str) -> Option<&'a str> {
    c.claims.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

// ------------------------------------------------------------------------------------ rendering, §7.2

#[test]
fn s7_2_claims_are_a_map_of_strings_numbers_and_booleans_stringified() {
    let c = claims(
        json!({"sub": "user-1", "exp": 1_700_000_000u64, "neg": -3, "ratio": 1.5, "admin": true,
                          "beta": false}),
    );
    assert_eq!(claim(&c, "sub"), Some("user-1"));
    assert_eq!(claim(&c, "exp"), Some("1700000000"), "an integer as its digits");
    assert_eq!(claim(&c, "neg"), Some("-3"));
    assert_eq!(claim(&c, "ratio"), Some("1.5"));
    assert_eq!(claim(&c, "admin"), Some("true"));
    assert_eq!(claim(&c, "beta"), Some("false"));
}

#[test]
fn s7_2_arrays_are_space_separated_and_bracketed_not_json() {
    let c = claims(
        json!({"groups": ["admin", "poweruser"], "mixed": [1, true, "x y"], "empty": [],
                          "nested": [["a", "b"], {"k": "v"}, null]}),
    );
    assert_eq!(claim(&c, "groups"), Some("[admin poweruser]"));
    assert_eq!(claim(&c, "mixed"), Some("[1 true x y]"));
    assert_eq!(claim(&c, "empty"), Some("[]"));
    assert_eq!(claim(&c, "nested"), Some(r#"[[a b] {"k":"v"} null]"#));
}

#[test]
fn s7_2_null_claims_are_left_out_and_objects_are_json_text() {
    let c = claims(json!({"gone": null, "addr": {"city": "Paris", "zip": 75001, "tags": ["a"]}}));
    assert_eq!(claim(&c, "gone"), None);
    assert_eq!(c.claims.len(), 1, "{c:?}");
    assert_eq!(
        claim(&c, "addr"),
        Some(r#"{"city":"Paris","tags":["a"],"zip":75001}"#)
    );
}

#[test]
fn s7_2_claims_in_byte_order_of_names_a_repeated_name_keeps_its_last_value() {
    let payload = br#"{"z":"1","a":"2","M":"3","a":"4"}"#;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
    let c = claims_from_payload(&text, 1024).unwrap();
    assert_eq!(
        c.claims,
        [
            ("M".into(), "3".into()),
            ("a".into(), "4".into()),
            ("z".into(), "1".into())
        ]
    );
}

#[test]
fn s7_2_scopes_from_scope_or_scp_null_when_unscoped() {
    assert_eq!(
        claims(json!({"scope": "read:pets  write:pets"})).scopes,
        Some(vec!["read:pets".to_string(), "write:pets".to_string()])
    );
    assert_eq!(
        claims(json!({"scp": ["a", "b c", 7]})).scopes,
        Some(vec!["a".to_string(), "b".to_string(), "c".to_string()]),
        "scp as an array (Azure AD / Okta), elements split like scope, non-strings ignored"
    );
    assert_eq!(claims(json!({"scp": "x"})).scopes, Some(vec!["x".to_string()]));
    assert_eq!(
        claims(json!({"scope": "s", "scp": ["t"]})).scopes,
        Some(vec!["s".to_string()]),
        "scope first"
    );
    for unscoped in [
        json!({"sub": "u"}),
        json!({"scope": ""}),
        json!({"scope": null}),
        json!({"scp": []}),
    ] {
        assert_eq!(claims(unscoped.clone()).scopes, None, "{unscoped}");
    }
    // The scope claim stays among the claims too, as a string (§7.2: every claim).
    assert_eq!(claim(&claims(json!({"scope": "a b"})), "scope"), Some("a b"));
}

// ---------------------------------------------------------------------------------- decoding, bounds

#[test]
fn s8_1_payload_padded_or_not_is_read_and_bad_payloads_give_errors() {
    let v = json!({"sub": ">>>?"}); // base64 `+` and `/` where base64url has `-` and `_`, and padding
    let unpadded = b64url(&v);
    let padded = base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
    assert_ne!(unpadded, padded, "the case needs padding");
    for text in [&unpadded, &padded] {
        assert_eq!(
            claim(&claims_from_payload(text, 1024).unwrap(), "sub"),
            Some(">>>?")
        );
    }
    assert_eq!(claims_from_payload("!!!", 1024), Err(PayloadError::NotBase64Url));
    let standard = base64::engine::general_purpose::STANDARD.encode(v.to_string());
    assert_eq!(
        claims_from_payload(&standard, 1024),
        Err(PayloadError::NotBase64Url),
        "not base64url"
    );
    assert!(matches!(
        claims_from_payload(&b64url(&json!([1])), 1024),
        Err(PayloadError::NotAnObject)
    ));
    let not_json = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("{nope");
    assert!(matches!(
        claims_from_payload(&not_json, 1024),
        Err(PayloadError::NotJson(_))
    ));
}

#[test]
fn the_payload_is_bounded_before_and_after_decoding() {
    let v = json!({"sub": "x".repeat(100)});
    let json_len = v.to_string().len();
    let text = b64url(&v);
    assert!(claims_from_payload(&text, json_len).is_ok(), "exactly the limit");
    assert_eq!(
        claims_from_payload(&text, json_len - 1),
        Err(PayloadError::TooLarge {
            len: json_len,
            limit: json_len - 1
        })
    );
    // A header far over the limit is refused on its length alone, without decoding.
    let huge = "A".repeat(1_000_000);
    assert_eq!(
        claims_from_payload(&huge, 16),
        Err(PayloadError::TooLarge {
            len: 1_000_000,
            limit: 16
        })
    );
}

#[test]
fn deeply_nested_payloads_are_refused_not_a_crash() {
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(deep);
    assert!(matches!(
        claims_from_payload(&text, 1 << 20),
        Err(PayloadError::NotJson(_))
    ));
}

// ------------------------------------------------------------------------------------------ config

fn lambda_config(jwt: Value, format: &str) -> String {
    json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "fn", "stage": "prod"}]}],
        "apis": [{"id": "fn", "stages": {"prod": {}},
                  "routes": [{"id": "r", "key": "ANY /{proxy+}",
                              "integration": {"type": "lambda", "cluster": "fn", "payload_format_version": format,
                                              "jwt": jwt}}]}],
    })
    .to_string()
}

#[test]
fn jwt_config_defaults_and_field_path_errors() {
    let defaults: JwtConfig = serde_json::from_value(json!({})).unwrap();
    let mut errors = ConfigErrors::default();
    assert_eq!(
        JwtSource::compile("jwt", &defaults, &mut errors),
        Some(JwtSource {
            payload_header: "x-jwt-payload".into(),
            metadata_key: "jwt_payload".into(),
            max_payload_bytes: 16384
        })
    );
    assert!(errors.is_empty(), "{errors}");
    let upper: JwtConfig = serde_json::from_value(json!({"payload_header": "X-Claims"})).unwrap();
    assert_eq!(
        JwtSource::compile("jwt", &upper, &mut errors).map(|s| s.payload_header),
        Some("x-claims".into()),
        "lowercased, as Envoy keeps header names"
    );

    let bad = json!({"payload_header": "x jwt", "metadata_key": "", "max_payload_bytes": 0});
    let Err(crate::pipeline::Rejected::Invalid(errors)) =
        FilterConfig::from_bytes(lambda_config(bad, "2.0").as_bytes())
    else {
        panic!("accepted")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    let base = "apis[0].routes[0].integration.jwt";
    assert_eq!(
        paths,
        [
            format!("{base}.payload_header"),
            format!("{base}.metadata_key"),
            format!("{base}.max_payload_bytes")
        ]
    );
    for (field, value) in [
        ("payload_header", json!("content-length")),
        ("payload_header", json!("authorization")),
        ("payload_header", json!(":path")),
        ("metadata_key", json!("a\u{0}b")),
        ("max_payload_bytes", json!(MAX_PAYLOAD_BYTES_LIMIT + 1)),
    ] {
        let cfg = lambda_config(json!({ field: value }), "1.0");
        let Err(crate::pipeline::Rejected::Invalid(errors)) = FilterConfig::from_bytes(cfg.as_bytes()) else {
            panic!("{field} = {value} accepted")
        };
        assert!(
            errors.iter().any(|e| e.path.starts_with(base)),
            "{field} = {value}: {errors}"
        );
    }
    // An unknown field is a shape error naming the known ones (its path is the integration's: a tagged enum).
    let cfg = lambda_config(json!({"payload_headr": "x"}), "2.0");
    let Err(crate::pipeline::Rejected::Invalid(errors)) = FilterConfig::from_bytes(cfg.as_bytes()) else {
        panic!("a misspelt field accepted")
    };
    assert!(errors.to_string().contains("payload_header"), "{errors}");
}

// ------------------------------------------------------------------------- the pipeline's trust rule

/// Runs a GET through the pipeline with `headers` and `metadata` (namespace, key) and returns the event the
/// function was invoked with, and the request header lines left in Envoy's map.
fn invoke(
    format: &str,
    headers: &[(&str, &str)],
    metadata: &[(&str, &str)],
) -> (Value, Vec<(String, String)>) {
    let config = FilterConfig::from_bytes(lambda_config(json!({}), format).as_bytes()).unwrap();
    let mut lines = vec![
        (":method", "GET"),
        (":authority", "api.example.com"),
        (":path", "/pets/7"),
    ];
    lines.extend_from_slice(headers);
    let mut host = RecordingHost::new(&lines);
    host.dynamic_metadata = metadata
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect();
    let mut stream = Stream::default();
    assert_eq!(
        stream.on_request_headers(Some(&config), &mut host, true),
        Next::Stop
    );
    let calls = host.calls();
    let Some((_, body)) = calls.first() else {
        panic!("no Invoke call: {:?}", host.ops())
    };
    let event: Value = serde_json::from_slice(body).unwrap();
    (event, host.request.clone())
}

const NS: &str = JWT_AUTHN_NAMESPACE;

#[test]
fn s7_s8_a_verified_payload_becomes_the_authorizer_and_the_header_goes() {
    let payload = b64url(
        &json!({"sub": "u1", "exp": 1_900_000_000u64, "scope": "read write",
                                 "groups": ["a", "b"], "email_verified": true}),
    );
    // §7.2: 2.0 `authorizer.jwt.claims` (strings) and `scopes`.
    let (event, left) = invoke("2.0", &[("x-jwt-payload", &payload)], &[(NS, "jwt_payload")]);
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"jwt": {"claims": {"email_verified": "true", "exp": "1900000000", "groups": "[a b]",
                                  "scope": "read write", "sub": "u1"},
                       "scopes": ["read", "write"]}})
    );
    assert_eq!(event["headers"].get("x-jwt-payload"), None, "{event}");
    assert!(!left.iter().any(|(n, _)| n == "x-jwt-payload"), "{left:?}");
    // §7.1: 1.0 `authorizer.claims.<claim>`, the same strings (module docs: why strings).
    let (event, _) = invoke("1.0", &[("x-jwt-payload", &payload)], &[(NS, "jwt_payload")]);
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"claims": {"email_verified": "true", "exp": "1900000000", "groups": "[a b]",
                          "scope": "read write", "sub": "u1"}})
    );
    assert_eq!(event["multiValueHeaders"].get("x-jwt-payload"), None, "{event}");
}

#[test]
fn s8_a_forged_payload_header_without_jwt_authn_metadata_is_ignored_and_removed() {
    let forged = b64url(&json!({"sub": "admin"}));
    for format in ["1.0", "2.0"] {
        for metadata in [
            &[][..],
            &[(NS, "other_key")][..],
            &[("other.namespace", "jwt_payload")][..],
        ] {
            let (event, left) = invoke(format, &[("X-JWT-Payload", &forged)], metadata);
            assert_eq!(
                event["requestContext"].get("authorizer"),
                None,
                "{format} {metadata:?}: {event}"
            );
            assert_eq!(event["headers"].get("x-jwt-payload"), None, "{event}");
            assert!(!left.iter().any(|(n, _)| n == "x-jwt-payload"), "{left:?}");
            assert!(
                !event.to_string().contains(&forged),
                "the forged payload reached the event"
            );
        }
    }
}

#[test]
fn s8_two_payload_lines_or_an_unreadable_payload_give_no_claims_and_are_removed() {
    let good = b64url(&json!({"sub": "u1"}));
    let forged = b64url(&json!({"sub": "admin"}));
    let cases: [&[(&str, &str)]; 3] = [
        &[("x-jwt-payload", &forged), ("x-jwt-payload", &good)],
        &[("x-jwt-payload", "not base64!")],
        &[("x-jwt-payload", "W10")], // `[]`
    ];
    for headers in cases {
        let (event, left) = invoke("2.0", headers, &[(NS, "jwt_payload")]);
        assert_eq!(
            event["requestContext"].get("authorizer"),
            None,
            "{headers:?}: {event}"
        );
        assert!(!left.iter().any(|(n, _)| n == "x-jwt-payload"), "{left:?}");
    }
}

#[test]
fn s8_metadata_without_a_payload_header_gives_no_claims() {
    let (event, _) = invoke("2.0", &[], &[(NS, "jwt_payload")]);
    assert_eq!(event["requestContext"].get("authorizer"), None, "{event}");
}

#[test]
fn an_integration_without_jwt_reads_no_claims_and_keeps_the_header() {
    let config = FilterConfig::from_bytes(
        lambda_config(json!({}), "2.0")
            .replace(r#","jwt":{}"#, "")
            .as_bytes(),
    )
    .unwrap();
    let payload = b64url(&json!({"sub": "u1"}));
    let mut host = RecordingHost::new(&[
        (":method", "GET"),
        (":authority", "a"),
        (":path", "/x"),
        ("x-jwt-payload", &payload),
    ]);
    host.dynamic_metadata = vec![(NS.to_string(), "jwt_payload".to_string())];
    let mut stream = Stream::default();
    stream.on_request_headers(Some(&config), &mut host, true);
    let calls = host.calls();
    let event: Value = serde_json::from_slice(calls.first().unwrap().1).unwrap();
    assert_eq!(event["requestContext"].get("authorizer"), None);
    assert_eq!(event["headers"]["x-jwt-payload"], json!(payload));
}

// ------------------------------------------------------------------------------------------ properties

fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 512, ..proptest::test_runner::Config::default() })]

    /// §7.1 / §7.2 whatever the payload: the event is valid JSON; 2.0 `jwt.claims` and 1.0 `claims` are the
    /// same map of strings, one entry per claim that is not `null` (a string claim verbatim); `scopes` is
    /// `null` or an array of strings.
    #[test]
    fn s7_any_payload_gives_valid_json_and_a_map_of_strings(
        payload in proptest::collection::btree_map(".{0,8}", json_value(), 0..8),
    ) {
        let map: Map<String, Value> = payload.clone().into_iter().collect();
        let text = b64url(&Value::Object(map.clone()));
        let c = claims_from_payload(&text, 1 << 20).unwrap();
        let present: Vec<&String> = payload.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k).collect();
        proptest::prop_assert_eq!(c.claims.len(), present.len());
        for (k, v) in &payload {
            if let Value::String(s) = v {
                proptest::prop_assert_eq!(claim(&c, k), Some(s.as_str()));
            }
        }
        let caller = crate::lambda::Caller { jwt: Some(&c), ..crate::lambda::Caller::default() };
        let headers: Vec<(String, String)> = Vec::new();
        let vars = std::collections::BTreeMap::new();
        let req = crate::lambda::EventRequest {
            method: "GET", raw_path: "/", path: "/", query: "", headers: &headers, source_ip: "",
            user_agent: None, protocol: "HTTP/1.1", body: b"", content_type: None, route_key: "$default",
            resource_path: "/", path_parameters: &[], stage: "s", stage_variables: &vars, request_id: "r",
            domain_name: "d", api_id: "a", request_time_epoch_ms: 0, caller: Some(caller),
        };
        let mut claims_seen = Vec::new();
        for format in [crate::lambda::PayloadFormat::V1, crate::lambda::PayloadFormat::V2] {
            let event = crate::lambda::build_event(format, &req, 1024).unwrap();
            let event: Value = serde_json::from_slice(&event).unwrap();
            let authorizer = &event["requestContext"]["authorizer"];
            let claims = match format {
                crate::lambda::PayloadFormat::V1 => authorizer["claims"].clone(),
                crate::lambda::PayloadFormat::V2 => {
                    let scopes = &authorizer["jwt"]["scopes"];
                    proptest::prop_assert!(
                        scopes.is_null() || scopes.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                    );
                    authorizer["jwt"]["claims"].clone()
                }
            };
            let obj = claims.as_object().unwrap();
            proptest::prop_assert_eq!(obj.len(), present.len());
            proptest::prop_assert!(obj.values().all(Value::is_string));
            claims_seen.push(claims);
        }
        proptest::prop_assert_eq!(&claims_seen[0], &claims_seen[1]);
    }

    /// Any header value: claims or an error, never a panic, within the limit.
    #[test]
    fn any_header_value_is_claims_or_an_error(text in ".{0,64}", max in 1usize..64) {
        if let Ok(c) = claims_from_payload(&text, max) {
            proptest::prop_assert!(c.claims.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() <= 6 * max);
        }
    }
}
