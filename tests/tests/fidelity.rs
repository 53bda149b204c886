//! Fidelity: the same cases through host-sim and through the containerised Envoy 1.40, compared.
//!
//! Each case in `tests/cases/fidelity/*.json` is a host-sim case (`host_sim::Case`). It runs through
//! `host_sim::run_case`, and through a real Envoy started with the case's module and configuration, whose
//! upstream cluster is a scripted in-process upstream answering with the case's `upstream` response. One
//! Envoy serves every case that shares a module and a configuration.
//!
//! The routewise cases and the rejected configuration run against both builds in Envoy (the `.wasm`, and the
//! dynamic module, each compared with host-sim running the `.wasm`): host-sim stands for what both builds
//! must do. The cases of host-sim's test filter check the proxy-wasm host itself, so they run the `.wasm`
//! only.
//!
//! Compared, after the normalisations below: the client's status, headers and body; the upstream request
//! (method, path, headers, body); the filter state (every `wasm.*` key the template's JSON access log
//! prints, against host-sim's `properties`); and a rejected configuration (both reject, with the same
//! error lines).
//!
//! Normalisations (what only the real proxy or the real wire adds; each with its Envoy source):
//!
//! - client response:
//!   - `date` and `server: envoy`: `ConnectionManagerImpl::ActiveStream::encodeHeaders`
//!     (`source/common/http/conn_manager_impl.cc`, `dateProvider().setDateHeader`, `setReferenceServer`).
//!   - `x-envoy-upstream-service-time`: `Router::Filter::onUpstreamHeaders`
//!     (`source/common/router/router.cc`), on responses that came from the upstream.
//!   - `connection: close`: the client asked for it; `ConnectionManagerImpl` answers with it
//!     (`state_.saw_connection_close_`) and the HTTP/1 codec writes it.
//!   - `content-length` when host-sim has none and Envoy's equals the body length: HTTP/1 framing. The
//!     scripted upstream must frame its body and Envoy passes its `content-length` on; for a response
//!     without a body the HTTP/1 codec writes `content-length: 0` (`StreamEncoderImpl::encodeHeadersBase`,
//!     `source/common/http/http1/codec_impl.cc`).
//! - upstream request (HTTP/1 upstream):
//!   - host-sim's `:authority` is the `host` header and its `:scheme` is not sent: the HTTP/1 codec
//!     (`source/common/http/http1/codec_impl.cc`, `RequestEncoderImpl::encodeHeaders`).
//!   - `x-request-id`: a random UUID in Envoy (`UUIDRequestIDExtension::set`), deterministic in host-sim;
//!     only its presence is compared.
//!   - `x-envoy-expected-rq-timeout-ms`: `Router::FilterUtility::setTimeoutHeaders` (route timeout 30 s).
//!   - `x-forwarded-for`: the connection manager with `use_remote_address: true`
//!     (`ConnectionManagerUtility::mutateRequestHeaders`) appends its own local address for a loopback
//!     client: the machine's address in Envoy, `host_sim::ENVOY_LOCAL_ADDRESS` in host-sim. That last
//!     element is compared as `<envoy local address>`; the header's presence, position and what the client
//!     sent are compared as they are. `x-envoy-external-address` (the peer, 127.0.0.1) is compared as is.
//! - `x-log-tag` is the harness's request tag (the access log's `tag`); it is sent to both.
//!
//! Needs Docker and the image (`scripts/setup`), `routewise.wasm` and the host-sim test filter
//! (`scripts/build-modules`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use host_sim::{run_case, Case, CaseResponse, CaseResult};
use routewise_tests::envoy::{log_excerpt, workspace_root, Build, Module};
use routewise_tests::upstream::Answer;
use routewise_tests::{EchoUpstream, Envoy, Request, Response};
use serde_json::Value;

/// The filter state the access log prints (`envoy/routewise.yaml.tmpl`): (JSON field, key), for each
/// `field: "%FILTER_STATE({{FS}}<key>:PLAIN)%"` line (`{{FS}}` is the build's prefix, `wasm.` or none). Filter state the template does not print cannot be
/// compared; `run_group` lists it.
fn state_keys() -> Vec<(String, String)> {
    routewise_tests::envoy::TEMPLATE
        .lines()
        .filter_map(|l| {
            let (field, rest) = l.trim().split_once(": \"%FILTER_STATE({{FS}}")?;
            let key = rest.split_once(':')?.0;
            Some((field.to_string(), key.to_string()))
        })
        .collect()
}

struct Loaded {
    name: String,
    case: Case,
    wasm: PathBuf,
}

fn cases_dir() -> PathBuf {
    workspace_root().join("tests/cases/fidelity")
}

/// Every fidelity case, by file name.
fn load_cases() -> Vec<Loaded> {
    let dir = cases_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let case = Case::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            assert_eq!(case.name.as_deref(), Some(name.as_str()), "{}: name", p.display());
            let wasm = match &case.wasm {
                None => routewise_tests::envoy::routewise_wasm(),
                Some(_) => case.wasm_path(Some(&dir)),
            };
            assert!(
                wasm.is_file(),
                "{} needs {} (scripts/build-modules)",
                name,
                wasm.display()
            );
            Loaded { name, case, wasm }
        })
        .collect()
}

/// The configuration as Envoy's `StringValue` carries it (what host-sim passes too).
fn config_text(case: &Case) -> String {
    match &case.config {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Cluster names the configuration may route to: routewise's `integration.cluster`, and the cluster header
/// value a test-filter configuration adds.
fn clusters(config: &Value, out: &mut Vec<String>) {
    match config {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "cluster" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                }
                if k == "add_request_headers" || k == "set_request_headers" {
                    for pair in v.as_array().into_iter().flatten() {
                        if pair[0] == "x-routewise-cluster" {
                            if let Some(s) = pair[1].as_str() {
                                out.push(s.to_string());
                            }
                        }
                    }
                }
                clusters(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| clusters(v, out)),
        _ => {}
    }
    out.sort();
    out.dedup();
}

fn body_bytes(text: &Option<String>, b64: &Option<String>) -> Vec<u8> {
    match (b64, text) {
        (Some(b), _) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("base64 body"),
        (None, Some(t)) => t.clone().into_bytes(),
        (None, None) => Vec::new(),
    }
}

/// The client's request as it goes on the wire, and the same request for host-sim: the headers the
/// client sends (the tag, and `content-length` for a body or a POST/PUT/PATCH, as `http::Request` does).
fn requests(l: &Loaded) -> (Request, Case) {
    let r = &l.case.request;
    let body = body_bytes(&r.body, &r.body_base64);
    let mut wire = Request::new(&r.method, &r.path)
        .host(&r.authority)
        .body(body.clone());
    let mut sim = l.case.clone();
    for (k, v) in &r.headers {
        wire = wire.header(k, v);
    }
    wire = wire.header("x-log-tag", &l.name);
    sim.request
        .headers
        .push(("x-log-tag".to_string(), l.name.clone()));
    if !body.is_empty() || matches!(r.method.as_str(), "POST" | "PUT" | "PATCH") {
        sim.request
            .headers
            .push(("content-length".to_string(), body.len().to_string()));
    }
    (wire, sim)
}

/// What the upstream received: method, path, headers, body.
type Received = (String, String, Vec<(String, String)>, Vec<u8>);

/// A comparable view of one side.
#[derive(Debug, PartialEq)]
struct View {
    status: Option<u32>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    upstream: Option<Received>,
    state: BTreeMap<String, Option<String>>,
}

/// `x-forwarded-for` with the address Envoy appended for a loopback client (its own local address: the
/// machine's in Envoy, [`host_sim::ENVOY_LOCAL_ADDRESS`] in host-sim) replaced by `<envoy local address>`;
/// what the client sent before it is compared as is.
fn without_local_address(xff: &str, local: &str) -> String {
    match xff.strip_suffix(local) {
        Some(rest) => format!("{rest}<envoy local address>"),
        None => xff.to_string(),
    }
}

fn lower(h: &[(String, String)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

fn sim_view(result: &CaseResult) -> View {
    let (status, headers, body) = match &result.response {
        Some(r) => (
            Some(r.status),
            lower(&r.headers),
            body_bytes(&Some(r.body.clone()), &r.body_base64),
        ),
        None => (None, Vec::new(), Vec::new()),
    };
    let upstream = result.upstream_request.as_ref().map(|u| {
        let headers = lower(&u.headers)
            .into_iter()
            .filter(|(k, _)| k != ":scheme")
            .map(|(k, v)| match k.as_str() {
                ":authority" => ("host".to_string(), v),
                "x-request-id" => (k, "<uuid>".to_string()),
                "x-forwarded-for" => (k, without_local_address(&v, host_sim::ENVOY_LOCAL_ADDRESS)),
                _ => (k, v),
            })
            .collect();
        (
            u.method.clone(),
            u.path.clone(),
            headers,
            body_bytes(&Some(u.body.clone()), &u.body_base64),
        )
    });
    let state = state_keys()
        .into_iter()
        .map(|(field, key)| (field, result.properties.get(&key).cloned()))
        .collect();
    View {
        status,
        headers,
        body,
        upstream,
        state,
    }
}

fn envoy_view(resp: &Response, sim: &View, upstreams: &[EchoUpstream], tag: &str, log: &Value) -> View {
    let sim_has = |name: &str| sim.headers.iter().any(|(k, _)| k == name);
    let headers = resp
        .headers
        .iter()
        .filter(|(k, v)| {
            let envoy_only = matches!(
                k.as_str(),
                "date" | "server" | "x-envoy-upstream-service-time" | "x-test-log-tag"
            );
            let close = k == "connection" && v == "close";
            let framing =
                k == "content-length" && !sim_has("content-length") && *v == resp.body.len().to_string();
            !(envoy_only || close || framing)
        })
        .cloned()
        .collect();
    let recorded: Vec<_> = upstreams.iter().filter_map(|u| u.request_tagged(tag)).collect();
    assert!(
        recorded.len() <= 1,
        "{tag}: several upstream requests: {recorded:?}"
    );
    let upstream = recorded.into_iter().next().map(|r| {
        let headers = r
            .headers
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "x-envoy-expected-rq-timeout-ms"))
            .map(|(k, v)| match k.as_str() {
                "x-request-id" => (k, "<uuid>".to_string()),
                "x-forwarded-for" => {
                    let local = v.rsplit(',').next().unwrap_or_default().to_string();
                    (k, without_local_address(&v, &local))
                }
                _ => (k, v),
            })
            .collect();
        (r.method, r.path, headers, r.body)
    });
    let state = state_keys()
        .into_iter()
        .map(|(field, _)| {
            let v = log[&field].as_str().map(str::to_string);
            (field, v)
        })
        .collect();
    View {
        status: Some(u32::from(resp.status)),
        headers,
        body: resp.body.clone(),
        upstream,
        state,
    }
}

/// What differs between the two views, one line per field.
fn differences(name: &str, sim: &View, envoy: &View) -> Vec<String> {
    let mut out = Vec::new();
    let mut diff = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name}: {what}\n    host-sim: {a}\n    envoy:    {b}"));
        }
    };
    diff(
        "status",
        format!("{:?}", sim.status),
        format!("{:?}", envoy.status),
    );
    diff(
        "client headers",
        format!("{:?}", sim.headers),
        format!("{:?}", envoy.headers),
    );
    diff(
        "client body",
        format!("{:?}", String::from_utf8_lossy(&sim.body)),
        format!("{:?}", String::from_utf8_lossy(&envoy.body)),
    );
    diff(
        "client body bytes",
        format!("{:?}", sim.body),
        format!("{:?}", envoy.body),
    );
    match (&sim.upstream, &envoy.upstream) {
        (Some(a), Some(b)) => {
            diff("upstream method", a.0.clone(), b.0.clone());
            diff("upstream path", a.1.clone(), b.1.clone());
            diff("upstream headers", format!("{:?}", a.2), format!("{:?}", b.2));
            diff("upstream body", format!("{:?}", a.3), format!("{:?}", b.3));
        }
        (a, b) => diff(
            "upstream reached",
            format!("{}", a.is_some()),
            format!("{}", b.is_some()),
        ),
    }
    diff(
        "filter state",
        format!("{:?}", sim.state),
        format!("{:?}", envoy.state),
    );
    out
}

fn answer(r: &CaseResponse) -> Answer {
    (
        u16::try_from(r.status).expect("status"),
        r.headers.clone(),
        body_bytes(&r.body, &r.body_base64),
    )
}

/// The module Envoy runs for `l` in `build`: the test filter's own `.wasm`, or the routewise build.
fn envoy_module(l: &Loaded, build: Build) -> Module {
    if uses_test_filter(l) {
        Module::Wasm(l.wasm.clone())
    } else {
        build.module()
    }
}

/// Runs a group of cases that share a module and a configuration through one Envoy; returns the
/// differences.
fn run_group(group: &[&Loaded], build: Build) -> Vec<String> {
    let first = group[0];
    let config = config_text(&first.case);
    let mut names = Vec::new();
    clusters(&first.case.config, &mut names);
    let answers: Arc<Mutex<BTreeMap<String, Answer>>> = Arc::default();
    for l in group {
        let a = l
            .case
            .upstream
            .as_ref()
            .map(answer)
            .unwrap_or((200, Vec::new(), Vec::new()));
        answers.lock().expect("answers").insert(l.name.clone(), a);
    }
    let upstreams: Vec<EchoUpstream> = names
        .iter()
        .map(|n| {
            let answers = answers.clone();
            EchoUpstream::start_scripted(n, move |req| {
                let tag = req.header("x-log-tag").unwrap_or_default();
                answers.lock().expect("answers").get(tag).cloned().unwrap_or((
                    599,
                    Vec::new(),
                    b"unknown case".to_vec(),
                ))
            })
        })
        .collect();
    let refs: Vec<&EchoUpstream> = upstreams.iter().collect();
    let envoy = Envoy::start_with_module(&config, &refs, &envoy_module(first, build));
    let mut diffs = Vec::new();
    for l in group {
        let (wire, sim_case) = requests(l);
        let result = run_case(&sim_case, &l.wasm);
        assert!(
            result.error.is_none(),
            "{}: host-sim failed: {:?}\nlogs: {:#?}",
            l.name,
            result.error,
            result.logs
        );
        let mut resp = wire.send(envoy.port()).unwrap_or_else(|e| {
            panic!(
                "{}: request to Envoy failed: {e}\n{}",
                l.name,
                log_excerpt(&envoy.log())
            )
        });
        resp.headers.push(("x-test-log-tag".to_string(), l.name.clone()));
        let log = envoy.access_log_for(&resp);
        let sim = sim_view(&result);
        let printed: Vec<String> = state_keys().into_iter().map(|(_, k)| k).collect();
        let unprinted: Vec<&String> = result
            .properties
            .keys()
            .filter(|k| !printed.contains(k))
            .collect();
        if !unprinted.is_empty() {
            eprintln!(
                "{}: filter state not in the access log, not compared: {unprinted:?}",
                l.name
            );
        }
        let real = envoy_view(&resp, &sim, &upstreams, &l.name, &log);
        eprintln!(
            "{}: status {:?}, {} client headers, {} body bytes, upstream {:?}, outcome {:?}",
            l.name,
            real.status,
            real.headers.len(),
            real.body.len(),
            real.upstream.as_ref().map(|u| (&u.0, &u.1, u.2.len())),
            real.state.get("outcome")
        );
        diffs.extend(differences(&l.name, &sim, &real));
    }
    diffs
}

/// Runs every accepted-configuration case of `select`, one Envoy per (module, configuration).
fn run_selected(build: Build, select: impl Fn(&Loaded) -> bool) -> usize {
    let all = load_cases();
    let chosen: Vec<&Loaded> = all.iter().filter(|l| select(l)).collect();
    let mut groups: BTreeMap<(PathBuf, String), Vec<&Loaded>> = BTreeMap::new();
    for l in &chosen {
        groups
            .entry((l.wasm.clone(), config_text(&l.case)))
            .or_default()
            .push(l);
    }
    let mut diffs = Vec::new();
    for group in groups.values() {
        diffs.extend(run_group(group, build));
    }
    assert!(
        diffs.is_empty(),
        "{} difference(s) between host-sim and Envoy ({} build):\n{}",
        diffs.len(),
        build.name(),
        diffs.join("\n")
    );
    chosen.len()
}

fn is_rejected(l: &Loaded) -> bool {
    l.name.starts_with("bad_config")
}

fn uses_test_filter(l: &Loaded) -> bool {
    l.case.wasm.is_some()
}

/// The routewise cases: forwarded by a rule, mapping with strip, 403/404 replies, a spoofed cluster header,
/// path parameters, repeated headers, bodies (UTF-8 and not), an upstream 500.
fn routewise_cases_match_envoy(build: Build) {
    let n = run_selected(build, |l| !is_rejected(l) && !uses_test_filter(l));
    assert!(n >= 11, "only {n} routewise cases");
}

/// Local replies from the host-sim test filter: Envoy's `content-type: text/plain` on a reply with a body
/// and no content type, and what it does to an empty reply (`Utility::encodeLocalReply`).
#[test]
fn test_filter_local_replies_match_envoy() {
    let n = run_selected(Build::Wasm, |l| !is_rejected(l) && uses_test_filter(l));
    assert!(n >= 2, "only {n} test-filter cases");
}

/// A configuration the filter rejects: host-sim reports `configure_rejected`, Envoy refuses to start, and
/// every error line the filter logged in host-sim is in Envoy's log.
fn bad_config_is_rejected_by_both(build: Build) {
    let all = load_cases();
    let bad: Vec<&Loaded> = all.iter().filter(|l| is_rejected(l)).collect();
    assert!(!bad.is_empty());
    for l in bad {
        let result = run_case(&l.case, &l.wasm);
        assert!(
            result.configure_rejected,
            "{}: host-sim accepted it: {result:?}",
            l.name
        );
        let refused = Envoy::try_start_with_module(&config_text(&l.case), &[], &envoy_module(l, build))
            .err()
            .unwrap_or_else(|| panic!("{}: Envoy started with the rejected config", l.name));
        let errors: Vec<&str> = result
            .logs
            .iter()
            .filter(|(level, _)| level == "error")
            .map(|(_, m)| m.as_str())
            .collect();
        assert!(errors.len() >= 2, "{}: {errors:?}", l.name);
        for e in errors {
            assert!(
                refused.log.contains(e),
                "{}: host-sim logged {e:?}; Envoy's log lacks it:\n{}",
                l.name,
                log_excerpt(&refused.log)
            );
        }
    }
}

/// Reading a response header in `on_http_response_body` after the response headers continued: host-sim
/// answers BAD_ARGUMENT, which the Rust SDK turns into a panic. Settled against Envoy with the same module.
#[test]
fn response_header_read_in_body_after_continue_matches_envoy() {
    let wasm = workspace_root().join("target/wasm32-wasip1/wasm/host_sim_test_filter.wasm");
    assert!(wasm.is_file(), "scripts/build-modules builds {}", wasm.display());
    let config = serde_json::json!({
        "add_request_headers": [["x-routewise-cluster", "up"]],
        "read_response_header_in_body": true,
    });
    let case: Case = serde_json::from_value(serde_json::json!({
        "name": "read_response_header_in_body",
        "config": config,
        "request": {"method": "GET", "path": "/r", "authority": "api.example.com"},
        "upstream": {"status": 200, "headers": [["content-type", "text/plain"]], "body": "hello"},
    }))
    .expect("case");
    let result = run_case(&case, &wasm);

    let up = EchoUpstream::start_scripted("up", |_| {
        (
            200,
            vec![("content-type".into(), "text/plain".into())],
            b"hello".to_vec(),
        )
    });
    let envoy = Envoy::start_with_module(&config.to_string(), &[&up], &Module::Wasm(wasm.clone()));
    let resp = Request::get("/r")
        .host("api.example.com")
        .header("x-log-tag", "r1")
        .send(envoy.port());
    let log = envoy.wait_log("response body: ");
    let envoy_read = log
        .lines()
        .find(|l| l.contains("content-type in body:"))
        .map(str::to_string);
    let envoy_panicked = log.contains("unexpected status: 2");
    let sim_panicked = result
        .trap
        .as_deref()
        .is_some_and(|t| t.contains("unexpected status: 2"));
    eprintln!(
        "host-sim: trap {:?}, response {:?}\nenvoy: read line {envoy_read:?}, panicked {envoy_panicked}, client {:?}\n{}",
        result.trap,
        result.response,
        resp.as_ref().map(|r| (r.status, r.text())),
        log_excerpt(&log)
    );
    assert_eq!(
        (sim_panicked, envoy_read.is_none()),
        (envoy_panicked, envoy_panicked),
        "host-sim and Envoy disagree on get_header_map_value(response) in on_http_response_body"
    );
}

/// proxy-wasm-host.md §3.3: a `Pause` from `on_http_request_headers` on a request with a body. With
/// `allow_on_headers_stop_iteration: true` the body callbacks still run (the test filter buffers the body and
/// continues at its end); in Envoy's default (`false`) they do not, and the stream stalls until Envoy's
/// `stream_idle_timeout` (set to 1 s here) ends it (504 `stream timeout`). host-sim, in the same mode, forwards or reports
/// the stall.
#[test]
fn pause_in_request_headers_matches_envoy_in_both_modes() {
    let wasm = workspace_root().join("target/wasm32-wasip1/wasm/host_sim_test_filter.wasm");
    assert!(wasm.is_file(), "scripts/build-modules builds {}", wasm.display());
    let config = serde_json::json!({
        "add_request_headers": [["x-routewise-cluster", "up"]],
        "request_headers_action": "pause",
        "buffer_request_body": true,
    });
    fn idle_timeout(b: String) -> String {
        assert!(
            b.contains("          stat_prefix: routewise\n"),
            "the template's HCM changed"
        );
        b.replace(
            "          stat_prefix: routewise\n",
            "          stat_prefix: routewise\n          stream_idle_timeout: 1s\n",
        )
    }
    fn default_mode(b: String) -> String {
        idle_timeout(b).replace(
            "allow_on_headers_stop_iteration: true",
            "allow_on_headers_stop_iteration: false",
        )
    }
    for allow in [true, false] {
        let case: Case = serde_json::from_value(serde_json::json!({
            "name": "pause_in_request_headers",
            "config": config,
            "allow_on_headers_stop_iteration": allow,
            "request": {"method": "POST", "path": "/p", "authority": "api.example.com", "body": "abc"},
            "upstream": {"status": 200, "body": "ok"},
        }))
        .expect("case");
        let result = run_case(&case, &wasm);
        let sim_forwarded = result.upstream_request.as_ref().map(|r| r.body.clone());
        if sim_forwarded.is_none() {
            let error = result.error.clone().unwrap_or_default();
            assert!(error.contains("paused"), "host-sim, allow={allow}: {result:?}");
        }

        let up = EchoUpstream::start("up");
        let edit: fn(String) -> String = if allow { idle_timeout } else { default_mode };
        let envoy =
            Envoy::start_with_module_edited(&config.to_string(), &[&up], &Module::Wasm(wasm.clone()), edit);
        let resp = Request::post("/p")
            .host("api.example.com")
            .body("abc")
            .send(envoy.port())
            .expect("Envoy answers (the upstream, or its idle timeout)");
        let envoy_forwarded = up
            .requests()
            .first()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned());
        assert_eq!(
            sim_forwarded,
            envoy_forwarded,
            "allow_on_headers_stop_iteration: {allow}: host-sim vs Envoy (client got {} {})\n{}",
            resp.status,
            resp.text(),
            log_excerpt(&envoy.log())
        );
        if allow {
            assert_eq!(envoy_forwarded.as_deref(), Some("abc"));
        } else {
            // The request was complete, so Envoy's idle timeout answers 504 `stream timeout` (408 is for an
            // incomplete request); the filter never saw the body.
            let log = envoy.log();
            assert_eq!(
                (resp.status, resp.text().as_str()),
                (504, "stream timeout"),
                "the stalled stream ends by Envoy's idle timeout\n{}",
                log_excerpt(&log)
            );
            assert!(!log.contains("request body:"), "{}", log_excerpt(&log));
        }
    }
}

/// `set_buffer_bytes(HTTP_REQUEST_BODY, start, size, data)` on a buffered body `abc`, with the test filter: the
/// body the upstream gets (or the guest's panic on BAD_ARGUMENT) is the same in host-sim and in Envoy for a
/// prefix replacement, a prepend, a whole replacement, an append and a range in the middle.
#[test]
fn set_buffer_bytes_ranges_match_envoy() {
    let wasm = workspace_root().join("target/wasm32-wasip1/wasm/host_sim_test_filter.wasm");
    assert!(wasm.is_file(), "scripts/build-modules builds {}", wasm.display());
    for range in [
        serde_json::json!([0, 2, "X"]),
        serde_json::json!([0, 0, ">"]),
        serde_json::json!([0, 99, "all"]),
        serde_json::json!([3, 0, "+"]),
        serde_json::json!([1, 1, "X"]),
    ] {
        // Without content-length (the filter changes the body's size), Envoy sends the body chunked.
        let config = serde_json::json!({
            "add_request_headers": [["x-routewise-cluster", "up"]],
            "remove_request_headers": ["content-length"],
            "buffer_request_body": true,
            "set_request_body_range": range,
        });
        let case: Case = serde_json::from_value(serde_json::json!({
            "name": "set_buffer_bytes",
            "config": config,
            "allow_on_headers_stop_iteration": true,
            "request": {"method": "POST", "path": "/b", "authority": "api.example.com", "body": "abc"},
            "upstream": {"status": 200, "body": "ok"},
        }))
        .expect("case");
        let result = run_case(&case, &wasm);
        let sim = match (&result.upstream_request, &result.trap) {
            (Some(up), _) => Ok(up.body.clone()),
            (None, Some(trap)) => Err(trap.contains("unexpected status: 2")),
            (None, None) => panic!("host-sim: neither forwarded nor trapped: {result:?}"),
        };

        let up = EchoUpstream::start("up");
        let envoy = Envoy::start_with_module(&config.to_string(), &[&up], &Module::Wasm(wasm.clone()));
        let resp = Request::post("/b")
            .host("api.example.com")
            .body("abc")
            .send(envoy.port());
        let got = up.requests();
        let log = envoy.log();
        let in_envoy = match got.first() {
            Some(r) => Ok(String::from_utf8_lossy(&r.body).into_owned()),
            None => Err(log.contains("unexpected status: 2")),
        };
        assert_eq!(
            sim,
            in_envoy,
            "set_buffer_bytes {range}: host-sim vs Envoy (client got {:?})\n{}",
            resp.as_ref().map(|r| (r.status, r.text())),
            log_excerpt(&log)
        );
    }
}

/// `request.*` properties read after the request headers continued (in `on_http_response_headers`), with
/// the test filter: host-sim and Envoy must log the same value or status for each path.
#[test]
fn request_properties_after_the_request_headers_continued_match_envoy() {
    let wasm = workspace_root().join("target/wasm32-wasip1/wasm/host_sim_test_filter.wasm");
    assert!(wasm.is_file(), "scripts/build-modules builds {}", wasm.display());
    let paths = [
        "request.path",
        "request.url_path",
        "request.query",
        "request.method",
        "request.host",
        "request.scheme",
        "request.id",
        "request.protocol",
    ];
    let config = serde_json::json!({
        "add_request_headers": [["x-routewise-cluster", "up"]],
        "log_properties_at_response": paths,
    });
    let case: Case = serde_json::from_value(serde_json::json!({
        "name": "request_properties_at_response",
        "config": config,
        "request": {"method": "GET", "path": "/props?q=1", "authority": "api.example.com",
                    "headers": [["x-log-tag", "p1"]]},
        "upstream": {"status": 200, "body": "ok"},
    }))
    .expect("case");
    let result = run_case(&case, &wasm);
    assert!(result.error.is_none(), "host-sim: {:?}", result.error);
    let pick = |line: &str| line.find("property ").map(|i| line[i..].trim().to_string());
    let sim: Vec<String> = result.logs.iter().filter_map(|(_, m)| pick(m)).collect();

    let up = EchoUpstream::start_scripted("up", |_| (200, Vec::new(), b"ok".to_vec()));
    let envoy = Envoy::start_with_module(&config.to_string(), &[&up], &Module::Wasm(wasm.clone()));
    let resp = Request::get("/props?q=1")
        .host("api.example.com")
        .header("x-log-tag", "p1")
        .send(envoy.port())
        .expect("request through Envoy");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let log = envoy.wait_log(&format!("property {} at response", paths[paths.len() - 1]));
    let real: Vec<String> = log
        .lines()
        .filter(|l| l.contains(" at response: "))
        .filter_map(pick)
        .collect();
    eprintln!("host-sim: {sim:#?}\nenvoy: {real:#?}");
    assert_eq!(
        sim, real,
        "request.* properties after the request headers continued"
    );
}

routewise_tests::both_builds!(routewise_cases_match_envoy, bad_config_is_rejected_by_both);
