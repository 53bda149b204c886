//! Configure (parse + validate + compile, `FilterConfig::from_bytes_for` as the dynamic module's `config_new`
//! runs it) at 10, 1,000, 10,000 and 100,000 rules of scripts/bench.py's shape (rule k = base path `svc<k>`
//! AND `x-tenant` exact / prefix / suffix / contains AND, for odd k, `x-env`; a catch-all per domain; above
//! 25,000 rules the rules are spread over domains of 25,000, and N = 100,000 is 99,996 rules + 4 catch-alls,
//! within issue 14's limits). Before the timings it prints, per N, the heap the compiled config holds (live
//! bytes and allocations, a counting allocator), per rule, the peak heap while building (the document
//! text excluded), and the peak with the document when it is borrowed (the .so) or handed over and freed
//! once parsed (the .wasm, `FilterConfig::from_vec_for`).
//!
//! Run: `cargo bench -p routewise --bench configure -- --warm-up-time 1 --measurement-time 5`
//! (memory only: `cargo bench -p routewise --bench configure -- --list`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use routewise::pipeline::{Build, FilterConfig};
use serde_json::{json, Value};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCS.fetch_sub(1, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now =
                    LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SHARD: usize = 25_000;
const MAX_ITEMS: usize = 100_000;

fn tenant_glob(k: usize) -> String {
    match k % 4 {
        0 => format!("tenant-{k}"),
        1 => format!("tenant-{k}-*"),
        2 => format!("*-{k}.example.com"),
        _ => format!("*.{k}.*"),
    }
}

fn env_glob(k: usize) -> &'static str {
    ["prod", "prod-*", "*-prod", "*prod*"][k % 4]
}

/// scripts/bench.py's `routewise_config(n)`.
fn config(n: usize) -> String {
    let domains = n.div_ceil(SHARD).max(1);
    let count = n.min(MAX_ITEMS - domains);
    let name = |j: usize| {
        if domains == 1 {
            "*".to_string()
        } else {
            format!("t{j}.bench.test")
        }
    };
    let mut rules: Vec<Vec<Value>> = vec![Vec::new(); domains];
    for k in 0..count {
        let mut headers = vec![json!({"header": "x-tenant", "value_glob": tenant_glob(k)})];
        if k % 2 == 1 {
            headers.push(json!({"header": "x-env", "value_glob": env_glob(k)}));
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
            json!({"name": name(j), "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rs})
        })
        .collect();
    json!({
        "domains": domains,
        "apis": [
            {"id": "svc", "stages": {"prod": {"integration": {"type": "http", "cluster": "svc"}}}},
            {"id": "fallback", "stages": {"prod": {"integration": {"type": "http", "cluster": "fallback"}}}}
        ]
    })
    .to_string()
}

fn build(text: &str) -> FilterConfig {
    match FilterConfig::from_bytes_for(text.as_bytes(), Build::DynamicModule) {
        Ok(c) => c,
        Err(e) => panic!("bench config rejected: {:?}", e.log_lines()),
    }
}

const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];

fn memory() {
    for n in SIZES {
        let text = config(n);
        let live0 = LIVE.load(Ordering::Relaxed);
        let allocs0 = ALLOCS.load(Ordering::Relaxed);
        PEAK.store(live0, Ordering::Relaxed);
        let started = Instant::now();
        let c = build(&text);
        let took = started.elapsed();
        let live = LIVE.load(Ordering::Relaxed) - live0;
        let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
        let peak = PEAK.load(Ordering::Relaxed) - live0;
        eprintln!(
            "configure n={n}: {:.1} ms; document {} bytes; compiled config holds {} bytes in {} allocations \
             ({:.0} bytes / {:.1} allocations per rule); peak while building {} bytes",
            took.as_secs_f64() * 1e3,
            text.len(),
            live,
            allocs,
            live as f64 / n as f64,
            allocs as f64 / n as f64,
            peak
        );
        drop(black_box(c));
        // The proxy-wasm build hands its copy of the document over (`from_vec_for`): freed once parsed.
        let owned = text.clone().into_bytes();
        let base = LIVE.load(Ordering::Relaxed) - text.len();
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let c = match FilterConfig::from_vec_for(owned, Build::ProxyWasm) {
            Ok(c) => c,
            Err(e) => panic!("bench config rejected: {:?}", e.log_lines()),
        };
        eprintln!(
            "configure n={n}: peak with the document: {} bytes borrowed (from_bytes_for), {} bytes handed \
             over (from_vec_for)",
            peak + text.len(),
            PEAK.load(Ordering::Relaxed) - base
        );
        drop(black_box(c));
    }
}

fn bench_configure(c: &mut Criterion) {
    memory();
    let mut group = c.benchmark_group("configure");
    group.sample_size(10);
    for n in SIZES {
        let text = config(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| black_box(build(black_box(text))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_configure);
criterion_main!(benches);
