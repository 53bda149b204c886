//! The filter's counters, numbered densely so that an adapter can cache one metric handle per id: every
//! name is known at configure time ([`Counters::names`]), which the dynamic module needs (Envoy freezes
//! metric definitions once `config_new` returns), while the proxy-wasm build defines each on first use.
//!
//! Layout: the request outcomes ([`outcome::ALL`]), the Lambda outcomes ([`Outcome::ALL`]), then one counter
//! per rule, mapping and route slot ([`crate::decision::CounterSlots`]).

use crate::budget::Budget;
use crate::engine::Engine;
use crate::lambda::Outcome;
use crate::names::{metric, outcome};

/// A counter of one configuration: an index into [`Counters::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterId(pub u32);

impl CounterId {
    /// The index, for adapters' tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The counter layout of one configuration, with the names of the per-id counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Rule, mapping and route names, by slot, in that order (formatted once, at configure time).
    per_id: Vec<String>,
    rules: u32,
    mappings: u32,
}

/// Counter names formatted per unit of work (≈ 0.24 µs each natively).
const NAMES_PER_UNIT: usize = 4;

/// Counts one more name, and a unit of `budget` every [`NAMES_PER_UNIT`].
async fn paid(named: &mut usize, budget: &Budget) {
    *named += 1;
    if named.is_multiple_of(NAMES_PER_UNIT) {
        budget.spend(1).await;
    }
}

const OUTCOMES: u32 = outcome::ALL.len() as u32;
const LAMBDA: u32 = Outcome::ALL.len() as u32;
const FIXED: u32 = OUTCOMES + LAMBDA;

impl Counters {
    /// The counters of `engine`'s configuration.
    pub fn new(engine: &Engine) -> Counters {
        let budget = Budget::unlimited();
        crate::budget::block_on(Counters::new_in(engine, &budget), &budget)
    }

    /// Drops the counters in slices of `budget` ([`crate::budget`]).
    pub(crate) async fn drop_in(self, budget: &Budget) {
        crate::budget::drop_all(self.per_id, budget).await;
    }

    /// [`Counters::new`] in slices of `budget` ([`crate::budget`]): one unit per [`NAMES_PER_UNIT`] names.
    pub(crate) async fn new_in(engine: &Engine, budget: &Budget) -> Counters {
        let mut rules = vec![String::new(); engine.rule_count()];
        let mut mappings = vec![String::new(); engine.mapping_count()];
        let mut routes = vec![String::new(); engine.route_count()];
        let mut named = 0usize;
        for d in engine.domains() {
            for r in d.rules.rules() {
                paid(&mut named, budget).await;
                if let Some(slot) = rules.get_mut(r.slot as usize) {
                    *slot = metric::rule_hits(&r.id);
                }
            }
            for m in d.mappings.mappings() {
                paid(&mut named, budget).await;
                if let Some(slot) = mappings.get_mut(m.slot as usize) {
                    *slot = metric::mapping_hits(&m.id);
                }
            }
        }
        for a in engine.apis() {
            for r in a.routes.routes() {
                paid(&mut named, budget).await;
                if let Some(slot) = routes.get_mut(r.slot as usize) {
                    *slot = metric::route_hits(&a.id, &r.id);
                }
            }
        }
        let (n_rules, n_mappings) = (rules.len() as u32, mappings.len() as u32);
        let mut per_id = rules;
        per_id.append(&mut mappings);
        per_id.append(&mut routes);
        Counters {
            per_id,
            rules: n_rules,
            mappings: n_mappings,
        }
    }

    /// How many counters there are.
    pub fn len(&self) -> usize {
        FIXED as usize + self.per_id.len()
    }

    /// Never: the outcome counters always exist.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The name of counter `id` (`routewise.requests.forwarded`, `routewise.rule.<id>.hits`); the
    /// proxy-wasm build shows it as `wasmcustom.<name>`, the dynamic module under its metrics namespace.
    pub fn name(&self, id: CounterId) -> String {
        let i = id.0;
        if i < OUTCOMES {
            return metric::requests(outcome::ALL.get(i as usize).copied().unwrap_or_default());
        }
        if i < FIXED {
            let o = Outcome::ALL
                .get((i - OUTCOMES) as usize)
                .copied()
                .unwrap_or_default();
            return metric::lambda(o.as_str());
        }
        self.per_id.get((i - FIXED) as usize).cloned().unwrap_or_default()
    }

    /// Every counter's name, by id.
    pub fn names(&self) -> impl Iterator<Item = (CounterId, String)> + '_ {
        (0..self.len() as u32).map(|i| (CounterId(i), self.name(CounterId(i))))
    }

    /// `routewise.requests.<outcome>` (`outcome` one of [`outcome::ALL`]; anything else counts as
    /// `internal_error`).
    pub fn outcome(&self, name: &str) -> CounterId {
        let i = outcome::ALL
            .iter()
            .position(|o| *o == name)
            .or_else(|| outcome::ALL.iter().position(|o| *o == outcome::INTERNAL_ERROR))
            .unwrap_or(0);
        CounterId(i as u32)
    }

    /// `routewise.lambda.<outcome>`.
    pub fn lambda(&self, o: Outcome) -> CounterId {
        CounterId(OUTCOMES + o.index() as u32)
    }

    /// `routewise.rule.<id>.hits` of rule slot `slot`.
    pub fn rule(&self, slot: u32) -> CounterId {
        CounterId(FIXED + slot)
    }

    /// `routewise.mapping.<id>.hits` of mapping slot `slot`.
    pub fn mapping(&self, slot: u32) -> CounterId {
        CounterId(FIXED + self.rules + slot)
    }

    /// `routewise.route.<api>.<id>.hits` of route slot `slot`.
    pub fn route(&self, slot: u32) -> CounterId {
        CounterId(FIXED + self.rules + self.mappings + slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_a_distinct_id_and_its_name() {
        let engine = Engine::from_json(
            r#"{"domains": [{"name": "*", "routing_mode": "ROUTING_RULE_THEN_API_MAPPING", "routing_rules": [
                  {"id": "r1", "priority": 1, "conditions": {"base_path": "a"},
                   "action": {"invoke_api": {"api": "x", "stage": "s"}}}],
                "api_mappings": [{"id": "m1", "base_path": "m", "api": "x", "stage": "s"}]}],
                "apis": [{"id": "x", "stages": {"s": {"integration": {"type": "http", "cluster": "c"}}},
                          "routes": [{"id": "ro", "key": "GET /p"}]}]}"#,
        )
        .expect("valid");
        let c = Counters::new(&engine);
        // 7 request outcomes, 13 Lambda outcomes (accepted and invocation_mismatch since invocation_type),
        // then rule r1, mapping m1 and route ro.
        assert_eq!(c.len(), 7 + 13 + 3);
        assert_eq!(c.name(c.outcome("no_route")), "routewise.requests.no_route");
        assert_eq!(c.name(c.outcome("bogus")), "routewise.requests.internal_error");
        assert_eq!(c.name(c.lambda(Outcome::Throttled)), "routewise.lambda.throttled");
        assert_eq!(c.name(c.rule(0)), "routewise.rule.r1.hits");
        assert_eq!(c.name(c.mapping(0)), "routewise.mapping.m1.hits");
        assert_eq!(c.name(c.route(0)), "routewise.route.x.ro.hits");
        let names: Vec<_> = c.names().collect();
        assert_eq!(names.len(), c.len());
        assert!(names.iter().all(|(_, n)| n.starts_with("routewise.")));
        assert_eq!(c.name(CounterId(999)), "");
    }
}
