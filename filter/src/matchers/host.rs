//! Host patterns (D1, D2 for domains; P1 for route hosts) and [`HostIndex`].
//!
//! Exact hosts live in a hash map, wildcard suffixes in a radix trie over the reversed host (so the walk
//! meets every matching suffix, and the longest is found first), `*` in a list. Comparison is
//! case-insensitive; the request port matters only to patterns that name one.

use std::borrow::Cow;
use std::ops::ControlFlow;

use super::fx::FxHashMap;
use super::trie::ByteTrie;

/// A host pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// `api.example.com` or `api.example.com:8443`.
    Exact {
        /// Lowercase host, without port.
        host: Box<str>,
        /// The port, when the pattern names one.
        port: Option<u16>,
    },
    /// `*.example.com`: any host ending with `.example.com` (at any depth), not `example.com` itself.
    Suffix {
        /// Lowercase suffix including the leading dot: `.example.com`.
        suffix: Box<str>,
        /// The port, when the pattern names one.
        port: Option<u16>,
        /// lua-resty-radixtree's wildcard, for the APISIX routers (P6; [`HostPattern::parse_apisix`]): the
        /// host need only end with `suffix`, so `*.foo.com` takes `.foo.com` and `*foo.com` (`suffix`
        /// `foo.com`) takes `foo.com`. Otherwise at least one byte precedes the suffix.
        bare: bool,
    },
    /// `*`: any host (domains only).
    Any,
}

/// How specific a host match is, most specific first (D3, P5 step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostRank {
    /// An exact host.
    Exact,
    /// A wildcard suffix of this many bytes (longer is more specific).
    Suffix(std::cmp::Reverse<usize>),
    /// `*` or no host restriction.
    Any,
}

impl HostPattern {
    /// Parses a pattern. `allow_any` admits `*` (domain names); route hosts use an absent list instead.
    pub fn parse(text: &str, allow_any: bool) -> Result<HostPattern, String> {
        if text == "*" {
            return if allow_any {
                Ok(HostPattern::Any)
            } else {
                Err("`*` is not a host; leave `hosts` out to match any host".into())
            };
        }
        let lower = text.to_ascii_lowercase();
        let (host, port) = split_pattern_port(&lower)?;
        if let Some(rest) = host.strip_prefix("*.") {
            check_hostname(rest)?;
            return Ok(HostPattern::Suffix {
                suffix: format!(".{rest}").into(),
                port,
                bare: false,
            });
        }
        if host.contains('*') {
            return Err("`*` is allowed only as `*` alone or as the leading label (`*.example.com`)".into());
        }
        if !(host.starts_with('[') && host.ends_with(']')) {
            check_hostname(host)?;
        } else if host
            .get(1..host.len() - 1)
            .and_then(|h| h.parse::<std::net::Ipv6Addr>().ok())
            .is_none()
        {
            return Err("not an IPv6 address in brackets".into());
        }
        Ok(HostPattern::Exact {
            host: host.into(),
            port,
        })
    }

    /// A route host under an APISIX router (P6), as APISIX accepts and lua-resty-radixtree matches it:
    /// a leading `*` makes the rest a plain suffix (`has_suffix` in `lib/resty/radixtree.lua`, and the
    /// reversed-host prefix of APISIX's `radixtree_host_uri`), so `*.foo.com` matches `.foo.com` and any
    /// depth of subdomain, and `*foo.com` (APISIX's `host_def` admits it) matches `foo.com` and
    /// `xfoo.com`. Exact hosts are parsed as by [`HostPattern::parse`]; `*` alone is refused.
    pub fn parse_apisix(text: &str) -> Result<HostPattern, String> {
        if !text.starts_with('*') || text == "*" {
            return HostPattern::parse(text, false);
        }
        let lower = text.to_ascii_lowercase();
        let (host, port) = split_pattern_port(&lower)?;
        let rest = host.get(1..).unwrap_or_default();
        if rest.contains('*') {
            return Err(
                "`*` is allowed only as the first character (`*.example.com`, `*example.com`)".into(),
            );
        }
        check_hostname(rest.strip_prefix('.').unwrap_or(rest))?;
        Ok(HostPattern::Suffix {
            suffix: rest.into(),
            port,
            bare: true,
        })
    }

    /// True when the (lowercase, port-less) `host` with `port` matches.
    pub fn matches(&self, host: &str, port: Option<u16>) -> bool {
        let port_ok = |p: &Option<u16>| p.is_none() || *p == port;
        match self {
            HostPattern::Exact { host: h, port: p } => port_ok(p) && **h == *host,
            HostPattern::Suffix {
                suffix,
                port: p,
                bare,
            } => port_ok(p) && (*bare || host.len() > suffix.len()) && host.ends_with(&**suffix),
            HostPattern::Any => true,
        }
    }

    /// Specificity rank of this pattern.
    pub fn rank(&self) -> HostRank {
        match self {
            HostPattern::Exact { .. } => HostRank::Exact,
            HostPattern::Suffix { suffix, .. } => HostRank::Suffix(std::cmp::Reverse(suffix.len())),
            HostPattern::Any => HostRank::Any,
        }
    }

    /// The pattern in canonical spelling (lowercase).
    pub fn canonical(&self) -> String {
        let with_port = |s: String, p: &Option<u16>| match p {
            Some(p) => format!("{s}:{p}"),
            None => s,
        };
        match self {
            HostPattern::Exact { host, port } => with_port(host.to_string(), port),
            HostPattern::Suffix { suffix, port, .. } => with_port(format!("*{suffix}"), port),
            HostPattern::Any => "*".into(),
        }
    }
}

fn split_pattern_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = split_authority_raw(s);
    match port {
        None => Ok((host, None)),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('+') => Ok((host, Some(n))),
            _ => Err(format!("port `{p}` is not a number in 1..=65535")),
        },
    }
}

/// Hostname syntax: dot-separated labels of letters, digits, `-` and `_`, each 1..=63 bytes, not starting
/// or ending with `-`; 253 bytes at most.
fn check_hostname(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("empty host name".into());
    }
    if h.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    if h.ends_with('.') {
        return Err("remove the trailing dot".into());
    }
    for label in h.split('.') {
        if label.is_empty() {
            return Err("empty label (`..`)".into());
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with `-`".into());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!("character `{c}` is not allowed in a host name"));
        }
    }
    Ok(())
}

/// Splits `host:port` (and `[v6]:port`) without validating the port.
fn split_authority_raw(a: &str) -> (&str, Option<&str>) {
    if a.starts_with('[') {
        return match a.find(']') {
            Some(end) => {
                let host = a.get(..=end).unwrap_or(a);
                let rest = a.get(end + 1..).unwrap_or_default();
                (host, rest.strip_prefix(':'))
            }
            None => (a, None),
        };
    }
    match a.rfind(':') {
        // More than one colon without brackets: an IPv6 literal, no port.
        Some(i) if a.find(':') == Some(i) => (a.get(..i).unwrap_or(a), a.get(i + 1..)),
        _ => (a, None),
    }
}

/// Splits a request authority into its host and numeric port (an unparsable port counts as none), and
/// lowercases the host, allocating only when it has uppercase letters (D2).
pub fn split_authority(authority: &str) -> (Cow<'_, str>, Option<u16>) {
    let (host, port) = split_authority_raw(authority);
    let port = port.and_then(|p| p.parse::<u16>().ok());
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    (host, port)
}

/// Host patterns mapped to items, answering in specificity order (D3, P5 step 1).
#[derive(Debug)]
pub struct HostIndex<T> {
    exact: FxHashMap<Box<str>, Vec<(Option<u16>, T)>>,
    /// (port, bare, item): `bare` as in [`HostPattern::Suffix`].
    suffix: ByteTrie<(Option<u16>, bool, T)>,
    any: Vec<T>,
}

impl<T> Default for HostIndex<T> {
    fn default() -> Self {
        HostIndex {
            exact: FxHashMap::default(),
            suffix: ByteTrie::new(),
            any: Vec::new(),
        }
    }
}

impl<T: Copy> HostIndex<T> {
    /// Adds a pattern.
    pub fn insert(&mut self, pattern: &HostPattern, item: T) {
        // Port-specific patterns first within one host or suffix: they are more specific.
        match pattern {
            HostPattern::Exact { host, port } => {
                let v = self.exact.entry(host.clone()).or_default();
                let pos = v.partition_point(|(p, _)| p.is_some() || port.is_none());
                v.insert(pos, (*port, item));
            }
            HostPattern::Suffix { suffix, port, bare } => {
                let rev: Vec<u8> = suffix.bytes().rev().collect();
                self.suffix
                    .insert_sorted_by_key(&rev, (*port, *bare, item), |(p, _, _)| p.is_none());
            }
            HostPattern::Any => self.any.push(item),
        }
    }

    /// Calls `f` with the items whose pattern matches, most specific first: exact (port-specific before
    /// port-less), then wildcard suffixes longest first (port-specific first at equal length), then `*`.
    /// `host` is lowercase, without port.
    pub fn for_each_match(
        &self,
        host: &str,
        port: Option<u16>,
        mut f: impl FnMut(T) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let port_ok = |p: &Option<u16>| p.is_none() || *p == port;
        if let Some(items) = self.exact.get(host) {
            for (p, item) in items {
                if port_ok(p) {
                    f(*item)?;
                }
            }
        }
        if !self.suffix.is_empty() {
            self.suffix
                .for_each_prefix_longest_first(host.bytes().rev(), |(p, bare, item), len| {
                    // `*.example.com` needs at least one byte before the suffix, unless it is a
                    // lua-resty-radixtree wildcard (P6).
                    if (*bare || host.len() > len) && port_ok(p) {
                        f(*item)?;
                    }
                    ControlFlow::Continue(())
                })?;
        }
        for &item in &self.any {
            f(item)?;
        }
        ControlFlow::Continue(())
    }

    /// The most specific match.
    pub fn first_match(&self, host: &str, port: Option<u16>) -> Option<T> {
        let mut found = None;
        let _ = self.for_each_match(host, port, |t| {
            found = Some(t);
            ControlFlow::Break(())
        });
        found
    }

    /// Number of patterns in each bucket: exact, suffix, any.
    pub fn stats(&self) -> [usize; 3] {
        [
            self.exact.values().map(Vec::len).sum(),
            self.suffix.len(),
            self.any.len(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s, true).expect("valid pattern")
    }

    #[test]
    fn d1_wildcard_matches_subdomains_at_any_depth_but_not_the_apex() {
        let w = p("*.example.com");
        assert!(w.matches("a.example.com", None));
        assert!(w.matches("a.b.example.com", None));
        assert!(!w.matches("example.com", None));
        assert!(!w.matches("xexample.com", None));
        assert!(p("*").matches("anything", Some(1)));
    }

    #[test]
    fn d2_case_insensitive_and_port_ignored_unless_named() {
        let (h, port) = split_authority("API.Example.COM:8443");
        assert_eq!((&*h, port), ("api.example.com", Some(8443)));
        assert!(p("Api.Example.com").matches(&h, port));
        assert!(p("api.example.com:8443").matches(&h, port));
        assert!(!p("api.example.com:443").matches(&h, port));
        assert!(!p("api.example.com:8443").matches("api.example.com", None));
        let (h6, port6) = split_authority("[::1]:80");
        assert_eq!((&*h6, port6), ("[::1]", Some(80)));
        assert_eq!(split_authority("::1").0, "::1");
    }

    #[test]
    fn d3_exact_beats_longest_wildcard_beats_any() {
        let mut idx = HostIndex::default();
        for (i, s) in [
            "*",
            "*.example.com",
            "*.b.example.com",
            "a.b.example.com",
            "a.b.example.com:8443",
        ]
        .iter()
        .enumerate()
        {
            idx.insert(&p(s), i);
        }
        let order = |host: &str, port| {
            let mut v = Vec::new();
            let _ = idx.for_each_match(host, port, |i| {
                v.push(i);
                ControlFlow::Continue(())
            });
            v
        };
        assert_eq!(order("a.b.example.com", Some(8443)), [4, 3, 2, 1, 0]);
        assert_eq!(order("a.b.example.com", None), [3, 2, 1, 0]);
        assert_eq!(order("x.b.example.com", None), [2, 1, 0]);
        assert_eq!(order("b.example.com", None), [1, 0]);
        assert_eq!(order("example.com", None), [0]);
        assert_eq!(idx.first_match("zzz", None), Some(0));
    }

    #[test]
    fn p6_apisix_wildcards_are_plain_suffixes() {
        // lua-resty-radixtree t/host.t TEST 2 (api7/lua-resty-radixtree @ 8166eea3): `*.foo.com` takes
        // `.foo.com`, `www.foo.com`, `www.bar.foo.com`, not `foo.com`; APISIX's host_def admits `*foo.com`.
        let dot = HostPattern::parse_apisix("*.Foo.com").expect("valid");
        let bare = HostPattern::parse_apisix("*foo.com").expect("valid");
        for (host, want_dot, want_bare) in [
            ("foo.com", false, true),
            (".foo.com", true, true),
            ("www.foo.com", true, true),
            ("www.bar.foo.com", true, true),
            ("xfoo.com", false, true),
            ("foo.org", false, false),
        ] {
            assert_eq!(dot.matches(host, None), want_dot, "*.foo.com {host}");
            assert_eq!(bare.matches(host, None), want_bare, "*foo.com {host}");
            let mut idx = HostIndex::default();
            idx.insert(&dot, 0);
            idx.insert(&bare, 1);
            let mut got = Vec::new();
            let _ = idx.for_each_match(host, None, |i| {
                got.push(i);
                ControlFlow::Continue(())
            });
            let want: Vec<i32> = [(want_dot, 0), (want_bare, 1)]
                .iter()
                .filter(|(w, _)| *w)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(got, want, "index, longest suffix first: {host}");
        }
        assert_eq!(dot.canonical(), "*.foo.com");
        assert_eq!(bare.canonical(), "*foo.com");
        for bad in ["*", "*.", "*a*b.com", "*.a..b", "a*b.com"] {
            assert!(HostPattern::parse_apisix(bad).is_err(), "{bad:?}");
        }
        // D1 keeps its rule for domains and the `specificity` router.
        assert!(!p("*.foo.com").matches(".foo.com", None));
        assert!(HostPattern::parse("*foo.com", false).is_err());
    }

    #[test]
    fn invalid_host_patterns_are_rejected() {
        for bad in [
            "", "a..b", "a.*.com", "*a.com", "a b", "a.com.", "a.com:0", "a.com:x", "-a.com", "*.",
        ] {
            assert!(HostPattern::parse(bad, true).is_err(), "{bad:?}");
        }
        assert!(HostPattern::parse("*", false).is_err());
        assert!(HostPattern::parse("[::1]:8080", false).is_ok());
        assert!(HostPattern::parse("127.0.0.1", false).is_ok());
    }
}
