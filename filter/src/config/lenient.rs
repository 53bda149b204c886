//! [`Lenient`]: a list item parsed on its own, so that one bad item does not hide the errors of the others.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ConfigErrors, ErrorKind};

/// An item of a config list: either parsed, or the shape error it produced (with the path inside the item)
/// and the raw JSON it came from, so nothing the user wrote is lost.
#[derive(Debug, Clone, PartialEq)]
pub enum Lenient<T> {
    /// The item parsed.
    Ok(T),
    /// The item did not parse.
    Err {
        /// Path inside the item (`priority`, `conditions.headers[0]`), empty for the item itself.
        path: String,
        /// serde's message.
        message: String,
        /// The item as written.
        raw: serde_json::Value,
    },
}

impl<T> Lenient<T> {
    /// The parsed item, if it parsed.
    pub fn get(&self) -> Option<&T> {
        match self {
            Lenient::Ok(t) => Some(t),
            Lenient::Err { .. } => None,
        }
    }

    /// The parsed item; records the item's shape error under `prefix` when it did not parse.
    pub fn report(&self, prefix: &str, errors: &mut ConfigErrors) -> Option<&T> {
        match self {
            Lenient::Ok(t) => Some(t),
            Lenient::Err { path, message, .. } => {
                let full = if path.is_empty() {
                    prefix.to_string()
                } else {
                    format!("{prefix}.{path}")
                };
                errors.push(full, ErrorKind::Shape(message.clone()));
                None
            }
        }
    }
}

impl<T> From<T> for Lenient<T> {
    fn from(t: T) -> Self {
        Lenient::Ok(t)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        match serde_path_to_error::deserialize::<_, T>(&raw) {
            Ok(t) => Ok(Lenient::Ok(t)),
            Err(e) => Ok(Lenient::Err {
                path: display_path(e.path()),
                message: clean_message(e.inner()),
                raw,
            }),
        }
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Lenient::Ok(t) => t.serialize(serializer),
            Lenient::Err { raw, .. } => raw.serialize(serializer),
        }
    }
}

/// A lenient item is documented as the item itself: the error variant exists only while reporting.
#[cfg(not(target_arch = "wasm32"))]
impl<T: schemars::JsonSchema> schemars::JsonSchema for Lenient<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// `domains[0].routing_rules[2].priority` from serde_path_to_error's path (`.` alone means the root).
pub(crate) fn display_path(path: &serde_path_to_error::Path) -> String {
    let s = path.to_string();
    if s == "." || s == "?" {
        String::new()
    } else {
        s
    }
}

/// serde_json appends ` at line L column C` to its messages; the field path says more, and positions inside
/// a re-parsed item would be wrong anyway.
pub(crate) fn clean_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}
