//! Bringing existing configurations across: [`aws`] (an API Gateway custom domain name as the AWS CLI prints
//! it), [`openapi`] (an API Gateway API's OpenAPI export) and [`apisix`] (APISIX routes, services and
//! consumers, on the P6 compatibility routers). Each importer is a pure transformation into the
//! [`routewise::config`] types; the result is validated by the engine before it is returned, so an import
//! either yields a config the filter accepts or says why not.
//!
//! Native only (the CLI's `routewise import`).

pub mod apisix;
pub mod aws;
pub mod openapi;

use std::fmt;

use serde_json::Value;

use routewise::config::Config;
use routewise::engine::Engine;

/// A successful import: the config, and what the source had that the config does not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The routewise configuration.
    pub config: Config,
    /// Things not imported or changed on the way, one per line, naming where they are in the input.
    pub notes: Vec<String>,
}

impl Imported {
    /// The config as pretty JSON without the fields that only restate a default (empty lists and maps,
    /// absent optional values), so the output reads like a hand-written config.
    pub fn to_json_pretty(&self) -> String {
        let mut v = serde_json::to_value(&self.config).unwrap_or(Value::Null);
        prune(&mut v);
        let mut out = String::new();
        write_ordered(&mut out, &v, 0);
        out
    }
}

/// Keys in the order of the config types' fields (a `Value` map is sorted by name); others follow, sorted.
const KEY_ORDER: [&str; 40] = [
    "cluster_header",
    "domains",
    "name",
    "routing_mode",
    "id",
    "type",
    "username",
    "priority",
    "key",
    "paths",
    "methods",
    "hosts",
    "vars",
    "remote_addrs",
    "service",
    "conditions",
    "headers",
    "header",
    "value_glob",
    "base_path",
    "action",
    "invoke_api",
    "api",
    "stage",
    "strip_base_path",
    "routing_rules",
    "api_mappings",
    "no_match_status",
    "router",
    "stages",
    "variables",
    "integration",
    "cluster",
    "payload_format_version",
    "services",
    "plugins",
    "routes",
    "apis",
    "consumers",
    "status",
];

fn key_rank(k: &str) -> (usize, &str) {
    (
        KEY_ORDER.iter().position(|o| *o == k).unwrap_or(KEY_ORDER.len()),
        k,
    )
}

/// Pretty JSON (two-space indent, like `serde_json::to_string_pretty`) with object keys in [`KEY_ORDER`].
fn write_ordered(out: &mut String, v: &Value, depth: usize) {
    let pad = |out: &mut String, d: usize| out.extend(std::iter::repeat_n("  ", d));
    match v {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| key_rank(k));
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                pad(out, depth + 1);
                out.push_str(&Value::from(k.as_str()).to_string());
                out.push_str(": ");
                if let Some(item) = map.get(*k) {
                    write_ordered(out, item, depth + 1);
                }
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(out, depth + 1);
                write_ordered(out, item, depth + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Fields that are required even when empty.
const REQUIRED: [&str; 2] = ["domains", "stages"];
/// Maps keyed by the user's names (stage names): their entries stay even when empty (`"prod": {}`).
const NAMED: [&str; 1] = ["stages"];
/// Values kept verbatim: plugin configs (`"key-auth": {}` means something) and `vars` expressions.
const VERBATIM: [&str; 2] = ["plugins", "vars"];

fn is_empty(v: &Value) -> bool {
    v.is_null()
        || v.as_array().is_some_and(Vec::is_empty)
        || v.as_object().is_some_and(serde_json::Map::is_empty)
}

fn prune(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if VERBATIM.contains(&k.as_str()) {
                    continue;
                }
                match (NAMED.contains(&k.as_str()), child) {
                    (true, Value::Object(named)) => named.values_mut().for_each(prune),
                    (_, child) => prune(child),
                }
            }
            map.retain(|k, v| REQUIRED.contains(&k.as_str()) || !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

/// Why an import failed, one problem per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors(pub Vec<String>);

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ImportErrors {}

/// Validates the imported config with the engine (the filter's own check).
fn finish(config: Config, notes: Vec<String>) -> Result<Imported, ImportErrors> {
    match Engine::from_config(&config) {
        Ok(_) => Ok(Imported { config, notes }),
        Err(errors) => {
            let mut lines = vec!["the imported configuration is not valid:".to_string()];
            lines.extend(errors.iter().map(|e| format!("  {e}")));
            Err(ImportErrors(lines))
        }
    }
}
