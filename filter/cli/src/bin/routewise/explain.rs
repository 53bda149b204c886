//! `routewise explain CONFIG --request REQ.json [--json] [--all]`: E1 for one request, computed by the
//! filter's own engine (see `routewise::explain`).
//!
//! REQ.json: `{"method": "GET", "authority": "api.example.com", "path": "/x?y=1",
//! "headers": [["name", "value"]], "remote_addr": "10.0.0.1"}` (headers may repeat a name).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use routewise::engine::Engine;
use routewise::explain::{self, Options, RequestSpec};
use routewise::pipeline::FilterConfig;

use crate::input;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The routewise configuration (JSON); `-` reads standard input.
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// The request: {"method", "authority", "path", "headers": [[name, value]], "remote_addr"}.
    #[arg(long, value_name = "REQ.json")]
    request: PathBuf,
    /// Print the explanation as JSON (domain, rule, mapping, api, stage, route, status, upstream,
    /// candidates, plugins, ...).
    #[arg(long)]
    json: bool,
    /// Also list the routes whose path does not match the request.
    #[arg(long)]
    all: bool,
}

pub fn run(args: ExplainArgs) -> ExitCode {
    let text = match input::read_text(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("routewise explain: {e}");
            return ExitCode::from(2);
        }
    };
    let engine = match Engine::from_json(&text) {
        Ok(e) => e,
        Err(errors) => {
            eprintln!(
                "routewise explain: {} is not a valid configuration:",
                input::display(&args.config)
            );
            eprintln!("{errors}");
            return ExitCode::from(1);
        }
    };
    let spec: RequestSpec = match input::read_text(&args.request)
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", input::display(&args.request))))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("routewise explain: {e}");
            return ExitCode::from(2);
        }
    };
    let config = FilterConfig::new(engine);
    let x = explain::explain(&config, &spec, Options { all_routes: args.all });
    let text = if args.json {
        match serde_json::to_string_pretty(&x) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("routewise explain: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        x.render_text()
    };
    match input::print(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("routewise explain: {e}");
            ExitCode::from(2)
        }
    }
}
