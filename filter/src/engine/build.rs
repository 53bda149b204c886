//! Validation and compilation of a [`Config`] into an [`Engine`] (R12, P2-P4, P7).
//!
//! One pass over the document collects *every* error with its field path; the indexes are built only when
//! there is none. Decisions the spec leaves open are documented where they are made.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::budget::{drop_all, Budget};
use crate::config::{
    ApiConfig, ApiMappingConfig, Config, DomainConfig, IntegrationConfig, LambdaIntegrationConfig, Lenient,
    RouteConfig, RouterKind, RoutingMode, RoutingRuleConfig,
};
use crate::decision::{Integration, LambdaTarget, PayloadFormat};
use crate::error::{ConfigErrors, ErrorKind};
use crate::ids::derived_id;
use crate::lambda::invoke::{InvocationType, DEFAULT_TIMEOUT_MS, TIMEOUT_MS_RANGE};
use crate::matchers::addr::Cidr;
use crate::matchers::glob::HeaderGlob;
use crate::matchers::host::{HostIndex, HostPattern};
use crate::matchers::path::{check_base_path, PathPattern};
use crate::matchers::vars::VarsExpr;
use crate::names::property::{self, StateKeys};
use crate::names::reason_phrase;
use crate::plugins::{compile_layer, ConsumerSet, Layer, RouteLayers};
use crate::routing::domain::Domain;
use crate::routing::mappings::{Mapping, MappingSet};
use crate::routing::routes::{
    HostsOrigin, MethodSet, PluginLayers, Plugins, Route, RoutePath, RouteTable, METHODS,
};
use crate::routing::rules::{HeaderCondition, Rule, RuleSet, Target};

use super::{Api, Engine, Stage};

const MAX_HEADER_NAME_LEN: usize = 40;

/// Work units ([`crate::budget`]) of checking and compiling one rule, mapping, route or service.
const UNITS_PER_ITEM: u64 = 3;
/// Work units per item of a domain's or an API's index build (sorting, automata, uniqueness).
const UNITS_PER_INDEXED_ITEM: u64 = 1;
const MAX_ID_LEN: usize = 256;

/// Header names a routing rule may not test (R12). API Gateway's list (`authorization`, `connection`,
/// `content-length`, `transfer-encoding`, `upgrade`, `x-amz-*`, `x-amzn-*`, `x-forwarded-*`, ...) completed
/// with the rest of API Gateway's reserved request headers (hop-by-hop and proxy headers, `access-control-*`,
/// `apigw-*`), plus a decision of ours: the configured cluster header (the filter removes any client copy
/// before routing, so it never matches). `host` is allowed, as in API Gateway (its example 4 routes a wildcard
/// domain's subdomains by `Host`); it matches the request's authority. `via`, `x-apigw-api-id` and `x-restapi`
/// are in the restricted list the CDK's routing-rule construct holds (aws/aws-cdk PR #38803,
/// `RESTRICTED_HEADER_EXACT`, citing the guide's routing-rule restrictions).
const FORBIDDEN_HEADERS: [&str; 18] = [
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-location",
    "forwarded",
    "keep-alive",
    "origin",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "via",
    "x-apigw-api-id",
    "x-restapi",
];
const FORBIDDEN_HEADER_PREFIXES: [&str; 5] =
    ["x-amz-", "x-amzn-", "x-forwarded-", "access-control-", "apigw-"];

/// Validates and compiles `config`, awaiting `budget` between pieces of work ([`crate::budget`]): one unit
/// per item checked, and as many as a domain has rules and mappings before its indexes are built.
pub(super) async fn build(config: &Config, budget: &Budget) -> Result<Engine, ConfigErrors> {
    let mut b = Builder::default();
    let cluster_header = b.cluster_header(&config.cluster_header);
    let state_keys = b.state_keys(config.filter_state.as_deref());

    // Errors are reported in document order (cluster header, domains, APIs, consumers), although APIs are
    // compiled first: rules and mappings refer to them.
    let head = std::mem::take(&mut b.errors);

    let mut api_refs: HashMap<String, ApiRef> = HashMap::new();
    let mut apis = Vec::new();
    for (i, a) in config.apis.iter().enumerate() {
        budget.spend(UNITS_PER_ITEM).await;
        let path = format!("apis[{i}]");
        match a.report(&path, &mut b.errors) {
            Some(a) => {
                if let Some(first) = api_refs.get(&a.id) {
                    b.err(
                        format!("{path}.id"),
                        ErrorKind::Duplicate {
                            what: format!("api id `{}`", a.id),
                            other: first.path.clone(),
                        },
                    );
                } else {
                    api_refs.insert(
                        a.id.clone(),
                        ApiRef {
                            index: apis.len() as u32,
                            stages: Some(a.stages.keys().cloned().collect()),
                            path: path.clone(),
                        },
                    );
                }
                apis.push(b.api(&path, a, budget).await);
            }
            None => {
                let raw = match a {
                    Lenient::Err { raw, .. } | Lenient::Repaired { raw, .. } => raw,
                    Lenient::Ok(_) => &Value::Null,
                };
                // Keep the id known so that rules naming this API do not add a second, misleading error.
                if let Some(id) = raw.get("id").and_then(Value::as_str) {
                    api_refs.entry(id.to_string()).or_insert(ApiRef {
                        index: u32::MAX,
                        stages: None,
                        path,
                    });
                }
            }
        }
    }

    let api_errors = std::mem::take(&mut b.errors);

    // G1, G2: consumers, their keys (by digest) and their plugins.
    budget.spend(UNITS_PER_ITEM * config.consumers.len() as u64).await;
    let consumers = ConsumerSet::compile(&config.consumers, &mut b.errors);

    let consumer_errors = std::mem::take(&mut b.errors);

    let mut domains = Vec::new();
    let mut domain_index = HostIndex::default();
    let mut domain_names: HashMap<String, String> = HashMap::new();
    for (i, d) in config.domains.iter().enumerate() {
        budget.spend(UNITS_PER_ITEM).await;
        let path = format!("domains[{i}]");
        let Some(d) = d.report(&path, &mut b.errors) else {
            continue;
        };
        if let Some((pattern, domain)) = b.domain(&path, d, &api_refs, &cluster_header, budget).await {
            let canonical = pattern.canonical();
            if let Some(first) = domain_names.get(&canonical) {
                b.err(
                    format!("{path}.name"),
                    ErrorKind::Duplicate {
                        what: format!("domain `{canonical}`"),
                        other: first.clone(),
                    },
                );
                continue;
            }
            domain_names.insert(canonical, format!("{path}.name"));
            domain_index.insert(&pattern, domains.len() as u32);
            domains.push(domain);
        }
    }

    let domain_errors = std::mem::take(&mut b.errors);
    for part in [head, domain_errors, api_errors, consumer_errors] {
        b.errors.0.extend(part.0);
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    let mut compiled = Vec::with_capacity(domains.len());
    for d in domains {
        budget
            .spend(UNITS_PER_INDEXED_ITEM * d.mappings.len() as u64)
            .await;
        let rules = match RuleSet::build_in(d.rules, budget).await {
            Ok(r) => r,
            Err(e) => {
                // Over the automaton's own limits; the contains-glob budget checked above keeps configs well below.
                b.err(
                    d.path,
                    ErrorKind::Invalid {
                        value: String::new(),
                        reason: e.to_string(),
                    },
                );
                continue;
            }
        };
        compiled.push(Domain {
            name: d.name,
            mode: d.mode,
            rules,
            mappings: MappingSet::build(d.mappings),
            no_match_status: d.no_match_status,
            no_match_body: format!(r#"{{"message":"{}"}}"#, reason_phrase(d.no_match_status)).into(),
        });
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    let uses_remote_addr = apis
        .iter()
        .flat_map(|a| a.routes.routes())
        .any(|r| !r.remote_addrs.is_empty() || r.vars.as_ref().is_some_and(VarsExpr::reads_remote_addr));
    let engine = Engine {
        uses_remote_addr,
        cluster_header: cluster_header.into(),
        state_keys,
        domain_index,
        domains: compiled,
        apis,
        rule_count: b.rule_slots as usize,
        mapping_count: b.mapping_slots as usize,
        route_count: b.route_slots as usize,
        consumers,
        stream_integrations: b.stream_integrations,
    };
    log::debug!("routewise: built {}", engine.summary());
    Ok(engine)
}

struct ApiRef {
    index: u32,
    /// Stage names; `None` when the API did not parse (its stages are unknown, so not checked).
    stages: Option<Vec<String>>,
    path: String,
}

/// Headers the cluster header may not be, besides the framing ones: the request needs them.
const RESERVED_CLUSTER_HEADERS: [&str; 8] = [
    "host",
    "cookie",
    "authorization",
    "proxy-authorization",
    "apikey",
    "x-api-key",
    "x-forwarded-for",
    "x-request-id",
];

/// Most bytes of contains-glob literals (`*v*`) in one domain's routing rules: their automaton stays a few
/// MiB per worker (for comparison, API Gateway allows 2 header conditions per rule).
pub const MAX_CONTAINS_GLOB_BYTES: usize = 256 * 1024;

/// A domain before its indexes are built.
struct DomainDraft {
    path: String,
    name: Box<str>,
    mode: RoutingMode,
    rules: Vec<Rule>,
    mappings: Vec<Mapping>,
    no_match_status: u16,
}

struct CompiledService {
    hosts: Vec<HostPattern>,
    plugins: Plugins,
    /// The compiled `plugins` (G1).
    layer: Layer,
    integration: Option<Integration>,
}

#[derive(Default)]
struct Builder {
    errors: ConfigErrors,
    rule_slots: u32,
    mapping_slots: u32,
    route_slots: u32,
    /// Field paths of the `STREAM` Lambda integrations ([`Engine::stream_integrations`]).
    stream_integrations: Vec<String>,
}

fn invalid(value: &str, reason: impl Into<String>) -> ErrorKind {
    ErrorKind::Invalid {
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Stage variables follow API Gateway's rules (they reach Lambda events as `stageVariables`, L1/L2): a name
/// of letters, digits and `_`; a value of 1 to 2048 characters from `A-Za-z0-9-._~:/?#&=,`.
fn check_stage_variable(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "the variable name `{}` may hold only letters, digits and `_`",
            name.escape_debug()
        ));
    }
    if value.is_empty() || value.len() > 2048 {
        return Err("a stage variable value is 1 to 2048 characters long".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(*c)))
    {
        return Err(format!(
            "`{}` is not allowed in a stage variable value (letters, digits and `-._~:/?#&=,`)",
            c.escape_debug()
        ));
    }
    Ok(())
}

/// Ids are shown in logs, filter state and metric names (sanitised there): any printable text.
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty id".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!("longer than {MAX_ID_LEN} characters"));
    }
    if id.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    Ok(())
}

/// A cluster name travels in a request header: no control characters or spaces.
fn check_cluster(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty cluster name".into());
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a cluster name has no spaces or control characters".into());
    }
    Ok(())
}

/// R12: header names of at most 40 characters from `a-zA-Z0-9*?-!#$%&'.^_`|~`.
fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty header name".into());
    }
    if name.len() > MAX_HEADER_NAME_LEN {
        return Err(format!(
            "longer than {MAX_HEADER_NAME_LEN} characters ({})",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "*?-!#$%&'.^_`|~".contains(*c)))
    {
        return Err(format!(
            "character `{}` is not allowed in a header name",
            c.escape_default()
        ));
    }
    Ok(())
}

fn forbidden_header(lower: &str, cluster_header: &str) -> Option<String> {
    if lower == cluster_header {
        return Some(format!(
            "`{lower}` is the filter's cluster header, removed from every request before routing"
        ));
    }
    if FORBIDDEN_HEADERS.contains(&lower) {
        return Some(format!(
            "header `{lower}` cannot be used in a routing rule condition"
        ));
    }
    FORBIDDEN_HEADER_PREFIXES
        .iter()
        .find(|p| lower.starts_with(**p))
        .map(|p| format!("headers `{p}*` cannot be used in a routing rule condition"))
}

fn plugins_of(map: &BTreeMap<String, Value>) -> Plugins {
    Arc::new(map.clone())
}

impl Builder {
    fn err(&mut self, path: impl Into<String>, kind: ErrorKind) {
        self.errors.push(path, kind);
    }

    /// `response_transfer_mode` and `function_name` of a Lambda integration (lambda-streaming.md §2):
    /// `Ok(Some(path))` for `STREAM`, `Ok(None)` for `BUFFERED`, `Err` once reported.
    fn transfer_mode(&mut self, path: &str, l: &LambdaIntegrationConfig) -> Result<Option<Arc<str>>, ()> {
        match (l.response_transfer_mode.as_str(), &l.function_name) {
            ("BUFFERED", None) => Ok(None),
            ("BUFFERED", Some(_)) => {
                self.err(
                    format!("{path}.function_name"),
                    ErrorKind::NotAllowed {
                        reason: "function_name is used with response_transfer_mode \"STREAM\" only; a \
                                 buffered invocation calls the function of the cluster's aws_lambda filter"
                            .into(),
                    },
                );
                Err(())
            }
            ("STREAM", None) => {
                self.err(
                    format!("{path}.function_name"),
                    ErrorKind::Missing {
                        what: "function_name",
                        hint: "response_transfer_mode \"STREAM\" calls POST \
                               /2021-11-15/functions/{FunctionName}/response-streaming-invocations itself: set \
                               function_name to the function's name or ARN"
                            .into(),
                    },
                );
                Err(())
            }
            ("STREAM", Some(name)) => {
                // Lambda's FunctionName: 1..=256 characters of a name, an ARN or a partial ARN, optionally
                // `:qualifier` (`$LATEST`); nothing that would need escaping in a path.
                let valid = (1..=256).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:$".contains(&b));
                if valid {
                    self.stream_integrations.push(path.to_string());
                    Ok(Some(
                        format!("/2021-11-15/functions/{name}/response-streaming-invocations").into(),
                    ))
                } else {
                    self.err(
                        format!("{path}.function_name"),
                        invalid(
                            name,
                            "use 1 to 256 characters of A-Z a-z 0-9 - _ . : $ (a function name or ARN)",
                        ),
                    );
                    Err(())
                }
            }
            (other, _) => {
                self.err(
                    format!("{path}.response_transfer_mode"),
                    invalid(other, "use \"BUFFERED\" or \"STREAM\""),
                );
                Err(())
            }
        }
    }

    /// `invocation_type` of a Lambda integration: `None` once reported. `Event` cannot stream: Lambda's
    /// `InvokeWithResponseStream` takes `RequestResponse` or `DryRun` only (lambda-streaming.md §2).
    fn invocation_type(&mut self, path: &str, l: &LambdaIntegrationConfig) -> Option<InvocationType> {
        let Ok(t) = l.invocation_type.parse::<InvocationType>() else {
            self.err(
                format!("{path}.invocation_type"),
                invalid(&l.invocation_type, "use \"RequestResponse\" or \"Event\""),
            );
            return None;
        };
        if t == InvocationType::Event && l.response_transfer_mode == "STREAM" {
            self.err(
                format!("{path}.invocation_type"),
                ErrorKind::NotAllowed {
                    reason: "an \"Event\" (asynchronous) invocation has no response to stream: \
                             InvokeWithResponseStream accepts RequestResponse only (lambda-streaming.md §2)"
                        .into(),
                },
            );
            return None;
        }
        Some(t)
    }

    /// `filter_state`: the keys by name; every key when absent.
    fn state_keys(&mut self, names: Option<&[String]>) -> StateKeys {
        let Some(names) = names else {
            return StateKeys::ALL;
        };
        match StateKeys::from_names(names) {
            Ok(keys) => keys,
            Err(i) => {
                let known: Vec<&str> = property::ALL_KEYS
                    .iter()
                    .filter_map(|k| k.strip_prefix("routewise."))
                    .collect();
                self.err(
                    format!("filter_state[{i}]"),
                    invalid(
                        names.get(i).map_or("", String::as_str),
                        format!("not a filter-state key; use one of {}", known.join(", ")),
                    ),
                );
                StateKeys::ALL
            }
        }
    }

    fn cluster_header(&mut self, name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        if lower.is_empty()
            || !lower
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            self.err(
                "cluster_header",
                invalid(name, "a header name of letters, digits, `-`, `_` and `.`"),
            );
        } else if crate::plugins::FRAMING_HEADERS.contains(&lower.as_str())
            || RESERVED_CLUSTER_HEADERS.contains(&lower.as_str())
        {
            // The filter removes the client's copy and sets its own: naming a header the request needs would
            // drop it from every request (and a framing header would break the request's framing).
            self.err(
                "cluster_header",
                ErrorKind::NotAllowed {
                    reason: format!(
                        "`{lower}` carries the request's framing, host, credentials or cookies; name a header \
                         of your own (the default is `x-routewise-cluster`)"
                    ),
                },
            );
        }
        lower
    }

    fn integration(&mut self, path: &str, i: &IntegrationConfig) -> Option<Integration> {
        match i {
            IntegrationConfig::Http { cluster } => match check_cluster(cluster) {
                Ok(()) => Some(Integration::Http {
                    cluster: cluster.as_str().into(),
                }),
                Err(e) => {
                    self.err(format!("{path}.cluster"), invalid(cluster, e));
                    None
                }
            },
            IntegrationConfig::Lambda(l) => {
                let mut ok = true;
                if let Err(e) = check_cluster(&l.cluster) {
                    self.err(format!("{path}.cluster"), invalid(&l.cluster, e));
                    ok = false;
                }
                let payload_format = match l.payload_format_version.parse::<PayloadFormat>() {
                    Ok(f) => f,
                    Err(_) => {
                        self.err(
                            format!("{path}.payload_format_version"),
                            invalid(&l.payload_format_version, "use \"1.0\" or \"2.0\""),
                        );
                        ok = false;
                        PayloadFormat::V2
                    }
                };
                for (field, v) in [
                    ("max_request_body_bytes", l.max_request_body_bytes),
                    ("max_response_body_bytes", l.max_response_body_bytes),
                ] {
                    if v == 0 {
                        self.err(format!("{path}.{field}"), invalid("0", "must be at least 1"));
                        ok = false;
                    } else if v > crate::config::MAX_LAMBDA_PAYLOAD_BYTES {
                        self.err(
                            format!("{path}.{field}"),
                            invalid(
                                &v.to_string(),
                                format!(
                                    "Lambda's synchronous invocations carry at most {} bytes (6 MB) each way, so a \
                                     larger limit is never reached",
                                    crate::config::MAX_LAMBDA_PAYLOAD_BYTES
                                ),
                            ),
                        );
                        ok = false;
                    }
                }
                let timeout_ms = u32::try_from(l.timeout_ms)
                    .ok()
                    .filter(|_| TIMEOUT_MS_RANGE.contains(&l.timeout_ms));
                if timeout_ms.is_none() {
                    self.err(
                        format!("{path}.timeout_ms"),
                        ErrorKind::OutOfRange {
                            value: i64::try_from(l.timeout_ms).unwrap_or(i64::MAX),
                            min: *TIMEOUT_MS_RANGE.start() as i64,
                            max: *TIMEOUT_MS_RANGE.end() as i64,
                        },
                    );
                    ok = false;
                }
                let stream_path = self.transfer_mode(path, l);
                ok &= stream_path.is_ok();
                let invocation = self.invocation_type(path, l);
                ok &= invocation.is_some();
                let jwt = l.jwt.as_ref().and_then(|j| {
                    crate::lambda::jwt::JwtSource::compile(&format!("{path}.jwt"), j, &mut self.errors)
                });
                ok &= l.jwt.is_none() || jwt.is_some();
                ok.then(|| {
                    Integration::Lambda(Arc::new(LambdaTarget {
                        cluster: l.cluster.as_str().into(),
                        payload_format,
                        max_request_body_bytes: l.max_request_body_bytes,
                        max_response_body_bytes: l.max_response_body_bytes,
                        timeout_ms: timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
                        stream_path: stream_path.ok().flatten(),
                        invocation: invocation.unwrap_or_default(),
                        jwt: jwt.map(Arc::new),
                    }))
                })
            }
        }
    }

    /// Route hosts (P1), also an API's or a service's; under the APISIX routers as APISIX writes and
    /// matches them (P6, [`HostPattern::parse_apisix`]).
    fn hosts(&mut self, path: &str, hosts: &[String], router: RouterKind) -> Vec<HostPattern> {
        let mut out: Vec<HostPattern> = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            let parsed = match router {
                RouterKind::Specificity => HostPattern::parse(h, false),
                RouterKind::ApisixRadixtreeUri | RouterKind::ApisixRadixtreeHostUri => {
                    HostPattern::parse_apisix(h)
                }
            };
            match parsed {
                Ok(p) if !out.contains(&p) => out.push(p),
                Ok(_) => {}
                Err(e) => self.err(format!("{path}[{i}]"), invalid(h, e)),
            }
        }
        out
    }

    async fn api(&mut self, path: &str, a: &ApiConfig, budget: &Budget) -> Api {
        if let Err(e) = check_id(&a.id) {
            self.err(format!("{path}.id"), invalid(&a.id, e));
        }
        if a.stages.is_empty() {
            self.err(
                format!("{path}.stages"),
                ErrorKind::Missing {
                    what: "stage",
                    hint: "an API needs at least one stage (`\"stages\": {\"prod\": {...}}`)".into(),
                },
            );
        }
        let mut stages = Vec::new();
        for (name, s) in &a.stages {
            let spath = format!("{path}.stages.{name}");
            if let Err(e) = check_id(name) {
                self.err(spath.clone(), invalid(name, e));
            }
            for (var, value) in &s.variables {
                if let Err(e) = check_stage_variable(var, value) {
                    self.err(format!("{spath}.variables.{var}"), invalid(value, e));
                }
            }
            let integration = s
                .integration
                .as_ref()
                .and_then(|i| self.integration(&format!("{spath}.integration"), i));
            stages.push(Stage {
                name: name.as_str().into(),
                variables: s.variables.clone(),
                integration,
            });
        }
        // Stages whose integration is absent (a route needs its own or its service's for those).
        let bare_stages: Vec<&str> = a
            .stages
            .iter()
            .filter(|(_, s)| s.integration.is_none())
            .map(|(n, _)| n.as_str())
            .collect();

        let api_hosts = self.hosts(&format!("{path}.hosts"), &a.hosts, a.router);
        let api_plugins = plugins_of(&a.plugins);
        let api_layer = compile_layer(&format!("{path}.plugins"), &a.plugins, &mut self.errors);

        let mut services: HashMap<&str, CompiledService> = HashMap::new();
        let mut service_paths: HashMap<&str, String> = HashMap::new();
        for (j, s) in a.services.iter().enumerate() {
            budget.spend(UNITS_PER_ITEM).await;
            let spath = format!("{path}.services[{j}]");
            let Some(s) = s.report(&spath, &mut self.errors) else {
                continue;
            };
            if let Err(e) = check_id(&s.id) {
                self.err(format!("{spath}.id"), invalid(&s.id, e));
            }
            if let Some(first) = service_paths.get(s.id.as_str()) {
                self.err(
                    format!("{spath}.id"),
                    ErrorKind::Duplicate {
                        what: format!("service id `{}`", s.id),
                        other: first.clone(),
                    },
                );
                continue;
            }
            service_paths.insert(&s.id, spath.clone());
            let hosts = self.hosts(&format!("{spath}.hosts"), &s.hosts, a.router);
            let integration = s
                .integration
                .as_ref()
                .and_then(|i| self.integration(&format!("{spath}.integration"), i));
            services.insert(
                &s.id,
                CompiledService {
                    hosts,
                    plugins: plugins_of(&s.plugins),
                    layer: compile_layer(&format!("{spath}.plugins"), &s.plugins, &mut self.errors),
                    integration,
                },
            );
        }

        let ctx = ApiCtx {
            router: a.router,
            hosts: &api_hosts,
            plugins: &api_plugins,
            layer: &api_layer,
            services: &services,
            bare_stages: &bare_stages,
            declared_services: &service_paths,
        };
        let mut drafts: Vec<RouteDraft> = Vec::new();
        if a.routes.is_empty() {
            // The implicit `$default` route of an API without routes uses the stages' integrations.
            for s in &bare_stages {
                self.err(
                    format!("{path}.stages.{s}.integration"),
                    ErrorKind::Missing {
                        what: "integration",
                        hint: "the API has no routes, so its implicit `$default` route uses the stage's \
                               integration"
                            .into(),
                    },
                );
            }
            let implicit = RouteConfig {
                key: Some("$default".into()),
                ..RouteConfig::default()
            };
            if let Some(d) = self.route(&format!("{path}.routes"), &implicit, &ctx, true) {
                drafts.push(d);
            }
        }
        for (k, r) in a.routes.iter().enumerate() {
            budget.spend(UNITS_PER_ITEM).await;
            let rpath = format!("{path}.routes[{k}]");
            let Some(r) = r.report(&rpath, &mut self.errors) else {
                continue;
            };
            if let Some(d) = self.route(&rpath, r, &ctx, false) {
                drafts.push(d);
            }
        }
        let routes = self.check_route_uniqueness(drafts, budget).await;
        Api {
            id: a.id.as_str().into(),
            router: a.router,
            stages,
            routes: RouteTable::build_in(routes, a.router, budget).await,
        }
    }

    /// P3 (route keys unique in an API) and P4 (ids unique, derived ids never collide).
    /// In slices of `budget`: a unit per route in each pass (50,000 routes took 52 ms in one piece under
    /// Wasm, most of it freeing the drafts).
    async fn check_route_uniqueness(&mut self, drafts: Vec<RouteDraft>, budget: &Budget) -> Vec<Route> {
        // Sized once: growing a table rehashes every key in one piece.
        let mut keys: HashMap<&str, usize> =
            HashMap::with_capacity(drafts.iter().map(|d| d.keys.len()).sum());
        let mut dup_key = vec![false; drafts.len()];
        for (i, d) in drafts.iter().enumerate() {
            budget.spend(1).await;
            for (k, display, path) in &d.keys {
                match keys.get(k.as_str()) {
                    Some(&first) => {
                        let first_name = drafts.get(first).map(|f| f.name.clone()).unwrap_or_default();
                        self.err(
                            path.clone(),
                            ErrorKind::DuplicateRouteKey {
                                key: display.clone(),
                                first: first_name,
                                second: d.name.clone(),
                            },
                        );
                        if let Some(flag) = dup_key.get_mut(i) {
                            *flag = true;
                        }
                    }
                    None => {
                        keys.insert(k, i);
                    }
                }
            }
        }
        let mut ids: HashMap<&str, usize> = HashMap::with_capacity(drafts.len());
        for (i, d) in drafts.iter().enumerate() {
            budget.spend(1).await;
            match ids.get(&*d.route.id) {
                Some(&first) => {
                    // Same content → same key too: the duplicate key error already says it better.
                    if dup_key.get(i).copied().unwrap_or(false) {
                        continue;
                    }
                    let Some(f) = drafts.get(first) else { continue };
                    let what = if d.explicit_id && f.explicit_id {
                        format!("route id `{}`", d.route.id)
                    } else {
                        format!(
                            "route id `{}` (derived from the route's content; set an explicit `id`)",
                            d.route.id
                        )
                    };
                    self.err(
                        d.id_path.clone(),
                        ErrorKind::Duplicate {
                            what,
                            other: f.path.clone(),
                        },
                    );
                }
                None => {
                    ids.insert(&d.route.id, i);
                }
            }
        }
        drop((keys, ids));
        let mut routes = Vec::with_capacity(drafts.len());
        for d in drafts {
            budget.spend(1).await;
            routes.push(d.route);
        }
        routes
    }

    fn route(&mut self, path: &str, r: &RouteConfig, api: &ApiCtx<'_>, implicit: bool) -> Option<RouteDraft> {
        let errors_before = self.errors.0.len();
        let route_plugins = compile_layer(&format!("{path}.plugins"), &r.plugins, &mut self.errors);

        // Paths and methods: a route key, or `paths` + `methods` (P2, P3).
        let mut methods = MethodSet::ANY;
        let mut patterns: Vec<(PathPattern, String)> = Vec::new();
        let key_form = r.key.is_some();
        if let Some(key) = &r.key {
            if !r.paths.is_empty() || !r.methods.is_empty() {
                self.err(
                    format!("{path}.key"),
                    ErrorKind::NotAllowed {
                        reason: "`key` cannot be combined with `paths` or `methods`; use one form".into(),
                    },
                );
            }
            match parse_route_key(key) {
                Ok((m, p)) => {
                    methods = m;
                    patterns.push((p, format!("{path}.key")));
                }
                Err(e) => self.err(format!("{path}.key"), invalid(key, e)),
            }
        } else {
            if r.paths.is_empty() {
                self.err(
                    path.to_string(),
                    ErrorKind::Missing {
                        what: "path",
                        hint: "set `key` (\"GET /pets/{id}\") or `paths`".into(),
                    },
                );
            }
            for (i, p) in r.paths.iter().enumerate() {
                match PathPattern::parse(p) {
                    Ok(pat) if patterns.iter().any(|(q, _)| *q == pat) => self.err(
                        format!("{path}.paths[{i}]"),
                        ErrorKind::Duplicate {
                            what: format!("path `{p}`"),
                            other: format!("{path}.paths"),
                        },
                    ),
                    Ok(pat) => patterns.push((pat, format!("{path}.paths[{i}]"))),
                    Err(e) => self.err(format!("{path}.paths[{i}]"), invalid(p, e)),
                }
            }
            for (i, m) in r.methods.iter().enumerate() {
                match methods.with(m) {
                    Some(set) => methods = set,
                    None => self.err(format!("{path}.methods[{i}]"), invalid(m, method_hint(m))),
                }
            }
        }
        // P6: the APISIX routers know exact paths and `*` prefixes only (their radix tree); templates,
        // greedy segments and `$default` have no APISIX order to reproduce.
        if api.router != RouterKind::Specificity && !implicit {
            for (p, ppath) in &patterns {
                if !matches!(p, PathPattern::Exact(_) | PathPattern::Prefix(_)) {
                    self.err(
                        ppath.clone(),
                        invalid(
                            &p.as_written(),
                            format!(
                                "router `{}` matches exact paths and prefixes (`/a`, `/a/*`, `/a*`) only, as \
                                 APISIX does; use router `specificity` for templates and `$default`",
                                router_name(api.router)
                            ),
                        ),
                    );
                }
            }
        }

        // Service (P7).
        let service = match &r.service {
            Some(id) => match api.services.get(id.as_str()) {
                Some(s) => Some((id.as_str(), s)),
                None => {
                    if !api.declared_services.contains_key(id.as_str()) {
                        self.err(
                            format!("{path}.service"),
                            ErrorKind::UnknownReference {
                                what: "service",
                                name: id.clone(),
                            },
                        );
                    }
                    None
                }
            },
            None => None,
        };

        // Hosts (P1, P7): the route's own replace the service's, which replace the API's.
        let (hosts, hosts_origin) = match (&r.hosts, service) {
            (Some(own), _) => (
                self.hosts(&format!("{path}.hosts"), own, api.router),
                HostsOrigin::Route,
            ),
            (None, Some((id, s))) if !s.hosts.is_empty() => {
                (s.hosts.clone(), HostsOrigin::Service(id.into()))
            }
            _ if !api.hosts.is_empty() => (api.hosts.to_vec(), HostsOrigin::Api),
            _ => (Vec::new(), HostsOrigin::None),
        };

        let vars = match &r.vars {
            Some(v) => match VarsExpr::compile(v) {
                Ok(e) => Some(e),
                Err(errs) => {
                    for (sub, msg) in errs {
                        self.err(
                            format!("{path}.vars{sub}"),
                            ErrorKind::Invalid {
                                value: short_json(v, &sub),
                                reason: msg,
                            },
                        );
                    }
                    None
                }
            },
            None => None,
        };

        let mut remote_addrs = Vec::new();
        for (i, a) in r.remote_addrs.iter().enumerate() {
            match Cidr::parse(a) {
                Ok(c) => remote_addrs.push(c),
                Err(e) => self.err(format!("{path}.remote_addrs[{i}]"), invalid(a, e)),
            }
        }

        // Integration: route > service > stage.
        let integration = match (&r.integration, service) {
            (Some(i), _) => self.integration(&format!("{path}.integration"), i),
            (None, Some((_, s))) => s.integration.clone(),
            (None, None) => None,
        };
        let has_own = r.integration.is_some() || service.is_some_and(|(_, s)| s.integration.is_some());
        if !has_own && !api.bare_stages.is_empty() && !implicit {
            let list: Vec<String> = api.bare_stages.iter().map(|s| format!("`{s}`")).collect();
            self.err(
                path.to_string(),
                ErrorKind::Missing {
                    what: "integration",
                    hint: format!(
                        "set `integration` on the route, on its service, or on stage {}",
                        list.join(", ")
                    ),
                },
            );
        }

        // Canonical filters: effective hosts, vars, addresses. Part of the derived id and of key uniqueness.
        let mut sig = String::new();
        if !hosts.is_empty() {
            let mut h: Vec<String> = hosts.iter().map(HostPattern::canonical).collect();
            crate::sort::sort(&mut h);
            sig.push_str(&format!("\nhosts {}", h.join(",")));
        }
        if let Some(v) = &vars {
            sig.push_str(&format!("\nvars {}", v.source()));
        }
        if !remote_addrs.is_empty() {
            let mut a: Vec<String> = remote_addrs.iter().map(Cidr::canonical).collect();
            crate::sort::sort(&mut a);
            sig.push_str(&format!("\nremote_addrs {}", a.join(",")));
        }

        let method_names = methods.names();
        let key_methods: Vec<&str> = if method_names.is_empty() {
            vec!["ANY"]
        } else {
            method_names
        };
        let methods_display = methods.display();
        // P3: a route written as a route key (`GET /pets/{id}`, API Gateway's form) has a key unique in the
        // API whatever its hosts, vars or addresses, as the spec says; routes written as `paths` (APISIX's
        // form) may repeat a path under other filters (`test2.com` + `/test*` beside a host-less `/test*`, P5).
        // P6: under the APISIX routers, routes written as `paths` may even repeat one another: APISIX keeps
        // them all and orders them by `priority`, then file order (lua-resty-radixtree `sort_route`); the
        // linter reports the route that can never win (shadowed-route) or that wins by file order only
        // (file-order-tie).
        let key_sig = if r.key.is_some() { "" } else { sig.as_str() };
        let unique_keys = key_form || api.router == RouterKind::Specificity;
        let mut keys = Vec::new();
        let mut paths = Vec::new();
        for (p, ppath) in &patterns {
            for m in key_methods.iter().filter(|_| unique_keys) {
                let display = match p {
                    PathPattern::Default => "$default".to_string(),
                    _ => format!("{m} {}", p.as_written()),
                };
                keys.push((
                    format!("{key_sig}\u{1}{m} {}", p.normalized()),
                    display,
                    ppath.clone(),
                ));
            }
            let key = match p {
                PathPattern::Default => "$default".to_string(),
                _ => format!("{methods_display} {}", p.as_written()),
            };
            paths.push(RoutePath {
                pattern: p.clone(),
                key: key.into(),
            });
        }

        // Id (P4).
        let (id, explicit_id) = match &r.id {
            Some(id) => {
                if let Err(e) = check_id(id) {
                    self.err(format!("{path}.id"), invalid(id, e));
                }
                (id.clone(), true)
            }
            None => {
                let content = if key_form {
                    format!("key {}", paths.first().map_or("", |p| &*p.key))
                } else {
                    let mut ps: Vec<String> = patterns.iter().map(|(p, _)| p.as_written()).collect();
                    crate::sort::sort(&mut ps);
                    format!("paths {} methods {}", ps.join(","), methods_display)
                };
                (derived_id("route", &format!("{content}{sig}")), false)
            }
        };
        if self.errors.0.len() > errors_before {
            return None;
        }
        let slot = self.route_slots;
        self.route_slots += 1;
        let name = if explicit_id { id.clone() } else { path.to_string() };
        Some(RouteDraft {
            route: Route {
                id: id.into(),
                slot,
                paths: paths.into(),
                methods,
                hosts: hosts.into(),
                hosts_origin,
                vars,
                remote_addrs: remote_addrs.into(),
                priority: r.priority,
                integration,
                service: service.map(|(id, _)| id.into()),
                plugins: PluginLayers {
                    api: api.plugins.clone(),
                    service: service.map(|(_, s)| s.plugins.clone()),
                    route: plugins_of(&r.plugins),
                    compiled: Arc::new(RouteLayers {
                        api: api.layer.clone(),
                        service: service.map(|(_, s)| s.layer.clone()),
                        route: route_plugins,
                    }),
                },
            },
            name,
            path: path.to_string(),
            id_path: if explicit_id {
                format!("{path}.id")
            } else {
                path.to_string()
            },
            explicit_id,
            keys,
        })
    }

    async fn domain(
        &mut self,
        path: &str,
        d: &DomainConfig,
        apis: &HashMap<String, ApiRef>,
        cluster_header: &str,
        budget: &Budget,
    ) -> Option<(HostPattern, DomainDraft)> {
        let pattern = match HostPattern::parse(&d.name, true) {
            Ok(p) => Some(p),
            Err(e) => {
                self.err(format!("{path}.name"), invalid(&d.name, e));
                None
            }
        };
        if !(400..=599).contains(&d.no_match_status) {
            self.err(
                format!("{path}.no_match_status"),
                ErrorKind::OutOfRange {
                    value: i64::from(d.no_match_status),
                    min: 400,
                    max: 599,
                },
            );
        }
        // R12: rules are ignored in API_MAPPING_ONLY and mappings in ROUTING_RULE_ONLY; say so rather than
        // silently drop them.
        if d.routing_mode == RoutingMode::ApiMappingOnly && !d.routing_rules.is_empty() {
            self.err(
                format!("{path}.routing_rules"),
                ErrorKind::NotAllowed {
                    reason: "routing rules are not used in API_MAPPING_ONLY mode (the default); set \
                             `routing_mode` to ROUTING_RULE_THEN_API_MAPPING or ROUTING_RULE_ONLY"
                        .into(),
                },
            );
        }
        if d.routing_mode == RoutingMode::RoutingRuleOnly && !d.api_mappings.is_empty() {
            self.err(
                format!("{path}.api_mappings"),
                ErrorKind::NotAllowed {
                    reason: "API mappings are not used in ROUTING_RULE_ONLY mode; set `routing_mode` to \
                             ROUTING_RULE_THEN_API_MAPPING or API_MAPPING_ONLY"
                        .into(),
                },
            );
        }
        let canonical = pattern.as_ref().map(HostPattern::canonical).unwrap_or_default();

        let mut rules = Vec::new();
        let mut priorities: HashMap<i64, String> = HashMap::new();
        let mut rule_ids: HashMap<String, String> = HashMap::new();
        for (j, r) in d.routing_rules.iter().enumerate() {
            budget.spend(UNITS_PER_ITEM).await;
            let rpath = format!("{path}.routing_rules[{j}]");
            let Some(r) = r.report(&rpath, &mut self.errors) else {
                continue;
            };
            if let Some(rule) = self.rule(&rpath, r, &canonical, apis, cluster_header) {
                if let Some(first) = priorities.get(&r.priority) {
                    self.err(
                        format!("{rpath}.priority"),
                        ErrorKind::Duplicate {
                            what: format!("priority {}", r.priority),
                            other: first.clone(),
                        },
                    );
                    continue;
                }
                priorities.insert(r.priority, format!("{rpath}.priority"));
                let id_path = if r.id.is_some() {
                    format!("{rpath}.id")
                } else {
                    rpath.clone()
                };
                if let Some(first) = rule_ids.get(&*rule.id) {
                    self.err(
                        id_path,
                        ErrorKind::Duplicate {
                            what: format!("rule id `{}`", rule.id),
                            other: first.clone(),
                        },
                    );
                    continue;
                }
                rule_ids.insert(rule.id.to_string(), rpath.clone());
                rules.push(rule);
            }
        }
        // The contains globs of a domain make one automaton (matchers::glob): its size, and so the memory of
        // every worker, is bounded by the bytes of their literals.
        let contains_bytes: usize = rules
            .iter()
            .flat_map(|r| r.headers.iter())
            .filter_map(|h| match &h.glob {
                HeaderGlob::Contains(v) => Some(v.len()),
                _ => None,
            })
            .sum();
        if contains_bytes > MAX_CONTAINS_GLOB_BYTES {
            self.err(
                format!("{path}.routing_rules"),
                ErrorKind::NotAllowed {
                    reason: format!(
                        "the contains globs (`*v*`) of this domain's rules total {contains_bytes} bytes of \
                         literals; at most {MAX_CONTAINS_GLOB_BYTES} are allowed per domain (prefer exact, \
                         prefix or suffix globs, which are indexed without this limit)"
                    ),
                },
            );
        }

        drop_all(priorities, budget).await;
        drop_all(rule_ids, budget).await;

        let mut mappings = Vec::new();
        let mut bases: HashMap<&str, String> = HashMap::new();
        let mut mapping_ids: HashMap<String, String> = HashMap::new();
        for (j, m) in d.api_mappings.iter().enumerate() {
            budget.spend(UNITS_PER_ITEM).await;
            let mpath = format!("{path}.api_mappings[{j}]");
            let Some(m) = m.report(&mpath, &mut self.errors) else {
                continue;
            };
            if let Some(first) = bases.get(m.base_path.as_str()) {
                let what = if m.base_path.is_empty() {
                    "the (none) base path".to_string()
                } else {
                    format!("base path `{}`", m.base_path)
                };
                self.err(
                    format!("{mpath}.base_path"),
                    ErrorKind::Duplicate {
                        what,
                        other: first.clone(),
                    },
                );
                continue;
            }
            bases.insert(&m.base_path, format!("{mpath}.base_path"));
            if let Some(mapping) = self.mapping(&mpath, m, apis) {
                if let Some(first) = mapping_ids.get(&*mapping.id) {
                    self.err(
                        format!("{mpath}.id"),
                        ErrorKind::Duplicate {
                            what: format!("mapping id `{}`", mapping.id),
                            other: first.clone(),
                        },
                    );
                    continue;
                }
                mapping_ids.insert(mapping.id.to_string(), mpath.clone());
                mappings.push(mapping);
            }
        }

        let pattern = pattern?;
        Some((
            pattern,
            DomainDraft {
                path: path.to_string(),
                name: canonical.into(),
                mode: d.routing_mode,
                rules,
                mappings,
                no_match_status: d.no_match_status,
            },
        ))
    }

    fn target(
        &mut self,
        path: &str,
        api: &str,
        stage: &str,
        apis: &HashMap<String, ApiRef>,
    ) -> Option<(u32, u32)> {
        let Some(a) = apis.get(api) else {
            self.err(
                format!("{path}.api"),
                ErrorKind::UnknownReference {
                    what: "api",
                    name: api.to_string(),
                },
            );
            return None;
        };
        let stages = a.stages.as_ref()?;
        match stages.iter().position(|s| s == stage) {
            Some(i) => Some((a.index, i as u32)),
            None => {
                self.err(
                    format!("{path}.stage"),
                    ErrorKind::UnknownReference {
                        what: "stage",
                        name: stage.to_string(),
                    },
                );
                None
            }
        }
    }

    fn rule(
        &mut self,
        path: &str,
        r: &RoutingRuleConfig,
        domain: &str,
        apis: &HashMap<String, ApiRef>,
        cluster_header: &str,
    ) -> Option<Rule> {
        let errors_before = self.errors.0.len();
        if !(1..=1_000_000).contains(&r.priority) {
            self.err(
                format!("{path}.priority"),
                ErrorKind::OutOfRange {
                    value: r.priority,
                    min: 1,
                    max: 1_000_000,
                },
            );
        }
        let headers_path = format!("{path}.conditions.headers");
        if r.conditions.headers.len() > 2 {
            self.err(
                headers_path.clone(),
                ErrorKind::TooMany {
                    what: "header conditions",
                    max: 2,
                    given: r.conditions.headers.len(),
                },
            );
        }
        let mut headers = Vec::new();
        for (k, h) in r.conditions.headers.iter().enumerate() {
            let hpath = format!("{headers_path}[{k}]");
            let lower = h.header.to_ascii_lowercase();
            match check_header_name(&h.header) {
                Err(e) => self.err(format!("{hpath}.header"), invalid(&h.header, e)),
                Ok(()) => {
                    if let Some(reason) = forbidden_header(&lower, cluster_header) {
                        self.err(format!("{hpath}.header"), ErrorKind::NotAllowed { reason });
                    }
                }
            }
            match HeaderGlob::parse(&h.value_glob) {
                Ok(glob) => headers.push(HeaderCondition {
                    name: lower.into(),
                    glob,
                }),
                Err(e) => self.err(format!("{hpath}.value_glob"), invalid(&h.value_glob, e)),
            }
        }
        if let Some(base) = &r.conditions.base_path {
            if let Err(e) = check_base_path(base, false) {
                self.err(format!("{path}.conditions.base_path"), invalid(base, e));
            }
        }
        let inv = &r.action.invoke_api;
        let target = self.target(&format!("{path}.action.invoke_api"), &inv.api, &inv.stage, apis);
        if let Some(id) = &r.id {
            if let Err(e) = check_id(id) {
                self.err(format!("{path}.id"), invalid(id, e));
            }
        }
        if self.errors.0.len() > errors_before {
            return None;
        }
        let (api, stage) = target?;
        let id = match &r.id {
            Some(id) => id.clone(),
            None => {
                let conds: Vec<String> = headers
                    .iter()
                    .map(|h| format!("{}:{}", h.name, h.glob.as_written()))
                    .collect();
                derived_id(
                    "rule",
                    &format!(
                        "{domain}\n{}\n{}\n{}\n{} {} {}",
                        r.priority,
                        conds.join("\n"),
                        r.conditions.base_path.as_deref().unwrap_or(""),
                        inv.api,
                        inv.stage,
                        inv.strip_base_path
                    ),
                )
            }
        };
        let slot = self.rule_slots;
        self.rule_slots += 1;
        Some(Rule {
            id: id.into(),
            priority: u32::try_from(r.priority).unwrap_or(u32::MAX),
            headers: headers.into(),
            base_path: r.conditions.base_path.as_deref().map(Into::into),
            target: Target {
                api,
                stage,
                strip_base_path: inv.strip_base_path,
            },
            slot,
        })
    }

    fn mapping(
        &mut self,
        path: &str,
        m: &ApiMappingConfig,
        apis: &HashMap<String, ApiRef>,
    ) -> Option<Mapping> {
        let errors_before = self.errors.0.len();
        if let Err(e) = check_base_path(&m.base_path, true) {
            self.err(format!("{path}.base_path"), invalid(&m.base_path, e));
        }
        if let Some(id) = &m.id {
            if let Err(e) = check_id(id) {
                self.err(format!("{path}.id"), invalid(id, e));
            }
        }
        let target = self.target(path, &m.api, &m.stage, apis);
        if self.errors.0.len() > errors_before {
            return None;
        }
        let (api, stage) = target?;
        // The id of a mapping without one is its base path, as API Gateway's `basePathMatched` (R11).
        let id = match (&m.id, m.base_path.is_empty()) {
            (Some(id), _) => id.clone(),
            (None, true) => "(none)".to_string(),
            (None, false) => m.base_path.clone(),
        };
        let slot = self.mapping_slots;
        self.mapping_slots += 1;
        Some(Mapping {
            id: id.into(),
            base_path: m.base_path.as_str().into(),
            target: Target {
                api,
                stage,
                strip_base_path: !m.base_path.is_empty(),
            },
            slot,
        })
    }
}

struct ApiCtx<'a> {
    /// P5/P6.
    router: RouterKind,
    hosts: &'a [HostPattern],
    plugins: &'a Plugins,
    /// The API's compiled `plugins` (G1).
    layer: &'a Layer,
    services: &'a HashMap<&'a str, CompiledService>,
    bare_stages: &'a [&'a str],
    /// Every service id declared, including those with errors (a reference to one adds no second error).
    declared_services: &'a HashMap<&'a str, String>,
}

struct RouteDraft {
    route: Route,
    /// The route in messages: its explicit id, or its config path.
    name: String,
    path: String,
    id_path: String,
    explicit_id: bool,
    /// (uniqueness key, key as written, field path) per method × path.
    keys: Vec<(String, String, String)>,
}

fn router_name(r: RouterKind) -> &'static str {
    match r {
        RouterKind::Specificity => "specificity",
        RouterKind::ApisixRadixtreeUri => "apisix_radixtree_uri",
        RouterKind::ApisixRadixtreeHostUri => "apisix_radixtree_host_uri",
    }
}

fn method_hint(m: &str) -> String {
    if m == "ANY" {
        "leave `methods` out to allow any method".into()
    } else if METHODS.contains(&m.to_ascii_uppercase().as_str()) {
        format!("methods are uppercase: `{}`", m.to_ascii_uppercase())
    } else {
        format!("not one of {}", METHODS.join(", "))
    }
}

/// P3: `$default`, or `METHOD /path` with `ANY` for any method.
fn parse_route_key(key: &str) -> Result<(MethodSet, PathPattern), String> {
    if key == "$default" {
        return Ok((MethodSet::ANY, PathPattern::Default));
    }
    let Some((method, path)) = key.split_once(' ') else {
        return Err("a route key is `$default` or `METHOD /path` (`GET /pets/{id}`, `ANY /{proxy+}`)".into());
    };
    if !path.starts_with('/') {
        return Err("the path of a route key starts with `/`".into());
    }
    let methods = if method == "ANY" {
        MethodSet::ANY
    } else {
        MethodSet::ANY.with(method).ok_or_else(|| method_hint(method))?
    };
    Ok((methods, PathPattern::parse(path)?))
}

/// The JSON at a `vars` sub-path (`[0][1]`), compact, for error messages.
fn short_json(v: &Value, sub: &str) -> String {
    let mut cur = v;
    for part in sub.split(['[', ']']).filter(|s| !s.is_empty()) {
        match part.parse::<usize>().ok().and_then(|i| cur.get(i)) {
            Some(next) => cur = next,
            None => break,
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
