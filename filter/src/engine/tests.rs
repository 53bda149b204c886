//! Engine tests, named after the rules they cover (routing.md).

use serde_json::{json, Value};

use super::*;
use crate::decision::Decision;
use crate::error::ErrorKind;
use crate::trace::{Failed, Verdict};

mod apisix_p6;
mod aws_examples;
mod p6_reference;
mod reference;

fn engine(config: Value) -> Engine {
    let e = Engine::from_json(&config.to_string()).unwrap_or_else(|e| panic!("config rejected:\n{e}"));
    e.check_invariants().expect("invariants");
    e
}

fn errors(config: Value) -> Vec<(String, String)> {
    let errs = Engine::from_json(&config.to_string()).expect_err("config must be rejected");
    errs.iter()
        .map(|e| (e.path.clone(), e.kind.to_string()))
        .collect()
}

fn has_error(errs: &[(String, String)], path: &str, needle: &str) -> bool {
    errs.iter().any(|(p, m)| p == path && m.contains(needle))
}

#[track_caller]
fn assert_error(config: Value, path: &str, needle: &str) {
    let errs = errors(config);
    assert!(
        has_error(&errs, path, needle),
        "no `{needle}` at {path} in {errs:#?}"
    );
}

/// A request, summarised for assertions.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    /// (cluster, route id, forwarded path or "-")
    Fwd(String, String, String),
    Reply(u16, &'static str),
}

struct Req<'a> {
    method: &'a str,
    host: &'a str,
    path: &'a str,
    headers: Vec<(String, String)>,
    remote: Option<&'a str>,
}

fn req<'a>(method: &'a str, host: &'a str, path: &'a str) -> Req<'a> {
    Req {
        method,
        host,
        path,
        headers: Vec::new(),
        remote: None,
    }
}

impl<'a> Req<'a> {
    fn h(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
    fn from(mut self, addr: &'a str) -> Self {
        self.remote = Some(addr);
        self
    }
    fn view(&self) -> RequestView<'_> {
        RequestView {
            method: self.method,
            authority: self.host,
            path: self.path,
            headers: &self.headers,
            remote_addr: self.remote,
        }
    }
    fn on(&self, e: &Engine) -> Out {
        match e.evaluate(&self.view()) {
            Decision::Forward(f) => Out::Fwd(
                f.cluster.to_string(),
                f.route_id.to_string(),
                f.path.unwrap_or_else(|| "-".into()),
            ),
            Decision::LocalReply(r) => Out::Reply(r.status, r.reason),
        }
    }
    fn cluster(&self, e: &Engine) -> String {
        match self.on(e) {
            Out::Fwd(c, _, _) => c,
            Out::Reply(s, r) => format!("{s} {r}"),
        }
    }
    fn route(&self, e: &Engine) -> String {
        match self.on(e) {
            Out::Fwd(_, r, _) => r,
            Out::Reply(s, r) => format!("{s} {r}"),
        }
    }
}

fn http(cluster: &str) -> Value {
    json!({"type": "http", "cluster": cluster})
}

/// One API per name, stage `prod` forwarding to a cluster named after the API.
fn apis(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| json!({"id": n, "stages": {"prod": {"integration": http(n)}}}))
            .collect(),
    )
}

fn rule(id: &str, priority: i64, conditions: Value, api: &str) -> Value {
    json!({"id": id, "priority": priority, "conditions": conditions,
           "action": {"invoke_api": {"api": api, "stage": "prod"}}})
}

fn rules_domain(rules: Value) -> Value {
    json!({"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rules}],
           "apis": apis(&["api1", "api2", "api3"])})
}

/// One `*` domain with a catch-all mapping to an API holding `routes`.
fn routes_api(routes: Value) -> Value {
    json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
           "apis": [{"id": "a", "stages": {"prod": {"integration": http("stage")}}, "routes": routes}]})
}

// ---------------------------------------------------------------- layer 1

#[test]
fn d1_domain_patterns_exact_wildcard_any() {
    let mut names = Vec::new();
    for (n, api) in [
        ("api.example.com", "api1"),
        ("*.example.com", "api2"),
        ("*", "api3"),
    ] {
        names.push(json!({"name": n, "api_mappings": [{"api": api, "stage": "prod"}]}));
    }
    let e = engine(json!({"domains": names, "apis": apis(&["api1", "api2", "api3"])}));
    assert_eq!(req("GET", "api.example.com", "/").cluster(&e), "api1");
    assert_eq!(req("GET", "a.example.com", "/").cluster(&e), "api2");
    assert_eq!(req("GET", "a.b.example.com", "/").cluster(&e), "api2");
    assert_eq!(req("GET", "example.com", "/").cluster(&e), "api3");
    assert_eq!(req("GET", "other.org", "/").cluster(&e), "api3");
}

#[test]
fn d2_host_is_case_insensitive_and_port_ignored_unless_named() {
    let e = engine(json!({"domains": [
            {"name": "API.example.com", "api_mappings": [{"api": "api1", "stage": "prod"}]},
            {"name": "api.example.com:8443", "api_mappings": [{"api": "api2", "stage": "prod"}]}],
        "apis": apis(&["api1", "api2"])}));
    assert_eq!(req("GET", "Api.Example.COM", "/").cluster(&e), "api1");
    assert_eq!(req("GET", "api.example.com:80", "/").cluster(&e), "api1");
    assert_eq!(req("GET", "api.example.com:8443", "/").cluster(&e), "api2");
}

#[test]
fn d3_exact_beats_longest_wildcard_beats_any_and_none_is_404() {
    let mut names = Vec::new();
    for (n, api) in [
        ("*.example.com", "api1"),
        ("*.b.example.com", "api2"),
        ("a.b.example.com", "api3"),
    ] {
        names.push(json!({"name": n, "api_mappings": [{"api": api, "stage": "prod"}]}));
    }
    let e = engine(json!({"domains": names, "apis": apis(&["api1", "api2", "api3"])}));
    assert_eq!(req("GET", "a.b.example.com", "/").cluster(&e), "api3");
    assert_eq!(req("GET", "x.b.example.com", "/").cluster(&e), "api2");
    assert_eq!(req("GET", "x.example.com", "/").cluster(&e), "api1");
    let r = req("GET", "example.org", "/");
    match e.evaluate(&r.view()) {
        Decision::LocalReply(l) => {
            assert_eq!(
                (l.status, l.body, l.reason),
                (404, r#"{"message":"Not Found"}"#, "no_domain")
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- layer 2: rules

#[test]
fn r1_priority_range_and_uniqueness_within_a_domain() {
    let cfg = rules_domain(json!([
        rule("a", 0, json!({}), "api1"),
        rule("b", 1_000_001, json!({}), "api1"),
        rule("c", 5, json!({}), "api1"),
        rule("d", 5, json!({"base_path": "x"}), "api1"),
    ]));
    let errs = errors(cfg);
    assert!(has_error(
        &errs,
        "domains[0].routing_rules[0].priority",
        "0 is outside 1..=1000000"
    ));
    assert!(has_error(
        &errs,
        "domains[0].routing_rules[1].priority",
        "1000001 is outside"
    ));
    assert!(has_error(
        &errs,
        "domains[0].routing_rules[3].priority",
        "priority 5 is already used by domains[0].routing_rules[2].priority"
    ));
    // Both bounds are allowed.
    engine(rules_domain(json!([
        rule("a", 1, json!({}), "api1"),
        rule("b", 1_000_000, json!({}), "api2")
    ])));
}

#[test]
fn r2_rules_are_evaluated_by_ascending_priority_not_file_order() {
    let e = engine(rules_domain(json!([
        rule("late", 300, json!({}), "api3"),
        rule(
            "mid",
            200,
            json!({"headers": [{"header": "x-v", "value_glob": "beta"}]}),
            "api2"
        ),
        rule("first", 100, json!({"base_path": "orders"}), "api1"),
    ])));
    assert_eq!(req("GET", "h", "/orders/1").h("x-v", "beta").cluster(&e), "api1");
    assert_eq!(req("GET", "h", "/other").h("x-v", "beta").cluster(&e), "api2");
    assert_eq!(req("GET", "h", "/other").cluster(&e), "api3");
}

// API Gateway's documented "Example 1: Routing rules only".
#[test]
fn r2_api_gateway_example_routing_rules_only() {
    let e = engine(rules_domain(json!([
        rule(
            "abc123",
            10,
            json!({"headers": [{"header": "Hello", "value_glob": "World"}]}),
            "api1"
        ),
        rule(
            "zzz000",
            50,
            json!({"headers": [{"header": "Accept", "value_glob": "image/webp"},
                                              {"header": "Pet", "value_glob": "Dog-*"}],
                                  "base_path": "PetStoreShopper"}),
            "api2"
        ),
        rule("efg456", 100, json!({}), "api3"),
    ])));
    let host = "petstore.example.com";
    assert_eq!(req("GET", host, "/").h("Hello", "World").cluster(&e), "api1");
    let all = req("GET", host, "/PetStoreShopper")
        .h("Hello", "World")
        .h("Pet", "Dog-Bella")
        .h("Accept", "image/webp");
    assert_eq!(all.cluster(&e), "api1");
    let two = req("GET", host, "/PetStoreShopper")
        .h("Pet", "Dog-Bella")
        .h("Accept", "image/webp");
    assert_eq!(two.cluster(&e), "api2");
    assert_eq!(
        req("GET", host, "/PetStoreShopper")
            .h("Pet", "Dog-Bella")
            .cluster(&e),
        "api3"
    );
}

#[test]
fn r3_header_name_case_insensitive_value_case_sensitive() {
    let e = engine(rules_domain(json!([rule(
        "hw",
        1,
        json!({"headers": [{"header": "Hello", "value_glob": "World"}]}),
        "api1"
    )])));
    assert_eq!(req("GET", "h", "/").h("hello", "World").cluster(&e), "api1");
    assert_eq!(req("GET", "h", "/").h("hello", "world").cluster(&e), "403 no_api");
}

#[test]
fn r3_two_conditions_on_the_same_header_must_both_hold() {
    let e = engine(rules_domain(json!([rule(
        "both",
        1,
        json!({"headers": [{"header": "x-v", "value_glob": "a*"}, {"header": "x-v", "value_glob": "*z"}]}),
        "api1"
    )])));
    assert_eq!(req("GET", "h", "/").h("x-v", "abcz").cluster(&e), "api1");
    assert_eq!(req("GET", "h", "/").h("x-v", "abc").cluster(&e), "403 no_api");
    // R4: the two conditions may be satisfied by different lines.
    assert_eq!(
        req("GET", "h", "/").h("x-v", "ab").h("x-v", "yz").cluster(&e),
        "api1"
    );
}

#[test]
fn r3_glob_forms_through_the_index() {
    let e = engine(rules_domain(json!([
        rule(
            "exact",
            1,
            json!({"headers": [{"header": "x-t", "value_glob": "tenant-1"}]}),
            "api1"
        ),
        rule(
            "prefix",
            2,
            json!({"headers": [{"header": "x-t", "value_glob": "tenant-*"}]}),
            "api2"
        ),
        rule(
            "suffix",
            3,
            json!({"headers": [{"header": "x-t", "value_glob": "*.example.com"}]}),
            "api3"
        ),
        rule(
            "contains",
            4,
            json!({"headers": [{"header": "x-t", "value_glob": "*/v1/*"}]}),
            "api1"
        ),
        rule(
            "any",
            5,
            json!({"headers": [{"header": "x-t", "value_glob": "*"}]}),
            "api2"
        ),
    ])));
    let r = |v: &str| req("GET", "h", "/").h("x-t", v).cluster(&e);
    assert_eq!(r("tenant-1"), "api1");
    assert_eq!(r("tenant-2"), "api2");
    assert_eq!(r("a.example.com"), "api3");
    assert_eq!(r("x/v1/y"), "api1");
    assert_eq!(r(""), "api2");
    assert_eq!(req("GET", "h", "/").cluster(&e), "403 no_api");
}

#[test]
fn r4_any_line_of_a_repeated_header_matches_but_a_joined_line_is_literal() {
    let e = engine(rules_domain(json!([rule(
        "json",
        1,
        json!({"headers": [{"header": "Accept", "value_glob": "*json"}]}),
        "api1"
    )])));
    assert_eq!(
        req("GET", "h", "/")
            .h("accept", "text/xml")
            .h("accept", "application/json")
            .cluster(&e),
        "api1"
    );
    assert_eq!(
        req("GET", "h", "/")
            .h("accept", "application/json,text/xml")
            .cluster(&e),
        "403 no_api"
    );
}

#[test]
fn r5_absent_header_fails_even_for_star() {
    let e = engine(rules_domain(json!([rule(
        "any",
        1,
        json!({"headers": [{"header": "x-any", "value_glob": "*"}]}),
        "api1"
    )])));
    assert_eq!(req("GET", "h", "/").cluster(&e), "403 no_api");
    assert_eq!(req("GET", "h", "/").h("x-any", "").cluster(&e), "api1");
}

#[test]
fn r6_base_path_condition_matches_on_segment_boundaries() {
    let e = engine(rules_domain(json!([rule(
        "p",
        1,
        json!({"base_path": "products"}),
        "api1"
    )])));
    for yes in ["/products", "/products/", "/products/x", "/products?q=1"] {
        assert_eq!(req("GET", "h", yes).cluster(&e), "api1", "{yes}");
    }
    for no in ["/productsX", "/a/products", "/Products", "/?products"] {
        assert_eq!(req("GET", "h", no).cluster(&e), "403 no_api", "{no}");
    }
    let e = engine(rules_domain(json!([rule(
        "p",
        1,
        json!({"base_path": "orders/v2"}),
        "api1"
    )])));
    assert_eq!(req("GET", "h", "/orders/v2/x").cluster(&e), "api1");
    assert_eq!(req("GET", "h", "/orders/v22").cluster(&e), "403 no_api");
}

#[test]
fn r7_strip_base_path_rewrites_the_forwarded_path_and_keeps_the_query() {
    let strip = |base: &str| {
        let mut r = rule("s", 1, json!({"base_path": base}), "api1");
        r["action"]["invoke_api"]["strip_base_path"] = json!(true);
        engine(rules_domain(json!([r])))
    };
    let e = strip("PetStoreShopper");
    let fwd = |e: &Engine, p: &str| match req("GET", "h", p).on(e) {
        Out::Fwd(_, _, path) => path,
        other => format!("{other:?}"),
    };
    assert_eq!(fwd(&e, "/PetStoreShopper/dogs"), "/dogs");
    assert_eq!(fwd(&e, "/PetStoreShopper?birds=available"), "/?birds=available");
    assert_eq!(fwd(&strip("PetStoreShopper/dogs"), "/PetStoreShopper/dogs"), "/");
    // Without strip_base_path the path is untouched.
    let e = engine(rules_domain(json!([rule(
        "s",
        1,
        json!({"base_path": "PetStoreShopper"}),
        "api1"
    )])));
    assert_eq!(fwd(&e, "/PetStoreShopper/dogs"), "-");
}

#[test]
fn r8_routing_modes() {
    let domain = |mode: &str, rules: Value, mappings: Value| {
        json!({"domains": [{"name": "*", "routing_mode": mode, "routing_rules": rules, "api_mappings": mappings}],
               "apis": apis(&["api1", "api2"])})
    };
    let rules = json!([rule(
        "r",
        1,
        json!({"headers": [{"header": "x-v", "value_glob": "2"}]}),
        "api2"
    )]);
    let maps = json!([{"api": "api1", "stage": "prod"}]);
    let e = engine(domain(
        "ROUTING_RULE_THEN_API_MAPPING",
        rules.clone(),
        maps.clone(),
    ));
    assert_eq!(req("GET", "h", "/").h("x-v", "2").cluster(&e), "api2");
    assert_eq!(req("GET", "h", "/").cluster(&e), "api1");
    let e = engine(domain("ROUTING_RULE_ONLY", rules.clone(), json!([])));
    assert_eq!(req("GET", "h", "/").cluster(&e), "403 no_api");
    let e = engine(domain("API_MAPPING_ONLY", json!([]), maps.clone()));
    assert_eq!(req("GET", "h", "/").h("x-v", "2").cluster(&e), "api1");
    // R12: rules in API_MAPPING_ONLY (the default) and mappings in ROUTING_RULE_ONLY are errors.
    assert_error(
        domain("API_MAPPING_ONLY", rules.clone(), maps.clone()),
        "domains[0].routing_rules",
        "API_MAPPING_ONLY",
    );
    assert_error(
        domain("ROUTING_RULE_ONLY", rules, maps),
        "domains[0].api_mappings",
        "ROUTING_RULE_ONLY",
    );
}

#[test]
fn r9_longest_base_path_wins_and_mapped_base_paths_are_stripped() {
    let e = engine(json!({"domains": [{"name": "*", "api_mappings": [
            {"base_path": "", "api": "api1", "stage": "prod"},
            {"base_path": "orders", "api": "api2", "stage": "prod"},
            {"base_path": "orders/v2", "api": "api3", "stage": "prod"}]}],
        "apis": apis(&["api1", "api2", "api3"])}));
    let out = |p: &str| req("GET", "h", p).on(&e);
    assert_eq!(
        out("/orders/v2/7?x=1"),
        Out::Fwd("api3".into(), route_default_id(), "/7?x=1".into())
    );
    assert_eq!(
        out("/orders/v3"),
        Out::Fwd("api2".into(), route_default_id(), "/v3".into())
    );
    assert_eq!(
        out("/orders"),
        Out::Fwd("api2".into(), route_default_id(), "/".into())
    );
    assert_eq!(
        out("/ordersX"),
        Out::Fwd("api1".into(), route_default_id(), "-".into())
    );
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/orders/v2").view()) else {
        panic!()
    };
    assert_eq!((f.rule_id, f.mapping_id), (None, Some("orders/v2")));
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/x").view()) else {
        panic!()
    };
    assert_eq!(f.mapping_id, Some("(none)"));
}

fn route_default_id() -> String {
    crate::ids::derived_id("route", "key $default")
}

#[test]
fn r9_routes_match_the_path_after_the_mapped_base_path() {
    let e = engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"base_path": "pets", "api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "stages": {"prod": {"integration": http("c")}},
                  "routes": [{"id": "one", "key": "GET /{id}"}, {"id": "root", "key": "GET /"}]}]}),
    );
    assert_eq!(req("GET", "h", "/pets/7").route(&e), "one");
    assert_eq!(req("GET", "h", "/pets").route(&e), "root");
    assert_eq!(req("GET", "h", "/pets?x").route(&e), "root");
    assert_eq!(req("GET", "h", "/cats/7").route(&e), "403 no_api");
}

#[test]
fn r10_nothing_selected_is_403_forbidden_and_the_status_is_configurable() {
    let e = engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"base_path": "x", "api": "api1", "stage": "prod"}]}],
        "apis": apis(&["api1"])}),
    );
    match e.evaluate(&req("GET", "h", "/y").view()) {
        Decision::LocalReply(l) => {
            assert_eq!(
                (l.status, l.body, l.reason),
                (403, r#"{"message":"Forbidden"}"#, "no_api")
            );
            assert_eq!(l.context.domain, Some("*"));
        }
        other => panic!("{other:?}"),
    }
    let e = engine(json!({"domains": [{"name": "*", "no_match_status": 404}], "apis": []}));
    match e.evaluate(&req("GET", "h", "/y").view()) {
        Decision::LocalReply(l) => assert_eq!((l.status, l.body), (404, r#"{"message":"Not Found"}"#)),
        other => panic!("{other:?}"),
    }
    assert_error(
        json!({"domains": [{"name": "*", "no_match_status": 200}]}),
        "domains[0].no_match_status",
        "400..=599",
    );
}

#[test]
fn r11_rule_and_mapping_ids_are_exposed() {
    let e = engine(
        json!({"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_THEN_API_MAPPING",
            "routing_rules": [rule("beta", 1, json!({"headers": [{"header": "x-v", "value_glob": "beta"}]}), "api2")],
            "api_mappings": [{"id": "m1", "api": "api1", "stage": "prod"}]}],
        "apis": apis(&["api1", "api2"])}),
    );
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/").h("x-v", "beta").view()) else {
        panic!()
    };
    assert_eq!(
        (f.rule_id, f.mapping_id, f.api, f.stage),
        (Some("beta"), None, "api2", "prod")
    );
    assert!(f.counters.rule.is_some() && f.counters.mapping.is_none());
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/").view()) else {
        panic!()
    };
    assert_eq!((f.rule_id, f.mapping_id), (None, Some("m1")));
}

#[test]
fn r11_derived_rule_ids_are_stable_hex() {
    let cfg = |order: bool| {
        let a = json!({"priority": 10, "action": {"invoke_api": {"api": "api1", "stage": "prod"}}});
        let b = json!({"priority": 20, "conditions": {"base_path": "x"},
                       "action": {"invoke_api": {"api": "api2", "stage": "prod"}}});
        let rules = if order { json!([a, b]) } else { json!([b, a]) };
        engine(
            json!({"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rules}],
                      "apis": apis(&["api1", "api2"])}),
        )
    };
    let id = |e: &Engine| match e.evaluate(&req("GET", "h", "/x").view()) {
        Decision::Forward(f) => f.rule_id.map(str::to_string),
        _ => None,
    };
    let a = id(&cfg(true)).expect("rule id");
    assert_eq!(Some(a.clone()), id(&cfg(false)));
    assert!(a.len() >= 12 && a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
}

#[test]
fn r12_every_rule_error_is_reported_with_its_field_path() {
    let long_name = "x".repeat(41);
    let long_glob = format!("{}*", "v".repeat(128));
    let cfg = json!({"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [
        {"priority": 1, "conditions": {"headers": [
            {"header": "a", "value_glob": "1"}, {"header": "b", "value_glob": "2"}, {"header": "c", "value_glob": "3"}]},
         "action": {"invoke_api": {"api": "api1", "stage": "prod"}}},
        {"priority": 2, "conditions": {"headers": [
            {"header": long_name, "value_glob": "a*b"}, {"header": "bad header", "value_glob": long_glob}]},
         "action": {"invoke_api": {"api": "nope", "stage": "prod"}}},
        {"priority": 3, "conditions": {"headers": [
            {"header": "Authorization", "value_glob": "x"}, {"header": "X-Amzn-Trace-Id", "value_glob": "x"}],
            "base_path": "/orders"},
         "action": {"invoke_api": {"api": "api1", "stage": "beta"}}},
        {"priority": 4, "conditions": {"headers": [
            {"header": "x-forwarded-for", "value_glob": "x"}, {"header": "x-routewise-cluster", "value_glob": "x"}],
            "base_path": "orders/"},
         "action": {"invoke_api": {"api": "api1", "stage": "prod"}}},
        {"priority": 5, "conditions": {"base_path": "x".repeat(129)},
         "action": {"invoke_api": {"api": "api1", "stage": "prod"}}}
    ]}], "apis": apis(&["api1"])});
    let errs = errors(cfg);
    let want = [
        (
            "domains[0].routing_rules[0].conditions.headers",
            "at most 2 header conditions allowed, 3 given",
        ),
        (
            "domains[0].routing_rules[1].conditions.headers[0].header",
            "longer than 40 characters",
        ),
        (
            "domains[0].routing_rules[1].conditions.headers[0].value_glob",
            "`*` is allowed only at the start",
        ),
        (
            "domains[0].routing_rules[1].conditions.headers[1].header",
            "character ` ` is not allowed",
        ),
        (
            "domains[0].routing_rules[1].conditions.headers[1].value_glob",
            "longer than 128 characters",
        ),
        (
            "domains[0].routing_rules[1].action.invoke_api.api",
            "unknown api `nope`",
        ),
        (
            "domains[0].routing_rules[2].conditions.headers[0].header",
            "header `authorization` cannot be used",
        ),
        (
            "domains[0].routing_rules[2].conditions.headers[1].header",
            "headers `x-amzn-*` cannot be used",
        ),
        (
            "domains[0].routing_rules[2].conditions.base_path",
            "without leading or trailing `/`",
        ),
        (
            "domains[0].routing_rules[2].action.invoke_api.stage",
            "unknown stage `beta`",
        ),
        (
            "domains[0].routing_rules[3].conditions.headers[0].header",
            "headers `x-forwarded-*` cannot be used",
        ),
        (
            "domains[0].routing_rules[3].conditions.headers[1].header",
            "the filter's cluster header",
        ),
        (
            "domains[0].routing_rules[3].conditions.base_path",
            "without leading or trailing `/`",
        ),
        (
            "domains[0].routing_rules[4].conditions.base_path",
            "longer than 128 characters",
        ),
    ];
    for (path, msg) in want {
        assert!(has_error(&errs, path, msg), "missing {path}: {msg} in\n{errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    // Exactly 40 characters is allowed.
    engine(rules_domain(json!([rule(
        "ok",
        1,
        json!({"headers": [{"header": "x".repeat(40), "value_glob": "v"}]}),
        "api1"
    )])));
}

#[test]
fn r12_display_one_line_per_error() {
    let text = json!({"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [
        {"priority": 0, "action": {"invoke_api": {"api": "x", "stage": "p"}}}]}]})
    .to_string();
    let errs = Engine::from_json(&text).expect_err("bad");
    assert_eq!(
        errs.to_string(),
        "domains[0].routing_rules[0].priority: 0 is outside 1..=1000000\n\
         domains[0].routing_rules[0].action.invoke_api.api: unknown api `x`"
    );
}

#[test]
fn r12_mapping_and_domain_errors() {
    let cfg = json!({"domains": [
        {"name": "a.com", "api_mappings": [
            {"base_path": "x", "api": "api1", "stage": "prod"},
            {"base_path": "x", "api": "api1", "stage": "prod"},
            {"base_path": "/y", "api": "api1", "stage": "prod"},
            {"base_path": "", "api": "ghost", "stage": "prod"}]},
        {"name": "A.com", "api_mappings": []},
        {"name": "bad host", "api_mappings": []},
        {"name": "*.", "api_mappings": []},
        {"name": "a.*.com", "api_mappings": []}],
        "apis": apis(&["api1", "api1"])});
    let errs = errors(cfg);
    for (path, msg) in [
        (
            "domains[0].api_mappings[1].base_path",
            "base path `x` is already used by domains[0].api_mappings[0].base_path",
        ),
        (
            "domains[0].api_mappings[2].base_path",
            "without leading or trailing `/`",
        ),
        ("domains[0].api_mappings[3].api", "unknown api `ghost`"),
        (
            "domains[1].name",
            "domain `a.com` is already used by domains[0].name",
        ),
        ("domains[2].name", "is invalid"),
        ("domains[3].name", "is invalid"),
        ("domains[4].name", "is invalid"),
        ("apis[1].id", "api id `api1` is already used by apis[0]"),
    ] {
        assert!(has_error(&errs, path, msg), "missing {path}: {msg} in\n{errs:#?}");
    }
}

#[test]
fn p6_apisix_routers_plugins_and_consumers_compile() {
    // G1: plugins and consumers compile; P6: the APISIX routers are accepted.
    let cfg = json!({"domains": [{"name": "*"}], "consumers": [{"username": "u"}],
        "apis": [{"id": "a", "router": "apisix_radixtree_uri", "plugins": {"key-auth": {}},
                  "stages": {"prod": {"integration": http("c")}},
                  "services": [{"id": "s", "plugins": {"proxy-rewrite": {}}}],
                  "routes": [{"key": "GET /", "plugins": {"response-rewrite": {}}}]}]});
    let e = engine(cfg);
    assert_eq!(e.apis()[0].router, crate::config::RouterKind::ApisixRadixtreeUri);
}

#[test]
fn p6_apisix_routers_take_exact_and_prefix_paths_only() {
    let cfg = json!({"domains": [{"name": "*"}],
        "apis": [{"id": "a", "router": "apisix_radixtree_host_uri",
                  "stages": {"prod": {"integration": http("c")}},
                  "routes": [{"paths": ["/a", "/b/*", "/c*", "/pets/{id}"]}, {"key": "$default"}]}]});
    let errs = errors(cfg);
    assert!(
        has_error(
            &errs,
            "apis[0].routes[0].paths[3]",
            "router `apisix_radixtree_host_uri` matches exact paths and prefixes"
        ),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, "apis[0].routes[1].key", "use router `specificity`"),
        "{errs:#?}"
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn shape_errors_of_items_are_reported_with_semantic_errors() {
    let mut cfg = rules_domain(json!([
        {"priority": "high", "action": {"invoke_api": {"api": "api1", "stage": "prod"}}},
        rule("r", 0, json!({}), "api1"),
    ]));
    cfg["apis"][0]["routes"] = json!([{"key": "GET /", "bogus": 1}]);
    let errs = errors(cfg);
    assert!(
        has_error(&errs, "domains[0].routing_rules[0].priority", "invalid type"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, "domains[0].routing_rules[1].priority", "outside"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, "apis[0].routes[0].bogus", "unknown field `bogus`"),
        "{errs:#?}"
    );
}

// ---------------------------------------------------------------- layer 3: routes

#[test]
fn p1_methods_hosts_vars_and_remote_addrs_filter_and_fall_through() {
    let e = engine(routes_api(json!([
        {"id": "get", "paths": ["/x"], "methods": ["GET"], "integration": http("get")},
        {"id": "host", "paths": ["/x"], "hosts": ["api.example.com"], "integration": http("host")},
        {"id": "vars", "paths": ["/x"], "priority": 10, "vars": [["http_x_env", "==", "prod"], ["arg_v", ">", 1]],
         "integration": http("vars")},
        {"id": "net", "paths": ["/x"], "priority": 5, "remote_addrs": ["10.0.0.0/8", "::1"], "integration": http("net")},
        {"id": "any", "paths": ["/x"]},
    ])));
    assert_eq!(req("POST", "api.example.com", "/x").cluster(&e), "host");
    assert_eq!(
        req("POST", "other", "/x?v=2").h("x-env", "prod").cluster(&e),
        "vars"
    );
    assert_eq!(
        req("POST", "other", "/x?v=1").h("x-env", "prod").cluster(&e),
        "stage"
    );
    assert_eq!(req("POST", "other", "/x").from("10.1.2.3:555").cluster(&e), "net");
    assert_eq!(req("POST", "other", "/x").from("[::1]:555").cluster(&e), "net");
    assert_eq!(req("GET", "other", "/x").from("11.0.0.1:1").cluster(&e), "get");
    assert_eq!(req("PUT", "other", "/x").cluster(&e), "stage");
    assert_eq!(req("PUT", "other", "/y").cluster(&e), "404 no_route");
}

#[test]
fn p1_route_hosts_exact_wildcard_and_port() {
    let e = engine(routes_api(json!([
        {"id": "exact", "paths": ["/"], "hosts": ["A.example.com"]},
        {"id": "wild", "paths": ["/"], "hosts": ["*.example.com"]},
        {"id": "port", "paths": ["/"], "hosts": ["b.example.com:8080"]},
        {"id": "none", "paths": ["/"]},
    ])));
    assert_eq!(req("GET", "a.EXAMPLE.com:9", "/").route(&e), "exact");
    assert_eq!(req("GET", "z.y.example.com", "/").route(&e), "wild");
    assert_eq!(req("GET", "b.example.com:8080", "/").route(&e), "port");
    assert_eq!(req("GET", "b.example.com", "/").route(&e), "wild");
    assert_eq!(req("GET", "example.com", "/").route(&e), "none");
}

#[test]
fn p2_path_forms_select_routes() {
    let e = engine(routes_api(json!([
        {"id": "exact", "paths": ["/a/b"]},
        {"id": "slash-prefix", "paths": ["/a/*"]},
        {"id": "byte-prefix", "paths": ["/a*"]},
        {"id": "template", "key": "GET /pets/{id}"},
        {"id": "greedy", "key": "ANY /{proxy+}"},
        {"id": "default", "key": "$default"},
    ])));
    for (path, want) in [
        ("/a/b", "exact"),
        ("/a/c", "slash-prefix"),
        ("/a", "byte-prefix"),
        ("/abc", "byte-prefix"),
        ("/pets/7", "template"),
        ("/pets/7/x", "greedy"),
        ("/pets", "greedy"),
        ("/", "default"),
        ("/a/b?x=1", "exact"),
    ] {
        assert_eq!(req("GET", "h", path).route(&e), want, "{path}");
    }
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/pets/7").view()) else {
        panic!()
    };
    assert_eq!(f.path_params, [("id", "7".to_string())]);
    assert_eq!(f.route_key, "GET /pets/{id}");
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/q/r").view()) else {
        panic!()
    };
    assert_eq!(f.path_params, [("proxy", "q/r".to_string())]);
    assert_eq!(f.route_key, "ANY /{proxy+}");
}

#[test]
fn p2_invalid_paths_are_errors() {
    let errs = errors(routes_api(json!([
        {"paths": ["/a*/b", "no-slash", "/x/{proxy+}/y"]},
        {"key": "GET pets"}, {"key": "FETCH /x"}, {"key": "get /x"},
        {"paths": ["/a"], "methods": ["ANY"]},
        {"key": "GET /a", "paths": ["/b"]},
        {},
    ])));
    for (path, msg) in [
        (
            "apis[0].routes[0].paths[0]",
            "`*` is allowed only as the last character",
        ),
        ("apis[0].routes[0].paths[1]", "starts with `/`"),
        ("apis[0].routes[0].paths[2]", "must be the last segment"),
        ("apis[0].routes[1].key", "starts with `/`"),
        ("apis[0].routes[2].key", "not one of GET"),
        ("apis[0].routes[3].key", "methods are uppercase: `GET`"),
        ("apis[0].routes[4].methods[0]", "leave `methods` out"),
        ("apis[0].routes[5].key", "cannot be combined"),
        ("apis[0].routes[6]", "no path: set `key`"),
    ] {
        assert!(has_error(&errs, path, msg), "missing {path}: {msg} in\n{errs:#?}");
    }
}

#[test]
fn p3_duplicate_route_key_names_both_routes() {
    let errs = Engine::from_json(
        &routes_api(json!([
            {"id": "a", "key": "ANY /{proxy+}"},
            {"id": "b", "key": "ANY /{proxy+}"},
            {"id": "c", "key": "GET /pets/{id}"},
            {"id": "d", "paths": ["/pets/{petId}"], "methods": ["POST", "GET"]},
        ]))
        .to_string(),
    )
    .expect_err("duplicates");
    let shown = errs.to_string();
    assert!(
        shown.contains("apis[0].routes[1].key: route key ANY /{proxy+} is defined twice: routes a and b"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "apis[0].routes[3].paths[0]: route key GET /pets/{petId} is defined twice: routes c and d"
        ),
        "{shown}"
    );
    assert!(errs
        .iter()
        .any(|e| matches!(e.kind, ErrorKind::DuplicateRouteKey { .. })));
    // A route key is unique in the API whatever the route's hosts or vars (P3 says so of keys).
    let errs = Engine::from_json(
        &routes_api(json!([
            {"id": "a", "key": "ANY /x", "hosts": ["a.com"]},
            {"id": "b", "key": "ANY /x", "vars": [["http_x", "==", "1"]]},
        ]))
        .to_string(),
    )
    .expect_err("same key under other filters");
    assert!(
        errs.to_string()
            .contains("apis[0].routes[1].key: route key ANY /x is defined twice: routes a and b"),
        "{errs}"
    );
    // Distinct keys: `$default` vs `ANY /{proxy+}`, ANY vs GET; and routes written as `paths` (APISIX's
    // form) may repeat a path under other hosts (the P5 `test2.com` case).
    engine(routes_api(json!([
        {"key": "$default"}, {"key": "ANY /{proxy+}"}, {"key": "GET /{proxy+}"},
        {"paths": ["/x"], "hosts": ["a.com"]}, {"paths": ["/x"]},
    ])));
}

#[test]
fn p4_route_ids_are_derived_from_content_not_position() {
    let routes = [
        json!({"key": "GET /a"}),
        json!({"paths": ["/b", "/c"], "methods": ["POST", "GET"]}),
    ];
    let e1 = engine(routes_api(json!([routes[0], routes[1]])));
    let e2 = engine(routes_api(json!([{"key": "GET /z"}, routes[1], routes[0]])));
    for p in ["/a", "/c"] {
        let (a, b) = (req("GET", "h", p).route(&e1), req("GET", "h", p).route(&e2));
        assert_eq!(a, b, "{p}");
        assert!(a.len() >= 12 && a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
    // Same paths, methods in another order: same id.
    let e3 = engine(routes_api(
        json!([{"paths": ["/c", "/b"], "methods": ["GET", "POST"]}]),
    ));
    assert_eq!(req("GET", "h", "/b").route(&e3), req("GET", "h", "/b").route(&e1));
}

#[test]
fn p4_explicit_id_duplicates_and_derived_collisions_are_errors() {
    let errs = errors(routes_api(json!([
        {"id": "x", "key": "GET /a"},
        {"id": "x", "key": "GET /b"},
    ])));
    assert!(
        has_error(
            &errs,
            "apis[0].routes[1].id",
            "route id `x` is already used by apis[0].routes[0]"
        ),
        "{errs:#?}"
    );
    // An explicit id equal to another route's derived id is a collision, never a silent rename.
    let derived = crate::ids::derived_id("route", "key GET /a");
    let errs = errors(routes_api(
        json!([{"key": "GET /a"}, {"id": derived, "key": "GET /b"}]),
    ));
    assert!(
        has_error(&errs, "apis[0].routes[1].id", "derived from the route's content"),
        "{errs:#?}"
    );
}

#[test]
fn p5_specificity_order_path_class_then_literal_length() {
    let e = engine(routes_api(json!([
        {"id": "z-default", "key": "$default", "integration": http("default")},
        {"id": "y-greedy-root", "key": "ANY /{proxy+}"},
        {"id": "x-greedy-api", "key": "ANY /api/{proxy+}"},
        {"id": "w-prefix-short", "paths": ["/api/*"]},
        {"id": "v-prefix-long", "paths": ["/api/v1/*"]},
        {"id": "u-template", "key": "ANY /api/v1/{id}"},
        {"id": "t-exact", "paths": ["/api/v1/users"]},
        {"id": "s-template-two", "key": "ANY /api/{a}/{b}"},
    ])));
    for (path, want) in [
        ("/api/v1/users", "t-exact"),
        ("/api/v1/7", "u-template"),
        ("/api/v1/7/8", "v-prefix-long"),
        ("/api/v2/7", "s-template-two"),
        ("/api/v2", "w-prefix-short"),
        (
            "/api",
            "x-greedy-api".replace("x-greedy-api", "y-greedy-root").as_str(),
        ),
        ("/other", "y-greedy-root"),
        ("/", "z-default"),
    ] {
        assert_eq!(req("GET", "h", path).route(&e), want, "{path}");
    }
}

#[test]
fn p5_ties_priority_then_method_then_id_never_file_order() {
    let e = engine(routes_api(json!([
        {"id": "b-any", "paths": ["/x"]},
        {"id": "a-any", "paths": ["/x"], "vars": [["http_v", "~=", "never"]]},
        {"id": "c-get", "paths": ["/x"], "methods": ["GET"], "vars": [["http_k", "~=", "z"]]},
        {"id": "d-prio", "paths": ["/x"], "priority": 1, "vars": [["http_p", "==", "1"]]},
    ])));
    assert_eq!(req("GET", "h", "/x").h("p", "1").route(&e), "d-prio");
    assert_eq!(req("GET", "h", "/x").route(&e), "c-get");
    assert_eq!(req("POST", "h", "/x").route(&e), "a-any");
    assert_eq!(req("POST", "h", "/x").h("v", "never").route(&e), "b-any");
}

// APISIX: a route with host `test2.com` and uri `/test*` must beat a host-less `/test*` for
// `test2.com/test`, without help from priority.
#[test]
fn p5_apisix_host_route_beats_hostless_route_without_priority() {
    let e = engine(routes_api(json!([
        {"id": "1-hostless", "paths": ["/test*"], "integration": http("hostless")},
        {"id": "2-host", "paths": ["/test*"], "hosts": ["test2.com"], "integration": http("host")},
    ])));
    assert_eq!(req("GET", "test2.com", "/test").cluster(&e), "host");
    assert_eq!(req("GET", "test1.com", "/test").cluster(&e), "hostless");
    // Host first: the host route wins even against a more specific host-less path.
    let e = engine(routes_api(json!([
        {"id": "exact-hostless", "paths": ["/test"], "integration": http("hostless")},
        {"id": "prefix-host", "paths": ["/test*"], "hosts": ["test2.com"], "integration": http("host")},
    ])));
    assert_eq!(req("GET", "test2.com", "/test").cluster(&e), "host");
    // ... but falls through to host-less routes when its own path does not match.
    assert_eq!(req("GET", "test2.com", "/other").cluster(&e), "404 no_route");
}

#[test]
fn p5_template_before_prefix_at_equal_literal_length() {
    let e = engine(routes_api(
        json!([{"id": "prefix", "paths": ["/pets/*"]}, {"id": "tmpl", "key": "ANY /pets/{id}"}]),
    ));
    assert_eq!(req("GET", "h", "/pets/1").route(&e), "tmpl");
    assert_eq!(req("GET", "h", "/pets/1/2").route(&e), "prefix");
}

#[test]
fn p5_fewer_parameters_first_among_templates_of_equal_literal_length() {
    // `/ab/{x}/{y}` and `/{x}/c/d` both have 5 literal characters; the one with 1 parameter wins for
    // `/ab/c/d`, whatever the ids (id order would pick `a`) and the file order.
    for routes in [
        json!([{"id": "a", "key": "GET /ab/{x}/{y}"}, {"id": "z", "key": "GET /{x}/c/d"}]),
        json!([{"id": "z", "key": "GET /{x}/c/d"}, {"id": "a", "key": "GET /ab/{x}/{y}"}]),
    ] {
        let e = engine(routes_api(routes));
        assert_eq!(req("GET", "h", "/ab/c/d").route(&e), "z");
        assert_eq!(req("GET", "h", "/ab/c/e").route(&e), "a");
    }
}

#[test]
fn p7_hosts_inherit_and_route_hosts_replace() {
    let e = engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "hosts": ["api.com"], "stages": {"prod": {"integration": http("stage")}},
            "services": [{"id": "svc", "hosts": ["svc.com"], "integration": http("svc")}],
            "routes": [
                {"id": "inherits-api", "paths": ["/a"]},
                {"id": "inherits-svc", "paths": ["/b"], "service": "svc"},
                {"id": "own", "paths": ["/c"], "service": "svc", "hosts": ["own.com"], "integration": http("own")},
                {"id": "open", "paths": ["/d"], "hosts": []}]}]}),
    );
    assert_eq!(req("GET", "api.com", "/a").route(&e), "inherits-api");
    assert_eq!(req("GET", "x.com", "/a").route(&e), "404 no_route");
    assert_eq!(req("GET", "svc.com", "/b").cluster(&e), "svc");
    assert_eq!(req("GET", "api.com", "/b").route(&e), "404 no_route");
    assert_eq!(req("GET", "own.com", "/c").cluster(&e), "own");
    assert_eq!(req("GET", "svc.com", "/c").route(&e), "404 no_route");
    assert_eq!(req("GET", "any.org", "/d").cluster(&e), "stage");
    let api = &e.apis()[0];
    let origin = |id: &str| {
        api.routes
            .routes()
            .iter()
            .find(|r| &*r.id == id)
            .map(|r| r.hosts_origin.clone())
    };
    assert_eq!(
        origin("inherits-svc"),
        Some(crate::routing::routes::HostsOrigin::Service("svc".into()))
    );
    assert_eq!(
        origin("inherits-api"),
        Some(crate::routing::routes::HostsOrigin::Api)
    );
}

#[test]
fn p7_integration_route_then_service_then_stage_and_missing_is_an_error() {
    let cfg = json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "stages": {"prod": {"integration": http("stage")}, "beta": {}},
            "services": [{"id": "s", "integration": {"type": "lambda", "cluster": "lambda_c"}}],
            "routes": [{"id": "l", "key": "GET /l", "service": "s"}, {"id": "h", "key": "GET /h", "integration": http("own")},
                       {"id": "bare", "key": "GET /bare"}, {"id": "ghost", "key": "GET /g", "service": "nope"}]}]});
    let errs = errors(cfg.clone());
    assert!(
        has_error(
            &errs,
            "apis[0].routes[2]",
            "no integration: set `integration` on the route, on its service, or on stage `beta`"
        ),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, "apis[0].routes[3].service", "unknown service `nope`"),
        "{errs:#?}"
    );
    let mut ok = cfg;
    ok["apis"][0]["stages"]["beta"] = json!({"integration": http("beta")});
    ok["apis"][0]["routes"][3] = json!({"id": "ghost", "key": "GET /g"});
    let e = engine(ok);
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/l").view()) else {
        panic!()
    };
    assert!(matches!(f.integration, Integration::Lambda(l) if l.payload_format.as_str() == "2.0"));
    assert_eq!(f.cluster, "lambda_c");
    assert_eq!(req("GET", "h", "/h").cluster(&e), "own");
    assert_eq!(req("GET", "h", "/bare").cluster(&e), "stage");
}

#[test]
fn p8_no_route_is_404_not_found() {
    let e = engine(routes_api(json!([{"key": "GET /only"}])));
    match e.evaluate(&req("GET", "h", "/other").view()) {
        Decision::LocalReply(l) => {
            assert_eq!(
                (l.status, l.body, l.reason),
                (404, r#"{"message":"Not Found"}"#, "no_route")
            );
            assert_eq!((l.context.api, l.context.stage), (Some("a"), Some("prod")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn p9_query_is_never_matched_and_percent_2f_is_not_a_separator() {
    let e = engine(routes_api(
        json!([{"id": "one", "key": "GET /files/{name}"}, {"id": "q", "paths": ["/search"]}]),
    ));
    assert_eq!(req("GET", "h", "/files/a%2Fb").route(&e), "one");
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/files/a%2Fb?x=/y").view()) else {
        panic!()
    };
    assert_eq!(f.path_params, [("name", "a%2Fb".to_string())]);
    assert_eq!(req("GET", "h", "/search?q=/files/x").route(&e), "q");
}

#[test]
fn p1_invalid_filters_are_errors() {
    let errs = errors(routes_api(json!([
        {"key": "GET /a", "hosts": ["*"], "remote_addrs": ["10.0.0.1/8", "nope"], "vars": [["bogus", "==", 1]]},
    ])));
    for (path, msg) in [
        ("apis[0].routes[0].hosts[0]", "leave `hosts` out"),
        ("apis[0].routes[0].remote_addrs[0]", "write `10.0.0.0/8`"),
        ("apis[0].routes[0].remote_addrs[1]", "not an IPv4 or IPv6 address"),
        ("apis[0].routes[0].vars[0][0]", "unknown variable `bogus`"),
    ] {
        assert!(has_error(&errs, path, msg), "missing {path}: {msg} in\n{errs:#?}");
    }
}

#[test]
fn integration_errors_are_reported() {
    let errs = errors(
        json!({"domains": [{"name": "*"}], "apis": [{"id": "a", "stages": {
        "p": {"integration": {"type": "http", "cluster": "has space"}},
        "q": {"integration": {"type": "lambda", "cluster": "c", "payload_format_version": "3.0",
                               "max_request_body_bytes": 0}}}}]}),
    );
    for (path, msg) in [
        ("apis[0].stages.p.integration.cluster", "no spaces"),
        (
            "apis[0].stages.q.integration.payload_format_version",
            "\"1.0\" or \"2.0\"",
        ),
        (
            "apis[0].stages.q.integration.max_request_body_bytes",
            "at least 1",
        ),
    ] {
        assert!(has_error(&errs, path, msg), "missing {path}: {msg} in\n{errs:#?}");
    }
}

#[test]
fn lambda_limits_over_the_invoke_payload_limit_and_bad_stage_variables_are_errors() {
    let errs = errors(
        json!({"domains": [{"name": "*"}], "apis": [{"id": "a", "stages": {
        "q": {"variables": {"ok_1": "a-b.c~:/?#&=,", "bad name": "x", "v": "has space", "e": ""},
              "integration": {"type": "lambda", "cluster": "c",
                              "max_request_body_bytes": 100_000_000_000_u64, "max_response_body_bytes": 6_291_457,
                              "tiemout_ms": 10}}}}]}),
    );
    for (path, msg) in [
        (
            "apis[0].stages.q.integration.tiemout_ms",
            "unknown field `tiemout_ms`",
        ),
        (
            "apis[0].stages.q.integration.max_request_body_bytes",
            "at most 6291456 bytes",
        ),
        (
            "apis[0].stages.q.integration.max_response_body_bytes",
            "at most 6291456 bytes",
        ),
        (
            "apis[0].stages.q.variables.bad name",
            "only letters, digits and `_`",
        ),
        ("apis[0].stages.q.variables.v", "` ` is not allowed"),
        ("apis[0].stages.q.variables.e", "1 to 2048 characters"),
    ] {
        assert!(has_error(&errs, path, msg), "missing {path}: {msg} in\n{errs:#?}");
    }
    assert!(
        !errs.iter().any(|(p, _)| p.contains("ok_1")),
        "API Gateway's value characters are all allowed: {errs:#?}"
    );
    // The limit itself is accepted.
    engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "q"}]}],
                  "apis": [{"id": "a", "stages": {"q": {"integration": {"type": "lambda", "cluster": "c",
                      "max_request_body_bytes": 6_291_456, "max_response_body_bytes": 6_291_456}}}}]}),
    );
}

#[test]
fn api_without_routes_has_an_implicit_default_route() {
    let e = engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"api": "api1", "stage": "prod"}]}],
                          "apis": apis(&["api1"])}),
    );
    assert_eq!(
        req("DELETE", "h", "/any/thing").on(&e),
        Out::Fwd("api1".into(), route_default_id(), "-".into())
    );
    assert_error(
        json!({"domains": [{"name": "*"}], "apis": [{"id": "a", "stages": {"prod": {}}}]}),
        "apis[0].stages.prod.integration",
        "implicit `$default` route",
    );
}

#[test]
fn stage_variables_are_exposed() {
    let e = engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "stages": {"prod": {"variables": {"v": "1"}, "integration": http("c")}}}]}),
    );
    let Decision::Forward(f) = e.evaluate(&req("GET", "h", "/").view()) else {
        panic!()
    };
    assert_eq!(f.stage_variables.get("v").map(String::as_str), Some("1"));
}

// ---------------------------------------------------------------- explain hooks

#[derive(Default)]
struct Recorder(Vec<String>);

impl Trace for Recorder {
    const ENABLED: bool = true;
    fn event(&mut self, e: TraceEvent<'_>) {
        self.0.push(match e {
            TraceEvent::Domain { name } => format!("domain {name:?}"),
            TraceEvent::Rule { id, verdict, .. } => format!("rule {id} {verdict:?}"),
            TraceEvent::Mapping { id, .. } => format!("mapping {id}"),
            TraceEvent::Route {
                id,
                path,
                host,
                verdict,
            } => format!("route {id} {path} {host} {verdict:?}"),
        });
    }
}

#[test]
fn e1_trace_reports_every_candidate_with_its_verdict() {
    let mut cfg = rules_domain(json!([
        rule(
            "hdr",
            1,
            json!({"headers": [{"header": "x-v", "value_glob": "beta"}]}),
            "api1"
        ),
        rule("base", 2, json!({"base_path": "x"}), "api1"),
        rule("all", 3, json!({}), "api2"),
    ]));
    cfg["apis"][0]["routes"] = json!([
        {"id": "get", "paths": ["/x"], "methods": ["GET"]},
        {"id": "any", "paths": ["/x*"]},
    ]);
    let e = engine(cfg);
    let r = req("POST", "h", "/x").h("x-v", "alpha");
    let mut rec = Recorder::default();
    let d = e.evaluate_traced(&r.view(), &mut rec);
    assert_eq!(d, e.evaluate(&r.view()), "tracing does not change the decision");
    assert_eq!(
        rec.0,
        [
            "domain Some(\"*\")",
            "rule all Matched",
            "rule base Matched",
            "rule base Selected",
            "route get /x * Failed(Method)",
            "route any /x* * Matched",
            "route any /x* * Selected",
        ]
    );
    let _ = (Verdict::Selected, Failed::Vars);
}

// ---------------------------------------------------------------- scale

#[test]
fn ten_thousand_rules_and_routes_build_and_index_consistently() {
    let mut rules = Vec::new();
    for k in 0..10_000 {
        let glob = match k % 4 {
            0 => format!("tenant-{k}"),
            1 => format!("tenant-{k}-*"),
            2 => format!("*-{k}.example.com"),
            _ => format!("*.{k}.*"),
        };
        rules.push(rule(
            &format!("r{k}"),
            k + 1,
            json!({"base_path": format!("svc{k}"),
            "headers": [{"header": "x-tenant", "value_glob": glob}]}),
            "api1",
        ));
    }
    let mut cfg = rules_domain(Value::Array(rules));
    cfg["apis"][0]["routes"] = Value::Array(
        (0..10_000)
            .map(|k| json!({"key": format!("GET /svc{k}/api/{{id}}")}))
            .collect(),
    );
    let e = engine(cfg);
    assert_eq!(e.rule_count(), 10_000);
    assert_eq!(
        req("GET", "h", "/svc9999/api/1")
            .h("x-tenant", "zone.9999.eu")
            .cluster(&e),
        "api1"
    );
    assert_eq!(
        req("GET", "h", "/svc9998/api/1")
            .h("x-tenant", "a-9998.example.com")
            .cluster(&e),
        "api1"
    );
    assert_eq!(
        req("GET", "h", "/svc9998/api/1")
            .h("x-tenant", "nobody")
            .cluster(&e),
        "403 no_api"
    );
}

/// Issue 14: 5,000 contains globs on one header (a config that trapped the VM and cost 7-12 s per request
/// with per-gram regex sets): a 300-byte value holding many of the literals is decided by one automaton scan,
/// and the rule chosen is the reference's (the lowest priority whose glob matches, R2).
#[test]
fn r3_thousands_of_contains_globs_on_one_header_choose_the_reference_rule() {
    let literals: Vec<String> = (0..5_000).map(|k| format!("x{k}y")).collect();
    let rules: Vec<Value> = literals
        .chunks(2)
        .enumerate()
        .map(|(k, pair)| {
            let headers: Vec<Value> = pair
                .iter()
                .map(|l| json!({"header": "x-tag", "value_glob": format!("*{l}*")}))
                .collect();
            rule(
                &format!("r{k}"),
                k as i64 + 1,
                json!({"headers": headers}),
                "api1",
            )
        })
        .collect();
    let e = engine(rules_domain(Value::Array(rules)));
    // A value containing x10y ... x99y (and, inside them, x1y? no: `x1` then `0y`), 300 bytes long.
    let value: String = (10..85).map(|k| format!("x{k}y")).collect::<String>();
    let value = &value[..300.min(value.len())];
    // Reference: rule k has both globs of literals 2k and 2k+1; both must match (every condition, R3).
    let expected = literals
        .chunks(2)
        .position(|pair| pair.iter().all(|l| value.contains(l.as_str())))
        .map_or("403 no_api".to_string(), |_| "api1".to_string());
    assert_eq!(req("GET", "h", "/").h("x-tag", value).cluster(&e), expected);
    // Many distinct literals present, none a full pair's: still decided, still the reference's answer.
    let sparse: String = (0..2_500).map(|k| format!("x{}y-", 2 * k)).take(200).collect();
    assert_eq!(req("GET", "h", "/").h("x-tag", &sparse).cluster(&e), "403 no_api");
}

/// R12: the headers API Gateway refuses in a routing rule condition, including those of the CDK's restricted
/// list (aws/aws-cdk PR #38803 `RESTRICTED_HEADER_EXACT` / `_PREFIXES`), are config errors naming the field;
/// an ordinary header is accepted.
#[test]
fn r12_headers_api_gateway_restricts_are_refused() {
    for name in [
        "Authorization",
        "via",
        "X-Apigw-Api-Id",
        "x-restapi",
        "x-forwarded-for",
        "x-amz-date",
        "x-amzn-trace-id",
        "access-control-request-method",
        "apigw-requestid",
        "trailers",
        "origin",
    ] {
        let rules = json!([rule(
            "r",
            1,
            json!({"headers": [{"header": name, "value_glob": "*"}]}),
            "api1"
        )]);
        let errs = Engine::from_json(&rules_domain(rules).to_string()).expect_err(name);
        assert!(
            errs.iter()
                .any(|e| e.path == "domains[0].routing_rules[0].conditions.headers[0].header"),
            "{name}: {errs}"
        );
    }
    let rules = json!([rule(
        "r",
        1,
        json!({"headers": [{"header": "x-tenant", "value_glob": "*"}]}),
        "api1"
    )]);
    assert!(Engine::from_json(&rules_domain(rules).to_string()).is_ok());
}

/// Issue 14: the contains globs of a domain are bounded (their automaton is built in every worker), and the
/// error names the field and the limit; the same check runs in `routewise validate` and in Envoy.
#[test]
fn r12_contains_globs_over_the_domain_budget_are_a_config_error() {
    // Contains globs of 40 characters (the most API Gateway accepts, matchers::glob): 4,000 rules of two
    // 38-byte literals are 304,000 bytes.
    let long = "y".repeat(33);
    let rules: Vec<Value> = (0..4_000)
        .map(|k| {
            rule(
                &format!("r{k}"),
                k + 1,
                json!({"headers": [{"header": "x-tag", "value_glob": format!("*{k:05}{long}*")},
                                   {"header": "x-tag2", "value_glob": format!("*{k:05}{long}*")}]}),
                "api1",
            )
        })
        .collect();
    let errs =
        Engine::from_json(&rules_domain(Value::Array(rules)).to_string()).expect_err("over the budget");
    let e = errs
        .iter()
        .find(|e| e.path == "domains[0].routing_rules")
        .expect("the domain's error");
    assert!(e.kind.to_string().contains("at most 262144"), "{}", e.kind);
}

/// Issue 14: a document over the size limit, or with too many items, is refused before anything is built.
#[test]
fn r12_oversized_documents_are_refused_with_the_limit() {
    let big = format!(
        "{{\"domains\": [], \"pad\": \"{}\"}}",
        "x".repeat(MAX_CONFIG_BYTES)
    );
    let errs = Engine::from_json(&big).expect_err("too big");
    assert!(
        errs.iter()
            .any(|e| e.path == "(document)" && e.kind.to_string().contains("at most")),
        "{errs}"
    );
    let routes: Vec<Value> = (0..=MAX_ITEMS)
        .map(|k| json!({"key": format!("GET /r{k}")}))
        .collect();
    let mut cfg = rules_domain(json!([]));
    cfg["domains"][0]["routing_mode"] = json!("API_MAPPING_ONLY");
    cfg["domains"][0]
        .as_object_mut()
        .map(|d| d.remove("routing_rules"));
    cfg["apis"][0]["routes"] = Value::Array(routes);
    let errs = Engine::from_json(&cfg.to_string()).expect_err("too many");
    assert!(
        errs.iter()
            .any(|e| e.path == "(document)" && e.kind.to_string().contains("at most 100000")),
        "{errs}"
    );
}

/// One API `a` (stage `prod`, cluster `c`) with `router` and `routes`, behind a catch-all domain.
fn router_engine(router: &str, routes: Value) -> Engine {
    engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "router": router, "stages": {"prod": {"integration": http("c")}}, "routes": routes}]}),
    )
}

#[test]
fn p6_radixtree_uri_full_match_then_deepest_prefix() {
    // APISIX router-radixtree docs: full match first, then the deepest prefix.
    for router in ["apisix_radixtree_uri", "apisix_radixtree_host_uri"] {
        let e = router_engine(
            router,
            json!([{"id": "foo", "paths": ["/blog/foo/*"]}, {"id": "foo-a", "paths": ["/blog/foo/a/*"]},
                   {"id": "foo-c", "paths": ["/blog/foo/c/*"]}, {"id": "bar", "paths": ["/blog/foo/bar"]}]),
        );
        for (path, want) in [
            ("/blog/foo/bar", "bar"),
            ("/blog/foo/a/b/c", "foo-a"),
            ("/blog/foo/c/d", "foo-c"),
            ("/blog/foo/gloo", "foo"),
            ("/blog/bar", "404 no_route"),
        ] {
            assert_eq!(req("GET", "x.com", path).route(&e), want, "{router} {path}");
        }
    }
}

#[test]
fn p6_uri_precedes_priority_and_priority_precedes_file_order() {
    // APISIX: "the priority field takes precedence over other rules except uri".
    let e = router_engine(
        "apisix_radixtree_uri",
        json!([{"id": "prefix", "paths": ["/hello*"], "priority": 100},
               {"id": "exact", "paths": ["/hello"]},
               {"id": "p-first", "paths": ["/p/*"], "vars": [["http_x", "==", "1"]]},
               {"id": "p-second", "paths": ["/p/*"], "vars": [["http_y", "==", "1"]]},
               {"id": "p-high", "paths": ["/p/*"], "priority": 5, "methods": ["POST"]}]),
    );
    assert_eq!(req("GET", "x.com", "/hello").route(&e), "exact");
    assert_eq!(req("GET", "x.com", "/hello/x").route(&e), "prefix");
    // Same path and priority: configuration order decides (P6), whichever route is listed first.
    assert_eq!(
        req("GET", "x.com", "/p/1").h("x", "1").h("y", "1").route(&e),
        "p-first"
    );
    assert_eq!(req("POST", "x.com", "/p/1").h("x", "1").route(&e), "p-high");
    let swapped = router_engine(
        "apisix_radixtree_uri",
        json!([{"id": "p-second", "paths": ["/p/*"], "vars": [["http_y", "==", "1"]]},
               {"id": "p-first", "paths": ["/p/*"], "vars": [["http_x", "==", "1"]]}]),
    );
    assert_eq!(
        req("GET", "x.com", "/p/1")
            .h("x", "1")
            .h("y", "1")
            .route(&swapped),
        "p-second"
    );
}

#[test]
fn p6_host_is_a_filter_for_radixtree_uri_and_first_for_radixtree_host_uri() {
    // The `/test*` host case: a host route with a short prefix and a host-less route with a longer one.
    let routes = json!([{"id": "host-route", "paths": ["/test*"], "hosts": ["foo.com"]},
                        {"id": "plain", "paths": ["/test/api*"]},
                        {"id": "wild", "paths": ["/test/api/v1*"], "hosts": ["*.foo.com"]}]);
    let uri = router_engine("apisix_radixtree_uri", routes.clone());
    let host_uri = router_engine("apisix_radixtree_host_uri", routes);
    assert_eq!(req("GET", "foo.com", "/test/api/1").route(&uri), "plain");
    assert_eq!(
        req("GET", "foo.com", "/test/api/1").route(&host_uri),
        "host-route"
    );
    assert_eq!(req("GET", "a.foo.com", "/test/api/v1/x").route(&uri), "wild");
    assert_eq!(req("GET", "a.foo.com", "/test/api/v1/x").route(&host_uri), "wild");
    // A wildcard-host route whose path does not match falls through to the host-less routes.
    assert_eq!(req("GET", "a.foo.com", "/test/api/2").route(&host_uri), "plain");
    assert_eq!(req("GET", "bar.com", "/test/x").route(&uri), "404 no_route");
    assert_eq!(req("GET", "bar.com", "/test/x").route(&host_uri), "404 no_route");
    // Explain sees the host filter fail on the uri router.
    let mut events = Vec::new();
    struct Collect<'v>(&'v mut Vec<(String, Verdict)>);
    impl crate::trace::Trace for Collect<'_> {
        const ENABLED: bool = true;
        fn event(&mut self, e: crate::trace::TraceEvent<'_>) {
            if let crate::trace::TraceEvent::Route { id, verdict, .. } = e {
                self.0.push((id.to_string(), verdict));
            }
        }
    }
    let r = req("GET", "bar.com", "/test/x");
    let _ = uri.evaluate_traced(&r.view(), &mut Collect(&mut events));
    assert_eq!(
        events,
        [("host-route".to_string(), Verdict::Failed(Failed::Host))]
    );
}
