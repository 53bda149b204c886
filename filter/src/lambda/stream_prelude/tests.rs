//! lambda-streaming.md §4: the prelude, the 8-NUL delimiter, the 16 KB limit and the §4.3 500s; the four
//! prelude keys under the buffered U4-U9/U12/U13 rules.

use super::*;

const NUL8: &[u8] = &[0; 8];

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Feeds `stream` in pieces of `step`; returns the head (or the failure) and the body bytes passed on.
fn run(stream: &[u8], step: usize, invoke: &[(String, String)]) -> (Unwrapped, Vec<u8>) {
    let mut s = PreludeSplitter::new();
    let mut head = None;
    let mut body = Vec::new();
    for piece in stream.chunks(step.max(1)) {
        match s.push(piece, invoke) {
            Step::NeedMore => assert!(head.is_none()),
            Step::Head { head: h, body: b } => {
                assert!(head.is_none(), "one head");
                head = Some(h);
                body.extend_from_slice(b);
            }
            Step::Body(b) => {
                assert!(head.is_some(), "body after head");
                body.extend_from_slice(b);
            }
            Step::Failed(f) => {
                assert!(head.is_none());
                return (f, body);
            }
        }
    }
    match head {
        Some(h) => (h, body),
        None => (s.finish(invoke).expect("a failure at the end"), body),
    }
}

fn stream(prelude: &str, body: &[u8]) -> Vec<u8> {
    let mut v = prelude.as_bytes().to_vec();
    v.extend_from_slice(NUL8);
    v.extend_from_slice(body);
    v
}

#[test]
fn s4_1_prelude_then_delimiter_then_body_across_any_piece_size() {
    let prelude = r#"{"statusCode":201,"headers":{"Content-Type":"text/plain","X-One":"1"},"multiValueHeaders":{"X-Many":["a","b"]},"cookies":["a=1","b=2"]}"#;
    let bytes = stream(prelude, b"first chunk, then more");
    for step in [1, 2, 7, 8, 9, prelude.len(), prelude.len() + 4, bytes.len()] {
        let (head, body) = run(
            &bytes,
            step,
            &h(&[("x-amzn-RequestId", "req-1"), ("x-other", "no")]),
        );
        assert_eq!(head.status, 201, "step {step}");
        assert_eq!(
            head.headers,
            h(&[
                ("x-many", "a"),
                ("x-many", "b"),
                ("content-type", "text/plain"),
                ("x-one", "1"),
                // U13, then U8 last; no content-length (length unknown)
                ("x-amzn-requestid", "req-1"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ]),
            "step {step}"
        );
        assert_eq!(body, b"first chunk, then more", "step {step}");
        assert_eq!(head.reason, None);
    }
}

#[test]
fn s4_1_every_key_is_optional_status_defaults_to_200_and_content_type_to_json() {
    let (head, body) = run(&stream("{}", b"x"), 3, &[]);
    assert_eq!(
        (head.status, head.headers, body),
        (200, h(&[("content-type", "application/json")]), b"x".to_vec())
    );
    // A prelude then no body: an empty 200 (§4.3 likely).
    let (head, body) = run(&stream(r#"{"statusCode":"202"}"#, b""), 100, &[]);
    assert_eq!((head.status, body), (202, vec![]));
}

#[test]
fn s4_4_only_the_first_eight_nuls_delimit_and_later_nuls_are_body() {
    let mut bytes = stream("{}", NUL8);
    bytes.extend_from_slice(b"\0\0tail");
    let (head, body) = run(&bytes, 5, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(body, b"\0\0\0\0\0\0\0\0\0\0tail");
}

#[test]
fn u9_headers_of_the_prelude_are_filtered_as_in_a_buffered_answer() {
    let prelude = r#"{"headers":{"Transfer-Encoding":"chunked","Content-Length":"5","Connection":"close",":status":"200","x-envoy-lambda-statuscode":"429","X-Ok":"y","Bad":"a\r\nb"}}"#;
    let (head, _) = run(&stream(prelude, b"12345"), 64, &[]);
    assert_eq!(
        head.headers,
        h(&[("x-ok", "y"), ("content-type", "application/json")])
    );
    assert_eq!(head.dropped_total, 6);
}

#[test]
fn s4_3_no_delimiter_within_16_kb_is_500_and_at_most_16_kb_is_held() {
    let bytes = vec![b' '; 40_000];
    let mut s = PreludeSplitter::new();
    let mut failed = None;
    for piece in bytes.chunks(1000) {
        match s.push(piece, &[]) {
            Step::NeedMore => assert!(s.buffered() <= MAX_PRELUDE_BYTES),
            Step::Failed(f) => {
                failed = Some(f);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let f = failed.expect("500 at 16 KB");
    assert_eq!(f.status, 500);
    assert_eq!(f.body, ERROR_BODY.as_bytes());
    assert_eq!(
        f.reason.as_deref(),
        Some("malformed stream prelude: no 8-byte NUL delimiter within the first 16384 bytes")
    );
    assert_eq!(s.buffered(), 0);
    // After a failure the rest of the stream is ignored.
    assert!(matches!(s.push(b"more", &[]), Step::Body(b"")));
    assert_eq!(s.finish(&[]), None);
}

#[test]
fn s4_1_a_delimiter_ending_exactly_at_16_kb_is_accepted_one_byte_later_is_not() {
    let pad = |n: usize| {
        let mut p = b"{}".to_vec();
        p.resize(n, b' ');
        p
    };
    let mut ok = pad(MAX_PRELUDE_BYTES - 8);
    ok.extend_from_slice(NUL8);
    ok.extend_from_slice(b"body");
    let (head, body) = run(&ok, 4096, &[]);
    assert_eq!((head.status, body), (200, b"body".to_vec()));

    let mut late = pad(MAX_PRELUDE_BYTES - 7);
    late.extend_from_slice(NUL8);
    let (head, _) = run(&late, 4096, &[]);
    assert_eq!(head.status, 500);
}

#[test]
fn s4_3_broken_preludes_are_500_with_a_reason_and_u13_headers() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "the function's output is empty (no prelude)"),
        (
            b"{\"statusCode\":200}",
            "the function's output ended before the 8-byte NUL delimiter",
        ),
        (
            b"{\"statusCode\":200\0\0\0\0\0\0\0\0",
            "prelude is not valid JSON: EOF while parsing an object at line 1 column 17",
        ),
        (b"[1]\0\0\0\0\0\0\0\0", "prelude must be a JSON object"),
        (
            b"\0\0\0\0\0\0\0\0body",
            "prelude is not valid JSON: EOF while parsing a value at line 1 column 0",
        ),
        (
            b"{\"body\":\"x\"}\0\0\0\0\0\0\0\0",
            "unsupported prelude key \"body\" (only statusCode, headers, multiValueHeaders, cookies)",
        ),
        (
            b"{\"statusCode\":700}\0\0\0\0\0\0\0\0",
            "statusCode must be an integer in 200..=599",
        ),
        (
            b"{\"statusCode\":100}\0\0\0\0\0\0\0\0",
            "statusCode must be an integer in 200..=599",
        ),
        (
            b"{\"multiValueHeaders\":{\"a\":\"b\"}}\0\0\0\0\0\0\0\0",
            "multiValueHeaders.a must be an array or null",
        ),
        (
            b"{\"cookies\":\"a=1\"}\0\0\0\0\0\0\0\0",
            "cookies must be an array or null",
        ),
        (b"\xff{}\0\0\0\0\0\0\0\0", "prelude is not UTF-8 (byte 0)"),
    ];
    for (bytes, reason) in cases {
        let (out, body) = run(bytes, 3, &h(&[("x-amzn-trace-id", "Root=1")]));
        assert_eq!(out.status, 500, "{reason}");
        assert_eq!(out.outcome, Outcome::Malformed);
        assert_eq!(out.body, ERROR_BODY.as_bytes());
        assert_eq!(
            out.headers,
            h(&[
                ("content-type", "application/json"),
                ("content-length", "35"),
                ("x-amzn-trace-id", "Root=1")
            ])
        );
        assert_eq!(
            out.reason.as_deref(),
            Some(format!("malformed stream prelude: {reason}").as_str())
        );
        assert!(body.is_empty());
    }
}

#[test]
fn rfc9110_204_and_304_pass_no_body_bytes() {
    for status in [204, 304] {
        let (head, body) = run(
            &stream(&format!(r#"{{"statusCode":{status}}}"#), b"ignored"),
            4,
            &[],
        );
        assert_eq!(head.status, status);
        assert!(head.headers.is_empty(), "{:?}", head.headers);
        assert!(body.is_empty());
    }
}
