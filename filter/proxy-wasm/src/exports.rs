//! The proxy-wasm ABI 0.2.1 callbacks, exported by hand: the SDK's dispatcher unwraps in places a host can
//! reach (an answer to a call it did not register, a re-entered context), and a panic here is a trap that
//! kills the worker's VM, so this module has none. Contexts live in a per-VM table; each callback takes its
//! context out of a `RefCell` with `try_borrow_mut` (a re-entered callback finds it busy and lets the stream
//! continue instead of panicking).
//!
//! Root contexts hold the configuration ([`Root`]); each HTTP stream's context holds the core's [`Stream`].
//!
//! A configuration pushed to a running VM (ECDS, LDS: Envoy reuses the worker's VM and creates a new root
//! context in it) is built in slices from `proxy_on_tick` ([`Configuring`]), [`UNITS_PER_TICK`] at a time,
//! while streams keep the plugin's previous configuration in this VM ([`Contexts::latest`], by plugin name
//! and root id: plugins with the same VM config share one VM): built in one piece on the worker thread, a
//! 100,000-rule config held the worker for 2.6 s (issue 13). A plugin's first configuration in a VM is built
//! in one piece: nothing of it serves before. Envoy's verdict on a push comes from its main-thread canary, a
//! fresh VM, which therefore builds in one piece and rejects what is wrong before any worker sees it.
//! Every stream callback hands the stream a [`WasmHost`] and maps the pipeline's [`Next`] to the ABI's
//! action (`Continue` 0, `Pause` 1).

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::rc::Rc;

use routewise_core::pipeline::{Build, CallEnd, Configuring, FilterConfig, Next, Rejected, Retiring, Stream};

use crate::abi::{self, buffer};
use crate::host::{Metrics, WasmHost};

/// What one configuration gives every stream: the configuration and its counter ids.
struct Runtime {
    config: FilterConfig,
    metrics: Metrics,
}

/// A root (plugin) context: its configuration, or the build of it under way.
#[derive(Default)]
struct Root {
    runtime: Option<Rc<Runtime>>,
    building: Option<Building>,
    /// When the root was configured, in the VM's order: of two pushes built side by side, the later one's
    /// configuration becomes the plugin's latest whichever finishes first.
    generation: u64,
    /// Its plugin ([`plugin_key`]).
    plugin: Rc<str>,
}

/// A pushed configuration being built from `proxy_on_tick`.
struct Building {
    build: Configuring,
    ticks: u32,
    /// The longest tick so far, in ns of the host's clock: what a request waited at most behind the build,
    /// logged with the result (issue 13, config push stall).
    longest_ns: u64,
}

/// Work units ([`Configuring::step`]) of one tick: ≈ 1 ms of native work, a few ms under V8.
const UNITS_PER_TICK: u64 = 1_000;

/// Period of the ticks that build a pushed configuration: the worker serves requests between them.
const BUILD_TICK_MS: u32 = 1;

/// Documents smaller than this are built in one piece even when pushed (a few hundred rules: a couple of
/// ms under V8), so that a small change applies at once, as before.
const SLICED_FROM_BYTES: usize = 64 * 1024;

/// An HTTP stream's context.
struct StreamContext {
    runtime: Option<Rc<Runtime>>,
    stream: Stream,
}

#[derive(Default)]
struct Contexts {
    roots: HashMap<u32, Root>,
    streams: HashMap<u32, Rc<RefCell<StreamContext>>>,
    /// Calls out, by token: the stream that made each.
    calls: HashMap<u32, u32>,
    /// Each plugin's most recent configuration in this VM ([`plugin_key`]), with its root's generation:
    /// streams of a root whose own is still being built use it.
    latest: HashMap<Rc<str>, (u64, Rc<Runtime>)>,
    /// Roots configured so far.
    generations: u64,
    /// Configurations no longer used by anything, freed a slice at a time ([`release`]).
    retiring: Vec<Retiring>,
    /// The root whose ticks free `retiring`, if any ticks.
    janitor: Option<u32>,
    /// A stream has been created in this VM. Until then a pushed configuration is kept unbuilt (its root's
    /// `building`, no ticks): Envoy's main-thread VM never gets a stream, and building every push there
    /// cost a second engine and ticks competing with the worker's ([`start_building`]).
    had_stream: bool,
}

/// Which plugin a root context configures: Envoy runs every plugin with the same VM config in one VM, so a
/// pushed configuration replaces the one of the same plugin name and root id only.
fn plugin_key() -> Rc<str> {
    let read = |name: &str| {
        abi::get_property(&[name])
            .ok()
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    format!("{}\u{0}{}", read("plugin_name"), read("plugin_root_id")).into()
}

/// Work units of freeing a retired configuration at the end of a stream (`proxy_on_delete`).
const UNITS_PER_DELETE: u64 = 200;

/// Lets go of `runtime`: when it was the last reference, its configuration is retired, to be freed in
/// slices from ticks and stream ends (freeing 100,000 rules at once held the VM for ≈ 30 ms). Without a
/// root ticking for that already, the newest live root is made to (an idle worker frees it too).
fn release(c: &mut Contexts, runtime: Option<Rc<Runtime>>) {
    if let Some(Ok(runtime)) = runtime.map(Rc::try_unwrap) {
        c.retiring.push(Retiring::start(runtime.config));
    }
    if c.retiring.is_empty() || c.janitor.is_some_and(|j| c.roots.contains_key(&j)) {
        return;
    }
    let newest = c
        .roots
        .iter()
        .max_by_key(|(_, r)| r.generation)
        .map(|(id, _)| *id);
    c.janitor = newest;
    if let Some(root) = newest {
        // The tick period is set on the effective context's root; this callback makes no other host call
        // after it (release is the last thing `install` and `proxy_on_delete` do).
        if abi::set_effective_context(root)
            .and_then(|()| abi::set_tick_period(BUILD_TICK_MS))
            .is_err()
        {
            c.janitor = None;
        }
    }
}

/// Frees retired configurations for about `units` units of work; true when none is left.
fn retire(c: &mut Contexts, units: u64) -> bool {
    if let Some(first) = c.retiring.first_mut() {
        if first.step(units) {
            c.retiring.remove(0);
        }
    }
    c.retiring.is_empty()
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

const CONTINUE: u32 = 0;
const PAUSE: u32 = 1;

fn action(next: Next) -> u32 {
    match next {
        Next::Continue => CONTINUE,
        Next::Stop => PAUSE,
    }
}

/// Runs `f` on stream `id`'s context with a host for this callback; `None` when there is no such stream or
/// it is already in a callback (re-entered). Calls the stream made are registered for their answers.
fn with_stream<R>(id: u32, f: impl FnOnce(&mut StreamContext, &mut WasmHost<'_>) -> R) -> Option<R> {
    let ctx = CONTEXTS.with(|c| c.try_borrow().ok()?.streams.get(&id).cloned())?;
    let mut ctx = ctx.try_borrow_mut().ok()?;
    let runtime = ctx.runtime.clone();
    let mut host = WasmHost {
        config: runtime.as_deref().map(|r| &r.config),
        metrics: runtime.as_deref().map(|r| &r.metrics),
        calls: Vec::new(),
    };
    let r = f(&mut ctx, &mut host);
    if !host.calls.is_empty() {
        CONTEXTS.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                for token in host.calls {
                    c.calls.insert(token, id);
                }
            }
        });
    }
    Some(r)
}

/// Writes a panic's message to Envoy's log before the trap (panic = abort in the wasm build), so that the
/// cause of a dead VM is never silent.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        abi::log(abi::level::CRITICAL, &format!("routewise: panicked: {info}"));
    }));
}

#[no_mangle]
pub extern "C" fn _initialize() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the reactor's constructors, run once before anything else, as every wasi reactor does.
    unsafe { __wasm_call_ctors() };
    install_panic_hook();
    crate::logger::install();
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host's allocations in the VM (buffers it returns): a boxed slice of exactly `size` bytes, which
/// [`abi`] takes back with `Vec::from_raw_parts(ptr, size, size)`.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut v: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: MaybeUninit needs no initialisation; the length equals the capacity just reserved.
    unsafe { v.set_len(size) };
    Box::into_raw(v.into_boxed_slice()) as *mut u8
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_context_id: u32) {
    CONTEXTS.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else { return };
        if parent_context_id == 0 {
            c.roots.insert(context_id, Root::default());
            return;
        }
        // Without a configuration (none taken yet) the stream answers 500; while its root's is being built,
        // the VM's previous one serves.
        let runtime = match c.roots.get(&parent_context_id) {
            Some(Root { runtime: Some(r), .. }) => Some(Rc::clone(r)),
            Some(root) => c.latest.get(&root.plugin).map(|(_, r)| Rc::clone(r)),
            None => None,
        };
        let ctx = StreamContext {
            runtime,
            stream: Stream::default(),
        };
        c.streams.insert(context_id, Rc::new(RefCell::new(ctx)));
        if !c.had_stream {
            c.had_stream = true;
            start_pending_ticks(&c);
        }
    });
}

/// The VM's first stream: the pushed configurations kept unbuilt until now start building from their
/// roots' ticks. The tick period belongs to the effective context's root, so each root is made effective in
/// turn; this is the last thing the callback does (Envoy sets the effective context again for the next one).
fn start_pending_ticks(c: &Contexts) {
    for (id, _) in c.roots.iter().filter(|(_, r)| r.building.is_some()) {
        if abi::set_effective_context(*id)
            .and_then(|()| abi::set_tick_period(BUILD_TICK_MS))
            .is_err()
        {
            log::warn!(
                "routewise: cannot start building a pushed configuration; the previous one goes on serving"
            );
        }
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_context_id: u32, _vm_configuration_size: usize) -> bool {
    // Not in `_initialize`: Envoy allows only logging and WASI calls while the VM starts
    // (`restricted_callback` for anything else, and the VM fails to load).
    crate::logger::set_level_from_host();
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, _plugin_configuration_size: usize) -> bool {
    let read_from = abi::now_nanos();
    let bytes = match abi::get_buffer(buffer::PLUGIN_CONFIGURATION, 0, usize::MAX) {
        Ok(bytes) => bytes,
        Err(status) => {
            log::error!("routewise: configuration rejected: cannot read it ({status})");
            return false;
        }
    };
    // Envoy lets a VM read its configuration only inside this callback, so a pushed document is copied
    // into the VM in one piece, on the worker: the part of a push that cannot be sliced (issue 13).
    let read = Read {
        bytes: bytes.len(),
        ns: abi::now_nanos().saturating_sub(read_from),
    };
    let plugin = plugin_key();
    let big = bytes.len() >= SLICED_FROM_BYTES;
    let serving = CONTEXTS.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        c.generations += 1;
        let generation = c.generations;
        let serving = c.latest.contains_key(&plugin);
        let root = c.roots.entry(context_id).or_default();
        root.generation = generation;
        root.plugin = plugin;
        Some(serving)
    });
    let mut build = Configuring::start(bytes, Build::ProxyWasm);
    if big && serving == Some(true) {
        let had_stream = CONTEXTS.with(|c| c.try_borrow().map(|c| c.had_stream).unwrap_or(true));
        if !had_stream {
            return start_building(context_id, build, false, read);
        }
        match abi::set_tick_period(BUILD_TICK_MS) {
            Ok(()) => return start_building(context_id, build, true, read),
            // Without ticks the build would never go on: it is built now, in one piece.
            Err(status) => {
                log::warn!("routewise: cannot set a tick period ({status}); building in one piece")
            }
        }
    }
    // In one piece (the same build as from ticks); the bytes are handed over: freed once parsed, before
    // the engine is built (issue 13, memory).
    let done = loop {
        if let Some(done) = build.step(u64::MAX) {
            break done;
        }
    };
    match done {
        Ok(config) => {
            log::info!("{}", config.configured_line());
            install(context_id, config);
            true
        }
        Err(rejected) => {
            log_rejected(&rejected);
            false
        }
    }
}

/// Makes `config` the configuration of root `context_id` and the VM's latest.
fn install(context_id: u32, config: FilterConfig) {
    let metrics = Metrics::new(&config);
    let runtime = Rc::new(Runtime { config, metrics });
    // A rejected update keeps the previous runtime (Envoy keeps the old config too).
    CONTEXTS.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else { return };
        let c = &mut *c;
        let Some(root) = c.roots.get_mut(&context_id) else {
            return;
        };
        let replaced = root.runtime.replace(Rc::clone(&runtime));
        let (generation, plugin) = (root.generation, Rc::clone(&root.plugin));
        release(c, replaced);
        if c.latest.get(&plugin).is_none_or(|(g, _)| *g <= generation) {
            let previous = c.latest.insert(plugin, (generation, runtime));
            release(c, previous.map(|(_, r)| r));
        }
    });
}

fn log_rejected(rejected: &Rejected) {
    for line in rejected.log_lines() {
        log::error!("{line}");
    }
}

/// A configuration pushed to a VM that already serves one: its build goes on from the root's ticks;
/// meanwhile the VM's previous configuration serves the root's streams. In a VM that has had no stream yet
/// (`ticking` false) the build waits for the first one ([`start_pending_ticks`]).
fn start_building(context_id: u32, build: Configuring, ticking: bool, read: Read) -> bool {
    if ticking {
        log::info!(
            "routewise: building the pushed configuration from ticks ({read}); the previous one serves until it \
             is ready"
        );
    } else {
        log::info!(
            "routewise: the pushed configuration is kept unbuilt until this VM's first stream ({read}; no stream \
             has run here: Envoy's main thread runs none)"
        );
    }
    CONTEXTS.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.roots.entry(context_id).or_default().building = Some(Building {
                build,
                ticks: 0,
                longest_ns: 0,
            });
        }
    });
    true
}

/// How long reading a pushed document took, for the log line that starts its build.
struct Read {
    bytes: usize,
    ns: u64,
}

impl std::fmt::Display for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes read in {}", self.bytes, Millis(self.ns))
    }
}

/// Nanoseconds of the host's clock, shown in ms to a tenth (`18.8 ms`) in the push path's log lines.
struct Millis(u64);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} ms", self.0 / 1_000_000, self.0 / 100_000 % 10)
    }
}

/// One slice of the build of a pushed configuration ([`start_building`]), or of freeing retired
/// configurations ([`release`]); a root's ticks stop when it has neither to do.
#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    let building = CONTEXTS.with(|c| {
        c.try_borrow_mut()
            .ok()?
            .roots
            .get_mut(&context_id)?
            .building
            .take()
    });
    if let Some(mut building) = building {
        building.ticks += 1;
        let started = abi::now_nanos();
        let step = building.build.step(UNITS_PER_TICK);
        building.longest_ns = building.longest_ns.max(abi::now_nanos().saturating_sub(started));
        match step {
            None => {
                CONTEXTS.with(|c| {
                    if let Ok(mut c) = c.try_borrow_mut() {
                        if let Some(root) = c.roots.get_mut(&context_id) {
                            root.building = Some(building);
                        }
                    }
                });
                return;
            }
            Some(Ok(config)) => {
                log::info!(
                    "{} (built in {} ticks, the longest {})",
                    config.configured_line(),
                    building.ticks,
                    Millis(building.longest_ns)
                );
                install(context_id, config);
            }
            Some(Err(rejected)) => {
                // Envoy's canary accepted it, so this is unexpected: say so, and keep serving the previous one.
                log_rejected(&rejected);
                log::error!(
                    "routewise: the pushed configuration was rejected by this worker although Envoy accepted it; \
                     the previous configuration goes on serving"
                );
            }
        }
        // The configuration it replaced is freed from the next ticks.
        return;
    }
    let idle = CONTEXTS.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return true;
        };
        let idle = retire(&mut c, UNITS_PER_TICK);
        if idle && c.janitor == Some(context_id) {
            c.janitor = None;
        }
        idle
    });
    if idle {
        let _ = abi::set_tick_period(0);
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, _num_headers: usize, end_of_stream: bool) -> u32 {
    with_stream(context_id, |ctx, host| {
        let config = ctx.runtime.as_deref().map(|r| &r.config);
        action(ctx.stream.on_request_headers(config, host, end_of_stream))
    })
    .unwrap_or(CONTINUE)
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(context_id: u32, body_size: usize, end_of_stream: bool) -> u32 {
    with_stream(context_id, |ctx, host| {
        let config = ctx.runtime.as_deref().map(|r| &r.config);
        action(
            ctx.stream
                .on_request_body(config, host, body_size as u64, end_of_stream),
        )
    })
    .unwrap_or(CONTINUE)
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, _num_trailers: usize) -> u32 {
    with_stream(context_id, |ctx, host| {
        let config = ctx.runtime.as_deref().map(|r| &r.config);
        action(ctx.stream.on_request_trailers(config, host))
    })
    .unwrap_or(CONTINUE)
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(
    context_id: u32,
    _num_headers: usize,
    _end_of_stream: bool,
) -> u32 {
    with_stream(context_id, |ctx, host| {
        action(ctx.stream.on_response_headers(host))
    })
    .unwrap_or(CONTINUE)
}

// Not exported, on purpose: `proxy_on_response_body`, `proxy_on_response_trailers`, `proxy_on_log` and
// `proxy_on_done`. The host skips a callback the module does not export (cpp-host `ContextBase::onResponseBody`,
// `onLog`, `onDone`: continue / true), and each one exported is an entry into V8 for every stream (issue 13:
// the per-stream floor); routewise has nothing to do in them.

/// Envoy delivers a call's answer to the root context (cpp-host `http_call`): the stream that made the call
/// is found by its token and made the effective context, so that the reply goes to its client.
#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    _context_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    let stream_id = CONTEXTS.with(|c| c.try_borrow_mut().ok()?.calls.remove(&token));
    let Some(stream_id) = stream_id else {
        log::debug!("routewise: answer to HTTP call {token}, which no live stream made; ignored");
        return;
    };
    if let Err(status) = abi::set_effective_context(stream_id) {
        log::warn!("routewise: the stream of HTTP call {token} is gone ({status}); answer ignored");
        return;
    }
    // Envoy reports every failed call the same way (no headers): reset, connection failure, overflow.
    let end = if num_headers == 0 {
        CallEnd::Failed {
            detail: "no response from the cluster (connection failure or reset)",
        }
    } else {
        CallEnd::Answered {
            body_len: body_size as u64,
        }
    };
    with_stream(stream_id, |ctx, host| {
        let config = ctx.runtime.as_deref().map(|r| &r.config);
        ctx.stream.on_call_response(config, host, u64::from(token), end);
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    CONTEXTS.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else { return };
        let c = &mut *c;
        if let Some(stream) = c.streams.remove(&context_id) {
            c.calls.retain(|_, stream| *stream != context_id);
            let runtime = stream.try_borrow_mut().ok().and_then(|mut s| s.runtime.take());
            release(c, runtime);
            // A stream's end also frees a slice of what a config push retired (on a worker whose ticks
            // stopped first).
            retire(c, UNITS_PER_DELETE);
        } else if let Some(root) = c.roots.remove(&context_id) {
            // Envoy re-arms a root's tick timer while its period is set, even once the root is gone.
            let _ = abi::set_tick_period(0);
            if c.janitor == Some(context_id) {
                c.janitor = None;
            }
            // A build still under way is dropped at once (a push replaced before it was built).
            drop(root.building);
            release(c, root.runtime);
            if !c.retiring.is_empty() && c.janitor.is_none() {
                release(c, None);
            }
        }
    });
}
