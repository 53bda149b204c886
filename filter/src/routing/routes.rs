//! Layer 3 (P1-P5, P7-P9): the routes of one API and the `specificity` router.
//!
//! Every (route, path) pair is an *entry*. Entries are sorted once by the P5 key (path class, literal
//! length, template before prefix, parameter count, priority, method restriction, route id, pattern), so an
//! entry's position is its rank. Routes are grouped by host pattern (one group per distinct pattern, plus
//! the host-less group), each group with its own [`PathIndex`]. A request visits the groups that match its
//! host in specificity order (P5 step 1); in a group it takes the best-ranked entry whose path matches and
//! whose methods, vars and remote addresses pass, falling through to the next group when none does.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::config::RouterKind;
use crate::decision::Integration;
use crate::matchers::addr::Cidr;
use crate::matchers::host::{HostIndex, HostPattern};
use crate::matchers::path::{PathClass, PathIndex, PathPattern};
use crate::matchers::vars::VarsExpr;
use crate::request::{RequestCtx, RouteVars};
use crate::trace::{Failed, Trace, TraceEvent, Verdict};

/// HTTP methods a route may name (APISIX's list; API Gateway's are a subset).
pub const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];

/// A set of methods; empty means any (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MethodSet(u16);

impl MethodSet {
    /// Any method.
    pub const ANY: MethodSet = MethodSet(0);

    fn bit(method: &str) -> Option<u16> {
        METHODS.iter().position(|m| *m == method).map(|i| 1 << i)
    }

    /// Adds a method; `None` when it is not one of [`METHODS`] (case-sensitive).
    pub fn with(self, method: &str) -> Option<MethodSet> {
        Self::bit(method).map(|b| MethodSet(self.0 | b))
    }

    /// True for `ANY`.
    pub fn is_any(self) -> bool {
        self.0 == 0
    }

    /// True when `method` is allowed.
    #[inline]
    pub fn allows(self, method: &str) -> bool {
        self.0 == 0 || Self::bit(method).is_some_and(|b| self.0 & b != 0)
    }

    /// `GET,POST` in [`METHODS`] order, or `ANY`.
    pub fn display(self) -> String {
        if self.is_any() {
            return "ANY".into();
        }
        let names: Vec<&str> = METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect();
        names.join(",")
    }

    /// The methods in [`METHODS`] order (empty for any).
    pub fn names(self) -> Vec<&'static str> {
        METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect()
    }
}

/// Where a route's effective hosts come from (P7; shown by explain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostsOrigin {
    /// The route's own `hosts`.
    Route,
    /// Inherited from the route's service.
    Service(Box<str>),
    /// Inherited from the API.
    Api,
    /// No host restriction anywhere.
    None,
}

/// Plugin configurations by layer (G1), as written (for explain); [`PluginLayers::compiled`] runs them.
pub type Plugins = Arc<BTreeMap<String, serde_json::Value>>;

/// The plugin layers of a route, lowest precedence first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginLayers {
    /// The API's plugins.
    pub api: Plugins,
    /// The service's plugins, if the route names a service.
    pub service: Option<Plugins>,
    /// The route's own plugins.
    pub route: Plugins,
    /// The same layers compiled (G1), merged per request by [`crate::plugins::plan_request`].
    pub compiled: Arc<crate::plugins::RouteLayers>,
}

/// One path of a route with its route key.
#[derive(Debug, Clone)]
pub struct RoutePath {
    /// The pattern.
    pub pattern: PathPattern,
    /// `GET /pets/{id}`, `ANY /{proxy+}`, `$default`, `GET,POST /a/*`.
    pub key: Box<str>,
}

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Explicit or derived id (P4).
    pub id: Box<str>,
    /// Dense counter slot (engine-wide).
    pub slot: u32,
    /// Paths (at least one).
    pub paths: Box<[RoutePath]>,
    /// Methods; any when empty.
    pub methods: MethodSet,
    /// Effective hosts (own, else the service's, else the API's; P7). Empty: any host.
    pub hosts: Box<[HostPattern]>,
    /// Where [`Route::hosts`] came from.
    pub hosts_origin: HostsOrigin,
    /// `vars` expression.
    pub vars: Option<VarsExpr>,
    /// Allowed client ranges; any when empty.
    pub remote_addrs: Box<[Cidr]>,
    /// Higher first among equal candidates (P5 step 3).
    pub priority: i64,
    /// The route's (or its service's) integration; `None` uses the stage's.
    pub integration: Option<Integration>,
    /// The service the route names.
    pub service: Option<Box<str>>,
    /// Plugin layers (G1).
    pub plugins: PluginLayers,
}

impl Route {
    /// P1 filters other than host and path.
    #[inline]
    pub fn check(&self, ctx: &RequestCtx<'_>, uri: &str) -> Result<(), Failed> {
        if !self.methods.allows(ctx.req.method) {
            return Err(Failed::Method);
        }
        if !self.remote_addrs.is_empty() {
            let ok = ctx
                .remote_ip()
                .is_some_and(|ip| self.remote_addrs.iter().any(|c| c.contains(ip)));
            if !ok {
                return Err(Failed::RemoteAddr);
            }
        }
        if let Some(vars) = &self.vars {
            if !vars.eval(&RouteVars { ctx, uri }) {
                return Err(Failed::Vars);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    route: u32,
    path: u32,
}

/// The result of route selection.
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'t> {
    /// The route.
    pub route: &'t Route,
    /// The path of the route that matched.
    pub path: &'t RoutePath,
}

/// The routes of one API, indexed by host group and path.
#[derive(Debug)]
pub struct RouteTable {
    router: RouterKind,
    routes: Vec<Route>,
    /// Sorted by the router's key (P5 or P6): position = rank.
    entries: Vec<Entry>,
    hosts: HostIndex<u32>,
    groups: Vec<PathIndex<u32>>,
    group_names: Vec<Box<str>>,
}

/// The P5 ordering key: (path class, longer literal first, template before prefix, fewer parameters),
/// priority descending, method-restricted before `ANY`, route id, then the pattern for a total order.
type RankKey<'r> = (
    (PathClass, Reverse<usize>, bool, usize),
    Reverse<i64>,
    bool,
    &'r str,
    String,
);

fn rank_key<'r>(route: &'r Route, path: &'r RoutePath) -> RankKey<'r> {
    let p = &path.pattern;
    (
        (
            p.class(),
            Reverse(p.literal_len()),
            !p.is_template(),
            p.param_count(),
        ),
        Reverse(route.priority),
        route.methods.is_any(),
        &*route.id,
        p.as_written(),
    )
}

/// An entry's ordering key, of whichever router; a missing entry (never: indexes come from the routes) sorts
/// first, as before.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum EntryKey<'r> {
    Missing,
    Rank(RankKey<'r>),
    Apisix(ApisixKey),
}

/// The P6 ordering key of the APISIX routers (lua-resty-radixtree): exact paths before prefixes, longer
/// prefixes first, then priority descending, then configuration order (`index`, the route's position in the
/// API). Only exact and prefix paths reach these routers (validated).
type ApisixKey = (PathClass, Reverse<usize>, Reverse<i64>, usize, String);

fn apisix_key(route: &Route, index: usize, path: &RoutePath) -> ApisixKey {
    let p = &path.pattern;
    (
        p.class(),
        Reverse(p.literal_len()),
        Reverse(route.priority),
        index,
        p.as_written(),
    )
}

/// The order in which `router` tries two (route, path) entries; `index` is the route's position in the
/// API's config (decisive only for the APISIX routers, P6). Host groups come first for the routers that
/// have them ([`RouteTable::select`]); this is the order inside a group.
pub fn entry_order(
    router: RouterKind,
    a: (&Route, usize, &RoutePath),
    b: (&Route, usize, &RoutePath),
) -> std::cmp::Ordering {
    match router {
        RouterKind::Specificity => rank_key(a.0, a.2).cmp(&rank_key(b.0, b.2)),
        RouterKind::ApisixRadixtreeUri | RouterKind::ApisixRadixtreeHostUri => {
            apisix_key(a.0, a.1, a.2).cmp(&apisix_key(b.0, b.1, b.2))
        }
    }
}

impl RouteTable {
    /// Drops the table in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &crate::budget::Budget) {
        crate::budget::drop_all(self.routes, budget).await;
        crate::budget::drop_all(self.entries, budget).await;
        for group in self.groups {
            group.drop_in(budget).await;
        }
    }

    /// Ranks and indexes the routes (`routes` in config order) for `router`: P5 for `specificity`, P6 for
    /// the APISIX routers. `apisix_radixtree_uri` has a single group (hosts are a filter, checked per
    /// candidate); the others group routes by host pattern.
    pub fn build(routes: Vec<Route>, router: RouterKind) -> RouteTable {
        let budget = crate::budget::Budget::unlimited();
        crate::budget::block_on(RouteTable::build_in(routes, router, &budget), &budget)
    }

    /// [`RouteTable::build`] in slices of `budget` ([`crate::budget`]): a unit per entry keyed and filed,
    /// and the sort in slices too ([`crate::budget::sort_by`]). Each entry's ordering key is computed once (it holds the pattern
    /// as written: computed in the comparator, 50,000 routes cost 1.6 million allocations and 0.3 s under
    /// Wasm).
    pub(crate) async fn build_in(
        routes: Vec<Route>,
        router: RouterKind,
        budget: &crate::budget::Budget,
    ) -> RouteTable {
        let mut entries: Vec<Entry> = Vec::new();
        for (r, route) in routes.iter().enumerate() {
            for p in 0..route.paths.len() {
                entries.push(Entry {
                    route: r as u32,
                    path: p as u32,
                });
            }
        }
        let mut keyed: Vec<(EntryKey<'_>, Entry)> = Vec::with_capacity(entries.len());
        for e in entries {
            budget.spend(1).await;
            let key = routes
                .get(e.route as usize)
                .and_then(|route| Some((route, route.paths.get(e.path as usize)?)))
                .map(|(route, path)| match router {
                    RouterKind::Specificity => EntryKey::Rank(rank_key(route, path)),
                    RouterKind::ApisixRadixtreeUri | RouterKind::ApisixRadixtreeHostUri => {
                        EntryKey::Apisix(apisix_key(route, e.route as usize, path))
                    }
                });
            keyed.push((key.unwrap_or(EntryKey::Missing), e));
        }
        // Stable, so equal keys (none are: ids and patterns end them) keep the config order.
        let keyed = crate::budget::sort_by(keyed, budget, |a, b| a.0.cmp(&b.0)).await;
        let entries: Vec<Entry> = keyed.into_iter().map(|(_, e)| e).collect();

        let mut hosts = HostIndex::default();
        let mut groups: Vec<PathIndex<u32>> = Vec::new();
        let mut group_names: Vec<Box<str>> = Vec::new();
        let mut group_of: BTreeMap<String, u32> = BTreeMap::new();
        let mut group_for =
            |pattern: &HostPattern, hosts: &mut HostIndex<u32>, groups: &mut Vec<PathIndex<u32>>| {
                let name = pattern.canonical();
                *group_of.entry(name.clone()).or_insert_with(|| {
                    let id = groups.len() as u32;
                    groups.push(PathIndex::default());
                    group_names.push(name.into());
                    hosts.insert(pattern, id);
                    id
                })
            };
        for (rank, e) in entries.iter().enumerate() {
            budget.spend(1).await;
            let Some(route) = routes.get(e.route as usize) else {
                continue;
            };
            let Some(path) = route.paths.get(e.path as usize) else {
                continue;
            };
            let any = [HostPattern::Any];
            let patterns: &[HostPattern] =
                if route.hosts.is_empty() || router == RouterKind::ApisixRadixtreeUri {
                    &any
                } else {
                    &route.hosts
                };
            for h in patterns {
                let g = group_for(h, &mut hosts, &mut groups);
                if let Some(index) = groups.get_mut(g as usize) {
                    index.insert(&path.pattern, rank as u32);
                }
            }
        }
        RouteTable {
            router,
            routes,
            entries,
            hosts,
            groups,
            group_names,
        }
    }

    /// The routes, in config order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The router the table was built for.
    pub fn router(&self) -> RouterKind {
        self.router
    }

    /// P1 filters of a candidate; `apisix_radixtree_uri` checks the route's hosts here too (P6: the path
    /// decides, the host is only a filter).
    #[inline]
    fn check(&self, route: &Route, ctx: &RequestCtx<'_>, uri: &str) -> Result<(), Failed> {
        if self.router == RouterKind::ApisixRadixtreeUri
            && !route.hosts.is_empty()
            && !route.hosts.iter().any(|h| h.matches(&ctx.host, ctx.port))
        {
            return Err(Failed::Host);
        }
        route.check(ctx, uri)
    }

    /// P5: the first route, in specificity order, whose path matches `uri` and whose filters pass.
    pub fn select<'s, T: Trace>(
        &'s self,
        ctx: &RequestCtx<'_>,
        uri: &str,
        trace: &mut T,
    ) -> Option<RouteMatch<'s>> {
        let mut winner: Option<u32> = None;
        let _ = self.hosts.for_each_match(&ctx.host, ctx.port, |g| {
            let Some(index) = self.groups.get(g as usize) else {
                return ControlFlow::Continue(());
            };
            let mut best: Option<u32> = None;
            index.for_each_match(uri, |rank| {
                if !T::ENABLED && best.is_some_and(|b| b <= rank) {
                    return;
                }
                let Some((route, path)) = self.entry(rank) else {
                    return;
                };
                let result = self.check(route, ctx, uri);
                if T::ENABLED {
                    trace.event(TraceEvent::Route {
                        id: &route.id,
                        path: path.pattern.as_written(),
                        host: self.group_names.get(g as usize).map_or("*", |n| n),
                        verdict: match result {
                            Ok(()) => Verdict::Matched,
                            Err(f) => Verdict::Failed(f),
                        },
                    });
                }
                if result.is_ok() && best.is_none_or(|b| rank < b) {
                    best = Some(rank);
                }
            });
            match best {
                Some(rank) => {
                    winner = Some(rank);
                    if T::ENABLED {
                        if let Some((route, path)) = self.entry(rank) {
                            trace.event(TraceEvent::Route {
                                id: &route.id,
                                path: path.pattern.as_written(),
                                host: self.group_names.get(g as usize).map_or("*", |n| n),
                                verdict: Verdict::Selected,
                            });
                        }
                    }
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        });
        let (route, path) = self.entry(winner?)?;
        Some(RouteMatch { route, path })
    }

    fn entry(&self, rank: u32) -> Option<(&Route, &RoutePath)> {
        let e = self.entries.get(rank as usize)?;
        let route = self.routes.get(e.route as usize)?;
        let path = route.paths.get(e.path as usize)?;
        Some((route, path))
    }

    /// Index statistics: groups, and patterns per bucket (exact, prefix, template, default).
    pub fn stats(&self) -> (usize, [usize; 4]) {
        let mut s = [0; 4];
        for g in &self.groups {
            for (a, b) in s.iter_mut().zip(g.stats()) {
                *a += b;
            }
        }
        (self.groups.len(), s)
    }

    /// Entries are sorted by the P5 key and every (route, path, host) is indexed exactly once.
    pub fn check_invariants(&self) -> Result<(), String> {
        let keys: Vec<_> = self
            .entries
            .iter()
            .map(|e| {
                let route = self.routes.get(e.route as usize)?;
                let path = route.paths.get(e.path as usize)?;
                Some((route, e.route as usize, path))
            })
            .collect();
        if keys.iter().any(Option::is_none) {
            return Err("an entry points to a missing route or path".into());
        }
        let sorted = keys.windows(2).all(|w| match w {
            [Some(a), Some(b)] => entry_order(self.router, *a, *b) != std::cmp::Ordering::Greater,
            _ => false,
        });
        if !sorted {
            return Err("entries are not sorted by the router's key".into());
        }
        let groups_per_route = |r: &Route| {
            if self.router == RouterKind::ApisixRadixtreeUri {
                1
            } else {
                r.hosts.len().max(1)
            }
        };
        let expected: usize = self
            .routes
            .iter()
            .map(|r| r.paths.len() * groups_per_route(r))
            .sum();
        let indexed: usize = self.groups.iter().map(PathIndex::len).sum();
        if expected != indexed {
            return Err(format!("{indexed} path entries indexed, {expected} expected"));
        }
        let total: usize = self.routes.iter().map(|r| r.paths.len()).sum();
        if total != self.entries.len() {
            return Err(format!("{} entries for {total} route paths", self.entries.len()));
        }
        Ok(())
    }
}
