//! The proxy-wasm adapter: the only code that talks to Envoy (built for `wasm32` only).
//!
//! Envoy's config → factory → filter split: [`Root::on_configure`] parses, validates and compiles an
//! `Arc<Engine>` (or rejects the configuration, logging every error); each HTTP stream gets a [`Stream`]
//! holding a clone of it; `on_http_request_headers` reads the request once into a [`RequestView`], asks the
//! engine, and applies the [`Decision`]. Every host-call failure becomes a logged 500 local reply, never a
//! trap (the SDK's own calls panic only on statuses Envoy does not return, proxy-wasm-host.md §1.6).
//! A Lambda integration is answered by the filter itself ([`lambda_stream`]): the request never reaches
//! the router.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};

use crate::decision::{Decision, Forward, Integration, LocalReply, Selected};
use crate::engine::Engine;
use crate::names::{header, metric, outcome, property, CLEAR_ROUTE_CACHE};
use crate::plugins::{HeaderEdit, ResponseRewrite};
use crate::request::RequestView;

mod lambda_stream;
use lambda_stream::LambdaStream;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// What one configuration gives every stream: the engine and the counters defined for it.
struct Runtime {
    engine: Arc<Engine>,
    metrics: Metrics,
}

/// The plugin (root) context: holds the current configuration.
#[derive(Default)]
struct Root {
    runtime: Option<Rc<Runtime>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let text = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(Some(bytes)) if !bytes.is_empty() => bytes,
            Ok(_) => {
                log::error!(
                    "routewise: configuration rejected: the plugin configuration is empty; set the filter's \
                     `configuration` to the routewise JSON document"
                );
                return false;
            }
            Err(status) => {
                log::error!("routewise: configuration rejected: cannot read it ({status:?})");
                return false;
            }
        };
        let Ok(text) = std::str::from_utf8(&text) else {
            log::error!("routewise: configuration rejected: it is not UTF-8 text");
            return false;
        };
        match Engine::from_json(text) {
            Ok(engine) => {
                log::info!("routewise: configured: {}", engine.summary());
                let metrics = Metrics::new(&engine);
                // A rejected update keeps the previous runtime (Envoy keeps the old config too).
                self.runtime = Some(Rc::new(Runtime {
                    engine: Arc::new(engine),
                    metrics,
                }));
                true
            }
            Err(errors) => {
                let n = errors.0.len();
                let noun = if n == 1 { "error" } else { "errors" };
                log::error!("routewise: configuration rejected ({n} {noun}):");
                for e in errors.iter() {
                    log::error!("{e}");
                }
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Always a context: the SDK panics on `None`. Without a configuration the stream answers 500.
        Some(Box::new(Stream {
            runtime: self.runtime.clone(),
            state: StreamState::Start,
            response_rewrite: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Per-stream state after the routing decision.
enum StreamState {
    /// Request headers not seen yet.
    Start,
    /// Sent to an HTTP cluster; nothing more to do.
    Forwarded,
    /// Answered locally.
    Replied,
    /// A Lambda integration: the filter invokes the function and answers ([`lambda_stream`]).
    Lambda(LambdaStream),
}

/// One HTTP stream.
struct Stream {
    runtime: Option<Rc<Runtime>>,
    state: StreamState,
    /// The merged `response-rewrite` (G1, G2), applied once in `on_http_response_headers`.
    response_rewrite: Option<ResponseRewrite>,
}

impl Context for Stream {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let StreamState::Lambda(l) = &mut self.state {
            l.on_call_response(token_id, num_headers, body_size);
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(rt) = self.runtime.clone() else {
            return self.internal_error(None, "no configuration");
        };
        match self.route(&rt, end_of_stream) {
            Ok(action) => action,
            Err(status) => self.internal_error(Some(&rt), &format!("host call failed: {status:?}")),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match &mut self.state {
            StreamState::Lambda(l) => l.on_request_body(body_size, end_of_stream),
            _ => Action::Continue,
        }
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        match &mut self.state {
            StreamState::Lambda(l) => l.on_request_trailers(),
            _ => Action::Continue,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // G1: the response phase runs once; `take` makes a second call a no-op.
        if let Some(rr) = self.response_rewrite.take() {
            if let Err(status) = apply_response_rewrite(&rr) {
                log::warn!("routewise: response-rewrite not applied: {status:?}");
            }
        }
        Action::Continue
    }
}

impl Stream {
    /// Reads the request, evaluates it and applies the decision.
    fn route(&mut self, rt: &Runtime, end_of_stream: bool) -> Result<Action, Status> {
        let engine = &rt.engine;
        // Bytes, not `get_map`: the SDK unwraps `String::from_utf8` on every value, and a client may send
        // obs-text (`caf\xe9`), which Envoy passes on; measured in Envoy 1.40, one such request trapped the VM.
        let mut headers: Vec<(String, String)> = hostcalls::get_map_bytes(MapType::HttpRequestHeaders)?
            .into_iter()
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        // Clients must not steer the filter: whatever the outcome, a client-sent cluster header is removed
        // (before evaluation, so that nothing can match on it either).
        let cluster_header = engine.cluster_header();
        if headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(cluster_header))
        {
            hostcalls::remove_map_value(MapType::HttpRequestHeaders, cluster_header)?;
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(cluster_header));
        }
        let remote = if engine.uses_remote_addr() {
            // A missing or unreadable address only makes address filters fail; it is not an error.
            match hostcalls::get_property(property::SOURCE_ADDRESS.to_vec()) {
                Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
                _ => None,
            }
        } else {
            None
        };
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let view = RequestView {
            method: find(header::METHOD).unwrap_or_default(),
            authority: find(header::AUTHORITY)
                .or_else(|| find(header::HOST))
                .unwrap_or_default(),
            path: find(header::PATH).unwrap_or("/"),
            headers: &headers,
            remote_addr: remote.as_deref(),
        };
        match engine.evaluate(&view) {
            Decision::Forward(f) => {
                let action = self.forward(rt, &f)?;
                if let Integration::Lambda(target) = f.integration {
                    let (lambda, action) = LambdaStream::start(target, &f, headers, end_of_stream);
                    self.state = StreamState::Lambda(lambda);
                    return Ok(action);
                }
                Ok(action)
            }
            Decision::LocalReply(r) => self.reply(rt, &r),
        }
    }

    fn forward(&mut self, rt: &Runtime, f: &Forward<'_>) -> Result<Action, Status> {
        // G2: plugin edits first (credential removed, proxy-rewrite headers and host), so that the cluster
        // header set below always wins over a plugin naming it.
        apply_edits(MapType::HttpRequestHeaders, &f.plugins.request_headers)?;
        self.response_rewrite = f.plugins.response().cloned();
        hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            rt.engine.cluster_header(),
            Some(f.cluster),
        )?;
        if let Some(path) = &f.path {
            hostcalls::set_map_value(MapType::HttpRequestHeaders, header::PATH, Some(path))?;
        }
        set(property::DOMAIN, f.domain)?;
        set(property::RULE_ID, f.rule_id.unwrap_or(property::NONE))?;
        set(property::MAPPING_ID, f.mapping_id.unwrap_or(property::NONE))?;
        set(property::API, f.api)?;
        set(property::STAGE, f.stage)?;
        set(property::ROUTE_ID, f.route_id)?;
        set(property::ROUTE_KEY, f.route_key)?;
        set(property::PATH_PARAMS, &f.path_params_json())?;
        set(property::CONSUMER, f.plugins.consumer.unwrap_or(property::NONE))?;
        set(property::PLUGINS, &f.plugins.merged.summary())?;
        set(property::OUTCOME, outcome::FORWARDED)?;
        // Make the router re-resolve the route with the new cluster header (Envoy >= 1.33; older Envoy
        // clears the cache on any header change and answers NotFound here, which is fine).
        let _ = hostcalls::call_foreign_function(CLEAR_ROUTE_CACHE, None);

        let m = &rt.metrics;
        m.count_outcome(outcome::FORWARDED);
        if let Some(slot) = f.counters.rule {
            Metrics::count(m.rules.get(slot as usize), || {
                metric::rule_hits(f.rule_id.unwrap_or_default())
            });
        }
        if let Some(slot) = f.counters.mapping {
            Metrics::count(m.mappings.get(slot as usize), || {
                metric::mapping_hits(f.mapping_id.unwrap_or_default())
            });
        }
        Metrics::count(m.routes.get(f.counters.route as usize), || {
            metric::route_hits(f.api, f.route_id)
        });

        // A Lambda integration's state is set by `route`, which also hands it the request.
        self.state = StreamState::Forwarded;
        Ok(Action::Continue)
    }

    fn reply(&mut self, rt: &Runtime, r: &LocalReply<'_>) -> Result<Action, Status> {
        if let Some(path) = &r.path {
            // What the access log records for this request (`%REQ(:PATH)%`): never a refused key.
            hostcalls::set_map_value(MapType::HttpRequestHeaders, header::PATH, Some(path))?;
        }
        set_context(&r.context)?;
        set(property::OUTCOME, r.reason)?;
        rt.metrics.count_outcome(r.reason);
        hostcalls::send_http_response(
            u32::from(r.status),
            vec![(header::CONTENT_TYPE, header::JSON)],
            Some(r.body.as_bytes()),
        )?;
        self.state = StreamState::Replied;
        Ok(Action::Pause)
    }

    /// A failure inside the filter: logged, counted, answered 500, never a trap.
    fn internal_error(&mut self, rt: Option<&Runtime>, what: &str) -> Action {
        log::error!("routewise: internal error: {what}; answering 500");
        if let Some(rt) = rt {
            rt.metrics.count_outcome(outcome::INTERNAL_ERROR);
        }
        let _ = set(property::OUTCOME, outcome::INTERNAL_ERROR);
        let reply = LocalReply::internal_error(Selected::default());
        if let Err(status) = hostcalls::send_http_response(
            u32::from(reply.status),
            vec![(header::CONTENT_TYPE, header::JSON)],
            Some(reply.body.as_bytes()),
        ) {
            log::error!("routewise: cannot send the 500 reply either: {status:?}");
        }
        self.state = StreamState::Replied;
        Action::Pause
    }
}

/// Applies header edits computed by the plugins (G2), in order.
fn apply_edits(map: MapType, edits: &[HeaderEdit]) -> Result<(), Status> {
    for e in edits {
        match e {
            HeaderEdit::Remove(n) => hostcalls::remove_map_value(map, n)?,
            HeaderEdit::Set(n, v) => hostcalls::set_map_value(map, n, Some(v))?,
            HeaderEdit::Add(n, v) => hostcalls::add_map_value(map, n, v)?,
        }
    }
    Ok(())
}

/// G2 `response-rewrite`: status, then header edits (no body buffering).
fn apply_response_rewrite(rr: &ResponseRewrite) -> Result<(), Status> {
    if let Some(code) = rr.status_code {
        hostcalls::set_map_value(MapType::HttpResponseHeaders, ":status", Some(&code.to_string()))?;
    }
    apply_edits(MapType::HttpResponseHeaders, &rr.header_edits())
}

/// Sets filter state `wasm.<key>` (single-segment path, proxy-wasm-host.md §3.1).
fn set(key: &str, value: &str) -> Result<(), Status> {
    hostcalls::set_property(vec![key], Some(value.as_bytes()))
}

/// Filter state for what was selected before a local reply; ids default to `-` (R11).
fn set_context(c: &Selected<'_>) -> Result<(), Status> {
    if let Some(d) = c.domain {
        set(property::DOMAIN, d)?;
    }
    set(property::RULE_ID, c.rule_id.unwrap_or(property::NONE))?;
    set(property::MAPPING_ID, c.mapping_id.unwrap_or(property::NONE))?;
    if let Some(a) = c.api {
        set(property::API, a)?;
    }
    if let Some(s) = c.stage {
        set(property::STAGE, s)?;
    }
    if let Some(r) = c.route_id {
        set(property::ROUTE_ID, r)?;
    }
    if let Some(k) = c.route_key {
        set(property::ROUTE_KEY, k)?;
    }
    Ok(())
}

/// Counter ids, defined on first use and cached per slot so that a hit formats no name after the first.
/// Envoy shares the stat across worker VMs; each VM defines it once and gets its own id.
struct Metrics {
    requests: [Cell<Option<u32>>; outcome::ALL.len()],
    rules: Box<[Cell<Option<u32>>]>,
    mappings: Box<[Cell<Option<u32>>]>,
    routes: Box<[Cell<Option<u32>>]>,
}

impl Metrics {
    fn new(engine: &Engine) -> Self {
        let slots = |n: usize| (0..n).map(|_| Cell::new(None)).collect();
        Metrics {
            requests: Default::default(),
            rules: slots(engine.rule_count()),
            mappings: slots(engine.mapping_count()),
            routes: slots(engine.route_count()),
        }
    }

    fn count_outcome(&self, name: &str) {
        let slot = outcome::ALL
            .iter()
            .position(|o| *o == name)
            .and_then(|i| self.requests.get(i));
        Metrics::count(slot, || metric::requests(name));
    }

    fn count(slot: Option<&Cell<Option<u32>>>, name: impl FnOnce() -> String) {
        let Some(slot) = slot else { return };
        let id = match slot.get() {
            Some(id) => id,
            None => {
                let name = name();
                match hostcalls::define_metric(MetricType::Counter, &name) {
                    Ok(id) => {
                        slot.set(Some(id));
                        id
                    }
                    Err(status) => {
                        log::warn!("routewise: cannot define metric {name}: {status:?}");
                        return;
                    }
                }
            }
        };
        if let Err(status) = hostcalls::increment_metric(id, 1) {
            log::warn!("routewise: cannot increment metric {id}: {status:?}");
        }
    }
}
