//! `routewise`: the filter's command-line tool. A thin dispatcher: each subcommand lives in its own module
//! (`image.rs`, ...) with its clap `Args`/`Subcommand` type and a `run` that returns the exit code, and does
//! its work through the library (`routewise::*`), so tests call the same code without the binary.
//!
//! Native only, and never linked into the `.wasm` or the `.so` Envoy loads (their crates do not depend on it).

mod explain;
mod image;
mod import;
mod input;
mod lint;
mod schema;
mod validate;

mod cli {
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};

    use crate::{explain, image, import, lint, schema, validate};

    /// routewise: API Gateway / APISIX style routing and AWS Lambda integration for Envoy (proxy-wasm).
    #[derive(Debug, Parser)]
    #[command(name = "routewise", version, about, propagate_version = true)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, Subcommand)]
    enum Command {
        /// The filter as an OCI image (compat variant) for Istio WasmPlugin and Envoy Gateway.
        #[command(subcommand)]
        Image(image::ImageCommand),
        /// Check a configuration as the filter does; print every error with its field path.
        Validate(validate::ValidateArgs),
        /// Explain how a request is routed: each layer's candidates and why they won or lost (E1).
        Explain(explain::ExplainArgs),
        /// Find rules and routes that can never match, hidden mappings, file-order ties, overlaps (E2).
        Lint(lint::LintArgs),
        /// Convert an existing configuration (API Gateway, APISIX) into a routewise config.
        #[command(subcommand)]
        Import(import::ImportCommand),
        /// Print the JSON Schema of the configuration (generated from the filter's config types).
        Schema(schema::SchemaArgs),
    }

    pub fn main() -> ExitCode {
        match Cli::parse().command {
            Command::Image(cmd) => image::run(cmd),
            Command::Validate(args) => validate::run(args),
            Command::Explain(args) => explain::run(args),
            Command::Lint(args) => lint::run(args),
            Command::Import(cmd) => import::run(cmd),
            Command::Schema(args) => schema::run(args),
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::main()
}
