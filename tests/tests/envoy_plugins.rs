//! Plugins (routing.md G1, G2) in a real Envoy (container, see envoy_routing.rs for the requirements).

use routewise_tests::envoy::log_excerpt;
use routewise_tests::{EchoUpstream, Envoy, RecordedRequest, Request, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[track_caller]
fn upstream_got(envoy: &Envoy, resp: &Response, up: &EchoUpstream) -> RecordedRequest {
    assert!(
        resp.status == 200 || resp.status == 202,
        "status {} {}\n{}",
        resp.status,
        resp.text(),
        log_excerpt(&envoy.log())
    );
    let tag = resp.header("x-test-log-tag").expect("tagged");
    up.request_tagged(tag).expect("the upstream recorded the request")
}

/// G1 (APISIX regression): a route with key-auth and proxy-rewrite adding `x-test: 123`; the upstream sees
/// exactly one `x-test: 123` whether the consumer has only credentials or plugins too; a consumer's own
/// proxy-rewrite replaces the route's; service plugins are inherited. G2: no or unknown key → 401.
#[test]
fn g1_g2_apisix_regression_and_merge_in_envoy() {
    let up = EchoUpstream::start("backend");
    let cfg = json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a",
                  "stages": {"prod": {"integration": {"type": "http", "cluster": "backend"}}},
                  "services": [{"id": "s", "plugins": {
                      "proxy-rewrite": {"headers": {"set": {"x-from": "service"}}},
                      "response-rewrite": {"status_code": 202, "headers": {"set": {"x-rewritten": "yes"}}}}}],
                  "routes": [
                      {"id": "regression", "key": "ANY /a/{proxy+}",
                       "plugins": {"key-auth": {},
                                   "proxy-rewrite": {"headers": {"add": {"x-test": "123"}}}}},
                      {"id": "svc", "key": "ANY /b/{proxy+}", "service": "s"}]}],
        "consumers": [
            {"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("jack-key")}}},
            {"username": "jill", "plugins": {"key-auth": {"key_sha256": sha("jill-key")},
                                              "response-rewrite": {"headers": {"set": {"x-consumer": "jill"}}}}},
            {"username": "joe", "plugins": {"key-auth": {"key_sha256": sha("joe-key")},
                                             "proxy-rewrite": {"headers": {"add": {"x-test": "456"}}}}}],
    });
    let envoy = Envoy::start(&serde_json::to_string_pretty(&cfg).expect("json"), &[&up]);

    let resp = envoy.send(Request::get("/a/x").header("apikey", "jack-key"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("x-test"), ["123"]);
    assert_eq!(got.header("apikey"), None);

    let resp = envoy.send(Request::get("/a/x").header("apikey", "jill-key"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("x-test"), ["123"]);
    assert_eq!(resp.header("x-consumer"), Some("jill"));

    let resp = envoy.send(Request::get("/a/x").header("apikey", "joe-key"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("x-test"), ["456"]);
    // The access log names the consumer and where each merged plugin came from; the key is nowhere in it.
    let entry = envoy.access_log_for(&resp);
    assert_eq!(entry["consumer"], "joe", "{entry}");
    assert_eq!(
        entry["plugins"], "key-auth:route,proxy-rewrite:consumer",
        "{entry}"
    );
    assert!(!entry.to_string().contains("joe-key"), "{entry}");

    for req in [
        Request::get("/a/x"),
        Request::get("/a/x").header("apikey", "nope"),
    ] {
        let resp = envoy.send(req);
        assert_eq!(resp.status, 401, "{}", resp.text());
        assert_eq!(resp.json(), Some(json!({"message": "Unauthorized"})));
        let entry = envoy.access_log_for(&resp);
        assert_eq!(
            (&entry["consumer"], &entry["outcome"], &entry["route_id"]),
            (&json!(null), &json!("unauthorized"), &json!("regression")),
            "{entry}"
        );
    }
    // Counters (README "What the filter tells Envoy"): 3 forwarded through the route, 2 refused.
    envoy.wait_stats(&[
        "wasmcustom.routewise.requests.unauthorized: 2",
        "wasmcustom.routewise.route.a.regression.hits: 3",
    ]);

    let resp = envoy.send(Request::get("/b/x"));
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert_eq!(resp.header("x-rewritten"), Some("yes"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("x-from"), ["service"]);
}
