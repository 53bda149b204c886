//! [`WasmHost`]: the pipeline's [`Host`] over proxy-wasm host calls.

use std::cell::Cell;

use routewise_core::names::{property, CLEAR_ROUTE_CACHE};
use routewise_core::pipeline::{Call, CounterId, FilterConfig, Host, HostError, Map, Reply};

use crate::abi::{self, buffer, map};

/// Counter ids, defined on first use: Envoy shares a stat across the worker VMs, and each VM defines it
/// once and keeps its id. (Defining every per-rule counter at configure time would cost each VM as many
/// host calls as the config has rules.)
pub struct Metrics {
    ids: Box<[Cell<Option<u32>>]>,
}

impl Metrics {
    /// One slot per counter of `config`.
    pub fn new(config: &FilterConfig) -> Metrics {
        Metrics {
            ids: (0..config.counters.len()).map(|_| Cell::new(None)).collect(),
        }
    }

    fn count(&self, config: &FilterConfig, id: CounterId) {
        let Some(slot) = self.ids.get(id.index()) else {
            return;
        };
        let metric = match slot.get() {
            Some(m) => m,
            None => {
                let name = config.counters.name(id);
                match abi::define_counter(&name) {
                    Ok(m) => {
                        slot.set(Some(m));
                        m
                    }
                    Err(status) => {
                        log::warn!("routewise: cannot define metric {name}: {status}");
                        return;
                    }
                }
            }
        };
        if let Err(status) = abi::increment_counter(metric) {
            log::warn!("routewise: cannot increment metric {metric}: {status}");
        }
    }
}

/// The host of one callback.
pub struct WasmHost<'a> {
    /// The configuration of the stream (for counter names).
    pub config: Option<&'a FilterConfig>,
    /// Its counters.
    pub metrics: Option<&'a Metrics>,
    /// Tokens of the calls made in this callback (the dispatcher registers them for their answers).
    pub calls: Vec<u32>,
}

fn err(call: &'static str) -> impl Fn(abi::Status) -> HostError {
    move |s| HostError::new(call, s.to_string())
}

fn map_type(m: Map) -> u32 {
    match m {
        Map::Request => map::REQUEST_HEADERS,
        Map::Response => map::RESPONSE_HEADERS,
    }
}

/// Header lines with values as text; obs-text is read lossily (one such request once trapped the VM when
/// the SDK unwrapped `from_utf8`).
fn lossy(lines: Vec<(String, Vec<u8>)>) -> Vec<(String, String)> {
    lines
        .into_iter()
        .map(|(n, v)| {
            let v = match String::from_utf8(v) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            (n, v)
        })
        .collect()
}

fn property_text(path: &[&str]) -> Option<String> {
    match abi::get_property(path) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

impl Host for WasmHost<'_> {
    fn request_headers(&mut self) -> Result<Vec<(String, String)>, HostError> {
        abi::get_map(map::REQUEST_HEADERS)
            .map(lossy)
            .map_err(err("request_headers"))
    }

    fn remove_header(&mut self, m: Map, name: &str) -> Result<(), HostError> {
        abi::remove_map_value(map_type(m), name).map_err(err("remove_header"))
    }

    fn set_header(&mut self, m: Map, name: &str, value: &str) -> Result<(), HostError> {
        abi::replace_map_value(map_type(m), name, value).map_err(err("set_header"))
    }

    fn add_header(&mut self, m: Map, name: &str, value: &str) -> Result<(), HostError> {
        abi::add_map_value(map_type(m), name, value).map_err(err("add_header"))
    }

    fn request_body(&mut self, max: usize) -> Result<Vec<u8>, HostError> {
        abi::get_buffer(buffer::REQUEST_BODY, 0, max).map_err(err("request_body"))
    }

    fn source_address(&mut self) -> Option<String> {
        property_text(&property::SOURCE_ADDRESS)
    }

    fn request_protocol(&mut self) -> Option<String> {
        property_text(&property::REQUEST_PROTOCOL)
    }

    fn has_dynamic_metadata(&mut self, namespace: &str, key: &str) -> bool {
        // lambda-streaming.md §8.2: the path walks the `metadata` attribute (dynamic metadata); a present
        // Struct comes back serialized (OK) or, with a `null` inside, as SerializationFailure (3): both
        // measured on Envoy 1.40.0 with jwt_authn's payload_in_metadata. NotFound (1) is an absent key. Any
        // other status: not known, so absent.
        matches!(
            abi::has_property(&["metadata", "filter_metadata", namespace, key]),
            Ok(true) | Err(abi::Status(3))
        )
    }

    fn now_epoch_ms(&mut self) -> u64 {
        abi::now_nanos() / 1_000_000
    }

    fn set_filter_state(&mut self, key: &str, value: &str) -> Result<(), HostError> {
        abi::set_property(key, value.as_bytes()).map_err(err("set_filter_state"))
    }

    fn clear_route_cache(&mut self) {
        // Envoy >= 1.33; an older Envoy clears the cache on any header change and answers NotFound here.
        let _ = abi::call_foreign_function(CLEAR_ROUTE_CACHE);
    }

    fn send_local_reply(&mut self, reply: &Reply<'_>) -> Result<(), HostError> {
        abi::send_local_response(u32::from(reply.status), reply.details, reply.body, reply.headers)
            .map_err(err("send_local_reply"))
    }

    fn send_response(&mut self, _reply: &Reply<'_>) -> Result<bool, HostError> {
        // proxy-wasm 0.2.1 writes a response only as a local reply (`proxy_send_local_response`); the
        // pipeline restores what Envoy's local reply drops in `proxy_on_response_headers` (U12).
        Ok(false)
    }

    fn call_cluster(&mut self, call: &Call<'_>) -> Result<u64, HostError> {
        let token = abi::http_call(call.cluster, call.headers, call.body, call.timeout_ms)
            .map_err(err("call_cluster"))?;
        self.calls.push(token);
        Ok(u64::from(token))
    }

    fn call_response_headers(&mut self) -> Result<Vec<(String, String)>, HostError> {
        abi::get_map(map::CALL_RESPONSE_HEADERS)
            .map(lossy)
            .map_err(err("call_response_headers"))
    }

    fn call_response_body(&mut self, len: usize) -> Result<Vec<u8>, HostError> {
        abi::get_buffer(buffer::CALL_RESPONSE_BODY, 0, len).map_err(err("call_response_body"))
    }

    fn count(&mut self, id: CounterId) {
        if let (Some(config), Some(metrics)) = (self.config, self.metrics) {
            metrics.count(config, id);
        }
    }
}
