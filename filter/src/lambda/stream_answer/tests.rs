//! lambda-streaming.md §2-§6 through [`StreamAnswer`]: the head goes out when the prelude is complete and
//! each body piece as it arrives, before InvokeComplete; errors before the stream follow U1/U2; a failure
//! after the head resets the client's stream.

use super::*;
use crate::lambda::eventstream::crc32;
use crate::lambda::unwrap::ERROR_BODY;

/// §3.1/§3.2: one message with string headers.
fn message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (n, v) in headers {
        block.push(n.len() as u8);
        block.extend_from_slice(n.as_bytes());
        block.push(7);
        block.extend_from_slice(&(v.len() as u16).to_be_bytes());
        block.extend_from_slice(v.as_bytes());
    }
    let total = (16 + block.len() + payload.len()) as u32;
    let mut m = total.to_be_bytes().to_vec();
    m.extend_from_slice(&(block.len() as u32).to_be_bytes());
    let crc = crc32(&m, 0);
    m.extend_from_slice(&crc.to_be_bytes());
    m.extend_from_slice(&block);
    m.extend_from_slice(payload);
    let crc = crc32(&m, 0);
    m.extend_from_slice(&crc.to_be_bytes());
    m
}

fn chunk(payload: &[u8]) -> Vec<u8> {
    message(
        &[
            (":event-type", "PayloadChunk"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ],
        payload,
    )
}

fn complete(payload: &str) -> Vec<u8> {
    message(
        &[(":event-type", "InvokeComplete"), (":message-type", "event")],
        payload.as_bytes(),
    )
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn ok_headers() -> Vec<(String, String)> {
    h(&[
        (":status", "200"),
        ("content-type", "application/vnd.amazon.eventstream"),
        ("x-amzn-requestid", "req-1"),
    ])
}

const PRELUDE: &[u8] = b"{\"statusCode\":201,\"headers\":{\"content-type\":\"text/plain\"}}\0\0\0\0\0\0\0\0";

fn started() -> StreamAnswer {
    let mut a = StreamAnswer::new(1 << 20);
    let mut out = Vec::new();
    a.on_headers(&ok_headers(), false, &mut out);
    assert!(out.is_empty());
    a
}

fn step(a: &mut StreamAnswer, bytes: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    a.on_data(bytes, false, &mut out);
    out
}

fn head_status(actions: &[Action]) -> Option<u16> {
    actions.iter().find_map(|a| match a {
        Action::Head(h) => Some(h.status),
        _ => None,
    })
}

#[test]
fn s1_s4_the_head_and_first_body_piece_go_out_before_invoke_complete() {
    let mut a = started();
    let mut first = PRELUDE.to_vec();
    first.extend_from_slice(b"first");
    let out = step(&mut a, &chunk(&first));
    assert_eq!(out.len(), 2, "{out:?}");
    let Action::Head(head) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(head.status, 201);
    assert_eq!(
        head.headers,
        h(&[("content-type", "text/plain"), ("x-amzn-requestid", "req-1")])
    );
    assert_eq!(out[1], Action::Data(b"first".to_vec()));
    assert!(!a.is_finished(), "the function has not finished");

    assert_eq!(
        step(&mut a, &chunk(b" second")),
        [Action::Data(b" second".to_vec())]
    );
    assert_eq!(step(&mut a, &complete("{}")), [Action::End]);
    assert!(a.is_finished());
    assert_eq!((a.outcome(), a.reason()), (Outcome::Proxied, None));
    // Nothing after the end.
    assert!(step(&mut a, &chunk(b"late")).is_empty());
}

#[test]
fn s1_chunk_boundaries_mean_nothing_byte_by_byte_gives_one_head_and_the_same_body() {
    let mut bytes = chunk(&PRELUDE[..10]);
    bytes.extend(chunk(&PRELUDE[10..]));
    bytes.extend(chunk(b"abc"));
    bytes.extend(chunk(b""));
    bytes.extend(chunk(b"def"));
    bytes.extend(complete(r#"{"LogResult":"bG9n"}"#));
    let mut a = started();
    let mut actions = Vec::new();
    for b in &bytes {
        actions.extend(step(&mut a, std::slice::from_ref(b)));
    }
    let mut out = Vec::new();
    a.on_data(&[], true, &mut out);
    assert!(out.is_empty(), "ended already: {out:?}");
    assert_eq!(actions.iter().filter(|a| matches!(a, Action::Head(_))).count(), 1);
    assert_eq!(head_status(&actions), Some(201));
    let body: Vec<u8> = actions
        .iter()
        .flat_map(|a| match a {
            Action::Data(d) => d.clone(),
            _ => vec![],
        })
        .collect();
    assert_eq!(body, b"abcdef");
    assert_eq!(actions.last(), Some(&Action::End));
}

#[test]
fn s2_u1_a_throttled_call_is_500_with_the_reason_before_any_stream() {
    let mut a = StreamAnswer::new(1 << 20);
    let mut out = Vec::new();
    a.on_headers(
        &h(&[(":status", "429"), ("x-amzn-requestid", "r")]),
        false,
        &mut out,
    );
    a.on_data(
        br#"{"Reason":"ConcurrentInvocationLimitExceeded","Type":"User","#,
        false,
        &mut out,
    );
    assert!(out.is_empty());
    a.on_data(br#""message":"Rate Exceeded."}"#, true, &mut out);
    let [Action::Reply(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-envoy-lambda-statuscode"), Some("429"));
    assert_eq!(
        r.header("x-envoy-lambda-statusreason"),
        Some("ConcurrentInvocationLimitExceeded")
    );
    assert_eq!(r.header("x-amzn-requestid"), Some("r"));
    assert_eq!(a.outcome(), Outcome::Throttled);
}

#[test]
fn s2_u2_a_lambda_error_status_is_502_and_its_body_is_bounded() {
    let mut a = StreamAnswer::new(1 << 20);
    let mut out = Vec::new();
    a.on_headers(&h(&[(":status", "404")]), false, &mut out);
    for _ in 0..100 {
        a.on_data(&[b'x'; 10_000], false, &mut out);
    }
    a.on_data(b"", true, &mut out);
    let [Action::Reply(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (r.status, r.header("x-envoy-lambda-statuscode")),
        (502, Some("404"))
    );
    assert_eq!(a.outcome(), Outcome::LambdaError);
}

#[test]
fn s4_3_a_broken_prelude_or_an_output_without_one_is_500() {
    for output in [&b"no delimiter"[..], b"{\"body\":\"x\"}\0\0\0\0\0\0\0\0"] {
        let mut a = started();
        let mut actions = step(&mut a, &chunk(output));
        actions.extend(step(&mut a, &complete("{}")));
        let [Action::Reply(r)] = &actions[..] else {
            panic!("{actions:?}")
        };
        assert_eq!((r.status, r.body.as_slice()), (500, ERROR_BODY.as_bytes()));
        assert_eq!(a.outcome(), Outcome::Malformed);
        assert!(
            a.reason().unwrap().starts_with("malformed stream prelude: "),
            "{:?}",
            a.reason()
        );
    }
}

#[test]
fn s6_an_error_code_before_the_head_is_502_after_it_a_reset() {
    let failed = r#"{"ErrorCode":"Runtime.StreamError","ErrorDetails":"boom"}"#;
    let mut a = started();
    let out = step(&mut a, &complete(failed));
    let [Action::Reply(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (r.status, r.header("x-envoy-lambda-function-error")),
        (502, Some("Runtime.StreamError"))
    );
    assert_eq!(a.outcome(), Outcome::FunctionError);

    let mut a = started();
    let mut first = PRELUDE.to_vec();
    first.extend_from_slice(b"partial");
    assert_eq!(head_status(&step(&mut a, &chunk(&first))), Some(201));
    let out = step(&mut a, &complete(failed));
    assert_eq!(
        out,
        [Action::Reset(
            "the function failed: ErrorCode \"Runtime.StreamError\", ErrorDetails \"boom\"".into()
        )]
    );
    assert_eq!(a.outcome(), Outcome::FunctionError);
}

#[test]
fn s3_1_s6_a_corrupt_message_or_an_exception_after_the_head_resets_the_client() {
    let mut a = started();
    step(&mut a, &chunk(PRELUDE));
    let mut bad = chunk(b"data");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let out = step(&mut a, &bad);
    let [Action::Reset(why)] = &out[..] else {
        panic!("{out:?}")
    };
    assert!(
        why.starts_with("malformed event stream: event-stream message crc mismatch"),
        "{why}"
    );
    assert_eq!(a.outcome(), Outcome::Malformed);

    let mut a = started();
    step(&mut a, &chunk(PRELUDE));
    let exception = message(
        &[
            (":message-type", "exception"),
            (":exception-type", "ServiceException"),
        ],
        b"{}",
    );
    let out = step(&mut a, &exception);
    assert!(matches!(&out[..], [Action::Reset(_)]), "{out:?}");
    assert_eq!(a.outcome(), Outcome::LambdaError);
}

#[test]
fn s6_the_call_ending_or_failing_without_invoke_complete() {
    // After the head: truncated, reset.
    let mut a = started();
    step(&mut a, &chunk(PRELUDE));
    let mut out = Vec::new();
    a.on_data(&chunk(b"more"), true, &mut out);
    assert_eq!(
        out,
        [
            Action::Data(b"more".to_vec()),
            Action::Reset("the event stream ended without InvokeComplete".into())
        ]
    );
    assert_eq!(a.outcome(), Outcome::CallFailed);

    // A reset before any header: 502; a timeout: 504; after the head: a reset either way.
    let mut a = StreamAnswer::new(1 << 20);
    let mut out = Vec::new();
    a.on_reset("connection failure", None, &mut out);
    let [Action::Reply(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!((r.status, a.outcome()), (502, Outcome::CallFailed));

    let mut a = started();
    let mut out = Vec::new();
    a.on_reset("reset", Some(1500), &mut out);
    let [Action::Reply(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!((r.status, a.outcome()), (504, Outcome::Timeout));

    let mut a = started();
    step(&mut a, &chunk(PRELUDE));
    let mut out = Vec::new();
    a.on_reset("reset", Some(1500), &mut out);
    assert!(matches!(&out[..], [Action::Reset(_)]), "{out:?}");
    // Nothing after that.
    let mut out = Vec::new();
    a.on_data(&complete("{}"), true, &mut out);
    a.on_reset("again", None, &mut out);
    assert!(out.is_empty());
}

#[test]
fn bounded_a_message_over_the_limit_ends_the_stream() {
    let mut a = StreamAnswer::new(100);
    let mut out = Vec::new();
    a.on_headers(&ok_headers(), false, &mut out);
    let out = step(&mut a, &chunk(&[b'x'; 200]));
    let [Action::Reply(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(r.status, 502);
    assert_eq!(a.outcome(), Outcome::Malformed);
}
