//! The `dm_ffi` fuzz target: the module's real hooks, called as Envoy calls them, through
//! [`crate::fake_envoy`], with sizes and bytes an attacker or a broken peer chooses.
//!
//! One input is one configuration and one stream: `config_new` (a known config, or the input's own bytes
//! as the config), `filter_new`, `request_headers` (header lines of any bytes: empty or 64 KiB names and
//! values, non-UTF-8, up to thousands of lines), `request_body` and `request_trailers`, the Lambda call's
//! answer (`http_callout_done`: any result code, `:status` and header lines, the body in odd chunks, or no
//! arrays at all), `response_headers`, then the destroys. Layout: byte 0 flags, byte 1 the config, then the
//! pieces as length-prefixed strings (`crate::fuzz` source).
//!
//! With flag `0x20` the stream runs a `response_transfer_mode: "STREAM"` config instead (the known configs
//! are otherwise picked as before, so the kept corpus means what it meant), and the streamed call's answer
//! (`http_stream_*`: any `:status`, raw bytes, event-stream messages whose payloads are the input's, a
//! prelude or not, InvokeComplete with any payload, resets and completions, sometimes for another id, the
//! fake re-entering the hooks on resets as Envoy does) is delivered after the request.
//!
//! Invariants: no hook panics (the hooks would catch it and answer 500: the fuzzer must see it, so the
//! panic hook's log line is the finding); at most one reply per stream, with a status in 200..=599,
//! well-formed field lines, no framing header the module may not set, a `content-length` (if any) equal
//! to the body's length and no body for 204/304; every callout to a non-empty cluster. Streamed: at most
//! one answer (a reply or a written head), a written head in 200..=599 without framing headers from the
//! function, no body piece after the end, no body for 204/304, the client's stream reset only after a head
//! and never after the end.
// A harness states its invariants with assert!/panic!: that is how a fuzzer learns of a finding.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::ffi::c_void;

use routewise::lambda::eventstream::{encode_invoke_complete, encode_payload_chunk};

use crate::fake_envoy::{self, envoy_filter, with};
use crate::ffi::{Buf, Header};
use crate::hooks::*;

const HTTP_AND_LAMBDA: &str = r#"{
  "domains": [{"name": "*", "api_mappings": [{"base_path": "shop", "api": "pets", "stage": "prod"}]}],
  "apis": [{"id": "pets", "stages": {"prod": {"integration": {"type": "http", "cluster": "pets_v1"}}},
            "routes": [{"id": "get", "key": "GET /pets/{id}",
                        "plugins": {"response-rewrite": {"headers": {"set": {"x-r": "1"}}}}},
                       {"id": "fn", "key": "ANY /fn/{proxy+}",
                        "integration": {"type": "lambda", "cluster": "lambda_fn", "max_request_body_bytes": 64}},
                       {"id": "fn1", "key": "POST /v1",
                        "integration": {"type": "lambda", "cluster": "lambda_v1", "payload_format_version": "1.0"}}]}]
}"#;

const KEY_AUTH: &str = r#"{
  "domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "a", "stage": "s"}]}],
  "apis": [{"id": "a", "stages": {"s": {"integration": {"type": "lambda", "cluster": "fn"}}},
            "routes": [{"id": "r", "key": "ANY /{proxy+}", "plugins": {"key-auth": {}}}]}],
  "consumers": [{"username": "jack", "plugins": {"key-auth": {"key_sha256": "9facd6580f71959e8588bfb910b75f33091c72203255549464d02844177aaaf8"}}}]
}"#;

/// A streaming Lambda integration (flag `0x20`).
pub const STREAM: &str = r#"{
  "domains": [{"name": "*", "api_mappings": [{"base_path": "shop", "api": "pets", "stage": "prod"}]}],
  "apis": [{"id": "pets", "stages": {"prod": {}},
            "routes": [{"id": "fn", "key": "ANY /fn/{proxy+}",
                        "integration": {"type": "lambda", "cluster": "lambda_fn", "max_request_body_bytes": 64,
                                        "response_transfer_mode": "STREAM", "function_name": "fn",
                                        "max_response_body_bytes": 65536},
                        "plugins": {"response-rewrite": {"headers": {"set": {"x-r": "1"}}}}},
                       {"id": "get", "key": "GET /pets/{id}", "integration": {"type": "http", "cluster": "pets_v1"}}]}]
}"#;

/// The known configs byte 1 picks from (tests check that they load).
pub const CONFIGS: [&str; 2] = [HTTP_AND_LAMBDA, KEY_AUTH];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "CONNECT", ""];
const PATHS: [&str; 7] = [
    "/shop/pets/7",
    "/shop/fn/x?a=1",
    "/shop/v1",
    "/fn?apikey=auth-one",
    "",
    "/shop/fn/%00",
    "*",
];

/// The most header bytes Envoy can hand a filter: `max_request_headers_kb` is at most 8,192 (its proto's
/// bound). More is not a case Envoy can produce (a first run with 5,000 lines of 128 KiB, 640 MB, only
/// exhausted the fuzzer's memory).
const MAX_HEADER_BYTES: usize = 8192 * 1024;

/// Reads the input front to back; 0 and empty past the end.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> usize {
        usize::from(self.u8()) | (usize::from(self.u8()) << 8)
    }
    /// A length-prefixed string (one length byte).
    fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8()).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    /// A hostile size: usually the string itself, sometimes it repeated to up to 64 KiB, or empty.
    fn sized(&mut self) -> Vec<u8> {
        let kind = self.u8();
        let s = self.bytes();
        match kind % 8 {
            0 => Vec::new(),
            1 => s.iter().copied().cycle().take(64 * 1024).collect(),
            2 => s.iter().copied().cycle().take(self.u16()).collect(),
            _ => s.to_vec(),
        }
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// The `dm_ffi` target.
pub fn dm_ffi(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.u8();
    let config_sel = input.u8();
    envoy_dynamic_module_on_program_init();
    fake_envoy::reset(&[]);
    with(|f| f.counters.clear());

    // A known config, or the input's own bytes (a config Envoy may push: any bytes at all).
    let own_config;
    let config_bytes: &[u8] = if config_sel & 0x80 != 0 {
        own_config = input.sized();
        &own_config
    } else if flags & 0x20 != 0 {
        STREAM.as_bytes()
    } else {
        CONFIGS[usize::from(config_sel) % CONFIGS.len()].as_bytes()
    };
    let config = envoy_dynamic_module_on_http_filter_config_new(
        std::ptr::null_mut(),
        Buf::of(b"routewise"),
        Buf::of(config_bytes),
    );

    // Request header lines: the pseudo-headers (or not), then lines of any bytes and sizes.
    let mut lines: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    if flags & 1 == 0 {
        lines.push((
            b":method".to_vec(),
            METHODS[usize::from(input.u8()) % METHODS.len()].into(),
        ));
        lines.push((b":authority".to_vec(), input.sized()));
        lines.push((
            b":path".to_vec(),
            PATHS[usize::from(input.u8()) % PATHS.len()].into(),
        ));
    }
    let n = match input.u8() {
        255 => 5000,
        254 => 1100,
        n => usize::from(n % 12),
    };
    let (name, value) = (input.sized(), input.sized());
    let mut total: usize = lines.iter().map(|(n, v)| n.len() + v.len()).sum();
    for i in 0..n {
        // Many lines share the input's pieces (so that 5,000 lines cost few input bytes).
        let line = match i % 3 {
            0 => (name.clone(), value.clone()),
            1 => (b"x-routewise-cluster".to_vec(), value.clone()),
            _ => (input.sized(), input.sized()),
        };
        // Envoy hands at most max_request_headers_kb of header lines, 8,192 KiB at the most.
        total += line.0.len() + line.1.len();
        if total > MAX_HEADER_BYTES {
            break;
        }
        lines.push(line);
    }
    with(|f| f.raw_request = Some(lines));

    let stream = if config.is_null() {
        // Envoy never makes a stream on a refused config; a null config makes a null stream.
        assert!(envoy_dynamic_module_on_http_filter_new(config, envoy_filter()).is_null());
        std::ptr::null()
    } else {
        envoy_dynamic_module_on_http_filter_new(config, envoy_filter())
    };
    if !stream.is_null() {
        run_stream(stream, flags, &mut input);
        envoy_dynamic_module_on_http_filter_destroy(stream);
    }
    envoy_dynamic_module_on_http_filter_config_destroy(config);
    check(config.is_null());
}

fn run_stream(s: *const c_void, flags: u8, input: &mut Input<'_>) {
    let e = envoy_filter();
    let eos = flags & 2 != 0;
    if flags & 0x20 != 0 {
        // Streaming: the fake re-enters the hooks on resets (and, with 0x40, inside start_http_stream).
        with(|f| {
            f.module = Some(s as usize);
            f.reset_on_start = flags & 0x40 != 0;
        });
    }
    envoy_dynamic_module_on_http_filter_request_headers(e, s, eos);
    if !eos {
        let body = input.sized();
        let chunks = 1 + usize::from(input.u8() % 3);
        for i in 0..chunks {
            let last = i + 1 == chunks;
            // Envoy hands each chunk as received, the earlier ones as buffered.
            with(|f| {
                f.buffered_body = body.repeat(i);
                f.received_body = body.clone();
            });
            envoy_dynamic_module_on_http_filter_request_body(e, s, last && flags & 4 == 0);
        }
        if flags & 4 != 0 {
            envoy_dynamic_module_on_http_filter_request_trailers(e, s);
        }
    }
    let calls = with(|f| f.callouts.len());
    if calls > 0 || flags & 8 != 0 {
        // The call's answer (or an answer to a call never made, with a made-up id).
        let result = u32::from(input.u8() % 4);
        let status = input.sized();
        let (hn, hv) = (input.sized(), input.sized());
        let headers_owned = [(b":status".to_vec(), status), (hn, hv)];
        let headers: Vec<Header> = headers_owned
            .iter()
            .map(|(n, v)| Header {
                key_ptr: n.as_ptr(),
                key_len: n.len(),
                value_ptr: v.as_ptr(),
                value_len: v.len(),
            })
            .collect();
        let body = input.rest().to_vec();
        let cut = if body.is_empty() {
            0
        } else {
            usize::from(body[0]) % body.len()
        };
        let chunks = [Buf::of(&body[..cut]), Buf::NULL, Buf::of(&body[cut..])];
        let id = if calls > 0 { calls as u64 } else { 7 };
        let (hp, hl, bp, bl) = if flags & 16 != 0 {
            (std::ptr::null(), 0, std::ptr::null(), 0)
        } else {
            (headers.as_ptr(), headers.len(), chunks.as_ptr(), chunks.len())
        };
        envoy_dynamic_module_on_http_filter_http_callout_done(e, s, id, result, hp, hl, bp, bl);
    }
    if flags & 0x20 != 0 {
        run_streamed_call(s, input);
    }
    if with(|f| f.replies.is_empty()) {
        with(|f| {
            f.response = vec![
                (":status".into(), "200".into()),
                ("content-length".into(), "2".into()),
            ]
        });
        envoy_dynamic_module_on_http_filter_response_headers(e, s, false);
    }
    envoy_dynamic_module_on_http_filter_stream_complete(e, s);
}

/// The streamed call's answer, as the input says (module docs).
fn run_streamed_call(s: *const c_void, input: &mut Input<'_>) {
    let e = envoy_filter();
    let started = with(|f| f.streams.len()) as u64;
    let id = if started > 0 { 100 + started } else { 9 };
    let status = input.sized();
    let (hn, hv) = (input.sized(), input.sized());
    let owned = [(b":status".to_vec(), status), (hn, hv)];
    let headers: Vec<Header> = owned
        .iter()
        .map(|(n, v)| Header {
            key_ptr: n.as_ptr(),
            key_len: n.len(),
            value_ptr: v.as_ptr(),
            value_len: v.len(),
        })
        .collect();
    let first = input.u8();
    envoy_dynamic_module_on_http_filter_http_stream_headers(
        e,
        s,
        if first & 0x80 != 0 { id ^ 1 } else { id },
        headers.as_ptr(),
        headers.len(),
        first & 0x40 != 0,
    );
    for _ in 0..usize::from(first % 16) {
        let kind = input.u8();
        let target = if kind & 0x80 != 0 { id.wrapping_add(1) } else { id };
        let end = kind & 0x40 != 0;
        let bytes = input.sized();
        let piece = match kind % 8 {
            0 => bytes,
            1 | 2 => encode_payload_chunk(&bytes),
            3 => {
                let mut out = br#"{"statusCode":200,"headers":{"transfer-encoding":"chunked"}}"#.to_vec();
                out.extend_from_slice(&[0; 8]);
                out.extend_from_slice(&bytes);
                encode_payload_chunk(&out)
            }
            4 => encode_invoke_complete(&String::from_utf8_lossy(&bytes)),
            5 => {
                envoy_dynamic_module_on_http_filter_http_stream_reset(e, s, target, 0);
                continue;
            }
            6 => {
                envoy_dynamic_module_on_http_filter_http_stream_complete(e, s, target);
                continue;
            }
            _ => {
                envoy_dynamic_module_on_http_filter_http_stream_trailers(e, s, target, std::ptr::null(), 0);
                continue;
            }
        };
        // Envoy's slices: the piece cut in two, maybe with an empty slice between.
        let cut = usize::from(kind) % (piece.len() + 1);
        let slices = [Buf::of(&piece[..cut]), Buf::NULL, Buf::of(&piece[cut..])];
        envoy_dynamic_module_on_http_filter_http_stream_data(e, s, target, slices.as_ptr(), 3, end);
    }
}

/// The invariants of one run (module docs).
fn check(config_refused: bool) {
    with(|f| {
        for (_, line) in &f.logs {
            assert!(!line.contains("panicked"), "a hook panicked: {line}");
            assert!(line.len() < 64 * 1024, "a {}-byte log line", line.len());
        }
        if config_refused {
            assert!(f.replies.is_empty() && f.callouts.is_empty());
        }
        assert!(f.replies.len() <= 1, "{} replies to one stream", f.replies.len());
        for (status, headers, body, _) in &f.replies {
            assert!((200..=599).contains(status), "reply status {status}");
            let mut lengths = 0;
            for (n, v) in headers {
                assert!(
                    !n.is_empty() && n.bytes().all(|c| c.is_ascii_graphic() && c != b':'),
                    "reply field name {n:?}"
                );
                assert!(
                    !v.bytes().any(|c| matches!(c, b'\r' | b'\n' | 0)),
                    "value of {n}: {v:?}"
                );
                assert!(
                    !matches!(n.as_str(), "transfer-encoding" | "connection" | "upgrade" | "te"),
                    "framing header {n} in a reply"
                );
                if n == "content-length" {
                    lengths += 1;
                    assert_eq!(v, &body.len().to_string(), "content-length of a reply");
                }
            }
            assert!(lengths <= 1, "{lengths} content-length lines");
            if matches!(status, 204 | 304) {
                assert!(body.is_empty(), "a body with status {status}");
            }
        }
        for (cluster, _, _, _) in &f.callouts {
            assert!(!cluster.is_empty(), "a callout to no cluster");
        }
        // A reply, or a head written by the module, not both (at most one answer).
        assert!(
            f.replies.len() + f.written.len() <= 1,
            "{} replies and {} written heads",
            f.replies.len(),
            f.written.len()
        );
        for (headers, body, _) in &f.written {
            let status: u16 = headers
                .first()
                .filter(|(n, _)| n == ":status")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            assert!((200..=599).contains(&status), "written status {status}");
            for (n, v) in headers.iter().skip(1) {
                assert!(
                    !n.is_empty() && n.bytes().all(|c| c.is_ascii_graphic() && c != b':'),
                    "written field name {n:?}"
                );
                assert!(
                    !v.bytes().any(|c| matches!(c, b'\r' | b'\n' | 0)),
                    "value of {n}: {v:?}"
                );
                assert!(
                    !matches!(n.as_str(), "transfer-encoding" | "connection" | "upgrade" | "te"),
                    "framing header {n} in a written head"
                );
            }
            if matches!(status, 204 | 304) {
                assert!(body.is_empty(), "a body with status {status}");
            }
        }
        if let Some(end) = f.response_pieces.iter().position(|(_, end)| *end) {
            assert_eq!(end + 1, f.response_pieces.len(), "a body piece after the end");
            assert!(
                f.client_resets.is_empty(),
                "the client's stream reset after the end"
            );
        }
        if !f.client_resets.is_empty() {
            assert_eq!(f.written.len(), 1, "the client's stream reset without a head");
        }
        // Keep the fake's memory bounded across millions of runs.
        f.logs.clear();
    });
}
