//! Paths: base paths of rules and mappings (R6, R7, R9) and route path patterns (P2), with their indexes.
//!
//! All matching is on the path without its query string (P9), byte for byte: Envoy has already normalised
//! the path, and `%2F` stays three bytes, never a separator.

use std::ops::ControlFlow;

use super::fx::FxHashMap;
use super::trie::ByteTrie;

/// Longest base path accepted (R12).
pub const MAX_BASE_PATH_LEN: usize = 128;

/// Splits `:path` into the path and the query string (without `?`).
#[inline]
pub fn split_query(full: &str) -> (&str, Option<&str>) {
    match full.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (full, None),
    }
}

/// Validates a base path (R6, R12): written without leading or trailing `/`, no empty segment, at most 128
/// characters. `allow_empty` admits the `(none)` mapping (R9).
pub fn check_base_path(base: &str, allow_empty: bool) -> Result<(), String> {
    if base.is_empty() {
        return if allow_empty {
            Ok(())
        } else {
            Err("empty base path; leave `base_path` out to match every path".into())
        };
    }
    if base.len() > MAX_BASE_PATH_LEN {
        return Err(format!(
            "longer than {MAX_BASE_PATH_LEN} characters ({})",
            base.len()
        ));
    }
    if base.starts_with('/') || base.ends_with('/') {
        return Err("write the base path without leading or trailing `/` (`orders/v2`)".into());
    }
    if base.split('/').any(str::is_empty) {
        return Err("empty path segment (`//`)".into());
    }
    if let Some(c) = base
        .chars()
        .find(|c| matches!(c, '?' | '#') || c.is_ascii_control() || *c == ' ')
    {
        return Err(format!(
            "character `{}` cannot appear in a path",
            c.escape_default()
        ));
    }
    Ok(())
}

/// R6: true when `path` (no query) starts with the segments of `base` on a segment boundary. The empty base
/// matches every path.
#[inline]
pub fn base_path_matches(path: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(base)) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The part of `path` (no query) left after the matched `base` (R7): `/PetStoreShopper/dogs` minus
/// `PetStoreShopper` is `/dogs`; nothing left is `/`.
#[inline]
pub fn path_after_base<'p>(path: &'p str, base: &str) -> &'p str {
    if base.is_empty() {
        return path;
    }
    let rest = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(base))
        .unwrap_or(path);
    if rest.is_empty() {
        "/"
    } else {
        rest
    }
}

/// R7/R9: the full `:path` (with query) after stripping `base`, which must match (see
/// [`base_path_matches`]). The query string is kept: `/PetStoreShopper?birds=available` → `/?birds=available`.
pub fn strip_base_path(full: &str, base: &str) -> String {
    let (path, query) = split_query(full);
    let rest = path_after_base(path, base);
    match query {
        Some(q) => {
            let mut s = String::with_capacity(rest.len() + 1 + q.len());
            s.push_str(rest);
            s.push('?');
            s.push_str(q);
            s
        }
        None => rest.to_string(),
    }
}

/// Segments of a path after its leading `/`: `/a/b` → `a`, `b`; `/` → one empty segment.
fn segments(path: &str) -> std::str::Split<'_, char> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// Base paths (or any segment-aligned prefixes) in a trie over segments.
#[derive(Debug)]
pub struct SegmentTrie<T> {
    nodes: Vec<SegNode<T>>,
    len: usize,
}

#[derive(Debug)]
struct SegNode<T> {
    children: FxHashMap<Box<str>, u32>,
    items: Vec<T>,
}

impl<T> Default for SegmentTrie<T> {
    fn default() -> Self {
        SegmentTrie {
            nodes: vec![SegNode {
                children: FxHashMap::default(),
                items: Vec::new(),
            }],
            len: 0,
        }
    }
}

impl<T> SegmentTrie<T> {
    /// Gives back the spare capacity of the node list, the child maps and the item vectors (once built).
    pub fn shrink_to_fit(&mut self) {
        self.nodes.shrink_to_fit();
        for n in &mut self.nodes {
            n.children.shrink_to_fit();
            n.items.shrink_to_fit();
        }
    }

    /// Drops the trie in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &crate::budget::Budget) {
        crate::budget::drop_all(self.nodes, budget).await;
    }

    /// Adds `item` under the base path `base` (validated; empty = every path).
    pub fn insert(&mut self, base: &str, item: T) {
        let mut node = 0usize;
        if !base.is_empty() {
            for seg in base.split('/') {
                let next = self.nodes.len() as u32;
                let Some(n) = self.nodes.get_mut(node) else { return };
                let id = *n.children.entry(seg.into()).or_insert(next);
                if id == next {
                    self.nodes.push(SegNode {
                        children: FxHashMap::default(),
                        items: Vec::new(),
                    });
                }
                node = id as usize;
            }
        }
        if let Some(n) = self.nodes.get_mut(node) {
            n.items.push(item);
            self.len += 1;
        }
    }

    /// Calls `f` with the items of every base path matching `path` (no query, R6), shortest first, with the
    /// number of segments matched.
    pub fn for_each_match(
        &self,
        path: &str,
        mut f: impl FnMut(&T, usize) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut node = 0usize;
        let mut depth = 0;
        let mut segs = segments(path);
        loop {
            let Some(n) = self.nodes.get(node) else {
                return ControlFlow::Continue(());
            };
            for item in &n.items {
                f(item, depth)?;
            }
            if n.children.is_empty() {
                return ControlFlow::Continue(());
            }
            let Some(seg) = segs.next() else {
                return ControlFlow::Continue(());
            };
            match n.children.get(seg) {
                Some(&c) => node = c as usize,
                None => return ControlFlow::Continue(()),
            }
            depth += 1;
        }
    }

    /// The items of the longest matching base path (R9).
    pub fn longest_match(&self, path: &str) -> Option<&[T]> {
        let mut node = 0usize;
        let mut best: Option<&[T]> = None;
        let mut segs = segments(path);
        loop {
            let n = self.nodes.get(node)?;
            if !n.items.is_empty() {
                best = Some(&n.items);
            }
            let Some(seg) = segs.next() else { return best };
            match n.children.get(seg) {
                Some(&c) => node = c as usize,
                None => return best,
            }
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item (for invariant checks).
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.nodes.iter().flat_map(|n| n.items.iter())
    }
}

/// The class of a path pattern in the selection order (P5 step 2), most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathClass {
    /// `/a/b`.
    Exact,
    /// `/a/*`, `/a*`, `/pets/{id}`: ordered by literal length.
    PrefixOrTemplate,
    /// `/{proxy+}`, `/pets/{proxy+}`.
    Greedy,
    /// `$default`.
    Default,
}

/// One segment of a template path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TemplateSegment {
    /// A literal segment.
    Static(Box<str>),
    /// `{name}`: one non-empty segment.
    Param(Box<str>),
}

/// A route path pattern (P2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathPattern {
    /// `/a/b`: the path equals it.
    Exact(Box<str>),
    /// `/a/*` or `/a*`: the path starts with the bytes before `*` (APISIX).
    Prefix(Box<str>),
    /// `/pets/{id}`, optionally ending with a greedy `{proxy+}` segment.
    Template {
        /// Segments after the leading `/`, without the greedy one.
        segments: Box<[TemplateSegment]>,
        /// Name of the trailing greedy parameter, if any.
        greedy: Option<Box<str>>,
    },
    /// `$default`: anything, as a last resort.
    Default,
}

/// Longest route path accepted.
pub const MAX_ROUTE_PATH_LEN: usize = 2048;

fn valid_param_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

impl PathPattern {
    /// Parses a path pattern (P2) or says why it is invalid.
    pub fn parse(text: &str) -> Result<PathPattern, String> {
        if text == "$default" {
            return Ok(PathPattern::Default);
        }
        if !text.starts_with('/') {
            return Err("a path starts with `/`".into());
        }
        if text.len() > MAX_ROUTE_PATH_LEN {
            return Err(format!("longer than {MAX_ROUTE_PATH_LEN} characters"));
        }
        if let Some(c) = text
            .chars()
            .find(|c| matches!(c, '?' | '#') || c.is_ascii_control() || *c == ' ')
        {
            return Err(format!(
                "character `{}` cannot appear in a path (the query string is never matched, P9)",
                c.escape_default()
            ));
        }
        if let Some(star) = text.find('*') {
            if star + 1 != text.len() {
                return Err("`*` is allowed only as the last character (`/a/*`, `/a*`)".into());
            }
            let before = text.get(..star).unwrap_or_default();
            if before.contains(['{', '}']) {
                return Err("a prefix path cannot hold parameters; use a greedy `{proxy+}` segment".into());
            }
            return Ok(PathPattern::Prefix(before.into()));
        }
        if !text.contains(['{', '}']) {
            return Ok(PathPattern::Exact(text.into()));
        }
        let body = text.get(1..).unwrap_or_default();
        let parts: Vec<&str> = body.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut greedy = None;
        let mut names: Vec<&str> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let is_param = part.starts_with('{') && part.ends_with('}') && part.len() >= 2;
            if !is_param {
                if part.contains(['{', '}']) {
                    return Err(format!(
                        "segment `{part}`: a parameter must be a whole segment (`/pets/{{id}}`)"
                    ));
                }
                segments.push(TemplateSegment::Static((*part).into()));
                continue;
            }
            let inner = part.get(1..part.len() - 1).unwrap_or_default();
            let (name, is_greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if !valid_param_name(name) {
                return Err(format!(
                    "parameter `{part}`: names use letters, digits, `_`, `-` and `.`"
                ));
            }
            if names.contains(&name) {
                return Err(format!("parameter `{name}` appears twice"));
            }
            names.push(name);
            if is_greedy {
                if i + 1 != parts.len() {
                    return Err(format!("greedy parameter `{part}` must be the last segment"));
                }
                greedy = Some(name.into());
            } else {
                segments.push(TemplateSegment::Param(name.into()));
            }
        }
        Ok(PathPattern::Template {
            segments: segments.into(),
            greedy,
        })
    }

    /// The selection class (P5 step 2).
    pub fn class(&self) -> PathClass {
        match self {
            PathPattern::Exact(_) => PathClass::Exact,
            PathPattern::Prefix(_) => PathClass::PrefixOrTemplate,
            PathPattern::Template { greedy: None, .. } => PathClass::PrefixOrTemplate,
            PathPattern::Template { greedy: Some(_), .. } => PathClass::Greedy,
            PathPattern::Default => PathClass::Default,
        }
    }

    /// Length of the literal part: the pattern without `*` and parameters (`/pets/{id}` → 6).
    pub fn literal_len(&self) -> usize {
        match self {
            PathPattern::Exact(p) | PathPattern::Prefix(p) => p.len(),
            PathPattern::Template { segments, greedy } => {
                let mut n = 0;
                for s in segments.iter() {
                    n += 1 + match s {
                        TemplateSegment::Static(t) => t.len(),
                        TemplateSegment::Param(_) => 0,
                    };
                }
                n + usize::from(greedy.is_some())
            }
            PathPattern::Default => 0,
        }
    }

    /// Number of parameters (the greedy one included).
    pub fn param_count(&self) -> usize {
        match self {
            PathPattern::Template { segments, greedy } => {
                segments
                    .iter()
                    .filter(|s| matches!(s, TemplateSegment::Param(_)))
                    .count()
                    + usize::from(greedy.is_some())
            }
            _ => 0,
        }
    }

    /// True for templates (P5: at equal literal length a template ranks before a prefix).
    pub fn is_template(&self) -> bool {
        matches!(self, PathPattern::Template { .. })
    }

    /// The pattern as written (canonical: parameter names kept).
    pub fn as_written(&self) -> String {
        match self {
            PathPattern::Exact(p) => p.to_string(),
            PathPattern::Prefix(p) => format!("{p}*"),
            PathPattern::Template { segments, greedy } => {
                let mut s = String::new();
                for seg in segments.iter() {
                    s.push('/');
                    match seg {
                        TemplateSegment::Static(t) => s.push_str(t),
                        TemplateSegment::Param(n) => {
                            s.push('{');
                            s.push_str(n);
                            s.push('}');
                        }
                    }
                }
                if let Some(g) = greedy {
                    s.push_str("/{");
                    s.push_str(g);
                    s.push_str("+}");
                }
                s
            }
            PathPattern::Default => "$default".into(),
        }
    }

    /// The pattern with parameter names erased, for uniqueness (P3: `/pets/{id}` and `/pets/{petId}` are
    /// the same key).
    pub fn normalized(&self) -> String {
        match self {
            PathPattern::Template { segments, greedy } => {
                let mut s = String::new();
                for seg in segments.iter() {
                    s.push('/');
                    match seg {
                        TemplateSegment::Static(t) => s.push_str(t),
                        TemplateSegment::Param(_) => s.push_str("{}"),
                    }
                }
                if greedy.is_some() {
                    s.push_str("/{+}");
                }
                s
            }
            other => other.as_written(),
        }
    }

    /// True when `path` (no query) matches. The reference semantics the index must agree with.
    pub fn is_match(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => path == &**p,
            PathPattern::Prefix(p) => path.starts_with(&**p),
            PathPattern::Template { .. } => self.captures_with(path, |_, _| {}),
            PathPattern::Default => true,
        }
    }

    /// The path parameters of a match (P2): `/pets/{id}` on `/pets/7` → `[("id", "7")]`.
    pub fn captures<'p>(&'p self, path: &str) -> Vec<(&'p str, String)> {
        let mut out = Vec::new();
        if self.is_template() {
            self.captures_with(path, |name, value| out.push((name, value.to_string())));
        }
        out
    }

    fn captures_with<'p>(&'p self, path: &str, mut f: impl FnMut(&'p str, &str)) -> bool {
        let PathPattern::Template { segments, greedy } = self else {
            return false;
        };
        let mut rest = match path.strip_prefix('/') {
            Some(r) => r,
            None => return false,
        };
        let mut consumed_all = false;
        for seg in segments.iter() {
            if consumed_all {
                return false;
            }
            let (head, tail) = match rest.split_once('/') {
                Some((h, t)) => (h, Some(t)),
                None => (rest, None),
            };
            match seg {
                TemplateSegment::Static(s) => {
                    if head != &**s {
                        return false;
                    }
                }
                TemplateSegment::Param(name) => {
                    if head.is_empty() {
                        return false;
                    }
                    f(name, head);
                }
            }
            match tail {
                Some(t) => rest = t,
                None => consumed_all = true,
            }
        }
        match greedy {
            Some(name) => {
                if consumed_all || rest.is_empty() {
                    return false;
                }
                f(name, rest);
                true
            }
            None => consumed_all,
        }
    }
}

/// Route path patterns mapped to items (P2): exact paths in a hash map, prefixes in a byte trie, templates
/// in a segment tree, `$default` in a list. A lookup yields every item whose pattern matches.
#[derive(Debug)]
pub struct PathIndex<T> {
    exact: FxHashMap<Box<str>, Vec<T>>,
    prefix: ByteTrie<T>,
    templates: Vec<TNode<T>>,
    default: Vec<T>,
    len: usize,
}

#[derive(Debug)]
struct TNode<T> {
    statics: FxHashMap<Box<str>, u32>,
    param: Option<u32>,
    /// Patterns ending here.
    ends: Vec<T>,
    /// Patterns whose greedy segment follows here.
    greedy: Vec<T>,
}

impl<T> TNode<T> {
    fn new() -> Self {
        TNode {
            statics: FxHashMap::default(),
            param: None,
            ends: Vec::new(),
            greedy: Vec::new(),
        }
    }
}

impl<T> Default for PathIndex<T> {
    fn default() -> Self {
        PathIndex {
            exact: FxHashMap::default(),
            prefix: ByteTrie::new(),
            templates: vec![TNode::new()],
            default: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Copy> PathIndex<T> {
    /// Drops the index in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &crate::budget::Budget) {
        crate::budget::drop_all(self.exact, budget).await;
        self.prefix.drop_in(budget).await;
        crate::budget::drop_all(self.templates, budget).await;
    }

    /// Adds a pattern.
    pub fn insert(&mut self, pattern: &PathPattern, item: T) {
        self.len += 1;
        match pattern {
            PathPattern::Exact(p) => self.exact.entry(p.clone()).or_default().push(item),
            PathPattern::Prefix(p) => self.prefix.insert(p.as_bytes(), item),
            PathPattern::Default => self.default.push(item),
            PathPattern::Template { segments, greedy } => {
                let mut node = 0usize;
                for seg in segments.iter() {
                    let next = self.templates.len() as u32;
                    let Some(n) = self.templates.get_mut(node) else {
                        return;
                    };
                    let id = match seg {
                        TemplateSegment::Static(s) => *n.statics.entry(s.clone()).or_insert(next),
                        TemplateSegment::Param(_) => *n.param.get_or_insert(next),
                    };
                    if id == next {
                        self.templates.push(TNode::new());
                    }
                    node = id as usize;
                }
                if let Some(n) = self.templates.get_mut(node) {
                    if greedy.is_some() {
                        n.greedy.push(item);
                    } else {
                        n.ends.push(item);
                    }
                }
            }
        }
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with every item whose pattern matches `path` (no query).
    pub fn for_each_match(&self, path: &str, mut f: impl FnMut(T)) {
        if let Some(items) = self.exact.get(path) {
            items.iter().for_each(|&i| f(i));
        }
        if !self.prefix.is_empty() {
            let _ = self.prefix.for_each_prefix(path.bytes(), |&i, _| {
                f(i);
                ControlFlow::Continue(())
            });
        }
        if self.templates.len() > 1 || self.templates.first().is_some_and(|n| !n.greedy.is_empty()) {
            if let Some(rest) = path.strip_prefix('/') {
                self.walk(0, Some(rest), &mut f);
            }
        }
        self.default.iter().for_each(|&i| f(i));
    }

    // Each tree node sits at a fixed depth, so the walk visits a node at most once: the cost is bounded by
    // the tree size, and the recursion depth by the longest template (configuration, not request).
    fn walk(&self, node: usize, rest: Option<&str>, f: &mut impl FnMut(T)) {
        let Some(n) = self.templates.get(node) else { return };
        let Some(rest) = rest else {
            n.ends.iter().for_each(|&i| f(i));
            return;
        };
        if !rest.is_empty() {
            n.greedy.iter().for_each(|&i| f(i));
        }
        let (head, tail) = match rest.split_once('/') {
            Some((h, t)) => (h, Some(t)),
            None => (rest, None),
        };
        if let Some(&c) = n.statics.get(head) {
            self.walk(c as usize, tail, f);
        }
        if let Some(c) = n.param {
            if !head.is_empty() {
                self.walk(c as usize, tail, f);
            }
        }
    }

    /// Patterns per bucket: exact, prefix, template (incl. greedy), default.
    pub fn stats(&self) -> [usize; 4] {
        let templates = self.templates.iter().map(|n| n.ends.len() + n.greedy.len()).sum();
        [
            self.exact.values().map(Vec::len).sum(),
            self.prefix.len(),
            templates,
            self.default.len(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r6_base_path_matches_on_segment_boundaries() {
        for yes in ["/products", "/products/", "/products/x", "/products/x/y"] {
            assert!(base_path_matches(yes, "products"), "{yes}");
        }
        for no in ["/productsX", "/a/products", "/", "/Products", "products"] {
            assert!(!base_path_matches(no, "products"), "{no}");
        }
        assert!(base_path_matches("/orders/v2/x", "orders/v2"));
        assert!(!base_path_matches("/orders/v22", "orders/v2"));
        // The query string is never part of the match (callers pass the path without it).
        assert_eq!(split_query("/products?q=1"), ("/products", Some("q=1")));
        assert!(base_path_matches(split_query("/products?q=1").0, "products"));
    }

    // R7: API Gateway's documented strip_base_path table.
    #[test]
    fn r7_strip_base_path_table() {
        let table = [
            ("PetStoreShopper", "/PetStoreShopper/dogs", "/dogs"),
            ("PetStoreShopper/dogs", "/PetStoreShopper/dogs", "/"),
            (
                "PetStoreShopper",
                "/PetStoreShopper?birds=available",
                "/?birds=available",
            ),
            ("PetStoreShopper", "/PetStoreShopper/", "/"),
            ("PetStoreShopper", "/PetStoreShopper/dogs?x=1&y", "/dogs?x=1&y"),
        ];
        for (base, path, want) in table {
            assert_eq!(strip_base_path(path, base), want, "{base} + {path}");
        }
    }

    #[test]
    fn r12_base_path_validation() {
        assert!(check_base_path("orders/v2", false).is_ok());
        assert!(check_base_path("", true).is_ok());
        for bad in ["", "/orders", "orders/", "a//b", "a?b"] {
            assert!(check_base_path(bad, false).is_err(), "{bad:?}");
        }
        assert!(check_base_path(&"a".repeat(129), false).is_err());
        assert!(check_base_path(&"a".repeat(128), false).is_ok());
    }

    #[test]
    fn segment_trie_finds_all_and_longest() {
        let mut t = SegmentTrie::default();
        for (i, b) in ["", "a", "a/b", "b"].iter().enumerate() {
            t.insert(b, i);
        }
        let mut all = Vec::new();
        let _ = t.for_each_match("/a/b/c", |&i, d| {
            all.push((i, d));
            ControlFlow::Continue(())
        });
        assert_eq!(all, [(0, 0), (1, 1), (2, 2)]);
        assert_eq!(t.longest_match("/a/bc"), Some(&[1][..]));
        assert_eq!(t.longest_match("/c"), Some(&[0][..]));
        assert_eq!(t.longest_match("/"), Some(&[0][..]));
    }

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).expect("valid path")
    }

    // P2: every path form with matching and non-matching requests.
    #[test]
    fn p2_path_forms() {
        let table: &[(&str, &[&str], &[&str])] = &[
            ("/a/b", &["/a/b"], &["/a/b/", "/a", "/a/bc"]),
            ("/a/*", &["/a/", "/a/b", "/a/b/c"], &["/a", "/ab"]),
            ("/a*", &["/a", "/abc", "/a/b"], &["/", "/b"]),
            (
                "/pets/{id}",
                &["/pets/1", "/pets/abc"],
                &["/pets", "/pets/", "/pets/1/2"],
            ),
            (
                "/pets/{id}/toys",
                &["/pets/1/toys"],
                &["/pets//toys", "/pets/1/toys/x"],
            ),
            ("/{proxy+}", &["/a", "/a/b", "/a/"], &["/"]),
            (
                "/pets/{proxy+}",
                &["/pets/a", "/pets/a/b"],
                &["/pets", "/pets/", "/petsx/a"],
            ),
            ("$default", &["/", "/anything"], &[]),
        ];
        for (p, yes, no) in table {
            let parsed = pat(p);
            assert_eq!(parsed.as_written(), *p);
            for y in *yes {
                assert!(parsed.is_match(y), "{p} should match {y}");
            }
            for n in *no {
                assert!(!parsed.is_match(n), "{p} should not match {n}");
            }
        }
    }

    #[test]
    fn p2_star_not_last_is_rejected() {
        for bad in [
            "/a*/b",
            "*",
            "/*a",
            "a/b",
            "/a/{id",
            "/a/x{id}",
            "/{proxy+}/a",
            "/{a}/{a}",
            "/{}",
            "/a?b",
        ] {
            assert!(PathPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn p2_captures_path_parameters() {
        assert_eq!(pat("/pets/{id}").captures("/pets/7"), [("id", "7".to_string())]);
        assert_eq!(
            pat("/{a}/x/{proxy+}").captures("/1/x/y/z"),
            [("a", "1".to_string()), ("proxy", "y/z".to_string())]
        );
        assert!(pat("/a/*").captures("/a/b").is_empty());
    }

    #[test]
    fn p5_literal_length_and_parameters() {
        assert_eq!(pat("/pets/{id}").literal_len(), 6);
        assert_eq!(pat("/pets/*").literal_len(), 6);
        assert_eq!(pat("/{proxy+}").literal_len(), 1);
        assert_eq!(pat("/a/{x}/{y}").param_count(), 2);
        assert_eq!(pat("/pets/{id}").normalized(), pat("/pets/{petId}").normalized());
    }

    #[test]
    fn path_index_agrees_with_is_match() {
        let pats = [
            "/a/b",
            "/a/*",
            "/a*",
            "/pets/{id}",
            "/pets/{id}/toys",
            "/{proxy+}",
            "/pets/{proxy+}",
            "$default",
            "/{x}",
            "/{x}/b",
            "/a/{y}",
        ];
        let mut idx = PathIndex::default();
        for (i, p) in pats.iter().enumerate() {
            idx.insert(&pat(p), i);
        }
        for path in [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/ab",
            "/pets/1",
            "/pets/1/toys",
            "/pets/",
            "/x/b",
            "/a/b/c",
        ] {
            let mut got = Vec::new();
            idx.for_each_match(path, |i| got.push(i));
            got.sort_unstable();
            let want: Vec<usize> = (0..pats.len()).filter(|&i| pat(pats[i]).is_match(path)).collect();
            assert_eq!(got, want, "{path}");
        }
    }
}
