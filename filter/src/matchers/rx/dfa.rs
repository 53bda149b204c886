//! The whole DFA of a regex, built at configure time by subset construction over the NFA, so that asking
//! whether a haystack matches is one table step per byte: linear in the haystack whatever the pattern, with
//! no cache to fill or share between Envoy's workers.
//!
//! A pattern whose DFA would be too big (the exponential cases, `(a|b)*a(a|b){20}`) is refused at configure
//! time with [`ErrorKind::TooBig`], like Envoy's RE2 refuses programs over its `max_program_size`.

use std::collections::HashMap;

use super::nfa::{Nfa, State, StateId};
use super::{Error, ErrorKind};

/// Most DFA states of one regex.
pub(super) const MAX_STATES: usize = 4096;
/// Most transition-table cells (states × byte classes) of one regex: 1 MiB of table.
const MAX_CELLS: usize = 1 << 18;
/// Most NFA states visited while building, so that building is bounded too.
const MAX_WORK: usize = 1 << 22;

/// A transition to "a match was found": the search stops there.
const MATCH: u32 = u32::MAX;
/// A transition to "no match can follow" (anchored patterns only: the unanchored prefix never dies).
const DEAD: u32 = u32::MAX - 1;

#[derive(Debug, Clone)]
pub(super) struct Dfa {
    /// Byte → equivalence class (bytes no NFA range tells apart share one).
    classes: Box<[u8; 256]>,
    /// Number of classes: the width of a row.
    stride: usize,
    /// Row-major transitions; a state is the offset of its row, or [`MATCH`] / [`DEAD`].
    trans: Box<[u32]>,
    /// Per state (row offset / stride): whether the end of the text completes a match (`$`).
    eoi: Box<[bool]>,
    start: u32,
}

impl Dfa {
    pub fn is_match(&self, hay: &[u8]) -> bool {
        let mut s = self.start;
        for &b in hay {
            if s >= DEAD {
                break;
            }
            let class = usize::from(self.classes.get(usize::from(b)).copied().unwrap_or(0));
            s = self.trans.get(s as usize + class).copied().unwrap_or(DEAD);
        }
        match s {
            MATCH => true,
            DEAD => false,
            s => self
                .eoi
                .get(s as usize / self.stride.max(1))
                .copied()
                .unwrap_or(false),
        }
    }

    /// Bytes of heap this DFA holds.
    pub fn heap_bytes(&self) -> usize {
        256 + self.trans.len() * 4 + self.eoi.len()
    }
}

pub(super) fn build(nfa: &Nfa, at: usize) -> Result<Dfa, Error> {
    let too_big = || Error::new(ErrorKind::TooBig, at);
    let (classes, reps) = byte_classes(nfa);
    let stride = reps.len();
    let mut b = Builder::new(nfa);

    let mut sets: Vec<Box<[StateId]>> = Vec::new();
    let mut index: HashMap<Box<[StateId]>, u32> = HashMap::new();
    let mut eoi: Vec<bool> = Vec::new();

    // The start state is never looked up (its `^` and `$` are judged at the start of the text), so it is
    // kept out of `index`.
    let initial = b.closure(&[nfa.start], true, false).ok_or_else(too_big)?;
    let start = if initial.contains(&MATCH_MARK) {
        MATCH
    } else if initial.is_empty() {
        DEAD
    } else {
        eoi.push(b.accepts_at_end(&initial, true).ok_or_else(too_big)?);
        sets.push(initial);
        0
    };

    let mut trans: Vec<u32> = Vec::new();
    let mut seeds: Vec<StateId> = Vec::new();
    let mut i = 0;
    while i < sets.len() {
        for &rep in &reps {
            let set = sets.get(i).map_or(&[][..], |set| &set[..]);
            let next = b.step(set, rep, &mut seeds).ok_or_else(too_big)?;
            let target = if next.contains(&MATCH_MARK) {
                MATCH
            } else if next.is_empty() {
                DEAD
            } else if let Some(&id) = index.get(&next) {
                id
            } else {
                if sets.len() >= MAX_STATES || (sets.len() + 1) * stride > MAX_CELLS {
                    return Err(too_big());
                }
                let id = (sets.len() * stride) as u32;
                eoi.push(b.accepts_at_end(&next, false).ok_or_else(too_big)?);
                index.insert(next.clone(), id);
                sets.push(next);
                id
            };
            trans.push(target);
        }
        i += 1;
    }
    let mut classes_arr = Box::new([0u8; 256]);
    classes_arr.copy_from_slice(&classes);
    Ok(Dfa {
        classes: classes_arr,
        stride,
        trans: trans.into_boxed_slice(),
        eoi: eoi.into_boxed_slice(),
        start,
    })
}

/// Most NFA states of a pattern searched with [`is_match_lazy`] (its whole DFA was too big): each new state
/// of such a search costs one closure over at most this many states.
pub(super) const MAX_LAZY_NFA_STATES: usize = 128;
/// Most DFA states one [`is_match_lazy`] search keeps: past it the cache is emptied and filled again.
const LAZY_STATES: usize = 4096;
/// A transition [`is_match_lazy`] has not computed yet.
const UNKNOWN: u32 = u32::MAX - 2;

/// [`Dfa::is_match`] for a pattern whose whole DFA is too big: the DFA is built during the search, only
/// for the states this haystack reaches, and forgotten after it. Each new state costs one closure over the
/// NFA (at most its size), each known one a table step, so the cost per byte is bounded by the NFA's size
/// (≤ [`MAX_LAZY_NFA_STATES`]) and repetitive values (`aaaa…`) run at table speed.
pub(super) fn is_match_lazy(nfa: &Nfa, classes: &ByteClasses, hay: &[u8]) -> bool {
    let stride = classes.stride;
    let classes = &classes.map;
    let mut b = Builder::new(nfa);
    let Some(initial) = b.closure(&[nfa.start], true, false) else {
        return false;
    };
    if initial.contains(&MATCH_MARK) {
        return true;
    }
    if initial.is_empty() {
        return false;
    }
    let mut sets: Vec<Box<[StateId]>> = vec![initial];
    let mut index: HashMap<Box<[StateId]>, u32> = HashMap::new();
    let mut trans: Vec<u32> = vec![UNKNOWN; stride];
    // The start state's `^` holds only at the start of the text; once the cache is emptied it is gone.
    let mut initial_id = Some(0usize);
    let mut s = 0usize;
    let mut seeds: Vec<StateId> = Vec::new();
    for &byte in hay {
        let class = usize::from(classes.get(usize::from(byte)).copied().unwrap_or(0));
        let known = trans.get(s * stride + class).copied().unwrap_or(UNKNOWN);
        let next = if known != UNKNOWN {
            known
        } else {
            b.work = 0; // no build budget here: the bound is per byte, one step
            let current = sets.get(s).map_or(&[][..], |set| &set[..]);
            let Some(set) = b.step(current, byte, &mut seeds) else {
                return false;
            };
            let mut cleared = false;
            let target = if set.contains(&MATCH_MARK) {
                MATCH
            } else if set.is_empty() {
                DEAD
            } else if let Some(&id) = index.get(&set) {
                id
            } else {
                if sets.len() >= LAZY_STATES {
                    sets.clear();
                    index.clear();
                    trans.clear();
                    initial_id = None;
                    cleared = true;
                }
                let id = sets.len() as u32;
                index.insert(set.clone(), id);
                sets.push(set);
                trans.resize(sets.len() * stride, UNKNOWN);
                id
            };
            // After emptying the cache, `s` names a state that is gone: nothing to record.
            if !cleared {
                if let Some(t) = trans.get_mut(s * stride + class) {
                    *t = target;
                }
            }
            target
        };
        match next {
            MATCH => return true,
            DEAD => return false,
            id => s = id as usize,
        }
    }
    let at_start = initial_id == Some(s);
    let set = sets.get(s).cloned().unwrap_or_default();
    b.work = 0;
    b.accepts_at_end(&set, at_start).unwrap_or(false)
}

/// The byte classes of a pattern searched with [`is_match_lazy`], computed once at configure time.
#[derive(Debug, Clone)]
pub(super) struct ByteClasses {
    map: Box<[u8; 256]>,
    stride: usize,
}

impl ByteClasses {
    pub fn of(nfa: &Nfa) -> ByteClasses {
        let (map, reps) = byte_classes(nfa);
        ByteClasses {
            map: Box::new(map),
            stride: reps.len(),
        }
    }
}

/// Stands for the NFA's `Match` in a closure (no real state has this id).
const MATCH_MARK: StateId = StateId::MAX;

/// Splits the 256 byte values into classes no `Bytes` range tells apart; returns the map and one
/// representative byte per class.
fn byte_classes(nfa: &Nfa) -> ([u8; 256], Vec<u8>) {
    let mut boundary = [false; 257];
    for s in &nfa.states {
        if let State::Bytes(ranges) = s {
            for &(lo, hi, _) in ranges.iter() {
                if let Some(b) = boundary.get_mut(usize::from(lo)) {
                    *b = true;
                }
                if let Some(b) = boundary.get_mut(usize::from(hi) + 1) {
                    *b = true;
                }
            }
        }
    }
    let mut classes = [0u8; 256];
    let mut reps = vec![0u8];
    let mut class = 0u8;
    for b in 1..256usize {
        if boundary.get(b).copied().unwrap_or(false) {
            class = class.saturating_add(1);
            reps.push(b as u8);
        }
        if let Some(c) = classes.get_mut(b) {
            *c = class;
        }
    }
    (classes, reps)
}

struct Builder<'a> {
    nfa: &'a Nfa,
    work: usize,
    seen: Vec<bool>,
    stack: Vec<StateId>,
}

impl<'a> Builder<'a> {
    fn new(nfa: &'a Nfa) -> Builder<'a> {
        Builder {
            nfa,
            work: 0,
            seen: vec![false; nfa.states.len()],
            stack: Vec::new(),
        }
    }

    /// The DFA state after `byte` from `set`: the successors of its byte states that take `byte`, plus a new
    /// start (unanchored search: a match may start at every position; a `^` there is false and dropped),
    /// closed. Scanning the set is work too (`[\x01\x03...]{1000}`: many ranges per state). `None` when the
    /// work budget is spent.
    fn step(&mut self, set: &[StateId], byte: u8, seeds: &mut Vec<StateId>) -> Option<Box<[StateId]>> {
        self.work += set.len();
        if self.work > MAX_WORK {
            return None;
        }
        seeds.clear();
        for &id in set {
            if let State::Bytes(ranges) = self.nfa.state(id) {
                if let Some(&(_, _, next)) = ranges.iter().find(|&&(lo, hi, _)| lo <= byte && byte <= hi) {
                    seeds.push(next);
                }
            }
        }
        seeds.push(self.nfa.start);
        self.closure(seeds, false, false)
    }

    /// The states reachable from `seeds` without consuming a byte, reduced to those that matter to a DFA
    /// state: byte-consuming states, pending `$` (when not at the end) and [`MATCH_MARK`]. Sorted.
    /// `None` when the build has done too much work.
    fn closure(&mut self, seeds: &[StateId], at_start: bool, at_end: bool) -> Option<Box<[StateId]>> {
        let mut out: Vec<StateId> = Vec::new();
        let mut visited: Vec<StateId> = Vec::new();
        self.stack.clear();
        self.stack.extend(seeds.iter().rev());
        while let Some(id) = self.stack.pop() {
            match self.seen.get_mut(id as usize) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            visited.push(id);
            self.work += 1;
            if self.work > MAX_WORK {
                self.reset(&visited);
                return None;
            }
            match self.nfa.state(id) {
                State::Bytes(_) => out.push(id),
                State::Match => out.push(MATCH_MARK),
                State::Split(a, b) => {
                    self.stack.push(*b);
                    self.stack.push(*a);
                }
                State::Save(_, next) => self.stack.push(*next),
                State::Start(next) => {
                    if at_start {
                        self.stack.push(*next);
                    }
                }
                State::End(next) => {
                    if at_end {
                        self.stack.push(*next);
                    } else {
                        out.push(id);
                    }
                }
            }
        }
        self.reset(&visited);
        crate::sort::sort(&mut out);
        out.dedup();
        Some(out.into_boxed_slice())
    }

    fn reset(&mut self, visited: &[StateId]) {
        for &id in visited {
            if let Some(s) = self.seen.get_mut(id as usize) {
                *s = false;
            }
        }
    }

    /// Whether the end of the text, reached in the DFA state `set`, completes a match: a pending `$`
    /// leads to `Match` once the end is known.
    fn accepts_at_end(&mut self, set: &[StateId], at_start: bool) -> Option<bool> {
        let pending: Vec<StateId> = set
            .iter()
            .filter_map(|&id| match self.nfa.state(id) {
                State::End(next) => Some(*next),
                _ => None,
            })
            .collect();
        if pending.is_empty() {
            return Some(false);
        }
        Some(self.closure(&pending, at_start, true)?.contains(&MATCH_MARK))
    }
}
