//! Header names used by the Lambda integration and the field-line checks of U9.

/// Response header carrying the Invoke API status when the filter answers for Lambda (U1, U2).
pub const STATUSCODE: &str = "x-envoy-lambda-statuscode";
/// Response header carrying the `Reason` of a throttled invocation (U1).
pub const STATUSREASON: &str = "x-envoy-lambda-statusreason";
/// Response header carrying the value of `x-amz-function-error` (U2).
pub const FUNCTION_ERROR: &str = "x-envoy-lambda-function-error";
/// Invoke API response header set when the function raised or timed out (U2).
pub const AMZ_FUNCTION_ERROR: &str = "x-amz-function-error";
/// Prefix of the response headers the filter itself sets when it answers for Lambda (U1, U2). A function
/// cannot set them: a forged `x-envoy-lambda-statuscode` would pass a function's answer off as a Lambda
/// service error to clients and metrics.
pub const RESERVED_PREFIX: &str = "x-envoy-lambda-";
/// The only Invoke API response headers forwarded to the client (U13).
pub const FORWARDED_INVOKE_HEADERS: [&str; 2] = ["x-amzn-requestid", "x-amzn-trace-id"];
/// U9: hop-by-hop headers, never taken from the function's answer.
pub const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];
/// Largest total size (names plus values, in bytes) of the header field lines built from a function's
/// answer; more is malformed (U15). Envoy's default `max_response_headers_kb` (60 KiB): an answer that
/// Envoy would refuse from an HTTP upstream is refused from a function too.
pub const MAX_RESPONSE_HEADER_BYTES: usize = 60 * 1024;

/// Most header field lines of an answer built from a function's (U15 beyond): Envoy's local replies lose
/// every header past about 1,020 lines, and its default for upstream responses is 100
/// (`max_headers_count`). 1,000 keeps every answer deliverable whole.
pub const MAX_RESPONSE_HEADER_LINES: usize = 1000;

/// Why a header field line of the function's answer was dropped (U9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The name or the value contains CR, LF or NUL.
    ControlCharacter,
    /// The name starts with `:` (`:status`, `:path`).
    PseudoHeader,
    /// The name is empty or holds a character that is not an RFC 9110 token character (space, `"`, `(`,
    /// non-ASCII). Not in U9's list: such a name cannot be sent on HTTP/1.1 or HTTP/2 without corrupting
    /// the response, so it is dropped like a name with CR/LF.
    InvalidName,
    /// A hop-by-hop header (`connection`, `transfer-encoding`, ...).
    HopByHop,
    /// `content-length`: always recomputed from the final body (U12).
    ContentLength,
    /// An `x-envoy-lambda-*` name ([`RESERVED_PREFIX`]): only the filter sets those (U1, U2). Not in U9's
    /// list; dropped so that a function cannot forge them.
    Reserved,
}

impl DropReason {
    /// Short lowercase text for the debug log.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::ControlCharacter => "name or value contains CR, LF or NUL",
            DropReason::PseudoHeader => "pseudo-header",
            DropReason::InvalidName => "invalid header name",
            DropReason::HopByHop => "hop-by-hop header",
            DropReason::ContentLength => "content-length is recomputed",
            DropReason::Reserved => "x-envoy-lambda-* headers are set by the filter only",
        }
    }
}

/// A header field line of the function's answer that was not forwarded (U9), for a debug log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedHeader {
    /// The lower-cased name, escaped for logging (`{:?}` style) and cut to 64 bytes.
    pub name: String,
    /// Why it was dropped.
    pub reason: DropReason,
}

impl std::fmt::Display for DroppedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dropped response header {}: {}",
            self.name,
            self.reason.as_str()
        )
    }
}

/// U9: why a (lower-cased) field line must be dropped, or `None` when it is forwarded.
pub(crate) fn drop_reason(name: &str, value: &str) -> Option<DropReason> {
    let bad = |s: &str| memchr::memchr3(b'\r', b'\n', 0, s.as_bytes()).is_some();
    if bad(name) || bad(value) {
        Some(DropReason::ControlCharacter)
    } else if name.starts_with(':') {
        Some(DropReason::PseudoHeader)
    } else if name.is_empty() || !name.bytes().all(is_token_byte) {
        Some(DropReason::InvalidName)
    } else if HOP_BY_HOP.contains(&name) {
        Some(DropReason::HopByHop)
    } else if name == "content-length" {
        Some(DropReason::ContentLength)
    } else if name.starts_with(RESERVED_PREFIX) {
        Some(DropReason::Reserved)
    } else {
        None
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A value for a log line or a header we build ourselves: printable ASCII and no more than `max` bytes,
/// else `None` (the caller leaves the header out rather than sending something odd).
pub(crate) fn safe_header_value(v: &str, max: usize) -> Option<&str> {
    (!v.is_empty() && v.len() <= max && v.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t'))
        .then_some(v)
}

/// Escapes untrusted text for a log line and cuts it to about `max` bytes (on a char boundary).
pub(crate) fn for_log(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= max {
            out.push_str("...");
            break;
        }
        out.extend(c.escape_debug());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u9_drop_reasons_table() {
        // (name, value, expected)
        let table: &[(&str, &str, Option<DropReason>)] = &[
            ("x-ok", "v", None),
            ("x-ok", "", None),
            ("x-ok", "a\tb", None),
            ("x-ok", "caf\u{e9}", None),
            ("x-cr", "a\rb", Some(DropReason::ControlCharacter)),
            ("x-lf", "a\nb", Some(DropReason::ControlCharacter)),
            ("x-nul", "a\0b", Some(DropReason::ControlCharacter)),
            ("x\r\ny", "v", Some(DropReason::ControlCharacter)),
            (":status", "200", Some(DropReason::PseudoHeader)),
            (":path", "/", Some(DropReason::PseudoHeader)),
            ("", "v", Some(DropReason::InvalidName)),
            ("x y", "v", Some(DropReason::InvalidName)),
            ("x:y", "v", Some(DropReason::InvalidName)),
            ("caf\u{e9}", "v", Some(DropReason::InvalidName)),
            ("connection", "close", Some(DropReason::HopByHop)),
            ("keep-alive", "5", Some(DropReason::HopByHop)),
            ("transfer-encoding", "chunked", Some(DropReason::HopByHop)),
            ("upgrade", "h2c", Some(DropReason::HopByHop)),
            ("te", "trailers", Some(DropReason::HopByHop)),
            ("trailer", "x", Some(DropReason::HopByHop)),
            ("proxy-connection", "x", Some(DropReason::HopByHop)),
            ("content-length", "3", Some(DropReason::ContentLength)),
            ("x-envoy-lambda-statuscode", "429", Some(DropReason::Reserved)),
            ("x-envoy-lambda-anything", "v", Some(DropReason::Reserved)),
            ("x-envoy-lambda", "v", None),
            ("x-envoy-upstream-service-time", "3", None),
        ];
        for (name, value, want) in table {
            assert_eq!(drop_reason(name, value), *want, "{name:?}: {value:?}");
        }
    }

    #[test]
    fn safe_header_value_refuses_control_and_long_values() {
        assert_eq!(safe_header_value("Unhandled", 256), Some("Unhandled"));
        assert_eq!(safe_header_value("", 256), None);
        assert_eq!(safe_header_value("a\r\nb", 256), None);
        assert_eq!(safe_header_value("caf\u{e9}", 256), None);
        assert_eq!(safe_header_value(&"a".repeat(257), 256), None);
    }

    #[test]
    fn for_log_escapes_and_cuts() {
        assert_eq!(for_log("a\r\nb\"", 100), "a\\r\\nb\\\"");
        assert_eq!(for_log(&"x".repeat(10), 4), "xxxx...");
    }

    #[test]
    fn dropped_header_display() {
        let d = DroppedHeader {
            name: "connection".into(),
            reason: DropReason::HopByHop,
        };
        assert_eq!(
            d.to_string(),
            "dropped response header connection: hop-by-hop header"
        );
    }
}
