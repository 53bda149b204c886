//! [`Budget`]: how the configuration build is cut into slices (issue 13, config push stall).
//!
//! proxy-wasm runs `proxy_on_configure` of a pushed configuration in every worker's VM, on the worker
//! thread: a build of 100,000 rules in one piece held the worker for 2.6 s, while Envoy builds its own route
//! table on the main thread. The build is therefore written once as `async` code that awaits
//! [`Budget::spend`] between bounded pieces of work (an item parsed, a rule compiled, a few KiB of the
//! document scanned). Run with [`Budget::unlimited`] (or driven with an unbounded slice) it never stops,
//! which is how the dynamic module, the CLI and a proxy-wasm VM's first configuration (Envoy's main-thread
//! canary included) build; the proxy-wasm build of a push instead resumes it from `on_tick` with a few
//! units per tick ([`drive`]), the plugin's previous configuration serving meanwhile.
//!
//! Some pieces are still one piece of work, paid for in advance and bounded by the config's limits: a
//! domain's mapping index, the consumers' compile, a contains-glob automaton (≤ 256 KiB of literals), the
//! reduced text of one domain or API.
//!
//! Nothing here is asynchronous in the I/O sense: there is no executor, no waker and no thread; a
//! [`Budget`] that is empty makes the next `spend` return `Pending` once, and [`drive`] polls again later.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Work units left in the current slice. One unit is about a microsecond of native work: one list item
/// parsed or compiled, or [`SCAN_BYTES_PER_UNIT`] bytes of the document scanned.
#[derive(Debug)]
pub struct Budget {
    left: Cell<u64>,
}

/// Bytes of the document scanned per unit of work.
pub const SCAN_BYTES_PER_UNIT: usize = 512;

impl Budget {
    /// A budget that never runs out: the build runs in one piece.
    pub fn unlimited() -> Budget {
        Budget {
            left: Cell::new(u64::MAX),
        }
    }

    /// An empty budget, refilled by [`drive`].
    pub fn sliced() -> Budget {
        Budget { left: Cell::new(0) }
    }

    /// Spends `units` of the slice, first waiting for the next slice when this one is used up. The work a
    /// `spend` pays for follows it, so a slice overruns its budget by at most one piece of work.
    pub fn spend(&self, units: u64) -> Spend<'_> {
        Spend {
            budget: self,
            units,
            waited: false,
        }
    }
}

/// The future of [`Budget::spend`].
#[derive(Debug)]
pub struct Spend<'a> {
    budget: &'a Budget,
    units: u64,
    waited: bool,
}

impl Future for Spend<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let left = self.budget.left.get();
        if left == 0 && !self.waited {
            self.waited = true;
            return Poll::Pending;
        }
        self.budget.left.set(left.saturating_sub(self.units));
        Poll::Ready(())
    }
}

/// Items [`drop_all`] frees per unit of work.
pub const DROPS_PER_UNIT: usize = 8;

/// Drops `items` a few at a time: freeing tens of thousands of allocations in one piece is milliseconds
/// of work (a 25,000-rule domain's bookkeeping took 6-10 ms to free under Wasm).
pub async fn drop_all<I: IntoIterator>(items: I, budget: &Budget) {
    for (i, item) in items.into_iter().enumerate() {
        if i.is_multiple_of(DROPS_PER_UNIT) {
            budget.spend(1).await;
        }
        drop(item);
    }
}

/// Sorts `items` by `cmp`, stably, in slices: runs of [`SORT_RUN`] sorted in one piece each, then merged
/// pairwise a few items per unit (sorting 50,000 route entries in one piece took 18 ms under Wasm).
pub async fn sort_by<T>(
    items: Vec<T>,
    budget: &Budget,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering + Copy,
) -> Vec<T> {
    let mut runs: Vec<Vec<T>> = Vec::new();
    let mut rest = items.into_iter();
    loop {
        let mut run: Vec<T> = rest.by_ref().take(SORT_RUN).collect();
        if run.is_empty() {
            break;
        }
        budget.spend(SORT_RUN as u64 / 4).await;
        crate::sort::sort_by(&mut run, cmp);
        runs.push(run);
    }
    while runs.len() > 1 {
        let mut merged = Vec::with_capacity(runs.len().div_ceil(2));
        let mut pairs = runs.into_iter();
        while let Some(a) = pairs.next() {
            merged.push(match pairs.next() {
                Some(b) => merge(a, b, budget, cmp).await,
                None => a,
            });
        }
        runs = merged;
    }
    runs.pop().unwrap_or_default()
}

/// Items of a run sorted in one piece by [`sort_by`].
pub const SORT_RUN: usize = 512;

/// `a` and `b` (each sorted) as one sorted list; on ties `a`'s items first (stable).
async fn merge<T>(
    a: Vec<T>,
    b: Vec<T>,
    budget: &Budget,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        if out.len().is_multiple_of(16) {
            budget.spend(1).await;
        }
        let from_b = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => cmp(y, x).is_lt(),
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => break,
        };
        if let Some(item) = if from_b { b.next() } else { a.next() } {
            out.push(item);
        }
    }
    out
}

/// Runs `fut` for one slice of `units` work units: its output when it finished, `None` when it waits for
/// another slice.
pub fn drive<F: Future + ?Sized>(fut: Pin<&mut F>, budget: &Budget, units: u64) -> Option<F::Output> {
    budget.left.set(units.max(1));
    let mut cx = Context::from_waker(Waker::noop());
    match fut.poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Runs `fut` to its end in one piece (with a [`Budget::unlimited`] it never waits; with another budget,
/// slices follow one another at once).
pub fn block_on<F: Future>(fut: F, budget: &Budget) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Some(out) = drive(fut.as_mut(), budget, u64::MAX) {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_stops_at_the_first_spend_after_its_budget_and_resumes_there() {
        let budget = Budget::sliced();
        let done = Cell::new(0u32);
        let work = async {
            for _ in 0..10 {
                budget.spend(3).await;
                done.set(done.get() + 1);
            }
            "built"
        };
        let mut work = std::pin::pin!(work);
        // 10 units: pieces of 3 at 10, 7, 4, 1 left; the fifth waits.
        assert_eq!(drive(work.as_mut(), &budget, 10), None);
        assert_eq!(done.get(), 4);
        assert_eq!(drive(work.as_mut(), &budget, 10), None);
        assert_eq!(done.get(), 8);
        assert_eq!(drive(work.as_mut(), &budget, 10), Some("built"));
        assert_eq!(done.get(), 10);
    }

    #[test]
    fn a_piece_bigger_than_a_slice_still_runs() {
        let budget = Budget::sliced();
        let work = async {
            budget.spend(1_000).await;
            budget.spend(1_000).await;
            7
        };
        let mut work = std::pin::pin!(work);
        assert_eq!(drive(work.as_mut(), &budget, 1), None);
        assert_eq!(drive(work.as_mut(), &budget, 1), Some(7));
    }

    #[test]
    fn the_sliced_sort_is_the_stable_sort() {
        // Pairs (key, position): equal keys must keep their order, across runs and merges.
        for n in [0, 1, 7, SORT_RUN - 1, SORT_RUN, SORT_RUN + 1, 3 * SORT_RUN + 17] {
            let items: Vec<(u32, usize)> = (0..n).map(|i| (((i * 7919) % 13) as u32, i)).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|a| a.0);
            let budget = Budget::sliced();
            let mut sorting = std::pin::pin!(sort_by(items, &budget, |a: &(u32, usize), b| a.0.cmp(&b.0)));
            let mut slices = 1;
            let sorted = loop {
                match drive(sorting.as_mut(), &budget, 8) {
                    Some(sorted) => break sorted,
                    None => slices += 1,
                }
            };
            assert_eq!(sorted, expected, "n = {n}");
            // A single run is one piece; merges are sliced.
            assert!(n <= SORT_RUN || slices > 2, "n = {n}: {slices} slices");
        }
    }

    #[test]
    fn unlimited_never_waits() {
        let budget = Budget::unlimited();
        let work = async {
            for _ in 0..1_000 {
                budget.spend(1 << 40).await;
            }
            1
        };
        assert_eq!(block_on(work, &budget), 1);
    }
}
