//! `routewise import openapi`: an API Gateway OpenAPI export (REST or HTTP API) as a routewise config, and the
//! Envoy clusters it needs.
//!
//! **Inputs.** OpenAPI 3 exports of REST APIs (`aws apigateway get-export --export-type oas30 --extensions
//! integrations`) and of HTTP APIs (`aws apigatewayv2 export-api --specification OAS30`), and OpenAPI 2.0
//! (Swagger) REST exports, as JSON or YAML. An HTTP API export is recognised by
//! `x-amazon-apigateway-importexport-version`, a `$default` route or a `payloadFormatVersion`; anything else is
//! a REST API (it decides the Lambda payload format and whether `$default` exists).
//!
//! **Shape.** One domain (`*` unless `--domain-name`) with one API mapping (base path `--base-path`, empty by
//! default, i.e. the requests' paths are the API's own paths as on a custom domain) to one API, id
//! `--api-id` or the export's `info.title`, with one stage: `--stage`, else the export's stage (`basePath`
//! of Swagger 2.0, the `basePath` server variable of OpenAPI 3), else `$default`.
//!
//! **Routes.** Every operation of every path is a route with the API Gateway route key `METHOD /path`:
//! `x-amazon-apigateway-any-method` is `ANY`, `{id}` and `{proxy+}` are kept as they are (P2, P3), and
//! `/$default` (or `isDefaultRoute`) in an HTTP API export is the `$default` route.
//!
//! **Integrations** (`x-amazon-apigateway-integration` on the operation, or a `$ref` to
//! `components.x-amazon-apigateway-integrations`):
//! - `aws_proxy` to a Lambda function (the function ARN inside the `uri`, or the function ARN itself as HTTP
//!   APIs allow): a `lambda` integration with the payload format version of the export (REST: always 1.0;
//!   HTTP API: `payloadFormatVersion`), `timeoutInMillis` as `timeout_ms`, on the cluster `lambda_<function>`.
//! - `http_proxy`: an `http` integration on the cluster `http_<host>_<port>` of the `uri`, with a
//!   `proxy-rewrite` plugin that sends API Gateway's Host (the `uri`'s) and, when the `uri`'s path is not the
//!   route's own path, its path: literally, or through a `regex_uri` that puts the route's path parameters
//!   where the `uri` names them (`requestParameters` `integration.request.path.X` = `method.request.path.Y`
//!   renames them).
//! - Anything else (`aws` and `http` with VTL mapping templates, `mock`, `aws_proxy` to another AWS service)
//!   has behaviour routewise does not reproduce: the route is not imported and a note says what to do.
//!
//! **Protected routes fail closed.** An operation API Gateway protects with a check routewise cannot make (a
//! Lambda authorizer, IAM, Cognito, a JWT authorizer, `x-amazon-apigateway-auth` other than `NONE`: any
//! security requirement but `api_key`) is still a route, so that no sibling such as `ANY /{proxy+}` serves its
//! requests, but a closed one: `key-auth` on [`CLOSED_KEY_AUTH_HEADER`] admitting no consumer
//! (`allowed_consumers: []`), 401 `{"message":"Unauthorized"}` to every request whatever consumers the config
//! gets later, as API Gateway answers one without valid credentials; a note names it, why, and how to open
//! it. [`OpenApiImport::open_protected_routes`] (`--open-protected-routes`) imports them open instead, for
//! users who authenticate in Envoy in front of routewise. An `api_key` requirement alone is kept (`key-auth`
//! on `x-api-key`).
//!
//! `${stageVariables.NAME}` in an integration is replaced by the value given with `--stage-variable
//! NAME=VALUE` (which also becomes a stage variable, passed to Lambda as `stageVariables`); without a value
//! the route is not imported and the note names the variable.
//!
//! **Nothing silently lost.** What the export has and routewise does not carry is a note with what to do
//! instead: authorizers and API keys (`security`, `securitySchemes`/`securityDefinitions`,
//! `x-amazon-apigateway-authorizer`), request validators, mapping templates and parameter mappings, CORS
//! (`x-amazon-apigateway-cors`), gateway responses, binary media types, resource policies, caching, TLS and
//! timeout settings of HTTP integrations, and any other `x-amazon-apigateway-*` extension. OpenAPI's own
//! descriptions (parameters, request bodies, responses, schemas) document the API and are not behaviour of
//! API Gateway unless a request validator uses them, which is noted. The result is validated by the engine.
//!
//! **Clusters.** [`OpenApiImported::clusters`] describes each cluster the config names; [`envoy_clusters`]
//! writes them as Envoy clusters: a Lambda cluster reaches `lambda.<region>.amazonaws.com:443` and carries
//! Envoy's `aws_lambda` filter as an upstream filter (SigV4 with Envoy's credential chain, payload
//! passthrough: routewise builds the event), an HTTP cluster the `uri`'s host and port (TLS for `https`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use routewise::config::{
    ApiConfig, ApiMappingConfig, Config, DomainConfig, IntegrationConfig, LambdaIntegrationConfig,
    RouteConfig, RoutingMode, StageConfig, DEFAULT_CLUSTER_HEADER,
};

use super::{ImportErrors, Imported};

/// What to import.
#[derive(Debug, Clone)]
pub struct OpenApiImport<'a> {
    /// The export, JSON or YAML.
    pub text: &'a str,
    /// The domain's name (`*` for any host).
    pub domain_name: &'a str,
    /// Base path of the API mapping (empty: the `(none)` mapping).
    pub base_path: &'a str,
    /// API id; default the export's `info.title`.
    pub api_id: Option<&'a str>,
    /// Stage name; default the export's stage, else `$default`.
    pub stage: Option<&'a str>,
    /// Stage variables (`--stage-variable NAME=VALUE`).
    pub stage_variables: &'a [(String, String)],
    /// `--open-protected-routes`: import the routes API Gateway protects with an authorizer, IAM or any other
    /// requirement than an API key without any check (for a user who authenticates in Envoy, in front of
    /// routewise). Default false: such a route is closed ([`CLOSED_KEY_AUTH_HEADER`]).
    pub open_protected_routes: bool,
}

/// The header of the `key-auth` that closes a route API Gateway protects with a check routewise cannot make
/// (an authorizer, IAM, Cognito, JWT): the header those checks read. It admits no consumer
/// (`allowed_consumers: []`), so the route answers every request 401 `{"message":"Unauthorized"}`, as API
/// Gateway answers one without valid credentials (G2), even once consumers are added for API-key routes. Its query parameter has the same name (key-auth's default, `apikey`, could be an API
/// key's).
pub const CLOSED_KEY_AUTH_HEADER: &str = "authorization";

/// An Envoy cluster the imported config names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClusterSpec {
    /// A Lambda function, invoked through Envoy's `aws_lambda` upstream filter.
    Lambda {
        /// Cluster name.
        name: String,
        /// The function's ARN (with its qualifier, if the export had one).
        arn: String,
        /// The function's region (from the ARN).
        region: String,
    },
    /// An HTTP(S) backend.
    Http {
        /// Cluster name.
        name: String,
        /// Host of the integration `uri`.
        host: String,
        /// Port (80 / 443 unless the `uri` gives one).
        port: u16,
        /// `https` in the `uri`.
        tls: bool,
    },
}

impl ClusterSpec {
    /// The cluster's name.
    pub fn name(&self) -> &str {
        match self {
            ClusterSpec::Lambda { name, .. } | ClusterSpec::Http { name, .. } => name,
        }
    }
}

/// A successful import: the config with its notes, and the clusters it names.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenApiImported {
    /// The config and the notes.
    pub imported: Imported,
    /// Every cluster the config names, sorted by name.
    pub clusters: Vec<ClusterSpec>,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];
const ANY_METHOD: &str = "x-amazon-apigateway-any-method";
const INTEGRATION: &str = "x-amazon-apigateway-integration";

/// Document-level extensions and fields, with what to do instead (they are not imported).
fn document_note(key: &str, v: &Value) -> Option<String> {
    let what = match key {
        "x-amazon-apigateway-cors" => format!(
            "CORS configuration {} not imported; configure Envoy's CORS filter (envoy.filters.http.cors) with \
             these origins, methods and headers",
            compact(v)
        ),
        "x-amazon-apigateway-request-validators" => format!(
            "request validators ({}) not imported: routewise does not validate requests against the OpenAPI \
             models; validate in the backend (or put a validating filter in front)",
            keys_of(v)
        ),
        "x-amazon-apigateway-request-validator" => format!(
            "request validator {} for every operation not imported; the backend receives requests unvalidated",
            compact(v)
        ),
        "x-amazon-apigateway-gateway-responses" => format!(
            "gateway responses ({}) not imported: routewise answers its own errors as API Gateway's defaults \
             (403/404 {{\"message\":...}}); customise them with Envoy's local_reply_config",
            keys_of(v)
        ),
        "x-amazon-apigateway-binary-media-types" => format!(
            "binary media types {} not imported: a Lambda integration base64-encodes bodies that are not text \
             (lambda.md); HTTP integrations pass bodies unchanged",
            compact(v)
        ),
        "x-amazon-apigateway-policy" => "resource policy not imported; restrict callers with `remote_addrs` \
             on the routes or Envoy's RBAC filter"
            .into(),
        "x-amazon-apigateway-api-key-source" => format!(
            "API key source {} not imported; API keys become `key-auth` consumers (see the routes' security \
             notes)",
            compact(v)
        ),
        "x-amazon-apigateway-minimum-compression-size" => format!(
            "minimum compression size {} not imported; use Envoy's compressor filter",
            compact(v)
        ),
        "x-amazon-apigateway-endpoint-configuration" => {
            "endpoint configuration not imported (Envoy's listener decides where the API is served)".into()
        }
        "x-amazon-apigateway-disable-execute-api-endpoint" => {
            "disable-execute-api-endpoint not imported (there is no execute-api endpoint in Envoy)".into()
        }
        "x-amazon-apigateway-documentation" => "documentation parts not imported (documentation only)".into(),
        "x-amazon-apigateway-tag-value" => "tags not imported (no equivalent)".into(),
        k if k.starts_with("x-amazon-apigateway-") => {
            format!("not imported (routewise has no equivalent): {}", compact(v))
        }
        _ => return None,
    };
    Some(format!("{key}: {what}"))
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

fn keys_of(v: &Value) -> String {
    v.as_object()
        .map(|m| m.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|| compact(v))
}

/// The version of the document, or why it is not an export this command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    Swagger2,
    OpenApi3,
}

/// REST API or HTTP API export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rest,
    Http,
}

struct Ctx<'a> {
    doc: &'a Value,
    kind: Kind,
    vars: &'a [(String, String)],
    open_protected: bool,
    notes: Vec<String>,
    clusters: BTreeMap<String, ClusterSpec>,
    /// Route keys of the routes closed because API Gateway protects them (in document order).
    closed: Vec<String>,
}

/// Imports an export. Errors name the place in the document (`paths./pets.get...`).
pub fn import(opts: &OpenApiImport<'_>) -> Result<OpenApiImported, ImportErrors> {
    let doc: Value = serde_norway::from_str(opts.text)
        .map_err(|e| ImportErrors(vec![format!("not a JSON or YAML document: {e}")]))?;
    let spec = match (doc.get("swagger"), doc.get("openapi")) {
        (Some(Value::String(v)), None) if v == "2.0" => Spec::Swagger2,
        (None, Some(Value::String(v))) if v.starts_with("3.") => Spec::OpenApi3,
        _ => {
            return Err(ImportErrors(vec![
                "neither `swagger: \"2.0\"` nor `openapi: 3.x`: not an OpenAPI export".into(),
            ]))
        }
    };
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err(ImportErrors(vec!["paths: missing or not an object".into()]));
    };
    for w in opts.stage_variables {
        if opts.stage_variables.iter().filter(|o| o.0 == w.0).count() > 1 {
            return Err(ImportErrors(vec![format!(
                "--stage-variable {}: given twice",
                w.0
            )]));
        }
    }
    let kind = detect_kind(&doc, paths);
    let mut cx = Ctx {
        doc: &doc,
        kind,
        vars: opts.stage_variables,
        open_protected: opts.open_protected_routes,
        notes: Vec::new(),
        clusters: BTreeMap::new(),
        closed: Vec::new(),
    };
    cx.notes.push(format!(
        "read as {} export ({})",
        match kind {
            Kind::Rest => "a REST API",
            Kind::Http => "an HTTP API",
        },
        match spec {
            Spec::Swagger2 => "OpenAPI 2.0",
            Spec::OpenApi3 => "OpenAPI 3",
        }
    ));

    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("api");
    let api_id = opts.api_id.unwrap_or(title).to_string();
    let stage = match opts.stage {
        Some(s) => s.to_string(),
        None => export_stage(&doc, spec).unwrap_or_else(|| "$default".to_string()),
    };

    document_notes(&mut cx, &doc, spec);

    let mut routes = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            cx.notes
                .push(format!("paths.{path}: not an object; not imported"));
            continue;
        };
        for (key, op) in item {
            let at = format!("paths.{path}.{key}");
            let method = if key == ANY_METHOD {
                "ANY".to_string()
            } else if METHODS.contains(&key.as_str()) {
                key.to_ascii_uppercase()
            } else if key == "parameters" || key == "summary" || key == "description" || key == "servers" {
                continue;
            } else {
                cx.notes
                    .push(format!("{at}: not imported (not an operation routewise knows)"));
                continue;
            };
            let is_default =
                path == "/$default" || op.get("isDefaultRoute").and_then(Value::as_bool) == Some(true);
            let route_key = if is_default {
                if cx.kind == Kind::Rest {
                    cx.notes.push(format!(
                        "{at}: `$default` exists only in HTTP APIs; this REST export's path is imported as \
                         written"
                    ));
                    format!("{method} {path}")
                } else {
                    "$default".to_string()
                }
            } else {
                format!("{method} {path}")
            };
            if let Some(route) = operation(&mut cx, &at, &route_key, path, &method, op) {
                routes.push(route.into());
            }
        }
    }
    if !cx.closed.is_empty() {
        cx.notes.push(format!(
            "{} route(s) CLOSED (401 to every request) because API Gateway protects them with a check routewise \
             cannot make: {}; see each route's note; after protecting them in Envoy, re-import with \
             --open-protected-routes",
            cx.closed.len(),
            cx.closed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if routes.is_empty() {
        let mut lines = vec!["no route could be imported:".to_string()];
        lines.extend(cx.notes.iter().map(|n| format!("  {n}")));
        return Err(ImportErrors(lines));
    }

    let variables: BTreeMap<String, String> = opts.stage_variables.iter().cloned().collect();
    let config = Config {
        cluster_header: DEFAULT_CLUSTER_HEADER.to_string(),
        filter_state: None,
        domains: vec![DomainConfig {
            name: opts.domain_name.to_string(),
            routing_mode: RoutingMode::ApiMappingOnly,
            routing_rules: Vec::new(),
            api_mappings: vec![ApiMappingConfig {
                id: None,
                base_path: opts.base_path.to_string(),
                api: api_id.clone(),
                stage: stage.clone(),
            }
            .into()],
            no_match_status: 403,
        }
        .into()],
        apis: vec![ApiConfig {
            id: api_id,
            router: Default::default(),
            stages: BTreeMap::from([(
                stage,
                StageConfig {
                    variables,
                    integration: None,
                },
            )]),
            hosts: Vec::new(),
            plugins: BTreeMap::new(),
            services: Vec::new(),
            routes,
        }
        .into()],
        consumers: Vec::new(),
    };
    for c in cx.clusters.values() {
        cx.notes.push(match c {
            ClusterSpec::Lambda { name, arn, .. } => {
                format!("define Envoy cluster `{name}`: Lambda function {arn} (--envoy-clusters writes it)")
            }
            ClusterSpec::Http {
                name,
                host,
                port,
                tls,
            } => format!(
                "define Envoy cluster `{name}`: {}://{host}:{port} (--envoy-clusters writes it)",
                if *tls { "https" } else { "http" }
            ),
        });
    }
    let clusters = cx.clusters.into_values().collect();
    let imported = super::finish(config, cx.notes)?;
    Ok(OpenApiImported { imported, clusters })
}

fn detect_kind(doc: &Value, paths: &Map<String, Value>) -> Kind {
    // `x-amazon-apigateway-integrations` (reusable integrations) exist only in HTTP APIs.
    if doc.get("x-amazon-apigateway-importexport-version").is_some()
        || paths.contains_key("/$default")
        || doc
            .pointer("/components/x-amazon-apigateway-integrations")
            .is_some()
    {
        return Kind::Http;
    }
    let has_payload_version = paths.values().filter_map(Value::as_object).any(|item| {
        item.values().any(|op| {
            op.pointer("/x-amazon-apigateway-integration/payloadFormatVersion")
                .is_some()
        })
    });
    if has_payload_version {
        Kind::Http
    } else {
        Kind::Rest
    }
}

/// The stage the export was taken from: Swagger 2.0's `basePath`, OpenAPI 3's `basePath` server variable.
fn export_stage(doc: &Value, spec: Spec) -> Option<String> {
    let base = match spec {
        Spec::Swagger2 => doc.get("basePath").and_then(Value::as_str),
        Spec::OpenApi3 => doc
            .pointer("/servers/0/variables/basePath/default")
            .and_then(Value::as_str),
    }?;
    let s = base.trim_matches('/');
    (!s.is_empty() && !s.contains('/')).then(|| s.to_string())
}

fn document_notes(cx: &mut Ctx<'_>, doc: &Value, spec: Spec) {
    let Some(top) = doc.as_object() else { return };
    for (k, v) in top {
        if let Some(n) = document_note(k, v) {
            if k != "x-amazon-apigateway-importexport-version" {
                cx.notes.push(n);
            }
        }
    }
    let schemes = match spec {
        Spec::Swagger2 => doc.get("securityDefinitions"),
        Spec::OpenApi3 => doc.pointer("/components/securitySchemes"),
    };
    if let Some(schemes) = schemes.and_then(Value::as_object) {
        for (name, s) in schemes {
            cx.notes
                .push(format!("security scheme `{name}`: {}", scheme_advice(s)));
        }
    }
    if let Some(sec) = doc.get("security").filter(|s| !is_empty(s)) {
        cx.notes.push(format!(
            "security {}: the requirement of every operation that states none (see each route's notes)",
            compact(sec)
        ));
    }
}

fn scheme_advice(s: &Value) -> String {
    let authtype = s.get("x-amazon-apigateway-authtype").and_then(Value::as_str);
    if let Some(a) = s.get("x-amazon-apigateway-authorizer") {
        let t = a.get("type").and_then(Value::as_str).unwrap_or("?");
        return match t.to_ascii_lowercase().as_str() {
            "jwt" => {
                format!(
                "JWT authorizer (issuer {}) not imported; use Envoy's jwt_authn filter with that issuer and \
                 audience",
                a.pointer("/jwtConfiguration/issuer").map(compact).unwrap_or_default()
            )
            }
            "token" | "request" => format!(
                "Lambda authorizer ({t}, {}) not imported; call the authorizer from Envoy's ext_authz filter \
                 (through a small adapter) or authenticate in the backend",
                a.get("authorizerUri").map(compact).unwrap_or_default()
            ),
            "cognito_user_pools" => {
                "Cognito user pool authorizer not imported; use Envoy's jwt_authn filter \
                 with the user pool's issuer (https://cognito-idp.REGION.amazonaws.com/POOL_ID) and JWKS"
                    .into()
            }
            _ => format!(
                "authorizer {} not imported; authenticate with an Envoy filter",
                compact(a)
            ),
        };
    }
    match (
        s.get("type").and_then(Value::as_str),
        s.get("name").and_then(Value::as_str),
        authtype,
    ) {
        (Some("apiKey"), Some(header), None) => format!(
            "API keys in `{header}` (usage plans): the routes that require one get `key-auth` on header \
             `{header}`; add one consumer per key (`key_sha256`); quotas and throttling are Envoy's \
             local_ratelimit / ratelimit filters"
        ),
        (_, _, Some(t)) if t.eq_ignore_ascii_case("awsSigv4") => "IAM authorization (SigV4) not imported; \
             verify signatures in an ext_authz service or keep the API private to the network"
            .into(),
        _ => format!("{} not imported; authenticate with an Envoy filter", compact(s)),
    }
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty)
}

/// One operation: its route, or `None` (with a note) when it cannot be imported.
fn operation(
    cx: &mut Ctx<'_>,
    at: &str,
    route_key: &str,
    path: &str,
    method: &str,
    op: &Value,
) -> Option<RouteConfig> {
    let Some(opm) = op.as_object() else {
        cx.notes.push(format!("{at}: not an object; route not imported"));
        return None;
    };
    // What API Gateway checks before calling the integration and routewise cannot: an authorizer, IAM, ...
    let mut protected_by: Vec<String> = Vec::new();
    // What the operation carries besides its integration.
    for (k, v) in opm {
        match k.as_str() {
            INTEGRATION | "isDefaultRoute" => {}
            "security" => {} // below, with the document's
            "x-amazon-apigateway-auth"
                if v.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("none")) => {}
            "x-amazon-apigateway-request-validator" => cx.notes.push(format!(
                "{at}: request validator {} not imported; the backend receives requests unvalidated",
                compact(v)
            )),
            "x-amazon-apigateway-auth" => {
                protected_by.push(format!("{at}.x-amazon-apigateway-auth {}", compact(v)))
            }
            k if k.starts_with("x-amazon-apigateway-") => cx.notes.push(format!(
                "{at}.{k}: not imported (routewise has no equivalent): {}",
                compact(v)
            )),
            // OpenAPI's own description of the operation: documentation.
            _ => {}
        }
    }
    // The operation's security requirement, else the document's (OpenAPI: an operation's own replaces it).
    let security = opm.get("security").or_else(|| cx.doc.get("security"));
    // REST exports name a method that requires an API key `api_key` (header x-api-key): the route keeps the
    // requirement (key-auth, below); any other scheme (an authorizer, IAM, Cognito, JWT, or a scheme of any
    // other name) cannot be enforced, so the route is closed (below). `[{}]` or `[]` requires nothing.
    let others: Vec<&String> = security
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|r| r.keys())
        .filter(|k| *k != "api_key")
        .collect();
    let Some(raw) = opm.get(INTEGRATION) else {
        cx.notes.push(format!(
            "{at}: no x-amazon-apigateway-integration (export with `--extensions integrations`); route not \
             imported"
        ));
        return None;
    };
    let integration = match resolve_ref(cx.doc, raw) {
        Ok(i) => i,
        Err(e) => {
            cx.notes
                .push(format!("{at}.{INTEGRATION}: {e}; route not imported"));
            return None;
        }
    };
    let iat = format!("{at}.{INTEGRATION}");
    let integration = match substitute_stage_variables(cx.vars, integration) {
        Ok(i) => i,
        Err(missing) => {
            cx.notes.push(format!(
                "{iat}: uses stage variable(s) {} with no value; give --stage-variable NAME=VALUE; route not \
                 imported",
                missing.join(", ")
            ));
            return None;
        }
    };
    let ty = integration
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut route = RouteConfig {
        key: Some(route_key.to_string()),
        ..RouteConfig::default()
    };
    match ty.as_str() {
        "aws_proxy" => {
            let uri = integration.get("uri").and_then(Value::as_str).unwrap_or_default();
            let Some(arn) = lambda_arn(uri) else {
                cx.notes.push(format!(
                    "{iat}: aws_proxy to `{uri}`, not a Lambda function (an AWS service integration); route \
                     not imported: call the service from a backend behind an http integration"
                ));
                return None;
            };
            let payload = payload_version(cx, &iat, &integration)?;
            let timeout_ms = integration
                .get("timeoutInMillis")
                .and_then(Value::as_u64)
                .unwrap_or(29_000);
            let (cluster, region) = lambda_cluster_name(&arn);
            cx.clusters.insert(
                cluster.clone(),
                ClusterSpec::Lambda {
                    name: cluster.clone(),
                    arn: arn.clone(),
                    region,
                },
            );
            route.integration = Some(IntegrationConfig::Lambda(LambdaIntegrationConfig {
                cluster,
                payload_format_version: payload,
                max_request_body_bytes: routewise::config::MAX_LAMBDA_PAYLOAD_BYTES,
                max_response_body_bytes: routewise::config::MAX_LAMBDA_PAYLOAD_BYTES,
                timeout_ms,
                response_transfer_mode: "BUFFERED".into(),
                function_name: None,
                invocation_type: "RequestResponse".into(),
                jwt: None,
            }));
            integration_notes(
                cx,
                &iat,
                &integration,
                &["uri", "type", "payloadFormatVersion", "timeoutInMillis"],
            );
        }
        "http_proxy" => {
            let uri = integration.get("uri").and_then(Value::as_str).unwrap_or_default();
            let Some(target) = parse_http_uri(uri) else {
                cx.notes.push(format!(
                    "{iat}: http_proxy to `{uri}`: not an http(s) URL routewise can name a cluster for; route not \
                     imported"
                ));
                return None;
            };
            if uri.contains('?') {
                cx.notes.push(format!(
                    "{iat}.uri `{uri}`: its query string is not imported (the client's is forwarded); add it in \
                     the backend or with a regex_uri"
                ));
            }
            let name = format!("http_{}_{}", target.host, target.port);
            cx.clusters.insert(
                name.clone(),
                ClusterSpec::Http {
                    name: name.clone(),
                    host: target.host.clone(),
                    port: target.port,
                    tls: target.tls,
                },
            );
            let mut rewrite = Map::new();
            let default_port = if target.tls { 443 } else { 80 };
            rewrite.insert(
                "host".into(),
                Value::String(if target.port == default_port {
                    target.host.clone()
                } else {
                    format!("{}:{}", target.host, target.port)
                }),
            );
            let renames = path_renames(&integration);
            match path_rewrite(route_key, path, &target.path, &renames) {
                Ok(None) => {}
                Ok(Some(PathRewrite::Uri(u))) => {
                    rewrite.insert("uri".into(), Value::String(u));
                }
                Ok(Some(PathRewrite::Regex(re, to))) => {
                    rewrite.insert("regex_uri".into(), json!([re, to]));
                }
                Err(e) => {
                    cx.notes
                        .push(format!("{iat}: uri `{uri}`: {e}; route not imported"));
                    return None;
                }
            }
            route
                .plugins
                .insert("proxy-rewrite".into(), Value::Object(rewrite));
            route.integration = Some(IntegrationConfig::Http { cluster: name });
            if let Some(m) = integration.get("httpMethod").and_then(Value::as_str) {
                if !m.eq_ignore_ascii_case("ANY") && !m.eq_ignore_ascii_case(method) {
                    cx.notes.push(format!(
                        "{iat}.httpMethod: API Gateway calls the backend with {m}, routewise forwards the \
                         client's method; not imported"
                    ));
                }
            }
            integration_notes(
                cx,
                &iat,
                &integration,
                &[
                    "uri",
                    "type",
                    "httpMethod",
                    "payloadFormatVersion",
                    "requestParameters",
                ],
            );
        }
        "aws" | "http" | "mock" => {
            let templates = ["requestTemplates", "responses"]
                .iter()
                .any(|k| integration.get(*k).is_some_and(|v| !is_empty(v)));
            let advice = match ty.as_str() {
                "mock" if method == "OPTIONS" => {
                    "a CORS preflight answered by API Gateway: configure Envoy's CORS filter instead"
                        .to_string()
                }
                "mock" => {
                    "a mock answered by API Gateway itself: serve it from a small upstream, or keep the \
                           route on API Gateway"
                        .to_string()
                }
                _ => format!(
                    "a non-proxy integration{}: routewise forwards requests and answers unchanged; make it a \
                     proxy integration ({}) and move the transformation into the backend",
                    if templates {
                        " with mapping templates (VTL) and integration responses"
                    } else {
                        ""
                    },
                    if ty == "aws" { "aws_proxy" } else { "http_proxy" }
                ),
            };
            cx.notes
                .push(format!("{iat}: type {ty} is {advice}; route not imported"));
            return None;
        }
        other => {
            cx.notes.push(format!(
                "{iat}: integration type `{other}` unknown; route not imported"
            ));
            return None;
        }
    }
    if !others.is_empty() {
        protected_by.insert(
            0,
            format!("{at}: security {}", security.map(compact).unwrap_or_default()),
        );
    }
    let api_key = security
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|r| r.get("api_key").is_some()));
    if !protected_by.is_empty() && !cx.open_protected {
        // Fail closed: the route stays (skipping it could let a sibling such as `ANY /{proxy+}` serve its
        // requests open) but answers 401 to every request: key-auth with no consumer (G2). It replaces the
        // API key's key-auth, if any (one key-auth per route).
        route.plugins.insert(
            "key-auth".into(),
            json!({"header": CLOSED_KEY_AUTH_HEADER, "query": CLOSED_KEY_AUTH_HEADER,
                   "hide_credentials": true, "allowed_consumers": []}),
        );
        cx.closed.push(route_key.to_string());
        cx.notes.push(format!(
            "{}: not enforced by routewise, so the route is CLOSED: `key-auth` on header `{h}` (and query \
             parameter `{h}`) admitting no consumer (`allowed_consumers: []`) answers every \
             request 401 {{\"message\":\"Unauthorized\"}}, as API Gateway answers a request without valid \
             credentials{}, whatever consumers you add later. To serve it, authenticate in Envoy in front of \
             routewise (jwt_authn for JWT and Cognito, ext_authz for Lambda authorizers and IAM; see the \
             security scheme notes), then re-import with --open-protected-routes (or remove this key-auth)",
            protected_by.join("; "),
            if api_key {
                "; its API key requirement (`key-auth` on `x-api-key`) comes back with --open-protected-routes"
            } else {
                ""
            },
            h = CLOSED_KEY_AUTH_HEADER,
        ));
        return Some(route);
    }
    if api_key {
        // API Gateway reads the key from `x-api-key` and passes the header on; key-auth also reads a query
        // parameter, named the same here.
        route.plugins.insert(
            "key-auth".into(),
            json!({"header": "x-api-key", "query": "x-api-key", "hide_credentials": false}),
        );
        cx.notes.push(format!(
            "{at}: requires an API key: the route has `key-auth` on header `x-api-key` (it also reads a query \
             parameter `x-api-key`, API Gateway does not); it answers 401 until you add one consumer per key \
             (`key_sha256`, the keys are not in the export); usage plans' quotas and throttling are Envoy's \
             local_ratelimit / ratelimit filters"
        ));
    }
    if !protected_by.is_empty() {
        cx.notes.push(format!(
            "{}: not imported, the route is OPEN in routewise (--open-protected-routes); protect it in Envoy \
             before serving it (jwt_authn for JWT and Cognito, ext_authz for Lambda authorizers and IAM; see \
             the security scheme notes)",
            protected_by.join("; ")
        ));
    }
    Some(route)
}

/// Integration fields other than the mapped ones, each with what to do.
fn integration_notes(cx: &mut Ctx<'_>, at: &str, integration: &Value, mapped: &[&str]) {
    let Some(m) = integration.as_object() else { return };
    for (k, v) in m {
        if mapped.contains(&k.as_str()) {
            continue;
        }
        let advice = match k.as_str() {
            // `httpMethod` is always POST for Lambda (the Invoke call); `passthroughBehavior` has no effect on
            // proxy integrations.
            "httpMethod" | "passthroughBehavior" => continue,
            "responses" if is_default_response_only(v) => continue,
            "connectionType" if v.as_str().is_some_and(|c| c.eq_ignore_ascii_case("INTERNET")) => continue,
            "connectionType" | "connectionId" => {
                "private integration (VPC link) not imported; Envoy must reach the backend directly (run it in \
                 the VPC)"
                    .to_string()
            }
            "credentials" => "IAM role not imported; Envoy signs Lambda calls with its own credentials (the \
                 aws_lambda filter's credential chain: environment, profile, instance or pod role)"
                .into(),
            "cacheNamespace" | "cacheKeyParameters" => {
                "stage caching not imported; use Envoy's cache filter if needed".into()
            }
            "timeoutInMillis" => "not imported for HTTP integrations; set the Envoy route's timeout".into(),
            "tlsConfig" => "not imported; set the cluster's UpstreamTlsContext".into(),
            "contentHandling" => "not imported: proxy integrations pass bodies unchanged".into(),
            "requestTemplates" | "responses" | "requestParameters" | "responseParameters" => {
                "mapping not imported; edit headers with proxy-rewrite / response-rewrite, or in the backend"
                    .into()
            }
            _ => "not imported (routewise has no equivalent)".into(),
        };
        cx.notes.push(format!("{at}.{k} {}: {advice}", compact(v)));
    }
    // requestParameters on http_proxy: the path renames are used, the rest is listed.
    if let Some(rp) = integration.get("requestParameters").and_then(Value::as_object) {
        for (k, v) in rp {
            if k.starts_with("integration.request.path.") {
                continue;
            }
            cx.notes.push(format!(
                "{at}.requestParameters.{k} = {}: parameter mapping not imported; set headers with the \
                 route's proxy-rewrite plugin, or map it in the backend",
                compact(v)
            ));
        }
    }
}

fn is_default_response_only(v: &Value) -> bool {
    match v.as_object() {
        Some(m) if m.len() == 1 => m
            .get("default")
            .and_then(Value::as_object)
            .is_some_and(|d| d.len() == 1 && d.contains_key("statusCode")),
        Some(m) => m.is_empty(),
        None => false,
    }
}

fn resolve_ref<'a>(doc: &'a Value, v: &'a Value) -> Result<Value, String> {
    match v.get("$ref").and_then(Value::as_str) {
        None => Ok(v.clone()),
        Some(r) => {
            let ptr = r
                .strip_prefix('#')
                .ok_or_else(|| format!("`$ref` {r} is not in this document"))?;
            doc.pointer(ptr)
                .cloned()
                .ok_or_else(|| format!("`$ref` {r} names nothing"))
        }
    }
}

/// Replaces `${stageVariables.NAME}` in every string of the integration; the names without a value.
fn substitute_stage_variables(vars: &[(String, String)], v: Value) -> Result<Value, Vec<String>> {
    let mut missing = BTreeSet::new();
    fn walk(v: Value, vars: &[(String, String)], missing: &mut BTreeSet<String>) -> Value {
        match v {
            Value::String(s) => {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(i) = rest.find("${stageVariables.") {
                    out.push_str(rest.get(..i).unwrap_or_default());
                    let after = rest.get(i + "${stageVariables.".len()..).unwrap_or_default();
                    let Some(end) = after.find('}') else {
                        out.push_str(rest.get(i..).unwrap_or_default());
                        rest = "";
                        break;
                    };
                    let name = after.get(..end).unwrap_or_default();
                    match vars.iter().find(|(k, _)| k == name) {
                        Some((_, value)) => out.push_str(value),
                        None => {
                            missing.insert(format!("`{name}`"));
                        }
                    }
                    rest = after.get(end + 1..).unwrap_or_default();
                }
                out.push_str(rest);
                Value::String(out)
            }
            Value::Array(a) => Value::Array(a.into_iter().map(|x| walk(x, vars, missing)).collect()),
            Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, x)| (k, walk(x, vars, missing))).collect())
            }
            other => other,
        }
    }
    let out = walk(v, vars, &mut missing);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing.into_iter().collect())
    }
}

/// The Lambda function ARN of an `aws_proxy` uri: inside
/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations`, or the ARN itself.
fn lambda_arn(uri: &str) -> Option<String> {
    let arn = match uri.split_once(":lambda:path/") {
        Some((_, rest)) => {
            let rest = rest.split_once("/functions/")?.1;
            rest.strip_suffix("/invocations")?
        }
        None => uri,
    };
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() >= 7
        && parts.first() == Some(&"arn")
        && parts.get(2) == Some(&"lambda")
        && parts.get(5) == Some(&"function"))
    .then(|| arn.to_string())
}

/// `lambda_<function>[_<qualifier>]` and the region of a function ARN.
fn lambda_cluster_name(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    let region = parts.get(3).copied().unwrap_or_default().to_string();
    let name = parts.get(6..).map(|p| p.join("_")).unwrap_or_default();
    (format!("lambda_{name}"), region)
}

fn payload_version(cx: &mut Ctx<'_>, at: &str, integration: &Value) -> Option<String> {
    let given = integration.get("payloadFormatVersion").map(|v| match v {
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => "1.0".to_string(),
            Some(2.0) => "2.0".to_string(),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    match (cx.kind, given) {
        (Kind::Rest, None) => Some("1.0".into()),
        (Kind::Rest, Some(v)) if v == "1.0" => Some(v),
        (Kind::Http, Some(v)) if v == "1.0" || v == "2.0" => Some(v),
        (Kind::Http, None) => {
            cx.notes.push(format!(
                "{at}: no payloadFormatVersion; 2.0 assumed (the default of HTTP APIs' Lambda integrations)"
            ));
            Some("2.0".into())
        }
        (_, Some(v)) => {
            cx.notes.push(format!(
                "{at}.payloadFormatVersion `{v}`: not a Lambda payload format (1.0, 2.0); route not imported"
            ));
            None
        }
    }
}

struct HttpTarget {
    host: String,
    port: u16,
    tls: bool,
    path: String,
}

fn parse_http_uri(uri: &str) -> Option<HttpTarget> {
    let (tls, rest) = if let Some(r) = uri.strip_prefix("https://") {
        (true, r)
    } else {
        (false, uri.strip_prefix("http://")?)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, "/"),
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    ok.then(|| HttpTarget {
        host: host.to_ascii_lowercase(),
        port,
        tls,
        path: path.to_string(),
    })
}

/// `integration.request.path.X` = `method.request.path.Y`: the uri's `{X}` is the route's `{Y}`.
fn path_renames(integration: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(rp) = integration.get("requestParameters").and_then(Value::as_object) {
        for (k, v) in rp {
            if let (Some(x), Some(y)) = (
                k.strip_prefix("integration.request.path."),
                v.as_str().and_then(|s| s.strip_prefix("method.request.path.")),
            ) {
                out.insert(x.to_string(), y.to_string());
            }
        }
    }
    out
}

enum PathRewrite {
    Uri(String),
    Regex(String, String),
}

/// How the path leaves for the backend: the `uri`'s path, with the route's parameters in it.
fn path_rewrite(
    route_key: &str,
    route_path: &str,
    target: &str,
    renames: &BTreeMap<String, String>,
) -> Result<Option<PathRewrite>, String> {
    let target_params: Vec<&str> = params_of(target);
    if route_key == "$default" {
        // Everything is matched: the path is forwarded as requested, under the uri's path.
        let base = target.trim_end_matches('/');
        if !target_params.is_empty() {
            return Err("path parameters in the uri of a `$default` route".into());
        }
        return Ok((!base.is_empty()).then(|| PathRewrite::Regex("^(/.*)$".into(), format!("{base}$1"))));
    }
    if target_params.is_empty() {
        // HTTP APIs: a uri with a path sends that path; REST APIs: the uri is the whole backend URL.
        return Ok((target != route_path).then(|| PathRewrite::Uri(target.to_string())));
    }
    // A regex over the route's template: each parameter captured, in order.
    let mut re = String::from("^");
    let mut captured: Vec<String> = Vec::new();
    for seg in route_path.split('/').skip(1) {
        re.push('/');
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, greedy) = match name.strip_suffix('+') {
                Some(n) => (n, true),
                None => (name, false),
            };
            re.push_str(if greedy { "(.+)" } else { "([^/]+)" });
            captured.push(name.to_string());
        } else {
            re.push_str(&regex_escape(seg));
        }
    }
    re.push('$');
    let mut to = String::new();
    let mut rest = target;
    while let Some(i) = rest.find('{') {
        to.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + 1..).unwrap_or_default();
        let end = after.find('}').ok_or("an unclosed `{`")?;
        let name = after.get(..end).unwrap_or_default().trim_end_matches('+');
        let source = renames.get(name).map_or(name, String::as_str);
        let k = captured
            .iter()
            .position(|c| c == source)
            .ok_or_else(|| format!("`{{{name}}}` is not a path parameter of the route"))?;
        to.push_str(&format!("${{{}}}", k + 1));
        rest = after.get(end + 1..).unwrap_or_default();
    }
    to.push_str(rest);
    Ok(Some(PathRewrite::Regex(re, to)))
}

fn params_of(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
        .collect()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The clusters as Envoy `static_resources.clusters` entries (JSON values; the CLI prints them as YAML).
pub fn envoy_clusters(clusters: &[ClusterSpec]) -> Vec<Value> {
    clusters
        .iter()
        .map(|c| match c {
            ClusterSpec::Lambda { name, arn, region } => {
                let host = format!("lambda.{region}.amazonaws.com");
                let mut v = endpoint_cluster(name, &host, 443, true);
                if let Some(m) = v.as_object_mut() {
                    m.insert(
                        "typed_extension_protocol_options".into(),
                        json!({
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                                "explicit_http_config": {"http_protocol_options": {}},
                                "http_filters": [
                                    {"name": "envoy.filters.http.aws_lambda",
                                     "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.Config",
                                        "arn": arn,
                                        "payload_passthrough": true,
                                        "invocation_mode": "SYNCHRONOUS"}},
                                    {"name": "envoy.filters.http.upstream_codec",
                                     "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"}}
                                ]
                            }
                        }),
                    );
                }
                v
            }
            ClusterSpec::Http {
                name,
                host,
                port,
                tls,
            } => endpoint_cluster(name, host, *port, *tls),
        })
        .collect()
}

fn endpoint_cluster(name: &str, host: &str, port: u16, tls: bool) -> Value {
    let mut v = json!({
        "name": name,
        "type": "LOGICAL_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": host, "port_value": port}}}}]}]
        }
    });
    if tls {
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "transport_socket".into(),
                json!({"name": "envoy.transport_sockets.tls", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    "sni": host}}),
            );
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_arns_from_uris() {
        assert_eq!(
            lambda_arn(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:F/invocations"
            )
            .as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:F")
        );
        assert_eq!(
            lambda_arn("arn:aws:lambda:us-east-2:123456789012:function:HelloWorld:prod").as_deref(),
            Some("arn:aws:lambda:us-east-2:123456789012:function:HelloWorld:prod")
        );
        assert_eq!(
            lambda_cluster_name("arn:aws:lambda:us-east-2:123456789012:function:HelloWorld:prod"),
            ("lambda_HelloWorld_prod".to_string(), "us-east-2".to_string())
        );
        assert_eq!(
            lambda_arn("arn:aws:apigateway:us-east-1:s3:path/bucket/key"),
            None,
            "an S3 service integration is not a Lambda function"
        );
    }

    fn rewrite(key: &str, path: &str, target: &str, renames: &[(&str, &str)]) -> Option<(String, String)> {
        let renames = renames
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        match path_rewrite(key, path, target, &renames).expect("rewrites") {
            None => None,
            Some(PathRewrite::Uri(u)) => Some((u, String::new())),
            Some(PathRewrite::Regex(r, t)) => Some((r, t)),
        }
    }

    #[test]
    fn backend_paths_put_the_route_parameters_where_the_uri_names_them() {
        // The same path: nothing to rewrite.
        assert_eq!(rewrite("GET /pets", "/pets", "/pets", &[]), None);
        // HTTP API PetStore example: a static backend path.
        assert_eq!(
            rewrite("GET /pets", "/pets", "/petstore/pets", &[]),
            Some(("/petstore/pets".into(), String::new()))
        );
        assert_eq!(
            rewrite(
                "GET /pets/{petId}",
                "/pets/{petId}",
                "/petstore/pets/{petId}",
                &[]
            ),
            Some(("^/pets/([^/]+)$".into(), "/petstore/pets/${1}".into()))
        );
        // REST PetStoreWithProxyResource: `{proxy}` of the uri is the route's `{proxy+}`.
        assert_eq!(
            rewrite(
                "ANY /{proxy+}",
                "/{proxy+}",
                "/petstore/{proxy}",
                &[("proxy", "proxy")]
            ),
            Some(("^/(.+)$".into(), "/petstore/${1}".into()))
        );
        // Renamed by requestParameters, and literal characters escaped.
        assert_eq!(
            rewrite(
                "GET /a.b/{x}/{y}",
                "/a.b/{x}/{y}",
                "/v/{second}/{x}",
                &[("second", "y")]
            ),
            Some(("^/a\\.b/([^/]+)/([^/]+)$".into(), "/v/${2}/${1}".into()))
        );
        let renames = BTreeMap::new();
        assert!(path_rewrite("GET /a", "/a", "/b/{nope}", &renames).is_err());
    }

    /// The authorizer examples of the developer guide's `x-amazon-apigateway-authorizer` page (HTTP APIs), as
    /// given there: each is named with what to use in Envoy instead, nothing is imported.
    #[test]
    fn authorizers_and_api_keys_are_named_with_what_to_do_instead() {
        let jwt = json!({"type": "oauth2", "x-amazon-apigateway-authorizer": {"type": "jwt",
            "jwtConfiguration": {"issuer": "https://cognito-idp.region.amazonaws.com/userPoolId",
                                 "audience": ["audience1", "audience2"]},
            "identitySource": "$request.header.Authorization"}});
        assert_eq!(
            scheme_advice(&jwt),
            "JWT authorizer (issuer \"https://cognito-idp.region.amazonaws.com/userPoolId\") not imported; use \
             Envoy's jwt_authn filter with that issuer and audience"
        );
        let lambda = json!({"type": "apiKey", "name": "Authorization", "in": "header",
            "x-amazon-apigateway-authorizer": {"type": "request",
                "identitySource": "$request.header.Authorization",
                "authorizerUri": "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/arn:aws:lambda:us-west-2:123456789012:function:function-name/invocations",
                "authorizerPayloadFormatVersion": "2.0", "authorizerResultTtlInSeconds": 300,
                "enableSimpleResponses": true}});
        assert!(
            scheme_advice(&lambda).starts_with("Lambda authorizer (request, \"arn:aws:apigateway:us-west-2")
        );
        assert!(scheme_advice(&lambda).contains("ext_authz"));
        let key = json!({"type": "apiKey", "name": "x-api-key", "in": "header"});
        assert!(scheme_advice(&key).starts_with(
            "API keys in `x-api-key` (usage plans): the routes that require one get `key-auth` on header \
             `x-api-key`"
        ));
        let iam = json!({"type": "apiKey", "name": "Authorization", "in": "header",
                         "x-amazon-apigateway-authtype": "awsSigv4"});
        assert!(scheme_advice(&iam).starts_with("IAM authorization (SigV4) not imported"));
    }

    /// A method that requires an API key (`security: [{"api_key": []}]`, as REST exports write it) keeps the
    /// requirement: `key-auth` on `x-api-key`, 401 until consumers are added. An authorizer cannot be kept:
    /// the route fails closed, `key-auth` on `authorization` with no consumer (401 to every request), and
    /// the notes say which route, why and how to open it.
    #[test]
    fn an_api_key_requirement_is_kept_and_an_authorizer_closes_the_route() {
        let doc = json!({"openapi": "3.0.1", "info": {"title": "k", "version": "1"}, "paths": {
            "/a": {"get": {"security": [{"api_key": []}], "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/a"}}},
            "/b": {"get": {"security": [{"jwt": []}], "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/b"}}}}});
        let out = import_doc(&doc);
        let api = out.imported.config.apis[0].get().expect("api");
        let a = api.routes[0].get().expect("route");
        assert_eq!(
            a.plugins.get("key-auth"),
            Some(&json!({"header": "x-api-key", "query": "x-api-key", "hide_credentials": false}))
        );
        let b = api.routes[1].get().expect("route");
        assert_eq!(b.key.as_deref(), Some("GET /b"));
        assert_eq!(b.plugins.get("key-auth"), Some(&closed_key_auth()));
        // Still routed to its backend: only the check is missing, not the route.
        assert!(
            matches!(&b.integration, Some(IntegrationConfig::Http { cluster }) if cluster == "http_b.example.com_443")
        );
        assert!(out.imported.config.consumers.is_empty());
        let notes = &out.imported.notes;
        assert!(notes.iter().any(|n| n.starts_with(
            "paths./b.get: security [{\"jwt\":[]}]: not enforced by routewise, so the route is CLOSED: \
             `key-auth` on header `authorization`"
        ) && n.contains("401 {\"message\":\"Unauthorized\"}")
            && n.contains("--open-protected-routes")));
        assert!(notes.iter().any(|n| n.starts_with(
            "1 route(s) CLOSED (401 to every request) because API Gateway protects them with a check routewise \
             cannot make: `GET /b`;"
        )));
        assert!(!notes.iter().any(|n| n.contains("OPEN")), "{notes:#?}");
    }

    /// A closed route stays closed once the config gets consumers (for the API-key routes): a consumer's
    /// valid key opens the API-key route and is still 401 on the closed one, in the header or the query
    /// (`allowed_consumers: []`, G2).
    #[test]
    fn a_closed_route_stays_closed_to_consumers_added_later() {
        use routewise::decision::Decision;
        use routewise::engine::Engine;
        use routewise::request::RequestView;
        use sha2::{Digest, Sha256};
        let doc = json!({"openapi": "3.0.1", "info": {"title": "k", "version": "1"}, "paths": {
            "/a": {"get": {"security": [{"api_key": []}], "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/a"}}},
            "/b": {"get": {"security": [{"jwt": []}], "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/b"}}}}});
        let out = import_doc(&doc);
        let mut config = serde_json::to_value(&out.imported.config).expect("serialises");
        let digest: String = Sha256::digest(b"k1").iter().map(|b| format!("{b:02x}")).collect();
        config["consumers"] = json!([{"username": "jack", "plugins": {"key-auth": {"key_sha256": digest}}}]);
        let engine = Engine::from_json(&config.to_string()).expect("valid");
        let status = |path: &str, headers: &[(&str, &str)]| {
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let req = RequestView {
                method: "GET",
                authority: "api.example.com",
                path,
                headers: &headers,
                remote_addr: None,
            };
            match engine.evaluate(&req) {
                Decision::Forward(_) => 200,
                Decision::LocalReply(r) => r.status,
            }
        };
        assert_eq!(status("/a", &[("x-api-key", "k1")]), 200);
        assert_eq!(status("/b", &[("authorization", "k1")]), 401);
        assert_eq!(status("/b?authorization=k1", &[]), 401);
        assert_eq!(status("/b", &[]), 401);
    }

    fn closed_key_auth() -> Value {
        json!({"header": "authorization", "query": "authorization", "hide_credentials": true,
               "allowed_consumers": []})
    }

    fn import_with(doc: &Value, open_protected_routes: bool) -> OpenApiImported {
        import(&OpenApiImport {
            text: &doc.to_string(),
            domain_name: "*",
            base_path: "",
            api_id: None,
            stage: None,
            stage_variables: &[],
            open_protected_routes,
        })
        .expect("imports")
    }

    fn route_plugins(out: &OpenApiImported, k: usize) -> BTreeMap<String, Value> {
        let api = out.imported.config.apis[0].get().expect("api");
        api.routes[k].get().expect("route").plugins.clone()
    }

    /// Every kind of protection routewise cannot check closes the route: a Lambda authorizer, IAM
    /// (`awsSigv4`), Cognito, a JWT authorizer, `x-amazon-apigateway-auth` other than `NONE`, and an API key
    /// required together with one of them (key-auth on `x-api-key` would let any key holder in); the
    /// document's requirement applies to operations without their own. `NONE`, `[]` and `[{}]` stay open.
    #[test]
    fn every_protection_routewise_cannot_check_closes_the_route() {
        let op = |extra: Value| {
            let mut o = json!({"x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "ANY", "uri": "http://b.example.com/"}});
            if let (Some(o), Some(e)) = (o.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            o
        };
        let doc = json!({"swagger": "2.0", "info": {"title": "k"},
            "security": [{"sigv4": []}],
            "securityDefinitions": {
                "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
                "sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                          "x-amazon-apigateway-authtype": "awsSigv4"},
                "tok": {"type": "apiKey", "name": "Authorization", "in": "header",
                        "x-amazon-apigateway-authtype": "custom",
                        "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": "arn:x"}},
                "pool": {"type": "apiKey", "name": "Authorization", "in": "header",
                         "x-amazon-apigateway-authtype": "cognito_user_pools",
                         "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools"}}},
            "paths": {
                "/lambda": {"get": op(json!({"security": [{"tok": []}]}))},
                "/iam": {"get": op(json!({"security": [{"sigv4": []}]}))},
                "/cognito": {"get": op(json!({"security": [{"pool": ["email"]}]}))},
                "/key-and-authorizer": {"get": op(json!({"security": [{"api_key": [], "tok": []}]}))},
                "/document": {"get": op(json!({}))},
                "/auth-iam": {"get": op(json!({"security": [], "x-amazon-apigateway-auth": {"type": "AWS_IAM"}}))},
                "/auth-none": {"get": op(json!({"security": [], "x-amazon-apigateway-auth": {"type": "NONE"}}))},
                "/none": {"get": op(json!({"security": []}))},
                "/anonymous": {"get": op(json!({"security": [{}]}))},
                "/key": {"get": op(json!({"security": [{"api_key": []}]}))}}});
        let out = import_with(&doc, false);
        let api = out.imported.config.apis[0].get().expect("api");
        let by_key: BTreeMap<String, Option<Value>> = api
            .routes
            .iter()
            .map(|r| {
                let r = r.get().expect("route");
                (
                    r.key.clone().unwrap_or_default(),
                    r.plugins.get("key-auth").cloned(),
                )
            })
            .collect();
        let closed = Some(closed_key_auth());
        for k in [
            "lambda",
            "iam",
            "cognito",
            "key-and-authorizer",
            "document",
            "auth-iam",
        ] {
            assert_eq!(by_key[&format!("GET /{k}")], closed, "GET /{k} is closed");
        }
        for k in ["auth-none", "none", "anonymous"] {
            assert_eq!(by_key[&format!("GET /{k}")], None, "GET /{k} is open");
        }
        assert_eq!(
            by_key["GET /key"],
            Some(json!({"header": "x-api-key", "query": "x-api-key", "hide_credentials": false}))
        );
        let notes = &out.imported.notes;
        assert!(notes.iter().any(|n| n.starts_with(
            "paths./auth-iam.get.x-amazon-apigateway-auth {\"type\":\"AWS_IAM\"}: not enforced by routewise, so \
             the route is CLOSED"
        )));
        assert!(notes.iter().any(|n| n.starts_with(
            "paths./key-and-authorizer.get: security [{\"api_key\":[],\"tok\":[]}]: not enforced"
        ) && n.contains(
            "its API key requirement (`key-auth` on `x-api-key`) comes back with --open-protected-routes"
        )));
        assert!(notes.iter().any(|n| n.starts_with("6 route(s) CLOSED")
            && n.contains("`GET /lambda`")
            && n.contains("`GET /auth-iam`")
            && !n.contains("`GET /none`")));
    }

    /// `--open-protected-routes` restores the open import for users who authenticate in Envoy: no closing
    /// key-auth, an API key's key-auth kept, and a note per route saying it is open.
    #[test]
    fn open_protected_routes_imports_them_open_and_says_so() {
        let doc = json!({"openapi": "3.0.1", "info": {"title": "k", "version": "1"}, "paths": {
            "/b": {"get": {"security": [{"jwt": []}], "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/b"}}},
            "/c": {"get": {"security": [{"api_key": [], "jwt": []}], "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/c"}}},
            "/d": {"get": {"x-amazon-apigateway-auth": {"type": "AWS_IAM"}, "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/d"}}}}});
        let out = import_with(&doc, true);
        assert!(!route_plugins(&out, 0).contains_key("key-auth"));
        assert_eq!(
            route_plugins(&out, 1).get("key-auth"),
            Some(&json!({"header": "x-api-key", "query": "x-api-key", "hide_credentials": false}))
        );
        assert!(!route_plugins(&out, 2).contains_key("key-auth"));
        let notes = &out.imported.notes;
        assert!(notes.iter().any(|n| n.starts_with(
            "paths./b.get: security [{\"jwt\":[]}]: not imported, the route is OPEN in routewise \
             (--open-protected-routes)"
        )));
        assert!(notes.iter().any(|n| n.starts_with(
            "paths./d.get.x-amazon-apigateway-auth {\"type\":\"AWS_IAM\"}: not imported, the route is OPEN"
        )));
        assert!(!notes.iter().any(|n| n.contains("CLOSED")), "{notes:#?}");
    }

    fn import_doc(doc: &Value) -> OpenApiImported {
        import(&OpenApiImport {
            text: &doc.to_string(),
            domain_name: "*",
            base_path: "",
            api_id: None,
            stage: None,
            stage_variables: &[],
            open_protected_routes: false,
        })
        .expect("imports")
    }

    fn lambda_of(out: &OpenApiImported, k: usize) -> LambdaIntegrationConfig {
        let api = out.imported.config.apis[0].get().expect("api");
        match &api.routes[k].get().expect("route").integration {
            Some(IntegrationConfig::Lambda(l)) => l.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// lambda.md: a REST API's Lambda proxy integration sends 1.0 events; an HTTP API's sends the version its
    /// `payloadFormatVersion` says, written as a string or a number (as the guide's examples do both).
    #[test]
    fn payload_format_versions_follow_the_kind_of_api() {
        let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f/invocations";
        let http = |v: Value| {
            json!({"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
                   "x-amazon-apigateway-importexport-version": "1.0",
                   "paths": {"/a": {"get": {"x-amazon-apigateway-integration":
                       {"type": "AWS_PROXY", "uri": uri, "payloadFormatVersion": v}}}}})
        };
        assert_eq!(
            lambda_of(&import_doc(&http(json!("2.0"))), 0).payload_format_version,
            "2.0"
        );
        assert_eq!(
            lambda_of(&import_doc(&http(json!(2.0))), 0).payload_format_version,
            "2.0"
        );
        assert_eq!(
            lambda_of(&import_doc(&http(json!(1.0))), 0).payload_format_version,
            "1.0"
        );
        let rest = json!({"swagger": "2.0", "info": {"title": "t"}, "paths": {"/a": {"get": {
            "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": uri}}}}});
        let out = import_doc(&rest);
        assert_eq!(lambda_of(&out, 0).payload_format_version, "1.0");
        assert_eq!(lambda_of(&out, 0).timeout_ms, 29_000);
        assert_eq!(
            out.clusters,
            [ClusterSpec::Lambda {
                name: "lambda_f".into(),
                arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
                region: "us-east-1".into()
            }]
        );
    }

    /// OpenAPI: an operation without `security` has the document's; an API key required there is kept on
    /// every such route, and an operation's own empty requirement (`[]`) opens it.
    #[test]
    fn the_document_security_requirement_applies_to_operations_without_their_own() {
        let doc = json!({"openapi": "3.0.1", "info": {"title": "k", "version": "1"},
            "security": [{"api_key": []}], "paths": {
            "/a": {"get": {"x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/a"}}},
            "/b": {"get": {"security": [], "x-amazon-apigateway-integration":
                {"type": "http_proxy", "httpMethod": "GET", "uri": "https://b.example.com/b"}}}}});
        let out = import_doc(&doc);
        let api = out.imported.config.apis[0].get().expect("api");
        assert!(api.routes[0]
            .get()
            .expect("route")
            .plugins
            .contains_key("key-auth"));
        assert!(!api.routes[1]
            .get()
            .expect("route")
            .plugins
            .contains_key("key-auth"));
    }

    #[test]
    fn stage_variables_are_substituted_or_named() {
        let vars = [("url".to_string(), "backend.internal".to_string())];
        let v =
            json!({"uri": "http://${stageVariables.url}/x", "connectionId": "${stageVariables.vpcLinkId}"});
        assert_eq!(
            substitute_stage_variables(&vars, v.clone()).unwrap_err(),
            ["`vpcLinkId`"]
        );
        let v = json!({"uri": "http://${stageVariables.url}/x"});
        assert_eq!(
            substitute_stage_variables(&vars, v).unwrap(),
            json!({"uri": "http://backend.internal/x"})
        );
    }
}
