//! The Lambda proxy integration in a stream: buffer the request, build the event, invoke the function with
//! a call of the filter's own, answer the client with what the function said.
//!
//! Why the request never reaches Envoy's router, and every answer that is not the function's own, are in
//! [`crate::lambda::invoke`]; this module is the order of steps, against [`Host`].
//!
//! 1. **Request headers** (the pipeline has already removed the client's copies of internal headers): a
//!    `content-length` over `max_request_body_bytes` gets 413 (L4). At end of stream the function is
//!    invoked with an empty body; otherwise the stream holds for the body.
//! 2. **Request body**: held (Envoy buffers) until the end, 413 as soon as the buffered size passes the
//!    limit; at the end (or at the trailers) the event is built from the buffered body and the function
//!    invoked. (proxy-wasm: Envoy calls the body callbacks of a stream whose headers a filter paused only
//!    with `allow_on_headers_stop_iteration: true`, which the example configs set; a dynamic module's
//!    `StopIteration` always lets them run.)
//! 3. **Invoke**: [`Host::call_cluster`] to the integration's cluster with the event and `timeout_ms`.
//! 4. **The answer**: `:status`, the header lines and, within `max_response_body_bytes`, the body go to
//!    [`invoke::answer_call_into`]; a call that ended without an answer is a 502. The merged
//!    `response-rewrite` applies to the result, which is sent as a local reply, each header entry its own
//!    field line; an answer without a body keeps its `content-type` (U12), see [`answer`].
//!
//! Every answer leaves filter state `routewise.lambda_outcome`, `routewise.lambda_status` (the Invoke
//! status, when there was one) and `routewise.lambda_reason` (when the answer is not the function's own;
//! never sent to the client), counts `routewise.lambda.<outcome>` and logs the reason at warn, at most once
//! per outcome per 10 s and worker ([`super::ratelog`]: a warn line per throttled call would flood Envoy's
//! log; the counter and the filter state carry every request).

use std::cell::Cell;
use std::sync::Arc;

use super::host::{Call, CallEnd, Host, HostError, Map, Next, Reply};
use super::lambda_stream::{self, StreamCall, StreamEvent};
use super::ratelog;
use super::FilterConfig;
use crate::decision::{Forward, LambdaTarget};
use crate::lambda::invoke::{self, CallResponse, HostFacts, PendingInvocation};
use crate::lambda::Unwrapped;
use crate::names::{header, property};
use crate::plugins::{HeaderEdit, ResponseRewrite};

/// A failed call this close to `timeout_ms` after it was sent is taken as the timeout (Envoy's timer and
/// the filter's clock are read a few milliseconds apart).
const TIMEOUT_SLACK_MS: u64 = 20;

thread_local! {
    /// Sequence number for request ids when Envoy sent no `x-request-id` (per worker thread, or per VM).
    static SEQUENCE: Cell<u64> = const { Cell::new(0) };
}

/// Where a Lambda exchange is.
#[derive(Debug)]
pub(super) enum LambdaExchange {
    /// Waiting for the end of the request body.
    Buffering {
        /// What the event needs besides the body.
        pending: Box<PendingInvocation>,
        /// The merged `response-rewrite`, applied to the answer.
        response_rewrite: Option<ResponseRewrite>,
    },
    /// The Invoke call is out.
    Invoking {
        /// Its token.
        token: u64,
        /// When it was sent (host clock, ms), to tell a timeout from another failure.
        sent_ms: u64,
        /// The integration.
        target: Arc<LambdaTarget>,
        /// The merged `response-rewrite`.
        response_rewrite: Option<ResponseRewrite>,
    },
    /// Answered.
    Done,
    /// `response_transfer_mode: "STREAM"`: the streamed call is out, or its answer is going to the
    /// client ([`super::lambda_stream`]).
    Streaming(Box<StreamCall>),
    /// Answered with a local reply without a body: Envoy removes its `content-type` lines
    /// (`Utility::prepareLocalReply`, `source/common/http/utility.cc`), and these values go back on when
    /// the reply passes the filter's response-headers callback (U12).
    Restoring {
        /// The reply's `content-type` values, in order.
        content_type: Vec<String>,
    },
}

impl LambdaExchange {
    /// Step 1, from the request headers.
    #[allow(clippy::too_many_arguments)] // the stream's parts, each from a different place of `route`
    pub(super) fn start(
        config: &FilterConfig,
        host: &mut impl Host,
        target: &Arc<LambdaTarget>,
        f: &Forward<'_>,
        headers: Vec<(String, String)>,
        jwt: Option<crate::lambda::jwt::JwtClaims>,
        response_rewrite: Option<ResponseRewrite>,
        end_of_stream: bool,
    ) -> (LambdaExchange, Next) {
        let source_address = host.source_address();
        let protocol = host.request_protocol();
        let sequence = SEQUENCE.with(|s| {
            let n = s.get().wrapping_add(1);
            s.set(n);
            n
        });
        let facts = HostFacts {
            source_address: source_address.as_deref(),
            protocol: protocol.as_deref(),
            now_epoch_ms: host.now_epoch_ms(),
            sequence,
        };
        let mut pending = PendingInvocation::new(Arc::clone(target), f, headers, &facts);
        pending.jwt = jwt;
        // L4: refused before any body arrives when its announced length is already too large.
        if let Err(e) = pending.check_content_length() {
            let out = invoke::request_too_large(&e);
            return (
                answer(config, host, out, None, target, response_rewrite.as_ref()),
                Next::Stop,
            );
        }
        if end_of_stream {
            return invoke_function(config, host, &pending, b"", response_rewrite);
        }
        (
            LambdaExchange::Buffering {
                pending: Box::new(pending),
                response_rewrite,
            },
            Next::Stop,
        )
    }

    /// True once the client has its answer, or the start of it (a streamed one).
    pub(super) fn is_done(&self) -> bool {
        match self {
            LambdaExchange::Done | LambdaExchange::Restoring { .. } => true,
            LambdaExchange::Streaming(call) => call.head_sent() || call.is_finished(),
            _ => false,
        }
    }

    /// An event of the streamed call, or the client's stream ending ([`super::lambda_stream`]).
    pub(super) fn on_stream_event(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        event: StreamEvent<'_>,
    ) {
        if let LambdaExchange::Streaming(call) = self {
            if let Some(next) = call.on_event(config, host, event) {
                *self = next;
            }
        } else if !matches!(event, StreamEvent::ClientDone) {
            log::debug!("routewise: lambda: streamed-call event for a stream that has none out; ignored");
        }
    }

    /// The filter failed inside: an open streamed call is reset. True when the client already has the head
    /// of a streamed answer (its stream must be reset rather than answered).
    pub(super) fn abandon(&mut self, host: &mut impl Host) -> bool {
        match self {
            LambdaExchange::Streaming(call) => {
                let head_sent = call.head_sent() && !call.is_finished();
                call.abandon(host);
                head_sent
            }
            _ => false,
        }
    }

    /// The response headers of the stream, which are the filter's own answer once it is done: restores the
    /// `content-type` lines Envoy took off a local reply without a body (U12; [`LambdaExchange::Restoring`]).
    pub(super) fn on_response_headers(&mut self, host: &mut impl Host) -> Result<(), HostError> {
        let LambdaExchange::Restoring { content_type } = std::mem::replace(self, LambdaExchange::Done) else {
            return Ok(());
        };
        let mut values = content_type.iter();
        if let Some(first) = values.next() {
            host.set_header(Map::Response, header::CONTENT_TYPE, first)?;
        }
        for v in values {
            host.add_header(Map::Response, header::CONTENT_TYPE, v)?;
        }
        Ok(())
    }

    /// Step 2, from the request body: `buffered` is everything buffered so far.
    pub(super) fn on_request_body(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        buffered: u64,
        end_of_stream: bool,
    ) -> Next {
        let LambdaExchange::Buffering {
            pending,
            response_rewrite,
        } = self
        else {
            // Invoking or answered: nothing of this request may reach the router.
            return Next::Stop;
        };
        // L4: as soon as the buffered size passes the limit, without waiting for the rest.
        if let Err(e) = pending.check_buffered(buffered) {
            let out = invoke::request_too_large(&e);
            *self = answer(
                config,
                host,
                out,
                None,
                &pending.target,
                response_rewrite.as_ref(),
            );
            return Next::Stop;
        }
        if !end_of_stream {
            return Next::Stop;
        }
        self.finish_request(config, host, usize::try_from(buffered).unwrap_or(usize::MAX))
    }

    /// Step 2, from the request trailers: the body has ended.
    pub(super) fn on_request_trailers(&mut self, config: &FilterConfig, host: &mut impl Host) -> Next {
        self.finish_request(config, host, usize::MAX)
    }

    /// Reads the buffered body (at most `max` bytes) and invokes the function.
    fn finish_request(&mut self, config: &FilterConfig, host: &mut impl Host, max: usize) -> Next {
        let LambdaExchange::Buffering {
            pending,
            response_rewrite,
        } = std::mem::replace(self, LambdaExchange::Done)
        else {
            return Next::Stop;
        };
        let (next_state, next) = match host.request_body(max) {
            Ok(body) => invoke_function(config, host, &pending, &body, response_rewrite),
            Err(e) => {
                let out = invoke::internal_error(format!("cannot read the request body: {e}"));
                let done = answer(
                    config,
                    host,
                    out,
                    None,
                    &pending.target,
                    response_rewrite.as_ref(),
                );
                (done, Next::Stop)
            }
        };
        *self = next_state;
        next
    }

    /// Step 4, from the answer to the call.
    pub(super) fn on_call_response(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        token: u64,
        end: CallEnd<'_>,
    ) {
        let (target, sent_ms, response_rewrite) = match std::mem::replace(self, LambdaExchange::Done) {
            LambdaExchange::Invoking {
                token: sent,
                sent_ms,
                target,
                response_rewrite,
            } if sent == token => (target, sent_ms, response_rewrite),
            other => {
                *self = other;
                log::debug!("routewise: lambda: unexpected answer to call {token}; ignored");
                return;
            }
        };
        let rr = response_rewrite.as_ref();
        let body_len = match end {
            CallEnd::Failed { detail } => {
                // Envoy ends a call that outlives its timeout as a failure once headers have arrived (the
                // body stalled): a failure at the timeout is the timeout (504), as API Gateway answers it.
                let elapsed = host.now_epoch_ms().saturating_sub(sent_ms);
                let out = if elapsed + TIMEOUT_SLACK_MS >= u64::from(target.timeout_ms) {
                    invoke::timeout(target.timeout_ms)
                } else {
                    invoke::call_failed(detail)
                };
                *self = answer(config, host, out, None, &target, rr);
                return;
            }
            CallEnd::Answered { body_len } => body_len,
        };
        let headers = match host.call_response_headers() {
            Ok(h) => h,
            Err(e) => {
                let out = invoke::internal_error(format!("cannot read the Invoke response headers: {e}"));
                *self = answer(config, host, out, None, &target, rr);
                return;
            }
        };
        // U16: a body over the limit is not even copied.
        let body = if body_len > target.max_response_body_bytes {
            None
        } else {
            match host.call_response_body(usize::try_from(body_len).unwrap_or(usize::MAX)) {
                Ok(b) => Some(b),
                Err(e) => {
                    let out = invoke::internal_error(format!("cannot read the Invoke response body: {e}"));
                    answer(config, host, out, None, &target, rr);
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
        *self = answer(config, host, out, status, &target, rr);
    }
}

/// Step 3: builds the event and sends it to the integration's cluster.
fn invoke_function(
    config: &FilterConfig,
    host: &mut impl Host,
    pending: &PendingInvocation,
    body: &[u8],
    response_rewrite: Option<ResponseRewrite>,
) -> (LambdaExchange, Next) {
    let target = &pending.target;
    let mut event = Vec::new();
    if let Err(e) = pending.build_event_into(body, &mut event) {
        let out = invoke::request_too_large(&e);
        let done = answer(config, host, out, None, target, response_rewrite.as_ref());
        return (done, Next::Stop);
    }
    if let Some(path) = &target.stream_path {
        let head_request = pending.method.eq_ignore_ascii_case("HEAD");
        let exchange =
            lambda_stream::start(config, host, target, path, &event, head_request, response_rewrite);
        return (exchange, Next::Stop);
    }
    let call = Call {
        cluster: &target.cluster,
        headers: &invoke::call_headers(target.invocation),
        body: &event,
        timeout_ms: target.timeout_ms,
    };
    match host.call_cluster(&call) {
        Ok(token) => {
            log::debug!(
                "routewise: lambda: invoking through cluster {} ({} event bytes, call {token})",
                target.cluster,
                event.len()
            );
            let exchange = LambdaExchange::Invoking {
                token,
                sent_ms: host.now_epoch_ms(),
                target: Arc::clone(target),
                response_rewrite,
            };
            (exchange, Next::Stop)
        }
        Err(e) => {
            let out = invoke::internal_error(format!(
                "cannot call cluster `{}`: {e} (is it defined in Envoy?)",
                target.cluster
            ));
            let done = answer(config, host, out, None, target, response_rewrite.as_ref());
            (done, Next::Stop)
        }
    }
}

/// Sends `out` to the client, `response-rewrite` applied (G1: once), and records it (filter state,
/// counter, debug log lines). Returns the exchange's final state.
///
/// Writes a Lambda answer's filter-state entries, those the config's `filter_state` names; a failed write is
/// logged, never the stream's end (the answer still goes out).
pub(super) fn put_state(config: &FilterConfig, host: &mut impl Host, state: &[(&str, &str)]) {
    let keys = config.engine.state_keys();
    for &(key, value) in state {
        if !keys.allows(key) {
            continue;
        }
        if let Err(e) = host.set_filter_state(key, value) {
            log::warn!("routewise: lambda: cannot set filter state {key}: {e}");
        }
    }
}

/// U12 with an empty body: a local reply without a body loses its `content-type` in Envoy
/// (`Utility::prepareLocalReply` removes it), where API Gateway sends the function's own or
/// `application/json`. Such an answer is written with [`Host::send_response`] where the ABI has it (the
/// dynamic module), else sent as a local reply whose `content-type` the response-headers callback puts
/// back ([`LambdaExchange::Restoring`]; Envoy runs a decoder filter's local reply through the encoder
/// filters, this one included, for proxy-wasm).
pub(super) fn answer(
    config: &FilterConfig,
    host: &mut impl Host,
    mut out: Unwrapped,
    invoke_status: Option<u16>,
    target: &LambdaTarget,
    response_rewrite: Option<&ResponseRewrite>,
) -> LambdaExchange {
    let outcome = out.outcome.as_str();
    let status_text = invoke_status.map(|s| s.to_string());
    let mut state: Vec<(&str, &str)> = vec![(property::LAMBDA_OUTCOME, outcome)];
    if let Some(s) = &status_text {
        state.push((property::LAMBDA_STATUS, s));
    }
    if let Some(reason) = &out.reason {
        // U15, U16: the reason goes to the log (bounded) and filter state, never to the client.
        ratelog::log(out.outcome.index(), log::Level::Warn, host.now_epoch_ms(), || {
            format!(
                "routewise: lambda (cluster {}): {outcome}: {reason}",
                target.cluster
            )
        });
        state.push((property::LAMBDA_REASON, reason));
    }
    put_state(config, host, &state);
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
    host.count(config.counters.lambda(out.outcome));
    if let Some(rr) = response_rewrite {
        rewrite_answer(&mut out, rr);
    }
    let headers: Vec<(&str, &str)> = out
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let reply = Reply {
        status: out.status,
        headers: &headers,
        body: &out.body,
        details: "routewise_lambda",
    };
    let content_type: Vec<String> = if out.body.is_empty() {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(header::CONTENT_TYPE))
            .map(|(_, v)| v.to_string())
            .collect()
    } else {
        Vec::new()
    };
    if !content_type.is_empty() {
        match host.send_response(&reply) {
            Ok(true) => return LambdaExchange::Done,
            Ok(false) => {}
            Err(e) => log::warn!("routewise: lambda: {e}; sending a local reply"),
        }
    }
    if let Err(e) = host.send_local_reply(&reply) {
        log::error!("routewise: lambda: cannot send the answer: {e}");
        return LambdaExchange::Done;
    }
    if content_type.is_empty() {
        LambdaExchange::Done
    } else {
        LambdaExchange::Restoring { content_type }
    }
}

/// G2 `response-rewrite` on the filter's own answer, as Envoy's header map would apply it.
pub(super) fn rewrite_answer(out: &mut Unwrapped, rr: &ResponseRewrite) {
    if let Some(code) = rr.status_code {
        out.status = code;
    }
    for e in rr.header_edits() {
        match e {
            HeaderEdit::Remove(n) => out.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&n)),
            HeaderEdit::Set(n, v) => {
                out.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&n));
                out.headers.push((n.to_string(), v.to_string()));
            }
            HeaderEdit::Add(n, v) => out.headers.push((n.to_string(), v.to_string())),
        }
    }
}
