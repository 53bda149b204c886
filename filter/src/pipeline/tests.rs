//! The pipeline against a recording host: the order of operations, and what a failure of any host call
//! becomes (a 500 for the stream, never a panic).

use super::*;
use crate::lambda::Outcome;

const CONFIG: &str = r#"{
  "domains": [{"name": "*", "api_mappings": [{"base_path": "shop", "api": "pets", "stage": "prod"}]}],
  "consumers": [{"username": "jack", "plugins": {"key-auth": {"key_sha256": "85dbe15d75ef9308c7ae0f33c7a324cc6f4bf519a2ed2f3027bd33c140a4f9aa"}}}],
  "apis": [{"id": "pets",
            "stages": {"prod": {"integration": {"type": "http", "cluster": "pets_v1"}}},
            "routes": [
              {"id": "get", "key": "GET /pets/{id}",
               "plugins": {"key-auth": {},
                           "proxy-rewrite": {"headers": {"set": {"x-api": "pets"}}},
                           "response-rewrite": {"headers": {"set": {"x-rewritten": "1"}}}}},
              {"id": "fn", "key": "POST /fn",
               "integration": {"type": "lambda", "cluster": "lambda_fn"},
               "plugins": {"response-rewrite": {"headers": {"set": {"x-rewritten": "1"}}}}},
              {"id": "fn-any", "key": "ANY /fn-any", "integration": {"type": "lambda", "cluster": "lambda_fn"}}
            ]}]
}"#;

fn config() -> FilterConfig {
    match FilterConfig::from_bytes(CONFIG.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("{:?}", e.log_lines()),
    }
}

fn get_pet() -> RecordingHost {
    RecordingHost::new(&[
        (":method", "GET"),
        (":authority", "api.example.com"),
        (":path", "/shop/pets/7?q=1"),
        ("apikey", "secret-key"),
        ("x-routewise-cluster", "spoofed"),
    ])
}

fn post_fn(body: &[u8]) -> RecordingHost {
    let mut host = RecordingHost::new(&[
        (":method", "POST"),
        (":authority", "api.example.com"),
        (":path", "/shop/fn"),
        ("content-type", "application/json"),
        ("x-request-id", "req-1"),
    ]);
    host.body = body.to_vec();
    host
}

fn state(key: &str, value: &str) -> Op {
    Op::SetFilterState(key.to_string(), value.to_string())
}

#[test]
fn a_forwarded_request_edits_headers_then_names_the_cluster_then_the_path_then_state_then_the_cache() {
    let config = config();
    let c = &config.counters;
    let mut host = get_pet();
    let mut stream = Stream::default();
    assert_eq!(
        stream.on_request_headers(Some(&config), &mut host, true),
        Next::Continue
    );
    let req = |n: &str, v: &str| Op::SetHeader(Map::Request, n.to_string(), v.to_string());
    assert_eq!(
        host.ops(),
        [
            Op::ReadRequestHeaders,
            // Clients never steer the filter: their copy goes before evaluation.
            Op::RemoveHeader(Map::Request, "x-routewise-cluster".into()),
            // G2: key-auth hides the credential, proxy-rewrite sets its header...
            Op::RemoveHeader(Map::Request, "apikey".into()),
            req("x-api", "pets"),
            // ...then the cluster header, which no plugin can override, then the path (R9).
            req("x-routewise-cluster", "pets_v1"),
            req(":path", "/pets/7?q=1"),
            state("routewise.domain", "*"),
            state("routewise.rule_id", "-"),
            state("routewise.mapping_id", "shop"),
            state("routewise.api", "pets"),
            state("routewise.stage", "prod"),
            state("routewise.route_id", "get"),
            state("routewise.route_key", "GET /pets/{id}"),
            state("routewise.path_params", r#"{"id":"7"}"#),
            state("routewise.consumer", "jack"),
            state(
                "routewise.plugins",
                "key-auth:route,proxy-rewrite:route,response-rewrite:route"
            ),
            state("routewise.outcome", "forwarded"),
            Op::ClearRouteCache,
            Op::Count(c.outcome("forwarded")),
            Op::Count(c.mapping(0)),
            Op::Count(c.route(0)),
        ]
    );
    assert_eq!(host.request_header("apikey"), None);
    assert_eq!(host.request_header("x-routewise-cluster"), Some("pets_v1"));

    // G1: the response-rewrite applies once, to the upstream's response.
    host.response = vec![(":status".into(), "200".into())];
    assert_eq!(stream.on_response_headers(&mut host), Next::Continue);
    assert_eq!(host.response_header("x-rewritten"), Some("1"));
    host.response.clear();
    stream.on_response_headers(&mut host);
    assert_eq!(
        host.response_header("x-rewritten"),
        None,
        "a second response phase changes nothing"
    );
}

/// `filter_state` names the keys written; `rule_id` and `mapping_id` are written whatever it says (R11).
#[test]
fn r11_filter_state_writes_only_the_named_keys_and_always_the_rule_and_mapping() {
    let with_keys = |keys: &str| {
        let text = CONFIG.replacen('{', &format!("{{\"filter_state\": {keys},"), 1);
        match FilterConfig::from_bytes(text.as_bytes()) {
            Ok(c) => c,
            Err(e) => panic!("{:?}", e.log_lines()),
        }
    };
    let written = |config: &FilterConfig, mut host: RecordingHost| -> Vec<String> {
        let mut stream = Stream::default();
        stream.on_request_headers(Some(config), &mut host, true);
        host.ops()
            .iter()
            .filter_map(|op| match op {
                Op::SetFilterState(k, _) => Some(k.clone()),
                _ => None,
            })
            .collect()
    };
    let route_and_outcome = with_keys(r#"["route_id", "routewise.outcome"]"#);
    assert_eq!(
        written(&route_and_outcome, get_pet()),
        [
            "routewise.rule_id",
            "routewise.mapping_id",
            "routewise.route_id",
            "routewise.outcome"
        ]
    );
    // A local reply: the same selection.
    let nowhere = RecordingHost::new(&[
        (":method", "GET"),
        (":authority", "a"),
        (":path", "/shop/nowhere"),
    ]);
    assert_eq!(
        written(&route_and_outcome, nowhere),
        ["routewise.rule_id", "routewise.mapping_id", "routewise.outcome"]
    );
    let none = with_keys("[]");
    assert_eq!(
        written(&none, get_pet()),
        ["routewise.rule_id", "routewise.mapping_id"]
    );
    // Absent: every key (the forwarded test above lists them).
    assert_eq!(written(&config(), get_pet()).len(), 11);

    let errors = match FilterConfig::from_bytes(
        CONFIG
            .replacen('{', r#"{"filter_state": ["route_id", "route"],"#, 1)
            .as_bytes(),
    ) {
        Ok(_) => panic!("an unknown key is an error"),
        Err(e) => e.log_lines(),
    };
    assert!(
        errors
            .iter()
            .any(|l| l.contains("filter_state[1]") && l.contains("route_key")),
        "{errors:?}"
    );
}

#[test]
fn a_local_reply_records_state_counts_and_answers_then_holds_the_stream() {
    let config = config();
    let mut host = RecordingHost::new(&[
        (":method", "GET"),
        (":authority", "a"),
        (":path", "/shop/nowhere"),
    ]);
    let mut stream = Stream::default();
    assert_eq!(
        stream.on_request_headers(Some(&config), &mut host, true),
        Next::Stop
    );
    let (status, headers, body) = host.local_reply().expect("a reply");
    assert_eq!(status, 404);
    assert_eq!(
        headers,
        [("content-type".to_string(), "application/json".to_string())]
    );
    assert_eq!(body, br#"{"message":"Not Found"}"#);
    assert_eq!(host.filter_state("routewise.outcome"), Some("no_route"));
    assert_eq!(host.count_of(config.counters.outcome("no_route")), 1);
    assert!(stream.replied());
    assert!(!host.ops().contains(&Op::ClearRouteCache));
    assert_eq!(
        stream.on_request_body(Some(&config), &mut host, 10, true),
        Next::Stop
    );
}

#[test]
fn g2_a_refused_key_is_taken_out_of_the_logged_path_before_the_401() {
    let config = config();
    let mut host = RecordingHost::new(&[
        (":method", "GET"),
        (":authority", "a"),
        (":path", "/shop/pets/7?apikey=wrong&q=1"),
    ]);
    Stream::default().on_request_headers(Some(&config), &mut host, true);
    assert_eq!(host.local_reply().map(|r| r.0), Some(401));
    assert_eq!(host.request_header(":path"), Some("/shop/pets/7?q=1"));
    assert_eq!(host.filter_state("routewise.route_id"), Some("get"));
}

/// Every host call the routing of a request makes, made to fail in turn: the answer is the 500, counted as
/// `internal_error`, and the pipeline does not panic.
#[test]
fn a_failing_host_call_anywhere_becomes_a_counted_500() {
    let config = config();
    for call in [
        "request_headers",
        "remove_header",
        "set_header",
        "set_filter_state",
    ] {
        // The nth use of `call` fails, for every n until the request goes through without using it again.
        for nth in 0.. {
            let mut host = get_pet().fail(call, nth);
            let mut stream = Stream::default();
            if stream.on_request_headers(Some(&config), &mut host, true) == Next::Continue {
                assert!(nth > 0, "{call} is used");
                break;
            }
            let (status, _, body) = host.local_reply().expect("the 500");
            assert_eq!(status, 500, "{call} #{nth}");
            assert_eq!(body, br#"{"message":"Internal Server Error"}"#);
            assert_eq!(
                host.count_of(config.counters.outcome("internal_error")),
                1,
                "{call} #{nth}"
            );
            assert!(stream.replied());
        }
    }
    // Even the reply failing: logged, the stream held, no panic.
    let mut host = RecordingHost::new(&[(":method", "GET"), (":authority", "a"), (":path", "/x")])
        .fail("send_local_reply", 0);
    assert_eq!(
        Stream::default().on_request_headers(Some(&config), &mut host, true),
        Next::Stop
    );
}

#[test]
fn without_a_configuration_every_request_gets_the_500() {
    let mut host = get_pet();
    assert_eq!(
        Stream::default().on_request_headers(None, &mut host, true),
        Next::Stop
    );
    assert_eq!(host.local_reply().map(|r| r.0), Some(500));
    assert_eq!(host.filter_state("routewise.outcome"), Some("internal_error"));
}

#[test]
fn l1_a_lambda_request_is_buffered_invoked_then_answered_with_the_rewrite_applied_once() {
    let config = config();
    let c = &config.counters;
    let mut host = post_fn(br#"{"n":1}"#);
    let mut stream = Stream::default();
    assert_eq!(
        stream.on_request_headers(Some(&config), &mut host, false),
        Next::Stop
    );
    assert_eq!(
        stream.on_request_body(Some(&config), &mut host, 3, false),
        Next::Stop
    );
    assert!(host.calls().is_empty(), "nothing invoked before the body ends");
    assert_eq!(
        stream.on_request_body(Some(&config), &mut host, 7, true),
        Next::Stop
    );
    let calls = host.calls();
    let [(cluster, event)] = calls.as_slice() else {
        panic!("one call: {calls:?}")
    };
    assert_eq!(*cluster, "lambda_fn");
    let event: serde_json::Value = serde_json::from_slice(event).expect("JSON event");
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["body"], r#"{"n":1}"#);
    assert_eq!(event["requestContext"]["requestId"], "req-1");

    host.call_answer = (
        vec![
            (":status".into(), "200".into()),
            ("x-amzn-requestid".into(), "r".into()),
        ],
        br#"{"statusCode":200,"headers":{"x-fn":"yes"},"body":"hi"}"#.to_vec(),
    );
    let body_len = host.call_answer.1.len() as u64;
    stream.on_call_response(Some(&config), &mut host, 1, CallEnd::Answered { body_len });
    let (status, headers, body) = host.local_reply().expect("the answer");
    assert_eq!(status, 200);
    assert!(headers.contains(&("x-fn".to_string(), "yes".to_string())));
    assert!(headers.contains(&("x-rewritten".to_string(), "1".to_string())));
    assert_eq!(body, b"hi");
    assert_eq!(host.filter_state("routewise.lambda_outcome"), Some("proxied"));
    assert_eq!(host.filter_state("routewise.lambda_status"), Some("200"));
    assert_eq!(host.count_of(c.lambda(Outcome::Proxied)), 1);
    assert!(stream.replied());
    // G1: the rewrite is not applied again when the reply passes the response phase (proxy-wasm).
    host.response = vec![(":status".into(), "200".into())];
    stream.on_response_headers(&mut host);
    assert_eq!(host.response_header("x-rewritten"), None);
}

#[test]
fn a_lambda_call_that_ends_without_an_answer_is_502_and_an_unreadable_answer_500() {
    let config = config();
    let mut host = post_fn(b"");
    let mut stream = Stream::default();
    assert_eq!(
        stream.on_request_headers(Some(&config), &mut host, true),
        Next::Stop
    );
    stream.on_call_response(Some(&config), &mut host, 1, CallEnd::Failed { detail: "reset" });
    assert_eq!(host.local_reply().map(|r| r.0), Some(502));
    assert_eq!(host.filter_state("routewise.lambda_outcome"), Some("call_failed"));

    let mut host = post_fn(b"").fail("call_response_body", 0);
    let mut stream = Stream::default();
    stream.on_request_headers(Some(&config), &mut host, true);
    host.call_answer.0 = vec![(":status".into(), "200".into())];
    stream.on_call_response(Some(&config), &mut host, 1, CallEnd::Answered { body_len: 2 });
    assert_eq!(host.local_reply().map(|r| r.0), Some(500));
    assert_eq!(
        host.filter_state("routewise.lambda_outcome"),
        Some("internal_error")
    );

    // An answer to a call the stream did not make (or a second one) changes nothing.
    let before = host.ops().len();
    stream.on_call_response(Some(&config), &mut host, 99, CallEnd::Answered { body_len: 0 });
    assert_eq!(host.ops().len(), before);
}

#[test]
fn l4_a_lambda_body_over_the_limit_is_413_as_soon_as_it_is_buffered() {
    let config = config();
    let mut host = post_fn(b"");
    let mut stream = Stream::default();
    stream.on_request_headers(Some(&config), &mut host, false);
    let over = 6 * 1024 * 1024 + 1;
    assert_eq!(
        stream.on_request_body(Some(&config), &mut host, over, false),
        Next::Stop
    );
    assert_eq!(host.local_reply().map(|r| r.0), Some(413));
    assert!(host.calls().is_empty());
    // Nothing more happens for the rest of the body.
    let before = host.ops().len();
    stream.on_request_body(Some(&config), &mut host, over + 10, true);
    assert_eq!(host.ops().len(), before);
}

#[test]
fn a_failing_call_dispatch_is_500_for_the_stream() {
    let config = config();
    let mut host = post_fn(b"").fail("call_cluster", 0);
    let mut stream = Stream::default();
    assert_eq!(
        stream.on_request_headers(Some(&config), &mut host, true),
        Next::Stop
    );
    assert_eq!(host.local_reply().map(|r| r.0), Some(500));
    assert_eq!(
        host.filter_state("routewise.lambda_outcome"),
        Some("internal_error")
    );
}

#[test]
fn a_rejected_configuration_lists_at_most_100_errors_and_counts_the_rest() {
    let rules: Vec<String> = (0..150)
        .map(|i| {
            format!(
                r#"{{"id": "r{i}", "priority": {i}, "conditions": {{"base_path": "a"}},
                    "action": {{"invoke_api": {{"api": "missing", "stage": "s"}}}}}}"#
            )
        })
        .collect();
    let text = format!(
        r#"{{"domains": [{{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": [{}]}}]}}"#,
        rules.join(",")
    );
    let Err(rejected) = FilterConfig::from_bytes(text.as_bytes()) else {
        panic!("invalid")
    };
    let lines = rejected.log_lines();
    assert!(
        lines[0].starts_with("routewise: configuration rejected ("),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + MAX_LOGGED_ERRORS + 1);
    assert!(
        lines.last().is_some_and(|l| l.contains("more errors")),
        "{:?}",
        lines.last()
    );
    assert_eq!(FilterConfig::from_bytes(b"").err(), Some(Rejected::Empty));
    assert_eq!(FilterConfig::from_bytes(b"\xff").err(), Some(Rejected::NotUtf8));
}

/// Issue 14: CONNECT to a Lambda route is 405, nothing invoked (a tunnel is no invocation).
#[test]
fn connect_to_a_lambda_route_is_405_and_invokes_nothing() {
    let config = config();
    let mut host = RecordingHost::new(&[
        (":method", "CONNECT"),
        (":authority", "a"),
        (":path", "/shop/fn-any"),
    ]);
    assert_eq!(
        Stream::default().on_request_headers(Some(&config), &mut host, false),
        Next::Stop
    );
    assert_eq!(host.local_reply().map(|r| r.0), Some(405));
    assert!(host.calls().is_empty());
    assert_eq!(host.filter_state("routewise.outcome"), Some("method_not_allowed"));
    assert_eq!(host.count_of(config.counters.outcome("method_not_allowed")), 1);
}

/// Issue 14: a call that fails at its timeout after the headers arrived (a stalled body) is the timeout,
/// 504; earlier, a failed call, 502.
#[test]
fn a_call_failing_at_its_timeout_is_504_and_earlier_502() {
    let config = config();
    for (elapsed, status, outcome) in [
        (29_000, 504, "timeout"),
        (28_990, 504, "timeout"),
        (100, 502, "call_failed"),
    ] {
        let mut host = post_fn(b"");
        host.now_epoch_ms = 1_000;
        let mut stream = Stream::default();
        stream.on_request_headers(Some(&config), &mut host, true);
        host.now_epoch_ms = 1_000 + elapsed;
        stream.on_call_response(Some(&config), &mut host, 1, CallEnd::Failed { detail: "reset" });
        assert_eq!(host.local_reply().map(|r| r.0), Some(status), "{elapsed} ms");
        assert_eq!(host.filter_state("routewise.lambda_outcome"), Some(outcome));
    }
}

/// Runs `GET /fn-any` (an empty request) to the function answering `payload`, on `host`.
fn answer_get(host: &mut RecordingHost, payload: &[u8]) -> Stream {
    let config = config();
    let mut stream = Stream::default();
    assert_eq!(stream.on_request_headers(Some(&config), host, true), Next::Stop);
    host.call_answer = (vec![(":status".into(), "200".into())], payload.to_vec());
    let body_len = payload.len() as u64;
    stream.on_call_response(Some(&config), host, 1, CallEnd::Answered { body_len });
    assert!(stream.replied());
    stream
}

fn get_fn_any() -> RecordingHost {
    RecordingHost::new(&[(":method", "GET"), (":authority", "a"), (":path", "/shop/fn-any")])
}

/// U12 (issue 15): Envoy's local reply without a body drops `content-type` (`Utility::prepareLocalReply`);
/// where the host has no other way to answer (proxy-wasm), the response-headers callback puts the
/// function's value back, every line of it, once.
#[test]
fn u12_an_empty_answer_sent_as_a_local_reply_gets_its_content_type_back_in_the_response_phase() {
    let mut host = get_fn_any();
    let mut stream = answer_get(
        &mut host,
        br#"{"statusCode":200,"multiValueHeaders":{"content-type":["text/plain","charset=x"]}}"#,
    );
    let (status, _, body) = host.local_reply().expect("a local reply");
    assert_eq!((status, body.is_empty()), (200, true));
    // What Envoy hands the encoder filters: the reply without content-type.
    host.response = vec![(":status".into(), "200".into())];
    assert_eq!(stream.on_response_headers(&mut host), Next::Continue);
    let restored: Vec<&str> = host
        .response
        .iter()
        .filter(|(n, _)| n == "content-type")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(restored, ["text/plain", "charset=x"]);
    // Once: a second pass (none in Envoy) changes nothing.
    host.response = vec![(":status".into(), "200".into())];
    stream.on_response_headers(&mut host);
    assert_eq!(host.response_header("content-type"), None);

    // U12: no content-type from the function → application/json, restored the same way.
    let mut host = get_fn_any();
    let mut stream = answer_get(&mut host, br#"{"statusCode":201}"#);
    host.response = vec![(":status".into(), "201".into())];
    stream.on_response_headers(&mut host);
    assert_eq!(host.response_header("content-type"), Some("application/json"));

    // A body: Envoy keeps the filter's content-type; nothing to restore.
    let mut host = get_fn_any();
    let mut stream = answer_get(&mut host, br#"{"statusCode":200,"body":"x"}"#);
    host.response = vec![(":status".into(), "200".into())];
    stream.on_response_headers(&mut host);
    assert_eq!(host.response_header("content-type"), None);

    // 204: bodiless by rule, no default content-type (U12, RFC 9110 §15.3.5): nothing to restore.
    let mut host = get_fn_any();
    let mut stream = answer_get(&mut host, br#"{"statusCode":204}"#);
    host.response = vec![(":status".into(), "204".into())];
    stream.on_response_headers(&mut host);
    assert_eq!(host.response_header("content-type"), None);
}

/// U12 (issue 15): where the host writes responses itself (the dynamic module's
/// `send_response_headers`), an empty answer goes that way with its `content-type`, not as a local reply;
/// an answer with a body stays a local reply.
#[test]
fn u12_an_empty_answer_is_written_as_a_response_where_the_host_can() {
    let mut host = get_fn_any();
    host.writes_responses = true;
    answer_get(
        &mut host,
        br#"{"statusCode":200,"headers":{"Content-Type":"text/plain","x-a":"1"}}"#,
    );
    assert!(host.local_reply().is_none(), "{:?}", host.ops());
    let written: Vec<&Op> = host
        .ops()
        .iter()
        .filter(|op| matches!(op, Op::Response { .. }))
        .collect();
    let [Op::Response {
        status,
        headers,
        body,
    }] = written.as_slice()
    else {
        panic!("one response written: {:?}", host.ops())
    };
    assert_eq!((*status, body.is_empty()), (200, true));
    assert!(headers.contains(&("content-type".into(), "text/plain".into())));
    assert!(headers.contains(&("x-a".into(), "1".into())));
    assert_eq!(host.filter_state("routewise.lambda_outcome"), Some("proxied"));

    let mut host = get_fn_any();
    host.writes_responses = true;
    answer_get(&mut host, br#"{"statusCode":200,"body":"x"}"#);
    assert_eq!(host.local_reply().map(|r| r.2), Some(&b"x"[..]));

    // The write fails: the local reply is sent all the same, and restored later.
    let mut host = get_fn_any().fail("send_response", 0);
    host.writes_responses = true;
    let mut stream = answer_get(&mut host, br#"{"statusCode":202}"#);
    assert_eq!(host.local_reply().map(|r| r.0), Some(202));
    host.response = vec![(":status".into(), "202".into())];
    stream.on_response_headers(&mut host);
    assert_eq!(host.response_header("content-type"), Some("application/json"));
}
