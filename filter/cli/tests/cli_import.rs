//! `routewise import aws` through the binary. Each directory of `tests/golden/import-aws/` holds the AWS CLI
//! outputs, `args` (the command line after `import aws`), and the golden results: `config.json` (standard
//! output, which the explain golden tests then route requests with) and `import.log` (notes and exit code).
//! The round trip: the imported config, turned back into the AWS CLI shapes, gives the input again.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::{check, golden_dir, report, routewise, sorted_entries, transcript};

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The config's domain back in the shapes of `list-routing-rules` and `get-api-mappings` (without ARNs and
/// the fields that were reported as not imported).
fn to_aws(config: &Value) -> (Value, Value) {
    let d = &config["domains"][0];
    let rules: Vec<Value> = d["routing_rules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let mut conditions: Vec<Value> = r["conditions"]["headers"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|h| json!({"MatchHeaders": {"AnyOf": [{"Header": h["header"], "ValueGlob": h["value_glob"]}]}}))
                .collect();
            if let Some(b) = r["conditions"]["base_path"].as_str() {
                conditions.push(json!({"MatchBasePaths": {"AnyOf": [b]}}));
            }
            let a = &r["action"]["invoke_api"];
            json!({
                "RoutingRuleId": r["id"], "Priority": r["priority"], "Conditions": conditions,
                "Actions": [{"InvokeApi": {"ApiId": a["api"], "Stage": a["stage"],
                                           "StripBasePath": a["strip_base_path"]}}]
            })
        })
        .collect();
    let items: Vec<Value> = d["api_mappings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| json!({"ApiId": m["api"], "ApiMappingId": m["id"], "ApiMappingKey": m["base_path"], "Stage": m["stage"]}))
        .collect();
    (json!({"RoutingRules": rules}), json!({"Items": items}))
}

/// The input without what routewise does not carry (ARNs, tags) and with defaults made explicit.
fn normalise_rules(mut v: Value) -> Value {
    for r in v["RoutingRules"].as_array_mut().unwrap() {
        let r = r.as_object_mut().unwrap();
        r.remove("RoutingRuleArn");
        r.remove("Tags");
        for a in r["Actions"].as_array_mut().unwrap() {
            let i = a["InvokeApi"].as_object_mut().unwrap();
            i.entry("StripBasePath").or_insert(json!(false));
        }
    }
    v
}

#[test]
fn import_aws_golden_cases_and_round_trip() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for case in sorted_entries(&golden_dir("import-aws")) {
        if !case.is_dir() {
            continue;
        }
        cases += 1;
        let args = std::fs::read_to_string(case.join("args")).unwrap();
        let mut argv = vec!["import", "aws"];
        argv.extend(args.split_whitespace());
        let o = routewise(&case, &argv);
        if !o.status.success() {
            failures.push(format!("{}: {}", case.display(), transcript(&o)));
            continue;
        }
        let config = String::from_utf8(o.stdout.clone()).unwrap();
        if let Err(e) = check(&case.join("config.json"), &config) {
            failures.push(e);
        }
        let log = transcript(&std::process::Output {
            stdout: Vec::new(),
            ..o
        });
        if let Err(e) = check(&case.join("import.log"), &log) {
            failures.push(e);
        }
        // The filter accepts what import printed.
        let v = routewise(&case, &["validate", "config.json"]);
        if !v.status.success() {
            failures.push(format!(
                "{}: the imported config does not validate: {}",
                case.display(),
                transcript(&v)
            ));
        }
        let (rules, mappings) = to_aws(&serde_json::from_str(&config).unwrap());
        if case.join("rules.json").is_file() {
            let input = normalise_rules(read_json(&case.join("rules.json")));
            if rules != input {
                failures.push(format!(
                    "{}: rules do not round-trip:\n{rules:#}\nvs\n{input:#}",
                    case.display()
                ));
            }
        }
        if case.join("mappings.json").is_file() && mappings != read_json(&case.join("mappings.json")) {
            failures.push(format!(
                "{}: mappings do not round-trip: {mappings:#}",
                case.display()
            ));
        }
    }
    assert!(cases >= 2);
    report(failures);
}

#[test]
fn import_aws_errors_name_the_input_and_exit_1() {
    let dir = golden_dir("import-aws/docs-example-1");
    let o = routewise(
        &dir,
        &[
            "import",
            "aws",
            "--domain-name",
            "petstore.example.com",
            "--routing-mode",
            "ROUTING_RULE_ONLY",
            "--mappings",
            "rules.json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "routewise import aws: mappings: missing field `Items` at line 29 column 1\n"
    );
    let o = routewise(
        &dir,
        &["import", "aws", "--domain-name", "x", "--routing-mode", "ANY"],
    );
    assert_eq!(o.status.code(), Some(2), "clap refuses an unknown mode");
}

/// R8: `--routing-mode` takes the REST API service's names too (`aws apigateway get-domain-name` prints
/// `ROUTING_RULE_THEN_BASE_PATH_MAPPING`, as Terraform and the CDK write it); the config is the same as with the
/// documented name, which is what it says.
#[test]
fn import_aws_accepts_the_rest_api_routing_mode_names() {
    let dir = golden_dir("import-aws/rules-and-mappings");
    let args = std::fs::read_to_string(dir.join("args")).unwrap();
    assert!(args.contains("ROUTING_RULE_THEN_API_MAPPING"), "{args}");
    let golden = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let aliased = args.replace(
        "ROUTING_RULE_THEN_API_MAPPING",
        "ROUTING_RULE_THEN_BASE_PATH_MAPPING",
    );
    let mut argv = vec!["import", "aws"];
    argv.extend(aliased.split_whitespace());
    let o = routewise(&dir, &argv);
    assert!(o.status.success(), "{}", transcript(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), golden);
    assert!(golden.contains("\"routing_mode\": \"ROUTING_RULE_THEN_API_MAPPING\""));
    let o = routewise(
        &dir,
        &[
            "import",
            "aws",
            "--domain-name",
            "x",
            "--routing-mode",
            "BASE_PATH_MAPPING_ONLY",
            "--mappings",
            "mappings.json",
        ],
    );
    assert!(o.status.success(), "{}", transcript(&o));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["domains"][0]["routing_mode"], "API_MAPPING_ONLY");
    assert!(out["domains"][0]["api_mappings"]
        .as_array()
        .is_some_and(|m| !m.is_empty()));
}

/// `tests/golden/import-apisix/<case>/`: `args` (after `import apisix`), the input it names, and the golden
/// `config.json` and `import.log`. The round trip: every route the input enables and routewise can express
/// comes back with its id, paths, hosts, methods, priority, vars and service, in the input's order; the
/// others (a route that would make the config invalid) are each named by a note `route ID: ... route not
/// imported`.
#[test]
fn import_apisix_golden_cases_and_round_trip() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for case in sorted_entries(&golden_dir("import-apisix")) {
        if !case.is_dir() {
            continue;
        }
        cases += 1;
        let args = std::fs::read_to_string(case.join("args")).unwrap();
        let mut argv = vec!["import", "apisix"];
        argv.extend(args.split_whitespace());
        let o = routewise(&case, &argv);
        if !o.status.success() {
            failures.push(format!("{}: {}", case.display(), transcript(&o)));
            continue;
        }
        let config = String::from_utf8(o.stdout.clone()).unwrap();
        if let Err(e) = check(&case.join("config.json"), &config) {
            failures.push(e);
        }
        let log = transcript(&std::process::Output {
            stdout: Vec::new(),
            ..o
        });
        if let Err(e) = check(&case.join("import.log"), &log) {
            failures.push(e);
        }
        let v = routewise(&case, &["validate", "config.json"]);
        if !v.status.success() {
            failures.push(format!(
                "{}: the imported config does not validate: {}",
                case.display(),
                transcript(&v)
            ));
        }
        // Round trip of the routes.
        let input_path = case.join(args.split_whitespace().next().unwrap());
        let input: Value = serde_norway::from_str(&std::fs::read_to_string(&input_path).unwrap()).unwrap();
        // Standalone lists (an item without `id` is `arr_N`, as APISIX names it), an Admin API answer under
        // `routes`, or a whole Admin API answer (the id is the key's last segment).
        let admin = |list: &Value| -> Vec<Value> {
            list.as_array()
                .unwrap()
                .iter()
                .filter(|i| i["key"].as_str().unwrap().starts_with("/apisix/routes/"))
                .map(|i| {
                    let mut v = i["value"].clone();
                    if v.get("id").is_none() {
                        v["id"] = json!(i["key"].as_str().unwrap().rsplit('/').next().unwrap());
                    }
                    v
                })
                .collect()
        };
        let routes_in: Vec<Value> = match input.get("routes") {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(n, r)| {
                    let mut r = r.clone();
                    if r.get("id").is_none() {
                        r["id"] = json!(format!("arr_{}", n + 1));
                    }
                    r
                })
                .collect(),
            Some(answer) => admin(&answer["list"]),
            None => admin(&input["list"]),
        };
        let id_of = |r: &Value| match &r["id"] {
            Value::Number(n) => n.to_string(),
            other => other.as_str().unwrap().to_string(),
        };
        let skipped: Vec<String> = log
            .lines()
            .filter(|l| l.ends_with("route not imported"))
            .filter_map(|l| l.strip_prefix("note: route ")?.split_once(": "))
            .map(|(id, _)| id.to_string())
            .collect();
        let expected: Vec<Value> = routes_in
            .iter()
            .filter(|r| r["status"] != json!(0))
            .filter(|r| !skipped.contains(&id_of(r)))
            .map(|r| {
                let id = id_of(r);
                let mut paths: Vec<Value> = r["uris"].as_array().cloned().unwrap_or_default();
                if let Some(u) = r.get("uri") {
                    paths.push(u.clone());
                }
                let hosts = r
                    .get("hosts")
                    .cloned()
                    .or_else(|| r.get("host").map(|h| json!([h])));
                json!({"id": id, "paths": paths, "hosts": hosts, "methods": r.get("methods"),
                       "priority": r.get("priority").cloned().unwrap_or(json!(0)), "vars": r.get("vars"),
                       "service": r.get("service_id")})
            })
            .collect();
        let out: Value = serde_json::from_str(&config).unwrap();
        let got: Vec<Value> = out["apis"][0]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                json!({"id": r["id"], "paths": r["paths"], "hosts": r.get("hosts"), "methods": r.get("methods"),
                       "priority": r["priority"], "vars": r.get("vars"), "service": r.get("service")})
            })
            .collect();
        if got != expected {
            failures.push(format!(
                "{}: routes do not round-trip:\n{got:#?}\nvs\n{expected:#?}",
                case.display()
            ));
        }
    }
    assert!(cases >= 5);
    report(failures);
}

#[test]
fn import_apisix_refuses_an_unknown_router() {
    let dir = golden_dir("import-apisix/standalone");
    let o = routewise(
        &dir,
        &[
            "import",
            "apisix",
            "apisix.yaml",
            "--router",
            "radixtree_uri_with_parameter",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
}

/// The route keys an export's operations become (P3): `x-amazon-apigateway-any-method` is `ANY`, an HTTP API's
/// `/$default` is `$default`.
fn export_operations(export: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let http = export.get("x-amazon-apigateway-importexport-version").is_some()
        || export["paths"].get("/$default").is_some()
        || export
            .pointer("/components/x-amazon-apigateway-integrations")
            .is_some()
        || export["paths"].as_object().unwrap().values().any(|item| {
            item.as_object().unwrap().values().any(|op| {
                op.pointer("/x-amazon-apigateway-integration/payloadFormatVersion")
                    .is_some()
            })
        });
    for (path, item) in export["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            let method = match key.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_string(),
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" => key.to_ascii_uppercase(),
                _ => continue,
            };
            let route_key = if http && path == "/$default" {
                "$default".to_string()
            } else {
                format!("{method} {path}")
            };
            out.push((path.clone(), key.clone(), route_key));
        }
    }
    out
}

/// `tests/golden/import-openapi/<case>/`: an API Gateway export (`export.json`, its source in the README
/// there), `args` (after `import openapi`), and the golden `config.json`, `import.log` and `clusters.yaml`
/// (`--envoy-clusters`). Checked besides the goldens: the filter accepts the config; every operation of the
/// export is either a route with its API Gateway route key (P3) or named by a note that says `route not
/// imported` (nothing dropped silently); every cluster the config names is in `clusters.yaml`, Lambda clusters
/// with the `aws_lambda` upstream filter and the function's ARN.
#[test]
fn import_openapi_golden_cases_and_round_trip() {
    let mut failures = Vec::new();
    let mut cases = 0;
    let tmp = std::env::temp_dir().join(format!("routewise-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for case in sorted_entries(&golden_dir("import-openapi")) {
        if !case.is_dir() {
            continue;
        }
        cases += 1;
        let name = case.file_name().unwrap().to_str().unwrap().to_string();
        let args = std::fs::read_to_string(case.join("args")).unwrap();
        let clusters_out = tmp.join(format!("{name}.yaml"));
        let mut argv = vec!["import", "openapi"];
        argv.extend(args.split_whitespace());
        argv.extend(["--envoy-clusters", clusters_out.to_str().unwrap()]);
        let o = routewise(&case, &argv);
        let log = transcript(&std::process::Output {
            stdout: Vec::new(),
            ..o.clone()
        });
        if let Err(e) = check(&case.join("import.log"), &log) {
            failures.push(e);
        }
        let export: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("export.json")).unwrap()).unwrap();
        let skipped = |path: &str, key: &str| {
            let at = format!("paths.{path}.{key}");
            log.lines()
                .any(|l| l.contains(at.as_str()) && l.ends_with("route not imported"))
        };
        if !o.status.success() {
            // Only an export of which nothing can be imported fails, and every operation says why.
            for (path, key, _) in export_operations(&export) {
                if !skipped(&path, &key) {
                    failures.push(format!("{name}: the import failed but {path} {key} has no note"));
                }
            }
            if case.join("config.json").exists() {
                failures.push(format!("{name}: failed, yet a golden config.json exists"));
            }
            continue;
        }
        let config = String::from_utf8(o.stdout.clone()).unwrap();
        if let Err(e) = check(&case.join("config.json"), &config) {
            failures.push(e);
        }
        // The same export as YAML (`--output-type YAML`) gives the same config.
        let yaml_path = tmp.join(format!("{name}.yaml-export"));
        std::fs::write(&yaml_path, serde_norway::to_string(&export).unwrap()).unwrap();
        let mut yaml_argv: Vec<&str> = vec!["import", "openapi", yaml_path.to_str().unwrap()];
        yaml_argv.extend(args.split_whitespace().skip(1));
        let y = routewise(&case, &yaml_argv);
        if y.stdout != o.stdout {
            failures.push(format!(
                "{name}: the YAML export gives another config: {}",
                transcript(&y)
            ));
        }
        let clusters = std::fs::read_to_string(&clusters_out).unwrap_or_default();
        if let Err(e) = check(&case.join("clusters.yaml"), &clusters) {
            failures.push(e);
        }
        let v = routewise(&case, &["validate", "config.json"]);
        if !v.status.success() {
            failures.push(format!(
                "{name}: the imported config does not validate: {}",
                transcript(&v)
            ));
        }
        let out: Value = serde_json::from_str(&config).unwrap();
        let keys: Vec<String> = out["apis"][0]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_string())
            .collect();
        let expected: Vec<String> = export_operations(&export)
            .into_iter()
            .filter(|(path, key, _)| !skipped(path, key))
            .map(|(_, _, k)| k)
            .collect();
        if keys != expected {
            failures.push(format!(
                "{name}: route keys {keys:?}, the export's operations give {expected:?}"
            ));
        }
        // Every cluster named by an integration is defined, Lambda ones invoking their function.
        let defined: Value = serde_norway::from_str(&clusters).unwrap_or(Value::Null);
        for r in out["apis"][0]["routes"].as_array().unwrap() {
            let i = &r["integration"];
            let c = i["cluster"].as_str().unwrap();
            let Some(def) = defined["clusters"]
                .as_array()
                .and_then(|a| a.iter().find(|d| d["name"] == c))
            else {
                failures.push(format!("{name}: cluster {c} is not in clusters.yaml"));
                continue;
            };
            let filter = def.pointer(
                "/typed_extension_protocol_options/envoy.extensions.upstreams.http.v3.HttpProtocolOptions/http_filters/0",
            );
            match i["type"].as_str().unwrap() {
                "lambda" => {
                    let arn = filter
                        .and_then(|f| f.pointer("/typed_config/arn"))
                        .and_then(Value::as_str);
                    let ok = filter.is_some_and(|f| f["name"] == "envoy.filters.http.aws_lambda")
                        && arn.is_some_and(|a| {
                            c == format!("lambda_{}", a.split(':').skip(6).collect::<Vec<_>>().join("_"))
                        });
                    if !ok {
                        failures.push(format!(
                            "{name}: cluster {c} is not an aws_lambda cluster for its function"
                        ));
                    }
                }
                _ => {
                    if filter.is_some() {
                        failures.push(format!("{name}: HTTP cluster {c} has upstream filters"));
                    }
                }
            }
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
    assert!(cases >= 6, "{cases} cases");
    report(failures);
}
