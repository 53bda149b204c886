//! P6 held against the test files of lua-resty-radixtree and APISIX: each case below is a transcription of
//! one test block, cited as `file TEST n: title`, with the route set as routewise config (an API whose
//! router is the compatibility router the test runs under), the request, and the route APISIX answered
//! with (test-nginx's `response_body`: the upstream port or body told the routes apart; here every route
//! has an explicit id, as `routewise import apisix` writes them).
//!
//! Sources (commits of the snapshots read):
//! - LRR: github.com/api7/lua-resty-radixtree @ 8166eea3e1128ab83e741aa665685648c234cac8 (`t/*.t`; the
//!   semantics in `lib/resty/radixtree.lua`).
//! - APISIX: github.com/apache/apisix @ f519a0f04ccfd4c13b5d06caf34bcde8c8593980 (`t/router/*.t`; the
//!   routers in `apisix/http/router/radixtree_{uri,host_uri}.lua`, `apisix/http/route.lua`,
//!   `apisix/utils/router.lua`).
//!
//! What the sources fix: both routers build lua-resty-radixtree with `no_param_match = true`
//! (`apisix/utils/router.lua`), so a `:` in a uri is a literal character, never a parameter (LRR
//! `t/parameter.t` TEST 9); routes of one uri are ordered by `priority` descending, then configuration
//! order (`sort_route` + `insert_tab_in_order`); a wildcard host `*.foo.com` matches every host that ends
//! with `.foo.com` (`has_suffix`), `.foo.com` included, `foo.com` not; hosts compare in lowercase
//! (`apisix/router.lua` lowercases route hosts, LRR lowercases the request's).

use serde_json::{json, Value};

use super::*;

const BOTH: [&str; 2] = ["apisix_radixtree_uri", "apisix_radixtree_host_uri"];

/// `routes` under `router`, with `services`.
fn with_services(router: &str, services: Value, routes: Value) -> Engine {
    engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "router": router, "stages": {"prod": {"integration": http("c")}},
                  "services": services, "routes": routes}]}),
    )
}

#[track_caller]
fn expect(e: &Engine, router: &str, cases: &[(&str, &str, &str, &str)]) {
    for (method, host, path, want) in cases {
        assert_eq!(
            req(method, host, path).route(e),
            *want,
            "{router}: {method} {host}{path}"
        );
    }
}

// ------------------------------------------------------------------------------------------ priority

#[test]
fn p6_lrr_priority_same_exact_path() {
    for router in BOTH {
        // LRR t/priority.t TEST 1: multiple route (same priority): the first wins.
        let e = router_engine(
            router,
            json!([{"id": "1", "paths": ["/aa"]}, {"id": "2", "paths": ["/aa"]}]),
        );
        expect(&e, router, &[("GET", "x.com", "/aa", "1")]);
        // LRR t/priority.t TEST 2: multiple route (different priority): 2 beats 1.
        let e = router_engine(
            router,
            json!([{"id": "1", "paths": ["/aa"], "priority": 1},
                   {"id": "2", "paths": ["/aa"], "priority": 2}]),
        );
        expect(&e, router, &[("GET", "x.com", "/aa", "2")]);
    }
}

#[test]
fn p6_lrr_priority_same_prefix_path() {
    for router in BOTH {
        // LRR t/priority.t TEST 3: multiple route (same priority), `/aa*` twice: the first wins.
        let e = router_engine(
            router,
            json!([{"id": "1", "paths": ["/aa*"]}, {"id": "2", "paths": ["/aa*"]}]),
        );
        expect(&e, router, &[("GET", "x.com", "/aa/bb", "1")]);
        // LRR t/priority.t TEST 4: multiple route (different priority): default 0, then 1.
        let e = router_engine(
            router,
            json!([{"id": "1", "paths": ["/aa*"]}, {"id": "2", "paths": ["/aa*"], "priority": 1}]),
        );
        expect(&e, router, &[("GET", "x.com", "/aa/bb", "2")]);
    }
}

#[test]
fn p6_apisix_radixtree_uri_priority() {
    let router = "apisix_radixtree_uri";
    // APISIX t/router/radixtree-uri-priority.t TEST 1-2: route 1 `/server_port*` priority 2 alone.
    let e = router_engine(
        router,
        json!([{"id": "1", "paths": ["/server_port*"], "priority": 2}]),
    );
    expect(&e, router, &[("GET", "localhost", "/server_port/aa", "1")]);
    // TEST 3-4: route 2, same uri, priority 1: route 1 (1980) still answers.
    let e = router_engine(
        router,
        json!([{"id": "1", "paths": ["/server_port*"], "priority": 2},
               {"id": "2", "paths": ["/server_port*"], "priority": 1}]),
    );
    expect(&e, router, &[("GET", "localhost", "/server_port/aa", "1")]);
    // TEST 5-6: route 2 updated to priority 3: route 2 (1981) answers.
    let e = router_engine(
        router,
        json!([{"id": "1", "paths": ["/server_port*"], "priority": 2},
               {"id": "2", "paths": ["/server_port*"], "priority": 3}]),
    );
    expect(&e, router, &[("GET", "localhost", "/server_port/aa", "2")]);
}

#[test]
fn p6_apisix_radixtree_host_uri_priority() {
    let router = "apisix_radixtree_host_uri";
    // APISIX t/router/radixtree-host-uri-priority.t, standalone routes without ids (APISIX names them by
    // position); `a` is listed first, `b` second, both `uri: /server_port`, `host: test.com`.
    for (test, pa, pb, want) in [
        // TEST 1: hit routes(priority: 1 + priority: 2) -> 1980, the second route.
        ("TEST 1", Some(1), Some(2), "b"),
        // TEST 2: hit routes(priority: 2 + priority: 1) -> 1981, the first route.
        ("TEST 2", Some(2), Some(1), "a"),
        // TEST 3: hit routes(priority: default_value + priority: 1) -> 1980, the second route.
        ("TEST 3", None, Some(1), "b"),
        // TEST 4: hit routes(priority: 1 + priority: default_value) -> 1981, the first route.
        ("TEST 4", Some(1), None, "a"),
    ] {
        let route = |id: &str, p: Option<i64>| {
            let mut r = json!({"id": id, "paths": ["/server_port"], "hosts": ["test.com"]});
            if let Some(p) = p {
                r["priority"] = json!(p);
            }
            r
        };
        let e = router_engine(router, json!([route("a", pa), route("b", pb)]));
        assert_eq!(req("GET", "test.com", "/server_port").route(&e), want, "{test}");
    }
}

#[test]
fn p6_same_uri_priority_holds_across_methods_and_falls_through_filters() {
    // LRR `sort_route`: one bucket per stored path, priority first; a route whose filters fail passes the
    // request to the next one of the bucket (`_match_from_routes`), then to shorter prefixes.
    for router in BOTH {
        let e = router_engine(
            router,
            json!([{"id": "low", "paths": ["/aa*"]},
                   {"id": "high-post", "paths": ["/aa*"], "methods": ["POST"], "priority": 5},
                   {"id": "mid", "paths": ["/aa*"], "priority": 1},
                   {"id": "short", "paths": ["/a*"], "priority": 9}]),
        );
        expect(
            &e,
            router,
            &[
                ("POST", "x.com", "/aa/1", "high-post"),
                ("GET", "x.com", "/aa/1", "mid"),
                ("GET", "x.com", "/ab", "short"),
            ],
        );
    }
}

#[test]
fn p6_same_uri_routes_are_not_duplicate_keys_but_derived_ids_still_collide() {
    // APISIX accepts routes of one uri (its priority tests need them); P4 still holds: two routes with the
    // same content and no explicit id would get one derived id, so that is an error naming the fix.
    let cfg = json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "router": "apisix_radixtree_uri", "stages": {"prod": {"integration": http("c")}},
                  "routes": [{"paths": ["/aa"]}, {"paths": ["/aa"], "priority": 1}]}]});
    assert_error(cfg, "apis[0].routes[1]", "set an explicit `id`");
    // The `specificity` router keeps P3: one key per API.
    let cfg = json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "stages": {"prod": {"integration": http("c")}},
                  "routes": [{"id": "1", "paths": ["/aa"]}, {"id": "2", "paths": ["/aa"], "priority": 1}]}]});
    assert_error(cfg, "apis[0].routes[1].paths[0]", "is defined twice");
}

#[test]
fn p6_lint_reports_same_uri_ties_and_priority_shadowing() {
    // E2 + P6: a route that repeats another (same uri, filters and priority) never wins: the earlier one
    // does, by file order; a higher priority with the same filters shadows the other route for good; two
    // routes of one uri and priority whose filters differ but can both pass are a file-order tie.
    for router in BOTH {
        let e = router_engine(
            router,
            json!([{"id": "1", "paths": ["/aa"]}, {"id": "2", "paths": ["/aa"]},
                   {"id": "3", "paths": ["/bb*"], "priority": 1}, {"id": "4", "paths": ["/bb*"], "priority": 2},
                   {"id": "5", "paths": ["/cc"], "methods": ["GET"]}, {"id": "6", "paths": ["/cc"], "vars": [["arg_x", "==", "1"]]}]),
        );
        let findings = crate::lint::lint(&e);
        let has = |code: &str, ids: [&str; 2]| {
            findings
                .iter()
                .any(|f| f.code == code && f.ids == ids.map(String::from))
        };
        assert!(has("shadowed-route", ["2", "1"]), "{router}: {findings:#?}");
        assert!(has("shadowed-route", ["3", "4"]), "{router}: {findings:#?}");
        assert!(has("file-order-tie", ["5", "6"]), "{router}: {findings:#?}");
        assert_eq!(findings.len(), 3, "{router}: {findings:#?}");
    }
    // Under `apisix_radixtree_uri` hosts are filters: `*.foo.com` and `a.foo.com` both take `a.foo.com`, so
    // file order decides between them.
    let e = router_engine(
        "apisix_radixtree_uri",
        json!([{"id": "w", "paths": ["/x"], "hosts": ["*.foo.com"]},
               {"id": "a", "paths": ["/x"], "hosts": ["a.foo.com"]},
               {"id": "b", "paths": ["/x"], "hosts": ["b.bar.com"]}]),
    );
    let findings = crate::lint::lint(&e);
    assert_eq!(req("GET", "a.foo.com", "/x").route(&e), "w");
    assert!(
        findings
            .iter()
            .any(|f| f.code == "shadowed-route" && f.ids == ["a", "w"]),
        "{findings:#?}"
    );
    assert!(
        !findings.iter().any(|f| f.ids.contains(&"b".to_string())),
        "{findings:#?}"
    );
    // `*.foo.com` listed after `a.foo.com`: now `a` wins on `a.foo.com`, `w` on the rest: a tie.
    let e = router_engine(
        "apisix_radixtree_uri",
        json!([{"id": "a", "paths": ["/x"], "hosts": ["a.foo.com"]},
               {"id": "w", "paths": ["/x"], "hosts": ["*.foo.com"]}]),
    );
    let findings = crate::lint::lint(&e);
    assert!(
        findings
            .iter()
            .any(|f| f.code == "file-order-tie" && f.ids == ["a", "w"]),
        "{findings:#?}"
    );
}

// ------------------------------------------------------------------------------------------ hosts

#[test]
fn p6_lrr_host_exact_and_wildcard() {
    for router in BOTH {
        // LRR t/host.t TEST 1: sanity (`foo.com`).
        let e = router_engine(
            router,
            json!([{"id": "aa", "paths": ["/aa*"], "hosts": ["foo.com"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "foo.com", "/aa/bb", "aa"),
                ("GET", "www.foo.com", "/aa/bb", "404 no_route"),
            ],
        );
        // LRR t/host.t TEST 2: wildcard (`*.foo.com`); TEST 6: the same as a string.
        let e = router_engine(
            router,
            json!([{"id": "aa", "paths": ["/aa*"], "hosts": ["*.foo.com"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "foo.com", "/aa/bb", "404 no_route"),
                ("GET", ".foo.com", "/aa/bb", "aa"),
                ("GET", "www.foo.com", "/aa/bb", "aa"),
                ("GET", "www.bar.foo.com", "/aa/bb", "aa"),
            ],
        );
        // LRR t/host.t TEST 3: mutiple domain.
        let e = router_engine(
            router,
            json!([{"id": "aa", "paths": ["/aa*"], "hosts": ["foo.com", "bar.com"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "foo.com", "/aa/bb", "aa"),
                ("GET", "bar.com", "/aa/bb", "aa"),
                ("GET", "ggg.com", "/aa/bb", "404 no_route"),
            ],
        );
        // LRR t/host.t TEST 4 (and t/multiple.t TEST 2): mutiple domain (wildcard domain).
        let e = router_engine(
            router,
            json!([{"id": "aa", "paths": ["/aa*"], "hosts": ["foo.com", "*.bar.com"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "foo.com", "/aa/bb", "aa"),
                ("GET", "bar.com", "/aa/bb", "404 no_route"),
                ("GET", "www.bar.com", "/aa/bb", "aa"),
                ("GET", "ggg.com", "/aa/bb", "404 no_route"),
            ],
        );
        // LRR t/host.t TEST 7: hosts contains uppercase (`foo.cOm`); TEST 8: opt.host contains uppercase.
        let e = router_engine(
            router,
            json!([{"id": "aa", "paths": ["/aa*"], "hosts": ["foo.cOm"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "foo.com", "/aa/bb", "aa"),
                ("GET", "www.foo.com", "/aa/bb", "404 no_route"),
                ("GET", "foo.cOm", "/aa/bb", "aa"),
            ],
        );
    }
}

#[test]
fn p6_apisix_wildcard_without_a_dot_matches_the_suffix_itself() {
    // APISIX's host schema (`apisix/schema_def.lua` `host_def_pat`: `^\*?[0-9a-zA-Z-._\[\]:]+$`) admits
    // `*foo.com`; LRR `match_host` is `has_suffix(host, "foo.com")`, and radixtree_host_uri's host router is
    // a prefix `moc.oof` of the reversed host: `foo.com` and `xfoo.com` match, `foo.org` does not.
    for router in BOTH {
        let e = router_engine(
            router,
            json!([{"id": "w", "paths": ["/aa*"], "hosts": ["*foo.com"]},
                   {"id": "dot", "paths": ["/aa/bb"], "hosts": ["*.foo.com"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "foo.com", "/aa/bb", "w"),
                ("GET", "xfoo.com", "/aa/bb", "w"),
                ("GET", "a.foo.com", "/aa/bb", "dot"),
                ("GET", "a.foo.com", "/aa/cc", "w"),
                ("GET", "foo.org", "/aa/bb", "404 no_route"),
            ],
        );
    }
    // Outside the compatibility routers the wildcard is a whole leading label (P1), as before.
    let cfg = routes_api(json!([{"id": "w", "paths": ["/aa*"], "hosts": ["*foo.com"]}]));
    assert_error(cfg, "apis[0].routes[0].hosts[0]", "leading label");
}

#[test]
fn p6_apisix_radixtree_uri_host() {
    let router = "apisix_radixtree_uri";
    // APISIX t/router/radixtree-uri-host.t TEST 1-6: route 1 GET `*.foo.com` `/hello`.
    let e = router_engine(
        router,
        json!([{"id": "1", "methods": ["GET"], "hosts": ["*.foo.com"], "paths": ["/hello"]}]),
    );
    expect(
        &e,
        router,
        &[
            ("GET", "localhost", "/not_found", "404 no_route"),
            ("GET", "not_found.com", "/hello", "404 no_route"),
            ("GET", "www.foo.com", "/hello", "1"),
            ("GET", "user.foo.com", "/hello", "1"),
        ],
    );
    // TEST 7-11: route 1 GET `foo.com` `/hello`.
    let e = router_engine(
        router,
        json!([{"id": "1", "methods": ["GET"], "hosts": ["foo.com"], "paths": ["/hello"]}]),
    );
    expect(
        &e,
        router,
        &[
            ("GET", "localhost", "/hello", "404 no_route"),
            ("GET", "www.foo.com", "/hello", "404 no_route"),
            ("GET", "foo.com", "/hello", "1"),
        ],
    );
}

#[test]
fn p6_apisix_radixtree_host_uri_hosts() {
    let router = "apisix_radixtree_host_uri";
    // APISIX t/router/radixtree-host-uri.t TEST 1-6: `foo.com` + `/hello`; TEST 14-15: `*.foo.com`.
    let e = router_engine(
        router,
        json!([{"id": "1", "paths": ["/hello"], "hosts": ["foo.com"]}]),
    );
    expect(
        &e,
        router,
        &[
            ("GET", "localhost", "/not_found", "404 no_route"),
            ("GET", "localhost", "/hello", "404 no_route"),
            ("GET", "not_found.com", "/hello", "404 no_route"),
            ("GET", "foo.com", "/hello", "1"),
        ],
    );
    let e = router_engine(
        router,
        json!([{"id": "1", "paths": ["/hello"], "hosts": ["*.foo.com"]}]),
    );
    expect(&e, router, &[("GET", "www.foo.com", "/hello", "1")]);
    // APISIX t/router/radixtree-host-uri2.t TEST 1: `test.com` route before the host-less one (1981).
    let e = router_engine(
        router,
        json!([{"id": "a", "paths": ["/server_port"], "hosts": ["test.com"]},
               {"id": "b", "paths": ["/server_port"]}]),
    );
    expect(&e, router, &[("GET", "test.com", "/server_port", "a")]);
    // TEST 2: `*.test.com` + uri (1981).
    let e = router_engine(
        router,
        json!([{"id": "a", "paths": ["/server_port"], "hosts": ["*.test.com"]},
               {"id": "b", "paths": ["/server_port"]}]),
    );
    expect(&e, router, &[("GET", "www.test.com", "/server_port", "a")]);
    // TEST 3: `*.test.com` + `/*` beats the host-less exact `/server_port` (1981): host first.
    let e = router_engine(
        router,
        json!([{"id": "a", "paths": ["/*"], "hosts": ["*.test.com"]},
               {"id": "b", "paths": ["/server_port"]}]),
    );
    expect(&e, router, &[("GET", "www.test.com", "/server_port", "a")]);
    // TEST 4-5 (`filter_func`) have no routewise counterpart: the same choice through `vars`.
    let e = router_engine(
        router,
        json!([{"id": "a", "paths": ["/*"], "hosts": ["*.test.com"], "vars": [["arg_name", "==", "json"]]},
               {"id": "b", "paths": ["/server_port"]}]),
    );
    expect(
        &e,
        router,
        &[
            ("GET", "www.test.com", "/server_port?name=unknown", "b"),
            ("GET", "www.test.com", "/server_port?name=json", "a"),
        ],
    );
    // TEST 12: request host with uppercase; TEST 13: configure host with uppercase.
    let e = router_engine(
        router,
        json!([{"id": "a", "paths": ["/server_port"], "hosts": ["test.com"]}]),
    );
    expect(&e, router, &[("GET", "tEst.com", "/server_port", "a")]);
    let e = router_engine(
        router,
        json!([{"id": "a", "paths": ["/server_port"], "hosts": ["test.coM"]}]),
    );
    expect(&e, router, &[("GET", "test.com", "/server_port", "a")]);
}

// ------------------------------------------------------------------------------------------ `:` in uris

#[test]
fn p6_colon_in_a_uri_is_literal() {
    // APISIX t/router/radixtree-uri-host.t TEST 15-17 (radixtree_uri) and t/router/radixtree-host-uri2.t
    // TEST 6-8 (radixtree_host_uri): set route with ':' `/file:listReputationHistories`: hit; `/file:xx`: 404.
    for router in BOTH {
        let e = router_engine(
            router,
            json!([{"id": "1", "paths": ["/file:listReputationHistories"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "localhost", "/file:listReputationHistories", "1"),
                ("GET", "localhost", "/file:xx", "404 no_route"),
            ],
        );
    }
    // radixtree-host-uri2.t TEST 9-11: set route with ':' & host `t.com`.
    let router = "apisix_radixtree_host_uri";
    let e = router_engine(
        router,
        json!([{"id": "1", "paths": ["/do:listReputationHistories"], "hosts": ["t.com"]}]),
    );
    expect(
        &e,
        router,
        &[
            ("GET", "t.com", "/do:listReputationHistories", "1"),
            ("GET", "t.com", "/do:xx", "404 no_route"),
        ],
    );
    // LRR t/parameter.t TEST 9: disable param match (`no_param_match = true`, as both APISIX routers set
    // it in apisix/utils/router.lua): `/name/:name/id/:id` matches only itself.
    for router in BOTH {
        let e = router_engine(
            router,
            json!([{"id": "name", "paths": ["/name/:name/id/:id"]},
                   {"id": "user", "paths": ["/user/:id/*"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "x.com", "/name/json/id/1", "404 no_route"),
                ("GET", "x.com", "/name/:name/id/:id", "name"),
                ("GET", "x.com", "/user/:id/x", "user"),
                ("GET", "x.com", "/user/7/x", "404 no_route"),
            ],
        );
    }
}

// ------------------------------------------------------------------------------------------ services

#[test]
fn p6_apisix_service_hosts_are_inherited_and_route_hosts_preferred() {
    // APISIX t/router/radixtree-uri-host.t TEST 18-19 (radixtree_uri) and t/router/radixtree-host-uri2.t
    // TEST 14 (radixtree_host_uri): inherit hosts from services: route 1 (service 1, hosts `bar.com`,
    // proxy-rewrite to /hello1) and route 2 (`/hello`, priority -1); `www.foo.com` gets route 2 ("hello
    // world", not "hello1 world").
    for router in BOTH {
        let e = with_services(
            router,
            json!([{"id": "1", "hosts": ["bar.com"]}]),
            json!([{"id": "1", "methods": ["GET"], "service": "1", "paths": ["/hello"]},
                   {"id": "2", "methods": ["GET"], "paths": ["/hello"], "priority": -1}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "www.foo.com", "/hello", "2"),
                ("GET", "bar.com", "/hello", "1"),
            ],
        );
    }
    // radixtree-uri-host.t TEST 22: host from route is preferred: route 1 has its own `foo.com` and service
    // 1 (`bar.com`): foo.com -> route 1 ("hello1 world"), bar.com -> route 2 ("hello world").
    let router = "apisix_radixtree_uri";
    let e = with_services(
        router,
        json!([{"id": "1", "hosts": ["bar.com"]}]),
        json!([{"id": "1", "methods": ["GET"], "hosts": ["foo.com"], "service": "1", "paths": ["/hello"]},
               {"id": "2", "methods": ["GET"], "paths": ["/hello"], "priority": -1}]),
    );
    expect(
        &e,
        router,
        &[
            ("GET", "foo.com", "/hello", "1"),
            ("GET", "bar.com", "/hello", "2"),
        ],
    );
}

#[test]
fn p6_a_service_integration_serves_routes_without_their_own() {
    // APISIX: a route with `service_id` and no upstream uses the service's (apisix/init.lua merges the
    // service into the route). The stage has no integration here, so only the service's can answer.
    let e = engine(
        json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
        "apis": [{"id": "a", "router": "apisix_radixtree_host_uri", "stages": {"prod": {}},
                  "services": [{"id": "s", "integration": http("svc")}],
                  "routes": [{"id": "1", "paths": ["/hello"], "service": "s"}]}]}),
    );
    assert_eq!(req("GET", "x.com", "/hello").cluster(&e), "svc");
}

// ------------------------------------------------------------------------------------------ paths

#[test]
fn p6_lrr_path_sanity() {
    for router in BOTH {
        // LRR t/sanity.t TEST 1: `/`, `/*`, `/aa`, `/aa*`.
        let e = router_engine(
            router,
            json!([{"id": "root", "paths": ["/"]}, {"id": "all", "paths": ["/*"]},
                   {"id": "aa", "paths": ["/aa"]}, {"id": "aa*", "paths": ["/aa*"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "x.com", "/aa/bb", "aa*"),
                ("GET", "x.com", "/aa", "aa"),
                ("GET", "x.com", "/xx", "all"),
                ("GET", "x.com", "/", "root"),
            ],
        );
        // LRR t/sanity.t TEST 5: use `method` to filter route (prefix path).
        let e = router_engine(
            router,
            json!([{"id": "aa", "paths": ["/aa*"]}, {"id": "aa/bb", "paths": ["/aa/bb*"]},
                   {"id": "aa/bb/cc", "paths": ["/aa/bb/cc*"], "methods": ["POST", "PUT"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "x.com", "/aa/bb/cc", "aa/bb"),
                ("OPTIONS", "x.com", "/aa/bb/cc", "aa/bb"),
                ("POST", "x.com", "/aa/bb/cc", "aa/bb/cc"),
            ],
        );
        // LRR t/sanity.t TEST 6: use `method` to filter route (path): exact paths do not fall back.
        let e = router_engine(
            router,
            json!([{"id": "aa", "paths": ["/aa"]}, {"id": "aa/bb", "paths": ["/aa/bb"]},
                   {"id": "aa/bb/cc", "paths": ["/aa/bb/cc"], "methods": ["POST", "PUT"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "x.com", "/aa/bb/cc", "404 no_route"),
                ("OPTIONS", "x.com", "/aa/bb/cc", "404 no_route"),
                ("POST", "x.com", "/aa/bb/cc", "aa/bb/cc"),
            ],
        );
        // LRR t/path.t TEST 3: multiple path with overlap (`/equal*`, `/equal123*`).
        let e = router_engine(
            router,
            json!([{"id": "1", "paths": ["/equal*"]}, {"id": "2", "paths": ["/equal123*"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "x.com", "/equal1", "1"),
                ("GET", "x.com", "/equal12", "1"),
                ("GET", "x.com", "/equal123", "2"),
                ("GET", "x.com", "/equal1234", "2"),
            ],
        );
    }
}

#[test]
fn p6_apisix_node_route_host_uris_and_prefix() {
    // APISIX's default router is radixtree_host_uri (apisix/cli/config.lua `http = "radixtree_host_uri"`),
    // which the t/node tests run under.
    let router = "apisix_radixtree_host_uri";
    // APISIX t/node/route-host.t TEST 1-6: GET `foo.com` `/hello`; TEST 7-9: the host written `FOO.com`.
    for host in ["foo.com", "FOO.com"] {
        let e = router_engine(
            router,
            json!([{"id": "1", "methods": ["GET"], "hosts": [host], "paths": ["/hello"]}]),
        );
        expect(
            &e,
            router,
            &[
                ("GET", "localhost", "/not_found", "404 no_route"),
                ("GET", "localhost", "/hello", "404 no_route"),
                ("GET", "not_found.com", "/hello", "404 no_route"),
                ("GET", "foo.com", "/hello", "1"),
                ("GET", "FOO.com", "/hello", "1"),
            ],
        );
    }
    // APISIX t/node/route-uris.t TEST 1-4: `uris: ["/hello", "/hello1"]`.
    let e = router_engine(
        router,
        json!([{"id": "1", "methods": ["GET"], "paths": ["/hello", "/hello1"]}]),
    );
    expect(
        &e,
        router,
        &[
            ("GET", "localhost", "/not_found", "404 no_route"),
            ("GET", "localhost", "/hello", "1"),
            ("GET", "localhost", "/hello1", "1"),
        ],
    );
    // APISIX t/node/sanity-radixtree.t TEST 4-8: `/hello*` takes `/hello`, `/hello1`, `/hello2` (TEST 7's
    // 404 comes from the upstream, which has no /hello2), not `/hel`.
    let e = router_engine(router, json!([{"id": "1", "paths": ["/hello*"]}]));
    expect(
        &e,
        router,
        &[
            ("GET", "localhost", "/hello", "1"),
            ("GET", "localhost", "/hello1", "1"),
            ("GET", "localhost", "/hello2", "1"),
            ("GET", "localhost", "/hel", "404 no_route"),
        ],
    );
}
