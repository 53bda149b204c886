//! A local AWS Lambda endpoint speaking the Invoke API, for the Envoy tests and `scripts/run`.
//!
//! `POST /2015-03-31/functions/{name}/invocations`, where `{name}` is a function name, a `name:qualifier`,
//! a partial ARN (`123456789012:function:name`) or a full ARN, as Envoy's `aws_lambda` filter sends it. Every
//! request must carry a valid SigV4 signature ([`crate::sigv4`]) for the mock's credentials, or it is answered
//! as Lambda does: `403` with `x-amzn-errortype: InvalidSignatureException` (or `UnrecognizedClientException`,
//! `MissingAuthenticationTokenException`, `IncompleteSignatureException`). That is how the tests prove Envoy
//! signed the call.
//!
//! The function is chosen by name: a [`Reply`] registered with [`LambdaMock::register`] wins, else one of the
//! scripted [`function`]s answers, else `404 ResourceNotFoundException`. Answers carry the headers a real
//! Invoke answer has (`x-amzn-requestid`, `x-amz-executed-version`, `x-amzn-trace-id`). Every request is
//! recorded *before* it is answered ([`LambdaMock::invocations`]), so once a client has its response the
//! test can assert on the event the function received, without waiting.
//!
//! `POST /2021-11-15/functions/{name}/response-streaming-invocations` (`InvokeWithResponseStream`,
//! lambda-streaming.md §2-§3) answers with a [`StreamReply`] registered by [`LambdaMock::register_stream`]:
//! a 200 whose chunked body is the script's event-stream bytes, written and flushed part by part, pausing
//! at each [`StreamPart::Wait`] until the test releases its [`Latch`] (so a test can prove that the first
//! piece reached the client before the function finished, without timing), or an error status with a JSON
//! body before any stream.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::sigv4::{self, Credentials, Rejection};

/// Region of the mock's ARNs.
pub const REGION: &str = "us-east-1";
/// Account of the mock's ARNs.
pub const ACCOUNT: &str = "123456789012";
/// Default access key (AWS's documentation example).
pub const ACCESS_KEY: &str = "AKIDEXAMPLE";
/// Default secret key; only the mock and the Envoy cluster config know it.
pub const SECRET: &str = "routewise/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// Length of the body of the [`function::BIG`] answer (the Invoke payload is a little larger, under 6 MB).
pub const BIG_BODY_LEN: usize = 5 * 1024 * 1024;

/// The scripted functions, by name.
pub mod function {
    /// `{"statusCode":200,"headers":{"content-type":"application/json"},"body":"<the event JSON>"}`.
    pub const ECHO: &str = "echo";
    /// `201`, `content-type: text/plain`, `x-fixed: yes`, body `fixed`.
    pub const FIXED: &str = "fixed";
    /// Lambda throttling: `429`, `x-amzn-errortype: TooManyRequestsException`, body
    /// `{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`.
    pub const THROTTLE: &str = "throttle";
    /// The function raised: `200`, `X-Amz-Function-Error: Unhandled`, `{"errorMessage":"boom","errorType":"Error"}`.
    pub const ERROR: &str = "error";
    /// A 5 MB body ([`super::big_body`]), `content-type: text/plain`.
    pub const BIG: &str = "big";
    /// A binary body ([`super::binary_body`]), base64 in the payload with `isBase64Encoded: true`.
    pub const BINARY: &str = "binary";
    /// `multiValueHeaders` (`x-multi: a`, `x-multi: b, c`; `x-both: x`, `y` plus `headers` `x-both: z`), a
    /// single `x-single: one`, and two `cookies`; body `multi`.
    pub const MULTI: &str = "multi";
    /// Every scripted function.
    pub const ALL: [&str; 7] = [ECHO, FIXED, THROTTLE, ERROR, BIG, BINARY, MULTI];
}

/// One case of U12 with an empty body (issue 15), run through a real Envoy in both builds
/// (`tests/tests/envoy_lambda.rs`) and through host-sim (`tests/tests/hostsim_lambda.rs`), which must agree.
#[derive(Debug, Clone, Copy)]
pub struct EmptyBodyCase {
    /// The function's name (and its route `ANY /<name>`).
    pub function: &'static str,
    /// What it answers.
    pub payload: &'static str,
    /// The function's answer has an empty body.
    pub empty: bool,
    /// The client's method.
    pub method: &'static str,
    /// The client's status.
    pub status: u16,
    /// The client's `content-type`.
    pub content_type: Option<&'static str>,
    /// The client's `content-length` as Envoy's HTTP/1 codec writes it; `None`: not checked.
    pub content_length: Option<&'static str>,
    /// The rule, for the assertion messages.
    pub why: &'static str,
}

/// The U12 empty-body cases. A local reply without a body loses `content-type` in Envoy
/// (`Utility::prepareLocalReply`, source/common/http/utility.cc); API Gateway sends the function's own, or
/// `application/json`.
pub const EMPTY_BODY_CASES: [EmptyBodyCase; 7] = [
    EmptyBodyCase {
        function: "empty-text",
        payload: r#"{"statusCode":200,"headers":{"content-type":"text/plain"}}"#,
        empty: true,
        method: "GET",
        status: 200,
        content_type: Some("text/plain"),
        content_length: Some("0"),
        why: "U12: the function's content-type with an empty body",
    },
    EmptyBodyCase {
        function: "empty-default",
        payload: r#"{"statusCode":201,"body":""}"#,
        empty: true,
        method: "GET",
        status: 201,
        content_type: Some("application/json"),
        content_length: Some("0"),
        why: "U12: no content-type from the function → application/json, with an empty body",
    },
    EmptyBodyCase {
        function: "empty-redirect",
        payload: r#"{"statusCode":302,"headers":{"location":"/elsewhere","Content-Type":"text/html"},"body":null}"#,
        empty: true,
        method: "GET",
        status: 302,
        content_type: Some("text/html"),
        content_length: Some("0"),
        why: "U5 (names lower-cased), U10 (null body), U12",
    },
    EmptyBodyCase {
        function: "no-content",
        payload: r#"{"statusCode":204}"#,
        empty: true,
        method: "GET",
        status: 204,
        content_type: None,
        content_length: None,
        why: "204 carries no body, content-length or default content-type (RFC 9110 §15.3.5)",
    },
    EmptyBodyCase {
        function: "text-body",
        payload: r#"{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"hi"}"#,
        empty: false,
        method: "HEAD",
        status: 200,
        content_type: Some("text/plain"),
        content_length: Some("2"),
        why: "HEAD: the headers of the GET, no body (Utility::encodeLocalReply)",
    },
    EmptyBodyCase {
        function: "empty-text",
        payload: r#"{"statusCode":200,"headers":{"content-type":"text/plain"}}"#,
        empty: true,
        method: "HEAD",
        status: 200,
        content_type: Some("text/plain"),
        content_length: None,
        why: "HEAD with an empty answer: U12 content-type",
    },
    EmptyBodyCase {
        function: "text-body",
        payload: r#"{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"hi"}"#,
        empty: false,
        method: "GET",
        status: 200,
        content_type: Some("text/plain"),
        content_length: Some("2"),
        why: "a body: Envoy keeps the filter's content-type",
    },
];

/// The ARN of `function` in the mock's region and account.
pub fn arn(function: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
}

/// The body of the [`function::BIG`] answer: [`BIG_BODY_LEN`] bytes of numbered 16-byte lines
/// (`000000000000000\n`, `000000000000001\n`, ...), so a truncation or a reordering shows.
pub fn big_body() -> String {
    let mut s = String::with_capacity(BIG_BODY_LEN);
    for i in 0..BIG_BODY_LEN / 16 {
        s.push_str(&format!("{i:015}\n"));
    }
    s
}

/// The body of the [`function::BINARY`] answer: a PNG signature, every byte value, and bytes that are not
/// UTF-8 (`\xff\xfe\x00`).
pub fn binary_body() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend(0..=255u8);
    b.extend(b"\xff\xfe\x00 end");
    b
}

/// What a function answers: the Invoke response's status, extra headers and raw payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status of the Invoke response (200 for any function result, errors included).
    pub status: u16,
    /// Headers besides the ones every answer has (`content-type`, `content-length`, `x-amzn-requestid`...).
    pub headers: Vec<(String, String)>,
    /// The payload, sent as it is.
    pub body: Vec<u8>,
}

impl Reply {
    /// A function result: `200` with `payload` as the raw bytes.
    pub fn payload(payload: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: payload.into(),
        }
    }

    /// A function result serialised from JSON.
    pub fn json(payload: &Value) -> Reply {
        Reply::payload(payload.to_string())
    }

    /// Sets the Invoke response's status.
    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    /// Adds a header to the Invoke response (e.g. `X-Amz-Function-Error: Unhandled`).
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A gate a streamed answer waits at ([`StreamPart::Wait`]) until the test opens it.
#[derive(Debug, Clone, Default)]
pub struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    /// A closed latch.
    pub fn new() -> Latch {
        Latch::default()
    }

    /// Opens the latch: every waiter goes on.
    pub fn release(&self) {
        let (open, cv) = &*self.0;
        *open.lock().expect("latch lock") = true;
        cv.notify_all();
    }

    /// Waits until the latch is open, at most `max` (a safety net so that a failing test ends; the
    /// tests never rely on it). True when it was opened.
    pub fn wait(&self, max: Duration) -> bool {
        let (open, cv) = &*self.0;
        let guard = open.lock().expect("latch lock");
        let (guard, _) = cv
            .wait_timeout_while(guard, max, |open| !*open)
            .expect("latch wait");
        *guard
    }
}

/// A piece of a streamed answer's body.
#[derive(Debug, Clone)]
pub enum StreamPart {
    /// Bytes written as one HTTP chunk and flushed (event-stream messages, or anything).
    Bytes(Vec<u8>),
    /// Flush, then wait until the latch opens.
    Wait(Latch),
    /// Close the connection here, without the last chunk (the answer breaks off).
    Drop,
}

/// What a streamed function answers (`InvokeWithResponseStream`).
#[derive(Debug, Clone)]
pub struct StreamReply {
    /// The Invoke status: 200 streams `parts` chunked; any other status sends them as one JSON body
    /// (an error before the stream, lambda-streaming.md §2).
    pub status: u16,
    /// Headers besides `content-type`, `x-amzn-requestid` and the framing.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub parts: Vec<StreamPart>,
}

impl StreamReply {
    /// A 200 stream of `parts`.
    pub fn stream(parts: Vec<StreamPart>) -> StreamReply {
        StreamReply {
            status: 200,
            headers: Vec::new(),
            parts,
        }
    }

    /// An error before any stream: `status`, `x-amzn-errortype: kind`, the JSON `body`.
    pub fn error(status: u16, kind: &str, body: &Value) -> StreamReply {
        StreamReply {
            status,
            headers: vec![("x-amzn-errortype".to_string(), kind.to_string())],
            parts: vec![StreamPart::Bytes(body.to_string().into_bytes())],
        }
    }
}

/// The function an `InvokeWithResponseStream` path names (`/2021-11-15/functions/{name}/response-streaming-
/// invocations`, the name percent-decoded, a qualifier after `:` dropped).
pub fn parse_stream_path(target: &str) -> Option<String> {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let id = path
        .strip_prefix("/2021-11-15/functions/")?
        .strip_suffix("/response-streaming-invocations")?;
    let id = String::from_utf8(sigv4::percent_decode(id)).ok()?;
    let name = id.split(':').next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_string())
}

/// One request the endpoint received, and what it made of it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The function name taken from the path (`echo` for any of its ARN forms); empty when the path is not
    /// an Invoke path.
    pub function: String,
    /// The qualifier (`name:qualifier`, the ARN's 8th field, or `?Qualifier=`), if any.
    pub qualifier: Option<String>,
    /// Method as received.
    pub method: String,
    /// Request target as received.
    pub path: String,
    /// Headers in arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body: the event the filter built.
    pub body: Vec<u8>,
    /// `Ok` when the SigV4 signature verified, else why not.
    pub signature: Result<(), String>,
    /// The status the endpoint answered.
    pub status: u16,
}

impl Invocation {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (the event). Panics, with the body, when it is not JSON.
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the invocation body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

struct State {
    credentials: Credentials,
    functions: Mutex<HashMap<String, Reply>>,
    streams: Mutex<HashMap<String, StreamReply>>,
    invocations: Mutex<Vec<Invocation>>,
    next_id: AtomicU64,
    log: bool,
}

/// A running endpoint on 127.0.0.1; stops accepting when dropped.
pub struct LambdaMock {
    port: u16,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
}

impl LambdaMock {
    /// Starts an endpoint on a free port with the default credentials ([`ACCESS_KEY`], [`SECRET`]).
    pub fn start() -> LambdaMock {
        LambdaMock::serve(0, Credentials::new(ACCESS_KEY, SECRET), false)
            .expect("start the Lambda mock on 127.0.0.1")
    }

    /// Starts an endpoint on `port` (0: a free one) that accepts requests signed with `credentials`. With
    /// `log`, prints one line per request on stdout (the `lambda-mock` binary).
    pub fn serve(port: u16, credentials: Credentials, log: bool) -> io::Result<LambdaMock> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            credentials,
            functions: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            invocations: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            log,
        });
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (state, stop) = (state.clone(), stop.clone());
            thread::Builder::new()
                .name("lambda-mock".to_string())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(conn) = conn {
                            let state = state.clone();
                            thread::spawn(move || {
                                let _ = serve(conn, &state);
                            });
                        }
                    }
                })?;
        }
        Ok(LambdaMock { port, state, stop })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials requests must be signed with.
    pub fn credentials(&self) -> &Credentials {
        &self.state.credentials
    }

    /// Makes function `name` answer `reply` (replacing a scripted function of that name).
    pub fn register(&self, name: &str, reply: Reply) {
        self.state
            .functions
            .lock()
            .expect("functions lock")
            .insert(name.to_string(), reply);
    }

    /// Makes function `name` answer `InvokeWithResponseStream` calls with `reply`.
    pub fn register_stream(&self, name: &str, reply: StreamReply) {
        self.state
            .streams
            .lock()
            .expect("streams lock")
            .insert(name.to_string(), reply);
    }

    /// Every request received so far, in arrival order.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.state.invocations.lock().expect("invocations lock").clone()
    }

    /// The requests for function `name`, in arrival order.
    pub fn invocations_of(&self, name: &str) -> Vec<Invocation> {
        self.invocations()
            .into_iter()
            .filter(|i| i.function == name)
            .collect()
    }

    /// The last request for function `name`. Panics, listing what was received, when there is none.
    pub fn last_invocation_of(&self, name: &str) -> Invocation {
        self.invocations_of(name).pop().unwrap_or_else(|| {
            panic!(
                "function {name:?} was never invoked; the mock received: {:?}",
                self.invocations()
                    .iter()
                    .map(|i| format!("{} {} -> {}", i.method, i.path, i.status))
                    .collect::<Vec<_>>()
            )
        })
    }
}

impl Drop for LambdaMock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The function an Invoke path names: (name, qualifier).
pub type InvokeTarget = (String, Option<String>);

/// Splits an Invoke path into (function name, qualifier); `None` when it is not one.
pub fn parse_invoke_path(target: &str) -> Option<InvokeTarget> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let id = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let id = String::from_utf8(sigv4::percent_decode(id)).ok()?;
    let fields: Vec<&str> = id.split(':').collect();
    // name | name:qualifier | account:function:name[:qualifier] | arn:aws:lambda:region:account:function:name[:q]
    let (name, qualifier) = match fields[..] {
        [name] => (name, None),
        [name, q] => (name, Some(q)),
        [_, "function", name] => (name, None),
        [_, "function", name, q] => (name, Some(q)),
        ["arn", _, "lambda", _, _, "function", name] => (name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (name, Some(q)),
        _ => return None,
    };
    let from_query = query
        .split('&')
        .find_map(|p| p.strip_prefix("Qualifier="))
        .map(str::to_string);
    if name.is_empty() {
        return None;
    }
    Some((name.to_string(), qualifier.map(str::to_string).or(from_query)))
}

/// The scripted answer of function `name` to `event`, if it is one.
pub fn scripted(name: &str, event: &[u8]) -> Option<Reply> {
    let reply = match name {
        function::ECHO => Reply::json(&json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-function": "echo"},
            "body": String::from_utf8_lossy(event),
        })),
        function::FIXED => Reply::json(&json!({
            "statusCode": 201,
            "headers": {"content-type": "text/plain", "x-fixed": "yes"},
            "body": "fixed",
        })),
        function::THROTTLE => Reply::json(&json!({
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            "Type": "User",
            "message": "Rate Exceeded.",
        }))
        .status(429)
        .header("x-amzn-errortype", "TooManyRequestsException"),
        function::ERROR => Reply::json(&json!({"errorMessage": "boom", "errorType": "Error"}))
            .header("X-Amz-Function-Error", "Unhandled"),
        function::BIG => Reply::json(&json!({
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "body": big_body(),
        })),
        function::BINARY => Reply::json(&json!({
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "isBase64Encoded": true,
            "body": base64::engine::general_purpose::STANDARD.encode(binary_body()),
        })),
        function::MULTI => Reply::json(&json!({
            "statusCode": 200,
            "headers": {"content-type": "text/plain", "x-single": "one", "x-both": "z"},
            "multiValueHeaders": {"x-multi": ["a", "b, c"], "x-both": ["x", "y"]},
            "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark; Max-Age=3600"],
            "body": "multi",
        })),
        _ => return None,
    };
    Some(reply)
}

/// An AWS-style error answer: `status`, `x-amzn-errortype: kind`, JSON body.
fn aws_error(status: u16, kind: &str, body: Value) -> Reply {
    Reply::json(&body).status(status).header("x-amzn-errortype", kind)
}

/// Checks the signature, then runs the function; returns what to answer and the signature verdict.
fn answer(
    state: &State,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (Reply, Result<(), String>, Option<InvokeTarget>) {
    let verdict = sigv4::verify(&state.credentials, method, target, headers, body);
    let target_fn = parse_invoke_path(target);
    let rejected = match &verdict {
        Ok(_) => None,
        Err(Rejection::Missing) => Some(aws_error(
            403,
            "MissingAuthenticationTokenException",
            json!({"message": "Missing Authentication Token"}),
        )),
        Err(Rejection::UnknownAccessKey(_)) => Some(aws_error(
            403,
            "UnrecognizedClientException",
            json!({"Type": "User", "message": "The security token included in the request is invalid."}),
        )),
        Err(Rejection::Malformed(why)) => Some(aws_error(
            403,
            "IncompleteSignatureException",
            json!({"message": why}),
        )),
        Err(Rejection::PayloadHashMismatch { .. }) => Some(aws_error(
            400,
            "InvalidSignatureException",
            json!({"message": "The provided 'x-amz-content-sha256' header does not match what was computed."}),
        )),
        Err(Rejection::SignatureMismatch {
            canonical_request,
            string_to_sign,
        }) => Some(aws_error(
            403,
            "InvalidSignatureException",
            json!({"message": format!(
                "The request signature we calculated does not match the signature you provided. Check your AWS \
                 Secret Access Key and signing method. Consult the service documentation for details.\n\nThe \
                 Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign \
                 should have been\n'{string_to_sign}'\n"
            )}),
        )),
    };
    let verdict = verdict.map(|_| ()).map_err(|r| format!("{r:?}"));
    if let Some(reply) = rejected {
        return (reply, verdict, target_fn);
    }
    let reply = match (&target_fn, method) {
        (Some((name, _)), "POST") => {
            let registered = state.functions.lock().expect("functions lock").get(name).cloned();
            let asynchronous = headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("x-amz-invocation-type") && v == "Event");
            let result = registered.or_else(|| scripted(name, body));
            // Invoke with `X-Amz-Invocation-Type: Event`: Lambda queues the event and answers 202 with no
            // payload (Invoke API reference, "StatusCode ... 202 for Event"); the function's result is never
            // returned.
            let result = match result {
                Some(_) if asynchronous => Some(Reply::payload(Vec::new()).status(202)),
                other => other,
            };
            result.unwrap_or_else(|| {
                aws_error(
                    404,
                    "ResourceNotFoundException",
                    json!({"Type": "User", "message": format!("Function not found: {}", arn(name))}),
                )
            })
        }
        _ => aws_error(
            404,
            "UnknownOperationException",
            json!({"Type": "User", "message": format!("Unknown operation {method} {target}")}),
        ),
    };
    (reply, verdict, target_fn)
}

/// Serves one connection: requests in a keep-alive loop until the peer closes.
fn serve(conn: TcpStream, state: &State) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let headers = crate::http::read_headers(&mut reader)?;
        let body = crate::http::read_body(&mut reader, &headers, false)?;
        let close = headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));

        let id = state.next_id.fetch_add(1, Ordering::SeqCst);
        let streamed = parse_stream_path(&target).and_then(|name| {
            let script = state.streams.lock().expect("streams lock").get(&name).cloned()?;
            Some((name, script))
        });
        if let Some((name, script)) = streamed {
            let verdict = sigv4::verify(&state.credentials, &method, &target, &headers, &body);
            if verdict.is_ok() && method == "POST" {
                if state.log {
                    println!(
                        "lambda-mock: {method} {target} function={name:?} streamed -> {}",
                        script.status
                    );
                }
                state
                    .invocations
                    .lock()
                    .expect("invocations lock")
                    .push(Invocation {
                        function: name,
                        qualifier: None,
                        method,
                        path: target,
                        headers,
                        body,
                        signature: Ok(()),
                        status: script.status,
                    });
                if !write_stream(&mut writer, &script, id)? || close {
                    let _ = writer.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
        }
        let (reply, signature, target_fn) = answer(state, &method, &target, &headers, &body);
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            std::process::id(),
            id >> 32 & 0xffff,
            id >> 16 & 0xfff,
            id & 0xfff,
            id
        );
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ndate: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             x-amzn-requestid: {request_id}\r\n",
            reply.status,
            reason(reply.status),
            http_date(),
            reply.body.len()
        );
        if reply.status == 200 {
            let version = target_fn
                .as_ref()
                .and_then(|(_, q)| q.clone())
                .filter(|q| q.chars().all(|c| c.is_ascii_digit()))
                .unwrap_or_else(|| "$LATEST".to_string());
            out.push_str(&format!(
                "x-amz-executed-version: {version}\r\nx-amzn-trace-id: root=1-{:08x}-{:024x};sampled=0\r\n",
                id, id
            ));
        }
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if close {
            out.push_str("connection: close\r\n");
        }
        out.push_str("\r\n");

        let (function, qualifier) = target_fn.unwrap_or_default();
        if state.log {
            println!(
                "lambda-mock: {method} {target} function={function:?} signature={} -> {} ({} bytes)",
                match &signature {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("REJECTED {}", e.lines().next().unwrap_or_default()),
                },
                reply.status,
                reply.body.len()
            );
        }
        // Recorded before the answer is written: a client that has its response can assert at once.
        state
            .invocations
            .lock()
            .expect("invocations lock")
            .push(Invocation {
                function,
                qualifier,
                method,
                path: target,
                headers,
                body,
                signature,
                status: reply.status,
            });
        writer.write_all(out.as_bytes())?;
        writer.write_all(&reply.body)?;
        writer.flush()?;
        if close {
            let _ = writer.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

/// Writes a streamed answer (module docs). False when the connection must close (a [`StreamPart::Drop`]).
fn write_stream(writer: &mut TcpStream, script: &StreamReply, id: u64) -> io::Result<bool> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ndate: {}\r\nx-amzn-requestid: stream-{id:08x}\r\n",
        script.status,
        reason(script.status),
        http_date()
    );
    for (k, v) in &script.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if script.status != 200 {
        let body: Vec<u8> = script
            .parts
            .iter()
            .flat_map(|p| match p {
                StreamPart::Bytes(b) => b.clone(),
                _ => Vec::new(),
            })
            .collect();
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        ));
        writer.write_all(head.as_bytes())?;
        writer.write_all(&body)?;
        writer.flush()?;
        return Ok(true);
    }
    head.push_str(
        "content-type: application/vnd.amazon.eventstream\r\nx-amz-executed-version: $LATEST\r\n\
         transfer-encoding: chunked\r\n\r\n",
    );
    writer.write_all(head.as_bytes())?;
    writer.flush()?;
    for part in &script.parts {
        match part {
            StreamPart::Bytes(b) if b.is_empty() => {}
            StreamPart::Bytes(b) => {
                writer.write_all(format!("{:x}\r\n", b.len()).as_bytes())?;
                writer.write_all(b)?;
                writer.write_all(b"\r\n")?;
                writer.flush()?;
            }
            StreamPart::Wait(latch) => {
                writer.flush()?;
                latch.wait(Duration::from_secs(60));
            }
            StreamPart::Drop => return Ok(false),
        }
    }
    writer.write_all(b"0\r\n\r\n")?;
    writer.flush()?;
    Ok(true)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    }
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        months[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Request;

    /// A request signed like Envoy's `aws_lambda` filter signs it (every header, sorted), for function `id`.
    fn invoke(mock: &LambdaMock, id: &str, body: &str, secret: &str) -> crate::http::Response {
        let path = format!("/2015-03-31/functions/{id}/invocations");
        let headers: Vec<(String, String)> = vec![
            ("host".into(), format!("127.0.0.1:{}", mock.port())),
            ("content-type".into(), "application/json".into()),
            ("x-amz-invocation-type".into(), "RequestResponse".into()),
            ("x-amz-content-sha256".into(), sigv4::sha256_hex(body.as_bytes())),
            ("x-amz-date".into(), "20261123T172947Z".into()),
            // The test client adds these two itself; sign them as they will arrive.
            ("content-length".into(), body.len().to_string()),
            ("connection".into(), "close".into()),
        ];
        let creds = Credentials::new(ACCESS_KEY, secret);
        let auth =
            sigv4::sign(&creds, REGION, "lambda", "POST", &path, &headers, body.as_bytes()).expect("sign");
        let mut req = Request::post(&path).host(&headers[0].1).body(body);
        for (k, v) in &headers[1..5] {
            req = req.header(k, v);
        }
        req.header("authorization", &auth)
            .send(mock.port())
            .expect("send to the mock")
    }

    #[test]
    fn echo_answers_the_event_as_the_body_and_records_the_invocation() {
        let mock = LambdaMock::start();
        let resp = invoke(&mock, &arn("echo"), r#"{"version":"2.0","rawPath":"/x"}"#, SECRET);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(resp.header("x-amzn-requestid").is_some());
        assert_eq!(resp.header("x-amz-executed-version"), Some("$LATEST"));
        let payload = resp.json().expect("JSON payload");
        assert_eq!(payload["statusCode"], 200);
        let event: Value = serde_json::from_str(payload["body"].as_str().unwrap()).unwrap();
        assert_eq!(event["rawPath"], "/x");

        let inv = mock.last_invocation_of("echo");
        assert_eq!(inv.signature, Ok(()));
        assert_eq!(inv.event()["version"], "2.0");
        assert_eq!(inv.header("x-amz-invocation-type"), Some("RequestResponse"));
    }

    #[test]
    fn a_wrong_secret_is_an_invalid_signature_and_the_function_does_not_run() {
        let mock = LambdaMock::start();
        let resp = invoke(&mock, "echo", "{}", "not-the-secret");
        assert_eq!(resp.status, 403);
        assert_eq!(resp.header("x-amzn-errortype"), Some("InvalidSignatureException"));
        let msg = resp.json().unwrap()["message"].as_str().unwrap().to_string();
        assert!(
            msg.starts_with("The request signature we calculated does not match"),
            "{msg}"
        );
        let inv = mock.last_invocation_of("echo");
        assert!(inv.signature.is_err());
        assert_eq!(inv.status, 403);

        // Unsigned: missing token.
        let resp = Request::post("/2015-03-31/functions/echo/invocations")
            .body("{}")
            .send(mock.port())
            .unwrap();
        assert_eq!(resp.status, 403);
        assert_eq!(
            resp.header("x-amzn-errortype"),
            Some("MissingAuthenticationTokenException")
        );
    }

    #[test]
    fn scripted_failures_answer_like_lambda() {
        let mock = LambdaMock::start();
        let resp = invoke(&mock, "throttle", "{}", SECRET);
        assert_eq!(resp.status, 429);
        assert_eq!(resp.header("x-amzn-errortype"), Some("TooManyRequestsException"));
        assert_eq!(
            resp.json().unwrap()["Reason"],
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );

        let resp = invoke(&mock, "error", "{}", SECRET);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-amz-function-error"), Some("Unhandled"));
        assert_eq!(resp.json().unwrap()["errorMessage"], "boom");

        let resp = invoke(&mock, "nope", "{}", SECRET);
        assert_eq!(resp.status, 404);
        assert_eq!(resp.header("x-amzn-errortype"), Some("ResourceNotFoundException"));
    }

    #[test]
    fn registered_replies_are_sent_byte_for_byte() {
        let mock = LambdaMock::start();
        mock.register(
            "malformed",
            Reply::payload(&b"{\"statusCode\":\"abc\"}"[..]).header("x-extra", "1"),
        );
        let resp = invoke(&mock, "123456789012:function:malformed:7", "{}", SECRET);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"{\"statusCode\":\"abc\"}");
        assert_eq!(resp.header("x-extra"), Some("1"));
        assert_eq!(resp.header("x-amz-executed-version"), Some("7"));
        assert_eq!(
            mock.last_invocation_of("malformed").qualifier.as_deref(),
            Some("7")
        );
    }

    #[test]
    fn big_binary_and_multi_payloads_are_what_the_tests_expect() {
        let big = scripted(function::BIG, b"").unwrap();
        let v: Value = serde_json::from_slice(&big.body).unwrap();
        assert_eq!(v["body"].as_str().unwrap().len(), BIG_BODY_LEN);
        assert!(
            big.body.len() < 6 * 1024 * 1024,
            "under Lambda's 6 MB payload limit"
        );
        assert!(big_body().ends_with(&format!("{:015}\n", BIG_BODY_LEN / 16 - 1)));

        let bin = scripted(function::BINARY, b"").unwrap();
        let v: Value = serde_json::from_slice(&bin.body).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, binary_body());
        assert!(std::str::from_utf8(&decoded).is_err());

        let multi = scripted(function::MULTI, b"").unwrap();
        let v: Value = serde_json::from_slice(&multi.body).unwrap();
        assert_eq!(v["multiValueHeaders"]["x-multi"], json!(["a", "b, c"]));
        assert_eq!(v["cookies"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn invoke_paths_name_the_function_in_every_form() {
        let p = |id: &str| parse_invoke_path(&format!("/2015-03-31/functions/{id}/invocations"));
        assert_eq!(p("echo"), Some(("echo".into(), None)));
        assert_eq!(p("echo:prod"), Some(("echo".into(), Some("prod".into()))));
        assert_eq!(p(&arn("echo")), Some(("echo".into(), None)));
        assert_eq!(
            p(&format!("{}:3", arn("echo"))),
            Some(("echo".into(), Some("3".into())))
        );
        assert_eq!(
            p("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho"),
            Some(("echo".into(), None))
        );
        assert_eq!(
            parse_invoke_path("/2015-03-31/functions/echo/invocations?Qualifier=live"),
            Some(("echo".into(), Some("live".into())))
        );
        assert_eq!(parse_invoke_path("/2015-03-31/functions/echo"), None);
        assert_eq!(parse_invoke_path("/"), None);
    }

    #[test]
    fn a_streamed_function_answers_chunked_event_stream_parts_and_waits_at_its_latch() {
        use routewise::lambda::eventstream::{encode_invoke_complete, encode_payload_chunk};
        let mock = LambdaMock::start();
        let latch = Latch::new();
        mock.register_stream(
            "st",
            StreamReply::stream(vec![
                StreamPart::Bytes(encode_payload_chunk(b"a")),
                StreamPart::Wait(latch.clone()),
                StreamPart::Bytes(encode_invoke_complete("{}")),
            ]),
        );
        assert_eq!(
            parse_stream_path("/2021-11-15/functions/st:live/response-streaming-invocations"),
            Some("st".to_string())
        );
        let path = "/2021-11-15/functions/st/response-streaming-invocations";
        let body = "{}";
        let headers: Vec<(String, String)> = vec![
            ("host".into(), format!("127.0.0.1:{}", mock.port())),
            ("x-amz-date".into(), "20261123T172947Z".into()),
            ("content-length".into(), body.len().to_string()),
            ("connection".into(), "close".into()),
        ];
        let creds = Credentials::new(ACCESS_KEY, SECRET);
        let auth =
            sigv4::sign(&creds, REGION, "lambda", "POST", path, &headers, body.as_bytes()).expect("sign");
        let req = Request::post(path)
            .host(&headers[0].1)
            .header("x-amz-date", &headers[1].1)
            .header("authorization", &auth)
            .body(body);
        // The answer cannot complete before the latch opens: open it from another thread once the
        // invocation is recorded (it is recorded before the first byte is written).
        let opener = {
            let (latch, state) = (latch.clone(), mock.state.clone());
            std::thread::spawn(move || {
                while state.invocations.lock().unwrap().is_empty() {
                    std::thread::yield_now();
                }
                latch.release();
            })
        };
        let resp = req.send(mock.port()).expect("send");
        opener.join().unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
        let mut expected = encode_payload_chunk(b"a");
        expected.extend(encode_invoke_complete("{}"));
        assert_eq!(resp.body, expected);
        assert_eq!(mock.last_invocation_of("st").signature, Ok(()));
    }

    #[test]
    fn the_date_header_is_an_imf_fixdate() {
        let d = http_date();
        assert!(d.ends_with(" GMT") && d.len() == 29, "{d}");
    }
}
