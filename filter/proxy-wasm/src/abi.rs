//! The proxy-wasm host calls the filter makes (ABI 0.2.1), declared here rather than taken from the SDK's
//! `hostcalls`: those panic on any status they do not expect (a trap that kills the worker's VM,
//! proxy-wasm-host.md §1.6), where every status here is a `Result` the pipeline turns into a logged 500.
//! Maps returned by the host are parsed with bounds checks, never trusted.

use std::ptr::{null, null_mut};

use crate::wire;

/// A proxy-wasm status other than OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            1 => "NotFound",
            2 => "BadArgument",
            3 => "SerializationFailure",
            4 => "ParseFailure",
            7 => "Empty",
            8 => "CasMismatch",
            10 => "InternalFailure",
            _ => return write!(f, "status {}", self.0),
        };
        f.write_str(name)
    }
}

/// `proxy_log_level`.
pub mod level {
    /// Trace.
    pub const TRACE: u32 = 0;
    /// Debug.
    pub const DEBUG: u32 = 1;
    /// Info.
    pub const INFO: u32 = 2;
    /// Warn.
    pub const WARN: u32 = 3;
    /// Error.
    pub const ERROR: u32 = 4;
    /// Critical.
    pub const CRITICAL: u32 = 5;
}

/// `proxy_map_type`.
pub mod map {
    /// Request headers.
    pub const REQUEST_HEADERS: u32 = 0;
    /// Response headers.
    pub const RESPONSE_HEADERS: u32 = 2;
    /// Headers of an HTTP call's answer.
    pub const CALL_RESPONSE_HEADERS: u32 = 6;
}

/// `proxy_buffer_type`.
pub mod buffer {
    /// The request body.
    pub const REQUEST_BODY: u32 = 0;
    /// The body of an HTTP call's answer.
    pub const CALL_RESPONSE_BODY: u32 = 4;
    /// The plugin's configuration.
    pub const PLUGIN_CONFIGURATION: u32 = 7;
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_buffer_bytes(
        buffer: u32,
        start: usize,
        max_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_property(path: *const u8, path_size: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_set_property(path: *const u8, path_size: usize, value: *const u8, value_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_http_call(
        upstream: *const u8,
        upstream_size: usize,
        headers: *const u8,
        headers_size: usize,
        body: *const u8,
        body_size: usize,
        trailers: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        token: *mut u32,
    ) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        results: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
    fn proxy_log(level: u32, message: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(level: *mut u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_define_metric(metric_type: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_set_tick_period_milliseconds(period_ms: u32) -> u32;
}

fn ok(status: u32) -> Result<(), Status> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Takes ownership of a buffer the host allocated through `proxy_on_memory_allocate` (the SDK's
/// allocator: a boxed slice of exactly `size` bytes).
///
/// # Safety
/// `data` is null or was returned by the host for `size` bytes.
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Every line of a header map: names as text, values as bytes.
pub fn get_map(map: u32) -> Result<Vec<(String, Vec<u8>)>, Status> {
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: out-pointers to locals; the host writes a buffer it allocated with our allocator.
    let bytes = unsafe {
        ok(proxy_get_header_map_pairs(map, &mut data, &mut size))?;
        take(data, size)
    };
    Ok(wire::parse_map(&bytes).unwrap_or_default())
}

/// Removes every line of header `key`.
pub fn remove_map_value(map: u32, key: &str) -> Result<(), Status> {
    // SAFETY: pointer and length of a live &str.
    ok(unsafe { proxy_remove_header_map_value(map, key.as_ptr(), key.len()) })
}

/// Replaces every line of header `key` with one.
pub fn replace_map_value(map: u32, key: &str, value: &str) -> Result<(), Status> {
    // SAFETY: pointers and lengths of live &strs.
    ok(unsafe { proxy_replace_header_map_value(map, key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
}

/// Adds a line of header `key`.
pub fn add_map_value(map: u32, key: &str, value: &str) -> Result<(), Status> {
    // SAFETY: pointers and lengths of live &strs.
    ok(unsafe { proxy_add_header_map_value(map, key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
}

/// At most `max` bytes of a buffer from `start`; NOT_FOUND is an empty buffer.
pub fn get_buffer(buffer: u32, start: usize, max: usize) -> Result<Vec<u8>, Status> {
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: out-pointers to locals; the host writes a buffer it allocated with our allocator.
    unsafe {
        match proxy_get_buffer_bytes(buffer, start, max, &mut data, &mut size) {
            0 => Ok(take(data, size)),
            1 => Ok(Vec::new()),
            s => Err(Status(s)),
        }
    }
}

/// A property (`source.address` is `["source", "address"]`); NOT_FOUND is `None`.
pub fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let path = path.join("\0");
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: pointer and length of a live String; out-pointers to locals.
    unsafe {
        match proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) {
            0 if data.is_null() => Ok(None),
            0 => Ok(Some(take(data, size))),
            1 => Ok(None),
            s => Err(Status(s)),
        }
    }
}

/// Whether a property exists: OK (whatever its value, even empty) is `true`, NOT_FOUND `false`, any other
/// status an error (SERIALIZATION_FAILURE: it exists but cannot be serialized, lambda-streaming.md §8.2).
pub fn has_property(path: &[&str]) -> Result<bool, Status> {
    let path = path.join("\0");
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: pointer and length of a live String; out-pointers to locals.
    unsafe {
        match proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) {
            0 => {
                if !data.is_null() {
                    // The value is the module's to free.
                    drop(take(data, size));
                }
                Ok(true)
            }
            1 => Ok(false),
            s => Err(Status(s)),
        }
    }
}

/// Sets filter state `key` (Envoy stores it as `wasm.<key>`).
pub fn set_property(key: &str, value: &[u8]) -> Result<(), Status> {
    // SAFETY: pointers and lengths of live slices.
    ok(unsafe { proxy_set_property(key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
}

/// The host clock in nanoseconds since the epoch (0 on failure).
pub fn now_nanos() -> u64 {
    let mut t = 0u64;
    // SAFETY: out-pointer to a local.
    unsafe {
        if proxy_get_current_time_nanoseconds(&mut t) != 0 {
            t = 0;
        }
    }
    t
}

/// A local reply.
pub fn send_local_response(
    status: u32,
    details: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Result<(), Status> {
    let headers = wire::serialize_map(headers);
    // SAFETY: pointers and lengths of live slices; -1 = no gRPC status.
    ok(unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            if body.is_empty() { null() } else { body.as_ptr() },
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// An HTTP call to `cluster`; returns its token.
pub fn http_call(
    cluster: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout_ms: u32,
) -> Result<u32, Status> {
    let headers = wire::serialize_map(headers);
    let trailers = wire::serialize_map(&[]);
    let mut token = 0u32;
    // SAFETY: pointers and lengths of live slices; out-pointer to a local.
    unsafe {
        ok(proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        ))?;
    }
    Ok(token)
}

/// A foreign function of the host (`clear_route_cache`); its result is dropped.
pub fn call_foreign_function(name: &str) -> Result<(), Status> {
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: pointer and length of a live &str; out-pointers to locals; the result buffer is freed.
    unsafe {
        let status = proxy_call_foreign_function(name.as_ptr(), name.len(), null(), 0, &mut data, &mut size);
        drop(take(data, size));
        ok(status)
    }
}

/// Defines counter `name`; returns its id.
pub fn define_counter(name: &str) -> Result<u32, Status> {
    let mut id = 0u32;
    // SAFETY: pointer and length of a live &str; out-pointer to a local. 0 = counter.
    unsafe {
        ok(proxy_define_metric(0, name.as_ptr(), name.len(), &mut id))?;
    }
    Ok(id)
}

/// Adds one to counter `id`.
pub fn increment_counter(id: u32) -> Result<(), Status> {
    // SAFETY: no pointers.
    ok(unsafe { proxy_increment_metric(id, 1) })
}

/// Writes `message` to Envoy's log at `level` (failures are dropped: there is nowhere else to say it).
pub fn log(level: u32, message: &str) {
    // SAFETY: pointer and length of a live &str.
    unsafe {
        proxy_log(level, message.as_ptr(), message.len());
    }
}

/// The log level Envoy runs the VM's logger at (Info when it cannot tell).
pub fn log_level() -> u32 {
    let mut l = level::INFO;
    // SAFETY: out-pointer to a local.
    if unsafe { proxy_get_log_level(&mut l) } != 0 {
        l = level::INFO;
    }
    l
}

/// Makes `context_id` the context the next host calls act on (an HTTP call's answer arrives on the root).
pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    // SAFETY: no pointers.
    ok(unsafe { proxy_set_effective_context(context_id) })
}

/// Calls `proxy_on_tick` of the current root context every `period_ms` (0 stops it).
pub fn set_tick_period(period_ms: u32) -> Result<(), Status> {
    // SAFETY: no pointers.
    ok(unsafe { proxy_set_tick_period_milliseconds(period_ms) })
}
