//! What Envoy enters the VM for, per stream, through the real filter `.wasm` in host-sim.
//! Needs `cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm` first (or $ROUTEWISE_WASM).
//!
//! Issue 13: every callback the module exports is an entry into V8 for every stream, even when it does
//! nothing (cpp-host skips only the ones not exported), so routewise exports none it has no work for.

mod common;

use host_sim::{Exchange, Request, Response};
use serde_json::json;

/// Sends `request` through routewise configured with one API mapping to the `pets` cluster.
fn send(request: Request, response: Response) -> Exchange {
    let cfg = json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "stages": {"prod": {"integration": {"type": "http", "cluster": "pets"}}}}],
    });
    let mut sim = common::routewise_sim(&cfg);
    let ex = sim.send(request, response).expect("exchange");
    assert_eq!(ex.status(), 200);
    assert_eq!(
        ex.upstream_request
            .as_ref()
            .and_then(|u| u.header("x-routewise-cluster")),
        Some("pets")
    );
    ex
}

#[test]
fn a_routed_request_enters_the_vm_four_times() {
    // A response with a body and trailers: no entry for either, nor for the access log and done phases.
    let ex = send(
        Request::get("/pets/1").authority("api.example.com"),
        Response::ok()
            .body("{\"id\": 1}")
            .trailers([("grpc-status", "0")].into_iter().collect()),
    );
    assert_eq!(
        ex.callbacks,
        [
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_response_headers",
            "proxy_on_delete",
        ]
    );
}

#[test]
fn a_request_body_is_still_seen() {
    // The request body is read by Lambda integrations and body-reading plugins: proxy_on_request_body stays.
    let ex = send(
        Request::post("/pets").authority("api.example.com").body("{}"),
        Response::ok(),
    );
    assert_eq!(
        ex.callbacks,
        [
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_request_body",
            "proxy_on_response_headers",
            "proxy_on_delete",
        ]
    );
}
