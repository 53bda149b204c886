//! `routewise import apisix`: an APISIX configuration (standalone `apisix.yaml`, or Admin API JSON) as a
//! routewise config whose routes behave in Envoy as they did in APISIX.
//!
//! **Shape.** One domain `*` with a `(none)` mapping to one API `apisix` (stage `default`) that holds the
//! routes and services, with the router chosen by [`ApisixImport::router`]: `radixtree_host_uri` (APISIX
//! 3.x's default) or `radixtree_uri`, each reproduced by the P6 compatibility router of the same name. Route
//! and service ids are kept (numbers become strings) and so is the routes' order, which decides P6 ties.
//!
//! **Inputs.** A YAML or JSON document with `routes`, `services`, `consumers`, `upstreams` lists (standalone
//! mode); each list may also be an Admin API answer (`{"list": [{"key": ..., "value": {...}}]}`), and the
//! whole document may be one Admin API answer, its items sorted by their `key` (`/apisix/routes/1`).
//!
//! **Fields.** Routes: `id`, `uri`/`uris`, `host`/`hosts`, `methods`, `priority`, `vars`,
//! `remote_addr`/`remote_addrs`, `service_id`, `status` (0: disabled, not imported), `plugins`, `upstream`
//! and `upstream_id`. Services: `id`, `hosts`, `plugins`, `upstream`, `upstream_id`. Consumers: `username`,
//! `plugins`. Plugins: `key-auth` (a consumer's `key` is stored as its SHA-256, G2; a route's
//! `hide_credentials` is written out as `false` when absent, APISIX's default), `proxy-rewrite` (`uri`,
//! `regex_uri`, `host`, `headers`), `response-rewrite` (`status_code`, `headers`). Metadata (`name`,
//! `desc`, `labels`, timestamps) is summarised in one note. Everything else (other fields, other plugins,
//! fields of a plugin routewise does not implement, routes with `:param` paths) is listed as a note naming
//! the route, service or consumer, never dropped silently.
//!
//! **Upstreams.** routewise forwards to Envoy clusters: a route's (or service's) `upstream_id` `U` becomes
//! the cluster `apisix_upstream_U`, an inline upstream the cluster `apisix_route_ID` (`apisix_service_ID`);
//! a note lists each cluster with the nodes to give it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{
    ApiConfig, ApiMappingConfig, Config, ConsumerConfig, DomainConfig, IntegrationConfig, RouteConfig,
    RouterKind, RoutingMode, ServiceConfig, StageConfig, DEFAULT_CLUSTER_HEADER,
};

use super::{ImportErrors, Imported};

/// What to import.
#[derive(Debug, Clone)]
pub struct ApisixImport<'a> {
    /// The YAML or JSON text.
    pub text: &'a str,
    /// `ApisixRadixtreeHostUri` or `ApisixRadixtreeUri` (the APISIX `apisix.router.http` setting).
    pub router: RouterKind,
}

/// The API the routes go to.
pub const API_ID: &str = "apisix";
/// Its stage.
pub const STAGE: &str = "default";
/// Cluster of routes with no upstream anywhere (their own, their service's).
pub const NO_UPSTREAM_CLUSTER: &str = "apisix_no_upstream";

const METADATA: [&str; 5] = ["name", "desc", "labels", "create_time", "update_time"];

struct Items {
    routes: Vec<Value>,
    services: Vec<Value>,
    consumers: Vec<Value>,
    upstreams: Vec<Value>,
}

/// A list in standalone form (`[...]`) or as an Admin API answer (`{"list": [{"value": ...}]}`, v3;
/// `{"node": {"nodes": [...]}}`, v2).
fn list_items(v: &Value) -> Option<Vec<Value>> {
    if let Some(a) = v.as_array() {
        return Some(a.clone());
    }
    let list = v
        .get("list")
        .or_else(|| v.get("node").and_then(|n| n.get("nodes")))?
        .as_array()?;
    Some(
        list.iter()
            .map(|i| i.get("value").cloned().unwrap_or(Value::Null))
            .collect(),
    )
}

fn collect(doc: &Value) -> Result<Items, String> {
    let mut items = Items {
        routes: Vec::new(),
        services: Vec::new(),
        consumers: Vec::new(),
        upstreams: Vec::new(),
    };
    let Some(obj) = doc.as_object() else {
        return Err(
            "the document is not a mapping with `routes`, `services`, ... (nor an Admin API answer)".into(),
        );
    };
    // A whole Admin API answer: items sorted by kind through their keys.
    if let Some(list) = obj
        .get("list")
        .or_else(|| obj.get("node").and_then(|n| n.get("nodes")))
        .and_then(Value::as_array)
    {
        for i in list {
            let key = i.get("key").and_then(Value::as_str).unwrap_or_default();
            let value = i.get("value").cloned().unwrap_or(Value::Null);
            let kind = key.trim_start_matches('/').split('/').nth(1).unwrap_or_default();
            match kind {
                "routes" => items.routes.push(value),
                "services" => items.services.push(value),
                "consumers" => items.consumers.push(value),
                "upstreams" => items.upstreams.push(value),
                _ => {
                    return Err(format!(
                        "Admin API item `{key}`: not a route, service, consumer or upstream"
                    ))
                }
            }
        }
        return Ok(items);
    }
    for (k, v) in obj {
        let target = match k.as_str() {
            "routes" => &mut items.routes,
            "services" => &mut items.services,
            "consumers" => &mut items.consumers,
            "upstreams" => &mut items.upstreams,
            _ => continue,
        };
        *target = list_items(v).ok_or_else(|| format!("`{k}` is not a list"))?;
    }
    Ok(items)
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

struct Ctx {
    notes: Vec<String>,
    metadata: BTreeMap<&'static str, usize>,
    /// cluster → description of its nodes.
    clusters: BTreeMap<String, String>,
    upstreams: BTreeMap<String, Value>,
}

fn describe_upstream(u: &Value) -> String {
    let nodes: Vec<String> = match u.get("nodes") {
        Some(Value::Object(m)) => m.iter().map(|(addr, w)| format!("{addr} (weight {w})")).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|n| {
                format!(
                    "{}:{} (weight {})",
                    n.get("host").and_then(Value::as_str).unwrap_or("?"),
                    n.get("port").map(Value::to_string).unwrap_or_else(|| "?".into()),
                    n.get("weight")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "1".into())
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut s = if nodes.is_empty() {
        "no nodes listed".to_string()
    } else {
        format!("nodes {}", nodes.join(", "))
    };
    for k in ["type", "scheme", "service_name", "discovery_type"] {
        if let Some(v) = u.get(k).and_then(Value::as_str) {
            s.push_str(&format!(", {k} {v}"));
        }
    }
    s
}

impl Ctx {
    fn note(&mut self, what: &str, msg: impl std::fmt::Display) {
        self.notes.push(format!("{what}: {msg}"));
    }

    /// The integration of an object with `upstream` or `upstream_id`.
    fn integration(&mut self, what: &str, inline_cluster: String, v: &Value) -> Option<IntegrationConfig> {
        let cluster = if let Some(id) = v.get("upstream_id").and_then(|u| match u {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }) {
            let cluster = format!("apisix_upstream_{id}");
            let desc = match self.upstreams.get(&id) {
                Some(u) => describe_upstream(u),
                None => {
                    self.note(
                        what,
                        format!("upstream_id `{id}` is not among the imported upstreams"),
                    );
                    "upstream not in the input".into()
                }
            };
            self.clusters.insert(cluster.clone(), desc);
            cluster
        } else if let Some(u) = v.get("upstream") {
            self.clusters.insert(inline_cluster.clone(), describe_upstream(u));
            inline_cluster
        } else {
            return None;
        };
        Some(IntegrationConfig::Http { cluster })
    }

    /// The plugins routewise runs, with the fields it knows; everything else is noted.
    fn plugins(&mut self, what: &str, v: Option<&Value>, consumer: bool) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let Some(map) = v.and_then(Value::as_object) else {
            return out;
        };
        for (name, conf) in map {
            let Some(conf) = conf.as_object() else {
                self.note(
                    what,
                    format!("plugin `{name}` has no object config; not imported"),
                );
                continue;
            };
            let (known, mut kept): (&[&str], Map<String, Value>) = match (name.as_str(), consumer) {
                ("key-auth", true) => (&["key"], Map::new()),
                ("key-auth", false) => (&["header", "query", "hide_credentials"], Map::new()),
                ("proxy-rewrite", _) => (&["uri", "regex_uri", "host", "headers"], Map::new()),
                ("response-rewrite", _) => (&["status_code", "headers"], Map::new()),
                _ => {
                    self.note(
                        what,
                        format!("plugin `{name}` is not supported by routewise; not imported"),
                    );
                    continue;
                }
            };
            for (k, val) in conf {
                if k == "_meta" {
                    self.note(what, format!("plugin `{name}`: `_meta` not imported"));
                } else if !known.contains(&k.as_str()) {
                    self.note(
                        what,
                        format!("plugin `{name}`: field `{k}` not supported; not imported"),
                    );
                } else {
                    kept.insert(k.clone(), val.clone());
                }
            }
            match (name.as_str(), consumer) {
                ("key-auth", true) => {
                    // G2: only the key's SHA-256 is stored.
                    match kept.remove("key").as_ref().and_then(Value::as_str) {
                        Some(key) => {
                            let digest = Sha256::digest(key.as_bytes());
                            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                            kept.insert("key_sha256".into(), Value::String(hex));
                        }
                        None => {
                            self.note(
                                what,
                                "key-auth without a `key` (a secret reference?); not imported",
                            );
                            continue;
                        }
                    }
                }
                ("key-auth", false) => {
                    // APISIX keeps the credential unless told otherwise; routewise removes it by default.
                    kept.entry("hide_credentials").or_insert(Value::Bool(false));
                }
                ("proxy-rewrite" | "response-rewrite", _) => {
                    if let Some(Value::Object(h)) = kept.get("headers") {
                        if !h.keys().all(|k| matches!(k.as_str(), "add" | "set" | "remove")) {
                            // APISIX's older form: a flat map of headers to set.
                            let set = Value::Object(h.clone());
                            kept.insert("headers".into(), serde_json::json!({ "set": set }));
                        }
                    }
                }
                _ => {}
            }
            out.insert(name.clone(), Value::Object(kept));
        }
        out
    }

    fn metadata(&mut self, obj: &Map<String, Value>) {
        for k in METADATA {
            if obj.contains_key(k) {
                *self.metadata.entry(k).or_default() += 1;
            }
        }
    }

    fn unknown(&mut self, what: &str, obj: &Map<String, Value>, known: &[&str]) {
        for k in obj.keys() {
            if !known.contains(&k.as_str()) && !METADATA.contains(&k.as_str()) {
                self.note(what, format!("field `{k}` is not supported; not imported"));
            }
        }
    }
}

const ROUTE_FIELDS: [&str; 16] = [
    "id",
    "uri",
    "uris",
    "host",
    "hosts",
    "methods",
    "priority",
    "vars",
    "remote_addr",
    "remote_addrs",
    "service_id",
    "status",
    "plugins",
    "upstream",
    "upstream_id",
    "plugin_config_id",
];

/// Imports an APISIX configuration.
pub fn import(opts: &ApisixImport<'_>) -> Result<Imported, ImportErrors> {
    let doc: Value = serde_norway::from_str(opts.text)
        .map_err(|e| ImportErrors(vec![format!("not YAML or JSON: {e}")]))?;
    let items = collect(&doc).map_err(|e| ImportErrors(vec![e]))?;
    let mut cx = Ctx {
        notes: Vec::new(),
        metadata: BTreeMap::new(),
        clusters: BTreeMap::new(),
        upstreams: BTreeMap::new(),
    };
    let mut errors = Vec::new();
    for (i, u) in items.upstreams.iter().enumerate() {
        match id_of(u) {
            Some(id) => {
                cx.upstreams.insert(id, u.clone());
            }
            None => errors.push(format!("upstreams[{i}]: no `id`")),
        }
    }

    let mut services = Vec::new();
    for (i, s) in items.services.iter().enumerate() {
        let Some(obj) = s.as_object() else {
            errors.push(format!("services[{i}]: not a mapping"));
            continue;
        };
        let Some(id) = id_of(s) else {
            errors.push(format!("services[{i}]: no `id`"));
            continue;
        };
        let what = format!("service {id}");
        cx.metadata(obj);
        cx.unknown(
            &what,
            obj,
            &[
                "id",
                "hosts",
                "plugins",
                "upstream",
                "upstream_id",
                "enable_websocket",
            ],
        );
        if obj.contains_key("enable_websocket") {
            cx.note(&what, "field `enable_websocket` is not supported; not imported");
        }
        let integration = cx.integration(&what, format!("apisix_service_{id}"), s);
        services.push(
            ServiceConfig {
                hosts: strings(obj.get("hosts")),
                plugins: cx.plugins(&what, obj.get("plugins"), false),
                integration,
                id,
            }
            .into(),
        );
    }
    let service_has_upstream: BTreeSet<String> = items
        .services
        .iter()
        .filter(|s| s.get("upstream").is_some() || s.get("upstream_id").is_some())
        .filter_map(id_of)
        .collect();

    let mut routes = Vec::new();
    let mut needs_default = false;
    for (i, r) in items.routes.iter().enumerate() {
        let Some(obj) = r.as_object() else {
            errors.push(format!("routes[{i}]: not a mapping"));
            continue;
        };
        let Some(id) = id_of(r) else {
            errors.push(format!("routes[{i}]: no `id`"));
            continue;
        };
        let what = format!("route {id}");
        cx.metadata(obj);
        cx.unknown(&what, obj, &ROUTE_FIELDS);
        if obj.contains_key("plugin_config_id") {
            cx.note(
                &what,
                "field `plugin_config_id` is not supported; its plugins are not imported",
            );
        }
        if obj.get("status").and_then(Value::as_i64) == Some(0) {
            cx.note(&what, "disabled (`status: 0`); not imported");
            continue;
        }
        let mut paths = strings(obj.get("uris"));
        paths.extend(strings(obj.get("uri")));
        if let Some(p) = paths.iter().find(|p| {
            p.contains(':')
                || p.get(..p.len().saturating_sub(1))
                    .is_some_and(|h| h.contains('*'))
        }) {
            cx.note(
                &what,
                format!("uri `{p}` uses an APISIX parameter or named wildcard, which the compatibility routers do not reproduce; route not imported"),
            );
            continue;
        }
        let hosts = {
            let mut h = strings(obj.get("hosts"));
            h.extend(strings(obj.get("host")));
            (!h.is_empty()).then_some(h)
        };
        let mut remote_addrs = strings(obj.get("remote_addrs"));
        remote_addrs.extend(strings(obj.get("remote_addr")));
        let service = obj.get("service_id").and_then(|s| match s {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let integration = cx.integration(&what, format!("apisix_route_{id}"), r);
        if integration.is_none() && !service.as_ref().is_some_and(|s| service_has_upstream.contains(s)) {
            needs_default = true;
            cx.note(
                &what,
                format!("no upstream (own or service's): sent to cluster `{NO_UPSTREAM_CLUSTER}`"),
            );
        }
        routes.push(
            RouteConfig {
                id: Some(id),
                key: None,
                paths,
                methods: strings(obj.get("methods")),
                hosts,
                vars: obj.get("vars").cloned(),
                remote_addrs,
                priority: obj.get("priority").and_then(Value::as_i64).unwrap_or(0),
                service,
                integration,
                plugins: cx.plugins(&what, obj.get("plugins"), false),
            }
            .into(),
        );
    }

    let mut consumers = Vec::new();
    for (i, c) in items.consumers.iter().enumerate() {
        let Some(obj) = c.as_object() else {
            errors.push(format!("consumers[{i}]: not a mapping"));
            continue;
        };
        let Some(username) = obj.get("username").and_then(Value::as_str) else {
            errors.push(format!("consumers[{i}]: no `username`"));
            continue;
        };
        let what = format!("consumer {username}");
        cx.metadata(obj);
        cx.unknown(&what, obj, &["username", "plugins"]);
        consumers.push(
            ConsumerConfig {
                username: username.to_string(),
                plugins: cx.plugins(&what, obj.get("plugins"), true),
            }
            .into(),
        );
    }
    if !errors.is_empty() {
        return Err(ImportErrors(errors));
    }
    if !cx.metadata.is_empty() {
        let list: Vec<String> = cx.metadata.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        cx.notes
            .push(format!("metadata not imported: {}", list.join(", ")));
    }
    for (cluster, desc) in &cx.clusters {
        cx.notes.push(format!("define Envoy cluster `{cluster}`: {desc}"));
    }
    let mut stages = BTreeMap::new();
    stages.insert(
        STAGE.to_string(),
        StageConfig {
            variables: BTreeMap::new(),
            integration: needs_default.then(|| IntegrationConfig::Http {
                cluster: NO_UPSTREAM_CLUSTER.to_string(),
            }),
        },
    );
    let config = Config {
        cluster_header: DEFAULT_CLUSTER_HEADER.to_string(),
        domains: vec![DomainConfig {
            name: "*".into(),
            routing_mode: RoutingMode::ApiMappingOnly,
            routing_rules: Vec::new(),
            api_mappings: vec![ApiMappingConfig {
                id: Some(API_ID.into()),
                base_path: String::new(),
                api: API_ID.into(),
                stage: STAGE.into(),
            }
            .into()],
            no_match_status: 404,
        }
        .into()],
        apis: vec![ApiConfig {
            id: API_ID.into(),
            router: opts.router,
            stages,
            hosts: Vec::new(),
            plugins: BTreeMap::new(),
            services,
            routes,
        }
        .into()],
        consumers,
    };
    super::finish(config, cx.notes)
}
