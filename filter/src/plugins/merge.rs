//! G1: the one merge of a request's plugin layers, a pure function. For a plugin of the same name the
//! higher layer replaces the lower one entirely (consumer > route > service > API); the result keeps one
//! slot per plugin and records the layer each came from. Nothing is written into the compiled config.

use std::fmt;

use super::{
    Consumer, KeyAuth, Layer, ProxyRewrite, ResponseRewrite, RouteLayers, KEY_AUTH, PROXY_REWRITE,
    RESPONSE_REWRITE,
};

/// The layer a merged plugin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// The API's own `plugins`.
    Api,
    /// The route's service.
    Service,
    /// The route.
    Route,
    /// The consumer `key-auth` identified.
    Consumer,
}

impl Origin {
    /// `api`, `service`, `route`, `consumer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Service => "service",
            Origin::Route => "route",
            Origin::Consumer => "consumer",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The merged plugins of one request: at most one of each, with its origin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Merged<'e> {
    /// `key-auth` (request phase, first).
    pub key_auth: Option<(&'e KeyAuth, Origin)>,
    /// `proxy-rewrite` (request phase, after `key-auth`).
    pub proxy_rewrite: Option<(&'e ProxyRewrite, Origin)>,
    /// `response-rewrite` (response phase).
    pub response_rewrite: Option<(&'e ResponseRewrite, Origin)>,
}

impl<'e> Merged<'e> {
    /// True when no plugin applies.
    pub fn is_empty(&self) -> bool {
        self.key_auth.is_none() && self.proxy_rewrite.is_none() && self.response_rewrite.is_none()
    }

    /// `(name, origin)` of each plugin, in phase order.
    pub fn list(&self) -> Vec<(&'static str, Origin)> {
        let mut out = Vec::new();
        if let Some((_, o)) = self.key_auth {
            out.push((KEY_AUTH, o));
        }
        if let Some((_, o)) = self.proxy_rewrite {
            out.push((PROXY_REWRITE, o));
        }
        if let Some((_, o)) = self.response_rewrite {
            out.push((RESPONSE_REWRITE, o));
        }
        out
    }

    /// `key-auth:route,proxy-rewrite:consumer` (filter state `routewise.plugins`), `-` when empty.
    pub fn summary(&self) -> String {
        let list = self.list();
        if list.is_empty() {
            return "-".into();
        }
        list.iter()
            .map(|(n, o)| format!("{n}:{o}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn overlay(&mut self, origin: Origin, layer: &'e Layer) {
        if let Some(p) = &layer.key_auth {
            self.key_auth = Some((p, origin));
        }
        if let Some(p) = &layer.proxy_rewrite {
            self.proxy_rewrite = Some((p, origin));
        }
        if let Some(p) = &layer.response_rewrite {
            self.response_rewrite = Some((p, origin));
        }
    }
}

/// Merges `layers`, lowest precedence first: a later layer's plugin replaces an earlier one of the same name.
pub fn merge<'e>(layers: &[(Origin, &'e Layer)]) -> Merged<'e> {
    let mut m = Merged::default();
    for (origin, layer) in layers {
        m.overlay(*origin, layer);
    }
    m
}

/// The layers of a route below the consumer: API < service < route.
pub fn merge_route(layers: &RouteLayers) -> Merged<'_> {
    let mut m = Merged::default();
    m.overlay(Origin::Api, &layers.api);
    if let Some(s) = &layers.service {
        m.overlay(Origin::Service, s);
    }
    m.overlay(Origin::Route, &layers.route);
    m
}

/// Adds the consumer's layer on top (after `key-auth` identified it).
pub fn merge_consumer<'e>(mut m: Merged<'e>, consumer: &'e Layer) -> Merged<'e> {
    m.overlay(Origin::Consumer, consumer);
    m
}

/// The merge result for explain (issue "CLI"): `(plugin, origin)` in phase order, for a route and optionally
/// the consumer a key identified.
pub fn explain(layers: &RouteLayers, consumer: Option<&Consumer>) -> Vec<(&'static str, &'static str)> {
    let mut m = merge_route(layers);
    if let Some(c) = consumer {
        m = merge_consumer(m, &c.plugins);
    }
    m.list().into_iter().map(|(n, o)| (n, o.as_str())).collect()
}
