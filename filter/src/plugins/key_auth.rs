//! `key-auth` (G2): identifies the consumer by an API key read from a header or a query parameter.
//!
//! On an API, service or route: `{"header": "apikey", "query": "apikey", "hide_credentials": true}` (all
//! optional, these are the defaults). On a consumer: `{"key_sha256": "<64 hex digits>"}`, the SHA-256 of the
//! key, so the config never holds the key itself. Per request the presented key is hashed, looked up in a
//! hash map by digest and the digest compared in constant time; the key is never logged nor stored.
//!
//! The key's id ([`Consumer::api_key_id`], the Lambda event's 1.0 `requestContext.identity.apiKeyId`, as API
//! Gateway fills it for API keys) is the first [`API_KEY_ID_HEX_DIGITS`] hex digits of the key's SHA-256:
//! stable, derived at configure time, and exactly the start of the configured `key_sha256`, so operators can
//! tell which credential was used without the key ever leaving the filter. It names the key, not the
//! consumer (that is `principalId`), and 40 bits make two consumers' ids equal only by a 1-in-2^40 chance.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{ConsumerConfig, Lenient};
use crate::error::{ConfigErrors, ErrorKind};
use crate::request::RequestView;

use super::{check_header_name, compile_layer, invalid, parse, Layer, KEY_AUTH};

/// Default header and query parameter carrying the key (APISIX's).
pub const DEFAULT_NAME: &str = "apikey";

/// Length of a key's id ([`Consumer::api_key_id`]): this many leading hex digits of the key's SHA-256.
pub const API_KEY_ID_HEX_DIGITS: usize = 10;

/// A compiled `key-auth` of an API, service or route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAuth {
    /// Header carrying the key (lowercase), read first.
    pub header: Arc<str>,
    /// Query parameter carrying the key, read when the header is absent.
    pub query: Arc<str>,
    /// Remove the credential before forwarding. Default true.
    pub hide_credentials: bool,
    /// The only consumers admitted (`allowed_consumers`, sorted, without repeats); `None` admits every
    /// consumer with a valid key.
    pub allowed: Option<Arc<[Box<str>]>>,
}

/// `key-auth` on an API, service or route (G2).
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyAuthConfig {
    /// Request header holding the key (read first).
    #[serde(default = "default_name")]
    header: String,
    /// Query parameter holding the key, when the header is absent.
    #[serde(default = "default_name")]
    query: String,
    /// Remove the credential before forwarding.
    #[serde(default = "default_true")]
    hide_credentials: bool,
    /// Admit only these consumers (by `username`): any other consumer's valid key is refused like a wrong
    /// key (401). Absent: every consumer. `[]`: nobody, the route is closed (what `import openapi` writes
    /// for a route API Gateway protects with an authorizer).
    #[serde(default)]
    allowed_consumers: Option<Vec<String>>,
}

/// `key-auth` on a consumer: its credential (G2).
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialConfig {
    /// SHA-256 of the key, 64 hex digits (the key itself is never in the config).
    key_sha256: String,
}

fn default_name() -> String {
    DEFAULT_NAME.to_string()
}

fn default_true() -> bool {
    true
}

/// Where the key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// In this header.
    Header(Arc<str>),
    /// In this query parameter.
    Query(Arc<str>),
}

impl KeyAuth {
    pub(super) fn compile(path: &str, value: &Value, errors: &mut ConfigErrors) -> Option<KeyAuth> {
        if value.get("key_sha256").is_some() {
            errors.push(
                format!("{path}.key_sha256"),
                ErrorKind::NotAllowed {
                    reason:
                        "a key belongs to a consumer (`consumers[].plugins.key-auth.key_sha256`); on an api, \
                             service or route key-auth takes `header`, `query` and `hide_credentials`"
                            .into(),
                },
            );
            return None;
        }
        let c: KeyAuthConfig = parse(path, value, errors)?;
        let header = match check_header_name(&c.header) {
            Ok(h) => h,
            Err(e) => {
                errors.push(format!("{path}.header"), invalid(&c.header, e));
                return None;
            }
        };
        if c.query.is_empty() || c.query.contains(['&', '=', '#', '\r', '\n']) {
            errors.push(
                format!("{path}.query"),
                invalid(
                    &c.query.escape_default().to_string(),
                    "not a query parameter name",
                ),
            );
            return None;
        }
        let mut allowed_ok = true;
        for (i, name) in c.allowed_consumers.iter().flatten().enumerate() {
            if name.is_empty() || name.chars().any(char::is_control) {
                errors.push(
                    format!("{path}.allowed_consumers[{i}]"),
                    invalid(&name.escape_default().to_string(), "not a consumer's username"),
                );
                allowed_ok = false;
            }
        }
        if !allowed_ok {
            return None;
        }
        Some(KeyAuth {
            header: header.into(),
            query: c.query.into(),
            hide_credentials: c.hide_credentials,
            // Sorted once here so that `admits` is a binary search: the list is as long as the config
            // makes it, and it is consulted on every request that presents a valid key.
            allowed: c.allowed_consumers.map(|names| {
                let mut names: Vec<Box<str>> = names.into_iter().map(String::into_boxed_str).collect();
                crate::sort::sort(&mut names);
                names.dedup();
                names.into()
            }),
        })
    }

    /// `path` without this plugin's query parameter, when the query has it (a refused request's key is kept
    /// out of Envoy's access log, G2); `None` when there is nothing to take out.
    pub fn without_query_key(&self, path: &str, query: Option<&str>) -> Option<String> {
        query_param(query?, &self.query)?;
        Some(remove_query_param(path, &self.query))
    }

    /// Finds the presented key (header first, then query parameter) and its consumer.
    pub fn authenticate<'e>(
        &self,
        req: &RequestView<'_>,
        query: Option<&str>,
        consumers: &'e ConsumerSet,
    ) -> Option<(&'e Consumer, Credential)> {
        let (key, credential) = match req.header(&self.header) {
            Some(k) => (
                std::borrow::Cow::Borrowed(k),
                Credential::Header(Arc::clone(&self.header)),
            ),
            None => (
                query_param(query?, &self.query)?,
                Credential::Query(Arc::clone(&self.query)),
            ),
        };
        if key.is_empty() {
            return None;
        }
        consumers
            .find(&key)
            .filter(|c| self.admits(&c.username))
            .map(|c| (c, credential))
    }

    /// Whether `allowed_consumers` lets this consumer in (G2).
    pub fn admits(&self, username: &str) -> bool {
        self.allowed
            .as_deref()
            .is_none_or(|names| names.binary_search_by(|n| (**n).cmp(username)).is_ok())
    }
}

/// The first value of query parameter `name`, percent-decoded (`+` is a space, as in forms).
fn query_param<'q>(query: &'q str, name: &str) -> Option<std::borrow::Cow<'q, str>> {
    query.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (n == name).then(|| percent_decode(v))
    })
}

fn percent_decode(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['%', '+']) {
        return std::borrow::Cow::Borrowed(v);
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `path` (with its query) without every `name=...` query parameter; the `?` goes when nothing is left.
pub fn remove_query_param(path: &str, name: &str) -> String {
    let Some((p, q)) = path.split_once('?') else {
        return path.to_string();
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| pair.split_once('=').map_or(*pair, |(n, _)| n) != name)
        .collect();
    if kept.is_empty() || kept.iter().all(|s| s.is_empty()) {
        p.to_string()
    } else {
        format!("{p}?{}", kept.join("&"))
    }
}

/// A consumer (G1, G2).
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Name, exposed as filter state `routewise.consumer`.
    pub username: Box<str>,
    /// SHA-256 of its key, if it has a `key-auth` credential.
    digest: Option<[u8; 32]>,
    /// The key's id: the first [`API_KEY_ID_HEX_DIGITS`] hex digits of `digest` (computed once here).
    key_id: Option<Box<str>>,
    /// Its plugins other than the credential (highest precedence).
    pub plugins: Layer,
}

impl Consumer {
    /// The id of the consumer's key, never the key: the first [`API_KEY_ID_HEX_DIGITS`] hex digits of its
    /// SHA-256, i.e. of the configured `key_sha256` (lower-case). `None` for a consumer without a key.
    pub fn api_key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }
}

/// `API_KEY_ID_HEX_DIGITS` lower-case hex digits of the digest's start.
fn key_id(digest: &[u8; 32]) -> Box<str> {
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(API_KEY_ID_HEX_DIGITS)
        .filter_map(|nibble| char::from_digit(u32::from(nibble), 16))
        .collect()
}

/// The consumers, indexed by the digest of their key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerSet {
    consumers: Vec<Consumer>,
    by_digest: HashMap<[u8; 32], u32>,
}

impl ConsumerSet {
    /// Compiles `consumers` (`path` of each item: `consumers[i]`): unique usernames, valid and unique keys,
    /// known plugins.
    pub fn compile(items: &[Lenient<ConsumerConfig>], errors: &mut ConfigErrors) -> ConsumerSet {
        let mut set = ConsumerSet::default();
        let mut names: HashMap<String, String> = HashMap::new();
        let mut key_paths: HashMap<[u8; 32], String> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("consumers[{i}]");
            let Some(c) = item.report(&path, errors) else {
                continue;
            };
            if c.username.is_empty() || c.username.chars().any(char::is_control) {
                errors.push(
                    format!("{path}.username"),
                    invalid(
                        &c.username.escape_default().to_string(),
                        "empty or with control characters",
                    ),
                );
                continue;
            }
            if let Some(first) = names.get(&c.username) {
                errors.push(
                    format!("{path}.username"),
                    ErrorKind::Duplicate {
                        what: format!("username `{}`", c.username),
                        other: first.clone(),
                    },
                );
                continue;
            }
            names.insert(c.username.clone(), format!("{path}.username"));
            let mut others = c.plugins.clone();
            let credential = others.remove(KEY_AUTH);
            let ppath = format!("{path}.plugins");
            let plugins = compile_layer(&ppath, &others, errors);
            let digest = credential.and_then(|v| {
                let kpath = format!("{ppath}.{KEY_AUTH}");
                let cred: CredentialConfig = parse(&kpath, &v, errors)?;
                let kpath = format!("{kpath}.key_sha256");
                // Never echo the value: it is a credential digest.
                let Some(d) = parse_hex32(&cred.key_sha256) else {
                    errors.push(
                        kpath,
                        ErrorKind::Invalid {
                            value: "<redacted>".into(),
                            reason:
                                "the SHA-256 of the key as 64 hex digits (`printf %s \"$KEY\" | sha256sum`)"
                                    .into(),
                        },
                    );
                    return None;
                };
                if let Some(first) = key_paths.get(&d) {
                    errors.push(
                        kpath,
                        ErrorKind::Duplicate {
                            what: "key".into(),
                            other: first.clone(),
                        },
                    );
                    return None;
                }
                key_paths.insert(d, kpath);
                Some(d)
            });
            if let Some(d) = digest {
                set.by_digest.insert(d, set.consumers.len() as u32);
            }
            set.consumers.push(Consumer {
                username: c.username.as_str().into(),
                key_id: digest.as_ref().map(key_id),
                digest,
                plugins,
            });
        }
        set
    }

    /// The consumer holding `key`: looked up by the key's SHA-256, whose digest is then compared in
    /// constant time (G2).
    pub fn find(&self, key: &str) -> Option<&Consumer> {
        let d: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let c = self
            .by_digest
            .get(&d)
            .and_then(|&i| self.consumers.get(i as usize))?;
        let stored = c.digest.as_ref()?;
        ct_eq(stored, &d).then_some(c)
    }

    /// A consumer by name (explain).
    pub fn by_name(&self, username: &str) -> Option<&Consumer> {
        self.consumers.iter().find(|c| &*c.username == username)
    }

    /// Number of consumers.
    pub fn len(&self) -> usize {
        self.consumers.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }
}

/// Constant-time equality of two digests (no early exit).
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
        let h = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(h, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g2_digests_compare_in_constant_time_and_parse_as_hex() {
        let d = [7u8; 32];
        let mut e = d;
        assert!(ct_eq(&d, &d));
        e[31] ^= 1;
        assert!(!ct_eq(&d, &e));
        assert_eq!(parse_hex32(&"07".repeat(32)), Some(d));
        assert_eq!(parse_hex32(&"0G".repeat(32)), None);
        assert_eq!(parse_hex32("07"), None);
    }

    #[test]
    fn g2_the_key_id_is_the_start_of_the_configured_digest() {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0xa5;
        }
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&*key_id(&d), &hex[..API_KEY_ID_HEX_DIGITS]);
        assert_eq!(key_id(&[0xff; 32]).len(), API_KEY_ID_HEX_DIGITS);
    }

    #[test]
    fn g2_query_credential_is_removed_and_decoded() {
        assert_eq!(remove_query_param("/p?apikey=1", "apikey"), "/p");
        assert_eq!(
            remove_query_param("/p?a=1&apikey=1&apikey=2&b", "apikey"),
            "/p?a=1&b"
        );
        assert_eq!(remove_query_param("/p", "apikey"), "/p");
        assert_eq!(query_param("a=1&k=x%2By+z", "k").as_deref(), Some("x+y z"));
        assert_eq!(query_param("a=1", "k"), None);
    }
}
