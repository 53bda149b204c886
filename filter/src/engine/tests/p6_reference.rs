//! P6 against a literal transcription of APISIX's matching (lua-resty-radixtree `match_route`, APISIX's
//! `radixtree_uri.lua` / `radixtree_host_uri.lua`), on generated routes and requests: exact paths in a hash
//! (bucket in insertion order, stable by priority), then prefix buckets from the longest prefix up; for
//! `radixtree_host_uri` one such router per host (exact hosts, then wildcards longest first), then the
//! host-less routes.

use serde_json::{json, Value};

use super::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone)]
struct R {
    id: String,
    path: &'static str,
    host: Option<&'static str>,
    priority: i64,
    method: Option<&'static str>,
}

const PATHS: [&str; 10] = [
    "/a", "/a/b", "/a*", "/a/*", "/a/b*", "/ab*", "/*", "/b", "/a/b/c", "/b*",
];
const HOSTS: [Option<&str>; 5] = [
    None,
    Some("foo.com"),
    Some("*.foo.com"),
    Some("*.x.foo.com"),
    Some("*foo.com"),
];
const REQ_PATHS: [&str; 9] = ["/a", "/a/b", "/a/b/c", "/ab", "/abc", "/b", "/b/c", "/", "/a/"];
const REQ_HOSTS: [&str; 6] = [
    "foo.com",
    "a.foo.com",
    "a.x.foo.com",
    "bar.com",
    ".foo.com",
    "xfoo.com",
];

/// lua-resty-radixtree `match_host`: a wildcard is `has_suffix(host, pattern without '*')`.
fn host_ok(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => host.ends_with(suffix),
        None => pattern == host,
    }
}

/// lua-resty-radixtree over `routes` (insertion order), with `filter` as the route options check.
fn radixtree<'r>(routes: &[&'r R], path: &str, filter: &dyn Fn(&R) -> bool) -> Option<&'r R> {
    // Buckets by the stored path (the part before `*`), each sorted by priority, stable.
    let bucket = |key: &str, exact: bool| -> Vec<&'r R> {
        let mut b: Vec<&R> = routes
            .iter()
            .copied()
            .filter(|r| match r.path.strip_suffix('*') {
                Some(p) => !exact && p == key,
                None => exact && r.path == key,
            })
            .collect();
        b.sort_by_key(|r| std::cmp::Reverse(r.priority));
        b
    };
    if let Some(r) = bucket(path, true).into_iter().find(|r| filter(r)) {
        return Some(r);
    }
    // `radix_tree_up`: the stored prefixes of `path`, longest first.
    for len in (0..=path.len()).rev() {
        if let Some(r) = bucket(&path[..len], false).into_iter().find(|r| filter(r)) {
            return Some(r);
        }
    }
    None
}

fn apisix(routes: &[R], router: &str, host: &str, method: &str, path: &str) -> Option<String> {
    let method_ok = |r: &R| r.method.is_none_or(|m| m == method);
    if router == "apisix_radixtree_uri" {
        let all: Vec<&R> = routes.iter().collect();
        let filter = |r: &R| method_ok(r) && r.host.is_none_or(|h| host_ok(h, host));
        return radixtree(&all, path, &filter).map(|r| r.id.clone());
    }
    // radixtree_host_uri: the host router (exact, then wildcard suffixes longest first), then host-less.
    let mut host_keys: Vec<&str> = routes.iter().filter_map(|r| r.host).collect();
    host_keys.sort_by_key(|h| (h.starts_with('*'), std::cmp::Reverse(h.len())));
    host_keys.dedup();
    for h in host_keys.into_iter().filter(|h| host_ok(h, host)) {
        let sub: Vec<&R> = routes.iter().filter(|r| r.host == Some(h)).collect();
        if let Some(r) = radixtree(&sub, path, &method_ok) {
            return Some(r.id.clone());
        }
    }
    let only_uri: Vec<&R> = routes.iter().filter(|r| r.host.is_none()).collect();
    radixtree(&only_uri, path, &method_ok).map(|r| r.id.clone())
}

#[test]
fn p6_routers_agree_with_a_transcription_of_apisix() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for round in 0..400 {
        let router = if round % 2 == 0 {
            "apisix_radixtree_uri"
        } else {
            "apisix_radixtree_host_uri"
        };
        let n = 1 + (rng.next() % 8) as usize;
        let mut routes: Vec<R> = Vec::new();
        for i in 0..n {
            routes.push(R {
                id: format!("r{i}"),
                path: rng.pick(&PATHS),
                host: rng.pick(&HOSTS),
                priority: rng.pick(&[0, 0, 1, 2]),
                method: rng.pick(&[None, None, Some("GET"), Some("POST")]),
            });
        }
        // Routes may repeat one another (same path, host, method): APISIX keeps them all (P6).
        let config: Vec<Value> = routes
            .iter()
            .map(|r| {
                let mut v = json!({"id": r.id, "paths": [r.path], "priority": r.priority});
                if let Some(h) = r.host {
                    v["hosts"] = json!([h]);
                }
                if let Some(m) = r.method {
                    v["methods"] = json!([m]);
                }
                v
            })
            .collect();
        let e = router_engine(router, Value::Array(config));
        for host in REQ_HOSTS {
            for path in REQ_PATHS {
                for method in ["GET", "POST"] {
                    let want =
                        apisix(&routes, router, host, method, path).unwrap_or_else(|| "404 no_route".into());
                    let got = req(method, host, path).route(&e);
                    assert_eq!(got, want, "{router} {method} {host}{path} with {routes:#?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 20_000);
}
