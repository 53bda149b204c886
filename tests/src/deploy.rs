//! The deploy manifests (`envoy/deploy/*.yaml.tmpl`) checked the way a cluster would check them.
//!
//! [`check`] parses a rendered manifest (YAML) and reports, one line each:
//! - schema violations against the CRD's published `openAPIV3Schema` (`tests/data/crd/`, with their source), as
//!   JSON Schema draft 4 (OpenAPI 3.0 schemas use its boolean `exclusiveMaximum`);
//! - fields the schema does not declare, as `kubectl apply` (strict field validation) rejects them, unless
//!   the schema preserves unknown fields there (`x-kubernetes-preserve-unknown-fields`, e.g. the plugin
//!   config);
//! - the CEL rules of those CRDs that concern our manifests and that a JSON Schema validator cannot evaluate
//!   (Istio: one of selector/targetRef/targetRefs, `oci://` URL; Envoy Gateway: targetRefs group and kind,
//!   `type: Image` with `image`);
//! - the embedded routewise config, through routewise's own parser and validator.

use serde_json::Value;

/// The Istio WasmPlugin template.
pub const WASMPLUGIN_TEMPLATE: &str = include_str!("../../envoy/deploy/istio-wasmplugin.yaml.tmpl");
/// The Envoy Gateway EnvoyExtensionPolicy template.
pub const EXTENSION_POLICY_TEMPLATE: &str =
    include_str!("../../envoy/deploy/envoy-gateway-extensionpolicy.yaml.tmpl");

/// A CRD whose schema is in `tests/data/crd/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crd {
    /// `extensions.istio.io/v1alpha1` `WasmPlugin`.
    IstioWasmPlugin,
    /// `gateway.envoyproxy.io/v1alpha1` `EnvoyExtensionPolicy`.
    EnvoyExtensionPolicy,
}

impl Crd {
    /// `apiVersion` of the resource.
    pub fn api_version(self) -> &'static str {
        match self {
            Crd::IstioWasmPlugin => "extensions.istio.io/v1alpha1",
            Crd::EnvoyExtensionPolicy => "gateway.envoyproxy.io/v1alpha1",
        }
    }

    /// `kind` of the resource.
    pub fn kind(self) -> &'static str {
        match self {
            Crd::IstioWasmPlugin => "WasmPlugin",
            Crd::EnvoyExtensionPolicy => "EnvoyExtensionPolicy",
        }
    }

    /// The schema as published (YAML, descriptions removed; see the file's header).
    pub fn schema_yaml(self) -> &'static str {
        match self {
            Crd::IstioWasmPlugin => include_str!("../data/crd/wasmplugins.extensions.istio.io.v1alpha1.yaml"),
            Crd::EnvoyExtensionPolicy => {
                include_str!("../data/crd/envoyextensionpolicies.gateway.envoyproxy.io.v1alpha1.yaml")
            }
        }
    }

    /// The schema as JSON.
    pub fn schema(self) -> Value {
        serde_norway::from_str(self.schema_yaml()).expect("the CRD schema is YAML")
    }

    /// The routewise configs a manifest of this kind embeds, with their paths.
    pub fn plugin_configs(self, doc: &Value) -> Vec<(String, Value)> {
        match self {
            Crd::IstioWasmPlugin => doc
                .pointer("/spec/pluginConfig")
                .map(|c| vec![("spec.pluginConfig".to_string(), c.clone())])
                .unwrap_or_default(),
            Crd::EnvoyExtensionPolicy => doc
                .pointer("/spec/wasm")
                .and_then(Value::as_array)
                .map(|ws| {
                    ws.iter()
                        .enumerate()
                        .filter_map(|(i, w)| {
                            w.get("config")
                                .map(|c| (format!("spec.wasm[{i}].config"), c.clone()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Parses `yaml` (one document) and checks it as a `crd` resource; the document, or every problem found.
pub fn check(crd: Crd, yaml: &str) -> Result<Value, Vec<String>> {
    let doc: Value = serde_norway::from_str(yaml).map_err(|e| vec![format!("not YAML: {e}")])?;
    let mut errors = Vec::new();
    for (field, want) in [("apiVersion", crd.api_version()), ("kind", crd.kind())] {
        if doc.get(field).and_then(Value::as_str) != Some(want) {
            errors.push(format!("{field}: expected {want}, found {:?}", doc.get(field)));
        }
    }
    let schema = crd.schema();
    let validator = jsonschema::draft4::new(&schema).expect("the CRD schema compiles as JSON Schema draft 4");
    errors.extend(
        validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", display_path(&e.instance_path().to_string()))),
    );
    unknown_fields(&doc, &schema, "", &mut errors);
    cel_rules(crd, &doc, &mut errors);
    let configs = crd.plugin_configs(&doc);
    if configs.is_empty() {
        errors.push("no routewise config in the manifest".to_string());
    }
    for (path, config) in configs {
        errors.extend(
            routewise_config_errors(&config)
                .into_iter()
                .map(|e| format!("{path}: {e}")),
        );
    }
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(errors)
    }
}

/// What routewise says about a config (empty: the filter accepts it), as the filter's `on_configure` would
/// see it: the JSON text of the value.
pub fn routewise_config_errors(config: &Value) -> Vec<String> {
    let text = serde_json::to_string(config).expect("JSON");
    let mut errors: Vec<String> = match routewise::config::parse(&text) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    };
    if let Err(e) = routewise::engine::Engine::from_json(&text) {
        errors.extend(e.to_string().lines().map(str::to_string));
    }
    errors.dedup();
    errors
}

fn display_path(pointer: &str) -> String {
    if pointer.is_empty() {
        "(document)".to_string()
    } else {
        pointer.trim_start_matches('/').replace('/', ".")
    }
}

/// Fields the schema does not declare (kubectl's strict field validation). The root's `apiVersion`, `kind`
/// and `metadata` are always allowed (Istio's schema leaves them out).
fn unknown_fields(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if props.is_none() && additional.is_none() {
                return; // e.g. metadata: `type: object`, checked by the API server itself
            }
            for (key, v) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&key.as_str()) {
                    continue;
                }
                match props.and_then(|p| p.get(key)).or(additional) {
                    Some(s) => unknown_fields(v, s, &child, errors),
                    None => errors.push(format!("{child}: unknown field (not in the CRD schema)")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(v, s, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

/// The CEL rules (`x-kubernetes-validations`) of the two CRDs that bear on these manifests.
fn cel_rules(crd: Crd, doc: &Value, errors: &mut Vec<String>) {
    let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    match crd {
        Crd::IstioWasmPlugin => {
            // "only one of targetRefs or selector can be set"
            let set = ["selector", "targetRef", "targetRefs"]
                .iter()
                .filter(|k| spec.get(**k).is_some())
                .count();
            if set > 1 {
                errors.push("spec: only one of targetRefs or selector can be set".to_string());
            }
            // "url must have schema one of [http, https, file, oci]" (and the digest pin we rely on)
            let url = spec.get("url").and_then(Value::as_str).unwrap_or_default();
            if !["oci://", "http://", "https://", "file://"]
                .iter()
                .any(|s| url.starts_with(s))
            {
                errors.push(format!(
                    "spec.url: `{url}` must have schema one of [http, https, file, oci]"
                ));
            }
        }
        Crd::EnvoyExtensionPolicy => {
            // "either targetRef or targetRefs must be used", group and kind of targetRefs[*]
            let refs = spec
                .get("targetRefs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if spec.get("targetRef").is_some() == spec.get("targetRefs").is_some()
                && spec.get("targetSelectors").is_none()
            {
                errors.push("spec: either targetRef or targetRefs must be used".to_string());
            }
            for (i, r) in refs.iter().enumerate() {
                if r.get("group").and_then(Value::as_str) != Some("gateway.networking.k8s.io") {
                    errors.push(format!(
                        "spec.targetRefs[{i}].group must be gateway.networking.k8s.io"
                    ));
                }
                let kinds = [
                    "Gateway",
                    "HTTPRoute",
                    "GRPCRoute",
                    "UDPRoute",
                    "TCPRoute",
                    "TLSRoute",
                ];
                if !r
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| kinds.contains(&k))
                {
                    errors.push(format!("spec.targetRefs[{i}].kind must be one of {kinds:?}"));
                }
                if r.get("sectionName").is_some() {
                    errors.push(format!("spec.targetRefs[{i}]: sectionName is not supported"));
                }
            }
            // "If type is Image, image field needs to be set" (and HTTP likewise)
            for (i, w) in spec
                .get("wasm")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let code = w.get("code").cloned().unwrap_or(Value::Null);
                for (ty, field) in [("Image", "image"), ("HTTP", "http")] {
                    let is_type = code.get("type").and_then(Value::as_str) == Some(ty);
                    if is_type != code.get(field).is_some() {
                        errors.push(format!(
                            "spec.wasm[{i}].code: `{field}` must be set exactly when type is {ty}"
                        ));
                    }
                }
            }
        }
    }
}
