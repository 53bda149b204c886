//! routewise: API Gateway and APISIX style routing, and the AWS Lambda proxy integration, for Envoy.
//!
//! The crate is plain Rust: [`config`] describes the JSON document, [`engine`] validates it once into
//! compiled matchers and answers per request with a decision, [`lambda`] builds API Gateway events and
//! unwraps Lambda answers. Only the `adapter` module (built for `wasm32` only) touches proxy-wasm: it reads
//! what Envoy hands the filter, calls the engine, and applies the decision.
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

pub mod config;
pub mod decision;
pub mod engine;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod explain;
pub mod ids;
#[cfg(not(target_arch = "wasm32"))]
pub mod import;
pub mod lambda;
#[cfg(not(target_arch = "wasm32"))]
pub mod lint;
pub mod matchers;
pub mod names;
#[cfg(not(target_arch = "wasm32"))]
pub mod oci;
pub mod plugins;
pub mod request;
pub mod routing;
pub mod trace;

#[cfg(target_arch = "wasm32")]
mod adapter;
