//! JWT claims in the Lambda event (issue 15; lambda-streaming.md §7, §8) in a real Envoy, both builds: Envoy's
//! `jwt_authn` filter, exactly as `envoy/examples/jwt-authn-filter.yaml` writes it, before routewise with
//! `envoy/examples/lambda-jwt.json`, and the local Lambda endpoint ([`LambdaMock`], as in envoy_lambda.rs)
//! running the echo function, so the event the function got is what the client reads.
//!
//! Tokens: `tests/data/jwt/tokens.json`, RS256 with a TEST-ONLY key whose public half is the example's inline
//! JWKS (`tests/data/jwt/make.py`; they expire in 2100).

use routewise_tests::envoy::{log_excerpt, Build, LambdaCluster};
use routewise_tests::lambda_mock::{function, LambdaMock};
use routewise_tests::{Envoy, Request, Response};
use serde_json::{json, Value};

const FILTER: &str = include_str!("../../envoy/examples/jwt-authn-filter.yaml");
const CONFIG: &str = include_str!("../../envoy/examples/lambda-jwt.json");
const TOKENS: &str = include_str!("../data/jwt/tokens.json");
const JWKS: &str = include_str!("../data/jwt/jwks.json");

/// The example's filter entry, indented as the template's `http_filters` list, before routewise's.
fn with_jwt_authn(bootstrap: String) -> String {
    let marker = "          # routewise:filter-begin";
    assert!(bootstrap.contains(marker), "the template's filter marker moved");
    let entry: String = FILTER
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("          {l}\n"))
        .collect();
    bootstrap.replacen(marker, &format!("{entry}{marker}"), 1)
}

fn tokens() -> Value {
    serde_json::from_str(TOKENS).expect("tokens.json")
}

fn token(name: &str) -> String {
    tokens()[name].as_str().expect("a token").to_string()
}

/// The claims of `tokens.json`'s valid token as every format carries them: strings (§7.1, §7.2), `null`
/// claims left out, arrays as `[a b]`, objects as JSON text.
fn rendered_claims() -> Value {
    json!({
        "address": r#"{"city":"Paris","zip":"75001"}"#,
        "aud": "routewise-example",
        "email_verified": "true",
        "exp": "4102444800",
        "groups": "[admin ops]",
        "iat": "1764806400",
        "iss": "https://issuer.routewise.example",
        "level": "3",
        "ratio": "0.5",
        "scope": "pets:read pets:write",
        "sub": "user-42",
    })
}

fn start(build: Build, mock: &LambdaMock) -> Envoy {
    Envoy::start_with_lambdas_edited(
        build,
        CONFIG,
        &[],
        &[LambdaCluster::to_mock("lambda", mock, function::ECHO)],
        with_jwt_authn,
    )
}

/// The event the echo function answered with; `payload` (a forged or a verified payload header value) is in
/// no part of it.
#[track_caller]
fn echoed(envoy: &Envoy, mock: &LambdaMock, resp: &Response, payload: &str) -> Value {
    assert_eq!(
        resp.status,
        200,
        "client got {} {}\nEnvoy log:\n{}",
        resp.status,
        resp.text(),
        log_excerpt(&envoy.log())
    );
    let inv = mock.last_invocation_of(function::ECHO);
    assert!(
        resp.body == inv.body,
        "the client got another body than the event"
    );
    let raw = String::from_utf8_lossy(&inv.body).into_owned();
    assert!(
        !raw.contains(payload),
        "the payload header reached the event: {raw}"
    );
    inv.event()
}

/// §7.2 / §7.1 with §8: a token jwt_authn verified puts its claims in the event, 2.0
/// `requestContext.authorizer.jwt` (`claims` of strings, `scopes` from `scope`; `null` when unscoped) and
/// 1.0 `requestContext.authorizer.claims`; the payload header jwt_authn forwarded is not among the event's
/// headers, and neither is the token (jwt_authn removes it: `forward` is false).
fn s7_s8_claims_of_a_token_jwt_authn_verified_are_in_the_event(build: Build) {
    let mock = LambdaMock::start();
    let envoy = start(build, &mock);
    let valid = token("valid");
    let bearer = format!("Bearer {valid}");
    let payload = valid.split('.').nth(1).expect("a payload segment").to_string();

    let resp = envoy.send(Request::get("/secure/v2/pets/7").header("authorization", &bearer));
    let event = echoed(&envoy, &mock, &resp, &payload);
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"jwt": {"claims": rendered_claims(), "scopes": ["pets:read", "pets:write"]}}),
        "{event}"
    );
    assert_eq!(event["headers"].get("x-jwt-payload"), None, "{event}");
    assert_eq!(event["headers"].get("authorization"), None, "{event}");

    let resp = envoy.send(Request::get("/secure/v1/pets/7").header("authorization", &bearer));
    let event = echoed(&envoy, &mock, &resp, &payload);
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"claims": rendered_claims()}),
        "{event}"
    );
    assert_eq!(event["multiValueHeaders"].get("x-jwt-payload"), None, "{event}");

    let unscoped = token("unscoped");
    let unscoped_payload = unscoped.split('.').nth(1).expect("a payload segment").to_string();
    let resp =
        envoy.send(Request::get("/secure/v2/pets").header("authorization", &format!("Bearer {unscoped}")));
    let event = echoed(&envoy, &mock, &resp, &unscoped_payload);
    assert_eq!(
        event["requestContext"]["authorizer"]["jwt"]["scopes"],
        Value::Null,
        "§7.2: null when unscoped: {event}"
    );
    assert_eq!(
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
        "user-42"
    );
}

/// §8: trust comes from jwt_authn's dynamic metadata, which clients cannot write. On a path where jwt_authn
/// requires nothing, a client's own `x-jwt-payload` (claiming to be an admin) gives no authorizer and is
/// removed before the event is built; on a path that requires a token, the client's copy beside a valid
/// token never replaces the verified claims.
fn s8_a_forged_payload_header_is_ignored_and_removed(build: Build) {
    let mock = LambdaMock::start();
    let envoy = start(build, &mock);
    let forged_claims = json!({"sub": "admin", "scope": "everything"});
    let forged = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged_claims.to_string())
    };
    for headers in [
        vec![("x-jwt-payload", forged.clone())],
        vec![
            ("X-JWT-Payload", forged.clone()),
            ("x-jwt-payload", forged.clone()),
        ],
        // A valid token on a path where nothing is required: jwt_authn does not verify it, so no claims.
        vec![
            ("x-jwt-payload", forged.clone()),
            ("authorization", format!("Bearer {}", token("valid"))),
        ],
    ] {
        let mut req = Request::get("/open/pets");
        for (n, v) in &headers {
            req = req.header(n, v);
        }
        let event = echoed(&envoy, &mock, &envoy.send(req), &forged);
        assert_eq!(
            event["requestContext"].get("authorizer"),
            None,
            "{headers:?}: {event}"
        );
        assert_eq!(event["headers"].get("x-jwt-payload"), None, "{event}");
    }

    let valid = token("valid");
    let resp = envoy.send(
        Request::get("/secure/v2/pets")
            .header("x-jwt-payload", &forged)
            .header("authorization", &format!("Bearer {valid}")),
    );
    let event = echoed(&envoy, &mock, &resp, &forged);
    let authorizer = &event["requestContext"]["authorizer"];
    assert_ne!(authorizer["jwt"]["claims"]["sub"], "admin", "{event}");
    // jwt_authn removes the client's copy of its forward_payload_header before adding its own (§8.1): the
    // verified claims arrive. (Had two lines reached routewise, it would send none: pipeline::jwt.)
    assert_eq!(authorizer["jwt"]["claims"], rendered_claims(), "{event}");
}

/// §8.1: a token whose signature does not verify, or none on a path that requires one, is jwt_authn's 401;
/// the function is not invoked.
fn s8_a_bad_signature_or_no_token_is_jwt_authns_401(build: Build) {
    let mock = LambdaMock::start();
    let envoy = start(build, &mock);
    for req in [
        Request::get("/secure/v2/pets")
            .header("authorization", &format!("Bearer {}", token("bad_signature"))),
        Request::get("/secure/v1/pets"),
    ] {
        let resp = envoy.send(req);
        assert_eq!(resp.status, 401, "{}\n{}", resp.text(), log_excerpt(&envoy.log()));
        assert!(
            resp.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{:?}",
            resp.header("www-authenticate")
        );
    }
    assert!(
        mock.invocations_of(function::ECHO).is_empty(),
        "a refused request invoked the function"
    );
}

routewise_tests::both_builds!(
    s7_s8_claims_of_a_token_jwt_authn_verified_are_in_the_event,
    s8_a_forged_payload_header_is_ignored_and_removed,
    s8_a_bad_signature_or_no_token_is_jwt_authns_401,
);

/// The example's inline JWKS is the test key's public half (make.py writes both).
#[test]
fn the_examples_jwks_is_the_test_keys() {
    let inline = FILTER
        .lines()
        .find_map(|l| l.trim().strip_prefix("inline_string: '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("inline_string in the example");
    let a: Value = serde_json::from_str(inline).expect("JSON JWKS in the example");
    let b: Value = serde_json::from_str(JWKS).expect("jwks.json");
    assert_eq!(a, b);
    assert_eq!(tokens()["payload"]["exp"], 4_102_444_800u64, "far-future expiry");
}

/// `scripts/render_bootstrap.py --filter-before` (what `scripts/run --filter-before` passes) puts the example's
/// entry before routewise exactly as these tests do, for either build.
#[test]
fn render_bootstrap_filter_before_matches_the_tests_bootstrap() {
    let root = routewise_tests::envoy::workspace_root();
    let filters = |text: &str| -> String {
        let start = text.find("http_filters:").expect("http_filters");
        let end = text.find("# routewise:filter-begin").expect("the filter marker");
        text[start..end].to_string()
    };
    for build in [Build::Wasm, Build::DynamicModule] {
        let out = std::env::temp_dir().join(format!(
            "routewise-jwt-{}-{}.yaml",
            build.name(),
            std::process::id()
        ));
        let status = std::process::Command::new("python3")
            .arg(root.join("scripts/render_bootstrap.py"))
            .args([
                "--config",
                "envoy/examples/lambda-jwt.json",
                "--build",
                build.name(),
                "--wasm",
                "/x.wasm",
            ])
            .args(["--filter-before", "envoy/examples/jwt-authn-filter.yaml", "--out"])
            .arg(&out)
            .current_dir(&root)
            .status()
            .expect("run render_bootstrap.py");
        assert!(status.success());
        let python = std::fs::read_to_string(&out).expect("the rendered bootstrap");
        let _ = std::fs::remove_file(&out);
        let rust = with_jwt_authn(routewise_tests::envoy::render_bootstrap(
            build,
            CONFIG,
            "/x.wasm",
            1,
            2,
            &[],
        ));
        assert_eq!(filters(&python), filters(&rust), "{}", build.name());
        assert!(filters(&python).contains("envoy.filters.http.jwt_authn"));
    }
}
