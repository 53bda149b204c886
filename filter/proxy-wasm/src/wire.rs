//! The proxy-wasm ABI's serialized header maps, read with bounds checks (a map from the host is never
//! trusted, and never a panic) and written for the host. Pure, so tested natively.

/// Parses the ABI's serialized map: `u32 n`, `n × (u32 name_len, u32 value_len)`, then each name and value
/// followed by a NUL. `None` when it does not hold together (never trusted, never a panic).
pub fn parse_map(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = u32_at(0)?;
    let mut sizes = 4usize;
    let mut data = 4usize.checked_add(n.checked_mul(8)?)?;
    if data > bytes.len() {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (nl, vl) = (u32_at(sizes)?, u32_at(sizes + 4)?);
        sizes += 8;
        let name = bytes.get(data..data.checked_add(nl)?)?;
        data = data.checked_add(nl)?.checked_add(1)?;
        let value = bytes.get(data..data.checked_add(vl)?)?;
        data = data.checked_add(vl)?.checked_add(1)?;
        out.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }
    Some(out)
}

/// The ABI's serialized map of `lines`.
pub fn serialize_map(lines: &[(&str, &str)]) -> Vec<u8> {
    let size = 4 + lines.iter().map(|(n, v)| n.len() + v.len() + 10).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(lines.len() as u32).to_le_bytes());
    for (n, v) in lines {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (n, v) in lines {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serialized_map_reads_back_and_a_truncated_one_is_refused() {
        let bytes = serialize_map(&[("x", ""), (":path", "/a")]);
        assert_eq!(
            parse_map(&bytes),
            Some(vec![("x".into(), Vec::new()), (":path".into(), b"/a".to_vec())])
        );
        // Any cut before the last value's bytes end is refused (its trailing NUL is not needed).
        for cut in 1..bytes.len() - 1 {
            assert!(parse_map(&bytes[..cut]).is_none(), "cut {cut}");
        }
        // A count that promises more than there is.
        assert_eq!(parse_map(&[255, 255, 255, 255]), None);
        assert_eq!(parse_map(&[]), Some(vec![]));
    }
}
