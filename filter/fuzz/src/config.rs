//! `config`: the fuzzer's bytes as a filter configuration.
//!
//! Both builds configure through [`FilterConfig::from_bytes`] (proxy-wasm's `on_configure`, the dynamic
//! module's `config_new`) and `routewise validate` through [`Engine::from_json`] on the file's text: the two
//! must give the same verdict and the same errors (issue 14, item 7). A rejection lists at most
//! [`MAX_LOGGED_ERRORS`] lines, each bounded (item 8). An accepted config must pass
//! [`Engine::check_invariants`]; then requests built from the config's own hosts, base paths, routes and
//! header conditions go through [`Engine::evaluate`] and the whole request pipeline ([`Stream`] over a
//! [`RecordingHost`]), whose output must be something Envoy can send (issue 14, items 2 and 6).

use routewise::config::{self, Config, Lenient};
use routewise::engine::Engine;
use routewise::error::MAX_ECHOED_CHARS;
use routewise::pipeline::{
    Build, Configuring, FilterConfig, Map, Op, RecordingHost, Rejected, Retiring, Stream, MAX_LOGGED_ERRORS,
};

/// Most requests tried per accepted config.
const MAX_REQUESTS: usize = 24;

/// The `config` target.
pub fn config(data: &[u8]) {
    let built = FilterConfig::from_bytes(data);
    sliced_build_agrees(data);
    // `routewise validate` reads the file as text; the filter takes the bytes.
    if let Ok(text) = std::str::from_utf8(data) {
        let validated = Engine::from_json(text);
        match (&built, &validated) {
            (Ok(_), Ok(_)) | (Err(Rejected::Empty), Err(_)) => {}
            (Err(Rejected::Invalid(a)), Err(b)) => assert_eq!(
                a.to_string(),
                b.to_string(),
                "the filter and `routewise validate` give different errors"
            ),
            (a, b) => panic!(
                "the filter and `routewise validate` disagree: filter {:?}, validate {:?}",
                a.as_ref().map(|_| "accepted"),
                b.as_ref().map(|_| "accepted")
            ),
        }
    }
    let config = match built {
        Ok(c) => c,
        Err(rejected) => {
            let lines = rejected.log_lines();
            assert!(!lines.is_empty());
            assert!(lines.len() <= MAX_LOGGED_ERRORS + 2, "{} log lines", lines.len());
            for l in &lines {
                // An error echoes at most MAX_ECHOED_CHARS of a path and of a message (issue 14, item 8).
                assert!(
                    l.chars().count() < 2 * MAX_ECHOED_CHARS + 300,
                    "a {}-character error line",
                    l.chars().count()
                );
                assert!(!l.contains('\n'), "an error line with a line break: {l:?}");
            }
            return;
        }
    };
    config
        .engine
        .check_invariants()
        .unwrap_or_else(|e| panic!("engine invariants: {e}"));
    let _ = config.engine.summary();
    let _ = config.configured_line();
    // The parsed document is read again only to find requests worth sending.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (Some(parsed), _) = config::parse_document(text) else {
        return;
    };
    for (method, host, path, headers) in requests(&parsed) {
        let view_headers: Vec<(String, String)> = headers.clone();
        let view = routewise::request::RequestView {
            method: &method,
            authority: &host,
            path: &path,
            headers: &view_headers,
            remote_addr: Some("203.0.113.9:4000"),
        };
        let _ = config.engine.evaluate(&view);
        pipeline(&config, &method, &host, &path, &headers);
    }
}

/// Runs the request pipeline and checks what it asks Envoy to do.
fn pipeline(config: &FilterConfig, method: &str, host: &str, path: &str, headers: &[(String, String)]) {
    let mut lines: Vec<(&str, &str)> = vec![(":method", method), (":authority", host), (":path", path)];
    lines.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let mut rec = RecordingHost::new(&lines);
    rec.source_address = Some("203.0.113.9:4000".into());
    rec.protocol = Some("HTTP/1.1".into());
    rec.now_epoch_ms = 1_700_000_000_000;
    let mut stream = Stream::default();
    stream.on_request_headers(Some(config), &mut rec, true);
    if !stream.replied() {
        rec.response = vec![
            (":status".into(), "200".into()),
            ("content-length".into(), "2".into()),
        ];
        stream.on_response_headers(&mut rec);
    }
    let mut replies = 0;
    for op in rec.ops() {
        match op {
            Op::SetHeader(map, name, value) | Op::AddHeader(map, name, value) => {
                check_header_edit(*map, name, value);
            }
            Op::LocalReply { status, headers, .. } | Op::Response { status, headers, .. } => {
                replies += 1;
                assert!((200..=599).contains(status), "a local reply with status {status}");
                for (n, v) in headers {
                    check_field_line(n, v);
                }
            }
            Op::Call { headers, .. } => {
                for (n, v) in headers {
                    // A call's request carries its own pseudo-headers.
                    let n = match n.as_str() {
                        ":method" | ":path" | ":authority" | ":scheme" => "pseudo",
                        n => n,
                    };
                    check_field_line(n, v);
                }
            }
            _ => {}
        }
    }
    assert!(replies <= 1, "{replies} replies to one request");
}

/// A header edit the pipeline makes on Envoy's maps (issue 14, items 2 and 6).
fn check_header_edit(map: Map, name: &str, value: &str) {
    match (map, name) {
        (Map::Request, ":path") => {
            assert!(value.starts_with('/'), ":path {value:?} does not start with /");
            assert!(
                !value.bytes().any(|b| b <= b' ' || b == b'#' || b == 0x7f),
                ":path {value:?} has a space, a control character or #"
            );
        }
        (Map::Response, ":status") => {
            let status: u16 = value.parse().unwrap_or_else(|_| panic!(":status {value:?}"));
            assert!((200..=599).contains(&status), ":status {status}");
        }
        (_, n) if n.starts_with(':') && n != ":authority" => {
            panic!("the pipeline edits pseudo-header {n}")
        }
        (_, "content-length" | "transfer-encoding" | "connection" | "upgrade" | "te") => {
            panic!("the pipeline sets framing header {name}: {value:?}")
        }
        _ => check_field_line(name, value),
    }
}

/// A field line Envoy can write: a token name (or `:authority`), a value without CR, LF or NUL.
fn check_field_line(name: &str, value: &str) {
    assert!(
        name == ":authority"
            || (!name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"\"(),/:;<=>?@[\\]{}".contains(&b))),
        "field name {name:?}"
    );
    assert!(
        !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
        "field value {value:?} of {name}"
    );
}

/// A request: method, authority, path, header lines.
type Req = (String, String, String, Vec<(String, String)>);

/// Requests aimed at what the config routes on: each domain's host, base paths and routes' paths, with
/// the header conditions' values.
fn requests(c: &Config) -> Vec<Req> {
    let mut hosts = Vec::new();
    let mut bases = vec![String::new()];
    let mut headers = Vec::new();
    for d in c.domains.iter().filter_map(Lenient::get) {
        hosts.push(host_for(&d.name));
        for m in d.api_mappings.iter().filter_map(Lenient::get) {
            bases.push(m.base_path.clone());
        }
        for r in d.routing_rules.iter().filter_map(Lenient::get) {
            bases.extend(r.conditions.base_path.clone());
            for h in &r.conditions.headers {
                headers.push((h.header.to_ascii_lowercase(), h.value_glob.replace('*', "")));
            }
        }
    }
    let mut routes = vec![("GET".to_string(), "/".to_string())];
    for a in c.apis.iter().filter_map(Lenient::get) {
        for r in a.routes.iter().filter_map(Lenient::get) {
            let method = r.methods.first().cloned().unwrap_or_else(|| "GET".into());
            if let Some(key) = &r.key {
                match key.split_once(' ') {
                    Some((m, p)) => routes.push((m.replace("ANY", "GET"), concrete_path(p))),
                    None => routes.push((method.clone(), "/".into())),
                }
            }
            for p in &r.paths {
                routes.push((method.clone(), concrete_path(p)));
            }
        }
    }
    hosts.truncate(4);
    bases.truncate(4);
    headers.truncate(8);
    let mut out = Vec::new();
    'all: for host in &hosts {
        for base in &bases {
            for (method, path) in &routes {
                if out.len() == MAX_REQUESTS {
                    break 'all;
                }
                let full = if base.is_empty() {
                    path.clone()
                } else {
                    format!("/{base}{path}")
                };
                out.push((method.clone(), host.clone(), full, headers.clone()));
            }
        }
    }
    out
}

/// A host that a domain pattern matches (`*.example.com` → `x.example.com`).
fn host_for(pattern: &str) -> String {
    match pattern.strip_prefix('*') {
        Some("") => "any.example".into(),
        Some(rest) => format!("x{rest}"),
        None => pattern.into(),
    }
}

/// A path that a route path matches (`/pets/{id}` → `/pets/v`, `/a*` → `/az`), with a query string.
fn concrete_path(p: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for ch in p.chars() {
        match ch {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push('v');
                }
            }
            '}' => depth -= 1,
            '*' if depth == 0 => out.push('z'),
            _ if depth == 0 => out.push(ch),
            _ => {}
        }
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out.push_str("?q=1&apikey=k");
    out
}

/// Issue 13 (config push stall): the proxy-wasm build builds a pushed configuration a slice at a time. The
/// stepwise reading of the document must give the config `parse_document` gives whenever it reads one, and
/// the build cut into 3-unit slices must accept and reject exactly what the build in one piece does, with
/// the same errors; retiring what it built must end.
fn sliced_build_agrees(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(stepwise) = config::parse_stepwise(text) {
            let (whole, errors) = config::parse_document(text);
            assert!(
                errors.is_empty(),
                "the stepwise reading accepted a document with errors: {errors}"
            );
            assert_eq!(whole.as_ref(), Some(&stepwise), "the stepwise reading differs");
        }
    }
    let whole = FilterConfig::from_vec_for(data.to_vec(), Build::ProxyWasm);
    let mut building = Configuring::start(data.to_vec(), Build::ProxyWasm);
    let sliced = loop {
        if let Some(done) = building.step(3) {
            break done;
        }
    };
    assert!(
        building.step(3).is_none(),
        "a finished build gives its result once"
    );
    match (&whole, &sliced) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.engine.summary(), b.engine.summary());
            assert_eq!(a.counters, b.counters);
        }
        (Err(a), Err(b)) => assert_eq!(a.log_lines(), b.log_lines()),
        (a, b) => panic!(
            "sliced and whole builds disagree: {:?} / {:?}",
            a.as_ref().map(|_| "accepted"),
            b.as_ref().map(|_| "accepted")
        ),
    }
    if let Ok(config) = sliced {
        let mut retiring = Retiring::start(config);
        let mut steps = 0;
        while !retiring.step(3) {
            steps += 1;
            assert!(steps < 10_000_000, "retiring never ends");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(map: Map, name: &str, value: &str) -> bool {
        let (name, value) = (name.to_string(), value.to_string());
        std::panic::catch_unwind(move || check_header_edit(map, &name, &value)).is_err()
    }

    // The checks can fail: the edits issue 14 (items 2 and 6) forbids are caught.
    #[test]
    fn the_invariants_catch_framing_edits_bad_paths_and_interim_statuses() {
        assert!(!fails(Map::Request, ":path", "/pets/7?a=1"));
        assert!(!fails(Map::Request, "x-routewise-cluster", "pets_v1"));
        assert!(fails(Map::Request, ":path", "pets"), "no leading /");
        assert!(fails(Map::Request, ":path", "/a b"), "a space");
        assert!(fails(Map::Request, ":path", "/a#b"), "a fragment");
        assert!(fails(Map::Request, "content-length", "0"));
        assert!(fails(Map::Request, "transfer-encoding", "chunked"));
        assert!(fails(Map::Response, ":status", "101"));
        assert!(fails(Map::Request, "x-a", "1\r\nx-b: 2"));
        assert!(fails(Map::Request, "bad name", "1"));
    }
}
