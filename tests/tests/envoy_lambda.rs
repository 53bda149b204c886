//! The Lambda proxy integration end to end in a real Envoy 1.40 (container `routewise-envoy:1.40.0`):
//! routewise builds the API Gateway event and invokes the integration's cluster itself; Envoy's `aws_lambda`
//! filter on that cluster SigV4-signs the call and turns it into `POST /2015-03-31/functions/<arn>/invocations`;
//! a local Lambda endpoint ([`LambdaMock`]) verifies the signature, runs a scripted function and records the
//! event; routewise unwraps the answer for the client. Each test names the rules of
//! `shared/spec/lambda.md` it covers (L* for the event, U* for the unwrapping).
//!
//! Needs a Docker engine and the image (`scripts/setup`), like `envoy_routing.rs`. No sleeps: the mock records
//! an invocation before answering it, and logs are polled with deadlines.

use routewise_tests::envoy::Build;
use routewise_tests::envoy::{log_excerpt, LambdaCluster};
use routewise_tests::lambda_mock::{self, function, LambdaMock, Reply, EMPTY_BODY_CASES};
use routewise_tests::{Envoy, Request, Response};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------------------
// The lab: one API `pets` on api.example.com under the mapping `shop`, each route a Lambda integration on its
// own cluster (the schema of filter/src/config/mod.rs).

const HOST: &str = "api.example.com";
/// Body of the registered function `malformed`: a statusCode that is not a number (U4 → U15).
const MALFORMED: &[u8] = br#"{"statusCode":"abc","body":"secret detail"}"#;

fn lambda(cluster: &str, version: &str) -> Value {
    json!({"type": "lambda", "cluster": cluster, "payload_format_version": version})
}

fn route(id: &str, key: &str, integration: Value) -> Value {
    json!({"id": id, "key": key, "integration": integration})
}

fn lab_config() -> String {
    let routes = json!([
        route("get-pet", "GET /pets/{id}", lambda("fn-echo", "2.0")),
        route("create-pet", "POST /pets", lambda("fn-echo", "2.0")),
        route("get-pet-v1", "GET /v1/pets/{id}", lambda("fn-echo", "1.0")),
        route("create-pet-v1", "POST /v1/pets", lambda("fn-echo", "1.0")),
        route("throttled", "GET /throttled", lambda("fn-throttle", "2.0")),
        route("failing", "GET /failing", lambda("fn-error", "2.0")),
        route("malformed", "GET /malformed", lambda("fn-malformed", "2.0")),
        route("multi", "GET /multi", lambda("fn-multi", "2.0")),
        route("multi-v1", "GET /v1/multi", lambda("fn-multi", "1.0")),
        route("binary", "GET /binary", lambda("fn-binary", "2.0")),
        route("big", "GET /big", lambda("fn-big", "2.0")),
        route(
            "badly-signed",
            "GET /badly-signed",
            lambda("fn-badly-signed", "2.0")
        ),
    ]);
    serde_json::to_string_pretty(&json!({
        "domains": [{
            "name": HOST,
            "api_mappings": [{"id": "shop", "base_path": "shop", "api": "pets", "stage": "prod"}],
        }],
        "apis": [{
            "id": "pets",
            "stages": {"prod": {"variables": {"env": "test"}}},
            "routes": routes,
        }],
    }))
    .expect("config JSON")
}

struct Lab {
    envoy: Envoy,
    mock: LambdaMock,
}

impl Lab {
    /// The mock, the lab config in Envoy, and one signed cluster per function (`fn-badly-signed` signs with a
    /// secret the endpoint does not know).
    fn start(build: Build) -> Lab {
        let mock = LambdaMock::start();
        mock.register("malformed", Reply::payload(MALFORMED));
        let to = |cluster: &str, f: &str| LambdaCluster::to_mock(cluster, &mock, f);
        let clusters = [
            to("fn-echo", function::ECHO),
            to("fn-throttle", function::THROTTLE),
            to("fn-error", function::ERROR),
            to("fn-malformed", "malformed"),
            to("fn-multi", function::MULTI),
            to("fn-binary", function::BINARY),
            to("fn-big", function::BIG),
            to("fn-badly-signed", function::FIXED).with_secret("not-the-secret"),
        ];
        let envoy = Envoy::start_with_lambdas(build, &lab_config(), &[], &clusters);
        Lab { envoy, mock }
    }

    fn send(&self, req: Request) -> Response {
        self.envoy.send(req.host(HOST))
    }

    fn get(&self, path: &str) -> Response {
        self.send(Request::get(path))
    }

    /// Everything that helps when an assertion fails: the answer, what the endpoint received, Envoy's log.
    fn explain(&self, resp: &Response) -> String {
        let body = resp.text();
        let body = body.get(..body.len().min(600)).unwrap_or(&body);
        format!(
            "client got {} {:?}\n{body}\nLambda endpoint received: {:#?}\nEnvoy log (filter, warnings, errors):\n{}",
            resp.status,
            resp.headers,
            self.mock
                .invocations()
                .iter()
                .map(|i| format!("{} {} -> {} (signature {:?})", i.method, i.path, i.status, i.signature))
                .collect::<Vec<_>>(),
            log_excerpt(&self.envoy.log())
        )
    }
}

/// The client got a 200 from the function; returns the event it echoed (the echo function's body).
#[track_caller]
fn echoed_event(lab: &Lab, resp: &Response) -> Value {
    assert_eq!(resp.status, 200, "{}", lab.explain(resp));
    let event = resp
        .json()
        .unwrap_or_else(|| panic!("not JSON: {}", lab.explain(resp)));
    // U10: the function's string body is the client's body, byte for byte.
    let inv = lab.mock.last_invocation_of(function::ECHO);
    assert!(
        resp.body == inv.body,
        "the client's body differs from the event the function got:\n{}\nevent: {}",
        lab.explain(resp),
        String::from_utf8_lossy(&inv.body)
    );
    event
}

/// A failure answered by routewise: `status`, API Gateway's body, and `x-envoy-lambda-statuscode`.
#[track_caller]
fn assert_gateway_error(lab: &Lab, resp: &Response, status: u16, lambda_status: &str) {
    assert_eq!(resp.status, status, "{}", lab.explain(resp));
    assert_eq!(
        resp.json(),
        Some(json!({"message": "Internal server error"})),
        "{}",
        lab.explain(resp)
    );
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{}",
        lab.explain(resp)
    );
    assert_eq!(
        resp.header("x-envoy-lambda-statuscode"),
        Some(lambda_status),
        "{}",
        lab.explain(resp)
    );
}

// ---------------------------------------------------------------------------------------------------------
// The event (L1-L3) and the signed Invoke call

fn l2_format_2_0_event_goes_signed_to_the_invoke_api_and_the_answer_comes_back_unwrapped(build: Build) {
    let lab = Lab::start(build);
    let resp = lab.send(
        Request::get("/shop/pets/7?color=red&color=blue")
            .header("cookie", "a=1; b=2")
            .header("x-custom", "one")
            .header("x-custom", "two")
            .header("user-agent", "routewise-tests"),
    );
    let event = echoed_event(&lab, &resp);

    // Envoy's aws_lambda filter made the Invoke call and signed it (the endpoint verified the signature).
    let inv = lab.mock.last_invocation_of(function::ECHO);
    assert_eq!(inv.method, "POST");
    assert_eq!(
        inv.path,
        format!("/2015-03-31/functions/{}/invocations", lambda_mock::arn("echo"))
    );
    assert_eq!(inv.signature, Ok(()), "signature of the Invoke call");
    let auth = inv.header("authorization").unwrap_or_default();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/us-east-1/lambda/aws4_request"),
        "{auth}"
    );
    assert_eq!(inv.header("x-amz-invocation-type"), Some("RequestResponse"));
    assert!(inv
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));

    // L2, with the base path `shop` stripped by the mapping (R9; filter/src/lambda/event.rs: rawPath is the
    // path the route saw).
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /pets/{id}");
    assert_eq!(event["rawPath"], "/pets/7");
    assert_eq!(event["rawQueryString"], "color=red&color=blue");
    assert_eq!(event["queryStringParameters"], json!({"color": "red,blue"}));
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["pathParameters"], json!({"id": "7"}));
    assert_eq!(event["stageVariables"], json!({"env": "test"}));
    assert_eq!(
        event["headers"]["x-custom"], "one,two",
        "L2: repeated values comma-joined"
    );
    assert_eq!(event["isBase64Encoded"], false);
    let ctx = &event["requestContext"];
    assert_eq!(ctx["routeKey"], "GET /pets/{id}");
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["domainName"], HOST);
    assert_eq!(ctx["apiId"], "pets");
    assert!(ctx["requestId"].as_str().is_some_and(|s| !s.is_empty()), "{ctx}");
    assert!(ctx["timeEpoch"].is_u64(), "{ctx}");
    assert_eq!(ctx["accountId"], Value::Null, "L2 (issue 15): {ctx}");
    assert_eq!(ctx["http"]["method"], "GET");
    assert_eq!(ctx["http"]["path"], "/pets/7");
    assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["http"]["userAgent"], "routewise-tests");
    assert!(
        ctx["http"]["protocol"]
            .as_str()
            .is_some_and(|p| p.starts_with("HTTP/1.1")),
        "{ctx}"
    );

    // U5/U12: the function's headers; U13: of the Invoke response's own headers only the request id passes.
    assert_eq!(resp.header("x-function"), Some("echo"), "{}", lab.explain(&resp));
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(
        resp.header("x-amzn-requestid").is_some(),
        "{}",
        lab.explain(&resp)
    );
    assert_eq!(resp.header("x-amz-executed-version"), None, "U13");
    assert_eq!(
        resp.header("content-length"),
        Some(resp.body.len().to_string().as_str())
    );

    let log = lab.envoy.access_log_for(&resp);
    assert_eq!(log["route_id"], "get-pet", "{log}");
    assert_eq!(log["api"], "pets", "{log}");
}

fn l1_format_1_0_event_has_the_rest_api_fields_with_last_and_multi_values(build: Build) {
    let lab = Lab::start(build);
    let resp = lab.send(
        Request::get("/shop/v1/pets/7?color=red&color=blue")
            .header("x-custom", "one")
            .header("x-custom", "two"),
    );
    let event = echoed_event(&lab, &resp);
    assert_eq!(event["resource"], "/v1/pets/{id}");
    assert_eq!(event["path"], "/v1/pets/7");
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(event["headers"]["x-custom"], "two", "L1: last value per name");
    assert_eq!(event["multiValueHeaders"]["x-custom"], json!(["one", "two"]));
    assert_eq!(event["queryStringParameters"], json!({"color": "blue"}));
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({"color": ["red", "blue"]})
    );
    assert_eq!(event["pathParameters"], json!({"id": "7"}));
    assert_eq!(event["stageVariables"], json!({"env": "test"}));
    assert_eq!(event["body"], Value::Null);
    assert_eq!(event["isBase64Encoded"], false);
    let ctx = &event["requestContext"];
    assert_eq!(ctx["resourcePath"], "/v1/pets/{id}");
    assert_eq!(ctx["httpMethod"], "GET");
    assert_eq!(
        ctx["path"], "/shop/v1/pets/7",
        "the path as received, as in API Gateway"
    );
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["domainName"], HOST);
    assert_eq!(ctx["apiId"], "pets");
    assert_eq!(ctx["identity"]["sourceIp"], "127.0.0.1");
    assert!(ctx["requestTimeEpoch"].is_u64(), "{ctx}");
    assert!(ctx["requestId"].as_str().is_some_and(|s| !s.is_empty()), "{ctx}");
    // L1 (issue 15): API Gateway's other requestContext keys (values: filter/src/lambda/event.rs docs).
    assert_eq!(ctx["protocol"], "HTTP/1.1", "{ctx}");
    assert_eq!(ctx["accountId"], Value::Null, "{ctx}");
    assert_eq!(
        ctx["extendedRequestId"], ctx["requestId"],
        "Envoy's x-request-id: {ctx}"
    );
    assert!(
        ctx["resourceId"]
            .as_str()
            .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric())),
        "{ctx}"
    );
    let mut identity: Vec<&str> = ctx["identity"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    identity.sort_unstable();
    assert_eq!(
        identity,
        [
            "accessKey",
            "accountId",
            "apiKey",
            "apiKeyId",
            "caller",
            "cognitoAuthenticationProvider",
            "cognitoAuthenticationType",
            "cognitoIdentityId",
            "cognitoIdentityPoolId",
            "principalOrgId",
            "sourceIp",
            "user",
            "userAgent",
            "userArn"
        ],
        "L1: every identity key of API Gateway's REST events"
    );
    assert_eq!(lab.mock.last_invocation_of(function::ECHO).signature, Ok(()));
}

fn l3_a_post_body_reaches_the_function_as_text_or_base64_in_both_formats(build: Build) {
    // Needs allow_on_headers_stop_iteration: true (the template sets it), or the body callbacks never run.
    let lab = Lab::start(build);
    let json_body = r#"{"name":"rex","tags":["good","boy"],"quote":"\"hi\""}"#;
    for (path, version) in [("/shop/pets", "2.0"), ("/shop/v1/pets", "1.0")] {
        let resp = lab.send(
            Request::post(path)
                .header("content-type", "application/json")
                .body(json_body),
        );
        let event = echoed_event(&lab, &resp);
        assert_eq!(event["body"], json_body, "{version}: L3 textual body as it is");
        assert_eq!(event["isBase64Encoded"], false, "{version}");
        if version == "1.0" {
            assert_eq!(event["httpMethod"], "POST");
        } else {
            assert_eq!(event["requestContext"]["http"]["method"], "POST");
        }
    }
    // L3: a body that is not textual is base64.
    let bytes = lambda_mock::binary_body();
    let resp = lab.send(
        Request::post("/shop/pets")
            .header("content-type", "application/octet-stream")
            .body(bytes.clone()),
    );
    let event = echoed_event(&lab, &resp);
    assert_eq!(event["isBase64Encoded"], true);
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(event["body"].as_str().unwrap_or_default())
        .expect("L3: standard base64");
    assert_eq!(decoded, bytes);
}

// ---------------------------------------------------------------------------------------------------------
// Failures (U1, U2, U15) and the signature

fn u1_a_throttled_function_is_500_with_the_lambda_status_and_reason(build: Build) {
    let lab = Lab::start(build);
    let resp = lab.get("/shop/throttled");
    assert_gateway_error(&lab, &resp, 500, "429");
    assert_eq!(
        resp.header("x-envoy-lambda-statusreason"),
        Some("ReservedFunctionConcurrentInvocationLimitExceeded"),
        "{}",
        lab.explain(&resp)
    );
    let inv = lab.mock.last_invocation_of(function::THROTTLE);
    assert_eq!((inv.status, inv.signature), (429, Ok(())));
    assert!(
        !resp.text().contains("Rate Exceeded"),
        "U1: the upstream body is ignored"
    );
    // What operators see: the access log has the Lambda status headers the client got and the outcome;
    // admin /stats counts the throttled invocation.
    let entry = lab.envoy.access_log_for(&resp);
    assert_eq!(
        (
            &entry["lambda_statuscode"],
            &entry["lambda_statusreason"],
            &entry["lambda_outcome"],
            &entry["status"],
        ),
        (
            &json!("429"),
            &json!("ReservedFunctionConcurrentInvocationLimitExceeded"),
            &json!("throttled"),
            &json!(500),
        ),
        "{entry}"
    );
    lab.envoy.wait_filter_stats(&["routewise.lambda.throttled: 1"]);
}

fn u2_a_function_error_is_502_with_the_function_error_header(build: Build) {
    let lab = Lab::start(build);
    let resp = lab.get("/shop/failing");
    // U2: x-envoy-lambda-statuscode carries the Invoke status, 200 for a function error.
    assert_gateway_error(&lab, &resp, 502, "200");
    assert_eq!(
        resp.header("x-envoy-lambda-function-error"),
        Some("Unhandled"),
        "{}",
        lab.explain(&resp)
    );
    assert!(
        !resp.text().contains("boom"),
        "the function's error stays private"
    );
    assert_eq!(lab.mock.last_invocation_of(function::ERROR).status, 200);
}

fn u15_a_malformed_payload_is_502_and_the_reason_goes_to_the_log_and_filter_state_only(build: Build) {
    let lab = Lab::start(build);
    let resp = lab.get("/shop/malformed");
    assert_eq!(resp.status, 502, "{}", lab.explain(&resp));
    assert_eq!(
        resp.body, br#"{"message":"Internal server error"}"#,
        "U15: nothing of the reason or the payload reaches the client"
    );
    assert!(resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(lab.mock.last_invocation_of("malformed").status, 200);

    // The reason: in the access log's filter state and in Envoy's log (the filter's own logger).
    let entry = lab.envoy.access_log_for(&resp);
    let reason = entry["lambda_reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("statusCode"),
        "lambda_reason {reason:?} in {entry}"
    );
    let log = lab.envoy.wait_log(&reason);
    assert!(
        log.lines()
            .any(|l| l.contains(build.log_tag()) && l.contains(&reason)),
        "the reason is not on a line of the filter's logger:\n{}",
        log_excerpt(&log)
    );
}

fn envoy_signs_the_invoke_call_and_the_endpoint_rejects_a_wrong_secret_u2(build: Build) {
    let lab = Lab::start(build);
    // The properly signed cluster: accepted.
    let ok = lab.get("/shop/pets/1");
    echoed_event(&lab, &ok);
    assert_eq!(lab.mock.last_invocation_of(function::ECHO).signature, Ok(()));

    // Signed with another secret: the endpoint computes another signature and refuses, as Lambda does;
    // the function never runs and the client gets U2's 502 with the Invoke status.
    let resp = lab.get("/shop/badly-signed");
    let inv = lab.mock.last_invocation_of(function::FIXED);
    assert_eq!(inv.status, 403, "{}", lab.explain(&resp));
    assert!(
        inv.signature
            .as_ref()
            .is_err_and(|e| e.contains("SignatureMismatch")),
        "{:?}",
        inv.signature
    );
    assert_gateway_error(&lab, &resp, 502, "403");
    assert!(!resp.text().contains("fixed"));
}

// ---------------------------------------------------------------------------------------------------------
// Unwrapping (U6, U7, U8, U11, U16)

fn u6_u7_u8_multi_value_headers_and_cookies_are_separate_field_lines_in_both_formats(build: Build) {
    let lab = Lab::start(build);
    for path in ["/shop/multi", "/shop/v1/multi"] {
        let resp = lab.get(path);
        let why = lab.explain(&resp);
        assert_eq!(resp.status, 200, "{path}: {why}");
        assert_eq!(resp.text(), "multi", "{path}");
        // U6: each element its own line, never split or joined.
        assert_eq!(resp.header_all("x-multi"), ["a", "b, c"], "{path}: {why}");
        // U7: the multi values first, then the single value.
        assert_eq!(resp.header_all("x-both"), ["x", "y", "z"], "{path}: {why}");
        assert_eq!(resp.header_all("x-single"), ["one"], "{path}: {why}");
        // U8: one set-cookie line per cookie (also accepted in 1.0).
        assert_eq!(
            resp.header_all("set-cookie"),
            ["session=abc; Path=/; HttpOnly", "theme=dark; Max-Age=3600"],
            "{path}: {why}"
        );
        assert_eq!(resp.header("content-type"), Some("text/plain"), "{path}");
    }
}

fn u11_a_base64_body_comes_back_byte_identical(build: Build) {
    let lab = Lab::start(build);
    let resp = lab.get("/shop/binary");
    assert_eq!(resp.status, 200, "{}", lab.explain(&resp));
    assert_eq!(resp.body, lambda_mock::binary_body());
    assert_eq!(resp.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        resp.header("content-length"),
        Some(lambda_mock::binary_body().len().to_string().as_str()),
        "U12"
    );
}

fn u16_a_5_mb_answer_is_unwrapped_without_truncation(build: Build) {
    let lab = Lab::start(build);
    let resp = lab.get("/shop/big");
    assert_eq!(resp.status, 200, "{}", lab.explain(&resp));
    assert_eq!(resp.body.len(), lambda_mock::BIG_BODY_LEN, "U16: no truncation");
    assert!(
        resp.body == lambda_mock::big_body().as_bytes(),
        "U16: the body differs from the function's"
    );
    assert_eq!(
        resp.header("content-length"),
        Some(lambda_mock::BIG_BODY_LEN.to_string().as_str()),
        "U12"
    );
    assert_eq!(resp.header("content-type"), Some("text/plain"));
}

// ---------------------------------------------------------------------------------------------------------
// U12 with an empty body (issue 15): Envoy's local reply (`Utility::prepareLocalReply`,
// source/common/http/utility.cc) removes `content-type` and `content-length` when the body is empty, so an
// answer sent as a local reply alone lost the function's `content-type`. API Gateway keeps it (or sends
// `application/json`); routewise must too, through a real Envoy, in both builds.

fn empty_body_lab(build: Build) -> (Envoy, LambdaMock) {
    let mock = LambdaMock::start();
    let mut routes = Vec::new();
    let mut clusters = Vec::new();
    for case in EMPTY_BODY_CASES {
        let name = case.function;
        if clusters.iter().any(|c: &LambdaCluster| c.name == name) {
            continue;
        }
        mock.register(name, Reply::payload(case.payload.as_bytes()));
        routes.push(route(name, &format!("ANY /{name}"), lambda(name, "1.0")));
        clusters.push(LambdaCluster::to_mock(name, &mock, name));
    }
    let config = json!({
        "domains": [{"name": HOST, "api_mappings": [{"base_path": "", "api": "e", "stage": "prod"}]}],
        "apis": [{"id": "e", "stages": {"prod": {}}, "routes": routes}],
    });
    let envoy = Envoy::start_with_lambdas(build, &config.to_string(), &[], &clusters);
    (envoy, mock)
}

/// The client's answer and Envoy's log, for an assertion's message.
fn answer_and_log(envoy: &Envoy, resp: &Response) -> String {
    format!(
        "client got {} {:?} {:?}\nEnvoy log:\n{}",
        resp.status,
        resp.headers,
        resp.text(),
        log_excerpt(&envoy.log())
    )
}

fn u12_an_empty_body_answer_keeps_the_functions_content_type_or_gets_application_json(build: Build) {
    let (envoy, _mock) = empty_body_lab(build);
    let explain = |resp: &Response| answer_and_log(&envoy, resp);
    for case in EMPTY_BODY_CASES {
        let what = format!("{} /{} ({})", case.method, case.function, case.why);
        let resp = envoy.send(Request::new(case.method, &format!("/{}", case.function)).host(HOST));
        assert_eq!(resp.status, case.status, "{what}: {}", explain(&resp));
        assert_eq!(
            resp.header("content-type"),
            case.content_type,
            "{what}: content-type\n{}",
            explain(&resp)
        );
        if case.content_length.is_some() || case.status == 204 {
            assert_eq!(
                resp.header("content-length"),
                case.content_length,
                "{what}: content-length\n{}",
                explain(&resp)
            );
        }
        if case.method == "HEAD" || case.content_length == Some("0") || case.status == 204 {
            assert!(resp.body.is_empty(), "{what}: {}", explain(&resp));
        }
        if case.status == 302 {
            assert_eq!(resp.header("location"), Some("/elsewhere"), "{what}");
        }
        let log = envoy.access_log_for(&resp);
        assert_eq!(log["lambda_outcome"], "proxied", "{what}: {log}");
        // %RESPONSE_CODE_DETAILS%: the dynamic module writes an empty answer that has a content-type with
        // `send_response_headers`, for which Envoy records none (`encodeHeaders(headers, end_stream, "")`);
        // every other answer is a local reply with the filter's details.
        let written = build == Build::DynamicModule && case.empty && case.content_type.is_some();
        let details = if written { "" } else { "routewise_lambda" };
        assert_eq!(log["details"], details, "{what}: {log}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Qualifiers (issue 15): an alias or version per integration. Envoy's aws_lambda filter writes the Invoke
// call's `:path` from its own `arn` and `x-amz-invocation-type` from its `invocation_mode`
// (`setLambdaHeaders`, source/extensions/filters/http/aws_lambda/aws_lambda_filter.cc), whatever the filter
// sent, so an integration's qualifier is its cluster's ARN (`...:function:NAME:QUALIFIER`); each integration
// has its own cluster (envoy/README.md).

fn qualified_arns_on_the_integrations_clusters_invoke_the_alias_and_the_version(build: Build) {
    let mock = LambdaMock::start();
    let qualified = |cluster: &str, qualifier: &str| {
        let mut c = LambdaCluster::to_mock(cluster, &mock, function::ECHO);
        c.arn = format!("{}:{qualifier}", lambda_mock::arn(function::ECHO));
        c
    };
    let clusters = [
        qualified("fn-live", "live"),
        qualified("fn-v7", "7"),
        LambdaCluster::to_mock("fn-unqualified", &mock, function::ECHO),
    ];
    let config = json!({
        "domains": [{"name": HOST, "api_mappings": [{"base_path": "", "api": "q", "stage": "prod"}]}],
        "apis": [{"id": "q", "stages": {"prod": {}}, "routes": [
            route("live", "GET /live", lambda("fn-live", "2.0")),
            route("v7", "GET /v7", lambda("fn-v7", "1.0")),
            route("latest", "GET /latest", lambda("fn-unqualified", "2.0")),
        ]}],
    });
    let envoy = Envoy::start_with_lambdas(build, &config.to_string(), &[], &clusters);
    for (path, qualifier) in [("/live", Some("live")), ("/v7", Some("7")), ("/latest", None)] {
        let resp = envoy.send(Request::get(path).host(HOST));
        assert_eq!(
            resp.status,
            200,
            "{path}: {} {}\n{}",
            resp.status,
            resp.text(),
            log_excerpt(&envoy.log())
        );
        let inv = mock.last_invocation_of(function::ECHO);
        assert_eq!(inv.qualifier.as_deref(), qualifier, "{path}: {}", inv.path);
        assert_eq!(inv.signature, Ok(()), "{path}: signed for the qualified ARN");
        assert_eq!(inv.header("x-amz-invocation-type"), Some("RequestResponse"));
        assert!(resp.body == inv.body, "{path}: the function's answer");
    }
}

// ---------------------------------------------------------------------------------------------------------
// X-Amz-Invocation-Type per integration (issue 15). Envoy's aws_lambda filter sets the header from its
// cluster's `invocation_mode`, so an `Event` integration has an ASYNCHRONOUS cluster; routewise's
// `invocation_type` says which answer is a success, and a cluster that contradicts it is a named 502.

fn x_amz_invocation_type_event_answers_202_and_a_mode_mismatch_is_a_named_502(build: Build) {
    let mock = LambdaMock::start();
    let clusters = [
        LambdaCluster::to_mock("fn-async", &mock, function::ECHO).asynchronous(),
        LambdaCluster::to_mock("fn-sync", &mock, function::ECHO),
    ];
    let event = |cluster: &str| json!({"type": "lambda", "cluster": cluster, "payload_format_version": "2.0", "invocation_type": "Event"});
    let config = json!({
        "domains": [{"name": HOST, "api_mappings": [{"base_path": "", "api": "q", "stage": "prod"}]}],
        "apis": [{"id": "q", "stages": {"prod": {}}, "routes": [
            route("queue", "POST /queue", event("fn-async")),
            route("queue-on-sync", "POST /queue-on-sync", event("fn-sync")),
            route("call-on-async", "POST /call-on-async", lambda("fn-async", "2.0")),
        ]}],
    });
    let envoy = Envoy::start_with_lambdas(build, &config.to_string(), &[], &clusters);
    let explain = |resp: &Response| answer_and_log(&envoy, resp);

    // Event on an asynchronous cluster: Lambda's 202, no body, application/json as every empty answer (U12).
    let resp = envoy.send(
        Request::post("/queue")
            .header("content-type", "application/json")
            .body("{\"job\":1}")
            .host(HOST),
    );
    assert_eq!(resp.status, 202, "{}", explain(&resp));
    assert!(resp.body.is_empty(), "{}", explain(&resp));
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "{}",
        explain(&resp)
    );
    let inv = mock.last_invocation_of(function::ECHO);
    assert_eq!(inv.header("x-amz-invocation-type"), Some("Event"));
    assert_eq!(inv.status, 202);
    assert_eq!(inv.event()["body"], "{\"job\":1}", "the event was delivered");
    assert_eq!(envoy.access_log_for(&resp)["lambda_outcome"], "accepted");

    // Event on a synchronous cluster: the function ran, its answer is not sent; the reason names both settings.
    let resp = envoy.send(Request::post("/queue-on-sync").body("{}").host(HOST));
    assert_eq!(resp.status, 502, "{}", explain(&resp));
    assert_eq!(
        resp.body,
        br#"{"message":"Internal server error"}"#,
        "{}",
        explain(&resp)
    );
    assert_eq!(
        mock.last_invocation_of(function::ECHO)
            .header("x-amz-invocation-type"),
        Some("RequestResponse")
    );
    let entry = envoy.access_log_for(&resp);
    assert_eq!(entry["lambda_outcome"], "invocation_mismatch", "{entry}");
    let reason = entry["lambda_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("ASYNCHRONOUS") && reason.contains("\"Event\""),
        "{entry}"
    );

    // RequestResponse on an asynchronous cluster: a 202 without a function answer.
    let resp = envoy.send(Request::post("/call-on-async").body("{}").host(HOST));
    assert_eq!(resp.status, 502, "{}", explain(&resp));
    let entry = envoy.access_log_for(&resp);
    assert_eq!(entry["lambda_outcome"], "invocation_mismatch", "{entry}");
    assert!(
        entry["lambda_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("answered 202"),
        "{entry}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// The minimal example configs (envoy/examples/lambda-minimal*.json): every request to one Lambda integration on
// cluster `lambda`.

fn minimal_example(build: Build, file: &str) -> (Value, Response) {
    let path = routewise_tests::envoy::workspace_root()
        .join("envoy/examples")
        .join(file);
    let config = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mock = LambdaMock::start();
    let envoy = Envoy::start_with_lambdas(
        build,
        &config,
        &[],
        &[LambdaCluster::to_mock("lambda", &mock, function::ECHO)],
    );
    let resp = envoy.send(Request::get("/hello/world?x=1").host("anything.example.org"));
    assert_eq!(
        resp.status,
        200,
        "{file}: {} {}\nEnvoy log:\n{}",
        resp.status,
        resp.text(),
        log_excerpt(&envoy.log())
    );
    let inv = mock.last_invocation_of(function::ECHO);
    assert_eq!(inv.signature, Ok(()));
    assert!(
        resp.body == inv.body,
        "{file}: the client got {:?}, the function got the event {:?}",
        resp.text(),
        String::from_utf8_lossy(&inv.body)
    );
    (inv.event(), resp)
}

fn l1_the_minimal_1_0_example_sends_every_request_to_one_lambda(build: Build) {
    let (event, _) = minimal_example(build, "lambda-minimal.json");
    assert_eq!(event["httpMethod"], "GET", "{event}");
    assert_eq!(event["path"], "/hello/world");
    assert_eq!(event["queryStringParameters"], json!({"x": "1"}));
    assert!(event.get("rawPath").is_none(), "a 1.0 event: {event}");
}

fn l2_the_minimal_2_0_example_sends_every_request_to_one_lambda(build: Build) {
    let (event, _) = minimal_example(build, "lambda-minimal-v2.json");
    assert_eq!(event["version"], "2.0", "{event}");
    assert_eq!(event["rawPath"], "/hello/world");
    assert_eq!(event["rawQueryString"], "x=1");
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
}

routewise_tests::both_builds!(
    l2_format_2_0_event_goes_signed_to_the_invoke_api_and_the_answer_comes_back_unwrapped,
    l1_format_1_0_event_has_the_rest_api_fields_with_last_and_multi_values,
    l3_a_post_body_reaches_the_function_as_text_or_base64_in_both_formats,
    u1_a_throttled_function_is_500_with_the_lambda_status_and_reason,
    u2_a_function_error_is_502_with_the_function_error_header,
    u15_a_malformed_payload_is_502_and_the_reason_goes_to_the_log_and_filter_state_only,
    envoy_signs_the_invoke_call_and_the_endpoint_rejects_a_wrong_secret_u2,
    u6_u7_u8_multi_value_headers_and_cookies_are_separate_field_lines_in_both_formats,
    u11_a_base64_body_comes_back_byte_identical,
    u16_a_5_mb_answer_is_unwrapped_without_truncation,
    l1_the_minimal_1_0_example_sends_every_request_to_one_lambda,
    l2_the_minimal_2_0_example_sends_every_request_to_one_lambda,
    u12_an_empty_body_answer_keeps_the_functions_content_type_or_gets_application_json,
    qualified_arns_on_the_integrations_clusters_invoke_the_alias_and_the_version,
    x_amz_invocation_type_event_answers_202_and_a_mode_mismatch_is_a_named_502,
);
