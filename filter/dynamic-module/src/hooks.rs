//! The hooks Envoy calls (`envoy_dynamic_module_on_*`): program init, the filter config, and the 20 stream
//! hooks Envoy 1.40 requires. Every hook runs inside `catch_unwind`: an unwind across the FFI would abort
//! Envoy, so a panic becomes a logged, counted `500` for its stream (or, on the response path, the
//! response goes on as it is) and the next stream is served as usual.
//!
//! Each stream's state is a [`StreamFilter`] that Envoy holds as an opaque pointer. Hooks only take shared
//! references to it and borrow its state with `try_borrow_mut`, never across a callback that could re-enter
//! (Envoy 1.40 re-enters hooks synchronously, e.g. from `send_response`): a re-entered hook finds the
//! state busy and lets the stream continue.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use routewise::names::outcome;
use routewise::pipeline::lambda_stream::ABORT_DETAILS;
use routewise::pipeline::{CallEnd, Host, Next, Stream, StreamEvent};

use crate::config::ModuleConfig;
use crate::ffi::{self, callout_result, status, stream_reset_reason, Buf, EnvoyConfig, EnvoyFilter, Header};
use crate::host::{CallAnswer, DmHost};

/// One stream's state.
pub struct StreamFilter {
    config: Arc<ModuleConfig>,
    state: RefCell<State>,
    /// Streamed-call events Envoy delivered while a hook of this stream was running (it re-enters
    /// synchronously, e.g. a reset from inside `start_http_stream` or `reset_http_stream`): handled in
    /// order once that hook is done with the state, never dropped. Bounded ([`MAX_QUEUED`]).
    queued: RefCell<VecDeque<Queued>>,
    /// Bytes of body held in `queued`.
    queued_bytes: Cell<usize>,
}

/// Most events held for a busy stream, and most body bytes among them: past either, the call is taken as
/// reset (the answer cannot be passed on whole), which the pipeline turns into a 502 or a client reset.
const MAX_QUEUED: usize = 64;
const MAX_QUEUED_BYTES: usize = 1024 * 1024;

/// An owned copy of a [`StreamEvent`] (Envoy's views die with the hook).
#[derive(Debug)]
enum Queued {
    Headers(u64, Vec<(String, String)>, bool),
    Data(u64, Vec<u8>, bool),
    End(u64),
    Reset(u64),
    /// The client's stream completed while a hook ran (ending a streamed answer can complete it at once).
    ClientDone,
}

impl Queued {
    fn of(event: StreamEvent<'_>) -> Option<Queued> {
        Some(match event {
            StreamEvent::Headers {
                id,
                headers,
                end_of_stream,
            } => Queued::Headers(id, headers.to_vec(), end_of_stream),
            StreamEvent::Data {
                id,
                data,
                end_of_stream,
            } => Queued::Data(id, data.to_vec(), end_of_stream),
            StreamEvent::End { id } => Queued::End(id),
            StreamEvent::Reset { id } => Queued::Reset(id),
            StreamEvent::ClientDone => Queued::ClientDone,
        })
    }

    fn event(&self) -> StreamEvent<'_> {
        match self {
            Queued::Headers(id, headers, end) => StreamEvent::Headers {
                id: *id,
                headers,
                end_of_stream: *end,
            },
            Queued::Data(id, data, end) => StreamEvent::Data {
                id: *id,
                data,
                end_of_stream: *end,
            },
            Queued::End(id) => StreamEvent::End { id: *id },
            Queued::Reset(id) => StreamEvent::Reset { id: *id },
            Queued::ClientDone => StreamEvent::ClientDone,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Queued::Data(_, d, _) => d.len(),
            Queued::Headers(_, h, _) => h.iter().map(|(n, v)| n.len() + v.len()).sum(),
            _ => 0,
        }
    }
}

impl StreamFilter {
    /// Holds `event` for later (the stream is busy). Past the bounds, a reset of the call instead.
    fn enqueue(&self, event: StreamEvent<'_>) {
        let Some(q) = Queued::of(event) else {
            return;
        };
        let Ok(mut queue) = self.queued.try_borrow_mut() else {
            return;
        };
        let bytes = self.queued_bytes.get().saturating_add(q.bytes());
        if queue.len() >= MAX_QUEUED || bytes > MAX_QUEUED_BYTES {
            let id = match &q {
                Queued::Headers(id, ..) | Queued::Data(id, ..) | Queued::End(id) | Queued::Reset(id) => *id,
                // Once per stream, and it must not be lost (it resets a call still open): always kept.
                Queued::ClientDone => {
                    queue.push_back(q);
                    return;
                }
            };
            log::warn!(
                "routewise: too many streamed-call events for a busy stream; taking stream {id} as reset"
            );
            if !matches!(queue.back(), Some(Queued::Reset(last)) if *last == id) {
                queue.push_back(Queued::Reset(id));
            }
            return;
        }
        self.queued_bytes.set(bytes);
        queue.push_back(q);
    }

    fn dequeue(&self) -> Option<Queued> {
        let q = self.queued.try_borrow_mut().ok()?.pop_front()?;
        self.queued_bytes
            .set(self.queued_bytes.get().saturating_sub(q.bytes()));
        Some(q)
    }
}

struct State {
    stream: Stream,
    /// A hook panicked: the stream was answered 500 (or left to go on), nothing more is done for it.
    poisoned: bool,
}

/// The ABI version this module is built against (Envoy 1.40.0's). Envoy 1.39 expects `v0.1.0`: it logs
/// a deprecation warning and loads the module all the same.
const ABI_VERSION: &std::ffi::CStr = c"v0.2.0";

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    let ok = catch_unwind(|| {
        crate::logger::install();
        install_panic_hook();
    });
    if ok.is_err() {
        return std::ptr::null();
    }
    ABI_VERSION.as_ptr()
}

/// A panic's message goes to Envoy's log (the hook that caught it answers 500 and says so too).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        log::error!("routewise: panicked: {info}");
    }));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    envoy: EnvoyConfig,
    _name: Buf,
    config: Buf,
) -> *const c_void {
    let built = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Envoy's view of the filter_config bytes, valid during this call.
        let bytes = unsafe { config.as_bytes() };
        ModuleConfig::new(envoy, bytes)
    }));
    match built {
        Ok(Ok(config)) => {
            log::info!("{}", config.config.configured_line());
            Arc::into_raw(Arc::new(config)).cast()
        }
        Ok(Err(lines)) => {
            // Envoy refuses the filter config on NULL and keeps serving the previous one (ECDS NACK).
            for line in lines {
                log::error!("{line}");
            }
            std::ptr::null()
        }
        Err(_) => {
            log::error!("routewise: configuration rejected: internal error while building it");
            std::ptr::null()
        }
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: *const c_void) {
    if config.is_null() {
        return;
    }
    let _ = catch_unwind(|| {
        // SAFETY: `config` came from `Arc::into_raw` in config_new; Envoy destroys it once.
        drop(unsafe { Arc::from_raw(config.cast::<ModuleConfig>()) });
    });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: *const c_void,
    _envoy: EnvoyFilter,
) -> *const c_void {
    if config.is_null() {
        return std::ptr::null();
    }
    catch_unwind(|| {
        // SAFETY: `config` is a live `Arc<ModuleConfig>` pointer (Envoy keeps the config alive while
        // streams use it); one more strong count for this stream.
        let config = unsafe {
            Arc::increment_strong_count(config.cast::<ModuleConfig>());
            Arc::from_raw(config.cast::<ModuleConfig>())
        };
        let filter = StreamFilter {
            config,
            state: RefCell::new(State {
                stream: Stream::default(),
                poisoned: false,
            }),
            queued: RefCell::new(VecDeque::new()),
            queued_bytes: Cell::new(0),
        };
        Box::into_raw(Box::new(filter)).cast_const().cast::<c_void>()
    })
    .unwrap_or(std::ptr::null())
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter: *const c_void) {
    if filter.is_null() {
        return;
    }
    let _ = catch_unwind(|| {
        // SAFETY: `filter` came from `Box::into_raw` in filter_new; Envoy destroys it once, after its last
        // hook (1.40 defers destroy until the stream is gone).
        drop(unsafe { Box::from_raw(filter.cast::<StreamFilter>().cast_mut()) });
    });
}

/// The stream behind Envoy's opaque pointer.
///
/// # Safety
/// `module` is null or a pointer from filter_new not yet destroyed.
unsafe fn stream_filter<'a>(module: *const c_void) -> Option<&'a StreamFilter> {
    module.cast::<StreamFilter>().as_ref()
}

/// Runs `f` on the stream's state with a host for this hook. A re-entered hook (state busy) returns
/// `busy`; a poisoned stream `poisoned`; a panic answers 500 (request path) and returns `on_panic`.
///
/// Then, unless re-entered: the streamed-call events queued while the state was busy are handled in order,
/// and last of all, when the pipeline asked for it, the client's stream is reset (after which nothing of
/// this stream is touched: a reset may end it).
fn with_stream(
    envoy: EnvoyFilter,
    module: *const c_void,
    in_body_hook: bool,
    answer: Option<CallAnswer<'_>>,
    on_panic: u32,
    f: impl FnOnce(&mut Stream, &mut DmHost<'_>) -> u32,
) -> u32 {
    // SAFETY: Envoy passes the pointer filter_new returned, until destroy.
    let Some(filter) = (unsafe { stream_filter(module) }) else {
        return status::CONTINUE;
    };
    if filter.state.try_borrow_mut().is_err() {
        // Re-entered: the running hook goes on with the state, and drains the queue.
        return status::CONTINUE;
    }
    let (status, mut abort) = run_hook(envoy, filter, in_body_hook, answer, on_panic, f);
    abort |= drain(envoy, filter);
    if abort {
        reset_client_stream(envoy);
    }
    status
}

/// [`with_stream`]'s body for one callback: `(status, abort requested)`.
fn run_hook(
    envoy: EnvoyFilter,
    filter: &StreamFilter,
    in_body_hook: bool,
    answer: Option<CallAnswer<'_>>,
    on_panic: u32,
    f: impl FnOnce(&mut Stream, &mut DmHost<'_>) -> u32,
) -> (u32, bool) {
    let run = catch_unwind(AssertUnwindSafe(|| {
        let Ok(mut state) = filter.state.try_borrow_mut() else {
            return (status::CONTINUE, false);
        };
        if state.poisoned {
            return (on_panic, false);
        }
        let mut host = DmHost {
            filter: envoy,
            config: Some(&filter.config),
            answer,
            in_body_hook,
            abort_requested: false,
        };
        let s = f(&mut state.stream, &mut host);
        (s, host.abort_requested)
    }));
    match run {
        Ok(r) => r,
        Err(_) => (
            on_panic,
            after_panic(envoy, filter, on_panic == status::STOP_ITERATION),
        ),
    }
}

/// Handles the queued streamed-call events; true when one of them asked to reset the client's stream.
fn drain(envoy: EnvoyFilter, filter: &StreamFilter) -> bool {
    let mut abort = false;
    // Each event is handled once; handling may queue more (a reset the pipeline asked for), at most
    // MAX_QUEUED at a time, and a finished exchange queues nothing: the loop ends.
    while filter.state.try_borrow_mut().is_ok() {
        let Some(q) = filter.dequeue() else {
            break;
        };
        let (_, a) = run_hook(
            envoy,
            filter,
            false,
            None,
            status::STOP_ITERATION,
            |stream, host| {
                let config = host.config.map(|c| &c.config);
                stream.on_stream_event(config, host, q.event());
                status::CONTINUE
            },
        );
        abort |= a;
    }
    abort
}

/// Resets the client's stream (a streamed answer failed after its head: lambda-streaming.md §6).
fn reset_client_stream(envoy: EnvoyFilter) {
    log::debug!("routewise: resetting the client's stream ({ABORT_DETAILS})");
    // SAFETY: a plain call on Envoy's live stream; the module touches nothing of the stream afterwards.
    unsafe {
        ffi::envoy_dynamic_module_callback_http_filter_reset_stream(
            envoy,
            stream_reset_reason::LOCAL_RESET,
            Buf::of(ABORT_DETAILS.as_bytes()),
        );
    }
}

/// A hook panicked: the stream is poisoned, counted as an internal error, an open streamed call reset
/// and, on the request path (unless the filter had answered already), answered 500. Returns true when the
/// client already has the head of a streamed answer: its stream must be reset instead.
fn after_panic(envoy: EnvoyFilter, filter: &StreamFilter, reply: bool) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(mut state) = filter.state.try_borrow_mut() else {
            return false;
        };
        state.poisoned = true;
        let mut host = DmHost {
            filter: envoy,
            config: Some(&filter.config),
            answer: None,
            in_body_hook: false,
            abort_requested: false,
        };
        let replied = state.stream.replied();
        let head_sent = state.stream.abandon(&mut host);
        drop(state);
        if let Ok(mut q) = filter.queued.try_borrow_mut() {
            q.clear();
        }
        host.count(filter.config.config.counters.outcome(outcome::INTERNAL_ERROR));
        if head_sent {
            log::error!(
                "routewise: internal error: a hook panicked mid-stream; resetting the client's stream"
            );
            return true;
        }
        if reply && !replied {
            log::error!("routewise: internal error: a hook panicked; answering 500");
            let _ = host.set_filter_state(routewise::names::property::OUTCOME, outcome::INTERNAL_ERROR);
            let body = routewise::names::body::INTERNAL_ERROR.as_bytes();
            let _ = host.send_local_reply(&routewise::pipeline::Reply {
                status: 500,
                headers: &[("content-type", "application/json")],
                body,
                details: routewise::pipeline::reply_details(outcome::INTERNAL_ERROR),
            });
        } else {
            log::error!("routewise: internal error: a hook panicked; the stream goes on untouched");
        }
        false
    }))
    .unwrap_or(false)
}

fn headers_status(next: Next) -> u32 {
    match next {
        Next::Continue => status::CONTINUE,
        Next::Stop => status::STOP_ITERATION,
    }
}

fn body_status(next: Next) -> u32 {
    match next {
        Next::Continue => status::CONTINUE,
        Next::Stop => status::STOP_AND_BUFFER,
    }
}

/// `fault-injection` builds only (never shipped): a request carrying `x-routewise-fault: panic` makes the
/// request-headers hook panic, so that tests can show what a panic becomes in a real Envoy.
#[cfg(feature = "fault-injection")]
fn inject_fault(host: &mut DmHost<'_>) {
    let asked = host
        .request_headers()
        .is_ok_and(|h| h.iter().any(|(n, v)| n == "x-routewise-fault" && v == "panic"));
    if asked {
        panic!("fault injected by x-routewise-fault: panic");
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    envoy: EnvoyFilter,
    module: *const c_void,
    end_of_stream: bool,
) -> u32 {
    with_stream(
        envoy,
        module,
        false,
        None,
        status::STOP_ITERATION,
        |stream, host| {
            #[cfg(feature = "fault-injection")]
            inject_fault(host);
            #[cfg(test)]
            crate::fake_envoy::maybe_panic("request_headers");
            let config = host.config.map(|c| &c.config);
            headers_status(stream.on_request_headers(config, host, end_of_stream))
        },
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    envoy: EnvoyFilter,
    module: *const c_void,
    end_of_stream: bool,
) -> u32 {
    with_stream(
        envoy,
        module,
        true,
        None,
        status::STOP_AND_BUFFER,
        |stream, host| {
            #[cfg(test)]
            crate::fake_envoy::maybe_panic("request_body");
            let buffered = host.buffered_request_body_len();
            let config = host.config.map(|c| &c.config);
            body_status(stream.on_request_body(config, host, buffered, end_of_stream))
        },
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    envoy: EnvoyFilter,
    module: *const c_void,
) -> u32 {
    with_stream(
        envoy,
        module,
        false,
        None,
        status::STOP_ITERATION,
        |stream, host| {
            let config = host.config.map(|c| &c.config);
            headers_status(stream.on_request_trailers(config, host))
        },
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    envoy: EnvoyFilter,
    module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    with_stream(envoy, module, false, None, status::CONTINUE, |stream, host| {
        #[cfg(test)]
        crate::fake_envoy::maybe_panic("response_headers");
        headers_status(stream.on_response_headers(host))
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _envoy: EnvoyFilter,
    _module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    status::CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _envoy: EnvoyFilter,
    _module: *const c_void,
) -> u32 {
    status::CONTINUE
}

#[no_mangle]
// Called by Envoy only, with the pointer filter_new returned (the ABI's contract).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    envoy: EnvoyFilter,
    module: *const c_void,
) {
    // The client's stream is over: a streamed call still open is reset (lambda-streaming.md §6). Re-entered
    // (a hook of this stream ended the response, which completed the stream at once): queued for that hook.
    // SAFETY: Envoy passes the pointer filter_new returned, until destroy.
    if let Some(filter) = unsafe { stream_filter(module) } {
        if filter.state.try_borrow_mut().is_err() {
            let _ = catch_unwind(AssertUnwindSafe(|| filter.enqueue(StreamEvent::ClientDone)));
            return;
        }
    }
    with_stream(envoy, module, false, None, status::CONTINUE, |stream, host| {
        let config = host.config.map(|c| &c.config);
        stream.on_stream_event(config, host, StreamEvent::ClientDone);
        status::CONTINUE
    });
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
// Called by Envoy only, with arrays valid for the hook's duration (the ABI's contract); a safe signature
// keeps every hook alike.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    envoy: EnvoyFilter,
    module: *const c_void,
    callout_id: u64,
    result: u32,
    headers: *const Header,
    headers_len: usize,
    body_chunks: *const Buf,
    body_chunks_len: usize,
) {
    // SAFETY: Envoy's arrays, valid until this hook returns (null when the call failed).
    let (headers, body) = unsafe {
        (
            if headers.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(headers, headers_len)
            },
            if body_chunks.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(body_chunks, body_chunks_len)
            },
        )
    };
    let end = if result == callout_result::SUCCESS {
        CallEnd::Answered {
            body_len: body.iter().map(|c| c.len as u64).sum(),
        }
    } else {
        CallEnd::Failed {
            detail: callout_result::NAMES
                .get(result as usize)
                .copied()
                .unwrap_or("unknown failure"),
        }
    };
    let answer = CallAnswer { headers, body };
    with_stream(
        envoy,
        module,
        false,
        Some(answer),
        status::STOP_ITERATION,
        |stream, host| {
            let config = host.config.map(|c| &c.config);
            stream.on_call_response(config, host, callout_id, end);
            status::CONTINUE
        },
    );
}

/// A streamed-call hook: the event goes to the pipeline now, or, when a hook of this stream is running
/// (Envoy re-entered), is queued for it ([`StreamFilter::enqueue`]).
fn stream_hook(envoy: EnvoyFilter, module: *const c_void, event: StreamEvent<'_>) {
    // SAFETY: Envoy passes the pointer filter_new returned, until destroy.
    let Some(filter) = (unsafe { stream_filter(module) }) else {
        return;
    };
    if filter.state.try_borrow_mut().is_err() {
        let _ = catch_unwind(AssertUnwindSafe(|| filter.enqueue(event)));
        return;
    }
    with_stream(
        envoy,
        module,
        false,
        None,
        status::STOP_ITERATION,
        |stream, host| {
            #[cfg(test)]
            crate::fake_envoy::maybe_panic("http_stream");
            let config = host.config.map(|c| &c.config);
            stream.on_stream_event(config, host, event);
            status::CONTINUE
        },
    );
}

/// Envoy's header views as owned lines.
///
/// # Safety
/// `headers` is null or valid for `len` entries, each valid for the hook's duration.
unsafe fn owned_lines(headers: *const Header, len: usize) -> Vec<(String, String)> {
    if headers.is_null() {
        return Vec::new();
    }
    std::slice::from_raw_parts(headers, len)
        .iter()
        .map(|h| h.to_owned_lossy())
        .collect()
}

#[no_mangle]
// Called by Envoy only, with arrays valid for the hook's duration (the ABI's contract).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    envoy: EnvoyFilter,
    module: *const c_void,
    stream_id: u64,
    headers: *const Header,
    headers_len: usize,
    end_stream: bool,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Envoy's array, valid until this hook returns.
        let lines = unsafe { owned_lines(headers, headers_len) };
        stream_hook(
            envoy,
            module,
            StreamEvent::Headers {
                id: stream_id,
                headers: &lines,
                end_of_stream: end_stream,
            },
        );
    }));
}

#[no_mangle]
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    envoy: EnvoyFilter,
    module: *const c_void,
    stream_id: u64,
    data: *const Buf,
    data_len: usize,
    end_stream: bool,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Envoy's array of slices, valid until this hook returns.
        let slices = if data.is_null() {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(data, data_len) }
        };
        // Each slice in order, the last one carrying the end (none: an empty end).
        let n = slices.len();
        if n == 0 {
            stream_hook(
                envoy,
                module,
                StreamEvent::Data {
                    id: stream_id,
                    data: &[],
                    end_of_stream: end_stream,
                },
            );
        }
        for (i, slice) in slices.iter().enumerate() {
            stream_hook(
                envoy,
                module,
                StreamEvent::Data {
                    id: stream_id,
                    // SAFETY: a view Envoy passed to this hook.
                    data: unsafe { slice.as_bytes() },
                    end_of_stream: end_stream && i + 1 == n,
                },
            );
        }
    }));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    envoy: EnvoyFilter,
    module: *const c_void,
    stream_id: u64,
    _trailers: *const Header,
    _trailers_len: usize,
) {
    // The Invoke answer's trailers carry nothing the client gets; they end its body.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        stream_hook(envoy, module, StreamEvent::End { id: stream_id });
    }));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    envoy: EnvoyFilter,
    module: *const c_void,
    stream_id: u64,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        stream_hook(envoy, module, StreamEvent::End { id: stream_id });
    }));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    envoy: EnvoyFilter,
    module: *const c_void,
    stream_id: u64,
    _reason: u32,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        stream_hook(envoy, module, StreamEvent::Reset { id: stream_id });
    }));
}

// The rest of the hooks Envoy 1.40 requires: scheduled events and write-buffer watermarks are not used by
// this filter.

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _envoy: EnvoyFilter,
    _module: *const c_void,
    _event_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _envoy: EnvoyFilter,
    _module: *const c_void,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _envoy: EnvoyFilter,
    _module: *const c_void,
) {
}
