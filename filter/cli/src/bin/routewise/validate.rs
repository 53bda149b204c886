//! `routewise validate CONFIG`: the filter's own configuration check (`Engine::from_json`, the code
//! `on_configure` runs in Envoy), with every error on its own line as `{path}: {message}`.
//!
//! ```text
//! routewise validate config.json          # exit 0: valid; 1: errors listed; 2: unreadable file
//! routewise validate --json config.json   # {"valid": false, "errors": [{"path": ..., "message": ...}]}
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use routewise::engine::Engine;
use routewise::error::ConfigErrors;
use routewise::pipeline::{Build, FilterConfig, Rejected};
use serde_json::json;

use crate::input;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The routewise configuration (JSON, the filter's `configuration` value); `-` reads standard input.
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// Print the result as JSON: {"valid": bool, "errors": [{"path", "message"}], "summary": ...}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ValidateArgs) -> ExitCode {
    let text = match input::read_text(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("routewise validate: {e}");
            return ExitCode::from(2);
        }
    };
    let name = input::display(&args.config);
    let result = Engine::from_json(&text).and_then(|engine| loadable(&text, engine));
    let mut text = String::new();
    if args.json {
        let doc = match &result {
            Ok(engine) => json!({"valid": true, "errors": [], "summary": engine.summary()}),
            Err(errors) => json!({
                "valid": false,
                "errors": errors.iter().map(|e| json!({"path": e.path, "message": e.kind.to_string()}))
                    .collect::<Vec<_>>(),
                "summary": null,
            }),
        };
        text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    } else {
        match &result {
            Ok(engine) => text = format!("{name}: valid ({})\n", engine.summary()),
            Err(errors) => {
                for e in errors.iter() {
                    text.push_str(&format!("{e}\n"));
                }
                let n = errors.0.len();
                text.push_str(&format!("{name}: {n} error{}\n", if n == 1 { "" } else { "s" }));
            }
        }
    }
    if let Err(e) = input::print(&text) {
        eprintln!("routewise validate: {e}");
        return ExitCode::from(2);
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The engine, if at least one build can load the config: the builds refuse what their ABI cannot do
/// (`FilterConfig::from_bytes_for`; today `response_transfer_mode: "STREAM"` in both), and validate must
/// not accept what Envoy then refuses. Otherwise every build's errors, each with its field path.
fn loadable(text: &str, engine: Engine) -> Result<Engine, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    for build in [Build::ProxyWasm, Build::DynamicModule] {
        match FilterConfig::from_bytes_for(text.as_bytes(), build) {
            Err(Rejected::Invalid(e)) => errors.0.extend(e.0),
            _ => return Ok(engine),
        }
    }
    Err(errors)
}
