//! routewise's regex engine, for P1 `vars` (`~~`, `~*`) and the proxy-rewrite plugin's `regex_uri`.
//!
//! Why not the `regex` crate: its stack (regex-automata, regex-syntax) was 40 % of the `.wasm` (issue 13's
//! target is < 1 MB), and `regex-lite`, the small one, has no DFA: one 60 KB header value could cost a
//! quarter-second against a 200-state pattern. This engine is small and keeps the bound:
//!
//! * [`Regex::is_match`] walks a DFA built whole at configure time ([`dfa`]): one table step per byte of the
//!   value, whatever the pattern. A pattern whose DFA would pass its limits (4,096 states, 1 MiB of table:
//!   the exponential shapes, `a.{11}`, `(a|b)*a(a|b){12}`) gets its DFA built during each search, only for the
//!   states that value reaches ([`dfa::is_match_lazy`]; NFA ≤ 128 states, so a new state costs at most 128
//!   visits); bigger ones are refused at configure time
//!   ([`ErrorKind::TooBig`]), as Envoy's RE2 refuses programs over `max_program_size`.
//! * [`Regex::captures`] (only `regex_uri` asks) runs after the DFA has found a match: a backtracker that
//!   never tries a (state, position) twice ([`backtrack`], when those bits fit in 256 KiB), else a Pike VM
//!   ([`pikevm`]); either costs at most (NFA states × bytes) steps, and [`Regex::for_captures`] allows at
//!   most 256 NFA states.
//!
//! Syntax ([`parse`]): RE2 / Rust `regex` syntax without Unicode classes, word boundaries and multi-line
//! mode. `.`, negated classes and `\D` `\W` `\S` match one whole UTF-8 character; classes hold ASCII; `\d`
//! `\w` `\s` and `(?i)` are ASCII, as in APISIX, whose PCRE runs without its `u` flag.
//!
//! ```
//! use routewise::matchers::rx::Regex;
//! let re = Regex::new(r"^/api/v(\d+)/(?P<rest>.*)").unwrap();
//! assert!(re.is_match("/api/v2/pets"));
//! assert_eq!(re.replace("/api/v2/pets", "/internal/$rest?v=$1"), "/internal/pets?v=2");
//! assert!(Regex::new(r"\bword\b").unwrap_err().to_string().contains("word boundar"));
//! ```

mod backtrack;
mod dfa;
mod nfa;
mod parse;
mod pikevm;

use std::borrow::Cow;
use std::fmt;

/// Most NFA states of a regex compiled with [`Regex::for_captures`].
pub const MAX_CAPTURE_STATES: usize = 256;

/// A compiled regex. Cheap to share: matching takes `&self`; [`Regex::is_match`] allocates nothing when the
/// pattern has a whole DFA (all but the exponential shapes).
#[derive(Clone)]
pub struct Regex {
    pattern: Box<str>,
    /// `None` when the whole DFA would pass its limits: then [`dfa::is_match_lazy`] builds what a search needs.
    dfa: Option<dfa::Dfa>,
    /// For a pattern without a whole DFA: the byte classes its per-search DFA uses.
    classes: Option<dfa::ByteClasses>,
    nfa: nfa::Nfa,
    groups: u32,
    names: Box<[(Box<str>, u32)]>,
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.pattern).finish()
    }
}

impl Regex {
    /// Compiles `pattern` (case-sensitive unless it says `(?i)`).
    pub fn new(pattern: &str) -> Result<Regex, Error> {
        Regex::with_case_insensitive(pattern, false)
    }

    /// Compiles `pattern`; `case_insensitive` is an outer `(?i)` (APISIX's `~*`).
    pub fn with_case_insensitive(pattern: &str, case_insensitive: bool) -> Result<Regex, Error> {
        Regex::build(pattern, case_insensitive, usize::MAX)
    }

    /// The NFA's size is checked before the DFA is built (building is the expensive part).
    fn build(pattern: &str, case_insensitive: bool, max_nfa: usize) -> Result<Regex, Error> {
        let parsed = parse::parse(pattern, case_insensitive)?;
        let nfa = nfa::compile(&parsed.ast, parsed.groups, 0)?;
        if nfa.states.len() > max_nfa {
            return Err(Error::new(ErrorKind::TooBig, 0));
        }
        let dfa = match dfa::build(&nfa, 0) {
            Ok(dfa) => Some(dfa),
            // The unanchored DFA of `a.{11}` or `a\w{12}` has thousands of states (each `a` starts a match
            // that must be tracked); such a pattern builds its DFA during each search if its NFA is small.
            Err(e) if e.kind == ErrorKind::TooBig && nfa.states.len() <= dfa::MAX_LAZY_NFA_STATES => None,
            Err(e) => return Err(e),
        };
        Ok(Regex {
            pattern: pattern.into(),
            classes: dfa.is_none().then(|| dfa::ByteClasses::of(&nfa)),
            dfa,
            nfa,
            groups: parsed.groups,
            names: parsed.names.into_boxed_slice(),
        })
    }

    /// Compiles a pattern whose captures are asked per request (`regex_uri`): its NFA may have at most
    /// [`MAX_CAPTURE_STATES`] states, which bounds the capture search of a path of n bytes to 256 × n steps.
    pub fn for_captures(pattern: &str) -> Result<Regex, Error> {
        Regex::build(pattern, false, MAX_CAPTURE_STATES)
    }

    /// [`dfa::is_match_lazy`] with the byte classes kept at configure time (computed here only for the
    /// differential tests, which also search patterns that have a whole DFA this way).
    fn search_lazily(&self, hay: &[u8]) -> bool {
        match &self.classes {
            Some(classes) => dfa::is_match_lazy(&self.nfa, classes, hay),
            None => dfa::is_match_lazy(&self.nfa, &dfa::ByteClasses::of(&self.nfa), hay),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `hay` contains a match: one DFA step per byte.
    pub fn is_match(&self, hay: &str) -> bool {
        match &self.dfa {
            Some(dfa) => dfa.is_match(hay.as_bytes()),
            None => self.search_lazily(hay.as_bytes()),
        }
    }

    /// Capture groups plus one (group 0, the whole match), as `regex::Regex::captures_len`.
    pub fn captures_len(&self) -> usize {
        self.groups as usize + 1
    }

    /// The byte spans of the groups of the leftmost-first match (index 0: the whole match; `None`: a group
    /// that took no part), or `None` without a match.
    pub fn captures(&self, hay: &str) -> Option<Vec<Option<(usize, usize)>>> {
        if let Some(dfa) = &self.dfa {
            if !dfa.is_match(hay.as_bytes()) {
                return None;
            }
        }
        let backtracked = if backtrack::fits(&self.nfa, hay.as_bytes()) {
            backtrack::captures(&self.nfa, hay.as_bytes()).ok()
        } else {
            None
        };
        let slots = match backtracked {
            Some(found) => found?,
            None => pikevm::captures(&self.nfa, hay.as_bytes())?,
        };
        Some(spans(slots))
    }

    /// [`Regex::is_match`] with the DFA built during the search, as for a pattern without a whole DFA (for the
    /// differential tests).
    #[doc(hidden)]
    pub fn is_match_nfa(&self, hay: &str) -> bool {
        self.search_lazily(hay.as_bytes())
    }

    /// [`Regex::captures`] through the Pike VM whatever the haystack's length (the differential tests hold
    /// it against the backtracker and Rust's `regex`).
    #[doc(hidden)]
    pub fn captures_pike_vm(&self, hay: &str) -> Option<Vec<Option<(usize, usize)>>> {
        pikevm::captures(&self.nfa, hay.as_bytes()).map(spans)
    }

    /// `hay` with its first match replaced by `rep`, where `$1` / `${1}` / `$name` / `${name}` stand for a
    /// group (empty if it did not take part or does not exist) and `$$` for `$`: the rules of
    /// `regex::Regex::replace`, so `$1a` names a group `1a`; write `${1}a`.
    pub fn replace<'h>(&self, hay: &'h str, rep: &str) -> Cow<'h, str> {
        let Some(caps) = self.captures(hay) else {
            return Cow::Borrowed(hay);
        };
        let Some(Some((start, end))) = caps.first().copied() else {
            return Cow::Borrowed(hay);
        };
        let group = |i: usize| -> &str {
            caps.get(i)
                .copied()
                .flatten()
                .and_then(|(s, e)| hay.get(s..e))
                .unwrap_or("")
        };
        let mut out = String::with_capacity(hay.len() + rep.len());
        out.push_str(hay.get(..start).unwrap_or(""));
        let mut rest = rep;
        while let Some(i) = rest.find('$') {
            out.push_str(rest.get(..i).unwrap_or(""));
            rest = rest.get(i..).unwrap_or("");
            if rest.as_bytes().get(1) == Some(&b'$') {
                out.push('$');
                rest = rest.get(2..).unwrap_or("");
                continue;
            }
            match group_ref(rest) {
                Some((name, len)) => {
                    let index = match name.parse::<usize>() {
                        Ok(i) => Some(i),
                        Err(_) => self
                            .names
                            .iter()
                            .find(|(n, _)| **n == *name)
                            .map(|&(_, i)| i as usize),
                    };
                    if let Some(i) = index {
                        out.push_str(group(i));
                    }
                    rest = rest.get(len..).unwrap_or("");
                }
                None => {
                    out.push('$');
                    rest = rest.get(1..).unwrap_or("");
                }
            }
        }
        out.push_str(rest);
        out.push_str(hay.get(end..).unwrap_or(""));
        Cow::Owned(out)
    }

    /// Bytes of heap the compiled regex holds (the DFA's table is most of it).
    pub fn heap_bytes(&self) -> usize {
        self.dfa.as_ref().map_or(0, dfa::Dfa::heap_bytes)
            + self.nfa.states.len() * std::mem::size_of::<nfa::State>()
            + self.pattern.len()
    }
}

/// Slots (start, end per group; `u32::MAX` for none) as spans.
fn spans(slots: Vec<u32>) -> Vec<Option<(usize, usize)>> {
    slots
        .chunks(2)
        .map(|pair| match pair {
            &[s, e] if s != u32::MAX && e != u32::MAX => Some((s as usize, e as usize)),
            _ => None,
        })
        .collect()
}

/// The group a `$` at the start of `s` refers to, and the length of the reference: `${anything but }}` or
/// `$` followed by the longest run of `[0-9A-Za-z_]`.
fn group_ref(s: &str) -> Option<(&str, usize)> {
    let body = s.get(1..)?;
    if let Some(braced) = body.strip_prefix('{') {
        let close = braced.find('}')?;
        let name = braced.get(..close)?;
        return Some((name, close + 3));
    }
    let len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if len == 0 {
        return None;
    }
    Some((body.get(..len)?, len + 1))
}

/// Why a pattern was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    offset: usize,
}

impl Error {
    fn new(kind: ErrorKind, offset: usize) -> Error {
        Error { kind, offset }
    }

    /// What is wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Byte offset in the pattern where it is wrong.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `)` with no `(`.
    UnopenedGroup,
    /// A `(` with no `)`.
    UnclosedGroup,
    /// A `[` with no `]`.
    UnclosedClass,
    /// `*`, `+`, `?` or `{` with nothing before it.
    RepetitionMissing,
    /// `{` not followed by `n}`, `n,}` or `n,m}`.
    BadRepetition,
    /// `{n,m}` with n > m.
    RepetitionRange,
    /// A bound over 1,000.
    RepetitionTooLarge,
    /// Groups nested deeper than 64, or more than 4 quantifiers on one item.
    NestTooDeep,
    /// `\` at the end.
    TrailingBackslash,
    /// An escape this syntax does not have.
    UnknownEscape,
    /// `\b`, `\B`, `\<`, `\>`.
    WordBoundary,
    /// `\p{..}`, `\P{..}`.
    UnicodeClass,
    /// `\1`...
    Backreference,
    /// `(?=`, `(?!`, `(?<=`, `(?<!`.
    LookAround,
    /// A flag other than `i` and `s` (`m`, `x`, `U`, `u`, `R`).
    UnsupportedFlag,
    /// A malformed flag group.
    BadFlags,
    /// A malformed `(?P<name>` name.
    BadGroupName,
    /// Two groups with one name.
    DuplicateGroupName,
    /// More groups than fit.
    TooManyGroups,
    /// A bad `\x` escape.
    BadHex,
    /// A `[` inside a class that is not `[:name:]`.
    NestedClass,
    /// `&&`, `--`, `~~` inside a class.
    ClassSetOperation,
    /// A range whose end is before its start, or is not a character.
    BadClassRange,
    /// An unknown `[:name:]`.
    BadPosixClass,
    /// A non-ASCII character inside a class.
    NonAsciiInClass,
    /// The compiled automaton would exceed the size limits.
    TooBig,
    /// The pattern is longer than 4,096 bytes.
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        let what = match self.kind {
            UnopenedGroup => "unopened group: `)` without `(`",
            UnclosedGroup => "unclosed group: `(` without `)`",
            UnclosedClass => "unclosed character class: `[` without `]`",
            RepetitionMissing => "repetition operator missing expression",
            BadRepetition => "bad counted repetition: expected `{n}`, `{n,}` or `{n,m}`",
            RepetitionRange => "counted repetition `{n,m}` with n greater than m",
            RepetitionTooLarge => "counted repetition over 1000",
            NestTooDeep => "groups nested more than 64 deep, or more than 4 quantifiers on one item",
            TrailingBackslash => "`\\` at the end of the pattern",
            UnknownEscape => "unknown escape sequence",
            WordBoundary => "word boundary assertions (`\\b`, `\\B`, `\\<`, `\\>`) are not supported",
            UnicodeClass => "Unicode classes (`\\p{..}`) are not supported: use an ASCII class",
            Backreference => "backreferences (`\\1`, `\\k<name>`) are not supported",
            LookAround => "look-around (`(?=`, `(?!`, `(?<=`, `(?<!`) is not supported",
            UnsupportedFlag => "unsupported flag: only `i` and `s` are supported (not `m`, `x`, `U`, `u`, `R`)",
            BadFlags => "malformed flag group: expected `(?i)`, `(?-i)`, `(?is:...)`, each flag once",
            BadGroupName => "bad group name: a letter or `_`, then letters, digits, `_`, `.`, `[`, `]`",
            DuplicateGroupName => "duplicate capture group name",
            TooManyGroups => "too many capture groups",
            BadHex => "bad `\\x` escape: expected `\\xHH` or `\\x{H...}` naming a character",
            NestedClass => "nested character classes are not supported (only `[[:alpha:]]`-style names)",
            ClassSetOperation => "character class set operations (`&&`, `--`, `~~`) are not supported",
            BadClassRange => "bad character class range",
            BadPosixClass => "unknown ASCII class name (`[:alpha:]`, `[:digit:]`, ...)",
            NonAsciiInClass => {
                "non-ASCII character in a character class: classes hold ASCII; write `(?:é|è)` instead"
            }
            TooLong => "pattern longer than 4096 bytes",
            TooBig => {
                "regex too big: its automaton would exceed the limits (4096 NFA or DFA states, 1 MiB of DFA \
                 table; 256 NFA states for `regex_uri`); simplify it: fewer or smaller counted repetitions, no `(a|b)*a(a|b){n}` shapes"
            }
        };
        if self.kind == TooBig {
            f.write_str(what)
        } else {
            write!(f, "{what} (at byte {})", self.offset)
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests;
