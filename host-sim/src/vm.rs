//! A simulated VM: one wasmtime `Store`, the plugin's root contexts (one per filter configuration, several
//! after a config push while the old one drains), and the HTTP streams they serve.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::{Instance, Store, StoreLimitsBuilder, TypedFunc, Val, ValType, WasmParams, WasmResults};

use crate::error::Error;
use crate::http::{Headers, Response};
use crate::plugin::{Plugin, EPOCH_TICK};
use crate::state::*;

/// Default wall-clock start: 2025-01-01T00:00:00Z (time only moves when a test advances it).
pub const DEFAULT_START_TIME_SECS: u64 = 1_735_689_600;

/// `proxy_on_http_call_response(context_id, token, headers, body_size, trailers)`.
type HttpCallResponseFn = TypedFunc<(i32, i32, i32, i32, i32), ()>;

/// The exports host-sim calls, looked up once per VM.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub context_create: Option<TypedFunc<(i32, i32), ()>>,
    pub vm_start: Option<TypedFunc<(i32, i32), i32>>,
    pub configure: Option<TypedFunc<(i32, i32), i32>>,
    pub tick: Option<TypedFunc<i32, ()>>,
    pub queue_ready: Option<TypedFunc<(i32, i32), ()>>,
    pub done: Option<TypedFunc<i32, i32>>,
    pub log: Option<TypedFunc<i32, ()>>,
    pub delete: Option<TypedFunc<i32, ()>>,
    pub request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub request_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub request_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub response_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub response_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub response_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub http_call_response: Option<HttpCallResponseFn>,
}

/// Options of a simulated VM; build one with [`Plugin::sim`].
pub struct SimBuilder {
    plugin: Plugin,
    plugin_config: Vec<u8>,
    vm_config: Vec<u8>,
    allow_on_headers_stop_iteration: bool,
    plugin_name: String,
    root_id: String,
    vm_id: String,
    env: Vec<(String, String)>,
    log_level: Option<LogLevel>,
    clusters: Option<Vec<String>>,
    shared: Shared,
    time_limit: Duration,
    start_time: SystemTime,
    buffer_limit: usize,
    memory_limit: usize,
}

impl SimBuilder {
    pub(crate) fn new(plugin: Plugin) -> SimBuilder {
        SimBuilder {
            plugin,
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            allow_on_headers_stop_iteration: false,
            plugin_name: "routewise".into(),
            root_id: String::new(),
            vm_id: String::new(),
            env: Vec::new(),
            log_level: None,
            clusters: None,
            shared: Shared::default(),
            time_limit: Duration::from_secs(5),
            start_time: UNIX_EPOCH + Duration::from_secs(DEFAULT_START_TIME_SECS),
            buffer_limit: 1024 * 1024,
            memory_limit: 1 << 30,
        }
    }

    /// The plugin configuration, raw (Envoy passes a `StringValue`/`BytesValue` without its wrapper).
    pub fn config(mut self, bytes: impl Into<Vec<u8>>) -> SimBuilder {
        self.plugin_config = bytes.into();
        self
    }

    /// The plugin configuration from JSON: a JSON string is passed as its raw content (like a
    /// `StringValue`), anything else as its JSON text (like a `Struct`, which Envoy serialises to JSON).
    pub fn config_json(self, value: &serde_json::Value) -> SimBuilder {
        let bytes = match value {
            serde_json::Value::String(s) => s.clone().into_bytes(),
            serde_json::Value::Null => Vec::new(),
            v => v.to_string().into_bytes(),
        };
        self.config(bytes)
    }

    /// The VM configuration (`vm_config.configuration`), read in `on_vm_start`.
    pub fn vm_config(mut self, bytes: impl Into<Vec<u8>>) -> SimBuilder {
        self.vm_config = bytes.into();
        self
    }

    /// Envoy >= 1.35 `allow_on_headers_stop_iteration`: when true a Pause from a headers callback is
    /// `StopIteration` (body callbacks still run); when false (Envoy's default) it becomes
    /// `StopAllIterationAndWatermark` and the body callbacks wait for `continue_stream`.
    pub fn allow_on_headers_stop_iteration(mut self, allow: bool) -> SimBuilder {
        self.allow_on_headers_stop_iteration = allow;
        self
    }

    /// `plugin_name` property (Envoy `PluginConfig.name`). Default `routewise`.
    pub fn plugin_name(mut self, name: &str) -> SimBuilder {
        self.plugin_name = name.into();
        self
    }

    /// `plugin_root_id` property (Envoy `PluginConfig.root_id`). Default empty.
    pub fn root_id(mut self, id: &str) -> SimBuilder {
        self.root_id = id.into();
        self
    }

    /// VM id: the namespace of shared data and queues. Default empty.
    pub fn vm_id(mut self, id: &str) -> SimBuilder {
        self.vm_id = id.into();
        self
    }

    /// Adds an environment variable the guest sees through WASI (`vm_config.environment_variables`).
    pub fn env(mut self, key: &str, value: &str) -> SimBuilder {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Keep only logs at or above `level` (also what `proxy_get_log_level` returns). Default: keep all.
    pub fn log_level(mut self, level: LogLevel) -> SimBuilder {
        self.log_level = Some(level);
        self
    }

    /// Restrict the clusters `proxy_http_call`/`proxy_grpc_*` may name (others are BAD_ARGUMENT /
    /// PARSE_FAILURE as in Envoy). Default: every name is a cluster.
    pub fn clusters<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> SimBuilder {
        self.clusters = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Share key-value data and queues with other simulated VMs (as Envoy's worker VMs do).
    pub fn shared(mut self, shared: Shared) -> SimBuilder {
        self.shared = shared;
        self
    }

    /// How long one callback may run before it is interrupted as a runaway guest. Default 5 s.
    pub fn time_limit(mut self, limit: Duration) -> SimBuilder {
        self.time_limit = limit;
        self
    }

    /// The wall clock at VM start. Default 2025-01-01T00:00:00Z.
    pub fn start_time(mut self, t: SystemTime) -> SimBuilder {
        self.start_time = t;
        self
    }

    /// The stream buffer limit (Envoy's `per_connection_buffer_limit_bytes`, default 1 MiB): a filter
    /// that buffers more gets a 413 (request) or 500 (response) local reply.
    pub fn buffer_limit(mut self, bytes: usize) -> SimBuilder {
        self.buffer_limit = bytes;
        self
    }

    /// Starts the VM as Envoy does: instantiate, `_initialize` (then `main` or `__main_void` if exported;
    /// only env.proxy_log and some WASI functions may be called there), create the root context,
    /// `proxy_on_vm_start`, `proxy_on_configure`.
    pub fn start(self) -> Result<Sim, Error> {
        let now_ns = self
            .start_time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let state = HostState {
            memory: None,
            alloc: None,
            limits: StoreLimitsBuilder::new().memory_size(self.memory_limit).build(),
            ctx: ContextState {
                root_id: 1,
                roots: BTreeMap::from([(1, RootData::new(self.plugin_config))]),
                next_id: 2,
                effective: 1,
                streams: Default::default(),
                configuring: None,
            },
            log: LogState {
                entries: Vec::new(),
                level: self.log_level,
            },
            clock: ClockState {
                now_ns,
                mono_ns: 1_000_000_000,
            },
            plugin: PluginInfo {
                plugin_name: self.plugin_name,
                root_id: self.root_id,
                vm_id: self.vm_id,
                vm_config: self.vm_config,
            },
            calls: CallState {
                clusters: self.clusters,
                ..Default::default()
            },
            shared: self.shared,
            metrics: MetricState::default(),
            deferred: Vec::new(),
            wasi: WasiState {
                env: self.env,
                rng: 0x9E37_79B9_7F4A_7C15,
            },
            queue_ready: Vec::new(),
            restricted: false,
        };
        let mut store = Store::new(&self.plugin.inner.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        let ticks = (self.time_limit.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        let instance = self.plugin.inner.pre.instantiate(&mut store).map_err(|e| {
            Error::Load(format!(
                "{}: instantiation failed: {e:#}",
                self.plugin.inner.source
            ))
        })?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| Error::Load("the module does not export its memory".into()))?;
        store.data_mut().memory = Some(memory);
        // cpp-host prefers `malloc` and falls back to `proxy_on_memory_allocate` (src/wasm.cc getFunctions).
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "malloc")
            .or_else(|_| instance.get_typed_func::<i32, i32>(&mut store, "proxy_on_memory_allocate"))
            .map_err(|e| Error::Load(format!("the allocator export has the wrong signature: {e}")))?;
        store.data_mut().alloc = Some(alloc);

        macro_rules! cb {
            ($name:literal) => {
                match instance.get_func(&mut store, $name) {
                    None => None,
                    Some(f) => Some(f.typed(&store).map_err(|e| {
                        Error::Load(format!("export `{}` has the wrong signature: {e}", $name))
                    })?),
                }
            };
        }
        let cb = Callbacks {
            context_create: cb!("proxy_on_context_create"),
            vm_start: cb!("proxy_on_vm_start"),
            configure: cb!("proxy_on_configure"),
            tick: cb!("proxy_on_tick"),
            queue_ready: cb!("proxy_on_queue_ready"),
            done: cb!("proxy_on_done"),
            log: cb!("proxy_on_log"),
            delete: cb!("proxy_on_delete"),
            request_headers: cb!("proxy_on_request_headers"),
            request_body: cb!("proxy_on_request_body"),
            request_trailers: cb!("proxy_on_request_trailers"),
            response_headers: cb!("proxy_on_response_headers"),
            response_body: cb!("proxy_on_response_body"),
            response_trailers: cb!("proxy_on_response_trailers"),
            http_call_response: cb!("proxy_on_http_call_response"),
        };
        let initialize: Option<TypedFunc<(), ()>> = cb!("_initialize");
        let start: Option<TypedFunc<(), ()>> = cb!("_start");
        let main: Option<TypedFunc<(i32, i32), i32>> = cb!("main");
        let main_void: Option<TypedFunc<(), i32>> = cb!("__main_void");

        let mut sim = Sim {
            store,
            cb,
            plugin: self.plugin,
            allow_on_headers_stop_iteration: self.allow_on_headers_stop_iteration,
            buffer_limit: self.buffer_limit,
            time_limit_ticks: ticks,
            failed: None,
            http_handler: None,
            declined_calls: HashSet::new(),
            next_source_port: 40000,
            log_mark: 0,
            instance,
        };
        // Reactor start (cpp-host `WasmBase::startVm`): `_initialize` then `main` (else `__main_void`);
        // `_start` only without `_initialize`. They run with restricted callbacks: a host function
        // outside `abi::ALLOWED_DURING_START` traps with `restricted_callback`, failing the start
        // (`Error::Trap`).
        sim.store.data_mut().restricted = true;
        let started = (|| {
            if initialize.is_some() {
                sim.invoke("_initialize", 0, initialize, ())?;
                if main.is_some() {
                    sim.invoke("main", 0, main, (0, 0))?;
                } else if main_void.is_some() {
                    sim.invoke("__main_void", 0, main_void, ())?;
                }
            } else {
                sim.invoke("_start", 0, start, ())?;
            }
            Ok::<(), Error>(())
        })();
        sim.store.data_mut().restricted = false;
        started?;
        let root = sim.store.data().ctx.root_id;
        if let Some(rejected) = sim.start_root(root, 0)? {
            return Err(rejected);
        }
        sim.run_deferred()?;
        sim.settle()?;
        Ok(sim)
    }
}

/// One simulated Envoy worker VM running the plugin. See the crate docs for an example.
pub struct Sim {
    pub(crate) store: Store<HostState>,
    pub(crate) cb: Callbacks,
    pub(crate) plugin: Plugin,
    pub(crate) allow_on_headers_stop_iteration: bool,
    pub(crate) buffer_limit: usize,
    time_limit_ticks: u64,
    failed: Option<String>,
    http_handler: Option<HttpCallHandler>,
    declined_calls: HashSet<u32>,
    pub(crate) next_source_port: u16,
    pub(crate) log_mark: usize,
    instance: Instance,
}

impl Sim {
    /// Calls one guest export with the given context as the effective context. A missing export is
    /// `Ok(None)` (Envoy skips callbacks a module does not define).
    pub(crate) fn invoke<P: WasmParams, R: WasmResults>(
        &mut self,
        name: &'static str,
        ctx: u32,
        f: Option<TypedFunc<P, R>>,
        params: P,
    ) -> Result<Option<R>, Error> {
        let Some(f) = f else {
            return match &self.failed {
                Some(m) => Err(Error::VmFailed(m.clone())),
                None => Ok(None),
            };
        };
        if self.failed.is_none() {
            if let Some(stream) = self.store.data_mut().ctx.streams.get_mut(&ctx) {
                stream.entered.push(name);
            }
        }
        self.guarded(name, ctx, |store| f.call(store, params)).map(Some)
    }

    /// Runs one guest call with the time limit, mapping a trap to [`Error::Trap`] (with the guest's last
    /// CRITICAL log line, i.e. the Rust SDK's panic message) and failing the VM.
    fn guarded<T>(
        &mut self,
        name: &str,
        ctx: u32,
        call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        if let Some(m) = &self.failed {
            return Err(Error::VmFailed(m.clone()));
        }
        self.store.data_mut().ctx.effective = ctx;
        self.store.set_epoch_deadline(self.time_limit_ticks);
        let logs_before = self.store.data().log.entries.len();
        match call(&mut self.store) {
            Ok(r) => Ok(r),
            Err(e) => {
                let interrupted = matches!(
                    e.downcast_ref::<wasmtime::Trap>(),
                    Some(wasmtime::Trap::Interrupt)
                );
                let message = if interrupted {
                    format!(
                        "interrupted after the time limit of {} ms (runaway guest?)",
                        self.time_limit_ticks * EPOCH_TICK.as_millis() as u64
                    )
                } else {
                    e.root_cause().to_string()
                };
                let panic = self.store.data().log.entries.get(logs_before..).and_then(|new| {
                    new.iter()
                        .rev()
                        .find(|l| l.level == LogLevel::Critical)
                        .map(|l| l.message.clone())
                });
                let err = Error::Trap {
                    callback: name.to_string(),
                    message,
                    panic,
                };
                self.failed = Some(err.to_string());
                Err(err)
            }
        }
    }

    /// Low-level: calls any export with i32/i64 arguments as context `context_id`, then runs deferred
    /// actions. For inline-WAT tests of single host calls; filters are driven with [`Sim::send`].
    pub fn call_export(&mut self, name: &str, context_id: u32, args: &[i64]) -> Result<Vec<i64>, Error> {
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| Error::Usage(format!("the module exports no function `{name}`")))?;
        let ty = func.ty(&self.store);
        let params: Vec<Val> = ty
            .params()
            .zip(args.iter().chain(std::iter::repeat(&0)))
            .map(|(t, a)| {
                if matches!(t, ValType::I64) {
                    Val::I64(*a)
                } else {
                    Val::I32(*a as i32)
                }
            })
            .collect();
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        self.guarded(name, context_id, |store| func.call(store, &params, &mut results))?;
        self.run_deferred()?;
        self.settle()?;
        Ok(results
            .iter()
            .map(|v| v.i64().or(v.i32().map(i64::from)).unwrap_or(0))
            .collect())
    }

    /// Low-level: a copy of guest memory (`None` when out of bounds).
    pub fn read_memory(&mut self, ptr: u32, len: u32) -> Option<Vec<u8>> {
        let mem = self.store.data().memory?;
        crate::memory::read(mem.data(&self.store), ptr as i32, len as i32)
            .ok()
            .map(<[u8]>::to_vec)
    }

    /// Runs the actions Envoy defers until a VM call returns (continue, close, local reply).
    pub(crate) fn run_deferred(&mut self) -> Result<(), Error> {
        loop {
            let actions = std::mem::take(&mut self.store.data_mut().deferred);
            if actions.is_empty() {
                return Ok(());
            }
            for a in actions {
                match a {
                    Deferred::Continue { ctx, dir } => self.fm_continue(ctx, dir)?,
                    Deferred::Close { ctx } => self.reset_stream(ctx)?,
                    Deferred::LocalReply {
                        ctx,
                        status,
                        body,
                        headers,
                        details,
                        grpc_status,
                    } => self.local_reply(ctx, status, body, headers, details, grpc_status)?,
                    Deferred::DeleteRoot { root } => self.delete_root(root)?,
                }
            }
        }
    }

    /// Delivers what is ready: queue notifications, HTTP callouts the handler answers.
    pub(crate) fn settle(&mut self) -> Result<(), Error> {
        loop {
            let mut progressed = false;
            let ready = std::mem::take(&mut self.store.data_mut().queue_ready);
            for (ctx, queue) in ready {
                // cpp-host `WasmBase::queueReady`: only a live root context is woken.
                if !self.store.data().ctx.roots.contains_key(&ctx) {
                    continue;
                }
                progressed = true;
                self.invoke(
                    "proxy_on_queue_ready",
                    ctx,
                    self.cb.queue_ready.clone(),
                    (ctx as i32, queue as i32),
                )?;
                self.run_deferred()?;
            }
            if self.http_handler.is_some() {
                let pending: Vec<HttpCall> = self
                    .store
                    .data()
                    .calls
                    .pending
                    .iter()
                    .map(|p| p.call.clone())
                    .filter(|c| !self.declined_calls.contains(&c.token))
                    .collect();
                for call in pending {
                    let reply = match self.http_handler.as_mut() {
                        Some(h) => h(&call),
                        None => HttpCallReply::Pending,
                    };
                    if reply == HttpCallReply::Pending {
                        self.declined_calls.insert(call.token);
                    } else {
                        progressed = true;
                        self.answer_http_call(call.token, reply)?;
                    }
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    // ----- HTTP callouts -----

    /// Answers every future `proxy_http_call` with `handler` (return [`HttpCallReply::Pending`] to answer
    /// a call later by hand). Calls already pending are offered to it too.
    pub fn on_http_call(
        &mut self,
        handler: impl FnMut(&HttpCall) -> HttpCallReply + Send + 'static,
    ) -> Result<(), Error> {
        self.http_handler = Some(Box::new(handler));
        self.declined_calls.clear();
        self.settle()
    }

    /// Calls made so far (answered or not), in order.
    pub fn http_calls(&self) -> &[HttpCall] {
        &self.store.data().calls.history
    }

    /// Calls not answered yet.
    pub fn pending_http_calls(&self) -> Vec<HttpCall> {
        self.store
            .data()
            .calls
            .pending
            .iter()
            .map(|p| p.call.clone())
            .collect()
    }

    /// Delivers the answer to a pending call (`proxy_on_http_call_response`), then whatever follows
    /// (e.g. the paused stream resumes).
    pub fn answer_http_call(&mut self, token: u32, reply: HttpCallReply) -> Result<(), Error> {
        let calls = &mut self.store.data_mut().calls;
        let Some(i) = calls.pending.iter().position(|p| p.call.token == token) else {
            return Err(Error::Usage(format!("no pending HTTP call with token {token}")));
        };
        if reply == HttpCallReply::Pending {
            return Ok(());
        }
        let ctx = calls.pending.remove(i).root;
        let (n_headers, body_len, n_trailers) = match reply {
            HttpCallReply::Response(r) => {
                let mut headers = Headers::new();
                headers.add(":status", &r.status.to_string());
                headers.0.extend(r.headers.0.iter().cloned());
                let trailers = r.trailers.clone().unwrap_or_default();
                let dims = (headers.len(), r.body.len(), trailers.len());
                calls.current_response = Some((headers, r.body, trailers));
                calls.status = (0, String::new());
                dims
            }
            _ => {
                calls.current_response = None;
                calls.status = (11, "reset".into());
                (0, 0, 0)
            }
        };
        // cpp-host `http_call` runs on `contextOrEffectiveContext()->root_context()`: the root context of the
        // caller owns the call, and its answer is delivered there (the SDKs map the token back to the stream
        // themselves). After a config push that is still the old root for a call made by one of its streams.
        let r = self.invoke(
            "proxy_on_http_call_response",
            ctx,
            self.cb.http_call_response.clone(),
            (
                ctx as i32,
                token as i32,
                n_headers as i32,
                body_len as i32,
                n_trailers as i32,
            ),
        );
        let calls = &mut self.store.data_mut().calls;
        calls.current_response = None;
        calls.status = (0, String::new());
        r?;
        self.run_deferred()?;
        self.settle()
    }

    // ----- time -----

    /// The next tick of any root context: (monotonic time, root id), the lower id first on a tie.
    fn next_tick(&self) -> Option<(u64, u32)> {
        self.store
            .data()
            .ctx
            .roots
            .iter()
            .filter(|(_, r)| r.tick_period_ms > 0)
            .map(|(id, r)| (r.next_tick_ns, *id))
            .min()
    }

    /// Moves both clocks forward by `d`, firing in time order every `proxy_on_tick` due on the way (each
    /// root context on its own period; the lower root id first when two are due at once) and timing out
    /// HTTP callouts whose timeout passes (Envoy answers those with a 504; a timeout due at the same
    /// instant as a tick comes first).
    pub fn advance(&mut self, d: Duration) -> Result<(), Error> {
        let target = self.store.data().clock.mono_ns + d.as_nanos() as u64;
        loop {
            let next_tick = self.next_tick();
            let next_timeout = self
                .store
                .data()
                .calls
                .pending
                .iter()
                .map(|p| p.deadline_ns)
                .min()
                .unwrap_or(u64::MAX);
            let tick_at = next_tick.map_or(u64::MAX, |(t, _)| t);
            let next = tick_at.min(next_timeout);
            if next > target {
                break;
            }
            self.set_mono(next);
            if next == next_timeout {
                let token = self
                    .store
                    .data()
                    .calls
                    .pending
                    .iter()
                    .find(|p| p.deadline_ns == next)
                    .map(|p| p.call.token);
                if let Some(token) = token {
                    let timeout = Response::new(504)
                        .header("content-length", "24")
                        .header("content-type", "text/plain")
                        .body("upstream request timeout");
                    self.answer_http_call(token, HttpCallReply::Response(timeout))?;
                }
            } else if let Some((_, root)) = next_tick {
                // Envoy `Wasm::tickHandler`: `on_tick`, then the timer is enabled again for one period
                // (a period the callback sets replaces this schedule).
                if let Some(r) = self.store.data_mut().ctx.roots.get_mut(&root) {
                    r.next_tick_ns += u64::from(r.tick_period_ms) * 1_000_000;
                }
                self.invoke("proxy_on_tick", root, self.cb.tick.clone(), root as i32)?;
                self.run_deferred()?;
                self.settle()?;
            }
        }
        self.set_mono(target);
        Ok(())
    }

    /// Advances time to the next tick of any root context and fires it (and every other tick or timeout
    /// due at that instant).
    pub fn tick(&mut self) -> Result<(), Error> {
        let Some((at, _)) = self.next_tick() else {
            return Err(Error::Usage(
                "the plugin set no tick period (proxy_set_tick_period_milliseconds)".into(),
            ));
        };
        let d = at.saturating_sub(self.store.data().clock.mono_ns);
        self.advance(Duration::from_nanos(d))
    }

    fn set_mono(&mut self, t: u64) {
        let c = &mut self.store.data_mut().clock;
        if t > c.mono_ns {
            c.now_ns += t - c.mono_ns;
            c.mono_ns = t;
        }
    }

    /// The simulated wall clock.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.store.data().clock.now_ns)
    }

    /// The tick period the current root context set (zero = none).
    pub fn tick_period(&self) -> Duration {
        self.tick_period_of(self.root_context())
    }

    /// The tick period root context `root` set (zero = none, or no such live root).
    pub fn tick_period_of(&self, root: u32) -> Duration {
        let ms = self
            .store
            .data()
            .ctx
            .roots
            .get(&root)
            .map_or(0, |r| r.tick_period_ms);
        Duration::from_millis(u64::from(ms))
    }

    // ----- root contexts and configuration pushes -----

    /// The current root context: the plugin of the latest accepted configuration, under which
    /// [`Sim::begin`] creates new streams. 1 until a [`Sim::push_config`] is accepted.
    pub fn root_context(&self) -> u32 {
        self.store.data().ctx.root_id
    }

    /// Every live root context, in id order: the current one, and replaced ones that still serve
    /// in-flight streams or whose `on_done` returned false and that have not called `proxy_done`.
    pub fn root_contexts(&self) -> Vec<u32> {
        self.store.data().ctx.roots.keys().copied().collect()
    }

    /// A filter configuration update (ECDS or LDS) with the same VM configuration and code: Envoy keeps
    /// this worker's VM and adds a plugin to it. As cpp-host does (`getOrCreateThreadLocalPlugin` →
    /// `WasmBase::start` → `ContextBase::onStart`, then `configure`): a new root context with the next
    /// context id, `proxy_on_context_create(new, 0)`, `proxy_on_vm_start(new, vm_config size)`,
    /// `proxy_on_configure(new, size)` with `bytes` readable as its `PluginConfiguration`, then the
    /// deferred actions and whatever is ready (as [`SimBuilder::start`]). Returns the new root id.
    ///
    /// Accepted: the new root is current, so streams [`Sim::begin`] opens from now on are created under
    /// it; the old root is finished (`proxy_on_done`, then `proxy_on_delete` unless `on_done` returned
    /// false, in which case it lives on until it calls `proxy_done`) as soon as no live stream was created
    /// under it: now, or when [`Sim::finish`] ends the last one (the streams hold Envoy's old plugin
    /// handle, whose release finishes the root). Its tick schedule stops when it is deleted, and callouts
    /// it still owns are cancelled.
    ///
    /// Rejected (`on_vm_start` or `on_configure` returned false): `Err(Error::VmStartRejected { logs })`
    /// or `Err(Error::ConfigureRejected { logs })` with what the guest logged during this push; the new
    /// root is finished at once and the old root stays current (Envoy NACKs the update and keeps the old
    /// configuration). Envoy itself runs a rejected configuration only in a throwaway canary VM
    /// (`WasmHandleBase::canary`), so a worker VM never sees it; here the worker VM runs it.
    pub fn push_config(&mut self, bytes: impl Into<Vec<u8>>) -> Result<u32, Error> {
        if let Some(m) = &self.failed {
            return Err(Error::VmFailed(m.clone()));
        }
        let st = self.store.data_mut();
        let root = st.ctx.next_id;
        st.ctx.next_id += 1;
        st.ctx.roots.insert(root, RootData::new(bytes.into()));
        let mark = st.log.entries.len();
        if let Some(rejected) = self.start_root(root, mark)? {
            self.run_deferred()?;
            self.finish_root(root)?;
            self.settle()?;
            return Err(rejected);
        }
        let old = std::mem::replace(&mut self.store.data_mut().ctx.root_id, root);
        self.run_deferred()?;
        self.release_root(old)?;
        self.settle()?;
        Ok(root)
    }

    /// Starts and configures root context `root` (already in `ctx.roots`), as cpp-host `WasmBase::start`
    /// and `configure` do: `proxy_on_context_create(root, 0)` and `proxy_on_configure` with its plugin
    /// configuration readable, `proxy_on_vm_start` between them. `Ok(Some(error))` when the guest rejected
    /// it, with the logs since `log_mark`.
    fn start_root(&mut self, root: u32, log_mark: usize) -> Result<Option<Error>, Error> {
        let logs = |sim: &Sim| {
            sim.store
                .data()
                .log
                .entries
                .get(log_mark..)
                .map(<[LogEntry]>::to_vec)
                .unwrap_or_default()
        };
        self.store.data_mut().ctx.configuring = Some(root);
        let created = self.invoke(
            "proxy_on_context_create",
            root,
            self.cb.context_create.clone(),
            (root as i32, 0),
        );
        self.store.data_mut().ctx.configuring = None;
        created?;
        let vm_len = self.store.data().plugin.vm_config.len() as i32;
        let started = self.invoke(
            "proxy_on_vm_start",
            root,
            self.cb.vm_start.clone(),
            (root as i32, vm_len),
        )?;
        if started.unwrap_or(1) == 0 {
            return Ok(Some(Error::VmStartRejected { logs: logs(self) }));
        }
        let st = self.store.data_mut();
        let cfg_len = st.ctx.roots.get(&root).map_or(0, |r| r.config.len()) as i32;
        st.ctx.configuring = Some(root);
        let accepted = self.invoke(
            "proxy_on_configure",
            root,
            self.cb.configure.clone(),
            (root as i32, cfg_len),
        );
        self.store.data_mut().ctx.configuring = None;
        if accepted?.unwrap_or(1) == 0 {
            return Ok(Some(Error::ConfigureRejected { logs: logs(self) }));
        }
        Ok(None)
    }

    /// Finishes `root` if it is no longer current, still active and serves no live stream (Envoy releases
    /// the old plugin handle once nothing holds it).
    pub(crate) fn release_root(&mut self, root: u32) -> Result<(), Error> {
        let ctx = &self.store.data().ctx;
        let active = ctx.roots.get(&root).is_some_and(|r| r.phase == RootPhase::Active);
        if root == ctx.root_id || !active || ctx.has_streams(root) {
            return Ok(());
        }
        self.finish_root(root)
    }

    /// cpp-host `WasmBase::startShutdown(plugin_key)`: `proxy_on_done`; true (or no export) deletes the
    /// root now, false leaves it pending until it calls `proxy_done`.
    fn finish_root(&mut self, root: u32) -> Result<(), Error> {
        let done = self.invoke("proxy_on_done", root, self.cb.done.clone(), root as i32)?;
        self.run_deferred()?;
        if done.unwrap_or(1) != 0 {
            return self.delete_root(root);
        }
        if let Some(r) = self.store.data_mut().ctx.roots.get_mut(&root) {
            if r.phase == RootPhase::Active {
                r.phase = RootPhase::PendingDone;
            }
        }
        Ok(())
    }

    /// `proxy_on_delete(root)`, then the root is gone: its ticks stop and the callouts it owns are
    /// cancelled (Envoy's `Context` destructor cancels its pending requests).
    fn delete_root(&mut self, root: u32) -> Result<(), Error> {
        if !self.store.data().ctx.roots.contains_key(&root) {
            return Ok(());
        }
        let r = self.invoke("proxy_on_delete", root, self.cb.delete.clone(), root as i32);
        let st = self.store.data_mut();
        st.ctx.roots.remove(&root);
        st.calls.pending.retain(|p| p.root != root);
        r?;
        self.run_deferred()
    }

    // ----- inspection -----

    /// Every log entry so far.
    pub fn logs(&self) -> &[LogEntry] {
        &self.store.data().log.entries
    }

    /// The messages logged at `level`.
    pub fn logs_at(&self, level: LogLevel) -> Vec<&str> {
        self.logs()
            .iter()
            .filter(|l| l.level == level)
            .map(|l| l.message.as_str())
            .collect()
    }

    /// Forgets the logs so far.
    pub fn clear_logs(&mut self) {
        self.store.data_mut().log.entries.clear();
        self.log_mark = 0;
    }

    /// Every metric by its name as the plugin defined it (Envoy's admin `/stats` shows `wasmcustom.<name>`).
    pub fn metrics(&self) -> BTreeMap<String, MetricValue> {
        self.store
            .data()
            .metrics
            .stats
            .iter()
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect()
    }

    /// A counter's or gauge's value, or a histogram's sample count.
    pub fn metric(&self, name: &str) -> Option<i64> {
        match self.store.data().metrics.stats.get(name)? {
            (_, MetricValue::Value(v)) => Some(*v),
            (_, MetricValue::Histogram(h)) => Some(h.len() as i64),
        }
    }

    /// The kind of a defined metric.
    pub fn metric_kind(&self, name: &str) -> Option<MetricKind> {
        self.store.data().metrics.stats.get(name).map(|(k, _)| *k)
    }

    /// A shared-data value and its cas, as the plugin's VM id sees it.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        let st = self.store.data();
        let store = st.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        store
            .data
            .get(&(st.plugin.vm_id.clone(), key.as_bytes().to_vec()))
            .cloned()
    }

    /// Sets shared data as another VM would.
    pub fn set_shared_data(&mut self, key: &str, value: &[u8]) {
        let st = self.store.data();
        let mut store = st.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        let cas = store.next_cas();
        store.data.insert(
            (st.plugin.vm_id.clone(), key.as_bytes().to_vec()),
            (value.to_vec(), cas),
        );
    }

    /// Enqueues to a queue the plugin registered (as another VM would) and delivers `on_queue_ready`.
    pub fn enqueue(&mut self, queue: &str, value: &[u8]) -> Result<(), Error> {
        let st = self.store.data_mut();
        let notify = {
            let mut store = st.shared.0.lock().unwrap_or_else(|e| e.into_inner());
            let vm = st.plugin.vm_id.clone();
            let Some((i, q)) = store
                .queues
                .iter_mut()
                .enumerate()
                .find(|(_, q)| q.vm_id == vm && q.name == queue)
            else {
                return Err(Error::Usage(format!(
                    "no shared queue named {queue:?} is registered"
                )));
            };
            q.items.push_back(value.to_vec());
            (q.owner_context, i as u32 + 1)
        };
        st.queue_ready.push(notify);
        self.settle()
    }

    /// Takes the oldest item of a queue (e.g. one the plugin enqueued).
    pub fn dequeue(&mut self, queue: &str) -> Option<Vec<u8>> {
        let st = self.store.data();
        let mut store = st.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        let vm = st.plugin.vm_id.clone();
        store
            .queues
            .iter_mut()
            .find(|q| q.vm_id == vm && q.name == queue)?
            .items
            .pop_front()
    }

    /// The shared store, to hand to another VM with [`SimBuilder::shared`].
    pub fn shared(&self) -> Shared {
        self.store.data().shared.clone()
    }

    /// Whether an earlier trap failed this VM.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// The plugin this VM runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }
}
