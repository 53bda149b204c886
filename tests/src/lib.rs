//! Test support for routewise's integration tests (`tests/tests/*.rs`).
//!
//! - [`upstream::EchoUpstream`]: an in-process HTTP upstream that records what it receives.
//! - [`envoy::Envoy`]: Envoy 1.40 in a container (testcontainers) with one [`envoy::Build`] of the routewise
//!   filter (the `.wasm` or the dynamic module), the bootstrap rendered from `envoy/routewise.yaml.tmpl` on free
//!   ports, readiness by polling `/ready`, and the access and error logs for assertions; [`both_builds!`] runs
//!   each case against both builds.
//! - [`http::Request`]: a small HTTP/1.1 client that sends requests exactly as written.
//! - [`docker`]: reaching the Docker engine (and bridging testcontainers' API version to an older engine).
//! - [`lambda_mock::LambdaMock`]: a local AWS Lambda endpoint (Invoke API) that verifies SigV4 signatures
//!   ([`sigv4`]), runs scripted functions and records every invocation (the `lambda-mock` binary serves it).
//! - [`registry::Registry`]: a throwaway `docker-registry` on a free port, and [`registry::skopeo`].
//! - [`deploy`]: the deploy manifests (`envoy/deploy/`) against the CRDs' published schemas and routewise's
//!   config parser.
//! - [`module_image`]: the Envoy image with the dynamic module baked in (`scripts/module-image`), and Envoy
//!   started from any local image with only its bootstrap mounted.
#![deny(missing_docs)]

pub mod deploy;
pub mod docker;
pub mod envoy;
pub mod http;
pub mod lambda_mock;
pub mod module_image;
pub mod registry;
pub mod sigv4;
pub mod upstream;

pub use envoy::{Build, Envoy};

/// Runs each case once per build of the filter. A case is a plain `fn name(build: Build)` (no `#[test]`);
/// `both_builds!(a, b);` defines the tests `wasm::a`, `dynamic_module::a`, `wasm::b`, ... so that every
/// containerised suite holds both builds to the same assertions, and a failure names the build.
#[macro_export]
macro_rules! both_builds {
    ($($case:ident),* $(,)?) => {
        mod wasm {
            $(
                #[test]
                fn $case() {
                    super::$case($crate::envoy::Build::Wasm)
                }
            )*
        }
        mod dynamic_module {
            $(
                #[test]
                fn $case() {
                    super::$case($crate::envoy::Build::DynamicModule)
                }
            )*
        }
    };
}
pub use http::{Request, Response};
pub use upstream::{EchoUpstream, RecordedRequest};
