//! The subset of Envoy's dynamic-module ABI the module calls, declared by hand from the documented ABI
//! (`../shared/spec/dynamic-modules.md` §2-§3; Envoy publishes no Rust SDK on crates.io). Every C enum is a
//! `u32`, never a Rust enum (a value a later Envoy adds would be undefined behaviour); buffers are
//! `#[repr(C)]` pairs passed by value.
//!
//! Only callbacks exported by Envoy 1.39 and 1.40 are referenced: the module is `dlopen`ed with `RTLD_NOW`,
//! so one missing symbol would fail the load (`log_v2`, new in 1.40, is deliberately not used).
//!
//! Under `cfg(test)` the same names are defined by [`crate::fake_envoy`], so the hooks run natively.

use std::ffi::c_void;

/// `envoy_dynamic_module_type_envoy_buffer` / `..._module_buffer`: bytes owned by one side.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Buf {
    /// Start (may be null when `len` is 0).
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl Buf {
    /// A view of `bytes` for the duration of a call.
    pub fn of(bytes: &[u8]) -> Buf {
        Buf {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The null buffer (a header removal, an empty body).
    pub const NULL: Buf = Buf {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// The bytes of an Envoy-owned buffer.
    ///
    /// # Safety
    /// `ptr` is null or valid for `len` bytes for the returned lifetime (Envoy's views live until the hook
    /// returns, or until the next setter).
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(self.ptr, self.len)
        }
    }
}

/// `envoy_dynamic_module_type_{envoy,module}_http_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Name.
    pub key_ptr: *const u8,
    /// Name length.
    pub key_len: usize,
    /// Value.
    pub value_ptr: *const u8,
    /// Value length.
    pub value_len: usize,
}

impl Header {
    /// A view of one header line for the duration of a call.
    pub fn of(name: &str, value: &str) -> Header {
        Header {
            key_ptr: name.as_ptr(),
            key_len: name.len(),
            value_ptr: value.as_ptr(),
            value_len: value.len(),
        }
    }

    /// Name and value of an Envoy-owned header, lossily as text.
    ///
    /// # Safety
    /// The pointers are valid for their lengths (an Envoy view, until the hook returns).
    pub unsafe fn to_owned_lossy(&self) -> (String, String) {
        let k = Buf {
            ptr: self.key_ptr,
            len: self.key_len,
        };
        let v = Buf {
            ptr: self.value_ptr,
            len: self.value_len,
        };
        (
            String::from_utf8_lossy(k.as_bytes()).into_owned(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        )
    }
}

/// Envoy's per-stream filter (`http_filter_envoy_ptr`).
pub type EnvoyFilter = *mut c_void;
/// Envoy's filter config (`http_filter_config_envoy_ptr`).
pub type EnvoyConfig = *mut c_void;

/// `envoy_dynamic_module_type_http_header_type`.
pub mod header_type {
    /// Request headers.
    pub const REQUEST: u32 = 0;
    /// Response headers.
    pub const RESPONSE: u32 = 2;
}

/// `envoy_dynamic_module_type_http_body_type`.
pub mod body_type {
    /// The chunk of the current request-body callback.
    pub const RECEIVED_REQUEST: u32 = 0;
    /// What Envoy has buffered of the request body so far.
    pub const BUFFERED_REQUEST: u32 = 1;
}

/// Hook status values (Envoy's own `FilterHeadersStatus` / `FilterDataStatus` / `FilterTrailersStatus`).
pub mod status {
    /// `Continue` (headers, body, trailers, local reply).
    pub const CONTINUE: u32 = 0;
    /// Headers and trailers: `StopIteration`.
    pub const STOP_ITERATION: u32 = 1;
    /// Body: `StopIterationAndBuffer`.
    pub const STOP_AND_BUFFER: u32 = 1;
}

/// `envoy_dynamic_module_type_http_callout_init_result`.
pub mod callout_init {
    /// Sent.
    pub const SUCCESS: u32 = 0;
    /// Names of the values, by number.
    pub const NAMES: [&str; 5] = [
        "Success",
        "MissingRequiredHeaders",
        "ClusterNotFound",
        "DuplicateCalloutId",
        "CannotCreateRequest",
    ];
}

/// `envoy_dynamic_module_type_http_callout_result`.
pub mod callout_result {
    /// An answer arrived.
    pub const SUCCESS: u32 = 0;
    /// Names of the values, by number.
    pub const NAMES: [&str; 3] = ["Success", "Reset", "ExceedResponseBufferLimit"];
}

/// `envoy_dynamic_module_type_log_level`.
pub mod log_level {
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

/// `envoy_dynamic_module_type_attribute_id` values used (the same in 1.38-1.40).
pub mod attribute {
    /// `request.protocol`.
    pub const REQUEST_PROTOCOL: u32 = 10;
    /// `source.address` (`ip:port` in 1.40).
    pub const SOURCE_ADDRESS: u32 = 24;
}

/// `envoy_dynamic_module_type_metadata_source` values used.
pub mod metadata_source {
    /// The stream's dynamic metadata (what filters such as `jwt_authn` write).
    pub const DYNAMIC: u32 = 0;
}

/// `envoy_dynamic_module_type_metrics_result`: Success.
pub const METRICS_SUCCESS: u32 = 0;

#[cfg_attr(test, allow(dead_code))]
extern "C" {
    pub fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
    pub fn envoy_dynamic_module_callback_log(level: u32, message: Buf);

    pub fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: EnvoyConfig,
        name: Buf,
        label_names: *const Buf,
        label_names_len: usize,
        counter_id: *mut usize,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: EnvoyFilter,
        id: usize,
        label_values: *const Buf,
        label_values_len: usize,
        value: u64,
    ) -> u32;

    pub fn envoy_dynamic_module_callback_http_get_headers_size(
        filter: EnvoyFilter,
        header_type: u32,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_http_get_headers(
        filter: EnvoyFilter,
        header_type: u32,
        result: *mut Header,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_set_header(
        filter: EnvoyFilter,
        header_type: u32,
        key: Buf,
        value: Buf,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_add_header(
        filter: EnvoyFilter,
        header_type: u32,
        key: Buf,
        value: Buf,
    ) -> bool;

    pub fn envoy_dynamic_module_callback_http_get_body_chunks_size(
        filter: EnvoyFilter,
        body_type: u32,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_http_get_body_chunks(
        filter: EnvoyFilter,
        body_type: u32,
        result: *mut Buf,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_get_body_size(filter: EnvoyFilter, body_type: u32) -> usize;
    pub fn envoy_dynamic_module_callback_http_received_buffered_request_body(filter: EnvoyFilter) -> bool;

    pub fn envoy_dynamic_module_callback_http_send_response(
        filter: EnvoyFilter,
        status: u32,
        headers: *const Header,
        headers_len: usize,
        body: Buf,
        details: Buf,
    );
    /// Response headers written by the filter itself (`:status` included): `encodeHeaders` on the decoder
    /// callbacks, not a local reply (Envoy changes none of the lines).
    pub fn envoy_dynamic_module_callback_http_send_response_headers(
        filter: EnvoyFilter,
        headers: *const Header,
        headers_len: usize,
        end_stream: bool,
    );
    /// A response body chunk after [`envoy_dynamic_module_callback_http_send_response_headers`].
    pub fn envoy_dynamic_module_callback_http_send_response_data(
        filter: EnvoyFilter,
        data: Buf,
        end_stream: bool,
    );
    pub fn envoy_dynamic_module_callback_http_clear_route_cache(filter: EnvoyFilter);
    pub fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
        filter: EnvoyFilter,
        key: Buf,
        value: Buf,
    ) -> bool;
    /// Keys of namespace `ns` of the metadata `source` (0 when the namespace is absent); exported by 1.39 and
    /// 1.40 (`nm -D`).
    pub fn envoy_dynamic_module_callback_http_get_metadata_keys_count(
        filter: EnvoyFilter,
        metadata_source: u32,
        ns: Buf,
    ) -> usize;
    /// Fills `result` (as many buffers as `_keys_count` said) with views of the keys.
    pub fn envoy_dynamic_module_callback_http_get_metadata_keys(
        filter: EnvoyFilter,
        metadata_source: u32,
        ns: Buf,
        result: *mut Buf,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: EnvoyFilter,
        attribute_id: u32,
        result: *mut Buf,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_filter_http_callout(
        filter: EnvoyFilter,
        callout_id: *mut u64,
        cluster: Buf,
        headers: *const Header,
        headers_len: usize,
        body: Buf,
        timeout_ms: u64,
    ) -> u32;
    /// A streamed call: headers (`:method`, `:path`, `:authority` required) and `body`, ending the
    /// request when `end_stream`; the answer comes in `on_http_filter_http_stream_*` with `*stream_id`.
    /// Returns a `callout_init` value. Envoy may deliver a reset of the new stream before it returns.
    pub fn envoy_dynamic_module_callback_http_filter_start_http_stream(
        filter: EnvoyFilter,
        stream_id: *mut u64,
        cluster: Buf,
        headers: *const Header,
        headers_len: usize,
        body: Buf,
        end_stream: bool,
        timeout_ms: u64,
    ) -> u32;
    /// Resets a streamed call (unknown or ended ids: nothing); Envoy calls the stream's reset hook.
    pub fn envoy_dynamic_module_callback_http_filter_reset_http_stream(filter: EnvoyFilter, stream_id: u64);
    /// Resets the client's stream (`reason`: [`stream_reset_reason`]), `details` for the access log.
    pub fn envoy_dynamic_module_callback_http_filter_reset_stream(
        filter: EnvoyFilter,
        reason: u32,
        details: Buf,
    );
}

/// `envoy_dynamic_module_type_http_filter_stream_reset_reason`.
pub mod stream_reset_reason {
    /// `LocalReset`: a codec-level reset of the client's stream.
    pub const LOCAL_RESET: u32 = 0;
}
