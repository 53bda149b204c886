//! R3: header-value globs (`v`, `v*`, `*v`, `*v*`, `*`) and [`GlobIndex`], which finds the globs a value may
//! match without trying them one by one.
//!
//! Like globset, globs are sorted into buckets by kind: exact values in a hash map, prefixes and suffixes in
//! radix tries, "any" in a list; only the `*v*` (contains) globs go to [`globset::GlobSet`]s. The index
//! yields *candidates*; the caller confirms each with [`HeaderGlob::is_match`], which is plain string
//! comparison and is the reference semantics.
//!
//! Contains globs are split further by one two-byte substring ("gram") of their literal, the rarest among
//! them, each gram with its own small `GlobSet`: a value can only contain `v` if it contains every gram of
//! `v`, so a lookup queries just the sets of the grams the value has. (`GlobSet::matches_into` costs time
//! linear in the set's size, about 1 ns per glob even when nothing matches; one set of 2,500 globs cost
//! 2.5 µs per request.) Values longer than [`GRAM_SCAN_MAX`] and one-byte literals use whole sets.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

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

/// Longest glob accepted (R12).
pub const MAX_GLOB_LEN: usize = 128;

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

    /// Builds the buckets. Fails only if globset rejects an escaped literal, which would be a bug.
    pub fn build(self) -> Result<GlobIndex<T>, globset::Error> {
        let mut index = GlobIndex {
            exact: FxHashMap::default(),
            prefix: ByteTrie::new(),
            suffix: ByteTrie::new(),
            contains: ContainsIndex::default(),
            any: Vec::new(),
        };
        let mut contains: Vec<(Box<str>, T)> = Vec::new();
        for (glob, item) in self.globs {
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
        index.contains = ContainsIndex::build(contains)?;
        Ok(index)
    }
}

/// Values longer than this query every contains glob at once instead of gram by gram, which bounds the
/// work per header line (one hash lookup per gram).
pub const GRAM_SCAN_MAX: usize = 256;

fn gram(w: &[u8]) -> Option<[u8; 2]> {
    match w {
        [a, b] => Some([*a, *b]),
        _ => None,
    }
}

/// A `GlobSet` and the item of each of its globs.
#[derive(Debug)]
struct GlobBucket<T> {
    set: GlobSet,
    items: Vec<T>,
}

impl<T: Copy> GlobBucket<T> {
    fn build(literals: &[(Box<str>, T)]) -> Result<GlobBucket<T>, globset::Error> {
        let mut b = GlobSetBuilder::new();
        for (lit, _) in literals {
            // `*` must span any character, `/` included, and a backslash is a literal byte, on every target
            // (globset's defaults follow the platform's path rules).
            let pattern = format!("*{}*", globset::escape(lit));
            b.add(
                GlobBuilder::new(&pattern)
                    .literal_separator(false)
                    .backslash_escape(false)
                    .build()?,
            );
        }
        Ok(GlobBucket {
            set: b.build()?,
            items: literals.iter().map(|(_, i)| *i).collect(),
        })
    }

    /// `is_match` first: it is cheap, while `matches_into` walks the whole set even without a match.
    fn for_each_match(&self, candidate: &Candidate<'_>, f: &mut impl FnMut(T)) {
        if !self.set.is_match_candidate(candidate) {
            return;
        }
        let mut emit = |matches: &Vec<usize>| {
            for &m in matches {
                if let Some(&i) = self.items.get(m) {
                    f(i);
                }
            }
        };
        let reused = SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut buf) => {
                self.set.matches_candidate_into(candidate, &mut buf);
                emit(&buf);
                true
            }
            Err(_) => false,
        });
        if !reused {
            let mut buf = Vec::new();
            self.set.matches_candidate_into(candidate, &mut buf);
            emit(&buf);
        }
    }
}

/// Contains globs: per-gram sets, one-byte literals apart, and all of them for long values.
#[derive(Debug)]
struct ContainsIndex<T> {
    by_gram: FxHashMap<[u8; 2], u32>,
    grams: Vec<GlobBucket<T>>,
    short: Option<GlobBucket<T>>,
    all: Option<GlobBucket<T>>,
    len: usize,
}

impl<T> Default for ContainsIndex<T> {
    fn default() -> Self {
        ContainsIndex {
            by_gram: FxHashMap::default(),
            grams: Vec::new(),
            short: None,
            all: None,
            len: 0,
        }
    }
}

impl<T: Copy> ContainsIndex<T> {
    fn build(literals: Vec<(Box<str>, T)>) -> Result<ContainsIndex<T>, globset::Error> {
        let mut index = ContainsIndex {
            len: literals.len(),
            ..ContainsIndex::default()
        };
        if literals.is_empty() {
            return Ok(index);
        }
        index.all = Some(GlobBucket::build(&literals)?);
        let grams_of = |lit: &str| -> Vec<[u8; 2]> {
            let mut g: Vec<[u8; 2]> = lit.as_bytes().windows(2).filter_map(gram).collect();
            g.sort_unstable();
            g.dedup();
            g
        };
        let mut freq: FxHashMap<[u8; 2], usize> = FxHashMap::default();
        for (lit, _) in &literals {
            for g in grams_of(lit) {
                *freq.entry(g).or_default() += 1;
            }
        }
        let mut short = Vec::new();
        let mut groups: BTreeMap<[u8; 2], Vec<(Box<str>, T)>> = BTreeMap::new();
        for (lit, item) in literals {
            match grams_of(&lit)
                .into_iter()
                .min_by_key(|g| (freq.get(g).copied().unwrap_or(0), *g))
            {
                Some(g) => groups.entry(g).or_default().push((lit, item)),
                None => short.push((lit, item)),
            }
        }
        if !short.is_empty() {
            index.short = Some(GlobBucket::build(&short)?);
        }
        for (gram, group) in groups {
            index.by_gram.insert(gram, index.grams.len() as u32);
            index.grams.push(GlobBucket::build(&group)?);
        }
        Ok(index)
    }

    fn for_each_candidate(&self, value: &str, f: &mut impl FnMut(T)) {
        if self.len == 0 {
            return;
        }
        let candidate = Candidate::from_bytes(value.as_bytes());
        if value.len() > GRAM_SCAN_MAX {
            if let Some(all) = &self.all {
                all.for_each_match(&candidate, f);
            }
            return;
        }
        if let Some(short) = &self.short {
            short.for_each_match(&candidate, f);
        }
        // Each bucket once, however often its gram occurs in the value (at most 255 grams here).
        let mut seen = [0u32; GRAM_SCAN_MAX];
        let mut n = 0;
        for g in value.as_bytes().windows(2).filter_map(gram) {
            if let Some(&b) = self.by_gram.get(&g) {
                if let Some(slot) = seen.get_mut(n) {
                    *slot = b;
                    n += 1;
                }
            }
        }
        let seen = seen.get_mut(..n).unwrap_or_default();
        seen.sort_unstable();
        let mut last = None;
        for &b in seen.iter() {
            if last == Some(b) {
                continue;
            }
            last = Some(b);
            if let Some(bucket) = self.grams.get(b as usize) {
                bucket.for_each_match(&candidate, f);
            }
        }
    }

    fn items(&self) -> impl Iterator<Item = T> + '_ {
        self.grams
            .iter()
            .chain(self.short.iter())
            .flat_map(|b| b.items.iter().copied())
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

thread_local! {
    // GlobSet reports matches into a Vec; one per thread (one per Wasm VM) is reused across requests.
    static SCRATCH: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
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

    /// Bucket sizes: exact, prefix, suffix, contains (globset), any.
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
