//! Live config updates (ECDS) in a real Envoy: the filter's config is an extension config served from a watched
//! file (`scripts/render_bootstrap.py --ecds-dir`), replaced under a steady stream of requests.
//!
//! What Envoy does (measured on 1.40, proxy-wasm-host.md §3.5-3.6): each new version is checked on the main
//! thread by the filter's `on_configure`; an accepted one is used by every stream that starts afterwards (a
//! stream already running keeps the config it started with); a rejected one is NACKed (`update_rejected`,
//! the filter's errors with their field paths in Envoy's log) and the previous config keeps serving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use routewise_tests::{EchoUpstream, Envoy, Request};

const STATS: &str = "extension_config_discovery.http_filter.routewise";

/// Every request (any host, any path) to `cluster`, through route `route` (R9 `(none)` mapping, P2 greedy).
fn config(cluster: &str, route: &str) -> String {
    serde_json::json!({
        "domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "shop", "stage": "prod"}]}],
        "apis": [{
            "id": "shop",
            "stages": {"prod": {"integration": {"type": "http", "cluster": cluster}}},
            "routes": [{"id": route, "key": "ANY /{proxy+}"}],
        }],
    })
    .to_string()
}

/// What one client saw: the upstream that answered, or what went wrong instead.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Upstream(String),
    Failed(String),
}

/// Clients sending requests one after another (each on a new connection) until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Vec<Arc<Mutex<Vec<Seen>>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut seen = Vec::new();
        let mut threads = Vec::new();
        for c in 0..clients {
            let log = Arc::new(Mutex::new(Vec::new()));
            let (stop, out) = (stop.clone(), log.clone());
            threads.push(thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let seen = match Request::get(&format!("/items/{c}-{i}")).send(port) {
                        Ok(r) if r.status == 200 => match r.upstream() {
                            Some(u) => Seen::Upstream(u),
                            None => Seen::Failed(format!("200 without an upstream: {}", r.text())),
                        },
                        Ok(r) => Seen::Failed(format!("{} {}", r.status, r.text())),
                        Err(e) => Seen::Failed(format!("request failed: {e}")),
                    };
                    out.lock().unwrap().push(seen);
                }
            }));
            seen.push(log);
        }
        Load { stop, seen, threads }
    }

    /// Answers so far, per client.
    fn snapshot(&self) -> Vec<Vec<Seen>> {
        self.seen.iter().map(|s| s.lock().unwrap().clone()).collect()
    }

    /// Total answers so far.
    fn count(&self) -> usize {
        self.seen.iter().map(|s| s.lock().unwrap().len()).sum()
    }

    /// Whether every client's latest answer came from `upstream`.
    fn all_latest_are(&self, upstream: &str) -> bool {
        let want = Seen::Upstream(upstream.to_string());
        self.seen.iter().all(|s| s.lock().unwrap().last() == Some(&want))
    }

    fn stop(self) -> Vec<Vec<Seen>> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("client thread");
        }
        self.seen.into_iter().map(|s| s.lock().unwrap().clone()).collect()
    }
}

/// Each client's answers collapsed into runs: `[("old", 40), ("new", 75)]`.
fn runs(seen: &[Seen]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for s in seen {
        let name = match s {
            Seen::Upstream(u) => u.clone(),
            Seen::Failed(f) => format!("FAILED: {f}"),
        };
        match out.last_mut() {
            Some((last, n)) if *last == name => *n += 1,
            _ => out.push((name, 1)),
        }
    }
    out
}

#[test]
fn routes_change_under_load_without_a_failed_request_and_a_bad_config_keeps_the_old_one() {
    let (old, new, third) = (
        EchoUpstream::start("old"),
        EchoUpstream::start("new"),
        EchoUpstream::start("third"),
    );
    let envoy = Envoy::start_ecds(&config("old", "v1"), &[&old, &new, &third]);
    let first_version = envoy
        .stat(&format!("{STATS}.version_text"))
        .expect("the ECDS version stat");
    let load_owned = Load::start(envoy.port(), 2);
    let load = &load_owned;
    let enough = |n: usize| move || load.count() >= n;
    envoy.wait_until("40 answers from the first config", enough(40));

    // An accepted update: every later stream uses it.
    let v2 = envoy.push_config(&config("new", "v2"));
    assert_ne!(
        format!("\"{v2}\""),
        first_version,
        "a new config is a new version"
    );
    envoy.wait_until("every client answered by the new config", || {
        load.all_latest_are("new")
    });
    let before_bad = load.count();
    envoy.wait_until("40 more answers", enough(before_bad + 40));

    // A config the filter rejects (R12-style field errors): NACKed, the previous config keeps serving.
    let rejected_before: u64 = envoy
        .stat(&format!("{STATS}.update_rejected"))
        .and_then(|v| v.parse().ok())
        .expect("update_rejected stat");
    let bad = r#"{"domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "nope", "stage": "prod"}]}],
                 "apis": [{"id": "shop", "stages": {"prod": {}}, "routes": [{"key": "ANY /{proxy+}"}]}]}"#;
    let at_bad: Vec<usize> = load.snapshot().iter().map(Vec::len).collect();
    envoy.push_config(bad);
    envoy.wait_until("the bad config rejected", || {
        envoy
            .stat(&format!("{STATS}.update_rejected"))
            .and_then(|v| v.parse::<u64>().ok())
            > Some(rejected_before)
    });
    let log = envoy.wait_log("domains[0].api_mappings[0].api: unknown api `nope`");
    assert!(
        log.contains("routewise: configuration rejected"),
        "{}",
        routewise_tests::envoy::log_excerpt(&log)
    );
    assert_eq!(
        envoy.stat(&format!("{STATS}.version_text")),
        Some(format!("\"{v2}\"")),
        "Envoy still runs the accepted version"
    );
    let after_bad = load.count();
    envoy.wait_until("40 answers after the rejection", enough(after_bad + 40));
    let at_third: Vec<usize> = load.snapshot().iter().map(Vec::len).collect();

    // Envoy still takes a good config after a bad one.
    envoy.push_config(&config("third", "v3"));
    envoy.wait_until("every client answered by the third config", || {
        load.all_latest_are("third")
    });
    let done = load.count();
    envoy.wait_until("20 more answers", enough(done + 20));
    let seen = load_owned.stop();

    for (c, answers) in seen.iter().enumerate() {
        let runs = runs(answers);
        // No request failed, and each client saw old, then new, then third, never going back: the switch
        // is a clean cut per stream, the rejected config never served anything.
        let order: Vec<&str> = runs.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(order, ["old", "new", "third"], "client {c}: {runs:?}");
    }
    // From the bad push to the next good one, every answer came from the config Envoy kept.
    let mut kept = 0;
    for (c, answers) in seen.iter().enumerate() {
        let window = &answers[at_bad[c]..at_third[c]];
        assert!(
            window.iter().all(|s| *s == Seen::Upstream("new".into())),
            "client {c} while the bad config was pushed: {:?}",
            runs(window)
        );
        kept += window.len();
    }
    assert!(kept >= 40, "{kept} answers while the bad config was pushed");
    // The filter's own view: the route id of the config that answered each stage is in the access log.
    let ids: Vec<String> = envoy
        .access_log()
        .iter()
        .filter_map(|l| l.get("route_id").and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    for id in ["v1", "v2", "v3"] {
        assert!(ids.iter().any(|i| i == id), "route {id} in the access log");
    }
    assert_eq!(
        envoy.stat(&format!("{STATS}.update_rejected")),
        Some((rejected_before + 1).to_string())
    );
}
