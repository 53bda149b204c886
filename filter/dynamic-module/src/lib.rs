//! routewise as an Envoy dynamic module: `libroutewise_module.so`, loaded by Envoy's
//! `DynamicModuleFilter` (`dynamic_module_config: {name: routewise_module}`), native code with no VM.
//!
//! Thin glue over the core, as the proxy-wasm build is: `config_new` builds the core's
//! [`routewise::pipeline::FilterConfig`] once per configuration ([`config::ModuleConfig`], shared by every
//! worker thread, every counter defined there since Envoy freezes definitions afterwards); each stream gets
//! the core's [`routewise::pipeline::Stream`], and each hook ([`hooks`]) hands it a [`host::DmHost`] over
//! Envoy's callbacks ([`ffi`], declared by hand). The order of operations, the local replies, the Lambda
//! exchange (the module's own buffered call to the Lambda cluster, `http_callout`) and every failure path
//! live in the core, so both builds answer alike.
//!
//! It never takes Envoy down: every hook catches panics (the `dynamic-module` profile keeps unwinding on),
//! and a panic becomes a logged 500 for its stream.
//!
//! Built with `cargo build --profile dynamic-module -p routewise-dynamic-module` (`scripts/build-modules`).

pub mod config;
pub mod ffi;
pub mod hooks;
pub mod host;
mod logger;

// The fake Envoy and the `dm_ffi` fuzz harness: for tests and the fuzz build only (`fake-envoy`), never in
// a module Envoy loads.
#[cfg(any(test, feature = "fake-envoy"))]
pub mod fake_envoy;
#[cfg(any(test, feature = "fake-envoy"))]
pub mod fuzz;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
