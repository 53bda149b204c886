//! `routewise validate` and `routewise schema` through the binary, against golden files
//! (`tests/golden/validate/*.json` → `*.out`, `tests/golden/schema/config.schema.json`).
//! `UPDATE_GOLDEN=1` rewrites the golden files.

mod support;

use support::{check, golden_dir, report, routewise, sorted_entries, transcript};

#[test]
fn validate_prints_every_error_with_its_path_and_exits_1() {
    let dir = golden_dir("validate");
    let mut failures = Vec::new();
    for config in sorted_entries(&dir) {
        if config.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = config.file_name().unwrap().to_str().unwrap();
        for (flag, suffix) in [(None, "out"), (Some("--json"), "json.out")] {
            let mut args = vec!["validate", name];
            args.extend(flag);
            let o = routewise(&dir, &args);
            // stream-only-the-module-loads.json: valid, with a note that only the .so loads it.
            let valid = ["valid.json", "stream-only-the-module-loads.json"];
            let expected_code = if valid.contains(&name) { 0 } else { 1 };
            if o.status.code() != Some(expected_code) {
                failures.push(format!(
                    "{name} {flag:?}: exit {:?}, expected {expected_code}",
                    o.status.code()
                ));
            }
            if let Err(e) = check(&config.with_extension(suffix), &transcript(&o)) {
                failures.push(e);
            }
        }
    }
    report(failures);
}

#[test]
fn validate_reads_standard_input_and_reports_unreadable_files_with_exit_2() {
    let dir = golden_dir("validate");
    let o = routewise(&dir, &["validate", "missing.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("routewise validate: missing.json: "));

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_routewise"))
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(dir.join("valid.json")).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("standard input: valid ("));
}

#[test]
fn schema_is_generated_from_the_config_types() {
    let dir = golden_dir("schema");
    let o = routewise(&dir, &["schema"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    report(
        check(&dir.join("config.schema.json"), &text)
            .err()
            .into_iter()
            .collect(),
    );
    // The schema describes the document the filter parses: every field of the config types is in it,
    // unknown fields are refused as serde's deny_unknown_fields does, and defaults are the serde defaults.
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["domains"]));
    let defs = &schema["$defs"];
    assert_eq!(
        defs["DomainConfig"]["properties"]["no_match_status"]["default"],
        403
    );
    let consts = |name: &str| -> Vec<String> {
        defs[name]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["const"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        consts("RoutingMode"),
        [
            "API_MAPPING_ONLY",
            "ROUTING_RULE_THEN_API_MAPPING",
            "ROUTING_RULE_ONLY"
        ]
    );
    // R8: the REST API service's names are accepted (deprecated aliases), the documented ones are canonical.
    let mode = &defs["DomainConfig"]["properties"]["routing_mode"];
    assert_eq!(mode["anyOf"][0]["$ref"], "#/$defs/RoutingMode");
    assert_eq!(
        mode["anyOf"][1]["enum"],
        serde_json::json!(["BASE_PATH_MAPPING_ONLY", "ROUTING_RULE_THEN_BASE_PATH_MAPPING"])
    );
    assert_eq!(mode["anyOf"][1]["deprecated"], true);
    assert_eq!(mode["default"], "API_MAPPING_ONLY");
    assert_eq!(
        consts("RouterKind"),
        ["specificity", "apisix_radixtree_uri", "apisix_radixtree_host_uri"]
    );
    for field in [
        "id",
        "key",
        "paths",
        "methods",
        "hosts",
        "vars",
        "remote_addrs",
        "priority",
        "service",
    ] {
        assert!(
            defs["RouteConfig"]["properties"].get(field).is_some(),
            "RouteConfig.{field}"
        );
    }
}
