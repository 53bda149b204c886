//! One full request/response cycle through a real SDK module (the test filter): context create, request
//! headers (with header mutations), upstream response headers and body, log/done/delete.
//! Build the module first: `cargo build --profile wasm --target wasm32-wasip1 -p host-sim-test-filter`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use host_sim::{Plugin, Request, Response};
use serde_json::json;

fn plugin() -> Plugin {
    let path = host_sim::workspace_root().join("target/wasm32-wasip1/wasm/host_sim_test_filter.wasm");
    Plugin::load(&path).unwrap_or_else(|e| {
        panic!(
            "{e}\nbuild it with: cargo build --profile wasm --target wasm32-wasip1 -p host-sim-test-filter"
        )
    })
}

fn roundtrip(c: &mut Criterion) {
    let plugin = plugin();
    let mut group = c.benchmark_group("roundtrip");

    let mut sim = plugin.sim().start().unwrap();
    group.bench_function("passthrough GET", |b| {
        b.iter(|| {
            let ex = sim
                .send(
                    Request::get("/pets?limit=1").header("x-version", "v2"),
                    Response::ok(),
                )
                .unwrap();
            black_box(ex);
            sim.clear_logs();
        })
    });

    let mut sim = plugin
        .sim()
        .config_json(&json!({
            "add_request_headers": [["x-routewise-cluster", "pets-v2"]],
            "set_path": "/v2/pets",
            "properties": [["routewise.rule_id", "pets"]],
            "metrics": true,
            "add_response_headers": [["x-filter", "1"]]
        }))
        .start()
        .unwrap();
    let upstream = Response::ok()
        .header("content-type", "application/json")
        .body(r#"{"pets":[{"id":1}]}"#);
    group.bench_function("rewrite + properties + metrics, JSON response", |b| {
        b.iter(|| {
            let ex = sim
                .send(
                    Request::get("/pets?limit=1")
                        .authority("api.example.com")
                        .header("x-version", "v2"),
                    upstream.clone(),
                )
                .unwrap();
            black_box(ex);
            sim.clear_logs();
        })
    });

    let mut sim = plugin
        .sim()
        .config_json(&json!({"pause_response_until_end": true, "response_status_at_end": 201, "replace_response_body": "{}"}))
        .allow_on_headers_stop_iteration(true)
        .start()
        .unwrap();
    let upstream = Response::ok().body(vec![b'x'; 4096]).chunked(&[1024, 1024, 1024]);
    group.bench_function("response buffered in 4 chunks and rewritten", |b| {
        b.iter(|| {
            let ex = sim
                .send(Request::post("/").body("payload"), upstream.clone())
                .unwrap();
            black_box(ex);
            sim.clear_logs();
        })
    });
    group.finish();

    c.bench_function("start VM (instantiate + configure, module cached)", |b| {
        b.iter(|| {
            black_box(
                plugin
                    .sim()
                    .config_json(&json!({"metrics": true}))
                    .start()
                    .unwrap(),
            )
        })
    });
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
