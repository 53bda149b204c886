//! End-to-end: the test filter (a real Rust SDK wasm32-wasip1 module) through the simulated Envoy.
//! Needs `cargo build --profile wasm --target wasm32-wasip1 -p host-sim-test-filter` first.

mod common;

use std::time::Duration;

use common::test_filter;
use host_sim::{Error, HttpCallReply, LogLevel, Request, Response, Sim, StreamState};
use serde_json::json;

fn sim(config: serde_json::Value) -> Sim {
    test_filter().sim().config_json(&config).start().expect("starts")
}

fn sim_allow(config: serde_json::Value) -> Sim {
    test_filter()
        .sim()
        .config_json(&config)
        .allow_on_headers_stop_iteration(true)
        .start()
        .expect("starts")
}

fn infos(logs: &[host_sim::LogEntry]) -> Vec<String> {
    logs.iter()
        .filter(|l| l.level == LogLevel::Info)
        .map(|l| l.message.clone())
        .collect()
}

#[test]
fn lifecycle_runs_in_envoy_order() {
    let mut sim = sim(json!({}));
    assert_eq!(sim.logs_at(LogLevel::Info), vec!["configured"]);
    let ex = sim
        .send(
            Request::get("/a"),
            Response::ok().header("content-type", "text/plain").body("hi"),
        )
        .unwrap();
    assert_eq!(
        infos(&ex.logs),
        vec![
            "response headers: 2 status=200 eos=false",
            "response body: 2 eos=true",
            "access log: /a 200"
        ]
    );
    assert_eq!(sim.logs_at(LogLevel::Debug), vec!["request headers: 8 eos=true"]);
    let r = ex.response.unwrap();
    assert_eq!((r.status, r.text()), (200, "hi".to_string()));
    assert_eq!(ex.stream_id, 2, "root context is 1, streams count from 2");
    // The SDK exports every callback, so Envoy enters the VM for each.
    assert_eq!(
        ex.callbacks,
        vec![
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_response_headers",
            "proxy_on_response_body",
            "proxy_on_log",
            "proxy_on_done",
            "proxy_on_delete"
        ]
    );
}

#[test]
fn request_headers_are_mutated_before_the_upstream_sees_them() {
    let mut sim = sim(json!({
        "add_request_headers": [["X-Routewise-Cluster", "pets-v2"]],
        "set_request_headers": [["x-version", "v9"]],
        "remove_request_headers": ["x-drop"],
        "set_path": "/v2/pets?limit=1",
        "log_request_headers": true
    }));
    let req = Request::get("/pets?limit=1")
        .authority("api.example.com")
        .header("X-Version", "v2")
        .header("x-drop", "1")
        .header("x-keep", "a")
        .header("x-keep", "b");
    let ex = sim.send(req, Response::ok()).unwrap();
    let up = ex.upstream_request.unwrap();
    assert_eq!(up.path, "/v2/pets?limit=1");
    assert_eq!(up.method, "GET");
    assert_eq!(up.header(":authority"), Some("api.example.com"));
    assert_eq!(up.header(":scheme"), Some("http"));
    assert_eq!(up.header("x-routewise-cluster"), Some("pets-v2"));
    assert_eq!(up.header("x-version"), Some("v9"));
    assert_eq!(up.header("x-drop"), None);
    assert_eq!(up.headers.get_all("x-keep"), vec!["a", "b"]);
    assert_eq!(up.header("x-forwarded-proto"), Some("http"));
    assert!(up.header("x-request-id").is_some());
    // the filter saw Envoy's request headers, keys lower-cased, pseudo-headers first
    let seen = infos(&ex.logs);
    assert_eq!(
        &seen[..5],
        &[
            ":authority: api.example.com",
            ":path: /pets?limit=1",
            ":method: GET",
            ":scheme: http",
            "x-version: v2"
        ]
    );
    assert_eq!(ex.route_cache_clears, 4);
}

#[test]
fn request_body_is_buffered_with_total_size_and_replaced() {
    let mut sim = sim(json!({"buffer_request_body": true, "replace_request_body": "{\"replaced\":true}"}));
    let ex = sim
        .send(
            Request::post("/orders")
                .header("content-type", "application/json")
                .body_chunks(["{\"a\"", ":1", "}"]),
            Response::ok(),
        )
        .unwrap();
    let logs = infos(&ex.logs);
    assert_eq!(
        &logs[..3],
        &[
            "request body: 4 eos=false",
            "request body: 6 eos=false",
            "request body: 7 eos=true"
        ]
    );
    assert_eq!(logs[3], "request body seen: {\"replaced\":true}");
    assert_eq!(ex.upstream_request.unwrap().text(), "{\"replaced\":true}");
}

#[test]
fn appending_to_the_body_works_but_a_partial_range_is_envoys_bad_argument() {
    let mut sim = sim(json!({"buffer_request_body": true, "append_request_body": "!"}));
    let ex = sim.send(Request::post("/").body("abc"), Response::ok()).unwrap();
    assert_eq!(ex.upstream_request.unwrap().body, b"abc!");

    // From the start, Envoy drains `size` bytes and prepends (`Buffer::copyFrom`): a prefix is replaced,
    // measured in Envoy 1.40 with this filter (`abc` with [0, 2, "X"] reaches the upstream as `Xc`).
    for (range, want) in [
        (json!([0, 2, "X"]), &b"Xc"[..]),
        (json!([0, 0, ">"]), b">abc"),
        (json!([0, 99, "all"]), b"all"),
        (json!([3, 0, "+"]), b"abc+"),
    ] {
        let mut sim = sim_allow(json!({"buffer_request_body": true, "set_request_body_range": range}));
        let ex = sim.send(Request::post("/").body("abc"), Response::ok()).unwrap();
        assert_eq!(ex.upstream_request.unwrap().body, want, "{range}");
    }

    let mut sim = sim_allow(json!({"buffer_request_body": true, "set_request_body_range": [1, 1, "X"]}));
    match sim.send(Request::post("/").body("abc"), Response::ok()) {
        Err(Error::Trap {
            callback,
            panic: Some(p),
            ..
        }) => {
            assert_eq!(callback, "proxy_on_request_body");
            assert!(p.contains("unexpected status: 2"), "{p}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_local_reply_skips_the_upstream_and_passes_through_the_filters_response_callbacks() {
    let mut sim = sim(json!({
        "local_reply": {"status": 403, "body": "{\"message\":\"Forbidden\"}",
                        "headers": [["Content-Type", "application/json"]]},
        "add_response_headers": [["x-seen-by-filter", "yes"]]
    }));
    let ex = sim
        .send(
            Request::get("/admin"),
            |_: &host_sim::UpstreamRequest| -> Response { panic!("upstream called") },
        )
        .unwrap();
    assert!(ex.local_reply);
    assert!(ex.upstream_request.is_none());
    let r = ex.response.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json().unwrap(), json!({"message": "Forbidden"}));
    assert_eq!(r.headers.get("content-type"), Some("application/json"));
    assert_eq!(r.headers.get("content-length"), Some("23"));
    // Envoy's sendLocalReply encodes through the filter chain: the filter saw (and changed) its own reply.
    assert_eq!(r.headers.get("x-seen-by-filter"), Some("yes"));
    assert!(infos(&ex.logs).contains(&"response headers: 3 status=403 eos=false".to_string()));
    assert!(infos(&ex.logs).contains(&"access log: /admin 403".to_string()));
}

/// Envoy `Utility::encodeLocalReply`: a reply with a body and no content type gets `text/plain`; an empty
/// reply loses `content-type` and `content-length`, even the filter's own (measured against Envoy 1.40 by
/// tests/tests/fidelity.rs in routewise-tests).
#[test]
fn local_reply_content_type_follows_envoy() {
    let mut sim_plain = sim(json!({"local_reply": {"status": 418, "body": "short and stout"}}));
    let r = sim_plain
        .send(Request::get("/tea"), Response::ok())
        .unwrap()
        .response
        .unwrap();
    assert_eq!(r.headers.get("content-type"), Some("text/plain"));
    assert_eq!(r.headers.get("content-length"), Some("15"));
    let mut sim_empty = sim(json!({"local_reply": {"status": 403, "body": "",
        "headers": [["content-type", "application/json"], ["x-why", "empty"]]}}));
    let r = sim_empty
        .send(Request::get("/deny"), Response::ok())
        .unwrap()
        .response
        .unwrap();
    assert_eq!(r.headers.get("content-type"), None);
    assert_eq!(r.headers.get("content-length"), None);
    assert_eq!(r.headers.get("x-why"), Some("empty"));
}

/// `request.*` fields from the request headers are NOT_FOUND once the request headers continued (Envoy
/// 1.40, measured by routewise-tests' fidelity suite); `request.protocol` stays.
#[test]
fn request_properties_from_headers_are_gone_after_the_request_headers_continued() {
    let mut sim = sim(json!({"log_properties_at_response": ["request.path", "request.protocol"]}));
    let ex = sim.send(Request::get("/p?q=1"), Response::ok()).unwrap();
    let logs = infos(&ex.logs);
    assert!(
        logs.contains(&"property request.path at response: NOT_FOUND".to_string()),
        "{logs:?}"
    );
    assert!(
        logs.contains(&"property request.protocol at response: \"HTTP/1.1\"".to_string()),
        "{logs:?}"
    );
}

#[test]
fn a_local_reply_from_the_response_phase_replaces_the_upstream_response() {
    let mut sim =
        sim(json!({"local_reply": {"status": 502, "body": "bad upstream", "phase": "response_headers"}}));
    let ex = sim
        .send(Request::get("/"), Response::new(200).body("upstream body"))
        .unwrap();
    assert!(ex.local_reply);
    assert!(ex.upstream_request.is_some());
    let r = ex.response.unwrap();
    assert_eq!((r.status, r.text()), (502, "bad upstream".to_string()));
    let seen: Vec<_> = infos(&ex.logs)
        .into_iter()
        .filter(|l| l.starts_with("response headers"))
        .collect();
    assert_eq!(seen.len(), 1, "sent directly: the filter does not see this reply");
}

#[test]
fn a_second_local_reply_is_ignored() {
    let mut sim = sim(json!({"local_reply": {"status": 401, "body": "first"}, "double_local_reply": true}));
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert_eq!(ex.response.unwrap().text(), "first");
}

#[test]
fn properties_are_written_read_back_and_reported() {
    let mut sim = sim(json!({
        "properties": [["routewise.rule_id", "pets"], ["rule", "pets"]],
        "echo_properties": ["rule", "routewise.rule_id", "request.path", "request.url_path", "request.method", "request.host",
                            "source.address", "destination.address", "destination.port", "plugin_name",
                            "plugin_root_id", "response.code", "request.headers.x-version", "nope"]
    }));
    let ex = sim
        .send(
            Request::get("/pets?x=1")
                .authority("api")
                .header("x-version", "v2"),
            Response::ok(),
        )
        .unwrap();
    let up = ex.upstream_request.as_ref().unwrap();
    let p = |k: &str| up.header(&format!("x-prop-{k}")).unwrap().to_string();
    assert_eq!(p("rule"), "pets", "read back with get_property");
    // The test filter splits on '.', so this is the 2-segment path routewise\0rule_id: Envoy looks up filter
    // state `wasm.routewise` and finds nothing. Write and read dotted names as ONE segment.
    assert_eq!(p("routewise.rule_id"), "<none>");
    assert_eq!(p("request.path"), "/pets?x=1");
    assert_eq!(p("request.url_path"), "/pets");
    assert_eq!(p("request.method"), "GET");
    assert_eq!(p("request.host"), "api");
    assert_eq!(p("source.address"), "127.0.0.1:40000");
    assert_eq!(p("destination.address"), "127.0.0.1:10000");
    assert_eq!(p("destination.port"), "10000");
    assert_eq!(p("plugin_name"), "routewise");
    // An empty value comes back as (null, 0), which the Rust SDK reads as None.
    assert_eq!(p("plugin_root_id"), "<none>");
    assert_eq!(p("response.code"), "<none>");
    assert_eq!(p("request.headers.x-version"), "v2");
    assert_eq!(p("nope"), "<none>");
    assert_eq!(ex.property("routewise.rule_id").as_deref(), Some("pets"));
    assert_eq!(ex.property("rule").as_deref(), Some("pets"));
}

#[test]
fn set_property_from_the_root_context_traps_like_in_envoy() {
    match test_filter()
        .sim()
        .config_json(&json!({"set_property_in_root": true}))
        .start()
    {
        Err(Error::Trap {
            callback,
            panic: Some(p),
            ..
        }) => {
            assert_eq!(callback, "proxy_on_configure");
            assert!(
                p.contains("unexpected status: 1"),
                "NOT_FOUND makes the SDK panic: {p}"
            );
        }
        Err(e) => panic!("expected a trap, got {e}"),
        Ok(_) => panic!("expected a trap"),
    }
}

#[test]
fn metrics_are_visible_by_name() {
    let mut sim = sim(json!({"metrics": true}));
    for i in 1..=3 {
        let ex = sim
            .send(Request::post("/").body("12345"), Response::ok())
            .unwrap();
        assert_eq!(
            ex.upstream_request.unwrap().header("x-requests"),
            Some(i.to_string().as_str())
        );
    }
    assert_eq!(sim.metric("requests_total"), Some(3));
    assert_eq!(sim.metric("active"), Some(3));
    assert_eq!(
        sim.metric_kind("body_size"),
        Some(host_sim::MetricKind::Histogram)
    );
    assert_eq!(
        sim.metrics()["body_size"],
        host_sim::MetricValue::Histogram(vec![5, 5, 5])
    );
}

#[test]
fn incrementing_a_counter_by_zero_is_bad_argument_and_the_sdk_unwrap_traps() {
    let mut sim = sim(json!({"metrics": true, "increment_by": 0}));
    let err = sim.send(Request::get("/"), Response::ok()).unwrap_err();
    let Error::Trap { panic: Some(p), .. } = &err else {
        panic!("{err:?}")
    };
    assert!(p.contains("BadArgument"), "{p}");
}

#[test]
fn shared_data_and_queues_round_trip() {
    let mut sim = sim(json!({"shared_data": ["flag", "on"], "queue": "events"}));
    let ex = sim.send(Request::get("/q"), Response::ok()).unwrap();
    let up = ex.upstream_request.unwrap();
    assert_eq!(up.header("x-shared"), Some("on"));
    assert_ne!(up.header("x-shared-cas"), Some("0"));
    assert!(
        infos(&ex.logs).contains(&"queue 1 item /q".to_string()),
        "{:?}",
        ex.logs
    );
    sim.set_shared_data("flag", b"off");
    let ex = sim.send(Request::get("/q2"), Response::ok()).unwrap();
    assert_eq!(ex.upstream_request.unwrap().header("x-shared"), Some("off"));
    sim.enqueue("events", b"hello").unwrap();
    assert_eq!(sim.logs().last().unwrap().message, "queue 1 item hello");
}

#[test]
fn a_stream_paused_until_a_tick_resumes_when_time_advances() {
    let mut sim = sim(json!({"tick_ms": 1000, "wait_for_tick": true, "metrics": true}));
    let err = sim.send(Request::get("/slow"), Response::ok()).unwrap_err();
    assert!(matches!(err, Error::Stalled { .. }), "{err}");

    let mut sim = self::sim(json!({"tick_ms": 1000, "wait_for_tick": true, "metrics": true}));
    let id = sim.begin(Request::get("/slow")).unwrap();
    assert!(matches!(sim.stream_state(id).unwrap(), StreamState::Stalled(_)));
    sim.advance(Duration::from_millis(999)).unwrap();
    assert_eq!(sim.metric("ticks"), Some(0));
    sim.advance(Duration::from_millis(1)).unwrap();
    assert_eq!(sim.metric("ticks"), Some(1));
    let StreamState::AwaitingUpstream(up) = sim.stream_state(id).unwrap() else {
        panic!("not resumed")
    };
    assert_eq!(up.path, "/slow");
    sim.respond(id, Response::new(204)).unwrap();
    let ex = sim.finish(id).unwrap();
    assert_eq!(ex.status(), 204);
    assert_eq!(
        sim.now(),
        std::time::UNIX_EPOCH + Duration::from_secs(host_sim::DEFAULT_START_TIME_SECS + 1)
    );
}

#[test]
fn http_calls_are_answered_by_the_test() {
    let cfg = json!({"http_call": {"cluster": "authz", "path": "/check"}});
    // No answer: the stream waits forever, which the simulator reports.
    let mut sim = self::sim(cfg.clone());
    let err = sim.send(Request::get("/"), Response::ok()).unwrap_err();
    assert!(err.to_string().contains("1 HTTP call(s) pending"), "{err}");

    let mut sim = self::sim(cfg.clone());
    sim.on_http_call(|call| {
        assert_eq!(
            (call.cluster.as_str(), call.headers.get(":path")),
            ("authz", Some("/check"))
        );
        HttpCallReply::Response(Response::ok().body("allowed"))
    })
    .unwrap();
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert_eq!(ex.upstream_request.unwrap().header("x-call-status"), Some("200"));
    assert_eq!(ex.http_calls.len(), 1);
    assert!(infos(&ex.logs).contains(&"http call answered: 200 allowed".to_string()));

    let mut sim = self::sim(cfg.clone());
    sim.on_http_call(|_| HttpCallReply::Response(Response::new(403)))
        .unwrap();
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert!(ex.local_reply);
    assert_eq!(
        (ex.status(), ex.response.unwrap().text()),
        (403, "denied".to_string())
    );

    let mut sim = self::sim(cfg);
    sim.on_http_call(|_| HttpCallReply::Fail).unwrap();
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert_eq!(
        ex.upstream_request.unwrap().header("x-call-status"),
        Some("failed:11:reset")
    );
}

#[test]
fn dispatching_to_an_unknown_cluster_is_bad_argument() {
    let mut sim = test_filter()
        .sim()
        .config_json(&json!({"http_call": {"cluster": "nope", "path": "/"}}))
        .clusters(["authz"])
        .start()
        .unwrap();
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert_eq!(
        (ex.status(), ex.response.unwrap().text()),
        (500, "dispatch failed".to_string())
    );
    assert!(sim.logs_at(LogLevel::Error)[0].contains("BadArgument"));
}

/// A filter that pauses request headers to look at the body stalls in a default Envoy: the body
/// callbacks are not called until it continues (StopAllIterationAndWatermark).
#[test]
fn pausing_request_headers_stalls_in_default_envoy_but_not_with_allow_on_headers_stop_iteration() {
    let cfg = json!({"request_headers_action": "pause", "replace_request_body": "new"});
    let mut default = sim(cfg.clone());
    match default.send(Request::post("/").body_chunks(["ab", "cd"]), Response::ok()) {
        Err(Error::Stalled { detail, .. }) => {
            assert!(detail.contains("paused the request in headers"), "{detail}");
            assert!(detail.contains("allow_on_headers_stop_iteration"), "{detail}");
        }
        other => panic!("expected a stall, got {other:?}"),
    }
    assert!(
        !default
            .logs()
            .iter()
            .any(|l| l.message.starts_with("request body")),
        "no body callback ran"
    );

    let mut allow = sim_allow(cfg);
    let ex = allow
        .send(Request::post("/").body_chunks(["ab", "cd"]), Response::ok())
        .unwrap();
    let logs = infos(&ex.logs);
    assert_eq!(
        &logs[..2],
        &["request body: 2 eos=false", "request body: 4 eos=true"]
    );
    assert_eq!(ex.upstream_request.unwrap().body, b"new");
}

/// After continue_stream, a default-mode filter gets one body callback with everything buffered.
#[test]
fn in_default_envoy_the_body_buffered_during_a_pause_arrives_in_one_callback_after_continue() {
    let mut sim = sim(json!({"http_call": {"cluster": "authz", "path": "/check"}, "metrics": true}));
    sim.on_http_call(|_| HttpCallReply::Pending).unwrap();
    let id = sim
        .begin(Request::post("/").body_chunks(["ab", "cd", "ef"]))
        .unwrap();
    let token = sim.pending_http_calls()[0].token;
    sim.answer_http_call(token, HttpCallReply::Response(Response::ok()))
        .unwrap();
    let StreamState::AwaitingUpstream(up) = sim.stream_state(id).unwrap() else {
        panic!()
    };
    assert_eq!(up.body, b"abcdef");
    assert_eq!(up.header("x-call-status"), Some("200"));
    assert_eq!(
        sim.metrics()["body_size"],
        host_sim::MetricValue::Histogram(vec![6])
    );
}

#[test]
fn pausing_response_headers_until_the_body_ends_rewrites_status_headers_and_body() {
    let cfg = json!({"pause_response_until_end": true, "response_status_at_end": 201, "replace_response_body": "{\"wrapped\":true}"});
    let upstream = Response::ok()
        .header("content-type", "application/json")
        .header("content-length", "10")
        .body("0123456789")
        .chunked(&[3, 3]);
    let mut allow = sim_allow(cfg.clone());
    let ex = allow.send(Request::get("/"), upstream.clone()).unwrap();
    let r = ex.response.unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.headers.get("x-body-size"), Some("10"));
    assert_eq!(r.headers.get("content-length"), Some("16"));
    assert_eq!(r.text(), "{\"wrapped\":true}");
    assert_eq!(
        infos(&ex.logs)[1..4],
        [
            "response body: 3 eos=false",
            "response body: 6 eos=false",
            "response body: 10 eos=true"
        ]
    );

    // Default Envoy: the response body callbacks never run while the headers are paused.
    let mut default = sim(cfg);
    let err = default.send(Request::get("/"), upstream).unwrap_err();
    assert!(
        err.to_string().contains("paused the response in headers"),
        "{err}"
    );
}

#[test]
fn response_headers_are_gone_once_they_continued() {
    // Envoy context.cc getConstMap: response_headers_ is cleared when encodeHeaders returns Continue,
    // so a later get is BAD_ARGUMENT, which the Rust SDK turns into a panic.
    let mut sim = sim(json!({"read_response_header_in_body": true}));
    let err = sim
        .send(
            Request::get("/"),
            Response::ok().header("content-type", "text/plain").body("x"),
        )
        .unwrap_err();
    let Error::Trap {
        callback,
        panic: Some(p),
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(callback, "proxy_on_response_body");
    assert!(p.contains("unexpected status: 2"), "{p}");
}

#[test]
fn a_panic_is_an_error_with_the_panic_message_and_the_vm_stays_failed() {
    let mut sim = sim(json!({"panic_in": "request_headers"}));
    let err = sim.send(Request::get("/"), Response::ok()).unwrap_err();
    match &err {
        Error::Trap {
            callback,
            message,
            panic,
        } => {
            assert_eq!(callback, "proxy_on_request_headers");
            assert!(message.contains("unreachable"), "{message}");
            let p = panic.as_deref().unwrap();
            assert!(
                p.contains("test-filter panics in request_headers as configured"),
                "{p}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(err.to_string().contains("panics in request_headers"));
    assert!(matches!(
        sim.send(Request::get("/"), Response::ok()),
        Err(Error::VmFailed(_))
    ));
    assert!(sim.failed().is_some());
}

#[test]
fn a_runaway_filter_is_interrupted() {
    let mut sim = test_filter()
        .sim()
        .config_json(&json!({"spin_in": "request_headers"}))
        .time_limit(Duration::from_millis(50))
        .start()
        .unwrap();
    let err = sim.send(Request::get("/"), Response::ok()).unwrap_err();
    assert!(err.to_string().contains("time limit"), "{err}");
}

#[test]
fn a_rejected_configuration_reports_the_filters_logs() {
    match test_filter().sim().config_json(&json!({"reject": true})).start() {
        Err(Error::ConfigureRejected { logs }) => {
            assert_eq!(logs.last().unwrap().message, "configuration rejected as asked");
        }
        Err(e) => panic!("expected a rejection, got {e}"),
        Ok(_) => panic!("expected a rejection"),
    }
    // a JSON string is passed raw, like Envoy's StringValue
    let err = test_filter()
        .sim()
        .config_json(&json!("{\"reject\": true}"))
        .start()
        .err()
        .unwrap();
    assert!(matches!(err, Error::ConfigureRejected { .. }));
    let err = test_filter().sim().config("not json").start().err().unwrap();
    assert!(err.to_string().contains("bad configuration"), "{err}");
}

#[test]
fn buffering_past_the_limit_is_a_413() {
    let mut sim = test_filter()
        .sim()
        .config_json(&json!({"buffer_request_body": true, "add_response_headers": [["x-f", "1"]]}))
        .buffer_limit(8)
        .start()
        .unwrap();
    let ex = sim
        .send(
            Request::post("/").body_chunks(["12345", "67890", "x"]),
            Response::ok(),
        )
        .unwrap();
    assert!(ex.local_reply);
    assert!(ex.upstream_request.is_none());
    let r = ex.response.unwrap();
    assert_eq!((r.status, r.text()), (413, "Payload Too Large".to_string()));
    assert_eq!(r.headers.get("x-f"), Some("1"));
}

#[test]
fn trailers_pass_through_and_foreign_functions_answer_like_envoy_1_33() {
    let mut sim = sim(json!({"foreign": "clear_route_cache"}));
    let req = Request::post("/")
        .body("b")
        .trailers([("grpc-status", "0")].into_iter().collect());
    let ex = sim
        .send(
            req,
            Response::ok()
                .body("r")
                .trailers([("x-t", "1")].into_iter().collect()),
        )
        .unwrap();
    let up = ex.upstream_request.unwrap();
    assert_eq!(up.header("x-foreign"), Some("ok"));
    assert_eq!(up.trailers.unwrap().get("grpc-status"), Some("0"));
    assert_eq!(ex.response.unwrap().trailers.unwrap().get("x-t"), Some("1"));
    let mut sim = self::sim(json!({"foreign": "set_envoy_filter_state"}));
    let ex = sim.send(Request::get("/"), Response::ok()).unwrap();
    assert_eq!(ex.upstream_request.unwrap().header("x-foreign"), Some("err"));
}

#[test]
fn the_module_is_compiled_once_per_process() {
    let a = test_filter();
    let t = std::time::Instant::now();
    let b = test_filter();
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "second load took {:?}",
        t.elapsed()
    );
    drop((a, b));
}
