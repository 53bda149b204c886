//! The configuration document, as the user writes it (serde types only; nothing here is compiled).
//!
//! Envoy passes the plugin configuration as a JSON `StringValue`; [`parse`] turns it into a [`Config`] and
//! collects *every* shape error with its field path instead of stopping at the first. Semantic validation and
//! compilation into matchers happen in [`crate::engine`]; these types only describe the document.
//!
//! Every struct rejects unknown fields, so a typo (`strip_basepath`) is an error, never silently ignored.
//! Lists of independent items ([`Lenient`]) are parsed item by item so that one bad rule does not hide the
//! errors of the others.
//!
//! Natively (never in the wasm build) every type also derives `schemars::JsonSchema`: `routewise schema`
//! prints the JSON Schema of the document generated from these very types, so it cannot drift from them.

mod jwt;
mod lenient;
pub(crate) mod stepwise;

pub use jwt::{JwtConfig, DEFAULT_JWT_MAX_PAYLOAD_BYTES};
pub use lenient::Lenient;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigErrors, ErrorKind};

/// Default name of the request header that carries the selected upstream cluster to Envoy's router
/// (`route: { cluster_header: x-routewise-cluster }`).
pub const DEFAULT_CLUSTER_HEADER: &str = "x-routewise-cluster";

/// The whole plugin configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Request header through which the filter tells Envoy's router which cluster to use. Any copy sent by
    /// the client is removed. Default `x-routewise-cluster`.
    #[serde(default = "default_cluster_header")]
    pub cluster_header: String,
    /// The filter-state keys written per request, by name (`domain`, `api`, `stage`, `route_id`,
    /// `route_key`, `path_params`, `outcome`, `consumer`, `plugins`, `lambda_outcome`, `lambda_status`,
    /// `lambda_reason`; `rule_id` and `mapping_id` are always written, R11). Absent: every key. Each key
    /// costs a host call per request, so a config whose access log reads few keys can name only those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_state: Option<Vec<String>>,
    /// Layer 1: domains, selected by the request's Host (D1-D3).
    pub domains: Vec<Lenient<DomainConfig>>,
    /// The APIs that rules and mappings point at; each holds its stages and routes (layer 3).
    #[serde(default)]
    pub apis: Vec<Lenient<ApiConfig>>,
    /// Consumers identified by authentication plugins (`key-auth`), with their own plugins (G1).
    #[serde(default)]
    pub consumers: Vec<Lenient<ConsumerConfig>>,
}

fn default_cluster_header() -> String {
    DEFAULT_CLUSTER_HEADER.to_string()
}

/// A custom domain name (layer 1) with its routing rules and API mappings (layer 2).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// `api.example.com` (exact), `*.example.com` (any subdomain, at any depth), or `*` (any host). A port
    /// (`api.example.com:8443`) makes the port part of the match (D2).
    pub name: String,
    /// How rules and mappings combine (R8). Default `API_MAPPING_ONLY`, as in API Gateway.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "routing_mode_schema"))]
    pub routing_mode: RoutingMode,
    /// Routing rules, evaluated by ascending priority (R1-R7).
    #[serde(default)]
    pub routing_rules: Vec<Lenient<RoutingRuleConfig>>,
    /// API mappings, longest base path first (R9).
    #[serde(default)]
    pub api_mappings: Vec<Lenient<ApiMappingConfig>>,
    /// Status of the local reply when no rule or mapping selects an API (R10). Default 403.
    #[serde(default = "default_no_match_status")]
    pub no_match_status: u16,
}

fn default_no_match_status() -> u16 {
    403
}

/// R8: how routing rules and API mappings combine within a domain.
///
/// The names are those of the developer guide and of `aws apigatewayv2` (`API_MAPPING_ONLY`,
/// `ROUTING_RULE_THEN_API_MAPPING`, `ROUTING_RULE_ONLY`); they are what routewise writes (explain, import,
/// the schema's canonical values). The names of the REST API service (`aws apigateway create-domain-name
/// --routing-mode`, CloudFormation's `AWS::ApiGateway::DomainNameV2`, Terraform's `aws_api_gateway_domain_name`,
/// the CDK's `RoutingMode`) are accepted as aliases for the same modes: `BASE_PATH_MAPPING_ONLY` and
/// `ROUTING_RULE_THEN_BASE_PATH_MAPPING`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoutingMode {
    /// Only API mappings; routing rules are a config error. Alias: `BASE_PATH_MAPPING_ONLY` (REST API name).
    #[default]
    #[serde(alias = "BASE_PATH_MAPPING_ONLY")]
    ApiMappingOnly,
    /// Routing rules first, then API mappings. Alias: `ROUTING_RULE_THEN_BASE_PATH_MAPPING` (REST API name).
    #[serde(alias = "ROUTING_RULE_THEN_BASE_PATH_MAPPING")]
    RoutingRuleThenApiMapping,
    /// Only routing rules; API mappings are a config error.
    RoutingRuleOnly,
}

/// Schema of `routing_mode`: the documented names ([`RoutingMode`]), or the REST API service's aliases, marked
/// deprecated so that editors offer the documented names (the filter accepts both).
#[cfg(feature = "schema")]
fn routing_mode_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            g.subschema_for::<RoutingMode>(),
            {
                "description": "The REST API service's names of API_MAPPING_ONLY and ROUTING_RULE_THEN_API_MAPPING \
                                (aws apigateway, CloudFormation, Terraform, the CDK): accepted, written back with \
                                the documented names.",
                "type": "string",
                "enum": ["BASE_PATH_MAPPING_ONLY", "ROUTING_RULE_THEN_BASE_PATH_MAPPING"],
                "deprecated": true
            }
        ]
    })
}

/// A routing rule (R1): conditions, a priority, and the API to invoke.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleConfig {
    /// Rule id, shown in logs and filter state. Derived from the rule's content when absent (never from its
    /// position in the file).
    #[serde(default)]
    pub id: Option<String>,
    /// 1..=1,000,000, unique within the domain; lower is evaluated first.
    pub priority: i64,
    /// All conditions must hold; none at all makes a catch-all rule.
    #[serde(default)]
    pub conditions: ConditionsConfig,
    /// What to do when the rule matches.
    pub action: ActionConfig,
}

/// R2: up to two header conditions and one base-path condition, ANDed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConditionsConfig {
    /// Header conditions (at most two; they may name the same header).
    #[serde(default)]
    pub headers: Vec<HeaderConditionConfig>,
    /// Leading path segment(s) without a leading slash: `products`, `orders/v2` (R6).
    #[serde(default)]
    pub base_path: Option<String>,
}

/// R3: a header whose value must match a glob.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderConditionConfig {
    /// Header name, case-insensitive.
    pub header: String,
    /// `v`, `v*`, `*v`, `*v*` or `*`; case-sensitive, matched against the whole value.
    pub value_glob: String,
}

/// The action of a routing rule.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Invoke an API stage.
    pub invoke_api: InvokeApiConfig,
}

/// The API stage a rule or mapping selects.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InvokeApiConfig {
    /// Id of an entry of `apis`.
    pub api: String,
    /// Name of a stage of that API.
    pub stage: String,
    /// Remove the matched base path before forwarding (R7). Default false.
    #[serde(default)]
    pub strip_base_path: bool,
}

/// An API mapping (R9): a base path on the domain mapped to an API stage. Mapped base paths are stripped.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiMappingConfig {
    /// Mapping id; derived from the base path when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// `orders`, `orders/v2`, or empty for the `(none)` mapping that catches everything else.
    #[serde(default)]
    pub base_path: String,
    /// Id of an entry of `apis`.
    pub api: String,
    /// Name of a stage of that API.
    pub stage: String,
}

/// An API (layer 3): its stages, optional services, and the routes inside it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Unique id, referenced by rules and mappings.
    pub id: String,
    /// How routes are selected (P5, P6). Default `specificity`.
    #[serde(default)]
    pub router: RouterKind,
    /// Stages by name (`prod`, `beta`), each with variables and a default integration.
    pub stages: BTreeMap<String, StageConfig>,
    /// Hosts inherited by routes that set none (P7).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Plugins applied to every route of the API (G1; lowest precedence).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::plugins::plugins_schema"))]
    pub plugins: BTreeMap<String, serde_json::Value>,
    /// APISIX-style services: shared hosts, plugins and integration for the routes that name them.
    #[serde(default)]
    pub services: Vec<Lenient<ServiceConfig>>,
    /// Routes. When absent or empty, the API has one implicit `$default` route.
    #[serde(default)]
    pub routes: Vec<Lenient<RouteConfig>>,
}

/// P5/P6: route selection strategy of an API.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RouterKind {
    /// Deterministic, content-based order (P5). Never decided by file order.
    #[default]
    Specificity,
    /// APISIX `radixtree_uri` compatibility (P6).
    ApisixRadixtreeUri,
    /// APISIX `radixtree_host_uri` compatibility (P6).
    ApisixRadixtreeHostUri,
}

/// A stage of an API.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Stage variables (passed to Lambda as `stageVariables`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Integration of routes that set none themselves (nor through their service).
    #[serde(default)]
    pub integration: Option<IntegrationConfig>,
}

/// An APISIX-style service inside an API (P7).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Unique id within the API.
    pub id: String,
    /// Hosts inherited by the service's routes that set none.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Plugins for the service's routes (lower precedence than route and consumer plugins).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::plugins::plugins_schema"))]
    pub plugins: BTreeMap<String, serde_json::Value>,
    /// Integration of the service's routes that set none.
    #[serde(default)]
    pub integration: Option<IntegrationConfig>,
}

/// A route (P1-P4).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique id within the API; derived from the route's content when absent (P4).
    #[serde(default)]
    pub id: Option<String>,
    /// API Gateway route key: `GET /pets/{id}`, `ANY /{proxy+}`, `$default`. Exclusive with `paths` and
    /// `methods`.
    #[serde(default)]
    pub key: Option<String>,
    /// Paths (P2): `/a/b`, `/a/*`, `/a*`, `/pets/{id}`, `/{proxy+}`.
    #[serde(default)]
    pub paths: Vec<String>,
    /// HTTP methods; none means any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Hosts (exact or `*.suffix`); absent = inherit from the service or API (P7).
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// APISIX lua-resty-expr conditions (P1), e.g. `[["http_x_env", "==", "prod"]]`.
    #[serde(default)]
    pub vars: Option<serde_json::Value>,
    /// Client addresses or CIDR ranges allowed (IPv4/IPv6).
    #[serde(default)]
    pub remote_addrs: Vec<String>,
    /// Higher first among otherwise equal candidates. Default 0.
    #[serde(default)]
    pub priority: i64,
    /// Id of a service of this API.
    #[serde(default)]
    pub service: Option<String>,
    /// Where matched requests go; defaults to the service's, then the stage's.
    #[serde(default)]
    pub integration: Option<IntegrationConfig>,
    /// Route plugins (G1).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::plugins::plugins_schema"))]
    pub plugins: BTreeMap<String, serde_json::Value>,
}

/// Where a route's requests go.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum IntegrationConfig {
    /// Forward to an Envoy cluster.
    Http {
        /// Name of the Envoy cluster.
        cluster: String,
    },
    /// AWS Lambda proxy integration through an Envoy cluster running Envoy's `aws_lambda` filter.
    Lambda(LambdaIntegrationConfig),
}

/// AWS Lambda proxy integration settings (spec lambda.md).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LambdaIntegrationConfig {
    /// Envoy cluster whose `aws_lambda` upstream filter signs and invokes the function.
    pub cluster: String,
    /// `"1.0"` (REST API events) or `"2.0"` (HTTP API events). Default `"2.0"`.
    #[serde(default = "default_payload_format")]
    pub payload_format_version: String,
    /// Largest request body sent to the function (L4); larger gets 413. Default 6 MB.
    #[serde(default = "default_lambda_limit")]
    pub max_request_body_bytes: u64,
    /// Largest function response unwrapped (U16); larger gets 502. Default 6 MB.
    #[serde(default = "default_lambda_limit")]
    pub max_response_body_bytes: u64,
    /// Timeout of the Invoke call in milliseconds, 50..=900000; past it the client gets 504. Default 29000
    /// (API Gateway's integration timeout).
    #[serde(default = "default_lambda_timeout_ms")]
    pub timeout_ms: u64,
    /// `"BUFFERED"` (the default: `Invoke` through the cluster's `aws_lambda` filter, the answer unwrapped
    /// whole) or `"STREAM"` (API Gateway REST's `responseTransferMode: STREAM`: `InvokeWithResponseStream`,
    /// the function's output forwarded to the client as it comes; lambda-streaming.md). `STREAM` needs
    /// `function_name` and a cluster that signs with `aws_request_signing` instead of `aws_lambda`; only
    /// the dynamic module streams, the proxy-wasm build refuses it at configure time (README, "Lambda
    /// response streaming").
    #[serde(default = "default_transfer_mode", skip_serializing_if = "is_buffered")]
    #[cfg_attr(feature = "schema", schemars(extend("enum" = ["BUFFERED", "STREAM"], "default" = "BUFFERED")))]
    pub response_transfer_mode: String,
    /// With `STREAM` only: the `FunctionName` of `POST
    /// /2021-11-15/functions/{FunctionName}/response-streaming-invocations` (a name, a full or partial ARN,
    /// with an optional `:qualifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// `"RequestResponse"` (the default: the function's answer is unwrapped) or `"Event"` (asynchronous
    /// invocation: Lambda queues the event and answers `202` with no payload, which the client receives).
    /// routewise sends it as `X-Amz-Invocation-Type`; a cluster whose `aws_lambda` filter signs the call
    /// overwrites that header from its own `invocation_mode`, so an `Event` integration needs a cluster with
    /// `invocation_mode: ASYNCHRONOUS` (README, "Asynchronous invocation"). A mismatch is answered 502
    /// with the reason logged, never silently.
    #[serde(
        default = "default_invocation_type",
        skip_serializing_if = "is_request_response"
    )]
    #[cfg_attr(
        feature = "schema",
        schemars(extend("enum" = ["RequestResponse", "Event"], "default" = "RequestResponse"))
    )]
    pub invocation_type: String,
    /// Claims of a JWT verified by Envoy's `jwt_authn` filter, placed in the event as API Gateway places a
    /// JWT authorizer's (1.0 `requestContext.authorizer.claims`, 2.0 `requestContext.authorizer.jwt`).
    /// Absent: no claims are read, and the payload header is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtConfig>,
}

fn default_invocation_type() -> String {
    "RequestResponse".to_string()
}

fn is_request_response(t: &String) -> bool {
    t == "RequestResponse"
}

fn default_transfer_mode() -> String {
    "BUFFERED".to_string()
}

fn is_buffered(mode: &String) -> bool {
    mode == "BUFFERED"
}

fn default_payload_format() -> String {
    "2.0".to_string()
}

/// Lambda's synchronous payload limit (6 MB each way): the default of both body limits, and their largest
/// value (a larger limit could never be reached through the Invoke API).
pub const MAX_LAMBDA_PAYLOAD_BYTES: u64 = 6 * 1024 * 1024;

fn default_lambda_limit() -> u64 {
    MAX_LAMBDA_PAYLOAD_BYTES
}

fn default_lambda_timeout_ms() -> u64 {
    u64::from(crate::lambda::invoke::DEFAULT_TIMEOUT_MS)
}

/// A consumer (G1, G2).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Consumer name, exposed in filter state after authentication.
    pub username: String,
    /// Consumer plugins (highest precedence), including credentials such as `key-auth`.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::plugins::consumer_plugins_schema")
    )]
    pub plugins: BTreeMap<String, serde_json::Value>,
}

/// Parses the plugin configuration, collecting every shape error with its field path.
///
/// A document that is not JSON at all yields one error at path `` (the document, with serde's line and
/// column). Otherwise each lenient list item is parsed on its own, and the config is returned only when
/// nothing failed.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let (config, mut errors) = parse_document(text);
    match config {
        Some(config) => {
            config.collect_shape_errors(&mut errors);
            if errors.is_empty() {
                Ok(config)
            } else {
                Err(errors)
            }
        }
        None => Err(errors),
    }
}

/// The document's own (top-level) errors, and the config when it can still be validated: parsed, or
/// parsed once its unknown top-level fields were dropped ([`Lenient`] items keep their errors inside).
pub fn parse_document(text: &str) -> (Option<Config>, ConfigErrors) {
    let mut errors = ConfigErrors::default();
    // A document whose own shape is right (its items may still be bad: they carry their errors) is read
    // in one pass from the text; only a document with errors of its own goes through a `Value` to be
    // repaired and reported in full (issue 13: no tree of a large config is built to read it).
    let mut de = serde_json::Deserializer::from_str(text);
    if let Ok(config) = Config::deserialize(&mut de) {
        if de.end().is_ok() {
            return (Some(config), errors);
        }
    }
    let raw: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            errors.push("", ErrorKind::Shape(format!("not valid JSON: {e}")));
            return (None, errors);
        }
    };
    let r = lenient::deserialize_repairing::<Config>(raw);
    for (path, message) in r.errors {
        errors.push(path, ErrorKind::Shape(message));
    }
    (r.value.filter(|_| r.neutral), errors)
}

impl Config {
    /// Records the errors held by lenient items, prefixed with their paths.
    fn collect_shape_errors(&self, errors: &mut ConfigErrors) {
        for (i, d) in self.domains.iter().enumerate() {
            let path = format!("domains[{i}]");
            if let Some(d) = d.report(&path, errors) {
                for (j, r) in d.routing_rules.iter().enumerate() {
                    r.report(&format!("{path}.routing_rules[{j}]"), errors);
                }
                for (j, m) in d.api_mappings.iter().enumerate() {
                    m.report(&format!("{path}.api_mappings[{j}]"), errors);
                }
            }
        }
        for (i, a) in self.apis.iter().enumerate() {
            let path = format!("apis[{i}]");
            if let Some(a) = a.report(&path, errors) {
                for (j, s) in a.services.iter().enumerate() {
                    s.report(&format!("{path}.services[{j}]"), errors);
                }
                for (j, r) in a.routes.iter().enumerate() {
                    r.report(&format!("{path}.routes[{j}]"), errors);
                }
            }
        }
        for (i, c) in self.consumers.iter().enumerate() {
            c.report(&format!("consumers[{i}]"), errors);
        }
    }
}

/// [`stepwise`]'s reading of `text` in one piece: `None` when the document must be read by
/// [`parse_document`] (for differential tests: when it is `Some`, `parse_document` gives the same config
/// and no error).
#[doc(hidden)]
pub fn parse_stepwise(text: &str) -> Option<Config> {
    let budget = crate::budget::Budget::unlimited();
    crate::budget::block_on(stepwise::parse(text, &budget), &budget)
}

/// Drops `config` in slices of `budget` ([`crate::budget`]): its big lists a few items at a time
/// (freeing a 100,000-rule config takes ≈ 19 ms natively).
pub(crate) async fn drop_in(config: Config, budget: &crate::budget::Budget) {
    use crate::budget::drop_all;
    for d in config.domains {
        if let Lenient::Ok(d) | Lenient::Repaired { value: d, .. } = d {
            drop_all(d.routing_rules, budget).await;
            drop_all(d.api_mappings, budget).await;
        }
    }
    for a in config.apis {
        if let Lenient::Ok(a) | Lenient::Repaired { value: a, .. } = a {
            drop_all(a.routes, budget).await;
            drop_all(a.services, budget).await;
        }
    }
    drop_all(config.consumers, budget).await;
}

#[cfg(test)]
mod tests;
