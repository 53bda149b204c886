//! A tiny HTTP/1.1 client over std's `TcpStream`, so tests control the request exactly: any `Host`, raw paths
//! (`//a/../b`, `%2F`) sent as written, repeated header lines, and every response header kept in order.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::upstream::read_exact_vec;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Request target, sent byte for byte.
    pub path: String,
    /// Headers in order; `Host` among them when set.
    pub headers: Vec<(String, String)>,
    /// Body (sent with `content-length`).
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` and raw `path`, `Host: localhost`.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers: vec![("host".to_string(), "localhost".to_string())],
            body: Vec::new(),
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: &str) -> Request {
        Request::new("POST", path)
    }

    /// Sets the `Host` header.
    pub fn host(mut self, host: &str) -> Request {
        self.headers.retain(|(k, _)| k != "host");
        self.headers.insert(0, ("host".to_string(), host.to_string()));
        self
    }

    /// Adds a header line (a second call with the same name adds a second line).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sends the request to 127.0.0.1:`port` on a new connection (`connection: close`) and reads the whole
    /// response.
    pub fn send(&self, port: u16) -> io::Result<Response> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut writer = stream.try_clone()?;
        self.write_to(&mut writer, true)?;
        read_response(&mut BufReader::new(stream), &self.method, true)
    }

    /// Writes the request line, headers (`connection: close` or `keep-alive`) and body.
    fn write_to(&self, writer: &mut impl Write, close: bool) -> io::Result<()> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        head.push_str(if close {
            "connection: close\r\n\r\n"
        } else {
            "connection: keep-alive\r\n\r\n"
        });
        writer.write_all(head.as_bytes())?;
        writer.write_all(&self.body)?;
        writer.flush()
    }
}

/// One HTTP/1.1 connection to 127.0.0.1 kept open across requests (keep-alive), for tests of what
/// happens to streams on an existing connection.
pub struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to 127.0.0.1:`port`.
    pub fn open(port: u16) -> io::Result<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Connection {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Sends `req` on this connection and reads its response (which must be framed: a response that
    /// closes the connection ends this connection's use).
    pub fn send(&mut self, req: &Request) -> io::Result<Response> {
        req.write_to(&mut self.writer, false)?;
        read_response(&mut self.reader, &req.method, false)
    }
}

/// Reads one response (status line, headers, body; to EOF only when `until_eof` and it is not framed).
fn read_response(reader: &mut impl BufRead, method: &str, until_eof: bool) -> io::Result<Response> {
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
    let headers = read_headers(reader)?;
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        read_body(reader, &headers, until_eof)?
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased, repeats kept.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
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

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// For an answer from an [`crate::upstream::EchoUpstream`]: the upstream's name.
    pub fn upstream(&self) -> Option<String> {
        self.json()?.get("upstream")?.as_str().map(str::to_string)
    }
}

/// Reads header lines up to the empty line; names lower-cased.
pub(crate) fn read_headers(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in headers"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Ok(headers);
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

/// Reads a message body: chunked, by `content-length`, or (responses only, `until_eof`) to the end.
pub(crate) fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    until_eof: bool,
) -> io::Result<Vec<u8>> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_hex = size_line.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk {size_line:?}"))
            })?;
            if size == 0 {
                // Trailers, up to the empty line.
                read_headers(reader)?;
                return Ok(body);
            }
            body.extend(read_exact_vec(reader, size)?);
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    }
    if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        return read_exact_vec(reader, len);
    }
    let mut body = Vec::new();
    if until_eof {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}
