//! HTTP values as a test sees them: header lists, the client's request, the upstream's response.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An ordered header list with Envoy's semantics: keys are lower-cased on the way in, repeated keys
/// are kept, lookups return the first value (like `proxy_get_header_map_value`).
///
/// Serialised as `[["name", "value"], ...]`. Values are UTF-8 (non-UTF-8 bytes from a guest are
/// replaced with U+FFFD).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// An empty list.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.0
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Appends a header (Envoy `addCopy`).
    pub fn add(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
    }

    /// Removes every `name` and appends `name: value` (Envoy `setCopy` with the default runtime guard
    /// `http_set_copy_replace_all_headers`).
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.add(name, value);
    }

    /// Removes every `name` (Envoy `remove`).
    pub fn remove(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        self.0.retain(|(k, _)| *k != name);
    }

    /// Number of entries (what Envoy passes as `num_headers`).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sum of key and value lengths: Envoy's `HeaderMap::byteSize`, returned by `proxy_get_header_map_size`.
    pub fn byte_size(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The entries without the named pseudo-headers.
    pub(crate) fn without(&self, names: &[&str]) -> Headers {
        Headers(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// Proxy-wasm pairs wire format: `u32 N`, N × (`u32 key_len`, `u32 val_len`), then each key and value
    /// followed by a NUL byte (all little-endian).
    pub(crate) fn to_pairs(&self) -> Vec<u8> {
        serialize_pairs(self.0.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
    }

    /// Builds a list from guest pairs, lower-casing keys like Envoy's `LowerCaseString`.
    pub(crate) fn from_guest_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Headers {
        Headers(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(&k).to_ascii_lowercase(),
                        String::from_utf8_lossy(&v).into_owned(),
                    )
                })
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Headers {
        Headers(
            iter.into_iter()
                .map(|(k, v)| (k.into().to_ascii_lowercase(), v.into()))
                .collect(),
        )
    }
}

pub(crate) fn serialize_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let n = pairs.clone().count();
    let mut out =
        Vec::with_capacity(4 + n * 8 + pairs.clone().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    for (k, v) in pairs.clone() {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Parses the pairs wire format; `None` when it is malformed. Empty input (or a lone NUL) is an empty map.
pub(crate) fn parse_pairs(buf: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if buf.len() < 4 {
        return buf.iter().all(|b| *b == 0).then(Vec::new);
    }
    let u32_at = |at: usize| -> Option<usize> {
        let b = buf.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = u32_at(0)?;
    let mut sizes = Vec::with_capacity(n.min(1024));
    let mut at = 4usize;
    for _ in 0..n {
        sizes.push((u32_at(at)?, u32_at(at + 4)?));
        at = at.checked_add(8)?;
    }
    let mut out = Vec::with_capacity(sizes.len());
    for (klen, vlen) in sizes {
        let k = buf.get(at..at.checked_add(klen)?)?.to_vec();
        at += klen + 1;
        let v = buf.get(at..at.checked_add(vlen)?)?.to_vec();
        at += vlen + 1;
        if at > buf.len() {
            return None;
        }
        out.push((k, v));
    }
    Some(out)
}

/// The request a client sends through Envoy.
///
/// Envoy's HTTP connection manager turns it into request headers in this order: `:authority`,
/// `:path`, `:method`, `:scheme`, the given headers (keys lower-cased), then what the connection manager
/// adds before any filter runs (`ConnectionManagerUtility::mutateRequestHeaders`, `use_remote_address:
/// true`): `x-forwarded-for` (appended to), `x-forwarded-proto` and `x-request-id` unless the request carries
/// them, and `x-envoy-external-address` (set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `:method`.
    pub method: String,
    /// `:path`, with the query string.
    pub path: String,
    /// `:authority` (the HTTP/1.1 `host` header).
    pub authority: String,
    /// Further headers, in order.
    pub headers: Headers,
    /// Body chunks as they arrive (an empty list or only empty chunks means no body).
    pub body: Vec<Vec<u8>>,
    /// Trailers, if any.
    pub trailers: Option<Headers>,
    /// The stream's dynamic metadata as filters before the plugin left it (e.g. Envoy's `jwt_authn` with
    /// `payload_in_metadata`): namespace → key → value (a JSON value standing for the `google.protobuf.Value`).
    /// Read with `proxy_get_property(["metadata", "filter_metadata", ns, key, ...])`.
    pub dynamic_metadata: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

impl Request {
    /// A request with the given method and path to `example.com`, no headers and no body.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            authority: "example.com".to_string(),
            headers: Headers::new(),
            body: Vec::new(),
            trailers: None,
            dynamic_metadata: BTreeMap::new(),
        }
    }

    /// Sets dynamic metadata `key` of namespace `ns` (as a filter before the plugin would).
    pub fn dynamic_metadata(mut self, ns: &str, key: &str, value: serde_json::Value) -> Request {
        self.dynamic_metadata
            .entry(ns.to_string())
            .or_default()
            .insert(key.to_string(), value);
        self
    }

    /// `GET path`.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: &str) -> Request {
        Request::new("POST", path)
    }

    /// Sets `:authority`.
    pub fn authority(mut self, authority: &str) -> Request {
        self.authority = authority.to_string();
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.add(name, value);
        self
    }

    /// Sets the body as one chunk.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = vec![body.into()];
        self
    }

    /// Sets the body as several chunks (each one `on_http_request_body` call unless the filter is paused).
    pub fn body_chunks<I: IntoIterator<Item = B>, B: Into<Vec<u8>>>(mut self, chunks: I) -> Request {
        self.body = chunks.into_iter().map(Into::into).collect();
        self
    }

    /// Adds trailers.
    pub fn trailers(mut self, trailers: Headers) -> Request {
        self.trailers = Some(trailers);
        self
    }
}

/// A response: what the upstream sends, or what the client finally receives.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Response {
    /// `:status`.
    pub status: u32,
    /// Headers without `:status`.
    pub headers: Headers,
    /// The body (for an upstream response, [`Response::chunks`] may split it).
    pub body: Vec<u8>,
    /// Trailers, if any.
    pub trailers: Option<Headers>,
    /// How an upstream response body is split into chunks (byte lengths); empty = one chunk.
    pub chunks: Vec<usize>,
}

impl Response {
    /// A response with the given status, no headers, no body.
    pub fn new(status: u32) -> Response {
        Response {
            status,
            ..Response::default()
        }
    }

    /// `200 OK`.
    pub fn ok() -> Response {
        Response::new(200)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.add(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// Splits the body into chunks of these sizes when it is sent (the rest goes in a last chunk).
    pub fn chunked(mut self, sizes: &[usize]) -> Response {
        self.chunks = sizes.to_vec();
        self
    }

    /// Adds trailers.
    pub fn trailers(mut self, trailers: Headers) -> Response {
        self.trailers = Some(trailers);
        self
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    pub(crate) fn body_chunks(&self) -> Vec<Vec<u8>> {
        if self.body.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut rest = self.body.as_slice();
        for &n in &self.chunks {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at(n.min(rest.len()));
            out.push(a.to_vec());
            rest = b;
        }
        if !rest.is_empty() {
            out.push(rest.to_vec());
        }
        out
    }
}

/// What the upstream (the router) received after the filter chain: every header mutation, `:path`
/// rewrite and body change applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// `:method` as the filter left it.
    pub method: String,
    /// `:path` as the filter left it.
    pub path: String,
    /// Every header the router received, including `:authority` and `:scheme` (but not `:method` and
    /// `:path`, which are above).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
    /// Trailers, if any.
    pub trailers: Option<Headers>,
}

impl UpstreamRequest {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Wire-format fixture, annotated: 2 pairs; sizes (1,2) and (0,1); then "a\0bc\0" and "\0d\0".
    const PAIRS: &[u8] = &[
        2, 0, 0, 0, // N = 2
        1, 0, 0, 0, 2, 0, 0, 0, // key 1 len, value 1 len
        0, 0, 0, 0, 1, 0, 0, 0, // key 2 len, value 2 len
        b'a', 0, b'b', b'c', 0, // "a" NUL "bc" NUL
        0, b'd', 0, // "" NUL "d" NUL
    ];

    #[test]
    fn pairs_round_trip_the_annotated_fixture() {
        let parsed = parse_pairs(PAIRS).unwrap();
        assert_eq!(
            parsed,
            vec![(b"a".to_vec(), b"bc".to_vec()), (b"".to_vec(), b"d".to_vec())]
        );
        let h = Headers::from_guest_pairs(parsed);
        assert_eq!(h.to_pairs(), PAIRS);
    }

    #[test]
    fn malformed_pairs_are_rejected_and_empty_forms_accepted() {
        assert_eq!(parse_pairs(&[]), Some(vec![]));
        assert_eq!(parse_pairs(&[0]), Some(vec![]));
        assert_eq!(parse_pairs(&[0, 0, 0, 0]), Some(vec![]));
        assert_eq!(parse_pairs(&PAIRS[..PAIRS.len() - 1]), None);
        assert_eq!(parse_pairs(&[9, 0, 0, 0, 1]), None);
    }

    #[test]
    fn set_replaces_every_value_and_get_returns_the_first() {
        let mut h: Headers = [("X-A", "1"), ("x-a", "2"), ("b", "3")].into_iter().collect();
        assert_eq!(h.get("x-a"), Some("1"));
        assert_eq!(h.get_all("X-A"), vec!["1", "2"]);
        h.set("x-a", "9");
        assert_eq!(h.0, vec![("b".into(), "3".into()), ("x-a".into(), "9".into())]);
        assert_eq!(h.byte_size(), 1 + 1 + 3 + 1);
    }

    #[test]
    fn upstream_bodies_split_into_the_requested_chunks() {
        let r = Response::ok().body("abcdef").chunked(&[2, 3]);
        assert_eq!(
            r.body_chunks(),
            vec![b"ab".to_vec(), b"cde".to_vec(), b"f".to_vec()]
        );
        assert!(Response::ok().body_chunks().is_empty());
    }
}
