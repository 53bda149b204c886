//! `jwt` of a Lambda integration: where the claims of a JWT verified by Envoy's own `jwt_authn` filter (placed
//! before routewise) are read from, for the event's `requestContext.authorizer` (lambda-streaming.md §7, §8).

use serde::{Deserialize, Serialize};

/// Default `max_payload_bytes`: 16 KiB of decoded JSON.
pub const DEFAULT_JWT_MAX_PAYLOAD_BYTES: u64 = 16 * 1024;

/// Claims of a JWT that Envoy's `jwt_authn` filter verified, for the Lambda event (1.0
/// `requestContext.authorizer.claims`, 2.0 `requestContext.authorizer.jwt`). Set the same names on the
/// `jwt_authn` provider: `forward_payload_header: <payload_header>` and `payload_in_metadata: <metadata_key>`
/// (envoy/examples/jwt-authn-filter.yaml).
///
/// The claims are taken from the payload header only when `jwt_authn` verified a token for the request (its
/// dynamic metadata holds `metadata_key`, which no client can set); the header itself is always removed,
/// so a client's forged copy reaches neither the function nor its headers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The request header `jwt_authn` writes the verified token's payload into (its `forward_payload_header`):
    /// base64url, padded or not. Default `x-jwt-payload`.
    #[serde(default = "default_payload_header")]
    pub payload_header: String,
    /// The key `jwt_authn` stores the verified payload under in its dynamic metadata namespace
    /// `envoy.filters.http.jwt_authn` (its `payload_in_metadata`). Default `jwt_payload`.
    #[serde(default = "default_metadata_key")]
    pub metadata_key: String,
    /// Largest decoded payload read, 1..=1048576 bytes; a larger one gives no claims (logged). Default 16384.
    #[serde(default = "default_max_payload_bytes")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1048576)))]
    pub max_payload_bytes: u64,
}

fn default_payload_header() -> String {
    "x-jwt-payload".to_string()
}

fn default_metadata_key() -> String {
    "jwt_payload".to_string()
}

fn default_max_payload_bytes() -> u64 {
    DEFAULT_JWT_MAX_PAYLOAD_BYTES
}
