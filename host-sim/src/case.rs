//! Hand-written cases (`host-sim replay CASE.json`) and their results: plain serde types, so the same
//! case can be replayed here and through a real Envoy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::http::{Headers, Request, Response};
use crate::plugin::{default_routewise_wasm, Plugin};
use crate::state::{HttpCallReply, MetricValue};

/// A request/response case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A name for the case (not used by host-sim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Expectations for whoever replays the case (not used by host-sim; e.g. the Envoy harness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<serde_json::Value>,
    /// The module; default the workspace's release build (see [`default_routewise_wasm`]). A relative
    /// path is looked up from the current directory, then from the case file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<PathBuf>,
    /// The plugin configuration: a JSON string is passed raw (like Envoy's `StringValue`), anything else
    /// as JSON text.
    #[serde(default)]
    pub config: serde_json::Value,
    /// Envoy's `allow_on_headers_stop_iteration` (default false, as in Envoy).
    #[serde(default)]
    pub allow_on_headers_stop_iteration: bool,
    /// The client's request.
    pub request: CaseRequest,
    /// The upstream's response (default: 200, no headers, no body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<CaseResponse>,
    /// Answers to `dispatch_http_call` by cluster name (calls to other clusters stay unanswered).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_call_responses: BTreeMap<String, CaseResponse>,
}

/// The client's request in a [`Case`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// Default `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path and query; default `/`.
    #[serde(default = "default_path")]
    pub path: String,
    /// Default `example.com`.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// `[["name", "value"], ...]`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// UTF-8 body.
    #[serde(default)]
    pub body: Option<String>,
    /// Binary body (wins over `body`).
    #[serde(default)]
    pub body_base64: Option<String>,
    /// Trailers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailers: Option<Vec<(String, String)>>,
}

/// A response in a [`Case`] (the upstream's, or an HTTP callout's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseResponse {
    /// Default 200.
    #[serde(default = "default_status")]
    pub status: u32,
    /// `[["name", "value"], ...]`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// UTF-8 body.
    #[serde(default)]
    pub body: Option<String>,
    /// Binary body (wins over `body`).
    #[serde(default)]
    pub body_base64: Option<String>,
    /// Trailers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailers: Option<Vec<(String, String)>>,
}

fn default_method() -> String {
    "GET".into()
}
fn default_path() -> String {
    "/".into()
}
fn default_authority() -> String {
    "example.com".into()
}
fn default_status() -> u32 {
    200
}

/// The result of a case: one JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// What the upstream received (`null` when the filter answered locally).
    pub upstream_request: Option<ResultRequest>,
    /// What the client received (`null` on reset, trap, stall or rejected configuration).
    pub response: Option<ResultResponse>,
    /// The response is a local reply.
    pub local_reply: bool,
    /// The stream was reset.
    #[serde(default)]
    pub reset: bool,
    /// `[["level", "message"], ...]`, every log of the VM (configuration included).
    pub logs: Vec<(String, String)>,
    /// `set_property` values by path.
    pub properties: BTreeMap<String, String>,
    /// Metrics by the name the plugin defined (Envoy's `/stats`: `wasmcustom.<name>`); histograms as
    /// the list of recorded values.
    pub metrics: BTreeMap<String, MetricValue>,
    /// The trap, with the guest's panic message, if the guest trapped.
    pub trap: Option<String>,
    /// `proxy_on_configure` returned false.
    #[serde(default)]
    pub configure_rejected: bool,
    /// Any failure (trap, rejected configuration, stalled stream, unreadable case or module).
    #[serde(default)]
    pub error: Option<String>,
}

/// The upstream request in a [`CaseResult`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRequest {
    /// `:method`.
    pub method: String,
    /// `:path`.
    pub path: String,
    /// Headers other than `:method` and `:path`.
    pub headers: Vec<(String, String)>,
    /// Body (lossy UTF-8).
    pub body: String,
    /// Body in base64 when it is not UTF-8.
    pub body_base64: Option<String>,
}

/// The client's response in a [`CaseResult`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultResponse {
    /// `:status`.
    pub status: u32,
    /// Headers other than `:status`.
    pub headers: Vec<(String, String)>,
    /// Body (lossy UTF-8).
    pub body: String,
    /// Body in base64 when it is not UTF-8.
    pub body_base64: Option<String>,
}

fn decode_body(text: &Option<String>, b64: &Option<String>) -> Result<Vec<u8>, Error> {
    match (b64, text) {
        (Some(b), _) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| Error::Usage(format!("body_base64 is not base64: {e}"))),
        (None, Some(t)) => Ok(t.clone().into_bytes()),
        (None, None) => Ok(Vec::new()),
    }
}

fn encode_body(body: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(body) {
        Ok(s) => (s.to_string(), None),
        Err(_) => (
            String::from_utf8_lossy(body).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(body)),
        ),
    }
}

impl CaseRequest {
    /// The simulator's request.
    pub fn to_request(&self) -> Result<Request, Error> {
        let mut r = Request::new(&self.method, &self.path).authority(&self.authority);
        r.headers = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        r.body = vec![decode_body(&self.body, &self.body_base64)?];
        r.trailers = self
            .trailers
            .as_ref()
            .map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect());
        Ok(r)
    }
}

impl CaseResponse {
    /// The simulator's response.
    pub fn to_response(&self) -> Result<Response, Error> {
        let mut r = Response::new(self.status);
        r.headers = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        r.body = decode_body(&self.body, &self.body_base64)?;
        r.trailers = self.trailers.as_ref().map(|t| {
            t.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Headers>()
        });
        Ok(r)
    }
}

impl Case {
    /// Reads a case file.
    pub fn load(path: impl AsRef<Path>) -> Result<Case, Error> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
    }

    /// The module this case runs: `wasm` (relative to the current directory, else to `case_dir`), or the
    /// default release build.
    pub fn wasm_path(&self, case_dir: Option<&Path>) -> PathBuf {
        match &self.wasm {
            None => default_routewise_wasm(),
            Some(p) if p.is_absolute() || p.exists() => p.clone(),
            Some(p) => case_dir.map_or_else(|| p.clone(), |d| d.join(p)),
        }
    }
}

impl CaseResult {
    fn empty() -> CaseResult {
        CaseResult {
            upstream_request: None,
            response: None,
            local_reply: false,
            reset: false,
            logs: Vec::new(),
            properties: BTreeMap::new(),
            metrics: BTreeMap::new(),
            trap: None,
            configure_rejected: false,
            error: None,
        }
    }

    /// The CLI's exit code: 0 the exchange completed, 1 the filter failed it (trap, rejected
    /// configuration, stall), 2 the case or module could not be used.
    pub fn exit_code(&self) -> i32 {
        match (&self.error, self.trap.is_some() || self.configure_rejected) {
            (None, _) => 0,
            (Some(_), true) => 1,
            (Some(e), false) if e.starts_with("stream ") => 1,
            (Some(_), false) => 2,
        }
    }
}

/// Runs a case with the module at `wasm` and reports everything, failures included.
pub fn run_case(case: &Case, wasm: &Path) -> CaseResult {
    let mut result = CaseResult::empty();
    let plugin = match Plugin::load(wasm) {
        Ok(p) => p,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let (request, upstream) = match (
        case.request.to_request(),
        case.upstream.as_ref().map(CaseResponse::to_response).transpose(),
    ) {
        (Ok(r), Ok(u)) => (r, u.unwrap_or_else(Response::ok)),
        (Err(e), _) | (_, Err(e)) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let mut calls = BTreeMap::new();
    for (cluster, r) in &case.http_call_responses {
        match r.to_response() {
            Ok(r) => calls.insert(cluster.clone(), r),
            Err(e) => {
                result.error = Some(e.to_string());
                return result;
            }
        };
    }
    let started = plugin
        .sim()
        .config_json(&case.config)
        .allow_on_headers_stop_iteration(case.allow_on_headers_stop_iteration)
        .start();
    let mut sim = match started {
        Ok(s) => s,
        Err(e) => {
            if let Error::ConfigureRejected { logs } | Error::VmStartRejected { logs } = &e {
                result.configure_rejected = true;
                result.logs = logs
                    .iter()
                    .map(|l| (l.level.as_str().to_string(), l.message.clone()))
                    .collect();
            }
            if let Error::Trap { .. } = &e {
                result.trap = Some(e.to_string());
            }
            result.error = Some(e.to_string());
            return result;
        }
    };
    let handler = sim.on_http_call(move |call| match calls.get(&call.cluster) {
        Some(r) => HttpCallReply::Response(r.clone()),
        None => HttpCallReply::Pending,
    });
    let outcome = handler.and_then(|_| sim.send(request, upstream));
    match outcome {
        Ok(ex) => {
            result.upstream_request = ex.upstream_request.map(|u| {
                let (body, body_base64) = encode_body(&u.body);
                ResultRequest {
                    method: u.method,
                    path: u.path,
                    headers: u.headers.0,
                    body,
                    body_base64,
                }
            });
            result.response = ex.response.map(|r| {
                let (body, body_base64) = encode_body(&r.body);
                ResultResponse {
                    status: r.status,
                    headers: r.headers.0,
                    body,
                    body_base64,
                }
            });
            result.local_reply = ex.local_reply;
            result.reset = ex.reset;
            result.properties = ex
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect();
        }
        Err(e) => {
            if let Error::Trap { .. } = &e {
                result.trap = Some(e.to_string());
            }
            result.error = Some(e.to_string());
        }
    }
    result.logs = sim
        .logs()
        .iter()
        .map(|l| (l.level.as_str().to_string(), l.message.clone()))
        .collect();
    result.metrics = sim.metrics();
    result
}
