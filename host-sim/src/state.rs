//! `HostState`: everything the host functions read and write, one sub-struct per ABI area.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use wasmtime::{Memory, StoreLimits, TypedFunc};

use crate::http::{Headers, Response};

/// Proxy-wasm log levels (`proxy_log`'s first argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// 0
    Trace,
    /// 1
    Debug,
    /// 2
    Info,
    /// 3
    Warn,
    /// 4
    Error,
    /// 5: the Rust SDK's panic hook logs the panic message at this level.
    Critical,
}

impl LogLevel {
    pub(crate) fn from_i32(v: i32) -> Option<LogLevel> {
        Some(match v {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }

    /// Lower-case name, as in the CLI result (`"info"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }
}

/// One line the guest logged (`proxy_log`, or WASI `fd_write` to stdout/stderr at info/error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Level.
    pub level: LogLevel,
    /// Text.
    pub message: String,
    /// The effective context when it was logged (the first root context is 1).
    pub context_id: u32,
}

#[derive(Default)]
pub(crate) struct LogState {
    pub entries: Vec<LogEntry>,
    /// Only entries at or above this level are kept; also what `proxy_get_log_level` returns.
    pub level: Option<LogLevel>,
}

impl LogState {
    pub fn push(&mut self, level: LogLevel, message: String, context_id: u32) {
        if level >= self.level.unwrap_or(LogLevel::Trace) {
            self.entries.push(LogEntry {
                level,
                message,
                context_id,
            });
        }
    }
}

pub(crate) struct ClockState {
    /// Wall clock, ns since the Unix epoch (moves only when a test advances time).
    pub now_ns: u64,
    /// Monotonic clock, ns.
    pub mono_ns: u64,
}

/// Which stream a header map, body or action belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dir {
    Request,
    Response,
}

/// Filter-manager iteration state of this filter in one direction (Envoy `IterationState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Iteration {
    Continue,
    /// `StopIteration`: headers held, body callbacks still run.
    StopSingle,
    /// `StopAllIterationAnd{Buffer,Watermark}`: no callbacks until `continue_stream`; `buffer` = the
    /// buffer limit applies (Watermark only applies flow control).
    StopAll {
        limited: bool,
    },
}

/// One direction (request or response) of an HTTP stream as this filter sees it.
pub(crate) struct Half {
    /// The live header map (Envoy's `request_headers_`/`response_headers_` target).
    pub headers: Headers,
    /// Whether the wasm context still holds the header pointer (set in the headers callback, cleared when
    /// it returns Continue or on `continue_stream`): mutations need it.
    pub headers_avail: bool,
    pub trailers: Option<Headers>,
    pub trailers_avail: bool,
    /// The filter manager's buffered data for this filter, which is also what the body callback sees.
    pub body: Vec<u8>,
    pub body_avail: bool,
    /// The last body callback returned StopIterationAndBuffer (Envoy `buffering_request_body_`).
    pub buffering: bool,
    pub end_of_stream: bool,
    // Filter-manager state.
    pub started: bool,
    pub iteration: Iteration,
    pub headers_continued: bool,
    pub iterate_from_current: bool,
    /// All input (up to end of stream) reached the filter manager.
    pub observed_end: bool,
    /// Trailers arrived and have not been passed on.
    pub trailers_held: bool,
    pub trailers_seen: bool,
    /// What left this filter towards the router (request) or the client (response).
    pub out_headers: Option<Headers>,
    pub out_body: Vec<u8>,
    pub out_trailers: Option<Headers>,
    pub out_complete: bool,
    /// A local reply or reset ended this direction: no more callbacks.
    pub aborted: bool,
}

impl Half {
    pub fn new() -> Half {
        Half {
            headers: Headers::new(),
            headers_avail: false,
            trailers: None,
            trailers_avail: false,
            body: Vec::new(),
            body_avail: false,
            buffering: false,
            end_of_stream: false,
            started: false,
            iteration: Iteration::Continue,
            headers_continued: false,
            iterate_from_current: false,
            observed_end: false,
            trailers_held: false,
            trailers_seen: false,
            out_headers: None,
            out_body: Vec::new(),
            out_trailers: None,
            out_complete: false,
            aborted: false,
        }
    }
}

/// Per-stream state (Envoy: the wasm `Context` of an HTTP stream plus its `StreamInfo`).
pub(crate) struct StreamData {
    /// The root context the stream was created under (its `proxy_on_context_create` parent).
    pub root: u32,
    pub request: Half,
    pub response: Half,
    /// `set_property` values, keyed by the raw path (Envoy filter state `wasm.<path>`).
    pub filter_state: BTreeMap<Vec<u8>, Vec<u8>>,
    pub route_cache_clears: u32,
    pub response_code: Option<u32>,
    pub response_code_details: Option<String>,
    pub source_port: u16,
    pub start_time_ns: u64,
    pub access_log_phase: bool,
    pub local_reply: bool,
    pub reset: bool,
    /// The response is finished (or the stream reset): log/done/delete are next.
    pub finished: bool,
    pub upstream_called: bool,
    /// The HTTP callouts this stream made (also in the plugin-wide history), for its [`crate::Exchange`]:
    /// kept here so that finishing a stream does not scan every call of the plugin's life.
    pub http_calls: Vec<HttpCall>,
    /// Dynamic metadata (namespace → key → value) as the request brought it ([`crate::Request`]).
    pub dynamic_metadata: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// The module's callbacks entered for this stream, in order ([`crate::Exchange::callbacks`]).
    pub entered: Vec<&'static str>,
}

impl StreamData {
    pub fn half(&mut self, dir: Dir) -> &mut Half {
        match dir {
            Dir::Request => &mut self.request,
            Dir::Response => &mut self.response,
        }
    }
}

/// An action Envoy defers until the current VM call returns (`addAfterVmCallAction`).
#[derive(Debug)]
pub(crate) enum Deferred {
    Continue {
        ctx: u32,
        dir: Dir,
    },
    Close {
        ctx: u32,
    },
    LocalReply {
        ctx: u32,
        status: u32,
        body: Vec<u8>,
        headers: Headers,
        details: String,
        grpc_status: i32,
    },
    /// `proxy_done` from a root context whose `on_done` returned false: `proxy_on_delete` after the call
    /// (cpp-host `WasmBase::done` defers it so that it does not run inside the caller).
    DeleteRoot {
        root: u32,
    },
}

/// An HTTP callout the guest made with `proxy_http_call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    /// The token `proxy_http_call` returned.
    pub token: u32,
    /// The context that dispatched it (the effective context of `proxy_http_call`). Envoy makes the call on
    /// its root context, which receives the answer.
    pub context_id: u32,
    /// Upstream cluster name.
    pub cluster: String,
    /// Request headers (with pseudo-headers; Envoy adds `content-length` when there is a body).
    pub headers: Headers,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: Headers,
    /// Timeout in ms (0 = none).
    pub timeout_ms: u32,
}

/// How a test answers an HTTP callout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpCallReply {
    /// The cluster answered (`on_http_call_response` with its headers, body and trailers).
    Response(Response),
    /// The call failed (connection reset): `on_http_call_response` with 0 headers, and `proxy_get_status`
    /// gives BrokenConnection (11) and "reset", as in Envoy's `onHttpCallFailure`.
    Fail,
    /// Leave it pending; answer later with `Sim::answer_http_call` (or let `Sim::advance` time it out).
    Pending,
}

pub(crate) type HttpCallHandler = Box<dyn FnMut(&HttpCall) -> HttpCallReply + Send>;

/// An HTTP callout not answered yet.
pub(crate) struct PendingCall {
    pub call: HttpCall,
    /// Monotonic deadline (`u64::MAX` = no timeout).
    pub deadline_ns: u64,
    /// The root context that owns the call and receives its answer: the root of the context that made it
    /// (cpp-host `http_call` runs on `contextOrEffectiveContext()->root_context()`).
    pub root: u32,
}

#[derive(Default)]
pub(crate) struct CallState {
    pub next_token: u32,
    pub pending: Vec<PendingCall>,
    pub history: Vec<HttpCall>,
    /// The response being delivered to `on_http_call_response` (headers, body, trailers).
    pub current_response: Option<(Headers, Vec<u8>, Headers)>,
    pub status: (u32, String),
    /// Known clusters; `None` = every name is a cluster.
    pub clusters: Option<Vec<String>>,
    pub grpc_next_token: u32,
    pub grpc_calls: Vec<u32>,
    pub grpc_streams: Vec<u32>,
}

/// Shared key-value data and queues: in Envoy process-wide, keyed by VM id. Clone a [`Shared`] into
/// several simulated VMs to share it between them.
#[derive(Clone, Default)]
pub struct Shared(pub(crate) Arc<Mutex<SharedStore>>);

#[derive(Default)]
pub(crate) struct SharedStore {
    /// (vm_id, key) -> (value, cas)
    pub data: HashMap<(String, Vec<u8>), (Vec<u8>, u32)>,
    pub next_cas: u32,
    /// queue id -> queue; ids start at 1.
    pub queues: Vec<Queue>,
}

pub(crate) struct Queue {
    pub vm_id: String,
    pub name: String,
    pub owner_context: u32,
    pub items: std::collections::VecDeque<Vec<u8>>,
}

impl SharedStore {
    pub fn next_cas(&mut self) -> u32 {
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.next_cas
    }
}

/// A metric's kind (`proxy_define_metric` type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// 0
    Counter,
    /// 1
    Gauge,
    /// 2
    Histogram,
}

/// A metric's current value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum MetricValue {
    /// Counter or gauge value.
    Value(i64),
    /// Every value recorded in a histogram, in order.
    Histogram(Vec<u64>),
}

#[derive(Default)]
pub(crate) struct MetricState {
    /// id -> name; ids encode the kind in the low 2 bits like Envoy (`Wasm::kMetricTypeMask`).
    pub ids: HashMap<u32, String>,
    pub next: [u32; 3],
    /// name -> (kind, value): one stat per name, shared by every id defined for it.
    pub stats: BTreeMap<String, (MetricKind, MetricValue)>,
}

/// Where a root context is in its life (cpp-host `WasmBase::root_contexts_`, `pending_done_`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootPhase {
    /// Serving its plugin: the current root, or one a config push replaced whose streams still run.
    Active,
    /// `proxy_on_done` returned false: it lives on (ticks, callouts, queues) until it calls `proxy_done`.
    PendingDone,
    /// `proxy_done` was called: `proxy_on_delete` runs once the current VM call returns.
    Deleting,
}

/// One root context: one plugin (filter configuration) in this VM.
pub(crate) struct RootData {
    /// Its plugin configuration (`PluginConfiguration` buffer).
    pub config: Vec<u8>,
    pub phase: RootPhase,
    /// `proxy_set_tick_period_milliseconds` of this root (0 = off; cpp-host keeps one period per root).
    pub tick_period_ms: u32,
    /// Monotonic time of its next tick.
    pub next_tick_ns: u64,
}

impl RootData {
    pub fn new(config: Vec<u8>) -> RootData {
        RootData {
            config,
            phase: RootPhase::Active,
            tick_period_ms: 0,
            next_tick_ns: 0,
        }
    }
}

pub(crate) struct ContextState {
    /// The current root context: new streams are created under it (the plugin of the latest accepted
    /// configuration).
    pub root_id: u32,
    /// Every live root context by id: the current one, replaced ones that still serve streams or wait for
    /// `proxy_done`.
    pub roots: BTreeMap<u32, RootData>,
    pub next_id: u32,
    /// The context host calls act on (set per callback; `proxy_set_effective_context` changes it).
    pub effective: u32,
    pub streams: HashMap<u32, StreamData>,
    /// The root context whose plugin configuration is readable: set during its `on_context_create` and
    /// `on_configure` (Envoy `Context::getBuffer` reads `temp_plugin_`, set only there).
    pub configuring: Option<u32>,
}

impl ContextState {
    /// The root context of `ctx`: itself for a live root, its parent for a live stream.
    pub fn root_of(&self, ctx: u32) -> Option<u32> {
        if self.roots.contains_key(&ctx) {
            Some(ctx)
        } else {
            self.streams.get(&ctx).map(|s| s.root)
        }
    }

    /// Whether `ctx` is a live root or stream context (cpp-host `WasmBase::getContext`).
    pub fn is_live(&self, ctx: u32) -> bool {
        self.roots.contains_key(&ctx) || self.streams.contains_key(&ctx)
    }

    /// Whether a live stream was created under `root`.
    pub fn has_streams(&self, root: u32) -> bool {
        self.streams.values().any(|s| s.root == root)
    }
}

pub(crate) struct PluginInfo {
    pub plugin_name: String,
    pub root_id: String,
    pub vm_id: String,
    pub vm_config: Vec<u8>,
}

pub(crate) struct WasiState {
    pub env: Vec<(String, String)>,
    pub rng: u64,
}

/// The store data of one simulated VM.
pub(crate) struct HostState {
    pub memory: Option<Memory>,
    pub alloc: Option<TypedFunc<i32, i32>>,
    pub limits: StoreLimits,
    pub ctx: ContextState,
    pub log: LogState,
    pub clock: ClockState,
    pub plugin: PluginInfo,
    pub calls: CallState,
    pub shared: Shared,
    pub metrics: MetricState,
    pub deferred: Vec<Deferred>,
    pub wasi: WasiState,
    /// `(context_id, queue_id)` notifications to deliver with `on_queue_ready`.
    pub queue_ready: Vec<(u32, u32)>,
    /// True while the start functions run (`_initialize`, `main`/`__main_void`, `_start`): only the host
    /// functions of cpp-host's start allow-list may be called (see `abi::restricted`).
    pub restricted: bool,
}

impl HostState {
    /// The stream the effective context belongs to, if it is a stream context.
    pub fn stream(&mut self) -> Option<&mut StreamData> {
        let id = self.ctx.effective;
        self.ctx.streams.get_mut(&id)
    }
}
