//! The proxy-wasm ABI v0.2.1 host functions (module `env`) and WASI preview1 (`wasi_snapshot_preview1`),
//! one file per area, each with its own `add_to_linker`.

use wasmtime::Linker;

use crate::state::HostState;

pub(crate) mod buffers;
pub(crate) mod context;
pub(crate) mod foreign;
pub(crate) mod grpc;
pub(crate) mod headers;
pub(crate) mod http_call;
pub(crate) mod log;
pub(crate) mod metrics;
pub(crate) mod properties;
pub(crate) mod shared;
pub(crate) mod stream;
pub(crate) mod wasi;

/// `proxy_status_t`, as Envoy returns it (`proxy_wasm::WasmResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// 0
    Ok = 0,
    /// 1
    NotFound = 1,
    /// 2
    BadArgument = 2,
    /// 3
    SerializationFailure = 3,
    /// 4
    ParseFailure = 4,
    /// 6
    InvalidMemoryAccess = 6,
    /// 7
    Empty = 7,
    /// 8
    CasMismatch = 8,
    /// 10
    InternalFailure = 10,
    /// 11 (only as `proxy_get_status` code after a failed HTTP call)
    BrokenConnection = 11,
    /// 12
    Unimplemented = 12,
}

/// Host-call result: a status for the guest, or an `Err` that traps (host bugs and reentrant allocator
/// traps only).
pub(crate) type HostResult = wasmtime::Result<i32>;

pub(crate) fn ok(s: Status) -> HostResult {
    Ok(s as i32)
}

/// Registers every host function. Order does not matter; names are checked against the module's imports
/// before instantiation so that a missing one is reported by name.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    context::add_to_linker(linker)?;
    log::add_to_linker(linker)?;
    buffers::add_to_linker(linker)?;
    headers::add_to_linker(linker)?;
    stream::add_to_linker(linker)?;
    http_call::add_to_linker(linker)?;
    grpc::add_to_linker(linker)?;
    shared::add_to_linker(linker)?;
    metrics::add_to_linker(linker)?;
    properties::add_to_linker(linker)?;
    foreign::add_to_linker(linker)?;
    wasi::add_to_linker(linker)?;
    Ok(())
}

/// Every `env` function of ABI v0.2.1 §1.2 (the reference's table), for documentation and tests.
pub const PROXY_WASM_FUNCTIONS: &[&str] = &[
    "proxy_done",
    "proxy_set_effective_context",
    "proxy_log",
    "proxy_get_log_level",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_get_buffer_status",
    "proxy_get_header_map_size",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_continue_stream",
    "proxy_close_stream",
    "proxy_get_status",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
    "proxy_set_shared_data",
    "proxy_get_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_define_metric",
    "proxy_record_metric",
    "proxy_increment_metric",
    "proxy_get_metric",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_call_foreign_function",
];
