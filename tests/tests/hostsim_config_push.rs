//! A configuration pushed to a running VM (ECDS, LDS), through the real filter `.wasm` in host-sim
//! (`Sim::push_config`: a new root context in the same VM, as Envoy does when the VM is reused).
//! Needs `cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm` first (or $ROUTEWISE_WASM).
//!
//! Issue 13: a worker builds a pushed configuration from `proxy_on_tick`, a slice per tick, while its
//! previous configuration serves; built in one piece, 100,000 rules held the worker for seconds.

mod common;

use host_sim::{Exchange, LogLevel, Request, Response, Sim};
use serde_json::{json, Value};

/// Every request to `cluster` through an API mapping; `rules` more routing rules (never matched: they
/// test a header no request sends) make the build long enough to take several ticks.
fn config(cluster: &str, rules: usize) -> Value {
    let rules: Vec<Value> = (0..rules)
        .map(|k| {
            json!({"id": format!("r{k}"), "priority": k + 1,
                   "conditions": {"base_path": format!("svc{k}"),
                                  "headers": [{"header": "x-never", "value_glob": format!("t{k}-*")}]},
                   "action": {"invoke_api": {"api": "a", "stage": "prod"}}})
        })
        .collect();
    json!({
        "domains": [{"name": "*", "routing_mode": "ROUTING_RULE_THEN_API_MAPPING", "routing_rules": rules,
                     "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "stages": {"prod": {"integration": {"type": "http", "cluster": cluster}}}}],
    })
}

fn sim(cfg: &Value) -> Sim {
    common::routewise_sim(cfg)
}

fn cluster(sim: &mut Sim) -> String {
    let ex: Exchange = sim
        .send(Request::get("/pets").authority("api.example.com"), Response::ok())
        .expect("exchange");
    assert_eq!(ex.status(), 200);
    ex.upstream_request
        .and_then(|u| u.header("x-routewise-cluster").map(str::to_string))
        .unwrap_or_default()
}

fn configured_lines(sim: &Sim) -> Vec<String> {
    sim.logs_at(LogLevel::Info)
        .into_iter()
        .filter(|l| l.starts_with("routewise: configured"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_pushed_config_is_built_from_ticks_while_the_previous_one_serves() {
    let mut sim = sim(&config("old", 0));
    assert_eq!(cluster(&mut sim), "old");
    let first = sim.root_context();

    let pushed = serde_json::to_vec(&config("new", 3_000)).expect("json");
    // The line that starts the build says how long the document's read took (the one part of a push that
    // cannot be sliced: bench/README.md, "Config push stall").
    let read = format!("({} bytes read in ", pushed.len());
    let root = sim.push_config(pushed).expect("push accepted");
    assert_ne!(root, first);
    assert!(
        sim.logs_at(LogLevel::Info).iter().any(|l| l
            .starts_with("routewise: building the pushed configuration from ticks (")
            && l.contains(&read)
            && l.contains(" ms); the previous one serves until it is ready")),
        "{:?}",
        sim.logs()
    );
    // Streams of the new root are served by the previous configuration until the build is over.
    assert_eq!(cluster(&mut sim), "old");
    let mut ticks = 0;
    while configured_lines(&sim).len() < 2 {
        assert!(
            !sim.tick_period_of(root).is_zero(),
            "the build ticks until it is over"
        );
        assert_eq!(cluster(&mut sim), "old", "served between ticks");
        sim.tick().expect("tick");
        ticks += 1;
        assert!(ticks < 10_000, "the build never ended");
    }
    assert!(
        ticks > 3,
        "3,000 rules are built in slices, not in one tick ({ticks})"
    );
    let line = configured_lines(&sim).pop().unwrap_or_default();
    assert!(line.contains("1 domains, 3000 rules"), "{line}");
    assert!(
        line.contains(&format!("(built in {ticks} ticks, the longest ")) && line.ends_with(" ms)"),
        "{line}"
    );
    assert_eq!(cluster(&mut sim), "new");
    // One more tick frees the configuration it replaced; then the ticks stop.
    sim.tick().expect("tick");
    assert!(
        sim.tick_period_of(root).is_zero(),
        "ticks stop once built and freed"
    );
}

#[test]
fn the_replaced_config_is_freed_from_ticks_in_slices() {
    let mut sim = sim(&config("small", 0));
    assert_eq!(cluster(&mut sim), "small", "a worker: it has had a stream");
    let big = sim
        .push_config(serde_json::to_vec(&config("big", 20_000)).expect("json"))
        .expect("push");
    while configured_lines(&sim).len() < 2 {
        sim.tick().expect("tick");
    }
    while !sim.tick_period_of(big).is_zero() {
        sim.tick().expect("tick");
    }
    assert_eq!(cluster(&mut sim), "big");
    // Back to a small config: it is built at once (under 64 KiB), and the 20,000 rules it replaces are
    // freed over several ticks, the new config serving meanwhile.
    let back = sim
        .push_config(serde_json::to_vec(&config("small", 0)).expect("json"))
        .expect("push");
    assert_eq!(configured_lines(&sim).len(), 3, "{:?}", sim.logs());
    assert_eq!(cluster(&mut sim), "small", "a small config applies at once");
    let mut freeing = 0;
    while !sim.tick_period_of(back).is_zero() {
        assert_eq!(cluster(&mut sim), "small");
        sim.tick().expect("tick");
        freeing += 1;
        assert!(freeing < 10_000);
    }
    assert!(freeing > 1, "20,000 rules are freed in slices ({freeing} ticks)");
}

#[test]
fn a_push_the_worker_rejects_leaves_the_previous_config_serving() {
    // Envoy's canary VM rejects a bad config before any worker sees it; a worker that still finds it bad
    // (pushed here straight into the worker's VM) logs every error and keeps its configuration.
    let mut sim = sim(&config("old", 0));
    assert_eq!(cluster(&mut sim), "old", "a worker: it has had a stream");
    let mut bad = config("new", 3_000);
    bad["domains"][0]["routing_rules"][1]["priority"] = json!(1);
    let root = sim
        .push_config(serde_json::to_vec(&bad).expect("json"))
        .expect("push");
    let mut ticks = 0;
    while !sim.tick_period_of(root).is_zero() {
        sim.tick().expect("tick");
        ticks += 1;
        assert!(ticks < 1_000);
    }
    let errors = sim.logs_at(LogLevel::Error).join("\n");
    assert!(
        errors.contains("domains[0].routing_rules[1].priority"),
        "the error names the field: {errors}"
    );
    assert!(
        errors.contains("the previous configuration goes on serving"),
        "{errors}"
    );
    assert_eq!(cluster(&mut sim), "old");
}

#[test]
fn two_pushes_built_side_by_side_end_on_the_later_one() {
    let mut sim = sim(&config("v1", 0));
    assert_eq!(cluster(&mut sim), "v1", "a worker: it has had a stream");
    let big = sim
        .push_config(serde_json::to_vec(&config("v2", 3_000)).expect("json"))
        .expect("push");
    // A second push while the first is being built: Envoy finishes the first root once the second is in
    // place, and the VM ends on the second whatever finishes first.
    let small = sim
        .push_config(serde_json::to_vec(&config("v3", 0)).expect("json"))
        .expect("push");
    assert_ne!(big, small);
    let mut ticks = 0;
    while !sim.tick_period_of(small).is_zero()
        || sim.root_contexts().contains(&big) && !sim.tick_period_of(big).is_zero()
    {
        sim.tick().expect("tick");
        ticks += 1;
        assert!(ticks < 10_000);
    }
    assert_eq!(cluster(&mut sim), "v3");
}

#[test]
fn a_vm_without_streams_keeps_a_push_unbuilt_until_its_first_stream() {
    // Envoy's main-thread VM runs no stream: building there was a second engine and ticks competing with
    // the worker's. A VM that has had no stream keeps the pushed document and starts no ticks...
    let mut sim = sim(&config("old", 0));
    let root = sim
        .push_config(serde_json::to_vec(&config("new", 3_000)).expect("json"))
        .expect("push accepted");
    assert!(sim.tick_period_of(root).is_zero(), "no ticks before a stream");
    assert!(
        sim.logs_at(LogLevel::Info)
            .iter()
            .any(|l| l.contains("kept unbuilt until this VM's first stream")),
        "{:?}",
        sim.logs()
    );
    assert_eq!(configured_lines(&sim).len(), 1, "nothing built");
    // ...until one comes: it is served by the previous configuration, and the build starts from ticks.
    assert_eq!(cluster(&mut sim), "old");
    assert!(
        !sim.tick_period_of(root).is_zero(),
        "the first stream starts the ticks"
    );
    let mut ticks = 0;
    while configured_lines(&sim).len() < 2 {
        assert_eq!(cluster(&mut sim), "old", "served between ticks");
        sim.tick().expect("tick");
        ticks += 1;
        assert!(ticks < 10_000, "the build never ended");
    }
    assert!(ticks > 3, "built in slices ({ticks} ticks)");
    assert_eq!(cluster(&mut sim), "new");
}
