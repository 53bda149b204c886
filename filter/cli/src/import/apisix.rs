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
//! fields of a plugin routewise does not implement) is listed as a note naming the route, service or
//! consumer, never dropped silently.
//!
//! **Uris (P6).** Both APISIX routers build lua-resty-radixtree with `no_param_match`, so a `:` in a uri is
//! a literal character (`/file:list`, `/user/:id` match only themselves) and is imported as such, with a
//! note for users of `radixtree_uri_with_parameter`. A uri APISIX checks with a pattern after its prefix
//! is not imported, with a note: a `*` before the end (`/a/*name`, `/a/*/b`) and a prefix whose last
//! segment starts with `:` (`/user/:id*`, one segment only in APISIX). Items of a standalone list without
//! `id` are named `arr_1`, `arr_2`... by position, as APISIX standalone mode names them; Admin API items
//! take the id of their `key` when the value has none. A consumer `key` that is an APISIX secret
//! reference (`$secret://`, `$env://`, `$ENV://`) is not a key: that credential is not imported, and the note
//! says to write its `key_sha256` by hand.
//!
//! **Routes the config could not hold.** A route whose `vars` use an operator or variable outside P1, or
//! that the engine refuses for any other reason (an address that is not one, an invalid regex), is not
//! imported; a note names its APISIX id and the reason, and the other routes are imported. The same holds
//! for a consumer (a key another consumer has). Only problems that belong to no route or consumer fail the
//! import. When no route is left, the output is the `*` domain without a mapping: every request is
//! answered 404, as APISIX answers it (an API without routes would send everything to its stage).
//!
//! **Upstreams.** routewise forwards to Envoy clusters: a route's (or service's) `upstream_id` `U` becomes
//! the cluster `apisix_upstream_U`, an inline upstream the cluster `apisix_route_ID` (`apisix_service_ID`);
//! a note lists each cluster with the nodes to give it (`nodes`, `type` with the matching `lb_policy`,
//! `scheme`, `service_name`, `discovery_type`), and one note per other field that is set (`hash_on`/`key`,
//! `pass_host` other than `pass`, `upstream_host`, `retries`, `retry_timeout`, `timeout`, `keepalive_pool`,
//! `checks`, `tls`, `labels`, `discovery_args`, node priorities and metadata, and any field routewise does
//! not know) with what to configure on the Envoy cluster or route instead. An upstream no imported route
//! or service uses is listed too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use routewise::config::{
    ApiConfig, ApiMappingConfig, Config, ConsumerConfig, DomainConfig, IntegrationConfig, RouteConfig,
    RouterKind, RoutingMode, ServiceConfig, StageConfig, DEFAULT_CLUSTER_HEADER,
};

use routewise::engine::Engine;
use routewise::matchers::vars::VarsExpr;

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
    /// Notes on the standalone items named `arr_N` ([`standalone_ids`]).
    positional_ids: Vec<String>,
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
    Some(list.iter().map(admin_value).collect())
}

/// The `value` of an Admin API item, with the id of its `key` (`/apisix/routes/1` → `1`) when the value has
/// none (APISIX stores the id in the key; v3 values repeat it, older ones may not).
fn admin_value(item: &Value) -> Value {
    let mut value = item.get("value").cloned().unwrap_or(Value::Null);
    let key_id = item
        .get("key")
        .and_then(Value::as_str)
        .and_then(|k| k.rsplit('/').next())
        .filter(|id| !id.is_empty());
    if let (Some(obj), Some(id)) = (value.as_object_mut(), key_id) {
        obj.entry("id").or_insert_with(|| Value::String(id.to_string()));
    }
    value
}

/// APISIX standalone mode names an item without `id` after its position, `arr_1` for the first
/// (`apisix/core/config_yaml.lua`: `item.id or item.username or ("arr_" .. idx)`), and so do we.
fn standalone_ids(list: &mut [Value], ids: &mut Vec<String>) {
    for (i, item) in list.iter_mut().enumerate() {
        if let Some(obj) = item.as_object_mut() {
            if !obj.contains_key("id") {
                let id = format!("arr_{}", i + 1);
                obj.insert("id".into(), Value::String(id.clone()));
                ids.push(id);
            }
        }
    }
}

fn collect(doc: &Value) -> Result<Items, String> {
    let mut items = Items {
        routes: Vec::new(),
        services: Vec::new(),
        consumers: Vec::new(),
        upstreams: Vec::new(),
        positional_ids: Vec::new(),
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
            let value = admin_value(i);
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
        if v.is_array() && k != "consumers" {
            let mut named = Vec::new();
            standalone_ids(target, &mut named);
            if !named.is_empty() {
                items.positional_ids.push(format!(
                    "{k} without `id` named by their position, as APISIX standalone mode does: {}",
                    named.join(", ")
                ));
            }
        }
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
    /// cluster → description of its nodes, and the notes on the upstream fields it does not carry.
    clusters: BTreeMap<String, (String, Vec<String>)>,
    upstreams: BTreeMap<String, Value>,
    /// The `upstreams` some imported route or service uses.
    used_upstreams: BTreeSet<String>,
}

/// Upstream fields that routewise maps: `id` names the cluster, the others are in the cluster's note.
const UPSTREAM_DESCRIBED: [&str; 6] = ["id", "nodes", "type", "scheme", "service_name", "discovery_type"];
/// Upstream metadata, counted in the metadata note like that of routes (`labels` gets its own note).
const UPSTREAM_METADATA: [&str; 4] = ["name", "desc", "create_time", "update_time"];
/// APISIX secret references (`$secret://vault/1/jack/key`, `$env://KEY`): APISIX resolves them at run time,
/// so the input does not hold the value.
const SECRET_PREFIXES: [&str; 3] = ["$secret://", "$env://", "$ENV://"];

fn secret_reference(s: &str) -> bool {
    SECRET_PREFIXES.iter().any(|p| s.starts_with(p))
}

/// A value as a note shows it: strings bare, the rest as compact JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The Envoy `lb_policy` closest to an APISIX balancer `type`.
fn lb_policy(t: &str) -> Option<&'static str> {
    Some(match t {
        "roundrobin" => "ROUND_ROBIN",
        "chash" => "RING_HASH or MAGLEV",
        "least_conn" => "LEAST_REQUEST",
        "ewma" => "LEAST_REQUEST (closest)",
        _ => return None,
    })
}

fn describe_upstream(u: &Value) -> String {
    let nodes: Vec<String> = match u.get("nodes") {
        Some(Value::Object(m)) => m.iter().map(|(addr, w)| format!("{addr} (weight {w})")).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|n| {
                let priority = match n.get("priority") {
                    Some(p) if p.as_i64() != Some(0) => format!(", priority {}", show(p)),
                    _ => String::new(),
                };
                format!(
                    "{}:{} (weight {}{priority})",
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
            if let Some(lb) = (k == "type").then(|| lb_policy(v)).flatten() {
                s.push_str(&format!(" (lb_policy {lb})"));
            }
        }
    }
    s
}

/// What Envoy needs for a `chash` upstream's `hash_on` / `key`: the route's `hash_policy`.
fn hash_policy(hash_on: &str, key: Option<&str>) -> String {
    let key = key.unwrap_or("?");
    match hash_on {
        "header" => format!("header `{key}`"),
        "cookie" => format!("cookie `{key}`"),
        "consumer" => "the consumer (no direct equivalent: hash on its credential header)".into(),
        "vars_combinations" => format!("`{key}` (no direct equivalent: one hash_policy entry per variable)"),
        _ => match key {
            "remote_addr" => "connection_properties source_ip".into(),
            "uri" | "request_uri" => "header `:path`".into(),
            "host" | "server_name" => "header `:authority`".into(),
            k => match k.strip_prefix("arg_") {
                Some(arg) => format!("query_parameter `{arg}`"),
                None => format!("`{k}` (no direct equivalent)"),
            },
        },
    }
}

/// One note per upstream field routewise does not carry, with what to configure in Envoy instead; `who`
/// names the upstream (`upstream 1`, `route 3 upstream`), `cluster` the Envoy cluster it became.
fn upstream_field_notes(who: &str, cluster: &str, u: &Value) -> Vec<String> {
    let Some(obj) = u.as_object() else {
        return vec![format!(
            "{who}: not a mapping; define cluster `{cluster}` by hand"
        )];
    };
    let mut notes = Vec::new();
    let mut note = |fields: String, hint: String| notes.push(format!("{who}: {fields} not imported; {hint}"));
    let field = |k: &str| obj.get(k).map(|v| format!("`{k}: {}`", show(v)));
    let chash = obj.get("type").and_then(Value::as_str) == Some("chash");
    let pass_host = obj.get("pass_host").and_then(Value::as_str);
    let mut hash_done = false;
    for (k, v) in obj {
        let k = k.as_str();
        if UPSTREAM_DESCRIBED.contains(&k) || UPSTREAM_METADATA.contains(&k) {
            continue;
        }
        match k {
            "hash_on" | "key" => {
                if hash_done {
                    continue;
                }
                hash_done = true;
                let fields: Vec<String> = ["hash_on", "key"].iter().filter_map(|k| field(k)).collect();
                let hash_on = obj.get("hash_on").and_then(Value::as_str).unwrap_or("vars");
                let hint = if chash {
                    format!(
                        "give cluster `{cluster}` lb_policy RING_HASH or MAGLEV and the Envoy route a hash_policy \
                         on {}",
                        hash_policy(hash_on, obj.get("key").and_then(Value::as_str))
                    )
                } else {
                    "APISIX ignores them unless `type` is `chash`".into()
                };
                note(fields.join(", "), hint);
            }
            "pass_host" => match v.as_str() {
                Some("pass") => {}
                Some("node") => note(
                    "`pass_host: node`".to_string(),
                    format!(
                        "send the node's host to cluster `{cluster}`: the Envoy route's auto_host_rewrite \
                         (STRICT_DNS or LOGICAL_DNS cluster)"
                    ),
                ),
                Some("rewrite") => {
                    let host = obj.get("upstream_host").map(show);
                    let fields: Vec<String> =
                        ["pass_host", "upstream_host"].iter().filter_map(|k| field(k)).collect();
                    note(
                        fields.join(", "),
                        format!(
                            "rewrite the host to `{}` for cluster `{cluster}`: the Envoy route's \
                             host_rewrite_literal, or a `proxy-rewrite` plugin with `host` on the routes",
                            host.as_deref().unwrap_or("?")
                        ),
                    );
                }
                _ => note(
                    field(k).unwrap_or_default(),
                    "not an APISIX `pass_host` mode (pass, node, rewrite)".into(),
                ),
            },
            "upstream_host" => {
                if pass_host != Some("rewrite") {
                    note(
                        field(k).unwrap_or_default(),
                        "APISIX ignores it unless `pass_host` is `rewrite`".into(),
                    );
                }
            }
            "retries" => note(
                field(k).unwrap_or_default(),
                format!("set num_retries {} in the retry_policy of the Envoy route to `{cluster}`", show(v)),
            ),
            "retry_timeout" => note(
                field(k).unwrap_or_default(),
                format!(
                    "bound the retries to `{cluster}` in time: the Envoy route's timeout (APISIX: {}s for \
                     all tries)",
                    show(v)
                ),
            ),
            "timeout" => note(
                field(k).unwrap_or_default(),
                format!(
                    "`connect` is cluster `{cluster}`'s connect_timeout, `send`/`read` the Envoy route's \
                     timeout and idle_timeout (seconds in APISIX)"
                ),
            ),
            "keepalive_pool" => note(
                field(k).unwrap_or_default(),
                format!(
                    "cluster `{cluster}`'s common_http_protocol_options: `idle_timeout` → idle_timeout, \
                     `requests` → max_requests_per_connection (`size` has no exact equivalent)"
                ),
            ),
            "checks" => {
                let kinds: Vec<&str> = v
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                note(
                    format!("`checks` ({})", kinds.join(", ")),
                    format!(
                        "health checks of cluster `{cluster}`: `active` → its health_checks, `passive` → its \
                         outlier_detection"
                    ),
                );
            }
            "tls" => {
                // The client certificate and key are not repeated in the note.
                let parts: Vec<&str> = v
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                note(
                    format!("`tls` ({})", parts.join(", ")),
                    format!(
                        "cluster `{cluster}`'s transport_socket (UpstreamTlsContext: tls_certificates, \
                         validation_context)"
                    ),
                );
            }
            "labels" => note(
                field(k).unwrap_or_default(),
                format!("cluster `{cluster}`'s metadata, if anything reads them"),
            ),
            "discovery_args" => note(
                field(k).unwrap_or_default(),
                format!("configure the service discovery of cluster `{cluster}` (e.g. EDS) with them"),
            ),
            _ => note(
                format!("field `{k}`"),
                format!("routewise does not know it: configure its Envoy equivalent on cluster `{cluster}` by hand"),
            ),
        }
    }
    if let Some(Value::Array(nodes)) = obj.get("nodes") {
        if nodes
            .iter()
            .any(|n| n.get("priority").is_some_and(|p| p.as_i64() != Some(0)))
        {
            notes.push(format!(
                "{who}: node priorities not imported; put the nodes of cluster `{cluster}` in Envoy priority \
                 levels (APISIX tries the highest priority first, Envoy priority 0 first)"
            ));
        }
        if nodes.iter().any(|n| n.get("metadata").is_some()) {
            notes.push(format!(
                "{who}: node `metadata` not imported; the endpoints' metadata in cluster `{cluster}`"
            ));
        }
    }
    notes
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
            let entry = match self.upstreams.get(&id) {
                Some(u) => (
                    describe_upstream(u),
                    upstream_field_notes(&format!("upstream {id}"), &cluster, u),
                ),
                None => {
                    self.note(
                        what,
                        format!("upstream_id `{id}` is not among the imported upstreams"),
                    );
                    ("upstream not in the input".into(), Vec::new())
                }
            };
            self.used_upstreams.insert(id);
            self.clusters.entry(cluster.clone()).or_insert(entry);
            cluster
        } else if let Some(u) = v.get("upstream") {
            if let Some(obj) = u.as_object() {
                self.metadata_of(obj, &UPSTREAM_METADATA);
            }
            let notes = upstream_field_notes(&format!("{what} upstream"), &inline_cluster, u);
            self.clusters
                .insert(inline_cluster.clone(), (describe_upstream(u), notes));
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
                        Some(key) if secret_reference(key) => {
                            self.note(
                                what,
                                format!(
                                    "key-auth `key` is an APISIX secret reference (`{key}`), not the key: \
                                     credential not imported; supply the key's SHA-256 as `key_sha256` by hand"
                                ),
                            );
                            continue;
                        }
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
        self.metadata_of(obj, &METADATA);
    }

    fn metadata_of(&mut self, obj: &Map<String, Value>, keys: &[&'static str]) {
        for k in keys {
            if obj.contains_key(*k) {
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
///
/// A route (or consumer) that would make the config invalid is not imported, with a note naming it and
/// why: `vars` are checked up front, anything else the engine finds is attributed to its route or consumer
/// and the import runs again without it. Problems that belong to no route or consumer fail the import.
pub fn import(opts: &ApisixImport<'_>) -> Result<Imported, ImportErrors> {
    let doc: Value = serde_norway::from_str(opts.text)
        .map_err(|e| ImportErrors(vec![format!("not YAML or JSON: {e}")]))?;
    let items = collect(&doc).map_err(|e| ImportErrors(vec![e]))?;
    let mut skip = Skip::default();
    // Each pass skips at least one more route or consumer, so this ends.
    loop {
        let built = build(opts, &items, &skip)?;
        let Err(errors) = Engine::from_config(&built.config) else {
            return Ok(Imported {
                config: built.config,
                notes: built.notes,
            });
        };
        let mut found = Skip::default();
        let mut unattributed = false;
        for e in &errors.0 {
            let kind = one_line(&e.kind.to_string());
            let reason = |rest: &str| match rest.trim_start_matches('.') {
                "" => kind.clone(),
                field => format!("`{field}`: {kind}"),
            };
            if let Some((k, rest)) = indexed(&e.path, "apis[0].routes") {
                if let Some(&input) = built.route_input.get(k) {
                    push_reason(found.routes.entry(input).or_default(), reason(rest));
                    continue;
                }
            } else if let Some((k, rest)) = indexed(&e.path, "consumers") {
                if let Some(&input) = built.consumer_input.get(k) {
                    push_reason(found.consumers.entry(input).or_default(), reason(rest));
                    continue;
                }
            }
            unattributed = true;
        }
        if unattributed || (found.routes.is_empty() && found.consumers.is_empty()) {
            return super::finish(built.config, built.notes);
        }
        skip.routes.extend(found.routes);
        skip.consumers.extend(found.consumers);
    }
}

/// Why a uri cannot be imported as APISIX's `radixtree_uri` / `radixtree_host_uri` match it, if so.
///
/// Both build lua-resty-radixtree with `no_param_match` (`apisix/utils/router.lua`): a `:` is literal and
/// a trailing `*` a byte prefix, which routewise's exact and prefix paths reproduce (P2, P6). Two forms
/// differ: a `*` before the end (`/a/*/b`, `/a/*name`: a pattern checked after the prefix, ordered by the
/// length of the uri as written), and a prefix whose last segment starts with `:` (`/user/:id*`: the
/// pattern check turns that segment into one segment, `[^/]+`, so `/user/:id/x` does not match).
fn uri_not_reproduced(uri: &str) -> Option<&'static str> {
    let star = uri.find('*')?;
    if star + 1 != uri.len() {
        return Some(
            "a `*` before the end (a named or inner wildcard) is an APISIX pattern that routewise paths \
             do not express (a `*` is only the last character, P2)",
        );
    }
    let last_segment = uri.get(..star).and_then(|p| p.rsplit('/').next());
    if last_segment.is_some_and(|s| s.starts_with(':')) {
        return Some(
            "APISIX checks the last segment of this prefix as a `:` parameter (one segment, no `/`), which a \
             routewise prefix does not reproduce",
        );
    }
    None
}

/// A message on one line, whatever it was (a regex error spans several).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn push_reason(reasons: &mut String, reason: String) {
    if !reasons.is_empty() {
        reasons.push_str("; ");
    }
    reasons.push_str(&reason);
}

/// `apis[0].routes[3].vars[0][1]` with `prefix` `apis[0].routes` → `(3, ".vars[0][1]")`.
fn indexed<'p>(path: &'p str, prefix: &str) -> Option<(usize, &'p str)> {
    let rest = path.strip_prefix(prefix)?.strip_prefix('[')?;
    let (n, rest) = rest.split_once(']')?;
    Some((n.parse().ok()?, rest))
}

/// Routes and consumers (by their index in the input) not to import, with the reason.
#[derive(Default)]
struct Skip {
    routes: BTreeMap<usize, String>,
    consumers: BTreeMap<usize, String>,
}

struct Built {
    config: Config,
    notes: Vec<String>,
    /// For each route of the config, its index among the input's routes.
    route_input: Vec<usize>,
    /// For each consumer of the config, its index among the input's consumers.
    consumer_input: Vec<usize>,
}

fn build(opts: &ApisixImport<'_>, items: &Items, skip: &Skip) -> Result<Built, ImportErrors> {
    let mut cx = Ctx {
        notes: items.positional_ids.clone(),
        metadata: BTreeMap::new(),
        clusters: BTreeMap::new(),
        upstreams: BTreeMap::new(),
        used_upstreams: BTreeSet::new(),
    };
    let mut errors = Vec::new();
    let mut upstream_order = Vec::new();
    for (i, u) in items.upstreams.iter().enumerate() {
        match id_of(u) {
            Some(id) => {
                if let Some(obj) = u.as_object() {
                    cx.metadata_of(obj, &UPSTREAM_METADATA);
                }
                upstream_order.push(id.clone());
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
    let mut route_input = Vec::new();
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
        if let Some((p, why)) = paths
            .iter()
            .find_map(|p| uri_not_reproduced(p).map(|why| (p, why)))
        {
            cx.note(&what, format!("uri `{p}`: {why}; route not imported"));
            continue;
        }
        for p in paths.iter().filter(|p| p.contains(':')) {
            cx.note(
                &what,
                format!(
                    "uri `{p}`: `:` is matched literally, as APISIX's radixtree_uri and radixtree_host_uri \
                     do (no_param_match); under radixtree_uri_with_parameter it would be a parameter, \
                     which routewise's routers do not reproduce"
                ),
            );
        }
        if let Some(Err(problems)) = obj.get("vars").map(VarsExpr::compile) {
            let list: Vec<String> = problems
                .iter()
                .map(|(at, msg)| format!("`vars{at}`: {}", one_line(msg)))
                .collect();
            cx.note(&what, format!("{}; route not imported", list.join("; ")));
            continue;
        }
        if let Some(reason) = skip.routes.get(&i) {
            cx.note(
                &what,
                format!("{reason}; the config would not be valid, route not imported"),
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
        route_input.push(i);
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
    let mut consumer_input = Vec::new();
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
        if let Some(reason) = skip.consumers.get(&i) {
            cx.note(
                &what,
                format!("{reason}; the config would not be valid, consumer not imported"),
            );
            continue;
        }
        consumer_input.push(i);
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
    for id in &upstream_order {
        if !cx.used_upstreams.contains(id) {
            cx.notes.push(format!(
                "upstream {id}: not used by any imported route or service; not imported"
            ));
        }
    }
    if !cx.metadata.is_empty() {
        let list: Vec<String> = cx.metadata.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        cx.notes
            .push(format!("metadata not imported: {}", list.join(", ")));
    }
    // Without routes no cluster is used (see below).
    for (cluster, (desc, field_notes)) in cx.clusters.iter().filter(|_| !routes.is_empty()) {
        cx.notes.push(format!("define Envoy cluster `{cluster}`: {desc}"));
        cx.notes.extend(field_notes.iter().cloned());
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
    // No route imported (none in the input, or none the config could hold): APISIX answers every request
    // 404, and so does a `*` domain without mappings (P8). An API without routes would instead send
    // everything to its stage (its implicit `$default` route), so there is none.
    let (api_mappings, apis) = if routes.is_empty() {
        cx.notes.push(format!(
            "no route imported ({} in the input): every request is answered 404, as APISIX answers a request \
             no route matches; the domain `*` has no API mapping and API `{API_ID}` (with its services) is \
             not written",
            items.routes.len()
        ));
        (Vec::new(), Vec::new())
    } else {
        (
            vec![ApiMappingConfig {
                id: Some(API_ID.into()),
                base_path: String::new(),
                api: API_ID.into(),
                stage: STAGE.into(),
            }
            .into()],
            vec![ApiConfig {
                id: API_ID.into(),
                router: opts.router,
                stages,
                hosts: Vec::new(),
                plugins: BTreeMap::new(),
                services,
                routes,
            }
            .into()],
        )
    };
    let config = Config {
        cluster_header: DEFAULT_CLUSTER_HEADER.to_string(),
        filter_state: None,
        domains: vec![DomainConfig {
            name: "*".into(),
            routing_mode: RoutingMode::ApiMappingOnly,
            routing_rules: Vec::new(),
            api_mappings,
            no_match_status: 404,
        }
        .into()],
        apis,
        consumers,
    };
    Ok(Built {
        config,
        notes: cx.notes,
        route_input,
        consumer_input,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Imported {
        import(&ApisixImport {
            text,
            router: RouterKind::ApisixRadixtreeHostUri,
        })
        .unwrap_or_else(|e| panic!("imports: {e}"))
    }

    fn route_ids(out: &Imported) -> Vec<String> {
        let api = out.config.apis[0].get().expect("api");
        api.routes
            .iter()
            .map(|r| r.get().and_then(|r| r.id.clone()).expect("route id"))
            .collect()
    }

    fn notes_about<'a>(out: &'a Imported, who: &str) -> Vec<&'a str> {
        let prefix = format!("{who}: ");
        out.notes
            .iter()
            .filter(|n| n.starts_with(&prefix))
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn every_unmapped_upstream_field_is_listed_with_its_envoy_counterpart() {
        let out = run(r#"
routes: [{id: 1, uri: /a, upstream_id: u1}, {id: 2, uri: /b, upstream_id: u1}]
upstreams:
  - id: u1
    type: chash
    hash_on: cookie
    key: session
    pass_host: rewrite
    upstream_host: backend.internal
    retries: 3
    retry_timeout: 2
    timeout: {connect: 1, send: 2, read: 3}
    keepalive_pool: {size: 10, idle_timeout: 5, requests: 100}
    checks: {active: {http_path: /health}}
    tls: {client_cert: CERT-PEM, client_key: KEY-PEM}
    labels: {a: b}
    discovery_args: {namespace_id: ns}
    brand_new_field: 1
    nodes: {"10.0.0.1:80": 1}
"#);
        let notes = notes_about(&out, "upstream u1");
        let expect = [
            (
                "`hash_on: cookie`, `key: session`",
                "hash_policy on cookie `session`",
            ),
            (
                "`pass_host: rewrite`, `upstream_host: backend.internal`",
                "host_rewrite_literal",
            ),
            ("`retries: 3`", "retry_policy"),
            ("`retry_timeout: 2`", "timeout"),
            ("`timeout: ", "connect_timeout"),
            ("`keepalive_pool: ", "max_requests_per_connection"),
            ("`checks` (active)", "health_checks"),
            ("`tls` (client_cert, client_key)", "transport_socket"),
            ("`labels: ", "metadata"),
            ("`discovery_args: ", "service discovery"),
            ("field `brand_new_field`", "by hand"),
        ];
        for (field, hint) in expect {
            assert!(
                notes.iter().any(|n| n.contains(field) && n.contains(hint)),
                "no note for {field} with {hint}: {notes:#?}"
            );
        }
        // One note per field, however many routes use the upstream; the client key is never repeated.
        assert_eq!(notes.len(), expect.len(), "{notes:#?}");
        assert!(!out.notes.iter().any(|n| n.contains("KEY-PEM")));
        assert!(out
            .notes
            .contains(&"define Envoy cluster `apisix_upstream_u1`: nodes 10.0.0.1:80 (weight 1), type chash (lb_policy RING_HASH or MAGLEV)".to_string()));
    }

    #[test]
    fn pass_host_pass_needs_no_note_and_inline_upstreams_name_their_route() {
        let out = run(r#"
routes:
  - id: 7
    uri: /a
    upstream: {type: roundrobin, pass_host: pass, retries: 1, nodes: {"10.0.0.1:80": 1}}
"#);
        assert_eq!(
            notes_about(&out, "route 7 upstream"),
            [
                "route 7 upstream: `retries: 1` not imported; set num_retries 1 in the retry_policy of the \
              Envoy route to `apisix_route_7`"
            ]
        );
        assert!(
            !out.notes.iter().any(|n| n.contains("pass_host")),
            "{:?}",
            out.notes
        );
    }

    #[test]
    fn pass_host_node_and_a_stray_upstream_host_are_explained() {
        let out = run(r#"
routes: [{id: 1, uri: /a, upstream_id: 1}]
upstreams: [{id: 1, type: roundrobin, pass_host: node, upstream_host: x.internal, nodes: {"a.internal:80": 1}}]
"#);
        let notes = notes_about(&out, "upstream 1");
        assert!(notes
            .iter()
            .any(|n| n.contains("`pass_host: node`") && n.contains("auto_host_rewrite")));
        assert!(notes
            .iter()
            .any(|n| n.contains("`upstream_host: x.internal`")
                && n.contains("unless `pass_host` is `rewrite`")));
    }

    #[test]
    fn unused_upstreams_are_listed() {
        let out = run(r#"
routes: [{id: 1, uri: /a, upstream_id: used}]
upstreams: [{id: used, type: roundrobin, nodes: {"a:80": 1}}, {id: spare, type: roundrobin, nodes: {"b:80": 1}}]
"#);
        assert_eq!(
            notes_about(&out, "upstream spare"),
            ["upstream spare: not used by any imported route or service; not imported"]
        );
        assert!(notes_about(&out, "upstream used").is_empty());
    }

    #[test]
    fn a_route_with_an_unsupported_vars_operator_is_skipped_and_the_rest_imported() {
        let out = run(r#"
routes:
  - {id: 1, uri: /a, upstream_id: 1}
  - {id: 2, uri: /b, vars: [["arg_name", "ipmatch", ["10.0.0.0/8"]]], upstream_id: 1}
  - {id: 3, uri: /c, vars: [["http_x", "==", "1"]], upstream_id: 1}
upstreams: [{id: 1, type: roundrobin, nodes: {"a:80": 1}}]
"#);
        assert_eq!(route_ids(&out), ["1", "3"]);
        let notes = notes_about(&out, "route 2");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("route 2: `vars[0][1]`: unknown operator `ipmatch`"));
        assert!(notes[0].ends_with("; route not imported"));
    }

    #[test]
    fn any_route_or_consumer_the_engine_refuses_is_skipped_with_the_reason() {
        let out = run(r#"
routes:
  - {id: a, uri: /a, remote_addr: 10.0.0.300, upstream_id: 1}
  - {id: b, uri: /b, service_id: missing, upstream_id: 1}
  - {id: c, uri: /c, plugins: {proxy-rewrite: {regex_uri: ["(", "/x"]}}, upstream_id: 1}
  - {id: d, uri: /d, upstream_id: 1}
consumers:
  - {username: first, plugins: {key-auth: {key: same}}}
  - {username: second, plugins: {key-auth: {key: same}}}
upstreams: [{id: 1, type: roundrobin, nodes: {"a:80": 1}}]
"#);
        assert_eq!(route_ids(&out), ["d"]);
        for (who, field) in [
            ("route a", "`remote_addrs[0]`"),
            ("route b", "`service`"),
            ("route c", "`plugins.proxy-rewrite.regex_uri[0]`"),
            ("consumer second", "`plugins.key-auth.key_sha256`"),
        ] {
            let notes = notes_about(&out, who);
            assert!(
                notes.len() == 1
                    && notes[0].contains(field)
                    && notes[0].contains("not imported")
                    && !notes[0].contains('\n'),
                "{who}: {notes:?}"
            );
        }
        assert_eq!(out.config.consumers.len(), 1);
        // Problems outside any route or consumer still fail the import.
        let err = import(&ApisixImport {
            text: "services: [{id: s, hosts: ['a*b.com']}]\nroutes: [{id: 1, uri: /a, service_id: s}]",
            router: RouterKind::ApisixRadixtreeHostUri,
        })
        .expect_err("an invalid service is not attributable to a route");
        assert!(err.0[0].contains("not valid"), "{err}");
    }

    /// The `apisix_yaml` of APISIX's t/config-center-yaml/route-service.t (apache/apisix @ f519a0f0) TEST 1
    /// (hit route: the route's only upstream is its service's) and TEST 3 (service upstream priority: the
    /// service's `upstream_id` beats its inline `upstream`, "hello world" from 1980).
    #[test]
    fn a_route_whose_service_carries_the_upstream_is_imported() {
        let out = run(r#"
routes:
    -
        uri: /hello
        service_id: 1
        id: 1
services:
    -
        id: 1
        upstream:
            nodes:
                "127.0.0.1:1980": 1
            type: roundrobin
#END
"#);
        assert_eq!(route_ids(&out), ["1"]);
        let e = Engine::from_config(&out.config).expect("valid");
        let req = routewise::request::RequestView {
            method: "GET",
            authority: "localhost",
            path: "/hello",
            headers: &[],
            remote_addr: None,
        };
        match e.evaluate(&req) {
            routewise::decision::Decision::Forward(f) => assert_eq!(f.cluster, "apisix_service_1"),
            other => panic!("{other:?}"),
        }
        let out = run(r#"
routes: [{id: 1, uri: /hello, service_id: 1}]
services:
    - id: 1
      upstream: {nodes: {"127.0.0.1:1977": 1}, type: roundrobin}
      upstream_id: 1
upstreams: [{id: 1, nodes: {"127.0.0.1:1980": 1}, type: roundrobin}]
"#);
        let service = out.config.apis[0].get().expect("api").services[0]
            .get()
            .expect("service")
            .integration
            .clone();
        assert_eq!(
            service,
            Some(IntegrationConfig::Http {
                cluster: "apisix_upstream_1".into()
            })
        );
    }

    /// APISIX standalone items without `id` are `arr_<position>` (`apisix/core/config_yaml.lua`), as in
    /// APISIX's t/router/radixtree-host-uri-priority.t TEST 1 (apache/apisix @ f519a0f0), whose two routes
    /// of one uri and host are told apart by priority: the second (priority 2) answers.
    #[test]
    fn standalone_routes_without_id_are_named_by_position() {
        let out = run(r#"
routes:
  -
    uri: /server_port
    host: test.com
    upstream:
        nodes:
            "127.0.0.1:1981": 1
        type: roundrobin
    priority: 1
  -
    uri: /server_port
    host: test.com
    upstream:
        nodes:
            "127.0.0.1:1980": 1
        type: roundrobin
    priority: 2
#END
"#);
        assert_eq!(route_ids(&out), ["arr_1", "arr_2"]);
        assert!(out.notes.iter().any(|n| n
            == "routes without `id` named by their position, as APISIX standalone mode does: arr_1, arr_2"));
        let e = Engine::from_config(&out.config).expect("valid");
        let req = routewise::request::RequestView {
            method: "GET",
            authority: "test.com",
            path: "/server_port",
            headers: &[],
            remote_addr: None,
        };
        match e.evaluate(&req) {
            routewise::decision::Decision::Forward(f) => {
                assert_eq!((f.route_id, f.cluster), ("arr_2", "apisix_route_arr_2"))
            }
            other => panic!("{other:?}"),
        }
        // Admin API items take the id of their key when the value has none.
        let out = run(
            r#"{"list": [{"key": "/apisix/routes/42", "value": {"uri": "/a", "upstream_id": 1}},
                                   {"key": "/apisix/upstreams/1", "value": {"type": "roundrobin", "nodes": {"a:80": 1}}}]}"#,
        );
        assert_eq!(route_ids(&out), ["42"]);
        assert!(notes_about(&out, "upstream 1").is_empty(), "{:?}", out.notes);
    }

    #[test]
    fn uris_with_colons_are_literal_and_patterns_apisix_checks_after_the_prefix_are_named() {
        // APISIX t/router/radixtree-uri-host.t TEST 15 and radixtree-host-uri2.t TEST 6: `/file:list...`.
        assert_eq!(uri_not_reproduced("/file:listReputationHistories"), None);
        assert_eq!(uri_not_reproduced("/user/:id/*"), None);
        assert_eq!(uri_not_reproduced("/a:b*"), None);
        for uri in ["/name/*name", "/a/*/b", "/user/:id*", "/:x*"] {
            assert!(uri_not_reproduced(uri).is_some(), "{uri}");
        }
    }

    #[test]
    fn an_export_whose_routes_all_fail_imports_as_404_for_everything() {
        // APISIX t/config-center-yaml/route-service.t TEST 2 (not found service): APISIX answers 404.
        let out = run(r#"
routes: [{uri: /hello, id: 1, service_id: 1111}]
services: [{id: 1, upstream: {nodes: {"127.0.0.1:1980": 1}, type: roundrobin}}]
"#);
        assert!(out.config.apis.is_empty());
        assert!(notes_about(&out, "route 1")
            .iter()
            .any(|n| n.contains("unknown service `1111`") && n.ends_with("route not imported")));
        assert!(out
            .notes
            .iter()
            .any(|n| n.starts_with("no route imported (1 in the input)")));
        assert!(!out.notes.iter().any(|n| n.starts_with("define Envoy cluster")));
        let e = Engine::from_config(&out.config).expect("valid");
        let req = routewise::request::RequestView {
            method: "GET",
            authority: "localhost",
            path: "/hello",
            headers: &[],
            remote_addr: None,
        };
        match e.evaluate(&req) {
            routewise::decision::Decision::LocalReply(r) => assert_eq!(r.status, 404),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secret_reference_keys_are_not_hashed() {
        let out = run(r#"
consumers:
  - {username: plain, plugins: {key-auth: {key: k}}}
  - {username: vault, plugins: {key-auth: {key: "$secret://vault/1/vault/key"}}}
  - {username: env, plugins: {key-auth: {key: "$env://KEY"}}}
  - {username: env_upper, plugins: {key-auth: {key: "$ENV://KEY"}}}
routes: [{id: 1, uri: /a, plugins: {key-auth: {}}, upstream: {type: roundrobin, nodes: {"a:80": 1}}}]
"#);
        let with_key: Vec<&str> = out
            .config
            .consumers
            .iter()
            .filter_map(|c| c.get())
            .filter(|c| c.plugins.contains_key("key-auth"))
            .map(|c| c.username.as_str())
            .collect();
        assert_eq!(with_key, ["plain"]);
        for (who, reference) in [
            ("consumer vault", "$secret://vault/1/vault/key"),
            ("consumer env", "$env://KEY"),
            ("consumer env_upper", "$ENV://KEY"),
        ] {
            let notes = notes_about(&out, who);
            assert!(
                notes.len() == 1 && notes[0].contains(reference) && notes[0].contains("`key_sha256` by hand"),
                "{who}: {notes:?}"
            );
        }
    }
}
