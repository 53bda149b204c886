//! Every name the filter shows to Envoy in one place: headers it reads and writes, filter-state properties
//! (R11), metric names (Envoy prints them as `wasmcustom.<name>`), outcomes and local-reply bodies.

/// Request headers the adapter reads.
pub mod header {
    /// HTTP/2 pseudo-header with the method.
    pub const METHOD: &str = ":method";
    /// HTTP/2 pseudo-header with the authority.
    pub const AUTHORITY: &str = ":authority";
    /// Fallback for the authority.
    pub const HOST: &str = "host";
    /// HTTP/2 pseudo-header with the path and query.
    pub const PATH: &str = ":path";
    /// Content type of local replies.
    pub const CONTENT_TYPE: &str = "content-type";
    /// Value of [`CONTENT_TYPE`] for local replies.
    pub const JSON: &str = "application/json";
    /// The default cluster header (`cluster_header` in the config).
    pub const DEFAULT_CLUSTER: &str = crate::config::DEFAULT_CLUSTER_HEADER;
}

/// Filter-state keys, set with `set_property` as single-segment paths; Envoy stores them as `wasm.<key>`,
/// printed in access logs with `%FILTER_STATE(wasm.routewise.rule_id:PLAIN)%` (proxy-wasm-host.md §3.1).
pub mod property {
    /// Domain name that matched (D*).
    pub const DOMAIN: &str = "routewise.domain";
    /// Routing rule id, or [`NONE`] (R11, API Gateway's `routingRuleIdMatched`).
    pub const RULE_ID: &str = "routewise.rule_id";
    /// API mapping id, or [`NONE`] (R11, API Gateway's `basePathMatched`).
    pub const MAPPING_ID: &str = "routewise.mapping_id";
    /// API id.
    pub const API: &str = "routewise.api";
    /// Stage name.
    pub const STAGE: &str = "routewise.stage";
    /// Route id (P4).
    pub const ROUTE_ID: &str = "routewise.route_id";
    /// Route key of the matched path (`GET /pets/{id}`).
    pub const ROUTE_KEY: &str = "routewise.route_key";
    /// Path parameters as a compact JSON object.
    pub const PATH_PARAMS: &str = "routewise.path_params";
    /// One of [`super::outcome`].
    pub const OUTCOME: &str = "routewise.outcome";
    /// The consumer `key-auth` identified, or [`NONE`] (G2; never the key).
    pub const CONSUMER: &str = "routewise.consumer";
    /// The merged plugins with their origins, `key-auth:route,proxy-rewrite:consumer`, or [`NONE`] (G1).
    pub const PLUGINS: &str = "routewise.plugins";
    /// Value of an id property when nothing was used.
    pub const NONE: &str = "-";
    /// Envoy attribute with the client address (`ip:port`).
    pub const SOURCE_ADDRESS: [&str; 2] = ["source", "address"];
    /// Envoy attribute with the request's protocol (`HTTP/1.1`, `HTTP/2`), for Lambda events.
    pub const REQUEST_PROTOCOL: [&str; 2] = ["request", "protocol"];
    /// Lambda integrations: how the invocation ended, [`crate::lambda::Outcome::as_str`].
    pub const LAMBDA_OUTCOME: &str = "routewise.lambda_outcome";
    /// Lambda integrations: the Invoke API's status, when it answered.
    pub const LAMBDA_STATUS: &str = "routewise.lambda_status";
    /// Lambda integrations: why the answer is not the function's own (U15, never sent to the client).
    pub const LAMBDA_REASON: &str = "routewise.lambda_reason";

    /// Every filter-state key the filter writes, in the order of the config's `filter_state` names
    /// ([`StateKeys`]).
    pub const ALL_KEYS: [&str; 14] = [
        DOMAIN,
        RULE_ID,
        MAPPING_ID,
        API,
        STAGE,
        ROUTE_ID,
        ROUTE_KEY,
        PATH_PARAMS,
        OUTCOME,
        CONSUMER,
        PLUGINS,
        LAMBDA_OUTCOME,
        LAMBDA_STATUS,
        LAMBDA_REASON,
    ];

    /// Keys written whatever the config's `filter_state` says: R11 exposes the rule and the mapping used.
    pub const ALWAYS: [&str; 2] = [RULE_ID, MAPPING_ID];

    /// Which filter-state keys a configuration writes (its `filter_state`): a bit per entry of
    /// [`ALL_KEYS`]. Each write is a host call that makes Envoy allocate and index an object per request
    /// (≈ 0.6 µs each in the dynamic module, bench/README "Filter state"), so a config whose access log
    /// reads only some keys can skip the others.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct StateKeys(u16);

    impl StateKeys {
        /// Every key (the default).
        pub const ALL: StateKeys = StateKeys((1 << ALL_KEYS.len()) - 1);

        /// The keys named (short names: `rule_id`, or full ones: `routewise.rule_id`) plus [`ALWAYS`];
        /// `Err(i)` names the first unknown entry.
        pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<StateKeys, usize> {
            let mut bits = 0u16;
            for key in ALWAYS {
                bits |= StateKeys::bit(key);
            }
            for (i, name) in names.iter().enumerate() {
                let name = name.as_ref();
                let full = ALL_KEYS
                    .iter()
                    .find(|k| **k == name || k.strip_prefix("routewise.") == Some(name))
                    .ok_or(i)?;
                bits |= StateKeys::bit(full);
            }
            Ok(StateKeys(bits))
        }

        fn bit(key: &str) -> u16 {
            ALL_KEYS.iter().position(|k| *k == key).map_or(0, |i| 1 << i)
        }

        /// Whether `key` (one of [`ALL_KEYS`]) is written. A key outside the list is always written.
        pub fn allows(self, key: &str) -> bool {
            // The default writes every key: no lookup per write on the hot path.
            if self == StateKeys::ALL {
                return true;
            }
            match ALL_KEYS.iter().position(|k| *k == key) {
                Some(i) => self.0 & (1 << i) != 0,
                None => true,
            }
        }
    }

    impl Default for StateKeys {
        fn default() -> StateKeys {
            StateKeys::ALL
        }
    }
}

/// How a request ended, as filter state and in `routewise.requests.<outcome>`.
pub mod outcome {
    /// Sent to a cluster.
    pub const FORWARDED: &str = "forwarded";
    /// No domain matched the host (D3).
    pub const NO_DOMAIN: &str = "no_domain";
    /// No rule or mapping selected an API (R10).
    pub const NO_API: &str = "no_api";
    /// No route of the API matched (P8).
    pub const NO_ROUTE: &str = "no_route";
    /// A host call failed; answered 500.
    pub const INTERNAL_ERROR: &str = "internal_error";
    /// `key-auth` found no key, or a key of no consumer (G2); answered 401.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// A method a Lambda integration cannot serve (`CONNECT`); answered 405.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// Every outcome, in counter-slot order.
    pub const ALL: [&str; 7] = [
        FORWARDED,
        NO_DOMAIN,
        NO_API,
        NO_ROUTE,
        INTERNAL_ERROR,
        UNAUTHORIZED,
        METHOD_NOT_ALLOWED,
    ];
}

/// Local-reply bodies.
pub mod body {
    /// D3, P8.
    pub const NOT_FOUND: &str = r#"{"message":"Not Found"}"#;
    /// R10 (API Gateway's documented answer).
    pub const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;
    /// G2: `key-auth` rejected the request.
    pub const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
    /// A failure inside the filter.
    pub const INTERNAL_ERROR: &str = r#"{"message":"Internal Server Error"}"#;
    /// `CONNECT` to a Lambda integration.
    pub const METHOD_NOT_ALLOWED: &str = r#"{"message":"Method Not Allowed"}"#;
}

/// Envoy foreign function that makes the router re-resolve the route after the cluster header changed
/// (Envoy ≥ 1.33; proxy-wasm-host.md §3.2).
pub const CLEAR_ROUTE_CACHE: &str = "clear_route_cache";

/// Metric names. Ids are sanitised to `[A-Za-z0-9_-]` so a name is always one stat path segment.
pub mod metric {
    /// `routewise.requests.<outcome>`.
    pub fn requests(outcome: &str) -> String {
        format!("routewise.requests.{}", sanitize(outcome))
    }

    /// `routewise.rule.<rule_id>.hits`.
    pub fn rule_hits(rule_id: &str) -> String {
        format!("routewise.rule.{}.hits", sanitize(rule_id))
    }

    /// `routewise.route.<api>.<route_id>.hits`.
    pub fn route_hits(api: &str, route_id: &str) -> String {
        format!("routewise.route.{}.{}.hits", sanitize(api), sanitize(route_id))
    }

    /// `routewise.mapping.<mapping_id>.hits`.
    pub fn mapping_hits(mapping_id: &str) -> String {
        format!("routewise.mapping.{}.hits", sanitize(mapping_id))
    }

    /// `routewise.lambda.<outcome>`, one per [`crate::lambda::Outcome`].
    pub fn lambda(outcome: &str) -> String {
        format!("routewise.lambda.{}", sanitize(outcome))
    }

    /// Replaces every character outside `[A-Za-z0-9_-]` with `_` (an empty id becomes `_`).
    pub fn sanitize(id: &str) -> String {
        if id.is_empty() {
            return "_".into();
        }
        id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Standard reason phrase of an HTTP status, for the configurable R10 reply (`{"message":"<phrase>"}`).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_sanitised() {
        assert_eq!(metric::rule_hits("a.b/c d"), "routewise.rule.a_b_c_d.hits");
        assert_eq!(
            metric::route_hits("pets", "GET /x"),
            "routewise.route.pets.GET__x.hits"
        );
        assert_eq!(
            metric::mapping_hits("orders/v2"),
            "routewise.mapping.orders_v2.hits"
        );
        assert_eq!(metric::mapping_hits(""), "routewise.mapping._.hits");
        assert_eq!(metric::requests(outcome::NO_API), "routewise.requests.no_api");
        assert_eq!(metric::lambda("too_large"), "routewise.lambda.too_large");
    }
}
