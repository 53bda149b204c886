//! The routing engine: a configuration validated once into indexed matchers ([`Engine::from_json`]), then
//! asked per request for a [`Decision`] ([`Engine::evaluate`]).
//!
//! ```
//! use routewise::engine::Engine;
//! use routewise::decision::Decision;
//! use routewise::request::RequestView;
//!
//! let engine = Engine::from_json(r#"{
//!   "domains": [{"name": "api.example.com", "api_mappings": [{"base_path": "pets", "api": "pets", "stage": "prod"}]}],
//!   "apis": [{"id": "pets",
//!             "stages": {"prod": {"integration": {"type": "http", "cluster": "pets_v1"}}},
//!             "routes": [{"key": "GET /{id}"}]}]
//! }"#).expect("valid config");
//! let headers = vec![];
//! let req = RequestView { method: "GET", authority: "api.example.com", path: "/pets/7?x=1",
//!                         headers: &headers, remote_addr: None };
//! let Decision::Forward(f) = engine.evaluate(&req) else { panic!("routed") };
//! assert_eq!(f.cluster, "pets_v1");
//! assert_eq!(f.path.as_deref(), Some("/7?x=1"));          // R9: the mapped base path is stripped
//! assert_eq!(f.path_params, [("id", "7".to_string())]);
//! ```
//!
//! # Rule selection
//!
//! 1. **Domain** (D1-D3): exact host, else the longest wildcard suffix, else `*`; none → 404.
//! 2. **Rule or mapping** (R1-R10): rules by ascending priority, first match wins (header globs R3-R5, base
//!    path on segment boundaries R6); then, per routing mode (R8), the mapping with the longest base path
//!    (R9). `strip_base_path` (R7) and mapped base paths (R9) are removed from the forwarded path and from
//!    the path routes match on. Nothing selected → `no_match_status` (403).
//! 3. **Route** (P1-P5): host groups in specificity order, then path class and literal length, priority,
//!    method restriction, route id; the first whose methods, vars and remote addresses pass wins. None →
//!    404. The integration is the route's, else its service's, else the stage's. An API with router
//!    `apisix_radixtree_uri` or `apisix_radixtree_host_uri` ranks its routes as APISIX does instead (P6:
//!    full match, deepest prefix, priority, configuration order; [`crate::routing::routes::entry_order`]).
//!
//! Nothing is parsed per request: every lookup is a hash map, a trie walk or an automaton scan built at
//! configure time, and a decision borrows its strings from the engine.

mod build;
// Test support for differential tests (the core's property test, the `matcher_diff` fuzz target).
#[cfg(any(test, feature = "reference"))]
#[doc(hidden)]
pub mod reference;

use std::collections::BTreeMap;

use crate::budget::{self, Budget};
use crate::config::{self, Config};
use crate::decision::{CounterSlots, Decision, Forward, Integration, LocalReply, Selected};
use crate::error::{ConfigErrors, ErrorKind};
use crate::matchers::host::HostIndex;
use crate::matchers::path::{path_after_base, strip_base_path};
use crate::names::outcome;
use crate::plugins::{plan_request, ConsumerSet, Rejection};
use crate::request::{RequestCtx, RequestView};
use crate::routing::domain::Domain;
use crate::routing::routes::RouteTable;
use crate::trace::{NoTrace, Trace, TraceEvent};

/// Largest configuration document accepted (bytes), in `routewise validate` and in Envoy alike.
pub const MAX_CONFIG_BYTES: usize = 32 * 1024 * 1024;
/// Most routing rules, API mappings and routes in one configuration, all domains and APIs together.
pub const MAX_ITEMS: usize = 100_000;

/// A validated, compiled configuration. Immutable and shareable (`Arc<Engine>`) across streams.
#[derive(Debug)]
pub struct Engine {
    cluster_header: Box<str>,
    state_keys: crate::names::property::StateKeys,
    domain_index: HostIndex<u32>,
    domains: Vec<Domain>,
    apis: Vec<Api>,
    rule_count: usize,
    mapping_count: usize,
    route_count: usize,
    uses_remote_addr: bool,
    consumers: ConsumerSet,
    /// Field paths of the Lambda integrations with `response_transfer_mode: "STREAM"`.
    stream_integrations: Vec<String>,
}

/// A compiled API.
#[derive(Debug)]
pub struct Api {
    /// Id.
    pub id: Box<str>,
    /// How its routes are ranked (P5, P6).
    pub router: crate::config::RouterKind,
    /// Stages, by name order.
    pub stages: Vec<Stage>,
    /// Routes (one implicit `$default` route when the config has none).
    pub routes: RouteTable,
}

/// A compiled stage.
#[derive(Debug)]
pub struct Stage {
    /// Name.
    pub name: Box<str>,
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
    /// Default integration of the API's routes.
    pub integration: Option<Integration>,
}

impl Engine {
    /// Parses, validates and compiles a JSON configuration, reporting every error with its field path:
    /// the shape errors of individual items together with the semantic errors of the others.
    pub fn from_json(text: &str) -> Result<Engine, ConfigErrors> {
        let (config, errors) = Engine::parse(text)?;
        Engine::finish(&config, errors)
    }

    /// [`Engine::from_json`] in slices of `budget` ([`crate::budget`]); the configuration is dropped in
    /// slices too.
    pub(crate) async fn from_json_in(text: String, budget: &Budget) -> Result<Engine, ConfigErrors> {
        let (config, mut errors) = Engine::parse_in(&text, budget).await?;
        drop(text);
        let built = Engine::from_config_in(&config, budget).await;
        config::drop_in(config, budget).await;
        match built {
            Ok(engine) if errors.is_empty() => Ok(engine),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.0.extend(more.0);
                Err(errors)
            }
        }
    }

    /// [`Engine::from_json`] of a document the caller gives away: the text is freed once parsed, before
    /// the engine is built, so it is not part of the build's peak memory (issue 13: in the proxy-wasm build
    /// each VM's linear memory stays at that peak for good; at 100,000 rules the text is ≈ 20 MB per VM).
    pub fn from_json_owned(text: String) -> Result<Engine, ConfigErrors> {
        let budget = Budget::unlimited();
        budget::block_on(Engine::from_json_in(text, &budget), &budget)
    }

    /// Drops the engine in slices of `budget` ([`crate::budget`]): freeing a 100,000-rule engine in one
    /// piece held a Wasm VM for ≈ 30 ms.
    pub(crate) async fn drop_in(self, budget: &Budget) {
        for d in self.domains {
            d.rules.drop_in(budget).await;
            d.mappings.drop_in(budget).await;
        }
        for a in self.apis {
            a.routes.drop_in(budget).await;
        }
    }

    /// The size check and the parse of [`Engine::from_json`]: the document and its shape errors.
    fn parse(text: &str) -> Result<(Config, ConfigErrors), ConfigErrors> {
        let budget = Budget::unlimited();
        budget::block_on(Engine::parse_in(text, &budget), &budget)
    }

    /// [`Engine::parse`] in slices: a document that is right is read by [`config::stepwise`], item by
    /// item; any other is read again in one piece by [`config::parse_document`], which lists its errors.
    async fn parse_in(text: &str, budget: &Budget) -> Result<(Config, ConfigErrors), ConfigErrors> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigErrors(vec![crate::error::ConfigError::new(
                "(document)",
                ErrorKind::NotAllowed {
                    reason: format!(
                        "the configuration is {} bytes; at most {MAX_CONFIG_BYTES} are accepted",
                        text.len()
                    ),
                },
            )]));
        }
        // Item-level shape errors leave the document readable ([`config::Lenient`] keeps the bad items, and
        // the builder reports them), so the rest is validated too and one run lists everything; so is a
        // document whose only own errors are unknown top-level fields.
        if let Some(config) = config::stepwise::parse(text, budget).await {
            return Ok((config, ConfigErrors::default()));
        }
        let (config, errors) = config::parse_document(text);
        match config {
            Some(config) => Ok((config, errors)),
            None => Err(errors),
        }
    }

    /// The build of [`Engine::from_json`], with the shape errors found while parsing.
    fn finish(config: &Config, mut errors: ConfigErrors) -> Result<Engine, ConfigErrors> {
        match Engine::from_config(config) {
            Ok(engine) if errors.is_empty() => Ok(engine),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.0.extend(more.0);
                Err(errors)
            }
        }
    }

    /// Validates and compiles a parsed configuration (R12, P2-P4, P7), reporting every error.
    pub fn from_config(config: &Config) -> Result<Engine, ConfigErrors> {
        let budget = Budget::unlimited();
        budget::block_on(Engine::from_config_in(config, &budget), &budget)
    }

    /// [`Engine::from_config`] in slices of `budget`.
    pub(crate) async fn from_config_in(config: &Config, budget: &Budget) -> Result<Engine, ConfigErrors> {
        // Counted before anything is built: every item costs memory in every worker (each Wasm VM builds
        // its own engine), so an oversized config is refused with the limit, never half-built.
        let rules: usize = config
            .domains
            .iter()
            .filter_map(|d| d.get())
            .map(|d| d.routing_rules.len())
            .sum();
        let mappings: usize = config
            .domains
            .iter()
            .filter_map(|d| d.get())
            .map(|d| d.api_mappings.len())
            .sum();
        let routes: usize = config
            .apis
            .iter()
            .filter_map(|a| a.get())
            .map(|a| a.routes.len())
            .sum();
        let items = rules + mappings + routes;
        if items > MAX_ITEMS {
            return Err(ConfigErrors(vec![crate::error::ConfigError::new(
                "(document)",
                ErrorKind::TooMany {
                    what: "routing rules, API mappings and routes in all",
                    max: MAX_ITEMS,
                    given: items,
                },
            )]));
        }
        build::build(config, budget).await
    }

    /// The field paths of the Lambda integrations with `response_transfer_mode: "STREAM"`
    /// (`apis[0].routes[2].integration`), for a build that cannot stream to refuse them
    /// ([`crate::pipeline::FilterConfig::from_bytes_for`]).
    pub fn stream_integrations(&self) -> &[String] {
        &self.stream_integrations
    }

    /// Routes a request.
    #[inline]
    pub fn evaluate<'e>(&'e self, req: &RequestView<'_>) -> Decision<'e> {
        self.evaluate_traced(req, &mut NoTrace)
    }

    /// Routes a request, reporting every candidate considered to `trace` (E1).
    pub fn evaluate_traced<'e, T: Trace>(&'e self, req: &RequestView<'_>, trace: &mut T) -> Decision<'e> {
        let ctx = RequestCtx::new(req);
        // D1-D3.
        let Some(domain) = self
            .domain_index
            .first_match(&ctx.host, ctx.port)
            .and_then(|i| self.domains.get(i as usize))
        else {
            if T::ENABLED {
                trace.event(TraceEvent::Domain { name: None });
            }
            return Decision::LocalReply(LocalReply::no_domain());
        };
        if T::ENABLED {
            trace.event(TraceEvent::Domain {
                name: Some(&domain.name),
            });
        }
        let mut selected = Selected {
            domain: Some(&domain.name),
            ..Selected::default()
        };
        // R1-R10.
        let Some(sel) = domain.select(&ctx, trace) else {
            return Decision::LocalReply(LocalReply {
                status: domain.no_match_status,
                body: &domain.no_match_body,
                reason: outcome::NO_API,
                context: selected,
                path: None,
            });
        };
        selected.rule_id = sel.rule.map(|r| &*r.id);
        selected.mapping_id = sel.mapping.map(|m| &*m.id);
        let Some(api) = self.apis.get(sel.target.api as usize) else {
            return Decision::LocalReply(LocalReply::internal_error(selected));
        };
        selected.api = Some(&api.id);
        let Some(stage) = api.stages.get(sel.target.stage as usize) else {
            return Decision::LocalReply(LocalReply::internal_error(selected));
        };
        selected.stage = Some(&stage.name);
        // R7, R9: routes see the path without the stripped base path.
        let stripping = sel.target.strip_base_path && !sel.strip.is_empty();
        let uri = if stripping {
            path_after_base(ctx.path, sel.strip)
        } else {
            ctx.path
        };
        // P1-P5.
        let Some(m) = api.routes.select(&ctx, uri, trace) else {
            return Decision::LocalReply(LocalReply {
                status: 404,
                body: crate::names::body::NOT_FOUND,
                reason: outcome::NO_ROUTE,
                context: selected,
                path: None,
            });
        };
        let Some(integration) = m.route.integration.as_ref().or(stage.integration.as_ref()) else {
            // Validation guarantees an integration for every route and stage.
            return Decision::LocalReply(LocalReply::internal_error(selected));
        };
        let path = stripping.then(|| strip_base_path(req.path, sel.strip));
        // G1, G2: the one merge of this request's plugins; key-auth may stop it here.
        let mut plugins = match plan_request(
            &m.route.plugins.compiled,
            &self.consumers,
            &ctx,
            path.as_deref().unwrap_or(req.path),
        ) {
            Ok(plan) => plan,
            Err(Rejection::Unauthorized { logged_path }) => {
                selected.route_id = Some(&m.route.id);
                selected.route_key = Some(&m.path.key);
                return Decision::LocalReply(LocalReply {
                    status: 401,
                    body: crate::names::body::UNAUTHORIZED,
                    reason: outcome::UNAUTHORIZED,
                    context: selected,
                    path: logged_path,
                });
            }
        };
        Decision::Forward(Forward {
            cluster: integration.cluster(),
            path: plugins.path.take().or(path),
            domain: &domain.name,
            rule_id: selected.rule_id,
            mapping_id: selected.mapping_id,
            api: &api.id,
            stage: &stage.name,
            route_id: &m.route.id,
            route_key: &m.path.key,
            path_params: m.path.pattern.captures(uri),
            integration,
            stage_variables: &stage.variables,
            counters: CounterSlots {
                rule: sel.rule.map(|r| r.slot),
                mapping: sel.mapping.map(|m| m.slot),
                route: m.route.slot,
            },
            plugins,
        })
    }

    /// The filter-state keys this configuration writes (`filter_state`).
    pub fn state_keys(&self) -> crate::names::property::StateKeys {
        self.state_keys
    }

    /// The request header that carries the selected cluster (lowercase).
    pub fn cluster_header(&self) -> &str {
        &self.cluster_header
    }

    /// Number of rule counter slots ([`CounterSlots::rule`] is below it).
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// Number of mapping counter slots.
    pub fn mapping_count(&self) -> usize {
        self.mapping_count
    }

    /// Number of route counter slots.
    pub fn route_count(&self) -> usize {
        self.route_count
    }

    /// True when some route filters on the client address (`remote_addrs`, or `remote_addr` in `vars`); the
    /// adapter reads Envoy's `source.address` only then.
    pub fn uses_remote_addr(&self) -> bool {
        self.uses_remote_addr
    }

    /// The compiled domains (for explain and lint).
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }

    /// The consumers (for explain: [`crate::plugins::merge::explain`]).
    pub fn consumers(&self) -> &ConsumerSet {
        &self.consumers
    }

    /// The compiled APIs (for explain and lint).
    pub fn apis(&self) -> &[Api] {
        &self.apis
    }

    /// One line describing the indexes built, for the configure-time log.
    pub fn summary(&self) -> String {
        let mut rules = (0, 0, [0usize; 5]);
        for d in &self.domains {
            let (a, b, h) = d.rules.stats();
            rules.0 += a;
            rules.1 += b;
            for (x, y) in rules.2.iter_mut().zip(h) {
                *x += y;
            }
        }
        let mut routes = (0, [0usize; 4]);
        for a in &self.apis {
            let (g, s) = a.routes.stats();
            routes.0 += g;
            for (x, y) in routes.1.iter_mut().zip(s) {
                *x += y;
            }
        }
        let [he, hp, hs, hc, ha] = rules.2;
        let [pe, pp, pt, pd] = routes.1;
        format!(
            "{} domains, {} rules (index: {} catch-all, {} base path, header {} exact / {} prefix / {} suffix / \
             {} contains / {} any), {} mappings, {} apis, {} routes ({} host groups; paths {} exact / {} prefix / \
             {} template / {} default)",
            self.domains.len(),
            self.rule_count,
            rules.0,
            rules.1,
            he,
            hp,
            hs,
            hc,
            ha,
            self.mapping_count,
            self.apis.len(),
            self.route_count,
            routes.0,
            pe,
            pp,
            pt,
            pd
        )
    }

    /// Checks the compiled structures (every rule, mapping and route indexed exactly once, ranks sorted,
    /// counter slots dense and unique). For tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut rule_slots = vec![false; self.rule_count];
        let mut mapping_slots = vec![false; self.mapping_count];
        let mut route_slots = vec![false; self.route_count];
        let claim = |slots: &mut Vec<bool>, i: u32, what: &str| -> Result<(), String> {
            match slots.get_mut(i as usize) {
                Some(s) if !*s => {
                    *s = true;
                    Ok(())
                }
                _ => Err(format!("{what} slot {i} is out of range or used twice")),
            }
        };
        for d in &self.domains {
            d.rules
                .check_invariants()
                .map_err(|e| format!("domain {}: {e}", d.name))?;
            d.mappings
                .check_invariants()
                .map_err(|e| format!("domain {}: {e}", d.name))?;
            for r in d.rules.rules() {
                claim(&mut rule_slots, r.slot, "rule")?;
                self.check_target(&r.target)?;
            }
            for m in d.mappings.mappings() {
                claim(&mut mapping_slots, m.slot, "mapping")?;
                self.check_target(&m.target)?;
            }
        }
        for a in &self.apis {
            a.routes
                .check_invariants()
                .map_err(|e| format!("api {}: {e}", a.id))?;
            for r in a.routes.routes() {
                claim(&mut route_slots, r.slot, "route")?;
                if r.integration.is_none() && a.stages.iter().any(|s| s.integration.is_none()) {
                    return Err(format!(
                        "route {} of api {} has no integration for some stage",
                        r.id, a.id
                    ));
                }
            }
        }
        if rule_slots
            .iter()
            .chain(&mapping_slots)
            .chain(&route_slots)
            .any(|s| !s)
        {
            return Err("a counter slot is unused".into());
        }
        Ok(())
    }

    fn check_target(&self, t: &crate::routing::rules::Target) -> Result<(), String> {
        match self.apis.get(t.api as usize) {
            Some(a) if (t.stage as usize) < a.stages.len() => Ok(()),
            _ => Err(format!("target {t:?} points nowhere")),
        }
    }
}

#[cfg(test)]
mod tests;
