//! `routewise image build|inspect|render` as a user runs them: the binary, its output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MIN_WASM: &[u8] = b"\0asm\x01\0\0\0";
/// The manifest digest of the image of [`MIN_WASM`] (pinned by the unit tests of `routewise::oci` too).
const MIN_DIGEST: &str = "sha256:ac8bc17be0214ed6258f5a4c5f730a88e59cfc8059afd2da22af0a86fde31a8e";

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("routewise-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn routewise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routewise"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn build_prints_the_digest_and_two_builds_agree() {
    let t = TempDir::new("build");
    let wasm = t.0.join("plugin.wasm");
    std::fs::write(&wasm, MIN_WASM).unwrap();
    let a = routewise(&[
        "image",
        "build",
        "--wasm",
        p(&wasm),
        "--out",
        p(&t.0.join("a")),
        "--tag",
        "v1",
    ]);
    let b = routewise(&[
        "image",
        "build",
        "--wasm",
        p(&wasm),
        "--out",
        p(&t.0.join("b")),
        "--tag",
        "v1",
        "--archive",
        p(&t.0.join("b.tar")),
    ]);
    assert_eq!(stdout(&a), format!("{MIN_DIGEST}\n"));
    assert_eq!(stdout(&b), stdout(&a));
    assert!(t.0.join("b.tar").is_file());
    let inspect = routewise(&[
        "image",
        "inspect",
        "--layout",
        p(&t.0.join("a")),
        "--tag",
        "v1",
        "--extract",
        p(&t.0.join("x.wasm")),
    ]);
    assert_eq!(stdout(&inspect), format!("{MIN_DIGEST}\n"));
    assert_eq!(std::fs::read(t.0.join("x.wasm")).unwrap(), MIN_WASM);
}

#[test]
fn build_refuses_a_file_that_is_not_wasm_with_a_message() {
    let t = TempDir::new("notwasm");
    let f = t.0.join("x.txt");
    std::fs::write(&f, "hello").unwrap();
    let o = routewise(&[
        "image",
        "build",
        "--wasm",
        p(&f),
        "--out",
        p(&t.0.join("o")),
        "--tag",
        "v1",
    ]);
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: not a Wasm module: it does not start with \\0asm\n"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn render_fills_the_shipped_templates() {
    let t = TempDir::new("render");
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../envoy/deploy");
    let o = routewise(&[
        "image",
        "render",
        "--image",
        "registry.example.com/routewise",
        "--digest",
        MIN_DIGEST,
        "--out-dir",
        p(&t.0),
        p(&deploy.join("istio-wasmplugin.yaml.tmpl")),
        p(&deploy.join("envoy-gateway-extensionpolicy.yaml.tmpl")),
    ]);
    let listed = stdout(&o);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let istio = std::fs::read_to_string(t.0.join("istio-wasmplugin.yaml")).unwrap();
    assert!(istio.contains(&format!(
        "url: oci://registry.example.com/routewise@{MIN_DIGEST}\n"
    )));
    assert!(istio.contains(&format!("sha256: \"{}\"\n", &MIN_DIGEST[7..])));
    let eg = std::fs::read_to_string(t.0.join("envoy-gateway-extensionpolicy.yaml")).unwrap();
    assert!(eg.contains(&format!("url: \"registry.example.com/routewise@{MIN_DIGEST}\"\n")));
}
