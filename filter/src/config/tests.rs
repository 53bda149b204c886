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
