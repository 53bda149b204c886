//! Small JSON helpers: a string writer for the event (L1, L2), compact re-printing of values (U5, U6,
//! U10), and ordered, borrowing views of objects whose duplicate keys resolve to the last one (U3).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Appends `s` as a JSON string literal: `"`, `\` and every control character below U+0020 are escaped,
/// everything else (including non-ASCII) is copied as UTF-8.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut bytes = s.as_bytes();
    // Fast path for long text (a request body): whole chunks that need no escape are copied at once.
    while bytes.len() >= 256 {
        let (chunk, rest) = bytes.split_at(256);
        if super::scan::has_control(chunk) || memchr::memchr2(b'"', b'\\', chunk).is_some() {
            break;
        }
        out.extend_from_slice(chunk);
        bytes = rest;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        start = i + 1;
        if short.is_empty() {
            let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Appends valid JSON `text` without its insignificant whitespace: the compact JSON text of U5, U6, U10.
/// Numbers, escapes and key order are kept as the function wrote them.
pub(crate) fn write_compact(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.push(b);
        }
    }
}

/// [`write_compact`] into a new `String`.
pub(crate) fn compact(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    write_compact(&mut out, text);
    // Removing ASCII whitespace between tokens of valid UTF-8 keeps it valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// A JSON value seen through its text, classified only as far as the unwrapping rules need.
#[derive(Debug, PartialEq)]
pub(crate) enum Json<'a> {
    /// `null`.
    Null,
    /// A string, borrowed from the input when it has no escapes.
    Str(Cow<'a, str>),
    /// Any other value (number, boolean, array, object), as its text (not yet compacted).
    Other(&'a str),
}

/// A JSON value's text (a string with its quotes), as picked from a document, plus what the scan learned,
/// so that a megabyte body is not scanned again for `\` or for control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raw<'a> {
    /// The value's text: valid JSON, except that a string with `checked == false` may still hold a raw
    /// control character (escapes inside strings are not yet decoded).
    pub(crate) text: &'a str,
    /// A string with at least one escape sequence (always false for other values).
    pub(crate) escaped: bool,
    /// Raw control characters were looked for (and not found). False only for the lazy member of
    /// [`pick`]; [`Json::of`] and [`Raw::validate`] check it then.
    pub(crate) checked: bool,
}

/// serde_json's words for a raw control character in a string, without a position.
pub(crate) const CONTROL_CHARACTER: &str = "control character (\\u0000-\\u001F) found while parsing a string";

impl<'a> Raw<'a> {
    /// A value captured by serde_json (fully validated).
    pub(crate) fn of(raw: &'a RawValue) -> Raw<'a> {
        let text = raw.get();
        Raw {
            text,
            escaped: text.starts_with('"') && memchr::memchr(b'\\', text.as_bytes()).is_some(),
            checked: true,
        }
    }

    /// The characters of a string without escapes, not checked for control characters: only for a
    /// consumer that refuses them itself (a base64 decoder).
    pub(crate) fn unescaped_unchecked(&self) -> Option<&'a str> {
        let inner = self.text.strip_prefix('"')?.strip_suffix('"')?;
        (!self.escaped).then_some(inner)
    }

    /// `Err` when the value holds a raw control character that was not yet looked for.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.checked && super::scan::has_control(self.text.as_bytes()) {
            Err(CONTROL_CHARACTER.to_string())
        } else {
            Ok(())
        }
    }
}

impl<'a> Json<'a> {
    /// Classifies a raw value; a string with escapes is decoded. That can fail although the document
    /// parsed: skipping a value does not check its escapes (`"\ud800"`, a lone surrogate), nor, for the
    /// lazy member, control characters. The error is serde_json's message.
    pub(crate) fn of(raw: Raw<'a>) -> Result<Json<'a>, String> {
        let text = raw.text;
        Ok(match text.as_bytes().first() {
            Some(b'n') => Json::Null,
            Some(b'"') if !raw.escaped => {
                raw.validate()?;
                Json::Str(Cow::Borrowed(
                    text.get(1..text.len().saturating_sub(1)).unwrap_or_default(),
                ))
            }
            // serde_json refuses raw control characters while decoding.
            Some(b'"') => Json::Str(Cow::Owned(
                serde_json::from_str::<String>(text).map_err(|e| e.to_string())?,
            )),
            _ => Json::Other(text),
        })
    }

    /// [`Json::of`] a value captured by serde_json.
    pub(crate) fn of_raw_value(raw: &'a RawValue) -> Result<Json<'a>, String> {
        Json::of(Raw::of(raw))
    }

    /// The text a header value or body takes from this value: strings verbatim, others as compact JSON,
    /// `null` as `null` (callers that skip nulls check [`Json::Null`] first).
    pub(crate) fn into_text(self) -> Cow<'a, str> {
        match self {
            Json::Null => Cow::Borrowed("null"),
            Json::Str(s) => s,
            Json::Other(t) => Cow::Owned(compact(t)),
        }
    }
}

/// An object's members in document order, keys decoded, values raw. Parsing it fails when the text is not
/// an object.
pub(crate) struct Members<'a>(pub(crate) Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> de::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key_seed(CowKey)? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// Deserializes a map key as a `Cow`, borrowed when it has no escapes.
pub(crate) struct CowKey;

impl<'de> DeserializeSeed<'de> for CowKey {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// The top-level members the caller asks for (by name, exact case), raw; duplicate keys keep the last
/// value (U3); other keys are skipped without being kept. `Ok(None)` when the document is valid JSON but
/// not an object.
///
/// The fast scanner ([`super::scan`]) handles ordinary objects; anything it does not accept goes to
/// serde_json, which decides and words the error.
pub(crate) fn pick<'a, const N: usize>(
    text: &'a str,
    names: &'static [&'static str; N],
    lazy: Option<usize>,
) -> Result<Option<[Option<Raw<'a>>; N]>, serde_json::Error> {
    match super::scan::pick_object(text, names, lazy) {
        Some(found) => Ok(Some(found)),
        None => pick_with_serde(text, names),
    }
}

/// [`pick`] by serde_json alone (the reference the fast scanner is tested against).
pub(crate) fn pick_with_serde<'a, const N: usize>(
    text: &'a str,
    names: &'static [&'static str; N],
) -> Result<Option<[Option<Raw<'a>>; N]>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let picked = PickSeed { names }.deserialize(&mut de)?;
    de.end()?;
    Ok(picked.0.map(|found| found.map(|f| f.map(Raw::of))))
}

struct Picked<'a, const N: usize>(Option<[Option<&'a RawValue>; N]>);

struct PickSeed<const N: usize> {
    names: &'static [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for PickSeed<N> {
    type Value = Picked<'de, N>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for PickSeed<N> {
    type Value = Picked<'de, N>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Picked(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Picked(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Picked(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Picked(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Picked(None))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Picked(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Picked(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: [Option<&'de RawValue>; N] = [None; N];
        while let Some(key) = map.next_key_seed(CowKey)? {
            match self.names.iter().position(|n| *n == key) {
                Some(i) => {
                    let raw = map.next_value::<&'de RawValue>()?;
                    if let Some(slot) = found.get_mut(i) {
                        // U3: a later duplicate replaces the earlier value.
                        *slot = Some(raw);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Picked(Some(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn write_str_escapes_quotes_backslashes_and_controls() {
        let table: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("a\"b", r#""a\"b""#),
            ("a\\b", r#""a\\b""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{0}\u{1}\u{1f}", r#""\u0000\u0001\u001f""#),
            ("\u{7f}caf\u{e9} \u{2028}", "\"\u{7f}caf\u{e9} \u{2028}\""),
        ];
        // Long text: clean chunks copied whole, the escape found in a later chunk or the tail.
        let long = format!("{}\n{}\"", "a".repeat(600), "b".repeat(300));
        let want = format!("\"{}\\n{}\\\"\"", "a".repeat(600), "b".repeat(300));
        assert_eq!(written(&long), want);
        assert_eq!(serde_json::from_str::<String>(&want).unwrap(), long);
        for (input, want) in table {
            assert_eq!(written(input), *want, "{input:?}");
            // Round trip through a real JSON parser.
            assert_eq!(serde_json::from_str::<String>(want).unwrap(), *input);
        }
    }

    #[test]
    fn compact_removes_whitespace_outside_strings_only() {
        let table: &[(&str, &str)] = &[
            ("400", "400"),
            ("true", "true"),
            (r#"{ "a" : "b" }"#, r#"{"a":"b"}"#),
            ("[ 1 ,\n 2.50 ,\t1e3 ]", "[1,2.50,1e3]"),
            (r#"{"k": "a b \" c\\"}"#, r#"{"k":"a b \" c\\"}"#),
            (r#"{"b":1, "a":2, "b":3}"#, r#"{"b":1,"a":2,"b":3}"#),
        ];
        for (input, want) in table {
            assert_eq!(compact(input), *want, "{input:?}");
        }
    }

    #[test]
    fn u3_pick_keeps_the_last_duplicate() {
        let got = pick(r#"{"a":1,"b":2,"a":3}"#, &["a", "b"], None)
            .unwrap()
            .unwrap();
        assert_eq!(got[0].map(|r| r.text), Some("3"));
        assert_eq!(got[1].map(|r| r.text), Some("2"));
        let slow = pick_with_serde(r#"{"a":1,"b":2,"a":3}"#, &["a", "b"])
            .unwrap()
            .unwrap();
        assert_eq!(got, slow);
    }

    #[test]
    fn pick_matches_escaped_keys_and_reports_non_objects() {
        let got = pick(r#"{"\u0061":1}"#, &["a"], None).unwrap().unwrap();
        assert_eq!(got[0].map(|r| r.text), Some("1"));
        for text in ["[1,{}]", "\"s\"", "1", "-1", "1.5", "true", "null"] {
            assert!(pick(text, &["a"], None).unwrap().is_none(), "{text}");
        }
        assert!(pick("{", &["a"], None).is_err());
        assert!(pick("{} x", &["a"], None).is_err());
    }

    #[test]
    fn json_of_classifies_and_decodes() {
        let raw = |t: &str| {
            let r = serde_json::from_str::<&RawValue>(t).map_err(|e| e.to_string())?;
            Ok::<_, String>(Json::of_raw_value(r)?.into_text().into_owned())
        };
        assert_eq!(raw(r#""a\nb""#).unwrap(), "a\nb");
        assert_eq!(raw(r#""plain""#).unwrap(), "plain");
        assert_eq!(raw("null").unwrap(), "null");
        assert_eq!(raw(r#"{ "a" : [1, 2] }"#).unwrap(), r#"{"a":[1,2]}"#);
        // A lone surrogate passes the skipping scan but not decoding.
        assert!(raw(r#""\ud800""#).is_err());
        // The lazy member of the fast scanner is checked here.
        let lazy = Raw {
            text: "\"a\u{1}b\"",
            escaped: false,
            checked: false,
        };
        assert_eq!(Json::of(lazy), Err(CONTROL_CHARACTER.to_string()));
        assert_eq!(lazy.validate(), Err(CONTROL_CHARACTER.to_string()));
        assert_eq!(lazy.unescaped_unchecked(), Some("a\u{1}b"));
        let checked = Raw {
            checked: true,
            ..lazy
        };
        assert_eq!(checked.validate(), Ok(()));
    }
}
