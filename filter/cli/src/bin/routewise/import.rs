//! `routewise import aws|apisix`: an existing configuration as a routewise config on standard output (see
//! `routewise_cli::import`). What the source has that routewise does not carry is listed on standard error.
//!
//! ```text
//! aws apigatewayv2 list-routing-rules --domain-name api.example.com > rules.json
//! aws apigatewayv2 get-api-mappings --domain-name api.example.com > mappings.json
//! routewise import aws --domain-name api.example.com --routing-mode ROUTING_RULE_THEN_API_MAPPING \
//!     --rules rules.json --mappings mappings.json > routewise.json
//! routewise import apisix apisix.yaml [--router radixtree_uri|radixtree_host_uri] > routewise.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use routewise::config::{RouterKind, RoutingMode};
use routewise_cli::import::apisix::{self, ApisixImport};
use routewise_cli::import::aws::{self, AwsImport, DEFAULT_CLUSTER_TEMPLATE};
use routewise_cli::import::{ImportErrors, Imported};

use crate::input;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An API Gateway custom domain name: the output of `aws apigatewayv2 list-routing-rules` and
    /// `get-api-mappings`.
    Aws(AwsArgs),
    /// APISIX routes, services and consumers: standalone apisix.yaml, or Admin API JSON.
    Apisix(ApisixArgs),
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
    }
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
