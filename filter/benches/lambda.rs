//! Cost of unwrapping a Lambda answer (U3-U12) next to a plain copy of a body of the same size.
//!
//! `cargo bench -p routewise --bench lambda -- --warm-up-time 1 --measurement-time 3`
//!
//! Per body size (1 KB, 100 KB, 5 MB), in one group so that the numbers sit side by side:
//! - `copy`: `body.to_vec()`, a fresh allocation, as the floor any unwrap must pay;
//! - `unwrap_plain` / `unwrap_base64`: [`unwrap_response`] on `{"statusCode":200,"headers":{..},"body":".."}`
//!   whose body is that many bytes of text, or that many random bytes base64-encoded
//!   (`isBase64Encoded: true`), into a fresh [`Unwrapped`];
//! - `unwrap_*_into`: the same with a reused [`Unwrapped`] (what an adapter keeping one per root
//!   context pays).
//!
//! And, for the request side, `lambda_event/5MB`: [`build_event_into`] (2.0, reused buffer) for a 5 MB
//! text body (`application/json`, sent as a JSON string) and a 5 MB binary body (base64), beside `copy`.

use std::hint::black_box;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use routewise::lambda::{
    build_event_into, unwrap_response, unwrap_response_into, EventRequest, InvokeResponse, PayloadFormat,
    Unwrapped,
};

const LIMIT: u64 = 8 * 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift), so runs compare.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Printable ASCII text without characters JSON escapes (the common case: HTML, JSON-in-a-string
/// aside).
fn text(len: usize) -> String {
    let line = "The quick brown fox jumps over the lazy dog; 0123456789 <p>lorem ipsum</p> ";
    line.chars().cycle().take(len).collect()
}

fn payload(body: &str, base64: bool) -> Vec<u8> {
    format!(
        r#"{{"statusCode":200,"headers":{{"content-type":"text/html; charset=utf-8","x-request-id":"abc"}},"multiValueHeaders":{{"set-cookie":["a=1","b=2"]}},"body":"{body}","isBase64Encoded":{base64}}}"#
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let upstream_headers: Vec<(String, String)> = vec![
        (
            "x-amzn-requestid".into(),
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        ),
        ("x-amz-executed-version".into(), "$LATEST".into()),
        ("content-type".into(), "application/json".into()),
    ];
    for (label, size) in [
        ("1KB", 1024usize),
        ("100KB", 100 * 1024),
        ("5MB", 5 * 1024 * 1024),
    ] {
        let plain_body = text(size);
        let plain = payload(&plain_body, false);
        let raw = random_bytes(size);
        let b64 = payload(&base64::engine::general_purpose::STANDARD.encode(&raw), true);

        // Sanity: the bench measures the successful path and the body it claims.
        for (p, want) in [(&plain, plain_body.as_bytes()), (&b64, raw.as_slice())] {
            let resp = InvokeResponse {
                status: 200,
                headers: &upstream_headers,
                body: p,
            };
            let out = unwrap_response(PayloadFormat::V2, &resp, LIMIT);
            assert!(out.status == 200 && out.body == want, "{label}: {:?}", out.reason);
        }

        let mut group = c.benchmark_group(format!("lambda_unwrap/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 1024 * 1024 {
            group.sample_size(20);
        }
        group.bench_function("copy", |b| {
            b.iter(|| black_box(black_box(plain_body.as_bytes()).to_vec()))
        });
        for (name, p) in [("unwrap_plain", &plain), ("unwrap_base64", &b64)] {
            let resp = InvokeResponse {
                status: 200,
                headers: &upstream_headers,
                body: p,
            };
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| black_box(unwrap_response(PayloadFormat::V2, black_box(&resp), LIMIT)))
            });
            let mut out = Unwrapped::default();
            group.bench_function(BenchmarkId::from_parameter(format!("{name}_into")), |b| {
                b.iter(|| {
                    unwrap_response_into(PayloadFormat::V2, black_box(&resp), LIMIT, &mut out);
                    black_box(out.body.len())
                })
            });
        }
        group.finish();
    }
}

fn bench_event(c: &mut Criterion) {
    let size = 5 * 1024 * 1024;
    let text_body = text(size).into_bytes();
    let binary_body = random_bytes(size);
    let headers: Vec<(String, String)> = vec![
        (":authority".into(), "api.example.com".into()),
        ("content-type".into(), "application/json".into()),
        ("user-agent".into(), "bench".into()),
    ];
    let (params, vars) = (
        vec![("id".to_string(), "7".to_string())],
        std::collections::BTreeMap::new(),
    );
    let request = |body: &'static [u8], content_type: &'static str| EventRequest {
        method: "POST",
        raw_path: "/shop/pets/7",
        path: "/pets/7",
        query: "a=1&b=2",
        headers: &[],
        source_ip: "203.0.113.9",
        user_agent: Some("bench"),
        protocol: "HTTP/1.1",
        body,
        content_type: Some(content_type),
        route_key: "POST /pets/{id}",
        resource_path: "/pets/{id}",
        path_parameters: &[],
        stage: "prod",
        stage_variables: &vars,
        request_id: "r-1",
        domain_name: "api.example.com",
        api_id: "shop",
        request_time_epoch_ms: 1_583_348_638_390,
        caller: None,
    };
    let text_body: &'static [u8] = text_body.leak();
    let binary_body: &'static [u8] = binary_body.leak();
    let mut group = c.benchmark_group("lambda_event/5MB");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(20);
    group.bench_function("copy", |b| b.iter(|| black_box(black_box(text_body).to_vec())));
    let mut out = Vec::new();
    for (name, body, ct) in [
        ("event_text", text_body, "application/json"),
        ("event_base64", binary_body, "application/octet-stream"),
    ] {
        let req = EventRequest {
            headers: &headers,
            path_parameters: &params,
            ..request(body, ct)
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                build_event_into(PayloadFormat::V2, black_box(&req), LIMIT, &mut out).ok();
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_event);
criterion_main!(benches);
