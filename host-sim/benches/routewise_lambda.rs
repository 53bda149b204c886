//! The Lambda path of routewise.wasm through host-sim (issue "AWS Lambda": unwrap cost through the VM),
//! next to an HTTP route carrying a body of the same size, for 1 KB, 100 KB and 5 MB:
//! - `http/SIZE`: an HTTP integration; the upstream answers SIZE bytes of text, which pass through the
//!   filter's response callbacks (what any proxied response costs in the VM);
//! - `lambda/SIZE`: a Lambda integration (format 2.0); the Invoke call is answered with
//!   `{"statusCode":200,"headers":{..},"body":"<SIZE bytes>"}`: the event is built, the call made, the
//!   payload unwrapped (U3-U12) and sent as the reply.
//!
//! Build the module first: `scripts/build-modules` (or `cargo build --profile wasm --target wasm32-wasip1 -p
//! routewise --lib`). Run: `cargo bench -p host-sim --bench routewise_lambda -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use host_sim::{HttpCallReply, Plugin, Request, Response};
use serde_json::json;

fn text(len: usize) -> String {
    (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

fn lambda_path(c: &mut Criterion) {
    let plugin = Plugin::routewise().unwrap_or_else(|e| {
        panic!(
            "{e}\nbuild it with: cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm"
        )
    });
    let config = json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "fn", "stage": "prod"}]}],
        "apis": [
            {"id": "fn", "routes": [
                {"id": "lambda", "key": "GET /fn/{proxy+}",
                 "integration": {"type": "lambda", "cluster": "lambda", "payload_format_version": "2.0"}},
                {"id": "http", "key": "GET /http/{proxy+}"}],
             "stages": {"prod": {"integration": {"type": "http", "cluster": "backend"}}}}]
    });
    let new_sim = || {
        plugin
            .sim()
            .config_json(&config)
            .allow_on_headers_stop_iteration(true)
            .start()
            .expect("configured")
    };
    let mut group = c.benchmark_group("routewise_lambda");
    for (name, size) in [("1KB", 1024), ("100KB", 100 * 1024), ("5MB", 5 * 1024 * 1024)] {
        group.throughput(Throughput::Bytes(size as u64));
        let body = text(size);

        let mut sim = new_sim();
        let upstream = Response::ok()
            .header("content-type", "text/plain")
            .body(body.clone());
        group.bench_with_input(BenchmarkId::new("http", name), &size, |b, _| {
            b.iter(|| {
                let ex = sim
                    .send(Request::get("/http/x"), upstream.clone())
                    .expect("exchange");
                assert_eq!(ex.response.as_ref().map(|r| r.body.len()), Some(size));
                black_box(ex);
                sim.clear_logs();
            })
        });

        let mut sim = new_sim();
        let payload =
            json!({"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": body}).to_string();
        let reply = HttpCallReply::Response(
            Response::ok()
                .header("content-type", "application/json")
                .header("x-amzn-requestid", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
                .body(payload),
        );
        sim.on_http_call(move |_| reply.clone()).expect("handler");
        group.bench_with_input(BenchmarkId::new("lambda", name), &size, |b, _| {
            b.iter(|| {
                let ex = sim
                    .send(Request::get("/fn/x"), Response::new(599))
                    .expect("exchange");
                assert_eq!(ex.response.as_ref().map(|r| r.body.len()), Some(size));
                black_box(ex);
                sim.clear_logs();
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = lambda_path
}
criterion_main!(benches);
