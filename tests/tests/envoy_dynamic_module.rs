//! What only the dynamic module can do wrong: crash Envoy. Every hook catches panics (`filter/dynamic-module`,
//! `hooks.rs`); here a real Envoy 1.40 runs a test-only build of the `.so` whose request-headers hook panics on
//! request (`x-routewise-fault: panic`, the `fault-injection` feature, never in the shipped module), and the
//! panic must be a logged 500 for that stream while Envoy and the next requests go on.

use routewise_tests::envoy::{fault_injection_module_dir, log_excerpt, Module};
use routewise_tests::{EchoUpstream, Envoy, Request};
use serde_json::json;

#[test]
fn a_panic_in_a_hook_is_a_logged_500_for_its_stream_and_envoy_serves_the_next_request() {
    let up = EchoUpstream::start("up");
    let config = json!({
        "domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "a", "stage": "s"}]}],
        "apis": [{"id": "a", "stages": {"s": {"integration": {"type": "http", "cluster": "up"}}}}],
    })
    .to_string();
    let envoy = Envoy::start_with_module(
        &config,
        &[&up],
        &Module::DynamicModule(fault_injection_module_dir()),
    );
    let ok = envoy.send(Request::get("/before").host("a.example"));
    assert_eq!(ok.status, 200, "{}", ok.text());

    for i in 0..3 {
        let resp = envoy.send(
            Request::get(&format!("/boom/{i}"))
                .host("a.example")
                .header("x-routewise-fault", "panic"),
        );
        assert_eq!(resp.status, 500, "{}\n{}", resp.text(), log_excerpt(&envoy.log()));
        assert_eq!(resp.json(), Some(json!({"message": "Internal Server Error"})));
        let entry = envoy.access_log_for(&resp);
        assert_eq!(entry["outcome"], "internal_error", "{entry}");
        assert_eq!(entry["details"], "routewise_internal_error", "{entry}");
        // The same connection's worker serves the next request as usual.
        let after = envoy.send(Request::get(&format!("/after/{i}")).host("a.example"));
        assert_eq!(after.status, 200, "{}", after.text());
        assert_eq!(
            up.requests().last().map(|r| r.path.clone()),
            Some(format!("/after/{i}"))
        );
    }
    let log = envoy.wait_log("routewise: internal error: a hook panicked; answering 500");
    assert!(
        log.contains("routewise: panicked: ") && log.contains("fault injected by x-routewise-fault: panic"),
        "{}",
        log_excerpt(&log)
    );
    assert!(
        !up.requests().iter().any(|r| r.path.starts_with("/boom")),
        "a panicked request reached the upstream"
    );
    envoy.wait_filter_stats(&[
        "routewise.requests.internal_error: 3",
        "routewise.requests.forwarded: 4",
    ]);
}
