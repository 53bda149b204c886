//! R3: header-value globs (`v`, `v*`, `*v`, `*v*`, `*`) and [`GlobIndex`], which finds the globs a value may
//! match without trying them one by one.
//!
//! Like globset, globs are sorted into buckets by kind: exact values in a hash map, prefixes and suffixes in
//! radix tries, "any" in a list, and the `*v*` (contains) globs in one Aho-Corasick automaton
//! ([`ContainsIndex`]). The index yields *candidates*; the caller confirms each with
//! [`HeaderGlob::is_match`], which is plain string comparison and is the reference semantics.
//!
//! Every lookup is bounded whatever the config: a hash lookup, two trie walks of at most the value's length,
//! and one automaton scan linear in the value's length (at most [`MAX_GLOB_LEN`] reports per byte).

use crate::budget::Budget;
use std::cell::RefCell;
use std::ops::ControlFlow;

use aho_corasick::{AhoCorasick, BuildError, MatchKind};

use super::fx::FxHashMap;
use super::trie::ByteTrie;

/// A header-value glob (R3). Case-sensitive, matched against the whole value; `?` is literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderGlob {
    /// `v`: the value equals `v`.
    Exact(Box<str>),
    /// `v*`: the value starts with `v`.
    Prefix(Box<str>),
    /// `*v`: the value ends with `v`.
    Suffix(Box<str>),
    /// `*v*`: the value contains `v`.
    Contains(Box<str>),
    /// `*`: any value, including the empty one (the header must be present, R5).
    Any,
}

/// Longest glob accepted (R12; Terraform's `aws_apigatewayv2_routing_rule` checks `value_glob` with
/// `LengthAtMost(128)`).
pub const MAX_GLOB_LEN: usize = 128;

/// Longest contains glob (`*v*`), wildcards included (R12). Not in API Gateway's reference, which documents
/// only the 128-character limit, but applied by the live service: the CDK's routing-rule construct
/// (aws/aws-cdk PR #38803, `packages/aws-cdk-lib/aws-apigateway/lib/routing-rule.ts`,
/// `MAX_INFIX_GLOB_LENGTH`) reports that "a 41-char infix glob is rejected" when tried against the service.
/// A config API Gateway refuses is refused here too, rather than accepted and routed differently after a
/// migration back. That report's other finding, a character set for globs (`a-zA-Z0-9*?-!#$%&'.^_`|~`), is
/// not enforced: the developer guide's own routing-rule example 1 matches `Accept` against `image/webp`.
pub const MAX_CONTAINS_GLOB_LEN: usize = 40;

impl HeaderGlob {
    /// Parses a glob, or says why it is invalid (R3, R12).
    pub fn parse(glob: &str) -> Result<HeaderGlob, String> {
        if glob.len() > MAX_GLOB_LEN {
            return Err(format!("longer than {MAX_GLOB_LEN} characters ({})", glob.len()));
        }
        if glob.is_empty() {
            return Err("empty glob; use `*` to match any value".into());
        }
        if glob == "*" {
            return Ok(HeaderGlob::Any);
        }
        let starts = glob.starts_with('*');
        let ends = glob.ends_with('*');
        let from = usize::from(starts);
        let to = glob.len() - usize::from(ends);
        let inner = glob.get(from..to.max(from)).unwrap_or_default();
        if inner.is_empty() {
            return Err("`**` matches the same as `*`; write `*`".into());
        }
        if inner.contains('*') {
            return Err("`*` is allowed only at the start and/or the end (forms v, v*, *v, *v*, *)".into());
        }
        let v: Box<str> = inner.into();
        Ok(match (starts, ends) {
            (false, false) => HeaderGlob::Exact(v),
            (false, true) => HeaderGlob::Prefix(v),
            (true, false) => HeaderGlob::Suffix(v),
            (true, true) if glob.len() > MAX_CONTAINS_GLOB_LEN => {
                return Err(format!(
                    "a contains glob (`*v*`) is at most {MAX_CONTAINS_GLOB_LEN} characters with its wildcards, as \
                     in API Gateway (this one has {}); prefix and suffix globs may have up to {MAX_GLOB_LEN}",
                    glob.len()
                ))
            }
            (true, true) => HeaderGlob::Contains(v),
        })
    }

    /// True when `value` (one header line, R4) matches.
    #[inline]
    pub fn is_match(&self, value: &str) -> bool {
        match self {
            HeaderGlob::Exact(v) => value == &**v,
            HeaderGlob::Prefix(v) => value.starts_with(&**v),
            HeaderGlob::Suffix(v) => value.ends_with(&**v),
            HeaderGlob::Contains(v) => value.contains(&**v),
            HeaderGlob::Any => true,
        }
    }

    /// The glob as the user wrote it.
    pub fn as_written(&self) -> String {
        match self {
            HeaderGlob::Exact(v) => v.to_string(),
            HeaderGlob::Prefix(v) => format!("{v}*"),
            HeaderGlob::Suffix(v) => format!("*{v}"),
            HeaderGlob::Contains(v) => format!("*{v}*"),
            HeaderGlob::Any => "*".to_string(),
        }
    }

    /// The index bucket this glob goes to (used to pick the cheapest anchor for a rule).
    pub fn bucket_key(&self) -> (u8, &str) {
        match self {
            HeaderGlob::Exact(v) => (0, v),
            HeaderGlob::Prefix(v) => (1, v),
            HeaderGlob::Suffix(v) => (2, v),
            HeaderGlob::Contains(v) => (3, v),
            HeaderGlob::Any => (4, ""),
        }
    }
}

/// Bytes of contains literals per unit of work of their automaton's build.
const CONTAINS_BYTES_PER_UNIT: usize = 16;

/// Collects globs with their items, then builds a [`GlobIndex`].
#[derive(Debug)]
pub struct GlobIndexBuilder<T> {
    globs: Vec<(HeaderGlob, T)>,
}

impl<T> Default for GlobIndexBuilder<T> {
    fn default() -> Self {
        GlobIndexBuilder { globs: Vec::new() }
    }
}

impl<T: Copy> GlobIndexBuilder<T> {
    /// Adds a glob.
    pub fn add(&mut self, glob: HeaderGlob, item: T) {
        self.globs.push((glob, item));
    }

    /// The number of globs added.
    pub fn len(&self) -> usize {
        self.globs.len()
    }

    /// Whether no glob was added.
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Builds the buckets. Fails only if the automaton cannot be built (over its size limits).
    pub fn build(self) -> Result<GlobIndex<T>, BuildError> {
        let budget = Budget::unlimited();
        crate::budget::block_on(self.build_in(&budget), &budget)
    }

    /// [`GlobIndexBuilder::build`] in slices of `budget` ([`crate::budget`]): a unit per glob filed, and
    /// one per [`CONTAINS_BYTES_PER_UNIT`] bytes of contains literals before their automaton is built.
    pub(crate) async fn build_in(self, budget: &Budget) -> Result<GlobIndex<T>, BuildError> {
        let mut index = GlobIndex {
            exact: FxHashMap::default(),
            prefix: ByteTrie::new(),
            suffix: ByteTrie::new(),
            contains: ContainsIndex::default(),
            any: Vec::new(),
        };
        let mut contains: Vec<(Box<str>, T)> = Vec::new();
        for (glob, item) in self.globs {
            budget.spend(1).await;
            match glob {
                HeaderGlob::Exact(v) => index.exact.entry(v).or_default().push(item),
                HeaderGlob::Prefix(v) => index.prefix.insert(v.as_bytes(), item),
                HeaderGlob::Suffix(v) => {
                    let rev: Vec<u8> = v.bytes().rev().collect();
                    index.suffix.insert(&rev, item);
                }
                HeaderGlob::Contains(v) => contains.push((v, item)),
                HeaderGlob::Any => index.any.push(item),
            }
        }
        let literals: usize = contains.iter().map(|(v, _)| v.len()).sum();
        budget
            .spend(1 + (literals / CONTAINS_BYTES_PER_UNIT) as u64)
            .await;
        index.contains = ContainsIndex::build(contains)?;
        // The index lives as long as the configuration: no spare capacity (issue 13, memory per rule).
        index.exact.shrink_to_fit();
        index.exact.values_mut().for_each(Vec::shrink_to_fit);
        index.prefix.shrink_to_fit();
        index.suffix.shrink_to_fit();
        index.any.shrink_to_fit();
        Ok(index)
    }
}

/// Contains globs: one Aho-Corasick automaton over every literal, built once at configure time. A value is
/// scanned once, and each literal it contains is reported once: the work is linear in the value's length
/// times the number of literals that can end at one byte (each a distinct suffix there, so at most
/// [`MAX_GLOB_LEN`]), whatever the number of globs, and it allocates nothing per request beyond one bit per
/// literal. (Issue 14: the previous per-gram `GlobSet`s compiled regexes whose matching cost grew with the
/// number of globs; a few thousand `*x*` globs on one header let a 300-byte value cost seconds, allocate a
/// gigabyte and trap.)
#[derive(Debug)]
struct ContainsIndex<T> {
    automaton: Option<AhoCorasick>,
    items: Vec<T>,
    len: usize,
}

impl<T> Default for ContainsIndex<T> {
    fn default() -> Self {
        ContainsIndex {
            automaton: None,
            items: Vec::new(),
            len: 0,
        }
    }
}

thread_local! {
    /// The literals already reported for the value being scanned (one bit each), reused across requests.
    static SEEN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

impl<T: Copy> ContainsIndex<T> {
    fn build(literals: Vec<(Box<str>, T)>) -> Result<ContainsIndex<T>, BuildError> {
        if literals.is_empty() {
            return Ok(ContainsIndex::default());
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(literals.iter().map(|(l, _)| l.as_bytes()))?;
        Ok(ContainsIndex {
            automaton: Some(automaton),
            len: literals.len(),
            items: literals.into_iter().map(|(_, i)| i).collect(),
        })
    }

    fn for_each_candidate(&self, value: &str, f: &mut impl FnMut(T)) {
        let Some(ac) = &self.automaton else { return };
        let words = self.len.div_ceil(64);
        let mut scan = |seen: &mut Vec<u64>| {
            seen.clear();
            seen.resize(words, 0);
            for m in ac.find_overlapping_iter(value.as_bytes()) {
                let i = m.pattern().as_usize();
                let Some(word) = seen.get_mut(i / 64) else {
                    continue;
                };
                let bit = 1u64 << (i % 64);
                if *word & bit == 0 {
                    *word |= bit;
                    if let Some(&item) = self.items.get(i) {
                        f(item);
                    }
                }
            }
        };
        let reused = SEEN.with(|s| match s.try_borrow_mut() {
            Ok(mut seen) => {
                scan(&mut seen);
                true
            }
            Err(_) => false,
        });
        if !reused {
            scan(&mut Vec::new());
        }
    }

    fn items(&self) -> impl Iterator<Item = T> + '_ {
        self.items.iter().copied()
    }
}

/// Globs of one header name, bucketed for lookup.
#[derive(Debug)]
pub struct GlobIndex<T> {
    exact: FxHashMap<Box<str>, Vec<T>>,
    prefix: ByteTrie<T>,
    suffix: ByteTrie<T>,
    contains: ContainsIndex<T>,
    any: Vec<T>,
}

impl<T> GlobIndex<T> {
    /// Drops the index in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &Budget) {
        crate::budget::drop_all(self.exact, budget).await;
        self.prefix.drop_in(budget).await;
        self.suffix.drop_in(budget).await;
    }
}

impl<T: Copy> GlobIndex<T> {
    /// Calls `f` with every item whose glob may match `value` (a superset of the matches; in practice exact).
    pub fn for_each_candidate(&self, value: &str, mut f: impl FnMut(T)) {
        if let Some(items) = self.exact.get(value) {
            items.iter().for_each(|&i| f(i));
        }
        if !self.prefix.is_empty() {
            let _ = self.prefix.for_each_prefix(value.bytes(), |&i, _| {
                f(i);
                ControlFlow::Continue(())
            });
        }
        if !self.suffix.is_empty() {
            let _ = self.suffix.for_each_prefix(value.bytes().rev(), |&i, _| {
                f(i);
                ControlFlow::Continue(())
            });
        }
        self.contains.for_each_candidate(value, &mut f);
        self.any.iter().for_each(|&i| f(i));
    }

    /// Bucket sizes: exact, prefix, suffix, contains (automaton), any.
    pub fn stats(&self) -> [usize; 5] {
        [
            self.exact.values().map(Vec::len).sum(),
            self.prefix.len(),
            self.suffix.len(),
            self.contains.len,
            self.any.len(),
        ]
    }

    /// Every item in the index (for invariant checks).
    pub fn items(&self) -> Vec<T> {
        let mut out: Vec<T> = self.exact.values().flatten().copied().collect();
        out.extend(self.prefix.entries().into_iter().map(|(_, &i)| i));
        out.extend(self.suffix.entries().into_iter().map(|(_, &i)| i));
        out.extend(self.contains.items());
        out.extend(self.any.iter().copied());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> HeaderGlob {
        HeaderGlob::parse(s).expect("valid glob")
    }

    // R3: API Gateway's documented wildcard table (x-version conditions).
    #[test]
    fn r3_header_glob_truth_table() {
        let table: &[(&str, &[&str], &[&str])] = &[
            ("a*", &["account", "alpha"], &["backup", "beta", "users"]),
            ("*a", &["data", "alpha", "beta"], &["users", "a1", "account"]),
            ("*a*", &["account", "data", "backup", "a"], &["users", "b"]),
            ("*", &["anything", ""], &[]),
            ("alpha", &["alpha"], &["Alpha", "alpha2", "xalpha"]),
            ("a?c", &["a?c"], &["abc"]),
            ("*json", &["application/json"], &["application/json,text/xml"]),
        ];
        for (glob, yes, no) in table {
            let parsed = g(glob);
            for v in *yes {
                assert!(parsed.is_match(v), "{glob} should match {v:?}");
            }
            for v in *no {
                assert!(!parsed.is_match(v), "{glob} should not match {v:?}");
            }
            assert_eq!(parsed.as_written(), *glob);
        }
    }

    #[test]
    fn r3_star_elsewhere_is_rejected() {
        for bad in ["a*b", "*a*b*", "a**", "**", "", "*a**"] {
            assert!(HeaderGlob::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        let long = "x".repeat(129);
        assert!(HeaderGlob::parse(&long).unwrap_err().contains("128"));
        assert!(HeaderGlob::parse(&"x".repeat(128)).is_ok());
    }

    /// R12: API Gateway refuses a 41-character contains glob (aws/aws-cdk PR #38803, `MAX_INFIX_GLOB_LENGTH`,
    /// observed against the service); prefix, suffix and exact globs keep the 128 limit.
    #[test]
    fn r12_contains_globs_are_at_most_40_characters_with_their_wildcards() {
        let at_limit = format!("*{}*", "x".repeat(38));
        assert_eq!(at_limit.len(), 40);
        assert_eq!(g(&at_limit), HeaderGlob::Contains("x".repeat(38).into()));
        let over = format!("*{}*", "x".repeat(39));
        assert_eq!(
            HeaderGlob::parse(&over).unwrap_err(),
            "a contains glob (`*v*`) is at most 40 characters with its wildcards, as in API Gateway (this one \
             has 41); prefix and suffix globs may have up to 128"
        );
        for other in [
            format!("{}*", "x".repeat(127)),
            format!("*{}", "x".repeat(127)),
            "x".repeat(128),
        ] {
            assert!(HeaderGlob::parse(&other).is_ok(), "{other}");
        }
    }

    #[test]
    fn r3_glob_kinds() {
        assert_eq!(g("v"), HeaderGlob::Exact("v".into()));
        assert_eq!(g("v*"), HeaderGlob::Prefix("v".into()));
        assert_eq!(g("*v"), HeaderGlob::Suffix("v".into()));
        assert_eq!(g("*v*"), HeaderGlob::Contains("v".into()));
        assert_eq!(g("*"), HeaderGlob::Any);
    }

    #[test]
    fn index_candidates_cover_every_match_in_each_bucket() {
        let globs = [
            "tenant-1",
            "tenant-*",
            "*-1.example.com",
            "*.1.*",
            "*",
            "*a/b*",
            "*a\\b*",
            "*[x]*",
            "*{y}*",
            "*?*",
            "*.12.*",
            "*x*",
            "*ab*",
            "*ba*",
        ];
        let mut b = GlobIndexBuilder::default();
        for (i, s) in globs.iter().enumerate() {
            b.add(g(s), i);
        }
        let index = b.build().expect("builds");
        assert_eq!(index.stats(), [1, 1, 1, 10, 1]);
        let long = format!("{}.1.{}", "z".repeat(300), "ab");
        let values = [
            "tenant-1",
            "tenant-2",
            "zone-1.example.com",
            "x.1.y",
            "",
            "xa/by",
            "a\\b",
            "[x]",
            "{y}",
            "?",
            "tenant",
            "a.12.b",
            "x",
            "aba",
            "abab",
            &long,
        ];
        for v in values {
            let mut cands = Vec::new();
            index.for_each_candidate(v, |i| cands.push(i));
            for (i, s) in globs.iter().enumerate() {
                if g(s).is_match(v) {
                    assert!(cands.contains(&i), "{s:?} matches {v:?} but was not a candidate");
                }
            }
        }
    }

    proptest::proptest! {
        // The index never misses a match, whatever the literals share (R3 through the index).
        #[test]
        fn index_candidates_are_a_superset_of_matches(
            globs in proptest::collection::vec("[*]?[ab./]{1,4}[*]?", 1..40),
            values in proptest::collection::vec("[ab./]{0,12}", 1..20),
        ) {
            let parsed: Vec<HeaderGlob> = globs.iter().filter_map(|s| HeaderGlob::parse(s).ok()).collect();
            let mut b = GlobIndexBuilder::default();
            for (i, glob) in parsed.iter().enumerate() {
                b.add(glob.clone(), i);
            }
            let index = b.build().expect("builds");
            for v in &values {
                let mut cands = Vec::new();
                index.for_each_candidate(v, |i| cands.push(i));
                for (i, glob) in parsed.iter().enumerate() {
                    proptest::prop_assert!(!glob.is_match(v) || cands.contains(&i), "{:?} on {:?}", glob, v);
                }
            }
        }
    }
}
