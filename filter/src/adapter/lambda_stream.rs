//! The Lambda proxy integration in a stream (wasm only): buffer the request, build the event, invoke the
//! function with a call of the filter's own, answer the client with what the function said.
//!
//! Why the request never reaches Envoy's router, and every answer that is not the function's own, are in
//! [`crate::lambda::invoke`] (pure, tested natively); this module only moves bytes between Envoy and it.
//!
//! 1. **Request headers** (the engine chose a Lambda integration; `Stream::route` has already removed the
//!    client's copies of internal headers): a `content-length` over `max_request_body_bytes` gets 413
//!    (L4). At end of stream the function is invoked with an empty body; otherwise the stream pauses for
//!    the body.
//! 2. **Request body**: paused (Envoy buffers) until the end, 413 as soon as the buffered size passes the
//!    limit; at the end (or at the trailers) the event is built from the buffered body and the function
//!    invoked. Envoy calls the body callbacks of a stream whose headers a filter paused only with
//!    `allow_on_headers_stop_iteration: true` (Envoy >= 1.35), which the example configs set. **Without
//!    it a Lambda request with a body stalls** (Envoy buffers the body without calling the filter) until
//!    Envoy's stream timeout; requests without a body are served either way. Envoy also buffers the body
//!    only up to the listener's `per_connection_buffer_limit_bytes` (1 MiB by default) and answers 413
//!    itself beyond it: raise it to accept bodies up to `max_request_body_bytes`.
//! 3. **Invoke**: `dispatch_http_call` to the integration's cluster with the event, `timeout_ms`; the
//!    stream stays paused.
//! 4. **The answer** (`on_http_call_response`): `:status`, the header lines and, within
//!    `max_response_body_bytes`, the body go to [`invoke::answer_call_into`]; no header lines means the
//!    call failed (502). The result is sent with `send_http_response`, each header entry its own field
//!    line.
//!
//! Every answer leaves filter state `routewise.lambda_outcome`, `routewise.lambda_status` (the Invoke
//! status, when there was one) and `routewise.lambda_reason` (when the answer is not the function's own;
//! never sent to the client), counts `routewise.lambda.<outcome>`, logs the reason at warn and dropped
//! header lines at debug. A host call that fails becomes a logged 500, never a trap.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, BufferType, MapType};

use super::{set, Metrics};
use crate::decision::{Forward, LambdaTarget};
use crate::lambda::invoke::{self, CallResponse, HostFacts, PendingInvocation};
use crate::lambda::{Outcome, Unwrapped};
use crate::names::{metric, property};

thread_local! {
    /// Counter ids of `routewise.lambda.<outcome>`, by [`Outcome::index`] (a VM is single-threaded).
    static COUNTERS: [Cell<Option<u32>>; Outcome::ALL.len()] = Default::default();
    /// Sequence number for request ids when Envoy sent no `x-request-id`.
    static SEQUENCE: Cell<u64> = const { Cell::new(0) };
}

/// Where a Lambda stream is.
pub(super) enum LambdaStream {
    /// Waiting for the end of the request body.
    Buffering(Box<PendingInvocation>),
    /// The Invoke call is out.
    Invoking {
        /// Its token.
        token: u32,
        /// The integration.
        target: Arc<LambdaTarget>,
    },
    /// Answered.
    Done,
}

impl LambdaStream {
    /// Step 1, from `on_http_request_headers`. `headers` are the request's header lines as Envoy gave them,
    /// internal headers removed.
    pub(super) fn start(
        target: &Arc<LambdaTarget>,
        f: &Forward<'_>,
        headers: Vec<(String, String)>,
        end_of_stream: bool,
    ) -> (LambdaStream, Action) {
        let source_address = property_text(property::SOURCE_ADDRESS.to_vec());
        let protocol = property_text(property::REQUEST_PROTOCOL.to_vec());
        let now_epoch_ms = match hostcalls::get_current_time() {
            Ok(t) => t
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Err(_) => 0,
        };
        let sequence = SEQUENCE.with(|s| {
            let n = s.get().wrapping_add(1);
            s.set(n);
            n
        });
        let host = HostFacts {
            source_address: source_address.as_deref(),
            protocol: protocol.as_deref(),
            now_epoch_ms,
            sequence,
        };
        let pending = PendingInvocation::new(Arc::clone(target), f, headers, &host);
        // L4: refused before any body arrives when its announced length is already too large.
        if let Err(e) = pending.check_content_length() {
            return (
                LambdaStream::Done,
                answer(&invoke::request_too_large(&e), None, target),
            );
        }
        if end_of_stream {
            return invoke_function(&pending, b"");
        }
        (LambdaStream::Buffering(Box::new(pending)), Action::Pause)
    }

    /// Step 2, from `on_http_request_body`: `body_size` is everything buffered so far.
    pub(super) fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let LambdaStream::Buffering(pending) = self else {
            // Invoking or answered: nothing of this request may reach the router.
            return Action::Pause;
        };
        // L4: as soon as the buffered size passes the limit, without waiting for the rest.
        if let Err(e) = pending.check_buffered(body_size as u64) {
            let action = answer(&invoke::request_too_large(&e), None, &pending.target);
            *self = LambdaStream::Done;
            return action;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.finish_request(body_size)
    }

    /// Step 2, from `on_http_request_trailers`: the body has ended.
    pub(super) fn on_request_trailers(&mut self) -> Action {
        self.finish_request(usize::MAX)
    }

    /// Reads the buffered body (at most `body_size` bytes) and invokes the function.
    fn finish_request(&mut self, body_size: usize) -> Action {
        let LambdaStream::Buffering(pending) = std::mem::replace(self, LambdaStream::Done) else {
            return Action::Pause;
        };
        let (next, action) = match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(body) => invoke_function(&pending, body.as_deref().unwrap_or_default()),
            Err(status) => {
                let out = invoke::internal_error(format!("cannot read the request body: {status:?}"));
                (LambdaStream::Done, answer(&out, None, &pending.target))
            }
        };
        *self = next;
        action
    }

    /// Step 4, from `on_http_call_response`.
    pub(super) fn on_call_response(&mut self, token: u32, num_headers: usize, body_size: usize) {
        let target = match self {
            LambdaStream::Invoking { token: sent, target } if *sent == token => Arc::clone(target),
            _ => {
                log::warn!("routewise: lambda: unexpected answer to HTTP call {token}; ignored");
                return;
            }
        };
        *self = LambdaStream::Done;
        if num_headers == 0 {
            // Envoy reports every failure the same way (BrokenConnection, "reset"): nothing to tell apart.
            let out = invoke::call_failed("no response from the cluster (connection failure or reset)");
            answer(&out, None, &target);
            return;
        }
        let headers: Vec<(String, String)> = match hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
        {
            // Values as text: only `:status` and the U1/U2/U13 headers are read, all ASCII from Lambda.
            Ok(h) => h
                .into_iter()
                .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
                .collect(),
            Err(status) => {
                let out =
                    invoke::internal_error(format!("cannot read the Invoke response headers: {status:?}"));
                answer(&out, None, &target);
                return;
            }
        };
        let body_len = body_size as u64;
        // U16: a body over the limit is not even copied into the VM.
        let body = if body_len > target.max_response_body_bytes {
            None
        } else {
            match hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size) {
                Ok(b) => Some(b.unwrap_or_default()),
                Err(status) => {
                    let out =
                        invoke::internal_error(format!("cannot read the Invoke response body: {status:?}"));
                    answer(&out, None, &target);
                    return;
                }
            }
        };
        let mut out = Unwrapped::default();
        let status = invoke::answer_call_into(
            &target,
            &CallResponse {
                headers: &headers,
                body: body.as_deref(),
                body_len,
            },
            &mut out,
        );
        answer(&out, status, &target);
    }
}

/// Step 3: builds the event and sends it to the integration's cluster.
fn invoke_function(pending: &PendingInvocation, body: &[u8]) -> (LambdaStream, Action) {
    let target = &pending.target;
    let mut event = Vec::new();
    if let Err(e) = pending.build_event_into(body, &mut event) {
        return (
            LambdaStream::Done,
            answer(&invoke::request_too_large(&e), None, target),
        );
    }
    let timeout = Duration::from_millis(u64::from(target.timeout_ms));
    match hostcalls::dispatch_http_call(
        &target.cluster,
        invoke::call_headers().to_vec(),
        Some(&event),
        vec![],
        timeout,
    ) {
        Ok(token) => {
            log::debug!(
                "routewise: lambda: invoking through cluster {} ({} event bytes, call {token})",
                target.cluster,
                event.len()
            );
            let target = Arc::clone(target);
            (LambdaStream::Invoking { token, target }, Action::Pause)
        }
        Err(status) => {
            let out = invoke::internal_error(format!(
                "cannot call cluster `{}`: {status:?} (is it defined in Envoy?)",
                target.cluster
            ));
            (LambdaStream::Done, answer(&out, None, target))
        }
    }
}

/// Sends `out` to the client and records it (filter state, counter, log lines).
fn answer(out: &Unwrapped, invoke_status: Option<u16>, target: &LambdaTarget) -> Action {
    let outcome = out.outcome.as_str();
    let mut state = vec![(property::LAMBDA_OUTCOME, outcome.to_string())];
    if let Some(s) = invoke_status {
        state.push((property::LAMBDA_STATUS, s.to_string()));
    }
    if let Some(reason) = &out.reason {
        // U15: the reason goes to the log and filter state, never to the client.
        log::warn!(
            "routewise: lambda (cluster {}): {outcome}: {reason}",
            target.cluster
        );
        state.push((property::LAMBDA_REASON, reason.clone()));
    }
    for (key, value) in &state {
        if let Err(status) = set(key, value) {
            log::warn!("routewise: lambda: cannot set filter state {key}: {status:?}");
        }
    }
    // U9: dropped lines are logged at debug.
    for d in &out.dropped {
        log::debug!("routewise: lambda (cluster {}): {d}", target.cluster);
    }
    if out.dropped_total > out.dropped.len() {
        log::debug!(
            "routewise: lambda (cluster {}): {} more response header lines dropped",
            target.cluster,
            out.dropped_total - out.dropped.len()
        );
    }
    COUNTERS.with(|c| Metrics::count(c.get(out.outcome.index()), || metric::lambda(outcome)));

    let headers: Vec<(&str, &str)> = out
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Err(status) = hostcalls::send_http_response(u32::from(out.status), headers, Some(&out.body)) {
        log::error!("routewise: lambda: cannot send the answer: {status:?}");
    }
    Action::Pause
}

/// A property as text; missing, unreadable or not UTF-8 = `None`.
fn property_text(path: Vec<&str>) -> Option<String> {
    match hostcalls::get_property(path) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}
