//! Live config updates (ECDS) in a real Envoy: the filter's config is an extension config served from a watched
//! file (`scripts/render_bootstrap.py --ecds-dir`), replaced under a steady stream of requests.
//!
//! What Envoy does (measured on 1.40, proxy-wasm-host.md §3.5-3.6): each new version is checked on the main
//! thread by the filter's `on_configure`; an accepted one is used by every stream that starts afterwards,
//! also on connections already open, while a stream already running finishes on the config it started with;
//! a rejected one is NACKed (`update_rejected`, the filter's errors with their field paths in Envoy's log)
//! and the previous config keeps serving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use routewise_tests::envoy::Build;
use routewise_tests::http::Connection;
use routewise_tests::upstream::Answer;
use routewise_tests::{EchoUpstream, Envoy, RecordedRequest, Request};

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

fn seen(r: std::io::Result<routewise_tests::Response>) -> Seen {
    match r {
        Ok(r) if r.status == 200 => match r.upstream() {
            Some(u) => Seen::Upstream(u),
            None => Seen::Failed(format!("200 without an upstream: {}", r.text())),
        },
        Ok(r) => Seen::Failed(format!("{} {}", r.status, r.text())),
        Err(e) => Seen::Failed(format!("request failed: {e}")),
    }
}

/// Clients sending requests one after another until stopped: each of `new_connections` opens a connection
/// per request; each of `keep_alive` sends all its requests on one connection.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Vec<Arc<Mutex<Vec<Seen>>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, new_connections: usize, keep_alive: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut seen_by = Vec::new();
        let mut threads = Vec::new();
        for c in 0..new_connections + keep_alive {
            let log = Arc::new(Mutex::new(Vec::new()));
            let (stop, out) = (stop.clone(), log.clone());
            let persistent = c >= new_connections;
            threads.push(thread::spawn(move || {
                let mut conn = None;
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let req = Request::get(&format!("/items/{c}-{i}"));
                    let answer = if persistent {
                        let conn = match &mut conn {
                            Some(c) => c,
                            None => conn.insert(Connection::open(port).expect("connect")),
                        };
                        seen(conn.send(&req))
                    } else {
                        seen(req.send(port))
                    };
                    let failed = matches!(answer, Seen::Failed(_));
                    out.lock().unwrap().push(answer);
                    if failed && persistent {
                        break; // the connection is gone; the failure is on record
                    }
                }
            }));
            seen_by.push(log);
        }
        Load {
            stop,
            seen: seen_by,
            threads,
        }
    }

    /// Answers so far per client.
    fn counts(&self) -> Vec<usize> {
        self.seen.iter().map(|s| s.lock().unwrap().len()).collect()
    }

    /// Whether every client has `more` answers beyond `base` (per client).
    fn each_beyond(&self, base: &[usize], more: usize) -> bool {
        self.counts().iter().zip(base).all(|(n, b)| *n >= b + more)
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

/// The upstream of the first config: answers like an echo upstream (`{"upstream": "old", ...}`), but holds
/// a request for `/slow` (setting `arrived`) until `release` is set, so that a stream is in flight across a
/// config change.
fn old_upstream(arrived: Arc<AtomicBool>, release: Arc<AtomicBool>) -> EchoUpstream {
    EchoUpstream::start_scripted("old", move |req: &RecordedRequest| -> Answer {
        if req.path == "/slow" {
            arrived.store(true, Ordering::SeqCst);
            while !release.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
        }
        let body = serde_json::json!({"upstream": "old", "path": req.path}).to_string();
        (
            200,
            vec![("content-type".into(), "application/json".into())],
            body.into_bytes(),
        )
    })
}

fn routes_change_under_load_without_a_failed_request_and_a_bad_config_keeps_the_old_one(build: Build) {
    let (arrived, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (old, new, third) = (
        old_upstream(arrived.clone(), release.clone()),
        EchoUpstream::start("new"),
        EchoUpstream::start("third"),
    );
    let envoy = Envoy::start_ecds(build, &config("old", "v1"), &[&old, &new, &third]);
    let first_version = envoy
        .stat(&format!("{STATS}.version_text"))
        .expect("the ECDS version stat");
    // Two clients opening a connection per request, one keeping its connection open throughout.
    let load_owned = Load::start(envoy.port(), 2, 1);
    let load = &load_owned;
    let none = vec![0; 3];
    envoy.wait_until("10 answers per client from the first config", || {
        load.each_beyond(&none, 10)
    });

    // A stream in flight when the config changes: routed by the first config, held by its upstream.
    let slow = thread::spawn({
        let port = envoy.port();
        move || seen(Request::get("/slow").send(port))
    });
    envoy.wait_until("the slow request at the first config's upstream", || {
        arrived.load(Ordering::SeqCst)
    });

    // An accepted update: every stream that starts later uses it, on new and open connections alike.
    let v2 = envoy.push_config(&config("new", "v2"));
    assert_ne!(
        format!("\"{v2}\""),
        first_version,
        "a new config is a new version"
    );
    envoy.wait_until("every client answered by the new config", || {
        load.all_latest_are("new")
    });
    // The stream that started before the update finishes where the first config sent it.
    release.store(true, Ordering::SeqCst);
    assert_eq!(slow.join().expect("slow request"), Seen::Upstream("old".into()));
    let after_switch = load.counts();
    envoy.wait_until("10 more answers per client", || {
        load.each_beyond(&after_switch, 10)
    });

    // A config the filter rejects (R12 field errors), pushed with the user's command: NACKed, and the
    // previous config keeps serving.
    let rejected_before: u64 = envoy
        .stat(&format!("{STATS}.update_rejected"))
        .and_then(|v| v.parse().ok())
        .expect("update_rejected stat");
    let bad = r#"{"domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "nope", "stage": "prod"}]}],
                 "apis": [{"id": "shop", "stages": {"prod": {}}, "routes": [{"key": "ANY /{proxy+}"}]}]}"#;
    let at_bad = load.counts();
    envoy.push_config_with_ecds_push(bad);
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
    let after_bad = load.counts();
    envoy.wait_until("10 answers per client after the rejection", || {
        load.each_beyond(&after_bad, 10)
    });
    let at_third = load.counts();

    // Envoy still takes a good config after a bad one.
    envoy.push_config_with_ecds_push(&config("third", "v3"));
    envoy.wait_until("every client answered by the third config", || {
        load.all_latest_are("third")
    });
    let done = load.counts();
    envoy.wait_until("5 more answers per client", || load.each_beyond(&done, 5));
    let seen = load_owned.stop();

    for (c, answers) in seen.iter().enumerate() {
        let runs = runs(answers);
        // No request failed, and each client saw old, then new, then third, never going back: the switch
        // is a clean cut per stream, and the rejected config never served anything.
        let order: Vec<&str> = runs.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(order, ["old", "new", "third"], "client {c}: {runs:?}");
        // From the bad push to the next good one, every answer came from the config Envoy kept.
        let window = &answers[at_bad[c]..at_third[c]];
        assert!(
            window.len() >= 10 && window.iter().all(|s| *s == Seen::Upstream("new".into())),
            "client {c} while the bad config was pushed: {:?}",
            self::runs(window)
        );
    }
    // The filter's own view: the route id of each accepted config is in the access log.
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

/// [`config`] with `rules` more routing rules that no request matches (they test a header no client sends):
/// a document of several hundred KiB, which the `.wasm` builds from `proxy_on_tick` on each worker.
fn big_config(cluster: &str, route: &str, rules: usize) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&config(cluster, route)).expect("config");
    let rules: Vec<serde_json::Value> = (0..rules)
        .map(|k| {
            serde_json::json!({"id": format!("never-{k}"), "priority": k + 1,
                "conditions": {"base_path": format!("svc{k}"),
                               "headers": [{"header": "x-never", "value_glob": format!("t{k}-*")}]},
                "action": {"invoke_api": {"api": "shop", "stage": "prod"}}})
        })
        .collect();
    doc["domains"][0]["routing_mode"] = "ROUTING_RULE_THEN_API_MAPPING".into();
    doc["domains"][0]["routing_rules"] = rules.into();
    doc.to_string()
}

/// Issue 13 (config push stall): a large pushed config is built while the previous one serves. The `.wasm`
/// builds it from `proxy_on_tick` on each worker (its log says so, and how many ticks it took); the `.so`
/// builds it once on the main thread. Either way no request fails and each client goes from the old
/// config to the new one, never back.
fn a_large_push_is_built_while_the_old_config_serves(build: Build) {
    let (old, big) = (EchoUpstream::start("old"), EchoUpstream::start("big"));
    let envoy = Envoy::start_ecds(build, &config("old", "v1"), &[&old, &big]);
    let load_owned = Load::start(envoy.port(), 1, 1);
    let load = &load_owned;
    envoy.wait_until("10 answers per client from the first config", || {
        load.each_beyond(&[0, 0], 10)
    });
    let pushed = big_config("big", "vbig", 3_000);
    assert!(pushed.len() > 256 * 1024, "{} bytes", pushed.len());
    envoy.push_config(&pushed);
    envoy.wait_until("every client answered by the large config", || {
        load.all_latest_are("big")
    });
    let switched = load.counts();
    envoy.wait_until("10 more answers per client", || load.each_beyond(&switched, 10));
    for (c, answers) in load_owned.stop().iter().enumerate() {
        let runs = runs(answers);
        let order: Vec<&str> = runs.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(order, ["old", "big"], "client {c}: {runs:?}");
    }
    let log = envoy.wait_log("1 domains, 3000 rules");
    if build == Build::Wasm {
        assert!(
            log.contains("routewise: building the pushed configuration from ticks"),
            "{}",
            routewise_tests::envoy::log_excerpt(&log)
        );
        // The worker's VM (and the main thread's, which serves nothing) built it over several ticks.
        let ticks: Vec<u32> = log
            .split("(built in ")
            .skip(1)
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .collect();
        assert!(
            ticks.iter().any(|n| *n > 1),
            "built over several ticks: {ticks:?}\n{}",
            routewise_tests::envoy::log_excerpt(&log)
        );
    } else {
        assert!(!log.contains("from ticks"), "the .so builds on the main thread");
    }
}

routewise_tests::both_builds!(
    routes_change_under_load_without_a_failed_request_and_a_bad_config_keeps_the_old_one,
    a_large_push_is_built_while_the_old_config_serves,
);
