//! The three routing layers, compiled: [`domain`] (D1-D3, R8), [`rules`] (R1-R7), [`mappings`] (R9) and
//! [`routes`] (P1-P5, P7-P9). Each holds the compiled form of one layer and its lookup; the
//! [`crate::engine`] validates the config and chains them.

pub mod domain;
pub mod mappings;
pub mod routes;
pub mod rules;
