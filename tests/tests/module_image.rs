//! The Envoy image with the dynamic module baked in (`scripts/module-image`: `routewise-envoy-module:<crate
//! version>` FROM the local `routewise-envoy:1.40.0`, the `.so` at `/usr/local/lib/routewise/`,
//! `ENVOY_DYNAMIC_MODULES_SEARCH_PATH` set by the image; `envoy/deploy/README.md`, "The dynamic module").
//!
//! Each test starts THAT image with nothing mounted but the bootstrap (no `.so` from the host, no environment
//! from the test unless it says so), and routes requests of the deploy manifests' config to echo upstreams:
//! - with the bootstrap template's dynamic-module entry (`name: routewise_module`, found through the image's
//!   search path), which is also the entry the Istio EnvoyFilter inserts (`deploy_manifests.rs`);
//! - with the entry Envoy Gateway generates from `envoy-gateway-envoyproxy.yaml` and
//!   `envoy-gateway-dynamicmodule-policy.yaml` (the module by its path in the image, `module.local.filename`),
//!   with the search path pointed elsewhere.
//!
//! Needs a Docker engine and `routewise-envoy:1.40.0` (`scripts/setup`); fails, never skips, without them.

use routewise_tests::deploy::{
    envoy_gateway_filter_entry, Crd, DYNAMIC_MODULE_POLICY_MANIFEST, ENVOYFILTER_MANIFEST,
    ENVOYPROXY_MANIFEST,
};
use routewise_tests::envoy::{log_excerpt, render_bootstrap, Build, Refused};
use routewise_tests::module_image::{module_image, ImageEnvoy, MODULE_PATH, REPOSITORY};
use routewise_tests::{EchoUpstream, Request, Response};
use serde_json::Value;

/// The routewise config every deploy manifest carries (the EnvoyFilter's string, as the filter gets it).
fn manifest_config() -> String {
    let doc: Value = serde_norway::from_str(ENVOYFILTER_MANIFEST).expect("YAML");
    doc["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["filter_config"]["value"]
        .as_str()
        .expect("the EnvoyFilter's config string")
        .to_string()
}

/// The bootstrap for the two upstreams, with the template's dynamic-module entry or, with `entry`, that filter
/// entry in its place (between the `routewise:filter` markers, as one JSON = YAML flow line).
fn bootstrap(config: &str, ups: &[&EchoUpstream], entry: Option<&Value>, listen: u16, admin: u16) -> String {
    let clusters: Vec<(String, u16)> = ups.iter().map(|u| (u.name().to_string(), u.port())).collect();
    let out = render_bootstrap(
        Build::DynamicModule,
        config,
        "/unused.wasm",
        listen,
        admin,
        &clusters,
    );
    let Some(entry) = entry else { return out };
    let (mut replaced, mut inside) = (String::new(), false);
    for line in out.split_inclusive('\n') {
        let mark = line.trim();
        if mark.starts_with("# routewise:filter-begin") {
            let indent = &line[..line.len() - line.trim_start().len()];
            replaced.push_str(line);
            replaced.push_str(&format!("{indent}- {entry}\n"));
            inside = true;
        } else if mark.starts_with("# routewise:filter-end") {
            replaced.push_str(line);
            inside = false;
        } else if !inside {
            replaced.push_str(line);
        }
    }
    replaced
}

fn start(env: &[(&str, &str)], entry: Option<&Value>, ups: &[&EchoUpstream]) -> ImageEnvoy {
    let image = module_image();
    assert_eq!(image.name(), REPOSITORY);
    assert_eq!(image.tag(), env!("CARGO_PKG_VERSION"));
    let config = manifest_config();
    match ImageEnvoy::start(image.name(), image.tag(), env, |listen, admin| {
        bootstrap(&config, ups, entry, listen, admin)
    }) {
        Ok(envoy) => envoy,
        Err(Refused { exit_code, log }) => panic!(
            "Envoy from {} did not start (exit code {exit_code:?}). Its log:\n{}",
            image.reference,
            log_excerpt(&log)
        ),
    }
}

/// The request reached `up` with `path`, the filter having named `up` in the cluster header; the access log
/// has the filter's route id.
#[track_caller]
fn assert_routed(envoy: &ImageEnvoy, resp: &Response, up: &EchoUpstream, path: &str, route_id: &str) {
    assert_eq!(
        resp.status,
        200,
        "expected {} to answer; got {} {}\nEnvoy's log:\n{}",
        up.name(),
        resp.status,
        resp.text(),
        log_excerpt(&envoy.log())
    );
    assert_eq!(resp.upstream().as_deref(), Some(up.name()), "{}", resp.text());
    let tag = resp.header("x-test-log-tag").expect("tagged");
    let got = up.request_tagged(tag).expect("the upstream recorded the request");
    assert_eq!(got.path, path);
    assert_eq!(got.header("x-routewise-cluster"), Some(up.name()));
    let log = envoy.access_log_for(resp);
    assert_eq!(log["route_id"], route_id, "{log}");
    assert_eq!(log["upstream_cluster"], up.name(), "{log}");
}

fn send_both(envoy: &ImageEnvoy, products: &EchoUpstream, orders: &EchoUpstream) {
    let resp = envoy.send(Request::get("/products/42").host("api.example.com"));
    assert_routed(envoy, &resp, products, "/products/42", "get-product");
    let resp = envoy.send(Request::get("/orders/17").host("api.example.com"));
    assert_routed(envoy, &resp, orders, "/17", "get-order");
    assert_eq!(
        envoy
            .stat("dynamicmodulescustom.routewise.requests.forwarded")
            .as_deref(),
        Some("2")
    );
}

/// The template's entry (`dynamic_module_config.name: routewise_module`): Envoy finds the module through the
/// image's own ENVOY_DYNAMIC_MODULES_SEARCH_PATH, accepts its ABI version, and the filter routes.
#[test]
fn the_module_image_loads_the_module_by_name_from_its_search_path_and_routes() {
    let (products, orders) = (EchoUpstream::start("products"), EchoUpstream::start("orders"));
    let envoy = start(&[], None, &[&products, &orders]);
    let log = envoy.log();
    assert!(
        log.contains("Dynamic module ABI version v0.2.0 matched"),
        "{}",
        log_excerpt(&log)
    );
    send_both(&envoy, &products, &orders);
}

/// The entry Envoy Gateway generates from the EnvoyProxy and the policy: the module by its absolute path in the
/// image (the search path points at an empty directory, so nothing else could be found).
#[test]
fn the_module_image_runs_the_filter_entry_envoy_gateway_generates_from_the_manifests() {
    let policy = routewise_tests::deploy::check(Crd::EnvoyExtensionPolicy, DYNAMIC_MODULE_POLICY_MANIFEST)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let proxy = routewise_tests::deploy::check(Crd::EnvoyProxy, ENVOYPROXY_MANIFEST)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let entry = envoy_gateway_filter_entry(&policy, &proxy, 0).expect("the filter entry");
    assert_eq!(
        entry["typed_config"]["dynamic_module_config"]["module"]["local"]["filename"],
        MODULE_PATH
    );
    let (products, orders) = (EchoUpstream::start("products"), EchoUpstream::start("orders"));
    let envoy = start(
        &[("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", "/nonexistent")],
        Some(&entry),
        &[&products, &orders],
    );
    send_both(&envoy, &products, &orders);
}
