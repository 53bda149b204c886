//! Claims of a JWT verified by Envoy's own `jwt_authn` filter, for the event's `requestContext.authorizer`
//! (issue 15; lambda-streaming.md §7 for where API Gateway puts them, §8 for how they reach a filter).
//!
//! # Where the claims come from (§8.4)
//!
//! `jwt_authn`, placed before routewise, verifies the token and, on success, writes the payload segment
//! (base64url, padded or not) into its `forward_payload_header` and the payload into its dynamic metadata
//! (namespace [`JWT_AUTHN_NAMESPACE`], key `payload_in_metadata`). The content is read from the header: the
//! dynamic module's ABI cannot read a metadata `Struct` (§8.3), and proxy-wasm's serialization of one is
//! untyped and fails on a `null` (§8.2). The **trust** comes from the metadata: a client can send the header,
//! but only `jwt_authn` can create the key, so the claims are used only when the key is present
//! ([`crate::pipeline::Host::has_dynamic_metadata`]). The header is always removed (`pipeline`), forged or
//! not, before the event's headers are built.
//!
//! # Rendering (§7)
//!
//! Both formats carry every claim as a **string** ([`render_claim`]), one rule for both:
//! - **2.0** `requestContext.authorizer.jwt.claims` is a map of strings (§7.2, AWS's example and the Go type
//!   `map[string]string`): strings as they are, numbers and booleans as text, arrays as `"[a b]"` (space
//!   separated, bracketed, not JSON), `null` claims left out, objects as their compact JSON text.
//!   `jwt.scopes` is the token's `scope` (space-separated string) or `scp` (string or array) as an array of
//!   strings, `null` when the token has none ([`JwtClaims::scopes`]). API Gateway also sends `null` on a route
//!   without `authorizationScopes` (§7.2, measured); routewise has no such setting (jwt_authn authorizes, and
//!   its requirements name no scopes), so the token's scopes are always sent: a function that checks them
//!   sees what the token grants.
//! - **1.0** `requestContext.authorizer.claims.<claim>`: the Cognito user-pool authorizer's place, the one
//!   REST authorizer whose claims path AWS documents for the proxy event (§7.1, [S27]); its values arrive as
//!   strings ([S29]), and 1.0's other authorizer values are strings too (`$context.authorizer.<key>` is
//!   stringified, [S26]). So 1.0 uses the same strings as 2.0, which keeps one code path and gives functions
//!   written for Cognito what they read. The newer REST JWT authorizer may keep JSON types ([S30]), but its
//!   event path is unverified (§7.1); strings are the documented, verified behaviour. How Cognito renders an
//!   array is unverified (§7.1); the 2.0 rule is used.
//! - Numbers: an integer as its digits (`exp` → `"1700000000"`), any other number as the shortest text that
//!   reads back to the same double (`1.5` → `"1.5"`).
//! - Claims appear in byte order of their names (a duplicate name in the payload keeps its last value).
//!
//! # Bounds
//!
//! The header value is at most the base64 length of `max_payload_bytes` (checked before decoding), the decoded
//! payload at most `max_payload_bytes`, parsed once by `serde_json` (recursion limited). A payload that is
//! too large, not base64url, not JSON or not an object gives no claims; the pipeline logs why (rate-limited).

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::config::JwtConfig;
use crate::error::{ConfigErrors, ErrorKind};

/// The dynamic metadata namespace `jwt_authn` writes (`payload_in_metadata`), §8.1.
pub const JWT_AUTHN_NAMESPACE: &str = "envoy.filters.http.jwt_authn";
/// Largest `max_payload_bytes` (1 MiB: above Envoy's default request header limit of 60 KiB many times over).
pub const MAX_PAYLOAD_BYTES_LIMIT: u64 = 1024 * 1024;
/// Longest `metadata_key`.
pub const MAX_METADATA_KEY_LEN: usize = 256;
/// Longest `payload_header` name.
pub const MAX_HEADER_NAME_LEN: usize = 128;

/// base64url as `jwt_authn` writes the payload: without padding, or padded with `pad_forward_payload_header`.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A Lambda integration's compiled `jwt` ([`JwtConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSource {
    /// The header `jwt_authn` forwards the payload in (lowercase).
    pub payload_header: Arc<str>,
    /// The key of `jwt_authn`'s dynamic metadata that says a token was verified.
    pub metadata_key: Arc<str>,
    /// Largest decoded payload read.
    pub max_payload_bytes: usize,
}

impl JwtSource {
    /// Validates `config` (at `path`, the `jwt` field's path), recording every error with its field path.
    pub fn compile(path: &str, config: &JwtConfig, errors: &mut ConfigErrors) -> Option<JwtSource> {
        let mut ok = true;
        let header = config.payload_header.to_ascii_lowercase();
        if let Err(reason) = check_payload_header(&header) {
            errors.push(
                format!("{path}.payload_header"),
                ErrorKind::Invalid {
                    value: config.payload_header.clone(),
                    reason,
                },
            );
            ok = false;
        }
        let key = &config.metadata_key;
        let bad_key = if key.is_empty() {
            Some("empty; use the `payload_in_metadata` of the jwt_authn provider".to_string())
        } else if key.len() > MAX_METADATA_KEY_LEN {
            Some(format!(
                "longer than {MAX_METADATA_KEY_LEN} bytes ({})",
                key.len()
            ))
        } else if key.chars().any(char::is_control) {
            // NUL would split a proxy-wasm property path (§8.2); no control character names a key.
            Some("control characters are not allowed".to_string())
        } else {
            None
        };
        if let Some(reason) = bad_key {
            errors.push(
                format!("{path}.metadata_key"),
                ErrorKind::Invalid {
                    value: key.clone(),
                    reason,
                },
            );
            ok = false;
        }
        let max = config.max_payload_bytes;
        if !(1..=MAX_PAYLOAD_BYTES_LIMIT).contains(&max) {
            errors.push(
                format!("{path}.max_payload_bytes"),
                ErrorKind::OutOfRange {
                    value: i64::try_from(max).unwrap_or(i64::MAX),
                    min: 1,
                    max: MAX_PAYLOAD_BYTES_LIMIT as i64,
                },
            );
            ok = false;
        }
        ok.then(|| JwtSource {
            payload_header: header.into(),
            metadata_key: key.as_str().into(),
            max_payload_bytes: usize::try_from(max).unwrap_or(usize::MAX),
        })
    }
}

/// The payload header's name: an HTTP token (as the plugins' header names), never a pseudo-header, a framing
/// header or one the request needs (the filter removes it from every request of the integration).
fn check_payload_header(lower: &str) -> Result<(), String> {
    if lower.len() > MAX_HEADER_NAME_LEN {
        return Err(format!(
            "longer than {MAX_HEADER_NAME_LEN} characters ({})",
            lower.len()
        ));
    }
    crate::plugins::check_header_name(lower)?;
    const NEEDED: [&str; 5] = ["host", "authorization", "cookie", "content-type", "x-request-id"];
    if crate::plugins::FRAMING_HEADERS.contains(&lower) || NEEDED.contains(&lower) {
        return Err(format!(
            "`{lower}` is a header the request needs, and the filter removes the payload header from every \
             request; use the jwt_authn provider's forward_payload_header name (e.g. x-jwt-payload)"
        ));
    }
    Ok(())
}

/// The claims of a verified token, rendered for the event ([`render_claim`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtClaims {
    /// Every claim that is not `null`, as a string, in byte order of the names.
    pub claims: Vec<(String, String)>,
    /// 2.0 `jwt.scopes`: `scope` (space-separated) or else `scp` (a string or an array of strings); `None`
    /// when the token has no scope (`null` in the event).
    pub scopes: Option<Vec<String>>,
}

/// Why a verified payload gave no claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// The header value is longer than `max_payload_bytes` can encode to, or decodes to more.
    TooLarge {
        /// Bytes of the header value, or of the decoded payload.
        len: usize,
        /// `max_payload_bytes`.
        limit: usize,
    },
    /// Not base64url.
    NotBase64Url,
    /// Not JSON (serde's message).
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::TooLarge { len, limit } => {
                write!(f, "the payload ({len} bytes) is over max_payload_bytes ({limit})")
            }
            PayloadError::NotBase64Url => f.write_str("the payload header is not base64url"),
            PayloadError::NotJson(e) => write!(f, "the payload is not JSON: {e}"),
            PayloadError::NotAnObject => f.write_str("the payload is not a JSON object"),
        }
    }
}

/// Decodes the payload header's value (base64url, padded or not) into the event's claims; see the module
/// docs for the bounds and the rendering.
pub fn claims_from_payload(header_value: &str, max_payload_bytes: usize) -> Result<JwtClaims, PayloadError> {
    let text = header_value.trim();
    // Checked before decoding: base64 writes 4 characters per 3 bytes (padding included).
    let longest = max_payload_bytes.div_ceil(3).saturating_mul(4);
    if text.len() > longest {
        return Err(PayloadError::TooLarge {
            len: text.len(),
            limit: max_payload_bytes,
        });
    }
    let bytes = BASE64URL.decode(text).map_err(|_| PayloadError::NotBase64Url)?;
    if bytes.len() > max_payload_bytes {
        return Err(PayloadError::TooLarge {
            len: bytes.len(),
            limit: max_payload_bytes,
        });
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(PayloadError::NotAnObject);
    };
    Ok(claims_from_object(&map))
}

/// [`JwtClaims`] of a payload object.
pub fn claims_from_object(map: &Map<String, Value>) -> JwtClaims {
    let mut claims: Vec<(String, String)> = map
        .iter()
        .filter_map(|(k, v)| render_claim(v).map(|s| (k.clone(), s)))
        .collect();
    crate::sort::sort_by(&mut claims, |a, b| a.0.cmp(&b.0));
    JwtClaims {
        claims,
        scopes: scopes_of(map),
    }
}

/// One claim as API Gateway's HTTP API renders it (§7.2): `None` for `null` (left out), a string as it is,
/// a number or boolean as its text, an array as `[a b]`, an object as compact JSON text.
pub fn render_claim(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        _ => {
            let mut out = String::new();
            render_into(v, &mut out);
            Some(out)
        }
    }
}

/// [`render_claim`] of a non-null value, written into one buffer: nested arrays cost their size once, not
/// once per level.
fn render_into(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                // An element that is `null` is written `null`: dropping it would shift its neighbours.
                render_into(item, out);
            }
            out.push(']');
        }
        Value::Null | Value::Object(_) | Value::Bool(_) | Value::Number(_) => out.push_str(&v.to_string()),
    }
}

/// `scope` (space-separated string, or an array) or else `scp`; `None` when neither gives a scope.
fn scopes_of(map: &Map<String, Value>) -> Option<Vec<String>> {
    ["scope", "scp"].iter().find_map(|name| {
        let scopes: Vec<String> = match map.get(*name)? {
            Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str())
                .flat_map(str::split_whitespace)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        (!scopes.is_empty()).then_some(scopes)
    })
}

#[cfg(test)]
mod tests;
