//! [`Lenient`]: a list item parsed on its own, so that one bad item does not hide the errors of the others.
//!
//! Inside an item, serde stops at the first error. To list every error (issue "Foundation": a bad config
//! logs EVERY error with its field path), [`deserialize_repairing`] removes what serde complained about and
//! tries again: every unknown field, and every field of the wrong type or value that has a default, is
//! reported. Removing an unknown field changes nothing the filter reads, so an item whose only errors are
//! unknown fields is still validated (its semantic errors are listed too); an item repaired in any other way
//! is not, since the default that replaced the bad value could produce errors the user did not make.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ConfigErrors, ErrorKind};

/// An item of a config list: either parsed, or the shape error it produced (with the path inside the item)
/// and the raw JSON it came from, so nothing the user wrote is lost.
#[derive(Debug, Clone, PartialEq)]
pub enum Lenient<T> {
    /// The item parsed.
    Ok(T),
    /// The item parsed once its unknown fields were dropped: validated like a parsed item, and rejected
    /// for those fields.
    Repaired {
        /// The item without its unknown fields.
        value: T,
        /// `(path inside the item, serde's message)` of each unknown field.
        errors: Vec<(String, String)>,
        /// The item as written.
        raw: serde_json::Value,
    },
    /// The item did not parse.
    Err {
        /// `(path inside the item, serde's message)` of each error found (`priority`,
        /// `conditions.headers[0]`; empty for the item itself), in the order found.
        errors: Vec<(String, String)>,
        /// The item as written.
        raw: serde_json::Value,
    },
}

impl<T> Lenient<T> {
    /// The parsed item, if it parsed without errors.
    pub fn get(&self) -> Option<&T> {
        match self {
            Lenient::Ok(t) => Some(t),
            Lenient::Repaired { .. } | Lenient::Err { .. } => None,
        }
    }

    /// The item to validate (parsed, or repaired by dropping unknown fields); records the item's shape
    /// errors under `prefix`.
    pub fn report(&self, prefix: &str, errors: &mut ConfigErrors) -> Option<&T> {
        let (value, found) = match self {
            Lenient::Ok(t) => return Some(t),
            Lenient::Repaired { value, errors, .. } => (Some(value), errors),
            Lenient::Err { errors, .. } => (None, errors),
        };
        for (path, message) in found {
            errors.push(join(prefix, path), ErrorKind::Shape(message.clone()));
        }
        value
    }
}

/// `prefix.path` (`prefix` alone for an empty path; `prefix[0]` for an index path).
pub(crate) fn join(prefix: &str, path: &str) -> String {
    if path.is_empty() {
        prefix.to_string()
    } else if prefix.is_empty() || path.starts_with('[') {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}.{path}")
    }
}

/// What [`deserialize_repairing`] found.
pub(crate) struct Repairing<T> {
    /// The value, when one could be parsed after the repairs.
    pub value: Option<T>,
    /// `(path, message)` of every error, in the order found.
    pub errors: Vec<(String, String)>,
    /// Every repair was the removal of an unknown field (the value means what the user wrote).
    pub neutral: bool,
}

/// Deserializes `raw`, and after each error removes the offending field and tries again, so that one run
/// lists every error it can (see the module docs). Stops when the error cannot be repaired (the item
/// itself has the wrong type, a required field is missing) or after a bound on the number of errors.
pub(crate) fn deserialize_repairing<T: serde::de::DeserializeOwned>(raw: serde_json::Value) -> Repairing<T> {
    let mut value = None;
    let (errors, neutral) = repair(
        raw,
        &mut |raw| match serde_path_to_error::deserialize::<_, T>(raw) {
            Ok(v) => {
                value = Some(v);
                None
            }
            Err(e) => Some(e),
        },
    );
    let neutral = neutral && value.is_some();
    Repairing {
        value,
        errors,
        neutral,
    }
}

/// The loop of [`deserialize_repairing`], written once for every item type (it is the same for each, and
/// one copy per type cost the `.wasm` tens of KB): `attempt` deserializes, giving the error if any. Returns
/// the errors and whether every repair was the removal of an unknown field.
fn repair(
    mut raw: serde_json::Value,
    attempt: &mut dyn FnMut(&serde_json::Value) -> Option<serde_path_to_error::Error<serde_json::Error>>,
) -> (Vec<(String, String)>, bool) {
    const MAX_ERRORS: usize = 64;
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut neutral = true;
    let mut removed: Option<Vec<Segment>> = None;
    while errors.len() < MAX_ERRORS {
        let Some(e) = attempt(&raw) else {
            return (errors, neutral);
        };
        let segments = segments(e.path());
        let message = clean_message(e.inner());
        // Removing a required field only moves the error to its parent ("missing field"): the
        // error already reported is the one the user made.
        if let (Some(prev), Some(field)) = (&removed, missing_field(&message)) {
            if prev.len() == segments.len() + 1
                && prev.starts_with(&segments)
                && prev.last() == Some(&Segment::Key(field.to_string()))
            {
                break;
            }
        }
        let mut segments = segments;
        let mut shown = display_path(e.path());
        let unknown = unknown_field(&message).map(str::to_string);
        if let Some(field) = &unknown {
            // Inside an internally tagged enum (`integration`) serde reports an unknown field at the
            // enum's path: point at the field itself, so that only it is removed.
            if segments.last() != Some(&Segment::Key(field.clone())) {
                segments.push(Segment::Key(field.clone()));
                shown = join(&shown, field);
            }
        }
        errors.push((shown, message));
        if segments.is_empty() || !remove(&mut raw, &segments) {
            break;
        }
        neutral &= unknown.is_some();
        removed = Some(segments);
    }
    (errors, false)
}

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .filter_map(|s| match s {
            S::Map { key } => Some(Segment::Key(key.clone())),
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Enum { .. } | S::Unknown => None,
        })
        .collect()
}

/// Removes the value at `path` from `raw` (a key from its object; an element of an array is not removed,
/// which would shift the paths of the others). False when there is nothing to remove.
fn remove(raw: &mut serde_json::Value, path: &[Segment]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = raw;
    for seg in parents {
        node = match (seg, node) {
            (Segment::Key(k), serde_json::Value::Object(m)) => match m.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Index(i), serde_json::Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Key(k), serde_json::Value::Object(m)) => m.remove(k).is_some(),
        _ => false,
    }
}

/// The field name of serde's "unknown field `x`, expected ...".
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
}

/// The field name of serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

impl<T> From<T> for Lenient<T> {
    fn from(t: T) -> Self {
        Lenient::Ok(t)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The item's text, not a tree: a good item is parsed once, straight from its text. Holding each item
        // as a `serde_json::Value` (and a clone to repair) kept several trees of a large document alive at
        // once: 1.3 GB to read a 22 MB, 100,000-rule config (issue 13). Only a bad item becomes a `Value`,
        // to be repaired for its error list and kept as written.
        let text = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let mut de = serde_json::Deserializer::from_str(text.get());
        if let Ok(value) = T::deserialize(&mut de) {
            return Ok(Lenient::Ok(value));
        }
        let raw: serde_json::Value = serde_json::from_str(text.get()).map_err(serde::de::Error::custom)?;
        let r = deserialize_repairing::<T>(raw.clone());
        Ok(match r.value {
            Some(value) if r.errors.is_empty() => Lenient::Ok(value),
            Some(value) if r.neutral => Lenient::Repaired {
                value,
                errors: r.errors,
                raw,
            },
            _ => Lenient::Err {
                errors: r.errors,
                raw,
            },
        })
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Lenient::Ok(t) => t.serialize(serializer),
            Lenient::Repaired { raw, .. } | Lenient::Err { raw, .. } => raw.serialize(serializer),
        }
    }
}

/// A lenient item is documented as the item itself: the error variant exists only while reporting.
#[cfg(feature = "schema")]
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
