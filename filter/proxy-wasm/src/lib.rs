//! routewise as a proxy-wasm filter (ABI 0.2.1): the `.wasm` Envoy's V8 runtime, Istio's `WasmPlugin` and
//! Envoy Gateway's `EnvoyExtensionPolicy` load.
//!
//! Thin glue, as Envoy's config → factory → filter split: `proxy_on_configure` ([`exports`]) builds the core's
//! [`routewise_core::pipeline::FilterConfig`] (or rejects the configuration, logging every error, and keeps
//! the previous one); each HTTP stream gets a [`routewise_core::pipeline::Stream`] and every callback goes
//! to it with a `WasmHost` ([`host`]), which carries the pipeline's host calls to proxy-wasm. The ABI is
//! declared by hand ([`abi`], [`exports`]): no SDK, so no unwrap a host could reach. The order of
//! operations, the local replies, the Lambda exchange and every failure path live in the core.
//!
//! Built for `wasm32-wasip1` only (`scripts/build-modules`); natively this crate is empty.

// Natively only its tests use it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod wire;

#[cfg(target_arch = "wasm32")]
mod abi;
#[cfg(target_arch = "wasm32")]
mod exports;
#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
mod logger;
