//! `response-rewrite` (G2): rewrites the response status and headers before they reach the client.
//!
//! `{"status_code": 201, "headers": {"add": {..}, "set": {..}, "remove": [..]}}`. The body is never touched
//! (nothing is buffered).

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ConfigErrors, ErrorKind};

use super::{parse, HeaderEdit, HeaderOps, HeaderOpsConfig};

/// A compiled `response-rewrite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRewrite {
    /// New status.
    pub status_code: Option<u16>,
    /// Header edits.
    pub headers: HeaderOps,
}

/// `response-rewrite` (G2): what the client receives.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ResponseRewriteConfig {
    /// New status, 200..=599 except 204 and 304 (they never carry a body).
    #[serde(default)]
    status_code: Option<i64>,
    /// Response header edits.
    #[serde(default)]
    headers: Option<HeaderOpsConfig>,
}

impl ResponseRewrite {
    pub(super) fn compile(path: &str, value: &Value, errors: &mut ConfigErrors) -> Option<ResponseRewrite> {
        let c: ResponseRewriteConfig = parse(path, value, errors)?;
        let before = errors.0.len();
        let status_code = match c.status_code {
            None => None,
            // 204 and 304 never carry a body: rewriting a response that has one to them would have Envoy
            // write a body the client reads as the next response (issue 14).
            Some(s @ (204 | 304)) => {
                errors.push(
                    format!("{path}.status_code"),
                    ErrorKind::NotAllowed {
                        reason: format!(
                            "{s} never carries a body, and the response being rewritten may have one; \
                             use another status"
                        ),
                    },
                );
                None
            }
            Some(s) if (200..=599).contains(&s) => u16::try_from(s).ok(),
            Some(s) => {
                errors.push(
                    format!("{path}.status_code"),
                    ErrorKind::OutOfRange {
                        value: s,
                        min: 200,
                        max: 599,
                    },
                );
                None
            }
        };
        let headers = c
            .headers
            .as_ref()
            .map(|h| HeaderOps::compile(&format!("{path}.headers"), h, errors))
            .unwrap_or_default();
        if errors.0.len() > before {
            return None;
        }
        Some(ResponseRewrite { status_code, headers })
    }

    /// The response header edits (remove, set, add), without the status.
    pub fn header_edits(&self) -> Vec<HeaderEdit> {
        let mut out = Vec::new();
        self.headers.edits_into(&mut out);
        out
    }
}
