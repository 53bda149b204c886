//! [`Host`]: the few things the per-request pipeline asks of Envoy, whatever the ABI. The proxy-wasm adapter
//! implements it over proxy-wasm host calls, the dynamic-module adapter over Envoy's dynamic-module
//! callbacks, and [`super::record::RecordingHost`] over a header list (tests and `routewise explain`).
//!
//! Every call that can fail returns [`HostError`]; the pipeline turns a failure into a logged 500 for the
//! stream (never a trap or a panic), so an adapter only reports what the ABI said.

use std::fmt;

use super::counters::CounterId;

/// A header map of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    /// The request headers (before they reach the router).
    Request,
    /// The response headers (on their way to the client).
    Response,
}

/// A host call that failed: which one, and what the host answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// The call, in the pipeline's terms (`set_header`, `send_local_reply`, ...).
    pub call: &'static str,
    /// The host's status or reason (`BadArgument`, `returned false`, ...).
    pub detail: String,
}

impl HostError {
    /// A failure of `call` with `detail`.
    pub fn new(call: &'static str, detail: impl Into<String>) -> HostError {
        HostError {
            call,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host call {} failed: {}", self.call, self.detail)
    }
}

/// A response the filter writes itself (a local reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// HTTP status.
    pub status: u16,
    /// Header lines, in order, each its own field line (names lowercase).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
    /// Envoy's response code details for the access log (`%RESPONSE_CODE_DETAILS%`), where the ABI takes
    /// them; one word, `[a-z_]`.
    pub details: &'a str,
}

/// A call the filter makes to a cluster itself (the Lambda Invoke call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    /// The Envoy cluster.
    pub cluster: &'a str,
    /// Header lines, pseudo-headers first.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
    /// How long Envoy waits for the whole answer.
    pub timeout_ms: u32,
}

/// How a call the filter made ended, as the adapter learnt it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd<'a> {
    /// An answer arrived; its headers and body are read with [`Host::call_response_headers`] and
    /// [`Host::call_response_body`] (the body only when the pipeline wants it).
    Answered {
        /// The body's length.
        body_len: u64,
    },
    /// No answer: reset, connection failure, an answer over Envoy's buffer limit. `detail` says which when
    /// the ABI tells.
    Failed {
        /// What the host reported.
        detail: &'a str,
    },
}

/// What the adapter tells Envoy after a request or response callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Let the stream go on.
    Continue,
    /// Hold it: after a local reply, while a Lambda request body is buffered (body callbacks: stop and
    /// buffer), while the Invoke call is out.
    Stop,
}

/// What the pipeline needs from Envoy. Implemented once per ABI; see the module docs.
///
/// Header names passed in are lowercase; values never contain CR, LF or NUL (validated at configure time
/// or taken from Envoy's own map).
pub trait Host {
    /// Every request header line, in order, names lowercase as Envoy keeps them; a value that is not UTF-8
    /// (obs-text) is read lossily (U+FFFD), never refused.
    fn request_headers(&mut self) -> Result<Vec<(String, String)>, HostError>;

    /// Removes every line of header `name`.
    fn remove_header(&mut self, map: Map, name: &str) -> Result<(), HostError>;

    /// Replaces every line of header `name` with one line `value`.
    fn set_header(&mut self, map: Map, name: &str, value: &str) -> Result<(), HostError>;

    /// Adds one more line of header `name`.
    fn add_header(&mut self, map: Map, name: &str, value: &str) -> Result<(), HostError>;

    /// The buffered request body, at most `max` bytes of it.
    fn request_body(&mut self, max: usize) -> Result<Vec<u8>, HostError>;

    /// The client's address as Envoy sees it (`ip:port`), if known.
    fn source_address(&mut self) -> Option<String>;

    /// The request's protocol (`HTTP/1.1`, `HTTP/2`), if known.
    fn request_protocol(&mut self) -> Option<String>;

    /// Whether the stream's dynamic metadata has key `key` in namespace `namespace` (any value). Only Envoy's
    /// filters write dynamic metadata, never a client: `jwt_authn` creates its `payload_in_metadata` key only
    /// for a verified token (lambda-streaming.md §8). A host that cannot tell answers `false`.
    fn has_dynamic_metadata(&mut self, namespace: &str, key: &str) -> bool;

    /// The host's clock: milliseconds since the Unix epoch (0 when unknown).
    fn now_epoch_ms(&mut self) -> u64;

    /// Sets filter state `key` (`routewise.route_id`) to `value`, for the access log (R11).
    fn set_filter_state(&mut self, key: &str, value: &str) -> Result<(), HostError>;

    /// Makes the router resolve the route again (the cluster header changed).
    fn clear_route_cache(&mut self);

    /// Answers the client; the stream's request never reaches the router.
    fn send_local_reply(&mut self, reply: &Reply<'_>) -> Result<(), HostError>;

    /// Answers the client with response headers (and the body, if any) written by the filter itself, not as
    /// a local reply: Envoy keeps every header line as given, where a local reply without a body loses
    /// `content-type` (`Utility::prepareLocalReply`, `source/common/http/utility.cc`). `Ok(false)`: the ABI
    /// has no such call (proxy-wasm); nothing was sent, and the pipeline sends a local reply instead and
    /// restores `content-type` when that reply passes the filter's response-headers callback (U12).
    fn send_response(&mut self, reply: &Reply<'_>) -> Result<bool, HostError>;

    /// Sends `call` to its cluster; the answer comes back through the stream's call-response callback with
    /// the returned token.
    fn call_cluster(&mut self, call: &Call<'_>) -> Result<u64, HostError>;

    /// The header lines of the answer being delivered (`:status` included).
    fn call_response_headers(&mut self) -> Result<Vec<(String, String)>, HostError>;

    /// The body of the answer being delivered, `len` bytes.
    fn call_response_body(&mut self, len: usize) -> Result<Vec<u8>, HostError>;

    /// Adds one to counter `id` (named by [`super::Counters::name`]).
    fn count(&mut self, id: CounterId);

    // Streamed calls and responses written in pieces (`response_transfer_mode: "STREAM"`,
    // [`super::lambda_stream`]). Only the dynamic module's ABI has them; the defaults say so, and the
    // pipeline answers such a failure like any failing host call. (Builds without them refuse `STREAM` at
    // configure time, [`super::Build::cannot_stream`].)

    /// Sends `call` (headers and the whole body, ending the request) to its cluster as a streamed call: the
    /// answer comes back piece by piece ([`super::StreamEvent`]) with the returned id. The host may deliver
    /// a reset of the new stream before this returns.
    fn start_stream(&mut self, call: &Call<'_>) -> Result<u64, HostError> {
        let _ = call;
        Err(unsupported("start_stream"))
    }

    /// Resets streamed call `id` (no more of its answer is wanted). Unknown or ended ids are no-ops.
    fn reset_stream(&mut self, id: u64) -> Result<(), HostError> {
        let _ = id;
        Err(unsupported("reset_stream"))
    }

    /// Starts the client's response: `status` and header lines (`:status` not among them), not ending
    /// the stream; the body follows with [`Host::send_response_body`].
    fn send_response_head(&mut self, status: u16, headers: &[(&str, &str)]) -> Result<(), HostError> {
        let _ = (status, headers);
        Err(unsupported("send_response_head"))
    }

    /// A piece of the client's response body after [`Host::send_response_head`]; `end_of_stream` ends the
    /// response (an empty piece may carry it).
    fn send_response_body(&mut self, data: &[u8], end_of_stream: bool) -> Result<(), HostError> {
        let _ = (data, end_of_stream);
        Err(unsupported("send_response_body"))
    }

    /// Resets the client's stream (HTTP/2 RST_STREAM, HTTP/1.1 a close without the last chunk): the
    /// response already started cannot end well (lambda-streaming.md §6). `details` is for the access log.
    fn abort_response(&mut self, details: &str) -> Result<(), HostError> {
        let _ = details;
        Err(unsupported("abort_response"))
    }
}

/// The error of a streaming call a host does not have.
fn unsupported(call: &'static str) -> HostError {
    HostError::new(call, "not supported by this host (no streamed calls in its ABI)")
}
