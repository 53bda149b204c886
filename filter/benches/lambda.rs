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

use std::hint::black_box;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use routewise::lambda::{unwrap_response, unwrap_response_into, InvokeResponse, PayloadFormat, Unwrapped};

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

criterion_group!(benches, bench);
criterion_main!(benches);
