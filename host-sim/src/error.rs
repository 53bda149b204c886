//! The simulator's error type.

use std::fmt;

use crate::state::LogEntry;

/// Everything that can go wrong loading a module or running it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The module could not be read, compiled or linked (missing exports, bad ABI version, wrong import
    /// signature...).
    Load(String),
    /// The module imports functions that neither Envoy nor host-sim provides.
    UnknownImports(Vec<String>),
    /// The guest trapped: a Rust panic (its message is in `panic`), an out-of-bounds access, a runaway
    /// guest past the time limit, or `proc_exit`. Envoy would mark the VM failed and answer the stream
    /// with `503` (details `wasm_fail_stream`); the simulated VM refuses further calls.
    Trap {
        /// The export that was running, e.g. `proxy_on_request_headers`.
        callback: String,
        /// What wasmtime reported.
        message: String,
        /// The guest's last CRITICAL log line during that call: the Rust SDK's panic message.
        panic: Option<String>,
    },
    /// `proxy_on_vm_start` returned false.
    VmStartRejected {
        /// What the guest logged until then.
        logs: Vec<LogEntry>,
    },
    /// `proxy_on_configure` returned false: Envoy rejects the configuration (NACK, or startup fails).
    ConfigureRejected {
        /// What the guest logged until then (usually why).
        logs: Vec<LogEntry>,
    },
    /// An earlier trap failed this VM.
    VmFailed(String),
    /// The stream cannot make progress: the filter paused and nothing it waits for can happen (no
    /// pending HTTP call to answer, no continue). In Envoy it would hang until a timeout.
    Stalled {
        /// The stream's context id.
        stream: u32,
        /// What the stream waits for.
        detail: String,
    },
    /// The API was used in a way that cannot work (e.g. ticking without a tick period).
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(m) => write!(f, "cannot load module: {m}"),
            Error::UnknownImports(names) => write!(
                f,
                "module imports functions that the proxy-wasm host does not provide: {}",
                names.join(", ")
            ),
            Error::Trap {
                callback,
                message,
                panic: Some(p),
            } => write!(f, "guest trapped in {callback}: {p} ({message})"),
            Error::Trap {
                callback,
                message,
                panic: None,
            } => write!(f, "guest trapped in {callback}: {message}"),
            Error::VmStartRejected { .. } => write!(
                f,
                "proxy_on_vm_start returned false: the VM configuration was rejected"
            ),
            Error::ConfigureRejected { logs } => {
                write!(
                    f,
                    "proxy_on_configure returned false: the plugin configuration was rejected"
                )?;
                for l in logs.iter().filter(|l| l.level >= crate::state::LogLevel::Warn) {
                    write!(f, "\n  {}: {}", l.level.as_str(), l.message)?;
                }
                Ok(())
            }
            Error::VmFailed(m) => write!(f, "the VM failed earlier and accepts no more calls: {m}"),
            Error::Stalled { stream, detail } => write!(f, "stream {stream} stalled: {detail}"),
            Error::Usage(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
