//! What the engine answers for a request: forward it (where, with which path and ids) or reply locally.

use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::lambda::PayloadFormat;
use crate::names::{body, outcome};
use crate::plugins::PluginPlan;

/// The engine's answer for one request. Borrows from the [`crate::engine::Engine`] (`'e`).
// One per request, returned by value and matched at once, never stored: boxing `Forward` (larger since it
// carries the plugin plan, G1) would add an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'e> {
    /// Send the request to a cluster.
    Forward(Forward<'e>),
    /// Answer without reaching any upstream.
    LocalReply(LocalReply<'e>),
}

/// A request routed to an integration.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward<'e> {
    /// Envoy cluster to send the request to (set in the cluster header).
    pub cluster: &'e str,
    /// New `:path` (with the query string) when a base path was stripped (R7, R9); `None` keeps it.
    pub path: Option<String>,
    /// The domain's name as configured (canonical, lowercase).
    pub domain: &'e str,
    /// Id of the routing rule used (R11), `None` when a mapping was used.
    pub rule_id: Option<&'e str>,
    /// Id of the API mapping used (R11), `None` when a rule was used.
    pub mapping_id: Option<&'e str>,
    /// API id.
    pub api: &'e str,
    /// Stage name.
    pub stage: &'e str,
    /// Route id (P4).
    pub route_id: &'e str,
    /// Route key of the matched path: `GET /pets/{id}`, `ANY /{proxy+}`, `$default`; for `paths`/`methods`
    /// routes the methods joined with `,` (or `ANY`) and the matched path.
    pub route_key: &'e str,
    /// Path parameters of a template match, in pattern order (raw, not decoded).
    pub path_params: Vec<(&'e str, String)>,
    /// Where the request goes.
    pub integration: &'e Integration,
    /// Variables of the selected stage.
    pub stage_variables: &'e BTreeMap<String, String>,
    /// Dense indexes of the rule/mapping/route used, for per-id counters that are cached by index.
    pub counters: CounterSlots,
    /// The merged plugins (G1) with their origins, the consumer `key-auth` identified, and the request
    /// edits to apply ([`Forward::path`] already includes a plugin's path change).
    pub plugins: PluginPlan<'e>,
}

impl Forward<'_> {
    /// The path parameters as a compact JSON object in pattern order (`{"owner":"ann","id":"7"}`), for
    /// filter state.
    pub fn path_params_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.path_params.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::from(*k).to_string());
            out.push(':');
            out.push_str(&serde_json::Value::from(v.as_str()).to_string());
        }
        out.push('}');
        out
    }
}

/// Dense indexes (`0..Engine::rule_count()` etc.) identifying what a decision used, so that the adapter can
/// cache a metric id per rule, mapping and route instead of formatting names per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSlots {
    /// Rule slot, if a rule was used.
    pub rule: Option<u32>,
    /// Mapping slot, if a mapping was used.
    pub mapping: Option<u32>,
    /// Route slot.
    pub route: u32,
}

/// A reply sent by the filter itself.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalReply<'e> {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: &'e str,
    /// Why: one of [`crate::names::outcome`] (`no_domain`, `no_api`, `no_route`, `internal_error`).
    pub reason: &'static str,
    /// How far selection got, for filter state and logs.
    pub context: Selected<'e>,
    /// A new `:path` to record for the request before replying (a refused key in the query string is taken
    /// out, so that Envoy's access log never shows it, G2).
    pub path: Option<String>,
}

/// What was selected before a local reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Selected<'e> {
    /// The domain, if one matched.
    pub domain: Option<&'e str>,
    /// The rule, if one matched.
    pub rule_id: Option<&'e str>,
    /// The mapping, if one matched.
    pub mapping_id: Option<&'e str>,
    /// The API, if one was selected.
    pub api: Option<&'e str>,
    /// The stage, if one was selected.
    pub stage: Option<&'e str>,
    /// The route, when one was selected and a plugin answered for it (`key-auth`'s 401, G2).
    pub route_id: Option<&'e str>,
    /// The route key of [`Selected::route_id`].
    pub route_key: Option<&'e str>,
}

impl<'e> LocalReply<'e> {
    /// D3: no domain matches the host.
    pub fn no_domain() -> Self {
        LocalReply {
            status: 404,
            body: body::NOT_FOUND,
            reason: outcome::NO_DOMAIN,
            context: Selected::default(),
            path: None,
        }
    }

    /// A failure inside the filter (never expected from a validated config).
    pub fn internal_error(context: Selected<'e>) -> Self {
        LocalReply {
            status: 500,
            body: body::INTERNAL_ERROR,
            reason: outcome::INTERNAL_ERROR,
            context,
            path: None,
        }
    }
}

/// Where a route sends its requests (route > service > stage).
#[derive(Debug, Clone, PartialEq)]
pub enum Integration {
    /// Forward to an Envoy cluster.
    Http {
        /// Cluster name.
        cluster: Arc<str>,
    },
    /// AWS Lambda proxy integration (spec lambda.md) through a cluster running Envoy's `aws_lambda` filter.
    Lambda(Arc<LambdaTarget>),
}

impl Integration {
    /// The Envoy cluster either way.
    pub fn cluster(&self) -> &str {
        match self {
            Integration::Http { cluster } => cluster,
            Integration::Lambda(l) => &l.cluster,
        }
    }
}

/// Compiled Lambda integration settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaTarget {
    /// Cluster whose `aws_lambda` upstream filter signs and invokes the function.
    pub cluster: Arc<str>,
    /// Event format.
    pub payload_format: PayloadFormat,
    /// Largest request body sent to the function (L4).
    pub max_request_body_bytes: u64,
    /// Largest function response unwrapped (U16).
    pub max_response_body_bytes: u64,
    /// Timeout of the Invoke call, in milliseconds ([`crate::lambda::invoke`]).
    pub timeout_ms: u32,
    /// `response_transfer_mode: "STREAM"`: the `:path` of the `InvokeWithResponseStream` call
    /// (`/2021-11-15/functions/{FunctionName}/response-streaming-invocations`). `None`: buffered.
    pub stream_path: Option<Arc<str>>,
    /// `invocation_type`: what the Invoke call asks for, and so which answer is a success
    /// ([`crate::lambda::invoke::answer_call_into`]).
    pub invocation: crate::lambda::invoke::InvocationType,
    /// `jwt`: where the claims of a token Envoy's `jwt_authn` verified are read from, for the event's
    /// authorizer ([`crate::lambda::jwt`]). `None`: none are read.
    pub jwt: Option<Arc<crate::lambda::jwt::JwtSource>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_json_keeps_pattern_order_and_escapes() {
        let integration = Integration::Http { cluster: "c".into() };
        let vars = BTreeMap::new();
        let f = Forward {
            cluster: "c",
            path: None,
            domain: "*",
            rule_id: None,
            mapping_id: None,
            api: "a",
            stage: "s",
            route_id: "r",
            route_key: "GET /{owner}/{id}",
            path_params: vec![("owner", "ann\"x".to_string()), ("id", "7".to_string())],
            integration: &integration,
            stage_variables: &vars,
            counters: CounterSlots::default(),
            plugins: PluginPlan::default(),
        };
        assert_eq!(f.path_params_json(), r#"{"owner":"ann\"x","id":"7"}"#);
        assert_eq!(
            Forward {
                path_params: vec![],
                ..f
            }
            .path_params_json(),
            "{}"
        );
    }
}
