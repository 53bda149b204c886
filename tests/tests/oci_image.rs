//! The filter's OCI image (compat variant, `proxy-wasm-host.md` §4.1, §4.4) through a real registry and back
//! into a real Envoy:
//!
//! build the image of `routewise.wasm` (`routewise_cli::oci`, what `routewise image build` runs) → push it with
//! `skopeo copy --preserve-digests` to a local `docker-registry` → the registry serves the same manifest digest
//! → pull it back with skopeo into a new OCI layout → the same digest, and a `plugin.wasm` byte-identical to
//! the module → Envoy (container, V8) runs the *pulled* module and routes a request.
//!
//! Needs `docker-registry`, `skopeo` and the Docker engine with the Envoy image (`scripts/setup`). Every wait
//! polls with a deadline.

use std::fs;
use std::path::PathBuf;

use routewise_cli::oci::{read_layout, render_deploy_template, Digest, Image};
use routewise_tests::deploy::{check, Crd, EXTENSION_POLICY_TEMPLATE, WASMPLUGIN_TEMPLATE};
use routewise_tests::envoy::{routewise_wasm, Module};
use routewise_tests::registry::{oci_ref, skopeo, Registry};
use routewise_tests::{EchoUpstream, Envoy, Request};
use serde_json::json;

const TAG: &str = "0.1.0-test";

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("routewise-oci-image-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_image_round_trips_through_a_registry_and_the_pulled_module_routes_in_envoy() {
    let wasm_path = routewise_wasm();
    let wasm = fs::read(&wasm_path).expect("read routewise.wasm");
    let work = TempDir::new("work");

    // Build: reproducible, as a layout and as an archive.
    let image = Image::compat(&wasm).expect("build the image");
    assert_eq!(
        Image::compat(&wasm).expect("again").digest(),
        image.digest(),
        "same module, same digest"
    );
    let layout = work.0.join("layout");
    image.write_layout(&layout, TAG).expect("write the layout");
    let archive = work.0.join("routewise.tar");
    fs::write(&archive, image.layout_archive(TAG).expect("archive")).expect("write the archive");
    eprintln!(
        "built {} from {} ({} bytes)",
        image.digest(),
        wasm_path.display(),
        wasm.len()
    );

    // skopeo reads both forms and sees the same manifest.
    for source in [
        oci_ref(&layout, TAG),
        format!("oci-archive:{}:{TAG}", archive.display()),
    ] {
        let raw = skopeo(&["inspect", "--raw", &source]);
        assert_eq!(&Digest::of(&raw), image.digest(), "skopeo inspect --raw {source}");
    }

    // Push.
    let registry = Registry::start();
    let remote = format!("docker://{}/routewise:{TAG}", registry.host());
    skopeo(&[
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &oci_ref(&layout, TAG),
        &remote,
    ]);

    // The registry serves the manifest under the same digest, by tag and by digest.
    let resp = Request::new("HEAD", &format!("/v2/routewise/manifests/{TAG}"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send(registry.port())
        .expect("HEAD the manifest");
    assert_eq!(resp.status, 200, "registry log:\n{}", registry.log());
    assert_eq!(
        resp.header("docker-content-digest"),
        Some(image.digest().as_str())
    );
    for reference in [
        remote.clone(),
        format!("docker://{}/routewise@{}", registry.host(), image.digest()),
    ] {
        let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &reference]);
        assert_eq!(raw, image.manifest().bytes, "manifest served for {reference}");
    }

    // Pull back into a new layout: same digest, same module.
    let pulled_dir = work.0.join("pulled");
    skopeo(&[
        "copy",
        "--quiet",
        "--preserve-digests",
        "--src-tls-verify=false",
        &remote,
        &oci_ref(&pulled_dir, TAG),
    ]);
    let pulled = read_layout(&pulled_dir, TAG).expect("read the pulled layout");
    assert_eq!(
        &pulled.manifest_digest,
        image.digest(),
        "digest after the round trip"
    );
    assert!(
        pulled.wasm == wasm,
        "plugin.wasm pulled back differs from routewise.wasm"
    );

    // The deploy manifests, rendered with the pushed image, validate.
    let pushed_name = format!("{}/routewise", registry.host());
    for (crd, template) in [
        (Crd::IstioWasmPlugin, WASMPLUGIN_TEMPLATE),
        (Crd::EnvoyExtensionPolicy, EXTENSION_POLICY_TEMPLATE),
    ] {
        let yaml = render_deploy_template(template, &pushed_name, &pulled.manifest_digest).expect("render");
        if let Err(errors) = check(crd, &yaml) {
            panic!("{crd:?} rendered with the pushed digest:\n{}", errors.join("\n"));
        }
    }

    // Envoy runs the pulled module and routes with it.
    let pulled_wasm = work.0.join("plugin.wasm");
    fs::write(&pulled_wasm, &pulled.wasm).expect("write the pulled module");
    let up = EchoUpstream::start("pulled");
    let config = json!({
        "domains": [{"name": "*", "api_mappings": [{"id": "all", "base_path": "", "api": "a", "stage": "prod"}]}],
        "apis": [{
            "id": "a",
            "stages": {"prod": {"integration": {"type": "http", "cluster": "pulled"}}},
            "routes": [{"id": "items", "key": "GET /items/{id}"}],
        }],
    })
    .to_string();
    let envoy = Envoy::start_with_module(&config, &[&up], &Module::Wasm(pulled_wasm.clone()));
    let resp = envoy.send(Request::get("/items/42").host("api.example.com"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.upstream().as_deref(), Some("pulled"));
    let log = envoy.access_log_for(&resp);
    assert_eq!(log["route_id"], "items", "{log}");
    assert_eq!(log["upstream_cluster"], "pulled", "{log}");
}
