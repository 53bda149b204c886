//! A tiny proxy-wasm filter whose behaviour is chosen by its plugin configuration (JSON), so each
//! host-sim test can exercise one part of the ABI. Not a model filter: it unwraps freely, because a trap
//! is something the tests want to see.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::*;
use proxy_wasm::types::*;
use serde::Deserialize;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
struct LocalReply {
    status: u32,
    body: String,
    headers: Vec<(String, String)>,
    /// "request_headers" (default), "request_body", "response_headers"
    phase: Option<String>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
struct HttpCallCfg {
    cluster: String,
    path: String,
    timeout_ms: u64,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
struct Config {
    reject: bool,
    panic_in: Option<String>,
    spin_in: Option<String>,
    /// "continue" (default) or "pause" from on_http_request_headers.
    request_headers_action: Option<String>,
    add_request_headers: Vec<(String, String)>,
    set_request_headers: Vec<(String, String)>,
    remove_request_headers: Vec<String>,
    set_path: Option<String>,
    /// Pause every request body chunk until end of stream, then continue.
    buffer_request_body: bool,
    /// At the end of the request body, replace it (set_http_request_body(0, size, ..)).
    replace_request_body: Option<String>,
    /// At the end of the request body, append this.
    append_request_body: Option<String>,
    /// At the end of the request body, put this range (start, size, data) with set_buffer_bytes.
    set_request_body_range: Option<(usize, usize, String)>,
    local_reply: Option<LocalReply>,
    properties: Vec<(String, String)>,
    /// Paths ("a.b" = ["a","b"]) read with get_property in request headers and echoed as
    /// `x-prop-<path>` request headers (int64 values printed as numbers).
    echo_properties: Vec<String>,
    metrics: bool,
    increment_by: Option<i64>,
    shared_data: Option<(String, String)>,
    queue: Option<String>,
    tick_ms: Option<u64>,
    /// Pause request headers until the next tick resumes the stream.
    wait_for_tick: bool,
    http_call: Option<HttpCallCfg>,
    /// Pause response headers and body until the end of the body, then rewrite status, headers, body.
    pause_response_until_end: bool,
    response_status_at_end: Option<u32>,
    replace_response_body: Option<String>,
    add_response_headers: Vec<(String, String)>,
    log_request_headers: bool,
    foreign: Option<String>,
    set_property_in_root: bool,
    /// Read the response header `content-type` in on_http_response_body (after headers continued).
    read_response_header_in_body: bool,
    /// Call send_http_response twice.
    double_local_reply: bool,
    /// Property paths read with get_property in on_http_response_headers (after the request headers
    /// continued) and logged as `property <path> at response: <status or value>`.
    log_properties_at_response: Vec<String>,
}

type Paused = Rc<RefCell<Vec<u32>>>;

#[derive(Default)]
struct Root {
    config: Rc<Config>,
    paused: Paused,
    queue_id: Option<u32>,
    ids: HashMap<&'static str, u32>,
}

fn maybe_panic(cfg: &Config, phase: &str) {
    if cfg.panic_in.as_deref() == Some(phase) {
        panic!("test-filter panics in {phase} as configured");
    }
    if cfg.spin_in.as_deref() == Some(phase) {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_queue_ready(&mut self, queue_id: u32) {
        while let Ok(Some(item)) = self.dequeue_shared_queue(queue_id) {
            log::info!("queue {} item {}", queue_id, String::from_utf8_lossy(&item));
        }
    }

    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        let cfg: Config = if raw.is_empty() {
            Config::default()
        } else {
            match serde_json::from_slice(&raw) {
                Ok(c) => c,
                Err(e) => {
                    log::error!("bad configuration: {e}");
                    return false;
                }
            }
        };
        maybe_panic(&cfg, "configure");
        if cfg.reject {
            log::warn!("configuration rejected as asked");
            return false;
        }
        if cfg.set_property_in_root {
            self.set_property(vec!["root_prop"], Some(b"x"));
        }
        if cfg.metrics {
            self.ids.insert(
                "requests",
                hostcalls::define_metric(MetricType::Counter, "requests_total").unwrap(),
            );
            self.ids.insert(
                "active",
                hostcalls::define_metric(MetricType::Gauge, "active").unwrap(),
            );
            self.ids.insert(
                "sizes",
                hostcalls::define_metric(MetricType::Histogram, "body_size").unwrap(),
            );
            self.ids.insert(
                "ticks",
                hostcalls::define_metric(MetricType::Counter, "ticks").unwrap(),
            );
        }
        if let Some((k, v)) = &cfg.shared_data {
            self.set_shared_data(k, Some(v.as_bytes()), None).unwrap();
        }
        if let Some(q) = &cfg.queue {
            self.queue_id = Some(self.register_shared_queue(q));
        }
        if let Some(ms) = cfg.tick_ms {
            self.set_tick_period(Duration::from_millis(ms));
        }
        log::info!("configured");
        self.config = Rc::new(cfg);
        true
    }

    fn on_tick(&mut self) {
        maybe_panic(&self.config, "tick");
        log::info!("tick");
        if let Some(id) = self.ids.get("ticks") {
            hostcalls::increment_metric(*id, 1).unwrap();
        }
        for id in self.paused.borrow_mut().drain(..) {
            hostcalls::set_effective_context(id).unwrap();
            hostcalls::resume_http_request().unwrap();
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            id: context_id,
            config: self.config.clone(),
            paused: self.paused.clone(),
            queue_id: self.queue_id,
            ids: self.ids.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    id: u32,
    config: Rc<Config>,
    paused: Paused,
    queue_id: Option<u32>,
    ids: HashMap<&'static str, u32>,
}

impl Stream {
    fn reply(&self, lr: &LocalReply) {
        let headers: Vec<(&str, &str)> = lr.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.send_http_response(lr.status, headers.clone(), Some(lr.body.as_bytes()));
        if self.config.double_local_reply {
            self.send_http_response(lr.status, headers, Some(b"second"));
        }
    }

    fn local_reply_in(&self, phase: &str) -> Option<&LocalReply> {
        self.config
            .local_reply
            .as_ref()
            .filter(|lr| lr.phase.as_deref().unwrap_or("request_headers") == phase)
    }
}

impl Context for Stream {
    fn on_http_call_response(&mut self, _token: u32, num_headers: usize, body_size: usize, _trailers: usize) {
        let status = if num_headers == 0 {
            let (code, msg) = self.get_grpc_status();
            format!("failed:{code}:{}", msg.unwrap_or_default())
        } else {
            self.get_http_call_response_header(":status").unwrap_or_default()
        };
        let body = self.get_http_call_response_body(0, body_size).unwrap_or_default();
        log::info!("http call answered: {status} {}", String::from_utf8_lossy(&body));
        if status == "403" {
            self.send_http_response(403, vec![("x-denied-by", "callout")], Some(b"denied"));
            return;
        }
        self.add_http_request_header("x-call-status", &status);
        self.resume_http_request();
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        let cfg = self.config.clone();
        maybe_panic(&cfg, "request_headers");
        log::debug!("request headers: {num_headers} eos={end_of_stream}");
        if cfg.log_request_headers {
            for (k, v) in self.get_http_request_headers() {
                log::info!("{k}: {v}");
            }
        }
        for (k, v) in &cfg.add_request_headers {
            self.add_http_request_header(k, v);
        }
        for (k, v) in &cfg.set_request_headers {
            self.set_http_request_header(k, Some(v));
        }
        for k in &cfg.remove_request_headers {
            self.set_http_request_header(k, None);
        }
        if let Some(p) = &cfg.set_path {
            self.set_http_request_header(":path", Some(p));
        }
        for (k, v) in &cfg.properties {
            self.set_property(vec![k.as_str()], Some(v.as_bytes()));
        }
        for path in &cfg.echo_properties {
            let segs: Vec<&str> = path.split('.').collect();
            let shown = match self.get_property(segs) {
                None => "<none>".to_string(),
                Some(v) if path == "response.code" || path.ends_with(".port") || path == "request.time" => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&v[..8]);
                    i64::from_le_bytes(b).to_string()
                }
                Some(v) => String::from_utf8_lossy(&v).into_owned(),
            };
            self.add_http_request_header(&format!("x-prop-{path}"), &shown);
        }
        if let Some(f) = &cfg.foreign {
            let r = self.call_foreign_function(f, None);
            self.add_http_request_header("x-foreign", if r.is_ok() { "ok" } else { "err" });
        }
        if cfg.metrics {
            let by = cfg.increment_by.unwrap_or(1);
            hostcalls::increment_metric(self.ids["requests"], by).unwrap();
            hostcalls::increment_metric(self.ids["active"], 1).unwrap();
            let v = hostcalls::get_metric(self.ids["requests"]).unwrap();
            self.add_http_request_header("x-requests", &v.to_string());
        }
        if let Some((k, _)) = &cfg.shared_data {
            let (v, cas) = self.get_shared_data(k);
            self.add_http_request_header("x-shared", &String::from_utf8_lossy(&v.unwrap_or_default()));
            self.add_http_request_header("x-shared-cas", &cas.unwrap_or(0).to_string());
        }
        if let Some(q) = self.queue_id {
            let path = self.get_http_request_header(":path").unwrap_or_default();
            self.enqueue_shared_queue(q, Some(path.as_bytes())).unwrap();
        }
        if let Some(lr) = self.local_reply_in("request_headers") {
            self.reply(lr);
            return Action::Pause;
        }
        if let Some(call) = &cfg.http_call {
            let timeout = Duration::from_millis(if call.timeout_ms == 0 {
                1000
            } else {
                call.timeout_ms
            });
            let headers = vec![
                (":method", "GET"),
                (":path", call.path.as_str()),
                (":authority", "callout"),
            ];
            match self.dispatch_http_call(&call.cluster, headers, None, vec![], timeout) {
                Ok(token) => log::info!("dispatched http call {token}"),
                Err(e) => {
                    log::error!("dispatch failed: {e:?}");
                    self.send_http_response(500, vec![], Some(b"dispatch failed"));
                }
            }
            return Action::Pause;
        }
        if cfg.wait_for_tick {
            self.paused.borrow_mut().push(self.id);
            return Action::Pause;
        }
        if cfg.request_headers_action.as_deref() == Some("pause") {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let cfg = self.config.clone();
        maybe_panic(&cfg, "request_body");
        log::info!("request body: {body_size} eos={end_of_stream}");
        if cfg.metrics {
            hostcalls::record_metric(self.ids["sizes"], body_size as u64).unwrap();
        }
        if !end_of_stream
            && (cfg.buffer_request_body || cfg.request_headers_action.as_deref() == Some("pause"))
        {
            return Action::Pause;
        }
        if end_of_stream {
            if let Some(lr) = self.local_reply_in("request_body") {
                self.reply(lr);
                return Action::Pause;
            }
            if let Some(b) = &cfg.replace_request_body {
                self.set_http_request_body(0, body_size, b.as_bytes());
            }
            if let Some(b) = &cfg.append_request_body {
                self.set_http_request_body(body_size, 0, b.as_bytes());
            }
            if let Some((start, size, data)) = &cfg.set_request_body_range {
                self.set_http_request_body(*start, *size, data.as_bytes());
            }
            let seen = self.get_http_request_body(0, usize::MAX).unwrap_or_default();
            log::info!("request body seen: {}", String::from_utf8_lossy(&seen));
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        let cfg = self.config.clone();
        maybe_panic(&cfg, "response_headers");
        let status = self.get_http_response_header(":status").unwrap_or_default();
        log::info!("response headers: {num_headers} status={status} eos={end_of_stream}");
        for path in &cfg.log_properties_at_response {
            let shown = match hostcalls::get_property(path.split('.').collect()) {
                Ok(Some(v)) => format!("{:?}", String::from_utf8_lossy(&v)),
                Ok(None) => "NOT_FOUND".to_string(),
                Err(status) => format!("{status:?}"),
            };
            log::info!("property {path} at response: {shown}");
        }
        for (k, v) in &cfg.add_response_headers {
            self.add_http_response_header(k, v);
        }
        if let Some(lr) = self.local_reply_in("response_headers") {
            self.reply(lr);
            return Action::Pause;
        }
        if cfg.pause_response_until_end && !end_of_stream {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let cfg = self.config.clone();
        log::info!("response body: {body_size} eos={end_of_stream}");
        if cfg.read_response_header_in_body {
            let ct = self.get_http_response_header("content-type");
            log::info!("content-type in body: {ct:?}");
        }
        if !cfg.pause_response_until_end {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        if let Some(s) = cfg.response_status_at_end {
            self.set_http_response_header(":status", Some(&s.to_string()));
        }
        self.set_http_response_header("x-body-size", Some(&body_size.to_string()));
        if let Some(b) = &cfg.replace_response_body {
            self.set_http_response_header("content-length", Some(&b.len().to_string()));
            self.set_http_response_body(0, body_size, b.as_bytes());
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        let path = self.get_http_request_header(":path").unwrap_or_default();
        let status = self.get_http_response_header(":status").unwrap_or_default();
        log::info!("access log: {path} {status}");
    }
}
