//! One sort for the crate. Every `slice::sort*` call is its own copy of the standard library's sort, per
//! element type and comparator (≈ 4 KB of code each: twelve copies were 51 KB of routewise.wasm, issue 13,
//! whose budget is 1 MB). Here the comparisons go through one merge sort of indices that is compiled once;
//! only moving the elements into their order is generic, and small.
//!
//! Stable everywhere: equal elements keep their order, so a caller never has to think about which one of
//! equal keys comes first.
//!
//! The comparator is called through a `dyn` pointer, which costs a little against the standard sort's
//! inlined comparisons; the callers sort configuration items once at build time (sliced when large:
//! [`crate::budget::sort_by`]) or a handful of header and claim pairs per request.

use std::cmp::Ordering;

/// Sorts `v` by `cmp`, stably.
///
/// ```ignore
/// let mut v = vec![(2, 'a'), (1, 'b'), (2, 'c')];
/// sort_by(&mut v, |a, b| a.0.cmp(&b.0));
/// assert_eq!(v, [(1, 'b'), (2, 'a'), (2, 'c')]);
/// ```
pub fn sort_by<T>(v: &mut Vec<T>, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    if v.len() <= IN_PLACE_UP_TO {
        // Per request (a Lambda event's headers, a token's claims) the lists are short: sorted in place,
        // with no allocation; stable because only a strictly greater neighbour is swapped.
        for i in 1..v.len() {
            let mut j = i;
            while j > 0
                && matches!((v.get(j - 1), v.get(j)), (Some(a), Some(b)) if cmp(a, b) == Ordering::Greater)
            {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
        return;
    }
    let order = {
        let items: &[T] = v;
        sorted_order(items.len(), &mut |a, b| match (items.get(a), items.get(b)) {
            (Some(x), Some(y)) => cmp(x, y),
            _ => Ordering::Equal,
        })
    };
    let Some(order) = order else { return };
    let mut slots: Vec<Option<T>> = std::mem::take(v).into_iter().map(Some).collect();
    v.extend(
        order
            .iter()
            .filter_map(|&i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// Lists up to this long are sorted in place by insertion (at most ≈ 500 comparisons, no allocation).
const IN_PLACE_UP_TO: usize = 32;

/// Sorts `v` in its natural order, stably.
pub fn sort<T: Ord>(v: &mut Vec<T>) {
    sort_by(v, T::cmp);
}

/// Sorts `v` by the key `key` gives each element, stably (the key is computed for each comparison: keep it
/// cheap, or compute keys once and sort pairs).
pub fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// The order that sorts `n` items compared by index, or `None` when they are in order already (n − 1
/// comparisons and nothing moved: configurations often list rules in priority order). Otherwise a bottom-up
/// merge sort (at most n·⌈log2 n⌉ comparisons), stable because an item from the right run goes first only
/// when strictly less.
fn sorted_order(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Option<Vec<usize>> {
    if (1..n).all(|i| cmp(i - 1, i) != Ordering::Greater) {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut next: Vec<usize> = Vec::with_capacity(n);
    let mut width = 1;
    while width < n {
        next.clear();
        for chunk in order.chunks(2 * width) {
            let (left, right) = chunk.split_at_checked(width).unwrap_or((chunk, &[] as &[usize]));
            let (mut l, mut r) = (left.iter().peekable(), right.iter().peekable());
            while let (Some(&&a), Some(&&b)) = (l.peek(), r.peek()) {
                if cmp(b, a) == Ordering::Less {
                    next.push(b);
                    r.next();
                } else {
                    next.push(a);
                    l.next();
                }
            }
            next.extend(l);
            next.extend(r);
        }
        std::mem::swap(&mut order, &mut next);
        width *= 2;
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no dependency): xorshift.
    fn numbers(seed: u64, n: usize, modulo: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % modulo
            })
            .collect()
    }

    #[test]
    fn sorts_as_the_standard_stable_sort_does() {
        for n in [0, 1, 2, 3, 7, 8, 9, 31, 64, 100, 513, 1000] {
            for modulo in [1, 3, 50, u64::MAX] {
                // Pairs (key, position): equal keys must keep their positions' order.
                let items: Vec<(u64, usize)> = numbers((n as u64).wrapping_add(modulo), n, modulo)
                    .into_iter()
                    .enumerate()
                    .map(|(i, k)| (k, i))
                    .collect();
                let mut expected = items.clone();
                expected.sort_by_key(|a| a.0);
                let mut got = items;
                sort_by(&mut got, |a, b| a.0.cmp(&b.0));
                assert_eq!(got, expected, "n = {n}, modulo = {modulo}");
            }
        }
    }

    #[test]
    fn sorted_and_reversed_inputs() {
        for n in [2, 3, 10, 1000] {
            let sorted: Vec<usize> = (0..n).collect();
            let mut v = sorted.clone();
            sort(&mut v);
            assert_eq!(v, sorted);
            let mut v: Vec<usize> = (0..n).rev().collect();
            sort(&mut v);
            assert_eq!(v, sorted);
        }
    }

    #[test]
    fn sort_and_sort_by_key() {
        let mut words = vec!["pear", "fig", "apple", "fig", "kiwi"];
        sort(&mut words);
        assert_eq!(words, ["apple", "fig", "fig", "kiwi", "pear"]);
        let mut by_len = vec!["pear", "fig", "apple", "kiwi", "yam"];
        sort_by_key(&mut by_len, |w| w.len());
        assert_eq!(by_len, ["fig", "yam", "pear", "kiwi", "apple"]);
    }

    #[test]
    fn elements_that_are_not_copy_are_moved_not_lost() {
        let mut v: Vec<String> = ["b", "c", "a", "b"].iter().map(|s| s.to_string()).collect();
        sort(&mut v);
        assert_eq!(v, ["a", "b", "b", "c"]);
    }
}
