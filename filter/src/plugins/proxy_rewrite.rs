//! `proxy-rewrite` (G2): rewrites the request before it is forwarded.
//!
//! `{"uri": "/new", "regex_uri": ["^/old/(.*)", "/new/$1"], "host": "backend.internal",
//!   "headers": {"add": {..}, "set": {..}, "remove": [..]}}`. `uri` and `regex_uri` replace the path (the
//! query string is kept); a `regex_uri` that does not match leaves the path as it is. Regexes are compiled at
//! configure time ([`crate::matchers::rx`]: the match is one DFA pass, the `$1` capture search a Pike VM).

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::error::ConfigErrors;
use crate::matchers::rx::Regex;
use crate::matchers::vars::MAX_REGEX_GROUPS;

/// Most `$` in a `regex_uri` replacement.
const MAX_REFERENCES: usize = 32;
use crate::names::header;

use super::{invalid, parse, HeaderEdit, HeaderOps, HeaderOpsConfig};

/// A compiled `proxy-rewrite`.
#[derive(Debug, Clone)]
pub struct ProxyRewrite {
    /// New path (without query).
    pub uri: Option<Arc<str>>,
    /// Pattern and replacement applied to the path (without query).
    pub regex_uri: Option<(Regex, Arc<str>)>,
    /// New `:authority`.
    pub host: Option<Arc<str>>,
    /// Header edits.
    pub headers: HeaderOps,
}

impl PartialEq for ProxyRewrite {
    fn eq(&self, other: &Self) -> bool {
        self.uri == other.uri
            && self.regex_uri.as_ref().map(|(r, s)| (r.as_str(), s))
                == other.regex_uri.as_ref().map(|(r, s)| (r.as_str(), s))
            && self.host == other.host
            && self.headers == other.headers
    }
}

/// `proxy-rewrite` (G2): what the upstream receives.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ProxyRewriteConfig {
    /// New path (the query is kept).
    #[serde(default)]
    uri: Option<String>,
    /// `[pattern, replacement]`: a regex over the path, compiled at configure time.
    #[serde(default)]
    regex_uri: Option<Vec<String>>,
    /// New `:authority`.
    #[serde(default)]
    host: Option<String>,
    /// Request header edits.
    #[serde(default)]
    headers: Option<HeaderOpsConfig>,
}

impl ProxyRewrite {
    pub(super) fn compile(path: &str, value: &Value, errors: &mut ConfigErrors) -> Option<ProxyRewrite> {
        let c: ProxyRewriteConfig = parse(path, value, errors)?;
        let before = errors.0.len();
        if c.uri.is_some() && c.regex_uri.is_some() {
            errors.push(
                format!("{path}.regex_uri"),
                crate::error::ErrorKind::NotAllowed {
                    reason: "`uri` and `regex_uri` are exclusive".into(),
                },
            );
        }
        if let Some(u) = &c.uri {
            if !u.starts_with('/') || u.contains(['\r', '\n', '\0', ' ', '?', '#']) {
                errors.push(
                    format!("{path}.uri"),
                    invalid(
                        &u.escape_default().to_string(),
                        "a path starting with `/`, without spaces, CR/LF, `?` or `#` (the query string is kept)",
                    ),
                );
            }
        }
        let regex_uri = match &c.regex_uri {
            None => None,
            Some(v) => match v.as_slice() {
                [pattern, replacement] => {
                    // The replacement becomes the request's path: it must be one (captures substitute
                    // path bytes the client sent, which Envoy already normalised).
                    if !replacement.starts_with('/')
                        || replacement.contains(['\r', '\n', '\0', ' ', '?', '#'])
                    {
                        errors.push(
                            format!("{path}.regex_uri[1]"),
                            invalid(
                                &replacement.escape_default().to_string(),
                                "a path starting with `/`, without spaces, CR/LF, `?` or `#` (the query string is kept)",
                            ),
                        );
                    }
                    // Each `$` reference copies a group of the path: the new path is at most
                    // (references + 1) × the old one, whatever the client sends.
                    let refs = replacement.matches('$').count();
                    if refs > MAX_REFERENCES {
                        errors.push(
                            format!("{path}.regex_uri[1]"),
                            invalid(
                                &format!("{refs} `$`"),
                                format!("at most {MAX_REFERENCES} `$` references (`$1`, `${{name}}`, `$$`)"),
                            ),
                        );
                    }
                    match Regex::for_captures(pattern) {
                        Ok(r) if r.captures_len() - 1 > MAX_REGEX_GROUPS => {
                            errors.push(
                                format!("{path}.regex_uri[0]"),
                                invalid(
                                    pattern,
                                    format!(
                                        "the regex has {} capture groups; at most {MAX_REGEX_GROUPS} are allowed \
                                         (use `(?:...)` for grouping)",
                                        r.captures_len() - 1
                                    ),
                                ),
                            );
                            None
                        }
                        Ok(r) => Some((r, Arc::<str>::from(replacement.as_str()))),
                        Err(e) => {
                            errors.push(
                                format!("{path}.regex_uri[0]"),
                                invalid(pattern, format!("invalid regex: {e}")),
                            );
                            None
                        }
                    }
                }
                _ => {
                    errors.push(
                        format!("{path}.regex_uri"),
                        invalid(
                            &format!("{} items", v.len()),
                            "two items: `[pattern, replacement]` (`[\"^/old/(.*)\", \"/new/$1\"]`)",
                        ),
                    );
                    None
                }
            },
        };
        if let Some(h) = &c.host {
            if h.is_empty()
                || h.contains(|ch: char| ch.is_control() || ch.is_whitespace() || "/?#@".contains(ch))
            {
                errors.push(
                    format!("{path}.host"),
                    invalid(&h.escape_default().to_string(), "not a host[:port]"),
                );
            }
        }
        let headers = c
            .headers
            .as_ref()
            .map(|h| HeaderOps::compile(&format!("{path}.headers"), h, errors))
            .unwrap_or_default();
        if errors.0.len() > before {
            return None;
        }
        Some(ProxyRewrite {
            uri: c.uri.map(Into::into),
            regex_uri,
            host: c.host.map(Into::into),
            headers,
        })
    }

    /// The new path (with the query of `path` kept), or `None` when the path does not change.
    pub fn rewrite_path(&self, path: &str) -> Option<String> {
        let (p, q) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let new = if let Some(u) = &self.uri {
            u.to_string()
        } else if let Some((re, rep)) = &self.regex_uri {
            // One DFA pass decides whether it matches (`replace` borrows the path back when not).
            match re.replace(p, rep) {
                Cow::Borrowed(_) => return None,
                Cow::Owned(new) => new,
            }
        } else {
            return None;
        };
        Some(match q {
            Some(q) => format!("{new}?{q}"),
            None => new,
        })
    }

    /// Appends the header edits: `host` first (as `:authority`), then remove, set, add.
    pub fn header_edits(&self, out: &mut Vec<HeaderEdit>) {
        if let Some(h) = &self.host {
            out.push(HeaderEdit::Set(header::AUTHORITY.into(), Arc::clone(h)));
        }
        self.headers.edits_into(out);
    }
}
