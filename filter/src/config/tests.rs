use super::*;

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(r#"{"domains": [{"name": "*"}]}"#).expect("valid");
    assert_eq!(c.cluster_header, DEFAULT_CLUSTER_HEADER);
    let d = c.domains[0].get().expect("domain parsed");
    assert_eq!(d.routing_mode, RoutingMode::ApiMappingOnly);
    assert_eq!(d.no_match_status, 403);
}

#[test]
fn errors_of_independent_items_are_all_reported_with_paths() {
    let text = r#"{"domains": [{"name": "a", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [
        {"priority": "high", "action": {"invoke_api": {"api": "x", "stage": "p"}}},
        {"priority": 2, "action": {"invoke_api": {"api": "x", "stage": "p", "strip_basepath": true}}}
    ]}]}"#;
    let errors = parse(text).expect_err("two bad rules");
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "domains[0].routing_rules[0].priority",
            "domains[0].routing_rules[1].action.invoke_api.strip_basepath"
        ]
    );
    let shown = errors.to_string();
    assert!(shown.contains("unknown field `strip_basepath`"), "{shown}");
    assert!(!shown.contains("line"), "positions are dropped: {shown}");
}

#[test]
fn not_json_is_one_error_at_the_root() {
    let errors = parse("{not json").expect_err("bad");
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].path, "");
}

#[test]
fn unknown_top_level_field_is_an_error() {
    let errors = parse(r#"{"domains": [], "domians": []}"#).expect_err("typo");
    assert!(errors.to_string().contains("unknown field `domians`"), "{errors}");
}

fn error_lines(text: &str) -> Vec<String> {
    match crate::engine::Engine::from_json(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn every_unknown_field_of_an_item_is_reported_and_the_item_is_still_validated() {
    let lines = error_lines(
        r#"{"domains": [{"name": "a", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [
            {"id": "r", "priority": 0, "bogus": 1, "bogus2": 2,
             "conditions": {"headers": [{"header": "x-v", "value_glob": "v*", "zz": true}]},
             "action": {"invoke_api": {"api": "p", "stage": "prod"}}}]}],
           "apis": [{"id": "p", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}}}]}"#,
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[0].starts_with("domains[0].routing_rules[0].bogus: unknown field `bogus`"));
    assert!(lines[1].starts_with("domains[0].routing_rules[0].bogus2: unknown field `bogus2`"));
    assert!(lines[2].starts_with("domains[0].routing_rules[0].conditions.headers[0].zz: unknown field `zz`"));
    // R12: the rule is validated with its unknown fields dropped.
    assert_eq!(
        lines[3],
        "domains[0].routing_rules[0].priority: 0 is outside 1..=1000000"
    );
}

#[test]
fn an_unknown_top_level_field_does_not_hide_the_other_errors() {
    let lines = error_lines(
        r#"{"cluster_headr": "x", "domains": [{"name": "a", "api_mappings": [
            {"base_path": "/x", "api": "p", "stage": "prod"}]}], "apis": []}"#,
    );
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with("cluster_headr: unknown field `cluster_headr`"));
    assert!(lines[1].starts_with("domains[0].api_mappings[0].base_path: `/x` is invalid"));
    assert_eq!(lines[2], "domains[0].api_mappings[0].api: unknown api `p`");
}

#[test]
fn a_bad_value_with_a_default_is_reported_with_the_other_shape_errors_but_not_validated_further() {
    // The bad routing_mode would otherwise default to API_MAPPING_ONLY, which forbids routing rules: that
    // error would be the filter's doing, not the user's, so the domain is not validated further.
    let lines = error_lines(
        r#"{"domains": [{"name": "a", "routing_mode": "ROUTING_ONLY", "extra": 1, "routing_rules": [
            {"id": "r", "priority": 1, "action": {"invoke_api": {"api": "p", "stage": "prod"}}}]}],
           "apis": [{"id": "p", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}}}]}"#,
    );
    // Within an item the errors come in key order (the item is re-read from its JSON value).
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("domains[0].extra: unknown field `extra`"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("domains[0].routing_mode: unknown variant `ROUTING_ONLY`"),
        "{lines:#?}"
    );
}

#[test]
fn a_missing_required_field_after_a_bad_value_is_not_reported_twice() {
    let lines = error_lines(
        r#"{"domains": [{"name": "a", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [
            {"id": "r", "priority": "high", "action": {"invoke_api": {"api": "p", "stage": "prod"}}}]}],
           "apis": [{"id": "p", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}}}]}"#,
    );
    assert_eq!(
        lines,
        ["domains[0].routing_rules[0].priority: invalid type: string \"high\", expected i64"]
    );
}

/// R8: the REST API service's mode names (`aws apigateway create-domain-name --routing-mode`, Terraform's
/// `aws_api_gateway_domain_name.routing_mode`, the CDK's `RoutingMode`: `BASE_PATH_MAPPING_ONLY`,
/// `ROUTING_RULE_THEN_BASE_PATH_MAPPING`) are the same modes as the developer guide's; routewise writes the
/// guide's names back.
#[test]
fn r8_rest_api_mode_names_are_aliases_of_the_documented_ones() {
    for (written, mode, canonical) in [
        (
            "ROUTING_RULE_THEN_BASE_PATH_MAPPING",
            RoutingMode::RoutingRuleThenApiMapping,
            "ROUTING_RULE_THEN_API_MAPPING",
        ),
        (
            "ROUTING_RULE_THEN_API_MAPPING",
            RoutingMode::RoutingRuleThenApiMapping,
            "ROUTING_RULE_THEN_API_MAPPING",
        ),
        (
            "BASE_PATH_MAPPING_ONLY",
            RoutingMode::ApiMappingOnly,
            "API_MAPPING_ONLY",
        ),
        (
            "API_MAPPING_ONLY",
            RoutingMode::ApiMappingOnly,
            "API_MAPPING_ONLY",
        ),
        (
            "ROUTING_RULE_ONLY",
            RoutingMode::RoutingRuleOnly,
            "ROUTING_RULE_ONLY",
        ),
    ] {
        let c = parse(&format!(
            r#"{{"domains": [{{"name": "*", "routing_mode": "{written}"}}]}}"#
        ))
        .unwrap_or_else(|e| panic!("{written}: {e}"));
        let d = c.domains[0].get().expect("domain parsed");
        assert_eq!(d.routing_mode, mode, "{written}");
        assert_eq!(
            serde_json::to_value(d.routing_mode).expect("serializes"),
            canonical
        );
    }
    let e = parse(r#"{"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_THEN_MAPPING"}]}"#)
        .expect_err("not a mode");
    assert_eq!(e.0[0].path, "domains[0].routing_mode");
}

/// A good document is read straight from its text and a bad one through a `Value` (issue 13): both paths
/// must mean the same document. A key written twice in an item keeps its last value, as a `Value` (the
/// repairing path) keeps it, rather than being an error on one path only.
#[test]
fn a_key_written_twice_means_the_same_on_both_parsing_paths() {
    let item = r#"{"id": "r1", "priority": 1, "priority": 7,
                   "action": {"invoke_api": {"api": "x", "stage": "p"}}}"#;
    let good = format!(
        r#"{{"domains": [{{"name": "a", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [{item}]}}]}}"#
    );
    // An unknown top-level field sends the whole document down the repairing path.
    let bad = format!(
        r#"{{"surprise": 1, "domains": [{{"name": "a", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [{item}]}}]}}"#
    );
    let fast = parse(&good).expect("valid");
    let (slow, errors) = parse_document(&bad);
    let slow = slow.expect("readable once the unknown field is dropped");
    assert_eq!(errors.0.len(), 1, "only the unknown field: {errors}");
    for c in [&fast, &slow] {
        let d = c.domains[0].get().expect("domain");
        let r = d.routing_rules[0].get().expect("rule");
        assert_eq!(r.priority, 7);
    }
}

/// Documents that are right, in every shape the stepwise reader walks: escaped keys, big lists first, last
/// or absent, empty lists, odd white space, items that fail on their own (kept as [`Lenient::Err`]).
const STEPWISE_GOOD: &[&str] = &[
    r#"{"domains": [{"name": "*"}]}"#,
    r#"  {"domains":[],"apis":[],"consumers":[]}  "#,
    "{\n\t\"cluster_header\" : \"x-c\" ,\r\n \"domains\" : [ { \"api_mappings\" : [ ] , \"name\" : \"a\" } ] }\n",
    r#"{"apis": [{"id": "a", "routes": [{"key": "GET /x"}, {"paths": ["/y"]}], "stages": {"p": {}},
        "services": [{"id": "s", "hosts": ["h"]}], "plugins": {"cors": {"allow_origins": "*"}}}],
       "domains": [{"routing_mode": "ROUTING_RULE_ONLY", "name": "b",
         "routing_rules": [{"priority": 1, "conditions": {"headers": [{"header": "x", "value_glob": "a\"]}*"}]},
                            "action": {"invoke_api": {"api": "a", "stage": "p"}}}]}],
       "consumers": [{"username": "u", "plugins": {}}], "filter_state": ["domain"]}"#,
    r#"{"domains": [{"name": "a", "routing_rules": [{"priority": "high"}, 7, {"bogus": [1, {"x": "]"}]}]}]}"#,
    r#"{"domain\u0073": [{"nam\u0065": "*", "routing\u005frules": [{"priority": 1}]}]}"#,
];

/// Documents the stepwise reader must hand to [`parse_document`] (or read as it does).
const STEPWISE_ODD: &[&str] = &[
    "",
    "[]",
    r#"{"domains": [{"name": "*"}]} x"#,
    r#"{"domains": [{"name": "*"}], "domains": []}"#,
    r#"{"domains": [{"name": "*", "routing_rules": [], "routing_rules": []}]}"#,
    r#"{"domains": [{"name": "*", "name": "b"}]}"#,
    r#"{"domains": [{"name": "*"} {"name": "b"}]}"#,
    r#"{"domains": [{"name": "*"},]}"#,
    r#"{"domains": [{"name": "*", "routing_rules": [{"priority": 1},]}]}"#,
    r#"{"domains": [{"name": "*", "routing_rules": [{"priority": 1]}]}"#,
    r#"{"domains": null}"#,
    r#"{"domains": [{"name": "*", "routing_rules": null}]}"#,
    r#"{"domains": [{"name": 5}]}"#,
    r#"{"domains": [{"name": "*", "colour": "red"}]}"#,
    r#"{"domains": [], "colour": "red"}"#,
    r#"{"apis": []}"#,
    r#"{"domains": [{"name": "*\"}]}"#,
    r#"{"domains": [{"name": "*", "routing_rules": [{"priority": 1, "x": "\"}]}"#,
    r#"{"domains": [{"name": "*", "routing_rules": [tru]}]}"#,
];

/// Reads `text` both ways: when the stepwise reader gives a config, `parse_document` gives the same with
/// no error of the document's own.
fn stepwise_agrees(text: &str) -> bool {
    let Some(stepwise) = parse_stepwise(text) else {
        return false;
    };
    let (whole, errors) = parse_document(text);
    assert!(errors.is_empty(), "{text}: {errors}");
    assert_eq!(whole.as_ref(), Some(&stepwise), "{text}");
    true
}

#[test]
fn stepwise_reads_as_parse_document() {
    for text in STEPWISE_GOOD {
        assert!(stepwise_agrees(text), "read in one piece: {text}");
    }
    for text in STEPWISE_ODD {
        stepwise_agrees(text);
    }
    for text in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../envoy/examples"))
        .expect("examples")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "json").then(|| std::fs::read_to_string(path).ok())?
        })
    {
        assert!(stepwise_agrees(&text), "an example is read in one piece");
    }
}

#[test]
fn stepwise_gives_up_where_parse_document_reports() {
    for text in STEPWISE_ODD {
        if let Some(c) = parse_stepwise(text) {
            panic!("{text} read as {c:?}");
        }
    }
}

#[test]
fn stepwise_reads_deep_items_as_lenient_does() {
    // An item is parsed from its own text inside the whole document too ([`Lenient`]), so serde_json's
    // nesting limit counts from the item in both readings.
    for depth in [120, 140] {
        let deep = format!(
            r#"{{"domains": [{{"name": "*", "routing_rules": [{{"priority": 1, "x": {}1{}}}]}}]}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // 140 levels is over the limit for the item: left to `parse_document`, which reports it.
        assert_eq!(stepwise_agrees(&deep), depth < 128, "depth {depth}");
    }
}

#[test]
fn every_mutation_of_a_good_document_reads_as_parse_document() {
    // Deterministic single-byte edits (delete, duplicate, replace with a JSON delimiter) of every good
    // document: wherever the stepwise reader accepts, the whole-document parse agrees.
    const DELIMS: &[u8] = b"{}[],:\"\\ 0a";
    let mut accepted = 0;
    for text in STEPWISE_GOOD {
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            let mut variants = vec![[&bytes[..i], &bytes[i + 1..]].concat()];
            variants.push([&bytes[..=i], &bytes[i..]].concat());
            for d in DELIMS {
                variants.push([&bytes[..i], &[*d], &bytes[i + 1..]].concat());
            }
            for v in variants {
                if let Ok(t) = std::str::from_utf8(&v) {
                    accepted += usize::from(stepwise_agrees(t));
                }
            }
        }
    }
    assert!(accepted > 100, "{accepted} mutations accepted");
}
