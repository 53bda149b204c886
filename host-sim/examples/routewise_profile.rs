//! Per-callback timing of routewise.wasm under host-sim (wasmtime/Cranelift, not Envoy's V8: absolute
//! numbers differ, the split between callbacks and how it moves with N is what this shows). Same rule shape
//! as scripts/bench.py and filter/benches/routing.rs.
//!
//! `cargo run --release -p host-sim --example routewise_profile [-- N...]`
//! (ROUTEWISE_WASM=/path/x.wasm picks the module; default target/wasm32-wasip1/wasm/routewise.wasm)

use std::time::{Duration, Instant};

use host_sim::{Plugin, Request, Response};
use serde_json::{json, Value};

fn tenant(k: usize) -> (String, String) {
    match k % 4 {
        0 => (format!("tenant-{k}"), format!("tenant-{k}")),
        1 => (format!("tenant-{k}-*"), format!("tenant-{k}-x")),
        2 => (format!("*-{k}.example.com"), format!("a-{k}.example.com")),
        _ => (format!("*.{k}.*"), format!("zone.{k}.eu")),
    }
}

fn env(k: usize) -> (&'static str, &'static str) {
    [
        ("prod", "prod"),
        ("prod-*", "prod-1"),
        ("*-prod", "eu-prod"),
        ("*prod*", "eu-prod-1"),
    ][k % 4]
}

fn config(n: usize) -> Value {
    let mut rules: Vec<Value> = (0..n)
        .map(|k| {
            let mut headers = vec![json!({"header": "x-tenant", "value_glob": tenant(k).0})];
            if k % 2 == 1 {
                headers.push(json!({"header": "x-env", "value_glob": env(k).0}));
            }
            json!({"id": format!("r{k}"), "priority": k + 1,
                   "conditions": {"base_path": format!("svc{k}"), "headers": headers},
                   "action": {"invoke_api": {"api": "svc", "stage": "prod"}}})
        })
        .collect();
    rules.push(json!({"id": "catchall", "priority": n + 1, "action": {"invoke_api": {"api": "fallback", "stage": "prod"}}}));
    json!({
        "domains": [{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rules}],
        "apis": [
            {"id": "svc", "stages": {"prod": {"integration": {"type": "http", "cluster": "svc"}}}},
            {"id": "fallback", "stages": {"prod": {"integration": {"type": "http", "cluster": "fallback"}}}}
        ]
    })
}

fn request(n: usize, target: &str) -> Request {
    let k = match target {
        "first" => 0,
        "middle" => n / 2,
        "last" => n - 1,
        _ => {
            return Request::get("/other7/api")
                .authority("127.0.0.1:10000")
                .header("x-tenant", "nobody")
                .header("x-env", "prod")
        }
    };
    let mut r = Request::get(&format!("/svc{k}/api"))
        .authority("127.0.0.1:10000")
        .header("x-tenant", &tenant(k).1);
    if k % 2 == 1 {
        r = r.header("x-env", env(k).1);
    }
    r
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![10, 1_000, 10_000]
    } else {
        sizes
    };
    let plugin = Plugin::routewise()?;
    println!("| N | target | request headers (create + on_request_headers) | response + stream end (on_delete; log/done only if exported) | whole exchange |");
    println!("|--:|---|--:|--:|--:|");
    for n in sizes {
        let t = Instant::now();
        let mut sim = plugin
            .sim()
            .config_json(&config(n))
            .allow_on_headers_stop_iteration(true)
            .start()?;
        eprintln!(
            "N={n}: start + on_configure {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        for target in ["first", "middle", "last", "catchall"] {
            let iters = 20_000u32;
            let (mut req_t, mut rest_t) = (Duration::ZERO, Duration::ZERO);
            for i in 0..iters + 2_000 {
                let t0 = Instant::now();
                let id = sim.begin(request(n, target))?;
                let t1 = Instant::now();
                sim.respond(id, Response::ok())?;
                let ex = sim.finish(id)?;
                let t2 = Instant::now();
                if i == 0 {
                    let want = match target {
                        "first" => "r0".to_string(),
                        "middle" => format!("r{}", n / 2),
                        "last" => format!("r{}", n - 1),
                        _ => "catchall".to_string(),
                    };
                    assert_eq!(
                        ex.property("routewise.rule_id").as_deref(),
                        Some(want.as_str()),
                        "N={n} {target}"
                    );
                }
                sim.clear_logs();
                if i >= 2_000 {
                    req_t += t1 - t0;
                    rest_t += t2 - t1;
                }
            }
            let us = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(iters);
            println!(
                "| {n} | {target} | {:.2} µs | {:.2} µs | {:.2} µs |",
                us(req_t),
                us(rest_t),
                us(req_t + rest_t)
            );
        }
    }
    Ok(())
}
