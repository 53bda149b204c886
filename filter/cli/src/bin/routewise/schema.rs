//! `routewise schema`: the JSON Schema of the configuration document, generated from the Rust types of
//! `routewise::config` (schemars), so it always describes exactly what the filter parses.
//!
//! ```text
//! routewise schema > routewise.schema.json
//! ```

use std::process::ExitCode;

use clap::Args;
use routewise::config::Config;

#[derive(Debug, Args)]
pub struct SchemaArgs {}

pub fn run(_args: SchemaArgs) -> ExitCode {
    let schema = schemars::schema_for!(Config);
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => match crate::input::print(&format!("{text}\n")) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("routewise schema: {e}");
                ExitCode::from(2)
            }
        },
        Err(e) => {
            eprintln!("routewise schema: {e}");
            ExitCode::from(2)
        }
    }
}
