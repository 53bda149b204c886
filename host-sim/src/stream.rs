//! HTTP streams as Envoy's filter manager runs them through one proxy-wasm filter followed by the router.
//!
//! The rules come from Envoy `source/common/http/filter_manager.cc` (`commonContinue`,
//! `commonHandleAfter{Headers,Data,Trailers}Callback`, `handleDataIfStopAll`) and the wasm filter
//! `source/extensions/common/wasm/context.cc` (`decodeHeaders`/`decodeData`/`encode*`), plus cpp-host's
//! status conversion (`convertVmCallResultToFilterHeadersStatus`):
//!
//! - **Pause from a headers callback.** Default: `StopAllIterationAndWatermark`: body and trailers are
//!   buffered without calling the filter; on `continue_stream` the headers go on and the filter gets one
//!   body callback with everything buffered. With `allow_on_headers_stop_iteration`: `StopIteration`: the
//!   headers are held, the body callbacks run, and a `Continue` from one releases headers and body.
//! - **Pause from a body callback** is `StopIterationAndBuffer`: the next callback sees the whole buffer
//!   (`body_size` = total buffered); over the buffer limit the request gets a 413 and the response a 500.
//! - **Deferred actions** (`continue_stream`, `close_stream`, `send_local_response`) run after the callback
//!   returns and before its status is acted upon, like Envoy's after-VM-call actions.
//! - **Local replies** (`FilterManager::sendLocalReply`): before the upstream response starts, the reply
//!   passes through this filter's response callbacks (the filter sees its own reply); while upstream
//!   response headers are held by the filter, it is sent directly; once response headers went out, the
//!   stream is reset. A local reply ends the request side: the upstream is not called.
//! - **End of stream**: `on_log` (access-log phase: final headers readable), then `on_done` and
//!   `on_delete` (`ConnectionManagerImpl::doDeferredStreamDestroy`: log before `destroyFilters`).

use std::collections::BTreeMap;

use crate::error::Error;
use crate::http::{Headers, Request, Response, UpstreamRequest};
use crate::state::{Dir, HttpCall, Iteration, LogEntry, StreamData};
use crate::vm::Sim;

/// The address host-sim's Envoy appends to `x-forwarded-for` for a loopback client. Envoy appends its own
/// local address there (the machine's, e.g. `192.0.2.2`), which no simulator can know; tests that compare
/// with Envoy compare everything before it.
pub const ENVOY_LOCAL_ADDRESS: &str = "127.0.0.1";

/// What happened to one request: what the upstream got, what the client got, and what the filter left
/// behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The stream's context id.
    pub stream_id: u32,
    /// What the upstream received; `None` when the filter answered locally or reset the stream before
    /// the request reached the upstream.
    pub upstream_request: Option<UpstreamRequest>,
    /// What the client received; `None` when the stream was reset.
    pub response: Option<Response>,
    /// The response is a local reply (`send_http_response`, or Envoy's own 413/500 on buffer overflow).
    pub local_reply: bool,
    /// The stream was reset (`close_stream`, or a local reply after response headers went out).
    pub reset: bool,
    /// Properties written with `set_property` (Envoy filter state `wasm.<path>`), by path.
    pub properties: BTreeMap<String, Vec<u8>>,
    /// Envoy's response code details (e.g. the details of a local reply).
    pub response_code_details: Option<String>,
    /// How many times the route cache was cleared (request-header changes, `clear_route_cache`).
    pub route_cache_clears: u32,
    /// Logs written while this exchange ran.
    pub logs: Vec<LogEntry>,
    /// HTTP callouts made while this exchange ran.
    pub http_calls: Vec<HttpCall>,
    /// The module's callbacks Envoy entered for this stream, in order (`proxy_on_context_create`,
    /// `proxy_on_request_headers`, ...). A callback the module does not export is not entered: cpp-host skips
    /// it (`ContextBase::onLog` and the like), and every entry into the VM is a cost per stream.
    pub callbacks: Vec<&'static str>,
}

impl Exchange {
    /// A property as text (lossy UTF-8).
    pub fn property(&self, path: &str) -> Option<String> {
        self.properties
            .get(path)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The client's status (0 when the stream was reset).
    pub fn status(&self) -> u32 {
        self.response.as_ref().map_or(0, |r| r.status)
    }
}

/// What a test answers as the upstream: a fixed [`Response`] or a closure of the request it got.
pub trait Upstream {
    /// The response to `request`.
    fn respond(&mut self, request: &UpstreamRequest) -> Response;
}

impl Upstream for Response {
    fn respond(&mut self, _: &UpstreamRequest) -> Response {
        self.clone()
    }
}

impl<F: FnMut(&UpstreamRequest) -> Response> Upstream for F {
    fn respond(&mut self, request: &UpstreamRequest) -> Response {
        self(request)
    }
}

/// Where a stream stands (see [`Sim::stream_state`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// The request reached the upstream, which has not answered yet.
    AwaitingUpstream(UpstreamRequest),
    /// The client got the whole response (or a reset): [`Sim::finish`] returns the exchange.
    Complete,
    /// The filter paused and nothing is pending that could resume it.
    Stalled(String),
}

/// How the filter manager treats a callback's return value.
enum HeadersStatus {
    Continue,
    Stop(Iteration),
}

enum DataStatus {
    Continue,
    Buffer { limited: bool },
    NoBuffer,
}

impl Sim {
    fn stream_mut(&mut self, id: u32) -> Option<&mut StreamData> {
        self.store.data_mut().ctx.streams.get_mut(&id)
    }

    fn half(&mut self, id: u32, dir: Dir) -> Option<&mut crate::state::Half> {
        self.stream_mut(id).map(|s| s.half(dir))
    }

    fn convert_headers_status(&self, action: i32) -> HeadersStatus {
        // cpp-host convertVmCallResultToFilterHeadersStatus; Envoy FilterHeadersStatus values.
        match action {
            0 | 2 => HeadersStatus::Continue,
            1 if self.allow_on_headers_stop_iteration => HeadersStatus::Stop(Iteration::StopSingle),
            3 => HeadersStatus::Stop(Iteration::StopAll { limited: true }),
            _ => HeadersStatus::Stop(Iteration::StopAll { limited: false }),
        }
    }

    /// Opens a stream: creates its context and sends the request headers, body and trailers through the
    /// filter. Returns the stream id; drive it with [`Sim::stream_state`], [`Sim::respond`], [`Sim::finish`].
    pub fn begin(&mut self, req: Request) -> Result<u32, Error> {
        let st = self.store.data_mut();
        let id = st.ctx.next_id;
        st.ctx.next_id += 1;
        self.log_mark = st.log.entries.len();
        let mut headers = Headers::new();
        headers.add(":authority", &req.authority);
        headers.add(":path", &req.path);
        headers.add(":method", &req.method);
        headers.add(":scheme", "http");
        for (k, v) in req.headers.iter() {
            headers.add(k, v);
        }
        // The connection manager with `use_remote_address: true` (every routewise Envoy config), before any
        // filter runs (`ConnectionManagerUtility::mutateRequestHeaders`), in Envoy's order: the peer is
        // loopback (127.0.0.1), so Envoy appends its *own* local address to `x-forwarded-for`
        // (`appendXff(config.localAddress())`; the machine's address in Envoy, [`ENVOY_LOCAL_ADDRESS`]
        // here); sets `x-forwarded-proto`; and, no address being internal without an
        // `internal_address_config` in 1.40, sets `x-envoy-external-address` to the peer's IP, replacing a
        // client's copy. Checked against Envoy in tests/tests/fidelity.rs.
        // Both are inline headers in Envoy: an existing entry is changed where it is.
        match headers.0.iter_mut().find(|(k, _)| k == "x-forwarded-for") {
            Some(entry) => entry.1 = format!("{},{ENVOY_LOCAL_ADDRESS}", entry.1),
            None => headers.add("x-forwarded-for", ENVOY_LOCAL_ADDRESS),
        }
        if headers.get("x-forwarded-proto").is_none() {
            headers.add("x-forwarded-proto", "http");
        }
        match headers
            .0
            .iter_mut()
            .find(|(k, _)| k == "x-envoy-external-address")
        {
            Some(entry) => entry.1 = "127.0.0.1".to_string(),
            None => headers.add("x-envoy-external-address", "127.0.0.1"),
        }
        if headers.get("x-request-id").is_none() {
            headers.add("x-request-id", &format!("00000000-0000-4000-8000-{:012x}", id));
        }
        let port = self.next_source_port;
        self.next_source_port = self.next_source_port.wrapping_add(1).max(40000);
        let mut request = crate::state::Half::new();
        request.headers = headers;
        let start_time_ns = st.clock.now_ns;
        // Envoy creates the stream's context under the plugin of the filter configuration the stream got:
        // the current root context.
        let root = st.ctx.root_id;
        st.ctx.streams.insert(
            id,
            StreamData {
                root,
                request,
                response: crate::state::Half::new(),
                filter_state: BTreeMap::new(),
                route_cache_clears: 0,
                response_code: None,
                response_code_details: None,
                source_port: port,
                start_time_ns,
                access_log_phase: false,
                local_reply: false,
                reset: false,
                finished: false,
                upstream_called: false,
                http_calls: Vec::new(),
                dynamic_metadata: req.dynamic_metadata.clone(),
                entered: Vec::new(),
            },
        );
        self.invoke(
            "proxy_on_context_create",
            id,
            self.cb.context_create.clone(),
            (id as i32, root as i32),
        )?;
        self.run_deferred()?;
        let chunks: Vec<Vec<u8>> = req.body.into_iter().filter(|c| !c.is_empty()).collect();
        let has_trailers = req.trailers.is_some();
        self.fm_headers(id, Dir::Request, chunks.is_empty() && !has_trailers)?;
        let n = chunks.len();
        for (i, c) in chunks.into_iter().enumerate() {
            self.fm_data(id, Dir::Request, c, i + 1 == n && !has_trailers)?;
        }
        if let Some(t) = req.trailers {
            self.fm_trailers(id, Dir::Request, t)?;
        }
        self.settle()?;
        Ok(id)
    }

    /// Where stream `id` stands.
    pub fn stream_state(&self, id: u32) -> Result<StreamState, Error> {
        let st = self.store.data();
        let s = st
            .ctx
            .streams
            .get(&id)
            .ok_or_else(|| Error::Usage(format!("no open stream {id}")))?;
        if s.finished || s.reset || s.response.out_complete {
            return Ok(StreamState::Complete);
        }
        if s.request.out_complete && !s.upstream_called && !s.local_reply {
            return Ok(StreamState::AwaitingUpstream(upstream_request(s)));
        }
        let pending = st.calls.pending.len();
        let side = if s.upstream_called || s.local_reply {
            ("response", &s.response)
        } else {
            ("request", &s.request)
        };
        let phase = if !side.1.headers_continued {
            "headers"
        } else if side.1.trailers_held {
            "trailers"
        } else {
            "body"
        };
        let mode = match side.1.iteration {
            Iteration::StopAll { .. } if !self.allow_on_headers_stop_iteration => {
                " (default Envoy: a Pause from a headers callback stops the body callbacks too until continue_stream; \
                 allow_on_headers_stop_iteration: true would have delivered them)"
            }
            _ => "",
        };
        Ok(StreamState::Stalled(format!(
            "the filter paused the {} in {} and nothing resumed it{}; {} HTTP call(s) pending",
            side.0, phase, mode, pending
        )))
    }

    /// Sends the upstream's response through the filter's response callbacks.
    pub fn respond(&mut self, id: u32, resp: Response) -> Result<(), Error> {
        let Some(s) = self.stream_mut(id) else {
            return Err(Error::Usage(format!("no open stream {id}")));
        };
        if s.upstream_called || s.local_reply || !s.request.out_complete {
            return Err(Error::Usage(format!(
                "stream {id} is not waiting for the upstream"
            )));
        }
        s.upstream_called = true;
        s.response_code = Some(resp.status);
        s.response_code_details = Some("via_upstream".into());
        self.send_response(id, resp)?;
        self.settle()
    }

    fn send_response(&mut self, id: u32, resp: Response) -> Result<(), Error> {
        let chunks = resp.body_chunks();
        let Some(h) = self.half(id, Dir::Response) else {
            return Ok(());
        };
        h.headers.add(":status", &resp.status.to_string());
        for (k, v) in resp.headers.iter() {
            h.headers.add(k, v);
        }
        let has_trailers = resp.trailers.is_some();
        self.fm_headers(id, Dir::Response, chunks.is_empty() && !has_trailers)?;
        let n = chunks.len();
        for (i, c) in chunks.into_iter().enumerate() {
            self.fm_data(id, Dir::Response, c, i + 1 == n && !has_trailers)?;
        }
        if let Some(t) = resp.trailers {
            self.fm_trailers(id, Dir::Response, t)?;
        }
        Ok(())
    }

    /// Ends a complete stream (`on_log`, `on_done`, `on_delete`) and returns what happened. When it was the
    /// last stream of a root context that a [`Sim::push_config`] replaced, that root is finished next
    /// (`on_done`, `on_delete`), after this exchange's logs were taken.
    pub fn finish(&mut self, id: u32) -> Result<Exchange, Error> {
        match self.stream_state(id)? {
            StreamState::Complete => {}
            other => return Err(Error::Usage(format!("stream {id} is not complete: {other:?}"))),
        }
        if let Some(s) = self.stream_mut(id) {
            s.access_log_phase = true;
        }
        let r = self.invoke("proxy_on_log", id, self.cb.log.clone(), id as i32);
        if let Some(s) = self.stream_mut(id) {
            s.access_log_phase = false;
        }
        r?;
        self.invoke("proxy_on_done", id, self.cb.done.clone(), id as i32)?;
        self.invoke("proxy_on_delete", id, self.cb.delete.clone(), id as i32)?;
        let st = self.store.data_mut();
        // HTTP callouts belong to the root context (cpp-host `http_call`), so a stream's end does not cancel
        // them: an answer that comes later still reaches the root context, where the SDK finds no stream.
        st.deferred.clear();
        let mut s = st
            .ctx
            .streams
            .remove(&id)
            .ok_or_else(|| Error::Usage(format!("no open stream {id}")))?;
        let logs = st
            .log
            .entries
            .get(self.log_mark..)
            .map(<[LogEntry]>::to_vec)
            .unwrap_or_default();
        let http_calls = std::mem::take(&mut s.http_calls);
        let callbacks = std::mem::take(&mut s.entered);
        let response = (!s.reset).then(|| {
            let h = s.response.out_headers.clone().unwrap_or_default();
            Response {
                status: h.get(":status").and_then(|v| v.parse().ok()).unwrap_or(0),
                headers: h.without(&[":status"]),
                body: s.response.out_body.clone(),
                trailers: s.response.out_trailers.clone(),
                chunks: Vec::new(),
            }
        });
        let root = s.root;
        let exchange = Exchange {
            stream_id: id,
            upstream_request: s.upstream_called.then(|| upstream_request(&s)),
            response,
            local_reply: s.local_reply,
            reset: s.reset,
            properties: s
                .filter_state
                .iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone()))
                .collect(),
            response_code_details: s.response_code_details.clone(),
            route_cache_clears: s.route_cache_clears,
            logs,
            http_calls,
            callbacks,
        };
        if root != self.store.data().ctx.root_id {
            self.release_root(root)?;
            self.settle()?;
        }
        Ok(exchange)
    }

    /// Sends `req` through the filter, answers as the upstream with `upstream` when the request gets
    /// there, and returns the whole exchange. HTTP callouts are answered by the handler set with
    /// [`Sim::on_http_call`]; a stream that can make no progress is [`Error::Stalled`].
    pub fn send(&mut self, req: Request, mut upstream: impl Upstream) -> Result<Exchange, Error> {
        let id = self.begin(req)?;
        loop {
            match self.stream_state(id)? {
                StreamState::Complete => return self.finish(id),
                StreamState::AwaitingUpstream(up) => {
                    let resp = upstream.respond(&up);
                    self.respond(id, resp)?;
                }
                StreamState::Stalled(detail) => return Err(Error::Stalled { stream: id, detail }),
            }
        }
    }

    /// Properties (`set_property` values) of an open stream, by path.
    pub fn stream_properties(&self, id: u32) -> BTreeMap<String, Vec<u8>> {
        self.store
            .data()
            .ctx
            .streams
            .get(&id)
            .map_or_else(BTreeMap::new, |s| {
                s.filter_state
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone()))
                    .collect()
            })
    }

    // ----- the filter manager -----

    fn ended(&mut self, id: u32, dir: Dir) -> bool {
        match self.stream_mut(id) {
            None => true,
            Some(s) => s.reset || s.half(dir).aborted,
        }
    }

    pub(crate) fn fm_headers(&mut self, id: u32, dir: Dir, eos: bool) -> Result<(), Error> {
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        h.started = true;
        h.headers_avail = true;
        h.end_of_stream = eos;
        h.observed_end = eos;
        let n = h.headers.len() as i32;
        let (name, f) = match dir {
            Dir::Request => ("proxy_on_request_headers", self.cb.request_headers.clone()),
            Dir::Response => ("proxy_on_response_headers", self.cb.response_headers.clone()),
        };
        let action = self
            .invoke(name, id, f, (id as i32, n, i32::from(eos)))?
            .unwrap_or(0);
        self.run_deferred()?;
        if self.ended(id, dir) {
            return Ok(());
        }
        let status = self.convert_headers_status(action);
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        match status {
            HeadersStatus::Continue => {
                h.headers_avail = false;
                h.headers_continued = true;
                self.pass_headers(id, dir, eos);
            }
            HeadersStatus::Stop(it) => h.iteration = it,
        }
        Ok(())
    }

    pub(crate) fn fm_data(&mut self, id: u32, dir: Dir, chunk: Vec<u8>, eos: bool) -> Result<(), Error> {
        let limit = self.buffer_limit;
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        if h.aborted {
            return Ok(());
        }
        h.end_of_stream = eos;
        h.observed_end |= eos;
        if let Iteration::StopAll { limited } = h.iteration {
            // handleDataIfStopAll: buffered without calling the filter, which is resumed from here later.
            h.body.extend_from_slice(&chunk);
            h.iterate_from_current = true;
            if limited && h.body.len() > limit {
                return self.overflow(id, dir);
            }
            return Ok(());
        }
        h.body.extend_from_slice(&chunk);
        self.body_callback(id, dir, eos)
    }

    fn body_callback(&mut self, id: u32, dir: Dir, eos: bool) -> Result<(), Error> {
        let limit = self.buffer_limit;
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        h.body_avail = true;
        h.end_of_stream = eos;
        let size = h.body.len() as i32;
        let (name, f) = match dir {
            Dir::Request => ("proxy_on_request_body", self.cb.request_body.clone()),
            Dir::Response => ("proxy_on_response_body", self.cb.response_body.clone()),
        };
        let action = self
            .invoke(name, id, f, (id as i32, size, i32::from(eos)))?
            .unwrap_or(0);
        self.run_deferred()?;
        if self.ended(id, dir) {
            return Ok(());
        }
        // cpp-host convertVmCallResultToFilterDataStatus: 0 Continue, 1 StopIterationAndBuffer,
        // 2 StopIterationAndWatermark, 3 (and above) StopIterationNoBuffer.
        let status = match action {
            0 => DataStatus::Continue,
            1 => DataStatus::Buffer { limited: true },
            2 => DataStatus::Buffer { limited: false },
            _ => DataStatus::NoBuffer,
        };
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        h.buffering = false;
        match status {
            DataStatus::Continue => {
                h.body_avail = false;
                if h.iteration != Iteration::Continue {
                    return self.common_continue(id, dir);
                }
                let body = std::mem::take(&mut h.body);
                // Trailers the filter added at the end of the body (addDecodedTrailers) follow the data.
                let added_trailers = eos && h.trailers.is_some();
                self.pass_data(id, dir, body, eos && !added_trailers);
                if added_trailers {
                    self.pass_trailers(id, dir);
                }
            }
            DataStatus::Buffer { limited } => {
                h.iteration = Iteration::StopSingle;
                h.buffering = limited;
                if limited && h.body.len() > limit {
                    return self.overflow(id, dir);
                }
            }
            DataStatus::NoBuffer => {
                h.iteration = Iteration::StopSingle;
                h.body.clear();
            }
        }
        Ok(())
    }

    pub(crate) fn fm_trailers(&mut self, id: u32, dir: Dir, trailers: Headers) -> Result<(), Error> {
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        if h.aborted {
            return Ok(());
        }
        h.trailers = Some(trailers);
        h.trailers_held = true;
        h.observed_end = true;
        if matches!(h.iteration, Iteration::StopAll { .. }) {
            return Ok(());
        }
        self.trailers_callback(id, dir)
    }

    fn trailers_callback(&mut self, id: u32, dir: Dir) -> Result<(), Error> {
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        h.trailers_avail = true;
        h.trailers_seen = true;
        let n = h.trailers.as_ref().map_or(0, Headers::len) as i32;
        let (name, f) = match dir {
            Dir::Request => ("proxy_on_request_trailers", self.cb.request_trailers.clone()),
            Dir::Response => ("proxy_on_response_trailers", self.cb.response_trailers.clone()),
        };
        let action = self.invoke(name, id, f, (id as i32, n))?.unwrap_or(0);
        self.run_deferred()?;
        if self.ended(id, dir) {
            return Ok(());
        }
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        if action == 0 {
            h.trailers_avail = false;
            if h.iteration != Iteration::Continue {
                return self.common_continue(id, dir);
            }
            self.pass_trailers(id, dir);
        } else {
            h.iteration = Iteration::StopSingle;
        }
        Ok(())
    }

    /// `continue_stream` (deferred action).
    pub(crate) fn fm_continue(&mut self, id: u32, dir: Dir) -> Result<(), Error> {
        if self.ended(id, dir) {
            return Ok(());
        }
        self.common_continue(id, dir)
    }

    /// Envoy `ActiveStreamFilterBase::commonContinue`.
    fn common_continue(&mut self, id: u32, dir: Dir) -> Result<(), Error> {
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        if !h.started || (h.iteration == Iteration::Continue && h.headers_continued) {
            return Ok(()); // Nothing is stopped: continuing is a no-op.
        }
        h.iteration = Iteration::Continue;
        if !h.headers_continued {
            h.headers_continued = true;
            if dir == Dir::Response {
                h.headers_avail = false;
            }
            let eos = h.observed_end && h.body.is_empty() && !h.trailers_held;
            self.pass_headers(id, dir, eos);
        }
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        let had_trailers = h.trailers_held;
        if !h.body.is_empty() || (h.observed_end && !had_trailers && !h.out_complete) {
            let eos = h.observed_end && !had_trailers;
            if h.iterate_from_current {
                h.iterate_from_current = false;
                self.body_callback(id, dir, eos)?;
                let Some(h) = self.half(id, dir) else {
                    return Ok(());
                };
                if h.iteration != Iteration::Continue || h.aborted {
                    return Ok(());
                }
            } else {
                let body = std::mem::take(&mut h.body);
                h.body_avail = false;
                self.pass_data(id, dir, body, eos);
            }
        }
        let Some(h) = self.half(id, dir) else {
            return Ok(());
        };
        if had_trailers && h.trailers_held {
            if h.trailers_seen {
                self.pass_trailers(id, dir);
            } else {
                self.trailers_callback(id, dir)?;
            }
        }
        Ok(())
    }

    fn pass_headers(&mut self, id: u32, dir: Dir, eos: bool) {
        let Some(h) = self.half(id, dir) else { return };
        h.out_headers = Some(h.headers.clone());
        h.out_complete |= eos;
    }

    fn pass_data(&mut self, id: u32, dir: Dir, body: Vec<u8>, eos: bool) {
        let Some(h) = self.half(id, dir) else { return };
        h.out_body.extend_from_slice(&body);
        h.out_complete |= eos;
    }

    fn pass_trailers(&mut self, id: u32, dir: Dir) {
        let Some(h) = self.half(id, dir) else { return };
        h.out_trailers = h.trailers.clone();
        h.trailers_held = false;
        h.out_complete = true;
    }

    /// The buffer limit was exceeded while the filter buffered: Envoy answers 413 (request, through the
    /// filter chain) or 500 (response, directly).
    fn overflow(&mut self, id: u32, dir: Dir) -> Result<(), Error> {
        match dir {
            Dir::Request => self.local_reply(
                id,
                413,
                b"Payload Too Large".to_vec(),
                Headers::new(),
                "request_payload_too_large".into(),
                -1,
            ),
            Dir::Response => self.local_reply(
                id,
                500,
                b"Internal Server Error".to_vec(),
                Headers::new(),
                "response_payload_too_large".into(),
                -1,
            ),
        }
    }

    /// `close_stream`: Envoy resets the stream.
    pub(crate) fn reset_stream(&mut self, id: u32) -> Result<(), Error> {
        if let Some(s) = self.stream_mut(id) {
            s.reset = true;
            s.request.aborted = true;
            s.response.aborted = true;
        }
        Ok(())
    }

    /// `send_local_response` (deferred action), `FilterManager::sendLocalReply`.
    pub(crate) fn local_reply(
        &mut self,
        id: u32,
        status: u32,
        body: Vec<u8>,
        extra: Headers,
        details: String,
        _grpc_status: i32,
    ) -> Result<(), Error> {
        let Some(s) = self.stream_mut(id) else {
            return Ok(());
        };
        if s.reset || s.response.out_complete {
            return Ok(());
        }
        if s.response.out_headers.is_some() {
            // Response headers already went downstream: all Envoy can do is reset.
            return self.reset_stream(id);
        }
        let is_head = s.request.headers.get(":method") == Some("HEAD");
        let mut headers = Headers::new();
        headers.add(":status", &status.to_string());
        headers.0.extend(extra.0);
        // Envoy `Utility::encodeLocalReply`: a body sets `content-length` and, when none is set,
        // `content-type: text/plain`; an empty body removes both (the filter's own included).
        if !body.is_empty() {
            headers.set("content-length", &body.len().to_string());
            if headers.get("content-type").is_none() {
                headers.add("content-type", "text/plain");
            }
        } else {
            headers.remove("content-length");
            headers.remove("content-type");
        }
        s.local_reply = true;
        s.response_code = Some(status);
        s.response_code_details = Some(details);
        s.request.aborted = true;
        if s.response.started {
            // Upstream response headers are held by this filter: the reply goes straight to the client.
            let h = &mut s.response;
            h.out_headers = Some(headers);
            h.out_body = if is_head { Vec::new() } else { body };
            h.out_trailers = None;
            h.out_complete = true;
            h.aborted = true;
            return Ok(());
        }
        // Through the filter chain: this filter's response callbacks see the reply.
        s.response = crate::state::Half::new();
        s.response.headers = headers.without(&[":status"]);
        s.response
            .headers
            .0
            .insert(0, (":status".into(), status.to_string()));
        // `Utility::encodeLocalReply`: the reply to a HEAD request is its headers only (content-length and
        // content-type as for the GET), ended there.
        let eos = body.is_empty() || is_head;
        self.fm_headers(id, Dir::Response, eos)?;
        if !eos {
            self.fm_data(id, Dir::Response, body, true)?;
        }
        Ok(())
    }
}

fn upstream_request(s: &StreamData) -> UpstreamRequest {
    let h = s.request.out_headers.clone().unwrap_or_default();
    UpstreamRequest {
        method: h.get(":method").unwrap_or_default().to_string(),
        path: h.get(":path").unwrap_or_default().to_string(),
        headers: h.without(&[":method", ":path"]),
        body: s.request.out_body.clone(),
        trailers: s.request.out_trailers.clone(),
    }
}
