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
