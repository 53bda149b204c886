//! `routewise schema` (the JSON Schema generated from the config types, golden file
//! `filter/cli/tests/golden/schema/config.schema.json`) accepts every config the project ships and that the filter
//! accepts, and refuses what the filter refuses for its shape: editors and CI pipelines that validate with it
//! agree with the filter.

use std::path::Path;

use routewise_tests::envoy::workspace_root;
use serde_json::{json, Value};

fn validator() -> jsonschema::Validator {
    let path = workspace_root().join("filter/cli/tests/golden/schema/config.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read the schema"))
        .expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema compiles (draft 2020-12)")
}

fn errors(v: &jsonschema::Validator, config: &Value) -> Vec<String> {
    v.iter_errors(config)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_shipped_example_config_is_valid_for_the_schema_and_the_filter() {
    let v = validator();
    let dir = workspace_root().join("envoy/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("envoy/examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let config: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(errors(&v, &config), Vec::<String>::new(), "{}", path.display());
        routewise::engine::Engine::from_json(&text)
            .unwrap_or_else(|e| panic!("{}: the filter rejects it:\n{e}", Path::new(&path).display()));
        seen += 1;
    }
    assert!(seen >= 3, "example configs found: {seen}");
}

#[test]
fn plugin_configs_are_described_and_their_typos_refused() {
    let v = validator();
    let config = |plugins: Value, consumer_plugins: Value| {
        json!({
            "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
            "apis": [{"id": "a", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}},
                      "routes": [{"key": "ANY /{proxy+}", "plugins": plugins}]}],
            "consumers": [{"username": "jack", "plugins": consumer_plugins}],
        })
    };
    let good = config(
        json!({"key-auth": {"query": "key"}, "proxy-rewrite": {"regex_uri": ["^/a/(.*)", "/$1"],
               "headers": {"set": {"x-a": "1"}, "remove": ["x-b"]}}, "response-rewrite": {"status_code": 202}}),
        json!({"key-auth": {"key_sha256": "0".repeat(64)}}),
    );
    assert_eq!(errors(&v, &good), Vec::<String>::new());
    assert!(routewise::engine::Engine::from_json(&good.to_string()).is_ok());
    for (plugins, consumer_plugins, field) in [
        (json!({"key-auht": {}}), json!({}), "key-auht"),
        (json!({"proxy-rewrite": {"url": "/x"}}), json!({}), "url"),
        (
            json!({"response-rewrite": {"headers": {"sett": {}}}}),
            json!({}),
            "sett",
        ),
        (json!({}), json!({"key-auth": {"key": "plain"}}), "key"),
    ] {
        let bad = config(plugins, consumer_plugins);
        let found = errors(&v, &bad);
        assert!(
            found.iter().any(|e| e.contains(field)),
            "the schema misses `{field}`: {found:?}"
        );
        assert!(
            routewise::engine::Engine::from_json(&bad.to_string()).is_err(),
            "the filter accepts `{field}`"
        );
    }
}

/// R8: the REST API service's routing-mode names (`ROUTING_RULE_THEN_BASE_PATH_MAPPING`,
/// `BASE_PATH_MAPPING_ONLY`: `aws apigateway`, Terraform's `aws_api_gateway_domain_name`, the CDK) are accepted
/// by the schema and the filter alike, as are the documented ones; a misspelt mode is refused by both.
#[test]
fn routing_mode_aliases_are_accepted_by_the_schema_and_the_filter() {
    let v = validator();
    let config = |mode: &str| {
        json!({
            "domains": [{"name": "*", "routing_mode": mode,
                         "routing_rules": [{"priority": 1, "conditions": {"base_path": "a"},
                                            "action": {"invoke_api": {"api": "a", "stage": "prod"}}}],
                         "api_mappings": [{"api": "a", "stage": "prod"}]}],
            "apis": [{"id": "a", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}}}],
        })
    };
    for mode in [
        "ROUTING_RULE_THEN_API_MAPPING",
        "ROUTING_RULE_THEN_BASE_PATH_MAPPING",
    ] {
        let c = config(mode);
        assert_eq!(errors(&v, &c), Vec::<String>::new(), "{mode}");
        assert!(
            routewise::engine::Engine::from_json(&c.to_string()).is_ok(),
            "{mode}"
        );
    }
    let bad = config("ROUTING_RULE_THEN_MAPPING");
    assert!(!errors(&v, &bad).is_empty());
    assert!(routewise::engine::Engine::from_json(&bad.to_string()).is_err());
}
