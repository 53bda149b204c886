//! Configuration errors: every problem found in a config, each with the field path it concerns.
//!
//! Like globset's and matchit's errors, an error carries a *kind* with data rather than a pre-formatted
//! string, so tests assert on the kind and tools can react to it; `Display` gives one line per error in the
//! form `{path}: {message}`, lowercase, without a trailing period.

use std::fmt;

/// One problem in a configuration, located by its field path (`domains[0].routing_rules[2].priority`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Field path in the user's document, dotted and indexed: `apis[1].routes[0].key`.
    pub path: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, kind: ErrorKind) -> Self {
        ConfigError {
            path: path.into(),
            kind,
        }
    }
}

/// What is wrong with a config field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The document (or a part of it) does not have the expected shape: wrong type, unknown field, missing
    /// field. The message is serde's.
    Shape(String),
    /// A number outside its allowed range.
    OutOfRange {
        /// The value given.
        value: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// Two things that must be unique are not; `other` is the path of the first one.
    Duplicate {
        /// What is duplicated, in the user's spelling (`priority 10`, `id "a"`).
        what: String,
        /// Path of the first definition.
        other: String,
    },
    /// A value that is malformed for its field (`*` in the middle of a glob, a base path starting with `/`).
    Invalid {
        /// The value given.
        value: String,
        /// Why it is invalid, and the fix when known.
        reason: String,
    },
    /// A reference to something that does not exist (an API, a stage, a service, a cluster).
    UnknownReference {
        /// What kind of thing (`api`, `stage`, `service`).
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// Too many of something (`at most 2 header conditions`).
    TooMany {
        /// What there are too many of.
        what: &'static str,
        /// The limit.
        max: usize,
        /// How many were given.
        given: usize,
    },
    /// A field that is not allowed in this context (routing rules in `API_MAPPING_ONLY` mode).
    NotAllowed {
        /// Why.
        reason: String,
    },
    /// Something required in this context is absent (a route with no path, a route with no integration
    /// for some stage).
    Missing {
        /// What is missing (`integration`, `path`).
        what: &'static str,
        /// How to provide it.
        hint: String,
    },
    /// P3: two routes of an API have the same route key (method + normalised path) and the same host, vars
    /// and address filters, so the second could never be selected for it.
    DuplicateRouteKey {
        /// The key, as written by the second route (`ANY /{proxy+}`).
        key: String,
        /// The first route: its id, or its path in the config when the id is derived.
        first: String,
        /// The second route, named the same way.
        second: String,
    },
    /// Two routes claim the same thing; both are named in the user's spelling (P3).
    Conflict {
        /// The first party's description (`` `GET /pets/{id}` ``).
        this: String,
        /// The other party's path and description.
        other: String,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Shape(msg) => write!(f, "{msg}"),
            ErrorKind::OutOfRange { value, min, max } => write!(f, "{value} is outside {min}..={max}"),
            ErrorKind::Duplicate { what, other } => write!(f, "{what} is already used by {other}"),
            ErrorKind::Invalid { value, reason } => write!(f, "`{value}` is invalid: {reason}"),
            ErrorKind::UnknownReference { what, name } => write!(f, "unknown {what} `{name}`"),
            ErrorKind::TooMany { what, max, given } => {
                write!(f, "at most {max} {what} allowed, {given} given")
            }
            ErrorKind::NotAllowed { reason } => write!(f, "{reason}"),
            ErrorKind::Missing { what, hint } => write!(f, "no {what}: {hint}"),
            ErrorKind::DuplicateRouteKey { key, first, second } => {
                write!(f, "route key {key} is defined twice: routes {first} and {second}")
            }
            ErrorKind::Conflict { this, other } => write!(f, "{this} conflicts with {other}"),
        }
    }
}

/// Most characters of a path or a message echoed in one error line: a 50 MB name in a config must not
/// become a 50 MB line in Envoy's log (issue 14); the rest is counted, not written.
pub const MAX_ECHOED_CHARS: usize = 512;

impl fmt::Display for ConfigError {
    /// One line, always: control characters the user wrote into a name or value (a header name with
    /// CR/LF) are shown escaped, so that no error can fake another line of the list (or of Envoy's log); a
    /// path or message longer than [`MAX_ECHOED_CHARS`] is cut, saying how much was left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.to_string();
        if self.path.is_empty() {
            write_one_line(f, &kind)
        } else {
            write_one_line(f, &self.path)?;
            f.write_str(": ")?;
            write_one_line(f, &kind)
        }
    }
}

fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for (written, c) in text.chars().enumerate() {
        if written == MAX_ECHOED_CHARS {
            let rest = text.chars().count() - written;
            return write!(f, "… ({rest} more characters)");
        }
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl std::error::Error for ConfigError {}

/// All the errors of one config, in document order. `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Records an error.
    pub fn push(&mut self, path: impl Into<String>, kind: ErrorKind) {
        self.0.push(ConfigError::new(path, kind));
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r12_an_echoed_value_is_cut_and_one_line() {
        let e = ConfigError::new(
            format!(
                "apis[0].routes[0].plugins.proxy-rewrite.headers.set.{}",
                "n".repeat(1_000_000)
            ),
            ErrorKind::Invalid {
                value: format!("a\r\nb{}", "v".repeat(1_000_000)),
                reason: "bad".into(),
            },
        );
        let line = e.to_string();
        assert!(line.len() < 2 * MAX_ECHOED_CHARS + 200, "{} bytes", line.len());
        assert!(!line.contains(['\r', '\n']));
        assert!(line.contains("more characters)"), "{line}");
    }
}
