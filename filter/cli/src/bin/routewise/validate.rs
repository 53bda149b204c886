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
            Ok((engine, notes)) if !notes.is_empty() => {
                json!({"valid": true, "errors": [], "notes": notes, "summary": engine.summary()})
            }
            Ok((engine, _)) => json!({"valid": true, "errors": [], "summary": engine.summary()}),
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
            Ok((engine, notes)) => {
                for note in notes {
                    text.push_str(&format!("note: {note}\n"));
                }
                text.push_str(&format!("{name}: valid ({})\n", engine.summary()));
            }
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
/// (`FilterConfig::from_bytes_for`; today `response_transfer_mode: "STREAM"`, which only the dynamic module
/// loads), and validate must not accept what Envoy then refuses. Otherwise every build's errors, each with
/// its field path. With the engine, one note per build that refuses the config, naming the builds that
/// load it and the refusing build's reasons.
fn loadable(text: &str, engine: Engine) -> Result<(Engine, Vec<String>), ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut refused = Vec::new();
    let mut loads = Vec::new();
    for build in [Build::ProxyWasm, Build::DynamicModule] {
        match FilterConfig::from_bytes_for(text.as_bytes(), build) {
            Err(Rejected::Invalid(e)) => {
                refused.push((build, e.0.iter().map(|e| e.to_string()).collect::<Vec<_>>()));
                errors.0.extend(e.0);
            }
            _ => loads.push(build),
        }
    }
    if loads.is_empty() {
        return Err(errors);
    }
    let only = loads
        .iter()
        .map(|b| b.as_str())
        .collect::<Vec<_>>()
        .join(" and the ");
    let notes = refused
        .into_iter()
        .map(|(build, reasons)| {
            format!(
                "only the {only} loads this config; the {} refuses it: {}",
                build.as_str(),
                reasons.join("; ")
            )
        })
        .collect();
    Ok((engine, notes))
}
