#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod abi;
mod case;
mod error;
mod http;
mod memory;
mod plugin;
mod state;
mod stream;
mod vm;

pub use abi::Status;
pub use abi::PROXY_WASM_FUNCTIONS;
pub use case::{run_case, Case, CaseRequest, CaseResponse, CaseResult, ResultRequest, ResultResponse};
pub use error::Error;
pub use http::{Headers, Request, Response, UpstreamRequest};
pub use plugin::{default_routewise_wasm, workspace_root, Plugin};
pub use state::{HttpCall, HttpCallReply, LogEntry, LogLevel, MetricKind, MetricValue, Shared};
pub use stream::{Exchange, StreamState, Upstream, ENVOY_LOCAL_ADDRESS};
pub use vm::{Sim, SimBuilder, DEFAULT_START_TIME_SECS};
