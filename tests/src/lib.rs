//! Test support for routewise's integration tests (`tests/tests/*.rs`).
//!
//! - [`upstream::EchoUpstream`]: an in-process HTTP upstream that records what it receives.
//! - [`envoy::Envoy`]: Envoy 1.40 in a container (testcontainers) with the routewise filter, the bootstrap
//!   rendered from `envoy/routewise.yaml.tmpl` on free ports, readiness by polling `/ready`, and the access and
//!   error logs for assertions.
//! - [`http::Request`]: a small HTTP/1.1 client that sends requests exactly as written.
//! - [`docker`]: reaching the Docker engine (and bridging testcontainers' API version to an older engine).
//! - [`lambda_mock::LambdaMock`]: a local AWS Lambda endpoint (Invoke API) that verifies SigV4 signatures
//!   ([`sigv4`]), runs scripted functions and records every invocation (the `lambda-mock` binary serves it).
//! - [`registry::Registry`]: a throwaway `docker-registry` on a free port, and [`registry::skopeo`].
//! - [`deploy`]: the deploy manifests (`envoy/deploy/`) against the CRDs' published schemas and routewise's
//!   config parser.
#![deny(missing_docs)]

pub mod deploy;
pub mod docker;
pub mod envoy;
pub mod http;
pub mod lambda_mock;
pub mod registry;
pub mod sigv4;
pub mod upstream;

pub use envoy::Envoy;
pub use http::{Request, Response};
pub use upstream::{EchoUpstream, RecordedRequest};
