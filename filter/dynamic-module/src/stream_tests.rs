//! Lambda response streaming (`response_transfer_mode: "STREAM"`, lambda-streaming.md) through the real
//! hooks against [`crate::fake_envoy`]: the streamed call, the answer written in pieces as it arrives, the
//! failures before and after the head, the client leaving, and hostile sequences (unknown ids, events after
//! the end, resets delivered while a hook runs, panics).

use std::ffi::c_void;

use routewise::lambda::eventstream::{encode_invoke_complete, encode_payload_chunk};
use routewise::pipeline::lambda_stream::ABORT_DETAILS;

use crate::fake_envoy::{self, envoy_filter, with};
use crate::ffi::{status, Buf, Header};
use crate::hooks::*;

const CONFIG: &str = r#"{
  "domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "a", "stage": "s"}]}],
  "apis": [{"id": "a", "stages": {"s": {}},
            "routes": [{"id": "st", "key": "ANY /stream", "integration": {"type": "lambda", "cluster": "lambda_st",
                        "response_transfer_mode": "STREAM", "function_name": "pets:live", "timeout_ms": 60000}}]}]
}"#;

const PRELUDE: &[u8] =
    br#"{"statusCode":201,"headers":{"content-type":"text/plain","x-a":"1","content-length":"99"}}"#;
const DELIMITER: &[u8] = &[0; 8];

fn config() -> *const c_void {
    envoy_dynamic_module_on_program_init();
    let c = envoy_dynamic_module_on_http_filter_config_new(
        std::ptr::null_mut(),
        Buf::of(b"routewise"),
        Buf::of(CONFIG.as_bytes()),
    );
    assert!(!c.is_null(), "{:?}", with(|f| f.logs.clone()));
    c
}

/// A GET /stream whose request has ended: the streamed call is out. Returns the stream and the call's id.
fn started(config: *const c_void, reenter: bool) -> (*const c_void, u64) {
    fake_envoy::reset(&[
        (":method", "GET"),
        (":authority", "a.example"),
        (":path", "/stream"),
    ]);
    let s = envoy_dynamic_module_on_http_filter_new(config, envoy_filter());
    assert!(!s.is_null());
    if reenter {
        with(|f| f.module = Some(s as usize));
    }
    let st = envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
    assert_eq!(st, status::STOP_ITERATION);
    (s, 100 + with(|f| f.streams.len()) as u64)
}

fn headers(s: *const c_void, id: u64, lines: &[(&str, &str)], end: bool) {
    let h: Vec<Header> = lines.iter().map(|(n, v)| Header::of(n, v)).collect();
    envoy_dynamic_module_on_http_filter_http_stream_headers(envoy_filter(), s, id, h.as_ptr(), h.len(), end);
}

fn ok_headers(s: *const c_void, id: u64) {
    headers(
        s,
        id,
        &[
            (":status", "200"),
            ("content-type", "application/vnd.amazon.eventstream"),
            ("x-amzn-requestid", "req-1"),
        ],
        false,
    );
}

/// Body bytes delivered as Envoy does: in `slices`, one hook call.
fn data(s: *const c_void, id: u64, slices: &[&[u8]], end: bool) {
    let bufs: Vec<Buf> = slices.iter().map(|b| Buf::of(b)).collect();
    envoy_dynamic_module_on_http_filter_http_stream_data(
        envoy_filter(),
        s,
        id,
        bufs.as_ptr(),
        bufs.len(),
        end,
    );
}

fn first_part() -> Vec<u8> {
    let mut out = PRELUDE.to_vec();
    out.extend_from_slice(DELIMITER);
    out.extend_from_slice(b"hel");
    out
}

fn state(key: &str) -> Option<String> {
    with(|f| {
        f.filter_state
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

#[test]
fn s2_the_streamed_call_is_invoke_with_response_stream_with_the_event_and_the_timeout() {
    let c = config();
    let (s, _) = started(c, false);
    let streams = with(|f| f.streams.clone());
    assert_eq!(streams.len(), 1);
    let (cluster, lines, body, end, timeout) = &streams[0];
    assert_eq!(cluster, "lambda_st");
    let get = |n: &str| lines.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get(":method"), Some("POST"));
    // lambda-streaming.md §2: the 2021-11-15 path with the function name (and qualifier).
    assert_eq!(
        get(":path"),
        Some("/2021-11-15/functions/pets:live/response-streaming-invocations")
    );
    assert!(
        get(":authority").is_some_and(|a| !a.is_empty()),
        "Envoy requires :authority"
    );
    assert_eq!(get("x-amz-invocation-type"), Some("RequestResponse"));
    assert_eq!(get("content-length"), Some(body.len().to_string().as_str()));
    assert!(*end, "the event is the whole request");
    assert_eq!(*timeout, 60_000);
    let event: serde_json::Value = serde_json::from_slice(body).expect("the event is JSON");
    assert_eq!(event["rawPath"], "/stream");
    assert!(with(|f| f.callouts.is_empty() && f.replies.is_empty()));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn s1_s4_the_head_and_the_first_piece_reach_the_client_before_the_function_has_finished() {
    let c = config();
    let (s, id) = started(c, true);
    ok_headers(s, id);
    assert!(
        with(|f| f.written.is_empty()),
        "nothing before the prelude's delimiter (§4.1)"
    );
    // One PayloadChunk split across two slices, mid-message.
    let chunk = encode_payload_chunk(&first_part());
    let (a, b) = chunk.split_at(20);
    data(s, id, &[a, b], false);
    let (written, pieces) = with(|f| (f.written.clone(), f.response_pieces.clone()));
    assert_eq!(written.len(), 1, "one head");
    let head = &written[0].0;
    assert_eq!(head[0], (":status".to_string(), "201".to_string()));
    assert!(head.contains(&("x-a".to_string(), "1".to_string())));
    assert!(head.contains(&("content-type".to_string(), "text/plain".to_string())));
    // U9: no framing header from the function; Envoy frames the body (§4.1).
    assert!(
        !head
            .iter()
            .any(|(n, _)| n == "content-length" || n == "transfer-encoding"),
        "{head:?}"
    );
    // U13.
    assert!(head.contains(&("x-amzn-requestid".to_string(), "req-1".to_string())));
    assert_eq!(
        pieces,
        [(b"hel".to_vec(), false)],
        "the first piece, the stream still open"
    );

    data(s, id, &[&encode_payload_chunk(b"lo")], false);
    assert_eq!(
        with(|f| f.response_pieces.last().cloned()),
        Some((b"lo".to_vec(), false))
    );
    data(s, id, &[&encode_invoke_complete("{}")], false);
    assert_eq!(
        with(|f| f.response_pieces.last().cloned()),
        Some((Vec::new(), true))
    );
    data(s, id, &[], true);
    envoy_dynamic_module_on_http_filter_http_stream_complete(envoy_filter(), s, id);
    envoy_dynamic_module_on_http_filter_stream_complete(envoy_filter(), s);
    assert_eq!(with(|f| f.written[0].1.clone()), b"hello");
    assert!(with(|f| f.replies.is_empty()
        && f.client_resets.is_empty()
        && f.stream_resets.is_empty()));
    assert_eq!(state("routewise.lambda_outcome").as_deref(), Some("proxied"));
    assert_eq!(state("routewise.lambda_status").as_deref(), Some("200"));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn s4_3_a_broken_prelude_is_a_500_and_the_call_is_reset() {
    let c = config();
    let (s, id) = started(c, true);
    ok_headers(s, id);
    let mut out = br#"{"statusCode":200,"body":"not a prelude key"}"#.to_vec();
    out.extend_from_slice(DELIMITER);
    data(s, id, &[&encode_payload_chunk(&out)], false);
    let replies = with(|f| f.replies.clone());
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].0, 500);
    assert_eq!(replies[0].2, br#"{"message":"Internal server error"}"#);
    assert!(with(|f| f.written.is_empty() && f.client_resets.is_empty()));
    assert_eq!(with(|f| f.stream_resets.clone()), [id]);
    assert_eq!(state("routewise.lambda_outcome").as_deref(), Some("malformed"));
    // The rest of the call's answer, if Envoy still delivers any, changes nothing.
    data(s, id, &[&encode_payload_chunk(b"more")], true);
    assert_eq!(with(|f| f.replies.len()), 1);
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn s2_u1_a_throttled_call_is_api_gateways_500_before_any_stream() {
    let c = config();
    let (s, id) = started(c, false);
    headers(
        s,
        id,
        &[
            (":status", "429"),
            ("x-amzn-errortype", "TooManyRequestsException"),
        ],
        false,
    );
    data(
        s,
        id,
        &[br#"{"Reason":"ConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#],
        true,
    );
    let replies = with(|f| f.replies.clone());
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, 500);
    let h = &replies[0].1;
    assert!(
        h.contains(&("x-envoy-lambda-statuscode".to_string(), "429".to_string())),
        "{h:?}"
    );
    assert!(h.contains(&(
        "x-envoy-lambda-statusreason".to_string(),
        "ConcurrentInvocationLimitExceeded".to_string()
    )));
    assert_eq!(state("routewise.lambda_outcome").as_deref(), Some("throttled"));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn s6_a_mid_stream_error_resets_the_client_and_the_body_never_ends() {
    let c = config();
    let (s, id) = started(c, true);
    ok_headers(s, id);
    data(s, id, &[&encode_payload_chunk(&first_part())], false);
    data(
        s,
        id,
        &[&encode_invoke_complete(
            r#"{"ErrorCode":"Runtime.StreamError","ErrorDetails":"boom"}"#,
        )],
        false,
    );
    assert_eq!(with(|f| f.client_resets.clone()), [ABORT_DETAILS]);
    assert!(
        !with(|f| f.response_pieces.iter().any(|(_, end)| *end)),
        "the truncated body must not end well"
    );
    assert_eq!(
        state("routewise.lambda_outcome").as_deref(),
        Some("function_error")
    );
    assert!(state("routewise.lambda_reason").is_some_and(|r| r.contains("Runtime.StreamError")));
    // A corrupt message after the head: the same reset (§3.1: a bad CRC ends the stream).
    let (s2, id2) = started(c, false);
    ok_headers(s2, id2);
    data(s2, id2, &[&encode_payload_chunk(&first_part())], false);
    let mut bad = encode_payload_chunk(b"x");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    data(s2, id2, &[&bad], false);
    assert_eq!(with(|f| f.client_resets.clone()), [ABORT_DETAILS]);
    assert_eq!(with(|f| f.stream_resets.clone()), [id2]);
    envoy_dynamic_module_on_http_filter_destroy(s2);
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn s6_the_call_reset_before_the_head_is_502_and_after_it_a_client_reset() {
    let c = config();
    let (s, id) = started(c, false);
    ok_headers(s, id);
    envoy_dynamic_module_on_http_filter_http_stream_reset(envoy_filter(), s, id, 0);
    assert_eq!(with(|f| f.replies.first().map(|r| r.0)), Some(502));
    envoy_dynamic_module_on_http_filter_destroy(s);

    let (s, id) = started(c, false);
    ok_headers(s, id);
    data(s, id, &[&encode_payload_chunk(&first_part())], false);
    envoy_dynamic_module_on_http_filter_http_stream_reset(envoy_filter(), s, id, 0);
    assert_eq!(with(|f| f.client_resets.clone()), [ABORT_DETAILS]);
    assert!(with(|f| f.replies.is_empty()));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn s6_the_client_leaving_mid_stream_resets_the_call() {
    let c = config();
    let (s, id) = started(c, false);
    ok_headers(s, id);
    data(s, id, &[&encode_payload_chunk(&first_part())], false);
    envoy_dynamic_module_on_http_filter_stream_complete(envoy_filter(), s);
    assert_eq!(with(|f| f.stream_resets.clone()), [id]);
    assert!(with(|f| f.client_resets.is_empty()));
    // What Envoy may still deliver afterwards is ignored.
    data(s, id, &[&encode_payload_chunk(b"late")], false);
    assert_eq!(with(|f| f.response_pieces.len()), 1);
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn hostile_unknown_ids_events_after_the_end_and_a_reset_inside_start_http_stream() {
    let c = config();
    let (s, id) = started(c, false);
    // Another id: ignored, whatever it says.
    headers(s, id + 7, &[(":status", "500")], true);
    data(s, 0, &[b"garbage"], true);
    envoy_dynamic_module_on_http_filter_http_stream_reset(envoy_filter(), s, u64::MAX, 0);
    assert!(with(|f| f.replies.is_empty() && f.written.is_empty()));
    // The real answer, then data, headers and a reset after its end: nothing more happens.
    ok_headers(s, id);
    data(
        s,
        id,
        &[
            &encode_payload_chunk(&first_part()),
            &encode_invoke_complete("{}"),
        ],
        true,
    );
    let pieces = with(|f| f.response_pieces.clone());
    data(s, id, &[&encode_payload_chunk(b"after")], false);
    headers(s, id, &[(":status", "200")], false);
    envoy_dynamic_module_on_http_filter_http_stream_reset(envoy_filter(), s, id, 0);
    envoy_dynamic_module_on_http_filter_http_stream_trailers(envoy_filter(), s, id, std::ptr::null(), 0);
    assert_eq!(with(|f| f.response_pieces.clone()), pieces);
    assert!(with(|f| f.client_resets.is_empty() && f.replies.is_empty()));
    envoy_dynamic_module_on_http_filter_destroy(s);

    // Envoy re-enters the module: a reset delivered inside start_http_stream (the request-headers hook is
    // still running). It is queued, then handled: one 502, no panic.
    fake_envoy::reset(&[(":method", "GET"), (":authority", "a"), (":path", "/stream")]);
    let s = envoy_dynamic_module_on_http_filter_new(c, envoy_filter());
    with(|f| {
        f.module = Some(s as usize);
        f.reset_on_start = true;
    });
    envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
    let replies = with(|f| f.replies.clone());
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].0, 502);
    assert!(with(|f| !f.logs.iter().any(|(_, l)| l.contains("panicked"))));
    envoy_dynamic_module_on_http_filter_destroy(s);

    // A cluster Envoy does not know: 500 (the integration is misconfigured), nothing streamed.
    fake_envoy::reset(&[(":method", "GET"), (":authority", "a"), (":path", "/stream")]);
    with(|f| f.start_result = 2);
    let s = envoy_dynamic_module_on_http_filter_new(c, envoy_filter());
    envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
    assert_eq!(with(|f| f.replies.first().map(|r| r.0)), Some(500));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn a_panic_in_a_stream_hook_is_a_500_before_the_head_and_a_client_reset_after_it() {
    let c = config();
    let (s, id) = started(c, false);
    with(|f| f.panic_at = Some("http_stream"));
    ok_headers(s, id);
    with(|f| f.panic_at = None);
    assert_eq!(with(|f| f.replies.first().map(|r| r.0)), Some(500));
    assert_eq!(with(|f| f.stream_resets.clone()), [id]);
    // Poisoned: nothing more.
    data(s, id, &[&encode_payload_chunk(&first_part())], false);
    assert!(with(|f| f.written.is_empty()));
    envoy_dynamic_module_on_http_filter_destroy(s);

    let (s, id) = started(c, false);
    ok_headers(s, id);
    data(s, id, &[&encode_payload_chunk(&first_part())], false);
    with(|f| f.panic_at = Some("http_stream"));
    data(s, id, &[&encode_payload_chunk(b"x")], false);
    with(|f| f.panic_at = None);
    assert_eq!(with(|f| f.client_resets.clone()), [ABORT_DETAILS]);
    assert_eq!(with(|f| f.stream_resets.clone()), [id]);
    assert!(with(|f| f.replies.is_empty()));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}
