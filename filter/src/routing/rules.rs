//! Layer 2 (R1-R10): routing rules and API mappings of one domain, compiled into indexes.
//!
//! Rules are evaluated by ascending priority and the first match wins (R2). Instead of walking them in
//! order, each rule is filed ("anchored") under exactly one of its conditions, the one whose bucket is
//! smallest: its base path in a segment trie, or one header condition in that header's [`GlobIndex`]. A
//! request collects the rules whose anchor matches, checks each candidate's remaining conditions, and keeps
//! the lowest priority. A rule whose anchor does not match cannot match at all, so this equals the linear
//! first-match walk; the property test in `engine` checks it against one.

use std::borrow::Cow;

use crate::budget::Budget;
use crate::matchers::fx::FxHashMap;
use crate::matchers::glob::{GlobIndex, GlobIndexBuilder, HeaderGlob};
use crate::matchers::path::{base_path_matches, SegmentTrie};
use crate::request::RequestCtx;
use crate::trace::{Failed, Trace, TraceEvent, Verdict};

/// The API stage a rule or mapping selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Index of the API in the engine.
    pub api: u32,
    /// Index of the stage in the API.
    pub stage: u32,
    /// Strip the matched base path before forwarding (R7; always for mappings with a base path, R9).
    pub strip_base_path: bool,
}

/// A header condition (R3): lowercase name and glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCondition {
    /// Lowercase header name.
    pub name: Box<str>,
    /// Value glob.
    pub glob: HeaderGlob,
}

/// A compiled routing rule (R1).
#[derive(Debug, Clone)]
pub struct Rule {
    /// Explicit or derived id.
    pub id: Box<str>,
    /// 1..=1,000,000.
    pub priority: u32,
    /// At most two header conditions.
    pub headers: Box<[HeaderCondition]>,
    /// Base-path condition, validated (no leading or trailing `/`).
    pub base_path: Option<Box<str>>,
    /// The action.
    pub target: Target,
    /// Dense counter slot.
    pub slot: u32,
}

impl Rule {
    /// R2-R6: every condition holds.
    #[inline]
    pub fn check(&self, ctx: &RequestCtx<'_>) -> Result<(), Failed> {
        for (i, h) in self.headers.iter().enumerate() {
            // R4: any one line; R5: an absent header fails, even for `*`.
            if !ctx.req.header_values(&h.name).any(|v| h.glob.is_match(v)) {
                return Err(Failed::Header(i as u8));
            }
        }
        if let Some(base) = &self.base_path {
            if !base_path_matches(ctx.path, base) {
                return Err(Failed::BasePath);
            }
        }
        Ok(())
    }

    /// True when the rule has no condition (a catch-all, R2).
    pub fn is_catch_all(&self) -> bool {
        self.headers.is_empty() && self.base_path.is_none()
    }
}

/// Where a rule is filed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Anchor {
    Always,
    BasePath(Box<str>),
    Header(Box<str>, u8, Box<str>),
}

impl Anchor {
    /// Lower is more selective at equal bucket size: exact header values, then base paths, then
    /// prefixes/suffixes, contains, any.
    fn class(&self) -> u8 {
        match self {
            Anchor::Header(_, 0, _) => 0,
            Anchor::BasePath(_) => 1,
            Anchor::Header(_, k, _) => 1 + k,
            Anchor::Always => u8::MAX,
        }
    }
}

fn anchors_of(rule: &Rule) -> Vec<Anchor> {
    let mut out = Vec::new();
    if let Some(b) = &rule.base_path {
        out.push(Anchor::BasePath(b.clone()));
    }
    for h in rule.headers.iter() {
        let (kind, lit) = h.glob.bucket_key();
        out.push(Anchor::Header(h.name.clone(), kind, lit.into()));
    }
    if out.is_empty() {
        out.push(Anchor::Always);
    }
    out
}

/// The rules of one domain, indexed.
#[derive(Debug)]
pub struct RuleSet {
    /// Sorted by ascending priority; indexes below refer to positions here.
    rules: Vec<Rule>,
    always: Vec<u32>,
    by_base_path: SegmentTrie<u32>,
    by_header: FxHashMap<Box<str>, GlobIndex<u32>>,
}

impl RuleSet {
    /// Sorts the rules by priority and files each under its cheapest condition.
    pub fn build(rules: Vec<Rule>) -> Result<RuleSet, aho_corasick::BuildError> {
        let budget = Budget::unlimited();
        crate::budget::block_on(RuleSet::build_in(rules, &budget), &budget)
    }

    /// [`RuleSet::build`] in slices of `budget` ([`crate::budget`]): a unit per rule anchored and per rule
    /// filed (25,000 rules took 40 ms in one piece).
    pub(crate) async fn build_in(
        mut rules: Vec<Rule>,
        budget: &Budget,
    ) -> Result<RuleSet, aho_corasick::BuildError> {
        budget.spend(1 + rules.len() as u64 / 64).await;
        // Priorities are unique in a domain (a duplicate is a config error): one order.
        crate::sort::sort_by_key(&mut rules, |r| r.priority);
        let mut anchors: Vec<Vec<Anchor>> = Vec::with_capacity(rules.len());
        for r in &rules {
            budget.spend(1).await;
            anchors.push(anchors_of(r));
        }
        // Config-time counting over every rule's anchors: Fx, not SipHash (a tenth of a 100,000-rule load
        // was SipHash, issue 13); the keys come from the config.
        // Sized once: growing it rehashes every anchor in one piece (tens of ms at 25,000 rules under V8).
        let mut sizes: FxHashMap<&Anchor, usize> =
            FxHashMap::with_capacity_and_hasher(anchors.iter().map(Vec::len).sum(), Default::default());
        for options in &anchors {
            budget.spend(1).await;
            for a in options {
                *sizes.entry(a).or_default() += 1;
            }
        }
        let mut set = RuleSet {
            rules: Vec::new(),
            always: Vec::new(),
            by_base_path: SegmentTrie::default(),
            by_header: FxHashMap::default(),
        };
        let mut header_builders: FxHashMap<Box<str>, GlobIndexBuilder<u32>> = FxHashMap::default();
        for (i, (rule, options)) in rules.iter().zip(&anchors).enumerate() {
            budget.spend(1).await;
            let i = i as u32;
            let best = options
                .iter()
                .min_by_key(|a| (sizes.get(a).copied().unwrap_or(0), a.class()));
            match best {
                None | Some(Anchor::Always) => set.always.push(i),
                Some(Anchor::BasePath(b)) => set.by_base_path.insert(b, i),
                Some(Anchor::Header(name, kind, lit)) => {
                    // The condition the anchor came from (with two on one header, the matching one).
                    let glob = rule
                        .headers
                        .iter()
                        .find(|h| h.name == *name && h.glob.bucket_key() == (*kind, &**lit))
                        .map(|h| h.glob.clone());
                    if let Some(glob) = glob {
                        header_builders.entry(name.clone()).or_default().add(glob, i);
                    }
                }
            }
        }
        drop(sizes);
        crate::budget::drop_all(anchors, budget).await;
        for (name, b) in header_builders {
            set.by_header.insert(name, b.build_in(budget).await?);
        }
        // Built once, kept as long as the configuration (in each VM of the .wasm build): no spare capacity.
        rules.shrink_to_fit();
        set.always.shrink_to_fit();
        set.by_base_path.shrink_to_fit();
        set.by_header.shrink_to_fit();
        set.rules = rules;
        Ok(set)
    }

    /// Drops the set in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &Budget) {
        crate::budget::drop_all(self.rules, budget).await;
        self.by_base_path.drop_in(budget).await;
        for (_, index) in self.by_header {
            index.drop_in(budget).await;
        }
    }

    /// The rules, by ascending priority.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// R2: the lowest-priority rule whose conditions all hold.
    pub fn select<'s, T: Trace>(&'s self, ctx: &RequestCtx<'_>, trace: &mut T) -> Option<&'s Rule> {
        if self.rules.is_empty() {
            return None;
        }
        let mut best: Option<u32> = None;
        let mut consider = |i: u32| {
            // Sorted by priority: a lower position is a lower priority value.
            if !T::ENABLED && best.is_some_and(|b| b <= i) {
                return;
            }
            let Some(rule) = self.rules.get(i as usize) else {
                return;
            };
            let result = rule.check(ctx);
            if T::ENABLED {
                trace.event(TraceEvent::Rule {
                    id: &rule.id,
                    priority: rule.priority,
                    verdict: match result {
                        Ok(()) => Verdict::Matched,
                        Err(f) => Verdict::Failed(f),
                    },
                });
            }
            if result.is_ok() && best.is_none_or(|b| i < b) {
                best = Some(i);
            }
        };
        self.always.iter().for_each(|&i| consider(i));
        if !self.by_base_path.is_empty() {
            let _ = self.by_base_path.for_each_match(ctx.path, |&i, _| {
                consider(i);
                std::ops::ControlFlow::Continue(())
            });
        }
        if !self.by_header.is_empty() {
            for (name, value) in ctx.req.headers {
                let name: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(name.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(name)
                };
                if let Some(index) = self.by_header.get(&*name) {
                    index.for_each_candidate(value, &mut consider);
                }
            }
            // `host` conditions also see the authority (RequestView::header_values); the header scan that
            // decides it runs only for configs with such a condition.
            if let Some(index) = self.by_header.get("host") {
                if let Some(host) = ctx.req.authority_as_host() {
                    index.for_each_candidate(host, &mut consider);
                }
            }
        }
        let rule = best.and_then(|i| self.rules.get(i as usize));
        if T::ENABLED {
            if let Some(r) = rule {
                trace.event(TraceEvent::Rule {
                    id: &r.id,
                    priority: r.priority,
                    verdict: Verdict::Selected,
                });
            }
        }
        rule
    }

    /// Index statistics for the configure-time `debug!` line: always, base path, header buckets
    /// (exact, prefix, suffix, contains, any).
    pub fn stats(&self) -> (usize, usize, [usize; 5]) {
        let mut h = [0; 5];
        for index in self.by_header.values() {
            for (a, b) in h.iter_mut().zip(index.stats()) {
                *a += b;
            }
        }
        (self.always.len(), self.by_base_path.len(), h)
    }

    /// Every rule is filed exactly once, under a condition it really has; priorities ascend strictly.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = vec![0u32; self.rules.len()];
        let mut mark = |i: u32, what: &str| -> Result<(), String> {
            match seen.get_mut(i as usize) {
                Some(n) => {
                    *n += 1;
                    Ok(())
                }
                None => Err(format!("{what} index files unknown rule {i}")),
            }
        };
        for &i in &self.always {
            mark(i, "catch-all")?;
            if self.rules.get(i as usize).is_some_and(|r| !r.is_catch_all()) {
                return Err(format!("rule {i} has conditions but is filed as a catch-all"));
            }
        }
        for &i in self.by_base_path.items() {
            mark(i, "base path")?;
            if self.rules.get(i as usize).is_some_and(|r| r.base_path.is_none()) {
                return Err(format!("rule {i} has no base path but is filed under one"));
            }
        }
        for (name, index) in &self.by_header {
            for i in index.items() {
                mark(i, "header")?;
                if self
                    .rules
                    .get(i as usize)
                    .is_some_and(|r| !r.headers.iter().any(|h| h.name == *name))
                {
                    return Err(format!("rule {i} is filed under header {name} it does not test"));
                }
            }
        }
        if let Some(i) = seen.iter().position(|&n| n != 1) {
            return Err(format!(
                "rule {i} is filed {} times",
                seen.get(i).copied().unwrap_or(0)
            ));
        }
        if !self
            .rules
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.priority < b.priority))
        {
            return Err("rule priorities are not strictly ascending".into());
        }
        Ok(())
    }
}
