//! Compiled matchers, each built once at configure time and queried per request without parsing:
//! [`glob`] (R3 header globs and their bucketed index), [`path`] (R6-R9 base paths, P2 route paths),
//! [`host`] (D1-D2, P1 hosts), [`vars`] (P1 lua-resty-expr subset), [`addr`] (P1 remote addresses), [`rx`] (the regex engine
//! of `vars` and `regex_uri`), and the [`trie`] they share.

pub mod addr;
pub mod fx;
pub mod glob;
pub mod host;
pub mod path;
pub mod rx;
pub mod trie;
pub mod vars;
