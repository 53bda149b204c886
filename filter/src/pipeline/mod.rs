//! The per-request pipeline, written once for both builds against [`Host`]: what the filter does with a
//! request, in which order, and what any failure becomes. The proxy-wasm adapter (`filter/proxy-wasm`) and
//! the dynamic-module adapter (`filter/dynamic-module`) only move data between their ABI and this module;
//! `routewise explain` runs it against [`RecordingHost`] to show the upstream request.
//!
//! ```
//! use routewise::pipeline::{FilterConfig, Next, Op, RecordingHost, Stream};
//!
//! let config = FilterConfig::from_bytes(br#"{
//!   "domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "pets", "stage": "prod"}]}],
//!   "apis": [{"id": "pets", "stages": {"prod": {"integration": {"type": "http", "cluster": "pets_v1"}}},
//!             "routes": [{"key": "GET /pets/{id}"}]}]
//! }"#).expect("valid config");
//! let mut host = RecordingHost::new(&[(":method", "GET"), (":authority", "a.example"), (":path", "/pets/7"),
//!                                     ("x-routewise-cluster", "spoofed")]);
//! let mut stream = Stream::default();
//! assert_eq!(stream.on_request_headers(Some(&config), &mut host, true), Next::Continue);
//! assert_eq!(host.request_header("x-routewise-cluster"), Some("pets_v1"));
//! assert!(host.ops().contains(&Op::ClearRouteCache));
//! ```
//!
//! # Order of operations (request headers)
//!
//! 1. Read the request headers; remove any client copy of the cluster header (before evaluation, so that
//!    nothing can match on it either: clients never steer the filter).
//! 2. Read the client address only when some route filters on it (P1 `remote_addrs`, `vars remote_addr`).
//! 3. [`Engine::evaluate`]: forward, or a local reply.
//! 4. Forward: the plugins' request header edits (G2), then the cluster header (so that it always wins
//!    over a plugin naming it), then `:path` (R7, R9, a plugin's rewrite), then filter state (R11), then
//!    the route cache is cleared, then the counters. A Lambda integration then starts its exchange
//!    ([`lambda`]): the request is buffered and answered by the filter, never sent to the router.
//! 5. Local reply: `:path` without a refused key (G2), filter state, the counter, the reply.
//!
//! Any host call that fails on the way becomes a logged, counted `500 {"message":"Internal Server
//! Error"}` for this stream ([`Stream`]'s internal error) and the next request is served as usual.
//!
//! # Response
//!
//! The merged `response-rewrite` (G1, G2) applies once: to the upstream's response headers of a forwarded
//! request, or, for a Lambda integration, to the filter's own answer before it is sent (a dynamic module's
//! local reply does not pass through the module's own encode hooks, so the rewrite cannot wait for them).

pub mod counters;
pub mod host;
mod jwt;
pub mod lambda;
pub mod lambda_stream;
pub mod ratelog;
pub mod record;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use crate::budget::Budget;

pub use counters::{CounterId, Counters};
pub use host::{Call, CallEnd, Host, HostError, Map, Next, Reply};
pub use lambda_stream::StreamEvent;
pub use record::{Op, RecordingHost};

use crate::decision::{Decision, Forward, Integration, LocalReply, Selected};
use crate::engine::Engine;
use crate::error::ConfigErrors;
use crate::names::property::StateKeys;
use crate::names::{header, outcome, property};
use crate::plugins::{HeaderEdit, ResponseRewrite};
use crate::request::RequestView;
use lambda::LambdaExchange;

/// A configuration as both builds hold it: the engine and its counters. Immutable, shared by every stream
/// (and, in the dynamic module, by every worker thread).
#[derive(Debug)]
pub struct FilterConfig {
    /// The compiled configuration.
    pub engine: Engine,
    /// Its counters.
    pub counters: Counters,
}

// A dynamic module shares one configuration across Envoy's worker threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<FilterConfig>();
    send_sync::<Engine>();
    send_sync::<Arc<FilterConfig>>();
};

/// A configuration being built a slice at a time: the proxy-wasm build's answer to a configuration pushed
/// to a running VM (issue 13). `proxy_on_configure` runs in every worker's VM on the worker thread, and a
/// build of 100,000 rules in one piece held a worker for 2.6 s; started here and resumed from `on_tick`,
/// the build runs [`Configuring::step`] by step while the VM keeps routing with its previous configuration.
/// It is the very build of [`FilterConfig::from_vec_for`] (which runs it in one step), so both accept and
/// reject the same documents with the same errors.
///
/// ```
/// use routewise::pipeline::{Build, Configuring};
///
/// let doc = r#"{"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
///               "apis": [{"id": "a", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}}}]}"#;
/// let mut building = Configuring::start(doc.as_bytes().to_vec(), Build::ProxyWasm);
/// let mut steps = 1;
/// let config = loop {
///     match building.step(4) {
///         Some(done) => break done.expect("valid"),
///         None => steps += 1,
///     }
/// };
/// assert!(steps > 1);
/// assert_eq!(config.engine.mapping_count(), 1);
/// ```
pub struct Configuring {
    work: Sliced<Result<FilterConfig, Rejected>>,
}

impl Configuring {
    /// Starts building the configuration in `bytes` for `build`; nothing is done before the first
    /// [`Configuring::step`].
    pub fn start(bytes: Vec<u8>, build: Build) -> Configuring {
        Configuring {
            work: Sliced::new(|budget| async move { FilterConfig::from_vec_in(bytes, build, &budget).await }),
        }
    }

    /// Builds for about `units` units of work (one unit ≈ 1 µs of native work: an item parsed or compiled,
    /// 2 KiB of the document scanned; a step may overrun by one piece of work); the result once the build
    /// is over. A step after the result was given returns nothing more.
    pub fn step(&mut self, units: u64) -> Option<Result<FilterConfig, Rejected>> {
        self.work.step(units)
    }
}

/// A configuration being freed a slice at a time: freeing a 100,000-rule configuration in one piece held a
/// Wasm VM for ≈ 30 ms, so the proxy-wasm build retires the configuration a push replaced in steps, as it
/// builds the new one ([`Configuring`]).
///
/// ```
/// use routewise::pipeline::{Build, FilterConfig, Retiring};
///
/// let doc = r#"{"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "prod"}]}],
///               "apis": [{"id": "a", "stages": {"prod": {"integration": {"type": "http", "cluster": "c"}}}}]}"#;
/// let config = FilterConfig::from_bytes_for(doc.as_bytes(), Build::ProxyWasm).expect("valid");
/// let mut retiring = Retiring::start(config);
/// while !retiring.step(1) {}
/// ```
pub struct Retiring {
    work: Sliced<()>,
}

impl Retiring {
    /// Starts freeing `config`; nothing is done before the first [`Retiring::step`].
    pub fn start(config: FilterConfig) -> Retiring {
        Retiring {
            work: Sliced::new(|budget| async move {
                let FilterConfig { engine, counters } = config;
                engine.drop_in(&budget).await;
                counters.drop_in(&budget).await;
            }),
        }
    }

    /// Frees for about `units` units of work; true once everything is freed.
    pub fn step(&mut self, units: u64) -> bool {
        self.work.is_done() || self.work.step(units).is_some()
    }
}

/// Work run a slice at a time ([`crate::budget`]): a future with its own budget.
struct Sliced<T> {
    budget: Rc<Budget>,
    /// `None` once the result was given (a finished future must not be polled again).
    work: Option<Pin<Box<dyn Future<Output = T>>>>,
}

impl<T> Sliced<T> {
    fn new<F: Future<Output = T> + 'static>(work: impl FnOnce(Rc<Budget>) -> F) -> Sliced<T> {
        let budget = Rc::new(Budget::sliced());
        let work = work(Rc::clone(&budget));
        Sliced {
            budget,
            work: Some(Box::pin(work)),
        }
    }

    fn step(&mut self, units: u64) -> Option<T> {
        let done = crate::budget::drive(self.work.as_mut()?.as_mut(), &self.budget, units)?;
        self.work = None;
        Some(done)
    }

    fn is_done(&self) -> bool {
        self.work.is_none()
    }
}

/// Which build runs the pipeline, for what its ABI cannot do ([`FilterConfig::from_bytes_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `routewise.wasm`, the proxy-wasm adapter.
    ProxyWasm,
    /// The Envoy dynamic module (`.so`).
    DynamicModule,
}

impl Build {
    /// The build's name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Build::ProxyWasm => "proxy-wasm build",
            Build::DynamicModule => "dynamic-module build",
        }
    }

    /// Why the build cannot stream a Lambda response (`response_transfer_mode: "STREAM"`), or `None`.
    pub fn cannot_stream(self) -> Option<&'static str> {
        match self {
            // proxy-wasm-host.md §1: a callout's response comes whole in one proxy_on_http_call_response,
            // a local reply is one proxy_send_local_response; and the event cannot become the request's
            // body for Envoy's router to stream the answer through (proxy-wasm/spec#86).
            Build::ProxyWasm => Some(
                "proxy-wasm delivers an http call's response only once it is complete \
                 (proxy_on_http_call_response) and sends a local reply in one piece \
                 (proxy_send_local_response); use the dynamic module, or \"BUFFERED\"",
            ),
            // The ABI streams a callout (start_http_stream, on_http_filter_http_stream_*) and writes a
            // response in pieces (send_response_headers / send_response_data): pipeline::lambda_stream.
            Build::DynamicModule => None,
        }
    }
}

/// Why a configuration was not taken, as the log lines say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The filter got no configuration.
    Empty,
    /// The configuration is not UTF-8 text.
    NotUtf8,
    /// The engine's errors, every one with its field path.
    Invalid(ConfigErrors),
}

/// The most errors listed in the log for one rejected configuration (the rest are counted): a push of a
/// config with 100,000 bad rules must not write 100,000 lines into Envoy's log.
pub const MAX_LOGGED_ERRORS: usize = 100;

impl Rejected {
    /// The lines the adapters log at error level, the first one a summary.
    pub fn log_lines(&self) -> Vec<String> {
        match self {
            Rejected::Empty => vec![
                "routewise: configuration rejected: the configuration is empty; set the filter's \
                 configuration to the routewise JSON document"
                    .to_string(),
            ],
            Rejected::NotUtf8 => vec!["routewise: configuration rejected: it is not UTF-8 text".to_string()],
            Rejected::Invalid(errors) => {
                let n = errors.0.len();
                let noun = if n == 1 { "error" } else { "errors" };
                let mut lines = vec![format!("routewise: configuration rejected ({n} {noun}):")];
                lines.extend(errors.iter().take(MAX_LOGGED_ERRORS).map(|e| e.to_string()));
                if n > MAX_LOGGED_ERRORS {
                    lines.push(format!(
                        "... and {} more errors (run `routewise validate` to list them all)",
                        n - MAX_LOGGED_ERRORS
                    ));
                }
                lines
            }
        }
    }
}

impl FilterConfig {
    /// Parses, validates and compiles the filter's configuration (the bytes Envoy hands the filter).
    pub fn from_bytes(bytes: &[u8]) -> Result<FilterConfig, Rejected> {
        if bytes.is_empty() {
            return Err(Rejected::Empty);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Rejected::NotUtf8)?;
        Engine::from_json(text)
            .map(FilterConfig::new)
            .map_err(Rejected::Invalid)
    }

    /// [`FilterConfig::from_bytes`], then refuses what `build` cannot do: a Lambda integration with
    /// `response_transfer_mode: "STREAM"` on a build that cannot stream, one error per integration with
    /// its field path and the reason ([`Build::cannot_stream`]).
    pub fn from_bytes_for(bytes: &[u8], build: Build) -> Result<FilterConfig, Rejected> {
        FilterConfig::from_bytes(bytes)?.refuse_for(build)
    }

    /// [`FilterConfig::from_bytes_for`] of bytes the caller gives away (the proxy-wasm build's copy of the
    /// plugin configuration): they are freed once parsed, before the engine is built
    /// ([`Engine::from_json_owned`]).
    pub fn from_vec_for(bytes: Vec<u8>, build: Build) -> Result<FilterConfig, Rejected> {
        let budget = Budget::unlimited();
        crate::budget::block_on(FilterConfig::from_vec_in(bytes, build, &budget), &budget)
    }

    /// [`FilterConfig::from_vec_for`] in slices of `budget` ([`Configuring`]).
    async fn from_vec_in(bytes: Vec<u8>, build: Build, budget: &Budget) -> Result<FilterConfig, Rejected> {
        if bytes.is_empty() {
            return Err(Rejected::Empty);
        }
        let text = String::from_utf8(bytes).map_err(|_| Rejected::NotUtf8)?;
        let engine = Engine::from_json_in(text, budget)
            .await
            .map_err(Rejected::Invalid)?;
        let counters = Counters::new_in(&engine, budget).await;
        FilterConfig { engine, counters }.refuse_for(build)
    }

    /// `self`, or what `build` cannot do in it (see [`FilterConfig::from_bytes_for`]).
    fn refuse_for(self, build: Build) -> Result<FilterConfig, Rejected> {
        let config = self;
        let Some(reason) = build.cannot_stream() else {
            return Ok(config);
        };
        let errors: Vec<_> = config
            .engine
            .stream_integrations()
            .iter()
            .map(|path| {
                crate::error::ConfigError::new(
                    format!("{path}.response_transfer_mode"),
                    crate::error::ErrorKind::NotAllowed {
                        reason: format!("\"STREAM\" is not supported by the {}: {reason}", build.as_str()),
                    },
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(Rejected::Invalid(ConfigErrors(errors)))
        }
    }

    /// The configuration of an engine already built.
    pub fn new(engine: Engine) -> FilterConfig {
        let counters = Counters::new(&engine);
        FilterConfig { engine, counters }
    }

    /// The line the adapters log at info level once a configuration is taken.
    pub fn configured_line(&self) -> String {
        format!("routewise: configured: {}", self.engine.summary())
    }
}

/// Where a stream is.
#[derive(Debug, Default)]
enum State {
    /// Request headers not seen yet.
    #[default]
    Start,
    /// Sent to an HTTP cluster.
    Forwarded,
    /// Answered by the filter.
    Replied,
    /// A Lambda integration: buffering, invoking, or answered.
    Lambda(Box<LambdaExchange>),
}

/// One HTTP stream through the filter. The adapter creates one per stream and calls the `on_*` methods
/// from the matching ABI callbacks.
#[derive(Debug, Default)]
pub struct Stream {
    state: State,
    /// The merged `response-rewrite` (G1, G2), taken when applied so that it applies once.
    response_rewrite: Option<ResponseRewrite>,
}

impl Stream {
    /// Request headers: route the request (module docs, steps 1-5). `config` is `None` when the filter has
    /// no valid configuration: every request gets the 500.
    pub fn on_request_headers(
        &mut self,
        config: Option<&FilterConfig>,
        host: &mut impl Host,
        end_of_stream: bool,
    ) -> Next {
        let Some(config) = config else {
            return self.internal_error(None, host, "no configuration");
        };
        match self.route(config, host, end_of_stream) {
            Ok(next) => next,
            Err(e) => self.internal_error(Some(config), host, &e.to_string()),
        }
    }

    /// Request body: `buffered` is the size of the whole body buffered so far (this chunk included).
    pub fn on_request_body(
        &mut self,
        config: Option<&FilterConfig>,
        host: &mut impl Host,
        buffered: u64,
        end_of_stream: bool,
    ) -> Next {
        match (&mut self.state, config) {
            (State::Lambda(l), Some(config)) => l.on_request_body(config, host, buffered, end_of_stream),
            (State::Replied, _) => Next::Stop,
            _ => Next::Continue,
        }
    }

    /// Request trailers: the body has ended.
    pub fn on_request_trailers(&mut self, config: Option<&FilterConfig>, host: &mut impl Host) -> Next {
        match (&mut self.state, config) {
            (State::Lambda(l), Some(config)) => l.on_request_trailers(config, host),
            (State::Replied, _) => Next::Stop,
            _ => Next::Continue,
        }
    }

    /// The answer to a call the stream made (`token` as [`Host::call_cluster`] returned it).
    pub fn on_call_response(
        &mut self,
        config: Option<&FilterConfig>,
        host: &mut impl Host,
        token: u64,
        end: CallEnd<'_>,
    ) {
        match (&mut self.state, config) {
            (State::Lambda(l), Some(config)) => l.on_call_response(config, host, token, end),
            _ => log::debug!("routewise: answer to call {token} for a stream that made none; ignored"),
        }
    }

    /// An event of a streamed call the stream made ([`Host::start_stream`]), or
    /// [`StreamEvent::ClientDone`] when the client's stream is over (the adapter's stream-complete
    /// callback): a streamed call still open is then reset.
    pub fn on_stream_event(
        &mut self,
        config: Option<&FilterConfig>,
        host: &mut impl Host,
        event: StreamEvent<'_>,
    ) {
        match (&mut self.state, config) {
            (State::Lambda(l), Some(config)) => l.on_stream_event(config, host, event),
            _ if matches!(event, StreamEvent::ClientDone) => {}
            _ => log::debug!("routewise: streamed-call event for a stream that made none; ignored"),
        }
    }

    /// The filter failed inside (the adapter caught a panic): a streamed call still open is reset. True
    /// when the client already has the head of a streamed answer, so its stream must be reset (a 500 can
    /// no longer be sent).
    pub fn abandon(&mut self, host: &mut impl Host) -> bool {
        match &mut self.state {
            State::Lambda(l) => l.abandon(host),
            _ => false,
        }
    }

    /// Response headers: the merged `response-rewrite`, once (G1); for a Lambda answer sent as a local
    /// reply without a body, its `content-type` back (U12, [`lambda`]).
    pub fn on_response_headers(&mut self, host: &mut impl Host) -> Next {
        if let State::Lambda(l) = &mut self.state {
            if let Err(e) = l.on_response_headers(host) {
                log::warn!("routewise: lambda: content-type not restored: {e}");
            }
        }
        if let Some(rr) = self.response_rewrite.take() {
            if let Err(e) = apply_response_rewrite(host, &rr) {
                log::warn!("routewise: response-rewrite not applied: {e}");
            }
        }
        Next::Continue
    }

    /// True once the filter has answered the stream itself.
    pub fn replied(&self) -> bool {
        match &self.state {
            State::Replied => true,
            State::Lambda(l) => l.is_done(),
            _ => false,
        }
    }

    fn route(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        end_of_stream: bool,
    ) -> Result<Next, HostError> {
        let engine = &config.engine;
        let mut headers = host.request_headers()?;
        // Clients must not steer the filter: a client-sent cluster header is removed whatever the outcome,
        // before evaluation so that nothing can match on it.
        let cluster_header = engine.cluster_header();
        if headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(cluster_header))
        {
            host.remove_header(Map::Request, cluster_header)?;
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(cluster_header));
        }
        let remote = if engine.uses_remote_addr() {
            // A missing address only makes address filters fail; it is not an error.
            host.source_address()
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
                if matches!(f.integration, Integration::Lambda(_)) && view.method == "CONNECT" {
                    // A tunnel cannot be a Lambda invocation: held open over HTTP/1 it would hang, over
                    // HTTP/2 it would invoke the function with a stream (issue 14). API Gateway has no CONNECT.
                    let reply = LocalReply {
                        status: 405,
                        body: crate::names::body::METHOD_NOT_ALLOWED,
                        reason: outcome::METHOD_NOT_ALLOWED,
                        context: Selected {
                            domain: Some(f.domain),
                            rule_id: f.rule_id,
                            mapping_id: f.mapping_id,
                            api: Some(f.api),
                            stage: Some(f.stage),
                            route_id: Some(f.route_id),
                            route_key: Some(f.route_key),
                        },
                        path: None,
                    };
                    return self.reply(config, host, &reply);
                }
                self.forward(config, host, &f)?;
                if let Integration::Lambda(target) = f.integration {
                    let mut headers = headers;
                    // `jwt`: the claims of a token jwt_authn verified; the payload header goes either way.
                    let claims = match &target.jwt {
                        Some(source) => jwt::take_claims(host, source, &mut headers)?,
                        None => None,
                    };
                    let response_rewrite = self.response_rewrite.take();
                    let (exchange, next) = LambdaExchange::start(
                        config,
                        host,
                        target,
                        &f,
                        headers,
                        claims,
                        response_rewrite,
                        end_of_stream,
                    );
                    self.state = State::Lambda(Box::new(exchange));
                    return Ok(next);
                }
                Ok(Next::Continue)
            }
            Decision::LocalReply(r) => self.reply(config, host, &r),
        }
    }

    fn forward(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        f: &Forward<'_>,
    ) -> Result<(), HostError> {
        // G2: plugin edits first (credential removed, proxy-rewrite headers and host), so that the cluster
        // header set below always wins over a plugin naming it.
        apply_edits(host, Map::Request, &f.plugins.request_headers)?;
        self.response_rewrite = f.plugins.response().cloned();
        host.set_header(Map::Request, config.engine.cluster_header(), f.cluster)?;
        if let Some(path) = &f.path {
            host.set_header(Map::Request, header::PATH, path)?;
        }
        // Only the keys the config's `filter_state` names (all by default). `None`: a value made only when
        // its key is written.
        let keys = config.engine.state_keys();
        let state: [(&str, Option<&str>); 11] = [
            (property::DOMAIN, Some(f.domain)),
            (property::RULE_ID, Some(f.rule_id.unwrap_or(property::NONE))),
            (property::MAPPING_ID, Some(f.mapping_id.unwrap_or(property::NONE))),
            (property::API, Some(f.api)),
            (property::STAGE, Some(f.stage)),
            (property::ROUTE_ID, Some(f.route_id)),
            (property::ROUTE_KEY, Some(f.route_key)),
            (property::PATH_PARAMS, None),
            (
                property::CONSUMER,
                Some(f.plugins.consumer.unwrap_or(property::NONE)),
            ),
            (property::PLUGINS, None),
            (property::OUTCOME, Some(outcome::FORWARDED)),
        ];
        for (key, value) in state {
            if !keys.allows(key) {
                continue;
            }
            match value {
                Some(v) => host.set_filter_state(key, v)?,
                None if key == property::PATH_PARAMS => host.set_filter_state(key, &f.path_params_json())?,
                None => host.set_filter_state(key, &f.plugins.merged.summary())?,
            }
        }
        // The router resolves the route again, with the new cluster header.
        host.clear_route_cache();
        let c = &config.counters;
        host.count(c.outcome(outcome::FORWARDED));
        if let Some(slot) = f.counters.rule {
            host.count(c.rule(slot));
        }
        if let Some(slot) = f.counters.mapping {
            host.count(c.mapping(slot));
        }
        host.count(c.route(f.counters.route));
        self.state = State::Forwarded;
        Ok(())
    }

    fn reply(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        r: &LocalReply<'_>,
    ) -> Result<Next, HostError> {
        if let Some(path) = &r.path {
            // What the access log records for this request (`%REQ(:PATH)%`): never a refused key (G2).
            host.set_header(Map::Request, header::PATH, path)?;
        }
        let keys = config.engine.state_keys();
        set_context(host, keys, &r.context)?;
        if keys.allows(property::OUTCOME) {
            host.set_filter_state(property::OUTCOME, r.reason)?;
        }
        host.count(config.counters.outcome(r.reason));
        host.send_local_reply(&Reply {
            status: r.status,
            headers: &[(header::CONTENT_TYPE, header::JSON)],
            body: r.body.as_bytes(),
            details: reply_details(r.reason),
        })?;
        self.state = State::Replied;
        Ok(Next::Stop)
    }

    /// A failure inside the filter: logged, counted, answered 500; never a trap.
    fn internal_error(&mut self, config: Option<&FilterConfig>, host: &mut impl Host, what: &str) -> Next {
        ratelog::log(
            ratelog::INTERNAL_ERROR,
            log::Level::Error,
            host.now_epoch_ms(),
            || format!("routewise: internal error: {what}; answering 500"),
        );
        if let Some(config) = config {
            host.count(config.counters.outcome(outcome::INTERNAL_ERROR));
        }
        if config.is_none_or(|c| c.engine.state_keys().allows(property::OUTCOME)) {
            let _ = host.set_filter_state(property::OUTCOME, outcome::INTERNAL_ERROR);
        }
        let reply = LocalReply::internal_error(Selected::default());
        if let Err(e) = host.send_local_reply(&Reply {
            status: reply.status,
            headers: &[(header::CONTENT_TYPE, header::JSON)],
            body: reply.body.as_bytes(),
            details: reply_details(outcome::INTERNAL_ERROR),
        }) {
            log::error!("routewise: cannot send the 500 reply either: {e}");
        }
        self.response_rewrite = None;
        self.state = State::Replied;
        Next::Stop
    }
}

/// `%RESPONSE_CODE_DETAILS%` of the filter's local replies: `routewise_<outcome>`.
pub fn reply_details(outcome: &str) -> &'static str {
    match outcome {
        outcome::NO_DOMAIN => "routewise_no_domain",
        outcome::NO_API => "routewise_no_api",
        outcome::NO_ROUTE => "routewise_no_route",
        outcome::UNAUTHORIZED => "routewise_unauthorized",
        outcome::METHOD_NOT_ALLOWED => "routewise_method_not_allowed",
        _ => "routewise_internal_error",
    }
}

/// Applies header edits computed by the plugins (G2), in order.
fn apply_edits(host: &mut impl Host, map: Map, edits: &[HeaderEdit]) -> Result<(), HostError> {
    for e in edits {
        match e {
            HeaderEdit::Remove(n) => host.remove_header(map, n)?,
            HeaderEdit::Set(n, v) => host.set_header(map, n, v)?,
            HeaderEdit::Add(n, v) => host.add_header(map, n, v)?,
        }
    }
    Ok(())
}

/// G2 `response-rewrite` on an upstream's response: status, then header edits (no body buffering).
fn apply_response_rewrite(host: &mut impl Host, rr: &ResponseRewrite) -> Result<(), HostError> {
    if let Some(code) = rr.status_code {
        host.set_header(Map::Response, ":status", &code.to_string())?;
    }
    apply_edits(host, Map::Response, &rr.header_edits())
}

/// Filter state for what was selected before a local reply; ids default to `-` (R11).
fn set_context(host: &mut impl Host, keys: StateKeys, c: &Selected<'_>) -> Result<(), HostError> {
    let state = [
        (property::DOMAIN, c.domain),
        (property::RULE_ID, Some(c.rule_id.unwrap_or(property::NONE))),
        (property::MAPPING_ID, Some(c.mapping_id.unwrap_or(property::NONE))),
        (property::API, c.api),
        (property::STAGE, c.stage),
        (property::ROUTE_ID, c.route_id),
        (property::ROUTE_KEY, c.route_key),
    ];
    for (key, value) in state {
        if let Some(v) = value.filter(|_| keys.allows(key)) {
            host.set_filter_state(key, v)?;
        }
    }
    Ok(())
}
