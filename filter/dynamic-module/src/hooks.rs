//! The hooks Envoy calls (`envoy_dynamic_module_on_*`): program init, the filter config, and the 20 stream
//! hooks Envoy 1.40 requires. Every hook runs inside `catch_unwind`: an unwind across the FFI would abort
//! Envoy, so a panic becomes a logged, counted `500` for its stream (or, on the response path, the
//! response goes on as it is) and the next stream is served as usual.
//!
//! Each stream's state is a [`StreamFilter`] that Envoy holds as an opaque pointer. Hooks only take shared
//! references to it and borrow its state with `try_borrow_mut`, never across a callback that could re-enter
//! (Envoy 1.40 re-enters hooks synchronously, e.g. from `send_response`): a re-entered hook finds the
//! state busy and lets the stream continue.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use routewise::names::outcome;
use routewise::pipeline::{CallEnd, Host, Next, Stream};

use crate::config::ModuleConfig;
use crate::ffi::{callout_result, status, Buf, EnvoyConfig, EnvoyFilter, Header};
use crate::host::{CallAnswer, DmHost};

/// One stream's state.
pub struct StreamFilter {
    config: Arc<ModuleConfig>,
    state: RefCell<State>,
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
    let run = catch_unwind(AssertUnwindSafe(|| {
        let Ok(mut state) = filter.state.try_borrow_mut() else {
            return status::CONTINUE;
        };
        if state.poisoned {
            return on_panic;
        }
        let mut host = DmHost {
            filter: envoy,
            config: Some(&filter.config),
            answer,
            in_body_hook,
        };
        f(&mut state.stream, &mut host)
    }));
    match run {
        Ok(s) => s,
        Err(_) => {
            after_panic(envoy, filter, on_panic == status::STOP_ITERATION);
            on_panic
        }
    }
}

/// A hook panicked: the stream is poisoned, counted as an internal error and, on the request path (unless
/// the filter had answered already), answered 500.
fn after_panic(envoy: EnvoyFilter, filter: &StreamFilter, reply: bool) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Ok(mut state) = filter.state.try_borrow_mut() else {
            return;
        };
        state.poisoned = true;
        let replied = state.stream.replied();
        drop(state);
        let mut host = DmHost {
            filter: envoy,
            config: Some(&filter.config),
            answer: None,
            in_body_hook: false,
        };
        host.count(filter.config.config.counters.outcome(outcome::INTERNAL_ERROR));
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
    }));
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
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _envoy: EnvoyFilter,
    _module: *const c_void,
) {
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

// The rest of the hooks Envoy 1.40 requires: streamed calls, scheduled events and write-buffer watermarks
// are not used by this filter.

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _envoy: EnvoyFilter,
    _module: *const c_void,
    _stream_id: u64,
    _headers: *const Header,
    _headers_len: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _envoy: EnvoyFilter,
    _module: *const c_void,
    _stream_id: u64,
    _data: *const Buf,
    _data_len: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _envoy: EnvoyFilter,
    _module: *const c_void,
    _stream_id: u64,
    _trailers: *const Header,
    _trailers_len: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _envoy: EnvoyFilter,
    _module: *const c_void,
    _stream_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _envoy: EnvoyFilter,
    _module: *const c_void,
    _stream_id: u64,
    _reason: u32,
) {
}

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
