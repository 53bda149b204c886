//! `response_transfer_mode` (issue 15, response streaming; lambda-streaming.md §2, §5): the option's
//! validation with field paths, the `InvokeWithResponseStream` path it compiles to, and the configure-time
//! refusal of a build that cannot stream.

use routewise::decision::Integration;
use routewise::engine::Engine;
use routewise::pipeline::{Build, FilterConfig, Rejected};
use serde_json::{json, Value};

/// One API whose stage has `integration` and whose second route has `route_integration`.
fn config(stage: Value, route: Option<Value>) -> String {
    let mut routes = vec![json!({"key": "GET /a"})];
    let mut second = json!({"key": "GET /b"});
    if let Some(r) = route {
        second["integration"] = r;
    }
    routes.push(second);
    json!({
        "domains": [{"name": "*", "api_mappings": [{"id": "m", "base_path": "", "api": "pets", "stage": "prod"}]}],
        "apis": [{"id": "pets", "routes": routes, "stages": {"prod": {"integration": stage}}}]
    })
    .to_string()
}

fn errors(text: &str) -> Vec<String> {
    match Engine::from_json(text) {
        Ok(_) => vec![],
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

fn stream_path(engine: &Engine) -> Vec<Option<String>> {
    engine
        .apis()
        .iter()
        .flat_map(|a| a.stages.iter().filter_map(|s| s.integration.as_ref()))
        .map(|i| match i {
            Integration::Lambda(l) => l.stream_path.as_deref().map(str::to_string),
            Integration::Http { .. } => None,
        })
        .collect()
}

#[test]
fn buffered_is_the_default_and_stream_compiles_to_the_2021_11_15_path() {
    // §2: POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations.
    let buffered =
        Engine::from_json(&config(json!({"type": "lambda", "cluster": "lambda_a"}), None)).unwrap();
    assert_eq!(stream_path(&buffered), [None]);
    assert!(buffered.stream_integrations().is_empty());

    let explicit = json!({"type": "lambda", "cluster": "c", "response_transfer_mode": "BUFFERED"});
    assert_eq!(
        stream_path(&Engine::from_json(&config(explicit, None)).unwrap()),
        [None]
    );

    let arn = "arn:aws:lambda:us-east-1:123456789012:function:pets:live";
    let stream = json!({"type": "lambda", "cluster": "lambda_stream", "response_transfer_mode": "STREAM",
                        "function_name": arn});
    let engine = Engine::from_json(&config(stream, None)).unwrap();
    assert_eq!(
        stream_path(&engine),
        [Some(format!(
            "/2021-11-15/functions/{arn}/response-streaming-invocations"
        ))]
    );
    assert_eq!(engine.stream_integrations(), ["apis[0].stages.prod.integration"]);
}

#[test]
fn bad_values_are_reported_with_their_field_paths() {
    let lambda = |extra: Value| {
        let mut i = json!({"type": "lambda", "cluster": "c"});
        for (k, v) in extra.as_object().unwrap() {
            i[k] = v.clone();
        }
        i
    };
    let cases = [
        (
            json!({"response_transfer_mode": "stream"}),
            "apis[0].routes[1].integration.response_transfer_mode: `stream` is invalid: use \"BUFFERED\" or \"STREAM\"",
        ),
        (
            json!({"response_transfer_mode": "STREAM"}),
            "apis[0].routes[1].integration.function_name: no function_name: response_transfer_mode \"STREAM\" calls \
             POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations itself: set function_name to \
             the function's name or ARN",
        ),
        (
            json!({"response_transfer_mode": "STREAM", "function_name": "a/b"}),
            "apis[0].routes[1].integration.function_name: `a/b` is invalid: use 1 to 256 characters of A-Z a-z 0-9 - \
             _ . : $ (a function name or ARN)",
        ),
        (
            json!({"response_transfer_mode": "STREAM", "function_name": ""}),
            "apis[0].routes[1].integration.function_name: `` is invalid: use 1 to 256 characters of A-Z a-z 0-9 - _ \
             . : $ (a function name or ARN)",
        ),
        (
            json!({"function_name": "pets"}),
            "apis[0].routes[1].integration.function_name: function_name is used with response_transfer_mode \
             \"STREAM\" only; a buffered invocation calls the function of the cluster's aws_lambda filter",
        ),
    ];
    for (extra, want) in cases {
        let text = config(
            json!({"type": "lambda", "cluster": "s"}),
            Some(lambda(extra.clone())),
        );
        assert_eq!(errors(&text), [want], "{extra}");
    }
    let long = "f".repeat(257);
    let text = config(
        json!({"type": "lambda", "cluster": "s"}),
        Some(lambda(
            json!({"response_transfer_mode": "STREAM", "function_name": long}),
        )),
    );
    assert_eq!(errors(&text).len(), 1);
}

fn stream_config() -> String {
    config(
        json!({"type": "lambda", "cluster": "lambda_a", "response_transfer_mode": "STREAM", "function_name": "a"}),
        Some(
            json!({"type": "lambda", "cluster": "lambda_b", "response_transfer_mode": "STREAM",
                    "function_name": "b"}),
        ),
    )
}

#[test]
fn the_proxy_wasm_build_refuses_stream_at_configure_time_with_each_path_and_the_reason_the_module_takes_it() {
    let Err(Rejected::Invalid(errors)) =
        FilterConfig::from_bytes_for(stream_config().as_bytes(), Build::ProxyWasm)
    else {
        panic!("STREAM must be refused by the proxy-wasm build");
    };
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let reason = "\"STREAM\" is not supported by the proxy-wasm build: proxy-wasm delivers an http call's response \
                  only once it is complete (proxy_on_http_call_response) and sends a local reply in one piece \
                  (proxy_send_local_response); use the dynamic module, or \"BUFFERED\"";
    assert_eq!(
        lines,
        [
            format!("apis[0].stages.prod.integration.response_transfer_mode: {reason}"),
            format!("apis[0].routes[1].integration.response_transfer_mode: {reason}"),
        ]
    );
    // The dynamic module streams (pipeline::lambda_stream over start_http_stream / send_response_data).
    let loaded = FilterConfig::from_bytes_for(stream_config().as_bytes(), Build::DynamicModule)
        .expect("the dynamic-module build takes STREAM");
    assert_eq!(loaded.engine.stream_integrations().len(), 2);
    assert_eq!(Build::DynamicModule.cannot_stream(), None);
    // The same document is valid (routewise validate) and a buffered one is taken by every build.
    assert!(FilterConfig::from_bytes(stream_config().as_bytes()).is_ok());
    let buffered = config(json!({"type": "lambda", "cluster": "lambda_a"}), None);
    for build in [Build::ProxyWasm, Build::DynamicModule] {
        assert!(
            FilterConfig::from_bytes_for(buffered.as_bytes(), build).is_ok(),
            "{build:?}"
        );
    }
}
