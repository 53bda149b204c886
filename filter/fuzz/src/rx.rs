//! `rx`: routewise's own regex engine (`routewise::matchers::rx`, P1 `vars` `~~`/`~*` and G2 `regex_uri`),
//! its engines against each other and, where the semantics are the same, against the `regex` crate.
//!
//! Input: one flag byte, the pattern up to the first `\n` (not valid UTF-8: nothing to check), the rest the
//! haystack (lossy UTF-8, as Envoy's header values reach the filter). Flag bit 0: case-insensitive
//! (`with_case_insensitive`, APISIX's `~*`); bit 1: compile with `for_captures` (`regex_uri`'s limit). So a
//! seed file is readable text: `0^/v1/(.*)\n/v1/pets` (`'0'` = no flag, `'1'` = case-insensitive, `'2'` =
//! for_captures).
//!
//! What must hold:
//! * compiling never panics; a refusal has a non-empty message; `for_captures` accepts what `new` accepts,
//!   up to its size limit (`TooBig`), and refuses with the same error what `new` refuses;
//! * `is_match` (DFA, or the DFA built per search for a pattern without a whole DFA) = `is_match_nfa` = `captures().is_some()`;
//! * `captures` (backtracker, or the Pike VM on long haystacks) = `captures_pike_vm`;
//! * spans: `captures_len` entries, group 0 present on a match, every span in bounds, on char boundaries and
//!   inside group 0;
//! * `replace` never panics, gives the haystack back without a match, keeps what is around the match;
//! * when the `regex` crate compiles the pattern too and the pattern is plain ASCII without `\d \w \s \D \W
//!   \S`, POSIX classes or case-insensitivity (the documented differences: ASCII classes and ASCII folding
//!   here, Unicode there), both agree on `is_match`.

use routewise::matchers::rx::{ErrorKind, Regex};

/// The replacement template: numbered, braced, whole-match, named (`$name`: a group name or nothing) and
/// the `$$` escape.
const TEMPLATE: &str = "<$1|${2}|$0|$name|$$>";

/// The `rx` target.
pub fn rx(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (pattern, hay) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        return;
    };
    let hay = String::from_utf8_lossy(hay);
    let case_insensitive = flags & 1 == 1;
    let for_captures = flags & 2 == 2;

    let plain = Regex::new(pattern);
    if let Err(e) = &plain {
        assert!(
            !e.to_string().is_empty(),
            "{pattern:?}: empty error message ({e:?})"
        );
    }
    if for_captures {
        let limited = Regex::for_captures(pattern);
        match (&plain, &limited) {
            (Ok(_), Ok(_)) => {}
            (Ok(_), Err(e)) => assert_eq!(
                e.kind(),
                ErrorKind::TooBig,
                "{pattern:?}: new accepts it, for_captures refuses it with {e}"
            ),
            (Err(a), Err(b)) => assert_eq!(a, b, "{pattern:?}: new and for_captures refuse it differently"),
            (Err(e), Ok(_)) => panic!("{pattern:?}: for_captures accepts it, new refuses it with {e}"),
        }
    }
    let compiled = if case_insensitive {
        Regex::with_case_insensitive(pattern, true)
    } else if for_captures {
        Regex::for_captures(pattern)
    } else {
        plain
    };
    let re = match compiled {
        Ok(re) => re,
        Err(e) => {
            assert!(
                !e.to_string().is_empty(),
                "{pattern:?}: empty error message ({e:?})"
            );
            return;
        }
    };
    assert_eq!(re.as_str(), pattern);
    let what = format!("pattern {pattern:?} (case-insensitive {case_insensitive}) on {hay:?}");

    let is_match = re.is_match(&hay);
    let nfa = re.is_match_nfa(&hay);
    assert_eq!(
        is_match, nfa,
        "{what}: is_match (left) and is_match_nfa (right) differ"
    );
    let caps = re.captures(&hay);
    assert_eq!(
        is_match,
        caps.is_some(),
        "{what}: is_match says {is_match}, captures {caps:?}"
    );
    let pike = re.captures_pike_vm(&hay);
    assert_eq!(
        caps, pike,
        "{what}: captures (left, backtracker or Pike VM) and captures_pike_vm (right) differ"
    );

    if let Some(spans) = &caps {
        assert_eq!(
            spans.len(),
            re.captures_len(),
            "{what}: {spans:?} against captures_len"
        );
        let Some(Some((start, end))) = spans.first().copied() else {
            panic!("{what}: a match without group 0: {spans:?}");
        };
        for (i, span) in spans.iter().enumerate() {
            let Some((s, e)) = *span else { continue };
            assert!(
                s <= e && e <= hay.len() && hay.is_char_boundary(s) && hay.is_char_boundary(e),
                "{what}: group {i} has a bad span {s}..{e} (haystack of {} bytes)",
                hay.len()
            );
            assert!(
                start <= s && e <= end,
                "{what}: group {i} {s}..{e} outside the match {start}..{end}"
            );
        }
        let replaced = re.replace(&hay, TEMPLATE);
        assert!(
            replaced.starts_with(&hay[..start]) && replaced.ends_with(&hay[end..]),
            "{what}: replace gave {replaced:?}, not keeping what is around the match {start}..{end}"
        );
    } else {
        let replaced = re.replace(&hay, TEMPLATE);
        assert_eq!(replaced, hay, "{what}: replace changed a haystack without match");
    }

    if !case_insensitive && comparable(pattern) {
        if let Ok(oracle) = regex::Regex::new(pattern) {
            assert_eq!(
                is_match,
                oracle.is_match(&hay),
                "{what}: is_match (left) and the regex crate (right) differ"
            );
        }
    }
}

/// Whether the regex crate's semantics (Unicode mode) are this engine's for `pattern`: ASCII only, no Perl
/// class (ASCII here, Unicode there), no POSIX class, no case-insensitive flag group (ASCII folding here).
/// Conservative: an escaped backslash before `d`, or an `i` anywhere in a flag group, skips the pattern too.
fn comparable(pattern: &str) -> bool {
    if !pattern.is_ascii() || pattern.contains("[:") {
        return false;
    }
    let b = pattern.as_bytes();
    for (i, w) in b.windows(2).enumerate() {
        if w[0] == b'\\' && b"dwsDWS".contains(&w[1]) {
            return false;
        }
        if w == b"(?" {
            let flags = b[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic() || **c == b'-')
                .collect::<Vec<_>>();
            if flags.contains(&&b'i') {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::comparable;

    #[test]
    fn comparable_skips_the_documented_differences() {
        assert!(comparable(r"^/v1/(.*)"));
        assert!(comparable(r"(?s)a.b|(?P<min>c)|(?<id>d)"));
        assert!(!comparable(r"a\d"));
        assert!(!comparable(r"[\w-]"));
        assert!(!comparable(r"[[:alpha:]]"));
        assert!(!comparable(r"(?i)mobile"));
        assert!(!comparable(r"a(?si:b)"));
        assert!(!comparable("é"));
    }
}
