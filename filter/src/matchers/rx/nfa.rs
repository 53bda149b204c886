//! Thompson NFA over bytes, compiled from the [`Ast`]: the input of the DFA construction ([`super::dfa`]) and the
//! program the capture search runs ([`super::pikevm`]).
//!
//! States are built back to front (each is compiled knowing its successor), so no patching is needed except
//! for the loop of an unbounded repetition. A character class is one state with byte ranges to its
//! successors: the ASCII part goes straight on, non-ASCII characters go through one to three continuation
//! states (UTF-8 lead byte, then `10xxxxxx` bytes). The haystack is always valid UTF-8 (a `&str`), so a lead
//! byte's range fixes how many continuation bytes follow.

use super::parse::{Ast, Class};
use super::{Error, ErrorKind};

/// Index of a state.
pub(super) type StateId = u32;

/// Most NFA states of one regex. The capture search costs up to (states × haystack bytes) steps, and the DFA
/// construction is bounded by it too.
pub(super) const MAX_STATES: usize = 4096;

#[derive(Debug, Clone)]
pub(super) enum State {
    /// Consumes one byte in one of the (disjoint, sorted) ranges and goes to that range's successor.
    Bytes(Box<[(u8, u8, StateId)]>),
    /// Tries `0` first, then `1` (leftmost-first priority).
    Split(StateId, StateId),
    /// Records the position in capture slot `0` (2 × group for its start, + 1 for its end).
    Save(u32, StateId),
    /// Start of the text.
    Start(StateId),
    /// End of the text.
    End(StateId),
    Match,
}

#[derive(Debug, Clone)]
pub(super) struct Nfa {
    pub states: Vec<State>,
    pub start: StateId,
    /// Capture slots: 2 per group, group 0 (the whole match) included.
    pub slots: u32,
}

impl Nfa {
    pub fn state(&self, id: StateId) -> &State {
        // Ids come from this NFA's own construction; `Match` is a harmless answer were one ever out of range.
        self.states.get(id as usize).unwrap_or(&State::Match)
    }
}

pub(super) fn compile(ast: &Ast, groups: u32, at: usize) -> Result<Nfa, Error> {
    let mut c = Compiler {
        states: Vec::new(),
        at,
        work: 0,
    };
    let m = c.push(State::Match)?;
    let end = c.push(State::Save(1, m))?;
    let body = c.ast(ast, end)?;
    let start = c.push(State::Save(0, body))?;
    let mut states = c.states;
    states.shrink_to_fit();
    Ok(Nfa {
        states,
        start,
        slots: 2 * (groups + 1),
    })
}

struct Compiler {
    states: Vec<State>,
    /// Offset reported when the pattern is too big (the whole pattern is).
    at: usize,
    /// Nodes compiled so far: repetitions of empty groups (`(?:){1000}{1000}`) add no state but still cost.
    work: usize,
}

impl Compiler {
    fn push(&mut self, s: State) -> Result<StateId, Error> {
        if self.states.len() >= MAX_STATES {
            return Err(Error::new(ErrorKind::TooBig, self.at));
        }
        self.states.push(s);
        Ok((self.states.len() - 1) as StateId)
    }

    /// Compiles `ast` so that it continues to `next`; returns its entry state.
    fn ast(&mut self, ast: &Ast, next: StateId) -> Result<StateId, Error> {
        self.work += 1;
        if self.work > 16 * MAX_STATES {
            return Err(Error::new(ErrorKind::TooBig, self.at));
        }
        match ast {
            Ast::Empty => Ok(next),
            Ast::Class(c) => self.class(*c, next),
            Ast::Literal(bytes) => {
                let mut cur = next;
                for &b in bytes.iter().rev() {
                    cur = self.push(State::Bytes(Box::new([(b, b, cur)])))?;
                }
                Ok(cur)
            }
            Ast::Concat(items) => {
                let mut cur = next;
                for item in items.iter().rev() {
                    cur = self.ast(item, cur)?;
                }
                Ok(cur)
            }
            Ast::Alt(branches) => {
                let mut entries = Vec::with_capacity(branches.len());
                for b in branches {
                    entries.push(self.ast(b, next)?);
                }
                let mut cur = entries.pop().unwrap_or(next);
                while let Some(e) = entries.pop() {
                    cur = self.push(State::Split(e, cur))?;
                }
                Ok(cur)
            }
            Ast::Group { index, ast } => {
                let close = self.push(State::Save(2 * index + 1, next))?;
                let body = self.ast(ast, close)?;
                self.push(State::Save(2 * index, body))
            }
            Ast::Start => self.push(State::Start(next)),
            Ast::End => self.push(State::End(next)),
            Ast::Repeat {
                ast,
                min,
                max,
                greedy,
            } => {
                let split = |greedy: bool, body: StateId, next: StateId| {
                    if greedy {
                        State::Split(body, next)
                    } else {
                        State::Split(next, body)
                    }
                };
                // The shapes of regex-automata's Thompson compiler, so that captures inside loops that can
                // match the empty string (`(a*?)*`, `(?:^|x)+`) come out as in Rust's `regex`.
                let (mut cur, copies) = match max {
                    None if *min > 0 || min_len(ast) > 0 => {
                        // x+ : x, then a split back to x's start or on; x* (x never empty): the split first.
                        let loop_split = self.push(State::Match)?;
                        let body = self.ast(ast, loop_split)?;
                        self.set(loop_split, split(*greedy, body, next));
                        if *min == 0 {
                            (loop_split, 0)
                        } else {
                            (body, *min - 1)
                        }
                    }
                    None => {
                        // x* where x can be empty: (x+)?
                        let loop_split = self.push(State::Match)?;
                        let body = self.ast(ast, loop_split)?;
                        self.set(loop_split, split(*greedy, body, next));
                        (self.push(split(*greedy, body, next))?, 0)
                    }
                    Some(max) => {
                        // x{min,max} = x^min (x(x(x)?)?)? : the optional copies nest, each skipping to `next`.
                        let mut cur = next;
                        for _ in *min..*max {
                            let body = self.ast(ast, cur)?;
                            cur = self.push(split(*greedy, body, next))?;
                        }
                        (cur, *min)
                    }
                };
                for _ in 0..copies {
                    cur = self.ast(ast, cur)?;
                }
                Ok(cur)
            }
        }
    }

    fn set(&mut self, id: StateId, state: State) {
        if let Some(s) = self.states.get_mut(id as usize) {
            *s = state;
        }
    }

    fn class(&mut self, c: Class, next: StateId) -> Result<StateId, Error> {
        let mut ranges: Vec<(u8, u8, StateId)> = Vec::new();
        let mut b: u32 = 0;
        while b < 128 {
            if c.ascii & (1u128 << b) != 0 {
                let lo = b;
                while b + 1 < 128 && c.ascii & (1u128 << (b + 1)) != 0 {
                    b += 1;
                }
                ranges.push((lo as u8, b as u8, next));
            }
            b += 1;
        }
        if c.non_ascii {
            // Any non-ASCII character: a lead byte, then 1, 2 or 3 continuation bytes.
            let c1 = self.push(State::Bytes(Box::new([(0x80, 0xbf, next)])))?;
            let c2 = self.push(State::Bytes(Box::new([(0x80, 0xbf, c1)])))?;
            let c3 = self.push(State::Bytes(Box::new([(0x80, 0xbf, c2)])))?;
            ranges.push((0xc0, 0xdf, c1));
            ranges.push((0xe0, 0xef, c2));
            ranges.push((0xf0, 0xf7, c3));
        }
        self.push(State::Bytes(ranges.into_boxed_slice()))
    }
}

/// The fewest bytes `ast` can match (saturating).
fn min_len(ast: &Ast) -> u32 {
    match ast {
        Ast::Empty | Ast::Start | Ast::End => 0,
        Ast::Class(_) => 1,
        Ast::Literal(b) => b.len() as u32,
        Ast::Concat(items) => items.iter().fold(0u32, |n, a| n.saturating_add(min_len(a))),
        Ast::Alt(branches) => branches.iter().map(min_len).min().unwrap_or(0),
        Ast::Repeat { ast, min, .. } => min_len(ast).saturating_mul(*min),
        Ast::Group { ast, .. } => min_len(ast),
    }
}
