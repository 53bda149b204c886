//! [`ByteTrie`]: a radix tree over bytes answering "which inserted keys are prefixes of this input?".
//!
//! Used for byte-prefix matchers (header `v*` globs, APISIX `/a*` paths) and, fed with reversed bytes, for
//! suffix matchers (header `*v` globs, `*.example.com` hosts). Built once at configure time; a lookup walks
//! the input once and never allocates.

use std::ops::ControlFlow;

/// A radix tree mapping byte-string keys to items.
#[derive(Debug, Clone)]
pub struct ByteTrie<T> {
    nodes: Vec<Node<T>>,
    len: usize,
}

#[derive(Debug, Clone)]
struct Node<T> {
    /// Bytes on the edge leading to this node (empty only for the root).
    label: Box<[u8]>,
    /// Children, sorted by the first byte of their label (distinct first bytes).
    children: Vec<(u8, u32)>,
    /// Items whose key ends exactly at this node.
    items: Vec<T>,
}

impl<T> Node<T> {
    fn new(label: &[u8]) -> Self {
        Node {
            label: label.into(),
            children: Vec::new(),
            items: Vec::new(),
        }
    }

    fn child(&self, first: u8) -> Option<u32> {
        self.children
            .binary_search_by_key(&first, |c| c.0)
            .ok()
            .and_then(|i| self.children.get(i))
            .map(|c| c.1)
    }
}

impl<T> Default for ByteTrie<T> {
    fn default() -> Self {
        ByteTrie {
            nodes: vec![Node::new(b"")],
            len: 0,
        }
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<T> ByteTrie<T> {
    /// Drops the trie in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &crate::budget::Budget) {
        crate::budget::drop_all(self.nodes, budget).await;
    }

    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives back the spare capacity of the node list and of every node's vectors (once built: a
    /// configuration's tries live as long as it does, in every VM of the .wasm build; issue 13).
    pub fn shrink_to_fit(&mut self) {
        self.nodes.shrink_to_fit();
        for n in &mut self.nodes {
            n.children.shrink_to_fit();
            n.items.shrink_to_fit();
        }
    }

    /// Number of items inserted.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of nodes (for `debug!` statistics and invariant checks).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Adds `item` under `key`. Several items may share a key; they are kept in insertion order.
    pub fn insert(&mut self, key: &[u8], item: T) {
        let id = self.node_for(key);
        if let Some(n) = self.nodes.get_mut(id) {
            n.items.push(item);
            self.len += 1;
        }
    }

    /// Adds `item` under `key`, keeping the items of one key sorted by `order` (stable).
    pub fn insert_sorted_by_key<K: Ord>(&mut self, key: &[u8], item: T, order: impl Fn(&T) -> K) {
        let id = self.node_for(key);
        if let Some(n) = self.nodes.get_mut(id) {
            let k = order(&item);
            let pos = n.items.partition_point(|i| order(i) <= k);
            n.items.insert(pos, item);
            self.len += 1;
        }
    }

    /// The node for `key`, created (splitting an edge if needed) when missing.
    fn node_for(&mut self, key: &[u8]) -> usize {
        let mut node = 0usize;
        let mut rest = key;
        loop {
            let Some(&first) = rest.first() else {
                return node;
            };
            let Some(n) = self.nodes.get(node) else {
                return node;
            };
            match n.child(first) {
                None => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(Node::new(rest));
                    if let Some(n) = self.nodes.get_mut(node) {
                        let pos = n.children.partition_point(|c| c.0 < first);
                        n.children.insert(pos, (first, id));
                    }
                    return id as usize;
                }
                Some(child) => {
                    let child = child as usize;
                    let Some(c) = self.nodes.get(child) else {
                        return node;
                    };
                    let l = common_prefix(&c.label, rest);
                    if l < c.label.len() {
                        // Split the edge: parent -> mid (label[..l]) -> child (label[l..]).
                        let mid_id = self.nodes.len() as u32;
                        let (head, tail) = c.label.split_at(l);
                        let mut mid = Node::new(head);
                        let tail: Box<[u8]> = tail.into();
                        let tail_first = tail.first().copied().unwrap_or_default();
                        mid.children.push((tail_first, child as u32));
                        if let Some(c) = self.nodes.get_mut(child) {
                            c.label = tail;
                        }
                        self.nodes.push(mid);
                        if let Some(n) = self.nodes.get_mut(node) {
                            if let Some(slot) = n.children.iter_mut().find(|c| c.0 == first) {
                                slot.1 = mid_id;
                            }
                        }
                        node = mid_id as usize;
                    } else {
                        node = child;
                    }
                    rest = rest.get(l..).unwrap_or_default();
                }
            }
        }
    }

    /// Calls `f` with the items of every key that is a prefix of `input`, shortest key first, together with
    /// the key's length. Stops early when `f` breaks.
    pub fn for_each_prefix<I, F>(&self, mut input: I, mut f: F) -> ControlFlow<()>
    where
        I: Iterator<Item = u8>,
        F: FnMut(&T, usize) -> ControlFlow<()>,
    {
        let mut node = 0usize;
        let mut depth = 0usize;
        loop {
            let Some(n) = self.nodes.get(node) else {
                return ControlFlow::Continue(());
            };
            for item in &n.items {
                f(item, depth)?;
            }
            let Some(b) = input.next() else {
                return ControlFlow::Continue(());
            };
            let Some(child) = n.child(b) else {
                return ControlFlow::Continue(());
            };
            let Some(c) = self.nodes.get(child as usize) else {
                return ControlFlow::Continue(());
            };
            // The first label byte matched through `child(b)`; the rest must follow in the input.
            for &lb in c.label.iter().skip(1) {
                if input.next() != Some(lb) {
                    return ControlFlow::Continue(());
                }
            }
            depth += c.label.len();
            node = child as usize;
        }
    }

    /// Like [`ByteTrie::for_each_prefix`], but longest key first (D3: the longest wildcard suffix wins).
    pub fn for_each_prefix_longest_first<I, F>(&self, input: I, mut f: F) -> ControlFlow<()>
    where
        I: Iterator<Item = u8>,
        F: FnMut(&T, usize) -> ControlFlow<()>,
    {
        self.longest_first_from(0, input, 0, &mut f)
    }

    // Recursion depth is bounded by the number of nodes on one root-to-leaf path, which the configuration
    // decides (a key of n bytes has at most n nodes), never the request.
    fn longest_first_from<I, F>(&self, node: usize, mut input: I, depth: usize, f: &mut F) -> ControlFlow<()>
    where
        I: Iterator<Item = u8>,
        F: FnMut(&T, usize) -> ControlFlow<()>,
    {
        let Some(n) = self.nodes.get(node) else {
            return ControlFlow::Continue(());
        };
        if let Some(b) = input.next() {
            if let Some(child) = n.child(b) {
                if let Some(c) = self.nodes.get(child as usize) {
                    let mut ok = true;
                    for &lb in c.label.iter().skip(1) {
                        if input.next() != Some(lb) {
                            ok = false;
                            break;
                        }
                    }
                    if ok {
                        self.longest_first_from(child as usize, input, depth + c.label.len(), f)?;
                    }
                }
            }
        }
        for item in &n.items {
            f(item, depth)?;
        }
        ControlFlow::Continue(())
    }

    /// Every `(key, item)` pair (for invariant checks and tests).
    pub fn entries(&self) -> Vec<(Vec<u8>, &T)> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, Vec::new())];
        while let Some((id, mut key)) = stack.pop() {
            let Some(n) = self.nodes.get(id) else { continue };
            key.extend_from_slice(&n.label);
            for item in &n.items {
                out.push((key.clone(), item));
            }
            for &(_, c) in &n.children {
                stack.push((c as usize, key.clone()));
            }
        }
        out
    }

    /// Checks the radix-tree shape: every child's label is non-empty and starts with its recorded byte,
    /// children are sorted, and the item count matches.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut items = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            items += n.items.len();
            if i != 0 && n.label.is_empty() {
                return Err(format!("trie node {i} has an empty label"));
            }
            if !n.children.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)) {
                return Err(format!("trie node {i} children are not sorted"));
            }
            for &(b, c) in &n.children {
                let first = self.nodes.get(c as usize).and_then(|c| c.label.first().copied());
                if first != Some(b) {
                    return Err(format!("trie node {i} child {c} is filed under the wrong byte"));
                }
            }
        }
        if items != self.len {
            return Err(format!("trie holds {items} items but counted {}", self.len));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(t: &ByteTrie<u32>, input: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let _ = t.for_each_prefix(input.bytes(), |i, _| {
            out.push(*i);
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn finds_every_prefix_shortest_first() {
        let mut t = ByteTrie::new();
        for (i, k) in ["/a", "/ab", "/abc", "/b", "", "/a/"].iter().enumerate() {
            t.insert(k.as_bytes(), i as u32);
        }
        t.check_invariants().expect("valid");
        assert_eq!(prefixes(&t, "/abcd"), [4, 0, 1, 2]);
        assert_eq!(prefixes(&t, "/a/x"), [4, 0, 5]);
        assert_eq!(prefixes(&t, "/"), [4]);
        assert_eq!(prefixes(&t, "/ac"), [4, 0]);
        let mut longest = Vec::new();
        let _ = t.for_each_prefix_longest_first("/abcd".bytes(), |i, d| {
            longest.push((*i, d));
            ControlFlow::Continue(())
        });
        assert_eq!(longest, [(2, 4), (1, 3), (0, 2), (4, 0)]);
    }

    #[test]
    fn split_edges_keep_items() {
        let mut t = ByteTrie::new();
        t.insert(b"tenant-1", 1u32);
        t.insert(b"tenant-2", 2);
        t.insert(b"ten", 3);
        t.insert(b"tenant-1", 4);
        t.check_invariants().expect("valid");
        assert_eq!(prefixes(&t, "tenant-1x"), [3, 1, 4]);
        assert_eq!(prefixes(&t, "tenant-2"), [3, 2]);
        assert_eq!(prefixes(&t, "te"), Vec::<u32>::new());
        assert_eq!(t.len(), 4);
        assert_eq!(t.entries().len(), 4);
    }
}
