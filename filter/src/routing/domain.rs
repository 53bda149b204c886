//! Layer 1 (D1-D3) and the per-domain choice between routing rules and API mappings (R8).

use crate::config::RoutingMode;
use crate::request::RequestCtx;
use crate::trace::{Trace, TraceEvent, Verdict};

use super::mappings::{Mapping, MappingSet};
use super::rules::{Rule, RuleSet, Target};

/// A compiled domain.
#[derive(Debug)]
pub struct Domain {
    /// Canonical (lowercase) name pattern.
    pub name: Box<str>,
    /// R8.
    pub mode: RoutingMode,
    /// Routing rules (empty in `API_MAPPING_ONLY`).
    pub rules: RuleSet,
    /// API mappings (empty in `ROUTING_RULE_ONLY`).
    pub mappings: MappingSet,
    /// R10 status.
    pub no_match_status: u16,
    /// R10 body: `{"message":"<reason phrase>"}`.
    pub no_match_body: Box<str>,
}

/// What layer 2 selected.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'d> {
    /// The rule, when a rule matched.
    pub rule: Option<&'d Rule>,
    /// The mapping, when a mapping matched.
    pub mapping: Option<&'d Mapping>,
    /// The API stage.
    pub target: Target,
    /// Base path to strip (empty: nothing to strip).
    pub strip: &'d str,
}

impl Domain {
    /// R8: rules first (unless `API_MAPPING_ONLY`), then mappings (unless `ROUTING_RULE_ONLY`).
    pub fn select<T: Trace>(&self, ctx: &RequestCtx<'_>, trace: &mut T) -> Option<Selection<'_>> {
        if self.mode != RoutingMode::ApiMappingOnly {
            if let Some(rule) = self.rules.select(ctx, trace) {
                let strip = match (&rule.base_path, rule.target.strip_base_path) {
                    (Some(b), true) => &**b,
                    _ => "",
                };
                return Some(Selection {
                    rule: Some(rule),
                    mapping: None,
                    target: rule.target,
                    strip,
                });
            }
        }
        if self.mode != RoutingMode::RoutingRuleOnly {
            if let Some(m) = self.mappings.select(ctx.path) {
                if T::ENABLED {
                    trace.event(TraceEvent::Mapping {
                        id: &m.id,
                        base_path: &m.base_path,
                        verdict: Verdict::Selected,
                    });
                }
                return Some(Selection {
                    rule: None,
                    mapping: Some(m),
                    target: m.target,
                    strip: &m.base_path,
                });
            }
        }
        None
    }
}
