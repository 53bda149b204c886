//! R9: API mappings of one domain: the longest matching base path wins; the empty base path `(none)`
//! catches everything else. Mapped base paths are stripped, as in API Gateway.

use crate::matchers::path::SegmentTrie;

use super::rules::Target;

/// A compiled API mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Explicit id, or the base path (`(none)` for the empty one).
    pub id: Box<str>,
    /// Base path without slashes, empty for `(none)`.
    pub base_path: Box<str>,
    /// The API stage; `strip_base_path` is set when the base path is not empty.
    pub target: Target,
    /// Dense counter slot.
    pub slot: u32,
}

/// The mappings of one domain in a segment trie.
#[derive(Debug, Default)]
pub struct MappingSet {
    mappings: Vec<Mapping>,
    trie: SegmentTrie<u32>,
}

impl MappingSet {
    /// Drops the set in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &crate::budget::Budget) {
        crate::budget::drop_all(self.mappings, budget).await;
        self.trie.drop_in(budget).await;
    }

    /// Indexes mappings (base paths are unique, validated).
    pub fn build(mappings: Vec<Mapping>) -> MappingSet {
        let mut trie = SegmentTrie::default();
        for (i, m) in mappings.iter().enumerate() {
            trie.insert(&m.base_path, i as u32);
        }
        MappingSet { mappings, trie }
    }

    /// R9: the mapping with the longest base path matching `path` (no query).
    pub fn select(&self, path: &str) -> Option<&Mapping> {
        let i = *self.trie.longest_match(path)?.first()?;
        self.mappings.get(i as usize)
    }

    /// The mappings, in config order.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// Every mapping is in the trie once.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = vec![0; self.mappings.len()];
        for &i in self.trie.items() {
            match seen.get_mut(i as usize) {
                Some(n) => *n += 1,
                None => return Err(format!("mapping trie files unknown mapping {i}")),
            }
        }
        match seen.iter().position(|&n| n != 1) {
            Some(i) => Err(format!(
                "mapping {i} is filed {} times",
                seen.get(i).copied().unwrap_or(0)
            )),
            None => Ok(()),
        }
    }
}
