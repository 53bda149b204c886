//! Differential tests of `routewise::matchers::rx`, the core's own small regex engine, against the `regex`
//! crate (a dev-dependency only: the core leaves it out to keep the .wasm small).
//!
//! The engine serves two rules: rule P1 of ../shared/spec/routing.md, the `vars` expressions' `~~` (regex
//! search) and `~*` (case-insensitive regex search), which only ask `is_match`; and rule G2's `proxy-rewrite`
//! plugin, whose `regex_uri` replaces the first match of a regex over the path with a `$1` template
//! (`captures` + `replace`).
//!
//! Every pattern is generated once and rendered twice: in the engine's syntax and, for the regex crate, with
//! the engine's documented differences translated. Its `\d \w \s` are ASCII only, so they become `[0-9]`,
//! `[0-9A-Za-z_]` and `[\t\n\x0B\x0C\r ]` (negated: `[^0-9]` ...) outside a class and the POSIX classes
//! `[:digit:]`, `[:word:]`, `[:space:]` (negated: `[:^digit:]` ...) inside one, which are the same sets.
//! Negated sets and `.` match a whole character in both. Its case folding is ASCII only, so the haystacks hold
//! no character whose Unicode folding differs from the ASCII one (no K U+212A, no ſ U+017F, no non-ASCII
//! letter with a case pair: `é` is there, `É` is not).

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use regex::RegexBuilder;
use routewise::matchers::rx;

type Spans = Vec<Option<(usize, usize)>>;

/// The replacement templates every generated case is checked with: the one `regex_uri` configs use, and one
/// of named groups and expansion edges (`$g1x` names `g1x`, `$3a` names `3a`, a lone `$` at the end).
const TEMPLATES: [&str; 2] = ["<$1|${2}|$0>", "[${g0}|$g1x|$$|$3a|${1}a|$"];

fn oracle_spans(re: &regex::Regex, hay: &str) -> Option<Spans> {
    re.captures(hay).map(|c| {
        (0..c.len())
            .map(|i| c.get(i).map(|m| (m.start(), m.end())))
            .collect()
    })
}

/// One pattern compiled by both engines.
struct Pair {
    mine: rx::Regex,
    oracle: regex::Regex,
    what: String,
    /// The pattern repeats a capture group `{0}` times. The regex crate drops such a group when no group after
    /// it survives (`(a){0}` has `captures_len` 1 there, `(a){0}(b)` has 3), so its trailing groups are taken
    /// as not participating rather than absent.
    zero_rep: bool,
}

/// Compiles both renderings; `Ok(None)` when the regex crate refuses the pattern (nothing to compare).
fn compile_both(mine_pat: &str, oracle_pat: &str, ci: bool, zero_rep: bool) -> Result<Option<Pair>, String> {
    let Ok(oracle) = RegexBuilder::new(oracle_pat).case_insensitive(ci).build() else {
        return Ok(None);
    };
    let what = format!("mine {mine_pat:?} | regex crate {oracle_pat:?} | ci {ci}");
    let mine = rx::Regex::with_case_insensitive(mine_pat, ci)
        .map_err(|e| format!("{what} | the regex crate compiles it, mine fails: {e}"))?;
    let (m, o) = (mine.captures_len(), oracle.captures_len());
    if m < o || (m > o && !zero_rep) {
        return Err(format!("{what} | captures_len: mine {m} | regex crate {o}"));
    }
    Ok(Some(Pair {
        mine,
        oracle,
        what,
        zero_rep,
    }))
}

impl Pair {
    /// Compares one haystack: `is_match`, every group's span, and `replace` with each of `templates`. The
    /// error names the first difference.
    fn check(&self, hay: &str, templates: &[&str]) -> Result<(), String> {
        let what = &self.what;
        let m = self.mine.is_match(hay);
        let o = self.oracle.is_match(hay);
        if m != o {
            return Err(format!(
                "{what} | hay {hay:?} | is_match: mine {m} | regex crate {o}"
            ));
        }
        // The DFA built during the search (patterns whose whole DFA is too big) must agree too.
        let walked = self.mine.is_match_nfa(hay);
        if walked != o {
            return Err(format!(
                "{what} | hay {hay:?} | is_match (lazy DFA): mine {walked} | regex crate {o}"
            ));
        }
        let m = self.mine.captures(hay);
        let mut o = oracle_spans(&self.oracle, hay);
        if let (true, Some(o)) = (self.zero_rep, o.as_mut()) {
            o.resize(self.mine.captures_len(), None);
        }
        if m != o {
            return Err(format!(
                "{what} | hay {hay:?} | captures: mine {m:?} | regex crate {o:?}"
            ));
        }
        // Short haystacks take the backtracker; the Pike VM (long haystacks) must give the same spans.
        let pike = self.mine.captures_pike_vm(hay);
        if pike != o {
            return Err(format!(
                "{what} | hay {hay:?} | captures (Pike VM): mine {pike:?} | regex crate {o:?}"
            ));
        }
        for t in templates {
            let m = self.mine.replace(hay, t);
            let o = self.oracle.replace(hay, *t);
            if m != o {
                return Err(format!(
                    "{what} | hay {hay:?} | replace with {t:?}: mine {m:?} | regex crate {o:?}"
                ));
            }
        }
        Ok(())
    }
}

/// Hand-written comparison: `oracle_pat` must compile; mine must agree on each haystack.
fn same(mine_pat: &str, oracle_pat: &str, hays: &[&str], templates: &[&str]) {
    same_ci(mine_pat, oracle_pat, false, hays, templates)
}

fn same_ci(mine_pat: &str, oracle_pat: &str, ci: bool, hays: &[&str], templates: &[&str]) {
    let pair = compile_both(mine_pat, oracle_pat, ci, false)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the regex crate refuses {oracle_pat:?}: the test is wrong"));
    for hay in hays {
        if let Err(e) = pair.check(hay, templates) {
            panic!("{e}");
        }
    }
}

fn mine(pattern: &str) -> rx::Regex {
    rx::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern:?} does not compile: {e}"))
}

fn spans(pattern: &str, hay: &str) -> Option<Spans> {
    mine(pattern).captures(hay)
}

// ---------------------------------------------------------------------------------------------------------
// The pattern generator.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Perl {
    Digit,
    Word,
    Space,
}

impl Perl {
    fn letter(self) -> char {
        match self {
            Perl::Digit => 'd',
            Perl::Word => 'w',
            Perl::Space => 's',
        }
    }
    /// The ASCII set, as the inside of a class for the regex crate.
    fn ascii_set(self) -> &'static str {
        match self {
            Perl::Digit => "0-9",
            Perl::Word => "0-9A-Za-z_",
            Perl::Space => r"\t\n\x0B\x0C\r ",
        }
    }
    /// The same set as a POSIX class name (usable inside a class).
    fn posix(self) -> &'static str {
        match self {
            Perl::Digit => "digit",
            Perl::Word => "word",
            Perl::Space => "space",
        }
    }
}

#[derive(Clone, Debug)]
enum Item {
    /// An ASCII character (escaped when it means something inside a class).
    Ch(char),
    Range(char, char),
    /// `\d` ..., negated when true.
    Perl(Perl, bool),
    /// `[:alpha:]`, `[:^alpha:]`.
    Posix(&'static str, bool),
    /// `\n`, `\t` ... (the letter).
    Ctrl(char),
    /// `\xHH` (or `\x{H..}` when true) of an ASCII character.
    Hex(char, bool),
}

#[derive(Clone, Debug)]
enum Group {
    Capture,
    NonCapture,
    /// `(?P<gN>...)`
    NamedP,
    /// `(?<gN>...)`
    NamedAngle,
    /// `(?flags:...)`
    Flags(&'static str),
}

#[derive(Clone, Debug)]
enum Rep {
    Star,
    Plus,
    Quest,
    Exact(u32),
    AtLeast(u32),
    Range(u32, u32),
}

#[derive(Clone, Debug)]
enum Node {
    Empty,
    Lit(char),
    /// `\` + ASCII punctuation.
    Esc(char),
    /// `\n`, `\t`, `\r`, `\f`, `\v`, `\a` (the letter).
    Ctrl(char),
    Hex {
        c: char,
        braced: bool,
        upper: bool,
    },
    Dot,
    Perl(Perl, bool),
    Class {
        negated: bool,
        /// `[]...]`: a `]` right after `[` or `[^` is a literal.
        leading_bracket: bool,
        items: Vec<Item>,
    },
    /// `^`, `$`, `\A`, `\z`.
    Anchor(&'static str),
    /// `(?flags)`: the rest of the enclosing group.
    SetFlags(&'static str),
    Group(Group, Box<Node>),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, Rep, bool),
}

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    Mine,
    Oracle,
}

/// Haystack characters: a small alphabet, with no character whose Unicode case folding differs from ASCII.
const HAY_CHARS: &[char] = &[
    'a', 'b', 'A', 'B', 'k', 'K', 's', 'S', '0', '1', '/', '-', '_', '.', ' ', '\n', '\t', '\r', '\x0B', 'é',
    '中',
    // A digit and a space outside ASCII (`\d`/`\s` must not take them), and a 4-byte character.
    '٣', '\u{A0}', '😀',
];
const LIT_CHARS: &[char] = &[
    'a', 'b', 'A', 'B', 'k', 's', '0', '1', '/', '-', '_', ' ', 'é', '中',
];
const ESC_CHARS: &[char] = &[
    '.', '\\', '/', '-', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '^', '$', '_', ':', '#', '&', '~',
];
const CTRL_LETTERS: &[char] = &['n', 't', 'r', 'f', 'v', 'a'];
const HEX_CHARS: &[char] = &['a', 'B', '0', '/', '.', '\n', '\t', ' ', 'é', '中', '😀'];
const CLASS_CHARS: &[char] = &[
    'a', 'b', 'A', 'B', 'k', 's', '0', '1', '/', '-', '_', '.', ' ', ']', '[', '^', '\\', '&', '~', '$', '*',
];
const RANGES: &[(char, char)] = &[
    ('a', 'z'),
    ('A', 'Z'),
    ('0', '9'),
    ('a', 'b'),
    ('A', 'b'),
    (' ', '/'),
    ('-', '1'),
    ('a', 'a'),
    ('_', 'k'),
    ('\t', '\r'),
    ('!', '~'),
];
const POSIX: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
    "upper", "word", "xdigit",
];
/// Flag sets; the regex crate refuses `is-s` (a flag both set and cleared), so that case only checks nothing.
const FLAGS: &[&str] = &["i", "s", "-i", "-s", "is", "si", "i-s", "s-i", "-is", "is-s"];

fn ctrl_char(letter: char) -> char {
    match letter {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'f' => '\x0C',
        'v' => '\x0B',
        'a' => '\x07',
        _ => unreachable!(),
    }
}

fn class_char(c: char, out: &mut String) {
    match c {
        '\\' | ']' | '[' | '^' | '-' | '&' | '~' => {
            out.push('\\');
            out.push(c);
        }
        '\t' => out.push_str(r"\t"),
        '\r' => out.push_str(r"\r"),
        '\n' => out.push_str(r"\n"),
        c if c.is_ascii_control() => out.push_str(&format!(r"\x{:02X}", c as u32)),
        c => out.push(c),
    }
}

/// Atoms a repetition operator can follow directly.
fn is_atom(n: &Node) -> bool {
    matches!(
        n,
        Node::Lit(_)
            | Node::Esc(_)
            | Node::Ctrl(_)
            | Node::Hex { .. }
            | Node::Dot
            | Node::Perl(..)
            | Node::Class { .. }
            | Node::Group(..)
    )
}

struct Render {
    dialect: Dialect,
    out: String,
    names: usize,
}

fn render(node: &Node, dialect: Dialect) -> String {
    let mut r = Render {
        dialect,
        out: String::new(),
        names: 0,
    };
    r.node(node);
    r.out
}

impl Render {
    fn node(&mut self, n: &Node) {
        match n {
            Node::Empty => {}
            Node::Lit(c) => self.out.push(*c),
            Node::Esc(c) | Node::Ctrl(c) => {
                self.out.push('\\');
                self.out.push(*c);
            }
            Node::Hex { c, braced, upper } => {
                let v = *c as u32;
                let digits = match (braced, upper) {
                    (true, true) => format!("{{{v:X}}}"),
                    (true, false) => format!("{{{v:x}}}"),
                    (false, true) => format!("{v:02X}"),
                    (false, false) => format!("{v:02x}"),
                };
                self.out.push_str(r"\x");
                self.out.push_str(&digits);
            }
            Node::Dot => self.out.push('.'),
            Node::Perl(p, negated) => match self.dialect {
                Dialect::Mine => {
                    self.out.push('\\');
                    self.out.push(if *negated {
                        p.letter().to_ascii_uppercase()
                    } else {
                        p.letter()
                    });
                }
                Dialect::Oracle => {
                    self.out.push_str(if *negated { "[^" } else { "[" });
                    self.out.push_str(p.ascii_set());
                    self.out.push(']');
                }
            },
            Node::Class {
                negated,
                leading_bracket,
                items,
            } => {
                self.out.push('[');
                if *negated {
                    self.out.push('^');
                }
                if *leading_bracket {
                    self.out.push(']');
                }
                for item in items {
                    self.item(item);
                }
                self.out.push(']');
            }
            Node::Anchor(a) => self.out.push_str(a),
            Node::SetFlags(f) => {
                self.out.push_str("(?");
                self.out.push_str(f);
                self.out.push(')');
            }
            Node::Group(g, inner) => {
                match g {
                    Group::Capture => self.out.push('('),
                    Group::NonCapture => self.out.push_str("(?:"),
                    Group::NamedP | Group::NamedAngle => {
                        let p = if matches!(g, Group::NamedP) { "(?P<" } else { "(?<" };
                        self.out.push_str(&format!("{p}g{}>", self.names));
                        self.names += 1;
                    }
                    Group::Flags(f) => {
                        self.out.push_str("(?");
                        self.out.push_str(f);
                        self.out.push(':');
                    }
                }
                self.node(inner);
                self.out.push(')');
            }
            Node::Concat(v) => {
                for x in v {
                    if matches!(x, Node::Alt(_)) {
                        self.out.push_str("(?:");
                        self.node(x);
                        self.out.push(')');
                    } else {
                        self.node(x);
                    }
                }
            }
            Node::Alt(v) => {
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        self.out.push('|');
                    }
                    self.node(x);
                }
            }
            Node::Repeat(inner, rep, lazy) => {
                if is_atom(inner) {
                    self.node(inner);
                } else {
                    self.out.push_str("(?:");
                    self.node(inner);
                    self.out.push(')');
                }
                match rep {
                    Rep::Star => self.out.push('*'),
                    Rep::Plus => self.out.push('+'),
                    Rep::Quest => self.out.push('?'),
                    Rep::Exact(n) => self.out.push_str(&format!("{{{n}}}")),
                    Rep::AtLeast(n) => self.out.push_str(&format!("{{{n},}}")),
                    Rep::Range(n, m) => self.out.push_str(&format!("{{{n},{m}}}")),
                }
                if *lazy {
                    self.out.push('?');
                }
            }
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Ch(c) => class_char(*c, &mut self.out),
            Item::Range(lo, hi) => {
                class_char(*lo, &mut self.out);
                self.out.push('-');
                class_char(*hi, &mut self.out);
            }
            Item::Perl(p, negated) => match self.dialect {
                Dialect::Mine => {
                    self.out.push('\\');
                    self.out.push(if *negated {
                        p.letter().to_ascii_uppercase()
                    } else {
                        p.letter()
                    });
                }
                Dialect::Oracle => {
                    self.out.push_str(if *negated { "[:^" } else { "[:" });
                    self.out.push_str(p.posix());
                    self.out.push_str(":]");
                }
            },
            Item::Posix(name, negated) => {
                self.out.push_str(if *negated { "[:^" } else { "[:" });
                self.out.push_str(name);
                self.out.push_str(":]");
            }
            Item::Ctrl(l) => {
                self.out.push('\\');
                self.out.push(*l);
            }
            Item::Hex(c, false) => self.out.push_str(&format!(r"\x{:02X}", *c as u32)),
            Item::Hex(c, true) => self.out.push_str(&format!(r"\x{{{:x}}}", *c as u32)),
        }
    }
}

/// Literal runs of the pattern (with their escapes resolved), for haystacks that contain them.
fn pieces(n: &Node, out: &mut Vec<String>) {
    fn lit(n: &Node) -> Option<char> {
        match n {
            Node::Lit(c) | Node::Esc(c) | Node::Hex { c, .. } => Some(*c),
            Node::Ctrl(l) => Some(ctrl_char(*l)),
            _ => None,
        }
    }
    if let Some(c) = lit(n) {
        out.push(c.to_string());
        return;
    }
    match n {
        Node::Concat(v) => {
            let mut run = String::new();
            for x in v {
                match lit(x) {
                    Some(c) => run.push(c),
                    None => {
                        if !run.is_empty() {
                            out.push(std::mem::take(&mut run));
                        }
                        pieces(x, out);
                    }
                }
            }
            if !run.is_empty() {
                out.push(run);
            }
        }
        Node::Alt(v) => v.iter().for_each(|x| pieces(x, out)),
        Node::Group(_, x) | Node::Repeat(x, ..) => pieces(x, out),
        Node::Class { items, .. } => {
            for item in items {
                match item {
                    Item::Ch(c) | Item::Hex(c, _) | Item::Range(c, _) => out.push(c.to_string()),
                    Item::Ctrl(l) => out.push(ctrl_char(*l).to_string()),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Whether `n` repeats a capture group `{0}` times (see [`Pair::zero_rep`]).
fn zero_rep(n: &Node) -> bool {
    fn captures(n: &Node) -> bool {
        match n {
            Node::Group(g, x) => !matches!(g, Group::NonCapture | Group::Flags(_)) || captures(x),
            Node::Repeat(x, ..) => captures(x),
            Node::Concat(v) | Node::Alt(v) => v.iter().any(captures),
            _ => false,
        }
    }
    match n {
        Node::Repeat(x, Rep::Exact(0) | Rep::Range(0, 0), _) => captures(x) || zero_rep(x),
        Node::Group(_, x) | Node::Repeat(x, ..) => zero_rep(x),
        Node::Concat(v) | Node::Alt(v) => v.iter().any(zero_rep),
        _ => false,
    }
}

fn perl() -> impl Strategy<Value = Perl> {
    prop_oneof![Just(Perl::Digit), Just(Perl::Word), Just(Perl::Space)]
}

fn class_item() -> impl Strategy<Value = Item> {
    prop_oneof![
        5 => select(CLASS_CHARS).prop_map(Item::Ch),
        3 => select(RANGES).prop_map(|(lo, hi)| Item::Range(lo, hi)),
        2 => (perl(), any::<bool>()).prop_map(|(p, n)| Item::Perl(p, n)),
        2 => (select(POSIX), prop::bool::weighted(0.3)).prop_map(|(p, n)| Item::Posix(p, n)),
        1 => select(CTRL_LETTERS).prop_map(Item::Ctrl),
        1 => select(&['a', 'Z', '/', '-', ']', '\n'][..]).prop_flat_map(|c| any::<bool>().prop_map(move |b| Item::Hex(c, b))),
    ]
}

fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        8 => select(LIT_CHARS).prop_map(Node::Lit),
        2 => select(ESC_CHARS).prop_map(Node::Esc),
        1 => select(CTRL_LETTERS).prop_map(Node::Ctrl),
        1 => (select(HEX_CHARS), any::<bool>(), any::<bool>())
            .prop_map(|(c, braced, upper)| Node::Hex { c, braced: braced || c as u32 > 0xFF, upper }),
        3 => Just(Node::Dot),
        2 => (perl(), any::<bool>()).prop_map(|(p, n)| Node::Perl(p, n)),
        3 => (any::<bool>(), prop::bool::weighted(0.1), vec(class_item(), 1..4))
            .prop_map(|(negated, leading_bracket, items)| Node::Class { negated, leading_bracket, items }),
        1 => select(&["^", "$", r"\A", r"\z"][..]).prop_map(Node::Anchor),
        1 => select(FLAGS).prop_map(Node::SetFlags),
        1 => Just(Node::Empty),
    ]
}

fn rep() -> impl Strategy<Value = Rep> {
    prop_oneof![
        3 => Just(Rep::Star),
        3 => Just(Rep::Plus),
        3 => Just(Rep::Quest),
        1 => (0u32..4).prop_map(Rep::Exact),
        1 => (0u32..3).prop_map(Rep::AtLeast),
        2 => (0u32..3, 0u32..3).prop_map(|(n, d)| Rep::Range(n, n + d)),
    ]
}

fn group() -> impl Strategy<Value = Group> {
    prop_oneof![
        4 => Just(Group::Capture),
        2 => Just(Group::NonCapture),
        1 => Just(Group::NamedP),
        1 => Just(Group::NamedAngle),
        2 => select(FLAGS).prop_map(Group::Flags),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            3 => vec(inner.clone(), 2..5).prop_map(Node::Concat),
            2 => vec(inner.clone(), 2..4).prop_map(Node::Alt),
            3 => (group(), inner.clone()).prop_map(|(g, n)| Node::Group(g, Box::new(n))),
            3 => (inner, rep(), prop::bool::weighted(0.3))
                .prop_map(|(n, r, lazy)| Node::Repeat(Box::new(n), r, lazy)),
        ]
    })
}

/// Flips the case of some ASCII letters (`bits`' top bit clear: none), so `(?i)` has work to do.
fn flip_some(s: &str, bits: u64) -> String {
    if bits >> 63 == 0 {
        return s.to_owned();
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if bits >> (i % 63) & 1 == 1 {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

fn hay(pieces: Vec<String>) -> BoxedStrategy<String> {
    let random = vec(select(HAY_CHARS), 0..40).prop_map(|v| v.into_iter().collect::<String>());
    if pieces.is_empty() {
        return random.boxed();
    }
    let chunk = prop_oneof![
        2 => select(HAY_CHARS).prop_map(String::from),
        3 => (select(pieces), any::<u64>()).prop_map(|(p, bits)| flip_some(&p, bits)),
    ];
    let built = vec(chunk, 0..10).prop_map(|v| v.concat());
    prop_oneof![1 => random, 2 => built].boxed()
}

#[derive(Clone, Debug)]
struct Case {
    node: Node,
    ci: bool,
    hays: Vec<String>,
}

fn case() -> impl Strategy<Value = Case> {
    (node(), prop::bool::weighted(0.2)).prop_flat_map(|(node, ci)| {
        let mut ps = Vec::new();
        pieces(&node, &mut ps);
        ps.sort();
        ps.dedup();
        (Just(node), Just(ci), vec(hay(ps), 1..5)).prop_map(|(node, ci, hays)| Case { node, ci, hays })
    })
}

/// Generated cases: 12,000 (a few seconds in a debug build); `RX_ORACLE_CASES=200000` for a longer hunt.
/// The seed is random per run; `PROPTEST_RNG_SEED` fixes it.
fn cases() -> u32 {
    std::env::var("RX_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12_000)
}

#[test]
fn agrees_with_the_regex_crate_on_generated_patterns() {
    let compiled = AtomicUsize::new(0);
    let matched = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    let config = Config {
        cases: cases(),
        // No regressions file beside this one: a failure prints its minimised case.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |c| {
        total.fetch_add(1, Relaxed);
        let mine_pat = render(&c.node, Dialect::Mine);
        let oracle_pat = render(&c.node, Dialect::Oracle);
        let Some(pair) =
            compile_both(&mine_pat, &oracle_pat, c.ci, zero_rep(&c.node)).map_err(TestCaseError::fail)?
        else {
            return Ok(());
        };
        compiled.fetch_add(1, Relaxed);
        for hay in &c.hays {
            pair.check(hay, &TEMPLATES).map_err(TestCaseError::fail)?;
            if pair.oracle.is_match(hay) {
                matched.fetch_add(1, Relaxed);
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, c)) => panic!(
            "minimised failing case: {reason}\n  mine {:?}\n  regex crate {:?}\n  {c:?}",
            render(&c.node, Dialect::Mine),
            render(&c.node, Dialect::Oracle)
        ),
        Err(e) => panic!("{e}"),
    }
    let (total, compiled, matched) = (total.into_inner(), compiled.into_inner(), matched.into_inner());
    eprintln!("{total} cases run, {compiled} compiled by the regex crate, {matched} haystacks matched");
    // The generator must mostly produce patterns the regex crate takes, and haystacks that they match.
    assert!(
        compiled * 10 >= total * 8,
        "{compiled} of {total} generated patterns compiled"
    );
    assert!(
        matched * 3 >= compiled,
        "only {matched} haystacks matched over {compiled} patterns"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Errors.

/// Each unsupported construct is an error whose text names what is wrong (one of `names`, case-insensitive).
#[test]
fn unsupported_constructs_are_errors_that_say_what() {
    let cases: &[(&str, &[&str])] = &[
        (r"\b", &[r"\b", "boundary"]),
        (r"a\Bb", &[r"\B", "boundary"]),
        (r"\<a", &[r"\<", "boundary", "escape"]),
        (r"\pL", &[r"\p", "property", "unicode"]),
        (r"\p{Greek}", &[r"\p", "property", "unicode"]),
        (r"\PL", &[r"\P", "property", "unicode"]),
        (r"(a)\1", &[r"\1", "backref", "back-ref", "back ref"]),
        (
            r"(?P<n>a)\k<n>",
            &[r"\k", "backref", "back-ref", "back ref", "escape"],
        ),
        ("(?=a)", &["(?=", "look"]),
        ("a(?!b)", &["(?!", "look"]),
        ("(?<=a)b", &["(?<=", "look"]),
        ("(?<!a)b", &["(?<!", "look"]),
        ("(?m)^a$", &["flag", "(?m", "'m'", "`m`", "multi"]),
        ("(?m:^a)", &["flag", "(?m", "'m'", "`m`", "multi"]),
        ("(?x)a b", &["flag", "(?x", "'x'", "`x`"]),
        ("(?U)a+", &["flag", "(?u", "'u'", "`u`"]),
        ("(?u)a", &["flag", "(?u", "'u'", "`u`"]),
        ("(?R)a", &["flag", "(?r", "'r'", "`r`"]),
        ("(?i-m)a", &["flag", "'m'", "`m`", "-m"]),
        ("[a&&b]", &["&&", "intersection", "set operation"]),
        ("[a-z--b]", &["--", "difference", "set operation"]),
        ("[a~~b]", &["~~", "symmetric", "set operation"]),
        ("[a[bc]]", &["nested", "[b"]),
        ("[[a]]", &["nested", "[a"]),
        ("[é]", &["ascii", "é"]),
        ("[^中]", &["ascii", "中"]),
        ("[a-é]", &["ascii", "é"]),
        (r"[\xE9]", &["ascii"]),
        (r"[^\x{4E2D}]", &["ascii"]),
        // The regex crate reads this one as a nested class of `:nope`; here it is an unknown POSIX class.
        ("[[:nope:]]", &["nope", "posix", "class"]),
    ];
    for (pattern, names) in cases {
        match rx::Regex::new(pattern) {
            Ok(_) => panic!("{pattern:?} compiled; it is not supported"),
            Err(e) => {
                let text = e.to_string();
                let lower = text.to_lowercase();
                assert!(
                    names.iter().any(|n| lower.contains(&n.to_lowercase())),
                    "{pattern:?}: the error {text:?} names none of {names:?}"
                );
            }
        }
    }
}

/// Syntax errors the regex crate also refuses. The text only has to say something.
#[test]
fn syntax_errors_are_errors() {
    for pattern in [
        "(",
        "a)",
        "(?:a",
        "[a",
        "[]",
        "[^]",
        r"\",
        "*",
        "+a",
        "a|*",
        "a{2,1}",
        "[b-a]",
        r"\x{110000}",
        r"\xZZ",
        r"\x{}",
        r"\q",
        "(?P<n>a)(?P<n>b)",
        "(?P<1>a)",
        "(?<>a)",
        "(?P<n",
        "(?",
        "(?i",
        "(?-)",
    ] {
        assert!(
            regex::Regex::new(pattern).is_err(),
            "the regex crate takes {pattern:?}: the test is wrong"
        );
        match rx::Regex::new(pattern) {
            Ok(_) => panic!("{pattern:?} compiled"),
            Err(e) => assert!(!e.to_string().trim().is_empty(), "{pattern:?}: empty error text"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Focused cases.

#[test]
fn anchors_at_start_and_end() {
    assert_eq!(spans("^a", "ab"), Some(vec![Some((0, 1))]));
    assert_eq!(spans("^a", "ba"), None);
    assert_eq!(spans("a$", "ba"), Some(vec![Some((1, 2))]));
    assert_eq!(spans("a$", "ab"), None);
    assert_eq!(spans(r"\Aa\z", "a"), Some(vec![Some((0, 1))]));
    assert_eq!(spans(r"\Aa\z", "aa"), None);
    // No multi-line mode: `^` and `$` are the text's ends only, never around a newline.
    assert_eq!(spans("^b", "a\nb"), None);
    assert_eq!(spans("a$", "a\nb"), None);
    assert_eq!(spans("a^b", "ab"), None);
    assert_eq!(spans("^$", ""), Some(vec![Some((0, 0))]));
    assert_eq!(spans("$", "ab"), Some(vec![Some((2, 2))]));
    for (m, o) in [
        ("^a", "^a"),
        ("a$", "a$"),
        ("(^a|b$)", "(^a|b$)"),
        (r"(\A|/)x", r"(\A|/)x"),
        ("^*a", "^*a"),
        ("(?:$)+", "(?:$)+"),
        ("^$", "^$"),
        ("a^", "a^"),
        ("$a", "$a"),
        (r"\A\z", r"\A\z"),
    ] {
        same(
            m,
            o,
            &["", "a", "ab", "ba", "x", "/x", "a\n", "\na", "b"],
            &TEMPLATES,
        );
    }
}

/// `$` is the end of the text only: `a$` does not match before a trailing newline (unlike PCRE's default).
#[test]
fn dollar_is_not_before_a_trailing_newline() {
    assert!(!mine("a$").is_match("a\n"));
    assert!(!mine(r"a\z").is_match("a\n"));
    assert!(mine(r"a\n$").is_match("a\n"));
    same("a$", "a$", &["a\n", "a", "a\n\n", "\na"], &TEMPLATES);
    same("(?s)a.$", "(?s)a.$", &["a\n", "a"], &TEMPLATES);
}

#[test]
fn empty_pattern_and_empty_alternatives() {
    assert_eq!(spans("", ""), Some(vec![Some((0, 0))]));
    assert_eq!(spans("", "xyz"), Some(vec![Some((0, 0))]));
    assert_eq!(mine("").replace("ab", "-"), "-ab");
    assert_eq!(mine("").captures_len(), 1);
    // Leftmost-first: at offset 0 `a` fails and the empty alternative wins, before `b` is tried.
    assert_eq!(spans("a||b", "b"), Some(vec![Some((0, 0))]));
    assert_eq!(spans("a||b", "a"), Some(vec![Some((0, 1))]));
    assert_eq!(spans("(|a)", "a"), Some(vec![Some((0, 0)), Some((0, 0))]));
    assert_eq!(spans("(a|)", "a"), Some(vec![Some((0, 1)), Some((0, 1))]));
    for p in [
        "", "a||b", "|", "(|a)", "(a|)", "()", "(?:)", "()*", "(a|)+", "x(|y)z", "(?:|)+?",
    ] {
        same(p, p, &["", "a", "b", "ab", "ba", "xz", "xyz", "aaa"], &TEMPLATES);
    }
}

#[test]
fn lazy_and_greedy_capture_spans() {
    assert_eq!(
        spans("(a+?)(a*)", "aaa"),
        Some(vec![Some((0, 3)), Some((0, 1)), Some((1, 3))])
    );
    assert_eq!(
        spans("(a+)(a*)", "aaa"),
        Some(vec![Some((0, 3)), Some((0, 3)), Some((3, 3))])
    );
    assert_eq!(spans("<(.+?)>", "<a><b>"), Some(vec![Some((0, 3)), Some((1, 2))]));
    assert_eq!(spans("<(.+)>", "<a><b>"), Some(vec![Some((0, 6)), Some((1, 5))]));
    assert_eq!(
        spans("(a??)(a?)", "a"),
        Some(vec![Some((0, 1)), Some((0, 0)), Some((0, 1))])
    );
    assert_eq!(
        spans("(a{1,3}?)(a*)", "aaa"),
        Some(vec![Some((0, 3)), Some((0, 1)), Some((1, 3))])
    );
    assert_eq!(spans("(a{2,}?)", "aaaa"), Some(vec![Some((0, 2)), Some((0, 2))]));
    // The last iteration of a repeated group is the one captured.
    assert_eq!(
        spans("(?:(a)|(b))+", "ab"),
        Some(vec![Some((0, 2)), Some((0, 1)), Some((1, 2))])
    );
    assert_eq!(
        spans("(a|ab)(c|bcd)(d*)", "abcd"),
        Some(vec![Some((0, 4)), Some((0, 1)), Some((1, 4)), Some((4, 4))])
    );
    for p in [
        "(a+?)(a*)",
        "(a+)(a*)",
        "(a*?)b",
        "(a*)?b",
        "(a*?)*b",
        "<(.+?)>",
        "<(.+)>",
        "(a??)(a?)",
        "(a{1,3}?)(a*)",
        "(a{2,}?)",
        "(a{2})*",
        "(?:(a)|(b))+",
        "(a|ab)(c|bcd)(d*)",
        "(a|b)*?b",
        "((a)|b)+",
        "(a*)+",
        "(a*)*",
        "(a?)+?b",
        "(.*?)/(.*)",
        "^/old/(.*)",
    ] {
        same(
            p,
            p,
            &[
                "aaa",
                "a",
                "",
                "b",
                "ab",
                "aab",
                "abab",
                "<a><b>",
                "abcd",
                "x/y/z",
                "/old/é/中",
            ],
            &TEMPLATES,
        );
    }
}

/// A group repeated `{0}` times is still a group that never takes part (as in PCRE). The regex crate drops it
/// when it is the last group (`(a){0}` has `captures_len` 1 there), which the generated cases allow for.
#[test]
fn a_group_repeated_zero_times_is_still_a_group() {
    let r = mine("(a){0}");
    assert_eq!(r.captures_len(), 2);
    assert_eq!(r.captures("a"), Some(vec![Some((0, 0)), None]));
    assert_eq!(r.replace("a", "<$1>"), "<>a");
    assert_eq!(
        mine("(a){0}(b)").captures("ab"),
        Some(vec![Some((1, 2)), None, Some((1, 2))])
    );
    assert_eq!(
        mine("(?:(a)|b){0,0}?c").captures("abc"),
        Some(vec![Some((2, 3)), None])
    );
    same("(a){0}(b)", "(a){0}(b)", &["ab", "b", ""], &TEMPLATES);
}

#[test]
fn utf8_is_matched_by_whole_characters() {
    assert_eq!(spans(".", "é"), Some(vec![Some((0, 2))]));
    assert_eq!(
        spans("(.)(.)", "é中"),
        Some(vec![Some((0, 5)), Some((0, 2)), Some((2, 5))])
    );
    assert_eq!(spans("[^/]+", "/é中/x"), Some(vec![Some((1, 6))]));
    assert_eq!(spans(r"\D", "é"), Some(vec![Some((0, 2))]));
    assert_eq!(spans(r"\W+", "é中a"), Some(vec![Some((0, 5))]));
    assert_eq!(spans(r"\S", "中"), Some(vec![Some((0, 3))]));
    assert_eq!(spans("[[:^alpha:]]", "é"), Some(vec![Some((0, 2))]));
    assert_eq!(spans("é+", "aéé"), Some(vec![Some((1, 5))]));
    assert_eq!(spans(r"\x{4E2D}", "a中"), Some(vec![Some((1, 4))]));
    // ASCII classes: `é` is not a word character, not a letter, not a digit.
    assert!(!mine(r"\w").is_match("é中"));
    assert!(!mine("[[:alpha:]]").is_match("é"));
    assert!(!mine(r"\d").is_match("٣"));
    assert!(!mine(r"\s").is_match("\u{a0}\u{2003}"));
    assert_eq!(mine(".").replace("é", "x"), "x");
    assert_eq!(mine("(.)").replace("中é", "[$1]"), "[中]é");
    assert_eq!(mine("/([^/]*)$").replace("/a/é中", "/<$1>"), "/a/<é中>");
    for (m, o) in [
        (".", "."),
        ("(.)(.)", "(.)(.)"),
        ("[^/]+", "[^/]+"),
        ("/([^/]*)$", "/([^/]*)$"),
        (r"\D+", "[^0-9]+"),
        (r"\W", "[^0-9A-Za-z_]"),
        (r"\S+?", r"[^\t\n\x0B\x0C\r ]+?"),
        (r"[^\d\s]+", r"[^[:digit:][:space:]]+"),
        (r"[\D]", "[[:^digit:]]"),
        ("[^a]", "[^a]"),
        ("é|中", "é|中"),
        (r"\xE9", r"\xE9"),
        (r"(?s).{2}", r"(?s).{2}"),
        ("a.b", "a.b"),
    ] {
        same(
            m,
            o,
            &["é", "é中", "/é中/x", "aé/", "a\nb", "a中b", "x\té 中", "", "٣"],
            &TEMPLATES,
        );
    }
}

#[test]
fn case_insensitive_folds_ascii_letters() {
    assert!(rx::Regex::with_case_insensitive("abc", true)
        .unwrap()
        .is_match("xAbC"));
    assert!(!rx::Regex::with_case_insensitive("abc", false)
        .unwrap()
        .is_match("xAbC"));
    assert!(mine("(?i)abc").is_match("ABC"));
    assert!(mine("(?i:a)b").is_match("Ab"));
    assert!(!mine("(?i:a)b").is_match("AB"));
    assert!(!mine("(?i)a(?-i)b").is_match("AB"));
    assert!(mine("(?i)[a-c]+").is_match("BCA"));
    assert!(mine("(?i)[^a]").is_match("b"));
    assert!(!mine("(?i)[^a]").is_match("A"));
    // ASCII folding only: these differ from the regex crate, which folds Unicode.
    assert!(!mine("(?i)é").is_match("É"));
    assert!(!mine("(?i)k").is_match("\u{212A}"));
    assert!(!mine("(?i)s").is_match("\u{17F}"));
    for (m, ci) in [
        ("abc", true),
        ("(?i)abc", false),
        ("(?i)a(?-i)b", false),
        ("a(?i)b|c", false),
        ("(?i:a|b)B", false),
        ("(?-i:a)b", true),
        ("(?i)[a-c]+", false),
        ("[A-C]+", true),
        ("(?i)[^a]+", false),
        ("(?i)[[:lower:]]+", false),
        ("(?i)[[:upper:]]", false),
        ("[[:upper:]]", true),
        ("(?i)[k-s]+", false),
        ("(?i)KS", false),
        ("(?i)(a)(B)", false),
    ] {
        same_ci(
            m,
            m,
            ci,
            &[
                "abc", "ABC", "aBc", "xAbC", "aB", "Ab", "C", "c", "KS", "ks", "é", "b",
            ],
            &TEMPLATES,
        );
    }
}

/// Under `(?i)` a negated item of a class is folded, then negated (the regex crate's order): `[[:^lower:]]`
/// is every character but the letters of either case, so `(?i)[^[:^upper:]]` takes `b`.
#[test]
fn case_insensitive_negated_class_items_fold_before_negating() {
    for p in [
        "(?i)[[:^lower:]]",
        "(?i)[^[:^upper:]]",
        "(?i)[[:^upper:]a]",
        "(?i)[^[:^lower:]0]",
    ] {
        same(p, p, &["a", "A", "b", "B", "0", "_", "é"], &TEMPLATES);
    }
}

#[test]
fn flags_dot_and_escapes() {
    assert!(!mine("a.b").is_match("a\nb"));
    assert!(mine("(?s)a.b").is_match("a\nb"));
    assert!(mine("(?s:a.)b").is_match("a\nb"));
    assert!(!mine("(?s)(?-s)a.b").is_match("a\nb"));
    assert!(mine(r"\.\\\/\-\*").is_match(r"x.\/-*"));
    assert!(mine(r"\n\t\r\f\v\a").is_match("\n\t\r\x0C\x0B\x07"));
    assert!(mine(r"\x41\x{42}\x{4e2d}").is_match("AB中"));
    assert!(mine(r"[]a]+").is_match("]"));
    assert!(mine(r"[^]a]").is_match("b"));
    assert!(!mine(r"[^]a]").is_match("]"));
    for (m, o) in [
        ("(?s)a.b", "(?s)a.b"),
        ("(?is)A.B", "(?is)A.B"),
        ("(?i-s:a.)b", "(?i-s:a.)b"),
        ("(?s-i:a.)b", "(?s-i:a.)b"),
        (r"\.\\\/\-\*", r"\.\\\/\-\*"),
        (r"\n\t\r\f\v\a", r"\n\t\r\f\v\a"),
        (r"\x41\x{42}\x{4e2d}", r"\x41\x{42}\x{4e2d}"),
        (r"[]a]+", r"[]a]+"),
        (r"[^]a]", r"[^]a]"),
        (r"[\]\\\-\^\[]+", r"[\]\\\-\^\[]+"),
        ("[-a]+", "[-a]+"),
        ("[a-]+", "[a-]+"),
        (r"[\d\w]+", "[[:digit:][:word:]]+"),
        (r"[^\w\s]", "[^[:word:][:space:]]"),
        ("[[:alpha:][:digit:]]+", "[[:alpha:][:digit:]]+"),
        ("[[:^digit:]]+", "[[:^digit:]]+"),
        ("[^[:^digit:]]+", "[^[:^digit:]]+"),
        ("[[:punct:]]+", "[[:punct:]]+"),
        ("[[:xdigit:][:blank:]]+", "[[:xdigit:][:blank:]]+"),
        ("(?P<a>x)(?<b>y)", "(?P<a>x)(?<b>y)"),
        ("a{2}b{1,}c{0,1}", "a{2}b{1,}c{0,1}"),
        ("a{0}b", "a{0}b"),
    ] {
        same(
            m,
            o,
            &[
                "a\nb",
                "A\nB",
                "a\nb",
                "x.\\/-*",
                "\n\t\r\x0C\x0B\x07",
                "AB中",
                "]a]",
                "b",
                "-a-",
                "ab1_ /",
                "xy",
                "aabcc",
                "b",
            ],
            &TEMPLATES,
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Replacement templates (the `regex_uri` replacement), expanded by the regex crate's rules.

#[test]
fn replacement_expansion_matches_the_regex_crate() {
    let templates: &[&str] = &[
        "$1a",   // the name is `1a`: no such group, empty
        "${1}a", // group 1 then `a`
        "$$",    // a literal `$`
        "x$",    // `$` at the end stays
        "$",     // alone
        "$ x",   // `$` before a non-name character stays
        "$-",
        "$name",   // a named group
        "${name}", // the same, braced
        "$name_x", // the name is `name_x`: empty
        "${name}_x",
        "$9", // a missing group: empty
        "${9}",
        "$nope", // a missing name: empty
        "$2",    // a group that took no part: empty
        "[$1|$2|$0|${0}]",
        "$01", // the name `01` is the number 1
        "${01}",
        "${", // unclosed braces stay as they are
        "${1",
        "${}",
        "${ 1 }", // not a number, not a name: empty
        "$é",
        "$1$1$$1",
        "a$1b${2}c$name$",
        "",
    ];
    for p in ["(?P<name>a+)|(b)", "(a)(b)?", "(?<name>[a-z]+)/(\\d+)", "x", ""] {
        same(
            p,
            p,
            &["aa", "b", "ab", "zz", "abc/123", "", "é", "xx"],
            templates,
        );
    }
    // Written out, for the regex_uri cases that matter most.
    let r = mine("^/old/(.*)");
    assert_eq!(r.replace("/old/a/b", "/new/$1"), "/new/a/b");
    assert_eq!(r.replace("/old/a", "/new/$1a"), "/new/");
    assert_eq!(r.replace("/old/a", "/new/${1}a"), "/new/aa");
    assert_eq!(r.replace("/old/a", "/$$/$1"), "/$/a");
    assert_eq!(r.replace("/old/a", "/x$"), "/x$");
    assert_eq!(r.replace("/old/a", "/$9/"), "//");
    let named = mine("^/(?P<name>[^/]+)(/x)?");
    assert_eq!(named.replace("/bob", "<$name|${name}|$2>"), "<bob|bob|>");
    // No match: the text is handed back as it is, not copied.
    assert!(matches!(r.replace("/new/a", "/z/$1"), Cow::Borrowed("/new/a")));
}
