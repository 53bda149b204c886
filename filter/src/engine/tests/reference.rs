//! A deliberately naive reference: the spec's rules applied by linear scans over the config, in spec
//! order, with its own tiny matchers. The property test checks the indexed engine against it on generated
//! configs and requests.

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use crate::config::{
    ActionConfig, ApiConfig, ApiMappingConfig, ConditionsConfig, Config, DomainConfig, HeaderConditionConfig,
    IntegrationConfig, InvokeApiConfig, Lenient, RouteConfig, RoutingMode, RoutingRuleConfig, StageConfig,
};
use crate::decision::Decision;
use crate::engine::Engine;
use crate::request::RequestView;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Reply(u16),
    Forward {
        cluster: String,
        api: String,
        rule: Option<String>,
        mapping: Option<String>,
        route: String,
        path: Option<String>,
        params: Vec<(String, String)>,
    },
}

fn lower_host_port(authority: &str) -> (String, Option<u16>) {
    let a = authority.to_ascii_lowercase();
    match a.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()),
        None => (a, None),
    }
}

/// Host rank: 0 exact with port, 1 exact, 2+ wildcard (shorter suffix = higher), big for `*`.
fn host_rank(pattern: &str, host: &str, port: Option<u16>) -> Option<(u32, u32)> {
    let (p, pport) = lower_host_port(pattern);
    if pport.is_some() && pport != port {
        return None;
    }
    let port_bonus = u32::from(pport.is_none());
    if p == "*" {
        return Some((3, 0));
    }
    if let Some(suffix) = p.strip_prefix('*') {
        return (host.len() > suffix.len() && host.ends_with(suffix))
            .then(|| (1, (10_000 - suffix.len() as u32) * 2 + port_bonus));
    }
    (p == host).then_some((0, port_bonus))
}

fn glob_match(glob: &str, v: &str) -> bool {
    if glob == "*" {
        return true;
    }
    match (glob.strip_prefix('*'), glob.strip_suffix('*')) {
        (Some(_), Some(_)) => v.contains(&glob[1..glob.len() - 1]),
        (Some(s), None) => v.ends_with(s),
        (None, Some(p)) => v.starts_with(p),
        (None, None) => v == glob,
    }
}

fn base_match(path: &str, base: &str) -> bool {
    base.is_empty() || path == format!("/{base}") || path.starts_with(&format!("/{base}/"))
}

fn strip(full: &str, base: &str) -> String {
    let (path, query) = match full.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (full, None),
    };
    let rest = &path[base.len() + 1..];
    let rest = if rest.is_empty() { "/" } else { rest };
    match query {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    }
}

/// Naive P2 matcher; returns params on a match.
fn path_match(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
    if pattern == "$default" {
        return Some(vec![]);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return path.starts_with(prefix).then(Vec::new);
    }
    if !pattern.contains('{') {
        return (pattern == path).then(Vec::new);
    }
    let pat: Vec<&str> = pattern[1..].split('/').collect();
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let mut params = Vec::new();
    for (i, p) in pat.iter().enumerate() {
        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            let rest = segs[i..].join("/");
            if i >= segs.len() || rest.is_empty() {
                return None;
            }
            params.push((name.to_string(), rest));
            return Some(params);
        }
        let seg = segs.get(i)?;
        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if seg.is_empty() {
                return None;
            }
            params.push((name.to_string(), seg.to_string()));
        } else if p != seg {
            return None;
        }
    }
    (segs.len() == pat.len()).then_some(params)
}

fn literal_len(pattern: &str) -> usize {
    let mut n = 0;
    let mut depth = 0;
    for c in pattern.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '*' => {}
            _ if depth == 0 => n += 1,
            _ => {}
        }
    }
    n
}

fn class(pattern: &str) -> u8 {
    if pattern == "$default" {
        3
    } else if pattern.contains("+}") {
        2
    } else if pattern.contains('*') || pattern.contains('{') {
        1
    } else {
        0
    }
}

pub(super) fn reference(config: &Config, req: &RequestView<'_>) -> Outcome {
    let (host, port) = lower_host_port(req.authority);
    let (path, _) = req.path.split_once('?').unwrap_or((req.path, ""));
    // D1-D3
    let domains: Vec<&DomainConfig> = config.domains.iter().filter_map(Lenient::get).collect();
    let Some(domain) = domains
        .iter()
        .filter_map(|d| host_rank(&d.name, &host, port).map(|r| (r, *d)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, d)| d)
    else {
        return Outcome::Reply(404);
    };
    // R1-R9
    // (api, stage, rule id, mapping id, base path to strip)
    type Selection = (String, String, Option<String>, Option<String>, String);
    let mut selected: Option<Selection> = None;
    if domain.routing_mode != RoutingMode::ApiMappingOnly {
        let mut rules: Vec<&RoutingRuleConfig> =
            domain.routing_rules.iter().filter_map(Lenient::get).collect();
        rules.sort_by_key(|r| r.priority);
        for r in rules {
            let headers_ok = r.conditions.headers.iter().all(|h| {
                req.headers
                    .iter()
                    .any(|(n, v)| n.eq_ignore_ascii_case(&h.header) && glob_match(&h.value_glob, v))
            });
            let base = r.conditions.base_path.clone().unwrap_or_default();
            if headers_ok && base_match(path, &base) {
                let inv = &r.action.invoke_api;
                let strip_base = if inv.strip_base_path { base } else { String::new() };
                selected = Some((inv.api.clone(), inv.stage.clone(), r.id.clone(), None, strip_base));
                break;
            }
        }
    }
    if selected.is_none() && domain.routing_mode != RoutingMode::RoutingRuleOnly {
        let best = domain
            .api_mappings
            .iter()
            .filter_map(Lenient::get)
            .filter(|m| base_match(path, &m.base_path))
            .max_by_key(|m| m.base_path.len());
        if let Some(m) = best {
            let id = m.id.clone().unwrap_or_else(|| {
                if m.base_path.is_empty() {
                    "(none)".into()
                } else {
                    m.base_path.clone()
                }
            });
            selected = Some((
                m.api.clone(),
                m.stage.clone(),
                None,
                Some(id),
                m.base_path.clone(),
            ));
        }
    }
    let Some((api_id, stage_name, rule, mapping, strip_base)) = selected else {
        return Outcome::Reply(domain.no_match_status);
    };
    let api = config
        .apis
        .iter()
        .filter_map(Lenient::get)
        .find(|a| a.id == api_id)
        .expect("api");
    let stage = api.stages.get(&stage_name).expect("stage");
    let (uri, fwd) = if strip_base.is_empty() {
        (path.to_string(), None)
    } else {
        let s = strip(req.path, &strip_base);
        (s.split('?').next().unwrap_or("/").to_string(), Some(s))
    };
    // P1-P5
    let implicit = [RouteConfig {
        id: Some("implicit".into()),
        key: Some("$default".into()),
        ..RouteConfig::default()
    }];
    let routes: Vec<&RouteConfig> = if api.routes.is_empty() {
        implicit.iter().collect()
    } else {
        api.routes.iter().filter_map(Lenient::get).collect()
    };
    let mut candidates = Vec::new();
    for r in routes {
        let (methods, paths): (Vec<String>, Vec<String>) = match &r.key {
            Some(k) if k == "$default" => (vec![], vec!["$default".into()]),
            Some(k) => {
                let (m, p) = k.split_once(' ').expect("key");
                (
                    if m == "ANY" { vec![] } else { vec![m.to_string()] },
                    vec![p.to_string()],
                )
            }
            None => (r.methods.clone(), r.paths.clone()),
        };
        let hosts = r.hosts.clone().unwrap_or_else(|| api.hosts.clone());
        let hrank = if hosts.is_empty() {
            Some((3, 0))
        } else {
            hosts.iter().filter_map(|h| host_rank(h, &host, port)).min()
        };
        let Some(hrank) = hrank else { continue };
        if !methods.is_empty() && !methods.iter().any(|m| m == req.method) {
            continue;
        }
        for p in &paths {
            if let Some(params) = path_match(p, &uri) {
                let key = (
                    hrank,
                    class(p),
                    std::cmp::Reverse(literal_len(p)),
                    !p.contains('{'),
                    p.matches('{').count(),
                    std::cmp::Reverse(r.priority),
                    methods.is_empty(),
                    r.id.clone().expect("explicit ids in generated configs"),
                    p.clone(),
                );
                candidates.push((key, r, params));
            }
        }
    }
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let Some((key, route, params)) = candidates.into_iter().next() else {
        return Outcome::Reply(404);
    };
    let integration = route
        .integration
        .as_ref()
        .or(stage.integration.as_ref())
        .expect("integration");
    let cluster = match integration {
        IntegrationConfig::Http { cluster } => cluster.clone(),
        IntegrationConfig::Lambda(l) => l.cluster.clone(),
    };
    Outcome::Forward {
        cluster,
        api: api.id.clone(),
        rule,
        mapping,
        route: if route.id.as_deref() == Some("implicit") {
            "implicit".into()
        } else {
            key.7
        },
        path: fwd,
        params,
    }
}

fn engine_outcome(config: &Config, engine: &Engine, req: &RequestView<'_>) -> Outcome {
    match engine.evaluate(req) {
        Decision::Forward(f) => Outcome::Forward {
            cluster: f.cluster.into(),
            api: f.api.into(),
            rule: f.rule_id.map(Into::into),
            mapping: f.mapping_id.map(Into::into),
            route: if config
                .apis
                .iter()
                .filter_map(Lenient::get)
                .any(|a| a.id == f.api && a.routes.is_empty())
            {
                "implicit".into()
            } else {
                f.route_id.into()
            },
            path: f.path,
            params: f
                .path_params
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
        },
        Decision::LocalReply(l) => Outcome::Reply(l.status),
    }
}

// ---------------------------------------------------------------- generators

const DOMAINS: [&str; 6] = [
    "*",
    "*.example.com",
    "api.example.com",
    "*.b.example.com",
    "a.b.example.com",
    "api.example.com:8443",
];
const HEADER_NAMES: [&str; 3] = ["x-a", "x-b", "X-A"];
const GLOBS: [&str; 10] = ["a", "b", "ab", "a*", "*a", "*a*", "*b*", "*", "b*", "*b"];
const BASES: [&str; 4] = ["p", "p/q", "q", "a"];
const MAP_BASES: [&str; 5] = ["", "p", "p/q", "q", "a"];
const PATHS: [&str; 12] = [
    "/",
    "/a",
    "/a/b",
    "/a*",
    "/a/*",
    "/{x}",
    "/a/{id}",
    "/{proxy+}",
    "/a/{proxy+}",
    "$default",
    "/b/{x}/c",
    "/ab",
];
const ROUTE_HOSTS: [&[&str]; 4] = [
    &[],
    &["api.example.com"],
    &["*.example.com"],
    &["a.b.example.com", "*.b.example.com"],
];

fn integration(cluster: String) -> IntegrationConfig {
    IntegrationConfig::Http { cluster }
}

fn rule_strategy() -> impl Strategy<Value = (Vec<(usize, usize)>, Option<usize>, usize, bool)> {
    (
        proptest::collection::vec((0..HEADER_NAMES.len(), 0..GLOBS.len()), 0..=2),
        proptest::option::of(0..BASES.len()),
        0..2usize,
        any::<bool>(),
    )
}

fn domain_strategy() -> impl Strategy<Value = DomainConfig> {
    (
        select(DOMAINS.to_vec()),
        0..3usize,
        proptest::collection::vec(rule_strategy(), 0..6),
        subsequence(MAP_BASES.to_vec(), 0..=MAP_BASES.len()),
        proptest::collection::vec(0..2usize, 5),
        select(vec![403u16, 404]),
    )
        .prop_map(|(name, mode, rules, bases, map_apis, status)| {
            let mode = [
                RoutingMode::ApiMappingOnly,
                RoutingMode::RoutingRuleThenApiMapping,
                RoutingMode::RoutingRuleOnly,
            ][mode];
            let rules = if mode == RoutingMode::ApiMappingOnly {
                vec![]
            } else {
                rules
            };
            let bases = if mode == RoutingMode::RoutingRuleOnly {
                vec![]
            } else {
                bases
            };
            DomainConfig {
                name: name.into(),
                routing_mode: mode,
                routing_rules: rules
                    .into_iter()
                    .enumerate()
                    .map(|(i, (headers, base, api, strip))| {
                        Lenient::Ok(RoutingRuleConfig {
                            id: Some(format!("rule{i}")),
                            // Priorities unique, deliberately not in file order.
                            priority: ((i as i64 * 7) % 11) + 1 + (i as i64 / 11) * 11,
                            conditions: ConditionsConfig {
                                headers: headers
                                    .into_iter()
                                    .map(|(n, g)| HeaderConditionConfig {
                                        header: HEADER_NAMES[n].into(),
                                        value_glob: GLOBS[g].into(),
                                    })
                                    .collect(),
                                base_path: base.map(|b| BASES[b].into()),
                            },
                            action: ActionConfig {
                                invoke_api: InvokeApiConfig {
                                    api: format!("api{api}"),
                                    stage: "prod".into(),
                                    strip_base_path: strip,
                                },
                            },
                        })
                    })
                    .collect(),
                api_mappings: bases
                    .into_iter()
                    .zip(map_apis)
                    .map(|(b, api)| {
                        Lenient::Ok(ApiMappingConfig {
                            id: None,
                            base_path: b.into(),
                            api: format!("api{api}"),
                            stage: "prod".into(),
                        })
                    })
                    .collect(),
                no_match_status: status,
            }
        })
}

fn api_strategy(index: usize) -> impl Strategy<Value = ApiConfig> {
    (
        proptest::sample::subsequence(PATHS.to_vec(), 0..=PATHS.len()).prop_shuffle(),
        proptest::collection::vec(
            (
                prop_oneof![2 => Just(0usize), 1 => 1..4usize],
                prop_oneof![3 => Just(0usize), 1 => 1..ROUTE_HOSTS.len()],
                -1i64..=1,
                any::<bool>(),
                any::<bool>(),
                1..=2usize,
            ),
            6,
        ),
        proptest::bool::weighted(0.2),
    )
        .prop_map(move |(paths, shapes, api_hosts)| {
            let mut routes = Vec::new();
            let mut rest: &[&str] = &paths;
            for (i, (methods, hosts, priority, own_integration, key_form, n)) in
                shapes.into_iter().enumerate()
            {
                if rest.is_empty() {
                    break;
                }
                let take = if key_form { 1 } else { n.min(rest.len()) };
                let (mine, tail) = rest.split_at(take);
                rest = tail;
                let methods: Vec<String> = match methods {
                    0 => vec![],
                    1 => vec!["GET".into()],
                    2 => vec!["POST".into()],
                    _ => vec!["GET".into(), "POST".into()],
                };
                let mut r = RouteConfig {
                    id: Some(format!("api{index}-route{i}")),
                    hosts: (hosts > 0).then(|| ROUTE_HOSTS[hosts].iter().map(|h| h.to_string()).collect()),
                    priority,
                    integration: own_integration.then(|| integration(format!("api{index}-route{i}"))),
                    ..RouteConfig::default()
                };
                if key_form && methods.len() < 2 {
                    let m = methods.first().cloned().unwrap_or_else(|| "ANY".into());
                    r.key = Some(if mine[0] == "$default" {
                        "$default".into()
                    } else {
                        format!("{m} {}", mine[0])
                    });
                } else {
                    r.paths = mine.iter().map(|p| p.to_string()).collect();
                    r.methods = methods;
                }
                routes.push(Lenient::Ok(r));
            }
            ApiConfig {
                id: format!("api{index}"),
                router: Default::default(),
                stages: [(
                    "prod".to_string(),
                    StageConfig {
                        variables: Default::default(),
                        integration: Some(integration(format!("api{index}-stage"))),
                    },
                )]
                .into_iter()
                .collect(),
                hosts: if api_hosts {
                    vec!["*.example.com".into()]
                } else {
                    vec![]
                },
                plugins: Default::default(),
                services: vec![],
                routes,
            }
        })
}

fn config_strategy() -> impl Strategy<Value = Config> {
    (
        proptest::collection::vec(domain_strategy(), 1..4),
        api_strategy(0),
        api_strategy(1),
    )
        .prop_map(|(domains, a0, a1)| {
            // Domain names must be unique: keep the first of each.
            let mut seen = std::collections::HashSet::new();
            let domains = domains
                .into_iter()
                .filter(|d| seen.insert(d.name.clone()))
                .map(Lenient::Ok)
                .collect();
            Config {
                cluster_header: crate::config::DEFAULT_CLUSTER_HEADER.into(),
                domains,
                apis: vec![Lenient::Ok(a0), Lenient::Ok(a1)],
                consumers: vec![],
            }
        })
}

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
const REQ_PATHS: [&str; 17] = [
    "/",
    "/a",
    "/a/",
    "/a/b",
    "/ab",
    "/abc",
    "/a/b/c",
    "/b/x/c",
    "/p",
    "/p/q",
    "/p/q/a",
    "/pq",
    "/q/a/b",
    "/r?x=1",
    "/p?y",
    "/x/a",
    "/a/b?z=/p",
];
const HEADERS: [(&str, &str); 6] = [
    ("x-a", "a"),
    ("x-a", "ab"),
    ("x-b", "b"),
    ("x-b", "ba"),
    ("x-a", ""),
    ("x-b", "xab"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    // The indexed engine agrees with the linear reference on every generated config and request (D1-D3,
    // R2-R9, P2-P5).
    #[test]
    fn indexed_engine_agrees_with_naive_reference(
        config in config_strategy(),
        requests in proptest::collection::vec(
            (select(HOSTS.to_vec()), select(REQ_PATHS.to_vec()), select(vec!["GET", "POST", "PUT"]),
             subsequence(HEADERS.to_vec(), 0..=3)),
            1..12),
    ) {
        let engine = match Engine::from_config(&config) {
            Ok(e) => e,
            Err(errors) => panic!("generated config rejected:\n{errors}"),
        };
        engine.check_invariants().map_err(TestCaseError::fail)?;
        for (host, path, method, headers) in requests {
            let headers: Vec<(String, String)> =
                headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            let view = RequestView { method, authority: host, path, headers: &headers, remote_addr: None };
            let want = reference(&config, &view);
            let got = engine_outcome(&config, &engine, &view);
            prop_assert_eq!(got, want, "{} {}{} {:?}", method, host, path, headers);
        }
    }
}
