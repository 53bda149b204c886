//! The client's answer to a streamed invocation (`InvokeWithResponseStream`, lambda-streaming.md §2-§6), as
//! a state machine with no ABI: the adapter feeds it the call's headers, body pieces and end as Envoy
//! delivers them, and performs the [`Action`]s it returns in order. [`super::eventstream`] decodes the
//! body, [`super::stream_prelude`] splits the function's output into head and body.
//!
//! ```
//! use routewise::lambda::stream_answer::{Action, StreamAnswer};
//!
//! let mut answer = StreamAnswer::new(1 << 20);
//! let mut actions = Vec::new();
//! answer.on_headers(&[(":status".into(), "200".into())], false, &mut actions);
//! assert!(actions.is_empty());
//! ```
//!
//! Rule selection (first match wins):
//! - **Before the stream** (§2, §6): an Invoke status >= 300, or `x-amz-function-error`, is answered as a
//!   buffered call's: U1 (429 → 500 with `x-envoy-lambda-statuscode` and the `Reason` of a JSON body read
//!   up to [`MAX_ERROR_BODY_BYTES`]) or U2 (502), one [`Action::Reply`].
//! - **Until the prelude is complete** nothing is sent. A broken prelude (§4.3) is API Gateway's 500; the
//!   function ending (InvokeComplete) or the call ending before it is the same 500 when the output simply
//!   ended, a 502 when Lambda reported an error (`ErrorCode`, an `exception` or `error` message: U2's
//!   answer, `x-envoy-lambda-function-error: <ErrorCode>`), a broken event stream, or the call failed
//!   ([`super::invoke::call_failed`]; a timeout is [`super::invoke::timeout`]'s 504).
//! - **Once the head is sent** (status and headers, [`Action::Head`]) each body piece is an
//!   [`Action::Data`] as it comes; InvokeComplete without `ErrorCode` is [`Action::End`]. Anything else, a
//!   mid-stream `ErrorCode`, an exception or error message, a broken event stream, the call ending or
//!   failing without InvokeComplete, a timeout, is [`Action::Reset`]: the status already sent cannot change,
//!   so the client's stream is reset and the truncation is visible (§6 recommendation), with the reason
//!   for the log.
//!
//! After a [`Action::Reply`], [`Action::End`] or [`Action::Reset`] every later input is ignored. Memory: the
//! decoder holds at most one event-stream message (the limit given to [`StreamAnswer::new`]), the splitter at
//! most 16 KB of prelude, an error body at most [`MAX_ERROR_BODY_BYTES`].

use super::eventstream::{Decoder, Event};
use super::headers::AMZ_FUNCTION_ERROR;
use super::invoke;
use super::stream_prelude::{PreludeSplitter, Step};
use super::unwrap::{unwrap_response_into, InvokeResponse, Outcome, Unwrapped};
use super::PayloadFormat;

/// Most bytes of an error answer's body kept to read U1's `Reason`.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// What the adapter does next, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this whole answer (nothing was sent before): status, headers, body, end of stream.
    Reply(Unwrapped),
    /// Send the response headers, not ending the stream (`status`, `headers` of the [`Unwrapped`]).
    Head(Unwrapped),
    /// Send these body bytes, not ending the stream.
    Data(Vec<u8>),
    /// End the response (an empty last data frame).
    End,
    /// Reset the client's stream: the answer is truncated. The reason is for the log.
    Reset(String),
}

#[derive(Debug)]
enum Phase {
    /// No Invoke headers yet.
    Start,
    /// An error answer: its body is read for U1.
    ErrorBody { status: u16, body: Vec<u8> },
    /// Status 2xx: the event stream.
    Streaming,
    /// Replied, ended or reset.
    Finished,
}

/// One streamed invocation's answer.
#[derive(Debug)]
pub struct StreamAnswer {
    phase: Phase,
    invoke_headers: Vec<(String, String)>,
    decoder: Decoder,
    splitter: PreludeSplitter,
    head_sent: bool,
    outcome: Outcome,
    reason: Option<String>,
}

impl StreamAnswer {
    /// A new answer; event-stream messages over `max_message_bytes` end the stream.
    pub fn new(max_message_bytes: u32) -> StreamAnswer {
        StreamAnswer {
            phase: Phase::Start,
            invoke_headers: Vec::new(),
            decoder: Decoder::with_limit(max_message_bytes),
            splitter: PreludeSplitter::new(),
            head_sent: false,
            outcome: Outcome::Proxied,
            reason: None,
        }
    }

    /// True once nothing more will be sent.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// True once the head went out ([`Action::Head`]).
    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    /// The outcome for the counters and filter state, final once [`StreamAnswer::is_finished`]: `Proxied`
    /// for a complete stream, else the rule's ([`Outcome::Malformed`] for a broken prelude or event stream,
    /// [`Outcome::FunctionError`] for an `ErrorCode`, [`Outcome::CallFailed`], [`Outcome::Timeout`], U1/U2's).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Why the answer is not the function's complete output, for the log and filter state.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The Invoke response's headers (`:status` among them).
    pub fn on_headers(&mut self, headers: &[(String, String)], end_stream: bool, out: &mut Vec<Action>) {
        if !matches!(self.phase, Phase::Start) {
            return;
        }
        let status = headers
            .iter()
            .find(|(n, _)| n == ":status")
            .and_then(|(_, v)| v.parse::<u16>().ok())
            .unwrap_or(0);
        self.invoke_headers = headers
            .iter()
            .filter(|(n, _)| !n.starts_with(':'))
            .cloned()
            .collect();
        let function_error = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(AMZ_FUNCTION_ERROR));
        if !(200..300).contains(&status) || function_error {
            self.phase = Phase::ErrorBody {
                status,
                body: Vec::new(),
            };
        } else {
            self.phase = Phase::Streaming;
        }
        if end_stream {
            self.on_data(&[], true, out);
        }
    }

    /// A piece of the Invoke response's body; `end_stream` on the last.
    pub fn on_data(&mut self, bytes: &[u8], end_stream: bool, out: &mut Vec<Action>) {
        match &mut self.phase {
            Phase::Start | Phase::Finished => {}
            Phase::ErrorBody { status, body } => {
                let room = MAX_ERROR_BODY_BYTES.saturating_sub(body.len());
                body.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
                if end_stream {
                    let (status, body) = (*status, std::mem::take(body));
                    self.error_reply(status, &body, out);
                }
            }
            Phase::Streaming => {
                self.stream(bytes, out);
                if end_stream && !self.is_finished() {
                    // §6: the stream ended without InvokeComplete: truncated.
                    let why = "the event stream ended without InvokeComplete";
                    self.fail(
                        Outcome::CallFailed,
                        why.to_string(),
                        invoke::call_failed(why),
                        out,
                    );
                }
            }
        }
    }

    /// The call ended without (the rest of) an answer: reset, connection failure, or `timed_out` after
    /// `timeout_ms`.
    pub fn on_reset(&mut self, detail: &str, timed_out: Option<u32>, out: &mut Vec<Action>) {
        if self.is_finished() {
            return;
        }
        let reply = match timed_out {
            Some(ms) => invoke::timeout(ms),
            None => invoke::call_failed(detail),
        };
        let reason = reply.reason.clone().unwrap_or_default();
        self.fail(reply.outcome, reason, reply, out);
    }

    /// U1/U2 on an error answer, whole.
    fn error_reply(&mut self, status: u16, body: &[u8], out: &mut Vec<Action>) {
        let mut reply = Unwrapped::default();
        let resp = InvokeResponse {
            status,
            headers: &self.invoke_headers,
            body,
        };
        unwrap_response_into(PayloadFormat::V1, &resp, MAX_ERROR_BODY_BYTES as u64, &mut reply);
        if reply.outcome == Outcome::Proxied || reply.outcome == Outcome::Inferred {
            // A 2xx with x-amz-function-error is U2 above; a 1xx or an unreadable status gets here.
            reply = invoke::call_failed(&format!("unexpected Invoke status {status}"));
        }
        self.outcome = reply.outcome;
        self.reason = reply.reason.clone();
        self.phase = Phase::Finished;
        out.push(Action::Reply(reply));
    }

    /// Decodes a piece of the event stream and acts on each event.
    fn stream(&mut self, bytes: &[u8], out: &mut Vec<Action>) {
        let mut events: Vec<Owned> = Vec::new();
        let decoded = self.decoder.feed(bytes, |e| events.push(Owned::of(e)));
        for event in events {
            if self.is_finished() {
                return;
            }
            match event {
                Owned::Chunk(p) => self.chunk(&p, out),
                Owned::Complete { error_code: None } => {
                    if let Some(reply) = self.splitter.finish(&self.invoke_headers) {
                        // §4.3: the output ended before the prelude's delimiter.
                        self.outcome = reply.outcome;
                        self.reason = reply.reason.clone();
                        self.phase = Phase::Finished;
                        out.push(Action::Reply(reply));
                    } else {
                        self.phase = Phase::Finished;
                        out.push(Action::End);
                    }
                }
                Owned::Complete {
                    error_code: Some((code, details)),
                } => {
                    // Cut before formatting: ErrorDetails can be as long as a message (MiBs); the reason is
                    // cut to 1 KB for the log anyway.
                    let (code, details) = (prefix(&code, 256), prefix(&details, 1024));
                    let why = format!("the function failed: ErrorCode {code:?}, ErrorDetails {details:?}");
                    let mut reply = invoke::call_failed("");
                    reply.outcome = Outcome::FunctionError;
                    if let Some(v) = super::headers::safe_header_value(code, 256) {
                        reply
                            .headers
                            .push((super::headers::FUNCTION_ERROR.to_string(), v.to_string()));
                    }
                    self.fail(Outcome::FunctionError, why, reply, out);
                }
                Owned::Failure(why) => self.fail(
                    Outcome::LambdaError,
                    why,
                    invoke::call_failed("lambda reported an error"),
                    out,
                ),
                Owned::Skip => {}
            }
        }
        if let Err(e) = decoded {
            if !self.is_finished() {
                let why = format!("malformed event stream: {e}");
                let mut reply = invoke::call_failed("");
                reply.outcome = Outcome::Malformed;
                self.fail(Outcome::Malformed, why, reply, out);
            }
        }
    }

    /// Bytes of the function's output.
    fn chunk(&mut self, bytes: &[u8], out: &mut Vec<Action>) {
        match self.splitter.push(bytes, &self.invoke_headers) {
            Step::NeedMore => {}
            Step::Head { head, body } => {
                self.head_sent = true;
                let body = body.to_vec();
                out.push(Action::Head(head));
                if !body.is_empty() {
                    out.push(Action::Data(body));
                }
            }
            Step::Body(b) => {
                if !b.is_empty() {
                    out.push(Action::Data(b.to_vec()));
                }
            }
            Step::Failed(reply) => {
                self.outcome = reply.outcome;
                self.reason = reply.reason.clone();
                self.phase = Phase::Finished;
                out.push(Action::Reply(reply));
            }
        }
    }

    /// Ends the answer abnormally: `reply` (its reason replaced by `why`) before the head, a reset after.
    fn fail(&mut self, outcome: Outcome, why: String, mut reply: Unwrapped, out: &mut Vec<Action>) {
        self.outcome = outcome;
        self.reason = Some(why.clone());
        self.phase = Phase::Finished;
        if self.head_sent {
            out.push(Action::Reset(why));
        } else {
            reply.outcome = outcome;
            reply.reason = Some(why);
            out.push(Action::Reply(reply));
        }
    }
}

/// An event, owned, so that it can be acted on after the decoder's callback.
enum Owned {
    Chunk(Vec<u8>),
    Complete { error_code: Option<(String, String)> },
    Failure(String),
    Skip,
}

impl Owned {
    fn of(e: Event<'_>) -> Owned {
        match e {
            Event::PayloadChunk(p) => Owned::Chunk(p.to_vec()),
            Event::InvokeComplete {
                error_code,
                error_details,
                ..
            } => Owned::Complete {
                error_code: error_code.map(|c| (c, error_details.unwrap_or_default())),
            },
            Event::Exception { exception_type, .. } => {
                Owned::Failure(format!("lambda sent an exception message: {exception_type:?}"))
            }
            Event::Error { code, message } => {
                Owned::Failure(format!("lambda sent an error message: {code:?} {message:?}"))
            }
            Event::Unknown { .. } => Owned::Skip,
        }
    }
}

#[cfg(test)]
mod tests;

/// The first `max` bytes of `s` at most, cut at a character boundary.
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}
