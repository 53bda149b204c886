//! `routewise import aws`: an API Gateway custom domain name, as the AWS CLI prints it, as a routewise config.
//!
//! Inputs are the outputs of `aws apigatewayv2 list-routing-rules --domain-name NAME` (`{"RoutingRules":
//! [...]}`) and `aws apigatewayv2 get-api-mappings --domain-name NAME` (`{"Items": [...]}`). The result is one
//! domain with the given routing mode (R8), its rules (R1-R7) and mappings (R9) with their AWS ids kept (so
//! `routewise explain` and the filter's `routewise.rule_id` name the same rules as API Gateway's
//! `routingRuleIdMatched`), and one API per referenced API id whose stages are the referenced stages.
//!
//! **Clusters.** API Gateway invokes a stage of a REST API; routewise forwards to an Envoy cluster. Each
//! referenced stage gets an `http` integration to the cluster named by [`AwsImport::cluster_template`],
//! `{api}-{stage}` by default (`a1b2c3d4e5-prod`): define that cluster in Envoy (for example pointing at the
//! stage's invoke URL, `https://{api}.execute-api.{region}.amazonaws.com/{stage}`). The API has no routes, so
//! its implicit `$default` route sends everything to the stage (P2).
//!
//! Nothing is dropped silently: input fields routewise does not use are listed as notes (the rule ARN, which
//! only restates the id, excepted), and so are rules ignored by `API_MAPPING_ONLY` and mappings ignored by
//! `ROUTING_RULE_ONLY`, exactly as API Gateway ignores them. Input that routewise cannot express (a condition
//! whose `AnyOf` lists several alternatives) is an error, never an approximation.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use routewise::config::{
    ActionConfig, ApiConfig, ApiMappingConfig, ConditionsConfig, Config, DomainConfig, HeaderConditionConfig,
    IntegrationConfig, InvokeApiConfig, RoutingMode, RoutingRuleConfig, StageConfig, DEFAULT_CLUSTER_HEADER,
};

use super::{ImportErrors, Imported};

/// Default for [`AwsImport::cluster_template`].
pub const DEFAULT_CLUSTER_TEMPLATE: &str = "{api}-{stage}";

/// What to import.
#[derive(Debug, Clone)]
pub struct AwsImport<'a> {
    /// The custom domain name (`api.example.com`, `*.example.com`).
    pub domain_name: &'a str,
    /// The domain's routing mode.
    pub routing_mode: RoutingMode,
    /// The JSON printed by `aws apigatewayv2 list-routing-rules`, if any.
    pub rules: Option<&'a str>,
    /// The JSON printed by `aws apigatewayv2 get-api-mappings`, if any.
    pub mappings: Option<&'a str>,
    /// Envoy cluster of a stage: `{api}` and `{stage}` are replaced by the API id and the stage name.
    pub cluster_template: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RulesOutput {
    routing_rules: Vec<AwsRule>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AwsRule {
    routing_rule_id: String,
    priority: i64,
    #[serde(default)]
    conditions: Vec<AwsCondition>,
    actions: Vec<AwsAction>,
    /// Restates the id; not needed.
    #[serde(default, rename = "RoutingRuleArn")]
    _arn: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AwsCondition {
    #[serde(default)]
    match_headers: Option<AnyOf<AwsHeader>>,
    #[serde(default)]
    match_base_paths: Option<AnyOf<String>>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnyOf<T> {
    any_of: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AwsHeader {
    header: String,
    value_glob: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AwsAction {
    #[serde(default)]
    invoke_api: Option<AwsInvoke>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AwsInvoke {
    api_id: String,
    stage: String,
    #[serde(default)]
    strip_base_path: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MappingsOutput {
    items: Vec<AwsMapping>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AwsMapping {
    #[serde(default)]
    api_mapping_id: Option<String>,
    #[serde(default)]
    api_mapping_key: Option<String>,
    api_id: String,
    stage: String,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        format!("{what}{path}: {}", e.inner())
    })
}

fn unused(notes: &mut Vec<String>, at: &str, other: &BTreeMap<String, Value>) {
    for k in other.keys() {
        notes.push(format!("{at}.{k}: not imported (routewise has no equivalent)"));
    }
}

/// Imports a custom domain name. Errors name the input and the place in it (`rules: RoutingRules[2]...`).
pub fn import(opts: &AwsImport<'_>) -> Result<Imported, ImportErrors> {
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    // API ids in order of first reference, each with its stages.
    let mut apis: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut refer = |api: &str, stage: &str| match apis.iter_mut().find(|(a, _)| a == api) {
        Some((_, stages)) => {
            stages.insert(stage.to_string());
        }
        None => apis.push((api.to_string(), BTreeSet::from([stage.to_string()]))),
    };

    let mut rules = Vec::new();
    if let Some(text) = opts.rules {
        match parse::<RulesOutput>("rules", text) {
            Err(e) => errors.push(e),
            Ok(out) => {
                unused(&mut notes, "rules", &out.other);
                if out.next_token.is_some() {
                    notes.push(
                        "rules: NextToken is set: this is one page of the rules only (the AWS CLI fetches every \
                         page unless --max-items or --no-paginate is given)"
                            .into(),
                    );
                }
                if opts.routing_mode == RoutingMode::ApiMappingOnly && !out.routing_rules.is_empty() {
                    notes.push(format!(
                        "rules: {} routing rule(s) not imported: API_MAPPING_ONLY ignores routing rules, as API \
                         Gateway does (R8)",
                        out.routing_rules.len()
                    ));
                } else {
                    for (i, r) in out.routing_rules.iter().enumerate() {
                        let at = format!("rules: RoutingRules[{i}]");
                        match rule(&at, r, &mut notes) {
                            Ok(rc) => {
                                refer(&rc.action.invoke_api.api, &rc.action.invoke_api.stage);
                                rules.push(rc.into());
                            }
                            Err(mut e) => errors.append(&mut e),
                        }
                    }
                }
            }
        }
    }

    let mut mappings = Vec::new();
    if let Some(text) = opts.mappings {
        match parse::<MappingsOutput>("mappings", text) {
            Err(e) => errors.push(e),
            Ok(out) => {
                unused(&mut notes, "mappings", &out.other);
                if out.next_token.is_some() {
                    notes.push("mappings: NextToken is set: this is one page of the mappings only".into());
                }
                if opts.routing_mode == RoutingMode::RoutingRuleOnly && !out.items.is_empty() {
                    notes.push(format!(
                        "mappings: {} API mapping(s) not imported: ROUTING_RULE_ONLY ignores API mappings, as API \
                         Gateway does (R8)",
                        out.items.len()
                    ));
                } else {
                    for (i, m) in out.items.iter().enumerate() {
                        unused(&mut notes, &format!("mappings: Items[{i}]"), &m.other);
                        // An empty key is the `(none)` mapping; the console shows it as `(none)`.
                        let key = match m.api_mapping_key.as_deref() {
                            None | Some("(none)") => "",
                            Some(k) => k,
                        };
                        refer(&m.api_id, &m.stage);
                        mappings.push(
                            ApiMappingConfig {
                                id: m.api_mapping_id.clone(),
                                base_path: key.to_string(),
                                api: m.api_id.clone(),
                                stage: m.stage.clone(),
                            }
                            .into(),
                        );
                    }
                }
            }
        }
    }
    if opts.rules.is_none() && opts.mappings.is_none() {
        errors.push("nothing to import: give --rules and/or --mappings".into());
    }
    if !errors.is_empty() {
        return Err(ImportErrors(errors));
    }

    let apis = apis
        .into_iter()
        .map(|(id, stages)| {
            let stages = stages
                .into_iter()
                .map(|s| {
                    let cluster = opts.cluster_template.replace("{api}", &id).replace("{stage}", &s);
                    (
                        s,
                        StageConfig {
                            variables: BTreeMap::new(),
                            integration: Some(IntegrationConfig::Http { cluster }),
                        },
                    )
                })
                .collect();
            ApiConfig {
                id,
                router: Default::default(),
                stages,
                hosts: Vec::new(),
                plugins: BTreeMap::new(),
                services: Vec::new(),
                routes: Vec::new(),
            }
            .into()
        })
        .collect();
    let config = Config {
        cluster_header: DEFAULT_CLUSTER_HEADER.to_string(),
        filter_state: None,
        domains: vec![DomainConfig {
            name: opts.domain_name.to_string(),
            routing_mode: opts.routing_mode,
            routing_rules: rules,
            api_mappings: mappings,
            no_match_status: 403,
        }
        .into()],
        apis,
        consumers: Vec::new(),
    };
    super::finish(config, notes)
}

fn rule(at: &str, r: &AwsRule, notes: &mut Vec<String>) -> Result<RoutingRuleConfig, Vec<String>> {
    let mut errors = Vec::new();
    unused(notes, at, &r.other);
    let mut conditions = ConditionsConfig::default();
    for (j, c) in r.conditions.iter().enumerate() {
        let cat = format!("{at}.Conditions[{j}]");
        unused(notes, &cat, &c.other);
        match (&c.match_headers, &c.match_base_paths) {
            (Some(h), None) => match h.any_of.as_slice() {
                [one] => conditions.headers.push(HeaderConditionConfig {
                    header: one.header.clone(),
                    value_glob: one.value_glob.clone(),
                }),
                list => errors.push(format!(
                    "{cat}.MatchHeaders.AnyOf: {} alternatives; a routewise condition holds one (R2), write one \
                     condition per header",
                    list.len()
                )),
            },
            (None, Some(b)) => match b.any_of.as_slice() {
                [one] if conditions.base_path.is_none() => conditions.base_path = Some(one.clone()),
                [_] => errors.push(format!(
                    "{cat}.MatchBasePaths: a rule has at most one base-path condition (R2)"
                )),
                list => errors.push(format!(
                    "{cat}.MatchBasePaths.AnyOf: {} alternatives; a routewise rule has one base path (R2)",
                    list.len()
                )),
            },
            _ => errors.push(format!(
                "{cat}: a condition is exactly one of MatchHeaders or MatchBasePaths"
            )),
        }
    }
    let mut invoke = None;
    for (j, a) in r.actions.iter().enumerate() {
        let aat = format!("{at}.Actions[{j}]");
        unused(notes, &aat, &a.other);
        match (&a.invoke_api, &invoke) {
            (Some(i), None) => invoke = Some(i),
            (Some(_), Some(_)) => errors.push(format!("{aat}: a rule has one action (R1)")),
            (None, _) => errors.push(format!("{aat}: only InvokeApi actions exist")),
        }
    }
    let Some(invoke) = invoke else {
        errors.push(format!("{at}.Actions: no InvokeApi action"));
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RoutingRuleConfig {
        id: Some(r.routing_rule_id.clone()),
        priority: r.priority,
        conditions,
        action: ActionConfig {
            invoke_api: InvokeApiConfig {
                api: invoke.api_id.clone(),
                stage: invoke.stage.clone(),
                strip_base_path: invoke.strip_base_path,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts<'a>(mode: RoutingMode, rules: Option<&'a str>, mappings: Option<&'a str>) -> AwsImport<'a> {
        AwsImport {
            domain_name: "petstore.example.com",
            routing_mode: mode,
            rules,
            mappings,
            cluster_template: DEFAULT_CLUSTER_TEMPLATE,
        }
    }

    #[test]
    fn r1_rules_keep_their_ids_and_apis_get_one_cluster_per_stage() {
        let rules = r#"{"RoutingRules": [{"RoutingRuleId": "abc123", "Priority": 10,
            "RoutingRuleArn": "arn:aws:apigateway:us-east-1::/domainnames/petstore.example.com/routingrules/abc123",
            "Conditions": [{"MatchHeaders": {"AnyOf": [{"Header": "Hello", "ValueGlob": "World"}]}},
                           {"MatchBasePaths": {"AnyOf": ["PetStoreShopper"]}}],
            "Actions": [{"InvokeApi": {"ApiId": "a1", "Stage": "prod", "StripBasePath": true}}]}]}"#;
        let mappings =
            r#"{"Items": [{"ApiId": "a1", "ApiMappingId": "m1", "ApiMappingKey": "", "Stage": "beta"}]}"#;
        let out = import(&opts(
            RoutingMode::RoutingRuleThenApiMapping,
            Some(rules),
            Some(mappings),
        ))
        .expect("imports");
        assert!(out.notes.is_empty(), "{:?}", out.notes);
        let d = out.config.domains[0].get().expect("domain");
        let r = d.routing_rules[0].get().expect("rule");
        assert_eq!(r.id.as_deref(), Some("abc123"));
        assert_eq!(r.conditions.base_path.as_deref(), Some("PetStoreShopper"));
        assert!(r.action.invoke_api.strip_base_path);
        let m = d.api_mappings[0].get().expect("mapping");
        assert_eq!((m.id.as_deref(), m.base_path.as_str()), (Some("m1"), ""));
        let api = out.config.apis[0].get().expect("api");
        assert_eq!(api.stages.keys().collect::<Vec<_>>(), ["beta", "prod"]);
        assert_eq!(
            api.stages["prod"].integration,
            Some(IntegrationConfig::Http {
                cluster: "a1-prod".into()
            })
        );
    }

    #[test]
    fn r8_ignored_layers_and_unknown_fields_are_listed_not_dropped_silently() {
        let rules = r#"{"RoutingRules": [{"RoutingRuleId": "r", "Priority": 1, "Conditions": [],
            "Actions": [{"InvokeApi": {"ApiId": "a", "Stage": "s"}}], "Tags": {"x": "y"}}]}"#;
        let mappings = r#"{"Items": [{"ApiId": "a", "ApiMappingKey": "v1", "Stage": "s"}]}"#;
        let out = import(&opts(RoutingMode::ApiMappingOnly, Some(rules), Some(mappings))).expect("imports");
        assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
        assert!(
            out.notes[0].contains("1 routing rule(s) not imported"),
            "{:?}",
            out.notes
        );
        let out = import(&opts(RoutingMode::RoutingRuleOnly, Some(rules), Some(mappings))).expect("imports");
        assert!(out
            .notes
            .iter()
            .any(|n| n == "rules: RoutingRules[0].Tags: not imported (routewise has no equivalent)"));
        assert!(out
            .notes
            .iter()
            .any(|n| n.contains("1 API mapping(s) not imported")));
    }

    #[test]
    fn r2_alternatives_routewise_cannot_express_are_errors() {
        let rules = r#"{"RoutingRules": [{"RoutingRuleId": "r", "Priority": 1,
            "Conditions": [{"MatchHeaders": {"AnyOf": [{"Header": "a", "ValueGlob": "1"},
                                                        {"Header": "b", "ValueGlob": "2"}]}}],
            "Actions": [{"InvokeApi": {"ApiId": "a", "Stage": "s"}}]}]}"#;
        let e = import(&opts(RoutingMode::RoutingRuleOnly, Some(rules), None)).expect_err("AnyOf of 2");
        assert_eq!(
            e.0,
            ["rules: RoutingRules[0].Conditions[0].MatchHeaders.AnyOf: 2 alternatives; a routewise condition \
              holds one (R2), write one condition per header"]
        );
        let e = import(&opts(
            RoutingMode::RoutingRuleOnly,
            Some(r#"{"RoutingRules": [{"Priority": 1}]}"#),
            None,
        ))
        .expect_err("shape");
        assert_eq!(
            e.0,
            ["rules at RoutingRules[0]: missing field `RoutingRuleId` at line 1 column 33"]
        );
    }

    #[test]
    fn r12_the_result_is_validated_by_the_engine() {
        let rules = r#"{"RoutingRules": [{"RoutingRuleId": "r", "Priority": 1,
            "Conditions": [{"MatchHeaders": {"AnyOf": [{"Header": "x-amz-date", "ValueGlob": "1"}]}}],
            "Actions": [{"InvokeApi": {"ApiId": "a", "Stage": "s"}}]}]}"#;
        let e = import(&opts(RoutingMode::RoutingRuleOnly, Some(rules), None)).expect_err("forbidden header");
        assert!(
            e.0.iter()
                .any(|l| l.contains("domains[0].routing_rules[0].conditions.headers[0].header")),
            "{e:?}"
        );
    }
}
