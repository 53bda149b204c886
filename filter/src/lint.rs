//! E2: what a valid configuration still gets wrong, found before traffic arrives. [`lint`] works on the
//! compiled [`Engine`] (the indexes Envoy would run), so it judges exactly what the filter does:
//!
//! - `shadowed-rule` (error): a routing rule that can never match, because a rule with a lower priority
//!   number matches every request it matches (R2).
//! - `hidden-mapping` (error): in `ROUTING_RULE_THEN_API_MAPPING`, an API mapping no request can reach,
//!   because a catch-all rule (or a base-path-only rule covering its base path) takes them all first (R8).
//! - `shadowed-route` (error, or warning for one path of a route with several): a route path that can never
//!   be selected, because a route the router tries first matches every request it matches and passes
//!   whenever it does (P5, P6).
//! - `file-order-tie` (warning): under an APISIX router, two routes that can match the same request with the
//!   same path and priority, so only their order in the file decides (P6).
//! - `default-overlap` (warning): `$default` next to `ANY /{proxy+}`: they overlap on every path but `/` (P3).
//! - `inherited-hosts` (warning for a service's hosts, info for the API's): a route without `hosts` that
//!   matches only the hosts of its service or API (P7), which APISIX users often do not expect.
//!
//! Shadowing is exact for the glob forms (R3) and path forms (P2) the spec allows: a candidate is reported
//! only when the other one matches a superset of its requests, decided by language inclusion of the globs
//! and paths (not by sampling). For `vars` only identical expressions count as a superset, so a rule of
//! thumb never produces a false report.

use std::cmp::Ordering;
use std::net::IpAddr;

use serde::Serialize;

use crate::config::{RouterKind, RoutingMode};
use crate::engine::{Api, Engine};
use crate::matchers::addr::Cidr;
use crate::matchers::glob::HeaderGlob;
use crate::matchers::host::HostPattern;
use crate::matchers::path::{PathPattern, TemplateSegment};
use crate::routing::domain::Domain;
use crate::routing::routes::{entry_order, HostsOrigin, Route, RoutePath};
use crate::routing::rules::Rule;

/// How serious a finding is. `routewise lint` exits 1 when there is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Configuration that can never take effect.
    Error,
    /// Configuration whose effect is probably not what was meant.
    Warning,
    /// Worth knowing.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Its level.
    pub level: Level,
    /// Stable code (`shadowed-rule`, ...).
    pub code: &'static str,
    /// Where: `domain api.example.com` or `api pets`.
    pub scope: String,
    /// The ids involved, the one reported first.
    pub ids: Vec<String>,
    /// What is wrong, citing the spec.
    pub message: String,
    /// A suggested fix.
    pub fix: String,
}

/// Lints a compiled configuration. Findings come in config order: domains, then APIs.
pub fn lint(engine: &Engine) -> Vec<Finding> {
    let mut out = Vec::new();
    for d in engine.domains() {
        lint_domain(d, &mut out);
    }
    for a in engine.apis() {
        lint_api(a, &mut out);
    }
    out
}

// ---- layer 2 ----

/// L(a) ⊆ L(b) for the R3 glob forms: every value `a` accepts, `b` accepts.
pub fn glob_subset(a: &HeaderGlob, b: &HeaderGlob) -> bool {
    use HeaderGlob::*;
    match (a, b) {
        (_, Any) => true,
        (Any, _) => false,
        (Exact(v), Exact(w)) => v == w,
        (Exact(v) | Prefix(v), Prefix(w)) => v.starts_with(&**w),
        (Exact(v) | Suffix(v), Suffix(w)) => v.ends_with(&**w),
        (Exact(v) | Prefix(v) | Suffix(v) | Contains(v), Contains(w)) => v.contains(&**w),
        _ => false,
    }
}

/// Every request `r` matches, `by` matches (S(r) ⊆ S(by)). Each condition of `by` must follow from those of
/// `r`: a header condition from one of `r`'s conditions on the same header whose glob is a subset (two
/// conditions of `r` on one header may be met by different lines, R4, so they cannot combine); a base path
/// from a base path of `r` that it prefixes on segment boundaries (R6).
pub fn rule_covers(by: &Rule, r: &Rule) -> bool {
    let headers = by.headers.iter().all(|h| {
        r.headers
            .iter()
            .any(|g| g.name == h.name && glob_subset(&g.glob, &h.glob))
    });
    let base = match (&by.base_path, &r.base_path) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(b), Some(p)) => segment_prefix(b, p),
    };
    headers && base
}

/// `b` is `p` or a leading segment sequence of it (`orders` of `orders/v2`, not of `ordersX`).
fn segment_prefix(b: &str, p: &str) -> bool {
    b.is_empty() || p == b || p.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'))
}

fn describe_rule(r: &Rule) -> String {
    let mut parts: Vec<String> = r
        .headers
        .iter()
        .map(|h| format!("{}: {}", h.name, h.glob.as_written()))
        .collect();
    if let Some(b) = &r.base_path {
        parts.push(format!("base path {b}"));
    }
    if parts.is_empty() {
        "catch-all".into()
    } else {
        parts.join(", ")
    }
}

fn lint_domain(d: &Domain, out: &mut Vec<Finding>) {
    let scope = format!("domain {}", d.name);
    let rules = d.rules.rules();
    for (i, r) in rules.iter().enumerate() {
        // Sorted by priority: every earlier rule has a lower priority number.
        if let Some(by) = rules.iter().take(i).find(|by| rule_covers(by, r)) {
            out.push(Finding {
                level: Level::Error,
                code: "shadowed-rule",
                scope: scope.clone(),
                ids: vec![r.id.to_string(), by.id.to_string()],
                message: format!(
                    "rule `{}` (priority {}, {}) can never match: rule `{}` (priority {}, {}) matches every \
                     request it matches and is evaluated first (R2)",
                    r.id,
                    r.priority,
                    describe_rule(r),
                    by.id,
                    by.priority,
                    describe_rule(by)
                ),
                fix: format!(
                    "give `{}` a priority below {} if it is the more specific rule, narrow `{}`, or remove `{}`",
                    r.id, by.priority, by.id, r.id
                ),
            });
        }
    }
    if d.mode != RoutingMode::RoutingRuleThenApiMapping {
        return;
    }
    for m in d.mappings.mappings() {
        // Every request this mapping gets has a path under its base path (R9); a rule with only a base-path
        // condition that prefixes it, or no condition at all, takes all of them first (R8).
        let hider = rules.iter().find(|r| {
            r.headers.is_empty()
                && match &r.base_path {
                    None => true,
                    Some(b) => !m.base_path.is_empty() && segment_prefix(b, &m.base_path),
                }
        });
        if let Some(r) = hider {
            let base = if m.base_path.is_empty() {
                "(none)".to_string()
            } else {
                m.base_path.to_string()
            };
            out.push(Finding {
                level: Level::Error,
                code: "hidden-mapping",
                scope: scope.clone(),
                ids: vec![m.id.to_string(), r.id.to_string()],
                message: format!(
                    "API mapping `{}` (base path {base}) is never used: rule `{}` ({}) matches every request \
                     that would reach it, and ROUTING_RULE_THEN_API_MAPPING evaluates all rules first (R8)",
                    m.id,
                    r.id,
                    describe_rule(r)
                ),
                fix: if r.is_catch_all() {
                    format!(
                        "give rule `{}` conditions, remove it, or use routing_mode ROUTING_RULE_ONLY if the \
                         mappings are not needed",
                        r.id
                    )
                } else {
                    format!("narrow rule `{}` or remove mapping `{}`", r.id, m.id)
                },
            });
        }
    }
}

// ---- layer 3 ----

/// The fixed part of a template up to its first parameter (`/pets/` of `/pets/{id}`), and whether that is
/// the whole pattern.
fn template_segments(p: &PathPattern) -> Option<(&[TemplateSegment], bool)> {
    match p {
        PathPattern::Template { segments, greedy } => Some((segments, greedy.is_some())),
        _ => None,
    }
}

fn literal_prefix(segments: &[TemplateSegment]) -> String {
    let mut s = String::new();
    for seg in segments {
        s.push('/');
        match seg {
            TemplateSegment::Static(t) => s.push_str(t),
            TemplateSegment::Param(_) => return s,
        }
    }
    s
}

/// One template segment's values are all values of another's (`{id}` takes any non-empty segment).
fn segment_subset(a: &TemplateSegment, b: &TemplateSegment) -> bool {
    match (a, b) {
        (TemplateSegment::Static(x), TemplateSegment::Static(y)) => x == y,
        (TemplateSegment::Static(x), TemplateSegment::Param(_)) => !x.is_empty(),
        (TemplateSegment::Param(_), TemplateSegment::Param(_)) => true,
        (TemplateSegment::Param(_), TemplateSegment::Static(_)) => false,
    }
}

/// L(a) ⊆ L(b) for the P2 path forms (paths start with `/`).
pub fn path_subset(a: &PathPattern, b: &PathPattern) -> bool {
    use PathPattern::*;
    match (a, b) {
        (_, Default) => true,
        // Request paths start with `/` (P9), so `/*` takes everything `$default` does.
        (Default, Prefix(q)) => &**q == "/",
        (Default, _) => false,
        (Exact(x), other) => other.is_match(x),
        (Prefix(p), Prefix(q)) => p.starts_with(&**q),
        (Template { .. }, Prefix(q)) => {
            let (segs, greedy) = template_segments(a).unwrap_or((&[], false));
            let fixed = literal_prefix(segs);
            // A template that is all literal segments plus a greedy tail matches `fixed/...`.
            let fixed = if segs.iter().all(|s| matches!(s, TemplateSegment::Static(_))) && greedy {
                format!("{fixed}/")
            } else {
                fixed
            };
            fixed.starts_with(&**q)
        }
        (_, Exact(_)) => false,
        (Prefix(p), Template { segments, greedy }) => {
            // Only a greedy template can take every extension of a prefix: the prefix must fix all of its
            // segments and leave a non-empty rest.
            if greedy.is_none() {
                return false;
            }
            let Some(body) = p.strip_prefix('/') else {
                return false;
            };
            let parts: Vec<&str> = body.split('/').collect();
            // The last part may grow; the complete segments are those followed by '/'.
            let complete = parts.len().saturating_sub(1);
            if complete < segments.len() {
                return false;
            }
            let fixed_ok = segments.iter().zip(&parts).all(|(s, part)| match s {
                TemplateSegment::Static(t) => **t == **part,
                TemplateSegment::Param(_) => !part.is_empty(),
            });
            let rest = parts
                .get(segments.len()..)
                .map(|r| r.join("/"))
                .unwrap_or_default();
            fixed_ok && !rest.is_empty()
        }
        (
            Template {
                segments: sa,
                greedy: ga,
            },
            Template {
                segments: sb,
                greedy: gb,
            },
        ) => {
            let (m, n) = (sa.len(), sb.len());
            if m < n || !sa.iter().zip(sb.iter()).all(|(x, y)| segment_subset(x, y)) {
                return false;
            }
            match (ga, gb) {
                (None, None) => m == n,
                (Some(_), None) => false,
                // `b` needs a '/' and a non-empty rest after its fixed segments, for every path of `a`.
                (_, Some(_)) if m == n => ga.is_some(),
                (_, Some(_)) => {
                    let only_empty_segment_left = m == n + 1
                        && ga.is_none()
                        && matches!(sa.get(n), Some(TemplateSegment::Static(t)) if t.is_empty());
                    !only_empty_segment_left
                }
            }
        }
    }
}

fn host_set(r: &Route) -> Vec<String> {
    let mut v: Vec<String> = r.hosts.iter().map(HostPattern::canonical).collect();
    v.sort_unstable();
    v
}

/// Every host `r` accepts, `by` accepts (as a filter).
fn hosts_cover(by: &Route, r: &Route) -> bool {
    if by.hosts.is_empty() {
        return true;
    }
    if r.hosts.is_empty() {
        return false;
    }
    r.hosts.iter().all(|h| {
        by.hosts.iter().any(|g| match (g, h) {
            (a, b) if a == b => true,
            (HostPattern::Suffix { suffix, port, bare }, HostPattern::Exact { host, port: p }) => {
                (port.is_none() || port == p)
                    && (*bare || host.len() > suffix.len())
                    && host.ends_with(&**suffix)
            }
            // The shortest host `t` accepts is `t` itself when bare (P6), one byte longer otherwise.
            (
                HostPattern::Suffix {
                    suffix: s,
                    port,
                    bare,
                },
                HostPattern::Suffix {
                    suffix: t,
                    port: p,
                    bare: t_bare,
                },
            ) => {
                (port.is_none() || port == p) && t.ends_with(&**s) && (*bare || !t_bare || t.len() > s.len())
            }
            (HostPattern::Exact { host, port: None }, HostPattern::Exact { host: h2, .. }) => host == h2,
            _ => false,
        })
    })
}

/// Some request host matches both patterns (for ties under `apisix_radixtree_uri`, where hosts are
/// filters: `*.foo.com` and `a.foo.com` both take `a.foo.com`).
fn hosts_meet(a: &HostPattern, b: &HostPattern) -> bool {
    let ports = |p: &Option<u16>, q: &Option<u16>| p.is_none() || q.is_none() || p == q;
    match (a, b) {
        (HostPattern::Exact { host: h, port: p }, HostPattern::Exact { host: g, port: q }) => {
            h == g && ports(p, q)
        }
        (HostPattern::Exact { host, port: p }, s @ HostPattern::Suffix { port: q, .. })
        | (s @ HostPattern::Suffix { port: q, .. }, HostPattern::Exact { host, port: p }) => {
            ports(p, q) && s.matches(host, p.or(*q))
        }
        // `x` + the longer suffix ends with both.
        (
            HostPattern::Suffix {
                suffix: s, port: p, ..
            },
            HostPattern::Suffix {
                suffix: t, port: q, ..
            },
        ) => ports(p, q) && (s.ends_with(&**t) || t.ends_with(&**s)),
        _ => true,
    }
}

fn cidr_parts(c: &Cidr) -> Option<(IpAddr, u8)> {
    let s = c.canonical();
    let (ip, prefix) = s.split_once('/')?;
    Some((ip.parse().ok()?, prefix.parse().ok()?))
}

/// Whenever `r`'s methods, vars and remote addresses pass, `by`'s pass.
fn filters_cover(by: &Route, r: &Route) -> bool {
    let methods = by.methods.is_any()
        || (!r.methods.is_any() && r.methods.names().iter().all(|m| by.methods.allows(m)));
    let vars = match (&by.vars, &r.vars) {
        (None, _) => true,
        (Some(a), Some(b)) => a.source() == b.source(),
        (Some(_), None) => false,
    };
    let addrs = by.remote_addrs.is_empty()
        || (!r.remote_addrs.is_empty()
            && r.remote_addrs.iter().all(|c| {
                cidr_parts(c).is_some_and(|(net, len)| {
                    by.remote_addrs
                        .iter()
                        .any(|g| cidr_parts(g).is_some_and(|(_, glen)| glen <= len && g.contains(net)))
                })
            }));
    methods && vars && addrs
}

struct Entry<'a> {
    route: &'a Route,
    index: usize,
    path: &'a RoutePath,
}

/// `by` is tried before `e` for every request `e` could get, and takes it whenever `e` would.
fn entry_shadows(router: RouterKind, by: &Entry<'_>, e: &Entry<'_>) -> bool {
    if std::ptr::eq(by.route, e.route) && std::ptr::eq(by.path, e.path) {
        return false;
    }
    if !path_subset(&e.path.pattern, &by.path.pattern) || !filters_cover(by.route, e.route) {
        return false;
    }
    let hosts_ok = match router {
        // Hosts are a filter: `by` must accept every host `e` does.
        RouterKind::ApisixRadixtreeUri => hosts_cover(by.route, e.route),
        // Host groups first: `by` must be in every group `e` is in (then the order inside a group decides;
        // `by`'s other, more specific patterns only make it win earlier).
        _ => {
            let (bh, eh) = (host_set(by.route), host_set(e.route));
            if eh.is_empty() {
                bh.is_empty()
            } else {
                eh.iter().all(|h| bh.contains(h))
            }
        }
    };
    hosts_ok
        && entry_order(router, (by.route, by.index, by.path), (e.route, e.index, e.path)) == Ordering::Less
}

/// Two entries can match one request: one path language meets the other, and their hosts can agree. A
/// cheap over-approximation for ties: equal patterns (the only way two APISIX paths tie on length and class).
fn may_overlap(router: RouterKind, a: &Entry<'_>, b: &Entry<'_>) -> bool {
    let (ah, bh) = (&a.route.hosts, &b.route.hosts);
    let hosts = match router {
        // Hosts are a filter: a host-less route takes every host.
        RouterKind::ApisixRadixtreeUri => {
            ah.is_empty() || bh.is_empty() || ah.iter().any(|h| bh.iter().any(|g| hosts_meet(h, g)))
        }
        // Host groups first: only routes in a common group are ordered by path, priority and file.
        _ => (ah.is_empty() && bh.is_empty()) || ah.iter().any(|h| bh.contains(h)),
    };
    a.path.pattern == b.path.pattern
        && hosts
        && (a.route.methods.is_any()
            || b.route.methods.is_any()
            || a.route.methods.names().iter().any(|m| b.route.methods.allows(m)))
}

fn lint_api(api: &Api, out: &mut Vec<Finding>) {
    let scope = format!("api {}", api.id);
    let router = api.router;
    let routes = api.routes.routes();
    let entries: Vec<Entry<'_>> = routes
        .iter()
        .enumerate()
        .flat_map(|(index, route)| route.paths.iter().map(move |path| Entry { route, index, path }))
        .collect();
    for r in routes {
        let mine: Vec<&Entry<'_>> = entries.iter().filter(|e| std::ptr::eq(e.route, r)).collect();
        let shadowed: Vec<(&Entry<'_>, &Entry<'_>)> = mine
            .iter()
            .filter_map(|e| {
                entries
                    .iter()
                    .filter(|by| !std::ptr::eq(by.route, r))
                    .find(|by| entry_shadows(router, by, e))
                    .map(|by| (*e, by))
            })
            .collect();
        let whole = !mine.is_empty() && shadowed.len() == mine.len();
        for (e, by) in shadowed {
            out.push(Finding {
                level: if whole { Level::Error } else { Level::Warning },
                code: "shadowed-route",
                scope: scope.clone(),
                ids: vec![r.id.to_string(), by.route.id.to_string()],
                message: format!(
                    "route `{}` `{}` can never be selected{}: route `{}` `{}` is tried first and matches every \
                     request it matches, whenever it does ({})",
                    r.id,
                    e.path.key,
                    if whole { "" } else { " for this path" },
                    by.route.id,
                    by.path.key,
                    if router == RouterKind::Specificity { "P5" } else { "P6" }
                ),
                fix: if router == RouterKind::Specificity {
                    format!(
                        "give `{}` a higher `priority` than {} if its path ranks level with `{}` (P5 step 3), \
                         narrow `{}` (methods, vars, hosts), or remove `{}`",
                        r.id, by.route.priority, by.route.id, by.route.id, r.id
                    )
                } else {
                    format!(
                        "give `{}` a higher `priority` than {} (same path), list it before `{}`, narrow `{}`, or \
                         remove it",
                        r.id, by.route.priority, by.route.id, by.route.id
                    )
                },
            });
        }
    }
    if router != RouterKind::Specificity {
        // P6: same path and priority, one request can match both: file order decides.
        for (i, a) in entries.iter().enumerate() {
            for b in entries.iter().skip(i + 1) {
                if std::ptr::eq(a.route, b.route)
                    || a.route.priority != b.route.priority
                    || !may_overlap(router, a, b)
                {
                    continue;
                }
                if entry_shadows(router, a, b) {
                    continue; // already reported as shadowed
                }
                out.push(Finding {
                    level: Level::Warning,
                    code: "file-order-tie",
                    scope: scope.clone(),
                    ids: vec![a.route.id.to_string(), b.route.id.to_string()],
                    message: format!(
                        "routes `{}` and `{}` both take `{}` with priority {}: for a request both match, `{}` wins \
                         only because it comes first in the file (P6)",
                        a.route.id, b.route.id, a.path.key, a.route.priority, a.route.id
                    ),
                    fix: format!(
                        "set different `priority` values on `{}` and `{}` to make the order explicit",
                        a.route.id, b.route.id
                    ),
                });
            }
        }
    }
    // P3: `$default` next to `ANY /{proxy+}` with the same hosts.
    for d in routes
        .iter()
        .filter(|r| r.paths.iter().any(|p| p.pattern == PathPattern::Default))
    {
        for g in routes.iter().filter(|r| {
            r.methods.is_any()
                && host_set(r) == host_set(d)
                && r.paths.iter().any(|p| {
                    matches!(&p.pattern, PathPattern::Template { segments, greedy: Some(_) } if segments.is_empty())
                })
        }) {
            out.push(Finding {
                level: Level::Warning,
                code: "default-overlap",
                scope: scope.clone(),
                ids: vec![d.id.to_string(), g.id.to_string()],
                message: format!(
                    "`$default` (route `{}`) and `ANY /{{proxy+}}` (route `{}`) overlap on every path except `/`: \
                     `$default` only receives `/` and the requests `{}` rejects (P3)",
                    d.id, g.id, g.id
                ),
                fix: format!(
                    "keep one of them, or add `ANY /` and drop `$default` if only `/` should go to `{}`",
                    d.id
                ),
            });
        }
    }
    // P7: hosts inherited without being written on the route.
    for r in routes {
        let (level, from) = match &r.hosts_origin {
            HostsOrigin::Service(s) => (Level::Warning, format!("service `{s}`")),
            HostsOrigin::Api => (Level::Info, "the API".to_string()),
            _ => continue,
        };
        out.push(Finding {
            level,
            code: "inherited-hosts",
            scope: scope.clone(),
            ids: vec![r.id.to_string()],
            message: format!(
                "route `{}` sets no `hosts` and inherits {} from {from}: it matches no other host (P7)",
                r.id,
                host_set(r).join(", ")
            ),
            fix: "write `hosts` on the route to state it, or `\"hosts\": []` to match any host".into(),
        });
    }
}

#[cfg(test)]
mod tests;
