//! Plugin tests, named after the rules they cover (routing.md G1, G2), through the engine (pure).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;
use crate::decision::Decision;
use crate::engine::Engine;
use crate::request::RequestView;

fn sha(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(api_plugins: Value, services: Value, route_plugins: Value, consumers: Value) -> Value {
    json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "plugins": api_plugins, "services": services,
                  "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}},
                  "routes": [{"id": "r", "key": "ANY /{proxy+}", "plugins": route_plugins,
                              "service": if services.as_array().is_some_and(|s| !s.is_empty()) { json!("s") } else { Value::Null }}]}],
        "consumers": consumers,
    })
}

fn engine(cfg: &Value) -> Engine {
    Engine::from_json(&cfg.to_string()).unwrap_or_else(|e| panic!("config rejected:\n{e}"))
}

fn errors(cfg: &Value) -> Vec<(String, String)> {
    Engine::from_json(&cfg.to_string())
        .expect_err("config must be rejected")
        .iter()
        .map(|e| (e.path.clone(), e.kind.to_string()))
        .collect()
}

struct Out {
    status: u16,
    path: Option<String>,
    consumer: Option<String>,
    api_key_id: Option<String>,
    edits: Vec<HeaderEdit>,
    summary: String,
    response: Option<ResponseRewrite>,
}

fn run(e: &Engine, path: &str, headers: &[(&str, &str)]) -> Out {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let req = RequestView {
        method: "GET",
        authority: "h",
        path,
        headers: &headers,
        remote_addr: None,
    };
    match e.evaluate(&req) {
        Decision::Forward(f) => Out {
            status: 200,
            path: f.path.clone(),
            consumer: f.plugins.consumer.map(str::to_string),
            api_key_id: f.plugins.api_key_id.map(str::to_string),
            edits: f.plugins.request_headers.clone(),
            summary: f.plugins.merged.summary(),
            response: f.plugins.response().cloned(),
        },
        Decision::LocalReply(r) => {
            assert_eq!(r.status, 401);
            assert_eq!(r.body, r#"{"message":"Unauthorized"}"#);
            Out {
                status: r.status,
                path: None,
                consumer: None,
                api_key_id: None,
                edits: vec![],
                summary: String::new(),
                response: None,
            }
        }
    }
}

fn add(n: &str, v: &str) -> HeaderEdit {
    HeaderEdit::Add(n.into(), v.into())
}

fn set(n: &str, v: &str) -> HeaderEdit {
    HeaderEdit::Set(n.into(), v.into())
}

fn remove(n: &str) -> HeaderEdit {
    HeaderEdit::Remove(n.into())
}

fn regression_route() -> Value {
    json!({"key-auth": {}, "proxy-rewrite": {"headers": {"add": {"x-test": "123"}}}})
}

#[test]
fn g1_apisix_regression_consumer_with_credentials_only_adds_the_header_once() {
    // APISIX: a route with key-auth and proxy-rewrite adding `x-test: 123` ran the rewrite twice (123123).
    let e = engine(&config(
        json!({}),
        json!([]),
        regression_route(),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")}}}]),
    ));
    let o = run(&e, "/x", &[("apikey", "k1")]);
    assert_eq!(o.status, 200);
    assert_eq!(o.consumer.as_deref(), Some("jack"));
    assert_eq!(o.edits, [remove("apikey"), add("x-test", "123")]);
    assert_eq!(o.summary, "key-auth:route,proxy-rewrite:route");
}

#[test]
fn g1_apisix_regression_consumer_with_plugins_still_adds_the_header_once() {
    let e = engine(&config(
        json!({}),
        json!([]),
        regression_route(),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")},
                                                 "response-rewrite": {"headers": {"set": {"x-c": "1"}}}}}]),
    ));
    let o = run(&e, "/x", &[("apikey", "k1")]);
    assert_eq!(o.edits, [remove("apikey"), add("x-test", "123")]);
    assert_eq!(
        o.summary,
        "key-auth:route,proxy-rewrite:route,response-rewrite:consumer"
    );
    assert_eq!(o.response.map(|r| r.header_edits()), Some(vec![set("x-c", "1")]));
    // Evaluating again gives the same (nothing about a request is kept in the engine).
    let again = run(&e, "/x", &[("apikey", "k1")]);
    assert_eq!(again.edits, [remove("apikey"), add("x-test", "123")]);
}

#[test]
fn g1_consumer_proxy_rewrite_replaces_the_routes() {
    let e = engine(&config(
        json!({}),
        json!([]),
        regression_route(),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")},
                 "proxy-rewrite": {"uri": "/jack", "headers": {"add": {"x-test": "456"}}}}},
               {"username": "jill", "plugins": {"key-auth": {"key_sha256": sha("k2")}}}]),
    ));
    let jack = run(&e, "/x?q=1", &[("apikey", "k1")]);
    assert_eq!(jack.edits, [remove("apikey"), add("x-test", "456")]);
    assert_eq!(jack.path.as_deref(), Some("/jack?q=1"));
    assert_eq!(jack.summary, "key-auth:route,proxy-rewrite:consumer");
    let jill = run(&e, "/x", &[("apikey", "k2")]);
    assert_eq!(jill.consumer.as_deref(), Some("jill"));
    assert_eq!(jill.edits, [remove("apikey"), add("x-test", "123")]);
    assert_eq!(jill.path, None);
}

#[test]
fn g1_service_plugins_are_inherited_and_overridden_by_the_route() {
    let services = json!([{"id": "s", "plugins": {
        "proxy-rewrite": {"headers": {"set": {"x-from": "service"}}},
        "response-rewrite": {"status_code": 202}}}]);
    let inherit = engine(&config(json!({}), services.clone(), json!({}), json!([])));
    let o = run(&inherit, "/x", &[]);
    assert_eq!(o.edits, [set("x-from", "service")]);
    assert_eq!(o.summary, "proxy-rewrite:service,response-rewrite:service");
    assert_eq!(o.response.and_then(|r| r.status_code), Some(202));

    let over = engine(&config(
        json!({"proxy-rewrite": {"headers": {"set": {"x-from": "api"}}}}),
        services,
        json!({"proxy-rewrite": {"headers": {"set": {"x-from": "route"}}}}),
        json!([]),
    ));
    let o = run(&over, "/x", &[]);
    assert_eq!(o.edits, [set("x-from", "route")]);
    assert_eq!(o.summary, "proxy-rewrite:route,response-rewrite:service");
}

#[test]
fn g1_api_plugins_are_the_lowest_layer() {
    let e = engine(&config(
        json!({"proxy-rewrite": {"headers": {"set": {"x-from": "api"}}}}),
        json!([]),
        json!({}),
        json!([]),
    ));
    assert_eq!(run(&e, "/x", &[]).summary, "proxy-rewrite:api");
}

#[test]
fn g1_explain_lists_the_merge_with_origins() {
    let e = engine(&config(
        json!({}),
        json!([]),
        regression_route(),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")},
                 "proxy-rewrite": {"uri": "/jack"}}}]),
    ));
    let route = e.apis()[0].routes.routes().first().expect("a route");
    assert_eq!(
        merge::explain(&route.plugins.compiled, None),
        [("key-auth", "route"), ("proxy-rewrite", "route")]
    );
    assert_eq!(
        merge::explain(&route.plugins.compiled, e.consumers().by_name("jack")),
        [("key-auth", "route"), ("proxy-rewrite", "consumer")]
    );
}

#[test]
fn g2_key_auth_missing_or_unknown_key_is_401() {
    let e = engine(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {}}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")}}}]),
    ));
    assert_eq!(run(&e, "/x", &[]).status, 401);
    assert_eq!(run(&e, "/x", &[("apikey", "nope")]).status, 401);
    assert_eq!(run(&e, "/x", &[("apikey", "")]).status, 401);
    assert_eq!(run(&e, "/x?apikey=nope", &[]).status, 401);
    assert_eq!(run(&e, "/x", &[("apikey", "k1")]).status, 200);
}

/// G2 `allowed_consumers`: a route may admit only some consumers; another consumer's valid key is refused
/// like a wrong one, and `[]` closes the route to every key (what `import openapi` writes for a route API
/// Gateway protects with an authorizer, so that keys added later for API-key routes cannot open it).
#[test]
fn g2_key_auth_allowed_consumers_admits_only_the_listed_ones() {
    let consumers = json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")}}},
                           {"username": "jill", "plugins": {"key-auth": {"key_sha256": sha("k2")}}}]);
    let e = engine(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {"allowed_consumers": ["jill"]}}),
        consumers.clone(),
    ));
    let jill = run(&e, "/x", &[("apikey", "k2")]);
    assert_eq!((jill.status, jill.consumer.as_deref()), (200, Some("jill")));
    assert_eq!(run(&e, "/x", &[("apikey", "k1")]).status, 401);
    assert_eq!(run(&e, "/x?apikey=k1", &[]).status, 401);
    assert_eq!(run(&e, "/x", &[]).status, 401);

    // A longer list, unsorted and with a repeat, is looked up as a set (sorted at configure time).
    let many = engine(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {"allowed_consumers": ["zed", "jill", "alice", "jill", "bob"]}}),
        consumers.clone(),
    ));
    assert_eq!(run(&many, "/x", &[("apikey", "k2")]).status, 200);
    assert_eq!(run(&many, "/x", &[("apikey", "k1")]).status, 401);

    let closed = engine(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {"header": "authorization", "allowed_consumers": []}}),
        consumers,
    ));
    for key in ["k1", "k2", "", "Bearer x"] {
        assert_eq!(
            run(&closed, "/x", &[("authorization", key)]).status,
            401,
            "{key:?}"
        );
    }
    assert_eq!(
        errors(&config(
            json!({}),
            json!([]),
            json!({"key-auth": {"allowed_consumers": ["ok", ""]}}),
            json!([]),
        )),
        [(
            "apis[0].routes[0].plugins.key-auth.allowed_consumers[1]".to_string(),
            "`` is invalid: not a consumer's username".to_string()
        )]
    );
}

#[test]
fn g2_key_auth_reads_a_configured_header_or_query_and_hides_it() {
    let e = engine(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {"header": "X-Key", "query": "k"}}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k 1")}}}]),
    ));
    let h = run(&e, "/x", &[("x-key", "k 1")]);
    assert_eq!(h.edits, [remove("x-key")]);
    let q = run(&e, "/x?a=1&k=k%201&b=2", &[]);
    assert_eq!((q.status, q.consumer.as_deref()), (200, Some("jack")));
    assert_eq!(q.path.as_deref(), Some("/x?a=1&b=2"));
    assert_eq!(run(&e, "/x?k=k+1", &[]).path.as_deref(), Some("/x"));
    assert_eq!(run(&e, "/x?apikey=k%201", &[]).status, 401);
}

#[test]
fn g2_key_auth_gives_the_keys_id_the_start_of_its_sha256_never_the_key() {
    // API Gateway's 1.0 `identity.apiKeyId`: a stable, non-secret id of the key, here the first 10 hex
    // digits of its SHA-256, i.e. of the configured `key_sha256` (lower-case even when configured upper).
    let e = engine(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {}}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")}}},
               {"username": "jill", "plugins": {"key-auth": {"key_sha256": sha("k2").to_uppercase()}}},
               {"username": "nokey"}]),
    ));
    let jack = run(&e, "/x", &[("apikey", "k1")]);
    assert_eq!(jack.consumer.as_deref(), Some("jack"));
    assert_eq!(jack.api_key_id.as_deref(), Some(&sha("k1")[..10]));
    let jill = run(&e, "/x?apikey=k2", &[]);
    assert_eq!(jill.api_key_id.as_deref(), Some(&sha("k2")[..10]));
    assert_eq!(
        e.consumers().by_name("jack").and_then(Consumer::api_key_id),
        Some(&sha("k1")[..10])
    );
    assert_eq!(
        e.consumers().by_name("nokey").and_then(Consumer::api_key_id),
        None
    );
    // No key-auth on the route: no consumer, no key id.
    let open = engine(&config(
        json!({}),
        json!([]),
        json!({"proxy-rewrite": {"uri": "/y"}}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")}}}]),
    ));
    let o = run(&open, "/x", &[("apikey", "k1")]);
    assert_eq!((o.consumer, o.api_key_id), (None, None));
}

#[test]
fn g2_key_auth_keeps_the_credential_when_configured() {
    let e = engine(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {"hide_credentials": false}}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1").to_uppercase()}}}]),
    ));
    let o = run(&e, "/x?apikey=k1", &[]);
    assert_eq!((o.status, o.path, o.edits), (200, None, vec![]));
}

#[test]
fn g2_proxy_rewrite_regex_uri_host_and_header_order() {
    let e = engine(&config(
        json!({}),
        json!([]),
        json!({"proxy-rewrite": {"regex_uri": ["^/old/(.*)", "/new/$1"], "host": "b.internal",
                "headers": {"add": {"x-a": "1"}, "set": {"X-S": "2"}, "remove": ["x-r"]}}}),
        json!([]),
    ));
    let o = run(&e, "/old/p?q=1", &[]);
    assert_eq!(o.path.as_deref(), Some("/new/p?q=1"));
    assert_eq!(
        o.edits,
        [
            set(":authority", "b.internal"),
            remove("x-r"),
            set("x-s", "2"),
            add("x-a", "1")
        ]
    );
    // No match: the path is kept.
    assert_eq!(run(&e, "/other", &[]).path, None);
}

#[test]
fn g2_config_errors_name_the_field() {
    let bad_route = json!({
        "proxy-rewrite": {"regex_uri": ["(", "/x"], "headers": {"add": {"x-a": "1\r\nx-b: 2"}, "set": {"bad name": "v"}}},
        "response-rewrite": {"status_code": 700},
        "rate-limit": {},
        "key-auth": {"key_sha256": "00"},
    });
    let errs = errors(&config(
        json!({}),
        json!([]),
        bad_route,
        json!([{"username": "u", "plugins": {"key-auth": {"key_sha256": "zz"}}},
               {"username": "u"}]),
    ));
    let has = |path: &str, needle: &str| errs.iter().any(|(p, m)| p == path && m.contains(needle));
    for (path, needle) in [
        (
            "apis[0].routes[0].plugins.proxy-rewrite.regex_uri[0]",
            "invalid regex",
        ),
        (
            "apis[0].routes[0].plugins.proxy-rewrite.headers.add.x-a",
            "CR, LF",
        ),
        (
            "apis[0].routes[0].plugins.proxy-rewrite.headers.set.bad name",
            "not allowed in a header name",
        ),
        (
            "apis[0].routes[0].plugins.response-rewrite.status_code",
            "700 is outside 200..=599",
        ),
        ("apis[0].routes[0].plugins.rate-limit", "unknown plugin"),
        (
            "apis[0].routes[0].plugins.key-auth.key_sha256",
            "belongs to a consumer",
        ),
        ("consumers[0].plugins.key-auth.key_sha256", "64 hex digits"),
        ("consumers[1].username", "already used by consumers[0].username"),
    ] {
        assert!(has(path, needle), "no `{needle}` at {path} in {errs:#?}");
    }
    // G2: a key digest is never echoed in an error.
    assert!(errs.iter().all(|(_, m)| !m.contains("`zz`")), "{errs:#?}");
}

#[test]
fn g2_duplicate_keys_are_a_config_error() {
    let errs = errors(&config(
        json!({}),
        json!([]),
        json!({"key-auth": {}}),
        json!([{"username": "a", "plugins": {"key-auth": {"key_sha256": sha("k")}}},
               {"username": "b", "plugins": {"key-auth": {"key_sha256": sha("k")}}}]),
    ));
    assert!(
        errs.iter()
            .any(|(p, m)| p == "consumers[1].plugins.key-auth.key_sha256"
                && m.contains("consumers[0].plugins.key-auth.key_sha256")),
        "{errs:#?}"
    );
}

#[test]
fn a_header_name_with_cr_lf_is_one_error_on_one_line() {
    let text = r#"{"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "p"}]}],
        "apis": [{"id": "a", "stages": {"p": {"integration": {"type": "http", "cluster": "c"}}},
                  "routes": [{"key": "ANY /{proxy+}",
                              "plugins": {"proxy-rewrite": {"headers": {"set": {"x-a\nfake: error line": "v"}}}}}]}]}"#;
    let errors = crate::engine::Engine::from_json(text).expect_err("bad header name");
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(shown.contains("x-a\\nfake: error line"), "{shown}");
}

// ------------------------------------------------------------------------- framing and copies (issue 14)

/// G2: with `hide_credentials` (the default), every copy of the key the plugin reads is removed, whichever
/// authenticated: the header and the query parameter.
#[test]
fn g2_a_key_sent_in_the_header_and_the_query_is_removed_from_both() {
    let cfg = config(
        json!({}),
        json!([]),
        json!({"key-auth": {}}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("k1")}}}]),
    );
    let e = engine(&cfg);
    let out = run(&e, "/x?apikey=k1&q=1", &[("apikey", "k1")]);
    assert_eq!(out.status, 200);
    assert_eq!(out.consumer.as_deref(), Some("jack"));
    assert_eq!(out.path.as_deref(), Some("/x?q=1"));
    assert!(out.edits.contains(&remove("apikey")), "{:?}", out.edits);
    // The query copy authenticates: the header is removed too (it might carry another key).
    let out = run(&e, "/x?apikey=k1", &[("apikey", "someone-else")]);
    assert_eq!(out.status, 401, "the header is read first");
    let out = run(&e, "/x?apikey=k1", &[]);
    assert_eq!((out.status, out.path.as_deref()), (200, Some("/x")));
    assert!(out.edits.contains(&remove("apikey")));
}

/// Issue 14: no config may write a header that frames the message (request smuggling through a pooled
/// upstream connection, a desynced client), an empty header value (the dynamic module cannot set one), a
/// `regex_uri` replacement that is not a path, or a `response-rewrite` status that never has a body.
#[test]
fn g2_edits_that_would_break_http_framing_are_config_errors_with_their_path() {
    for (plugin, conf, path) in [
        (
            "proxy-rewrite",
            json!({"headers": {"set": {"content-length": "0"}}}),
            "set.content-length",
        ),
        (
            "proxy-rewrite",
            json!({"headers": {"add": {"Transfer-Encoding": "chunked"}}}),
            "add.Transfer-Encoding",
        ),
        (
            "proxy-rewrite",
            json!({"headers": {"remove": ["connection"]}}),
            "remove[0]",
        ),
        (
            "response-rewrite",
            json!({"headers": {"set": {"transfer-encoding": "chunked"}}}),
            "set.transfer-encoding",
        ),
        (
            "response-rewrite",
            json!({"headers": {"set": {"upgrade": "h2c"}}}),
            "set.upgrade",
        ),
        (
            "proxy-rewrite",
            json!({"headers": {"set": {"x-a": ""}}}),
            "set.x-a",
        ),
    ] {
        let errs = errors(&config(json!({}), json!([]), json!({plugin: conf}), json!([])));
        let want = format!("apis[0].routes[0].plugins.{plugin}.headers.{path}");
        assert!(errs.iter().any(|(p, _)| *p == want), "{want}: {errs:?}");
    }
    for replacement in ["no-slash/$1", "/a b/$1", "/a#frag", "/x?y=1"] {
        let errs = errors(&config(
            json!({}),
            json!([]),
            json!({"proxy-rewrite": {"regex_uri": ["^/(.*)", replacement]}}),
            json!([]),
        ));
        assert!(
            errs.iter()
                .any(|(p, _)| p == "apis[0].routes[0].plugins.proxy-rewrite.regex_uri[1]"),
            "{replacement}: {errs:?}"
        );
    }
    for status in [204, 304, 101] {
        let errs = errors(&config(
            json!({}),
            json!([]),
            json!({"response-rewrite": {"status_code": status}}),
            json!([]),
        ));
        assert!(
            errs.iter()
                .any(|(p, _)| p == "apis[0].routes[0].plugins.response-rewrite.status_code"),
            "{status}: {errs:?}"
        );
    }
}

/// Issue 14: the cluster header may not be a header the request needs or its framing.
#[test]
fn the_cluster_header_cannot_name_framing_host_or_credential_headers() {
    for name in [
        "content-length",
        "Transfer-Encoding",
        "host",
        "cookie",
        "apikey",
        "authorization",
    ] {
        let mut cfg = config(json!({}), json!([]), json!({}), json!([]));
        cfg["cluster_header"] = json!(name);
        let errs = errors(&cfg);
        assert!(
            errs.iter().any(|(p, _)| p == "cluster_header"),
            "{name}: {errs:?}"
        );
    }
}

/// G2: `regex_uri`'s per-request cost is bounded at configure time: at most 32 groups, at most 32 `$` in
/// the replacement (the new path is at most 33 × the old one), at most 256 NFA states.
#[test]
fn g2_regex_uri_groups_references_and_size_are_bounded() {
    let route = |pattern: String, replacement: String| json!({"proxy-rewrite": {"regex_uri": [pattern, replacement]}});
    for (plugins, field, needle) in [
        (
            route("()".repeat(33), "/x".into()),
            "regex_uri[0]",
            "33 capture groups",
        ),
        (
            route("^/(.*)".into(), format!("/{}", "$1".repeat(33))),
            "regex_uri[1]",
            "at most 32 `$`",
        ),
        (
            route(".{100}".into(), "/x".into()),
            "regex_uri[0]",
            "regex too big",
        ),
    ] {
        let errs = errors(&config(json!({}), json!([]), plugins, json!([])));
        let path = format!("apis[0].routes[0].plugins.proxy-rewrite.{field}");
        assert!(
            errs.iter().any(|(p, m)| *p == path && m.contains(needle)),
            "{path} / {needle}: {errs:?}"
        );
    }
}
