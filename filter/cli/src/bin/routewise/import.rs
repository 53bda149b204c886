//! `routewise import aws|apisix`: an existing configuration as a routewise config on standard output (see
//! `routewise_cli::import`). What the source has that routewise does not carry is listed on standard error.
//!
//! ```text
//! aws apigatewayv2 list-routing-rules --domain-name api.example.com > rules.json
//! aws apigatewayv2 get-api-mappings --domain-name api.example.com > mappings.json
//! routewise import aws --domain-name api.example.com --routing-mode ROUTING_RULE_THEN_API_MAPPING \
//!     --rules rules.json --mappings mappings.json > routewise.json
//! routewise import apisix apisix.yaml [--router radixtree_uri|radixtree_host_uri] > routewise.json
//! aws apigateway get-export --rest-api-id ID --stage-name prod --export-type oas30 \
//!     --parameters extensions=integrations export.json
//! routewise import openapi export.json [--envoy-clusters clusters.yaml] [--open-protected-routes] > routewise.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use routewise::config::{RouterKind, RoutingMode};
use routewise_cli::import::apisix::{self, ApisixImport};
use routewise_cli::import::aws::{self, AwsImport, DEFAULT_CLUSTER_TEMPLATE};
use routewise_cli::import::openapi::{self, OpenApiImport};
use routewise_cli::import::{ImportErrors, Imported};

use crate::input;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An API Gateway custom domain name: the output of `aws apigatewayv2 list-routing-rules` and
    /// `get-api-mappings`.
    Aws(AwsArgs),
    /// APISIX routes, services and consumers: standalone apisix.yaml, or Admin API JSON.
    Apisix(ApisixArgs),
    /// An API Gateway OpenAPI export (REST: `aws apigateway get-export --export-type oas30|swagger
    /// --parameters extensions=integrations`; HTTP API: `aws apigatewayv2 export-api --specification OAS30`).
    Openapi(OpenApiArgs),
}

#[derive(Debug, Args)]
pub struct OpenApiArgs {
    /// The export, JSON or YAML (`-`: standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Also write the Envoy clusters the config names (Lambda clusters with the aws_lambda upstream filter,
    /// HTTP clusters) to this file, as YAML for `static_resources.clusters`.
    #[arg(long, value_name = "CLUSTERS.yaml")]
    envoy_clusters: Option<PathBuf>,
    /// The domain serving the API (`*`: any host).
    #[arg(long, value_name = "NAME", default_value = "*")]
    domain_name: String,
    /// Base path of the API mapping on that domain (default: none, the API's paths as they are).
    #[arg(long, value_name = "PATH", default_value = "")]
    base_path: String,
    /// The API's id (default: the export's info.title).
    #[arg(long, value_name = "ID")]
    api_id: Option<String>,
    /// The stage's name (default: the export's stage, else $default).
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,
    /// A stage variable (repeatable): substituted for `${stageVariables.NAME}` in the integrations and passed
    /// to Lambda as stageVariables.
    #[arg(long = "stage-variable", value_name = "NAME=VALUE", value_parser = parse_var)]
    stage_variables: Vec<(String, String)>,
    /// Import the routes API Gateway protects with an authorizer, IAM, Cognito or JWT without any check, as
    /// open routes. Only when Envoy authenticates them in front of routewise (jwt_authn, ext_authz); by
    /// default they are closed (401 to every request).
    #[arg(long)]
    open_protected_routes: bool,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| "NAME=VALUE".to_string())
}

#[derive(Debug, Args)]
pub struct ApisixArgs {
    /// apisix.yaml (standalone mode) or a JSON/YAML document with `routes`, `services`, `consumers`,
    /// `upstreams` (lists or Admin API answers); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// APISIX's `apisix.router.http`: radixtree_host_uri (the default since APISIX 3.0) or radixtree_uri.
    /// Selects the routewise compatibility router of the same name (P6).
    #[arg(long, value_name = "ROUTER", default_value = "radixtree_host_uri", value_parser = parse_router)]
    router: RouterKind,
}

fn parse_router(s: &str) -> Result<RouterKind, String> {
    match s {
        "radixtree_uri" => Ok(RouterKind::ApisixRadixtreeUri),
        "radixtree_host_uri" => Ok(RouterKind::ApisixRadixtreeHostUri),
        _ => {
            Err("radixtree_uri or radixtree_host_uri (radixtree_uri_with_parameter is not reproduced)".into())
        }
    }
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// The custom domain name (`api.example.com`).
    #[arg(long, value_name = "NAME")]
    domain_name: String,
    /// API_MAPPING_ONLY, ROUTING_RULE_THEN_API_MAPPING or ROUTING_RULE_ONLY (`aws apigatewayv2
    /// get-domain-name` shows it as RoutingMode); the REST API names `aws apigateway get-domain-name` shows,
    /// BASE_PATH_MAPPING_ONLY and ROUTING_RULE_THEN_BASE_PATH_MAPPING, are the same modes.
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    routing_mode: RoutingMode,
    /// The output of `aws apigatewayv2 list-routing-rules --domain-name NAME` (`-`: standard input).
    #[arg(long, value_name = "RULES.json")]
    rules: Option<PathBuf>,
    /// The output of `aws apigatewayv2 get-api-mappings --domain-name NAME`.
    #[arg(long, value_name = "MAPPINGS.json")]
    mappings: Option<PathBuf>,
    /// The Envoy cluster of each API stage; `{api}` and `{stage}` are replaced.
    #[arg(long, value_name = "TEMPLATE", default_value = DEFAULT_CLUSTER_TEMPLATE)]
    cluster: String,
}

fn parse_mode(s: &str) -> Result<RoutingMode, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        "one of API_MAPPING_ONLY, ROUTING_RULE_THEN_API_MAPPING, ROUTING_RULE_ONLY (or the REST API names \
             BASE_PATH_MAPPING_ONLY, ROUTING_RULE_THEN_BASE_PATH_MAPPING)"
            .to_string()
    })
}

pub fn run(cmd: ImportCommand) -> ExitCode {
    match cmd {
        ImportCommand::Aws(args) => run_aws(args),
        ImportCommand::Apisix(args) => run_apisix(args),
        ImportCommand::Openapi(args) => run_openapi(args),
    }
}

fn run_openapi(args: OpenApiArgs) -> ExitCode {
    let text = match input::read_text(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("routewise import openapi: {e}");
            return ExitCode::from(2);
        }
    };
    let result = openapi::import(&OpenApiImport {
        text: &text,
        domain_name: &args.domain_name,
        base_path: &args.base_path,
        api_id: args.api_id.as_deref(),
        stage: args.stage.as_deref(),
        stage_variables: &args.stage_variables,
        open_protected_routes: args.open_protected_routes,
    });
    let result = match result {
        Ok(out) => {
            if let Some(path) = &args.envoy_clusters {
                let clusters = openapi::envoy_clusters(&out.clusters);
                let yaml = match serde_norway::to_string(&serde_json::json!({ "clusters": clusters })) {
                    Ok(y) => y,
                    Err(e) => {
                        eprintln!("routewise import openapi: clusters: {e}");
                        return ExitCode::from(2);
                    }
                };
                let text = format!(
                    "# Envoy clusters for the config printed by `routewise import openapi` (static_resources).\n\
                     # Lambda clusters sign with Envoy's AWS credential chain (environment, profile, instance or\n\
                     # pod role); scripts/run --config replaces all of them with local ones.\n{yaml}"
                );
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("routewise import openapi: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            Ok(out.imported)
        }
        Err(e) => Err(e),
    };
    finish("openapi", result)
}

fn run_apisix(args: ApisixArgs) -> ExitCode {
    let text = match input::read_text(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("routewise import apisix: {e}");
            return ExitCode::from(2);
        }
    };
    finish(
        "apisix",
        apisix::import(&ApisixImport {
            text: &text,
            router: args.router,
        }),
    )
}

fn read(path: &Option<PathBuf>) -> Result<Option<String>, String> {
    path.as_ref().map(|p| input::read_text(p)).transpose()
}

fn run_aws(args: AwsArgs) -> ExitCode {
    let (rules, mappings) = match (read(&args.rules), read(&args.mappings)) {
        (Ok(r), Ok(m)) => (r, m),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("routewise import aws: {e}");
            return ExitCode::from(2);
        }
    };
    let result = aws::import(&AwsImport {
        domain_name: &args.domain_name,
        routing_mode: args.routing_mode,
        rules: rules.as_deref(),
        mappings: mappings.as_deref(),
        cluster_template: &args.cluster,
    });
    finish("aws", result)
}

fn finish(what: &str, result: Result<Imported, ImportErrors>) -> ExitCode {
    match result {
        Ok(imported) => {
            for n in &imported.notes {
                eprintln!("note: {n}");
            }
            match input::print(&(imported.to_json_pretty() + "\n")) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("routewise import {what}: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("routewise import {what}: {e}");
            }
            ExitCode::from(1)
        }
    }
}
