//! Plugins (routing.md G1, G2) through the real filter `.wasm` in host-sim.
//! Needs `cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm` first (or $ROUTEWISE_WASM).

mod common;

use host_sim::{Error, Exchange, Plugin, Request, Response, Sim};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One API behind `*`; route `r` on `/{proxy+}` with `route_plugins`, route `other` on `/other/{proxy+}`
/// with `other_plugins`, both in service `s` when `service_plugins` is given.
fn config(
    service_plugins: Option<Value>,
    route_plugins: Value,
    other_plugins: Value,
    consumers: Value,
) -> Value {
    let service = service_plugins.as_ref().map(|_| json!("s"));
    json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a",
                  "stages": {"prod": {"integration": {"type": "http", "cluster": "backend"}}},
                  "services": service_plugins.map(|p| json!([{"id": "s", "plugins": p}])).unwrap_or(json!([])),
                  "routes": [
                      {"id": "r", "key": "ANY /{proxy+}", "plugins": route_plugins, "service": service},
                      {"id": "other", "key": "ANY /other/{proxy+}", "plugins": other_plugins, "service": service}]}],
        "consumers": consumers,
    })
}

fn sim(cfg: &Value) -> Sim {
    common::routewise_sim(cfg)
}

fn send(sim: &mut Sim, req: Request) -> Exchange {
    sim.send(req.authority("api.example.com"), Response::ok().body("ok"))
        .expect("exchange")
}

fn regression_route() -> Value {
    json!({"key-auth": {}, "proxy-rewrite": {"headers": {"add": {"x-test": "123"}}}})
}

#[test]
fn g1_apisix_regression_consumer_with_credentials_only_upstream_sees_one_x_test() {
    // APISIX: key-auth + proxy-rewrite adding `x-test: 123` on a route ran the rewrite twice (`123123`).
    let mut sim = sim(&config(
        None,
        regression_route(),
        json!({}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("jack-key")}}}]),
    ));
    let ex = send(&mut sim, Request::get("/pets").header("apikey", "jack-key"));
    assert_eq!(ex.status(), 200);
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.headers.get_all("x-test"), ["123"]);
    assert_eq!(up.header("apikey"), None, "the credential is removed");
    assert_eq!(ex.property("routewise.consumer").as_deref(), Some("jack"));
    assert_eq!(
        ex.property("routewise.plugins").as_deref(),
        Some("key-auth:route,proxy-rewrite:route")
    );
    // G1: a second request through the same VM is not affected by the first.
    let ex = send(&mut sim, Request::get("/pets").header("apikey", "jack-key"));
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.headers.get_all("x-test"), ["123"]);
}

#[test]
fn g1_apisix_regression_consumer_with_plugins_upstream_sees_one_x_test() {
    let mut sim = sim(&config(
        None,
        regression_route(),
        json!({}),
        json!([{"username": "jack", "plugins": {
            "key-auth": {"key_sha256": sha("jack-key")},
            "response-rewrite": {"headers": {"set": {"x-consumer": "jack"}}}}}]),
    ));
    let ex = send(&mut sim, Request::get("/pets").header("apikey", "jack-key"));
    assert_eq!(ex.status(), 200);
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.headers.get_all("x-test"), ["123"]);
    let resp = ex.response.as_ref().expect("a response");
    assert_eq!(resp.headers.get_all("x-consumer"), ["jack"]);
    assert_eq!(
        ex.property("routewise.plugins").as_deref(),
        Some("key-auth:route,proxy-rewrite:route,response-rewrite:consumer")
    );
}

#[test]
fn g1_consumer_proxy_rewrite_overrides_the_routes() {
    let mut sim = sim(&config(
        None,
        regression_route(),
        json!({}),
        json!([
            {"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("jack-key")},
             "proxy-rewrite": {"uri": "/jack", "headers": {"add": {"x-test": "456"}}}}},
            {"username": "jill", "plugins": {"key-auth": {"key_sha256": sha("jill-key")}}}]),
    ));
    let ex = send(&mut sim, Request::get("/pets?x=1").header("apikey", "jack-key"));
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.headers.get_all("x-test"), ["456"]);
    assert_eq!(up.path, "/jack?x=1");
    assert_eq!(
        ex.property("routewise.plugins").as_deref(),
        Some("key-auth:route,proxy-rewrite:consumer")
    );
    let ex = send(&mut sim, Request::get("/pets").header("apikey", "jill-key"));
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.headers.get_all("x-test"), ["123"]);
    assert_eq!(up.path, "/pets");
}

#[test]
fn g1_service_plugins_are_inherited_and_overridden() {
    let mut sim = sim(&config(
        Some(
            json!({"proxy-rewrite": {"headers": {"set": {"x-from": "service"}}},
                    "response-rewrite": {"status_code": 202}}),
        ),
        json!({}),
        json!({"proxy-rewrite": {"host": "internal.example", "headers": {"set": {"x-from": "route"}}}}),
        json!([]),
    ));
    let ex = send(&mut sim, Request::get("/pets").header("x-from", "client"));
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.headers.get_all("x-from"), ["service"]);
    assert_eq!(ex.status(), 202, "response-rewrite from the service");
    assert_eq!(
        ex.property("routewise.plugins").as_deref(),
        Some("proxy-rewrite:service,response-rewrite:service")
    );
    assert_eq!(ex.property("routewise.consumer").as_deref(), Some("-"));

    let ex = send(&mut sim, Request::get("/other/x"));
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.headers.get_all("x-from"), ["route"]);
    assert_eq!(up.header(":authority"), Some("internal.example"));
    assert_eq!(ex.status(), 202);
    assert_eq!(
        ex.property("routewise.plugins").as_deref(),
        Some("proxy-rewrite:route,response-rewrite:service")
    );
}

#[test]
fn g2_missing_or_unknown_key_is_401_and_the_key_is_never_shown() {
    let mut sim = sim(&config(
        None,
        json!({"key-auth": {"query": "key"}}),
        json!({}),
        json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha("jack-key")}}}]),
    ));
    for req in [
        Request::get("/pets"),
        Request::get("/pets").header("apikey", "wrong-secret"),
        Request::get("/pets?key=wrong-secret"),
    ] {
        let ex = send(&mut sim, req);
        assert_eq!(ex.status(), 401);
        assert!(ex.upstream_request.is_none());
        let resp = ex.response.as_ref().expect("a reply");
        assert_eq!(resp.body, br#"{"message":"Unauthorized"}"#);
        assert_eq!(ex.property("routewise.outcome").as_deref(), Some("unauthorized"));
        // The access log can tell which route refused it (R11 filter state); no consumer was identified.
        assert_eq!(ex.property("routewise.route_id").as_deref(), Some("r"));
        assert_eq!(
            ex.property("routewise.route_key").as_deref(),
            Some("ANY /{proxy+}")
        );
        assert_eq!(ex.property("routewise.consumer"), None);
        for (k, v) in &ex.properties {
            assert!(
                !String::from_utf8_lossy(v).contains("wrong-secret"),
                "{k} shows the key"
            );
        }
    }
    // The query credential is removed before forwarding.
    let ex = send(&mut sim, Request::get("/pets?a=1&key=jack-key"));
    assert_eq!(ex.status(), 200);
    let up = ex.upstream_request.as_ref().expect("reached the upstream");
    assert_eq!(up.path, "/pets?a=1");
    for l in sim.logs() {
        assert!(
            !l.message.contains("jack-key") && !l.message.contains("wrong-secret"),
            "{l:?}"
        );
    }
    for name in sim.metrics().keys() {
        assert!(
            !name.contains("jack-key") && !name.contains("wrong-secret"),
            "{name}"
        );
    }
}

#[test]
fn g2_invalid_plugin_config_is_rejected_naming_the_field() {
    let cfg = config(
        None,
        json!({"proxy-rewrite": {"regex_uri": ["(", "/x"]}, "rate-limit": {}}),
        json!({}),
        json!([]),
    );
    let err = Plugin::routewise()
        .expect("routewise.wasm")
        .sim()
        .config_json(&cfg)
        .start()
        .err()
        .expect("rejected");
    let Error::ConfigureRejected { logs } = err else {
        panic!("expected ConfigureRejected, got {err:?}");
    };
    let text: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        text.iter()
            .any(|l| l.starts_with("apis[0].routes[0].plugins.proxy-rewrite.regex_uri[0]:")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|l| l.starts_with("apis[0].routes[0].plugins.rate-limit:") && l.contains("unknown plugin")),
        "{text:#?}"
    );
}
