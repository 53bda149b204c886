//! [`RequestView`]: what the engine needs to know about a request, borrowed from what Envoy handed the
//! filter; and the per-evaluation context derived from it once (path without query, lowercase host, port).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use crate::matchers::addr::parse_remote_addr;
use crate::matchers::host::split_authority;
use crate::matchers::path::split_query;
use crate::matchers::vars::{Var, VarSource};

/// A request as the engine sees it. Nothing is copied: every field borrows from the caller.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:authority` (or `host`), possibly with a port.
    pub authority: &'a str,
    /// `:path`, with its query string, after Envoy's normalisation (P9).
    pub path: &'a str,
    /// Request headers with lowercase names, repeated lines kept as separate entries (R4), as Envoy gives
    /// them. Pseudo-headers may be included; they are never matched.
    pub headers: &'a [(String, String)],
    /// Envoy's `source.address`: `ip:port`, `[v6]:port` or a bare address.
    pub remote_addr: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    /// Every line of header `name` (lowercase), in order (R4). `host` is the request's authority when no
    /// `host` line is present: HTTP/1's `Host` reaches the filter as `:authority`, and API Gateway's routing
    /// rules match on `Host` (its documented example 4, wildcard domains).
    #[inline]
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        let lines = self
            .headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let authority = name
            .eq_ignore_ascii_case("host")
            .then(|| self.authority_as_host())
            .flatten();
        lines.chain(authority)
    }

    /// The authority, as the `host` header's value when the request has no `host` line.
    #[inline]
    pub fn authority_as_host(&self) -> Option<&'a str> {
        let has_line = self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
        (!has_line && !self.authority.is_empty()).then_some(self.authority)
    }

    /// The first line of header `name`.
    #[inline]
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_values(name).next()
    }
}

/// A request prepared for matching: split and normalised once per evaluation.
#[derive(Debug)]
pub struct RequestCtx<'r> {
    /// The request.
    pub req: &'r RequestView<'r>,
    /// `:path` without the query string.
    pub path: &'r str,
    /// The query string, without `?`.
    pub query: Option<&'r str>,
    /// Lowercase host without port (D2).
    pub host: Cow<'r, str>,
    /// The request's port, when the authority has one.
    pub port: Option<u16>,
    remote_ip: OnceCell<Option<IpAddr>>,
}

impl<'r> RequestCtx<'r> {
    /// Prepares `req`.
    pub fn new(req: &'r RequestView<'r>) -> Self {
        let (path, query) = split_query(req.path);
        let (host, port) = split_authority(req.authority);
        RequestCtx {
            req,
            path,
            query,
            host,
            port,
            remote_ip: OnceCell::new(),
        }
    }

    /// The client IP, parsed on first use.
    pub fn remote_ip(&self) -> Option<IpAddr> {
        *self
            .remote_ip
            .get_or_init(|| self.req.remote_addr.and_then(parse_remote_addr))
    }

    /// The client IP as text, without port (`remote_addr` in `vars`).
    pub fn remote_ip_text(&self) -> Option<&'r str> {
        let a = self.req.remote_addr?;
        if a.parse::<IpAddr>().is_ok() {
            return Some(a);
        }
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split_once(']').map(|(ip, _)| ip);
        }
        a.rsplit_once(':').map(|(ip, _)| ip)
    }

    /// Values of query argument `name`, raw (not URL-decoded), in order.
    pub fn args<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'r str> + 's {
        self.query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(move |pair| match pair.split_once('=') {
                Some((n, v)) if n == name => Some(v),
                None if pair == name => Some(""),
                _ => None,
            })
    }

    /// Values of cookie `name` across every `cookie` line.
    pub fn cookies<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'r str> + 's {
        self.req
            .header_values("cookie")
            .flat_map(|line| line.split(';'))
            .filter_map(move |c| {
                let (n, v) = c.trim_start().split_once('=')?;
                (n.trim_end() == name).then(|| v.trim())
            })
    }
}

/// The variables of a route's `vars` expression: the request, with `uri` being the path the route matches
/// (after a stripped base path).
pub struct RouteVars<'c, 'r> {
    /// The request.
    pub ctx: &'c RequestCtx<'r>,
    /// The path the API's routes see.
    pub uri: &'c str,
}

impl VarSource for RouteVars<'_, '_> {
    fn first(&self, var: &Var) -> Option<&str> {
        let ctx = self.ctx;
        match var {
            Var::Header(h) => ctx.req.header(h),
            Var::Arg(a) => ctx.args(a).next(),
            Var::Cookie(c) => ctx.cookies(c).next(),
            Var::Uri => Some(self.uri),
            Var::RequestUri => Some(ctx.req.path),
            Var::Host => Some(&ctx.host),
            Var::Method => Some(ctx.req.method),
            Var::RemoteAddr => ctx.remote_ip_text(),
            Var::QueryString => ctx.query,
        }
    }

    fn any(&self, var: &Var, f: &mut dyn FnMut(&str) -> bool) -> bool {
        let ctx = self.ctx;
        match var {
            Var::Header(h) => ctx.req.header_values(h).any(f),
            Var::Arg(a) => ctx.args(a).any(f),
            Var::Cookie(c) => ctx.cookies(c).any(f),
            other => self.first(other).is_some_and(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_cookies_are_read_raw() {
        let headers = vec![
            ("cookie".to_string(), "a=1; sid=xyz".to_string()),
            ("cookie".to_string(), "b=2".to_string()),
        ];
        let req = RequestView {
            method: "GET",
            authority: "Example.com:8080",
            path: "/p?x=1&y=%2F&x=2&flag",
            headers: &headers,
            remote_addr: Some("10.0.0.1:5555"),
        };
        let ctx = RequestCtx::new(&req);
        assert_eq!(ctx.path, "/p");
        assert_eq!(&*ctx.host, "example.com");
        assert_eq!(ctx.port, Some(8080));
        assert_eq!(ctx.args("x").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(ctx.args("y").next(), Some("%2F"));
        assert_eq!(ctx.args("flag").next(), Some(""));
        assert_eq!(ctx.cookies("sid").next(), Some("xyz"));
        assert_eq!(ctx.cookies("b").next(), Some("2"));
        assert_eq!(ctx.remote_ip(), "10.0.0.1".parse().ok());
        assert_eq!(ctx.remote_ip_text(), Some("10.0.0.1"));
    }
}
