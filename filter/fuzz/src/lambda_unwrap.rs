//! `lambda_unwrap`: the fuzzer's bytes as a function's answer, unwrapped in both payload formats.
//!
//! Layout: byte 0 picks the Invoke status, byte 1 the `max_response_body_bytes`, byte 2 which Invoke
//! headers are present (`x-amz-function-error`, `x-amzn-requestid`, `x-amzn-trace-id`, and a header that
//! must never reach the client), each value a length-prefixed string; the rest is the payload.
//!
//! Invariants, whatever the answer: a final status in 200..=599 (U4, issue 14 item 2: never a 1xx); no body
//! and no `content-length` for 204 and 304, else exactly one `content-length` equal to the body's length
//! (U12); no hop-by-hop, pseudo or control-character field lines (U9); only `x-amzn-requestid` and
//! `x-amzn-trace-id` of the Invoke response's headers (U13); `x-envoy-lambda-*` only on the filter's own
//! error answers (U1, U2); at most [`MAX_RESPONSE_HEADER_LINES`] lines; a reason exactly when the answer
//! is not the function's own; the same result into a reused buffer as into a fresh one; and where 2.0
//! proxies an object with `statusCode`, 1.0 gives the very same answer (U14 is the formats' only
//! difference).

use std::cell::RefCell;

use routewise::lambda::headers::{
    FORWARDED_INVOKE_HEADERS, HOP_BY_HOP, MAX_RESPONSE_HEADER_LINES, RESERVED_PREFIX,
};
use routewise::lambda::{
    unwrap_response, unwrap_response_into, InvokeResponse, Outcome, PayloadFormat, Unwrapped,
};

use crate::bytes::{text, Bytes};

const STATUSES: [u16; 16] = [
    200, 200, 200, 200, 200, 201, 202, 204, 299, 300, 400, 429, 500, 502, 100, 0,
];
const LIMITS: [u64; 4] = [6 * 1024 * 1024, 6 * 1024 * 1024, 64, 0];

thread_local! {
    /// The buffer reused across inputs, as the adapters reuse theirs.
    static REUSED: RefCell<Unwrapped> = RefCell::new(Unwrapped::default());
}

/// The `lambda_unwrap` target.
pub fn lambda_unwrap(data: &[u8]) {
    let mut b = Bytes::new(data);
    let sel = b.u8();
    let status = match STATUSES[usize::from(sel & 15)] {
        0 => u16::from(b.u8()) * 3,
        s => s,
    };
    let limit = LIMITS[usize::from(b.u8() & 3)];
    let present = b.u8();
    let mut headers = vec![(":status".to_string(), status.to_string())];
    for (bit, name) in [
        "x-amz-function-error",
        "x-amzn-requestid",
        "x-amzn-trace-id",
        "x-amz-executed-version",
    ]
    .iter()
    .enumerate()
    {
        if present & (1 << bit) != 0 {
            let name = if present & 0x80 != 0 {
                name.to_ascii_uppercase()
            } else {
                name.to_string()
            };
            headers.push((name, text(b.bytes())));
        }
    }
    let body = b.rest();
    let resp = InvokeResponse {
        status,
        headers: &headers,
        body,
    };
    let v2 = unwrap_response(PayloadFormat::V2, &resp, limit);
    check(&v2, &resp);
    let v1 = unwrap_response(PayloadFormat::V1, &resp, limit);
    check(&v1, &resp);
    if v2.outcome == Outcome::Proxied {
        assert_eq!(v1, v2, "U14: 1.0 and 2.0 differ on an object with statusCode");
    }
    if v2.outcome == Outcome::Inferred {
        assert_eq!(v2.body, body, "U14: the output is the body");
    }
    REUSED.with(|r| {
        let mut r = r.borrow_mut();
        unwrap_response_into(PayloadFormat::V2, &resp, limit, &mut r);
        assert_eq!(*r, v2, "a reused buffer gives another answer");
    });
}

fn check(out: &Unwrapped, resp: &InvokeResponse<'_>) {
    assert!(
        (200..=599).contains(&out.status),
        "status {} ({:?})",
        out.status,
        out.outcome
    );
    let own = matches!(out.outcome, Outcome::Proxied | Outcome::Inferred);
    assert_eq!(
        out.reason.is_none(),
        own,
        "reason {:?} for {:?}",
        out.reason,
        out.outcome
    );
    let lengths: Vec<&str> = out
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_str())
        .collect();
    if matches!(out.status, 204 | 304) {
        // RFC 9110 §15.3.5, §15.4.5: a body after them desyncs a keep-alive connection (issue 14, item 2).
        assert!(out.body.is_empty(), "a body with status {}", out.status);
        assert!(lengths.is_empty(), "content-length with status {}", out.status);
    } else {
        // U12: content-length is always the final body length.
        assert_eq!(lengths, [out.body.len().to_string()], "content-length lines");
    }
    assert!(
        out.headers.len() <= MAX_RESPONSE_HEADER_LINES,
        "{} header lines",
        out.headers.len()
    );
    for (n, v) in &out.headers {
        // U9: what reaches the client is a well-formed field line, never framing.
        assert!(
            !n.is_empty()
                && n.bytes()
                    .all(|c| c.is_ascii_graphic() && !c.is_ascii_uppercase() && c != b':'),
            "field name {n:?}"
        );
        assert!(
            !v.bytes().any(|c| matches!(c, b'\r' | b'\n' | 0)),
            "value of {n}: {v:?}"
        );
        assert!(!HOP_BY_HOP.contains(&n.as_str()), "hop-by-hop {n}");
        assert_ne!(n, "x-amz-function-error", "U13");
        assert_ne!(
            n, "x-amz-executed-version",
            "U13: an Invoke header reached the client"
        );
        if n.starts_with(RESERVED_PREFIX) {
            assert!(
                matches!(
                    out.outcome,
                    Outcome::Throttled | Outcome::LambdaError | Outcome::FunctionError
                ),
                "{n} on a {:?} answer",
                out.outcome
            );
        }
    }
    // U13: each forwarded Invoke header appears at most as often as the Invoke response had it.
    for wanted in FORWARDED_INVOKE_HEADERS {
        let sent = out.headers.iter().filter(|(n, _)| n == wanted).count();
        let had = resp
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(wanted))
            .count();
        assert!(sent <= had, "{wanted}: {sent} lines sent, {had} received");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxied(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Unwrapped {
        Unwrapped {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            ..Unwrapped::default()
        }
    }

    fn fails(out: Unwrapped) -> bool {
        let resp = InvokeResponse {
            status: 200,
            headers: &[],
            body: b"",
        };
        std::panic::catch_unwind(|| check(&out, &resp)).is_err()
    }

    // The checks can fail: each answer issue 14 (item 2) and U9/U12 forbid is caught.
    #[test]
    fn the_invariants_catch_what_u4_u9_u12_forbid() {
        assert!(!fails(proxied(200, &[("content-length", "2")], b"ok")));
        assert!(fails(proxied(101, &[("content-length", "2")], b"ok")), "1xx");
        assert!(fails(proxied(204, &[], b"x")), "204 with a body");
        assert!(
            fails(proxied(304, &[("content-length", "0")], b"")),
            "304 with content-length"
        );
        assert!(
            fails(proxied(200, &[("content-length", "3")], b"ok")),
            "wrong length"
        );
        assert!(fails(proxied(200, &[], b"ok")), "no content-length");
        assert!(fails(proxied(
            200,
            &[("content-length", "2"), ("transfer-encoding", "chunked")],
            b"ok"
        )));
        assert!(fails(proxied(
            200,
            &[("content-length", "2"), ("x", "a\r\nb")],
            b"ok"
        )));
        assert!(fails(proxied(
            200,
            &[("content-length", "2"), ("x-envoy-lambda-statuscode", "500")],
            b"ok"
        )));
    }
}
