//! A deliberately naive reference for differential tests (`#[doc(hidden)]` test support, never used by the
//! builds Envoy loads): the spec's rules (D1-D3, R2-R9, P2-P5) applied by linear scans over the config, in
//! spec order, with its own tiny matchers. The property test (`engine/tests/reference.rs`) and the
//! `matcher_diff` fuzz target (`filter/fuzz`) check the indexed engine against it on generated configs.
//!
//! It assumes the shape those generators produce (valid configs, explicit route ids, `METHOD /path` keys)
//! and panics on anything else: a panic here is a generator bug, not an engine bug. Compiled for the core's
//! own tests and with the `reference` feature only.
// Test support: indexing and `expect` state the generators' guarantees (module docs).
#![allow(
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::config::{
    ApiConfig, Config, DomainConfig, IntegrationConfig, Lenient, RouteConfig, RoutingMode, RoutingRuleConfig,
    StageConfig,
};
use crate::decision::Decision;
use crate::engine::Engine;
use crate::request::RequestView;

// ------------------------------------------------------------------------------------------------------------
// The generated configs' building blocks, shared by the property test and the fuzz target so that both check
// the engine on the same shapes (one draws them with proptest, the other from the fuzzer's bytes).

/// Domain names: exact, wildcard and port-qualified (D1-D3).
pub const DOMAINS: [&str; 6] = [
    "*",
    "*.example.com",
    "api.example.com",
    "*.b.example.com",
    "a.b.example.com",
    "api.example.com:8443",
];
/// Header names of rule conditions, one of them in upper case (R4: names are case-insensitive).
pub const HEADER_NAMES: [&str; 3] = ["x-a", "x-b", "X-A"];
/// Base paths of routing rules (R5).
pub const BASES: [&str; 4] = ["p", "p/q", "q", "a"];
/// Base paths of API mappings, the empty one included (R7).
pub const MAP_BASES: [&str; 5] = ["", "p", "p/q", "q", "a"];
/// Route paths: exact, prefix, template, greedy and `$default` forms (P2).
pub const PATHS: [&str; 12] = [
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
/// Route host lists (index 0: none).
pub const ROUTE_HOSTS: [&[&str]; 4] = [
    &[],
    &["api.example.com"],
    &["*.example.com"],
    &["a.b.example.com", "*.b.example.com"],
];

/// One generated route of [`generated_routes`].
pub struct RouteShape {
    /// Its methods (empty: any).
    pub methods: Vec<String>,
    /// Index into [`ROUTE_HOSTS`].
    pub hosts: usize,
    pub priority: i64,
    /// An integration of its own (cluster `api<i>-route<j>`), else the stage's.
    pub own_integration: bool,
    /// Written as a route key (`GET /a`) when it has at most one method, else as `paths` + `methods`.
    pub key_form: bool,
    /// How many of the remaining paths it takes (1 when written as a key).
    pub paths: usize,
}

/// Up to six routes of API `api<index>`, taking `paths` in order, each shaped by `next_shape` (called only
/// while paths remain, so a byte-driven generator consumes exactly what it uses).
pub fn generated_routes(
    index: usize,
    paths: &[&str],
    mut next_shape: impl FnMut() -> RouteShape,
) -> Vec<Lenient<RouteConfig>> {
    let mut routes = Vec::new();
    let mut rest = paths;
    for i in 0..6 {
        if rest.is_empty() {
            break;
        }
        let shape = next_shape();
        let take = if shape.key_form {
            1
        } else {
            shape.paths.clamp(1, rest.len())
        };
        let (mine, tail) = rest.split_at(take);
        rest = tail;
        let mut r = RouteConfig {
            id: Some(format!("api{index}-route{i}")),
            hosts: (shape.hosts > 0)
                .then(|| ROUTE_HOSTS[shape.hosts].iter().map(|h| h.to_string()).collect()),
            priority: shape.priority,
            integration: shape.own_integration.then(|| IntegrationConfig::Http {
                cluster: format!("api{index}-route{i}"),
            }),
            ..RouteConfig::default()
        };
        if shape.key_form && shape.methods.len() < 2 {
            let m = shape.methods.first().cloned().unwrap_or_else(|| "ANY".into());
            r.key = Some(if mine[0] == "$default" {
                "$default".into()
            } else {
                format!("{m} {}", mine[0])
            });
        } else {
            r.paths = mine.iter().map(|p| p.to_string()).collect();
            r.methods = shape.methods;
        }
        routes.push(Lenient::Ok(r));
    }
    routes
}

/// API `api<index>` with stage `prod` (cluster `api<index>-stage`) and these routes; `api_hosts` gives it
/// the hosts `*.example.com` (P7).
pub fn generated_api(index: usize, routes: Vec<Lenient<RouteConfig>>, api_hosts: bool) -> ApiConfig {
    ApiConfig {
        id: format!("api{index}"),
        router: Default::default(),
        stages: [(
            "prod".to_string(),
            StageConfig {
                variables: Default::default(),
                integration: Some(IntegrationConfig::Http {
                    cluster: format!("api{index}-stage"),
                }),
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
}

/// What a request gets, summarised so that the engine's and the reference's answers compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
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

/// The reference's answer for `req` under `config` (linear scans in spec order).
pub fn reference(config: &Config, req: &RequestView<'_>) -> Outcome {
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

/// The indexed engine's answer, summarised as [`Outcome`] (the implicit route of an API without routes is
/// named `implicit`, as in the reference).
pub fn engine_outcome(config: &Config, engine: &Engine, req: &RequestView<'_>) -> Outcome {
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
