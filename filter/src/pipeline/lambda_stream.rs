//! A Lambda integration with `response_transfer_mode: "STREAM"` (issue 15; API Gateway REST's
//! `responseTransferMode: STREAM`; facts in `lambda-streaming.md`): the function is invoked with
//! `InvokeWithResponseStream` as a streamed call of the filter's own, and its answer goes to the client as
//! it comes. The request side (buffering, L4, the event) is the buffered integration's ([`super::lambda`]).
//!
//! 1. **Invoke** (§2): [`Host::start_stream`] to the integration's cluster, `POST
//!    /2021-11-15/functions/{function_name}/response-streaming-invocations`, `x-amz-invocation-type:
//!    RequestResponse`, the event as the body (with its `content-length`), `timeout_ms` for the whole
//!    exchange (Envoy's stream timeout: API Gateway lets a stream last 15 minutes, §5, so raise
//!    `timeout_ms` up to 900000 for long streams).
//! 2. **The answer**, event by event ([`StreamEvent`]), through [`StreamAnswer`]: nothing is sent until the
//!    prelude and its delimiter have arrived (at most 16 KB, §4.1); then the head (status and header
//!    lines: U4-U9, U12, U13 as for a buffered answer, never a framing header from the function, so Envoy
//!    frames the body itself), each body piece as it arrives, and the end at InvokeComplete.
//! 3. **Before the head**, a failure is a whole answer like a buffered call's: U1 (429 → 500), U2 (502), the
//!    §4.3 500 for a broken or missing prelude, 502 for a broken event stream or a failed call, 504 at the
//!    timeout; `response-rewrite` applies, and the outcome is recorded as for a buffered answer.
//! 4. **After the head**, a failure (an `ErrorCode` in InvokeComplete, an exception or error message, a
//!    broken event stream, the call reset or ending without InvokeComplete, the timeout) cannot change the
//!    status already sent: the client's stream is reset so the truncation is visible (§6 recommendation),
//!    and the reason is logged (bounded: [`super::ratelog`]) and left in filter state.
//! 5. **The client leaves** (the downstream stream completes before the answer has): the streamed call is
//!    reset; nothing cancels the function itself (§6), its own timeout bounds its cost.
//!
//! Bounded: the event stream decoder holds at most one message of at most `max_response_body_bytes`
//! (default and maximum 6 MiB; a larger message ends the stream), the prelude at most 16 KB, an error body
//! at most 64 KB; body pieces are passed on as they come, never gathered.
//!
//! Every finished exchange leaves `routewise.lambda_outcome` (`proxied` for a complete stream), the Invoke
//! status and, when the answer is not the function's complete output, `routewise.lambda_reason`, and counts
//! `routewise.lambda.<outcome>`, as buffered answers do.

use std::sync::Arc;

use super::host::{Call, Host};
use super::lambda::{answer, put_state, rewrite_answer, LambdaExchange};
use super::ratelog;
use super::FilterConfig;
use crate::decision::LambdaTarget;
use crate::lambda::eventstream::MAX_MESSAGE_BYTES;
use crate::lambda::invoke::{self, INVOCATION_TYPE_HEADER, INVOKE_AUTHORITY};
use crate::lambda::stream_answer::{Action, StreamAnswer};
use crate::lambda::unwrap::Outcome;
use crate::names::property;
use crate::plugins::ResponseRewrite;

/// A failed call this close to `timeout_ms` after it was sent is taken as the timeout.
const TIMEOUT_SLACK_MS: u64 = 20;
/// The smallest event-stream message limit, whatever `max_response_body_bytes` says.
const MIN_MESSAGE_LIMIT: u64 = 64 * 1024;
/// Every Invoke API answer carries it; Envoy's own timeout answer does not.
const REQUEST_ID: &str = "x-amzn-requestid";
/// Most bytes of a failure's reason kept for the log line and filter state (an `ErrorDetails` can be as
/// long as a message).
const MAX_REASON_BYTES: usize = 1024;
/// `%RESPONSE_CODE_DETAILS%` of a client stream reset mid-answer.
pub const ABORT_DETAILS: &str = "routewise_lambda_stream_reset";

/// What the host delivers about a streamed call, or about the client's stream, as the adapter learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The answer's header lines (`:status` among them); `end_of_stream` when it has no body.
    Headers {
        /// The call ([`Host::start_stream`]'s id).
        id: u64,
        /// The lines.
        headers: &'a [(String, String)],
        /// No body follows.
        end_of_stream: bool,
    },
    /// A piece of the answer's body.
    Data {
        /// The call.
        id: u64,
        /// The bytes.
        data: &'a [u8],
        /// The last piece.
        end_of_stream: bool,
    },
    /// The answer ended (its trailers arrived, or the call completed).
    End {
        /// The call.
        id: u64,
    },
    /// The call was reset (connection failure, timeout, Envoy's reset).
    Reset {
        /// The call.
        id: u64,
    },
    /// The client's stream is over (complete or reset): whatever is still open is abandoned.
    ClientDone,
}

/// A streamed invocation in flight.
#[derive(Debug)]
pub(super) struct StreamCall {
    /// The call's id.
    id: u64,
    /// When it was sent (host clock, ms).
    sent_ms: u64,
    /// The integration.
    target: Arc<LambdaTarget>,
    /// The merged `response-rewrite`, applied to the head (or to the whole answer before it).
    response_rewrite: Option<ResponseRewrite>,
    /// The client's answer as a state machine.
    answer: StreamAnswer,
    /// The Invoke status, once known.
    invoke_status: Option<u16>,
    /// No more of the call's answer will come.
    upstream_done: bool,
    /// The client has its head.
    head_sent: bool,
    /// The client's request is a HEAD: its answer has no body, whatever the function streams (a local
    /// response written in pieces is not trimmed by Envoy as a local reply is).
    head_request: bool,
    /// The client has its whole answer, or was reset.
    finished: bool,
}

/// Step 1: sends the streamed call with `event`. Returns the exchange's next state.
pub(super) fn start(
    config: &FilterConfig,
    host: &mut impl Host,
    target: &Arc<LambdaTarget>,
    path: &str,
    event: &[u8],
    head_request: bool,
    response_rewrite: Option<ResponseRewrite>,
) -> LambdaExchange {
    let length = event.len().to_string();
    let headers = [
        (":method", "POST"),
        (":path", path),
        (":authority", INVOKE_AUTHORITY),
        ("content-type", "application/json"),
        ("content-length", length.as_str()),
        (INVOCATION_TYPE_HEADER, target.invocation.as_str()),
    ];
    let call = Call {
        cluster: &target.cluster,
        headers: &headers,
        body: event,
        timeout_ms: target.timeout_ms,
    };
    match host.start_stream(&call) {
        Ok(id) => {
            log::debug!(
                "routewise: lambda: streaming invocation through cluster {} ({} event bytes, stream {id})",
                target.cluster,
                event.len()
            );
            let limit = target
                .max_response_body_bytes
                .clamp(MIN_MESSAGE_LIMIT, u64::from(MAX_MESSAGE_BYTES));
            LambdaExchange::Streaming(Box::new(StreamCall {
                id,
                sent_ms: host.now_epoch_ms(),
                target: Arc::clone(target),
                response_rewrite,
                answer: StreamAnswer::new(u32::try_from(limit).unwrap_or(MAX_MESSAGE_BYTES)),
                invoke_status: None,
                upstream_done: false,
                head_sent: false,
                head_request,
                finished: false,
            }))
        }
        Err(e) => {
            let out = invoke::internal_error(format!(
                "cannot start the streamed call to cluster `{}`: {e} (is it defined in Envoy?)",
                target.cluster
            ));
            answer(config, host, out, None, target, response_rewrite.as_ref())
        }
    }
}

impl StreamCall {
    /// True once the client has its head (a failure now resets the client's stream).
    pub(super) fn head_sent(&self) -> bool {
        self.head_sent
    }

    /// True once nothing more is sent to the client.
    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    /// The filter failed inside (a panic): the call is reset if it is still open, and nothing more is sent.
    pub(super) fn abandon(&mut self, host: &mut impl Host) {
        self.close_upstream(host);
        self.finished = true;
    }

    /// Step 2-5, one event. Returns the exchange's next state when the client got a whole answer instead
    /// (a [`Action::Reply`]).
    pub(super) fn on_event(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        event: StreamEvent<'_>,
    ) -> Option<LambdaExchange> {
        let mut actions = Vec::new();
        match event {
            StreamEvent::ClientDone => {
                if !self.finished {
                    // §6: the client left; nothing more of the answer is wanted.
                    log::debug!(
                        "routewise: lambda (cluster {}): the client's stream ended before the answer; \
                         resetting stream {}",
                        self.target.cluster,
                        self.id
                    );
                    put_state(
                        config,
                        host,
                        &[(
                            property::LAMBDA_REASON,
                            "the client's stream ended before the function's answer",
                        )],
                    );
                    self.close_upstream(host);
                    self.finished = true;
                }
                return None;
            }
            StreamEvent::Headers { id, .. }
            | StreamEvent::Data { id, .. }
            | StreamEvent::End { id }
            | StreamEvent::Reset { id }
                if id != self.id =>
            {
                log::debug!("routewise: lambda: event for stream {id}, not this request's; ignored");
                return None;
            }
            StreamEvent::Headers {
                headers,
                end_of_stream,
                ..
            } => {
                self.upstream_done |= end_of_stream;
                let status = headers
                    .iter()
                    .find(|(n, _)| n == ":status")
                    .and_then(|(_, v)| v.parse::<u16>().ok());
                self.invoke_status = status;
                let from_lambda = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(REQUEST_ID));
                if status == Some(504) && !from_lambda {
                    // Envoy answers a call that outlives its timeout itself (504, no x-amzn-requestid; the
                    // Invoke API never answers 504 without one): the timeout, as for a buffered call.
                    self.answer
                        .on_reset("timeout", Some(self.target.timeout_ms), &mut actions);
                } else {
                    self.answer.on_headers(headers, end_of_stream, &mut actions);
                }
            }
            StreamEvent::Data {
                data, end_of_stream, ..
            } => {
                self.upstream_done |= end_of_stream;
                self.answer.on_data(data, end_of_stream, &mut actions);
            }
            StreamEvent::End { .. } => {
                self.upstream_done = true;
                self.answer.on_data(&[], true, &mut actions);
                if !self.answer.is_finished() {
                    // The call ended before its headers (never seen in Envoy; kept total).
                    self.answer
                        .on_reset("the call ended without an answer", None, &mut actions);
                }
            }
            StreamEvent::Reset { .. } => {
                self.upstream_done = true;
                let elapsed = host.now_epoch_ms().saturating_sub(self.sent_ms);
                let timed_out = (elapsed + TIMEOUT_SLACK_MS >= u64::from(self.target.timeout_ms))
                    .then_some(self.target.timeout_ms);
                self.answer.on_reset("reset", timed_out, &mut actions);
            }
        }
        self.perform(config, host, actions)
    }

    /// Carries out the answer's actions, in order.
    fn perform(
        &mut self,
        config: &FilterConfig,
        host: &mut impl Host,
        actions: Vec<Action>,
    ) -> Option<LambdaExchange> {
        for action in actions {
            if self.finished {
                break;
            }
            match action {
                Action::Reply(mut out) => {
                    if let Some(r) = &mut out.reason {
                        let keep = bounded(r).len();
                        r.truncate(keep);
                    }
                    // Nothing was sent: the whole answer, as a buffered call's (U1, U2, §4.3).
                    self.finished = true;
                    self.close_upstream(host);
                    let rr = self.response_rewrite.take();
                    return Some(answer(
                        config,
                        host,
                        out,
                        self.invoke_status,
                        &self.target,
                        rr.as_ref(),
                    ));
                }
                Action::Head(mut head) => {
                    if let Some(rr) = self.response_rewrite.take() {
                        rewrite_answer(&mut head, &rr);
                    }
                    for d in &head.dropped {
                        log::debug!("routewise: lambda (cluster {}): {d}", self.target.cluster);
                    }
                    let lines: Vec<(&str, &str)> = head
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    if let Err(e) = host.send_response_head(head.status, &lines) {
                        self.internal_failure(config, host, &format!("cannot send the head: {e}"));
                        return None;
                    }
                    self.head_sent = true;
                }
                // No body after the head of a HEAD answer (RFC 9110 §9.3.2).
                Action::Data(_) if self.head_request => {}
                Action::Data(bytes) => {
                    if let Err(e) = host.send_response_body(&bytes, false) {
                        self.internal_failure(config, host, &format!("cannot send a body piece: {e}"));
                        return None;
                    }
                }
                Action::End => {
                    // InvokeComplete is Lambda's last message: the call ends on its own. Recorded first:
                    // ending the response can complete the stream, and its access log, at once.
                    self.finished = true;
                    self.record(config, host);
                    if let Err(e) = host.send_response_body(&[], true) {
                        log::warn!("routewise: lambda: cannot end the streamed answer: {e}");
                    }
                }
                Action::Reset(why) => {
                    self.finished = true;
                    self.close_upstream(host);
                    self.record(config, host);
                    log::debug!("routewise: lambda: resetting the client's stream: {why}");
                    if let Err(e) = host.abort_response(ABORT_DETAILS) {
                        log::warn!("routewise: lambda: cannot reset the client's stream: {e}");
                    }
                }
            }
        }
        None
    }

    /// A host call failed mid-answer: the call is reset, and the client gets the 500 when nothing was sent
    /// yet, else a reset.
    fn internal_failure(&mut self, config: &FilterConfig, host: &mut impl Host, what: &str) {
        self.finished = true;
        self.close_upstream(host);
        let out = invoke::internal_error(what.to_string());
        if self.head_sent {
            self.record_as(config, host, out.outcome, out.reason.as_deref());
            let _ = host.abort_response(ABORT_DETAILS);
        } else {
            let rr = self.response_rewrite.take();
            answer(config, host, out, self.invoke_status, &self.target, rr.as_ref());
        }
    }

    /// Resets the call unless its answer has ended.
    fn close_upstream(&mut self, host: &mut impl Host) {
        if !self.upstream_done {
            self.upstream_done = true;
            if let Err(e) = host.reset_stream(self.id) {
                log::debug!("routewise: lambda: cannot reset stream {}: {e}", self.id);
            }
        }
    }

    /// Records the streamed answer's outcome (filter state, counter, a bounded warn line for a failure).
    fn record(&self, config: &FilterConfig, host: &mut impl Host) {
        let outcome = self.answer.outcome();
        self.record_as(config, host, outcome, self.answer.reason());
    }

    fn record_as(&self, config: &FilterConfig, host: &mut impl Host, outcome: Outcome, reason: Option<&str>) {
        let status = self.invoke_status.map(|s| s.to_string());
        let mut state: Vec<(&str, &str)> = vec![(property::LAMBDA_OUTCOME, outcome.as_str())];
        if let Some(s) = &status {
            state.push((property::LAMBDA_STATUS, s));
        }
        if let Some(reason) = reason.map(bounded) {
            ratelog::log(outcome.index(), log::Level::Warn, host.now_epoch_ms(), || {
                format!(
                    "routewise: lambda (cluster {}): {}: {reason} (streamed answer; the client's stream \
                     was reset)",
                    self.target.cluster,
                    outcome.as_str()
                )
            });
            state.push((property::LAMBDA_REASON, reason));
        }
        put_state(config, host, &state);
        host.count(config.counters.lambda(outcome));
    }
}

/// `reason` cut to [`MAX_REASON_BYTES`] at a character boundary.
fn bounded(reason: &str) -> &str {
    crate::lambda::stream_answer::prefix(reason, MAX_REASON_BYTES)
}

#[cfg(test)]
mod tests;
