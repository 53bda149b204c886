//! Lambda response streaming (issue 15; README "Lambda response streaming") in a real Envoy 1.40: a config
//! with `response_transfer_mode: "STREAM"` is refused at configure time by each build, with the
//! integration's field path and the reason in Envoy's log, and Envoy (FAIL_CLOSED) does not start.
//!
//! Needs a Docker engine and the image (`scripts/setup`); the module is built on first use.

use routewise_tests::envoy::log_excerpt as filter_lines;
use routewise_tests::envoy::Build;
use routewise_tests::Envoy;
use serde_json::json;

fn stream_config() -> String {
    json!({
        "domains": [{"name": "*", "api_mappings": [{"id": "m", "base_path": "", "api": "pets", "stage": "prod"}]}],
        "apis": [{"id": "pets", "routes": [{"key": "GET /stream", "integration": {
            "type": "lambda", "cluster": "lambda_stream", "response_transfer_mode": "STREAM",
            "function_name": "arn:aws:lambda:us-east-1:123456789012:function:pets:live"}}],
                  "stages": {"prod": {}}}]
    })
    .to_string()
}

/// The .wasm cannot stream (proxy-wasm-host.md §1: a call's answer arrives whole, a local reply is one
/// piece): refused at configure time with the path and why, and Envoy (FAIL_CLOSED) does not start.
#[test]
fn wasm_refuses_stream_at_configure_time_with_the_path_and_the_reason() {
    let build = Build::Wasm;
    let refused = Envoy::start_expecting_refusal(build, &stream_config());
    assert_ne!(refused.exit_code, Some(0), "Envoy must not exit cleanly");
    let log = &refused.log;
    assert!(
        log.contains("routewise: configuration rejected (1 error):"),
        "{}",
        filter_lines(log)
    );
    let path = "apis[0].routes[0].integration.response_transfer_mode: \"STREAM\" is not supported by the";
    let reason = "proxy-wasm build: proxy-wasm delivers an http call's response only once it is complete \
                  (proxy_on_http_call_response) and sends a local reply in one piece (proxy_send_local_response)";
    assert!(
        log.lines().any(|l| l.contains(path) && l.contains(reason)),
        "no line `{path} {reason}`:\n{}",
        filter_lines(log)
    );
    assert!(log.contains(build.refusal_line()), "{}", filter_lines(log));
}
