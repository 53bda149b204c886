//! Plugins (G1, G2): `key-auth`, `proxy-rewrite` and `response-rewrite`, configured like APISIX on an API,
//! a service, a route and a consumer, compiled once at configure time, merged once per request by a pure
//! function ([`merge::merge`]).
//!
//! Nothing here touches proxy-wasm: for a request, [`plan_request`] returns what to do (a 401, or a list of
//! header/path edits and the response-phase plugin), and the adapter only applies it.
//!
//! # Phase order (fixed)
//!
//! One slot per plugin name, so a plugin cannot run twice whatever the layers (G1; the APISIX bug of a
//! route's `proxy-rewrite` running twice when the consumer also had plugins cannot be expressed here).
//!
//! 1. request phase: `key-auth` (identifies the consumer; the consumer's plugins are merged only then),
//!    then `proxy-rewrite`;
//! 2. response phase: `response-rewrite`.
//!
//! Precedence for a plugin of the same name: consumer > route > service > API.

pub mod key_auth;
pub mod merge;
pub mod proxy_rewrite;
pub mod response_rewrite;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ConfigErrors, ErrorKind};
use crate::request::RequestCtx;

pub use key_auth::{Consumer, ConsumerSet, KeyAuth};
pub use merge::{merge, Merged, Origin};
pub use proxy_rewrite::ProxyRewrite;
pub use response_rewrite::ResponseRewrite;

/// `key-auth`.
pub const KEY_AUTH: &str = "key-auth";
/// `proxy-rewrite`.
pub const PROXY_REWRITE: &str = "proxy-rewrite";
/// `response-rewrite`.
pub const RESPONSE_REWRITE: &str = "response-rewrite";
/// Every plugin, in phase order.
pub const ALL: [&str; 3] = [KEY_AUTH, PROXY_REWRITE, RESPONSE_REWRITE];

/// The compiled plugins of one layer (an API, a service, a route or a consumer). One slot per plugin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    /// `key-auth` (never set on a consumer layer: there it is the consumer's credential).
    pub key_auth: Option<Arc<KeyAuth>>,
    /// `proxy-rewrite`.
    pub proxy_rewrite: Option<Arc<ProxyRewrite>>,
    /// `response-rewrite`.
    pub response_rewrite: Option<Arc<ResponseRewrite>>,
}

impl Layer {
    /// True when the layer has no plugin.
    pub fn is_empty(&self) -> bool {
        self.key_auth.is_none() && self.proxy_rewrite.is_none() && self.response_rewrite.is_none()
    }
}

/// The compiled layers of a route below the consumer, lowest precedence first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteLayers {
    /// The API's plugins.
    pub api: Layer,
    /// The route's service's plugins.
    pub service: Option<Layer>,
    /// The route's own plugins.
    pub route: Layer,
}

/// Compiles the plugins of an API, service or route (`path` is the `plugins` field's path).
pub fn compile_layer(path: &str, map: &BTreeMap<String, Value>, errors: &mut ConfigErrors) -> Layer {
    let mut layer = Layer::default();
    for (name, value) in map {
        let p = format!("{path}.{name}");
        match name.as_str() {
            KEY_AUTH => layer.key_auth = KeyAuth::compile(&p, value, errors).map(Arc::new),
            PROXY_REWRITE => layer.proxy_rewrite = ProxyRewrite::compile(&p, value, errors).map(Arc::new),
            RESPONSE_REWRITE => {
                layer.response_rewrite = ResponseRewrite::compile(&p, value, errors).map(Arc::new)
            }
            _ => errors.push(p, unknown_plugin(name)),
        }
    }
    layer
}

fn unknown_plugin(name: &str) -> ErrorKind {
    ErrorKind::Invalid {
        value: name.to_string(),
        reason: format!("unknown plugin; known plugins: {}", ALL.join(", ")),
    }
}

/// Deserializes a plugin's config, recording a shape error at `path` (with the inner field path).
fn parse<T: DeserializeOwned>(path: &str, value: &Value, errors: &mut ConfigErrors) -> Option<T> {
    // From `&Value`, as the config's own items are repaired (config::lenient): one family of tracked
    // deserializers in the .wasm, and no copy of the value.
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let p = if inner.is_empty() || inner == "." {
                path.to_string()
            } else {
                format!("{path}.{inner}")
            };
            errors.push(p, ErrorKind::Shape(e.into_inner().to_string()));
            None
        }
    }
}

/// An edit of the request or response headers, applied in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    /// Remove every line of the header.
    Remove(Arc<str>),
    /// Replace every line of the header with one.
    Set(Arc<str>, Arc<str>),
    /// Add one more line.
    Add(Arc<str>, Arc<str>),
}

/// The request-phase result of the merged plugins for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginPlan<'e> {
    /// The merged plugins with their origins, in phase order (G1).
    pub merged: Merged<'e>,
    /// The consumer `key-auth` identified.
    pub consumer: Option<&'e str>,
    /// The id of the key that identified it ([`Consumer::api_key_id`]: the first 10 hex digits of the key's
    /// SHA-256, i.e. of its `key_sha256`), never the key itself. Set with `consumer`; the Lambda event's 1.0
    /// `requestContext.identity.apiKeyId`.
    pub api_key_id: Option<&'e str>,
    /// New `:path` (with its query) when a plugin changed it (proxy-rewrite `uri`/`regex_uri`, a query
    /// credential removed).
    pub path: Option<String>,
    /// Request header edits (`:authority` included), in application order.
    pub request_headers: Vec<HeaderEdit>,
}

impl PluginPlan<'_> {
    /// Response header edits and new status (response phase), from the merged `response-rewrite`.
    pub fn response(&self) -> Option<&ResponseRewrite> {
        self.merged.response_rewrite.map(|(p, _)| p)
    }
}

/// Why the request phase stopped the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// G2: no key, or a key of no consumer: 401 `{"message":"Unauthorized"}`.
    Unauthorized {
        /// The request's path without the query parameter that carried the refused key, when there was
        /// one: what Envoy's access log records instead of the key (`%REQ(:PATH)%`).
        logged_path: Option<String>,
    },
}

/// Runs the request phase of a route's plugins (pure): merges the route layers, authenticates with the
/// merged `key-auth` (if any), merges the consumer's layer, then computes the edits of `key-auth` and
/// `proxy-rewrite`. `path` is the path being forwarded (after any base path was stripped), with its query.
pub fn plan_request<'e>(
    layers: &'e RouteLayers,
    consumers: &'e ConsumerSet,
    ctx: &RequestCtx<'_>,
    path: &str,
) -> Result<PluginPlan<'e>, Rejection> {
    let mut merged = merge::merge_route(layers);
    if merged.is_empty() {
        return Ok(PluginPlan::default());
    }
    let mut plan = PluginPlan::default();
    let mut path_out: Option<String> = None;
    if let Some((ka, _)) = merged.key_auth {
        let found = ka.authenticate(ctx.req, ctx.query, consumers);
        let Some((consumer, _)) = found else {
            return Err(Rejection::Unauthorized {
                logged_path: ka.without_query_key(ctx.req.path, ctx.query),
            });
        };
        plan.consumer = Some(&consumer.username);
        plan.api_key_id = consumer.api_key_id();
        merged = merge::merge_consumer(merged, &consumer.plugins);
        if ka.hide_credentials {
            // Every copy the plugin reads goes, not only the one that authenticated: a key sent both in the
            // header and in the query must reach neither the upstream, nor the access log's path, nor a
            // Lambda event (issue 14).
            plan.request_headers
                .push(HeaderEdit::Remove(Arc::clone(&ka.header)));
            if ka
                .without_query_key(path, crate::matchers::path::split_query(path).1)
                .is_some()
            {
                path_out = Some(key_auth::remove_query_param(path, &ka.query));
            }
        }
    }
    if let Some((pr, _)) = merged.proxy_rewrite {
        let current = path_out.as_deref().unwrap_or(path);
        if let Some(p) = pr.rewrite_path(current) {
            path_out = Some(p);
        }
        pr.header_edits(&mut plan.request_headers);
    }
    plan.path = path_out;
    plan.merged = merged;
    Ok(plan)
}

/// CR, LF and NUL never go into a header value (G2: a config error naming the field); nor does an empty
/// value, which the dynamic module's ABI cannot set (its `set_header` removes on an empty value): use
/// `remove` to drop a header.
fn check_header_value(v: &str) -> Result<(), String> {
    if v.contains(['\r', '\n', '\0']) {
        return Err("CR, LF and NUL are not allowed in a header value".into());
    }
    if v.is_empty() {
        return Err("empty header value; use `remove` to drop a header".into());
    }
    Ok(())
}

/// Headers that carry HTTP's framing or the connection's state: a config that writes them could make Envoy
/// send a request or a response whose framing lies (the leftover body of a pooled upstream connection read
/// as the next request: request smuggling), so plugins may not set, add or remove them (issue 14).
pub const FRAMING_HEADERS: [&str; 9] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
];

/// Why a plugin may not write header `lower` (already lowercased), if it may not.
fn unwritable_header(lower: &str) -> Option<String> {
    FRAMING_HEADERS
        .contains(&lower)
        .then(|| format!("`{lower}` frames the message or the connection; Envoy sets it, a plugin may not"))
}

/// A header name plugins may write: an HTTP token, lowercased; never a pseudo-header.
pub(crate) fn check_header_name(n: &str) -> Result<String, String> {
    if n.is_empty() {
        return Err("empty header name".into());
    }
    if let Some(c) = n
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))
    {
        return Err(format!(
            "character `{}` is not allowed in a header name",
            c.escape_default()
        ));
    }
    Ok(n.to_ascii_lowercase())
}

/// Header edits of `proxy-rewrite` and `response-rewrite`: `{"add": {..}, "set": {..}, "remove": [..]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOps {
    /// Removed first.
    pub remove: Vec<Arc<str>>,
    /// Then set (replacing every line).
    pub set: Vec<(Arc<str>, Arc<str>)>,
    /// Then added (one more line each).
    pub add: Vec<(Arc<str>, Arc<str>)>,
}

/// The config shape of [`HeaderOps`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderOpsConfig {
    /// Add a header line (beside any the request already has).
    #[serde(default)]
    add: BTreeMap<String, String>,
    /// Replace every line of the header with this one.
    #[serde(default)]
    set: BTreeMap<String, String>,
    /// Remove every line of these headers.
    #[serde(default)]
    remove: Vec<String>,
}

// `routewise schema`: the config types keep plugins as raw JSON (compiled by `ProxyRewrite::compile` and the
// others), so their schema is spelled out here from the same config structs.

/// The plugins an API, service or route applies (G1, G2); merged once per request.
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used
pub(crate) struct PluginsSchema {
    /// Identifies the consumer by an API key (G2).
    #[serde(rename = "key-auth")]
    #[serde(default)]
    #[schemars(with = "key_auth::KeyAuthConfig")]
    key_auth: Option<key_auth::KeyAuthConfig>,
    /// Rewrites the request sent upstream (G2).
    #[serde(rename = "proxy-rewrite")]
    #[serde(default)]
    #[schemars(with = "proxy_rewrite::ProxyRewriteConfig")]
    proxy_rewrite: Option<proxy_rewrite::ProxyRewriteConfig>,
    /// Rewrites the response sent to the client (G2).
    #[serde(rename = "response-rewrite")]
    #[serde(default)]
    #[schemars(with = "response_rewrite::ResponseRewriteConfig")]
    response_rewrite: Option<response_rewrite::ResponseRewriteConfig>,
}

/// A consumer's plugins: its `key-auth` credential, and the plugins it overrides (G1, G2).
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used
pub(crate) struct ConsumerPluginsSchema {
    /// The consumer's credential (G2).
    #[serde(rename = "key-auth")]
    #[serde(default)]
    #[schemars(with = "key_auth::CredentialConfig")]
    key_auth: Option<key_auth::CredentialConfig>,
    /// Overrides the route's (G1: consumer > route > service > API).
    #[serde(rename = "proxy-rewrite")]
    #[serde(default)]
    #[schemars(with = "proxy_rewrite::ProxyRewriteConfig")]
    proxy_rewrite: Option<proxy_rewrite::ProxyRewriteConfig>,
    /// Overrides the route's (G1).
    #[serde(rename = "response-rewrite")]
    #[serde(default)]
    #[schemars(with = "response_rewrite::ResponseRewriteConfig")]
    response_rewrite: Option<response_rewrite::ResponseRewriteConfig>,
}

/// Schema of `plugins` on an API, service or route.
#[cfg(feature = "schema")]
pub(crate) fn plugins_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<PluginsSchema>()
}

/// Schema of `plugins` on a consumer.
#[cfg(feature = "schema")]
pub(crate) fn consumer_plugins_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<ConsumerPluginsSchema>()
}

impl HeaderOps {
    fn compile(path: &str, c: &HeaderOpsConfig, errors: &mut ConfigErrors) -> HeaderOps {
        let mut ops = HeaderOps::default();
        let pair = |what: &str, n: &str, v: &str, errors: &mut ConfigErrors| {
            let p = format!("{path}.{what}.{n}");
            let name = match check_header_name(n) {
                Ok(name) => name,
                Err(e) => {
                    errors.push(p, invalid(n, e));
                    return None;
                }
            };
            if let Some(reason) = unwritable_header(&name) {
                errors.push(p, ErrorKind::NotAllowed { reason });
                return None;
            }
            if let Err(e) = check_header_value(v) {
                errors.push(p, invalid(&v.escape_default().to_string(), e));
                return None;
            }
            Some((Arc::<str>::from(name), Arc::<str>::from(v)))
        };
        for (n, v) in &c.set {
            if let Some(p) = pair("set", n, v, errors) {
                ops.set.push(p);
            }
        }
        for (n, v) in &c.add {
            if let Some(p) = pair("add", n, v, errors) {
                ops.add.push(p);
            }
        }
        for (i, n) in c.remove.iter().enumerate() {
            match check_header_name(n) {
                Ok(name) => match unwritable_header(&name) {
                    Some(reason) => {
                        errors.push(format!("{path}.remove[{i}]"), ErrorKind::NotAllowed { reason })
                    }
                    None => ops.remove.push(name.into()),
                },
                Err(e) => errors.push(format!("{path}.remove[{i}]"), invalid(n, e)),
            }
        }
        ops
    }

    /// Appends the edits in their fixed order: remove, set, add.
    pub fn edits_into(&self, out: &mut Vec<HeaderEdit>) {
        out.extend(self.remove.iter().map(|n| HeaderEdit::Remove(Arc::clone(n))));
        out.extend(
            self.set
                .iter()
                .map(|(n, v)| HeaderEdit::Set(Arc::clone(n), Arc::clone(v))),
        );
        out.extend(
            self.add
                .iter()
                .map(|(n, v)| HeaderEdit::Add(Arc::clone(n), Arc::clone(v))),
        );
    }
}

fn invalid(value: &str, reason: impl Into<String>) -> ErrorKind {
    ErrorKind::Invalid {
        value: value.to_string(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;
