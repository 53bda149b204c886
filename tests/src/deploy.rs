//! The deploy manifests (`envoy/deploy/*.yaml.tmpl` for the Wasm image, `envoy/deploy/*.yaml` for the dynamic
//! module) checked the way a cluster would check them.
//!
//! [`check`] parses a rendered manifest (YAML) and reports, one line each:
//! - schema violations against the CRD's published `openAPIV3Schema` (`tests/data/crd/`, with their source), as
//!   JSON Schema draft 4 (OpenAPI 3.0 schemas use its boolean `exclusiveMaximum`);
//! - fields the schema does not declare, as `kubectl apply` (strict field validation) rejects them, unless
//!   the schema preserves unknown fields there (`x-kubernetes-preserve-unknown-fields`, e.g. the plugin
//!   config);
//! - the CEL rules of those CRDs that concern our manifests and that a JSON Schema validator cannot evaluate
//!   (Istio WasmPlugin: one of selector/targetRef/targetRefs, `oci://` URL; Istio EnvoyFilter: one of
//!   targetRefs/workloadSelector, no wildcard label, waypoint match only in the WAYPOINT context; Envoy Gateway
//!   EnvoyExtensionPolicy: targetRefs group and kind, `type: Image` with `image`; EnvoyProxy: image rules, one
//!   of envoyDeployment/envoyDaemonSet, the dynamic module's `source` type with its field), and the uniqueness
//!   of list-map keys (`dynamicModules[].name`);
//! - for an EnvoyFilter, the filter entry it inserts (`patch.value`, which the CRD leaves open): Envoy's
//!   DynamicModuleFilter loading the module the image holds, its config a `StringValue`;
//! - the embedded routewise config, through routewise's own parser and validator.
//!
//! [`dynamic_module_allowlist_errors`] checks an EnvoyExtensionPolicy against the EnvoyProxy that must
//! allow-list its modules, and [`envoy_gateway_filter_entry`] builds the filter entry Envoy Gateway generates from
//! the two (`tests/tests/module_image.rs` runs it in the module image).

use serde_json::Value;

/// The Istio WasmPlugin template.
pub const WASMPLUGIN_TEMPLATE: &str = include_str!("../../envoy/deploy/istio-wasmplugin.yaml.tmpl");
/// The Envoy Gateway EnvoyExtensionPolicy template.
pub const EXTENSION_POLICY_TEMPLATE: &str =
    include_str!("../../envoy/deploy/envoy-gateway-extensionpolicy.yaml.tmpl");
/// The Istio EnvoyFilter inserting the dynamic module's filter (no placeholders).
pub const ENVOYFILTER_MANIFEST: &str = include_str!("../../envoy/deploy/istio-envoyfilter.yaml");
/// The Envoy Gateway EnvoyProxy running the module image and allow-listing the module (no placeholders).
pub const ENVOYPROXY_MANIFEST: &str = include_str!("../../envoy/deploy/envoy-gateway-envoyproxy.yaml");
/// The Envoy Gateway EnvoyExtensionPolicy with the dynamic module (no placeholders).
pub const DYNAMIC_MODULE_POLICY_MANIFEST: &str =
    include_str!("../../envoy/deploy/envoy-gateway-dynamicmodule-policy.yaml");

/// `@type` of Envoy's dynamic-module HTTP filter config.
pub const DYNAMIC_MODULE_FILTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
/// `@type` of the config the filter gets (the routewise JSON as one string).
pub const STRING_VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";
/// The module's name: Envoy loads `lib<name>.so` from `$ENVOY_DYNAMIC_MODULES_SEARCH_PATH`.
pub const MODULE_NAME: &str = "routewise_module";

/// A CRD whose schema is in `tests/data/crd/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crd {
    /// `extensions.istio.io/v1alpha1` `WasmPlugin`.
    IstioWasmPlugin,
    /// `gateway.envoyproxy.io/v1alpha1` `EnvoyExtensionPolicy`.
    EnvoyExtensionPolicy,
    /// `networking.istio.io/v1alpha3` `EnvoyFilter`.
    IstioEnvoyFilter,
    /// `gateway.envoyproxy.io/v1alpha1` `EnvoyProxy`.
    EnvoyProxy,
}

impl Crd {
    /// `apiVersion` of the resource.
    pub fn api_version(self) -> &'static str {
        match self {
            Crd::IstioWasmPlugin => "extensions.istio.io/v1alpha1",
            Crd::EnvoyExtensionPolicy | Crd::EnvoyProxy => "gateway.envoyproxy.io/v1alpha1",
            Crd::IstioEnvoyFilter => "networking.istio.io/v1alpha3",
        }
    }

    /// `kind` of the resource.
    pub fn kind(self) -> &'static str {
        match self {
            Crd::IstioWasmPlugin => "WasmPlugin",
            Crd::EnvoyExtensionPolicy => "EnvoyExtensionPolicy",
            Crd::IstioEnvoyFilter => "EnvoyFilter",
            Crd::EnvoyProxy => "EnvoyProxy",
        }
    }

    /// The schema as published (YAML, descriptions removed; see the file's header).
    pub fn schema_yaml(self) -> &'static str {
        match self {
            Crd::IstioWasmPlugin => include_str!("../data/crd/wasmplugins.extensions.istio.io.v1alpha1.yaml"),
            Crd::EnvoyExtensionPolicy => {
                include_str!("../data/crd/envoyextensionpolicies.gateway.envoyproxy.io.v1alpha1.yaml")
            }
            Crd::IstioEnvoyFilter => {
                include_str!("../data/crd/envoyfilters.networking.istio.io.v1alpha3.yaml")
            }
            Crd::EnvoyProxy => include_str!("../data/crd/envoyproxies.gateway.envoyproxy.io.v1alpha1.yaml"),
        }
    }

    /// The schema as JSON.
    pub fn schema(self) -> Value {
        serde_norway::from_str(self.schema_yaml()).expect("the CRD schema is YAML")
    }

    /// Whether a manifest of this kind carries a routewise config (the EnvoyProxy only allow-lists the module).
    pub fn carries_config(self) -> bool {
        !matches!(self, Crd::EnvoyProxy)
    }

    /// The routewise configs a manifest of this kind embeds, with their paths, as JSON values (an
    /// EnvoyFilter's string that is no JSON comes back as a JSON string).
    pub fn plugin_configs(self, doc: &Value) -> Vec<(String, Value)> {
        self.config_texts(doc)
            .into_iter()
            .map(|(path, text)| {
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                (path, value)
            })
            .collect()
    }

    /// The routewise configs a manifest of this kind embeds, with their paths, as the text the filter gets:
    /// the JSON of a structured config (Istio: `Struct` to JSON; Envoy Gateway: the raw JSON), an EnvoyFilter's
    /// `StringValue` as it is.
    pub fn config_texts(self, doc: &Value) -> Vec<(String, String)> {
        let json = |v: &Value| serde_json::to_string(v).expect("JSON");
        let indexed = |list: &str, field: &str| -> Vec<(String, String)> {
            doc.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, item)| {
                            item.get(field)
                                .map(|c| (format!("spec.{list}[{i}].{field}"), json(c)))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        match self {
            Crd::IstioWasmPlugin => doc
                .pointer("/spec/pluginConfig")
                .map(|c| vec![("spec.pluginConfig".to_string(), json(c))])
                .unwrap_or_default(),
            Crd::EnvoyExtensionPolicy => {
                let mut out = indexed("wasm", "config");
                out.extend(indexed("dynamicModule", "config"));
                out
            }
            Crd::IstioEnvoyFilter => envoy_filter_entries(doc)
                .into_iter()
                .filter_map(|(path, entry)| {
                    let config = entry.pointer("/typed_config/filter_config/value")?.as_str()?;
                    Some((
                        format!("{path}.typed_config.filter_config.value"),
                        config.to_string(),
                    ))
                })
                .collect(),
            Crd::EnvoyProxy => Vec::new(),
        }
    }
}

/// The HTTP filter entries an EnvoyFilter inserts (`patch.value` of its `HTTP_FILTER` patches), with paths.
pub fn envoy_filter_entries(doc: &Value) -> Vec<(String, Value)> {
    doc.pointer("/spec/configPatches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, p)| p.get("applyTo").and_then(Value::as_str) == Some("HTTP_FILTER"))
        .filter_map(|(i, p)| {
            p.pointer("/patch/value")
                .map(|v| (format!("spec.configPatches[{i}].patch.value"), v.clone()))
        })
        .collect()
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
    if crd == Crd::IstioEnvoyFilter {
        for (path, entry) in envoy_filter_entries(&doc) {
            filter_entry_errors(&entry, &path, &mut errors);
        }
    }
    let configs = crd.config_texts(&doc);
    if crd.carries_config() && configs.is_empty() {
        errors.push("no routewise config in the manifest".to_string());
    }
    for (path, config) in configs {
        errors.extend(
            routewise_config_text_errors(&config)
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
    routewise_config_text_errors(&serde_json::to_string(config).expect("JSON"))
}

/// What routewise says about a config text (empty: the filter accepts it), exactly as the filter gets it.
pub fn routewise_config_text_errors(text: &str) -> Vec<String> {
    let mut errors: Vec<String> = match routewise::config::parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    };
    if let Err(e) = routewise::engine::Engine::from_json(text) {
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

/// The CEL rules (`x-kubernetes-validations`) of the CRDs that bear on these manifests, written out from the
/// schemas in `tests/data/crd/` (the message of each rule quoted), and list-map key uniqueness.
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
            // "either targetRef or targetRefs must be used"
            if spec.get("targetRef").is_some() == spec.get("targetRefs").is_some()
                && spec
                    .get("targetSelectors")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            {
                errors.push("spec: either targetRef or targetRefs must be used".to_string());
            }
            // "this policy can only have a targetRef(s[*]).group of gateway.networking.k8s.io", ".kind of
            // Gateway/ListenerSet/HTTPRoute/GRPCRoute/TCPRoute/UDPRoute/TLSRoute"
            let kinds = [
                "Gateway",
                "ListenerSet",
                "HTTPRoute",
                "GRPCRoute",
                "UDPRoute",
                "TCPRoute",
                "TLSRoute",
            ];
            let refs = spec
                .get("targetRef")
                .map(|r| ("spec.targetRef".to_string(), r.clone()))
                .into_iter()
                .chain(
                    spec.get("targetRefs")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, r)| (format!("spec.targetRefs[{i}]"), r.clone())),
                );
            for (path, r) in refs {
                if r.get("group").and_then(Value::as_str) != Some("gateway.networking.k8s.io") {
                    errors.push(format!("{path}.group must be gateway.networking.k8s.io"));
                }
                if !r
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| kinds.contains(&k))
                {
                    errors.push(format!("{path}.kind must be one of {kinds:?}"));
                }
            }
            // "mergeType can only be used with xRoute targets"
            if spec.get("mergeType").is_some() {
                let xroute = |r: &Value| {
                    r.get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| kinds[2..].contains(&k))
                };
                let all = ["targetRef", "targetRefs", "targetSelectors"]
                    .iter()
                    .filter_map(|k| spec.get(*k))
                    .flat_map(|v| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
                    .all(|r| xroute(&r));
                if !all {
                    errors.push("spec: mergeType can only be used with xRoute targets".to_string());
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
        Crd::IstioEnvoyFilter => {
            // "only one of targetRefs or workloadSelector can be set"
            if spec.get("workloadSelector").is_some() && spec.get("targetRefs").is_some() {
                errors.push("spec: only one of targetRefs or workloadSelector can be set".to_string());
            }
            // "wildcard is not supported in selector"
            for (k, v) in spec
                .pointer("/workloadSelector/labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if v.as_str().is_some_and(|v| v.contains('*')) {
                    errors.push(format!(
                        "spec.workloadSelector.labels.{k}: wildcard is not supported in selector"
                    ));
                }
            }
            // "cross namespace referencing is not currently supported"
            for (i, r) in spec
                .get("targetRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if r.get("namespace")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty())
                {
                    errors.push(format!(
                        "spec.targetRefs[{i}].namespace: cross namespace referencing is not currently supported"
                    ));
                }
            }
            // "only support waypointMatch when context is WAYPOINT"
            for (i, p) in spec
                .get("configPatches")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(m) = p.get("match") {
                    let waypoint_context = m.get("context").and_then(Value::as_str) == Some("WAYPOINT");
                    if waypoint_context != m.get("waypoint").is_some() {
                        errors.push(format!(
                            "spec.configPatches[{i}].match: only support waypointMatch when context is WAYPOINT"
                        ));
                    }
                }
            }
        }
        Crd::EnvoyProxy => {
            // "only one of luaValidation or lua may be set"
            if spec.get("luaValidation").is_some() && spec.get("lua").is_some() {
                errors.push("spec: only one of luaValidation or lua may be set".to_string());
            }
            // "mergeGateways and mergeBackends cannot both be enabled"
            if spec.get("mergeGateways") == Some(&Value::Bool(true)) && spec.get("mergeBackends").is_some() {
                errors.push("spec: mergeGateways and mergeBackends cannot both be enabled".to_string());
            }
            if let Some(k8s) = spec.pointer("/provider/kubernetes") {
                // "only one of envoyDeployment or envoyDaemonSet can be specified"
                if k8s.get("envoyDeployment").is_some() && k8s.get("envoyDaemonSet").is_some() {
                    errors.push(
                        "spec.provider.kubernetes: only one of envoyDeployment or envoyDaemonSet can be specified"
                            .to_string(),
                    );
                }
                // "cannot use envoyHpa if envoyDaemonSet is used"
                if k8s.get("envoyHpa").is_some() && k8s.get("envoyDaemonSet").is_some() {
                    errors.push(
                        "spec.provider.kubernetes: cannot use envoyHpa if envoyDaemonSet is used".to_string(),
                    );
                }
                for workload in ["envoyDeployment", "envoyDaemonSet"] {
                    let Some(container) = k8s.get(workload).and_then(|w| w.get("container")) else {
                        continue;
                    };
                    let path = format!("spec.provider.kubernetes.{workload}.container");
                    // "Either image or imageRepository can be set."
                    if container.get("image").is_some() && container.get("imageRepository").is_some() {
                        errors.push(format!("{path}: Either image or imageRepository can be set."));
                    }
                    // "Image must include a tag and allowed characters only (e.g., 'repo:tag')."
                    if let Some(image) = container.get("image").and_then(Value::as_str) {
                        if !matches_regex(ENVOY_PROXY_IMAGE_RULE, image) {
                            errors.push(format!(
                                "{path}.image: `{image}`: Image must include a tag and allowed characters only (e.g., 'repo:tag')."
                            ));
                        }
                    }
                }
            }
            let modules = spec
                .get("dynamicModules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            // x-kubernetes-list-type: map, x-kubernetes-list-map-keys: [name]
            let mut seen = std::collections::BTreeSet::new();
            for (i, m) in modules.iter().enumerate() {
                if let Some(name) = m.get("name").and_then(Value::as_str) {
                    if !seen.insert(name.to_string()) {
                        errors.push(format!(
                            "spec.dynamicModules[{i}].name: Duplicate value: `{name}` (list-map key)"
                        ));
                    }
                }
                let Some(source) = m.get("source") else { continue };
                let path = format!("spec.dynamicModules[{i}].source");
                // `type` defaults to Local before the rules run.
                let ty = source.get("type").and_then(Value::as_str).unwrap_or("Local");
                // "If type is Remote, remote field needs to be set."
                if (ty == "Remote") != source.get("remote").is_some() {
                    errors.push(format!(
                        "{path}: If type is Remote, remote field needs to be set."
                    ));
                }
                // "If type is Local, local field needs to be set."
                if ty == "Local" && source.get("local").is_none() {
                    errors.push(format!("{path}: If type is Local, local field needs to be set."));
                }
                // "If type is Remote, local field must not be set."
                if ty == "Remote" && source.get("local").is_some() {
                    errors.push(format!("{path}: If type is Remote, local field must not be set."));
                }
            }
        }
    }
}

/// The regular expression of the EnvoyProxy CRD's rule on `container.image` (`self.matches(...)`).
const ENVOY_PROXY_IMAGE_RULE: &str =
    r"^[a-zA-Z0-9._-]+(:[0-9]+)?(/[a-zA-Z0-9._/-]+)?(:[a-zA-Z0-9._-]+)?(@sha256:[a-z0-9]+)?$";

/// Whether `text` matches `regex` (CEL's `matches`, RE2 syntax; this crate's regex engine is the JSON Schema
/// validator's, which agrees with RE2 on these plain expressions).
fn matches_regex(regex: &str, text: &str) -> bool {
    let schema = serde_json::json!({"type": "string", "pattern": regex});
    jsonschema::draft4::new(&schema)
        .expect("the rule's regular expression compiles")
        .is_valid(&Value::String(text.to_string()))
}

/// What Envoy (and the module image) require of an EnvoyFilter's filter entry that the CRD leaves open: the
/// DynamicModuleFilter loading routewise's module, by name from the search path or by its path in the image,
/// with the routewise JSON as a `StringValue`.
fn filter_entry_errors(entry: &Value, path: &str, errors: &mut Vec<String>) {
    let typed = entry.get("typed_config").cloned().unwrap_or(Value::Null);
    if entry
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(format!("{path}.name: an HTTP filter needs a name"));
    }
    if typed.get("@type").and_then(Value::as_str) != Some(DYNAMIC_MODULE_FILTER_TYPE) {
        errors.push(format!(
            "{path}.typed_config: `@type` must be {DYNAMIC_MODULE_FILTER_TYPE}"
        ));
        return;
    }
    let module = typed.get("dynamic_module_config").cloned().unwrap_or(Value::Null);
    let by_name = module.get("name").and_then(Value::as_str) == Some(MODULE_NAME);
    let by_path = module.pointer("/module/local/filename").and_then(Value::as_str)
        == Some(crate::module_image::MODULE_PATH);
    if !by_name && !by_path {
        errors.push(format!(
            "{path}.typed_config.dynamic_module_config: must load the module the image holds: `name: {MODULE_NAME}` \
             (lib{MODULE_NAME}.so from $ENVOY_DYNAMIC_MODULES_SEARCH_PATH) or \
             `module.local.filename: {}`",
            crate::module_image::MODULE_PATH
        ));
    }
    if typed.get("filter_name").and_then(Value::as_str) != Some("routewise") {
        errors.push(format!(
            "{path}.typed_config.filter_name: must be `routewise` (the module's only filter)"
        ));
    }
    let config = typed.get("filter_config").cloned().unwrap_or(Value::Null);
    if config.get("@type").and_then(Value::as_str) != Some(STRING_VALUE_TYPE)
        || !config.get("value").is_some_and(Value::is_string)
    {
        errors.push(format!(
            "{path}.typed_config.filter_config: must be a {STRING_VALUE_TYPE} whose `value` is the routewise JSON"
        ));
    }
}

/// An EnvoyExtensionPolicy's dynamic modules that the EnvoyProxy does not allow-list (Envoy Gateway rejects the
/// policy: internal/gatewayapi/envoyextensionpolicy.go, `buildDynamicModules`).
pub fn dynamic_module_allowlist_errors(policy: &Value, proxy: &Value) -> Vec<String> {
    let registered: Vec<&str> = proxy
        .pointer("/spec/dynamicModules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("name").and_then(Value::as_str))
        .collect();
    policy
        .pointer("/spec/dynamicModule")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, m)| {
            let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
            (!registered.contains(&name)).then(|| {
                format!(
                    "spec.dynamicModule[{i}].name: dynamic module {name:?} is not registered in the EnvoyProxy \
                     dynamicModules allowlist"
                )
            })
        })
        .collect()
}

/// The HTTP filter entry Envoy Gateway generates for the policy's `dynamicModule[index]` with the module the
/// EnvoyProxy allow-lists under that name (internal/xds/translator/dynamicmodule.go: `module.local.filename` for a
/// Local source, `do_not_close` and `load_globally` from the EnvoyProxy, `filter_name`, the config's JSON as a
/// StringValue), named `routewise` here. Envoy Gateway itself names it after the policy and enables it per
/// route (disabled on the listener, enabled in the routes the policy targets); that does not change the module
/// or its config.
pub fn envoy_gateway_filter_entry(policy: &Value, proxy: &Value, index: usize) -> Result<Value, String> {
    let dm = policy
        .pointer(&format!("/spec/dynamicModule/{index}"))
        .ok_or_else(|| format!("no spec.dynamicModule[{index}]"))?;
    let name = dm.get("name").and_then(Value::as_str).unwrap_or_default();
    let entry = proxy
        .pointer("/spec/dynamicModules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| m.get("name").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| {
            format!("dynamic module {name:?} is not registered in the EnvoyProxy dynamicModules allowlist")
        })?;
    let source = entry.get("source").cloned().unwrap_or(Value::Null);
    if source.get("type").and_then(Value::as_str).unwrap_or("Local") != "Local" {
        return Err(format!(
            "dynamic module {name:?}: only a Local source is modelled here"
        ));
    }
    let path = source
        .pointer("/local/path")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("dynamic module {name:?} has no local source configured"))?;
    let flag = |k: &str| entry.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut typed = serde_json::json!({
        "@type": DYNAMIC_MODULE_FILTER_TYPE,
        "dynamic_module_config": {
            "do_not_close": flag("doNotClose"),
            "load_globally": flag("loadGlobally"),
            "module": {"local": {"filename": path}},
        },
        "filter_name": dm.get("filterName").and_then(Value::as_str).unwrap_or_default(),
        "terminal_filter": dm.get("terminalFilter").and_then(Value::as_bool).unwrap_or(false),
    });
    if let Some(config) = dm.get("config") {
        typed["filter_config"] = serde_json::json!({
            "@type": STRING_VALUE_TYPE,
            "value": serde_json::to_string(config).expect("JSON"),
        });
    }
    Ok(serde_json::json!({"name": "routewise", "typed_config": typed}))
}
