//! Unit tests of the engine's own guarantees; `filter/tests/rx_oracle.rs` compares it with the `regex` crate.

use super::*;

#[test]
fn is_match_walks_the_dfa_and_anchors_hold() {
    let re = Regex::new("^/api/v[0-9]+/").unwrap();
    assert!(re.is_match("/api/v12/pets"));
    assert!(!re.is_match("/x/api/v1/"));
    let end = Regex::new("a$").unwrap();
    assert!(end.is_match("ba"));
    assert!(!end.is_match("a\n"), "no multi-line: `$` is the end of the text");
    assert!(Regex::new("").unwrap().is_match(""));
    assert!(Regex::new("$^").unwrap().is_match(""));
    assert!(!Regex::new("$^").unwrap().is_match("a"));
}

#[test]
fn dot_and_negated_classes_take_a_whole_character() {
    let re = Regex::new("^/(.)/([^/]+)$").unwrap();
    let caps = re.captures("/é/中a").unwrap();
    assert_eq!(caps[1], Some((1, 3)));
    assert_eq!(caps[2], Some((4, 8)));
    assert!(!Regex::new("^.$").unwrap().is_match("\n"));
    assert!(Regex::new("(?s)^.$").unwrap().is_match("\n"));
}

#[test]
fn case_insensitive_is_ascii() {
    let re = Regex::with_case_insensitive("^pr[a-c]", true).unwrap();
    assert!(re.is_match("PRB"));
    assert!(Regex::new("(?i)x(?-i)y").unwrap().is_match("Xy"));
    assert!(!Regex::new("(?i)x(?-i)y").unwrap().is_match("XY"));
}

#[test]
fn leftmost_first_captures_and_replacement() {
    let re = Regex::new("^/v1/(.*)").unwrap();
    assert_eq!(re.replace("/v1/a/b", "/internal/$1"), "/internal/a/b");
    assert_eq!(re.replace("/v2/a", "/internal/$1"), "/v2/a");
    let lazy = Regex::new("a(.*?)b").unwrap();
    assert_eq!(lazy.replace("xaybyb", "<$1>"), "x<y>yb");
    assert_eq!(lazy.replace("xaybyb", "$$ ${1}z $1z $9"), "x$ yz  yb");
}

/// The bound the engine exists for (issue 13, regex-lite's quarter-second): a 200-state pattern over a
/// 60 KB header value is one DFA pass.
#[test]
fn wide_counted_repetitions_build_a_dfa() {
    let re = Regex::new("[ab]{0,200}c").unwrap();
    let hay = "ab".repeat(30_000);
    assert!(!re.is_match(&hay));
    assert!(re.is_match(&(hay + "c")));
}

/// An exponential DFA (each `a` starts a match the DFA must track) falls back to walking a small NFA, with
/// the same answers; big NFAs and patterns that are too big either way are refused.
#[test]
fn exponential_dfas_walk_the_nfa_and_huge_patterns_are_refused() {
    for p in ["(?:a|b)*a(?:a|b){20}", "a.{11}", r"a\w{12}"] {
        let re = Regex::new(p).unwrap();
        assert!(re.dfa.is_none(), "{p} should not have a DFA");
        let want = regex::Regex::new(p).unwrap();
        for hay in ["", "a", &"ab".repeat(20), &"b".repeat(30), "xxxaxxxxxxxxxxxxé"] {
            assert_eq!(re.is_match(hay), want.is_match(hay), "{p} on {hay:?}");
        }
    }
    assert_eq!(
        Regex::new("(?:a|b)*a(?:a|b){300}").unwrap_err().kind(),
        ErrorKind::TooBig
    );
    assert_eq!(
        Regex::new("(?:a{1000}){1000}").unwrap_err().kind(),
        ErrorKind::TooBig
    );
    assert_eq!(
        Regex::new("(?:(?:(?:){1000}){1000}){1000}").unwrap_err().kind(),
        ErrorKind::TooBig
    );
    assert_eq!(
        Regex::new("a{1001}").unwrap_err().kind(),
        ErrorKind::RepetitionTooLarge
    );
    let deep = "(".repeat(100) + &")".repeat(100);
    assert_eq!(Regex::new(&deep).unwrap_err().kind(), ErrorKind::NestTooDeep);
}

#[test]
fn unsupported_syntax_is_named() {
    for (p, kind) in [
        (r"\bx", ErrorKind::WordBoundary),
        (r"\p{L}", ErrorKind::UnicodeClass),
        (r"(?=x)", ErrorKind::LookAround),
        (r"(?m)^x", ErrorKind::UnsupportedFlag),
        (r"(?ii)x", ErrorKind::BadFlags),
        (r"[é]", ErrorKind::NonAsciiInClass),
        (r"[a&&b]", ErrorKind::ClassSetOperation),
        (r"(a)\1", ErrorKind::Backreference),
        ("(", ErrorKind::UnclosedGroup),
        (")", ErrorKind::UnopenedGroup),
        ("*a", ErrorKind::RepetitionMissing),
    ] {
        let e = Regex::new(p).unwrap_err();
        assert_eq!(e.kind(), kind, "{p}: {e}");
        assert!(!e.to_string().is_empty());
    }
}

/// `regex_uri`'s patterns: the capture search of a path is bounded by the NFA's size, so that is capped.
#[test]
fn patterns_for_captures_have_a_smaller_nfa() {
    assert!(Regex::for_captures("^/v1/(.*)").is_ok());
    assert!(Regex::new(".{100}").is_ok());
    assert_eq!(
        Regex::for_captures(".{100}").unwrap_err().kind(),
        ErrorKind::TooBig
    );
}

/// A pattern without a whole DFA builds one during each search; a value that reaches more states than the
/// search keeps (4,096; `a.{13}z` reaches 2^13 on random a/b) empties the cache and goes on, with the same answers as Rust's `regex`.
#[test]
fn the_lazy_dfa_survives_emptying_its_cache() {
    let re = Regex::new("a.{13}z").unwrap();
    assert!(re.dfa.is_none());
    let want = regex::Regex::new("a.{13}z").unwrap();
    let mut x: u32 = 0x9e37_79b9;
    let mut hay = String::new();
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        hay.push(if x.is_multiple_of(2) { 'a' } else { 'b' });
    }
    assert!(!re.is_match(&hay), "no z: no match");
    for end in ["z", "aaaaaaaaaaaaaaz", "é"] {
        let h = format!("{hay}{end}");
        assert_eq!(re.is_match(&h), want.is_match(&h), "{end}");
    }
    let mid = format!("{}a{}z{}", &hay[..9_000], "é".repeat(13), &hay[9_000..]);
    assert!(re.is_match(&mid));
}

/// Review findings (2026-12-04): none of these may crash, take seconds or read differently from Rust's
/// `regex`.
#[test]
fn deep_quantifier_chains_long_patterns_and_class_edge_cases_are_refused() {
    // 64 groups, each closed by a chain of quantifiers: once a 2,000-deep tree that overflowed the stack.
    let mut p = "(?:".repeat(64) + "a";
    for d in (0..64).rev() {
        p.push(')');
        p.push_str(&"*".repeat(64 - d));
    }
    assert_eq!(Regex::new(&p).unwrap_err().kind(), ErrorKind::NestTooDeep);
    assert!(Regex::new("(?:a**)*").is_ok());
    assert_eq!(
        Regex::new(&"(?P<n>a)".repeat(600)).unwrap_err().kind(),
        ErrorKind::TooLong
    );
    // `--` is set difference in Rust's `regex`, and a class cannot bound a range.
    assert_eq!(
        Regex::new("[+--]").unwrap_err().kind(),
        ErrorKind::ClassSetOperation
    );
    assert_eq!(
        Regex::new(r"[\d-z]").unwrap_err().kind(),
        ErrorKind::BadClassRange
    );
    assert!(Regex::new(r"[\d-]").unwrap().is_match("-"));
    assert_eq!(
        Regex::new("(?P<.a>x)").unwrap_err().kind(),
        ErrorKind::BadGroupName
    );
    assert!(Regex::new("(?P<a.b[0]>x)").is_ok());
}

/// Many groups in a loop would leave a restore frame per group per iteration on the backtracker's stack:
/// past its cap the Pike VM answers, with the same spans.
#[test]
fn the_backtrackers_stack_is_capped() {
    let p = format!("(?:{}a)*z", "()".repeat(30));
    let re = Regex::new(&p).unwrap();
    let hay = "a".repeat(3000) + "z";
    assert_eq!(re.captures(&hay), re.captures_pike_vm(&hay));
    assert_eq!(re.captures(&hay).unwrap()[0], Some((0, 3001)));
}
