//! The Envoy image with the dynamic module baked in, and Envoy started from any local image.
//!
//! [`module_image`] runs `scripts/module-image` (scripts/lib.sh `ensure_module_image`: `docker build` of
//! `envoy/deploy/dynamic-module.Dockerfile` FROM the local `routewise-envoy:1.40.0`, nothing pulled) on a copy of
//! the module this test process built, once per process, and checks that the image it names carries that
//! module's sha256 in its label. [`ImageEnvoy::start`] runs an image with host networking and a bootstrap made
//! for the free ports it picked, bind-mounting nothing but that bootstrap: whatever the filter needs (the `.so`,
//! `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`) must come from the image itself.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

use crate::envoy::{free_port, log_excerpt, routewise_module_dir, workspace_root, Refused, MODULE_FILE};
use crate::http::{Request, Response};

/// The repository of the module image (`routewise-envoy-module:<crate version>`).
pub const REPOSITORY: &str = "routewise-envoy-module";
/// Where the image puts the module: its `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`.
pub const MODULE_DIR: &str = "/usr/local/lib/routewise";
/// The module's path in the image (Envoy Gateway's `dynamicModules[].source.local.path`).
pub const MODULE_PATH: &str = "/usr/local/lib/routewise/libroutewise_module.so";
/// The label holding the sha256 of the `.so` the image was built with.
pub const SHA256_LABEL: &str = "routewise.module.sha256";

/// How long Envoy may take to become ready.
const READY_DEADLINE: Duration = Duration::from_secs(120);
/// How long an access log line may take to appear (flushed every 100 ms).
const LOG_DEADLINE: Duration = Duration::from_secs(20);

/// The module image as `scripts/module-image` built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleImage {
    /// `routewise-envoy-module:<crate version>`, the script's last line of output.
    pub reference: String,
    /// The sha256 (hex) of the `.so` it was built from, as its label says.
    pub so_sha256: String,
}

impl ModuleImage {
    /// The repository part of the reference.
    pub fn name(&self) -> &str {
        self.reference
            .rsplit_once(':')
            .map_or(&self.reference, |(n, _)| n)
    }

    /// The tag part of the reference.
    pub fn tag(&self) -> &str {
        self.reference.rsplit_once(':').map_or("latest", |(_, t)| t)
    }
}

/// The hex sha256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `docker image inspect` label `label` of `reference` (`None`: no such image or label).
pub fn image_label(reference: &str, label: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["image", "inspect", "-f"])
        .arg(format!("{{{{index .Config.Labels \"{label}\"}}}}"))
        .arg(reference)
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !value.is_empty() && value != "<no value>").then_some(value)
}

/// Builds (or finds up to date) the module image from the module this process uses
/// ([`routewise_module_dir`]), once per process: the `.so` is copied aside first, so a concurrent rebuild of
/// the module cannot change it under the check. Panics with the script's output when it fails, or when the
/// image's label names another `.so`.
pub fn module_image() -> ModuleImage {
    static IMAGE: OnceLock<ModuleImage> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let dir = TempDir::new("module-image");
            let so = dir.0.join(MODULE_FILE);
            std::fs::copy(routewise_module_dir().join(MODULE_FILE), &so).expect("copy the module aside");
            let sha = sha256_hex(&std::fs::read(&so).expect("read the module"));
            let out = Command::new(workspace_root().join("scripts/module-image"))
                .env("ROUTEWISE_MODULE_DIR", &dir.0)
                .output()
                .expect("run scripts/module-image");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "scripts/module-image failed:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let reference = stdout.lines().last().unwrap_or_default().trim().to_string();
            assert!(
                reference.starts_with(&format!("{REPOSITORY}:")),
                "scripts/module-image printed no image reference last:\n{stdout}"
            );
            let label = image_label(&reference, SHA256_LABEL);
            assert_eq!(
                label.as_deref(),
                Some(sha.as_str()),
                "{reference} is labelled with another .so than the one given to scripts/module-image:\n{stdout}"
            );
            ModuleImage {
                reference,
                so_sha256: sha,
            }
        })
        .clone()
}

/// A per-use temporary directory (removed on drop).
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "routewise-tests-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Envoy running from an arbitrary local image, with only its bootstrap mounted. Stops when dropped.
pub struct ImageEnvoy {
    container: Container<GenericImage>,
    listen_port: u16,
    admin_port: u16,
    next_tag: AtomicU64,
    _dir: TempDir,
}

impl ImageEnvoy {
    /// Starts `name:tag` (a local image whose entrypoint is Envoy) with host networking, the environment
    /// `env` besides the image's own, and the bootstrap `bootstrap(listen_port, admin_port)` mounted at
    /// `/etc/routewise/envoy.yaml`; waits until admin `/ready` answers `LIVE`, or returns the log of an Envoy
    /// that exited. Retried on new ports (at most 3 tries) when one was taken in between.
    pub fn start(
        name: &str,
        tag: &str,
        env: &[(&str, &str)],
        bootstrap: impl Fn(u16, u16) -> String,
    ) -> Result<ImageEnvoy, Refused> {
        let mut tries = 0;
        loop {
            tries += 1;
            match ImageEnvoy::start_once(name, tag, env, &bootstrap) {
                Err(refused) if tries < 3 && refused.log.contains("Address already in use") => continue,
                other => return other,
            }
        }
    }

    fn start_once(
        name: &str,
        tag: &str,
        env: &[(&str, &str)],
        bootstrap: &impl Fn(u16, u16) -> String,
    ) -> Result<ImageEnvoy, Refused> {
        crate::docker::ensure_engine();
        let dir = TempDir::new("image-envoy");
        let (listen_port, admin_port) = (free_port(), free_port());
        let file = dir.0.join("envoy.yaml");
        std::fs::write(&file, bootstrap(listen_port, admin_port)).expect("write the bootstrap");
        let mut image = GenericImage::new(name, tag)
            .with_network("host")
            .with_label("routewise-tests", "1")
            .with_mount(
                Mount::bind_mount(file.display().to_string(), "/etc/routewise/envoy.yaml")
                    .with_access_mode(AccessMode::ReadOnly),
            );
        for (k, v) in env {
            image = image.with_env_var(*k, *v);
        }
        let container = image
            .with_cmd([
                "-c",
                "/etc/routewise/envoy.yaml",
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "info",
                "--file-flush-interval-msec",
                "100",
            ])
            .start()
            .unwrap_or_else(|e| panic!("start a container from {name}:{tag}: {e}"));
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(r) = Request::get("/ready").send(admin_port) {
                if r.status == 200 && r.text().trim() == "LIVE" {
                    break;
                }
            }
            let exit_code = container.exit_code().unwrap_or(None);
            if exit_code.is_some() || !container.is_running().unwrap_or(false) {
                return Err(Refused {
                    exit_code,
                    log: String::from_utf8_lossy(&container.stderr_to_vec().unwrap_or_default()).into_owned(),
                });
            }
            if Instant::now() > deadline {
                let log =
                    String::from_utf8_lossy(&container.stderr_to_vec().unwrap_or_default()).into_owned();
                panic!(
                    "Envoy ({name}:{tag}) not ready after {READY_DEADLINE:?}. Its log:\n{}",
                    log_excerpt(&log)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(ImageEnvoy {
            container,
            listen_port,
            admin_port,
            next_tag: AtomicU64::new(1),
            _dir: dir,
        })
    }

    /// The HTTP listener port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.listen_port
    }

    /// The admin port on 127.0.0.1.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Sends `req` to the listener with a fresh `x-log-tag` (also put in the response as `x-test-log-tag`).
    pub fn send(&self, req: Request) -> Response {
        let tag = format!("t{}", self.next_tag.fetch_add(1, Ordering::SeqCst));
        let req = req.header("x-log-tag", &tag);
        let mut resp = req.send(self.listen_port).unwrap_or_else(|e| {
            panic!(
                "request {} {} failed: {e}\nEnvoy log:\n{}",
                req.method,
                req.path,
                log_excerpt(&self.log())
            )
        });
        resp.headers.push(("x-test-log-tag".to_string(), tag));
        resp
    }

    /// Envoy's own log so far (container stderr).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.container.stderr_to_vec().unwrap_or_default()).into_owned()
    }

    /// The access log entry (a JSON line of container stdout) of the request that got `resp`, waiting for it.
    pub fn access_log_for(&self, resp: &Response) -> Value {
        let tag = resp
            .header("x-test-log-tag")
            .expect("a response from ImageEnvoy::send");
        let deadline = Instant::now() + LOG_DEADLINE;
        loop {
            let out = self.container.stdout_to_vec().unwrap_or_default();
            if let Some(v) = String::from_utf8_lossy(&out)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v.get("tag").and_then(Value::as_str) == Some(tag))
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no access log line tagged {tag} after {LOG_DEADLINE:?}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The value of stat `name` on admin `/stats` (`None` when Envoy has no such stat).
    pub fn stat(&self, name: &str) -> Option<String> {
        let stats = Request::get(&format!("/stats?filter=^{name}$"))
            .send(self.admin_port)
            .ok()?
            .text();
        let prefix = format!("{name}: ");
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().to_string())
    }
}
