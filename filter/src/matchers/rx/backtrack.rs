//! The capture search for short haystacks: a backtracker that remembers every (state, position) it has
//! tried, so it never tries one twice. That bounds it like the Pike VM (NFA states × bytes steps) with a far
//! smaller cost per step, at one bit of memory per (state, position); used only when those bits fit in
//! [`MAX_VISITED_BITS`], as Rust's `regex` does with its bounded backtracker.

use super::nfa::{Nfa, State, StateId};

/// Most (state, position) bits of one search: 256 KiB.
pub(super) const MAX_VISITED_BITS: usize = 256 * 1024 * 8;
/// Most frames on the backtracking stack (16 bytes each: 1 MiB): a pattern with many groups in a loop
/// leaves a restore frame per group per iteration; past this the search is left to the Pike VM.
const MAX_FRAMES: usize = 64 * 1024;

enum Frame {
    Step(StateId, usize),
    Restore(u32, u32),
}

/// Whether a search of `hay` fits the visited-set budget.
pub(super) fn fits(nfa: &Nfa, hay: &[u8]) -> bool {
    nfa.states.len().saturating_mul(hay.len() + 1) <= MAX_VISITED_BITS
}

/// The slots of the leftmost-first match (`Ok(None)`: no match), like [`super::pikevm::captures`]; call only
/// when [`fits`]. `Err(())` when the stack would pass [`MAX_FRAMES`].
pub(super) fn captures(nfa: &Nfa, hay: &[u8]) -> Result<Option<Vec<u32>>, ()> {
    let width = nfa.slots as usize;
    let stride = hay.len() + 1;
    let mut visited = vec![0u64; (nfa.states.len() * stride).div_ceil(64)];
    let mut slots = vec![u32::MAX; width];
    let mut stack: Vec<Frame> = Vec::new();
    for start in 0..=hay.len() {
        stack.push(Frame::Step(nfa.start, start));
        while let Some(frame) = stack.pop() {
            let (mut id, mut at) = match frame {
                Frame::Step(id, at) => (id, at),
                Frame::Restore(slot, v) => {
                    if let Some(s) = slots.get_mut(slot as usize) {
                        *s = v;
                    }
                    continue;
                }
            };
            // Follow one path as far as it goes, leaving the alternatives on the stack in priority order.
            loop {
                let bit = id as usize * stride + at;
                match visited.get_mut(bit / 64) {
                    Some(w) if *w & (1 << (bit % 64)) == 0 => *w |= 1 << (bit % 64),
                    _ => break,
                }
                match nfa.state(id) {
                    State::Match => return Ok(Some(slots)),
                    State::Bytes(ranges) => {
                        let Some(&b) = hay.get(at) else { break };
                        match ranges.iter().find(|&&(lo, hi, _)| lo <= b && b <= hi) {
                            Some(&(_, _, next)) => {
                                id = next;
                                at += 1;
                            }
                            None => break,
                        }
                    }
                    State::Split(a, b) => {
                        if stack.len() >= MAX_FRAMES {
                            return Err(());
                        }
                        stack.push(Frame::Step(*b, at));
                        id = *a;
                    }
                    State::Save(slot, next) => {
                        if stack.len() >= MAX_FRAMES {
                            return Err(());
                        }
                        if let Some(s) = slots.get_mut(*slot as usize) {
                            stack.push(Frame::Restore(*slot, *s));
                            *s = at as u32;
                        }
                        id = *next;
                    }
                    State::Start(next) => {
                        if at != 0 {
                            break;
                        }
                        id = *next;
                    }
                    State::End(next) => {
                        if at != hay.len() {
                            break;
                        }
                        id = *next;
                    }
                }
            }
        }
    }
    Ok(None)
}
