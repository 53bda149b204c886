//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), as a service checks it: the verifier behind
//! [`crate::lambda_mock`], and a signer so tests can make correctly and wrongly signed requests.
//!
//! The canonical request follows AWS's description and Envoy's signer (`source/extensions/common/aws`), which
//! is what signs the Invoke calls in the Envoy tests:
//!
//! - URI: the path as received, split on `/`, empty segments dropped, each segment percent-encoded once
//!   (every byte but `A-Za-z0-9-._~`), a trailing `/` kept (not S3: no double encoding, no un-normalised path);
//! - query: `name=value` pairs, percent-decoded, re-encoded, sorted by name then value;
//! - headers: the names listed in `SignedHeaders`, lower-case, each `name:value` with the values trimmed,
//!   inner runs of spaces collapsed, repeated lines comma-joined; `host` without a default port (`:80`/`:443`);
//! - payload: the hex SHA-256 of the body actually received (a service never trusts `x-amz-content-sha256`).
//!
//! Checked against AWS's published SigV4 test suite (`get-vanilla`, `post-vanilla`,
//! `get-vanilla-query-order-key-case`, `get-utf8`) in the unit tests below.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only algorithm this module knows.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// An access key and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKIDEXAMPLE`.
    pub access_key: String,
    /// The secret access key.
    pub secret: String,
}

impl Credentials {
    /// Credentials from an access key and a secret.
    pub fn new(access_key: &str, secret: &str) -> Credentials {
        Credentials {
            access_key: access_key.to_string(),
            secret: secret.to_string(),
        }
    }
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key of the credential scope.
    pub access_key: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    /// Region of the credential scope (`us-east-1`).
    pub region: String,
    /// Service of the credential scope (`lambda`).
    pub service: String,
    /// `SignedHeaders`, as listed.
    pub signed_headers: Vec<String>,
    /// `Signature`, lower-case hex.
    pub signature: String,
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/service/aws4_request,
    /// SignedHeaders=host;x-amz-date, Signature=…`.
    pub fn parse(value: &str) -> Result<Authorization, String> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| format!("authorization does not start with {ALGORITHM}"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            match part.split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => return Err(format!("unexpected authorization part {part:?}")),
            }
        }
        let credential = credential.ok_or("authorization without Credential")?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key, date, region, service, terminator] = scope[..] else {
            return Err(format!(
                "credential {credential:?} is not KEY/DATE/REGION/SERVICE/aws4_request"
            ));
        };
        if terminator != "aws4_request" {
            return Err(format!(
                "credential scope ends with {terminator:?}, not aws4_request"
            ));
        }
        let signed = signed.ok_or("authorization without SignedHeaders")?;
        Ok(Authorization {
            access_key: access_key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature: signature.ok_or("authorization without Signature")?.to_string(),
        })
    }

    /// `DATE/REGION/SERVICE/aws4_request`.
    pub fn scope(&self) -> String {
        scope(&self.date, &self.region, &self.service)
    }
}

/// `DATE/REGION/SERVICE/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The signing key: HMAC chain over `AWS4<secret>`, date, region, service, `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte but the unreserved ones, upper-case hex.
pub fn uri_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex_at = |j: usize| b.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b[i], hex_at(i + 1), hex_at(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The canonical URI of `path` (no query).
pub fn canonical_uri(path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| uri_encode(s.as_bytes()))
        .collect();
    let mut out = format!("/{}", segments.join("/"));
    if path.ends_with('/') && out.len() > 1 {
        out.push('/');
    }
    out
}

/// The canonical query string of `query` (without `?`).
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k)), uri_encode(&percent_decode(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value a header contributes to the canonical request: every line named `name`, trimmed, inner runs of
/// spaces collapsed, comma-joined; `None` when the request has no such header.
fn canonical_header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    if values.is_empty() {
        return None;
    }
    let mut value = values.join(",");
    if name == "host" {
        // AWS SDKs (and Envoy's signer) sign the host without a default port.
        for port in [":80", ":443"] {
            if let Some(h) = value.strip_suffix(port) {
                value = h.to_string();
            }
        }
    }
    Some(value)
}

/// The canonical request. `target` is the request target (path and query); `signed` the lower-case header
/// names to sign, in the order listed. Fails when a signed header is not in `headers`.
pub fn canonical_request(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    signed: &[String],
    payload_hash: &str,
) -> Result<String, String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out = format!("{method}\n{}\n{}\n", canonical_uri(path), canonical_query(query));
    for name in signed {
        let value = canonical_header_value(headers, name)
            .ok_or_else(|| format!("signed header {name:?} is not in the request"))?;
        out.push_str(&format!("{name}:{value}\n"));
    }
    out.push_str(&format!("\n{}\n{payload_hash}", signed.join(";")));
    Ok(out)
}

/// The string to sign.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Signs a request: returns the `Authorization` value. `headers` must hold `host` and `x-amz-date`; every
/// header in it is signed (names lower-cased and sorted), as Envoy does.
pub fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<String, String> {
    let amz_date = canonical_header_value(headers, "x-amz-date").ok_or("no x-amz-date header")?;
    let date = amz_date.get(..8).ok_or("x-amz-date shorter than YYYYMMDD")?;
    let mut signed: Vec<String> = headers.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    signed.sort();
    signed.dedup();
    let creq = canonical_request(method, target, headers, &signed, &sha256_hex(body))?;
    let scope = scope(date, region, service);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let signature = hex(&hmac(
        &signing_key(&creds.secret, date, region, service),
        sts.as_bytes(),
    ));
    Ok(format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        creds.access_key,
        signed.join(";")
    ))
}

/// Why a request was not accepted, in the words a service would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization` header.
    Missing,
    /// An access key the service does not know.
    UnknownAccessKey(String),
    /// A header that is not SigV4 (the text says what).
    Malformed(String),
    /// `x-amz-content-sha256` is not the hash of the body received.
    PayloadHashMismatch {
        /// The header's value.
        claimed: String,
        /// The hash of the body received.
        actual: String,
    },
    /// The signature differs from the one computed; both texts, for the test's failure message.
    SignatureMismatch {
        /// The canonical request the service computed.
        canonical_request: String,
        /// The string to sign the service computed.
        string_to_sign: String,
    },
}

/// A verified request: the scope it was signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The parsed `Authorization`.
    pub authorization: Authorization,
    /// The canonical request the signature covers.
    pub canonical_request: String,
}

/// Verifies a received request's signature, as the service would. `headers` as received (any case).
pub fn verify(
    creds: &Credentials,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Verified, Rejection> {
    let value = canonical_header_value(headers, "authorization").ok_or(Rejection::Missing)?;
    let auth = Authorization::parse(&value).map_err(Rejection::Malformed)?;
    if auth.access_key != creds.access_key {
        return Err(Rejection::UnknownAccessKey(auth.access_key));
    }
    let amz_date = canonical_header_value(headers, "x-amz-date")
        .ok_or_else(|| Rejection::Malformed("no x-amz-date header".to_string()))?;
    if !amz_date.starts_with(&auth.date) {
        return Err(Rejection::Malformed(format!(
            "x-amz-date {amz_date} is not on the credential date {}",
            auth.date
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(Rejection::Malformed(
            "host is not among the signed headers".to_string(),
        ));
    }
    let actual = sha256_hex(body);
    if let Some(claimed) = canonical_header_value(headers, "x-amz-content-sha256") {
        if claimed != actual && claimed != "UNSIGNED-PAYLOAD" {
            return Err(Rejection::PayloadHashMismatch { claimed, actual });
        }
    }
    let creq = canonical_request(method, target, headers, &auth.signed_headers, &actual)
        .map_err(Rejection::Malformed)?;
    let sts = string_to_sign(&amz_date, &auth.scope(), &creq);
    let key = signing_key(&creds.secret, &auth.date, &auth.region, &auth.service);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(sts.as_bytes());
    let given = hex_decode(&auth.signature)
        .ok_or_else(|| Rejection::Malformed(format!("signature {:?} is not hex", auth.signature)))?;
    // Constant-time comparison, as a service would do.
    mac.verify_slice(&given)
        .map_err(|_| Rejection::SignatureMismatch {
            canonical_request: creq.clone(),
            string_to_sign: sts,
        })?;
    Ok(Verified {
        authorization: auth,
        canonical_request: creq,
    })
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // AWS's SigV4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html): these
    // credentials, region us-east-1, service `service`, 2015-08-30T12:36:00Z, host example.amazonaws.com.
    const SUITE_KEY: &str = "AKIDEXAMPLE";
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_DATE: &str = "20150830T123600Z";

    fn suite_headers() -> Vec<(String, String)> {
        vec![
            ("Host".to_string(), "example.amazonaws.com".to_string()),
            ("X-Amz-Date".to_string(), SUITE_DATE.to_string()),
        ]
    }

    fn creds() -> Credentials {
        Credentials::new(SUITE_KEY, SUITE_SECRET)
    }

    fn suite_sign(method: &str, target: &str) -> String {
        sign(
            &creds(),
            "us-east-1",
            "service",
            method,
            target,
            &suite_headers(),
            b"",
        )
        .unwrap()
    }

    fn signed(headers: &[(String, String)], authorization: String) -> Vec<(String, String)> {
        let mut h = headers.to_vec();
        h.push(("Authorization".to_string(), authorization));
        h
    }

    #[test]
    fn get_vanilla_matches_the_aws_test_suite() {
        let signed_headers = ["host".to_string(), "x-amz-date".to_string()];
        let empty = sha256_hex(b"");
        let creq = canonical_request("GET", "/", &suite_headers(), &signed_headers, &empty).unwrap();
        assert_eq!(
            creq,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            string_to_sign(SUITE_DATE, "20150830/us-east-1/service/aws4_request", &creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            suite_sign("GET", "/"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn post_vanilla_query_order_and_utf8_match_the_aws_test_suite() {
        let sig = |a: String| a.rsplit_once("Signature=").unwrap().1.to_string();
        assert_eq!(
            sig(suite_sign("POST", "/")),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert_eq!(
            sig(suite_sign("GET", "/?Param2=value2&Param1=value1")),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
        assert_eq!(canonical_uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(
            sig(suite_sign("GET", "/\u{1234}")),
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
        );
    }

    #[test]
    fn the_verifier_accepts_the_suite_signature_and_rejects_any_change() {
        let headers = signed(&suite_headers(), suite_sign("GET", "/"));
        let ok = verify(&creds(), "GET", "/", &headers, b"").unwrap();
        assert_eq!(ok.authorization.service, "service");
        assert_eq!(ok.authorization.region, "us-east-1");

        // Another method, path, body or secret: a mismatch, with the canonical request for the message.
        for (method, target, body, secret) in [
            ("POST", "/", &b""[..], SUITE_SECRET),
            ("GET", "/x", b"", SUITE_SECRET),
            ("GET", "/", b"x", SUITE_SECRET),
            ("GET", "/", b"", "another-secret"),
        ] {
            let got = verify(
                &Credentials::new(SUITE_KEY, secret),
                method,
                target,
                &headers,
                body,
            );
            assert!(
                matches!(got, Err(Rejection::SignatureMismatch { .. })),
                "{method} {target} {body:?} {secret}: {got:?}"
            );
        }
        // A changed signed header value.
        let mut tampered = headers.clone();
        tampered[0].1 = "evil.amazonaws.com".to_string();
        assert!(matches!(
            verify(&creds(), "GET", "/", &tampered, b""),
            Err(Rejection::SignatureMismatch { .. })
        ));
        // An unsigned header may change freely.
        let mut extra = headers.clone();
        extra.push(("x-unsigned".to_string(), "anything".to_string()));
        assert!(verify(&creds(), "GET", "/", &extra, b"").is_ok());
    }

    #[test]
    fn the_verifier_names_missing_unknown_and_malformed_authorizations() {
        assert_eq!(
            verify(&creds(), "GET", "/", &suite_headers(), b""),
            Err(Rejection::Missing)
        );
        let other = sign(
            &Credentials::new("AKIDOTHER", SUITE_SECRET),
            "us-east-1",
            "service",
            "GET",
            "/",
            &suite_headers(),
            b"",
        )
        .unwrap();
        assert_eq!(
            verify(&creds(), "GET", "/", &signed(&suite_headers(), other), b""),
            Err(Rejection::UnknownAccessKey("AKIDOTHER".to_string()))
        );
        let basic = signed(&suite_headers(), "Basic dXNlcjpwYXNz".to_string());
        assert!(matches!(
            verify(&creds(), "GET", "/", &basic, b""),
            Err(Rejection::Malformed(_))
        ));
        // A signed header that did not arrive.
        let mut headers = suite_headers();
        headers.push(("x-amz-invocation-type".to_string(), "RequestResponse".to_string()));
        let auth = sign(&creds(), "us-east-1", "lambda", "POST", "/", &headers, b"{}").unwrap();
        let arrived = signed(&suite_headers(), auth);
        match verify(&creds(), "POST", "/", &arrived, b"{}") {
            Err(Rejection::Malformed(m)) => assert!(m.contains("x-amz-invocation-type"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_content_hash_header_must_be_the_hash_of_the_body() {
        let mut headers = suite_headers();
        headers.push(("x-amz-content-sha256".to_string(), sha256_hex(b"{}")));
        let auth = sign(&creds(), "us-east-1", "lambda", "POST", "/", &headers, b"{}").unwrap();
        let headers = signed(&headers, auth);
        assert!(verify(&creds(), "POST", "/", &headers, b"{}").is_ok());
        assert!(matches!(
            verify(&creds(), "POST", "/", &headers, b"{ }"),
            Err(Rejection::PayloadHashMismatch { .. })
        ));
    }

    #[test]
    fn envoy_style_lambda_paths_encode_the_arn_colons_once() {
        assert_eq!(
            canonical_uri("/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations"),
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho/invocations"
        );
        assert_eq!(canonical_uri("//a//b/"), "/a/b/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_query("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query("k=a%20b"), "k=a%20b");
        // Host without its default port.
        let headers = vec![("host".to_string(), "lambda:443".to_string())];
        assert_eq!(
            canonical_header_value(&headers, "host").as_deref(),
            Some("lambda")
        );
    }
}
