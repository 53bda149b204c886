//! Reaching the Docker engine from testcontainers.
//!
//! testcontainers 0.28 talks to the engine through bollard 0.21 with a fixed API version (`/v1.53/...`) and
//! no version negotiation. Debian 12's `docker.io` (20.10) speaks API 1.41 at most and refuses newer clients
//! ("client version 1.53 is too new"). When the engine is older than bollard, [`ensure_engine`] starts a small
//! proxy on a unix socket of our own that removes the version prefix from each request line (the engine then
//! applies its own current version, as for an unversioned client) and asks for `Connection: close` so every
//! request gets its own connection; the bytes are otherwise copied unchanged. `DOCKER_HOST` then points at
//! the proxy. With an engine recent enough, nothing is started.
//!
//! No engine at all is a loud failure: these tests must run, never be skipped.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use testcontainers::bollard::API_DEFAULT_VERSION;

/// The engine's socket, from `DOCKER_HOST` (`unix://...`) or the default.
fn engine_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => PathBuf::from(&h["unix://".len()..]),
        Ok(h) if !h.is_empty() => panic!(
            "DOCKER_HOST={h}: the routewise container tests need a local engine on a unix socket \
             (unset DOCKER_HOST to use /var/run/docker.sock)"
        ),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// `GET path` on the engine without an API version; (status, body).
pub(crate) fn engine_get(socket: &Path, path: &str) -> io::Result<(u16, Vec<u8>)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n")?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let head_end = find(&out, b"\r\n\r\n").ok_or_else(|| io::Error::other("no HTTP head from the engine"))?;
    let head = String::from_utf8_lossy(&out[..head_end]);
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, out[head_end + 4..].to_vec()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Makes sure an engine answers and that testcontainers can talk to it (setting `DOCKER_HOST` to the version
/// proxy when needed); returns the socket the tests use. Panics with the fix when there is no engine.
pub fn ensure_engine() -> PathBuf {
    static SOCKET: OnceLock<PathBuf> = OnceLock::new();
    SOCKET
        .get_or_init(|| {
            let socket = engine_socket();
            let (status, body) = engine_get(&socket, "/version").unwrap_or_else(|e| {
                panic!(
                    "Docker engine not reachable at {}: {e}. The Envoy container tests need one: run \
                     scripts/setup (it starts dockerd when none runs)",
                    socket.display()
                )
            });
            assert_eq!(
                status,
                200,
                "GET /version on the engine: {}",
                String::from_utf8_lossy(&body)
            );
            let version: serde_json::Value = serde_json::from_slice(&body).expect("engine /version JSON");
            let api = version["ApiVersion"].as_str().unwrap_or("0.0").to_string();
            let (major, minor) = api.split_once('.').unwrap_or(("0", "0"));
            let engine = (
                major.parse::<u64>().unwrap_or(0),
                minor.parse::<u64>().unwrap_or(0),
            );
            let client = (
                API_DEFAULT_VERSION.major_version as u64,
                API_DEFAULT_VERSION.minor_version as u64,
            );
            if engine >= client {
                return socket;
            }
            let proxy = start_version_proxy(socket);
            // Set once, before testcontainers first reads it (it reads DOCKER_HOST when its client is made).
            std::env::set_var("DOCKER_HOST", format!("unix://{}", proxy.display()));
            proxy
        })
        .clone()
}

/// Starts the version-stripping proxy in this process; returns its socket path.
fn start_version_proxy(engine: PathBuf) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("routewise-tests-docker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the docker proxy dir");
    let path = dir.join("docker.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind the docker proxy socket");
    thread::Builder::new()
        .name("docker-version-proxy".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let engine = engine.clone();
                thread::spawn(move || {
                    let _ = proxy_one(conn, &engine);
                });
            }
        })
        .expect("spawn the docker proxy");
    path
}

/// `/v1.53/containers/json?all=1` -> `/containers/json?all=1`.
fn strip_version(target: &str) -> &str {
    if let Some(rest) = target.strip_prefix("/v") {
        if let Some(slash) = rest.find('/') {
            let v = &rest[..slash];
            if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return &rest[slash..];
            }
        }
    }
    target
}

fn proxy_one(mut client: UnixStream, engine: &Path) -> io::Result<()> {
    // The request head.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return Err(io::Error::other("request head too large"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let upgrade = head.to_ascii_lowercase().contains("\r\nupgrade:");
    let mut out = format!("{method} {} {version}\r\n", strip_version(target));
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if !upgrade && name.eq_ignore_ascii_case("connection") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !upgrade {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");

    let mut upstream = UnixStream::connect(engine)?;
    upstream.write_all(out.as_bytes())?;
    upstream.write_all(&buf[head_end..])?;
    let mut from_engine = upstream.try_clone()?;
    let mut to_client = client.try_clone()?;
    let back = thread::spawn(move || {
        let _ = io::copy(&mut from_engine, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::strip_version;

    #[test]
    fn strips_only_a_version_prefix() {
        assert_eq!(
            strip_version("/v1.53/containers/json?all=1"),
            "/containers/json?all=1"
        );
        assert_eq!(strip_version("/v1.41/images/a:b/json"), "/images/a:b/json");
        assert_eq!(strip_version("/version"), "/version");
        assert_eq!(strip_version("/volumes/x"), "/volumes/x");
        assert_eq!(strip_version("/_ping"), "/_ping");
    }
}
