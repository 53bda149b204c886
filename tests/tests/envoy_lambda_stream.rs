//! Lambda response streaming (issue 15; README "Lambda response streaming") in a real Envoy 1.40.
//!
//! - The dynamic module streams: routewise invokes `InvokeWithResponseStream` (lambda-streaming.md §2) with
//!   a streamed call through a cluster whose `aws_request_signing` upstream filter signs it (the mock
//!   verifies the SigV4 signature), and forwards the function's answer as it comes: the first body piece
//!   reaches the client while the function is still blocked (a latch the test opens only after reading
//!   that piece: no timing), a broken prelude is §4.3's 500, a throttled call API Gateway's 500 (U1), and
//!   a mid-stream error truncates the client's response (§6).
//! - The .wasm cannot stream (proxy-wasm-host.md §1): refused at configure time.
//!
//! Needs a Docker engine and the image (`scripts/setup`); the module is built on first use.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use routewise::lambda::eventstream::{encode_invoke_complete, encode_payload_chunk};
use routewise_tests::envoy::log_excerpt as filter_lines;
use routewise_tests::envoy::Build;
use routewise_tests::lambda_mock::{self, LambdaMock, Latch, StreamPart, StreamReply};
use routewise_tests::{Envoy, Response};
use serde_json::{json, Value};

fn stream_config() -> String {
    json!({
        "domains": [{"name": "*", "api_mappings": [{"id": "m", "base_path": "", "api": "pets", "stage": "prod"}]}],
        "apis": [{"id": "pets", "routes": [{"key": "GET /stream", "integration": {
            "type": "lambda", "cluster": "lambda_stream", "response_transfer_mode": "STREAM",
            "function_name": "arn:aws:lambda:us-east-1:123456789012:function:pets:live"}}],
                  "stages": {"prod": {}}}]
    })
    .to_string()
}

/// The .wasm cannot stream (proxy-wasm-host.md §1: a call's answer arrives whole, a local reply is one
/// piece): refused at configure time with the path and why, and Envoy (FAIL_CLOSED) does not start.
#[test]
fn wasm_refuses_stream_at_configure_time_with_the_path_and_the_reason() {
    let build = Build::Wasm;
    let refused = Envoy::start_expecting_refusal(build, &stream_config());
    assert_ne!(refused.exit_code, Some(0), "Envoy must not exit cleanly");
    let log = &refused.log;
    assert!(
        log.contains("routewise: configuration rejected (1 error):"),
        "{}",
        filter_lines(log)
    );
    let path = "apis[0].routes[0].integration.response_transfer_mode: \"STREAM\" is not supported by the";
    let reason = "proxy-wasm build: proxy-wasm delivers an http call's response only once it is complete \
                  (proxy_on_http_call_response) and sends a local reply in one piece (proxy_send_local_response)";
    assert!(
        log.lines().any(|l| l.contains(path) && l.contains(reason)),
        "no line `{path} {reason}`:\n{}",
        filter_lines(log)
    );
    assert!(log.contains(build.refusal_line()), "{}", filter_lines(log));
}

// ---------------------------------------------------------------------------------------------------------
// The dynamic module, streaming.

/// The streaming cluster (JSON = YAML flow), added to the rendered bootstrap by [`add_stream_cluster`]
/// (a `fn` pointer, hence the static).
static STREAM_CLUSTER: Mutex<String> = Mutex::new(String::new());

/// A cluster for `STREAM` integrations as `envoy/examples/lambda-stream-cluster.yaml` writes it, to the
/// mock over plain HTTP/1.1 with inline credentials: `aws_request_signing` (service `lambda`) signs the
/// path routewise writes (Envoy's `aws_lambda` filter would rewrite it to Invoke's).
fn stream_cluster(mock: &LambdaMock) -> Value {
    json!({
        "name": "lambda_stream",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "lambda_stream",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": mock.port()}}}}]}],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http_protocol_options": {}},
                "http_filters": [
                    {
                        "name": "envoy.filters.http.aws_request_signing",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_request_signing.v3.AwsRequestSigning",
                            "service_name": "lambda",
                            "region": lambda_mock::REGION,
                            "use_unsigned_payload": false,
                            "credential_provider": {"inline_credential": {
                                "access_key_id": mock.credentials().access_key,
                                "secret_access_key": mock.credentials().secret,
                            }},
                        },
                    },
                    {
                        "name": "envoy.filters.http.upstream_codec",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec",
                        },
                    },
                ],
            },
        },
    })
}

fn add_stream_cluster(bootstrap: String) -> String {
    let cluster = STREAM_CLUSTER.lock().expect("cluster lock").clone();
    assert!(
        !cluster.is_empty(),
        "the streaming cluster is set before Envoy starts"
    );
    if bootstrap.contains("clusters: []") {
        bootstrap.replacen("clusters: []", &format!("clusters: [{cluster}]"), 1)
    } else {
        bootstrap.replacen("clusters: [", &format!("clusters: [{cluster}, "), 1)
    }
}

fn lab_config() -> String {
    let route = |path: &str, function: &str| {
        json!({"key": format!("GET {path}"), "integration": {"type": "lambda", "cluster": "lambda_stream",
               "response_transfer_mode": "STREAM", "function_name": function}})
    };
    json!({
        "domains": [{"name": "*", "api_mappings": [{"id": "m", "base_path": "", "api": "fns", "stage": "prod"}]}],
        "apis": [{"id": "fns", "stages": {"prod": {}}, "routes": [
            route("/latched", "latched"),
            route("/bad-prelude", "bad-prelude"),
            route("/throttled", "throttled"),
            route("/mid-error", "mid-error"),
            route("/abandoned", "abandoned"),
            json!({"key": "ANY /head", "integration": {"type": "lambda", "cluster": "lambda_stream",
                   "response_transfer_mode": "STREAM", "function_name": "head"}}),
        ]}],
    })
    .to_string()
}

/// A response read as it arrives: the head at once, then the body chunk by chunk.
struct Streamed {
    status: u16,
    headers: Vec<(String, String)>,
    tag: String,
    reader: BufReader<TcpStream>,
}

impl Streamed {
    /// Sends `GET path` (HTTP/1.1) and reads the status line and headers.
    fn get(envoy: &Envoy, path: &str, tag: &str) -> Streamed {
        let stream = TcpStream::connect(("127.0.0.1", envoy.port())).expect("connect to Envoy");
        // A safety net against a hang; no assertion depends on time.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut w = stream.try_clone().expect("clone");
        write!(
            w,
            "GET {path} HTTP/1.1\r\nhost: api.example.com\r\nx-log-tag: {tag}\r\nconnection: close\r\n\r\n"
        )
        .expect("send the request");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if reader.read_line(&mut l).expect("header line") == 0 {
                break;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        Streamed {
            status,
            headers,
            tag: tag.to_string(),
            reader,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The next body chunk (chunked framing); `Ok(None)` at the last chunk, an error when the connection
    /// ends before it (a truncated response).
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut size = String::new();
        if self.reader.read_line(&mut size)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the last chunk",
            ));
        }
        let n = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {size:?}")))?;
        if n == 0 {
            let mut end = String::new();
            self.reader.read_line(&mut end)?;
            return Ok(None);
        }
        let mut chunk = vec![0; n];
        self.reader.read_exact(&mut chunk)?;
        let mut crlf = [0; 2];
        self.reader.read_exact(&mut crlf)?;
        Ok(Some(chunk))
    }

    /// Reads chunks until the body read so far is `want` long; returns it.
    fn read_body_until(&mut self, so_far: &mut Vec<u8>, want: usize) {
        while so_far.len() < want {
            match self.next_chunk() {
                Ok(Some(c)) => so_far.extend(c),
                other => panic!("the body ended after {so_far:?}: {other:?}"),
            }
        }
    }

    /// The rest of the body: `Ok` with it at the last chunk, `Err` (with what came) on a truncation.
    fn rest(&mut self) -> Result<Vec<u8>, (Vec<u8>, io::Error)> {
        let mut body = Vec::new();
        loop {
            match self.next_chunk() {
                Ok(Some(c)) => body.extend(c),
                Ok(None) => return Ok(body),
                Err(e) => return Err((body, e)),
            }
        }
    }

    /// A response stub carrying the log tag, for [`Envoy::access_log_for`].
    fn tagged(&self) -> Response {
        Response {
            status: self.status,
            headers: vec![("x-test-log-tag".to_string(), self.tag.clone())],
            body: Vec::new(),
        }
    }
}

/// The function's output stream: a prelude, the 8 NUL delimiter, then `body` (lambda-streaming.md §4).
fn with_prelude(prelude: &Value, body: &[u8]) -> Vec<u8> {
    let mut out = prelude.to_string().into_bytes();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(body);
    out
}

#[test]
fn dynamic_module_streams_the_answer_as_it_comes() {
    let mock = LambdaMock::start();
    let first_read = Latch::new();
    let error_after = Latch::new();
    let prelude = json!({"statusCode": 201, "headers": {"content-type": "text/plain", "x-fn": "latched",
                         "content-length": "999"}, "cookies": ["a=1"]});
    mock.register_stream(
        "latched",
        StreamReply::stream(vec![
            StreamPart::Bytes(encode_payload_chunk(&with_prelude(&prelude, b"first "))),
            StreamPart::Wait(first_read.clone()),
            StreamPart::Bytes(encode_payload_chunk(b"second")),
            StreamPart::Bytes(encode_invoke_complete("{}")),
        ]),
    );
    mock.register_stream(
        "bad-prelude",
        StreamReply::stream(vec![
            StreamPart::Bytes(encode_payload_chunk(b"plain output without a prelude")),
            StreamPart::Bytes(encode_invoke_complete("{}")),
        ]),
    );
    mock.register_stream(
        "throttled",
        StreamReply::error(
            429,
            "TooManyRequestsException",
            &json!({"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User",
                    "message": "Rate Exceeded."}),
        ),
    );
    mock.register_stream(
        "mid-error",
        StreamReply::stream(vec![
            StreamPart::Bytes(encode_payload_chunk(&with_prelude(
                &json!({"statusCode": 200}),
                b"partial",
            ))),
            StreamPart::Wait(error_after.clone()),
            StreamPart::Bytes(encode_invoke_complete(
                r#"{"ErrorCode":"Runtime.StreamError","ErrorDetails":"boom"}"#,
            )),
        ]),
    );
    let left = Latch::new();
    mock.register_stream(
        "abandoned",
        StreamReply::stream(vec![
            StreamPart::Bytes(encode_payload_chunk(&with_prelude(&json!({}), b"first"))),
            StreamPart::Wait(left.clone()),
            StreamPart::Bytes(encode_payload_chunk(b"never read")),
            StreamPart::Bytes(encode_invoke_complete("{}")),
        ]),
    );
    mock.register_stream(
        "head",
        StreamReply::stream(vec![
            StreamPart::Bytes(encode_payload_chunk(&with_prelude(
                &json!({"statusCode": 200}),
                b"a body",
            ))),
            StreamPart::Bytes(encode_invoke_complete("{}")),
        ]),
    );
    *STREAM_CLUSTER.lock().expect("cluster lock") = stream_cluster(&mock).to_string();
    let envoy = Envoy::start_with_module_edited(
        &lab_config(),
        &[],
        &Build::DynamicModule.module(),
        add_stream_cluster,
    );
    let explain = || {
        format!(
            "Lambda endpoint received: {:?}\nEnvoy log:\n{}",
            mock.invocations()
                .iter()
                .map(|i| format!("{} {} -> {} ({:?})", i.method, i.path, i.status, i.signature))
                .collect::<Vec<_>>(),
            filter_lines(&envoy.log())
        )
    };

    // §2, §4, issue 15: the head and the first piece reach the client while the function is blocked.
    let mut r = Streamed::get(&envoy, "/latched", "latched");
    assert_eq!(r.status, 201, "{}", explain());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-fn"), Some("latched"));
    assert_eq!(r.header("set-cookie"), Some("a=1"), "U8");
    // U9: the function's content-length is dropped; Envoy frames the body itself (§4.1: chunked).
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let mut body = Vec::new();
    r.read_body_until(&mut body, b"first ".len());
    assert_eq!(
        body, b"first ",
        "the first piece, before the function has finished"
    );
    let inv = mock.last_invocation_of("latched");
    assert_eq!(inv.status, 200);
    // The call: InvokeWithResponseStream's path, RequestResponse, signed by aws_request_signing.
    assert_eq!(
        inv.path,
        "/2021-11-15/functions/latched/response-streaming-invocations"
    );
    assert_eq!(inv.header("x-amz-invocation-type"), Some("RequestResponse"));
    assert_eq!(inv.signature, Ok(()), "{}", explain());
    assert_eq!(inv.event()["rawPath"], "/latched");
    first_read.release();
    let rest = r
        .rest()
        .unwrap_or_else(|(b, e)| panic!("truncated after {b:?}: {e}\n{}", explain()));
    assert_eq!(rest, b"second", "the rest, then a well-framed end");
    let entry = envoy.access_log_for(&r.tagged());
    assert_eq!(entry["lambda_outcome"], "proxied", "{entry}");

    // §4.3: an output without the prelude's delimiter is API Gateway's 500, nothing streamed.
    let resp = envoy.send(routewise_tests::Request::get("/bad-prelude").host("api.example.com"));
    assert_eq!(resp.status, 500, "{}", explain());
    assert_eq!(resp.body, br#"{"message":"Internal server error"}"#);

    // RFC 9110 §9.3.2: the streamed answer to a HEAD request has the head and no body; the next answer on
    // the same connection is framed as its own (a body after the HEAD head would be read as its start).
    let mut conn = routewise_tests::http::Connection::open(envoy.port()).expect("connect");
    let head = conn
        .send(&routewise_tests::Request::new("HEAD", "/head").host("api.example.com"))
        .unwrap_or_else(|e| panic!("HEAD: {e}\n{}", explain()));
    assert_eq!(head.status, 200, "{}", explain());
    assert!(head.body.is_empty(), "{:?}", head.text());
    let next = conn
        .send(&routewise_tests::Request::get("/bad-prelude").host("api.example.com"))
        .unwrap_or_else(|e| panic!("after HEAD: {e}\n{}", explain()));
    assert_eq!(next.status, 500, "{:?} {}", next.text(), explain());

    // §2, U1: a throttled call is answered before any stream, as API Gateway does.
    let resp = envoy.send(routewise_tests::Request::get("/throttled").host("api.example.com"));
    assert_eq!(resp.status, 500, "{}", explain());
    assert_eq!(resp.header("x-envoy-lambda-statuscode"), Some("429"));
    assert_eq!(
        resp.header("x-envoy-lambda-statusreason"),
        Some("ReservedFunctionConcurrentInvocationLimitExceeded")
    );

    // §6: an error after the head cannot change the status: the client's response is cut off.
    let mut r = Streamed::get(&envoy, "/mid-error", "mid-error");
    assert_eq!(r.status, 200, "{}", explain());
    let mut body = Vec::new();
    r.read_body_until(&mut body, b"partial".len());
    assert_eq!(body, b"partial");
    error_after.release();
    match r.rest() {
        Ok(rest) => panic!(
            "the response ended well after {rest:?}; it must be truncated\n{}",
            explain()
        ),
        Err((rest, _)) => assert!(rest.is_empty(), "{rest:?}"),
    }
    let entry = envoy.access_log_for(&r.tagged());
    assert_eq!(entry["lambda_outcome"], "function_error", "{entry}");

    // §6: a client that leaves mid-stream makes the module reset the call: Envoy closes the upstream
    // connection with the request still active while the function is blocked on its latch.
    let resets = || {
        envoy
            .stat("cluster.lambda_stream.upstream_cx_destroy_local_with_active_rq")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = resets();
    let mut r = Streamed::get(&envoy, "/abandoned", "abandoned");
    assert_eq!(r.status, 200, "{}", explain());
    let mut body = Vec::new();
    r.read_body_until(&mut body, b"first".len());
    drop(r);
    envoy.wait_until("the streamed call reset after the client left", || {
        resets() > before
    });
    left.release();
}
