//! The real hooks against [`crate::fake_envoy`]: the ABI mapping, and what a panic becomes.

use std::ffi::{c_void, CStr};

use crate::fake_envoy::{self, envoy_filter, with};
use crate::ffi::{status, Buf, Header};
use crate::hooks::*;

const CONFIG: &str = r#"{
  "domains": [{"name": "*", "api_mappings": [{"base_path": "shop", "api": "pets", "stage": "prod"}]}],
  "apis": [{"id": "pets", "stages": {"prod": {"integration": {"type": "http", "cluster": "pets_v1"}}},
            "routes": [{"id": "get", "key": "GET /pets/{id}"},
                       {"id": "fn", "key": "POST /fn", "integration": {"type": "lambda", "cluster": "lambda_fn"}}]}]
}"#;

fn config() -> *const c_void {
    envoy_dynamic_module_on_program_init();
    let c = envoy_dynamic_module_on_http_filter_config_new(
        std::ptr::null_mut(),
        Buf::of(b"routewise"),
        Buf::of(CONFIG.as_bytes()),
    );
    assert!(!c.is_null(), "{:?}", with(|f| f.logs.clone()));
    c
}

/// A stream of `config` whose request has `headers`.
fn stream(config: *const c_void, headers: &[(&str, &str)]) -> *const c_void {
    fake_envoy::reset(headers);
    let s = envoy_dynamic_module_on_http_filter_new(config, envoy_filter());
    assert!(!s.is_null());
    s
}

fn header(name: &str) -> Option<String> {
    with(|f| f.request.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
}

#[test]
fn program_init_returns_the_abi_version_of_envoy_1_40() {
    let v = envoy_dynamic_module_on_program_init();
    // SAFETY: a NUL-terminated static string.
    assert_eq!(unsafe { CStr::from_ptr(v) }.to_str(), Ok("v0.2.0"));
}

#[test]
fn config_new_defines_every_counter_and_a_bad_config_is_null_with_every_error_logged() {
    with(|f| f.counters.clear());
    let c = config();
    let names = with(|f| f.counters.clone());
    assert!(
        names.contains(&"routewise.requests.forwarded".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"routewise.lambda.throttled".to_string()));
    assert!(names.contains(&"routewise.route.pets.get.hits".to_string()));
    envoy_dynamic_module_on_http_filter_config_destroy(c);

    with(|f| f.logs.clear());
    envoy_dynamic_module_on_program_init();
    let bad = envoy_dynamic_module_on_http_filter_config_new(
        std::ptr::null_mut(),
        Buf::of(b"routewise"),
        Buf::of(br#"{"domains": [{"name": 7}], "apis": "x"}"#),
    );
    assert!(bad.is_null());
    let logs = with(|f| f.logs.clone());
    assert!(
        logs.iter()
            .any(|(_, l)| l.starts_with("routewise: configuration rejected (")),
        "{logs:?}"
    );
    let empty =
        envoy_dynamic_module_on_http_filter_config_new(std::ptr::null_mut(), Buf::of(b"x"), Buf::NULL);
    assert!(empty.is_null());
}

#[test]
fn a_routed_request_names_the_cluster_clears_the_route_cache_and_continues() {
    let c = config();
    let s = stream(
        c,
        &[
            (":method", "GET"),
            (":authority", "a.example"),
            (":path", "/shop/pets/7"),
            ("x-routewise-cluster", "spoofed"),
        ],
    );
    let st = envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
    assert_eq!(st, status::CONTINUE);
    assert_eq!(header("x-routewise-cluster").as_deref(), Some("pets_v1"));
    assert_eq!(header(":path").as_deref(), Some("/pets/7"));
    assert_eq!(with(|f| f.route_cache_cleared), 1);
    let state = with(|f| f.filter_state.clone());
    assert!(
        state.contains(&("routewise.route_id".into(), "get".into())),
        "{state:?}"
    );
    assert!(with(|f| f.replies.is_empty()));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn a_local_reply_goes_through_send_response_with_its_details_and_stops() {
    let c = config();
    let s = stream(
        c,
        &[
            (":method", "GET"),
            (":authority", "a"),
            (":path", "/shop/elsewhere"),
        ],
    );
    let st = envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
    assert_eq!(st, status::STOP_ITERATION);
    let replies = with(|f| f.replies.clone());
    assert_eq!(replies.len(), 1);
    let (code, headers, body, details) = &replies[0];
    assert_eq!(*code, 404);
    assert_eq!(
        headers,
        &[("content-type".to_string(), "application/json".to_string())]
    );
    assert_eq!(body, br#"{"message":"Not Found"}"#);
    assert_eq!(details, "routewise_no_route");
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn a_panic_in_a_request_hook_is_a_500_for_that_stream_and_the_next_stream_is_served() {
    let c = config();
    let get = [(":method", "GET"), (":authority", "a"), (":path", "/shop/pets/7")];
    let s = stream(c, &get);
    with(|f| f.panic_at = Some("request_headers"));
    let st = envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
    assert_eq!(st, status::STOP_ITERATION);
    let replies = with(|f| f.replies.clone());
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].0, 500);
    assert_eq!(replies[0].2, br#"{"message":"Internal Server Error"}"#);
    // The poisoned stream does nothing more.
    with(|f| f.panic_at = None);
    assert_eq!(
        envoy_dynamic_module_on_http_filter_request_body(envoy_filter(), s, true),
        status::STOP_AND_BUFFER
    );
    assert_eq!(with(|f| f.replies.len()), 1);
    envoy_dynamic_module_on_http_filter_destroy(s);

    let s = stream(c, &get);
    assert_eq!(
        envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true),
        status::CONTINUE
    );
    assert_eq!(header("x-routewise-cluster").as_deref(), Some("pets_v1"));
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn a_panic_in_a_response_hook_lets_the_response_go_on() {
    let c = config();
    let s = stream(
        c,
        &[(":method", "GET"), (":authority", "a"), (":path", "/shop/pets/7")],
    );
    envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
    with(|f| f.panic_at = Some("response_headers"));
    let st = envoy_dynamic_module_on_http_filter_response_headers(envoy_filter(), s, false);
    assert_eq!(st, status::CONTINUE);
    assert!(with(|f| f.replies.is_empty()));
    with(|f| f.panic_at = None);
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn l1_a_lambda_request_is_buffered_then_invoked_by_callout_and_answered() {
    let c = config();
    let s = stream(
        c,
        &[
            (":method", "POST"),
            (":authority", "a"),
            (":path", "/shop/fn"),
            ("content-type", "text/plain"),
        ],
    );
    assert_eq!(
        envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, false),
        status::STOP_ITERATION
    );
    with(|f| f.received_body = b"hello".to_vec());
    assert_eq!(
        envoy_dynamic_module_on_http_filter_request_body(envoy_filter(), s, true),
        status::STOP_AND_BUFFER
    );
    let calls = with(|f| f.callouts.clone());
    assert_eq!(calls.len(), 1);
    let (cluster, headers, body, timeout) = &calls[0];
    assert_eq!(cluster, "lambda_fn");
    assert!(headers.contains(&(":method".to_string(), "POST".to_string())));
    assert_eq!(*timeout, 29_000);
    let event: serde_json::Value = serde_json::from_slice(body).expect("JSON event");
    assert_eq!(event["body"], "hello");

    let answer = br#"{"statusCode":201,"body":"made"}"#;
    let status_line = [Header::of(":status", "200")];
    let chunks = [Buf::of(&answer[..10]), Buf::of(&answer[10..])];
    envoy_dynamic_module_on_http_filter_http_callout_done(
        envoy_filter(),
        s,
        1,
        0,
        status_line.as_ptr(),
        1,
        chunks.as_ptr(),
        2,
    );
    let replies = with(|f| f.replies.clone());
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, 201);
    assert_eq!(replies[0].2, b"made");
    assert_eq!(replies[0].3, "routewise_lambda");

    // A failed call is 502.
    let s2 = stream(
        c,
        &[(":method", "POST"), (":authority", "a"), (":path", "/shop/fn")],
    );
    envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s2, true);
    envoy_dynamic_module_on_http_filter_http_callout_done(
        envoy_filter(),
        s2,
        1,
        1,
        std::ptr::null(),
        0,
        std::ptr::null(),
        0,
    );
    assert_eq!(with(|f| f.replies.first().map(|r| r.0)), Some(502));
    envoy_dynamic_module_on_http_filter_destroy(s2);
    envoy_dynamic_module_on_http_filter_destroy(s);
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

/// lambda-streaming.md §8.3, §8.4: the module reads jwt_authn's verified payload from the payload header
/// only when the namespace's key list (`get_metadata_keys`) has the `payload_in_metadata` key; the header is
/// removed either way (§7.2: 2.0 `authorizer.jwt`).
#[test]
fn s8_3_jwt_claims_need_jwt_authn_metadata_and_the_payload_header_is_removed() {
    envoy_dynamic_module_on_program_init();
    let cfg = r#"{"domains": [{"name": "*", "api_mappings": [{"api": "fn", "stage": "prod"}]}],
      "apis": [{"id": "fn", "stages": {"prod": {}}, "routes": [{"key": "ANY /{proxy+}",
        "integration": {"type": "lambda", "cluster": "lambda_fn", "jwt": {"payload_header": "x-claims"}}}]}]}"#;
    let c = envoy_dynamic_module_on_http_filter_config_new(
        std::ptr::null_mut(),
        Buf::of(b"routewise"),
        Buf::of(cfg.as_bytes()),
    );
    assert!(!c.is_null(), "{:?}", with(|f| f.logs.clone()));
    // {"sub":"u1","scope":"a b"}
    let payload = "eyJzdWIiOiJ1MSIsInNjb3BlIjoiYSBiIn0";
    for (metadata, want) in [
        (
            vec![
                ("envoy.filters.http.jwt_authn", "jwt_header"),
                ("envoy.filters.http.jwt_authn", "jwt_payload"),
            ],
            serde_json::json!({"jwt": {"claims": {"scope": "a b", "sub": "u1"}, "scopes": ["a", "b"]}}),
        ),
        (
            vec![("envoy.filters.http.jwt_authn", "other")],
            serde_json::Value::Null,
        ),
        (vec![("other", "jwt_payload")], serde_json::Value::Null),
        (vec![], serde_json::Value::Null),
    ] {
        let s = stream(
            c,
            &[
                (":method", "GET"),
                (":authority", "a"),
                (":path", "/x"),
                ("x-claims", payload),
            ],
        );
        with(|f| {
            f.dynamic_metadata = metadata
                .iter()
                .map(|(n, k)| (n.to_string(), k.to_string()))
                .collect()
        });
        envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), s, true);
        assert_eq!(header("x-claims"), None, "{metadata:?}");
        let calls = with(|f| f.callouts.clone());
        assert_eq!(calls.len(), 1, "{metadata:?}");
        let event: serde_json::Value = serde_json::from_slice(&calls[0].2).expect("JSON event");
        assert_eq!(event["requestContext"]["authorizer"], want, "{metadata:?}");
        assert_eq!(event["headers"].get("x-claims"), None);
        envoy_dynamic_module_on_http_filter_destroy(s);
    }
    envoy_dynamic_module_on_http_filter_config_destroy(c);
}

#[test]
fn null_pointers_from_envoy_are_no_ops() {
    assert!(envoy_dynamic_module_on_http_filter_new(std::ptr::null(), envoy_filter()).is_null());
    assert_eq!(
        envoy_dynamic_module_on_http_filter_request_headers(envoy_filter(), std::ptr::null(), true),
        status::CONTINUE
    );
    envoy_dynamic_module_on_http_filter_destroy(std::ptr::null());
    envoy_dynamic_module_on_http_filter_config_destroy(std::ptr::null());
}

/// The `dm_ffi` fuzz target's known configs load (else the target would only ever fuzz a refused config).
#[test]
fn dm_ffi_fuzz_configs_are_valid() {
    envoy_dynamic_module_on_program_init();
    for config in crate::fuzz::CONFIGS.iter().chain([&crate::fuzz::STREAM]) {
        let c = envoy_dynamic_module_on_http_filter_config_new(
            std::ptr::null_mut(),
            Buf::of(b"routewise"),
            Buf::of(config.as_bytes()),
        );
        assert!(!c.is_null(), "{:?}", with(|f| f.logs.clone()));
        envoy_dynamic_module_on_http_filter_config_destroy(c);
    }
}

/// Replays every file of `filter/fuzz/corpus/dm_ffi/` and `filter/fuzz/regressions/dm_ffi/` through the
/// `dm_ffi` fuzz target (crate::fuzz), on stable, in `cargo test --workspace`.
#[test]
fn dm_ffi_fuzz_corpus_and_regressions_replay() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    let mut failed = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join("dm_ffi")) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files.into_iter().filter(|p| p.is_file()) {
            let data = std::fs::read(&file).expect("readable");
            if std::panic::catch_unwind(|| crate::fuzz::dm_ffi(&data)).is_err() {
                failed.push(file.display().to_string());
            }
            n += 1;
        }
    }
    assert!(n > 0, "dm_ffi: no corpus and no regression inputs to replay");
    assert!(
        failed.is_empty(),
        "dm_ffi: {} of {n} inputs fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The `dm_ffi` target's streaming half (flag 0x20) on generated inputs: a GET that reaches the STREAM
/// route and a `200` from Lambda (a fixed prefix), then pseudo-random pieces (raw bytes, PayloadChunks with
/// and without a prelude, InvokeComplete, resets, completions, other ids). Any broken invariant panics
/// (crate::fuzz::check): at most one answer, no body after the end, no client reset without a head or
/// after the end, well-formed heads (lambda-streaming.md §4, §6).
#[test]
fn dm_ffi_streaming_inputs_hold_the_invariants() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut heads = 0;
    let mut resets = 0;
    for i in 0..3000u32 {
        let flags = 0x22 | if i % 4 == 0 { 0x40 } else { 0 };
        let mut input = vec![flags, 0, 0, 3, 1, b'a', 1, 0, 0, 0, 0, 0, 3, 3, b'2', b'0', b'0'];
        input.extend([3, 16]);
        input.extend(b"x-amzn-requestid");
        input.extend([3, 1, b'r']);
        for _ in 0..(64 + i % 512) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            input.push((x >> 24) as u8);
        }
        crate::fuzz::dm_ffi(&input);
        with(|f| {
            heads += f.written.len();
            resets += f.client_resets.len();
        });
    }
    // The generator reaches what it is for: streamed heads, and client resets after them.
    assert!(heads > 50, "only {heads} heads written");
    assert!(resets > 10, "only {resets} client resets");
}
