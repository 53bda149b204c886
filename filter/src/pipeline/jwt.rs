//! The claims of a JWT Envoy's `jwt_authn` verified, for a Lambda integration with `jwt`
//! ([`crate::lambda::jwt`]: where they come from, why the metadata decides, how they are rendered).

use super::host::{Host, HostError, Map};
use super::ratelog;
use crate::lambda::jwt::{claims_from_payload, JwtClaims, JwtSource, JWT_AUTHN_NAMESPACE};

/// Takes the payload header out of the request (Envoy's map and `headers`, whatever follows: a client's
/// forged copy reaches neither the function nor its headers) and returns the claims when `jwt_authn`
/// verified a token for this request (its metadata key is present) and exactly one payload line came with it.
///
/// A header without the metadata key is a client's (jwt_authn writes both or neither): ignored, logged at
/// debug. Two lines are ambiguous (which one did `jwt_authn` write?): no claims, logged at warn, as is a
/// verified payload that cannot be read. Logs are rate-limited ([`ratelog`]); the header value is never
/// logged.
pub(super) fn take_claims(
    host: &mut impl Host,
    source: &JwtSource,
    headers: &mut Vec<(String, String)>,
) -> Result<Option<JwtClaims>, HostError> {
    let name = &*source.payload_header;
    let mut lines = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let (Some((_, first)), more) = (lines.next(), lines.count()) else {
        return Ok(None);
    };
    let first = first.clone();
    host.remove_header(Map::Request, name)?;
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    let now = host.now_epoch_ms();
    if !host.has_dynamic_metadata(JWT_AUTHN_NAMESPACE, &source.metadata_key) {
        ratelog::log(ratelog::JWT_UNVERIFIED, log::Level::Debug, now, || {
            format!(
                "routewise: lambda: header {name} came without a token jwt_authn verified (no dynamic metadata \
                 {JWT_AUTHN_NAMESPACE}.{}); removed, no claims in the event",
                source.metadata_key
            )
        });
        return Ok(None);
    }
    if more > 0 {
        ratelog::log(ratelog::JWT_INVALID, log::Level::Warn, now, || {
            format!(
                "routewise: lambda: {} lines of header {name} with a verified token; which one jwt_authn wrote \
                 is unknown, so no claims in the event (removed)",
                more + 1
            )
        });
        return Ok(None);
    }
    match claims_from_payload(&first, source.max_payload_bytes) {
        Ok(claims) => Ok(Some(claims)),
        Err(e) => {
            ratelog::log(ratelog::JWT_INVALID, log::Level::Warn, now, || {
                format!("routewise: lambda: verified JWT payload in header {name} not used: {e}; no claims in the event")
            });
            Ok(None)
        }
    }
}
