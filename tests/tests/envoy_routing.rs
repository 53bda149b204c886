//! The routewise filter in a real Envoy 1.40 (container `routewise-envoy:1.40.0`, V8 runtime), driven over
//! HTTP. Each test starts its own Envoy on free ports with its own config and in-process echo upstreams, and
//! names the rules of `shared/spec/routing.md` (and `proxy-wasm-host.md` §3) it covers.
//!
//! Needs a Docker engine and the image (`scripts/setup`); the module is built on first use (see
//! `routewise_tests::envoy::routewise_wasm`). Nothing here is skipped when Docker is missing: it fails.

use routewise_tests::envoy::log_excerpt as filter_lines;
use routewise_tests::envoy::Build;
use routewise_tests::{EchoUpstream, Envoy, RecordedRequest, Request, Response};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------------------
// Config builders (the schema of filter/src/config/mod.rs)

/// An API with one stage `prod` forwarding to `cluster`, and `routes` (none: the implicit `$default`).
fn api(id: &str, cluster: &str, routes: Value) -> Value {
    json!({
        "id": id,
        "stages": {"prod": {"integration": {"type": "http", "cluster": cluster}}},
        "routes": routes,
    })
}

fn rule(id: &str, priority: i64, conditions: Value, api: &str) -> Value {
    json!({"id": id, "priority": priority, "conditions": conditions, "action": {"invoke_api": {"api": api, "stage": "prod"}}})
}

fn header(name: &str, glob: &str) -> Value {
    json!({"headers": [{"header": name, "value_glob": glob}]})
}

fn mapping(id: &str, base_path: &str, api: &str) -> Value {
    json!({"id": id, "base_path": base_path, "api": api, "stage": "prod"})
}

fn config(domains: Value, apis: Value) -> String {
    serde_json::to_string_pretty(&json!({"domains": domains, "apis": apis})).expect("config JSON")
}

// ---------------------------------------------------------------------------------------------------------
// Assertions

/// The request went to `up` and arrived there with `path`; returns what `up` received.
#[track_caller]
fn assert_forwarded(envoy: &Envoy, resp: &Response, up: &EchoUpstream, path: &str) -> RecordedRequest {
    assert_eq!(
        resp.status,
        200,
        "expected upstream {} to answer; got {} {}\nEnvoy log (wasm lines):\n{}",
        up.name(),
        resp.status,
        resp.text(),
        filter_lines(&envoy.log())
    );
    assert_eq!(
        resp.upstream().as_deref(),
        Some(up.name()),
        "answered by the wrong upstream: {}",
        resp.text()
    );
    let tag = resp.header("x-test-log-tag").expect("tagged");
    let got = up.request_tagged(tag).expect("the upstream recorded the request");
    assert_eq!(got.path, path, "path received by {}", up.name());
    got
}

/// A local reply from the filter: `status`, JSON `{"message": message}`.
#[track_caller]
fn assert_local_reply(resp: &Response, status: u16, message: &str) {
    assert_eq!(resp.status, status, "body: {}", resp.text());
    assert_eq!(
        resp.json(),
        Some(json!({"message": message})),
        "body: {}",
        resp.text()
    );
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "content-type {:?}",
        resp.header("content-type")
    );
}

fn get(envoy: &Envoy, host: &str, path: &str) -> Response {
    envoy.send(Request::get(path).host(host))
}

fn get_with(envoy: &Envoy, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = Request::get(path).host(host);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    envoy.send(req)
}

// ---------------------------------------------------------------------------------------------------------
// Layer 1: domains

/// D1, D2, D3: exact beats the longest wildcard suffix, which beats `*`; host case and port are ignored.
fn d1_d3_domain_selection_exact_then_longest_wildcard_then_any(build: Build) {
    let (exact, wild, deeper, any) = (
        EchoUpstream::start("exact"),
        EchoUpstream::start("wild"),
        EchoUpstream::start("deeper"),
        EchoUpstream::start("any"),
    );
    let cfg = config(
        json!([
            {"name": "*", "api_mappings": [mapping("m-any", "", "any")]},
            {"name": "*.example.com", "api_mappings": [mapping("m-wild", "", "wild")]},
            {"name": "api.example.com", "api_mappings": [mapping("m-exact", "", "exact")]},
            {"name": "*.b.example.com", "api_mappings": [mapping("m-deeper", "", "deeper")]},
        ]),
        json!([
            api("exact", "exact", json!([])),
            api("wild", "wild", json!([])),
            api("deeper", "deeper", json!([])),
            api("any", "any", json!([])),
        ]),
    );
    let envoy = Envoy::start(build, &cfg, &[&exact, &wild, &deeper, &any]);
    for (host, up) in [
        ("api.example.com", &exact),
        ("API.Example.COM:8080", &exact),
        ("x.example.com", &wild),
        ("x.y.example.com", &wild),
        ("a.b.example.com", &deeper),
        ("b.example.com", &wild),
        ("example.com", &any),
        ("other.test", &any),
    ] {
        let resp = get(&envoy, host, "/p");
        assert_forwarded(&envoy, &resp, up, "/p");
    }
}

/// D3: no domain matches the Host: 404 `{"message":"Not Found"}` from the filter; no upstream is called.
fn d3_no_domain_is_404_not_found(build: Build) {
    let up = EchoUpstream::start("up");
    let cfg = config(
        json!([{"name": "api.example.com", "api_mappings": [mapping("m", "", "a")]}]),
        json!([api("a", "up", json!([]))]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);
    assert_local_reply(&get(&envoy, "other.example.com", "/p"), 404, "Not Found");
    assert_local_reply(&get(&envoy, "example.com", "/p"), 404, "Not Found");
    assert_forwarded(&envoy, &get(&envoy, "api.example.com", "/p"), &up, "/p");
    assert_eq!(
        up.requests().len(),
        1,
        "only the matching request reached the upstream"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Layer 2: routing rules

/// R1, R2, R3, R5: rules run by ascending priority (not file order), the first match wins; `*` needs the
/// header to be present (an empty value counts); an absent header makes every condition false.
fn r1_r2_rules_by_ascending_priority_first_match_wins(build: Build) {
    let (a, b, c) = (
        EchoUpstream::start("a"),
        EchoUpstream::start("b"),
        EchoUpstream::start("c"),
    );
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [
                rule("p30-any", 30, header("x-env", "*"), "c"),
                rule("p20-prod", 20, header("x-env", "prod*"), "b"),
                rule("p10-canary", 10, header("x-env", "*canary*"), "a"),
            ],
        }]),
        json!([
            api("a", "a", json!([])),
            api("b", "b", json!([])),
            api("c", "c", json!([]))
        ]),
    );
    let envoy = Envoy::start(build, &cfg, &[&a, &b, &c]);
    let h = "api.example.com";

    let resp = get_with(&envoy, h, "/x", &[("x-env", "prod-canary")]);
    assert_forwarded(&envoy, &resp, &a, "/x");
    assert_eq!(envoy.access_log_for(&resp)["rule_id"], "p10-canary", "R11");
    assert_forwarded(&envoy, &get_with(&envoy, h, "/x", &[("x-env", "prod")]), &b, "/x");
    assert_forwarded(&envoy, &get_with(&envoy, h, "/x", &[("x-env", "dev")]), &c, "/x");
    assert_forwarded(&envoy, &get_with(&envoy, h, "/x", &[("x-env", "")]), &c, "/x");
    // R5: absent header, even for `*`.
    assert_local_reply(&get(&envoy, h, "/x"), 403, "Forbidden");
}

/// R3: the five glob forms, case-insensitive header names, case-sensitive values matched whole, `?` literal,
/// and two conditions on the same header (both must hold).
fn r3_header_glob_forms(build: Build) {
    let up = EchoUpstream::start("up");
    let both =
        json!({"headers": [{"header": "x-a", "value_glob": "a*"}, {"header": "X-A", "value_glob": "*z"}]});
    let cfg = config(
        json!([{
            "name": "*",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [
                rule("exact", 1, header("x-v", "v1"), "api"),
                rule("prefix", 2, header("x-v", "v2*"), "api"),
                rule("suffix", 3, header("x-v", "*-beta"), "api"),
                rule("contains", 4, header("x-v", "*mid*"), "api"),
                rule("literal-question-mark", 5, header("x-v", "what?"), "api"),
                rule("same-header-twice", 6, both, "api"),
            ],
        }]),
        json!([api("api", "up", json!([]))]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);
    let rule_of = |headers: &[(&str, &str)]| -> Option<String> {
        let resp = get_with(&envoy, "h.test", "/", headers);
        match resp.status {
            200 => Some(
                envoy.access_log_for(&resp)["rule_id"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            ),
            403 => None,
            s => panic!("unexpected status {s}: {}", resp.text()),
        }
    };
    assert_eq!(rule_of(&[("x-v", "v1")]).as_deref(), Some("exact"));
    assert_eq!(
        rule_of(&[("X-V", "v1")]).as_deref(),
        Some("exact"),
        "header names are case-insensitive"
    );
    assert_eq!(rule_of(&[("x-v", "V1")]), None, "values are case-sensitive");
    assert_eq!(rule_of(&[("x-v", "v1x")]), None, "the whole value must match");
    assert_eq!(rule_of(&[("x-v", "v2.1")]).as_deref(), Some("prefix"));
    assert_eq!(rule_of(&[("x-v", "1.0-beta")]).as_deref(), Some("suffix"));
    assert_eq!(rule_of(&[("x-v", "a-mid-b")]).as_deref(), Some("contains"));
    assert_eq!(rule_of(&[("x-v", "mid")]).as_deref(), Some("contains"));
    assert_eq!(
        rule_of(&[("x-v", "what?")]).as_deref(),
        Some("literal-question-mark")
    );
    assert_eq!(
        rule_of(&[("x-v", "whatX")]),
        None,
        "`?` is literal, not a wildcard"
    );
    assert_eq!(rule_of(&[("x-a", "abcz")]).as_deref(), Some("same-header-twice"));
    assert_eq!(
        rule_of(&[("x-a", "abc")]),
        None,
        "both conditions on x-a must hold"
    );
}

/// R4: a header on several lines matches if any line does; one comma-joined line is one literal string.
fn r4_header_on_several_lines(build: Build) {
    let (json_up, other) = (EchoUpstream::start("json"), EchoUpstream::start("other"));
    let cfg = config(
        json!([{
            "name": "*",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [
                rule("wants-json", 1, header("x-accept", "*json"), "json"),
                rule("fallback", 2, json!({}), "other"),
            ],
        }]),
        json!([api("json", "json", json!([])), api("other", "other", json!([]))]),
    );
    let envoy = Envoy::start(build, &cfg, &[&json_up, &other]);
    let resp = envoy.send(
        Request::get("/")
            .header("x-accept", "text/xml")
            .header("x-accept", "application/json"),
    );
    let got = assert_forwarded(&envoy, &resp, &json_up, "/");
    assert_eq!(
        got.header_all("x-accept"),
        ["text/xml", "application/json"],
        "both lines forwarded"
    );
    let resp = envoy.send(Request::get("/").header("x-accept", "application/json,text/xml"));
    assert_forwarded(&envoy, &resp, &other, "/");
}

/// R6, R7: base-path rules match leading segments on segment boundaries (case-sensitive, query ignored);
/// `strip_base_path` removes the matched base path and keeps the query; without it the path is unchanged.
fn r6_r7_base_path_rules_with_and_without_strip(build: Build) {
    let (dogs, shop, orders) = (
        EchoUpstream::start("dogs"),
        EchoUpstream::start("shop"),
        EchoUpstream::start("orders"),
    );
    let strip = |id: &str, prio: i64, base: &str, api: &str| {
        json!({"id": id, "priority": prio, "conditions": {"base_path": base},
               "action": {"invoke_api": {"api": api, "stage": "prod", "strip_base_path": true}}})
    };
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [
                strip("dogs", 1, "PetStoreShopper/dogs", "dogs"),
                strip("shop", 2, "PetStoreShopper", "shop"),
                rule("orders-v2", 3, json!({"base_path": "orders/v2"}), "orders"),
            ],
        }]),
        json!([
            api("dogs", "dogs", json!([])),
            api("shop", "shop", json!([])),
            api("orders", "orders", json!([]))
        ]),
    );
    let envoy = Envoy::start(build, &cfg, &[&dogs, &shop, &orders]);
    let h = "api.example.com";
    for (path, up, forwarded) in [
        ("/PetStoreShopper/dogs", &dogs, "/"),
        ("/PetStoreShopper/dogs/5", &dogs, "/5"),
        ("/PetStoreShopper/cats", &shop, "/cats"),
        ("/PetStoreShopper?birds=available", &shop, "/?birds=available"),
        ("/PetStoreShopper/", &shop, "/"),
        ("/PetStoreShopper/dogsled", &shop, "/dogsled"),
        ("/orders/v2/7?x=1", &orders, "/orders/v2/7?x=1"),
        ("/orders/v2", &orders, "/orders/v2"),
    ] {
        assert_forwarded(&envoy, &get(&envoy, h, path), up, forwarded);
    }
    for path in [
        "/PetStoreShopperX",
        "/a/PetStoreShopper",
        "/petstoreshopper/cats",
        "/orders/v3",
        "/orders",
    ] {
        assert_local_reply(&get(&envoy, h, path), 403, "Forbidden");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Layer 2: routing modes and API mappings

/// R8 (API_MAPPING_ONLY, the default), R9: longest matching base path wins on segment boundaries and the
/// mapped base path is stripped; the `(none)` mapping catches the rest unchanged.
fn r8_r9_api_mapping_only_longest_base_path_wins(build: Build) {
    let (o, o2, main) = (
        EchoUpstream::start("orders"),
        EchoUpstream::start("orders-v2"),
        EchoUpstream::start("main"),
    );
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "api_mappings": [
                mapping("none", "", "main"),
                mapping("orders", "orders", "orders"),
                mapping("orders-v2", "orders/v2", "orders-v2"),
            ],
        }]),
        json!([
            api("orders", "orders", json!([])),
            api("orders-v2", "orders-v2", json!([])),
            api("main", "main", json!([]))
        ]),
    );
    let envoy = Envoy::start(build, &cfg, &[&o, &o2, &main]);
    let h = "api.example.com";
    let resp = get(&envoy, h, "/orders/5");
    assert_forwarded(&envoy, &resp, &o, "/5");
    let log = envoy.access_log_for(&resp);
    assert_eq!(
        (log["rule_id"].as_str(), log["mapping_id"].as_str()),
        (Some("-"), Some("orders")),
        "R11: {log}"
    );
    assert_forwarded(&envoy, &get(&envoy, h, "/orders"), &o, "/");
    assert_forwarded(&envoy, &get(&envoy, h, "/orders/v2/9?q=1"), &o2, "/9?q=1");
    assert_forwarded(&envoy, &get(&envoy, h, "/orders/v22"), &o, "/v22");
    assert_forwarded(&envoy, &get(&envoy, h, "/ordersX"), &main, "/ordersX");
    assert_forwarded(&envoy, &get(&envoy, h, "/other?q=1"), &main, "/other?q=1");
}

/// R11 with the config's `filter_state`: only the named keys are written, `rule_id` and `mapping_id` always;
/// a key not written prints null in the JSON access log (README, "What the filter tells Envoy").
fn r11_filter_state_writes_the_named_keys_and_always_rule_and_mapping(build: Build) {
    let o = EchoUpstream::start("orders");
    let mut cfg: Value = serde_json::from_str(&config(
        json!([{"name": "api.example.com", "api_mappings": [mapping("orders", "orders", "orders")]}]),
        json!([api("orders", "orders", json!([]))]),
    ))
    .expect("config JSON");
    cfg["filter_state"] = json!(["route_id"]);
    let envoy = Envoy::start(build, &cfg.to_string(), &[&o]);
    let resp = get(&envoy, "api.example.com", "/orders/5");
    assert_forwarded(&envoy, &resp, &o, "/5");
    let log = envoy.access_log_for(&resp);
    assert_eq!(
        (log["rule_id"].as_str(), log["mapping_id"].as_str()),
        (Some("-"), Some("orders")),
        "R11: {log}"
    );
    assert!(
        log["route_id"].as_str().is_some_and(|id| !id.is_empty()),
        "named: {log}"
    );
    for key in [
        "domain",
        "api",
        "stage",
        "route_key",
        "path_params",
        "outcome",
        "consumer",
        "plugins",
    ] {
        assert!(log[key].is_null(), "{key} is not named in filter_state: {log}");
    }
}

/// R8 ROUTING_RULE_THEN_API_MAPPING: all rules first, then the mappings.
fn r8_routing_rule_then_api_mapping(build: Build) {
    let (beta, o, main) = (
        EchoUpstream::start("beta"),
        EchoUpstream::start("orders"),
        EchoUpstream::start("main"),
    );
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_THEN_API_MAPPING",
            "routing_rules": [rule("beta", 5, header("x-beta", "yes"), "beta")],
            "api_mappings": [mapping("orders", "orders", "orders"), mapping("none", "", "main")],
        }]),
        json!([
            api("beta", "beta", json!([])),
            api("orders", "orders", json!([])),
            api("main", "main", json!([]))
        ]),
    );
    let envoy = Envoy::start(build, &cfg, &[&beta, &o, &main]);
    let h = "api.example.com";
    // The rule wins over the longer mapping; rules do not strip unless asked.
    assert_forwarded(
        &envoy,
        &get_with(&envoy, h, "/orders/1", &[("x-beta", "yes")]),
        &beta,
        "/orders/1",
    );
    assert_forwarded(
        &envoy,
        &get_with(&envoy, h, "/orders/1", &[("x-beta", "no")]),
        &o,
        "/1",
    );
    assert_forwarded(&envoy, &get(&envoy, h, "/x"), &main, "/x");
}

/// R8 ROUTING_RULE_ONLY and R10: nothing selected is 403 `{"message":"Forbidden"}` (JSON) and reaches no
/// upstream; the status is configurable per domain (`no_match_status`).
fn r8_r10_routing_rule_only_and_403_when_nothing_matches(build: Build) {
    let beta = EchoUpstream::start("beta");
    let cfg = config(
        json!([
            {
                "name": "api.example.com",
                "routing_mode": "ROUTING_RULE_ONLY",
                "routing_rules": [rule("beta", 5, header("x-beta", "yes"), "beta")],
            },
            {
                "name": "custom.example.com",
                "routing_mode": "ROUTING_RULE_ONLY",
                "no_match_status": 421,
                "routing_rules": [rule("beta", 5, header("x-beta", "yes"), "beta")],
            },
        ]),
        json!([api("beta", "beta", json!([]))]),
    );
    let envoy = Envoy::start(build, &cfg, &[&beta]);
    assert_forwarded(
        &envoy,
        &get_with(&envoy, "api.example.com", "/a", &[("x-beta", "yes")]),
        &beta,
        "/a",
    );
    let resp = get(&envoy, "api.example.com", "/a");
    assert_local_reply(&resp, 403, "Forbidden");
    let log = envoy.access_log_for(&resp);
    assert_eq!(
        (log["rule_id"].as_str(), log["mapping_id"].as_str()),
        (Some("-"), Some("-")),
        "R11: {log}"
    );
    assert_eq!(
        get(&envoy, "custom.example.com", "/a").status,
        421,
        "no_match_status"
    );
    assert_eq!(
        beta.requests().len(),
        1,
        "refused requests never reach an upstream"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Layer 3: routes

/// P5 step 1 (the APISIX `/test*` host case): a host-bound prefix route beats a host-less exact route for
/// its host; for other hosts it is not a candidate. P2: `/test*` is a byte prefix. P8: no route is 404.
fn p5_host_bound_prefix_route_beats_hostless_exact_route(build: Build) {
    let (hosted, exact) = (EchoUpstream::start("hosted"), EchoUpstream::start("exact"));
    let routes = json!([
        {"id": "exact-no-host", "paths": ["/test/abc"], "integration": {"type": "http", "cluster": "exact"}},
        {"id": "prefix-with-host", "paths": ["/test*"], "hosts": ["api.example.com"],
         "integration": {"type": "http", "cluster": "hosted"}},
    ]);
    let cfg = config(
        json!([{"name": "*", "api_mappings": [mapping("all", "", "api")]}]),
        json!([api("api", "exact", routes)]),
    );
    let envoy = Envoy::start(build, &cfg, &[&hosted, &exact]);
    let resp = get(&envoy, "api.example.com", "/test/abc");
    assert_forwarded(&envoy, &resp, &hosted, "/test/abc");
    assert_eq!(envoy.access_log_for(&resp)["route_id"], "prefix-with-host");
    let resp = get(&envoy, "other.test", "/test/abc");
    assert_forwarded(&envoy, &resp, &exact, "/test/abc");
    assert_eq!(envoy.access_log_for(&resp)["route_id"], "exact-no-host");
    assert_forwarded(
        &envoy,
        &get(&envoy, "API.example.com:443", "/testing"),
        &hosted,
        "/testing",
    );
    assert_local_reply(&get(&envoy, "other.test", "/testing"), 404, "Not Found");
}

/// P2, P3, P5: exact > template (longer literal first) > greedy > `$default`, whatever the file order;
/// a route whose method fails falls through to the next candidate; path parameters are captured.
fn p5_path_specificity_and_method_fall_through(build: Build) {
    let up = EchoUpstream::start("pets");
    let routes = json!([
        {"id": "default", "key": "$default"},
        {"id": "proxy", "key": "ANY /{proxy+}"},
        {"id": "owner-pet", "key": "GET /owners/{owner}/pets/{id}"},
        {"id": "pet", "key": "GET /pets/{id}"},
        {"id": "mine", "key": "GET /pets/mine"},
    ]);
    let cfg = config(
        json!([{"name": "*", "api_mappings": [mapping("all", "", "pets")]}]),
        json!([api("pets", "pets", routes)]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);
    let route = |method: &str, path: &str| -> (String, Value) {
        let resp = envoy.send(Request::new(method, path).host("pets.test"));
        assert_forwarded(&envoy, &resp, &up, path);
        let log = envoy.access_log_for(&resp);
        let params = log["path_params"]
            .as_str()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(Value::Null);
        (log["route_id"].as_str().unwrap_or("?").to_string(), params)
    };
    assert_eq!(route("GET", "/pets/mine").0, "mine");
    assert_eq!(route("GET", "/pets/7"), ("pet".to_string(), json!({"id": "7"})));
    assert_eq!(
        route("GET", "/owners/ann/pets/3"),
        ("owner-pet".to_string(), json!({"owner": "ann", "id": "3"}))
    );
    assert_eq!(
        route("POST", "/pets/7"),
        ("proxy".to_string(), json!({"proxy": "pets/7"})),
        "method falls through"
    );
    assert_eq!(route("GET", "/cats/1").0, "proxy");
    assert_eq!(
        route("GET", "/").0,
        "default",
        "greedy needs at least one segment"
    );
}

/// P9: routing sees Envoy's normalised path (`..`, `//` resolved) and an encoded slash is never a segment
/// boundary; the upstream receives `%2F` unchanged.
fn p9_normalised_path_and_encoded_slash(build: Build) {
    let (o, main) = (EchoUpstream::start("orders"), EchoUpstream::start("main"));
    let cfg = config(
        json!([{"name": "*", "api_mappings": [mapping("orders", "orders", "orders"), mapping("none", "", "main")]}]),
        json!([api("orders", "orders", json!([])), api("main", "main", json!([]))]),
    );
    let envoy = Envoy::start(build, &cfg, &[&o, &main]);
    assert_forwarded(&envoy, &get(&envoy, "h.test", "/x/../orders//5"), &o, "/5");
    assert_forwarded(
        &envoy,
        &get(&envoy, "h.test", "/orders%2F5"),
        &main,
        "/orders%2F5",
    );
    assert_forwarded(&envoy, &get(&envoy, "h.test", "/orders/a%2Fb"), &o, "/a%2Fb");
}

// ---------------------------------------------------------------------------------------------------------
// Envoy integration: the cluster header, filter state in the access log, config rejection

/// P1 `remote_addrs` and `vars remote_addr` see the connection's peer (`use_remote_address: true` in the
/// template), never an address the client writes in X-Forwarded-For (issue 14: spoofing the client address).
fn p1_a_client_cannot_claim_another_address_with_x_forwarded_for(build: Build) {
    let (inside, outside) = (EchoUpstream::start("inside"), EchoUpstream::start("outside"));
    let cfg = config(
        json!([{"name": "api.example.com", "api_mappings": [mapping("all", "", "a")]}]),
        json!([api(
            "a",
            "outside",
            json!([
                {"id": "internal", "key": "GET /admin", "remote_addrs": ["10.0.0.0/8"],
                 "integration": {"type": "http", "cluster": "inside"}},
                {"id": "by-var", "key": "GET /var", "vars": [["remote_addr", "==", "10.1.2.3"]],
                 "integration": {"type": "http", "cluster": "inside"}},
                {"id": "local", "key": "GET /local", "remote_addrs": ["127.0.0.0/8"],
                 "integration": {"type": "http", "cluster": "inside"}},
                {"key": "ANY /{proxy+}"}
            ])
        )]),
    );
    let envoy = Envoy::start(build, &cfg, &[&inside, &outside]);
    for path in ["/admin", "/var"] {
        let resp = get_with(
            &envoy,
            "api.example.com",
            path,
            &[("x-forwarded-for", "10.1.2.3")],
        );
        assert_forwarded(&envoy, &resp, &outside, path);
    }
    // The real peer (127.0.0.1) does match its own range.
    let resp = get_with(
        &envoy,
        "api.example.com",
        "/local",
        &[("x-forwarded-for", "10.1.2.3")],
    );
    assert_forwarded(&envoy, &resp, &inside, "/local");
    assert!(inside.requests().iter().all(|r| r.path == "/local"));
}

/// proxy-wasm-host.md §3.2: the filter removes the client's copy of the cluster header and sets its own,
/// so a client cannot pick a cluster, neither for a routed request nor for a refused one.
fn spoofed_cluster_header_from_the_client_is_ignored(build: Build) {
    let (good, evil) = (EchoUpstream::start("good"), EchoUpstream::start("evil"));
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [rule("r", 1, header("x-ok", "1"), "good")],
        }]),
        json!([api("good", "good", json!([]))]),
    );
    let envoy = Envoy::start(build, &cfg, &[&good, &evil]);
    let h = "api.example.com";
    let spoof = ("x-routewise-cluster", "evil");
    let resp = get_with(
        &envoy,
        h,
        "/a",
        &[("x-ok", "1"), spoof, ("X-Routewise-Cluster", "evil")],
    );
    let got = assert_forwarded(&envoy, &resp, &good, "/a");
    assert_eq!(
        got.header_all("x-routewise-cluster"),
        ["good"],
        "exactly the filter's own value"
    );
    assert_local_reply(&get_with(&envoy, h, "/a", &[spoof]), 403, "Forbidden");
    assert_local_reply(
        &get_with(&envoy, "nowhere.test", "/a", &[spoof]),
        404,
        "Not Found",
    );
    assert!(
        evil.requests().is_empty(),
        "the spoofed cluster got {:?}",
        evil.requests()
    );
}

/// The cluster header name comes from the config (`cluster_header`); the bootstrap's route uses the same.
fn custom_cluster_header_name(build: Build) {
    let (good, evil) = (EchoUpstream::start("good"), EchoUpstream::start("evil"));
    let cfg = serde_json::to_string(&json!({
        "cluster_header": "x-rw-target",
        "domains": [{"name": "*", "api_mappings": [mapping("all", "", "good")]}],
        "apis": [api("good", "good", json!([]))],
    }))
    .expect("config");
    let envoy = Envoy::start(build, &cfg, &[&good, &evil]);
    let resp = get_with(&envoy, "h.test", "/a", &[("x-rw-target", "evil")]);
    let got = assert_forwarded(&envoy, &resp, &good, "/a");
    assert_eq!(got.header_all("x-rw-target"), ["good"]);
    assert!(evil.requests().is_empty());
}

/// R11 and proxy-wasm-host.md §3.1: the filter state (`wasm.routewise.*`, `routewise.*`) is in the access log: the rule id
/// (or `-`), the mapping id (or `-`), the domain, API, stage, route and path parameters.
fn r11_access_log_shows_rule_mapping_api_stage_route(build: Build) {
    let (beta, o) = (EchoUpstream::start("beta"), EchoUpstream::start("orders"));
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_THEN_API_MAPPING",
            "routing_rules": [{"id": "beta-rule", "priority": 7, "conditions": header("x-beta", "*"),
                               "action": {"invoke_api": {"api": "beta", "stage": "v1"}}}],
            "api_mappings": [mapping("orders-map", "orders", "orders")],
        }]),
        json!([
            {"id": "beta", "stages": {"v1": {"integration": {"type": "http", "cluster": "beta"}}},
             "routes": [{"id": "beta-get", "key": "GET /items/{id}"}]},
            api("orders", "orders", json!([{"id": "order", "key": "GET /{orderId}"}])),
        ]),
    );
    let envoy = Envoy::start(build, &cfg, &[&beta, &o]);
    let h = "api.example.com";

    let resp = get_with(&envoy, h, "/items/9", &[("x-beta", "1")]);
    assert_forwarded(&envoy, &resp, &beta, "/items/9");
    let log = envoy.access_log_for(&resp);
    for (key, want) in [
        ("domain", "api.example.com"),
        ("rule_id", "beta-rule"),
        ("mapping_id", "-"),
        ("api", "beta"),
        ("stage", "v1"),
        ("route_id", "beta-get"),
        ("route_key", "GET /items/{id}"),
        ("outcome", "forwarded"),
        ("upstream_cluster", "beta"),
    ] {
        assert_eq!(log[key].as_str(), Some(want), "{key} in {log}");
    }
    let params: Value =
        serde_json::from_str(log["path_params"].as_str().expect("path_params")).expect("JSON");
    assert_eq!(params, json!({"id": "9"}));
    assert_eq!(log["status"], 200);

    let resp = get(&envoy, h, "/orders/31");
    assert_forwarded(&envoy, &resp, &o, "/31");
    let log = envoy.access_log_for(&resp);
    assert_eq!(
        (log["rule_id"].as_str(), log["mapping_id"].as_str()),
        (Some("-"), Some("orders-map")),
        "{log}"
    );
    assert_eq!(
        (log["api"].as_str(), log["route_id"].as_str()),
        (Some("orders"), Some("order")),
        "{log}"
    );

    let resp = get(&envoy, h, "/elsewhere");
    assert_local_reply(&resp, 403, "Forbidden");
    let log = envoy.access_log_for(&resp);
    assert_eq!(
        (log["rule_id"].as_str(), log["mapping_id"].as_str()),
        (Some("-"), Some("-")),
        "{log}"
    );
    assert_eq!(
        (log["outcome"].as_str(), log["status"].as_u64()),
        (Some("no_api"), Some(403)),
        "{log}"
    );

    let resp = get(&envoy, "nowhere.test", "/");
    assert_local_reply(&resp, 404, "Not Found");
    assert_eq!(envoy.access_log_for(&resp)["outcome"], "no_domain");
}

/// R12 and proxy-wasm-host.md §3.6: a priority out of range is rejected; on_configure returns false (the
/// dynamic module's config_new returns NULL), so Envoy (FAIL_CLOSED) refuses to start, and the log names the
/// field path.
fn r12_bad_priority_rejected_by_envoy_with_the_field_path(build: Build) {
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [rule("zero", 0, header("x-a", "b"), "a")],
        }]),
        json!([api("a", "a", json!([]))]),
    );
    let refused = Envoy::start_expecting_refusal(build, &cfg);
    assert_ne!(refused.exit_code, Some(0), "Envoy must not exit cleanly");
    let log = &refused.log;
    assert!(
        log.contains("routewise: configuration rejected ("),
        "{}",
        filter_lines(log)
    );
    assert!(
        log.lines()
            .any(|l| l.contains("domains[0].routing_rules[0].priority: ") && l.contains("1..=1000000")),
        "no line `domains[0].routing_rules[0].priority: ...`:\n{}",
        filter_lines(log)
    );
    assert!(log.contains(build.refusal_line()), "{}", filter_lines(log));
}

/// R12: every error is reported, one line each with its path (a typo'd field, a wrong type, an unknown API).
fn r12_every_config_error_is_reported_with_its_path(build: Build) {
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [
                {"id": "typo", "priority": 1, "action": {"invoke_api": {"api": "a", "stage": "prod", "strip_basepath": true}}},
                {"id": "wrong-type", "priority": "ten", "action": {"invoke_api": {"api": "a", "stage": "prod"}}},
            ],
        }]),
        json!([api("a", "a", json!([]))]),
    );
    let refused = Envoy::start_expecting_refusal(build, &cfg);
    let log = &refused.log;
    assert!(
        log.contains("routewise: configuration rejected (2 errors):"),
        "{}",
        filter_lines(log)
    );
    assert!(
        log.lines()
            .any(|l| l.contains("domains[0].routing_rules[0].") && l.contains("strip_basepath")),
        "{}",
        filter_lines(log)
    );
    assert!(
        log.lines()
            .any(|l| l.contains("domains[0].routing_rules[1].priority: ")),
        "{}",
        filter_lines(log)
    );
}

/// proxy-wasm-host.md §3.4, dynamic-modules.md §3.1: the filter's counters are Envoy stats: `wasmcustom.<name>`
/// (wasm) or `dynamicmodulescustom.<name>` (dynamic module) on admin `/stats`, and the name without the
/// namespace (sanitised, no `envoy_` prefix) on `/stats/prometheus`. Every counter
/// family of the README's table after traffic: outcomes, rule hits, mapping hits, route hits (R11, P4 ids).
fn metrics_are_envoy_stats_under_the_builds_namespace(build: Build) {
    let up = EchoUpstream::start("up");
    let cfg = config(
        json!([{
            "name": "api.example.com",
            "routing_mode": "ROUTING_RULE_THEN_API_MAPPING",
            "routing_rules": [rule("r", 1, header("x-ok", "1"), "a")],
            "api_mappings": [mapping("orders-v2", "orders/v2", "a")],
        }]),
        json!([api(
            "a",
            "up",
            json!([{"id": "item", "key": "GET /items/{id}"}, {"key": "ANY /{proxy+}"}])
        )]),
    );
    let envoy = Envoy::start(build, &cfg, &[&up]);
    for _ in 0..2 {
        assert_forwarded(
            &envoy,
            &get_with(&envoy, "api.example.com", "/m", &[("x-ok", "1")]),
            &up,
            "/m",
        );
    }
    let resp = get(&envoy, "api.example.com", "/orders/v2/items/7");
    assert_forwarded(&envoy, &resp, &up, "/items/7");
    // The derived id of the greedy route (P4), as the access log shows it: the counter carries the same id.
    let greedy = envoy.access_log_for(&get_with(&envoy, "api.example.com", "/x", &[("x-ok", "1")]))
        ["route_id"]
        .as_str()
        .expect("route_id")
        .to_string();
    assert_local_reply(&get(&envoy, "api.example.com", "/m"), 403, "Forbidden");
    assert_local_reply(&get(&envoy, "nowhere.test", "/m"), 404, "Not Found");

    let stats = envoy.wait_filter_stats(&[
        "routewise.requests.forwarded: 4",
        "routewise.requests.no_api: 1",
        "routewise.requests.no_domain: 1",
        "routewise.rule.r.hits: 3",
        "routewise.mapping.orders-v2.hits: 1",
        "routewise.route.a.item.hits: 1",
        &format!("routewise.route.a.{greedy}.hits: 3"),
    ]);
    assert!(!stats.contains("envoy_routewise"), "{stats}");
    let prometheus = Request::get("/stats/prometheus")
        .send(envoy.admin_port())
        .expect("prometheus stats")
        .text();
    assert!(
        prometheus
            .lines()
            .any(|l| l.starts_with("routewise_requests_forwarded") && l.ends_with(" 4")),
        "{}",
        prometheus
            .lines()
            .filter(|l| l.contains("routewise"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

routewise_tests::both_builds!(
    p1_a_client_cannot_claim_another_address_with_x_forwarded_for,
    d1_d3_domain_selection_exact_then_longest_wildcard_then_any,
    r11_filter_state_writes_the_named_keys_and_always_rule_and_mapping,
    d3_no_domain_is_404_not_found,
    r1_r2_rules_by_ascending_priority_first_match_wins,
    r3_header_glob_forms,
    r4_header_on_several_lines,
    r6_r7_base_path_rules_with_and_without_strip,
    r8_r9_api_mapping_only_longest_base_path_wins,
    r8_routing_rule_then_api_mapping,
    r8_r10_routing_rule_only_and_403_when_nothing_matches,
    p5_host_bound_prefix_route_beats_hostless_exact_route,
    p5_path_specificity_and_method_fall_through,
    p9_normalised_path_and_encoded_slash,
    spoofed_cluster_header_from_the_client_is_ignored,
    custom_cluster_header_name,
    r11_access_log_shows_rule_mapping_api_stage_route,
    r12_bad_priority_rejected_by_envoy_with_the_field_path,
    r12_every_config_error_is_reported_with_its_path,
    metrics_are_envoy_stats_under_the_builds_namespace,
);
