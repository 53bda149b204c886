//! routewise: API Gateway and APISIX style routing, and the AWS Lambda proxy integration, for Envoy.
//!
//! The core, as plain Rust with no ABI: [`config`] describes the JSON document, [`engine`] validates it once
//! into compiled matchers and answers per request with a decision, [`lambda`] builds API Gateway events and
//! unwraps Lambda answers, and [`pipeline`] is what the filter does per request, written once against a
//! small host interface. Two adapters move data between an ABI and [`pipeline`]: `filter/proxy-wasm` (the
//! `.wasm`) and `filter/dynamic-module` (Envoy's native dynamic module, the `.so`); `filter/cli` is the
//! `routewise` command. [`explain`] and [`lint`] are pure and used by the CLI; the builds Envoy loads do
//! not call them, so the linker leaves them out.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub(crate) mod budget;
pub mod config;
pub mod decision;
pub mod engine;
pub mod error;
pub mod explain;
pub mod ids;
pub mod lambda;
pub mod lint;
pub mod matchers;
pub mod names;
pub mod pipeline;
pub mod plugins;
pub mod request;
pub mod routing;
pub(crate) mod sort;
pub mod trace;
