//! The fuzz harnesses of routewise: one function per target, taking the fuzzer's bytes, panicking when an
//! invariant breaks. libFuzzer runs them from `fuzz/libfuzzer` (coverage-guided, `scripts/fuzz`);
//! `tests/replay.rs` runs every file of `corpus/<target>/` and `regressions/<target>/` through them in
//! `cargo test --workspace`, on stable.
//!
//! | target | code under test | checks |
//! |---|---|---|
//! | [`config`] | `FilterConfig::from_bytes` (both builds' configure) = `Engine::from_json` (`routewise validate`), then `Engine::evaluate` and the pipeline on requests taken from the config | same verdict and errors in both; bounded error lines; invariants of the built engine; forwarded paths and header edits that Envoy can send |
//! | [`matcher_diff`] | `Engine::evaluate` on a generated config | equal to `engine::reference` (D1-D3, R2-R9, P2-P5) |
//! | [`lambda_unwrap`] | `lambda::unwrap_response_into`, formats 1.0 and 2.0 | U4/U12/U9/U13 framing invariants, buffer reuse, 1.0 = 2.0 when proxied |
//! | [`lambda_event`] | `lambda::build_event_into`, formats 1.0 and 2.0 | valid JSON, L1-L4 fields round-trip |
//! | [`rx`] | `matchers::rx::Regex` (P1 `~~`/`~*`, G2 `regex_uri`) on any pattern and haystack | compiling never panics; DFA = NFA walk = captures, backtracker = Pike VM, spans well-formed, `replace` safe; `is_match` = the `regex` crate where their semantics are the same |
//!
//! The other target, `dm_ffi`, drives the dynamic module's hooks through its fake Envoy and lives in that
//! crate (`routewise_module::fuzz`, feature `fake-envoy`).
// A harness states its invariants with assert!/panic!: that is how a fuzzer learns of a finding.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod bytes;
pub mod config;
pub mod lambda_event;
pub mod lambda_unwrap;
pub mod matcher_diff;
pub mod rx;

pub use config::config;
pub use lambda_event::lambda_event;
pub use lambda_unwrap::lambda_unwrap;
pub use matcher_diff::matcher_diff;
pub use rx::rx;
