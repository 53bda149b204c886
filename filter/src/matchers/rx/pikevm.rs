//! The capture search (`regex_uri`'s `$1`): a Pike VM over the NFA, leftmost-first like Perl, RE2 and Rust's
//! `regex`. It runs only after the DFA has said the haystack matches, and costs at most (NFA states ×
//! haystack bytes) steps: no backtracking, so no exponential case.

use super::nfa::{Nfa, State, StateId};

/// Slot value of a group that did not take part in the match.
const NONE: u32 = u32::MAX;

/// The threads alive at one position: every state visited (so each is added once), and, in priority order,
/// those that are threads (byte-consuming states and `Match`) with their capture slots.
struct Threads {
    /// Sparse set of visited states: `dense` lists them, `sparse[state]` is its index in `dense`.
    dense: Vec<StateId>,
    sparse: Vec<u32>,
    ids: Vec<StateId>,
    /// `slots[i * width..]`: the slots of `ids[i]`.
    slots: Vec<u32>,
}

impl Threads {
    fn new(states: usize) -> Threads {
        Threads {
            dense: Vec::new(),
            sparse: vec![0; states],
            ids: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Marks `id` visited; false if it already was.
    fn visit(&mut self, id: StateId) -> bool {
        let seen = self
            .sparse
            .get(id as usize)
            .and_then(|&i| self.dense.get(i as usize))
            .is_some_and(|&d| d == id);
        if seen {
            return false;
        }
        if let Some(s) = self.sparse.get_mut(id as usize) {
            *s = self.dense.len() as u32;
        }
        self.dense.push(id);
        true
    }

    fn clear(&mut self) {
        self.dense.clear();
        self.ids.clear();
        self.slots.clear();
    }
}

enum Frame {
    Explore(StateId),
    Restore(u32, u32),
}

/// The slots (start, end per group; `u32::MAX` for none) of the leftmost-first match in `hay`, if any.
pub(super) fn captures(nfa: &Nfa, hay: &[u8]) -> Option<Vec<u32>> {
    let width = nfa.slots as usize;
    let n = nfa.states.len();
    let mut clist = Threads::new(n);
    let mut nlist = Threads::new(n);
    let mut stack: Vec<Frame> = Vec::new();
    let mut scratch = vec![NONE; width];
    let mut best = vec![NONE; width];
    let mut matched = false;

    for at in 0..=hay.len() {
        if !matched {
            // A new thread starting here, with the lowest priority.
            scratch.fill(NONE);
            add(
                nfa,
                &mut clist,
                &mut stack,
                &mut scratch,
                nfa.start,
                at,
                hay.len(),
            );
        }
        if matched && clist.ids.is_empty() {
            break;
        }
        let byte = hay.get(at).copied();
        for (i, &id) in clist.ids.iter().enumerate() {
            let Some(slots) = clist.slots.get(i * width..(i + 1) * width) else {
                break;
            };
            match nfa.state(id) {
                State::Match => {
                    // Threads after this one have lower priority: this match wins over them.
                    best.copy_from_slice(slots);
                    matched = true;
                    break;
                }
                State::Bytes(ranges) => {
                    let Some(b) = byte else { continue };
                    if let Some(&(_, _, next)) = ranges.iter().find(|&&(lo, hi, _)| lo <= b && b <= hi) {
                        scratch.copy_from_slice(slots);
                        add(nfa, &mut nlist, &mut stack, &mut scratch, next, at + 1, hay.len());
                    }
                }
                _ => {}
            }
        }
        std::mem::swap(&mut clist, &mut nlist);
        nlist.clear();
        if byte.is_none() {
            break;
        }
    }
    matched.then_some(best)
}

/// Adds the thread at `id` and everything reachable from it without consuming a byte, in priority order.
/// `slots` is the thread's slots; it is restored before returning.
fn add(
    nfa: &Nfa,
    list: &mut Threads,
    stack: &mut Vec<Frame>,
    slots: &mut [u32],
    id: StateId,
    at: usize,
    len: usize,
) {
    stack.clear();
    stack.push(Frame::Explore(id));
    while let Some(frame) = stack.pop() {
        let id = match frame {
            Frame::Explore(id) => id,
            Frame::Restore(slot, v) => {
                if let Some(s) = slots.get_mut(slot as usize) {
                    *s = v;
                }
                continue;
            }
        };
        if !list.visit(id) {
            continue;
        }
        match nfa.state(id) {
            State::Bytes(_) | State::Match => {
                list.ids.push(id);
                list.slots.extend_from_slice(slots);
            }
            State::Split(a, b) => {
                stack.push(Frame::Explore(*b));
                stack.push(Frame::Explore(*a));
            }
            State::Save(slot, next) => {
                if let Some(s) = slots.get_mut(*slot as usize) {
                    stack.push(Frame::Restore(*slot, *s));
                    *s = at as u32;
                }
                stack.push(Frame::Explore(*next));
            }
            State::Start(next) => {
                if at == 0 {
                    stack.push(Frame::Explore(*next));
                }
            }
            State::End(next) => {
                if at == len {
                    stack.push(Frame::Explore(*next));
                }
            }
        }
    }
}
