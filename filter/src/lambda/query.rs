//! Query-string parameters of the event (L1 `queryStringParameters` / `multiValueQueryStringParameters`,
//! L2 `queryStringParameters`).
//!
//! Decoding, as API Gateway does for the parameter maps: pairs are split on `&`, name and value on the
//! first `=`; `+` becomes a space and `%XX` the byte it encodes (API Gateway REST APIs turn
//! `?sort=-+createdAt` into `"sort": "- createdAt"`, aws/aws-cdk#19827). Choices where API Gateway is not
//! documented: an empty pair (`a=1&&b=2`) is skipped; a pair without `=` is a name with an empty value;
//! a `%` not followed by two hex digits is kept as is; a pair whose decoded bytes are not UTF-8 is kept
//! undecoded (no U+FFFD substitution, nothing lost). `rawQueryString` (L2) is the query verbatim.

use std::borrow::Cow;

/// The decoded `(name, value)` pairs of `query` (without the leading `?`), in order, repeats kept.
pub(crate) fn parse(query: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Decodes `+` and `%XX`; borrowed when there is nothing to decode.
pub(crate) fn decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'+' || b == b'%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
                if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                    // Two hex digits: at most 0xff, so the cast cannot truncate.
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_query_decoding_table() {
        // (raw, decoded)
        let table: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("a+b", "a b"),
            ("-+createdAt", "- createdAt"), // aws/aws-cdk#19827
            ("a%20b", "a b"),
            ("a%2Bb", "a+b"),
            ("caf%C3%A9", "caf\u{e9}"),
            ("100%", "100%"),
            ("%zz", "%zz"),
            ("%4", "%4"),
            ("%ff", "%ff"), // not UTF-8 once decoded: kept undecoded
            ("%41%", "A%"),
        ];
        for (raw, want) in table {
            assert_eq!(decode(raw), *want, "{raw:?}");
        }
    }

    #[test]
    fn l1_query_pairs_keep_order_and_repeats() {
        let pairs = parse("a=1&b&&a=2&c=x=y&=v&d=");
        let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        assert_eq!(
            got,
            [
                ("a", "1"),
                ("b", ""),
                ("a", "2"),
                ("c", "x=y"),
                ("", "v"),
                ("d", "")
            ]
        );
        assert!(parse("").is_empty());
        assert!(parse("&&").is_empty());
    }
}
