//! The deploy manifests (`envoy/deploy/*.yaml.tmpl`, `proxy-wasm-host.md` §4.2, §4.3, §3.6) rendered with an
//! image digest and checked against the CRDs' published OpenAPI schemas (`tests/data/crd/`), kubectl's
//! strict field validation, the CEL rules that concern them, and routewise's own config parser
//! (`routewise_tests::deploy`). The round trip through a real registry renders them with the pushed digest
//! too (`oci_image.rs`).

use routewise_cli::oci::{render_deploy_template, Digest, Image};
use routewise_tests::deploy::{
    check, routewise_config_errors, Crd, EXTENSION_POLICY_TEMPLATE, WASMPLUGIN_TEMPLATE,
};
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
fn both_manifests_carry_the_same_routewise_config_and_it_validates() {
    let istio = assert_valid(Crd::IstioWasmPlugin, &render(WASMPLUGIN_TEMPLATE));
    let eg = assert_valid(Crd::EnvoyExtensionPolicy, &render(EXTENSION_POLICY_TEMPLATE));
    let a = &istio["spec"]["pluginConfig"];
    assert_eq!(a, &eg["spec"]["wasm"][0]["config"]);
    assert_eq!(routewise_config_errors(a), Vec::<String>::new());
    // The header the routing comments tell VirtualServices and HTTPRoutes to match on.
    assert_eq!(a["cluster_header"], "x-routewise-cluster");
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
    };
    let mut doc: Value = serde_norway::from_str(&render(template)).expect("YAML");
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
