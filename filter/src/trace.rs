//! Hooks through which the matching code reports every candidate it considers, for `explain` (E1).
//!
//! [`crate::engine::Engine::evaluate`] runs with [`NoTrace`], whose `ENABLED = false` makes every hook and
//! the work done only for it compile away. An `explain` implementation passes its own [`Trace`]; with
//! `ENABLED = true` the engine also evaluates candidates it would otherwise skip as already outranked, so
//! each one gets a verdict. Candidates that the indexes rule out without looking (another host, a base path
//! that is not a prefix) produce no event; an explanation lists them as "not a candidate".

/// Receives matching events.
pub trait Trace {
    /// When false, the engine skips every hook and prunes outranked candidates.
    const ENABLED: bool;
    /// One event.
    fn event(&mut self, event: TraceEvent<'_>);
}

/// The tracer of normal evaluation: does nothing, costs nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTrace;

impl Trace for NoTrace {
    const ENABLED: bool = false;
    #[inline(always)]
    fn event(&mut self, _event: TraceEvent<'_>) {}
}

/// Something the engine considered.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceEvent<'e> {
    /// Layer 1: the domain selected for the host, or none (D3).
    Domain {
        /// Canonical domain name, `None` when nothing matched.
        name: Option<&'e str>,
    },
    /// Layer 2: a routing rule that was a candidate (R2).
    Rule {
        /// Rule id.
        id: &'e str,
        /// Rule priority.
        priority: u32,
        /// What happened to it.
        verdict: Verdict,
    },
    /// Layer 2: the mapping with the longest matching base path (R9).
    Mapping {
        /// Mapping id.
        id: &'e str,
        /// Its base path.
        base_path: &'e str,
        /// [`Verdict::Selected`].
        verdict: Verdict,
    },
    /// Layer 3: a route path that matched the request path, under one host pattern (P5).
    Route {
        /// Route id.
        id: &'e str,
        /// The route path pattern, as written.
        path: String,
        /// The host pattern of the group being searched (`*` for host-less routes).
        host: &'e str,
        /// What happened to it.
        verdict: Verdict,
    },
}

/// A candidate's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Chosen.
    Selected,
    /// All its conditions hold, but a better-ranked candidate was chosen.
    Matched,
    /// A condition failed.
    Failed(Failed),
}

/// The condition that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Header condition number `n` (0-based) of a rule (R3-R5).
    Header(u8),
    /// The rule's base path (R6).
    BasePath,
    /// The route's methods (P1).
    Method,
    /// The route's `vars` (P1).
    Vars,
    /// The route's `remote_addrs` (P1).
    RemoteAddr,
    /// The route's hosts, checked as a filter by the `apisix_radixtree_uri` router (P6).
    Host,
}
