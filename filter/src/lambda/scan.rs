//! The fast path of [`super::json::pick`]: a strict scanner for the top level of a JSON object.
//!
//! A function's answer is an object whose `body` string may be megabytes long. serde_json validates such
//! a string byte by byte (about 7 GB/s here); this scanner finds its end with `memchr2` on `"` / `\` and
//! checks for control characters in wide chunks, which is several times faster, and records whether the
//! string holds escapes so that nobody scans it for `\` again.
//!
//! Only the top level is scanned here: every non-string value is handed to serde_json as a `RawValue`,
//! and an escaped key is decoded by serde_json. The scanner is strict: it returns `None` for anything it
//! does not accept, and the caller then runs serde_json on the whole document, which decides (and words
//! the error). So a scanner bug can cost time but cannot accept invalid JSON that serde_json refuses
//! (tested differentially against the serde_json path).
//!
//! The input is a `&str`, so UTF-8 is already checked; `"` and `\` are ASCII, so every index used to cut
//! the text falls on a character boundary.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::Raw;

/// Picks the members named in `names` from a JSON object (last duplicate wins), or `None` to let serde_json
/// decide (not an object, invalid, or merely unusual).
///
/// The string value of member `names[lazy]` is not checked for raw control characters
/// ([`Raw::checked`] is false): its user validates it while consuming it (a base64 decode refuses them
/// anyway), which saves a pass over a body of megabytes.
pub(crate) fn pick_object<'a, const N: usize>(
    text: &'a str,
    names: &[&str; N],
    lazy: Option<usize>,
) -> Option<[Option<Raw<'a>>; N]> {
    let bytes = text.as_bytes();
    let mut found: [Option<Raw<'a>>; N] = [None; N];
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(bytes, i + 1);
    if bytes.get(i) == Some(&b'}') {
        return (skip_ws(bytes, i + 1) == bytes.len()).then_some(found);
    }
    loop {
        // Key.
        let (key_end, key_escaped) = scan_string(bytes, i, true)?;
        let key_text = text.get(i..key_end)?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(bytes, i + 1);
        let slot = if key_escaped {
            let key = serde_json::from_str::<String>(key_text).ok()?;
            names.iter().position(|n| *n == key)
        } else {
            let key = key_text.get(1..key_text.len() - 1)?;
            names.iter().position(|n| *n == key)
        };
        // Value.
        let (value, end) = match bytes.get(i)? {
            b'"' => {
                let check = slot.is_none() || slot != lazy;
                let (end, escaped) = scan_string(bytes, i, check)?;
                (
                    Raw {
                        text: text.get(i..end)?,
                        escaped,
                        checked: check,
                    },
                    end,
                )
            }
            _ => {
                let rest = text.get(i..)?;
                let raw = <&RawValue>::deserialize(&mut serde_json::Deserializer::from_str(rest)).ok()?;
                let len = raw.get().len();
                // serde_json skips no whitespace here (we did), so the value starts at `i`.
                if raw.get().as_ptr() != rest.as_ptr() {
                    return None;
                }
                (
                    Raw {
                        text: raw.get(),
                        escaped: false,
                        checked: true,
                    },
                    i + len,
                )
            }
        };
        if let Some(slot) = slot.and_then(|s| found.get_mut(s)) {
            // U3: a later duplicate replaces the earlier value, which must still be valid JSON.
            if slot.is_some_and(|old| old.validate().is_err()) {
                return None;
            }
            *slot = Some(value);
        }
        i = skip_ws(bytes, end);
        match bytes.get(i)? {
            b',' => i = skip_ws(bytes, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    (skip_ws(bytes, i + 1) == bytes.len()).then_some(found)
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The string literal starting at `bytes[start] == b'"'`: returns the index after its closing quote and
/// whether it holds escapes. `None` when it is unterminated, has an invalid escape, or (with `check`, or
/// once an escape is seen) a raw control character. `\uXXXX` must have four hex digits; surrogate pairing
/// is checked when the string is decoded.
fn scan_string(bytes: &[u8], start: usize, check: bool) -> Option<(usize, bool)> {
    if bytes.get(start) != Some(&b'"') {
        return None;
    }
    let mut escaped = false;
    let mut i = start + 1;
    loop {
        // `i..k` holds neither `"` nor `\`.
        let k = i + memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if check && has_control(bytes.get(i..k)?) {
            return None;
        }
        if bytes.get(k) == Some(&b'"') {
            return Some((k + 1, escaped));
        }
        escaped = true;
        i = match bytes.get(k + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => k + 2,
            b'u' if bytes.get(k + 2..k + 6)?.iter().all(u8::is_ascii_hexdigit) => k + 6,
            _ => return None,
        };
    }
}

/// Whether `bytes` holds a byte below 0x20 (not allowed raw in a JSON string). The minimum of each 256-byte
/// chunk, without early exit inside a chunk, so that the compiler vectorises it (about memcpy speed).
pub(crate) fn has_control(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(256);
    for chunk in &mut chunks {
        let min = chunk.iter().fold(u8::MAX, |m, &b| m.min(b));
        if min < 0x20 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| b < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::json::pick_with_serde;
    use proptest::prelude::*;

    const NAMES: [&str; 3] = ["a", "body", "k\"q"];

    fn fast(text: &str) -> Option<Vec<Option<(String, bool)>>> {
        pick_object(text, &NAMES, Some(1)).map(|f| {
            f.iter()
                .map(|r| r.map(|r| (r.text.to_string(), r.escaped)))
                .collect()
        })
    }

    #[test]
    fn scanner_accepts_and_picks() {
        // (document, picked a / body / k"q as (text, escaped))
        type Want<'a> = [Option<(&'a str, bool)>; 3];
        let table: &[(&str, Want)] = &[
            ("{}", [None, None, None]),
            (" \n{ } \t", [None, None, None]),
            (r#"{"a":1}"#, [Some(("1", false)), None, None]),
            (r#"{"a":1,"a":[2]}"#, [Some(("[2]", false)), None, None]),
            (
                r#"{ "body" : "x\ny" , "z" : {"a":2} }"#,
                [None, Some((r#""x\ny""#, true)), None],
            ),
            (
                r#"{"body":"plain","a":null}"#,
                [Some(("null", false)), Some((r#""plain""#, false)), None],
            ),
            (
                r#"{"\u0061":true,"k\"q":"v"}"#,
                [Some(("true", false)), None, Some((r#""v""#, false))],
            ),
            (
                r#"{"a":"\u00e9\\\/\"","b":-1.5e3}"#,
                [Some((r#""\u00e9\\\/\"""#, true)), None, None],
            ),
        ];
        for (doc, want) in table {
            let got = fast(doc).unwrap_or_else(|| panic!("refused {doc}"));
            let want: Vec<Option<(String, bool)>> =
                want.iter().map(|w| w.map(|(t, e)| (t.to_string(), e))).collect();
            assert_eq!(got, want, "{doc}");
        }
    }

    #[test]
    fn scanner_refuses_what_it_does_not_accept() {
        for doc in [
            "",
            "[]",
            "\"s\"",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":1}x",
            "{\"a\":\"x\ty\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"open}",
            "{a:1}",
            "{\"a\":01}",
        ] {
            assert_eq!(fast(doc), None, "{doc:?}");
            // None of these is an object serde_json accepts either.
            assert!(!matches!(pick_with_serde(doc, &NAMES), Ok(Some(_))), "{doc:?}");
        }
    }

    #[test]
    fn has_control_finds_one_anywhere() {
        for at in [0, 1, 63, 64, 65, 127, 200] {
            let mut v = vec![b'a'; 201];
            v[at] = 0x1f;
            assert!(has_control(&v), "{at}");
        }
        assert!(!has_control(&[b' '; 300]));
        assert!(!has_control("caf\u{e9}\u{7f}".as_bytes()));
    }

    /// Documents close to valid JSON objects: a real object, then one byte mutated.
    fn near_json() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(|n| serde_json::json!(n)),
            "[ -~\\u{0}-\\u{1f}\\u{e9}\\u{1f600}]{0,10}".prop_map(serde_json::Value::String),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(prop_oneof![Just("a".to_string()), "[a-z\"]{0,3}"], inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        });
        let object = prop::collection::vec(
            (
                prop_oneof![
                    Just("a".to_string()),
                    Just("body".to_string()),
                    Just("k\"q".to_string()),
                    "[a-z]{0,3}"
                ],
                value,
            ),
            0..5,
        );
        (
            object,
            any::<bool>(),
            any::<prop::sample::Index>(),
            any::<u8>(),
            0u8..4,
        )
            .prop_map(|(members, pretty, at, byte, mode)| {
                // Serialised by hand so that duplicate keys survive.
                let sep = if pretty { ", \n " } else { "," };
                let body: Vec<String> = members
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}:{}",
                            serde_json::to_string(k).unwrap(),
                            serde_json::to_string(v).unwrap()
                        )
                    })
                    .collect();
                let mut doc = format!("{{{}}}", body.join(sep)).into_bytes();
                let i = at.index(doc.len());
                match mode {
                    0 => {}
                    1 => doc[i] = byte,
                    2 => {
                        doc.remove(i);
                    }
                    _ => doc.insert(i, byte),
                }
                String::from_utf8_lossy(&doc).into_owned()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 4096,
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
            ..ProptestConfig::default()
        })]

        /// Whatever the scanner accepts, serde_json accepts with the same picks.
        #[test]
        fn scanner_agrees_with_serde_json(doc in near_json()) {
            if let Some(fast) = pick_object(&doc, &NAMES, None) {
                let slow = pick_with_serde(&doc, &NAMES);
                prop_assert!(matches!(slow, Ok(Some(_))), "scanner accepted what serde_json refuses: {doc:?} {slow:?}");
                if let Ok(Some(slow)) = slow {
                    prop_assert_eq!(fast, slow, "{}", doc);
                }
            }
        }

        /// With `body` lazy: accepted and the lazy member valid ⇒ serde_json agrees; a lazy member with a
        /// control character is caught by `validate`.
        #[test]
        fn lazy_scanner_agrees_with_serde_json(doc in near_json()) {
            if let Some(fast) = pick_object(&doc, &NAMES, Some(1)) {
                let valid = fast.iter().flatten().all(|r| r.validate().is_ok());
                let slow = pick_with_serde(&doc, &NAMES);
                prop_assert_eq!(valid, matches!(slow, Ok(Some(_))), "{}", doc);
                if let Ok(Some(slow)) = slow {
                    let strip = |p: [Option<Raw<'_>>; 3]| p.map(|r| r.map(|r| (r.text.to_string(), r.escaped)));
                    prop_assert_eq!(strip(fast), strip(slow), "{}", doc);
                }
            }
        }

        /// The valid documents themselves are accepted by the scanner (it is a fast path, not a rare one).
        #[test]
        fn scanner_accepts_valid_objects(members in prop::collection::vec(("[a-z\"\\\\]{0,4}", "[ -~\\u{e9}\\n]{0,20}"), 0..6)) {
            let doc = serde_json::Value::Object(members.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect()).to_string();
            prop_assert!(pick_object(&doc, &NAMES, None).is_some(), "{}", doc);
        }
    }
}
