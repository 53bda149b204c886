//! `matcher_diff`: the indexed engine against the naive reference (`routewise::engine::reference`, linear
//! scans in spec order), differentially.
//!
//! The bytes choose a small config of the same shape as the core's property test (domains from a table of
//! exact, wildcard and port-qualified names; rules with up to two header globs and a base path, in all
//! three routing modes; mappings; two APIs whose routes take paths from a table of exact, prefix, template
//! and greedy forms, with methods, hosts and priorities), with fuzzer-chosen glob literals (R3: exact,
//! prefix, suffix, contains, any, over an alphabet with case, `?`, `,` and `.`), then requests whose host,
//! path (segments, trailing slash, query) and header lines (repeated names, R4) they also choose. Every
//! request must get the same [`Outcome`] from both (D1-D3, R2-R9, P2-P5).

use routewise::config::{
    ActionConfig, ApiConfig, ApiMappingConfig, ConditionsConfig, Config, DomainConfig, HeaderConditionConfig,
    InvokeApiConfig, Lenient, RoutingMode, RoutingRuleConfig,
};
use routewise::engine::reference::{
    engine_outcome, generated_api, generated_routes, reference, Outcome, RouteShape, BASES, DOMAINS,
    HEADER_NAMES, MAP_BASES, PATHS, ROUTE_HOSTS,
};
use routewise::engine::Engine;
use routewise::request::RequestView;

use crate::bytes::Bytes;

/// Characters of glob literals and header values: case matters (R3), `?` is literal, `,` joins values
/// on one line (R4).
const ALPHABET: [char; 6] = ['a', 'b', 'A', '?', ',', '.'];
const HOSTS: [&str; 8] = [
    "api.example.com",
    "API.example.com:8443",
    "x.example.com",
    "a.b.example.com",
    "c.b.example.com",
    "example.com",
    "other.org",
    "api.example.com:80",
];
const SEGMENTS: [&str; 8] = ["a", "b", "c", "p", "q", "ab", "x", "pq"];

/// The `matcher_diff` target.
pub fn matcher_diff(data: &[u8]) {
    let mut b = Bytes::new(data);
    let config = gen_config(&mut b);
    let engine = match Engine::from_config(&config) {
        Ok(e) => e,
        // The generator only makes valid configs: a rejection is a finding too (or a generator bug).
        Err(errors) => panic!("generated config rejected:\n{errors}\n{config:#?}"),
    };
    engine
        .check_invariants()
        .unwrap_or_else(|e| panic!("engine invariants: {e}"));
    let n = 1 + b.below(8);
    for _ in 0..n {
        let (host, path, method, headers) = gen_request(&mut b);
        let view = RequestView {
            method,
            authority: host,
            path: &path,
            headers: &headers,
            remote_addr: None,
        };
        let want: Outcome = reference(&config, &view);
        let got = engine_outcome(&config, &engine, &view);
        assert_eq!(
            got, want,
            "engine (left) and reference (right) differ on {method} {host}{path} {headers:?}\n{config:#?}"
        );
    }
}

/// A request: host, path, method, header lines (repeated names allowed, R4).
fn gen_request(b: &mut Bytes<'_>) -> (&'static str, String, &'static str, Vec<(String, String)>) {
    let host = b.pick(&HOSTS);
    let path = gen_path(b);
    let method = b.pick(&["GET", "POST", "PUT"]);
    let mut headers = Vec::new();
    for _ in 0..b.below(4) {
        let name = b.pick(&["x-a", "x-b"]);
        headers.push((name.to_string(), literal(b, 4)));
    }
    (host, path, method, headers)
}

/// A string over [`ALPHABET`], 0 to `max` characters.
fn literal(b: &mut Bytes<'_>, max: usize) -> String {
    let n = b.below(max + 1);
    (0..n).map(|_| b.pick(&ALPHABET)).collect()
}

/// R3: one of the five glob forms around a non-empty literal.
fn glob(b: &mut Bytes<'_>) -> String {
    let mut lit = literal(b, 3);
    if lit.is_empty() {
        lit.push('a');
    }
    match b.below(5) {
        0 => lit,
        1 => format!("{lit}*"),
        2 => format!("*{lit}"),
        3 => format!("*{lit}*"),
        _ => "*".into(),
    }
}

/// A request path: segments, maybe a trailing slash, maybe a query.
fn gen_path(b: &mut Bytes<'_>) -> String {
    let mut p = String::new();
    for _ in 0..b.below(4) {
        p.push('/');
        p.push_str(b.pick(&SEGMENTS));
    }
    if p.is_empty() || b.below(6) == 0 {
        p.push('/');
    }
    match b.below(5) {
        0 => p.push_str("?x=1"),
        1 => p.push_str("?z=/p"),
        _ => {}
    }
    p
}

fn gen_config(b: &mut Bytes<'_>) -> Config {
    let mut domains = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1 + b.below(3) {
        let d = gen_domain(b);
        // Domain names must be unique: keep the first of each.
        if seen.insert(d.name.clone()) {
            domains.push(Lenient::Ok(d));
        }
    }
    let apis = vec![Lenient::Ok(gen_api(b, 0)), Lenient::Ok(gen_api(b, 1))];
    Config {
        cluster_header: routewise::config::DEFAULT_CLUSTER_HEADER.into(),
        filter_state: None,
        domains,
        apis,
        consumers: vec![],
    }
}

fn gen_domain(b: &mut Bytes<'_>) -> DomainConfig {
    let name = b.pick(&DOMAINS);
    let mode = b.pick(&[
        RoutingMode::ApiMappingOnly,
        RoutingMode::RoutingRuleThenApiMapping,
        RoutingMode::RoutingRuleOnly,
    ]);
    let mut rules = Vec::new();
    if mode != RoutingMode::ApiMappingOnly {
        for i in 0..b.below(7) {
            let headers = (0..b.below(3))
                .map(|_| HeaderConditionConfig {
                    header: b.pick(&HEADER_NAMES).into(),
                    value_glob: glob(b),
                })
                .collect();
            let base_path = b.bool().then(|| b.pick(&BASES).to_string());
            let i = i as i64;
            rules.push(Lenient::Ok(RoutingRuleConfig {
                id: Some(format!("rule{i}")),
                // Priorities unique, deliberately not in file order (R1, R2).
                priority: ((i * 7) % 11) + 1 + (i / 11) * 11,
                conditions: ConditionsConfig { headers, base_path },
                action: ActionConfig {
                    invoke_api: InvokeApiConfig {
                        api: format!("api{}", b.below(2)),
                        stage: "prod".into(),
                        strip_base_path: b.bool(),
                    },
                },
            }));
        }
    }
    let mut mappings = Vec::new();
    if mode != RoutingMode::RoutingRuleOnly {
        for base in MAP_BASES {
            if b.bool() {
                mappings.push(Lenient::Ok(ApiMappingConfig {
                    id: None,
                    base_path: base.into(),
                    api: format!("api{}", b.below(2)),
                    stage: "prod".into(),
                }));
            }
        }
    }
    DomainConfig {
        name: name.into(),
        routing_mode: mode,
        routing_rules: rules,
        api_mappings: mappings,
        no_match_status: b.pick(&[403u16, 404]),
    }
}

fn gen_api(b: &mut Bytes<'_>, index: usize) -> ApiConfig {
    // A shuffled subset of the path table: each path used at most once per API.
    let mut paths: Vec<&str> = PATHS.iter().copied().filter(|_| b.bool()).collect();
    for i in (1..paths.len()).rev() {
        paths.swap(i, b.below(i + 1));
    }
    let routes = generated_routes(index, &paths, || {
        let methods: Vec<String> = match b.below(6) {
            0 => vec!["GET".into()],
            1 => vec!["POST".into()],
            2 => vec!["GET".into(), "POST".into()],
            _ => vec![],
        };
        let hosts = if b.below(4) == 0 {
            1 + b.below(ROUTE_HOSTS.len() - 1)
        } else {
            0
        };
        let priority = b.below(3) as i64 - 1;
        let own_integration = b.bool();
        let key_form = b.bool();
        let paths = if key_form { 1 } else { 1 + b.below(2) };
        RouteShape {
            methods,
            hosts,
            priority,
            own_integration,
            key_form,
            paths,
        }
    });
    generated_api(index, routes, b.below(5) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The differential check is not vacuous: over the kept corpus the generated requests reach every kind of
    // answer (a forward through a rule, through a mapping, and local replies), so a divergence in any of
    // D1-D3, R2-R9 or P2-P5 has inputs that can show it.
    #[test]
    fn generated_cases_reach_rules_mappings_and_replies() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/matcher_diff");
        let (mut by_rule, mut by_mapping, mut replies) = (0, 0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let mut b = Bytes::new(&data);
            let config = gen_config(&mut b);
            for _ in 0..1 + b.below(8) {
                let (host, path, method, headers) = gen_request(&mut b);
                let view = RequestView {
                    method,
                    authority: host,
                    path: &path,
                    headers: &headers,
                    remote_addr: None,
                };
                match reference(&config, &view) {
                    Outcome::Forward { rule: Some(_), .. } => by_rule += 1,
                    Outcome::Forward { mapping: Some(_), .. } => by_mapping += 1,
                    Outcome::Reply(_) => replies += 1,
                    Outcome::Forward { .. } => {}
                }
            }
        }
        assert!(
            by_rule > 10 && by_mapping > 10 && replies > 10,
            "{by_rule} {by_mapping} {replies}"
        );
    }
}
