//! [`RecordingHost`]: a [`Host`] over plain header lists that records every operation in order. The native
//! tests of the pipeline use it (the order of edits, what a failing host call becomes), and so does
//! `routewise explain`, which shows the upstream request by running the very pipeline the builds run.
//!
//! Header maps behave as Envoy's: names compared without case, `set` removes every line of the name and
//! appends one (`setCopy`), `add` appends a line.

use super::counters::CounterId;
use super::host::{Call, Host, HostError, Map, Reply};

/// One operation the pipeline asked of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The request headers were read.
    ReadRequestHeaders,
    /// Every line of a header removed.
    RemoveHeader(Map, String),
    /// A header set (replacing every line).
    SetHeader(Map, String, String),
    /// A header line added.
    AddHeader(Map, String, String),
    /// The buffered request body was read.
    ReadRequestBody,
    /// The client address was read.
    ReadSourceAddress,
    /// Filter state set.
    SetFilterState(String, String),
    /// The route cache cleared.
    ClearRouteCache,
    /// A local reply sent.
    LocalReply {
        /// Status.
        status: u16,
        /// Header lines.
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
        /// Response code details.
        details: String,
    },
    /// A response written by the filter, not as a local reply ([`Host::send_response`]).
    Response {
        /// Status.
        status: u16,
        /// Header lines.
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
    },
    /// A call to a cluster made.
    Call {
        /// Cluster.
        cluster: String,
        /// Header lines.
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
        /// Timeout.
        timeout_ms: u32,
    },
    /// A counter incremented.
    Count(CounterId),
    /// A streamed call started ([`Host::start_stream`]).
    StartStream {
        /// Cluster.
        cluster: String,
        /// Header lines.
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
        /// Timeout.
        timeout_ms: u32,
    },
    /// A streamed call reset ([`Host::reset_stream`]).
    ResetStream(u64),
    /// The head of a response written in pieces ([`Host::send_response_head`]).
    ResponseHead {
        /// Status.
        status: u16,
        /// Header lines.
        headers: Vec<(String, String)>,
    },
    /// A piece of its body ([`Host::send_response_body`]).
    ResponseBody {
        /// The bytes.
        data: Vec<u8>,
        /// The last piece.
        end_of_stream: bool,
    },
    /// The client's stream reset ([`Host::abort_response`]).
    AbortResponse(String),
}

/// A local reply as recorded: status, header lines, body.
pub type RecordedReply<'a> = (u16, &'a [(String, String)], &'a [u8]);

/// A host made of header lists; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct RecordingHost {
    /// The request header lines (as the upstream would receive them, after the pipeline's edits).
    pub request: Vec<(String, String)>,
    /// The response header lines (set them before calling the response callback).
    pub response: Vec<(String, String)>,
    /// The buffered request body.
    pub body: Vec<u8>,
    /// `source.address`.
    pub source_address: Option<String>,
    /// `request.protocol`.
    pub protocol: Option<String>,
    /// The clock.
    pub now_epoch_ms: u64,
    /// The answer to the last call: header lines and body (for the call-response callback).
    pub call_answer: (Vec<(String, String)>, Vec<u8>),
    /// The stream's dynamic metadata keys, as `(namespace, key)` ([`Host::has_dynamic_metadata`]).
    pub dynamic_metadata: Vec<(String, String)>,
    /// Whether [`Host::send_response`] is available, as in the dynamic module (default: not, as in
    /// proxy-wasm).
    pub writes_responses: bool,
    /// Whether streamed calls and responses in pieces are available ([`Host::start_stream`] and the
    /// rest), as in the dynamic module (default: not, as in proxy-wasm).
    pub streams: bool,
    /// Host calls (by [`HostError::call`] name) that fail, and from which occurrence on (0 = the first).
    failing: Vec<(&'static str, usize)>,
    seen: Vec<(&'static str, usize)>,
    ops: Vec<Op>,
    next_token: u64,
}

impl RecordingHost {
    /// A host whose request has `headers` (names lowercased).
    pub fn new(headers: &[(&str, &str)]) -> RecordingHost {
        RecordingHost {
            request: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            ..RecordingHost::default()
        }
    }

    /// Makes host call `call` (`set_header`, `send_local_reply`, ...) fail from its `nth` use on (0-based).
    pub fn fail(mut self, call: &'static str, nth: usize) -> RecordingHost {
        self.failing.push((call, nth));
        self
    }

    /// Every operation so far, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The first line of request header `name`.
    pub fn request_header(&self, name: &str) -> Option<&str> {
        first(&self.request, name)
    }

    /// The first line of response header `name`.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        first(&self.response, name)
    }

    /// The value of filter state `key`, as last set.
    pub fn filter_state(&self, key: &str) -> Option<&str> {
        self.ops.iter().rev().find_map(|op| match op {
            Op::SetFilterState(k, v) if k == key => Some(v.as_str()),
            _ => None,
        })
    }

    /// The local reply sent, if any: status, header lines, body.
    pub fn local_reply(&self) -> Option<RecordedReply<'_>> {
        self.ops.iter().find_map(|op| match op {
            Op::LocalReply {
                status,
                headers,
                body,
                ..
            } => Some((*status, headers.as_slice(), body.as_slice())),
            _ => None,
        })
    }

    /// The calls made: cluster and body.
    pub fn calls(&self) -> Vec<(&str, &[u8])> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::Call { cluster, body, .. } => Some((cluster.as_str(), body.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// How many times counter `id` was incremented.
    pub fn count_of(&self, id: CounterId) -> usize {
        self.ops.iter().filter(|op| **op == Op::Count(id)).count()
    }

    /// Counts a use of `call` and fails it when asked to.
    fn check(&mut self, call: &'static str) -> Result<(), HostError> {
        let n = match self.seen.iter_mut().find(|(c, _)| *c == call) {
            Some((_, n)) => {
                *n += 1;
                *n - 1
            }
            None => {
                self.seen.push((call, 1));
                0
            }
        };
        if self.failing.iter().any(|(c, from)| *c == call && n >= *from) {
            return Err(HostError::new(call, "injected failure"));
        }
        Ok(())
    }

    fn map(&mut self, map: Map) -> &mut Vec<(String, String)> {
        match map {
            Map::Request => &mut self.request,
            Map::Response => &mut self.response,
        }
    }
}

fn first<'a>(lines: &'a [(String, String)], name: &str) -> Option<&'a str> {
    lines
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn owned(lines: &[(&str, &str)]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

impl Host for RecordingHost {
    fn request_headers(&mut self) -> Result<Vec<(String, String)>, HostError> {
        self.check("request_headers")?;
        self.ops.push(Op::ReadRequestHeaders);
        Ok(self.request.clone())
    }

    fn remove_header(&mut self, map: Map, name: &str) -> Result<(), HostError> {
        self.check("remove_header")?;
        self.map(map).retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.ops.push(Op::RemoveHeader(map, name.to_string()));
        Ok(())
    }

    fn set_header(&mut self, map: Map, name: &str, value: &str) -> Result<(), HostError> {
        self.check("set_header")?;
        let lines = self.map(map);
        lines.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        lines.push((name.to_ascii_lowercase(), value.to_string()));
        self.ops
            .push(Op::SetHeader(map, name.to_string(), value.to_string()));
        Ok(())
    }

    fn add_header(&mut self, map: Map, name: &str, value: &str) -> Result<(), HostError> {
        self.check("add_header")?;
        self.map(map).push((name.to_ascii_lowercase(), value.to_string()));
        self.ops
            .push(Op::AddHeader(map, name.to_string(), value.to_string()));
        Ok(())
    }

    fn request_body(&mut self, max: usize) -> Result<Vec<u8>, HostError> {
        self.check("request_body")?;
        self.ops.push(Op::ReadRequestBody);
        Ok(self.body.iter().copied().take(max).collect())
    }

    fn source_address(&mut self) -> Option<String> {
        self.ops.push(Op::ReadSourceAddress);
        self.source_address.clone()
    }

    fn request_protocol(&mut self) -> Option<String> {
        self.protocol.clone()
    }

    fn has_dynamic_metadata(&mut self, namespace: &str, key: &str) -> bool {
        self.dynamic_metadata
            .iter()
            .any(|(ns, k)| ns == namespace && k == key)
    }

    fn now_epoch_ms(&mut self) -> u64 {
        self.now_epoch_ms
    }

    fn set_filter_state(&mut self, key: &str, value: &str) -> Result<(), HostError> {
        self.check("set_filter_state")?;
        self.ops
            .push(Op::SetFilterState(key.to_string(), value.to_string()));
        Ok(())
    }

    fn clear_route_cache(&mut self) {
        self.ops.push(Op::ClearRouteCache);
    }

    fn send_response(&mut self, reply: &Reply<'_>) -> Result<bool, HostError> {
        if !self.writes_responses {
            return Ok(false);
        }
        self.check("send_response")?;
        self.ops.push(Op::Response {
            status: reply.status,
            headers: owned(reply.headers),
            body: reply.body.to_vec(),
        });
        Ok(true)
    }

    fn send_local_reply(&mut self, reply: &Reply<'_>) -> Result<(), HostError> {
        self.check("send_local_reply")?;
        self.ops.push(Op::LocalReply {
            status: reply.status,
            headers: owned(reply.headers),
            body: reply.body.to_vec(),
            details: reply.details.to_string(),
        });
        Ok(())
    }

    fn call_cluster(&mut self, call: &Call<'_>) -> Result<u64, HostError> {
        self.check("call_cluster")?;
        self.ops.push(Op::Call {
            cluster: call.cluster.to_string(),
            headers: owned(call.headers),
            body: call.body.to_vec(),
            timeout_ms: call.timeout_ms,
        });
        self.next_token += 1;
        Ok(self.next_token)
    }

    fn call_response_headers(&mut self) -> Result<Vec<(String, String)>, HostError> {
        self.check("call_response_headers")?;
        Ok(self.call_answer.0.clone())
    }

    fn call_response_body(&mut self, len: usize) -> Result<Vec<u8>, HostError> {
        self.check("call_response_body")?;
        Ok(self.call_answer.1.iter().copied().take(len).collect())
    }

    fn count(&mut self, id: CounterId) {
        self.ops.push(Op::Count(id));
    }

    fn start_stream(&mut self, call: &Call<'_>) -> Result<u64, HostError> {
        self.streaming("start_stream")?;
        self.ops.push(Op::StartStream {
            cluster: call.cluster.to_string(),
            headers: owned(call.headers),
            body: call.body.to_vec(),
            timeout_ms: call.timeout_ms,
        });
        self.next_token += 1;
        Ok(self.next_token)
    }

    fn reset_stream(&mut self, id: u64) -> Result<(), HostError> {
        self.streaming("reset_stream")?;
        self.ops.push(Op::ResetStream(id));
        Ok(())
    }

    fn send_response_head(&mut self, status: u16, headers: &[(&str, &str)]) -> Result<(), HostError> {
        self.streaming("send_response_head")?;
        self.ops.push(Op::ResponseHead {
            status,
            headers: owned(headers),
        });
        Ok(())
    }

    fn send_response_body(&mut self, data: &[u8], end_of_stream: bool) -> Result<(), HostError> {
        self.streaming("send_response_body")?;
        self.ops.push(Op::ResponseBody {
            data: data.to_vec(),
            end_of_stream,
        });
        Ok(())
    }

    fn abort_response(&mut self, details: &str) -> Result<(), HostError> {
        self.streaming("abort_response")?;
        self.ops.push(Op::AbortResponse(details.to_string()));
        Ok(())
    }
}

impl RecordingHost {
    /// Fails `call` unless the host [`RecordingHost::streams`]; else counts it ([`RecordingHost::fail`]).
    fn streaming(&mut self, call: &'static str) -> Result<(), HostError> {
        if !self.streams {
            return Err(HostError::new(call, "not supported by this host"));
        }
        self.check(call)
    }
}
