//! The library behind the `routewise` command: the importers ([`import`]: API Gateway routing rules and
//! mappings, APISIX routes) and the OCI image of the `.wasm` ([`oci`]). Everything else the command does
//! (validate, explain, lint, schema) is the core's own code (`routewise::*`), so that it answers exactly as
//! the filter does in Envoy.
#![deny(missing_docs)]

pub mod import;
pub mod oci;
