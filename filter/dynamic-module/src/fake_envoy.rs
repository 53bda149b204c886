//! A fake Envoy for the native tests: defines every callback [`crate::ffi`] declares, over one thread-local
//! stream, so that the real hooks run in `cargo test` (catch_unwind, re-entrancy, the ABI mapping). The
//! behaviour of the real Envoy is checked by the container tests (tests/, both builds).
//!
//! Also compiled with the `fake-envoy` feature, for the `dm_ffi` fuzz target ([`crate::fuzz`]); never in a
//! module Envoy loads (its `#[no_mangle]` callbacks would stand in for Envoy's own).
// Envoy's callbacks keep the ABI's safe signatures (as the hooks do): only the module calls them, with the
// pointers the ABI promises.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::cell::RefCell;
use std::ffi::c_void;

use crate::ffi::{Buf, EnvoyConfig, EnvoyFilter, Header};

/// A local reply: status, header lines, body, details.
pub type SentReply = (u32, Vec<(String, String)>, Vec<u8>, String);
/// A response written with `send_response_headers` / `_data`: header lines (`:status` first), body, ended.
pub type WrittenResponse = (Vec<(String, String)>, Vec<u8>, bool);
/// A callout: cluster, header lines, body, timeout.
pub type SentCall = (String, Vec<(String, String)>, Vec<u8>, u64);
/// A streamed call: cluster, header lines, body, end_stream, timeout.
pub type SentStream = (String, Vec<(String, String)>, Vec<u8>, bool, u64);

#[derive(Default)]
pub struct Fake {
    pub request: Vec<(String, String)>,
    pub response: Vec<(String, String)>,
    pub buffered_body: Vec<u8>,
    pub received_body: Vec<u8>,
    pub replies: Vec<SentReply>,
    pub written: Vec<WrittenResponse>,
    pub filter_state: Vec<(String, String)>,
    pub counters: Vec<String>,
    pub increments: Vec<usize>,
    pub route_cache_cleared: usize,
    pub callouts: Vec<SentCall>,
    /// Streamed calls started (`start_http_stream`), in order; the id of the n-th is 100 + n.
    pub streams: Vec<SentStream>,
    /// What `start_http_stream` answers (0: Success).
    pub start_result: u32,
    /// Streamed calls the module reset (`reset_http_stream`), in order.
    pub stream_resets: Vec<u64>,
    /// The module's stream pointer, when a test lets the fake re-enter its hooks as Envoy does: a reset
    /// from inside `start_http_stream` (with `reset_on_start`) and from inside `reset_http_stream`.
    pub module: Option<usize>,
    /// `start_http_stream` delivers a reset of the new stream before it returns (Envoy does when the
    /// connection fails inline).
    pub reset_on_start: bool,
    /// Each `send_response_data` call: bytes and end_stream, in order.
    pub response_pieces: Vec<(Vec<u8>, bool)>,
    /// The client's stream was reset (`reset_stream`): the details, in order.
    pub client_resets: Vec<String>,
    pub logs: Vec<(u32, String)>,
    pub panic_at: Option<&'static str>,
    /// The stream's dynamic metadata keys, as `(namespace, key)`.
    pub dynamic_metadata: Vec<(String, String)>,
    /// When set, the request header lines as raw bytes (names and values that are not UTF-8, as Envoy can
    /// hand them), served instead of `request` until the module edits the request map.
    pub raw_request: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// Header views handed out by get_headers (kept alive until the next call).
    views: Vec<(Vec<u8>, Vec<u8>)>,
    body_views: Vec<Vec<u8>>,
}

thread_local! {
    pub static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
}

/// Resets the fake stream with `request` headers.
pub fn reset(request: &[(&str, &str)]) {
    FAKE.with(|f| {
        let mut f = f.borrow_mut();
        let counters = std::mem::take(&mut f.counters);
        *f = Fake {
            request: request
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            counters,
            ..Fake::default()
        };
    });
}

/// Runs `f` on the fake.
pub fn with<R>(f: impl FnOnce(&mut Fake) -> R) -> R {
    FAKE.with(|fake| f(&mut fake.borrow_mut()))
}

/// Panics when the test asked for a panic in `hook`.
pub fn maybe_panic(hook: &str) {
    if with(|f| f.panic_at == Some(hook)) {
        panic!("test panic in {hook}");
    }
}

fn text(b: Buf) -> String {
    // SAFETY: the module passes views of live data.
    String::from_utf8_lossy(unsafe { b.as_bytes() }).into_owned()
}

fn lines(h: *const Header, n: usize) -> Vec<(String, String)> {
    if h.is_null() {
        return Vec::new();
    }
    // SAFETY: the module passes `n` live header views.
    unsafe { std::slice::from_raw_parts(h, n) }
        .iter()
        // SAFETY: live views.
        .map(|h| unsafe { h.to_owned_lossy() })
        .collect()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_log_enabled(_level: u32) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_log(level: u32, message: Buf) {
    let m = text(message);
    with(|f| f.logs.push((level, m)));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_filter_config_define_counter(
    _config: EnvoyConfig,
    name: Buf,
    _label_names: *const Buf,
    _label_names_len: usize,
    counter_id: *mut usize,
) -> u32 {
    let name = text(name);
    let id = with(|f| {
        f.counters.push(name);
        f.counters.len() - 1
    });
    // SAFETY: the module's out-pointer.
    unsafe { *counter_id = id };
    0
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_filter_increment_counter(
    _filter: EnvoyFilter,
    id: usize,
    _label_values: *const Buf,
    _label_values_len: usize,
    _value: u64,
) -> u32 {
    with(|f| f.increments.push(id));
    0
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_get_headers_size(
    _filter: EnvoyFilter,
    header_type: u32,
) -> usize {
    with(|f| {
        if header_type == 0 {
            f.raw_request.as_ref().map_or(f.request.len(), Vec::len)
        } else {
            f.response.len()
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_get_headers(
    _filter: EnvoyFilter,
    header_type: u32,
    result: *mut Header,
) -> bool {
    with(|f| {
        f.views = match (&f.raw_request, header_type) {
            (Some(raw), 0) => raw.clone(),
            _ => {
                let src = if header_type == 0 { &f.request } else { &f.response };
                src.iter()
                    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect()
            }
        };
        for (i, (n, v)) in f.views.iter().enumerate() {
            // SAFETY: the module allocated `size` entries.
            unsafe {
                *result.add(i) = Header {
                    key_ptr: n.as_ptr(),
                    key_len: n.len(),
                    value_ptr: v.as_ptr(),
                    value_len: v.len(),
                };
            }
        }
    });
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_set_header(
    _filter: EnvoyFilter,
    header_type: u32,
    key: Buf,
    value: Buf,
) -> bool {
    let (k, v) = (
        text(key),
        (!value.ptr.is_null() && value.len > 0).then(|| text(value)),
    );
    with(|f| {
        materialise(f);
        let map = if header_type == 0 {
            &mut f.request
        } else {
            &mut f.response
        };
        map.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
        if let Some(v) = v {
            map.push((k, v));
        }
    });
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_add_header(
    _filter: EnvoyFilter,
    header_type: u32,
    key: Buf,
    value: Buf,
) -> bool {
    let (k, v) = (text(key), text(value));
    with(|f| {
        materialise(f);
        let map = if header_type == 0 {
            &mut f.request
        } else {
            &mut f.response
        };
        map.push((k, v));
    });
    true
}

/// The module edits the request map: raw lines become text lines (lossily, as Envoy's map would show them).
fn materialise(f: &mut Fake) {
    if let Some(raw) = f.raw_request.take() {
        f.request = raw
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
    }
}

fn body_of(f: &Fake, body_type: u32) -> &[u8] {
    if body_type == 1 {
        &f.buffered_body
    } else {
        &f.received_body
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_get_body_chunks_size(
    _filter: EnvoyFilter,
    body_type: u32,
) -> usize {
    with(|f| usize::from(!body_of(f, body_type).is_empty()))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_get_body_chunks(
    _filter: EnvoyFilter,
    body_type: u32,
    result: *mut Buf,
) -> bool {
    with(|f| {
        let body = body_of(f, body_type).to_vec();
        f.body_views = vec![body];
        if let Some(b) = f.body_views.first() {
            // SAFETY: the module allocated one entry (chunks_size said 1).
            unsafe { *result = Buf::of(b) };
        }
    });
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_get_body_size(
    _filter: EnvoyFilter,
    body_type: u32,
) -> usize {
    with(|f| body_of(f, body_type).len())
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_received_buffered_request_body(
    _filter: EnvoyFilter,
) -> bool {
    false
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_send_response(
    _filter: EnvoyFilter,
    status: u32,
    headers: *const Header,
    headers_len: usize,
    body: Buf,
    details: Buf,
) {
    let reply = (
        status,
        lines(headers, headers_len),
        // SAFETY: a live view.
        unsafe { body.as_bytes() }.to_vec(),
        text(details),
    );
    with(|f| f.replies.push(reply));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_send_response_headers(
    _filter: EnvoyFilter,
    headers: *const Header,
    headers_len: usize,
    end_stream: bool,
) {
    let lines = lines(headers, headers_len);
    with(|f| f.written.push((lines, Vec::new(), end_stream)));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_send_response_data(
    _filter: EnvoyFilter,
    data: Buf,
    end_stream: bool,
) {
    // SAFETY: a live view.
    let bytes = unsafe { data.as_bytes() }.to_vec();
    with(|f| {
        f.response_pieces.push((bytes.clone(), end_stream));
        if let Some(w) = f.written.last_mut() {
            w.1.extend_from_slice(&bytes);
            w.2 = end_stream;
        }
    });
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn envoy_dynamic_module_callback_http_filter_start_http_stream(
    _filter: EnvoyFilter,
    stream_id: *mut u64,
    cluster: Buf,
    headers: *const Header,
    headers_len: usize,
    body: Buf,
    end_stream: bool,
    timeout_ms: u64,
) -> u32 {
    let call = (
        text(cluster),
        lines(headers, headers_len),
        // SAFETY: a live view.
        unsafe { body.as_bytes() }.to_vec(),
        end_stream,
        timeout_ms,
    );
    let (result, id, reenter) = with(|f| {
        if f.start_result != 0 {
            return (f.start_result, 0, None);
        }
        f.streams.push(call);
        let id = 100 + f.streams.len() as u64;
        (0, id, f.module.filter(|_| f.reset_on_start))
    });
    if result != 0 {
        return result;
    }
    // SAFETY: the module's out-pointer.
    unsafe { *stream_id = id };
    if let Some(module) = reenter {
        // As Envoy: the reset hook runs inside start_http_stream (the fake is not borrowed here).
        crate::hooks::envoy_dynamic_module_on_http_filter_http_stream_reset(
            envoy_filter(),
            module as *const c_void,
            id,
            0,
        );
    }
    0
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_filter_reset_http_stream(
    _filter: EnvoyFilter,
    stream_id: u64,
) {
    let module = with(|f| {
        f.stream_resets.push(stream_id);
        f.module
    });
    if let Some(module) = module {
        // As Envoy: resetting the call runs its reset hook at once (re-entering the module).
        crate::hooks::envoy_dynamic_module_on_http_filter_http_stream_reset(
            envoy_filter(),
            module as *const c_void,
            stream_id,
            0,
        );
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_filter_reset_stream(
    _filter: EnvoyFilter,
    _reason: u32,
    details: Buf,
) {
    let d = text(details);
    with(|f| f.client_resets.push(d));
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_clear_route_cache(_filter: EnvoyFilter) {
    with(|f| f.route_cache_cleared += 1);
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
    _filter: EnvoyFilter,
    key: Buf,
    value: Buf,
) -> bool {
    let (k, v) = (text(key), text(value));
    with(|f| f.filter_state.push((k, v)));
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_get_metadata_keys_count(
    _filter: EnvoyFilter,
    metadata_source: u32,
    ns: Buf,
) -> usize {
    let ns = text(ns);
    with(|f| {
        f.dynamic_metadata
            .iter()
            .filter(|(n, _)| metadata_source == 0 && *n == ns)
            .count()
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_get_metadata_keys(
    _filter: EnvoyFilter,
    metadata_source: u32,
    ns: Buf,
    result: *mut Buf,
) -> bool {
    let ns = text(ns);
    if metadata_source != 0 || result.is_null() {
        return false;
    }
    // Envoy's views stay valid for the hook: leaked here (a test process, a few bytes per call).
    let keys: Vec<&'static [u8]> = with(|f| {
        f.dynamic_metadata
            .iter()
            .filter(|(n, _)| *n == ns)
            .map(|(_, k)| &*Box::leak(k.clone().into_bytes().into_boxed_slice()))
            .collect()
    });
    for (i, k) in keys.iter().enumerate() {
        // SAFETY: the module allocated as many buffers as `_keys_count` returned.
        unsafe { *result.add(i) = Buf::of(k) };
    }
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
    _filter: EnvoyFilter,
    attribute_id: u32,
    result: *mut Buf,
) -> bool {
    let value: &'static str = match attribute_id {
        24 => "203.0.113.9:5555",
        10 => "HTTP/1.1",
        _ => return false,
    };
    // SAFETY: the module's out-pointer; a static view.
    unsafe { *result = Buf::of(value.as_bytes()) };
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_callback_http_filter_http_callout(
    _filter: EnvoyFilter,
    callout_id: *mut u64,
    cluster: Buf,
    headers: *const Header,
    headers_len: usize,
    body: Buf,
    timeout_ms: u64,
) -> u32 {
    let call = (
        text(cluster),
        lines(headers, headers_len),
        // SAFETY: a live view.
        unsafe { body.as_bytes() }.to_vec(),
        timeout_ms,
    );
    let id = with(|f| {
        f.callouts.push(call);
        f.callouts.len() as u64
    });
    // SAFETY: the module's out-pointer.
    unsafe { *callout_id = id };
    0
}

/// A non-null stand-in for Envoy's per-stream pointer.
pub fn envoy_filter() -> EnvoyFilter {
    std::ptr::NonNull::<c_void>::dangling().as_ptr()
}
