//! [`DmHost`]: the pipeline's [`Host`] over Envoy's dynamic-module callbacks, for one hook of one stream.
//!
//! Envoy's views (headers, body chunks, attribute strings) are valid only until the hook returns or the
//! next setter runs, so everything read is copied at once.

use std::time::{SystemTime, UNIX_EPOCH};

use routewise::pipeline::{Call, CounterId, Host, HostError, Map, Reply};

use crate::config::ModuleConfig;
use crate::ffi::{
    self, attribute, body_type, callout_init, header_type, metadata_source, Buf, EnvoyFilter, Header,
};

/// The answer of a finished call, as `on_http_filter_http_callout_done` handed it.
pub struct CallAnswer<'a> {
    /// Its header lines (`:status` included), Envoy's views.
    pub headers: &'a [Header],
    /// Its body, in slices.
    pub body: &'a [Buf],
}

/// The host of one hook.
pub struct DmHost<'a> {
    /// Envoy's stream.
    pub filter: EnvoyFilter,
    /// The configuration (for counter ids).
    pub config: Option<&'a ModuleConfig>,
    /// In `http_callout_done`: the answer being delivered.
    pub answer: Option<CallAnswer<'a>>,
    /// In a request-body hook: the current chunk is not yet part of the buffered body.
    pub in_body_hook: bool,
    /// The pipeline asked to reset the client's stream ([`Host::abort_response`]): the hook does it as
    /// its very last act, once it no longer touches the stream's state (a reset may end the stream).
    pub abort_requested: bool,
}

fn map_type(m: Map) -> u32 {
    match m {
        Map::Request => header_type::REQUEST,
        Map::Response => header_type::RESPONSE,
    }
}

fn refused(call: &'static str) -> HostError {
    HostError::new(call, "Envoy returned false (no such map, or the stream is gone)")
}

impl DmHost<'_> {
    /// Every chunk of body `body_type`, appended to `out` up to `max` bytes in all.
    fn body_chunks(&self, body_type: u32, max: usize, out: &mut Vec<u8>) -> bool {
        // SAFETY: Envoy fills `n` buffers we allocated; the views are read before any setter runs.
        unsafe {
            let n = ffi::envoy_dynamic_module_callback_http_get_body_chunks_size(self.filter, body_type);
            if n == 0 {
                return true;
            }
            let mut chunks = vec![Buf::NULL; n];
            if !ffi::envoy_dynamic_module_callback_http_get_body_chunks(
                self.filter,
                body_type,
                chunks.as_mut_ptr(),
            ) {
                return false;
            }
            for c in &chunks {
                let room = max.saturating_sub(out.len());
                let bytes = c.as_bytes();
                out.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
            }
        }
        true
    }

    /// Bytes of the request body buffered so far, this hook's chunk included.
    pub fn buffered_request_body_len(&self) -> u64 {
        // SAFETY: plain calls on Envoy's live stream.
        unsafe {
            let buffered = ffi::envoy_dynamic_module_callback_http_get_body_size(
                self.filter,
                body_type::BUFFERED_REQUEST,
            );
            let received = if self.in_body_hook
                && !ffi::envoy_dynamic_module_callback_http_received_buffered_request_body(self.filter)
            {
                ffi::envoy_dynamic_module_callback_http_get_body_size(
                    self.filter,
                    body_type::RECEIVED_REQUEST,
                )
            } else {
                0
            };
            (buffered as u64).saturating_add(received as u64)
        }
    }

    fn attribute(&self, id: u32) -> Option<String> {
        let mut out = Buf::NULL;
        // SAFETY: out-pointer to a local; the view is copied at once.
        unsafe {
            if !ffi::envoy_dynamic_module_callback_http_filter_get_attribute_string(self.filter, id, &mut out)
            {
                return None;
            }
            String::from_utf8(out.as_bytes().to_vec()).ok()
        }
    }
}

/// Header lines as Envoy's header structs, viewing `lines` for the duration of a call.
fn header_views(lines: &[(&str, &str)]) -> Vec<Header> {
    lines.iter().map(|(n, v)| Header::of(n, v)).collect()
}

impl Host for DmHost<'_> {
    fn request_headers(&mut self) -> Result<Vec<(String, String)>, HostError> {
        // SAFETY: Envoy fills `n` header structs we allocated; each view is copied before any setter.
        unsafe {
            let n =
                ffi::envoy_dynamic_module_callback_http_get_headers_size(self.filter, header_type::REQUEST);
            let mut views = vec![Header::of("", ""); n];
            if n > 0
                && !ffi::envoy_dynamic_module_callback_http_get_headers(
                    self.filter,
                    header_type::REQUEST,
                    views.as_mut_ptr(),
                )
            {
                return Err(refused("request_headers"));
            }
            Ok(views.iter().map(|h| h.to_owned_lossy()).collect())
        }
    }

    fn remove_header(&mut self, m: Map, name: &str) -> Result<(), HostError> {
        // SAFETY: a view of a live &str; a null value removes every line.
        let ok = unsafe {
            ffi::envoy_dynamic_module_callback_http_set_header(
                self.filter,
                map_type(m),
                Buf::of(name.as_bytes()),
                Buf::NULL,
            )
        };
        ok.then_some(()).ok_or_else(|| refused("remove_header"))
    }

    fn set_header(&mut self, m: Map, name: &str, value: &str) -> Result<(), HostError> {
        // An empty value would remove the header here (the ABI's set_header), where proxy-wasm sets it
        // empty; configs cannot ask for one (plugins refuse empty values), so only a function's answer
        // or a path could, and neither is ever empty.
        // SAFETY: views of live &strs.
        let ok = unsafe {
            ffi::envoy_dynamic_module_callback_http_set_header(
                self.filter,
                map_type(m),
                Buf::of(name.as_bytes()),
                Buf::of(value.as_bytes()),
            )
        };
        ok.then_some(()).ok_or_else(|| refused("set_header"))
    }

    fn add_header(&mut self, m: Map, name: &str, value: &str) -> Result<(), HostError> {
        // SAFETY: views of live &strs.
        let ok = unsafe {
            ffi::envoy_dynamic_module_callback_http_add_header(
                self.filter,
                map_type(m),
                Buf::of(name.as_bytes()),
                Buf::of(value.as_bytes()),
            )
        };
        ok.then_some(()).ok_or_else(|| refused("add_header"))
    }

    fn request_body(&mut self, max: usize) -> Result<Vec<u8>, HostError> {
        let mut out = Vec::new();
        if !self.body_chunks(body_type::BUFFERED_REQUEST, max, &mut out) {
            return Err(refused("request_body"));
        }
        // SAFETY: a plain call on Envoy's live stream.
        let received_is_buffered =
            unsafe { ffi::envoy_dynamic_module_callback_http_received_buffered_request_body(self.filter) };
        if self.in_body_hook && !received_is_buffered {
            // The chunk of this hook is not in the buffer yet (Envoy buffers it after the hook returns).
            self.body_chunks(body_type::RECEIVED_REQUEST, max, &mut out);
        }
        Ok(out)
    }

    fn source_address(&mut self) -> Option<String> {
        self.attribute(attribute::SOURCE_ADDRESS)
    }

    fn request_protocol(&mut self) -> Option<String> {
        self.attribute(attribute::REQUEST_PROTOCOL)
    }

    fn has_dynamic_metadata(&mut self, namespace: &str, key: &str) -> bool {
        // The ABI reads only string, number and bool leaves directly under a namespace (lambda-streaming.md
        // §8.3), and jwt_authn's key holds a Struct: its presence is read from the namespace's key list.
        let ns = Buf::of(namespace.as_bytes());
        // SAFETY: Envoy fills exactly `n` buffers we allocated (the count it just gave, on this thread);
        // each view is compared before any other call.
        unsafe {
            let n = ffi::envoy_dynamic_module_callback_http_get_metadata_keys_count(
                self.filter,
                metadata_source::DYNAMIC,
                ns,
            );
            if n == 0 {
                return false;
            }
            let mut keys = vec![Buf::NULL; n];
            if !ffi::envoy_dynamic_module_callback_http_get_metadata_keys(
                self.filter,
                metadata_source::DYNAMIC,
                ns,
                keys.as_mut_ptr(),
            ) {
                return false;
            }
            keys.iter().any(|k| k.as_bytes() == key.as_bytes())
        }
    }

    fn now_epoch_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn set_filter_state(&mut self, key: &str, value: &str) -> Result<(), HostError> {
        // SAFETY: views of live &strs.
        let ok = unsafe {
            ffi::envoy_dynamic_module_callback_http_set_filter_state_bytes(
                self.filter,
                Buf::of(key.as_bytes()),
                Buf::of(value.as_bytes()),
            )
        };
        ok.then_some(()).ok_or_else(|| refused("set_filter_state"))
    }

    fn clear_route_cache(&mut self) {
        // SAFETY: a plain call on Envoy's live stream.
        unsafe { ffi::envoy_dynamic_module_callback_http_clear_route_cache(self.filter) }
    }

    fn send_local_reply(&mut self, reply: &Reply<'_>) -> Result<(), HostError> {
        let headers = header_views(reply.headers);
        // SAFETY: views of live data for the duration of the call (Envoy copies them).
        unsafe {
            ffi::envoy_dynamic_module_callback_http_send_response(
                self.filter,
                u32::from(reply.status),
                headers.as_ptr(),
                headers.len(),
                Buf::of(reply.body),
                Buf::of(reply.details.as_bytes()),
            );
        }
        Ok(())
    }

    fn send_response(&mut self, reply: &Reply<'_>) -> Result<bool, HostError> {
        // Not a local reply: `send_response_headers` is `encodeHeaders` on the decoder callbacks, so Envoy
        // keeps `content-type` on a bodiless answer (U12). It passes the encoder filters, this module's own
        // response-headers hook included, re-entered while this hook runs: that hook finds the stream busy
        // and lets the headers go on. Envoy sets no response code details on this path.
        let status = reply.status.to_string();
        let mut lines = Vec::with_capacity(reply.headers.len() + 1);
        lines.push((":status", status.as_str()));
        lines.extend_from_slice(reply.headers);
        let headers = header_views(&lines);
        let bodiless = reply.body.is_empty();
        // SAFETY: views of live data for the duration of each call (Envoy copies them).
        unsafe {
            ffi::envoy_dynamic_module_callback_http_send_response_headers(
                self.filter,
                headers.as_ptr(),
                headers.len(),
                bodiless,
            );
            if !bodiless {
                ffi::envoy_dynamic_module_callback_http_send_response_data(
                    self.filter,
                    Buf::of(reply.body),
                    true,
                );
            }
        }
        Ok(true)
    }

    fn call_cluster(&mut self, call: &Call<'_>) -> Result<u64, HostError> {
        let headers = header_views(call.headers);
        let mut id = 0u64;
        // SAFETY: views of live data (Envoy copies them); out-pointer to a local.
        let result = unsafe {
            ffi::envoy_dynamic_module_callback_http_filter_http_callout(
                self.filter,
                &mut id,
                Buf::of(call.cluster.as_bytes()),
                headers.as_ptr(),
                headers.len(),
                Buf::of(call.body),
                u64::from(call.timeout_ms),
            )
        };
        callout_id("call_cluster", result, id)
    }

    fn call_response_headers(&mut self) -> Result<Vec<(String, String)>, HostError> {
        let answer = self
            .answer
            .as_ref()
            .ok_or_else(|| HostError::new("call_response_headers", "no answer"))?;
        // SAFETY: the views Envoy passed to this hook, valid until it returns.
        Ok(answer
            .headers
            .iter()
            .map(|h| unsafe { h.to_owned_lossy() })
            .collect())
    }

    fn call_response_body(&mut self, len: usize) -> Result<Vec<u8>, HostError> {
        let answer = self
            .answer
            .as_ref()
            .ok_or_else(|| HostError::new("call_response_body", "no answer"))?;
        let mut out = Vec::with_capacity(len.min(64 * 1024 * 1024));
        for c in answer.body {
            let room = len.saturating_sub(out.len());
            // SAFETY: the views Envoy passed to this hook, valid until it returns.
            let bytes = unsafe { c.as_bytes() };
            out.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
        Ok(out)
    }

    fn start_stream(&mut self, call: &Call<'_>) -> Result<u64, HostError> {
        let headers = header_views(call.headers);
        let mut id = 0u64;
        // SAFETY: views of live data (Envoy copies them); out-pointer to a local. Envoy may re-enter this
        // stream's hooks (a reset) before returning: they find the state busy and queue the event.
        let result = unsafe {
            ffi::envoy_dynamic_module_callback_http_filter_start_http_stream(
                self.filter,
                &mut id,
                Buf::of(call.cluster.as_bytes()),
                headers.as_ptr(),
                headers.len(),
                Buf::of(call.body),
                true,
                u64::from(call.timeout_ms),
            )
        };
        callout_id("start_stream", result, id)
    }

    fn reset_stream(&mut self, id: u64) -> Result<(), HostError> {
        // SAFETY: a plain call on Envoy's live stream; unknown ids are ignored by Envoy.
        unsafe { ffi::envoy_dynamic_module_callback_http_filter_reset_http_stream(self.filter, id) };
        Ok(())
    }

    fn send_response_head(&mut self, status: u16, headers: &[(&str, &str)]) -> Result<(), HostError> {
        let status = status.to_string();
        let mut lines = Vec::with_capacity(headers.len() + 1);
        lines.push((":status", status.as_str()));
        lines.extend_from_slice(headers);
        let views = header_views(&lines);
        // SAFETY: views of live data for the duration of the call (Envoy copies them). Envoy runs the
        // encoder filters, this module's response-headers hook included (re-entered: it finds the state
        // busy and lets the headers go on).
        unsafe {
            ffi::envoy_dynamic_module_callback_http_send_response_headers(
                self.filter,
                views.as_ptr(),
                views.len(),
                false,
            );
        }
        Ok(())
    }

    fn send_response_body(&mut self, data: &[u8], end_of_stream: bool) -> Result<(), HostError> {
        // SAFETY: a view of live data for the duration of the call (Envoy copies it).
        unsafe {
            ffi::envoy_dynamic_module_callback_http_send_response_data(
                self.filter,
                Buf::of(data),
                end_of_stream,
            );
        }
        Ok(())
    }

    fn abort_response(&mut self, _details: &str) -> Result<(), HostError> {
        // Done by the hook after it has let go of the stream's state (crate::hooks).
        self.abort_requested = true;
        Ok(())
    }

    fn count(&mut self, id: CounterId) {
        let Some(envoy_id) = self
            .config
            .and_then(|c| c.counter_ids.get(id.index()).copied().flatten())
        else {
            return;
        };
        // SAFETY: no labels; a plain call on Envoy's live stream.
        unsafe {
            ffi::envoy_dynamic_module_callback_http_filter_increment_counter(
                self.filter,
                envoy_id,
                std::ptr::null(),
                0,
                1,
            );
        }
    }
}

/// The id of a call Envoy accepted, or the `callout_init` result it refused it with, by name.
fn callout_id(call: &'static str, result: u32, id: u64) -> Result<u64, HostError> {
    if result == callout_init::SUCCESS {
        Ok(id)
    } else {
        let name = callout_init::NAMES
            .get(result as usize)
            .copied()
            .unwrap_or("unknown result");
        Err(HostError::new(call, format!("{name} ({result})")))
    }
}
