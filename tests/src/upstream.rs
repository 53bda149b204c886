//! An in-process echo upstream: an HTTP/1.1 server on a free loopback port that records every request it
//! receives (method, path, headers in order with repeats, body) and answers 200 with a JSON echo
//! `{"upstream", "method", "path", "headers": [[name, value], ...], "body"}`.
//!
//! Tests assert on what the upstream *received* (the path after `strip_base_path`, the cluster header the
//! filter set, that a client's spoofed header did not survive), not only on what the client got back.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the upstream received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`...
    pub method: String,
    /// The request target as received (path and query).
    pub path: String,
    /// Headers in arrival order, names lower-cased, repeated headers kept as separate entries.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A scripted answer: status, headers (sent as given; `content-length` is added unless the headers set
/// `content-length` or `transfer-encoding`), body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Chooses the answer to a request (see [`EchoUpstream::start_scripted`]).
pub type Script = Arc<dyn Fn(&RecordedRequest) -> Answer + Send + Sync>;

/// A running echo upstream; stops when dropped.
pub struct EchoUpstream {
    name: String,
    port: u16,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    stop: Arc<AtomicBool>,
}

impl EchoUpstream {
    /// Starts an upstream called `name` (it is also the Envoy cluster name the harness gives it) on a free
    /// port of 127.0.0.1.
    pub fn start(name: &str) -> EchoUpstream {
        EchoUpstream::start_with(name, None)
    }

    /// An upstream that records like [`EchoUpstream::start`] but answers each request with `script(request)`
    /// instead of the echo (e.g. the upstream response of a fidelity case).
    pub fn start_scripted(
        name: &str,
        script: impl Fn(&RecordedRequest) -> Answer + Send + Sync + 'static,
    ) -> EchoUpstream {
        EchoUpstream::start_with(name, Some(Arc::new(script)))
    }

    fn start_with(name: &str, script: Option<Script>) -> EchoUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an echo upstream on 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (name, requests, stop) = (name.to_string(), requests.clone(), stop.clone());
            thread::Builder::new()
                .name(format!("upstream-{name}"))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(conn) = conn {
                            let (name, requests, script) = (name.clone(), requests.clone(), script.clone());
                            thread::spawn(move || {
                                let _ = serve(conn, &name, &requests, script.as_ref());
                            });
                        }
                    }
                })
                .expect("spawn upstream thread");
        }
        EchoUpstream {
            name: name.to_string(),
            port,
            requests,
            stop,
        }
    }

    /// The upstream's (and its cluster's) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// The request whose `x-log-tag` header is `tag` (the harness tags every request it sends).
    pub fn request_tagged(&self, tag: &str) -> Option<RecordedRequest> {
        self.requests()
            .into_iter()
            .find(|r| r.header("x-log-tag") == Some(tag))
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one connection: requests in a keep-alive loop until the peer closes.
fn serve(
    conn: TcpStream,
    name: &str,
    requests: &Mutex<Vec<RecordedRequest>>,
    script: Option<&Script>,
) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let Some(req) = read_request(&mut reader)? else {
            return Ok(());
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let echo = serde_json::json!({
            "upstream": name,
            "method": req.method,
            "path": req.path,
            "headers": req.headers.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&req.body),
        });
        let head_only = req.method == "HEAD";
        if let Some(script) = script {
            let (status, headers, body) = script(&req);
            requests.lock().expect("requests lock").push(req);
            let mut out = format!("HTTP/1.1 {status} Scripted\r\n");
            let framed = headers.iter().any(|(k, _)| {
                k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
            });
            if !framed {
                out.push_str(&format!("content-length: {}\r\n", body.len()));
            }
            for (k, v) in &headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            if close {
                out.push_str("connection: close\r\n");
            }
            out.push_str("\r\n");
            writer.write_all(out.as_bytes())?;
            if !head_only {
                writer.write_all(&body)?;
            }
            writer.flush()?;
            if close {
                let _ = writer.shutdown(Shutdown::Both);
                return Ok(());
            }
            continue;
        }
        requests.lock().expect("requests lock").push(req);
        let body = serde_json::to_vec(&echo).expect("serialize echo");
        let mut out = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-upstream: {name}\r\n",
            body.len()
        );
        if close {
            out.push_str("connection: close\r\n");
        }
        out.push_str("\r\n");
        writer.write_all(out.as_bytes())?;
        if !head_only {
            writer.write_all(&body)?;
        }
        writer.flush()?;
        if close {
            let _ = writer.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

/// Reads one HTTP/1.1 request; `None` when the peer closed the connection before a new request.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<RecordedRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers = crate::http::read_headers(reader)?;
    let req = RecordedRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let body = crate::http::read_body(reader, &req.headers, false)?;
    Ok(Some(RecordedRequest { body, ..req }))
}

/// Reads exactly `n` bytes.
pub(crate) fn read_exact_vec(reader: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    reader.read_exact(&mut buf)?;
    Ok(buf)
}
