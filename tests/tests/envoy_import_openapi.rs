//! `routewise import openapi` through a real Envoy (issue 16), both builds: the config imported from the API
//! Gateway developer guide's HTTP API PetStore (`filter/cli/tests/golden/import-openapi/http-api-petstore`)
//! routes as API Gateway would (route keys, the integration uri's path with the route's parameters, the uri's
//! Host), and the Envoy clusters `--envoy-clusters` wrote for the other golden cases (a Lambda cluster with
//! the `aws_lambda` upstream filter, HTTP clusters, one with TLS... ) are accepted by Envoy in the same
//! bootstrap: Envoy starts with them and reports them in its config dump.

use routewise_tests::envoy::{log_excerpt, workspace_root, Build};
use routewise_tests::{EchoUpstream, Envoy, Request};
use serde_json::Value;

const GOLDEN: &str = "filter/cli/tests/golden/import-openapi";
/// The golden cases whose `clusters.yaml` is added to the bootstrap (the PetStore's own cluster is the echo
/// upstream, so its definition is not added: the names would clash).
const CLUSTER_CASES: [&str; 4] = [
    "http-api-default-route",
    "rest-lambda-proxy-oas30",
    "rest-http-proxy-swagger2",
    "rest-vpc-link-stage-variable",
];

fn imported_clusters() -> Vec<Value> {
    let mut out = Vec::new();
    for case in CLUSTER_CASES {
        let path = workspace_root().join(GOLDEN).join(case).join("clusters.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v: Value = serde_norway::from_str(&text).expect("clusters.yaml is YAML");
        out.extend(v["clusters"].as_array().expect("a clusters list").iter().cloned());
    }
    out
}

/// The rendered bootstrap with the imported clusters added to `static_resources.clusters` (the template
/// renders that list as one JSON flow sequence).
fn with_imported_clusters(bootstrap: String) -> String {
    let extra: Vec<String> = imported_clusters().iter().map(Value::to_string).collect();
    let marker = "  clusters: [";
    assert!(bootstrap.contains(marker), "the template's clusters line");
    bootstrap.replacen(marker, &format!("{marker}{},", extra.join(",")), 1)
}

fn petstore_through_envoy_with_the_imported_clusters(build: Build) {
    let config = std::fs::read_to_string(
        workspace_root()
            .join(GOLDEN)
            .join("http-api-petstore/config.json"),
    )
    .expect("the imported PetStore config");
    let up = EchoUpstream::start("http_petstore.execute-api.us-west-1.amazonaws.com_80");
    let envoy = Envoy::start_with_module_edited(&config, &[&up], &build.module(), with_imported_clusters);

    // GET /pets/{petId}: the uri's path with the parameter, the uri's Host (HTTP_PROXY).
    let resp = envoy.send(Request::get("/pets/42?x=1").host("pets.example.com"));
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), log_excerpt(&envoy.log()));
    let got = up.requests();
    let last = got.last().expect("the upstream got the request");
    assert_eq!(last.path, "/petstore/pets/42?x=1");
    assert_eq!(
        last.header("host"),
        Some("petstore.execute-api.us-west-1.amazonaws.com")
    );
    let log = envoy.access_log_for(&resp);
    assert_eq!(log["route_key"], "GET /pets/{petId}", "{log}");

    // POST /pets: the static path of its uri.
    let resp = envoy.send(Request::post("/pets").host("pets.example.com").body("{}"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        up.requests().last().map(|r| r.path.clone()).as_deref(),
        Some("/petstore/pets")
    );

    // DELETE has no route in the export: 404 from the filter, nothing forwarded.
    let before = up.requests().len();
    let resp = envoy.send(Request::new("DELETE", "/pets/42").host("pets.example.com"));
    assert_eq!(resp.status, 404, "{}", resp.text());
    assert_eq!(up.requests().len(), before);

    // Every imported cluster is loaded, the Lambda ones with the aws_lambda upstream filter and their ARN.
    let dump = Request::get("/config_dump?resource=static_clusters")
        .host("admin")
        .send(envoy.admin_port())
        .expect("admin answers")
        .json()
        .expect("config dump JSON");
    let loaded: Vec<&Value> = dump["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .map(|c| &c["cluster"])
        .collect();
    for want in imported_clusters() {
        let name = want["name"].as_str().expect("name");
        let got = loaded
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("cluster {name} is not loaded"));
        let filters = &got["typed_extension_protocol_options"]
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["http_filters"];
        if name.starts_with("lambda_") {
            assert_eq!(filters[0]["name"], "envoy.filters.http.aws_lambda", "{name}");
            assert_eq!(
                filters[0]["typed_config"]["arn"],
                want["typed_extension_protocol_options"]
                    ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["http_filters"][0]
                    ["typed_config"]["arn"],
                "{name}"
            );
            assert_eq!(
                got["transport_socket"]["name"], "envoy.transport_sockets.tls",
                "{name}"
            );
        } else {
            assert!(filters.is_null(), "{name}: {filters}");
        }
    }
}

routewise_tests::both_builds!(petstore_through_envoy_with_the_imported_clusters);
