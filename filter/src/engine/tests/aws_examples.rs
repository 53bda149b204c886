//! Examples 2, 3 and 4 of API Gateway's "Examples of how API Gateway evaluates routing rules"
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-routing-rules-examples.html),
//! transcribed row by row: every rule (id, priority, conditions, target), every API mapping, every example
//! request (headers, base path) and the documented selection. Example 1 is
//! `r2_api_gateway_example_routing_rules_only` in `tests.rs`.
//!
//! Notation: the page writes base paths with a leading slash (`/refunds`); here, as in the config, without.
//! Each target API stage forwards to its own cluster, so `.cluster()` names the API (and stage) selected.

use super::*;

/// One API with the given stages, each forwarding to its own cluster.
fn api(id: &str, stages: &[(&str, &str)]) -> Value {
    let mut s = serde_json::Map::new();
    for (stage, cluster) in stages {
        s.insert((*stage).to_string(), json!({ "integration": http(cluster) }));
    }
    json!({"id": id, "stages": s})
}

/// A rule invoking `api`/`stage` (strip_base_path left at its default, false).
fn rule_to(id: &str, priority: i64, conditions: Value, api: &str, stage: &str) -> Value {
    json!({"id": id, "priority": priority, "conditions": conditions,
           "action": {"invoke_api": {"api": api, "stage": stage}}})
}

/// What selected the API (R11): `rule <id>` or `mapping <base path or (none)>`; the reply otherwise.
fn via(e: &Engine, r: &Req<'_>) -> String {
    match e.evaluate(&r.view()) {
        Decision::Forward(f) => match (f.rule_id, f.mapping_id) {
            (Some(rule), None) => format!("rule {rule}"),
            (None, Some(mapping)) => format!("mapping {mapping}"),
            other => panic!("both or neither of rule and mapping: {other:?}"),
        },
        Decision::LocalReply(l) => format!("{} {}", l.status, l.reason),
    }
}

// Example 2: Routing rules and API mappings.
//
// "the custom domain name `https://petstore.diagram.example.com` has the routing mode set to
// `ROUTING_RULE_THEN_API_MAPPING`"
//
// | Rule ID  | Priority | Conditions                                                 | Action                    |
// | `abc123` | 1        | If request the base contains `pets`                        | `Prod` stage of `PetStore`|
// | `000zzz` | 5        | If request contains headers: `Cookie`:`*ux=beta*` and and  | `Beta` stage of `Refunds` |
// |          |          | if the base path contains `/refunds`                       |                           |
//
// | API mapping | Selected API                |
// | `/refunds`  | `Prod` stage of `Refunds`   |
// | `(none)`    | `Prod` stage of `Search`    |
//
// (The page captions the mapping table "API mappings for `https://petstore.backup.example.com`"; it is this
// example's domain, the one the requests below go to.)
#[test]
fn r8_api_gateway_example_2_routing_rules_and_api_mappings() {
    let host = "petstore.diagram.example.com";
    let e = engine(json!({
        "domains": [{
            "name": host,
            "routing_mode": "ROUTING_RULE_THEN_API_MAPPING",
            "routing_rules": [
                rule_to("abc123", 1, json!({"base_path": "pets"}), "PetStore", "Prod"),
                rule_to(
                    "000zzz",
                    5,
                    json!({"headers": [{"header": "Cookie", "value_glob": "*ux=beta*"}],
                           "base_path": "refunds"}),
                    "Refunds",
                    "Beta"
                ),
            ],
            "api_mappings": [
                {"base_path": "refunds", "api": "Refunds", "stage": "Prod"},
                {"base_path": "", "api": "Search", "stage": "Prod"},
            ],
        }],
        "apis": [
            api("PetStore", &[("Prod", "petstore-prod")]),
            api("Refunds", &[("Prod", "refunds-prod"), ("Beta", "refunds-beta")]),
            api("Search", &[("Prod", "search-prod")]),
        ],
    }));

    // `https://petstore.diagram.com/pets` | The `Prod` stage of the `PetStore` API. | "The request matches
    // routing rule `abc123`." (The page's host drops `.example`; the request is to this example's domain.)
    // R2 (first match by priority), R6 (base path `pets`), R8 (rules before mappings).
    let r = req("GET", host, "/pets");
    assert_eq!(r.cluster(&e), "petstore-prod");
    assert_eq!(via(&e, &r), "rule abc123");

    // `https://petstore.diagram.example.com/refunds -h "Cookie:lang=en-us;ux=beta"` | The `Beta` stage of the
    // `Refunds` API. | "matches routing rule `000zzz`. The `Cookie` header contains the correct `*contains*`
    // match and base path match". R2 (header AND base path), R3 (`*v*` contains, name case-insensitive),
    // R6, R8.
    let r = req("GET", host, "/refunds").h("Cookie", "lang=en-us;ux=beta");
    assert_eq!(r.cluster(&e), "refunds-beta");
    assert_eq!(via(&e, &r), "rule 000zzz");

    // `https://petstore.diagram.example.com/refunds` | The `Prod` stage of the `Refunds` API. | "doesn't have
    // the required headers to match the routing rule `zzz000` [sic, `000zzz`] ... it falls back to API
    // mappings". R5 (absent header is false), R8 (fallback to mappings), R9 (mapping `/refunds`).
    let r = req("GET", host, "/refunds");
    assert_eq!(r.cluster(&e), "refunds-prod");
    assert_eq!(via(&e, &r), "mapping refunds");

    // `https://petstore.diagram.example.com/` | The `Prod` stage of the `Search` API. | "matches the API
    // mapping to the empty path `(none)`." R8, R9 (`(none)` catches the rest).
    let r = req("GET", host, "/");
    assert_eq!(r.cluster(&e), "search-prod");
    assert_eq!(via(&e, &r), "mapping (none)");
}

// Example 3: Routing rules and API mappings with multiple level.
//
// "the custom domain name `https://petstore.backup.example.com` has the routing mode set to
// `ROUTING_RULE_THEN_API_MAPPING`"
//
// | Rule ID  | Priority | Conditions                                                            | Action       |
// | `abc123` | 10       | If request contains header: `Hello:World`                             | Target API 1 |
// | `000zzz` | 50       | If request contains headers: `Accept`:`image/webp` and `Pet:Dog-*`    | Target API 2 |
// |          |          | and if the base path contains `PetStoreShopper`                       |              |
//
// | API mapping            | Selected API |
// | `PetStoreShopper`      | Target API 3 |
// | `PetStoreShopper/cats` | Target API 4 |
//
// (The page's requests are written to `https://petstore.example.com`, Example 1's domain; they are sent here
// to this example's domain.)
#[test]
fn r8_api_gateway_example_3_routing_rules_and_multi_level_api_mappings() {
    let host = "petstore.backup.example.com";
    let e = engine(json!({
        "domains": [{
            "name": host,
            "routing_mode": "ROUTING_RULE_THEN_API_MAPPING",
            "routing_rules": [
                rule(
                    "abc123",
                    10,
                    json!({"headers": [{"header": "Hello", "value_glob": "World"}]}),
                    "api1"
                ),
                rule(
                    "000zzz",
                    50,
                    json!({"headers": [{"header": "Accept", "value_glob": "image/webp"},
                                       {"header": "Pet", "value_glob": "Dog-*"}],
                           "base_path": "PetStoreShopper"}),
                    "api2"
                ),
            ],
            "api_mappings": [
                {"base_path": "PetStoreShopper", "api": "api3", "stage": "prod"},
                {"base_path": "PetStoreShopper/cats", "api": "api4", "stage": "prod"},
            ],
        }],
        "apis": apis(&["api1", "api2", "api3", "api4"]),
    }));

    // `https://petstore.example.com/PetStoreShopper -h "Accept:image/webp", "Pet:Cats"` | Target API 3 |
    // "doesn't have the required headers to match the routing rule `zzz000` [sic] ... falls back to API
    // mappings. API Gateway can map the base path to Target API 3." R2 (all conditions ANDed), R3
    // (`Cats` is not `Dog-*`; `Hello` absent), R8 (fallback), R9 (`PetStoreShopper`, not
    // `PetStoreShopper/cats`).
    let r = req("GET", host, "/PetStoreShopper")
        .h("Accept", "image/webp")
        .h("Pet", "Cats");
    assert_eq!(r.cluster(&e), "api3");
    assert_eq!(via(&e, &r), "mapping PetStoreShopper");

    // `https://petstore.example.com/PetStoreShopper/cats -h "Hello:World"` | Target API 1 | "matches routing
    // rule `abc123`. If the routing mode is set to `ROUTING_RULE_THEN_API_MAPPING`, routing rules always take
    // priority over API mappings." R2, R3 (exact `World`), R8 (the rule beats the longer mapping
    // `PetStoreShopper/cats`, R9).
    let r = req("GET", host, "/PetStoreShopper/cats").h("Hello", "World");
    assert_eq!(r.cluster(&e), "api1");
    assert_eq!(via(&e, &r), "rule abc123");

    // `https://petstore.example.com/Admin -h "Pet:Dog-Bella"` | None | "doesn't match any routing rules or
    // API mappings. Since there is no default routing rule, API Gateway rejects the call and sends the caller
    // a `403 Forbidden` status code." R5 (`Accept` absent), R6 (`Admin` is not `PetStoreShopper`), R8, R9
    // (no mapping, no `(none)`), R10 (403 `{"message":"Forbidden"}`).
    let r = req("GET", host, "/Admin").h("Pet", "Dog-Bella");
    assert_eq!(r.on(&e), Out::Reply(403, "no_api"));
    match e.evaluate(&r.view()) {
        Decision::LocalReply(l) => {
            assert_eq!((l.status, l.body), (403, r#"{"message":"Forbidden"}"#))
        }
        other => panic!("{other:?}"),
    }
}

// Example 4: Routing rules for wildcard domain names.
//
// "the custom domain name `https://*.example.com` is a wildcard domain name. ... The following example
// routing rules change this behavior to allow subdomains to route to different target APIs by using the
// `Host` header." (The page names no routing mode; it lists rules only, so ROUTING_RULE_ONLY.)
//
// | Rule ID  | Priority | Conditions                                         | Action       |
// | `abc123` | 10       | If request contains header: `Host:a.example.com`   | Target API 1 |
// | `000zzz` | 50       | If request contains headers: `Host:b.example.com`  | Target API 2 |
// | `efg456` | 500      | None                                               | Target API 3 |
//
// Differs from routewise: the config is rejected ("domains[0].routing_rules[0].conditions.headers[0].header:
// header `host` cannot be used in a routing rule condition"; `host` is in build.rs FORBIDDEN_HEADERS as a
// project decision, not in API Gateway's list). Allowing it would not suffice: rule conditions read header
// lines, and Envoy hands the Host over as `:authority` only.
#[test]
fn r3_api_gateway_example_4_routing_rules_for_wildcard_domain_names() {
    let e = engine(json!({
        "domains": [{
            "name": "*.example.com",
            "routing_mode": "ROUTING_RULE_ONLY",
            "routing_rules": [
                rule(
                    "abc123",
                    10,
                    json!({"headers": [{"header": "Host", "value_glob": "a.example.com"}]}),
                    "api1"
                ),
                rule(
                    "000zzz",
                    50,
                    json!({"headers": [{"header": "Host", "value_glob": "b.example.com"}]}),
                    "api2"
                ),
                rule("efg456", 500, json!({}), "api3"),
            ],
        }],
        "apis": apis(&["api1", "api2", "api3"]),
    }));

    // The requests carry no `-h`: their `Host` is the URL's host, which Envoy hands over as `:authority`.

    // `https://a.example.com` | Target API 1 | "The `Host` header is `a.example.com`. This request matches
    // routing rule `abc123`." D1 (wildcard domain), R2, R3 (exact glob).
    let r = req("GET", "a.example.com", "/");
    assert_eq!(r.cluster(&e), "api1");
    assert_eq!(via(&e, &r), "rule abc123");

    // `https://b.example.com` | Target API 2 | "The `Host` header is `b.example.com`. This request matches
    // routing rule `000zzz`." D1, R2 (priority order), R3.
    let r = req("GET", "b.example.com", "/");
    assert_eq!(r.cluster(&e), "api2");
    assert_eq!(via(&e, &r), "rule 000zzz");

    // `https://testing.example.com` | Target API 3 | "This matches the catch-all routing rule `efg456`."
    // D1, R2 (no conditions = catch-all).
    let r = req("GET", "testing.example.com", "/");
    assert_eq!(r.cluster(&e), "api3");
    assert_eq!(via(&e, &r), "rule efg456");
}
