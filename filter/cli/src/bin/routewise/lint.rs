//! `routewise lint CONFIG [--json]`: E2, what a valid configuration still gets wrong (see
//! `routewise::lint`): shadowed rules and routes, mappings hidden by rules, file-order ties under the APISIX
//! routers, `$default` next to `ANY /{proxy+}`, inherited hosts. Exit 1 when there is an error-level finding
//! (or the config is invalid), 0 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use routewise::engine::Engine;
use routewise::lint::{self, Level};

use crate::input;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The routewise configuration (JSON); `-` reads standard input.
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// Print the findings as JSON: [{"level", "code", "scope", "ids", "message", "fix"}].
    #[arg(long)]
    json: bool,
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Info => "info",
    }
}

pub fn run(args: LintArgs) -> ExitCode {
    let text = match input::read_text(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("routewise lint: {e}");
            return ExitCode::from(2);
        }
    };
    let name = input::display(&args.config);
    let engine = match Engine::from_json(&text) {
        Ok(e) => e,
        Err(errors) => {
            eprintln!("routewise lint: {name} is not a valid configuration (see `routewise validate`):");
            eprintln!("{errors}");
            return ExitCode::from(1);
        }
    };
    let findings = lint::lint(&engine);
    let out = if args.json {
        serde_json::to_string_pretty(&findings).unwrap_or_default() + "\n"
    } else {
        let mut out = String::new();
        for f in &findings {
            out.push_str(&format!(
                "{}[{}] {}: {}\n  fix: {}\n",
                level_name(f.level),
                f.code,
                f.scope,
                f.message,
                f.fix
            ));
        }
        let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        out.push_str(&format!(
            "{name}: {}, {}, {}\n",
            plural(count(Level::Error), "error"),
            plural(count(Level::Warning), "warning"),
            plural(count(Level::Info), "note")
        ));
        out
    };
    if let Err(e) = input::print(&out) {
        eprintln!("routewise lint: {e}");
        return ExitCode::from(2);
    }
    if findings.iter().any(|f| f.level == Level::Error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
