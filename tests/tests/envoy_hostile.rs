//! Hostile input through a real Envoy 1.40, both builds (issue 14): requests, configs and upstream answers
//! that trapped, stalled or split responses before, each followed by a normal request on the same worker
//! (Envoy runs one worker here), which must be served as usual.

use std::io::{Read, Write};
use std::net::TcpListener;

use routewise_tests::envoy::{log_excerpt, Build, LambdaCluster};
use routewise_tests::http::Connection;
use routewise_tests::lambda_mock::{arn, LambdaMock, Reply};
use routewise_tests::{EchoUpstream, Envoy, Request, Response};
use serde_json::{json, Value};

const HOST: &str = "api.example.com";

fn get(envoy: &Envoy, path: &str) -> Response {
    envoy.send(Request::get(path).host(HOST))
}

/// The normal request after each hostile one: routed to `up` as usual.
#[track_caller]
fn still_serves(envoy: &Envoy, up: &EchoUpstream, path: &str) {
    let resp = get(envoy, path);
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), log_excerpt(&envoy.log()));
    let tag = resp.header("x-test-log-tag").expect("tagged");
    assert!(
        up.request_tagged(tag).is_some(),
        "{path} did not reach the upstream"
    );
}

/// 5,000 contains globs on one header and a 300-byte value holding hundreds of their literals: answered
/// (it trapped the VM, or cost seconds, with per-gram regex sets); the worker serves the next request.
fn many_contains_globs_and_a_value_full_of_their_literals(build: Build) {
    let (up, tagged) = (EchoUpstream::start("up"), EchoUpstream::start("tagged"));
    let mut rules: Vec<Value> = (0..5_000)
        .map(|k| {
            json!({"id": format!("r{k}"), "priority": k + 10,
                   "conditions": {"headers": [{"header": "x-tag", "value_glob": format!("*x{k}y*")}]},
                   "action": {"invoke_api": {"api": "tagged", "stage": "s"}}})
        })
        .collect();
    rules.push(json!({"id": "any", "priority": 1_000_000, "conditions": {},
                      "action": {"invoke_api": {"api": "plain", "stage": "s"}}}));
    let cfg = json!({
        "domains": [{"name": "*", "routing_mode": "ROUTING_RULE_ONLY", "routing_rules": rules}],
        "apis": [{"id": "tagged", "stages": {"s": {"integration": {"type": "http", "cluster": "tagged"}}}},
                 {"id": "plain", "stages": {"s": {"integration": {"type": "http", "cluster": "up"}}}}],
    });
    let envoy = Envoy::start(build, &cfg.to_string(), &[&up, &tagged]);
    let value: String = (100..200).map(|k| format!("x{k}y")).collect();
    let resp = envoy.send(Request::get("/t").host(HOST).header("x-tag", &value[..300]));
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), log_excerpt(&envoy.log()));
    let entry = envoy.access_log_for(&resp);
    assert_eq!(
        entry["rule_id"], "r100",
        "the lowest priority whose glob matches (R2): {entry}"
    );
    still_serves(&envoy, &up, "/after");
}

/// A Lambda answer that would split the response: `statusCode` 101 with a body is malformed (502); 204 with
/// a body forging a second response reaches the client as a bare 204, and the next response on the same
/// keep-alive connection is the real one.
fn lambda_answers_cannot_split_the_response(build: Build) {
    let up = EchoUpstream::start("up");
    let mock = LambdaMock::start();
    let forged = "HTTP/1.1 200 OK\r\nx-forged: 1\r\ncontent-length: 6\r\n\r\nforged";
    mock.register(
        "interim",
        Reply::json(&json!({"statusCode": 101, "body": forged})),
    );
    mock.register(
        "nocontent",
        Reply::json(&json!({"statusCode": 204, "body": forged})),
    );
    let lines: Vec<String> = (0..1_200).map(|k| format!("v{k}")).collect();
    mock.register(
        "manyheaders",
        Reply::json(&json!({"statusCode": 200, "multiValueHeaders": {"x-many": lines}, "body": "ok"})),
    );
    let route =
        |key: &str, cluster: &str| json!({"key": key, "integration": {"type": "lambda", "cluster": cluster}});
    let cfg = json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "s"}]}],
        "apis": [{"id": "a", "stages": {"s": {"integration": {"type": "http", "cluster": "up"}}},
                  "routes": [route("GET /interim", "fn-interim"), route("GET /nocontent", "fn-nocontent"),
                             route("GET /many", "fn-many"), {"key": "ANY /{proxy+}"}]}],
    });
    let lambdas = [
        LambdaCluster::to_mock("fn-interim", &mock, "interim"),
        LambdaCluster::to_mock("fn-nocontent", &mock, "nocontent"),
        LambdaCluster::to_mock("fn-many", &mock, "manyheaders"),
    ];
    let envoy = Envoy::start_with_lambdas(build, &cfg.to_string(), &[&up], &lambdas);

    let resp = get(&envoy, "/interim");
    assert_eq!(resp.status, 502, "{}", resp.text());
    assert_eq!(envoy.access_log_for(&resp)["lambda_outcome"], "malformed");
    still_serves(&envoy, &up, "/after-interim");

    let mut conn = Connection::open(envoy.port()).expect("connect");
    let resp = conn
        .send(&Request::get("/nocontent").host(HOST))
        .expect("the 204");
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty(), "{:?}", resp.text());
    let next = conn
        .send(&Request::get("/after-nocontent").host(HOST))
        .expect("the next response on the connection");
    assert_eq!(next.status, 200, "{}", next.text());
    assert_eq!(
        next.header("x-forged"),
        None,
        "the forged response was read as the next one"
    );
    assert_eq!(next.upstream().as_deref(), Some("up"));

    let resp = get(&envoy, "/many");
    assert_eq!(resp.status, 502, "{}", resp.text());
    let entry = envoy.access_log_for(&resp);
    assert_eq!(entry["lambda_outcome"], "malformed", "{entry}");
    assert!(
        entry["lambda_reason"]
            .as_str()
            .is_some_and(|r| r.contains("header lines")),
        "{entry}"
    );
    still_serves(&envoy, &up, "/after-many");
}

/// A Lambda endpoint that answers garbage and closes: Envoy makes up a 503 for it, which is a failed call
/// (502 `call_failed`), not a Lambda error carrying Envoy's status. CONNECT to a Lambda route is 405.
fn a_dead_lambda_endpoint_is_a_failed_call_and_connect_is_refused(build: Build) {
    let up = EchoUpstream::start("up");
    let garbage = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = garbage.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in garbage.incoming().take(16) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"NOT HTTP AT ALL\r\n\r\n");
        }
    });
    let mock = LambdaMock::start();
    let dead = LambdaCluster {
        port,
        ..LambdaCluster::to_mock("fn-dead", &mock, "echo")
    };
    let echo = LambdaCluster::to_mock("fn-echo", &mock, "echo");
    let cfg = json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "s"}]}],
        "apis": [{"id": "a", "stages": {"s": {"integration": {"type": "http", "cluster": "up"}}},
                  "routes": [{"key": "GET /dead", "integration": {"type": "lambda", "cluster": "fn-dead"}},
                             {"key": "ANY /fn", "integration": {"type": "lambda", "cluster": "fn-echo"}},
                             {"key": "ANY /{proxy+}"}]}],
    });
    let envoy = Envoy::start_with_lambdas(build, &cfg.to_string(), &[&up], &[dead, echo]);
    let resp = get(&envoy, "/dead");
    assert_eq!(resp.status, 502, "{}", resp.text());
    assert_eq!(
        resp.header("x-envoy-lambda-statuscode"),
        None,
        "Envoy's own status is not Lambda's"
    );
    let entry = envoy.access_log_for(&resp);
    assert_eq!(entry["lambda_outcome"], "call_failed", "{entry}");
    still_serves(&envoy, &up, "/after-dead");

    let resp = envoy.send(Request::new("CONNECT", "api.example.com:443").host(HOST));
    assert_ne!(
        resp.status,
        200,
        "a CONNECT tunnel to a Lambda route: {}",
        resp.text()
    );
    assert!(
        mock.invocations_of("echo").is_empty(),
        "CONNECT invoked the function"
    );
    still_serves(&envoy, &up, "/after-connect");
    assert_eq!(arn("echo"), LambdaCluster::to_mock("x", &mock, "echo").arn);
}

/// key-auth (G2, `hide_credentials` by default): a key sent in the header and in the query reaches the
/// upstream in neither, nor the access log's path.
fn key_auth_removes_every_copy_of_the_key(build: Build) {
    let up = EchoUpstream::start("up");
    let sha = "85dbe15d75ef9308c7ae0f33c7a324cc6f4bf519a2ed2f3027bd33c140a4f9aa"; // secret-key
    let cfg = json!({
        "domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "s"}]}],
        "apis": [{"id": "a", "stages": {"s": {"integration": {"type": "http", "cluster": "up"}}},
                  "routes": [{"key": "ANY /{proxy+}", "plugins": {"key-auth": {}}}]}],
        "consumers": [{"username": "jack", "plugins": {"key-auth": {"key_sha256": sha}}}],
    });
    let envoy = Envoy::start(build, &cfg.to_string(), &[&up]);
    let resp = envoy.send(
        Request::get("/k?apikey=secret-key&q=1")
            .host(HOST)
            .header("apikey", "secret-key"),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = up
        .request_tagged(resp.header("x-test-log-tag").expect("tagged"))
        .expect("forwarded");
    assert_eq!(got.path, "/k?q=1");
    assert!(
        got.headers
            .iter()
            .all(|(n, v)| n != "apikey" && !v.contains("secret-key")),
        "{got:?}"
    );
    let entry = envoy.access_log_for(&resp);
    assert!(!entry.to_string().contains("secret-key"), "{entry}");
}

/// Configs that would break HTTP framing or cost unbounded memory are refused by Envoy at load, with the
/// field path and the reason: a plugin setting content-length, a regex with thousands of capture groups.
fn configs_that_break_framing_or_memory_are_refused_at_load(build: Build) {
    let groups = "(a)".repeat(6_000);
    for (cfg, path) in [
        (
            json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "s"}]}],
                   "apis": [{"id": "a", "stages": {"s": {"integration": {"type": "http", "cluster": "up"}}},
                             "routes": [{"key": "ANY /{proxy+}", "plugins": {"proxy-rewrite":
                                 {"headers": {"set": {"transfer-encoding": "chunked"}}}}}]}]}),
            "apis[0].routes[0].plugins.proxy-rewrite.headers.set.transfer-encoding: ",
        ),
        (
            json!({"domains": [{"name": "*", "api_mappings": [{"api": "a", "stage": "s"}]}],
                   "apis": [{"id": "a", "stages": {"s": {"integration": {"type": "http", "cluster": "up"}}},
                             "routes": [{"key": "ANY /{proxy+}", "vars": [["http_x", "~~", groups]]}]}]}),
            "apis[0].routes[0].vars",
        ),
    ] {
        let refused = Envoy::start_expecting_refusal(build, &cfg.to_string());
        assert!(
            refused.log.contains(path),
            "{path}\n{}",
            log_excerpt(&refused.log)
        );
        assert!(
            refused.log.contains(build.refusal_line()),
            "{}",
            log_excerpt(&refused.log)
        );
    }
}

routewise_tests::both_builds!(
    many_contains_globs_and_a_value_full_of_their_literals,
    lambda_answers_cannot_split_the_response,
    a_dead_lambda_endpoint_is_a_failed_call_and_connect_is_refused,
    key_auth_removes_every_copy_of_the_key,
    configs_that_break_framing_or_memory_are_refused_at_load,
);
