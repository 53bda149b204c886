//! Plugins (routing.md G1, G2) in a real Envoy (container, see envoy_routing.rs for the requirements), also on
//! a Lambda route (lambda.md L1, L2) with the local Lambda endpoint ([`LambdaMock`], as in envoy_lambda.rs).

use routewise_tests::envoy::Build;
use routewise_tests::envoy::{log_excerpt, LambdaCluster};
use routewise_tests::lambda_mock::{function, LambdaMock};
use routewise_tests::{EchoUpstream, Envoy, RecordedRequest, Request, Response};
use serde_json::{json, Value};
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
fn g1_g2_apisix_regression_and_merge_in_envoy(build: Build) {
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
    let envoy = Envoy::start(build, &serde_json::to_string_pretty(&cfg).expect("json"), &[&up]);

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
    envoy.wait_filter_stats(&[
        "routewise.requests.unauthorized: 2",
        "routewise.route.a.regression.hits: 3",
    ]);

    let resp = envoy.send(Request::get("/b/x"));
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert_eq!(resp.header("x-rewritten"), Some("yes"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("x-from"), ["service"]);
}

/// Domain `*`, the `(none)` mapping to API `a` (HTTP integration `backend`), `services`, `routes`, `consumers`.
fn http_config(services: Value, routes: Value, consumers: Value) -> String {
    serde_json::to_string_pretty(&json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a",
                  "stages": {"prod": {"integration": {"type": "http", "cluster": "backend"}}},
                  "services": services,
                  "routes": routes}],
        "consumers": consumers,
    }))
    .expect("json")
}

/// G1 (service < route): a route that uses a service and sets its own `proxy-rewrite` gets the route's, not the
/// service's (replaced whole, not merged field by field), and still the service's `response-rewrite`; a
/// route of the same service without plugins of its own inherits both.
fn g1_a_routes_plugin_replaces_its_services_and_the_services_others_still_apply(build: Build) {
    let up = EchoUpstream::start("backend");
    let cfg = http_config(
        json!([{"id": "s", "plugins": {
            "proxy-rewrite": {"uri": "/from-service", "headers": {"set": {"x-from": "service", "x-svc-only": "1"}}},
            "response-rewrite": {"status_code": 202, "headers": {"set": {"x-rewritten": "yes"}}}}}]),
        json!([
            {"id": "own", "key": "ANY /own/{proxy+}", "service": "s",
             "plugins": {"proxy-rewrite": {"headers": {"set": {"x-from": "route"}}}}},
            {"id": "inherits", "key": "ANY /inherits/{proxy+}", "service": "s"}]),
        json!([]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);

    let resp = envoy.send(Request::get("/own/x?q=1").header("x-from", "client"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("x-from"), ["route"]);
    assert_eq!(
        got.header("x-svc-only"),
        None,
        "the service's proxy-rewrite is replaced whole"
    );
    assert_eq!(got.path, "/own/x?q=1", "the route's proxy-rewrite has no `uri`");
    assert_eq!(resp.status, 202, "the service's response-rewrite still applies");
    assert_eq!(resp.header("x-rewritten"), Some("yes"));
    let entry = envoy.access_log_for(&resp);
    assert_eq!(
        (&entry["route_id"], &entry["plugins"]),
        (
            &json!("own"),
            &json!("proxy-rewrite:route,response-rewrite:service")
        ),
        "{entry}"
    );

    let resp = envoy.send(Request::get("/inherits/x?q=1"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("x-from"), ["service"]);
    assert_eq!(got.header("x-svc-only"), Some("1"));
    assert_eq!(got.path, "/from-service?q=1");
    assert_eq!((resp.status, resp.header("x-rewritten")), (202, Some("yes")));
    let entry = envoy.access_log_for(&resp);
    assert_eq!(
        entry["plugins"], "proxy-rewrite:service,response-rewrite:service",
        "{entry}"
    );
}

/// G2 (`proxy-rewrite`): `regex_uri` rewrites the path the upstream gets (the query kept), `host` its Host,
/// `headers.remove` takes out every line of a header, `set` replaces, `add` appends; a path the pattern does
/// not match is forwarded unchanged.
fn g2_proxy_rewrite_regex_uri_host_and_header_edits_reach_the_upstream(build: Build) {
    let up = EchoUpstream::start("backend");
    let cfg = http_config(
        json!([]),
        json!([{"id": "rw", "key": "ANY /{proxy+}", "plugins": {"proxy-rewrite": {
            "regex_uri": ["^/v1/(.*)", "/internal/$1"],
            "host": "backend.internal",
            "headers": {"remove": ["x-debug"], "set": {"x-env": "prod"}, "add": {"x-test": "123"}}}}}]),
        json!([]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);

    let resp = envoy.send(
        Request::get("/v1/pets/7?color=red&color=blue")
            .header("x-debug", "1")
            .header("x-debug", "2")
            .header("x-env", "dev")
            .header("x-test", "client")
            .header("x-kept", "yes"),
    );
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.path, "/internal/pets/7?color=red&color=blue");
    assert_eq!(got.header("host"), Some("backend.internal"));
    assert_eq!(
        got.header_all("x-debug"),
        Vec::<&str>::new(),
        "every line removed"
    );
    assert_eq!(got.header_all("x-env"), ["prod"]);
    assert_eq!(got.header_all("x-test"), ["client", "123"]);
    assert_eq!(got.header("x-kept"), Some("yes"));

    let resp = envoy.send(Request::get("/v2/pets/7").header("x-debug", "1"));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.path, "/v2/pets/7", "no match: the path is kept");
    assert_eq!(got.header("x-debug"), None);
}

/// P1 `vars` regexes and G2 `regex_uri` on routewise's own regex engine (README, "Regexes"), in Envoy: `~*`
/// is case-insensitive (ASCII), `~~` with a pattern whose whole DFA is too big (`a.{11}z`, searched with a
/// DFA built per request) still decides the route, also on a 40 KB header value, and `regex_uri` with a
/// named group and `${name}` rewrites the path. A route whose `vars` fail falls through to the next (P5).
fn p1_g2_vars_regexes_and_regex_uri_on_routewises_engine(build: Build) {
    let up = EchoUpstream::start("backend");
    let cfg = http_config(
        json!([]),
        json!([
            {"id": "mobile", "paths": ["/app/*"], "priority": 3,
             "vars": [["http_user_agent", "~*", "mobile|android"]]},
            {"id": "token", "paths": ["/app/*"], "priority": 2, "vars": [["http_x_token", "~~", "a.{11}z"]]},
            {"id": "other", "paths": ["/app/*"], "priority": 1,
             "plugins": {"proxy-rewrite": {"regex_uri": ["^/app/(?P<rest>[^/]+)/(\\d+)$", "/v2/${rest}/n$2"]}}}]),
        json!([]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);
    let route = |req: Request| {
        let resp = envoy.send(req);
        let got = upstream_got(&envoy, &resp, &up);
        let entry = envoy.access_log_for(&resp);
        (
            entry["route_id"].as_str().unwrap_or_default().to_string(),
            got.path,
        )
    };
    let ua = "Mozilla/5.0 (Linux; ANDROID 14) AppleWebKit/537.36";
    assert_eq!(route(Request::get("/app/x").header("user-agent", ua)).0, "mobile");
    assert_eq!(
        route(Request::get("/app/x").header("x-token", "--a0123456789Xz--")).0,
        "token"
    );
    assert_eq!(
        route(Request::get("/app/x").header("x-token", "--a0123456789z--")).0,
        "other",
        "ten characters between `a` and `z`: no match"
    );
    let long = "ab".repeat(20_000);
    assert_eq!(
        route(Request::get("/app/x").header("x-token", &format!("{long}a0123456789éz"))).0,
        "token"
    );
    assert_eq!(route(Request::get("/app/x").header("x-token", &long)).0, "other");
    assert_eq!(
        route(Request::get("/app/pets/42").header("user-agent", "curl/8")),
        ("other".to_string(), "/v2/pets/n42".to_string())
    );
    assert_eq!(
        route(Request::get("/app/pets/x")).1,
        "/app/pets/x",
        "no match: the path is kept"
    );
}

/// G2 (`key-auth`): with `hide_credentials: false` the key reaches the upstream (header or query); with
/// `{"query": "key"}` the key is read from that query parameter and removed from the query before
/// forwarding (the other parameters kept, in order), the default `apikey` header still works, and an
/// `apikey` query parameter is not that credential (401). A hidden key is not in the access log.
fn g2_key_auth_kept_credentials_and_a_query_parameter_key(build: Build) {
    const KEY: &str = "jack-secret-key";
    let up = EchoUpstream::start("backend");
    let cfg = http_config(
        json!([]),
        json!([
            {"id": "keep", "key": "ANY /keep/{proxy+}", "plugins": {"key-auth": {"hide_credentials": false}}},
            {"id": "query", "key": "ANY /q/{proxy+}", "plugins": {"key-auth": {"query": "key"}}}]),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha(KEY)}}}]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);

    let resp = envoy.send(Request::get("/keep/x").header("apikey", KEY));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.header_all("apikey"), [KEY], "hide_credentials: false");
    assert_eq!(envoy.access_log_for(&resp)["consumer"], "jack");
    let resp = envoy.send(Request::get(&format!("/keep/x?apikey={KEY}&a=1")));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(got.path, format!("/keep/x?apikey={KEY}&a=1"));

    let resp = envoy.send(Request::get(&format!("/q/x?a=1&key={KEY}&b=2")));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!(
        got.path, "/q/x?a=1&b=2",
        "the credential is removed from the query"
    );
    let entry = envoy.access_log_for(&resp);
    assert_eq!(entry["consumer"], "jack", "{entry}");
    assert!(!entry.to_string().contains(KEY), "{entry}");
    let resp = envoy.send(Request::get(&format!("/q/x?key={KEY}")));
    assert_eq!(upstream_got(&envoy, &resp, &up).path, "/q/x");
    // Percent-encoded in the query, as a client would send a key with reserved characters.
    let resp = envoy.send(Request::get("/q/x?key=jack%2Dsecret%2Dkey"));
    assert_eq!(upstream_got(&envoy, &resp, &up).path, "/q/x");
    // The header (default `apikey`) is read first and removed.
    let resp = envoy.send(Request::get("/q/x?a=1").header("apikey", KEY));
    let got = upstream_got(&envoy, &resp, &up);
    assert_eq!((got.path.as_str(), got.header("apikey")), ("/q/x?a=1", None));

    for req in [
        Request::get(&format!("/q/x?apikey={KEY}")),
        Request::get("/q/x?key=nope"),
        Request::get("/q/x?key="),
    ] {
        let resp = envoy.send(req);
        assert_eq!(resp.status, 401, "{}", resp.text());
        assert_eq!(resp.json(), Some(json!({"message": "Unauthorized"})));
    }
    // A refused key in the query (mistyped, revoked) is not in the access log either: the filter records
    // the path without it before replying.
    let resp = envoy.send(Request::get("/q/x?a=1&key=jack-secret-kez&b=2"));
    assert_eq!(resp.status, 401, "{}", resp.text());
    let entry = envoy.access_log_for(&resp);
    assert_eq!(
        (&entry["path"], &entry["outcome"]),
        (&json!("/q/x?a=1&b=2"), &json!("unauthorized")),
        "{entry}"
    );
}

/// G1, G2 on a Lambda route (lambda.md L1, L2): key-auth identifies the consumer before the function is
/// invoked; the event carries it as API Gateway sends the caller of an API key, 1.0
/// `requestContext.authorizer.principalId` and `requestContext.identity.apiKeyId` (the first 10 hex digits
/// of the key's SHA-256, the start of `key_sha256`), 2.0 `requestContext.authorizer.lambda.principalId`;
/// the key is nowhere in the event (`identity.apiKey` is `null`, the `apikey` header and query parameter
/// are removed). No or an unknown key: 401 and no invocation.
fn g1_g2_l1_l2_key_auth_on_a_lambda_route_sends_the_consumer_in_the_event(build: Build) {
    const KEY: &str = "jack-lambda-key";
    let mock = LambdaMock::start();
    let lambda =
        |version: &str| json!({"type": "lambda", "cluster": "fn-echo", "payload_format_version": version});
    let cfg = serde_json::to_string_pretty(&json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "fn", "stage": "prod"}]}],
        "apis": [{"id": "fn", "stages": {"prod": {}},
                  "routes": [
                      {"id": "v1", "key": "ANY /v1/{proxy+}", "integration": lambda("1.0"),
                       "plugins": {"key-auth": {}, "proxy-rewrite": {"headers": {"set": {"x-env": "prod"}}}}},
                      {"id": "v2", "key": "ANY /v2/{proxy+}", "integration": lambda("2.0"),
                       "plugins": {"key-auth": {}}}]}],
        "consumers": [{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha(KEY)}}}],
    }))
    .expect("json");
    let envoy = Envoy::start_with_lambdas(
        build,
        &cfg,
        &[],
        &[LambdaCluster::to_mock("fn-echo", &mock, function::ECHO)],
    );
    let explain = |resp: &Response| {
        format!(
            "client got {} {}\nEnvoy log:\n{}",
            resp.status,
            resp.text(),
            log_excerpt(&envoy.log())
        )
    };
    // The echo function answers with the event it got.
    let echoed = |resp: &Response| -> Value {
        assert_eq!(resp.status, 200, "{}", explain(resp));
        let inv = mock.last_invocation_of(function::ECHO);
        assert_eq!(inv.signature, Ok(()));
        assert!(
            resp.body == inv.body,
            "the client got another body than the event"
        );
        let raw = String::from_utf8_lossy(&inv.body).into_owned();
        assert!(!raw.contains(KEY), "the key is in the event: {raw}");
        inv.event()
    };

    let resp = envoy.send(
        Request::get("/v1/pets?a=1")
            .header("apikey", KEY)
            .header("x-env", "dev"),
    );
    let event = echoed(&resp);
    let ctx = &event["requestContext"];
    assert_eq!(ctx["authorizer"], json!({"principalId": "jack"}), "{event}");
    assert_eq!(ctx["identity"]["apiKeyId"], sha(KEY)[..10], "{event}");
    assert_eq!(ctx["identity"]["apiKey"], Value::Null, "{event}");
    assert_eq!(event["headers"].get("apikey"), None, "{event}");
    assert_eq!(event["multiValueHeaders"].get("apikey"), None, "{event}");
    assert_eq!(event["multiValueHeaders"]["x-env"], json!(["prod"]), "{event}");
    assert_eq!(event["queryStringParameters"], json!({"a": "1"}), "{event}");
    let entry = envoy.access_log_for(&resp);
    assert_eq!(
        (&entry["consumer"], &entry["route_id"]),
        (&json!("jack"), &json!("v1")),
        "{entry}"
    );

    for req in [
        Request::get("/v2/pets?a=1").header("apikey", KEY),
        Request::get(&format!("/v2/pets?apikey={KEY}&a=1")),
    ] {
        let event = echoed(&envoy.send(req));
        assert_eq!(
            event["requestContext"]["authorizer"],
            json!({"lambda": {"principalId": "jack"}}),
            "{event}"
        );
        assert_eq!(event["headers"].get("apikey"), None, "{event}");
        assert_eq!(event["rawQueryString"], "a=1", "{event}");
    }

    let invoked = mock.invocations_of(function::ECHO).len();
    for path in ["/v1/pets", "/v2/pets"] {
        for req in [Request::get(path), Request::get(path).header("apikey", "nope")] {
            let resp = envoy.send(req);
            assert_eq!(resp.status, 401, "{}", explain(&resp));
            assert_eq!(resp.json(), Some(json!({"message": "Unauthorized"})));
            assert_eq!(envoy.access_log_for(&resp)["outcome"], "unauthorized");
        }
    }
    assert_eq!(
        mock.invocations_of(function::ECHO).len(),
        invoked,
        "a request without a valid key invoked the function"
    );
}

routewise_tests::both_builds!(
    g1_g2_apisix_regression_and_merge_in_envoy,
    g1_a_routes_plugin_replaces_its_services_and_the_services_others_still_apply,
    g2_proxy_rewrite_regex_uri_host_and_header_edits_reach_the_upstream,
    g2_key_auth_kept_credentials_and_a_query_parameter_key,
    g1_g2_l1_l2_key_auth_on_a_lambda_route_sends_the_consumer_in_the_event,
    p1_g2_vars_regexes_and_regex_uri_on_routewises_engine,
);
