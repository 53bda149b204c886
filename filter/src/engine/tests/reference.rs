//! The property test of the indexed engine against the deliberately naive reference
//! ([`crate::engine::reference`]: the spec's rules applied by linear scans in spec order) on generated
//! configs and requests.

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use crate::config::{
    ActionConfig, ApiConfig, ApiMappingConfig, ConditionsConfig, Config, DomainConfig, HeaderConditionConfig,
    InvokeApiConfig, Lenient, RoutingMode, RoutingRuleConfig,
};
use crate::engine::reference::{
    engine_outcome, generated_api, generated_routes, reference, RouteShape, BASES, DOMAINS, HEADER_NAMES,
    MAP_BASES, PATHS, ROUTE_HOSTS,
};
use crate::engine::Engine;
use crate::request::RequestView;

// ---------------------------------------------------------------- generators

const GLOBS: [&str; 10] = ["a", "b", "ab", "a*", "*a", "*a*", "*b*", "*", "b*", "*b"];

fn rule_strategy() -> impl Strategy<Value = (Vec<(usize, usize)>, Option<usize>, usize, bool)> {
    (
        proptest::collection::vec((0..HEADER_NAMES.len(), 0..GLOBS.len()), 0..=2),
        proptest::option::of(0..BASES.len()),
        0..2usize,
        any::<bool>(),
    )
}

fn domain_strategy() -> impl Strategy<Value = DomainConfig> {
    (
        select(DOMAINS.to_vec()),
        0..3usize,
        proptest::collection::vec(rule_strategy(), 0..6),
        subsequence(MAP_BASES.to_vec(), 0..=MAP_BASES.len()),
        proptest::collection::vec(0..2usize, 5),
        select(vec![403u16, 404]),
    )
        .prop_map(|(name, mode, rules, bases, map_apis, status)| {
            let mode = [
                RoutingMode::ApiMappingOnly,
                RoutingMode::RoutingRuleThenApiMapping,
                RoutingMode::RoutingRuleOnly,
            ][mode];
            let rules = if mode == RoutingMode::ApiMappingOnly {
                vec![]
            } else {
                rules
            };
            let bases = if mode == RoutingMode::RoutingRuleOnly {
                vec![]
            } else {
                bases
            };
            DomainConfig {
                name: name.into(),
                routing_mode: mode,
                routing_rules: rules
                    .into_iter()
                    .enumerate()
                    .map(|(i, (headers, base, api, strip))| {
                        Lenient::Ok(RoutingRuleConfig {
                            id: Some(format!("rule{i}")),
                            // Priorities unique, deliberately not in file order.
                            priority: ((i as i64 * 7) % 11) + 1 + (i as i64 / 11) * 11,
                            conditions: ConditionsConfig {
                                headers: headers
                                    .into_iter()
                                    .map(|(n, g)| HeaderConditionConfig {
                                        header: HEADER_NAMES[n].into(),
                                        value_glob: GLOBS[g].into(),
                                    })
                                    .collect(),
                                base_path: base.map(|b| BASES[b].into()),
                            },
                            action: ActionConfig {
                                invoke_api: InvokeApiConfig {
                                    api: format!("api{api}"),
                                    stage: "prod".into(),
                                    strip_base_path: strip,
                                },
                            },
                        })
                    })
                    .collect(),
                api_mappings: bases
                    .into_iter()
                    .zip(map_apis)
                    .map(|(b, api)| {
                        Lenient::Ok(ApiMappingConfig {
                            id: None,
                            base_path: b.into(),
                            api: format!("api{api}"),
                            stage: "prod".into(),
                        })
                    })
                    .collect(),
                no_match_status: status,
            }
        })
}

fn api_strategy(index: usize) -> impl Strategy<Value = ApiConfig> {
    (
        proptest::sample::subsequence(PATHS.to_vec(), 0..=PATHS.len()).prop_shuffle(),
        proptest::collection::vec(
            (
                prop_oneof![2 => Just(0usize), 1 => 1..4usize],
                prop_oneof![3 => Just(0usize), 1 => 1..ROUTE_HOSTS.len()],
                -1i64..=1,
                any::<bool>(),
                any::<bool>(),
                1..=2usize,
            ),
            6,
        ),
        proptest::bool::weighted(0.2),
    )
        .prop_map(move |(paths, shapes, api_hosts)| {
            let mut shapes =
                shapes
                    .into_iter()
                    .map(
                        |(methods, hosts, priority, own_integration, key_form, paths)| RouteShape {
                            methods: match methods {
                                0 => vec![],
                                1 => vec!["GET".into()],
                                2 => vec!["POST".into()],
                                _ => vec!["GET".into(), "POST".into()],
                            },
                            hosts,
                            priority,
                            own_integration,
                            key_form,
                            paths,
                        },
                    );
            let routes = generated_routes(index, &paths, || {
                shapes.next().expect("six shapes for at most six routes")
            });
            generated_api(index, routes, api_hosts)
        })
}

fn config_strategy() -> impl Strategy<Value = Config> {
    (
        proptest::collection::vec(domain_strategy(), 1..4),
        api_strategy(0),
        api_strategy(1),
    )
        .prop_map(|(domains, a0, a1)| {
            // Domain names must be unique: keep the first of each.
            let mut seen = std::collections::HashSet::new();
            let domains = domains
                .into_iter()
                .filter(|d| seen.insert(d.name.clone()))
                .map(Lenient::Ok)
                .collect();
            Config {
                cluster_header: crate::config::DEFAULT_CLUSTER_HEADER.into(),
                filter_state: None,
                domains,
                apis: vec![Lenient::Ok(a0), Lenient::Ok(a1)],
                consumers: vec![],
            }
        })
}

const HOSTS: [&str; 8] = [
    "api.example.com",
    "API.example.com:8443",
    "x.example.com",
    "a.b.example.com",
    "c.b.example.com",
    "example.com",
    "other.org",
    "api.example.com:80",
];
const REQ_PATHS: [&str; 17] = [
    "/",
    "/a",
    "/a/",
    "/a/b",
    "/ab",
    "/abc",
    "/a/b/c",
    "/b/x/c",
    "/p",
    "/p/q",
    "/p/q/a",
    "/pq",
    "/q/a/b",
    "/r?x=1",
    "/p?y",
    "/x/a",
    "/a/b?z=/p",
];
const HEADERS: [(&str, &str); 6] = [
    ("x-a", "a"),
    ("x-a", "ab"),
    ("x-b", "b"),
    ("x-b", "ba"),
    ("x-a", ""),
    ("x-b", "xab"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    // The indexed engine agrees with the linear reference on every generated config and request (D1-D3,
    // R2-R9, P2-P5).
    #[test]
    fn indexed_engine_agrees_with_naive_reference(
        config in config_strategy(),
        requests in proptest::collection::vec(
            (select(HOSTS.to_vec()), select(REQ_PATHS.to_vec()), select(vec!["GET", "POST", "PUT"]),
             subsequence(HEADERS.to_vec(), 0..=3)),
            1..12),
    ) {
        let engine = match Engine::from_config(&config) {
            Ok(e) => e,
            Err(errors) => panic!("generated config rejected:\n{errors}"),
        };
        engine.check_invariants().map_err(TestCaseError::fail)?;
        for (host, path, method, headers) in requests {
            let headers: Vec<(String, String)> =
                headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            let view = RequestView { method, authority: host, path, headers: &headers, remote_addr: None };
            let want = reference(&config, &view);
            let got = engine_outcome(&config, &engine, &view);
            prop_assert_eq!(got, want, "{} {}{} {:?}", method, host, path, headers);
        }
    }
}
