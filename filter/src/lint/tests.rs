//! E2 tests: exactness of the inclusion tests against brute force, and each finding on a small config.

use serde_json::{json, Value};

use super::*;

fn globs() -> Vec<HeaderGlob> {
    let mut lits = vec![];
    for a in ["a", "b"] {
        lits.push(a.to_string());
        for b in ["a", "b"] {
            lits.push(format!("{a}{b}"));
        }
    }
    let mut out = vec![HeaderGlob::Any];
    for l in &lits {
        for form in [l.clone(), format!("{l}*"), format!("*{l}"), format!("*{l}*")] {
            out.push(HeaderGlob::parse(&form).expect("glob"));
        }
    }
    out
}

fn strings(alphabet: &[&str], max: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut level = vec![String::new()];
    for _ in 0..max {
        level = level
            .iter()
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        all.extend(level.iter().cloned());
    }
    all
}

#[test]
fn r3_glob_inclusion_is_exact() {
    // Literals of at most 2 letters over {a, b}: a counterexample, when there is one, has at most 5 letters.
    let values = strings(&["a", "b"], 5);
    for a in globs() {
        for b in globs() {
            let brute = values.iter().all(|v| !a.is_match(v) || b.is_match(v));
            assert_eq!(
                glob_subset(&a, &b),
                brute,
                "{} ⊆ {}",
                a.as_written(),
                b.as_written()
            );
        }
    }
}

fn paths() -> Vec<PathPattern> {
    [
        "/a",
        "/a/b",
        "/a/",
        "/",
        "/a*",
        "/a/*",
        "/a/b*",
        "/ab*",
        "/*",
        "/{x}",
        "/a/{x}",
        "/{x}/b",
        "/{x}/{y}",
        "/a/{x}/",
        "/{proxy+}",
        "/a/{proxy+}",
        "/{x}/{proxy+}",
        "/a/b/{proxy+}",
        "$default",
    ]
    .iter()
    .map(|p| PathPattern::parse(p).expect("path"))
    .collect()
}

#[test]
fn p2_path_inclusion_is_exact() {
    // Paths of up to 4 segments over {"", a, b, ab}: enough for a counterexample to any pair above.
    let segs = strings(&["a", "b"], 2);
    let mut samples = vec!["/".to_string()];
    let mut level = vec![String::new()];
    for _ in 0..4 {
        level = level
            .iter()
            .flat_map(|p| segs.iter().map(move |s| format!("{p}/{s}")))
            .collect();
        samples.extend(level.iter().cloned());
    }
    for a in paths() {
        for b in paths() {
            let brute = samples.iter().all(|p| !a.is_match(p) || b.is_match(p));
            assert_eq!(
                path_subset(&a, &b),
                brute,
                "{} ⊆ {}",
                a.as_written(),
                b.as_written()
            );
        }
    }
}

fn engine(config: Value) -> Engine {
    Engine::from_json(&config.to_string()).unwrap_or_else(|e| panic!("config rejected:\n{e}"))
}

fn codes(findings: &[Finding]) -> Vec<(&'static str, Vec<&str>)> {
    findings
        .iter()
        .map(|f| (f.code, f.ids.iter().map(String::as_str).collect()))
        .collect()
}

fn rules_config(mode: &str, rules: Value, mappings: Value) -> Value {
    json!({"domains": [{"name": "api.example.com", "routing_mode": mode, "routing_rules": rules,
                        "api_mappings": mappings}],
           "apis": [{"id": "a", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}}}]})
}

fn rule(id: &str, priority: i64, headers: Value, base: Option<&str>) -> Value {
    json!({"id": id, "priority": priority, "conditions": {"headers": headers, "base_path": base},
           "action": {"invoke_api": {"api": "a", "stage": "prod"}}})
}

#[test]
fn e2_shadowed_rules_need_a_superset_by_priority() {
    let cfg = rules_config(
        "ROUTING_RULE_ONLY",
        json!([
            rule(
                "broad",
                10,
                json!([{"header": "x-env", "value_glob": "beta*"}]),
                Some("orders")
            ),
            rule(
                "narrow",
                20,
                json!([{"header": "X-Env", "value_glob": "beta-2"}]),
                Some("orders/v2")
            ),
            rule(
                "other-header",
                30,
                json!([{"header": "x-tier", "value_glob": "beta-2"}]),
                Some("orders/v2")
            ),
            // R4: two conditions on one header may be met by two lines, so `*a*` and `*b*` together do not
            // imply `*ab*` (lines `a` and `b`): not shadowed by `ab` below.
            rule("ab", 40, json!([{"header": "x-k", "value_glob": "*ab*"}]), None),
            rule(
                "a-and-b",
                50,
                json!([{"header": "x-k", "value_glob": "*a*"}, {"header": "x-k", "value_glob": "*b*"}]),
                None
            ),
            rule(
                "ordersx",
                60,
                json!([{"header": "x-env", "value_glob": "beta"}]),
                Some("ordersX")
            ),
        ]),
        json!([]),
    );
    assert_eq!(
        codes(&lint(&engine(cfg))),
        [("shadowed-rule", vec!["narrow", "broad"])]
    );
}

#[test]
fn e2_catch_all_rules_hide_mappings() {
    let cfg = rules_config(
        "ROUTING_RULE_THEN_API_MAPPING",
        json!([
            rule("hdr", 1, json!([{"header": "x", "value_glob": "*"}]), None),
            rule("orders", 5, json!([]), Some("orders")),
            rule("all", 9, json!([]), None)
        ]),
        json!([{"id": "m-orders-v2", "base_path": "orders/v2", "api": "a", "stage": "prod"},
               {"id": "m-none", "base_path": "", "api": "a", "stage": "prod"}]),
    );
    assert_eq!(
        codes(&lint(&engine(cfg))),
        [
            ("hidden-mapping", vec!["m-orders-v2", "orders"]),
            ("hidden-mapping", vec!["m-none", "all"]),
        ]
    );
}

fn api(router: &str, routes: Value) -> Value {
    json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
           "apis": [{"id": "a", "router": router, "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}},
                     "services": [{"id": "s", "hosts": ["svc.example.com"]}],
                     "routes": routes}]})
}

#[test]
fn e2_shadowed_routes_under_the_specificity_router() {
    let cfg = api(
        "specificity",
        json!([
            {"id": "any-pets", "paths": ["/pets/*"], "priority": 5},
            {"id": "get-pets", "paths": ["/pets/*"], "methods": ["GET"]},
            {"id": "get-pets-gold", "paths": ["/pets/*"], "vars": [["http_x", "==", "gold"]], "priority": 9},
            {"id": "exact", "paths": ["/pets/1"]},
            {"id": "host-pets", "paths": ["/pets/*"], "hosts": ["a.example.com"]},
            {"id": "two-paths", "paths": ["/pets/{proxy+}", "/cats"]},
            {"id": "svc", "paths": ["/svc"], "service": "s"},
        ]),
    );
    let f = lint(&engine(cfg));
    assert_eq!(
        codes(&f),
        [
            ("shadowed-route", vec!["get-pets", "any-pets"]),
            ("shadowed-route", vec!["two-paths", "any-pets"]),
            ("inherited-hosts", vec!["svc"]),
        ]
    );
    assert_eq!(f[0].level, Level::Error);
    assert_eq!(f[1].level, Level::Warning, "one path of two");
    assert_eq!(f[2].level, Level::Warning);
}

#[test]
fn e2_apisix_routers_report_file_order_ties_and_host_filters() {
    let routes = json!([
        {"id": "p-first", "paths": ["/p/*"], "vars": [["http_x", "==", "1"]]},
        {"id": "p-second", "paths": ["/p/*"], "vars": [["http_y", "==", "1"]]},
        {"id": "p-post", "paths": ["/p/*"], "methods": ["POST"], "priority": 3},
        {"id": "test", "paths": ["/test*"]},
        {"id": "test-host", "paths": ["/test/api*"], "hosts": ["foo.com"]},
        {"id": "test-host-short", "paths": ["/test*"], "hosts": ["foo.com"]},
    ]);
    let uri = lint(&engine(api("apisix_radixtree_uri", routes.clone())));
    assert_eq!(
        codes(&uri),
        [
            ("shadowed-route", vec!["test-host-short", "test"]),
            ("file-order-tie", vec!["p-first", "p-second"]),
        ]
    );
    // Host first: the host route is tried before the host-less `/test*`, nothing is shadowed.
    let host_uri = lint(&engine(api("apisix_radixtree_host_uri", routes)));
    assert_eq!(
        codes(&host_uri),
        [("file-order-tie", vec!["p-first", "p-second"])]
    );
}

#[test]
fn p3_default_and_greedy_proxy_overlap() {
    let f = lint(&engine(api(
        "specificity",
        json!([{"id": "d", "key": "$default"}, {"id": "proxy", "key": "ANY /{proxy+}"}]),
    )));
    assert_eq!(codes(&f), [("default-overlap", vec!["d", "proxy"])]);
}

/// xorshift64*: deterministic generated configs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Soundness on generated configs: a route reported as never selectable is never selected, for any of a
/// set of requests that covers every path form, host and method used; the same for rules.
#[test]
fn e2_reported_routes_and_rules_are_never_selected() {
    use crate::decision::Decision;
    use crate::request::RequestView;
    let exact_paths = ["/a", "/a/b", "/b", "/a/b/c"];
    let any_paths = ["/a*", "/a/*", "/a/b*", "/*", "/b*"];
    let templates = ["/a/{x}", "/{x}/b", "/{proxy+}", "/a/{proxy+}", "$default"];
    let req_paths = [
        "/", "/a", "/a/", "/ab", "/a/b", "/a/bc", "/a/b/c", "/b", "/c/b", "/a/b/c/d",
    ];
    let hosts = ["foo.com", "a.foo.com", "bar.com"];
    let mut rng = Rng(42);
    let mut reported = 0;
    for round in 0..300 {
        let router = ["specificity", "apisix_radixtree_uri", "apisix_radixtree_host_uri"][round % 3];
        let mut routes = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for i in 0..(2 + rng.next() % 6) {
            let path = if router == "specificity" && rng.next().is_multiple_of(3) {
                rng.pick(&templates)
            } else if rng.next().is_multiple_of(2) {
                rng.pick(&exact_paths)
            } else {
                rng.pick(&any_paths)
            };
            let host = rng.pick(&[None, None, Some("foo.com"), Some("*.foo.com")]);
            let method = rng.pick(&[None, None, Some("GET")]);
            if !keys.insert((path.replace("{proxy+}", "{x}"), host, method)) {
                continue;
            }
            let mut r = json!({"id": format!("r{i}"), "paths": [path], "priority": rng.pick(&[0, 0, 1])});
            if let Some(h) = host {
                r["hosts"] = json!([h]);
            }
            if let Some(m) = method {
                r["methods"] = json!([m]);
            }
            routes.push(r);
        }
        let globs = ["a", "a*", "*a", "*a*", "ab", "*b", "*"];
        let mut rules = Vec::new();
        for i in 0..(1 + rng.next() % 4) {
            let mut headers = vec![json!({"header": "x-k", "value_glob": rng.pick(&globs)})];
            if rng.next().is_multiple_of(3) {
                headers.push(json!({"header": "x-k", "value_glob": rng.pick(&globs)}));
            }
            let base = rng.pick(&[None, Some("a"), Some("a/b")]);
            rules.push(json!({"id": format!("rule{i}"), "priority": i + 1,
                              "conditions": {"headers": headers, "base_path": base},
                              "action": {"invoke_api": {"api": "a", "stage": "prod"}}}));
        }
        let cfg = json!({"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_THEN_API_MAPPING",
                                      "routing_rules": rules, "api_mappings": [{"api": "a", "stage": "prod"}]}],
                         "apis": [{"id": "a", "router": router,
                                   "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}},
                                   "routes": routes}]});
        let e = engine(cfg);
        let findings = lint(&e);
        let dead_routes: Vec<&str> = findings
            .iter()
            .filter(|f| f.code == "shadowed-route" && f.level == Level::Error)
            .map(|f| f.ids[0].as_str())
            .collect();
        let dead_rules: Vec<&str> = findings
            .iter()
            .filter(|f| f.code == "shadowed-rule")
            .map(|f| f.ids[0].as_str())
            .collect();
        reported += dead_routes.len() + dead_rules.len();
        let values = ["a", "b", "ab", "ba", "xa", "c"];
        for path in req_paths {
            for host in hosts {
                for method in ["GET", "POST"] {
                    for (v1, v2) in [
                        (None, None),
                        (Some("a"), None),
                        (Some("ab"), None),
                        (Some("b"), Some("a")),
                    ]
                    .into_iter()
                    .chain(values.iter().map(|v| (Some(*v), None)))
                    {
                        let headers: Vec<(String, String)> = [v1, v2]
                            .into_iter()
                            .flatten()
                            .map(|v| ("x-k".to_string(), v.to_string()))
                            .collect();
                        let view = RequestView {
                            method,
                            authority: host,
                            path,
                            headers: &headers,
                            remote_addr: None,
                        };
                        if let Decision::Forward(f) = e.evaluate(&view) {
                            assert!(
                                !dead_routes.contains(&f.route_id),
                                "{router}: {} selected for {method} {host}{path}: {findings:#?}",
                                f.route_id
                            );
                            if let Some(rule) = f.rule_id {
                                assert!(
                                    !dead_rules.contains(&rule),
                                    "{rule} selected for {headers:?} {path}: {findings:#?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        reported > 50,
        "only {reported} findings: the generator should produce shadowing"
    );
}
