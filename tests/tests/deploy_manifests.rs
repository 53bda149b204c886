//! The deploy manifests (`envoy/deploy/*.yaml.tmpl`, `proxy-wasm-host.md` §4.2, §4.3, §3.6) rendered with an
//! image digest and checked against the CRDs' published OpenAPI schemas (`tests/data/crd/`), kubectl's
//! strict field validation, the CEL rules that concern them, and routewise's own config parser
//! (`routewise_tests::deploy`). The round trip through a real registry renders them with the pushed digest
//! too (`oci_image.rs`).
//!
//! The dynamic module's manifests (`envoy/deploy/*.yaml`, no placeholders; `dynamic-modules.md` "Deployment"):
//! the Istio EnvoyFilter, the Envoy Gateway EnvoyProxy (module image, allow-list) and EnvoyExtensionPolicy
//! (`dynamicModule`), checked the same way, plus what ties them to the module image and the bootstrap template
//! (the filter entry, the module's path, the allow-list). `module_image.rs` runs their filter entries in the image.

use routewise_cli::oci::{render_deploy_template, Digest, Image};
use routewise_tests::deploy::{
    check, dynamic_module_allowlist_errors, envoy_filter_entries, envoy_gateway_filter_entry,
    routewise_config_errors, Crd, DYNAMIC_MODULE_POLICY_MANIFEST, ENVOYFILTER_MANIFEST, ENVOYPROXY_MANIFEST,
    EXTENSION_POLICY_TEMPLATE, WASMPLUGIN_TEMPLATE,
};
use routewise_tests::envoy::{render_bootstrap, Build};
use routewise_tests::module_image::{MODULE_PATH, REPOSITORY};
use serde_json::{json, Value};

const IMAGE: &str = "registry.example.com/team/routewise";

/// The digest of a real (if minimal) image: the same kind of value `routewise image build` prints.
fn digest() -> Digest {
    Image::compat(b"\0asm\x01\0\0\0").expect("image").digest().clone()
}

fn render(template: &str) -> String {
    render_deploy_template(template, IMAGE, &digest()).expect("render")
}

#[track_caller]
fn assert_valid(crd: Crd, yaml: &str) -> Value {
    match check(crd, yaml) {
        Ok(doc) => doc,
        Err(errors) => panic!("{crd:?} manifest rejected:\n{}\n---\n{yaml}", errors.join("\n")),
    }
}

#[track_caller]
fn assert_rejected(crd: Crd, yaml: &str, needle: &str) {
    match check(crd, yaml) {
        Ok(_) => panic!("{crd:?} manifest accepted, expected an error containing {needle:?}:\n{yaml}"),
        Err(errors) => assert!(
            errors.iter().any(|e| e.contains(needle)),
            "no error containing {needle:?} among:\n{}",
            errors.join("\n")
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The shipped manifests

/// §4.2: `url` pins the image by digest, `sha256` repeats it (Istio compares it with the manifest digest);
/// §3.6: the failure strategy is explicit.
#[test]
fn istio_wasmplugin_validates_and_pins_the_image_by_digest() {
    let doc = assert_valid(Crd::IstioWasmPlugin, &render(WASMPLUGIN_TEMPLATE));
    let d = digest();
    assert_eq!(doc["spec"]["url"], format!("oci://{IMAGE}@{d}"));
    assert_eq!(doc["spec"]["sha256"], d.hex());
    assert_eq!(doc["spec"]["failStrategy"], "FAIL_CLOSE");
    assert_eq!(doc["spec"]["type"], "HTTP");
}

/// §4.3: `image.url` pins the image by digest and `image.sha256` must match it; §3.6: `failOpen` explicit.
#[test]
fn envoy_gateway_extension_policy_validates_and_pins_the_image_by_digest() {
    let doc = assert_valid(Crd::EnvoyExtensionPolicy, &render(EXTENSION_POLICY_TEMPLATE));
    let d = digest();
    let wasm = &doc["spec"]["wasm"][0];
    assert_eq!(wasm["code"]["type"], "Image");
    assert_eq!(wasm["code"]["image"]["url"], format!("{IMAGE}@{d}"));
    assert_eq!(wasm["code"]["image"]["sha256"], d.hex());
    assert_eq!(wasm["failOpen"], false);
}

#[test]
fn every_manifest_carries_the_same_routewise_config_and_it_validates() {
    let istio = assert_valid(Crd::IstioWasmPlugin, &render(WASMPLUGIN_TEMPLATE));
    let eg = assert_valid(Crd::EnvoyExtensionPolicy, &render(EXTENSION_POLICY_TEMPLATE));
    let a = &istio["spec"]["pluginConfig"];
    assert_eq!(a, &eg["spec"]["wasm"][0]["config"]);
    assert_eq!(routewise_config_errors(a), Vec::<String>::new());
    // The header the routing comments tell VirtualServices and HTTPRoutes to match on.
    assert_eq!(a["cluster_header"], "x-routewise-cluster");
    // The dynamic module's manifests: the same document (the EnvoyFilter's as the JSON string it hands over).
    let policy = assert_valid(Crd::EnvoyExtensionPolicy, DYNAMIC_MODULE_POLICY_MANIFEST);
    assert_eq!(a, &policy["spec"]["dynamicModule"][0]["config"]);
    let filter = assert_valid(Crd::IstioEnvoyFilter, ENVOYFILTER_MANIFEST);
    let configs = Crd::IstioEnvoyFilter.plugin_configs(&filter);
    assert_eq!(configs.len(), 1, "{configs:?}");
    assert_eq!(
        configs[0].0,
        "spec.configPatches[0].patch.value.typed_config.filter_config.value"
    );
    assert_eq!(&configs[0].1, a);
}

#[test]
fn rendering_leaves_no_placeholder() {
    for t in [WASMPLUGIN_TEMPLATE, EXTENSION_POLICY_TEMPLATE] {
        let out = render(t);
        assert!(!out.contains("{{"), "{out}");
        assert!(out.contains(&digest().to_string()));
    }
}

// ---------------------------------------------------------------------------------------------------------
// The checker catches what a cluster or the filter would reject (else the tests above prove nothing)

fn mutate(crd: Crd, f: impl FnOnce(&mut Value)) -> String {
    let template = match crd {
        Crd::IstioWasmPlugin => WASMPLUGIN_TEMPLATE,
        Crd::EnvoyExtensionPolicy => EXTENSION_POLICY_TEMPLATE,
        Crd::IstioEnvoyFilter | Crd::EnvoyProxy => panic!("{crd:?} has no template: use mutate_yaml"),
    };
    mutate_yaml(&render(template), f)
}

/// `yaml` (one document) changed by `f`.
fn mutate_yaml(yaml: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = serde_norway::from_str(yaml).expect("YAML");
    f(&mut doc);
    serde_norway::to_string(&doc).expect("YAML")
}

#[test]
fn a_misspelt_field_is_an_unknown_field() {
    let yaml = mutate(Crd::IstioWasmPlugin, |d| {
        d["spec"]["failStategy"] = json!("FAIL_OPEN");
    });
    assert_rejected(Crd::IstioWasmPlugin, &yaml, "spec.failStategy: unknown field");
    let yaml = mutate(Crd::EnvoyExtensionPolicy, |d| {
        d["spec"]["wasm"][0]["code"]["image"]["digest"] = json!("x");
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &yaml,
        "spec.wasm[0].code.image.digest: unknown field",
    );
}

#[test]
fn values_outside_the_schema_are_rejected() {
    let yaml = mutate(Crd::IstioWasmPlugin, |d| {
        d["spec"]["failStrategy"] = json!("FAIL_SOMETIMES")
    });
    assert_rejected(Crd::IstioWasmPlugin, &yaml, "spec.failStrategy");
    let yaml = mutate(Crd::IstioWasmPlugin, |d| {
        d["spec"]["sha256"] = json!("sha256:abc")
    });
    assert_rejected(Crd::IstioWasmPlugin, &yaml, "spec.sha256");
    let yaml = mutate(Crd::EnvoyExtensionPolicy, |d| {
        d["spec"]["wasm"][0]["failOpen"] = json!("no")
    });
    assert_rejected(Crd::EnvoyExtensionPolicy, &yaml, "spec.wasm.0.failOpen");
    let yaml = mutate(Crd::EnvoyExtensionPolicy, |d| {
        d["spec"]["wasm"][0].as_object_mut().unwrap().remove("code");
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &yaml,
        "\"code\" is a required property",
    );
}

#[test]
fn the_cel_rules_that_concern_the_manifests_are_checked() {
    let yaml = mutate(Crd::IstioWasmPlugin, |d| {
        d["spec"]["targetRefs"] =
            json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]);
    });
    assert_rejected(Crd::IstioWasmPlugin, &yaml, "only one of targetRefs or selector");
    let yaml = mutate(Crd::EnvoyExtensionPolicy, |d| {
        d["spec"]["targetRefs"][0]["kind"] = json!("Service")
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &yaml,
        "spec.targetRefs[0].kind must be one of",
    );
    let yaml = mutate(Crd::EnvoyExtensionPolicy, |d| {
        d["spec"]["wasm"][0]["code"]["type"] = json!("HTTP")
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &yaml,
        "`image` must be set exactly when type is Image",
    );
}

#[test]
fn a_routewise_config_error_is_reported_with_its_path() {
    let yaml = mutate(Crd::IstioWasmPlugin, |d| {
        d["spec"]["pluginConfig"]["domains"][0]["api_mappings"][0]["strip_basepath"] = json!(true);
    });
    assert_rejected(
        Crd::IstioWasmPlugin,
        &yaml,
        "spec.pluginConfig: domains[0].api_mappings[0]",
    );
    let yaml = mutate(Crd::EnvoyExtensionPolicy, |d| {
        d["spec"]["wasm"][0]["config"]["domains"][0]["api_mappings"][0]["api"] = json!("nowhere");
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &yaml,
        "spec.wasm[0].config: domains[0].api_mappings[0]",
    );
}

// ---------------------------------------------------------------------------------------------------------
// The dynamic module's manifests (envoy/deploy/*.yaml)

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).expect("YAML")
}

/// The bootstrap template's dynamic-module filter entry (`routewise:build dynamic-module`), rendered with
/// `config`, as the container tests run it.
fn template_filter_entry(config: &str) -> Value {
    let bootstrap = yaml(&render_bootstrap(
        Build::DynamicModule,
        config,
        "/unused.wasm",
        10000,
        9901,
        &[],
    ));
    let filters = bootstrap
        .pointer("/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters")
        .and_then(Value::as_array)
        .expect("http_filters in the bootstrap");
    filters
        .iter()
        .find(|f| f["name"] == "routewise")
        .cloned()
        .expect("the routewise filter entry")
}

/// The EnvoyFilter inserts, before the router of the gateway's HTTP connection managers, exactly the bootstrap
/// template's dynamic-module entry (the one every containerised suite runs), with its config.
#[test]
fn istio_envoyfilter_validates_and_inserts_the_templates_dynamic_module_entry_before_the_router() {
    let doc = assert_valid(Crd::IstioEnvoyFilter, ENVOYFILTER_MANIFEST);
    assert_eq!(
        doc["spec"]["workloadSelector"]["labels"]["istio"],
        "ingressgateway"
    );
    let patch = &doc["spec"]["configPatches"][0];
    assert_eq!(patch["applyTo"], "HTTP_FILTER");
    assert_eq!(patch["match"]["context"], "GATEWAY");
    let chain = &patch["match"]["listener"]["filterChain"]["filter"];
    assert_eq!(chain["name"], "envoy.filters.network.http_connection_manager");
    assert_eq!(chain["subFilter"]["name"], "envoy.filters.http.router");
    assert_eq!(patch["patch"]["operation"], "INSERT_BEFORE");
    let entries = envoy_filter_entries(&doc);
    assert_eq!(entries.len(), 1);
    let entry = &entries[0].1;
    let config = entry["typed_config"]["filter_config"]["value"]
        .as_str()
        .expect("the config as a string");
    assert_eq!(entry, &template_filter_entry(config));
}

/// The EnvoyProxy runs the module image (this crate version's tag) and allow-lists the module at the path the
/// image puts it (`module_image.rs` loads it from there), never unloaded.
#[test]
fn envoy_gateway_envoyproxy_validates_and_allow_lists_the_module_at_the_images_path() {
    let doc = assert_valid(Crd::EnvoyProxy, ENVOYPROXY_MANIFEST);
    let image = doc["spec"]["provider"]["kubernetes"]["envoyDeployment"]["container"]["image"]
        .as_str()
        .expect("container.image");
    assert!(
        image.ends_with(&format!("/{REPOSITORY}:{}", env!("CARGO_PKG_VERSION"))),
        "{image}"
    );
    let module = &doc["spec"]["dynamicModules"][0];
    assert_eq!(module["name"], "routewise");
    assert_eq!(module["source"]["type"], "Local");
    assert_eq!(module["source"]["local"]["path"], MODULE_PATH);
    assert_eq!(module["doNotClose"], true);
}

/// The policy's module is the one the EnvoyProxy allow-lists, and Envoy Gateway's filter entry for it loads the
/// .so by the image's path with routewise's filter and config.
#[test]
fn envoy_gateway_dynamic_module_policy_validates_and_names_an_allow_listed_module() {
    let policy = assert_valid(Crd::EnvoyExtensionPolicy, DYNAMIC_MODULE_POLICY_MANIFEST);
    let proxy = assert_valid(Crd::EnvoyProxy, ENVOYPROXY_MANIFEST);
    assert_eq!(policy["spec"]["targetRefs"][0]["name"], "eg");
    assert!(policy["spec"].get("wasm").is_none());
    assert_eq!(
        dynamic_module_allowlist_errors(&policy, &proxy),
        Vec::<String>::new()
    );
    let entry = envoy_gateway_filter_entry(&policy, &proxy, 0).expect("the filter entry");
    let typed = &entry["typed_config"];
    assert_eq!(
        typed["dynamic_module_config"]["module"]["local"]["filename"],
        MODULE_PATH
    );
    assert_eq!(typed["dynamic_module_config"]["do_not_close"], true);
    assert_eq!(typed["filter_name"], "routewise");
    let config: Value =
        serde_json::from_str(typed["filter_config"]["value"].as_str().expect("StringValue")).expect("JSON");
    assert_eq!(config, policy["spec"]["dynamicModule"][0]["config"]);
}

/// Not templates: nothing to fill in, so `routewise image render` would leave them as they are.
#[test]
fn the_dynamic_module_manifests_have_no_placeholders() {
    for m in [
        ENVOYFILTER_MANIFEST,
        ENVOYPROXY_MANIFEST,
        DYNAMIC_MODULE_POLICY_MANIFEST,
    ] {
        assert!(!m.contains("{{"), "{m}");
        assert_eq!(render_deploy_template(m, IMAGE, &digest()).expect("render"), m);
    }
}

#[test]
fn dynamic_module_manifests_with_misspelt_fields_are_rejected() {
    let y = mutate_yaml(ENVOYPROXY_MANIFEST, |d| {
        d["spec"]["dynamicModules"][0]["source"]["local"]["file"] = json!("/x.so");
    });
    assert_rejected(
        Crd::EnvoyProxy,
        &y,
        "spec.dynamicModules[0].source.local.file: unknown field",
    );
    let y = mutate_yaml(DYNAMIC_MODULE_POLICY_MANIFEST, |d| {
        d["spec"]["dynamicModule"][0]["filtername"] = json!("routewise");
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &y,
        "spec.dynamicModule[0].filtername: unknown field",
    );
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        d["spec"]["configPatches"][0]["patch"]["operaton"] = json!("INSERT_BEFORE");
    });
    assert_rejected(
        Crd::IstioEnvoyFilter,
        &y,
        "spec.configPatches[0].patch.operaton: unknown field",
    );
}

#[test]
fn dynamic_module_manifests_with_values_outside_the_schema_are_rejected() {
    // The module's name as Envoy knows it is no valid allow-list name (underscore).
    let y = mutate_yaml(ENVOYPROXY_MANIFEST, |d| {
        d["spec"]["dynamicModules"][0]["name"] = json!("routewise_module");
    });
    assert_rejected(Crd::EnvoyProxy, &y, "spec.dynamicModules.0.name");
    let y = mutate_yaml(DYNAMIC_MODULE_POLICY_MANIFEST, |d| {
        d["spec"]["dynamicModule"][0]
            .as_object_mut()
            .unwrap()
            .remove("name");
    });
    assert_rejected(Crd::EnvoyExtensionPolicy, &y, "\"name\" is a required property");
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        d["spec"]["configPatches"][0]["patch"]["operation"] = json!("PREPEND")
    });
    assert_rejected(Crd::IstioEnvoyFilter, &y, "spec.configPatches.0.patch.operation");
}

#[test]
fn the_cel_rules_of_the_dynamic_module_manifests_are_checked() {
    let y = mutate_yaml(ENVOYPROXY_MANIFEST, |d| {
        d["spec"]["dynamicModules"][0]["source"]["type"] = json!("Remote")
    });
    assert_rejected(
        Crd::EnvoyProxy,
        &y,
        "spec.dynamicModules[0].source: If type is Remote, remote field needs to be set.",
    );
    // `type` defaults to Local: then `local` is required.
    let y = mutate_yaml(ENVOYPROXY_MANIFEST, |d| {
        d["spec"]["dynamicModules"][0]["source"] = json!({});
    });
    assert_rejected(
        Crd::EnvoyProxy,
        &y,
        "If type is Local, local field needs to be set.",
    );
    let y = mutate_yaml(ENVOYPROXY_MANIFEST, |d| {
        d["spec"]["provider"]["kubernetes"]["envoyDeployment"]["container"]["image"] =
            json!("oci://registry.example.com/team/routewise-envoy-module:0.1.0");
    });
    assert_rejected(Crd::EnvoyProxy, &y, "Image must include a tag");
    let y = mutate_yaml(ENVOYPROXY_MANIFEST, |d| {
        d["spec"]["provider"]["kubernetes"]["envoyDeployment"]["container"]["imageRepository"] =
            json!("registry.example.com/team/routewise-envoy-module");
    });
    assert_rejected(Crd::EnvoyProxy, &y, "Either image or imageRepository can be set.");
    let y = mutate_yaml(ENVOYPROXY_MANIFEST, |d| {
        let m = d["spec"]["dynamicModules"][0].clone();
        d["spec"]["dynamicModules"].as_array_mut().unwrap().push(m);
    });
    assert_rejected(
        Crd::EnvoyProxy,
        &y,
        "spec.dynamicModules[1].name: Duplicate value",
    );
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        d["spec"]["targetRefs"] = json!([{"kind": "Gateway", "name": "gw"}]);
    });
    assert_rejected(
        Crd::IstioEnvoyFilter,
        &y,
        "only one of targetRefs or workloadSelector can be set",
    );
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        d["spec"]["workloadSelector"]["labels"]["istio"] = json!("ingress*");
    });
    assert_rejected(Crd::IstioEnvoyFilter, &y, "wildcard is not supported in selector");
    let y = mutate_yaml(DYNAMIC_MODULE_POLICY_MANIFEST, |d| {
        d["spec"]["mergeType"] = json!("StrategicMerge");
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &y,
        "mergeType can only be used with xRoute targets",
    );
}

/// What the CRD leaves open in the EnvoyFilter (`patch.value`) is checked against what Envoy and the image need.
#[test]
fn an_envoyfilter_entry_that_would_not_load_routewise_is_rejected() {
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        d["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["dynamic_module_config"]["name"] =
            json!("routewise");
    });
    assert_rejected(Crd::IstioEnvoyFilter, &y, "must load the module the image holds");
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        let fc = &mut d["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["filter_config"];
        let config: Value = serde_json::from_str(fc["value"].as_str().unwrap()).unwrap();
        *fc = json!({"@type": "type.googleapis.com/google.protobuf.Struct", "value": config});
    });
    assert_rejected(
        Crd::IstioEnvoyFilter,
        &y,
        "filter_config: must be a type.googleapis.com/google.protobuf.StringValue",
    );
}

#[test]
fn a_routewise_config_error_in_a_dynamic_module_manifest_is_reported_with_its_path() {
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        let v =
            &mut d["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["filter_config"]["value"];
        let mut config: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
        config["domains"][0]["api_mappings"][0]["strip_basepath"] = json!(true);
        *v = json!(serde_json::to_string(&config).unwrap());
    });
    assert_rejected(
        Crd::IstioEnvoyFilter,
        &y,
        "spec.configPatches[0].patch.value.typed_config.filter_config.value: domains[0].api_mappings[0]",
    );
    let y = mutate_yaml(ENVOYFILTER_MANIFEST, |d| {
        d["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["filter_config"]["value"] =
            json!("{\"domains\": [");
    });
    assert_rejected(
        Crd::IstioEnvoyFilter,
        &y,
        "spec.configPatches[0].patch.value.typed_config.filter_config.value: ",
    );
    let y = mutate_yaml(DYNAMIC_MODULE_POLICY_MANIFEST, |d| {
        d["spec"]["dynamicModule"][0]["config"]["domains"][0]["api_mappings"][0]["api"] = json!("nowhere");
    });
    assert_rejected(
        Crd::EnvoyExtensionPolicy,
        &y,
        "spec.dynamicModule[0].config: domains[0].api_mappings[0]",
    );
}

/// Envoy Gateway rejects a policy naming a module its EnvoyProxy does not allow-list.
#[test]
fn a_policy_naming_a_module_the_envoyproxy_does_not_allow_list_is_rejected() {
    let proxy = yaml(ENVOYPROXY_MANIFEST);
    let policy = yaml(&mutate_yaml(DYNAMIC_MODULE_POLICY_MANIFEST, |d| {
        d["spec"]["dynamicModule"][0]["name"] = json!("routewise-v2");
    }));
    assert_eq!(
        dynamic_module_allowlist_errors(&policy, &proxy),
        vec![
            "spec.dynamicModule[0].name: dynamic module \"routewise-v2\" is not registered in the EnvoyProxy \
             dynamicModules allowlist"
                .to_string()
        ]
    );
    assert!(envoy_gateway_filter_entry(&policy, &proxy, 0).is_err());
}
