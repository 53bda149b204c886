//! `host-sim replay CASE.json` on the fixture cases in tests/cases (with the test filter).

mod common;

use std::process::Command;

use serde_json::Value;

fn replay(case: &str) -> (i32, Value) {
    common::test_filter(); // fails with the build command when the .wasm is missing
    let path = format!("{}/tests/cases/{case}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_host-sim"))
        .args(["replay", &path])
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn a_completed_exchange_prints_the_upstream_request_response_logs_properties_and_metrics() {
    let (code, r) = replay("rewrite.json");
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["upstream_request"]["path"], "/v2/pets?limit=1");
    let headers = r["upstream_request"]["headers"].as_array().unwrap();
    assert!(headers.contains(&serde_json::json!(["x-routewise-cluster", "pets-v2"])));
    assert_eq!(r["response"]["status"], 200);
    assert_eq!(r["response"]["body"], "{\"pets\":[]}");
    assert_eq!(r["response"]["body_base64"], Value::Null);
    assert_eq!(r["local_reply"], false);
    assert_eq!(r["properties"]["routewise.rule_id"], "pets");
    assert_eq!(r["metrics"]["requests_total"], 1);
    assert_eq!(r["logs"][0], serde_json::json!(["info", "configured"]));
    assert_eq!(r["trap"], Value::Null);
}

#[test]
fn a_local_reply_has_no_upstream_request() {
    let (code, r) = replay("local_reply.json");
    assert_eq!(code, 0);
    assert_eq!(r["upstream_request"], Value::Null);
    assert_eq!(r["local_reply"], true);
    assert_eq!(r["response"]["status"], 403);
}

#[test]
fn a_rejected_configuration_exits_1() {
    let (code, r) = replay("rejected.json");
    assert_eq!(code, 1);
    assert_eq!(r["configure_rejected"], true);
    assert!(r["error"].as_str().unwrap().contains("rejected"));
    assert_eq!(
        r["logs"].as_array().unwrap().last().unwrap()[1],
        "configuration rejected as asked"
    );
}

#[test]
fn a_trap_exits_1_with_the_panic_message() {
    let (code, r) = replay("trap.json");
    assert_eq!(code, 1);
    assert!(
        r["trap"]
            .as_str()
            .unwrap()
            .contains("test-filter panics in request_headers as configured"),
        "{r:#}"
    );
    assert_eq!(r["response"], Value::Null);
}

#[test]
fn binary_bodies_are_reported_in_base64() {
    let (code, r) = replay("binary_body.json");
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["response"]["status"], 201);
    assert_eq!(r["response"]["body_base64"], "/w==");
    assert_eq!(r["upstream_request"]["body_base64"], "AAEC/w==");
}

#[test]
fn a_stall_in_default_envoy_exits_1() {
    let (code, r) = replay("stalled.json");
    assert_eq!(code, 1);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("allow_on_headers_stop_iteration"),
        "{r:#}"
    );
}

#[test]
fn a_missing_module_or_bad_usage_exits_2() {
    let dir = std::env::temp_dir().join(format!("host-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let case = dir.join("case.json");
    std::fs::write(&case, r#"{"wasm": "/nonexistent/x.wasm", "request": {}}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_host-sim"))
        .args(["replay", case.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["error"].as_str().unwrap().contains("/nonexistent/x.wasm"));
    let out = Command::new(env!("CARGO_BIN_EXE_host-sim")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: host-sim replay CASE.json"));
}
