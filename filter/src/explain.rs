//! E1: why a request goes where it goes. [`explain`] asks the engine for its decision (the same
//! [`Engine::evaluate`] the filter runs in Envoy), then accounts for every candidate of each layer with the
//! reason it won or lost: the domains that match the host (D3), the routing rules in priority order (R2-R6),
//! the API mappings (R8, R9), the routes of the selected API (P1-P5, P7), the merged plugins (G1) and the
//! upstream request (cluster, path, headers) as both builds send it: [`explain`] runs the filter's own
//! per-request pipeline ([`crate::pipeline::Stream`]) against a [`RecordingHost`] and reads the request it
//! leaves for the router.
//!
//! The decision is always the engine's; the per-candidate verdicts are recomputed here with the compiled
//! matchers' own predicates ([`Rule::check`], [`Route::check`], [`PathPattern::is_match`]). Where the two
//! would disagree (a candidate found here to outrank the engine's choice), the explanation carries a note
//! instead of hiding it.
//!
//! Used by the CLI's `routewise explain`; the builds Envoy loads never call it.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::{RouterKind, RoutingMode};
use crate::decision::{Decision, Integration};
use crate::engine::{Api, Engine};
use crate::matchers::host::{HostPattern, HostRank};
use crate::matchers::path::{base_path_matches, path_after_base, PathPattern};
use crate::names::outcome;
use crate::pipeline::{FilterConfig, RecordingHost, Stream};
use crate::request::{RequestCtx, RequestView};
use crate::routing::domain::Domain;
use crate::routing::routes::{entry_order, HostsOrigin, Route, RoutePath};
use crate::routing::rules::{Rule, Target};
use crate::trace::Failed;

/// A request to explain, as written in a `REQ.json` file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The Host / `:authority`, possibly with a port.
    pub authority: String,
    /// `:path` with its query string.
    pub path: String,
    /// Header lines as `[name, value]` pairs; a name may repeat (R4).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The client address (`ip`, `ip:port`, `[v6]:port`).
    #[serde(default)]
    pub remote_addr: Option<String>,
}

/// What [`explain`] lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also list the routes whose path does not match (by default they are only counted).
    pub all_routes: bool,
}

/// The explanation of one request (`routewise explain --json` prints it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Explanation {
    /// The domain selected (D3), `None` when none matches the host.
    pub domain: Option<String>,
    /// The routing rule that selected the API (R11).
    pub rule: Option<String>,
    /// The API mapping that selected the API (R11).
    pub mapping: Option<String>,
    /// The API selected by the rule or mapping.
    pub api: Option<String>,
    /// Its stage.
    pub stage: Option<String>,
    /// The route selected (P5).
    pub route: Option<String>,
    /// The status of the filter's local reply, `None` when the request is forwarded.
    pub status: Option<u16>,
    /// The request sent upstream, `None` for a local reply.
    pub upstream: Option<Upstream>,
    /// Every candidate considered, layer by layer, with its verdict and reason.
    pub candidates: Vec<Candidate>,
    /// The merged plugins of the selected route, with the layer each one comes from (G1), in phase order.
    pub plugins: Vec<PluginUse>,
    /// The consumer `key-auth` identified (G2).
    pub consumer: Option<String>,
    /// How the request ended: `forwarded`, `no_domain`, `no_api`, `no_route` (the filter's outcome).
    pub outcome: String,
    /// The route key of the matched route path (`GET /pets/{id}`).
    pub route_key: Option<String>,
    /// Path parameters of a template match, in pattern order.
    pub path_params: Vec<(String, String)>,
    /// Remarks: headers the filter removes before routing, candidates left out, disagreements.
    pub notes: Vec<String>,
    #[serde(skip)]
    story: Story,
}

/// Context for the human rendering only.
#[derive(Debug, Clone, Default, PartialEq)]
struct Story {
    request: String,
    headers: Vec<(String, String)>,
    mode: Option<RoutingMode>,
    router: Option<RouterKind>,
    uri: Option<String>,
    body: Option<String>,
    integration: Option<String>,
}

/// The request as it leaves for the upstream cluster.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Upstream {
    /// The Envoy cluster (set in the cluster header).
    pub cluster: String,
    /// `:path`, with the query string.
    pub path: String,
    /// Request headers as forwarded: the client's (minus any copy of the cluster header), then the cluster
    /// header.
    pub headers: Vec<(String, String)>,
}

/// The layer a candidate belongs to.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Layer 1 (D1-D3).
    Domain,
    /// Layer 2, routing rules (R1-R7).
    Rule,
    /// Layer 2, API mappings (R9).
    Mapping,
    /// Layer 3 (P1-P5).
    Route,
}

/// What happened to a candidate.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Chosen.
    Selected,
    /// Its conditions hold, but another candidate ranks first.
    Outranked,
    /// One of its conditions fails.
    Failed,
    /// Not evaluated: an earlier layer or mode decided (mappings after a rule matched, R8).
    Skipped,
}

/// One candidate with its fate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Candidate {
    /// Its layer.
    pub layer: Layer,
    /// Its id (the domain's name for domains).
    pub id: String,
    /// What it matches, in the config's terms.
    pub what: String,
    /// Its fate.
    pub verdict: Verdict,
    /// Why, citing the rule of the spec.
    pub reason: String,
}

/// A plugin of the merged set (G1) and where it comes from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PluginUse {
    /// Plugin name.
    pub name: String,
    /// `route`, `service`, `api` (the API's own plugins) or `consumer` (as filter state `routewise.plugins`).
    pub from: String,
}

/// Explains how the filter with `config` routes `spec`.
pub fn explain(config: &FilterConfig, spec: &RequestSpec, opts: Options) -> Explanation {
    let engine = &config.engine;
    let cluster_header = engine.cluster_header();
    let mut notes = Vec::new();
    // As the adapter: names lowercase (Envoy's header map), and a client copy of the cluster header removed
    // before evaluation.
    let mut headers: Vec<(String, String)> = Vec::with_capacity(spec.headers.len());
    for (n, v) in &spec.headers {
        let n = n.to_ascii_lowercase();
        if n == cluster_header {
            notes.push(format!(
                "the client's `{n}: {v}` is removed before routing (only the filter names the cluster)"
            ));
            continue;
        }
        headers.push((n, v.clone()));
    }
    let view = RequestView {
        method: &spec.method,
        authority: &spec.authority,
        path: &spec.path,
        headers: &headers,
        remote_addr: spec.remote_addr.as_deref(),
    };
    let decision = engine.evaluate(&view);
    let ctx = RequestCtx::new(&view);

    let mut x = Explanation {
        domain: None,
        rule: None,
        mapping: None,
        api: None,
        stage: None,
        route: None,
        status: None,
        upstream: None,
        candidates: Vec::new(),
        plugins: Vec::new(),
        consumer: None,
        outcome: outcome::FORWARDED.to_string(),
        route_key: None,
        path_params: Vec::new(),
        notes,
        story: Story {
            request: format!("{} {} {}", spec.method, spec.authority, spec.path),
            headers: headers.clone(),
            ..Story::default()
        },
    };

    let mut winner_route: Option<(String, String)> = None;
    match &decision {
        Decision::Forward(f) => {
            x.domain = Some(f.domain.to_string());
            x.rule = f.rule_id.map(str::to_string);
            x.mapping = f.mapping_id.map(str::to_string);
            x.api = Some(f.api.to_string());
            x.stage = Some(f.stage.to_string());
            x.route = Some(f.route_id.to_string());
            x.route_key = Some(f.route_key.to_string());
            x.path_params = f
                .path_params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            winner_route = Some((f.route_id.to_string(), f.route_key.to_string()));
            x.plugins = plugin_uses(f.plugins.merged.list());
            x.consumer = f.plugins.consumer.map(str::to_string);
            x.upstream = Some(upstream_request(config, spec, f.cluster));
            x.story.integration = Some(match f.integration {
                Integration::Http { .. } => "http".to_string(),
                Integration::Lambda(l) => format!("lambda (payload format {})", l.payload_format),
            });
        }
        Decision::LocalReply(r) => {
            x.domain = r.context.domain.map(str::to_string);
            x.rule = r.context.rule_id.map(str::to_string);
            x.mapping = r.context.mapping_id.map(str::to_string);
            x.api = r.context.api.map(str::to_string);
            x.stage = r.context.stage.map(str::to_string);
            x.status = Some(r.status);
            x.outcome = r.reason.to_string();
            x.story.body = Some(r.body.to_string());
        }
    }

    explain_domains(engine, &ctx, &mut x);
    let Some(domain) = x
        .domain
        .as_deref()
        .and_then(|name| engine.domains().iter().find(|d| &*d.name == name))
    else {
        return x;
    };
    x.story.mode = Some(domain.mode);
    let strip = explain_layer2(engine, domain, &ctx, &mut x);
    let Some(api) = x
        .api
        .as_deref()
        .and_then(|id| engine.apis().iter().find(|a| &*a.id == id))
    else {
        return x;
    };
    let uri = match strip {
        Some(base) => path_after_base(ctx.path, base),
        None => ctx.path,
    };
    x.story.uri = Some(uri.to_string());
    x.story.router = Some(api.routes.router());
    explain_routes(api, &ctx, uri, winner_route.as_ref(), opts, &mut x);
    x
}

fn host_kind(p: &HostPattern) -> &'static str {
    match p {
        HostPattern::Exact { .. } => "exact",
        HostPattern::Suffix { .. } => "wildcard",
        HostPattern::Any => "any host",
    }
}

/// D3 with the port refinement of the host index: port-specific before port-less at equal rank.
fn host_key(p: &HostPattern) -> (HostRank, bool) {
    let portless = match p {
        HostPattern::Exact { port, .. } | HostPattern::Suffix { port, .. } => port.is_none(),
        HostPattern::Any => true,
    };
    (p.rank(), portless)
}

fn explain_domains(engine: &Engine, ctx: &RequestCtx<'_>, x: &mut Explanation) {
    let host = match ctx.port {
        Some(p) => format!("{}:{p}", ctx.host),
        None => ctx.host.to_string(),
    };
    let selected = x.domain.clone();
    for d in engine.domains() {
        let Ok(pattern) = HostPattern::parse(&d.name, true) else {
            continue;
        };
        let matches = pattern.matches(&ctx.host, ctx.port);
        let (verdict, reason) = if selected.as_deref() == Some(&*d.name) {
            (
                Verdict::Selected,
                format!(
                    "the most specific domain matching host `{host}` (D3: exact > longest wildcard > `*`)"
                ),
            )
        } else if matches {
            (
                Verdict::Outranked,
                format!(
                    "matches, but `{}` is more specific (D3: exact > longest wildcard > `*`)",
                    selected.as_deref().unwrap_or("-")
                ),
            )
        } else if selected.is_none() {
            (Verdict::Failed, format!("does not match host `{host}` (D1, D2)"))
        } else {
            continue;
        };
        x.candidates.push(Candidate {
            layer: Layer::Domain,
            id: d.name.to_string(),
            what: format!("{} `{}`", host_kind(&pattern), d.name),
            verdict,
            reason,
        });
    }
    if selected.is_none() {
        x.notes.push(format!(
            "no domain matches host `{host}`: the filter answers 404 (D3)"
        ));
    }
}

fn target_name(engine: &Engine, t: &Target) -> String {
    let api = engine.apis().get(t.api as usize);
    let stage = api.and_then(|a| a.stages.get(t.stage as usize));
    format!(
        "api `{}` stage `{}`",
        api.map_or("?", |a| &*a.id),
        stage.map_or("?", |s| &*s.name)
    )
}

fn describe_rule(r: &Rule) -> String {
    let mut parts: Vec<String> = r
        .headers
        .iter()
        .map(|h| format!("header `{}` ~ `{}`", h.name, h.glob.as_written()))
        .collect();
    if let Some(b) = &r.base_path {
        parts.push(format!("base path `{b}`"));
    }
    let conds = if parts.is_empty() {
        "no conditions (catch-all)".to_string()
    } else {
        parts.join(" and ")
    };
    format!("priority {}: {conds}", r.priority)
}

fn rule_failure(r: &Rule, f: Failed, ctx: &RequestCtx<'_>) -> String {
    match f {
        Failed::Header(i) => {
            let Some(h) = r.headers.get(usize::from(i)) else {
                return "a header condition fails".into();
            };
            let values: Vec<String> = ctx.req.header_values(&h.name).map(|v| format!("`{v}`")).collect();
            if values.is_empty() {
                format!("header `{}` is absent (R5)", h.name)
            } else {
                format!(
                    "no line of header `{}` matches `{}` (got {}; R3, R4)",
                    h.name,
                    h.glob.as_written(),
                    values.join(", ")
                )
            }
        }
        Failed::BasePath => format!(
            "base path `{}` does not match path `{}` (R6: segment boundaries)",
            r.base_path.as_deref().unwrap_or(""),
            ctx.path
        ),
        other => format!("{other:?}"),
    }
}

/// Layer 2: rules, then mappings (R8). Returns the base path removed from the path routes see, if any.
fn explain_layer2<'d>(
    engine: &Engine,
    domain: &'d Domain,
    ctx: &RequestCtx<'_>,
    x: &mut Explanation,
) -> Option<&'d str> {
    let mut strip = None;
    let winner = x.rule.clone();
    let mut first_match: Option<&Rule> = None;
    for r in domain.rules.rules() {
        let result = r.check(ctx);
        let chosen = winner.as_deref() == Some(&*r.id);
        let (verdict, reason) = match (result, chosen) {
            (Ok(()), true) => {
                if r.target.strip_base_path {
                    strip = r.base_path.as_deref();
                }
                let strip_note = match (&r.base_path, r.target.strip_base_path) {
                    (Some(b), true) => format!(", base path `{b}` stripped (R7)"),
                    _ => String::new(),
                };
                (
                    Verdict::Selected,
                    format!(
                        "first rule by priority whose conditions all hold (R2) → {}{strip_note}",
                        target_name(engine, &r.target)
                    ),
                )
            }
            (Ok(()), false) => (
                Verdict::Outranked,
                match first_match {
                    Some(w) => format!(
                        "its conditions hold, but rule `{}` (priority {}) matched first; later rules are not \
                         evaluated (R2)",
                        w.id, w.priority
                    ),
                    None => "its conditions hold, but another rule was selected (R2)".into(),
                },
            ),
            (Err(f), _) => match first_match {
                // R2: rules after the first match are not evaluated; say whether it could have matched.
                Some(w) => (
                    Verdict::Skipped,
                    format!(
                        "not evaluated: rule `{}` (priority {}) matched first (R2); it would not match \
                         anyway: {}",
                        w.id,
                        w.priority,
                        rule_failure(r, f, ctx)
                    ),
                ),
                None => (Verdict::Failed, rule_failure(r, f, ctx)),
            },
        };
        if result.is_ok() && first_match.is_none() {
            first_match = Some(r);
        }
        x.candidates.push(Candidate {
            layer: Layer::Rule,
            id: r.id.to_string(),
            what: describe_rule(r),
            verdict,
            reason,
        });
    }
    if let Some(w) = first_match {
        if winner.as_deref() != Some(&*w.id) {
            x.notes.push(format!(
                "explain found rule `{}` to be the first match but the engine selected {}: please report this",
                w.id,
                winner.as_deref().unwrap_or("no rule")
            ));
        }
    }

    let mappings = domain.mappings.mappings();
    let chosen_mapping = x.mapping.clone();
    let longest = mappings
        .iter()
        .filter(|m| base_path_matches(ctx.path, &m.base_path))
        .max_by_key(|m| m.base_path.len());
    for m in mappings {
        let shown = if m.base_path.is_empty() {
            "(none)".to_string()
        } else {
            format!("`{}`", m.base_path)
        };
        let what = format!("base path {shown} → {}", target_name(engine, &m.target));
        let matches = base_path_matches(ctx.path, &m.base_path);
        let (verdict, reason) = if chosen_mapping.as_deref() == Some(&*m.id) {
            if !m.base_path.is_empty() {
                strip = Some(&*m.base_path);
            }
            let how = if m.base_path.is_empty() {
                "the (none) mapping catches every path no longer base path matches (R9)".to_string()
            } else {
                format!(
                    "the longest base path matching `{}`, stripped before forwarding (R9)",
                    ctx.path
                )
            };
            (Verdict::Selected, how)
        } else if let Some(rule) = &winner {
            (
                Verdict::Skipped,
                format!("not evaluated: rule `{rule}` selected the API first (R8)"),
            )
        } else if !matches {
            (
                Verdict::Failed,
                format!("base path {shown} does not match path `{}` (R9, R6)", ctx.path),
            )
        } else {
            let by = longest.map_or("-", |l| &*l.base_path);
            (
                Verdict::Outranked,
                format!("matches, but the longer base path `{by}` wins (R9)"),
            )
        };
        x.candidates.push(Candidate {
            layer: Layer::Mapping,
            id: m.id.to_string(),
            what,
            verdict,
            reason,
        });
    }
    if x.api.is_none() {
        let why = match domain.mode {
            RoutingMode::ApiMappingOnly => "no API mapping matches",
            RoutingMode::RoutingRuleOnly => "no routing rule matches",
            RoutingMode::RoutingRuleThenApiMapping => "no routing rule and no API mapping matches",
        };
        x.notes.push(format!(
            "{why}: the filter answers {} (R10)",
            domain.no_match_status
        ));
    }
    strip
}

fn origin(r: &Route) -> String {
    match &r.hosts_origin {
        HostsOrigin::Route => "the route's own".into(),
        HostsOrigin::Service(s) => format!("inherited from service `{s}`"),
        HostsOrigin::Api => "inherited from the API".into(),
        HostsOrigin::None => "none".into(),
    }
}

fn describe_route(r: &Route, p: &RoutePath) -> String {
    let mut s = format!("`{}`", p.key);
    if r.hosts.is_empty() {
        s.push_str(", any host");
    } else {
        let hosts: Vec<String> = r.hosts.iter().map(HostPattern::canonical).collect();
        let _ = write!(s, ", hosts {} ({})", hosts.join(", "), origin(r));
    }
    if r.priority != 0 {
        let _ = write!(s, ", priority {}", r.priority);
    }
    if let Some(v) = &r.vars {
        let _ = write!(s, ", vars {}", v.source());
    }
    if !r.remote_addrs.is_empty() {
        let a: Vec<String> = r.remote_addrs.iter().map(|c| c.canonical()).collect();
        let _ = write!(s, ", remote_addrs {}", a.join(", "));
    }
    if let Some(svc) = &r.service {
        let _ = write!(s, ", service `{svc}`");
    }
    s
}

fn route_failure(r: &Route, f: Failed, ctx: &RequestCtx<'_>) -> String {
    match f {
        Failed::Method => format!(
            "method {} is not one of {} (P1)",
            ctx.req.method,
            r.methods.display()
        ),
        Failed::Vars => format!(
            "vars {} is false for this request (P1)",
            r.vars
                .as_ref()
                .map(|v| v.source().to_string())
                .unwrap_or_default()
        ),
        Failed::RemoteAddr => match ctx.req.remote_addr {
            Some(a) => format!("client address `{a}` is not in remote_addrs (P1)"),
            None => "the request has no client address; remote_addrs cannot hold (P1)".into(),
        },
        other => format!("{other:?}"),
    }
}

/// A route path considered for a request, with the host pattern it matches through.
#[derive(Clone, Copy)]
struct Cand<'r> {
    host: &'r HostPattern,
    route: &'r Route,
    /// Position of the route in the API's config (P6 ties).
    index: usize,
    path: &'r RoutePath,
}

/// The order in which the engine tries two candidates: host groups first (except for
/// `apisix_radixtree_uri`, where the host is only a filter), then the router's own order
/// ([`entry_order`], the function the route table is sorted with).
fn order(router: RouterKind, a: &Cand<'_>, b: &Cand<'_>) -> Ordering {
    let hosts = if router == RouterKind::ApisixRadixtreeUri {
        Ordering::Equal
    } else {
        host_key(a.host).cmp(&host_key(b.host))
    };
    hosts.then_with(|| entry_order(router, (a.route, a.index, a.path), (b.route, b.index, b.path)))
}

fn class_name(p: &PathPattern) -> &'static str {
    match p {
        PathPattern::Exact(_) => "exact",
        PathPattern::Prefix(_) => "prefix",
        PathPattern::Template { greedy: None, .. } => "template",
        PathPattern::Template { greedy: Some(_), .. } => "greedy",
        PathPattern::Default => "$default",
    }
}

/// Why the winner ranks before a candidate: the first step of the router's order at which they differ.
fn why_outranked(router: RouterKind, w: &Cand<'_>, c: &Cand<'_>) -> String {
    let (wn, cn) = (w.route.id.as_ref(), c.route.id.as_ref());
    let (wp, cp) = (&w.path.pattern, &c.path.pattern);
    let apisix = router != RouterKind::Specificity;
    if router != RouterKind::ApisixRadixtreeUri && host_key(w.host) != host_key(c.host) {
        return format!(
            "route `{wn}` matches the host through {} `{}`, more specific than {} `{}` ({})",
            host_kind(w.host),
            w.host.canonical(),
            host_kind(c.host),
            c.host.canonical(),
            if apisix { "P6: host first" } else { "P5 step 1" }
        );
    }
    if wp.class() != cp.class() {
        return if apisix {
            format!(
                "the full match `{}` of route `{wn}` comes before the prefix `{}` (P6)",
                wp.as_written(),
                cp.as_written()
            )
        } else {
            format!(
                "{} path `{}` of route `{wn}` ranks before {} path `{}` (P5 step 2: exact > prefix/template > \
                 greedy > $default)",
                class_name(wp),
                wp.as_written(),
                class_name(cp),
                cp.as_written()
            )
        };
    }
    if wp.literal_len() != cp.literal_len() {
        return format!(
            "`{}` of route `{wn}` has the longer literal part ({} > {} characters; {})",
            wp.as_written(),
            wp.literal_len(),
            cp.literal_len(),
            if apisix {
                "P6: deepest prefix first"
            } else {
                "P5 step 2"
            }
        );
    }
    if !apisix && wp.is_template() != cp.is_template() {
        return format!(
            "at equal literal length the template `{}` of route `{wn}` ranks before the prefix `{}` (P5 step 2)",
            wp.as_written(),
            cp.as_written()
        );
    }
    if !apisix && wp.param_count() != cp.param_count() {
        return format!(
            "`{}` of route `{wn}` has fewer parameters ({} < {}; P5 step 2)",
            wp.as_written(),
            wp.param_count(),
            cp.param_count()
        );
    }
    if w.route.priority != c.route.priority {
        return format!(
            "route `{wn}` has the higher priority ({} > {}; {})",
            w.route.priority,
            c.route.priority,
            if apisix { "P6" } else { "P5 step 3" }
        );
    }
    if apisix {
        if w.index != c.index {
            return format!(
                "same path and priority: route `{wn}` comes first in the configuration (P6: file order decides \
                 this tie; `routewise lint` reports it)"
            );
        }
        return format!("another path of route `{wn}` ranks first");
    }
    if w.route.methods.is_any() != c.route.methods.is_any() {
        return format!(
            "route `{wn}` is method-restricted ({}), this one allows ANY (P5 step 4)",
            w.route.methods.display()
        );
    }
    if wn != cn {
        return format!("route id `{wn}` sorts before `{cn}` (P5 step 5; never file order)");
    }
    format!("another path of route `{wn}` ranks first")
}

/// The most specific of a route's hosts that matches the request (`Any` for host-less routes).
fn best_host<'r>(r: &'r Route, ctx: &RequestCtx<'_>) -> Option<&'r HostPattern> {
    const ANY: &HostPattern = &HostPattern::Any;
    if r.hosts.is_empty() {
        return Some(ANY);
    }
    r.hosts
        .iter()
        .filter(|h| h.matches(&ctx.host, ctx.port))
        .min_by_key(|h| host_key(h))
}

fn explain_routes<'a>(
    api: &'a Api,
    ctx: &RequestCtx<'_>,
    uri: &str,
    winner: Option<&(String, String)>,
    opts: Options,
    x: &mut Explanation,
) {
    let routes = api.routes.routes();
    let router = api.routes.router();
    let cand = |index: usize, route: &'a Route, path: &'a RoutePath| -> Option<Cand<'a>> {
        Some(Cand {
            host: best_host(route, ctx)?,
            route,
            index,
            path,
        })
    };
    let find = |(id, key): &(String, String)| {
        let (i, r) = routes.iter().enumerate().find(|(_, r)| &*r.id == id)?;
        cand(i, r, r.paths.iter().find(|p| &*p.key == key)?)
    };
    let mut won = winner.and_then(find);
    if won.is_none() && x.outcome == outcome::UNAUTHORIZED {
        // The engine selected a route, then key-auth refused the request (G2); the reply does not name the
        // route, so find it as the engine does: the best-ranked candidate whose filters pass.
        won = routes
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.paths.iter().map(move |p| (i, r, p)))
            .filter_map(|(i, r, p)| {
                let c = cand(i, r, p)?;
                (p.pattern.is_match(uri) && r.check(ctx, uri).is_ok()).then_some(c)
            })
            .min_by(|a, b| order(router, a, b));
        if let Some(c) = won {
            x.route_key = Some(c.path.key.to_string());
        }
    }
    let mut unlisted = 0usize;
    for (i, r) in routes.iter().enumerate() {
        for p in r.paths.iter() {
            let path_ok = p.pattern.is_match(uri);
            if !path_ok && !opts.all_routes {
                unlisted += 1;
                continue;
            }
            let this = cand(i, r, p);
            let is_winner = won.is_some_and(|w| std::ptr::eq(w.route, r) && std::ptr::eq(w.path, p));
            let (verdict, reason) = if is_winner {
                (
                    Verdict::Selected,
                    format!(
                        "the best-ranked route whose host, path, methods, vars and remote addresses all pass ({})",
                        if router == RouterKind::Specificity { "P5" } else { "P6" }
                    ),
                )
            } else if this.is_none() {
                let hosts: Vec<String> = r.hosts.iter().map(HostPattern::canonical).collect();
                (
                    Verdict::Failed,
                    format!(
                        "host `{}` is not one of {} ({}; {})",
                        ctx.host,
                        hosts.join(", "),
                        origin(r),
                        if router == RouterKind::ApisixRadixtreeUri {
                            "P6: the host is a filter"
                        } else {
                            "P1, P7"
                        }
                    ),
                )
            } else if !path_ok {
                (
                    Verdict::Failed,
                    format!("path `{uri}` does not match `{}` (P2)", p.pattern.as_written()),
                )
            } else if let Err(f) = r.check(ctx, uri) {
                (Verdict::Failed, route_failure(r, f, ctx))
            } else {
                match (won, this) {
                    (Some(w), Some(c)) => {
                        if order(router, &c, &w) == Ordering::Less {
                            x.notes.push(format!(
                                "explain ranks route `{}` before the engine's choice `{}`: please report this",
                                r.id, w.route.id
                            ));
                        }
                        (Verdict::Outranked, why_outranked(router, &w, &c))
                    }
                    _ => (
                        Verdict::Outranked,
                        "passes, but the engine selected no route".to_string(),
                    ),
                }
            };
            x.candidates.push(Candidate {
                layer: Layer::Route,
                id: r.id.to_string(),
                what: describe_route(r, p),
                verdict,
                reason,
            });
        }
    }
    if unlisted > 0 {
        x.notes.push(format!(
            "{unlisted} route path(s) of api `{}` do not match `{uri}` and are not listed (--all lists them)",
            api.id
        ));
    }
    if let Some(Cand { route: r, .. }) = won {
        if x.outcome == outcome::UNAUTHORIZED {
            x.route = Some(r.id.to_string());
            x.plugins = plugin_uses(crate::plugins::merge::merge_route(&r.plugins.compiled).list());
            x.notes.push(format!(
                "route `{}` was selected, but its key-auth found no key or a key of no consumer: the filter \
                 answers 401 (G2)",
                r.id
            ));
        }
    } else if x.status == Some(404) {
        x.notes.push(format!(
            "no route of api `{}` matches: the filter answers 404 (P8)",
            api.id
        ));
    }
}

fn plugin_uses(list: Vec<(&'static str, crate::plugins::merge::Origin)>) -> Vec<PluginUse> {
    list.into_iter()
        .map(|(name, origin)| PluginUse {
            name: name.to_string(),
            from: origin.as_str().to_string(),
        })
        .collect()
}

/// The request the router receives: the filter's pipeline, run on `spec` against a [`RecordingHost`]
/// (the same steps, in the same order, as in Envoy: the client's cluster header removed, the plugins'
/// edits, the cluster header, the path).
fn upstream_request(config: &FilterConfig, spec: &RequestSpec, cluster: &str) -> Upstream {
    let mut host = RecordingHost::new(&[
        (":method", &spec.method),
        (":authority", &spec.authority),
        (":path", &spec.path),
    ]);
    host.request.extend(
        spec.headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone())),
    );
    host.source_address = spec.remote_addr.clone();
    Stream::default().on_request_headers(Some(config), &mut host, true);
    Upstream {
        cluster: cluster.to_string(),
        path: host.request_header(":path").unwrap_or(&spec.path).to_string(),
        headers: host
            .request
            .into_iter()
            .filter(|(n, _)| !n.starts_with(':'))
            .collect(),
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Selected => "selected ",
        Verdict::Outranked => "outranked",
        Verdict::Failed => "failed   ",
        Verdict::Skipped => "skipped  ",
    }
}

fn mode_name(m: RoutingMode) -> &'static str {
    match m {
        RoutingMode::ApiMappingOnly => "API_MAPPING_ONLY",
        RoutingMode::RoutingRuleThenApiMapping => "ROUTING_RULE_THEN_API_MAPPING",
        RoutingMode::RoutingRuleOnly => "ROUTING_RULE_ONLY",
    }
}

fn router_name(r: RouterKind) -> &'static str {
    match r {
        RouterKind::Specificity => "specificity",
        RouterKind::ApisixRadixtreeUri => "apisix_radixtree_uri",
        RouterKind::ApisixRadixtreeHostUri => "apisix_radixtree_host_uri",
    }
}

impl Explanation {
    /// The human story of E1: the request, then each layer's candidates with verdicts and reasons, the
    /// plugins, and the upstream request or the local reply.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let s = &self.story;
        let _ = writeln!(out, "request   {}", s.request);
        for (n, v) in &s.headers {
            let _ = writeln!(out, "          {n}: {v}");
        }
        let section = |out: &mut String, layer: Layer| {
            for c in self.candidates.iter().filter(|c| c.layer == layer) {
                let _ = writeln!(out, "  {} {}  {}", verdict_word(c.verdict), c.id, c.what);
                let _ = writeln!(out, "            {}", c.reason);
            }
        };
        let _ = writeln!(
            out,
            "\n1. domain (D1-D3): {}",
            self.domain.as_deref().unwrap_or("none")
        );
        section(&mut out, Layer::Domain);
        if let Some(mode) = s.mode {
            let _ = writeln!(out, "\n2. rules and mappings ({}, R8)", mode_name(mode));
            if self
                .candidates
                .iter()
                .any(|c| matches!(c.layer, Layer::Rule | Layer::Mapping))
            {
                section(&mut out, Layer::Rule);
                section(&mut out, Layer::Mapping);
            } else {
                let _ = writeln!(out, "  (no rules or mappings)");
            }
            match (&self.api, &self.stage) {
                (Some(a), Some(st)) => {
                    let _ = writeln!(out, "  => api {a}, stage {st}");
                }
                _ => {
                    let _ = writeln!(out, "  => no API selected");
                }
            }
        }
        if let (Some(router), Some(uri)) = (s.router, &s.uri) {
            let _ = writeln!(
                out,
                "\n3. routes of api {} (router {}, path {uri})",
                self.api.as_deref().unwrap_or("-"),
                router_name(router)
            );
            section(&mut out, Layer::Route);
            match (&self.route, &self.route_key) {
                (Some(r), Some(k)) => {
                    let _ = writeln!(out, "  => route {r} ({k})");
                }
                _ => {
                    let _ = writeln!(out, "  => no route");
                }
            }
            if !self.path_params.is_empty() {
                let ps: Vec<String> = self.path_params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = writeln!(out, "     path parameters: {}", ps.join(", "));
            }
            if self.route.is_some() {
                let _ = writeln!(out, "\n4. plugins (G1: consumer > route > service > api)");
                if self.plugins.is_empty() {
                    let _ = writeln!(out, "  none");
                }
                for p in &self.plugins {
                    let _ = writeln!(out, "  {} (from {})", p.name, p.from);
                }
                if let Some(c) = &self.consumer {
                    let _ = writeln!(out, "  consumer: {c} (identified by key-auth)");
                }
            }
        }
        let _ = writeln!(out);
        match (&self.upstream, self.status) {
            (Some(u), _) => {
                let _ = writeln!(
                    out,
                    "forward   cluster {} ({}), path {}",
                    u.cluster,
                    s.integration.as_deref().unwrap_or("http"),
                    u.path
                );
                for (n, v) in &u.headers {
                    let _ = writeln!(out, "          {n}: {v}");
                }
            }
            (None, Some(status)) => {
                let _ = writeln!(
                    out,
                    "reply     {status} {} ({})",
                    s.body.as_deref().unwrap_or(""),
                    self.outcome
                );
            }
            (None, None) => {}
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nnotes");
            for n in &self.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(json: &str) -> FilterConfig {
        FilterConfig::from_bytes(json.as_bytes()).expect("valid")
    }

    fn req(method: &str, authority: &str, path: &str, headers: &[(&str, &str)]) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            authority: authority.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            remote_addr: None,
        }
    }

    #[test]
    fn e1_names_each_layer_and_the_reason_every_other_candidate_lost() {
        let e = engine(
            r#"{"domains": [{"name": "api.example.com", "api_mappings": [
                   {"base_path": "pets", "api": "pets", "stage": "prod"},
                   {"base_path": "", "api": "pets", "stage": "prod"}]},
                 {"name": "*.example.com"}],
                "apis": [{"id": "pets", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}},
                          "routes": [{"id": "one", "key": "GET /{id}"}, {"id": "any", "key": "ANY /{proxy+}"},
                                     {"id": "post", "key": "POST /{id}"}]}]}"#,
        );
        let x = explain(
            &e,
            &req(
                "GET",
                "API.example.com",
                "/pets/7?q=1",
                &[("X-Routewise-Cluster", "evil")],
            ),
            Options::default(),
        );
        assert_eq!(x.domain.as_deref(), Some("api.example.com"));
        assert_eq!(x.mapping.as_deref(), Some("pets"));
        assert_eq!(x.route.as_deref(), Some("one"));
        let up = x.upstream.as_ref().expect("forwarded");
        assert_eq!(up.path, "/7?q=1");
        assert_eq!(up.headers, [("x-routewise-cluster".to_string(), "c".to_string())]);
        let verdicts: Vec<(Layer, &str, Verdict)> = x
            .candidates
            .iter()
            .map(|c| (c.layer, c.id.as_str(), c.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                (Layer::Domain, "api.example.com", Verdict::Selected),
                (Layer::Domain, "*.example.com", Verdict::Outranked),
                (Layer::Mapping, "pets", Verdict::Selected),
                (Layer::Mapping, "(none)", Verdict::Outranked),
                (Layer::Route, "one", Verdict::Selected),
                (Layer::Route, "any", Verdict::Outranked),
                (Layer::Route, "post", Verdict::Failed),
            ]
        );
        assert!(
            x.candidates[5].reason.contains("P5 step 2"),
            "{:?}",
            x.candidates[5]
        );
        assert!(
            x.notes.iter().any(|n| n.contains("removed before routing")),
            "{:?}",
            x.notes
        );
        assert!(!x.notes.iter().any(|n| n.contains("report")), "{:?}", x.notes);
    }
}
