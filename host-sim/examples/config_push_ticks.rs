//! How long each `proxy_on_tick` of routewise.wasm takes while it builds a pushed configuration (issue 13,
//! config push stall), under host-sim (wasmtime/Cranelift, not Envoy's V8: `scripts/ecds-stall` measures
//! the stall in Envoy). Same rule shape as scripts/bench.py (domains of 25,000 rules). Also times the same
//! configuration built in one piece (`proxy_on_configure` of a fresh VM), and the ticks that free it when
//! a 10-rule configuration replaces it.
//!
//! `cargo run --release -p host-sim --example config_push_ticks [-- [routes] N...]` (default 10000 100000;
//! `routes`: N routes in one API instead of N routing rules)

use std::time::{Duration, Instant};

use host_sim::{LogLevel, Plugin, Request, Response};
use serde_json::{json, Value};

const SHARD: usize = 25_000;
const ENV_GLOBS: [&str; 4] = ["prod", "prod-*", "*-prod", "*prod*"];

fn tenant_glob(k: usize) -> String {
    match k % 4 {
        0 => format!("tenant-{k}"),
        1 => format!("tenant-{k}-*"),
        2 => format!("*-{k}.example.com"),
        _ => format!("*.{k}.*"),
    }
}

/// scripts/bench.py's `routewise_config(n)`.
fn config(n: usize) -> Value {
    let domains = n.div_ceil(SHARD).max(1);
    let count = n.min(100_000 - domains);
    let mut rules: Vec<Vec<Value>> = vec![Vec::new(); domains];
    for k in 0..count {
        let mut headers = vec![json!({"header": "x-tenant", "value_glob": tenant_glob(k)})];
        if k % 2 == 1 {
            headers.push(json!({"header": "x-env", "value_glob": ENV_GLOBS[k % 4]}));
        }
        rules[(k / SHARD).min(domains - 1)].push(json!({"id": format!("r{k}"), "priority": k + 1,
            "conditions": {"base_path": format!("svc{k}"), "headers": headers},
            "action": {"invoke_api": {"api": "svc", "stage": "prod"}}}));
    }
    let domains: Vec<Value> = rules
        .into_iter()
        .enumerate()
        .map(|(j, mut rs)| {
            let last = rs.last().and_then(|r| r["priority"].as_u64()).unwrap_or(0);
            rs.push(json!({"id": "catchall", "priority": last + 1,
                           "action": {"invoke_api": {"api": "fallback", "stage": "prod"}}}));
            let name = if domains == 1 {
                "*".to_string()
            } else {
                format!("t{j}.bench.test")
            };
            json!({"name": name, "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rs})
        })
        .collect();
    json!({
        "domains": domains,
        "apis": [
            {"id": "svc", "stages": {"prod": {"integration": {"type": "http", "cluster": "svc"}}}},
            {"id": "fallback", "stages": {"prod": {"integration": {"type": "http", "cluster": "fallback"}}}}
        ]
    })
}

/// One API with `n` routes (`GET /r<k>/{id}`, `paths` `/p<k>/*` for odd k) behind a `*` mapping: a
/// route-heavy config, whose route table is one piece of the build.
fn routes_config(n: usize) -> Value {
    let routes: Vec<Value> = (0..n)
        .map(|k| {
            if k % 2 == 0 {
                json!({"id": format!("r{k}"), "key": format!("GET /r{k}/{{id}}")})
            } else {
                json!({"id": format!("r{k}"), "paths": [format!("/p{k}/*")], "methods": ["GET", "POST"]})
            }
        })
        .collect();
    json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "svc", "stage": "prod"}]}],
        "apis": [{"id": "svc", "stages": {"prod": {"integration": {"type": "http", "cluster": "svc"}}},
                  "routes": routes}]
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `routes:N` pushes a route-heavy config of N routes in one API instead of N routing rules.
    let routes = std::env::args().any(|a| a == "routes");
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let plugin = Plugin::routewise().expect("routewise.wasm");
    for n in sizes {
        let doc = if routes { routes_config(n) } else { config(n) };
        let doc = serde_json::to_vec(&doc).expect("json");
        let started = Instant::now();
        let one_piece = plugin
            .sim()
            .time_limit(Duration::from_secs(120))
            .config(doc.clone())
            .start()
            .expect("configured in one piece");
        let whole = started.elapsed();
        drop(one_piece);

        let mut sim = plugin
            .sim()
            .time_limit(Duration::from_secs(120))
            .config_json(&config(10))
            .start()
            .expect("configured");
        // A worker's VM: it has served a stream (a VM that has not keeps a push unbuilt until it does).
        sim.send(Request::get("/").authority("t0.bench.test"), Response::ok())
            .expect("a request");
        let started = Instant::now();
        let root = sim.push_config(doc.clone()).expect("push");
        let configure = started.elapsed();
        let mut ticks: Vec<f64> = Vec::new();
        let started = Instant::now();
        while !sim.tick_period_of(root).is_zero() {
            let t = Instant::now();
            sim.tick().expect("tick");
            ticks.push(ms(t.elapsed()));
        }
        let total = started.elapsed();
        // Back to a small config: the big one is dropped when the small one is installed.
        let back = sim
            .push_config(serde_json::to_vec(&config(10)).expect("json"))
            .expect("push back");
        let mut back_ticks: Vec<f64> = Vec::new();
        while !sim.tick_period_of(back).is_zero() {
            let t = Instant::now();
            sim.tick().expect("tick");
            back_ticks.push(ms(t.elapsed()));
        }
        let back_max = back_ticks.iter().copied().fold(0.0, f64::max);
        let done = sim
            .logs_at(LogLevel::Info)
            .iter()
            .any(|l| l.contains("(built in ") && l.starts_with("routewise: configured"));
        assert!(done, "built: {:?}", sim.logs_at(LogLevel::Error));
        let mut sorted = ticks.clone();
        sorted.sort_by(f64::total_cmp);
        let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
        let mut worst: Vec<(usize, f64)> = ticks.iter().copied().enumerate().collect();
        worst.sort_by(|a, b| b.1.total_cmp(&a.1));
        println!(
            "N={n} ({} bytes): one piece {:.0} ms; pushed: on_configure {:.2} ms, {} ticks, {:.0} ms in all; \
             tick max {:.2} ms, p99 {:.2}, p50 {:.2}; slowest ticks (index, ms) {:?}; pushed back to 10 \
             rules (the big one freed from ticks): {} ticks, max {:.2} ms",
            doc.len(),
            ms(whole),
            ms(configure),
            ticks.len(),
            ms(total),
            pick(1.0),
            pick(0.99),
            pick(0.5),
            worst.iter().take(5).map(|(i, t)| (*i, (t * 100.0).round() / 100.0)).collect::<Vec<_>>(),
            back_ticks.len(),
            back_max
        );
    }
}
