//! The proxy-wasm ABI v0.2.1 host functions (module `env`) and WASI preview1 (`wasi_snapshot_preview1`),
//! one file per area, each with its own `add_to_linker`.

use wasmtime::{Caller, Linker};

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

/// The host functions a module may call while its start functions run (`_initialize`, then `main` or
/// `__main_void`; or `_start`), as `module.function`. Envoy runs them with restricted callbacks: proxy-wasm
/// cpp-host `WasmBase::startVm` (`src/wasm.cc`, commit f2db56af443571e92a31c0b877106d9ea96e19ef, Envoy's
/// pin in the 1.40 cycle; the list is unchanged since 94091cdb and matches the Envoy 1.40.0 binary)
/// calls `setRestrictedCallback(true, {...})` with this list, and any other host function traps with
/// `restricted_callback` (V8: `Function: _initialize failed: Uncaught Error: restricted_callback`), so the
/// VM fails to load ("Failed to initialize Wasm code"). cpp-host's list also names every `wasi_unstable.*`
/// twin and `env.emscripten_notify_memory_growth`, which host-sim does not provide. Everything else
/// host-sim links is refused: every `env.proxy_*` but `proxy_log`, and WASI `fd_close`, `fd_read`,
/// `fd_seek`, `path_open`, `proc_exit`, `proc_raise`, `sched_yield`.
pub(crate) const ALLOWED_DURING_START: &[&str] = &[
    "env.proxy_log",
    "wasi_snapshot_preview1.fd_write",
    "wasi_snapshot_preview1.args_sizes_get",
    "wasi_snapshot_preview1.args_get",
    "wasi_snapshot_preview1.environ_sizes_get",
    "wasi_snapshot_preview1.environ_get",
    "wasi_snapshot_preview1.clock_time_get",
    "wasi_snapshot_preview1.clock_res_get",
    "wasi_snapshot_preview1.random_get",
    // "Go runtime initialization"
    "wasi_snapshot_preview1.poll_oneoff",
    "wasi_snapshot_preview1.fd_fdstat_get",
    "wasi_snapshot_preview1.fd_fdstat_set_flags",
    // "None of the following wasi functions _should_ be called during initialization, but ..."
    "wasi_snapshot_preview1.fd_advise",
    "wasi_snapshot_preview1.fd_allocate",
    "wasi_snapshot_preview1.fd_datasync",
    "wasi_snapshot_preview1.fd_fdstat_set_rights",
    "wasi_snapshot_preview1.fd_filestat_get",
    "wasi_snapshot_preview1.fd_filestat_set_size",
    "wasi_snapshot_preview1.fd_filestat_set_times",
    "wasi_snapshot_preview1.fd_pread",
    "wasi_snapshot_preview1.fd_prestat_dir_name",
    "wasi_snapshot_preview1.fd_prestat_get",
    "wasi_snapshot_preview1.fd_pwrite",
    "wasi_snapshot_preview1.fd_readdir",
    "wasi_snapshot_preview1.fd_renumber",
    "wasi_snapshot_preview1.fd_sync",
    "wasi_snapshot_preview1.fd_tell",
    "wasi_snapshot_preview1.path_create_directory",
    "wasi_snapshot_preview1.path_filestat_get",
    "wasi_snapshot_preview1.path_filestat_set_times",
    "wasi_snapshot_preview1.path_link",
    "wasi_snapshot_preview1.path_readlink",
    "wasi_snapshot_preview1.path_remove_directory",
    "wasi_snapshot_preview1.path_rename",
    "wasi_snapshot_preview1.path_symlink",
    "wasi_snapshot_preview1.path_unlink_file",
    "wasi_snapshot_preview1.sock_accept",
    "wasi_snapshot_preview1.sock_recv",
    "wasi_snapshot_preview1.sock_send",
    "wasi_snapshot_preview1.sock_shutdown",
];

/// The guard at the top of every host function outside [`ALLOWED_DURING_START`] (`name` is
/// `module.function`): while the start functions run it traps with `restricted_callback`, as Envoy does;
/// afterwards it costs one bool load.
#[inline(always)]
pub(crate) fn restricted(caller: &Caller<'_, HostState>, name: &str) -> wasmtime::Result<()> {
    if caller.data().restricted {
        Err(restricted_callback(name))
    } else {
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn restricted_callback(name: &str) -> wasmtime::Error {
    debug_assert!(!ALLOWED_DURING_START.contains(&name));
    wasmtime::format_err!(
        "restricted_callback: {name} called during VM start (_initialize, main, __main_void or _start); \
         Envoy allows only env.proxy_log and some WASI functions there and fails the VM \
         (cpp-host WasmBase::startVm: \"Failed to initialize Wasm code\")"
    )
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
