//! A throwaway OCI registry and `skopeo`, for the image round trip (`tests/tests/oci_image.rs`).
//!
//! [`Registry::start`] runs Debian's `docker-registry` (distribution 2.8, installed by `scripts/setup`) as a
//! child process with a config of its own: filesystem storage under a temporary directory, plain HTTP on
//! `127.0.0.1:<free port>`, no auth. It is ready when `GET /v2/` answers 200 (polled with a deadline; the
//! registry exiting first is a failure that shows its log). Dropping it kills the process and removes the
//! storage. [`skopeo`] runs `skopeo` and returns its standard output, or panics with its standard error.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::envoy::free_port;
use crate::http::Request;

/// How long the registry may take to answer `/v2/`.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running `docker-registry`. Killed, and its storage removed, on drop.
pub struct Registry {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Registry {
    /// Starts a registry on a free port (again on a new port, at most 3 times, when the one picked was taken
    /// meanwhile) and waits until it answers. Panics, with the fix or its log, when it cannot.
    pub fn start() -> Registry {
        let mut tries = 0;
        loop {
            tries += 1;
            match Registry::try_start() {
                Ok(r) => return r,
                Err(log) if tries < 3 && log.contains("address already in use") => continue,
                Err(log) => panic!("docker-registry did not start. Its log:\n{log}"),
            }
        }
    }

    fn try_start() -> Result<Registry, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "routewise-registry-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(dir.join("storage")).expect("create the registry dir");
        let port = free_port();
        let config = dir.join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.join("storage").display()
            ),
        )
        .expect("write the registry config");
        let log = fs::File::create(dir.join("registry.log")).expect("create the registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run docker-registry ({e}): run scripts/setup (it installs Debian's docker-registry)")
            });
        let mut registry = Registry { child, port, dir };
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(r) = Request::get("/v2/").send(port) {
                if r.status == 200 {
                    return Ok(registry);
                }
            }
            if let Ok(Some(status)) = registry.child.try_wait() {
                return Err(format!("(exited: {status})\n{}", registry.log()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "(no answer on /v2/ after {READY_DEADLINE:?})\n{}",
                    registry.log()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`, the registry part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs `skopeo args...`; its standard output, or a panic with the command and its standard error.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run skopeo ({e}): run scripts/setup (it installs Debian's skopeo)")
        });
    assert!(
        out.status.success(),
        "skopeo {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `oci:<dir>:<tag>`, skopeo's name for an image in an OCI layout.
pub fn oci_ref(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}
