//! evaluate() at 10, 1,000 and 10,000 rules and routes, shaped like shared/bench-baseline.md's native Envoy
//! configs so the numbers compare: rule k = base path `svc<k>` AND `x-tenant` with a matcher rotating
//! exact / prefix / suffix / contains, plus for odd k a second header `x-env`; then a catch-all rule. The
//! API the rules select has one route per k (`/svc<k>/api` exact, `/svc<k>/{id}` template, `/svc<k>/*`
//! prefix, rotating). Targets: first (k = 0), middle (k = N/2), last (k = N-1), catchall (no rule but the
//! catch-all matches), and `nomatch` (no rule at all in a rules-only domain without catch-all: 403).
//! `headers-only` drops the base paths, so every rule is found through the header indexes (globset holds
//! the N/4 contains globs).
//!
//! Run: `cargo bench -p routewise --bench routing -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use routewise::decision::Decision;
use routewise::engine::Engine;
use routewise::request::RequestView;
use serde_json::{json, Value};

fn tenant_glob(k: usize) -> String {
    match k % 4 {
        0 => format!("tenant-{k}"),
        1 => format!("tenant-{k}-*"),
        2 => format!("*-{k}.example.com"),
        _ => format!("*.{k}.*"),
    }
}

fn tenant_value(k: usize) -> String {
    match k % 4 {
        0 => format!("tenant-{k}"),
        1 => format!("tenant-{k}-x"),
        2 => format!("a-{k}.example.com"),
        _ => format!("zone.{k}.eu"),
    }
}

fn env_glob(k: usize) -> &'static str {
    ["prod", "prod-*", "*-prod", "*prod*"][k % 4]
}

fn env_value(k: usize) -> &'static str {
    ["prod", "prod-1", "eu-prod", "eu-prod-1"][k % 4]
}

fn config(n: usize, base_paths: bool, catch_all: bool) -> String {
    let mut rules = Vec::with_capacity(n + 1);
    for k in 0..n {
        let mut headers = vec![json!({"header": "x-tenant", "value_glob": tenant_glob(k)})];
        if k % 2 == 1 {
            headers.push(json!({"header": "x-env", "value_glob": env_glob(k)}));
        }
        let mut conditions = json!({"headers": headers});
        if base_paths {
            conditions["base_path"] = json!(format!("svc{k}"));
        }
        rules.push(
            json!({"id": format!("r{k}"), "priority": k + 1, "conditions": conditions,
                          "action": {"invoke_api": {"api": "svc", "stage": "prod"}}}),
        );
    }
    if catch_all {
        rules.push(json!({"id": "catchall", "priority": n + 1,
                          "action": {"invoke_api": {"api": "fallback", "stage": "prod"}}}));
    }
    let routes: Vec<Value> = (0..n)
        .map(|k| match k % 3 {
            0 => json!({"id": format!("rt{k}"), "paths": [format!("/svc{k}/api")]}),
            1 => json!({"id": format!("rt{k}"), "key": format!("GET /svc{k}/{{id}}")}),
            _ => json!({"id": format!("rt{k}"), "paths": [format!("/svc{k}/*")]}),
        })
        .collect();
    json!({
        "domains": [{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rules}],
        "apis": [
            {"id": "svc", "stages": {"prod": {"integration": {"type": "http", "cluster": "svc"}}}, "routes": routes},
            {"id": "fallback", "stages": {"prod": {"integration": {"type": "http", "cluster": "fallback"}}}}
        ]
    })
    .to_string()
}

struct Target {
    name: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    expect: &'static str,
}

fn targets(n: usize, catch_all: bool) -> Vec<Target> {
    let hit = |name, k: usize| {
        let mut headers = vec![("x-tenant".to_string(), tenant_value(k))];
        if k % 2 == 1 {
            headers.push(("x-env".to_string(), env_value(k).to_string()));
        }
        // Common request headers Envoy passes along, so header iteration is realistic.
        for (h, v) in [
            (":method", "GET"),
            (":authority", "api.example.com"),
            ("user-agent", "wrk"),
            ("accept", "*/*"),
        ] {
            headers.push((h.to_string(), v.to_string()));
        }
        Target {
            name,
            path: format!("/svc{k}/api"),
            headers,
            expect: "svc",
        }
    };
    let other = Target {
        name: if catch_all { "catchall" } else { "nomatch" },
        path: "/other/api".into(),
        headers: vec![
            ("x-tenant".into(), "nobody".into()),
            ("x-env".into(), "prod".into()),
            ("user-agent".into(), "wrk".into()),
        ],
        expect: if catch_all { "fallback" } else { "403" },
    };
    vec![hit("first", 0), hit("middle", n / 2), hit("last", n - 1), other]
}

fn outcome(d: &Decision<'_>) -> String {
    match d {
        Decision::Forward(f) => f.cluster.to_string(),
        Decision::LocalReply(r) => r.status.to_string(),
    }
}

fn bench_evaluate(c: &mut Criterion) {
    for (variant, base_paths, catch_all) in [("rules", true, true), ("headers-only", false, false)] {
        let mut group = c.benchmark_group(format!("evaluate/{variant}"));
        for n in [10usize, 1_000, 10_000] {
            let text = config(n, base_paths, catch_all);
            let started = Instant::now();
            let engine = match Engine::from_json(&text) {
                Ok(e) => e,
                Err(e) => panic!("bench config rejected: {e}"),
            };
            eprintln!(
                "{variant} n={n}: configure (parse + validate + index) {:.1} ms; {}",
                started.elapsed().as_secs_f64() * 1e3,
                engine.summary()
            );
            for t in targets(n, catch_all) {
                let view = RequestView {
                    method: "GET",
                    authority: "api.example.com",
                    path: &t.path,
                    headers: &t.headers,
                    remote_addr: Some("10.0.0.1:40000"),
                };
                let got = outcome(&engine.evaluate(&view));
                assert_eq!(got, t.expect, "{variant} n={n} {}", t.name);
                group.bench_with_input(BenchmarkId::new(t.name, n), &view, |b, view| {
                    b.iter(|| black_box(engine.evaluate(black_box(view))))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench_evaluate);
criterion_main!(benches);
