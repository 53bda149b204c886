//! The streamed Lambda exchange (lambda-streaming.md) against a recording host: the call, the order of the
//! client's pieces, `response-rewrite` on the head, the timeout, the outcome recorded once, and what a
//! failing host call becomes before and after the head.

use crate::lambda::eventstream::{encode_invoke_complete, encode_payload_chunk};
use crate::lambda::Outcome;
use crate::pipeline::{FilterConfig, Next, Op, RecordingHost, Stream, StreamEvent};

const CONFIG: &str = r#"{
  "domains": [{"name": "*", "api_mappings": [{"base_path": "", "api": "a", "stage": "s"}]}],
  "apis": [{"id": "a", "stages": {"s": {}},
            "routes": [{"id": "st", "key": "ANY /st",
                        "integration": {"type": "lambda", "cluster": "lambda_st", "response_transfer_mode": "STREAM",
                                        "function_name": "fn", "timeout_ms": 1000},
                        "plugins": {"response-rewrite": {"status_code": 202, "headers": {"set": {"x-rw": "1"}}}}}]}]
}"#;

fn config() -> FilterConfig {
    match FilterConfig::from_bytes(CONFIG.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("{:?}", e.log_lines()),
    }
}

/// A GET /st whose streamed call is out (id 1).
fn started(config: &FilterConfig, host: &mut RecordingHost) -> Stream {
    host.streams = true;
    host.writes_responses = true;
    host.now_epoch_ms = 10_000;
    let mut stream = Stream::default();
    assert_eq!(stream.on_request_headers(Some(config), host, true), Next::Stop);
    stream
}

fn get() -> RecordingHost {
    RecordingHost::new(&[(":method", "GET"), (":authority", "a"), (":path", "/st")])
}

fn headers(status: &str) -> Vec<(String, String)> {
    vec![
        (":status".to_string(), status.to_string()),
        ("x-amzn-requestid".to_string(), "r-1".to_string()),
    ]
}

fn send(stream: &mut Stream, config: &FilterConfig, host: &mut RecordingHost, event: StreamEvent<'_>) {
    stream.on_stream_event(Some(config), host, event);
}

fn data(stream: &mut Stream, config: &FilterConfig, host: &mut RecordingHost, bytes: &[u8]) {
    send(
        stream,
        config,
        host,
        StreamEvent::Data {
            id: 1,
            data: bytes,
            end_of_stream: false,
        },
    );
}

fn prelude_and(body: &[u8]) -> Vec<u8> {
    let mut out = br#"{"statusCode":201,"headers":{"x-fn":"1","transfer-encoding":"chunked"}}"#.to_vec();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(body);
    encode_payload_chunk(&out)
}

/// The ops from the streamed call on that reach the client or the call.
fn client_ops(host: &RecordingHost) -> Vec<Op> {
    host.ops()
        .iter()
        .filter(|op| {
            matches!(
                op,
                Op::ResponseHead { .. }
                    | Op::ResponseBody { .. }
                    | Op::AbortResponse(_)
                    | Op::ResetStream(_)
                    | Op::LocalReply { .. }
                    | Op::Response { .. }
            )
        })
        .cloned()
        .collect()
}

#[test]
fn s2_the_call_then_s4_the_head_with_response_rewrite_then_each_piece_then_the_end_recorded_once() {
    let config = config();
    let mut host = get();
    let mut stream = started(&config, &mut host);
    let Some(Op::StartStream {
        cluster,
        headers: call,
        timeout_ms,
        ..
    }) = host
        .ops()
        .iter()
        .find(|op| matches!(op, Op::StartStream { .. }))
        .cloned()
    else {
        panic!("no streamed call: {:?}", host.ops());
    };
    assert_eq!(cluster, "lambda_st");
    assert_eq!(timeout_ms, 1000);
    assert!(call.contains(&(
        ":path".into(),
        "/2021-11-15/functions/fn/response-streaming-invocations".into()
    )));
    assert!(call.contains(&("x-amz-invocation-type".into(), "RequestResponse".into())));
    assert!(host.calls().is_empty(), "no buffered Invoke call");

    let h = headers("200");
    send(
        &mut stream,
        &config,
        &mut host,
        StreamEvent::Headers {
            id: 1,
            headers: &h,
            end_of_stream: false,
        },
    );
    data(&mut stream, &config, &mut host, &prelude_and(b"one"));
    assert!(
        stream.replied(),
        "the head is out: a panic now must reset, not answer 500"
    );
    data(&mut stream, &config, &mut host, &encode_payload_chunk(b"two"));
    data(&mut stream, &config, &mut host, &encode_invoke_complete("{}"));
    let ops = client_ops(&host);
    let [Op::ResponseHead { status, headers }, Op::ResponseBody {
        data: d1,
        end_of_stream: false,
    }, Op::ResponseBody {
        data: d2,
        end_of_stream: false,
    }, Op::ResponseBody {
        data: d3,
        end_of_stream: true,
    }] = &ops[..]
    else {
        panic!("{ops:?}");
    };
    // G1/G2: response-rewrite applies to the head, once.
    assert_eq!(*status, 202);
    assert!(headers.contains(&("x-rw".into(), "1".into())));
    assert!(headers.contains(&("x-fn".into(), "1".into())));
    // U9: no framing header from the function.
    assert!(!headers
        .iter()
        .any(|(n, _)| n == "transfer-encoding" || n == "content-length"));
    assert_eq!(
        (d1.as_slice(), d2.as_slice(), d3.as_slice()),
        (&b"one"[..], &b"two"[..], &b""[..])
    );
    assert_eq!(host.filter_state("routewise.lambda_outcome"), Some("proxied"));
    // The outcome is recorded before the end is sent (ending the response writes the access log).
    let recorded = host
        .ops()
        .iter()
        .position(|op| *op == Op::SetFilterState("routewise.lambda_outcome".into(), "proxied".into()));
    let ended = host.ops().iter().position(|op| {
        matches!(
            op,
            Op::ResponseBody {
                end_of_stream: true,
                ..
            }
        )
    });
    assert!(recorded < ended, "{:?}", host.ops());
    // The call ends on its own; the client's stream completing resets nothing.
    send(&mut stream, &config, &mut host, StreamEvent::End { id: 1 });
    send(&mut stream, &config, &mut host, StreamEvent::ClientDone);
    assert_eq!(client_ops(&host).len(), 4);
    assert_eq!(host.count_of(config.counters.lambda(Outcome::Proxied)), 1);
}

/// A HEAD request's streamed answer: the head and the end, no body piece in between (RFC 9110 §9.3.2; Envoy
/// trims a local reply's body for HEAD, not a response the filter writes in pieces).
#[test]
fn a_head_request_gets_the_streamed_head_and_end_without_a_body() {
    let config = config();
    let mut host = RecordingHost::new(&[(":method", "HEAD"), (":authority", "a"), (":path", "/st")]);
    let mut stream = started(&config, &mut host);
    let h = headers("200");
    send(
        &mut stream,
        &config,
        &mut host,
        StreamEvent::Headers {
            id: 1,
            headers: &h,
            end_of_stream: false,
        },
    );
    data(&mut stream, &config, &mut host, &prelude_and(b"one"));
    data(&mut stream, &config, &mut host, &encode_payload_chunk(b"two"));
    data(&mut stream, &config, &mut host, &encode_invoke_complete("{}"));
    let ops = client_ops(&host);
    let [Op::ResponseHead { status: 202, .. }, Op::ResponseBody {
        data: end,
        end_of_stream: true,
    }] = &ops[..]
    else {
        panic!("{ops:?}");
    };
    assert!(end.is_empty(), "{ops:?}");
    assert_eq!(host.filter_state("routewise.lambda_outcome"), Some("proxied"));
}

#[test]
fn timeouts_before_the_head_are_504_and_after_it_a_client_reset() {
    let config = config();
    // Envoy's own 504 for a call that outlived timeout_ms (no x-amzn-requestid): API Gateway's 504.
    let mut host = get();
    let mut stream = started(&config, &mut host);
    let h = vec![(":status".to_string(), "504".to_string())];
    send(
        &mut stream,
        &config,
        &mut host,
        StreamEvent::Headers {
            id: 1,
            headers: &h,
            end_of_stream: false,
        },
    );
    let reply = host.local_reply().map(|(s, _, b)| (s, b.to_vec()));
    assert_eq!(
        reply,
        Some((202, br#"{"message":"Endpoint request timed out"}"#.to_vec()))
    );
    assert_eq!(host.filter_state("routewise.lambda_outcome"), Some("timeout"));
    assert!(host.ops().contains(&Op::ResetStream(1)));

    // A 504 from Lambda itself (with x-amzn-requestid) is U2's 502 (before response-rewrite's status).
    let mut host = get();
    let mut stream = started(&config, &mut host);
    let h = headers("504");
    send(
        &mut stream,
        &config,
        &mut host,
        StreamEvent::Headers {
            id: 1,
            headers: &h,
            end_of_stream: true,
        },
    );
    assert_eq!(
        host.filter_state("routewise.lambda_outcome"),
        Some("lambda_error")
    );

    // A reset at the timeout after the head: the client's stream is reset.
    let mut host = get();
    let mut stream = started(&config, &mut host);
    let h = headers("200");
    send(
        &mut stream,
        &config,
        &mut host,
        StreamEvent::Headers {
            id: 1,
            headers: &h,
            end_of_stream: false,
        },
    );
    data(&mut stream, &config, &mut host, &prelude_and(b"x"));
    host.now_epoch_ms += 1000;
    send(&mut stream, &config, &mut host, StreamEvent::Reset { id: 1 });
    assert!(matches!(client_ops(&host).last(), Some(Op::AbortResponse(_))));
    assert_eq!(host.filter_state("routewise.lambda_outcome"), Some("timeout"));
    assert!(
        !host.ops().contains(&Op::ResetStream(1)),
        "the call is already gone"
    );
}

#[test]
fn failing_host_calls_are_a_500_before_the_head_and_a_reset_after_it() {
    let config = config();
    // The streamed call cannot start (a cluster Envoy does not know): 500.
    let mut host = get().fail("start_stream", 0);
    let _ = started(&config, &mut host);
    assert_eq!(
        host.local_reply().map(|r| r.0),
        Some(202),
        "500, then response-rewrite's status"
    );
    assert_eq!(
        host.filter_state("routewise.lambda_outcome"),
        Some("internal_error")
    );

    // The head cannot be written: the call is reset and the client gets the 500.
    let mut host = get().fail("send_response_head", 0);
    let mut stream = started(&config, &mut host);
    let h = headers("200");
    send(
        &mut stream,
        &config,
        &mut host,
        StreamEvent::Headers {
            id: 1,
            headers: &h,
            end_of_stream: false,
        },
    );
    data(&mut stream, &config, &mut host, &prelude_and(b"x"));
    assert!(host.ops().contains(&Op::ResetStream(1)));
    assert_eq!(
        host.filter_state("routewise.lambda_outcome"),
        Some("internal_error")
    );
    assert!(host
        .ops()
        .iter()
        .any(|op| matches!(op, Op::Response { .. } | Op::LocalReply { .. })));

    // A body piece cannot be written after the head: the call is reset, the client's stream too.
    let mut host = get().fail("send_response_body", 0);
    let mut stream = started(&config, &mut host);
    send(
        &mut stream,
        &config,
        &mut host,
        StreamEvent::Headers {
            id: 1,
            headers: &h,
            end_of_stream: false,
        },
    );
    data(&mut stream, &config, &mut host, &prelude_and(b"x"));
    let ops = client_ops(&host);
    assert!(matches!(ops.first(), Some(Op::ResponseHead { .. })), "{ops:?}");
    assert!(ops.contains(&Op::ResetStream(1)));
    assert!(matches!(ops.last(), Some(Op::AbortResponse(_))), "{ops:?}");
    assert_eq!(
        host.filter_state("routewise.lambda_outcome"),
        Some("internal_error")
    );
    // Nothing more happens, whatever arrives.
    data(&mut stream, &config, &mut host, &encode_invoke_complete("{}"));
    assert_eq!(client_ops(&host), ops);
}

#[test]
fn a_host_without_streamed_calls_answers_500_never_panics() {
    let config = config();
    let mut host = get();
    let mut stream = Stream::default();
    assert_eq!(
        stream.on_request_headers(Some(&config), &mut host, true),
        Next::Stop
    );
    assert_eq!(host.local_reply().map(|r| r.0), Some(202));
    assert_eq!(
        host.filter_state("routewise.lambda_outcome"),
        Some("internal_error")
    );
    // Events for a stream that made no streamed call are ignored.
    send(&mut stream, &config, &mut host, StreamEvent::Reset { id: 1 });
    send(&mut stream, &config, &mut host, StreamEvent::ClientDone);
}
